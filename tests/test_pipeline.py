"""The trace pipeline: one owner, records from the core, a report that only observes, one rule
per job (issue 18)."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import jittrace
import pytest
import torch
from jittrace import _C, _report, jit_trace, jit_trace_module
from jittrace._arguments import is_constant
from jittrace._interface import info_of
from torch import nn

PACKAGE = Path(jittrace.__file__).parent


class TwoMethods(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.drop = nn.Dropout(0.5)

    def forward(self, x, scale: float = 1.0):
        return self.drop(self.fc(x)) * scale

    def encode(self, x):
        return self.fc(x).relu()


def _import_graph_tool():
    """tools/import_graph.py, the command that draws the graph (one reading of imports)."""
    path = Path(__file__).resolve().parent.parent / "tools" / "import_graph.py"
    spec = importlib.util.spec_from_file_location("import_graph", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_import_graph_has_no_cycle():
    tool = _import_graph_tool()
    own = {q.stem for q in PACKAGE.glob("*.py")}
    graph = {p.stem: set().union(*tool.imports(p, own)) for p in PACKAGE.glob("*.py")}
    graph.pop("__init__")
    # Lazy imports count too: a function-level import is how the old cycle was hidden.
    assert tool.cycles(graph) == []
    assert tool.cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]  # the check can fail
    # The report observes finished traces: it never reaches back into the API or the pipeline.
    assert not graph["_report"] & {"_api", "_pipeline", "_compat", "cli"}
    assert graph["_api"] >= {"_pipeline"} and "_report" not in graph["_api"]


def test_no_part_of_the_report_runs_unless_a_report_is_asked_for(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the report ran")

    monkeypatch.setattr(_report, "observe", forbidden)
    monkeypatch.setattr(_report, "recording_warnings", forbidden)
    x = torch.randn(2, 3)
    assert torch.equal(jit_trace(torch.relu, x)(x), torch.relu(x))
    checked = jit_trace_module(TwoMethods().eval(), forward=x, check_inputs=[{"forward": x}])
    assert not hasattr(checked, "trace_report")
    with pytest.raises(AssertionError, match="the report ran"):
        jit_trace(torch.relu, x, report=True)


def test_the_core_records_every_trace_of_a_module():
    x = torch.randn(2, 3)
    traced = jit_trace_module(
        TwoMethods(), forward=x, encode=x, variants={"forward": {"scale": [1.0, 2.0]}}
    )
    traces = info_of(traced).traces
    seen = [(t.method, t.mode, t.variant, t.name, t.output) for t in traces]
    assert seen == [
        ("forward", "train", 0, "trainforward__0", 0),
        ("forward", "train", 1, "trainforward__1", 0),
        ("encode", "train", 0, "trainencode", 0),
        ("forward", "eval", 0, "evalforward__0", 1),
        ("forward", "eval", 1, "evalforward__1", 1),
        ("encode", "eval", 0, "evalencode", 1),
    ]
    for t in traces:  # each record's graph is the graph of the method it names
        assert str(t.graph) == str(getattr(traced._c, t.name).graph)
    # An eval-mode module is traced in eval mode first: its first outputs are eval mode's.
    first = info_of(jit_trace_module(TwoMethods().eval(), forward=x)).traces[0]
    assert (first.mode, first.output) == ("eval", 0)


def test_the_core_records_a_function_trace_and_its_variants():
    def scaled(x, k: int = 1):
        return x * k

    traced = jit_trace(scaled, torch.ones(2), variants={"k": [1, 3]})
    assert [(t.mode, t.variant, t.name) for t in info_of(traced).traces] == [
        (None, 0, "scaled__0"),
        (None, 1, "scaled__1"),
    ]
    plain = info_of(jit_trace(torch.relu, torch.ones(2))).traces
    assert [(t.method, t.mode, t.variant, t.name) for t in plain] == [("relu", None, 0, "relu")]


def test_interfaces_are_built_only_when_read(tmp_path):
    x = torch.randn(3)
    traced = jit_trace(torch.relu, x)
    info = info_of(traced)
    assert info._methods is None  # a plain call needs no interface
    jittrace.save(traced, tmp_path / "relu.pt")
    assert info._methods is not None  # the manifest read it
    record = jittrace.manifest(tmp_path / "relu.pt")["methods"]["forward"]
    assert record["traces"] == [{"mode": None, "variant": 0, "name": "relu"}]


def test_the_manifest_lists_the_traces_of_each_method(tmp_path):
    x = torch.randn(2, 3)
    jittrace.save(jit_trace_module(TwoMethods(), forward=x, encode=x), tmp_path / "m.pt")
    methods = jittrace.manifest(tmp_path / "m.pt")["methods"]
    assert methods["encode"]["traces"] == [
        {"mode": "train", "variant": 0, "name": "trainencode"},
        {"mode": "eval", "variant": 0, "name": "evalencode"},
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], True),
        ({}, True),
        ((), True),
        (([], {}), True),
        ([[], {}], False),  # a list of two types is no example input at all
        ({"a": (1, "b", None)}, True),
        ([torch.ones(1)], False),
        ({"a": torch.ones(1)}, False),
        ((1, torch.ones(1)), False),
        (object(), False),
    ],
)
def test_is_constant_is_the_cores_rule(value, expected):
    assert is_constant(value) is expected
    assert _C.is_constant(value) is expected


@pytest.mark.parametrize("empty", [[], {}, ()], ids=["list", "dict", "tuple"])
def test_an_empty_container_is_a_constant_of_the_trace(empty):
    def f(x, c):
        return x * 2 if len(c) == 0 else x

    traced = jit_trace(f, torch.ones(2), empty)
    assert torch.equal(traced(torch.ones(2), empty), torch.full((2,), 2.0))
    assert len(list(traced.graph.inputs())) == 2  # still an argument, by name too


def test_an_empty_list_is_specialised_not_traced():
    def f(x, c):
        return x * 2 if len(c) == 0 else x

    traced = jit_trace(f, torch.ones(2), [])
    with pytest.raises(torch.jit.Error, match=r"traced for \(c=\[\]\) only"):
        traced(torch.ones(2), [torch.ones(1)])


def test_options_are_one_frozen_object():
    options = jittrace._options.Options.of(
        "jit_trace", {"respect_mode": False, "check_tolerance": 0.5, "report": True}
    )
    assert options.tolerance == jittrace.Tolerance(rtol=0.5)
    assert options.report == jittrace.ReportOptions()
    with pytest.raises(AttributeError):
        options.strict = False  # type: ignore[misc]
    assert jittrace.ReportOptions(fail_on="all").fail_on == frozenset(jittrace._options.KINDS)


def test_a_failed_check_carries_the_figures_of_every_output():
    def sign(x):
        return x * 2 if bool(x.sum() > 0) else x

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        with pytest.raises(jittrace.TraceCheckError) as info:
            jit_trace(sign, torch.ones(2), check_inputs=[(torch.ones(3),), (-torch.ones(2),)])
    assert [(c.output, c.ok, c.inputs) for c in info.value.checks] == [("output", False, 2)]
