"""Modules frozen and optimised for inference, through the core's optimize_for_inference."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import _C
from ._errors import InputError
from ._torchscript import wrap_plain

__all__ = ["optimize_for_inference"]


def optimize_for_inference(
    traced: torch.jit.ScriptModule,
    *,
    methods: Sequence[str] = ("forward",),
    mkldnn: bool = True,
) -> torch.jit.ScriptModule:
    """A copy of a traced module, frozen and optimised for inference in eval mode.

    Parameters and buffers become constants, batch norm is folded into the convolution or
    linear layer before it, and torch's inference passes run (conv-add-relu fusion, MKLDNN
    convolutions, frozen linear transposes). Unlike ``torch.jit.optimize_for_inference``, the
    result saves with ``torch.jit.save`` into a file that ``torch.jit.load`` and C++
    ``torch::jit::load`` accept: weights converted for MKLDNN are stored as ordinary tensors
    and converted when the method runs. This is ``jittrace::optimize_for_inference`` of the
    C++ API. ``traced`` is not changed (its modes are put back if switched).

    Args:
        traced: A module from ``jit_trace_module`` (or ``jit_trace`` of a module), traced in
            both modes or in eval mode; the eval-mode trace is kept. Any other
            ``torch.jit.ScriptModule`` in eval mode works too.
        methods: The methods to keep; all others are dropped.
        mkldnn: Run convolutions through oneDNN (MKLDNN). The file then runs on CPU only;
            turn it off for a file meant for another device.

    Returns:
        A frozen ``torch.jit.ScriptModule`` with only ``methods``, always in eval mode.

    Raises:
        InputError: ``traced`` is not a ScriptModule, a method is not one of its methods, or
            a method was traced in train mode only.

    >>> import torch, jittrace
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8)).eval()
    >>> traced = jittrace.jit_trace_module(net, forward=torch.randn(1, 3, 16, 16))
    >>> fast = jittrace.optimize_for_inference(traced)
    >>> x = torch.randn(2, 3, 16, 16)
    >>> torch.allclose(fast(x), net(x), atol=1e-5)
    True
    """
    api = "optimize_for_inference"
    if not isinstance(traced, torch.jit.ScriptModule):
        raise InputError(
            f"[{api}] traced must be a torch.jit.ScriptModule (a traced module), not "
            f"{type(traced).__name__}; a traced function has no parameters to freeze"
        )
    if isinstance(methods, str) or not all(isinstance(m, str) for m in methods):
        raise InputError(f"[{api}] methods must be a list of method names, not {methods!r}")
    if not isinstance(mkldnn, bool):
        raise InputError(f"[{api}] mkldnn must be True or False, not {mkldnn!r}")
    return wrap_plain(_C.optimize_for_inference(traced._c, list(methods), mkldnn))
