"""python -m benchmarks.realmodels [--only NAME ...] [--no-timing] [--out DIR] [--md FILE]
                                  [--table-from RUN.json]

Guards on real architectures: each model (transformers models built from tiny configs with random
weights, no downloads, and a few torch.nn ones) is traced in eval mode at one input size and
called at another (another batch size and sequence length, other padding in the attention mask,
another image resolution where the model takes several), by torch.jit.trace and by jittrace with
and without guards. A guard that raises where the unguarded trace was right is a false alarm.
Also: trace time (jittrace, both modes, against torch.jit.trace of one mode) and the call
latency of each trace with guards against guards=False.

Models run in fresh worker processes, four to a process (--per-worker). Writes
DIR/realmodels-<time>.json and the markdown table to FILE (benchmarks/MODELS.md by default).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from jittrace._demo import DemoNet
from torch import nn

from .harness import git_commit, machine_info, measure_interleaved, now

ROOT = Path(__file__).resolve().parent.parent
VOCAB = 128
# Outputs compared with eager: random tiny models give values of order 1.
RTOL, ATOL = 1e-3, 1e-4
TIMEOUT_S = 240  # per model, worker included
REPEATS = 5  # trace time samples per tracer, interleaved


# ---- Inputs: index 0 is the size traced at, 1 the size called at --------------------------------

# (batch, sequence length, padded tokens at the end of each row)
TEXT = ((2, 8, (0, 3)), (3, 13, (2, 0, 5)))
# (batch, side) of the images; the other resolution only for models that take several.
IMAGE = ((2, 32), (3, 64))
# (batch, samples, padded samples at the end of each row)
AUDIO = ((2, 1600, (0, 400)), (3, 2400, (800, 0, 320)))


def _gen(which: int) -> torch.Generator:
    return torch.Generator().manual_seed(1234 + which)


def _mask(batch: int, length: int, pads: tuple[int, ...]) -> torch.Tensor:
    mask = torch.ones(batch, length, dtype=torch.long)
    for row, pad in enumerate(pads):
        if pad:
            mask[row, length - pad :] = 0
    return mask


def text_inputs(
    mask: bool = True, decoder: bool = False
) -> Callable[[int], tuple[torch.Tensor, ...]]:
    def make(which: int) -> tuple[torch.Tensor, ...]:
        batch, length, pads = TEXT[which]
        g = _gen(which)
        ids = torch.randint(4, VOCAB, (batch, length), generator=g)
        out: tuple[torch.Tensor, ...] = (ids,)
        if mask:
            out += (_mask(batch, length, pads),)
        if decoder:
            out += (torch.randint(4, VOCAB, (batch, length // 2 + 1), generator=g),)
        return out

    return make


def image_inputs(resize: bool, channels: int = 3) -> Callable[[int], tuple[torch.Tensor, ...]]:
    def make(which: int) -> tuple[torch.Tensor, ...]:
        batch, side = IMAGE[which]
        side = side if resize else IMAGE[0][1]
        return (torch.randn(batch, channels, side, side, generator=_gen(which)),)

    return make


def image(batch: int, side: int) -> Callable[[], tuple[torch.Tensor, ...]]:
    return lambda: (torch.randn(batch, 3, side, side, generator=_gen(2)),)


def audio_inputs(mask: bool = True) -> Callable[[int], tuple[torch.Tensor, ...]]:
    def make(which: int) -> tuple[torch.Tensor, ...]:
        batch, length, pads = AUDIO[which]
        values = torch.randn(batch, length, generator=_gen(which))
        m = _mask(batch, length, pads)
        values = values * m
        return (values, m) if mask else (values,)

    return make


def whisper_inputs(mel: int, frames: int) -> Callable[[int], tuple[torch.Tensor, ...]]:
    def make(which: int) -> tuple[torch.Tensor, ...]:
        batch, length, _ = TEXT[which]
        g = _gen(which)
        features = torch.randn(batch, mel, frames, generator=g)
        return features, torch.randint(4, VOCAB, (batch, length), generator=g)

    return make


def seq_inputs(features: int, mask: bool = False) -> Callable[[int], tuple[torch.Tensor, ...]]:
    """(batch, length, features) floats for torch.nn models, with a bool padding mask."""

    def make(which: int) -> tuple[torch.Tensor, ...]:
        batch, length, pads = TEXT[which]
        x = torch.randn(batch, length, features, generator=_gen(which))
        if not mask:
            return (x,)
        return x, _mask(batch, length, pads) == 0  # True where padded

    return make


def describe_size(inputs: tuple[torch.Tensor, ...]) -> str:
    return " ".join("×".join(map(str, t.shape)) for t in inputs)


# ---- Models -------------------------------------------------------------------------------------


class Outputs(nn.Module):
    """A model called with keyword tensors, returning its first output (last_hidden_state or
    logits): what both tracers take (positional tensors in, a tensor out)."""

    def __init__(self, model: nn.Module, names: tuple[str, ...], **extra: Any) -> None:
        super().__init__()
        self.model = model
        self.names = names
        self.extra = extra

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        out = self.model(**dict(zip(self.names, tensors, strict=True)), **self.extra)
        return out[0]


@dataclass
class Case:
    name: str
    family: str  # text, vision, audio, torch.nn
    build: Callable[[], nn.Module]
    inputs: Callable[[int], tuple[torch.Tensor, ...]]
    note: str = ""
    # Options of jittrace's traces of this model (all of them, guards or not, timed or not).
    options: dict[str, Any] = field(default_factory=dict)
    # For a model whose guard raises at the other size while the unguarded trace happens to be
    # right there: inputs to trace at and to call at where the unguarded trace is wrong, which
    # shows that the guarded value does decide the computation (so not a false alarm).
    witness: (
        tuple[Callable[[], tuple[torch.Tensor, ...]], Callable[[], tuple[torch.Tensor, ...]]] | None
    ) = None


def _hf(
    name: str,
    family: str,
    model: str,
    config: dict[str, Any],
    names: tuple[str, ...],
    inputs: Callable[[int], tuple[torch.Tensor, ...]],
    note: str = "",
    options: dict[str, Any] | None = None,
    witness: Any = None,
    **extra: Any,
) -> Case:
    def build() -> nn.Module:
        import transformers

        transformers.logging.set_verbosity_error()
        base = model.removesuffix("Model").removesuffix("ForCausalLM")
        base = base.removesuffix("ForImageClassification")
        config_cls = getattr(transformers, f"{base}Config")
        model_cls = getattr(transformers, model)
        return Outputs(model_cls(config_cls(**config)), names, **extra)

    return Case(name, family, build, inputs, note, options or {}, witness)


# Common tiny sizes.
T = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "vocab_size": VOCAB,
    "max_position_embeddings": 64,
}
DECODER = {**T, "num_key_value_heads": 2}
SEQ2SEQ = {
    "d_model": 32,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "vocab_size": VOCAB,
    "max_position_embeddings": 64,
}
VIT = {
    "image_size": 32,
    "patch_size": 8,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
}
WAV = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "conv_dim": (16, 16, 16),
    "conv_stride": (5, 2, 2),
    "conv_kernel": (10, 3, 3),
    "num_conv_pos_embeddings": 8,
    "num_conv_pos_embedding_groups": 4,
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "mask_time_prob": 0.0,
    "vocab_size": VOCAB,
}
IDS_MASK = ("input_ids", "attention_mask")
IDS_MASK_DEC = ("input_ids", "attention_mask", "decoder_input_ids")
PIXELS = ("pixel_values",)
AUDIO_NAMES = ("input_values", "attention_mask")
NO_CACHE = {"use_cache": False}


def _text_cases() -> list[Case]:
    t, td = text_inputs(), text_inputs(decoder=True)
    return [
        _hf("bert", "text", "BertModel", T, IDS_MASK, t),
        _hf("roberta", "text", "RobertaModel", T, IDS_MASK, t),
        _hf(
            "distilbert",
            "text",
            "DistilBertModel",
            {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 64, "vocab_size": VOCAB},
            IDS_MASK,
            t,
        ),
        _hf("albert", "text", "AlbertModel", {**T, "embedding_size": 16}, IDS_MASK, t),
        _hf("electra", "text", "ElectraModel", {**T, "embedding_size": 16}, IDS_MASK, t),
        _hf(
            "gpt2",
            "text",
            "GPT2Model",
            {"n_embd": 32, "n_layer": 2, "n_head": 4, "vocab_size": VOCAB, "n_positions": 64},
            IDS_MASK,
            t,
            **NO_CACHE,
        ),
        _hf(
            "gpt_neo",
            "text",
            "GPTNeoModel",
            {
                "hidden_size": 32,
                "num_layers": 2,
                "num_heads": 4,
                "intermediate_size": 64,
                "attention_types": [[["global", "local"], 1]],
                "window_size": 4,
                "vocab_size": VOCAB,
                "max_position_embeddings": 64,
            },
            IDS_MASK,
            t,
            note="local attention, window 4",
            **NO_CACHE,
        ),
        _hf(
            "gptj",
            "text",
            "GPTJModel",
            {
                "n_embd": 32,
                "n_layer": 2,
                "n_head": 4,
                "rotary_dim": 4,
                "vocab_size": VOCAB,
                "n_positions": 64,
            },
            IDS_MASK,
            t,
            **NO_CACHE,
        ),
        _hf("gpt_neox", "text", "GPTNeoXModel", T, IDS_MASK, t, **NO_CACHE),
        _hf(
            "opt",
            "text",
            "OPTModel",
            {
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "ffn_dim": 64,
                "word_embed_proj_dim": 32,
                "vocab_size": VOCAB,
                "max_position_embeddings": 64,
            },
            IDS_MASK,
            t,
            **NO_CACHE,
        ),
        _hf(
            "bloom",
            "text",
            "BloomModel",
            {"hidden_size": 32, "n_layer": 2, "n_head": 4, "vocab_size": VOCAB},
            IDS_MASK,
            t,
            note="ALiBi; its train-mode GeLU is an autograd Function: autograd_functions='inline'",
            options={"autograd_functions": "inline"},
            **NO_CACHE,
        ),
        _hf(
            "falcon",
            "text",
            "FalconModel",
            {
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "vocab_size": VOCAB,
            },
            IDS_MASK,
            t,
            **NO_CACHE,
        ),
        _hf("llama", "text", "LlamaModel", DECODER, IDS_MASK, t, **NO_CACHE),
        _hf(
            "mistral",
            "text",
            "MistralModel",
            {**DECODER, "sliding_window": 4},
            IDS_MASK,
            t,
            note="sliding window 4",
            **NO_CACHE,
        ),
        _hf(
            "mixtral",
            "text",
            "MixtralModel",
            {**DECODER, "num_local_experts": 4, "num_experts_per_tok": 2},
            IDS_MASK,
            t,
            note="mixture of experts: which experts run depends on the data",
            **NO_CACHE,
        ),
        _hf("qwen2", "text", "Qwen2Model", DECODER, IDS_MASK, t, **NO_CACHE),
        _hf("qwen3", "text", "Qwen3Model", {**DECODER, "head_dim": 8}, IDS_MASK, t, **NO_CACHE),
        _hf("phi", "text", "PhiModel", DECODER, IDS_MASK, t, **NO_CACHE),
        _hf("phi3", "text", "Phi3Model", {**DECODER, "pad_token_id": 0}, IDS_MASK, t, **NO_CACHE),
        _hf(
            "gemma",
            "text",
            "GemmaModel",
            {**DECODER, "head_dim": 8},
            IDS_MASK,
            t,
            **NO_CACHE,
        ),
        _hf("stablelm", "text", "StableLmModel", DECODER, IDS_MASK, t, **NO_CACHE),
        _hf("olmo", "text", "OlmoModel", DECODER, IDS_MASK, t, **NO_CACHE),
        _hf("starcoder2", "text", "Starcoder2Model", DECODER, IDS_MASK, t, **NO_CACHE),
        _hf(
            "codegen",
            "text",
            "CodeGenModel",
            {
                "n_embd": 32,
                "n_layer": 2,
                "n_head": 4,
                "rotary_dim": 4,
                "vocab_size": VOCAB,
                "n_positions": 64,
                "n_ctx": 64,
            },
            IDS_MASK,
            t,
            **NO_CACHE,
        ),
        _hf(
            "t5",
            "text",
            "T5Model",
            {
                "d_model": 32,
                "d_kv": 8,
                "d_ff": 64,
                "num_layers": 2,
                "num_heads": 4,
                "vocab_size": VOCAB,
                "decoder_start_token_id": 0,
            },
            IDS_MASK_DEC,
            td,
            note="encoder and decoder (decoder_input_ids)",
            **NO_CACHE,
        ),
        _hf("bart", "text", "BartModel", SEQ2SEQ, IDS_MASK, t, **NO_CACHE),
        _hf("mbart", "text", "MBartModel", SEQ2SEQ, IDS_MASK, t, **NO_CACHE),
        _hf("pegasus", "text", "PegasusModel", SEQ2SEQ, IDS_MASK_DEC, td, **NO_CACHE),
        _hf("m2m100", "text", "M2M100Model", SEQ2SEQ, IDS_MASK_DEC, td, **NO_CACHE),
        _hf(
            "xlnet",
            "text",
            "XLNetModel",
            {"d_model": 32, "n_layer": 2, "n_head": 4, "d_inner": 64, "vocab_size": VOCAB},
            IDS_MASK,
            t,
            use_mems=False,
        ),
        _hf(
            "deberta",
            "text",
            "DebertaModel",
            {**T, "relative_attention": True, "pos_att_type": ["c2p", "p2c"]},
            IDS_MASK,
            t,
            note="relative attention",
        ),
        _hf(
            "deberta_v2",
            "text",
            "DebertaV2Model",
            {
                **T,
                "relative_attention": True,
                "pos_att_type": ["c2p", "p2c"],
                "position_buckets": 16,
            },
            IDS_MASK,
            t,
            note="relative attention, position buckets",
        ),
        _hf(
            "funnel",
            "text",
            "FunnelModel",
            {
                "block_sizes": [1, 1],
                "d_model": 32,
                "n_head": 4,
                "d_head": 8,
                "d_inner": 64,
                "vocab_size": VOCAB,
            },
            IDS_MASK,
            t,
            note="pooling between blocks, upsampling decoder",
        ),
        _hf("mpnet", "text", "MPNetModel", T, IDS_MASK, t),
        _hf(
            "layoutlm",
            "text",
            "LayoutLMModel",
            {**T, "max_2d_position_embeddings": 64},
            IDS_MASK,
            t,
            note="bbox left at its default",
        ),
        _hf(
            "canine",
            "text",
            "CanineModel",
            {
                **T,
                "downsampling_rate": 2,
                "num_hash_buckets": 64,
                "num_hash_functions": 2,
                "local_transformer_stride": 4,
            },
            IDS_MASK,
            t,
            note="characters, downsampling",
        ),
        _hf(
            "longformer",
            "text",
            "LongformerModel",
            {**T, "attention_window": 4},
            IDS_MASK,
            t,
            note="local attention window 4, pads the sequence to a multiple",
        ),
        _hf(
            "big_bird",
            "text",
            "BigBirdModel",
            {**T, "block_size": 2, "num_random_blocks": 1},
            IDS_MASK,
            t,
            note="block sparse (falls back to full attention when short)",
        ),
        _hf(
            "squeezebert",
            "text",
            "SqueezeBertModel",
            {
                **T,
                "embedding_size": 32,
                "q_groups": 2,
                "k_groups": 2,
                "v_groups": 2,
                "post_attention_groups": 2,
                "intermediate_groups": 2,
                "output_groups": 2,
            },
            IDS_MASK,
            t,
        ),
        _hf(
            "mobilebert",
            "text",
            "MobileBertModel",
            {
                **T,
                "embedding_size": 16,
                "intra_bottleneck_size": 16,
                "true_hidden_size": 16,
                "num_feedforward_networks": 2,
            },
            IDS_MASK,
            t,
        ),
        _hf("roformer", "text", "RoFormerModel", {**T, "embedding_size": 32}, IDS_MASK, t),
        _hf(
            "fnet",
            "text",
            "FNetModel",
            {k: v for k, v in T.items() if k != "num_attention_heads"},
            ("input_ids",),
            text_inputs(mask=False),
            note="Fourier mixing, no mask",
        ),
        _hf("convbert", "text", "ConvBertModel", {**T, "embedding_size": 32}, IDS_MASK, t),
    ]


def _vision_cases() -> list[Case]:
    fixed, resize = image_inputs(resize=False), image_inputs(resize=True)
    interpolate = {"interpolate_pos_encoding": True}
    stages = {"hidden_sizes": [8, 16], "depths": [1, 1]}
    return [
        _hf(
            "vit",
            "vision",
            "ViTModel",
            VIT,
            PIXELS,
            resize,
            "interpolate_pos_encoding",
            **interpolate,
        ),
        _hf(
            "deit",
            "vision",
            "DeiTModel",
            VIT,
            PIXELS,
            resize,
            "interpolate_pos_encoding",
            **interpolate,
        ),
        _hf(
            "beit",
            "vision",
            "BeitModel",
            {**VIT, "use_relative_position_bias": True},
            PIXELS,
            fixed,
            "relative position bias (fixed resolution)",
        ),
        _hf(
            "dinov2",
            "vision",
            "Dinov2Model",
            {**VIT, "mlp_ratio": 2},
            PIXELS,
            resize,
            "interpolates its position embeddings",
        ),
        _hf(
            "yolos",
            "vision",
            "YolosModel",
            {**VIT, "image_size": [32, 32], "num_detection_tokens": 4},
            PIXELS,
            resize,
            "interpolates its position embeddings",
        ),
        _hf("convnext", "vision", "ConvNextModel", {**stages, "num_stages": 2}, PIXELS, resize),
        _hf("convnextv2", "vision", "ConvNextV2Model", {**stages, "num_stages": 2}, PIXELS, resize),
        _hf(
            "resnet",
            "vision",
            "ResNetModel",
            {**stages, "embedding_size": 8, "layer_type": "basic"},
            PIXELS,
            resize,
        ),
        _hf(
            "regnet",
            "vision",
            "RegNetModel",
            {**stages, "embedding_size": 8, "groups_width": 8},
            PIXELS,
            resize,
        ),
        _hf(
            "bit",
            "vision",
            "BitModel",
            {**stages, "embedding_size": 8, "num_groups": 4},
            PIXELS,
            resize,
        ),
        _hf(
            "mobilenet_v1",
            "vision",
            "MobileNetV1Model",
            {"depth_multiplier": 0.25, "image_size": 32},
            PIXELS,
            resize,
            "TensorFlow 'SAME' padding computed from the input size",
        ),
        _hf(
            "mobilenet_v2",
            "vision",
            "MobileNetV2Model",
            {"depth_multiplier": 0.25, "image_size": 32},
            PIXELS,
            resize,
            "TensorFlow 'SAME' padding computed from int(height), int(width)",
            witness=(image(2, 32), image(2, 33)),
        ),
        _hf(
            "efficientnet",
            "vision",
            "EfficientNetModel",
            {
                "image_size": 32,
                "width_coefficient": 0.25,
                "depth_coefficient": 0.25,
                "hidden_dim": 320,
            },
            PIXELS,
            resize,
        ),
        _hf(
            "swin",
            "vision",
            "SwinModel",
            {
                "image_size": 32,
                "patch_size": 2,
                "embed_dim": 8,
                "depths": [1, 1],
                "num_heads": [2, 2],
                "window_size": 4,
            },
            PIXELS,
            resize,
            "windows of 4 patches, pads to a multiple",
        ),
        _hf(
            "swinv2",
            "vision",
            "Swinv2Model",
            {
                "image_size": 32,
                "patch_size": 2,
                "embed_dim": 8,
                "depths": [1, 1],
                "num_heads": [2, 2],
                "window_size": 4,
            },
            PIXELS,
            resize,
        ),
        _hf(
            "focalnet",
            "vision",
            "FocalNetModel",
            {
                "image_size": 32,
                "patch_size": 4,
                "embed_dim": 8,
                "depths": [1, 1],
                "focal_levels": [2, 2],
                "focal_windows": [3, 3],
            },
            PIXELS,
            resize,
        ),
        _hf(
            "poolformer",
            "vision",
            "PoolFormerModel",
            {
                **stages,
                "num_encoder_blocks": 2,
                "patch_sizes": [7, 3],
                "strides": [4, 2],
                "padding": [2, 1],
                "mlp_ratio": 2.0,
            },
            PIXELS,
            resize,
        ),
        _hf(
            "segformer",
            "vision",
            "SegformerModel",
            {
                **stages,
                "num_encoder_blocks": 2,
                "sr_ratios": [2, 1],
                "patch_sizes": [7, 3],
                "strides": [4, 2],
                "num_attention_heads": [1, 2],
                "mlp_ratios": [2, 2],
            },
            PIXELS,
            resize,
        ),
        _hf(
            "cvt",
            "vision",
            "CvtModel",
            {
                "embed_dim": [8, 16],
                "num_heads": [1, 2],
                "depth": [1, 2],
                "patch_sizes": [7, 3],
                "patch_stride": [4, 2],
                "patch_padding": [2, 1],
                "mlp_ratio": [2.0, 2.0],
                "attention_drop_rate": [0.0, 0.0],
                "drop_rate": [0.0, 0.0],
                "drop_path_rate": [0.0, 0.0],
                "qkv_bias": [True, True],
                "cls_token": [False, True],
                "qkv_projection_method": ["dw_bn", "dw_bn"],
                "kernel_qkv": [3, 3],
                "padding_kv": [1, 1],
                "stride_kv": [2, 2],
                "padding_q": [1, 1],
                "stride_q": [1, 1],
            },
            PIXELS,
            resize,
        ),
        _hf(
            "levit",
            "vision",
            "LevitModel",
            {
                "image_size": 64,
                "hidden_sizes": [16, 32],
                "num_attention_heads": [2, 4],
                "depths": [1, 1],
                "key_dim": [8, 8],
                "mlp_ratio": [2, 2],
                "attention_ratio": [2, 2],
                "down_ops": [["Subsample", 8, 2, 4, 2, 2]],
            },
            PIXELS,
            lambda which: (torch.randn((2, 3)[which], 3, 64, 64, generator=_gen(which)),),
            "fixed resolution (attention biases per position)",
        ),
        _hf(
            "mobilevit",
            "vision",
            "MobileViTModel",
            {
                "image_size": 64,
                "hidden_sizes": [16, 24, 32],
                "neck_hidden_sizes": [8, 8, 16, 16, 24, 32, 64],
                "num_attention_heads": 2,
            },
            PIXELS,
            resize,
            "unfolds into patches, interpolating to a multiple of the patch size if needed",
            witness=(image(2, 64), image(2, 32)),
        ),
    ]


def _audio_cases() -> list[Case]:
    a = audio_inputs()
    return [
        _hf("wav2vec2", "audio", "Wav2Vec2Model", WAV, AUDIO_NAMES, a),
        _hf("hubert", "audio", "HubertModel", WAV, AUDIO_NAMES, a),
        _hf(
            "wavlm",
            "audio",
            "WavLMModel",
            {**WAV, "num_buckets": 16},
            AUDIO_NAMES,
            a,
            "relative position buckets",
        ),
        _hf(
            "data2vec_audio",
            "audio",
            "Data2VecAudioModel",
            {**WAV, "num_conv_pos_embeddings": 5},
            AUDIO_NAMES,
            a,
        ),
        _hf(
            "whisper",
            "audio",
            "WhisperModel",
            {
                **SEQ2SEQ,
                "num_mel_bins": 16,
                "max_source_positions": 32,
                "max_target_positions": 64,
                "pad_token_id": 1,
                "bos_token_id": 0,
                "eos_token_id": 2,
                "decoder_start_token_id": 3,
            },
            ("input_features", "decoder_input_ids"),
            whisper_inputs(16, 64),
            "encoder and decoder; the encoder takes a fixed length",
            **NO_CACHE,
        ),
    ]


class RNNLast(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out)


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)

    def forward(self, x: torch.Tensor, padded: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, key_padding_mask=padded, need_weights=False)[0]


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor, padded: torch.Tensor) -> torch.Tensor:
        return self.encoder(x, src_key_padding_mask=padded)


def _torch_cases() -> list[Case]:
    return [
        Case(
            "nn_transformer_encoder",
            "torch.nn",
            Encoder,
            seq_inputs(32, mask=True),
            "2 layers, src_key_padding_mask",
        ),
        Case(
            "nn_multihead_attention",
            "torch.nn",
            Attention,
            seq_inputs(32, mask=True),
            "key_padding_mask",
        ),
        Case(
            "nn_lstm",
            "torch.nn",
            lambda: RNNLast(nn.LSTM(32, 32, num_layers=2, batch_first=True)),
            seq_inputs(32),
        ),
        Case(
            "nn_gru",
            "torch.nn",
            lambda: RNNLast(nn.GRU(32, 32, num_layers=2, batch_first=True)),
            seq_inputs(32),
        ),
        Case(
            "nn_convnet_bn",
            "torch.nn",
            DemoNet,  # jittrace's demo model
            image_inputs(resize=True),
            "conv + BatchNorm + adaptive pooling",
        ),
    ]


def cases() -> list[Case]:
    return [*_text_cases(), *_vision_cases(), *_audio_cases(), *_torch_cases()]


# ---- One model, in a worker ---------------------------------------------------------------------

_GUARD_ERROR = re.compile(
    r"(\S+:\d+|the traced code): (.+?) gave (.+?) when traced, but (.+?) on this call"
)


def _why(e: BaseException) -> str:
    text = str(e).strip()
    first = text.splitlines()[-1] if text else ""
    return f"{type(e).__name__}: {first[:200]}"


def _flat(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flat(o)]
    return []


def _diff(got: Any, expected: Any) -> float | None:
    """Largest absolute difference beyond tolerance, or None when within it."""
    a, b = _flat(got), _flat(expected)
    if len(a) != len(b) or not a:
        return float("inf")
    worst = 0.0
    bad = False
    for x, y in zip(a, b, strict=True):
        if x.shape != y.shape:
            return float("inf")
        if not torch.allclose(x.float(), y.float(), rtol=RTOL, atol=ATOL, equal_nan=True):
            bad = True
            worst = max(worst, float((x.float() - y.float()).abs().nan_to_num(float("inf")).max()))
    return worst if bad else None


def _outcome(call: Callable[[], Any], expected: Any) -> dict[str, Any]:
    """What a traced call gave: correct, wrong (and by how much), a guard error or another error."""
    try:
        with torch.no_grad():
            got = call()
    except Exception as e:
        found = _GUARD_ERROR.search(str(e))
        if found:
            from jittrace._guards import KINDS

            kind = next((k for k, (what, _) in KINDS.items() if what == found.group(2)), "?")
            location = found.group(1)
            return {
                "result": "guard",
                "kind": kind,
                "location": _short(location),
                "traced": found.group(3),
                "actual": found.group(4),
            }
        return {"result": "error", "error": _why(e)}
    worst = _diff(got, expected)
    if worst is None:
        return {"result": "correct"}
    return {"result": "wrong", "max_diff": worst}


def _short(location: str) -> str:
    """site-packages/transformers/models/x/modeling_x.py:12 -> transformers/.../modeling_x.py:12"""
    marker = "site-packages/"
    return location.split(marker, 1)[1] if marker in location else location


def measure(case: Case, timing: bool, log: Callable[[str], None]) -> dict[str, Any]:
    import jittrace

    row: dict[str, Any] = {"name": case.name, "family": case.family, "note": case.note}
    torch.manual_seed(0)
    try:
        model = case.build().eval()
    except Exception as e:
        row["skipped"] = f"cannot build: {_why(e)}"
        return row
    a, b = case.inputs(0), case.inputs(1)
    row["traced_at"], row["called_at"] = describe_size(a), describe_size(b)
    try:
        with torch.no_grad():
            expected_a, expected_b = model(*a), model(*b)
    except Exception as e:
        row["skipped"] = f"eager forward fails: {_why(e)}"
        return row

    # torch.jit.trace, eval mode, no check (its check traces again and compares).
    log(f"{case.name}: torch.jit.trace")
    try:
        theirs = torch.jit.trace(model, a, check_trace=False)
        row["torch_jit_trace"] = _outcome(lambda: theirs(*b), expected_b)
    except Exception as e:
        theirs = None
        row["torch_jit_trace"] = {"result": "error", "error": f"tracing: {_why(e)}"}

    log(f"{case.name}: jittrace")
    try:
        ours = jittrace.jit_trace(model, *a, report=True, **case.options)
    except Exception as e:
        row["jittrace"] = {"result": "error", "error": f"tracing: {_why(e)}"}
        return row
    model.eval()
    ours.eval()
    guards = ours.trace_report.guards
    row["guards"] = [
        {
            "kind": g.kind,
            "value": repr(g.value)[:80],
            "location": _short(g.location),
            "mode": g.mode,
        }
        for g in guards
    ]
    row["guards_eval"] = sum(g.mode == "eval" for g in guards)
    try:
        plain = jittrace.jit_trace(model, *a, guards=False, **case.options).eval()
    except Exception as e:
        plain = None
        row["jittrace_no_guards"] = {"result": "error", "error": f"tracing: {_why(e)}"}
    if timing and plain is not None:
        # Call latency at the traced size (eval, no_grad), guards against none, before either
        # trace sees the other size (after which TorchScript's profiling executor may
        # re-optimize them differently).
        log(f"{case.name}: call latency")
        calls = {"jittrace": lambda: ours(*a), "jittrace_no_guards": lambda: plain(*a)}
        with torch.no_grad():
            for fn in calls.values():  # the profiling executor optimizes after a few runs
                for _ in range(3):
                    fn()
            samples = measure_interleaved(
                calls, repeats=9, sample_seconds=0.02, warmup=1, gc_enabled=False
            )
        row["latency_s"] = {k: statistics.median(v) for k, v in samples.items()}
    row["jittrace_traced_size"] = _outcome(lambda: ours(*a), expected_a)
    row["jittrace"] = _outcome(lambda: ours(*b), expected_b)
    if plain is not None:
        row["jittrace_no_guards"] = _outcome(lambda: plain(*b), expected_b)
    row["false_alarm"] = (
        row["jittrace"]["result"] == "guard" and row["jittrace_no_guards"]["result"] == "correct"
    )
    if row["false_alarm"] and case.witness is not None:
        # Does the value decide the computation? Where it differs, the unguarded trace is wrong.
        wa, wb = case.witness[0](), case.witness[1]()
        with torch.no_grad():
            expected_w = model(*wb)
        try:
            other = jittrace.jit_trace(model, *wa, guards=False, **case.options).eval()
            outcome = _outcome(lambda: other(*wb), expected_w)
        except Exception as e:
            outcome = {"result": "error", "error": f"tracing: {_why(e)}"}
        row["witness"] = {
            "traced_at": describe_size(wa),
            "called_at": describe_size(wb),
            "jittrace_no_guards": outcome,
        }
        row["false_alarm"] = outcome["result"] == "correct"
    if not timing:
        return row

    # Trace time, the module starting in train mode as in the suite's trace_time group.
    log(f"{case.name}: trace time")

    def in_train(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            model.train()
            return fn()

        return run

    tracers = {
        "jittrace": in_train(lambda: jittrace.jit_trace(model, *a, **case.options)),
        # What guards cost while tracing (for reference: the target is on the line above).
        "jittrace_no_guards": in_train(
            lambda: jittrace.jit_trace(model, *a, guards=False, **case.options)
        ),
        "torch_jit_trace": in_train(lambda: torch.jit.trace(model, a, check_trace=False)),
    }
    try:
        samples = measure_interleaved(tracers, repeats=REPEATS, sample_seconds=0.0, warmup=1)
        row["trace_time_s"] = {k: statistics.median(v) for k, v in samples.items()}
    except Exception as e:
        row["trace_time_error"] = _why(e)
    return row


def _quiet() -> None:
    # The models convert sizes on purpose: both tracers warn about it, as expected.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


def _worker(names: str, out: str, timing: bool, started: float) -> int:
    """Measures the models named (comma-separated) one after the other, writing each row as it
    is done, so that a crash or a timeout loses only the model it happened in."""
    _quiet()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {msg}", file=sys.stderr, flush=True)

    by_name = {c.name: c for c in cases()}
    rows = []
    for name in names.split(","):
        case = by_name[name]
        try:
            row = measure(case, timing, log)
        except Exception as e:
            row = _skipped(case, f"worker error: {_why(e)}")
            row["traceback"] = traceback.format_exc()
        rows.append(row)
        Path(out).write_text(json.dumps(rows))
    return 0


def _skipped(case: Case, why: str) -> dict[str, Any]:
    return {"name": case.name, "family": case.family, "note": case.note, "skipped": why}


def _run_chunk(chunk: list[Case], timing: bool, started: float) -> list[dict[str, Any]]:
    """`chunk` measured in one worker process (starting one costs seconds: torch, transformers);
    after a crash or a timeout, the models it did not finish run again, each in its own."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.json")
        names = ",".join(c.name for c in chunk)
        cmd = [sys.executable, "-m", "benchmarks.realmodels", "--worker", names, out]
        cmd.append(repr(started))
        if not timing:
            cmd.append("--no-timing")
        why = ""
        try:
            done = subprocess.run(cmd, env=env, check=False, timeout=TIMEOUT_S * len(chunk))
            if done.returncode != 0:
                why = f"worker exit code {done.returncode}"
        except subprocess.TimeoutExpired:
            why = f"timed out after {TIMEOUT_S} s"
        rows: list[dict[str, Any]] = (
            json.loads(Path(out).read_text()) if os.path.exists(out) else []
        )
    if len(rows) < len(chunk):
        rest = chunk[len(rows) :]
        if len(chunk) == 1:
            return [_skipped(rest[0], why or "no result")]
        for case in rest:
            rows += _run_chunk([case], timing, started)
    return rows


# ---- The table ----------------------------------------------------------------------------------


def _cell(outcome: dict[str, Any] | None) -> str:
    if outcome is None:
        return "—"
    result = outcome["result"]
    if result == "correct":
        return "correct"
    if result == "wrong":
        if outcome["max_diff"] == float("inf"):
            return "**wrong** (other shape)"
        return f"**wrong** (max diff {outcome['max_diff']:.2g})"
    if result == "guard":
        return f"guard: {outcome['kind']} at `{outcome['location']}` ({outcome['traced']} → {outcome['actual']})"
    return f"error: {outcome['error'][:120]}"


def _alarm(row: dict[str, Any]) -> str:
    if row.get("false_alarm"):
        return "**yes**"
    w = row.get("witness")
    if w is None:
        return "no"
    return (
        f"no: the value decides the computation (guards=False traced at {w['traced_at']}, "
        f"called at {w['called_at']}: {_cell(w['jittrace_no_guards'])})"
    )


def _kinds(row: dict[str, Any]) -> str:
    counts = Counter(g["kind"] for g in row.get("guards", []))
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "—"


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    done = [r for r in rows if "skipped" not in r and "guards" in r]
    timed = [r for r in done if "trace_time_s" in r]
    ours = sum(r["trace_time_s"]["jittrace"] for r in timed)
    theirs = sum(r["trace_time_s"]["torch_jit_trace"] for r in timed)
    unguarded = sum(r["trace_time_s"]["jittrace_no_guards"] for r in timed)
    guarded_latency = [
        r["latency_s"]["jittrace"] / r["latency_s"]["jittrace_no_guards"]
        for r in done
        if "latency_s" in r and r["guards_eval"]
    ]
    return {
        "models": len(rows),
        "traced": len(done),
        "skipped": len(rows) - len(done),
        "with_guards": sum(bool(r["guards"]) for r in done),
        "guards_fired": sum(r["jittrace"]["result"] == "guard" for r in done),
        "false_alarms": [r["name"] for r in done if r["false_alarm"]],
        # Raised where the unguarded trace happened to be right at the other size, on a value
        # shown to decide the computation at a witness size: not false alarms, but said.
        "right_by_chance": [r["name"] for r in done if r.get("witness") and not r["false_alarm"]],
        "torch_jit_trace_wrong": [
            r["name"] for r in done if r.get("torch_jit_trace", {}).get("result") == "wrong"
        ],
        "jittrace_wrong": [r["name"] for r in done if r["jittrace"]["result"] == "wrong"],
        "jittrace_wrong_at_traced_size": [
            r["name"] for r in done if r["jittrace_traced_size"]["result"] != "correct"
        ],
        "trace_time_models": len(timed),
        "trace_time_jittrace_s": ours,
        "trace_time_torch_jit_trace_s": theirs,
        "trace_time_ratio": ours / theirs if theirs else None,
        "trace_time_jittrace_no_guards_s": unguarded,
        "trace_time_ratio_no_guards": unguarded / theirs if theirs else None,
        "trace_time_ratio_median": statistics.median(
            [r["trace_time_s"]["jittrace"] / r["trace_time_s"]["torch_jit_trace"] for r in timed]
        )
        if timed
        else None,
        "guarded_latency_ratios": guarded_latency,
    }


def markdown(data: dict[str, Any]) -> str:
    rows = data["rows"]
    s = summary(rows)  # from the rows: a table remade from an older run gets today's summary
    v = data["versions"]
    lines = [
        "# Guards on real architectures",
        "",
        "Made by `make bench-models` (`python -m benchmarks.realmodels`; about "
        f"{data['duration_s'] / 60:.0f} minutes on {data['machine']['cores']} cores), "
        f"{data['created'][:10]}: torch {v['torch']}, transformers {v['transformers']}, "
        f"jittrace {v['jittrace']} ({v['jittrace_commit']}).",
        "",
        "Each model is built from a tiny config with random weights (no downloads), put in eval "
        "mode, traced at one input size and called at another: text models at batch 2 × 8 "
        "tokens (one row padded) and then 3 × 13 (two rows padded, differently), images at "
        "2 × 32 × 32 and then 3 × 64 × 64 where the model takes other resolutions (else "
        "3 × 32 × 32), audio at 2 × 1600 samples and then 3 × 2400, each with other padding. "
        "A wrapper passes the tensors by name and returns the first output (`last_hidden_state` "
        "or logits), so both tracers trace the same thing. Outputs are compared with eager "
        f"(`allclose`, rtol {RTOL}, atol {ATOL}).",
        "",
        "## Summary",
        "",
        f"- Models: {s['models']} ({s['traced']} traced, {s['skipped']} could not be built or "
        "run eagerly).",
        f"- With at least one guard: {s['with_guards']}; a guard raised at the other size: "
        f"{s['guards_fired']}.",
        f"- False alarms (a guard raised where the unguarded trace was correct): "
        f"{len(s['false_alarms'])}{': ' + ', '.join(s['false_alarms']) if s['false_alarms'] else ''}."
        + (
            f" A guard also raised where the unguarded trace happened to be right at that size, "
            f"on a value that decides the computation at another size (the false alarm column "
            f"shows where): {', '.join(s['right_by_chance'])}."
            if s.get("right_by_chance")
            else ""
        ),
        f"- `torch.jit.trace` silently wrong at the other size: {len(s['torch_jit_trace_wrong'])}"
        f"{': ' + ', '.join(s['torch_jit_trace_wrong']) if s['torch_jit_trace_wrong'] else ''}; "
        f"jittrace silently wrong: {len(s['jittrace_wrong'])}"
        f"{': ' + ', '.join(s['jittrace_wrong']) if s['jittrace_wrong'] else ''}.",
    ]
    if s["trace_time_ratio"] is not None:
        lines.append(
            f"- Trace time over the {s['trace_time_models']} models: jittrace (both modes, "
            f"guards on) {s['trace_time_jittrace_s']:.2f} s, `torch.jit.trace` (one mode, "
            f"`check_trace=False`) {s['trace_time_torch_jit_trace_s']:.2f} s: ratio "
            f"**{s['trace_time_ratio']:.3f}** (median of the per-model ratios "
            f"{s['trace_time_ratio_median']:.3f}); with `guards=False` "
            f"{s['trace_time_jittrace_no_guards_s']:.2f} s, ratio "
            f"{s['trace_time_ratio_no_guards']:.3f}."
        )
    if s["guarded_latency_ratios"]:
        r = sorted(s["guarded_latency_ratios"])
        lines.append(
            f"- Call latency with guards / `guards=False`, models whose eval trace has guards "
            f"({len(r)}): median {statistics.median(r):.3f}, range {r[0]:.3f} – {r[-1]:.3f}."
        )
    lines += [
        "",
        "## Columns",
        "",
        "- **guards**: guards in the trace, both modes (train + eval), and their kinds "
        "(`jit_trace(model, *inputs, report=True).trace_report.guards`).",
        "- **torch.jit.trace** / **jittrace** / **guards=False**: the eval-mode trace called at "
        "the other size: `correct`, **wrong** (silently; largest difference), `guard` (jittrace "
        "raised: the conversion, the line, the traced value → the value on this call) or "
        "`error` (another exception, for example a shape error inside TorchScript).",
        "- **false alarm**: jittrace raised a guard error where the same trace without guards "
        "was correct.",
        "- **trace ×**: jittrace's trace time (respect_mode=True: train and eval, guards on, "
        "starting in train mode) / `torch.jit.trace(check_trace=False)` of one mode, and in "
        "parentheses the same with `guards=False`; medians of "
        f"{REPEATS} interleaved repeats.",
        "- **call ×**: call latency at the traced size (eval, `no_grad`), with guards / "
        "`guards=False`; median of 9 interleaved samples.",
        "",
        "## Models",
        "",
        "| model | family | traced at → called at | guards | kinds | torch.jit.trace | jittrace "
        "| guards=False | false alarm | trace × | call × | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(
                f"| {r['name']} | {r['family']} | — | — | — | — | — | — | — | — | — | "
                f"skipped: {r['skipped'][:160]} |"
            )
            continue
        tt = r.get("trace_time_s")
        trace_ratio = (
            f"{tt['jittrace'] / tt['torch_jit_trace']:.2f} "
            f"({tt['jittrace_no_guards'] / tt['torch_jit_trace']:.2f})"
            if tt
            else "—"
        )
        lat = r.get("latency_s")
        call_ratio = f"{lat['jittrace'] / lat['jittrace_no_guards']:.3f}" if lat else "—"
        guards = r.get("guards")
        n = "—" if guards is None else f"{len(guards)} ({r['guards_eval']} eval)"
        lines.append(
            f"| {r['name']} | {r['family']} | {r['traced_at']} → {r['called_at']} | {n} | "
            f"{_kinds(r)} | {_cell(r.get('torch_jit_trace'))} | {_cell(r.get('jittrace'))} | "
            f"{_cell(r.get('jittrace_no_guards'))} | {_alarm(r)} "
            f"| {trace_ratio} | {call_ratio} | {r['note']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.realmodels",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these models only")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    parser.add_argument(
        "--no-timing", action="store_true", help="correctness and guards only (no timings)"
    )
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results"), help="JSON output directory"
    )
    parser.add_argument(
        "--md",
        default=str(ROOT / "benchmarks" / "MODELS.md"),
        help="markdown table (default benchmarks/MODELS.md; '' for none)",
    )
    parser.add_argument(
        "--per-worker",
        type=int,
        default=4,
        metavar="N",
        help="models per worker process (default 4; 1 isolates each model)",
    )
    parser.add_argument(
        "--table-from",
        metavar="RUN.json",
        help="write the markdown table of an earlier run's JSON and exit (no measurement)",
    )
    # Internal: how a worker process is started (NAMES, OUT.json, the run's start time).
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    timing = not args.no_timing
    if args.worker:
        name, out, started = args.worker
        return _worker(name, out, timing, float(started))
    if args.table_from:
        Path(args.md).write_text(markdown(json.loads(Path(args.table_from).read_text())))
        return 0
    all_cases = cases()
    if args.list:
        for c in all_cases:
            print(f"{c.name:24s} {c.family:8s} {c.note}")
        return 0
    chosen = all_cases
    if args.only:
        unknown = set(args.only) - {c.name for c in all_cases}
        if unknown:
            parser.error(f"unknown models: {', '.join(sorted(unknown))} (see --list)")
        chosen = [c for c in all_cases if c.name in args.only]
    started = time.perf_counter()
    rows = []
    for i in range(0, len(chosen), args.per_worker):
        for row in _run_chunk(chosen[i : i + args.per_worker], timing, started):
            rows.append(row)
            what = row.get("skipped") or (
                f"{len(row.get('guards', []))} guards; jittrace {row['jittrace']['result']}, "
                f"torch.jit.trace {row.get('torch_jit_trace', {}).get('result')}"
            )
            print(
                f"[{time.perf_counter() - started:6.1f} s] {row['name']}: {what}", file=sys.stderr
            )

    import jittrace

    try:
        import transformers

        hf_version: str | None = transformers.__version__
    except ImportError:
        hf_version = None
    data = {
        "schema": "jittrace-realmodels/1",
        "created": now(),
        "machine": machine_info(),
        "versions": {
            "torch": torch.__version__,
            "transformers": hf_version,
            "jittrace": jittrace.__version__,
            "jittrace_commit": git_commit(ROOT),
        },
        "config": {
            "timing": timing,
            "only": args.only,
            "text": TEXT,
            "image": IMAGE,
            "audio": AUDIO,
            "rtol": RTOL,
            "atol": ATOL,
        },
        "duration_s": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    data["summary"] = summary(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"realmodels-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=1))
    table = markdown(data)
    if args.md:
        Path(args.md).write_text(table)
    print(json.dumps(data["summary"], indent=1))
    print(
        f"wrote {path}{' and ' + args.md if args.md else ''} ({data['duration_s']} s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
