"""The exceptions and warnings jittrace raises, and where its warnings point.

Errors raised by the traced code itself pass through unchanged.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import torch
from torch.jit._trace import TracingCheckError

__all__ = [
    "InputError",
    "InternalError",
    "JittraceError",
    "TraceCheckError",
    "TraceError",
    "TraceReportError",
    "user_frame",
    "user_location",
    "warn_from_caller",
]


class JittraceError(Exception):
    """Base class of every error jittrace raises itself."""


class InputError(JittraceError, TypeError):
    """The arguments given to jittrace cannot be traced.

    For example a non-tensor example input (the message names its path, such as
    ``example_inputs[1]['mask']``), a name that is not a method of the module, or named
    example inputs.
    """


class TraceError(JittraceError, RuntimeError):
    """The traced code ran, but its trace cannot become TorchScript.

    For example the function returned ``None`` or a number, returned a dict with
    ``strict=True``, or read a tensor that requires grad and is neither an input nor a
    parameter.
    """


class TraceCheckError(TraceError, TracingCheckError):
    """Eager and traced outputs differ on one of the ``check_inputs``.

    Also a ``torch.jit.TracingCheckError``, so code written for ``torch.jit.trace`` catches it.

    Attributes:
        checks: The ``jittrace.CheckResult`` of every output compared before the check
            failed, the failing one included.
        message: The message (``torch.jit.TracingCheckError``'s attribute).
    """

    checks: tuple[Any, ...]
    message: str

    def __init__(self, message: str, checks: tuple[Any, ...] = ()) -> None:
        RuntimeError.__init__(self, message)  # not TracingCheckError's: it builds its own text
        self.message = message
        self.checks = checks


class TraceReportError(TraceError):
    """The trace report has a finding of a kind that ``fail_on`` makes an error.

    The message names the first finding; ``report`` holds them all (a ``TraceReport``).
    """

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report


class InternalError(JittraceError, RuntimeError):
    """A bug in jittrace: one of its own invariants does not hold. Please report it."""


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_TORCH = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep


def user_frame(frame: Any = None) -> Any:
    """The user's frame: the innermost one outside torch, jittrace and the warnings machinery,
    starting from `frame` (default: the caller's); None if there is none."""
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


def warn_from_caller(message: str, category: type[Warning]) -> None:
    """Issues a warning attributed to the user's frame (see user_frame), so that
    ``jit_trace(module)`` and ``jit_trace_module(module)`` both point at the user's line."""
    target = user_frame(sys._getframe(1))
    level = 1
    frame = sys._getframe(0)
    while frame is not None and frame is not target:
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level if target is not None else 2)
