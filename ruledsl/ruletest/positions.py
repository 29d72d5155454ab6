"""Where things are in a YAML test file: key paths (``cases[0].expect``) and their line:col."""

from __future__ import annotations

import re
from typing import Any, Optional

import yaml

_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[\.\.\.\]")


def parse_key_path(text: str) -> list:
    """``$.cases[0].expect`` -> ``["cases", 0, "expect"]`` (``[...]`` -> ``...``)."""
    out: list = []
    for m in _PATH_TOKEN.finditer(text):
        if m.group(1) is not None:
            out.append(m.group(1))
        elif m.group(2) is not None:
            out.append(int(m.group(2)))
        else:
            out.append(...)
    return out


def show_key_path(path: list) -> str:
    """``["cases", 0, "expect"]`` -> ``cases[0].expect``, as shown in problems."""
    text = ""
    for tok in path:
        if isinstance(tok, int):
            text += f"[{tok}]"
        elif tok is ...:
            text += "[...]"
        else:
            text += ("." if text else "") + str(tok)
    return text


class YamlPositions:
    """Line:col of keys and values in a YAML document, from its composed node tree."""

    def __init__(self, root: Optional[yaml.Node]):
        self.root = root

    def find(self, path: list, *, key: bool = False) -> Optional[yaml.Node]:
        """The node at ``path`` (or, with ``key``, the key node of its last step); the nearest found."""
        node = self.root
        for i, tok in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, yaml.MappingNode) and isinstance(tok, str):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == tok:
                        node = k if (key and last) else v
                        break
                else:
                    return node
            elif isinstance(node, yaml.SequenceNode) and isinstance(tok, int) and tok < len(node.value):
                node = node.value[tok]
            else:
                return node
        return node

    def mark(self, path: list, *, key: bool = False) -> tuple[int, int]:
        """1-based line and column of the node at ``path`` (as ``find``); ``(0, 0)`` when unknown."""
        if self.root is None:
            return 0, 0
        node = self.find(path, key=key)
        if node is None:
            return 0, 0
        return node.start_mark.line + 1, node.start_mark.column + 1


def duplicate_keys(node: Optional[yaml.Node], path: list, out: list) -> None:
    """Find mapping keys written twice (YAML keeps the last one silently)."""
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                if k.value in seen:
                    out.append(([*path, k.value], k))
                seen.add(k.value)
            duplicate_keys(v, [*path, k.value if isinstance(k, yaml.ScalarNode) else "?"], out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            duplicate_keys(v, [*path, i], out)


MISSING = object()


def follow_path(node: Any, path: list) -> Any:
    """The value at ``path`` in loaded YAML data, or ``MISSING``."""
    for tok in path:
        if (isinstance(node, dict) and tok in node) or (
            isinstance(node, list) and isinstance(tok, int) and tok < len(node)
        ):
            node = node[tok]
        else:
            return MISSING
    return node
