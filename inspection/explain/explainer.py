"""The shipped explainer at inference: the detector with the SAE spliced in and its LoRA adapters
merged, as a Stage I backend whose boxes carry the SAE latents that fired at them.

A backend row is x1, y1, x2, y2, confidence, class (as every backend's) followed by TOP_LATENTS
pairs (latent id, mean activation over the box's cells; id -1 when fewer latents fired there). The
detector's tile merge carries extra columns through with their box, so a merged box keeps the
latents of its most confident piece.
"""
from __future__ import annotations

import copy
import pickle
import io
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from inspection.errors import InputError
from inspection.explain.distill import distillation_loss
from inspection.explain.sae import ConvSae
from inspection.explain.splice import (
    LORA_SCOPES, SPLICE_LAYER, SaeSplice, add_lora, load_adapter_state, load_detection_model, merge_lora,
    run_from_splice, run_to_splice,
)
from inspection.json_codec import read_json_file
from inspection.vision.backends import decode_yolo_output, letterbox

if TYPE_CHECKING:
    from inspection.vision.detector import DefectDetector, DetectorSettings

EXPLAINER_FORMAT = 1
TOP_LATENTS = 3
VARIANTS = ("original", "sae", "sae_lora")  # what eval explain compares


@dataclass(frozen=True)
class ExplainerFiles:
    """The explainer's weights (SAE and LoRA adapters) and its sidecar (settings, metrics, atlas)."""

    path: Path
    sae: ConvSae
    lora_rank: int
    lora_scope: str  # LORA_SCOPES: "after" the splice only, or "all" (then the layers before it differ too)
    lora_state: dict[str, Tensor]
    detector_sha256: str
    sidecar: dict[str, Any]

    @property
    def atlas(self) -> dict[int, dict[str, Any]]:
        return {int(entry["id"]): entry for entry in self.sidecar["atlas"]}

    @staticmethod
    def load(path: str | Path) -> "ExplainerFiles":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: explainer not found; `inspection explain adapt` writes it")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if payload.get("format") != EXPLAINER_FORMAT or payload.get("layer") != SPLICE_LAYER:
                raise KeyError("format")
            sae = ConvSae.from_state(payload["sae_config"], payload["sae_state"])
            scope = str(payload.get("lora_scope", "after"))  # explainers written before the choice adapt after it
            if scope not in LORA_SCOPES:
                raise ValueError(f"lora_scope {scope!r}")
        except (RuntimeError, KeyError, ValueError, AttributeError, EOFError, pickle.UnpicklingError) as exc:
            raise InputError(f"{path}: not an explainer written by `inspection explain adapt` ({exc})") from exc
        sidecar = read_json_file(path.with_suffix(".json"))
        if not isinstance(sidecar, dict) or not isinstance(sidecar.get("atlas"), list):
            raise InputError(f"{path.with_suffix('.json')}: sidecar without an 'atlas' list")
        return ExplainerFiles(path, sae.requires_grad_(False), int(payload["lora_rank"]), scope, payload["lora_state"],
                              str(payload["detector_sha256"]), sidecar)


def check_detector(explainer: ExplainerFiles, detector_path: Path) -> None:
    import hashlib

    if hashlib.sha256(detector_path.read_bytes()).hexdigest() != explainer.detector_sha256:
        raise InputError(f"{explainer.path}: was trained around another detector than {detector_path}; "
                         "rerun `inspection explain fit-sae` and `inspection explain adapt`")


def adapted_model(detector_path: Path, explainer: ExplainerFiles) -> nn.Module:
    """The detector with the explainer's LoRA adapters folded into its convolutions."""
    model = add_lora(load_detection_model(detector_path), explainer.lora_rank, explainer.lora_scope)
    load_adapter_state(model, explainer.lora_state)
    return merge_lora(model).eval()


def _fused(model: nn.Module) -> nn.Module:
    return model.fuse(verbose=False) if hasattr(model, "fuse") else model


def box_latents(acts: Tensor, indices: Tensor, box: np.ndarray, stride: float, num_latents: int) -> np.ndarray:
    """The TOP_LATENTS latents with the largest mean activation over the cells whose centres lie in
    ``box`` (letterbox pixels; at least the cell holding its centre), as (id, activation) pairs."""
    _, height, width = acts.shape
    centres_x, centres_y = (np.arange(width) + 0.5) * stride, (np.arange(height) + 0.5) * stride
    cols = np.flatnonzero((centres_x >= box[0]) & (centres_x <= box[2]))
    rows = np.flatnonzero((centres_y >= box[1]) & (centres_y <= box[3]))
    if not len(cols):
        cols = np.array([min(width - 1, max(0, int((box[0] + box[2]) / 2 / stride)))])
    if not len(rows):
        rows = np.array([min(height - 1, max(0, int((box[1] + box[3]) / 2 / stride)))])
    cell_acts = acts[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].reshape(-1)
    cell_ids = indices[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].reshape(-1)
    cells = len(rows) * len(cols)
    mean = torch.bincount(cell_ids, weights=cell_acts.double(), minlength=num_latents) / cells
    values, ids = mean.topk(TOP_LATENTS)
    pairs = [(float(i) if v > 0 else -1.0, float(v)) for i, v in zip(ids.tolist(), values.tolist())]
    return np.asarray(pairs, dtype=np.float32).reshape(-1)


class SplicedModels:
    """The detector's frozen layers up to the splice, run once per batch, then whichever of the three
    tails is asked for: the original, with the SAE spliced in, or with the SAE and the LoRA adapters.
    Adapters that reach before the splice (``lora_scope`` "all") bring their own layers up to it, run
    for that variant alone (its time counts the whole network)."""

    def __init__(self, detector_path: Path, explainer: ExplainerFiles, variants: tuple[str, ...] = VARIANTS):
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            raise InputError(f"variants {unknown}: expected some of {list(VARIANTS)}")
        base = load_detection_model(detector_path)
        self.sae, self.variants = explainer.sae, variants
        self.tails: dict[str, nn.Module] = {}
        if "original" in variants or "sae" in variants:
            self.tails["base"] = _fused(copy.deepcopy(base))
        if "sae_lora" in variants:
            self.tails["adapted"] = _fused(adapted_model(detector_path, explainer))
        self.trunk = self.tails.get("base") or self.tails["adapted"]
        # The adapted variant needs its own pass before the splice unless it is the only one run, or its
        # adapters start after the splice (then every variant is identical up to it).
        self.adapted_trunk = ("sae_lora" in variants and "base" in self.tails and explainer.lora_scope != "after")
        self.seconds: dict[str, float] = {"trunk": 0.0, "sae_encode": 0.0, **{v: 0.0 for v in variants}}
        # Sum over images of each spliced variant's distillation loss to the original (held-out KL).
        self.kl_to_original: dict[str, float] = {v: 0.0 for v in variants if v != "original"}
        self.images_seen = 0

    def variant_seconds(self, variant: str) -> float:
        """Seconds so far that ``variant`` alone would have cost: the shared pass before the splice (or
        its own), the SAE's encoding where it is spliced in, and its layers after the splice."""
        if variant == "sae_lora" and self.adapted_trunk:
            return self.seconds[variant]  # timed whole: its own layers before the splice, the SAE, the rest
        shared = self.seconds["trunk"] + (self.seconds["sae_encode"] if variant != "original" else 0.0)
        return shared + self.seconds[variant]

    @torch.no_grad()
    def run(self, batch: Tensor) -> dict[str, tuple[Tensor, tuple[Tensor, Tensor] | None]]:
        """Per variant: decoded predictions (B, 4 + classes, A) and, where the SAE is spliced, its latents."""
        started = time.perf_counter()
        saved = run_to_splice(self.trunk, batch)
        layer = saved.pop(SPLICE_LAYER)
        self.seconds["trunk"] += time.perf_counter() - started
        out: dict[str, tuple[Tensor, tuple[Tensor, Tensor] | None]] = {}
        raws: dict[str, dict[str, Tensor]] = {}
        latents = None
        for variant in self.variants:
            started = time.perf_counter()
            if variant == "original":
                pred, raws[variant] = run_from_splice(self.tails["base"], saved, layer)
                out[variant] = (pred, None)
            elif variant == "sae_lora" and self.adapted_trunk:
                own = run_to_splice(self.tails["adapted"], batch)
                own_latents = self.sae.encode(own.pop(SPLICE_LAYER))
                pred, raws[variant] = run_from_splice(self.tails["adapted"], own, self.sae.decode(*own_latents))
                out[variant] = (pred, own_latents)
            else:
                if latents is None:
                    encode_started = time.perf_counter()
                    latents = self.sae.encode(layer)
                    self.seconds["sae_encode"] += time.perf_counter() - encode_started
                    started = time.perf_counter()
                tail = self.tails["base" if variant == "sae" else "adapted"]
                pred, raws[variant] = run_from_splice(tail, saved, self.sae.decode(*latents))
                out[variant] = (pred, latents)
            self.seconds[variant] += time.perf_counter() - started
        if "original" in raws:
            reg_max = int(self.trunk.model[-1].reg_max)
            for variant in self.kl_to_original:
                for b in range(len(batch)):
                    one = {k: v[b:b + 1] for k, v in raws[variant].items()}
                    teacher = {k: v[b:b + 1] for k, v in raws["original"].items()}
                    self.kl_to_original[variant] += float(distillation_loss(one, teacher, reg_max))
        self.images_seen += len(batch)
        return out


class ExplainingBackend:
    """A Stage I backend over ``SplicedModels``: the primary variant's rows are returned; the other
    variants' rows of the same images are kept, in order, for ``replay`` backends (one shared pass
    of the frozen layers serves all three in `inspection eval explain`)."""

    def __init__(self, models: SplicedModels, imgsz: int, conf: float, iou: float, max_det: int = 300,
                 explain_above: float | None = None):
        self.models, self.imgsz, self.conf, self.iou, self.max_det = models, imgsz, conf, iou, max_det
        # Boxes below this confidence get no latents (mAP runs keep every box down to 0.001; explaining
        # those would cost more than detecting); None explains every box.
        self.explain_above = conf if explain_above is None else explain_above
        self.latent_usage: Counter[int] = Counter()  # how often each latent is among a box's top latents
        self.primary = models.variants[0]
        self.pending: dict[str, deque[list[np.ndarray]]] = {v: deque() for v in models.variants[1:]}

    def infer(self, images_rgb: list[np.ndarray]) -> list[np.ndarray]:
        if not images_rgb:
            return []
        boxed = [letterbox(image, self.imgsz) for image in images_rgb]
        batch = torch.from_numpy(np.stack([b[0] for b in boxed])).permute(0, 3, 1, 2).float() / 255.0
        results = {variant: self._rows(pred, latents, boxed, images_rgb)
                   for variant, (pred, latents) in self.models.run(batch).items()}
        for variant, queue in self.pending.items():
            queue.append(results[variant])
        return results[self.primary]

    def _rows(self, pred: Tensor, latents: tuple[Tensor, Tensor] | None, boxed: list, images: list) -> list[np.ndarray]:
        width = 6 + 2 * TOP_LATENTS
        rows_per_image = []
        for b, (raw, (_, scale, (left, top)), image) in enumerate(zip(pred.numpy(), boxed, images)):
            found = decode_yolo_output(raw, self.conf, self.iou, self.max_det)
            rows = np.full((len(found), width), -1.0, dtype=np.float32)
            rows[:, :6] = found
            if latents is not None and len(found):
                acts, indices = latents[0][b], latents[1][b]
                stride = self.imgsz / acts.shape[-1]
                for r in np.flatnonzero(found[:, 4] >= self.explain_above):
                    rows[r, 6:] = box_latents(acts, indices, found[r, :4], stride, self.models.sae.num_latents)
                    self.latent_usage.update(int(i) for i in rows[r, 6::2] if i >= 0)
            rows[:, [0, 2]] = np.clip((rows[:, [0, 2]] - left) / scale, 0, image.shape[1])
            rows[:, [1, 3]] = np.clip((rows[:, [1, 3]] - top) / scale, 0, image.shape[0])
            rows_per_image.append(rows)
        return rows_per_image

    def replay(self, variant: str) -> "ReplayBackend":
        return ReplayBackend(self.pending[variant])


class ReplayBackend:
    """Returns, call by call, what the primary backend computed for another variant on the same images."""

    def __init__(self, queue: deque[list[np.ndarray]]):
        self.queue = queue

    def infer(self, images_rgb: list[np.ndarray]) -> list[np.ndarray]:
        if not images_rgb:
            return []
        rows = self.queue.popleft()
        if len(rows) != len(images_rgb):
            raise RuntimeError("replayed batch does not match: the evaluation must repeat the same calls")
        return rows


def explaining_detector(detector_path: Path, explainer_path: Path, settings: "DetectorSettings") -> "DefectDetector":
    """The deployable explained detector (vision_node.explain): one pass of the detector with the SAE
    spliced in and its adapters merged; each detection carries its top latents and their atlas labels."""
    from inspection.vision.detector import DefectDetector, model_class_names, read_metadata

    explainer = ExplainerFiles.load(explainer_path)
    check_detector(explainer, detector_path)
    models = SplicedModels(detector_path, explainer, ("sae_lora",))
    backend = ExplainingBackend(models, int(read_metadata(detector_path)["imgsz"]), settings.confidence,
                                settings.iou, settings.max_detections)
    labels = {latent: str(entry["label"]) for latent, entry in explainer.atlas.items()}
    return DefectDetector(backend, model_class_names(detector_path, settings.class_map), settings, labels)


def explaining_detector_from_params(params: Mapping[str, Any]) -> "DefectDetector":
    """vision_node.explain: the explained detector over the .pt weights of vision_node.model (its ONNX
    export has no splice), with vision_node.explainer and the node's slicing settings."""
    from inspection.vision.detector import DetectorSettings, resolve_model_path

    detector_path = resolve_model_path(params["model"]).with_suffix(".pt")
    if not detector_path.is_file():
        raise InputError(f"vision_node.explain: needs the PyTorch weights {detector_path} beside vision_node.model")
    return explaining_detector(detector_path, resolve_model_path(params["explainer"]),
                               DetectorSettings.from_params(params))


class _SplicedForExport(nn.Module):
    """The adapted detector with the SAE hooked in, returning the predictions and the latent maps."""

    def __init__(self, model: nn.Module, splice: SaeSplice):
        super().__init__()
        self.model, self.splice = model, splice

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        predictions = self.model(images)[0]
        acts, indices = self.splice.last_latents_for_export
        return predictions, acts, indices


def export_onnx(detector_path: Path, explainer: ExplainerFiles, out: Path, imgsz: int) -> float:
    """Write the spliced, adapted detector as ONNX (outputs: ``output0`` as the detector's own export,
    ``latent_acts`` and ``latent_ids`` (B, k, H, W) at the splice layer). Returns the largest absolute
    difference from PyTorch on one random input, as a check."""
    import onnxruntime

    from inspection.atomic import write_bytes_atomic

    model = _fused(adapted_model(detector_path, explainer))
    splice = SaeSplice(model, explainer.sae, keep_graph=True)
    wrapper = _SplicedForExport(model, splice).eval()
    sample = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(wrapper, sample, buffer, input_names=["images"],
                          output_names=["output0", "latent_acts", "latent_ids"], opset_version=17, dynamo=False,
                          dynamic_axes={name: {0: "batch"} for name in ("images", "output0", "latent_acts",
                                                                        "latent_ids")})
        reference = wrapper(sample)[0].numpy()
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    difference = float(np.abs(session.run(None, {"images": sample.numpy()})[0] - reference).max())
    write_bytes_atomic(out, buffer.getvalue())
    return difference
