// Files for inference: a traced module frozen and optimised in its eval-mode behaviour, with
// oneDNN constants made saveable.
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/frozen_conv_add_relu_fusion.h>
#include <torch/csrc/jit/passes/frozen_graph_optimizations.h>
#include <torch/csrc/jit/passes/frozen_linear_transpose.h>
#include <torch/csrc/jit/passes/frozen_ops_to_mkldnn.h>

#include <string>
#include <utility>
#include <vector>

#include "internal.h"

namespace jittrace {
namespace detail {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

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
