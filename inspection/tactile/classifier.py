"""Stage II classifier: a small CNN on the background-normalised colour difference plus the height
residual from the local surface -> one of TACTILE_CLASSES (none or a felt defect class) with a confidence.

Inputs are (4, 120, 160): the three difference channels / DIFF_SCALE and the residual (mm) * HEIGHT_SCALE,
both area-averaged to half resolution. Weights are a plain state_dict (``torch.load(weights_only=True)``)
with a JSON sidecar that records classes, input size and training metrics. On the CPU the loaded network
runs in ONNX Runtime on one thread (built from the same weights at load, see ``_runtime_session``).
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
    """The (4, H, W) float32 array the network sees (written channel by channel into one array)."""
    size = (INPUT_HW[1], INPUT_HW[0])
    stacked = np.empty((4, *INPUT_HW), np.float32)
    diff = cv2.resize(reconstruction.diff, size, interpolation=cv2.INTER_AREA)
    np.divide(diff.transpose(2, 0, 1), np.float32(DIFF_SCALE), out=stacked[:3])
    height = cv2.resize(residual_mm.astype(np.float32, copy=False), size, interpolation=cv2.INTER_AREA)
    np.multiply(height, np.float32(HEIGHT_SCALE), out=stacked[3])
    return np.clip(stacked, -5.0, 5.0, out=stacked)


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


def _runtime_session(network: "torch.nn.Module") -> Any:
    """The fused network (:func:`_fold_batch_norms`) as an ONNX graph built from its weights, with the
    softmax, run by ONNX Runtime on one thread. On one CPU thread it takes about 1.1 ms per frame where
    torch's channels-last convolutions take 1.9 ms (bench/tactile.py); the weights are the same numbers,
    so the probabilities agree to float rounding (``tests/test_tactile_speed.py``). Built by hand rather
    than by ``torch.onnx.export``: that took 1.3 s at every load and its TorchScript exporter is deprecated."""
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    def constant(name: str, tensor: "torch.Tensor") -> str:
        initializers.append(numpy_helper.from_array(tensor.detach().cpu().numpy().astype(np.float32), name))
        return name

    nodes: list[Any] = []
    initializers: list[Any] = []
    previous = "inputs"
    for index, block in enumerate(network.features):
        conv = block[0][0]  # ConvReLU2d(conv, relu) after fusion; the batch norm is in the conv's weights
        weight, bias = constant(f"conv{index}.weight", conv.weight), constant(f"conv{index}.bias", conv.bias)
        nodes += [helper.make_node("Conv", [previous, weight, bias], [f"conv{index}"],
                                   kernel_shape=list(conv.kernel_size), strides=list(conv.stride),
                                   pads=[*conv.padding, *conv.padding]),
                  helper.make_node("Relu", [f"conv{index}"], [f"features{index}"])]
        previous = f"features{index}"
    head_weight, head_bias = constant("head.weight", network.head.weight), constant("head.bias", network.head.bias)
    nodes += [helper.make_node("GlobalAveragePool", [previous], ["mean"]),
              helper.make_node("GlobalMaxPool", [previous], ["max"]),
              helper.make_node("Concat", ["mean", "max"], ["pooled"], axis=1),
              helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
              helper.make_node("Gemm", ["flat", head_weight, head_bias], ["logits"], transB=1),
              helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    classes = network.head.out_features
    graph = helper.make_graph(
        nodes, "tactile_classifier",
        [helper.make_tensor_value_info("inputs", TensorProto.FLOAT, ["batch", 4, *INPUT_HW])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", classes])], initializers)
    # IR version 8 is what opset 17 needs; the onnx package would stamp its newest, which the runtime may not read.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


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
        # On the CPU the network runs in ONNX Runtime (faster on one thread); elsewhere in torch.
        self._session = _runtime_session(self.network) if device == "cpu" else None

    @property
    def missing_classes(self) -> tuple[str, ...]:
        """Our classes this model never says: it was trained before they were added (e.g. missing_fastener)."""
        return tuple(name for name in TACTILE_CLASSES if name not in self.classes)

    def predict_batch(self, inputs: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C) for network inputs (N, 4, H, W)."""
        if self._session is not None:
            return self._session.run(None, {"inputs": np.ascontiguousarray(inputs, np.float32)})[0]
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
