"""Spans sent by the relay process (http/protobuf and grpc, encoded by hand in
model/otlp_proto.py) come out of the real Collector as the same spans tradetrace writes
to its own files: the demo traced into the Collector's file exporter and into local
files, both read back through the generated OTLP classes and normalised as the golden
spans are (random ids and wall times aside), agree span for span."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otlp_receiver import _ids_to_base64
from tradetrace.analyse.query import TraceQuery

from .stack import collector, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
from golden_runs import BACKTEST, demo_run  # noqa: E402
from normalise import normalised  # noqa: E402

pytestmark = pytest.mark.e2e

BARS, SEED = 150, 7
_IDS = {"traceId", "spanId", "parentSpanId"}


def canonical(line: str) -> str:
    """An OTLP JSON line as protobuf's JSON mapping writes the message it holds, ids in
    hex again and empty messages left out (the Collector writes ``"status":{}``, we
    write nothing: the same message)."""
    message = json_format.ParseDict(_ids_to_base64(json.loads(line)),
                                    ExportTraceServiceRequest())

    def tidy(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (base64.b64decode(v).hex() if k in _IDS else tidy(v))
                    for k, v in value.items() if v != {}}
        if isinstance(value, list):
            return [tidy(v) for v in value]
        return value

    return json.dumps(tidy(json_format.MessageToDict(message)))


def canonical_folder(files: list[Path], out: Path) -> Path:
    out.mkdir()
    lines = [canonical(line) for f in files for line in f.read_text().splitlines() if line]
    (out / "spans.jsonl").write_text("\n".join(lines) + "\n")
    return out


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_collector_writes_what_our_files_hold(tmp_path, protocol):
    ours = tmp_path / "ours"
    demo_run("normal", ours)
    mine = sorted(p for p in ours.glob("*.jsonl") if not p.name.endswith("-metrics.jsonl"))
    files = tmp_path / "otelcol"
    with collector(tmp_path, "file.yaml",
                   OTELCOL_FILE_PATH=str(files / "traces.jsonl")) as ports:
        port = ports["otlp_grpc" if protocol == "grpc" else "otlp_http"]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TRADETRACE_", "OTEL_"))}
        env.update(TRADETRACE_LEVEL="normal", TRADETRACE_STORAGE="otlp",
                   TRADETRACE_RUN_ID="golden",
                   OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
                   OTEL_EXPORTER_OTLP_PROTOCOL=protocol)
        done = subprocess.run([sys.executable, str(BACKTEST), "--bars", str(BARS), "--seed",
                               str(SEED), "--quiet"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "dropped 0" in done.stderr, done.stderr[-2000:]
        expected = len(normalised(ours)) - 1
        wait_until(lambda: any(files.glob("*.jsonl"))
                   and TraceQuery(files).stats.spans >= expected, 60,
                   "every span in the Collector's file")
    theirs = sorted(files.glob("*.jsonl"))
    assert (normalised(canonical_folder(theirs, tmp_path / "theirs-canonical"))
            == normalised(canonical_folder(mine, tmp_path / "ours-canonical")))
