"""Local trace files: OTLP JSON lines, rotated by size, each line whole or not at all.

Files are named ``<run id>-<n>.jsonl`` (n from 0001) in the output folder, so every
run's files sort together and ``tradetrace summary FOLDER`` reads them all.

Lines go to the file descriptor with one ``writev`` each, never through a buffer in
this process: a forked child has no half-written buffer to write twice, and a line
the OS took is in the file even if the process is killed next. A write that fails
part-way (a full disk) is cut off again, so the file always ends on a clean line and
only whole lines count as written. Files are created ``0600`` and folders ``0700``
(traces hold order flow): configurable, see :class:`Permissions`.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Permissions:
    """Modes of the files and folders tradetrace creates (existing ones are left as
    they are). The process umask still applies."""

    file: int = 0o600
    folder: int = 0o700


PRIVATE = Permissions()  #: the default: 0600 files, 0700 folders


class LineFile:
    """One file opened for appending whole lines."""

    def __init__(self, path: Path, permissions: Permissions = PRIVATE) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=permissions.folder)
        self._fd = os.open(
            path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, permissions.file)
        self.size = os.fstat(self._fd).st_size
        self._cut = False  #: the last line may be partial: start the next on a new line
        if self.size and os.pread(self._fd, 1, self.size - 1) != b"\n":
            self._cut = True  # a process killed mid-line wrote into this file before

    def append(self, data: bytes) -> int:
        """Write ``data`` and a newline; the bytes added. On failure the file is cut
        back to where it was (or, if even that fails, the next line starts afresh) and
        the error raised: the caller counts the line as not written."""
        fd = self._fd
        if fd is None:
            raise ValueError(f"{self.path} is closed")
        parts = [b"\n", data, b"\n"] if self._cut else [data, b"\n"]
        total = sum(map(len, parts))
        start = self.size
        done = 0
        try:
            while done < total:
                written = os.writev(fd, _rest(parts, done))
                if written == 0:  # not an error, but no progress either
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
                done += written
        except BaseException:
            if done:
                self._cut_back(start)
            raise
        self._cut = False
        self.size = start + total
        return total

    def _cut_back(self, start: int) -> None:
        try:
            os.ftruncate(self._fd, start)
        except OSError:
            self._cut = True
            self.size = os.fstat(self._fd).st_size
        else:
            self.size = start

    def close(self) -> None:
        fd, self._fd = self._fd, None  # type: ignore[assignment]
        if fd is not None:
            os.close(fd)


def _rest(parts: list[bytes], skip: int) -> list[bytes | memoryview]:
    """``parts`` without their first ``skip`` bytes (after a short write)."""
    out: list[bytes | memoryview] = []
    for part in parts:
        if skip >= len(part):
            skip -= len(part)
            continue
        out.append(memoryview(part)[skip:] if skip else part)
        skip = 0
    return out


class RotatingTraceFile:
    """Append lines; start a new file when the current one passes ``max_bytes``."""

    def __init__(
        self,
        folder: Path,
        run_id: str,
        max_bytes: int,
        max_files: int = 0,
        permissions: Permissions = PRIVATE,
    ) -> None:
        self.folder = folder
        self.run_id = run_id
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.permissions = permissions
        self._file: LineFile | None = None
        self._index = 0
        self._lock = threading.Lock()
        self.paths: list[Path] = []
        self.bytes_written = 0

    def write_line(self, line: bytes | str) -> None:
        """Append one line whole, or raise with nothing of it left in the file."""
        data = line.encode("utf-8") if isinstance(line, str) else line
        with self._lock:
            file = self._file
            if file is None or (file.size and file.size + len(data) + 1 > self.max_bytes):
                file = self._rotate()
            self.bytes_written += file.append(data)

    def flush(self) -> None:
        """Nothing is buffered in this process (lines go to the OS as they come)."""

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def forget(self) -> None:
        """In a forked child: let go of the parent's file without writing to it."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass

    def _rotate(self) -> LineFile:
        if self._file is not None:
            self._file.close()
            self._file = None
        path = self.folder / f"{self.run_id}-{self._index + 1:04d}.jsonl"
        self._file = LineFile(path, self.permissions)  # (a failure: the same name next time)
        self._index += 1
        self.paths.append(path)
        if self.max_files and len(self.paths) > self.max_files:
            oldest = self.paths.pop(0)
            try:
                os.remove(oldest)
            except OSError as exc:
                logger.warning("tradetrace: could not remove old trace file %s: %s", oldest, exc)
        return self._file
