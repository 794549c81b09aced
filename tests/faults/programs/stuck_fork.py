"""Fork while the writer thread is stuck in a write: the trace file is a FIFO that
nobody reads, so once the pipe's buffer is full the writer blocks in writev.

python stuck_fork.py OUTPUT   (prints: child-exit <status> shutdown <done>)
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: toybus

import toybus  # noqa: E402
import tradetrace  # noqa: E402


def bars(bus: toybus.Bus, prefix: str, count: int) -> None:
    for n in range(count):
        bus.publish(toybus.Message(kind="BAR", data={"symbol": "SPY", "close": 100.0},
                                   node="data_1", msg_id=f"{prefix}_{n}"))


def main(output: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    folder = Path(output)
    folder.mkdir(parents=True)
    os.mkfifo(folder / "stuck-0001.jsonl")
    session = tradetrace.configure("normal", profile=toybus.PROFILE, output=folder,
                                   run_id="stuck")
    bus = toybus.Bus()
    bars(bus, "parent", 3000)  # far more than a pipe's 64 KiB: the writer blocks
    session.flush(1.0)  # returns False at its deadline; the writer is in writev
    pid = os.fork()
    if pid == 0:  # the child traces on, into its own files, and exits normally
        bars(toybus.Bus(), "child", 300)
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    print("child-exit", os.waitstatus_to_exitcode(status), flush=True)
    print("shutdown", tradetrace.shutdown(timeout=0.5), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
