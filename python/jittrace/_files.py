"""``jittrace.save`` and ``jittrace.load``: TorchScript files with jittrace's manifest.

Saving and loading go through libtorch's C++ API (``torch::jit::Module::save`` and
``torch::jit::load``), so neither raises torch.jit's deprecation warnings. The manifest is a
JSON extra file (``extra/jittrace.json`` in the archive) that says what was traced: methods,
modes, variants, input and output structures, non-persistent buffers, trace options, and the
user's own extra files. C++ reads it with ``jittrace::read_manifest``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import torch

from . import _C
from ._build_info import TORCH_VERSION, VERSION
from ._errors import InputError, warn_from_caller
from ._interface import Interface, StructuredCall, TraceInfo, info_of, install
from ._structures import StructureUnavailable
from ._torchscript import method_names, wrap_loaded

__all__ = ["FORMAT", "load", "manifest", "save"]

#: The manifest format written by this version.
FORMAT = "jittrace-manifest/1"


def save(
    traced: Any,
    path: str | os.PathLike[str],
    extra_files: Mapping[str, str | bytes] | None = None,
    mode: str | None = None,
) -> None:
    """Saves a traced function or module, with a manifest of what was traced.

    Servers that load TorchScript (Triton's libtorch backend, a C++ program) run the mode a
    file was saved in: they never call ``eval()``. Save a module with ``mode="eval"`` for them;
    a module traced fresh from its constructor is in train mode (dropout on).

    The file is an ordinary TorchScript file: ``torch.jit.load`` and C++ ``torch::jit::load``
    read it (structures as tuples and dicts, variants and modes dispatched in TorchScript).
    ``jittrace.load`` also rebuilds the structures and the module's ``state_dict()`` keys.

    Args:
        traced: A result of ``jit_trace``/``jit_trace_module`` (or of ``jittrace.load``); any
            other ``torch.jit.ScriptModule`` or ``ScriptFunction`` is saved with a manifest
            that lists its methods only.
        path: Where to write.
        extra_files: Further files to store in the archive, name to content, as
            ``torch.jit.save``'s ``_extra_files`` (read back by ``jittrace.load``).
        mode: ``"eval"`` or ``"train"``: the mode the saved module starts in (every
            submodule's flag set so, as ``.eval()`` / ``.train()`` do). The module in memory
            is left as it was. None (the default) saves the flags as they are.

    Raises:
        InputError: `traced` is not TorchScript, an extra file is not ``str``/``bytes`` or is
            named ``jittrace.json``, `mode` is not ``"train"``/``"eval"`` or is given for a
            function (which has no mode), or `path` cannot be written.

    >>> import torch, jittrace, tempfile, os
    >>> traced = jittrace.jit_trace(torch.nn.Linear(2, 2), torch.ones(1, 2))
    >>> path = os.path.join(tempfile.mkdtemp(), "linear.pt")
    >>> jittrace.save(traced, path, extra_files={"notes.txt": "v1"})
    >>> sorted(jittrace.manifest(path)["methods"])
    ['forward']
    """
    api = "save"
    target: Any = traced.script if isinstance(traced, StructuredCall) else traced
    if isinstance(target, torch.jit.ScriptModule):
        target = target._c
    elif not isinstance(target, torch.jit.ScriptFunction):
        raise InputError(
            f"[{api}] traced must be a traced function or module (TorchScript), not "
            f"{type(traced).__name__}"
        )
    files = dict(extra_files or {})
    for name, content in files.items():
        if not isinstance(name, str) or not isinstance(content, (str, bytes)):
            raise InputError(
                f"[{api}] extra_files must map names (str) to contents (str or bytes); got "
                f"{name!r}: {type(content).__name__}"
            )
    if mode is not None and mode not in ("train", "eval"):
        raise InputError(f"[{api}] mode must be 'train', 'eval' or None, not {mode!r}")
    if mode is not None and not isinstance(target, torch._C.ScriptModule):
        raise InputError(f"[{api}] mode={mode!r}: a traced function has no mode to save")
    data = _manifest_of(api, traced, sorted(files))
    manifest_text = json.dumps(data, indent=1, allow_nan=False)
    if mode is None:
        _C.save(target, os.fspath(path), manifest_text, files)
        return
    flags = [(m, m.training) for m in traced.modules()]
    try:
        traced.train(mode == "train")
        _C.save(target, os.fspath(path), manifest_text, files)
    finally:
        for m, training in flags:
            m.training = training


def load(
    path: str | os.PathLike[str],
    map_location: str | torch.device | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> torch.jit.ScriptModule:
    """Loads a file saved by ``jittrace.save`` (or ``torch.jit.save``).

    Structured inputs and outputs come back as the types they were traced with (namedtuples,
    dataclasses, ``ModelOutput``...; their classes must be importable), variants and modes
    dispatch as traced, and ``state_dict()`` has exactly the keys of the module that was
    traced: non-persistent buffers (which TorchScript cannot mark) stay out of it. A traced
    function loads as a module whose ``forward`` it is.

    Args:
        path: The file.
        map_location: A device (``"cpu"``, ``torch.device("cuda", 0)``) to load tensors onto.
        extra_files: If given, filled with the user's extra files saved along (name to bytes).

    Raises:
        InputError: the file cannot be read or loaded, or `map_location` is not a device.

    Warns:
        UserWarning: a structure's class cannot be imported here; that method then returns
            tuples and dicts, as TorchScript does.
    """
    api = "load"
    device = _device(api, map_location)
    cpp, manifest_json, files = _C.load(os.fspath(path), device)
    if extra_files is not None:
        extra_files.update(files)
    if manifest_json is None:
        return wrap_loaded(cpp, {})
    data = json.loads(manifest_json)
    non_persistent = {k: set(v) for k, v in data.get("non_persistent_buffers", {}).items()}
    module = wrap_loaded(cpp, non_persistent)
    interfaces = {}
    for name, record in data.get("methods", {}).items():
        if "defaults" not in record:
            continue  # not traced by jittrace
        try:
            interfaces[name] = Interface.from_json(record)
        except StructureUnavailable as e:
            warn_from_caller(
                f"[{api}] {os.fspath(path)}: {name} returns tuples and dicts, not the structures "
                f"it was traced with: {e}",
                UserWarning,
            )
    options = data.get("options", {})
    info = TraceInfo(
        data.get("kind", "module"),
        interfaces,
        bool(options.get("strict", True)),
        bool(options.get("respect_mode", False)),
        non_persistent,
    )
    return install(module, info)


def manifest(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of a saved file (see ``jittrace.save``), or None if it has none.

    Raises:
        InputError: the file is not a TorchScript archive, or its manifest is malformed.
    """
    text = _C.read_manifest(os.fspath(path))
    return None if text is None else dict(json.loads(text))


def _device(api: str, map_location: Any) -> str | None:
    if map_location is None:
        return None
    if isinstance(map_location, torch.device):
        return str(map_location)
    if isinstance(map_location, str):
        try:
            return str(torch.device(map_location))
        except (RuntimeError, ValueError):
            pass
    raise InputError(
        f"[{api}] map_location must be a device such as 'cpu' or torch.device('cuda', 0), not "
        f"{map_location!r}"
    )


def _manifest_of(api: str, traced: Any, extra_files: list[str]) -> dict[str, Any]:
    info = info_of(traced)
    methods: dict[str, Any] = {}
    if info is not None:
        for name, interface in info.methods.items():
            methods[name] = record = interface.to_json()
            record["traces"] = [
                {"mode": t.mode, "variant": t.variant, "name": t.name}
                for t in info.traces
                if info.kind == "function" or t.method == name
            ]
            if record.get("unrecorded"):
                warn_from_caller(
                    f"[{api}] the structures of {name!r} cannot be recorded in the manifest, so "
                    f"jittrace.load will return tuples and dicts for it: {record['unrecorded']}",
                    UserWarning,
                )
    elif isinstance(traced, torch.jit.ScriptModule):
        methods = {
            name: {"arguments": [], "modes": [], "variants": []} for name in method_names(traced)
        }
    else:
        methods = {"forward": {"arguments": [], "modes": [None], "variants": []}}
    kind = (
        info.kind
        if info is not None
        else ("module" if isinstance(traced, torch.jit.ScriptModule) else "function")
    )
    return {
        "format": FORMAT,
        "jittrace_version": VERSION,
        "torch_version": TORCH_VERSION,
        "kind": kind,
        "options": {
            "strict": info.strict if info is not None else True,
            "respect_mode": info.respect_mode if info is not None else False,
        },
        "methods": methods,
        "non_persistent_buffers": info.non_persistent if info is not None else {},
        "extra_files": extra_files,
    }
