"""How a traced callable is called: example arguments bound through its signature, non-tensor
arguments as constants, variants, and structured inputs and outputs.

A *plan* says what the core traces for one method or function: one variant per combination of
example arguments, each a callable taking one value per traced parameter (in script form, see
``_structures``) and returning its output in script form, plus what the Python wrapper of the
result needs to rebuild structures.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import types
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from . import _C
from ._errors import InputError, TraceError
from ._structures import Structure

__all__ = ["Plan", "Variant", "plan", "variant_overrides"]

#: How a variant shows a tensor argument (manifest, messages).
TENSOR = "<tensor>"

_TENSOR_STRUCTURE, _ = Structure.of(torch.zeros(()))

#: Whether a value is a constant of the trace: it holds no tensor (None, bool, int, float, str,
#: in tuples, lists and dicts, empty ones included). The core's rule, asked, not repeated.
is_constant: Callable[[Any], bool] = _C.is_constant


class Variant:
    """One traced combination of example arguments."""

    __slots__ = ("call", "inputs", "outputs", "values")

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values  # parameter -> example value, as given
        self.inputs: tuple[Any, ...] = ()  # their script forms, in parameter order
        self.call: Callable[..., Any] = _unset
        self.outputs: list[Structure] = []  # the output structure of each trace, in order

    def key(self, tested: Sequence[str]) -> dict[str, Any]:
        """The values of the `tested` parameters: constants as they are, tensors as TENSOR."""
        return {n: self.values[n] if is_constant(self.values[n]) else TENSOR for n in tested}


def _unset(*args: Any) -> Any:
    raise AssertionError("variant call not set")  # pragma: no cover


class Plan:
    """The traces of one method or function, and what its Python wrapper needs."""

    __slots__ = ("defaults", "inputs", "names", "variants")

    def __init__(
        self,
        names: tuple[str, ...],
        defaults: dict[str, Any],
        variants: list[Variant],
        inputs: dict[int, Structure],
    ) -> None:
        self.names = names  # the traced signature's parameters, in order
        self.defaults = defaults  # constant defaults of those parameters
        self.variants = variants
        self.inputs = inputs  # structured parameters (not plain) by position

    def specs(self) -> list[tuple[Callable[..., Any], tuple[Any, ...], list[str], dict[str, Any]]]:
        """What the binding takes: (callable, inputs, argument names, defaults) per variant."""
        names = list(self.names)
        return [(v.call, v.inputs, names, self.defaults) for v in self.variants]

    @property
    def structured(self) -> bool:
        """Whether calls need a Python wrapper (see Interface.needed): a structured input, or
        a structured output of any trace made."""
        return bool(self.inputs) or any(not s.plain for v in self.variants for s in v.outputs)

    def tested(self) -> list[str]:
        """Parameters whose values select a variant: those given a constant (None included)."""
        return [n for n in self.names if any(is_constant(v.values[n]) for v in self.variants)]


def variant_overrides(api: str, what: str, variants: Any) -> list[dict[str, Any]]:
    """The argument overrides of each variant: ``[{}]`` (the example alone) without `variants`.

    `variants` is a dict of parameter names to lists of values (every combination is traced)
    or a list of dicts (each is one variant: the example arguments with these replaced).
    """
    if variants is None:
        return [{}]
    if isinstance(variants, Mapping):
        names = list(variants)
        choices = []
        for name in names:
            values = variants[name]
            if not isinstance(name, str) or not isinstance(values, (list, tuple)) or not values:
                raise InputError(
                    f"[{api}] variants of {what}: {name!r} must map to a non-empty list of "
                    f"values, not {type(values).__name__}"
                )
            choices.append(values)
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]
    if isinstance(variants, (list, tuple)) and variants:
        out = []
        for i, v in enumerate(variants):
            if not isinstance(v, Mapping) or not all(isinstance(k, str) for k in v):
                raise InputError(
                    f"[{api}] variants[{i}] of {what} must be a dict of argument names to "
                    f"values, not {type(v).__name__}"
                )
            out.append(dict(v))
        return out
    raise InputError(
        f"[{api}] variants of {what} must be a dict of argument names to lists of values, or a "
        f"non-empty list of dicts of argument values, not {type(variants).__name__}"
    )


def plan(
    api: str,
    func: Callable[..., Any],
    what: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    overrides: list[dict[str, Any]],
    strict: bool,
    hint: str = "",
    call: Callable[..., Any] | None = None,
) -> Plan:
    """The plan for tracing ``func(*args, **kwargs)`` once per override.

    Without keywords or variants, the arguments are positional and the traced callable is
    `call` (default `func`). Otherwise they are bound through the signature: every argument
    given becomes a parameter of the trace, in signature order, named after its parameter
    (``*args`` items as ``args_0``...), and the callable rebuilds the call, so that parameters
    not given keep their defaults.
    """
    call = func if call is None else call
    arguments = _arguments(func)
    signature = arguments.signature
    if not kwargs and overrides == [{}]:
        names = argument_names(api, func, what, len(args), hint)
        if not names and args:
            names = tuple(f"argument_{i + 1}" for i in range(len(args)))
        variants = [Variant(dict(zip(names, args, strict=True)))]
        layout: list[tuple[str, Any, tuple[str, ...]]] | None = None
        rows: list[tuple[Any, ...]] = [args]
    else:
        if signature is None:
            raise InputError(f"[{api}] {what} has no signature to bind keyword inputs to")
        names, layout, rows, variants = _bind(api, what, signature, args, kwargs, overrides, hint)
    defaults = arguments.defaults(tuple(names))
    check = strict_check(api, what, strict)
    structures: dict[int, Structure] = {}  # the first structured value of each parameter
    for variant, row in zip(variants, rows, strict=True):
        own: dict[int, Structure] = {}
        script = []
        for i, value in enumerate(row):
            if type(value) is torch.Tensor:  # the common case: a plain input, as it is
                script.append(value)
                continue
            if is_constant(value):
                script.append(value)  # as it is, empty containers too: the core specialises
                continue
            structure, form = Structure.of(value)
            if not structure.plain:
                own[i] = structure
                structures.setdefault(i, structure)
            script.append(form)
        variant.inputs = tuple(script)
        variant.call = _traced_call(call, variant, own, layout, signature, check)
    return Plan(tuple(names), defaults, variants, structures)


def _bind(
    api: str,
    what: str,
    signature: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    overrides: list[dict[str, Any]],
    hint: str,
) -> tuple[
    tuple[str, ...], list[tuple[str, Any, tuple[str, ...]]], list[tuple[Any, ...]], list[Variant]
]:
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as e:
        raise InputError(f"[{api}] {what} cannot take these example inputs: {e}{hint}") from None
    params = signature.parameters
    variable = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    for i, changes in enumerate(overrides):
        for name in changes:
            if name not in params or params[name].kind in variable:
                where = f"variant {i}" if len(overrides) > 1 else "variants"
                raise InputError(
                    f"[{api}] {where} of {what} names {name!r}, which is not a named parameter; "
                    f"parameters: {', '.join(n for n, p in params.items() if p.kind not in variable)}"
                )
    given = set(bound.arguments).union(*overrides)
    order = [n for n in params if n in given]
    arguments_of = []
    for i, changes in enumerate(overrides):
        arguments = {}
        for name in order:
            if name in changes:
                arguments[name] = changes[name]
            elif name in bound.arguments:
                arguments[name] = bound.arguments[name]
            elif params[name].default is not inspect.Parameter.empty:
                arguments[name] = params[name].default
            else:
                raise InputError(
                    f"[{api}] variant {i} of {what} gives no {name!r}, which another variant "
                    "gives and which has no default"
                )
        arguments_of.append(arguments)

    names: list[str] = []
    layout: list[tuple[str, Any, tuple[str, ...]]] = []  # (parameter, kind, its input names)
    for name in order:
        kind = params[name].kind
        value: Any = bound.arguments.get(name)
        if kind is inspect.Parameter.VAR_POSITIONAL:
            own = tuple(f"{name}_{i}" for i in range(len(value)))
        elif kind is inspect.Parameter.VAR_KEYWORD:
            own = tuple(value)
        else:
            own = (name,)
        names.extend(own)
        layout.append((name, kind, own))
    rows: list[tuple[Any, ...]] = []
    variants: list[Variant] = []
    for arguments in arguments_of:
        row: list[Any] = []
        for name, kind, _ in layout:
            if kind is inspect.Parameter.VAR_POSITIONAL:
                row.extend(arguments[name])
            elif kind is inspect.Parameter.VAR_KEYWORD:
                row.extend(arguments[name].values())
            else:
                row.append(arguments[name])
        rows.append(tuple(row))
        variants.append(Variant(dict(zip(names, row, strict=True))))
    return tuple(names), layout, rows, variants


def _traced_call(
    call: Callable[..., Any],
    variant: Variant,
    structures: Mapping[int, Structure],
    layout: list[tuple[str, Any, tuple[str, ...]]] | None,
    signature: inspect.Signature | None,
    strict: Callable[[Structure], None],
) -> Callable[..., Any]:
    """What the core traces for `variant`: rebuilds structured inputs and the call, and returns
    the output in script form, noting its structure. Python numbers in the output are traced
    where the trace computed them from sizes (see traced_number), and fixed otherwise."""
    rebuild = list(structures.items())
    outputs = variant.outputs

    def traced(*inputs: Any) -> Any:
        if rebuild:
            values = list(inputs)
            for i, structure in rebuild:
                values[i] = structure.from_script(values[i])
            inputs = tuple(values)
        out = call(*inputs) if layout is None else _call_bound(call, signature, layout, inputs)
        if type(out) is torch.Tensor and out.dim():  # the common case, kept cheap
            outputs.append(_TENSOR_STRUCTURE)
            return out
        structure, script = Structure.of_output(out, traced_number)
        strict(structure)
        outputs.append(structure)
        if script is None and out is not None:
            return ()  # nothing but empty containers and None: the structure rebuilds them
        return script

    return traced


# The operators that Python's arithmetic, comparisons and bit operations on a traced size record
# (``n + 1``, ``1 - n``, ``n // 2``, ``-n``, ``n > m``, ``n & 1``...); in-place ones end with "_".
_NUMBER_OPS = frozenset(
    f"aten::{op}"
    for op in (
        *("add", "sub", "rsub", "mul", "div", "reciprocal", "floor_divide", "remainder", "pow"),
        *("neg", "positive", "abs", "eq", "ne", "lt", "le", "gt", "ge"),
        *("__and__", "__or__", "__xor__", "__lshift__", "__rshift__"),
        *("bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor"),
    )
)
_NUMBER_DTYPES = {
    torch.int64: "int",
    torch.bool: "bool",
    torch.float32: "float",
    torch.float64: "float",
}


def traced_number(tensor: torch.Tensor) -> str | None:
    """While tracing: the Python type (``"int"``, ``"float"``, ``"bool"``) of `tensor` in eager
    code, when it is a number that the trace computed from tensor sizes; None for a tensor.

    Under tracing, ``x.size(i)``, ``x.shape[i]``, ``x.numel()`` and ``len(x)`` are 0-dim
    tensors (``prim::NumToTensor`` in the graph) where eager code has ints, and Python
    operators on them record aten operators. So a 0-dim tensor is a number when the graph
    computes it with those operators from sizes and Python constants (0-dim
    ``prim::Constant`` operands) only. ``int(n)``, ``n.item()`` and ``x.dim()`` give Python
    numbers already, which the trace holds as constants.
    """
    if tensor.dim() or tensor.requires_grad or type(tensor) is not torch.Tensor:
        return None
    kind = _NUMBER_DTYPES.get(tensor.dtype)
    if kind is None or not torch._C._get_tracing_state():
        return None
    stack = [torch._C._get_value_trace(tensor)]  # type: ignore[attr-defined]  # no stub
    seen: set[int] = set()
    sized = False
    while stack:
        value = stack.pop()
        if value.unique() in seen:
            continue
        seen.add(value.unique())
        node = value.node()
        op = node.kind()
        if op == "prim::NumToTensor":
            sized = True
            continue
        if op.removesuffix("_") not in _NUMBER_OPS or len(seen) > 1000:
            return None
        for operand in node.inputs():
            if not isinstance(operand.type(), torch._C.TensorType):
                continue  # a scalar operand (a Python number, an alpha)
            source = operand.node()
            if source.kind() == "prim::Constant":
                if source.t("value").dim():
                    return None
                continue  # a Python number as a wrapped 0-dim tensor
            stack.append(operand)
    return kind if sized else None


def strict_check(api: str, what: str, strict: bool) -> Callable[[Structure], None]:
    """libtorch's strict tracing, applied to the containers the traced code returns itself.

    A dict's keys, or a list's length, could depend on the inputs where a trace cannot see:
    with strict, a dict is refused and a list warned about, as libtorch's tracer does. The
    mappings and sequences of structures (a ``ModelOutput``, a namedtuple) are recorded, so
    jittrace traces with libtorch's check off and applies it here to exact dicts and lists.
    """
    if not strict:
        return _no_check

    def check(structure: Structure) -> None:
        for kind, path in structure.containers():
            where = f"output{path}"
            if kind == "dict":
                raise TraceError(
                    f"[{api}] {what} returned a dict at {where} (Encountering a dict at the "
                    "output of the tracer); with strict=True a dict output is refused, since "
                    "its keys could depend on the inputs: return a namedtuple or a dataclass "
                    "(jittrace gives it back as such), or pass strict=False"
                )
            warnings.warn(
                f"{what} returned a list at {where} (Encountering a list at the output of the "
                "tracer might cause the trace to be incorrect): the trace fixes its length, "
                "which could depend on the inputs; return a tuple, or pass strict=False to "
                "allow this",
                torch.jit.TracerWarning,  # type: ignore[attr-defined]  # not re-exported
                stacklevel=2,
            )

    return check


def _no_check(structure: Structure) -> None:
    pass


def _call_bound(
    call: Callable[..., Any],
    signature: inspect.Signature | None,
    layout: list[tuple[str, Any, tuple[str, ...]]],
    inputs: tuple[Any, ...],
) -> Any:
    """Calls `call` with `inputs` bound back to the parameters they came from."""
    assert signature is not None
    arguments: dict[str, Any] = {}
    at = 0
    for name, kind, own in layout:
        part = inputs[at : at + len(own)]
        at += len(own)
        if kind is inspect.Parameter.VAR_POSITIONAL:
            arguments[name] = tuple(part)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            arguments[name] = dict(zip(own, part, strict=True))
        else:
            arguments[name] = part[0]
    call_args = inspect.BoundArguments(signature, arguments)  # type: ignore[arg-type,unused-ignore]
    return call(*call_args.args, **call_args.kwargs)


# ---- Signatures ------------------------------------------------------------------------------


class _Arguments:
    """What a function's signature says about its example inputs, computed once per function."""

    __slots__ = ("_defaults", "names", "signature")

    def __init__(self, func: Callable[..., Any]) -> None:
        try:
            self.signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):  # builtins without a signature
            self.signature = None
        self.names: dict[int, tuple[str, ...]] = {}  # by number of example inputs
        self._defaults: dict[tuple[str, ...], dict[str, Any]] = {}  # by traced parameters

    def defaults(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The constant defaults of parameters `names` (others cannot be written in
        TorchScript). The same dict for the same names: callers do not change it."""
        found = self._defaults.get(names)
        if found is not None:
            return found
        out: dict[str, Any] = {}
        for name in names if self.signature is not None else ():
            p = self.signature.parameters.get(name)  # type: ignore[union-attr]
            if p is None or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.default is not p.empty and is_constant(p.default):
                out[name] = p.default
        self._defaults[names] = out
        return out


# By function, so that retracing pays neither inspect.signature nor binding again (they were
# about a third of a small function's trace). A bound method is a new object on every access
# but its function is not, and its signature lacks `self` whatever the instance: bound methods
# have a cache of their own. Weak keys: the caches keep no function alive.
_functions: weakref.WeakKeyDictionary[Any, _Arguments] = weakref.WeakKeyDictionary()
_methods: weakref.WeakKeyDictionary[Any, _Arguments] = weakref.WeakKeyDictionary()


def _arguments(func: Callable[..., Any]) -> _Arguments:
    cache, key = (
        (_methods, func.__func__) if isinstance(func, types.MethodType) else (_functions, func)
    )
    try:
        return cache[key]
    except (KeyError, TypeError):  # TypeError: not weakly referenceable
        pass
    arguments = _Arguments(func)
    with contextlib.suppress(TypeError):
        cache[key] = arguments
    return arguments


def signature_of(func: Callable[..., Any]) -> inspect.Signature | None:
    """``inspect.signature(func)``, cached; None for builtins without one."""
    return _arguments(func).signature


def argument_names(
    api: str, func: Callable[..., Any], what: str, count: int, hint: str = ""
) -> tuple[str, ...]:
    """Graph input names from the signature, after checking that `count` arguments fit it."""
    arguments = _arguments(func)
    names = arguments.names.get(count)
    if names is not None:
        return names
    signature = arguments.signature
    if signature is None:
        return ()
    try:
        signature.bind(*range(count))
    except TypeError as e:
        raise InputError(f"[{api}] {what} cannot take {count} example inputs: {e}{hint}") from None
    found: list[str] = []
    for p in signature.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            found.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            found.extend(f"{p.name}_{i}" for i in range(count - len(found)))
    names = arguments.names[count] = tuple(found[:count])
    return names
