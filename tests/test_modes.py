"""respect_mode: both modes traced, a TorchScript dispatcher, and the module left as it was."""

from __future__ import annotations

import warnings

import jittrace
import pytest
import torch
from jittrace import jit_trace, jit_trace_module
from torch import nn


class AbsByMode(nn.Module):
    """abs(x) when training, -abs(x) otherwise: R torch's mode test module."""

    def forward(self, x):
        return x.abs() if self.training else -x.abs()


X = torch.tensor([-1.0, 2.0, -3.0])


def assert_modes(module, x=X):
    module.train()
    assert torch.equal(module(x), x.abs())
    module.eval()
    assert torch.equal(module(x), -x.abs())


def test_respect_mode_switches_with_train_and_eval():
    traced = jit_trace(AbsByMode(), X)
    assert traced._c._method_names() == ["trainforward", "evalforward", "forward"]
    assert traced.training
    assert_modes(traced)


def test_modes_survive_save_and_load(tmp_path):
    traced = jit_trace(AbsByMode(), X)
    torch.jit.save(traced, str(tmp_path / "m.pt"))
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    assert_modes(loaded)
    assert "if training" in loaded.code or "self.training" in loaded.code


def test_traced_module_starts_in_the_modules_mode():
    mod = AbsByMode().eval()
    traced = jit_trace(mod, X)
    assert not traced.training
    assert torch.equal(traced(X), -X.abs())
    assert not mod.training


def test_respect_mode_false_bakes_the_current_mode():
    train_trace = jit_trace(AbsByMode().train(), X, respect_mode=False)
    eval_trace = jit_trace(AbsByMode().eval(), X, respect_mode=False)
    for mode in (True, False):
        train_trace.train(mode)
        eval_trace.train(mode)
        assert torch.equal(train_trace(X), X.abs())
        assert torch.equal(eval_trace(X), -X.abs())


def test_dropout_p1_zeros_in_train_and_is_identity_in_eval(tmp_path):
    mod = nn.Sequential(nn.Linear(3, 3), nn.Dropout(p=1.0))
    x = torch.randn(4, 3)
    traced = jit_trace(mod, x)
    assert torch.equal(traced(x), torch.zeros(4, 3))
    traced.eval()
    mod.eval()
    assert torch.allclose(traced(x), mod(x))
    torch.jit.save(traced, str(tmp_path / "d.pt"))
    loaded = torch.jit.load(str(tmp_path / "d.pt"))
    assert torch.allclose(loaded(x), mod(x))  # saved in eval mode
    loaded.train()
    assert torch.equal(loaded(x), torch.zeros(4, 3))


def test_eval_and_train_recurse_into_submodules():
    mod = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)))
    traced = jit_trace(mod, torch.ones(1, 2))
    traced.eval()
    assert not any(m.training for m in traced.modules())
    traced.train()
    assert all(m.training for m in traced.modules())


def test_dispatcher_is_typed_from_the_schema_for_containers():
    class Containers(nn.Module):
        def forward(self, xs, d):
            y = torch.stack(xs).sum(0) * d["scale"]
            return (y, [y, y + 1]) if self.training else (y * 0, [y, y - 1])

    mod = Containers()
    traced = jit_trace(
        mod, [torch.ones(2), torch.ones(2)], {"scale": torch.tensor(2.0)}, strict=False
    )
    schema = str(traced._c._get_method("forward").schema)
    assert "Tensor[] xs" in schema and "Dict(str, Tensor) d" in schema
    assert "-> ((Tensor, Tensor[]))" in schema
    out = traced([torch.ones(2)] * 2, {"scale": torch.tensor(1.0)})
    assert torch.equal(out[1][1], torch.full((2,), 3.0))
    traced.eval()
    out = traced([torch.ones(2)] * 2, {"scale": torch.tensor(1.0)})
    assert torch.equal(out[0], torch.zeros(2)) and torch.equal(out[1][1], torch.ones(2))


def test_dispatcher_works_for_mixed_list_inputs():
    class Mixed(nn.Module):
        def forward(self, items):
            x, (y, z) = items
            return x + y * z if self.training else x

    traced = jit_trace(Mixed(), [torch.ones(1), [torch.ones(1) * 2, torch.ones(1) * 3]])
    assert "Any[] items" in str(traced._c._get_method("forward").schema)
    assert torch.equal(traced([torch.ones(1), [torch.ones(1), torch.ones(1)]]), torch.tensor([2.0]))


def test_every_method_gets_both_modes():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(1.0)

        def forward(self, x):
            return self.drop(x)

        def encode(self, x):
            return self.drop(x) + 1

    traced = jit_trace_module(Two(), forward=torch.ones(2), encode=torch.ones(2))
    assert sorted(traced._c._method_names()) == sorted(
        ["trainforward", "trainencode", "evalforward", "evalencode", "forward", "encode"]
    )
    assert torch.equal(traced.encode(torch.ones(2)), torch.ones(2))
    traced.eval()
    assert torch.equal(traced.encode(torch.ones(2)), torch.full((2,), 2.0))


def test_different_output_types_dispatch_in_python_with_one_warning():
    class LossInTraining(nn.Module):
        def forward(self, x):
            return (x, x.sum()) if self.training else x

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced = jit_trace(LossInTraining(), torch.ones(2))
    mode_warnings = [w for w in caught if issubclass(w.category, jittrace.ModeDispatchWarning)]
    assert len(mode_warnings) == 1
    assert "different signatures" in str(mode_warnings[0].message)
    assert not traced._c._has_method("forward")
    assert isinstance(traced(torch.ones(2)), tuple)
    traced.eval()
    assert isinstance(traced(torch.ones(2)), torch.Tensor)


def test_batchnorm_stats_rng_and_flags_are_unchanged_by_tracing():
    mod = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    mod[1].eval()  # a frozen batch norm inside a training model
    frozen = nn.BatchNorm1d(4)
    mod.append(frozen)
    state = {k: v.clone() for k, v in mod.state_dict().items()}
    flags = [m.training for m in mod.modules()]
    x = torch.randn(8, 4)
    rng = torch.get_rng_state()
    traced = jit_trace(mod, x)
    for k, v in mod.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert [m.training for m in mod.modules()] == flags
    assert [m.training for m in traced.modules()] == flags
    assert torch.equal(rng, torch.get_rng_state())
    # torch.jit.trace, for comparison, updates the running statistics.
    torch.jit.trace(mod, torch.randn(8, 4), check_trace=False)
    assert mod[3].num_batches_tracked.item() == 1


def test_module_is_restored_when_the_traced_code_raises():
    class FailsInEval(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(3)
            self.register_buffer("cache", torch.zeros(3))

        def forward(self, x):
            y = self.bn(x)
            self.cache = y.detach().sum(0)  # reassigns a buffer
            if not self.training:
                raise ValueError("no eval here")
            return y

    mod = FailsInEval()
    cache = mod.cache
    with pytest.raises(ValueError, match="no eval here"):
        jit_trace(mod, torch.randn(5, 3))
    assert mod.training and mod.bn.training
    assert mod.cache is cache and torch.equal(cache, torch.zeros(3))
    assert mod.bn.num_batches_tracked.item() == 0
    assert torch._C._get_tracing_state() is None


def test_requires_grad_flags_are_kept():
    mod = nn.Linear(2, 2)
    mod.bias.requires_grad_(False)
    traced = jit_trace(mod, torch.randn(1, 2))
    assert mod.weight.requires_grad and not mod.bias.requires_grad
    assert traced.weight.requires_grad and not traced.bias.requires_grad


def test_current_mode_keeps_submodule_flags_and_other_mode_uses_train_or_eval():
    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = AbsByMode()

        def forward(self, x):
            return self.inner(x)

    mod = Probe()
    mod.inner.eval()  # training model with a submodule frozen in eval mode
    traced = jit_trace(mod, X)
    assert torch.equal(traced(X), -X.abs())  # train mode as the module is configured
    traced.eval()
    assert torch.equal(traced(X), -X.abs())
    mod.train()  # all in train mode now: the train trace follows the module's flags
    traced = jit_trace(mod, X)
    assert torch.equal(traced(X), X.abs())
