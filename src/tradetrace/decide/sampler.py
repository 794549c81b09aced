"""TraceLevelSampler: the trace levels as a standard OpenTelemetry sampler.

Spans made with the plain OpenTelemetry API (by hand, or by other instrumentations) get
the same decisions as the publish path, read from their trading attributes::

    OTEL_TRACES_SAMPLER=tradetrace OTEL_TRACES_SAMPLER_ARG=minimal opentelemetry-instrument ...

>>> from opentelemetry.sdk.trace import TracerProvider
>>> provider = TracerProvider(sampler=TraceLevelSampler("minimal"))
>>> TraceLevelSampler("minimal").get_description()
'TraceLevelSampler{level=minimal}'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from .. import conventions as conv
from ..config import TracingConfig, load_config
from ..errors import ConfigError
from .levels import TraceLevel
from .table import event_type_name


class TraceLevelSampler(Sampler):
    """Sample by trace level and per-container overrides.

    A span with ``trading.container.id`` (or ``trading.source.id``) and
    ``trading.event.type`` is sampled when that container's policy traces that event
    type; a handler span (``trading.handler.name``) when the container's policy has
    handler spans. Other spans follow their parent, and root spans are sampled unless
    the global level is NONE.
    """

    def __init__(self, config: TracingConfig | TraceLevel | str = TraceLevel.NORMAL) -> None:
        if isinstance(config, TracingConfig):
            self._config = config
        else:
            try:
                self._config = TracingConfig(level=TraceLevel.parse(config), run_id="-")
            except ValueError as exc:
                raise ValueError(f"TraceLevelSampler: {exc}") from None

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = get_current_span(parent_context).get_span_context()
        state = parent.trace_state if parent.is_valid else trace_state
        sampled = self._decide(parent, attributes or {})
        decision = Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP
        return SamplingResult(decision, attributes if sampled else None, state)

    def _decide(self, parent: object, attributes: Attributes) -> bool:
        assert attributes is not None
        container = attributes.get(conv.CONTAINER_ID) or attributes.get(conv.SOURCE_ID)
        if isinstance(container, str):
            policy = self._config.policy_for(container)
            if conv.HANDLER_NAME in attributes:
                return policy.handler_spans
            event_type = attributes.get(conv.EVENT_TYPE)
            if event_type is not None:
                return policy.traces(event_type_name(event_type).upper())
            return policy.traced
        if getattr(parent, "is_valid", False):
            return bool(parent.trace_flags.sampled)  # type: ignore[attr-defined]
        return self._config.level is not TraceLevel.NONE

    def get_description(self) -> str:
        return f"TraceLevelSampler{{level={self._config.level.name.lower()}}}"


def trace_level_sampler_factory(arg: str | None) -> Sampler:
    """Entry point ``opentelemetry_traces_sampler: tradetrace``.

    ``OTEL_TRACES_SAMPLER_ARG`` is a level name or the path of a tradetrace YAML config;
    unset, the usual tradetrace variables (``TRADETRACE_LEVEL``...) decide.
    """
    arg = (arg or "").strip()
    try:
        if not arg:
            return TraceLevelSampler(load_config())
        if arg.endswith((".yaml", ".yml")) or Path(arg).is_file():
            return TraceLevelSampler(load_config(config_file=arg))
        return TraceLevelSampler(arg)
    except ConfigError as exc:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG: {exc}") from None
