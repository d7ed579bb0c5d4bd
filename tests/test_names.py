"""record_source_locations=True names traced values after the user's local variables, as
torch.jit.trace does; without it values keep the tracer's numbered names."""

from __future__ import annotations

import pytest
import torch
from jittrace import jit_trace, jit_trace_module


def f(x):
    quick_brown_fox = x * 2
    return quick_brown_fox + 1


class Fox(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 3)

    def forward(self, x):
        lazy_dog = self.linear(x)
        jumps_over = lazy_dog.relu()
        return jumps_over * 2


X = torch.randn(2, 3)


def test_function_values_get_local_names_only_when_asked():
    assert "%quick_brown_fox" not in str(jit_trace(f, X).graph)
    traced = jit_trace(f, X, record_source_locations=True)
    assert "%quick_brown_fox" in str(traced.graph)
    assert torch.equal(traced(X), f(X))


def test_names_match_torch_jit_trace():
    theirs = torch.jit.trace(f, X)
    assert "%quick_brown_fox" in str(theirs.graph)  # torch names values by default


@pytest.mark.parametrize("method", ["trainforward", "evalforward"])
def test_module_values_get_local_names_in_both_modes(method):
    plain = jit_trace_module(Fox(), forward=X)
    named = jit_trace_module(Fox(), forward=X, record_source_locations=True)
    assert "%lazy_dog" not in str(getattr(plain, method).graph)
    graph = str(getattr(named, method).graph)
    assert "%lazy_dog" in graph and "%jumps_over" in graph


def test_names_survive_save_and_load(tmp_path):
    mod = Fox()
    named = jit_trace_module(mod, forward=X, record_source_locations=True)
    torch.jit.save(named, str(tmp_path / "ours.pt"))
    loaded = torch.jit.load(str(tmp_path / "ours.pt"))
    theirs = torch.jit.trace(mod, X)
    torch.jit.save(theirs, str(tmp_path / "theirs.pt"))
    loaded_theirs = torch.jit.load(str(tmp_path / "theirs.pt"))
    # torch's names reach the saved code (where its submodule call does not hide them); ours too
    assert "jumps_over" in loaded_theirs.code
    assert "jumps_over" in loaded.evalforward.code and "lazy_dog" in loaded.evalforward.code
    assert torch.equal(loaded(X), named(X))


def test_function_names_survive_save_and_load(tmp_path):
    traced = jit_trace(f, X, record_source_locations=True)
    torch.jit.save(traced, str(tmp_path / "f.pt"))
    loaded = torch.jit.load(str(tmp_path / "f.pt"))
    assert "quick_brown_fox" in loaded.code
