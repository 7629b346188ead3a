"""The whole-slide document: ``open_slide`` (a slide, or None for an ordinary TIFF) and ``SlideDocument``,
a page policy over the streaming TIFF rewriter (see the package docstring for what each page becomes)."""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from deident.errors import CorruptFile, UnsupportedFormat
from deident.findings import Action, Finding
from deident.formats.base import Context, Document, Frame, Source
from deident.formats.tiff.document import PageInfo
from deident.formats.tiff.reader import TiffReader
from deident.formats.tiff.rewrite import Page, PagePlan, clean_jpeg_tables, rewrite_tiff, unused_tags
from deident.formats.tiff.tags import ASCII, DECODE_TAGS, Tag
from deident.formats.wsi.description import DIM_BOUND, clean_svs_description
from deident.formats.wsi.macro import FILL_VALUE, FILLED, filled_ok, label_columns
from deident.formats.wsi.roles import NDPI_KEEP, classify, description_of
from deident.regions import Redaction

OVERVIEW_MAX_PIXELS = 4_000_000  # the tissue overview the pixel stages see (OCR cost on 2 cores: seconds)
MACRO_MAX_PIXELS = 50_000_000  # a macro larger than this is not a photo of a slide; refuse to decode it
_NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")


@dataclass
class SlidePage:
    index: int
    role: str  # level | thumbnail | label | macro | associated (an image nobody could name: removed)
    width: int
    height: int
    tiled: bool
    description: str | None
    info: PageInfo  # tags outside the keep-list, identifying values


def open_slide(source: Source) -> SlideDocument | None:
    with open(source.path, "rb") as fh:
        if not fh.read(8):
            raise CorruptFile("empty file")
        reader = TiffReader(fh)
        ifds = list(reader.chain())
        if not ifds:
            raise CorruptFile("TIFF has no pages")
        found = classify(reader, ifds)
        if found is None:
            return None
        vendor, roles = found
        if vendor == "ndpi" and reader.size > 0xFFFF_FFFF and not reader.big:
            raise UnsupportedFormat(
                "NDPI over 4 GiB stores non-standard 64-bit offsets (high words outside the TIFF "
                "structure); not supported: export the slide to SVS/OME-TIFF first"
            )
        keep = DECODE_TAGS.keys() | {Tag.ImageDescription} | (NDPI_KEEP if vendor == "ndpi" else set())
        pages = []
        for i, (ifd, role) in enumerate(zip(ifds, roles, strict=True)):
            info = PageInfo.read(reader, ifd, i, keep, palette=False)
            software = ifd.entries.get(Tag.Software)
            if vendor == "ndpi" and software and reader.text(software).startswith("NDP.scan"):
                info.items = [it for it in info.items if it.kind != "tiff.Software"]
            tiled = Tag.TileWidth in ifd.entries
            pages.append(
                SlidePage(i, role, info.width, info.height, tiled, description_of(reader, ifd), info)
            )
    return SlideDocument(source, vendor, pages)


# ---------------------------------------------------------------- the document


class SlideDocument(Document):
    """A whole-slide image: structure from the path, pixels only of small pages, output streamed."""

    format = "wsi"

    def __init__(self, source: Source, vendor: str, pages: list[SlidePage]):
        self.source, self.vendor, self.pages = source, vendor, pages
        self.format = f"wsi-{vendor}"
        self.scrubbed = False
        self.keep_macro = False
        self.edited: dict[int, object] = {}  # page index -> PIL image written instead (macro, redactions)
        self.macro_cols: list[tuple[int, int]] = []
        bound = 2 * max((max(p.width, p.height) for p in pages), default=0) or DIM_BOUND
        self.descriptions = {
            p.index: clean_svs_description(p.description, bound)
            for p in pages
            if vendor == "svs" and p.description is not None
        }

    # -- what is there
    def _where(self, p: SlidePage) -> str:
        return f"page {p.index} ({p.role})"

    def _macro_clean(self, p: SlidePage) -> bool:
        return FILLED.search(p.description or "") is not None and filled_ok(
            p.description, np.asarray(self._decode(p.index, MACRO_MAX_PIXELS).convert("RGB"))
        )

    def _marked(self, p: SlidePage) -> bool:
        """A macro a previous scrub kept (label end filled): its other pixels are scanned like any photo."""
        return not self.scrubbed and FILLED.search(p.description or "") is not None

    def _findings(self, action_for_tags: Action) -> list[Finding]:
        out = []
        for p in self.pages:
            where = self._where(p)
            if p.role == "label":
                out.append(
                    Finding(
                        "metadata",
                        "wsi.label",
                        where,
                        Action.REMOVED,
                        f"label image {p.width}x{p.height} (photo of the slide label)",
                    )
                )
                continue
            if p.role == "associated":
                out.append(
                    Finding(
                        "metadata",
                        "wsi.associated",
                        where,
                        Action.REMOVED,
                        f"unidentified associated image {p.width}x{p.height} (not a pyramid level by "
                        "tiling, size, aspect or position)",
                    )
                )
                continue
            if p.role == "macro" and not (action_for_tags is Action.FOUND and self._macro_clean(p)):
                out.append(
                    Finding(
                        "metadata",
                        "wsi.macro",
                        where,
                        Action.REMOVED,
                        f"macro image {p.width}x{p.height} (whole slide, label included)",
                    )
                )
                if action_for_tags is Action.FOUND:
                    continue
            out += [it.finding(action_for_tags) for it in p.info.items]
            if p.description is None:
                continue
            if self.vendor != "svs":
                if p.role != "macro" or not FILLED.search(p.description):
                    out.append(
                        Finding(
                            "metadata",
                            "tiff.ImageDescription",
                            where,
                            action_for_tags,
                            f"ImageDescription, {len(p.description)} chars",
                        )
                    )
                continue
            for name, value in self.descriptions[p.index].dropped:
                out.append(
                    Finding(
                        "metadata",
                        "svs.description",
                        where,
                        action_for_tags,
                        f"ImageDescription {name}, {len(value)} chars",
                    )
                )
        return out

    def metadata_findings(self) -> list[Finding]:
        if self.scrubbed:
            return []
        return [f.as_found() for f in self._findings(Action.FOUND)]

    def identifiers(self) -> list[str]:
        from deident.formats.items import clean_values

        values = [v for p in self.pages for v in p.info.identifiers]
        for d in self.descriptions.values():
            for name, value in d.dropped:
                if name != "header line 2" or not value.startswith(("label", "macro")):
                    values += [value] + ([value.replace("/", "-")] if name == "Date" else [])
        return clean_values(v for v in values if not _NUMBER.fullmatch(v.strip()))

    def scrub_metadata(self, ctx: Context) -> list[Finding]:
        found = self._findings(Action.REMOVED)
        self.keep_macro = ctx.options.keep_macro
        if self.keep_macro:
            found = [self._fill_macro(f) if f.kind == "wsi.macro" else f for f in found]
        kept = sorted({k for d in self.descriptions.values() for k in d.kept})
        levels = [p for p in self.pages if p.role == "level"]
        base = max(levels, key=lambda p: p.width * p.height, default=None)
        overview = self._overview()
        scanned = (
            f"pixel stages see only the tissue overview {overview.width}x{overview.height} "
            f"(page {overview.index})"
            if ctx.options.pixel_stages and overview
            else "tissue pixels not scanned (pixel stages off)"
            if not ctx.options.pixel_stages
            else "no level small enough to scan"
        )
        detail = f"{len(levels)} tissue levels copied byte for byte"
        if base:
            detail += f" (base {base.width}x{base.height})"
        found.append(Finding("metadata", "wsi.tissue", "pyramid", Action.KEPT, f"{detail}; {scanned}"))
        if kept:
            found.append(
                Finding(
                    "metadata",
                    "svs.description",
                    "ImageDescription",
                    Action.KEPT,
                    "fields kept for viewers: " + ", ".join(kept),
                )
            )
        self.scrubbed = True
        return found

    def _fill_macro(self, finding: Finding) -> Finding:
        macro = next(p for p in self.pages if p.role == "macro")
        if macro.index not in self.edited:
            from PIL import Image

            img = self._decode(macro.index, MACRO_MAX_PIXELS).convert("RGB")
            label = next((p for p in self.pages if p.role == "label"), None)
            label_px = (
                np.asarray(self._decode(label.index, MACRO_MAX_PIXELS).convert("RGB")) if label else None
            )
            arr = np.asarray(img).copy()
            self.macro_cols, self.macro_reason = label_columns(arr, label_px)
            for a, b in self.macro_cols:
                arr[:, a:b] = FILL_VALUE
            self.edited[macro.index] = Image.fromarray(arr)
        cols = ",".join(f"{a}-{b}" for a, b in self.macro_cols)
        return Finding(
            "metadata",
            "wsi.macro",
            finding.where,
            Action.REDACTED,
            f"macro image kept, columns {cols} filled ({self.macro_reason})",
        )

    # -- pixels
    def _decode(self, index: int, limit: int):
        from deident.formats.pixels import decode_frame

        p = self.pages[index]
        if p.width * p.height > limit:
            raise UnsupportedFormat(f"page {index} ({p.width}x{p.height}) is too large to decode here")
        return decode_frame(str(self.source.path), index, "slide page")

    def removed_picture(self, finding: Finding) -> np.ndarray | None:
        from deident.formats.pixels import to_rgb8

        if finding.action is not Action.REMOVED or not finding.kind.startswith("wsi."):
            return None
        page = next((p for p in self.pages if self._where(p) == finding.where), None)
        return None if page is None else to_rgb8(self._decode(page.index, MACRO_MAX_PIXELS))

    def _overview(self) -> SlidePage | None:
        small = [
            p
            for p in self.pages
            if p.role in ("level", "thumbnail") and 0 < p.width * p.height <= OVERVIEW_MAX_PIXELS
        ]
        return max(small, key=lambda p: p.width * p.height, default=None)

    def _scanned(self) -> list[tuple[int, SlidePage, str]]:
        """(frame index, page, label) of every page the pixel stages see.

        Frame 0 is the kept macro, frame 1 the tissue overview, frames 2... every other kept page that is not
        a pyramid level (the thumbnail), in page order. The numbering depends only on the kept pages, so the
        output (from which label and macro are gone) numbers its frames the same way for verification.
        """
        out = []
        kept = [p for p in self.pages if p.role == "macro" and (p.index in self.edited or self._marked(p))]
        macro = kept[0] if kept else None
        if macro is not None:
            out.append((0, macro, "macro image"))
        overview = self._overview()
        if overview is None:
            raise UnsupportedFormat(
                f"whole-slide image has no tissue level or thumbnail of at most {OVERVIEW_MAX_PIXELS} pixels "
                "for the pixel stages; run with --text off --faces off to scrub metadata and associated "
                "images only"
            )
        out.append((1, overview, f"tissue overview {overview.width}x{overview.height}"))
        others = [p for p in self.pages if p.role == "thumbnail" and p is not overview]
        for n, p in enumerate(others):
            out.append((2 + n, p, f"{p.role} {p.width}x{p.height} (page {p.index})"))
        return out

    def frames(self, ctx: Context) -> Iterator[Frame]:
        """The kept macro, the bounded tissue overview, and every other kept page that is not a level."""
        from deident.formats.pixels import to_rgb8

        for index, page, label in self._scanned():
            img = self.edited.get(page.index) or self._decode(page.index, OVERVIEW_MAX_PIXELS)
            yield Frame(index, to_rgb8(img), False, label)

    def redact(self, frame_index: int, redactions: list[Redaction], ctx: Context) -> list[Finding]:
        """The macro and the thumbnail are small: redacted and re-encoded. The tissue overview is refused."""
        from deident.formats.pixels import redact_image

        page = next((p for i, p, _ in self._scanned() if i == frame_index), None)
        if page is None or frame_index == 1:
            raise UnsupportedFormat(
                "text or a face was found in the tissue overview of a whole-slide image; redacting it would "
                "mean re-encoding every pyramid level: crop or re-scan the slide, or check it by eye and use "
                "--text off"
            )
        img = self.edited.get(page.index) or self._decode(page.index, MACRO_MAX_PIXELS).convert("RGB")
        self.edited[page.index] = redact_image(img, redactions)
        return []

    # -- output
    def _edited_page(self, page: Page) -> PagePlan:
        """A page whose pixels were changed: re-encoded losslessly (deflate), its description rebuilt."""
        buf = io.BytesIO()
        self.edited[page.index].save(buf, "TIFF", compression="tiff_adobe_deflate")
        reader = TiffReader.from_bytes(buf.getvalue())
        m = self.pages[page.index]
        text = None
        if m.role == "macro":
            cols = ",".join(f"{a}-{b}" for a, b in self.macro_cols)
            text = f"macro {m.width}x{m.height} label-filled x={cols}"
            if self.vendor == "svs":
                text = self.descriptions[page.index].text.split("\r\n")[0] + "\r\n" + text
        plan = self._plan(page, description=text)
        plan.pixels = Page(0, reader, next(reader.chain()))
        return plan

    def _plan(self, page: Page, description: str | None = None) -> PagePlan:
        keep = DECODE_TAGS.keys() | (NDPI_KEEP if self.vendor == "ndpi" else set())
        kept = {t for t in page.ifd.entries if t in keep} - unused_tags(page.reader, page.ifd)
        plan = PagePlan(kept, blocks=self.pages[page.index].info.blocks)
        clean_jpeg_tables(page, plan)
        if description is None and self.vendor == "svs" and page.index in self.descriptions:
            description = self.descriptions[page.index].text
        if description is not None:
            raw = description.encode("ascii", "replace") + b"\0"
            plan.extra[Tag.ImageDescription] = (ASCII, raw, len(raw))
        software = page.ifd.entries.get(Tag.Software)
        if self.vendor == "ndpi" and software and page.reader.text(software).startswith("NDP.scan"):
            plan.extra[Tag.Software] = (ASCII, b"NDP.scan\0", 9)  # the vendor signature readers look for
        return plan

    def write(self, out, ctx: Context) -> None:
        def policy(page: Page) -> PagePlan | None:
            role = self.pages[page.index].role
            if page.index in self.edited:
                return self._edited_page(page)
            if role in ("level", "thumbnail"):
                return self._plan(page)
            return None

        if not self.scrubbed:
            raise UnsupportedFormat("whole-slide image: write() before scrub_metadata()")
        try:
            rewrite_tiff(self.source.path, out, policy, ndpi=self.vendor == "ndpi")
        except struct.error as exc:
            raise CorruptFile(f"TIFF structure is damaged: {exc}") from None
