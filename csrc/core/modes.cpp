// Tracing a module end to end: its methods in one or both modes, the TorchScript dispatcher
// that picks a mode by `self.training`, and one scope that puts the module back.
#include <c10/util/Exception.h>

#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "internal.h"

namespace jittrace {
namespace detail {
namespace {

using torch::jit::Module;

// Argument names for a generated method: the traced ones where they are usable identifiers.
std::vector<std::string> argument_names(const c10::FunctionSchema& schema) {
  static const std::set<std::string> reserved = {"self", "torch",    "Tensor", "List", "Tuple",
                                                 "Dict", "Optional", "Any",    "int",  "float",
                                                 "bool", "str",      "None",   "True", "False"};
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (size_t i = 1; i < schema.arguments().size(); ++i) {
    std::string name = schema.arguments()[i].name();
    if (!is_identifier(name) || reserved.count(name) || seen.count(name)) {
      name = "argument_" + std::to_string(i);
    }
    seen.insert(name);
    names.push_back(name);
  }
  return names;
}

std::string arguments_of(const c10::FunctionSchema& schema) {
  std::string out = "(";
  for (size_t i = 1; i < schema.arguments().size(); ++i) {
    out += (i > 1 ? ", " : "") + c10::unshapedType(schema.arguments()[i].type())->annotation_str();
  }
  return out + ")";
}

// Defines `name` as a TorchScript method that calls `train<name>` when `self.training` and
// `eval<name>` otherwise, typed from their schemas. Where the two modes return different types
// (auxiliary outputs in train mode), it returns their Union, which TorchScript saves and loads.
void define_mode_dispatch(Module& self, const std::string& name) {
  const auto& train = self.get_method("train" + name).function().getSchema();
  const auto& eval = self.get_method("eval" + name).function().getSchema();
  if (arguments_of(train) != arguments_of(eval)) {  // both were traced on the same inputs
    throw InternalError("[jittrace] internal error: the train and eval traces of '" + name +
                        "' take different arguments: " + arguments_of(train) + " vs " +
                        arguments_of(eval) + "; please report this");
  }
  const auto names = argument_names(train);
  std::string params;
  std::string args;
  for (size_t i = 0; i < names.size(); ++i) {
    const auto type = c10::unshapedType(train.arguments()[i + 1].type())->annotation_str();
    params += ", " + names[i] + ": " + type;
    args += (i ? ", " : "") + names[i];
  }
  const auto train_ret = c10::unshapedType(train.returns().at(0).type());
  const auto eval_ret = c10::unshapedType(eval.returns().at(0).type());
  const std::string ret = *train_ret == *eval_ret ? train_ret->annotation_str()
                                                  : "Union[" + train_ret->annotation_str() + ", " +
                                                        eval_ret->annotation_str() + "]";
  std::ostringstream src;
  src << "def " << name << "(self" << params << ") -> " << ret << ":\n"
      << "    if self.training:\n"
      << "        return self.train" << name << "(" << args << ")\n"
      << "    return self.eval" << name << "(" << args << ")\n";
  self.define(src.str());
}

void check_method_names(const Module& self, const std::vector<Method>& methods,
                        const TraceOptions& options, const std::string& prefix) {
  if (methods.empty()) throw InputError(prefix + "there are no methods to trace");
  std::set<std::string> generated;
  std::set<std::string> requested;
  for (const auto& method : methods) {
    const auto& name = method.name;
    if (!is_identifier(name))
      throw InputError(prefix + "'" + name + "' is not a valid method name");
    if (!requested.insert(name).second) {
      throw InputError(prefix + "method '" + name + "' is listed twice");
    }
    const auto taken = [&](const std::string& attr) {
      return self.type()->hasAttribute(attr) || self.type()->findMethod(attr) != nullptr;
    };
    if (taken(name)) {
      throw InputError(prefix + "'" + name +
                       "' cannot be a traced method: the module already has an attribute or "
                       "method of that name");
    }
    std::vector<std::string> added{name};
    if (options.respect_mode) added = {name, "train" + name, "eval" + name};
    for (size_t i = 1; i < added.size(); ++i) {
      if (taken(added[i])) {
        throw InputError(prefix + "respect_mode traces '" + name + "' into 'train" + name +
                         "' and 'eval" + name +
                         "', but the module already has an attribute or "
                         "method named '" +
                         added[i] + "'; rename that, or trace without respect_mode");
      }
    }
    if (options.respect_mode) generated.insert(added.begin() + 1, added.end());
  }
  for (const auto& name : requested) {
    if (generated.count(name)) {
      throw InputError(prefix + "method '" + name +
                       "' collides with a method that respect_mode generates (train<M> / "
                       "eval<M>); rename it, or trace without respect_mode");
    }
  }
}

// Keeps the module's state from construction on and puts it back once: by finish() when
// tracing succeeded, else on destruction, where a failure to restore gives way to the
// exception already on its way out.
class RestoreScope {
 public:
  RestoreScope(ModuleAccess& access, const ModuleTree& tree) : access_(access) {
    access_.save();
    try {
      state_.emplace(tree);
    } catch (...) {
      finished_ = true;
      access_.restore();
      throw;
    }
  }
  RestoreScope(const RestoreScope&) = delete;
  RestoreScope& operator=(const RestoreScope&) = delete;
  ~RestoreScope() {
    if (finished_) return;
    try {
      restore();
    } catch (...) {  // NOLINT(bugprone-empty-catch): the traced code's exception wins
    }
  }

  /// Restores; returns the parameters modified in place, throws the first failure to restore.
  std::vector<std::string> finish() {
    finished_ = true;
    return restore();
  }

 private:
  std::vector<std::string> restore() {
    AllSteps steps;
    std::vector<std::string> modified;
    steps.run([&] { access_.restore(); });
    steps.run([&] { modified = state_->restore(); });
    steps.rethrow();
    return modified;
  }

  ModuleAccess& access_;
  std::optional<TensorState> state_;
  bool finished_ = false;
};

}  // namespace

TracedModule trace_module(ModuleAccess& access, const std::vector<Method>& methods,
                          const TraceOptions& options, const std::string& api,
                          const Verify& verify) {
  const std::string prefix = "[" + api + "] ";
  const ModuleTree tree = access.describe();
  TracedModule result{build_module(tree, api), {}};
  Module& self = result.module;
  check_method_names(self, methods, options, prefix);
  for (const auto& method : methods) check_inputs(prefix + method.name + ": ", method.inputs);

  RestoreScope scope(access, tree);
  // Every graph is traced before any becomes a method: libtorch's tracer cleans up all
  // existing methods of `self` after each trace, which would redo the earlier ones.
  std::vector<std::pair<std::string, std::shared_ptr<torch::jit::Graph>>> graphs;
  auto trace_all = [&](bool training) {
    const std::string mode = training ? "train" : "eval";
    for (const auto& method : methods) {
      graphs.emplace_back(options.respect_mode ? mode + method.name : method.name,
                          trace_graph(prefix + method.name + " (" + mode + " mode): ", method,
                                      options.strict, &self));
    }
  };
  trace_all(tree.training);
  if (options.respect_mode) {
    access.set_training(!tree.training);
    trace_all(!tree.training);
  }
  for (auto& [name, graph] : graphs) add_method(self, name, std::move(graph));
  if (options.respect_mode) {
    for (const auto& method : methods) define_mode_dispatch(self, method.name);
  }
  if (verify) verify(self);
  for (const auto& name : scope.finish()) {
    result.warnings.push_back({Warning::Kind::kParameterModified,
                               prefix + "the traced code modified parameter '" + name +
                                   "' in place; parameters are not copied before tracing, so "
                                   "its value could not be restored"});
  }
  return result;
}

}  // namespace detail

torch::jit::Module trace_module(torch::nn::Module& module, const std::vector<Method>& methods,
                                const TraceOptions& options) {
  auto access = detail::access_cpp_module(module);
  auto traced = detail::trace_module(*access, methods, options, "trace_module");
  for (const auto& warning : traced.warnings) TORCH_WARN(warning.message);
  return std::move(traced.module);
}

}  // namespace jittrace
