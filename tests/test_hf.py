"""Tiny HuggingFace models (built from configs, no downloads) trace and keep their modes."""

from __future__ import annotations

import jittrace
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


def tiny_bert() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        num_hidden_layers=2, num_attention_heads=2, hidden_size=32, intermediate_size=64,
        vocab_size=100,
    )  # fmt: skip
    return transformers.BertModel(config)


def tiny_gpt2() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=64)
    return transformers.GPT2LMHeadModel(config)


def ids_and_mask(batch: int = 2, length: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, 100, (batch, length))
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, length - 4 :] = 0  # padding in the second sequence
    return ids, mask


def test_bert_as_is_returns_its_model_output(tmp_path):
    model = tiny_bert()
    ids, mask = ids_and_mask()
    traced = jit_trace(model, ids, example_kwarg_inputs={"attention_mask": mask})
    model.eval()
    traced.eval()
    other, other_mask = ids_and_mask(3, 9)
    expected = model(other, attention_mask=other_mask)
    for got in (
        traced(other, attention_mask=other_mask),
        jittrace.load(save_to(traced, tmp_path / "bert.pt"))(other, attention_mask=other_mask),
    ):
        assert type(got) is type(expected)
        assert list(got.keys()) == ["last_hidden_state", "pooler_output"]
        assert torch.allclose(got.last_hidden_state, expected.last_hidden_state, atol=1e-5)
        assert torch.allclose(got.pooler_output, expected.pooler_output, atol=1e-5)
    script = torch.jit.load(str(tmp_path / "bert.pt")).eval()(other, other_mask)
    assert type(script) is dict and list(script) == ["last_hidden_state", "pooler_output"]
    # position_ids is a non-persistent buffer: torch.jit.load brings it back, jittrace.load not.
    assert "embeddings.position_ids" in torch.jit.load(str(tmp_path / "bert.pt")).state_dict()
    loaded = jittrace.load(tmp_path / "bert.pt")
    assert list(loaded.state_dict()) == list(model.state_dict())
    loaded.load_state_dict(model.state_dict())


def save_to(traced, path):
    jittrace.save(traced, path)
    return path


def test_gpt2_as_is_returns_logits_and_a_cache_that_feeds_a_traced_decoding_step(tmp_path):
    model = tiny_gpt2().eval()
    ids, mask = ids_and_mask(2, 6)
    mask[:] = 1
    prefill = jit_trace(model, ids, example_kwarg_inputs={"attention_mask": mask})
    prefill.eval()
    out = prefill(ids, attention_mask=mask)
    expected = model(ids, attention_mask=mask)
    assert type(out) is type(expected)
    assert type(out.cache) is type(expected.cache)
    assert torch.allclose(out.logits, expected.logits, atol=1e-5)

    # Greedy decoding: one traced step, fed back its own cache, against eager generation.
    step_ids = out.logits[:, -1:].argmax(-1)
    step = jit_trace(model, step_ids, example_kwarg_inputs={"cache": out.cache}, respect_mode=False)
    traced_cache, eager_cache = out.cache, expected.cache
    traced_token = eager_token = step_ids
    for _ in range(4):
        traced_out = step(traced_token, cache=traced_cache)
        eager_out = model(eager_token, cache=eager_cache)
        assert torch.allclose(traced_out.logits, eager_out.logits, atol=1e-5)
        traced_cache, eager_cache = traced_out.cache, eager_out.cache
        traced_token = traced_out.logits[:, -1:].argmax(-1)
        eager_token = eager_out.logits[:, -1:].argmax(-1)
        assert torch.equal(traced_token, eager_token)
    assert traced_cache.get_seq_length() == eager_cache.get_seq_length() == 10


def tiny_mistral() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.MistralConfig(
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, hidden_size=32,
        intermediate_size=64, vocab_size=100, sliding_window=4, max_position_embeddings=64,
    )  # fmt: skip
    return transformers.MistralForCausalLM(config).eval()


def tiny_gemma2() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.Gemma2Config(
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, hidden_size=32,
        intermediate_size=64, vocab_size=100, sliding_window=4, head_dim=16,
        max_position_embeddings=64,
    )  # fmt: skip
    return transformers.Gemma2ForCausalLM(config).eval()


def assert_same_output_and_cache(got, expected):
    """Logits and every cache layer equal eager, and the layers' Python numbers (a sliding
    window's cumulative_length) are the same numbers, of the same type."""
    assert type(got) is type(expected)
    assert torch.allclose(got.logits, expected.logits, atol=1e-5)
    got_layers, expected_layers = got.cache.layers, expected.cache.layers
    assert [type(layer) for layer in got_layers] == [type(layer) for layer in expected_layers]
    for mine, eager in zip(got_layers, expected_layers, strict=True):
        assert torch.allclose(mine.keys, eager.keys, atol=1e-5)
        assert torch.allclose(mine.values, eager.values, atol=1e-5)
        if hasattr(eager, "cumulative_length"):
            assert type(eager.cumulative_length) is int
            assert type(mine.cumulative_length) is int
            assert mine.cumulative_length == eager.cumulative_length
    assert got.cache.get_seq_length() == expected.cache.get_seq_length()


@pytest.mark.parametrize("make", [tiny_mistral, tiny_gemma2], ids=["mistral", "gemma2"])
def test_sliding_window_caches_trace_with_the_default_check(make, tmp_path):
    model = make()
    ids, mask = ids_and_mask(2, 6)
    mask[:] = 1
    # As users call torch.jit.trace: keywords, the drop-in's default check on the example.
    traced = jittrace.trace(
        model, example_kwarg_inputs={"input_ids": ids, "attention_mask": mask, "use_cache": True}
    )
    loaded = jittrace.load(save_to(traced, tmp_path / "model.pt"))
    for batch, length in ((2, 6), (3, 9), (4, 3)):
        other, other_mask = ids_and_mask(batch, length)
        other_mask[:] = 1
        expected = model(input_ids=other, attention_mask=other_mask, use_cache=True)
        for got in (
            traced(input_ids=other, attention_mask=other_mask, use_cache=True),
            loaded(input_ids=other, attention_mask=other_mask, use_cache=True),
        ):
            assert_same_output_and_cache(got, expected)
