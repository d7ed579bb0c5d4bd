"""The drop-in behaves like torch where jittrace has no reason to differ (issue 19): checks that
touch nothing, torch's exception classes, scripted code, shadowed method names."""

from __future__ import annotations

import warnings

import jittrace
import pytest
import torch
from jittrace import jit_trace, jit_trace_module
from torch import nn


def adds_in_place(x):
    x.add_(1)
    return x * 2


def identity(x):
    return x


def sign_branch(x):
    return x * 2 if bool(x.sum() > 0) else x


@pytest.mark.parametrize(
    "trace",
    [
        lambda f, x, checks: jittrace.trace(f, x, check_inputs=checks),
        lambda f, x, checks: jit_trace(f, x, check_inputs=[(c,) for c in checks]),
    ],
    ids=["drop-in", "jit_trace"],
)
def test_checks_leave_the_inputs_as_they_were(trace):
    example, check = torch.zeros(3), torch.full((3,), 5.0)
    traced = trace(adds_in_place, example, [check])  # in-place code passes, as in torch
    assert torch.equal(example, torch.ones(3))  # the trace itself ran once, as eager code does
    assert torch.equal(check, torch.full((3,), 5.0))  # bitwise unchanged by the check
    assert torch.equal(traced(torch.zeros(3)), torch.full((3,), 2.0))


def test_checks_leave_module_check_inputs_as_they_were():
    class InPlace(nn.Module):
        def forward(self, x):
            return x.mul_(2) + 1

    check = torch.arange(3.0)
    traced = jit_trace_module(InPlace(), forward=torch.ones(3), check_inputs=[{"forward": check}])
    assert torch.equal(check, torch.arange(3.0))
    assert torch.equal(traced(torch.ones(3)), torch.full((3,), 3.0))


def doubles_positive_in_place(x):
    if bool(x.sum() > 0):
        x.mul_(2)
    return x


def test_a_function_that_returns_its_input_is_compared_with_the_other_runs_copy():
    x = torch.randn(3)
    before = x.clone()
    jittrace.trace(identity, x)
    assert torch.equal(x, before)
    # Eager and traced runs each return their own copy: a wrong trace cannot compare its
    # output with itself (both runs changing one tensor in place) and pass.
    with (
        pytest.warns(torch.jit.TracerWarning),
        pytest.raises(jittrace.TraceCheckError, match=r"check_inputs\[0\]: output differs"),
    ):
        jittrace.trace(
            doubles_positive_in_place, torch.ones(3), check_inputs=[-torch.ones(3)], guards=False
        )


def test_checks_run_without_grad_so_the_first_user_call_is_the_first_with_grad():
    w = torch.randn(3, requires_grad=True)
    x = torch.randn(3)

    def f(x, w):
        return (x * w).tanh().sum()

    traced = jittrace.trace(f, (x, w))
    traced(x, w).backward()
    grad_traced = w.grad.clone()
    w.grad = None
    f(x, w).backward()
    assert torch.equal(grad_traced, w.grad)


def test_nested_tensors_are_compared_piece_by_piece():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: nested tensors are a prototype
        nt = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])
        traced = jittrace.trace(lambda t: t.cos(), nt)
        report = jit_trace(lambda t: t.cos(), nt, check_inputs=[(nt,)], report=True)
    assert [(c.output, c.ok) for c in report.trace_report.checks] == [
        ("output[0]", True),
        ("output[1]", True),
    ]
    out = traced(nt)
    assert torch.equal(out.unbind()[1], torch.ones(3).cos())


def test_trace_check_error_is_torchs_tracing_check_error():
    assert issubclass(jittrace.TraceCheckError, torch.jit.TracingCheckError)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        with pytest.raises(torch.jit.TracingCheckError) as info:
            jittrace.trace(sign_branch, torch.ones(2), check_inputs=[-torch.ones(2)], guards=False)
    assert info.value.message == str(info.value)
    assert info.value.message.startswith("[trace] check_inputs[0]: output differs")


def test_a_script_function_is_traced_by_calling_it():
    scripted = torch.jit.script(torch.nn.functional.relu)
    for traced in (
        jittrace.trace(scripted, torch.randn(3)),
        jit_trace(scripted, torch.randn(3)),
    ):
        assert isinstance(traced, torch.jit.ScriptFunction)
        x = torch.randn(5)
        assert torch.equal(traced(x), torch.relu(x))


def test_a_script_module_is_returned_as_it_is_with_torchs_warning():
    scripted = torch.jit.script(nn.Linear(2, 2))
    for trace in (jittrace.trace, jit_trace):
        with pytest.warns(UserWarning, match="already a ScriptModule, tracing it is a no-op"):
            assert trace(scripted, torch.randn(1, 2)) is scripted


@pytest.mark.parametrize("name", ["double", "float", "half", "to", "train", "eval", "save"])
def test_a_method_named_like_a_script_module_attribute_is_refused(name):
    def method(self, x):
        return x * 2

    method.__name__ = method.__qualname__ = name
    cls = type("Shadows", (nn.Module,), {"forward": identity, name: method})
    with pytest.raises(jittrace.InputError, match=rf"Shadows\.{name} cannot be traced under the "):
        jit_trace_module(cls(), **{name: torch.ones(2)})
    with pytest.raises(jittrace.InputError, match=r"give the method another name$"):
        jit_trace(getattr(cls(), name), torch.ones(2))
