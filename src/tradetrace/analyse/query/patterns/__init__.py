"""Query patterns by name: ``TraceQuery.detect_patterns(name, **params)`` and
``tradetrace query patterns NAME``.

A pattern is a class with a ``name`` and ``find(query, limit, **params)``, which runs
SQL over the query's ``_spans`` table (one row per span, typed columns for the
``trading.*`` attributes one queries by, ``attr_keys``/``attr_values`` for the rest)
and returns ``(count, rows, message)``: every match counted, the first ``limit`` rows,
and a hint for the reader ("" for none). Its keyword parameters are what the pattern
takes (``--name value`` on the command line). The built-in ones are one module each
here, named in :data:`tradetrace.plugins.QUERY_PATTERNS`; another package adds its own
through the ``tradetrace.query_patterns`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ..engine import TraceQuery
else:
    TraceQuery = Any


class QueryPattern:
    """Base of query patterns."""

    name: ClassVar[str] = ""
    #: ``find(query, limit, **params) -> (count, rows, message)``; the keyword
    #: parameters are the pattern's own
    find: Callable[..., tuple[int, list[dict[str, Any]], str]]
