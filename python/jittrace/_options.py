"""The options of a trace: what the public functions take, checked once, as one frozen object.

The public functions keep R torch's parameters (``strict``, ``respect_mode``) and torch's
(``check_inputs``, ``example_kwarg_inputs``, ``check_tolerance``); the rest is grouped: the
tolerances of the checks in a ``Tolerance``, what the trace report does in a
``ReportOptions``. Everything inside jittrace reads one ``Options``.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import InputError
from ._functions import how_of

__all__ = ["KINDS", "Options", "ReportOptions", "Tolerance", "unknown_option"]

#: The kinds of trace-report findings, as ``ReportOptions.fail_on`` names them.
KINDS = ("warnings", "specialized", "devices", "random", "guards")


def _number(api: str, name: str, value: object) -> float:
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    ):
        return float(value)
    raise InputError(f"[{api}] {name} must be a finite number >= 0, not {value!r}")


def _flag(api: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"[{api}] {name} must be True or False, not {value!r}")
    return value


@dataclass(frozen=True)
class Tolerance:
    """How close traced outputs must be to eager ones in a check.

    An element passes when ``|traced - eager| <= atol + rtol * |eager|`` (NaN where both are
    NaN). Integer and boolean outputs must be equal.

    Args:
        rtol: Relative tolerance.
        atol: Absolute tolerance.

    >>> import jittrace
    >>> jittrace.Tolerance(rtol=1e-3)
    Tolerance(rtol=0.001, atol=1e-05)
    """

    rtol: float = 1e-5
    atol: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("rtol", "atol"):
            object.__setattr__(self, name, _number("Tolerance", name, getattr(self, name)))

    @classmethod
    def of(cls, api: str, value: object) -> Tolerance:
        """`check_tolerance` as given: None (the defaults), a number (``rtol``, as
        ``torch.jit.trace`` takes it) or a Tolerance."""
        if value is None:
            return _DEFAULT_TOLERANCE
        if isinstance(value, Tolerance):
            return value
        return cls(rtol=_number(api, "check_tolerance", value))


_DEFAULT_TOLERANCE = Tolerance()


@dataclass(frozen=True)
class ReportOptions:
    """What the trace report does, for ``report=jittrace.ReportOptions(...)``.

    ``report=True`` is ``ReportOptions()``: a ``jittrace.TraceReport`` is attached to the
    result as ``.trace_report``.

    Args:
        fail_on: Kinds of findings that raise ``TraceReportError`` instead (for CI):
            ``"warnings"``, ``"specialized"`` (sizes confirmed by ``probe_sizes``; the graph's
            candidates never fail), ``"devices"``, ``"random"``, ``"guards"`` (any guard: for
            traces with no data-dependent Python values), a list of them, or ``"all"``.
        probe_sizes: Find specialised sizes by tracing again with each input dimension one
            larger (one trace per dimension) instead of from the graph alone.

    >>> import jittrace
    >>> jittrace.ReportOptions(fail_on="warnings").fail_on
    frozenset({'warnings'})
    """

    fail_on: frozenset[str] = field(default_factory=frozenset)
    probe_sizes: bool = False

    def __init__(self, fail_on: str | Iterable[str] | None = None, probe_sizes: bool = False):
        object.__setattr__(self, "fail_on", _kinds("ReportOptions", fail_on))
        object.__setattr__(self, "probe_sizes", _flag("ReportOptions", "probe_sizes", probe_sizes))

    @classmethod
    def of(cls, api: str, value: object) -> ReportOptions | None:
        """`report` as given: False (no report), True or a ReportOptions."""
        if isinstance(value, ReportOptions):
            return value
        if value is True:
            return _DEFAULT_REPORT
        if value is False:
            return None
        raise InputError(
            f"[{api}] report must be True, False or a jittrace.ReportOptions, not {value!r}"
        )


def _kinds(api: str, fail_on: object) -> frozenset[str]:
    if fail_on is None:
        return frozenset()
    kinds = [fail_on] if isinstance(fail_on, str) else fail_on
    if not isinstance(kinds, Collection) or not all(isinstance(k, str) for k in kinds):
        raise InputError(
            f"[{api}] fail_on must be a kind of finding or a list of them, not "
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
                f"[{api}] fail_on: {kind!r} is not a kind of finding; kinds: "
                f"{', '.join(KINDS)} (or 'all')"
            )
    return frozenset(chosen)


_DEFAULT_REPORT = ReportOptions()


@dataclass(frozen=True)
class Options:
    """Everything a trace was asked for, checked: what the pipeline and the report read.

    Attributes:
        api: The public function called, for messages (``[jit_trace] ...``).
        strict: See ``jit_trace``.
        respect_mode: Trace modules in both modes.
        record_source_locations: Stamp nodes with the user's lines.
        tolerance: Of the checks.
        report: None, or what the report does.
        guards: Guard every value the traced code takes from a traced tensor.
        autograd_functions: ``"refuse"`` or ``"inline"``: what a trace does with custom
            autograd Functions (see jittrace._functions).
    """

    api: str
    strict: bool = True
    respect_mode: bool = True
    record_source_locations: bool = False
    tolerance: Tolerance = _DEFAULT_TOLERANCE
    report: ReportOptions | None = None
    guards: bool = True
    autograd_functions: str = "refuse"

    @classmethod
    def of(cls, api: str, arguments: Mapping[str, object]) -> Options:
        """The options as a public function took them: its arguments by name (``locals()``),
        checked; an option the function does not take keeps its default."""
        given = [arguments.get(name, default) for name, default in _PARAMETERS]
        # The common call: everything at its default (the same objects: True is not 1), one
        # Options per api.
        if all(map(_is_default, given, _DEFAULT_VALUES)):
            found = _DEFAULTS.get(api)
            if found is None:
                found = _DEFAULTS[api] = cls(api)
            return found
        strict, respect_mode, locations, tolerance, report, guards, functions = given
        return cls(
            api,
            _flag(api, "strict", strict),
            _flag(api, "respect_mode", respect_mode),
            _flag(api, "record_source_locations", locations),
            Tolerance.of(api, tolerance),
            ReportOptions.of(api, report),
            _flag(api, "guards", guards),
            how_of(api, functions),
        )


# The public functions' option parameters (as Options.of reads them) and their defaults.
_PARAMETERS: tuple[tuple[str, object], ...] = (
    ("strict", True),
    ("respect_mode", True),
    ("record_source_locations", False),
    ("check_tolerance", None),
    ("report", False),
    ("guards", True),
    ("autograd_functions", "refuse"),
)

_DEFAULT_VALUES = tuple(default for _, default in _PARAMETERS)
_DEFAULTS: dict[str, Options] = {}


def _is_default(value: object, default: object) -> bool:
    return value is default or (type(value) is str and value == default)


# Options of 0.1 that moved, and where to.
_MOVED = {
    "atol": "check_tolerance=jittrace.Tolerance(atol=...)",
    "rtol": "check_tolerance=jittrace.Tolerance(rtol=...) (or check_tolerance=<rtol>)",
    "fail_on": "report=jittrace.ReportOptions(fail_on=...)",
    "probe_sizes": "report=jittrace.ReportOptions(probe_sizes=True)",
}


def unknown_option(
    api: str, name: str, options: Sequence[str], methods: tuple[str, Sequence[str]] | None = None
) -> InputError:
    """The error for a keyword `name` of `api` that is none of its `options` (nor, for
    jit_trace_module, one of the module's `methods`: (class name, method names)). It names the
    closest option or method, or where an option of 0.1 moved."""
    valid = [*options, *(methods[1] if methods else ())]
    if name in _MOVED:
        hint = f"; it moved: use {_MOVED[name]}"
    else:
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
    what = "not an option" if methods is None else f"neither an option nor a method of {methods[0]}"
    listed = f"options: {', '.join(options)}"
    if methods is not None:
        listed += f"; methods: {', '.join(methods[1])}"
    return InputError(f"[{api}] {name!r} is {what}{hint} ({listed})")


def keyword_options(func: Callable[..., Any]) -> tuple[str, ...]:
    """The keyword-only options of a public function, from its signature (for messages)."""
    return tuple(
        n for n, p in inspect.signature(func).parameters.items() if p.kind is p.KEYWORD_ONLY
    )
