"""Structures: values <-> their script form (what TorchScript sees), and back, and to JSON."""

from __future__ import annotations

import collections
import dataclasses
import json
from typing import Any, NamedTuple

import pytest
import torch
import torch.utils._pytree as pytree

try:
    from jittrace import _structures as S
except ImportError:  # not installed yet: load the source file as jittrace._structures
    import importlib.util
    import pathlib
    import sys

    _path = pathlib.Path(__file__).parents[1] / "python" / "jittrace" / "_structures.py"
    _spec = importlib.util.spec_from_file_location("jittrace._structures", _path)
    assert _spec is not None and _spec.loader is not None
    S = importlib.util.module_from_spec(_spec)
    sys.modules["jittrace._structures"] = S
    _spec.loader.exec_module(S)

Structure = S.Structure
StructureUnavailable = S.StructureUnavailable

transformers_outputs = pytest.importorskip("transformers.modeling_outputs")
BaseModelOutput = transformers_outputs.BaseModelOutput
BaseModelOutputWithPooling = transformers_outputs.BaseModelOutputWithPooling

X, Y, Z = torch.zeros(2), torch.ones(3), torch.arange(4.0)
MAX = torch.max(torch.arange(6.0).view(2, 3), 1)  # torch.return_types.max: registered, unnamed


class Point(NamedTuple):
    x: Any
    y: Any


Pair = collections.namedtuple("Pair", "first second")


@dataclasses.dataclass
class Config:
    weight: Any
    bias: Any = None


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: Any
    b: Any


@dataclasses.dataclass
class WithLate:
    a: Any
    scale: Any = dataclasses.field(init=False, default=None)


@dataclasses.dataclass
class Outer:
    inner: Config
    points: list[Point]
    note: str = "hi"


class Batch(dict):  # type: ignore[type-arg]
    """A dict subclass nobody registered."""


class Cache:
    """A cache class registered with pytree (by the `cache` fixture), as transformers does."""

    def __init__(self, keys: list[Any], values: list[Any]) -> None:
        self.keys = keys
        self.values = values

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Cache
            and _same(self.keys, other.keys)
            and _same(self.values, other.values)
        )

    __hash__ = None  # type: ignore[assignment]


@pytest.fixture
def cache():
    pytree.register_pytree_node(
        Cache,
        lambda c: ([c.keys, c.values], None),
        lambda children, _: Cache(*children),
        serialized_type_name=f"{__name__}.Cache",
    )
    yield Cache
    pytree._deregister_pytree_node(Cache)


def _same(a: Any, b: Any) -> bool:
    """Same types all the way down, and the very same tensors."""
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        return a is b
    if isinstance(a, Cache):
        return a == b
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(map(_same, a, b))
    if dataclasses.is_dataclass(a):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return bool(a == b)


def _late() -> WithLate:
    value = WithLate(X)
    value.scale = Y
    return value


def _default_dict() -> collections.defaultdict[str, Any]:
    value: collections.defaultdict[str, Any] = collections.defaultdict(list)
    value["a"] = X
    value["b"] = Y
    return value


# (id, value, expected script form)
VALUES: list[tuple[str, Any, Any]] = [
    ("tensor", X, X),
    ("true", True, True),
    ("int", 3, 3),
    ("float", 2.5, 2.5),
    ("str", "mean", "mean"),
    ("none", None, None),
    ("tuple", (X, Y), (X, Y)),
    ("list", [X, Y, Z], [X, Y, Z]),
    ("dict_str", {"a": X, "b": Y}, {"a": X, "b": Y}),
    ("dict_int", {0: X, 5: Y}, {0: X, 5: Y}),
    ("nested_plain", (X, [Y, {"z": Z}], 3), (X, [Y, {"z": Z}], 3)),
    ("tuple_none", (X, None, Y), (X, Y)),
    ("dict_none", {"a": X, "b": None}, {"a": X}),
    ("namedtuple", Point(X, Y), (X, Y)),
    ("namedtuple_collections", Pair(X, Y), (X, Y)),
    ("namedtuple_none", Point(X, None), (X,)),
    ("namedtuple_in_dict", {"p": Point(X, Y), "q": Z}, {"p": (X, Y), "q": Z}),
    ("namedtuple_in_tuple", (Z, Point(None, Y)), (Z, (Y,))),
    ("dataclass", Config(X, Y), (X, Y)),
    ("dataclass_none", Config(X), (X,)),
    ("dataclass_nested", Outer(Config(X), [Point(Y, Z)]), ((X,), [(Y, Z)], "hi")),
    ("dataclass_frozen", Frozen(X, Y), (X, Y)),
    ("dataclass_init_false", _late(), (X, Y)),
    ("dataclass_all_none_dropped", (X, Config(None)), (X,)),
    ("ordereddict", collections.OrderedDict([("b", X), ("a", Y)]), {"b": X, "a": Y}),
    ("defaultdict", _default_dict(), {"a": X, "b": Y}),
    ("dict_subclass", Batch(ids=X, mask=Y), {"ids": X, "mask": Y}),
    ("dict_subclass_of_tensors", [Batch(p=X, q=Y)], [{"p": X, "q": Y}]),
    # A traced dict holds values of one type: a mapping holding structures is a tuple.
    ("dict_subclass_nested", [Batch(p=Point(X, Y))], [((X, Y),)]),
    (
        "model_output",
        BaseModelOutput(last_hidden_state=X, hidden_states=(Y, Z)),
        (X, (Y, Z)),
    ),
    (
        "model_output_in_tuple",
        (BaseModelOutput(last_hidden_state=X), Pair(Y, None)),
        ({"last_hidden_state": X}, (Y,)),
    ),
    ("structseq", MAX, (MAX.values, MAX.indices)),
    ("empty_tuple", (), None),
    ("all_none", (None, [None, ()], Config(None)), None),
]
VALUE_IDS = [v[0] for v in VALUES]
PLAIN = {
    "tensor", "true", "int", "float", "str", "none",
    "tuple", "list", "dict_str", "dict_int", "nested_plain",
}  # fmt: skip


@pytest.mark.parametrize(("name", "value", "script"), VALUES, ids=VALUE_IDS)
def test_round_trip_and_script_form(name, value, script):
    structure, got = Structure.of(value)
    assert _same(got, script), (got, script)
    assert structure.plain == (name in PLAIN)
    if structure.plain:
        assert got is value
    assert _same(structure.from_script(got), value)


@pytest.mark.parametrize(("name", "value", "script"), VALUES, ids=VALUE_IDS)
def test_json_round_trip(name, value, script):
    structure, got = Structure.of(value)
    loaded = Structure.from_json(json.loads(json.dumps(structure.to_json())))
    assert loaded == structure and hash(loaded) == hash(structure)
    assert loaded.describe() == structure.describe()
    assert loaded.plain == structure.plain
    assert _same(loaded.from_script(got), value)
    assert _same(loaded.to_script(value), script)


def test_script_form_types():
    _, script = Structure.of(Point(X, Y))
    assert type(script) is tuple
    _, script = Structure.of(BaseModelOutputWithPooling(last_hidden_state=X, pooler_output=Y))
    assert type(script) is dict and list(script) == ["last_hidden_state", "pooler_output"]
    _, script = Structure.of(BaseModelOutput(last_hidden_state=X, hidden_states=(Y,)))
    assert type(script) is tuple  # a dict of tensors and tuples has no one TorchScript type
    _, script = Structure.of(collections.OrderedDict(a=X))
    assert type(script) is dict
    _, script = Structure.of(Batch(a=X))
    assert type(script) is dict
    _, script = Structure.of(Config(X, Y))
    assert type(script) is tuple


def test_registered_class(cache):
    value = {"cache": cache([X, Y], [Z, None]), "out": Point(X, None)}
    structure, script = Structure.of(value)
    assert _same(script, {"cache": ([X, Y], [Z]), "out": (X,)})
    assert _same(structure.from_script(script), value)
    assert (
        structure.describe()
        == "{'cache': Cache([Tensor, Tensor], [Tensor, None]), 'out': Point(x=Tensor, y=None)}"
    )
    loaded = Structure.from_json(json.loads(json.dumps(structure.to_json())))
    assert loaded == structure
    assert _same(loaded.from_script(script), value)
    other = cache([Y, X], [X, None])
    assert _same(
        structure.to_script({"cache": other, "out": Point(Z, None)}),
        {"cache": ([Y, X], [X]), "out": (Z,)},
    )


def test_registered_class_no_longer_registered_is_unavailable(cache):
    structure, _ = Structure.of(cache([X], [Y]))
    data = json.loads(json.dumps(structure.to_json()))
    pytree._deregister_pytree_node(Cache)
    try:
        with pytest.raises(StructureUnavailable, match=r"test_structures\.Cache is not registered"):
            Structure.from_json(data)
    finally:
        pytree.register_pytree_node(
            Cache, lambda c: ([c.keys, c.values], None), lambda ch, _: Cache(*ch),
            serialized_type_name=f"{__name__}.Cache",
        )  # fmt: skip


def test_registered_class_from_unimportable_module_is_unavailable(cache):
    structure, _ = Structure.of(cache([X], [Y]))
    data = structure.to_json()
    data["types"] = [{"name": "nowhere.Cache", "module": "jittrace_no_such_module"}]
    data["spec"] = json.loads(
        json.dumps(data["spec"]).replace(f"{__name__}.Cache", "nowhere.Cache")
    )
    with pytest.raises(StructureUnavailable, match=r"nowhere\.Cache cannot be found"):
        Structure.from_json(data)


def test_registered_class_without_serialized_name():
    class Unnamed:
        def __init__(self, t: Any) -> None:
            self.t = t

    by_name = dict(pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE)
    pytree.register_pytree_node(Unnamed, lambda u: ([u.t], None), lambda ch, _: Unnamed(*ch))
    try:
        structure, script = Structure.of(Unnamed(X))
        assert _same(script, (X,))
        assert type(structure.from_script(script)) is Unnamed
        # Recorded by module and name (its context is None), but a local class is not found.
        data = json.loads(json.dumps(structure.to_json()))
        with pytest.raises(StructureUnavailable, match=r"Unnamed cannot be imported"):
            Structure.from_json(data)
    finally:
        pytree._deregister_pytree_node(Unnamed)
        pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE.update(by_name)


def test_registered_class_without_serialized_name_and_with_context_cannot_be_recorded():
    class Tagged:
        def __init__(self, t: Any) -> None:
            self.t = t

    by_name = dict(pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE)
    pytree.register_pytree_node(Tagged, lambda u: ([u.t], "tag"), lambda ch, _: Tagged(*ch))
    try:
        structure, _ = Structure.of([Tagged(X)])
        with pytest.raises(StructureUnavailable, match=r"\[Tagged\(Tensor\)\] cannot be recorded"):
            structure.to_json()
    finally:
        pytree._deregister_pytree_node(Tagged)
        pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE.update(by_name)


def test_to_script_of_a_new_value():
    structure, _ = Structure.of(
        {"p": Point(X, None), "c": Config(X, Y), "o": collections.OrderedDict(a=X)}
    )
    script = structure.to_script(
        {"p": Point(Y, None), "c": Config(Z, X), "o": collections.OrderedDict(a=Z)}
    )
    assert _same(script, {"p": (Y,), "c": (Z, X), "o": {"a": Z}})
    out = BaseModelOutput(last_hidden_state=X, hidden_states=(Y,))
    structure, _ = Structure.of(out)
    new = BaseModelOutput(last_hidden_state=Z, hidden_states=(X,))
    assert _same(structure.to_script(new), (Z, (X,)))


def test_to_script_passes_mismatched_nodes_through():
    structure, _ = Structure.of((Point(X, Y), Z))
    assert _same(structure.to_script(((X, Y), Z)), ((X, Y), Z))  # a tuple where a Point was
    assert _same(structure.to_script((Pair(X, Y), Z)), (Pair(X, Y), Z))  # another namedtuple
    plain = [X, Y]
    assert structure.to_script(plain) is plain  # a list where the tuple was
    structure, _ = Structure.of({"a": Point(X, Y)})
    other_keys = {"b": Point(X, Y)}
    assert structure.to_script(other_keys) is other_keys
    structure, _ = Structure.of(BaseModelOutput(last_hidden_state=X))
    more = BaseModelOutput(last_hidden_state=X, hidden_states=(Y,))
    assert structure.to_script(more) is more
    # A dropped child that is no longer empty: the parent passes through unchanged.
    structure, _ = Structure.of((X, None))
    filled = (X, Y)
    assert structure.to_script(filled) is filled
    structure, _ = Structure.of(Config(X))
    config = Config(X, Y)
    assert structure.to_script(config) is config


def test_conversions_do_not_walk_the_tree(monkeypatch):
    values = [
        {"p": Point(X, None), "c": Outer(Config(X), [Point(Y, Z)])},
        BaseModelOutput(last_hidden_state=X, hidden_states=(Y, Z)),
        (collections.OrderedDict(a=X), Batch(b=Y), _default_dict()),
    ]
    compiled = [(Structure.of(v), v) for v in values]

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a pytree walk per call")

    for name in ("tree_flatten", "tree_unflatten", "tree_map", "tree_leaves"):
        monkeypatch.setattr(pytree, name, fail)
    monkeypatch.setattr(pytree.TreeSpec, "unflatten", fail)
    for (structure, script), value in compiled:
        assert _same(structure.from_script(script), value)
        assert _same(structure.to_script(value), script)


def test_from_script_builds_fresh_containers():
    structure, script = Structure.of(([], Config(None), Point(X, None)))
    first, second = structure.from_script(script), structure.from_script(script)
    assert first[0] == [] and first[0] is not second[0]
    assert first[1] is not second[1]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (X, "Tensor"),
        (None, "None"),
        (True, "True"),
        ("mean", "'mean'"),
        ((X, Y), "(Tensor, Tensor)"),
        ((X,), "(Tensor,)"),
        ([X, 2], "[Tensor, 2]"),
        ({"a": X, 1: None}, "{'a': Tensor, 1: None}"),
        (Point(X, Y), "Point(x=Tensor, y=Tensor)"),
        (Config(X), "Config(weight=Tensor, bias=None)"),
        (_late(), "WithLate(a=Tensor, scale=Tensor)"),
        (collections.OrderedDict(a=X), "OrderedDict{'a': Tensor}"),
        (Batch(ids=X), "Batch{'ids': Tensor}"),
        (torch.device("cpu"), "device"),
        (
            BaseModelOutput(last_hidden_state=X),
            "BaseModelOutput{'last_hidden_state': Tensor}",
        ),
    ],
)
def test_describe(value, text):
    structure, _ = Structure.of(value)
    assert structure.describe() == text
    assert repr(structure) == f"Structure({text})"


def test_equality_and_hash():
    a, _ = Structure.of(Point(X, Y))
    b, _ = Structure.of(Point(Z, X))
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != Structure.of(Pair(X, Y))[0]  # another class
    assert a != Structure.of(Point(X, None))[0]  # None is not a tensor
    assert a != Structure.of((X, Y))[0]
    assert Structure.of(True)[0] != Structure.of(1)[0]
    assert Structure.of({"a": X})[0] != Structure.of({"b": X})[0]
    assert Structure.of(Config(X))[0] == Structure.of(Config(Y))[0]
    assert Structure.of(Config(X))[0] != Structure.of(Config(X, Y))[0]
    assert a != "Point"


def test_json_namedtuple_class_is_imported():
    structure, script = Structure.of(Point(X, Y))
    data = json.loads(json.dumps(structure.to_json()))
    assert type(Structure.from_json(data).from_script(script)) is Point


def test_json_namedtuple_that_cannot_be_imported_is_rebuilt_by_fields():
    Local = collections.namedtuple("Local", "a b")
    structure, script = Structure.of({"k": Local(X, None)})
    loaded = Structure.from_json(json.loads(json.dumps(structure.to_json())))
    out = loaded.from_script(script)["k"]
    assert type(out) is not Local and type(out).__name__ == "Local"
    assert out._fields == ("a", "b") and out.a is X and out.b is None
    assert loaded.describe() == structure.describe() == "{'k': Local(a=Tensor, b=None)}"
    assert _same(loaded.to_script({"k": out}), {"k": (X,)})


def test_json_dataclass_that_cannot_be_imported_is_unavailable():
    @dataclasses.dataclass
    class Hidden:
        t: Any

    structure, _ = Structure.of([Hidden(X)])
    data = json.loads(json.dumps(structure.to_json()))
    with pytest.raises(StructureUnavailable, match=r"dataclass .*Hidden cannot be imported"):
        Structure.from_json(data)


def test_json_dict_subclass_that_cannot_be_imported_is_unavailable():
    class Hidden(dict):  # type: ignore[type-arg]
        pass

    structure, _ = Structure.of(Hidden(a=X))
    data = json.loads(json.dumps(structure.to_json()))
    with pytest.raises(StructureUnavailable, match=r"dict subclass .*Hidden cannot be imported"):
        Structure.from_json(data)


def test_json_is_plain_data():
    structure, _ = Structure.of(
        (BaseModelOutput(last_hidden_state=X), Outer(Config(X), [Point(Y, Z)]), 2.5, "s", True)
    )
    data = structure.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["leaves"] == ["Tensor", "Tensor", {"const": None}, "Tensor", "Tensor",
                              {"const": "hi"}, {"const": 2.5}, {"const": "s"}, {"const": True}]  # fmt: skip


def test_from_json_rejects_other_data():
    with pytest.raises(ValueError, match="not a jittrace structure"):
        Structure.from_json({"spec": []})
    assert issubclass(StructureUnavailable, Exception)


def test_user_types_are_not_registered_globally():
    before = dict(pytree.SUPPORTED_NODES)
    assert S._ObjectNode in before
    for value in (
        Config(X),
        Frozen(X, Y),
        Outer(Config(X), [Point(X, Y)]),
        Batch(a=X),
        Point(X, Y),
    ):
        structure, script = Structure.of(value)
        Structure.from_json(json.loads(json.dumps(structure.to_json()))).from_script(script)
    assert before == pytree.SUPPORTED_NODES
    # So the user can still register their dataclass afterwards, and jittrace follows it.
    pytree.register_dataclass(Frozen, serialized_type_name=f"{__name__}.Frozen")
    try:
        structure, script = Structure.of(Frozen(X, None))
        assert _same(script, (X,))
        assert _same(structure.from_script(script), Frozen(X, None))
    finally:
        pytree._deregister_pytree_node(Frozen)
    assert before == pytree.SUPPORTED_NODES
