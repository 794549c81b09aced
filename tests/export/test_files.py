"""Local OTLP JSON trace files: complete trade chains read back, valid OTLP, rotation,
flush at run end and at exit, and max_events bounding memory but never what is written."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import tradetrace
from tradetrace import conventions as conv
from tradetrace.analyse.reader import ReadStats, read_spans, trace_files
from tradetrace.analyse.summary import summarize
from tradetrace.export.metrics import METRICS_SUFFIX

ROOT = Path(__file__).resolve().parents[2]


def _traced_demo(demo, tmp_path, level="normal", bars=400, **kwargs):
    session = tradetrace.configure(level, profile="demo", output=tmp_path, backend="file",
                                   **kwargs)
    results = demo.run_backtest(bars=bars, seed=11)
    # no explicit flush: the coordinator's run end flushes
    files = [p for p in trace_files([tmp_path]) if not p.name.endswith(METRICS_SUFFIX)]
    return session, results, files


def _chain(span, by_id):
    chain = [span]
    while chain[-1].parent_id:
        chain.append(by_id[chain[-1].parent_id])
    chain.reverse()
    return [s.attributes[conv.EVENT_TYPE] for s in chain], chain


def test_trade_chain_read_back_from_files(demo, tmp_path):
    """A position's open and close each trace back BAR -> SIGNAL -> ORDER -> FILL -> POSITION_*,
    with parents in one trace, for the same strategy and symbol."""
    _, results, files = _traced_demo(demo, tmp_path)
    assert files, "the run's end must have flushed spans to disk"
    spans = [s for s in read_spans(files) if conv.EVENT_TYPE in s.attributes]
    by_id = {s.span_id: s for s in spans}
    closes = [s for s in spans if s.attributes[conv.EVENT_TYPE] == "POSITION_CLOSE"]
    opens = [s for s in spans if s.attributes[conv.EVENT_TYPE] == "POSITION_OPEN"]
    assert len(closes) == results["events_by_type"]["POSITION_CLOSE"] > 0
    close = closes[0]
    strategy = close.attributes[conv.STRATEGY_ID]
    open_ = next(o for o in opens if o.attributes[conv.STRATEGY_ID] == strategy
                 and o.end <= close.start)
    for position, kind in ((open_, "POSITION_OPEN"), (close, "POSITION_CLOSE")):
        types, chain = _chain(position, by_id)
        assert types == ["BAR", "SIGNAL", "ORDER", "FILL", kind]
        assert len({s.trace_id for s in chain}) == 1
        assert {s.attributes.get(conv.SYMBOL) for s in chain} == {"SPY"}
        order, fill = chain[2], chain[3]
        assert fill.attributes[conv.ORDER_ID] == order.attributes[conv.ORDER_ID]
        assert order.attributes[conv.STRATEGY_ID] == strategy
        for parent, child in zip(chain, chain[1:]):
            assert parent.start <= child.start <= child.end <= parent.end
    assert isinstance(close.attributes[conv.REALIZED_PNL], float)
    assert isinstance(close.attributes[conv.EXIT_PRICE], float)


def test_files_are_valid_otlp_json(demo, tmp_path):
    """Every line parses as an ExportTraceServiceRequest with OTLP's JSON mapping."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    _, results, files = _traced_demo(demo, tmp_path, level="debug", bars=60)
    total = 0
    for path in files:
        for line in path.read_text().splitlines():
            request = json.loads(line)
            # OTLP/JSON ids are hex; protobuf's generic JSON mapping expects base64 bytes
            for batch in request["resourceSpans"]:
                for scope in batch["scopeSpans"]:
                    assert scope["scope"]["name"] == "tradetrace"
                    for span in scope["spans"]:
                        for obj in [span, *span.get("links", [])]:
                            for key in ("traceId", "spanId", "parentSpanId"):
                                if key in obj:
                                    obj[key] = base64.b64encode(bytes.fromhex(obj[key])).decode()
            message = json_format.Parse(json.dumps(request), ExportTraceServiceRequest())
            for batch in message.resource_spans:
                for scope in batch.scope_spans:
                    for span in scope.spans:
                        assert len(span.trace_id) == 16 and len(span.span_id) == 8
                        assert span.end_time_unix_nano >= span.start_time_unix_nano > 0
                        total += 1
    assert total >= sum(results["events_by_type"].values())


def test_files_rotate_by_size_and_lose_nothing(demo, tmp_path):
    """With a tiny size limit the run spreads over several files holding every span."""
    config = tmp_path / "t.yaml"
    config.write_text("tracing:\n  storage: {rotation: {max_megabytes: 0.05}}\n")
    out = tmp_path / "traces"
    session = tradetrace.configure("normal", profile="demo", output=out, config_file=config,
                                   run_id="run_rot")
    results = demo.run_backtest(bars=300, seed=4)
    tradetrace.flush()
    files = sorted(out.glob("*-[0-9][0-9][0-9][0-9].jsonl"))
    assert len(files) > 3
    assert [f.name for f in files[:2]] == ["run_rot-0001.jsonl", "run_rot-0002.jsonl"]
    limit = 0.05 * 1024 * 1024
    for f in files:
        lines = f.read_text().splitlines()
        # a file passes the limit by at most the one line that crossed it
        assert f.stat().st_size - len(lines[-1]) - 1 <= limit
    stats = ReadStats()
    events = [s for s in read_spans([out], stats) if conv.EVENT_TYPE in s.attributes]
    assert stats.bad_lines == 0
    assert len(events) == sum(results["events_by_type"].values())
    assert session.stats()["spans_lost"] == 0


def test_request_lines_are_written_whole_and_counted_in_bytes(tmp_path):
    """A request line wraps any number of spans in one resource and scope; the file gets
    it with a newline and counts its UTF-8 bytes (what rotation compares to its limit)."""
    from tradetrace.export.files import RotatingTraceFile
    from tradetrace.model.otlp_json import RequestWriter

    writer = RequestWriter([("service.name", "s")], "tradetrace", "1")
    head = ('{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":'
            '{"stringValue":"s"}}]},"scopeSpans":[{"scope":{"name":"tradetrace",'
            '"version":"1"},"spans":[')
    for spans in ([], ['{"a":1}'], ['{"a":1}', '{"b":"\u00e9"}', '{"c":3}']):
        assert writer.line(spans) == head + ",".join(spans) + "]}]}]}"
        json.loads(writer.line(spans))
    file = RotatingTraceFile(tmp_path, "run", max_bytes=1 << 20)
    lines = [writer.line(['{"b":"\u00e9"}']), writer.line([])]
    for line in lines:
        file.write_line(line)
    file.close()
    data = file.paths[0].read_bytes()
    assert data == "".join(line + "\n" for line in lines).encode()
    assert file.bytes_written == len(data)


def test_max_files_keeps_only_the_newest(demo, tmp_path):
    """rotation.max_files bounds the disk used by one run."""
    config = tmp_path / "t.yaml"
    config.write_text("tracing:\n  storage: {rotation: {max_megabytes: 0.05, max_files: 2}}\n")
    out = tmp_path / "traces"
    tradetrace.configure("normal", profile="demo", output=out, config_file=config, run_id="r")
    demo.run_backtest(bars=300, seed=4)
    tradetrace.flush()
    names = sorted(f.name for f in out.glob("*-[0-9][0-9][0-9][0-9].jsonl"))
    assert len(names) == 2
    assert names[0] != "r-0001.jsonl"


def test_max_events_bounds_memory_never_what_is_written(demo, tmp_path):
    """With max_events=50, no container ever holds more than twice that, and every span
    is still written."""
    config = tmp_path / "t.yaml"
    # waits of up to a second for the worker: the test is about memory, not drops under
    # a loaded machine's scheduling
    config.write_text("tracing:\n  publish_wait_ms: 1000\n"
                      "  overrides:\n    '*': {max_events: 50}\n")
    session = tradetrace.configure("normal", profile="demo", output=tmp_path / "o",
                                   config_file=config)
    session._worker.interval = 3600  # only full buffers may trigger exports
    peak = {"held": 0}
    bus_class = demo.EventBus
    original = bus_class.publish

    def watching(self, event):
        original(self, event)
        held = max((len(b.records) for b in session.buffers.all()
                    if b.container != "tradetrace.system"), default=0)
        peak["held"] = max(peak["held"], held)

    bus_class.publish = watching
    try:
        results = demo.run_backtest(bars=400, seed=4)
    finally:
        bus_class.publish = original
    tradetrace.flush()
    events = [s for s in read_spans([tmp_path / "o"]) if conv.EVENT_TYPE in s.attributes]
    assert len(events) == sum(results["events_by_type"].values())
    assert 0 < peak["held"] <= 2 * 50


def test_spans_are_flushed_at_process_exit(tmp_path):
    """A program that never calls flush (and has no coordinator run) still gets its spans
    written when it exits."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / 'examples')!r})
        import tradetrace
        from demo_engine import EventBus, Event
        tradetrace.configure("normal", profile="demo", output={str(tmp_path / 'out')!r})
        bus = EventBus()
        for i in range(25):
            bus.publish(Event(event_type="ORDER", container_id="portfolio_1",
                              payload={{"order_id": f"o{{i}}"}}))
    """))
    subprocess.run([sys.executable, str(script)], check=True, timeout=60)
    orders = [s for s in read_spans([tmp_path / "out"])
              if s.attributes.get(conv.EVENT_TYPE) == "ORDER"]
    assert sorted(s.attributes[conv.ORDER_ID] for s in orders) == sorted(
        f"o{i}" for i in range(25))


def test_summary_of_a_demo_run(demo, tmp_path):
    """summary counts spans per event type and container and reports latency per type."""
    _, results, files = _traced_demo(demo, tmp_path, level="debug", bars=150)
    summary = summarize([tmp_path])
    assert summary.files == len(files) + 1  # and the metrics file beside them
    assert summary.events_by_type == {k: v for k, v in results["events_by_type"].items()}
    assert sum(summary.events_by_container.values()) == sum(results["events_by_type"].values())
    assert summary.traces >= 150
    assert {row.name for row in summary.publish_latency} == set(results["events_by_type"])
    assert summary.handler_latency  # DEBUG: handler spans
    for row in summary.publish_latency + summary.handler_latency:
        assert 0 <= row.p50_us <= row.p99_us <= row.max_us
    assert summary.skipped_lines == 0


def test_compiled_span_shapes_encode_exactly_like_the_general_encoder(demo):
    """The per-shape compiled encoder (export/shapes.py) and the general one produce the
    same span JSON, byte for byte, for every record of a run, including roots, causes,
    None values and the spans of trades (their trade id first among attributes)."""
    from tradetrace.model.record import IDS, KIND, SNAPSHOT
    from tradetrace.retain.buffer import ContainerBuffers

    session = tradetrace.configure("normal", profile="demo", backend="none", run_id="r")
    worker = session._worker
    worker._stopping = True
    worker._wake.set()
    worker._thread.join()
    session.buffers.on_full = lambda buffer: None  # keep every record for the test
    session.flush = session.finish_run = lambda timeout=None: True
    demo.run_backtest(bars=200, seed=5)
    records = ContainerBuffers.take_all(session.buffers)
    assert len(records) > 500
    for record in records:  # a None payload value exercises the counted-skip branch
        if record[KIND] == "event" and "exit_reason" in (record[SNAPSHOT] or {}):
            record[SNAPSHOT]["exit_reason"] = None
            break
    records, trades = session.tail.release(records, finish=True)  # assigns trades
    encoder = worker.encoder
    encoder.encode_batch(records)
    compiled = [encoder.encode(r) for r in records]
    assert encoder._compiled, "the compiled path was not taken"
    traded = [span for span in compiled if conv.TRADE_ID in span]
    assert traded and all(
        json.loads(span)["attributes"][0]["key"] == conv.TRADE_ID for span in traded)
    ids = [r[IDS] for r in records]
    encoder._compiled.clear()
    encoder._compile = lambda key, payload: False  # general encoder only
    for record, kept in zip(records, ids):
        record[IDS] = kept
    general = [encoder.encode(r) for r in records]
    assert compiled == general

    # trade spans, compiled and general, with the same ids
    members = [list(trade.members) for trade in trades]
    state = encoder._rand.getstate()
    compiled = [encoder.trades.encode(trade) for trade in trades]
    assert len(compiled) > 5 and any(encoder.trades._shapes.values())
    encoder._rand.setstate(state)
    for trade, kept in zip(trades, members):
        trade.members = kept
    encoder.trades._shapes.clear()
    encoder.trades._compile = lambda values: False  # general encoder only
    general = [encoder.trades.encode(trade) for trade in trades]
    assert compiled == general


def test_compiled_shapes_write_each_float_as_repr_does():
    """Float texts are cached by value, yet every float is written as repr() writes it,
    0.0 and -0.0 (equal, with one hash) included."""
    from tradetrace.export.shapes import compile_shape
    from tradetrace.model.otlp_json import Attributes

    attr = Attributes()
    encode = compile_shape(attr, "", attr(conv.EVENT_TYPE, "FILL"), '"FILL"', (conv.PRICE,),
                           (1.5,), caused=False, timed=False, traded=False)
    for price in (0.1 + 0.2, 0.0, -0.0, 0.0, -0.0, 1e-300, 0.1 + 0.2, -2.5):
        span = encode("t", "s", "", 1, 2, None, "e1", "", (price,), "")
        assert '"doubleValue":' + repr(price) + "}" in span
        json.loads(span)


def test_parents_resolve_when_batches_cut_through_cascades(demo, tmp_path):
    """With tiny buffers a bar's cascade is exported in pieces, children before their
    parents; every parent id still resolves to a span of the same trace."""
    config = tmp_path / "t.yaml"
    config.write_text("tracing:\n  publish_wait_ms: 1000\n"
                      "  overrides:\n    '*': {max_events: 3}\n")
    tradetrace.configure("normal", profile="demo", output=tmp_path / "o", config_file=config)
    results = demo.run_backtest(bars=300, seed=4)
    tradetrace.flush()
    spans = [s for s in read_spans([tmp_path / "o"]) if conv.EVENT_TYPE in s.attributes]
    by_id = {s.span_id: s for s in spans}
    assert len(spans) == sum(results["events_by_type"].values())
    for span in spans:
        if span.parent_id:
            assert span.parent_id in by_id, span.name
            assert by_id[span.parent_id].trace_id == span.trace_id
    assert len({s.trace_id for s in spans}) == 300  # one trace per bar
