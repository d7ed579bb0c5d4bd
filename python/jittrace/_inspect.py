"""What a TorchScript file holds: methods and signatures, modes, tensors, submodules, graphs,
and what jittrace's manifest says about its traces."""

from __future__ import annotations

from typing import Any

import torch

from ._structures import Structure, StructureUnavailable
from ._torchscript import method_graph, method_names, method_schema, type_name

__all__ = ["format_summary", "summarize"]


def _graph_size(graph: torch.Graph) -> int:
    def count(block: Any) -> int:
        return sum(1 + sum(count(b) for b in node.blocks()) for node in block.nodes())

    return count(graph)


def _tensor_stats(tensors: list[torch.Tensor]) -> dict[str, int]:
    unique = {id(t): t for t in tensors}.values()
    return {
        "count": len(unique),
        "elements": sum(t.numel() for t in unique),
        "bytes": sum(t.numel() * t.element_size() for t in unique),
    }


def summarize(
    module: torch.jit.ScriptModule, manifest: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON-ready description of a loaded TorchScript module and its manifest (if any)."""
    names = [n for n in method_names(module) if not n.startswith("__")]
    methods = {
        name: {
            "schema": method_schema(module, name),
            "graph_nodes": _graph_size(method_graph(module, name)),
        }
        for name in names
    }
    # Which methods keep both modes is what the manifest says was traced (none without one).
    recorded = (manifest or {}).get("methods", {})
    dual = [n for n, r in recorded.items() if len(r.get("modes") or []) == 2]
    submodules = [
        {"name": name, "type": sub.original_name} for name, sub in module.named_modules() if name
    ]
    return {
        "type": type_name(module),
        "training": module.training,
        "methods": methods,
        "both_modes": dual,
        "parameters": _tensor_stats([p for _, p in module.named_parameters()]),
        "buffers": _tensor_stats([b for _, b in module.named_buffers()]),
        "submodules": submodules,
        "manifest": manifest,
    }


def _structure(data: Any) -> str:
    try:
        return Structure.from_json(data).describe()
    except StructureUnavailable as e:
        return f"(not available here: {e})"


def _manifest_lines(manifest: dict[str, Any]) -> list[str]:
    options = manifest["options"]
    lines = [
        f"manifest: traced by jittrace {manifest['jittrace_version']} with torch "
        f"{manifest['torch_version']} (a {manifest['kind']}; strict={options['strict']}, "
        f"respect_mode={options['respect_mode']})"
    ]
    for name, method in manifest["methods"].items():
        modes = [m for m in method.get("modes", []) if m]
        defaults = method.get("defaults", {})
        arguments = ", ".join(
            f"{a}={defaults[a]}" if a in defaults else a for a in method.get("arguments", [])
        )
        lines.append(f"  {name}({arguments})" + (f": {' and '.join(modes)} mode" if modes else ""))
        variants = method.get("variants", [])
        if len(variants) > 1 or any(variants):
            shown = ", ".join(
                "(" + ", ".join(f"{k}={v}" for k, v in variant.items()) + ")"
                for variant in variants
            )
            lines.append(f"    variants: {shown}")
        for argument, structure in (method.get("inputs") or {}).items():
            lines.append(f"    {argument}: {_structure(structure)}")
        outputs = method.get("outputs")
        if outputs is None:
            if "defaults" in method:
                lines.append(f"    returns tuples and dicts: {method.get('unrecorded')}")
            continue
        shown_outputs = sorted({_structure(s) for per_mode in outputs for s in per_mode})
        lines.append(f"    returns {' or '.join(shown_outputs)}")
    for path, names in manifest.get("non_persistent_buffers", {}).items():
        prefix = f"{path}." if path else ""
        lines.append(
            "  non-persistent buffers (not in state_dict): " + ", ".join(prefix + n for n in names)
        )
    if manifest.get("extra_files"):
        lines.append(f"  extra files: {', '.join(manifest['extra_files'])}")
    return lines


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def format_summary(path: str, info: dict[str, Any]) -> str:
    """The text form of summarize()'s result."""
    lines = [f"{path}: {info['type']}"]
    mode = "train" if info["training"] else "eval"
    if info["both_modes"]:
        kept = ", ".join(info["both_modes"])
        lines.append(f"modes: train and eval kept for {kept}; starts in {mode} mode")
    else:
        lines.append(f"modes: one trace per method; starts in {mode} mode")
    lines.append("methods:")
    for m in info["methods"].values():
        lines.append(f"  {m['schema']}    [{m['graph_nodes']} nodes]")
    for kind in ("parameters", "buffers"):
        s = info[kind]
        lines.append(
            f"{kind}: {s['count']} tensors, {s['elements']:,} elements, {_bytes(s['bytes'])}"
        )
    if info.get("manifest"):
        lines.extend(_manifest_lines(info["manifest"]))
    lines.append(f"submodules: {len(info['submodules'])}")
    for sub in info["submodules"]:
        depth = sub["name"].count(".")
        lines.append(f"  {'  ' * depth}{sub['name'].rsplit('.', 1)[-1]}: {sub['type']}")
    return "\n".join(lines)
