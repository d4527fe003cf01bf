"""The explainer's model card (``defect_explainer.md``), written from its sidecar: how it was made,
what it measured, and the data it learnt from with its licence, as the detector's card does."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from inspection.atomic import write_json_atomic, write_text_atomic
from inspection.json_codec import read_json_file

AIRCRAFT_SKIN_CREDIT = (
    'Real photographs: "innovation-hangar-v2" (version 1), published on Roboflow Universe by the workspace '
    "innovation-hangar under the **CC BY 4.0** licence, as mirrored in the public GitHub repository "
    "cparyoto/Aircraft-Skin-Defect-Detection-YOLOv9-Vs.-RT-DETR (folder `datasets_2`).")
TOP_LATENTS_IN_CARD = 5


def most_used_latents(sidecar: dict[str, Any], count: int = TOP_LATENTS_IN_CARD) -> list[dict[str, Any]]:
    """The live latents that named the most detections on the evaluation sets, else the most active."""
    usage = sidecar.get("latent_usage") or {}
    atlas = sidecar["atlas"]
    if usage:
        ranked = sorted(atlas, key=lambda e: -usage.get(str(e["id"]), 0))
    else:
        ranked = sorted(atlas, key=lambda e: -e["firing_share"])
    return ranked[:count]


def _evaluation_rows(evaluations: dict[str, Any]) -> list[str]:
    rows = ["| data | images | mAP50 original | mAP50 SAE spliced | mAP50 SAE + LoRA | gap_closed | KL to original: "
            "SAE / SAE + LoRA (kl_gap_closed) | s/image original / explained |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for label, result in evaluations.items():
        gap = result["gap_closed"]
        seconds = result["model_seconds_per_image"]
        rows.append(f"| {label} | {result['images']} | {result['map50_original']:.3f} | {result['map50_sae']:.3f} | "
                    f"{result['map50_sae_lora']:.3f} | {'n/a (no gap)' if gap is None else f'{gap:.2f}'} | "
                    f"{result['kl_sae']:.3f} / {result['kl_sae_lora']:.3f} ({result['kl_gap_closed']:.2f}) | "
                    f"{seconds['original']:.2f} / {seconds['sae_lora']:.2f} |")
    return rows


def write_card(explainer_path: Path) -> Path:
    sidecar = read_json_file(explainer_path.with_suffix(".json"))
    s = sidecar["summary"]
    lora, e2e = s["lora"], s["e2e"]
    lines = [
        "# Stage I explainer: sparse autoencoder spliced into the detector, LoRA around it", "",
        f"Explains `{s['detector']}` (sha256 {s['detector_sha256'][:12]}). Written by `inspection explain fit-sae` "
        "and `inspection explain adapt`; do not edit by hand. After Chen, Engels & Tegmark, \"Low-Rank Adapting "
        "Models for Sparse Autoencoders\" (arXiv 2501.19406).", "",
        f"- Layer {s['layer']} (the last top-down neck block, 64 channels at stride 8, read by every detection scale): "
        f"TopK SAE with {s['sae']['num_latents']} latents, k = {s['sae']['k']}, trained {s['steps']} steps of "
        f"{s['batch']} positions ({s['sae_seconds']:.0f} s on CPU) on {2 * s['per_dataset']} training images "
        f"({s['per_dataset']} from each of {', '.join('`' + d + '`' for d in s['datasets'])}).",
        f"- Held-out FVU {s['fvu']:.3f}; dead latents {s['dead_fraction']:.1%}; {s['live_latents']} live latents "
        "in the atlas.",
        f"- peft LoRA rank {lora['rank']} on the {lora['target_modules']} dense convolutions "
        f"{'of the whole detector' if lora.get('scope') == 'all' else 'after the splice'} "
        f"({lora['parameters']} parameters), detector and SAE frozen, the original detector as teacher (class-score "
        f"Bernoulli KL + confidence-weighted box-distribution KL), {lora['steps']} steps of {lora['batch']} "
        f"{lora['crop']}-px crops of {2 * lora.get('per_dataset', s['per_dataset'])} training images (every tenth "
        f"held out of the updates to score the run), Adam lr {lora['lr']}"
        f"{' (cosine to zero)' if lora.get('cosine') else ''}: held-out distillation loss "
        f"{lora['initial_loss']:.3f} -> {lora['final_loss']:.3f} in {lora['seconds']:.0f} s of training on a "
        "shared 2-core CPU.",
        f"- End-to-end baseline (the SAE trained through the frozen detector, same objective, lr {e2e['lr']}): "
        + (f"reached LoRA's final held-out loss in {e2e['e2e_seconds']:.0f} s against LoRA's "
           f"{e2e['lora_seconds']:.0f} s"
           if e2e["e2e_reached_target"] else
           f"did not reach LoRA's final loss in {e2e['e2e_steps_run']} steps ({e2e['e2e_run_seconds']:.0f} s)")
        + f": e2e_time_ratio {'>= ' if not e2e['e2e_reached_target'] else ''}{e2e['e2e_time_ratio']:.2f} "
        "(above 1: LoRA is faster).", "",
        "Files: `defect_explainer.pt` (SAE and LoRA weights, tensors only), `defect_explainer.json` (settings, "
        "metrics, latent atlas), `defect_explainer_atlas.png` (three exemplar patches per live latent, 16 latents "
        "per row, in atlas order: `sprite_cell` [row, column] of each entry).", "",
    ]
    evaluations = sidecar.get("evaluations") or {}
    if evaluations:
        lines += ["## Measured (`inspection eval explain`, tiles of 640 as deployed)", "", *_evaluation_rows(evaluations), "",
                  "gap_closed = (mAP50 SAE + LoRA - mAP50 SAE) / (mAP50 original - mAP50 SAE); n/a where splicing "
                  "the SAE cost no mAP50. KL: the distillation loss of the spliced model to the original per model "
                  "input on these images (the paper's measure); kl_gap_closed = 1 - KL(SAE + LoRA) / KL(SAE). "
                  "Seconds per image on the shared 2-core CPU (PyTorch, fused), both models measured in the same run.",
                  ""]
    lines += ["## Most used latents", "", "| latent | label | class precision of its 64 strongest firings |",
              "| ---: | --- | --- |"]
    for entry in most_used_latents(sidecar):
        precision = ", ".join(f"{k} {v:.2f}" for k, v in sorted(entry["class_precision"].items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"| {entry['id']} | {entry['label']} | {precision or 'background only'} |")
    lines += ["", "Labels are automatic: the class most of a latent's strongest firings lie in (if at least 30%, "
              "else background) and a description of its exemplar patches' pixels (centre tone, line direction).", "",
              "## Data and licence", "", AIRCRAFT_SKIN_CREDIT,
              "Simulated tiles: made by `inspection sim dataset` (seed 2000, 640-px tiles).", ""]
    card = explainer_path.with_suffix(".md")
    write_text_atomic(card, "\n".join(lines))
    return card


def record_evaluation(explainer_path: Path, label: str, result: dict[str, Any]) -> None:
    """Store one `eval explain` result under ``label`` in the sidecar, add how often each latent named a
    detection to its usage counts, and rewrite the card."""
    path = explainer_path.with_suffix(".json")
    sidecar = read_json_file(path)
    evaluations = sidecar.setdefault("evaluations", {})
    previous = evaluations.get(label, {}).get("latent_usage", {})
    evaluations[label] = {k: v for k, v in result.items() if k != "variants"}
    usage = {str(k): int(v) for k, v in (sidecar.get("latent_usage") or {}).items()}
    for latent, count in previous.items():  # a re-recorded label replaces its earlier counts
        usage[str(latent)] = usage.get(str(latent), 0) - int(count)
    for latent, count in result["latent_usage"].items():
        usage[str(latent)] = usage.get(str(latent), 0) + int(count)
    sidecar["latent_usage"] = usage
    write_json_atomic(path, sidecar)
    write_card(explainer_path)
