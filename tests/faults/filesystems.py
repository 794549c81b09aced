"""Folders that fail to be written, for everyone (root included): a small tmpfs that
fills up (ENOSPC) and a read-only one (EROFS).

Mounting needs privileges that CI or another machine may not grant; then
:class:`MountUnavailable` says why, for the caller to skip with that reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


class MountUnavailable(Exception):
    """The folder cannot be made here; the message is the reason to skip with."""


def _mount(folder: Path, options: str) -> None:
    command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MountUnavailable(f"`{' '.join(command[:-2])}` could not run: {exc}") from exc
    if done.returncode:
        reason = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise MountUnavailable(f"`{' '.join(command[:-2])}` failed: {reason}")


def _unmount(folder: Path) -> None:
    for command in (["umount", str(folder)], ["umount", "-l", str(folder)]):
        try:
            if subprocess.run(command, capture_output=True, timeout=30).returncode == 0:
                return
        except (OSError, subprocess.TimeoutExpired):
            continue


@contextlib.contextmanager
def tmpfs(size_kib: int, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size_kib`` KiB mounted at a new temporary folder, unmounted after."""
    folder = Path(tempfile.mkdtemp(prefix="tradetrace-tmpfs-"))
    try:
        _mount(folder, f"size={int(size_kib)}k" + (",ro" if read_only else ""))
    except MountUnavailable:
        folder.rmdir()
        raise
    try:
        yield folder
    finally:
        _unmount(folder)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def unwritable_folder() -> Iterator[Path]:
    """An existing folder in which no file can be created, even by root: a read-only
    tmpfs; without mount, a folder of mode 0500 (which stops anyone but root)."""
    try:
        with tmpfs(16, read_only=True) as folder:
            yield folder
        return
    except MountUnavailable as exc:
        reason = str(exc)
    with tempfile.TemporaryDirectory(prefix="tradetrace-locked-") as tmp:
        folder = Path(tmp) / "locked"
        folder.mkdir(mode=0o500)
        try:
            probe = folder / "probe"
            try:
                probe.touch()
            except OSError:
                yield folder
                return
            probe.unlink()
            raise MountUnavailable(f"{reason}; and mode 0500 does not stop this user "
                                   f"(uid {os.geteuid()} ignores permission bits)")
        finally:
            folder.chmod(0o700)
