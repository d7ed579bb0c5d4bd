// Internal header, not shipped: what the core's translation units share.
#pragma once

#include <jittrace/detail.h>
#include <jittrace/jittrace.h>
#include <torch/csrc/jit/ir/ir.h>

#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace jittrace::detail {

// ---- values.cpp: example inputs and traced outputs -------------------------------------------

/// Checks every example input (tensors and containers of them, else InputError naming the
/// path) and returns whether any is a mixed container that must be traced in tuple form.
bool check_inputs(const std::string& prefix, const std::vector<c10::IValue>& inputs);

/// Checks what the traced code returned (TraceError naming the path of a non-tensor).
void check_output(const std::string& prefix, const c10::IValue& output);

/// The form in which the tracer sees an input: mixed lists and dicts (List[Any]) become tuples,
/// since the tracer types every input and a list or dict must hold one type.
c10::IValue to_traceable(const c10::IValue& input);

/// Rebuilds the nesting of `original` around the values the tracer handed back for it.
c10::IValue from_traceable(const c10::IValue& traced, const c10::IValue& original);

/// Gives `graph` inputs of the original types of `originals` (taken apart with type checks)
/// where they were traced in tuple form. `offset`: graph inputs before the first example input.
void adapt_graph_inputs(torch::jit::Graph& graph, const std::vector<c10::IValue>& originals,
                        size_t offset);

/// True if `name` can be a TorchScript identifier (ASCII).
bool is_identifier(const std::string& name);

/// The message of an exception, without libtorch's C++ backtrace.
std::string message_of(const std::exception& e);

// ---- trace.cpp: running the tracer -----------------------------------------------------------

/// Runs libtorch's tracer on `method` and returns the finished graph. `self`, when given, is the
/// module whose attributes become `prim::GetAttr` reads. `prefix` starts every error message
/// ("[trace_module] forward (train mode): "). Errors from the method propagate unchanged, but
/// for a read of a tensor that requires grad (a TraceError); errors of the tracer itself become
/// TraceError.
std::shared_ptr<torch::jit::Graph> trace_graph(const std::string& prefix, const Method& method,
                                               bool strict, torch::jit::Module* self);

/// Adds `graph`, traced with `self`, to `self`'s class as method `name`.
void add_method(torch::jit::Module& self, const std::string& name,
                std::shared_ptr<torch::jit::Graph> graph);

// ---- mirror.cpp: modules as TorchScript modules, and their state -----------------------------

/// Builds the TorchScript module for `tree`: one class type per node, all in one new
/// CompilationUnit, each with a `training` attribute, no methods yet.
torch::jit::Module build_module(const ModuleTree& tree, const std::string& api);

/// The values tracing may change in a module's tensors, kept to be put back: buffer values,
/// `requires_grad` flags, and the default random generator of every device in use.
class TensorState {
 public:
  explicit TensorState(const ModuleTree& tree);
  /// Puts everything back, trying every item, then throws the first failure. Returns the names
  /// of parameters modified in place (not copied, so not restorable).
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
};

/// Runs every step, keeps the first exception, and rethrows it once all have run: what puts
/// things back must not stop halfway.
class AllSteps {
 public:
  template <typename F>
  void run(F&& step) {
    try {
      step();
    } catch (...) {
      if (!first_) first_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::exception_ptr first_;
};

/// The C++-frontend module behind the public trace_module.
std::unique_ptr<ModuleAccess> access_cpp_module(torch::nn::Module& module);

}  // namespace jittrace::detail
