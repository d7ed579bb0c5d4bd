"""The built extension imports, and the version guard refuses a mismatched torch."""

from __future__ import annotations

import subprocess
import sys

import jittrace
import pytest
import torch
from jittrace._version import check_torch_version


def test_extension_imports_and_reports_its_build():
    info = jittrace.BUILD_INFO
    assert info["version"] == jittrace.__version__
    assert info["torch_version"] == torch.__version__
    # torch's bundled pybind11 (internals v11) is what lets torch::jit types cross over.
    assert "internals_v11" in info["pybind11_internals_id"]


def test_mismatched_torch_is_an_import_error_naming_both_versions():
    with pytest.raises(
        ImportError,
        match=r"built against torch 2\.13\.0\+cpu, but torch 2\.14\.0 is installed.*pip install --no-build-isolation",
    ):
        check_torch_version("2.13.0+cpu", "2.14.0")
    check_torch_version(torch.__version__)  # the running torch passes


def test_importing_under_a_different_torch_fails_in_a_fresh_process():
    code = (
        "import torch; torch.__version__ = '9.9.9'\n"
        "try:\n    import jittrace\nexcept ImportError as e:\n    print('ImportError:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"built against torch {torch.__version__}, but torch 9.9.9 is installed" in out.stdout


def test_cmake_prefix_path_holds_the_package_config():
    import os

    config = os.path.join(jittrace.cmake_prefix_path, "jittrace", "jittraceConfig.cmake")
    assert os.path.isfile(config)


def test_cmake_root_entry_point_finds_the_package_config():
    """scikit-build-core projects find jittrace through this entry point, without paths."""
    import importlib.metadata
    import importlib.resources
    import os

    (entry,) = [
        e for e in importlib.metadata.entry_points(group="cmake.root") if e.name == "jittrace"
    ]
    root = importlib.resources.files(entry.load())
    assert os.path.isfile(
        os.path.join(str(root), "share", "cmake", "jittrace", "jittraceConfig.cmake")
    )


def test_type_stubs_ship_with_the_package():
    import os

    package = os.path.dirname(jittrace.__file__)
    assert os.path.isfile(os.path.join(package, "py.typed"))
    assert os.path.isfile(os.path.join(package, "_C.pyi"))
