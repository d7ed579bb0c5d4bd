"""Property tests: random nestings of lists, tuples and dicts of tensors trace and call back with
the same values and structure."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jittrace import InputError, jit_trace

SHAPES = st.lists(st.integers(1, 3), min_size=0, max_size=2)


def tensors():
    return SHAPES.map(lambda shape: torch.randn(shape))


# The one InputError random nestings may raise, with the path of the offending list or dict.
MIXED_INSIDE_MIXED = (
    r"\[jit_trace\] example_inputs\[[01]\](\[\d+\]|\['[a-h_]+'\])+ is (an empty|a mixed) "
    r"(list|dict) inside a mixed list or dict; an example input must be a tensor, a tuple, list "
    r"or dict of tensors, or a constant without tensors \(bool, int, float, str, None, or a "
    r"tuple, list or dict of them\) \(torch cannot infer its type when the traced function is "
    r"called; use a tuple\)"
)

# Nothing but empty containers of two kinds ({"a": [], "b": {}}) is a constant TorchScript cannot
# type: refused, naming it (a constant of one type, or a tuple, works).
MIXED_CONSTANT = (
    r"\[jit_trace\] example_inputs\[[01]\] is a constant of the TorchScript type .*Any.*; an "
    r"example input must be .* \(the elements of a list or dict of constants must have one type; "
    r"use a tuple\)"
)

keys = st.text(alphabet="abcdefgh_", min_size=1, max_size=4)
structures = st.recursive(
    tensors(),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(keys, children, max_size=3),
    ),
    max_leaves=8,
)


def leaves(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    values = obj.values() if isinstance(obj, dict) else obj
    return [t for v in values for t in leaves(v)]


def shape_of(obj: Any) -> Any:
    """The nesting with tensors replaced by None, so two structures compare by their layout."""
    if isinstance(obj, torch.Tensor):
        return None
    if isinstance(obj, dict):
        return ("dict", tuple((k, shape_of(v)) for k, v in obj.items()))
    return (type(obj).__name__, tuple(shape_of(v) for v in obj))


def refill(obj: Any) -> Any:
    """The same nesting with new values (and new sizes) in every tensor."""
    if isinstance(obj, torch.Tensor):
        return torch.randn([s + 1 for s in obj.shape])
    if isinstance(obj, dict):
        return {k: refill(v) for k, v in obj.items()}
    return type(obj)(refill(v) for v in obj)


@pytest.mark.parametrize("strict", [True, False])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=structures, second=structures)
def test_random_nestings_round_trip(strict, first, second):
    seen = []

    def fn(a, b):
        seen.append((shape_of(a), shape_of(b)))
        out = tuple(t * 2 + 1 for t in leaves(a)) + tuple(t - 1 for t in leaves(b))
        if strict:
            return out
        return out, [t.sum() for t in leaves(a)], {f"k{i}": t for i, t in enumerate(leaves(b))}

    try:
        traced = jit_trace(fn, first, second, strict=strict)
    except InputError as e:
        # A list or dict nested in a mixed one must be non-empty and hold one type, since torch
        # infers its type when the traced function is called; anything else is a bug.
        assert type(e) is InputError  # noqa: PT017 (the error decides)
        assert re.fullmatch(MIXED_INSIDE_MIXED, str(e)) or re.fullmatch(  # noqa: PT017
            MIXED_CONSTANT, str(e)
        ), str(e)
        assume(False)
    assert seen == [(shape_of(first), shape_of(second))]  # the function saw the original nesting
    new_first, new_second = refill(first), refill(second)
    expected = fn(new_first, new_second)
    actual = traced(new_first, new_second)
    assert shape_of(actual) == shape_of(expected)
    assert all(torch.allclose(e, a) for e, a in zip(leaves(expected), leaves(actual), strict=True))
