"""Option values checked as argparse reads them: a value that is not allowed is a usage
error (exit status 2) naming the option and listing what is allowed, before any file is
read. A typo must never come back as an empty answer."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, time, timezone

from ..retain.tracked_trade import OUTCOMES

SIDES = ("long", "short")
#: The pattern parameters the command line has a flag for.
PATTERN_FLAGS = {"threshold_ms": "--threshold-ms", "relative": "--relative",
                 "changed_only": "--changed-only"}
#: What ``query runs --by`` takes, as its help says it (the engine's RANK_METRICS; a test
#: keeps the two equal without importing DuckDB for every command line parsed).
RUN_METRICS = ("realized_pnl", "win_rate", "trades", "events", "spans", "duration_s",
               "errors")
_DATE_FORMS = "ISO 8601, e.g. 2024-01-02, 2024-01-02T09:30 or '2024-01-02 09:30:00'"


def limit(value: str) -> int:
    """Rows to show: a whole number, 0 for all."""
    try:
        rows = int(value)
    except ValueError:
        rows = -1
    if rows < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of rows (0 shows all)")
    return rows


def run_metric(value: str) -> str:
    if value not in RUN_METRICS:
        raise argparse.ArgumentTypeError(f"{value!r} is not a metric runs are ranked by; "
                                         f"choose from {', '.join(RUN_METRICS)}")
    return value


def positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number above 0")
    return number


def memory(value: str) -> str:
    """A DuckDB memory size: 512MB, 2GB, 1.5GiB."""
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", value.strip()):
        raise argparse.ArgumentTypeError(f"{value!r}: a size like 512MB or 2GB")
    return value.strip()


def percentile(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number <= 100:
        raise argparse.ArgumentTypeError(f"{value!r} is not a percentile (above 0, at most 100)")
    return number


def outcomes(value: str) -> list[str]:
    """One outcome or several, comma-separated."""
    words = [w.strip().lower() for w in value.split(",") if w.strip()]
    wrong = [w for w in words if w not in OUTCOMES]
    if wrong or not words:
        raise argparse.ArgumentTypeError(
            f"{', '.join(wrong) or value!r} is not an outcome; allowed: {', '.join(OUTCOMES)} "
            "(several comma-separated)")
    return words


def side(value: str) -> str:
    if value.strip().lower() not in SIDES:
        raise argparse.ArgumentTypeError(f"{value!r} is not a side; allowed: "
                                         + ", ".join(SIDES))
    return value.strip().upper()  # as trade spans write it


def start_time(value: str) -> datetime:
    return _moment(value, end=False)


def end_time(value: str) -> datetime:
    """A date alone is the whole of that day: ``--end 2024-01-02`` takes its trades."""
    return _moment(value, end=True)


def _moment(value: str, end: bool) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date or time ({_DATE_FORMS})") from None
    if end and len(value.strip()) == 10:  # a date alone
        moment = datetime.combine(moment.date(), time.max)
    if moment.tzinfo is not None:  # trade times are written without a zone: compare in UTC
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def flags_for(message: str) -> str:
    """A message of the Python API in command-line words: ``threshold_ms=...`` ->
    ``--threshold-ms``."""
    for name, flag in PATTERN_FLAGS.items():
        message = re.sub(rf"\b{name}\b(=\.\.\.)?", flag, message)
    return message
