"""Apply a profile's patches, now or when the target module is imported; undo them all.

Every patch remembers what the class held before (or that it held nothing), so
:meth:`Patcher.unpatch` restores the classes exactly. Patching is idempotent: a method
that already carries our patch is left alone, so a second instrumentation (or a
subclass listed in a profile whose base is listed too) never wraps twice.
"""

from __future__ import annotations

import inspect
import logging
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import wrapt

from ..errors import ConfigError
from .handlers import (
    proxy_handler_argument,
    remember_bus,
    unwrap_handlers,
    wrap_handler_argument,
)
from .profile import Profile, Target, check_target

logger = logging.getLogger(__name__)

_ABSENT = object()
_MARK = "__tradetrace_patch__"

# (role, original attribute, profile, target) -> a replacement carrying
# ``__tradetrace_patch__``, or None to leave the attribute alone
Factory = Callable[[str, Any, Profile, Target], Any]


class Patcher:
    """Patches of one tracing session."""

    def __init__(self, factory: Factory) -> None:
        self._factory = factory
        self._applied: list[tuple[type, str, Any]] = []
        self._lock = threading.RLock()
        self._active = False
        #: targets that do not exist as named (logged once each)
        self.missing: list[str] = []
        #: targets that exist but refused the patch: an extension type's method, a sealed
        #: class's (logged once each); the program runs on with them untraced
        self.unpatchable: list[str] = []

    def arm(self, profiles: tuple[Profile, ...]) -> None:
        """Patch loaded modules now and the others as soon as they are imported."""
        with self._lock:
            self._active = True
        for profile in profiles:
            for module_name in profile.modules:
                if module_name in sys.modules:
                    self._patch_module(profile, sys.modules[module_name])
                else:
                    wrapt.register_post_import_hook(self._hook(profile), module_name)

    @property
    def armed(self) -> bool:
        return self._active

    def unpatch(self) -> None:
        """Restore every patched attribute and the handlers subscribed meanwhile; hooks
        still pending become no-ops."""
        with self._lock:
            self._active = False
            for owner, name, original in reversed(self._applied):
                if original is _ABSENT:
                    if name in owner.__dict__:
                        delattr(owner, name)
                else:
                    setattr(owner, name, original)
            self._applied.clear()
            try:
                unwrap_handlers()
            except Exception:  # a bus with odd containers keeps pass-through proxies
                logger.debug("tradetrace: could not restore every handler", exc_info=True)

    def after_fork(self) -> None:
        """In a forked child: the lock may have been held by a thread that is gone."""
        self._lock = threading.RLock()

    @property
    def patched(self) -> list[str]:
        return [
            f"{owner.__module__}:{owner.__qualname__}.{name}" for owner, name, _ in self._applied
        ]

    def _hook(self, profile: Profile) -> Callable[[ModuleType], None]:
        def on_import(module: ModuleType) -> None:
            self._patch_module(profile, module)

        return on_import

    def _patch_module(self, profile: Profile, module: ModuleType) -> None:
        with self._lock:
            if not self._active:
                return
            for role, target in profile.targets():
                if target.module == module.__name__:
                    self._patch(profile, role, target, module)

    def _patch(self, profile: Profile, role: str, target: Target, module: ModuleType) -> None:
        try:
            # patchability is found out by patching, below: only what this level needs
            check_target(module, target, f"profile.{role}", patchable=False)
        except ConfigError as exc:
            # Raised at configure time for explicit profiles; here the module was only
            # imported later, and an import must never fail because of tracing.
            self._cannot(self.missing, target, exc)
            return
        owner = getattr(module, target.cls)
        current = inspect.getattr_static(owner, target.method)
        if getattr(current, _MARK, False):
            return
        original = owner.__dict__.get(target.method, _ABSENT)
        try:
            replacement = self._factory(role, current, profile, target)
        except Exception as exc:  # this can run inside the traced program's import statement
            self._cannot(self.unpatchable, target, exc)
            return
        if replacement is None:
            return
        try:
            setattr(owner, target.method, replacement)
        except Exception as exc:  # inside the traced program's import: never raise there
            self._cannot(self.unpatchable, target, exc)
            return
        self._applied.append((owner, target.method, original))

    def _cannot(self, found: list[str], target: Target, exc: BaseException) -> None:
        """Said once per target, however often arming tries again (a level change)."""
        name = str(target)
        if name not in found:
            found.append(name)
            logger.error("tradetrace: cannot patch %s; it runs untraced: %s", target, exc)


def subscribe_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """wrapt wrapper for ``subscribe``-like methods: the handler gets a transparent proxy."""
    try:
        args, kwargs = wrap_handler_argument(args, kwargs)
        remember_bus(instance)
    except Exception:  # subscribe exactly as asked rather than fail
        logger.debug("tradetrace: could not wrap a handler", exc_info=True)
    return wrapped(*args, **kwargs)


def unsubscribe_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """wrapt wrapper for ``unsubscribe``-like methods: the handler's proxy goes in its
    place, so a bus that keys handlers by identity finds what it stored."""
    try:
        args, kwargs = proxy_handler_argument(args, kwargs)
    except Exception:  # unsubscribe exactly as asked rather than fail
        logger.debug("tradetrace: could not find a handler's proxy", exc_info=True)
    return wrapped(*args, **kwargs)


class _Marked(wrapt.FunctionWrapper):
    """A FunctionWrapper that carries our patch mark itself (not on the wrapped function)."""

    __tradetrace_patch__ = True


def function_wrapper(original: Any, wrapper: Callable[..., Any]) -> Any:
    return _Marked(original, wrapper)
