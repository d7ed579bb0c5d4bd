"""Models shared by several test files."""

from __future__ import annotations

from torch import nn


def mnist_like() -> nn.Sequential:
    """R torch's MNIST test network, scaled down: conv, pooling, dropout, linear, log-softmax."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(16 * 12 * 12, 32),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(32, 10),
        nn.LogSoftmax(dim=1),
    )
