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

import threading
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from . import _C
from ._errors import user_location

__all__ = ["TAP", "following_devices"]

# The getset descriptor (from TensorBase: torch.Tensor's own attribute may be the tap below):
# its __get__ is what the mode sees.
_DEVICE = torch._C.TensorBase.__dict__["device"]


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


class _Tap:
    """``torch.Tensor.device`` while jittrace traces (see _taps): reads as the getset
    descriptor does, and the first read on a thread that is tracing puts the mode in place (at
    the bottom of that thread's mode stack, so that modes the traced code enters and leaves
    keep their order). Until then the trace runs without a mode: a TorchFunctionMode sends every
    tensor operator (``a + b``) through torch's Python dispatch, which more than doubles the
    trace of small code; most traces never read a device."""

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        device = _DEVICE.__get__(obj, cls)
        if obj is not None:
            scope: following_devices | None = getattr(_local, "scope", None)
            if scope is not None and scope.mode is None and torch._C._get_tracing_state():
                scope.start()
                assert scope.mode is not None
                scope.mode._sources[id(device)] = (device, obj)
        return device


#: What torch.Tensor.device is while jittrace traces (see _taps).
TAP = _Tap()
_local = threading.local()


class following_devices:  # a context manager named as one used like a function
    """Traces inside this context (on this thread) record devices taken from tensors as those
    tensors' devices; outside a trace the mode only passes calls through. With `stamp`, the
    device constants that stay in the graph are stamped with the user's line, which needs the
    mode from the start; without it the mode starts at the first ``Tensor.device`` read of a
    trace (see _Tap). A class rather than a generator: every trace enters one."""

    __slots__ = ("mode", "outer", "stamp")

    def __init__(self, stamp: bool = False) -> None:
        self.stamp = stamp
        self.mode: _FollowDevices | None = None
        self.outer: following_devices | None = None

    def __enter__(self) -> None:
        if self.stamp:
            self.start()
        self.outer = getattr(_local, "scope", None)  # a trace attempted from traced code
        _local.scope = self

    def __exit__(self, *exc: object) -> None:
        _local.scope = self.outer
        self.stop()

    def start(self) -> None:
        """Puts the mode at the bottom of this thread's torch function mode stack."""
        pop: Any = torch.overrides._pop_mode
        above = [pop() for _ in range(torch._C._len_torch_function_stack())]
        self.mode = _FollowDevices(self.stamp)
        torch.overrides._push_mode(self.mode)  # type: ignore[no-untyped-call]
        for mode in reversed(above):
            torch.overrides._push_mode(mode)  # type: ignore[no-untyped-call]

    def stop(self) -> None:
        """Takes the mode out of the stack, leaving the others as they are."""
        if self.mode is None:
            return
        pop: Any = torch.overrides._pop_mode
        above = []
        while torch._C._len_torch_function_stack():
            mode = pop()
            if mode is self.mode:
                break
            above.append(mode)
        for mode in reversed(above):
            torch.overrides._push_mode(mode)  # type: ignore[no-untyped-call]
        self.mode = None
