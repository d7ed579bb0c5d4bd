"""The trace report: each kind of finding on a small model written to trigger it, the check
figures, fail_on, and what the report leaves alone (no findings on clean code)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import jittrace
import pytest
import torch
from jittrace import ReportOptions, Tolerance, jit_trace, jit_trace_module
from torch import nn

PROBE = ReportOptions(probe_sizes=True)

HERE = Path(__file__).name


def line_of(func, text: str) -> str:
    """``test_report.py:LINE`` of the line of `func`'s source that contains `text`."""
    import inspect

    lines, start = inspect.getsourcelines(func)
    for offset, line in enumerate(lines):
        if text in line:
            return f"{Path(__file__)}:{start + offset}"
    raise AssertionError(f"{text!r} not in {func.__name__}")


def flatten_with_int(x):
    return x.view(int(x.shape[0]), -1)  # int(): a TracerWarning, and size 0 baked in


def flatten_traced(x):
    return x.view(x.shape[0], -1)  # x.shape[0] is traced: nothing baked in


def sums_a_list(x):
    return sum(t.sum() for t in x)  # iterating over a tensor


def makes_on_cpu(x):
    return x + torch.ones(x.shape[-1], device=torch.device("cpu"))  # a named device


def makes_on_default(x):
    return x + torch.zeros(3)  # the default device, baked in as well


class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        return self.drop(self.fc(x)) + torch.rand(1)


class Clean(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return torch.relu(self.fc(x))


class SizeInBranch(nn.Module):
    def forward(self, x):
        if x.shape[1] > 3:  # Python control flow on a size: another graph at another size
            return x * 2
        return x + 1


def test_no_report_unless_asked():
    traced = jit_trace(flatten_traced, torch.randn(3, 4))
    assert not hasattr(traced, "trace_report")


def test_clean_code_has_no_findings():
    traced = jit_trace_module(Clean().eval(), forward=torch.randn(3, 4), report=True)
    report = traced.trace_report
    assert isinstance(report, jittrace.TraceReport)
    assert (report.warnings, report.specialized, report.devices, report.random) == ((), (), (), ())
    assert report.checks == ()
    assert report.findings() == []
    assert str(report) == "no findings"
    assert set(report.timings) == {"trace", "report"}
    assert all(t >= 0 for t in report.timings.values())


def test_tracer_warning_has_its_kind_and_the_users_line():
    with pytest.warns(torch.jit.TracerWarning, match="Python integer"):
        traced = jit_trace(flatten_with_int, torch.randn(3, 4), report=True)
    [warning] = traced.trace_report.warnings
    assert warning.kind == "tensor_to_python"
    assert warning.message.startswith("Converting a tensor to a Python integer")
    assert warning.source == line_of(flatten_with_int, "int(x.shape[0])")
    assert warning.count == 1


def test_warning_inside_torch_points_at_the_users_line():
    """Iterating over a tensor warns inside torch/_tensor.py; the report names our line."""

    with pytest.warns(torch.jit.TracerWarning, match="Iterating over a tensor"):
        traced = jit_trace(sums_a_list, torch.randn(2, 3), report=True)
    kinds = {(w.kind, w.source) for w in traced.trace_report.warnings}
    assert ("iteration", line_of(sums_a_list, "for t in x")) in kinds


def test_warnings_of_both_modes_are_counted_once_per_line():
    class IntView(nn.Module):
        def forward(self, x):
            return x.view(int(x.shape[0]), -1)

    with pytest.warns(torch.jit.TracerWarning):
        traced = jit_trace_module(IntView(), forward=torch.randn(2, 3), report=True)
    [warning] = traced.trace_report.warnings
    assert warning.count == 2  # the train-mode trace and the eval-mode trace


def test_specialised_size_from_the_graph():
    with pytest.warns(torch.jit.TracerWarning):
        traced = jit_trace(flatten_with_int, torch.randn(3, 4), report=True)
    [found] = traced.trace_report.specialized
    assert (found.method, found.input, found.dim, found.size) == ("flatten_with_int", "x", 0, 3)
    assert found.ops == ("aten::view",)
    assert found.found_by == "graph"


def test_traced_sizes_are_not_specialised():
    traced = jit_trace(
        flatten_traced, torch.randn(3, 4), report=jittrace.ReportOptions(probe_sizes=True)
    )
    assert traced.trace_report.specialized == ()
    assert "probe" in traced.trace_report.timings


def test_probe_sizes_finds_what_the_graph_cannot():
    """reshape(int(n) * 4): the graph holds 12, no input size; tracing again with each dim one
    larger finds dim 0, and leaves out dim 1, which the model fixes (Linear(4, 4))."""

    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x).reshape(int(x.shape[0]) * 4)

    x = torch.randn(3, 4)
    with pytest.warns(torch.jit.TracerWarning):
        from_graph = jit_trace_module(Fixed(), forward=x, report=True).trace_report
    assert from_graph.specialized == ()
    with pytest.warns(torch.jit.TracerWarning):
        probed = jit_trace_module(Fixed(), forward=x, report=PROBE).trace_report
    [found] = probed.specialized
    assert (found.input, found.dim, found.size, found.found_by) == ("x", 0, 3, "retrace")
    assert found.ops == ("aten::reshape",)


def test_probe_sizes_drops_graph_candidates_the_model_fixes():
    """view(x.shape[0], 4) on a (3, 4) input: from the graph dim 1 looks baked in (the 4); the
    model cannot take another size there, so probing leaves it out."""

    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x).view(x.shape[0], 4)

    x = torch.randn(3, 4)
    from_graph = jit_trace_module(Fixed(), forward=x, report=True).trace_report
    assert [(s.input, s.dim, s.ops) for s in from_graph.specialized] == [("x", 1, ("aten::view",))]
    assert jit_trace_module(Fixed(), forward=x, report=PROBE).trace_report.specialized == ()


def test_probe_sizes_finds_control_flow_on_a_size():
    with pytest.warns(torch.jit.TracerWarning, match="Python boolean"):
        traced = jit_trace_module(
            SizeInBranch(), forward=torch.randn(2, 3), respect_mode=False, report=PROBE
        )
    found = {(s.input, s.dim): s.ops for s in traced.trace_report.specialized}
    assert found == {("x", 1): ("<graph structure>",)}


def test_nested_and_keyword_inputs_are_named_by_path():
    def pick(batch, *, scale):
        return batch["x"].view(int(batch["x"].shape[0]), -1) * scale

    with pytest.warns(torch.jit.TracerWarning):
        traced = jit_trace(
            pick,
            {"x": torch.randn(5, 2)},
            example_kwarg_inputs={"scale": torch.ones(1)},
            report=True,
        )
    assert [(s.input, s.dim) for s in traced.trace_report.specialized] == [("batch['x']", 0)]


def test_named_device_is_kept_and_listed_with_its_line():
    traced = jit_trace(makes_on_cpu, torch.randn(2, 3), report=True)
    assert 'torch.device("cpu")' in traced.code
    [device] = traced.trace_report.devices
    assert (device.method, device.op, device.device) == ("makes_on_cpu", "aten::ones", "cpu")
    assert device.source == line_of(makes_on_cpu, "torch.ones")
    assert device.modes == ()


def test_default_device_is_listed_too():
    traced = jit_trace(makes_on_default, torch.randn(3), report=True)
    [device] = traced.trace_report.devices
    assert (device.op, device.device) == ("aten::zeros", "cpu")
    assert device.source == line_of(makes_on_default, "torch.zeros")


def test_random_operations_by_mode():
    traced = jit_trace_module(Noisy(), forward=torch.randn(2, 4), report=True)
    found = {(r.method, r.op): r.modes for r in traced.trace_report.random}
    assert found == {
        ("forward", "aten::dropout"): ("train",),  # dropout draws only in train mode
        ("forward", "aten::rand"): ("train", "eval"),
    }


def test_check_figures_per_method_mode_and_output():
    class TwoOutputs(nn.Module):
        def forward(self, x):
            return x * 2, {"half": x / 2}

    checks = [{"forward": torch.randn(3)}, {"forward": torch.randn(3)}]
    traced = jit_trace_module(
        TwoOutputs(), forward=torch.randn(3), check_inputs=checks, strict=False, report=True
    )
    found = {(c.method, c.mode, c.output): c for c in traced.trace_report.checks}
    assert set(found) == {
        ("forward", mode, path)
        for mode in ("train", "eval")
        for path in ("output[0]", "output[1]['half']")
    }
    for c in found.values():
        assert (c.max_abs_diff, c.max_rel_diff, c.ok, c.inputs) == (0.0, 0.0, True, 2)


def drifting():
    """A function whose eager result drifts by 1e-3 after the first call (the trace's)."""
    calls = []

    def drifts(x):
        calls.append(None)
        return x + (0.0 if len(calls) == 1 else 1e-3)

    return drifts


def test_checks_measure_differences_within_tolerances():
    check = [(torch.full((3,), 2.0),)]
    with pytest.raises(jittrace.TraceCheckError, match=r"\(rtol=1e-05, atol=1e-05\)$"):
        jit_trace(drifting(), torch.ones(3), check_inputs=check)
    traced = jit_trace(
        drifting(),
        torch.ones(3),
        check_inputs=check,
        check_tolerance=jittrace.Tolerance(atol=2e-3, rtol=0.0),
        report=True,
    )
    [c] = traced.trace_report.checks
    assert c.ok
    assert c.max_abs_diff == pytest.approx(1e-3, rel=1e-3)
    assert c.max_rel_diff == pytest.approx(1e-3 / 2.001, rel=1e-3)
    with pytest.raises(jittrace.TraceCheckError, match=r"\(rtol=0.0001, atol=0.0\)$"):
        jit_trace(
            drifting(), torch.ones(3), check_inputs=check, check_tolerance=Tolerance(0.0001, 0.0)
        )
    assert jit_trace(
        drifting(), torch.ones(3), check_inputs=check, check_tolerance=Tolerance(1e-3, 0.0)
    )


def test_check_failure_keeps_the_figures_of_every_output():
    def sign_branch(x):
        return (x * 2 if bool(x.sum() > 0) else x), x + 1

    with pytest.warns(torch.jit.TracerWarning), pytest.raises(jittrace.TraceCheckError) as info:
        jit_trace(sign_branch, torch.ones(2), check_inputs=[(-torch.ones(2),)], check_tolerance=0.5)
    assert str(info.value).endswith("(rtol=0.5, atol=1e-05)")
    checks = {c.output: c for c in info.value.checks}
    assert checks["output[0]"].ok is False
    assert checks["output[0]"].max_abs_diff == 1.0  # -2 traced, -1 eager
    assert checks["output[0]"].max_rel_diff == 1.0
    assert checks["output[1]"].ok is True  # compared too, though output[0] failed first


def test_relative_difference_over_zero_is_infinite_and_null_in_json():
    zeros = torch.zeros(2)
    check = jittrace.CheckResult("f", None, "output", 1.0, math.inf, False)
    as_json = jittrace.TraceReport(checks=(check,)).to_dict()["checks"][0]
    assert as_json["max_rel_diff"] is None and as_json["max_abs_diff"] == 1.0
    from jittrace._check import _differences

    assert _differences(zeros, torch.tensor([0.0, 1.0])) == (1.0, math.inf)
    assert _differences(torch.tensor([2.0, float("nan")]), torch.tensor([3.0, float("nan")])) == (
        1.0,
        0.5,
    )


def test_fail_on_raises_naming_the_first_finding():
    with pytest.warns(torch.jit.TracerWarning), pytest.raises(jittrace.TraceReportError) as info:
        jit_trace(flatten_with_int, torch.randn(3, 4), report=ReportOptions(fail_on="warnings"))
    error = info.value
    assert isinstance(error, jittrace.TraceError)
    assert str(error).startswith(
        "[jit_trace] the trace has 1 finding(s) of a kind that fail_on makes an error (warnings): "
        f"TracerWarning (tensor_to_python) at {line_of(flatten_with_int, 'view(int')}: Converting"
    )
    assert isinstance(error.report, jittrace.TraceReport)
    assert len(error.report.specialized) == 1  # the other kinds are in the report still


def test_fail_on_passes_when_its_kinds_are_clean():
    traced = jit_trace_module(
        Noisy(),
        forward=torch.randn(2, 4),
        report=ReportOptions(fail_on=["warnings", "specialized"]),
    )
    assert traced.trace_report.random  # reported, but not a kind that fails
    with pytest.raises(jittrace.TraceReportError, match=r"\(random\): forward \(train mode\)"):
        jit_trace_module(Noisy(), forward=torch.randn(2, 4), report=ReportOptions(fail_on="random"))
    with pytest.raises(jittrace.TraceReportError, match=r"\(warnings, specialized, devices"):
        jit_trace_module(Noisy(), forward=torch.randn(2, 4), report=ReportOptions(fail_on="all"))


def test_report_as_json_and_text():
    with pytest.warns(torch.jit.TracerWarning):
        traced = jit_trace(
            flatten_with_int, torch.randn(3, 4), report=True, check_inputs=[(torch.randn(3, 5),)]
        )
    report = traced.trace_report
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(data) == {"warnings", "specialized", "devices", "random", "checks", "timings"}
    assert data["specialized"] == [
        {
            "method": "flatten_with_int",
            "input": "x",
            "dim": 0,
            "size": 3,
            "ops": ["aten::view"],
            "found_by": "graph",
        }
    ]
    assert data["checks"] == [
        {
            "method": "flatten_with_int",
            "mode": None,
            "output": "output",
            "max_abs_diff": 0.0,
            "max_rel_diff": 0.0,
            "ok": True,
            "inputs": 1,
            "note": "",
        }
    ]
    text = str(report).splitlines()
    assert (
        text[1] == "flatten_with_int: x.shape[0] = 3 is a constant of aten::view (from the graph)"
    )
    assert text[-1] == "check flatten_with_int output: max abs diff 0, max rel diff 0 (ok)"


def test_the_report_leaves_warnings_as_the_user_would_see_them():
    """Warnings are issued again after the trace, where they came from: torch's own filter
    still hides TracerWarnings raised inside torch, a user's filter still applies."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        jit_trace(flatten_with_int, torch.randn(3, 4), report=True)
    assert [(w.category, Path(w.filename).name) for w in seen] == [(torch.jit.TracerWarning, HERE)]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("ignore")
        jit_trace(flatten_with_int, torch.randn(3, 4), report=True)
    assert seen == []


def test_reports_work_for_the_drop_in_and_for_methods():
    class Two(nn.Module):
        def forward(self, x):
            return x

        def encode(self, x):
            return x + torch.zeros(1)

    traced = jit_trace(Two().encode, torch.randn(2), report=True)
    [device] = traced.trace_report.devices
    assert (device.method, device.modes) == ("encode", ("train", "eval"))
