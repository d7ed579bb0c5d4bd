// Shipped header: jittrace's public C++ API.
//
// jittrace turns C++ callables and C++-frontend modules into TorchScript by running libtorch's
// tracer. The Python package runs on the same core, so C++ and Python traces behave the same.
#pragma once

#include <ATen/core/ivalue.h>
#include <jittrace/errors.h>
#include <jittrace/export.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/nn/module.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
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

/// A traceable callable. It receives one IValue per argument and returns its outputs as one
/// IValue: a tensor, or a tuple, list or dict of tensors. Return several outputs as a tuple.
/// Arguments are tensors, or tuples, lists and dicts of them, nested to any depth (dict keys
/// are str, int, double or bool), or constants: values without a tensor in them (None, bool,
/// int, double, str, or tuples, lists and dicts of those).
using Fn = std::function<c10::IValue(std::vector<c10::IValue>)>;

/// One method to trace: its name on the traced module, the callable, its example inputs, and
/// optional names for the graph inputs (`x`, `mask`; unnamed inputs print as `argument_1`, ...).
///
/// A constant example input (see Fn) is passed to `fn` as it is and the trace specialises on
/// its value; the traced method still takes the argument, and raises a ValueError naming it
/// when called with another value. To trace several values of such arguments (or a tensor
/// argument that may also be None), list the method once per combination, with the same name:
/// its traces are then dispatched in TorchScript on the values the method is called with.
struct Method {
  std::string name;
  Fn fn;
  std::vector<c10::IValue> inputs;
  std::vector<std::string> argument_names = {};
  /// Default values of arguments in the traced method's signature, by argument name (e.g.
  /// `{{"return_features", false}}`); constants only, on a trailing run of arguments.
  std::vector<std::pair<std::string, c10::IValue>> defaults = {};
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
/// A constant input makes `forward` check that it is called with the traced value (see Method).
/// Exceptions thrown by `fn` propagate unchanged and leave no tracing state behind.
/// \throws InputError an input is neither a tensor, a container of tensors nor a constant (the
///   message names its path, e.g. `inputs[1]['mask']`), or `fn` is empty.
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
/// A method listed several times under one name is traced once per listing (its variants) and
/// dispatched on the values of its constant arguments (see Method); the traces are the methods
/// `<M>__0`, `<M>__1`, ... (`train<M>__0`, ... with respect_mode).
///
/// \throws InputError no methods, a name that is not an identifier, or that collides with the
///   module's attributes or with a generated method; variants that take different numbers or
///   types of arguments, or repeat the same values; inputs as for trace_function.
/// \throws TraceError as for trace_function; the message names the method and the mode.
JITTRACE_API torch::jit::Module trace_module(torch::nn::Module& module,
                                             const std::vector<Method>& methods,
                                             const TraceOptions& options = {});

/// Extra files of a saved module: name -> content (as torch::jit::ExtraFilesMap).
using ExtraFiles = std::unordered_map<std::string, std::string>;

/// The name of the extra file that holds jittrace's manifest in a saved file (in the archive:
/// `extra/jittrace.json`).
inline constexpr const char* kManifestFile = "jittrace.json";

/// What a file saved by `jittrace.save` says about its traces: the manifest, a JSON extra file
/// (schema in the README, "The manifest"). The fields below are the parts a C++ program needs;
/// `json` holds everything, including what only Python uses (input and output structures).
struct Manifest {
  /// One traced method (a function's is `forward`).
  struct Method {
    std::string name;
    /// Its arguments in order, as the traced method takes them.
    std::vector<std::string> arguments;
    /// "train" and "eval" (traced in both modes, dispatched by `training`), one of them, or ""
    /// for a function.
    std::vector<std::string> modes;
    /// Per variant, the values of the arguments it was traced for (Python literals such as
    /// `True`, `'relu'`, `None`; `<tensor>` for a tensor), in argument order.
    std::vector<std::vector<std::pair<std::string, std::string>>> variants;
  };
  std::string json;
  std::string format;  ///< "jittrace-manifest/1"
  std::string jittrace_version;
  std::string torch_version;
  std::string kind;  ///< "module" or "function"
  TraceOptions options;
  std::vector<Method> methods;
  /// Buffers that are not part of the source module's state_dict (`encoder.position_ids`).
  std::vector<std::string> non_persistent_buffers;
  /// The names of the user's own extra files saved along.
  std::vector<std::string> extra_files;
};

/// The manifest of a file saved by `jittrace.save`, read without loading the module; nullopt
/// for a TorchScript file without one (saved by torch.jit.save).
/// \throws InputError the file is not a TorchScript archive, or its manifest is malformed.
JITTRACE_API std::optional<Manifest> read_manifest(const std::string& path);

/// A manifest from its JSON text. \throws InputError for malformed JSON or missing fields.
JITTRACE_API Manifest parse_manifest(const std::string& json);

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
/// \throws InputError a method is not one of the module's, or a method was traced in train mode
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
