"""One interface for every container deident understands.

A format module registers a sniffer (does this content belong to me?) and an opener that returns a
``Document``. The pipeline only ever talks to ``Document``: inspect and scrub metadata, hand out frames
for the pixel stages, take redactions back, write. Adding a format never touches the others.
"""

from __future__ import annotations

import importlib
import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from deident.errors import UnsupportedFormat
from deident.findings import Finding
from deident.keys import Keyring
from deident.options import Options
from deident.regions import Redaction

if TYPE_CHECKING:  # numpy only where pixels are touched: metadata-only runs start without it
    import numpy as np

    from deident.review.decisions import Applying


@dataclass
class Source:
    """An input file; most formats read it whole, streaming ones (whole-slide images) use the path."""

    path: Path

    @cached_property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @classmethod
    def written(cls, path: Path, data: bytes) -> Source:
        """The file at ``path`` whose bytes are known: the ones just written and fsync'd there."""
        source = cls(path)
        source.__dict__["data"] = data
        return source

    def held(self) -> bytes | None:
        """The bytes when they are in memory already (never read for this)."""
        return self.__dict__.get("data")

    def head(self, n: int = 4096) -> bytes:
        if (data := self.held()) is not None:
            return data[:n]
        with open(self.path, "rb") as fh:
            return fh.read(n)


@dataclass
class Context:
    """What a document may need besides its own bytes."""

    options: Options
    keyring: Keyring
    deny_terms: tuple[str, ...] = ()  # batch deny-list values, memory only
    review: Applying | None = None  # this file's reviewer decisions (--decisions), if any
    output: Path | None = None  # the final output name (formats that also write a folder beside it: MRXS)

    @property
    def gate(self) -> bool:
        """True when a check may stop at the first finding that refuses the file (``check`` without
        ``--all-stages``), except with a reviewer's decisions: each must meet the detection it keeps, or
        be reported as unused."""
        return not self.options.all_stages and self.review is None


@dataclass(frozen=True)
class Tiles:
    """A mosaic's grid: pictures of ``width`` x ``height`` px side by side in one frame (Siemens MR stores
    a volume's slices so), a corner of the grid at (``x``, ``y``): negative in a crop that starts inside a
    tile."""

    width: int
    height: int
    x: int = 0
    y: int = 0

    def boxes(self, w: int, h: int) -> list[tuple[int, int, int, int]]:
        """Each tile (x0, y0, x1, y1) as far as it lies in a ``w`` x ``h`` picture."""
        return [
            (x0, y0, x1, y1)
            for y0, y1 in _spans(self.y, self.height, h)
            for x0, x1 in _spans(self.x, self.width, w)
        ]

    def moved(self, dx: int, dy: int) -> Tiles:
        """The grid as a crop whose corner is at (``dx``, ``dy``) sees it."""
        return Tiles(self.width, self.height, self.x - dx, self.y - dy)


def _spans(origin: int, size: int, length: int) -> list[tuple[int, int]]:
    """The spans of a grid of ``size`` through ``origin`` within 0..``length``."""
    first = origin % size - size if origin % size else 0
    return [(max(0, a), min(length, a + size)) for a in range(first, length, size)]


@dataclass
class Frame:
    index: int
    rgb: np.ndarray  # HxWx3 uint8, oriented as a viewer displays it
    photographic: bool = True  # the face stage looks at photographic frames only
    label: str = ""  # e.g. "page 2", "frame 17", "label image"
    # A further rendering of stored values (another window, the full range, local contrast): what a viewer
    # can make visible, with noise and texture turned up as much as a faint label.
    revealed: bool = False
    tiles: Tiles | None = None  # a mosaic's grid: the text stage looks at each tile as a picture

    @property
    def where(self) -> str:
        """How findings name this picture."""
        return self.label or f"frame {self.index}"

    def cropped(self, x0: int, y0: int, rgb: np.ndarray) -> Frame:
        """This frame's pixels ``rgb`` from (``x0``, ``y0``) on, its grid moved with them."""
        tiles = None if self.tiles is None else self.tiles.moved(x0, y0)
        return replace(self, rgb=rgb, tiles=tiles)


class Document(ABC):
    """A parsed file. Methods that change it work in memory; ``write`` produces the output."""

    format: str = ""

    @abstractmethod
    def metadata_findings(self) -> list[Finding]:
        """Identifying metadata present now (read-only; empty after a successful scrub)."""

    @abstractmethod
    def scrub_metadata(self, ctx: Context) -> list[Finding]:
        """Remove or replace identifying metadata; return what was done."""

    def identifiers(self) -> list[str]:
        """Identifying values in clear (names, IDs, dates) for the batch deny-list. Memory only."""
        return []

    def removed_picture(self, finding: Finding) -> np.ndarray | None:
        """The pixels (HxWx3 uint8) of a picture the scrub removes whole (a slide's label and macro), for the
        review page to show it as removed; None for any other finding, and in most formats."""
        return None

    def prepare(self, ctx: Context) -> None:
        """Told the options before the document is inspected or scrubbed, after ``check_size``: a format
        whose inspection costs more when pixels are decoded anyway does it then (JPEG walks its scans)."""
        return None

    def frames(self, ctx: Context) -> Iterator[Frame]:
        """Decoded pictures for the pixel stages; formats without pixels yield nothing."""
        return iter(())

    def frames_ahead(self) -> bool:
        """True when ``frames`` may be taken ahead of ``redact``: no frame shows what redacting an earlier
        one changed (a later rendering of one picture does), so several can be looked at side by side."""
        return False

    def frame_count(self) -> int | None:
        """How many stored frames ``frames`` goes through, where the header says (a progress bar's total)."""
        return None

    def redact(self, frame_index: int, redactions: list[Redaction], ctx: Context) -> list[Finding]:
        """Apply redactions given in the coordinates of ``frames()[frame_index]``."""
        raise NotImplementedError(f"{self.format}: pixel redaction is not supported")

    def pixels_verified(self, stages: list[str], ctx: Context) -> list[Finding]:
        """Called once every frame went through ``stages`` and verification found nothing left.

        DICOM uses it to set BurnedInAnnotation to NO and record the Clean Pixel Data option.
        """
        return []

    @abstractmethod
    def write(self, out: BinaryIO, ctx: Context) -> None:
        """Write the (scrubbed) document."""

    def to_bytes(self, ctx: Context) -> bytes:
        """The output in memory (formats that stream, such as whole-slide images, never call this)."""
        buf = io.BytesIO()
        self.write(buf, ctx)
        return buf.getvalue()

    def output_suffix(self, ctx: Context) -> str | None:
        """A new file extension when the output changes container (``--format``), else None."""
        return None

    def check_size(self, ctx: Context) -> ImageDims | None:
        """Refuse (``TooLarge``) a picture whose header declares more pixels than ``--max-pixels``.

        Called in every mode, metadata-only too: a file deident would refuse to decode is never passed
        as safe because nothing happened to decode it. Formats held whole in memory implement it;
        streaming ones (whole-slide pyramids) are limited per decoded image instead.
        """
        return None


@dataclass(frozen=True)
class FormatSpec:
    name: str
    sniff: Callable[[bytes], bool]
    opener: str  # "module:function" imported only when a file of this format is opened
    streaming: bool = False


_REGISTRY: list[FormatSpec] = []


def register(spec: FormatSpec) -> None:
    _REGISTRY[:] = [s for s in _REGISTRY if s.name != spec.name] + [spec]


def registered() -> list[FormatSpec]:
    return list(_REGISTRY)


def detect(head: bytes) -> FormatSpec | None:
    for spec in _REGISTRY:
        if spec.sniff(head):
            return spec
    return None


# Formats that are a file and a folder beside it: recognised by the file's suffix and the folder's content
# (the file itself holds nothing to sniff). A temporary output counts under the name it is written for.
FOLDER_FORMATS = {".mrxs": "deident.formats.mrxs:open_mrxs"}


def open_document(source: Source) -> Document:
    from deident.paths import temp_owner

    name = temp_owner(source.path.name) or source.path.name
    folder_format = FOLDER_FORMATS.get(Path(name).suffix.lower())
    if folder_format:
        module, func = folder_format.split(":")
        return getattr(importlib.import_module(module), func)(source)
    head = source.head()
    spec = detect(head)
    if spec is None:
        from deident.formats.unread import unread_reason

        raise UnsupportedFormat(unread_reason(head))
    module, func = spec.opener.split(":")
    opener: Callable[[Source], Document] = getattr(importlib.import_module(module), func)
    return opener(source)


@dataclass
class ImageDims:
    width: int
    height: int
    frames: int = 1
    extra: dict = field(default_factory=dict)

    @property
    def pixels(self) -> int:
        return self.width * self.height * max(1, self.frames)
