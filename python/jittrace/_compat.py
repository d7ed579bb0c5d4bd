"""``jittrace.trace`` and ``jittrace.trace_module``: drop-ins for ``torch.jit.trace`` and
``torch.jit.trace_module``, with their signatures and conventions, on jittrace's tracer."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch
from torch import nn

from ._check import Call
from ._errors import InputError
from ._interface import TracedFunction
from ._options import Options
from ._pipeline import Check, Target, already_scripted, call, run

__all__ = ["trace", "trace_module"]


def trace(
    func: Callable[..., Any] | nn.Module,
    example_inputs: Any = None,
    optimize: object = None,
    check_trace: bool = True,
    check_inputs: Sequence[Any] | None = None,
    check_tolerance: float = 1e-5,
    strict: bool = True,
    _force_outplace: bool = False,
    _module_class: object = None,
    _compilation_unit: object = None,
    example_kwarg_inputs: Mapping[str, Any] | None = None,
    _store_inputs: bool = True,
    *,
    respect_mode: bool = False,
    record_source_locations: bool = False,
    guards: bool = True,
    autograd_functions: str = "refuse",
) -> torch.jit.ScriptFunction[Any, Any] | TracedFunction | torch.jit.ScriptModule:
    """``torch.jit.trace``, on jittrace: change ``torch.jit.trace(`` to ``jittrace.trace(``.

    The conventions are torch's: a tuple (or list) of ``example_inputs`` holds the positional
    arguments, a tensor or a dict is one argument, ``example_kwarg_inputs`` passes arguments by
    keyword, a module traces its ``forward`` in its current mode, and a bound method of a module
    traces that method. What differs is what jittrace does better:

    - ``check_trace`` compares eager and traced outputs on the example inputs (and on
      ``check_inputs``), under a fixed seed, with ``rtol=check_tolerance``; it does not trace
      again, so it neither updates batch-norm statistics nor fails on "Graphs differed".
    - The module is left as it was, nothing lands in torch's global compilation unit, and
      names are never mangled.
    - ``respect_mode=True`` traces a module in train *and* eval mode (see ``jit_trace``).
    - ``guards`` (on by default) turns each Python value taken from a traced tensor into a
      runtime check (see ``jit_trace``); ``guards=False`` traces as torch does.

    torch's private arguments ``_force_outplace``, ``_module_class`` and ``_compilation_unit``
    are refused unless left at their defaults; ``optimize`` warns and does nothing, as in torch.

    Raises:
        InputError: as ``jit_trace``, and for an argument that cannot be honoured.
        TraceError: as ``jit_trace``.
        TraceCheckError: traced and eager outputs differ on an example or check input.

    >>> import torch, jittrace
    >>> traced = jittrace.trace(torch.nn.Linear(4, 2).eval(), torch.randn(3, 4))
    >>> traced(torch.ones(1, 4)).shape
    torch.Size([1, 2])
    """
    api = "trace"
    _refuse_private(api, _force_outplace, _module_class, _compilation_unit, _store_inputs)
    _optimize_does_nothing(optimize)
    if isinstance(func, torch.jit.ScriptModule):
        return already_scripted(func)
    if example_inputs is None and example_kwarg_inputs is None:
        raise InputError(f"[{api}] give example_inputs or example_kwarg_inputs")
    # torch.jit.trace's check_tolerance is the checks' rtol.
    options = Options.of(api, locals())
    target, method = Target.of(api, func)
    args = () if example_inputs is None else _as_args(example_inputs)
    example = call(args, example_kwarg_inputs)
    kwarg = example_kwarg_inputs is not None
    checks = [
        Check(f"check_inputs[{i}]", {method: _check_entry(api, c, kwarg)})
        for i, c in enumerate(_list(api, check_inputs))
    ]
    if check_trace:
        checks.insert(0, Check("example_inputs", {method: example}))
    return run(target, {method: example}, options, checks=checks)


def trace_module(
    mod: nn.Module,
    inputs: Mapping[str, Any],
    optimize: object = None,
    check_trace: bool = True,
    check_inputs: Sequence[Mapping[str, Any]] | None = None,
    check_tolerance: float = 1e-5,
    strict: bool = True,
    _force_outplace: bool = False,
    _module_class: object = None,
    _compilation_unit: object = None,
    example_inputs_is_kwarg: bool = False,
    _store_inputs: bool = True,
    *,
    respect_mode: bool = False,
    record_source_locations: bool = False,
    guards: bool = True,
    autograd_functions: str = "refuse",
) -> torch.jit.ScriptModule:
    """``torch.jit.trace_module``, on jittrace: ``inputs`` maps method names to example inputs
    (a tuple of positional arguments, or one tensor), or to dicts of keyword inputs with
    ``example_inputs_is_kwarg=True``. Checks and the rest are as in ``jittrace.trace``.

    >>> import torch, jittrace
    >>> net = torch.nn.Linear(4, 2)
    >>> traced = jittrace.trace_module(net, {"forward": torch.randn(3, 4)})
    >>> traced(torch.ones(1, 4)).shape
    torch.Size([1, 2])
    """
    api = "trace_module"
    _refuse_private(api, _force_outplace, _module_class, _compilation_unit, _store_inputs)
    _optimize_does_nothing(optimize)
    # torch.jit.trace's check_tolerance is the checks' rtol.
    options = Options.of(api, locals())
    target = Target.of_module(api, mod)
    if not isinstance(inputs, Mapping):
        raise InputError(
            f"[{api}] inputs must be a dict of method names to example inputs, "
            f"not {type(inputs).__name__}"
        )
    if example_inputs_is_kwarg:
        for name, value in inputs.items():
            if not isinstance(value, Mapping):
                raise InputError(
                    f"[{api}] inputs[{name!r}] must be a dict of keyword inputs "
                    "(example_inputs_is_kwarg=True)"
                )
        examples = {name: call((), value) for name, value in inputs.items()}
    else:
        examples = {name: call(_as_args(value)) for name, value in inputs.items()}
    checks = []
    for i, spec in enumerate(_list(api, check_inputs)):
        if not isinstance(spec, Mapping):
            raise InputError(f"[{api}] check_inputs[{i}] must be a dict like inputs")
        checks.append(
            Check(
                f"check_inputs[{i}]",
                {n: _check_entry(api, v, example_inputs_is_kwarg) for n, v in spec.items()},
                keyed=True,
            )
        )
    if check_trace:
        checks.insert(0, Check("inputs", examples, keyed=True))
    # a module target gives a module
    return cast(torch.jit.ScriptModule, run(target, examples, options, checks=checks))


def _as_args(example_inputs: Any) -> tuple[Any, ...]:
    """torch.jit.trace's convention: a tensor or dict is one argument, an iterable holds them."""
    if isinstance(example_inputs, (torch.Tensor, dict)):
        return (example_inputs,)
    if isinstance(example_inputs, tuple):
        return example_inputs
    if isinstance(example_inputs, list):
        return tuple(example_inputs)
    return (example_inputs,)  # anything else is one argument, reported by the core if wrong


def _check_entry(api: str, entry: Any, kwarg: bool) -> Call:
    if kwarg:
        if not isinstance(entry, Mapping):
            raise InputError(
                f"[{api}] with keyword example inputs, each check input must be a dict of "
                f"keyword inputs, not {type(entry).__name__}"
            )
        return call((), entry)
    return call(_as_args(entry))


def _list(api: str, check_inputs: Any) -> list[Any]:
    if check_inputs is None:
        return []
    if not isinstance(check_inputs, (list, tuple)):
        raise InputError(
            f"[{api}] check_inputs must be a list of example inputs, not {type(check_inputs).__name__}"
        )
    return list(check_inputs)


def _refuse_private(
    api: str,
    force_outplace: bool,
    module_class: object,
    compilation_unit: object,
    store_inputs: bool,
) -> None:
    given = {
        "_force_outplace": force_outplace is not False,
        "_module_class": module_class is not None,
        "_compilation_unit": compilation_unit is not None,
        "_store_inputs": store_inputs is not True,
    }
    refused = [name for name, set_ in given.items() if set_]
    if refused:
        raise InputError(
            f"[{api}] {', '.join(refused)}: torch.jit.trace's private arguments are not "
            "supported (jittrace traces with its own compilation units and module classes)"
        )


def _optimize_does_nothing(optimize: object) -> None:
    if optimize is not None:
        warnings.warn(
            "`optimize` is deprecated and has no effect (as in torch.jit.trace); use "
            "`with torch.jit.optimized_execution(...)` instead",
            FutureWarning,
            stacklevel=3,
        )
