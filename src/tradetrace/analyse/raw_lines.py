"""The bytes of a trace file, plain or gzip, split into lines under a cap.

The byte level under ``reader.py``: a ``.gz`` file is read up to where its stream breaks
(a file still being written), and a line longer than the cap is read past without being
held, so one broken writer cannot take all memory.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def open_raw(path: Path) -> io.RawIOBase:
    """The bytes of ``path``, decompressed when it is a ``.gz``."""
    return GzipPrefix(path) if path.name.endswith(".gz") else io.FileIO(path)


def split_lines(raw: io.RawIOBase, cap: int) -> Iterator[bytes | bytearray | None]:
    """The lines of ``raw`` (newline kept), None for one longer than ``cap`` bytes.

    By hand rather than ``readline(cap)``: that joins its pieces into a second copy, and
    reading past a long line with it held another. Here a line is held only while it is
    within the cap, so memory stays about ``cap`` plus one chunk whatever the lines.
    """
    held = bytearray()
    skipping = False
    while chunk := raw.read(_CHUNK):
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            if skipping:
                skipping = False
                yield None
            elif len(held) + end - start > cap:
                held = bytearray()
                yield None
            elif held:
                held += memoryview(chunk)[start:end + 1]
                line, held = held, bytearray()
                yield line
            else:
                yield chunk[start:end + 1]
            start = end + 1
        if not skipping and start < len(chunk):
            if len(held) + len(chunk) - start > cap:
                skipping, held = True, bytearray()  # said at its end; its bytes let go
            else:
                held += memoryview(chunk)[start:]
    if skipping:
        yield None
    elif held:
        yield held


class GzipPrefix(io.RawIOBase):
    """The decompressed bytes of a ``.gz`` file up to where its stream breaks.

    zlib by hand rather than ``gzip.open``: its read() loses the bytes it decompressed
    before an error; here every byte before the break is read, and ``error`` says why it
    stopped. Multi-member files (concatenated gzips) are read whole.
    """

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close())
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._out = b""
        self._at = 0
        self._done = False
        self._started = False  #: any compressed byte seen (an empty file is empty, not cut)
        self.produced = 0
        self.error: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._at >= len(self._out):
            if self._done:
                return 0
            self._out, self._at = self._next(), 0
        n = min(len(buffer), len(self._out) - self._at)
        buffer[:n] = self._out[self._at:self._at + n]
        self._at += n
        self.produced += n
        return n

    def _next(self) -> bytes:
        z = self._inflate
        if z.eof:  # a member ended: the next one starts with what it left over
            data = z.unused_data or self._file.read(_CHUNK)
            if not data:
                self._done = True
                return b""
            z = self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        else:
            data = z.unconsumed_tail or self._file.read(_CHUNK)
            if not data:
                self._done = True
                if self._started:
                    self.error = "the stream ends before its end marker"
                return z.flush()
        self._started = True
        try:
            return z.decompress(data, 4 * _CHUNK)  # bounded: a gzip bomb is read in steps
        except zlib.error as exc:
            self._done = True
            self.error = f"corrupt data: {exc}"
            return b""

    def close(self) -> None:
        self._file.close()
        super().close()
