"""The demo through the real Collector (collector-config/kafka.yaml) into a real Kafka
broker: every span arrives on the topic, each message keyed by its trace id, and all
of a trace's messages in one partition (partition_traces_by_id)."""

from __future__ import annotations

import json

import pytest

from tradetrace.analyse.query import TraceQuery

from .stack import backtest_over_otlp, collector, kafka, wait_until

pytestmark = pytest.mark.e2e

TOPIC = "trading-traces"


def test_spans_reach_kafka_partitioned_by_trace(tmp_path, monkeypatch, demo):
    with kafka(tmp_path) as broker, collector(
            tmp_path, "kafka.yaml", OTELCOL_KAFKA_BROKERS=f"127.0.0.1:{broker['port']}",
            OTELCOL_KAFKA_TOPIC=TOPIC, OTELCOL_KAFKA_ENCODING="otlp_json") as ports:
        results, exported = backtest_over_otlp(
            demo, f"http://127.0.0.1:{ports['otlp_http']}", "trading-kafka", tmp_path,
            monkeypatch, bars=100, seed=3)
        lines = tmp_path / "topic" / "messages.jsonl"
        lines.parent.mkdir()
        messages: list[tuple[str, str, str]] = []

        def consume() -> bool:
            out = broker["run"](
                "org.apache.kafka.tools.consumer.ConsoleConsumer",
                "--bootstrap-server", f"127.0.0.1:{broker['port']}", "--topic", TOPIC,
                "--from-beginning", "--timeout-ms", "5000",
                "--formatter-property", "print.partition=true",
                "--formatter-property", "print.key=true")
            messages[:] = [tuple(line.split("\t", 2)) for line in out.splitlines()
                           if line.startswith("Partition:")]
            lines.write_text("".join(value + "\n" for _, _, value in messages))
            return TraceQuery(lines.parent).stats.spans == exported

        wait_until(consume, 90, f"all {exported} spans on the Kafka topic")

    partitions: dict[str, set[str]] = {}
    for partition, key, value in messages:
        trace_ids = {span["traceId"] for rs in json.loads(value)["resourceSpans"]
                     for ss in rs["scopeSpans"] for span in ss["spans"]}
        assert trace_ids == {key}  # one trace a message, keyed by its id
        partitions.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in partitions.values())  # a trace stays in one partition
    assert len({p for ps in partitions.values() for p in ps}) > 1  # and traces spread out
    query = TraceQuery(lines.parent)
    events = query.sql("SELECT count(*) FROM spans WHERE event_type IS NOT NULL "
                       "AND handler_name IS NULL")[0][0]
    assert events == results["events"]
