"""SQL every query shares: which spans are stages and events, how far a causal walk
goes, and what a signal's direction means.
"""

from __future__ import annotations

from ... import conventions as conv

#: Spans of a stage: event spans and DEBUG handler spans (both carry an event type).
STAGE_SPANS = "event_type IS NOT NULL"
#: Event spans only (not handler spans, not trade spans).
EVENT_SPANS = "event_type IS NOT NULL AND handler_name IS NULL"
#: Steps a recursive walk of the causal graph takes at most.
MAX_DEPTH = 512


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
