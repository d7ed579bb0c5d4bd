"""The trace pipeline: every trace jittrace makes goes through ``run``, once.

``run`` takes a target (a function, or methods of a module), the example call of each method,
the variants, the checks and the options, and does the whole job: plan the arguments, set up
the trace (devices that follow their tensors; warnings recorded for a report), call the core,
build the Python face of the result from the core's records of what it traced, run the checks,
and, when a report is asked for, hand the finished trace to the report. ``jit_trace``,
``jit_trace_module``, the ``torch.jit`` drop-ins and the command line only translate their own
arguments into it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import time
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import torch
from torch import nn

from . import _C, _functions, _report
from ._arguments import Plan, argument_names, plan, signature_of, variant_overrides
from ._check import Call, Checker
from ._devices import following_devices
from ._errors import InputError, warn_from_caller
from ._functions import InlinedFunction
from ._guards import Guard, guarding, settle
from ._interface import Interface, Trace, TracedFunction, TraceInfo, attach, info_of, install
from ._options import Options
from ._taps import tapped
from ._torchscript import (
    compiled_methods,
    non_persistent_buffers,
    script_exports,
    script_module_attribute,
    wrap,
)

__all__ = ["Check", "Target", "already_scripted", "run"]

#: What a trace gives: a function, a function behind a Python wrapper, or a module.
Traced: TypeAlias = "torch.jit.ScriptFunction[Any, Any] | TracedFunction | torch.jit.ScriptModule"

#: The key of a function's one method (as TraceInfo and the manifest name it).
FUNCTION = "forward"

_NO_KWARGS: Mapping[str, Any] = types.MappingProxyType({})
_NOTHING = contextlib.nullcontext()


class Target:
    """What is traced: a function, or a module whose methods are."""

    __slots__ = ("function", "module")

    def __init__(
        self, *, function: Callable[..., Any] | None = None, module: nn.Module | None = None
    ) -> None:
        self.function = function
        self.module = module

    @classmethod
    def of(cls, api: str, obj: object) -> tuple[Target, str]:
        """What ``jit_trace(obj, ...)`` traces, and the method: a module's ``forward``, the
        method a bound method of a module names, or a function (``FUNCTION``)."""
        if isinstance(obj, nn.Module):
            return cls.of_module(api, obj), "forward"
        if isinstance(obj, types.MethodType) and isinstance(obj.__self__, nn.Module):
            owner, name = obj.__self__, obj.__name__
            if getattr(getattr(owner, name, None), "__func__", None) is not obj.__func__:
                raise InputError(
                    f"[{api}] {_qualname(obj)} is bound to a {type(owner).__name__} but is not "
                    f"its method {name!r}; trace it with jittrace.jit_trace_module so that the "
                    "module's parameters stay parameters"
                )
            return cls.of_module(api, owner), name
        if not callable(obj):
            raise InputError(
                f"[{api}] func must be a callable or an nn.Module, not {type(obj).__name__}"
            )
        return cls(function=obj), FUNCTION

    @classmethod
    def of_module(cls, api: str, mod: object) -> Target:
        """A module whose methods are traced."""
        if not isinstance(mod, nn.Module):
            raise InputError(f"[{api}] mod must be a torch.nn.Module, not {type(mod).__name__}")
        if isinstance(mod, torch.jit.ScriptModule):
            raise InputError(
                f"[{api}] mod is already TorchScript ({type(mod).__name__}) and needs no "
                "tracing; to trace it as part of a larger model, make it a submodule of that model"
            )
        return cls(module=mod)

    def method(self, api: str, name: str) -> Callable[..., Any]:
        """The eager callable of method `name`: the function, or a method of the module (or a
        callable set on the instance, such as a ``functools.partial`` as ``forward``, as
        accelerate's hooks do)."""
        if self.module is None:
            assert self.function is not None
            return self.function
        mod = self.module
        owner = type(mod).__name__
        attr: object = getattr(mod, name, None)
        if attr is None and name not in dir(mod):
            raise InputError(
                f"[{api}] {name!r} is not a method of {owner}; methods: "
                f"{', '.join(methods_of(mod))}"
            )
        if isinstance(attr, nn.Module):
            raise InputError(f"[{api}] {name!r} is a submodule of {owner}, not a method")
        if callable(attr) and not isinstance(attr, type):
            shadowed = None if name == "forward" else script_module_attribute(name)
            if shadowed is not None:
                raise InputError(
                    f"[{api}] {owner}.{name} cannot be traced under the name {name!r}: the "
                    f"traced module is a torch.jit.ScriptModule, whose own {name!r} (from "
                    f"{shadowed}) would shadow the trace, so traced.{name}(...) would not run "
                    "it; give the method another name"
                )
            return attr
        raise InputError(
            f"[{api}] {name!r} is an attribute ({type(attr).__name__}) of {owner}, not a method"
        )

    def what(self, name: str) -> str:
        """How messages name method `name`: ``Net.encode``, or the function's name."""
        if self.module is None:
            return _qualname(self.function)
        return f"{type(self.module).__name__}.{name}"

    def label(self, name: str) -> str:
        """How check results and findings name method `name`: the method, or the function."""
        return name if self.module is not None else _qualname(self.function)


def already_scripted(mod: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    """What ``torch.jit.trace`` does with a ScriptModule: returns it as it is, with its
    warning (the module's methods are TorchScript already; tracing them would record no more)."""
    warn_from_caller(
        "The input to trace is already a ScriptModule, tracing it is a no-op. Returning the "
        "object as is.",
        UserWarning,
    )
    return mod


def methods_of(mod: nn.Module) -> list[str]:
    """The methods of `mod` a user may trace: forward and the public ones its class adds."""
    base = set(dir(nn.Module))
    names = [
        n
        for n, v in inspect.getmembers(type(mod), inspect.isfunction)
        if not n.startswith("_") and n not in base
    ]
    return ["forward", *sorted(names)]


@dataclass(frozen=True)
class Check:
    """One check: example calls of traced methods whose eager and traced outputs must agree.

    Attributes:
        where: How messages name it (``check_inputs[0]``).
        calls: The call of each method it checks.
        keyed: Messages name the method too (``check_inputs[0]['encode']``).
    """

    where: str
    calls: Mapping[str, Call]
    keyed: bool = False

    def label(self, api: str, name: str) -> str:
        return f"[{api}] {self.where}" + (f"[{name!r}]" if self.keyed else "")


def call(args: tuple[Any, ...], kwargs: Mapping[str, Any] | None = None) -> Call:
    """A Call, sharing one empty mapping for calls without keywords."""
    return Call(args, kwargs if kwargs else _NO_KWARGS)


def run(
    target: Target,
    calls: Mapping[str, Call],
    options: Options,
    *,
    variants: Mapping[str, Any] | None = None,
    checks: Sequence[Check] = (),
    hints: Mapping[str, str] | None = None,
) -> Traced:
    """Traces `target` (each method of `calls` with its example call) and returns the traced
    ScriptFunction, TracedFunction or ScriptModule, with its report when one is asked for.

    `variants` maps methods to their variants as the public functions take them; `hints` adds
    to the message of a method whose example inputs do not fit its signature.
    """
    started = time.perf_counter()
    checker = Checker(options.tolerance) if checks or options.report is not None else None
    caught: list[Any] = []
    guards: list[Guard] = []
    inlined: list[InlinedFunction] = []
    traced, traces, plans = _trace(
        target, calls, options, variants, checks, hints, checker, caught, guards, inlined
    )
    if options.report is None:
        return traced

    assert checker is not None

    def retrace(grown: Mapping[str, Call]) -> Mapping[str, Sequence[Trace]]:
        again = dataclasses.replace(options, respect_mode=False, report=None)
        _, traces, _ = _trace(target, grown, again, variants, (), hints, None, [], [], [])
        return _by_method(target, traces)

    mode = None if target.module is None else ("train" if target.module.training else "eval")
    seen = _report.Observed(
        api=options.api,
        labels={name: target.label(name) for name in calls},
        inputs={name: p.variants[0].values for name, p in plans.items()},
        calls=calls,
        traces=_by_method(target, traces),
        mode=mode,
        warnings=caught,
        guards=guards,
        functions=inlined,
        checks=checker.results,
        seconds=time.perf_counter() - started,
    )
    report = _report.observe(seen, options.report, retrace)
    object.__setattr__(traced, "trace_report", report)  # a plain attribute, not TorchScript's
    return traced


def _trace(
    target: Target,
    calls: Mapping[str, Call],
    options: Options,
    variants: Mapping[str, Any] | None,
    checks: Sequence[Check],
    hints: Mapping[str, str] | None,
    checker: Checker | None,
    caught: list[Any],
    guards: list[Guard],
    inlined: list[InlinedFunction],
) -> tuple[Traced, list[Trace], dict[str, Plan]]:
    """The trace itself: `caught` collects the warnings (with a report), `guards` the guards,
    `inlined` the custom autograd Functions traced through."""
    api = options.api
    tracing = [""]  # the method being traced, for guard messages (set by its callable)
    if not calls:
        raise InputError(
            f"[{api}] no methods to trace: name them with their example inputs, "
            "e.g. jit_trace_module(mod, forward=(x,))"
        )
    plans: dict[str, Plan] = {}
    eager: dict[str, Callable[..., Any]] = {}
    for name, example in calls.items():
        fn = eager[name] = target.method(api, name)
        what = target.what(name)
        overrides = variant_overrides(api, what, (variants or {}).get(name))
        hint = (hints or {}).get(name, "")
        # A module's forward is traced through the module, so that its hooks run.
        traced_call = target.module if name == "forward" and target.module is not None else fn
        if options.guards:
            traced_call = _announced(traced_call, target.label(name), tracing)
        plans[name] = plan(
            api, fn, what, example.args, example.kwargs, overrides, options.strict, hint,
            traced_call,
        )  # fmt: skip
    for check in checks:
        for name, example in check.calls.items():
            if name not in calls:
                raise InputError(f"[{api}] {check.where} names {name!r}, which is not traced")
            where = check.label(api, name).removeprefix(f"[{api}] ")
            _fits(api, eager[name], f"{where}: {target.what(name)}", example)
    # The set-up: the taps through which the parts below see the traced code go on torch's
    # classes once (see _taps); devices taken from tensors follow them; with a report, warnings
    # are recorded and device constants stamped with the user's line; each value the traced
    # code takes from a traced tensor becomes a guard (see _guards).
    reporting = options.report is not None
    module = target.module

    def describe() -> tuple[str, str | None]:
        return tracing[0], None if module is None else ("train" if module.training else "eval")

    with (
        _report.recording_warnings(caught) if reporting else _NOTHING,
        tapped(options.guards),
        following_devices(stamp=reporting),
        guarding(describe) if options.guards else _NOTHING as found,
        _functions.autograd_functions(options.autograd_functions) as functions,
    ):
        if target.module is None:
            traced, traces = _trace_function(target, plans[FUNCTION], options, checks, checker)
        else:
            traced, traces = _trace_module(target, plans, options, checks, checker)
    inlined.extend(functions.inlined)
    if found:
        guards.extend(found)
        info = info_of(traced)
        assert info is not None
        info.guards = tuple(found)
    return traced, traces, plans


def _announced(call: Callable[..., Any], label: str, tracing: list[str]) -> Callable[..., Any]:
    """`call`, which first notes that `label` is being traced (for guard messages)."""

    def traced(*args: Any, **kwargs: Any) -> Any:
        tracing[0] = label
        out = call(*args, **kwargs)
        settle()  # the guards that waited for what the trace recorded next
        return out

    return traced


def _trace_function(
    target: Target,
    plan: Plan,
    options: Options,
    checks: Sequence[Check],
    checker: Checker | None,
) -> tuple[Traced, list[Trace]]:
    func = target.function
    assert func is not None
    fn, records = _C.trace_function(
        plan.specs(), _dotted_name(func), False, options.record_source_locations
    )
    traces = [Trace(*r) for r in records]
    _functions.check(options.api, traces, target.what)  # [autograd-fn] before any check runs
    info = TraceInfo(
        "function",
        lambda: {FUNCTION: Interface.of(plan, traces)},
        options.strict,
        False,
        traces=traces,
    )
    traced: Traced = TracedFunction(fn, info.methods[FUNCTION]) if plan.structured else fn
    attach(traced, info)
    for check in checks:
        assert checker is not None
        checker.check(
            func,
            traced,
            check.calls[FUNCTION],
            check.label(options.api, FUNCTION),
            method=target.label(FUNCTION),
        )
    return traced, traces


def _trace_module(
    target: Target,
    plans: Mapping[str, Plan],
    options: Options,
    checks: Sequence[Check],
    checker: Checker | None,
) -> tuple[torch.jit.ScriptModule, list[Trace]]:
    api = options.api
    mod = target.module
    assert mod is not None
    modules = list(mod.named_modules())
    scripted = script_exports(api, modules)
    if mod in scripted:
        clash = [name for name in plans if name in compiled_methods(scripted[mod])]
        if clash:
            raise InputError(
                f"[{api}] {', '.join(map(repr, clash))} cannot be traced: an @torch.jit.export "
                f"method of {type(mod).__name__} calls it, so TorchScript compiled it from source "
                "already; trace the module without that call, or call the traced method instead"
            )
    made: list[tuple[torch.jit.ScriptModule, list[Trace]]] = []

    def finish(cpp: torch._C.ScriptModule, records: Sequence[Any]) -> None:
        traces = [Trace(*r) for r in records]
        _functions.check(api, traces, target.what)  # [autograd-fn] before any check runs

        def interfaces() -> dict[str, Interface]:
            return {
                name: Interface.of(p, [t for t in traces if t.method == name])
                for name, p in plans.items()
            }

        info = TraceInfo(
            "module",
            interfaces,
            options.strict,
            options.respect_mode,
            non_persistent_buffers(modules),
            traces,
        )
        made.append((install(wrap(cpp, modules), info), traces))

    def verify(cpp: torch._C.ScriptModule, records: Sequence[Any]) -> None:
        # Runs inside the core's scope, which puts `mod` back afterwards, checks or no checks.
        finish(cpp, records)
        traced, traces = made[0]
        assert checker is not None
        checker.check_module(
            mod,
            traced,
            [
                (name, check.label(api, name), example)
                for check in checks
                for name, example in check.calls.items()
            ],
            sorted({t.mode == "train" for t in traces}),
        )

    specs = [(name, spec) for name, p in plans.items() for spec in p.specs()]
    cpp, notes, records = _C.trace_module(
        api,
        mod,
        specs,
        False,  # strict is applied by the plans to what the methods return (see strict_check)
        options.respect_mode,
        options.record_source_locations,
        verify if checks else None,
        scripted,
    )
    for kind, message in notes:
        warn_from_caller(message, _WARNINGS[kind])
    if not made:
        finish(cpp, records)
    return made[0]


_WARNINGS: dict[str, type[Warning]] = {"parameter_modified": RuntimeWarning}


def _by_method(target: Target, traces: Sequence[Trace]) -> dict[str, list[Trace]]:
    """The traces of each method (a function's are all FUNCTION's)."""
    out: dict[str, list[Trace]] = {}
    for t in traces:
        out.setdefault(FUNCTION if target.module is None else t.method, []).append(t)
    return out


def _fits(api: str, func: Callable[..., Any], what: str, example: Call) -> None:
    """Checks that check inputs fit `func`'s signature, as the example inputs did."""
    if not example.kwargs:
        argument_names(api, func, what, len(example.args))
        return
    signature = signature_of(func)
    if signature is None:
        raise InputError(f"[{api}] {what} has no signature to bind example_kwarg_inputs to")
    try:
        signature.bind(*example.args, **example.kwargs)
    except TypeError as e:
        raise InputError(f"[{api}] {what} cannot take these example inputs: {e}") from None


def _qualname(func: Any) -> str:
    if isinstance(func, torch.jit.ScriptFunction):
        return cast(str, func.name)  # a property (typeshed has it as a method)
    return getattr(func, "__qualname__", None) or type(func).__name__


def _dotted_name(func: Callable[..., Any]) -> str:
    """``module.qualname`` of a function; the core makes it a TorchScript qualified name."""
    module = getattr(func, "__module__", None) or "jittrace"
    return f"{module}.{_qualname(func)}"
