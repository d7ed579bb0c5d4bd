"""Comparing eager and traced outputs: the checks of ``check_inputs`` and of saved files.

One ``Checker`` runs every check of a trace with one tolerance and keeps the result of every
output it compared (``CheckResult``), which the trace report and the command line read, also
when a check fails (``TraceCheckError.checks``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import torch
import torch.utils._pytree as pytree

from ._errors import TraceCheckError
from ._options import Tolerance
from ._structures import Structure

__all__ = ["Call", "CheckResult", "Checker", "run_seeded"]

SEED = 20260101


@dataclass(frozen=True)
class Call:
    """Example arguments of one call: positional and keyword."""

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]


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
        note: Why an output was not compared element by element (a tensor subclass without
            sizes), or empty.
    """

    method: str
    mode: str | None
    output: str
    max_abs_diff: float | None
    max_rel_diff: float | None
    ok: bool
    inputs: int = 1
    note: str = ""


def run_seeded(fn: Callable[..., Any], call: Call) -> Any:
    """Calls `fn` with `call`'s arguments under a fixed seed, leaving the global random state as
    it was."""
    cuda_in_use = torch.cuda.is_available() and torch.cuda.is_initialized()
    devices = list(range(torch.cuda.device_count())) if cuda_in_use else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(SEED)
        return fn(*call.args, **call.kwargs)


class Checker:
    """Runs checks with one tolerance and keeps their results, merged per method, mode and
    output path (largest differences; ok when every compared output was)."""

    def __init__(self, tolerance: Tolerance) -> None:
        self.tolerance = tolerance
        self.results: list[CheckResult] = []

    def fail(self, message: str) -> NoReturn:
        """Raises TraceCheckError with the results so far."""
        raise TraceCheckError(message, tuple(self.results))

    def check(
        self,
        eager: Callable[..., Any],
        traced: Callable[..., Any],
        call: Call,
        where: str,
        *,
        method: str = "forward",
        mode: str | None = None,
    ) -> None:
        """Runs both on `call` under one seed and raises TraceCheckError where they differ.

        Each runs on its own deep copy of the inputs, under ``torch.no_grad()``, as torch's
        check does: the user's inputs are left bitwise as they were, code that changes its
        input in place sees the same input in both runs, and a function that returns its input
        is compared with the other run's copy. An exception from `eager` (the user's code)
        propagates as it is; one from `traced` only is a failed check. `method` and `mode`
        label the results.
        """
        with torch.no_grad():
            expected = run_seeded(eager, _copy(call))
        try:
            with torch.no_grad():
                actual = run_seeded(traced, _copy(call))
        except Exception as e:
            self._record(CheckResult(method, mode, "output", None, None, False))
            # TorchScript's errors end with the Python-level one, after the TorchScript traceback.
            lines = str(e).strip().splitlines()
            raise TraceCheckError(
                f"{where}: the traced code raised {type(e).__name__} where eager code did not: "
                f"{lines[-1] if lines else ''}",
                tuple(self.results),
            ) from e
        self.compare(expected, actual, where, method=method, mode=mode)

    def check_module(
        self,
        eager: torch.nn.Module,
        traced: torch.jit.ScriptModule,
        checks: Iterable[tuple[str, str, Call]],
        modes: Sequence[bool],
    ) -> None:
        """Checks methods of `traced` against `eager` in each of `modes` (train: True), each
        (method, where, call) of `checks` in turn, and puts every module's training flag back.
        Eval runs before train when both are checked: a train-mode forward updates batch-norm
        statistics."""
        checks = list(checks)
        # A frozen module has no mode to switch (nor a `training` attribute).
        switch = hasattr(traced, "training")
        modules = (*eager.modules(), *(traced.modules() if switch else ()))
        flags = [(m, m.training) for m in modules]
        try:
            for training in sorted(modes):
                eager.train(training)
                if switch:
                    traced.train(training)
                mode = "train" if training else "eval"
                for name, where, call in checks:
                    self.check(
                        eager if name == "forward" else getattr(eager, name),
                        getattr(traced, name),
                        call,
                        f"{where} ({mode} mode)",
                        method=name,
                        mode=mode,
                    )
        finally:
            for m, training in flags:
                m.training = training

    def compare(
        self,
        expected: Any,
        actual: Any,
        where: str,
        *,
        method: str = "forward",
        mode: str | None = None,
    ) -> None:
        """Raises TraceCheckError naming the first output path where eager and traced differ.

        Every tensor is compared (and its differences recorded) before a difference in values
        raises; a difference in structure, shape or dtype raises at once. Structures
        (namedtuples, dataclasses, ModelOutput) must be the same and are compared in their
        script form, so paths index that form (``output[1]`` for a dataclass's 2nd field).
        Python numbers (bool, int, float) in them are compared by value, also with a 0-dim
        tensor where the traced code gives one (TorchScript without jittrace's wrapper).
        """
        expected_structure, expected_form = Structure.of(expected)
        actual_structure, actual_form = Structure.of(actual)
        if not (expected_structure.plain and actual_structure.plain):
            if not expected_structure.matches(actual_structure):
                traced, eager = actual_structure.describe(), expected_structure.describe()
                detail = (
                    f" ({actual_structure.difference(expected_structure)}, traced first)"
                    if traced == eager
                    else ""
                )
                self.fail(f"{where}: output is {traced} when traced, {eager} in eager mode{detail}")
            expected, actual = expected_form, actual_form
        failures: list[str] = []
        self._compare(expected, actual, where, "output", (method, mode), failures)
        if failures:
            self.fail(failures[0])

    def _compare(
        self,
        expected: Any,
        actual: Any,
        where: str,
        path: str,
        label: tuple[str, str | None],
        failures: list[str],
    ) -> None:
        def fail(what: str) -> NoReturn:
            self._record(CheckResult(*label, path, None, None, False))
            self.fail(failures[0] if failures else f"{where}: {path} {what}")

        if isinstance(expected, torch.Tensor):
            if not isinstance(actual, torch.Tensor):
                fail(f"is a tensor in eager mode but {type(actual).__name__} when traced")
            if expected.is_nested or actual.is_nested:  # compared piece by piece
                if not (expected.is_nested and actual.is_nested):
                    fail("is a nested tensor in one run and not in the other")
                e_parts, a_parts = expected.unbind(), actual.unbind()
                if len(e_parts) != len(a_parts):
                    fail(f"has {len(a_parts)} pieces when traced, {len(e_parts)} in eager mode")
                for i, (e_part, a_part) in enumerate(zip(e_parts, a_parts, strict=True)):
                    self._compare(e_part, a_part, where, f"{path}[{i}]", label, failures)
                return
            try:
                expected.shape, actual.shape  # noqa: B018 (a subclass may have no sizes)
            except (RuntimeError, NotImplementedError) as error:
                note = f"not compared: {type(expected).__name__} has no sizes ({error})"
                self._record(CheckResult(*label, path, None, None, True, note=note))
                return
            if expected.shape != actual.shape:
                fail(
                    f"has shape {tuple(actual.shape)} when traced, {tuple(expected.shape)} in "
                    "eager mode"
                )
            if expected.dtype != actual.dtype:
                fail(f"has dtype {actual.dtype} when traced, {expected.dtype} in eager mode")
            if expected.numel() == 0:
                self._record(CheckResult(*label, path, 0.0, 0.0, True))
                return
            e = expected.detach().to("cpu")
            a = actual.detach().to("cpu")
            abs_diff, rel_diff = _differences(e, a)
            if not e.is_floating_point() and not e.is_complex():
                same = bool(torch.equal(e, a))
                self._record(CheckResult(*label, path, abs_diff, rel_diff, same))
                if not same:
                    failures.append(f"{where}: {path} differs from eager mode")
                return
            rtol, atol = self.tolerance.rtol, self.tolerance.atol
            close = bool(torch.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True).all())
            self._record(CheckResult(*label, path, abs_diff, rel_diff, close))
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
                self._compare(
                    expected[key], actual[key], where, f"{path}[{key!r}]", label, failures
                )
        elif isinstance(expected, (list, tuple)):
            if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
                fail(f"is {_shape(actual)} when traced, {_shape(expected)} in eager mode")
            for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
                self._compare(e, a, where, f"{path}[{i}]", label, failures)
        elif type(expected) in (bool, int, float):
            self._compare_number(expected, actual, where, path, label, failures)
        elif expected != actual:
            fail(f"is {actual!r} when traced, {expected!r} in eager mode")

    def _compare_number(
        self,
        expected: bool | int | float,
        actual: Any,
        where: str,
        path: str,
        label: tuple[str, str | None],
        failures: list[str],
    ) -> None:
        """A Python number, compared by value with the traced number or 0-dim tensor: exactly
        for bool and int, within the tolerance for float."""
        kind = type(expected).__name__
        if isinstance(actual, torch.Tensor):
            if actual.dim() != 0:
                self._record(CheckResult(*label, path, None, None, False))
                self.fail(
                    failures[0]
                    if failures
                    else f"{where}: {path} is a tensor of shape {tuple(actual.shape)} when "
                    f"traced, {a_or_an(kind)} in eager mode"
                )
            actual = actual.item()
        elif type(actual) is not type(expected):
            self._record(CheckResult(*label, path, None, None, False))
            self.fail(
                failures[0]
                if failures
                else f"{where}: {path} is {a_or_an(type(actual).__name__)} when traced, "
                f"{a_or_an(kind)} in eager mode"
            )
        diff = abs(float(actual) - float(expected))
        if math.isnan(diff):
            diff = 0.0 if math.isnan(expected) and math.isnan(actual) else math.inf
        rel = 0.0 if diff == 0 else (diff / abs(expected) if expected else math.inf)
        if type(expected) is float:
            rtol, atol = self.tolerance.rtol, self.tolerance.atol
            same = diff <= atol + rtol * abs(expected)
        else:
            same = diff == 0
        self._record(CheckResult(*label, path, diff, rel, same))
        if not same:
            failures.append(
                f"{where}: {path} is {actual!r} when traced, {expected!r} in eager mode"
            )

    def _record(self, result: CheckResult) -> None:
        for i, old in enumerate(self.results):
            if (old.method, old.mode, old.output) == (result.method, result.mode, result.output):
                self.results[i] = CheckResult(
                    old.method,
                    old.mode,
                    old.output,
                    _largest(old.max_abs_diff, result.max_abs_diff),
                    _largest(old.max_rel_diff, result.max_rel_diff),
                    old.ok and result.ok,
                    old.inputs + result.inputs,
                    old.note or result.note,
                )
                return
        self.results.append(result)


def _copy(call: Call) -> Call:
    """A deep copy of `call`'s arguments: tensors detached and cloned (keeping
    ``requires_grad``), wherever they sit, so that neither run sees the other's changes."""
    memo: dict[int, Any] = {}
    leaves = pytree.tree_leaves((call.args, dict(call.kwargs)))
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor) and id(leaf) not in memo:
            copy_ = leaf.detach().clone()
            if leaf.requires_grad:
                copy_.requires_grad_(True)
            memo[id(leaf)] = copy_
    memo[id(memo)] = [call, leaves]  # keeps the originals alive, as deepcopy's memo does
    return Call(copy.deepcopy(call.args, memo), copy.deepcopy(dict(call.kwargs), memo))


def _largest(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return max(a, b)


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


def a_or_an(noun: str) -> str:
    """``an int``, ``a float``."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _keys(obj: Any) -> str:
    return repr(list(obj)) if isinstance(obj, Mapping) else type(obj).__name__


def _shape(obj: Any) -> str:
    if isinstance(obj, (list, tuple)):
        return f"a {type(obj).__name__} of {len(obj)}"
    return f"a {type(obj).__name__}"
