"""What jittrace puts on torch's classes while it traces, put there and taken away in one place.

Three parts of a trace see what the traced code does through attributes of torch's classes:

- the guards (_guards): ``torch.Tensor``'s conversions to Python (``__bool__``, ``__int__``,
  ``__float__``, ``__index__``, ``__len__``, ``__iter__``, ``item``, ``tolist``);
- device following (_devices): ``torch.Tensor.device``;
- custom autograd Functions (_functions): ``torch.autograd.Function.apply``.

Each tap acts only on a thread that is inside a jittrace trace and has that part's scope open;
everywhere else it does what torch's own attribute does. They are put on the classes while some
``tapped()`` context is open on any thread, and the classes get back exactly what they held when
the last one closes. Every trace opens one ``tapped()`` for the parts it uses: one lock, and a
C++ call per part that changes the class only for the first trace in and the last one out
(each change invalidates the attribute caches of the class and its subclasses; ``torch.Tensor``
has a dozen).

A tap is made again only when the class's own attribute it replaces changed since it was made
(someone else patched it: the new one is what the tap then calls); an attribute someone replaces
while the taps are in place stays theirs when they go.
"""

from __future__ import annotations

import threading

import torch
from torch.autograd.function import Function

from . import _C, _devices, _functions, _guards

__all__ = ["tapped"]

# Each part's taps, made (by the lambda) from what the class's own __dict__ holds under each
# name (None: inherited) the first time and whenever that changed since. Install and remove run
# in C++ (_C.class_taps: install, remove), counted there: every trace does both.
_GUARDS = _C.class_taps(torch.Tensor, list(_guards.METHODS), lambda cls, before: _guards.taps(cls))
_DEVICES = _C.class_taps(torch.Tensor, ["device"], lambda cls, before: [("device", _devices.TAP)])
_FUNCTIONS = _C.class_taps(
    Function, ["apply"], lambda cls, before: [("apply", _functions.tap(before[0]))]
)
_ALL = (_GUARDS, _DEVICES, _FUNCTIONS)
_NO_GUARDS = (_DEVICES, _FUNCTIONS)

_lock = threading.Lock()


class tapped:  # a context manager named as one used like a function
    """The taps are on torch's classes while this context is open (on any thread): all three
    parts', or without `guards` those of devices and autograd Functions only (a trace with
    ``guards=False`` needs no conversion taps, and each one slows the trace a little). A class
    rather than a generator: every trace enters one."""

    __slots__ = ("parts",)

    def __init__(self, guards: bool = True) -> None:
        self.parts = _ALL if guards else _NO_GUARDS

    def __enter__(self) -> None:
        with _lock:
            done = []
            try:
                for install, remove in self.parts:
                    install()
                    done.append(remove)
            except BaseException:
                for remove in done:
                    remove()
                raise

    def __exit__(self, *exc: object) -> None:
        with _lock:
            for _, remove in self.parts:
                remove()
