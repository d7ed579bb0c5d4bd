"""Guards: a value the traced code takes from a traced tensor is checked on every call.

Each conversion kind gives eager's answer on the traced path and raises, naming the line and the
values, on another; a trace without conversions is unchanged; guards read parameters at call
time and survive saving, loading and freezing; torch.jit.trace outside ``guarding`` and
torch.Tensor's methods are left exactly as they were. These tests use jittrace's public API
inside ``guarding`` (the pipeline's switch comes with it).
"""

from __future__ import annotations

import inspect
import io
import subprocess
import sys
import threading
import warnings

import jittrace
import pytest
import torch
import torch.nn.functional as F
from jittrace import _guards, jit_trace, jit_trace_module
from jittrace._guards import Guard, guarding
from jittrace._interface import info_of
from jittrace._taps import tapped
from torch import nn

# The traced code here converts tensors on purpose: each conversion warns, as it should.
pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")

LABEL = "forward (eval mode)"
TRACE = ("forward", "eval")  # what describe() gives: the label's method and mode
HERE = __file__


def line_of(fn, text: str) -> str:
    """``file.py:LINE`` of the first line of `fn`'s source that contains `text`."""
    lines, start = inspect.getsourcelines(fn)
    for i, line in enumerate(lines):
        if text in line:
            return f"{HERE}:{start + i}"
    raise AssertionError(f"{text!r} not in {fn.__name__}")


def traced_with_guards(fn, *inputs):
    """`fn` traced with guards, as the pipeline adds them (it settles __index__ conversions)."""
    traced = jit_trace(fn, *inputs)
    return traced, list(info_of(traced).guards)


# ---- One function per conversion kind: (function, inputs on the traced path, inputs that take
# another path, the traced value, the value the other inputs give as TorchScript prints it).


def by_sign(x):
    if x.sum() > 0:
        return x * 2
    return x - 1


def int_of_size(x):
    n = int(x.shape[0])
    return x[: n - 1]


def float_scale(x):
    return x * float(x.max())


def item_scale(x):
    return x * x.max().item()


def item_index(x):
    return x[: x.argmax().item()]


def tolist_indices(x, i):
    return x[i.tolist()]


def tolist_of_a_scalar(x):
    return x * x.sum().tolist()


def len_of(x):
    return x[: len(x) - 1] * 2


def range_of_size(x):
    return torch.stack([x[i] * i for i in range(x.size(0))])


def index_with_tensor(x, i):
    return x * [10.0, 20.0, 30.0][i]


def iterate_rows(x):
    return sum(row * 2 for row in x)


KINDS = [
    (by_sign, (torch.ones(3),), (-torch.ones(3),), "bool", True, "False", "if x.sum() > 0"),
    (int_of_size, (torch.ones(3),), (torch.ones(4),), "int", 3, "4", "int(x.shape[0])"),
    (float_scale, (torch.ones(3),), (2 * torch.ones(3),), "float", 1.0, "2.", "float(x.max())"),
    (item_scale, (torch.ones(3),), (2 * torch.ones(3),), "item", 1.0, "2.", ".item()"),
    (
        item_index,
        (torch.tensor([0.0, 5.0, 1.0]),),
        (torch.tensor([0.0, 1.0, 5.0]),),
        "item",
        1,
        "2",
        ".item()",
    ),
    (
        tolist_indices,
        (torch.ones(4), torch.tensor([0, 2])),
        (torch.ones(4), torch.tensor([1, 2])),
        "tolist",
        [0, 2],
        "[1, 2]",
        ".tolist()",
    ),
    (tolist_of_a_scalar, (torch.ones(3),), (torch.ones(4),), "tolist", 3.0, "4.", ".tolist()"),
    (len_of, (torch.ones(3),), (torch.ones(4),), "len", 3, "4", "len(x)"),
    (range_of_size, (torch.ones(3),), (torch.ones(4),), "index", 3, "4", "range(x.size(0))"),
    (
        index_with_tensor,
        (torch.ones(3), torch.tensor(1)),
        (torch.ones(3), torch.tensor(2)),
        "index",
        1,
        "2",
        "[i]",
    ),
    (iterate_rows, (torch.ones(3, 2),), (torch.ones(4, 2),), "iter", 3, "4", "for row in x"),
]


@pytest.mark.parametrize(
    ("fn", "traced_inputs", "other_inputs", "kind", "value", "actual", "text"),
    KINDS,
    ids=[f"{k[0].__name__}-{k[3]}" for k in KINDS],
)
def test_each_kind_is_guarded(fn, traced_inputs, other_inputs, kind, value, actual, text):
    traced, found = traced_with_guards(fn, *traced_inputs)
    location = line_of(fn, text)
    assert found == [Guard(kind, value, location, fn.__qualname__, None)]
    assert torch.equal(traced(*traced_inputs), fn(*traced_inputs))
    with pytest.raises(torch.jit.Error) as raised:
        traced(*other_inputs)
    message = str(raised.value)
    what, hint = _guards.KINDS[kind]
    assert (
        f"{fn.__qualname__}: {location}: {what} gave {value!r} when traced, but {actual} on "
        in (message)
    )
    assert "Trace this case too (variants)" in message
    assert f"keep the value a tensor ({hint})" in message
    assert "move this code out of the traced code" in message


def test_unguarded_trace_of_the_same_code_is_silently_wrong():
    # What the guard is for: without it, the other input gets the traced branch's answer.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = jit_trace(by_sign, torch.ones(3), guards=False)
    assert torch.equal(traced(-3 * torch.ones(3)), -6 * torch.ones(3))  # eager gives -4
    assert "prim::RaiseException" not in str(traced.graph)


def test_inputs_on_the_traced_path_compute_what_eager_does():
    traced, _ = traced_with_guards(by_sign, torch.ones(3))
    for x in (torch.rand(5) + 0.1, torch.tensor([-1.0, 3.0])):
        assert torch.equal(traced(x), by_sign(x))


def test_a_trace_without_conversions_is_unchanged():
    def plain(x, y):
        return torch.relu(x) * y + x.shape[0]

    x, y = torch.randn(3), torch.randn(3)
    with tapped(), guarding(lambda: TRACE) as found:
        guarded = jit_trace(plain, x, y, guards=False)
    unguarded = jit_trace(plain, x, y)
    assert found == []
    assert str(guarded.graph) == str(unguarded.graph)


def test_a_guard_reads_the_value_where_the_code_converted_it():
    """jittrace builds a trace's guards once libtorch's tracer has returned (its clean-up then
    sees one placeholder per guard, not an If block), each where its conversion was: after the
    in-place change made through a view, which the trace's value of `n` does not show."""

    def through_a_view(x):
        n = (x.sum() * 0).long()
        n.view(()).add_(x.size(0))  # n is len(x) now, changed through a view of it
        return x * int(n)

    traced = jit_trace(through_a_view, torch.ones(5))
    graph = traced.graph
    assert [n.kind() for n in graph.findAllNodes("prim::Print")] == []  # no placeholder left
    kinds = [n.kind() for n in graph.nodes()]
    assert kinds.index("prim::If") > kinds.index("aten::add_")
    assert torch.equal(traced(torch.ones(5)), torch.full((5,), 5.0))  # the traced size: no alarm
    with pytest.raises(torch.jit.Error, match="int\\(\\) of a tensor gave 5 when traced, but 6"):
        traced(torch.ones(6))


class Gate(nn.Module):
    """Branches on its weight: `self.w.sum() > 0` is a guard on a parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))

    def forward(self, x):
        if self.w.sum() > 0:
            return x * 2
        return x - 1


def test_a_guard_on_a_parameter_reads_the_weights_loaded_later():
    with tapped(), guarding(lambda: TRACE) as found:
        traced = jit_trace_module(Gate().eval(), forward=torch.ones(2), guards=False)
    assert [g.kind for g in found] == ["bool", "bool"]  # train and eval mode
    x = torch.ones(2)
    assert torch.equal(traced(x), x * 2)
    traced.load_state_dict({"w": -torch.ones(2)})
    with pytest.raises(torch.jit.Error, match="gave True when traced, but False on this call"):
        traced(x)
    traced.load_state_dict({"w": torch.tensor([2.0, -1.0])})
    assert torch.equal(traced(x), x * 2)


def test_each_mode_has_its_own_guards_with_its_label():
    class ByMode(nn.Module):
        def forward(self, x):
            if self.training:
                return x * int(x.shape[0])
            return x + float(x.sum())

    traced = jit_trace_module(ByMode(), forward=torch.ones(3))  # guards are on by default
    assert {(g.kind, g.label) for g in info_of(traced).guards} == {
        ("int", "forward (train mode)"),
        ("float", "forward (eval mode)"),
    }
    traced.eval()
    with pytest.raises(torch.jit.Error, match=r"forward \(eval mode\): .*float\(\) of a tensor"):
        traced(torch.zeros(3))
    traced.train()
    with pytest.raises(torch.jit.Error, match=r"forward \(train mode\): .*int\(\) of a tensor"):
        traced(torch.zeros(4))


def saved_and_loaded(traced, tmp_path):
    path = tmp_path / "m.pt"
    yield "torch.jit.load", torch.jit.load(io.BytesIO(_torch_jit_bytes(traced)))
    jittrace.save(traced, str(path))
    yield "jittrace.load", jittrace.load(str(path))
    yield "torch.jit.freeze", torch.jit.freeze(traced.eval())


def _torch_jit_bytes(traced) -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    return buffer.getvalue()


def test_guards_survive_saving_loading_and_freezing(tmp_path):
    with tapped(), guarding(lambda: TRACE):
        traced = jit_trace_module(Gate().eval(), forward=torch.ones(2), guards=False)
        function = jit_trace(int_of_size, torch.ones(3), guards=False)
    for how, module in saved_and_loaded(traced, tmp_path):
        assert torch.equal(module(torch.ones(2)), torch.ones(2) * 2), how
        with torch.no_grad():
            for p in module.parameters():
                p.fill_(-1.0)
        if how == "torch.jit.freeze":  # weights are constants now: the guard holds them
            continue
        with pytest.raises(torch.jit.Error, match="but False on this call"):
            module(torch.ones(2))
    buffer = io.BytesIO()
    torch.jit.save(function, buffer)
    loaded = torch.jit.load(io.BytesIO(buffer.getvalue()))
    assert torch.equal(loaded(torch.ones(3)), torch.ones(2))
    with pytest.raises(torch.jit.Error, match="int\\(\\) of a tensor gave 3 when traced, but 5"):
        loaded(torch.ones(5))


def test_freezing_keeps_a_guard_on_the_input():
    class Sized(nn.Module):
        def forward(self, x):
            return x[: len(x) - 1]

    with tapped(), guarding(lambda: TRACE):
        traced = jit_trace_module(Sized().eval(), forward=torch.ones(3), guards=False)
    frozen = torch.jit.freeze(traced.eval())
    assert torch.equal(frozen(torch.arange(3.0)), torch.arange(2.0))
    with pytest.raises(torch.jit.Error, match="len\\(\\) of a tensor gave 3 when traced, but 4"):
        frozen(torch.ones(4))


@pytest.mark.slow
def test_guards_survive_loading_in_cpp(cpp_tests, tmp_path):
    with tapped(), guarding(lambda: TRACE):
        traced = jit_trace(len_of, torch.ones(3), guards=False)
    model, inputs, outputs = tmp_path / "m.pt", tmp_path / "in.pt", tmp_path / "out.pt"
    jittrace.save(traced, str(model))
    run = [str(cpp_tests / "run_model"), str(model), str(inputs), str(outputs)]
    torch.save((torch.ones(3),), str(inputs))
    subprocess.run(run, check=True, capture_output=True)
    assert torch.equal(torch.load(str(outputs))[1], len_of(torch.ones(3)))
    torch.save((torch.ones(4),), str(inputs))
    result = subprocess.run(run, capture_output=True, text=True)
    assert result.returncode != 0
    assert "len() of a tensor gave 3 when traced, but 4 on this call" in result.stderr


def test_values_not_from_the_inputs_get_no_guard():
    def constants(x):
        three = torch.tensor(3)
        if three > 2:  # the same on every call
            x = x * int(three)
        return x + len(torch.ones(2))

    traced, found = traced_with_guards(constants, torch.ones(2))
    assert found == []
    assert torch.equal(traced(torch.ones(5)), constants(torch.ones(5)))
    assert "prim::RaiseException" not in str(traced.graph)


def test_a_conversion_inside_torch_counts_at_the_users_line():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bn = nn.BatchNorm1d(2)

        def forward(self, x):
            return self.bn(x)  # in train mode, F.batch_norm checks the batch size with bool()

    with tapped(), guarding(lambda: TRACE) as found:
        traced = jit_trace_module(
            Net().train(), forward=torch.randn(3, 2), respect_mode=False, guards=False
        )
    assert [(g.kind, g.location) for g in found] == [("bool", line_of(Net.forward, "self.bn(x)"))]
    assert traced(torch.randn(5, 2)).shape == (5, 2)


def test_a_tensor_subclass_conversion_is_guarded_once():
    class Flag(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.on = nn.Parameter(torch.tensor(1.0))  # Parameter is a Tensor subclass

        def forward(self, x):
            return x * 2 if self.on else x

    with tapped(), guarding(lambda: TRACE) as found:
        jit_trace_module(Flag(), forward=torch.ones(1), respect_mode=False, guards=False)
    assert [g.kind for g in found] == ["bool"]


def test_tracer_warnings_keep_the_users_line():
    def run(guarded: bool):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if guarded:
                with tapped(), guarding(lambda: TRACE):
                    jit_trace(len_of, torch.ones(3), guards=False)
            else:
                jit_trace(len_of, torch.ones(3))
        return [(w.category, str(w.message), w.filename, w.lineno) for w in caught]

    plain = run(False)
    assert any(w[2] == HERE for w in plain)  # len() warns at the user's line
    assert run(True) == plain


def _tensor_methods():
    return {name: torch.Tensor.__dict__.get(name, "missing") for name in _guards.METHODS}


def test_torch_jit_trace_outside_guarding_is_unchanged():
    before = _tensor_methods()

    def traced_by_torch():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            traced = torch.jit.trace(by_sign, torch.ones(3), check_trace=False)
        return str(traced.graph), [(str(w.message), w.filename, w.lineno) for w in caught]

    reference = traced_by_torch()
    assert "RaiseException" not in reference[0]
    # Inside a guarding context on another thread, taps in place: this thread's torch.jit.trace
    # is untouched.
    inside, done = threading.Event(), threading.Event()

    def hold():
        with tapped(), guarding(lambda: TRACE):
            inside.set()
            done.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        inside.wait(30)
        assert _tensor_methods() != before  # the taps are in place...
        assert traced_by_torch() == reference  # ...and change nothing here
    finally:
        done.set()
        holder.join()
    assert _tensor_methods() == before
    assert traced_by_torch() == reference


def test_torch_jit_trace_inside_guarding_gets_no_guard_in_another_thread():
    results: list[str] = []

    def torch_trace():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results.append(str(torch.jit.trace(by_sign, torch.ones(3), check_trace=False).graph))

    def slow(x):
        other = threading.Thread(target=torch_trace)
        other.start()
        other.join()
        return by_sign(x)

    traced, found = traced_with_guards(slow, torch.ones(3))
    assert [g.kind for g in found] == ["bool"]
    assert "RaiseException" not in results[0]
    assert "RaiseException" in str(traced.graph)


def test_an_exception_in_the_traced_code_puts_torch_tensor_back():
    before = _tensor_methods()
    bool_before = torch.Tensor.__bool__

    def fails(x):
        if x.sum() > 0:
            raise ValueError("from the traced code")
        return x

    with pytest.raises(ValueError, match="from the traced code"), tapped(), guarding(lambda: TRACE):
        jit_trace(fails, torch.ones(2), guards=False)
    assert _tensor_methods() == before
    assert torch.Tensor.__bool__ is bool_before
    assert "__bool__" not in torch.Tensor.__dict__  # inherited from TensorBase, as before
    # and the next trace works, with its guard
    _, found = traced_with_guards(by_sign, torch.ones(3))
    assert len(found) == 1


def test_a_method_someone_puts_on_torch_tensor_stays_and_is_tapped_next_time():
    """A method of torch.Tensor replaced while the taps are in place stays after they go (the
    others go back), and the next trace taps the new one: its guard still comes, and it still
    runs."""
    before = _tensor_methods()
    original = torch.Tensor.__dict__["__len__"]
    calls = []

    def their_len(self):
        calls.append(1)
        return original(self)

    try:
        with tapped():
            assert torch.Tensor.__dict__["__len__"] is not original
            torch.Tensor.__len__ = their_len
        assert torch.Tensor.__dict__["__len__"] is their_len
        assert {n: m for n, m in _tensor_methods().items() if n != "__len__"} == {
            n: m for n, m in before.items() if n != "__len__"
        }
        traced, found = traced_with_guards(len_of, torch.ones(4))
        assert [g.kind for g in found] == ["len"] and calls
        assert torch.Tensor.__dict__["__len__"] is their_len
        with pytest.raises(torch.jit.Error, match="len\\(\\) of a tensor gave 4"):
            traced(torch.ones(5))
    finally:
        torch.Tensor.__len__ = original
    assert _tensor_methods() == before


def test_nested_contexts_record_in_the_innermost():
    with tapped(), guarding(lambda: ("outer", None)) as outer:
        jit_trace(by_sign, torch.ones(3), guards=False)
        with tapped(), guarding(lambda: ("inner", None)) as inner:
            jit_trace(len_of, torch.ones(3), guards=False)
        jit_trace(int_of_size, torch.ones(3), guards=False)
    assert [(g.kind, g.label) for g in outer] == [("bool", "outer"), ("int", "outer")]
    assert [(g.kind, g.label) for g in inner] == [("len", "inner")]


def test_conversions_outside_a_trace_behave_as_before():
    x = torch.tensor([1.0, 2.0])
    with tapped(), guarding(lambda: TRACE) as found:
        assert bool(x.sum() > 0) is True
        assert len(x) == 2 and int(x[1]) == 2 and float(x[0]) == 1.0
        assert x.tolist() == [1.0, 2.0] and x[0].item() == 1.0
        assert [float(r) for r in x] == [1.0, 2.0] and list(range(torch.tensor(2))) == [0, 1]
    assert found == []


def test_long_traced_values_are_shortened_in_the_message():
    def many(x, i):
        return x[i.tolist()]

    i = torch.arange(40)
    traced, found = traced_with_guards(many, torch.ones(40), i)
    assert found[0].value == list(range(40))  # the record keeps it whole
    shortened = r"gave \[0, 1, 2, 3, 4, 5, 6, 7, \.\.\.\] when traced"
    with pytest.raises(torch.jit.Error, match=shortened):
        traced(torch.ones(40), i.flip(0))


@pytest.mark.parametrize(
    ("kind", "observed", "message", "expected"),
    [
        # The {actual} of a message is the call's value; braces of its own stay as they are.
        ("bool", False, "odd {} and {{x}}: was {actual}!", "odd {} and {{x}}: was True!"),
        ("bool", True, "no placeholder {}", "no placeholder {} (got False)"),
        ("int", 3, "n {actual} {}", "n 4 {}"),
        ("float", 1.5, "f {actual}", "f 2."),
    ],
)
def test_a_guards_message_is_the_text_given_with_the_value_of_the_call(
    kind, observed, message, expected
):
    def convert(x):
        value = {"bool": x.sum() > 0, "int": x.sum(), "float": x.sum()}[kind]
        jittrace._C.guard(value, kind, observed, message)
        return x * 2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(convert, torch.ones(3), check_trace=False)
    x = {
        ("bool", False): torch.ones(1),
        ("bool", True): -torch.ones(1),
        ("int", 3): torch.ones(4),
        ("float", 1.5): torch.full((1,), 2.0),
    }[kind, observed]
    for loaded in (traced, torch.jit.load(io.BytesIO(_torch_jit_bytes(traced)))):
        with pytest.raises(torch.jit.Error) as raised:
            loaded(x)
        assert str(raised.value).splitlines()[-1] == f"RuntimeError: {expected}"


def test_guard_binding_rejects_what_a_conversion_cannot_give():
    with pytest.raises(jittrace.InputError, match="the value observed must be a bool, not Int"):
        jittrace._C.guard(torch.ones(1), "bool", 1, "")
    with pytest.raises(jittrace.InputError, match="unknown conversion 'str'"):
        jittrace._C.guard(torch.ones(1), "str", 1, "")
    with pytest.raises(jittrace.InputError, match="must be a number or a list, not dict"):
        jittrace._C.guard(torch.ones(1), "item", {}, "")
    assert jittrace._C.guard(torch.ones(1), "bool", True, "") is False  # no trace running


def test_interpolate_with_a_scale_needs_no_guard():
    # torch computes the output size with tensor operations while tracing.
    def upsample(x):
        return F.interpolate(x, scale_factor=2.0)

    traced, found = traced_with_guards(upsample, torch.ones(1, 1, 3))
    assert found == []
    assert traced(torch.ones(1, 1, 5)).shape == (1, 1, 10)


def test_guarding_is_importable_without_side_effects():
    # Importing jittrace leaves torch.Tensor as torch made it.
    code = (
        "import torch; before = dict(torch.Tensor.__dict__); import jittrace._guards; "
        "assert dict(torch.Tensor.__dict__) == before"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- Through the public API: on by default, off on request, reported ---------------------------


def test_guards_are_on_by_default_and_off_with_guards_false():
    traced = jit_trace(by_sign, torch.ones(3))
    [guard] = info_of(traced).guards
    assert (guard.kind, guard.value, guard.method, guard.mode) == ("bool", True, "by_sign", None)
    assert guard.location == line_of(by_sign, "if x.sum() > 0")
    with pytest.raises(torch.jit.Error, match=r"by_sign: .*test_guards\.py:\d+: a tensor used"):
        traced(-torch.ones(3))
    plain = jit_trace(by_sign, torch.ones(3), guards=False)
    assert info_of(plain).guards == ()
    assert torch.equal(plain(-3 * torch.ones(3)), -6 * torch.ones(3))  # silently wrong, as torch
    dropin = jittrace.trace(by_sign, torch.ones(3))
    with pytest.raises(torch.jit.Error, match="gave True when traced, but False on this call"):
        dropin(-torch.ones(3))
    assert info_of(jittrace.trace(by_sign, torch.ones(3), guards=False)).guards == ()


def test_each_variant_has_its_own_guards():
    def scaled(x, k: int = 1):
        return x * k if x.sum() > 0 else x

    traced = jit_trace(scaled, torch.ones(2), variants={"k": [1, 2]})
    assert [g.kind for g in info_of(traced).guards] == ["bool", "bool"]
    for k in (1, 2):
        assert torch.equal(traced(torch.ones(2), k), torch.full((2,), float(k)))
        with pytest.raises(torch.jit.Error, match="gave True when traced"):
            traced(-torch.ones(2), k)


def test_the_report_lists_guards_and_fail_on_guards_refuses_them():
    traced = jit_trace(by_sign, torch.ones(3), report=True)
    [guard] = traced.trace_report.guards
    assert guard.kind == "bool"
    assert traced.trace_report.to_dict()["guards"] == [
        {
            "kind": "bool",
            "value": True,
            "location": guard.location,
            "method": "by_sign",
            "mode": None,
        }
    ]
    assert "by_sign: guard at " in str(traced.trace_report)
    with pytest.raises(jittrace.TraceReportError, match=r"fail_on makes an error \(guards\)"):
        jit_trace(by_sign, torch.ones(3), report=jittrace.ReportOptions(fail_on="guards"))
    clean = jit_trace(torch.relu, torch.ones(3), report=jittrace.ReportOptions(fail_on="guards"))
    assert clean.trace_report.guards == ()


def flatten_by_size(x):
    return x.view(int(x.shape[0]), -1)


def test_fail_on_specialized_acts_on_facts_not_candidates():
    def flatten(x):
        return x.view(3, -1)  # a literal 3: a candidate in the graph, which the model fixes

    options = jittrace.ReportOptions(fail_on="specialized")
    traced = jit_trace(flatten, torch.randn(3, 4), report=options)
    assert [s.found_by for s in traced.trace_report.specialized] == ["graph"]
    probing = jittrace.ReportOptions(fail_on="specialized", probe_sizes=True)
    with pytest.raises(jittrace.TraceReportError, match="confirmed by tracing again"):
        jit_trace(flatten_by_size, torch.randn(3, 4), report=probing, guards=False)


def test_slicing_a_tensor_with_a_traced_size_is_traced_not_guarded():
    """x[:, :n] with n a traced size is recorded dynamically by libtorch's tracer (as
    transformers builds position ids): a guard there would fire wrongly at every other size."""
    positions = torch.arange(32).unsqueeze(0)

    def embed(x):
        _batch, length = x.size()
        return x + positions[:, 0:length]

    traced = jit_trace(embed, torch.ones(2, 5))
    assert info_of(traced).guards == ()
    other = torch.ones(3, 9)
    assert torch.equal(traced(other), embed(other))


def test_slicing_several_dims_with_traced_bounds_is_traced_not_guarded():
    """Both bounds of one slice converted before the slice is recorded, the tracer's scalar
    conversions inserted earlier in the graph, a second dim sliced after (GPT-Neo's causal mask:
    bias[:, :, k - q : k, :k]): all recorded dynamically, none guarded."""
    bias = torch.arange(32 * 32.0).view(1, 1, 32, 32)

    def window(q, k):
        q_len, k_len = q.size(-2), k.size(-2)
        return bias[:, :, k_len - q_len : k_len, :k_len] * 2

    traced = jit_trace(window, torch.ones(2, 8, 4), torch.ones(2, 8, 4))
    assert info_of(traced).guards == ()
    for q, k in ((13, 13), (3, 9)):
        other = (torch.ones(2, q, 4), torch.ones(2, k, 4))
        assert torch.equal(traced(*other), window(*other))


def test_range_over_a_traced_size_is_guarded_even_when_the_size_is_also_sliced_with():
    def unrolled(x):
        n = x.size(0)
        total = x[:n].sum()  # traced: no guard for this use
        for i in range(n):  # unrolled: guarded
            total = total + x[i].sum()
        return total

    traced = jit_trace(unrolled, torch.ones(3, 2))
    assert [g.kind for g in info_of(traced).guards] == ["index"]
    with pytest.raises(torch.jit.Error, match="gave 3 when traced, but 4 on this call"):
        traced(torch.ones(4, 2))


def test_guards_survive_optimize_for_inference(tmp_path):
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return x

    fast = jittrace.optimize_for_inference(jit_trace(Gate().eval(), torch.ones(1, 2)))
    jittrace.save(fast, tmp_path / "fast.pt")
    for model in (fast, jittrace.load(tmp_path / "fast.pt")):
        assert model(torch.ones(3, 2)).shape == (3, 2)
        with pytest.raises(torch.jit.Error, match="gave True when traced, but False on this call"):
            model(-torch.ones(1, 2))


def test_the_core_finds_indexing_only_inside_a_trace_and_within_the_window():
    """_C.trace_mark / recorded_by_indexing, which settle() asks: nothing outside a trace; inside
    one, a tensor sliced with right after its mark is recorded, one used later is not."""
    from jittrace import _C

    x = torch.arange(10.0)
    assert _C.trace_mark() is None
    assert _C.recorded_by_indexing([(x, None), (x, 3)], 16) == [False, False]
    seen: list[list[bool]] = []

    def probe(t):
        n = t.size(0)
        mark = _C.trace_mark()
        early = t[:n] * 2  # n is a bound of the slice recorded right after the mark
        late_mark = _C.trace_mark()
        out = early
        for _ in range(20):  # more nodes than the window before anything slices with m
            out = out + 1
        m = t.size(0)
        seen.append(_C.recorded_by_indexing([(n, mark), (m, late_mark), (torch.ones(1), mark)], 16))
        return out + t[:m].sum()

    jit_trace(probe, torch.ones(5), guards=False)
    assert seen == [[True, False, False]]
