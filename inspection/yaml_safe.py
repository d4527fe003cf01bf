"""YAML parsing that a small hostile file cannot turn into minutes of CPU or gigabytes of memory.

``yaml.safe_load`` builds aliases as shared objects, so a 1 KB document of ten nested alias levels
("billion laughs") loads at once; the cost comes later, from whoever walks it: a comparison, a
``repr`` in an error message, a JSON dump. So every YAML file and value the package reads goes
through ``safe_load`` here, which measures the document as it would be walked, counting each alias
as a copy of what it names, before anything is built, and refuses a document whose aliases more than
multiply its size, or that is nested deeper than the parser can follow.
"""
from __future__ import annotations

from typing import Any

import yaml

MIN_EXPANDED_NODES = 100_000  # any document may expand to this many nodes through aliases
ALIAS_GROWTH = 4  # beyond that, aliases may at most multiply the document's own node count by this

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlTooLarge(yaml.YAMLError):
    """The document's aliases expand it far beyond its size, or it is nested too deeply to parse."""


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(nodes as composed, nodes once every alias is counted as a copy), without recursion; a node whose
    expansion is still being counted when reached again (a recursive alias) counts as unbounded."""
    sizes: dict[int, float] = {}
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    while pending:
        node, children_done = pending.pop()
        key = id(node)
        if children_done:
            children = _children(node)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            continue
        if key in sizes:
            continue
        sizes[key] = float("inf")  # in progress: seen again below it means a cycle
        pending.append((node, True))
        pending.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return len(sizes), sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def safe_load(data: str | bytes) -> Any:
    """``yaml.safe_load`` that raises YamlTooLarge (a yaml.YAMLError) for an alias bomb or deep nesting."""
    loader = _Loader(data)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlTooLarge("nested too deeply to read") from None
        if node is None:
            return None
        distinct, expanded = _expanded_size(node)
        if expanded > max(MIN_EXPANDED_NODES, ALIAS_GROWTH * distinct):
            shown = "a recursive alias" if expanded == float("inf") else f"{expanded:.3g} nodes"
            raise YamlTooLarge(f"its aliases expand {distinct} nodes to {shown}; refused (an alias bomb?)")
        try:
            return loader.construct_document(node)
        except RecursionError:
            raise YamlTooLarge("nested too deeply to read") from None
    finally:
        loader.dispose()
