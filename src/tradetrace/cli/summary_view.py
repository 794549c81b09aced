"""``tradetrace summary`` on the terminal: the :class:`Summary` as text and tables, in
the same table style as ``tradetrace query`` (``tables.py``)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from ..analyse.summary import LatencyRow, MetricsSummary, Summary
from . import tables
from .tables import NUM, Column, print_table, print_text


def render(summary: Summary, out: Any) -> None:
    """The summary on the console ``out`` (``tables.console(stream)``)."""
    print_text(out, f"{summary.spans:,} spans in {summary.traces:,} traces from "
                    f"{summary.files:,} file(s); runs: {', '.join(summary.runs) or '-'}")
    if summary.skipped_lines or summary.skipped_spans or summary.skipped_files:
        print_text(out, f"skipped: {summary.skipped_lines:,} bad line(s), "
                        f"{summary.skipped_spans:,} bad span(s)"
                   + (f", {len(summary.skipped_files)} file(s)" if summary.skipped_files
                      else ""))
    if summary.level_changes:  # spans are missing from then on: say so first
        print_text(out, "the level changed under load (tracing.overload):")
        for change in summary.level_changes:
            at = datetime.fromtimestamp(change["time_unix_nano"] / 1e9, timezone.utc)
            print_text(out, f"  {at:%Y-%m-%d %H:%M:%S.%f}"[:-3] + f" UTC  {change['before']}"
                            f" -> {change['after']}: {change['reason']}")
    _counts(out, "event type", "spans", summary.events_by_type.items())
    _counts(out, "container", "spans", summary.events_by_container.items())
    _latency(out, "publish latency (the publish call, all handlers included)", "event type",
             summary.publish_latency)
    if summary.handler_latency:
        _latency(out, "handler latency (DEBUG handler spans)", "handler",
                 summary.handler_latency)
    else:
        print_text(out, "\nhandler latency: no handler spans (they are recorded at level debug)")
    print_text(out, f"\nerrors: {summary.errors:,}; trade spans: {summary.trade_spans:,}; "
                    f"lifecycle/run/other spans: {summary.other_spans:,}")
    if summary.metrics is not None:
        _metrics(out, summary.metrics)


def text(summary: Summary, width: int | None = None) -> str:
    """The summary as plain text (as piped, or ``width`` columns wide)."""
    stream = io.StringIO()
    out = tables.console(stream)
    if width is not None:
        out.width = width
    render(summary, out)
    return stream.getvalue()


def _counts(out: Any, label: str, what: str, items: Iterable[tuple[str, int]]) -> None:
    rows = [[name, f"{count:,}"] for name, count in items]
    if not rows:
        print_text(out, f"\n{label}: none")
        return
    print_text(out, "")
    print_table(out, "", [Column(label, tables.ID), Column(what, NUM)], rows)


def _latency(out: Any, title: str, label: str, rows: list[LatencyRow]) -> None:
    print_text(out, "")
    if not rows:
        print_text(out, f"{title}\n{label}: none")
        return
    print_table(out, title, [Column(label, tables.ID), Column("count", NUM),
                             Column("p50 us", NUM), Column("p99 us", NUM),
                             Column("max us", NUM)],
                [[r.name, f"{r.count:,}", tables.micros(r.p50_us), tables.micros(r.p99_us),
                  tables.micros(r.max_us)] for r in rows])


def _metrics(out: Any, m: MetricsSummary) -> None:
    print_text(out, "\nmetrics (everything recorded, kept or not)")
    recorded = sum(m.events_recorded.values())
    print_text(out, f"events recorded: {recorded:,}; trades open: {m.trades_open:,}; spans: "
                    + (", ".join(f"{k} {v:,}" for k, v in m.spans.items()) or "-"))
    if m.lost:  # never quietly: these spans are missing from everything above
        print_text(out, f"LOST: {sum(m.lost.values()):,} spans never reached the trace "
                        "files (" + ", ".join(f"{k} {v:,}" for k, v in m.lost.items())
                   + "); events recorded counts only the events that reached retention",
                   style="bold red")
    if m.trades_completed:
        _counts(out, "trade outcome", "trades", m.trades_completed.items())
    pnl, fill = m.realized_pnl, m.fill_latency_ms

    def money(v: float | None) -> str:
        return "-" if v is None else f"{v:+,.2f}"

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    if pnl["count"]:
        print_text(out, f"realised P&L: {pnl['count']:,} trades, net {money(pnl['sum'])}, "
                        f"worst {money(pnl['worst'])}, best {money(pnl['best'])}")
    if fill["count"]:
        print_text(out, f"order -> fill latency: {fill['count']:,} fills, p50 <= "
                        f"{ms(fill['p50'])} ms, p99 <= {ms(fill['p99'])} ms, max "
                        f"{ms(fill['max'])} ms")
    signals = m.signals
    if signals:
        by_direction = ", ".join(f"{k} {v:,}"
                                 for k, v in signals["unanswered_by_direction"].items())
        print_text(out, f"signals: {signals['total']:,}; direction changes: "
                        f"{signals['changed']:,}, of which without an order: "
                        f"{signals['unanswered']:,}"
                        + (f" ({by_direction})" if by_direction else ""))
    if m.anomalies:
        print_text(out, "trade anomalies: " + ", ".join(f"{k} {v:,}"
                                                        for k, v in m.anomalies.items()))
