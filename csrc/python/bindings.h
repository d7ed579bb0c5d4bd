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
/// Files: save, load, read_manifest.
void init_files(pybind11::module_& m);
/// What a trace report reads from graphs: find_in_graph, compare_traces.
void init_findings(pybind11::module_& m);
/// Devices that follow an input: devices_torch_function.
void init_devices(pybind11::module_& m);
/// Files for inference: optimize_for_inference.
void init_inference(pybind11::module_& m);

/// Guards on values taken from traced tensors, and the torch.Tensor methods that add them.
void init_guards(pybind11::module_& m);

}  // namespace jittrace::python
