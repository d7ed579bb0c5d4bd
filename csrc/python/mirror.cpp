// A torch.nn.Module as the core's ModuleAccess. It reads nn.Module's own dicts `_parameters`,
// `_buffers` and `_modules` (private torch API, stable since torch 1.0) rather than calling
// named_parameters() and friends for every module: one walk, no Python frames; and, to refuse
// them, the backward hook dicts (`_backward_hooks`, `_backward_pre_hooks`,
// `_is_full_backward_hook`, and the module-level `_global_backward_hooks` /
// `_global_backward_pre_hooks`). Compare with torch/nn/modules/module.py when torch moves.
#include "mirror.h"

#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/jit/python/pybind_utils.h>

#include <exception>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "values.h"

namespace jittrace::python {
namespace {

std::string class_name_of(py::handle obj) {
  auto cls = py::type::handle_of(obj);
  return py::str(cls.attr("__module__")).cast<std::string>() + "." +
         py::str(cls.attr("__qualname__")).cast<std::string>();
}

class PythonModule final : public detail::ModuleAccess {
 public:
  PythonModule(py::handle mod, std::string api, py::dict scripted)
      : mod_(py::reinterpret_borrow<py::object>(mod)),
        api_(std::move(api)),
        scripted_(std::move(scripted)) {}

  ~PythonModule() override {
    py::gil_scoped_acquire gil;
    slots_.clear();
    flags_.clear();
    modules_.clear();
    scripted_ = py::dict();
    script_module_type_ = py::object();
    script_object_type_ = py::object();
    script_module_type_cpp_ = py::object();
    mod_ = py::object();
  }

  detail::ModuleTree describe() override {
    py::gil_scoped_acquire gil;
    script_module_type_ = py::module_::import("torch.jit").attr("ScriptModule");
    auto torch_c = py::module_::import("torch._C");
    script_object_type_ = torch_c.attr("ScriptObject");
    script_module_type_cpp_ = torch_c.attr("ScriptModule");
    auto module_py = py::module_::import("torch.nn.modules.module");
    for (const auto& [hooks, kind] :
         {std::pair{"_global_backward_hooks", "register_module_full_backward_hook"},
          std::pair{"_global_backward_pre_hooks", "register_module_full_backward_pre_hook"}}) {
      if (py::len(module_py.attr(hooks)) > 0) {
        throw InputError("[" + api_ + "] a global backward hook is registered (" + kind +
                         "); TorchScript has no backward hooks and a trace would drop it (as "
                         "torch.jit.trace, jittrace refuses modules that have backward hooks "
                         "assigned): remove it before tracing");
      }
    }
    std::vector<PyObject*> ancestors;
    modules_.clear();
    return tree_of(mod_, ancestors, "mod");
  }

  void save() override {
    py::gil_scoped_acquire gil;
    for (const auto& [module, is_script] : modules_) {
      if (is_script) {  // train() recurses into a ScriptModule's own submodules too
        for (auto sub : module.attr("modules")()) {
          flags_.emplace_back(py::reinterpret_borrow<py::object>(sub),
                              sub.attr("training").cast<bool>());
        }
        continue;
      }
      flags_.emplace_back(module, module.attr("training").cast<bool>());
      for (const char* store_name : {"_parameters", "_buffers"}) {
        py::dict store = module.attr(store_name);
        for (auto [name, tensor] : store) {
          slots_.emplace_back(store, py::reinterpret_borrow<py::object>(name),
                              py::reinterpret_borrow<py::object>(tensor));
        }
      }
    }
  }

  void set_training(bool on) override {
    py::gil_scoped_acquire gil;
    raise_pending_error();
    mod_.attr("train")(on);
  }

  void restore() override {
    py::gil_scoped_acquire gil;
    std::exception_ptr first;
    auto keep = [&first] {
      if (!first) first = std::current_exception();
    };
    if (PyErr_Occurred()) first = std::make_exception_ptr(py::error_already_set());
    // Traced code may reassign a parameter or buffer attribute: put back the tensor each held.
    for (auto& [store, name, tensor] : slots_) {
      try {
        PyObject* held = PyDict_GetItemWithError(store.ptr(), name.ptr());
        if (held != tensor.ptr()) {
          if (held == nullptr && PyErr_Occurred()) throw py::error_already_set();
          store[name] = tensor;
        }
      } catch (...) {
        keep();
      }
    }
    for (auto& [module, training] : flags_) {
      try {
        module.attr("training") = py::bool_(training);
      } catch (...) {
        keep();
      }
    }
    if (first) std::rethrow_exception(first);
  }

 private:
  // Backward hooks cannot be carried into TorchScript: refuse them rather than drop them.
  void refuse_backward_hooks(const py::object& mod, const std::string& path) const {
    auto has = [&](const char* store) {
      return py::hasattr(mod, store) && py::len(mod.attr(store)) > 0;
    };
    const char* kind = nullptr;
    if (has("_backward_pre_hooks")) {
      kind = "register_full_backward_pre_hook";
    } else if (has("_backward_hooks")) {
      const bool full = py::getattr(mod, "_is_full_backward_hook", py::none()).is(py::bool_(true));
      kind = full ? "register_full_backward_hook" : "register_backward_hook";
    }
    if (kind != nullptr) {
      throw InputError("[" + api_ + "] " + path + " has a backward hook (" + kind +
                       "); TorchScript has no backward hooks and a trace would drop it: remove it "
                       "before tracing, as torch.jit.trace also requires (Modules that have "
                       "backward hooks assigned can't be compiled)");
    }
  }

  // Describes a torch.nn.Module; modules that are already TorchScript are attached as they are.
  detail::ModuleTree tree_of(const py::object& mod, std::vector<PyObject*>& ancestors,
                             const std::string& path) {
    for (PyObject* a : ancestors) {
      if (a == mod.ptr()) {
        throw InputError("[" + api_ + "] " + path + " contains itself; modules must form a tree");
      }
    }
    detail::ModuleTree tree;
    if (PyObject_IsInstance(mod.ptr(), script_module_type_.ptr()) == 1) {
      tree.script_module = py::cast<torch::jit::Module>(mod.attr("_c"));
      modules_.emplace_back(mod, true);
      return tree;
    }
    modules_.emplace_back(mod, false);
    refuse_backward_hooks(mod, path);
    tree.class_name = class_name_of(mod);
    tree.training = mod.attr("training").cast<bool>();
    auto tensors = [&](const char* attr, std::vector<std::pair<std::string, at::Tensor>>& out) {
      for (auto [name, value] : py::reinterpret_borrow<py::dict>(mod.attr(attr))) {
        if (value.is_none()) continue;
        if (!THPVariable_Check(value.ptr())) {
          throw InputError("[" + api_ + "] " + path + "." + name.cast<std::string>() +
                           " is registered as a parameter or buffer but is not a tensor");
        }
        out.emplace_back(name.cast<std::string>(), THPVariable_Unpack(value.ptr()));
      }
    };
    tensors("_parameters", tree.parameters);
    tensors("_buffers", tree.buffers);
    // TorchScript custom-class objects held as plain attributes, such as the packed weights of
    // quantized modules (torch.classes.quantized.*): carried over, shared, like tensors.
    for (auto [name, value] : py::reinterpret_borrow<py::dict>(mod.attr("__dict__"))) {
      if (PyObject_IsInstance(value.ptr(), script_object_type_.ptr()) == 1 &&
          PyObject_IsInstance(value.ptr(), script_module_type_cpp_.ptr()) == 0) {
        tree.objects.emplace_back(name.cast<std::string>(),
                                  torch::jit::toIValue(value, c10::AnyType::get()));
      }
    }
    ancestors.push_back(mod.ptr());
    for (auto [name, child] : py::reinterpret_borrow<py::dict>(mod.attr("_modules"))) {
      if (child.is_none()) continue;
      const auto child_name = name.cast<std::string>();
      tree.children.emplace_back(child_name, tree_of(py::reinterpret_borrow<py::object>(child),
                                                     ancestors, path + "." + child_name));
    }
    ancestors.pop_back();
    // Stands for the module in the trace (exported methods compiled); its Python module and
    // submodules are still the ones whose flags and slots are kept and put back.
    if (scripted_.contains(mod)) tree.script_module = py::cast<torch::jit::Module>(scripted_[mod]);
    return tree;
  }

  py::object mod_;
  std::string api_;
  py::dict scripted_;
  py::object script_module_type_;      // torch.jit.ScriptModule (Python wrappers)
  py::object script_object_type_;      // torch._C.ScriptObject (custom-class objects)
  py::object script_module_type_cpp_;  // torch._C.ScriptModule (a ScriptObject too)
  std::vector<std::pair<py::object, bool>> modules_;  // every module once, is it TorchScript
  std::vector<std::pair<py::object, bool>> flags_;
  std::vector<std::tuple<py::dict, py::object, py::object>> slots_;  // store, name, tensor
};

}  // namespace

std::unique_ptr<detail::ModuleAccess> access_python_module(py::handle mod, const std::string& api,
                                                           const py::dict& scripted) {
  return std::make_unique<PythonModule>(mod, api, scripted);
}

}  // namespace jittrace::python
