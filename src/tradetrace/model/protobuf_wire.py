"""The protobuf wire format, the little of it OTLP needs: varints, fixed-width numbers,
length-delimited fields, and a reader that walks a message's fields.

Written by hand so the relay encodes OTLP without building message objects
(``otlp_proto.py``); the generated classes are for tests only.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT, I64, LEN, I32 = 0, 1, 2, 5  #: wire types

_ONE_BYTE = [bytes((i,)) for i in range(128)]
_UINT64 = (1 << 64) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

fixed64 = struct.Struct("<Q").pack
fixed32 = struct.Struct("<I").pack
double = struct.Struct("<d").pack


def varint(value: int) -> bytes:
    """Base-128 varint; a negative int64 as its 64-bit two's complement (10 bytes), as
    protobuf writes ``int64``."""
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    value &= _UINT64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def delimited(field_tag: bytes, body: bytes) -> bytes:
    """A length-delimited field: its tag, the body's length, the body."""
    return field_tag + varint(len(body)) + body


# -- reading (replies are small: clarity over speed) -----------------------------------


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """``(field, wire type, value)`` of each field of a message: an int for varints and
    fixed-width numbers, the bytes of a length-delimited field. ValueError on anything
    that is not a well-formed message."""
    at, end = 0, len(data)
    while at < end:
        key, at = _read_varint(data, at)
        field, wire_type = key >> 3, key & 7
        if field == 0:
            raise ValueError("field number 0")
        value: int | bytes
        if wire_type == VARINT:
            value, at = _read_varint(data, at)
        elif wire_type in (I64, I32):
            size = 8 if wire_type == I64 else 4
            if at + size > end:
                raise ValueError("truncated fixed-width field")
            value, at = int.from_bytes(data[at:at + size], "little"), at + size
        elif wire_type == LEN:
            size, at = _read_varint(data, at)
            if at + size > end:
                raise ValueError("truncated length-delimited field")
            value, at = data[at:at + size], at + size
        else:
            raise ValueError(f"wire type {wire_type} (groups are not OTLP's)")
        yield field, wire_type, value
