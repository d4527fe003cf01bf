"""The exemplar patches of the Stage I explainer's most used latents, with their atlas labels (#16).

"Most used": most often among a detection's top latents over the evaluations recorded in the explainer's
sidecar (``latent_usage``, written by `inspection eval explain --record`). The patches are cut from the
atlas sprite: real photographs and simulated tiles the SAE was trained on. Whether a label fits its
exemplars is for a person to judge (docs/explain.md does, for the shipped explainer).

    .venv/bin/python bench/explain_top_latents.py [--explainer models/defect_explainer.pt] [--top 5] \\
        --out docs/images/explain_top_latents.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from inspection.explain.atlas import entries_by_id
from inspection.explain.exemplars import latent_exemplars, read_sprite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--explainer", type=Path, default=Path("models/defect_explainer.pt"))
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sidecar = json.loads(args.explainer.with_suffix(".json").read_text())
    atlas = entries_by_id(sidecar["atlas"])
    usage = sorted(sidecar["latent_usage"].items(), key=lambda item: -item[1])[:args.top]
    sprite = read_sprite(args.explainer)
    if sprite is None or not usage:
        raise SystemExit(f"{args.explainer}: no atlas sprite or no recorded latent usage (`inspection eval explain "
                         "--record LABEL` records it)")
    figure, axes = plt.subplots(len(usage), 1, figsize=(5.6, 1.1 * len(usage)), dpi=100, squeeze=False)
    for ax, (latent, count) in zip(axes[:, 0], usage):
        entry = atlas[int(latent)]
        ax.imshow(latent_exemplars(sprite, entry["sprite_cell"]), interpolation="nearest")
        ax.set_axis_off()
        ax.set_anchor("W")
        ax.set_title(f"latent {latent} (top-3 at {count} boxes): {entry['label']}", fontsize=9, loc="left")
        print(json.dumps({"latent": int(latent), "boxes": count, "label": entry["label"],
                          "class_precision": entry["class_precision"]}))
    figure.tight_layout()
    figure.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
