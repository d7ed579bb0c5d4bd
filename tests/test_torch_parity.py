"""What torch.jit.trace accepts, jittrace accepts: bound methods, dict keys of every TorchScript
key type, hooks, quantized modules (TorchScript custom-class attributes), deep nestings."""

from __future__ import annotations

import warnings

import pytest
import torch
from jittrace import jit_trace
from torch import nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.fc(x))

    def encode(self, x):
        return torch.tanh(self.fc(x))


# ---- Bound methods ---------------------------------------------------------------------------


def test_a_bound_forward_traces_the_module():
    mod = Encoder()
    traced = jit_trace(mod.forward, torch.randn(2, 4))
    assert isinstance(traced, torch.jit.ScriptModule)
    assert traced._c._method_names() == ["trainforward", "evalforward", "forward"]
    x = torch.randn(5, 4)
    mod.eval()
    traced.eval()
    assert torch.equal(traced(x), mod(x))
    assert traced.fc.weight is not None and torch.equal(traced.fc.weight, mod.fc.weight)


def test_a_bound_method_traces_that_method_with_the_modules_parameters():
    mod = Encoder()
    traced = jit_trace(mod.encode, torch.randn(2, 4), respect_mode=False)
    assert traced._c._method_names() == ["encode"]
    x = torch.randn(3, 4)
    assert torch.allclose(traced.encode(x), mod.encode(x))
    with torch.no_grad():
        mod.fc.bias.add_(1.0)  # shared, not copied
    assert torch.allclose(traced.encode(x), mod.encode(x))


# ---- @torch.jit.export methods ------------------------------------------------------------------


class WithExports(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.drop = nn.Dropout(0.5)
        self.offset = 2

    def forward(self, x):
        return self.drop(self.fc(x))

    @torch.jit.export
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).argmax(-1) + self.offset


class HoldsExports(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = WithExports()

    def forward(self, x):
        return self.inner(x) * 2


def test_exported_methods_are_compiled_in_against_the_shared_parameters(tmp_path):
    mod = HoldsExports()
    traced = jit_trace(mod, torch.randn(2, 4))
    assert traced.inner._c._method_names() == ["predict"]
    assert traced._c._method_names() == ["trainforward", "evalforward", "forward"]
    x = torch.randn(6, 4)
    assert torch.equal(traced.inner.predict(x), mod.inner.predict(x))
    with torch.no_grad():
        mod.inner.fc.weight.neg_()  # shared with the traced module, exported method included
    assert torch.equal(traced.inner.predict(x), mod.inner.predict(x))
    torch.jit.save(traced, str(tmp_path / "m.pt"))
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    assert torch.equal(loaded.inner.predict(x), mod.inner.predict(x))
    mod.eval()
    loaded.eval()
    assert torch.equal(loaded(x), mod(x))
    assert sorted(loaded.state_dict()) == sorted(mod.state_dict())


def test_exported_methods_of_the_traced_module_itself():
    mod = WithExports()
    traced = jit_trace(mod, torch.randn(2, 4))
    assert traced._c._method_names() == ["predict", "trainforward", "evalforward", "forward"]
    x = torch.randn(3, 4)
    assert torch.equal(traced.predict(x), mod.predict(x))
    assert traced.training and mod.training  # both modes traced, flags put back


# ---- Dict keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keys", [(0, 7), (0.5, 2.5), (False, True), ("a", "b")], ids=["int", "float", "bool", "str"]
)
def test_dict_inputs_take_every_torchscript_key_type(keys, tmp_path):
    def weighted(d):
        return d[keys[0]] * 2 + d[keys[1]]

    example = {keys[0]: torch.ones(2), keys[1]: torch.zeros(2)}
    traced = jit_trace(weighted, example)
    other = {keys[0]: torch.tensor([1.0, 2.0]), keys[1]: torch.tensor([3.0, 4.0])}
    assert torch.equal(traced(other), weighted(other))
    torch.jit.save(traced, str(tmp_path / "f.pt"))
    assert torch.equal(torch.jit.load(str(tmp_path / "f.pt"))(other), weighted(other))


def test_mixed_dict_with_int_keys_is_taken_apart_with_checks():
    def f(d):
        return d[1] + d[2][0]

    traced = jit_trace(f, {1: torch.ones(2), 2: [torch.ones(2)]})
    assert torch.equal(
        traced({1: torch.ones(2), 2: [torch.full((2,), 3.0)]}), torch.full((2,), 4.0)
    )


def test_tensor_keyed_dict_output_under_strict_false_as_torch_jit_trace():
    keys = torch.tensor(1), torch.tensor(2)

    def f(x):
        return {keys[0]: x * 2, keys[1]: x + 1}

    ours = jit_trace(f, torch.ones(2), strict=False)(torch.full((2,), 3.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.trace's own
        theirs = torch.jit.trace(f, torch.ones(2), strict=False)(torch.full((2,), 3.0))
    # torch hands a Dict[Tensor, Tensor]'s 0-dim keys back as numbers; so do we, through torch.
    expected = [(1, [6.0, 6.0]), (2, [4.0, 4.0])]
    assert [(int(k), v.tolist()) for k, v in ours.items()] == expected
    assert [(int(k), v.tolist()) for k, v in theirs.items()] == expected


# ---- Hooks -------------------------------------------------------------------------------------


def test_forward_hooks_and_pre_hooks_of_submodules_are_traced():
    mod = Encoder().eval()
    mod.fc.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    mod.fc.register_forward_hook(lambda m, args, out: out + 10)
    x = torch.randn(3, 4)
    traced = jit_trace(mod, x)
    traced.eval()
    expected = nn.functional.linear(x * 2, mod.fc.weight, mod.fc.bias) + 10  # each hook once
    assert torch.allclose(traced(x), expected)
    assert torch.allclose(mod(x), expected)


# ---- Deep mixed nestings ------------------------------------------------------------------------


def test_mixed_nestings_of_any_depth_trace_when_inner_levels_are_tuples():
    """[x, (y, (z,))] traces and is called with that nesting. A mixed *list* inside a mixed list
    ([x, [y, [z]]]) is refused: a Python caller's list reaches TorchScript as List[Any], whose
    elements torch types one by one, and a mixed list has no element type (see test_errors)."""

    def f(items):
        x, (y, (z,)) = items[0], items[1]
        return x + y * z

    x, y, z = torch.ones(2), torch.full((2,), 2.0), torch.full((2,), 3.0)
    traced = jit_trace(f, [x, (y, (z,))])
    other = [z, (x, (y,))]
    assert torch.equal(traced(other), f(other))


# ---- Quantized modules (TorchScript custom-class attributes) ---------------------------------


class LSTMTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def dynamically_quantized_lstm() -> nn.Module:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.ao.quantization's notice
        return torch.ao.quantization.quantize_dynamic(
            LSTMTagger().eval(), {nn.LSTM, nn.Linear}, dtype=torch.qint8
        )


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = nn.Conv2d(3, 8, 3)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(8 * 6 * 6, 5)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        x = self.relu(self.conv(self.quant(x)))
        return self.dequant(self.fc(x.flatten(1)))


def statically_quantized_convnet() -> nn.Module:
    torch.manual_seed(0)
    model = ConvNet().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's own deprecation notices
        model.qconfig = torch.ao.quantization.get_default_qconfig("fbgemm")
        prepared = torch.ao.quantization.prepare(model)
        prepared(torch.randn(16, 3, 8, 8))  # calibration
        return torch.ao.quantization.convert(prepared)


QUANTIZED = [
    ("dynamic-lstm", dynamically_quantized_lstm, lambda: torch.randn(2, 5, 8)),
    ("static-conv", statically_quantized_convnet, lambda: torch.randn(2, 3, 8, 8)),
]


# torch 2.13 deprecates creating quantized tensors; the quantized kernels warn as they run.
@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
@pytest.mark.parametrize(
    ("build", "example"), [q[1:] for q in QUANTIZED], ids=[q[0] for q in QUANTIZED]
)
def test_quantized_modules_trace_match_eager_and_survive_saving(build, example, tmp_path):
    model = build()
    x = example()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # scales become constants
        traced = jit_trace(model, x, respect_mode=False)
    y = example()
    assert torch.equal(traced(y), model(y))
    torch.jit.save(traced, str(tmp_path / "q.pt"))
    assert torch.equal(torch.jit.load(str(tmp_path / "q.pt"))(y), model(y))
