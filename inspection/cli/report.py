"""Re-render report.html of a run folder from its report.json (and the evidence images beside it)."""
from __future__ import annotations

import argparse
from pathlib import Path

from inspection.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run folder holding report.json")


def run(args: argparse.Namespace) -> int:
    from inspection.fusion.report import render_html

    if not (args.run_dir / "report.json").is_file():
        raise InputError(f"{args.run_dir}: no report.json in this folder")
    print(render_html(args.run_dir))
    return 0
