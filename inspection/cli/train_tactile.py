"""Train the Stage II tactile classifier on frames from `inspection sim tactile`; writes the weights
(torch state_dict) and a JSON sidecar with classes, seed, epochs and metrics."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="training frames (from `inspection sim tactile`)")
    parser.add_argument("--val", help="validation frames (another seed); metrics go to the sidecar")
    parser.add_argument("--epochs", type=int, default=14, help="epochs (default 14)")
    parser.add_argument("--out", default="models/tactile_classifier.pt", help="weights file to write")
    parser.add_argument("--calibration", default="models/tactile_calibration.npz", help="colour-to-slope lookup")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="training device")
    parser.add_argument("--seed", type=int, default=0, help="seed for initialisation, order and augmentation")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")


def run(args: argparse.Namespace) -> int:
    import io
    import json
    import time
    from pathlib import Path

    import numpy as np
    import torch

    from inspection.atomic import write_bytes_atomic, write_json_atomic
    from inspection.errors import InputError
    from inspection.outputs import check_output_file
    from inspection.records import TACTILE_CLASSES
    from inspection.tactile import classifier, training
    from inspection.tactile.evaluate import classification_metrics

    check_output_file(args.out, "--out")
    check_output_file(Path(args.out).with_suffix(".json"), "--out (its .json sidecar)")
    if args.epochs < 1:
        raise InputError(f"--epochs: need at least 1, got {args.epochs}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device here; use --device cpu")
    torch.set_num_threads(max(1, args.threads))
    started = time.perf_counter()
    inputs, targets, _ = training.prepare_inputs(args.dataset, args.calibration)
    network, history = training.train(inputs, targets, args.epochs, args.seed, args.device)
    meta = {
        "classes": list(TACTILE_CLASSES), "input_hw": list(classifier.INPUT_HW),
        "diff_scale": classifier.DIFF_SCALE, "height_scale": classifier.HEIGHT_SCALE,
        "train_dataset": str(args.dataset), "train_frames": int(len(targets)), "epochs": args.epochs,
        "seed": args.seed, "device": args.device, "calibration": str(args.calibration), "history": history,
        "train_seconds": round(time.perf_counter() - started, 1),
        "parameters": int(sum(p.numel() for p in network.parameters())),
    }
    if args.val:
        val_inputs, val_targets, _ = training.prepare_inputs(args.val, args.calibration)
        with torch.inference_mode():
            probabilities = torch.softmax(network(torch.from_numpy(val_inputs)), 1).numpy()
        meta["validation"] = {"dataset": str(args.val), **classification_metrics(
            val_targets.tolist(), np.argmax(probabilities, 1).tolist())}
    buffer = io.BytesIO()
    torch.save(network.state_dict(), buffer)
    write_bytes_atomic(args.out, buffer.getvalue())
    write_json_atomic(Path(args.out).with_suffix(".json"), meta)
    summary = f"val accuracy {meta['validation']['accuracy']:.3f}" if args.val else \
        f"train accuracy {history[-1]['train_accuracy']:.3f}"
    print(f"trained {args.epochs} epochs on {len(targets)} frames in {meta['train_seconds']} s, "
          f"{summary} -> {args.out}")
    print(json.dumps(meta.get("validation", {}).get("per_class", {})))
    return 0
