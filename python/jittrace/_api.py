"""jit_trace and jit_trace_module: argument handling, mode and state handling around the core."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from . import _C, _report
from ._arguments import argument_names, plan, signature_of, variant_overrides
from ._check import check_against_eager
from ._errors import InputError, warn_from_caller
from ._interface import Interface, TracedFunction, TraceInfo, attach, install
from ._torchscript import compiled_methods, non_persistent_buffers, script_exports, wrap

__all__ = ["jit_trace", "jit_trace_module"]


def jit_trace(
    func: Callable[..., Any] | nn.Module,
    *example_inputs: Any,
    strict: bool = True,
    respect_mode: bool = True,
    check_inputs: Sequence[Any] | None = None,
    record_source_locations: bool = False,
    example_kwarg_inputs: Mapping[str, Any] | None = None,
    variants: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    report: bool = False,
    fail_on: str | Collection[str] | None = None,
    probe_sizes: bool = False,
    **named_inputs: Any,
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
        check_inputs: Further example inputs, each a tuple of positional arguments; the traced
            function must give the same outputs as ``func`` on each, or ``TraceCheckError`` is
            raised. No check runs unless asked.
        record_source_locations: Stamp graph nodes with the Python source line that created
            them (as ``torch.jit.trace`` does). Off by default: it makes tracing about a third
            slower.
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
        atol: Absolute tolerance of the ``check_inputs`` comparisons (default 1e-5): an
            element passes when ``|traced - eager| <= atol + rtol * |eager|``.
        rtol: Relative tolerance of the ``check_inputs`` comparisons (default 1e-5).
        report: Attach a ``jittrace.TraceReport`` to the result as ``.trace_report``:
            TracerWarnings with the user's ``file.py:LINE``, input sizes baked into the graph,
            device constants, random operations, and the largest differences found by
            ``check_inputs`` per method, mode and output path.
        fail_on: Kinds of findings that raise ``TraceReportError`` instead (for CI):
            ``"warnings"``, ``"specialized"``, ``"devices"``, ``"random"``, a list of them, or
            ``"all"``. Implies ``report``.
        probe_sizes: Find specialised sizes by tracing again with each input dimension one
            larger (one trace per dimension) instead of from the graph alone. Implies
            ``report``.

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
        TraceReportError: the report has a finding of a kind named in ``fail_on``.

    Exceptions raised by ``func`` itself propagate unchanged.

    >>> import torch, jittrace
    >>> relu = jittrace.jit_trace(torch.relu, torch.tensor([-1.0, 0.0, 1.0]))
    >>> relu(torch.tensor([-2.0, 2.0]))
    tensor([0., 2.])
    """
    api = "jit_trace"
    if named_inputs:
        raise InputError(
            f"[{api}] example inputs can not be named (got {', '.join(named_inputs)}=...); "
            "pass them positionally in the order of the function's arguments, or by keyword "
            "in example_kwarg_inputs"
        )
    request = _report.Request(
        api, func, {None: (example_inputs, example_kwarg_inputs)}, strict, report, fail_on,
        probe_sizes, atol, rtol, variants,
    )  # fmt: skip
    return _report.run(request, lambda: _trace(
        api, func, example_inputs, strict, respect_mode, check_inputs, record_source_locations,
        example_kwarg_inputs, variants,
    ))  # fmt: skip


def _trace(
    api: str,
    func: Callable[..., Any] | nn.Module,
    example_inputs: tuple[Any, ...],
    strict: bool,
    respect_mode: bool,
    check_inputs: Sequence[Any] | None,
    record_source_locations: bool,
    example_kwarg_inputs: Mapping[str, Any] | None,
    variants: Any = None,
) -> torch.jit.ScriptFunction[Any, Any] | TracedFunction | torch.jit.ScriptModule:
    """jit_trace, for `api` (jit_trace, or the torch.jit.trace drop-in)."""
    if isinstance(func, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        raise InputError(
            f"[{api}] func is already TorchScript ({type(func).__name__}) and needs no tracing; "
            "to trace it as part of a larger model, call it from the traced code"
        )
    kwargs = _check_kwargs(api, example_kwarg_inputs)
    method: tuple[nn.Module, str] | None = None  # a module, or a method of one: what to trace
    if isinstance(func, nn.Module):
        method = func, "forward"
    elif isinstance(func, types.MethodType) and isinstance(func.__self__, nn.Module):
        owner, name = func.__self__, func.__name__
        if getattr(getattr(owner, name, None), "__func__", None) is not func.__func__:
            raise InputError(
                f"[{api}] {_describe(func)} is bound to a {type(owner).__name__} but is not its "
                f"method {name!r}; trace it with jittrace.jit_trace_module so that the module's "
                "parameters stay parameters"
            )
        method = owner, name
    if method is not None:
        mod, name = method
        checks = None
        if check_inputs is not None:
            checks = [{name: args} for args in _check_list(api, check_inputs, _ARGS)]
        return _trace_module(
            api, mod, {name: example_inputs}, strict, respect_mode, checks,
            record_source_locations, {name: kwargs},
            None if variants is None else {name: variants},
        )  # fmt: skip
    if not callable(func):
        raise InputError(
            f"[{api}] func must be a callable or an nn.Module, not {type(func).__name__}"
        )
    _check_flag(api, "strict", strict)
    _check_flag(api, "record_source_locations", record_source_locations)

    what = _describe(func)
    overrides = variant_overrides(api, what, variants)
    traces = plan(api, func, what, example_inputs, kwargs, overrides, strict)
    # strict is applied by the plan to what the function returns (see strict_check)
    script = _C.trace_function(traces.specs(), _dotted_name(func), False, record_source_locations)
    interface = Interface.of(traces, [None])
    traced: torch.jit.ScriptFunction[Any, Any] | TracedFunction = (
        TracedFunction(script, interface) if interface.needed else script
    )
    attach(traced, TraceInfo("function", {"forward": interface}, strict, False))
    if check_inputs is not None:
        for i, args in enumerate(_check_list(api, check_inputs, _ARGS)):
            where = f"[{api}] check_inputs[{i}]"
            positional, keywords = _split_check(args)
            _check_call(api, func, f"check_inputs[{i}]: {what}", positional, keywords)
            check_against_eager(func, traced, positional, where, keywords, method=what)
    return traced


def jit_trace_module(
    mod: nn.Module,
    *,
    strict: bool = True,
    respect_mode: bool = True,
    check_inputs: Sequence[Mapping[str, Any]] | None = None,
    record_source_locations: bool = False,
    example_kwarg_inputs: Mapping[str, Mapping[str, Any]] | None = None,
    variants: Mapping[str, Any] | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    report: bool = False,
    fail_on: str | Collection[str] | None = None,
    probe_sizes: bool = False,
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
        check_inputs: Further inputs, as a list of dicts like ``method_inputs``
            (``[{"forward": (x2,)}, ...]``). Eager and traced outputs are compared on each, in
            every traced mode (train mode under one fixed seed for both); a mismatch raises
            ``TraceCheckError`` naming the method, mode, output path and largest difference.
        record_source_locations: See ``jit_trace``.
        example_kwarg_inputs: Keyword example inputs by method:
            ``{"forward": {"attention_mask": mask}}``, bound through each method's signature as
            ``jit_trace`` binds them. A method named only here is traced with keywords only.
        variants: Further values of non-tensor arguments by method, each as ``jit_trace``
            takes them: ``{"forward": {"return_features": [False, True]}}``. A method with
            variants (or constant arguments) has its traces as ``train<M>__0``, ... and
            dispatches on the values it is called with, in TorchScript.
        **method_inputs: Method names and their example inputs: ``forward=(x, mask)``,
            ``encode=tokens``. A tensor or dict counts as one argument; a tuple (or list) holds
            the positional arguments.
        atol, rtol, report, fail_on, probe_sizes: See ``jit_trace``; the report covers every
            traced method in every traced mode, and ``probe_sizes`` traces again in the
            module's current mode.

    Returns:
        A ``torch.jit.ScriptModule``.

    Raises:
        InputError: (a ``TypeError``) ``mod`` is not a module, a name is not a method of it,
            or inputs are missing or not tensors.
        TraceError: (a ``RuntimeError``) a trace cannot become TorchScript.
        TraceCheckError: an output differs from eager on one of ``check_inputs``.
        TraceReportError: the report has a finding of a kind named in ``fail_on``.

    >>> import torch, jittrace
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Dropout(0.5))
    >>> traced = jittrace.jit_trace_module(net, forward=torch.randn(3, 4))
    >>> traced.eval()(torch.ones(1, 4)).shape
    torch.Size([1, 2])
    """
    api = "jit_trace_module"
    if not isinstance(mod, nn.Module):
        raise InputError(f"[{api}] mod must be a torch.nn.Module, not {type(mod).__name__}")
    checks = None if check_inputs is None else _check_list(api, check_inputs, Mapping)
    if example_kwarg_inputs is not None and not isinstance(example_kwarg_inputs, Mapping):
        raise InputError(
            f"[{api}] example_kwarg_inputs must be a dict of method names to dicts of keyword "
            f"inputs, not {type(example_kwarg_inputs).__name__}"
        )
    kwargs: dict[str, dict[str, Any]] = {}
    for name, value in (example_kwarg_inputs or {}).items():
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise InputError(
                f"[{api}] example_kwarg_inputs[{name!r}] must be a dict of argument names to "
                f"example inputs, not {type(value).__name__}"
            )
        kwargs[name] = dict(value)
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
    request = _report.Request(
        api, mod, {name: (args, kwargs.get(name)) for name, args in inputs.items()}, strict,
        report, fail_on, probe_sizes, atol, rtol, variants,
    )  # fmt: skip
    return _report.run(request, lambda: _trace_module(
        api, mod, inputs, strict, respect_mode, checks, record_source_locations, kwargs, variants
    ))  # fmt: skip


def _trace_module(
    api: str,
    mod: nn.Module,
    method_inputs: Mapping[str, Any],
    strict: bool,
    respect_mode: bool,
    checks: Sequence[Mapping[str, Any]] | None,
    record_source_locations: bool,
    method_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    method_variants: Mapping[str, Any] | None = None,
) -> torch.jit.ScriptModule:
    """jit_trace_module, for `api` (jit_trace_module, or jit_trace given a module).

    `method_kwargs` gives methods keyword example inputs, bound as jit_trace binds them, and
    `method_variants` their variants.
    """
    if isinstance(mod, torch.jit.ScriptModule):
        raise InputError(
            f"[{api}] mod is already TorchScript ({type(mod).__name__}) and needs no tracing; "
            "to trace it as part of a larger model, make it a submodule of that model"
        )
    if not method_inputs:
        raise InputError(
            f"[{api}] no methods to trace: name them with their example inputs, "
            "e.g. jit_trace_module(mod, forward=(x,))"
        )
    _check_flag(api, "strict", strict)
    _check_flag(api, "respect_mode", respect_mode)
    _check_flag(api, "record_source_locations", record_source_locations)

    plans = {}
    methods: dict[str, Callable[..., Any]] = {}
    hint = " (a list holds positional arguments; wrap it in a tuple to pass it as one)"
    for name, inputs in method_inputs.items():
        method = methods[name] = _method(api, mod, name)
        what = f"{type(mod).__name__}.{name}"
        kwargs = (method_kwargs or {}).get(name) or {}
        overrides = variant_overrides(api, what, (method_variants or {}).get(name))
        plans[name] = plan(
            api, method, what, _method_args(inputs), kwargs, overrides, strict,
            hint if isinstance(inputs, list) else "", mod if name == "forward" else method,
        )  # fmt: skip
    for i, spec in enumerate(checks or []):
        for name, inputs in spec.items():
            if name not in method_inputs:
                raise InputError(f"[{api}] check_inputs[{i}] names {name!r}, which is not traced")
            where = _check_label(api, i, name).removeprefix(f"[{api}] ")
            what = f"{where}: {type(mod).__name__}.{name}"
            positional, keywords = _split_check(inputs)
            _check_call(api, methods[name], what, _method_args(positional), keywords)

    training = mod.training
    modules = list(mod.named_modules())
    scripted = script_exports(api, modules)
    if mod in scripted:
        clash = [name for name in methods if name in compiled_methods(scripted[mod])]
        if clash:
            raise InputError(
                f"[{api}] {', '.join(map(repr, clash))} cannot be traced: an @torch.jit.export "
                f"method of {type(mod).__name__} calls it, so TorchScript compiled it from source "
                "already; trace the module without that call, or call the traced method instead"
            )
    checked: list[torch.jit.ScriptModule] = []

    def verify(cpp: torch._C.ScriptModule) -> None:
        # Runs inside the core's scope, which puts `mod` back afterwards, checks or no checks.
        modes = [training, not training] if respect_mode else [training]
        interfaces = {name: Interface.of(p, modes) for name, p in plans.items()}
        checked.append(
            install(wrap(cpp, modules), TraceInfo("module", interfaces, strict, respect_mode))
        )
        _check_module(api, mod, checked[0], checks or [], modes)

    specs = [(name, spec) for name, p in plans.items() for spec in p.specs()]
    cpp, notes = _C.trace_module(
        api,
        mod,
        specs,
        False,  # strict is applied by the plans to what the methods return (see strict_check)
        respect_mode,
        record_source_locations,
        verify if checks else None,
        scripted,
    )
    for kind, message in notes:
        warn_from_caller(message, _WARNINGS[kind])
    traced = checked[0] if checked else wrap(cpp, modules)
    modes = [training, not training] if respect_mode else [training]
    interfaces = {name: Interface.of(p, modes) for name, p in plans.items()}
    return install(
        traced,
        TraceInfo("module", interfaces, strict, respect_mode, non_persistent_buffers(modules)),
    )


_WARNINGS: dict[str, type[Warning]] = {"parameter_modified": RuntimeWarning}


# ---- Modules ---------------------------------------------------------------------------------


def _method(api: str, mod: nn.Module, name: str) -> Callable[..., Any]:
    """The callable `name` of `mod`: a method, or a callable set on the instance (a
    ``functools.partial`` as ``forward``, as accelerate's hooks do)."""
    owner = type(mod).__name__
    attr: object = getattr(mod, name, None)
    if attr is None and name not in dir(mod):
        methods = ", ".join(_methods_of(mod))
        raise InputError(f"[{api}] {name!r} is not a method of {owner}; methods: {methods}")
    if isinstance(attr, nn.Module):
        raise InputError(f"[{api}] {name!r} is a submodule of {owner}, not a method")
    if callable(attr) and not isinstance(attr, type):
        return attr
    raise InputError(
        f"[{api}] {name!r} is an attribute ({type(attr).__name__}) of {owner}, not a method"
    )


def _methods_of(mod: nn.Module) -> list[str]:
    base = set(dir(nn.Module))
    names = [
        n
        for n, v in inspect.getmembers(type(mod), inspect.isfunction)
        if not n.startswith("_") and n not in base
    ]
    return ["forward", *sorted(names)]


def _method_args(inputs: Any) -> tuple[Any, ...]:
    if isinstance(inputs, tuple):
        return inputs
    if isinstance(inputs, list):
        return tuple(inputs)
    return (inputs,)


def _check_label(api: str, i: int, name: str) -> str:
    # jit_trace(module) took positional check inputs: name them as the caller wrote them.
    return f"[{api}] check_inputs[{i}]" + ("" if api == "jit_trace" else f"[{name!r}]")


def _check_module(
    api: str,
    mod: nn.Module,
    traced: torch.jit.ScriptModule,
    checks: Sequence[Mapping[str, Any]],
    modes: Sequence[bool],
) -> None:
    flags = [(m, m.training) for m in traced.modules()]
    try:
        for mode in modes:
            mod.train(mode)
            traced.train(mode)
            for i, spec in enumerate(checks):
                for name, inputs in spec.items():
                    eager = mod if name == "forward" else getattr(mod, name)
                    where = f"{_check_label(api, i, name)} ({'train' if mode else 'eval'} mode)"
                    positional, keywords = _split_check(inputs)
                    check_against_eager(
                        eager, getattr(traced, name), _method_args(positional), where, keywords,
                        method=name, mode="train" if mode else "eval",
                    )  # fmt: skip
    finally:
        for m, training in flags:
            m.training = training


# ---- Arguments -------------------------------------------------------------------------------


# A check input: a tuple of positional arguments, or a _KwargInputs for keyword ones too.
_ARGS = (tuple,)


class _KwargInputs(tuple):  # type: ignore[type-arg]
    """Check inputs with keywords: ``_KwargInputs((x,), {"mask": m})``."""

    __slots__ = ()

    def __new__(cls, args: Sequence[Any], kwargs: Mapping[str, Any]) -> _KwargInputs:
        return super().__new__(cls, (tuple(args), dict(kwargs)))


def _split_check(inputs: Any) -> tuple[Any, dict[str, Any]]:
    if isinstance(inputs, _KwargInputs):
        return inputs[0], inputs[1]
    return inputs, {}


def _check_kwargs(api: str, kwargs: Any) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise InputError(
            f"[{api}] example_kwarg_inputs must be a dict of argument names to example inputs, "
            f"not {type(kwargs).__name__}"
        )
    return dict(kwargs)


def _check_call(
    api: str, func: Callable[..., Any], what: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> None:
    """Checks that check inputs fit `func`'s signature, as the example inputs did."""
    if not kwargs:
        argument_names(api, func, what, len(args))
        return
    signature = signature_of(func)
    if signature is None:
        raise InputError(f"[{api}] {what} has no signature to bind example_kwarg_inputs to")
    try:
        signature.bind(*args, **kwargs)
    except TypeError as e:
        raise InputError(f"[{api}] {what} cannot take these example inputs: {e}") from None


def _check_flag(api: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise InputError(f"[{api}] {name} must be True or False, not {value!r}")


def _check_list(api: str, check_inputs: Any, kind: type | tuple[type, ...]) -> list[Any]:
    what = "tuples of positional arguments" if kind == _ARGS else "dicts of method inputs"
    if not isinstance(check_inputs, (list, tuple)) or not all(
        isinstance(c, kind) for c in check_inputs
    ):
        raise InputError(f"[{api}] check_inputs must be a list of {what}")
    return list(check_inputs)


def _describe(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or type(func).__name__


def _dotted_name(func: Callable[..., Any]) -> str:
    """``module.qualname`` of a function; the core makes it a TorchScript qualified name."""
    module = getattr(func, "__module__", None) or "jittrace"
    name = getattr(func, "__qualname__", None) or type(func).__name__
    return f"{module}.{name}"
