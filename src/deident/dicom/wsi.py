"""DICOM whole-slide images (VL Whole Slide Microscopy Image Storage): the LABEL and OVERVIEW instances.

A DICOM slide is a series: the tissue pyramid (ImageType value 3 ``VOLUME``, and ``THUMBNAIL``) beside a
``LABEL`` instance (a photo of the slide label: accession number, patient name, barcode) and an
``OVERVIEW`` (the whole glass, the label included unless SpecimenLabelInImage says NO). They are the
SVS label and macro in another container, and are handled the same way: their picture goes.

Decision: the instance is **blanked**, not refused. The pixel data is replaced by zeros (native, Explicit VR
Little Endian, 8-bit), SpecimenLabelInImage set to NO, and the scrub records ``dicom.wsi-label`` /
``dicom.wsi-overview`` (REDACTED). The series stays complete (viewers expect the instance), the batch does
not fail for doing what it should, and the written file carries nothing of the label. An OVERVIEW whose
SpecimenLabelInImage is NO is kept: it is a photo of the glass like any other and the pixel stages scan it.
``check`` reports a LABEL or OVERVIEW (label in image) whose pixels are not all zero.
"""

from __future__ import annotations

from deident.findings import Action, Finding

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"  # VL Whole Slide Microscopy Image Storage
WHAT = {
    "label": "LABEL image: a photo of the slide label",
    "overview": "OVERVIEW image with the specimen label in it (SpecimenLabelInImage not NO)",
}


def associated_role(ds) -> str | None:
    """'label' or 'overview' for an instance whose picture shows the slide label, else None."""
    if str(ds.get("SOPClassUID", "")) != WSI_SOP_CLASS:
        return None
    image_type = ds.get("ImageType") or []
    values = [str(v).upper() for v in (image_type if not isinstance(image_type, str) else [image_type])]
    flavour = values[2] if len(values) > 2 else ""
    if flavour == "LABEL":
        return "label"
    if flavour == "OVERVIEW" and str(ds.get("SpecimenLabelInImage", "")).upper() != "NO":
        return "overview"
    return None


def _blank(ds) -> bool:
    """Native pixel data of nothing but zeros: what ``whole_slide_associated`` writes."""
    from pydicom.uid import UID

    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "")))
    data = ds.get("PixelData")  # the value (bytes), not the element
    return data is not None and not syntax.is_compressed and not any(data or b"\1")


def whole_slide_associated(ds, blank: bool) -> list[Finding]:
    """The LABEL / OVERVIEW instance's finding; with ``blank`` its pixels replaced by zeros first."""
    role = associated_role(ds)
    if role is None or "PixelData" not in ds or (not blank and _blank(ds)):
        return []
    where = "(7FE0,0010) PixelData"
    if not blank:
        return [Finding("dicom", f"dicom.wsi-{role}", where, Action.FOUND, WHAT[role])]
    from pydicom.uid import ExplicitVRLittleEndian

    spp = 3 if int(ds.get("SamplesPerPixel", 1)) == 3 else 1
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    size = int(ds.Rows) * int(ds.Columns) * spp * frames
    for keyword in ("PixelData", "ExtendedOffsetTable", "ExtendedOffsetTableLengths", "ICCProfile"):
        if keyword in ds:
            del ds[keyword]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = spp, "RGB" if spp == 3 else "MONOCHROME2"
    if spp == 3:
        ds.PlanarConfiguration = 0
    elif "PlanarConfiguration" in ds:
        del ds.PlanarConfiguration
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes(size + size % 2)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecimenLabelInImage = "NO"
    ds.BurnedInAnnotation = "NO"
    detail = f"{WHAT[role]}: blanked ({ds.Rows}x{ds.Columns}, {frames} frame(s) of zeros)"
    return [Finding("dicom", f"dicom.wsi-{role}", where, Action.REDACTED, detail)]
