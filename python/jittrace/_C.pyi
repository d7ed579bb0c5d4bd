# Type stubs of jittrace's compiled module (csrc/python). Use the jittrace package instead.
from collections.abc import Callable, Sequence
from typing import Any, Final

import torch

BUILD_INFO: Final[dict[str, Any]]

def trace_function(
    func: Callable[..., Any],
    inputs: tuple[Any, ...],
    qualified_name: str,
    argument_names: Sequence[str],
    strict: bool,
    record_source_locations: bool,
) -> torch.jit.ScriptFunction: ...
def build_module(mod: torch.nn.Module) -> tuple[torch._C.ScriptModule, StateGuard]: ...
def trace_methods(
    module: torch._C.ScriptModule,
    methods: list[tuple[str, Callable[..., Any], tuple[Any, ...], Sequence[str]]],
    training: bool,
    set_mode: Callable[[bool], Any],
    strict: bool,
    respect_mode: bool,
    record_source_locations: bool,
) -> list[str]: ...

class StateGuard:
    def restore(self) -> list[str]: ...
