"""DEBUG's handler wrapping leaves a bus's own semantics alone, even one that keeps
handlers by identity: subscribe, unsubscribe and publish give the same results,
exceptions and state, traced or not, and after tracing stops the bus holds the
program's own handlers. (What no wrapper can hide: a stored handler compared with
``is`` to the program's own while traced; docs/profiles.md says so.)"""

from __future__ import annotations

from typing import Any

import pytest

import tradetrace
from identity_bus import PROFILE, IdentityBus
from toybus import Message


class Rejected(Exception):
    pass


def session_of_calls() -> list[Any]:
    """A program's handler bookkeeping: what it sees of each call."""
    bus = IdentityBus()
    seen: list[Any] = []

    def on_bar(message: Message) -> str:
        seen.append(("bar", message.data["n"]))
        return "bar"

    def on_risk(message: Message) -> str:
        raise Rejected(message.data["n"])

    out: list[Any] = []
    bus.subscribe("BAR", on_bar)
    bus.subscribe("BAR", on_bar)  # twice: one entry, as the bus keys by identity
    out.append(("held", len(bus.handlers["BAR"])))
    out.append(bus.publish(Message("BAR", {"n": 1}, node="data_1")))
    bus.subscribe("RISK", on_risk)
    try:
        bus.publish(Message("RISK", {"n": 2}, node="risk_1"))
    except Rejected as exc:
        out.append(("raised", exc.args))
    bus.unsubscribe("RISK", on_risk)
    out.append(bus.publish(Message("RISK", {"n": 3}, node="risk_1")))
    bus.unsubscribe("BAR", on_bar)
    out.append(bus.publish(Message("BAR", {"n": 4}, node="data_1")))
    try:
        bus.unsubscribe("BAR", on_bar)  # not held any more: the bus's own KeyError
    except KeyError:
        out.append("KeyError")
    bus.subscribe("BAR", on_bar)
    out.append(bus.publish(Message("BAR", {"n": 5}, node="data_1")))
    out.append(seen)
    out.append(("finally held", len(bus.handlers["BAR"])))
    return out


def test_a_bus_keyed_by_identity_behaves_as_untraced_at_debug(tmp_path):
    untraced = session_of_calls()
    session = tradetrace.configure("debug", profile=PROFILE, output=tmp_path)
    traced = session_of_calls()
    tradetrace.shutdown()
    assert traced == untraced
    assert untraced[0] == ("held", 1) and "KeyError" in untraced
    # and handler spans were recorded: the wrapping really was in place
    assert session.stats()["accounting"]["recorded"] > 6


def test_after_tracing_stops_the_bus_holds_the_program_s_handlers():
    """Proxies are put back, dict keys included: a key that was the proxy's id becomes
    the handler's id, so the program's own unsubscribe still finds it."""
    tradetrace.configure("debug", profile=PROFILE, backend="none")
    bus = IdentityBus()

    def on_bar(message: Message) -> None:
        pass

    bus.subscribe("BAR", on_bar)
    assert not bus.holds("BAR", on_bar)  # a proxy is held while traced...
    tradetrace.shutdown()
    assert bus.holds("BAR", on_bar)  # ...and the handler itself after
    assert list(bus.handlers["BAR"]) == [id(on_bar)]
    bus.unsubscribe("BAR", on_bar)
    assert bus.handlers["BAR"] == {}


@pytest.mark.parametrize("level", ["normal", "minimal"])
def test_below_debug_nothing_is_wrapped(level):
    tradetrace.configure(level, profile=PROFILE, backend="none")
    bus = IdentityBus()

    def on_bar(message: Message) -> None:
        pass

    bus.subscribe("BAR", on_bar)
    assert bus.holds("BAR", on_bar)
