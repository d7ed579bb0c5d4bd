"""Names for traced values: the user's local variable bound to a tensor, as torch.jit.trace
gives them. Asked by the tracer (through the binding) only with ``record_source_locations=True``."""

import sys
from typing import Any

from ._errors import user_frame


def local_name(tensor: Any) -> str:
    """The name of a local variable bound to `tensor` (the very object), searching the user's
    frames (see user_frame) outward; "" if none. Skips ``self`` and dunder names."""
    frame = user_frame(sys._getframe(1))
    while frame is not None:
        for name, value in frame.f_locals.items():
            if value is tensor and name != "self" and not name.startswith("__"):
                return str(name)
        frame = frame.f_back
    return ""
