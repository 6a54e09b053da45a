"""The device a command runs on, checked before any work (approx/devices.py): one line, exit 2, when absent."""

from __future__ import annotations

from approx import devices
from experiments.user_errors import user_input


def check(device: str, dtype: str = "float64") -> str:
    """``device`` if it is usable here (and ``dtype`` on it), else a UserError of one line."""
    with user_input("--device"):
        name = devices.resolve(device)
        if dtype == "tf32" and not name.startswith("cuda"):
            raise ValueError("dtype tf32 needs a CUDA device")
    return name
