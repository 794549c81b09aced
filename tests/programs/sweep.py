"""A parameter sweep, as users write one: backtests in a process pool, and one event
handed to a worker process through a queue. Run untraced; tests trace it from outside.

python sweep.py fork|spawn
"""

import multiprocessing
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import demo_engine  # noqa: E402

SEEDS = (11, 12, 13, 14)
BARS = 60


def backtest(seed):
    return demo_engine.run_backtest(bars=BARS, seed=seed)["events"]


def order_desk(signals):
    """In another process: turns the SIGNAL it receives into an ORDER on its own bus.
    Nothing flushes here: tracing must export at the worker's exit by itself."""
    bus = demo_engine.EventBus()
    signal = signals.get(timeout=60)
    bus.publish(demo_engine.Event(event_type="ORDER", container_id="portfolio_desk",
                                  payload={"order_id": "desk-1", "symbol": "SPY",
                                           "strategy_id": "sweep"},
                                  metadata=signal.metadata))


def main(method):
    context = multiprocessing.get_context(method)
    with context.Pool(2) as pool:  # terminate() at the end: workers flush per run
        events = pool.map(backtest, SEEDS)

    signals = context.Queue()
    desk = context.Process(target=order_desk, args=(signals,))
    desk.start()
    bus = demo_engine.EventBus()

    def hand_over(event):
        import tradetrace

        tradetrace.inject(event)
        signals.put(event)

    bus.subscribe("SIGNAL", hand_over, filter_func=lambda e: True)
    bus.publish(demo_engine.Event(event_type="SIGNAL", container_id="strategy_sweep",
                                  payload={"symbol": "SPY"}))
    desk.join(60)
    print(sum(events), desk.exitcode)


if __name__ == "__main__":
    main(sys.argv[1])
