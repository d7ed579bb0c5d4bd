// A torch.nn.Module as the core's ModuleAccess.
#pragma once

#include <jittrace/detail.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>

namespace jittrace::python {

/// The core's access to the Python module `mod`: its tree (modules that are already
/// TorchScript are attached as they are, and so are those that `scripted` maps to a
/// torch._C.ScriptModule standing for them), its training flags, and its parameter and buffer
/// slots. Every call takes the GIL. `api` names the caller in error messages.
std::unique_ptr<detail::ModuleAccess> access_python_module(pybind11::handle mod,
                                                           const std::string& api,
                                                           const pybind11::dict& scripted);

}  // namespace jittrace::python
