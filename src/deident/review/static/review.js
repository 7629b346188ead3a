// deident review page: everything it shows comes from data.js beside it; it loads nothing else.
"use strict";
(function () {
  const DATA = window.DEIDENT_REVIEW || { files: [], outputs_only: false };
  const FILES = DATA.files;
  const SVG = "http://www.w3.org/2000/svg";
  const BATCH = 30; // cards added at a time: first paint does not depend on the batch size
  const STAGES = { text: "burned-in text", barcode: "barcode", face: "face", eyes: "eye bar", deny: "deny-list hit", user: "reviewer" };
  const state = new Map(); // file id -> {keep: Set(finding index), hide: [{frame, box}]}
  let filter = "all", shown = [], rendered = 0, current = -1;

  function stageOf(f) {
    if (f.stage === "faces") return f.kind.endsWith("eyes") ? "eyes" : "face";
    if (f.stage === "text" && /listed identifier/.test(f.detail)) return "deny";
    return f.stage;
  }
  const drawn = (f) => f.area && (f.action === "redacted" || f.action === "kept" || f.action === "found");
  const redacted = (file) => file.findings.some((f) => f.area && f.action === "redacted");

  // ---- filters and counts, computed once
  const groups = { all: () => true, failed: (x) => x.status === "failed", redacted: redacted,
    untouched: (x) => x.status !== "failed" && x.status !== "skipped" && !redacted(x), skipped: (x) => x.status === "skipped" };
  const stageSets = {};
  for (const file of FILES) {
    for (const f of file.findings) if (f.area) (stageSets[stageOf(f)] = stageSets[stageOf(f)] || new Set()).add(file.id);
    const s = { keep: new Set(), hide: [] };
    file.findings.forEach((f, i) => {
      if (f.kind === "user.keep") s.keep.add(i);
      if (f.kind === "user.hide" && f.action === "redacted") s.hide.push({ frame: f.area.frame, box: f.area.box });
    });
    state.set(file.id, s);
  }
  for (const k of Object.keys(STAGES)) if (stageSets[k]) groups["stage:" + k] = (x) => stageSets[k].has(x.id);

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }

  function buildFilters() {
    const nav = document.getElementById("filters");
    for (const [key, test] of Object.entries(groups)) {
      const n = FILES.filter(test).length;
      if (key === "skipped" && !n) continue;
      const label = key.startsWith("stage:") ? STAGES[key.slice(6)] : key;
      const b = el("button", { type: "button", "data-filter": key }, label);
      b.appendChild(el("span", { class: "n" }, String(n)));
      b.addEventListener("click", () => setFilter(key));
      nav.appendChild(b);
    }
    const legend = el("div", { class: "legend" });
    for (const [k, v] of Object.entries(STAGES)) {
      const s = el("span"); s.appendChild(el("i", { class: "l-" + k })); s.appendChild(document.createTextNode(v)); legend.appendChild(s);
    }
    nav.appendChild(legend);
  }

  function setFilter(key) {
    filter = key;
    for (const b of document.querySelectorAll("#filters button")) b.classList.toggle("on", b.dataset.filter === key);
    shown = FILES.filter(groups[key]);
    rendered = 0; current = -1;
    const list = document.getElementById("list");
    list.textContent = "";
    if (!shown.length) list.appendChild(el("p", { class: "empty" }, "no file in this filter"));
    more();
  }

  function more() {
    const list = document.getElementById("list");
    const end = Math.min(shown.length, rendered + BATCH);
    for (; rendered < end; rendered++) list.appendChild(card(shown[rendered]));
  }

  // ---- one file
  function card(file) {
    const c = el("section", { class: "card", "data-id": String(file.id), "data-status": file.status });
    c.appendChild(el("h2", {}, file.name));
    const line = el("div");
    line.appendChild(el("span", { class: "badge " + file.status }, file.status));
    if (file.format) line.appendChild(document.createTextNode(file.format + " "));
    if (file.reason) line.appendChild(el("span", { class: "reason" }, file.reason));
    if (file.preview_error) line.appendChild(el("span", { class: "reason" }, " (no preview: " + file.preview_error + ")"));
    c.appendChild(line);
    const frames = el("div", { class: "frames" });
    for (const fr of file.frames) {
      const pair = el("div", { class: "pair" });
      if (fr.o) pair.appendChild(figure(file, fr, fr.o, true));
      if (fr.d) pair.appendChild(figure(file, fr, fr.d, false));
      frames.appendChild(pair);
    }
    for (const f of file.findings) { // whole-slide label and macro images: pictured, struck through
      if (!/^wsi\.(label|macro|associated)$/.test(f.kind) || f.action !== "removed") continue;
      const box = el("div", { class: "removed", "data-kind": f.kind });
      const pic = (file.removed || []).find((r) => r.where === f.where);
      if (pic) {
        const fig = el("figure");
        fig.appendChild(img(pic.src, pic.tw, pic.th, 200, "removed " + f.kind));
        fig.appendChild(el("span", { class: "struck", "aria-hidden": "true" }));
        box.appendChild(fig);
      }
      box.appendChild(el("div", { class: "why" }, "REMOVED · " + f.detail + " · not in the output"));
      frames.appendChild(box);
    }
    c.appendChild(frames);
    if (file.findings.length) {
      const d = el("details");
      d.appendChild(el("summary", {}, file.findings.length + " finding" + (file.findings.length === 1 ? "" : "s")));
      const t = el("table");
      const head = el("tr");
      for (const h of ["stage", "what", "where", "action"]) head.appendChild(el("th", {}, h));
      t.appendChild(head);
      for (const f of file.findings) {
        const r = el("tr");
        for (const v of [f.stage, f.detail || f.kind, f.where, f.action]) r.appendChild(el("td", {}, v));
        t.appendChild(r);
      }
      d.appendChild(t);
      c.appendChild(d);
    }
    c.addEventListener("click", () => select(shown.indexOf(file)));
    return c;
  }

  function img(src, w, h, maxHeight, alt) { // lazily loaded, its box sized before it loads
    const i = el("img", { src: src, loading: "lazy", decoding: "async", width: String(w), height: String(h), alt: alt });
    i.style.setProperty("--w", Math.round(Math.min(w, (w * maxHeight) / h)) + "px");
    return i;
  }

  function figure(file, fr, src, original) {
    const fig = el("figure", { "data-side": original ? "original" : "output", "data-frame": String(fr.frame) });
    fig.appendChild(img(src, fr.tw, fr.th, 320, (original ? "original " : "output ") + (fr.label || "")));
    const svg = svgEl("svg", { viewBox: `0 0 ${fr.w} ${fr.h}`, preserveAspectRatio: "none" });
    file.findings.forEach((f, i) => {
      if (!drawn(f) || f.area.frame !== fr.frame) return;
      if (f.kind === "user.hide") return; // drawn from the decisions state below
      const p = svgEl("polygon", { points: f.area.polygon.map((q) => q.join(",")).join(" "), class: "s-" + stageOf(f), "data-finding": String(i) });
      const title = svgEl("title");
      title.textContent = `${STAGES[stageOf(f)] || f.stage}: ${f.detail || f.kind} (${f.action})`;
      p.appendChild(title);
      if (state.get(file.id).keep.has(i)) p.classList.add("kept");
      if (original && !DATA.outputs_only && f.kind !== "user.keep-unmatched") {
        p.addEventListener("click", (ev) => { ev.stopPropagation(); toggleKeep(file, i); });
      }
      svg.appendChild(p);
    });
    drawHides(file, fr, svg, original);
    if (original && !DATA.outputs_only) enableDrawing(file, fr, svg);
    fig.appendChild(svg);
    const cap = el("figcaption", {}, (original ? "original" : "output") + (fr.label ? " · " + fr.label : ""));
    const wrap = el("div");
    wrap.appendChild(fig);
    wrap.appendChild(cap);
    return wrap;
  }

  function drawHides(file, fr, svg, original) {
    for (const r of svg.querySelectorAll("rect.hide")) r.remove();
    state.get(file.id).hide.forEach((h, k) => {
      if (h.frame !== fr.frame) return;
      const [x0, y0, x1, y1] = h.box;
      const r = svgEl("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, class: "hide", "data-hide": String(k) });
      const title = svgEl("title"); title.textContent = "also hide (reviewer); click to remove"; r.appendChild(title);
      if (original) r.addEventListener("click", (ev) => { ev.stopPropagation(); state.get(file.id).hide.splice(k, 1); refresh(file); });
      svg.appendChild(r);
    });
  }

  function enableDrawing(file, fr, svg) {
    let start = null, rect = null;
    const at = (ev) => {
      const p = svg.createSVGPoint(); p.x = ev.clientX; p.y = ev.clientY;
      const q = p.matrixTransform(svg.getScreenCTM().inverse());
      return [Math.max(0, Math.min(fr.w, q.x)), Math.max(0, Math.min(fr.h, q.y))];
    };
    svg.addEventListener("pointerdown", (ev) => {
      if (ev.target !== svg) return;
      ev.preventDefault();
      start = at(ev);
      rect = svgEl("rect", { class: "hide", x: start[0], y: start[1], width: 0, height: 0 });
      svg.appendChild(rect);
    });
    svg.addEventListener("pointermove", (ev) => {
      if (!start) return;
      const [x, y] = at(ev);
      rect.setAttribute("x", Math.min(x, start[0])); rect.setAttribute("y", Math.min(y, start[1]));
      rect.setAttribute("width", Math.abs(x - start[0])); rect.setAttribute("height", Math.abs(y - start[1]));
    });
    const end = (ev) => {
      if (!start) return;
      const [x, y] = at(ev);
      const box = [Math.floor(Math.min(x, start[0])), Math.floor(Math.min(y, start[1])), Math.ceil(Math.max(x, start[0])), Math.ceil(Math.max(y, start[1]))];
      start = null; rect.remove();
      if (box[2] - box[0] >= 2 && box[3] - box[1] >= 2) { state.get(file.id).hide.push({ frame: fr.frame, box: box }); refresh(file); }
    };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointerleave", end);
  }

  function toggleKeep(file, i) {
    const keep = state.get(file.id).keep;
    if (keep.has(i)) keep.delete(i); else keep.add(i);
    refresh(file);
  }

  function refresh(file) {
    const c = document.querySelector(`.card[data-id="${file.id}"]`);
    if (c) {
      const fresh = card(file);
      if (c.classList.contains("current")) fresh.classList.add("current");
      if (c.classList.contains("zoom")) fresh.classList.add("zoom");
      c.replaceWith(fresh);
    }
    updateCount();
  }

  // ---- decisions.json
  function decisions() {
    const files = {};
    for (const file of FILES) {
      const s = state.get(file.id);
      if (!file.sha256 || (!s.keep.size && !s.hide.length)) continue;
      const keep = [...s.keep].sort((a, b) => a - b).map((i) => {
        const f = file.findings[i];
        return { frame: f.area.frame, box: f.area.box, stage: f.stage };
      });
      files[file.sha256] = { path: file.path, keep: keep, hide: s.hide.map((h) => ({ frame: h.frame, box: h.box })) };
      if (Number.isInteger(file.size)) files[file.sha256].size = file.size; // a run hashes only files of this length
    }
    return files;
  }
  function canonical(v) { // the bytes deident.review.decisions.canonical writes: sorted keys, ASCII only
    if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
    if (v && typeof v === "object") return "{" + Object.keys(v).sort().map((k) => canonical(k) + ":" + canonical(v[k])).join(",") + "}";
    if (typeof v === "string") return JSON.stringify(v).replace(/[\u0080-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
    return JSON.stringify(v);
  }
  function sha256Plain(bytes) { // FIPS 180-4, for a browser that offers no crypto.subtle on file://
    const K = [], H = [];
    const frac = (x) => ((x - Math.floor(x)) * 4294967296) >>> 0;
    for (let n = 2, found = 0; found < 64; n++) {
      let prime = true;
      for (let d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break; }
      if (!prime) continue;
      if (found < 8) H.push(frac(Math.sqrt(n)));
      K.push(frac(Math.cbrt(n))); found++;
    }
    const len = bytes.length, padded = new Uint8Array(((len + 9 + 63) >> 6) << 6);
    padded.set(bytes); padded[len] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(len / 536870912)); view.setUint32(padded.length - 4, (len << 3) >>> 0);
    const w = new Uint32Array(64), rot = (x, n) => (x >>> n) | (x << (32 - n));
    for (let off = 0; off < padded.length; off += 64) {
      for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + 4 * i);
      for (let i = 16; i < 64; i++) {
        const s0 = rot(w[i - 15], 7) ^ rot(w[i - 15], 18) ^ (w[i - 15] >>> 3), s1 = rot(w[i - 2], 17) ^ rot(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
      }
      let [a, b, c, d, e, f, g, h] = H;
      for (let i = 0; i < 64; i++) {
        const t1 = (h + (rot(e, 6) ^ rot(e, 11) ^ rot(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
        const t2 = ((rot(a, 2) ^ rot(a, 13) ^ rot(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        h = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      [a, b, c, d, e, f, g, h].forEach((v, i) => { H[i] = (H[i] + v) >>> 0; });
    }
    return H.map((v) => v.toString(16).padStart(8, "0")).join("");
  }
  async function sha256(bytes) {
    if (!(window.crypto && crypto.subtle)) return sha256Plain(bytes);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
  window.deidentSha256 = { plain: sha256Plain, best: sha256 }; // for the tests: both give the same digest
  async function exported() {
    const files = decisions();
    const sha256sum = await sha256(new TextEncoder().encode(canonical(files)));
    return JSON.stringify({ format: "deident-decisions", version: 1, files: files, sha256: sha256sum }, null, 1);
  }
  function updateCount() {
    let n = 0;
    for (const s of state.values()) n += s.keep.size + s.hide.length;
    document.getElementById("decision-count").textContent = n ? `${n} decision${n === 1 ? "" : "s"}` : "no decisions";
  }
  async function exportDecisions(download) {
    const text = await exported();
    const area = document.getElementById("decisions");
    area.value = text; area.classList.add("shown");
    if (download) {
      const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/json" })), download: "decisions.json" });
      document.body.appendChild(a); a.click(); a.remove();
    } else {
      area.select();
      try { await navigator.clipboard.writeText(text); } catch (e) { document.execCommand("copy"); }
    }
  }

  // ---- keyboard
  function select(index) {
    if (index < 0 || index >= shown.length) return;
    while (index >= rendered) more();
    const prev = document.querySelector(".card.current");
    if (prev) { prev.classList.remove("current"); for (const fig of prev.querySelectorAll("figure")) fig.style.transform = ""; }
    region = -1;
    current = index;
    const c = document.querySelector(`.card[data-id="${shown[index].id}"]`);
    c.classList.add("current");
    c.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.target.tagName === "TEXTAREA" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "j" || ev.key === "ArrowDown" || ev.key === "n") { select(current + 1); ev.preventDefault(); }
    else if (ev.key === "k" || ev.key === "ArrowUp" || ev.key === "p") { select(Math.max(0, current - 1)); ev.preventDefault(); }
    else if (ev.key === "z" && current >= 0) document.querySelector(".card.current").classList.toggle("zoom");
    else if (ev.key === "r" && current >= 0) zoomToRegion(1);
    else if (ev.key === "R" && current >= 0) zoomToRegion(-1);
    else if (ev.key === "Escape" && current >= 0) zoomToRegion(0);
  });

  // r / R: zoom both pictures of the current file onto its next / previous region; Escape: whole picture
  let region = -1;
  function zoomToRegion(step) {
    const file = shown[current];
    const c = document.querySelector(".card.current");
    const areas = file.findings.filter((f) => drawn(f));
    for (const fig of c.querySelectorAll("figure")) { fig.style.transform = ""; fig.classList.remove("zoomed"); }
    for (const p of c.querySelectorAll("polygon.focus")) p.classList.remove("focus");
    if (!step || !areas.length) { region = -1; return; }
    region = (region + step + areas.length) % areas.length;
    const f = areas[region];
    const fr = file.frames.find((x) => x.frame === f.area.frame);
    if (!fr) return;
    const [x0, y0, x1, y1] = f.area.box;
    const scale = Math.max(1, Math.min(8, 0.9 * Math.min(fr.w / Math.max(1, x1 - x0), fr.h / Math.max(1, y1 - y0))));
    for (const fig of c.querySelectorAll(`figure[data-frame="${fr.frame}"]`)) {
      fig.style.transformOrigin = `${(100 * (x0 + x1)) / 2 / fr.w}% ${(100 * (y0 + y1)) / 2 / fr.h}%`;
      fig.style.transform = `scale(${scale.toFixed(2)})`;
      fig.classList.add("zoomed");
      const p = fig.querySelector(`polygon[data-finding="${file.findings.indexOf(f)}"]`);
      if (p) p.classList.add("focus");
    }
  }

  // ---- start
  const privacy = document.getElementById("privacy");
  if (DATA.outputs_only) {
    document.getElementById("title").textContent = "deident review — outputs only";
    privacy.textContent = "Shows de-identified outputs only; as safe to share as the outputs themselves.";
    privacy.classList.add("safe");
    document.getElementById("tools").hidden = true;
  } else {
    document.getElementById("title").textContent = "deident review — CONTAINS ORIGINALS";
    privacy.textContent = "This page shows the original images: keep it as private as they are; never share or upload it.";
  }
  document.getElementById("export").addEventListener("click", () => exportDecisions(true));
  document.getElementById("copy").addEventListener("click", () => exportDecisions(false));
  buildFilters();
  setFilter("all");
  updateCount();
  new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) more(); }, { rootMargin: "800px" })
    .observe(document.getElementById("more"));
  document.body.dataset.ready = "1";
})();
