"""python -m benchmarks [--quick] [--out DIR] [--compare OLD.json]

Measures jittrace against torch.jit.trace (and eager), each measurement in a fresh worker
process (--no-isolate: all in this one), and writes DIR/benchmarks-<time>.json (schema in
benchmarks/README.md) and a markdown table next to it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jittrace
import torch

from .harness import git_commit, machine_info, now
from .report import compare, load, markdown, to_json
from .suite import GROUPS, Config, run, write_part

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats and sizes (about 2 minutes)"
    )
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results"), help="output directory"
    )
    parser.add_argument(
        "--compare", metavar="OLD.json", help="print the change of each figure against OLD.json"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is not met")
    parser.add_argument(
        "--groups",
        nargs="+",
        choices=GROUPS,
        default=list(GROUPS),
        metavar="GROUP",
        help=f"run only these groups ({', '.join(GROUPS)})",
    )
    parser.add_argument(
        "--no-isolate",
        action="store_true",
        help="run everything in this process instead of a fresh worker process per measurement",
    )
    # Internal: how a worker process is started (GROUP, PART, OUT.json, the run's start time).
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - cfg.started:6.1f} s] {msg}", file=sys.stderr, flush=True)

    if args.worker:
        group, part, out, started = args.worker
        cfg = Config(quick=args.quick, started=float(started))
        write_part(group, part, cfg, out, log)
        return 0

    old = load(args.compare) if args.compare else None
    cfg = Config(quick=args.quick)
    results = run(cfg, log, groups=tuple(args.groups), isolate=not args.no_isolate)
    try:
        import transformers

        hf_version = transformers.__version__
    except ImportError:
        hf_version = None
    meta = {
        "created": now(),
        "machine": machine_info(),
        "versions": {
            "torch": torch.__version__,
            "jittrace": jittrace.__version__,
            "jittrace_commit": git_commit(ROOT),
            "transformers": hf_version,
        },
        "config": {
            "quick": cfg.quick,
            "groups": list(args.groups),
            "repeats": cfg.repeats,
            "call_repeats": cfg.call_repeats,
            "traces_for_rss": cfg.traces_for_rss,
            "layers": cfg.layers,
            "isolate": not args.no_isolate,
        },
        "duration_s": round(time.perf_counter() - cfg.started, 1),
    }
    data = to_json(results, meta)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"benchmarks-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if cfg.quick else ''}"
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1))
    table = markdown(data)
    stem.with_suffix(".md").write_text(table)
    print(table)
    if old is not None:
        print(compare(old, data))
    print(f"wrote {stem}.json and .md ({meta['duration_s']} s)", file=sys.stderr)
    missed = [t.id for t in results.targets if t.met is False]
    if args.check and missed:
        print(f"targets not met: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
