// Internal header, not shipped: the core's entry points for jittrace's own Python binding. The
// wheel installs jittrace.h, errors.h and export.h only; C++ programs use <jittrace/jittrace.h>.
#pragma once

#include <ATen/core/ivalue.h>
#include <jittrace/jittrace.h>
#include <torch/csrc/jit/api/compilation_unit.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace jittrace::detail {

// ---- Inputs, outputs and names (values.cpp) -----------------------------------------------------

/// Where a value sits in nested inputs or outputs, e.g. `inputs[1]['mask']`. Built while
/// walking a value and formatted only when an error is reported.
class Path {
 public:
  explicit Path(std::string root) { parts_.push_back(std::move(root)); }
  void push_index(std::size_t i) { parts_.push_back("[" + std::to_string(i) + "]"); }
  void push_key(const std::string& key) { parts_.push_back("['" + key + "']"); }
  /// A dict key of any type: ['name'], [3], [1.5], [True], [<tensor>].
  void push_key(const c10::IValue& key) {
    if (key.isString()) return push_key(key.toStringRef());
    std::ostringstream part;
    if (key.isBool()) {
      part << (key.toBool() ? "True" : "False");
    } else if (key.isInt() || key.isDouble()) {
      part << key;
    } else {
      part << "<" << key.type()->annotation_str() << ">";
    }
    parts_.push_back("[" + part.str() + "]");
  }
  void pop() { parts_.pop_back(); }
  std::string str() const {
    std::string out;
    for (const auto& part : parts_) out += part;
    return out;
  }

 private:
  std::vector<std::string> parts_;
};

/// How traces on this thread name the values they record: `lookup(tensor)` returns a name for a
/// traced tensor, or "" for none. Empty (the default): values keep the tracer's numbered names.
/// The binding sets it for `record_source_locations=True` (user's local variable names).
using NameLookup = std::function<std::string(const at::Tensor&)>;
/// Sets this thread's name lookup and returns the previous one (restore it when done).
JITTRACE_API NameLookup set_name_lookup(NameLookup lookup);

/// Whether an example input is a constant: it holds no tensor, only None, bool, int, float and
/// str, in tuples, lists and dicts (empty ones included). A trace specialises on a constant
/// instead of taking it as an input. The one definition of the rule: Python asks it too.
JITTRACE_API bool is_constant(const c10::IValue& input);

/// Throws the InputError for an example input at `path` that cannot be traced; `what`
/// describes it ("a numpy.ndarray"), `hint` (optional) says what to do instead.
[[noreturn]] JITTRACE_API void bad_input(const std::string& prefix, const Path& path,
                                         const std::string& what, const std::string& hint = "");

/// Throws the TraceError for an output of the traced code at `path` that cannot be traced.
[[noreturn]] JITTRACE_API void bad_output(const std::string& prefix, const Path& path,
                                          const std::string& what, const std::string& hint = "");

/// The TorchScript qualified name of a function or class whose dotted name is `dotted`
/// ("pkg.mod.<locals>.Net", "torch::nn::LinearImpl"): `__torch__.` followed by the atoms made
/// ASCII identifiers (other ASCII characters become `_`, other code points `_u<hex>_`), so a
/// name with `ï` or `<locals>` still saves and loads. Errors show the user's own name instead.
JITTRACE_API std::string qualified_name(const std::string& dotted);

// ---- Functions (trace.cpp) ----------------------------------------------------------------------

/// What the core made of one trace: which method, mode and variant it is, where it lives in
/// the result, its graph, and which output of the variant's callable it recorded. The caller
/// reads these instead of rebuilding names or orders.
struct TraceRecord {
  /// The traced method's name (`forward`), or the function's short name.
  std::string method;
  /// true: train mode, false: eval mode; nullopt for a function, which has no mode.
  std::optional<bool> training;
  /// The index of the variant among the method's listings, in the caller's order.
  std::size_t variant = 0;
  /// The TorchScript method or function holding the trace (`trainforward__1`, `forward`).
  std::string name;
  std::shared_ptr<torch::jit::Graph> graph;
  /// How many earlier traces called the same variant's callable: the n-th output it returned
  /// (0 for the first mode traced, 1 for the second).
  std::size_t output = 0;
};

/// A traced function and its traces, in the order they ran.
struct TracedFunction {
  torch::jit::StrongFunctionPtr function;
  std::vector<TraceRecord> traces;
};

/// Traces a function into a free function named by qualified_name(`dotted_name`), in a
/// CompilationUnit of its own: `variants` are its example calls, as the variants of a method
/// (see Method; one without constants gives the trace itself). `api` names the caller in error
/// messages (`[jit_trace] ...`). Throws as jittrace::trace_function does.
JITTRACE_API TracedFunction trace_function(const std::vector<Method>& variants,
                                           const std::string& dotted_name,
                                           const TraceOptions& options, const std::string& api);

// ---- Modules as the core sees them (mirror.cpp) -------------------------------------------------

/// A module hierarchy as the core mirrors it into TorchScript. Tensors are shared, never
/// copied: an in-place change through either module shows in the other.
struct ModuleTree {
  /// Class name, dotted or with `::` (e.g. "torch.nn.modules.linear.Linear").
  std::string class_name;
  /// The module's own `training` flag.
  bool training = true;
  std::vector<std::pair<std::string, at::Tensor>> parameters;
  std::vector<std::pair<std::string, at::Tensor>> buffers;
  std::vector<std::pair<std::string, ModuleTree>> children;
  /// TorchScript custom-class objects (e.g. quantized packed weights), shared as attributes.
  std::vector<std::pair<std::string, c10::IValue>> objects;
  /// When set, this node is already a TorchScript module; it is attached as it is (shared).
  std::optional<torch::jit::Module> script_module;
};

/// How the core reaches the module being traced, whatever its frontend (C++ or Python).
/// Calls come from the thread that called trace_module, in this order: describe, save, then
/// set_training and tracing, then restore exactly once.
class JITTRACE_API ModuleAccess {
 public:
  ModuleAccess() = default;
  ModuleAccess(const ModuleAccess&) = delete;
  ModuleAccess& operator=(const ModuleAccess&) = delete;
  virtual ~ModuleAccess();

  /// The module's tree: class names, training flags, parameters, buffers, submodules.
  /// \throws InputError for a tree that cannot be mirrored (the message names the path).
  virtual ModuleTree describe() = 0;
  /// Keeps every submodule's training flag and which tensor each parameter and buffer name
  /// holds (traced code may reassign them).
  virtual void save() = 0;
  /// Puts the module and all its submodules into train (`true`) or eval mode.
  virtual void set_training(bool on) = 0;
  /// Puts back what save() kept. Tries every item even when one fails, then throws the first
  /// failure.
  virtual void restore() = 0;
};

// ---- The module trace (modes.cpp) ---------------------------------------------------------------

/// Something the caller should tell the user about a finished trace.
struct Warning {
  enum class Kind {
    /// A parameter was modified in place by the traced code; its value could not be restored.
    kParameterModified,
  };
  Kind kind;
  std::string message;
};

/// A traced module, its traces in the order they ran, and what to tell the user about it.
struct TracedModule {
  torch::jit::Module module;
  std::vector<Warning> warnings;
  std::vector<TraceRecord> traces;
};

/// Runs after tracing, before the module is put back (e.g. to compare eager and traced
/// outputs), with the traces made. Its exception propagates after everything has been restored.
using Verify =
    std::function<void(const torch::jit::Module& traced, const std::vector<TraceRecord>& traces)>;

/// The whole module trace, in one scope: describe the module, keep its state, mirror it, trace
/// every method in the module's mode and (with respect_mode) in the other one, add the mode
/// dispatchers, run `verify`, and put everything back (training flags, reassigned attributes,
/// buffer values, requires_grad flags, random generator states) however it ends. When tracing
/// throws, that exception wins over any failure to restore. `api` names the caller in errors.
/// Throws as jittrace::trace_module does.
JITTRACE_API TracedModule trace_module(ModuleAccess& module, const std::vector<Method>& methods,
                                       const TraceOptions& options, const std::string& api,
                                       const Verify& verify = {});

// ---- Files (files.cpp) --------------------------------------------------------------------------

/// Saves `module` to `path` with the manifest `manifest` (JSON, checked by parse_manifest)
/// and the user's `extra_files`. \throws InputError for a bad manifest, an extra file named
/// like the manifest, or a path that cannot be written.
JITTRACE_API void save(const torch::jit::Module& module, const std::string& path,
                       const std::string& manifest, const ExtraFiles& extra_files);

/// A module whose `forward` is `function`, for saving a traced function.
JITTRACE_API torch::jit::Module function_module(const torch::jit::StrongFunctionPtr& function);

/// A loaded file: the module, its manifest (if it has one), and the extra files it lists.
struct Loaded {
  torch::jit::Module module;
  std::optional<Manifest> manifest;
  ExtraFiles extra_files;
};

/// Loads `path` (onto `device`, if given) with its manifest and the extra files it lists.
/// \throws InputError the file cannot be read or loaded.
JITTRACE_API Loaded load(const std::string& path, const std::optional<c10::Device>& device);

// ---- What a trace report reads from a graph (findings.cpp) --------------------------------------

/// Where a node came from in the user's code, when known: "model.py:12", else empty.
JITTRACE_API std::string source_of(const torch::jit::Node& node);

/// What one traced graph holds that its trace report lists.
struct GraphFindings {
  /// An integer constant passed to an operation as a size-like argument (a size, shape, start,
  /// end, length...; not a dim index, dtype or flag): a candidate for an input size baked in.
  struct SizeConstant {
    std::string op;        ///< "aten::view"
    std::string argument;  ///< the schema's name for it, "size"
    int64_t value;
  };
  /// A device constant passed to an operation: the tensors it makes stay on that device.
  struct DeviceConstant {
    std::string op;
    std::string device;  ///< "cpu", "cuda:0"
    std::string source;  ///< see source_of
  };
  std::vector<SizeConstant> sizes;  ///< values of 2 and more only (0, 1 and -1 are everywhere)
  std::vector<DeviceConstant> devices;
  /// Operations whose results depend on the random state (dropout in train mode, rand...).
  std::vector<std::string> random_ops;
};

/// The findings of `graph`, in node order (nested blocks included).
JITTRACE_API GraphFindings find_in_graph(const torch::jit::Graph& graph);

/// A constant that differs between two traces of the same code.
struct ConstantChange {
  /// The first operation that uses it ("prim::Constant" if none; "guard" for the value a guard
  /// checks, see guard()).
  std::string op;
  c10::IValue before;
  c10::IValue after;
};

/// The constants that differ between two traces of the same code on inputs of other sizes,
/// node by node; nullopt when the graphs differ in structure (other operations, another count),
/// e.g. when Python control flow took another branch.
JITTRACE_API std::optional<std::vector<ConstantChange>> compare_traces(const torch::jit::Graph& a,
                                                                       const torch::jit::Graph& b);

// ---- Devices that follow an input (devices.cpp) -------------------------------------------------

/// Calls `record`, which runs traced code (e.g. `torch.zeros(n, device=x.device)`), and then
/// rewrites the nodes it recorded: a device constant equal to the device of one of `sources`
/// (tensors of the trace: inputs, parameters, buffers or results) becomes `prim::device` of that
/// source, so the tensors made follow it to any device. Nodes that keep a device constant get
/// `location()` ("file.py:LINE"; called only then, and not stamped when empty) as their source
/// for source_of. Outside a trace, only calls `record`.
JITTRACE_API void follow_devices(const std::vector<at::Tensor>& sources,
                                 const std::function<void()>& record,
                                 const std::function<std::string()>& location);

// ---- Guards on values the traced code took from tensors (guards.cpp) ---------------------------

/// How traced code turned a tensor into a plain value, which the trace then holds as a constant.
enum class Conversion {
  kBool,    ///< `if t:`, `bool(t)`: its truth value
  kInt,     ///< `int(t)`
  kFloat,   ///< `float(t)`
  kItem,    ///< `t.item()`: a bool, int, float or complex number by dtype
  kToList,  ///< `t.tolist()`: nested lists by dtype (a number for a 0-dim tensor)
  kLen,     ///< `len(t)`: t.size(0)
  kIndex,   ///< `t.__index__()`: `range(t)`, `seq[t]`
  kIter,    ///< iterating over t: t.size(0) pieces
};

/// The Conversion called `name`: "bool", "int", "float", "item", "tolist", "len", "index" or
/// "iter". \throws InputError for any other name.
JITTRACE_API Conversion conversion_named(const std::string& name);

/// The name of `kind` (see conversion_named).
JITTRACE_API std::string conversion_name(Conversion kind);

/// Appends a guard to the graph being traced on this thread: TorchScript that recomputes, from
/// `tensor`'s traced value, the value `kind` gave at trace time (`observed`) and, when a call
/// gives another one, raises `message` (as `torch.jit.Error` in Python) with its first
/// `{actual}` replaced by the value of that call (or, without `{actual}`, the value appended in
/// parentheses). Inputs that give `observed` compute what they computed without the guard.
///
/// `observed` is what the conversion returned: a bool (kBool), an int (kInt, kIndex, kLen,
/// kIter), a float (kFloat), the number `item()` gave (kItem), the nested lists `tolist()`
/// gave (kToList). The guard is an `If` that raises (`prim::RaiseException`), which passes that
/// remove dead code keep; it survives saving, loading and freezing. In a trace jittrace runs
/// (trace_function, trace_module), it is built where the conversion was once the trace returns
/// (see GuardsAfterTrace in the core); in any other trace, at once.
///
/// Returns false, adding nothing, when no trace runs on this thread or when the value does not
/// depend on the trace's inputs (a constant, a tensor the trace never saw, one made from
/// constants or random numbers only): it is the same on every call (or, for random numbers,
/// differs by chance). Nor for tolist() of a quantized tensor, which TorchScript cannot list.
/// \throws InputError for an undefined tensor, or an `observed` that is not what `kind` gives.
JITTRACE_API bool guard(const at::Tensor& tensor, Conversion kind, const c10::IValue& observed,
                        const std::string& message);

/// Where the trace running on this thread is: the unique name of the last value it recorded
/// (none: no trace, or nothing recorded yet). What recorded_by_indexing() measures from.
JITTRACE_API std::optional<size_t> trace_mark();

/// For each `__index__` conversion of a traced tensor made at a trace_mark(), whether the trace
/// running on this thread went on to record that tensor's value as a bound of Python indexing
/// (`aten::slice` or `aten::select` taking the traced value, directly or through the scalar
/// conversion libtorch's tracer puts in front of it) within `window` nodes of the mark, and
/// before the next later conversion's mark (which would show its own use). Such a bound is
/// traced, right at every size, so it needs no guard; `range(n)` and a Python index need one.
/// False for a tensor the trace never saw, and for every conversion when no trace runs.
JITTRACE_API std::vector<bool> recorded_by_indexing(
    const std::vector<std::pair<at::Tensor, std::optional<size_t>>>& conversions, size_t window);

}  // namespace jittrace::detail
