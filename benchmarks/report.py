"""Results as JSON (the documented schema), as markdown, and compared with an older run."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict
from typing import Any

from .harness import Results

__all__ = ["SCHEMA", "compare", "load", "markdown", "to_json"]

SCHEMA = "jittrace-benchmarks/1"
NOISY = 0.2  # interquartile range over median above which a timing counts as noisy

GROUP_TITLES = {
    "trace_time": "Trace time (median per trace; the module starts in train mode)",
    "call": "Call overhead on a tiny input (median per call, eval mode)",
    "structures": "Structured outputs and variants: call overhead on a tiny input against the "
    "same trace without them (median per call; the module in eval mode, no_grad)",
    "latency": "Traced forward latency, eval mode, no_grad (median per call)",
    "inference": "Files optimized for inference, saved and loaded: latency, no_grad (median per call)",
    "memory": "Memory",
    "scaling": "Scaling: trace time of nn.TransformerEncoder (d_model 256)",
}
BASELINE = {
    "trace_time": "torch_jit_trace",
    "call": "torch_jit_trace",
    "structures": "jittrace_plain",
    "latency": "eager",
    "inference": "eager",
    "scaling": "torch_jit_trace",
}


def to_json(results: Results, meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        **meta,
        "figures": [f.to_json() for f in results.figures.values()],
        "targets": [asdict(t) for t in results.targets],
        "skipped": results.skipped,
    }


def _value(value: float, unit: str) -> str:
    if unit == "s":
        if value >= 1:
            return f"{value:.2f} s"
        if value >= 1e-3:
            return f"{value * 1e3:.1f} ms"
        return f"{value * 1e6:.2f} µs"
    if unit == "bytes":
        return f"{value / 2**20:.2f} MB"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.3f}"


def markdown(data: dict[str, Any]) -> str:
    figures = data["figures"]
    lines = [
        f"Run {data['created']} on {data['machine']['cpu']} ({data['machine']['cores']} cores, "
        f"torch threads {data['machine']['torch_threads']}), torch {data['versions']['torch']}, "
        f"jittrace {data['versions']['jittrace']} ({data['versions']['jittrace_commit'] or 'no commit'})"
        f"{', quick mode' if data['config']['quick'] else ''}.",
        "",
    ]
    noisy = [f for f in figures if f["unit"] == "s" and f.get("spread", 0) > NOISY]
    if noisy:
        worst = max(noisy, key=lambda f: f["spread"])
        lines += [
            f"**The machine was noisy during this run**: {len(noisy)} of "
            f"{sum(f['unit'] == 's' for f in figures)} timings have an interquartile range above "
            f"{NOISY:.0%} of their median (worst: `{worst['id']}`, {worst['spread']:.0%}). "
            "Ratios from this run are less reliable than usual.",
            "",
        ]
    by_group: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for f in figures:
        by_group[f["group"]].setdefault(f["model"], {})[f["candidate"]] = f
    for group, models in by_group.items():
        lines += [f"### {GROUP_TITLES.get(group, group)}", ""]
        candidates: list[str] = []
        for row in models.values():
            candidates += [c for c in row if c not in candidates]
        baseline = BASELINE.get(group)
        lines.append("| model | " + " | ".join(candidates) + " |")
        lines.append("|---" * (len(candidates) + 1) + "|")
        for model, row in models.items():
            base = row.get(baseline, {}).get("median") if baseline else None
            cells = []
            for c in candidates:
                f = row.get(c)
                if f is None:
                    cells.append("—")
                    continue
                cell = _value(f["median"], f["unit"])
                if base and c != baseline and f["unit"] == row[baseline]["unit"]:
                    cell += f" ({f['median'] / base:.2f}×)"
                cells.append(cell)
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        if baseline:
            lines += ["", f"Ratios in parentheses are against `{baseline}` in the same row."]
        lines.append("")
    lines += ["### Targets", "", "| target | ratio | limit | met |", "|---|---|---|---|"]
    for t in data["targets"]:
        measured = t["ratio"] is not None and t["ratio"] == t["ratio"]  # not NaN
        ratio = (
            "—"
            if not measured
            else (
                _value(t["ratio"], "bytes")
                if t["id"] == "memory/rss_growth"
                else f"{t['ratio']:.3f}"
            )
        )
        limit = (
            "none (reported)"
            if t["limit"] is None
            else _value(t["limit"], "bytes")
            if t["id"] == "memory/rss_growth"
            else f"{t['limit']}"
        )
        met = {True: "yes", False: "**no**", None: "—" if measured else "not measured"}[t["met"]]
        lines.append(f"| {t['description']} | {ratio} | {limit} | {met} |")
    if data["skipped"]:
        lines += ["", "Not measured:", ""]
        lines += [f"- `{k}`: {v}" for k, v in data["skipped"].items()]
    return "\n".join(lines) + "\n"


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The change of every figure present in both runs, and of every target."""
    before = {f["id"]: f for f in old["figures"]}
    lines = [f"{'figure':60s} {'old':>12s} {'new':>12s} {'change':>8s}"]
    for f in new["figures"]:
        o = before.get(f["id"])
        if o is None or not o["median"]:
            continue
        change = (f["median"] - o["median"]) / o["median"] * 100
        lines.append(
            f"{f['id']:60s} {_value(o['median'], f['unit']):>12s} {_value(f['median'], f['unit']):>12s} {change:+7.1f}%"
        )
    old_targets = {t["id"]: t for t in old.get("targets", [])}
    lines += ["", f"{'target':60s} {'old':>8s} {'new':>8s} {'limit':>8s}"]
    for t in new["targets"]:
        o = old_targets.get(t["id"])
        fmt = lambda r: "—" if r is None or r != r else f"{r:.3f}"  # noqa: E731
        limit = "—" if t["limit"] is None else f"{t['limit']:g}"
        lines.append(
            f"{t['id']:60s} {fmt(o['ratio'] if o else None):>8s} {fmt(t['ratio']):>8s} {limit:>8s}"
        )
    return "\n".join(lines)


def load(path: str) -> dict[str, Any]:
    with open(path) as f:
        data = json.load(f)
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a {SCHEMA} file (schema: {data.get('schema')!r})")
    return data
