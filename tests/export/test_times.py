"""A span's simulated time is the time's own ``isoformat()``, however it is written:
the fast text of datetimes and pandas Timestamps (export/times.py) agrees with it, and
what it cannot write exactly is left to ``isoformat()``."""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo

import pytest

import tradetrace
from tradetrace import conventions as conv
from tradetrace.export.times import iso_text
from tradetrace.testing import recording

pd = pytest.importorskip("pandas")

UTC = dt.timezone.utc
ODD_ZONES = [dt.timezone(dt.timedelta(hours=h, minutes=m, seconds=s))
             for h, m, s in ((-5, -30, 0), (0, 0, -17), (13, 45, 0))]


def _random_datetimes(n: int, seed: int) -> list[dt.datetime]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        zone = rng.choice([None, UTC, *ODD_ZONES,
                           dt.timezone(dt.timedelta(seconds=rng.randint(-86399, 86399)))])
        out.append(dt.datetime(
            rng.randint(1678, 2261), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
            rng.randint(0, 59), rng.randint(0, 59), rng.choice([0, rng.randint(0, 999_999)]),
            tzinfo=zone))
    return out


def test_datetimes_are_written_as_isoformat_writes_them():
    times = _random_datetimes(3000, 1) + [
        dt.datetime(5, 1, 2, 3, 4, 5, 6), dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, UTC),
        dt.datetime(1, 1, 1, tzinfo=ODD_ZONES[0])]
    for when in times:
        assert iso_text(when) == when.isoformat(), repr(when)


def test_timestamps_are_written_as_their_isoformat_writes_them():
    stamps = [pd.Timestamp(when) for when in _random_datetimes(3000, 2)] + [
        pd.Timestamp("1969-12-31 23:59:59.999999", tz=ODD_ZONES[0]),
        pd.Timestamp("1970-01-01", tz=ODD_ZONES[2]), pd.Timestamp("2024-03-26 13:30", tz="UTC")]
    for stamp in stamps:
        assert iso_text(stamp) == stamp.isoformat(), repr(stamp)


@pytest.mark.parametrize("when", [
    pd.Timestamp("2024-03-26 13:30:00.000000123", tz="UTC"),  # nanoseconds
    pd.Timestamp("2024-03-26 13:30", tz="America/New_York"),  # an offset that changes
    dt.datetime(2024, 3, 26, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, microseconds=12))),
    pd.Timestamp(dt.datetime(9000, 1, 1)).as_unit("s") + pd.Timedelta(days=730_000),  # year 10998
    pd.NaT, "2024-03-26T13:30:00", 1711459800.0, dt.date(2024, 3, 26),
], ids=lambda when: type(when).__name__)
def test_what_it_cannot_write_exactly_is_left_to_isoformat(when):
    assert iso_text(when) is None


def test_the_span_carries_the_time_isoformat_writes(demo):
    """Pandas Timestamps as bar times, shared by a cascade or not, in several zones."""
    zones = [UTC, ODD_ZONES[0], "America/New_York"]
    stamps = [pd.Timestamp("2024-03-26 13:30:00.25", tz=zone) for zone in zones]
    with recording("normal", profile="demo") as spans:
        bus = demo.EventBus()
        for stamp in stamps:
            for _ in range(2):  # the same object twice (a cascade's events share it)
                bus.publish(demo.Event(event_type="BAR", container_id="data_x",
                                       payload={"symbol": "SPY", "timestamp": stamp}))
        tradetrace.flush()
        bars = spans.events("BAR")
    assert [span.attributes[conv.SIM_TIME] for span in bars] == [
        stamp.isoformat() for stamp in stamps for _ in range(2)]
