"""Regenerate the bundled sample images (all synthetic, made here; every "patient" is invented).

    python tests/support/sample_images.py

It lives here, not in sample_images/, so that the folder the README demo scrubs holds inputs only.

- histology.jpg       an H&E-like photomicrograph with camera EXIF (make, serial, owner, dates) and XMP
- slide_label.jpg     a photo of a glass slide whose label carries a name, an accession number, a date
                      and a DataMatrix code; a caption file beside it (slide_label.txt)
- clinical_gps.jpg    a clinical-style photo with GPS, dates, an embedded thumbnail and a comment
- radiograph.dcm      a DICOM radiograph with a patient in the header and burned into the corner
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parents[2] / "sample_images"
RNG = np.random.default_rng(20261122)


def font(size: int) -> ImageFont.ImageFont:
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def histology(w: int = 900, h: int = 640) -> Image.Image:
    """Pink stroma with purple nuclei, blurred like a 20x photomicrograph."""
    img = np.zeros((h, w, 3), np.float32)
    img[:] = (236, 180, 205)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(40):  # eosinophilic fibres
        cx, cy, r = RNG.uniform(0, w), RNG.uniform(0, h), RNG.uniform(40, 160)
        d = np.hypot(xx - cx, yy - cy)
        img[d < r] = img[d < r] * 0.9 + np.array((222, 120, 170)) * 0.1
    pil = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for _ in range(900):
        x, y = RNG.uniform(0, w), RNG.uniform(0, h)
        rx, ry = RNG.uniform(4, 9), RNG.uniform(3, 7)
        shade = tuple(int(c) for c in RNG.normal((95, 60, 150), 15).clip(30, 200))
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=shade)
    pil = pil.filter(ImageFilter.GaussianBlur(1.2))
    noise = RNG.normal(0, 4, (h, w, 3))
    return Image.fromarray((np.asarray(pil, np.float32) + noise).clip(0, 255).astype(np.uint8))


def exif_bytes(gps: bool, thumbnail: bytes | None = None) -> bytes:
    import piexif

    zeroth = {
        piexif.ImageIFD.Make: b"Olympus",
        piexif.ImageIFD.Model: b"DP27",
        piexif.ImageIFD.Artist: b"Dr Jane Example",
        piexif.ImageIFD.Copyright: b"St Example Hospital Pathology",
        piexif.ImageIFD.DateTime: b"2017:03:04 09:12:44",
        piexif.ImageIFD.Software: b"cellSens 1.18",
        piexif.ImageIFD.ImageDescription: b"Case S17-04522 SMITH JANE",
        piexif.ImageIFD.XPAuthor: "Jane Example".encode("utf-16le"),
    }
    exif = {
        piexif.ExifIFD.DateTimeOriginal: b"2017:03:04 09:12:44",
        piexif.ExifIFD.BodySerialNumber: b"SN-889123",
        piexif.ExifIFD.CameraOwnerName: b"Jane Example",
        piexif.ExifIFD.UserComment: b"ASCII\x00\x00\x00patient Smith, MRN 1234567",
    }
    data = {"0th": zeroth, "Exif": exif}
    if gps:
        data["GPS"] = {
            piexif.GPSIFD.GPSLatitudeRef: b"N",
            piexif.GPSIFD.GPSLatitude: ((51, 1), (30, 1), (2634, 100)),
            piexif.GPSIFD.GPSLongitudeRef: b"W",
            piexif.GPSIFD.GPSLongitude: ((0, 1), (7, 1), (3960, 100)),
            piexif.GPSIFD.GPSDateStamp: b"2017:03:04",
        }
    if thumbnail:
        ifd = piexif.ImageIFD
        data["1st"] = {ifd.JPEGInterchangeFormat: 0, ifd.JPEGInterchangeFormatLength: 0}
        data["thumbnail"] = thumbnail
    return piexif.dump(data)


XMP = (
    b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
    b"xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description "
    b"xmlns:dc='http://purl.org/dc/elements/1.1/'><dc:creator>Jane Example</dc:creator>"
    b"<dc:description>SMITH JANE S17-04522</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
)


def insert_segments(jpeg: bytes, segments: list[bytes]) -> bytes:
    """Insert raw marker segments right after SOI (a tool of the samples only, not of deident)."""
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def save_jpeg(img: Image.Image, exif: bytes, extra: list[bytes], path: Path) -> None:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88, exif=exif)
    path.write_bytes(insert_segments(buf.getvalue(), extra))


def slide_photo(w: int = 1000, h: int = 560) -> Image.Image:
    img = Image.new("RGB", (w, h), (58, 62, 70))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle(
        (60, 110, 940, 450), radius=8, fill=(214, 222, 226), outline=(240, 244, 246), width=3
    )
    tissue = histology(420, 240).resize((420, 240))
    mask = Image.new("L", (420, 240), 0)
    ImageDraw.Draw(mask).ellipse((10, 10, 410, 230), fill=255)
    img.paste(tissue, (120, 160), mask.filter(ImageFilter.GaussianBlur(6)))
    draw.rectangle((640, 118, 932, 442), fill=(250, 250, 244))
    f = font(26)
    for i, line in enumerate(("S17-04522 A1", "SMITH, JANE", "DOB 12/05/1961", "H&E  03/04/2017")):
        draw.text((656, 134 + 40 * i), line, fill=(20, 20, 30), font=f)
    try:
        import zxingcpp

        code = zxingcpp.create_barcode("S17-04522", zxingcpp.BarcodeFormat.DataMatrix)
        symbol = Image.fromarray(np.asarray(code.to_image(scale=6, add_quiet_zones=True))).convert("RGB")
        img.paste(symbol.resize((110, 110), Image.NEAREST), (800, 320))
    except (ImportError, AttributeError):
        pass
    return img


def clinical_photo(w: int = 900, h: int = 700) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    skin = np.zeros((h, w, 3), np.float32)
    skin[:] = (224, 172, 140)
    skin += RNG.normal(0, 5, (h, w, 3))
    d = np.hypot((x - 450) / 1.3, y - 360)
    lesion = np.exp(-((d / 90) ** 2))[..., None]
    skin = skin * (1 - 0.7 * lesion) + np.array((90, 50, 40)) * 0.7 * lesion
    return Image.fromarray(skin.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))


def radiograph(path: Path) -> None:
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    h, w = 384, 320
    yy, xx = np.mgrid[0:h, 0:w]
    body = np.exp(-(((xx - 160) / 120) ** 2)) * 2600 + RNG.normal(0, 40, (h, w))
    ribs = (np.sin(yy / 14.0) > 0.6) * 500 * np.exp(-(((xx - 200) / 120) ** 2))
    pixels = (body + ribs + 300).clip(0, 4095).astype(np.uint16)
    label = Image.new("L", (w, 60), 0)
    ImageDraw.Draw(label).text((8, 6), "DOE^JOHN  MRN 7654321\n2017-03-04 PORTABLE", fill=255, font=font(18))
    mask = np.asarray(label) > 128
    pixels[:60][mask] = 4095

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["deident-sample-sop"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["deident-sample-study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["deident-sample-series"])
    ds.PatientName = "DOE^JOHN"
    ds.PatientID = "7654321"
    ds.PatientBirthDate = "19500101"
    ds.PatientSex = "M"
    ds.AccessionNumber = "A17-99881"
    ds.StudyDate = ds.SeriesDate = "20170304"
    ds.StudyTime = "101500"
    ds.InstitutionName = "St Example Hospital"
    ds.ReferringPhysicianName = "WHO^DR"
    ds.Modality = "CR"
    ds.BurnedInAnnotation = "YES"
    ds.Rows, ds.Columns = h, w
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def main() -> None:
    thumb = io.BytesIO()
    histology(160, 120).save(thumb, "JPEG", quality=70)
    save_jpeg(
        histology(),
        exif_bytes(gps=False, thumbnail=thumb.getvalue()),
        [segment(0xE1, XMP)],
        HERE / "histology.jpg",
    )
    save_jpeg(
        slide_photo(),
        exif_bytes(gps=True),
        [segment(0xFE, b"scanned by jexample on 2017-03-04")],
        HERE / "slide_label.jpg",
    )
    (HERE / "slide_label.txt").write_text(
        "Yesterday I saw this in a 20-year-old woman with a left thigh mass (MRN 1234567). "
        "Her biopsy on 03/04/2017 showed a spindle cell lesion. #pathology\n"
    )
    thumb = io.BytesIO()
    clinical_photo(160, 124).save(thumb, "JPEG", quality=70)
    save_jpeg(
        clinical_photo(),
        exif_bytes(gps=True, thumbnail=thumb.getvalue()),
        [segment(0xFE, b"Mrs Smith, left forearm"), segment(0xEB, b"JPXX unknown APP11 payload")],
        HERE / "clinical_gps.jpg",
    )
    radiograph(HERE / "radiograph.dcm")
    for p in sorted(HERE.iterdir()):
        if p.suffix != ".py":
            print(f"{p.name:20s} {p.stat().st_size / 1024:7.1f} KB")


if __name__ == "__main__":
    main()
