"""One small interface over two real headless browsers, so that the review page's tests run unchanged in
both: Debian's Chromium through selenium and chromedriver (``browser.py``), and Debian's Firefox ESR
spoken to directly over WebDriver BiDi (its own protocol: geckodriver is not packaged by Debian, and
the PyPI and npm packages of it download from GitHub).

What the tests need and nothing more: run a script, real pointer clicks and drags and key presses at
viewport coordinates, every request the browser made (to prove none left the page's folder), a
screenshot. ``open_browser(name)`` skips the test when that browser is not installed locally;
``bash .ci/setup --test`` installs both.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

FIREFOX = Path("/usr/bin/firefox-esr")
BROWSERS = ("chromium", "firefox")
ESCAPE = "\ue00c"  # WebDriver's key code for Escape (both protocols)

# Firefox's own network traffic switched off (updates, telemetry, safe browsing, remote settings, the
# new-tab page), so its network log holds what pages asked for. The remote agent adds its recommended
# preferences on top (remote.prefs.recommended).
FIREFOX_PREFS = {
    "app.update.disabledForTesting": True,
    "app.update.auto": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage": "about:blank",
    "browser.startup.page": 0,
    "browser.newtabpage.enabled": False,
    "browser.aboutHomeSnippets.updateUrl": "",
    "browser.ping-centre.telemetry": False,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.server": "data:,",
    "services.settings.server": "data:,#remote-settings-dummy/v1",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "media.gmp-manager.url": "data:,",
    "browser.download.folderList": 2,
    "browser.download.useDownloadDir": True,
    "browser.download.always_ask_before_handling_new_types": False,
    "browser.download.start_downloads_in_tmp_dir": False,
    "browser.download.manager.showWhenStarting": False,
}


class Page:
    """What a test does with a browser; the two drivers below fill in the primitives."""

    name = ""
    logs_files = False  # whether the network log also holds file:// loads

    def js(self, body: str, *args):
        """Run ``body`` (a function body: ``return …``, ``arguments[0]``) in the page; its result."""
        raise NotImplementedError

    def pointer(self, points: list[tuple[float, float]]) -> None:
        """Press the mouse at the first point, move through the others, release at the last."""
        raise NotImplementedError

    def keys(self, *keys: str) -> None:
        raise NotImplementedError

    def requests(self) -> list[str]:
        """The URL of every request since the last ``open`` (pages, scripts, pictures; network or not)."""
        raise NotImplementedError

    def screenshot(self, target: Path) -> None:
        raise NotImplementedError

    def navigate(self, url: str) -> None:
        raise NotImplementedError

    # ---- shared, built on the primitives

    def open(self, page: Path, timeout: float = 20.0) -> None:
        """Open a page from disk and wait until its script is ready and visible pictures are loaded."""
        self.navigate("about:blank")
        self.requests()  # drop what came before
        self.navigate(page.as_uri())
        self.until(lambda: self.js("return !!document.body && document.body.dataset.ready === '1'"), timeout)
        self.until(
            lambda: self.js(
                "return [...document.images].filter(i => i.getBoundingClientRect().top < innerHeight)"
                ".every(i => i.complete)"
            ),
            timeout,
        )

    def until(self, test, timeout: float = 20.0):
        end = time.monotonic() + timeout
        while not (value := test()):
            if time.monotonic() > end:
                raise TimeoutError(f"{self.name}: condition not met in {timeout} s")
            time.sleep(0.05)
        return value

    def in_view(self, css: str, within: str = "") -> list[float]:
        """Scroll the element into the middle of the view and wait until it holds still there (two reads of
        its box alike), with every picture in view loaded: on a loaded CI run a drag read the box while the
        page still moved and landed 123 px low. Its box in viewport coordinates: left, top, width, height."""
        last: list = []

        def still():
            loaded = self.js(
                "const root = arguments[1] ? document.querySelector(arguments[1]) : document;"
                "root.querySelector(arguments[0]).scrollIntoView({block: 'center'});"
                "return [...document.images].filter(i => { const r = i.getBoundingClientRect();"
                " return r.bottom > 0 && r.top < innerHeight; }).every(i => i.complete)",
                css,
                within,
            )
            rect = self.js(
                "const root = arguments[1] ? document.querySelector(arguments[1]) : document;"
                "const r = root.querySelector(arguments[0]).getBoundingClientRect();"
                "return [r.left, r.top, r.width, r.height];",
                css,
                within,
            )
            steady = loaded and rect == last
            last[:] = rect
            return steady

        self.until(still)
        return last

    def center(self, css: str, within: str = "") -> tuple[float, float]:
        """Scroll the element into the middle of the view (``in_view``); its centre in the viewport."""
        x, y, w, h = self.in_view(css, within)
        return x + w / 2, y + h / 2

    def click(self, css: str, within: str = "") -> None:
        self.pointer([self.center(css, within)])

    def drag(self, css: str, start: tuple[float, float], end: tuple[float, float], within: str = "") -> None:
        """Drag across the element from ``start`` to ``end``, given as fractions of its width and height."""
        x, y, w, h = self.in_view(css, within)
        a = (x + start[0] * w, y + start[1] * h)
        b = (x + end[0] * w, y + end[1] * h)
        self.pointer([a, ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2), b])

    def probe_is_logged(self) -> bool:
        """The network log works: a request made on purpose (from a blank page) shows up in it."""
        import socket

        with socket.socket() as s:  # a free local port: nothing listens, the request is refused at once
            s.bind(("127.0.0.1", 0))
            probe = f"http://127.0.0.1:{s.getsockname()[1]}/deident-network-log-probe"
        self.navigate("about:blank")
        self.requests()
        self.js(f"fetch('{probe}').catch(() => 0); return 1")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if probe in self.requests():
                return True
            time.sleep(0.1)
        return False


# ---------------------------------------------------------------- Chromium (selenium, chromedriver)


class ChromiumPage(Page):
    name = "chromium"
    logs_files = True

    def __init__(self, driver):
        self.driver = driver
        self._seen: list[str] = []

    def js(self, body, *args):
        return self.driver.execute_script(body, *args)

    def navigate(self, url):
        self.driver.get(url)

    def pointer(self, points):
        from selenium.webdriver.common.actions.action_builder import ActionBuilder

        actions = ActionBuilder(self.driver)
        mouse = actions.pointer_action
        mouse.move_to_location(round(points[0][0]), round(points[0][1])).pointer_down()
        for x, y in points[1:]:
            mouse.move_to_location(round(x), round(y))
        mouse.pointer_up()
        actions.perform()

    def keys(self, *keys):
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.driver).send_keys(*keys).perform()

    def requests(self):
        from support.browser import requests

        return [url for url, _ in requests(self.driver)]

    def screenshot(self, target):
        self.driver.save_screenshot(str(target))


# ---------------------------------------------------------------- Firefox (WebDriver BiDi, no driver)


class BiDi:
    """A minimal WebDriver BiDi client: commands by id, events kept in order."""

    def __init__(self, url: str):
        import websocket  # websocket-client, a dependency of selenium

        self.ws = websocket.create_connection(url, suppress_origin=True, timeout=60)
        self.next_id = 0
        self.events: list[dict] = []

    def command(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if message.get("type") == "error":
                    raise RuntimeError(f"{method}: {message.get('error')}: {message.get('message')}")
                return message["result"]
            if message.get("type") == "event":
                self.events.append(message)

    def drain(self) -> None:
        """Events that arrived since the last command."""
        self.ws.settimeout(0.05)
        try:
            while True:
                message = json.loads(self.ws.recv())
                if message.get("type") == "event":
                    self.events.append(message)
        except Exception:  # websocket's timeout: nothing more for now
            pass
        finally:
            self.ws.settimeout(60)

    def close(self) -> None:
        self.ws.close()


def _local(value) -> dict:
    """A Python argument as a BiDi LocalValue."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, (int, float)):
        return {"type": "number", "value": value}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, (list, tuple)):
        return {"type": "array", "value": [_local(v) for v in value]}
    raise TypeError(f"cannot pass {type(value).__name__} to the page")


def _remote(value: dict):
    """A BiDi RemoteValue as Python (what selenium's execute_script would return)."""
    kind = value.get("type")
    if kind in ("undefined", "null"):
        return None
    if kind in ("string", "boolean"):
        return value["value"]
    if kind == "number":
        number = value["value"]
        if isinstance(number, str):  # NaN, Infinity, -0
            return float(number)
        return number
    if kind in ("array", "set", "nodelist", "htmlcollection"):
        return [_remote(v) for v in value.get("value", [])]
    if kind in ("object", "map"):
        return {k if isinstance(k, str) else _remote(k): _remote(v) for k, v in value.get("value", [])}
    return value  # a node, a window: opaque


class FirefoxPage(Page):
    name = "firefox"

    def __init__(self, bidi: BiDi, context: str):
        self.bidi, self.context = bidi, context
        self.bidi.command("session.subscribe", events=["network.beforeRequestSent"])
        self._mark = 0

    def js(self, body, *args):
        result = self.bidi.command(
            "script.callFunction",
            functionDeclaration=f"function() {{ {body} }}",
            arguments=[_local(a) for a in args],
            target={"context": self.context},
            awaitPromise=True,
        )
        if result.get("type") == "exception":
            details = result["exceptionDetails"]
            raise RuntimeError(f"page script failed: {details.get('text')}")
        return _remote(result["result"])

    def navigate(self, url):
        self.bidi.command("browsingContext.navigate", context=self.context, url=url, wait="complete")

    def pointer(self, points):
        (x0, y0), rest = points[0], points[1:]
        actions = [
            {"type": "pointerMove", "x": round(x0), "y": round(y0)},
            {"type": "pointerDown", "button": 0},
        ]
        actions += [{"type": "pointerMove", "x": round(x), "y": round(y), "duration": 50} for x, y in rest]
        actions.append({"type": "pointerUp", "button": 0})
        self.bidi.command(
            "input.performActions",
            context=self.context,
            actions=[
                {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}
            ],
        )

    def keys(self, *keys):
        actions = []
        for key in keys:
            actions += [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]
        self.bidi.command(
            "input.performActions",
            context=self.context,
            actions=[{"type": "key", "id": "keyboard", "actions": actions}],
        )

    def requests(self):
        self.bidi.drain()
        events = self.bidi.events[self._mark :]
        self._mark = len(self.bidi.events)
        return [e["params"]["request"]["url"] for e in events if e["method"] == "network.beforeRequestSent"]

    def screenshot(self, target):
        shot = self.bidi.command("browsingContext.captureScreenshot", context=self.context)
        Path(target).write_bytes(base64.b64decode(shot["data"]))


def _firefox_profile(folder: Path, downloads: Path | None) -> None:
    prefs = dict(FIREFOX_PREFS)
    if downloads is not None:
        prefs["browser.download.dir"] = str(downloads)
    lines = [f"user_pref({json.dumps(k)}, {json.dumps(v)});" for k, v in prefs.items()]
    (folder / "user.js").write_text("\n".join(lines) + "\n")


@contextmanager
def firefox(downloads: Path | None = None, size: tuple[int, int] = (1400, 1000)):
    """A fresh headless Firefox ESR (its own empty profile) and the BiDi session that drives it."""
    if not FIREFOX.exists():
        pytest.skip("Debian firefox-esr is needed (bash .ci/setup --test)")
    pytest.importorskip("websocket")
    profile = Path(tempfile.mkdtemp(prefix="deident-firefox-"))
    _firefox_profile(profile, downloads)
    env = {**os.environ, "MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1"}
    proc = subprocess.Popen(
        [str(FIREFOX), "--headless", "--no-remote", "--profile", str(profile), "--remote-debugging-port=0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    bidi = None
    try:
        url = None
        end = time.monotonic() + 60
        while url is None and time.monotonic() < end:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            if "WebDriver BiDi listening on " in line:
                url = line.split("listening on ", 1)[1].strip() + "/session"
        if url is None:
            raise RuntimeError("Firefox did not start its WebDriver BiDi server")
        _drain_stderr(proc)
        bidi = BiDi(url)
        bidi.command("session.new", capabilities={"alwaysMatch": {"acceptInsecureCerts": False}})
        context = bidi.command("browsingContext.getTree")["contexts"][0]["context"]
        bidi.command(
            "browsingContext.setViewport", context=context, viewport={"width": size[0], "height": size[1]}
        )
        yield FirefoxPage(bidi, context)
    finally:
        if bidi is not None:
            with suppress(Exception):
                bidi.command("session.end")
            bidi.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _drain_stderr(proc: subprocess.Popen) -> None:
    """Keep reading Firefox's chatter in the background, so that a full pipe never blocks it."""
    import threading

    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()


@contextmanager
def open_browser(name: str, downloads: Path | None = None):
    """``chromium`` or ``firefox``, as a ``Page``."""
    if name == "chromium":
        from support.browser import chromium

        with chromium(downloads) as driver:
            yield ChromiumPage(driver)
    else:
        with firefox(downloads) as page:
            yield page
