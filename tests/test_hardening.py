"""Trying to break jittrace: the module after a failing trace, unusual tensors, hooks.

The bad calls themselves, with the exact exception and message of each, are the table in
test_errors.py.
"""

from __future__ import annotations

import warnings

import jittrace
import pytest
import torch
from jittrace import jit_trace
from torch import nn

X = torch.randn(3)


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        return self.bn(self.fc(x))


def raise_(error: BaseException) -> None:
    raise error


# (id, the rest of forward, the exception the trace raises)
MODULE_FAILURES = [
    ("raises-in-forward", lambda m, x: raise_(ValueError("broken")), ValueError),
    ("returns-number", lambda m, x: 1, jittrace.TraceError),
    ("interrupted", lambda m, x: raise_(KeyboardInterrupt()), KeyboardInterrupt),
]


@pytest.mark.parametrize(
    ("body", "error"), [c[1:] for c in MODULE_FAILURES], ids=[c[0] for c in MODULE_FAILURES]
)
def test_module_is_unchanged_after_a_failing_trace(body, error):
    class Failing(Small):
        def forward(self, x):
            self.bn(self.fc(x))  # updates batch-norm statistics in train mode
            return body(self, x)

    mod = Failing()
    mod.fc.bias.requires_grad_(False)
    state = {k: v.clone() for k, v in mod.state_dict().items()}
    x = torch.randn(4, 3)
    rng = torch.get_rng_state()
    with pytest.raises(error) as info:
        jit_trace(mod, x)
    assert type(info.value) is error
    assert all(torch.equal(v, state[k]) for k, v in mod.state_dict().items())
    assert mod.training and mod.bn.training
    assert not mod.fc.bias.requires_grad
    assert torch.equal(rng, torch.get_rng_state())
    assert torch._C._get_tracing_state() is None


# ---- Unusual tensors that are supported ----------------------------------------------------------

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
