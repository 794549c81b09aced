"""A receiver hosted in a child process behaves as the in-process one, under the same
controls, and reports what it saw."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .exporters import FAILURE, SUCCESS, make_spans
from .receivers import status
from .remote import ReceiverHost


@pytest.fixture
def host() -> Iterator[ReceiverHost]:
    with ReceiverHost() as host:
        yield host


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_hosted_receiver_takes_the_same_controls(host, stock_exporter, protocol):
    receiver = host.start(protocol)
    exporter = stock_exporter(receiver, timeout=1)
    assert exporter.export(make_spans(2)) is SUCCESS
    seen = receiver.set(status(500))
    assert seen["spans_kept"] == 2 and seen["outcomes"] == {"accepted": 1}
    assert exporter.export(make_spans(1)) is FAILURE
    receiver.die()
    assert exporter.export(make_spans(1)) is FAILURE
    seen = receiver.close()
    assert seen["requests"] == 2 and seen["spans_kept"] == 2


def test_errors_in_the_child_are_raised_here(host):
    with pytest.raises(AssertionError, match="no receiver started"):
        host.call("die")
