"""The README's examples run as written."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cppbuild import ROOT, code_blocks


def test_python_example_runs(tmp_path):
    (example,) = code_blocks("python")
    result = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "net.pt").is_file()
    check = "import torch; m = torch.jit.load('net.pt'); print({x.training for x in m.modules()})"
    saved = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", check], capture_output=True, text=True, cwd=tmp_path
    )
    assert saved.stdout == "{False}\n", saved.stderr  # saved in eval mode, for servers


def test_readme_commands_are_the_makefile_targets():
    commands = code_blocks("bash")[0]
    assert "make demo" in commands and "make test" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nmake test\n" in ci


@pytest.mark.slow
def test_cpp_example_builds_and_runs(readme_app, tmp_path):
    result = subprocess.run([str(readme_app / "app")], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "CPUFloatType{2,4}" in result.stdout
    assert (tmp_path / "net.pt").is_file()
