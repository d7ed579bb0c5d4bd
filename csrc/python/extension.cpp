// The extension module jittrace._C: one init_<area>() per binding file, nothing else.
//
// Built against torch's bundled pybind11 headers (never PyPI's), so this module shares pybind11
// internals with torch._C and can accept and return torch::jit::Module / ScriptFunction.
#include "bindings.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "jittrace's binding of its C++ core. Use the jittrace package, not this module.";
  jittrace::python::init_errors(m);
  jittrace::python::init_trace(m);
  jittrace::python::init_modes(m);
  jittrace::python::init_files(m);
  jittrace::python::init_findings(m);
  jittrace::python::init_devices(m);
  jittrace::python::init_inference(m);
  jittrace::python::init_guards(m);
}
