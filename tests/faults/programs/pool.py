"""A sweep in a multiprocessing pool of two traced workers, each publishing numbered
BARs (event ids ``w<i>_<n>``), ended in one of three ways. Traced from outside, by the
TRADETRACE_* variables (spawned workers start tracing from them too).

python pool.py fork|spawn join|terminate|kill

- join: the work returns; close() and join(), as a sweep ends normally;
- terminate: the workers block once they have published; terminate() sends SIGTERM;
- kill: as terminate, but one worker gets SIGKILL first (its count cannot be known).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: toybus

import toybus  # noqa: E402

EVENTS = 500


def work(task: tuple[int, bool, object, object]) -> int:
    index, block, published, never = task
    bus = toybus.Bus()
    for n in range(EVENTS):
        bus.publish(toybus.Message(kind="BAR", data={"symbol": "SPY", "close": 100.0},
                                   node="data_1", msg_id=f"w{index}_{n}"))
    published.put(os.getpid())  # type: ignore[attr-defined]
    if block:
        never.wait()  # type: ignore[attr-defined]  # until the pool is ended
    return EVENTS


def main(method: str, ending: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    context = multiprocessing.get_context(method)
    manager = context.Manager()
    published, never = manager.Queue(), manager.Event()
    pool = context.Pool(2)
    block = ending != "join"
    result = pool.map_async(work, [(i, block, published, never) for i in range(2)],
                            chunksize=1)
    pids = [published.get(timeout=120) for _ in range(2)]
    if ending == "join":
        print(sum(result.get(timeout=120)), flush=True)
        pool.close()
        pool.join()
    else:
        if ending == "kill":
            os.kill(pids[0], signal.SIGKILL)
        pool.terminate()
        pool.join()
        print("ended", flush=True)
    manager.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
