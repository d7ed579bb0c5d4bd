// Binding of the core's guards, and the methods jittrace._guards puts on torch.Tensor while it
// traces: C++ callables, so that they add no Python frame between the traced code and the
// conversion (warnings and source locations keep pointing at the traced code).
#include <jittrace/detail.h>
#include <jittrace/errors.h>
#include <pybind11/complex.h>
#include <pybind11/stl.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/python/pybind_utils.h>

#include <complex>
#include <string>
#include <utility>

#include "bindings.h"

namespace jittrace::python {
namespace {

// What a conversion returned, as an IValue: a number, or (tolist) nested lists of numbers.
c10::IValue observed_value(const py::handle& obj) {
  if (py::isinstance<py::bool_>(obj)) return obj.cast<bool>();
  if (py::isinstance<py::int_>(obj)) return obj.cast<int64_t>();
  if (py::isinstance<py::float_>(obj)) return obj.cast<double>();
  if (PyComplex_Check(obj.ptr())) return c10::complex<double>(obj.cast<std::complex<double>>());
  if (py::isinstance<py::list>(obj)) {
    auto list = c10::impl::GenericList(c10::AnyType::get());
    for (const auto& item : obj) list.push_back(observed_value(item));
    return list;
  }
  throw InputError("[guard] the value observed must be a number or a list, not " +
                   std::string(py::str(py::type::handle_of(obj).attr("__qualname__"))));
}

// Conversions running on this thread inside a tapped method: the ones they make themselves
// (a tensor subclass's __torch_function__ calling the method again, the hook) are not the
// traced code's, and pass straight through.
thread_local int depth = 0;

struct Nested {
  Nested() { ++depth; }
  ~Nested() { --depth; }
  Nested(const Nested&) = delete;
  Nested& operator=(const Nested&) = delete;
};

}  // namespace

void init_guards(py::module_& m) {
  m.def(
      "guard",
      [](const at::Tensor& tensor, const std::string& kind, const py::handle& observed,
         const std::string& message) {
        return detail::guard(tensor, detail::conversion_named(kind), observed_value(observed),
                             message);
      },
      py::arg("tensor"), py::arg("kind"), py::arg("observed"), py::arg("message"),
      "detail::guard: adds to the trace running on this thread a guard that raises `message` "
      "('{actual}': the call's value) when `kind` ('bool', 'int', 'float', 'item', 'tolist', "
      "'len', 'index', 'iter') of tensor gives another value than `observed`. Returns whether "
      "it did (not outside a trace, nor for a value that does not depend on the inputs).");

  m.def("trace_mark", &detail::trace_mark,
        "detail::trace_mark: the unique name of the last value the trace running on this thread "
        "recorded (None: no trace, or nothing recorded yet).");
  m.def("recorded_by_indexing", &detail::recorded_by_indexing, py::arg("conversions"),
        py::arg("window"),
        "detail::recorded_by_indexing: for each (tensor, trace_mark()) of an __index__ conversion, "
        "whether the running trace recorded the tensor's value as a bound of Python indexing "
        "(aten::slice / aten::select) within `window` nodes of the mark.");

  m.def(
      "tapped_method",
      [](py::object original, py::str kind, py::object hook) {
        py::cpp_function method(
            [original = std::move(original), kind = std::move(kind), hook = std::move(hook)](
                const py::args& args, const py::kwargs& kwargs) -> py::object {
              if (depth > 0 || !torch::jit::tracer::isTracing()) {
                return original(*args, **kwargs);
              }
              const Nested nested;
              py::object result = original(*args, **kwargs);
              return hook(args[0], kind, result);
            });
        return py::reinterpret_steal<py::object>(PyInstanceMethod_New(method.ptr()));
      },
      py::arg("original"), py::arg("kind"), py::arg("hook"),
      "A method for torch.Tensor that calls `original` and, while this thread traces, returns "
      "hook(self, kind, result) instead of result; conversions made inside either (on this "
      "thread) are left alone.");
}

}  // namespace jittrace::python
