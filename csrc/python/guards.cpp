// Binding of the core's guards, and the methods jittrace._guards puts on torch.Tensor while it
// traces: C++ callables, so that they add no Python frame between the traced code and the
// conversion (warnings and source locations keep pointing at the traced code).
#include <jittrace/detail.h>
#include <jittrace/errors.h>
#include <pybind11/complex.h>
#include <pybind11/stl.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/python/pybind_utils.h>

#include <algorithm>
#include <complex>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"

namespace jittrace::python {
namespace {

// What a conversion returned, as an IValue: a number, or (tolist) nested lists of numbers.
c10::IValue observed_value(const py::handle& obj) {
  if (py::isinstance<py::bool_>(obj)) return obj.cast<bool>();
  if (py::isinstance<py::int_>(obj)) return obj.cast<int64_t>();
  if (py::isinstance<py::float_>(obj)) return obj.cast<double>();
  if (PyComplex_Check(obj.ptr())) return c10::complex<double>(obj.cast<std::complex<double>>());
  if (py::isinstance<py::list>(obj)) {
    auto list = c10::impl::GenericList(c10::AnyType::get());
    for (const auto& item : obj) list.push_back(observed_value(item));
    return list;
  }
  throw InputError("[guard] the value observed must be a number or a list, not " +
                   std::string(py::str(py::type::handle_of(obj).attr("__qualname__"))));
}

// Conversions running on this thread inside a tapped method: the ones they make themselves
// (a tensor subclass's __torch_function__ calling the method again, the hook) are not the
// traced code's, and pass straight through.
thread_local int depth = 0;

struct Nested {
  Nested() { ++depth; }
  ~Nested() { --depth; }
  Nested(const Nested&) = delete;
  Nested& operator=(const Nested&) = delete;
};

// The slots of `type` and of its subclasses (their C function tables, as bytes), to compare.
void slots_of(PyTypeObject* type, std::string& out) {
  const auto add = [&out](const void* table, size_t size) {
    if (table == nullptr) {
      out.append(size, '\0');
    } else {
      out.append(static_cast<const char*>(table), size);
    }
  };
  add(type->tp_as_number, sizeof(PyNumberMethods));
  add(type->tp_as_sequence, sizeof(PySequenceMethods));
  add(type->tp_as_mapping, sizeof(PyMappingMethods));
  add(type->tp_as_async, sizeof(PyAsyncMethods));
  add(&type->tp_iter, sizeof(type->tp_iter));
  add(&type->tp_iternext, sizeof(type->tp_iternext));
  add(&type->tp_call, sizeof(type->tp_call));
  add(&type->tp_hash, sizeof(type->tp_hash));
  add(&type->tp_richcompare, sizeof(type->tp_richcompare));
  add(&type->tp_repr, sizeof(type->tp_repr));
  add(&type->tp_str, sizeof(type->tp_str));
  add(&type->tp_getattro, sizeof(type->tp_getattro));
  add(&type->tp_setattro, sizeof(type->tp_setattro));
  add(&type->tp_descr_get, sizeof(type->tp_descr_get));
  add(&type->tp_descr_set, sizeof(type->tp_descr_set));
  add(&type->tp_init, sizeof(type->tp_init));
  add(&type->tp_new, sizeof(type->tp_new));
  add(&type->tp_finalize, sizeof(type->tp_finalize));
  for (const auto& sub : py::handle(reinterpret_cast<PyObject*>(type)).attr("__subclasses__")()) {
    slots_of(reinterpret_cast<PyTypeObject*>(sub.ptr()), out);
  }
}

// Setting or deleting a name of a class through its __dict__ is what type.__setattr__ does, less
// the update of the slots of the class and every subclass (about 1.5 us a name for torch.Tensor's
// 13 subclasses). Those slots change only when the name's slot changes. The first time, a name
// is set or deleted by type.__setattr__, comparing the slots before and after: when none changed
// (torch.Tensor's slots for __bool__, __len__... look the name up on each call already), later
// times take the short way. That holds while the classes `cls` inherits from keep their
// attributes, so only for a class whose bases are all immutable (torch.Tensor's: TensorBase and
// object); for any other class, every time is type.__setattr__'s.
struct ShortWay {
  PyObject* cls;   // strong references, never released: the key is the class's identity
  PyObject* name;  // and the name's value
  bool set;        // setting (else deleting)
};
std::vector<ShortWay> short_ways;  // used with the GIL held

bool bases_are_immutable(PyTypeObject* type) {
  PyObject* mro = type->tp_mro;
  for (Py_ssize_t i = 1; mro != nullptr && i < PyTuple_GET_SIZE(mro); ++i) {
    const auto* base = reinterpret_cast<PyTypeObject*>(PyTuple_GET_ITEM(mro, i));
    if ((base->tp_flags & Py_TPFLAGS_HEAPTYPE) && !(base->tp_flags & Py_TPFLAGS_IMMUTABLETYPE)) {
      return false;
    }
  }
  return mro != nullptr;
}

bool takes_short_way(PyObject* cls, PyObject* name, bool set) {
  for (const ShortWay& w : short_ways) {  // the same str objects each time, mostly: `is` first
    if (w.cls == cls && w.set == set && w.name == name) return true;
  }
  for (const ShortWay& w : short_ways) {
    if (w.cls != cls || w.set != set) continue;
    const int same = PyObject_RichCompareBool(w.name, name, Py_EQ);  // `is` first, then ==
    if (same < 0) throw py::error_already_set();
    if (same == 1) return true;
  }
  return false;
}

// One (name, value) of set_attributes: a null value deletes the name.
using Attribute = std::pair<py::handle, py::handle>;

PyTypeObject* settable_class(const py::type& cls) {
  auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE) || (type->tp_flags & Py_TPFLAGS_IMMUTABLETYPE)) {
    throw InputError("[guard] class_taps: " + std::string(py::str(cls.attr("__qualname__"))) +
                     " is not a class whose attributes can be set");
  }
  return type;
}

// Sets (or deletes) each name of `values` in class `cls`, as type.__setattr__ / __delattr__ do,
// the short way where that changes no slot (see ShortWay).
void set_attributes(const py::type& cls, PyTypeObject* type, const std::vector<Attribute>& values) {
  bool modified = false;
  const bool may_take_short_way = bases_are_immutable(type);
  for (const auto& [name, value] : values) {
    const bool set = value.ptr() != nullptr;
    const bool present = PyDict_Contains(type->tp_dict, name.ptr()) == 1;
    if (may_take_short_way && takes_short_way(cls.ptr(), name.ptr(), set)) {
      if (set ? PyDict_SetItem(type->tp_dict, name.ptr(), value.ptr()) < 0
              : present && PyDict_DelItem(type->tp_dict, name.ptr()) < 0) {
        throw py::error_already_set();
      }
      modified = true;
      continue;
    }
    std::string before;
    if (may_take_short_way) slots_of(type, before);
    if (set ? PyObject_SetAttr(cls.ptr(), name.ptr(), value.ptr()) < 0
            : present && PyObject_DelAttr(cls.ptr(), name.ptr()) < 0) {
      throw py::error_already_set();
    }
    if (may_take_short_way) {
      std::string after;
      slots_of(type, after);
      if (before == after) short_ways.push_back({cls.inc_ref().ptr(), name.inc_ref().ptr(), set});
    }
  }
  // What the C API asks after changing a class's __dict__: the attribute caches of the class and
  // its subclasses (and the interpreter's specializations keyed on them) are invalidated.
  if (modified) PyType_Modified(type);
}

// The taps jittrace._taps puts on one class while jittrace traces, counted: the first install()
// puts them in the class's __dict__, made by `make(cls, before)` again whenever the class's own
// attributes under those names are not what they were when the taps were last made (someone
// patched one); the last remove() puts back what each name held before, except where the tap
// was replaced since (that stays). In C++ because every trace does both: about 1 us, against
// 5 us in Python. The caller holds a lock: the GIL alone does not make these atomic (`make`
// and the values a dict change drops run Python).
class ClassTaps {
 public:
  ClassTaps(const py::type& cls, const std::vector<std::string>& names, py::function make)
      : cls_(cls), type_(settable_class(cls)), make_(std::move(make)) {
    for (const auto& name : names) names_.emplace_back(py::str(name));
  }

  void install() {
    if (users_ > 0) {
      ++users_;
      return;
    }
    bool current = made_;
    for (size_t i = 0; current && i < names_.size(); ++i) current = own(i) == before_[i].ptr();
    if (!current) remake();
    std::vector<Attribute> put;
    for (size_t i = 0; i < names_.size(); ++i) put.emplace_back(names_[i], taps_[i]);
    set_attributes(cls_, type_, put);
    users_ = 1;
  }

  void remove() {
    if (users_ == 0 || --users_ > 0) return;
    std::vector<Attribute> back;
    for (size_t i = 0; made_ && i < names_.size(); ++i) {
      if (own(i) == taps_[i].ptr()) back.emplace_back(names_[i], before_[i]);
    }
    set_attributes(cls_, type_, back);
  }

 private:
  // The class's own attribute `names_[i]` (borrowed; null: none, it is inherited).
  PyObject* own(size_t i) const {
    PyObject* value = PyDict_GetItemWithError(type_->tp_dict, names_[i].ptr());
    if (value == nullptr && PyErr_Occurred()) throw py::error_already_set();
    return value;
  }

  void remake() {
    std::vector<py::object> before;
    py::tuple shown(names_.size());
    for (size_t i = 0; i < names_.size(); ++i) {
      before.push_back(py::reinterpret_borrow<py::object>(own(i)));
      shown[i] = before.back() ? before.back() : py::none();
    }
    const py::object made = make_(cls_, shown);
    std::vector<py::object> taps;
    for (const py::handle item : made) {
      const auto pair = py::reinterpret_borrow<py::tuple>(item);
      const size_t i = taps.size();
      if (pair.size() != 2 || i >= names_.size() || !names_[i].equal(pair[0]) ||
          pair[1].is_none()) {
        throw InputError(
            "[guard] class_taps: make must return a (name, tap) pair for each name, "
            "in order");
      }
      taps.push_back(py::reinterpret_borrow<py::object>(pair[1]));
    }
    if (taps.size() != names_.size()) {
      throw InputError("[guard] class_taps: make must return a (name, tap) pair for each name");
    }
    before_ = std::move(before);
    taps_ = std::move(taps);
    made_ = true;
  }

  py::type cls_;
  PyTypeObject* type_;
  py::function make_;
  std::vector<py::str> names_;
  std::vector<py::object> before_;  // the class's own attribute of each name when made (or null)
  std::vector<py::object> taps_;
  bool made_ = false;
  int users_ = 0;  // installs not yet removed
};

}  // namespace

void init_guards(py::module_& m) {
  m.def(
      "guard",
      [](const at::Tensor& tensor, const std::string& kind, const py::handle& observed,
         const std::string& message) {
        return detail::guard(tensor, detail::conversion_named(kind), observed_value(observed),
                             message);
      },
      py::arg("tensor"), py::arg("kind"), py::arg("observed"), py::arg("message"),
      "detail::guard: adds to the trace running on this thread a guard that raises `message` "
      "('{actual}': the call's value) when `kind` ('bool', 'int', 'float', 'item', 'tolist', "
      "'len', 'index', 'iter') of tensor gives another value than `observed`. Returns whether "
      "it did (not outside a trace, nor for a value that does not depend on the inputs).");

  m.def("trace_mark", &detail::trace_mark,
        "detail::trace_mark: the unique name of the last value the trace running on this thread "
        "recorded (None: no trace, or nothing recorded yet).");
  m.def("recorded_by_indexing", &detail::recorded_by_indexing, py::arg("conversions"),
        py::arg("window"),
        "detail::recorded_by_indexing: for each (tensor, trace_mark()) of an __index__ conversion, "
        "whether the running trace recorded the tensor's value as a bound of Python indexing "
        "(aten::slice / aten::select) within `window` nodes of the mark.");

  m.def(
      "tapped_method",
      [](py::object original, py::str kind, py::object hook) {
        py::cpp_function method(
            [original = std::move(original), kind = std::move(kind), hook = std::move(hook)](
                const py::args& args, const py::kwargs& kwargs) -> py::object {
              if (depth > 0 || !torch::jit::tracer::isTracing()) {
                return original(*args, **kwargs);
              }
              const Nested nested;
              py::object result = original(*args, **kwargs);
              return hook(args[0], kind, result);
            });
        return py::reinterpret_steal<py::object>(PyInstanceMethod_New(method.ptr()));
      },
      py::arg("original"), py::arg("kind"), py::arg("hook"),
      "A method for torch.Tensor that calls `original` and, while this thread traces, returns "
      "hook(self, kind, result) instead of result; conversions made inside either (on this "
      "thread) are left alone.");

  m.def(
      "class_taps",
      [](const py::type& cls, const std::vector<std::string>& names, py::function make) {
        auto taps = std::make_shared<ClassTaps>(cls, names, std::move(make));
        return py::make_tuple(py::cpp_function([taps] { taps->install(); }),
                              py::cpp_function([taps] { taps->remove(); }));
      },
      py::arg("cls"), py::arg("names"), py::arg("make"),
      "The taps jittrace._taps puts on class `cls` while jittrace traces: (install, remove), "
      "counted. make(cls, before) returns [(name, tap), ...] for `names`, in order, given the "
      "class's own attribute of each (None: inherited); the first install() puts the taps on, "
      "made again when those changed since; the last remove() puts back what was there, except "
      "where a tap was replaced since.");
}

}  // namespace jittrace::python
