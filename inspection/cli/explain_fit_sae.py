"""Train the explainer's TopK sparse autoencoder on the Stage I detector's neck activations (layer 16)
over training images, measure its held-out FVU and dead latents, and build the latent atlas.
Writes sae.pt, atlas.json and atlas.png into --out for `inspection explain adapt`."""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DATASETS = ["runs/vision/sim-train-s2000-t640", "runs/vision/aircraft-skin-split/aircraft-skin"]
REAL_PHOTO_MAP = "paint-off=paint_loss,missing-head=missing_fastener"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="models/defect_detector.pt", help="the detector to explain (.pt)")
    parser.add_argument("--dataset", action="append", type=Path, metavar="DIR",
                        help=f"labelled training dataset (its train split); repeatable (default: {DEFAULT_DATASETS})")
    parser.add_argument("--map", default=REAL_PHOTO_MAP, metavar="OLD=NEW,...", help="rename dataset classes")
    parser.add_argument("--images-per-dataset", type=int, default=100, help="training images taken from each dataset")
    parser.add_argument("--expansion", type=int, default=8, help="latents per channel of the layer (width / 64)")
    parser.add_argument("--k", type=int, default=8, help="active latents per position (TopK)")
    parser.add_argument("--steps", type=int, default=600, help="SAE training steps")
    parser.add_argument("--batch", type=int, default=4096, help="positions per SAE step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/explain/sae"), help="folder for sae.pt and the atlas")


def run(args: argparse.Namespace) -> int:
    import torch

    from inspection.class_map import parse_class_map
    from inspection.errors import InputError
    from inspection.explain.fit import fit_explainer_sae
    from inspection.outputs import check_output_folder
    from inspection.vision.detector import resolve_model_path

    model = resolve_model_path(args.model)
    if model.suffix != ".pt":
        raise InputError(f"--model {args.model}: the explainer needs the PyTorch weights (.pt)")
    for name, value in (("--expansion", args.expansion), ("--k", args.k), ("--steps", args.steps),
                        ("--batch", args.batch)):
        if value < 1:
            raise InputError(f"{name} {value}: must be at least 1")
    datasets = args.dataset or [Path(d) for d in DEFAULT_DATASETS]
    for dataset in datasets:
        if not dataset.exists():
            raise InputError(f"--dataset {dataset}: not found")
    check_output_folder(args.out, "--out")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    summary = fit_explainer_sae(model, datasets, parse_class_map(args.map), args.out,
                                per_dataset=args.images_per_dataset, expansion=args.expansion, k=args.k,
                                steps=args.steps, batch=args.batch, seed=args.seed, log=print)
    print(f"SAE {summary['sae']['num_latents']} latents, k {summary['sae']['k']} on layer {summary['layer']}: "
          f"held-out FVU {summary['fvu']:.4f}, dead latents {summary['dead_fraction']:.1%}, "
          f"{summary['live_latents']} in the atlas; {summary['seconds']:.0f} s; wrote {args.out}")
    return 0
