// Internal header, not shipped: what the core's translation units share.
#pragma once

#include <jittrace/detail.h>
#include <jittrace/jittrace.h>
#include <torch/csrc/jit/ir/ir.h>

#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace jittrace::detail {

// ---- values.cpp: example inputs and traced outputs ----------------------------------------------

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

// ---- guards.cpp: the guards of a trace jittrace runs --------------------------------------------

/// While one is alive on a thread, the guards guard() adds to the trace it follows are built
/// when that trace has returned, not while it runs: during the trace, each guard is one
/// placeholder node (`prim::Print` of the tensor, kept by dead-code elimination for its side
/// effect, which keeps the guard's inputs alive and marks where the guard goes). The clean-up
/// at the end of the trace then sees no guard's `If` block (libtorch's lint, which runs on
/// graphs with scope blocks, compares each block with every node of the graph, so blocks made
/// it grow with guards x nodes; see `record` in trace.cpp). Guards added to
/// other traces (torch.jit.trace's, a trace nested in this one) are built at once, as before.
class GuardsAfterTrace {
 public:
  GuardsAfterTrace();
  ~GuardsAfterTrace();
  GuardsAfterTrace(const GuardsAfterTrace&) = delete;
  GuardsAfterTrace& operator=(const GuardsAfterTrace&) = delete;
  /// Called inside the traced function, before it runs: the trace running now is the one.
  void follow_current_trace();
  /// Builds the guards at their placeholders in the finished graph (the trace's), in order.
  void build();

  struct Pending;  // a guard to build, at its placeholder (guards.cpp)
  /// The innermost one alive on this thread if it follows the trace of `graph`, else null.
  static GuardsAfterTrace* following(const torch::jit::Graph& graph);
  void add(Pending pending);

 private:
  const torch::jit::Graph* graph_ = nullptr;
  std::vector<Pending> pending_;
  GuardsAfterTrace* outer_;  // the one alive before this one on this thread
};

// ---- trace.cpp: running the tracer --------------------------------------------------------------

/// Runs libtorch's tracer on `method` and returns the finished graph. `self`, when given, is the
/// module whose attributes become `prim::GetAttr` reads. `prefix` starts every error message
/// ("[trace_module] forward (train mode): "). Errors from the method propagate unchanged, but
/// for a read of a tensor that requires grad (a TraceError); errors of the tracer itself become
/// TraceError.
std::shared_ptr<torch::jit::Graph> trace_graph(const std::string& prefix, const Method& method,
                                               bool strict, torch::jit::Module* self);

/// Removes the nodes of a traced `graph` that nothing needs, as libtorch's EliminateDeadCode
/// does, without its alias analysis where no node needs one (see trace.cpp).
void eliminate_dead_code(const std::shared_ptr<torch::jit::Graph>& graph);

/// Adds `graph`, traced with `self`, to `self`'s class as method `name`.
void add_method(torch::jit::Module& self, const std::string& name,
                std::shared_ptr<torch::jit::Graph> graph);

// ---- dispatch.cpp: generated dispatchers --------------------------------------------------------

/// `v` (a constant, see is_constant) as a TorchScript literal: `True`, `1.5`, `'a'`, `(1, 2)`.
/// With `typed` false, as a person reads it: empty lists and dicts without their annotation.
std::string literal(const c10::IValue& v, bool typed = true);

/// Whether a method traced as `variants` needs a dispatcher in front of its traces: it has
/// several variants, or constant arguments whose values calls must be checked against.
bool needs_dispatch(const std::vector<const Method*>& variants);

/// One trace of a method, for its dispatcher.
struct VariantTrace {
  const Method* method;
  std::string callee;                     // the method (or function) holding the trace
  std::vector<c10::TypePtr> input_types;  // of the trace's inputs, without `self`
  c10::TypePtr returns;
};

/// TorchScript source of `def name(...)` that calls the trace made for the values of the
/// non-tensor arguments it is called with, and raises ValueError naming them for any others.
/// `method`: a method of a module (calls `self.<callee>`) rather than a free function.
/// \throws InputError variants that disagree on their arguments, or repeat one another.
std::string variant_dispatcher(const std::string& prefix, const std::string& name,
                               const std::string& shown_name,
                               const std::vector<VariantTrace>& traces, bool method);

/// TorchScript source of a method `name` that does what two variant dispatchers (sources of
/// variant_dispatcher for `train<name>` and `eval<name>`, same parameters) do, the first when
/// `self.training`: one method call from `name` to a trace, where calling the two would take
/// two. `returns`: the return types of all the traces.
std::string dispatcher_in_both_modes(const std::string& name, const std::string& train_source,
                                     const std::string& eval_source,
                                     const std::vector<c10::TypePtr>& returns);

/// TorchScript source of a method `name` that calls `train<name>` or `eval<name>` by
/// `self.training`, with their (equal) parameters and the Union of their return types.
std::string mode_dispatcher(const std::string& name, const c10::FunctionSchema& train,
                            const c10::FunctionSchema& eval);

/// Defines `source` (a generated dispatcher) as a method of `self`.
void define_method(torch::jit::Module& self, const std::string& source);

/// The VariantTrace of `method` traced into `graph` (as `callee`), whose first `offset` inputs
/// precede the method's own (1 for `self`).
VariantTrace variant_trace(const Method& method, std::string callee, const torch::jit::Graph& graph,
                           size_t offset);

/// The error prefix for variant `i` of `variants`: `prefix`, naming the variant if there are
/// several.
std::string variant_prefix(const std::string& prefix, const std::vector<const Method*>& variants,
                           size_t i);

/// Defines `source` (one `def`) in `cu` as the function `qualified`, where `callees` are the
/// functions the source calls by name.
torch::jit::StrongFunctionPtr define_function(
    const std::shared_ptr<torch::jit::CompilationUnit>& cu, const std::string& qualified,
    const std::string& source, const std::map<std::string, torch::jit::Function*>& callees);

// ---- findings.cpp: reading traced graphs (also used by devices.cpp and inference.cpp) -----------

/// Every node of `graph` and of the blocks nested in it, in program order.
std::vector<const torch::jit::Node*> nodes_of(const torch::jit::Graph& graph);

/// Whether `value` is a device constant (a `prim::Constant` of type Device).
bool is_device_constant(const torch::jit::Value* value);

// ---- mirror.cpp: modules as TorchScript modules, and their state --------------------------------

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
