// Devices that follow an input: device constants recorded by traced code become `prim::device`
// of the tensor they were read from, so the tensors made follow it to any device.
#include <torch/csrc/jit/frontend/source_range.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "internal.h"

namespace jittrace::detail {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// The source range for a node at "file.py:LINE", in the form torch's tracer hook writes them.
torch::jit::SourceRange range_at(const std::string& location) {
  const auto colon = location.rfind(':');
  std::string file = location;
  size_t line = 0;
  if (colon != std::string::npos) {
    file = location.substr(0, colon);
    line = std::stoul(location.substr(colon + 1));
  }
  std::string text = file + "(" + std::to_string(line) + ")\n";
  const size_t size = text.size();
  return {std::make_shared<torch::jit::Source>(std::move(text), file, line), 0, size};
}

}  // namespace

void follow_devices(const std::vector<at::Tensor>& sources, const std::function<void()>& record,
                    const std::function<std::string()>& location) {
  const auto& state = torch::jit::tracer::getTracingState();
  if (!state) return record();
  Graph& graph = *state->graph;
  Node* end = graph.insertPoint();  // the tracer inserts every node before this one
  Node* last = end->prev();
  record();

  std::vector<std::pair<c10::Device, Value*>> followed;
  for (const auto& source : sources) {
    if (!source.defined() || !state->hasValue(source)) continue;
    Value* value = state->getValue(source);
    if (value->node()->kind() == torch::jit::prim::Constant) continue;  // no device to follow
    followed.emplace_back(source.device(), value);
  }
  std::optional<std::string> where;
  for (Node* node = last->next(); node != end; node = node->next()) {
    if (node->kind() == torch::jit::prim::Constant) continue;
    bool keeps_constant = false;
    for (size_t i = 0; i < node->inputs().size(); ++i) {
      Value* input = node->inputs()[i];
      if (!is_device_constant(input)) continue;
      const c10::Device device = torch::jit::toIValue(input)->toDevice();
      Value* source = nullptr;
      for (const auto& [d, v] : followed) {
        if (d == device) {
          source = v;
          break;
        }
      }
      if (!source) {
        keeps_constant = true;
        continue;
      }
      Node* device_of = graph.create(torch::jit::prim::device, {source});
      device_of->output()->setType(c10::DeviceObjType::get());
      device_of->insertBefore(node);
      node->replaceInput(i, device_of->output());
      if (!input->hasUses()) input->node()->destroy();
    }
    if (keeps_constant && location) {
      if (!where) where = location();
      if (!where->empty()) node->setSourceRange(range_at(*where));
    }
  }
}

}  // namespace jittrace::detail
