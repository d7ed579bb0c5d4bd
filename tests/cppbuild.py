"""Builds C++ projects against the installed jittrace package, for the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jittrace

ROOT = Path(__file__).resolve().parent.parent
# Under the repository's build/ (ignored by git), so rebuilds during development are incremental.
BUILD_ROOT = Path(os.environ.get("JITTRACE_TEST_BUILD_DIR", ROOT / "build" / "tests"))


def tool(name: str) -> str:
    """A tool from the running Python's environment if it has one, else from PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is needed to build the C++ tests; pip install {name}")
    return found


def build(source: Path, name: str) -> tuple[Path, float]:
    """Configures and builds the CMake project at `source`; returns its build dir and seconds."""
    build_dir = BUILD_ROOT / name
    start = time.perf_counter()
    configure = [
        tool("cmake"),
        "-S",
        str(source),
        "-B",
        str(build_dir),
        "-G",
        "Ninja",
        f"-DCMAKE_MAKE_PROGRAM={tool('ninja')}",
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_PREFIX_PATH={jittrace.cmake_prefix_path}",
    ]
    for cmd in (configure, [tool("cmake"), "--build", str(build_dir)]):
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return build_dir, time.perf_counter() - start
