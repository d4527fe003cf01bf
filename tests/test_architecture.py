"""Import contracts (.importlinter): the layers hold, nothing but the nodes and the CLI imports ROS, and
no import cycles. `lint-imports` checks them on the tree; each contract is also shown to bite, by
adding one offending module to a copy of the package."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Run lint-imports with ``root``'s .importlinter on ``root``'s copy of the package."""
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"}  # no wrapped contract names
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(root / ".importlinter")], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120)


def _broken_contracts(report: str) -> dict[str, str]:
    """Contract name -> what lint-imports says about it, from the report's "Broken contracts" part."""
    lines = report.split("Broken contracts", 1)[-1].splitlines()[2:]
    headers = [i for i in range(len(lines) - 1) if lines[i] and set(lines[i + 1]) == {"-"}]
    return {lines[start]: "\n".join(lines[start + 2:end]) for start, end in zip(headers, headers[1:] + [len(lines)])}


def test_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


# (source appended to modules of a copy of the package, new or not; the contract that must then break;
# the offending import it must name)
OFFENCES = {
    "stage imports the simulator": (
        {"inspection/vision/offender.py": "import inspection.sim.render\n"},
        "Pipeline stages never import the simulator, the nodes, the CLI or the campaign",
        "inspection.vision.offender -> inspection.sim.render"),
    "records import a stage": (
        {"inspection/records.py": "from inspection.tactile import measure\n"},
        "Data records and their JSON codec import no stage",
        "inspection.records -> inspection.tactile.measure"),
    "simulator imports the campaign": (
        {"inspection/sim/offender.py": "import inspection.campaign.runner\n"},
        "CLI above nodes and campaign, both above the simulator",
        "inspection.sim.offender -> inspection.campaign.runner"),
    "core imports a node": (
        {"inspection/offender.py": "import inspection.nodes.common\n"},
        "Only the CLI imports the nodes",
        "inspection.offender -> inspection.nodes.common"),
    "core imports rclpy": (
        {"inspection/tactile/offender.py": "def spin():\n    import rclpy\n    rclpy.init()\n"},
        "Only the nodes and the CLI import ROS",
        "inspection.tactile.offender -> rclpy"),
    "import cycle": (
        {"inspection/offender_a.py": "import inspection.offender_b\n",
         "inspection/offender_b.py": "import inspection.offender_a\n"},
        "No import cycles between sibling packages or modules",
        ".offender_"),
}


@pytest.mark.parametrize("offence", sorted(OFFENCES))
def test_each_contract_bites(offence: str, tmp_path: Path) -> None:
    modules, contract, named_import = OFFENCES[offence]
    shutil.copytree(ROOT / "inspection", tmp_path / "inspection", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    for path, source in modules.items():
        module = tmp_path / path
        module.write_text((module.read_text() if module.exists() else "") + source)
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = _broken_contracts(result.stdout)
    (section,) = [text for name, text in broken.items() if name.startswith(contract)] or [None]
    assert section is not None, f"contract {contract!r} not reported broken:\n{result.stdout}"
    assert named_import in section, section
