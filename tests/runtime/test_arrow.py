"""The Arrow columnar path (issue 10, part 4): ``Engine.evaluate_arrow``, ``ArrowResult``, ``evaluate_columns``.

The differential tests feed the generated rulesets and streams of the
oracle's differential test (``tests/strategies``) through ``evaluate_arrow``
in batches of a few sizes (state carried across batches) and compare every
decision with the per-event path's and the reference interpreter's, rejected
events included (same index, same field).  Each batch is encoded the way a
producer would: a column of one Python type becomes its Arrow type (strings
as dictionary or plain arrays, decimals as ``decimal128`` when their text
allows), a column that mixes types a dense union (read value by value).
The targeted tests cover each input type, out-of-range values per type,
nulls, late events, ``errors=`` and Parquet through ``ruledsl run``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from decisions import differences  # tests/ is on sys.path (tests/conftest.py)
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from strategies import CLOCK_MS, SCHEMA, Scenario, long_scenarios, scenarios
from typer.testing import CliRunner

from ruledsl.check.checker import check
from ruledsl.cli.app import app
from ruledsl.kernels.values import EventError
from ruledsl.oracle.reference import ReferenceEngine
from ruledsl.runtime.engine import build_engine
from ruledsl.runtime.engine_columns import ArrowResult
from ruledsl.syntax.loader import load_text

EXAMPLES = int(os.environ.get("RULEDSL_HYPOTHESIS_EXAMPLES") or settings().max_examples) // 4
SETTINGS = settings(
    max_examples=max(EXAMPLES, 8),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    phases=[p for p in Phase if p != Phase.shrink or os.environ.get("RULEDSL_HYPOTHESIS_SHRINK")],
)
DECIMAL_FIELDS = {f for fields in SCHEMA.values() for f, (t, _) in fields.items() if t == "decimal"}


# ---------------------------------------------------------------- encoding a stream as Arrow batches


def _as_decimal(v):
    # a value the dict path reads as the same decimal, as decimal.Decimal (else the value itself);
    # only where an Arrow decimal can hold it (precision at most 76: "1E-300000" needs 300,001 digits)
    if type(v) is int:
        d = decimal.Decimal(v)
    elif type(v) is str and len(v) <= 64:
        try:
            d = decimal.Decimal(v.strip())
        except decimal.InvalidOperation:
            return v
    else:
        return v
    if not d.is_finite():
        return v
    digits, exponent = len(d.as_tuple().digits), d.as_tuple().exponent
    assert isinstance(exponent, int)
    precision = max(digits, -exponent) + max(exponent, 0)
    return d if precision <= 60 else v


def _encodable(v) -> bool:
    try:
        pa.array([v])
    except (pa.ArrowException, OverflowError, TypeError, ValueError, UnicodeError):
        return False
    return True


def _column(name: str, values: list, variant: int) -> pa.Array:
    if name in DECIMAL_FIELDS and variant % 2:
        values = [_as_decimal(v) for v in values]
    kinds = {type(v) for v in values} - {type(None)}
    if len(kinds) <= 1:
        kind = kinds.pop() if kinds else None
        explicit = {str: pa.string(), bool: pa.bool_(), int: pa.int64(), float: pa.float64(), None: pa.null()}
        try:
            arr = pa.array(values, type=explicit.get(kind), from_pandas=False)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            arr = None
        if arr is not None:
            return arr.dictionary_encode() if kind is str and variant % 3 != 1 else arr
    # a dense union: one child per Python type, read value by value by the engine
    order = sorted({type(v).__name__ for v in values})
    children_values: dict[str, list] = {k: [] for k in order}
    type_ids, offsets = [], []
    for v in values:
        k = type(v).__name__
        type_ids.append(order.index(k))
        offsets.append(len(children_values[k]))
        children_values[k].append(v)
    children = [
        pa.array(children_values[k], type=pa.null() if k == "NoneType" else None, from_pandas=False) for k in order
    ]
    return pa.UnionArray.from_dense(
        pa.array(type_ids, pa.int8()), pa.array(offsets, pa.int32()), children, field_names=order
    )


def to_table(events: list[dict], variant: int = 0) -> pa.Table:
    """A batch of dict events as an Arrow table (columns in first-seen order, None where a field is absent)."""
    names: dict[str, None] = {}
    for ev in events:
        names.update(dict.fromkeys(ev))
    return pa.table({n: _column(n, [ev.get(n) for ev in events], variant) for n in names})


# ---------------------------------------------------------------- the differential check


def _clock() -> int:
    return CLOCK_MS


def _engines(source: str, evaluator: str = "never"):
    # evaluate_arrow on ``evaluator`` ("never": generated Python, "require": Cython); the per-event path and
    # the reference to compare with
    result = check(load_text(source))
    assert result.ok, [d.message for d in result.diagnostics if d.severity == "error"]
    arrow = build_engine(result, clock=_clock, evaluator_mode=evaluator)
    single = build_engine(result, clock=_clock, evaluator_mode="never")
    return arrow, single, ReferenceEngine(result, clock=_clock)


def _compare(where: str, got, want) -> None:
    if isinstance(want, EventError) or isinstance(got, EventError):
        assert isinstance(got, EventError) and isinstance(want, EventError), f"{where}: {got!r} vs {want!r}"
        assert got.field == want.field, f"{where}: field {got.field!r} vs {want.field!r} ({got} / {want})"
        return
    diffs = differences(got, want)
    assert not diffs, f"{where}:\n  " + "\n  ".join(diffs)


def _per_event(fn, event):
    try:
        return fn(dict(event))
    except EventError as err:
        return err


def run_arrow(scenario: Scenario, batch_size: int, *, reference: bool = True, evaluator: str = "never") -> None:
    """Every event of ``scenario`` through evaluate_arrow in batches, against the per-event path and the reference."""
    # the rare generated ruleset that divides by a constant zero (RD211) is skipped, as in the oracle's test
    assume(not any(d.code == "RD211" for d in check(load_text(scenario.source)).diagnostics))
    arrow, single, ref = _engines(scenario.source, evaluator)
    if evaluator == "require":
        assert arrow.evaluator == "cython"
    pending: list[dict] = []
    variant = 0

    def flush() -> None:
        nonlocal variant
        if not pending:
            return
        result = arrow.evaluate_arrow(to_table(pending, variant), errors="return")
        variant += 1
        assert len(result) == len(pending)
        for i, ev in enumerate(pending):
            want = _per_event(single.evaluate, ev)
            got = result.decisions()[i]
            _compare(f"event {ev!r} (batch of {len(pending)}, row {i})", got, want)
            if reference:
                _compare(f"event {ev!r} vs reference", got, _per_event(ref.evaluate, ev))
            if isinstance(got, EventError):
                assert result.errors[i] is got and result.actions[i] is None
            else:
                assert result.actions[i] == got.action and result.decision(i) is got
        pending.clear()

    for op in scenario.ops:
        if op[0] == "event":
            if all(_encodable(v) for v in op[1].values()):
                pending.append(op[1])
                if len(pending) >= batch_size:
                    flush()
            continue
        flush()
        for engine in (arrow, single, ref):
            getattr(engine, "set_param" if op[0] == "param" else "update_list")(op[1], op[2])
    flush()
    assert arrow.late_events == single.late_events
    assert arrow.stats()["events"] == single.stats()["events"]


@SETTINGS
@given(scenarios(), st.sampled_from([1, 5, 32, 1000]))
def test_arrow_agrees_with_per_event_path_and_reference(scenario, batch_size):
    run_arrow(scenario, batch_size)


@settings(SETTINGS, max_examples=max(EXAMPLES // 2, 6))
@given(scenarios(max_events=40, dirty=True, long_tail=False), st.sampled_from([3, 1000]))
def test_arrow_dirty_values_refused_like_per_event_path(scenario, batch_size):
    run_arrow(scenario, batch_size)


@settings(SETTINGS, max_examples=max(EXAMPLES // 25, 1))
@given(scenarios(), st.sampled_from([7, 1000]))
def test_arrow_on_the_cython_evaluator_agrees(scenario, batch_size):
    """The row functions of the Cython evaluator (each example builds a module: seconds of C compiler)."""
    run_arrow(scenario, batch_size, evaluator="require")


@settings(SETTINGS, max_examples=3)
@given(long_scenarios(min_events=600, max_events=1500), st.sampled_from([97, 512]))
def test_arrow_long_streams_agree(scenario, batch_size):
    """Out of order within the lateness, late, swept: state carried across many batches."""
    run_arrow(scenario, batch_size, reference=False)


# ---------------------------------------------------------------- targeted

SOURCE = """\
ruleset arrow_t { lateness 5s timezone "Asia/Shanghai" }
event transfer {
  customer_id: string
  amount: decimal
  n: int
  risk: float
  flag: bool
  channel: enum("app", "web")
  phone: string?
  when_opened: timestamp?
}
event login { customer_id: string }
window total = sum(amount) of transfer by customer_id over 1m
window logins = count() of login by customer_id over 1m
rule big { reason "big" on transfer when total > 100 action hold }
rule night { reason "night" on transfer when hour(ts) < 6 action alert }
rule busy { reason "busy" on login when logins > 2 action alert }
rule phoned { reason "phoned" on transfer when present(phone) and n > 1 and risk > 0.5 and flag action block }
rule opened { reason "opened" on transfer when present(when_opened) and ts - when_opened < 1h action alert }
"""
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, 08:00 in Shanghai


def _engine(source: str = SOURCE, clock=None, evaluator: str = "never"):
    result = check(load_text(source))
    assert result.ok
    return build_engine(result, clock=clock, evaluator_mode=evaluator)


def _tx(i: int, **over) -> dict:
    ev = {
        "type": "transfer",
        "ts": T0 + i * 1000,
        "customer_id": f"c{i % 3}",
        "amount": decimal.Decimal("30.25"),
        "n": i % 4,
        "risk": 0.25 * (i % 4),
        "flag": i % 2 == 0,
        "channel": "app" if i % 3 else "web",
    }
    if i % 2:
        ev["phone"] = f"p{i % 2}"
    ev.update(over)
    return ev


def _events(n: int = 24) -> list[dict]:
    out = []
    for i in range(n):
        out.append(_tx(i))
        if i % 4 == 0:
            out.append({"type": "login", "ts": T0 + i * 1000 + 1, "customer_id": f"c{i % 3}"})
    return out


def _table(events: list[dict], **types) -> pa.Table:
    names: dict[str, None] = {}
    for ev in events:
        names.update(dict.fromkeys(ev))
    return pa.table({n: pa.array([ev.get(n) for ev in events], type=types.get(n)) for n in names})


def _same(result: ArrowResult, want: list) -> None:
    assert len(result) == len(want)
    for i, w in enumerate(want):
        _compare(f"row {i}", result.decisions()[i], w)


def _dict_path(events: list[dict], source: str = SOURCE) -> list:
    engine = _engine(source)
    return engine.evaluate_many(events, errors="return")


@pytest.mark.parametrize("evaluator", ["never", "require"])
def test_dictionary_and_plain_string_columns_agree(evaluator):
    events = _events()
    want = _dict_path(events)
    plain = _table(events)
    assert plain.schema.field("customer_id").type == pa.string()
    dictionary = pa.table(
        {
            n: (c.dictionary_encode() if pa.types.is_string(c.type) else c)
            for n, c in zip(plain.column_names, plain.columns, strict=True)
        }
    )
    assert pa.types.is_dictionary(dictionary.schema.field("type").type)
    assert any(d.rules for d in want)
    _same(_engine(evaluator=evaluator).evaluate_arrow(plain), want)
    _same(_engine(evaluator=evaluator).evaluate_arrow(dictionary), want)
    _same(_engine(evaluator=evaluator).evaluate_arrow(dictionary.to_batches()[0]), want)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", ["UTC", "Asia/Shanghai", None])
def test_timestamp_columns_of_any_unit(unit, tz):
    # sub-unit parts are floored to the millisecond, as the dict path floors a datetime
    per = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    raw = [
        (T0 // 1000 + i * 7) * per + (per // 1000 * 999 + per // 1_000_000 * 7 if per > 1000 else 0) for i in range(12)
    ]
    raw += [-5 * per - (per // 1000 if per >= 1_000_000 else 0)]  # before 1970: floor, not truncation
    arr = pa.array(raw, pa.timestamp(unit, tz=tz))
    ts_ms = [((v * 1000) // per) for v in raw]
    events = [_tx(i, ts=ms) for i, ms in enumerate(ts_ms)]
    if tz is None:  # wall-clock time in the ruleset's zone (Asia/Shanghai): 8 h earlier
        events = [_tx(i, ts=ms - 8 * 3_600_000) for i, ms in enumerate(ts_ms)]
    want = _dict_path(events)
    table = _table([{k: v for k, v in ev.items() if k != "ts"} for ev in events]).append_column("ts", arr)
    _same(_engine().evaluate_arrow(table, errors="return"), want)


def test_timestamp_out_of_range_in_seconds_is_refused():
    table = _table([_tx(0)]).set_column(1, "ts", pa.array([10**15], pa.timestamp("s", tz="UTC")))
    with pytest.raises(EventError) as err:
        _engine().evaluate_arrow(table)
    assert err.value.field == "ts" and "out of range" in str(err.value)


@pytest.mark.parametrize(
    "arrow_type,values",
    [
        (pa.decimal128(12, 2), ["30.25", "100.00", "0.01", "-7.50"]),
        (pa.decimal128(20, 6), ["30.250001", "0.000050", "0.000150", "-0.000050", "99999999999999.99995"]),
        (pa.decimal128(38, 10), ["1e-10", "12345678901234.5", "99999999999999.9999", "-99999999999999.99995"]),
        (pa.decimal256(40, 4), ["1.5", "1e20"]),
        (pa.float64(), [30.25, 0.1, 1e-9, 123456789012.3456, 0.00015, 2.5e13, -0.00025]),
        (pa.float32(), [30.25, 0.1]),
        (pa.int64(), [30, 99_999_999_999_999, 100_000_000_000_000, -(10**14), 0]),
        (pa.int8(), [1, -3]),
        (pa.uint64(), [5, 2**63, 2**64 - 1]),
    ],
)
def test_amount_types(arrow_type, values):
    if pa.types.is_decimal(arrow_type):
        py = [decimal.Decimal(v) for v in values]
    else:
        py = list(values)
    arr = pa.array(py, arrow_type)
    events = [_tx(i, amount=v) for i, v in enumerate(arr.to_pylist())]  # what the column holds
    want = _dict_path(events)
    table = _table([{k: v for k, v in ev.items() if k != "amount"} for ev in events]).append_column("amount", arr)
    result = _engine().evaluate_arrow(table, errors="return")
    _same(result, want)
    for i, w in enumerate(want):
        if isinstance(w, EventError):
            assert str(result.errors[i]) == str(w)


@pytest.mark.parametrize(
    "field,arrow_type,value",
    [
        ("n", pa.uint64(), 2**63),
        ("n", pa.float64(), 2.0),
        ("n", pa.bool_(), True),
        ("n", pa.string(), "5"),
        ("risk", pa.float64(), float("nan")),
        ("risk", pa.float64(), float("inf")),
        ("risk", pa.string(), "0.5"),
        ("flag", pa.int64(), 1),
        ("flag", pa.string(), "true"),
        ("channel", pa.string(), "atm"),
        ("channel", pa.int64(), 1),
        ("customer_id", pa.int64(), 7),
        ("customer_id", pa.string(), None),
        ("customer_id", pa.dictionary(pa.int32(), pa.string()), None),
        ("amount", pa.string(), "abc"),
        ("amount", pa.float64(), float("nan")),
        ("amount", pa.bool_(), True),
        ("ts", pa.int64(), 7_258_118_400_000),
        ("ts", pa.int64(), -2_208_988_800_001),
        ("ts", pa.float64(), 1.5),
        ("ts", pa.string(), "yesterday"),
        ("ts", pa.int64(), None),
        ("when_opened", pa.int64(), 10**16),
        ("type", pa.string(), "payment"),
        ("type", pa.string(), None),
        ("type", pa.int64(), 3),
    ],
)
def test_out_of_range_and_wrong_values_refused_like_the_dict_path(field, arrow_type, value):
    events = _events(6)
    bad_at = 3
    events[bad_at] = {**events[bad_at], field: value}
    if value is None:
        del events[bad_at][field]
    want = _dict_path(events)
    assert isinstance(want[bad_at], EventError)
    # the rows before, the bad row alone with its column of ``arrow_type``, the rows after: state carries over
    engine = _engine()
    before = engine.evaluate_arrow(_table(events[:bad_at]))
    middle = engine.evaluate_arrow(_table(events[bad_at : bad_at + 1], **{field: arrow_type}), errors="return")
    after = engine.evaluate_arrow(_table(events[bad_at + 1 :]))
    assert list(middle.errors) == [0]
    err = middle.errors[0]
    assert err.field == want[bad_at].field and str(err) == str(want[bad_at])
    got = before.decisions() + middle.decisions() + after.decisions()
    for i, w in enumerate(want):
        _compare(f"row {i}", got[i], w)


@pytest.mark.parametrize("field,arrow_type,value", [("n", pa.uint64(), 2**63), ("ts", pa.int64(), 10**14)])
def test_one_bad_row_in_a_typed_column(field, arrow_type, value):
    events = [_tx(i) for i in range(5)]
    events[2] = {**events[2], field: value}
    want = _dict_path(events)
    table = _table(events, **{field: arrow_type})
    result = _engine().evaluate_arrow(table, errors="return")
    assert list(result.errors) == [2] and result.errors[2].field == field
    assert str(result.errors[2]) == str(want[2])
    _same(result, want)


def test_nulls_absent_columns_and_unknown_columns():
    events = [_tx(i) for i in range(6)]
    for ev in events:
        ev.pop("phone", None)
    table = _table(events).append_column("extra", pa.array(list(range(6))))
    assert "phone" not in table.column_names and "when_opened" not in table.column_names
    _same(_engine().evaluate_arrow(table), _dict_path(events))
    # a required field with no column: every row refused for it
    result = _engine().evaluate_arrow(table.drop_columns(["n"]), errors="return")
    assert sorted(result.errors) == list(range(6)) and {e.field for e in result.errors.values()} == {"n"}
    # an optional one null on some rows: absent there
    with_phone = table.append_column("phone", pa.array(["p", None, "q", None, None, "p"]))
    events2 = [dict(ev, phone=p) if p else ev for ev, p in zip(events, ["p", None, "q", None, None, "p"], strict=True)]
    _same(_engine().evaluate_arrow(with_phone), _dict_path(events2))


def test_rows_of_one_type_get_only_their_fields():
    # `n` is a transfer field: a bad value on a login row is ignored (as the dict path ignores unknown keys)
    events = [_tx(0), {"type": "login", "ts": T0 + 5, "customer_id": "c0", "n": "junk"}]
    table = _table([{k: v for k, v in ev.items() if k != "n"} for ev in events]).append_column(
        "n", pa.array(["0", "junk"])
    )
    result = _engine().evaluate_arrow(table, errors="return")
    assert list(result.errors) == [0] and result.errors[0].field == "n"
    assert result.decision(1).event_type == "login"
    assert _dict_path([events[1]])[0] == result.decision(1)


def test_late_events_and_state_across_batches():
    events = _events(30)
    events.insert(20, _tx(2, ts=T0))  # far behind the watermark (lateness 5s): late
    want = _dict_path(events)
    assert any(not isinstance(w, EventError) and w.late for w in want)
    engine = _engine()
    got: list = []
    for start in range(0, len(events), 7):
        got.extend(engine.evaluate_arrow(_table(events[start : start + 7])).decisions())
    for i, w in enumerate(want):
        _compare(f"row {i}", got[i], w)
    assert engine.late_events == 1


def test_errors_raise_applies_rows_before_the_bad_one():
    events = _events(8)
    events[5] = {**events[5], "type": "payment"}
    engine = _engine()
    with pytest.raises(EventError) as err:
        engine.evaluate_arrow(_table(events))
    assert err.value.index == 5 and err.value.field == "type"
    assert len(err.value.decisions) == 5
    # the rows before it changed state, the bad one and those after did not
    assert engine.stats()["events"] == 5
    with pytest.raises(ValueError, match="errors must be"):
        engine.evaluate_arrow(_table(events), errors="ignore")
    with pytest.raises(TypeError, match="RecordBatch or Table"):
        engine.evaluate_arrow(events)


def test_errors_return_keeps_going_and_clock_guard():
    # an event dated beyond the clock: the row function's clock guard refuses it, the batch goes on
    events = _events(6)
    events[2] = {**events[2], "ts": T0 + 10 * 3_600_000}
    engine = _engine(clock=lambda: T0 + 60_000)
    result = engine.evaluate_arrow(_table(events), errors="return")
    assert list(result.errors) == [2] and result.errors[2].field == "ts"
    assert "ahead of the engine's clock" in str(result.errors[2])
    assert engine.stats()["events"] == len(events) - 1
    with pytest.raises(EventError, match="ahead of the engine's clock"):
        result.decision(2)


def test_result_api():
    events = _events(24)
    want = _dict_path(events)
    result = _engine().evaluate_arrow(_table(events))
    assert len(result) == len(events)
    assert result.actions == [w.action for w in want]
    assert result.matches == [i for i, w in enumerate(want) if w.rules] and result.matches
    assert result.errors == {}
    arr = result.action_array()
    assert arr.to_pylist() == result.actions and pa.types.is_dictionary(arr.type)
    assert "matched" in repr(result)
    assert _engine().evaluate_arrow(_table(events).slice(0, 0)).actions == []


def test_evaluate_columns_keeps_its_behaviour():
    events = _events(10)
    events[3] = {**events[3], "amount": "30.25"}  # a mixed column: read value by value
    events[4] = {**events[4], "amount": 30}
    names = list(dict.fromkeys(k for ev in events for k in ev))
    columns = {n: [ev.get(n) for ev in events] for n in names}
    got = _engine().evaluate_columns(columns)
    for i, w in enumerate(_dict_path(events)):
        _compare(f"row {i}", got[i], w)
    with pytest.raises(EventError, match="different lengths"):
        _engine().evaluate_columns({"type": ["transfer"], "ts": [T0, T0]})
    bad = dict(columns, n=[*columns["n"][:3], "x", *columns["n"][4:]])
    with pytest.raises(EventError) as err:
        _engine().evaluate_columns(bad)
    assert err.value.index == 3 and len(err.value.decisions) == 3


def test_parquet_through_ruledsl_run(tmp_path):
    events = _events(20)
    events[7] = {**events[7], "channel": "atm"}  # rejected: reported, the run goes on
    rules = tmp_path / "t.rdsl"
    rules.write_text(SOURCE, encoding="utf-8")
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps({k: (str(v) if isinstance(v, decimal.Decimal) else v) for k, v in ev.items()}) + "\n"
            for ev in events
        ),
        encoding="utf-8",
    )
    parquet = tmp_path / "events.parquet"
    pq.write_table(_table(events), parquet, row_group_size=6)
    runner = CliRunner()
    outs = {}
    for name, path in (("jsonl", jsonl), ("parquet", parquet)):
        out = tmp_path / f"{name}.out"
        res = runner.invoke(app, ["run", str(rules), "--events", str(path), "--out", str(out), "--format", "json"])
        assert res.exit_code == 1, res.output  # one event rejected
        outs[name] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert "line 8" in res.output or "8" in res.output
    assert outs["jsonl"] == outs["parquet"]
    assert len(outs["parquet"]) == len(events) - 1


def test_naive_datetime_tz_none_matches_dict_path_datetime():
    stamp = dt.datetime(2026, 3, 1, 2, 30, 0, 123456)
    events = [_tx(0, ts=stamp)]
    want = _dict_path(events)
    table = _table([{k: v for k, v in events[0].items() if k != "ts"}]).append_column(
        "ts", pa.array([stamp], pa.timestamp("us"))
    )
    _same(_engine().evaluate_arrow(table), want)


OPTIONS = ("--skip-unknown-types", "--warmup", "2s")


def test_parquet_labels_warmup_unknown_types_and_two_rulesets(tmp_path):
    events = _events(16)
    for i, ev in enumerate(events):
        ev["label"] = "takeover" if i % 5 == 0 else "normal"
        ev["scenario_id"] = f"s{i % 2}"
        ev["warmup"] = i < 3
    events.insert(4, {"type": "payment", "ts": T0 + 4000, "customer_id": "c1", "label": None, "warmup": False})
    rules = tmp_path / "t.rdsl"
    rules.write_text(SOURCE, encoding="utf-8")
    other = tmp_path / "u.rdsl"
    other.write_text(SOURCE.replace("ruleset arrow_t", "ruleset arrow_u"), encoding="utf-8")
    jsonl = tmp_path / "events.jsonl"
    plain = [{k: (str(v) if isinstance(v, decimal.Decimal) else v) for k, v in ev.items()} for ev in events]
    jsonl.write_text("".join(json.dumps(ev) + "\n" for ev in plain), encoding="utf-8")
    parquet = tmp_path / "events.parquet"
    pq.write_table(_table(events), parquet, row_group_size=5)
    runner = CliRunner()
    outs, summaries = {}, {}
    for name, path in (("jsonl", jsonl), ("parquet", parquet)):
        out = tmp_path / f"{name}.out"
        res = runner.invoke(
            app,
            ["run", str(rules), str(other), "--events", str(path), "--out", str(out), "--format", "json", *OPTIONS],
        )
        assert res.exit_code == 0, res.output
        outs[name] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        summaries[name] = _scrub(json.loads(res.stdout))
    assert outs["jsonl"] == outs["parquet"]
    assert any(o.get("warmup") for o in outs["parquet"]) and any(o.get("label") for o in outs["parquet"])
    assert {o["ruleset"] for o in outs["parquet"]} == {"arrow_t", "arrow_u"}
    assert summaries["jsonl"] == summaries["parquet"]
    assert "takeover" in json.dumps(summaries["parquet"])
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    res = runner.invoke(app, ["run", str(rules), "--events", str(bad)])
    assert res.exit_code == 2 and "cannot read" in res.output


def _scrub(summary):
    # a run summary without its timings and file name (the rest must be equal for JSON Lines and Parquet)
    if isinstance(summary, dict):
        return {
            k: _scrub(v)
            for k, v in summary.items()
            if k != "events_file" and "second" not in k and "throughput" not in k and "rate" not in k
        }
    if isinstance(summary, list):
        return [_scrub(v) for v in summary]
    return summary


def test_chunked_tables_and_slices_of_a_larger_dictionary():
    events = _events(40)
    want = _dict_path(events)
    # chunks with different dictionaries (a concatenation of separately encoded tables)
    parts = [
        pa.table(
            {
                n: (c.dictionary_encode() if pa.types.is_string(c.type) else c)
                for n, c in zip(_table(events[i : i + 9]).column_names, _table(events[i : i + 9]).columns, strict=True)
            }
        )
        for i in range(0, len(events), 9)
    ]
    chunked = pa.concat_tables(parts, promote_options="permissive")
    assert chunked.column("type").num_chunks > 1
    _same(_engine().evaluate_arrow(chunked), want)
    # small slices of one batch keep the whole dictionary (here 100 customers): each decodes only its own entries
    events = [_tx(i, customer_id=f"u{i % 100}") for i in range(150)]
    events[77] = {**events[77], "channel": "atm"}
    want = _dict_path(events)
    whole = _table(events)
    whole = pa.table(
        {
            n: whole.column(n).combine_chunks().dictionary_encode()
            if n in ("customer_id", "channel")
            else whole.column(n)
            for n in whole.column_names
        }
    )
    engine = _engine()
    got = []
    for start in range(0, len(events), 3):
        got.extend(engine.evaluate_arrow(whole.slice(start, 3), errors="return").decisions())
    for i, w in enumerate(want):
        _compare(f"row {i}", got[i], w)
    assert isinstance(got[77], EventError) and got[77].field == "channel"


@pytest.mark.parametrize("arrow_type", [pa.duration("ns"), pa.duration("s"), pa.date32(), pa.list_(pa.int64())])
def test_values_python_cannot_hold_or_the_dict_path_refuses(arrow_type):
    # a value Arrow cannot turn into a Python object is refused for its field, never a crash
    value = [1] if pa.types.is_list(arrow_type) else 1
    events = [_tx(0), _tx(1)]
    table = _table([{k: v for k, v in ev.items() if k != "n"} for ev in events]).append_column(
        "n", pa.array([value, value], arrow_type)
    )
    result = _engine().evaluate_arrow(table, errors="return")
    assert sorted(result.errors) == [0, 1]
    assert {e.field for e in result.errors.values()} == {"n"}
    assert all("must be an integer" in str(e) for e in result.errors.values())


def test_arrow_bench_smoke():
    # benchmarks/arrow_bench.py on a tiny stream, generated Python only: every mode gives evaluate()'s actions
    import sys
    from pathlib import Path

    bench_dir = str(Path(__file__).resolve().parents[2] / "benchmarks")
    if bench_dir not in sys.path:
        sys.path.insert(0, bench_dir)
    import arrow_bench

    res = arrow_bench.measure(1500, 1, ("never",))
    python = res["evaluators"]["python"]
    assert python["same_actions"]
    assert set(python["events_per_s"]) == {"evaluate", "arrow_dictionary", "arrow_plain", "arrow_parquet"}
    rows = arrow_bench.rows(res)
    assert rows and all(isinstance(k, str) and isinstance(v, str) for k, v in rows)


def test_error_index_counts_across_the_batches_of_a_table():
    events = [_tx(i) for i in range(10_000)]
    events[9_000] = {**events[9_000], "channel": "atm"}
    table = pa.concat_tables([_table(events[:5_000]), _table(events[5_000:])])
    assert len(table.to_batches()) == 2  # large chunks: evaluated batch by batch
    engine = _engine()
    with pytest.raises(EventError) as err:
        engine.evaluate_arrow(table)
    assert err.value.index == 9_000 and len(err.value.decisions) == 9_000 and err.value.field == "channel"
    result = _engine().evaluate_arrow(table, errors="return")
    assert list(result.errors) == [9_000] and len(result) == 10_000


@pytest.mark.parametrize("amount_type", [pa.decimal128(12, 2), pa.float64(), pa.int64()])
@pytest.mark.parametrize("strings", ["plain", "dictionary"])
def test_clean_columns_take_the_fast_tier_only(amount_type, strings):
    # a clean batch is decoded columnar (no value-by-value tier) and no row goes through the dict path
    # (either would still be right, but slow)
    from ruledsl.runtime.arrow_decode import decode_batch

    events = _events(30)
    for ev in events:
        if "amount" in ev:
            ev["amount"] = {pa.int64(): int, pa.float64(): float}.get(amount_type, lambda v: v)(ev["amount"])
    table = _table(events, amount=amount_type, ts=pa.timestamp("ms", tz="UTC"))
    if strings == "dictionary":
        table = pa.table(
            {
                n: c.dictionary_encode() if pa.types.is_string(c.type) else c
                for n, c in zip(table.column_names, table.columns, strict=True)
            }
        )
    engine = _engine()
    batch = table.combine_chunks().to_batches()[0]
    columns = {n: batch.column(i) for i, n in enumerate(batch.schema.names)}
    plan = engine._batch_plan()

    def fallback(i):
        raise AssertionError(f"row {i} went to the dict path")

    decoded = decode_batch(plan, columns, batch.num_rows, fallback)
    assert len(plan.rows) not in decoded.codes
    assert sorted(set(decoded.codes)) == [0, 1]
    for fields in plan.fields:
        for dec, _required in fields:
            if dec.name in columns:
                d = dec.decode(columns[dec.name])
                assert d.values is None, f"{dec.name} ({columns[dec.name].type}) decoded value by value"


# ---------------------------------------------------------------- values that are not valid UTF-8


def _not_utf8(values: list, large: bool = False) -> pa.Array:
    # a string column Arrow built without validating its UTF-8 (as a Parquet byte array can arrive)
    binary, string = (pa.large_binary(), pa.large_string()) if large else (pa.binary(), pa.string())
    return pa.array(values, binary).view(string)


def _with_column(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, column)


@pytest.mark.parametrize("field", ["customer_id", "channel"])
@pytest.mark.parametrize("encoding", ["plain", "large", "dictionary"])
def test_invalid_utf8_refused_for_its_row_only(field, encoding):
    # the bad value is refused like the bytes the dict path refuses, by name; the other rows are evaluated
    events = [_tx(i) for i in range(6)]
    raw = [ev[field].encode() for ev in events]
    raw[2] = b"\xff\xfe"
    column = _not_utf8(raw, large=encoding == "large")
    if encoding == "dictionary":
        column = column.dictionary_encode()
    table = _with_column(_table(events), field, column)
    want = _dict_path([{**ev, field: b"\xff\xfe"} if i == 2 else ev for i, ev in enumerate(events)])
    assert isinstance(want[2], EventError)
    result = _engine().evaluate_arrow(table, errors="return")
    assert list(result.errors) == [2] and result.errors[2].field == field
    assert str(result.errors[2]) == str(want[2]) and "got bytes b'\\xff\\xfe'" in str(want[2])
    _same(result, want)
    with pytest.raises(EventError) as err:
        _engine().evaluate_arrow(table)
    assert err.value.index == 2 and err.value.field == field and len(err.value.decisions) == 2


def test_invalid_utf8_in_the_type_column_refuses_that_row():
    events = [_tx(i) for i in range(3)]
    table = _with_column(_table(events), "type", _not_utf8([b"transfer", b"\xfftransfer", b"transfer"]))
    want = _dict_path([{**ev, "type": b"\xfftransfer"} if i == 1 else ev for i, ev in enumerate(events)])
    result = _engine().evaluate_arrow(table, errors="return")
    assert list(result.errors) == [1] and str(result.errors[1]) == str(want[1])
    _same(result, want)


def test_binary_column_for_a_string_field_is_refused_even_when_valid_utf8():
    # the dict path refuses bytes for a string field whatever they hold: a binary column is not text
    events = [_tx(i) for i in range(3)]
    raw = [ev["customer_id"].encode() for ev in events]
    raw[1] = b"\xff\xfe"
    table = _with_column(_table(events), "customer_id", pa.array(raw, pa.binary()))
    want = _dict_path([{**ev, "customer_id": raw[i]} for i, ev in enumerate(events)])
    result = _engine().evaluate_arrow(table, errors="return")
    assert sorted(result.errors) == [0, 1, 2]
    assert [str(result.errors[i]) for i in range(3)] == [str(w) for w in want]
    assert all(e.field == "customer_id" and "must be a string, got bytes" in str(e) for e in result.errors.values())


def test_parquet_with_invalid_utf8_through_ruledsl_run(tmp_path):
    # a string column holding a byte array that is not UTF-8: that row rejected by name, the next one evaluated
    rules = tmp_path / "t.rdsl"
    rules.write_text(SOURCE, encoding="utf-8")
    events = [_tx(0), _tx(1)]
    table = _with_column(_table(events), "customer_id", _not_utf8([b"\xff\xfe", b"ok"]))
    parquet = tmp_path / "events.parquet"
    pq.write_table(table, parquet)
    assert pq.read_schema(parquet).field("customer_id").type == pa.string()
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(app, ["run", str(rules), "--events", str(parquet), "--out", str(out), "--format", "json"])
    assert res.exit_code == 1, res.output  # one event rejected
    summary = json.loads(res.stdout)
    stats = summary["rulesets"][0]
    assert summary["lines"] == 2 and stats["events"] == 1 and stats["rejected"] == 1
    [rejection] = stats["rejections"]
    assert rejection["line"] == 1 and "internal error" not in rejection["error"]
    assert "field `customer_id` must be a string, got bytes" in rejection["error"]
    decisions = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [d["line"] for d in decisions] == [2]
