"""Local trace files: OTLP JSON lines, rotated by size.

Files are named ``<run id>-<n>.jsonl`` (n from 0001) in the output folder, so every
run's files sort together and ``tradetrace summary FOLDER`` reads them all.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)


class RotatingTraceFile:
    """Append lines; start a new file when the current one passes ``max_bytes``."""

    def __init__(self, folder: Path, run_id: str, max_bytes: int, max_files: int = 0) -> None:
        self.folder = folder
        self.run_id = run_id
        self.max_bytes = max_bytes
        self.max_files = max_files
        self._file: IO[bytes] | None = None
        self._size = 0
        self._index = 0
        self._lock = threading.Lock()
        self.paths: list[Path] = []
        self.bytes_written = 0

    def write_line(self, line: str) -> None:
        # One copy of a line of a few hundred kilobytes: its UTF-8 bytes. The newline is
        # written apart (`line + "\n"` would copy it again), and the file's buffer is
        # smaller than a line, which then goes straight to the OS instead of into it.
        data = line.encode("utf-8")
        size = len(data) + 1
        with self._lock:
            if self._file is None or (self._size and self._size + size > self.max_bytes):
                self._rotate()
            assert self._file is not None
            self._file.write(data)
            self._file.write(b"\n")
            self._size += size
            self.bytes_written += size

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._index += 1
        path = self.folder / f"{self.run_id}-{self._index:04d}.jsonl"
        self._file = open(path, "ab", buffering=1 << 16)  # noqa: SIM115
        self._size = path.stat().st_size
        self.paths.append(path)
        if self.max_files and len(self.paths) > self.max_files:
            oldest = self.paths.pop(0)
            try:
                os.remove(oldest)
            except OSError as exc:
                logger.warning("tradetrace: could not remove old trace file %s: %s", oldest, exc)
