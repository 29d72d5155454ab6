"""docs/api.md stays in step with the code (issue 14).

* every name the facade exports (``ruledsl.__all__``) and every public
  ``Engine`` method, property and attribute has a heading in docs/api.md;
* every name a heading documents exists, and a heading's signature is the
  code's (parameter names, kinds and defaults);
* every field of the exported structs, and every attribute an exported
  exception's ``__init__`` sets, has a row in its section's table, and every
  row names something that exists;
* every public ``Engine`` method appears in the thread-safety table;
* the page's Python blocks run as written (``tests/docblocks.py``).

A failure says what to add or remove; for a signature it prints the heading
the code implies, so the page can be updated by copying it.
"""

from __future__ import annotations

import ast
import builtins
import enum
import importlib
import inspect
import re
from pathlib import Path
from typing import Any, Optional

import msgspec
import pytest
from docblocks import ROOT, python_blocks, run_python_blocks

import ruledsl

DOC = ROOT / "docs" / "api.md"
_HEADING = re.compile(r"^(#{2,4}) (.*)$", re.MULTILINE)
_FENCED = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
_SPAN = re.compile(r"`([^`]+)`")
_ENTRY = re.compile(r"^([A-Za-z_][\w.]*)(\(.*\))?$")


def _text() -> str:
    return _FENCED.sub("", DOC.read_text(encoding="utf-8"))  # a `# comment` in a code block is no heading


class Section:
    """One heading: the names it documents (``Engine.evaluate``), their signatures, and its body."""

    def __init__(self, level: int, title: str, body: str):
        self.level = level
        self.title = title
        self.body = body
        self.entries: dict[str, Optional[str]] = {}  # name -> "(sig)" or None
        for span in _SPAN.findall(title):
            m = _ENTRY.match(span)
            if m:
                self.entries[_canonical(m.group(1))] = m.group(2)

    def rows(self) -> list[str]:
        """The first cell of each table row of the section's own body (``name`` or ``name()``)."""
        out = []
        for line in self.body.splitlines():
            m = re.match(r"^\| `([^`]+)` \|", line)
            if m:
                out.append(re.sub(r"\(.*\)$", "", m.group(1)))
        return out


def _canonical(name: str) -> str:
    # `ruledsl.load` and `load` are one entry; dotted module paths stay as they are
    rest = name.removeprefix("ruledsl.")
    return rest if rest != name and rest.split(".")[0] in ruledsl.__all__ else name


def sections() -> list[Section]:
    text = _text()
    marks = list(_HEADING.finditer(text))
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out.append(Section(len(m.group(1)), m.group(2), text[m.end() : end]))
    return out


def documented() -> dict[str, Optional[str]]:
    out: dict[str, Optional[str]] = {}
    for s in sections():
        for name, sig in s.entries.items():
            assert name not in out, f"docs/api.md documents `{name}` twice"
            out[name] = sig
    return out


def section_of(name: str) -> Section:
    found = [s for s in sections() if name in s.entries]
    assert found, f"docs/api.md has no heading for `{name}`"
    return found[0]


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> ruledsl.Engine:
    return ruledsl.load(ROOT / "rulesets" / "echannel_monitoring.rdsl", compiled="never", clock=None)


def engine_names(engine: ruledsl.Engine) -> set[str]:
    """Every public name of an engine: the class's methods and properties and the instance's attributes."""
    names = {n for n in dir(ruledsl.Engine) if not n.startswith("_")}
    names |= {n for n in vars(engine) if not n.startswith("_") and n != "evaluate"}  # the Cython evaluate shadows
    return names


def _resolve(name: str, engine: ruledsl.Engine) -> Any:
    """The object a documented name refers to; AttributeError/ImportError when it does not exist."""
    parts = name.split(".")
    if parts[0] == "ruledsl" and len(parts) > 1:  # a module path: the longest importable prefix
        for cut in range(len(parts), 0, -1):
            try:
                obj: Any = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            return obj
        raise ImportError(name)
    if parts[0] not in ruledsl.__all__:
        raise AttributeError(f"`{parts[0]}` is not exported by ruledsl")
    obj = getattr(ruledsl, parts[0])
    for attr in parts[1:]:
        if obj is ruledsl.Engine and attr in vars(engine):
            return vars(engine)[attr]
        obj = inspect.getattr_static(obj, attr)
    return obj


# ---------------------------------------------------------------- names


def test_every_exported_name_is_documented():
    missing = sorted(set(ruledsl.__all__) - set(documented()))
    assert not missing, f"exported by ruledsl/__init__.py but not documented in docs/api.md: {missing}"


def test_every_public_engine_name_is_documented(engine):
    have = {n.removeprefix("Engine.") for n in documented() if n.startswith("Engine.")}
    missing = sorted(engine_names(engine) - have)
    assert not missing, (
        "public Engine methods, properties or attributes not documented in docs/api.md (add a heading "
        f"`#### \\`Engine.<name>(...)\\``): {missing}"
    )


def test_every_documented_name_exists(engine):
    gone = []
    for name in documented():
        try:
            _resolve(name, engine)
        except (AttributeError, ImportError):
            gone.append(name)
    assert not gone, f"docs/api.md documents names that do not exist (any more): {gone}"


# ---------------------------------------------------------------- signatures


def _default_text(value: Any) -> str:
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    if isinstance(value, enum.Enum):
        return repr(value.value)
    return repr(value)


def heading_for(name: str, obj: Any) -> str:
    """The signature heading the code implies (what the page should say)."""
    sig = inspect.signature(obj)
    params = [p for p in sig.parameters.values() if p.name != "self"]
    parts: list[str] = []
    star = False
    for p in params:
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        if p.kind is p.VAR_POSITIONAL:
            star = True
            parts.append(f"*{p.name}")
            continue
        if p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
            continue
        text = p.name if p.default is p.empty else f"{p.name}={_default_text(p.default)}"
        parts.append(text.replace("'", '"'))
    return f"{name}({', '.join(parts)})"


def _parsed(sig: str) -> list[tuple[str, str, Optional[str]]]:
    """(name, kind, default text) of each parameter of a documented ``(signature)``."""
    args = ast.parse(f"def f{sig}: pass").body[0].args  # type: ignore[attr-defined]
    out: list[tuple[str, str, Optional[str]]] = []
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for a, d in zip(positional, defaults, strict=True):
        out.append((a.arg, "POSITIONAL_OR_KEYWORD", None if d is None else _norm(ast.unparse(d))))
    if args.vararg:
        out.append((args.vararg.arg, "VAR_POSITIONAL", None))
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out.append((a.arg, "KEYWORD_ONLY", None if d is None else _norm(ast.unparse(d))))
    if args.kwarg:
        out.append((args.kwarg.arg, "VAR_KEYWORD", None))
    return out


def _norm(text: str) -> str:
    return text.replace("'", '"')


def _code(obj: Any) -> list[tuple[str, str, Optional[str]]]:
    out = []
    for p in inspect.signature(obj).parameters.values():
        if p.name == "self":
            continue
        kind = "POSITIONAL_OR_KEYWORD" if p.kind is p.POSITIONAL_ONLY else p.kind.name
        out.append((p.name, kind, None if p.default is p.empty else _norm(_default_text(p.default))))
    return out


def test_documented_signatures_are_the_codes(engine):
    wrong = []
    checked = 0
    for name, sig in documented().items():
        obj = _resolve(name, engine)
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if sig is None:
            if inspect.isfunction(obj) and not name.startswith("ruledsl."):  # a method documented without (...)
                wrong.append(f"`{name}` is a function: document it as `{heading_for(name, obj)}`")
            continue
        checked += 1
        if not callable(obj) or isinstance(obj, property):
            wrong.append(f"`{name}{sig}`: not callable")
        elif _parsed(sig) != _code(obj):
            wrong.append(f"`{name}{sig}` should be `{heading_for(name, obj)}`")
    assert checked >= 25  # the extraction works
    assert not wrong, "docs/api.md signatures differ from the code:\n" + "\n".join(wrong)


# ---------------------------------------------------------------- fields and attributes


def _exported(kind: type) -> list[tuple[str, type]]:
    return [(n, getattr(ruledsl, n)) for n in ruledsl.__all__ if isinstance(getattr(ruledsl, n), type)]


def _own_public(cls: type) -> set[str]:
    """Public properties and methods a class defines itself (a Struct's, besides its fields)."""
    return {n for n, v in vars(cls).items() if not n.startswith("_") and (callable(v) or isinstance(v, property))}


STRUCTS = [(n, c) for n, c in _exported(type) if issubclass(c, msgspec.Struct)]
ERRORS = [(n, c) for n, c in _exported(type) if issubclass(c, BaseException)]


@pytest.mark.parametrize("name,cls", STRUCTS, ids=[n for n, _ in STRUCTS])
def test_struct_fields_are_documented(name, cls):
    rows = set(section_of(name).rows())
    fields = {f.name for f in msgspec.structs.fields(cls)}
    wanted = fields | _own_public(cls)
    missing = sorted(wanted - rows)
    assert not missing, f"docs/api.md, `{name}`: add a table row for {missing}"
    extra = sorted(rows - wanted)
    assert not extra, f"docs/api.md, `{name}` documents {extra}, which `{name}` does not have"


def test_arrow_result_members_are_documented():
    rows = set(section_of("ArrowResult").rows())
    cls = ruledsl.ArrowResult
    wanted = {n for n in cls.__slots__ if not n.startswith("_")} | _own_public(cls)
    assert rows == wanted, f"docs/api.md, `ArrowResult`: documents {sorted(rows)}, has {sorted(wanted)}"


_SETS = re.compile(r"\bself\.([a-z]\w*)\s*=")
_SOURCES = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "ruledsl").rglob("*.py"))


def _init_attributes(cls: type) -> set[str]:
    """The public attributes an exception's own ``__init__`` sets (``self.x = ...``)."""
    init = vars(cls).get("__init__")
    if init is None:
        return set()
    return set(_SETS.findall(inspect.getsource(init)))


@pytest.mark.parametrize("name,cls", ERRORS, ids=[n for n, _ in ERRORS])
def test_exception_attributes_are_documented(name, cls):
    section = section_of(name)
    rows = set(section.rows())
    missing = sorted(_init_attributes(cls) - rows)
    assert not missing, f"docs/api.md, `{name}`: add a table row for the attribute(s) {missing}"
    # a documented attribute is set somewhere: by the class or by the code that raises it (err.index = ...)
    unknown = sorted(r for r in rows if not re.search(rf"\.{re.escape(r)}\s*=[^=]", _SOURCES))
    assert not unknown, f"docs/api.md, `{name}` documents attributes nothing sets: {unknown}"


def _class(name: str) -> type:
    """An exception named in the table: exported, a ``ruledsl.`` path, or a built-in."""
    name = _canonical(name)
    if name in ruledsl.__all__ or name.startswith("ruledsl."):
        return _resolve(name, None)  # type: ignore[arg-type]
    return getattr(builtins, name)


def test_exception_table_names_the_real_bases():
    text = _text()
    table = text[text.index("| exception | base classes |") :].split("\n\n")[0]
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        cls = _class(cells[0].strip("`"))
        bases = [_class(b) for b in _SPAN.findall(cells[1])]
        assert list(cls.__bases__) == bases, (
            f"docs/api.md, exception table: {cells[0]}'s base classes are "
            f"{', '.join(f'`{b.__name__}`' for b in cls.__bases__)}"
        )


def test_every_exported_exception_is_in_the_exception_table():
    text = _text()
    table = text[text.index("| exception | base classes |") :].split("\n\n")[0]
    listed = {_canonical(m) for m in re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE)}
    missing = sorted(n for n, _ in ERRORS if n not in listed)
    assert not missing, f"docs/api.md: the exception table lacks {missing}"


# ---------------------------------------------------------------- thread safety


def test_thread_safety_table_covers_every_engine_call(engine):
    text = _text()
    start = text.index("## Thread safety")
    table = text[start : text.index("\n## ", start + 1)]
    named = {w for cell in re.findall(r"^\| ([^|]+) \|", table, re.MULTILINE) for w in _SPAN.findall(cell)}
    calls = {n for n in dir(ruledsl.Engine) if not n.startswith("_")}
    missing = sorted(calls - named)
    assert not missing, f"docs/api.md, Thread safety: say which lock these take: {missing}"


# ---------------------------------------------------------------- examples


def test_api_doc_has_runnable_examples():
    assert any(b.runs and "ruledsl.load(" in b.source for b in python_blocks(DOC))


def test_api_doc_python_blocks_run(tmp_path: Path, monkeypatch):
    ns = run_python_blocks(DOC, tmp_path, monkeypatch)
    assert isinstance(ns["engine"], ruledsl.Engine)
