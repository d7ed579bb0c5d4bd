"""The jittrace command line: arguments, messages and exit codes in-process through
``jittrace.cli.main``, and a few end-to-end runs of the installed console script."""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jittrace
import pytest
import torch
from jittrace import cli

JITTRACE = str(Path(sys.executable).parent / "jittrace")

MODELS = textwrap.dedent(
    """
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.fc = nn.Linear(8, 4)
            self.bn = nn.BatchNorm1d(4)
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            return self.drop(self.bn(self.fc(x)))

        def encode(self, x):
            return self.fc(x)

    def build():
        return Net()

    def double(x, y):
        return x * 2 + y

    def as_dict(x):
        return {"double": x * 2}

    def returns_none(x):
        return None

    def raises(x):
        raise ValueError("bad input\\nsecond line")

    class Branchy(nn.Module):
        def forward(self, x):
            return x * 2 if bool(x.sum() > 0) else x

    instance = Net()
    not_a_model = 42

    class Plain:
        pass

    def returns_number():
        return 3
    """
)


@dataclass
class Result:
    code: int
    out: str
    err: str  # with the stage timings (" ... 0.03 s") cut to " ... s"


def _untimed(text: str) -> str:
    return re.sub(r" \.\.\. \d+\.\d\d s$", " ... s", text, flags=re.MULTILINE)


@pytest.fixture(autouse=True)
def _keep_the_global_generator():
    """models.py's Net() and the demo seed torch's global generator; restore it after each test."""
    with torch.random.fork_rng(devices=[]):
        yield


@pytest.fixture
def models(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


@pytest.fixture
def eager(models: Path) -> dict[str, Any]:
    """The namespace of models.py, for eager references."""
    return runpy.run_path(str(models))


@pytest.fixture
def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., Result]:
    """Runs `jittrace ARGS` in this process, in tmp_path (beside models.py)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps usage and help to the terminal width

    def run(*args: str | Path) -> Result:
        capsys.readouterr()
        code = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(code, out, _untimed(err))

    return run


def seeded(fn: Callable[..., Any], *args: Any) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        return fn(*args)


def loaded_methods(path: Path) -> list[str]:
    return sorted(torch.jit.load(str(path))._c._method_names())


# ---- tracing -----------------------------------------------------------------------------------


def _stages(target: str, label: str, verified: list[str], check: str = "") -> str:
    return "".join(
        [
            f"loading {target} ... s\n",
            "building the model ... s\n",
            f"tracing {label} ... s\n",
            check,
            "saving out.pt ... s\n",
            "reloading out.pt ... s\n",
            *(f"verifying {v} against eager ... s\n" for v in verified),
        ]
    )


@pytest.mark.parametrize(
    ("target", "options", "build", "summary", "stderr", "methods", "checked"),
    [
        pytest.param(
            "models.py:Net",
            "--input torch.randn(5,8) --check torch.randn(7,8)",
            lambda ns: ns["Net"](),
            "forward traced in train and eval mode, starts in eval mode",
            _stages(
                "models.py:Net",
                "forward [train+eval]",
                ["forward [eval]", "forward [train]"],
                check="checked 1 further input(s) against eager: same outputs\n",
            ),
            ["evalforward", "forward", "trainforward"],
            [("eval", "forward"), ("train", "forward")],
            id="class-from-file",
        ),
        pytest.param(
            "models.py:build",
            "--mode eval --method forward=(torch.randn(3,8),) --method encode=torch.randn(3,8) -q",
            lambda ns: ns["build"]().eval(),
            "forward, encode traced in eval mode, starts in eval mode",
            "",  # --quiet
            ["encode", "forward"],
            [("eval", "forward"), ("eval", "encode")],
            id="factory-two-methods-eval-quiet",
        ),
        pytest.param(
            "models.py:instance",
            "--mode train --input torch.randn(2,8)",
            lambda ns: ns["instance"],
            "forward traced in train mode, starts in train mode",
            _stages("models.py:instance", "forward [train]", ["forward [train]"]),
            ["forward"],
            [("train", "forward")],
            id="instance-train",
        ),
        pytest.param(
            "torch.nn:ReLU",
            "--input torch.randn(3)",
            lambda ns: torch.nn.ReLU(),
            "forward traced in train and eval mode, starts in eval mode",
            _stages("torch.nn:ReLU", "forward [train+eval]", ["forward [eval]", "forward [train]"]),
            ["evalforward", "forward", "trainforward"],
            [("eval", "forward"), ("train", "forward")],
            id="class-from-package",
        ),
    ],
)
def test_trace_a_module_saves_a_file_that_matches_eager(
    run_cli, eager, tmp_path, target, options, build, summary, stderr, methods, checked
):
    result = run_cli("trace", target, "-o", "out.pt", *options.split())
    assert result.code == 0, result.err
    out = tmp_path / "out.pt"
    size = out.stat().st_size / 1024
    assert result.out == (
        f"saved out.pt ({size:.1f} KB): {summary}; reloaded and verified against eager\n"
    )
    assert result.err == stderr
    assert loaded_methods(out) == methods

    loaded = torch.jit.load(str(out))
    assert loaded.training == summary.endswith("starts in train mode")
    model = build(eager)
    x = torch.randn(6, 8)  # not the example input's shape
    for mode, name in checked:  # eval first: a train-mode forward updates batch-norm statistics
        model.train(mode == "train")
        loaded.train(mode == "train")
        expected = seeded(getattr(model, name), x)
        assert torch.allclose(seeded(getattr(loaded, name), x), expected), (mode, name)


@pytest.mark.parametrize(
    ("target", "options", "inputs", "expected"),
    [
        pytest.param(
            "models.py:double",
            "--input torch.ones(2) --input torch.ones(2)",
            (torch.tensor([1.0, -2.0]), torch.tensor([0.5, 0.5])),
            torch.tensor([2.5, -3.5]),
            id="two-arguments",
        ),
        pytest.param(
            "models.py:as_dict",
            "--input torch.ones(2) --no-strict",
            (torch.tensor([1.0, -2.0]),),
            {"double": torch.tensor([2.0, -4.0])},
            id="dict-output-no-strict",
        ),
    ],
)
def test_trace_a_function(run_cli, models, tmp_path, target, options, inputs, expected):
    result = run_cli("trace", target, "-o", "out.pt", *options.split())
    assert result.code == 0, result.err
    size = (tmp_path / "out.pt").stat().st_size / 1024
    assert result.out == (
        f"saved out.pt ({size:.1f} KB): function traced; reloaded and verified against eager\n"
    )
    assert result.err == _stages(target, "forward [function]", ["forward [function]"])
    output = torch.jit.load(str(tmp_path / "out.pt"))(*inputs)
    if isinstance(expected, dict):
        assert list(output) == list(expected)
        assert all(torch.equal(output[k], expected[k]) for k in expected)
    else:
        assert torch.equal(output, expected)


# ---- errors: exit code 2 for bad usage, 1 for a failed trace or check --------------------------


def _after(target: str, *, built: bool) -> str:
    """The progress lines before an error: the target loaded, and the model built."""
    return f"loading {target} ... s\n" + ("building the model ... s\n" if built else "")


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        pytest.param(
            "trace torch.nn:Linear --input torch.ones(1)",
            2,
            _after("torch.nn:Linear", built=False)
            + "jittrace trace: error: torch.nn:Linear is an nn.Module class that cannot be "
            "constructed without arguments (Linear.__init__() missing 2 required positional "
            "arguments: 'in_features' and 'out_features'); point TARGET at an instance or at a "
            "function that builds one\n",
            id="class-needs-arguments",
        ),
        pytest.param(
            "trace models.py:Missing --input torch.ones(1)",
            2,
            "jittrace trace: error: models.py has no attribute 'Missing'\n",
            id="missing-attribute",
        ),
        pytest.param(
            "trace no_such_module_xyz:Net --input torch.ones(1)",
            2,
            "jittrace trace: error: cannot import no_such_module_xyz: ModuleNotFoundError: "
            "No module named 'no_such_module_xyz'\n",
            id="missing-module",
        ),
        pytest.param(
            "trace missing.py:Net --input torch.ones(1)",
            2,
            "jittrace trace: error: missing.py: no such file\n",
            id="missing-file",
        ),
        pytest.param(
            "trace models.py --input torch.ones(1)",
            2,
            "jittrace trace: error: TARGET must be module:attr or path/to/file.py:attr, "
            "not 'models.py'\n",
            id="target-without-attribute",
        ),
        pytest.param(
            "trace models.py:not_a_model --input torch.ones(1)",
            2,
            _after("models.py:not_a_model", built=False)
            + "jittrace trace: error: models.py:not_a_model is an int, not a module or function\n",
            id="not-callable",
        ),
        pytest.param(
            "trace models.py:Plain --input torch.ones(1)",
            2,
            _after("models.py:Plain", built=False)
            + "jittrace trace: error: models.py:Plain is a class but not an nn.Module\n",
            id="class-not-a-module",
        ),
        pytest.param(
            "trace models.py:returns_number --input torch.ones(1)",
            2,
            _after("models.py:returns_number", built=False)
            + "jittrace trace: error: models.py:returns_number takes no arguments, so it was "
            "called as a factory, but it returned an int, not an nn.Module\n",
            id="factory-returns-no-module",
        ),
        pytest.param(
            "trace models.py:Net --input torch.randn(2,",
            2,
            _after("models.py:Net", built=True)
            + "jittrace trace: error: --input 'torch.randn(2,' failed: SyntaxError: "
            "'(' was never closed (<string>, line 1)\n",
            id="input-syntax-error",
        ),
        pytest.param(
            "trace models.py:Net --input undefined_name",
            2,
            _after("models.py:Net", built=True)
            + "jittrace trace: error: --input 'undefined_name' failed: NameError: "
            "name 'undefined_name' is not defined\n",
            id="input-name-error",
        ),
        pytest.param(
            "trace models.py:Net --method forward",
            2,
            _after("models.py:Net", built=True)
            + "jittrace trace: error: --method takes NAME=EXPR, not 'forward'\n",
            id="method-without-inputs",
        ),
        pytest.param(
            "trace models.py:double --method forward=torch.ones(1)",
            2,
            _after("models.py:double", built=True)
            + "jittrace trace: error: --method needs a module TARGET; a function takes --input\n",
            id="method-of-a-function",
        ),
        pytest.param(
            "trace models.py:Net --input torch.ones(1,8) --method forward=torch.ones(1,8)",
            2,
            _after("models.py:Net", built=True)
            + "jittrace trace: error: forward is given twice (by --input and by --method "
            "forward=...)\n",
            id="forward-by-input-and-method",
        ),
        pytest.param(
            "trace models.py:double --input torch.ones(1) --input torch.ones(1) --optimize",
            2,
            _after("models.py:double", built=True)
            + "jittrace trace: error: --optimize needs a module TARGET: a function has no "
            "parameters to freeze\n",
            id="optimize-a-function",
        ),
        pytest.param(
            "trace models.py:Net --input torch.ones(2,8) --mode train --optimize",
            2,
            _after("models.py:Net", built=True)
            + "jittrace trace: error: --optimize writes an eval-mode file: trace with --mode eval "
            "or both\n",
            id="optimize-train-mode",
        ),
        pytest.param(
            "trace models.py:Net --method encode=torch.ones(2,8) --check torch.ones(2,8)",
            2,
            _after("models.py:Net", built=True)
            + "jittrace trace: error: --check applies to forward; trace forward with --input\n",
            id="check-without-forward",
        ),
        pytest.param(
            "trace models.py:returns_none --input torch.ones(1)",
            1,
            _after("models.py:returns_none", built=True)
            + "jittrace trace: failed: TraceError: [jit_trace] the traced function returned None "
            "at output; outputs must be tensors, or tuples, lists and dicts of tensors (Only "
            "tensors, lists, tuples of tensors, or dictionary of tensors can be output from "
            "traced functions)\n",
            id="trace-fails",
        ),
        pytest.param(
            "trace models.py:as_dict --input torch.ones(1)",
            1,
            _after("models.py:as_dict", built=True)
            + "jittrace trace: failed: TraceError: [jit_trace] as_dict returned a dict at output "
            "(Encountering a dict at the output of the tracer); "
            "with strict=True a dict output is refused, since its keys could depend on the "
            "inputs: return a namedtuple or a dataclass (jittrace gives it back as such), or pass "
            "strict=False\n",
            id="dict-output-strict",
        ),
        pytest.param(
            "trace models.py:raises --input torch.ones(1)",
            1,
            _after("models.py:raises", built=True)
            + "jittrace trace: failed: ValueError: bad input\n",  # first line only without -v
            id="traced-code-raises",
        ),
        pytest.param(
            "inspect missing.pt",
            2,
            "jittrace inspect: error: missing.pt: no such file\n",
            id="inspect-missing-file",
        ),
        pytest.param(
            "inspect models.py",
            2,
            "jittrace inspect: error: [load] cannot read 'models.py' as a TorchScript file: "
            "PytorchStreamReader "
            "failed reading zip archive: failed finding central directory. This is an internal "
            "miniz error. If you are seeing this error, there is a high likelihood that your "
            "checkpoint file is corrupted. This can happen if the checkpoint was not saved "
            "properly, was transferred incorrectly, or the file was modified after saving.\n",
            id="inspect-not-torchscript",
        ),
    ],
)
def test_errors_exit_with_one_line(run_cli, models, tmp_path, args, code, stderr):
    args = args.split()
    if args[0] == "trace":
        args += ["-o", "out.pt"]
    result = run_cli(*args)
    assert (result.code, result.out, result.err) == (code, "", stderr)
    assert not (tmp_path / "out.pt").exists()


def test_failing_check_exits_1_before_saving(run_cli, models, tmp_path):
    args = "trace models.py:Branchy -o out.pt --input torch.ones(2) --check=-torch.ones(2)"
    with pytest.warns(torch.jit.TracerWarning, match="Converting a tensor to a Python boolean"):
        result = run_cli(*args.split())
    assert (result.code, result.out) == (1, "")
    assert result.err == _after("models.py:Branchy", built=True) + (
        "jittrace trace: check failed: [jit_trace_module] check_inputs[0]['forward'] "
        "(eval mode): output differs from eager mode: largest absolute difference 1 "
        "(rtol=1e-05, atol=1e-05)\n"
    )
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize(
    ("target", "code", "progress", "raised", "message"),
    [
        (
            "models.py:Missing",
            2,
            "",
            '    raise UsageError(f"{module_part} has no attribute {attr_path!r}")\n'
            "jittrace.cli.UsageError: models.py has no attribute 'Missing'\n",
            "error: models.py has no attribute 'Missing'",
        ),
        (
            "models.py:raises",
            1,
            _after("models.py:raises", built=True),
            '    raise ValueError("bad input\\nsecond line")\nValueError: bad input\nsecond line\n',
            "failed: ValueError: bad input\nsecond line",
        ),
    ],
)
def test_verbose_shows_the_traceback_and_the_whole_message(
    run_cli, models, target, code, progress, raised, message
):
    result = run_cli("trace", target, "-o", "out.pt", "--input", "torch.ones(1)", "-v")
    assert (result.code, result.out) == (code, "")
    before, sep, traceback = result.err.partition("Traceback (most recent call last):\n")
    assert (before, sep) == (progress, "Traceback (most recent call last):\n")
    assert traceback.endswith(f"{raised}jittrace trace: {message}\n")


@pytest.mark.parametrize(
    ("args", "last_line"),
    [
        (
            "trace models.py:Net",
            r"jittrace trace: error: the following arguments are required: -o/--output",
        ),
        (
            "trace models.py:Net -o out.pt --mode sideways",
            # Newer Pythons (3.12.8, 3.13.1) print the choices without quotes.
            r"jittrace trace: error: argument --mode: invalid choice: 'sideways' "
            r"\(choose from '?both'?, '?train'?, '?eval'?\)",
        ),
        (
            "trace models.py:Net -o out.pt --atol=-1",
            r"jittrace trace: error: argument --atol: must be a finite number >= 0, not -1",
        ),
        (
            "trace models.py:Net -o out.pt --rtol nan",
            r"jittrace trace: error: argument --rtol: must be a finite number >= 0, not nan",
        ),
        (
            "trace models.py:Net -o out.pt --fail-on warning",
            r"jittrace trace: error: argument --fail-on: invalid choice: 'warning' \(choose from "
            r"'?warnings'?, '?specialized'?, '?devices'?, '?random'?, '?all'?\)",
        ),
    ],
)
def test_argparse_errors_exit_2_with_the_usage(run_cli, models, args, last_line):
    result = run_cli(*args.split())
    assert (result.code, result.out) == (2, "")
    usage, _, error = result.err.rstrip("\n").rpartition("\n")
    assert usage.startswith("usage: jittrace trace [-h] [-q] [-v] -o OUTPUT [--input EXPR]\n")
    assert usage.endswith("\n                      TARGET")
    assert re.fullmatch(last_line, error)


# ---- inspect -----------------------------------------------------------------------------------


@pytest.fixture
def net_file(run_cli, models, tmp_path) -> Path:
    """models.py:Net traced in both modes into net.pt."""
    assert (
        run_cli("trace", "models.py:Net", "-o", "net.pt", "--input", "torch.randn(5, 8)").code == 0
    )
    return tmp_path / "net.pt"


NET_SUMMARY = r"""net\.pt: (?P<type>__torch__\._jittrace_target_\d+\.Net)
modes: train and eval kept for forward; starts in eval mode
methods:
  trainforward\((?P=type) self, Tensor x\) -> Tensor    \[\d+ nodes\]
  evalforward\((?P=type) self, Tensor x\) -> Tensor    \[\d+ nodes\]
  forward\((?P=type) self, Tensor x\) -> Tensor    \[\d+ nodes\]
parameters: 4 tensors, 44 elements, 176 B
buffers: 3 tensors, 9 elements, 40 B
manifest: traced by jittrace \S+ with torch \S+ \(a module; strict=True, respect_mode=True\)
  forward\(x\): train and eval mode
    returns Tensor
submodules: 3
  fc: Linear
  bn: BatchNorm1d
  drop: Dropout
"""


def test_inspect_json(run_cli, net_file):
    result = run_cli("inspect", "net.pt", "--json")
    assert (result.code, result.err) == (0, "")
    info = json.loads(result.out)
    type_name = info.pop("type")
    assert re.fullmatch(r"__torch__\._jittrace_target_\d+\.Net", type_name)
    methods = info.pop("methods")
    assert list(methods) == ["trainforward", "evalforward", "forward"]
    for name, method in methods.items():
        assert method["schema"] == f"{name}({type_name} self, Tensor x) -> Tensor"
        assert method["graph_nodes"] > 0
    assert info == {
        "training": False,
        "both_modes": ["forward"],
        "parameters": {"count": 4, "elements": 44, "bytes": 176},
        "buffers": {"count": 3, "elements": 9, "bytes": 40},
        "submodules": [
            {"name": "fc", "type": "Linear"},
            {"name": "bn", "type": "BatchNorm1d"},
            {"name": "drop", "type": "Dropout"},
        ],
        "manifest": jittrace.manifest(net_file),
    }


def test_inspect_shows_the_manifest(run_cli, tmp_path):
    from test_files import WithIds

    traced = jittrace.jit_trace(WithIds(), torch.ones(1, 2), variants={"double": [False, True]})
    jittrace.save(traced, tmp_path / "ids.pt", extra_files={"notes.txt": "v1"})
    result = run_cli("inspect", "ids.pt")
    assert (result.code, result.err) == (0, "")
    manifest = result.out.split("\nmanifest: ", 1)[1].split("\nsubmodules:", 1)[0]
    assert manifest.splitlines() == [
        f"traced by jittrace {jittrace.__version__} with torch {torch.__version__} (a module; "
        "strict=True, respect_mode=True)",
        "  forward(x, double=False): train and eval mode",
        "    variants: (double=False), (double=True)",
        "    returns Out(logits=Tensor, hidden=Tensor)",
        "  non-persistent buffers (not in state_dict): ids",
        "  extra files: notes.txt",
    ]


def test_inspect_graph_prints_the_summary_then_the_graph(run_cli, net_file):
    result = run_cli("inspect", "net.pt", "--graph", "evalforward")
    assert (result.code, result.err) == (0, "")
    summary, graph = result.out.split("\ngraph of evalforward:\n")
    assert re.fullmatch(NET_SUMMARY, summary)
    assert graph == f"{torch.jit.load(str(net_file))._c._get_method('evalforward').graph}\n"
    assert "aten::batch_norm" in graph


def test_inspect_graph_of_a_missing_method(run_cli, net_file):
    result = run_cli("inspect", "net.pt", "--graph", "nope")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "jittrace inspect: error: net.pt has no method 'nope'; "
        "methods: trainforward, evalforward, forward\n"
    )


# ---- demo, help, version -----------------------------------------------------------------------


def test_demo_shows_jittrace_keeping_both_modes(run_cli, tmp_path):
    result = run_cli("demo", "-o", "demo")
    assert result.code == 0, result.err
    table, summary = result.out.split("\n\n")
    header, rule, *lines = table.splitlines()
    assert re.split(r"\s{2,}", header.strip()) == [
        "eval vs eager",
        "train vs eager",
        "trace time",
        "call (eval)",
    ]
    assert set(rule) == {"-", " "}
    rows = {row[0]: row for row in (re.split(r"\s{2,}", line) for line in lines)}
    assert list(rows) == ["eager", "jittrace", "torch.jit.trace"]
    assert rows["eager"][1:4] == ["same", "same", "-"]
    assert rows["jittrace"][1:3] == ["same", "same"]
    # torch.jit.trace kept its train mode after .eval(): batch statistics and dropout.
    assert rows["torch.jit.trace"][1].startswith("differs by ")
    assert rows["torch.jit.trace"][2] == "same"
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "demo_jittrace.pt",
        "demo_torch_jit_trace.pt",
    ]
    assert summary.startswith("Both files were saved and loaded back.")
    assert re.search(
        r"^traced with jittrace \(train and eval mode\) in \d+\.\d+ s$", result.err, re.MULTILINE
    )
    assert result.err.endswith(
        "saved and reloaded demo/demo_jittrace.pt and demo/demo_torch_jit_trace.pt\n"
    )


@pytest.mark.parametrize(
    ("command", "epilog"),
    [
        ("trace", cli.TRACE_EXAMPLES),
        (
            "inspect",
            "examples:\n  jittrace inspect net.pt\n  jittrace inspect net.pt --graph forward\n"
            "  jittrace inspect net.pt --json",
        ),
        ("demo", "examples:\n  jittrace demo\n  jittrace demo -o demo_out"),
    ],
)
def test_help_of_every_command_ends_with_examples(run_cli, command, epilog):
    result = run_cli(command, "--help")
    assert (result.code, result.err) == (0, "")
    assert result.out.startswith(f"usage: jittrace {command} [-h] [-q] [-v]")
    assert result.out.endswith(f"\n\n{epilog}\n")


def test_no_command_prints_the_help_and_exits_2(run_cli):
    result = run_cli()
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("usage: jittrace [-h] [--version] [--cmake-dir] COMMAND ...\n")
    assert "    trace      trace a model or function and save it\n" in result.err
    assert result.err.endswith(
        "\nrun 'jittrace COMMAND --help' for the options and examples of a command\n"
    )


def test_version_and_cmake_dir(run_cli):
    assert run_cli("--version") == Result(0, f"jittrace {jittrace.__version__}\n", "")
    result = run_cli("--cmake-dir")
    assert (result.code, result.err) == (0, "")
    assert result.out == f"{jittrace.cmake_prefix_path}\n"
    assert (Path(jittrace.cmake_prefix_path) / "jittrace" / "jittraceConfig.cmake").is_file()


# ---- end to end: the installed console script and `python -m jittrace` --------------------------


def test_console_script_traces_a_file_that_torch_loads(models, eager, tmp_path):
    result = subprocess.run(
        [JITTRACE, "trace", "models.py:Net", "-o", "net.pt", "--input", "torch.randn(5, 8)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    size = (tmp_path / "net.pt").stat().st_size / 1024
    assert result.stdout == (
        f"saved net.pt ({size:.1f} KB): forward traced in train and eval mode, starts in eval "
        "mode; reloaded and verified against eager\n"
    )
    assert _untimed(result.stderr).endswith(
        "verifying forward [eval] against eager ... s\nverifying forward [train] against eager ... s\n"
    )
    loaded = torch.jit.load(str(tmp_path / "net.pt")).eval()
    x = torch.randn(4, 8)
    assert torch.allclose(loaded(x), eager["Net"]().eval()(x))


def test_console_script_inspects_a_file(net_file, tmp_path):
    result = subprocess.run(
        [JITTRACE, "inspect", "net.pt"], capture_output=True, text=True, cwd=tmp_path
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert re.fullmatch(NET_SUMMARY, result.stdout)


def test_python_dash_m_exits_with_the_code_of_main(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "jittrace", "inspect", "missing.pt"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "jittrace inspect: error: missing.pt: no such file\n"


# ---- the report, --json, --optimize ------------------------------------------------------------

REPORT_MODELS = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.drop = nn.Dropout(0.1)

        def forward(self, x):
            batch = int(x.shape[0])  # a Python int: baked into the trace
            return self.drop(self.fc(x)).view(batch, 2, 2) + torch.ones(1)

        def encode(self, x):
            return self.fc(x)


    class Drifts(nn.Module):
        '''Eager results drift by 1e-3 after the first call (the trace's).'''

        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return x + (0.0 if self.calls == 1 else 1e-3)


    class ConvBN(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            return self.drop(torch.relu(self.bn(self.conv(x))))
    """
)


@pytest.fixture
def report_models(tmp_path: Path) -> Path:
    path = tmp_path / "mymodels.py"
    path.write_text(REPORT_MODELS)
    return path


def _documented_json() -> dict[str, Any]:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    (block,) = re.findall(r"```json\n(.*?)```", readme, flags=re.S)
    return json.loads(block)


def _documented_command() -> list[str]:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    command = next(
        block
        for block in re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
        if "--json" in block and "mymodels.py" in block
    )
    import shlex

    return shlex.split(command.replace("\\\n", " "))[1:]  # without "jittrace"


def _same_shape(documented: Any, actual: Any, where: str = "") -> None:
    """`actual` has the documented keys and value types (None documents an optional value)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), where
        assert set(actual) == set(documented), (where, sorted(actual), sorted(documented))
        for key in documented:
            _same_shape(documented[key], actual[key], f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(actual, list), where
        for item in actual:
            _same_shape(documented[0], item, f"{where}[]")
    elif documented is not None:
        kinds = (int, float) if isinstance(documented, (int, float)) else type(documented)
        assert isinstance(actual, kinds) and not (
            isinstance(actual, bool) and not isinstance(documented, bool)
        ), (where, documented, actual)


def test_json_follows_the_documented_schema(run_cli, report_models, tmp_path):
    documented = _documented_json()
    args = _documented_command()
    assert args[:2] == ["trace", "mymodels.py:Net"]
    with pytest.warns(torch.jit.TracerWarning):
        result = run_cli(*args)
    assert result.code == 0, result.err
    data = json.loads(result.out)  # stdout is the JSON object alone
    _same_shape(documented, data)
    assert data["schema"] == documented["schema"] == cli.SCHEMA
    assert (data["ok"], data["error"], data["kind"], data["modes"]) == (
        True,
        None,
        "module",
        ["train", "eval"],
    )
    [warning] = data["warnings"]
    assert warning["kind"] == "tensor_to_python"
    assert warning["source"] == f"{report_models}:13"
    assert data["specialized"] == documented["specialized"]
    [device] = data["devices"]
    assert (device["op"], device["device"], device["source"]) == (
        "aten::ones",
        "cpu",
        f"{report_models}:14",
    )
    assert data["random"] == documented["random"]
    assert {(c["mode"], c["on"]) for c in data["checks"]} == {
        (mode, on) for mode in ("train", "eval") for on in ("check_inputs", "saved_file")
    }
    assert all(c["ok"] and c["max_abs_diff"] == 0.0 for c in data["checks"])
    assert set(data["timings"]) == {"load", "build", "trace", "save", "reload", "verify"}
    size = (tmp_path / "net.pt").stat().st_size
    assert data["file"] == {"path": "net.pt", "size": size}
    assert "saved net.pt" in result.err  # the summary goes to stderr with --json


def test_tolerances_decide_the_checks(run_cli, report_models):
    args = ["trace", "mymodels.py:Drifts", "-o", "d.pt", "--input", "torch.ones(3)"]
    args += ["--check", "torch.full((3,), 2.0)", "--json", "-q"]
    failed = run_cli(*args)
    assert failed.code == 1
    data = json.loads(failed.out)
    assert data["ok"] is False
    assert re.search(
        r"largest absolute difference 0\.000999\d* \(rtol=1e-05, atol=1e-05\)$", data["error"]
    )
    assert data["file"] is None
    [first] = [c for c in data["checks"] if not c["ok"]]
    assert first["max_abs_diff"] == pytest.approx(1e-3, rel=1e-3)
    assert first["max_rel_diff"] == pytest.approx(1e-3 / 2.001, rel=1e-3)
    passed = run_cli(*args, "--atol", "2e-3", "--rtol", "0")
    assert passed.code == 0, passed.err
    data = json.loads(passed.out)
    assert data["ok"] and data["file"]["path"] == "d.pt"
    assert all(c["ok"] for c in data["checks"])


def test_warnings_as_errors_exit_1_with_the_report(run_cli, report_models, tmp_path):
    args = ["trace", "mymodels.py:Net", "-o", "net.pt", "--input", "torch.randn(4, 8)"]
    with pytest.warns(torch.jit.TracerWarning):
        result = run_cli(*args, "--warnings-as-errors", "--json", "-q")
    assert result.code == 1
    data = json.loads(result.out)
    assert data["ok"] is False
    assert data["error"].startswith(
        "[jit_trace_module] the trace has 1 finding(s) of a kind that fail_on makes an error "
        "(warnings): TracerWarning (tensor_to_python)"
    )
    assert len(data["warnings"]) == 1 and data["file"] is None
    assert result.err.startswith("jittrace trace: findings: [jit_trace_module] the trace has")
    assert not (tmp_path / "net.pt").exists()
    with pytest.warns(torch.jit.TracerWarning):
        random = run_cli(*args, "--fail-on", "random", "--fail-on", "devices", "-q")
    assert random.code == 1
    assert "(devices, random): forward (train+eval mode): device 'cpu'" in random.err
    with pytest.warns(torch.jit.TracerWarning):
        shown = run_cli(*args, "--report", "--mode", "eval")
    assert shown.code == 0
    assert "report:\n  TracerWarning (tensor_to_python) at " in shown.err
    assert "\n  forward: x.shape[0] = 4 is a constant of aten::view (from the graph)\n" in shown.err


def test_input_and_method_together(run_cli, report_models, tmp_path):
    args = ["trace", "mymodels.py:Net", "-o", "net.pt", "--input", "torch.randn(4, 8)"]
    with pytest.warns(torch.jit.TracerWarning):
        result = run_cli(*args, "--method", "encode=torch.randn(2, 8)", "-q")
    assert result.code == 0, result.err
    assert "forward, encode traced in train and eval mode" in result.out
    assert loaded_methods(tmp_path / "net.pt") == [
        "encode",
        "evalencode",
        "evalforward",
        "forward",
        "trainencode",
        "trainforward",
    ]


def test_optimize_writes_an_inference_file(run_cli, report_models, tmp_path):
    args = ["trace", "mymodels.py:ConvBN", "-o", "opt.pt", "--input", "torch.randn(2, 3, 8, 8)"]
    result = run_cli(*args, "--optimize", "--json", "-q")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["optimized"] is True
    assert "optimize" in data["timings"]
    assert {(c["mode"], c["on"]) for c in data["checks"]} == {("eval", "saved_file")}
    loaded = torch.jit.load(str(tmp_path / "opt.pt"))
    assert loaded._c._method_names() == ["forward"]
    assert "batch_norm" not in loaded.code
    model = runpy.run_path(str(report_models))["ConvBN"]().eval()
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("options", "training", "message"),
    [
        ("", False, "starts in eval mode"),
        ("--start-mode train", True, "starts in train mode"),
        ("--mode train", True, "starts in train mode"),
    ],
)
def test_the_saved_file_starts_in_eval_mode_unless_asked(
    run_cli, models, tmp_path, options, training, message
):
    result = run_cli(
        "trace", "models.py:Net", "-o", "net.pt", "--input", "torch.randn(5, 8)", *options.split()
    )
    assert result.code == 0, result.err
    assert message in result.out
    loaded = torch.jit.load(str(tmp_path / "net.pt"))
    assert {m.training for m in loaded.modules()} == {training}


def test_start_mode_must_be_traced(run_cli, models):
    result = run_cli(
        "trace",
        "models.py:Net",
        "-o",
        "net.pt",
        "--input",
        "torch.randn(5, 8)",
        "--mode",
        "train",
        "--start-mode",
        "eval",
    )
    assert result.code == 2
    assert result.err.endswith(
        "jittrace trace: error: --start-mode eval: only train mode is traced (--mode train)\n"
    )
