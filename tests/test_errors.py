"""Every error case of the Python API, in one table.

Each case is a bad call with the exact exception type it raises (not a subclass: a
TraceCheckError does not pass for a TraceError) and a pattern its message must match. After
each one no tracing state is left behind and the next trace works.

jittrace raises InputError for arguments it cannot trace, TraceError for traces that cannot
become TorchScript and TraceCheckError for check_inputs that differ from eager mode. An
exception raised by the traced code itself passes through unchanged: the user's own type, and
torch's RuntimeError for a torch error. Calling a traced function with the wrong inputs is
torch's business and raises torch's errors.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from typing import Any

import jittrace
import numpy as np
import pytest
import torch
from jittrace import jit_trace, jit_trace_module
from torch import nn

X = torch.randn(3)
CAPTURED = torch.ones(3)
CAPTURED_REQUIRING_GRAD = torch.ones(3, requires_grad=True)

# The example inputs message after the path, e.g. "example_inputs[0] is None" + NOT_A_TENSOR.
NOT_A_TENSOR = (
    r"; an example input must be a tensor, a tuple, list or dict of tensors, or a constant "
    r"without tensors \(bool, int, float, str, None, or a tuple, list or dict of them\)"
)
FROM_NUMPY = r" \(convert it with torch\.from_numpy\)"
REGISTER = (
    r" \(jittrace takes apart namedtuples, dataclasses, dict subclasses and classes registered "
    r"with torch\.utils\._pytree; register this one to trace its tensors\)"
)
IN_A_TENSOR_ARGUMENT = (
    r" \(a constant must be a whole argument, not part of one that holds tensors\)"
)
NOT_AN_OUTPUT = (
    r"; outputs must be tensors, or tuples, lists and dicts of tensors \(Only tensors, lists, "
    r"tuples of tensors, or dictionary of tensors can be output from traced functions\)"
)
LARGEST_1 = r"largest absolute difference 1 \(rtol=1e-05, atol=1e-05\)$"


class Boom(Exception):
    """An exception of the user's own."""


def identity(x):
    return x


def add(x, y):
    return x + y


def boom_after_an_op(x):
    torch.relu(x)  # some operations are recorded before the failure
    raise Boom("the error abcde")


def interrupted(x):
    raise KeyboardInterrupt


def branches_on_the_sign(x):
    return x * 2 if bool(x.sum() > 0) else x  # data-dependent: baked into the trace


def nested_jit_trace(x):
    return jit_trace(torch.relu, x)(x)


def nested_module_trace(x):
    return jit_trace(nn.Linear(3, 3), x)(x)


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.bn = nn.BatchNorm1d(3)
        self.scale = 2.0

    def forward(self, x):
        return self.bn(self.fc(x))

    def decode(self, x):
        return x * 2


class WithStaticMethod(Small):
    @staticmethod
    def helper(x):
        return x


class KwargsOnly(nn.Module):
    def forward(self, **inputs):
        return inputs["x"]


class ShadowsGenerated(nn.Module):
    """Has a submodule named like the method respect_mode generates for forward."""

    def __init__(self):
        super().__init__()
        self.evalforward = nn.Identity()

    def forward(self, x):
        return x * 2


class Clash(nn.Module):
    def forward(self, x):
        return x

    def trainforward(self, x):
        return x


class ReturnsNumberInEval(nn.Module):
    def forward(self, x):
        return x if self.training else 1


class ReturnsDict(nn.Module):
    def forward(self, x):
        return {"a": x}


class ReadsGradTensorAttribute(nn.Module):
    def __init__(self):
        super().__init__()
        self.weights = [torch.ones(3, requires_grad=True)]  # not a parameter: a plain list

    def forward(self, x):
        return x * self.weights[0]


class Branchy(nn.Module):
    def forward(self, x):
        return branches_on_the_sign(x)


class BranchyInTrain(nn.Module):
    def forward(self, x):
        return x * 2 if not self.training or bool(x.sum() > 0) else x


class BranchyInEval(nn.Module):
    def forward(self, x):
        return x * 2 if self.training or bool(x.sum() > 0) else x


class ForwardRaises(Small):
    def forward(self, x):
        self.fc(x)
        raise Boom("forward broke")


class DecodeRaises(Small):
    def decode(self, x):
        raise Boom("decode broke")


class ForwardInterrupted(Small):
    def forward(self, x):
        raise KeyboardInterrupt


def contains_itself() -> nn.Module:
    m = Small()
    m._modules["me"] = m
    return m


def contains_an_ancestor() -> nn.Module:
    m = Small()
    m.inner = nn.Sequential(nn.Linear(3, 3))
    m.inner._modules["up"] = m
    return m


def added_to_itself() -> nn.Module:
    m = nn.Sequential(nn.Linear(1, 1))
    m.add_module("again", m)
    return m


def parameter_slot_holding(value: Any) -> nn.Module:
    m = Small()
    m.fc._parameters["w"] = value
    return m


def buffer_slot_holding(value: Any) -> nn.Module:
    m = Small()
    m._buffers["b"] = value
    return m


def parameter_named(name: str) -> nn.Module:
    m = Small()
    m._parameters[name] = nn.Parameter(torch.ones(1))
    return m


def with_k(x, k: int = 1):
    return x * k


def ignores_k(x, k):
    return x


def saved(**extra: Any) -> None:
    """jittrace.save of a traced function to a temporary file, with `extra` arguments."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        jittrace.save(jit_trace(identity, X), extra.pop("path", f"{tmp}/f.pt"), **extra)


def traced_stack() -> Callable[..., Any]:
    return jit_trace(torch.stack, [X, X])


class ExportCallsForward(nn.Module):
    def forward(self, x):
        return x * 2

    @torch.jit.export
    def twice(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x) * 2


class ExportDoesNotCompile(nn.Module):
    def forward(self, x):
        return x * 2

    @torch.jit.export
    def uses_python(self, x: torch.Tensor) -> torch.Tensor:
        return x * len({1: 2}.items().mapping)  # not TorchScript


class Holds(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


def with_hook(kind: str) -> nn.Module:
    """A Small whose fc has a backward hook registered with `kind`."""
    mod = Small()
    getattr(mod.fc, kind)(lambda *args: None)
    return mod


def with_global_backward_hook(make: Callable[[], Any]) -> Any:
    handle = nn.modules.module.register_module_full_backward_hook(lambda *args: None)
    try:
        return make()
    finally:
        handle.remove()


def case(
    name: str,
    make: Callable[[], Any],
    error: type[BaseException],
    pattern: str,
    *,
    xfail: str | None = None,
    tracer_warns: bool = False,
) -> Any:
    """One row: `make()` raises exactly `error`, with a message that `pattern` finds.

    `xfail` marks a message the table asserts as it should be, not as it is; `tracer_warns`
    a case whose traced code makes libtorch's tracer warn, as intended.
    """
    marks = []
    if xfail:
        marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason=xfail))
    if tracer_warns:
        marks.append(pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"))
    return pytest.param(make, error, pattern, id=name, marks=marks)


# fmt: off
CASES = [
    # ---- jit_trace's arguments ---------------------------------------------------------------
    case("func-int", lambda: jit_trace(3, X), jittrace.InputError,
         r"^\[jit_trace\] func must be a callable or an nn\.Module, not int$"),
    case("func-str", lambda: jit_trace("relu", X), jittrace.InputError,
         r"^\[jit_trace\] func must be a callable or an nn\.Module, not str$"),
    case("func-none", lambda: jit_trace(None, X), jittrace.InputError,
         r"^\[jit_trace\] func must be a callable or an nn\.Module, not NoneType$"),
    case("func-list", lambda: jit_trace([torch.relu], X), jittrace.InputError,
         r"^\[jit_trace\] func must be a callable or an nn\.Module, not list$"),
    case("func-bound-to-a-module-but-not-its-method",
         lambda: jit_trace(types.MethodType(add, Small()), X), jittrace.InputError,
         r"^\[jit_trace\] add is bound to a Small but is not its method 'add'; trace it with "
         r"jittrace\.jit_trace_module so that the module's parameters stay parameters$"),
    case("named-inputs", lambda: jit_trace(add, x=X, y=X), jittrace.InputError,
         r"^\[jit_trace\] example inputs can not be named \(got x, y=\.\.\.\); pass them "
         r"positionally in the order of the function's arguments, or by keyword in "
         r"example_kwarg_inputs$"),
    case("named-inputs-of-a-module", lambda: jit_trace(Small(), x=X), jittrace.InputError,
         r"^\[jit_trace\] example inputs can not be named \(got x=\.\.\.\)"),
    case("module-kwarg-inputs-not-dicts",
         lambda: jit_trace_module(Small(), forward=X, example_kwarg_inputs={"forward": [X]}),
         jittrace.InputError,
         r"^\[jit_trace_module\] example_kwarg_inputs\['forward'\] must be a dict of argument "
         r"names to example inputs, not list$"),
    case("module-kwarg-inputs-not-a-dict",
         lambda: jit_trace_module(Small(), forward=X, example_kwarg_inputs=[X]),
         jittrace.InputError,
         r"^\[jit_trace_module\] example_kwarg_inputs must be a dict of method names to dicts "
         r"of keyword inputs, not list$"),
    case("exported-method-calls-forward", lambda: jit_trace(ExportCallsForward(), X),
         jittrace.InputError,
         r"^\[jit_trace\] 'forward' cannot be traced: an @torch\.jit\.export method of "
         r"ExportCallsForward calls it, so TorchScript compiled it from source already"),
    case("exported-method-does-not-compile", lambda: jit_trace(Holds(ExportDoesNotCompile()), X),
         jittrace.InputError,
         r"^\[jit_trace\] mod\.inner: the @torch\.jit\.export methods of ExportDoesNotCompile do "
         r"not compile with TorchScript \(torch\.jit\.trace compiles them too\): "),
    case("kwarg-inputs-not-a-dict", lambda: jit_trace(add, X, example_kwarg_inputs=[X]),
         jittrace.InputError,
         r"^\[jit_trace\] example_kwarg_inputs must be a dict of argument names to example "
         r"inputs, not list$"),
    case("kwarg-input-unknown",
         lambda: jit_trace(add, X, example_kwarg_inputs={"y": X, "z": X}),
         jittrace.InputError,
         r"^\[jit_trace\] add cannot take these example inputs: got an unexpected keyword "
         r"argument 'z'$"),
    case("kwarg-input-given-twice", lambda: jit_trace(add, X, example_kwarg_inputs={"x": X}),
         jittrace.InputError,
         r"^\[jit_trace\] add cannot take these example inputs: multiple values for argument "
         r"'x'$"),
    case("drop-in-without-inputs", lambda: jittrace.trace(add), jittrace.InputError,
         r"^\[trace\] give example_inputs or example_kwarg_inputs$"),
    case("drop-in-private-arguments",
         lambda: jittrace.trace(add, (X, X), _module_class=nn.Module, _store_inputs=False),
         jittrace.InputError,
         r"^\[trace\] _module_class, _store_inputs: torch\.jit\.trace's private arguments are "
         r"not supported"),
    case("drop-in-module-inputs-not-a-dict", lambda: jittrace.trace_module(Small(), X),
         jittrace.InputError,
         r"^\[trace_module\] inputs must be a dict of method names to example inputs, not "
         r"Tensor$"),
    case("drop-in-kwarg-inputs-not-dicts",
         lambda: jittrace.trace_module(Small(), {"forward": X}, example_inputs_is_kwarg=True),
         jittrace.InputError,
         r"^\[trace_module\] inputs\['forward'\] must be a dict of keyword inputs "
         r"\(example_inputs_is_kwarg=True\)$"),
    case("drop-in-check-fails", lambda: jittrace.trace(branches_on_the_sign, X.abs(),
                                                     check_inputs=[-X.abs()], guards=False),
         jittrace.TraceCheckError,
         r"^\[trace\] check_inputs\[0\]: output differs from eager mode: largest absolute "
         r"difference", tracer_warns=True),
    case("too-many-inputs", lambda: jit_trace(identity, X, X), jittrace.InputError,
         r"^\[jit_trace\] identity cannot take 2 example inputs: too many positional arguments$"),
    case("too-few-inputs", lambda: jit_trace(add, X), jittrace.InputError,
         r"^\[jit_trace\] add cannot take 1 example inputs: missing a required argument: 'y'$"),
    case("no-inputs", lambda: jit_trace(identity), jittrace.InputError,
         r"^\[jit_trace\] identity cannot take 0 example inputs: missing a required argument: "
         r"'x'$"),
    case("keyword-only-argument", lambda: jit_trace(lambda x, *, k: x, X), jittrace.InputError,
         r"^\[jit_trace\] <lambda>\.<locals>\.<lambda> cannot take 1 example inputs: missing a "
         r"required argument: 'k'$"),
    case("strict-not-bool", lambda: jit_trace(identity, X, strict=1), jittrace.InputError,
         r"^\[jit_trace\] strict must be True or False, not 1$"),
    case("strict-str", lambda: jit_trace(identity, X, strict="yes"), jittrace.InputError,
         r"^\[jit_trace\] strict must be True or False, not 'yes'$"),
    case("record-source-locations-not-bool",
         lambda: jit_trace(identity, X, record_source_locations="yes"), jittrace.InputError,
         r"^\[jit_trace\] record_source_locations must be True or False, not 'yes'$"),
    case("check-inputs-a-tensor", lambda: jit_trace(identity, X, check_inputs=X),
         jittrace.InputError,
         r"^\[jit_trace\] check_inputs must be a list of tuples of positional arguments$"),
    case("check-inputs-of-tensors", lambda: jit_trace(identity, X, check_inputs=[X]),
         jittrace.InputError,
         r"^\[jit_trace\] check_inputs must be a list of tuples of positional arguments$"),
    case("no-func", lambda: jit_trace(), TypeError,  # Python's own argument check
         r"^jit_trace\(\) missing 1 required positional argument: 'func'$"),

    # ---- Example inputs: the message names the path of what is not a tensor --------------------
    case("constant-input-returned", lambda: jit_trace(identity, None), jittrace.TraceError,
         r"^\[jit_trace\] the traced function returned None at output" + NOT_AN_OUTPUT + "$"),
    case("constant-input-returned-bool", lambda: jit_trace(identity, True), jittrace.TraceError,
         r"^\[jit_trace\] the traced function returned a bool at output" + NOT_AN_OUTPUT + "$"),
    case("input-numpy", lambda: jit_trace(add, X, np.ones(2)), jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[1\] is a numpy\.ndarray" + NOT_A_TENSOR + FROM_NUMPY + "$"),
    case("input-generator", lambda: jit_trace(identity, (t for t in [X])), jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[0\] is a generator" + NOT_A_TENSOR + REGISTER + "$"),
    case("input-set", lambda: jit_trace(identity, {1}), jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[0\] is a set" + NOT_A_TENSOR + REGISTER + "$"),
    case("input-frozenset", lambda: jit_trace(identity, frozenset()), jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[0\] is a frozenset" + NOT_A_TENSOR + REGISTER + "$"),
    case("leaf-str-in-dict", lambda: jit_trace(identity, {"a": X, "mask": "m"}),
         jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[0\]\['mask'\] is a str" + NOT_A_TENSOR + IN_A_TENSOR_ARGUMENT
         + "$"),
    case("leaf-float-in-dict", lambda: jit_trace(add, X, {"a": X, "mask": 1.5}),
         jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[1\]\['mask'\] is a float" + NOT_A_TENSOR + IN_A_TENSOR_ARGUMENT
         + "$"),
    case("leaf-str-deep", lambda: jit_trace(add, X, [X, (X, "s")]), jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[1\]\[1\]\[1\] is a str" + NOT_A_TENSOR + IN_A_TENSOR_ARGUMENT
         + "$"),
    case("leaf-numpy-deep", lambda: jit_trace(identity, (X, [X, {"k": np.zeros(1)}])),
         jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[0\]\[1\]\[1\]\['k'\] is a numpy\.ndarray"
         + NOT_A_TENSOR + FROM_NUMPY + "$"),
    case("dict-keys-of-two-types", lambda: jit_trace(identity, {1: X, "a": X}),
         jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[0\] is a dict whose keys have different types \(int "
         r"and str\)" + NOT_A_TENSOR + r" \(a TorchScript dict's keys have one type\)$"),
    case("dict-key-tuple", lambda: jit_trace(identity, {("a",): X}), jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[0\] is a dict with the key \('a',\) \(a tuple\)"
         + NOT_A_TENSOR + r" \(dict keys must be str, int, float or bool\)$"),
    case("dict-key-tensor", lambda: jit_trace(identity, {X: X}), jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[0\] is a dict with the key tensor\(.*\) \(a "
         r"torch\.Tensor\)" + NOT_A_TENSOR + r" \(dict keys must be str, int, float or bool\)$"),
    case("int-keyed-dict-with-a-str-leaf", lambda: jit_trace(identity, {3: X, 4: "s"}),
         jittrace.InputError, r"^\[jit_trace\] example_inputs\[0\]\[4\] is a str" + NOT_A_TENSOR
         + IN_A_TENSOR_ARGUMENT + "$"),
    case("dict-key-bytes", lambda: jit_trace(add, X, {"a": {b"k": X}}), jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[1\]\['a'\] is a dict with the key b'k' \(a bytes\)"),
    case("mixed-list-in-mixed-dict", lambda: jit_trace(identity, {"a": X, "b": [X, (X,)]}),
         jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[0\]\['b'\] is a mixed list inside a mixed list or "
         r"dict"),
    case("mixed-list-three-levels-deep", lambda: jit_trace(identity, [X, [X, [X]]]),
         jittrace.InputError,
         r"^\[jit_trace\] example_inputs\[0\]\[1\] is a mixed list inside a mixed list or dict"
         + NOT_A_TENSOR + r" \(torch cannot infer its type when the traced function is called; "
         r"use a tuple\)$"),
    case("full-backward-hook", lambda: jit_trace(with_hook("register_full_backward_hook"), X),
         jittrace.InputError,
         r"^\[jit_trace\] mod\.fc has a backward hook \(register_full_backward_hook\); "
         r"TorchScript has no backward hooks and a trace would drop it: remove it before "
         r"tracing, as torch\.jit\.trace also requires \(Modules that have backward hooks "
         r"assigned can't be compiled\)$"),
    case("backward-hook", lambda: jit_trace(with_hook("register_backward_hook"), X),
         jittrace.InputError, r"^\[jit_trace\] mod\.fc has a backward hook "
         r"\(register_backward_hook\)"),
    case("backward-pre-hook",
         lambda: jit_trace_module(with_hook("register_full_backward_pre_hook"), forward=X),
         jittrace.InputError, r"^\[jit_trace_module\] mod\.fc has a backward hook "
         r"\(register_full_backward_pre_hook\)"),
    case("global-backward-hook", lambda: with_global_backward_hook(lambda: jit_trace(Small(), X)),
         jittrace.InputError, r"^\[jit_trace\] a global backward hook is registered "
         r"\(register_module_full_backward_hook\); TorchScript has no backward hooks"),
    case("method-returns-its-constant", lambda: jit_trace_module(Small(), decode=3),
         jittrace.TraceError,
         r"^\[jit_trace_module\] decode \(train mode\): the traced function returned an int at "
         r"output" + NOT_AN_OUTPUT + "$"),
    case("method-input-deep", lambda: jit_trace_module(Small(), decode=({"a": [X, "s"]},)),
         jittrace.InputError,
         r"^\[jit_trace_module\] decode: example_inputs\[0\]\['a'\]\[1\] is a str"),

    # ---- Outputs: the message names the path of what is not a tensor --------------------------
    case("returns-none", lambda: jit_trace(lambda x: None, X), jittrace.TraceError,
         r"^\[jit_trace\] the traced function returned None at output" + NOT_AN_OUTPUT + "$"),
    case("returns-int", lambda: jit_trace(lambda x: 1, X), jittrace.TraceError,
         r"^\[jit_trace\] the traced function returned an int at output" + NOT_AN_OUTPUT + "$"),
    case("returns-float", lambda: jit_trace(lambda x: 2.5, X), jittrace.TraceError,
         r"^\[jit_trace\] the traced function returned a float at output" + NOT_AN_OUTPUT + "$"),
    case("returns-str", lambda: jit_trace(lambda x: "s", X), jittrace.TraceError,
         r"^\[jit_trace\] the traced function returned a str at output" + NOT_AN_OUTPUT + "$"),
    case("returns-generator", lambda: jit_trace(lambda x: (t for t in [x]), X),
         jittrace.TraceError,
         r"^\[jit_trace\] the traced function returned a generator at output" + NOT_AN_OUTPUT
         + REGISTER + "$"),
    case("returns-str-in-a-tuple", lambda: jit_trace(lambda x: (x, "s"), X), jittrace.TraceError,
         r"^\[jit_trace\] the traced function returned a str at output\[1\]" + NOT_AN_OUTPUT
         + "$"),
    case("returns-list-of-lists", lambda: jit_trace(lambda x: [[x]], X, strict=False),
         jittrace.TraceError,
         r"^\[jit_trace\] the traced function returned a list that does not hold only tensors "
         r"\(List\[List\[Tensor\]\]\) at output" + NOT_AN_OUTPUT
         + r" \(a list must hold tensors only; use a tuple to nest\)$"),
    case("returns-dict-with-a-tuple-key",
         lambda: jit_trace(lambda x: {(1,): x}, X, strict=False), jittrace.TraceError,
         r"^\[jit_trace\] the traced function returned a dict with the key \(1,\) \(a tuple\) "
         r"at output" + NOT_AN_OUTPUT + r" \(dict keys must be str, int, float, bool or "
         r"tensors\)$"),
    case("returns-dict-under-strict", lambda: jit_trace(lambda x: (x, {"a": x}), X),
         jittrace.TraceError,
         r"^\[jit_trace\] <lambda>.<locals>.<lambda> returned a dict at output\[1\] \(Encountering "
         r"a dict at the output of the tracer\); with strict=True a dict "
         r"output is refused, since its keys could depend on the inputs: return a namedtuple or "
         r"a dataclass \(jittrace gives it back as such\), or pass strict=False$"),
    case("returns-a-captured-tensor", lambda: jit_trace(lambda x: CAPTURED, X),
         jittrace.TraceError,
         r"(?s)^\[jit_trace\] tracing failed: output 1 \(.*\) of traced region did not have "
         r"observable data dependence with trace inputs; this probably indicates your program "
         r"cannot be understood by the tracer\.$"),
    case("module-returns-an-int-in-eval-mode", lambda: jit_trace(ReturnsNumberInEval(), X),
         jittrace.TraceError,
         r"^\[jit_trace\] forward \(eval mode\): the traced function returned an int at "
         r"output" + NOT_AN_OUTPUT + "$"),
    case("module-returns-dict-under-strict", lambda: jit_trace(ReturnsDict(), X),
         jittrace.TraceError,
         r"^\[jit_trace\] ReturnsDict\.forward returned a dict at output \(Encountering a dict at "
         r"the output of the tracer\); with strict=True"),

    # ---- What the traced code reads and calls ------------------------------------------------
    case("reads-a-captured-tensor-requiring-grad",
         lambda: jit_trace(lambda x: x * CAPTURED_REQUIRING_GRAD, X), jittrace.TraceError,
         r"^\[jit_trace\] the traced code read a tensor that requires grad and is neither an "
         r"example input nor a parameter or buffer of the traced module \(a tensor captured from "
         r"an enclosing scope\?\), and a trace cannot keep it \(Cannot insert a Tensor that "
         r"requires grad as a constant\); pass it as an input, register it on the module, or "
         r"detach\(\) "
         r"it$"),
    case("module-reads-a-tensor-attribute-requiring-grad",
         lambda: jit_trace(ReadsGradTensorAttribute(), X), jittrace.TraceError,
         r"^\[jit_trace\] forward \(train mode\): the traced code read a tensor that "
         r"requires grad and is neither an example input nor a parameter or buffer"),
    case("nested-jit-trace", lambda: jit_trace(nested_jit_trace, X), jittrace.TraceError,
         r"^\[jit_trace\] a trace is already running on this thread; jittrace cannot be called "
         r"from inside code that is being traced$"),
    case("nested-module-trace", lambda: jit_trace(nested_module_trace, X), jittrace.TraceError,
         r"^\[jit_trace\] forward \(train mode\): a trace is already running on this "
         r"thread; jittrace cannot be called from inside code that is being traced$"),

    # ---- jit_trace_module's arguments and the module ----------------------------------------
    case("mod-function", lambda: jit_trace_module(identity, forward=X), jittrace.InputError,
         r"^\[jit_trace_module\] mod must be a torch\.nn\.Module, not function$"),
    case("mod-str", lambda: jit_trace_module("net", forward=X), jittrace.InputError,
         r"^\[jit_trace_module\] mod must be a torch\.nn\.Module, not str$"),
    case("mod-none", lambda: jit_trace_module(None, forward=X), jittrace.InputError,
         r"^\[jit_trace_module\] mod must be a torch\.nn\.Module, not NoneType$"),
    case("mod-tensor", lambda: jit_trace_module(X, forward=X), jittrace.InputError,
         r"^\[jit_trace_module\] mod must be a torch\.nn\.Module, not Tensor$"),
    case("mod-traced-module",
         lambda: jit_trace_module(jit_trace(Small(), torch.randn(2, 3)), forward=X),
         jittrace.InputError,
         r"^\[jit_trace_module\] mod is already TorchScript \(RecursiveScriptModule\) and needs no "
         r"tracing; to trace it as part of a larger model, make it a submodule of that model$"),
    case("no-methods", lambda: jit_trace_module(Small()), jittrace.InputError,
         r"^\[jit_trace_module\] no methods to trace: name them with their example inputs, "
         r"e\.g\. jit_trace_module\(mod, forward=\(x,\)\)$"),
    case("inputs-given-positionally", lambda: jit_trace_module(Small(), X), TypeError,
         r"^jit_trace_module\(\) takes 1 positional argument but 2 were given$"),
    case("unknown-method", lambda: jit_trace_module(Small(), encode=X), jittrace.InputError,
         r"^\[jit_trace_module\] 'encode' is neither an option nor a method of Small; did you "
         r"mean 'decode'\? \(options: strict, respect_mode, .*; methods: forward, decode\)$"),
    case("mistyped-option-of-a-module",
         lambda: jit_trace_module(Small(), forward=X, strcit=False), jittrace.InputError,
         r"^\[jit_trace_module\] 'strcit' is neither an option nor a method of Small; did you "
         r"mean 'strict'\? \(options: strict, respect_mode, example_kwarg_inputs, variants, "
         r"check_inputs, check_tolerance, report, record_source_locations, guards, "
         r"autograd_functions; methods: "
         r"forward, decode\)$"),
    case("mistyped-option", lambda: jit_trace(identity, X, strcit=False), jittrace.InputError,
         r"^\[jit_trace\] 'strcit' is not an option; did you mean 'strict'\? \(options: "
         r"strict, respect_mode, example_kwarg_inputs, variants, check_inputs, check_tolerance, "
         r"report, record_source_locations, guards, autograd_functions\)$"),
    case("unknown-option", lambda: jit_trace(identity, X, speed=3), jittrace.InputError,
         r"^\[jit_trace\] 'speed' is not an option \(options: strict, "),
    case("option-of-0.1", lambda: jit_trace(identity, X, atol=1e-3), jittrace.InputError,
         r"^\[jit_trace\] 'atol' is not an option; it moved: use "
         r"check_tolerance=jittrace\.Tolerance\(atol=\.\.\.\) \(options: "),
    case("attribute-not-a-method", lambda: jit_trace_module(Small(), scale=X),
         jittrace.InputError,
         r"^\[jit_trace_module\] 'scale' is an attribute \(float\) of Small, not a method$"),
    case("training-not-a-method", lambda: jit_trace_module(Small(), training=X),
         jittrace.InputError,
         r"^\[jit_trace_module\] 'training' is an attribute \(bool\) of Small, not a method$"),
    case("submodule-not-a-method", lambda: jit_trace_module(Small(), fc=X), jittrace.InputError,
         r"^\[jit_trace_module\] 'fc' is a submodule of Small, not a method$"),
    case("unknown-method-offers-its-methods",
         lambda: jit_trace_module(WithStaticMethod(), encode=X), jittrace.InputError,
         r"^\[jit_trace_module\] 'encode' is neither an option nor a method of WithStaticMethod; "
         r"did you mean 'decode'\? \(options: .*; methods: forward, decode, helper\)$"),
    case("method-missing-inputs", lambda: jit_trace_module(Small(), forward=()),
         jittrace.InputError,
         r"^\[jit_trace_module\] Small\.forward cannot take 0 example inputs: missing a required "
         r"argument: 'x'$"),
    case("method-too-many-inputs", lambda: jit_trace_module(Small(), decode=(X, X)),
         jittrace.InputError,
         r"^\[jit_trace_module\] Small\.decode cannot take 2 example inputs: too many positional "
         r"arguments$"),
    case("method-inputs-as-a-list", lambda: jit_trace_module(Small(), forward=[X, X]),
         jittrace.InputError,
         r"^\[jit_trace_module\] Small\.forward cannot take 2 example inputs: too many positional "
         r"arguments \(a list holds positional arguments; wrap it in a tuple to pass it as one\)$"),
    case("kwargs-only-forward", lambda: jit_trace(KwargsOnly(), X), jittrace.InputError,
         r"^\[jit_trace\] KwargsOnly\.forward cannot take 1 example inputs: too many "
         r"positional arguments$"),
    case("respect-mode-collision",
         lambda: jit_trace_module(Clash(), forward=torch.ones(1), trainforward=torch.ones(1)),
         jittrace.InputError,
         r"^\[jit_trace_module\] tracing 'forward' adds the method 'trainforward', but the module "
         r"already has a traced method of that name; rename that, or trace without respect_mode$"),
    case("generated-name-taken", lambda: jit_trace(ShadowsGenerated(), X), jittrace.InputError,
         r"^\[jit_trace\] tracing 'forward' adds the method 'evalforward', but the module "
         r"already has an attribute or method of that name; rename that, or trace without "
         r"respect_mode$"),
    case("respect-mode-not-bool", lambda: jit_trace_module(Small(), forward=X, respect_mode="yes"),
         jittrace.InputError,
         r"^\[jit_trace_module\] respect_mode must be True or False, not 'yes'$"),
    case("respect-mode-not-bool-in-jit-trace",
         lambda: jit_trace(Small(), X, respect_mode=None), jittrace.InputError,
         r"^\[jit_trace\] respect_mode must be True or False, not None$"),
    case("module-strict-not-bool", lambda: jit_trace_module(Small(), forward=X, strict=0),
         jittrace.InputError,
         r"^\[jit_trace_module\] strict must be True or False, not 0$"),
    case("module-record-source-locations-not-bool",
         lambda: jit_trace_module(Small(), forward=X, record_source_locations=None),
         jittrace.InputError,
         r"^\[jit_trace_module\] record_source_locations must be True or False, not None$"),
    case("module-check-inputs-not-a-list",
         lambda: jit_trace_module(Small(), forward=X, check_inputs={"forward": X}),
         jittrace.InputError,
         r"^\[jit_trace_module\] check_inputs must be a list of dicts of method inputs$"),
    case("module-check-inputs-of-tuples",
         lambda: jit_trace_module(Small(), forward=X, check_inputs=[(X,)]), jittrace.InputError,
         r"^\[jit_trace_module\] check_inputs must be a list of dicts of method inputs$"),
    case("module-check-inputs-unknown-method",
         lambda: jit_trace_module(Small(), forward=torch.randn(2, 3), check_inputs=[{"encode": X}]),
         jittrace.InputError,
         r"^\[jit_trace_module\] check_inputs\[0\] names 'encode', which is not traced$"),
    case("module-contains-itself", lambda: jit_trace_module(contains_itself(), forward=X),
         jittrace.InputError,
         r"^\[jit_trace_module\] mod\.me contains itself; modules must form a tree$"),
    case("module-added-to-itself", lambda: jit_trace(added_to_itself(), torch.ones(1, 1)),
         jittrace.InputError,
         r"^\[jit_trace\] mod\.again contains itself; modules must form a tree$"),
    case("submodule-contains-its-parent", lambda: jit_trace(contains_an_ancestor(), X),
         jittrace.InputError,
         r"^\[jit_trace\] mod\.inner\.up contains itself; modules must form a tree$"),
    case("parameter-slot-holds-an-int", lambda: jit_trace(parameter_slot_holding(3), X),
         jittrace.InputError,
         r"^\[jit_trace\] mod\.fc\.w is registered as a parameter or buffer but is not a "
         r"tensor$"),
    case("buffer-slot-holds-a-str", lambda: jit_trace(buffer_slot_holding("b"), X),
         jittrace.InputError,
         r"^\[jit_trace\] mod\.b is registered as a parameter or buffer but is not a "
         r"tensor$"),
    case("parameter-name-with-a-dot", lambda: jit_trace(parameter_named("a.b"), X),
         jittrace.InputError,
         r"^\[jit_trace\] 'a\.b' cannot be the name of a parameter; names must be "
         r"non-empty, contain no '\.', and not be 'training'$"),

    # ---- check_inputs: eager and traced outputs differ ----------------------------------------
    case("check-differs",
         lambda: jit_trace(branches_on_the_sign, torch.ones(2),
                           check_inputs=[(torch.ones(2),), (-torch.ones(2),)], guards=False),
         jittrace.TraceCheckError,
         r"^\[jit_trace\] check_inputs\[1\]: output differs from eager mode: " + LARGEST_1,
         tracer_warns=True),
    case("check-integer-output-differs",
         lambda: jit_trace(lambda x: x + int(x.sum()), torch.ones(2, dtype=torch.long),
                           check_inputs=[(torch.zeros(2, dtype=torch.long),)], guards=False),
         jittrace.TraceCheckError,
         r"^\[jit_trace\] check_inputs\[0\]: output differs from eager mode$",
         tracer_warns=True),
    case("check-shape-differs",
         lambda: jit_trace(lambda x: x[: int(x.sum())], torch.ones(2),
                           check_inputs=[(torch.ones(3),)], guards=False),
         jittrace.TraceCheckError,
         r"^\[jit_trace\] check_inputs\[0\]: output has shape \(2,\) when traced, \(3,\) in eager "
         r"mode$",
         tracer_warns=True),
    case("check-module-differs-in-train-mode",
         lambda: jit_trace_module(BranchyInTrain(), forward=torch.ones(2),
                                  check_inputs=[{"forward": -torch.ones(2)}], guards=False),
         jittrace.TraceCheckError,
         r"^\[jit_trace_module\] check_inputs\[0\]\['forward'\] \(train mode\): output differs "
         r"from eager mode: " + LARGEST_1,
         tracer_warns=True),
    case("check-module-differs-in-eval-mode",
         lambda: jit_trace_module(BranchyInEval(), forward=torch.ones(2),
                                  check_inputs=[{"forward": -torch.ones(2)}], guards=False),
         jittrace.TraceCheckError,
         r"^\[jit_trace_module\] check_inputs\[0\]\['forward'\] \(eval mode\): output differs "
         r"from eager mode: " + LARGEST_1,
         tracer_warns=True),
    case("check-fires-a-guard",
         lambda: jit_trace(branches_on_the_sign, torch.ones(2), check_inputs=[(-torch.ones(2),)]),
         jittrace.TraceCheckError,
         r"^\[jit_trace\] check_inputs\[0\]: the traced code raised Error where eager code did "
         r"not: RuntimeError: branches_on_the_sign: .*test_errors\.py:\d+: a tensor used as a "
         r"condition \(if, while, and, or, not, bool\(\)\) gave True when traced, but False on "
         r"this call", tracer_warns=True),
    case("check-module-through-jit-trace",
         lambda: jit_trace(Branchy(), torch.ones(2), check_inputs=[(-torch.ones(2),)],
                           guards=False),
         jittrace.TraceCheckError,
         r"^\[jit_trace\] check_inputs\[0\] \(eval mode\): output differs from eager mode: "
         + LARGEST_1,
         tracer_warns=True),
    case("check-traced-code-fails",
         lambda: jit_trace(lambda x: tuple(x.unbind()), torch.ones(2),
                           check_inputs=[(torch.ones(3),)]),
         jittrace.TraceCheckError,
         r"(?s)^\[jit_trace\] check_inputs\[0\]: .*Expected 2 elements in a list but found 3"),
    case("check-inputs-too-many",
         lambda: jit_trace(identity, X, check_inputs=[(X, X)]), jittrace.InputError,
         r"^\[jit_trace\] check_inputs\[0\]: .*too many positional arguments"),
    case("module-check-inputs-too-many",
         lambda: jit_trace_module(Small(), forward=torch.randn(2, 3),
                                  check_inputs=[{"forward": (torch.randn(2, 3), X)}]),
         jittrace.InputError,
         r"^\[jit_trace_module\] check_inputs\[0\]\['forward'\]: .*too many positional arguments"),

    # ---- Exceptions of the traced code pass through unchanged -----------------------------
    case("func-raises", lambda: jit_trace(boom_after_an_op, X), Boom, r"^the error abcde$"),
    case("func-interrupted", lambda: jit_trace(interrupted, X), KeyboardInterrupt, r"^$"),
    case("func-torch-error", lambda: jit_trace(add, torch.ones(2), torch.ones(3)), RuntimeError,
         r"^The size of tensor a \(2\) must match the size of tensor b \(3\) at non-singleton "
         r"dimension 0$"),
    case("forward-raises", lambda: jit_trace(ForwardRaises(), torch.randn(2, 3)), Boom,
         r"^forward broke$"),
    case("other-method-raises",
         lambda: jit_trace_module(DecodeRaises(), forward=torch.randn(2, 3), decode=X), Boom,
         r"^decode broke$"),
    case("forward-interrupted", lambda: jit_trace(ForwardInterrupted(), X), KeyboardInterrupt,
         r"^$"),
    case("forward-torch-error", lambda: jit_trace(Small(), torch.randn(2, 4)), RuntimeError,
         r"^mat1 and mat2 shapes cannot be multiplied \(2x4 and 3x3\)$"),
    case("check-input-torch-error-in-eager",
         lambda: jit_trace(add, X, X, check_inputs=[(X, torch.ones(2))]), RuntimeError,
         r"^The size of tensor a \(3\) must match the size of tensor b \(2\) at non-singleton "
         r"dimension 0$"),

    # ---- Variants ------------------------------------------------------------------------------
    case("variants-not-a-dict-or-list", lambda: jit_trace(with_k, X, variants=3),
         jittrace.InputError,
         r"^\[jit_trace\] variants of with_k must be a dict of argument names to lists of values, "
         r"or a non-empty list of dicts of argument values, not int$"),
    case("variants-value-not-a-list", lambda: jit_trace(with_k, X, variants={"k": 1}),
         jittrace.InputError,
         r"^\[jit_trace\] variants of with_k: 'k' must map to a non-empty list of values, not "
         r"int$"),
    case("variants-list-of-non-dicts", lambda: jit_trace(with_k, X, variants=[{"k": 1}, 3]),
         jittrace.InputError,
         r"^\[jit_trace\] variants\[1\] of with_k must be a dict of argument names to values, "
         r"not int$"),
    case("variants-unknown-argument", lambda: jit_trace(with_k, X, variants={"n": [1]}),
         jittrace.InputError,
         r"^\[jit_trace\] variants of with_k names 'n', which is not a named parameter; "
         r"parameters: x, k$"),
    case("variants-of-two-types", lambda: jit_trace(ignores_k, X, 1, variants={"k": [1, "a"]}),
         jittrace.InputError,
         r"^\[jit_trace\] argument 'k' of 'ignores_k' is int in one variant and str in another; "
         r"variants must give each argument values of one type \(or None\)$"),
    case("variants-repeated", lambda: jit_trace(with_k, X, variants=[{"k": 2}, {"k": 2}]),
         jittrace.InputError,
         r"^\[jit_trace\] 'with_k' is traced twice with the same values \(k=2\); give each "
         r"variant different non-tensor arguments$"),
    case("variants-of-an-untraced-method",
         lambda: jit_trace_module(Small(), forward=X, variants={"decode": {"k": [1]}}),
         jittrace.InputError,
         r"^\[jit_trace_module\] variants names 'decode', which is not traced; give its example "
         r"inputs too, e.g\. decode=\(x,\)$"),
    case("variants-not-by-method", lambda: jit_trace_module(Small(), forward=X, variants=[1]),
         jittrace.InputError,
         r"^\[jit_trace_module\] variants must be a dict of method names to the variants of "
         r"each, not list$"),
    case("call-an-untraced-value", lambda: jit_trace(with_k, X, 2)(X, 3), torch.jit.Error,
         r"(?s)^The following operation failed in the TorchScript interpreter\..*ValueError: "
         r"jittrace: with_k\(\) was traced for \(k=2\) only; it cannot compute k=3 without a "
         r"trace for those values"),

    # ---- Saving and loading ----------------------------------------------------------------------
    case("save-not-torchscript", lambda: jittrace.save(Small(), "unused.pt"), jittrace.InputError,
         r"^\[save\] traced must be a traced function or module \(TorchScript\), not Small$"),
    case("save-extra-file-not-text", lambda: saved(extra_files={"a.txt": 3}),
         jittrace.InputError,
         r"^\[save\] extra_files must map names \(str\) to contents \(str or bytes\); got "
         r"'a\.txt': int$"),
    case("save-extra-file-named-like-the-manifest",
         lambda: saved(extra_files={"jittrace.json": "{}"}), jittrace.InputError,
         r"^\[save\] the extra file name 'jittrace\.json' is jittrace's own \(its manifest\); "
         r"choose another name$"),
    case("save-to-a-missing-directory", lambda: saved(path="/nonexistent/dir/f.pt"),
         jittrace.InputError,
         r"^\[save\] cannot write '/nonexistent/dir/f\.pt': Parent directory /nonexistent/dir "
         r"does not exist"),
    case("load-a-missing-file", lambda: jittrace.load("/nonexistent/f.pt"), jittrace.InputError,
         r"^\[load\] cannot read '/nonexistent/f\.pt' as a TorchScript file: open file failed"),
    case("load-to-a-non-device", lambda: jittrace.load("unused.pt", map_location=3),
         jittrace.InputError,
         r"^\[load\] map_location must be a device such as 'cpu' or torch\.device\('cuda', 0\), "
         r"not 3$"),
    case("manifest-of-a-non-archive", lambda: jittrace.manifest(__file__), jittrace.InputError,
         r"^\[read_manifest\] cannot read '.*test_errors\.py' as a TorchScript file: "
         r"PytorchStreamReader failed reading zip archive"),

    # ---- The trace report, check tolerances, inference files -----------------------------------
    case("report-not-a-flag", lambda: jit_trace(identity, X, report="yes"), jittrace.InputError,
         r"^\[jit_trace\] report must be True, False or a jittrace\.ReportOptions, not 'yes'$"),
    case("probe-sizes-not-a-flag", lambda: jittrace.ReportOptions(probe_sizes=1),
         jittrace.InputError, r"^\[ReportOptions\] probe_sizes must be True or False, not 1$"),
    case("atol-negative", lambda: jittrace.Tolerance(atol=-1), jittrace.InputError,
         r"^\[Tolerance\] atol must be a finite number >= 0, not -1$"),
    case("rtol-nan", lambda: jittrace.Tolerance(rtol=float("nan")), jittrace.InputError,
         r"^\[Tolerance\] rtol must be a finite number >= 0, not nan$"),
    case("check-tolerance-a-string", lambda: jit_trace(identity, X, check_tolerance="1e-3"),
         jittrace.InputError,
         r"^\[jit_trace\] check_tolerance must be a finite number >= 0, not '1e-3'$"),
    case("fail-on-unknown-kind", lambda: jittrace.ReportOptions(fail_on=["warning"]),
         jittrace.InputError,
         r"^\[ReportOptions\] fail_on: 'warning' is not a kind of finding; kinds: warnings, "
         r"specialized, devices, random, guards \(or 'all'\)$"),
    case("fail-on-not-a-list", lambda: jittrace.ReportOptions(fail_on=3), jittrace.InputError,
         r"^\[ReportOptions\] fail_on must be a kind of finding or a list of them, not int$"),
    case("fail-on-a-tracer-warning",
         lambda: jit_trace(branches_on_the_sign, X, report=jittrace.ReportOptions(fail_on="warnings")), jittrace.TraceReportError,
         r"^\[jit_trace\] the trace has 1 finding\(s\) of a kind that fail_on makes an error "
         r"\(warnings\): TracerWarning \(tensor_to_python\) at .*test_errors\.py:\d+: Converting "
         r"a tensor to a Python boolean", tracer_warns=True),
    case("fail-on-random-ops",
         lambda: jit_trace_module(nn.Dropout(), forward=X, report=jittrace.ReportOptions(fail_on="random")),
         jittrace.TraceReportError,
         r"^\[jit_trace_module\] the trace has 1 finding\(s\) of a kind that fail_on makes an "
         r"error \(random\): forward \(train mode\): aten::dropout draws random numbers$"),
    case("optimize-a-function",
         lambda: jittrace.optimize_for_inference(jit_trace(identity, X)), jittrace.InputError,
         r"^\[optimize_for_inference\] traced must be a torch\.jit\.ScriptModule \(a traced "
         r"module\), not ScriptFunction; a traced function has no parameters to freeze$"),
    case("optimize-unknown-method",
         lambda: jittrace.optimize_for_inference(
             jit_trace(Small(), torch.randn(2, 3)), methods=["decode"]),
         jittrace.InputError,
         r"^\[optimize_for_inference\] 'decode' is not a method of the module; methods: "
         r"trainforward, evalforward, forward$"),
    case("optimize-methods-a-string",
         lambda: jittrace.optimize_for_inference(
             jit_trace(Small(), torch.randn(2, 3)), methods="forward"),
         jittrace.InputError,
         r"^\[optimize_for_inference\] methods must be a list of method names, not 'forward'$"),
    case("optimize-train-mode-only",
         lambda: jittrace.optimize_for_inference(
             jit_trace(Small(), torch.randn(2, 3), respect_mode=False)),
         jittrace.InputError,
         r"^\[optimize_for_inference\] 'forward' was traced in train mode only; an inference "
         r"file needs its eval-mode trace: trace the module in eval mode, or in both modes "
         r"\(respect_mode\)$"),

    # ---- Calling a traced function with inputs it was not traced for: torch's errors ---------
    case("call-longer-list", lambda: traced_stack()([X, X, X]), RuntimeError,
         r"(?s)^The following operation failed in the TorchScript interpreter\..*"
         r"RuntimeError: Expected 2 elements in a list but found 3"),
    case("call-dict-for-a-list", lambda: traced_stack()({"a": X}), RuntimeError,
         r"^stack\(\) Expected a value of type 'List\[Tensor\]' for argument 'argument_1' but "
         r"instead found type 'dict'"),
    case("call-list-for-a-dict",
         lambda: jit_trace(lambda d: d["a"] + 1, {"a": X})([X]), RuntimeError,
         r"^_lambda_\(\) Expected a value of type 'Dict\[str, Tensor\]' for argument 'd' but "
         r"instead found type 'list'"),
    case("call-missing-key",
         lambda: jit_trace(lambda d: d["a"] + 1, {"a": X})({"b": X}), RuntimeError,
         r"(?s)^The following operation failed in the TorchScript interpreter\..*"
         r"RuntimeError: KeyError: a"),
    case("call-mixed-list-wrong-element",
         lambda: jit_trace(lambda xs: xs[0] + xs[1][0], [X, [X]])([[X], [X]]), torch.jit.Error,
         r"(?s)^The following operation failed in the TorchScript interpreter\..*"
         r"TypeError: jittrace: xs\[0\] must be a Tensor, as in the example inputs the function "
         r"was traced with"),
    case("call-too-many-args", lambda: jit_trace(identity, X)(X, X), RuntimeError,
         r"^identity\(\) expected at most 1 argument\(s\) but received 2 argument\(s\)\. "
         r"Declaration: identity\(Tensor x\) -> Tensor$"),
    case("call-too-few-args", lambda: jit_trace(add, X, X)(X), RuntimeError,
         r"^add\(\) is missing value for argument 'y'\. Declaration: add\(Tensor x, Tensor y\) "
         r"-> Tensor$"),
]
# fmt: on


@pytest.mark.parametrize(("make", "error", "pattern"), CASES)
def test_error(make, error, pattern):
    with pytest.raises(BaseException) as info:  # noqa: PT011 (the exact type is checked below)
        make()
    exc = info.value
    assert type(exc) is error, f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
    assert re.search(pattern, str(exc)), str(exc)
    assert torch._C._get_tracing_state() is None
    assert torch.equal(jit_trace(torch.relu, X)(-X), torch.relu(-X))  # the next trace works


def test_jittrace_errors_are_the_builtin_types_they_replace():
    """InputError is a TypeError and TraceError a RuntimeError, so callers can catch either."""
    assert issubclass(jittrace.InputError, TypeError)
    assert issubclass(jittrace.TraceError, RuntimeError)
    assert issubclass(jittrace.TraceCheckError, jittrace.TraceError)
    for error in (jittrace.InputError, jittrace.TraceError, jittrace.InternalError):
        assert issubclass(error, jittrace.JittraceError)
    assert not issubclass(jittrace.InternalError, jittrace.TraceError)
