// Tracing a module end to end: its methods in one or both modes, the TorchScript dispatcher
// that picks a mode by `self.training`, and one scope that puts the module back.
#include <c10/util/Exception.h>

#include <algorithm>
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

// A method's variants: its listings in the caller's order, under one name.
struct Group {
  std::string name;
  std::vector<const Method*> variants;
  bool dispatch = false;
};

std::vector<Group> group_methods(const std::vector<Method>& methods) {
  std::vector<Group> groups;
  for (const auto& method : methods) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const Group& g) { return g.name == method.name; });
    if (it == groups.end()) it = groups.insert(groups.end(), Group{method.name, {}, false});
    it->variants.push_back(&method);
  }
  for (auto& group : groups) group.dispatch = needs_dispatch(group.variants);
  return groups;
}

// The methods holding the traces of `group` in one mode: `base` (`forward`, `trainforward`),
// or `base__<i>` per variant behind a dispatcher named `base`.
std::vector<std::string> trace_names(const Group& group, const std::string& base) {
  if (!group.dispatch) return {base};
  std::vector<std::string> names;
  for (size_t i = 0; i < group.variants.size(); ++i)
    names.push_back(base + "__" + std::to_string(i));
  return names;
}

std::vector<std::string> mode_bases(const Group& group, const TraceOptions& options) {
  if (!options.respect_mode) return {group.name};
  return {"train" + group.name, "eval" + group.name};
}

void check_method_names(const Module& self, const std::vector<Group>& groups,
                        const TraceOptions& options, const std::string& prefix) {
  if (groups.empty()) throw InputError(prefix + "there are no methods to trace");
  const auto taken = [&](const std::string& attr) {
    return self.type()->hasAttribute(attr) || self.type()->findMethod(attr) != nullptr;
  };
  std::set<std::string> requested;
  for (const auto& group : groups) requested.insert(group.name);
  for (const auto& group : groups) {
    const auto& name = group.name;
    if (!is_identifier(name)) {
      throw InputError(prefix + "'" + name + "' is not a valid method name");
    }
    if (taken(name)) {
      throw InputError(prefix + "'" + name +
                       "' cannot be a traced method: the module already has an attribute or "
                       "method of that name");
    }
    std::vector<std::string> generated;
    for (const auto& base : mode_bases(group, options)) {
      if (base != name) generated.push_back(base);
      for (const auto& trace : trace_names(group, base)) {
        if (trace != base) generated.push_back(trace);
      }
    }
    for (const auto& added : generated) {
      if (taken(added) || requested.count(added)) {
        throw InputError(prefix + "tracing '" + name + "' adds the method '" + added +
                         "', but the module already has " +
                         (taken(added) ? "an attribute or method" : "a traced method") +
                         " of that name; rename that" +
                         (options.respect_mode ? ", or trace without respect_mode" : ""));
      }
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
  TracedModule result{build_module(tree, api), {}, {}};
  Module& self = result.module;
  const auto groups = group_methods(methods);
  check_method_names(self, groups, options, prefix);
  for (const auto& method : methods) check_inputs(prefix + method.name + ": ", method.inputs);

  RestoreScope scope(access, tree);
  // Every graph is traced before any becomes a method: libtorch's tracer cleans up all
  // existing methods of `self` after each trace, which would redo the earlier ones.
  struct Traced {
    std::string name;
    std::shared_ptr<torch::jit::Graph> graph;
  };
  std::vector<Traced> graphs;
  std::vector<std::vector<VariantTrace>> dispatched;  // per group and mode, if it dispatches
  auto trace_all = [&](bool training) {
    const std::string mode = training ? "train" : "eval";
    const std::size_t output = training == tree.training ? 0 : 1;
    for (const auto& group : groups) {
      const std::string base = options.respect_mode ? mode + group.name : group.name;
      const auto names = trace_names(group, base);
      std::vector<VariantTrace> traces;
      for (size_t i = 0; i < group.variants.size(); ++i) {
        const Method& method = *group.variants[i];
        auto graph = trace_graph(
            variant_prefix(prefix + method.name + " (" + mode + " mode): ", group.variants, i),
            method, options.strict, &self);
        if (group.dispatch) traces.push_back(variant_trace(method, names[i], *graph, 1));
        result.traces.push_back({group.name, training, i, names[i], graph, output});
        graphs.push_back({names[i], std::move(graph)});
      }
      dispatched.push_back(std::move(traces));
    }
  };
  trace_all(tree.training);
  if (options.respect_mode) {
    access.set_training(!tree.training);
    trace_all(!tree.training);
  }
  for (auto& traced : graphs) add_method(self, traced.name, std::move(traced.graph));
  // Dispatchers: a method with variants gets `train<M>` / `eval<M>` (or `M`) choosing a trace
  // by the values of its arguments; with respect_mode, `M` chooses by `self.training` too.
  const std::vector<bool> modes = options.respect_mode
                                      ? std::vector<bool>{tree.training, !tree.training}
                                      : std::vector<bool>{tree.training};
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& group = groups[g];
    if (!group.dispatch) {
      if (options.respect_mode) {
        define_method(self,
                      mode_dispatcher(group.name,
                                      self.get_method("train" + group.name).function().getSchema(),
                                      self.get_method("eval" + group.name).function().getSchema()));
      }
      continue;
    }
    std::map<bool, std::string> sources;
    std::vector<c10::TypePtr> returns;
    for (size_t m = 0; m < modes.size(); ++m) {
      const auto& traces = dispatched.at(m * groups.size() + g);
      const std::string base =
          options.respect_mode ? (modes[m] ? "train" : "eval") + group.name : group.name;
      sources[modes[m]] = variant_dispatcher(prefix, base, group.name, traces, true);
      define_method(self, sources[modes[m]]);
      for (const auto& trace : traces) returns.push_back(trace.returns);
    }
    if (options.respect_mode) {
      define_method(self,
                    dispatcher_in_both_modes(group.name, sources[true], sources[false], returns));
    }
  }
  if (verify) verify(self, result.traces);
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
