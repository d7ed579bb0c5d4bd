"""Devices that follow an input: ``torch.zeros(n, device=x.device)`` traced as ``x``'s device.

libtorch's tracer does not record ``x.device``: it sees the device object it returns and bakes
it into the graph as a constant, so a model traced on CPU makes CPU tensors on any device.
While jittrace traces, a TorchFunctionMode notes which device objects came from which tensor
(``Tensor.device`` dispatches to modes), and every call runs through the core, which rewrites
the device constants the call records that equal the device of a tensor it was given the
device of (``torch.zeros``, ``torch.arange``, ``x.new_zeros``, ``y.to(...)``, any other) into
``prim::device`` of that tensor. Any other device constant (``torch.device("cpu")`` written in
the code, or the default device of ``torch.ones(3)``) stays, stamped with the user's line for
the trace report.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from . import _C

__all__ = ["following_devices", "user_frame", "user_location"]

_DEVICE = torch.Tensor.device  # the getset descriptor: its __get__ is what the mode sees
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_TORCH = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep


def user_frame(frame: Any = None) -> Any:
    """The innermost frame outside torch, jittrace and the warnings machinery, starting from
    `frame` (default: the caller's); None if there is none."""
    frame = frame if frame is not None else sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (
            filename.startswith((_PACKAGE, _TORCH))
            or filename.endswith(f"{os.sep}warnings.py")
            or filename.startswith("<frozen ")
        ):
            return frame
        frame = frame.f_back
    return None


def user_location(frame: Any = None) -> str:
    """``file.py:LINE`` of user_frame(`frame`); empty if there is none."""
    found = user_frame(frame if frame is not None else sys._getframe(1))
    return "" if found is None else f"{found.f_code.co_filename}:{found.f_lineno}"


class _FollowDevices(TorchFunctionMode):
    """The mode. Its ``__torch_function__`` is the binding's ``devices_torch_function``, which
    adds no Python frame (a frame of ours would be the innermost one while traced code runs,
    and TracerWarnings and recorded source locations would point at it)."""

    __torch_function__ = _C.devices_torch_function

    def __init__(self, stamp: bool) -> None:
        super().__init__()
        # Whether device constants kept in the graph get the user's line (for the report):
        # that looks at every call; without it, only calls given a device taken from a tensor
        # leave the fast path.
        self._stamp = stamp
        # Instance attributes, read by the binding: a class attribute would be bound (the
        # descriptor) or become a method (the function).
        self._device_descriptor = _DEVICE
        self._device_type = torch.device
        self._user_location = user_location
        # id(device) -> (device, the tensor it came from); the device is kept so its id stays
        # unique while the trace runs.
        self._sources: dict[int, tuple[torch.device, torch.Tensor]] = {}


@contextlib.contextmanager
def following_devices(stamp: bool = False) -> Iterator[None]:
    """Traces inside this context (on this thread) record devices taken from tensors as those
    tensors' devices; outside a trace the mode only passes calls through. With `stamp`, the
    device constants that stay in the graph are stamped with the user's line."""
    with _FollowDevices(stamp):
        yield
