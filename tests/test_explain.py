"""The explainer (inspection.explain): the TopK SAE, the splice into the shipped detector, LoRA training
only adapters, the distillation objective, explanations through the detector's merge and the report,
and the CLI's bad-input messages. Tiny inputs (64-px frames) so the whole file runs in seconds."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from inspection.explain.distill import distillation_loss
from inspection.explain.explainer import box_latents
from inspection.explain.sae import ConvSae, fit_sae, fraction_of_variance_unexplained, latent_firing_counts, rms_scale
from inspection.explain.splice import (
    SPLICE_LAYER, SaeSplice, add_lora, lora_target_modules, merge_lora, run_from_splice, run_to_splice,
)
from inspection.errors import InputError
from inspection.fusion.report import write_report
from inspection.records import Detection2D, FusedDefect, InspectionReport, LatentEvidence, ReportSummary, Source
from inspection.vision.detector import DefectDetector, DetectorSettings
from tests.conftest import run_cli

DETECTOR = Path(__file__).resolve().parents[1] / "models" / "defect_detector.pt"


def identity_sae(channels: int) -> ConvSae:
    """A real ConvSae that reconstructs exactly: latents +e_c and -e_c, k = channels (one of each pair fires)."""
    sae = ConvSae(channels, 2 * channels, channels)
    eye = torch.eye(channels)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye]))
        sae.W_dec.copy_(torch.cat([eye, -eye]))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def test_topk_keeps_k_latents_per_position_and_training_reconstructs() -> None:
    generator = torch.Generator().manual_seed(1)
    # Vectors that are sparse combinations of 24 directions: what a TopK SAE should recover.
    dictionary = torch.randn(24, 8, generator=generator)
    codes = torch.rand(3000, 24, generator=generator) * (torch.rand(3000, 24, generator=generator) < 0.1)
    vectors = codes @ dictionary
    sae = ConvSae(8, 48, 4, rms_scale(vectors))
    acts, indices = sae.encode(torch.randn(2, 8, 5, 7))
    assert acts.shape == indices.shape == (2, 4, 5, 7)
    before = fraction_of_variance_unexplained(sae, vectors)
    fit_sae(sae, vectors, steps=150, batch=512, lr=3e-3)
    after = fraction_of_variance_unexplained(sae, vectors)
    assert after < 0.35 < before
    dense = sae.pre_activations(vectors[:100]).topk(4, dim=1)
    assert (dense.values >= 0).all()
    assert int(latent_firing_counts(sae, vectors[:100]).sum()) <= 100 * 4


def test_identity_sae_reconstructs_exactly() -> None:
    maps = torch.randn(2, 6, 4, 4)
    assert torch.allclose(identity_sae(6)(maps), maps, atol=1e-6)


@pytest.fixture(scope="module")
def detector():
    from inspection.explain.splice import load_detection_model

    return load_detection_model(DETECTOR)


def test_splice_changes_the_output_unless_the_sae_is_exact(detector) -> None:
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        original = detector(images)[0]
        exact = SaeSplice(detector, identity_sae(64))
        through_identity = detector(images)[0]
        exact.remove()
        lossy = SaeSplice(detector, ConvSae(64, 512, 2, scale=5.0))
        through_lossy = detector(images)[0]
        assert lossy.last_latents is not None and lossy.last_latents[1].shape[1] == 2
        lossy.remove()
        restored = detector(images)[0]
    assert torch.allclose(through_identity, original, atol=1e-4)
    assert not torch.allclose(through_lossy, original, atol=1e-3)
    assert torch.equal(restored, original)


def test_split_run_equals_the_whole_model(detector) -> None:
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        saved = run_to_splice(detector, images)
        layer = saved.pop(SPLICE_LAYER)
        assert torch.allclose(run_from_splice(detector, saved, layer)[0], detector(images)[0], atol=1e-4)


def test_lora_trains_only_adapters_after_the_splice_and_merges_exactly(detector) -> None:
    import copy

    model = add_lora(copy.deepcopy(detector), rank=2)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    assert all(int(name.split(".")[1]) > SPLICE_LAYER for name in lora_target_modules(detector))
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    images = torch.rand(1, 3, 64, 64)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        optimizer.zero_grad()
        model(images)[0][:, 4:].sum().backward()
        optimizer.step()
    assert all(torch.equal(p, frozen_before[n]) for n, p in model.named_parameters() if n in frozen_before)
    with torch.no_grad():
        adapted = model(images)[0]
        assert not torch.allclose(adapted, detector(images)[0], atol=1e-4)
        merged = merge_lora(model)
        assert not any("lora_" in name for name, _ in merged.named_parameters())
        assert torch.allclose(merged(images)[0], adapted, atol=1e-3)


def test_lora_on_all_layers_trains_before_the_splice_from_image_crops(detector) -> None:
    """Scope "all" adapts the layers before the splice too; its cache holds the crops themselves and runs the
    whole network, which must give what the cached layers give for the same frozen weights, so LoRA and the
    end-to-end baseline share one objective."""
    import copy

    from inspection.explain.distill import ImageDistillationCache, distill, held_out_rows, teacher_cache
    from inspection.explain.features import splice_inputs

    after, everywhere = lora_target_modules(detector), lora_target_modules(detector, "all")
    assert set(after) < set(everywhere) and any(int(name.split(".")[1]) < SPLICE_LAYER for name in everywhere)
    with pytest.raises(InputError, match="--lora-scope before"):
        lora_target_modules(detector, "before")
    crops = (torch.rand(11, 3, 64, 64, generator=torch.Generator().manual_seed(4)) * 255).to(torch.uint8)
    cache = teacher_cache(detector, splice_inputs(detector, crops))
    images = ImageDistillationCache(cache.teacher_boxes, cache.teacher_scores, images=crops)
    rows = torch.arange(4)
    with torch.no_grad():
        from_layers = cache.student(detector, identity_sae(64), rows)
        from_crops = images.student(detector, identity_sae(64), rows)
    assert torch.allclose(from_crops["scores"], from_layers["scores"], atol=0.05)
    student = add_lora(copy.deepcopy(detector), rank=2, scope="all")
    early = [p for n, p in student.named_parameters() if p.requires_grad and int(n.split(".")[1]) < SPLICE_LAYER
             and "lora_B" in n]
    assert early and all(not p.any() for p in early)  # peft starts B at zero: the adapted model is the original
    lossy = ConvSae(64, 512, 2, scale=5.0).requires_grad_(False)
    distill(student, lossy, images, [p for p in student.parameters() if p.requires_grad], steps=3, batch=2,
            lr=1e-2, seed=0, held_out=held_out_rows(len(images), 11))
    assert any(p.any() for p in early)  # the gradient reached the layers before the splice


def test_distillation_loss_is_zero_only_for_the_teacher() -> None:
    generator = torch.Generator().manual_seed(2)
    teacher = {"boxes": torch.randn(2, 64, 30, generator=generator), "scores": torch.randn(2, 8, 30, generator=generator)}
    assert float(distillation_loss(teacher, teacher, 16)) == pytest.approx(0.0, abs=1e-6)
    student = {"boxes": teacher["boxes"] + 0.5, "scores": teacher["scores"].flip(2)}
    assert float(distillation_loss(student, teacher, 16)) > 0.01


def test_distillation_is_scored_on_held_out_images_not_on_its_own_batches(detector) -> None:
    """The loss curve that "time to reach a loss" reads is the held-out score: the same for the same weights,
    taken before the first step and every EVAL_EVERY steps; a run can be stopped on it."""
    import copy

    from inspection.explain.distill import EVAL_EVERY, distill, held_out_loss, held_out_rows, teacher_cache

    rows = held_out_rows(crops=4 * 20, images=20)  # four crops of each of 20 images
    assert rows.tolist() == [0, 10, 20, 30, 40, 50, 60, 70]  # every crop of images 0 and 10, none of the others
    with torch.no_grad():
        saved = run_to_splice(detector, torch.rand(11, 3, 64, 64, generator=torch.Generator().manual_seed(3)))
    cache = teacher_cache(detector, saved)
    held_out = held_out_rows(len(cache), 11)
    lossy = ConvSae(64, 512, 2, scale=5.0).requires_grad_(False)
    student = add_lora(copy.deepcopy(detector), rank=2)
    before = held_out_loss(student, lossy, cache, held_out, int(detector.model[-1].reg_max))
    assert before > 0 and before == held_out_loss(student, lossy, cache, held_out, int(detector.model[-1].reg_max))
    adapters = [p for p in student.parameters() if p.requires_grad]
    curve = distill(student, lossy, cache, adapters, steps=EVAL_EVERY + 1, batch=2, lr=1e-3, seed=0, held_out=held_out)
    assert curve.steps == [0, EVAL_EVERY, EVAL_EVERY + 1] and curve.loss[0] == before and curve.seconds[0] == 0.0
    assert curve.learning_rate == [1e-3] * 3  # constant unless asked
    falling = distill(student, lossy, cache, adapters, steps=EVAL_EVERY * 2, batch=2, lr=1e-3, seed=0,
                      held_out=held_out, cosine=True)
    assert falling.learning_rate[0] == 1e-3 and falling.learning_rate[1] == pytest.approx(5e-4)
    assert falling.learning_rate[-1] == pytest.approx(0.0, abs=1e-12)
    sparse = distill(student, lossy, cache, adapters, steps=5, batch=2, lr=1e-3, seed=0, held_out=held_out,
                     eval_every=2)
    assert sparse.steps == [0, 2, 4, 5]
    stopped = distill(student, lossy, cache, adapters, steps=50, batch=2, lr=1e-3, seed=0, held_out=held_out,
                      stop_below=float("inf"))
    assert stopped.steps == [0]
    with pytest.raises(InputError, match="held-out crops"):
        distill(student, lossy, cache, adapters, steps=1, batch=2, lr=1e-3, seed=0, held_out=torch.arange(len(cache)))


def test_box_latents_pick_the_latent_strongest_inside_the_box() -> None:
    acts, indices = torch.zeros(2, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long)
    indices[0], indices[1] = 3, 4
    acts[0, 2:4, 2:4] = 1.0  # latent 3 fires in the box's cells
    acts[1, 6:, 6:] = 5.0  # latent 4 fires strongly, but outside the box
    pairs = box_latents(acts, indices, np.array([16.0, 16.0, 32.0, 32.0]), 8.0, 10)
    assert int(pairs[0]) == 3 and pairs[1] == pytest.approx(1.0)
    assert int(pairs[2]) == -1  # nothing else fired there


class ExplainedRows:
    """A backend returning fixed rows with two (latent, activation) pairs after the six columns."""

    def infer(self, images_rgb):
        return [np.array([[10, 10, 30, 30, 0.9, 1, 7, 2.5, 3, 0.5]], np.float32) for _ in images_rgb]


def test_explanations_travel_through_the_tile_merge_into_detections() -> None:
    names = ["scratch", "dent"]
    detector = DefectDetector(ExplainedRows(), names, DetectorSettings(tile_size=64, tile_overlap=0.5),
                              latent_labels={7: "dent: dark spot"})
    detections = detector.detect(np.zeros((100, 100, 3), np.uint8))
    assert detections and all(d.class_name == "dent" for d in detections)
    assert detections[0].explanation == (LatentEvidence(7, 2.5, "dent: dark spot"), LatentEvidence(3, 0.5, ""))


def test_report_round_trips_and_shows_the_explanation(tmp_path) -> None:
    evidence = (LatentEvidence(42, 1.25, "crack: dark vertical line or edge"),)
    defect = FusedDefect("d0", "crack", Source.VISION, 0.8, (0.0, 0.0, 0.0), (0, 0, 1), 1.0, 5.0,
                         explanation=evidence)
    report = InspectionReport("run_1", "panel", "2026-12-04T00:00:00Z", ReportSummary(0.5, 1.0, 1.0, 1, 10, 1.0),
                              [defect])
    html = write_report(tmp_path, report).read_text()
    assert "latent 42 (1.25)" in html and "crack: dark vertical line or edge" in html
    loaded = InspectionReport.from_json(json.loads((tmp_path / "report.json").read_text()))
    assert loaded.defects[0].explanation == evidence
    assert Detection2D.from_json(Detection2D(0, 0, 1, 1, "dent", 0.5, explanation=evidence).to_json()).explanation == evidence


@pytest.mark.parametrize("args, message", [
    (["eval", "explain", "--dataset", "no/such/dir", "--json", "out.json"], "--dataset no/such/dir: not found"),
    (["explain", "adapt", "--rank", "0"], "--rank 0: must be at least 1"),
    (["explain", "adapt", "--images-per-dataset", "0"], "--images-per-dataset 0: must be at least 1"),
    (["explain", "image", "no/such.png"], "no/such.png: image not found"),
    (["explain", "adapt", "--sae", "no/such/folder", "--out", "x.pt"], "no/such/folder/sae.pt: no fitted SAE"),
    (["explain", "fit-sae", "--k", "0"], "--k 0: must be at least 1"),
])
def test_cli_bad_input_is_one_line(args, message, tmp_path) -> None:
    result = run_cli(*args)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == f"error: {message}" or message in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_explainer_file_loads_exports_to_onnx_and_writes_its_card(detector, tmp_path) -> None:
    import copy
    import hashlib

    from inspection.explain.adapt import EXPLAINER_FORMAT
    from inspection.explain.card import write_card
    from inspection.explain.explainer import ExplainerFiles, export_onnx
    from inspection.explain.fit import save_torch_atomic
    from inspection.explain.splice import adapter_state

    sae = ConvSae(64, 512, 8, scale=5.0)
    adapted = add_lora(copy.deepcopy(detector), rank=2)
    path = tmp_path / "explainer.pt"
    save_torch_atomic(path, {"format": EXPLAINER_FORMAT, "detector_sha256": hashlib.sha256(DETECTOR.read_bytes()).hexdigest(),
                             "layer": SPLICE_LAYER, "sae_config": sae.config(), "sae_state": sae.state_dict(),
                             "lora_rank": 2, "lora_state": adapter_state(adapted)})
    summary = {"detector": DETECTOR.name, "detector_sha256": "0" * 64, "layer": SPLICE_LAYER, "sae": sae.config(),
               "steps": 1, "batch": 1, "sae_seconds": 1.0, "per_dataset": 1, "datasets": ["d"], "fvu": 0.2,
               "dead_fraction": 0.0, "live_latents": 1,
               "lora": {"rank": 2, "target_modules": 49, "parameters": 1, "steps": 1, "batch": 1, "crop": 320,
                        "per_dataset": 3, "lr": 1e-3, "cosine": True, "initial_loss": 1.0, "final_loss": 0.5, "seconds": 1.0},
               "e2e": {"lr": 1e-3, "e2e_reached_target": False, "e2e_steps_run": 3, "e2e_run_seconds": 9.0,
                       "e2e_time_ratio": 3.0}}
    atlas = [{"id": 7, "label": "crack: dark vertical line or edge", "firing_share": 0.1, "class_precision": {"crack": 0.5}}]
    (tmp_path / "explainer.json").write_text(json.dumps({"summary": summary, "atlas": atlas}))
    explainer = ExplainerFiles.load(path)
    assert explainer.atlas[7]["label"].startswith("crack")
    assert export_onnx(DETECTOR, explainer, tmp_path / "spliced.onnx", 64) < 1e-2
    card = write_card(path).read_text()
    assert "320-px crops of 6 training images (every tenth held out" in card and "(cosine to zero)" in card
    assert "e2e_time_ratio >= 3.00" in card and "crack: dark vertical line or edge" in card and "CC BY 4.0" in card
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not an explainer"):
        ExplainerFiles.load(tmp_path / "broken.pt")
    from inspection.explain.explainer import check_detector

    check_detector(explainer, DETECTOR)  # the detector it was trained around
    other = tmp_path / "other.pt"
    other.write_bytes(DETECTOR.read_bytes() + b"\0")  # one byte more: another detector
    with pytest.raises(InputError, match=r"explainer.pt: was trained around another detector than .*other.pt"):
        check_detector(explainer, other)


def test_adapters_before_the_splice_get_their_own_pass_in_the_comparison(detector) -> None:
    """With scope "all" the adapted model differs before the splice, so `eval explain` must not feed it the
    original's layers: its output is the whole adapted model's with the SAE spliced in, and its latents its own."""
    import copy

    from inspection.explain.explainer import VARIANTS, ExplainerFiles, SplicedModels, adapted_model
    from inspection.explain.splice import adapter_state

    sae = ConvSae(64, 512, 8, scale=5.0).requires_grad_(False)
    adapted = add_lora(copy.deepcopy(detector), rank=2, scope="all")
    with torch.no_grad():
        for name, parameter in adapted.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(len(name)))
    explainer = ExplainerFiles(DETECTOR, sae, 2, "all", adapter_state(adapted), "0" * 64, {"atlas": []})
    models = SplicedModels(DETECTOR, explainer, VARIANTS)
    assert models.adapted_trunk
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    out = models.run(images)
    whole = adapted_model(DETECTOR, explainer)
    splice = SaeSplice(whole, sae)
    with torch.no_grad():
        expected = whole(images)[0]
    splice.remove()
    assert torch.allclose(out["sae_lora"][0], expected, atol=1e-3)
    assert not torch.equal(out["sae_lora"][1][0], out["sae"][1][0])  # the adapted layers move the latents
    assert models.variant_seconds("sae_lora") == models.seconds["sae_lora"] > 0
    only = SplicedModels(DETECTOR, explainer, ("sae_lora",))  # as deployed: the adapted pass alone
    assert not only.adapted_trunk
    assert torch.allclose(only.run(images)["sae_lora"][0], expected, atol=1e-3)


def test_paired_bootstrap_brackets_the_gap_and_says_when_there_is_none() -> None:
    from inspection.datasets import Box
    from inspection.explain.evaluation import paired_bootstrap
    from inspection.vision.metrics import match_images

    names = ["dent"]
    truth = [(Box("dent", 0, 0, 10, 10),) for _ in range(20)]
    found = [[("dent", 0.9, 0, 0, 10, 10)] for _ in range(20)]
    half = [[("dent", 0.9, 0, 0, 10, 10)] if i % 2 else [("dent", 0.9, 50, 50, 60, 60)] for i in range(20)]
    perfect, _ = match_images(found, truth, names)
    weaker, _ = match_images(half, truth, names)
    closed = paired_bootstrap({"original": perfect, "sae": weaker, "sae_lora": perfect}, names, rounds=40)
    assert closed["gap_closed_90"] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert closed["share_of_rounds_with_a_gap"] == 1.0 and closed["sae_cost_90"][0] > 0.2
    none_won = paired_bootstrap({"original": perfect, "sae": weaker, "sae_lora": weaker}, names, rounds=40)
    assert none_won["lora_gain_90"] == [0.0, 0.0] and none_won["gap_closed_90"] == [0.0, 0.0]
    no_gap = paired_bootstrap({"original": perfect, "sae": perfect, "sae_lora": weaker}, names, rounds=40)
    assert no_gap["share_of_rounds_with_a_gap"] == 0.0 and no_gap["gap_closed_90"] is None
    assert no_gap["lora_gain_90"][1] < 0
