// Generated TorchScript dispatchers: a method traced for several values of its non-tensor
// arguments (variants) picks a trace by those values, and a method traced in both modes picks
// one by `self.training`. Both are written as TorchScript source from the traced schemas, so
// they survive saving and run from C++.
#include <c10/util/Exception.h>
#include <c10/util/StringUtil.h>
#include <torch/csrc/jit/frontend/resolver.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "internal.h"

namespace jittrace::detail {
namespace {

using c10::IValue;
using c10::TypePtr;

const std::set<std::string>& reserved_names() {
  static const std::set<std::string> reserved = {
      "self", "torch", "Tensor", "List",  "Tuple", "Dict",       "Optional", "Union", "Any",
      "int",  "float", "bool",   "str",   "None",  "True",       "False",    "if",    "else",
      "elif", "not",   "and",    "or",    "is",    "in",         "return",   "raise", "def",
      "for",  "while", "pass",   "break", "with",  "ValueError", "annotate", "lambda"};
  return reserved;
}

// Names for generated parameters: the given ones where they are usable identifiers.
std::vector<std::string> parameter_names(const std::vector<std::string>& given, size_t n) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (size_t i = 0; i < n; ++i) {
    std::string name = i < given.size() ? given[i] : "";
    if (!is_identifier(name) || reserved_names().count(name) || seen.count(name) ||
        name.rfind("__", 0) == 0) {
      name = "argument_" + std::to_string(i + 1);
    }
    seen.insert(name);
    names.push_back(name);
  }
  return names;
}

std::string annotation(const TypePtr& type) { return c10::unshapedType(type)->annotation_str(); }

// Python's repr of a double, as TorchScript parses it.
std::string float_literal(double value) {
  if (std::isnan(value)) return "float(\"nan\")";
  if (std::isinf(value)) return value > 0 ? "float(\"inf\")" : "-float(\"inf\")";
  char text[40];
  std::snprintf(text, sizeof(text), "%.17g", value);
  std::string out = text;
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

bool is_optional(const TypePtr& type) { return type->kind() == c10::TypeKind::OptionalType; }

// The common type of `a` and `b` (None and T give Optional[T]), if there is one.
std::optional<TypePtr> unify(const TypePtr& a, const TypePtr& b) {
  if (*a == *b) return a;
  if (a->kind() == c10::TypeKind::NoneType)
    return is_optional(b) ? b : c10::OptionalType::create(b);
  if (b->kind() == c10::TypeKind::NoneType) return unify(b, a);
  auto unified = c10::unifyTypes(a, b);
  if (unified) return *unified;
  return std::nullopt;
}

std::string union_of(const std::vector<TypePtr>& types) {
  std::vector<TypePtr> unique;
  for (const auto& shaped : types) {
    const auto t = c10::unshapedType(shaped);
    bool seen = false;
    for (const auto& u : unique) seen = seen || *u == *t;
    if (!seen) unique.push_back(t);
  }
  if (unique.size() == 1) return annotation(unique[0]);
  std::string out = "Union[";
  for (size_t i = 0; i < unique.size(); ++i) out += (i ? ", " : "") + annotation(unique[i]);
  return out + "]";
}

// One parameter of a generated signature.
struct Parameter {
  std::string name;
  TypePtr type;
  std::optional<IValue> default_value;
};

std::string signature_of(const std::vector<Parameter>& params, bool method) {
  // Python allows defaults only on a trailing run of parameters.
  size_t first_default = params.size();
  while (first_default > 0 && params[first_default - 1].default_value) --first_default;
  std::string out = method ? "(self" : "(";
  for (size_t i = 0; i < params.size(); ++i) {
    out += (i || method ? ", " : "") + params[i].name + ": " + annotation(params[i].type);
    if (i >= first_default) out += " = " + literal(*params[i].default_value);
  }
  return out + ")";
}

// What a variant's argument is: traced (an input of its trace) or a constant it was traced with.
struct Condition {
  size_t param;
  std::optional<IValue> constant;  // unset: traced, so it must not be None
};

// The tests, in order, that `expr` equals the constant `value`: `==` for scalars and strings,
// and element by element for tuples, lists and dicts, which TorchScript cannot compare whole.
void equality_tests(const std::string& expr, const IValue& value, std::vector<std::string>& out) {
  if (value.isNone()) {
    out.push_back(expr + " is None");
  } else if (value.isTuple()) {
    const auto& elems = value.toTupleRef().elements();
    for (size_t i = 0; i < elems.size(); ++i) {
      equality_tests(expr + "[" + std::to_string(i) + "]", elems[i], out);
    }
  } else if (value.isList()) {
    const auto elems = value.toListRef();
    out.push_back("len(" + expr + ") == " + std::to_string(elems.size()));
    for (size_t i = 0; i < elems.size(); ++i) {
      equality_tests(expr + "[" + std::to_string(i) + "]", elems[i], out);
    }
  } else if (value.isGenericDict()) {
    const auto dict = value.toGenericDict();
    out.push_back("len(" + expr + ") == " + std::to_string(dict.size()));
    for (const auto& entry : dict) {
      const std::string key = literal(entry.key());
      out.push_back(key + " in " + expr);
      equality_tests(expr + "[" + key + "]", entry.value(), out);
    }
  } else {
    out.push_back(expr + " == " + literal(value));
  }
}

// The tests of parameter `name` for condition `c`, in generated code.
std::vector<std::string> tests_of(const Condition& c, const std::string& name,
                                  const TypePtr& type) {
  if (!c.constant) return {name + " is not None"};
  std::vector<std::string> tests;
  if (!c.constant->isNone() && is_optional(type)) tests.push_back(name + " is not None");
  equality_tests(name, *c.constant, tests);
  return tests;
}

std::string shown(const Condition& c, const std::string& name) {
  return name + "=" + (c.constant ? literal(*c.constant, /*typed=*/false) : "<tensor>");
}

// Python source for the message of an unmatched call: the values given, as TorchScript
// formats them (a tensor argument shows as <tensor>).
std::string shown_call(const std::vector<Parameter>& params, const std::set<size_t>& tested) {
  std::string format;
  std::string args;
  for (size_t i : tested) {
    const auto& p = params[i];
    format += (format.empty() ? "" : ", ") + p.name + "={}";
    std::string value = p.name;
    const auto& inner = is_optional(p.type) ? p.type->containedTypes()[0] : p.type;
    if (inner->isSubtypeOf(*c10::TensorType::get())) {
      value = is_optional(p.type) ? "\"None\" if " + p.name + " is None else \"<tensor>\""
                                  : "\"<tensor>\"";
    }
    args += (args.empty() ? "" : ", ") + value;
  }
  std::string quoted;
  {
    std::ostringstream s;
    c10::printQuotedString(s, format);
    quoted = s.str();
  }
  return quoted + ".format(" + args + ")";
}

// Resolves what generated dispatchers name: ValueError, and the variant functions they call
// (methods are reached through `self`).
class DispatchResolver : public torch::jit::Resolver {
 public:
  explicit DispatchResolver(std::map<std::string, torch::jit::Function*> functions = {})
      : functions_(std::move(functions)) {}
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(
      const std::string& name, torch::jit::GraphFunction& m,
      const torch::jit::SourceRange& loc) override {
    auto it = functions_.find(name);
    if (it != functions_.end()) return std::make_shared<torch::jit::FunctionValue>(it->second);
    if (name == "ValueError") return std::make_shared<torch::jit::ExceptionValue>(name);
    return native_->resolveValue(name, m, loc);
  }
  TypePtr resolveType(const std::string& name, const torch::jit::SourceRange& loc) override {
    return nullptr;
  }

 private:
  std::map<std::string, torch::jit::Function*> functions_;
  std::shared_ptr<torch::jit::Resolver> native_ = torch::jit::nativeResolver();
};

}  // namespace

std::string literal(const IValue& v, bool typed) {
  if (v.isNone()) return "None";
  if (v.isBool()) return v.toBool() ? "True" : "False";
  if (v.isInt()) {
    const int64_t i = v.toInt();
    if (i == INT64_MIN) return "(-9223372036854775807 - 1)";
    return std::to_string(i);
  }
  if (v.isDouble()) return float_literal(v.toDouble());
  if (v.isString()) {
    const auto& text = v.toStringRef();
    const bool simple = std::all_of(text.begin(), text.end(), [](char c) {
      return c >= 0x20 && c < 0x7f && c != '\'' && c != '\\';
    });
    if (simple) return "'" + text + "'";  // as Python's repr shows it
    std::ostringstream s;
    c10::printQuotedString(s, text);
    return s.str();
  }
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    std::string out = "(";
    for (size_t i = 0; i < elems.size(); ++i) out += (i ? ", " : "") + literal(elems[i], typed);
    return out + (elems.size() == 1 ? ",)" : ")");
  }
  if (v.isList()) {
    const auto elems = v.toListRef();
    if (elems.empty()) return typed ? "annotate(" + annotation(v.type()) + ", [])" : "[]";
    std::string out = "[";
    for (size_t i = 0; i < elems.size(); ++i) out += (i ? ", " : "") + literal(elems[i], typed);
    return out + "]";
  }
  if (v.isGenericDict()) {
    const auto dict = v.toGenericDict();
    if (dict.empty()) return typed ? "annotate(" + annotation(v.type()) + ", {})" : "{}";
    std::string out = "{";
    bool first = true;
    for (const auto& entry : dict) {
      out +=
          (first ? "" : ", ") + literal(entry.key(), typed) + ": " + literal(entry.value(), typed);
      first = false;
    }
    return out + "}";
  }
  throw InternalError("[jittrace] internal error: no TorchScript literal for a value of type " +
                      annotation(v.type()) + "; please report this");
}

bool needs_dispatch(const std::vector<const Method*>& variants) {
  if (variants.size() > 1) return true;
  for (const auto& input : variants.at(0)->inputs) {
    if (is_constant(input)) return true;
  }
  return false;
}

std::string variant_dispatcher(const std::string& prefix, const std::string& name,
                               const std::string& shown_name,
                               const std::vector<VariantTrace>& traces, bool method) {
  const auto& first = *traces.at(0).method;
  const size_t n = first.inputs.size();
  for (const auto& trace : traces) {
    if (trace.method->inputs.size() != n) {
      throw InputError(prefix + "every variant of '" + shown_name +
                       "' must take the same arguments, but one has " + std::to_string(n) +
                       " example inputs and another " +
                       std::to_string(trace.method->inputs.size()));
    }
  }
  std::vector<std::string> given = first.argument_names;
  for (const auto& trace : traces) {
    if (given.empty()) given = trace.method->argument_names;
  }
  std::vector<Parameter> params;
  for (const auto& name : parameter_names(given, n)) params.push_back({name, nullptr, {}});

  // Each parameter's type: what every variant passes, unified (None and T give Optional[T]).
  std::vector<std::vector<Condition>> conditions(traces.size());
  std::set<size_t> tested;  // parameters some variant tests
  for (size_t v = 0; v < traces.size(); ++v) {
    const auto& trace = traces[v];
    size_t traced = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto& input = trace.method->inputs[i];
      TypePtr type;
      if (is_constant(input)) {
        type = c10::unshapedType(input.type());
        conditions[v].push_back({i, input});
        tested.insert(i);
      } else {
        type = c10::unshapedType(trace.input_types.at(traced++));
        conditions[v].push_back({i, std::nullopt});
      }
      auto& p = params[i];
      std::optional<TypePtr> unified = p.type ? unify(p.type, type) : type;
      if (!unified) {
        throw InputError(prefix + "argument '" + p.name + "' of '" + shown_name + "' is " +
                         annotation(p.type) + " in one variant and " + annotation(type) +
                         " in another; variants must give each argument values of one type (or "
                         "None)");
      }
      p.type = *unified;
    }
  }
  for (auto& p : params) {
    if (p.type->kind() == c10::TypeKind::NoneType) {
      p.type = c10::OptionalType::create(c10::TensorType::get());
    }
  }
  // Defaults, where the caller gave them and they fit the parameter's type.
  for (const auto& [key, value] : first.defaults) {
    for (auto& p : params) {
      if (p.name != key) continue;
      auto unified = unify(p.type, c10::unshapedType(value.type()));
      if (unified && is_constant(value)) {
        p.type = *unified;
        p.default_value = value;
      }
    }
  }
  // A parameter of Optional type is tested in every variant (None or not).
  for (size_t i = 0; i < n; ++i) {
    if (is_optional(params[i].type)) tested.insert(i);
  }

  std::ostringstream src;
  std::vector<TypePtr> returns;
  for (const auto& trace : traces) returns.push_back(trace.returns);
  src << "def " << name << signature_of(params, method) << " -> " << union_of(returns) << ":\n";
  // One if / elif chain, each branch a conjunction of tests that returns its trace, and an else
  // that raises: no code follows a return, so TorchScript adds no exit flags around the calls.
  std::set<std::string> seen;
  std::string traced_values;
  std::ostringstream branches;
  for (size_t v = 0; v < traces.size(); ++v) {
    std::string key;
    std::string condition;
    for (const auto& c : conditions[v]) {
      if (!tested.count(c.param)) continue;
      const auto& p = params[c.param];
      key += (key.empty() ? "" : ", ") + shown(c, p.name);
      for (const auto& test : tests_of(c, p.name, p.type)) {
        condition += (condition.empty() ? "" : " and ") + test;
      }
    }
    if (key.empty() && traces.size() > 1) {
      throw InputError(prefix + "'" + shown_name +
                       "' is listed twice with nothing to tell the listings apart: variants need "
                       "different values of a constant (non-tensor) argument");
    }
    if (!seen.insert(key).second) {
      throw InputError(prefix + "'" + shown_name + "' is traced twice with the same values (" +
                       key + "); give each variant different non-tensor arguments");
    }
    traced_values += std::string(traced_values.empty() ? "" : ", ") + "(" + key + ")";
    std::string args;
    for (const auto& c : conditions[v]) {
      if (!c.constant) args += (args.empty() ? "" : ", ") + params[c.param].name;
    }
    branches << "    " << (v ? "elif " : "if ") << (condition.empty() ? "True" : condition) << ":\n"
             << "        return " << (method ? "self." : "") << traces[v].callee << "(" << args
             << ")\n";
  }
  std::ostringstream message;
  c10::printQuotedString(message, "jittrace: " + shown_name + "() was traced for " + traced_values +
                                      " only; it cannot compute ");
  src << branches.str() << "    else:\n"
      << "        raise ValueError(" << message.str() << " + " << shown_call(params, tested)
      << " + \" without a trace for those values\")\n";
  return src.str();
}

std::string dispatcher_in_both_modes(const std::string& name, const std::string& train_source,
                                     const std::string& eval_source,
                                     const std::vector<TypePtr>& returns) {
  // Both sources are `def <base>(<parameters>) -> <type>:` and a body at 4 spaces: the train
  // one goes under `if self.training:`, the eval one under its `else:`.
  const auto split = [](const std::string& source) {
    const auto end_of_def = source.find('\n');
    return std::make_pair(source.substr(0, end_of_def), source.substr(end_of_def + 1));
  };
  const auto [train_def, train_body] = split(train_source);
  const auto [eval_def, eval_body] = split(eval_source);
  const auto parameters =
      train_def.substr(train_def.find('('), train_def.rfind(" -> ") - train_def.find('('));
  const auto indented = [](const std::string& body) {
    std::string out;
    size_t at = 0;
    while (at < body.size()) {
      const auto end = body.find('\n', at);
      out += "    " + body.substr(at, end - at + 1);
      at = end + 1;
    }
    return out;
  };
  return "def " + name + parameters + " -> " + union_of(returns) + ":\n" +
         "    if self.training:\n" + indented(train_body) + "    else:\n" + indented(eval_body);
}

std::string mode_dispatcher(const std::string& name, const c10::FunctionSchema& train,
                            const c10::FunctionSchema& eval) {
  std::vector<std::string> given;
  for (size_t i = 1; i < train.arguments().size(); ++i)
    given.push_back(train.arguments()[i].name());
  const auto names = parameter_names(given, given.size());
  std::vector<Parameter> params;
  for (size_t i = 0; i < names.size(); ++i) {
    const auto& a = train.arguments()[i + 1];
    const auto& b = eval.arguments().at(i + 1);
    if (*c10::unshapedType(a.type()) != *c10::unshapedType(b.type())) {
      throw InternalError("[jittrace] internal error: the train and eval traces of '" + name +
                          "' take different arguments; please report this");
    }
    params.push_back({names[i], a.type(), a.default_value()});
  }
  if (eval.arguments().size() != train.arguments().size()) {
    throw InternalError("[jittrace] internal error: the train and eval traces of '" + name +
                        "' take different arguments; please report this");
  }
  std::string args;
  for (const auto& p : params) args += (args.empty() ? "" : ", ") + p.name;
  std::ostringstream src;
  src << "def " << name << signature_of(params, true) << " -> "
      << union_of({train.returns().at(0).type(), eval.returns().at(0).type()}) << ":\n"
      << "    if self.training:\n"
      << "        return self.train" << name << "(" << args << ")\n"
      << "    return self.eval" << name << "(" << args << ")\n";
  return src.str();
}

torch::jit::StrongFunctionPtr define_function(
    const std::shared_ptr<torch::jit::CompilationUnit>& cu, const std::string& qualified,
    const std::string& source, const std::map<std::string, torch::jit::Function*>& callees) {
  const c10::QualifiedName name(qualified);
  auto defined = cu->define(
      name.prefix().empty() ? std::nullopt : std::optional<c10::QualifiedName>(name.prefix()),
      source, std::make_shared<DispatchResolver>(callees), nullptr);
  return {cu, defined.at(0)};
}

void define_method(torch::jit::Module& self, const std::string& source) {
  self.define(source, std::make_shared<DispatchResolver>());
}

}  // namespace jittrace::detail
