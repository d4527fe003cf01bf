"""The run folder: report.json (schema-versioned) and a self-contained report.html rendered from it.

Layout of a run folder:
    report.json                 InspectionReport; each defect's ``evidence`` names its files below
    evidence/                   camera crops, tactile frames, heightmaps and their plots (see fusion.evidence)
    part_outline.json           optional [[x, y], ...] outline of the part seen from +z (metres)
    report.html                 rendered from the above; `inspection report RUN_DIR` re-renders it
Every file is written atomically; every string in the HTML is escaped (Jinja2 autoescape), and
images are embedded as data URIs so the page needs no network and no other file. Evidence a defect
lacks (a stain nobody touched, a dent the camera missed) is named in words, never an error.
"""
from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from inspection.atomic import write_json_atomic, write_text_atomic
from inspection.errors import InputError
from inspection.fusion.evidence import EVIDENCE_KINDS, latent_exemplar_file, missing_note
from inspection.records import FusedDefect, InspectionReport, Source

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CAPTIONS = {"camera": "camera crop (Stage I)", "tactile": "tactile frame (Stage II)",
            "heightmap": "heightmap and profile (Stage II)"}
SOURCE_COLOURS = {"vision": "#1f77b4", "tactile": "#d62728", "both": "#2ca02c"}
SOURCE_ORDER = {Source.BOTH: 0, Source.TACTILE: 1, Source.VISION: 2}  # measured by touch first
SUMMARY_LABELS = {"stage1_recall": "Stage I (camera) recall", "final_recall": "final recall",
                  "final_precision": "final precision", "tactile_presses": "tactile presses",
                  "full_coverage_presses": "presses for full coverage", "cycle_time_s": "arm cycle time (s)"}

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Inspection report {{ report.run_id }} - {{ report.part_id }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h2 { margin: 0.8em 0 0.4em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.top { display: flex; flex-wrap: wrap; gap: 3em; align-items: flex-start; }
.legend { font-size: 0.9em; color: #555; }
.reject { color: #b00; font-weight: bold; } .accept { color: #070; font-weight: bold; }
.rule { color: #555; font-size: 0.9em; }
.defect { border: 1px solid #ddd; border-left-width: 6px; border-radius: 6px; padding: 0.6em 1em; margin: 1em 0; }
.defect h3 { margin: 0.2em 0; }
.evidence { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.evidence figure { margin: 0; } .evidence figcaption { font-size: 0.85em; color: #555; }
.evidence img { border: 1px solid #ccc; display: block; }
.evidence img.photo { height: 220px; image-rendering: pixelated; }
.evidence img.latent { height: 72px; image-rendering: pixelated; }
.absent { width: 220px; height: 220px; display: flex; align-items: center; justify-content: center;
 text-align: center; background: #f4f4f4; color: #777; border: 1px dashed #bbb; }
.absent.latent { width: 216px; height: 72px; }
.warning { background: #fff3cd; padding: 0.5em 1em; border-left: 4px solid #e0a800; }
</style></head><body>
<h1>Inspection report</h1>
<p>Run <b>{{ report.run_id }}</b>, part <b>{{ report.part_id }}</b>, {{ report.created_utc }}.
 {{ report.defects | length }} defect(s); {{ rejected_count }} rejected by acceptance rules.</p>
{% if not report.complete %}<div class="warning"><b>Partial report.</b> Not inspected:
<ul>{% for item in report.missing %}<li>{{ item }}</li>{% endfor %}</ul></div>{% endif %}
<div class="top"><div><h2>Summary</h2><table>
{% for key, value in summary %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}
</table></div>
<div><h2>Part overview</h2>{{ overview | safe }}
<p class="legend">Colour = evidence: <span style="color:#1f77b4">vision</span>, <span style="color:#d62728">tactile</span>,
<span style="color:#2ca02c">both</span>. Part frame, seen from +z; click a defect for its evidence.</p></div></div>
<h2>Defects</h2>
<p class="legend">Defects measured by touch first, then those seen by the camera only; click an id for its evidence.</p>
<table><tr><th>id</th><th>class</th><th>source</th><th>confidence</th><th>depth mm</th><th>width mm</th>
<th>length mm</th><th>position mm (x, y, z)</th><th>verdict</th></tr>
{% for d in defects %}<tr><td><a href="#{{ d.id }}">{{ d.id }}</a></td><td>{{ d.class_name }}</td>
<td>{{ d.source.value }}</td><td class="number">{{ '%.2f' % d.confidence }}</td>
<td class="number">{{ '%.3f' % d.depth_mm if d.depth_mm is not none else '-' }}</td>
<td class="number">{{ '%.2f' % d.width_mm }}</td><td class="number">{{ '%.2f' % d.length_mm }}</td>
<td class="number">{{ '%.1f, %.1f, %.1f' % millimetres(d.position) }}</td>
<td>{% if d.verdict %}<span class="{{ 'accept' if d.verdict.accepted else 'reject' }}">
{{ 'accept' if d.verdict.accepted else 'REJECT' }}</span> <span class="rule">{{ d.verdict.rule }}</span>{% else %}-{% endif %}</td></tr>
{% endfor %}</table>
{% for d in defects %}<div class="defect" id="{{ d.id }}" style="border-left-color: {{ colours[d.source.value] }}">
<h3>{{ d.id }}: {{ d.class_name }} ({{ d.source.value }}){% if d.verdict %},
<span class="{{ 'accept' if d.verdict.accepted else 'reject' }}">{{ 'accept' if d.verdict.accepted else 'REJECT' }}</span>
<span class="rule">{{ d.verdict.rule }}</span>{% endif %}</h3>
<p>Depth {{ '%.3f mm' % d.depth_mm if d.depth_mm is not none else 'not measured (no touch)' }},
width {{ '%.2f' % d.width_mm }} mm, length {{ '%.2f' % d.length_mm }} mm, confidence {{ '%.2f' % d.confidence }};
at {{ '%.1f, %.1f, %.1f' % millimetres(d.position) }} mm; camera hypotheses {{ d.vision_ids | join(', ') or 'none' }},
tactile findings {{ d.tactile_ids | join(', ') or 'none' }}.</p>
{% if d.explanation %}<p class="legend">Why the camera called it (the detector's sparse-autoencoder latents at
the box, strongest first), each with the atlas patches it fires most on:</p>
<div class="evidence">{% for e in d.explanation %}<figure>{% if latents.get(e.latent) %}<img class="latent"
 alt="exemplars of latent {{ e.latent }}" src="{{ latents[e.latent] }}">{% else %}<div class="absent latent">no exemplars
</div>{% endif %}<figcaption>latent {{ e.latent }} ({{ '%.2f' % e.activation }}){% if e.label %}: <i>{{ e.label }}</i>
{% endif %}</figcaption></figure>{% endfor %}</div>{% endif %}
<div class="evidence">{% for kind, caption, uri, note in evidence[d.id] %}
<figure>{% if uri %}<img class="{{ 'plot' if kind == 'heightmap' else 'photo' }}" alt="{{ caption }} of {{ d.id }}"
 src="{{ uri }}">{% else %}<div class="absent">{{ note }}</div>{% endif %}<figcaption>{{ caption }}</figcaption></figure>
{% endfor %}</div></div>{% endfor %}
</body></html>
"""


def _overview_svg(report: InspectionReport, outline: list[list[float]] | None) -> str:
    """Top view (x right, y up) of the part outline and every defect (each a link to its evidence) with a
    scale bar, as inline SVG."""
    points = [d.position[:2] for d in report.defects] + [tuple(p) for p in (outline or [])]
    if not points:
        return "<p>No defects and no part outline.</p>"
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    margin = 0.02
    x0, x1, y0, y1 = min(xs) - margin, max(xs) + margin, min(ys) - margin, max(ys) + margin
    scale = 600 / max(x1 - x0, y1 - y0)
    width, height = (x1 - x0) * scale, (y1 - y0) * scale

    def to_svg(x: float, y: float) -> tuple[float, float]:
        return ((x - x0) * scale, (y1 - y) * scale)

    shapes = []
    if outline:
        polygon = " ".join("%.1f,%.1f" % to_svg(x, y) for x, y in outline)
        shapes.append(f'<polygon points="{polygon}" fill="#eef" stroke="#88a"/>')
    for defect in sorted(report.defects, key=lambda d: -SOURCE_ORDER[d.source]):  # touched ones drawn on top
        cx, cy = to_svg(defect.position[0], defect.position[1])
        colour = SOURCE_COLOURS[defect.source.value]
        label = "".join(c for c in defect.id if c.isalnum() or c in "_-")  # ids are ours; keep the SVG inert
        shapes.append(f'<a href="#{label}"><circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="none" stroke="{colour}" '
                      f'stroke-width="2"/><text x="{cx + 8:.1f}" y="{cy - 8:.1f}" font-size="11">{label}</text></a>')
    bar_m = next(b for b in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
                 if b * scale >= 60 or b == 20.0)
    bar_label = f"{bar_m * 1000:g} mm" if bar_m < 1 else f"{bar_m:g} m"
    shapes.append(f'<path d="M10 {height - 12:.1f} h{bar_m * scale:.1f}" stroke="#222" stroke-width="3"/>'
                  f'<text x="10" y="{height - 18:.1f}" font-size="11">{bar_label}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'style="border:1px solid #ccc">{"".join(shapes)}</svg>')


def _png_uri(run_dir: Path, relative: str) -> str:
    """A PNG of the run folder as a data URI; "" for a path that leaves the folder or a file that is not a
    PNG: report.json may have been edited, the page must stay inert."""
    root = run_dir.resolve()
    path = (run_dir / relative).resolve()
    data = path.read_bytes() if path.is_relative_to(root) and path.is_file() else b""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii") if data.startswith(PNG_SIGNATURE) else ""


def _evidence(run_dir: Path, defect: FusedDefect) -> list[tuple[str, str, str, str]]:
    """(kind, caption, data URI or "", note) per evidence kind; a file that cannot be shown is a note."""
    rows = []
    for kind in EVIDENCE_KINDS:
        uri, note = "", missing_note(kind, defect.source)
        if kind in defect.evidence:
            uri = _png_uri(run_dir, defect.evidence[kind])
            if not uri:
                note = f"{defect.evidence[kind]}: missing or not a PNG in the run folder"
        rows.append((kind, CAPTIONS[kind], uri, note))
    return rows


def _format(key: str, value: Any) -> str:
    if value is None:
        return "n/a (no ground truth)" if key.endswith(("recall", "precision")) else "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render_html(run_dir: str | Path) -> Path:
    """(Re-)render report.html from report.json and the evidence files it names."""
    run_dir = Path(run_dir)
    report = InspectionReport.load(run_dir / "report.json")
    outline_file = run_dir / "part_outline.json"
    outline = read_outline(outline_file) if outline_file.is_file() else None
    evidence = {defect.id: _evidence(run_dir, defect) for defect in report.defects}
    latents = {e.latent: _png_uri(run_dir, latent_exemplar_file(e.latent))
               for defect in report.defects for e in defect.explanation}
    summary = [(SUMMARY_LABELS.get(key, key), _format(key, value)) for key, value in report.summary.to_json().items()
               if key not in ("schema_version", "kind")]
    environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    html = environment.from_string(TEMPLATE).render(
        report=report, summary=summary, evidence=evidence, latents=latents, overview=_overview_svg(report, outline),
        defects=sorted(report.defects, key=lambda d: SOURCE_ORDER[d.source]), colours=SOURCE_COLOURS,
        millimetres=lambda position: tuple(round(1000 * v, 1) + 0.0 for v in position),  # + 0.0: no '-0.0'
        rejected_count=sum(1 for d in report.defects if d.verdict and not d.verdict.accepted),
    )
    return write_text_atomic(run_dir / "report.html", html)


MAX_OUTLINE_POINTS = 100_000


def read_outline(path: Path) -> list[list[float]]:
    """part_outline.json, checked: a list of at least 3 finite [x, y] points (metres). The file sits in a
    run folder that anyone may edit, and an unchecked one made an internal error or an SVG of size nan."""
    try:
        points = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable part outline ({exc})") from None
    if not isinstance(points, list) or not 3 <= len(points) <= MAX_OUTLINE_POINTS:
        raise InputError(f"{path}: expected a list of 3 to {MAX_OUTLINE_POINTS} [x, y] points")
    for index, point in enumerate(points):
        if not (isinstance(point, list) and len(point) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in point)):
            raise InputError(f"{path}: point {index}: expected [x, y] as two finite numbers, got {str(point)[:80]}")
    return [[float(x), float(y)] for x, y in points]


def part_outline(vertices) -> list[list[float]]:
    """Outline of a part seen from its +z (the convex hull of the vertices' x, y), for the overview."""
    import numpy as np
    from scipy.spatial import ConvexHull

    xy = np.asarray(vertices, float)[:, :2]
    return [[float(x), float(y)] for x, y in xy[ConvexHull(xy).vertices]]


def write_report(run_dir: str | Path, report: InspectionReport,
                 part_outline: list[list[float]] | None = None) -> Path:
    """Write report.json (and the part outline) atomically, then render report.html."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir}: exists and is not a folder")
    write_json_atomic(run_dir / "report.json", report.to_json())
    if part_outline is not None:
        write_json_atomic(run_dir / "part_outline.json", part_outline)
    return render_html(run_dir)
