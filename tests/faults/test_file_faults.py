"""The local file sink when the disk says no: a folder that fills up (and has room
again later), one that cannot be written at all, a file a killed process left with a
partial line. Files always end on a clean line, every span counted as exported is in
them and readable, and what was not written is dropped for a named reason."""

from __future__ import annotations

import logging
import os
import stat

import pytest

import tradetrace

from .trading import accounting, check, feed, publish, sequences_in

# They watch the worker and writer at work: in this process (conftest.py).
pytestmark = pytest.mark.usefixtures("spans_built_here")


def test_a_full_disk_costs_the_lines_that_did_not_fit_and_writing_resumes_cleanly(
    small_filesystem,
):
    folder = small_filesystem(512)
    filler = folder / "filler"
    filler.write_bytes(b"x" * (440 * 1024))  # less room than a few request lines need
    bus, session = feed(output=folder / "traces", run_id="full")
    publish(bus, 3000)
    assert session.flush(30)
    during = accounting(session)
    assert during["dropped"]["sink_failure"] >= 1  # the disk filled up

    filler.unlink()  # room again; the sink's rest after the failure is ended by hand
    session._worker.writer._retry_at = 0.0
    publisher = publish(bus, 1000, start=3000)
    tradetrace.shutdown(timeout=30)

    numbers, read = sequences_in(folder / "traces")
    figures = check(session, 4000, len(numbers), publisher=publisher)
    assert read.bad_lines == 0 and read.bad_spans == 0, "a partial line was left behind"
    assert len(set(numbers)) == len(numbers)
    assert set(range(3000, 4000)) <= set(numbers)  # everything after the disk had room
    assert set(figures["dropped"]) <= {"sink_failure", "sink_resting"}
    for path in (folder / "traces").iterdir():
        assert path.read_bytes().endswith(b"\n")


def test_an_unwritable_folder_loses_everything_said_once(unwritable_folder, caplog):
    bus, session = feed(output=unwritable_folder / "traces", run_id="ro")
    with caplog.at_level(logging.WARNING, logger="tradetrace"):
        publisher = publish(bus, 2000)
        tradetrace.shutdown(timeout=10)
    figures = check(session, 2000, 0, publisher=publisher)
    assert set(figures["dropped"]) <= {"sink_failure", "sink_resting"}
    failures = [r for r in caplog.records if "exporting spans failed" in r.getMessage()]
    assert len(failures) == 1
    exit_lines = [r for r in caplog.records if "recorded 2000 = exported 0" in r.getMessage()]
    assert len(exit_lines) == 1 and exit_lines[0].levelno == logging.WARNING
    assert not (unwritable_folder / "traces").exists()


def test_a_file_left_with_a_partial_line_is_resumed_on_a_new_line(tmp_path):
    """A process killed in the middle of a write left half a line; the next run of the
    same id appends after a newline: one bad line, and every new span readable."""
    folder = tmp_path / "traces"
    bus, session = feed(output=folder, run_id="again")
    publish(bus, 300)
    tradetrace.shutdown()
    (path,) = folder.glob("again-0*.jsonl")
    whole = path.read_bytes()
    path.write_bytes(whole + whole[: len(whole) // 3])  # half a line more, no newline

    bus, session = feed(output=folder, run_id="again")
    publish(bus, 300, start=300)
    tradetrace.shutdown()
    numbers, read = sequences_in(folder)
    assert read.bad_lines == 1
    assert sorted(numbers) == list(range(600))
    check(session, 300, 300)


def test_trace_files_and_folders_are_private_by_default(tmp_path):
    """Traces hold order flow: files 0600 and the folders tradetrace creates 0700,
    whatever the umask lets through."""
    old = os.umask(0)
    try:
        bus, session = feed(output=tmp_path / "new" / "traces", run_id="private")
        publish(bus, 10)
        tradetrace.shutdown()
    finally:
        os.umask(old)
    folder = tmp_path / "new" / "traces"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = list(folder.iterdir())
    assert len(files) == 2  # the trace file and the metrics file
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_permissions_can_be_opened_up_by_configuration(tmp_path):
    config = tmp_path / "tracing.yaml"
    config.write_text('tracing:\n  storage: {permissions: {file: "0640", folder: 0750}}\n')
    old = os.umask(0)
    try:
        bus, session = feed(output=tmp_path / "shared", run_id="shared", config_file=config)
        publish(bus, 10)
        tradetrace.shutdown()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o750
    for path in (tmp_path / "shared").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
