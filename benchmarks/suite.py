"""The benchmark groups and the targets they are judged by."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jittrace
import torch
from torch import nn

from .harness import Figure, Results, Target, measure_interleaved, peak_rss_during, rss_bytes
from .models import FlagScale, Model, Pair, big_mlp, pair_namedtuple, pair_tuple, transformer, zoo

__all__ = ["GROUPS", "Config", "run", "write_part"]


@dataclass
class Config:
    quick: bool
    started: float = field(default_factory=time.perf_counter)  # the run's start, for the log

    @property
    def repeats(self) -> int:
        return 3 if self.quick else 11

    @property
    def sample_seconds(self) -> float:
        return 0.02 if self.quick else 0.05

    @property
    def call_repeats(self) -> int:
        return 5 if self.quick else 15

    @property
    def traces_for_rss(self) -> int:
        return 200 if self.quick else 1000

    @property
    def layers(self) -> list[int]:
        return [6, 12] if self.quick else [6, 12, 24, 48]


def torch_jit_trace(
    fn: Any, inputs: tuple[Any, ...], check: bool, kwargs: dict[str, Any] | None = None
) -> Any:
    return torch.jit.trace(fn, inputs, check_trace=check, example_kwarg_inputs=kwargs)


def _add(
    res: Results, group: str, model: str, samples: dict[str, list[float]], unit: str = "s"
) -> None:
    for candidate, values in samples.items():
        res.add(Figure(f"{group}/{model}/{candidate}", group, model, candidate, unit, values))


def _works(fn: Callable[[], Any]) -> str:
    """'' if fn() runs, else why not (for candidates that can fail, like torch's check_trace)."""
    try:
        fn()
        return ""
    except Exception as e:
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0][:160]}"


# ---- 1. Trace time ------------------------------------------------------------------------------


def trace_time(res: Results, cfg: Config, models: list[Model], log: Callable[[str], None]) -> None:
    for m in models:
        obj, x = m.build(), m.inputs()
        log(f"trace time: {m.name}")
        if not isinstance(obj, nn.Module):
            # Where a function trace's time goes: the core alone (the binding's trace of the
            # plain call, what any jittrace trace costs at least: libtorch's tracer, the graph's
            # clean-up, the ScriptFunction) and the Python layer without and with guards.
            core = [(obj, x, [f"argument_{i + 1}" for i in range(len(x))], {})]
            candidates = {
                "eager": lambda: obj(*x),
                "jittrace": lambda: jittrace.jit_trace(obj, *x),
                "jittrace_no_guards": lambda: jittrace.jit_trace(obj, *x, guards=False),
                "jittrace_core": lambda: jittrace._C.trace_function(core, "bench.f", False, False),
                "torch_jit_trace": lambda: torch_jit_trace(obj, x, check=False),
                "torch_jit_trace_check": lambda: torch_jit_trace(obj, x, check=True),
            }
        else:
            # Keyword inputs: jittrace takes the model as users call it; torch.jit.trace gets
            # its wrapper (keywords as positional inputs, a tuple out) when the model has one.
            kw = m.kwarg_inputs() if m.kwarg_inputs is not None else {}
            ours: dict[str, Any] = {"example_kwarg_inputs": kw} if kw else {}
            theirs, theirs_x, theirs_kw = obj, x, kw or None
            if m.torch_wrapper is not None:
                theirs, theirs_x, theirs_kw = m.torch_wrapper(obj), (*x, *kw.values()), None

            def in_mode(
                training: bool, fn: Callable[[], Any], obj: nn.Module = obj
            ) -> Callable[[], Any]:
                def run() -> Any:
                    obj.train(training)
                    return fn()

                return run

            def torch_trace(check: bool) -> Callable[[], Any]:
                return in_mode(
                    True, lambda: torch_jit_trace(theirs, theirs_x, check, theirs_kw), theirs
                )

            candidates = {
                "eager_train": in_mode(True, lambda: obj(*x, **kw)),
                "eager_eval": in_mode(False, lambda: obj(*x, **kw)),
                "jittrace": in_mode(True, lambda: jittrace.jit_trace(obj, *x, **ours)),
                "jittrace_single_train": in_mode(
                    True, lambda: jittrace.jit_trace(obj, *x, respect_mode=False, **ours)
                ),
                "jittrace_single_eval": in_mode(
                    False, lambda: jittrace.jit_trace(obj, *x, respect_mode=False, **ours)
                ),
                "torch_jit_trace": torch_trace(check=False),
                "torch_jit_trace_check": torch_trace(check=True),
            }
        if cfg.quick:
            del candidates["torch_jit_trace_check"]  # several seconds per model: full runs only
        for name in list(candidates):
            why = _works(candidates[name])
            if why:
                res.skipped[f"trace_time/{m.name}/{name}"] = why
                del candidates[name]
        samples = measure_interleaved(
            candidates, repeats=cfg.repeats, sample_seconds=cfg.sample_seconds
        )
        _add(res, "trace_time", m.name, samples)


# ---- 2. Call overhead ---------------------------------------------------------------------------


def call_overhead(res: Results, cfg: Config, log: Callable[[str], None]) -> None:
    log("call overhead")
    x = torch.randn(3)
    cases: dict[str, dict[str, Callable[[], Any]]] = {}
    ours_fn = jittrace.jit_trace(torch.relu, x)
    theirs_fn = torch_jit_trace(torch.relu, (x,), check=False)
    cases["relu"] = {
        "eager": lambda: torch.relu(x),
        "jittrace": lambda: ours_fn(x),
        "torch_jit_trace": lambda: theirs_fn(x),
    }

    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(16, 16), nn.Dropout(0.1)).eval()
    xm = torch.randn(1, 16)
    ours_mod = jittrace.jit_trace(
        module, xm
    ).eval()  # the TorchScript mode dispatcher runs each call
    theirs_mod = torch_jit_trace(module, (xm,), check=False).eval()
    cases["linear_dropout"] = {
        "eager": lambda: module(xm),
        "jittrace": lambda: ours_mod(xm),
        "torch_jit_trace": lambda: theirs_mod(xm),
    }
    for model, candidates in cases.items():
        _time_calls(res, cfg, "call", model, candidates)


def _time_calls(
    res: Results, cfg: Config, group: str, model: str, candidates: dict[str, Callable[[], Any]]
) -> None:
    """Per-call timings of `candidates`, interleaved, with the garbage collector off."""
    samples = measure_interleaved(
        candidates,
        repeats=cfg.call_repeats,
        sample_seconds=cfg.sample_seconds,
        warmup=2,
        gc_enabled=False,
    )
    _add(res, group, model, samples)


# ---- 2b. Structured outputs and variants --------------------------------------------------------


def structures(res: Results, cfg: Config, log: Callable[[str], None]) -> None:
    """Call overhead of what issue 13 added, each against the same trace without it: a function
    returning a namedtuple (rebuilt in Python from TorchScript's tuple) against one returning a
    tuple, and a module dispatching on a bool argument in TorchScript (`variants=`, called as
    `traced(x, True)`, eval mode, no_grad) against the same module traced without the argument."""
    log("structures: namedtuple output, bool variant dispatch")
    x = torch.randn(3)
    namedtuple_fn = jittrace.jit_trace(pair_namedtuple, x)
    tuple_fn = jittrace.jit_trace(pair_tuple, x)
    torch.manual_seed(0)
    module = FlagScale().eval()
    xm = torch.randn(1, 16)
    variants = jittrace.jit_trace(module, xm, variants={"flag": [False, True]}).eval()
    plain = jittrace.jit_trace(module, xm).eval()  # flag left at its default: forward(x)
    # For reference (no target): traced for flag=True only, forward(x, flag) checks the value.
    # Between plain and this is the price of the argument; between this and variants, dispatch.
    one_value = jittrace.jit_trace(module, xm, True).eval()

    # What is timed must be what it claims: the namedtuple comes back, the flag is dispatched.
    ok = {
        "namedtuple_output": type(namedtuple_fn(x)) is Pair and type(tuple_fn(x)) is tuple,
        "bool_variant": torch.equal(variants(xm, True), module(xm, True))
        and torch.equal(variants(xm, False), module(xm, False))
        and torch.equal(one_value(xm, True), module(xm, True))
        and torch.equal(plain(xm), module(xm)),
    }
    cases: dict[str, dict[str, Callable[[], Any]]] = {
        "namedtuple_output": {
            "eager": lambda: pair_namedtuple(x),
            "jittrace": lambda: namedtuple_fn(x),
            "jittrace_plain": lambda: tuple_fn(x),
        },
        "bool_variant": {
            "eager": lambda: module(xm, True),
            "jittrace": lambda: variants(xm, True),
            "jittrace_plain": lambda: plain(xm),
            "jittrace_one_value": lambda: one_value(xm, True),
        },
    }
    for model, candidates in cases.items():
        if not ok[model]:
            res.skipped[f"structures/{model}/jittrace"] = "the traced call does not match eager"
            del candidates["jittrace"]
        # The module as it is served (eval, no_grad); the function as the call group times it.
        with torch.set_grad_enabled(model != "bool_variant"):
            _time_calls(res, cfg, "structures", model, candidates)


# ---- 3. Traced forward latency ------------------------------------------------------------------


def latency(res: Results, cfg: Config, models: list[Model], log: Callable[[str], None]) -> None:
    for m in models:
        obj = m.build()
        if not isinstance(obj, nn.Module) or m.kwarg_inputs is not None:
            continue
        log(f"latency: {m.name}")
        obj.eval()
        x = m.inputs()
        # The report lists the trace's guards; the traced module is the one a call without it
        # gives.
        ours = jittrace.jit_trace(obj, *x, report=True).eval()
        guards = ours.trace_report.guards
        # The same trace without guards: what guards cost at call time.
        plain = jittrace.jit_trace(obj, *x, guards=False).eval()
        theirs = torch_jit_trace(obj, x, check=False)  # traced in eval mode
        in_eval = sum(g.mode == "eval" for g in guards)
        # Round-robin keeps neighbours: each trace runs after another trace, not after eager
        # (whose allocations slowed the next call by about 2% on the convnet).
        candidates = {
            "eager": lambda: obj(*x),
            "torch_jit_trace": lambda: theirs(*x),
            "jittrace": lambda: ours(*x),
            "jittrace_no_guards": lambda: plain(*x),
        }
        with torch.no_grad():
            for fn in candidates.values():  # the profiling executor optimizes after a few runs
                for _ in range(3):
                    fn()
            samples = measure_interleaved(
                candidates, repeats=cfg.call_repeats, sample_seconds=cfg.sample_seconds
            )
        _add(res, "latency", m.name, samples)
        # The guards of the timed (eval-mode) trace: the guards/<model> targets read the count.
        note = f"{in_eval} guards in the eval-mode trace, {len(guards)} in both modes"
        res.figures[f"latency/{m.name}/jittrace"].note = note
        count = Figure(
            f"latency/{m.name}/guards", "latency", m.name, "guards", "count", [float(in_eval)]
        )
        count.note = note
        res.add(count)


# ---- 3b. Inference files -------------------------------------------------------------------------

INFERENCE_MODELS = ("convnet", "transformer6")


def _reloaded(module: Any) -> Any:
    """`module` saved to a file and loaded back, as a user of the file runs it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.pt")
        torch.jit.save(module, path)
        return torch.jit.load(path)


def inference(res: Results, cfg: Config, models: list[Model], log: Callable[[str], None]) -> None:
    """Latency (eval, no_grad) of files written for inference, after save and load, vs eager:
    jittrace.optimize_for_inference (freeze + torch's inference passes, MKLDNN weights made
    saveable), the same without MKLDNN, and torch.jit.freeze alone."""
    for m in models:
        if m.name not in INFERENCE_MODELS:
            continue
        log(f"inference: {m.name}")
        obj = m.build().eval()
        x = m.inputs()
        traced = jittrace.jit_trace(obj, *x)
        optimized = _reloaded(jittrace.optimize_for_inference(traced))
        no_mkldnn = _reloaded(jittrace.optimize_for_inference(traced, mkldnn=False))
        frozen = _reloaded(torch.jit.freeze(traced.eval()))
        candidates = {
            "eager": lambda: obj(*x),
            "jittrace_optimized": lambda: optimized(*x),
            "jittrace_optimized_no_mkldnn": lambda: no_mkldnn(*x),
            "torch_jit_freeze": lambda: frozen(*x),
        }
        with torch.no_grad():
            expected = obj(*x)
            for name, fn in candidates.items():
                for _ in range(3):  # the profiling executor optimizes after a few runs
                    out = fn()
                if not torch.allclose(out, expected, rtol=1e-5, atol=1e-5):
                    res.skipped[f"inference/{m.name}/{name}"] = "does not match eager"
            samples = measure_interleaved(
                candidates, repeats=cfg.call_repeats, sample_seconds=cfg.sample_seconds
            )
        _add(res, "inference", m.name, samples)


# ---- 4. Memory ----------------------------------------------------------------------------------


def memory(res: Results, cfg: Config, log: Callable[[str], None]) -> None:
    n = cfg.traces_for_rss
    log(f"memory: RSS over {n} traces")
    torch.manual_seed(0)
    model, x = (
        nn.Sequential(nn.Linear(64, 64), nn.BatchNorm1d(64), nn.Dropout(0.1)),
        torch.randn(8, 64),
    )
    tracers = {
        "jittrace": lambda: jittrace.jit_trace(model, x),
        "torch_jit_trace": lambda: torch_jit_trace(model, (x,), check=False),
    }
    for name, trace in tracers.items():
        for _ in range(50):  # warm-up: allocator pools, lazily created state
            trace()
        gc.collect()
        before = rss_bytes()
        for _ in range(n):
            trace()
        gc.collect()
        res.add(
            Figure(
                f"memory/rss_growth_{n}/{name}",
                "memory",
                f"rss_growth_{n}",
                name,
                "bytes",
                [float(rss_bytes() - before)],
            )
        )

    log("memory: peak RSS while tracing a 268 MB model")
    for name in ("jittrace", "jittrace_single", "torch_jit_trace"):
        ratio, params = _peak_over_params(name)
        res.add(
            Figure(
                f"memory/peak_over_params/{name}",
                "memory",
                "peak_over_params",
                name,
                "ratio",
                [ratio],
                note=f"parameters: {params} bytes",
            )
        )


def _peak_over_params(tracer: str) -> tuple[float, int]:
    """(peak RSS while tracing - RSS before the model existed) / parameter bytes, and the bytes."""
    gc.collect()
    start = rss_bytes()
    torch.manual_seed(0)
    big, x = big_mlp(), torch.randn(8, 4096)
    params = sum(p.numel() * p.element_size() for p in big.parameters())
    trace = {
        "jittrace": lambda: jittrace.jit_trace(big, x),
        "jittrace_single": lambda: jittrace.jit_trace(big, x, respect_mode=False),
        "torch_jit_trace": lambda: torch_jit_trace(big, (x,), check=False),
    }[tracer]
    _, peak = peak_rss_during(trace)
    return (peak - start) / params, params


# ---- 5. Scaling ---------------------------------------------------------------------------------


def scaling(res: Results, cfg: Config, sizes: list[int], log: Callable[[str], None]) -> None:
    x = torch.randn(8, 32, 256)
    for layers in sizes:
        log(f"scaling: TransformerEncoder with {layers} layers")
        torch.manual_seed(0)
        enc = transformer(layers)
        candidates = {
            "eager_train": lambda enc=enc: enc(x),
            "jittrace": lambda enc=enc: jittrace.jit_trace(enc, x),
            "torch_jit_trace": lambda enc=enc: torch_jit_trace(enc, (x,), check=False),
        }
        repeats = max(5 if not cfg.quick else 3, cfg.repeats * 6 // layers)
        samples = measure_interleaved(
            candidates, repeats=repeats, sample_seconds=cfg.sample_seconds
        )
        _add(res, "scaling", f"layers{layers}", samples)


# ---- Targets ------------------------------------------------------------------------------------


def targets(res: Results, cfg: Config, models: list[Model], groups: tuple[str, ...]) -> None:
    def add(
        id_: str, description: str, numerator: str, denominator: str | None, limit: float | None
    ) -> None:
        if id_.split("/")[0] in skip:
            return
        res.targets.append(Target(id_, description, numerator, denominator, limit))

    # Targets of groups that did not run are left out (those of failed candidates are kept).
    group_of = {
        "function_trace": "trace_time", "module_trace": "trace_time",
        "module_trace_single": "trace_time", "per_mode": "trace_time",
        "trace_as_is": "trace_time", "call": "call", "structures": "structures",
        "latency": "latency", "guards": "latency", "memory": "memory", "scaling": "scaling",
        "inference": "inference",
    }  # fmt: skip
    skip = {target for target, group in group_of.items() if group not in groups}
    for m in models:
        tt = f"trace_time/{m.name}"
        if m.function:
            add(
                f"function_trace/{m.name}",
                f"{m.name}: trace time vs torch.jit.trace(check_trace=False)",
                f"{tt}/jittrace",
                f"{tt}/torch_jit_trace",
                0.3,
            )
            continue
        if m.torch_wrapper is not None:  # the same ratio as module_trace, with a stricter limit
            add(
                f"trace_as_is/{m.name}",
                f"{m.name}: trace as users call it (keyword inputs, structured output, both "
                "modes) vs torch.jit.trace(check_trace=False) of the model wrapped to a tuple",
                f"{tt}/jittrace",
                f"{tt}/torch_jit_trace",
                0.3,
            )
        else:
            add(
                f"module_trace/{m.name}",
                f"{m.name}: respect_mode=True (two traces) vs torch.jit.trace(check_trace=False)",
                f"{tt}/jittrace",
                f"{tt}/torch_jit_trace",
                0.9,
            )
        add(
            f"module_trace_single/{m.name}",
            f"{m.name}: respect_mode=False vs torch.jit.trace(check_trace=False)",
            f"{tt}/jittrace_single_train",
            f"{tt}/torch_jit_trace",
            0.5,
        )
        eager_train = res.median(f"{tt}/eager_train")
        if eager_train is not None and eager_train >= 0.010:
            for mode in ("train", "eval"):
                add(
                    f"per_mode/{m.name}/{mode}",
                    f"{m.name}: trace time in {mode} mode vs eager {mode} forward",
                    f"{tt}/jittrace_single_{mode}",
                    f"{tt}/eager_{mode}",
                    1.25,
                )
    add(
        "call/function",
        "call overhead, function (relu on 3 elements) vs torch.jit.trace's",
        "call/relu/jittrace",
        "call/relu/torch_jit_trace",
        1.05,
    )
    add(
        "call/module",
        "call overhead, module with mode dispatch vs torch.jit.trace's",
        "call/linear_dropout/jittrace",
        "call/linear_dropout/torch_jit_trace",
        1.1,
    )
    add(
        "structures/namedtuple_output",
        "call overhead, traced function returning a namedtuple (rebuilt from TorchScript's "
        "tuple) vs the same returning a tuple",
        "structures/namedtuple_output/jittrace",
        "structures/namedtuple_output/jittrace_plain",
        1.2,
    )
    add(
        "structures/bool_variant",
        "call overhead, module with a bool-argument variant dispatch (`traced(x, True)`, eval, "
        "no_grad) vs the same module traced without the argument",
        "structures/bool_variant/jittrace",
        "structures/bool_variant/jittrace_plain",
        1.1,
    )
    for m in models:
        if res.median(f"latency/{m.name}/jittrace") is not None:
            add(
                f"latency/{m.name}",
                f"{m.name}: traced forward latency (eval) vs eager",
                f"latency/{m.name}/jittrace",
                f"latency/{m.name}/eager",
                1.0,
            )
    for m in models:
        count = res.median(f"latency/{m.name}/guards")
        if count is None:
            continue
        lat = f"latency/{m.name}"
        if count == 0:  # the graph is the one guards=False gives: no cost allowed
            add(
                f"guards/{m.name}",
                f"{m.name}: traced forward latency (eval) with guards vs guards=False (the "
                "trace has no guard)",
                f"{lat}/jittrace",
                f"{lat}/jittrace_no_guards",
                1.02,
            )
        else:  # recomputing the guarded values is the price of the check: reported
            add(
                f"guards/{m.name}",
                f"{m.name}: traced forward latency (eval) with guards vs guards=False "
                f"({int(count)} guards in the eval-mode trace: reported, no limit)",
                f"{lat}/jittrace",
                f"{lat}/jittrace_no_guards",
                None,
            )
    add(
        "inference/convnet",
        "convnet (conv + BatchNorm): optimized inference file, loaded, vs eager (eval)",
        "inference/convnet/jittrace_optimized",
        "inference/convnet/eager",
        0.8,
    )
    n = cfg.traces_for_rss
    if n == 1000:
        add(
            "memory/rss_growth",
            "RSS growth over 1,000 traces (bytes)",
            "memory/rss_growth_1000/jittrace",
            None,
            2 * 1024 * 1024,
        )
    add(
        "memory/peak",
        "peak RSS while tracing a 268 MB model: (model + tracing) / parameter bytes",
        "memory/peak_over_params/jittrace",
        None,
        1.05,
    )
    if 48 in cfg.layers:
        add(
            "scaling/48_vs_6",
            "trace time at 48 layers vs at 6 layers",
            "scaling/layers48/jittrace",
            "scaling/layers6/jittrace",
            8.5,
        )
    for t in res.targets:
        num = res.median(t.numerator)
        den = 1.0 if t.denominator is None else res.median(t.denominator)
        if num is None or den is None:
            continue
        t.ratio = num / den
        t.met = None if t.limit is None else t.ratio <= t.limit


GROUPS = ("trace_time", "scaling", "call", "structures", "latency", "inference", "memory")


def run(
    cfg: Config,
    log: Callable[[str], None],
    groups: tuple[str, ...] = GROUPS,
    isolate: bool = True,
) -> Results:
    """Runs the groups (in GROUPS' order, whatever order they were asked in) and judges the targets.

    With `isolate`, each part of a group (one model, one layer count) runs in a fresh worker
    process, as pyperf does, so that what one measurement leaves behind cannot slow the next.
    It matters here: `torch.jit.trace` keeps about 300 Python objects and 85 KB per trace alive
    (its global compilation unit and caches; jittrace keeps none), and after a few hundred of its
    traces every full garbage collection takes twice as long and a transformer's eager forward
    is 20-60% slower, for eager code and both tracers alike. Within a part the candidates share
    the process and are timed alternately, so their ratios are measured side by side.
    """
    res = Results()
    models = zoo()
    for group in GROUPS:
        if group not in groups:
            continue
        if not isolate:
            run_part(group, "", cfg, res, models, log)
            continue
        for part in _parts(group, cfg, models):
            _run_worker(group, part, cfg, res)
    targets(res, cfg, models, groups)
    return res


def _parts(group: str, cfg: Config, models: list[Model]) -> list[str]:
    if group == "trace_time":
        return [m.name for m in models]
    if group == "latency":
        return [m.name for m in models if not m.function and m.kwarg_inputs is None]
    if group == "inference":
        return [m.name for m in models if m.name in INFERENCE_MODELS]
    if group == "scaling":
        return [str(layers) for layers in cfg.layers]
    return [""]


def run_part(
    group: str,
    part: str,
    cfg: Config,
    res: Results,
    models: list[Model],
    log: Callable[[str], None],
) -> None:
    """Measures one group, or one part of it ("" for all of it), adding the figures to `res`."""
    # torch.jit's deprecation warnings, and the tracer's warnings about Python values in the
    # models' code (both tracers give the same ones).
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    # torch.jit.trace reads every attribute of a wrapped HF model (torch._jit_internal's
    # module_has_exports), a deprecated property of transformers' among them.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")
    some = [m for m in models if m.name == part] if part else models
    steps: dict[str, Callable[[], None]] = {
        "trace_time": lambda: trace_time(res, cfg, some, log),
        "scaling": lambda: scaling(res, cfg, [int(part)] if part else cfg.layers, log),
        "call": lambda: call_overhead(res, cfg, log),
        "structures": lambda: structures(res, cfg, log),
        "latency": lambda: latency(res, cfg, some, log),
        "inference": lambda: inference(res, cfg, some, log),
        # Last in GROUPS: its 268 MB model leaves the allocator in a state that slows what follows
        # when groups share a process (--no-isolate).
        "memory": lambda: memory(res, cfg, log),
    }
    steps[group]()


def write_part(group: str, part: str, cfg: Config, path: str, log: Callable[[str], None]) -> None:
    """The worker's side of `run`: measures one part of a group and writes its figures to `path`."""
    res = Results()
    run_part(group, part, cfg, res, zoo(), log)
    data = {"figures": [asdict(f) for f in res.figures.values()], "skipped": res.skipped}
    Path(path).write_text(json.dumps(data))


def _run_worker(group: str, part: str, cfg: Config, res: Results) -> None:
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "figures.json")
        # The worker logs on the parent's clock: perf_counter is the system's monotonic clock.
        cmd = [sys.executable, "-m", "benchmarks", "--worker", group, part, out, repr(cfg.started)]
        if cfg.quick:
            cmd.append("--quick")
        done = subprocess.run(cmd, env=env, check=False)
        if done.returncode != 0:
            what = f"{group}/{part}" if part else group
            raise RuntimeError(
                f"the benchmark worker for {what} failed (exit code {done.returncode}); "
                f"`python -m benchmarks --groups {group} --no-isolate` runs it in this process"
            )
        data = json.loads(Path(out).read_text())
    for fig in data["figures"]:
        res.add(Figure(**fig))
    res.skipped.update(data["skipped"])
