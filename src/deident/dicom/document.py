"""DICOM as a deident ``Document``: PS3.15 Annex E Basic profile plus the options in ``DicomOptions``.

Order of a scrub, as the pipeline calls it::

    open_dicom(source)          parse (force: files without preamble/meta too); truncated, an invalid VR
                                or bytes after the dataset (read as an element) -> CorruptFile
    scrub_metadata(ctx)         table actions on every element, recursively; private, overlay, curve groups
                                removed; PatientIdentityRemoved, DeidentificationMethod(+CodeSequence) set
    frames(ctx) / redact(...)   only when a pixel stage runs: stored values decoded, windowed for display
    pixels_verified(...)        BurnedInAnnotation=NO and code 113101 once the text stage ran
    write(out, ctx)             new preamble and File Meta; Pixel Data bytes untouched unless redacted
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import struct
import warnings
from collections.abc import Iterator
from typing import BinaryIO

from deident.dicom.wsi import whole_slide_associated
from deident.errors import CorruptFile, UnsupportedFormat
from deident.findings import Action, Finding, Reason
from deident.formats.base import Context, Document, Frame, Source
from deident.regions import Redaction
from deident.version import __version__

# Our implementation's identity in every File Meta we write: 2.25 + uuid5(URL, "deident.implementation").
IMPLEMENTATION_UID = "2.25.77383759526787599850519146195758806815"
IMPLEMENTATION_VERSION = f"DEIDENT_{__version__}"[:16]
# File Meta attributes that name the sender or carry private data: never written, flagged when read.
META_IDENTIFYING = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
    "SourcePresentationAddress",
    "SendingPresentationAddress",
    "ReceivingPresentationAddress",
    "PrivateInformationCreatorUID",
    "PrivateInformation",
)
# Values handed to the batch deny-list (burned-in text search), by how they are rendered in pixels.
IDENTIFIER_NAMES = (
    "PatientName", "OtherPatientNames", "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
    "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy", "PatientMotherBirthName", "RequestingPhysician",
)  # fmt: skip
IDENTIFIER_VALUES = (
    "PatientID", "OtherPatientIDs", "AccessionNumber", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "StationName", "StudyID", "PatientAddress", "PatientTelephoneNumbers",
    "MedicalRecordLocator", "DeviceSerialNumber",
)  # fmt: skip
IDENTIFIER_DATES = ("PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
DATE_RENDERINGS = ("{y}{m}{d}", "{y}-{m}-{d}", "{d}/{m}/{y}", "{m}/{d}/{y}", "{d}.{m}.{y}", "{y}/{m}/{d}")


UID_SHAPE = re.compile(r"[0-9]+(\.[0-9]+)+")
TS_BY_ENCODING = {  # (implicit VR, little endian) of a file read without a transfer syntax
    (True, True): "1.2.840.10008.1.2",
    (False, True): "1.2.840.10008.1.2.1",
    (False, False): "1.2.840.10008.1.2.2",
}


def open_dicom(source: Source) -> DicomDocument:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(source.data), force=True)
    except (
        InvalidDicomError,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        TypeError,
        NotImplementedError,
    ) as exc:
        raise CorruptFile(f"DICOM cannot be parsed: {exc}") from exc
    except Exception as exc:  # pydicom raises many kinds on damaged data; none may surface as a traceback
        raise CorruptFile(f"DICOM cannot be parsed ({type(exc).__name__}: {exc})") from exc
    return DicomDocument(ds)


UNDEFINED_LENGTH = 0xFFFFFFFF


def _unaccounted(ds, path: str = "") -> str:
    """Why the parsed elements are not the file's bytes, element for element ("" when they are).

    pydicom reads on to the end of the file: bytes appended after the dataset become an element with
    whatever VR their letters spell (written back by the scrub), and a last element whose length runs
    past the end keeps what is there. So every element, in every sequence item, must carry a valid VR
    and exactly the bytes its length declares. The reason names the tag, never the bytes.
    """
    from pydicom.valuerep import VR

    from deident.dicom.scrub import vr_of

    valid = VR.__members__
    for elem in ds.elements():  # raw elements: nothing decoded but the sequences walked below
        vr = elem.VR
        explicit = not getattr(elem, "is_implicit_VR", True)  # implicit: pydicom's dictionary VR
        if explicit and (len(vr or "") != 2 or vr not in valid):
            return f"element {_where(path, elem.tag)} has an invalid VR"
        value, length = elem.value, getattr(elem, "length", None)
        whole = length in (None, UNDEFINED_LENGTH) or value is None
        if not whole and len(value) != length:
            where = _where(path, elem.tag)
            return f"element {where} declares {length} bytes, the file holds {len(value)} (truncated)"
        if vr == "SQ" or (vr in (None, "UN") and vr_of(ds, elem.tag) == "SQ"):
            for i, item in enumerate(ds[elem.tag].value or []):
                problem = _unaccounted(item, f"{_where(path, elem.tag)}[{i}] > ")
                if problem:
                    return problem
    return ""


def _where(path: str, tag: int) -> str:
    return f"{path}({tag >> 16:04X},{tag & 0xFFFF:04X})"


class DicomDocument(Document):
    format = "dicom"

    def __init__(self, ds):
        from deident.dicom.pixels import check_length

        has_dataset = any(int(t) >> 16 != 0x0002 for t in ds.keys())  # noqa: SIM118 (keys: no value decoding)
        with _readable("SOP Class"):
            sop_class = str(ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID") or "")
        if not has_dataset or not UID_SHAPE.fullmatch(sop_class):
            raise UnsupportedFormat("not a DICOM dataset (no valid SOP Class UID): content not recognised")
        with _readable("structure"):
            problem = _unaccounted(ds)
        if problem:
            raise CorruptFile(f"DICOM cannot be read through: {problem}")
        self.ds = ds
        self._own: list[str] | None = None  # ``identifiers``, as the file was opened
        with _readable("transfer syntax, pixel data length"):
            self._transfer_syntax = self._original_transfer_syntax()
            check_length(ds)
            self._original_instance = str(
                ds.get("SOPInstanceUID") or ds.file_meta.get("MediaStorageSOPInstanceUID", "")
            )
        self._pixels = None
        self._native_clean = None  # (Pixel Data, layout) as a clean_native run left them clean

    def _original_transfer_syntax(self) -> str:
        from pydicom.uid import UID

        ts = self.ds.file_meta.get("TransferSyntaxUID")
        if not ts:
            ts = TS_BY_ENCODING.get(tuple(self.ds.original_encoding), "1.2.840.10008.1.2.1")
            self.ds.file_meta.TransferSyntaxUID = UID(ts)
        return str(ts)

    # ------------------------------------------------------------ metadata

    def metadata_findings(self) -> list[Finding]:
        from deident.dicom.encode import recode_lossless_jpeg
        from deident.dicom.fragments import filter_fragments
        from deident.dicom.pixels import clean_rle
        from deident.dicom.scrub import audit, claimed_columns
        from deident.dicom.sweep import Sweeper

        ds = self.ds
        with _readable("check"):
            columns = claimed_columns(ds)
            out = _meta_findings(ds.file_meta, columns) + audit(ds, columns)
            recoded = recode_lossless_jpeg(ds, fix=False, max_pixels=0)
            out += recoded or filter_fragments(ds).findings(Action.FOUND)
            out += self._clean_native(fix=False) + clean_rle(ds, fix=False)
            out += Sweeper([], fix=False).sweep(ds)
        out += self._marks_findings(columns)
        out += whole_slide_associated(ds, blank=False)  # a slide's LABEL / OVERVIEW picture (dicom/wsi.py)
        return out

    def _marks_findings(self, columns) -> list[Finding]:
        from deident.dicom.pixels import PIXEL_ELEMENTS, pixel_element

        ds = self.ds
        out = []
        if str(ds.get("PatientIdentityRemoved", "")).upper() != "YES" or not _codes(ds) >= {"113100"}:
            detail = "not marked as de-identified with the Basic profile (113100)"
            where = "(0012,0062) PatientIdentityRemoved"
            out.append(_found("PatientIdentityRemoved", where, detail))
        if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
            detail = "BurnedInAnnotation=YES: identifying text is burned into the pixels"
            where = "(0028,0301) BurnedInAnnotation"
            out.append(_found("BurnedInAnnotation", where, detail))
        if pixel_element(ds) and "113101" not in _codes(ds):
            detail = "pixel data not verified clean (no Clean Pixel Data code 113101)"
            out.append(
                Finding(
                    "dicom",
                    "dicom.pixels-unverified",
                    PIXEL_ELEMENTS[pixel_element(ds)],
                    Action.FOUND,
                    detail,
                    reason=Reason.PIXELS_UNVERIFIED,
                )
            )
        return out

    def scrub_metadata(self, ctx: Context) -> list[Finding]:
        from deident.denylist import deny_list_for
        from deident.dicom.encode import recode_lossless_jpeg
        from deident.dicom.fragments import filter_fragments
        from deident.dicom.pixels import clean_rle
        from deident.dicom.profile import enabled_columns
        from deident.dicom.scrub import Scrubber
        from deident.dicom.sweep import Sweeper
        from deident.dicom.values import Replacer

        ds = self.ds
        with _readable("scrub"):
            patient = (
                str(ds.get("PatientID", "") or "").strip() or str(ds.get("PatientName", "") or "").strip()
            )
            # this file's names, IDs and dates (the patterns find dates in text, but not in a CodeValue, which
            # only the deny-list reads, nor in a number), then the batch's list
            own = tuple(self.identifiers())
            deny = [deny_list_for(own)] + ([deny_list_for(ctx.deny_terms)] if ctx.deny_terms else [])
            scrubber = Scrubber(Replacer(ctx.keyring, patient), enabled_columns(ctx.options.dicom))
            out = scrubber.scrub(ds)
            out += whole_slide_associated(ds, blank=True)  # a slide's LABEL / OVERVIEW picture (dicom/wsi.py)
            # JPEG Lossless coded again, pixels identical
            out += recode_lossless_jpeg(ds, fix=True, max_pixels=ctx.options.max_pixels)
            filtered = filter_fragments(ds)  # camera EXIF, comments, a second image after EOI
            filtered.apply(ds)
            out += filtered.findings(Action.REMOVED)
            out += self._clean_native(fix=True)  # bytes past the last frame, bits outside BitsStored
            out += clean_rle(ds, fix=True)  # the same bits inside RLE, and bytes no decoder reads: re-encoded
            out += Sweeper(deny, fix=True).sweep(ds)  # identifiers in what the table keeps
        self._mark(ctx)
        return out

    def _mark(self, ctx: Context, clean_pixels: bool = False) -> None:
        from pydicom.dataset import Dataset

        from deident.dicom.profile import CLEAN_PIXELS_CODE, load_profile, option_codes

        ds = self.ds
        codes = option_codes(ctx.options.dicom) + ([CLEAN_PIXELS_CODE] if clean_pixels else [])
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = [f"deident {__version__}", f"DICOM PS3.15 {load_profile().edition}"] + [
            meaning[:64] for _, meaning in codes
        ]
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = items
        dates = ctx.options.dicom.retain_long_modified_dates
        ds.LongitudinalTemporalInformationModified = "MODIFIED" if dates else "REMOVED"

    def identifiers(self) -> list[str]:
        """The file's own identifiers as it was opened (one walk: the scrub's sweep and the check of the
        file's name both ask, the name after the scrub has changed the dataset)."""
        if self._own is None:
            self._own = self._identifiers(dates=True)
        return list(self._own)

    def _identifiers(self, dates: bool) -> list[str]:
        """Names (every PN value), IDs and (``dates``) the main dates in their common renderings, from the
        dataset and every sequence item: a DICOMDIR names its patient in a directory record only, and a
        physician named in an item can be typed again into a code meaning elsewhere. One pass over each
        item's tags (looking each keyword up in every item doubled a metadata-only scrub's DICOM time)."""
        from deident.dicom.scrub import tags, vr_of

        names, values, wanted_dates = (
            _tags_of(IDENTIFIER_NAMES),
            _tags_of(IDENTIFIER_VALUES),
            _tags_of(IDENTIFIER_DATES if dates else ()),
        )
        institution = _tags_of(("InstitutionName",))
        out: list[str] = []
        with _readable("identifiers"):
            pending = [self.ds]
            while pending:
                ds = pending.pop()
                for key in tags(ds):
                    tag, vr = int(key), vr_of(ds, key)
                    if vr == "SQ":
                        pending += list(ds[key].value or [])
                    elif tag in names or vr == "PN":  # whole names: the deny-list derives the spellings
                        out += [g for name in _strings(ds[key]) for g in name.split("=") if g.strip()]
                    elif tag in values:
                        maker = tag in institution
                        out += [v for v in _strings(ds[key]) if not (maker and _maker(ds, v))]
                    elif tag in wanted_dates:
                        for value in _strings(ds[key]):
                            if len(value) >= 8 and value[:8].isdigit():
                                y, m, d = value[:4], value[4:6], value[6:8]
                                out += [r.format(y=y, m=m, d=d) for r in DATE_RENDERINGS]
        return sorted({v.strip() for v in out if len(v.strip()) > 1})

    # ------------------------------------------------------------ pixels

    def _clean_native(self, fix: bool) -> list[Finding]:
        """``clean_native``, remembering the Pixel Data and header it leaves clean for ``_decoded``."""
        from deident.dicom.pixels import clean_native

        found = clean_native(self.ds, fix)
        if fix or not found:
            self._native_clean = self._native_state()
        return found

    def _native_state(self):
        from deident.dicom.pixels import native_layout

        layout = native_layout(self.ds)
        return None if layout is None else (self.ds[layout[0]].value, layout)

    def _decoded(self, ctx: Context):
        from deident.dicom.pixels import Pixels, clean_native

        if self._pixels is None:
            # what a scrub keeps (for check); skipped where the scrub's or check's own run left these very
            # bytes under this header clean: a second run would find nothing and change nothing
            if self._native_clean != self._native_state():
                clean_native(self.ds, fix=True)
            self._native_clean = None
            self._pixels = Pixels.decode(self.ds, ctx.options.max_pixels)
        return self._pixels

    def frame_count(self) -> int | None:
        return max(1, int(self.ds.get("NumberOfFrames", 1) or 1))

    def frames_ahead(self) -> bool:
        """Colour and palette frames are rendered once each, from their own stored values; a greyscale
        frame's further renderings (``Pixels.renderings``) are made after its first one was redacted."""
        from deident.dicom.pixels import one_rendering

        return one_rendering(self.ds)

    def frames(self, ctx: Context) -> Iterator[Frame]:
        from deident.dicom.pixels import is_photographic, mosaic_tiles, pixel_element
        from deident.options import FaceMode, TextMode

        if pixel_element(self.ds) is None:
            return
        photo = is_photographic(self.ds)
        if not photo and ctx.options.text is TextMode.OFF and ctx.options.faces is not FaceMode.OFF:
            return  # only the face stage runs, and it looks at photographs only: nothing to decode
        pixels = self._decoded(ctx)
        tiles = mosaic_tiles(self.ds)
        for i in range(pixels.array.shape[0]):  # one Frame per rendering, all in the frame's geometry
            for mapping, rgb in _rendered(pixels, i):
                label = f"frame {i}, {mapping}" if mapping else f"frame {i}"
                photographic, revealed = photo and not mapping, bool(mapping)
                yield Frame(i, rgb, photographic, label, revealed, tiles)

    def redact(self, frame_index: int, redactions: list[Redaction], ctx: Context) -> list[Finding]:
        pixels = self._decoded(ctx)
        if not 0 <= frame_index < pixels.array.shape[0]:
            raise IndexError(f"DICOM has no frame {frame_index}")
        from deident.dicom import encode

        pixels.redact(frame_index, redactions)
        before, pixels.plan = pixels.plan, encode.plan(pixels, frame_index)
        # the pipeline reports each region redacted; pixels_verified() records the cleaning; here: how
        # the frame is written
        return encode.findings(pixels, frame_index, before)

    def pixels_verified(self, stages: list[str], ctx: Context) -> list[Finding]:
        from deident.dicom.pixels import pixel_element

        if "text" not in stages or pixel_element(self.ds) is None:
            return []
        self.ds.BurnedInAnnotation = "NO"
        self._mark(ctx, clean_pixels=True)
        burned = "(0028,0301) BurnedInAnnotation"
        codes = "(0012,0064) DeidentificationMethodCodeSequence"
        return [
            Finding(
                "dicom",
                "dicom.BurnedInAnnotation",
                burned,
                Action.REPLACED,
                "set to NO: text stage ran",
                reason=Reason.PIXELS_UNVERIFIED,
            ),
            Finding("dicom", "dicom.code-113101", codes, Action.REPLACED, "Clean Pixel Data Option recorded"),
        ]

    # ------------------------------------------------------------ output

    def write(self, out: BinaryIO, ctx: Context) -> None:
        import pydicom
        from pydicom.dataset import FileMetaDataset
        from pydicom.uid import UID

        ds = self.ds
        if self._pixels is not None and self._pixels.dirty:
            from deident.dicom import encode
            from deident.dicom.binary import blank_unused_palette

            encode.store(self._pixels)
            blank_unused_palette(ds, self._pixels.array)
        sop_class = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID")
        instance = ds.get("SOPInstanceUID") or (
            ctx.keyring.uid(self._original_instance) if self._original_instance else ""
        )
        if not sop_class or not instance:
            raise CorruptFile("DICOM has no SOP Class or SOP Instance UID: cannot write a valid Part 10 file")
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = UID(str(sop_class))
        meta.MediaStorageSOPInstanceUID = UID(str(instance))
        meta.TransferSyntaxUID = UID(str(ds.file_meta.get("TransferSyntaxUID") or self._transfer_syntax))
        meta.ImplementationClassUID = UID(IMPLEMENTATION_UID)
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION
        ds.file_meta = meta
        ds.preamble = b"\0" * 128
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if "DirectoryRecordSequence" in ds:
                    _relink_directory(ds)
                pydicom.dcmwrite(out, ds, enforce_file_format=True)
        except (*UNREADABLE, AttributeError) as exc:
            said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__  # pydicom appends a traceback
            raise CorruptFile(f"DICOM cannot be written: {said}") from exc


# Where a DICOMDIR's records point at each other (PS3.3 F.3.2.1): byte offsets from the file's first byte.
DIRECTORY_LINKS = (
    "OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity",
    "OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity",
)
RECORD_LINKS = ("OffsetOfTheNextDirectoryRecord", "OffsetOfReferencedLowerLevelDirectoryEntity")


def _relink_directory(ds) -> None:
    """Point a DICOMDIR's links at its records where the output holds them. The scrub changes value
    lengths, so every record moves: written with the input's offsets, the output pointed into the middle
    of records and no reader could follow it (pydicom's FileSet: KeyError). Each offset is mapped from
    the input's record at it to the same record in the output as written (an offset is a fixed 4-byte
    UL, so setting them moves nothing); one that names no record of the input becomes 0, none."""
    import pydicom

    records = ds.DirectoryRecordSequence
    before = [getattr(r, "seq_item_tell", None) for r in records]
    if None in before:  # not read from a file: nothing to map from
        return
    probe = io.BytesIO()
    pydicom.dcmwrite(probe, ds, enforce_file_format=True)
    after = [r.seq_item_tell for r in pydicom.dcmread(io.BytesIO(probe.getvalue())).DirectoryRecordSequence]
    moved = dict(zip(before, after, strict=True))
    for holder, links in ((ds, DIRECTORY_LINKS), *((r, RECORD_LINKS) for r in records)):
        for keyword in links:
            if keyword in holder:
                holder[keyword].value = moved.get(holder[keyword].value, 0)


# What pydicom raises on a damaged element (an unknown VR, a value that does not parse): the file cannot be
# read through, so it fails with that reason rather than as an internal error.
UNREADABLE = (ValueError, TypeError, KeyError, OverflowError, NotImplementedError, struct.error)


@contextlib.contextmanager
def _readable(doing: str) -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except UNREADABLE as exc:
            raise CorruptFile(f"DICOM element cannot be read ({doing}): {exc}") from exc


def _rendered(pixels, index: int) -> Iterator[tuple[str, object]]:
    """The frame's renderings; a header that cannot display them (a broken palette, an unknown VR in a
    LUT) fails the file: its pixels cannot be checked."""
    try:
        yield from pixels.renderings(index)
    except (*UNREADABLE, AttributeError, IndexError) as exc:
        raise CorruptFile(f"DICOM frame {index} cannot be displayed for checking: {exc}") from exc


def _codes(ds) -> set[str]:
    return {str(getattr(item, "CodeValue", "")) for item in ds.get("DeidentificationMethodCodeSequence", [])}


def _found(keyword: str, where: str, detail: str) -> Finding:
    from deident.dicom.scrub import reason_of

    return Finding("dicom", f"dicom.{keyword}", where, Action.FOUND, detail, reason=reason_of(keyword))


def _strings(elem) -> list[str]:
    if elem is None:
        return []
    value = elem.value if hasattr(elem, "value") else elem
    values = value if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
    return [str(v) for v in values if v not in (None, "")]


@functools.cache
def _tags_of(keywords: tuple[str, ...]) -> frozenset[int]:
    from pydicom.datadict import tag_for_keyword

    return frozenset(tag_for_keyword(kw) for kw in keywords)


def _maker(ds, institution: str) -> bool:
    """An InstitutionName that only names the scanner's maker (``phi.names_a_maker``) is no identifier."""
    from deident.text.phi import names_a_maker  # data only (phi.json): no model, no heavy import

    return names_a_maker(institution, " ".join(_strings(ds.get("Manufacturer"))))


def _meta_findings(meta, columns) -> list[Finding]:
    from deident.dicom.values import is_new_uid

    out = [_found(kw, f"File Meta {kw}", "names the sending system") for kw in META_IDENTIFYING if kw in meta]
    uid = str(meta.get("MediaStorageSOPInstanceUID", "") or "")
    if not is_new_uid(uid):
        where = "File Meta (0002,0003) MediaStorageSOPInstanceUID"
        out.append(_found("MediaStorageSOPInstanceUID", where, f"original UID ({len(uid)} chars)"))
    return out
