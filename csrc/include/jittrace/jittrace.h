// Shipped header: part of jittrace's public C++ API.
//
// jittrace turns C++ callables and C++-frontend modules into TorchScript by running libtorch's
// tracer. Every entry point here is also what the Python package calls, so C++ and Python
// traces behave the same.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/ivalue.h>
#include <jittrace/errors.h>
#include <jittrace/export.h>
#include <torch/csrc/jit/api/compilation_unit.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace jittrace {

/// The jittrace version, e.g. "0.1.0".
JITTRACE_API const char* version();

/// Options shared by every tracing entry point.
struct TraceOptions {
  /// Passed to libtorch's tracer: when true, a list output warns and a dict output is an error
  /// (their structure could depend on the inputs); when false both are allowed.
  bool strict = true;
  /// Trace each module method twice, in train mode as `train<M>` and in eval mode as `eval<M>`,
  /// and define `M` as a TorchScript method that picks one by `self.training`. When false,
  /// trace each method once, in the module's current mode, as `M`.
  bool respect_mode = true;
};

/// A traceable callable. It receives one IValue per argument (tensors, or tuples, lists and
/// str-keyed dicts of them) and returns its outputs as one IValue: a tensor, or a tuple, list
/// or dict of tensors. Return several outputs as a tuple.
using Fn = std::function<c10::IValue(std::vector<c10::IValue>)>;

/// One method to trace: the callable, its example inputs, and optional names for the graph
/// inputs (`x`, `mask`; unnamed inputs print as `argument_1`, ...).
struct Method {
  Fn fn;
  std::vector<c10::IValue> inputs;
  std::vector<std::string> argument_names = {};
};

// ---------------------------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------------------------

/// Traces `fn` on `inputs` into a free TorchScript function named `qualified_name` (dots
/// separate namespaces, e.g. "__torch__.mymodule.f"), in a CompilationUnit of its own: nothing
/// is added to any shared unit, and tracing the same function again never collides.
///
/// Exceptions thrown by `fn` propagate unchanged and leave no tracing state behind.
/// \throws InputError for inputs that cannot be traced (the message names the input's path).
/// \throws TraceError when the trace cannot become a function (e.g. a non-tensor output).
///
/// `api` names the caller in error messages ("[trace_function] ...").
JITTRACE_API torch::jit::StrongFunctionPtr trace_to_function(
    const Fn& fn, std::vector<c10::IValue> inputs, const std::string& qualified_name,
    bool strict = true, const std::vector<std::string>& argument_names = {},
    const std::string& api = "trace_function");

/// Traces `fn` into a module whose `forward` is the trace, ready for `save()` and loadable by
/// `torch::jit::load` and `torch.jit.load`.
///
/// \code
/// auto m = jittrace::trace_function(
///     [](std::vector<c10::IValue> in) { return torch::relu(in[0].toTensor()); },
///     {torch::randn({3})});
/// m.save("relu.pt");
/// \endcode
JITTRACE_API torch::jit::Module trace_function(const Fn& fn, std::vector<c10::IValue> inputs,
                                               TraceOptions options = {});

// ---------------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------------

/// A module hierarchy to mirror as a TorchScript module. Tensors are shared, never copied: an
/// in-place change through either module shows in the other.
struct ModuleTree {
  /// Class name, dotted (e.g. "torch.nn.modules.linear.Linear"); becomes `__torch__.<name>`.
  std::string class_name;
  /// The module's own `training` flag.
  bool training = true;
  std::vector<std::pair<std::string, at::Tensor>> parameters;
  std::vector<std::pair<std::string, at::Tensor>> buffers;
  std::vector<std::pair<std::string, ModuleTree>> children;
  /// When set, this node is an existing TorchScript module, attached as it is (shared).
  std::optional<torch::jit::Module> script_module;
};

/// Builds the TorchScript module for `tree`: one class type per node, all in one new
/// CompilationUnit, each with a `training` attribute. It has no methods yet.
/// \throws InputError for an empty or invalid attribute name.
JITTRACE_API torch::jit::Module build_module(const ModuleTree& tree);

/// Describes a C++-frontend module (and its submodules) as a ModuleTree.
JITTRACE_API ModuleTree module_tree(const torch::nn::Module& module);

/// Puts the module whose code is traced into train (`true`) or eval (`false`) mode.
using ModeSwitch = std::function<void(bool training)>;

/// Traces `methods` onto `self`, a module built by build_module from the module the callables
/// belong to, so parameters and buffers become attribute reads of `self` rather than constants.
///
/// `training` is the traced module's current mode. With `options.respect_mode`, every method
/// is traced in that mode first and then, after `set_mode(!training)`, in the other one; the
/// caller restores the module's mode afterwards. `M` then dispatches on `self.training`.
///
/// \returns the methods whose two modes have different signatures: for those, `train<M>` and
///   `eval<M>` exist but `M` is not defined (a TorchScript method has one return type).
/// \throws InputError for a method name that is not an identifier, that `self` already has, or
///   that collides with a generated `train<M>` / `eval<M>` name. `api` names the caller in
///   error messages.
JITTRACE_API std::vector<std::string> trace_methods(
    torch::jit::Module& self, const std::vector<std::pair<std::string, Method>>& methods,
    bool training, const ModeSwitch& set_mode, const TraceOptions& options = {},
    const std::string& api = "trace_module");

/// Defines `name` on `self` as a TorchScript method that calls `train<name>` when
/// `self.training` and `eval<name>` otherwise, typed from their schemas.
/// \returns false, defining nothing, when the two schemas differ.
JITTRACE_API bool define_mode_dispatch(torch::jit::Module& self, const std::string& name);

/// Traces methods of a C++-frontend module into a TorchScript module that has the module's
/// parameters, buffers and submodules as attributes under their C++ names (`fc1.weight`).
/// The module's training flags, buffer values and the random generators' states are restored
/// afterwards, also when a callable throws.
///
/// \code
/// jittrace::trace_module(*net, {{"forward", {[&](std::vector<c10::IValue> in) {
///                                              return net->forward(in[0].toTensor());
///                                            }, {torch::randn({2, 4})}}}});
/// \endcode
JITTRACE_API torch::jit::Module trace_module(
    torch::nn::Module& module,
    const std::map<std::string, std::pair<Fn, std::vector<c10::IValue>>>& methods,
    TraceOptions options = {});

/// Keeps what tracing a module may change and puts it back: the values of buffers, the
/// `requires_grad` flags of parameters and buffers, and the state of the default random
/// generator of the CPU and of every device the tensors live on.
/// Restores on destruction unless restore() already ran.
class JITTRACE_API StateGuard {
 public:
  using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
  StateGuard(const NamedTensors& parameters, const NamedTensors& buffers);
  /// Keeps every parameter and buffer of `tree`, named by their dotted paths.
  explicit StateGuard(const ModuleTree& tree);
  StateGuard(const StateGuard&) = delete;
  StateGuard& operator=(const StateGuard&) = delete;
  ~StateGuard();

  /// Restores now.
  /// \returns the names of parameters whose version counter moved (modified in place):
  ///   parameters are not copied (they may be large), so their values cannot be put back.
  std::vector<std::string> restore();

 private:
  struct Saved {
    std::string name;
    at::Tensor tensor;
    at::Tensor copy;  // buffers only
    bool requires_grad;
    int64_t version;  // parameters only; -1 without a version counter (inference tensors)
  };
  std::vector<Saved> saved_;
  std::vector<std::pair<at::Generator, at::Tensor>> generators_;
  bool restored_ = false;
};

namespace detail {
template <typename Holder, std::size_t... I>
c10::IValue call_forward(Holder& module, std::vector<c10::IValue>& in,
                         std::index_sequence<I...> /*unused*/) {
  return c10::IValue(module->forward(in[I].toTensor()...));
}
}  // namespace detail

/// trace_forward with explicit options (see below).
template <typename Holder, typename... Tensors>
torch::jit::Module trace_forward_with(const TraceOptions& options, Holder& module,
                                      const Tensors&... inputs) {
  Fn fn = [&module](std::vector<c10::IValue> in) {
    return detail::call_forward(module, in, std::index_sequence_for<Tensors...>{});
  };
  return trace_module(*module, {{"forward", {fn, {c10::IValue(inputs)...}}}}, options);
}

/// Traces `forward` of a module holder (`torch::nn::Linear`, `torch::nn::Sequential`, your own
/// `TORCH_MODULE`) on example tensors. `forward` may return a tensor or a tuple of tensors.
///
/// \code
/// torch::nn::Sequential net(torch::nn::Linear(4, 8), torch::nn::ReLU(), torch::nn::Dropout(0.5));
/// torch::jit::Module traced = jittrace::trace_forward(net, torch::randn({2, 4}));
/// traced.eval();  // switches to the eval-mode trace
/// \endcode
template <typename Holder, typename... Tensors>
torch::jit::Module trace_forward(Holder& module, const Tensors&... inputs) {
  return trace_forward_with(TraceOptions{}, module, inputs...);
}

}  // namespace jittrace
