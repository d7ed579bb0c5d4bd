// Binding of what a trace report reads from graphs (csrc/core/findings.cpp).
#include <jittrace/detail.h>
#include <pybind11/stl.h>
#include <torch/csrc/jit/python/pybind_utils.h>

#include <memory>

#include "bindings.h"

namespace jittrace::python {

void init_findings(py::module_& m) {
  m.def(
      "find_in_graph",
      [](const std::shared_ptr<torch::jit::Graph>& graph) {
        const auto found = detail::find_in_graph(*graph);
        py::list sizes;
        for (const auto& s : found.sizes) sizes.append(py::make_tuple(s.op, s.argument, s.value));
        py::list devices;
        for (const auto& d : found.devices) {
          devices.append(py::make_tuple(d.op, d.device, d.source));
        }
        py::dict out;
        out["sizes"] = sizes;
        out["devices"] = devices;
        out["random"] = py::cast(found.random_ops);
        return out;
      },
      py::arg("graph"),
      "What a trace report reads from a graph: {'sizes': [(op, argument, value)], 'devices': "
      "[(op, device, source)], 'random': [op]}.");

  m.def(
      "compare_traces",
      [](const std::shared_ptr<torch::jit::Graph>& a,
         const std::shared_ptr<torch::jit::Graph>& b) -> py::object {
        auto changes = detail::compare_traces(*a, *b);
        if (!changes) return py::none();
        py::list out;
        for (const auto& c : *changes) {
          out.append(py::make_tuple(c.op, torch::jit::toPyObject(c.before),
                                    torch::jit::toPyObject(c.after)));
        }
        return out;
      },
      py::arg("a"), py::arg("b"),
      "The constants that differ between two traces of the same code, as [(op, before, after)]; "
      "None when the graphs differ in structure.");
}

}  // namespace jittrace::python
