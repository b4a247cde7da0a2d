"""Which device and dtype a model loads on: automatic (CUDA GPU with the most free memory, then
Apple MPS, then CPU) or as configured. torch is imported when a model is first loaded."""

from __future__ import annotations

from typing import Any

from optillm_core import OptillmError


class DeviceError(OptillmError):
    """The configured device is not available on this machine."""

    code = "device_unavailable"


def _torch() -> Any:
    import torch

    return torch


def choose_device(preference: str) -> str:
    """The device for ``preference`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``)."""
    torch = _torch()
    cuda = torch.cuda.is_available()
    if preference == "auto":
        if cuda and torch.cuda.device_count() > 0:
            free = [torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count())]
            return f"cuda:{max(range(len(free)), key=lambda i: free[i])}"
        if _mps_available(torch):
            return "mps"
        return "cpu"
    if preference.startswith("cuda"):
        if not cuda:
            raise DeviceError(f"Device {preference!r} was configured but CUDA is not available.")
        _, _, index = preference.partition(":")
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise DeviceError(f"Device {preference!r} does not exist ({count} CUDA devices).")
        return preference if index else "cuda:0"
    if preference == "mps" and not _mps_available(torch):
        raise DeviceError("Device 'mps' was configured but MPS is not available.")
    return preference


def _mps_available(torch: Any) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def choose_dtype(preference: str, device: str) -> Any:
    """The torch dtype for ``preference`` on ``device`` (``auto``: by device capability)."""
    torch = _torch()
    if preference != "auto":
        return getattr(torch, preference)
    if device.startswith("cuda"):
        major, _ = torch.cuda.get_device_capability(device)
        if major >= 8:
            return torch.bfloat16
        return torch.float16 if major >= 7 else torch.float32
    if device == "mps":
        return torch.float16
    return torch.float32
