"""Typed JSON round-trip for the core dataclasses, with errors that name the bad field.

Every record written to disk carries ``schema_version``; readers accept the same major version and
reject anything else, so an old report is never silently misread.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from inspection.errors import InputError

SCHEMA_VERSION = "1.0"

T = TypeVar("T")


class SchemaError(InputError):
    """A JSON document does not match the expected schema; the message starts with the field path."""


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def to_jsonable(value: Any) -> Any:
    """Convert dataclasses, enums, tuples and numpy scalars to plain JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return to_jsonable(value.item())
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy array
        return to_jsonable(value.tolist())
    return value


def _convert(tp: Any, value: Any, path: str) -> Any:
    optional, inner = _is_optional(tp)
    if value is None:
        if optional:
            return None
        raise SchemaError(f"{path}: required value is missing (null)")
    tp = inner
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        valid = [m.value for m in tp]
        if value not in valid:
            raise SchemaError(f"{path}: {value!r} is not one of {valid}")
        return tp(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise SchemaError(f"{path}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(f"{path}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise SchemaError(f"{path}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SchemaError(f"{path}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise SchemaError(f"{path}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise SchemaError(f"{path}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is list:
        (arg,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise SchemaError(f"{path}: expected a list, got {type(value).__name__}")
        return [_convert(arg, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise SchemaError(f"{path}: expected an object, got {type(value).__name__}")
        return {_convert(key_tp, k, f"{path}.<key>"): _convert(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    raise TypeError(f"{path}: unsupported field type {tp!r}")


def from_dict(cls: type[T], data: Any, path: str | None = None) -> T:
    """Build dataclass ``cls`` from ``data``, checking every field's type; unknown keys are rejected."""
    path = path or cls.__name__
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields) - {"schema_version", "kind"})
    if unknown:
        raise SchemaError(f"{path}: unknown field(s) {unknown}; valid fields are {sorted(fields)}")
    kwargs = {}
    for name, field in fields.items():
        if name not in data:
            has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
            if has_default:
                continue
            raise SchemaError(f"{path}.{name}: required field is missing")
        kwargs[name] = _convert(hints[name], data[name], f"{path}.{name}")
    try:
        return cls(**kwargs)
    except SchemaError:
        raise
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"{path}: {exc}") from exc


def read_json_file(file: str | Path) -> Any:
    """Parse a JSON file; an unreadable or malformed file is a SchemaError naming it (and the line)."""
    file = Path(file)
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaError(f"{file}: cannot read ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{file}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc


def check_schema_version(data: Any, path: str) -> None:
    """Accept documents of the same major schema version only."""
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if not isinstance(version, str):
        raise SchemaError(f"{path}.schema_version: missing; this reader expects {SCHEMA_VERSION}")
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise SchemaError(f"{path}.schema_version: {version!r} is not compatible with {SCHEMA_VERSION!r}")


class JsonRecord:
    """Mixin: ``to_json()``/``from_json()`` with a schema version and the record kind."""

    KIND: typing.ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "kind": self.KIND, **to_jsonable(self)}

    @classmethod
    def from_json(cls: type[T], data: Any, path: str | None = None) -> T:
        path = path or cls.__name__  # type: ignore[attr-defined]
        check_schema_version(data, path)
        kind = data.get("kind", cls.KIND)  # type: ignore[attr-defined]
        if kind != cls.KIND:  # type: ignore[attr-defined]
            raise SchemaError(f"{path}.kind: expected {cls.KIND!r}, got {kind!r}")  # type: ignore[attr-defined]
        return from_dict(cls, data, path)

    @classmethod
    def load(cls: type[T], file: str | Path) -> T:
        """Read a JSON file; errors name the file."""
        return cls.from_json(read_json_file(file), path=str(file))  # type: ignore[attr-defined]


R = TypeVar("R", bound=JsonRecord)


def stamp_ns(stamp: dict) -> int:
    """A {"sec", "nanosec"} stamp (as in the JSON side channels) in integer nanoseconds."""
    return int(stamp["sec"]) * 1_000_000_000 + int(stamp["nanosec"])


def read_side_channel(text: str, record_type: type[R]) -> tuple[str, list[R]]:
    """The frame id and records of a JSON side channel (``{"frame_id": ..., "records": [...]}``).

    One parser for the nodes (which get the text from a ROS String) and the ROS-free coordinator;
    SchemaError names the bad record and field.
    """
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"side channel: not valid JSON ({exc.msg})") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("records"), list):
        raise SchemaError("side channel: expected an object with a 'records' list")
    records = [record_type.from_json(r, f"records[{i}]") for i, r in enumerate(payload["records"])]
    return str(payload.get("frame_id", "")), records
