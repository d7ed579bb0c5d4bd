// Binding of the core's module trace, over the Python module access of mirror.cpp.
#include <jittrace/detail.h>
#include <pybind11/stl.h>
#include <torch/csrc/jit/python/pybind_utils.h>

#include <string>
#include <vector>

#include "bindings.h"
#include "mirror.h"
#include "source_locations.h"
#include "values.h"

namespace jittrace::python {
namespace {

const char* kind_name(detail::Warning::Kind kind) {
  switch (kind) {
    case detail::Warning::Kind::kParameterModified:
      return "parameter_modified";
  }
  return "unknown";
}

}  // namespace

void init_modes(py::module_& m) {
  m.def(
      "trace_module",
      [](const std::string& api, const py::object& mod, const py::list& methods, bool strict,
         bool respect_mode, bool record_source_locations, const py::object& verify,
         const py::dict& scripted) {
        std::vector<Method> list;
        for (auto item : methods) {
          auto spec = item.cast<py::tuple>();  // (name, (callable, inputs, names, defaults))
          auto name = spec[0].cast<std::string>();
          list.push_back(to_method(name, spec[1], "[" + api + "] " + name + ": "));
        }
        detail::Verify check;
        if (!verify.is_none()) {
          py::handle callback = verify;  // borrowed: `verify` outlives the trace
          check = [callback](const torch::jit::Module& traced,
                             const std::vector<detail::TraceRecord>& traces) {
            py::gil_scoped_acquire gil;
            raise_pending_error();
            callback(traced, trace_records(traces));
          };
        }
        auto access = access_python_module(mod, api, scripted);
        auto traced = [&] {
          py::gil_scoped_release no_gil;
          SourceLocations locations(record_source_locations);
          return detail::trace_module(*access, list, TraceOptions{strict, respect_mode}, api,
                                      check);
        }();
        raise_pending_error();
        py::list warnings;
        for (const auto& warning : traced.warnings) {
          warnings.append(py::make_tuple(kind_name(warning.kind), warning.message));
        }
        return py::make_tuple(traced.module, warnings, trace_records(traced.traces));
      },
      py::arg("api"), py::arg("mod"), py::arg("methods"), py::arg("strict"),
      py::arg("respect_mode"), py::arg("record_source_locations"), py::arg("verify"),
      py::arg("scripted"),
      "For `api` (named in errors), traces methods of mod, each (name, (callable, inputs, "
      "argument_names, defaults)) and a name listed once per variant, into a TorchScript module "
      "sharing its tensors, calls verify(module, traces) if given, and puts mod back as it was. "
      "Returns "
      "(module, [(kind, message)] warnings, traces), traces as trace_function's. `scripted` maps "
      "submodules to TorchScript modules "
      "that "
      "stand for them (their exported methods compiled).");
}

}  // namespace jittrace::python
