// The extension module: exception mapping, build metadata, and one init_<area>() per file.
//
// Built against torch's bundled pybind11 headers (never PyPI's), so this module shares pybind11
// internals with torch._C and can accept and return torch::jit::Module / ScriptFunction.
#include <jittrace/errors.h>
#include <pybind11/pybind11.h>

#include <exception>

namespace py = pybind11;

namespace jittrace::python {
void init_trace(py::module_& m);
}  // namespace jittrace::python

PYBIND11_MODULE(_C, m) {
  m.doc() = "jittrace's binding of its C++ core. Use the jittrace package, not this module.";

  // jittrace's exception classes are defined in Python (jittrace._errors) so that InputError
  // can be a TypeError and TraceError a RuntimeError under one base class.
  auto errors = py::module_::import("jittrace._errors");
  static PyObject* input_error = py::object(errors.attr("InputError")).release().ptr();
  static PyObject* trace_error = py::object(errors.attr("TraceError")).release().ptr();
  static PyObject* base_error = py::object(errors.attr("JittraceError")).release().ptr();
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const jittrace::InputError& e) {
      PyErr_SetString(input_error, e.what());
    } catch (const jittrace::TraceError& e) {
      PyErr_SetString(trace_error, e.what());
    } catch (const jittrace::Error& e) {
      PyErr_SetString(base_error, e.what());
    }
  });

  py::dict info;
  info["version"] = JITTRACE_VERSION;
  info["torch_version"] = JITTRACE_TORCH_VERSION;
  info["pybind11_internals_id"] = PYBIND11_INTERNALS_ID;
  info["cxx11_abi"] = static_cast<bool>(_GLIBCXX_USE_CXX11_ABI);
  m.attr("BUILD_INFO") = info;

  jittrace::python::init_trace(m);
}
