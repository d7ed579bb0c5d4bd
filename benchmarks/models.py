"""The models the suite traces, each with an example input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

__all__ = [
    "FlagScale",
    "Model",
    "Pair",
    "big_mlp",
    "pair_namedtuple",
    "pair_tuple",
    "transformer",
    "zoo",
]


@dataclass
class Model:
    name: str
    build: Callable[[], Any]  # an nn.Module or a function
    inputs: Callable[[], tuple[Any, ...]]
    description: str
    function: bool = False  # a plain function rather than an nn.Module
    # Keyword example inputs (jittrace's `example_kwarg_inputs`). Such models are traced as users
    # call them and are measured for trace time only.
    kwarg_inputs: Callable[[], dict[str, Any]] | None = None
    # What torch.jit.trace traces instead of the model, given it: a wrapper taking the keyword
    # inputs as positional arguments after `inputs` and returning a tuple.
    torch_wrapper: Callable[[nn.Module], nn.Module] | None = None


def relu(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x)


def relu_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A two-argument function whose trace is mostly fixed cost: binding, names, the tracer."""
    return torch.relu(a) + b * 2


class Pair(NamedTuple):
    relu: torch.Tensor
    double: torch.Tensor


def pair_namedtuple(x: torch.Tensor) -> Pair:
    """Returns a namedtuple: jittrace rebuilds it from TorchScript's tuple on every call."""
    return Pair(torch.relu(x), x * 2)


def pair_tuple(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pair_namedtuple returning a plain tuple (no Python wrapper around the traced call)."""
    return torch.relu(x), x * 2


class FlagScale(nn.Module):
    """Linear + Dropout and a bool argument choosing the scale: the same work for either value,
    so a trace taking the flag and one without it differ only in the argument and its dispatch."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(16, 16)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, flag: bool = False) -> torch.Tensor:
        y = self.dropout(self.linear(x))
        return y * 2 if flag else y * 3


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(256, 512),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(512, 10),
    )


def convnet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(64 * 8 * 8, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


class LSTMClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(64, 128, num_layers=2, batch_first=True, dropout=0.2)
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def transformer(layers: int = 6, d_model: int = 256) -> nn.Module:
    layer = nn.TransformerEncoderLayer(d_model=d_model, nhead=8, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)


def big_mlp() -> nn.Module:
    """An MLP with 268 MB of float32 parameters, for peak memory while tracing."""
    return nn.Sequential(*(nn.Sequential(nn.Linear(4096, 4096), nn.ReLU()) for _ in range(4)))


def _hf_models() -> list[Model]:
    try:
        import transformers
    except ImportError:
        return []
    # The tiny configs draw warnings about their token ids (harmless here) in every worker.
    transformers.logging.set_verbosity_error()

    class Logits(nn.Module):
        """A language model's logits only (its output object is not a tensor structure)."""

        def __init__(self, model: nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, use_cache=False).logits

    def gpt2() -> nn.Module:
        config = transformers.GPT2Config(
            n_layer=2, n_head=4, n_embd=128, vocab_size=1000, n_positions=128
        )
        return Logits(transformers.GPT2LMHeadModel(config))

    def bert_config(return_dict: bool) -> Any:
        return transformers.BertConfig(
            num_hidden_layers=2,
            num_attention_heads=4,
            hidden_size=128,
            intermediate_size=256,
            vocab_size=1000,
            return_dict=return_dict,
        )

    def bert() -> nn.Module:
        return transformers.BertModel(bert_config(return_dict=False), add_pooling_layer=True)

    def bert_as_is() -> nn.Module:
        return transformers.BertModel(bert_config(return_dict=True), add_pooling_layer=True)

    class TupleOutput(nn.Module):
        """What torch.jit.trace needs: the mask as a positional input, a tuple as the output."""

        def __init__(self, model: nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor
        ) -> tuple[torch.Tensor, ...]:
            return self.model(input_ids, attention_mask=attention_mask, return_dict=False)

    def mask() -> dict[str, Any]:
        attention_mask = torch.ones(4, 32, dtype=torch.long)
        attention_mask[:2, 24:] = 0  # two padded sequences
        return {"attention_mask": attention_mask}

    tokens = lambda: (torch.randint(0, 1000, (4, 32)),)  # noqa: E731
    return [
        Model("hf_gpt2_tiny", gpt2, tokens, "transformers GPT-2, 2 layers, d=128 (tied weights)"),
        Model("hf_bert_tiny", bert, tokens, "transformers BERT, 2 layers, d=128"),
        Model(
            "hf_bert_tiny_as_is",
            bert_as_is,
            tokens,
            "hf_bert_tiny as users call it: attention_mask keyword, return_dict=True (a "
            "ModelOutput); torch.jit.trace gets it wrapped to return a tuple",
            kwarg_inputs=mask,
            torch_wrapper=TupleOutput,
        ),
    ]


def zoo() -> list[Model]:
    return [
        Model(
            "relu",
            lambda: relu,
            lambda: (torch.randn(64, 256),),
            "torch.relu as a function",
            function=True,
        ),
        Model(
            "relu_add",
            lambda: relu_add,
            lambda: (torch.randn(8), torch.randn(8)),
            "relu(a) + b * 2 as a function, 8 elements",
            function=True,
        ),
        Model(
            "mlp",
            mlp,
            lambda: (torch.randn(64, 256),),
            "3 Linear + ReLU + Dropout",
        ),
        Model(
            "convnet",
            convnet,
            lambda: (torch.randn(16, 3, 32, 32),),
            "2 conv + BatchNorm + Dropout + 2 Linear",
        ),
        Model("lstm", LSTMClassifier, lambda: (torch.randn(8, 20, 64),), "2-layer LSTM + Linear"),
        Model(
            "transformer6",
            transformer,
            lambda: (torch.randn(8, 32, 256),),
            "nn.TransformerEncoder, 6 layers, d_model 256",
        ),
        *_hf_models(),
    ]
