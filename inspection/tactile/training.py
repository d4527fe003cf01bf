"""Training of the tactile classifier on simulated frames, with augmentation for what changes between
sessions and sensors: lighting drift, noise, gel ageing (contrast loss) and small rotations.

Frames are reconstructed once; the augmentations act on the network inputs (difference channels and
height residual), which is what drift, noise and contrast loss do to them to first order.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

from inspection.records import TACTILE_CLASSES


def prepare_inputs(dataset_dir: str | Path, calibration_path: str | Path, progress: bool = True,
                   ) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Network inputs (N, 4, H, W), class indices (N,) and labels of a dataset written by `sim tactile`."""
    from inspection.errors import InputError
    from inspection.datasets.tactile import TactileDataset
    from inspection.progress import progress_bar
    from inspection.tactile.calibration import Calibration
    from inspection.tactile.classifier import network_input
    from inspection.tactile.measure import on_part
    from inspection.tactile.reconstruct import Reconstructor

    dataset = TactileDataset(dataset_dir)
    if dataset.meta.get("kind") != "defects":
        raise InputError(f"{dataset_dir}: a {dataset.meta.get('kind')!r} dataset; training needs defect presses")
    reconstructor = Reconstructor(Calibration.load(calibration_path), dataset.background)
    inputs, targets, labels = [], [], []
    for frame, label in progress_bar(dataset, total=len(dataset), desc="reconstruct", unit="frame", enabled=progress):
        if label["class_name"] not in TACTILE_CLASSES:
            raise InputError(f"{dataset_dir}: label {label.get('frame')} has class {label['class_name']!r}")
        inputs.append(network_input(*on_part(reconstructor.reconstruct(frame))))  # what Stage II will show it
        targets.append(TACTILE_CLASSES.index(label["class_name"]))
        labels.append(label)
    return np.stack(inputs), np.asarray(targets, np.int64), labels


def augment(batch: "torch.Tensor", generator: "torch.Generator") -> "torch.Tensor":
    """Random contrast loss, drift, noise and a small rotation, applied in place of the raw-frame effects."""
    import math

    import torch
    import torch.nn.functional as F

    n = batch.shape[0]
    contrast = torch.empty(n, 1, 1, 1).uniform_(0.65, 1.1, generator=generator)
    batch = batch * contrast
    drift = torch.randn(n, 3, 1, 1, generator=generator) * 0.03
    batch[:, :3] = batch[:, :3] + drift
    batch = batch + torch.randn(batch.shape, generator=generator) * 0.02
    angle = (torch.rand(n, generator=generator) - 0.5) * 2 * math.radians(8)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros(n)], 1), torch.stack([sin, cos, torch.zeros(n)], 1)], 1)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    return F.grid_sample(batch, grid, padding_mode="border", align_corners=False)


def train(inputs: np.ndarray, targets: np.ndarray, epochs: int, seed: int, device: str = "cpu",
          batch_size: int = 64, lr: float = 3e-3, progress: bool = True) -> tuple["torch.nn.Module", list[dict]]:
    """Train from scratch; returns (network, history)."""
    import torch
    from torch import nn

    from inspection.progress import progress_bar
    from inspection.tactile.classifier import build_network

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    network = build_network().to(device)
    optimiser = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * max(1, int(np.ceil(len(inputs) / batch_size)))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    data = torch.from_numpy(inputs)
    labels = torch.from_numpy(targets)
    history = []
    for epoch in progress_bar(range(epochs), desc="train", unit="epoch", enabled=progress):
        network.train()
        order = torch.randperm(len(data), generator=generator)
        total, correct, loss_sum, started = 0, 0, 0.0, time.perf_counter()
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2:
                continue  # batch norm needs two samples
            x = augment(data[idx].clone(), generator).to(device)
            y = labels[idx].to(device)
            logits = network(x)
            loss = loss_fn(logits, y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            total += len(idx)
        history.append({"epoch": epoch + 1, "loss": round(loss_sum / max(total, 1), 4),
                        "train_accuracy": round(correct / max(total, 1), 4),
                        "seconds": round(time.perf_counter() - started, 1)})
    network.eval()
    return network.cpu(), history
