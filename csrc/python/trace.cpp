// Bindings of the core's tracing entry points. Tracing logic lives in the core; this file
// converts arguments, wraps Python callables and releases the GIL around the core.
#include <pybind11/stl.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/python/pybind_utils.h>

#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "convert.h"

namespace jittrace::python {
namespace {

// ---- Source locations ------------------------------------------------------------------------
// torch installs a process-wide hook that stamps every traced node with the Python call stack;
// it costs about a third of a trace. The hook has no getter, so we install one that records the
// same source range torch's does, except on a thread where a jittrace trace asked it not to.
// Traces by torch.jit.trace, on any thread, keep their source locations exactly as before.

thread_local bool skip_source_locations = false;

torch::jit::SourceRange python_source_range() {
  const auto stack = torch::jit::tracer::pythonCallstack();
  std::optional<std::string> first_file;
  size_t first_line = 0;
  std::ostringstream text;
  for (const auto& entry : stack) {
    const auto& source = entry.range.source();
    if (!source || !source->filename()) continue;
    const size_t line = source->starting_line_no() + source->lineno_for_offset(entry.range.start());
    text << *source->filename() << "(" << line << "): " << entry.filename << "\n";
    if (!first_file) {
      first_file = *source->filename();
      first_line = line;
    }
  }
  auto str = text.str();
  const size_t size = str.size();
  return {std::make_shared<torch::jit::Source>(std::move(str), first_file, first_line), 0, size};
}

void record_source_location(torch::jit::Node* node) {
  if (!skip_source_locations) node->setSourceRange(python_source_range());
}

struct SourceLocations {
  explicit SourceLocations(bool record) : previous(skip_source_locations) {
    skip_source_locations = !record;
  }
  ~SourceLocations() { skip_source_locations = previous; }
  SourceLocations(const SourceLocations&) = delete;
  SourceLocations& operator=(const SourceLocations&) = delete;
  bool previous;
};

// ---- Modules -----------------------------------------------------------------------------------

std::string class_name_of(py::handle obj) {
  auto cls = py::type::handle_of(obj);
  return py::str(cls.attr("__module__")).cast<std::string>() + "." +
         py::str(cls.attr("__qualname__")).cast<std::string>();
}

// Describes a torch.nn.Module; modules that are already TorchScript are attached as they are.
ModuleTree module_tree_of(py::handle mod, const py::handle& script_module_type,
                          std::vector<PyObject*>& ancestors, const std::string& path) {
  for (PyObject* a : ancestors) {
    if (a == mod.ptr()) {
      throw InputError("[jit_trace_module] " + path + " contains itself; modules must form a tree");
    }
  }
  ModuleTree tree;
  if (PyObject_IsInstance(mod.ptr(), script_module_type.ptr()) == 1) {
    tree.script_module = py::cast<torch::jit::Module>(mod.attr("_c"));
    return tree;
  }
  tree.class_name = class_name_of(mod);
  tree.training = mod.attr("training").cast<bool>();
  auto tensors = [&](const char* attr, std::vector<std::pair<std::string, at::Tensor>>& out) {
    for (auto [name, value] : py::reinterpret_borrow<py::dict>(mod.attr(attr))) {
      if (value.is_none()) continue;
      if (!THPVariable_Check(value.ptr())) {
        throw InputError("[jit_trace_module] " + path + "." + name.cast<std::string>() +
                         " is registered as a parameter or buffer but is not a tensor");
      }
      out.emplace_back(name.cast<std::string>(), THPVariable_Unpack(value.ptr()));
    }
  };
  tensors("_parameters", tree.parameters);
  tensors("_buffers", tree.buffers);
  ancestors.push_back(mod.ptr());
  for (auto [name, child] : py::reinterpret_borrow<py::dict>(mod.attr("_modules"))) {
    if (child.is_none()) continue;
    const auto child_name = name.cast<std::string>();
    tree.children.emplace_back(
        child_name, module_tree_of(child, script_module_type, ancestors, path + "." + child_name));
  }
  ancestors.pop_back();
  return tree;
}

}  // namespace

void init_trace(py::module_& m) {
  torch::jit::tracer::setRecordSourceLocation(record_source_location);

  m.def(
      "trace_function",
      [](const py::object& func, const py::tuple& inputs, const std::string& qualified_name,
         const std::vector<std::string>& argument_names, bool strict,
         bool record_source_locations) {
        const std::string prefix = "[jit_trace] ";
        auto ivalues = to_ivalues(inputs, prefix, "example_inputs");
        Fn fn = python_fn(func, prefix);
        auto traced = [&] {
          py::gil_scoped_release no_gil;
          SourceLocations locations(record_source_locations);
          return trace_to_function(fn, std::move(ivalues), qualified_name, strict, argument_names,
                                   "jit_trace");
        }();
        raise_pending_error();
        return traced;
      },
      py::arg("func"), py::arg("inputs"), py::arg("qualified_name"), py::arg("argument_names"),
      py::arg("strict"), py::arg("record_source_locations"),
      "Traces func on inputs into a torch.jit.ScriptFunction in its own CompilationUnit.");

  m.def(
      "build_module",
      [](const py::handle& mod) {
        auto script_module_type = py::module_::import("torch.jit").attr("ScriptModule");
        std::vector<PyObject*> ancestors;
        const ModuleTree tree = module_tree_of(mod, script_module_type, ancestors, "mod");
        auto guard = [&] {
          py::gil_scoped_release no_gil;
          return std::make_unique<StateGuard>(tree);
        }();
        return py::make_tuple(build_module(tree), std::move(guard));
      },
      py::arg("mod"),
      "Mirrors a torch.nn.Module as a TorchScript module sharing its tensors (no methods), "
      "and returns it with a StateGuard of the module's parameters and buffers.");

  m.def(
      "trace_methods",
      [](torch::jit::Module& self, const py::list& methods, bool training,
         const py::object& set_mode, bool strict, bool respect_mode, bool record_source_locations) {
        const std::string prefix = "[jit_trace_module] ";
        std::vector<std::pair<std::string, Method>> list;
        for (auto item : methods) {
          auto spec = item.cast<py::tuple>();  // (name, callable, inputs, argument_names)
          auto name = spec[0].cast<std::string>();
          list.emplace_back(name,
                            Method{python_fn(spec[1], prefix + name + ": "),
                                   to_ivalues(spec[2].cast<py::tuple>(), prefix, name + " inputs"),
                                   spec[3].cast<std::vector<std::string>>()});
        }
        py::handle switch_mode = set_mode;
        ModeSwitch mode_switch = [switch_mode](bool on) {
          py::gil_scoped_acquire gil;
          raise_pending_error();
          switch_mode(on);
        };
        auto untyped = [&] {
          py::gil_scoped_release no_gil;
          SourceLocations locations(record_source_locations);
          return trace_methods(self, list, training, mode_switch,
                               TraceOptions{strict, respect_mode}, "jit_trace_module");
        }();
        raise_pending_error();
        return untyped;
      },
      py::arg("module"), py::arg("methods"), py::arg("training"), py::arg("set_mode"),
      py::arg("strict"), py::arg("respect_mode"), py::arg("record_source_locations"),
      "Traces (name, callable, inputs, argument_names) methods onto a module built by "
      "build_module; returns the methods whose modes could not share a TorchScript dispatcher.");

  py::class_<StateGuard>(m, "StateGuard",
                         "Keeps buffer values, requires_grad flags and random generator states "
                         "and puts them back with restore(). Made by build_module.")
      .def("restore", &StateGuard::restore, py::call_guard<py::gil_scoped_release>(),
           "Restores; returns the names of parameters modified in place (not restorable).");
}

}  // namespace jittrace::python
