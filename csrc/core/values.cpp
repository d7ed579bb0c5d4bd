// What goes into and comes out of a trace: checks of example inputs and outputs with their
// messages, mixed containers traced in tuple form, and TorchScript names.
#include <c10/util/Exception.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/lower_tuples.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "internal.h"

namespace jittrace::detail {
namespace {

using c10::IValue;
using torch::jit::Graph;
using torch::jit::Value;

std::string describe(const IValue& v) {
  if (v.isNone()) return "None";
  if (v.isTensor()) return "an undefined tensor";
  if (v.isInt()) return "an int";
  if (v.isDouble()) return "a float";
  if (v.isBool()) return "a bool";
  if (v.isString()) return "a str";
  return "a value of type " + v.type()->annotation_str();
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
      const auto& key = entry.key();
      if (!key.isString() && !key.isInt() && !key.isDouble() && !key.isBool()) {
        bad_input(prefix, path, "a dict with a key " + describe(key),
                  "dict keys must be str, int, float or bool");
      }
      path.push_key(key);
      check_input(prefix, entry.value(), path);
      path.pop();
    }
  } else {
    bad_input(prefix, path, describe(v),
              is_constant(v) ? "a constant must be a whole argument, not part of one that holds "
                               "tensors"
                             : "");
  }
}

// Outputs libtorch's tracer can record: tensors, tuples of outputs, lists of tensors and dicts
// (the tracer checks a dict's key and value types itself, with a clear message). Non-tensor
// leaves are reported first, by path.
void check_output_at(const std::string& prefix, const IValue& v, Path& path) {
  if (v.isTensor() || v.isTensorList()) return;
  if (v.isTuple() || v.isList()) {
    const auto elems = v.isTuple() ? v.toTupleRef().elements() : v.toListRef();
    for (size_t i = 0; i < elems.size(); ++i) {
      path.push_index(i);
      check_output_at(prefix, elems[i], path);
      path.pop();
    }
    if (v.isList()) {
      bad_output(prefix, path,
                 "a list that does not hold only tensors (" + v.type()->annotation_str() + ")",
                 "a list must hold tensors only; use a tuple to nest");
    }
  } else if (v.isGenericDict()) {
    for (const auto& entry : v.toGenericDict()) {
      path.push_key(entry.key());
      check_output_at(prefix, entry.value(), path);
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

bool is_any(const c10::TypePtr& t) { return t->kind() == c10::TypeKind::AnyType; }

bool has_any(const c10::TypePtr& t) {
  if (is_any(t)) return true;
  for (const auto& c : t->containedTypes()) {
    if (has_any(c)) return true;
  }
  return false;
}

bool is_container(const IValue& v) { return v.isList() || v.isTuple() || v.isGenericDict(); }

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
  if (v.isList()) {
    return std::vector<c10::TypePtr>(n, type->expectRef<c10::ListType>().getElementType());
  }
  return std::vector<c10::TypePtr>(n, type->expectRef<c10::DictType>().getValueType());
}

IValue to_traceable_at(const IValue& v, const c10::TypePtr& type) {
  if (!needs_adapting(v, type)) return v;
  const auto elems = elements_of(v);
  const auto types = element_types(v, type, elems.size());
  std::vector<IValue> out;
  out.reserve(elems.size());
  for (size_t i = 0; i < elems.size(); ++i) out.push_back(to_traceable_at(elems[i], types[i]));
  return c10::ivalue::Tuple::create(std::move(out));
}

IValue from_traceable_at(const IValue& traced, const IValue& original, const c10::TypePtr& type) {
  if (!needs_adapting(original, type)) return traced;
  const auto& traced_elems = traced.toTupleRef().elements();
  const auto original_elems = elements_of(original);
  const auto types = element_types(original, type, original_elems.size());
  std::vector<IValue> elems;
  elems.reserve(original_elems.size());
  for (size_t i = 0; i < original_elems.size(); ++i) {
    elems.push_back(from_traceable_at(traced_elems[i], original_elems[i], types[i]));
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
    const auto dict = original.toGenericDict();
    if (is_any(type)) {  // no isinstance test exists for dicts: a non-dict fails in __getitem__
      v = g.insertUncheckedCast(v, c10::DictType::create(dict.keyType(), type));
    }
    for (const auto& entry : dict) {
      parts.push_back(g.insert(aten::__getitem__, {v, entry.key()}));
      Path name(where);
      name.push_key(entry.key());
      names.push_back(name.str());
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
  elems.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    elems.push_back(adapt(g, parts[i], originals[i], types[i], names[i]));
  }
  return g.insertNode(g.createTuple(elems))->output();
}

std::string with_hint(const std::string& text, const std::string& hint) {
  return hint.empty() ? text : text + " (" + hint + ")";
}

// Appends the UTF-8 encoding's code point at `s[i]` as `_u<hex>_`, advancing `i` past it.
void append_code_point(const std::string& s, size_t& i, std::string& out) {
  const auto lead = static_cast<unsigned char>(s[i]);
  const size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  uint32_t code = length == 1 ? lead : lead & (0x7F >> length);
  for (size_t k = 1; k < length && i + k < s.size(); ++k) {
    code = (code << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  i += length - 1;
  char hex[16];
  std::snprintf(hex, sizeof(hex), "_u%x_", static_cast<unsigned>(code));
  out += hex;
}

std::string identifier_of(const std::string& atom) {
  std::string out;
  for (size_t i = 0; i < atom.size(); ++i) {
    const auto c = static_cast<unsigned char>(atom[i]);
    if (c >= 0x80) {
      append_code_point(atom, i, out);
    } else {
      out += std::isalnum(c) || c == '_' ? static_cast<char>(c) : '_';
    }
  }
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out.insert(0, 1, '_');
  return out;
}

}  // namespace

void bad_input(const std::string& prefix, const Path& path, const std::string& what,
               const std::string& hint) {
  throw InputError(with_hint(prefix + path.str() + " is " + what +
                                 "; an example input must be a tensor, a tuple, list or dict of "
                                 "tensors, or a constant without tensors (bool, int, float, str, "
                                 "None, or a tuple, list or dict of them)",
                             hint));
}

void bad_output(const std::string& prefix, const Path& path, const std::string& what,
                const std::string& hint) {
  throw TraceError(with_hint(prefix + "the traced function returned " + what + " at " + path.str() +
                                 "; outputs must be tensors, or tuples, lists and dicts of tensors "
                                 "(Only tensors, lists, tuples of tensors, or dictionary of "
                                 "tensors can be output from traced functions)",
                             hint));
}

bool is_constant(const IValue& v) {
  if (v.isNone() || v.isBool() || v.isInt() || v.isDouble() || v.isString()) return true;
  if (v.isTuple() || v.isList()) {  // an empty list of tensors holds no tensor either
    for (const auto& e : v.isTuple() ? v.toTupleRef().elements() : v.toListRef()) {
      if (!is_constant(e)) return false;
    }
    return true;
  }
  if (v.isGenericDict()) {
    for (const auto& entry : v.toGenericDict()) {
      if (!is_constant(entry.value())) return false;
    }
    return true;
  }
  return false;
}

bool check_inputs(const std::string& prefix, const std::vector<IValue>& inputs) {
  bool any_mixed = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Path path("example_inputs[" + std::to_string(i) + "]");
    if (is_constant(inputs[i])) {
      const auto type = c10::unshapedType(inputs[i].type());
      if (has_any(type)) {
        bad_input(prefix, path, "a constant of the TorchScript type " + type->annotation_str(),
                  "the elements of a list or dict of constants must have one type; use a tuple");
      }
      continue;
    }
    check_input(prefix, inputs[i], path);
    any_mixed = any_mixed || needs_adapting(inputs[i], inputs[i].type());
  }
  return any_mixed;
}

void check_output(const std::string& prefix, const IValue& output) {
  Path path("output");
  check_output_at(prefix, output, path);
}

IValue to_traceable(const IValue& input) { return to_traceable_at(input, input.type()); }

IValue from_traceable(const IValue& traced, const IValue& original) {
  return from_traceable_at(traced, original, original.type());
}

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
    torch::jit::LowerSimpleTuples(graph->block());
    eliminate_dead_code(graph);
  }
}

bool is_identifier(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::string qualified_name(const std::string& dotted) {
  std::string name = dotted;
  for (size_t pos = name.find("::"); pos != std::string::npos; pos = name.find("::", pos)) {
    name.replace(pos, 2, ".");
  }
  std::string out = "__torch__";
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string::npos) end = name.size();
    if (end > start) out += "." + identifier_of(name.substr(start, end - start));
    start = end + 1;
  }
  return out == "__torch__" ? "__torch__.jittrace.unnamed" : out;
}

std::string message_of(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  return e.what();
}

}  // namespace jittrace::detail
