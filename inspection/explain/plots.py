"""Pictures of explanations: a frame with its detections, and beside each the exemplar patches (from
the atlas sprite) of the latents that fired most at it."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from inspection.explain.exemplars import latent_exemplars, read_sprite
from inspection.explain.explainer import ExplainerFiles
from inspection.records import Detection2D

MAX_DETECTIONS_SHOWN = 8


def explanation_png(image: np.ndarray, detections: list[Detection2D], explainer_path: Path) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    atlas = ExplainerFiles.load(explainer_path).atlas
    sprite = read_sprite(explainer_path)
    shown = sorted(detections, key=lambda d: -d.confidence)[:MAX_DETECTIONS_SHOWN]
    rows = max(1, len(shown))
    figure = plt.figure(figsize=(14, max(4.0, 1.3 * rows)), dpi=100)
    frame_axes = figure.add_axes((0.0, 0.0, 0.5, 1.0))
    frame_axes.imshow(image)
    frame_axes.set_axis_off()
    for number, detection in enumerate(shown, 1):
        frame_axes.add_patch(plt.Rectangle((detection.x1, detection.y1), detection.x2 - detection.x1,
                                           detection.y2 - detection.y1, fill=False, color="yellow", lw=1.5))
        frame_axes.text(detection.x1, detection.y1 - 4, f"{number} {detection.class_name} {detection.confidence:.2f}",
                        color="yellow", fontsize=8, backgroundcolor="black")
    for number, detection in enumerate(shown, 1):
        top = 1.0 - number / rows
        for slot, evidence in enumerate(detection.explanation):
            entry = atlas.get(evidence.latent)
            axes = figure.add_axes((0.52 + slot * 0.16, top + 0.15 / rows, 0.15, 0.6 / rows))
            if sprite is not None and entry is not None:
                axes.imshow(latent_exemplars(sprite, entry["sprite_cell"]))
            axes.set_axis_off()
            axes.set_title(f"#{number} L{evidence.latent} {evidence.activation:.2f}\n{evidence.label}", fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
