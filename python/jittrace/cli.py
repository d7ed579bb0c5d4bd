"""The `jittrace` command: trace a model to a TorchScript file, inspect a file, run the demo.

Exit codes: 0 success, 1 a failed check or trace, or a finding that --fail-on makes an
error, 2 bad usage (bad target, an input expression that fails, a file that is not
TorchScript).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import math
import os
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from . import __version__, cmake_prefix_path
from ._check import Checker, CheckResult
from ._errors import InputError, TraceCheckError, TraceReportError
from ._files import load, manifest, save
from ._inference import optimize_for_inference
from ._interface import TracedFunction
from ._options import KINDS, Options, ReportOptions, Tolerance
from ._pipeline import Check, Target, call, run
from ._report import TraceReport, check_dict
from ._torchscript import method_graph

__all__ = ["main"]

T = TypeVar("T")


class UsageError(Exception):
    """Bad command-line usage: exit code 2."""


class CheckFailed(Exception):
    """A check of the traced model failed: exit code 1."""


class Progress:
    """Stage-by-stage progress with timings on stderr (silent with --quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.timings: dict[str, float] = {}  # seconds by phase, for --json

    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def stage(self, message: str, fn: Callable[[], T], phase: str | None = None) -> T:
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        if phase is not None:
            self.timings[phase] = self.timings.get(phase, 0.0) + elapsed
        self.log(f"{message} ... {elapsed:.2f} s")
        return result


# ---- trace -------------------------------------------------------------------------------------

TRACE_EXAMPLES = """examples:
  jittrace trace mymodels.py:Net -o net.pt --input "torch.randn(1, 3, 32, 32)"
  jittrace trace mypkg.models:build_encoder -o enc.pt --input "torch.randn(2, 16, 64)" --mode eval
  jittrace trace mymodels.py:Net -o net.pt --input "torch.randn(4, 8)" \\
      --method "encode=torch.randn(4, 8)" --check "torch.randn(9, 8)"
  jittrace trace mymodels.py:Net -o net.pt --input "torch.randn(4, 8)" \\
      --check "torch.randn(9, 8)" --atol 1e-4 --rtol 1e-3 --json --fail-on warnings
  jittrace trace mymodels.py:ConvNet -o net.opt.pt --input "torch.randn(1, 3, 32, 32)" --optimize

TARGET is module:attr or path/to/file.py:attr, naming an nn.Module instance, an nn.Module
class (constructed with no arguments), a function that takes no arguments and returns a
module, or a function to trace. Input expressions are Python, with torch in scope."""


def _load_target(spec: str) -> object:
    module_part, sep, attr_path = spec.rpartition(":")
    if not sep or not module_part or not attr_path:
        raise UsageError(f"TARGET must be module:attr or path/to/file.py:attr, not {spec!r}")
    try:
        if module_part.endswith(".py") or os.sep in module_part:
            path = Path(module_part)
            if not path.is_file():
                raise UsageError(f"{module_part}: no such file")
            name = f"_jittrace_target_{abs(hash(str(path.resolve())))}"
            loader_spec = importlib.util.spec_from_file_location(name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise UsageError(f"{module_part}: not a Python file")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_part)
    except UsageError:
        raise
    except Exception as e:
        raise UsageError(f"cannot import {module_part}: {type(e).__name__}: {e}") from e
    obj: object = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{module_part} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    return obj


def _resolve_model(spec: str, obj: object) -> nn.Module | Callable[..., Any]:
    """An nn.Module instance, or a plain function to trace."""
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, type):
        if not issubclass(obj, nn.Module):
            raise UsageError(f"{spec} is a class but not an nn.Module")
        try:
            return obj()
        except TypeError as e:
            raise UsageError(
                f"{spec} is an nn.Module class that cannot be constructed without arguments "
                f"({e}); point TARGET at an instance or at a function that builds one"
            ) from e
    if not callable(obj):
        raise UsageError(f"{spec} is {_a(type(obj).__name__)}, not a module or function")
    try:
        required = [
            p
            for p in inspect.signature(obj).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return obj
    if required:
        return obj  # a function to trace
    built = obj()
    if not isinstance(built, nn.Module):
        raise UsageError(
            f"{spec} takes no arguments, so it was called as a factory, but it returned "
            f"{_a(type(built).__name__)}, not an nn.Module"
        )
    return built


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _evaluate(expr: str, what: str) -> Any:
    try:
        return eval(expr, {"torch": torch, "nn": torch.nn, "__builtins__": __builtins__})
    except Exception as e:
        raise UsageError(f"{what} {expr!r} failed: {type(e).__name__}: {e}") from e


def _as_args(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


#: The version of the object `jittrace trace --json` prints (see the README).
SCHEMA = "jittrace.trace/1"


class Findings(Exception):
    """The trace report has findings that --fail-on makes errors: exit code 1."""


class TraceRecord:
    """What `jittrace trace` found, for --json: filled in as the command goes."""

    def __init__(self, args: argparse.Namespace, timings: dict[str, float]) -> None:
        self.data: dict[str, Any] = {
            "schema": SCHEMA,
            "ok": True,
            "error": None,
            "target": args.target,
            "kind": None,
            "methods": [],
            "modes": [],
            "optimized": bool(args.optimize),
            "warnings": [],
            "specialized": [],
            "devices": [],
            "random": [],
            "checks": [],
            "timings": timings,
            "file": None,
        }

    def add_report(self, report: TraceReport) -> None:
        found = report.to_dict()
        for key in ("warnings", "specialized", "devices", "random"):
            self.data[key] = found[key]

    def add_checks(self, checks: Sequence[CheckResult], on: str) -> None:
        self.data["checks"].extend({**check_dict(c), "on": on} for c in checks)

    def fail(self, message: str) -> None:
        self.data["ok"] = False
        self.data["error"] = message

    def json(self) -> str:
        data = dict(self.data)
        data["timings"] = {k: round(v, 6) for k, v in self.data["timings"].items()}
        return json.dumps(data, indent=2, allow_nan=False)


def _run_trace(args: argparse.Namespace, progress: Progress) -> int:
    record = TraceRecord(args, progress.timings)
    try:
        code = _trace(args, progress, record)
    except UsageError:
        raise  # bad usage: no JSON, exit 2
    except BaseException as e:
        if args.json and not isinstance(e, KeyboardInterrupt):
            first = str(e).strip().splitlines()
            kind = "" if isinstance(e, (CheckFailed, Findings)) else f"{type(e).__name__}: "
            record.fail(kind + (first[0] if first else ""))
            print(record.json())
        raise
    if args.json:
        print(record.json())
    return code


def _methods(args: argparse.Namespace, is_module: bool) -> dict[str, tuple[Any, ...]]:
    """The methods to trace and their example inputs: forward from --input, others from
    --method."""
    methods: dict[str, tuple[Any, ...]] = {}
    if args.method and not is_module:
        raise UsageError("--method needs a module TARGET; a function takes --input")
    if args.input or not args.method:
        methods["forward"] = tuple(_evaluate(e, "--input") for e in args.input)
    for item in args.method:
        name, sep, expr = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--method takes NAME=EXPR, not {item!r}")
        if name in methods:
            given = "--input" if name == "forward" and args.input else f"--method {name}=..."
            raise UsageError(f"{name} is given twice (by {given} and by --method {name}=...)")
        methods[name] = _as_args(_evaluate(expr, f"--method {name}"))
    return methods


def _trace(args: argparse.Namespace, progress: Progress, record: TraceRecord) -> int:
    target = progress.stage(f"loading {args.target}", lambda: _load_target(args.target), "load")
    model = progress.stage(
        "building the model", lambda: _resolve_model(args.target, target), "build"
    )
    is_module = isinstance(model, nn.Module)
    methods = _methods(args, is_module)
    checks = [_as_args(_evaluate(e, "--check")) for e in args.check]
    if checks and "forward" not in methods:
        raise UsageError("--check applies to forward; trace forward with --input")
    if args.optimize and not is_module:
        raise UsageError("--optimize needs a module TARGET: a function has no parameters to freeze")
    if args.optimize and args.mode == "train":
        raise UsageError("--optimize writes an eval-mode file: trace with --mode eval or both")
    # Servers run the mode a file was saved in: eval, unless asked (and traced) otherwise.
    start_mode = args.start_mode or ("train" if args.mode == "train" else "eval")
    if is_module and args.mode not in ("both", start_mode):
        raise UsageError(
            f"--start-mode {start_mode}: only {args.mode} mode is traced (--mode {args.mode})"
        )
    if args.start_mode and (args.optimize or not is_module):
        raise UsageError(
            "--start-mode applies to a module's file"
            + (" (--optimize writes eval mode)" if args.optimize else "")
        )

    respect_mode = args.mode == "both"
    if isinstance(model, nn.Module) and args.mode != "both":
        model.train(args.mode == "train")
    modes = {"both": ["train", "eval"], "train": ["train"], "eval": ["eval"]}[args.mode]
    if not is_module:
        modes = ["function"]
    record.data.update(
        kind="module" if is_module else "function",
        methods=list(methods),
        modes=modes if is_module else [],
    )
    fail_on = sorted(set(args.fail_on) | ({"warnings"} if args.warnings_as_errors else set()))
    tolerance = Tolerance(
        rtol=Tolerance.rtol if args.rtol is None else args.rtol,
        atol=Tolerance.atol if args.atol is None else args.atol,
    )
    api = "jit_trace_module" if is_module else "jit_trace"
    options = Options(
        api,
        strict=not args.no_strict,
        respect_mode=respect_mode,
        tolerance=tolerance,
        report=ReportOptions(fail_on=fail_on, probe_sizes=args.probe_sizes),
    )
    target = Target.of_module(api, model) if is_module else Target(function=model)
    key = "forward"
    label = f"tracing {', '.join(methods)} [{'+'.join(modes)}]"
    try:
        traced = progress.stage(
            label,
            lambda: run(
                target,
                {name: call(inputs) for name, inputs in methods.items()},
                options,
                checks=[
                    Check(f"check_inputs[{i}]", {key: call(c)}, keyed=is_module)
                    for i, c in enumerate(checks)
                ],
            ),
            "trace",
        )
    except TraceCheckError as e:
        record.add_checks(e.checks, "check_inputs")
        raise CheckFailed(str(e)) from e
    except TraceReportError as e:
        record.add_report(e.report)
        record.add_checks(e.report.checks, "check_inputs")
        raise Findings(str(e)) from e
    if isinstance(traced, torch.jit.ScriptModule):
        kept = "train and eval" if respect_mode else modes[0]
        what = f"{', '.join(methods)} traced in {kept} mode, starts in {start_mode} mode"
    else:
        what = "function traced"
    report: TraceReport = getattr(traced, "trace_report")  # noqa: B009 (not in torch's types)
    record.add_report(report)
    record.add_checks(report.checks, "check_inputs")
    if checks:
        progress.log(f"checked {len(checks)} further input(s) against eager: same outputs")
    if args.report:
        progress.log("report:\n  " + str(report).replace("\n", "\n  "))

    saved: torch.jit.ScriptModule | torch.jit.ScriptFunction[Any, Any] | TracedFunction = traced
    if args.optimize:
        assert isinstance(traced, torch.jit.ScriptModule)
        saved = progress.stage(
            "optimizing for inference",
            lambda: optimize_for_inference(traced, methods=list(methods)),
            "optimize",
        )
        modes = ["eval"]
        what = f"{', '.join(methods)} frozen and optimized for inference (eval mode)"
    out = Path(args.output)
    mode = start_mode if isinstance(saved, torch.jit.ScriptModule) and not args.optimize else None
    progress.stage(f"saving {out}", lambda: save(saved, str(out), mode=mode), "save")
    loaded = progress.stage(f"reloading {out}", lambda: load(str(out)), "reload")
    verify_started = time.perf_counter()
    verified = Checker(tolerance)
    try:
        # Eval before train: a train-mode forward updates batch-norm statistics.
        for mode in sorted(modes, key=lambda m: m != "eval"):
            for name, inputs in methods.items():
                example = [(name, name, call(inputs))]
                progress.stage(
                    f"verifying {name} [{mode}] against eager",
                    lambda example=example, mode=mode: (
                        verified.check_module(  # type: ignore[misc]
                            model, loaded, example, [mode == "train"]
                        )
                        if isinstance(model, nn.Module)
                        else verified.check(
                            model, loaded, example[0][2], name, method=target.label(name)
                        )
                    ),
                )
    except TraceCheckError as e:
        record.add_checks(e.checks, "saved_file")
        raise CheckFailed(f"{out} does not match eager: {e}") from e
    progress.timings["verify"] = time.perf_counter() - verify_started
    record.add_checks(verified.results, "saved_file")

    size = out.stat().st_size
    record.data["file"] = {"path": str(out), "size": size}
    message = f"saved {out} ({size / 1024:.1f} KB): {what}; reloaded and verified against eager"
    print(message, file=sys.stderr if args.json else sys.stdout)
    return 0


def _tolerance(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text}")
    return value


# ---- inspect, demo ------------------------------------------------------------------------------


def _run_inspect(args: argparse.Namespace, progress: Progress) -> int:
    from ._inspect import format_summary, summarize

    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # unimportable structures: shown below
            module = load(str(path))
            data = manifest(str(path))
    except InputError as e:  # names the file and what is wrong with it
        raise UsageError(str(e).strip().splitlines()[0]) from e
    except Exception as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{path} is not a TorchScript file: {first_line}") from e
    info = summarize(module, data)
    if args.graph:
        if args.graph not in info["methods"]:
            raise UsageError(
                f"{path} has no method {args.graph!r}; methods: {', '.join(info['methods'])}"
            )
        info["graph"] = str(method_graph(module, args.graph))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(format_summary(str(path), info))
        if args.graph:
            print(f"\ngraph of {args.graph}:\n{info['graph']}")
    return 0


def _run_demo(args: argparse.Namespace, progress: Progress) -> int:
    from ._demo import run_demo

    out_dir = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="jittrace-demo-"))
    table, ok = run_demo(out_dir, progress.log)
    print(table)
    if not ok:
        raise CheckFailed("the jittrace model did not match eager in both modes")
    return 0


# ---- main --------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jittrace",
        description="Trace PyTorch models into TorchScript that keeps train and eval mode.",
        epilog="run 'jittrace COMMAND --help' for the options and examples of a command",
    )
    parser.add_argument("--version", action="version", version=f"jittrace {__version__}")
    parser.add_argument(
        "--cmake-dir",
        action="store_true",
        help="print the directory to add to CMAKE_PREFIX_PATH for find_package(jittrace)",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    common.add_argument("-v", "--verbose", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    trace = sub.add_parser(
        "trace",
        parents=[common],
        help="trace a model or function and save it",
        description="Trace TARGET, save it as TorchScript, reload the file and verify it "
        "against eager on the example inputs in each traced mode.",
        epilog=TRACE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trace.add_argument("target", metavar="TARGET", help="module:attr or path/to/file.py:attr")
    trace.add_argument("-o", "--output", required=True, help="the TorchScript file to write")
    trace.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="EXPR",
        help="an example input of forward (repeat for several arguments)",
    )
    trace.add_argument(
        "--method",
        action="append",
        default=[],
        metavar="NAME=EXPR",
        help="a method and its example inputs (a tuple for several arguments)",
    )
    trace.add_argument(
        "--mode",
        choices=["both", "train", "eval"],
        default="both",
        help="both: trace train and eval mode, switchable after loading (default); "
        "train / eval: trace that mode only",
    )
    trace.add_argument(
        "--start-mode",
        choices=["train", "eval"],
        help="the mode the saved module starts in, which servers run (default: eval, or train "
        "with --mode train)",
    )
    trace.add_argument("--no-strict", action="store_true", help="allow list and dict outputs")
    trace.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="EXPR",
        help="further inputs of forward on which traced and eager outputs must agree",
    )
    trace.add_argument(
        "--atol", type=_tolerance, metavar="A", help="absolute tolerance of checks (1e-5)"
    )
    trace.add_argument(
        "--rtol", type=_tolerance, metavar="R", help="relative tolerance of checks (1e-5)"
    )
    trace.add_argument(
        "--json",
        action="store_true",
        help=f"print one JSON object on stdout (schema {SCHEMA}, see the README)",
    )
    trace.add_argument("--report", action="store_true", help="print the trace report on stderr")
    trace.add_argument(
        "--fail-on",
        action="append",
        default=[],
        choices=[*KINDS, "all"],
        metavar="KIND",
        help=f"exit 1 if the report has findings of KIND ({', '.join(KINDS)}, all); repeatable",
    )
    trace.add_argument(
        "--warnings-as-errors",
        action="store_true",
        help="exit 1 if tracing raised a TracerWarning (--fail-on warnings)",
    )
    trace.add_argument(
        "--probe-sizes",
        action="store_true",
        help="find sizes baked into the trace by tracing again with each dimension changed",
    )
    trace.add_argument(
        "--optimize",
        action="store_true",
        help="write an eval-mode file frozen and optimized for inference",
    )

    insp = sub.add_parser(
        "inspect",
        parents=[common],
        help="describe a TorchScript file",
        description="Describe any TorchScript file: methods and signatures, whether train and "
        "eval mode are kept, its starting mode, parameters, buffers, submodules, graph sizes.",
        epilog="examples:\n  jittrace inspect net.pt\n  jittrace inspect net.pt --graph forward\n"
        "  jittrace inspect net.pt --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    insp.add_argument("file", metavar="FILE")
    insp.add_argument("--graph", metavar="METHOD", help="also print the graph of METHOD")
    insp.add_argument("--json", action="store_true", help="print JSON")

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="show jittrace on a built-in model",
        description="Trace a built-in model (conv + batch norm + dropout) with jittrace and with "
        "torch.jit.trace, save and reload both, and show which one still switches between train "
        "and eval mode, with trace and call times.",
        epilog="examples:\n  jittrace demo\n  jittrace demo -o demo_out",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("-o", "--output", metavar="DIR", help="where to write the model files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits after --help and --version (0) and bad usage (2)
        return e.code if isinstance(e.code, int) else 2
    if args.cmake_dir:
        print(cmake_prefix_path)
        return 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    progress = Progress(args.quiet)
    run = {"trace": _run_trace, "inspect": _run_inspect, "demo": _run_demo}[args.command]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit's own deprecation
            return run(args, progress)
    except UsageError as e:
        return _fail(args, f"jittrace {args.command}: error: {e}", 2)
    except CheckFailed as e:
        return _fail(args, f"jittrace {args.command}: check failed: {e}", 1)
    except Findings as e:
        return _fail(args, f"jittrace {args.command}: findings: {e}", 1)
    except KeyboardInterrupt:
        return _fail(args, f"jittrace {args.command}: interrupted", 130)
    except Exception as e:
        return _fail(args, f"jittrace {args.command}: failed: {type(e).__name__}: {e}", 1)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if args.verbose:
        traceback.print_exc()
    first, *rest = message.splitlines() or [message]
    print(first, file=sys.stderr)
    if args.verbose and rest:
        print("\n".join(rest), file=sys.stderr)
    return code
