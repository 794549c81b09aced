"""The generated ``publish`` can be followed: its source is in ``linecache`` under a name of
its own, so tracebacks, ``inspect`` and pdb show the lines that run, and the traced
program's exceptions still pass through it unchanged."""

from __future__ import annotations

import gc
import inspect
import io
import linecache
import pdb
import textwrap
import traceback

import pytest

import toybus
from identity_bus import IdentityBus
from tradetrace.capture.publish import traced_publish
from tradetrace.config import load_config
from tradetrace.decide.table import DecisionTable
from tradetrace.model.events import EVENT_FIELDS
from tradetrace.retain.buffer import ContainerBuffers
from tradetrace.testing import recording

#: toybus's Bus and identity_bus's IdentityBus (same message fields) in one profile
TWO_BUSES = {
    "name": "two_buses",
    "publish": ["toybus:Bus.publish", "identity_bus:IdentityBus.publish"],
    "event_fields": toybus.PROFILE["event_fields"],
}


class Rejected(Exception):
    pass


def _raise_through_publish(error: Exception) -> BaseException:
    """Publishes an ORDER whose handler raises ``error``; returns what the publisher got."""
    bus = toybus.Bus()

    def check_limits(message: toybus.Message) -> None:
        raise error

    bus.on("ORDER", check_limits)
    with pytest.raises(Rejected) as raised:
        bus.publish(toybus.Message("ORDER", {"order_id": "o1"}, node="portfolio_1"))
    return raised.value


def test_traceback_through_the_patched_publish_shows_its_generated_lines() -> None:
    error = Rejected("over the limit")
    with recording("normal", profile=toybus.PROFILE) as spans:
        name = toybus.Bus.publish.__tradetrace_source__
        got = _raise_through_publish(error)
        # the traced program's exception passes through unchanged: same object, same type
        assert got is error and type(got) is Rejected
        text = "".join(traceback.format_exception(got))
        assert len(spans.events()) == 1
    assert name.startswith("<tradetrace publish #") and name.endswith(" of toybus.Bus.publish>")
    assert f'File "{name}", line ' in text
    assert ", in publish\n    return original(self, message)\n" in text
    assert "raise error" in text  # and on to the handler


def test_getsource_of_the_generated_code_and_the_original_through_wrapped() -> None:
    original = toybus.Bus.__dict__["publish"]
    with recording("normal", profile=toybus.PROFILE):
        patched = toybus.Bus.publish
        name = patched.__tradetrace_source__
        source = inspect.getsource(patched.__code__)
        assert patched.__code__.co_filename == name
        assert source.startswith("def publish(self, message):\n    event = message\n")
        assert "by_type(event.kind, MISS)" in source and "key = event.node" in source
        assert source == "".join(linecache.getlines(name)).lstrip("\n")
        # functools.wraps as before: inspect.getsource(patched) follows __wrapped__
        assert patched.__wrapped__ is original
        assert inspect.getsource(patched) == inspect.getsource(original)
        assert patched.__tradetrace_fields__ == {
            "event_type": "event.kind", "container_id": "event.node", "payload": "event.data",
            "metadata": "getattr(event, 'metadata', None)",
        }


def test_two_buses_get_distinct_names_and_a_new_patch_a_new_name() -> None:
    with recording("normal", profile=TWO_BUSES):
        first = toybus.Bus.publish.__tradetrace_source__
        second = IdentityBus.publish.__tradetrace_source__
        assert first != second
        assert first.endswith(" of toybus.Bus.publish>")
        assert second.endswith(" of identity_bus.IdentityBus.publish>")
        assert "def publish(self, message):" in inspect.getsource(IdentityBus.publish.__code__)
        for name in (first, second):
            assert linecache.getlines(name)
            linecache.checkcache(name)  # as traceback does: a None mtime keeps the entry
            assert linecache.getlines(name)
    with recording("normal", profile=TWO_BUSES):
        assert toybus.Bus.publish.__tradetrace_source__ not in (first, second)


def test_pdb_lists_the_generated_source() -> None:
    error = Rejected("over the limit")
    with recording("normal", profile=toybus.PROFILE):
        name = toybus.Bus.publish.__tradetrace_source__
        got = _raise_through_publish(error)
    out = io.StringIO()
    # post mortem at the handler; up: the original publish; up: the generated one; ll
    debugger = pdb.Pdb(stdin=io.StringIO("up\nup\nll\n"), stdout=out, nosigint=True,
                       readrc=False)
    debugger.reset()
    try:
        debugger.interaction(None, got.__traceback__)
    finally:
        debugger.forget()
    listing = out.getvalue()
    assert f"{name}(" in listing
    assert "return original(self, message)" in listing
    assert "record[8] = exc" in listing


def test_docstring_example_is_what_it_writes() -> None:
    class Bus:
        def publish(self, event: object) -> None:
            pass

    config = load_config(level="normal", config_file=None, env={}, run_id="r")
    publish = traced_publish(Bus.publish, DecisionTable(config, ContainerBuffers()),
                             dict(EVENT_FIELDS))
    doc = inspect.getdoc(traced_publish) or ""
    example = doc.split("::\n\n", 1)[1].split("\n\nThe function carries", 1)[0]
    written = "".join(linecache.getlines(publish.__tradetrace_source__))
    assert textwrap.dedent(example).strip() == "\n".join(
        line.rstrip() for line in written.strip("\n").splitlines())


def test_the_entry_goes_with_the_generated_code() -> None:
    class Bus:
        def publish(self, event: object) -> None:
            pass

    config = load_config(level="normal", config_file=None, env={}, run_id="r")
    publish = traced_publish(Bus.publish, DecisionTable(config, ContainerBuffers()),
                             dict(EVENT_FIELDS))
    name = publish.__tradetrace_source__
    assert name in linecache.cache
    del publish
    gc.collect()
    assert name not in linecache.cache
