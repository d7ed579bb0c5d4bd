// Graph passes around a trace: what the trace report reads from a graph, devices that follow
// an input instead of staying constants, and files frozen and optimised for inference.
#include <c10/util/Exception.h>
#include <torch/csrc/jit/frontend/source_range.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/frozen_conv_add_relu_fusion.h>
#include <torch/csrc/jit/passes/frozen_graph_optimizations.h>
#include <torch/csrc/jit/passes/frozen_linear_transpose.h>
#include <torch/csrc/jit/passes/frozen_ops_to_mkldnn.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "internal.h"

namespace jittrace {
namespace detail {
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

std::vector<const Node*> nodes_of(const Graph& graph) {
  std::vector<const Node*> nodes;
  collect_nodes(graph.block(), nodes);
  return nodes;
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

bool is_device_constant(const Value* value) {
  return value->node()->kind() == torch::jit::prim::Constant &&
         value->type()->kind() == c10::TypeKind::DeviceObjType;
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

namespace {

// Replaces torch's `prim::ConstantMKLDNNTensor` nodes, which cannot be serialized (the loader
// finds no 'value'), by an ordinary tensor constant converted by `aten::to_mkldnn` when the
// method runs.
void make_mkldnn_constants_saveable(Graph& graph) {
  const auto constant_mkldnn = c10::Symbol::fromQualString("prim::ConstantMKLDNNTensor");
  std::vector<Node*> found;
  for (const Node* node : nodes_of(graph)) {
    if (node->kind() == constant_mkldnn) found.push_back(const_cast<Node*>(node));
  }
  for (Node* node : found) {
    torch::jit::WithInsertPoint guard(node);
    const at::Tensor dense = node->t(torch::jit::attr::value).to_dense();
    Value* constant = graph.insertConstant(dense);
    Value* converted = graph.insert(torch::jit::aten::to_mkldnn, {constant});
    node->output()->replaceAllUsesWith(converted);
    node->destroy();
  }
}

// Puts back every submodule's training flag.
class TrainingFlags {
 public:
  explicit TrainingFlags(const torch::jit::Module& module) {
    for (const auto& m : module.modules()) flags_.emplace_back(m, m.is_training());
  }
  TrainingFlags(const TrainingFlags&) = delete;
  TrainingFlags& operator=(const TrainingFlags&) = delete;
  ~TrainingFlags() {
    for (auto& [m, training] : flags_) {
      if (auto slot = m._ivalue()->type()->findAttributeSlot("training")) {
        m._ivalue()->setSlot(*slot, training);
      }
    }
  }

 private:
  std::vector<std::pair<torch::jit::Module, bool>> flags_;
};

}  // namespace
}  // namespace detail

torch::jit::Module optimize_for_inference(const torch::jit::Module& traced,
                                          const InferenceOptions& options) {
  const std::string prefix = "[optimize_for_inference] ";
  if (options.methods.empty()) throw InputError(prefix + "no methods to keep");
  for (const auto& name : options.methods) {
    if (!traced.find_method(name)) {
      std::string methods;
      for (const auto& method : traced.get_methods()) {
        methods += (methods.empty() ? "" : ", ") + method.name();
      }
      throw InputError(prefix + "'" + name +
                       "' is not a method of the module; methods: " + methods);
    }
    // With both modes traced, M dispatches on `training`, which freezing makes false. A
    // single trace is in the mode the module starts in.
    if (!traced.find_method("eval" + name) && traced.hasattr("training") && traced.is_training()) {
      throw InputError(prefix + "'" + name +
                       "' was traced in train mode only; an inference file needs its eval-mode "
                       "trace: trace the module in eval mode, or in both modes (respect_mode)");
    }
  }
  torch::jit::Module frozen;
  {
    detail::TrainingFlags flags(traced);
    torch::jit::Module module = traced;  // the same object: its flags are put back
    module.eval();
    std::vector<std::string> keep;
    for (const auto& name : options.methods) {
      if (name != "forward") keep.push_back(name);
    }
    frozen = torch::jit::freeze_module(module, keep);
  }
  for (const auto& name : options.methods) {
    auto graph = frozen.get_method(name).graph();
    torch::jit::OptimizeFrozenGraph(graph, /*optimize_numerics=*/true);
    torch::jit::FuseFrozenConvAddRelu(graph);
    if (options.mkldnn) {
      torch::jit::ConvertFrozenOpsToMKLDNN(graph);
      detail::make_mkldnn_constants_saveable(*graph);
    }
    torch::jit::FrozenLinearTranspose(graph);
    torch::jit::EliminateDeadCode(graph);
  }
  return frozen;
}

}  // namespace jittrace
