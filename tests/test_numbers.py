"""Python numbers in traced outputs: computed from sizes, they are traced and come back as the
Python type eager code returns; any other number in a structure is a constant of the trace."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import NamedTuple

import jittrace
import pytest
import torch
from jittrace import jit_trace
from jittrace._check import Checker
from jittrace._options import Tolerance
from jittrace._structures import Structure, _wrap
from torch import nn


class Sized(NamedTuple):
    out: torch.Tensor
    n: int
    half: float
    big: bool
    fixed: int
    flag: bool
    scale: float


def sized(x: torch.Tensor) -> Sized:
    n = x.shape[0]
    return Sized(x * 2, n, n / 2, n > 4, 3, True, 0.5)


@dataclasses.dataclass
class Lengths:
    hidden: torch.Tensor
    length: int
    total: int = 0
    ratio: float = 1.5


def lengths(x: torch.Tensor) -> Lengths:
    return Lengths(x + 1, x.size(1), 0 + x.shape[0] * x.shape[1])


def assert_same(got, expected):
    """The same values, and the same Python type for every number."""
    got_leaves = torch.utils._pytree.tree_leaves(_wrap(got))  # dataclasses too
    expected_leaves = torch.utils._pytree.tree_leaves(_wrap(expected))
    assert type(got) is type(expected)
    for a, e in zip(got_leaves, expected_leaves, strict=True):
        assert type(a) is type(e)
        if isinstance(e, torch.Tensor):
            assert torch.equal(a, e)
        else:
            assert a == e


def test_numbers_from_sizes_are_traced_and_others_are_constants():
    traced = jit_trace(sized, torch.randn(4, 3))
    assert traced.interface.outputs[0][0].describe() == (
        "Sized(out=Tensor, n=int, half=float, big=bool, fixed=3, flag=True, scale=0.5)"
    )
    # The traced numbers are graph outputs; the constants are not.
    assert len(list(traced.script.graph.outputs())) == 1
    assert (
        str(traced.script.graph.return_node().input().type())
        == "Tuple[Tensor, Tensor, Tensor, Tensor]"
    )
    for batch in (4, 6, 2):
        x = torch.randn(batch, 3)
        got = traced(x)
        assert_same(got, sized(x))
        assert got.n == batch and got.half == batch / 2 and got.big is (batch > 4)


def test_numbers_in_a_dataclass_and_a_dict():
    traced = jit_trace(lengths, torch.randn(2, 3))
    x = torch.randn(5, 7)
    got = traced(x)
    assert_same(got, lengths(x))
    assert got.length == 7 and got.total == 35 and got.ratio == 1.5

    def as_dict(x):
        return {"y": x.relu(), "rows": x.shape[0], "fixed": 2.5}

    traced = jit_trace(as_dict, torch.randn(2, 3), strict=False)
    x = torch.randn(6, 3)
    assert_same(traced(x), as_dict(x))
    assert traced(x)["rows"] == 6


def test_a_constant_in_a_plain_tuple_is_rebuilt():
    traced = jit_trace(lambda x: (x * 2, 3, None, False), torch.ones(2))
    out = traced(torch.ones(3))
    assert torch.equal(out[0], torch.full((3,), 2.0)) and out[1:] == (3, None, False)
    assert type(out[1]) is int and type(out[3]) is bool


def test_a_bare_size_comes_back_as_an_int():
    traced = jit_trace(lambda x: x.shape[0] * x.shape[1], torch.ones(2, 3))
    got = traced(torch.ones(4, 5))
    assert type(got) is int and got == 20


def test_tensors_stay_tensors():
    """0-dim tensors that eager code has as tensors: computed from data, or by torch functions
    given a size."""

    def f(x):
        n = x.shape[0]
        return x.sum(), torch.full((), n), (x.sum() > 0), n * torch.ones(())

    traced = jit_trace(f, torch.ones(2, 3))
    x = torch.ones(4, 3)
    got = traced(x)
    assert all(type(t) is torch.Tensor for t in got)
    assert [t.item() for t in got] == [12.0, 4, True, 4.0]


def test_a_module_through_the_drop_in_default_check():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return Lengths(self.fc(x), x.shape[0], x.shape[0] + 1, x.shape[0] / 4)

    net = Net().eval()
    traced = jittrace.trace(net, torch.randn(4, 3), check_inputs=[(torch.randn(6, 3),)])
    x = torch.randn(9, 3)
    got = traced(x)
    expected = net(x)
    assert type(got) is Lengths
    assert torch.allclose(got.hidden, expected.hidden)
    assert (got.length, got.total, got.ratio) == (9, 10, 2.25)
    assert type(got.ratio) is float and type(got.total) is int


def test_save_and_load_rebuild_the_python_types(tmp_path):
    traced = jit_trace(sized, torch.randn(4, 3))
    path = tmp_path / "sized.pt"
    jittrace.save(traced, path)
    leaves = jittrace.manifest(path)["methods"]["forward"]["outputs"][0][0]["leaves"]
    assert leaves == ["Tensor", {"number": "int"}, {"number": "float"}, {"number": "bool"},
                      {"fixed": 3}, {"fixed": True}, {"fixed": 0.5}]  # fmt: skip
    loaded = jittrace.load(path)
    x = torch.randn(7, 3)
    assert_same(loaded(x), sized(x))
    # Without jittrace, TorchScript returns the traced numbers as 0-dim tensors only.
    script = torch.jit.load(str(path))(x)
    assert [t.item() for t in script[1:]] == [7, 3.5, True]


def test_structures_round_trip_number_and_fixed_leaves():
    value = Sized(torch.ones(2), 2, 1.0, False, 3, True, 0.5)
    structure, script = Structure.of_output(
        value._replace(n=torch.tensor(2)), lambda t: "int" if t.dim() == 0 else None
    )
    data = json.loads(json.dumps(structure.to_json()))
    loaded = Structure.from_json(data)
    assert loaded == structure
    assert loaded.describe() == (
        "Sized(out=Tensor, n=int, half=1.0, big=False, fixed=3, flag=True, scale=0.5)"
    )
    rebuilt = loaded.from_script(script)
    assert type(rebuilt) is Sized and type(rebuilt.n) is int and rebuilt.n == 2
    assert len(script) == 2  # the tensor and the number; the constants are dropped


def test_fixed_numbers_that_json_cannot_hold_round_trip():
    value = (torch.ones(1), math.inf, -math.inf, math.nan, 1e300)
    structure, _ = Structure.of_output(value, lambda t: None)
    data = structure.to_json()
    text = json.dumps(data, allow_nan=False)  # as jittrace.save writes the manifest
    rebuilt = Structure.from_json(json.loads(text)).from_script((torch.ones(1),))
    assert rebuilt[1:3] == (math.inf, -math.inf) and math.isnan(rebuilt[3])
    assert rebuilt[4] == 1e300


def test_the_check_compares_numbers_by_value():
    x = torch.ones(2)
    checker = Checker(Tolerance())
    checker.compare(Sized(x, 5, 2.5, True, 3, True, 0.5), Sized(x, 5, 2.5, True, 3, True, 0.5), "w")
    # A traced number as a 0-dim tensor (TorchScript without jittrace's wrapper) is equal too.
    checker.compare(
        Sized(x, 5, 2.5, True, 3, True, 0.5),
        Sized(x, torch.tensor(5), torch.tensor(2.5), torch.tensor(True), 3, True, 0.5),
        "w",
    )
    checker.compare((x, 1.0), (x, 1.0 + 1e-9), "w")  # within the tolerance
    with pytest.raises(
        jittrace.TraceCheckError, match=r"^w: output\[1\] is 6 when traced, 5 in eager mode$"
    ):
        checker.compare(
            Sized(x, 5, 2.5, True, 3, True, 0.5), Sized(x, 6, 2.5, True, 3, True, 0.5), "w"
        )
    with pytest.raises(
        jittrace.TraceCheckError,
        match=r"^w: output\[1\] is a float when traced, an int in eager mode$",
    ):
        checker.compare((x, 5), (x, 5.0), "w")
    checker = Checker(Tolerance())  # the results of this check alone
    with pytest.raises(
        jittrace.TraceCheckError, match=r"^w: output\[1\] is 4 when traced, 5 in eager mode$"
    ):
        checker.compare((x, 5), (x, torch.tensor(4)), "w")
    number = next(r for r in checker.results if r.output == "output[1]")
    assert not number.ok and number.max_abs_diff == 1.0


class Counted:
    """A type that keeps a count in its pytree context, as transformers' caches keep theirs."""

    def __init__(self, value: torch.Tensor, count: int) -> None:
        self.value, self.count = value, count


torch.utils._pytree.register_pytree_node(
    Counted, lambda c: ([c.value], c.count), lambda values, count: Counted(values[0], count)
)


def test_the_check_says_where_constants_in_a_context_differ():
    x = torch.ones(2)
    with pytest.raises(
        jittrace.TraceCheckError,
        match=r"^w: output is \(Tensor, Counted\(Tensor\)\) when traced, \(Tensor, "
        r"Counted\(Tensor\)\) in eager mode \(\[1\] holds 7 in one, 6 in the other, traced "
        r"first\)$",
    ):
        Checker(Tolerance()).compare((x, Counted(x, 6)), (x, Counted(x, 7)), "w")
