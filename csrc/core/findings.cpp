// What a trace report reads from traced graphs: size and device constants, random operations,
// where nodes came from, and the constants that differ between two traces of the same code.
#include <torch/csrc/jit/frontend/source_range.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "internal.h"

namespace jittrace::detail {
namespace {

using c10::IValue;
using torch::jit::Block;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// Every node of `block` and of the blocks nested in it, in program order.
void collect_nodes(const Block* block, std::vector<const Node*>& out) {
  for (const Node* node : block->nodes()) {
    out.push_back(node);
    for (const Block* inner : node->blocks()) collect_nodes(inner, out);
  }
}

// Integer arguments that are not sizes: dim indices, flags, enums, layer hyper-parameters, and
// the operands of scalar arithmetic and comparisons (`aten::ne(int a, int b)`: a guard checking
// a traced value, see guards.cpp, is a fact, not a size baked in).
bool is_size_like(const std::string& argument) {
  static const std::set<std::string> not_sizes = {"a",
                                                  "b",
                                                  "dtype",
                                                  "layout",
                                                  "memory_format",
                                                  "pin_memory",
                                                  "non_blocking",
                                                  "copy",
                                                  "groups",
                                                  "stride",
                                                  "padding",
                                                  "dilation",
                                                  "kernel_size",
                                                  "output_padding",
                                                  "ceil_mode",
                                                  "alpha",
                                                  "beta",
                                                  "p",
                                                  "train",
                                                  "training",
                                                  "eps",
                                                  "momentum",
                                                  "keepdim",
                                                  "correction",
                                                  "unbiased",
                                                  "reduction",
                                                  "ignore_index",
                                                  "padding_idx",
                                                  "max_norm",
                                                  "norm_type",
                                                  "num_layers",
                                                  "batch_first",
                                                  "bidirectional",
                                                  "has_biases",
                                                  "dropout",
                                                  "transposed",
                                                  "benchmark",
                                                  "deterministic",
                                                  "cudnn_enabled",
                                                  "cudnn_enable",
                                                  "allow_tf32",
                                                  "mode",
                                                  "align_corners",
                                                  "approximate",
                                                  "decimals",
                                                  "largest",
                                                  "sorted",
                                                  "descending",
                                                  "stable",
                                                  "upper",
                                                  "scale_grad_by_freq",
                                                  "sparse"};
  return argument.find("dim") == std::string::npos && not_sizes.count(argument) == 0;
}

void add_ints(const IValue& v, std::vector<int64_t>& out) {
  if (v.isInt()) {
    out.push_back(v.toInt());
  } else if (v.isIntList()) {
    for (int64_t i : v.toIntVector()) out.push_back(i);
  }
}

// The integers an argument value holds when they are constants: an int, an int list, or a list
// built from ints of which some are constants (`[b, 3, -1]` gives 3 and -1).
std::vector<int64_t> constant_ints(const Value* value) {
  std::vector<int64_t> ints;
  const Node* node = value->node();
  if (node->kind() == torch::jit::prim::Constant) {
    if (auto v = torch::jit::toIValue(value)) add_ints(*v, ints);
  } else if (node->kind() == torch::jit::prim::ListConstruct) {
    for (const Value* item : node->inputs()) {
      if (item->node()->kind() != torch::jit::prim::Constant) continue;
      if (auto v = torch::jit::toIValue(item)) add_ints(*v, ints);
    }
  }
  return ints;
}

bool same_constant(const IValue& a, const IValue& b) {
  if (a.isTensor() || b.isTensor()) {
    if (!a.isTensor() || !b.isTensor()) return false;
    const auto& x = a.toTensor();
    const auto& y = b.toTensor();
    return x.sizes() == y.sizes() && x.dtype() == y.dtype() && x.device() == y.device() &&
           at::equal(x, y);
  }
  if (a.isObject() || b.isObject() || a.isModule() || b.isModule()) return a.isSameIdentity(b);
  return a == b;
}

// The operation that consumes `value`, looking through the lists and tuples it is put in.
std::string consumer(const Value* value) {
  while (!value->uses().empty()) {
    const Node* user = value->uses()[0].user;
    if (user->kind() != torch::jit::prim::ListConstruct &&
        user->kind() != torch::jit::prim::TupleConstruct) {
      return user->kind().toQualString();
    }
    value = user->output();
  }
  return value->node()->kind().toQualString();
}

}  // namespace

std::vector<const Node*> nodes_of(const Graph& graph) {
  std::vector<const Node*> nodes;
  collect_nodes(graph.block(), nodes);
  return nodes;
}

bool is_device_constant(const Value* value) {
  return value->node()->kind() == torch::jit::prim::Constant &&
         value->type()->kind() == c10::TypeKind::DeviceObjType;
}

std::string source_of(const Node& node) {
  const auto range = node.sourceRange();
  const auto source = range.source();
  if (!source || !source->filename() || source->filename()->empty()) return "";
  const size_t line = source->starting_line_no() + source->lineno_for_offset(range.start());
  return *source->filename() + ":" + std::to_string(line);
}

GraphFindings find_in_graph(const Graph& graph) {
  GraphFindings found;
  for (const Node* node : nodes_of(graph)) {
    if (node->kind() == torch::jit::prim::Constant) continue;
    const std::string op = node->kind().toQualString();
    if (node->isNondeterministic()) found.random_ops.push_back(op);
    const c10::FunctionSchema* schema = node->maybeSchema();
    for (size_t i = 0; i < node->inputs().size(); ++i) {
      const Value* input = node->inputs()[i];
      if (is_device_constant(input)) {
        found.devices.push_back(
            {op, torch::jit::toIValue(input)->toDevice().str(), source_of(*node)});
        continue;
      }
      if (!schema || i >= schema->arguments().size()) continue;
      const std::string& argument = schema->arguments()[i].name();
      if (!is_size_like(argument)) continue;
      for (int64_t value : constant_ints(input)) {
        if (value >= 2) found.sizes.push_back({op, argument, value});
      }
    }
  }
  return found;
}

std::optional<std::vector<ConstantChange>> compare_traces(const Graph& a, const Graph& b) {
  const auto left = nodes_of(a);
  const auto right = nodes_of(b);
  if (left.size() != right.size()) return std::nullopt;
  std::vector<ConstantChange> changes;
  for (size_t i = 0; i < left.size(); ++i) {
    const Node* x = left[i];
    const Node* y = right[i];
    if (x->kind() != y->kind() || x->inputs().size() != y->inputs().size() ||
        x->outputs().size() != y->outputs().size()) {
      return std::nullopt;
    }
    if (x->kind() != torch::jit::prim::Constant || x->outputs().size() != 1) continue;
    auto before = torch::jit::toIValue(x->output());
    auto after = torch::jit::toIValue(y->output());
    if (!before || !after || same_constant(*before, *after)) continue;
    changes.push_back({consumer(x->output()), *before, *after});
  }
  return changes;
}

}  // namespace jittrace::detail
