// Binding of saving and loading with jittrace's manifest.
#include <jittrace/detail.h>
#include <pybind11/stl.h>
#include <torch/csrc/jit/python/pybind_utils.h>

#include <optional>
#include <string>

#include "bindings.h"

namespace jittrace::python {
namespace {

namespace py = pybind11;

ExtraFiles to_extra_files(const py::dict& files) {
  ExtraFiles out;
  for (auto [name, content] : files) {
    out[name.cast<std::string>()] = py::isinstance<py::bytes>(content)
                                        ? std::string(content.cast<py::bytes>())
                                        : content.cast<std::string>();
  }
  return out;
}

}  // namespace

void init_files(py::module_& m) {
  m.def(
      "save",
      [](const torch::jit::Module& module, const std::string& path, const std::string& manifest,
         const py::dict& extra_files) {
        auto files = to_extra_files(extra_files);
        py::gil_scoped_release no_gil;
        detail::save(module, path, manifest, files);
      },
      py::arg("module"), py::arg("path"), py::arg("manifest"), py::arg("extra_files"),
      "Saves a TorchScript module with jittrace's manifest (JSON) and the user's extra files.");
  m.def(
      "save",
      [](const torch::jit::StrongFunctionPtr& function, const std::string& path,
         const std::string& manifest, const py::dict& extra_files) {
        auto files = to_extra_files(extra_files);
        py::gil_scoped_release no_gil;
        detail::save(detail::function_module(function), path, manifest, files);
      },
      py::arg("module"), py::arg("path"), py::arg("manifest"), py::arg("extra_files"),
      "Saves a TorchScript function as a module whose forward it is.");
  m.def(
      "load",
      [](const std::string& path, const std::optional<std::string>& device) {
        std::optional<c10::Device> where;
        if (device) where = c10::Device(*device);
        auto loaded = [&] {
          py::gil_scoped_release no_gil;
          return detail::load(path, where);
        }();
        py::dict files;
        for (const auto& [name, content] : loaded.extra_files)
          files[py::str(name)] = py::bytes(content);
        py::object manifest = py::none();
        if (loaded.manifest) manifest = py::str(loaded.manifest->json);
        return py::make_tuple(loaded.module, manifest, files);
      },
      py::arg("path"), py::arg("device"),
      "Loads a TorchScript file: (module, manifest JSON or None, {extra file: bytes}).");
  m.def(
      "read_manifest",
      [](const std::string& path) -> std::optional<std::string> {
        auto manifest = read_manifest(path);
        if (!manifest) return std::nullopt;
        return manifest->json;
      },
      py::arg("path"), "The manifest (JSON) of a saved file, or None if it has none.");
}

}  // namespace jittrace::python
