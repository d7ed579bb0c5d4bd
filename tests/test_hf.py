"""Tiny HuggingFace models (built from configs, no downloads) trace and keep their modes."""

from __future__ import annotations

import pytest
import torch
from jittrace import jit_trace
from torch import nn

transformers = pytest.importorskip("transformers")

# transformers reads tensor sizes in Python (batch size checks): the tracer says so, as expected.
pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning:transformers.*")


class Logits(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False).logits


def test_gpt2_with_tied_weights(tmp_path):
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=64)
    model = Logits(transformers.GPT2LMHeadModel(config))
    assert model.model.lm_head.weight is model.model.transformer.wte.weight
    ids = torch.randint(0, 100, (2, 10))
    traced = jit_trace(model, ids)
    assert traced.model.lm_head.weight is traced.model.transformer.wte.weight
    assert list(traced.state_dict()) == list(model.state_dict())
    torch.jit.save(traced, str(tmp_path / "gpt2.pt"))
    loaded = torch.jit.load(str(tmp_path / "gpt2.pt")).eval()
    model.eval()
    other = torch.randint(0, 100, (2, 10))
    assert torch.allclose(loaded(other), model(other), atol=1e-5)
    eval_out = loaded(other)
    loaded.train()
    model.train()
    torch.manual_seed(1)
    train_out = loaded(other)
    torch.manual_seed(1)
    assert torch.allclose(train_out, model(other), atol=1e-5)  # the same dropout masks
    assert not torch.allclose(train_out, eval_out, atol=1e-3)  # dropout is active again


def test_bert_tuple_outputs_in_both_modes():
    torch.manual_seed(0)
    config = transformers.BertConfig(
        num_hidden_layers=2,
        num_attention_heads=2,
        hidden_size=32,
        intermediate_size=64,
        vocab_size=100,
        return_dict=False,
    )
    model = transformers.BertModel(config)
    ids = torch.randint(0, 100, (2, 12))
    traced = jit_trace(model, ids)
    model.eval()
    traced.eval()
    hidden, pooled = traced(ids)
    e_hidden, e_pooled = model(ids)
    assert torch.allclose(hidden, e_hidden, atol=1e-5)
    assert torch.allclose(pooled, e_pooled, atol=1e-5)
