"""Values tracing cannot encode cost that value, never another span: a lone surrogate
is replaced and counted, an event whose fields cannot even be turned into text costs
its own span (counted as encode_error), and the spans around them are written."""

from __future__ import annotations

import toybus
import tradetrace
from tradetrace import conventions as conv
from tradetrace.analyse.reader import read_spans
from tradetrace.model.otlp_json import EncodingStats

from .trading import check, feed, publish


def test_a_lone_surrogate_costs_one_character_not_the_batch(tmp_path):
    symbol = b"SP\xffY".decode("utf-8", "surrogateescape")  # 'SP\udcffY'
    before = EncodingStats.replaced
    bus, session = feed(output=tmp_path, run_id="surrogate")
    publish(bus, 100)
    bus.publish(toybus.Message(kind="BAR", data={"symbol": symbol}, node="data_1",
                               msg_id="seq_100"))
    publish(bus, 199, start=101)
    tradetrace.shutdown()
    check(session, 300, 300)
    assert EncodingStats.replaced - before == 1
    assert session.stats()["characters_replaced"] >= 1
    spans = {s.attributes[conv.EVENT_ID]: s for s in read_spans([tmp_path])}
    assert len(spans) == 300
    assert spans["seq_100"].attributes[conv.SYMBOL] == "SP\ufffdY"
    assert spans["seq_101"].attributes[conv.SYMBOL] == "SPY"


class Unprintable:
    """An id whose text cannot be made: str() raises."""

    def __str__(self) -> str:
        raise RuntimeError("no text for this id")

    __repr__ = __str__


def test_an_event_that_cannot_be_encoded_costs_only_its_own_span(tmp_path):
    bus, session = feed(output=tmp_path, run_id="unprintable")
    publish(bus, 100)
    bus.publish(toybus.Message(kind="BAR", data={"symbol": "SPY"}, node="data_1",
                               msg_id=Unprintable()))  # type: ignore[arg-type]
    publish(bus, 99, start=101)
    tradetrace.shutdown()
    figures = check(session, 200, 199)
    assert figures["dropped"] == {"encode_error": 1}
    ids = {s.attributes[conv.EVENT_ID] for s in read_spans([tmp_path])}
    assert ids == {f"seq_{n}" for n in range(200) if n != 100}


def test_a_list_that_holds_itself_costs_that_value_only(tmp_path):
    """DEBUG writes payload lists as attribute arrays; one that holds itself (or any
    nested list) has no attribute form: skipped and counted, the span written."""
    cyclic: list = ["SPY"]
    cyclic.append(cyclic)
    bus, session = feed("debug", output=tmp_path, run_id="cyclic")
    bus.publish(toybus.Message(kind="BAR", data={"symbol": "SPY", "legs": cyclic},
                               node="data_1", msg_id="seq_0"))
    tradetrace.shutdown()
    check(session, 1, 1)
    (span,) = [s for s in read_spans([tmp_path]) if s.name == "BAR"]
    assert span.attributes["trading.payload.symbol"] == "SPY"
    assert "trading.payload.legs" not in span.attributes
