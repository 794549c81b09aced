"""``sliding_window``: the last ``window`` spans of each container are held and exported
when one of its spans records an error, and when the run ends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..policy import WINDOW, RetentionPolicy


@dataclass(frozen=True)
class SlidingWindow(RetentionPolicy):
    name: ClassVar[str] = "sliding_window"
    holding: ClassVar[str] = WINDOW

    def keeps(self, trade: Any) -> str | None:
        return self.name
