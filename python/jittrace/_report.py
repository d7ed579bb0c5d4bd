"""The trace report: what a trace may have got wrong, found while tracing and in its graphs.

A trace records operations, not code. The report lists where that may show: TracerWarnings
(attributed to the user's line, not torch's), input sizes baked into the graph as constants,
device constants, operations that draw random numbers, and how far traced outputs are from
eager ones on ``check_inputs``. ``fail_on`` turns chosen kinds of findings into a
``TraceReportError``, for CI.

The report observes: the trace pipeline hands it a finished trace (``Observed``: the core's
records of every trace, the example inputs, the warnings and check results) and a callable that
traces again, for probes. Nothing here runs unless a report is asked for. The graph analysis
itself is the core's (``_C.find_in_graph``, ``_C.compare_traces``); this module matches its
findings with the example inputs and words them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import re
import sys
import time
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch.jit._trace import TracerWarning

from . import _C
from ._check import Call, CheckResult
from ._errors import TraceReportError, user_frame
from ._functions import InlinedFunction
from ._guards import Guard
from ._interface import Trace
from ._options import KINDS, ReportOptions

__all__ = [
    "KINDS",
    "DeviceConstant",
    "Observed",
    "RandomOp",
    "SpecializedSize",
    "TraceReport",
    "TracerWarningFinding",
    "observe",
    "recording_warnings",
]


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
        ops: The operations that take it as a constant (``aten::view``), ``guard`` when a
            guard checks a value computed from it, or ``<graph structure>`` when tracing again
            at another size recorded other operations.
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

    Ask for it with ``report=True`` (or ``report=jittrace.ReportOptions(...)``) in
    ``jit_trace`` / ``jit_trace_module``; the result then carries it as ``.trace_report``.

    Attributes:
        warnings: TracerWarnings raised while tracing, by the user's line.
        guards: Values the traced code took from traced tensors, each checked on every call
            by a guard in the graph (``jittrace.Guard``: method, mode, kind, traced value,
            line). Facts: the trace depends on these values.
        functions: Custom autograd Functions whose forward was traced as ordinary operations
            (``autograd_functions="inline"``): their custom backward is replaced by autograd
            of those operations.
        specialized: Input dimensions baked into the trace as constants: candidates read from
            the graph (``found_by="graph"``, often sizes the model fixes anyway), or facts
            confirmed by tracing again (``found_by="retrace"``, with ``probe_sizes``).
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
    guards: tuple[Guard, ...] = ()
    functions: tuple[InlinedFunction, ...] = ()
    specialized: tuple[SpecializedSize, ...] = ()
    devices: tuple[DeviceConstant, ...] = ()
    random: tuple[RandomOp, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)

    def findings(self, kinds: Collection[str] = KINDS, facts_only: bool = False) -> list[str]:
        """One line per finding of the given kinds (``KINDS`` by default), for people. With
        `facts_only`, specialised sizes read from the graph (candidates) are left out: what
        ``fail_on`` acts on."""
        lines: list[str] = []
        if not facts_only:  # information, never an error
            for f in self.functions:
                lines.append(
                    f"{f.method}{_modes((f.mode,) if f.mode else ())}: autograd Function "
                    f"{f.function} at {f.location or '?'} traced through: its forward as "
                    "operations, its backward by autograd of them"
                )
        if "guards" in kinds:
            for g in self.guards:
                lines.append(
                    f"{g.label}: guard at {g.location or '?'}: the trace took {g.value!r} from a "
                    f"tensor ({g.kind}) and checks it on every call"
                )
        if "warnings" in kinds:
            for w in self.warnings:
                first = w.message.strip().splitlines()[0] if w.message.strip() else ""
                lines.append(f"TracerWarning ({w.kind}) at {w.source or '?'}: {first}")
        if "specialized" in kinds:
            for s in self.specialized:
                if facts_only and s.found_by != "retrace":
                    continue
                how = (
                    "confirmed by tracing again"
                    if s.found_by == "retrace"
                    else "a candidate, from the graph"
                )
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
            "guards": [_guard_dict(g) for g in self.guards],
            "functions": [asdict(f) for f in self.functions],
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


def _guard_dict(guard: Guard) -> dict[str, Any]:
    """A guard as JSON values (a value JSON cannot hold, such as NaN, as its repr)."""
    out = asdict(guard)
    try:
        json.dumps(out["value"], allow_nan=False)
    except (TypeError, ValueError):
        out["value"] = repr(guard.value)
    return out


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


# ---- What the report observes ---------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """A finished trace, as the report reads it.

    Attributes:
        api: The public function called, for messages.
        labels: How findings name each traced method (a function: its name).
        inputs: Each method's example arguments by parameter name.
        calls: Each method's example call, as traced (grown for probes).
        traces: The core's records of each method's traces.
        mode: The mode a module is in (probes trace that one); None for a function.
        warnings: The warnings recorded while tracing (see recording_warnings).
        guards: The guards the traces got.
        functions: The custom autograd Functions traced through (``autograd_functions=
            "inline"``).
        checks: The results of the checks.
        seconds: How long tracing and checking took.
    """

    api: str
    labels: Mapping[str, str]
    inputs: Mapping[str, Mapping[str, Any]]
    calls: Mapping[str, Call]
    traces: Mapping[str, Sequence[Trace]]
    mode: str | None
    warnings: Sequence[_Caught]
    guards: Sequence[Guard]
    functions: Sequence[InlinedFunction]
    checks: Sequence[CheckResult]
    seconds: float


#: Traces the same target again with other example calls, in `Observed.mode`; returns the
#: records of each method's traces.
Retrace = Callable[[Mapping[str, Call]], Mapping[str, Sequence[Trace]]]


def observe(seen: Observed, options: ReportOptions, retrace: Retrace) -> TraceReport:
    """The report of a finished trace; raises TraceReportError for a finding of a kind that
    ``options.fail_on`` names (the report is the error's ``report``)."""
    started = time.perf_counter()
    report = TraceReport(
        warnings=_warnings(seen.warnings),
        guards=tuple(seen.guards),
        functions=tuple(seen.functions),
        checks=tuple(seen.checks),
        **_from_graphs(seen),
    )
    timings = {"trace": seen.seconds, "report": time.perf_counter() - started}
    if options.probe_sizes:
        probing = time.perf_counter()
        report = replace(report, specialized=_probe(seen, retrace, report.specialized))
        timings["probe"] = time.perf_counter() - probing
    report = replace(report, timings=timings)
    fail_on = options.fail_on
    found = report.findings(fail_on, facts_only=True) if fail_on else []
    if found:
        more = f"; and {len(found) - 1} more" if len(found) > 1 else ""
        raise TraceReportError(
            f"[{seen.api}] the trace has {len(found)} finding(s) of a kind that fail_on makes "
            f"an error ({', '.join(k for k in KINDS if k in fail_on)}): {found[0]}{more}",
            report,
        )
    return report


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
def recording_warnings(caught: list[_Caught]) -> Iterator[None]:
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


def _from_graphs(seen: Observed) -> dict[str, Any]:
    sizes: dict[tuple[str, str, int], SpecializedSize] = {}
    devices: dict[tuple[str, str, str, str], DeviceConstant] = {}
    randoms: dict[tuple[str, str], RandomOp] = {}
    for key, traces in seen.traces.items():
        method = seen.labels[key]
        leaves = _leaves(seen.inputs[key])
        for trace in traces:
            found = _C.find_in_graph(trace.graph)
            modes = (trace.mode,) if trace.mode else ()
            for path, tensor in leaves:
                for dim, size in enumerate(tensor.shape):
                    ops = tuple(
                        dict.fromkeys(op for op, _, value in found["sizes"] if value == size)
                    )
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
                    tuple(dict.fromkeys((rold.modes if rold else ()) + modes)),
                    op,
                    max(count, rold.count if rold else 0),
                )
    for dkey, d in devices.items():
        devices[dkey] = replace(d, modes=tuple(dict.fromkeys(d.modes)))
    return {
        "specialized": tuple(sizes.values()),
        "devices": tuple(devices.values()),
        "random": tuple(randoms.values()),
    }


def _leaves(inputs: Mapping[str, Any]) -> list[tuple[str, torch.Tensor]]:
    """(path, tensor) of every example input tensor of one method, named by parameter."""
    out: list[tuple[str, torch.Tensor]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, torch.Tensor):
            if not value.is_nested:  # a nested tensor has no sizes to specialise on
                out.append((path, value))
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{path}[{k!r}]")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    for name, value in inputs.items():
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


def _probe(
    seen: Observed, retrace: Retrace, from_graph: Sequence[SpecializedSize]
) -> tuple[SpecializedSize, ...]:
    """Traces each method again with each input dimension one larger, in the mode the module
    is in, and keeps the dimensions whose change changed the graph. A dimension the model
    cannot take another size of (the trace raises) is fixed by the model, not specialised."""
    probed: set[tuple[str, str, int]] = set()
    found: list[SpecializedSize] = []
    for key, call in seen.calls.items():
        method = seen.labels[key]
        originals = {t.variant: t.graph for t in seen.traces[key] if t.mode == seen.mode}
        if not originals:  # not traced in this mode
            continue
        for path, tensor in _leaves(seen.inputs[key]):
            for dim, size in enumerate(tensor.shape):
                if size == 0:
                    continue
                probed.add((method, path, dim))
                grown = Call(_grown(call.args, tensor, dim), _grown(call.kwargs, tensor, dim))
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        again = retrace({key: grown})[key]
                except Exception:  # any failure: the model fixes this size
                    continue
                ops: tuple[str, ...] = ()
                for trace in again:
                    changes = _C.compare_traces(originals[trace.variant], trace.graph)
                    if changes is None:
                        ops += ("<graph structure>",)
                    else:
                        ops += tuple(op for op, _, _ in changes)
                ops = tuple(dict.fromkeys(ops))
                if ops:
                    found.append(SpecializedSize(method, path, dim, size, ops, "retrace"))
    kept = [s for s in from_graph if (s.method, s.input, s.dim) not in probed]
    return tuple(kept + found)
