"""The taps jittrace puts on torch's classes while it traces (jittrace._taps, _C.class_taps)."""

from __future__ import annotations

import jittrace
import pytest
import torch
from jittrace import _C, _guards, _taps
from jittrace._taps import tapped

NAMES = (*_guards.METHODS, "device")
APPLY = torch.autograd.Function.__dict__["apply"]


def _own(cls, names):
    return {name: cls.__dict__.get(name, "missing") for name in names}


def test_tapped_puts_every_tap_on_and_everything_back():
    tensor_before = _own(torch.Tensor, NAMES)
    with tapped():
        tensor_during = _own(torch.Tensor, NAMES)
        assert all(tensor_during[n] is not tensor_before[n] for n in NAMES)
        assert torch.Tensor.__dict__["device"] is jittrace._devices.TAP
        assert torch.autograd.Function.__dict__["apply"] is not APPLY
        with tapped():  # nested (a trace in traced code): the inner one leaves them on
            pass
        assert _own(torch.Tensor, NAMES) == tensor_during
        x = torch.tensor([1.0, 2.0])  # outside a trace, the taps do what torch's methods do
        assert bool(x.sum() > 0) and len(x) == 2 and int(x[1]) == 2 and x.tolist() == [1.0, 2.0]
        assert x.device == torch.device("cpu") and [float(v) for v in x] == [1.0, 2.0]
    assert _own(torch.Tensor, NAMES) == tensor_before
    assert "device" not in torch.Tensor.__dict__  # TensorBase's descriptor again
    assert torch.autograd.Function.__dict__["apply"] is APPLY


def test_a_trace_without_guards_leaves_the_conversions_alone():
    conversions = _own(torch.Tensor, _guards.METHODS)
    with tapped(guards=False):
        assert _own(torch.Tensor, _guards.METHODS) == conversions
        assert torch.Tensor.__dict__["device"] is jittrace._devices.TAP
        assert torch.autograd.Function.__dict__["apply"] is not APPLY
        with tapped():  # another trace, with guards: its conversions go on, and off after it
            assert _own(torch.Tensor, _guards.METHODS) != conversions
        assert _own(torch.Tensor, _guards.METHODS) == conversions
        assert torch.Tensor.__dict__["device"] is jittrace._devices.TAP
    assert "device" not in torch.Tensor.__dict__
    assert torch.autograd.Function.__dict__["apply"] is APPLY


def test_class_taps_make_again_only_when_the_class_changed():
    class Base:
        def size(self):
            return 1

    made = []

    def make(cls, before):
        made.append(before)
        inner = cls.size
        return [("size", lambda self: inner(self) * 10), ("extra", lambda self: "tapped")]

    install, remove = _C.class_taps(Base, ["size", "extra"], make)
    original = Base.__dict__["size"]
    for _ in range(2):
        install()
        assert Base().size() == 10 and Base().extra() == "tapped"
        remove()
        assert Base.__dict__["size"] is original and "extra" not in Base.__dict__
    assert made == [(original, None)]  # made once, from the class's own attributes
    install()
    install()  # counted: the taps stay until the last remove
    remove()
    assert Base().size() == 10
    remove()
    assert Base.__dict__["size"] is original
    remove()  # one more than installs: nothing to do
    assert Base.__dict__["size"] is original and "extra" not in Base.__dict__

    def theirs(self):
        return 2

    Base.size = theirs  # someone patched it: the next install taps theirs
    install()
    assert Base().size() == 20
    assert made[-1] == (theirs, None)
    Base.extra = lambda self: "mine"  # replaced while tapped: stays after remove
    remove()
    assert Base.__dict__["size"] is theirs and Base().extra() == "mine"


def test_class_taps_refuse_what_they_cannot_do():
    with pytest.raises(jittrace.InputError, match="int is not a class whose attributes"):
        _C.class_taps(int, ["x"], lambda cls, before: [("x", 1)])

    class Plain:
        pass

    wrong, _ = _C.class_taps(Plain, ["a", "b"], lambda cls, before: [("b", 1), ("a", 2)])
    with pytest.raises(jittrace.InputError, match="a \\(name, tap\\) pair for each name"):
        wrong()
    short, remove = _C.class_taps(Plain, ["a", "b"], lambda cls, before: [("a", 1)])
    with pytest.raises(jittrace.InputError, match="a \\(name, tap\\) pair for each name"):
        short()
    assert "a" not in Plain.__dict__ and "b" not in Plain.__dict__
    remove()  # never made: nothing to put back
    assert "a" not in Plain.__dict__


def test_a_failing_install_leaves_no_tap_and_the_next_trace_works(monkeypatch):
    tensor_before = _own(torch.Tensor, NAMES)

    class Target:
        pass

    good = _C.class_taps(Target, ["mark"], lambda cls, before: [("mark", "tapped")])

    def fail(cls, before):
        raise RuntimeError("cannot make this tap")

    monkeypatch.setattr(_taps, "_ALL", (good, _C.class_taps(Target, ["other"], fail)))
    with pytest.raises(RuntimeError, match="cannot make this tap"), tapped():
        pass
    assert "mark" not in Target.__dict__
    good[0]()  # its count went back to 0: the next install puts the tap on again
    assert Target.__dict__["mark"] == "tapped"
    good[1]()
    assert "mark" not in Target.__dict__
    monkeypatch.undo()
    with pytest.warns(torch.jit.TracerWarning, match="Python boolean"):
        traced = jittrace.jit_trace(lambda x: x * 2 if x.sum() > 0 else x, torch.ones(2))
    assert torch.equal(traced(torch.ones(2)), torch.full((2,), 2.0))
    with pytest.raises(torch.jit.Error, match="gave True when traced"):
        traced(-torch.ones(2))
    assert _own(torch.Tensor, NAMES) == tensor_before


def test_class_taps_do_what_setattr_and_delattr_do():
    """After the first time of a name, the taps skip type.__setattr__'s slot update when that
    would change no slot, so each change must still show on instances of subclasses, in code
    the interpreter specialized."""

    class Base:
        def __len__(self):
            return 1

    class Sub(Base):
        pass

    def size(obj):  # called often enough to be specialized
        return len(obj), obj.__len__()

    current = [0]
    install, remove = _C.class_taps(
        Base, ["__len__"], lambda cls, before: [("__len__", lambda self: current[0])]
    )
    original = Base.__dict__["__len__"]
    obj = Sub()
    for n in range(2, 6):
        assert size(obj) == (1, 1)
        current[0] = n
        install()
        assert [size(obj) for _ in range(50)][-1] == (n, n)
        remove()
    assert Base.__dict__["__len__"] is original

    class Plain:  # no __len__: setting one changes the class's slot, every time
        pass

    install, remove = _C.class_taps(
        Plain, ["__len__"], lambda cls, before: [("__len__", lambda self: current[0])]
    )
    for n in range(3):
        current[0] = n
        install()
        assert len(Plain()) == n
        remove()  # deletes: Plain had none
        assert "__len__" not in Plain.__dict__
        with pytest.raises(TypeError, match="has no len"):
            len(Plain())

    # A class whose base may change takes type.__setattr__ every time: deleting its tap after
    # its base lost __len__ must leave it without len(), as delattr does.
    class Mutable:
        def __len__(self):
            return 1

    class Child(Mutable):
        pass

    install, remove = _C.class_taps(
        Child, ["__len__"], lambda cls, before: [("__len__", lambda self: 3)]
    )
    for _ in range(2):  # the second time would take the short way, were Mutable immutable
        install()
        assert len(Child()) == 3
        remove()
        assert len(Child()) == 1
    del Mutable.__len__
    install()
    remove()
    with pytest.raises(TypeError, match="has no len"):
        len(Child())
