// Modules: mirroring a module tree, tracing its methods in both modes, the mode dispatcher,
// and keeping the traced module's state as it was.
#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "internal.h"

namespace jittrace {
namespace {

using torch::jit::Module;

// "torch::nn::LinearImpl" or "my.module.<locals>.Net" -> "torch.nn.LinearImpl",
// "my.module._locals_.Net"
std::string class_qualname(std::string name) {
  for (size_t pos = name.find("::"); pos != std::string::npos; pos = name.find("::", pos)) {
    name.replace(pos, 2, ".");
  }
  std::string out = "__torch__";
  std::stringstream atoms(name);
  std::string atom;
  while (std::getline(atoms, atom, '.')) {
    for (char& c : atom) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
    }
    if (atom.empty() || std::isdigit(static_cast<unsigned char>(atom[0]))) atom.insert(0, 1, '_');
    out += "." + atom;
  }
  return out == "__torch__" ? "__torch__.Module" : out;
}

void check_attribute_name(const std::string& kind, const std::string& name) {
  if (name.empty() || name.find('.') != std::string::npos || name == "training") {
    throw InputError("[build_module] '" + name + "' cannot be the name of a " + kind +
                     "; names must be non-empty, contain no '.', and not be 'training'");
  }
}

Module build(const ModuleTree& tree, const std::shared_ptr<torch::jit::CompilationUnit>& cu) {
  if (tree.script_module) return *tree.script_module;
  Module m(c10::QualifiedName(class_qualname(tree.class_name)), cu, /*shouldMangle=*/true);
  m.register_attribute("training", c10::BoolType::get(), tree.training);
  for (const auto& [name, tensor] : tree.parameters) {
    check_attribute_name("parameter", name);
    m.register_parameter(name, tensor, /*is_buffer=*/false);
  }
  for (const auto& [name, tensor] : tree.buffers) {
    check_attribute_name("buffer", name);
    m.register_buffer(name, tensor);
  }
  for (const auto& [name, child] : tree.children) {
    check_attribute_name("submodule", name);
    m.register_module(name, build(child, cu));
  }
  return m;
}

// Argument names for a generated method: the traced ones where they are usable identifiers.
std::vector<std::string> argument_names(const c10::FunctionSchema& schema) {
  static const std::set<std::string> reserved = {"self", "torch",    "Tensor", "List", "Tuple",
                                                 "Dict", "Optional", "Any",    "int",  "float",
                                                 "bool", "str",      "None",   "True", "False"};
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (size_t i = 1; i < schema.arguments().size(); ++i) {
    std::string name = schema.arguments()[i].name();
    if (!detail::is_identifier(name) || reserved.count(name) || seen.count(name)) {
      name = "argument_" + std::to_string(i);
    }
    seen.insert(name);
    names.push_back(name);
  }
  return names;
}

std::string signature_of(const c10::FunctionSchema& schema) {
  std::string out = "(";
  for (size_t i = 1; i < schema.arguments().size(); ++i) {
    out += (i > 1 ? ", " : "") + c10::unshapedType(schema.arguments()[i].type())->annotation_str();
  }
  out += ") -> ";
  for (const auto& r : schema.returns()) out += c10::unshapedType(r.type())->annotation_str();
  return out;
}

void check_method_names(const Module& self,
                        const std::vector<std::pair<std::string, Method>>& methods,
                        const TraceOptions& options, const std::string& api) {
  if (methods.empty()) throw InputError("[" + api + "] there are no methods to trace");
  std::set<std::string> generated;
  std::set<std::string> requested;
  for (const auto& [name, method] : methods) {
    if (!detail::is_identifier(name)) {
      throw InputError("[" + api + "] '" + name + "' is not a valid method name");
    }
    if (!requested.insert(name).second) {
      throw InputError("[" + api + "] method '" + name + "' is listed twice");
    }
    std::vector<std::string> added{name};
    if (options.respect_mode) added = {name, "train" + name, "eval" + name};
    for (const auto& method_name : added) {
      if (self.type()->hasAttribute(method_name) || self.type()->findMethod(method_name)) {
        throw InputError("[" + api + "] '" + method_name +
                         "' cannot be a traced method: the module already has an attribute or "
                         "method of that name");
      }
    }
    if (options.respect_mode) generated.insert(added.begin() + 1, added.end());
  }
  for (const auto& name : requested) {
    if (generated.count(name)) {
      throw InputError("[" + api + "] method '" + name +
                       "' collides with a method that respect_mode generates (train<M> / "
                       "eval<M>); trace it with respect_mode=false or rename it");
    }
  }
}

void collect_devices(const StateGuard::NamedTensors& tensors, std::vector<c10::Device>& devices) {
  for (const auto& [name, t] : tensors) {
    if (!t.defined() || t.is_meta()) continue;
    if (std::find(devices.begin(), devices.end(), t.device()) == devices.end()) {
      devices.push_back(t.device());
    }
  }
}

// Pre-order list of a C++ module tree with each module's training flag.
void collect_flags(torch::nn::Module& m, std::vector<std::pair<torch::nn::Module*, bool>>& out) {
  out.emplace_back(&m, m.is_training());
  for (const auto& child : m.named_children()) collect_flags(*child.value(), out);
}

}  // namespace

// ---- Module trees ----------------------------------------------------------------------------

Module build_module(const ModuleTree& tree) {
  return build(tree, std::make_shared<torch::jit::CompilationUnit>());
}

ModuleTree module_tree(const torch::nn::Module& module) {
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
    tree.children.emplace_back(c.key(), module_tree(*c.value()));
  }
  return tree;
}

// ---- Tracing methods in both modes ------------------------------------------------------------

bool define_mode_dispatch(Module& self, const std::string& name) {
  const auto& train = self.get_method("train" + name).function().getSchema();
  const auto& eval = self.get_method("eval" + name).function().getSchema();
  if (signature_of(train) != signature_of(eval)) return false;

  const auto names = argument_names(train);
  std::string params;
  std::string args;
  for (size_t i = 0; i < names.size(); ++i) {
    const auto type = c10::unshapedType(train.arguments()[i + 1].type())->annotation_str();
    params += ", " + names[i] + ": " + type;
    args += (i ? ", " : "") + names[i];
  }
  const auto ret = c10::unshapedType(train.returns().at(0).type())->annotation_str();
  std::ostringstream src;
  src << "def " << name << "(self" << params << ") -> " << ret << ":\n"
      << "    if self.training:\n"
      << "        return self.train" << name << "(" << args << ")\n"
      << "    return self.eval" << name << "(" << args << ")\n";
  self.define(src.str());
  return true;
}

std::vector<std::string> trace_methods(Module& self,
                                       const std::vector<std::pair<std::string, Method>>& methods,
                                       bool training, const ModeSwitch& set_mode,
                                       const TraceOptions& options, const std::string& api) {
  check_method_names(self, methods, options, api);
  if (options.respect_mode && !set_mode) {
    throw InputError("[" + api + "] respect_mode needs a function that switches modes");
  }
  // Every graph is traced before any becomes a method: libtorch's tracer cleans up all
  // existing methods of `self` after each trace, which would redo the earlier ones.
  std::vector<std::pair<std::string, std::shared_ptr<torch::jit::Graph>>> graphs;
  auto trace_all = [&](bool mode) {
    for (const auto& [name, method] : methods) {
      const std::string mode_name = mode ? "train" : "eval";
      graphs.emplace_back(
          options.respect_mode ? mode_name + name : name,
          detail::trace_graph("[" + api + "] " + name + " (" + mode_name + " mode): ", method.fn,
                              method.inputs, options.strict, &self, method.argument_names));
    }
  };
  trace_all(training);
  if (options.respect_mode) {
    set_mode(!training);
    trace_all(!training);
  }
  for (auto& [name, graph] : graphs) detail::add_method(self, name, std::move(graph));
  if (!options.respect_mode) return {};
  std::vector<std::string> untyped;
  for (const auto& [name, method] : methods) {
    if (!define_mode_dispatch(self, name)) untyped.push_back(name);
  }
  return untyped;
}

Module trace_module(torch::nn::Module& module,
                    const std::map<std::string, std::pair<Fn, std::vector<c10::IValue>>>& methods,
                    TraceOptions options) {
  std::vector<std::pair<torch::nn::Module*, bool>> flags;
  collect_flags(module, flags);
  const ModuleTree tree = module_tree(module);
  StateGuard state(tree);
  // Restores the training flags however the tracing ends (parents first: train() recurses).
  struct FlagRestore {
    std::vector<std::pair<torch::nn::Module*, bool>>& flags;
    ~FlagRestore() {
      for (auto& [m, on] : flags) m->train(on);
    }
  } restore_flags{flags};

  Module self = build_module(tree);
  std::vector<std::pair<std::string, Method>> list;
  for (const auto& [name, spec] : methods) list.emplace_back(name, Method{spec.first, spec.second});
  const auto untyped = trace_methods(
      self, list, module.is_training(), [&module](bool on) { module.train(on); }, options);
  for (const auto& name : untyped) {
    TORCH_WARN("[trace_module] ", name,
               ": train and eval mode return different types, so there is no TorchScript '", name,
               "'; call train", name, " or eval", name, " directly");
  }
  for (const auto& name : state.restore()) {
    TORCH_WARN("[trace_module] parameter '", name,
               "' was modified in place by the traced code; its value could not be restored");
  }
  return self;
}

// ---- State guard ----------------------------------------------------------------------------

namespace {

void collect_tensors(const ModuleTree& tree, const std::string& prefix,
                     StateGuard::NamedTensors& parameters, StateGuard::NamedTensors& buffers) {
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

StateGuard::NamedTensors named(const ModuleTree& tree, bool parameters) {
  StateGuard::NamedTensors params;
  StateGuard::NamedTensors buffers;
  collect_tensors(tree, "", params, buffers);
  return parameters ? params : buffers;
}

}  // namespace

StateGuard::StateGuard(const ModuleTree& tree)
    : StateGuard(named(tree, /*parameters=*/true), named(tree, /*parameters=*/false)) {}

StateGuard::StateGuard(const NamedTensors& parameters, const NamedTensors& buffers) {
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

std::vector<std::string> StateGuard::restore() {
  std::vector<std::string> modified;
  if (restored_) return modified;
  restored_ = true;
  at::NoGradGuard no_grad;
  for (auto& s : saved_) {
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
  }
  for (auto& [gen, state] : generators_) {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
  saved_.clear();
  generators_.clear();
  return modified;
}

StateGuard::~StateGuard() {
  try {
    restore();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
  }
}

}  // namespace jittrace
