"""Load YAML while remembering where each value was written, so errors can cite a line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


class LocatedYaml:
    """Parsed data plus the node tree that maps a pydantic error location back to a line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        text = path.read_text()
        self.root = yaml.compose(text, Loader=yaml.SafeLoader)
        self.data: Any = yaml.safe_load(text)

    def line_of(self, loc: Sequence[int | str]) -> int | None:
        """1-based line of the deepest node on `loc` that exists (the parent key for a missing field)."""
        node = self.root
        if node is None:
            return None
        line: int = node.start_mark.line + 1
        for part in loc:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == str(part):
                        child = value
                        line = key.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                child = node.value[part]
                line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line
