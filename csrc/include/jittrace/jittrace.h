// Shipped header: jittrace's public C++ API.
//
// jittrace turns C++ callables and C++-frontend modules into TorchScript by running libtorch's
// tracer. The Python package runs on the same core (through <jittrace/detail.h>), so C++ and
// Python traces behave the same.
#pragma once

#include <ATen/core/ivalue.h>
#include <jittrace/errors.h>
#include <jittrace/export.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/nn/module.h>

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace jittrace {

/// The jittrace version, e.g. "0.2.0".
JITTRACE_API const char* version();

/// Options shared by every tracing entry point.
struct TraceOptions {
  /// Passed to libtorch's tracer: when true, a list output warns and a dict output is an error
  /// (their structure could depend on the inputs); when false both are allowed.
  bool strict = true;
  /// For modules: trace each method twice, in train mode as `train<M>` and in eval mode as
  /// `eval<M>`, and define `M` as a TorchScript method that picks one by `self.training`. When
  /// false, trace each method once, in the module's current mode, as `M`. A function has no
  /// mode: trace_function does not read this option.
  bool respect_mode = true;
};

/// A traceable callable. It receives one IValue per argument (tensors, or tuples, lists and
/// dicts of them, nested to any depth; dict keys are str, int, double or bool) and returns its
/// outputs as one IValue: a tensor, or a tuple, list or dict of tensors. Return several outputs
/// as a tuple.
using Fn = std::function<c10::IValue(std::vector<c10::IValue>)>;

/// One method to trace: its name on the traced module, the callable, its example inputs, and
/// optional names for the graph inputs (`x`, `mask`; unnamed inputs print as `argument_1`, ...).
struct Method {
  std::string name;
  Fn fn;
  std::vector<c10::IValue> inputs;
  std::vector<std::string> argument_names = {};
};

/// Traces `fn` on `inputs` into a module whose `forward` is the trace, ready for `save()` and
/// loadable by `torch::jit::load` and `torch.jit.load`. Each call makes its own
/// CompilationUnit: nothing is added to a shared one, and tracing again never collides.
///
/// \code
/// auto m = jittrace::trace_function(
///     [](std::vector<c10::IValue> in) { return torch::relu(in[0].toTensor()); },
///     {torch::randn({3})});
/// m.save("relu.pt");
/// \endcode
///
/// Exceptions thrown by `fn` propagate unchanged and leave no tracing state behind.
/// \throws InputError an input is not a tensor or a container of tensors (the message names
///   its path, e.g. `inputs[1]['mask']`), or `fn` is empty.
/// \throws TraceError the trace cannot become TorchScript: `fn` returned a non-tensor, read a
///   tensor that requires grad and is not an input, or ran inside another trace.
JITTRACE_API torch::jit::Module trace_function(const Fn& fn, std::vector<c10::IValue> inputs,
                                               const TraceOptions& options = {});

/// Traces methods of a C++-frontend module into a TorchScript module that has the module's
/// parameters, buffers and submodules as attributes under their C++ names (`fc1.weight`),
/// shared, not copied. Methods are traced in the order given, each in both modes unless
/// `options.respect_mode` is false. The module is left as it was: every submodule's training
/// flag, buffer values (batch-norm statistics), `requires_grad` flags and the default random
/// generators' states are put back, also when a callable throws; then the callable's exception
/// propagates unchanged. A parameter modified in place cannot be put back (parameters are not
/// copied): that is reported with a c10 warning naming it.
///
/// \code
/// jittrace::trace_module(*net, {{"forward", [&](std::vector<c10::IValue> in) {
///                                  return net->forward(in[0].toTensor());
///                                }, {torch::randn({2, 4})}, {"x"}}});
/// \endcode
///
/// \throws InputError no methods, a name that is not an identifier, listed twice, or that
///   collides with the module's attributes or with a generated `train<M>` / `eval<M>`; inputs
///   as for trace_function.
/// \throws TraceError as for trace_function; the message names the method and the mode.
JITTRACE_API torch::jit::Module trace_module(torch::nn::Module& module,
                                             const std::vector<Method>& methods,
                                             const TraceOptions& options = {});

/// Options of optimize_for_inference.
struct InferenceOptions {
  /// The methods to keep (each in its eval-mode behaviour); every other method is dropped.
  std::vector<std::string> methods = {"forward"};
  /// Run convolutions (and the ops between them) through oneDNN (MKLDNN) on CPU, as
  /// `torch.jit.optimize_for_inference` does. The file then needs a CPU build with MKLDNN
  /// (every standard build) and runs on CPU only; turn it off for a file meant for other devices.
  bool mkldnn = true;
};

/// A copy of `traced`, frozen and optimised for inference in eval mode, that saves with
/// `save()` and loads with `torch::jit::load` and `torch.jit.load` like any TorchScript file.
///
/// Freezing (`torch::jit::freeze_module`) inlines parameters and buffers as constants, folds
/// batch norm into the convolution or linear layer before it and folds constant arithmetic;
/// then come the passes of `torch::jit::optimize_for_inference` (conv-add-relu fusion, MKLDNN
/// conversion, frozen linear transposes). torch's MKLDNN conversion leaves weights in
/// constants that `torch::jit::load` rejects ("required keyword attribute 'value' is
/// undefined"); here each such weight is stored as an ordinary tensor and converted when the
/// method runs, so the file loads everywhere. `traced` itself is not changed.
///
/// For a module traced with both modes (`train<M>` / `eval<M>`), the eval-mode trace is kept.
///
/// \code
/// auto traced = jittrace::trace_forward(net, torch::randn({1, 3, 32, 32}));
/// jittrace::optimize_for_inference(traced).save("net.opt.pt");
/// \endcode
///
/// 	hrows InputError a method is not one of the module's, or a method was traced in train mode
///   only (trace it in eval mode, or in both modes).
JITTRACE_API torch::jit::Module optimize_for_inference(const torch::jit::Module& traced,
                                                       const InferenceOptions& options = {});

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
  return trace_module(*module, {Method{"forward", fn, {c10::IValue(inputs)...}}}, options);
}

/// Traces `forward` of a module holder (`torch::nn::Linear`, `torch::nn::Sequential`, your own
/// `TORCH_MODULE`) on example tensors. `forward` may return a tensor or a tuple of tensors.
/// Throws as trace_module does.
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
