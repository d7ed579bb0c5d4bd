"""Device-portable traces: tensors that traced code makes on an input's device follow that
input in the graph, so a file traced on CPU runs on another device.

These machines have no GPU: the graphs are checked for CPU device literals, and TorchScript
runs the traces on the meta device, which fails for a CPU constant just as CUDA does.
"""

from __future__ import annotations

import io

import jittrace
import pytest
import torch
from jittrace import jit_trace, jit_trace_module
from torch import nn

CPU_LITERAL = 'torch.device("cpu")'


def makes_tensors(x):
    n = x.shape[0]
    zeros = torch.zeros(n, device=x.device)
    steps = torch.arange(n, device=x.device)
    new = x.new_zeros(n)
    full = torch.full((n,), 0.5, device=x.device, dtype=x.dtype)
    return x + zeros + steps + new + full


def moves_to_the_inputs_device(x, y):
    table = torch.tensor([1.0, 2.0], device=x.device)  # a constant tensor, moved to x's device
    return x + y.to(x.device) + table.sum()


def uses_a_device_variable(x):
    device = x.device
    return x + torch.ones(x.shape, device=device) * torch.ones(1, device=device)


class Positions(nn.Module):
    """As transformers models do: positions made on the device of a buffer or an input."""

    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.ones(1))
        self.embed = nn.Embedding(16, 4)
        self.drop = nn.Dropout(0.1)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        mask = torch.ones(ids.shape, device=self.scale.device)
        return self.drop(self.embed(ids + positions)) * mask.unsqueeze(-1)


def test_function_code_has_no_cpu_literal():
    x = torch.randn(3)
    traced = jit_trace(makes_tensors, x)
    assert CPU_LITERAL not in traced.code, traced.code
    assert "ops.prim.device(x)" in traced.code
    y = torch.randn(5)
    assert torch.allclose(traced(y), makes_tensors(y))
    assert CPU_LITERAL not in jit_trace(uses_a_device_variable, x).code


def test_moves_follow_the_input():
    with pytest.warns(torch.jit.TracerWarning, match="registered as constants"):
        traced = jit_trace(moves_to_the_inputs_device, torch.randn(2), torch.randn(2))
    assert CPU_LITERAL not in traced.code, traced.code
    assert traced.code.count("ops.prim.device(x)") == 2
    out = traced(torch.empty(2, device="meta"), torch.empty(2, device="meta"))
    assert out.device.type == "meta"


def test_torch_jit_trace_bakes_the_device_in():
    """What jittrace fixes: torch.jit.trace records the CPU device as a constant."""
    traced = torch.jit.trace(makes_tensors, (torch.randn(3),), check_trace=False)
    assert CPU_LITERAL in traced.code


def test_both_modes_of_a_module_follow_their_inputs():
    traced = jit_trace_module(Positions(), forward=torch.randint(0, 8, (2, 5)))
    for code in (traced.trainforward.code, traced.evalforward.code):
        assert CPU_LITERAL not in code, code
        assert "ops.prim.device(ids)" in code
        assert "ops.prim.device(scale)" in code  # the buffer's device, read through self


def test_a_device_the_code_names_is_kept():
    def named(x):
        return x + torch.zeros(x.shape[0], device=torch.device("cpu"))

    assert CPU_LITERAL in jit_trace(named, torch.randn(3)).code


def test_traced_function_runs_on_the_meta_device():
    traced = jit_trace(makes_tensors, torch.randn(3))
    out = traced(torch.empty(7, device="meta"))
    assert (out.device.type, out.shape) == ("meta", torch.Size([7]))
    baked = torch.jit.trace(makes_tensors, (torch.randn(3),), check_trace=False)
    with pytest.raises(RuntimeError):  # the CPU constant meets a meta tensor
        baked(torch.empty(7, device="meta"))


def test_saved_module_loads_onto_another_device_and_runs_there():
    """torch.jit.load(map_location=...) is libtorch's torch::jit::load(path, device)."""
    traced = jit_trace_module(Positions(), forward=torch.randint(0, 8, (2, 5)))
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    loaded = torch.jit.load(io.BytesIO(buffer.getvalue()), map_location="meta")
    ids = torch.empty(3, 6, dtype=torch.long, device="meta")
    for mode in (True, False):
        out = loaded.train(mode)(ids)
        assert (out.device.type, out.shape) == ("meta", torch.Size([3, 6, 4]))
    moved = traced.to("meta")
    assert moved.eval()(ids).device.type == "meta"


def test_drop_in_follows_devices_too():
    traced = jittrace.trace(makes_tensors, torch.randn(3))
    assert CPU_LITERAL not in traced.code


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_traced_on_cpu_runs_on_cuda():
    traced = jit_trace_module(Positions().eval(), forward=torch.randint(0, 8, (2, 5)))
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    loaded = torch.jit.load(io.BytesIO(buffer.getvalue()), map_location="cuda")
    ids = torch.randint(0, 8, (3, 6), device="cuda")
    out = loaded.eval()(ids)
    assert out.device.type == "cuda"
    expected = Positions().eval()
    expected.load_state_dict(traced.state_dict())
    assert torch.allclose(out.cpu(), expected(ids.cpu()), atol=1e-6)
