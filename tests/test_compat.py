"""jittrace.trace and jittrace.trace_module: torch.jit.trace's signature and conventions, with
what jittrace does better kept (no global unit, the module untouched, checks by outputs)."""

from __future__ import annotations

import inspect
import warnings

import jittrace
import pytest
import torch
from torch import nn


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x, mask=None):
        y = self.fc(x)
        return y if mask is None else y * mask

    def project(self, x):
        return self.fc(x).sum(-1)

    def gate(self, x, *, scale):
        return self.fc(x) * scale


def scaled(x, mask=None, scale: float = 2.0):
    return x * scale if mask is None else x * mask * scale


def add(x, y):
    return x + y


def first_of(d):
    return d["a"] * 2


@pytest.mark.parametrize(
    ("func", "example", "call"),
    [
        (add, (torch.ones(2), torch.full((2,), 2.0)), (torch.ones(2), torch.ones(2))),
        (add, [torch.ones(2), torch.ones(2)], (torch.ones(2), torch.ones(2))),  # a list: args
        (torch.relu, torch.ones(2), (torch.tensor([-1.0, 1.0]),)),  # a tensor: one argument
        (first_of, {"a": torch.ones(2)}, ({"a": torch.full((2,), 3.0)},)),  # a dict: one argument
    ],
    ids=["tuple", "list", "tensor", "dict"],
)
def test_example_inputs_follow_torchs_convention(func, example, call):
    ours = jittrace.trace(func, example)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = torch.jit.trace(func, example)
    assert isinstance(ours, torch.jit.ScriptFunction)
    assert torch.equal(ours(*call), theirs(*call))


def test_the_signature_is_torchs_plus_jittraces_keywords():
    ours = inspect.signature(jittrace.trace).parameters
    theirs = inspect.signature(torch.jit.trace).parameters
    assert list(ours)[: len(theirs)] == list(theirs)
    assert [ours[n].default for n in theirs if n != "_compilation_unit"] == [
        theirs[n].default for n in theirs if n != "_compilation_unit"
    ]
    assert list(ours)[len(theirs) :] == [
        "respect_mode",
        "record_source_locations",
        "guards",
        "autograd_functions",
    ]
    module_ours = inspect.signature(jittrace.trace_module).parameters
    module_theirs = inspect.signature(torch.jit.trace_module).parameters
    assert list(module_ours)[: len(module_theirs)] == list(module_theirs)


def test_keyword_inputs_are_bound_through_the_signature_and_taken_by_name(tmp_path):
    traced = jittrace.trace(scaled, (torch.ones(3),), example_kwarg_inputs={"mask": torch.ones(3)})
    assert [a.name for a in traced.schema.arguments] == ["x", "mask"]  # scale: default, baked
    x, mask = torch.arange(3.0), torch.full((3,), 3.0)
    assert torch.equal(traced(x, mask=mask), scaled(x, mask=mask))
    assert torch.equal(traced(mask=mask, x=x), scaled(x, mask=mask))
    torch.jit.save(traced, str(tmp_path / "f.pt"))
    assert torch.equal(torch.jit.load(str(tmp_path / "f.pt"))(x, mask=mask), scaled(x, mask=mask))


def test_keyword_only_forward_of_a_module():
    class KeywordOnly(nn.Module):
        def forward(self, x, *, y):
            return x + y

    traced = jittrace.trace(
        KeywordOnly(), example_kwarg_inputs={"x": torch.ones(2), "y": torch.ones(2)}
    )
    assert torch.equal(traced(torch.ones(2), y=torch.full((2,), 2.0)), torch.full((2,), 3.0))


def test_one_mode_by_default_and_the_module_is_left_as_it_was():
    mod = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.2))
    state = {k: v.clone() for k, v in mod.state_dict().items()}
    traced = jittrace.trace(mod, torch.randn(8, 4))  # check_trace=True, as torch's default
    assert traced._c._method_names() == ["forward"]
    assert traced.training
    # torch.jit.trace's check re-runs the model: its running statistics move; ours stay.
    assert all(torch.equal(v, state[k]) for k, v in mod.state_dict().items())
    both = jittrace.trace(mod, torch.randn(8, 4), respect_mode=True)
    assert both._c._method_names() == ["trainforward", "evalforward", "forward"]


def test_nothing_lands_in_torchs_global_compilation_unit_and_names_are_not_mangled():
    global_cu = torch.jit._state._python_cu
    before = len(global_cu.get_functions())
    traced = [jittrace.trace(add, (torch.ones(1), torch.ones(1))) for _ in range(20)]
    assert len(global_cu.get_functions()) == before
    assert {t.qualified_name for t in traced} == {f"__torch__.{__name__}.add"}


def test_check_trace_compares_outputs_with_check_tolerance():
    def branches(x):
        return x * 2 if bool(x.sum() > 0) else x

    with (
        pytest.raises(jittrace.TraceCheckError) as info,
        pytest.warns(torch.jit.TracerWarning),
    ):
        jittrace.trace(
            branches,
            torch.ones(2),
            check_inputs=[(-torch.ones(2),)],
            check_tolerance=0.01,
            guards=False,  # a guard would stop the traced run: this is about the comparison
        )
    assert str(info.value) == (
        "[trace] check_inputs[0]: output differs from eager mode: largest absolute difference "
        "1 (rtol=0.01, atol=1e-05)"
    )


def test_trace_module_with_keyword_inputs_and_checks():
    mod = Masked().eval()
    x, mask = torch.randn(2, 3), torch.ones(2, 3)
    traced = jittrace.trace_module(
        mod,
        {"forward": {"x": x, "mask": mask}, "project": {"x": x}},
        example_inputs_is_kwarg=True,
        check_inputs=[{"forward": {"x": torch.randn(4, 3), "mask": torch.zeros(4, 3)}}],
    )
    other = torch.randn(5, 3)
    assert torch.equal(traced(other, mask=torch.zeros(5, 3)), torch.zeros(5, 3))
    assert torch.allclose(traced.project(other), mod.project(other))


def test_torch_private_arguments_are_refused_and_optimize_warns_as_in_torch():
    with pytest.raises(jittrace.InputError) as info:
        jittrace.trace(add, (torch.ones(1), torch.ones(1)), _force_outplace=True)
    assert type(info.value) is jittrace.InputError
    assert str(info.value) == (
        "[trace] _force_outplace: torch.jit.trace's private arguments are not supported "
        "(jittrace traces with its own compilation units and module classes)"
    )
    with pytest.warns(FutureWarning, match="`optimize` is deprecated and has no effect") as rec:
        jittrace.trace(add, (torch.ones(1), torch.ones(1)), optimize=True)
    assert rec[0].filename == __file__


def test_no_deprecation_warning_from_torch_jit():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        traced = jittrace.trace(nn.Linear(2, 2), torch.ones(1, 2))
    assert traced(torch.ones(1, 2)).shape == (1, 2)


def test_jit_trace_module_takes_keyword_inputs_per_method():
    mod = Masked()
    x, mask = torch.randn(2, 3), torch.zeros(2, 3)
    traced = jittrace.jit_trace_module(
        mod,
        forward=x,
        example_kwarg_inputs={"forward": {"mask": mask}, "gate": {"x": x, "scale": x}},
        respect_mode=False,
    )
    assert [a.name for a in traced._c._get_method("forward").schema.arguments[1:]] == ["x", "mask"]
    assert torch.equal(traced(x, mask=mask), torch.zeros(2, 3))
    other = torch.randn(4, 3)
    assert torch.allclose(traced.gate(other, scale=other), mod.gate(other, scale=other))


def test_keyword_inputs_bind_variadic_parameters_in_signature_order():
    def f(x, *rest, scale=None, **extra):
        return x + sum(rest) + scale * 10 + extra["a"] * 100

    one = torch.ones(1)
    traced = jittrace.jit_trace(f, one, one, example_kwarg_inputs={"scale": one, "a": one})
    assert [a.name for a in traced.schema.arguments] == ["x", "rest_0", "scale", "a"]
    x, r, s, a = (torch.tensor([v]) for v in (1.0, 2.0, 3.0, 4.0))
    assert torch.equal(traced(x, r, s, a), f(x, r, scale=s, a=a))
