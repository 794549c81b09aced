"""Frames on the pipes between the traced process and its encoder process.

A frame is a kind byte, the body's length (4 bytes, big-endian), the number of records
in it (4 bytes), the body. To the encoder: ``C`` its setup (a pickle), ``R`` records,
``E`` the run ended (open trades end), ``F`` a flush (body: its number), ``S`` stop.
From it: ``A`` a report (JSON): its accounting, the flush it answers, its figures.
"""

from __future__ import annotations

from typing import IO

SETUP, RECORDS, END_RUN, FLUSH, STOP, REPORT = b"C", b"R", b"E", b"F", b"S", b"A"
HEADER = 9


def frame(kind: bytes, body: bytes = b"", records: int = 0) -> bytes:
    return kind + len(body).to_bytes(4, "big") + records.to_bytes(4, "big") + body


def read_frame(stream: IO[bytes]) -> tuple[bytes, int, bytes] | None:
    head = _read(stream, HEADER)
    if head is None:
        return None
    body = _read(stream, int.from_bytes(head[1:5], "big"))
    if body is None:
        return None
    return head[:1], int.from_bytes(head[5:9], "big"), body


def _read(stream: IO[bytes], size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
