"""What every reader shares while it reads: the tree, the class resolver, the image probe and the list
of skipped items, so that each reader only deals with its own file format."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from inspection.datasets.files import FileIndex, ImageInfo, ImageProbe, confined, is_file, relative
from inspection.datasets.types import Box, ClassResolver, ImageRecord, Skipped, check_box

# (number shown to the user, class name as written, (x1, y1, x2, y2) in pixels)
RawBox = tuple[int | str, str, tuple[float, float, float, float]]


@dataclass
class ReadContext:
    root: Path
    index: FileIndex
    resolver: ClassResolver
    limits: dict[str, int]
    probe: ImageProbe = field(default_factory=ImageProbe)
    skipped: list[Skipped] = field(default_factory=list)
    _claimed: dict[Path, str] = field(default_factory=dict)

    def rel(self, path: Path) -> str:
        return relative(path, self.root)

    def skip(self, file: Path | str, reason: str) -> None:
        self.skipped.append(Skipped(self.rel(file) if isinstance(file, Path) else file, reason))

    def locate(self, name: str, near: Path, bases: tuple[Path, ...]) -> Path | str:
        """An image named in an annotation: as a path from one of ``bases``, else by file name anywhere.

        Returns the path or the reason it cannot be used (missing, ambiguous); raises UnsafePath when
        the name would leave the root.
        """
        for base in bases:
            candidate = confined(self.root, base, name)
            if is_file(candidate):
                return candidate
        found, reason = self.index.find_by_name(name.replace("\\", "/").rsplit("/", 1)[-1], near)
        return found if found is not None else reason

    def image_info(self, path: Path, annotation: Path) -> ImageInfo | None:
        """Header size of an image not yet used by another annotation file; skips it otherwise."""
        owner = self._claimed.get(path)
        if owner is not None:
            self.skip(annotation, f"image {self.rel(path)} is already used (by {owner})")
            return None
        info = self.probe.probe(path)
        if isinstance(info, str):
            self.skip(path, info)
            return None
        self._claimed[path] = self.rel(annotation)
        return info

    def boxes(self, file: Path, where: str, raw: list[RawBox], width: int, height: int,
              item: str = "box") -> tuple[Box, ...]:
        """The valid boxes among ``raw``; each invalid one becomes a Skipped entry, "<where><item> <n> ..."."""
        kept: list[Box] = []
        for index, raw_name, corners in raw:
            name = self.resolver.resolve(raw_name)
            if name is None:
                self.skip(file, f"{where}{item} {index}: unknown class {raw_name!r}")
                continue
            box = check_box(name, index, corners, width, height, item)
            if isinstance(box, str):
                self.skip(file, f"{where}{box}")
            else:
                kept.append(box)
        return tuple(kept)

    def record(self, path: Path, info: ImageInfo, boxes: tuple[Box, ...], split: str) -> ImageRecord:
        return ImageRecord(path, info.width, info.height, boxes, split)
