"""Stepping the level down under load, and back up when the load has passed.

Opt-in (``tracing.overload.action: downgrade`` or ``TRADETRACE_OVERLOAD=downgrade``): a
backtest keeps the export worker busy by design, and a developer who asked for NORMAL
wants NORMAL. In live trading, tracing that keeps up only by taking time from the trading
thread should give way instead.

The export worker reports the CPU time each export took (its own thread's, so time spent
waiting for the GIL does not count), and the session counts what trading threads paid
themselves: waits for the worker with a full buffer, and records dropped because it did
not take the buffer in time. Once per window the guard judges. Overloaded, when the
worker was busy for more than ``busy_fraction`` of the window or a trading thread paid
anything: the level is capped one step lower (DEBUG -> NORMAL -> MINIMAL, never below
``floor``). Calm (busy
under half the threshold, nothing paid) for ``recover_seconds``: one step back up, until
the configured levels are back.

>>> from tradetrace.decide.levels import TraceLevel
>>> guard = OverloadGuard(OverloadSettings("downgrade", window_seconds=1.0), clock=iter(
...     [0.0, 1.0, 2.0]).__next__)
>>> guard.worked(0.6)                       # 60% of a 1 s window
>>> guard.judge(paid=0, top=TraceLevel.NORMAL, cap=None).cap
<TraceLevel.MINIMAL: 1>
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .levels import TraceLevel

ACTIONS = ("off", "downgrade")


@dataclass(frozen=True)
class OverloadSettings:
    action: str = "off"  #: "off" or "downgrade"
    busy_fraction: float = 0.25  #: of a window the worker may spend exporting
    window_seconds: float = 5.0
    recover_seconds: float = 60.0  #: calm this long before each step back up
    floor: TraceLevel = TraceLevel.MINIMAL  #: never capped below this

    @property
    def enabled(self) -> bool:
        return self.action == "downgrade"


@dataclass(frozen=True)
class Verdict:
    """A change of the cap: ``cap`` None means the configured levels apply again."""

    cap: TraceLevel | None
    before: TraceLevel  #: the highest level in effect before the change
    after: TraceLevel  #: ... and after it
    reason: str
    busy: float  #: the worker's busy fraction in the window judged
    paid: int  #: waits for the worker and records dropped by trading threads in that window


class OverloadGuard:
    """Judges the export worker's load once per window (export worker only)."""

    def __init__(self, settings: OverloadSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._window_start = clock()
        self._busy = 0.0
        self._paid_before = 0
        self._calm_since: float | None = None
        self.downgrades = 0
        self.recoveries = 0
        self.at_floor = 0  #: windows judged overloaded with nothing lower to step to
        self.last_reason = ""  #: why the last overloaded window was judged so

    def worked(self, seconds: float) -> None:
        """The worker spent ``seconds`` of CPU time exporting."""
        self._busy += seconds

    def judge(self, paid: int, top: TraceLevel, cap: TraceLevel | None) -> Verdict | None:
        """A new cap when one is due, else None. ``paid``: the running count of waits
        for the worker and dropped records; ``top``: the highest configured level; ``cap``: the
        cap in force."""
        now = self.clock()
        elapsed = now - self._window_start
        settings = self.settings
        if elapsed < settings.window_seconds:
            return None
        busy = self._busy / elapsed if elapsed > 0 else 0.0
        paid_now = paid - self._paid_before
        self._window_start, self._busy, self._paid_before = now, 0.0, paid
        current = min(top, cap) if cap is not None else top
        if busy > settings.busy_fraction or paid_now > 0:
            self._calm_since = None
            self.last_reason = reason = (
                f"export worker busy {busy:.0%} of the last {elapsed:.1f} s"
                if busy > settings.busy_fraction else
                f"trading threads exported or dropped {paid_now} times")
            if current <= settings.floor:  # as low as it may go (or nothing traced)
                self.at_floor += 1
                return None
            lower = TraceLevel(current - 1)
            self.downgrades += 1
            return Verdict(lower, current, lower, reason, busy, paid_now)
        if cap is None or busy > settings.busy_fraction / 2:
            self._calm_since = None
            return None
        if self._calm_since is None:
            self._calm_since = now - elapsed
        if now - self._calm_since < settings.recover_seconds:
            return None
        self._calm_since = now
        self.recoveries += 1
        higher = TraceLevel(min(current + 1, top))
        new_cap = None if higher >= top else higher
        return Verdict(new_cap, current, min(higher, top),
                       f"calm for {settings.recover_seconds:g} s", busy, 0)
