"""The import structure of ``ruledsl/``: no cycles between modules, packages in layer order.

Every module under ``ruledsl/`` is parsed with ``ast`` (nothing is imported)
and every import of a ruledsl module is collected, wherever it stands: at the
top, inside a function (late imports), under ``if TYPE_CHECKING``.  Relative
imports are resolved against the importing module.  An import names the most
specific module it loads (``from ruledsl.syntax import nodes`` is an edge to
``ruledsl.syntax.nodes``; ``from ruledsl import __version__`` an edge to the
facade ``ruledsl``); the parent packages Python initialises on the way are not
counted, or every module would depend on the facade.

The rules (CONTRIBUTING / the developers' guide):

* no import cycle between modules, late imports included;
* a module of package ``P`` imports only from ``P`` or packages earlier in
  ``LAYERS``.  The facade (``ruledsl/__init__.py``, ``ruledsl/__main__.py``)
  sits above every package: it may import anything, no package may import it.
  ``ruledsl.grammar`` is data (``grammar/*.lark``), read by any layer.

Imports through ``importlib`` (the CLI's ``COMMAND_MODULES``) are not seen.
An exception to the rules is an edge in ``ALLOWED`` with the reason for it;
an entry that no longer matches an import fails the test, so the list only
shrinks.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "ruledsl"

LAYERS: tuple[str, ...] = (
    "kernels",
    "syntax",
    "check",
    "compile",
    "stores",
    "runtime",
    "oracle",
    "ruletest",
    "sim",
    "lab",
    "serve",
    "cli",
)
"""The packages of ``ruledsl``, lowest first: each may import only itself and those before it."""

FACADE = "<facade>"
DATA = "<data>"
DATA_PACKAGES = frozenset({"grammar", "_version"})  # the grammar file; the version string

ALLOWED: dict[tuple[str, str], str] = {}
"""(importer, imported) -> why this import may break the rules.  Keep it short; each entry is a debt."""


# ---------------------------------------------------------------- reading the tree


def module_name(path: Path, root: Path) -> str:
    """The dotted name of a module file below ``root`` (``ruledsl/a/__init__.py`` is ``ruledsl.a``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of ``package`` under ``root``: Python sources, and Cython sources as imports' targets."""
    found: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*")):
        if path.suffix in (".py", ".pyx") and path.is_file() and "__pycache__" not in path.parts:
            found.setdefault(module_name(path, root), path)
    return found


def _resolve(name: str, known: Iterable[str]) -> str:
    """The longest known module that ``name`` is or lies in (``name`` itself if none is known)."""
    known = set(known)
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in known:
            return candidate
    return name


def imports_of(source: str, module: str, is_package: bool, known: Iterable[str], package: str = PACKAGE) -> set[str]:
    """The modules of ``package`` that ``source`` (the text of ``module``) imports, anywhere in the file."""
    known = set(known)
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            bases = [alias.name for alias in node.names]
            for base in bases:
                if base == package or base.startswith(package + "."):
                    out.add(_resolve(base, known))
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            here = module.split(".") if is_package else module.split(".")[:-1]
            up = node.level - 1
            if up > len(here) - 1:
                raise ValueError(f"{module}: relative import beyond the top-level package")
            anchor = here[: len(here) - up]
            base = ".".join(anchor + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        if not (base == package or base.startswith(package + ".")):
            continue
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            # `from pkg import mod` loads the submodule; `from mod import name` only the module
            out.add(sub if sub in known else _resolve(base, known))
    out.discard(module)
    return out


def import_graph(root: Path, package: str = PACKAGE) -> dict[str, set[str]]:
    """module -> the package's modules it imports, for every module under ``root/package``."""
    modules = find_modules(root, package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        if path.suffix != ".py":
            graph[name] = set()  # an extension module's cimports are not Python imports
            continue
        source = path.read_text(encoding="utf-8")
        graph[name] = imports_of(source, name, path.name == "__init__.py", modules, package)
    return graph


# ---------------------------------------------------------------- the rules


def layer_of(module: str, package: str = PACKAGE) -> str:
    """The package (layer) a module belongs to, ``FACADE`` for the top level, ``DATA`` for data packages."""
    parts = module.split(".")
    if parts[0] != package:
        raise ValueError(f"{module} is not in {package}")
    if len(parts) == 1 or parts[1] == "__main__":
        return FACADE
    if parts[1] in DATA_PACKAGES:
        return DATA
    return parts[1]


def layer_violations(graph: Mapping[str, Iterable[str]], layers: tuple[str, ...] = LAYERS) -> list[str]:
    """Every import that goes up the layer order, to the facade, or from/to a package not in ``layers``."""
    rank = {name: i for i, name in enumerate(layers)}
    problems: list[str] = []
    for importer in sorted(graph):
        src = layer_of(importer)
        if src in (FACADE, DATA):  # the facade may import anything; data modules import nothing of ours
            if src == DATA and graph[importer]:
                problems.append(f"{importer}: a data module imports {sorted(graph[importer])}")
            continue
        if src not in rank:
            problems.append(f"{importer}: package `{src}` is not in the layer order; add it to LAYERS")
            continue
        for target in sorted(graph[importer]):
            dst = layer_of(target)
            if dst == DATA:
                continue
            if dst == FACADE:
                problems.append(f"{importer} imports the facade `{target}` (import from the defining module)")
            elif dst not in rank:
                problems.append(f"{importer} imports {target}: package `{dst}` is not in the layer order")
            elif rank[dst] > rank[src]:
                problems.append(f"{importer} ({src}) imports {target} ({dst}), a later layer")
    return problems


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None when the graph has none."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        state[start] = 1
        stack = [iter(sorted(graph.get(start, ())))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                state[path.pop()] = 2
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if state.get(nxt) == 2:
                continue
            state[nxt] = 1
            path.append(nxt)
            stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def without_allowed(graph: Mapping[str, Iterable[str]], allowed: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """A copy of ``graph`` without the allowed edges."""
    skip = set(allowed)
    return {a: {b for b in targets if (a, b) not in skip} for a, targets in graph.items()}


# ---------------------------------------------------------------- the tree


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(ROOT)


def test_the_tree_is_read(graph):
    # the checker sees the package: every layer has modules, and known imports are found
    assert {layer_of(m) for m in graph} >= set(LAYERS)
    assert "ruledsl.syntax.nodes" in graph["ruledsl.syntax.parser"]
    assert "ruledsl.cli.app" in graph["ruledsl.__main__"]


def test_every_import_names_an_existing_module(graph):
    dangling = sorted(
        f"{a} imports {b}" for a, targets in graph.items() for b in targets if b not in graph and layer_of(b) != DATA
    )
    assert not dangling, "imports of modules that do not exist:\n  " + "\n  ".join(dangling)


def test_no_import_cycles(graph):
    cycle = find_cycle(without_allowed(graph, ALLOWED))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_packages_import_only_earlier_layers(graph):
    problems = layer_violations(without_allowed(graph, ALLOWED))
    assert not problems, "imports against the layer order " + " < ".join(LAYERS) + ":\n  " + "\n  ".join(problems)


def test_allowed_exceptions_are_still_needed(graph):
    stale = [f"{a} -> {b}" for (a, b) in ALLOWED if b not in graph.get(a, ())]
    assert not stale, "ALLOWED entries that match no import any more (remove them): " + ", ".join(stale)
    assert all(reason.strip() for reason in ALLOWED.values()), "every ALLOWED entry needs its reason"


# ---------------------------------------------------------------- the checker itself


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_checker_resolves_absolute_relative_and_late_imports(tmp_path):
    root = _tree(
        tmp_path,
        {
            "ruledsl/__init__.py": "from ruledsl.runtime.engine import Engine\n__version__ = '0'\n",
            "ruledsl/kernels/__init__.py": "",
            "ruledsl/kernels/values.py": "import os\n",
            "ruledsl/kernels/_state.pyx": "cdef int x = 0\n",
            "ruledsl/syntax/__init__.py": "from . import nodes\n",
            "ruledsl/syntax/nodes.py": "",
            "ruledsl/syntax/parser.py": (
                "from . import nodes as n\nfrom .nodes import Span\nfrom ..kernels.values import X\n"
                "import ruledsl.kernels._state\n"
                "def f():\n    from ruledsl.check import types\n"
                "if False:\n    import ruledsl.syntax.nodes\n"
            ),
            "ruledsl/check/__init__.py": "",
            "ruledsl/check/types.py": "from ruledsl.syntax import parser, nodes\nfrom ruledsl import __version__\n",
            "ruledsl/runtime/__init__.py": "",
            "ruledsl/runtime/engine.py": "from ruledsl.kernels import values\n",
        },
    )
    graph = import_graph(root)
    assert graph["ruledsl.syntax"] == {"ruledsl.syntax.nodes"}
    assert graph["ruledsl.syntax.parser"] == {
        "ruledsl.syntax.nodes",
        "ruledsl.kernels.values",
        "ruledsl.kernels._state",
        "ruledsl.check.types",
    }
    assert graph["ruledsl.check.types"] == {"ruledsl.syntax.parser", "ruledsl.syntax.nodes", "ruledsl"}
    assert graph["ruledsl"] == {"ruledsl.runtime.engine"}
    assert graph["ruledsl.kernels.values"] == set()

    # syntax.parser -> check.types goes up; check.types -> the facade is never allowed
    assert layer_violations(graph) == [
        "ruledsl.check.types imports the facade `ruledsl` (import from the defining module)",
        "ruledsl.syntax.parser (syntax) imports ruledsl.check.types (check), a later layer",
    ]
    cycle = find_cycle(graph)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert all(b in graph[a] for a, b in itertools.pairwise(cycle))
    assert set(cycle) >= {"ruledsl.syntax.parser", "ruledsl.check.types"}


def test_find_cycle_reports_the_path():
    graph = {
        "ruledsl.a.x": {"ruledsl.a.y"},
        "ruledsl.a.y": {"ruledsl.b.z"},
        "ruledsl.b.z": {"ruledsl.a.x"},
        "ruledsl.c.w": {"ruledsl.a.x"},
    }
    assert find_cycle(graph) == ["ruledsl.a.x", "ruledsl.a.y", "ruledsl.b.z", "ruledsl.a.x"]
    assert find_cycle(without_allowed(graph, {("ruledsl.b.z", "ruledsl.a.x")})) is None
    assert find_cycle({"ruledsl.a.x": {"ruledsl.a.x"}}) == ["ruledsl.a.x", "ruledsl.a.x"]
    # a diamond is not a cycle
    assert find_cycle({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}) is None


def test_layer_violations_on_a_synthetic_graph():
    graph = {
        "ruledsl": {"ruledsl.cli.app"},  # the facade may import anything
        "ruledsl.__main__": {"ruledsl.cli.app"},
        "ruledsl.cli.app": {"ruledsl.syntax.nodes", "ruledsl.cli.run", "ruledsl.grammar"},
        "ruledsl.syntax.nodes": set(),
        "ruledsl.kernels.values": {"ruledsl.syntax.nodes"},  # upward
        "ruledsl.extra.thing": set(),  # a package nobody placed in the order
    }
    assert layer_violations(graph) == [
        "ruledsl.extra.thing: package `extra` is not in the layer order; add it to LAYERS",
        "ruledsl.kernels.values (kernels) imports ruledsl.syntax.nodes (syntax), a later layer",
    ]
    assert layer_violations(without_allowed(graph, {("ruledsl.kernels.values", "ruledsl.syntax.nodes")})) == [
        "ruledsl.extra.thing: package `extra` is not in the layer order; add it to LAYERS"
    ]


def test_relative_import_beyond_the_package_is_an_error():
    with pytest.raises(ValueError, match="beyond the top-level package"):
        imports_of("from ... import x\n", "ruledsl.a", is_package=False, known=set())
