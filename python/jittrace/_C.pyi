# Type stubs of jittrace's compiled module (csrc/python). Use the jittrace package instead.
from collections.abc import Callable, Sequence
from typing import Any, Final

import torch

BUILD_INFO: Final[dict[str, Any]]

def trace_function(
    func: Callable[..., Any],
    inputs: tuple[Any, ...],
    dotted_name: str,
    argument_names: Sequence[str],
    strict: bool,
    record_source_locations: bool,
) -> torch.jit.ScriptFunction[Any, Any]: ...
def trace_module(
    api: str,
    mod: torch.nn.Module,
    methods: Sequence[tuple[str, Callable[..., Any], tuple[Any, ...], Sequence[str]]],
    strict: bool,
    respect_mode: bool,
    record_source_locations: bool,
    verify: Callable[[torch._C.ScriptModule], None] | None,
    scripted: dict[torch.nn.Module, torch._C.ScriptModule],
) -> tuple[torch._C.ScriptModule, list[tuple[str, str]]]: ...
def find_in_graph(graph: torch.Graph) -> dict[str, list[Any]]: ...
def compare_traces(a: torch.Graph, b: torch.Graph) -> list[tuple[str, Any, Any]] | None: ...
def devices_torch_function(
    self: Any, func: Any, types: Any, args: Any = (), kwargs: Any = None
) -> Any: ...
def optimize_for_inference(
    module: torch._C.ScriptModule, methods: Sequence[str], mkldnn: bool
) -> torch._C.ScriptModule: ...
