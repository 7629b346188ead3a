"""ONNX model weights with their denormal floats flushed to zero, before onnxruntime loads them.

PP-OCRv6's DB detector ships 255,958 denormal weights, nearly all in two 1x1 convolutions of its neck
(63 % and 24 % of their weights). Every multiply by a denormal takes a microcode assist on x86, so those
two small layers took 63 % of the detector's time, and the detector is most of deident's pixel stages.
onnxruntime's own switch (``session.set_denormal_as_zero``) reaches its pool threads only, never the
calling thread, which does all the work with one intra-op thread. A denormal weight (< 1.2e-38) adds
nothing a float32 sum of such a network can hold: on ../shared's real-world pictures the probability
maps stay bit-identical.

A few lines of protobuf wire format walk to the weights, so that no ``onnx`` package is needed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

_GRAPH = 7  # ModelProto.graph
_INITIALIZER = 5  # GraphProto.initializer
_DATA_TYPE, _FLOAT_DATA, _RAW_DATA = 2, 4, 9  # TensorProto fields
_FLOAT = 1  # TensorProto.DataType.FLOAT
_EXPONENT, _MANTISSA, _SIGN = 0x7F800000, 0x007FFFFF, 0x80000000


def without_denormals(model: bytes) -> bytes:
    """``model`` (an ONNX file's bytes) with every denormal float32 weight made a zero of its sign."""
    out = bytearray(model)
    for field, wire, start, end in _fields(out, 0, len(out)):
        if field == _GRAPH and wire == 2:
            for sub, sub_wire, s, e in _fields(out, start, end):
                if sub == _INITIALIZER and sub_wire == 2:
                    _flush(out, s, e)
    return bytes(out)


def _flush(buf: bytearray, start: int, end: int) -> None:
    """Flush the float data of the TensorProto in ``buf[start:end]``, in place."""
    kind, data = 0, []
    for field, wire, s, e in _fields(buf, start, end):
        if field == _DATA_TYPE and wire == 0:
            kind = _varint(buf, s)[0]
        elif field in (_FLOAT_DATA, _RAW_DATA) and wire == 2:
            data.append((s, e))
    if kind != _FLOAT:
        return
    for s, e in data:
        words = np.frombuffer(buf, dtype="<u4", count=(e - s) // 4, offset=s)  # a view: writes reach buf
        words[((words & _EXPONENT) == 0) & ((words & _MANTISSA) != 0)] &= _SIGN


def _fields(buf: bytearray, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end) of each field of the message in buf[start:end]."""
    i = start
    while i < end:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            j = _varint(buf, i)[1]
        elif wire == 1:
            j = i + 8
        elif wire == 2:
            size, i = _varint(buf, i)
            j = i + size
        elif wire == 5:
            j = i + 4
        else:
            raise ValueError(f"not an ONNX model: protobuf wire type {wire} at byte {i}")
        if j > end:
            raise ValueError(f"not an ONNX model: a field runs past its message at byte {i}")
        yield field, wire, i, j
        i = j


def _varint(buf: bytearray, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("not an ONNX model: the file ends inside a number")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7
