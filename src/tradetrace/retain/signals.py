"""Signals and whether an order followed: "why didn't it trade", counted.

Strategies often signal on every bar and trade only when the direction changes. The
question a user asks of a run is which changes of direction no order answered. At
NORMAL the spans answer it (``signal_without_order`` in the query API); this tally
answers it at every level, MINIMAL included, where signals are never spans: the export
worker counts each signal by (container, strategy, direction, changed, ordered) and the
metric ``trading.signals`` carries the counts.

- **direction**: ``long``, ``short`` or ``flat`` (:func:`~tradetrace.conventions.signal_direction`);
- **changed**: the direction differs from the previous signal's of the same container,
  strategy and symbol (the first signal of each counts as changed), as the query's
  ``changed_only``;
- **ordered**: an order (the trade rules' ``orders``) was published while the signal
  was dispatched, or below an event that was.

A signal is counted once it is settled: when the next signal of its (container,
strategy, symbol) arrives, whose dispatch starts after every order this one caused, or
when the run ends. Runs on the export worker only.

>>> tally = SignalTally()
>>> for direction, ordered in (("long", True), ("long", False), ("flat", False)):
...     tally.signal(("strategy_1", "s0", "SPY"), direction, ordered)
>>> tally.settle()
>>> sorted(tally.counts.items())  # doctest: +NORMALIZE_WHITESPACE
[(('strategy_1', 's0', 'flat', True, False), 1),
 (('strategy_1', 's0', 'long', False, False), 1),
 (('strategy_1', 's0', 'long', True, True), 1)]
"""

from __future__ import annotations

from typing import Any

from ..conventions import signal_direction
from ..model.record import EVENT, PARENT, ROUTE, SNAPSHOT, SUBJECT, TALLY, Record
from .trade_rules import SIGNAL, TradeRules, getter

#: Levels an order looks up for the signal it answers (SIGNAL -> RISK -> ORDER ...).
MAX_DEPTH = 8
#: Signals answered by an order before they were settled, remembered by identity; past
#: this many (signals lost before the worker saw them) the memory starts again.
MAX_ANSWERED = 65536

#: (container, strategy, direction, changed, ordered)
CountKey = tuple[Any, Any, Any, bool, bool]


class SignalTally:
    """Counts of settled signals, by :data:`CountKey`."""

    def __init__(self) -> None:
        self.counts: dict[CountKey, int] = {}
        #: (container, strategy, symbol) -> [direction, changed, answered] of the last
        #: signal, not settled yet; ``answered`` is a bool or the signal's record, kept
        #: alive until settled so that its id names no other record meanwhile
        self._last: dict[tuple[Any, Any, Any], list[Any]] = {}
        self._answered: set[int] = set()

    def signal(self, where: tuple[Any, Any, Any], direction: Any, answered: Any) -> None:
        """A signal, in publish order: settles the previous one of ``where``.
        ``answered``: True/False, or the signal's record, which an order may still name."""
        last = self._last.get(where)
        if last is not None:
            self._settle(where, last)
        changed = last is None or last[0] != direction
        self._last[where] = [direction, changed, answered]

    def answered(self, signal_record: Record) -> None:
        """An order was published below this signal (before or after it was counted)."""
        if len(self._answered) >= MAX_ANSWERED:
            self._answered.clear()
        self._answered.add(id(signal_record))

    def settle(self) -> None:
        """The run ended: every signal is settled."""
        for where, last in self._last.items():
            self._settle(where, last)
        self._last.clear()

    def _settle(self, where: tuple[Any, Any, Any], last: list[Any]) -> None:
        direction, changed, answered = last
        if answered is not True and answered is not False:
            key_id = id(answered)
            answered = key_id in self._answered
            self._answered.discard(key_id)
        key = (where[0], where[1], direction, changed, answered)
        self.counts[key] = self.counts.get(key, 0) + 1


class SignalReader:
    """What the tally needs of a signal record, and which orders answer one."""

    def __init__(self, rules: TradeRules) -> None:
        self._direction = getter(rules.direction)
        self._strategy = getter(rules.strategy)
        self._symbol = getter(rules.symbol)

    def fields(self, payload: Any) -> tuple[Any, Any, Any]:
        """(direction, strategy, symbol) of a signal's payload, as they are: what a TALLY
        record's route keeps when its publish returns (on the publishing thread: three
        lookups, no more)."""
        if payload.__class__ is not dict and not hasattr(payload, "get"):
            return (None, None, None)
        return (self._direction(payload), self._strategy(payload), self._symbol(payload))

    def count(self, tally: SignalTally, record: Record) -> None:
        """A signal record (an EVENT, or a TALLY with its fields kept) into the tally."""
        fields = record[SUBJECT] if record[0] is TALLY else self.fields(record[SNAPSHOT])
        direction, strategy, symbol = fields
        tally.signal((record[ROUTE].container, _plain(strategy), _plain(symbol)),
                     signal_direction(direction), record)


def answered_signal(record: Record) -> Record | None:
    """The signal an order record answers: its nearest cause whose route is a signal's."""
    cause = record[PARENT]
    for _ in range(MAX_DEPTH):
        if cause is None:
            return None
        kind = cause[0]
        if kind is not EVENT and kind is not TALLY:
            return None
        if cause[ROUTE].role is SIGNAL:
            return cause
        cause = cause[PARENT]
    return None


def _plain(value: Any) -> Any:
    return value if value is None or value.__class__ in (str, int, float) else str(value)

