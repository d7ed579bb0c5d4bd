"""Checks, before the extension loads, that the running torch is the one jittrace was built with."""

from __future__ import annotations

import torch

__all__ = ["check_torch_version"]


def check_torch_version(built_with: str, running: str | None = None) -> None:
    """Raises ImportError unless `running` (default: torch.__version__) equals `built_with`.

    libtorch has no stable C++ ABI: an extension built against one torch release can crash or
    fail to load under another.
    """
    running = str(torch.__version__) if running is None else running
    if running != built_with:
        raise ImportError(
            f"jittrace was built against torch {built_with}, but torch {running} is installed; "
            "its compiled part works only with the torch it was built against. Either install "
            f"torch=={built_with}, or rebuild jittrace against the installed torch: "
            "`pip uninstall -y jittrace` then `pip install --no-build-isolation <jittrace source>`"
        )
