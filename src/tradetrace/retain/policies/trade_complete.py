"""``trade_complete``: a trade's spans are held while it is open and dropped when it
completes; its metrics are kept (MINIMAL default). ``incomplete`` decides for trades
still open when the run ends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..policy import HOLD, RetentionPolicy


@dataclass(frozen=True)
class TradeComplete(RetentionPolicy):
    name: ClassVar[str] = "trade_complete"
    holding: ClassVar[str] = HOLD
