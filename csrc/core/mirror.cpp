// Modules as the core sees them: a module tree mirrored as a TorchScript module sharing its
// tensors, the state of those tensors kept and put back, and the C++-frontend module access.
#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <exception>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "internal.h"

namespace jittrace::detail {
namespace {

using torch::jit::Module;

void check_attribute_name(const std::string& api, const std::string& kind,
                          const std::string& name) {
  if (name.empty() || name.find('.') != std::string::npos || name == "training") {
    throw InputError("[" + api + "] '" + name + "' cannot be the name of a " + kind +
                     "; names must be non-empty, contain no '.', and not be 'training'");
  }
}

Module build(const ModuleTree& tree, const std::shared_ptr<torch::jit::CompilationUnit>& cu,
             const std::string& api) {
  if (tree.script_module) return *tree.script_module;
  Module m(c10::QualifiedName(qualified_name(tree.class_name)), cu, /*shouldMangle=*/true);
  m.register_attribute("training", c10::BoolType::get(), tree.training);
  for (const auto& [name, tensor] : tree.parameters) {
    check_attribute_name(api, "parameter", name);
    m.register_parameter(name, tensor, /*is_buffer=*/false);
  }
  for (const auto& [name, tensor] : tree.buffers) {
    check_attribute_name(api, "buffer", name);
    m.register_buffer(name, tensor);
  }
  for (const auto& [name, child] : tree.children) {
    check_attribute_name(api, "submodule", name);
    m.register_module(name, build(child, cu, api));
  }
  for (const auto& [name, object] : tree.objects) {
    check_attribute_name(api, "custom-class attribute", name);
    if (m.type()->hasAttribute(name)) continue;  // registered as something else already
    m.register_attribute(name, object.type(), object);
  }
  return m;
}

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

void collect_tensors(const ModuleTree& tree, const std::string& prefix, NamedTensors& parameters,
                     NamedTensors& buffers) {
  if (tree.script_module) {
    for (const auto& p : tree.script_module->named_parameters()) {
      parameters.emplace_back(prefix + p.name, p.value);
    }
    for (const auto& b : tree.script_module->named_buffers()) {
      buffers.emplace_back(prefix + b.name, b.value);
    }
    return;
  }
  for (const auto& [name, t] : tree.parameters) parameters.emplace_back(prefix + name, t);
  for (const auto& [name, t] : tree.buffers) buffers.emplace_back(prefix + name, t);
  for (const auto& [name, child] : tree.children) {
    collect_tensors(child, prefix + name + ".", parameters, buffers);
  }
}

void collect_devices(const NamedTensors& tensors, std::vector<c10::Device>& devices) {
  for (const auto& [name, t] : tensors) {
    if (!t.defined() || t.is_meta()) continue;
    if (std::find(devices.begin(), devices.end(), t.device()) == devices.end()) {
      devices.push_back(t.device());
    }
  }
}

// ---- C++-frontend modules
// ------------------------------------------------------------------------

ModuleTree tree_of(const torch::nn::Module& module) {
  ModuleTree tree;
  tree.class_name = module.name();
  tree.training = module.is_training();
  for (const auto& p : module.named_parameters(/*recurse=*/false)) {
    if (p.value().defined()) tree.parameters.emplace_back(p.key(), p.value());
  }
  for (const auto& b : module.named_buffers(/*recurse=*/false)) {
    if (b.value().defined()) tree.buffers.emplace_back(b.key(), b.value());
  }
  for (const auto& c : module.named_children()) {
    tree.children.emplace_back(c.key(), tree_of(*c.value()));
  }
  return tree;
}

// A subclass may reassign a parameter through the protected `parameters_`; buffers are private
// to torch::nn::Module and can only be registered. This reads `parameters_` of any module (a
// member pointer formed in a derived class may be applied to the base).
struct ParameterSlots : torch::nn::Module {
  static torch::OrderedDict<std::string, at::Tensor>& of(torch::nn::Module& m) {
    return m.*(&ParameterSlots::parameters_);
  }
};

class CppModuleAccess final : public ModuleAccess {
 public:
  explicit CppModuleAccess(torch::nn::Module& module) : module_(module) {}

  ModuleTree describe() override { return tree_of(module_); }

  void save() override { save_from(module_); }

  void set_training(bool on) override { module_.train(on); }

  void restore() override {
    AllSteps steps;
    for (auto& [module, name, tensor] : parameters_) {
      steps.run([&, module = module, &name = name, &tensor = tensor] {
        auto& slots = ParameterSlots::of(*module);
        if (auto* held = slots.find(name)) {
          if (!held->is_same(tensor)) *held = tensor;
        } else {
          slots.insert(name, tensor);
        }
      });
    }
    // Parents first: train() on a parent recurses into its children.
    for (auto& [module, on] : flags_) steps.run([module = module, on = on] { module->train(on); });
    steps.rethrow();
  }

 private:
  void save_from(torch::nn::Module& m) {
    flags_.emplace_back(&m, m.is_training());
    for (const auto& p : ParameterSlots::of(m)) parameters_.emplace_back(&m, p.key(), p.value());
    for (const auto& child : m.named_children()) save_from(*child.value());
  }

  torch::nn::Module& module_;
  std::vector<std::pair<torch::nn::Module*, bool>> flags_;
  std::vector<std::tuple<torch::nn::Module*, std::string, at::Tensor>> parameters_;
};

}  // namespace

ModuleAccess::~ModuleAccess() = default;

std::unique_ptr<ModuleAccess> access_cpp_module(torch::nn::Module& module) {
  return std::make_unique<CppModuleAccess>(module);
}

Module build_module(const ModuleTree& tree, const std::string& api) {
  return build(tree, std::make_shared<torch::jit::CompilationUnit>(), api);
}

// ---- Tensor state ----------------------------------------------------------------------------

TensorState::TensorState(const ModuleTree& tree) {
  NamedTensors parameters;
  NamedTensors buffers;
  collect_tensors(tree, "", parameters, buffers);
  at::NoGradGuard no_grad;
  auto save = [this](const std::string& name, const at::Tensor& t, bool copy) {
    if (!t.defined()) return;
    const bool versioned = !t.is_inference();
    saved_.push_back(Saved{name, t, copy ? t.detach().clone() : at::Tensor(), t.requires_grad(),
                           versioned ? static_cast<int64_t>(t._version()) : -1});
  };
  for (const auto& [name, t] : parameters) save(name, t, /*copy=*/false);
  for (const auto& [name, t] : buffers) save(name, t, /*copy=*/true);

  std::vector<c10::Device> devices{c10::Device(c10::kCPU)};
  collect_devices(parameters, devices);
  collect_devices(buffers, devices);
  for (const auto& device : devices) {
    auto gen = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    generators_.emplace_back(gen, gen.get_state());
  }
}

std::vector<std::string> TensorState::restore() {
  std::vector<std::string> modified;
  AllSteps steps;
  at::NoGradGuard no_grad;
  for (auto& s : saved_) {
    steps.run([&] {
      if (s.copy.defined()) {
        // Always copied back: kernels such as batch_norm update running statistics in place
        // without bumping the version counter.
        s.tensor.detach().copy_(s.copy);
      } else if (s.version >= 0 && s.tensor._version() != s.version) {
        modified.push_back(s.name);
      }
      if (s.tensor.requires_grad() != s.requires_grad && s.tensor.is_leaf()) {
        s.tensor.requires_grad_(s.requires_grad);
      }
    });
  }
  for (auto& [gen, state] : generators_) {
    steps.run([&, &gen = gen, &state = state] {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(state);
    });
  }
  steps.rethrow();
  return modified;
}

}  // namespace jittrace::detail
