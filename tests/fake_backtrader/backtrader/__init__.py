"""A stand-in with backtrader's shape (tests/fake_backtrader/README.md)."""

from .cerebro import Cerebro
from .strategy import Strategy

__all__ = ["Cerebro", "Strategy"]
