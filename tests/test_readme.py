"""The README's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from cppbuild import BUILD_ROOT, ROOT, build

README = (ROOT / "README.md").read_text()


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_python_example_runs(tmp_path):
    (example,) = code_blocks("python")
    result = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "net.pt").is_file()


def test_readme_commands_are_the_makefile_targets():
    commands = code_blocks("bash")[0]
    assert "make demo" in commands and "make test" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nmake test\n" in ci


@pytest.mark.slow
def test_cpp_example_builds_and_runs(tmp_path):
    (cmake,) = code_blocks("cmake")
    (cpp,) = code_blocks("cpp")
    # A fixed source directory: CMake's build directory is kept between runs and remembers it.
    project = BUILD_ROOT / "readme_app_src"
    project.mkdir(parents=True, exist_ok=True)
    for name, text in (("CMakeLists.txt", cmake), ("main.cpp", cpp)):
        if not (project / name).exists() or (project / name).read_text() != text:
            (project / name).write_text(text)
    build_dir, _ = build(project, "readme_app")
    result = subprocess.run([str(build_dir / "app")], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "CPUFloatType{2,4}" in result.stdout
    assert (tmp_path / "net.pt").is_file()
