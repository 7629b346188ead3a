"""The document base of the photo formats held whole in memory (JPEG, PNG, GIF, WebP, HEIF).

Each format module only knows its own container (a walker that lists identifying items and a filter that
drops them); decoding, display orientation, redaction in stored pixels and the re-encode bookkeeping live
here once, through ``formats.pixels``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

from deident.errors import CorruptFile
from deident.findings import Action, Finding
from deident.formats.base import Context, Document, Frame, ImageDims, Source
from deident.formats.items import Item, clean_values
from deident.formats.pixels import (
    decode_frame,
    orient,
    redact_image,
    refuse_above_limit,
    shown_frames,
    to_stored,
)
from deident.regions import Redaction


class WholeFileDocument(Document):
    """A file small enough to hold in memory: scrub filters the bytes, pixels come from Pillow.

    Subclasses provide ``_items`` (identifying items in some bytes), ``_clean`` (those bytes without
    them), ``_dims`` (size before decoding) and ``_encode`` (the file re-encoded with edited frames).
    """

    format = ""

    def __init__(self, source: Source):
        self.source = source
        if not source.data:
            raise CorruptFile("empty file")
        self.data: bytes = source.data
        self.scrubbed = False
        self.edited: dict[int, object] = {}  # frame index -> stored pixels (PIL image) after redaction
        self._parsed: tuple[bytes, list[Item]] | None = None
        self._items_of(self.data)  # parse now: a damaged container fails at open, not half-way

    def _items_of(self, data: bytes) -> list[Item]:
        """``_items`` once per bytes object: open, inspect and scrub all ask about the same bytes."""
        if self._parsed is None or self._parsed[0] is not data:
            self._parsed = (data, self._items(data))
        return self._parsed[1]

    # -- format hooks
    def _items(self, data: bytes) -> list[Item]:
        raise NotImplementedError

    def _clean(self, data: bytes) -> bytes:
        raise NotImplementedError

    def _dims(self) -> ImageDims:
        raise NotImplementedError

    def _encode(self, ctx: Context) -> bytes:
        raise NotImplementedError

    def identifiers(self) -> list[str]:
        """The values the items of the walk carry (formats that walk once: items hold their values)."""
        return clean_values(v for it in self._items_of(self.data) for v in it.values)

    def _kept(self) -> list[Item]:
        """What scrub deliberately leaves (reported as KEPT)."""
        return []

    @property
    def orientation(self) -> int:
        return 1

    # -- Document
    def metadata_findings(self) -> list[Finding]:
        return [it.finding(Action.FOUND) for it in self._items_of(self.data)]

    def scrub_metadata(self, ctx: Context) -> list[Finding]:
        items = self._items_of(self.data)
        kept = self._kept()
        self.data = self._clean(self.data)
        self.scrubbed = True
        return [it.finding() for it in items] + [it.finding(Action.KEPT) for it in kept]

    def check_size(self, ctx: Context) -> ImageDims:
        dims = self._dims()
        refuse_above_limit(dims.pixels, f"{dims.width}x{dims.height}x{dims.frames} pixels", ctx)
        return dims

    def stored(self, index: int, ctx: Context):
        """Stored (un-oriented) pixels of one frame in their native mode."""
        if index in self.edited:
            return self.edited[index]
        dims = self.check_size(ctx)
        if not 0 <= index < dims.frames:
            raise IndexError(f"{self.format}: no frame {index}")
        return decode_frame(self.data, index)

    def frames(self, ctx: Context) -> Iterator[Frame]:
        dims = self.check_size(ctx)
        for i in range(dims.frames):
            shown = orient(self.stored(i, ctx), self.orientation)
            yield from shown_frames(i, shown, f"frame {i}" if dims.frames > 1 else "image")

    def redact(self, frame_index: int, redactions: list[Redaction], ctx: Context) -> list[Finding]:
        img = self.stored(frame_index, ctx)
        self.edited[frame_index] = redact_image(img, to_stored(redactions, self.orientation, img.size))
        return []

    def write(self, out, ctx: Context) -> None:
        out.write(self._output(ctx))

    def to_bytes(self, ctx: Context) -> bytes:
        return self._output(ctx)  # the very bytes: no copy through a buffer

    def _encode_frames(self, ctx: Context, fmt: str, save_options: Callable[[dict, bool], dict]) -> bytes:
        """Every frame again, edited or not (GIF and WebP frames depend on each other), each with its
        original duration; ``save_options(info, animated)`` adds what the format keeps (loop, ICC)."""
        from deident.formats.pixels import open_image

        src = open_image(self.data)
        frames, durations = [], []
        for i in range(self._dims().frames):
            frames.append(self.stored(i, ctx))
            src.seek(i)
            durations.append(src.info.get("duration", 0))
        kwargs = save_options(src.info, len(frames) > 1)
        if len(frames) > 1:
            kwargs |= {"save_all": True, "append_images": frames[1:], "duration": durations}
        buf = io.BytesIO()
        frames[0].save(buf, fmt, **kwargs)
        return buf.getvalue()

    def _output(self, ctx: Context) -> bytes:
        """The whole output; a subclass that writes differently overrides this, never ``write`` alone."""
        if self.edited:
            # Re-encoded bytes carry only what the encoder wrote; the filter also restores the orientation.
            return self._clean(self._encode(ctx))
        return self.data
