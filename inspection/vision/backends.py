"""Two ways to run the same exported YOLO detector: Ultralytics on the ``.pt`` weights, or ONNX Runtime
on the ``.onnx`` file with our own letterbox and NMS in numpy.

The ONNX path exists so that a robot cell can run the detector without torch or Ultralytics (a
smaller, faster and fixed runtime); its pre- and post-processing copy what Ultralytics' predictor
does (letterbox with grey 114 padding, RGB in [0, 1], class-aware greedy NMS), so that both backends
return the same boxes, which tests/test_vision_detector.py checks.

Both return, per image, an ``(N, 6)`` float array: x1, y1, x2, y2 (pixels of the given image),
confidence, class index; highest confidence first.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from inspection.errors import InputError
from inspection.vision.checkpoint import check_checkpoint

PAD_VALUE = 114  # Ultralytics' letterbox grey
# Like Ultralytics: class offsets larger than any image keep NMS from comparing boxes of different classes.
CLASS_OFFSET_PX = 7680.0
MAX_NMS_CANDIDATES = 30000


class Backend(Protocol):
    """One forward pass over a batch of RGB images, each of any size."""

    def infer(self, images_rgb: list[np.ndarray]) -> list[np.ndarray]:
        ...


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Scale ``image`` to fit a ``size`` square keeping its aspect, pad the rest with grey.

    Returns the padded image, the scale factor and the (left, top) padding, to map boxes back.
    """
    height, width = image.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = int(round(width * scale)), int(round(height * scale))
    pad_w, pad_h = (size - new_w) / 2, (size - new_h) / 2
    if (new_w, new_h) != (width, height):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(pad_h - 0.1)), int(round(pad_h + 0.1))
    left, right = int(round(pad_w - 0.1)), int(round(pad_w + 0.1))
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return padded, scale, (float(left), float(top))


def box_iou_one(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one corner-form box with each row of ``others``."""
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / (area + areas - inter + 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float, max_det: int) -> np.ndarray:
    """Indices kept by class-aware greedy NMS (a box is dropped when its IoU with a kept one exceeds ``iou``)."""
    order = np.argsort(-scores, kind="stable")[:MAX_NMS_CANDIDATES]
    shifted = boxes + (classes * CLASS_OFFSET_PX)[:, None]
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        best = order[0]
        keep.append(int(best))
        rest = order[1:]
        order = rest[box_iou_one(shifted[best], shifted[rest]) <= iou]
    return np.asarray(keep, dtype=int)


def decode_yolo_output(raw: np.ndarray, conf: float, iou: float, max_det: int) -> np.ndarray:
    """One image's YOLOv8/11 head output ``(4 + classes, anchors)`` -> ``(N, 6)`` in letterbox pixels."""
    scores_all = raw[4:].T
    classes = scores_all.argmax(axis=1)
    scores = scores_all[np.arange(len(classes)), classes]
    mask = scores > conf
    if not mask.any():
        return np.zeros((0, 6), dtype=np.float32)
    xywh, scores, classes = raw[:4, mask].T, scores[mask], classes[mask]
    boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
    keep = nms(boxes, scores, classes.astype(np.float32), iou, max_det)
    return np.concatenate([boxes[keep], scores[keep, None], classes[keep, None]], axis=1).astype(np.float32)


class OnnxBackend:
    """ONNX Runtime on a model exported by ``inspection train vision`` (dynamic batch, square input)."""

    def __init__(self, model_path: Path, imgsz: int, conf: float, iou: float, max_det: int = 300,
                 device: str = "cpu", threads: int = 0):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = onnxruntime.InferenceSession(str(model_path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors for broken files
            raise InputError(f"{model_path}: not a loadable ONNX model ({exc})") from exc
        self.input_name = self.session.get_inputs()[0].name
        self.imgsz, self.conf, self.iou, self.max_det = imgsz, conf, iou, max_det

    def infer(self, images_rgb: list[np.ndarray]) -> list[np.ndarray]:
        if not images_rgb:
            return []
        padded, scales, pads = [], [], []
        for image in images_rgb:
            boxed, scale, pad = letterbox(image, self.imgsz)
            padded.append(boxed)
            scales.append(scale)
            pads.append(pad)
        batch = np.ascontiguousarray(np.stack(padded).transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        outputs = self.session.run(None, {self.input_name: batch})[0]
        results = []
        for raw, scale, (left, top), image in zip(outputs, scales, pads, images_rgb):
            found = decode_yolo_output(raw, self.conf, self.iou, self.max_det)
            found[:, [0, 2]] = np.clip((found[:, [0, 2]] - left) / scale, 0, image.shape[1])
            found[:, [1, 3]] = np.clip((found[:, [1, 3]] - top) / scale, 0, image.shape[0])
            results.append(found)
        return results


class UltralyticsBackend:
    """Ultralytics' own predictor on ``.pt`` weights: the reference the ONNX path is checked against."""

    def __init__(self, model_path: Path, imgsz: int, conf: float, iou: float, max_det: int = 300,
                 device: str = "cpu"):
        from inspection import runtime

        runtime.configure_environment()
        from ultralytics import YOLO

        check_checkpoint(model_path)  # Ultralytics unpickles with weights_only=False
        try:
            self.model = YOLO(str(model_path), task="detect")
        except Exception as exc:  # Ultralytics raises many types for a wrong or damaged file
            raise InputError(f"{model_path}: not a loadable Ultralytics detector ({exc})") from exc
        self.imgsz, self.conf, self.iou, self.max_det, self.device = imgsz, conf, iou, max_det, device

    def infer(self, images_rgb: list[np.ndarray]) -> list[np.ndarray]:
        if not images_rgb:
            return []
        # Ultralytics reads numpy arrays as BGR (OpenCV order).
        sources = [np.ascontiguousarray(image[..., ::-1]) for image in images_rgb]
        results = self.model.predict(sources, imgsz=self.imgsz, conf=self.conf, iou=self.iou, max_det=self.max_det,
                                     device=self.device, verbose=False, half=False)
        out = []
        for result in results:
            boxes = result.boxes
            rows = np.concatenate([boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy()[:, None],
                                   boxes.cls.cpu().numpy()[:, None]], axis=1) if len(boxes) else np.zeros((0, 6))
            out.append(rows.astype(np.float32))
        return out
