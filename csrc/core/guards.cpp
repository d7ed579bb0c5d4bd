// Guards: TorchScript appended to a trace that recomputes, on every call, a value the traced code
// took from a tensor (a branch taken, a size, a number) and raises when a call gives another one,
// where the trace alone would silently compute what the traced value led to.
#include <c10/util/complex.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/ir.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "internal.h"

namespace jittrace::detail {

// The Python number a conversion gives. (This and GuardCheck are outside the anonymous
// namespace: GuardsAfterTrace::Pending, a member of a class every file sees, holds them.)
enum class GuardNumber { kBool, kInt, kFloat, kComplex };

namespace {

using c10::IValue;
using torch::jit::Block;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;
using torch::jit::WithInsertPoint;
namespace aten = torch::jit::aten;
namespace prim = torch::jit::prim;

constexpr std::array<const char*, 8> kNames = {"bool",   "int", "float", "item",
                                               "tolist", "len", "index", "iter"};
constexpr const char* kActual = "{actual}";

// The kind of number `v` is, if it is one.
std::optional<GuardNumber> number_in(const IValue& v) {
  if (v.isBool()) return GuardNumber::kBool;
  if (v.isInt()) return GuardNumber::kInt;
  if (v.isDouble()) return GuardNumber::kFloat;
  if (v.isComplexDouble()) return GuardNumber::kComplex;
  return std::nullopt;
}

// What tolist() gives for a tensor of `dtype` (quantized ones aside).
GuardNumber number_of(c10::ScalarType dtype) {
  if (dtype == c10::ScalarType::Bool) return GuardNumber::kBool;
  if (c10::isComplexType(dtype)) return GuardNumber::kComplex;
  if (c10::isFloatingType(dtype)) return GuardNumber::kFloat;
  return GuardNumber::kInt;
}

bool is_number(const IValue& v, GuardNumber n) {
  switch (n) {
    case GuardNumber::kBool:
      return v.isBool();
    case GuardNumber::kInt:
      return v.isInt();
    case GuardNumber::kFloat:
      return v.isDouble();
    case GuardNumber::kComplex:
      return v.isComplexDouble();
  }
  return false;
}

const char* number_name(GuardNumber n) {
  switch (n) {
    case GuardNumber::kBool:
      return "a bool";
    case GuardNumber::kInt:
      return "an int";
    case GuardNumber::kFloat:
      return "a float";
    case GuardNumber::kComplex:
      return "a complex";
  }
  return "a number";
}

bool is_nan(const IValue& v) {
  if (v.isDouble()) return std::isnan(v.toDouble());
  if (v.isComplexDouble()) {
    const auto c = v.toComplexDouble();
    return std::isnan(c.real()) || std::isnan(c.imag());
  }
  return false;
}

// Whether `value` is computed from an input of the graph (an example input, or a parameter or
// buffer of the traced module: while tracing, those are `prim::TracedAttr` nodes, which become
// reads of `self` afterwards) rather than from constants (or random numbers) alone. Blocks count
// as their nodes do: their code may read values from outside.
bool depends_on_inputs(const Value* value) {
  std::vector<const Node*> todo{value->node()};
  std::unordered_set<const Node*> seen;
  while (!todo.empty()) {
    const Node* node = todo.back();
    todo.pop_back();
    if (node->kind() == prim::Param || node->kind() == prim::TracedAttr) return true;
    if (!seen.insert(node).second) continue;
    for (const Value* input : node->inputs()) todo.push_back(input->node());
    for (const Block* block : node->blocks()) {
      for (const Node* inner : block->nodes()) todo.push_back(inner);
      for (const Value* output : block->outputs()) todo.push_back(output->node());
    }
  }
  return false;
}

// A node `kind(inputs)` giving one `type`, made without matching the operator's overloads as
// Graph::insert does (which made a guard 29 us instead of 10): the interpreter finds the overload
// by the inputs' types when it first runs the node, and saving prints it as code, compiled again on
// load. Only for the ops below, whose first overload that takes these input types is the one meant.
Value* emit(Graph& g, c10::Symbol kind, at::ArrayRef<Value*> inputs, const c10::TypePtr& type) {
  Node* node = g.insertNode(g.create(kind, inputs, 1));
  node->output()->setType(type);
  return node->output();
}

// The number `tensor` gives as a `n`, computed at call time.
Value* number_from(Graph& g, Value* tensor, GuardNumber n) {
  switch (n) {
    case GuardNumber::kBool:
      return emit(g, aten::Bool, {tensor}, c10::BoolType::get());  // aten::Bool.Tensor
    case GuardNumber::kInt:
      return emit(g, aten::Int, {tensor}, c10::IntType::get());  // aten::Int.Tensor
    case GuardNumber::kFloat:
      return emit(g, aten::Float, {tensor}, c10::FloatType::get());  // aten::Float.Tensor
    case GuardNumber::kComplex:
      return g.insert(aten::Complex, {g.insert(aten::item, {tensor})});
  }
  return nullptr;
}

// True when `actual` (a number computed at call time) is not `observed`. NaN is never equal to
// itself: for a NaN observed, another value is one that is not NaN.
Value* number_differs(Graph& g, Value* actual, const IValue& observed) {
  const c10::TypePtr boolean = c10::BoolType::get();
  if (is_nan(observed)) {  // aten::isnan.float / .complex, aten::__not__
    return emit(g, aten::__not__, {emit(g, aten::isnan, {actual}, boolean)}, boolean);
  }
  // aten::ne.bool / .int / .float / .complex: `observed` is a number of `actual`'s type.
  return emit(g, aten::ne, {actual, g.insertConstant(observed)}, boolean);
}

// The dtype tolist() is computed in for `n`: one prim::tolist accepts (it takes no half, say).
c10::ScalarType list_dtype(GuardNumber n) {
  switch (n) {
    case GuardNumber::kBool:
      return c10::ScalarType::Bool;
    case GuardNumber::kInt:
      return c10::ScalarType::Long;
    case GuardNumber::kFloat:
      return c10::ScalarType::Double;
    case GuardNumber::kComplex:
      return c10::ScalarType::ComplexDouble;
  }
  return c10::ScalarType::Undefined;
}

// prim::tolist's code for the element type.
int64_t list_code(GuardNumber n) {
  switch (n) {
    case GuardNumber::kInt:
      return 0;
    case GuardNumber::kFloat:
      return 1;
    case GuardNumber::kBool:
      return 2;
    case GuardNumber::kComplex:
      return 3;
  }
  return 0;
}

c10::TypePtr number_type(GuardNumber n) {
  switch (n) {
    case GuardNumber::kBool:
      return c10::BoolType::get();
    case GuardNumber::kInt:
      return c10::IntType::get();
    case GuardNumber::kFloat:
      return c10::FloatType::get();
    case GuardNumber::kComplex:
      return c10::ComplexType::get();
  }
  return nullptr;
}

// `tensor.tolist()` at call time, as `dims`-deep lists of `n` (the tensor must have `dims` dims).
Value* tolist(Graph& g, Value* tensor, int64_t dims, GuardNumber n) {
  Value* converted =
      g.insert(aten::to, {tensor, static_cast<int64_t>(list_dtype(n)), false, false});
  c10::TypePtr type = number_type(n);
  for (int64_t i = 0; i < dims; ++i) type = c10::ListType::create(type);
  Node* node =
      g.create(prim::tolist, {converted, g.insertConstant(dims), g.insertConstant(list_code(n))});
  node->output()->setType(type);
  return g.insertNode(node)->output();
}

// The leaves of `observed` (nested lists of `n`), in order; false if one is not a `n`.
bool flatten(const IValue& observed, GuardNumber n, std::vector<IValue>& leaves) {
  if (observed.isList()) {
    for (const IValue& item : observed.toListRef()) {
      if (!flatten(item, n, leaves)) return false;
    }
    return true;
  }
  if (!is_number(observed, n)) return false;
  leaves.push_back(observed);
  return true;
}

// A typed list constant of `leaves`, all of them `n`.
IValue list_of(const std::vector<IValue>& leaves, GuardNumber n) {
  auto list = c10::impl::GenericList(number_type(n));
  list.reserve(leaves.size());
  for (const IValue& leaf : leaves) list.push_back(leaf);
  return list;
}

// The If that raises the message when `condition` is `raise_when`; `actual_text` gives the
// value the call computed, as text, for the message's {actual} (or a "(got ...)" at its end).
void raise_if(Graph& g, Value* condition, bool raise_when, const std::string& message,
              const std::function<Value*()>& actual_text) {
  Node* check = g.insertNode(g.create(prim::If, {condition}, 0));
  Block* when_true = check->addBlock();
  Block* when_false = check->addBlock();
  WithInsertPoint inside(raise_when ? when_true : when_false);
  const auto at = message.find(kActual);
  std::string before = message + " (got ";
  std::string after = ")";
  if (at != std::string::npos) {
    before = message.substr(0, at);
    after = message.substr(at + std::string(kActual).size());
  }
  // aten::format fills each "{}" of its first argument: the message's own text goes in as
  // arguments, so braces in it stay as they are.
  Value* text = emit(g, aten::format,
                     {g.insertConstant(std::string("{}{}{}")), g.insertConstant(before),
                      actual_text(), g.insertConstant(after)},
                     c10::StringType::get());
  g.insertNode(g.create(prim::RaiseException, {text, g.insertConstant(IValue())}, 0));
}

// The guard of a conversion that gives one number: recompute it, compare, raise. A bool is its
// own condition: no comparison.
void guard_number(Graph& g, Value* actual, const IValue& observed, const std::string& message) {
  const auto text = [&] { return emit(g, aten::str, {actual}, c10::StringType::get()); };
  if (observed.isBool()) {
    raise_if(g, actual, !observed.toBool(), message, text);
  } else {
    raise_if(g, number_differs(g, actual, observed), true, message, text);
  }
}

// The guard of tolist() on a tensor of 1 dim or more: its sizes, then its elements (as a flat
// list; TorchScript compares no nested lists). With a NaN among them, only the sizes: NaN would
// differ from itself on every call.
void guard_list(Graph& g, Value* value, const std::vector<int64_t>& sizes,
                const std::vector<IValue>& leaves, GuardNumber n, const std::string& message) {
  const auto dims = static_cast<int64_t>(sizes.size());
  Value* sizes_differ = g.insert(aten::ne, {g.insert(aten::size, {value}), IValue(sizes)});
  bool any_nan = false;
  for (const IValue& leaf : leaves) any_nan = any_nan || is_nan(leaf);
  Value* differs = sizes_differ;
  if (!any_nan) {
    Node* check = g.insertNode(g.create(prim::If, {sizes_differ}, 1));
    check->output()->setType(c10::BoolType::get());
    Block* other_sizes = check->addBlock();
    Block* same_sizes = check->addBlock();
    {
      WithInsertPoint inside(other_sizes);
      other_sizes->registerOutput(g.insertConstant(true));
    }
    {
      WithInsertPoint inside(same_sizes);
      Value* flat = g.insert(aten::reshape, {value, IValue(std::vector<int64_t>{-1})});
      same_sizes->registerOutput(
          g.insert(aten::ne, {tolist(g, flat, 1, n), g.insertConstant(list_of(leaves, n))}));
    }
    differs = check->output();
  }
  raise_if(g, differs, true, message, [&]() -> Value* {
    // The lists when the call's tensor has as many dims (prim::tolist needs it), else its size.
    Node* shown = g.insertNode(
        g.create(prim::If, {g.insert(aten::eq, {g.insert(aten::dim, {value}), dims})}, 1));
    shown->output()->setType(c10::StringType::get());
    Block* same_dims = shown->addBlock();
    Block* other_dims = shown->addBlock();
    {
      WithInsertPoint inside(same_dims);
      same_dims->registerOutput(g.insert(aten::str, {tolist(g, value, dims, n)}));
    }
    {
      WithInsertPoint inside(other_dims);
      other_dims->registerOutput(
          g.insert(aten::add, {g.insertConstant(std::string("a tensor of size ")),
                               g.insert(aten::str, {g.insert(aten::size, {value})})}));
    }
    return shown->output();
  });
}

}  // namespace

// What a guard of a conversion checks: the conversion's kind, what it gave, and what the
// tensor was then (its sizes, for tolist()).
struct GuardCheck {
  Conversion kind;
  IValue observed;
  std::string message;
  std::optional<GuardNumber> number{};   // of a conversion to one number
  std::vector<IValue> leaves{};          // of tolist() on a tensor of 1 dim or more, with their
  GuardNumber leaf = GuardNumber::kInt;  // kind of number (by the tensor's dtype)
  std::vector<int64_t> sizes{};          // of the tensor (for tolist())
};

namespace {

// The guard's nodes, at the insertion point; `value` is the tensor's traced value.
void build_guard(Graph& g, Value* value, const GuardCheck& check) {
  if (check.kind == Conversion::kLen || check.kind == Conversion::kIter) {
    guard_number(g, emit(g, aten::size, {value, g.insertConstant(int64_t{0})}, c10::IntType::get()),
                 check.observed, check.message);  // aten::size.int
  } else if (check.number) {
    guard_number(g, number_from(g, value, *check.number), check.observed, check.message);
  } else {
    guard_list(g, value, check.sizes, check.leaves, check.leaf, check.message);
  }
}

// The GuardsAfterTrace alive on this thread (the innermost).
thread_local GuardsAfterTrace* innermost = nullptr;

}  // namespace

struct GuardsAfterTrace::Pending {
  Node* placeholder;
  GuardCheck check;
};

GuardsAfterTrace::GuardsAfterTrace() : outer_(innermost) { innermost = this; }

GuardsAfterTrace::~GuardsAfterTrace() { innermost = outer_; }

void GuardsAfterTrace::follow_current_trace() {
  const auto& state = torch::jit::tracer::getTracingState();
  graph_ = state ? state->graph.get() : nullptr;
}

GuardsAfterTrace* GuardsAfterTrace::following(const Graph& graph) {
  return innermost != nullptr && innermost->graph_ == &graph ? innermost : nullptr;
}

void GuardsAfterTrace::add(Pending pending) { pending_.push_back(std::move(pending)); }

void GuardsAfterTrace::build() {
  for (const Pending& p : pending_) {
    Node* placeholder = p.placeholder;
    {
      WithInsertPoint at(placeholder);
      build_guard(*placeholder->owningGraph(), placeholder->input(0), p.check);
    }
    placeholder->destroy();
  }
  pending_.clear();
  graph_ = nullptr;
}

Conversion conversion_named(const std::string& name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (name == kNames[i]) return static_cast<Conversion>(i);
  }
  std::string known;
  for (const char* n : kNames) known += std::string(known.empty() ? "" : ", ") + n;
  throw InputError("[guard] unknown conversion '" + name + "'; conversions: " + known);
}

std::string conversion_name(Conversion kind) { return kNames.at(static_cast<size_t>(kind)); }

bool guard(const at::Tensor& tensor, Conversion kind, const IValue& observed,
           const std::string& message) {
  const std::string prefix = "[guard] " + conversion_name(kind) + ": ";
  if (!tensor.defined()) throw InputError(prefix + "the tensor is undefined");
  GuardCheck check{kind, observed, message};
  check.leaf = number_of(tensor.scalar_type());
  switch (kind) {
    case Conversion::kBool:
      check.number = GuardNumber::kBool;
      break;
    case Conversion::kInt:
    case Conversion::kIndex:
      check.number = GuardNumber::kInt;
      break;
    case Conversion::kFloat:
      check.number = GuardNumber::kFloat;
      break;
    case Conversion::kItem:
      check.number = number_in(observed);
      if (!check.number) {
        throw InputError(prefix + "item() gives a number, not " + observed.tagKind());
      }
      break;
    case Conversion::kToList:
      if (tensor.dim() == 0) {  // a number, as item() gives
        check.number = number_in(observed);
        if (!check.number) {
          throw InputError(prefix + "tolist() of a 0-dim tensor gives a number, not " +
                           observed.tagKind());
        }
        break;
      }
      // TorchScript's tolist() takes tensors of plain numbers only: no guard for the others.
      if (c10::isQIntType(tensor.scalar_type()) || c10::isBitsType(tensor.scalar_type())) {
        return false;
      }
      if (!observed.isList() || !flatten(observed, check.leaf, check.leaves) ||
          static_cast<int64_t>(check.leaves.size()) != tensor.numel()) {
        throw InputError(prefix + "tolist() of a tensor of size " + c10::str(tensor.sizes()) +
                         " and dtype " + c10::toString(tensor.scalar_type()) +
                         " gives nested lists of " + std::to_string(tensor.numel()) +
                         " numbers, each " + number_name(check.leaf) + ", not " +
                         c10::str(observed));
      }
      check.sizes = tensor.sizes().vec();
      break;
    case Conversion::kLen:
    case Conversion::kIter:
      if (tensor.dim() == 0) throw InputError(prefix + "a 0-dim tensor has no length");
      if (!observed.isInt()) throw InputError(prefix + "the length must be an int");
      break;
  }
  if (check.number && !is_number(observed, *check.number)) {
    throw InputError(prefix + "the value observed must be " + number_name(*check.number) +
                     ", not " + observed.tagKind());
  }

  const auto& state = torch::jit::tracer::getTracingState();
  if (!state || !state->hasValue(tensor)) return false;

  Value* value = state->getValue(tensor);
  if (!depends_on_inputs(value)) return false;
  Graph& g = *state->graph;
  // The length right after the tensor is made (its size cannot change later): iterating records
  // an unbind whose unpacking would fail first on another size. (An input's node is its block's
  // prim::Param, whose next node is the block's first.) Anything else where the trace is now.
  std::optional<WithInsertPoint> after;
  if (kind == Conversion::kLen || kind == Conversion::kIter) after.emplace(value->node()->next());
  if (GuardsAfterTrace* later = GuardsAfterTrace::following(g)) {
    Node* placeholder = g.insertNode(g.create(prim::Print, {value}, 0));
    later->add({placeholder, std::move(check)});
  } else {
    build_guard(g, value, check);
  }
  return true;
}

std::optional<size_t> trace_mark() {
  const auto& state = torch::jit::tracer::getTracingState();
  if (!state) return std::nullopt;
  for (Node* n = state->graph->return_node()->prev(); n->kind() != prim::Param; n = n->prev()) {
    if (!n->outputs().empty()) return n->output(0)->unique();
  }
  return std::nullopt;
}

std::vector<bool> recorded_by_indexing(
    const std::vector<std::pair<at::Tensor, std::optional<size_t>>>& conversions, size_t window) {
  std::vector<bool> recorded(conversions.size(), false);
  const auto& state = torch::jit::tracer::getTracingState();
  if (!state || conversions.empty()) return recorded;
  // The position after each mark's node (0 until found): only the marks are looked up, not every
  // node of the graph put in a map (0.8 ms a call on a Longformer trace).
  std::unordered_map<size_t, size_t> after;
  for (const auto& [tensor, mark] : conversions) {
    if (mark) after.emplace(*mark, 0);
  }
  std::vector<Node*> nodes;
  for (Node* n : state->graph->nodes()) {
    nodes.push_back(n);
    if (n->outputs().empty()) continue;
    const auto it = after.find(n->output(0)->unique());
    if (it != after.end()) it->second = nodes.size();
  }
  // Where each conversion's nodes start: past the end when its mark is gone (then guarded).
  std::vector<size_t> starts;
  for (const auto& [tensor, mark] : conversions) {
    size_t start = 0;
    if (mark) {
      start = after.at(*mark);
      if (start == 0) start = nodes.size();
    }
    starts.push_back(start);
  }
  // Up to the next conversion made after more nodes were recorded: the bounds of one slice
  // (x[a:b]) are converted one after the other, then sliced with, so they share a window.
  std::vector<size_t> ends(conversions.size(), nodes.size());
  for (size_t i = conversions.size() - 1; i-- > 0;) {
    ends[i] = starts[i + 1] > starts[i] ? starts[i + 1] : ends[i + 1];
  }
  const auto is_scalar_of = [](const Node* n) {
    const auto kind = n->kind();
    return kind == aten::Int || kind == aten::ScalarImplicit || kind == aten::Float ||
           kind == aten::IntImplicit;
  };
  for (size_t i = 0; i < conversions.size(); ++i) {
    const IValue tensor(conversions[i].first);
    if (!state->hasValue(tensor)) continue;
    const Value* traced = state->getValue(tensor);
    const auto of_traced = [&](const Value* v) {
      if (v == traced) return true;
      const Node* producer = v->node();
      if (!is_scalar_of(producer)) return false;
      const auto inputs = producer->inputs();
      return std::find(inputs.begin(), inputs.end(), traced) != inputs.end();
    };
    const size_t end = std::min(ends[i], starts[i] + window);
    for (size_t k = starts[i]; k < end && !recorded[i]; ++k) {
      const Node* n = nodes[k];
      if (n->kind() != aten::slice && n->kind() != aten::select) continue;
      const auto inputs = n->inputs();
      recorded[i] = std::any_of(inputs.begin(), inputs.end(), of_traced);
    }
  }
  return recorded;
}

}  // namespace jittrace::detail
