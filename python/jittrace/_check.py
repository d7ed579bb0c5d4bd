"""Comparing eager and traced outputs for ``check_inputs``."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from ._errors import TraceCheckError
from ._structures import Structure

__all__ = ["check_against_eager", "compare_outputs", "run_seeded", "tolerances"]

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
) -> None:
    """Runs both on `args` under one seed and raises TraceCheckError where they differ.

    An exception from `eager` (the user's code) propagates as it is; one from `traced` only is
    a failed check.
    """
    expected = run_seeded(eager, args, kwargs)
    try:
        actual = run_seeded(traced, args, kwargs)
    except Exception as e:
        # TorchScript's errors end with the Python-level one, after the TorchScript traceback.
        lines = str(e).strip().splitlines()
        raise TraceCheckError(
            f"{where}: the traced code raised {type(e).__name__} where eager code did not: "
            f"{lines[-1] if lines else ''}"
        ) from e
    compare_outputs(expected, actual, where)


def compare_outputs(expected: Any, actual: Any, where: str) -> None:
    """Raises TraceCheckError naming the first output path where eager and traced differ.

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
    _compare(expected, actual, where, "output")


def _compare(expected: Any, actual: Any, where: str, path: str) -> None:
    def fail(what: str) -> None:
        raise TraceCheckError(f"{where}: {path} {what}")

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
            return
        e = expected.detach().to("cpu")
        a = actual.detach().to("cpu")
        if not e.is_floating_point() and not e.is_complex():
            if not torch.equal(e, a):
                fail("differs from eager mode")
            return
        rtol, atol = _tolerances.get()
        close = torch.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
        if not bool(close.all()):
            diff = (a - e).abs()
            diff = diff[~torch.isnan(diff)]
            largest = float(diff.max()) if diff.numel() else float("nan")
            fail(
                f"differs from eager mode: largest absolute difference {largest:.6g} "
                f"(rtol={rtol}, atol={atol})"
            )
    elif isinstance(expected, Mapping):
        if not isinstance(actual, Mapping) or list(expected) != list(actual):
            fail(f"has keys {_keys(actual)} when traced, {_keys(expected)} in eager mode")
        for key in expected:
            _compare(expected[key], actual[key], where, f"{path}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            fail(f"is {_shape(actual)} when traced, {_shape(expected)} in eager mode")
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _compare(e, a, where, f"{path}[{i}]")
    elif expected != actual:
        fail(f"is {actual!r} when traced, {expected!r} in eager mode")


def _keys(obj: Any) -> str:
    return repr(list(obj)) if isinstance(obj, Mapping) else type(obj).__name__


def _shape(obj: Any) -> str:
    if isinstance(obj, (list, tuple)):
        return f"a {type(obj).__name__} of {len(obj)}"
    return f"a {type(obj).__name__}"
