"""XMP packets (JPEG APP1, PNG iTXt, GIF, WebP, TIFF tag 700, HEIF): the identifying values in them, for
the batch deny-list (memory only; the packets themselves are always removed).

Read with the standard library's XML parser (expat), not regular expressions: linear in the packet
size whatever its shape, entities decoded, attribute and element forms alike. A packet that declares a
DOCTYPE is refused before any declaration is read, so no entity is ever expanded whatever the expat
version (XMP never has one; expat >= 2.4.1, which Python 3.11 bundles, also limits expansion). A damaged
packet yields the values read before the damage (expat reports as it goes).
"""

from __future__ import annotations

import contextlib
from xml.parsers import expat

from deident.formats.items import clean_values

# Properties whose values name people, places, dates or serials (as qualified names: prefix:property).
VALUE_PROPERTIES = frozenset(
    {
        "dc:creator",
        "dc:rights",
        "photoshop:City",
        "photoshop:State",
        "photoshop:Country",
        "photoshop:Credit",
        "photoshop:AuthorsPosition",
        "photoshop:DateCreated",
        "Iptc4xmpCore:Location",
        "Iptc4xmpCore:CountryCode",
        "xmp:CreateDate",
        "xmp:ModifyDate",
        "exif:DateTimeOriginal",
        "aux:SerialNumber",
        "exifEX:BodySerialNumber",
        "exifEX:CameraOwnerName",
        "tiff:Artist",
    }
)


class _Refused(Exception):
    """A DOCTYPE in an XMP packet: parsing stops before its declarations."""


def xmp_identifiers(xmp: bytes) -> list[str]:
    """Names, places, dates and serials from an XMP packet: each text run inside a value property (one per
    ``rdf:li``), then each value property written as an attribute."""
    texts: list[str] = []  # text runs inside value properties, in document order
    attributes: list[str] = []
    inside = 0  # depth of value properties around the parser's position
    run: list[str] = []  # the current text run (expat may hand it over in pieces)

    def flush() -> None:
        if inside and run:
            texts.append("".join(run))
        run.clear()

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal inside
        flush()
        attributes.extend(v for k, v in attrs.items() if k in VALUE_PROPERTIES)
        inside += name in VALUE_PROPERTIES

    def end(name: str) -> None:
        nonlocal inside
        flush()
        inside -= name in VALUE_PROPERTIES and inside > 0

    def doctype(*_) -> None:
        raise _Refused

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = run.append
    parser.StartDoctypeDeclHandler = doctype
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    # Damaged, a DOCTYPE, or junk after the packet (GIF's magic trailer): what was read before counts.
    with contextlib.suppress(expat.ExpatError, _Refused, ValueError):
        parser.Parse(xmp[max(xmp.find(b"<"), 0) :], True)  # from the first tag: no leading padding or BOM
    flush()  # a value cut short by the damage still counts
    return clean_values(texts + attributes)
