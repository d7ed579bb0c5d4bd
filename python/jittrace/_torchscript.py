"""Every use of torch's private TorchScript API in jittrace's Python layer, in one module.

The Python ScriptModule around a traced C++ module (lazy submodule wrappers, container
indexing, Python-level mode dispatch where TorchScript cannot have one) and what the command
line reads of a loaded module. When torch moves, this is the file to compare with
torch/jit/_recursive.py and torch/jit/_script.py. (The C++ binding reads nn.Module's own
dicts in csrc/python/mirror.cpp.)
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.jit._script import RecursiveScriptModule

from ._errors import InputError

__all__ = [
    "bound_method",
    "compiled_methods",
    "method_graph",
    "method_names",
    "method_schema",
    "non_persistent_buffers",
    "script_exports",
    "script_module_attribute",
    "training_flag",
    "type_name",
    "wrap",
    "wrap_loaded",
    "wrap_plain",
]

_CONTAINERS = (nn.ModuleList, nn.Sequential, nn.ModuleDict)
_UNMADE = object()


class _LazySubmodules(dict[str, Any]):
    """The Python wrappers of a ScriptModule's submodules, each made on first access.

    torch's `wrap_cpp_module` builds a `RecursiveScriptModule` for every submodule up front;
    for a 6-layer transformer that cost more instructions than tracing its forward. This dict
    (the `_python_modules` of torch's `OrderedModuleDict`, which reads it only through
    `items`, `in`, `[k]` and `[k] = v`) makes each one when it is first asked for, and keeps it,
    so `traced.encoder is traced.encoder` holds as before.
    """

    __slots__ = ("_cpp", "_lock", "_non_persistent", "_path")

    def __init__(
        self, cpp: torch._C.ScriptModule, path: str, non_persistent: dict[str, set[str]]
    ) -> None:
        children = torch._C.ModuleDict(cpp).items()
        super().__init__((name, _UNMADE) for name, _ in children)
        self._cpp = cpp
        self._lock = threading.Lock()
        self._path = path
        self._non_persistent = non_persistent

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        if value is _UNMADE:
            with self._lock:  # two threads asking at once get the same wrapper
                value = super().__getitem__(name)
                if value is _UNMADE:
                    path = f"{self._path}.{name}" if self._path else name
                    value = _wrap_lazily(
                        self._cpp.getattr(name),  # type: ignore[attr-defined]  # unstubbed
                        path,
                        self._non_persistent,
                    )
                    super().__setitem__(name, value)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default  # noqa: SIM401 (this is get)

    def values(self) -> Any:
        self._make_all()
        return super().values()

    def items(self) -> Any:
        self._make_all()
        return super().items()

    def _make_all(self) -> None:
        for name in list(self.keys()):
            self[name]


def _wrap_lazily(
    cpp: torch._C.ScriptModule, path: str, non_persistent: dict[str, set[str]]
) -> RecursiveScriptModule:
    """torch.jit._recursive.wrap_cpp_module, with submodule wrappers made on first access.

    `non_persistent` maps module paths to their non-persistent buffers, which TorchScript
    cannot mark, so that state_dict() leaves them out as the original module does.
    """

    def init_fn(script_module: RecursiveScriptModule) -> None:
        script_module._concrete_type = torch._C.ConcreteModuleType.from_jit_type(
            script_module._c._type()
        )
        for idx, fn in enumerate(script_module._c._get_forward_pre_hooks()):
            script_module._forward_pre_hooks[idx] = fn
        for idx, fn in enumerate(script_module._c._get_forward_hooks()):
            script_module._forward_hooks[idx] = fn

    module: RecursiveScriptModule = RecursiveScriptModule._construct(cpp, init_fn)
    module._modules._python_modules = _LazySubmodules(cpp, path, non_persistent)
    if path in non_persistent:
        module.__dict__["_non_persistent_buffers_set"] = set(non_persistent[path])
    return module


def non_persistent_buffers(modules: list[tuple[str, nn.Module]]) -> dict[str, set[str]]:
    """The non-persistent buffers of `modules` (``named_modules()``) by module path."""
    return {
        path: set(m._non_persistent_buffers_set)
        for path, m in modules
        if getattr(m, "_non_persistent_buffers_set", None)
    }


def wrap(cpp: torch._C.ScriptModule, modules: list[tuple[str, nn.Module]]) -> RecursiveScriptModule:
    """The ScriptModule for a module traced into `cpp`; `modules` are its named_modules()."""
    traced = _wrap_lazily(cpp, "", non_persistent_buffers(modules))
    _index_containers(modules, traced)
    return traced


def wrap_loaded(
    cpp: torch._C.ScriptModule, non_persistent: dict[str, set[str]]
) -> RecursiveScriptModule:
    """The ScriptModule for a loaded module, whose `non_persistent` buffers (by module path)
    stay out of state_dict() as in the module it was traced from."""
    return _wrap_lazily(cpp, "", non_persistent)


def wrap_plain(cpp: torch._C.ScriptModule) -> RecursiveScriptModule:
    """The ScriptModule around a C++ module that has no nn.Module behind it (a frozen copy)."""
    module: RecursiveScriptModule = torch.jit._recursive.wrap_cpp_module(cpp)
    return module


_exports: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()


def _has_exports(cls: type) -> bool:
    """Whether `cls` defines a ``@torch.jit.export`` method (cached per class)."""
    try:
        return _exports[cls]
    except KeyError:
        pass
    export = torch._jit_internal.FunctionModifiers.EXPORT
    found = any(
        getattr(value, "_torchscript_modifier", None) is export
        for klass in cls.__mro__
        for value in vars(klass).values()
    )
    _exports[cls] = found
    return found


def script_exports(
    api: str, modules: list[tuple[str, nn.Module]]
) -> dict[nn.Module, torch._C.ScriptModule]:
    """TorchScript modules with the ``@torch.jit.export`` methods compiled, as torch.jit.trace
    makes them, for the outermost of `modules` (``named_modules()``) whose class has any.

    torch compiles the module's submodules with it, sharing their tensors; the trace then adds
    its methods to the same module. The classes land in torch's global compilation unit, as
    with torch.jit.trace: exported methods are compiled by torch's scripting frontend.
    """
    scripted: dict[nn.Module, torch._C.ScriptModule] = {}
    covered: list[str] = []
    for path, module in modules:
        if any(not p or path == p or path.startswith(p + ".") for p in covered):
            continue
        if isinstance(module, torch.jit.ScriptModule) or not _has_exports(type(module)):
            continue
        try:
            script = torch.jit._recursive.create_script_module(
                module,
                torch.jit._recursive.make_stubs_from_exported_methods,
                share_types=False,
                is_tracing=True,
            )
        except Exception as e:
            lines = [line for line in str(e).strip().splitlines() if line.strip()]
            raise InputError(
                f"[{api}] {'.'.join(['mod', *filter(None, [path])])}: the @torch.jit.export "
                f"methods of {type(module).__name__} do not compile with TorchScript "
                f"(torch.jit.trace compiles them too): {lines[0] if lines else type(e).__name__}"
            ) from e
        scripted[module] = script._c
        covered.append(path)
    return scripted


@functools.cache  # a pure function of the name; asked on every module trace
def script_module_attribute(name: str) -> str | None:
    """Where a traced module's own attribute `name` comes from (``nn.Module.double``,
    ``torch.jit._script.RecursiveScriptModule.save``), or None if it has none: a traced method
    of that name would be shadowed by it."""
    for cls in RecursiveScriptModule.__mro__:
        if name in vars(cls):
            where = "nn" if cls is nn.Module else cls.__module__
            return f"{where}.{cls.__qualname__}.{name}"
    return None


def compiled_methods(cpp: torch._C.ScriptModule) -> set[str]:
    """The names of the methods a C++ ScriptModule already has."""
    return set(cpp._method_names())


def type_name(module: torch.jit.ScriptModule) -> str:
    """The qualified TorchScript class name, e.g. ``__torch__.torch.nn.modules.linear.Linear``."""
    return str(module._c._type().qualified_name())


def method_names(module: torch.jit.ScriptModule) -> list[str]:
    """The TorchScript methods of `module` (not its submodules'), in definition order."""
    return list(module._c._method_names())


def method_schema(module: torch.jit.ScriptModule, name: str) -> str:
    """The schema of method `name`, e.g. ``forward(__torch__.Net self, Tensor x) -> Tensor``."""
    return str(module._c._get_method(name).schema)


def method_graph(module: torch.jit.ScriptModule, name: str, inlined: bool = False) -> torch.Graph:
    """The graph of method `name`; `inlined`: with the methods it calls inlined (a dispatcher's
    traces)."""
    method = module._c._get_method(name)
    graph: torch.Graph = method.inlined_graph if inlined else method.graph
    return graph


def bound_method(cpp: torch._C.ScriptModule, name: str) -> Any:
    """Method `name` of a C++ module, callable, holding the C++ module (not its Python wrapper)."""
    return cpp._get_method(name)


def training_flag(cpp: torch._C.ScriptModule) -> Callable[[], bool]:
    """Reads the `training` attribute of a C++ module when called."""
    return lambda: bool(cpp.getattr("training"))  # type: ignore[attr-defined]  # unstubbed


def _index_containers(modules: list[tuple[str, nn.Module]], traced: torch.jit.ScriptModule) -> None:
    """Lets ``traced.layers[0]``, ``len(traced.layers)`` and iteration work as on the module."""
    for path, sub in modules:
        if not isinstance(sub, _CONTAINERS):
            continue
        target = traced
        for part in path.split(".") if path else ():
            target = getattr(target, part)
        if not isinstance(target, RecursiveScriptModule) or target._c._has_method("__len__"):
            continue  # a ScriptModule that was attached as it is keeps its own behaviour
        children = target._modules  # the closures hold this mapping, not `target`: no cycle
        keys = list(children._python_modules)  # names only: keys() would make every wrapper
        by_position = isinstance(sub, (nn.ModuleList, nn.Sequential))

        def getitem(
            key: Any,
            children: Any = children,
            keys: list[str] = keys,
            by_position: bool = by_position,
        ) -> Any:
            if by_position and isinstance(key, int):
                key = keys[key]  # negative indices and IndexError as for a list
            return children[key]

        target.__dict__["__getitem__"] = getitem
        target.__dict__["__len__"] = lambda keys=keys: len(keys)
        target.__dict__["__iter__"] = (
            (lambda children=children: iter(list(children.values())))
            if by_position
            else (lambda keys=keys: iter(keys))
        )
        target.__dict__["__contains__"] = lambda key, keys=keys: key in keys
