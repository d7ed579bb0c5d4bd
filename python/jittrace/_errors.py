"""The exceptions jittrace raises. Errors raised by the traced code itself pass through unchanged."""

from __future__ import annotations

__all__ = ["InputError", "JittraceError", "ModeDispatchWarning", "TraceCheckError", "TraceError"]


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

    For example the function returned ``None`` or a number, or returned a dict with
    ``strict=True``.
    """


class TraceCheckError(TraceError):
    """Eager and traced outputs differ on one of the ``check_inputs``."""


class ModeDispatchWarning(UserWarning):
    """A method's train and eval traces have different signatures, so it dispatches in Python.

    TorchScript gives a method one signature; when, say, train mode returns ``(out, loss)`` and
    eval mode returns ``out``, the traced module keeps ``trainM`` and ``evalM`` and picks one in
    Python. A saved file then has no ``M``.
    """
