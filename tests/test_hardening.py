"""Trying to break jittrace: a table of bad input, unusual tensors, and the state left behind."""

from __future__ import annotations

import re
import warnings
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


def identity(x):
    return x


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        return self.bn(self.fc(x))


class KwargsOnly(nn.Module):
    def forward(self, **inputs):
        return inputs["x"]


class ShadowsGenerated(nn.Module):
    """Has a submodule named like the method respect_mode would generate."""

    def __init__(self):
        super().__init__()
        self.evalforward = nn.Identity()

    def forward(self, x):
        return x * 2


class WithAttribute(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = 2.0

    def forward(self, x):
        return x * self.scale


def traced_stack() -> Callable[..., Any]:
    return jit_trace(torch.stack, [X, X])


# (id, callable that raises, exception type, message regex)
BAD_INPUT = [
    (
        "none-input",
        lambda: jit_trace(identity, None),
        jittrace.InputError,
        r"example_inputs\[0\] is None",
    ),
    (
        "str-input",
        lambda: jit_trace(identity, "x"),
        jittrace.InputError,
        r"example_inputs\[0\] is a str",
    ),
    (
        "int-input",
        lambda: jit_trace(identity, 1),
        jittrace.InputError,
        r"example_inputs\[0\] is an int",
    ),
    (
        "float-input",
        lambda: jit_trace(identity, 1.5),
        jittrace.InputError,
        r"example_inputs\[0\] is a float",
    ),
    (
        "bool-input",
        lambda: jit_trace(identity, True),
        jittrace.InputError,
        r"example_inputs\[0\] is a bool",
    ),
    (
        "numpy-input",
        lambda: jit_trace(identity, np.ones(3)),
        jittrace.InputError,
        r"example_inputs\[0\] is a numpy.ndarray",
    ),
    (
        "generator-input",
        lambda: jit_trace(identity, (t for t in [X])),
        jittrace.InputError,
        r"example_inputs\[0\] is a generator",
    ),
    (
        "set-input",
        lambda: jit_trace(identity, {1}),
        jittrace.InputError,
        r"example_inputs\[0\] is a set",
    ),
    (
        "none-leaf",
        lambda: jit_trace(identity, [X, None]),
        jittrace.InputError,
        r"example_inputs\[0\]\[1\] is None",
    ),
    (
        "str-leaf-in-dict",
        lambda: jit_trace(identity, {"a": X, "mask": "m"}),
        jittrace.InputError,
        r"example_inputs\[0\]\['mask'\] is a str",
    ),
    (
        "numpy-leaf-deep",
        lambda: jit_trace(identity, (X, [X, {"k": np.zeros(1)}])),
        jittrace.InputError,
        r"example_inputs\[0\]\[1\]\[1\]\['k'\] is a numpy.ndarray",
    ),
    (
        "int-dict-key",
        lambda: jit_trace(identity, {1: X}),
        jittrace.InputError,
        r"is a dict with the key 1 \(an int\).*dict keys must be str",
    ),
    (
        "tuple-dict-key",
        lambda: jit_trace(identity, {("a",): X}),
        jittrace.InputError,
        r"is a dict with the key \('a',\) \(a tuple\)",
    ),
    (
        "no-inputs-needed-one",
        lambda: jit_trace(identity),
        jittrace.InputError,
        r"cannot take 0 example inputs: missing a required argument: 'x'",
    ),
    (
        "too-many-inputs",
        lambda: jit_trace(identity, X, X),
        jittrace.InputError,
        r"cannot take 2 example inputs: too many positional arguments",
    ),
    (
        "named-inputs",
        lambda: jit_trace(identity, x=X),
        jittrace.InputError,
        r"example inputs can not be named",
    ),
    (
        "keyword-only-argument",
        lambda: jit_trace(lambda x, *, k: x, X),
        jittrace.InputError,
        r"missing a required argument: 'k'",
    ),
    (
        "empty-list-in-mixed-list",
        lambda: jit_trace(identity, [X, []]),
        jittrace.InputError,
        r"example_inputs\[0\]\[1\] is an empty list inside a mixed list or dict.*use a tuple",
    ),
    (
        "empty-dict-in-mixed-dict",
        lambda: jit_trace(identity, {"a": X, "b": [{}]}),
        jittrace.InputError,
        r"example_inputs\[0\]\['b'\]\[0\] is an empty dict inside a mixed",
    ),
    (
        "mixed-list-in-mixed-dict",
        lambda: jit_trace(identity, {"a": X, "b": [X, (X,)]}),
        jittrace.InputError,
        r"example_inputs\[0\]\['b'\] is a mixed list inside a mixed list or dict",
    ),
    (
        "not-callable",
        lambda: jit_trace(3, X),
        jittrace.InputError,
        r"func must be a callable or an nn.Module, not int",
    ),
    (
        "list-longer-at-call",
        lambda: traced_stack()([X, X, X]),
        RuntimeError,
        r"Expected 2 elements in a list but found 3",
    ),
    (
        "list-became-dict",
        lambda: traced_stack()({"a": X}),
        RuntimeError,
        r"Expected a value of type 'List\[Tensor\]'",
    ),
    (
        "too-many-call-args",
        lambda: jit_trace(identity, X)(X, X),
        RuntimeError,
        r"expected at most 1 argument\(s\) but received 2",
    ),
    (
        "too-few-call-args",
        lambda: jit_trace(lambda a, b: a + b, X, X)(X),
        RuntimeError,
        r"missing value for argument 'b'",
    ),
    (
        "returns-none",
        lambda: jit_trace(lambda x: None, X),
        jittrace.TraceError,
        r"returned None at output",
    ),
    (
        "returns-int",
        lambda: jit_trace(lambda x: 3, X),
        jittrace.TraceError,
        r"returned an int at output",
    ),
    (
        "returns-str",
        lambda: jit_trace(lambda x: "s", X),
        jittrace.TraceError,
        r"returned a str at output",
    ),
    (
        "returns-generator",
        lambda: jit_trace(lambda x: (t for t in [x]), X),
        jittrace.TraceError,
        r"returned a generator at output",
    ),
    (
        "returns-nested-none",
        lambda: jit_trace(lambda x: (x, [x, None]), X, strict=False),
        jittrace.TraceError,
        r"returned None at output\[1\]\[1\]",
    ),
    (
        "returns-list-of-lists",
        lambda: jit_trace(lambda x: [[x]], X, strict=False),
        jittrace.TraceError,
        r"a list that does not hold only tensors \(List\[List\[Tensor\]\]\) at output",
    ),
    (
        "returns-dict-strict",
        lambda: jit_trace(lambda x: {"a": x}, X),
        jittrace.TraceError,
        r"Encountering a dict at the output of the tracer",
    ),
    (
        "returns-captured-tensor",
        lambda: jit_trace(lambda x: CAPTURED, X),
        jittrace.TraceError,
        r"did not have observable data dependence",
    ),
    (
        "kwargs-only-forward",
        lambda: jit_trace(KwargsOnly(), X),
        jittrace.InputError,
        r"KwargsOnly.forward cannot take 1 example inputs: too many positional",
    ),
    (
        "trace-script-function",
        lambda: jit_trace(jit_trace(identity, X), X),
        jittrace.InputError,
        r"already TorchScript \(ScriptFunction\)",
    ),
    (
        "trace-traced-module",
        lambda: jit_trace(jit_trace(Small(), torch.randn(2, 3)), X),
        jittrace.InputError,
        r"already TorchScript \(RecursiveScriptModule\)",
    ),
    (
        "attribute-not-method",
        lambda: jit_trace_module(WithAttribute(), scale=X),
        jittrace.InputError,
        r"'scale' is an attribute \(float\) of WithAttribute, not a method",
    ),
    (
        "submodule-not-method",
        lambda: jit_trace_module(Small(), fc=X),
        jittrace.InputError,
        r"'fc' is a submodule of Small, not a method",
    ),
    (
        "generated-name-taken",
        lambda: jit_trace(ShadowsGenerated(), X),
        jittrace.InputError,
        r"'evalforward' cannot be a traced method: the module already has an attribute",
    ),
    (
        "unknown-method",
        lambda: jit_trace_module(Small(), decode=X),
        jittrace.InputError,
        r"'decode' is not a method of Small; methods: forward",
    ),
    (
        "non-module",
        lambda: jit_trace_module(identity, forward=X),
        jittrace.InputError,
        r"mod must be a torch.nn.Module, not function",
    ),
    (
        "strict-not-bool",
        lambda: jit_trace(identity, X, strict=1),
        jittrace.InputError,
        r"strict must be True or False, not 1",
    ),
    (
        "respect-mode-not-bool",
        lambda: jit_trace_module(Small(), forward=X, respect_mode="yes"),
        jittrace.InputError,
        r"respect_mode must be True or False",
    ),
    (
        "check-inputs-not-list",
        lambda: jit_trace_module(Small(), forward=X, check_inputs={"forward": X}),
        jittrace.InputError,
        r"check_inputs must be a list of dicts",
    ),
    (
        "check-inputs-unknown-method",
        lambda: jit_trace_module(Small(), forward=torch.randn(2, 3), check_inputs=[{"encode": X}]),
        jittrace.InputError,
        r"check_inputs\[0\] names 'encode', which is not traced",
    ),
    (
        "keyboard-interrupt",
        lambda: jit_trace(lambda x: (_ for _ in ()).throw(KeyboardInterrupt()), X),
        KeyboardInterrupt,
        r"",
    ),
]


@pytest.mark.parametrize(
    ("make", "error", "message"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_raises_a_clear_exception_and_leaves_nothing_behind(make, error, message):
    with pytest.raises(error) as info:
        make()
    assert re.search(message, str(info.value)), str(info.value)
    assert torch._C._get_tracing_state() is None
    # The next trace works.
    assert torch.equal(jit_trace(torch.relu, X)(torch.ones(2)), torch.ones(2))


def test_the_table_has_at_least_thirty_cases():
    assert len(BAD_INPUT) >= 30


MODULE_FAILURES = [
    ("raises-in-forward", lambda m, x: (_ for _ in ()).throw(ValueError("broken"))),
    ("returns-number", lambda m, x: 1),
    ("interrupted", lambda m, x: (_ for _ in ()).throw(KeyboardInterrupt())),
]


@pytest.mark.parametrize(
    "body", [b for _, b in MODULE_FAILURES], ids=[n for n, _ in MODULE_FAILURES]
)
def test_module_is_unchanged_after_a_failing_trace(body):
    class Failing(Small):
        def forward(self, x):
            self.bn(self.fc(x))  # updates batch-norm statistics in train mode
            return body(self, x)

    mod = Failing()
    mod.fc.bias.requires_grad_(False)
    state = {k: v.clone() for k, v in mod.state_dict().items()}
    x = torch.randn(4, 3)
    rng = torch.get_rng_state()
    with pytest.raises((ValueError, jittrace.TraceError, KeyboardInterrupt)):
        jit_trace(mod, x)
    assert all(torch.equal(v, state[k]) for k, v in mod.state_dict().items())
    assert mod.training and mod.bn.training
    assert not mod.fc.bias.requires_grad
    assert torch.equal(rng, torch.get_rng_state())
    assert torch._C._get_tracing_state() is None


# ---- Unusual tensors that are supported -----------------------------------------------------------

SPARSE = torch.randn(3, 3).to_sparse()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # torch deprecates quantized tensor creation
    QUANTIZED = torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.quint8)

SUPPORTED = [
    ("sparse", lambda t: t.to_dense() * 2, SPARSE),
    ("quantized", lambda t: t.dequantize() + 1, QUANTIZED),
    ("complex", lambda t: t * (1 + 2j), torch.randn(3, dtype=torch.complex64)),
    ("zero-dim", lambda t: t * 2, torch.tensor(3.0)),
    ("empty", lambda t: t.sum(0), torch.empty(0, 3)),
    ("non-contiguous", lambda t: t + 1, torch.randn(4, 5).t()),
    ("bool", lambda t: t & t.logical_not(), torch.tensor([True, False])),
    ("int64", lambda t: t * 3, torch.arange(4)),
    ("parameter", lambda t: t * 2, nn.Parameter(torch.ones(2))),
    ("same-tensor-twice", lambda t: t[0] + t[1], (X, X)),
]


@pytest.mark.parametrize(
    ("fn", "example"), [c[1:] for c in SUPPORTED], ids=[c[0] for c in SUPPORTED]
)
def test_unusual_tensors_that_torch_supports_trace_and_match_eager(fn, example):
    traced = jit_trace(fn, example)
    expected, actual = fn(example), traced(example)
    assert torch.equal(expected, actual)


@pytest.mark.parametrize("example", [[], {}, [[]], ([], {}), [X, ()]], ids=repr)
def test_empty_containers_where_torch_can_type_them(example):
    traced = jit_trace(lambda e: torch.ones(1), example)
    assert torch.equal(traced(example), torch.ones(1))


def test_inputs_that_require_grad_give_a_differentiable_trace():
    w = torch.randn(3, requires_grad=True)
    traced = jit_trace(lambda a, b: (a * b).sum(), w, X)
    y = torch.randn(3, requires_grad=True)
    traced(y, X).backward()
    assert torch.allclose(y.grad, X)


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_tracing_inside_no_grad_and_inference_mode(context):
    mod = Small()
    with context():
        x = torch.randn(4, 3)
        traced = jit_trace(mod, x)
        fn = jit_trace(lambda t: t * 2, x)
    mod.eval()
    traced.eval()
    y = torch.randn(2, 3)
    assert torch.allclose(traced(y), mod(y))
    assert traced(y).requires_grad  # grad mode at trace time does not stick to the trace
    assert torch.equal(fn(y), y * 2)


def test_forward_hooks_are_traced():
    mod = Small()
    mod.register_forward_hook(lambda m, args, out: out * 10)
    mod.register_forward_pre_hook(lambda m, args: (args[0] + 1,))
    x = torch.randn(4, 3)
    traced = jit_trace(mod, x)
    mod.eval()
    traced.eval()
    assert torch.allclose(traced(x), mod(x))


def test_forward_with_kwargs_takes_positional_inputs():
    class Extra(nn.Module):
        def forward(self, x, **options):
            return x * options.get("scale", 2)

    traced = jit_trace(Extra(), X)
    assert torch.equal(traced(X), X * 2)
