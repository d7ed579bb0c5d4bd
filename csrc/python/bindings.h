// The binding's areas: each csrc/python/<area>.cpp defines init_<area>, called by extension.cpp.
#pragma once

#include <pybind11/pybind11.h>

namespace jittrace::python {

/// Maps jittrace's C++ exceptions to the Python classes of jittrace._errors.
void init_errors(pybind11::module_& m);
/// Functions: trace_function, and the build's metadata (BUILD_INFO).
void init_trace(pybind11::module_& m);
/// Modules: trace_module over the Python module access of mirror.cpp.
void init_modes(pybind11::module_& m);
void init_files(pybind11::module_& m);

/// Graph passes: trace report findings, devices that follow an input, inference files.
void init_passes(pybind11::module_& m);

/// Guards on values taken from traced tensors, and the torch.Tensor methods that add them.
void init_guards(pybind11::module_& m);

}  // namespace jittrace::python
