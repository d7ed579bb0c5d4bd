// Running libtorch's tracer: input checks, mixed containers, error classification, functions.
#include <c10/util/Exception.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/lower_tuples.h>

#include <cctype>
#include <optional>
#include <sstream>
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

// A path into nested inputs or outputs, e.g. inputs[1]['mask'], formatted only on error.
struct Path {
  std::vector<std::string> parts;
  std::string str() const {
    std::string out;
    for (const auto& p : parts) out += p;
    return out;
  }
  void push_index(size_t i) { parts.push_back("[" + std::to_string(i) + "]"); }
  void push_key(const std::string& k) { parts.push_back("['" + k + "']"); }
  void pop() { parts.pop_back(); }
};

std::string describe(const IValue& v) {
  if (v.isNone()) return "None";
  if (v.isTensor()) return "an undefined tensor";
  if (v.isInt()) return "an int";
  if (v.isDouble()) return "a float";
  if (v.isBool()) return "a bool";
  if (v.isString()) return "a str";
  return "a value of type " + v.type()->annotation_str();
}

std::string message_of(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  return e.what();
}

[[noreturn]] void bad_input(const std::string& prefix, const Path& path, const std::string& what) {
  throw InputError(prefix + path.str() + " is " + what +
                   "; example inputs must be tensors, or tuples, lists and str-keyed dicts of "
                   "tensors");
}

void check_input(const std::string& prefix, const IValue& v, Path& path) {
  if (v.isTensor()) {
    if (!v.toTensor().defined()) bad_input(prefix, path, describe(v));
  } else if (v.isTuple() || v.isList()) {
    const auto elems = v.isTuple() ? v.toTupleRef().elements() : v.toListRef();
    for (size_t i = 0; i < elems.size(); ++i) {
      path.push_index(i);
      check_input(prefix, elems[i], path);
      path.pop();
    }
  } else if (v.isGenericDict()) {
    for (const auto& entry : v.toGenericDict()) {
      if (!entry.key().isString()) {
        bad_input(prefix, path, "a dict with a key " + describe(entry.key()));
      }
      path.push_key(entry.key().toStringRef());
      check_input(prefix, entry.value(), path);
      path.pop();
    }
  } else {
    bad_input(prefix, path, describe(v));
  }
}

[[noreturn]] void bad_output(const std::string& prefix, const Path& path, const std::string& what,
                             const std::string& hint = "") {
  throw TraceError(prefix + "the traced function returned " + what + " at " + path.str() +
                   "; outputs must be tensors, or tuples, lists and dicts of tensors" +
                   (hint.empty() ? "" : " (" + hint + ")"));
}

// Outputs libtorch's tracer can record: tensors, tuples of outputs, lists of tensors and dicts
// (the tracer checks a dict's key and value types itself, with a clear message). Non-tensor
// leaves are reported first, by path.
void check_output(const std::string& prefix, const IValue& v, Path& path) {
  if (v.isTensor() || v.isTensorList()) return;
  if (v.isTuple() || v.isList()) {
    const auto elems = v.isTuple() ? v.toTupleRef().elements() : v.toListRef();
    for (size_t i = 0; i < elems.size(); ++i) {
      path.push_index(i);
      check_output(prefix, elems[i], path);
      path.pop();
    }
    if (v.isList()) {
      bad_output(prefix, path,
                 "a list that does not hold only tensors (" + v.type()->annotation_str() + ")",
                 "a list must hold tensors only; use a tuple to nest");
    }
  } else if (v.isGenericDict()) {
    for (const auto& entry : v.toGenericDict()) {
      if (entry.key().isString())
        path.push_key(entry.key().toStringRef());
      else
        path.parts.push_back("[" + describe(entry.key()) + "]");
      check_output(prefix, entry.value(), path);
      path.pop();
    }
  } else {
    bad_output(prefix, path, describe(v));
  }
}

// ---- Mixed containers ----------------------------------------------------------------------
// libtorch's tracer types every input, so a list or dict must hold one type. A mixed one,
// e.g. [x, [y, z]], arrives as List[Any]. We trace it as a tuple and then give the graph an
// input of the original type that is taken apart with checks, so the function is called with
// the nesting it was traced with. Below an Any, the runtime type decides: a caller's inner
// list may be List[Tensor] (from Python) or List[Any] (built or unpickled in C++).

bool has_any(const c10::TypePtr& t) {
  if (t->kind() == c10::TypeKind::AnyType) return true;
  for (const auto& c : t->containedTypes()) {
    if (has_any(c)) return true;
  }
  return false;
}

bool is_container(const IValue& v) { return v.isList() || v.isTuple() || v.isGenericDict(); }

bool is_any(const c10::TypePtr& t) { return t->kind() == c10::TypeKind::AnyType; }

// Whether `v`, at a position of static type `type`, is traced in tuple form.
bool needs_adapting(const IValue& v, const c10::TypePtr& type) {
  return is_container(v) && (is_any(type) || has_any(type));
}

std::vector<IValue> elements_of(const IValue& v) {
  if (v.isTuple()) return v.toTupleRef().elements().vec();
  if (v.isList()) return v.toListRef().vec();
  std::vector<IValue> values;
  for (const auto& entry : v.toGenericDict()) values.push_back(entry.value());
  return values;
}

// The static types of the elements of `v`, a container at a position of static type `type`.
std::vector<c10::TypePtr> element_types(const IValue& v, const c10::TypePtr& type, size_t n) {
  if (is_any(type)) return std::vector<c10::TypePtr>(n, c10::AnyType::get());
  if (v.isTuple()) return type->expectRef<c10::TupleType>().elements().vec();
  if (v.isList())
    return std::vector<c10::TypePtr>(n, type->expectRef<c10::ListType>().getElementType());
  return std::vector<c10::TypePtr>(n, type->expectRef<c10::DictType>().getValueType());
}

IValue to_traceable(const IValue& v, const c10::TypePtr& type) {
  if (!needs_adapting(v, type)) return v;
  const auto elems = elements_of(v);
  const auto types = element_types(v, type, elems.size());
  std::vector<IValue> out;
  for (size_t i = 0; i < elems.size(); ++i) out.push_back(to_traceable(elems[i], types[i]));
  return c10::ivalue::Tuple::create(std::move(out));
}

// Rebuilds the nesting of `original` around the values the tracer handed back.
IValue restore(const IValue& traced, const IValue& original, const c10::TypePtr& type) {
  if (!needs_adapting(original, type)) return traced;
  const auto& traced_elems = traced.toTupleRef().elements();
  const auto original_elems = elements_of(original);
  const auto types = element_types(original, type, original_elems.size());
  std::vector<IValue> elems;
  for (size_t i = 0; i < original_elems.size(); ++i) {
    elems.push_back(restore(traced_elems[i], original_elems[i], types[i]));
  }
  if (original.isTuple()) return c10::ivalue::Tuple::create(std::move(elems));
  if (original.isList()) {
    c10::impl::GenericList list(original.toList().elementType());
    for (auto& e : elems) list.push_back(std::move(e));
    return list;
  }
  const auto dict = original.toGenericDict();
  c10::impl::GenericDict out(dict.keyType(), dict.valueType());
  size_t i = 0;
  for (const auto& entry : dict) out.insert(entry.key(), std::move(elems[i++]));
  return out;
}

// Emits `unchecked_cast(v) if isinstance(v, check) else raise TypeError(...)`.
Value* checked_cast(Graph& g, Value* v, const c10::TypePtr& check, const c10::TypePtr& cast,
                    const std::string& where, const std::string& expected) {
  using namespace torch::jit;
  Value* ok = g.insertNode(g.createIsInstance(v, {check}))->output();
  Node* branch = g.insertNode(g.create(prim::If, {ok}, 1));
  branch->output()->setType(cast);
  Block* then_block = branch->addBlock();
  Block* else_block = branch->addBlock();
  {
    WithInsertPoint guard(then_block);
    then_block->registerOutput(g.insertUncheckedCast(v, cast));
  }
  {
    WithInsertPoint guard(else_block);
    std::string msg = "jittrace: " + where + " must be " + expected +
                      ", as in the example inputs the function was traced with";
    g.insert(prim::RaiseException, {msg, std::string("builtins.TypeError")});
    else_block->registerOutput(g.insertNode(g.createUninitialized(cast))->output());
  }
  return branch->output();
}

// Turns `v`, of static type `type`, into the traced tuple form of `original`.
Value* adapt(Graph& g, Value* v, const IValue& original, const c10::TypePtr& type,
             const std::string& where) {
  using namespace torch::jit;
  if (is_any(type) && original.isTensor()) {
    return checked_cast(g, v, c10::TensorType::get(), c10::TensorType::get(), where, "a Tensor");
  }
  if (!needs_adapting(original, type)) return v;
  const auto originals = elements_of(original);
  const size_t n = originals.size();
  const auto types = element_types(original, type, n);
  std::vector<Value*> parts;
  std::vector<std::string> names;
  if (original.isGenericDict()) {
    if (is_any(type)) {  // no isinstance test exists for dicts: a non-dict fails in __getitem__
      v = g.insertUncheckedCast(v, c10::DictType::create(c10::StringType::get(), type));
    }
    for (const auto& entry : original.toGenericDict()) {
      parts.push_back(g.insert(aten::__getitem__, {v, entry.key()}));
      names.push_back(where + "['" + entry.key().toStringRef() + "']");
    }
  } else {
    for (size_t i = 0; i < n; ++i) names.push_back(where + "[" + std::to_string(i) + "]");
    if (original.isList()) {
      if (is_any(type)) {
        v = checked_cast(g, v, c10::AnyListType::get(), c10::ListType::create(c10::AnyType::get()),
                         where, "a list");
      }
      parts = g.insertNode(g.createListUnpack(v, n))->outputs().vec();  // checks the length
    } else if (!is_any(type)) {
      parts = g.insertNode(g.createTupleUnpack(v))->outputs().vec();
    } else {
      // A tuple of unknown arity: TupleIndex checks bounds, TupleUnpack would not.
      v = checked_cast(g, v, c10::AnyTupleType::get(),
                       c10::TupleType::create(std::vector<c10::TypePtr>(n, c10::AnyType::get())),
                       where, "a tuple");
      for (size_t i = 0; i < n; ++i) {
        parts.push_back(
            g.insertNode(g.createTupleIndex(v, g.insertConstant(static_cast<int64_t>(i)),
                                            c10::AnyType::get()))
                ->output());
      }
    }
  }
  std::vector<Value*> elems;
  for (size_t i = 0; i < n; ++i)
    elems.push_back(adapt(g, parts[i], originals[i], types[i], names[i]));
  return g.insertNode(g.createTuple(elems))->output();
}

// Replaces the tuple-typed graph inputs of mixed containers by inputs of the original types.
void adapt_graph_inputs(Graph& g, const std::vector<IValue>& originals, size_t offset) {
  bool changed = false;
  for (size_t i = 0; i < originals.size(); ++i) {
    const auto type = c10::unshapedType(originals[i].type());
    if (!needs_adapting(originals[i], type)) continue;
    const size_t pos = offset + i;
    Value* old_input = g.inputs()[pos];
    const std::string name = old_input->hasDebugName() ? old_input->debugNameBase()
                                                       : "argument_" + std::to_string(i + 1);
    Value* new_input = g.insertInput(pos)->setType(type);
    torch::jit::WithInsertPoint guard(g.block()->param_node()->next());
    old_input->replaceAllUsesWith(adapt(g, new_input, originals[i], type, name));
    g.eraseInput(pos + 1);
    new_input->setDebugName(name);
    changed = true;
  }
  if (changed) {
    auto graph = g.shared_from_this();
    torch::jit::LowerSimpleTuples(graph);
    torch::jit::EliminateDeadCode(graph);
  }
}

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
  } else {
    chunk.register_module(name, torch::jit::Module(v.toObject()));
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

size_t attribute_index(torch::jit::Node* node, char prefix) {
  using namespace torch::jit;
  const std::string name = node->kind() == prim::GetAttr ? node->s(attr::name) : "";
  if (name.size() < 2 || name[0] != prefix) {
    throw TraceError("[jittrace] internal error: unexpected use of the traced module (" +
                     std::string(node->kind().toQualString()) + "); please report this");
  }
  return std::stoul(name.substr(1));
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

}  // namespace

bool is_identifier(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::shared_ptr<Graph> trace_graph(const std::string& prefix, const Fn& fn,
                                   std::vector<IValue> inputs, bool strict,
                                   torch::jit::Module* self,
                                   const std::vector<std::string>& argument_names) {
  if (!fn) throw InputError(prefix + "the function to trace is empty");
  if (torch::jit::tracer::isTracing()) {
    throw TraceError(prefix +
                     "a trace is already running on this thread; jittrace cannot be called "
                     "from inside code that is being traced");
  }
  Path path;
  bool any_mixed = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    path.parts = {"inputs[" + std::to_string(i) + "]"};
    check_input(prefix, inputs[i], path);
    any_mixed = any_mixed || needs_adapting(inputs[i], inputs[i].type());
  }
  std::vector<IValue> traceable;
  if (any_mixed) {
    for (const auto& v : inputs) traceable.push_back(to_traceable(v, v.type()));
  }

  bool fn_threw = false;
  auto traced_fn = [&](torch::jit::Stack stack) -> torch::jit::Stack {
    if (any_mixed) {
      for (size_t i = 0; i < stack.size(); ++i) {
        stack[i] = restore(stack[i], inputs[i], inputs[i].type());
      }
    }
    IValue out;
    try {
      out = fn(std::move(stack));
    } catch (...) {
      fn_threw = true;
      throw;
    }
    Path out_path{{"output"}};
    check_output(prefix, out, out_path);
    return {std::move(out)};
  };
  auto no_names = [](const torch::autograd::Variable& /*unused*/) { return std::string(); };

  std::optional<FlatSelf> flat;
  if (self) flat = flatten(*self);
  std::shared_ptr<Graph> graph;
  try {
    graph = torch::jit::tracer::trace(any_mixed ? traceable : inputs, traced_fn, no_names, strict,
                                      /*force_outplace=*/false, flat ? &flat->proxy : nullptr,
                                      argument_names)
                .first->graph;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    if (fn_threw) throw;
    throw TraceError(prefix + "tracing failed: " + message_of(e));
  }
  if (flat) unflatten(*graph, *flat, *self);
  if (any_mixed) adapt_graph_inputs(*graph, inputs, self ? 1 : 0);
  return graph;
}

void add_method(torch::jit::Module& self, const std::string& name,
                std::shared_ptr<torch::jit::Graph> graph) {
  auto cu = self._ivalue()->compilation_unit();
  auto* fn = cu->create_function(c10::QualifiedName(*self.type()->name(), name), std::move(graph));
  self.type()->addMethod(fn);
}

}  // namespace detail

torch::jit::StrongFunctionPtr trace_to_function(const Fn& fn, std::vector<c10::IValue> inputs,
                                                const std::string& qualified_name, bool strict,
                                                const std::vector<std::string>& argument_names,
                                                const std::string& api) {
  c10::QualifiedName name(qualified_name);
  for (const auto& atom : name.atoms()) {
    if (!detail::is_identifier(atom)) {
      throw InputError("[" + api + "] '" + qualified_name + "' is not a valid qualified name: '" +
                       atom + "' is not an identifier");
    }
  }
  auto graph = detail::trace_graph("[" + api + "] ", fn, std::move(inputs), strict,
                                   /*self=*/nullptr, argument_names);
  auto cu = std::make_shared<torch::jit::CompilationUnit>();
  auto* function = cu->create_function(std::move(name), std::move(graph));
  return {std::move(cu), function};
}

torch::jit::Module trace_function(const Fn& fn, std::vector<c10::IValue> inputs,
                                  TraceOptions options) {
  auto cu = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module module(c10::QualifiedName("__torch__.jittrace.TracedFunction"), cu);
  module.register_attribute("training", c10::BoolType::get(), true);
  detail::add_method(
      module, "forward",
      detail::trace_graph("[trace_function] ", fn, std::move(inputs), options.strict, &module, {}));
  return module;
}

}  // namespace jittrace
