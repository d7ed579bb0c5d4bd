"""jittrace benchmarks against torch.jit.trace: `python -m benchmarks --help`."""
