"""The shipped YOLO detector as a torch module, cut at the layer the SAE explains.

SPLICE_LAYER is the last top-down neck block (``C3k2`` at index 16 of YOLO11n-P2: 64 channels at
stride 8, 80x80 positions on a 640 tile). Every detection scale reads it (P2 through the upsample
at 17, P3 directly at 21, P4 and P5 through 22 -> 25 -> 28), so a latent there can explain any box;
it has already mixed the backbone's edges with its context (defect semantics), and one position
covers 8x8 pixels, fine enough to point at a 16-pixel defect.

Splicing replaces that layer's output with the SAE's reconstruction through a forward hook
(``SaeSplice``), so Ultralytics' own graph runs unchanged and the hook can be removed again.
For training, ``run_to_splice`` and ``run_from_splice`` cut the same graph in two, so that the
frozen layers before the splice run once per image and not once per step.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from inspection.errors import InputError
from inspection.explain.sae import ConvSae

SPLICE_LAYER = 16
# Where the LoRA adapters go: "after" the splice only (the frozen layers before it run once per image
# and are cached), or on "all" the detector's dense convolutions, as the paper adapts every layer: the
# layers before the splice can then learn to hand the SAE activations it reconstructs better.
LORA_SCOPES = ("after", "all")


def load_detection_model(path: str | Path) -> nn.Module:
    """The Ultralytics DetectionModel of ``path`` in float32 eval mode, every parameter frozen."""
    from inspection import runtime
    from inspection.vision.checkpoint import check_checkpoint

    runtime.configure_environment()
    from ultralytics import YOLO

    check_checkpoint(Path(path))
    try:
        model = YOLO(str(path), task="detect").model.float().eval()
    except Exception as exc:  # Ultralytics raises many types for a wrong or damaged file
        raise InputError(f"{path}: not a loadable Ultralytics detector ({exc})") from exc
    check_splice_layer(model, path)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def check_splice_layer(model: nn.Module, path: str | Path) -> None:
    layers = getattr(model, "model", None)
    if layers is None or len(layers) <= SPLICE_LAYER + 1 or type(layers[SPLICE_LAYER]).__name__ != "C3k2":
        raise InputError(f"{path}: the explainer splices layer {SPLICE_LAYER} of a YOLO11n-P2 detector (a C3k2 "
                         "neck block); this model has another architecture")


def layer_channels(model: nn.Module) -> int:
    return int(model.model[SPLICE_LAYER].cv2.conv.out_channels)


def _sources(layer: nn.Module) -> list[int]:
    return [layer.f] if isinstance(layer.f, int) else list(layer.f)


def tail_inputs(model: nn.Module) -> tuple[int, ...]:
    """Layers before the splice whose outputs the layers after it read (skip connections): 2, 10, 13."""
    return tuple(sorted({j for layer in model.model[SPLICE_LAYER + 1:] for j in _sources(layer)
                         if 0 <= j < SPLICE_LAYER}))


def _run_layers(layers: Iterable[nn.Module], x: Tensor, outputs: dict[int, Tensor]) -> Any:
    for layer in layers:
        if layer.f != -1:
            x = outputs[layer.f] if isinstance(layer.f, int) else [x if j == -1 else outputs[j] for j in layer.f]
        x = layer(x)
        outputs[layer.i] = x
    return x


def run_to_splice(model: nn.Module, images: Tensor) -> dict[int, Tensor]:
    """Outputs of the layers up to the splice that the rest of the network needs, keyed by layer index."""
    outputs: dict[int, Tensor] = {}
    _run_layers(model.model[:SPLICE_LAYER + 1], images, outputs)
    return {i: outputs[i] for i in (*tail_inputs(model), SPLICE_LAYER)}


def raw_head(output: Any) -> dict[str, Tensor]:
    """Detect's raw per-anchor logits: 'boxes' (B, 4 x reg_max, A) and 'scores' (B, classes, A)."""
    raw = output[1] if isinstance(output, tuple) else output
    return {"boxes": raw["boxes"], "scores": raw["scores"]}


def run_from_splice(model: nn.Module, saved: dict[int, Tensor], spliced: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """The rest of the network from ``spliced`` (what layer SPLICE_LAYER hands on) and the saved skip inputs:
    decoded predictions (B, 4 + classes, A) and the raw head logits."""
    outputs = {**saved, SPLICE_LAYER: spliced}
    result = _run_layers(model.model[SPLICE_LAYER + 1:], spliced, outputs)
    return result[0], raw_head(result)


class SaeSplice:
    """A forward hook that hands on the SAE's reconstruction instead of the layer's output, keeping the
    last latents (top-k activations and indices, (B, k, H, W)) for explanations. ``remove()`` undoes it.
    ``keep_graph`` also keeps them undetached (``last_latents_for_export``), for an ONNX export to output."""

    def __init__(self, model: nn.Module, sae: ConvSae, keep_graph: bool = False):
        self.sae, self.keep_graph = sae, keep_graph
        self.last_latents: tuple[Tensor, Tensor] | None = None
        self.last_latents_for_export: tuple[Tensor, Tensor] | None = None
        self.handle = model.model[SPLICE_LAYER].register_forward_hook(self._replace)

    def _replace(self, _module: nn.Module, _inputs: Any, output: Tensor) -> Tensor:
        acts, indices = self.sae.encode(output)
        self.last_latents = (acts.detach(), indices.detach())
        if self.keep_graph:
            self.last_latents_for_export = (acts, indices)
        return self.sae.decode(acts, indices)

    def remove(self) -> None:
        self.handle.remove()


def lora_target_modules(model: nn.Module, scope: str = "after") -> list[str]:
    """Names of the dense convolutions (grouped depthwise ones have no low-rank form) that ``scope``
    adapts: those after the splice, or all of them."""
    if scope not in LORA_SCOPES:
        raise InputError(f"--lora-scope {scope}: expected one of {list(LORA_SCOPES)}")
    first_layer = SPLICE_LAYER + 1 if scope == "after" else 0
    names = []
    for name, module in model.named_modules():
        parts = name.split(".")
        if (isinstance(module, nn.Conv2d) and len(parts) > 1 and parts[0] == "model" and parts[1].isdigit()
                and int(parts[1]) >= first_layer and module.groups == 1):
            names.append(name)
    return names


def add_lora(model: nn.Module, rank: int, scope: str = "after", alpha: float | None = None) -> nn.Module:
    """Inject peft LoRA adapters (rank ``rank``) into the convolutions ``scope`` names, in place; only
    the adapters are trainable. Returns the model (its Conv2d modules now peft LoRA layers)."""
    from peft import LoraConfig, inject_adapter_in_model

    if rank < 1:
        raise InputError(f"--rank {rank}: must be at least 1")
    config = LoraConfig(r=rank, lora_alpha=alpha or rank, lora_dropout=0.0,
                        target_modules=lora_target_modules(model, scope), bias="none")
    model = inject_adapter_in_model(config, model)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_("lora_" in name)
    return model


def adapter_state(model: nn.Module) -> dict[str, Tensor]:
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}


def load_adapter_state(model: nn.Module, state: dict[str, Tensor]) -> None:
    from peft import set_peft_model_state_dict

    result = set_peft_model_state_dict(model, state)
    missing = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
    if missing:
        raise InputError(f"adapter weights do not fit this detector: {missing[:3]}")


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA adapter into its convolution and put the plain convolution back, so the result is
    an ordinary Ultralytics model (fusable, exportable) with the adapted weights."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, module.get_base_layer())
    return model
