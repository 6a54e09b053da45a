"""Which device a computation runs on: one check, with one clear line when the device is not there.

Every CUDA path of the lab is device-agnostic code with a ``device`` argument threaded through, so
the same logic runs (and is tested) on the CPU.
"""

from __future__ import annotations

import re

import torch

_NAME = re.compile(r"^(cpu|cuda)(:(\d{1,3}))?$")


def resolve(device: str | torch.device) -> str:
    """``device`` as a string torch accepts, or a ``ValueError`` saying why it cannot be used here."""
    text = str(device)
    match = _NAME.match(text)
    if match is None or (match.group(1) == "cpu" and match.group(2)):
        raise ValueError(f"unknown device {text!r}; valid: cpu, cuda, cuda:N")
    if match.group(1) == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {text!r} requested, but torch sees no CUDA device (torch {torch.__version__})")
        index = int(match.group(3) or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {text!r} requested, but torch sees {torch.cuda.device_count()} CUDA device(s)")
    return text
