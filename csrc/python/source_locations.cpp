// The tracer's source-location hook. torch installs a process-wide hook
// (torch::jit::tracer::setRecordSourceLocation) that stamps every traced node with the Python
// call stack, and it costs about a third of a trace. The hook has no getter, so jittrace
// installs one that records the same source range as torch's own (`pythonRecordSourceLocation`
// and `getPythonInterpreterSourceRange` in torch/csrc/jit/python/python_tracer.cpp, torch 2.13;
// not exported), except on a thread where a jittrace trace asked it not to. Compare with those
// functions again when torch moves.
#include "source_locations.h"

#include <pybind11/pybind11.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/jit/frontend/source_range.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/ir.h>

#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace jittrace::python {
namespace {

thread_local bool skip_source_locations = false;

// The mirror of torch's getPythonInterpreterSourceRange: the Python stack as a SourceRange.
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

// The name of the user's local variable bound to `tensor`, or "" (see jittrace/_names.py).
std::string local_name(const at::Tensor& tensor) {
  namespace py = pybind11;
  py::gil_scoped_acquire gil;
  try {
    const py::object name = py::module_::import("jittrace._names").attr("local_name")(tensor);
    return name.cast<std::string>();
  } catch (const py::error_already_set&) {
    return {};  // a name is a nicety: a failed lookup leaves the tracer's numbered name
  }
}

}  // namespace

SourceLocations::SourceLocations(bool record) : previous_(skip_source_locations) {
  static std::once_flag installed;
  std::call_once(installed,
                 [] { torch::jit::tracer::setRecordSourceLocation(record_source_location); });
  skip_source_locations = !record;
  previous_names_ = detail::set_name_lookup(record ? local_name : detail::NameLookup());
}

SourceLocations::~SourceLocations() {
  skip_source_locations = previous_;
  detail::set_name_lookup(std::move(previous_names_));
}

}  // namespace jittrace::python
