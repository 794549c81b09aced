"""A profile naming a method tracing cannot patch (an extension type's, a sealed
class's): a ConfigError naming it when the profile is explicit and the class can be
seen before the program starts; otherwise, when its module is imported later, a logged,
counted "cannot patch" and never an exception in the program's own import."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tradetrace
from tradetrace import ConfigError

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("target, why", [
    ("datetime:datetime.isoformat", "immutable"),
    ("unpatchable_targets:SealedBus.publish", "SealedBus is sealed"),
])
def test_an_explicit_profile_naming_an_unpatchable_method_is_a_config_error(target, why):
    import unpatchable_targets  # noqa: F401  (imported: the class can be looked at)

    with pytest.raises(ConfigError) as info:
        tradetrace.configure("normal", profile={"publish": [target]}, backend="none")
    message = str(info.value)
    assert target in message and why in message, message
    assert tradetrace.get_session() is None  # nothing patched, nothing started


def test_the_check_leaves_the_class_as_it_was():
    from unpatchable_targets import SealedBus

    before = dict(SealedBus.__dict__)
    with pytest.raises(ConfigError):
        tradetrace.configure("normal", profile={"publish": [
            "unpatchable_targets:SealedBus.publish"]}, backend="none")
    assert dict(SealedBus.__dict__) == before
    assert SealedBus().publish("x") == "published x"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADETRACE_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, env=env)


def test_a_compiled_module_not_yet_imported_is_refused_without_importing_it():
    done = _run("""
        import sys, tradetrace
        try:
            tradetrace.configure("normal", profile={"publish": ["_lsprof:Profiler.enable"]},
                                 backend="none")
        except tradetrace.ConfigError as exc:
            print("refused:", exc)
        print("imported:", "_lsprof" in sys.modules)
    """)
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "compiled extension module" in done.stdout
    assert "imported: False" in done.stdout


def test_an_unpatchable_class_imported_later_runs_untraced_and_is_counted():
    """The program's own import of the module goes through; it runs and exits as
    untraced; tracing says "cannot patch" once and counts it."""
    done = _run("""
        import tradetrace
        session = tradetrace.configure(
            "normal", backend="none",
            profile={"publish": ["unpatchable_targets:CompiledBus.isoformat",
                                 "unpatchable_targets:SealedBus.publish"]})
        import unpatchable_targets                      # the hook runs here
        print(unpatchable_targets.SealedBus().publish("order"))
        print(sorted(session.stats()["cannot_patch"]), session.stats()["targets_missing"])
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "published order"
    assert lines[1] == ("['unpatchable_targets:CompiledBus.isoformat', "
                        "'unpatchable_targets:SealedBus.publish'] []")
    assert done.stderr.count("cannot patch unpatchable_targets:SealedBus.publish") == 1
    assert done.stderr.count("cannot patch unpatchable_targets:CompiledBus.isoformat") == 1


def test_arming_again_says_it_once(caplog):
    """A level change arms the patches again: a target that cannot be patched is tried
    again, but listed and logged once."""
    import unpatchable_targets  # noqa: F401

    session = tradetrace.configure("normal", backend="none")  # built-in profiles only
    session._patcher.arm((tradetrace_profile(),))
    session.set_level("debug")
    session._patcher.arm((tradetrace_profile(),))
    assert session.stats()["cannot_patch"] == ["unpatchable_targets:SealedBus.publish"]
    said = [r for r in caplog.records if "cannot patch unpatchable_targets" in r.getMessage()]
    assert len(said) == 1


def tradetrace_profile():
    from tradetrace.capture.profile import parse_profile

    return parse_profile({"publish": ["unpatchable_targets:SealedBus.publish"]}, "test")
