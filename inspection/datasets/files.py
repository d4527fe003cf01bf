"""File access for the readers: one walk of the tree, paths confined to the dataset root, cheap image
checks and size-limited annotation reads.

Image check (cheap, no decode): Pillow reads the header for the size, then the file's tail is checked
for the end marker of its format (JPEG FFD9, PNG IEND), which catches truncated downloads. Pixel
data is not decoded here; a file whose header and end marker are intact but whose middle is damaged
is found only when a consumer decodes it.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from inspection.datasets.types import DEFAULT_MAX_ANNOTATION_BYTES

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
# Junk that archives and tools leave in real datasets: hidden folders, macOS resource forks.
_IGNORED_DIRS = frozenset({"__MACOSX", "__pycache__"})


class UnsafePath(ValueError):
    """A path in an annotation that would leave the dataset root."""


def is_file(path: Path) -> bool:
    """Path.is_file that says False for names the OS refuses (too long, bad bytes) instead of raising."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int


class FileIndex:
    """Every file under the root, found once, by suffix and by file name."""

    def __init__(self, root: Path):
        self.root = root
        self.files: list[Path] = []
        self.refused_links: list[tuple[Path, str]] = []  # linked files not followed, with the reason
        resolved_root = root.resolve()
        pending = [root]
        while pending:  # depth-first in sorted order; linked folders are not followed
            folder = pending.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            subfolders = []
            for entry in entries:
                if entry.name.startswith(".") or entry.name in _IGNORED_DIRS:
                    continue
                path = Path(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(path)
                elif entry.is_symlink():  # a linked file is kept only if it points inside the root
                    try:
                        target = path.resolve()
                    except (OSError, RuntimeError):  # RuntimeError: a link loop (Python 3.11)
                        self.refused_links.append((path, "link that never ends (a loop): not followed"))
                        continue
                    if not target.is_relative_to(resolved_root):
                        self.refused_links.append((path, f"link to {str(target)[:200]}, outside the dataset root: "
                                                         "not followed"))
                    elif is_file(path):
                        self.files.append(path)
                    elif not exists(path):
                        self.refused_links.append((path, "link to a missing file"))
                    # else a linked folder inside the root: its files are found under their real folder
                elif entry.is_file(follow_symlinks=False):
                    self.files.append(path)
            pending.extend(reversed(subfolders))
        self._by_name: dict[str, list[Path]] | None = None

    def with_suffix(self, *suffixes: str) -> list[Path]:
        return [p for p in self.files if p.suffix.lower() in suffixes]

    def images(self) -> list[Path]:
        return [p for p in self.files if p.suffix.lower() in IMAGE_SUFFIXES]

    def find_by_name(self, name: str, near: Path) -> tuple[Path | None, str]:
        """The file called ``name`` anywhere in the tree, nearest ``near`` when several; else a reason."""
        if self._by_name is None:
            self._by_name = {}
            for path in self.files:
                self._by_name.setdefault(path.name.lower(), []).append(path)
        candidates = self._by_name.get(name.lower(), [])
        if not candidates:
            return None, f"image {name!r} not found under the dataset root"
        if len(candidates) == 1:
            return candidates[0], ""
        shared = [len(os.path.commonpath([str(c.parent), str(near)])) for c in candidates]
        best = max(shared)
        nearest = [c for c, s in zip(candidates, shared) if s == best]
        if len(nearest) > 1:
            where = ", ".join(relative(c, self.root) for c in nearest[:3])
            return None, f"image {name!r} is ambiguous: {len(candidates)} files of that name ({where})"
        return nearest[0], ""


def relative(path: Path, root: Path) -> str:
    """The path as the user knows it inside the dataset, for messages and Skipped entries."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def confined(root: Path, base: Path, name: str) -> Path:
    """``base/name`` if it stays inside ``root``; raises UnsafePath for absolute names, '..' and links out."""
    text = name.replace("\\", "/").strip()
    pure = PurePosixPath(text)
    drive_letter = len(text) > 1 and text[1] == ":"
    if not text or "\x00" in text or pure.is_absolute() or drive_letter or ".." in pure.parts:
        raise UnsafePath(f"path {name[:200]!r} would escape the dataset root")
    candidate = base.joinpath(*pure.parts)
    if exists(candidate) and not candidate.resolve().is_relative_to(root.resolve()):
        raise UnsafePath(f"path {name[:200]!r} resolves outside the dataset root")
    return candidate


def read_annotation(path: Path, limits: dict[str, int] | None = None) -> bytes:
    """The file's bytes; raises ValueError with a clear reason when it is over the size limit."""
    limit = (limits or DEFAULT_MAX_ANNOTATION_BYTES).get(path.suffix.lower(), 16 << 20)
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"annotation file is {size / 2**20:.1f} MiB, over the {limit / 2**20:.1f} MiB limit")
    return path.read_bytes()


def _tail_is_complete(path: Path, kind: str | None) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 1024))
        tail = handle.read()
    if kind == "JPEG":
        # Some cameras pad after the end-of-image marker, so look in the last kilobyte, not the last 2 bytes.
        return b"\xff\xd9" in tail
    if kind == "PNG":
        return tail.endswith(b"IEND\xaeB`\x82")
    return True


class ImageProbe:
    """Size and integrity of image files, each file read once (annotations often repeat an image)."""

    def __init__(self) -> None:
        self._cache: dict[Path, ImageInfo | str] = {}

    def probe(self, path: Path) -> ImageInfo | str:
        """ImageInfo, or the reason the image is missing, unreadable or truncated."""
        if path not in self._cache:
            self._cache[path] = self._probe(path)
        return self._cache[path]

    @staticmethod
    def _probe(path: Path) -> ImageInfo | str:
        from PIL import Image

        if not is_file(path):
            return "image file missing"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # DecompressionBombWarning: we only read the header
                with Image.open(path) as image:
                    width, height, kind = image.size[0], image.size[1], image.format
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad files; all mean "unreadable"
            return f"image unreadable ({type(exc).__name__}: {str(exc)[:120]})"
        if width <= 0 or height <= 0:
            return f"image has no pixels ({width}x{height})"
        if not _tail_is_complete(path, kind):
            return f"image truncated ({kind} end marker missing)"
        return ImageInfo(width, height)
