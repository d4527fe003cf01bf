"""Stage II classifier: a small CNN on the background-normalised colour difference plus the height
residual from the local surface -> one of TACTILE_CLASSES (none or a felt defect class) with a confidence.

Inputs are (4, 120, 160): the three difference channels / DIFF_SCALE and the residual (mm) * HEIGHT_SCALE,
both area-averaged to half resolution. Weights are a plain state_dict (``torch.load(weights_only=True)``)
with a JSON sidecar that records classes, input size and training metrics.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from inspection.errors import InputError
from inspection.records import TACTILE_CLASSES
from inspection.tactile.reconstruct import Reconstruction

if TYPE_CHECKING:
    import torch

INPUT_HW = (120, 160)
DIFF_SCALE = 40.0
HEIGHT_SCALE = 10.0


def use_one_torch_thread() -> None:
    """Tactile inference on one CPU thread: the network is tiny, and OpenMP threads spinning on shared
    CPUs made a frame about 200x slower here (220 ms vs 1.2 ms with two threads under load)."""
    import torch

    torch.set_num_threads(1)


def network_input(reconstruction: Reconstruction, residual_mm: np.ndarray) -> np.ndarray:
    """The (4, H, W) float32 array the network sees."""
    size = (INPUT_HW[1], INPUT_HW[0])
    diff = cv2.resize(reconstruction.diff, size, interpolation=cv2.INTER_AREA) / DIFF_SCALE
    height = cv2.resize(residual_mm, size, interpolation=cv2.INTER_AREA) * HEIGHT_SCALE
    stacked = np.concatenate([diff, height[..., None]], axis=2).transpose(2, 0, 1)
    return np.clip(stacked, -5.0, 5.0).astype(np.float32)


def build_network(num_classes: int = len(TACTILE_CLASSES)) -> "torch.nn.Module":
    """Seven 3x3 conv blocks (four stride-2), global average + max pooling, one linear layer (~0.2 M weights)."""
    import torch
    from torch import nn

    def block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True))

    class TactileNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                block(4, 16, 2), block(16, 32, 2), block(32, 32), block(32, 64, 2), block(64, 64),
                block(64, 96, 2), block(96, 128),
            )
            self.dropout = nn.Dropout(0.2)
            self.head = nn.Linear(256, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = self.features(x)
            # Max pooling keeps a pit that covers a few pixels from being averaged away.
            pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
            return self.head(self.dropout(pooled))

    return TactileNet()


def _fold_batch_norms(network: "torch.nn.Module") -> "torch.nn.Module":
    """The network in eval mode with every conv + batch norm + ReLU block fused into one convolution
    (batch-norm scale and shift folded into its weights and bias): the same outputs to float rounding,
    three layers fewer to run per block. Together with channels-last memory this makes a frame about
    30 % faster on one CPU thread."""
    from torch.ao.quantization import fuse_modules

    groups = [[f"features.{i}.0", f"features.{i}.1", f"features.{i}.2"] for i in range(len(network.features))]
    return fuse_modules(network, groups)


@dataclass(frozen=True)
class Prediction:
    class_name: str
    confidence: float
    probabilities: dict[str, float]


class TactileClassifier:
    """Loads the shipped weights and classifies reconstructions."""

    def __init__(self, weights: str | Path, device: str = "cpu") -> None:
        import torch

        path = Path(weights)
        if not path.is_file():
            raise InputError(f"{path}: classifier weights not found (train with `inspection train tactile`)")
        sidecar = path.with_suffix(".json")
        try:
            self.meta: dict[str, Any] = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{sidecar}: unreadable classifier metadata ({exc})") from exc
        self.classes = tuple(self.meta.get("classes", TACTILE_CLASSES))
        unknown = [name for name in self.classes if name not in TACTILE_CLASSES]
        if unknown or len(set(self.classes)) != len(self.classes):
            raise InputError(f"{sidecar}: classes {list(self.classes)} must be distinct names from "
                             f"{list(TACTILE_CLASSES)} (unknown: {unknown})")
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means the file is not our weights
            raise InputError(f"{path}: not a tactile classifier state_dict ({exc})") from exc
        self.network = build_network(len(self.classes))
        try:
            self.network.load_state_dict(state)
        except RuntimeError as exc:
            raise InputError(f"{path}: weights do not fit the tactile classifier ({exc})") from exc
        self.network = _fold_batch_norms(self.network.eval()).to(device, memory_format=torch.channels_last)
        self.device = device

    @property
    def missing_classes(self) -> tuple[str, ...]:
        """Our classes this model never says: it was trained before they were added (e.g. missing_fastener)."""
        return tuple(name for name in TACTILE_CLASSES if name not in self.classes)

    def predict_batch(self, inputs: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C) for network inputs (N, 4, H, W)."""
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(np.ascontiguousarray(inputs)).to(self.device)
            logits = self.network(batch.contiguous(memory_format=torch.channels_last))
            return torch.softmax(logits, dim=1).cpu().numpy()

    def predict(self, reconstruction: Reconstruction, residual_mm: np.ndarray) -> Prediction:
        probabilities = self.predict_batch(network_input(reconstruction, residual_mm)[None])[0]
        best = int(np.argmax(probabilities))
        return Prediction(self.classes[best], float(probabilities[best]),
                          {c: round(float(p), 6) for c, p in zip(self.classes, probabilities)})
