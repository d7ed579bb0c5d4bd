"""The exceptions and warnings jittrace raises, and where its warnings point.

Errors raised by the traced code itself pass through unchanged.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

__all__ = [
    "InputError",
    "InternalError",
    "JittraceError",
    "TraceCheckError",
    "TraceError",
    "TraceReportError",
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


class TraceCheckError(TraceError):
    """Eager and traced outputs differ on one of the ``check_inputs``."""


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


def warn_from_caller(message: str, category: type[Warning]) -> None:
    """Issues a warning attributed to the innermost frame outside the jittrace package.

    So ``jit_trace(module)`` and ``jit_trace_module(module)`` both point at the user's line.
    """
    level = 1
    frame = sys._getframe(0)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)
