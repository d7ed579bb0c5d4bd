"""jit_trace and jit_trace_module: R torch's API, translated into the trace pipeline."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, cast

import torch
from torch import nn

from ._errors import InputError
from ._interface import TracedFunction
from ._options import Options, ReportOptions, Tolerance, keyword_options, unknown_option
from ._pipeline import Check, Target, already_scripted, call, methods_of, run

__all__ = ["jit_trace", "jit_trace_module"]


def jit_trace(
    func: Callable[..., Any] | nn.Module,
    *example_inputs: Any,
    strict: bool = True,
    respect_mode: bool = True,
    example_kwarg_inputs: Mapping[str, Any] | None = None,
    variants: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None = None,
    check_inputs: Sequence[Any] | None = None,
    check_tolerance: float | Tolerance | None = None,
    report: bool | ReportOptions = False,
    record_source_locations: bool = False,
    guards: bool = True,
    autograd_functions: str = "refuse",
    **unknown: NoReturn,
) -> torch.jit.ScriptFunction[Any, Any] | TracedFunction | torch.jit.ScriptModule:
    """Traces a function, or the ``forward`` of a module, into TorchScript.

    The function runs once on the example inputs while libtorch's tracer records the tensor
    operations it performs. The result is a genuine ``torch.jit.ScriptFunction`` that can be
    saved with ``torch.jit.save`` and loaded in Python or C++ (``torch::jit::load``). It takes
    the same nesting of inputs it was traced with, and tensors of other shapes where the
    recorded operations allow.

    Non-tensor arguments (bool, int, float, str, None, and tuples, lists and dicts of them) are
    constants of the trace: the traced function still takes them, by position and by name, and
    raises an error naming the argument when called with a value it was not traced for. Trace
    several values with ``variants``; the traced function then dispatches on them in
    TorchScript, which survives saving and works from C++.

    Structured inputs and outputs (namedtuples, dataclasses, dict subclasses, HuggingFace
    ``ModelOutput``, any type registered with ``torch.utils._pytree``) come back as the same
    types from the traced object; inside TorchScript they are tuples and dicts.

    Warning:
        Tracing records operations, not code: Python control flow and data-dependent branches
        are evaluated once and baked into the trace.

    Args:
        func: A callable, or an ``nn.Module`` (then this is
            ``jit_trace_module(func, forward=example_inputs, ...)`` and returns a module), or a
            method of a module, ``m.forward`` or ``m.encode`` (then this is
            ``jit_trace_module(m, encode=example_inputs, ...)``, and the returned module has
            that method).
        *example_inputs: Positional arguments for ``func``: tensors, tuples, lists and dicts
            of tensors (keys str, int, float or bool) nested as deep as needed, structures
            registered with pytree, or constants (see above).
        strict: As libtorch's tracer: when true, returning a list warns and returning a dict
            is an error, because their length or keys could depend on the inputs. Structures
            (a namedtuple, a dataclass, a ``ModelOutput``) are exempt: jittrace records them.
        respect_mode: For modules: trace train and eval mode (see ``jit_trace_module``).
            Ignored for functions.
        example_kwarg_inputs: Example inputs passed by keyword (torch's name), e.g.
            ``{"attention_mask": mask}``. They are bound through ``func``'s signature: every
            argument given, by position or keyword, becomes an input of the trace named after
            its parameter, so the traced function takes it by position (in signature order)
            and by name. Parameters not given keep their defaults, baked into the trace.
        variants: Further values of non-tensor arguments (or of a tensor argument that may be
            None) to trace: a dict of argument names to lists of values traces every
            combination (``{"return_features": [False, True], "mask": [m, None]}``); a list of
            dicts traces each, as the example arguments with those replaced
            (``[{}, {"mask": None}]``).
        check_inputs: Further example inputs, each a tuple of positional arguments; the traced
            function must give the same outputs as ``func`` on each, or ``TraceCheckError`` is
            raised. No check runs unless asked.
        check_tolerance: How close the checks' outputs must be: a ``jittrace.Tolerance``
            (``rtol``, ``atol``, both 1e-5 by default), or a number, the ``rtol`` (as
            ``torch.jit.trace`` takes it).
        report: ``True`` attaches a ``jittrace.TraceReport`` to the result as
            ``.trace_report``: TracerWarnings with the user's ``file.py:LINE``, input sizes
            baked into the graph, device constants, random operations, and the largest
            differences found by ``check_inputs`` per method, mode and output path. A
            ``jittrace.ReportOptions`` does too, and can make findings errors (``fail_on``, for
            CI) or find specialised sizes by tracing again (``probe_sizes``).
        guards: Turn every Python value the traced code takes from a traced tensor (``if
            x.sum() > 0``, ``int(x.shape[0])``, ``len(x)``, ``range(x.size(0))``, ``.item()``,
            ``.tolist()``, iterating) into a check in the graph that recomputes it on each call
            and raises ``torch.jit.Error`` naming the line when it differs, instead of silently
            computing the traced path (see the README's "Guards"). A trace with no such value
            is unchanged. ``False`` turns them off.
        autograd_functions: What a trace does with a custom ``torch.autograd.Function``
            (``SomeFunction.apply``), which the tracer records as a Python call that runs in
            memory but cannot be saved or run from C++: ``"refuse"`` (the default) raises
            ``InputError`` at trace time naming the Function, method, mode and line;
            ``"inline"`` traces its ``forward`` as ordinary operations, so the file saves and
            runs anywhere, with its custom ``backward`` replaced by autograd of those
            operations (a straight-through estimator's gradient becomes autograd's); the
            report lists each Function traced through.
        record_source_locations: Stamp graph nodes with the Python source line that created
            them and name traced values after the user's local variables (``%hidden``), as
            ``torch.jit.trace`` does. Off by default: tracing takes about 2x as long on a
            small function (60 -> 120 µs) and 3.5x on a 6-layer ``nn.TransformerEncoder``
            (10.5 -> 38 ms), the names about 10 µs and 5 ms of that.

    Returns:
        A ``torch.jit.ScriptFunction``; a ``jittrace.TracedFunction`` around one when inputs
        or outputs are structured; a ``torch.jit.ScriptModule`` for a module.

    Devices taken from a tensor (``torch.zeros(n, device=x.device)``, ``y.to(x.device)``)
    follow that tensor in the trace instead of becoming constants, so a trace made on CPU runs
    on another device.

    Raises:
        InputError: (a ``TypeError``) ``func`` is not callable, an example input is neither a
            tensor, a container of tensors, a structure nor a constant (the message names its
            path), inputs are named, or variants name arguments ``func`` does not have.
        TraceError: (a ``RuntimeError``) the trace cannot become TorchScript, e.g. ``func``
            returned ``None`` or a number.
        TraceCheckError: an output differs from eager on one of ``check_inputs``.
        TraceReportError: the report has a finding of a kind that ``ReportOptions.fail_on``
            names.

    Any other keyword is an ``InputError`` that names the closest option.

    Exceptions raised by ``func`` itself propagate unchanged.

    >>> import torch, jittrace
    >>> relu = jittrace.jit_trace(torch.relu, torch.tensor([-1.0, 0.0, 1.0]))
    >>> relu(torch.tensor([-2.0, 2.0]))
    tensor([0., 2.])
    """
    api = "jit_trace"
    if unknown:
        _named_inputs(api, func, unknown)
        raise unknown_option(api, next(iter(unknown)), _JIT_TRACE_OPTIONS)
    if isinstance(func, torch.jit.ScriptModule):
        return already_scripted(func)
    options = Options.of(api, locals())
    target, method = Target.of(api, func)
    checks = [
        Check(f"check_inputs[{i}]", {method: call(args)})
        for i, args in enumerate(_check_list(api, check_inputs, tuple))
    ]
    return run(
        target,
        {method: call(example_inputs, _kwargs(api, example_kwarg_inputs))},
        options,
        variants=None if variants is None else {method: variants},
        checks=checks,
    )


def jit_trace_module(
    mod: nn.Module,
    *,
    strict: bool = True,
    respect_mode: bool = True,
    example_kwarg_inputs: Mapping[str, Mapping[str, Any]] | None = None,
    variants: Mapping[str, Any] | None = None,
    check_inputs: Sequence[Mapping[str, Any]] | None = None,
    check_tolerance: float | Tolerance | None = None,
    report: bool | ReportOptions = False,
    record_source_locations: bool = False,
    guards: bool = True,
    autograd_functions: str = "refuse",
    **method_inputs: Any,
) -> torch.jit.ScriptModule:
    """Traces methods of a module into a ``torch.jit.ScriptModule``.

    With ``respect_mode`` (the default) every method ``M`` is traced twice, in train mode into
    ``trainM`` and in eval mode into ``evalM``, and ``M`` becomes a TorchScript method that
    calls one of them by ``self.training``. ``.train()`` and ``.eval()`` on the result therefore
    switch behaviour (dropout, batch norm), also after ``torch.jit.save`` and in C++ after
    ``torch::jit::load``. The mode ``mod`` is in is traced with its submodules' flags as they
    are; the other mode after ``mod.train(mode)``.

    The result shares parameters and buffers with ``mod`` (an in-place change to either shows
    in the other), keeps the submodule hierarchy (``traced.encoder.layer1.weight``), has the
    same ``state_dict()`` keys, and starts in ``mod``'s mode. Tracing leaves ``mod`` as it was:
    training flags, buffer values (batch-norm statistics), ``requires_grad`` flags and the
    random generators' state, also when the traced code raises.

    Warning:
        Tracing records operations, not code: Python control flow, data-dependent branches and
        non-tensor attributes are evaluated once and baked into the trace.

    Args:
        mod: The module.
        strict: See ``jit_trace``.
        respect_mode: Trace train and eval mode and dispatch on ``self.training``. When false,
            trace each method once, in ``mod``'s current mode.
        example_kwarg_inputs: Keyword example inputs by method:
            ``{"forward": {"attention_mask": mask}}``, bound through each method's signature as
            ``jit_trace`` binds them. A method named only here is traced with keywords only.
        variants: Further values of non-tensor arguments by method, each as ``jit_trace``
            takes them: ``{"forward": {"return_features": [False, True]}}``. A method with
            variants (or constant arguments) has its traces as ``train<M>__0``, ... and
            dispatches on the values it is called with, in TorchScript.
        check_inputs: Further inputs, as a list of dicts like ``method_inputs``
            (``[{"forward": (x2,)}, ...]``). Eager and traced outputs are compared on each, in
            every traced mode (eval first; each call under one fixed seed for both); a mismatch
            raises ``TraceCheckError`` naming the method, mode, output path and largest
            difference.
        check_tolerance, report, record_source_locations, guards, autograd_functions: See
            ``jit_trace``; each
            traced method, mode and variant has its own guards; the report
            covers every traced method in every traced mode, and ``probe_sizes`` traces again
            in the module's current mode.
        **method_inputs: Method names and their example inputs: ``forward=(x, mask)``,
            ``encode=tokens``. A tensor or dict counts as one argument; a tuple (or list) holds
            the positional arguments. A name that is neither a method nor an option is an
            ``InputError`` that lists the module's methods and the options.

    Returns:
        A ``torch.jit.ScriptModule``.

    Raises:
        InputError: (a ``TypeError``) ``mod`` is not a module, a name is not a method of it,
            or inputs are missing or not tensors.
        TraceError: (a ``RuntimeError``) a trace cannot become TorchScript.
        TraceCheckError: an output differs from eager on one of ``check_inputs``.
        TraceReportError: the report has a finding of a kind that ``ReportOptions.fail_on``
            names.

    >>> import torch, jittrace
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Dropout(0.5))
    >>> traced = jittrace.jit_trace_module(net, forward=torch.randn(3, 4))
    >>> traced.eval()(torch.ones(1, 4)).shape
    torch.Size([1, 2])
    """
    api = "jit_trace_module"
    options = Options.of(api, locals())
    target = Target.of_module(api, mod)
    for name in method_inputs:
        if not hasattr(mod, name):  # a mistyped option, or a method the module lacks
            methods = (type(mod).__name__, methods_of(mod))
            raise unknown_option(api, name, _JIT_TRACE_MODULE_OPTIONS, methods)
    if example_kwarg_inputs is not None and not isinstance(example_kwarg_inputs, Mapping):
        raise InputError(
            f"[{api}] example_kwarg_inputs must be a dict of method names to dicts of keyword "
            f"inputs, not {type(example_kwarg_inputs).__name__}"
        )
    kwargs = {
        name: _kwargs(api, value, f"example_kwarg_inputs[{name!r}]")
        for name, value in (example_kwarg_inputs or {}).items()
    }
    if variants is not None and (
        not isinstance(variants, Mapping) or not all(isinstance(k, str) for k in variants)
    ):
        raise InputError(
            f"[{api}] variants must be a dict of method names to the variants of each, not "
            f"{type(variants).__name__}"
        )
    inputs = {name: () for name in kwargs} | method_inputs
    for name in variants or {}:
        if name not in inputs:
            raise InputError(
                f"[{api}] variants names {name!r}, which is not traced; give its example inputs "
                f"too, e.g. {name}=(x,)"
            )
    checks = []
    for i, spec in enumerate(_check_list(api, check_inputs, Mapping)):
        checks.append(
            Check(
                f"check_inputs[{i}]",
                {name: call(method_args(value)) for name, value in spec.items()},
                keyed=True,
            )
        )
    hint = " (a list holds positional arguments; wrap it in a tuple to pass it as one)"
    return cast(  # a module target gives a module
        torch.jit.ScriptModule,
        run(
            target,
            {name: call(method_args(v), kwargs.get(name)) for name, v in inputs.items()},
            options,
            variants=variants,
            checks=checks,
            hints={name: hint for name, v in inputs.items() if isinstance(v, list)},
        ),
    )


#: The keyword options, for messages.
_JIT_TRACE_OPTIONS = keyword_options(jit_trace)
_JIT_TRACE_MODULE_OPTIONS = keyword_options(jit_trace_module)


def _named_inputs(api: str, func: object, names: Mapping[str, Any]) -> None:
    """Raises for example inputs given by name (parameters of `func`): they go positionally
    or in example_kwarg_inputs."""
    signature = None
    with contextlib.suppress(TypeError, ValueError):
        signature = inspect.signature(func.forward if isinstance(func, nn.Module) else func)  # type: ignore[arg-type]
    if signature is None or not any(n in signature.parameters for n in names):
        return
    raise InputError(
        f"[{api}] example inputs can not be named (got {', '.join(names)}=...); pass them "
        "positionally in the order of the function's arguments, or by keyword in "
        "example_kwarg_inputs"
    )


def method_args(inputs: Any) -> tuple[Any, ...]:
    """A method's example inputs as jit_trace_module takes them: a tuple or list holds the
    positional arguments, anything else is the one argument."""
    if isinstance(inputs, tuple):
        return inputs
    if isinstance(inputs, list):
        return tuple(inputs)
    return (inputs,)


def _kwargs(api: str, kwargs: Any, what: str = "example_kwarg_inputs") -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise InputError(
            f"[{api}] {what} must be a dict of argument names to example inputs, not "
            f"{type(kwargs).__name__}"
        )
    return dict(kwargs)


def _check_list(api: str, check_inputs: Any, kind: type) -> list[Any]:
    if check_inputs is None:
        return []
    what = "tuples of positional arguments" if kind is tuple else "dicts of method inputs"
    if not isinstance(check_inputs, (list, tuple)) or not all(
        isinstance(c, kind) for c in check_inputs
    ):
        raise InputError(f"[{api}] check_inputs must be a list of {what}")
    return list(check_inputs)
