"""Custom autograd Functions are found at trace time, and can be traced through (issue 19,
point 7)."""

from __future__ import annotations

import inspect
import re
import threading
from typing import Any

import jittrace
import pytest
import torch
from jittrace import _functions
from torch import nn

APPLY = torch.autograd.Function.__dict__["apply"]  # torch's classmethod, as imported


class StraightThrough(torch.autograd.Function):
    """Rounds; gradients pass as if it were the identity."""

    @staticmethod
    def forward(ctx, x):
        return x.round()

    @staticmethod
    def backward(ctx, grad):
        return grad


class ReverseGradient(torch.autograd.Function):
    """The identity; gradients come back scaled by -alpha."""

    @staticmethod
    def forward(ctx, x, alpha: float = 1.0):
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.alpha * grad, None


class GeLU(torch.autograd.Function):
    """tanh-approximated GeLU with its own backward, as BLOOM's GeLUFunction."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        t = torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x))
        d = 0.5 * x * ((1 - t * t) * (0.79788456 + 0.1070322243 * x * x)) + 0.5 * (1 + t)
        return d * grad


class ScaleNewStyle(torch.autograd.Function):
    """The newer style: forward without ctx, then setup_context."""

    @staticmethod
    def forward(x, scale=2.0):
        return x * scale, (x > 0).float()

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, scale = inputs
        ctx.scale = scale
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, grad, _):
        return grad * ctx.scale, None


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        h = GeLU.apply(self.fc(x))
        h = StraightThrough.apply(h * 4) / 4
        return self.drop(ReverseGradient.apply(h, 0.5))


def gelu_fn(x):
    return GeLU.apply(x) + 1


def scaled_fn(x):
    y, positive = ScaleNewStyle.apply(x, scale=3.0)
    return y + positive


def inline(target: Any, *args: Any, **options: Any) -> Any:
    """Traces with autograd_functions="inline", through the public function."""
    return jittrace.jit_trace(target, *args, autograd_functions="inline", **options)


@pytest.fixture
def contexts(monkeypatch: pytest.MonkeyPatch) -> list[_functions.autograd_functions]:
    """The autograd_functions contexts the pipeline makes, to read what they recorded."""
    made: list[_functions.autograd_functions] = []
    original = _functions.autograd_functions

    class Recorded(original):  # type: ignore[valid-type,misc]
        def __init__(self, how: str = "refuse") -> None:
            super().__init__(how)
            made.append(self)

    monkeypatch.setattr(_functions, "autograd_functions", Recorded)
    return made


def _kinds(graph: torch.Graph) -> list[str]:
    return [node.kind() for node in graph.nodes()]


def _line_of(func: Any, text: str) -> str:
    lines, start = inspect.getsourcelines(func)
    offset = next(i for i, line in enumerate(lines) if text in line)
    return f"{inspect.getsourcefile(func)}:{start + offset}"


# --- refused at trace time ---


def test_a_function_target_is_refused_at_trace_time_with_class_and_line():
    with pytest.raises(jittrace.InputError) as e:
        jittrace.jit_trace(gelu_fn, torch.randn(3))
    message = str(e.value)
    assert message.startswith("[jit_trace] gelu_fn calls the custom autograd Function ")
    assert f"{__name__}.GeLU at {_line_of(gelu_fn, 'GeLU.apply')}:" in message
    assert "prim::PythonOp" in message
    assert "Could not export Python function call 'GeLU'" in message
    assert "autograd_functions='inline'" in message
    assert " mode " not in message  # a function has no mode
    assert torch.autograd.Function.__dict__["apply"] is APPLY


@pytest.mark.parametrize("training", [True, False])
def test_a_module_is_refused_naming_method_and_mode(training):
    net = Net().train(training)
    mode = "train" if training else "eval"
    with pytest.raises(
        jittrace.InputError, match=rf"\[jit_trace\] Net\.forward in {mode} mode"
    ) as e:
        jittrace.jit_trace(net, torch.randn(2, 4), respect_mode=False)
    assert f"GeLU at {_line_of(Net.forward, 'GeLU.apply')}:" in str(e.value)
    assert net.training is training  # the module as it was


def test_refused_before_check_inputs_run_and_in_the_drop_in():
    with pytest.raises(jittrace.InputError, match=r"Net\.forward in train mode calls"):
        jittrace.jit_trace(Net(), torch.randn(2, 4), check_inputs=[(torch.randn(3, 4),)])
    with pytest.raises(jittrace.InputError, match=r"\[trace\] gelu_fn calls .*GeLU"):
        jittrace.trace(gelu_fn, torch.randn(3))
    with pytest.raises(jittrace.InputError, match=r"\[jit_trace_module\] Net\.forward"):
        jittrace.jit_trace_module(Net(), forward=(torch.randn(2, 4),))


def test_torch_jit_trace_records_python_op_that_cannot_be_saved(tmp_path):
    # The fact behind the refusal; jittrace's wrapper is not installed outside its traces.
    traced = torch.jit.trace(gelu_fn, torch.randn(3), check_trace=False)
    assert "prim::PythonOp" in _kinds(traced.graph)
    with pytest.raises(RuntimeError, match="Could not export Python function call 'GeLU'"):
        torch.jit.save(traced, str(tmp_path / "f.pt"))


# --- traced through with autograd_functions="inline" ---


def _grad(fn: Any, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    fn(x).sum().backward()
    assert x.grad is not None
    return x.grad


def test_straight_through_and_gradient_reversal_inline(contexts, tmp_path):
    def quantise(x):
        return ReverseGradient.apply(StraightThrough.apply(x * 4) / 4, 2.0)

    x = torch.randn(5)
    traced = inline(quantise, x)
    assert "prim::PythonOp" not in _kinds(traced.graph)
    assert [(f.function, f.method, f.mode) for f in contexts[0].inlined] == [
        (f"{__name__}.StraightThrough", "quantise", None),
        (f"{__name__}.ReverseGradient", "quantise", None),
    ]
    assert contexts[0].inlined[0].location == _line_of(quantise, "StraightThrough.apply")
    other = torch.randn(7)
    torch.testing.assert_close(traced(other), quantise(other), rtol=0, atol=0)
    jittrace.save(traced, tmp_path / "q.pt")
    torch.testing.assert_close(jittrace.load(tmp_path / "q.pt")(other), quantise(other))
    # The custom backwards are gone: autograd of round (zero) and view (identity).
    torch.testing.assert_close(_grad(traced, other), torch.zeros(7))
    assert torch.count_nonzero(_grad(quantise, other)) == 7  # eager: -2 * identity


def test_gelu_function_target_saves_loads_and_matches(tmp_path):
    x = torch.randn(6)
    traced = inline(gelu_fn, x)
    assert isinstance(traced, torch.jit.ScriptFunction)
    torch.jit.save(traced, str(tmp_path / "f.pt"))
    loaded = torch.jit.load(str(tmp_path / "f.pt"))
    other = torch.randn(9)
    torch.testing.assert_close(loaded(other), gelu_fn(other))
    # autograd of the forward's ops equals the hand-written derivative
    torch.testing.assert_close(_grad(loaded, other), _grad(gelu_fn, other), rtol=1e-4, atol=1e-5)


def test_new_style_function_with_setup_context_and_keywords(contexts, tmp_path):
    x = torch.randn(5)
    traced = inline(scaled_fn, x)
    assert [f.function for f in contexts[0].inlined] == [f"{__name__}.ScaleNewStyle"]
    other = torch.randn(8)
    torch.testing.assert_close(traced(other), scaled_fn(other))
    jittrace.save(traced, tmp_path / "s.pt")
    torch.testing.assert_close(jittrace.load(tmp_path / "s.pt")(other), scaled_fn(other))
    # the output marked non-differentiable is detached in the graph
    assert "aten::detach" in str(traced.graph)
    torch.testing.assert_close(_grad(traced, other), torch.full((8,), 3.0))


def test_context_stand_in_behaves_as_autograd_s():
    seen: dict[str, Any] = {}

    class Probe(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, n):
            ctx.save_for_backward(x, None)
            ctx.mark_dirty(y)
            ctx.set_materialize_grads(False)
            seen["needs"] = ctx.needs_input_grad
            seen["saved"] = ctx.saved_tensors
            seen["ctx"] = ctx
            return y.mul_(n).add_(x)

        @staticmethod
        def backward(ctx, grad):  # pragma: no cover - never traced
            raise AssertionError

    def f(x, y):
        return Probe.apply(x, y.clone(), 3)

    x, y = torch.randn(3, requires_grad=True), torch.randn(3)
    traced = inline(f, x, y)
    assert seen["needs"] == (True, False, False)
    assert seen["saved"][0] is not None and seen["saved"][1] is None
    assert isinstance(seen["ctx"], torch.autograd.function.FunctionCtx)
    assert seen["ctx"].materialize_grads is False
    other = (torch.randn(4), torch.randn(4))
    torch.testing.assert_close(traced(*other), f(*other))


@pytest.mark.parametrize("training", [True, False])
def test_module_inline_both_modes_save_load_match(contexts, tmp_path, training):
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(3, 4)
    traced = inline(net, x)
    assert "prim::PythonOp" not in _kinds(traced.trainforward.graph) + _kinds(
        traced.evalforward.graph
    )
    assert sorted((f.function.rsplit(".", 1)[1], f.mode) for f in contexts[0].inlined) == sorted(
        (name, mode)
        for name in ("GeLU", "StraightThrough", "ReverseGradient")
        for mode in ("train", "eval")
    )
    assert all(f.method == "forward" for f in contexts[0].inlined)
    jittrace.save(traced, tmp_path / "net.pt")
    torch.jit.save(traced, str(tmp_path / "net_torch.pt"))
    for loaded in (
        jittrace.load(tmp_path / "net.pt"),
        torch.jit.load(str(tmp_path / "net_torch.pt")),
    ):
        loaded.train(training)
        net.train(training)
        other = torch.randn(5, 4)
        with torch.no_grad():  # train mode: seeded dropout as eager's (DESIGN.md)
            torch.manual_seed(3)
            got = loaded(other)
            torch.manual_seed(3)
            want = net(other)
        torch.testing.assert_close(got, want)
        grad = _grad(loaded, other)
        assert grad.shape == other.shape and torch.isfinite(grad).all()


def test_function_target_traced_through_needs_no_record_source_locations(contexts):
    traced = inline(gelu_fn, torch.randn(3), record_source_locations=True)
    assert "prim::PythonOp" not in _kinds(traced.graph)
    assert contexts[0].inlined[0].location == _line_of(gelu_fn, "GeLU.apply")


# --- Function.apply left as it was ---


def test_apply_is_restored_after_success_and_after_exceptions():
    def broken(x):
        GeLU.apply(x)
        raise ValueError("boom")

    inline(gelu_fn, torch.randn(3))
    assert torch.autograd.Function.__dict__["apply"] is APPLY
    with pytest.raises(ValueError, match="boom"):
        inline(broken, torch.randn(3))
    assert torch.autograd.Function.__dict__["apply"] is APPLY
    with pytest.raises(jittrace.InputError):
        jittrace.jit_trace(gelu_fn, torch.randn(3))
    assert torch.autograd.Function.__dict__["apply"] is APPLY
    # and eager Functions still run with their own backward
    x = torch.randn(4, requires_grad=True)
    ReverseGradient.apply(x, 3.0).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((4,), -3.0))


def test_torch_jit_trace_inside_traced_code_and_on_another_thread_is_unchanged():
    graphs: list[Any] = []
    started, release = threading.Event(), threading.Event()

    def other_thread() -> None:
        started.wait(10)
        # jittrace's wrapper is installed now (a trace is running on the main thread)
        wrapped = torch.autograd.Function.__dict__["apply"] is not APPLY
        graphs.append(_kinds(torch.jit.trace(gelu_fn, torch.randn(3), check_trace=False).graph))
        graphs.append(wrapped)
        release.set()

    def waits(x):
        started.set()
        release.wait(10)
        return GeLU.apply(x)

    worker = threading.Thread(target=other_thread)
    worker.start()
    traced = inline(waits, torch.randn(3))
    worker.join(10)
    assert graphs[1] is True
    assert "prim::PythonOp" in graphs[0]  # torch's tracer on the other thread, as always
    assert "prim::PythonOp" not in _kinds(traced.graph)
    assert torch.autograd.Function.__dict__["apply"] is APPLY
    # torch.jit.trace on this thread, after jittrace: PythonOp as before
    assert "prim::PythonOp" in _kinds(
        torch.jit.trace(gelu_fn, torch.randn(3), check_trace=False).graph
    )


def test_the_option_is_checked():
    assert _functions.how_of("jit_trace", "inline") == "inline"
    with pytest.raises(
        jittrace.InputError,
        match=re.escape("[jit_trace] autograd_functions must be 'refuse' or 'inline', not 'yes'"),
    ):
        _functions.how_of("jit_trace", "yes")


# --- BLOOM (transformers), whose MLP calls GeLUFunction.apply in both modes ---


class Logits(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False).logits


@pytest.fixture
def bloom() -> nn.Module:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BloomConfig(
        n_layer=2, hidden_size=32, n_head=2, vocab_size=100, hidden_dropout=0.1
    )
    return Logits(transformers.BloomForCausalLM(config))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning:transformers.*")
@pytest.mark.parametrize("training", [True, False])
def test_bloom_refused_in_either_mode(bloom, training):
    # GeLUFunction.apply is called in eval mode too, not only in training.
    bloom.train(training)
    mode = "train" if training else "eval"
    with pytest.raises(
        jittrace.InputError,
        match=rf"Logits\.forward in {mode} mode calls the custom autograd Function "
        r"transformers\.models\.bloom\.modeling_bloom\.GeLUFunction at .*modeling_bloom\.py:\d+",
    ):
        jittrace.jit_trace(bloom, torch.randint(0, 100, (2, 10)), respect_mode=False)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning:transformers.*")
def test_bloom_inline_saves_loads_and_matches_in_both_modes(bloom, contexts, tmp_path):
    ids = torch.randint(0, 100, (2, 10))
    traced = inline(bloom, ids)
    functions = contexts[0].inlined
    assert {(f.function, f.mode) for f in functions} == {
        ("transformers.models.bloom.modeling_bloom.GeLUFunction", mode)
        for mode in ("train", "eval")
    }
    assert len(functions) == 4  # one per layer, per mode
    assert all(re.search(r"modeling_bloom\.py:\d+$", f.location) for f in functions)
    jittrace.save(traced, tmp_path / "bloom.pt")
    torch.jit.save(traced, str(tmp_path / "bloom_torch.pt"))
    other = torch.randint(0, 100, (3, 7))  # another batch and sequence length
    for loaded in (
        jittrace.load(tmp_path / "bloom.pt"),
        torch.jit.load(str(tmp_path / "bloom_torch.pt")),
    ):
        loaded.eval()
        bloom.eval()
        with torch.no_grad():
            eval_out = loaded(other)
            torch.testing.assert_close(eval_out, bloom(other))
        loaded.train()
        bloom.train()
        with torch.no_grad():  # the same dropout masks as eager (DESIGN.md)
            torch.manual_seed(1)
            train_out = loaded(other)
            torch.manual_seed(1)
            torch.testing.assert_close(train_out, bloom(other))
        assert not torch.allclose(train_out, eval_out, atol=1e-3)  # dropout is active
    # Gradients: autograd of the traced GeLU's operations, which GeLUFunction's own backward
    # computes by hand, so they agree.
    loaded = jittrace.load(tmp_path / "bloom.pt").eval()
    bloom.eval()
    loaded(other).square().sum().backward()
    bloom(other).square().sum().backward()
    for (name, got), want in zip(loaded.named_parameters(), bloom.parameters(), strict=True):
        assert got.grad is not None, name
        torch.testing.assert_close(got.grad, want.grad, rtol=1e-4, atol=1e-5, msg=name)


class Checkpointed(nn.Module):
    """Reentrant activation checkpointing: torch.utils.checkpoint's CheckpointFunction."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.utils.checkpoint.checkpoint(lambda t: self.fc(t).relu(), x, use_reentrant=True)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_reentrant_checkpointing_fails_in_torch_s_tracer_with_a_note(tmp_path):
    x = torch.randn(2, 4)
    # torch.jit.trace fails inside Function.apply; jittrace keeps torch's error and says why
    with pytest.raises(RuntimeError, match="unordered_map::at"):
        torch.jit.trace(Checkpointed(), x, check_trace=False)
    with pytest.raises(RuntimeError, match="unordered_map::at") as e:
        jittrace.jit_trace(Checkpointed(), x)
    (note,) = e.value.__notes__
    assert note.startswith(
        "jittrace: raised by the custom autograd Function "
        "torch.utils.checkpoint.CheckpointFunction at "
        f"{_line_of(Checkpointed.forward, 'checkpoint(')}"
    )
    assert "autograd_functions='inline'" in note
    assert torch.autograd.Function.__dict__["apply"] is APPLY


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_reentrant_checkpointing_inline_saves_and_trains(tmp_path):
    net = Checkpointed()
    traced = inline(net, torch.randn(2, 4))
    jittrace.save(traced, tmp_path / "c.pt")
    loaded = jittrace.load(tmp_path / "c.pt")
    other = torch.randn(3, 4)
    torch.testing.assert_close(loaded(other), net(other))
    loaded(other).sum().backward()
    # eager reentrant checkpointing needs an input that requires grad to give any gradient
    net(other.requires_grad_()).sum().backward()
    torch.testing.assert_close(loaded.fc.weight.grad, net.fc.weight.grad)
