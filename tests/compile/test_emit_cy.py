"""The Cython emitter's text: the Python evaluator's statements with names bound to the Evaluator."""

from __future__ import annotations

from pathlib import Path

from ruledsl.check.checker import check_files
from ruledsl.compile import compile_ruleset
from ruledsl.compile.emit_cy import _rewrite, bound_names, cython_module

ROOT = Path(__file__).resolve().parents[2]


def test_rewrite_binds_globals_and_leaves_strings_attributes_and_locals():
    bound = {"P", "W_c", "S_s", "_hash", "K_x"}
    line = "    p_a = P[3]; k = f_P if 'P' in K_x else _hash(f.P)  # P stays in comments"
    assert _rewrite(line, bound, {"W_c"}, {"S_s"}) == (
        "    p_a = self.P[3]; k = f_P if 'P' in self.K_x else self._hash(f.P)  # P stays in comments"
    )


def test_rewrite_calls_kernels_through_their_c_entry_points():
    line = "w = W_c.query_add(k, ts, a, True) if d else W_c.query(k, ts, 0, False); S_s.add(sk, ts, m)"
    out = _rewrite(line, {"W_c", "S_s", "W_l"}, {"W_c"}, {"S_s"})
    assert out == (
        "w = window_query_add(self.W_c, k, ts, a, True) if d else window_query(self.W_c, k, ts, 0, False); "
        "sequence_add(self.S_s, sk, ts, m)"
    )
    # a last() window is a Python object: its calls stay method calls
    assert _rewrite("x = W_l.query(k, ts, 0, False)", {"W_l"}, set(), set()) == "x = self.W_l.query(k, ts, 0, False)"


def test_module_keeps_the_dsl_comments_and_maps_lines_back():
    result = check_files([ROOT / "benchmarks" / "standard.rdsl"])
    compiled = compile_ruleset(result)
    module = cython_module(compiled, "ruledsl_ev_test")
    text = module.source
    assert "cdef class Evaluator:" in text
    assert "# rule black_counterparty (benchmarks/standard.rdsl:" in text or "# rule black_counterparty (" in text
    assert "window_query_add(self.W_card_txn_10m" in text
    assert set(module.functions) == set(compiled.event_types) == set(module.rows)
    # every bound name is one the Python evaluator loads, and every line of rule code maps to the DSL
    assert {"P", "CLK", "PASS"} <= set(bound_names(compiled))
    lines = text.splitlines()
    rule_line = next(i for i, ln in enumerate(lines, 1) if "# rule black_counterparty" in ln)
    loc = module.linemap.lookup(rule_line + 1)
    assert loc is not None and loc.label == "rule black_counterparty" and loc.path.endswith("standard.rdsl")
    assert module.linemap.filename == "ruledsl_ev_test.pyx"


def test_cli_shows_the_cython_module_with_its_line_map():
    from typer.testing import CliRunner

    from ruledsl.cli.app import app

    path = str(ROOT / "benchmarks" / "standard.rdsl")
    res = CliRunner().invoke(app, ["compile", path, "--cython", "--linemap"])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if "# rule black_counterparty" in ln)
    assert "standard.rdsl:" in line  # the DSL location column
    res = CliRunner().invoke(app, ["compile", path, "--cython", "--event", "transfer"])
    assert res.exit_code != 0 and "--cython shows the whole Cython module" in res.output


def test_split_body_hands_over_what_later_code_reads(monkeypatch):
    from ruledsl.compile import chunks

    monkeypatch.setattr(chunks, "MAX_CHUNK_LINES", 5)
    body = [
        "    late = ts < self.CLK[1]",
        "    w_a = window_query(self.W_a, f_k, ts, 0, False)",
        "    hits = None",
        "    # rule one",
        "    if w_a > p_x:",
        "        if hits is None: hits = []",
        "        hits.append((0, {'a': w_a, 'late': 1e5}))",
        "    c_1 = f_amount * 2",
        "    # rule two 'c_1' w_a",
        "    if c_1 > 5 and f_k in self.K_x and _SR(name='hits', score=w_a):",
        "        hits.append((1, {}))",
        "",
        "    if commit:",
        "        self.CLK[2] += c_1",
        "    return self._decide('t', hits, [], late)",
    ]
    split = chunks.split_body(body, [None] * len(body), ["ts", "f_k", "f_amount", "p_x"])
    assert split.head == [] and len(split.chunks) == 3
    first, second, third = split.chunks
    assert first.params == ["f_k", "ts"] and first.returns == ["hits", "late", "w_a"]
    assert second.params == ["f_amount", "hits", "p_x", "w_a"] and second.returns == ["c_1", "hits"]
    assert third.params == ["c_1", "f_k", "hits", "w_a"] and third.returns == []
    assert second.lines[-1] == "    c_1 = f_amount * 2" and third.lines[0] == "    # rule two 'c_1' w_a"
    assert split.tail[0][0] == "    if commit:"
    # a short function is left in one piece
    monkeypatch.setattr(chunks, "MAX_CHUNK_LINES", 300)
    assert chunks.split_body(body, [None] * len(body), ["ts"]).chunks == []


def test_names_skip_strings_comments_attributes_and_numbers():
    from ruledsl.compile.chunks import names_in

    line = "    x = self.P[1] + f_a if 'P x' in K else 1e5  # y z"
    assert [n for _s, _e, n in names_in(line)] == ["x", "self", "f_a", "if", "in", "K", "else"]
