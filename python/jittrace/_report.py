"""The trace report: what a trace may have got wrong, found while tracing and in its graphs.

A trace records operations, not code. The report lists where that may show: TracerWarnings
(attributed to the user's line, not torch's), input sizes baked into the graph as constants,
device constants, operations that draw random numbers, and how far traced outputs are from
eager ones on ``check_inputs``. ``fail_on`` turns chosen kinds of findings into a
``TraceReportError``, for CI.

The graph analysis itself is the core's (``_C.find_in_graph``, ``_C.compare_traces``); this
module matches its findings with the example inputs and words them.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import re
import sys
import time
import types
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

import torch
from torch import nn
from torch.jit._trace import TracerWarning

from . import _C
from ._check import CheckResult, collecting, tolerances
from ._check import _tolerances as _current_tolerances
from ._devices import following_devices, user_frame
from ._errors import InputError, TraceCheckError, TraceReportError
from ._torchscript import method_graph, method_names

__all__ = [
    "KINDS",
    "DeviceConstant",
    "RandomOp",
    "Request",
    "SpecializedSize",
    "TraceReport",
    "TracerWarningFinding",
    "run",
]

#: The kinds of findings, as ``fail_on`` names them (and the report's fields).
KINDS = ("warnings", "specialized", "devices", "random")

T = TypeVar("T")


# ---- What a report holds ----------------------------------------------------------------------


@dataclass(frozen=True)
class TracerWarningFinding:
    """A ``TracerWarning`` raised while tracing.

    Attributes:
        kind: What the traced code did: ``tensor_to_python`` (``int(t)``, ``t.item()``,
            ``bool(t)``, ``t.tolist()``, ``t.numpy()``), ``len``, ``iteration``,
            ``constant_tensor`` (``torch.tensor(...)``), ``container_output``,
            ``view_mutation``, or ``other``.
        message: The warning's text.
        source: ``file.py:LINE`` of the innermost frame outside torch and jittrace, i.e. the
            user's line that caused it; empty if there is none.
        count: How many times it was raised there (each traced mode traces the code again).
    """

    kind: str
    message: str
    source: str
    count: int = 1


@dataclass(frozen=True)
class SpecializedSize:
    """An input dimension whose example size is baked into the trace.

    Attributes:
        method: The traced method (``"forward"``) or the function's name.
        input: The input's path, by parameter name: ``x``, ``batch['mask']``, ``inputs[2]``.
        dim: The dimension.
        size: Its size in the example input.
        ops: The operations that take it as a constant (``aten::view``), or
            ``<graph structure>`` when tracing again at another size recorded other operations.
        found_by: ``"graph"``: a size-like constant of the graph equals this size (a
            candidate: it may be a size the model fixes anyway, such as a hidden size);
            ``"retrace"``: tracing again with this dimension one larger changed the graph
            (confirmed; asked for with ``probe_sizes``).
    """

    method: str
    input: str
    dim: int
    size: int
    ops: tuple[str, ...]
    found_by: str


@dataclass(frozen=True)
class DeviceConstant:
    """A device constant in the graph: the tensors made with it stay on that device.

    Devices taken from a tensor (``device=x.device``) follow that tensor and are not listed;
    these are devices the code names (``torch.device("cpu")``) or leaves to the default
    (``torch.ones(3)``).

    Attributes:
        method: The traced method or the function's name.
        modes: The traced modes whose graphs hold it (``()`` for a function).
        op: The operation that takes it (``aten::zeros``).
        device: ``"cpu"``, ``"cuda:0"``...
        source: ``file.py:LINE`` of the call that made it, when known.
    """

    method: str
    modes: tuple[str, ...]
    op: str
    device: str
    source: str


@dataclass(frozen=True)
class RandomOp:
    """An operation whose result depends on the random state (dropout in train mode, rand).

    Attributes:
        method: The traced method or the function's name.
        modes: The traced modes whose graphs hold it (``()`` for a function).
        op: The operation, e.g. ``aten::dropout``.
        count: How many such nodes the graph of one mode holds.
    """

    method: str
    modes: tuple[str, ...]
    op: str
    count: int = 1


@dataclass(frozen=True)
class TraceReport:
    """What a trace may have got wrong, and how its outputs compare with eager ones.

    Ask for it with ``report=True`` (or ``fail_on=...``, or ``probe_sizes=True``) in
    ``jit_trace`` / ``jit_trace_module``; the result then carries it as ``.trace_report``.

    Attributes:
        warnings: TracerWarnings raised while tracing, by the user's line.
        specialized: Input dimensions baked into the trace as constants.
        devices: Device constants left in the graphs.
        random: Operations that draw random numbers.
        checks: Largest differences per method, mode and output path on ``check_inputs``.
        timings: Seconds by phase: ``trace`` (tracing and checks), ``report``, ``probe``.

    >>> import torch, jittrace
    >>> def flatten(x):
    ...     return x.view(int(x.shape[0]), -1)
    >>> traced = jittrace.jit_trace(flatten, torch.randn(3, 4), report=True)
    >>> [(f.input, f.dim, f.size) for f in traced.trace_report.specialized]
    [('x', 0, 3)]
    """

    warnings: tuple[TracerWarningFinding, ...] = ()
    specialized: tuple[SpecializedSize, ...] = ()
    devices: tuple[DeviceConstant, ...] = ()
    random: tuple[RandomOp, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)

    def findings(self, kinds: Collection[str] = KINDS) -> list[str]:
        """One line per finding of the given kinds (``KINDS`` by default), for people."""
        lines: list[str] = []
        if "warnings" in kinds:
            for w in self.warnings:
                first = w.message.strip().splitlines()[0] if w.message.strip() else ""
                lines.append(f"TracerWarning ({w.kind}) at {w.source or '?'}: {first}")
        if "specialized" in kinds:
            for s in self.specialized:
                how = "confirmed by tracing again" if s.found_by == "retrace" else "from the graph"
                lines.append(
                    f"{s.method}: {s.input}.shape[{s.dim}] = {s.size} is a constant of "
                    f"{', '.join(s.ops)} ({how})"
                )
        if "devices" in kinds:
            for d in self.devices:
                lines.append(
                    f"{d.method}{_modes(d.modes)}: device '{d.device}' is a constant of {d.op} "
                    f"at {d.source or '?'}"
                )
        if "random" in kinds:
            for r in self.random:
                lines.append(f"{r.method}{_modes(r.modes)}: {r.op} draws random numbers")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON values (infinite and NaN differences become ``None``)."""
        return {
            "warnings": [asdict(w) for w in self.warnings],
            "specialized": [{**asdict(s), "ops": list(s.ops)} for s in self.specialized],
            "devices": [{**asdict(d), "modes": list(d.modes)} for d in self.devices],
            "random": [{**asdict(r), "modes": list(r.modes)} for r in self.random],
            "checks": [check_dict(c) for c in self.checks],
            "timings": {k: round(v, 6) for k, v in self.timings.items()},
        }

    def __str__(self) -> str:
        lines = self.findings() or ["no findings"]
        for c in self.checks:
            lines.append(
                f"check {c.method}{_modes((c.mode,) if c.mode else ())} {c.output}: "
                f"max abs diff {_number(c.max_abs_diff)}, max rel diff "
                f"{_number(c.max_rel_diff)} ({'ok' if c.ok else 'FAILED'})"
            )
        return "\n".join(lines)


def check_dict(check: CheckResult) -> dict[str, Any]:
    """A check result as JSON values: non-finite differences become ``None``."""
    out = asdict(check)
    for key in ("max_abs_diff", "max_rel_diff"):
        value = out[key]
        out[key] = value if value is not None and math.isfinite(value) else None
    return out


def _modes(modes: Sequence[str]) -> str:
    return f" ({'+'.join(modes)} mode)" if modes else ""


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


# ---- What was asked for -----------------------------------------------------------------------


@dataclass
class Request:
    """A trace and what its caller asked of the report, checked by `run` before tracing.

    `inputs` maps each traced method (None: the function) to its example inputs as the public
    function took them and its keyword inputs.
    """

    api: str
    target: Any
    inputs: Mapping[str | None, tuple[Any, Mapping[str, Any] | None]]
    strict: Any
    report: Any = False
    fail_on: Any = None
    probe_sizes: Any = False
    atol: Any = None
    rtol: Any = None
    variants: Any = None  # as the public function took them


def _check_request(r: Request) -> frozenset[str]:
    """Validates the report's arguments; returns the fail_on kinds."""
    for name in ("report", "probe_sizes"):
        value = getattr(r, name)
        if not isinstance(value, bool):
            raise InputError(f"[{r.api}] {name} must be True or False, not {value!r}")
    for name in ("atol", "rtol"):
        value = getattr(r, name)
        ok = value is None or (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= 0
        )
        if not ok:
            raise InputError(f"[{r.api}] {name} must be a finite number >= 0, not {value!r}")
    fail_on = r.fail_on
    if fail_on is None:
        return frozenset()
    kinds = [fail_on] if isinstance(fail_on, str) else fail_on
    if not isinstance(kinds, Collection) or not all(isinstance(k, str) for k in kinds):
        raise InputError(
            f"[{r.api}] fail_on must be a kind of finding or a list of them, not "
            f"{type(fail_on).__name__}"
        )
    chosen: set[str] = set()
    for kind in kinds:
        if kind == "all":
            chosen.update(KINDS)
        elif kind in KINDS:
            chosen.add(kind)
        else:
            raise InputError(
                f"[{r.api}] fail_on: {kind!r} is not a kind of finding; kinds: "
                f"{', '.join(KINDS)} (or 'all')"
            )
    return frozenset(chosen)


# ---- Running a trace with its report ----------------------------------------------------------


def run(r: Request, trace: Callable[[], T]) -> T:
    """Runs `trace` with devices following their tensors, check results collected and, when
    asked, warnings recorded; then builds the report, attaches it and applies fail_on."""
    fail_on = _check_request(r)
    wanted = r.report or bool(fail_on) or r.probe_sizes
    if not wanted and r.rtol is None and r.atol is None:  # the common case, kept cheap
        with collecting() as collected, following_devices():
            try:
                return trace()
            except TraceCheckError as e:
                e.checks = tuple(collected)  # type: ignore[attr-defined]  # for the CLI's report
                raise
    rtol, atol = _current_tolerances.get()
    rtol = rtol if r.rtol is None else float(r.rtol)
    atol = atol if r.atol is None else float(r.atol)
    caught: list[_Caught] = []
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(tolerances(rtol, atol))
        checks = stack.enter_context(collecting())
        stack.enter_context(following_devices(stamp=wanted))
        if wanted:
            stack.enter_context(_recording_warnings(caught))
        try:
            traced = trace()
        except TraceCheckError as e:
            e.checks = tuple(checks)  # type: ignore[attr-defined]  # for the CLI's report
            raise
    traced_at = time.perf_counter()
    if not wanted:
        return traced
    report = TraceReport(
        warnings=_warnings(caught),
        checks=tuple(checks),
        **_from_graphs(r, traced),
    )
    timings = {"trace": traced_at - started, "report": time.perf_counter() - traced_at}
    if r.probe_sizes:
        probing = time.perf_counter()
        report = replace(report, specialized=_probe(r, traced, report.specialized))
        timings["probe"] = time.perf_counter() - probing
    report = replace(report, timings=timings)
    object.__setattr__(traced, "trace_report", report)  # plain attribute, not a TorchScript one
    if fail_on:
        found = report.findings(fail_on)
        if found:
            more = f"; and {len(found) - 1} more" if len(found) > 1 else ""
            raise TraceReportError(
                f"[{r.api}] the trace has {len(found)} finding(s) of a kind that fail_on makes "
                f"an error ({', '.join(k for k in KINDS if k in fail_on)}): {found[0]}{more}",
                report,
            )
    return traced


# ---- TracerWarnings ---------------------------------------------------------------------------


@dataclass
class _Caught:
    message: Warning | str
    category: type[Warning]
    filename: str
    lineno: int
    source: str  # the user's line
    where: dict[str, Any] | None  # the globals of the frame that issued it


_WARNING_KINDS = [
    ("tensor_to_python", re.compile(r"Converting a tensor to a (Python|NumPy)")),
    ("len", re.compile(r"Using len to get tensor shape")),
    ("iteration", re.compile(r"Iterating over a tensor")),
    ("constant_tensor", re.compile(r"results are registered as constants")),
    ("container_output", re.compile(r"container structure does not change")),
    ("view_mutation", re.compile(r"because all other views")),
]


def warning_kind(message: str) -> str:
    """The kind of a TracerWarning, from its text (see TracerWarningFinding.kind)."""
    for kind, pattern in _WARNING_KINDS:
        if pattern.search(message):
            return kind
    return "other"


@contextlib.contextmanager
def _recording_warnings(caught: list[_Caught]) -> Iterator[None]:
    """Records every warning with the user's line (for the report), then issues each one
    again as it was issued (same place, same module), so the filters in force, torch's hiding
    of TracerWarnings raised inside torch included, decide what the user sees as before.

    Like any use of ``warnings.catch_warnings``, this changes process-wide state while the
    trace runs.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = functools.partial(_show, caught)
            yield
    finally:  # also when the trace raised: its warnings came first
        _reissue(caught)


def _show(
    caught: list[_Caught],
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    caller = sys._getframe(1)
    issuer = caller
    while issuer is not None and not (
        issuer.f_code.co_filename == filename and issuer.f_lineno == lineno
    ):
        issuer = issuer.f_back  # type: ignore[assignment]
    user = user_frame(caller)
    source = "" if user is None else f"{user.f_code.co_filename}:{user.f_lineno}"
    where = None if issuer is None else issuer.f_globals
    caught.append(_Caught(message, category, filename, lineno, source, where))


def _reissue(caught: Sequence[_Caught]) -> None:
    for c in caught:
        module = registry = None
        if c.where is not None:
            module = c.where.get("__name__")
            registry = c.where.setdefault("__warningregistry__", {})
        warnings.warn_explicit(c.message, c.category, c.filename, c.lineno, module, registry)


def _warnings(caught: Sequence[_Caught]) -> tuple[TracerWarningFinding, ...]:
    found: dict[tuple[str, str], TracerWarningFinding] = {}
    for c in caught:
        if not issubclass(c.category, TracerWarning):
            continue
        message = str(c.message)
        key = (message, c.source)
        old = found.get(key)
        found[key] = (
            replace(old, count=old.count + 1)
            if old
            else TracerWarningFinding(warning_kind(message), message, c.source)
        )
    return tuple(found.values())


# ---- Findings in the graphs -------------------------------------------------------------------


def _what(r: Request) -> tuple[nn.Module | None, Callable[..., Any]]:
    """The module traced (None for a function) and, for a function, the function."""
    target = r.target
    if isinstance(target, nn.Module):
        return target, target
    if isinstance(target, types.MethodType) and isinstance(target.__self__, nn.Module):
        return target.__self__, target
    return None, target


def _method_name(r: Request, name: str | None) -> str:
    if name is not None:
        return name
    module, func = _what(r)
    if module is not None:
        return func.__name__ if isinstance(func, types.MethodType) else "forward"
    return _label(func)


def _label(func: Callable[..., Any]) -> str:
    """How checks and findings name a traced function (as jit_trace names it in checks)."""
    return getattr(func, "__qualname__", None) or type(func).__name__


def _graphs(r: Request, traced: Any) -> list[tuple[str, str | None, Any]]:
    """(method, mode, graph) of every trace in `traced`; a method traced for several values of
    its non-tensor arguments has one trace per variant (``trainforward__0``, ...)."""
    if not isinstance(traced, torch.jit.ScriptModule):
        # A function's dispatcher calls its variants: inlined, it holds them all.
        return [(_method_name(r, None), None, traced.inlined_graph)]
    names = set(method_names(traced))

    def traces(base: str) -> list[Any]:
        variants: list[Any] = []
        while f"{base}__{len(variants)}" in names:
            variants.append(method_graph(traced, f"{base}__{len(variants)}"))
        return variants or [method_graph(traced, base)]

    out: list[tuple[str, str | None, Any]] = []
    for key in r.inputs:
        name = _method_name(r, key)
        if f"train{name}" in names and f"eval{name}" in names:
            for mode in ("train", "eval"):
                out.extend((name, mode, g) for g in traces(f"{mode}{name}"))
        else:
            mode = "train" if traced.training else "eval"
            out.extend((name, mode, g) for g in traces(name))
    return out


def _from_graphs(r: Request, traced: Any) -> dict[str, Any]:
    sizes: dict[tuple[str, str, int], SpecializedSize] = {}
    devices: dict[tuple[str, str, str, str], DeviceConstant] = {}
    randoms: dict[tuple[str, str], RandomOp] = {}
    leaves = {_method_name(r, key): _leaves(r, key) for key in r.inputs}
    for method, mode, graph in _graphs(r, traced):
        found = _C.find_in_graph(graph)
        modes = (mode,) if mode else ()
        for path, tensor in leaves.get(method, []):
            for dim, size in enumerate(tensor.shape):
                ops = tuple(dict.fromkeys(op for op, _, value in found["sizes"] if value == size))
                if size < 2 or not ops:
                    continue
                skey = (method, path, dim)
                old = sizes.get(skey)
                merged = ops if old is None else tuple(dict.fromkeys(old.ops + ops))
                sizes[skey] = SpecializedSize(method, path, dim, size, merged, "graph")
        for op, device, source in found["devices"]:
            dkey: tuple[str, str, str, str] = (method, op, device, source)
            dold = devices.get(dkey)
            devices[dkey] = DeviceConstant(
                method, (dold.modes if dold else ()) + modes, op, device, source
            )
        counts: dict[str, int] = {}
        for op in found["random"]:
            counts[op] = counts.get(op, 0) + 1
        for op, count in counts.items():
            rold = randoms.get((method, op))
            randoms[(method, op)] = RandomOp(
                method,
                (rold.modes if rold else ()) + modes,
                op,
                max(count, rold.count if rold else 0),
            )
    for key, d in devices.items():
        devices[key] = replace(d, modes=tuple(dict.fromkeys(d.modes)))
    return {
        "specialized": tuple(sizes.values()),
        "devices": tuple(devices.values()),
        "random": tuple(randoms.values()),
    }


def _arguments(r: Request, key: str | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword example inputs of one method. A method's inputs as
    jit_trace_module takes them: a tuple or list holds the positional arguments, anything
    else is the one argument."""
    inputs, kwargs = r.inputs[key]
    if key is not None and not isinstance(inputs, (tuple, list)):
        inputs = (inputs,)
    return tuple(inputs), dict(kwargs or {})


def _leaves(r: Request, key: str | None) -> list[tuple[str, torch.Tensor]]:
    """(path, tensor) of every example input tensor of one method, named by parameter."""
    args, kwargs = _arguments(r, key)
    module, func = _what(r)
    call = getattr(module, key) if module is not None and key is not None else func
    if isinstance(call, nn.Module):
        call = call.forward
    names: list[str] = []
    with contextlib.suppress(TypeError, ValueError):
        names = [
            p.name
            for p in inspect.signature(call).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    out: list[tuple[str, torch.Tensor]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, torch.Tensor):
            out.append((path, value))
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{path}[{k!r}]")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    for i, value in enumerate(args):
        walk(value, names[i] if i < len(names) else f"inputs[{i}]")
    for name, value in kwargs.items():
        walk(value, name)
    return out


# ---- Tracing again at other sizes -------------------------------------------------------------


def _grown(value: Any, target: torch.Tensor, dim: int) -> Any:
    """`value` with the tensor `target` one larger along `dim` (its first slice repeated)."""
    if value is target:
        return torch.cat([target, target.narrow(dim, 0, 1)], dim=dim).detach()
    if isinstance(value, Mapping):
        return type(value)({k: _grown(v, target, dim) for k, v in value.items()})  # type: ignore[call-arg]
    if isinstance(value, tuple):
        return tuple(_grown(v, target, dim) for v in value)
    if isinstance(value, list):
        return [_grown(v, target, dim) for v in value]
    return value


def _inlined(traced: Any, method: str, mode: str | None) -> Any:
    """The graph of `method` in `mode` with the calls it makes inlined (a dispatcher's
    variants), or None if it was not traced in that mode."""
    if not isinstance(traced, torch.jit.ScriptModule):
        return traced.inlined_graph
    names = set(method_names(traced))
    for name in (f"{mode}{method}", method):
        if name in names:
            return method_graph(traced, name, inlined=True)
    return None


def _probe(
    r: Request, traced: Any, from_graph: Sequence[SpecializedSize]
) -> tuple[SpecializedSize, ...]:
    """Traces each method again with each input dimension one larger, in the mode the module
    is in, and keeps the dimensions whose change changed the graph. A dimension the model
    cannot take another size of (the trace raises) is fixed by the model, not specialised."""
    from ._api import jit_trace, jit_trace_module  # a cycle at import time

    module, func = _what(r)
    mode = None if module is None else ("train" if module.training else "eval")
    probed: set[tuple[str, str, int]] = set()
    found: list[SpecializedSize] = []
    for key in r.inputs:
        method = _method_name(r, key)
        original = _inlined(traced, method, mode)
        if original is None:  # not traced in this mode
            continue
        variants = r.variants if module is None or r.variants is None else r.variants.get(method)
        args, kwargs = _arguments(r, key)
        for path, tensor in _leaves(r, key):
            for dim, size in enumerate(tensor.shape):
                if size == 0:
                    continue
                probed.add((method, path, dim))
                new_args = _grown(args, tensor, dim)
                new_kwargs = _grown(kwargs, tensor, dim)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        if module is None:
                            graph = _inlined(jit_trace(
                                func, *new_args, strict=r.strict,
                                example_kwarg_inputs=new_kwargs or None, variants=variants,
                            ), method, None)  # fmt: skip
                        else:
                            again = jit_trace_module(
                                module, strict=r.strict, respect_mode=False,
                                example_kwarg_inputs={method: new_kwargs} if new_kwargs else None,
                                variants=None if variants is None else {method: variants},
                                **{method: new_args},
                            )  # fmt: skip
                            graph = _inlined(again, method, None)
                except Exception:  # any failure: the model fixes this size
                    continue
                changes = _C.compare_traces(original, graph)
                if changes is None:
                    ops: tuple[str, ...] = ("<graph structure>",)
                else:
                    ops = tuple(dict.fromkeys(op for op, _, _ in changes))
                if ops:
                    found.append(SpecializedSize(method, path, dim, size, ops, "retrace"))
    kept = [s for s in from_graph if (s.method, s.input, s.dim) not in probed]
    return tuple(kept + found)
