from __future__ import annotations

from pathlib import Path

import cppbuild
import pytest

# Fixture name -> the C++ project it needs.
_CPP_FIXTURES = {"cpp_tests": "cpp", "cpp_example": "example", "readme_app": "readme_app"}


def pytest_collection_finish(session: pytest.Session) -> None:
    """Starts building the C++ projects the selected tests need, while the others run."""
    needed = {
        project
        for item in session.items
        for fixture, project in _CPP_FIXTURES.items()
        if fixture in getattr(item, "fixturenames", ())
    }
    cppbuild.start(sorted(needed))


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
