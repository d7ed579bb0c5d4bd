"""jittrace.save / jittrace.load / jittrace.manifest: files that keep structures, variants,
modes and state_dict keys, written and read through libtorch's C++ API."""

from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import jittrace
import pytest
import torch
from conftest import COMMA_LOCALE
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


# ---- Manifests that are not JSON, or not jittrace's ---------------------------------------------

# Every field a C++ program reads (jittrace::Manifest), as jittrace.save writes them.
MANIFEST = {
    "format": "jittrace-manifest/1",
    "jittrace_version": "0.1.0",
    "torch_version": "2.13.0",
    "kind": "module",
    "options": {"strict": True, "respect_mode": True},
    "methods": {"forward": {"arguments": ["x"], "modes": ["train", "eval"], "variants": []}},
    "non_persistent_buffers": {},
    "extra_files": [],
}
GOOD = json.dumps(MANIFEST)


def with_manifest(path: Path, text: str | bytes) -> Path:
    """A TorchScript file whose manifest (extra/jittrace.json) is `text`, as it is."""
    module = torch.jit.trace(torch.nn.Linear(2, 2), X)
    torch.jit.save(module, str(path), _extra_files={"jittrace.json": text})
    return path


NOT_JSON = r"the manifest is not valid JSON \(parse error at line 1, column \d+: syntax error "


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # strtod takes these, and Python's json module takes the last three: no JSON does.
        pytest.param(GOOD[:-1] + ', "x": inf}', NOT_JSON + r".*invalid literal", id="inf"),
        pytest.param(GOOD[:-1] + ', "x": 0x10}', NOT_JSON + r".*'0x'", id="hex"),
        pytest.param(GOOD[:-1] + ', "x": -Infinity}', NOT_JSON + r".*'-I'", id="-Infinity"),
        pytest.param(GOOD[:-1] + ', "x": NaN}', NOT_JSON + r".*invalid literal", id="NaN"),
        pytest.param(GOOD + " x", NOT_JSON + r".*expected end of input\)$", id="trailing-text"),
        pytest.param(GOOD + "{}", NOT_JSON + r".*expected end of input\)$", id="two-documents"),
        pytest.param(
            GOOD.replace('"0.1.0"', '"0.1.\xff"').encode("latin-1"),
            NOT_JSON + r".*ill-formed UTF-8 byte; last read: '\"0\.1\.\\xff'\)$",
            id="not-utf-8",
        ),
        pytest.param(
            b"\xef\xbb\xbf" + GOOD.encode(),
            r"the manifest is not valid JSON \(it starts with a byte order mark\)$",
            id="byte-order-mark",
        ),
        pytest.param(
            "[" * 100_000 + "]" * 100_000,
            r"the manifest is an array; it must be an object$",
            id="deeply-nested",
        ),
        pytest.param(
            GOOD.replace('"strict": true', '"strict": "yes"'),
            r"the manifest has a string for 'options\.strict'; it must be a boolean$",
            id="bool-as-string",
        ),
        pytest.param(
            GOOD.replace('["train", "eval"]', '["train", 1]'),
            r"the manifest has a number for 'methods\.forward\.modes\[1\]'; it must be a string$",
            id="mode-a-number",
        ),
        pytest.param(
            GOOD.replace('"variants": []', '"variants": [["x"]]'),
            r"the manifest has an array for 'methods\.forward\.variants\[0\]'; it must be an "
            r"object$",
            id="variant-a-list",
        ),
        pytest.param(
            GOOD.replace('"kind": "module", ', ""), r"the manifest has no 'kind'$", id="missing"
        ),
    ],
)
def test_manifest_that_is_not_json_or_of_wrong_types_is_an_input_error(tmp_path, text, message):
    path = with_manifest(tmp_path / "m.pt", text)
    where = re.escape(str(path))
    with pytest.raises(jittrace.InputError, match=rf"^\[read_manifest\] {where}: {message}"):
        jittrace.manifest(path)
    with pytest.raises(jittrace.InputError, match=rf"^\[load\] {where}: {message}"):
        jittrace.load(path)


def test_manifest_members_jittrace_does_not_read_may_hold_any_json(tmp_path):
    text = GOOD[:-1] + r', "x": [1.5e3, -0.25, null, {"\u00e9": "\ud83d\ude00"}]}'
    data = jittrace.manifest(with_manifest(tmp_path / "m.pt", text))
    assert data is not None and data["x"] == [1500.0, -0.25, None, {"é": "\U0001f600"}]


def test_manifest_is_read_alike_in_a_locale_with_a_decimal_comma(tmp_path, comma_locale):
    """The C locale once decided how the core read numbers: "1.5" failed under de_DE."""
    if comma_locale is None:
        pytest.skip(f"no {COMMA_LOCALE} locale here, and localedef cannot make one")
    path = with_manifest(tmp_path / "m.pt", GOOD[:-1] + ', "x": [1.5, 2.5e-3]}')
    script = f"""
import locale, jittrace
locale.setlocale(locale.LC_NUMERIC, {COMMA_LOCALE!r})
assert locale.localeconv()["decimal_point"] == ","
print(jittrace.manifest({str(path)!r})["x"])
"""
    result = subprocess.run(
        [sys.executable, "-c", script], env=comma_locale, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[1.5, 0.0025]"


def test_saving_checks_the_manifest_it_writes(tmp_path):
    traced = jit_trace(lambda x: x + 1, X)
    with pytest.raises(jittrace.InputError, match=r"^\[save\]: the manifest is not valid JSON"):
        jittrace._C.save(traced, str(tmp_path / "f.pt"), GOOD[:-1] + ', "x": NaN}', {})
    assert not (tmp_path / "f.pt").exists()


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_save_in_a_mode_leaves_the_module_in_memory_as_it_was(tmp_path, mode):
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5))
    traced = jittrace.jit_trace(net.train(mode == "eval"), torch.randn(2, 4))
    flags = [m.training for m in traced.modules()]
    jittrace.save(traced, tmp_path / "m.pt", mode=mode)
    assert [m.training for m in traced.modules()] == flags
    for loaded in (jittrace.load(tmp_path / "m.pt"), torch.jit.load(str(tmp_path / "m.pt"))):
        assert {m.training for m in loaded.modules()} == {mode == "train"}
    x = torch.randn(3, 4)
    same = torch.equal(torch.jit.load(str(tmp_path / "m.pt"))(x), net.eval()(x))
    assert same == (mode == "eval")  # a server running the file gets no dropout in eval mode


def test_save_mode_errors(tmp_path):
    traced = jittrace.jit_trace(torch.nn.Linear(2, 2), torch.randn(1, 2))
    with pytest.raises(
        jittrace.InputError, match=r"^\[save\] mode must be 'train', 'eval' or None"
    ):
        jittrace.save(traced, tmp_path / "m.pt", mode="inference")
    function = jittrace.jit_trace(torch.relu, torch.randn(2))
    with pytest.raises(jittrace.InputError, match=r"a traced function has no mode to save$"):
        jittrace.save(function, tmp_path / "f.pt", mode="eval")
    assert not (tmp_path / "f.pt").exists()
