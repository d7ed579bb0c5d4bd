"""Comparing eager and traced outputs for ``check_inputs``."""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ._errors import TraceCheckError
from ._structures import Structure

__all__ = [
    "CheckResult",
    "check_against_eager",
    "collecting",
    "compare_outputs",
    "run_seeded",
    "tolerances",
]

# Traced graphs run the same kernels as eager code, so outputs normally agree exactly; the
# tolerance only absorbs fused or reordered floating-point arithmetic.
RTOL = 1e-5
ATOL = 1e-5
SEED = 20260101

# (rtol, atol) of the checks running in this context; see tolerances().
_tolerances: contextvars.ContextVar[tuple[float, float]] = contextvars.ContextVar(
    "jittrace_check_tolerances", default=(RTOL, ATOL)
)


@contextlib.contextmanager
def tolerances(rtol: float, atol: float) -> Iterator[None]:
    """Checks inside this context compare with ``rtol`` and ``atol``."""
    token = _tolerances.set((rtol, atol))
    try:
        yield
    finally:
        _tolerances.reset(token)


@dataclass(frozen=True)
class CheckResult:
    """How far traced outputs are from eager ones at one output path, over every check input.

    Attributes:
        method: The traced method (``"forward"``), or the function's name.
        mode: ``"train"`` or ``"eval"``; ``None`` for a function, which has no mode.
        output: The output path, e.g. ``output[1]['logits']``.
        max_abs_diff: The largest ``|traced - eager|``; ``None`` where the outputs could not
            be compared element by element (another shape, dtype or type).
        max_rel_diff: The largest ``|traced - eager| / |eager|``, infinite where eager is 0
            and traced is not; ``None`` as for ``max_abs_diff``.
        ok: Every element within ``atol + rtol * |eager|`` (NaN where both are NaN).
        inputs: How many check inputs these figures cover.
    """

    method: str
    mode: str | None
    output: str
    max_abs_diff: float | None
    max_rel_diff: float | None
    ok: bool
    inputs: int = 1


# The results of the checks running in this context, when someone collects them.
_results: contextvars.ContextVar[list[CheckResult] | None] = contextvars.ContextVar(
    "jittrace_check_results", default=None
)


@contextlib.contextmanager
def collecting() -> Iterator[list[CheckResult]]:
    """Collects the result of every output compared inside this context (merged per method,
    mode and output path: largest differences, all ok), also of a check that fails."""
    found: list[CheckResult] = []
    token = _results.set(found)
    try:
        yield found
    finally:
        _results.reset(token)


def _record(result: CheckResult) -> None:
    found = _results.get()
    if found is None:
        return
    for i, old in enumerate(found):
        if (old.method, old.mode, old.output) == (result.method, result.mode, result.output):
            found[i] = CheckResult(
                old.method,
                old.mode,
                old.output,
                _largest(old.max_abs_diff, result.max_abs_diff),
                _largest(old.max_rel_diff, result.max_rel_diff),
                old.ok and result.ok,
                old.inputs + result.inputs,
            )
            return
    found.append(result)


def _largest(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return max(a, b)


def run_seeded(
    fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any] | None = None
) -> Any:
    """Calls ``fn(*args, **kwargs)`` under a fixed seed, leaving the global random state as it was."""
    cuda_in_use = torch.cuda.is_available() and torch.cuda.is_initialized()
    devices = list(range(torch.cuda.device_count())) if cuda_in_use else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(SEED)
        return fn(*args, **(kwargs or {}))


def check_against_eager(
    eager: Callable[..., Any],
    traced: Callable[..., Any],
    args: Sequence[Any],
    where: str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    method: str = "forward",
    mode: str | None = None,
) -> None:
    """Runs both on `args` under one seed and raises TraceCheckError where they differ.

    An exception from `eager` (the user's code) propagates as it is; one from `traced` only is
    a failed check. `method` and `mode` label the results that collecting() gathers.
    """
    expected = run_seeded(eager, args, kwargs)
    try:
        actual = run_seeded(traced, args, kwargs)
    except Exception as e:
        _record(CheckResult(method, mode, "output", None, None, False))
        # TorchScript's errors end with the Python-level one, after the TorchScript traceback.
        lines = str(e).strip().splitlines()
        raise TraceCheckError(
            f"{where}: the traced code raised {type(e).__name__} where eager code did not: "
            f"{lines[-1] if lines else ''}"
        ) from e
    compare_outputs(expected, actual, where, method=method, mode=mode)


def compare_outputs(
    expected: Any, actual: Any, where: str, *, method: str = "forward", mode: str | None = None
) -> None:
    """Raises TraceCheckError naming the first output path where eager and traced differ.

    Every tensor is compared (and its differences recorded for collecting()) before a
    difference in values raises; a difference in structure, shape or dtype raises at once.
    Structures (namedtuples, dataclasses, ModelOutput) must be the same and are compared in
    their script form, so paths index that form (``output[1]`` for a dataclass's 2nd field).
    """
    expected_structure, expected_form = Structure.of(expected)
    actual_structure, actual_form = Structure.of(actual)
    if not (expected_structure.plain and actual_structure.plain):
        if expected_structure != actual_structure:
            raise TraceCheckError(
                f"{where}: output is {actual_structure.describe()} when traced, "
                f"{expected_structure.describe()} in eager mode"
            )
        expected, actual = expected_form, actual_form
    failures: list[str] = []
    _compare(expected, actual, where, "output", (method, mode), failures)
    if failures:
        raise TraceCheckError(failures[0])


def _compare(
    expected: Any,
    actual: Any,
    where: str,
    path: str,
    label: tuple[str, str | None],
    failures: list[str],
) -> None:
    def fail(what: str) -> None:
        _record(CheckResult(*label, path, None, None, False))
        raise TraceCheckError(failures[0] if failures else f"{where}: {path} {what}")

    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor):
            fail(f"is a tensor in eager mode but {type(actual).__name__} when traced")
        if expected.shape != actual.shape:
            fail(
                f"has shape {tuple(actual.shape)} when traced, {tuple(expected.shape)} in eager mode"
            )
        if expected.dtype != actual.dtype:
            fail(f"has dtype {actual.dtype} when traced, {expected.dtype} in eager mode")
        if expected.numel() == 0:
            _record(CheckResult(*label, path, 0.0, 0.0, True))
            return
        e = expected.detach().to("cpu")
        a = actual.detach().to("cpu")
        abs_diff, rel_diff = _differences(e, a)
        if not e.is_floating_point() and not e.is_complex():
            same = bool(torch.equal(e, a))
            _record(CheckResult(*label, path, abs_diff, rel_diff, same))
            if not same:
                failures.append(f"{where}: {path} differs from eager mode")
            return
        rtol, atol = _tolerances.get()
        close = bool(torch.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True).all())
        _record(CheckResult(*label, path, abs_diff, rel_diff, close))
        if not close:
            diff = (a - e).abs()
            diff = diff[~torch.isnan(diff)]
            largest = float(diff.max()) if diff.numel() else float("nan")
            failures.append(
                f"{where}: {path} differs from eager mode: largest absolute difference "
                f"{largest:.6g} (rtol={rtol}, atol={atol})"
            )
    elif isinstance(expected, Mapping):
        if not isinstance(actual, Mapping) or list(expected) != list(actual):
            fail(f"has keys {_keys(actual)} when traced, {_keys(expected)} in eager mode")
        for key in expected:
            _compare(expected[key], actual[key], where, f"{path}[{key!r}]", label, failures)
    elif isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            fail(f"is {_shape(actual)} when traced, {_shape(expected)} in eager mode")
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _compare(e, a, where, f"{path}[{i}]", label, failures)
    elif expected != actual:
        fail(f"is {actual!r} when traced, {expected!r} in eager mode")


def _differences(expected: torch.Tensor, actual: torch.Tensor) -> tuple[float, float]:
    """The largest absolute and relative differences (NaN where both are NaN counts as equal;
    a NaN on one side only, or a non-zero over a zero, as infinite)."""
    if expected.is_complex() or actual.is_complex():
        e, a = expected.to(torch.complex128), actual.to(torch.complex128)
    else:
        e, a = expected.to(torch.float64), actual.to(torch.float64)
    both_nan = torch.isnan(e) & torch.isnan(a)
    diff = (a - e).abs()
    diff = torch.where(both_nan, torch.zeros_like(diff), diff)
    diff = torch.where(torch.isnan(diff), torch.full_like(diff, math.inf), diff)
    scale = e.abs()
    rel = torch.where(
        scale > 0, diff / torch.where(scale > 0, scale, torch.ones_like(scale)), diff * math.inf
    )
    rel = torch.where(diff == 0, torch.zeros_like(rel), rel)
    return float(diff.max()), float(rel.max())


def _keys(obj: Any) -> str:
    return repr(list(obj)) if isinstance(obj, Mapping) else type(obj).__name__


def _shape(obj: Any) -> str:
    if isinstance(obj, (list, tuple)):
        return f"a {type(obj).__name__} of {len(obj)}"
    return f"a {type(obj).__name__}"
