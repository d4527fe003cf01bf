"""Train peft LoRA adapters on the detector's convolutions after the spliced SAE, or on all of them
with ``--lora-scope all`` (detector and SAE frozen, the original detector as teacher), then the
end-to-end baseline (the SAE itself trained through the frozen detector with the same objective) for
the wall-time comparison. Writes the explainer (--out, default models/defect_explainer.pt) with its
.json sidecar (settings, metrics, latent atlas) and _atlas.png exemplar sprite."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="models/defect_detector.pt", help="the detector the SAE was fitted on")
    parser.add_argument("--sae", type=Path, default=Path("runs/explain/sae"), help="folder of `explain fit-sae`")
    parser.add_argument("--out", type=Path, default=Path("models/defect_explainer.pt"), help="explainer to write")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank")
    parser.add_argument("--lora-scope", choices=("after", "all"), default="after",
                        help="adapt the convolutions after the splice only (their inputs before it are cached: fast), "
                             "or all of them, as the paper adapts every layer (each step runs the whole network)")
    parser.add_argument("--steps", type=int, default=1500, help="LoRA training steps")
    parser.add_argument("--batch", type=int, default=4, help="crops per step")
    parser.add_argument("--crop", type=int, default=320,
                        help="train on aligned squares of this many pixels of each tile (0 = whole tiles)")
    parser.add_argument("--lr", type=float, default=1e-3, help="LoRA learning rate (Adam)")
    parser.add_argument("--lr-schedule", choices=("cosine", "constant"), default="cosine",
                        help="both runs' learning rate: falling to zero over their steps (cosine), or constant")
    parser.add_argument("--images-per-dataset", type=int, default=300,
                        help="training images taken from each of the SAE's datasets for the adapters, the SAE's "
                             "own first (it saw 100 of each by default): the paper trains LoRA on far more "
                             "tokens than an SAE batch holds; every tenth image is held out and scores the run")
    parser.add_argument("--e2e-steps", type=int, default=1500,
                        help="most steps of the end-to-end baseline (it stops once it reaches LoRA's final loss)")
    parser.add_argument("--e2e-lr", type=float, default=1e-3, help="end-to-end SAE learning rate (Adam)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--onnx", type=Path, metavar="OUT",
                        help="export only: write the spliced, adapted detector of --out (already trained) as ONNX "
                             "(outputs output0, latent_acts, latent_ids) and check it against PyTorch")


def run(args: argparse.Namespace) -> int:
    from inspection.errors import InputError
    from inspection.explain.adapt import adapt_explainer
    from inspection.outputs import check_output_file
    from inspection.vision.detector import resolve_model_path

    model = resolve_model_path(args.model)
    for name, value in (("--rank", args.rank), ("--steps", args.steps), ("--batch", args.batch),
                        ("--e2e-steps", args.e2e_steps), ("--images-per-dataset", args.images_per_dataset)):
        if value < 1:
            raise InputError(f"{name} {value}: must be at least 1")
    if args.out.suffix != ".pt":
        raise InputError(f"--out {args.out}: expected a .pt file name (its .json and _atlas.png go beside it)")
    if args.onnx is not None:
        from inspection.explain.explainer import ExplainerFiles, check_detector, export_onnx
        from inspection.vision.detector import read_metadata

        check_output_file(args.onnx, "--onnx")
        explainer = ExplainerFiles.load(args.out)
        check_detector(explainer, model)
        difference = export_onnx(model, explainer, args.onnx, int(read_metadata(model)["imgsz"]))
        print(f"wrote {args.onnx}: largest difference from PyTorch {difference:.2e} on a random input")
        return 0
    check_output_file(args.out, "--out")
    summary = adapt_explainer(model, args.sae, args.out, rank=args.rank, steps=args.steps, batch=args.batch, crop=args.crop,
                              lr=args.lr, e2e_steps=args.e2e_steps, e2e_lr=args.e2e_lr, seed=args.seed,
                              images_per_dataset=args.images_per_dataset, cosine=args.lr_schedule == "cosine",
                              scope=args.lora_scope, log=print)
    e2e = summary["e2e"]
    print(f"LoRA rank {args.rank}: held-out distillation loss {summary['lora']['initial_loss']:.4f} -> "
          f"{summary['lora']['final_loss']:.4f} in {summary['lora']['seconds']:.0f} s; e2e_time_ratio "
          f"{'>= ' if not e2e['e2e_reached_target'] else ''}{e2e['e2e_time_ratio']:.2f}; wrote {args.out}, "
          f"{args.out.with_suffix('.json')}, {args.out.with_name(args.out.stem + '_atlas.png')}")
    return 0
