"""jit_trace_module: R torch's module cases in Python, sharing, hierarchy, state, errors."""

from __future__ import annotations

import gc
import weakref

import jittrace
import pytest
import torch
from jittrace import jit_trace, jit_trace_module
from nets import mnist_like
from torch import nn


class RModule(nn.Module):
    """The module of R torch's 'trace a nn module' test."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 10)
        self.norm = nn.BatchNorm1d(10)
        self.par = nn.Parameter(torch.tensor(2.0))
        self.register_buffer("buff", torch.randn(10, 5))
        self.constant = 1
        self.hello = [torch.tensor(1.0), torch.tensor(2.0), "hello"]

    def forward(self, x):
        return self.par * x

    def testing(self, x):
        return self.linear(x)

    def test_constant(self, x):
        return x + self.constant + self.hello[1]


def trace_rmodule(mod, **kwargs):
    return jit_trace_module(
        mod,
        forward=torch.randn(1),
        testing=(torch.randn(10, 10),),
        test_constant=(torch.tensor(1.0),),
        **kwargs,
    )


def test_r_module_counts_values_and_live_parameters():
    mod = RModule()
    m = trace_rmodule(mod)
    assert isinstance(m, torch.jit.ScriptModule)
    assert [n for n, _ in m.named_parameters()] == [
        "par",
        "linear.weight",
        "linear.bias",
        "norm.weight",
        "norm.bias",
    ]
    assert [n for n, _ in m.named_buffers()] == [
        "buff",
        "norm.running_mean",
        "norm.running_var",
        "norm.num_batches_tracked",
    ]
    assert [n for n, _ in m.named_modules()] == ["", "linear", "norm"]
    assert torch.equal(m(torch.tensor(2.0)), torch.tensor(4.0))
    with torch.no_grad():
        m.par.zero_()
    assert torch.equal(m(torch.tensor(2.0)), torch.tensor(0.0))  # a parameter, not a constant
    assert mod.par.item() == 0.0  # shared with the original
    x = torch.randn(10, 10)
    assert torch.allclose(m.testing(x), mod.testing(x))
    with torch.no_grad():
        mod.linear.weight.fill_(1.0)
    assert torch.allclose(m.testing(x), mod.testing(x))
    # Non-tensor attributes (and tensors in plain attributes) are baked in as constants.
    assert torch.equal(m.test_constant(torch.tensor(2.0)), torch.tensor(5.0))


def test_state_dict_keys_and_tensors_are_the_modules():
    mod = RModule()
    m = trace_rmodule(mod)
    assert list(m.state_dict()) == list(mod.state_dict())
    for key, value in mod.state_dict().items():
        assert m.state_dict()[key].data_ptr() == value.data_ptr()


def test_parameters_are_shared_both_ways_and_training_the_trace_updates_the_module():
    mod = nn.Linear(3, 1)
    traced = jit_trace(mod, torch.randn(2, 3))
    assert traced.weight is mod.weight
    before = mod.weight.detach().clone()
    opt = torch.optim.SGD(traced.parameters(), lr=0.1)
    x = torch.randn(4, 3)
    traced(x).sum().backward()
    opt.step()
    grad = x.sum(0, keepdim=True)  # d(sum(x @ w.T + b)) / dw
    assert torch.allclose(mod.weight.grad, grad)
    assert torch.allclose(mod.weight, before - 0.1 * grad)


def test_submodule_hierarchy_and_container_indexing():
    enc = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first=True),
        num_layers=2,
        enable_nested_tensor=False,
    )
    net = nn.Sequential(enc, nn.Linear(16, 4))
    traced = jit_trace(net, torch.randn(2, 5, 16))
    assert traced[0].layers[1].linear1.weight is enc.layers[1].linear1.weight
    assert traced[-1].weight is net[1].weight
    assert len(traced[0].layers) == 2
    assert [type(m).__name__ for m in traced] == ["RecursiveScriptModule"] * 2
    with pytest.raises(IndexError, match="index out of range"):
        traced[0].layers[2]
    d = nn.ModuleDict({"a": nn.Linear(2, 2)})

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.d = d

        def forward(self, x):
            return self.d["a"](x)

    th = jit_trace(Holder(), torch.ones(1, 2))
    assert th.d["a"].weight is d["a"].weight
    assert "a" in th.d
    assert list(th.d) == ["a"]


def test_tied_weights_stay_one_tensor_also_after_save_and_load(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.out = nn.Linear(4, 10, bias=False)
            self.out.weight = self.emb.weight  # as GPT-2 ties its embedding and output

        def forward(self, idx):
            return self.out(self.emb(idx))

    mod = Tied()
    traced = jit_trace(mod, torch.tensor([1, 2]))
    assert traced.emb.weight is traced.out.weight is mod.emb.weight
    assert list(traced.state_dict()) == list(mod.state_dict()) == ["emb.weight", "out.weight"]
    torch.jit.save(traced, str(tmp_path / "tied.pt"))
    loaded = torch.jit.load(str(tmp_path / "tied.pt"))
    assert loaded.emb.weight.data_ptr() == loaded.out.weight.data_ptr()
    with torch.no_grad():
        loaded.emb.weight.zero_()
    assert loaded.out.weight.abs().sum() == 0


def test_mnist_like_conv_net_matches_eager():
    net = mnist_like().eval()
    x = torch.randn(8, 1, 28, 28)
    traced = jit_trace(net, x)
    assert not traced.training
    assert torch.allclose(traced(x), net(x), atol=1e-6)


def test_traced_submodule_inside_a_traced_module():
    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = jit_trace(nn.Linear(10, 10), torch.randn(10, 10))
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.linear(x))

    mod = Outer()
    traced = jit_trace(mod, torch.randn(10, 10))
    x = torch.randn(3, 10)
    assert torch.allclose(traced(x), mod(x))
    assert torch.allclose(traced.linear(x), mod.linear(x))
    assert traced.linear.weight is mod.linear.weight
    # The inner module is called, not inlined: it keeps its own train/eval dispatch.
    assert 'prim::CallMethod[name="forward"]' in str(traced._c._get_method("trainforward").graph)


@pytest.mark.parametrize("strict", [False, True])
def test_gru(strict):
    gru = nn.GRU(10, 10)
    traced = jit_trace(gru, torch.randn(10, 10, 10), strict=strict)
    v = torch.randn(10, 10, 10)
    out, h = traced(v)
    assert torch.allclose(out, gru(v)[0], atol=1e-6)
    assert torch.allclose(h, gru(v)[1], atol=1e-6)


def test_lstm_and_transformer_encoder_match_eager_in_eval_mode():
    lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True).eval()
    x = torch.randn(3, 5, 8)
    traced = jit_trace(lstm, x)
    out, (h, c) = traced(x)
    e_out, (e_h, e_c) = lstm(x)
    for actual, expected in ((out, e_out), (h, e_h), (c, e_c)):
        assert torch.allclose(actual, expected, atol=1e-6)

    enc = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(d_model=32, nhead=4, batch_first=True),
        num_layers=2,
        enable_nested_tensor=False,
    ).eval()
    x = torch.randn(2, 7, 32)
    traced = jit_trace(enc, x)
    assert torch.allclose(traced(x), enc(x), atol=1e-5)


def test_tracing_the_same_class_fifty_times():
    global_cu = torch.jit._state._python_cu
    before = len(global_cu.get_functions())
    x = torch.randn(2, 4)
    for _ in range(50):
        mod = nn.Linear(4, 3)
        traced = jit_trace(mod, x)
        assert torch.allclose(traced(x), mod(x))
        # Each trace has its own unit, so the class name is never mangled.
        assert traced._c._type().qualified_name() == "__torch__.torch.nn.modules.linear.Linear"
    assert len(global_cu.get_functions()) == before


def test_respect_mode_false_traces_one_method_in_the_current_mode():
    mod = nn.Sequential(nn.Linear(3, 3), nn.Dropout(1.0)).eval()
    traced = jit_trace(mod, torch.ones(1, 3), respect_mode=False)
    assert traced._c._method_names() == ["forward"]
    traced.train()
    assert traced(torch.ones(1, 3)).abs().sum() > 0  # still the eval trace


def test_modules_are_freed_when_dropped():
    mod = nn.Linear(3, 3)
    traced = jit_trace(mod, torch.randn(1, 3))
    refs = weakref.ref(mod), weakref.ref(traced)
    del mod, traced
    gc.collect()
    assert refs[0]() is None
    assert refs[1]() is None


def test_check_inputs_compare_each_mode():
    class Branchy(nn.Module):
        def forward(self, x):
            return x * 2 if bool(x.sum() > 0) else x  # data-dependent: baked in

    mod = Branchy()
    with pytest.warns(torch.jit.TracerWarning, match="Converting a tensor to a Python boolean"):
        jit_trace_module(mod, forward=torch.ones(2), check_inputs=[{"forward": torch.ones(3)}])

    class BranchyInEval(nn.Module):
        def forward(self, x):
            return x * 2 if self.training or bool(x.sum() > 0) else x

    # A check failing in eval mode leaves the module in train mode (the messages of failing
    # checks are in the table of test_errors.py).
    mod = BranchyInEval()
    with (
        pytest.warns(torch.jit.TracerWarning, match="Converting a tensor to a Python boolean"),
        pytest.raises(jittrace.TraceCheckError, match=r"\(eval mode\): output differs") as info,
    ):
        jit_trace_module(
            mod, forward=torch.ones(2), check_inputs=[{"forward": -torch.ones(2)}], guards=False
        )
    assert type(info.value) is jittrace.TraceCheckError
    assert mod.training


def test_check_inputs_with_dropout_use_one_seed_for_eager_and_traced():
    mod = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x, check = torch.randn(3, 4), torch.randn(5, 4)
    rng = torch.get_rng_state()
    jit_trace_module(mod, forward=x, check_inputs=[{"forward": check}])
    assert torch.equal(rng, torch.get_rng_state())


# ---- Names and failures (bad calls and their messages are the table in test_errors.py) -------


def test_forward_returning_a_number_leaves_the_module_unchanged():
    class Number(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(2)

        def forward(self, x):
            self.bn(x)
            return 1

    mod = Number().eval()
    with pytest.raises(
        jittrace.TraceError,
        match=r"^\[jit_trace\] forward \(eval mode\): the traced function returned an int "
        r"at output;",
    ) as info:
        jit_trace(mod, torch.randn(3, 2))
    assert type(info.value) is jittrace.TraceError
    assert not mod.training and not mod.bn.training


def test_respect_mode_false_allows_methods_named_like_generated_ones():
    class Clash(nn.Module):
        def forward(self, x):
            return x

        def trainforward(self, x):
            return x * 2

    traced = jit_trace_module(
        Clash(), forward=torch.ones(1), trainforward=torch.ones(1), respect_mode=False
    )
    assert sorted(traced._c._method_names()) == ["forward", "trainforward"]
    assert torch.equal(traced.trainforward(torch.ones(1)), torch.tensor([2.0]))


def test_graph_reads_parameters_through_the_real_hierarchy(tmp_path):
    enc = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=8, batch_first=True),
        num_layers=3,
        enable_nested_tensor=False,
    )
    traced = jit_trace(enc, torch.randn(1, 2, 8))
    graph = str(traced._c._get_method("trainforward").graph)
    assert "Flat" not in graph  # no helper type of the trace leaks into the graph
    assert graph.count('prim::GetAttr[name="layers"]') == 1  # shared prefixes, read once
    assert 'prim::GetAttr[name="linear1"]' in graph
    torch.jit.save(traced, str(tmp_path / "enc.pt"))
    code = torch.jit.load(str(tmp_path / "enc.pt")).code_with_constants[0]
    assert "Flat" not in code


def test_module_state_is_read_through_self_in_both_modes(tmp_path):
    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = torch.jit.script(nn.Linear(3, 3))  # its method is called
            self.w = nn.Parameter(torch.randn(3))
            self.register_buffer("shift", torch.randn(3))
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            return self.drop(self.inner(x) * self.w) + self.inner.bias + self.shift

    mod, x = Outer(), torch.randn(2, 3)
    traced = jit_trace(mod, x)
    for name in ("trainforward", "evalforward"):
        graph = traced._c._get_method(name).graph
        assert [i.debugName() for i in graph.inputs()] == ["self", "x"]
        reads = {n.s("name") for n in graph.nodes() if n.kind() == "prim::GetAttr"}
        assert {"inner", "w", "bias", "shift"} <= reads
        assert not [
            n
            for n in graph.nodes()
            if n.kind() == "prim::Constant" and isinstance(n.output().type(), torch.TensorType)
        ]  # no tensor is baked in
        assert 'prim::CallMethod[name="forward"]' in str(graph)
    with torch.jit.optimized_execution(False):
        torch.manual_seed(3)
        expected = mod(x)
        torch.manual_seed(3)
        assert torch.allclose(traced(x), expected)
        traced(x).sum().backward()  # parameters that require grad are read, not constants
    assert mod.w.grad is not None and mod.inner.weight.grad is not None
    mod.eval()
    traced.eval()
    torch.jit.save(traced, str(tmp_path / "outer.pt"))
    loaded = torch.jit.load(str(tmp_path / "outer.pt"))
    with torch.no_grad():
        assert torch.allclose(traced(x), mod(x)) and torch.allclose(loaded(x), mod(x))
        mod.w.mul_(2)  # the traced module shares the tensors
        assert torch.allclose(traced(x), mod(x))


def test_example_input_that_is_a_parameter_stays_an_input():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.full((3,), 2.0))

        def forward(self, x):
            return x * self.w

    mod = Scale()
    traced = jit_trace(mod, mod.w)
    graph = traced._c._get_method("trainforward").graph
    assert [i.debugName() for i in graph.inputs()] == ["self", "x"]
    assert torch.equal(traced(torch.ones(3)), torch.full((3,), 2.0))


def test_submodule_wrappers_are_made_once_and_behave_like_torchs():
    import copy
    import threading

    net = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))
    traced = jit_trace(net, torch.randn(3, 4))
    # Made on first access and kept, also when several threads ask at once.
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(traced[1][1])) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s is seen[0] for s in seen) and traced[1][1] is seen[0]
    assert [n for n, _ in traced.named_modules()] == [n for n, _ in net.named_modules()]
    assert "(1): RecursiveScriptModule" in repr(traced)
    assert list(traced.state_dict()) == list(net.state_dict())
    # torch's own operations on a ScriptModule work on it.
    clone = copy.deepcopy(traced)  # a plain RecursiveScriptModule, as torch makes it
    assert getattr(clone, "0").weight is not traced[0].weight
    assert torch.equal(getattr(clone, "0").weight, traced[0].weight)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = traced

        def forward(self, x):
            return self.inner(x) * 2

    scripted = torch.jit.script(Outer().eval())
    x = torch.randn(2, 4)
    net.eval()
    assert torch.allclose(scripted(x), net(x) * 2)
    traced.double()
    assert net[1][1].weight.dtype == torch.float64  # _apply reached every shared parameter


def test_non_persistent_buffers_stay_out_of_the_state_dict():
    class Cached(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.register_buffer("cache", torch.ones(2), persistent=False)
            self.inner = nn.Module()
            self.inner.register_buffer("scale", torch.full((2,), 2.0), persistent=False)
            self.inner.register_buffer("kept", torch.zeros(2))

        def forward(self, x):
            return self.fc(x) * self.inner.scale + self.cache + self.inner.kept

    mod = Cached()
    traced = jit_trace(mod, torch.ones(1, 2))
    assert list(traced.state_dict()) == list(mod.state_dict())
    assert "cache" not in traced.state_dict() and "inner.scale" not in traced.state_dict()
    with torch.no_grad():
        mod.cache.fill_(5.0)  # still a buffer of the trace, shared with the module
    assert torch.allclose(traced(torch.ones(1, 2)), mod(torch.ones(1, 2)))
    traced.load_state_dict(mod.state_dict())  # strict: the keys agree


def test_forward_set_on_the_instance_and_static_methods_are_traced():
    """accelerate's hooks set `forward` on the instance (a functools.partial); torch traces it."""
    import functools

    class Scaler(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.full((3,), 2.0))

        def forward(self, x):
            return x * self.w

        @staticmethod
        def twice(x):
            return x * 2

    mod = Scaler()
    original = mod.forward
    mod.forward = functools.partial(lambda x, plus: original(x) + plus, plus=1.0)
    traced = jittrace.jit_trace_module(mod, forward=torch.ones(3), twice=torch.ones(3))
    x = torch.tensor([1.0, 2.0, 3.0])
    assert torch.equal(traced(x), x * 2 + 1)
    assert torch.equal(traced.twice(x), x * 2)
    with torch.no_grad():
        mod.w.fill_(3.0)  # shared: the trace reads the parameter, not a copy
    assert torch.equal(traced(x), x * 3 + 1)


def test_unicode_class_and_function_names_trace_save_and_load(tmp_path):
    class Näive(nn.Module):
        def forward(self, x):
            return x * 2

    def naïve(x):
        return x + 1

    module = jit_trace(Näive(), torch.ones(2))
    function = jit_trace(naïve, torch.ones(2))
    # TorchScript names are ASCII (torch.jit.trace's Näive saves a file that does not load).
    assert module._c._type().qualified_name().endswith("._locals_.N_ue4_ive")
    assert function.qualified_name.endswith(
        ".test_unicode_class_and_function_names_trace_save_and_load._locals_.na_uef_ve"
    )
    for traced, expected in ((module, torch.full((2,), 2.0)), (function, torch.full((2,), 2.0))):
        path = tmp_path / "m.pt"
        torch.jit.save(traced, str(path))
        assert torch.equal(torch.jit.load(str(path))(torch.ones(2)), expected)
    with pytest.raises(
        jittrace.InputError,
        match=r"^\[jit_trace_module\] 'décode' is neither an option nor a method of Näive.*; "
        r"methods: forward\)$",
    ):
        jittrace.jit_trace_module(Näive(), décode=torch.ones(2))
