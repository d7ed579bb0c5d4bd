// Running libtorch's tracer: a trace of one callable into a graph (reading `self`'s state),
// and free functions made of such traces.
#include <c10/util/Exception.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/fixup_trace_scope_blocks.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/lower_tuples.h>
#include <torch/csrc/jit/passes/normalize_ops.h>
#include <torch/csrc/jit/runtime/operator.h>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "internal.h"

namespace jittrace {

const char* version() { return JITTRACE_VERSION; }

namespace detail {
namespace {

thread_local NameLookup name_lookup;  // see set_name_lookup

using c10::IValue;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// ---- The state of `self` ------------------------------------------------------------------------
// libtorch's tracer reads a module's tensors through `self` when it is given one: it adds a
// `prim::TracedAttr` per attribute, and its clean-up converts them into `prim::GetAttr` chains
// and cleans up every method of `self`. We give it no `self`: the module's tensors are the first
// inputs of the trace (so the tracer knows them, and an example input that is one of them becomes
// a view, as with `self`), TorchScript submodules and custom-class objects are inputs added while
// tracing starts, and afterwards each of those inputs becomes a read through its real path,
// sharing the chains' prefixes. The graph's clean-up then never sees a module-typed value.

struct SelfState {
  std::vector<IValue> tensors;  // leading inputs of the trace
  std::vector<IValue> objects;  // TorchScript submodules, custom-class objects
  std::vector<std::vector<std::string>> tensor_paths, object_paths;  // in `self`
};

void collect_state(const torch::jit::Module& m, std::vector<std::string>& path, SelfState& state,
                   std::unordered_set<const void*>& seen) {
  for (const auto& attr : m.named_attributes(/*recurse=*/false)) {
    const auto& v = attr.value;
    path.push_back(attr.name);
    if (v.isTensor()) {
      const auto& t = v.toTensor();
      if (t.defined() && seen.insert(t.unsafeGetTensorImpl()).second) {
        state.tensors.push_back(v);
        state.tensor_paths.push_back(path);
      }
    } else if (v.isModule()) {
      torch::jit::Module child(v.toObject());
      // Already TorchScript: the traced code calls its methods, so it is read as a module too.
      if (!child.get_methods().empty() && seen.insert(&v.toObjectRef()).second) {
        state.objects.push_back(v);
        state.object_paths.push_back(path);
      }
      collect_state(child, path, state, seen);
    } else if (v.isObject() && seen.insert(&v.toObjectRef()).second) {  // e.g. packed weights
      state.objects.push_back(v);
      state.object_paths.push_back(path);
    }
    path.pop_back();
  }
}

SelfState collect_state(const torch::jit::Module& self) {
  SelfState state;
  std::vector<std::string> path;
  std::unordered_set<const void*> seen;
  collect_state(self, path, state, seen);
  return state;
}

// Gives `g` the input `self` in front and replaces each input in `stand_ins` (one per path) by
// the read of `paths[i]` from it; the stand-ins are removed.
void read_from_self(Graph& g, const std::vector<Value*>& stand_ins,
                    const std::vector<std::vector<std::string>>& paths,
                    const torch::jit::Module& self) {
  using namespace torch::jit;
  Value* real = g.insertInput(0, "self")->setType(self._ivalue()->type());
  WithInsertPoint guard(g.block()->param_node()->next());
  std::unordered_map<std::string, Value*> reads;  // ".a.b.c" -> value
  for (size_t i = 0; i < stand_ins.size(); ++i) {
    if (!stand_ins[i]->hasUses()) continue;
    Value* v = real;
    std::string key;
    for (const auto& atom : paths[i]) {
      key += "." + atom;
      auto [it, fresh] = reads.try_emplace(key, nullptr);
      if (fresh) it->second = g.insertNode(g.createGetAttr(v, atom))->output();
      v = it->second;
    }
    stand_ins[i]->replaceAllUsesWith(v);
  }
  std::vector<size_t> offsets;
  for (Value* v : stand_ins) offsets.push_back(v->offset());
  std::sort(offsets.rbegin(), offsets.rend());
  for (size_t offset : offsets) g.eraseInput(offset);
}

// ---- Recording ----------------------------------------------------------------------------------
// What torch::jit::tracer::trace does, with its exported parts, except for the clean-up at the
// end. libtorch ends every trace with FixupTraceScopeBlocks, which exists for module-scope blocks
// (made only while torch.jit._trace._trace_module_map is set) and traced forks (torch.jit.fork in
// the traced code), and then cleans up the graph: tuple lowering with a dead-code elimination,
// a second dead-code elimination (each with its own alias analysis) and a lint. On a graph with
// none of those nodes, the second elimination finds nothing left to remove and the lint is a
// check of libtorch's own invariants, yet the two were 22 % of the instructions of a two-mode
// trace of a small Llama (callgrind). So a graph with scope nodes gets libtorch's pass as it is,
// and any other graph only the tuple lowering and one elimination (eliminate_dead_code).

namespace tracer = torch::jit::tracer;

// Makes `input` (of type `type`) the value `value` of the running trace, as libtorch's tracer
// does with its inputs: tensors are known by the tracer from here on, containers are unpacked
// into their elements. Returns the input as the traced function gets it: a tensor given twice is
// a view the second time, so that each input has its own value in the graph.
IValue declare_input(tracer::TracingState& state, const IValue& input, const c10::TypePtr& type,
                     Value* value) {
  value->setType(type);
  Graph& g = *state.graph;
  if (type->isSubtypeOf(*c10::TensorType::get())) {
    at::Tensor tensor = input.toTensor();
    if (!value->hasDebugName()) value->setDebugName(tensor.name());
    if (state.hasValue(input)) tensor = tensor.view(tensor.sizes());
    state.setValue(tensor, value);
    return tensor;
  }
  if (const auto tuple_type = type->cast<c10::TupleType>()) {
    const auto tuple = input.toTuple();
    Node* unpack = g.insertNode(g.createTupleUnpack(value));
    for (size_t i = 0; i < tuple->elements().size(); ++i) {
      tuple->unsafeSetElement(i, declare_input(state, tuple->elements()[i],
                                               tuple_type->elements()[i], unpack->outputs()[i]));
    }
    return tuple;
  }
  if (const auto list_type = type->cast<c10::ListType>()) {
    auto list = input.toList();
    Node* unpack = g.insertNode(g.createListUnpack(value, list.size()));
    for (size_t i = 0; i < list.size(); ++i) {
      list.set(
          i, declare_input(state, list.get(i), list_type->getElementType(), unpack->outputs()[i]));
    }
    return list;
  }
  if (const auto dict_type = type->cast<c10::DictType>()) {
    auto dict = input.toGenericDict();
    for (const auto& entry : dict) {
      Value* item = g.insert(c10::aten::__getitem__, {value, g.insertConstant(entry.key())});
      tracer::recordSourceLocation(item->node());
      dict.insert_or_assign(entry.key(),
                            declare_input(state, entry.value(), dict_type->getValueType(), item));
    }
    return dict;
  }
  throw TraceError("a traced input must be a tensor, or a tuple, list or dict of them, not " +
                   type->repr_str());
}

// Nodes that only libtorch's FixupTraceScopeBlocks turns into TorchScript.
bool has_scope_nodes(const Graph& g) {
  return std::any_of(g.nodes().begin(), g.nodes().end(), [](const Node* n) {
    const auto kind = n->kind();
    return kind == c10::prim::TracedModuleForward || kind == c10::prim::TracedFork;
  });
}

// Whether `n` computes its outputs from its inputs and nothing else: an operator that reads
// its inputs by its schema (no `!` on any argument, no conservative alias analysis), or one of
// the prims the tracer records to build and take apart values. A node with side effects is kept
// whatever it does, and so is not asked.
bool is_pure(const Node* n) {
  switch (n->kind()) {
    case c10::prim::Constant:
    case c10::prim::ListConstruct:
    case c10::prim::ListUnpack:
    case c10::prim::TupleConstruct:
    case c10::prim::TupleUnpack:
    case c10::prim::DictConstruct:
    case c10::prim::NumToTensor:
    case c10::prim::GetAttr:
    case c10::prim::device:
    case c10::prim::dtype:
      return true;
    default:
      break;
  }
  if (!n->kind().is_aten()) return false;
  const torch::jit::Operator* op = n->maybeOperator();
  return op != nullptr && !op->schema().is_mutable() &&
         op->aliasAnalysisKind() == c10::AliasAnalysisKind::FROM_SCHEMA;
}

// Runs `fn` on `inputs` while libtorch's tracer records it, and returns the graph.
std::shared_ptr<Graph> record(std::vector<IValue> inputs,
                              const std::function<torch::jit::Stack(torch::jit::Stack)>& fn,
                              std::function<std::string(const torch::autograd::Variable&)> lookup,
                              bool strict, const std::vector<std::string>& names) {
  auto state = std::make_shared<tracer::TracingState>();
  tracer::setTracingState(state);
  try {
    const bool named = names.size() >= inputs.size();
    for (size_t i = 0; i < inputs.size(); ++i) {
      Value* value = named ? state->graph->addInput(names[i]) : state->graph->addInput();
      inputs[i] = declare_input(*state, inputs[i], inputs[i].type(), value);
    }
    state->lookup_var_name_fn = std::move(lookup);
    state->strict = strict;
    state->force_outplace = false;
    const torch::jit::Stack outputs = fn(std::move(inputs));
    for (size_t i = 0; i < outputs.size(); ++i) {
      // libtorch's numbering in its messages about an output it cannot trace
      state->graph->registerOutput(state->getOutput(outputs[i], outputs.size() - i));
    }
  } catch (...) {
    tracer::setTracingState(nullptr);
    throw;
  }
  tracer::setTracingState(nullptr);
  std::shared_ptr<Graph> graph = state->graph;
  if (torch::jit::getInlineEverythingMode()) torch::jit::Inline(*graph);
  if (has_scope_nodes(*graph)) {
    torch::jit::FixupTraceScopeBlocks(graph, /*self=*/nullptr);
  } else {
    torch::jit::LowerSimpleTuples(graph->block());
    eliminate_dead_code(graph);
  }
  torch::jit::NormalizeOps(graph);
  return graph;
}

// libtorch's tracer rejects reading a tensor that requires grad when it is not an input or a
// `self` attribute: it would have to become a constant. The op inside the traced code raises it.
bool is_constant_requiring_grad(const std::string& message) {
  return message.find("Cannot insert a Tensor that requires grad as a constant") !=
         std::string::npos;
}

}  // namespace

// libtorch's EliminateDeadCode builds an alias analysis of the whole graph (half its cost on a
// trace), which only a node that writes to memory without side effects of its own needs: such a
// node is live when it writes to memory something live reads. A flat graph without one (most
// traces) loses the same nodes to one backward sweep, which sees each node after all its users:
// a node without side effects whose outputs nothing uses is dead. Any other graph gets
// libtorch's.
void eliminate_dead_code(const std::shared_ptr<Graph>& graph) {
  for (const Node* n : graph->nodes()) {
    if (!n->blocks().empty() || (!n->hasSideEffects() && !is_pure(n))) {
      torch::jit::EliminateDeadCode(graph);
      return;
    }
  }
  for (auto it = graph->nodes().rbegin(); it != graph->nodes().rend();) {
    Node* n = *it++;  // the iterator moves on before `n` may be destroyed
    const bool used = std::any_of(n->outputs().begin(), n->outputs().end(),
                                  [](const Value* v) { return v->hasUses(); });
    if (!used && !n->hasSideEffects()) n->destroy();
  }
}

NameLookup set_name_lookup(NameLookup lookup) {
  std::swap(lookup, name_lookup);
  return lookup;
}

std::shared_ptr<Graph> trace_graph(const std::string& prefix, const Method& method, bool strict,
                                   torch::jit::Module* self) {
  if (!method.fn) throw InputError(prefix + "the function to trace is empty");
  if (torch::jit::tracer::isTracing()) {
    throw TraceError(prefix +
                     "a trace is already running on this thread; jittrace cannot be called "
                     "from inside code that is being traced");
  }
  // Constants are not inputs of the trace: the function receives them as they are.
  const auto& inputs = method.inputs;
  const bool any_mixed = check_inputs(prefix, inputs);
  std::vector<IValue> traceable;
  std::vector<std::string> names;
  std::vector<size_t> positions;  // of the traced inputs among all
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (is_constant(inputs[i])) continue;
    traceable.push_back(any_mixed ? to_traceable(inputs[i]) : inputs[i]);
    if (i < method.argument_names.size()) names.push_back(method.argument_names[i]);
    positions.push_back(i);
  }
  if (names.size() != positions.size()) names.clear();
  const bool any_constant = positions.size() != inputs.size();

  // The module's tensors go first (see SelfState); the function never sees them.
  std::optional<SelfState> state;
  if (self) state = collect_state(*self);
  const size_t n_state = state ? state->tensors.size() : 0;
  std::vector<Value*> object_inputs;
  if (state) {
    traceable.insert(traceable.begin(), state->tensors.begin(), state->tensors.end());
    if (!names.empty()) names.insert(names.begin(), n_state, std::string());
  }

  bool fn_threw = false;
  GuardsAfterTrace guards;
  auto traced_fn = [&](torch::jit::Stack stack) -> torch::jit::Stack {
    guards.follow_current_trace();
    stack.erase(stack.begin(), stack.begin() + static_cast<std::ptrdiff_t>(n_state));
    if (state) {
      const auto& tracing = torch::jit::tracer::getTracingState();
      for (const auto& object : state->objects) {
        object_inputs.push_back(tracing->graph->addInput()->setType(object.type()));
        torch::jit::tracer::setValueTrace(object, object_inputs.back());
      }
    }
    if (any_mixed) {
      for (size_t k = 0; k < stack.size(); ++k) {
        stack[k] = from_traceable(stack[k], inputs[positions[k]]);
      }
    }
    if (any_constant) {
      torch::jit::Stack all(inputs.begin(), inputs.end());
      for (size_t k = 0; k < stack.size(); ++k) all[positions[k]] = std::move(stack[k]);
      stack = std::move(all);
    }
    IValue out;
    try {
      out = method.fn(std::move(stack));
    } catch (...) {
      fn_threw = true;
      throw;
    }
    check_output(prefix, out);
    return {std::move(out)};
  };
  auto lookup_name = [](const torch::autograd::Variable& var) {
    return name_lookup ? name_lookup(var) : std::string();
  };

  std::shared_ptr<Graph> graph;
  try {
    graph = record(std::move(traceable), traced_fn, lookup_name, strict, names);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string message = message_of(e);
    if (is_constant_requiring_grad(message)) {
      throw TraceError(prefix +
                       "the traced code read a tensor that requires grad and is neither an "
                       "example input nor a parameter or buffer of the traced module (a tensor "
                       "captured from an enclosing scope?), and a trace cannot keep it (Cannot "
                       "insert a Tensor that requires grad as a constant); pass it as an input, "
                       "register it on the module, or detach() it");
    }
    if (fn_threw) throw;
    throw TraceError(prefix + "tracing failed: " + message);
  }
  guards.build();
  if (state) {
    std::vector<Value*> stand_ins(graph->inputs().begin(),
                                  graph->inputs().begin() + static_cast<std::ptrdiff_t>(n_state));
    auto paths = state->tensor_paths;
    stand_ins.insert(stand_ins.end(), object_inputs.begin(), object_inputs.end());
    paths.insert(paths.end(), state->object_paths.begin(), state->object_paths.end());
    read_from_self(*graph, stand_ins, paths, *self);
  }
  if (any_mixed) {
    std::vector<IValue> originals;
    for (size_t i : positions) originals.push_back(inputs[i]);
    adapt_graph_inputs(*graph, originals, self ? 1 : 0);
  }
  return graph;
}

void add_method(torch::jit::Module& self, const std::string& name,
                std::shared_ptr<torch::jit::Graph> graph) {
  auto cu = self._ivalue()->compilation_unit();
  auto* fn = cu->create_function(c10::QualifiedName(*self.type()->name(), name), std::move(graph));
  self.type()->addMethod(fn);
}

VariantTrace variant_trace(const Method& method, std::string callee, const Graph& graph,
                           size_t offset) {
  VariantTrace trace{&method, std::move(callee), {}, graph.outputs().at(0)->type()};
  for (size_t i = offset; i < graph.inputs().size(); ++i) {
    trace.input_types.push_back(graph.inputs()[i]->type());
  }
  return trace;
}

std::string variant_prefix(const std::string& prefix, const std::vector<const Method*>& variants,
                           size_t i) {
  return variants.size() > 1 ? prefix + "variant " + std::to_string(i) + ": " : prefix;
}

TracedFunction trace_function(const std::vector<Method>& variants, const std::string& dotted_name,
                              const TraceOptions& options, const std::string& api) {
  const std::string prefix = "[" + api + "] ";
  if (variants.empty()) throw InputError(prefix + "there is nothing to trace");
  auto cu = std::make_shared<torch::jit::CompilationUnit>();
  const std::string qualified = qualified_name(dotted_name);
  const auto dot = dotted_name.rfind('.');
  const std::string shown = dot == std::string::npos ? dotted_name : dotted_name.substr(dot + 1);
  std::vector<const Method*> methods;
  for (const auto& m : variants) methods.push_back(&m);
  std::vector<TraceRecord> records;
  if (!needs_dispatch(methods)) {
    auto graph = trace_graph(prefix, variants[0], options.strict, /*self=*/nullptr);
    auto* fn = cu->create_function(c10::QualifiedName(qualified), graph);
    records.push_back({shown, std::nullopt, 0, fn->name(), std::move(graph), 0});
    return {{cu, fn}, std::move(records)};
  }
  const std::string base = c10::QualifiedName(qualified).name();
  std::vector<VariantTrace> traces;
  std::map<std::string, torch::jit::Function*> callees;
  for (size_t i = 0; i < variants.size(); ++i) {
    auto graph = trace_graph(variant_prefix(prefix, methods, i), variants[i], options.strict,
                             /*self=*/nullptr);
    const std::string callee = base + "__" + std::to_string(i);
    traces.push_back(variant_trace(variants[i], callee, *graph, 0));
    records.push_back({shown, std::nullopt, i, callee, graph, 0});
    callees[callee] = cu->create_function(c10::QualifiedName(qualified + "__" + std::to_string(i)),
                                          std::move(graph));
  }
  return {define_function(cu, qualified, variant_dispatcher(prefix, base, shown, traces, false),
                          callees),
          std::move(records)};
}

}  // namespace detail

torch::jit::Module trace_function(const Fn& fn, std::vector<c10::IValue> inputs,
                                  const TraceOptions& options) {
  auto cu = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module module(c10::QualifiedName("__torch__.jittrace.TracedFunction"), cu);
  module.register_attribute("training", c10::BoolType::get(), true);
  const std::string prefix = "[trace_function] ";
  Method method{"forward", fn, std::move(inputs)};
  auto graph = detail::trace_graph(prefix, method, options.strict, &module);
  if (!detail::needs_dispatch({&method})) {
    detail::add_method(module, "forward", std::move(graph));
    return module;
  }
  auto trace = detail::variant_trace(method, "forward__0", *graph, 1);
  detail::add_method(module, "forward__0", std::move(graph));
  detail::define_method(module,
                        detail::variant_dispatcher(prefix, "forward", "forward", {trace}, true));
  return module;
}

}  // namespace jittrace
