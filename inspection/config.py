"""One loader for config/pipeline.yaml, used by the nodes, the CLI and the tests.

The file is in the standard ROS 2 parameter format (``node_name: ros__parameters: {...}``, with
``/**`` for parameters shared by every node), so ``--ros-args --params-file`` reads it unchanged.
Every parameter is declared once, in ``inspection.params``, with its type, range and description;
the loader rejects unknown keys, wrong types and out-of-range values with the file and key named.
"""
from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any, Mapping

import yaml

from inspection import paths
from inspection.errors import InputError
from inspection.params import NODE_PARAMETERS, ParamSpec
from inspection.yaml_safe import YamlTooLarge, safe_load


class ConfigError(InputError):
    """A configuration file or value is wrong; the message names the file and the key."""


def check_value(spec: ParamSpec, value: Any, where: str) -> Any:
    """Return ``value`` converted to the spec's type, or raise ConfigError naming ``where``."""
    kind = spec.type_name
    bad = ConfigError(f"{where}: expected {kind}, got {value!r} ({type(value).__name__})")
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    elif kind == "string":
        if not isinstance(value, str):
            raise bad
    elif kind == "string[]":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise bad
        value = list(value)
    elif kind == "float[]":
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
        ):
            raise bad
        value = [float(v) for v in value]
    if spec.low is not None and isinstance(value, (int, float)) and value < spec.low:
        raise ConfigError(f"{where}: {value} is below the minimum {spec.low}")
    if spec.high is not None and isinstance(value, (int, float)) and value > spec.high:
        raise ConfigError(f"{where}: {value} is above the maximum {spec.high}")
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(f"{where}: {value!r} is not one of {list(spec.choices)}")
    return value


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        return safe_load(text)
    except YamlTooLarge as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from exc


SHARED_SECTION = "/**"
# Parameters rclpy declares on every node; a shared section may set them too.
ROS_NODE_PARAMETERS = frozenset({"use_sim_time", "start_type_description_service", "qos_overrides"})


def _section(document: Any, key: str, path: Path) -> dict[str, Any]:
    """The ``ros__parameters`` mapping under ``key`` (empty when the key is absent)."""
    section = document.get(key)
    if section is None:
        return {}
    if not isinstance(section, dict) or "ros__parameters" not in section:
        raise ConfigError(f"{path}: '{key}' must contain 'ros__parameters'")
    if len(section) > 1:
        extra = sorted(str(k) for k in section if k != "ros__parameters")
        raise ConfigError(f"{path}: '{key}' holds {extra} beside 'ros__parameters'; parameters go under it")
    params = section["ros__parameters"] or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: '{key}.ros__parameters' must be a mapping")
    return params


def check_parameter_file(path: str | Path) -> dict[str, Any]:
    """The parsed parameter file, whose every section is one this package reads.

    Each top-level key must be ``/**`` or a node's name (``vision_node`` or ``/vision_node``), each a
    mapping of just ``ros__parameters``, and every ``/**`` key must be some node's parameter. A misspelt
    section (``visoin_node``) would otherwise be ignored, its values silently not applied, and a junk
    top-level key passes here but stops rclpy's own parser in every node with a traceback.
    """
    path = Path(path)
    document = read_yaml(path)
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of node names to 'ros__parameters'")
    nodes = sorted(NODE_PARAMETERS)
    for key in document:
        name = key[1:] if isinstance(key, str) and key.startswith("/") and key != SHARED_SECTION else key
        if key != SHARED_SECTION and name not in NODE_PARAMETERS:
            close = difflib.get_close_matches(str(name), nodes, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"sections are '{SHARED_SECTION}' and {nodes}"
            raise ConfigError(f"{path}: unknown section {str(key)[:80]!r}; {hint}")
        _section(document, key, path)
    declared = {spec.name for specs in NODE_PARAMETERS.values() for spec in specs} | ROS_NODE_PARAMETERS
    for key in _section(document, SHARED_SECTION, path):
        if key not in declared:
            close = difflib.get_close_matches(str(key), sorted(declared), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else "; no node has such a parameter"
            raise ConfigError(f"{path}: unknown shared parameter '{SHARED_SECTION}.{str(key)[:80]}'{hint}")
    return document


def validate_params(
    node: str, values: Mapping[str, Any], specs: tuple[ParamSpec, ...], where: str, allow_unknown: bool = False
) -> dict[str, Any]:
    """Check ``values`` against ``specs`` and fill in defaults; returns a plain dict."""
    by_name = {s.name: s for s in specs}
    if not allow_unknown:
        for key in values:
            if key not in by_name:
                close = difflib.get_close_matches(key, list(by_name), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys are {sorted(by_name)}"
                raise ConfigError(f"{where}: unknown parameter '{node}.{key}'{hint}")
    result = {}
    for spec in specs:
        value = values.get(spec.name, spec.default)
        result[spec.name] = check_value(spec, value, f"{where}: {node}.{spec.name}")
    return result


def load_node_params(
    node: str, params_file: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Parameters of ``node``: spec defaults < ``/**`` < the node's section < ``overrides``.

    The node's own section is strict (unknown keys are errors); ``/**`` is shared by every node, so
    only the keys this node declares are taken from it.
    """
    if node not in NODE_PARAMETERS:
        raise ConfigError(f"unknown node '{node}'; nodes with parameters are {sorted(NODE_PARAMETERS)}")
    specs = NODE_PARAMETERS[node]
    path = Path(params_file) if params_file is not None else paths.config_file("pipeline.yaml")
    document = check_parameter_file(path)
    declared = {s.name for s in specs}
    shared = {k: v for k, v in _section(document, SHARED_SECTION, path).items() if k in declared}
    own = {**_section(document, node, path), **_section(document, f"/{node}", path)}
    validated = validate_params(node, {**shared, **own}, specs, str(path))
    if overrides:
        validated.update(validate_params(node, {**validated, **overrides}, specs, "override"))
    return validated
