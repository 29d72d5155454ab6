"""The parser's tables are cached across processes (ruledsl.syntax.parser_cache).

Observable behaviour only, never timings: where the file goes, whether a
process built the parser or read it (Lark marks a parser read from a file
with ``source_path == "<deserialized>"``), what a corrupt or unwritable cache
does, and that a cached parser parses exactly like a freshly built one.
"""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
from pathlib import Path

import lark.utils
import pytest
from lark import Lark

from ruledsl.syntax import parser as P
from ruledsl.syntax import parser_cache
from ruledsl.syntax.parser_cache import CACHE_DIR_ENV, cache_key, cache_path, load_or_build

ROOT = Path(__file__).resolve().parents[2]
GRAMMAR = "start: WORD+\n%import common.WORD\n%import common.WS\n%ignore WS\n"
OPTIONS = {"parser": "lalr"}
BUILT_FRESH = "<string>"  # Lark's source_path for a parser built from grammar text
READ_FROM_CACHE = "<deserialized>"

CHILD = """
from ruledsl.syntax import parser as P
mod, diags = P.parse('ruleset r { lateness 1m }\\nevent e { k: string }\\nrule x { reason "x" on e when k == "a" action alert }\\n')
print(P._lark()[0].source_path)
print(len(mod.decls), len(diags))
"""


def _cache_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("parser-*.lark-cache"))


def _run_child(cache: Path) -> list[str]:
    env = {**os.environ, CACHE_DIR_ENV: str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout.split("\n")[:2]


def test_the_cache_file_goes_to_RULEDSL_CACHE_DIR_and_a_second_process_reads_it(tmp_path: Path) -> None:
    cache = tmp_path / "made" / "by" / "ruledsl"
    first = _run_child(cache)
    assert first == [BUILT_FRESH, "3 0"]
    (path,) = _cache_files(cache)
    before = path.stat()
    assert not list(cache.glob("*.tmp"))  # the temporary file was moved into place

    second = _run_child(cache)
    assert second == [READ_FROM_CACHE, "3 0"]
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert _cache_files(cache) == [path]


def test_processes_building_at_once_leave_one_whole_file(tmp_path: Path) -> None:
    cache = tmp_path / "shared"
    env = {**os.environ, CACHE_DIR_ENV: str(cache)}
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [child.communicate(timeout=120)[0].split("\n")[1] for child in children]
    assert [child.returncode for child in children] == [0] * 4
    assert outputs == ["3 0"] * 4
    assert len(_cache_files(cache)) == 1
    assert not list(cache.glob("*.tmp"))
    assert _run_child(cache) == [READ_FROM_CACHE, "3 0"]


def test_the_key_covers_grammar_options_and_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    key = cache_key(GRAMMAR, OPTIONS)
    assert cache_key(GRAMMAR, dict(OPTIONS)) == key
    assert cache_key(GRAMMAR + "\n", OPTIONS) != key
    assert cache_key(GRAMMAR, {**OPTIONS, "maybe_placeholders": False}) != key
    # the transformer is attached when the file is read: it does not change the tables
    assert cache_key(GRAMMAR, {**OPTIONS, "transformer": object()}) == key
    monkeypatch.setattr(parser_cache, "__version__", "999.0")
    assert cache_key(GRAMMAR, OPTIONS) != key
    monkeypatch.setattr(parser_cache.lark, "__version__", "0.0.1")
    assert cache_key(GRAMMAR, OPTIONS) != key


def test_a_changed_grammar_does_not_reuse_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    assert load_or_build(GRAMMAR, **OPTIONS).source_path == BUILT_FRESH
    assert load_or_build(GRAMMAR, **OPTIONS).source_path == READ_FROM_CACHE
    changed = GRAMMAR.replace("WORD+", 'WORD+ "!"')
    parser = load_or_build(changed, **OPTIONS)
    assert parser.source_path == BUILT_FRESH
    assert len(_cache_files(tmp_path)) == 2
    assert [str(t) for t in parser.parse("hello world !").children] == ["hello", "world"]
    with pytest.raises(lark.exceptions.UnexpectedInput):
        parser.parse("hello world")


@pytest.mark.parametrize("garbage", [b"", b"not a pickle at all\n\x00\x01", b"0" * 64 + b"\n\x80\x05truncated"])
def test_a_corrupt_file_falls_back_to_building_and_is_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, garbage: bytes
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    load_or_build(GRAMMAR, **OPTIONS)
    path = cache_path(GRAMMAR, OPTIONS)
    assert path is not None and path.is_file()
    path.write_bytes(garbage)

    parser = load_or_build(GRAMMAR, **OPTIONS)
    assert parser.source_path == BUILT_FRESH
    assert [str(t) for t in parser.parse("a b").children] == ["a", "b"]
    assert path.read_bytes() != garbage
    assert load_or_build(GRAMMAR, **OPTIONS).source_path == READ_FROM_CACHE


def test_a_cache_directory_that_cannot_be_created_only_costs_the_build(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert _run_child(blocker / "cache") == [BUILT_FRESH, "3 0"]
    assert blocker.read_text() == "not a directory"


def test_an_unwritable_cache_directory_only_costs_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    real_open = builtins.open

    def read_only_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    # Lark opens its cache files through lark.utils.FS.open (root ignores directory permissions)
    monkeypatch.setattr(lark.utils.FS, "open", staticmethod(read_only_open))
    for _ in range(2):
        parser = load_or_build(GRAMMAR, **OPTIONS)
        assert parser.source_path == BUILT_FRESH
        assert [str(t) for t in parser.parse("a b").children] == ["a", "b"]
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_cache_that_holds_the_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    load_or_build(GRAMMAR, **OPTIONS)
    real_open = builtins.open

    def read_only_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(lark.utils.FS, "open", staticmethod(read_only_open))
    assert load_or_build(GRAMMAR, **OPTIONS).source_path == READ_FROM_CACHE


def test_no_cache_directory_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser_cache, "cache_dir", lambda: None)
    assert isinstance(load_or_build(GRAMMAR, **OPTIONS), Lark)


def _corpus() -> list[Path]:
    files = sorted((ROOT / "rulesets").rglob("*.rdsl")) + sorted((ROOT / "benchmarks").glob("*.rdsl"))
    assert len(files) >= 5
    return files


def test_a_cached_parser_parses_exactly_like_a_fresh_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    fresh, fresh_t = P._build_lark()
    cached, cached_t = P._build_lark()
    assert (fresh.source_path, cached.source_path) == (BUILT_FRESH, READ_FROM_CACHE)
    assert _terminals(fresh) == _terminals(cached)
    anon = P._anonymous_terminals()
    fresh_t.anon = cached_t.anon = anon
    broken = 'ruleset b { lateness 1m }\nevent e { k: string }\nrule r { reason "r" on e when k = "a" action alert }\n'
    for path in _corpus():
        text = path.read_text(encoding="utf-8-sig")
        assert cached.parse(text) == fresh.parse(text), path
    for text in (broken, "rule { when"):
        errors = []
        for parser in (fresh, cached):
            with pytest.raises(lark.exceptions.UnexpectedInput) as info:
                parser.parse(text)
            err = info.value
            errors.append(
                (
                    type(err),
                    getattr(err, "line", None),
                    getattr(err, "column", None),
                    sorted(getattr(err, "expected", ())),
                )
            )
        assert errors[0] == errors[1]


def _terminals(parser: Lark) -> list[tuple]:
    return [(t.name, t.pattern.type, t.pattern.value, frozenset(t.pattern.flags), t.priority) for t in parser.terminals]
