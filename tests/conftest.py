from __future__ import annotations

import pytest
from cppbuild import ROOT, build


@pytest.fixture(scope="session")
def cpp_tests():
    """tests/cpp built as a downstream project of the installed jittrace."""
    build_dir, _ = build(ROOT / "tests" / "cpp", "cpp")
    return build_dir


@pytest.fixture(scope="session")
def cpp_example():
    """examples/cpp built as a downstream project; returns (build dir, build seconds)."""
    return build(ROOT / "examples" / "cpp", "example")
