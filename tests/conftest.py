from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cppbuild
import pytest


def pytest_configure(config: pytest.Config) -> None:
    """With JITTRACE_DEPRECATIONS_AS_ERRORS=1 (CI's second run), a DeprecationWarning or
    FutureWarning issued from jittrace's own code is an error: torch.jit's deprecation warnings
    may become errors (pytorch PR 189705), and jittrace must not call what torch deprecates.
    Tests that call torch.jit.* themselves, as a baseline, are not affected: their warnings are
    issued from the test's module, not jittrace's (the pyproject filters still ignore them)."""
    if os.environ.get("JITTRACE_DEPRECATIONS_AS_ERRORS") == "1":
        for category in ("DeprecationWarning", "FutureWarning"):
            # An ini line, so the module is a regular expression: jittrace and its submodules.
            config.addinivalue_line("filterwarnings", f"error::{category}:jittrace")


# Fixture name -> the C++ project it needs.
_CPP_FIXTURES = {"cpp_tests": "cpp", "cpp_example": "example", "readme_app": "readme_app"}


def _projects(item: pytest.Item) -> set[str]:
    """The C++ projects test `item` needs."""
    names = getattr(item, "fixturenames", ())
    return {project for fixture, project in _CPP_FIXTURES.items() if fixture in names}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Puts the tests that need a C++ project last (otherwise in their order): the projects
    build in the background while the others run, instead of the suite waiting for them at
    the first such test (on 2 cores, about 30 s of a run from a fresh clone)."""
    items.sort(key=lambda item: bool(_projects(item)))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Starts building the C++ projects the selected tests need, while the others run."""
    cppbuild.start(sorted(set().union(*map(_projects, session.items))))


@pytest.fixture(scope="session")
def cpp_tests() -> Path:
    """tests/cpp built as a downstream project of the installed jittrace."""
    return cppbuild.result("cpp")[0]


@pytest.fixture(scope="session")
def cpp_example() -> tuple[Path, float]:
    """examples/cpp built as a downstream project; returns (build dir, build seconds)."""
    return cppbuild.result("example")


@pytest.fixture(scope="session")
def readme_app() -> Path:
    """The README's CMake and C++ blocks built as a downstream project."""
    return cppbuild.result("readme_app")[0]


#: A locale whose decimal point is a comma, for tests that must not depend on the C locale.
COMMA_LOCALE = "de_DE.UTF-8"


@pytest.fixture(scope="session")
def comma_locale(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str] | None:
    """The environment under which a process can `setlocale(LC_NUMERIC, COMMA_LOCALE)`: the
    system's own locale, else one compiled with localedef (glibc reads it from LOCPATH); None
    where neither works."""
    check = f"import locale; locale.setlocale(locale.LC_NUMERIC, {COMMA_LOCALE!r})"

    def works(env: dict[str, str]) -> bool:
        return subprocess.run([sys.executable, "-c", check], env=env).returncode == 0

    env = dict(os.environ)
    if works(env):
        return env
    localedef = shutil.which("localedef")
    if localedef is None:
        return None
    folder = tmp_path_factory.mktemp("locales")
    # localedef may exit non-zero for mere warnings: whether the locale works is what counts.
    subprocess.run(
        [localedef, "-i", "de_DE", "-f", "UTF-8", str(folder / COMMA_LOCALE)], capture_output=True
    )
    env["LOCPATH"] = str(folder)
    return env if works(env) else None
