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
    code = loaded.code  # forward dispatches on self.training in TorchScript, not in Python
    assert "self.training" in code and "if training:" in code
    assert "(self).trainforward(x, )" in code and "(self).evalforward(x, )" in code


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


class LossInTraining(nn.Module):
    """Returns an auxiliary output in train mode only (GoogLeNet's aux logits, distilled DeiT)."""

    def forward(self, x):
        return (x, x.sum()) if self.training else x


def test_modes_with_different_output_types_get_a_union_typed_forward_that_survives_saving(
    tmp_path,
):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: nothing is left to say
        traced = jit_trace(LossInTraining(), torch.ones(2))
    assert traced._c._method_names() == ["trainforward", "evalforward", "forward"]
    assert str(traced._c._get_method("forward").schema).endswith(
        "-> Union(Tensor, (Tensor, Tensor))"
    )
    torch.jit.save(traced, str(tmp_path / "m.pt"))
    x = torch.tensor([1.0, 2.0])
    for module in (traced, torch.jit.load(str(tmp_path / "m.pt"))):
        module.train()
        out = module(x)
        assert type(out) is tuple and len(out) == 2
        assert torch.equal(out[0], x) and torch.equal(out[1], torch.tensor(3.0))
        module.eval()
        out = module(x)
        assert type(out) is torch.Tensor and torch.equal(out, x)


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
    with pytest.raises(ValueError, match=r"^no eval here$") as info:
        jit_trace(mod, torch.randn(5, 3))
    assert type(info.value) is ValueError  # the traced code's own exception, unchanged
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


class ModifiesWeightInPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        with torch.no_grad():
            self.fc.weight.mul_(1.0)  # an in-place change the trace cannot undo
        return self.fc(x)


@pytest.mark.parametrize("api", ["jit_trace", "jit_trace_module"])
def test_warnings_point_at_the_callers_line_for_both_entry_points(api):
    mod = ModifiesWeightInPlace()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if api == "jit_trace":
            jit_trace(mod, torch.ones(1, 2))
        else:
            jit_trace_module(mod, forward=torch.ones(1, 2))
    modified = [w for w in caught if w.category is RuntimeWarning]
    assert [str(w.message) for w in modified] == [
        f"[{api}] the traced code modified parameter 'fc.weight' in place; parameters are not "
        "copied before tracing, so its value could not be restored"
    ]
    assert modified[0].filename == __file__


def test_a_failing_check_leaves_the_module_as_it_was_and_its_error_wins():
    """check_inputs run in train mode inside the trace's scope: their batch-norm updates and mode
    switches are put back too, and the TraceCheckError is what the caller sees."""

    class NoisyInTraining(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(2)

        def forward(self, x):
            y = self.bn(x)
            return y + 1 if bool(y.sum() > 100) else y  # data-dependent: baked in

    mod = NoisyInTraining()
    state = {k: v.clone() for k, v in mod.state_dict().items()}
    example = torch.randn(4, 2)
    large = torch.full((4, 2), 1000.0) + torch.arange(8.0).view(4, 2)
    rng = torch.get_rng_state()
    with (
        pytest.raises(jittrace.TraceCheckError) as info,
        pytest.warns(torch.jit.TracerWarning, match="Converting a tensor to a Python boolean"),
    ):
        jit_trace_module(mod, forward=example, check_inputs=[{"forward": large}])
    assert type(info.value) is jittrace.TraceCheckError
    # Train mode normalizes by the batch and passes; eval mode, with the statistics, does not.
    assert str(info.value).startswith("[jit_trace_module] check_inputs[0]['forward'] (eval mode)")
    assert all(torch.equal(v, state[k]) for k, v in mod.state_dict().items())
    assert mod.training and mod.bn.training
    assert torch.equal(rng, torch.get_rng_state())
