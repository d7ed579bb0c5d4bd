"""Leaks, threads, and torch.jit.trace elsewhere in the process left as it was."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import weakref

import torch
from jittrace import jit_trace, jit_trace_module
from torch import nn


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.bn = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return self.drop(self.bn(self.fc(x)))


def scale(x):
    return torch.relu(x) * 2


def test_500_traces_leave_nothing_alive_and_bounded_rss():
    global_cu = torch.jit._state._python_cu
    functions_before = len(global_cu.get_functions())
    net, x = Net(), torch.randn(4, 16)

    def trace_once():
        traced_fn = jit_trace(scale, x)
        traced_mod = jit_trace(net, x)
        traced_fn(x)
        traced_mod(x)
        return weakref.ref(traced_fn), weakref.ref(traced_mod)

    for _ in range(50):  # warm-up: allocator pools, lazily created state
        trace_once()
    gc.collect()
    before = rss_bytes()
    refs = [trace_once() for _ in range(500)]
    gc.collect()
    growth = rss_bytes() - before
    assert all(r() is None for pair in refs for r in pair)  # every traced object was freed
    assert len(global_cu.get_functions()) == functions_before
    assert growth < 8 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB over 500 traces"


def test_traced_module_does_not_keep_the_original_alive():
    net = Net()
    traced = jit_trace(net, torch.randn(4, 16))
    twin = Net()
    twin.load_state_dict(net.state_dict())
    ref = weakref.ref(net)
    del net
    gc.collect()
    assert ref() is None
    traced.eval()
    twin.eval()
    x = torch.randn(2, 16)
    assert torch.allclose(traced(x), twin(x))  # its tensors live on in the trace


FUNCTIONS = [torch.relu, torch.sigmoid, lambda x: torch.tanh(x) * 2, lambda x: x.exp() - 1]


def test_four_threads_trace_and_call_at_once():
    barrier = threading.Barrier(4)
    failures: list[str] = []
    shared = jit_trace(torch.sin, torch.randn(8))

    def work(i: int) -> None:
        fn = FUNCTIONS[i]
        barrier.wait()
        try:
            for _ in range(30):
                traced = jit_trace(fn, torch.randn(8))
                mod = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5))
                traced_mod = jit_trace_module(mod, forward=torch.randn(2, 8))
                y = torch.randn(8)
                if not torch.allclose(traced(y), fn(y)) or not torch.allclose(
                    shared(y), torch.sin(y)
                ):
                    failures.append(f"thread {i}: wrong result")
                traced_mod.eval()
                mod.eval()
                if not torch.allclose(traced_mod(y[None]), mod(y[None])):
                    failures.append(f"thread {i}: wrong module result")
        except Exception as e:  # reported below, with the thread
            failures.append(f"thread {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert torch._C._get_tracing_state() is None


def test_source_locations_of_torch_jit_trace_are_untouched_in_other_threads():
    """jittrace skips the source-location hook on its own tracing thread only."""
    stop = threading.Event()

    def keep_tracing() -> None:
        while not stop.is_set():
            jit_trace(Net(), torch.randn(4, 16))

    worker = threading.Thread(target=keep_tracing)
    worker.start()
    try:
        for _ in range(20):
            graph = str(torch.jit.trace(scale, torch.randn(3), check_trace=False).graph)
            assert "test_leaks_threads.py" in graph  # each node still names its source line
    finally:
        stop.set()
        worker.join()


def test_importing_jittrace_leaves_torch_jit_trace_graphs_identical():
    code = textwrap.dedent(
        """
        import torch, warnings
        warnings.simplefilter("ignore")

        def f(x, y):
            z = torch.relu(x) * y
            return z.sum(0) + 1

        def graph():
            return str(torch.jit.trace(f, (torch.randn(3, 2), torch.randn(3, 2)), check_trace=False).graph)

        before = graph()
        import jittrace
        jittrace.jit_trace(f, torch.randn(3, 2), torch.randn(3, 2))
        after = graph()
        print(before == after, "<string>" in before)  # source locations recorded both times
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"], out.stdout + out.stderr
