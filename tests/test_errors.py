"""Bad input to jit_trace raises a clear Python exception and leaves nothing behind."""

from __future__ import annotations

import jittrace
import numpy as np
import pytest
import torch
from jittrace import jit_trace


def add(x, y):
    return x + y


def no_tracing_state_left() -> bool:
    return torch._C._get_tracing_state() is None


@pytest.mark.parametrize(
    ("inputs", "path", "what"),
    [
        ((torch.ones(1), None), r"example_inputs\[1\]", "None"),
        ((torch.ones(1), "a"), r"example_inputs\[1\]", "a str"),
        ((torch.ones(1), 3), r"example_inputs\[1\]", "an int"),
        ((torch.ones(1), np.ones(2)), r"example_inputs\[1\]", "a numpy.ndarray"),
        (
            (torch.ones(1), {"a": torch.ones(1), "mask": 1.5}),
            r"example_inputs\[1\]\['mask'\]",
            "a float",
        ),
        (
            (torch.ones(1), [torch.ones(1), (torch.ones(1), "s")]),
            r"example_inputs\[1\]\[1\]\[1\]",
            "a str",
        ),
    ],
)
def test_non_tensor_leaf_is_a_type_error_naming_its_path(inputs, path, what):
    with pytest.raises(TypeError, match=path + " is " + what) as info:
        jit_trace(add, *inputs)
    assert isinstance(info.value, jittrace.InputError)
    assert no_tracing_state_left()


def test_non_str_dict_key_is_named():
    with pytest.raises(
        jittrace.InputError,
        match=r"example_inputs\[0\] is a dict with the key 1 \(an int\); .*\(dict keys must be str\)",
    ):
        jit_trace(lambda d: d[1], {1: torch.ones(1)})


def test_named_example_inputs_are_rejected():
    with pytest.raises(TypeError, match="example inputs can not be named"):
        jit_trace(add, x=torch.ones(1), y=torch.ones(1))


@pytest.mark.parametrize("func", [1, "relu", None, [torch.relu]])
def test_non_callable_is_a_type_error(func):
    with pytest.raises(TypeError, match=r"func must be a callable or an nn\.Module"):
        jit_trace(func, torch.ones(1))


def test_too_many_or_too_few_example_inputs():
    with pytest.raises(
        jittrace.InputError, match=r"add cannot take 3 example inputs: too many positional"
    ):
        jit_trace(add, torch.ones(1), torch.ones(1), torch.ones(1))
    with pytest.raises(
        jittrace.InputError,
        match="add cannot take 1 example inputs: missing a required argument: 'y'",
    ):
        jit_trace(add, torch.ones(1))


class Boom(Exception):
    pass


def test_exception_in_func_propagates_unchanged_and_the_next_trace_works():
    def fails(x):
        torch.relu(x)  # some ops are recorded before the failure
        raise Boom("the error abcde")

    with pytest.raises(Boom, match="the error abcde"):
        jit_trace(fails, torch.ones(2))
    assert no_tracing_state_left()
    assert torch.equal(
        jit_trace(add, torch.ones(1), torch.ones(1))(torch.ones(1), torch.ones(1)),
        torch.tensor([2.0]),
    )


def test_keyboard_interrupt_in_func_propagates():
    def interrupted(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        jit_trace(interrupted, torch.ones(1))
    assert no_tracing_state_left()
    assert jit_trace(torch.relu, torch.ones(1)) is not None


def test_torch_error_in_func_propagates_as_runtime_error():
    with pytest.raises(RuntimeError, match="size of tensor a"):
        jit_trace(add, torch.ones(2), torch.ones(3))
    assert no_tracing_state_left()


@pytest.mark.parametrize(
    ("result", "what"),
    [(None, "None"), (1, "an int"), ("s", "a str"), (2.5, "a float")],
)
def test_function_returning_a_non_tensor_is_a_trace_error(result, what):
    with pytest.raises(
        jittrace.TraceError,
        match=f"the traced function returned {what} at output; outputs must be tensors",
    ):
        jit_trace(lambda x: result, torch.ones(1))
    assert no_tracing_state_left()


def test_non_tensor_inside_the_output_is_named():
    with pytest.raises(RuntimeError, match=r"returned None at output\[1\]\[0\]"):
        jit_trace(lambda x: (x, (None, x)), torch.ones(1))


def test_output_without_data_dependence_is_a_trace_error():
    captured = torch.ones(2)
    with pytest.raises(jittrace.TraceError, match="did not have observable data dependence"):
        jit_trace(lambda x: captured, torch.ones(2))


def test_captured_tensor_requiring_grad_is_explained():
    weight = torch.ones(2, requires_grad=True)
    with pytest.raises(
        RuntimeError, match="Cannot insert a Tensor that requires grad as a constant"
    ):
        jit_trace(lambda x: x * weight, torch.ones(2))
    assert no_tracing_state_left()


def test_nested_jit_trace_is_a_trace_error():
    def outer(x):
        return jit_trace(torch.relu, x)(x)

    with pytest.raises(jittrace.TraceError, match="a trace is already running on this thread"):
        jit_trace(outer, torch.ones(1))
    assert no_tracing_state_left()


@pytest.mark.parametrize("flag", ["strict", "record_source_locations"])
def test_flags_must_be_bools(flag):
    with pytest.raises(jittrace.InputError, match=f"{flag} must be True or False"):
        jit_trace(torch.relu, torch.ones(1), **{flag: "yes"})


def test_bad_check_inputs():
    with pytest.raises(jittrace.InputError, match="check_inputs must be a list of tuples"):
        jit_trace(torch.relu, torch.ones(1), check_inputs=torch.ones(1))
