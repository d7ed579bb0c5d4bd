"""Timing and memory measurement: a measurement's candidates side by side, interleaved, in the
process that runs it (a fresh worker per measurement, unless --no-isolate).

Timing uses the standard library's `timeit` (a `perf_counter` loop that compiles the statement
once and can switch the garbage collector off). pytest-benchmark measures one callable per test,
one test after another; the targets here are ratios between candidates, which must be measured
alternately under the same load, so the suite schedules `timeit.Timer`s round-robin instead.
"""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import time
import timeit
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Figure",
    "Results",
    "Target",
    "calibrate",
    "git_commit",
    "machine_info",
    "measure_interleaved",
    "now",
    "peak_rss_during",
    "rss_bytes",
]


@dataclass
class Figure:
    """One measured quantity, with every sample; the median is what ratios use."""

    id: str  # group/model/candidate, e.g. "trace_time/transformer6/jittrace"
    group: str
    model: str
    candidate: str
    unit: str  # "s", "bytes", "ratio" or "count"
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        s = sorted(self.samples)
        n = len(s)
        if n == 0:
            return float("nan")
        return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2

    @property
    def spread(self) -> float:
        """Interquartile range over median: how noisy the samples were (0 for one sample)."""
        s = sorted(self.samples)
        if len(s) < 4 or not self.median:
            return 0.0
        q1, q3 = s[len(s) // 4], s[(3 * len(s)) // 4]
        return (q3 - q1) / self.median

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["median"] = self.median
        data["spread"] = self.spread
        return data


@dataclass
class Target:
    """A ratio of two figures' medians (or one figure's median, without a denominator) and the
    limit it must stay under (None: the ratio is reported, not judged)."""

    id: str
    description: str
    numerator: str
    denominator: str | None
    limit: float | None
    ratio: float = float("nan")
    met: bool | None = None  # None: a figure is missing (skipped or failed), or no limit


@dataclass
class Results:
    figures: dict[str, Figure] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # what was not measured, and why

    def add(self, figure: Figure) -> Figure:
        self.figures[figure.id] = figure
        return figure

    def median(self, figure_id: str) -> float | None:
        fig = self.figures.get(figure_id)
        return fig.median if fig is not None and fig.samples else None


def measure_interleaved(
    candidates: dict[str, Callable[[], Any]],
    *,
    repeats: int,
    sample_seconds: float,
    warmup: int = 1,
    gc_enabled: bool = True,
) -> dict[str, list[float]]:
    """Seconds per call of each candidate: `repeats` samples, taken round-robin.

    Each sample times a batch of calls with `timeit`, sized per candidate so that it lasts about
    `sample_seconds` (one call for slow candidates). The order rotates each round so that no
    candidate always runs after the same neighbour. With `gc_enabled` (for trace times) the
    garbage collector runs as it would in a user's program; call-overhead measurements switch
    it off, as `timeit` does by default.
    """
    setup = "gc.enable()" if gc_enabled else "pass"
    timers = {
        name: timeit.Timer(fn, setup=setup, globals={"gc": gc}) for name, fn in candidates.items()
    }
    names = list(timers)
    for _ in range(warmup):
        for name in names:
            timers[name].timeit(1)
    numbers = {name: calibrate(candidates[name], sample_seconds) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(timers[name].timeit(numbers[name]) / numbers[name])
    return samples


def calibrate(fn: Callable[[], Any], seconds: float) -> int:
    """How many calls of `fn` take about `seconds` (at least one)."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    if once >= seconds:
        return 1
    number, elapsed = timeit.Timer(fn).autorange()
    return max(1, int(number * seconds / max(elapsed, 1e-9)))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:  # "5" resets VmHWM (Linux >= 4.0)
            f.write("5")
        return True
    except OSError:
        return False


def _peak() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def peak_rss_during(fn: Callable[[], Any]) -> tuple[int, int]:
    """(RSS before, peak RSS while `fn` runs), in bytes."""
    gc.collect()
    before = rss_bytes()
    if not _reset_peak():
        raise RuntimeError("cannot reset the peak RSS (/proc/self/clear_refs)")
    result = fn()
    peak = _peak()
    del result
    return before, peak


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import torch

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_bytes": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
