"""Simulated times as text, fast: ``when.isoformat()`` without most of its cost.

Every BAR carries a time of its own, so its text is made once per bar and a cache of
times does not help. ``isoformat()`` of a time zone aware datetime asks the zone for its
offset each time (about 10,000 CPU instructions), and a pandas Timestamp's does that
and more (about 21,000; ADMF-PC's bars are Timestamps). This writes the same text with
the date, the time of day and the zone's offset each looked up in a small cache.

Only what gives exactly ``isoformat()``'s text is done here, else None (the caller
falls back to ``isoformat()``): an exact ``datetime``, or a pandas ``Timestamp`` without
nanoseconds in its nanosecond range; naive, or with a fixed offset
(``datetime.timezone``, whose offset does not change with the date as a zone with summer
time does). A Timestamp is read by its instant (``value``, ns since the epoch): each of
its datetime fields costs as much to read as that one.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

_EPOCH = datetime(1970, 1, 1)
_CACHED = 4096  #: entries a cache holds before it starts again

_dates: dict[int, str] = {}  #: (year, month, day) packed in an int -> "YYYY-MM-DDT"
_days: dict[int, str] = {}  #: days since 1970-01-01 -> "YYYY-MM-DDT"
_clocks: dict[int, str] = {}  #: seconds of the day -> "HH:MM:SS"
_offsets: dict[tzinfo, tuple[int, str]] = {}  #: fixed zone -> (seconds east, "+HH:MM")
_timestamps: dict[type, bool] = {}  #: datetime subclasses seen -> a pandas Timestamp?


def iso_text(when: Any) -> str | None:
    """``when.isoformat()`` for the datetimes described above, else None. One function,
    its caches read inline: a call costs as much as a few of its lines."""
    cls = when.__class__
    if cls is datetime:
        zone = when.tzinfo
        if zone is None:  # no offset to ask for: isoformat() is cheap
            return when.isoformat()
    else:
        pandas = _timestamps.get(cls)
        if pandas is None:
            pandas = _is_timestamp(cls)
        if not pandas:
            return None
        zone = when.tzinfo
    if zone is None:
        shift, offset = 0, ""
    else:
        fixed = _offsets.get(zone)
        if fixed is None:
            fixed = _offset(zone)
            if fixed is None:
                return None
        shift, offset = fixed
    if cls is datetime:
        key = (when.year * 16 + when.month) * 32 + when.day
        date = _dates.get(key)
        if date is None:
            date = _remember(_dates, key, f"{when.year:04d}-{when.month:02d}-{when.day:02d}T")
        second = when.hour * 3600 + when.minute * 60 + when.second
        micro = when.microsecond
    else:
        try:
            nanos = when.value  # the instant, ns since the epoch (UTC)
        except Exception:  # outside the nanosecond range
            return None
        if nanos % 1000:  # isoformat() writes nanoseconds
            return None
        micros = nanos // 1000
        micro = micros % 1_000_000
        seconds = micros // 1_000_000 + shift
        days = seconds // 86400
        second = seconds % 86400
        date = _days.get(days)
        if date is None:
            day = _EPOCH + timedelta(days=days)
            date = _remember(_days, days, f"{day.year:04d}-{day.month:02d}-{day.day:02d}T")
    clock = _clocks.get(second)
    if clock is None:
        clock = _remember(_clocks, second, f"{second // 3600:02d}:{second // 60 % 60:02d}:"
                                           f"{second % 60:02d}")
    if micro:
        return f"{date}{clock}.{micro:06d}{offset}"
    return date + clock + offset


def epoch_text(value: int) -> str | None:
    """An integer timestamp as ISO text in UTC, by its size: nanoseconds since the epoch
    from 10**17, microseconds from 10**14, milliseconds from 10**11 (each from 1973 on;
    compiled frameworks stamp events with integer nanoseconds). None for smaller values
    (seconds, counters, bar numbers: shown as numbers)."""
    if value >= 10**17:
        nanos = value
    elif value >= 10**14:
        nanos = value * 1000
    elif value >= 10**11:
        nanos = value * 1_000_000
    else:
        return None
    seconds, fraction = divmod(nanos, 1_000_000_000)
    days, second = divmod(seconds, 86400)
    date = _days.get(days)
    if date is None:
        try:
            day = _EPOCH + timedelta(days=days)
        except OverflowError:
            return None
        date = _remember(_days, days, f"{day.year:04d}-{day.month:02d}-{day.day:02d}T")
    clock = _clocks.get(second)
    if clock is None:
        clock = _remember(_clocks, second, f"{second // 3600:02d}:{second // 60 % 60:02d}:"
                                           f"{second % 60:02d}")
    if not fraction:
        return date + clock + "+00:00"
    if fraction % 1000:
        return f"{date}{clock}.{fraction:09d}+00:00"
    return f"{date}{clock}.{fraction // 1000:06d}+00:00"


def _is_timestamp(cls: type) -> bool:
    pandas = _timestamps[cls] = (
        cls.__name__ == "Timestamp" and cls.__module__.partition(".")[0] == "pandas")
    return pandas


def _offset(zone: tzinfo) -> tuple[int, str] | None:
    """(seconds east of UTC, "+HH:MM") of a fixed zone; None for any other."""
    found = _offsets.get(zone)
    if found is None:
        if zone.__class__ is not timezone:  # its offset may change with the date
            return None
        delta = zone.utcoffset(None)
        if delta.microseconds:
            return None
        found = _remember(_offsets, zone, (
            delta.days * 86400 + delta.seconds, datetime(2000, 1, 1, tzinfo=zone).isoformat()[19:]))
    return found


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(cache) >= _CACHED:
        cache.clear()
    cache[key] = value
    return value
