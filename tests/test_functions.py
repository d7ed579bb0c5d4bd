"""jit_trace on functions: R torch's function cases in Python, containers, names, saving."""

from __future__ import annotations

import gc

import pytest
import torch
from jittrace import jit_trace
from nets import mnist_like


def relu(x):
    return torch.relu(x)


def test_relu_matches_eager_and_is_a_script_function():
    x = torch.tensor([-1.0, 0.0, 1.0])
    traced = jit_trace(relu, x)
    assert isinstance(traced, torch.jit.ScriptFunction)
    assert torch.equal(traced(x), torch.relu(x))
    new = torch.randn(7, 2)  # another shape: relu has no shape baked in
    assert torch.equal(traced(new), torch.relu(new))


def test_graph_and_code_are_available():
    traced = jit_trace(relu, torch.randn(3))
    assert "aten::relu" in str(traced.graph)
    assert "torch.relu(x)" in traced.code


def test_graph_inputs_carry_argument_names():
    def masked(x, mask):
        return x * mask

    traced = jit_trace(masked, torch.randn(3), torch.ones(3))
    inputs = [v.debugName() for v in traced.graph.inputs()]
    assert inputs == ["x", "mask"]
    assert [a.name for a in traced.schema.arguments] == ["x", "mask"]


def test_varargs_get_numbered_names():
    def total(first, *rest):
        return first + rest[0] + rest[1]

    traced = jit_trace(total, torch.ones(2), torch.ones(2), torch.ones(2))
    assert [v.debugName() for v in traced.graph.inputs()] == ["first", "rest_0", "rest_1"]
    assert torch.equal(
        traced(torch.ones(2), torch.ones(2), torch.ones(2) * 3), torch.full((2,), 5.0)
    )


def test_closure_over_conv_net_in_eval_mode_with_detached_parameters():
    net = mnist_like().eval()
    for p in net.parameters():
        p.detach_()  # captured tensors become constants; they must not require grad

    def fn(x):
        return net(x)

    x = torch.randn(20, 1, 28, 28)
    traced = jit_trace(fn, x)
    assert torch.allclose(traced(x), fn(x), atol=1e-6)
    assert "prim::GetAttr" not in str(traced.graph)  # constants, not attributes


def test_save_and_reload(tmp_path):
    x = torch.tensor([-1.0, 0.0, 1.0])
    traced = jit_trace(relu, x)
    path = tmp_path / "relu.pt"
    torch.jit.save(traced, str(path))
    loaded = torch.jit.load(str(path))
    assert torch.equal(loaded(x), torch.relu(x))
    traced.save(str(tmp_path / "relu2.pt"))
    assert torch.equal(torch.jit.load(str(tmp_path / "relu2.pt"))(x), torch.relu(x))


def test_the_graph_keeps_only_what_the_output_needs():
    def f(x, pair):
        x.sum()  # computed and dropped
        return x * x.size(0) + pair[0]

    x = torch.randn(3)
    traced = jit_trace(f, x, (x, x))  # the same tensor given three times
    kinds = [n.kind() for n in traced.graph.nodes()]
    assert "aten::sum" not in kinds
    assert kinds.count("aten::size") == 1
    y, z = torch.randn(5), torch.randn(5)
    assert torch.equal(traced(y, (z, z)), f(y, (z, z)))  # each place stays an input of its own


def test_a_write_through_a_view_stays_in_the_graph():
    def f(x):
        y = x * 1
        y[:2].mul_(10)  # the result of mul_ is unused: it counts only by what it writes
        return y

    x = torch.ones(4)
    traced = jit_trace(f, x)
    assert "aten::mul_" in [n.kind() for n in traced.graph.nodes()]
    assert torch.equal(traced(torch.full((3,), 2.0)), torch.tensor([20.0, 20.0, 2.0]))


def _double(x):
    return x * 2


class _Forking(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 3)

    def forward(self, x):
        return torch.jit.wait(torch.jit.fork(self.linear, x)).relu()


def test_forks_in_the_traced_code_become_torchscript_forks(tmp_path):
    def f(x):
        return torch.jit.wait(torch.jit.fork(_double, x)) + 1

    x = torch.randn(3)
    traced = jit_trace(f, x)
    assert [n.kind() for n in traced.graph.findAllNodes("prim::fork")] == ["prim::fork"]
    assert torch.equal(traced(x), f(x))
    mod = _Forking()
    traced_mod = jit_trace(mod, x)
    for method in (traced_mod.trainforward, traced_mod.evalforward):
        assert method.graph.findAllNodes("prim::fork")
    torch.jit.save(traced_mod, str(tmp_path / "fork.pt"))
    assert torch.equal(torch.jit.load(str(tmp_path / "fork.pt"))(x), mod(x))


def test_list_input_stack():
    traced = jit_trace(torch.stack, [torch.tensor(1.0), torch.tensor(2.0)])
    assert torch.equal(traced([torch.tensor(3.0), torch.tensor(4.0)]), torch.tensor([3.0, 4.0]))
    assert traced.schema.arguments[0].type.annotation_str == "List[Tensor]"


def test_two_arguments_returning_a_list():
    def fn(x, y):
        return [x, x + y]

    x, y = torch.tensor([1.0]), torch.tensor([2.0])
    traced = jit_trace(fn, x, y, strict=False)
    out = traced(x, y)
    assert isinstance(out, list)
    assert torch.equal(out[0], x)
    assert torch.equal(out[1], x + y)


def test_list_output_under_strict_warns_as_libtorch_does():
    with pytest.warns(
        torch.jit.TracerWarning,
        match=r"returned a list at output \(Encountering a list at the output of "
        r"the tracer might cause the trace to be incorrect\): the trace fixes",
    ):
        traced = jit_trace(lambda x: [x, x * 2], torch.ones(2))
    out = traced(torch.tensor([1.0, 3.0]))
    assert isinstance(out, list) and len(out) == 2
    assert torch.equal(out[0], torch.tensor([1.0, 3.0]))
    assert torch.equal(out[1], torch.tensor([2.0, 6.0]))


def test_dict_in_dict_out():
    def fn(d):
        return {"x": d["t1"], "y": d["t2"] * 2}

    d = {"t1": torch.tensor(1.0), "t2": torch.tensor(2.0)}
    traced = jit_trace(fn, d, strict=False)
    out = traced({"t1": torch.tensor(5.0), "t2": torch.tensor(6.0)})
    assert out == {"x": torch.tensor(5.0), "y": torch.tensor(12.0)}
    # Keys are read by name: another insertion order gives the same result.
    out = traced({"t2": torch.tensor(6.0), "t1": torch.tensor(5.0)})
    assert out == {"x": torch.tensor(5.0), "y": torch.tensor(12.0)}


def test_tuple_in_tuple_out():
    def fn(t):
        a, b = t
        return b, (a, a + b)

    t = (torch.tensor(1.0), torch.tensor(2.0))
    traced = jit_trace(fn, t)
    out = traced((torch.tensor(3.0), torch.tensor(4.0)))
    assert isinstance(out, tuple)
    assert isinstance(out[1], tuple)
    assert torch.equal(out[0], torch.tensor(4.0))
    assert torch.equal(out[1][0], torch.tensor(3.0))
    assert torch.equal(out[1][1], torch.tensor(7.0))


def test_list_output():
    traced = jit_trace(lambda x: [x, x + 1], torch.tensor(1.0), strict=False)
    out = traced(torch.tensor(2.0))
    assert out == [torch.tensor(2.0), torch.tensor(3.0)]


def test_mixed_list_input_keeps_its_nesting():
    def fn(xs):
        x, (y, z) = xs[0], xs[1]
        return x + y * z

    x, y, z = torch.randn(3), torch.randn(3), torch.randn(3)
    traced = jit_trace(fn, [x, [y, z]])
    x2, y2, z2 = torch.randn(4), torch.randn(4), torch.randn(4)  # new shapes too
    assert torch.allclose(traced([x2, [y2, z2]]), x2 + y2 * z2)
    assert traced.schema.arguments[0].type.annotation_str == "List[Any]"


def test_mixed_dict_input():
    def fn(batch):
        return batch["x"] * batch["scales"][0] + batch["scales"][1]

    batch = {"x": torch.ones(2), "scales": [torch.tensor(2.0), torch.tensor(3.0)]}
    traced = jit_trace(fn, batch)
    again = {"scales": [torch.tensor(4.0), torch.tensor(1.0)], "x": torch.ones(2)}
    assert torch.equal(traced(again), torch.full((2,), 5.0))
    assert traced.schema.arguments[0].type.annotation_str == "Dict[str, Any]"


def test_deep_nesting_round_trips():
    x = torch.randn(2)
    inputs = ({"a": [x, x], "b": (x, {"c": x})}, [[x], [x, x]])

    def fn(d, ll):
        return d["a"][1] + d["b"][1]["c"] + ll[1][0]

    traced = jit_trace(fn, *inputs)
    assert torch.equal(traced(*inputs), fn(*inputs))


def test_script_function_is_callable_from_scripted_code():
    traced = jit_trace(lambda x: x * 2 + 1, torch.randn(2))

    @torch.jit.script
    def caller(x: torch.Tensor) -> torch.Tensor:
        return traced(x) - 1

    assert torch.equal(caller(torch.ones(2)), torch.full((2,), 2.0))


def test_each_trace_has_its_own_compilation_unit():
    global_cu = torch.jit._state._python_cu
    before = len(global_cu.get_functions())
    for _ in range(1000):
        traced = jit_trace(relu, torch.randn(3))
    assert len(global_cu.get_functions()) == before
    assert traced.qualified_name == f"__torch__.{__name__}.relu"  # never mangled


def test_traced_function_is_freed_when_dropped():
    import weakref

    traced = jit_trace(relu, torch.randn(3))
    ref = weakref.ref(traced)
    del traced
    gc.collect()
    assert ref() is None


def test_partial_and_callable_objects_trace():
    import functools

    class Scale:
        def __call__(self, x):
            return x * 3

    add2 = functools.partial(torch.add, alpha=2)
    assert torch.equal(
        jit_trace(add2, torch.ones(1), torch.ones(1))(torch.ones(1), torch.ones(1)),
        torch.tensor([3.0]),
    )
    assert torch.equal(jit_trace(Scale(), torch.ones(1))(torch.ones(1)), torch.tensor([3.0]))


def test_lambda_names_are_valid_in_saved_files(tmp_path):
    traced = jit_trace(lambda x: x + 1, torch.ones(1))
    traced.save(str(tmp_path / "lambda.pt"))
    assert torch.equal(
        torch.jit.load(str(tmp_path / "lambda.pt"))(torch.ones(1)), torch.tensor([2.0])
    )


def test_check_inputs_that_agree_with_eager_pass():
    # A failing check is in the table of test_errors.py.
    def fn(x):
        return x * 2 if x.sum() > 0 else x * -1  # data-dependent branch: baked in

    with pytest.warns(torch.jit.TracerWarning, match="Converting a tensor to a Python boolean"):
        traced = jit_trace(
            fn, torch.ones(2), check_inputs=[(torch.ones(3),), (torch.ones(1),)], guards=False
        )
    assert torch.equal(traced(torch.ones(2)), torch.full((2,), 2.0))
    assert torch.equal(traced(-torch.ones(2)), torch.full((2,), -2.0))  # the branch is baked in


def test_record_source_locations_is_opt_in():
    traced = jit_trace(relu, torch.randn(3))
    assert "test_functions.py" not in str(traced.graph)
    traced = jit_trace(relu, torch.randn(3), record_source_locations=True)
    assert "test_functions.py" in str(traced.graph)
