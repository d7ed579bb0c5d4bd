"""jittrace.save / jittrace.load / jittrace.manifest: files that keep structures, variants,
modes and state_dict keys, written and read through libtorch's C++ API."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import zipfile

import jittrace
import pytest
import torch
from jittrace import jit_trace

X = torch.tensor([[1.0, -2.0]])
Out = collections.namedtuple("Out", "logits hidden")


class WithIds(torch.nn.Module):
    """A non-persistent buffer (as HF's position_ids), a namedtuple output, a flag variant."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(2, 2)
        self.register_buffer("ids", torch.arange(2), persistent=False)
        self.register_buffer("kept", torch.ones(2))

    def forward(self, x, double: bool = False):
        y = self.fc(x) + self.ids
        return Out(y * 2 if double else y, x)


@pytest.fixture
def traced():
    return jit_trace(WithIds(), X, variants={"double": [False, True]})


def test_round_trip_keeps_structures_variants_and_state_dict_keys(traced, tmp_path):
    path = tmp_path / "m.pt"
    jittrace.save(traced, path, extra_files={"notes.txt": "hello", "raw.bin": b"\x00\x01"})
    extra: dict[str, bytes] = {}
    loaded = jittrace.load(path, extra_files=extra)
    assert extra == {"notes.txt": b"hello", "raw.bin": b"\x00\x01"}
    model = WithIds()
    assert list(loaded.state_dict()) == list(model.state_dict()) == ["kept", "fc.weight", "fc.bias"]
    loaded.load_state_dict(model.state_dict())  # no missing or unexpected keys
    for double in (False, True):
        out = loaded(X, double=double)
        assert type(out) is Out
        assert torch.equal(out.logits, model(X, double).logits)
    plain = torch.jit.load(str(path))  # torch's loader: tuples, and the buffer in state_dict
    assert type(plain(X)) is tuple
    assert "ids" in plain.state_dict()


def test_manifest_records_what_was_traced(traced, tmp_path):
    path = tmp_path / "m.pt"
    jittrace.save(traced, path, extra_files={"notes.txt": "x"})
    data = jittrace.manifest(path)
    assert data is not None
    assert data["format"] == "jittrace-manifest/1"
    assert data["jittrace_version"] == jittrace.__version__
    assert data["torch_version"] == torch.__version__
    assert data["kind"] == "module"
    assert data["options"] == {"strict": True, "respect_mode": True}
    forward = data["methods"]["forward"]
    assert forward["arguments"] == ["x", "double"]
    assert forward["modes"] == ["train", "eval"]
    assert forward["variants"] == [{"double": "False"}, {"double": "True"}]
    assert forward["defaults"] == {"double": "False"}
    assert data["non_persistent_buffers"] == {"": ["ids"]}
    assert data["extra_files"] == ["notes.txt"]
    with zipfile.ZipFile(path) as archive:  # an extra file anyone can read
        (name,) = [n for n in archive.namelist() if n.endswith("extra/jittrace.json")]
        assert json.loads(archive.read(name)) == data


def test_function_files_load_as_a_module_that_rebuilds(tmp_path):
    traced = jit_trace(lambda x: Out(x + 1, x), X)
    path = tmp_path / "f.pt"
    jittrace.save(traced, path)
    loaded = jittrace.load(path)
    out = loaded(X)
    assert type(out) is Out and torch.equal(out.logits, X + 1)
    assert jittrace.manifest(path)["kind"] == "function"


def test_files_of_torch_jit_save_load_without_manifest(tmp_path):
    path = tmp_path / "t.pt"
    torch.jit.save(torch.jit.trace(torch.nn.Linear(2, 2), X), str(path))
    assert jittrace.manifest(path) is None
    assert jittrace.load(path)(X).shape == (1, 2)


def test_save_and_load_raise_no_deprecation_warning(tmp_path):
    script = f"""
import collections, torch, jittrace
Out = collections.namedtuple("Out", "a b")
traced = jittrace.jit_trace(lambda x: Out(x, x * 2), torch.ones(2))
jittrace.save(traced, {str(tmp_path / "w.pt")!r})
loaded = jittrace.load({str(tmp_path / "w.pt")!r}, map_location="cpu")
assert type(loaded(torch.ones(2))).__name__ == "Out"
"""
    subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", script],
        check=True,
        capture_output=True,
        text=True,
    )


def test_unimportable_structure_loads_as_tuples_with_a_warning(tmp_path):
    import dataclasses

    @dataclasses.dataclass
    class Local:
        a: torch.Tensor

    traced = jit_trace(lambda x: Local(x), X)
    path = tmp_path / "l.pt"
    jittrace.save(traced, path)
    with pytest.warns(UserWarning, match=r"forward returns tuples and dicts, not the structures"):
        loaded = jittrace.load(path)
    assert type(loaded(X)) is tuple
