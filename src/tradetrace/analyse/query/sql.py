"""SQL every query shares: which spans are stages and events, how far a causal walk
goes, and what a signal's direction means.
"""

from __future__ import annotations

from collections.abc import Sequence

from ... import conventions as conv

#: Spans of a stage: event spans and DEBUG handler spans (both carry an event type).
STAGE_SPANS = "event_type IS NOT NULL"
#: Event spans only (not handler spans, not trade spans).
EVENT_SPANS = "event_type IS NOT NULL AND handler_name IS NULL"
#: Steps a recursive walk of the causal graph takes at most.
MAX_DEPTH = 512


def of_runs(runs: Sequence[str | None], column: str = "run_id") -> str:
    """SQL keeping the spans of ``runs`` (a None among them: spans without a run id),
    the ids written out rather than bound, so that DuckDB reads only their folders of
    the run index (a filter on a Hive column prunes folders only as a constant)."""
    named = ", ".join("'" + str(r).replace("'", "''") + "'" for r in runs if r is not None)
    which = ([f"{column} IN ({named})"] if named else []) + (
        [f"{column} IS NULL"] if None in runs else [])
    return "(" + " OR ".join(which) + ")" if which else "FALSE"


def direction_sql(text: str) -> str:
    """SQL for :func:`tradetrace.conventions.signal_direction` of an attribute's text."""
    words = " ".join(f"WHEN '{word}' THEN '{meaning}'"
                     for word, meaning in conv.DIRECTION_WORDS.items())
    return (
        f"CASE WHEN {text} IS NULL THEN NULL "
        f"WHEN TRY_CAST({text} AS DOUBLE) IS NOT NULL THEN CASE "
        f"WHEN isnan(TRY_CAST({text} AS DOUBLE)) THEN NULL "
        f"WHEN TRY_CAST({text} AS DOUBLE) > 0 THEN 'long' "
        f"WHEN TRY_CAST({text} AS DOUBLE) < 0 THEN 'short' ELSE 'flat' END "
        f"ELSE CASE lower(trim({text})) {words} "
        f"ELSE nullif(lower(trim({text})), '') END END")
