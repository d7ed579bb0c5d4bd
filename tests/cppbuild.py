"""Builds C++ projects against the installed jittrace package, for the tests.

Each project is a downstream CMake project of the installed wheel (find_package(jittrace)). A
translation unit that includes torch's headers takes 20-30 s to compile, so the projects start
building in the background as soon as pytest has collected a test that needs one
(`start(names)`), while the Python tests run; a test waits only for its own project
(`result(name)`). They are compiled without optimisation: the code under test is libjittrace
and libtorch, which are built optimised.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path

import jittrace

ROOT = Path(__file__).resolve().parent.parent
# Under the repository's build/ (ignored by git), so rebuilds during development are incremental.
BUILD_ROOT = Path(os.environ.get("JITTRACE_TEST_BUILD_DIR", ROOT / "build" / "tests"))
README = (ROOT / "README.md").read_text()


def code_blocks(language: str) -> list[str]:
    """The README's fenced code blocks of `language`, in order."""
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def readme_app_source() -> Path:
    """A project made of the README's CMake and C++ blocks, written only when they change."""
    (cmake,) = code_blocks("cmake")
    (cpp,) = code_blocks("cpp")
    # A fixed source directory: CMake's build directory is kept between runs and remembers it.
    project = BUILD_ROOT / "readme_app_src"
    project.mkdir(parents=True, exist_ok=True)
    for name, text in (("CMakeLists.txt", cmake), ("main.cpp", cpp)):
        if not (project / name).exists() or (project / name).read_text() != text:
            (project / name).write_text(text)
    return project


# name -> the project's source directory (made when the build starts).
PROJECTS: dict[str, Callable[[], Path]] = {
    "cpp": lambda: ROOT / "tests" / "cpp",
    "example": lambda: ROOT / "examples" / "cpp",
    "readme_app": readme_app_source,
}

_builds: dict[str, Future[tuple[Path, float]]] = {}
_lock = threading.Lock()


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
        "-DCMAKE_BUILD_TYPE=None",  # no -O2, no -g: about a third faster to compile
        f"-DCMAKE_PREFIX_PATH={jittrace.cmake_prefix_path}",
    ]
    # One compiler at a time per project: the projects build side by side with the Python tests.
    for cmd in (configure, [tool("cmake"), "--build", str(build_dir), "--", "-j1"]):
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return build_dir, time.perf_counter() - start


def start(names: Iterable[str]) -> None:
    """Starts building the named projects in background threads (each at most once)."""
    for name in names:
        with _lock:
            if name in _builds:
                continue
            future: Future[tuple[Path, float]] = Future()
            _builds[name] = future

        def run(name: str = name, future: Future[tuple[Path, float]] = future) -> None:
            try:
                future.set_result(build(PROJECTS[name](), name))
            except BaseException as e:  # handed to the test that waits for it
                future.set_exception(e)

        threading.Thread(target=run, name=f"build {name}", daemon=True).start()


def result(name: str) -> tuple[Path, float]:
    """The build dir and build seconds of project `name`, building it now if not started."""
    start([name])
    return _builds[name].result()
