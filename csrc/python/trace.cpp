// Binding of the core's function tracing, and the build's metadata.
#include <jittrace/detail.h>
#include <pybind11/stl.h>
#include <torch/csrc/jit/python/pybind_utils.h>

#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "source_locations.h"
#include "values.h"

namespace jittrace::python {

void init_trace(py::module_& m) {
  py::dict info;
  info["version"] = JITTRACE_VERSION;
  info["torch_version"] = JITTRACE_TORCH_VERSION;
  info["pybind11_internals_id"] = PYBIND11_INTERNALS_ID;
  info["cxx11_abi"] = static_cast<bool>(_GLIBCXX_USE_CXX11_ABI);
  m.attr("BUILD_INFO") = info;

  m.def(
      "is_constant",
      [](py::handle value) {
        try {
          return detail::is_constant(to_ivalue(value, Role::Input, "", "value"));
        } catch (const InputError&) {
          return false;  // no IValue at all (a numpy array...): not a constant jittrace takes
        }
      },
      py::arg("value"),
      "Whether an example input is a constant of the trace (holds no tensor): the core's rule.");
  m.def(
      "trace_function",
      [](const py::list& variants, const std::string& dotted_name, bool strict,
         bool record_source_locations) {
        const std::string api = "jit_trace";
        const std::string prefix = "[" + api + "] ";
        std::vector<Method> methods;
        for (auto variant : variants) methods.push_back(to_method(dotted_name, variant, prefix));
        auto traced = [&] {
          py::gil_scoped_release no_gil;
          SourceLocations locations(record_source_locations);
          return detail::trace_function(methods, dotted_name, TraceOptions{strict, false}, api);
        }();
        raise_pending_error();
        return py::make_tuple(traced.function, trace_records(traced.traces));
      },
      py::arg("variants"), py::arg("dotted_name"), py::arg("strict"),
      py::arg("record_source_locations"),
      "Traces a function into a torch.jit.ScriptFunction, in a CompilationUnit of its own, named "
      "after dotted_name ('module.qualname'). Each variant is (callable, inputs, argument_names, "
      "defaults); several dispatch on their constant inputs. Returns (function, traces): one "
      "(method, mode, variant, name, graph, output) per trace, in the order they ran.");
}

}  // namespace jittrace::python
