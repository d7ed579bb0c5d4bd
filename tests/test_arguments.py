"""Non-tensor arguments, variants and structured inputs and outputs, through jit_trace and
jit_trace_module: what the traced callable takes, returns and refuses, and what TorchScript
sees (after saving, too)."""

from __future__ import annotations

import collections
import dataclasses
import io
import os
import re
import tempfile

import jittrace
import pytest
import torch
from jittrace import TracedFunction, jit_trace, jit_trace_module

X = torch.tensor([[-1.0, 2.0]])
Pair = collections.namedtuple("Pair", "first second")


@dataclasses.dataclass
class Features:
    hidden: torch.Tensor
    pooled: torch.Tensor | None = None


class Net(torch.nn.Module):
    """forward(x, mask=None, return_features=False), with dropout to tell the modes apart."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(2, 2)
        self.drop = torch.nn.Dropout(0.5)

    def forward(self, x, mask=None, return_features: bool = False):
        y = self.drop(self.fc(x))
        if mask is not None:
            y = y * mask
        return Features(y, y.sum(-1)) if return_features else y


def reload(traced, tmp_path=None):
    """Through torch's own save and load (a function through jittrace's: torch's save of a
    ScriptFunction drops its default values)."""
    if isinstance(traced, torch.jit.ScriptModule):
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        buffer.seek(0)
        return torch.jit.load(buffer)
    with tempfile.TemporaryDirectory() as tmp:
        jittrace.save(traced, os.path.join(tmp, "f.pt"))
        return torch.jit.load(os.path.join(tmp, "f.pt"))


# ---- Constants --------------------------------------------------------------------------------


def scale(x, factor: float, mode: str = "add", flags=(1, 2)):
    y = x * factor
    return y + len(flags) if mode == "add" else y - len(flags)


def test_constant_arguments_are_specialised_and_still_taken():
    traced = jit_trace(scale, X, 3.0, "sub")
    expected = scale(X, 3.0, "sub")
    assert torch.equal(traced(X, 3.0, "sub"), expected)
    assert torch.equal(traced(X, factor=3.0, mode="sub"), expected)
    assert [a.name for a in traced.schema.arguments] == ["x", "factor", "mode"]
    assert str(traced.schema.arguments[2].type) == "str"


@pytest.mark.parametrize(
    ("args", "kwargs", "shown"),
    [
        ((X, 2.0, "sub"), {}, "factor=2., mode=sub"),
        ((X, 3.0), {"mode": "add"}, "factor=3., mode=add"),
        ((X, 3.0), {}, "factor=3., mode=add"),  # the Python default, never traced
    ],
)
def test_other_values_raise_naming_argument_and_traced_values(args, kwargs, shown):
    traced = jit_trace(scale, X, 3.0, "sub")
    with pytest.raises(torch.jit.Error) as info:
        traced(*args, **kwargs)
    message = str(info.value)
    assert "jittrace: scale() was traced for (factor=3.0, mode='sub') only" in message
    assert f"it cannot compute {shown} without a trace for those values" in message


def test_constants_of_every_kind_round_trip_through_save():
    def f(x, b, i, s, n, t, li, d):
        return x * i if b and n is None and s == "s" and t == (1, 2.5) and li == [3] else x

    args = (X, True, 4, "s", None, (1, 2.5), [3], {"k": 1})
    traced = jit_trace(f, *args)
    loaded = reload(traced)
    assert torch.equal(loaded(*args), X * 4)
    with pytest.raises(torch.jit.Error, match=re.escape("d={k: 2} without a trace")):
        loaded(*args[:-1], {"k": 2})
    types = [str(a.type) for a in traced.schema.arguments]
    assert types == [
        "Tensor", "bool", "int", "str", "Optional[Tensor]", "Tuple[int, float]", "List[int]",
        "Dict[str, int]",
    ]  # fmt: skip


def test_a_constant_inside_a_tensor_argument_is_refused():
    with pytest.raises(TypeError, match=re.escape("example_inputs[0][1] is an int")):
        jit_trace(lambda pair: pair[0] * pair[1], (X, 3))


# ---- Variants ---------------------------------------------------------------------------------


def test_function_variants_dispatch_in_torchscript():
    def f(x, relu: bool, power: int = 1):
        return torch.relu(x) ** power if relu else x**power

    traced = jit_trace(f, X, True, variants={"relu": [True, False], "power": [1, 2]})
    loaded = reload(traced)
    for relu in (True, False):
        for power in (1, 2):
            assert torch.equal(traced(X, relu, power), f(X, relu, power))
            assert torch.equal(loaded(X, relu, power=power), f(X, relu, power))
    assert torch.equal(loaded(X, False), f(X, False))  # the default power=1
    with pytest.raises(torch.jit.Error, match=r"cannot compute relu=True, power=3"):
        loaded(X, True, 3)


def test_variants_as_a_list_replace_example_arguments():
    def f(x, k: int):
        return x + k

    traced = jit_trace(f, X, 1, variants=[{}, {"k": 5}])
    assert torch.equal(traced(X, 5), X + 5)
    assert torch.equal(traced(X, 1), X + 1)
    with pytest.raises(torch.jit.Error, match=r"traced for \(k=1\), \(k=5\) only"):
        traced(X, 2)


def test_module_mask_and_flag_variants_in_both_modes():
    net = Net()
    mask = torch.tensor([1.0, 0.0])
    traced = jit_trace(net, X, variants={"mask": [mask, None], "return_features": [False, True]})
    assert [n for n in traced._c._method_names() if n.startswith("trainforward")] == [
        "trainforward__0",
        "trainforward__1",
        "trainforward__2",
        "trainforward__3",
        "trainforward",
    ]
    net.eval()
    traced.eval()
    for m in (mask, None):
        for features in (False, True):
            expected = net(X, m, features)
            got = traced(X, m, return_features=features)
            assert type(got) is type(expected)
            if features:
                assert torch.equal(got.hidden, expected.hidden)
                assert torch.equal(got.pooled, expected.pooled)
            else:
                assert torch.equal(got, expected)
    assert torch.equal(traced(X), net(X))  # both defaults
    loaded = reload(traced)
    loaded.eval()
    hidden, pooled = loaded(X, mask, True)  # TorchScript returns the tuple form
    assert torch.equal(pooled, net(X, mask, True).pooled)
    assert torch.equal(hidden, net(X, mask, True).hidden)
    loaded.train()
    torch.manual_seed(1)
    a = loaded(torch.ones(1000, 2))
    assert (a == 0).any()  # train mode: dropout


def test_jit_trace_module_takes_variants_per_method():
    class Two(torch.nn.Module):
        def forward(self, x):
            return x * 2

        def shift(self, x, by: int = 1):
            return x + by

    traced = jit_trace_module(
        Two(), forward=X, shift=(X, 1), variants={"shift": {"by": [1, 3]}}, respect_mode=False
    )
    assert torch.equal(traced.shift(X, 3), X + 3)
    assert torch.equal(traced.shift(X), X + 1)
    assert torch.equal(traced(X), X * 2)


# ---- Structures -------------------------------------------------------------------------------


def test_namedtuple_output_comes_back_as_the_namedtuple():
    traced = jit_trace(lambda x: Pair(x + 1, x * 2), X)
    assert isinstance(traced, TracedFunction)
    out = traced(torch.ones(2))
    assert type(out) is Pair
    assert torch.equal(out.first, torch.full((2,), 2.0))
    assert torch.equal(out.second, torch.full((2,), 2.0))
    assert "-> Tuple[Tensor, Tensor]" in traced.code  # TorchScript sees a tuple
    raw = reload(traced)(torch.ones(2))
    assert type(raw) is tuple


def test_dataclass_and_dict_subclass_inputs_and_outputs():
    class Batch(dict):
        pass

    def f(batch, features: Features):
        return Features(batch["a"] + features.hidden, None)

    traced = jit_trace(f, Batch(a=X), Features(X, None))
    out = traced(Batch(a=torch.ones(1, 2)), Features(torch.ones(1, 2)))
    assert type(out) is Features and out.pooled is None
    assert torch.equal(out.hidden, torch.full((1, 2), 2.0))


def test_none_inside_structures_is_kept():
    traced = jit_trace(lambda pair: (pair[0] * 2, None, {"x": pair[0]}), (X, None), strict=False)
    out = traced((X, None))
    assert out[1] is None and torch.equal(out[0], X * 2) and torch.equal(out[2]["x"], X)


def test_modes_with_different_structures_rebuild_the_right_one():
    class Aux(torch.nn.Module):
        def forward(self, x):
            return Pair(x, x * 2) if self.training else x

    traced = jit_trace(Aux(), X)
    assert type(traced(X)) is Pair
    traced.eval()
    assert type(traced(X)) is torch.Tensor
    assert "Union[Tensor, Tuple[Tensor, Tensor]]" in traced.code


def test_strict_refuses_a_plain_dict_but_not_a_structure():
    class Out(collections.OrderedDict):
        pass

    traced = jit_trace(lambda x: Out(a=x), X)  # a dict subclass: its keys are recorded
    assert type(traced(X)) is Out
    with pytest.raises(RuntimeError, match=r"returned a dict at output\['a'\]"):
        jit_trace(lambda x: Out(a={"b": x}), X)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_check_inputs_compare_structures():
    traced = jit_trace(lambda x: Features(x * 2, None), X, check_inputs=[(X + 1,)])
    assert type(traced(X)) is Features

    def branchy(x):
        return Features(x * 2 if float(x.sum()) > 0 else x, None)

    with pytest.raises(RuntimeError, match=r"output\[0\] differs from eager mode"):
        jit_trace(branchy, X, check_inputs=[(-X,)], guards=False)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("probe_sizes", [False, True])
def test_the_report_reads_every_variant(probe_sizes):
    def f(x, k: int = 1):
        return x.view(int(x.shape[0]), -1) * k if k == 1 else x * k

    traced = jit_trace(
        f,
        torch.ones(4, 3),
        variants={"k": [1, 2]},
        report=jittrace.ReportOptions(probe_sizes=probe_sizes),
    )
    (size,) = traced.trace_report.specialized
    assert (size.input, size.dim, size.size) == ("x", 0, 4)
    assert "aten::view" in size.ops
