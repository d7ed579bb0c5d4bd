// Running libtorch's tracer: a trace of one callable into a graph (against a flat proxy of
// `self`), and free functions made of such traces.
#include <c10/util/Exception.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cctype>
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

using c10::IValue;
using torch::jit::Graph;
using torch::jit::Value;

// ---- A flat `self` ------------------------------------------------------------------------------
// libtorch's tracer reads a module's tensors through `self`. A deep hierarchy gives every read a
// chain of module-typed values, and the alias analysis in the tracer's clean-up passes grows
// faster than linearly with them. So we trace against a proxy that holds the tensors two levels
// deep (in chunks: a class type finds an attribute by a linear search over its names), and
// afterwards read each one through its real path, sharing the chains' prefixes.

constexpr size_t kChunk = 32;

struct FlatSelf {
  torch::jit::Module proxy;  // attributes c<k>, each holding attributes a<j>
  std::vector<torch::jit::Module> chunks;
  std::vector<std::vector<std::vector<std::string>>> paths;  // [k][j]: path in the real module
};

void add_to_flat(FlatSelf& flat, const std::vector<std::string>& path, const c10::IValue& v) {
  if (flat.chunks.empty() || flat.paths.back().size() == kChunk) {
    flat.chunks.emplace_back(c10::QualifiedName("__torch__.jittrace.FlatChunk"),
                             flat.proxy._ivalue()->compilation_unit(), /*shouldMangle=*/true);
    flat.paths.emplace_back();
    flat.proxy.register_module("c" + std::to_string(flat.chunks.size() - 1), flat.chunks.back());
  }
  auto& chunk = flat.chunks.back();
  const std::string name = "a" + std::to_string(flat.paths.back().size());
  if (v.isTensor()) {
    chunk.register_buffer(name, v.toTensor());
  } else if (v.isModule()) {
    chunk.register_module(name, torch::jit::Module(v.toObject()));
  } else {  // a custom-class object, e.g. quantized packed weights
    chunk.register_attribute(name, v.type(), v);
  }
  flat.paths.back().push_back(path);
}

void flatten_into(const torch::jit::Module& m, std::vector<std::string>& path, FlatSelf& flat,
                  std::unordered_set<const void*>& seen) {
  for (const auto& attr : m.named_attributes(/*recurse=*/false)) {
    const auto& v = attr.value;
    path.push_back(attr.name);
    if (v.isTensor()) {
      const auto& t = v.toTensor();
      if (t.defined() && seen.insert(t.unsafeGetTensorImpl()).second) add_to_flat(flat, path, v);
    } else if (v.isModule()) {
      torch::jit::Module child(v.toObject());
      if (child.get_methods().empty()) {
        flatten_into(child, path, flat, seen);  // a mirrored submodule: only tensors
      } else {  // already TorchScript: its methods are called, so it stays a module
        add_to_flat(flat, path, v);
      }
    } else if (v.isObject() && seen.insert(&v.toObjectRef()).second) {
      add_to_flat(flat, path, v);
    }
    path.pop_back();
  }
}

FlatSelf flatten(const torch::jit::Module& self) {
  FlatSelf flat{torch::jit::Module(c10::QualifiedName("__torch__.jittrace.FlatSelf"),
                                   std::make_shared<torch::jit::CompilationUnit>()),
                {},
                {}};
  std::vector<std::string> path;
  std::unordered_set<const void*> seen;
  flatten_into(self, path, flat, seen);
  return flat;
}

// The index k of a proxy attribute read `<prefix>k` (c3, a17).
size_t attribute_index(torch::jit::Node* node, char prefix) {
  using namespace torch::jit;
  const std::string name = node->kind() == prim::GetAttr ? node->s(attr::name) : "";
  size_t index = 0;
  bool valid = name.size() >= 2 && name[0] == prefix && name.size() < 12;
  for (size_t i = 1; valid && i < name.size(); ++i) {
    valid = std::isdigit(static_cast<unsigned char>(name[i])) != 0;
    index = index * 10 + static_cast<size_t>(name[i] - '0');
  }
  if (!valid) {
    throw InternalError("[jittrace] internal error: unexpected use of the traced module (" +
                        std::string(node->kind().toQualString()) + " " + name +
                        "); please report this");
  }
  return index;
}

// Replaces the proxy input of `g` by `self`, reading each proxy attribute through its path.
void unflatten(Graph& g, const FlatSelf& flat, const torch::jit::Module& self) {
  using namespace torch::jit;
  Value* proxy = g.inputs()[0];
  Value* real = g.insertInput(0, "self")->setType(self._ivalue()->type());
  WithInsertPoint guard(g.block()->param_node()->next());
  std::unordered_map<std::string, Value*> reads;  // ".a.b.c" -> value
  auto read = [&](const std::vector<std::string>& path) {
    Value* v = real;
    std::string key;
    for (const auto& atom : path) {
      key += "." + atom;
      auto [it, fresh] = reads.try_emplace(key, nullptr);
      if (fresh) it->second = g.insertNode(g.createGetAttr(v, atom))->output();
      v = it->second;
    }
    return v;
  };
  for (const auto& chunk_use : std::vector<Use>(proxy->uses())) {
    Node* chunk_read = chunk_use.user;
    const auto& paths = flat.paths.at(attribute_index(chunk_read, 'c'));
    for (const auto& use : std::vector<Use>(chunk_read->output()->uses())) {
      Node* node = use.user;
      node->output()->replaceAllUsesWith(read(paths.at(attribute_index(node, 'a'))));
      node->destroy();
    }
    chunk_read->destroy();
  }
  g.eraseInput(1);
}

// libtorch's tracer rejects reading a tensor that requires grad when it is not an input or a
// `self` attribute: it would have to become a constant. The op inside the traced code raises it.
bool is_constant_requiring_grad(const std::string& message) {
  return message.find("Cannot insert a Tensor that requires grad as a constant") !=
         std::string::npos;
}

}  // namespace

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

  bool fn_threw = false;
  auto traced_fn = [&](torch::jit::Stack stack) -> torch::jit::Stack {
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
  auto no_names = [](const torch::autograd::Variable& /*unused*/) { return std::string(); };

  std::optional<FlatSelf> flat;
  if (self) flat = flatten(*self);
  std::shared_ptr<Graph> graph;
  try {
    graph =
        torch::jit::tracer::trace(traceable, traced_fn, no_names, strict,
                                  /*force_outplace=*/false, flat ? &flat->proxy : nullptr, names)
            .first->graph;
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
  if (flat) unflatten(*graph, *flat, *self);
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
