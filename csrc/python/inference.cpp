// Binding of files optimised for inference (jittrace::optimize_for_inference).
#include <jittrace/jittrace.h>
#include <pybind11/stl.h>
#include <torch/csrc/jit/python/pybind_utils.h>

#include <string>
#include <vector>

#include "bindings.h"

namespace jittrace::python {

void init_inference(py::module_& m) {
  m.def(
      "optimize_for_inference",
      [](const torch::jit::Module& module, const std::vector<std::string>& methods, bool mkldnn) {
        InferenceOptions options;
        options.methods = methods;
        options.mkldnn = mkldnn;
        py::gil_scoped_release no_gil;
        return optimize_for_inference(module, options);
      },
      py::arg("module"), py::arg("methods"), py::arg("mkldnn"),
      "jittrace::optimize_for_inference: a frozen copy of module, optimised for inference.");
}

}  // namespace jittrace::python
