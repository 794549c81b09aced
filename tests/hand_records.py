"""Records built by hand, as the publish path would leave them once finished, for unit
tests of the export worker's units (the encoder, retention, the worker) without a
tracing session: routes as the decision table makes them, kept fields as the publish
path stores them, and the events of trades as a portfolio publishes them."""

from __future__ import annotations

import itertools
from typing import Any

from tradetrace.model.record import (
    END,
    ERROR,
    EVENT,
    HANDLER,
    LIFECYCLE,
    RUN,
    SNAPSHOT,
    START,
    TALLY,
    Record,
    new_record,
)
from tradetrace.model.route import Route
from tradetrace.retain.policies.always import Always
from tradetrace.retain.policy import RetentionPolicy
from tradetrace.retain.trades import TradeRules

RULES = TradeRules()
ALWAYS_POLICY: RetentionPolicy = Always()
PORTFOLIO, EXECUTION, DATA = "portfolio_1", "execution_1", "data_1"

#: wall clock, ns: every record starts later than the one made before it (publish order)
_clock = [1_700_000_000_000_000_000]
_event_ids = itertools.count(1)


def now(at: int | None = None) -> int:
    """The next start time, 1 ms after the last one; or ``at``, which later ones follow."""
    _clock[0] = _clock[0] + 1_000_000 if at is None else max(_clock[0], at)
    return _clock[0] if at is None else at


def route(
    event_type: str,
    container: str,
    retention: RetentionPolicy = ALWAYS_POLICY,
    debug: bool = False,
    rules: TradeRules | None = RULES,
) -> Route:
    """A route as DecisionTable._make builds one: its role from the trade rules (the
    module's constant, compared by identity). No buffer: the units under test never use
    it, nor ``keep`` (the publish path's)."""
    role = rules.role(event_type.upper()) if rules is not None else None
    return Route(container, event_type, None, debug, None, role, retention)  # type: ignore[arg-type]


def kept(
    event_id: Any = None, source: Any = None, when: Any = None, causation: Any = None,
    correlation: Any = None, target: Any = None, *debug: Any,
) -> tuple[Any, ...]:
    """An event record's kept fields (capture/record.py KEPT_FIELDS): six at NORMAL, the
    sequence number and metadata too at DEBUG (``debug``)."""
    return (event_id, source, when, causation, correlation, target, *debug)


def event(
    event_route: Route,
    payload: Any = None,
    *,
    parent: Record | None = None,
    fields: tuple[Any, ...] | None = None,
    error: BaseException | None = None,
    start: int | None = None,
    duration: int = 1000,
) -> Record:
    """A finished EVENT record: its event replaced by its kept fields (a fresh event id
    when ``fields`` is not given), its payload snapshot, its end time."""
    start = now(start)
    if fields is None:  # DEBUG's routes keep the sequence number and metadata too
        debug = (None, None) if event_route.payload_snapshot else ()
        fields = kept(f"evt_{next(_event_ids)}", None, None, None, None, None, *debug)
    record = new_record(EVENT, event_route, fields, parent, start)
    record[SNAPSHOT] = {} if payload is None else payload
    record[END] = start + duration
    record[ERROR] = error
    return record


def handler(event_route: Route, function: Any, parent: Record, error: Any = None) -> Record:
    """A finished HANDLER record (DEBUG): ``function`` ran for ``parent``'s event."""
    start = now()
    record = new_record(HANDLER, event_route, function, parent, start)
    record[END] = start + 500
    record[ERROR] = error
    return record


def step(name: str, attributes: tuple[tuple[str, Any], ...] = (),
         parent: Record | None = None, kind: str = LIFECYCLE) -> Record:
    """A finished lifecycle step (or run, ``kind=RUN``): ROUTE is (name, attributes)."""
    start = now()
    record = new_record(kind, (name, attributes), None, parent, start)
    record[END] = start + 10_000_000
    return record


def run(name: str = "coordinator.run", attributes: tuple[tuple[str, Any], ...] = ()) -> Record:
    return step(name, attributes, kind=RUN)


def tally(signal_route: Route, direction: Any, strategy: Any, symbol: Any) -> Record:
    """A signal a level counts but does not trace (TALLY): its SUBJECT is what the
    route kept of it, (direction, strategy, symbol)."""
    start = now()
    record = new_record(TALLY, signal_route, (direction, strategy, symbol), None, start)
    record[END] = start + 100
    return record


_order_ids = itertools.count(1)


class Book:
    """The events of trades as a portfolio publishes them (each a root, as on a bus
    that publishes them one after another): ORDER and POSITION_* on ``portfolio``,
    FILL on ``execution``. ``retention``: the portfolio's policy (the trade's owner)."""

    def __init__(self, retention: RetentionPolicy = ALWAYS_POLICY,
                 portfolio: str = PORTFOLIO, execution: str = EXECUTION) -> None:
        self.routes = {name: route(name, portfolio, retention)
                       for name in ("ORDER", "POSITION_OPEN", "POSITION_UPDATE",
                                    "POSITION_CLOSE", "PORTFOLIO_UPDATE")}
        self.routes["FILL"] = route("FILL", execution, retention)

    def order(self, symbol: str, side: str = "BUY", price: float = 100.0,
              quantity: float = 10, strategy: str = "s1", **extra: Any) -> Record:
        return event(self.routes["ORDER"], {
            "order_id": f"o{next(_order_ids)}", "symbol": symbol, "side": side,
            "price": price, "quantity": quantity, "strategy_id": strategy, **extra})

    def fill(self, order: Record, price: float | None = None, status: str = "FILLED",
             after_ns: int | None = None, **kw: Any) -> Record:
        placed = order[SNAPSHOT]
        start = None if after_ns is None else order[START] + after_ns
        return event(self.routes["FILL"], {
            "order_id": placed["order_id"], "symbol": placed["symbol"], "side": placed["side"],
            "price": placed["price"] if price is None else price,
            "quantity": placed["quantity"], "status": status,
            "strategy_id": placed["strategy_id"]}, start=start, **kw)

    def open(self, symbol: str, price: float = 100.0, strategy: str = "s1",
             **kw: Any) -> Record:
        return event(self.routes["POSITION_OPEN"], {
            "symbol": symbol, "quantity": 10, "entry_price": price,
            "strategy_id": strategy}, **kw)

    def update(self, symbol: str, mark: float, **kw: Any) -> Record:
        return event(self.routes["POSITION_UPDATE"], {"symbol": symbol, "mark": mark}, **kw)

    def close(self, symbol: str, pnl: float | None, price: float = 100.0,
              strategy: str = "s1", **kw: Any) -> Record:
        payload = {"symbol": symbol, "quantity": 10, "entry_price": price,
                   "exit_price": price + (pnl or 0.0) / 10, "strategy_id": strategy}
        if pnl is not None:
            payload["realized_pnl"] = pnl
        return event(self.routes["POSITION_CLOSE"], payload, **kw)

    def opening(self, symbol: str, price: float = 100.0, fill_price: float | None = None,
                fill_after_ns: int | None = None, open_kw: dict[str, Any] | None = None,
                ) -> list[Record]:
        """ORDER, FILL, POSITION_OPEN: a position opened."""
        placed = self.order(symbol, "BUY", price)
        return [placed, self.fill(placed, fill_price, after_ns=fill_after_ns),
                self.open(symbol, price if fill_price is None else fill_price,
                          **(open_kw or {}))]

    def closing(self, symbol: str, pnl: float | None, close_kw: dict[str, Any] | None = None,
                ) -> list[Record]:
        """ORDER, FILL, POSITION_CLOSE: the position closed with ``pnl``."""
        placed = self.order(symbol, "SELL")
        return [placed, self.fill(placed), self.close(symbol, pnl, **(close_kw or {}))]

    def round_trip(self, symbol: str, pnl: float | None) -> list[Record]:
        return self.opening(symbol) + self.closing(symbol, pnl)

    def rejected(self, symbol: str) -> list[Record]:
        """An entry order its broker rejected: the trade completes as rejected."""
        placed = self.order(symbol)
        return [placed, self.fill(placed, 0.0, status="REJECTED")]


def symbols(records: list[Record]) -> list[str]:
    """The symbols of the trade events among ``records``, sorted, once each."""
    return sorted({r[SNAPSHOT].get("symbol") for r in records
                   if r[0] is EVENT and isinstance(r[SNAPSHOT], dict)} - {None})
