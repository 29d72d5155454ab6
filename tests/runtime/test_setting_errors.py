"""Errors for parameters and lists set by the application (issue 14): ``SettingError`` and its subclasses.

Each message names the call, the parameter or list, its declared type and,
for an unknown name, the closest declared one; the classes keep the
built-in exceptions these calls raised before (KeyError / TypeError /
ValueError), and nothing changes when one is raised.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

import ruledsl
from ruledsl import SettingError, SettingTypeError, UnknownSettingError

SOURCE = """\
ruleset settings { timezone "Asia/Shanghai" }
event transfer {
  customer_id: string
  amount: decimal
}
param big_amount: decimal = 50000
param max_count: int = 3
param quiet_for: duration = 10m
param ratio: float = 1.5
param strict: bool = false
param level: enum("low", "high") = "low"
param branch: string = "SZ"
list black_accounts: string = ["BAD"]
list risky_amounts: decimal = [13.13]
rule big {
  reason "大额"
  on transfer
  when amount > big_amount and customer_id not in black_accounts and amount not in risky_amounts
    and ratio > 0.0 and max_count > 0 and quiet_for > 0s and not strict and branch != "" and level != "high"
  action hold
}
"""

T0 = 1_790_000_000_000


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "settings.rdsl"
    p.write_text(SOURCE, encoding="utf-8")
    return p


@pytest.fixture
def engine(path: Path) -> ruledsl.Engine:
    return ruledsl.load(path, compiled="never", clock=None)


def raised(fn, *args, **kwargs) -> SettingError:
    with pytest.raises(SettingError) as info:
        fn(*args, **kwargs)
    return info.value


# ---------------------------------------------------------------- parameters


def test_unknown_parameter_suggests_the_closest_name(engine):
    err = raised(engine.set_param, "big_amout", "80000")
    assert isinstance(err, UnknownSettingError) and isinstance(err, KeyError) and isinstance(err, ValueError)
    assert str(err) == "set_param: unknown parameter 'big_amout'; did you mean `big_amount`?"
    assert (err.kind, err.name, err.suggestion, err.expected) == ("parameter", "big_amout", "big_amount", None)
    assert engine.get_param("big_amount") == Decimal("50000")


def test_unknown_parameter_without_a_close_name_lists_the_declared_ones(engine):
    err = raised(engine.set_param, "zzz", 1)
    assert err.suggestion is None
    assert str(err) == (
        "set_param: unknown parameter 'zzz'; this ruleset declares `big_amount`, `max_count`, `quiet_for`, "
        "`ratio`, `strict`, `level`, `branch`"
    )


def test_get_param_of_an_unknown_name_is_still_a_value_error(engine):
    # get_param raised ValueError (list.index) before; the new error is one too, and a KeyError
    with pytest.raises(ValueError, match=r"get_param: unknown parameter 'max_cont'; did you mean `max_count`\?"):
        engine.get_param("max_cont")


@pytest.mark.parametrize(
    "name,value,cls,message",
    [
        (
            "big_amount",
            "abc",
            SettingError,
            "set_param: parameter `big_amount` (decimal) takes a Decimal, an int, a float or decimal text such as "
            "'20000.00', not 'abc' (not a number: 'abc')",
        ),
        (
            "big_amount",
            [1],
            SettingTypeError,
            "set_param: parameter `big_amount` (decimal) takes a Decimal, an int, a float or decimal text such as "
            "'20000.00', not [1] (a list)",
        ),
        (
            "max_count",
            3.5,
            SettingTypeError,
            "set_param: parameter `max_count` (int) takes an int or integer text such as '3', not 3.5 (a float)",
        ),
        (
            "max_count",
            True,
            SettingTypeError,
            "set_param: parameter `max_count` (int) takes an int or integer text such as '3', not True (a bool)",
        ),
        (
            "max_count",
            2**63,
            SettingError,
            "set_param: parameter `max_count` (int) takes an int or integer text such as '3', not "
            "9223372036854775808 (out of range (ints and durations are 64-bit))",
        ),
        (
            "quiet_for",
            1.5,
            SettingTypeError,
            "set_param: parameter `quiet_for` (duration) takes milliseconds as an int or duration text such as "
            "'10m', not 1.5 (a float)",
        ),
        ("quiet_for", "10x", SettingError, None),
        ("strict", "yes", SettingTypeError, "set_param: parameter `strict` (bool) takes True or False, not 'yes'"),
        ("branch", 7, SettingTypeError, "set_param: parameter `branch` (string) takes a str, not 7 (an int)"),
        (
            "level",
            "hihg",
            SettingError,
            "set_param: parameter `level` (enum) takes a str (one of the enum's values), not 'hihg' "
            "(not one of 'low', 'high'; did you mean `high`?)",
        ),
        ("level", 1, SettingTypeError, None),
        ("ratio", "fast", SettingError, None),
    ],
)
def test_bad_parameter_values_name_the_parameter_and_its_type(engine, name, value, cls, message):
    before = engine.get_param(name)
    err = raised(engine.set_param, name, value)
    assert type(err) is cls
    assert isinstance(err, TypeError) == (cls is SettingTypeError)  # the built-in raised before
    assert (err.kind, err.name, err.value) == ("parameter", name, value)
    assert err.expected == engine.compiled.param_types[name]
    text = str(err)
    assert text.startswith(f"set_param: parameter `{name}` ({err.expected}) takes ")
    if message is not None:
        assert text.startswith(message)
    assert engine.get_param(name) == before  # nothing changed


def test_good_parameter_values_of_every_type(engine):
    engine.set_param("big_amount", "80000.50")
    engine.set_param("max_count", "7")
    engine.set_param("quiet_for", "1h30m")  # a duration as the ruleset writes it
    engine.set_param("ratio", 2)
    engine.set_param("strict", True)
    engine.set_param("level", "high")
    engine.set_param("branch", "GZ")
    got = {n: engine.get_param(n) for n in engine.compiled.params}
    assert got == {
        "big_amount": Decimal("80000.50"),
        "max_count": 7,
        "quiet_for": 5_400_000,
        "ratio": 2.0,
        "strict": True,
        "level": "high",
        "branch": "GZ",
    }


def test_load_params_errors_name_the_call(path):
    with pytest.raises(KeyError) as info:  # KeyError, as before
        ruledsl.load(path, params={"max_cont": 2}, compiled="never")
    assert str(info.value) == "load(params=...): unknown parameter 'max_cont'; did you mean `max_count`?"
    with pytest.raises(TypeError) as info2:
        ruledsl.load(path, params={"max_count": 2.5}, compiled="never")
    assert isinstance(info2.value, SettingTypeError)
    assert str(info2.value).startswith("load(params=...): parameter `max_count` (int) takes an int")


def test_reload_params_errors_name_the_call_and_keep_the_old_ruleset(engine, path):
    engine.set_param("max_count", 5)
    err = raised(engine.reload, params={"max_count": "many"})
    assert str(err).startswith("reload(params=...): parameter `max_count` (int) takes an int")
    assert engine.get_param("max_count") == 5


def test_audited_set_param_unknown_writes_nothing(path, tmp_path):
    log = tmp_path / "audit.log"
    engine = ruledsl.load(path, compiled="never", clock=None, audit_log=log)
    size = log.stat().st_size if log.exists() else 0
    err = raised(engine.set_param, "big_amout", "1", by="ops", reason="r")
    assert isinstance(err, KeyError) and err.suggestion == "big_amount"
    err = raised(engine.set_param, "big_amount", "x", by="ops", reason="r")
    assert err.name == "big_amount" and err.expected == "decimal"
    assert (log.stat().st_size if log.exists() else 0) == size


# ---------------------------------------------------------------- lists


def test_unknown_list_suggests_the_closest_name(engine):
    for call in (lambda: engine.update_list("black_acounts", ["X"]), lambda: engine.list_entry("black_acounts", "X")):
        with pytest.raises(KeyError) as info:  # KeyError, as before
            call()
        err = info.value
        assert isinstance(err, UnknownSettingError)
        assert (err.kind, err.name, err.suggestion) == ("list", "black_acounts", "black_accounts")
        assert re.fullmatch(
            r"(update_list|list_entry): unknown list 'black_acounts'; did you mean `black_accounts`\?", str(err)
        )


def test_bad_list_entries_name_the_list_its_type_and_the_entry(engine):
    err = raised(engine.update_list, "black_accounts", ["A", 3])
    assert isinstance(err, SettingTypeError) and isinstance(err, TypeError)
    assert str(err) == (
        "update_list: list `black_accounts` (string) takes entries of a str: list entry 1 (3): "
        "expected a string, got int"
    )
    assert (err.kind, err.name, err.expected, err.index, err.value) == ("list", "black_accounts", "string", 1, 3)
    err = raised(engine.update_list, "risky_amounts", add=["1.5", "lots"])
    assert type(err) is SettingError and isinstance(err, ValueError)
    assert (err.name, err.expected, err.index, err.value) == ("risky_amounts", "decimal", 1, "lots")
    assert str(err).startswith("update_list: list `risky_amounts` (decimal) takes entries of a Decimal")
    err = raised(engine.update_list, "black_accounts", add=[{"value": "A", "colour": "red"}])
    assert "unknown key(s) ['colour']" in str(err) and err.index == 0
    err = raised(engine.update_list, "black_accounts", remove=[7])
    assert str(err).startswith("update_list: list `black_accounts` (string) takes entries of a str: ")
    assert engine.list_entry("black_accounts", "BAD") is not None and engine.list_entry("black_accounts", "A") is None


def test_a_str_is_not_a_list_of_its_characters(engine):
    err = raised(engine.update_list, "black_accounts", "C1")
    assert isinstance(err, TypeError)
    assert "values must be a collection of entries, not a str" in str(err)
    assert engine.list_entry("black_accounts", "C") is None and engine.list_entry("black_accounts", "BAD") is not None


def test_update_list_argument_errors_name_the_list(engine):
    err = raised(engine.update_list, "black_accounts", ["A"], add=["B"])
    assert str(err) == "update_list: list `black_accounts`: give values (to replace the list) or add=/remove=, not both"
    err = raised(engine.update_list, "black_accounts")
    assert err.name == "black_accounts"
    err = raised(engine.update_list, "black_accounts", add=["A"], remove=["A"])
    assert str(err) == "update_list: list `black_accounts`: 'A' both added and removed"


def test_list_entry_of_a_bad_value(engine):
    err = raised(engine.list_entry, "risky_amounts", object())
    assert isinstance(err, TypeError) and err.name == "risky_amounts"


def test_load_lists_errors(path):
    with pytest.raises(KeyError) as info:
        ruledsl.load(path, lists={"black_acounts": []}, compiled="never")
    assert str(info.value) == "load(lists=...): unknown list 'black_acounts'; did you mean `black_accounts`?"
    err = raised(ruledsl.load, path, lists={"black_accounts": [None]}, compiled="never")
    assert str(err) == (
        "load(lists=...): list `black_accounts` (string) takes entries of a str: list entry 0 (None): "
        "expected a string, got NoneType"
    )
    err = raised(ruledsl.load, path, lists={"black_accounts": "BAD"}, compiled="never")
    assert isinstance(err, TypeError) and "not a str" in str(err)


def test_a_ruleset_without_lists_says_so(tmp_path):
    p = tmp_path / "bare.rdsl"
    p.write_text(
        'ruleset bare { }\nevent e { x: int }\nrule r {\n  reason "r"\n  on e\n  when x > 1\n  action alert\n}\n',
        encoding="utf-8",
    )
    engine = ruledsl.load(p, compiled="never", clock=None)
    err = raised(engine.update_list, "black", ["A"])
    assert str(err) == "update_list: unknown list 'black'; this ruleset declares no lists"
    err = raised(engine.set_param, "limit", 1)
    assert str(err) == "set_param: unknown parameter 'limit'; this ruleset declares no parameters"


def test_setting_errors_are_exported_and_not_ruleset_errors():
    assert issubclass(UnknownSettingError, KeyError) and issubclass(SettingTypeError, TypeError)
    assert issubclass(SettingError, ValueError)
    assert not issubclass(SettingError, ruledsl.RuleDSLError)  # the ruleset is fine; the application's value is not
    assert {"SettingError", "SettingTypeError", "UnknownSettingError"} <= set(ruledsl.__all__)
