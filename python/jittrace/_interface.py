"""The Python face of a traced method or function: structured inputs go in as their script
form, structured outputs come back as the types the traced code returned.

Inside TorchScript (and so after ``torch.jit.load`` and in C++), structures are tuples and
dicts. ``jittrace.jit_trace`` results and ``jittrace.load`` put a thin Python wrapper in front
of methods whose inputs or outputs are structured, built from an ``Interface``; methods with
plain inputs and outputs get none and run as TorchScript does.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NamedTuple

import torch

from ._arguments import TENSOR, Plan, is_constant
from ._structures import Structure, StructureUnavailable
from ._torchscript import bound_method, training_flag

__all__ = [
    "Interface",
    "StructuredCall",
    "Trace",
    "TraceInfo",
    "TracedFunction",
    "attach",
    "info_of",
    "install",
]


class Trace(NamedTuple):
    """The core's record of one trace it made (``detail::TraceRecord``)."""

    method: str  #: the traced method, or the function's short name
    mode: str | None  #: "train", "eval", or None for a function
    variant: int  #: the index of the variant among the method's (see Plan.variants)
    name: str  #: the TorchScript method or function holding it (``trainforward__1``)
    graph: torch.Graph
    output: int  #: which output of the variant's callable it recorded (Variant.outputs)


_MISSING = object()
_TENSOR, _ = Structure.of(torch.zeros(()))


class Interface:
    """How calls of one traced method map to and from its script form.

    Args:
        names: The traced signature's parameters, in order.
        defaults: Their constant defaults.
        inputs: Structured parameters (not plain), by position.
        outputs: The output structure of each variant (outer) in each traced mode (inner).
        modes: The mode of each trace of a variant (``[True, False]``: train, then eval), or
            ``[None]`` for a function.
        keys: For each variant, the values of the parameters that select it (``TENSOR`` for
            a tensor).
    """

    __slots__ = ("defaults", "inputs", "keys", "modes", "names", "outputs")

    def __init__(
        self,
        names: Sequence[str],
        defaults: Mapping[str, Any],
        inputs: Mapping[int, Structure],
        outputs: Sequence[Sequence[Structure]],
        modes: Sequence[bool | None],
        keys: Sequence[Mapping[str, Any]],
    ) -> None:
        self.names = tuple(names)
        self.defaults = dict(defaults)
        self.inputs = dict(inputs)
        self.outputs = [list(o) for o in outputs]
        self.modes = list(modes)
        self.keys = [dict(k) for k in keys]

    @classmethod
    def of(cls, plan: Plan, traces: Sequence[Trace]) -> Interface:
        """The interface of a finished trace of `plan`: `traces` are the core's records of its
        traces (a function's have no mode), which say which output of which variant each mode
        returned."""
        modes: list[bool | None] = list(
            dict.fromkeys(None if t.mode is None else t.mode == "train" for t in traces)
        )
        outputs: list[list[Structure]] = [[_TENSOR] * len(modes) for _ in plan.variants]
        for t in traces:
            m = modes.index(None if t.mode is None else t.mode == "train")
            outputs[t.variant][m] = plan.variants[t.variant].outputs[t.output]
        if (  # one trace, nothing to select
            len(plan.variants) == 1
            and not plan.inputs
            and not any(map(is_constant, plan.variants[0].inputs))
        ):
            return cls(plan.names, plan.defaults, {}, outputs, modes, [{}])
        tested = plan.tested()
        return cls(
            plan.names,
            plan.defaults,
            plan.inputs,
            outputs,
            modes,
            [v.key(tested) for v in plan.variants],
        )

    @property
    def needed(self) -> bool:
        """Whether calls need a Python wrapper: some input or output is structured."""
        return bool(self.inputs) or any(not s.plain for o in self.outputs for s in o)

    def wrap(
        self, script: Callable[..., Any], training: Callable[[], bool] | None = None
    ) -> Callable[..., Any]:
        """`script` (the TorchScript callable) with structured inputs and outputs.

        `training` reads the module's mode, for a method whose modes return different
        structures.
        """
        inputs = sorted(self.inputs.items())
        names = self.names
        select = self._selector(training)
        fixed = select if isinstance(select, Structure) else None

        def convert(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
            if not inputs:
                return args
            converted = list(args)
            for i, structure in inputs:
                if i < len(converted):
                    converted[i] = structure.to_script(converted[i])
                elif names[i] in kwargs:
                    kwargs[names[i]] = structure.to_script(kwargs[names[i]])
            return tuple(converted)

        if fixed is not None and not inputs:
            if fixed.plain:
                return script
            rebuild = fixed.from_script

            def call_fixed(*args: Any, **kwargs: Any) -> Any:
                return rebuild(script(*args, **kwargs))

            return call_fixed

        def call(*args: Any, **kwargs: Any) -> Any:
            out = script(*convert(args, kwargs), **kwargs)
            structure = fixed if fixed is not None else select(args, kwargs)  # type: ignore[operator]
            return structure.from_script(out)

        return call

    def _selector(
        self, training: Callable[[], bool] | None
    ) -> Structure | Callable[[tuple[Any, ...], dict[str, Any]], Structure]:
        """The output structure, or how to find it from a call's arguments and the mode."""
        unique = {s for o in self.outputs for s in o}
        if len(unique) == 1:
            return next(iter(unique))
        by_mode = any(len(set(o)) > 1 for o in self.outputs)
        by_variant = len({tuple(o) for o in self.outputs}) > 1
        modes = self.modes

        def select(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Structure:
            v = self._variant(args, kwargs) if by_variant else 0
            m = modes.index(training()) if by_mode and training is not None else 0
            return self.outputs[v][m]

        return select

    def _variant(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
        """The variant that a call with these arguments runs (as the TorchScript dispatcher
        picks it); 0 if none matches, when the dispatcher raises anyway."""
        for v, key in enumerate(self.keys):
            if all(_matches(self._argument(n, args, kwargs), want) for n, want in key.items()):
                return v
        return 0

    def _argument(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        i = self.names.index(name)
        if i < len(args):
            return args[i]
        return kwargs.get(name, self.defaults.get(name, _MISSING))

    def to_json(self) -> dict[str, Any]:
        """The manifest's record of this interface (see ``jittrace.save``). A structure whose
        type cannot be recorded (StructureUnavailable) leaves ``inputs`` and ``outputs`` null,
        with the reason under ``unrecorded``."""
        record = self._signature_json()
        try:
            record["inputs"] = {self.names[i]: s.to_json() for i, s in sorted(self.inputs.items())}
            record["outputs"] = [[s.to_json() for s in o] for o in self.outputs]
        except StructureUnavailable as e:
            record.update(inputs=None, outputs=None, unrecorded=str(e))
        return record

    def _signature_json(self) -> dict[str, Any]:
        return {
            "arguments": list(self.names),
            "defaults": {n: repr(v) for n, v in self.defaults.items()},
            "modes": [None if m is None else ("train" if m else "eval") for m in self.modes],
            "variants": [
                {n: TENSOR if v is TENSOR else repr(v) for n, v in k.items()} for k in self.keys
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Interface:
        """The interface recorded by `to_json`. Raises StructureUnavailable for a structure
        that was not recorded, or whose type cannot be imported."""
        if data.get("outputs") is None:
            raise StructureUnavailable(data.get("unrecorded") or "its structures were not recorded")
        names = list(data["arguments"])

        def value(text: str) -> Any:
            return TENSOR if text == TENSOR else ast.literal_eval(text)

        modes: list[bool | None] = [None if m is None else m == "train" for m in data["modes"]]
        return cls(
            names,
            {n: ast.literal_eval(v) for n, v in data["defaults"].items()},
            {names.index(n): Structure.from_json(s) for n, s in data["inputs"].items()},
            [[Structure.from_json(s) for s in o] for o in data["outputs"]],
            modes,
            [{n: value(v) for n, v in k.items()} for k in data["variants"]],
        )


def _matches(value: Any, want: Any) -> bool:
    if value is _MISSING:
        return False
    if want is TENSOR:
        return value is not None and not is_constant(value)
    if want is None:
        return value is None
    return bool(type(value) is type(want) and value == want)


class StructuredCall:
    """A traced method or function behind a Python wrapper for its structured inputs and outputs.

    Calls go through the wrapper; any other attribute is the TorchScript callable's (``.code``,
    ``.graph``, ``.schema``), which is reachable as ``.script``.
    """

    __slots__ = ("_call", "interface", "script")

    def __init__(
        self,
        script: Callable[..., Any],
        interface: Interface,
        training: Callable[[], bool] | None = None,
    ) -> None:
        self.script = script
        self.interface = interface
        self._call = interface.wrap(script, training)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.script, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.script!r})"


class TracedFunction(StructuredCall):
    """A traced function whose inputs or outputs are structured (a namedtuple, a dataclass...).

    Calls convert structured inputs to their script form and rebuild structured outputs;
    everything else is the ``torch.jit.ScriptFunction`` it wraps (``.code``, ``.graph``,
    ``.schema``, ``.save``), reachable as ``.script``. Inside TorchScript, and after
    ``torch.jit.load``, structures are tuples and dicts; ``jittrace.load`` rebuilds them.
    """


class TraceInfo:
    """What jittrace knows of a traced function or module beyond its TorchScript: the Python
    wrappers' interfaces, the traces made, and what ``jittrace.save`` writes into the manifest.

    Args:
        kind: ``"function"`` or ``"module"``.
        methods: The interface of each traced method (a function's is ``"forward"``), or a
            callable that makes them when they are first read.
        strict: The trace's ``strict`` option.
        respect_mode: Whether modules were traced in both modes.
        non_persistent: Non-persistent buffer names by module path (``""``: the root).
        traces: The core's records of the traces made, in the order they ran.

    ``guards`` holds the guards the traces got (``jittrace._guards.Guard``), in order.
    """

    __slots__ = (
        "_make",
        "_methods",
        "guards",
        "kind",
        "non_persistent",
        "respect_mode",
        "strict",
        "traces",
    )

    def __init__(
        self,
        kind: str,
        methods: Mapping[str, Interface] | Callable[[], Mapping[str, Interface]],
        strict: bool,
        respect_mode: bool,
        non_persistent: Mapping[str, Collection[str]] | None = None,
        traces: Sequence[Trace] = (),
    ) -> None:
        self.kind = kind
        self._methods: dict[str, Interface] | None = None
        self._make: Callable[[], Mapping[str, Interface]] | None = None
        if callable(methods):
            self._make = methods
        else:
            self._methods = dict(methods)
        self.strict = strict
        self.respect_mode = respect_mode
        self.non_persistent = {k: sorted(v) for k, v in (non_persistent or {}).items()}
        self.traces = tuple(traces)
        self.guards: tuple[Any, ...] = ()  # the trace's guards (jittrace._guards.Guard)

    @property
    def methods(self) -> dict[str, Interface]:
        """The interface of each traced method, made on first read."""
        if self._methods is None:
            assert self._make is not None
            self._methods = dict(self._make())
            self._make = None
        return self._methods


def attach(traced: Any, info: TraceInfo) -> None:
    """Records `info` on a traced function (a ScriptFunction or TracedFunction)."""
    traced._jittrace = info


def info_of(traced: Any) -> TraceInfo | None:
    """The TraceInfo of a jittrace result, None for anything else."""
    info = getattr(traced, "_jittrace", None)
    return info if isinstance(info, TraceInfo) else None


def install(module: torch.jit.ScriptModule, info: TraceInfo) -> torch.jit.ScriptModule:
    """Attaches `info` to a traced or loaded module and puts a Python wrapper in front of each
    method with structured inputs or outputs."""
    module.__dict__["_jittrace"] = info
    cpp = module._c
    for name, interface in info.methods.items():
        if interface.needed:
            module.__dict__[name] = StructuredCall(
                bound_method(cpp, name), interface, training_flag(cpp)
            )
    return module
