"""Score the explainer on a labelled dataset: mAP50 of the original detector, with the SAE spliced in,
and spliced with the LoRA adapters (one shared pass of the frozen layers), gap_closed, the SAE's FVU
and dead latents, the end-to-end time ratio, and the cost per image of each model; writes JSON."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, type=Path, help="labelled dataset folder or file")
    parser.add_argument("--json", required=True, type=Path, metavar="OUT", help="metrics JSON to write")
    parser.add_argument("--model", default="models/defect_detector.pt", help="the explained detector (.pt)")
    parser.add_argument("--explainer", default="models/defect_explainer.pt", type=Path,
                        help="explainer written by `inspection explain adapt`")
    parser.add_argument("--params", type=Path, help="parameter file (default config/pipeline.yaml)")
    parser.add_argument("--split", help="only this split (train, val, test)")
    parser.add_argument("--map", default="", metavar="OLD=NEW,...", help="rename dataset classes first")
    parser.add_argument("--agnostic", action="store_true", help="score any defect box against any class")
    parser.add_argument("--tile-size", type=int, help="override vision_node.tile_size (0 = no slicing)")
    parser.add_argument("--max-images", type=int, help="score this many images (a reproducible subset)")
    parser.add_argument("--record", metavar="LABEL",
                        help="store the result under LABEL (say simulated or real) in the explainer's sidecar and card")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from inspection.atomic import write_json_atomic
    from inspection.class_map import parse_class_map
    from inspection.config import load_node_params
    from inspection.errors import InputError
    from inspection.explain.evaluation import evaluate_explainer
    from inspection.outputs import check_output_file
    from inspection.progress import progress_bar
    from inspection.vision.detector import DetectorSettings, resolve_model_path

    check_output_file(args.json, "--json")
    model = resolve_model_path(args.model)
    if model.suffix != ".pt":
        raise InputError(f"--model {args.model}: the explainer needs the PyTorch weights (.pt)")
    if args.max_images is not None and args.max_images < 1:
        raise InputError(f"--max-images {args.max_images}: must be at least 1")
    if not args.dataset.exists():
        raise InputError(f"--dataset {args.dataset}: not found")
    overrides = {"tile_size": args.tile_size} if args.tile_size is not None else {}
    settings = DetectorSettings.from_params(load_node_params("vision_node", args.params, overrides))
    bar = progress_bar(unit="img", desc="eval explain")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    result = evaluate_explainer(model, args.explainer, args.dataset, replace(settings, class_map=""),
                                split=args.split, class_map=parse_class_map(args.map), agnostic=args.agnostic,
                                max_images=args.max_images, progress=progress)
    bar.close()
    write_json_atomic(args.json, result)
    gap = result["gap_closed"]
    seconds = result["model_seconds_per_image"]
    print(f"{result['images']} images: mAP50 original {result['map50_original']:.3f}, SAE spliced "
          f"{result['map50_sae']:.3f}, SAE + LoRA {result['map50_sae_lora']:.3f}; gap_closed "
          f"{'n/a (no gap)' if gap is None else f'{gap:.2f}'}; distillation KL to the original: SAE "
          f"{result['kl_sae']:.4f}, SAE + LoRA {result['kl_sae_lora']:.4f} (kl_gap_closed {result['kl_gap_closed']:.2f}); FVU {result['fvu']:.3f}, dead "
          f"{result['dead_fraction']:.1%}, e2e_time_ratio {result['e2e_time_ratio']:.2f}; s/image original "
          f"{seconds['original']:.2f}, explained {seconds['sae_lora']:.2f} (+{result['explain_latency_cost']:.0%})")
    boot = result["bootstrap"]

    def span(values: list[float] | None) -> str:
        return "n/a" if values is None else f"[{values[0]:+.3f}, {values[1]:+.3f}]"

    print(f"{boot['rounds']} paired resamples of the images, 5-95 %: SAE cost {span(boot['sae_cost_90'])} mAP50, "
          f"won back by LoRA {span(boot['lora_gain_90'])}, gap_closed {span(boot['gap_closed_90'])} "
          f"(the SAE costs mAP50 in {boot['share_of_rounds_with_a_gap']:.0%} of them)")
    print(f"wrote {args.json}")
    if args.record:
        from inspection.explain.card import record_evaluation

        record_evaluation(args.explainer, args.record, result)
        print(f"recorded as {args.record!r} in {args.explainer.with_suffix('.json')} and {args.explainer.with_suffix('.md')}")
    return 0
