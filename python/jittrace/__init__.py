"""jittrace: PyTorch functions and modules to TorchScript through libtorch's C++ tracer.

``jit_trace`` traces functions, ``jit_trace_module`` traces modules in train *and* eval mode,
keeping ``.train()`` / ``.eval()`` working in the saved TorchScript file (Python and C++).
"""

from __future__ import annotations

import os

try:
    from . import _build_info
except ImportError as e:  # running from a source tree that was never built
    raise ImportError(
        "jittrace's compiled part is missing; install it with "
        "`pip install --no-build-isolation .` from the source directory"
    ) from e

from ._version import check_torch_version

check_torch_version(_build_info.TORCH_VERSION)

from . import _C  # noqa: E402
from ._api import jit_trace, jit_trace_module  # noqa: E402
from ._check import CheckResult  # noqa: E402
from ._compat import trace, trace_module  # noqa: E402
from ._errors import (  # noqa: E402
    InputError,
    InternalError,
    JittraceError,
    TraceCheckError,
    TraceError,
    TraceReportError,
)
from ._files import load, manifest, save  # noqa: E402
from ._guards import Guard  # noqa: E402
from ._inference import optimize_for_inference  # noqa: E402
from ._interface import TracedFunction  # noqa: E402
from ._options import ReportOptions, Tolerance  # noqa: E402
from ._report import (  # noqa: E402
    DeviceConstant,
    RandomOp,
    SpecializedSize,
    TraceReport,
    TracerWarningFinding,
)
from ._structures import StructureUnavailable  # noqa: E402

__version__: str = _build_info.VERSION
BUILD_INFO: dict[str, object] = dict(_C.BUILD_INFO)

#: Directory to add to CMAKE_PREFIX_PATH so that C++ projects ``find_package(jittrace)``.
cmake_prefix_path: str = os.path.join(os.path.dirname(__file__), "share", "cmake")

__all__ = [
    "BUILD_INFO",
    "CheckResult",
    "DeviceConstant",
    "Guard",
    "InputError",
    "InternalError",
    "JittraceError",
    "RandomOp",
    "ReportOptions",
    "SpecializedSize",
    "StructureUnavailable",
    "Tolerance",
    "TraceCheckError",
    "TraceError",
    "TraceReport",
    "TraceReportError",
    "TracedFunction",
    "TracerWarningFinding",
    "__version__",
    "cmake_prefix_path",
    "jit_trace",
    "jit_trace_module",
    "load",
    "manifest",
    "optimize_for_inference",
    "save",
    "trace",
    "trace_module",
]
