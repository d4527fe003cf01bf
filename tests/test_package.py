"""Packaging: ament_python layout, package.xml, entry points. That the core stays ROS-free is an import
contract (.importlinter), checked by tests/test_architecture.py."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_top_level_layout() -> None:
    for name in ("package.xml", "setup.py", "setup.cfg", "inspection", "launch", "config", "models", "tests",
                 "sim", "resource/inspection", "README.md", "Makefile", ".ci/run"):
        assert (ROOT / name).exists(), name


def test_package_xml_is_format_3_with_runtime_dependencies() -> None:
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "inspection"
    deps = {e.text for e in root.iter() if e.tag.endswith("depend")}
    for dep in ("rclpy", "sensor_msgs", "geometry_msgs", "trajectory_msgs", "visualization_msgs", "std_msgs",
                "std_srvs", "python3-numpy", "python3-opencv", "python3-scipy"):
        assert dep in deps, dep
    assert root.find("export/build_type").text == "ament_python"


def _entry_points() -> dict[str, str]:
    namespace: dict = {}
    source = (ROOT / "setup.py").read_text().split("\nsetup(")[0]
    exec(compile(source.replace("from setuptools import find_packages, setup", ""), "setup.py", "exec"), namespace)
    return namespace["NODE_ENTRY_POINTS"]


def test_every_node_has_an_entry_point() -> None:
    entry_points = _entry_points()
    nodes = {p.stem for p in (ROOT / "inspection" / "nodes").glob("*_node.py")}
    assert nodes == set(entry_points), "setup.py NODE_ENTRY_POINTS must list exactly the *_node.py modules"
    for name, target in entry_points.items():
        module = target.split(":")[0]
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), target


def test_wheel_installs_shared_files_and_scripts(tmp_path) -> None:
    """`pip install` (a wheel) carries config/, launch/, models/, sim/ and the resource marker."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("inspection-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    data = [n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n]
    assert "share/ament_index/resource_index/packages/inspection" in data
    for required in ("share/inspection/package.xml", "share/inspection/config/pipeline.yaml",
                     "share/inspection/config/cell.yaml", "share/inspection/config/fastdds.xml"):
        assert required in data, required
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "inspection = inspection.cli.main:main" in text
    for name in _entry_points():
        assert f"{name} = " in text


def test_fastdds_profile_enlarges_shared_memory_and_udp_buffers() -> None:
    namespace = {"d": "http://www.eprosima.com"}
    root = ET.parse(ROOT / "config" / "fastdds.xml").getroot()
    segment = root.find(".//d:transport_descriptor[d:type='SHM']/d:segment_size", namespace)
    assert int(segment.text) >= 640 * 480 * 3 * 8
    udp = root.find(".//d:transport_descriptor[d:type='UDPv4']", namespace)
    assert int(udp.find("d:receiveBufferSize", namespace).text) >= 4 * 1024 * 1024
    default = root.find(".//d:participant", namespace)
    assert default.get("is_default_profile") == "true"
