"""Payload snapshots: the payload as it was at the moment it was published.

Traded code mutates payloads after publishing them (ADMF-PC marks an ORDER's payload
FILLED in place; a nested ``metadata`` dict may be shared and rewritten), while the span
is encoded later, on the export worker. So the publish path copies every container in
the payload that can change and that the encoder or the trade tracker may read: dicts
and other mappings, lists, sets, and tuples holding any of these, at every level. It
shares the rest: strings, numbers, datetimes, enums and tuples of them cannot change,
and other objects (bytearrays, arrays, a user's own classes) have no attribute form, so
their state is never recorded (``export/attributes.py`` skips and counts them).

Bounds, so a huge or self-referencing payload cannot stall the publisher: the payload's
own keys are all kept (as by ``dict.copy``), containers nested in it keep their first
``SNAPSHOT_ITEMS`` items, and containers more than ``SNAPSHOT_DEPTH`` levels down are
kept as they are, uncopied. Each cut is counted in ``SnapshotStats.truncated``. The
encoder reads three levels of dicts and the lists in them.

Cost, against the shallow ``payload.copy()`` it replaces, on the publishing thread (the
budget is about 1 us per traced event; a traced publish costs about 17,000
instructions). timeit, ns per payload, medians of 9 interleaved rounds on a shared
2-core machine (CPython 3.11.7), and CPU instructions under callgrind::

    payload                                     .copy()      snapshot     instructions
    flat: 8 str/float/int/datetime (BAR, FILL)   50-80 ns     +25-45 ns    +100
    flat, its timestamp a pandas Timestamp       ~95 ns       +0.5-0.75 us +5,300
    ADMF ORDER: 8 scalars + metadata of 5        ~85 ns       +0.7-0.85 us +7,300

A flat payload costs one ``gc.is_tracked`` call more than a shallow copy: CPython leaves
a dict untracked by its garbage collector while it holds only atomic values (str,
numbers, datetimes, tuples of them), and ``dict.copy`` keeps that state, so an untracked
copy proves there is nothing inside to copy. Any other payload pays a Python loop over
its values (about 60 ns a value): in CPython 3.11 no pass in C was cheaper (``map(type,
...)``, ``hash(tuple(...))`` and ``isinstance`` all cost as much or more per value).
"""

from __future__ import annotations

import datetime
import decimal
import gc
from collections.abc import Callable, Mapping
from itertools import islice
from operator import is_
from typing import Any

#: Containers nested deeper than this below the payload are kept, not copied (counted).
SNAPSHOT_DEPTH = 8
#: Containers nested in the payload keep their first this many items (counted).
SNAPSHOT_ITEMS = 256


class SnapshotStats:
    truncated = 0  #: nested containers cut to SNAPSHOT_ITEMS, or left uncopied below SNAPSHOT_DEPTH
    #: events kept whole whose payload could not be read on the export worker (their
    #: spans have no payload attributes)
    unreadable = 0


def _tracking_tells() -> bool:
    """Whether ``gc.is_tracked`` of a dict says if it may hold a container (CPython)."""
    try:
        return not gc.is_tracked({"a": 1.0, "b": "c"}) and gc.is_tracked({"a": {}})
    except Exception:
        return False


#: False for a plain dict proves its values are atomic; always True where it cannot.
is_tracked: Callable[[Any], bool] = gc.is_tracked if _tracking_tells() else bool

# Exact types whose values are shared, not copied; others are learned (bounded).
_SHARED: set[type] = {
    str, int, float, bool, type(None), bytes, complex, frozenset, range, bytearray,
    datetime.datetime, datetime.date, datetime.time, datetime.timedelta, decimal.Decimal,
}
_DICT, _LIST, _TUPLE, _SET = range(4)
_CONTAINERS: dict[type, int] = {dict: _DICT, list: _LIST, tuple: _TUPLE, set: _SET}
_MAX_LEARNED = 1024


def _kind(cls: type) -> int | None:
    """How a value of this type is copied; None: it is shared."""
    kind = _CONTAINERS.get(cls)
    if kind is not None or cls in _SHARED:
        return kind
    if issubclass(cls, Mapping):
        kind = _DICT  # copied as a plain dict: every reader takes any Mapping
    elif issubclass(cls, list):
        kind = _LIST
    elif issubclass(cls, tuple):
        kind = _TUPLE
    elif issubclass(cls, set):
        kind = _SET
    # else immutable (str and number subclasses, enums, numpy scalars, Timestamps) or an
    # object no reader records
    if len(_CONTAINERS) + len(_SHARED) < _MAX_LEARNED:
        if kind is None:
            _SHARED.add(cls)
        else:
            _CONTAINERS[cls] = kind
    return kind


def snapshot(payload: Any) -> Any:
    """The payload as it is now, safe from later mutation (see the module docstring).
    The publish path inlines the case of a plain dict."""
    if payload.__class__ is dict:
        copy = payload.copy()
    elif isinstance(payload, Mapping):
        copy = dict(payload.items())
    else:
        return copied(payload, SNAPSHOT_DEPTH + 1)
    return copy_values(copy) if is_tracked(copy) else copy


def copy_values(
    copy: dict[Any, Any], depth: int = SNAPSHOT_DEPTH, memo: dict[int, Any] | None = None
) -> dict[Any, Any]:
    """In a fresh shallow copy of a dict, replace the values that can still change by
    copies of them, down to ``depth`` levels; returns ``copy``.

    A dict met again in the same payload is copied once (``memo``: id -> copy), and the
    copies share it as the payload did: ADMF-PC's SIGNAL holds its strategy's
    parameters three times and their ``_risk`` five, so this saves half of its copies,
    each an allocation that brings the next garbage collection nearer. (The depth bound
    then counts from where a dict was first met.)"""
    # A Python loop: in CPython 3.11 ``type(value)`` here is cheaper per value than any
    # pass in C over them (``map(type, ...)`` builds an argument tuple per call).
    shared = _SHARED
    for key, value in copy.items():  # values are replaced, never added: iterating is safe
        cls = type(value)
        if cls in shared:
            continue
        if cls is dict and depth > 0 and len(value) <= SNAPSHOT_ITEMS:  # metadata, mostly
            if memo is None:  # (made at the first nested dict only: most payloads have none)
                memo = {}
            new = memo.get(id(value))
            if new is None:
                new = memo[id(value)] = value.copy()  # before its values: a cycle ends here
                if is_tracked(new):
                    copy_values(new, depth - 1, memo)
            copy[key] = new
        else:
            new = copied(value, depth, cls)
            if new is not value:
                copy[key] = new
    return copy


def copied(value: Any, depth: int, cls: type | None = None) -> Any:
    """``value`` itself if it cannot change, else a copy of it down to ``depth`` levels."""
    kind = _kind(type(value) if cls is None else cls)
    if kind is None:
        return value
    if kind == _TUPLE and not is_tracked(value):  # holds only atomic values
        return value
    if depth <= 0:  # deeper than anything is read: kept as it is (cycles end here too)
        SnapshotStats.truncated += 1
        return value
    if kind == _DICT:
        if value.__class__ is dict and len(value) <= SNAPSHOT_ITEMS:
            copy = value.copy()
        else:
            if len(value) > SNAPSHOT_ITEMS:
                SnapshotStats.truncated += 1
            copy = dict(islice(value.items(), SNAPSHOT_ITEMS))
        return copy_values(copy, depth - 1) if is_tracked(copy) else copy
    if kind == _SET:  # its items are hashable: nothing in them to copy
        if len(value) > SNAPSHOT_ITEMS:
            SnapshotStats.truncated += 1
        return set(islice(value, SNAPSHOT_ITEMS))
    items = value[:SNAPSHOT_ITEMS] if value.__class__ is list else list(
        islice(value, SNAPSHOT_ITEMS))
    if len(value) > SNAPSHOT_ITEMS:
        SnapshotStats.truncated += 1
    if not _SHARED.issuperset(map(type, items)):
        for i, item in enumerate(items):
            new = copied(item, depth - 1)
            if new is not item:
                items[i] = new
    if kind == _LIST:
        return items
    if len(items) == len(value) and all(map(is_, items, value)):
        return value  # a tuple with nothing to copy after all
    # a namedtuple stays one (if it was cut, it becomes a plain tuple)
    if hasattr(value, "_fields") and len(items) == len(value):
        return type(value)(*items)
    return tuple(items)
