"""backtrader (pure Python, no bus): the broker's order notifications patched as a
publish, the strategy's bars and trade notifications recorded by hooks.

Where each event is seen (docs/frameworks.md#backtrader):

- ``BackBroker.notify(order)``: the broker is told of every order status change (the
  strategy gets a clone of each, later, through ``notify_order``). Patched as a
  ``publish``: an order submitted while a bar is handled is that bar's child;
- ``Strategy._oncepost`` (cerebro's default ``runonce``) and ``Strategy._next``
  (``runonce=False``): the strategy handles its next bar, a ``Bar`` event dispatched for
  the call (what it submits is its child). Private base-class methods, so a user's
  strategy that overrides ``next`` or ``notify_order`` is traced all the same;
- ``Strategy._addnotification(order)``: the strategy is handed an order notification and
  builds its trades from it; each trade copy it queues for ``notify_trade`` (opened or
  closed) is recorded as a ``TradeNotice`` with that order.

Armed only when chosen: its events need their own adapter (model/backtrader.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...config_sections import parse_trade_rules
from ...model.backtrader import Bar, TradeNotice
from ..profile_types import Profile, Target


def bar_hook(session: Any) -> Callable[..., Any]:
    """wrapt wrapper: the call is the dispatch of the strategy's next bar."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        recorder = session.recorder if session.active else None
        record = None
        if recorder is not None and instance is not None:
            try:
                record = recorder.begin(Bar(instance))
            except Exception:  # never into the traced program
                record = None
        if record is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _finish(recorder, record, exc)
            raise
        _finish(recorder, record, None)
        return result

    return wrapper


def _finish(recorder: Any, record: Any, error: BaseException | None) -> None:
    try:
        recorder.finish(record, error)
    except Exception:
        pass


def trade_hook(session: Any) -> Callable[..., Any]:
    """wrapt wrapper: after the strategy took an order notification, record the trade
    notifications it queued for it."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if instance is None or not session.active:
            return wrapped(*args, **kwargs)
        try:
            queued = len(instance._tradespending)
        except Exception:
            return wrapped(*args, **kwargs)
        result = wrapped(*args, **kwargs)
        recorder = session.recorder
        if recorder is None:
            return result
        try:
            order = args[0] if args else kwargs["order"]
            for trade in instance._tradespending[queued:]:
                recorder.record(TradeNotice(instance, trade, order))
        except Exception:  # never into the traced program
            pass
        return result

    return wrapper


_STRATEGY = "backtrader.strategy"

PROFILE = Profile(
    name="backtrader",
    publish=(Target("backtrader.brokers.bbroker", "BackBroker", "notify"),),
    hooks=((Target(_STRATEGY, "Strategy", "_oncepost"), bar_hook),
           (Target(_STRATEGY, "Strategy", "_next"), bar_hook),
           (Target(_STRATEGY, "Strategy", "_addnotification"), trade_hook)),
    event_adapter="backtrader",
    adapter_options={"correlate": {"order": ["order_id"], "trade": ["trade_ref"]}},
    trades=parse_trade_rules({
        "orders": ["ORDER_SUBMITTED"],
        # a rejection (Rejected, or Margin: not enough cash) answers the order as a fill would
        "fills": ["FILL", "PARTIAL_FILL", "ORDER_REJECTED", "ORDER_MARGIN"],
        "rejected_statuses": ["Rejected", "Margin"],
        "opens": ["POSITION_OPEN"], "closes": ["POSITION_CLOSE"],
        "updates": [], "signals": [],
        "position": ["symbol"], "pnl": "realized_pnl",
    }, "profile backtrader.trades"),
    by_default=False,
)
