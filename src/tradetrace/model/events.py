"""What tradetrace reads from a framework's event, by name.

The names are ADMF-PC's; a profile renames them when its events call them otherwise
(``event_fields``).
"""

from __future__ import annotations

#: Event attributes a profile may rename, with their default names (ADMF-PC's).
EVENT_FIELDS: dict[str, str] = {
    "event_type": "event_type",
    "payload": "payload",
    "source_id": "source_id",
    "container_id": "container_id",
    "correlation_id": "correlation_id",
    "causation_id": "causation_id",
    "timestamp": "timestamp",
    "metadata": "metadata",
    "event_id": "event_id",
    "sequence_number": "sequence_number",
    "target_container": "target_container",
}
