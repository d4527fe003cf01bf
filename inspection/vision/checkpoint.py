"""Refuse a PyTorch checkpoint that could run code when Ultralytics loads it.

Ultralytics unpickles ``.pt`` files with ``weights_only=False`` (a detector checkpoint holds the
network's classes, not just tensors), and unpickling can call any function the file names. Before a
``.pt`` reaches Ultralytics, torch lists, without running anything, every global the pickle names
beyond its own weights-only allowlist; each must be a network layer class (a ``torch.nn.Module``
subclass from ``torch.nn.modules`` or ``ultralytics.nn``), whose pickled form only makes the object and
fills in its attributes, or one of the plain record types Ultralytics stores its training settings in. Anything else (``os.system``, ``builtins.exec``, ``subprocess.Popen``, ...) is
refused before loading, with the names in the message. A checkpoint from a trusted source that
references other classes must be re-exported; the ONNX model, the cell's default, has no such risk.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from inspection.errors import InputError

LAYER_MODULES = ("torch.nn.modules.", "ultralytics.nn.")
RECORD_TYPES = ("ultralytics.utils.IterableSimpleNamespace",)  # train_args in a training run's best.pt


def _is_layer_class(qualified: str) -> bool:
    module, _, name = qualified.rpartition(".")
    if not module.startswith(LAYER_MODULES):
        return False
    import torch

    try:
        value = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return False
    return isinstance(value, type) and issubclass(value, torch.nn.Module)


def check_checkpoint(path: str | Path) -> None:
    """Raise InputError naming the file and the globals unless every one is a layer class."""
    import torch

    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as exc:  # noqa: BLE001 - torch raises many types for files that are not checkpoints
        raise InputError(f"{path}: not a PyTorch zip checkpoint ({type(exc).__name__}: {exc})") from exc
    refused = sorted(name for name in unsafe if name not in RECORD_TYPES and not _is_layer_class(name))
    if refused:
        raise InputError(f"{path}: refused: it names {refused[:5]}, which are not network layers; a pickled "
                         "checkpoint can run code when loaded, so only torch and Ultralytics layer classes are "
                         "accepted")
