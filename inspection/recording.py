"""ROS-free half of the recorder: message definitions for MCAP schemas, topic selection, QoS choice,
header stamps read from CDR bytes, and a crash-tolerant MCAP writer of serialised messages.

The node (inspection/nodes/recorder_node.py) only wires these to DDS, so every rule here is tested
without a ROS graph.
"""
from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable

from mcap.well_known import MessageEncoding, Profile, SchemaEncoding
from mcap.writer import CompressionType, Writer

from inspection.errors import InputError

# The 80-character separator of the ros2msg encoding (rosbag2 docs/message_definition_encoding.md).
SEPARATOR = "=" * 80
# rosbag2's list plus wstring, which it misses: a bag with a wstring field would otherwise fail.
PRIMITIVE_TYPES = frozenset({"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
                             "int32", "uint32", "int64", "uint64", "string", "wstring"})
_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_TYPE_RE = re.compile(rf"^({_NAME})/(?:({_NAME})/)?({_NAME})$")
# CDR encapsulation ids (first two bytes): 0x0001 / 0x0003 (PL) are little endian.
_LITTLE_ENDIAN_IDS = {b"\x00\x01", b"\x00\x03"}
_BIG_ENDIAN_IDS = {b"\x00\x00", b"\x00\x02"}


class DefinitionNotFound(InputError):
    """No .msg file for a type (or one of its fields): its topic cannot be given a schema."""


def split_type(type_name: str) -> tuple[str, str, str]:
    """'pkg/msg/Type' or 'pkg/Type' -> (pkg, 'msg', Type); anything else is an InputError."""
    match = _TYPE_RE.match(type_name)
    if match is None:
        raise InputError(f"message type '{type_name}': expected 'package/msg/Type' or 'package/Type'")
    package, namespace, name = match.groups()
    return package, namespace or "msg", name


def _field_lines(text: str) -> Iterable[tuple[str, str]]:
    """(type token, rest) of every field or constant line, comments removed."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            token, *rest = line.split(None, 1)
            yield token, rest[0] if rest else ""


def _base_type(token: str) -> str:
    """'pkg/Type[<=3]' -> 'pkg/Type'; 'string<=10' -> 'string'."""
    return re.split(r"[\[<]", token, maxsplit=1)[0]


def msg_dependencies(text: str, package: str) -> list[str]:
    """Non-primitive field types of a .msg text, sorted as rosbag2's std::set does ('pkg/Type')."""
    found = set()
    for token, _rest in _field_lines(text):
        base = _base_type(token)
        if base in PRIMITIVE_TYPES:
            continue
        # Kept as written ('pkg/Type' or 'pkg/msg/Type'); a bare name is in the same package, as in rosidl.
        found.add(base if "/" in base else f"{package}/{base}")
    return sorted(found)


def default_search_roots() -> list[Path]:
    """Install prefixes whose share/<pkg>/msg may hold definitions: AMENT_PREFIX_PATH, then this Python's."""
    roots = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    roots.append(Path(sys.prefix))
    return roots


class MessageDefinitions:
    """Finds .msg files and builds the concatenated ros2msg text rosbag2 and Foxglove use."""

    def __init__(self, search_roots: Iterable[Path] | None = None) -> None:
        self.search_roots = list(default_search_roots() if search_roots is None else search_roots)
        self._texts: dict[str, str] = {}

    def _candidates(self, package: str, namespace: str, name: str) -> Iterable[Path]:
        relative = Path("share") / package / namespace / f"{name}.msg"
        for root in self.search_roots:
            yield root / relative
        # A Python package's share dir sits next to its lib/ in both a distro install and the PyPI wheels.
        spec = importlib.util.find_spec(package) if package.isidentifier() else None
        if spec is not None and spec.origin:
            for parent in Path(spec.origin).parents:
                yield parent / relative

    def text(self, type_name: str) -> str:
        """The .msg text of one type, without its dependencies."""
        package, namespace, name = split_type(type_name)
        key = f"{package}/{namespace}/{name}"
        if key not in self._texts:
            for candidate in self._candidates(package, namespace, name):
                if candidate.is_file():
                    self._texts[key] = candidate.read_text(encoding="utf-8")
                    break
            else:
                roots = ", ".join(str(r) for r in self.search_roots)
                raise DefinitionNotFound(f"no definition share/{package}/{namespace}/{name}.msg for '{type_name}' "
                                         f"under {roots} (is the message package installed here?)")
        return self._texts[key]

    def full_text(self, type_name: str, max_depth: int = 50) -> str:
        """The type's .msg text, then each nested type once, depth first in sorted order, as rosbag2 does."""
        seen: set[str] = set()

        def append(name: str, depth: int) -> str:
            if depth <= 0:
                raise InputError(f"message type '{type_name}': nested definitions deeper than {max_depth}")
            text = self.text(name)
            result = text
            for dependency in msg_dependencies(text, split_type(name)[0]):
                if dependency not in seen:
                    seen.add(dependency)
                    try:
                        nested = append(dependency, depth - 1)
                    except DefinitionNotFound as exc:
                        raise DefinitionNotFound(f"{exc} (needed by '{type_name}')") from exc
                    result += f"\n{SEPARATOR}\nMSG: {dependency}\n{nested}"
            return result

        return append(type_name, max_depth)


def starts_with_header(text: str, package: str) -> bool:
    """True when the first field is a std_msgs/Header, whose stamp then leads the CDR payload."""
    for token, rest in _field_lines(text):
        if "=" in rest:  # a constant, not a field
            continue
        return token in ("std_msgs/Header", "std_msgs/msg/Header") or (token == "Header" and package == "std_msgs")
    return False


def header_stamp_ns(data: bytes) -> int | None:
    """The header stamp (ns) of a CDR message that starts with std_msgs/Header; None when unset or unreadable."""
    if len(data) < 12:
        return None
    encapsulation = bytes(data[:2])
    if encapsulation in _LITTLE_ENDIAN_IDS:
        sec, nanosec = struct.unpack_from("<iI", data, 4)
    elif encapsulation in _BIG_ENDIAN_IDS:
        sec, nanosec = struct.unpack_from(">iI", data, 4)
    else:
        return None
    if (sec == 0 and nanosec == 0) or nanosec >= 1_000_000_000 or sec < 0:
        return None
    return sec * 1_000_000_000 + nanosec


def topic_selected(topic: str, include: Iterable[str], exclude: Iterable[str]) -> bool:
    """Glob match on the full topic name; hidden topics (a '_' name component) only when named exactly."""
    include, exclude = list(include), list(exclude)
    if any(fnmatch.fnmatchcase(topic, pattern) for pattern in exclude):
        return False
    if any(part.startswith("_") for part in topic.split("/")):
        return topic in include
    return not include or any(fnmatch.fnmatchcase(topic, pattern) for pattern in include)


@dataclass(frozen=True)
class QosOffer:
    """What one publisher offers, in the terms the recorder must match."""

    reliable: bool
    transient_local: bool
    depth: int


@dataclass(frozen=True)
class QosChoice:
    reliable: bool
    transient_local: bool
    depth: int

    def matches(self, offer: QosOffer) -> bool:
        """A request is compatible when it asks no more than the publisher offers."""
        return (offer.reliable or not self.reliable) and (offer.transient_local or not self.transient_local)


def choose_qos(offers: Iterable[QosOffer], min_depth: int = 10) -> QosChoice:
    """The strongest request every publisher can serve: reliable / transient-local only when all offer it."""
    offers = list(offers)
    if not offers:
        return QosChoice(reliable=True, transient_local=False, depth=min_depth)
    depth = max([min_depth, *(o.depth for o in offers if o.transient_local)])
    return QosChoice(reliable=all(o.reliable for o in offers),
                     transient_local=all(o.transient_local for o in offers), depth=depth)


@dataclass
class TopicStats:
    messages: int = 0
    bytes: int = 0


@dataclass
class McapRecording:
    """An MCAP file of serialised ROS 2 messages (ros2 profile, ros2msg schemas, CDR), written crash-tolerantly.

    Chunks are small and :meth:`flush` closes the open one, so after a SIGKILL the file holds every
    message up to the last flush and reads with a streaming reader; only :meth:`close` writes the index.
    """

    path: Path
    chunk_size: int = 256 * 1024
    compression: str = "zstd"
    max_bytes: int = 0
    stats: dict[str, TopicStats] = field(default_factory=dict)
    limit_reached: bool = False
    _stream: IO[bytes] | None = None
    _writer: Writer | None = None
    _schemas: dict[str, int] = field(default_factory=dict)
    _channels: dict[str, int] = field(default_factory=dict)
    _unflushed: int = 0
    _payload_bytes: int = 0

    def open(self) -> McapRecording:
        """Create the file; refuses to overwrite an earlier recording."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._stream = open(self.path, "xb")  # noqa: SIM115 - closed by close()
        except FileExistsError as exc:
            raise InputError(f"output {self.path}: file exists; remove it or use '{{time}}' in the name") from exc
        compression = {"zstd": CompressionType.ZSTD, "none": CompressionType.NONE}[self.compression]
        self._writer = Writer(self._stream, chunk_size=self.chunk_size, compression=compression)
        self._writer.start(profile=Profile.ROS2, library="inspection recorder_node")
        self._writer.flush()
        return self

    def add_topic(self, topic: str, type_name: str, definition: str) -> None:
        """Register the schema (once per type) and the topic's channel."""
        assert self._writer is not None, "open() first"
        package, namespace, name = split_type(type_name)
        schema_name = f"{package}/{namespace}/{name}"
        if schema_name not in self._schemas:
            self._schemas[schema_name] = self._writer.register_schema(
                schema_name, SchemaEncoding.ROS2, definition.encode("utf-8"))
        if topic not in self._channels:
            self._channels[topic] = self._writer.register_channel(
                topic, MessageEncoding.CDR, self._schemas[schema_name])
            self.stats[topic] = TopicStats()

    def write(self, topic: str, data: bytes, log_time_ns: int, publish_time_ns: int | None = None) -> bool:
        """Append one serialised message; False (nothing written) once ``max_bytes`` is reached."""
        assert self._writer is not None, "open() first"
        if self.max_bytes and self._payload_bytes + len(data) > self.max_bytes:
            self.limit_reached = True
            return False
        stats = self.stats[topic]
        self._writer.add_message(self._channels[topic], log_time=log_time_ns,
                                 publish_time=publish_time_ns if publish_time_ns is not None else log_time_ns,
                                 data=bytes(data), sequence=stats.messages)
        stats.messages += 1
        stats.bytes += len(data)
        self._payload_bytes += len(data)
        self._unflushed += 1
        return True

    def flush(self) -> None:
        """Close the open chunk and push it to the OS, so a crash now loses nothing written so far."""
        if self._writer is not None and self._unflushed:
            self._writer.flush()
            self._unflushed = 0

    def close(self) -> None:
        """Write the summary and index (the file becomes a complete, seekable MCAP); idempotent."""
        if self._writer is not None:
            self._writer.finish()
            self._writer = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def expand_output(path: str, now: float | None = None) -> Path:
    """``{time}`` in the output name becomes the UTC start time, so repeated runs never collide."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return Path(os.path.expanduser(path.replace("{time}", stamp)))
