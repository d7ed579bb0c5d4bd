#include "values.h"

#include <jittrace/detail.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/jit/python/pybind_utils.h>

#include <utility>

namespace jittrace::python {
namespace {

using detail::Path;

std::string kind_of(py::handle obj) {
  if (obj.is_none()) return "None";
  std::string name = py::str(py::type::handle_of(obj).attr("__qualname__"));
  const std::string module = py::str(py::type::handle_of(obj).attr("__module__"));
  if (module != "builtins") name = module + "." + name;
  const char first = name.empty() ? 'x' : name[0];
  const bool vowel = std::string("aeiouAEIOU").find(first) != std::string::npos;
  return (vowel ? "an " : "a ") + name;
}

// What to do with an object that has no IValue.
std::string hint_for(py::handle obj) {
  const std::string module = py::str(py::type::handle_of(obj).attr("__module__"));
  if (module == "numpy") return "convert it with torch.from_numpy";
  return "jittrace takes apart namedtuples, dataclasses, dict subclasses and classes registered "
         "with torch.utils._pytree; register this one to trace its tensors";
}

class Converter {
 public:
  Converter(Role role, const std::string& prefix) : role_(role), prefix_(prefix) {}

  c10::IValue convert(py::handle obj, Path& path) {
    if (THPVariable_Check(obj.ptr())) return THPVariable_Unpack(obj.ptr());
    if (PyTuple_Check(obj.ptr())) {
      auto tuple = py::reinterpret_borrow<py::tuple>(obj);
      std::vector<c10::IValue> elems;
      elems.reserve(tuple.size());
      for (size_t i = 0; i < tuple.size(); ++i) elems.push_back(element(tuple[i], path, i));
      return c10::ivalue::Tuple::create(std::move(elems));
    }
    if (PyList_Check(obj.ptr())) return convert_list(py::reinterpret_borrow<py::list>(obj), path);
    if (PyDict_Check(obj.ptr())) return convert_dict(py::reinterpret_borrow<py::dict>(obj), path);
    if (obj.is_none()) return {};
    if (PyBool_Check(obj.ptr())) return obj.cast<bool>();
    if (PyLong_Check(obj.ptr())) {
      const long long value = PyLong_AsLongLong(obj.ptr());
      if (value == -1 && PyErr_Occurred()) {
        PyErr_Clear();  // too large for int64: report it as the int it is
        fail(path, kind_of(obj));
      }
      return static_cast<int64_t>(value);
    }
    if (PyFloat_Check(obj.ptr())) return obj.cast<double>();
    if (PyUnicode_Check(obj.ptr())) return obj.cast<std::string>();
    fail(path, kind_of(obj), hint_for(obj));
  }

 private:
  c10::IValue element(py::handle obj, Path& path, size_t i) {
    path.push_index(i);
    auto v = convert(obj, path);
    path.pop();
    return v;
  }

  c10::IValue convert_list(const py::list& list, Path& path) {
    bool all_tensors = true;
    for (auto item : list) all_tensors = all_tensors && THPVariable_Check(item.ptr());
    if (all_tensors) {
      c10::List<at::Tensor> tensors;
      tensors.reserve(list.size());
      for (auto item : list) tensors.push_back(THPVariable_Unpack(item.ptr()));
      return tensors;
    }
    std::vector<c10::IValue> elems;
    for (size_t i = 0; i < list.size(); ++i) elems.push_back(element(list[i], path, i));
    auto type = common_type(elems);
    if (type->kind() == c10::TypeKind::AnyType) {
      for (size_t i = 0; i < elems.size(); ++i) {
        path.push_index(i);
        require_inferable(elems[i], path);
        path.pop();
      }
    }
    c10::impl::GenericList out(type);
    out.reserve(elems.size());
    for (auto& e : elems) out.push_back(std::move(e));
    return out;
  }

  // A dict key: str, int, float or bool (TorchScript's key types), or a tensor in an output.
  c10::IValue convert_key(py::handle key, const Path& path) const {
    if (PyUnicode_Check(key.ptr())) return key.cast<std::string>();
    if (PyBool_Check(key.ptr())) return key.cast<bool>();
    if (PyLong_Check(key.ptr())) {
      const long long value = PyLong_AsLongLong(key.ptr());
      if (!(value == -1 && PyErr_Occurred())) return static_cast<int64_t>(value);
      PyErr_Clear();  // too large for int64: reported below
    } else if (PyFloat_Check(key.ptr())) {
      return key.cast<double>();
    } else if (role_ == Role::Output && THPVariable_Check(key.ptr())) {
      return THPVariable_Unpack(key.ptr());
    }
    fail(path, "a dict with the key " + std::string(py::repr(key)) + " (" + kind_of(key) + ")",
         role_ == Role::Input ? "dict keys must be str, int, float or bool"
                              : "dict keys must be str, int, float, bool or tensors");
  }

  c10::IValue convert_dict(const py::dict& dict, Path& path) {
    std::vector<std::pair<c10::IValue, c10::IValue>> items;
    c10::TypePtr key_type;
    for (auto [key, value] : dict) {
      auto k = convert_key(key, path);
      const auto type = c10::unshapedType(k.type());
      if (!key_type) {
        key_type = type;
      } else if (*type != *key_type) {
        fail(path,
             "a dict whose keys have different types (" + key_type->annotation_str() + " and " +
                 type->annotation_str() + ")",
             "a TorchScript dict's keys have one type");
      }
      path.push_key(k);
      items.emplace_back(k, convert(value, path));
      path.pop();
    }
    std::vector<c10::IValue> values;
    values.reserve(items.size());
    for (const auto& item : items) values.push_back(item.second);
    auto type = common_type(values);
    if (type->kind() == c10::TypeKind::AnyType) {
      for (const auto& [key, value] : items) {
        path.push_key(key);
        require_inferable(value, path);
        path.pop();
      }
    }
    c10::impl::GenericDict out(key_type ? key_type : c10::StringType::get(), type);
    for (auto& [key, value] : items) out.insert(key, std::move(value));
    return out;
  }

  // Below a List[Any] or Dict[str, Any], torch infers each element's type when the traced
  // function is called from Python, and it cannot for an empty or a mixed list or dict: reject
  // those while tracing, rather than produce a function nobody can call. `path` is v's.
  void require_inferable(const c10::IValue& v, Path& path) {
    if (v.isList() || v.isGenericDict()) {
      const char* kind = v.isList() ? "list" : "dict";
      const bool empty = v.isList() ? v.toListRef().empty() : v.toGenericDict().empty();
      const c10::TypePtr elements =
          v.isList() ? v.toList().elementType() : v.toGenericDict().valueType();
      // Mixed below this level is found by the recursion, with its own path.
      if (empty || elements->kind() == c10::TypeKind::AnyType) {
        fail(path,
             std::string(empty ? "an empty " : "a mixed ") + kind + " inside a mixed list or dict",
             "torch cannot infer its type when the traced function is called; use a tuple");
      }
    }
    if (v.isList() || v.isTuple()) {
      const auto elems = v.isList() ? v.toListRef() : v.toTupleRef().elements();
      for (size_t i = 0; i < elems.size(); ++i) {
        path.push_index(i);
        require_inferable(elems[i], path);
        path.pop();
      }
    } else if (v.isGenericDict()) {
      for (const auto& entry : v.toGenericDict()) {
        path.push_key(entry.key());
        require_inferable(entry.value(), path);
        path.pop();
      }
    }
  }

  // The one type all `elems` share, or Any for a mixed container.
  static c10::TypePtr common_type(const std::vector<c10::IValue>& elems) {
    if (elems.empty()) return c10::TensorType::get();
    c10::TypePtr type = c10::unshapedType(elems[0].type());
    for (size_t i = 1; i < elems.size(); ++i) {
      if (*c10::unshapedType(elems[i].type()) != *type) return c10::AnyType::get();
    }
    return type;
  }

  [[noreturn]] void fail(const Path& path, const std::string& what,
                         const std::string& hint = "") const {
    if (role_ == Role::Input) detail::bad_input(prefix_, path, what, hint);
    detail::bad_output(prefix_, path, what, hint);
  }

  Role role_;
  std::string prefix_;
};

}  // namespace

c10::IValue to_ivalue(py::handle obj, Role role, const std::string& prefix,
                      const std::string& root) {
  Path path(root);
  return Converter(role, prefix).convert(obj, path);
}

std::vector<c10::IValue> to_ivalues(const py::tuple& args, const std::string& prefix) {
  std::vector<c10::IValue> out;
  out.reserve(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    out.push_back(
        to_ivalue(args[i], Role::Input, prefix, "example_inputs[" + std::to_string(i) + "]"));
  }
  return out;
}

Method to_method(const std::string& name, py::handle spec, const std::string& prefix) {
  auto parts = py::reinterpret_borrow<py::tuple>(spec);
  if (parts.size() != 4) throw py::type_error("a method is (callable, inputs, names, defaults)");
  Method method{name, python_fn(parts[0], prefix), to_ivalues(parts[1].cast<py::tuple>(), prefix),
                parts[2].cast<std::vector<std::string>>()};
  for (auto [key, value] : parts[3].cast<py::dict>()) {
    const auto name_of = key.cast<std::string>();
    method.defaults.emplace_back(name_of,
                                 to_ivalue(value, Role::Input, prefix, "default " + name_of));
  }
  return method;
}

void raise_pending_error() {
  if (PyErr_Occurred()) throw py::error_already_set();
}

py::list trace_records(const std::vector<detail::TraceRecord>& traces) {
  py::list out;
  for (const auto& t : traces) {
    py::object mode = py::none();
    if (t.training) mode = py::str(*t.training ? "train" : "eval");
    out.append(py::make_tuple(t.method, mode, t.variant, t.name, t.graph, t.output));
  }
  return out;
}

Fn python_fn(py::handle func, const std::string& prefix) {
  return [func, prefix](std::vector<c10::IValue> inputs) -> c10::IValue {
    py::gil_scoped_acquire gil;
    raise_pending_error();
    py::tuple args(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      args[i] = torch::jit::toPyObject(std::move(inputs[i]));
    }
    py::object out = func(*args);
    return to_ivalue(out, Role::Output, prefix, "output");
  };
}

}  // namespace jittrace::python
