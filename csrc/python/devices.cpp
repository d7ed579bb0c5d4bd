// Binding of devices that follow an input (csrc/core/devices.cpp): the __torch_function__ of
// jittrace._devices' mode.
#include <jittrace/detail.h>
#include <pybind11/functional.h>
#include <pybind11/stl.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/python/pybind_utils.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings.h"

namespace jittrace::python {

void init_devices(py::module_& m) {
  // The __torch_function__ of jittrace._devices' mode, in C++ so that it adds no Python frame:
  // TracerWarnings (issued at the innermost frame) and recorded source locations keep pointing
  // at the traced code, as without the mode. An instancemethod, so that it binds to the mode as
  // torch requires. The mode holds `_sources` (id(device) -> (device, tensor) for the devices
  // Tensor.device returned during the trace), `_stamp` (stamp kept device constants with the
  // user's line, for the report), `_device_descriptor` (Tensor.device),
  // `_device_type` (torch.device) and `_user_location()`, the "file.py:LINE" that device
  // constants kept in the graph are stamped with.
  py::cpp_function handler(
      [](const py::object& self, const py::object& func, const py::object& /*types*/,
         const py::object& args, const py::object& kwargs) -> py::object {
        const py::tuple positional = args.is_none() ? py::tuple() : py::tuple(args);
        const py::dict named = kwargs.is_none() ? py::dict() : py::dict(kwargs);
        if (!torch::jit::tracer::isTracing()) return func(*positional, **named);
        const py::object device_type = self.attr("_device_type");
        const py::dict sources = self.attr("_sources");
        if (py::hasattr(func, "__self__") &&
            func.attr("__self__").ptr() == self.attr("_device_descriptor").ptr()) {
          py::object device = func(*positional, **named);
          if (py::isinstance(device, device_type) && !positional.empty()) {
            sources[py::int_(reinterpret_cast<std::uintptr_t>(device.ptr()))] =
                py::make_tuple(device, positional[0]);
          }
          return device;
        }
        std::vector<py::handle> devices;
        for (const auto& item : positional) {
          if (py::isinstance(item, device_type)) devices.push_back(item);
        }
        if (named.contains("device") && !named["device"].is_none()) {
          devices.push_back(named["device"]);
        }
        std::vector<at::Tensor> followed;
        for (const auto& device : devices) {
          const py::int_ key(reinterpret_cast<std::uintptr_t>(device.ptr()));
          if (!sources.contains(key)) continue;
          const auto entry = py::tuple(sources[key]);
          if (entry[0].ptr() == device.ptr()) followed.push_back(entry[1].cast<at::Tensor>());
        }
        // Nothing to rewrite, and no report to stamp device constants for: the plain call.
        if (followed.empty() && !self.attr("_stamp").cast<bool>()) {
          return func(*positional, **named);
        }
        py::object result;
        detail::follow_devices(
            followed, [&] { result = func(*positional, **named); },
            [&] { return self.attr("_user_location")().cast<std::string>(); });
        return result;
      },
      py::arg("self"), py::arg("func"), py::arg("types"), py::arg("args") = py::tuple(),
      py::arg("kwargs") = py::none());
  m.attr("devices_torch_function") =
      py::reinterpret_steal<py::object>(PyInstanceMethod_New(handler.ptr()));
}

}  // namespace jittrace::python
