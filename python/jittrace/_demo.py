"""`jittrace demo`: a model that behaves differently in train and eval mode, traced by jittrace
and by torch.jit.trace, saved, reloaded, and compared with eager."""

from __future__ import annotations

import copy
import functools
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._api import jit_trace
from ._files import load, save

__all__ = ["DemoNet", "run_demo"]


class DemoNet(nn.Module):
    """A small image classifier whose train and eval modes differ (batch norm, dropout)."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Linear(32, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.dropout(self.features(images).flatten(1)))
        return logits


def _seeded(fn: Callable[[], torch.Tensor]) -> torch.Tensor:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return fn()


def _median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_demo(out_dir: Path, log: Callable[[str], None]) -> tuple[str, bool]:
    """Runs the demo; returns the result table and whether jittrace behaved as promised."""
    torch.manual_seed(0)
    net = DemoNet()
    images = torch.randn(8, 3, 32, 32)
    with torch.no_grad():  # give batch norm some running statistics, as after training
        for _ in range(3):
            net(torch.randn(8, 3, 32, 32) * 2 + 1)

    start = time.perf_counter()
    traced = jit_trace(net, images)
    ours_trace = time.perf_counter() - start
    log(f"traced with jittrace (train and eval mode) in {ours_trace:.3f} s")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = torch.jit.trace(net, images, check_trace=False)
    theirs_trace = time.perf_counter() - start
    log(f"traced with torch.jit.trace in {theirs_trace:.3f} s (train mode only)")

    out_dir.mkdir(parents=True, exist_ok=True)
    ours_path, theirs_path = out_dir / "demo_jittrace.pt", out_dir / "demo_torch_jit_trace.pt"
    save(traced, ours_path)
    ours: torch.jit.ScriptModule = load(ours_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(theirs, str(theirs_path))
        theirs = torch.jit.load(str(theirs_path))
    log(f"saved and reloaded {ours_path} and {theirs_path}")

    # Eager references first, eval before train: a train-mode forward updates batch-norm
    # statistics (of a copy of the eager model here, of each model below).
    reference = copy.deepcopy(net)
    with torch.no_grad():
        expected_eval = reference.eval()(images)
        expected_train = _seeded(lambda: reference.train()(images))
    rows = []
    ok = True
    models: list[tuple[str, nn.Module]] = [
        ("eager", net),
        ("jittrace", ours),
        ("torch.jit.trace", theirs),
    ]
    for name, module in models:
        with torch.no_grad():
            module.eval()
            eval_diff = float((module(images) - expected_eval).abs().max())
            call = _median_seconds(functools.partial(module, images), repeat=50)
            module.train()
            train_diff = float(
                (_seeded(functools.partial(module, images)) - expected_train).abs().max()
            )
        trace_time = {"jittrace": ours_trace, "torch.jit.trace": theirs_trace}.get(name)
        rows.append((name, eval_diff, train_diff, trace_time, call))
        if name == "jittrace":
            ok = eval_diff < 1e-5 and train_diff < 1e-5

    header = ("", "eval vs eager", "train vs eager", "trace time", "call (eval)")
    table = [
        header,
        *(
            (
                name,
                "same" if e < 1e-5 else f"differs by {e:.3g}",
                "same" if t < 1e-5 else f"differs by {t:.3g}",
                "-" if tt is None else f"{tt * 1e3:.1f} ms",
                f"{c * 1e3:.2f} ms",
            )
            for name, e, t, tt, c in rows
        ),
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    summary = (
        "Both files were saved and loaded back. After loading, .train() and .eval() switch the\n"
        "jittrace model between its train-mode trace (batch statistics, dropout) and its\n"
        "eval-mode trace (running statistics, no dropout); the torch.jit.trace model keeps the\n"
        "train mode it was traced in. 'train vs eager' uses one seed for both, so dropout masks\n"
        "agree."
    )
    return "\n".join(lines) + "\n\n" + summary, ok
