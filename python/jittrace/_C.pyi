# Type stubs of jittrace's compiled module (csrc/python). Use the jittrace package instead.
from collections.abc import Callable, Sequence
from typing import Any, Final

import torch

BUILD_INFO: Final[dict[str, Any]]

# One variant: (callable, inputs, argument names, constant defaults by name).
_Variant = tuple[Callable[..., Any], tuple[Any, ...], Sequence[str], dict[str, Any]]
# The core's record of one trace: (method, mode, variant, name, graph, output).
_Trace = tuple[str, str | None, int, str, torch.Graph, int]

def is_constant(value: object) -> bool: ...
def trace_function(
    variants: Sequence[_Variant],
    dotted_name: str,
    strict: bool,
    record_source_locations: bool,
) -> tuple[torch.jit.ScriptFunction[Any, Any], list[_Trace]]: ...
def trace_module(
    api: str,
    mod: torch.nn.Module,
    methods: Sequence[tuple[str, _Variant]],
    strict: bool,
    respect_mode: bool,
    record_source_locations: bool,
    verify: Callable[[torch._C.ScriptModule, list[_Trace]], None] | None,
    scripted: dict[torch.nn.Module, torch._C.ScriptModule],
) -> tuple[torch._C.ScriptModule, list[tuple[str, str]], list[_Trace]]: ...
def save(
    module: torch._C.ScriptModule | torch.jit.ScriptFunction[Any, Any],
    path: str,
    manifest: str,
    extra_files: dict[str, str | bytes],
) -> None: ...
def load(
    path: str, device: str | None
) -> tuple[torch._C.ScriptModule, str | None, dict[str, bytes]]: ...
def read_manifest(path: str) -> str | None: ...
def find_in_graph(graph: torch.Graph) -> dict[str, list[Any]]: ...
def compare_traces(a: torch.Graph, b: torch.Graph) -> list[tuple[str, Any, Any]] | None: ...
def devices_torch_function(
    self: Any, func: Any, types: Any, args: Any = (), kwargs: Any = None
) -> Any: ...
def optimize_for_inference(
    module: torch._C.ScriptModule, methods: Sequence[str], mkldnn: bool
) -> torch._C.ScriptModule: ...
def guard(tensor: torch.Tensor, kind: str, observed: object, message: str) -> bool: ...
def trace_mark() -> int | None: ...
def recorded_by_indexing(
    conversions: Sequence[tuple[torch.Tensor, int | None]], window: int
) -> list[bool]: ...
def tapped_method(
    original: Callable[..., Any], kind: str, hook: Callable[[torch.Tensor, str, Any], Any]
) -> Callable[..., Any]: ...
def class_taps(
    cls: type,
    names: Sequence[str],
    make: Callable[[type, tuple[object, ...]], list[tuple[str, object]]],
) -> tuple[Callable[[], None], Callable[[], None]]: ...
