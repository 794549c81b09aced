"""Worker processes report their accounting to the traced parent, which says it at exit.

A worker process of a traced parent (forked, spawned or started with the parent's
variables, see ``session.worker_id``) writes a small JSON report when its tracing starts
(``running``) and again when it shuts down (its accounting). The parent reads them at
its own exit: it sums what its workers recorded, exported and dropped, and names the
workers that never reported an end (killed by SIGKILL, or terminated before tracing
could flush): for those the count cannot be known, and the parent says so.

Reports live in ``<tmp>/tradetrace-<uid>/<run id>/`` (mode 0700), never in the trace
folder, and the parent removes the ones it has read.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def reports_folder(run_id: str) -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"tradetrace-{uid}" / run_id


def write_report(run_id: str, worker: str, accounting: dict[str, Any] | None) -> None:
    """This worker's report: ``running`` (``accounting`` None) or its final accounting."""
    folder = reports_folder(run_id)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        body = {"worker": worker, "pid": os.getpid(), "parent_pid": os.getppid(),
                "state": "running" if accounting is None else "done",
                "accounting": accounting}
        path = folder / f"{worker}.json"
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(body, file)
        os.replace(temporary, path)  # a reader sees the old report or the new, whole
    except OSError:
        logger.debug("tradetrace: no worker report in %s", folder, exc_info=True)


@dataclass
class WorkerReports:
    """What the parent learnt of its workers."""

    done: int = 0
    recorded: int = 0
    exported: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    unknown: list[str] = field(default_factory=list)  #: ended without reporting an end
    running: list[str] = field(default_factory=list)  #: still alive at the parent's exit

    def sentence(self) -> str:
        parts = []
        if self.done:
            dropped = sum(self.dropped.values())
            reasons = ", ".join(f"{r} {n}" for r, n in sorted(self.dropped.items()))
            parts.append(
                f"{self.done} worker process(es): recorded {self.recorded} = exported "
                f"{self.exported} + dropped {dropped}" + (f" ({reasons})" if reasons else "")
                + f" + pending {self.pending}")
        if self.unknown:
            parts.append(f"{len(self.unknown)} worker process(es) ended without reporting "
                         f"a count (killed, or terminated before tracing could flush): "
                         f"{', '.join(self.unknown)}; what they recorded is unknown")
        if self.running:
            parts.append(f"{len(self.running)} still running: {', '.join(self.running)}")
        return "; ".join(parts)


def collect_reports(run_id: str, parent_pid: int | None = None) -> WorkerReports:
    """The reports of this process's workers (every report of the run, if
    ``parent_pid`` is None); the ones of workers that ended are removed."""
    parent_pid = os.getpid() if parent_pid is None else parent_pid
    out = WorkerReports()
    folder = reports_folder(run_id)
    try:
        paths = sorted(folder.glob("w*.json"))
    except OSError:
        return out
    for path in paths:
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if body.get("parent_pid") != parent_pid:
            continue
        worker = str(body.get("worker"))
        accounting = body.get("accounting")
        if body.get("state") == "done" and isinstance(accounting, dict):
            out.done += 1
            out.recorded += int(accounting.get("recorded", 0))
            out.exported += int(accounting.get("exported", 0))
            out.pending += int(accounting.get("pending", 0))
            for reason, n in (accounting.get("dropped") or {}).items():
                out.dropped[reason] = out.dropped.get(reason, 0) + int(n)
        elif _alive(int(body.get("pid", 0))):
            out.running.append(worker)
            continue
        else:
            out.unknown.append(worker)
        try:
            path.unlink()
        except OSError:
            pass
    try:
        folder.rmdir()  # only when empty
    except OSError:
        pass
    return out


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
