"""``always``: every span of a trade is exported as soon as it is built (NORMAL and DEBUG
default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..policy import PASS, RetentionPolicy


@dataclass(frozen=True)
class Always(RetentionPolicy):
    name: ClassVar[str] = "always"
    holding: ClassVar[str] = PASS

    def keeps(self, trade: Any) -> str | None:
        return self.name
