"""jittrace: PyTorch functions and modules to TorchScript through libtorch's C++ tracer."""
from ._errors import InputError, JittraceError, TraceCheckError, TraceError
from . import _C
