"""Structured arguments and outputs, and their script form: what TorchScript sees of them.

Traced TorchScript takes and returns tensors and tuples, lists and dicts of them (inputs
may also hold constants). Models take and return richer values: namedtuples, dataclasses,
dict subclasses, HuggingFace ``ModelOutput`` and cache classes registered with
``torch.utils._pytree``. A :class:`Structure` records the shape of one such value, once, and
converts between the value and its *script form*:

- pytree leaves (tensors, constants such as ``True`` or ``3``) stay as they are;
- tuple, list and dict nodes stay tuples, lists and dicts;
- a namedtuple becomes a tuple of its fields;
- a mapping node whose children are its values in key order (``OrderedDict``,
  ``defaultdict``, ``ModelOutput``, any dict subclass) becomes a dict with its keys;
- every other node (a dataclass, a registered cache class, ...) becomes a tuple of its
  children's script forms;
- a child without leaves (``None``, ``()``, a dataclass whose fields are all ``None``) is
  dropped from its parent's script form, and the structure restores it; a whole value
  without leaves has the script form ``None``.

Flattening is torch's pytree. Dataclass instances and dict subclasses that no one
registered are wrapped, while a structure is taken, into jittrace's one pytree node type
(:class:`_ObjectNode`), so the user's classes are never registered globally. The per-call
conversions are Python functions generated once per structure: they index the value
directly, with no tree walk.

>>> import collections, torch
>>> Point = collections.namedtuple("Point", "x y")
>>> structure, script = Structure.of(Point(torch.zeros(1), torch.ones(1)))
>>> structure.describe(), type(script).__name__
('Point(x=Tensor, y=Tensor)', 'tuple')
>>> type(structure.from_script(script)).__name__
'Point'
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import importlib
import json
import keyword
import math
import reprlib
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final

import torch
import torch.utils._pytree as pytree

from ._errors import JittraceError

__all__ = ["Structure", "StructureUnavailable"]


class StructureUnavailable(JittraceError):
    """A structure cannot be recorded or rebuilt: one of its types cannot be found.

    For example a dataclass defined inside a function, or a class registered with
    ``torch.utils._pytree`` by a module that is not importable in this process.
    """


# ----------------------------------------------------------------------------- leaves

# A leaf is described by ("tensor",), ("const", type name, value) for None, bool, int,
# float and str, or ("object", qualified type name) for anything else. The output of a trace
# (Structure.of_output) has two more: ("number", type name), a Python bool, int or float that
# the traced code computed from tensor sizes (a 0-dim tensor in the script form, given back as
# that type), and ("fixed", type name, value), a bool, int or float that does not depend on the
# inputs (dropped from the script form, like None, and rebuilt as that value).
_Leaf = tuple[Any, ...]
_TENSOR: Final[_Leaf] = ("tensor",)
_NONE: Final[_Leaf] = ("const", "NoneType", None)
_CONSTANT_TYPES: Final = (type(None), bool, int, float, str)
_NUMBER_TYPES: Final[dict[str, type]] = {"bool": bool, "int": int, "float": float}


def _leaf_of(value: Any) -> _Leaf:
    """Describes one pytree leaf."""
    if isinstance(value, torch.Tensor):
        return _TENSOR
    cls = type(value)
    if cls in _CONSTANT_TYPES:
        return ("const", cls.__name__, value)
    return ("object", f"{cls.__module__}.{cls.__qualname__}")


def _leaf_to_json(leaf: _Leaf) -> Any:
    if leaf[0] == "tensor":
        return "Tensor"
    if leaf[0] == "const":
        return {"const": leaf[2]}
    if leaf[0] == "number":
        return {"number": leaf[1]}
    if leaf[0] == "fixed":
        value = leaf[2]
        if type(value) is float and not math.isfinite(value):  # not JSON: spelled as a string
            return {"fixed": repr(value), "type": "float"}
        return {"fixed": value}
    return {"object": leaf[1]}


def _leaf_from_json(data: Any) -> _Leaf:
    if data == "Tensor":
        return _TENSOR
    if isinstance(data, dict) and "const" in data:
        value = data["const"]
        if type(value) not in _CONSTANT_TYPES:
            raise ValueError(f"not a constant leaf: {data!r}")
        return ("const", type(value).__name__, value)
    if isinstance(data, dict) and data.get("number") in _NUMBER_TYPES:
        return ("number", data["number"])
    if isinstance(data, dict) and "fixed" in data:
        value = data["fixed"]
        if data.get("type") == "float" and value in ("inf", "-inf", "nan"):
            value = float(value)
        if type(value) not in _NUMBER_TYPES.values():
            raise ValueError(f"not a fixed number leaf: {data!r}")
        return ("fixed", type(value).__name__, value)
    if isinstance(data, dict) and isinstance(data.get("object"), str):
        return ("object", data["object"])
    raise ValueError(f"not a structure leaf: {data!r}")


def _describe_leaf(leaf: _Leaf) -> str:
    if leaf[0] == "tensor":
        return "Tensor"
    if leaf[0] in ("const", "fixed"):
        return repr(leaf[2])
    if leaf[0] == "number":
        return str(leaf[1])
    return str(leaf[1]).rpartition(".")[2]


def _output_leaf(value: Any, number: Callable[[torch.Tensor], str | None]) -> _Leaf:
    """Describes one leaf of what traced code returned, inside a structure (see of_output)."""
    if isinstance(value, torch.Tensor):
        kind = number(value)
        return _TENSOR if kind is None else ("number", kind)
    cls = type(value)
    if cls is bool or cls is int or cls is float:
        return ("fixed", cls.__name__, value)
    return _leaf_of(value)


# ---------------------------------------------------------------- jittrace's pytree node

# The context of an _ObjectNode: (kind, class, names). kind is "dataclass" (names: the
# fields), "mapping" (a dict subclass; names: its keys) or, only inside to_json,
# "namedtuple" (names: its fields) and "registered" (a class registered with pytree without
# a serialized_type_name and with the context None, such as torch.return_types.max).
_ObjectContext = tuple[str, type, tuple[Any, ...]]


class _ObjectNode:
    """A dataclass instance or an unregistered dict subclass, as jittrace's own pytree node.

    Unflattening returns the user's instance, so specs holding this node rebuild the
    user's types while the user's classes stay unregistered.
    """

    __slots__ = ("context", "values")

    def __init__(self, context: _ObjectContext, values: list[Any]) -> None:
        self.context = context
        self.values = values


def _object_flatten(node: _ObjectNode) -> tuple[list[Any], _ObjectContext]:
    return list(node.values), node.context


def _object_flatten_with_keys(
    node: _ObjectNode,
) -> tuple[list[tuple[Any, Any]], _ObjectContext]:
    kind, _, names = node.context
    key: Callable[[Any], Any] = pytree.MappingKey if kind == "mapping" else pytree.GetAttrKey
    return [(key(n), v) for n, v in zip(names, node.values, strict=True)], node.context


def _object_unflatten(values: Any, context: _ObjectContext) -> Any:
    return _maker(context)(*values)


@functools.lru_cache(maxsize=256)
def _maker(context: _ObjectContext) -> Callable[..., Any]:
    """The constructor of a node's object from its children, positionally."""
    kind, cls, names = context
    if kind == "namedtuple":
        return cls
    if kind == "mapping":
        return lambda *values: cls(zip(names, values, strict=True))
    fields = {f.name: f for f in dataclasses.fields(cls)}
    init_names = tuple(f.name for f in fields.values() if f.init)
    if names == init_names and not any(fields[n].kw_only for n in names):
        return cls
    late = [n for n in names if not fields[n].init]

    def make(*values: Any) -> Any:
        kwargs = dict(zip(names, values, strict=True))
        late_values = [(n, kwargs.pop(n)) for n in late]
        obj = cls(**kwargs)
        for name, value in late_values:  # init=False fields; frozen classes too
            object.__setattr__(obj, name, value)
        return obj

    return make


def _import(module: str, qualname: str) -> Any:
    """The object ``module.qualname``, or None when it cannot be imported."""
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


def _object_to_json(context: _ObjectContext) -> Any:
    kind, cls, names = context
    return {
        "kind": kind,
        "module": cls.__module__,
        "qualname": cls.__qualname__,
        "names": list(names),
    }


def _object_from_json(data: Any) -> _ObjectContext:
    kind, module, qualname = data["kind"], data["module"], data["qualname"]
    names = tuple(data["names"])
    cls = _import(module, qualname)
    if kind == "namedtuple":
        if not pytree.is_namedtuple_class(cls) or cls._fields != names:
            # a class of the same name and fields, for a class that cannot be imported
            cls = collections.namedtuple(qualname.rpartition(".")[2], names)  # type: ignore[misc,no-redef]
    elif kind == "dataclass":
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise StructureUnavailable(
                f"dataclass {module}.{qualname} cannot be imported: define it at the top "
                "level of an importable module to load its structure"
            )
        missing = set(names) - {f.name for f in dataclasses.fields(cls)}
        if missing:
            raise StructureUnavailable(
                f"dataclass {module}.{qualname} has no field(s) {sorted(missing)} any more"
            )
    elif kind == "registered":
        if cls not in pytree.SUPPORTED_NODES:
            raise StructureUnavailable(
                f"{module}.{qualname} cannot be imported, or is not registered with "
                "torch.utils._pytree after importing it"
            )
    elif not (isinstance(cls, type) and issubclass(cls, dict)):
        raise StructureUnavailable(
            f"dict subclass {module}.{qualname} cannot be imported: define it at the top "
            "level of an importable module to load its structure"
        )
    return (kind, cls, names)


pytree.register_pytree_node(
    _ObjectNode,
    _object_flatten,
    _object_unflatten,
    serialized_type_name=f"{__name__}._ObjectNode",
    to_dumpable_context=_object_to_json,
    from_dumpable_context=_object_from_json,
    flatten_with_keys_fn=_object_flatten_with_keys,
)


def _is_object(value: Any) -> bool:
    """Whether `value` is an unregistered dataclass instance or dict subclass."""
    cls = type(value)
    if cls in pytree.SUPPORTED_NODES or _register_transformers_cache(cls):
        return False
    return dataclasses.is_dataclass(cls) or isinstance(value, dict)


def _register_transformers_cache(cls: type) -> bool:
    """Registers a transformers cache class (``DynamicCache``...) with pytree, as transformers'
    own exporters do (``register_cache_pytrees_for_model``), the first time one is met: its
    tensors then go through the trace like any structure's. False for any other class."""
    cache_utils = sys.modules.get("transformers.cache_utils")
    cache = getattr(cache_utils, "Cache", None)
    if cache is None or not issubclass(cls, cache):
        return False
    try:
        from transformers.exporters.exporter_dynamo import register_pytree_node
    except ImportError:  # an older transformers: it has no registration of its own
        return False
    register_pytree_node(cls)
    return cls in pytree.SUPPORTED_NODES


def _wrap(tree: Any) -> Any:
    """`tree` with its unregistered dataclasses and dict subclasses as _ObjectNodes."""
    leaves, spec = pytree.tree_flatten(tree, is_leaf=_is_object)
    if not any(map(_is_object, leaves)):
        return tree
    return pytree.tree_unflatten([_object_node(x) if _is_object(x) else x for x in leaves], spec)


def _object_node(value: Any) -> _ObjectNode:
    cls = type(value)
    if dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls) if hasattr(value, f.name))
        return _ObjectNode(("dataclass", cls, names), [_wrap(getattr(value, n)) for n in names])
    return _ObjectNode(("mapping", cls, tuple(value)), [_wrap(v) for v in value.values()])


# ------------------------------------------------------------------------ compilation


@dataclasses.dataclass(frozen=True, eq=False)
class _Node:
    """One node of a structure, as the code generator sees it.

    Attributes:
        build: how the value is built: "leaf", "tuple", "list", "dict", "namedtuple",
            "dataclass", "mapping" (an unregistered dict subclass) or "registered".
        form: the node's script form: "leaf", "tuple", "list" or "dict".
        cls: the value's exact type (None for a leaf).
        context: the pytree context.
        children: the child nodes.
        keys: the keys of a mapping node, one per child (its script form may be a tuple).
        leaf: the leaf description of a leaf.
        empty: the node holds no leaf other than None and fixed numbers (its script form
            is dropped, and the structure rebuilds it).
        plain: the script form of any value of this node is the value itself.
    """

    build: str
    form: str
    cls: Any
    context: Any
    children: tuple[_Node, ...]
    keys: tuple[Any, ...] | None
    leaf: _Leaf | None
    empty: bool
    plain: bool


def _mapping_keys(spec: pytree.TreeSpec) -> tuple[Any, ...] | None:
    """The keys of a registered node whose children are its values in key order, or None."""
    cls, context = spec.type, spec.context
    if not (isinstance(cls, type) and issubclass(cls, Mapping)):
        return None
    if cls is collections.defaultdict:  # context: [default_factory, keys]
        context = context[1]
    if isinstance(context, (list, tuple)) and len(context) == spec.num_children:
        return tuple(context)
    return None


def _node(spec: pytree.TreeSpec, leaves: Any) -> _Node:
    """Compiles `spec` (and the next leaves from the iterator `leaves`) into a _Node."""
    if spec.is_leaf():
        leaf = next(leaves)
        # None and fixed numbers are dropped from the script form; a number is converted.
        empty = leaf == _NONE or leaf[0] == "fixed"
        return _Node("leaf", "leaf", None, None, (), None, leaf, empty, leaf[0] != "number")
    children = tuple(_node(child, leaves) for child in spec.children())
    cls, context = spec.type, spec.context
    keys: tuple[Any, ...] | None = None
    if cls in (tuple, list):
        build = form = cls.__name__
    elif cls is dict:
        build, form, keys = "dict", "dict", tuple(context)
    elif cls is collections.namedtuple:
        build, form, cls = "namedtuple", "tuple", context
    elif cls is _ObjectNode:
        build, cls, names = context
        form, keys = ("dict", names) if build == "mapping" else ("tuple", None)
    else:
        build, keys = "registered", _mapping_keys(spec)
        form = "tuple" if keys is None else "dict"
    if form == "dict" and build != "dict" and not all(map(_dict_value, children)):
        # A traced dict holds values of one type: a mapping of tensors is a dict, one holding
        # structures too (a ModelOutput with a cache) is a tuple in TorchScript.
        form = "tuple"
    empty = all(c.empty for c in children)
    plain = (
        build in ("tuple", "list", "dict")
        and not empty
        and all(c.plain and not c.empty for c in children)
    )
    return _Node(build, form, cls, context, children, keys, None, empty, plain)


def _dict_value(node: _Node) -> bool:
    """Whether a child's script form can be a value of a dict the tracer returns, which holds
    tensors only (TorchScript dicts have one value type): a tensor (a number is a 0-dim one),
    or dropped (no leaf)."""
    return node.empty or (node.leaf is not None and node.leaf[0] in ("tensor", "number"))


def _describe(node: _Node) -> str:
    if node.leaf is not None:
        return _describe_leaf(node.leaf)
    parts = [_describe(c) for c in node.children]
    if node.build == "tuple":
        return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"
    if node.build == "list":
        return f"[{', '.join(parts)}]"
    name = "" if node.build == "dict" else node.cls.__name__
    if node.keys is not None:
        items = ", ".join(f"{k!r}: {p}" for k, p in zip(node.keys, parts, strict=True))
        return f"{name}{{{items}}}"
    if node.build == "namedtuple":
        names: tuple[Any, ...] = node.cls._fields
    elif node.build == "dataclass":
        names = node.context[2]
    else:
        return f"{name}({', '.join(parts)})"
    return f"{name}({', '.join(f'{n}={p}' for n, p in zip(names, parts, strict=True))})"


def _identity(value: Any) -> Any:
    return value


def _same(value: Any, fixed: Any) -> bool:
    """Whether `value` is the fixed number `fixed` (of its type: True is not 1; NaN is NaN)."""
    return type(value) is type(fixed) and (value == fixed or (value != value and fixed != fixed))


class _Codegen:
    """Generates the from_script and to_script functions of one structure."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {}
        self.defs: list[str] = []
        self._names: dict[int, str] = {}

    def const(self, value: Any, prefix: str = "k") -> str:
        """A global name in the generated code bound to `value`."""
        name = self._names.get(id(value))
        if name is None:
            name = f"_{prefix}{len(self.namespace)}"
            self.namespace[name] = value
            self._names[id(value)] = name
        return name

    def child_sources(self, node: _Node, src: str) -> list[str]:
        """Expressions for the children of `node` in its script form `src` (None: dropped)."""
        out: list[str] = []
        j = 0
        for i, child in enumerate(node.children):
            if child.empty:
                out.append("")
            elif node.form == "dict":
                assert node.keys is not None
                out.append(f"{src}[{self.const(node.keys[i])}]")
            else:
                out.append(f"{src}[{j}]")
                j += 1
        return out

    def construct(self, node: _Node, parts: list[str]) -> str:
        """An expression building the value of `node` from its children's expressions."""
        if node.build == "tuple":
            return "(" + "".join(f"{p}, " for p in parts) + ")"
        if node.build == "list":
            return f"[{', '.join(parts)}]"
        if node.build == "dict":
            assert node.keys is not None
            items = (f"{self.const(k)}: {p}" for k, p in zip(node.keys, parts, strict=True))
            return "{" + ", ".join(items) + "}"
        if node.build == "registered":
            unflatten = pytree.SUPPORTED_NODES[node.cls].unflatten_fn
            return f"{self.const(unflatten, 'u')}([{', '.join(parts)}], {self.const(node.context, 'x')})"
        maker = node.cls if node.build == "namedtuple" else _maker(node.context)
        return f"{self.const(maker, 'c')}({', '.join(parts)})"

    def rebuild(self, node: _Node) -> str:
        """An expression building a value of the empty `node`."""
        if node.leaf is not None:
            return "None" if node.leaf == _NONE else self.const(node.leaf[2])
        return self.construct(node, [self.rebuild(c) for c in node.children])

    def from_expr(self, node: _Node, src: str) -> str:
        """An expression rebuilding the value of `node` from its script form `src`."""
        if node.plain:
            return src
        if node.leaf is not None:  # a number: int(), float() or bool() of its 0-dim tensor
            return f"{self.const(_NUMBER_TYPES[node.leaf[1]], 'c')}({src})"
        if node.empty:
            return self.rebuild(node)
        parts = [
            self.from_expr(c, s) if s else self.rebuild(c)
            for c, s in zip(node.children, self.child_sources(node, src), strict=True)
        ]
        return self.construct(node, parts)

    def to_expr(self, node: _Node, src: str) -> str:
        """An expression converting `src`, a value of `node`, into its script form."""
        if node.plain or node.leaf is not None:  # a number's script form is the traced value
            return src
        return f"{self.to_function(node)}({src})"

    def to_function(self, node: _Node) -> str:
        """Defines the function converting a value of `node` to its script form."""
        name = f"_t{len(self.defs)}"
        self.defs.append("")  # reserves the name
        cls = self.const(node.cls, "c")
        n = len(node.children)
        lines = [f"def {name}(v):"]
        src: list[str]
        if node.build in ("tuple", "list"):
            lines.append(f"    if type(v) is not {cls} or len(v) != {n}: return v")
            src = [f"v[{i}]" for i in range(n)]
        elif node.build in ("dict", "mapping"):
            assert node.keys is not None
            keyset = self.const(frozenset(node.keys))
            lines.append(f"    if type(v) is not {cls} or v.keys() != {keyset}: return v")
            src = [f"v[{self.const(k)}]" for k in node.keys]
        elif node.build == "namedtuple":
            lines.append(f"    if type(v) is not {cls}: return v")
            src = [f"v[{i}]" for i in range(n)]
        elif node.build == "dataclass":
            lines.append(f"    if type(v) is not {cls}: return v")
            src = [
                f"v.{f}"
                if f.isidentifier() and not keyword.iskeyword(f)
                else f"getattr(v, {self.const(f)})"
                for f in node.context[2]
            ]
        else:  # registered with pytree: its flatten function gives the children
            flatten = self.const(pytree.SUPPORTED_NODES[node.cls].flatten_fn, "f")
            lines.append(f"    if type(v) is not {cls}: return v")
            lines.append(f"    c, x = {flatten}(v)")
            check = f"len(c) != {n}"
            if node.keys is not None:  # the same keys, in the same order
                keys = self.const(list(node.keys))
                got = "x[1]" if node.cls is collections.defaultdict else "x"
                check += f" or {got} != {keys}"
            lines.append(f"    if {check}: return v")
            src = [f"c[{i}]" for i in range(n)]
        kept: list[str] = []
        for i, child in enumerate(node.children):
            expr = self.to_expr(child, src[i])
            if child.empty:  # dropped: it must match, else the whole node passes through
                if child.leaf is not None and child.leaf[0] == "fixed":
                    same = self.const(_same, "f")
                    lines.append(
                        f"    if not {same}({expr}, {self.const(child.leaf[2])}): return v"
                    )
                else:
                    lines.append(f"    if {expr} is not None: return v")
            elif node.form == "dict":
                assert node.keys is not None
                kept.append(f"{self.const(node.keys[i])}: {expr}")
            else:
                kept.append(expr)
        if node.empty:
            lines.append("    return None")
        elif node.form == "dict":
            lines.append("    return {" + ", ".join(kept) + "}")
        elif node.form == "list":
            lines.append(f"    return [{', '.join(kept)}]")
        else:
            lines.append("    return (" + "".join(f"{e}, " for e in kept) + ")")
        self.defs[int(name[2:])] = "\n".join(lines)
        return name


# ------------------------------------------------------------------------- the class


class Structure:
    """The structure of one argument or output, compiled once from a pytree TreeSpec.

    Two structures are equal when their pytree specs and leaves (tensor, or the constant
    value) are equal.

    Attributes:
        plain: the script form of any value of this structure is the value itself (a
            tensor or constant, or tuples, lists and dicts of them): callers may skip
            `to_script` and `from_script`.
        to_script: converts a value of this structure into its script form. At a node
            whose type (or keys) differ from the structure's, the value passes through
            unchanged, for TorchScript to check.
        from_script: rebuilds a value of this structure, with its original types, from
            its script form.

    >>> structure, script = Structure.of({"a": torch.zeros(1), "b": None})
    >>> structure.describe(), list(script)
    ("{'a': Tensor, 'b': None}", ['a'])
    """

    __slots__ = ("_hash", "_key", "_root", "from_script", "plain", "to_script")

    plain: bool
    to_script: Callable[[Any], Any]
    from_script: Callable[[Any], Any]

    def __init__(self, spec: pytree.TreeSpec, leaves: tuple[_Leaf, ...]) -> None:
        """Compiles a structure; use :meth:`of` or :meth:`from_json` instead."""
        self._key = (spec, leaves)
        self._hash = hash(self._key)
        self._root = root = _node(spec, iter(leaves))
        self.plain = root.plain
        if root.plain:
            self.to_script = self.from_script = _identity
            return
        gen = _Codegen()
        to_name = "_identity" if root.leaf is not None else gen.to_function(root)
        gen.namespace["_identity"] = _identity
        from_body = gen.rebuild(root) if root.empty else gen.from_expr(root, "s")
        source = "\n\n".join([*gen.defs, f"def _from_script(s):\n    return {from_body}"])
        code = compile(source, f"<jittrace structure {self.describe()}>", "exec")
        exec(code, gen.namespace)  # generated from our templates; user text only as constants
        self.to_script = gen.namespace[to_name]
        self.from_script = gen.namespace["_from_script"]

    @classmethod
    def of(cls, value: Any) -> tuple[Structure, Any]:
        """Takes the structure of `value`.

        Args:
            value: a tensor, constant, or pytree of them; dataclasses and dict subclasses
                need no registration.

        Returns:
            The structure and the script form of `value`.
        """
        # Fast paths for what most calls pass, a tensor or a flat tuple or list of them: a
        # pytree walk costs more than the rest of tracing a small function.
        cls_ = type(value)
        if cls_ is torch.Tensor or cls_ is torch.nn.Parameter:
            return _plain((torch.Tensor, 0)), value
        if (
            (cls_ is tuple or cls_ is list)
            and value
            and all(type(v) is torch.Tensor for v in value)
        ):
            return _plain((cls_, len(value))), value
        leaves, spec = pytree.tree_flatten(_wrap(value))
        structure = _structure(spec, tuple(map(_leaf_of, leaves)))
        return structure, structure.to_script(value)

    @classmethod
    def of_output(
        cls, value: Any, number: Callable[[torch.Tensor], str | None]
    ) -> tuple[Structure, Any]:
        """Takes the structure of what traced code returned, while it is traced.

        Inside a structure, a bool, int or float is a fixed number: the structure rebuilds it
        and the script form drops it (as None). A tensor for which `number` gives a type
        name (``"int"``, ``"float"``, ``"bool"``) is a Python number of that type in eager
        code that the trace computed as a 0-dim tensor (from tensor sizes): it stays in the
        script form, and ``from_script`` gives it back as that type. A bare number is not
        inside a structure: it stays in the script form, for the core to refuse.

        Returns:
            The structure and the script form of `value`.
        """
        cls_ = type(value)
        if cls_ is torch.Tensor:
            kind = number(value)
            bare = _BARE.get(kind)
            if bare is None:
                leaf = _TENSOR if kind is None else ("number", kind)
                bare = _BARE[kind] = _structure(_LEAF_SPEC, (leaf,))
            return bare, value
        if (
            (cls_ is tuple or cls_ is list)
            and value
            and all(type(v) is torch.Tensor and number(v) is None for v in value)
        ):
            return _plain((cls_, len(value))), value
        leaves, spec = pytree.tree_flatten(_wrap(value))
        if spec.is_leaf():  # not a structure
            return cls.of(value)
        structure = _structure(spec, tuple(_output_leaf(x, number) for x in leaves))
        return structure, structure.to_script(value)

    def matches(self, other: Structure) -> bool:
        """Whether values of the two structures can be compared leaf by leaf: the structures
        are equal, except that a bool, int or float leaf matches any value of its type, or a
        tensor (a number that the other computed as a 0-dim tensor)."""
        if self == other:
            return True
        (spec, leaves), (other_spec, other_leaves) = self._key, other._key
        return spec == other_spec and all(
            map(_leaves_match, leaves, other_leaves)  # same spec: as many leaves
        )

    def difference(self, other: Structure) -> str:
        """Where two structures with the same description differ: the first node whose type
        or context differ (pytree contexts hold the constants some types keep, such as a
        transformers cache's ``cumulative_length``), as a path and the two contexts."""
        shown = reprlib.Repr()
        shown.maxstring = shown.maxother = 120

        def walk(a: pytree.TreeSpec, b: pytree.TreeSpec, path: str) -> str | None:
            if a.type != b.type or a.context != b.context or a.num_children != b.num_children:
                return (
                    f"{path or 'the output'} holds {shown.repr(a.context)} in one, "
                    f"{shown.repr(b.context)} in the other"
                )
            for i, (x, y) in enumerate(zip(a.children(), b.children(), strict=True)):
                found = walk(x, y, f"{path}[{i}]")
                if found is not None:
                    return found
            return None

        found = walk(self._key[0], other._key[0], "")
        if found is None:
            return "their constants differ"
        return found

    def describe(self) -> str:
        """A readable form, such as ``Point(x=Tensor, y=Tensor)`` or ``(Tensor, None)``."""
        return _describe(self._root)

    @property
    def empty(self) -> bool:
        """Whether the structure holds no leaf other than None (its script form is None)."""
        return self._root.empty

    def containers(self) -> list[tuple[str, str]]:
        """The exact lists and dicts in the structure, as (``"list"`` or ``"dict"``, path), e.g.
        ``("dict", "[1]['a']")``: the containers whose length or keys a trace cannot see
        change. Containers inside dropped (empty) parts are left out."""
        found: list[tuple[str, str]] = []

        def visit(node: _Node, path: str) -> None:
            if node.leaf is not None or node.empty:
                return
            if node.build in ("list", "dict"):
                found.append((node.build, path))
            for i, child in enumerate(node.children):
                key = node.keys[i] if node.keys is not None else i
                visit(child, f"{path}[{key!r}]")

        visit(self._root, "")
        return found

    def to_json(self) -> Any:
        """A JSON-serialisable description that :meth:`from_json` rebuilds.

        Pytree nodes are written by torch's ``treespec_dumps``; namedtuples, dataclasses,
        dict subclasses and registered classes without a ``serialized_type_name`` (and
        without context, such as ``torch.return_types.max``) as module, qualified name and
        fields or keys. Nothing is pickled.

        Raises:
            StructureUnavailable: a node type has no serialisation (a class registered
                with pytree without ``serialized_type_name``, whose context is not None).
        """
        spec, leaves = self._key
        types: dict[str, str] = {}
        try:
            dumped = pytree.treespec_dumps(_to_serialisable(spec, types))
        except (NotImplementedError, TypeError, AttributeError) as e:
            raise StructureUnavailable(
                f"the structure {self.describe()} cannot be recorded: {e}"
            ) from e
        return {
            "format": "jittrace.Structure",
            "version": 1,
            "types": [{"name": k, "module": v} for k, v in types.items()],
            "spec": json.loads(dumped),
            "leaves": [_leaf_to_json(leaf) for leaf in leaves],
        }

    @classmethod
    def from_json(cls, data: Any) -> Structure:
        """Rebuilds a structure from :meth:`to_json`, importing the modules of its types.

        A namedtuple class that cannot be imported is rebuilt from its name and fields.

        Raises:
            StructureUnavailable: a type cannot be imported or is not registered with
                pytree after importing its module.
            ValueError: `data` is not a structure description.
        """
        if not isinstance(data, dict) or data.get("format") != "jittrace.Structure":
            raise ValueError(f"not a jittrace structure: {data!r:.200}")
        for entry in data["types"]:
            name, module = entry["name"], entry["module"]
            if name not in pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE:
                try:
                    importlib.import_module(module)
                except ImportError as e:
                    raise StructureUnavailable(
                        f"{name} cannot be found: importing {module} failed: {e}"
                    ) from e
                if name not in pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE:
                    raise StructureUnavailable(
                        f"{name} is not registered with torch.utils._pytree after "
                        f"importing {module}"
                    )
        try:
            spec = pytree.treespec_loads(json.dumps(data["spec"]))
        except StructureUnavailable:
            raise
        except (NotImplementedError, ImportError, AttributeError, KeyError) as e:
            raise StructureUnavailable(f"a type of the structure cannot be found: {e}") from e
        leaves = tuple(_leaf_from_json(leaf) for leaf in data["leaves"])
        return _structure(_from_serialisable(spec), leaves)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Structure):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Structure({self.describe()})"


_PLAIN: dict[tuple[type, int], Structure] = {}
_LEAF_SPEC: Final = pytree.tree_flatten(0)[1]
_BARE: dict[str | None, Structure] = {}  # a bare tensor (None) or number, by type name


def _leaves_match(a: _Leaf, b: _Leaf) -> bool:
    if a == b:
        return True
    numbers = ("bool", "int", "float")
    a_number = a[0] in ("const", "fixed") and a[1] in numbers
    b_number = b[0] in ("const", "fixed") and b[1] in numbers
    if a_number and b_number:
        return bool(a[1] == b[1])
    return (a_number and b == _TENSOR) or (b_number and a == _TENSOR)


def _plain(key: tuple[type, int]) -> Structure:
    """The structure of a tensor (``(Tensor, 0)``) or of a flat tuple or list of `n` tensors."""
    structure = _PLAIN.get(key)
    if structure is None:
        cls, n = key
        example = torch.zeros(()) if n == 0 else cls(torch.zeros(()) for _ in range(n))
        leaves, spec = pytree.tree_flatten(example)
        structure = _PLAIN[key] = _structure(spec, tuple(map(_leaf_of, leaves)))
    return structure


@functools.lru_cache(maxsize=256)
def _structure(spec: pytree.TreeSpec, leaves: tuple[_Leaf, ...]) -> Structure:
    """The compiled structure of a spec and its leaves, compiled once."""
    return Structure(spec, leaves)


def _to_serialisable(spec: pytree.TreeSpec, types: dict[str, str]) -> pytree.TreeSpec:
    """`spec` with namedtuple nodes as _ObjectNodes, which torch can serialise.

    Collects into `types` the serialised name and module of each registered class.
    """
    if spec.is_leaf():
        return spec
    children = [_to_serialisable(c, types) for c in spec.children()]
    cls, context = spec.type, spec.context
    if cls is collections.namedtuple:
        return pytree.TreeSpec(_ObjectNode, ("namedtuple", context, context._fields), children)
    if cls not in pytree.BUILTIN_TYPES and cls is not _ObjectNode:
        name = pytree.SUPPORTED_SERIALIZED_TYPES[cls].serialized_type_name
        if name == pytree.NO_SERIALIZED_TYPE_NAME_FOUND and context is None:
            return pytree.TreeSpec(_ObjectNode, ("registered", cls, ()), children)
        types[name] = cls.__module__
    return pytree.TreeSpec(cls, context, children)


def _from_serialisable(spec: pytree.TreeSpec) -> pytree.TreeSpec:
    """Undoes :func:`_to_serialisable`."""
    if spec.is_leaf():
        return spec
    children = [_from_serialisable(c) for c in spec.children()]
    cls, context = spec.type, spec.context
    if cls is _ObjectNode and context[0] == "namedtuple":
        return pytree.TreeSpec(collections.namedtuple, context[1], children)
    if cls is _ObjectNode and context[0] == "registered":
        return pytree.TreeSpec(context[1], None, children)
    return pytree.TreeSpec(cls, context, children)
