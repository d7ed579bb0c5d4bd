"""Files frozen and optimised for inference: what they keep, that they load in Python and
C++, and that they match eager within the check tolerances."""

from __future__ import annotations

import io
import subprocess

import jittrace
import pytest
import torch
from jittrace import jit_trace_module, optimize_for_inference
from torch import nn


def convnet() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(8 * 8 * 8, 10),
    )
    with torch.no_grad():  # batch-norm statistics that are not the identity
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return net


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.fc(x))

    def encode(self, x):
        return torch.tanh(self.fc(x))


def reloaded(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    return torch.jit.load(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize("mkldnn", [True, False])
def test_conv_net_is_frozen_folded_and_matches_eager_after_loading(mkldnn):
    net = convnet()
    traced = jit_trace_module(net, forward=torch.randn(2, 3, 8, 8))  # both modes, starts in train
    fast = optimize_for_inference(traced, mkldnn=mkldnn)
    code = fast.code
    assert "batch_norm" not in code  # folded into the convolutions
    assert "dropout" not in code  # the eval-mode trace
    assert ("mkldnn_convolution" in code) is mkldnn
    assert fast._c._method_names() == ["forward"]
    assert list(fast.parameters()) == []  # parameters are constants now
    loaded = reloaded(fast)
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        expected = net.eval()(x)
        assert torch.allclose(loaded(x), expected, rtol=1e-5, atol=1e-5)
        assert torch.allclose(loaded(x), expected, rtol=1e-5, atol=1e-5)  # the optimised run too


def test_the_traced_module_is_left_as_it_was():
    traced = jit_trace_module(convnet(), forward=torch.randn(2, 3, 8, 8))
    optimize_for_inference(traced)
    assert traced.training
    assert all(m.training for m in traced.modules())
    assert {"trainforward", "evalforward", "forward"} <= set(traced._c._method_names())


def test_other_methods_are_kept_in_eval_behaviour():
    model = Encoder()
    traced = jit_trace_module(model, forward=torch.randn(2, 4), encode=torch.randn(2, 4))
    fast = reloaded(optimize_for_inference(traced, methods=["forward", "encode"]))
    assert sorted(fast._c._method_names()) == ["encode", "forward"]
    x = torch.randn(3, 4)
    model.eval()
    assert torch.allclose(fast(x), model(x), atol=1e-6)  # no dropout: eval mode
    assert torch.allclose(fast.encode(x), model.encode(x), atol=1e-6)


def test_a_module_traced_in_eval_mode_only():
    model = Encoder().eval()
    traced = jit_trace_module(model, forward=torch.randn(2, 4), respect_mode=False)
    fast = optimize_for_inference(traced, mkldnn=False)
    x = torch.randn(3, 4)
    assert torch.allclose(fast(x), model(x), atol=1e-6)


def test_transformer_matches_eager():
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, batch_first=True)
    model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    traced = jit_trace_module(model, forward=torch.randn(2, 5, 32))
    fast = reloaded(optimize_for_inference(traced))
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        assert torch.allclose(fast(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_cpp_loads_the_optimized_file(cpp_tests, tmp_path):
    net = convnet()
    fast = optimize_for_inference(jit_trace_module(net, forward=torch.randn(2, 3, 8, 8)))
    model, inputs, outputs = tmp_path / "m.pt", tmp_path / "in.pt", tmp_path / "out.pt"
    torch.jit.save(fast, str(model))
    x = torch.randn(4, 3, 8, 8)
    torch.save((x,), str(inputs))
    subprocess.run(
        [str(cpp_tests / "run_model"), str(model), str(inputs), str(outputs)],
        check=True,
        capture_output=True,
    )
    train_out, eval_out, _ = torch.load(str(outputs))
    with torch.no_grad():
        expected = net.eval()(x)
    assert torch.allclose(eval_out, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(train_out, eval_out)  # frozen: train() changes nothing any more


def test_public_names():
    assert jittrace.optimize_for_inference is optimize_for_inference
