"""Fenced code blocks of the Markdown docs, and running their Python examples (README.md, docs/api.md).

A ```python block is an example that runs as written: the blocks of one
document run in order in one namespace (a later block may use an earlier
block's names, as a reader would), in a fresh directory where ``rulesets/``
is the repository's, so relative paths resolve and files an example writes
(a snapshot, an audit log) land outside the repository.  A block that cannot
run in the tests says why in its info string, ```python no-run (needs a
redis-server)``; it is still compiled.  No network and nothing outside the
repository is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_FENCE = re.compile(r"^```(\w[\w-]*)?([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
"""As ``test_docs_examples._FENCE``, keeping the rest of the info string (``no-run (why)``)."""


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, the rest of its info string, its first line of code and text."""

    lang: str
    info: str
    line: int
    source: str

    @property
    def runs(self) -> bool:
        """True for a Python example that runs as written (not marked ``no-run``)."""
        return self.lang == "python" and not self.info.startswith("no-run")


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    return [
        Block(m.group(1) or "", m.group(2).strip(), text.count("\n", 0, m.start()) + 2, m.group(3))
        for m in _FENCE.finditer(text)
    ]


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of a Markdown file (those that run and the ``no-run`` ones)."""
    return [b for b in blocks(path) if b.lang == "python"]


def run_python_blocks(path: Path, workdir: Path, monkeypatch) -> dict:
    """Run every runnable Python block of ``path`` in order, in one namespace, from ``workdir``.

    ``no-run`` blocks are compiled only, and must say why.  Returns the
    namespace.  A failing block is reported with its document and line.
    """
    (workdir / "rulesets").symlink_to(ROOT / "rulesets", target_is_directory=True)
    monkeypatch.chdir(workdir)
    namespace: dict = {"__name__": f"doc_{path.stem}"}
    rel = path.relative_to(ROOT)
    for block in python_blocks(path):
        where = f"{rel}:{block.line}"
        code = compile(block.source, where, "exec")
        if not block.runs:
            assert re.fullmatch(r"no-run \(.+\)", block.info), f"{where}: say why it does not run: no-run (why)"
            continue
        try:
            exec(code, namespace)  # noqa: S102 -- the repository's own documentation
        except Exception as err:
            raise AssertionError(f"the Python example at {where} fails: {type(err).__name__}: {err}") from err
    return namespace
