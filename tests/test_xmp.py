"""XMP values for the deny-list, read by the standard library's XML parser (planted packets)."""

from __future__ import annotations

from deident.formats.xmp import xmp_identifiers
from support.planted import IPTC_CITY, XMP_CREATOR, xmp_packet

PACKET = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description dc:rights="Roe &amp; Doe" '
    b'xmp:CreateDate="2020-01-02" xmp:CreatorTool="Camera 5"><dc:creator><rdf:Seq><rdf:li>Jane Roe</rdf:li>'
    b"<rdf:li>John Doe</rdf:li></rdf:Seq></dc:creator><dc:title>Not a name</dc:title>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def test_element_and_attribute_values_are_read_and_entities_decoded():
    assert xmp_identifiers(PACKET) == ["Jane Roe", "John Doe", "Roe & Doe", "2020-01-02"]
    assert xmp_identifiers(xmp_packet()) == [XMP_CREATOR, IPTC_CITY]


def test_padding_before_and_junk_after_the_packet_do_not_hide_values():
    assert xmp_identifiers(b"\0\0 \n" + PACKET + b"\x01\xff\xfe\x00") == xmp_identifiers(PACKET)


def test_a_damaged_packet_keeps_the_values_read_before_the_damage():
    cut = PACKET.index(b"</rdf:li><rdf:li>John")
    assert xmp_identifiers(PACKET[:cut]) == ["Jane Roe", "Roe & Doe", "2020-01-02"]


def test_a_doctype_is_refused_and_no_entity_is_expanded():
    small = b'<!DOCTYPE x [<!ENTITY a "MRK-ENTITY">]><x><dc:creator>&a;</dc:creator></x>'
    assert xmp_identifiers(small) == []  # refused at the DOCTYPE, not parsed with the entity expanded
    laughs = b'<!DOCTYPE x [<!ENTITY e0 "ha">'
    laughs += b"".join(b'<!ENTITY e%d "%s">' % (i, b"&e%d;" % (i - 1) * 10) for i in range(1, 9))
    assert xmp_identifiers(laughs + b"]><x><dc:creator>&e8;</dc:creator></x>") == []
