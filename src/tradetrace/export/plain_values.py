"""Values as the encoder process can unpickle them.

Records cross to the encoder process as pickles (``packing.py``), and that process
(``python -I``) imports only the standard library, installed packages and tradetrace.
Values are pickled as they are when the encoder process can import their class; others
are made plain: an ``Enum`` its value, a subclass of ``str``/``int``/``float``/``dict``/
``list``/``tuple`` its base, anything else an :class:`Opaque` (recorded as not
convertible, as the span encoder would). An exception that escaped traced code crosses as
a :class:`PackedError`, formatted where it was raised.
"""

from __future__ import annotations

import enum
import io
import pickle
import sys
import traceback
import types
from typing import Any


class PackedError(Exception):
    """An exception that escaped traced code, as the encoder process sees it: the type's
    qualified and short names, its text and its stack trace, formatted where it was
    raised."""

    def __init__(self, qualified: str, name: str, message: str, stacktrace: str) -> None:
        super().__init__(message)
        self.qualified, self.name, self.message, self.stacktrace = (
            qualified, name, message, stacktrace)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Any:
        return PackedError, (self.qualified, self.name, self.message, self.stacktrace)


def handler_name(handler: Any) -> str:
    """A handler's qualified name (a name already, for records packed for the encoder)."""
    if handler.__class__ is str:
        return handler
    name = getattr(handler, "__qualname__", None)
    return name if isinstance(name, str) else type(handler).__qualname__


def packed_error(error: BaseException) -> PackedError:
    if isinstance(error, PackedError):
        return error
    cls = type(error)
    module = cls.__module__
    qualified = cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
    try:
        message = str(error)
    except Exception as exc:  # a broken __str__: its own failure, not ours
        message = f"<unprintable {cls.__name__}: {exc!r}>"
    stack = "".join(traceback.format_exception(cls, error, error.__traceback__))
    return PackedError(qualified, cls.__name__, message, stack)


class Opaque:
    """A value whose class the encoder process cannot import: its type's name and its
    text (``str()``, made where it was recorded; None if that failed). The encoder
    treats it as it treats the value: no attribute form, and its text where one is
    needed (an id object's), which fails as the value's own ``str()`` did."""

    __slots__ = ("type_name", "text")

    def __init__(self, type_name: str, text: str | None = None) -> None:
        self.type_name, self.text = type_name, text

    def __str__(self) -> str:
        if self.text is None:
            raise ValueError(f"a {self.type_name} value without a text")
        return self.text

    def __repr__(self) -> str:
        return f"<{self.type_name}>"

    def __reduce__(self) -> Any:
        return Opaque, (self.type_name, self.text)


def _same(value: Any) -> Any:
    return value


_BASES = (str, int, float, dict, list, tuple)
_CALLABLES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type,
              types.ModuleType)
#: class -> True (pickled as it is) or a function making its instances plain
_how: dict[type, Any] = {}


def _importable(cls: type) -> bool:
    """Whether the encoder process (``python -I``: the standard library and installed
    packages) can import ``cls`` by name."""
    module = getattr(cls, "__module__", None) or ""
    root = module.partition(".")[0]
    if root in ("builtins", "tradetrace") or root in sys.stdlib_module_names:
        return "<locals>" not in getattr(cls, "__qualname__", "<locals>")
    file = getattr(sys.modules.get(root), "__file__", None) or ""
    return ("site-packages" in file or "dist-packages" in file) and (
        "<locals>" not in getattr(cls, "__qualname__", "<locals>"))


def _decide(cls: type) -> Any:
    # Functions of any kind (Cython's too) and classes are saved by name: reductions
    # name them (pandas' ``_unpickle_timestamp``, ``datetime``), and so may payloads.
    if issubclass(cls, _CALLABLES) or ("function" in cls.__name__
                                       and "__call__" in dir(cls)):
        how: Any = _named
    elif issubclass(cls, enum.Enum):
        how = _enum_value
    elif _importable(cls):
        how = True
    else:
        base = next((b for b in _BASES if issubclass(cls, b)), None)
        how = _opaque if base is None else _as_base(base)
    if len(_how) < 4096:
        _how[cls] = how
    return how


#: classes and functions -> whether the encoder process can import them by name
_importable_names: dict[Any, bool] = {}


def _named(value: Any) -> Any:
    """A class or function: by name where the encoder process can import it (the
    classes that reductions name, such as ``datetime``), else opaque."""
    try:
        known = _importable_names.get(value)
    except TypeError:  # unhashable
        known = None
    if known is None:
        known = _importable(value if isinstance(value, type) else type(
            "_", (), {"__module__": getattr(value, "__module__", None) or "",
                      "__qualname__": getattr(value, "__qualname__", "<locals>")}))
        if len(_importable_names) < 4096:
            try:
                _importable_names[value] = known
            except TypeError:
                pass
    return NotImplemented if known else _opaque(value)


def _opaque(value: Any) -> Any:
    try:
        text: str | None = str(value)
    except Exception:
        text = None
    return Opaque, (type(value).__qualname__, text)


def _enum_value(value: Any) -> Any:
    return _same, (value.value,)


def _as_base(base: type) -> Any:
    if base is dict:
        return lambda value: (dict, (list(dict.items(value)),))
    return lambda value: (base, (base(value),))


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        how = _how.get(obj.__class__)
        if how is None:
            how = _decide(obj.__class__)
        if how is True:
            return NotImplemented
        return how(obj)


def dumps(value: Any) -> bytes:
    out = io.BytesIO()
    _Pickler(out, protocol=5).dump(value)
    return out.getvalue()
