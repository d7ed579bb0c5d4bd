// jittrace's C++ exceptions as Python exceptions. The classes are defined in Python
// (jittrace._errors) so that InputError can be a TypeError and TraceError a RuntimeError under
// one base class.
#include <jittrace/errors.h>

#include <exception>

#include "bindings.h"

namespace py = pybind11;

namespace jittrace::python {

void init_errors(py::module_& m) {
  auto errors = py::module_::import("jittrace._errors");
  static PyObject* input_error = py::object(errors.attr("InputError")).release().ptr();
  static PyObject* trace_error = py::object(errors.attr("TraceError")).release().ptr();
  static PyObject* internal_error = py::object(errors.attr("InternalError")).release().ptr();
  static PyObject* base_error = py::object(errors.attr("JittraceError")).release().ptr();
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InputError& e) {
      PyErr_SetString(input_error, e.what());
    } catch (const TraceError& e) {
      PyErr_SetString(trace_error, e.what());
    } catch (const InternalError& e) {
      PyErr_SetString(internal_error, e.what());
    } catch (const Error& e) {
      PyErr_SetString(base_error, e.what());
    }
  });
}

}  // namespace jittrace::python
