// Python objects <-> IValues for tracing, and Python callables as the core's Fn.
#pragma once

#include <jittrace/detail.h>
#include <jittrace/jittrace.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

namespace jittrace::python {

namespace py = pybind11;

/// What a converted object is, for error messages and the exception type: example inputs
/// raise InputError, outputs of the traced function raise TraceError.
enum class Role { Input, Output };

/// Converts tensors, None, bool, int, float, str and (nested) tuples, lists and dicts of them;
/// the core checks what may be traced and reports the rest. A list or dict whose elements
/// differ in type becomes a List[Any] / Dict[str, Any], which the core traces as a tuple. Only
/// what has no IValue at all is reported here (a numpy.ndarray, a dict key that is not a str).
/// `prefix` starts error messages ("[jit_trace] "), `root` names the object ("output").
c10::IValue to_ivalue(py::handle obj, Role role, const std::string& prefix,
                      const std::string& root);

/// Converts each element of `args` (example inputs), naming them `example_inputs[i]`.
std::vector<c10::IValue> to_ivalues(const py::tuple& args, const std::string& prefix);

/// One method (or function) to trace from a Python description: `name`, and a tuple
/// (callable, inputs, argument_names, defaults) where defaults is a dict of constants.
Method to_method(const std::string& name, py::handle spec, const std::string& prefix);

/// Throws the Python error that is pending, if any. libtorch's tracer reports warnings through
/// Python's warnings module without checking the result, so a warning turned into an error
/// (`-W error`) is left pending; call this whenever the binding regains the GIL.
void raise_pending_error();

/// The core's trace records as Python tuples (method, mode, variant, name, graph, output), where
/// mode is "train", "eval" or None (see detail::TraceRecord).
py::list trace_records(const std::vector<detail::TraceRecord>& traces);

/// Wraps a Python callable as the core's Fn: takes the GIL, passes each input as a Python
/// object, converts the result. `func` is borrowed: the caller keeps it alive while the Fn is
/// used, and copies of the Fn never touch reference counts (they may be made without the GIL).
Fn python_fn(py::handle func, const std::string& prefix);

}  // namespace jittrace::python
