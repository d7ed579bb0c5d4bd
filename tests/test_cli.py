"""The jittrace console script, run for real in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

JITTRACE = [str(Path(sys.executable).parent / "jittrace")]

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


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


def run(*args, cwd=None):
    return subprocess.run([*JITTRACE, *args], capture_output=True, text=True, cwd=cwd)


def test_trace_a_module_class_from_a_file_and_inspect_it(models, tmp_path):
    out = tmp_path / "net.pt"
    result = run("trace", f"{models}:Net", "-o", str(out), "--input", "torch.randn(5, 8)")
    assert result.returncode == 0, result.stderr
    assert "saved" in result.stdout and "starts in train mode" in result.stdout
    assert "verifying forward [train] against eager" in result.stderr
    assert "verifying forward [eval] against eager" in result.stderr
    loaded = torch.jit.load(str(out))
    assert sorted(loaded._c._method_names()) == ["evalforward", "forward", "trainforward"]

    text = run("inspect", str(out))
    assert text.returncode == 0
    assert "modes: train and eval kept for forward; starts in train mode" in text.stdout
    assert "parameters: 4 tensors" in text.stdout

    info = json.loads(run("inspect", str(out), "--json").stdout)
    assert info["both_modes"] == ["forward"]
    assert info["training"] is True
    assert info["parameters"]["count"] == 4
    assert info["buffers"]["count"] == 3
    assert {s["name"] for s in info["submodules"]} == {"fc", "bn", "drop"}
    assert info["methods"]["forward"]["schema"].startswith("forward(")

    graph = run("inspect", str(out), "--graph", "evalforward")
    assert "aten::batch_norm" in graph.stdout


def test_trace_a_factory_with_several_methods_in_eval_mode(models, tmp_path):
    out = tmp_path / "enc.pt"
    result = run(
        "trace",
        f"{models}:build",
        "-o",
        str(out),
        "--mode",
        "eval",
        "--method",
        "forward=(torch.randn(3, 8),)",
        "--method",
        "encode=torch.randn(3, 8)",
        "-q",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --quiet
    loaded = torch.jit.load(str(out))
    assert sorted(loaded._c._method_names()) == ["encode", "forward"]
    assert not loaded.training


def test_trace_a_plain_function_and_a_module_instance(models, tmp_path):
    result = run(
        "trace",
        f"{models}:double",
        "-o",
        str(tmp_path / "f.pt"),
        "--input",
        "torch.ones(2)",
        "--input",
        "torch.ones(2)",
    )
    assert result.returncode == 0, result.stderr
    assert torch.equal(
        torch.jit.load(str(tmp_path / "f.pt"))(torch.ones(2), torch.ones(2)), torch.full((2,), 3.0)
    )
    result = run(
        "trace", f"{models}:instance", "-o", str(tmp_path / "i.pt"), "--input", "torch.randn(2, 8)"
    )
    assert result.returncode == 0, result.stderr


def test_trace_a_module_from_a_package(tmp_path):
    out = tmp_path / "relu.pt"
    result = run("trace", "torch.nn:ReLU", "-o", str(out), "--input", "torch.randn(3)")
    assert result.returncode == 0, result.stderr
    assert torch.equal(
        torch.jit.load(str(out))(torch.tensor([-1.0, 1.0])), torch.tensor([0.0, 1.0])
    )


def test_python_dash_m_and_cmake_dir():
    result = subprocess.run(
        [sys.executable, "-m", "jittrace", "--cmake-dir"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert (Path(result.stdout.strip()) / "jittrace" / "jittraceConfig.cmake").is_file()


def test_failing_check_exits_1(models, tmp_path):
    result = run(
        "trace",
        f"{models}:Branchy",
        "-o",
        str(tmp_path / "b.pt"),
        "--input",
        "torch.ones(2)",
        "--check=-torch.ones(2)",
    )
    assert result.returncode == 1
    assert "check failed" in result.stderr
    assert "output differs from eager mode" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["trace", "torch.nn:Linear", "--input", "torch.ones(1)"],
            "cannot be constructed without arguments",
        ),
        (["trace", "{models}:Missing", "--input", "torch.ones(1)"], "has no attribute 'Missing'"),
        (
            ["trace", "no_such_module_xyz:Net", "--input", "torch.ones(1)"],
            "cannot import no_such_module_xyz",
        ),
        (["trace", "{models}", "--input", "torch.ones(1)"], "TARGET must be module:attr"),
        (
            ["trace", "{models}:not_a_model", "--input", "torch.ones(1)"],
            "is an int, not a module or function",
        ),
        (
            ["trace", "{models}:Plain", "--input", "torch.ones(1)"],
            "is a class but not an nn.Module",
        ),
        (
            ["trace", "{models}:returns_number", "--input", "torch.ones(1)"],
            "returned an int, not an nn.Module",
        ),
        (
            ["trace", "{models}:Net", "--input", "torch.randn(2,"],
            "--input 'torch.randn(2,' failed: SyntaxError",
        ),
        (["trace", "{models}:Net", "--input", "undefined_name"], "NameError"),
        (["trace", "{models}:Net", "--method", "forward"], "--method takes NAME=EXPR"),
        (
            ["trace", "{models}:double", "--method", "forward=torch.ones(1)"],
            "--method needs a module TARGET",
        ),
        (["inspect", "{tmp}/missing.pt"], "no such file"),
        (["inspect", "{models}"], "is not a TorchScript file"),
        (["trace", "{models}:Net"], "the following arguments are required: -o/--output"),
        (
            ["trace", "{models}:Net", "-o", "x.pt", "--mode", "sideways"],
            "invalid choice: 'sideways'",
        ),
    ],
)
def test_bad_usage_exits_2_with_one_line(models, tmp_path, args, message):
    args = [a.format(models=models, tmp=tmp_path) for a in args]
    if args[0] == "trace" and "-o" not in args and "required" not in message:
        args += ["-o", str(tmp_path / "out.pt")]
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(error_lines) == 1
    assert "Traceback" not in result.stderr


def test_verbose_shows_the_traceback(models, tmp_path):
    result = run(
        "trace", f"{models}:Missing", "-o", str(tmp_path / "m.pt"), "--input", "torch.ones(1)", "-v"
    )
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_trace_failure_exits_1(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("import torch\ndef f(x):\n    return None\n")
    result = run("trace", f"{path}:f", "-o", str(tmp_path / "f.pt"), "--input", "torch.ones(1)")
    assert result.returncode == 1
    assert "the traced function returned None" in result.stderr


@pytest.mark.parametrize("command", ["trace", "inspect", "demo"])
def test_help_of_every_command_shows_an_example(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout
    assert f"jittrace {command}" in result.stdout


def test_demo_runs_end_to_end(tmp_path):
    result = run("demo", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "differs" not in lines["jittrace"]
    assert "differs" in lines["torch.jit.trace"]  # it kept its train mode after .eval()
    assert (tmp_path / "demo_jittrace.pt").is_file()
    assert "traced with jittrace" in result.stderr
