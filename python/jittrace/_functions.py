"""Custom autograd Functions (``torch.autograd.Function``) met while tracing.

libtorch's tracer records ``SomeFunction.apply(x)`` as one ``prim::PythonOp`` node that calls
back into Python. The trace runs in memory, but ``torch.jit.save`` refuses it ("Could not
export Python function call 'SomeFunction'"), so ``torch.jit.trace`` users find out only when
they save, and a C++ program could never run it. jittrace finds it at trace time instead:

- ``autograd_functions="refuse"`` (the default): a trace that records a ``prim::PythonOp`` of a
  Function is an ``InputError`` naming the Function, the method, the mode and the line that
  called ``.apply``.
- ``autograd_functions="inline"``: while jittrace traces, ``SomeFunction.apply(*args)`` runs
  ``SomeFunction.forward`` itself (with a stand-in ``ctx``), so the trace records the
  ordinary operations of the forward and the file saves and runs anywhere. The Function's
  custom ``backward`` is not traced: gradients of the traced code are autograd's gradients of
  those operations (a straight-through estimator's ``round`` then has a zero gradient, a
  gradient-reversal layer passes gradients unchanged). Every Function traced through is
  recorded (``InlinedFunction``).

To know where ``.apply`` was called (a ``prim::PythonOp`` has a source range only with
``record_source_locations``), ``torch.autograd.Function.apply`` is wrapped while any thread
traces with jittrace; the wrapper acts only on a thread inside a jittrace trace and calls
torch's own ``apply`` everywhere else, and the original is put back when the last trace ends.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import torch
from torch.autograd.function import Function, FunctionCtx

from ._errors import InputError, user_location

__all__ = ["HOW", "How", "InlinedFunction", "autograd_functions", "check", "how_of", "tap"]

#: What a trace does with custom autograd Functions (see the module docstring).
How: TypeAlias = Literal["refuse", "inline"]
HOW: tuple[How, ...] = ("refuse", "inline")


def how_of(api: str, value: object) -> How:
    """The `autograd_functions` option as given, checked."""
    if value == "refuse" or value == "inline":
        return value
    raise InputError(f"[{api}] autograd_functions must be 'refuse' or 'inline', not {value!r}")


@dataclass(frozen=True)
class InlinedFunction:
    """A custom autograd Function whose forward a trace recorded as ordinary operations.

    Attributes:
        function: The Function's ``module.qualname``.
        method: The traced method (a function's short name for a function).
        mode: ``"train"``, ``"eval"``, or None for a function.
        location: ``file.py:LINE`` where ``.apply`` was called (empty if unknown).
    """

    function: str
    method: str
    mode: str | None
    location: str


@dataclass(frozen=True)
class _Call:
    """One ``.apply`` seen while tracing: the Function, the user's line, and the graph of the
    trace it happened in (the graph object the core's record holds: how it is matched)."""

    cls: type
    location: str
    graph: torch.Graph


class autograd_functions:  # a context manager named as one used like a function
    """Traces inside this context (on this thread) handle custom autograd Functions as `how`
    says. ``check(api, traces, what)`` is called with the core's records of each trace: it
    raises for ``"refuse"`` and notes the Functions traced through for ``"inline"``, which
    ``inlined`` then lists."""

    __slots__ = ("_calls", "_checked", "how", "inlined", "outer")

    def __init__(self, how: str = "refuse") -> None:
        self.how = how
        self.inlined: list[InlinedFunction] = []
        self.outer: autograd_functions | None = None
        self._calls: list[_Call] = []
        self._checked: set[int] = set()  # ids of the graphs already checked

    def __enter__(self) -> autograd_functions:
        self.outer = getattr(_local, "scope", None)  # a trace attempted from traced code
        _local.scope = self
        return self

    def __exit__(self, *exc: object) -> None:
        _local.scope = self.outer

    def check(self, api: str, traces: Sequence[Any], what: Any) -> None:
        """Looks at the core's records of traces (``Trace``): with ``"refuse"``, a
        ``prim::PythonOp`` of a Function in any of them is an ``InputError``; with
        ``"inline"``, the Functions traced through in them join ``inlined``.
        `what(method)` is how messages name a method (``Net.forward``)."""
        for trace in traces:
            if id(trace.graph) in self._checked:
                continue
            self._checked.add(id(trace.graph))
            calls = [c for c in self._calls if c.graph is trace.graph]
            if self.how == "inline":
                self.inlined.extend(
                    InlinedFunction(_dotted(c.cls), trace.method, trace.mode, c.location)
                    for c in calls
                )
                continue
            # In C++, nested blocks too: a walk in Python would double the cost of a small trace.
            for node in trace.graph.findAllNodes("prim::PythonOp", True):
                cls = _function_of(node)
                if cls is None:
                    continue  # not a Function's (none is known): left as torch leaves it
                location = next((c.location for c in calls if c.cls is cls), "")
                raise InputError(_refusal(api, what(trace.method), trace.mode, cls, location))

    def apply(self, cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``cls.apply(*args, **kwargs)`` on this thread while it traces."""
        graph = torch._C._get_tracing_state().graph()
        location = user_location()  # the caller of .apply
        self._calls.append(_Call(cls, location, graph))
        if self.how == "inline":
            return _forward(cls, args, kwargs)
        try:
            return _torch_apply(cls, args, kwargs)  # recorded as prim::PythonOp
        except Exception as e:
            # torch's tracer can fail recording it (reentrant checkpointing: "unordered_map::at");
            # the error stays the traced code's, with a note on the way through.
            at = f" at {location}" if location else ""
            _add_note(
                e,
                f"jittrace: raised by the custom autograd Function {_dotted(cls)}{at} while "
                "torch's tracer recorded it as a Python call (prim::PythonOp), which a saved "
                "file could not hold anyway; autograd_functions='inline' traces its forward as "
                "ordinary operations",
            )
            raise


def check(api: str, traces: Sequence[Any], what: Any) -> None:
    """``autograd_functions.check`` of the innermost trace context on this thread (none: a
    trace made outside one, which needs no check)."""
    scope: autograd_functions | None = getattr(_local, "scope", None)
    if scope is not None:
        scope.check(api, traces, what)


def _add_note(e: BaseException, note: str) -> None:
    """``e.add_note(note)`` (Python 3.11; on 3.10 the note is kept but not shown)."""
    if sys.version_info >= (3, 11):
        e.add_note(note)
    else:
        setattr(e, "__notes__", [*getattr(e, "__notes__", ()), note])  # noqa: B010


def _refusal(api: str, what: str, mode: str | None, cls: type, location: str) -> str:
    where = f" in {mode} mode" if mode is not None else ""
    at = f" at {location}" if location else ""
    name = cls.__name__
    return (
        f"[{api}] {what}{where} calls the custom autograd Function {_dotted(cls)}{at}: "
        "the tracer records it as a Python call (prim::PythonOp), which runs in memory but "
        f"cannot be saved (torch.jit.save: \"Could not export Python function call '{name}'\") "
        "nor run from C++; pass autograd_functions='inline' to trace its forward as ordinary "
        "operations (its custom backward is then replaced by autograd of those operations), "
        f"or rewrite {name} as plain tensor operations"
    )


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _function_of(node: Any) -> type | None:
    """The Function class a ``prim::PythonOp`` calls (its Python object is the bound
    ``SomeFunction.apply``), or None."""
    owner = getattr(node.pyobj(), "__self__", None)
    if isinstance(owner, type) and issubclass(owner, Function):
        return owner
    return None


class _Context(FunctionCtx):
    """The ``ctx`` of a Function's forward traced through: records what the forward asks of
    it so that forward code runs as under autograd. Nothing here reaches the trace except
    outputs marked non-differentiable, which are detached (so gradients stop there, as the
    Function declared)."""

    def __init__(self, cls: type, args: Sequence[Any]) -> None:
        grad = torch.is_grad_enabled()
        self._forward_cls = cls
        self.needs_input_grad = tuple(
            grad and isinstance(a, torch.Tensor) and a.requires_grad for a in args
        )
        self.materialize_grads = True
        self.to_save: tuple[Any, ...] = ()
        self.non_differentiable: tuple[Any, ...] = ()
        self.dirty_tensors: tuple[Any, ...] = ()

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        return tuple(self.to_save)

    saved_variables = saved_tensors

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value

    def outputs(self, output: Any) -> Any:
        """`output` with the tensors marked non-differentiable detached."""
        marked = {id(t) for t in self.non_differentiable if isinstance(t, torch.Tensor)}
        if not marked:
            return output
        if isinstance(output, torch.Tensor):
            return output.detach() if id(output) in marked else output
        if isinstance(output, tuple):
            return tuple(
                o.detach() if isinstance(o, torch.Tensor) and id(o) in marked else o for o in output
            )
        return output


def _forward(cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What ``cls.apply(*args, **kwargs)`` computes, by the Function's forward, in the
    current grad mode (so autograd differentiates its operations)."""
    if cls.setup_context is not Function.setup_context:
        # The newer style: forward(*args) without ctx, then setup_context(ctx, inputs, output).
        bound = inspect.signature(cls.forward).bind(*args, **kwargs)
        bound.apply_defaults()
        ctx = _Context(cls, bound.args)
        output = cls.forward(*bound.args, **bound.kwargs)
        cls.setup_context(ctx, bound.args, output)
    else:
        ctx = _Context(cls, args)
        output = cls.forward(ctx, *args, **kwargs)
    return ctx.outputs(output)


_local = threading.local()
# What Function's class dict held for "apply" before the wrapper went in (torch's classmethod).
_saved: Any = None


def _torch_apply(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _saved.__get__(None, cls)(*args, **kwargs)


def _apply(cls: type, *args: Any, **kwargs: Any) -> Any:
    """Function.apply while jittrace traces on some thread: torch's own unless this thread is
    inside a jittrace trace."""
    scope: autograd_functions | None = getattr(_local, "scope", None)
    if scope is None or not torch._C._get_tracing_state():
        return _torch_apply(cls, args, kwargs)
    return scope.apply(cls, args, kwargs)


_WRAPPED: classmethod[Any, ..., Any] = classmethod(_apply)


def tap(torch_apply: Any) -> classmethod[Any, ..., Any]:
    """What Function's class dict holds for "apply" while jittrace traces (see _taps), given
    what it held before (torch's classmethod), which the wrapper calls everywhere else."""
    global _saved
    _saved = torch_apply  # stays after the taps go: another thread may be inside _apply still
    return _WRAPPED
