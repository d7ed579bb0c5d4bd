"""Guards: every Python value the traced code takes from a traced tensor is checked on each call.

A trace records tensor operations, not Python: ``if x.sum() > 0:`` runs once while tracing, and
the trace keeps the branch it took for every later input. While jittrace traces inside
``guarding(...)``, each conversion of a traced tensor to a Python value (``bool``, ``int``,
``float``, ``__index__``, ``len``, iteration, ``item``, ``tolist``) returns what it returns
without jittrace, and the core appends to the trace TorchScript that recomputes the value from
the inputs on every call and raises, naming the line, when it differs.

The conversions are caught by methods put on ``torch.Tensor`` only while jittrace traces (see
_taps; a TorchFunctionMode would send every tensor operation through Python, which doubles the
time to trace small code). They are C++ callables, which add no Python frame, and they act only
on a thread that is inside ``guarding`` and tracing: ``torch.jit.trace`` in other threads, or
outside jittrace, behaves as before.
"""

from __future__ import annotations

import reprlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from . import _C
from ._errors import user_frame

__all__ = ["KINDS", "METHODS", "Guard", "guarding", "settle", "taps"]


@dataclass(frozen=True)
class Guard:
    """A guard added to a trace: the traced code took a Python value from a tensor there.

    Attributes:
        kind: the conversion (see KINDS): ``"bool"`` for ``if tensor:``, ``"len"`` for
            ``len(tensor)``...
        value: the value it gave while tracing (a bool, int, float, complex or nested lists).
        location: the user's ``file.py:LINE`` (empty if none was found).
        method: the traced method (``"forward"``), or the function's name.
        mode: ``"train"`` or ``"eval"``; None for a function.
    """

    kind: str
    value: Any
    location: str
    method: str
    mode: str | None

    @property
    def label(self) -> str:
        """``forward (eval mode)``: how messages name the trace."""
        return self.method + ("" if self.mode is None else f" ({self.mode} mode)")


# kind -> (what the traced code did, how to keep the value a tensor).
KINDS: dict[str, tuple[str, str]] = {
    "bool": (
        "a tensor used as a condition (if, while, and, or, not, bool())",
        "torch.where(cond, a, b) computes both branches",
    ),
    "int": ("int() of a tensor", "pass x.size(0) on as it is, not int(x.size(0))"),
    "float": ("float() of a tensor", "compute with the tensor rather than float(t)"),
    "item": (".item() of a tensor", "compute with the tensor rather than t.item()"),
    "tolist": (".tolist() of a tensor", "index or compute with the tensor rather than t.tolist()"),
    "len": ("len() of a tensor", "x.size(0) or x.shape[0] rather than len(x)"),
    "index": (
        "a tensor used as a Python int (range(n), an index, __index__)",
        "torch.arange(n) rather than range(n), tensor indices rather than ints",
    ),
    "iter": (
        "iterating over a tensor (the number of pieces, its size(0))",
        "tensor operations over the whole dim rather than a Python loop over it",
    ),
}

# The methods of torch.Tensor that convert to Python, and the kind each one is.
METHODS = {
    "__bool__": "bool",
    "__int__": "int",
    "__float__": "float",
    "__index__": "index",
    "__len__": "len",
    "__iter__": "iter",
    "item": "item",
    "tolist": "tolist",
}

# Traced values in messages: a few items of long lists (cheap, whatever the size), a line at most.
_shown = reprlib.Repr()
_shown.maxlist = 8
_shown.maxlevel = 3
_shown.maxother = 60


def _message(label: str, location: str, kind: str, observed: Any) -> str:
    """The text a guard raises; ``{actual}`` is replaced by the value the call gave."""
    what, hint = KINDS[kind]
    shown = _shown.repr(observed)
    return (
        f"{label}: {location or 'the traced code'}: {what} gave {shown} when traced, but "
        "{actual} on this call: the trace only holds what the traced value led to. Trace this "
        f"case too (variants), keep the value a tensor ({hint}), or move this code out of the "
        "traced code."
    )


class _Scope:
    """One guarding context on one thread."""

    __slots__ = ("describe", "found", "outer", "pending")

    def __init__(
        self, describe: Callable[[], tuple[str, str | None]], outer: _Scope | None
    ) -> None:
        self.describe = describe
        self.found: list[Guard] = []
        self.outer = outer
        # __index__ conversions waiting for settle(): (tensor, guard, message, where the trace
        # was: _C.trace_mark()).
        self.pending: list[tuple[torch.Tensor, Guard, str, int | None]] = []


_local = threading.local()


def _convert(tensor: torch.Tensor, kind: str, result: Any) -> Any:
    """Called by the tapped methods with what the conversion returned, on a thread that is
    tracing (conversions made here are not tapped again); returns what the method returns."""
    scope: _Scope | None = getattr(_local, "scope", None)
    if scope is None:
        return result
    if kind == "len":
        # Under tracing, Tensor.__len__ returns its size as a traced 0-dim tensor, which len()
        # would then turn into an int through __index__: return the int, guarded once as len.
        result = observed = result.__index__() if isinstance(result, torch.Tensor) else result
    elif kind == "iter":
        pieces = tuple(result)
        observed, result = len(pieces), iter(pieces)
    else:
        observed = result
    frame = user_frame(sys._getframe(1))
    location = "" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"
    guard = Guard(kind, observed, location, *scope.describe())
    message = _message(guard.label, location, kind, observed)
    if kind == "index":
        # Slicing a tensor with a traced size (x[:, :n]) reads __index__ too, but libtorch's
        # tracer then records the bound as the traced value: decided once it has (settle).
        scope.pending.append((tensor, guard, message, _C.trace_mark()))
    elif _C.guard(tensor, kind, observed, message):
        scope.found.append(guard)
    return result


# How many nodes after an __index__ conversion the indexing that takes it as a bound may be
# recorded (one per indexed dim); see _C.recorded_by_indexing.
_USE_WINDOW = 16


def settle() -> None:
    """Guards the ``__index__`` conversions of the trace running on this thread whose value the
    trace did not record as traced: those of ``range(n)`` and Python indexing, not those of a
    tensor sliced with a traced size, which libtorch records dynamically (a guard there would
    fire on every other size, where the trace is right). Call at the end of each traced call,
    while it is still tracing."""
    scope: _Scope | None = getattr(_local, "scope", None)
    if scope is None or not scope.pending:
        return
    pending, scope.pending = scope.pending, []
    recorded = _C.recorded_by_indexing([(t, mark) for t, _, _, mark in pending], _USE_WINDOW)
    for (tensor, guard, message, _), traced in zip(pending, recorded, strict=True):
        if not traced and _C.guard(tensor, "index", guard.value, message):
            scope.found.append(guard)


def taps(cls: type) -> list[tuple[str, Any]]:
    """The conversion methods put on `cls` (torch.Tensor) while jittrace traces (see _taps):
    each calls what `cls` has under its name now and, on a thread that is tracing, hands the
    result to ``_convert``. C++ callables: they add no Python frame."""
    return [
        (name, _C.tapped_method(getattr(cls, name), kind, _convert))
        for name, kind in METHODS.items()
    ]


class guarding:  # a context manager named as one used like a function
    """Guards the values that traces run on this thread inside the context take from tensors,
    while the taps are on (``_taps.tapped()``: every jittrace trace with guards opens it).

    Args:
        describe: returns the method and mode being traced (``("forward", "eval")``; a
            function's mode is None), which guard messages start with; called at each
            conversion of a traced tensor, in the middle of the trace, so it must not compute
            with tensors. ``__index__`` conversions are guarded by ``settle()``, which the
            traced call runs before it returns.

    Entering gives the list of the guards added, in order, filled while the context is open.
    A class rather than a generator: every trace enters one.

    Example:
        >>> with guarding(lambda: ("forward", "eval")) as found:  # doctest: +SKIP
        ...     traced = jittrace.jit_trace_module(model.eval(), forward=x)
    """

    __slots__ = ("scope",)

    def __init__(self, describe: Callable[[], tuple[str, str | None]]) -> None:
        self.scope = _Scope(describe, None)

    def __enter__(self) -> list[Guard]:
        self.scope.outer = getattr(_local, "scope", None)
        _local.scope = self.scope
        return self.scope.found

    def __exit__(self, *exc: object) -> None:
        _local.scope = self.scope.outer
