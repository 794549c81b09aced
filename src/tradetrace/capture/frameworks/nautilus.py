"""NautilusTrader: a compiled bus (listened to, not patched), object events (read by the
``objects`` adapter), orders and positions tied by id, trades from its positions.

Armed only when chosen: its events need their own adapter (docs/frameworks.md).
"""

from __future__ import annotations

from ...config_sections import parse_trade_rules
from ...model.events import EVENT_FIELDS
from ..listener import ListenSpec
from ..profile_types import Profile, Target

PROFILE = Profile(
    name="nautilus",
    publish=(),
    listen=((Target("nautilus_trader.system.kernel", "NautilusKernel", "__init__"),
             ListenSpec(bus="msgbus", subscribe="subscribe", handler="handler",
                        arguments={"topic": "*"}, unsubscribe="unsubscribe")),),
    event_fields={**EVENT_FIELDS, "event_id": "id", "container_id": "strategy_id",
                  "source_id": "instrument_id", "timestamp": "ts_event"},
    event_adapter="objects",
    adapter_options={
        "type": "class",
        "payload": {
            "symbol": ["instrument_id", "bar_type.instrument_id"],
            "side": ["order_side", "entry", "side"], "quantity": ["last_qty", "quantity"],
            "price": ["last_px", "price", "close"], "order_id": "client_order_id",
            "fill_id": "trade_id", "strategy_id": "strategy_id",
            "position_id": "position_id", "opening_order_id": "opening_order_id",
            "closing_order_id": "closing_order_id", "entry_price": "avg_px_open",
            "realized_pnl": "realized_pnl", "open": "open", "high": "high", "low": "low",
            "volume": "volume", "reason": "reason",
        },
        "correlate": {"order": ["order_id", "closing_order_id", "opening_order_id"],
                      "position": ["position_id"]},
    },
    trades=parse_trade_rules({
        "orders": ["OrderInitialized"], "fills": ["OrderFilled"],
        "opens": ["PositionOpened"], "closes": ["PositionClosed"],
        "updates": ["PositionChanged"], "signals": [],
        "position": ["symbol"], "exit_price": "price",
    }, "profile nautilus.trades"),
    by_default=False,
)
