"""What a campaign leaves beside its JSON: a markdown table (OUT with .md) and PNG plots (recall per
stage and class, per defect size, and presses against recall per ablation)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from inspection.atomic import write_bytes_atomic, write_text_atomic
from inspection.campaign.metrics import LOSSES


def _rate(value: float | None, found: int | None = None, total: int | None = None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" + (f" ({found}/{total})" if found is not None else "")


def _number(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _group_table(rows: dict[str, dict[str, Any]], label: str) -> list[str]:
    lines = [f"| {label} | defects | camera-visible | camera-resolvable | Stage I recall | Stage I precision "
             "| final recall | final precision |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, row in rows.items():
        if not row["defects"] and not row["stage1_reports"] and not row["final_reports"]:
            continue
        lines.append(
            f"| {name} | {row['defects']} | {row['camera_visible']} | {row['camera_resolvable']} "
            f"| {_rate(row['stage1_recall'], row['stage1_found'], row['defects'])} | {_rate(row['stage1_precision'])} "
            f"| {_rate(row['final_recall'], row['final_found'], row['defects'])} | {_rate(row['final_precision'])} |")
    return lines


def markdown(summary: dict[str, Any]) -> str:
    settings, headline = summary["settings"], summary["headline_ablation"]
    ablations = summary["ablations"]
    first = next(iter(ablations.values()))
    lines = [
        "# Evaluation campaign", "",
        f"{first['parts']} simulated parts (seed {settings['seed']}, part kind {settings['part_kind']}, "
        f"scale {settings['part_scale']}), {first['defects']} true defects, {first['camera_visible_defects']} of them "
        f"visible to the camera, {first['camera_resolvable_defects']} resolvable by its optics (large and contrasted "
        "enough above the sensor noise). Recall counts every true defect, the ones the camera cannot see included; "
        "matching is class-agnostic (the report's scoring). Per-part figures are means over the parts; arm "
        "cycle times are simulated arm seconds, photometric flashes are the camera's burst time per part "
        "(flashes x camera.photometric.flash_s), wall times are this machine's.", "",
        "| ablation | Stage I recall | Stage I recall, camera-visible | Stage I recall, resolvable | Stage I precision "
        "| final recall | final precision | vision-only recall | presses / part | false touch findings / 1000 presses "
        "| full-coverage presses / part | arm cycle / part (s) | photometric flashes / part (s) "
        "| full-coverage cycle / part (s) | depth MAE (mm) | wall s / part |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in ablations.items():
        counts = row["counts"]
        lines.append(
            f"| {name} | {_rate(row['stage1_recall'], counts['stage1_found'], row['defects'])} "
            f"| {_rate(row['stage1_recall_camera_visible'])} | {_rate(row['stage1_recall_resolvable'])} "
            f"| {_rate(row['stage1_precision'])} "
            f"| {_rate(row['final_recall'], counts['final_found'], row['defects'])} | {_rate(row['final_precision'])} "
            f"| {_rate(row['vision_only_recall'])} | {_number(row['tactile_presses'], 1)} "
            f"| {_number(row['false_findings_per_1000_presses'], 1)} "
            f"| {_number(row['full_coverage_presses'], 1)} | {_number(row['cycle_time_s'], 1)} "
            f"| {_number(row.get('burst_s', 0.0), 2)} | {_number(row['full_coverage_cycle_time_s'], 1)} "
            f"| {_number(row['depth_mae_mm'], 3)} (n={row['depth_measured']}) | {_number(row['wall_s_per_part'], 1)} |")
    lines += _budget_table(summary)
    lines += ["", "## Where the missed defects were lost", "",
              "Never flagged: Stage I handed the planner nothing on it. Flagged weak: only below fusion's "
              "reporting threshold, and touch did not confirm it. Flagged reportable: at or above it, and still "
              "lost. In brackets: how many of them lay under the gel of a press.", "",
              "| ablation | missed | never flagged | flagged weak | flagged reportable |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name, row in ablations.items():
        lost = row.get("lost")  # summaries stored before the breakdown have none
        if lost is None:
            continue
        pressed = row.get("under_a_press", dict.fromkeys(lost, 0))
        lines.append(f"| {name} | {sum(lost.values())} ({sum(pressed.values())}) | "
                     + " | ".join(f"{lost[kind]} ({pressed[kind]})" for kind in LOSSES) + " |")
    lines += ["", f"## Per class ({headline})", ""] + _group_table(summary["per_class"], "class")
    lines += ["", f"## Per defect size, longest extent ({headline})", ""] + _group_table(summary["per_size"], "size")
    lines += ["", "## Wall time per part and step (s)", "",
              "| ablation | shared (scene, truth, capture) | full-coverage plan | Stage I | plan | execute + Stage II "
              "| fuse | total | slowest part |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, row in ablations.items():
        step = row["wall_s_per_step"]
        lines.append(f"| {name} | " + " | ".join(_number(step[k], 1) for k in
                                                  ("shared", "baseline_plan", "stage1", "plan", "execute", "fuse"))
                     + f" | {_number(row['wall_s_per_part'], 1)} | {_number(row['wall_s_per_part_max'], 1)} |")
    return "\n".join(lines) + "\n"


def _png(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _grouped_recall(summary: dict[str, Any], key: str, title: str) -> bytes:
    """Bars per group: Stage I recall of the headline ablation, then the final recall of every ablation."""
    import matplotlib.pyplot as plt
    import numpy as np

    headline = summary["headline_ablation"]
    groups = [g for g, row in summary[key].items() if row["defects"]]
    series = [(f"Stage I ({headline})", [summary[key][g]["stage1_recall"] for g in groups])]
    series += [(f"final: {name}", [row[key][g]["final_recall"] for g in groups])
               for name, row in summary["ablations"].items()]
    figure, axes = plt.subplots(figsize=(max(6.0, 1.3 * len(groups) + 2), 4.5), dpi=110)
    width = 0.8 / len(series)
    x = np.arange(len(groups))
    for k, (label, values) in enumerate(series):
        axes.bar(x + (k - (len(series) - 1) / 2) * width, [v or 0.0 for v in values], width, label=label)
    axes.set_xticks(x, [f"{g}\n(n={summary[key][g]['defects']})" for g in groups], fontsize=8)
    axes.set(ylabel="recall (all true defects)", ylim=(0, 1.05), title=title)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=7)
    return _png(figure)


def budget_curve(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The budgeted planner's points by press budget, then every region pressed (low-confidence: the same
    Stage I, no budget) as the curve's unlimited end."""
    rows = summary["ablations"]
    budgeted = sorted((name for name in rows if name.startswith("budgeted-")), key=lambda n: int(n.split("-")[1]))
    return [(name, rows[name]) for name in budgeted + (["low-confidence"] if budgeted and "low-confidence" in rows
                                                        else [])]


def _budget_table(summary: dict[str, Any]) -> list[str]:
    """Final recall against presses per part: the budgeted planner's curve beside the paper and full coverage."""
    rows = summary["ablations"]
    curve = budget_curve(summary)
    if not curve:
        return []
    lines = ["", "## Final recall against presses per part", "",
             "Budgeted: Stage I down to the low confidence, the presses with the most expected defects per press "
             "kept within N presses per part (`planner_node.max_presses`); low-confidence is the same with no budget.",
             "", "| ablation | presses / part | final recall | final precision | arm cycle / part (s) "
             "| regions left unpressed / part |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, row in curve + [(n, rows[n]) for n in ("shipped", "paper", "full-coverage") if n in rows]:
        lines.append(f"| {name} | {_number(row['tactile_presses'], 1)} | {_rate(row['final_recall'])} "
                     f"| {_rate(row['final_precision'])} | {_number(row['cycle_time_s'], 1)} "
                     f"| {_number(row.get('skipped_regions'), 1)} |")
    if "full-coverage" not in rows:
        first = next(iter(rows.values()))
        lines.append(f"| full-coverage (presses counted, not run) | {_number(first['full_coverage_presses'], 1)} "
                     f"| n/a | n/a | {_number(first['full_coverage_cycle_time_s'], 1)} | |")
    return lines


def _presses_vs_recall(summary: dict[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.5, 4.5), dpi=110)
    curve = budget_curve(summary)
    if curve:
        axes.plot([row["tactile_presses"] or 0.0 for _, row in curve], [row["final_recall"] or 0.0 for _, row in curve],
                  "-o", color="black", lw=1, ms=4, label="budgeted planner (final recall)", zorder=3)
        for name, row in curve:
            text = name.split("-")[1] if name.startswith("budgeted-") else "no cap"
            axes.annotate(text, (row["tactile_presses"] or 0.0, row["final_recall"] or 0.0),
                          textcoords="offset points", xytext=(-4, -12), fontsize=7)
    for name, row in summary["ablations"].items():
        if name.startswith("budgeted-"):
            continue
        presses = row["tactile_presses"] or 0.0
        axes.scatter([presses], [row["final_recall"] or 0.0], s=50, label=f"{name}: final")
        axes.scatter([presses], [row["stage1_recall"] or 0.0], s=30, marker="x", color="grey")
        axes.annotate(name, (presses, row["final_recall"] or 0.0), textcoords="offset points", xytext=(5, 5), fontsize=8)
    settings, first = summary["settings"], next(iter(summary["ablations"].values()))
    if first["full_coverage_presses"]:
        axes.axvline(first["full_coverage_presses"], ls="--", lw=1, color="grey",
                     label=f"full coverage: {first['full_coverage_presses']:.0f} presses/part")
    axes.set_xscale("symlog", linthresh=1.0)
    axes.set(xlabel="tactile presses per part", ylabel="recall (all true defects)", ylim=(0, 1.05),
             title=f"presses vs recall (simulated: {first['parts']} parts, seed {settings['seed']}; "
                   f"x: Stage I recall)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    return _png(figure)


def write_outputs(summary: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write the markdown and the plots beside ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    plots = {
        "recall_per_class": _grouped_recall(summary, "per_class", "recall per class"),
        "recall_per_size": _grouped_recall(summary, "per_size", "recall per defect size (longest extent)"),
        "presses_vs_recall": _presses_vs_recall(summary),
    }
    written = [str(write_bytes_atomic(out.with_name(f"{out.stem}_{name}.png"), data)) for name, data in plots.items()]
    table = write_text_atomic(out.with_suffix(".md"), markdown(summary))
    return {"markdown": str(table), "plots": written}
