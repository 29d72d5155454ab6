"""Errors for the parameters and lists an application sets (``load(params=, lists=)``, ``set_param``,
``get_param``, ``update_list``, ``list_entry``, ``reload(params=, lists=)``).

Every such error is a ``SettingError`` naming the parameter or list, its
declared type and, for an unknown name, the closest declared one.  Nothing
has changed when one is raised.

The classes keep the built-in exceptions these calls raised before they
existed, so ``except KeyError``/``except TypeError``/``except ValueError``
written against older versions still catches exactly what it caught:

- ``UnknownSettingError`` (an undeclared name) is a ``KeyError`` (what
  ``set_param``, ``update_list``, ``list_entry`` and ``load`` raised) and a
  ``ValueError`` (what ``get_param`` raised);
- ``SettingTypeError`` (a value of the wrong Python type) is a ``TypeError``;
- ``SettingError`` itself (a value of the right type that does not convert:
  ``"abc"`` for a decimal, an int beyond 64 bits) is a ``ValueError``, like
  ``EventError``, ``HoldError``, ``ControlError`` and ``ExemptionError``.

They are not ``RuleDSLError``: that one means "the ruleset has errors" and
carries diagnostics; here the ruleset is fine and the application's value is
not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from ruledsl.kernels.values import INT_MAX, INT_MIN, check_timestamp
from ruledsl.syntax.diagnostics import suggest
from ruledsl.syntax.durations import parse_duration

EXPECTED = {
    "int": "an int or integer text such as '3'",
    "decimal": "a Decimal, an int, a float or decimal text such as '20000.00'",
    "float": "a float, an int or number text",
    "bool": "True or False",
    "string": "a str",
    "enum": "a str (one of the enum's values)",
    "duration": "milliseconds as an int or duration text such as '10m'",
    "timestamp": "epoch milliseconds as an int",
}
"""What each declared type takes, as the messages say it."""


class SettingError(ValueError):
    """A parameter or list value the engine refuses; nothing changed.

    ``kind`` is ``"parameter"`` or ``"list"``; ``name`` the parameter's or
    list's name; ``expected`` its declared type (``"decimal"``, ``"string"``
    ...; ``None`` for an unknown name); ``suggestion`` the closest declared
    name when ``name`` is unknown (else ``None``); ``value`` the refused value
    (a parameter's, or a list entry's when one entry is at fault); ``index``
    the position of that entry in what was given (else ``None``).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        name: str,
        expected: Optional[str] = None,
        suggestion: Optional[str] = None,
        value: Any = None,
        index: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.expected = expected
        self.suggestion = suggestion
        self.value = value
        self.index = index

    def __str__(self) -> str:
        return self.message  # not KeyError's repr() of the message, for the KeyError subclass


class UnknownSettingError(SettingError, KeyError):
    """A parameter or list the ruleset does not declare (a ``KeyError`` and a ``ValueError``)."""


class SettingTypeError(SettingError, TypeError):
    """A value of a Python type the parameter or list cannot take (a ``TypeError`` and a ``ValueError``)."""


def unknown_name(kind: str, name: Any, declared: Sequence[str], *, call: str = "") -> UnknownSettingError:
    """The error for an undeclared parameter or list ``name``, with a did-you-mean when one is close."""
    shown = str(name)
    hint = suggest(shown, declared) if isinstance(name, str) and declared else None
    plural = "parameters" if kind == "parameter" else "lists"
    if hint:
        tail = f"; {hint}"
    elif not declared:
        tail = f"; this ruleset declares no {plural}"
    elif len(declared) <= 12:
        tail = f"; this ruleset declares {', '.join(f'`{d}`' for d in declared)}"
    else:
        tail = f" (this ruleset declares {len(declared)} {plural})"
    best = hint[len("did you mean `") : -len("`?")] if hint else None
    prefix = f"{call}: " if call else ""
    return UnknownSettingError(
        f"{prefix}unknown {kind} {shown[:80]!r}{tail}", kind=kind, name=shown, suggestion=best, value=None
    )


def param_value(
    name: str, type_name: str, value: Any, convert: Any, *, call: str = "", choices: Sequence[str] = ()
) -> Any:
    """``value`` converted for parameter ``name`` of type ``type_name`` by ``convert`` (lists.convert_item).

    ``choices`` are an enum parameter's values.  Raises ``SettingTypeError``/``SettingError`` naming the
    parameter, its type and the value.
    """
    try:
        if type_name == "enum" and type(value) is str and choices and value not in choices:
            hint = suggest(value, choices)
            raise ValueError(f"not one of {', '.join(map(repr, choices))}" + (f"; {hint}" if hint else ""))
        if type_name in ("duration", "timestamp", "int"):
            if type(value) is not int and not (type_name != "timestamp" and type(value) is str):
                raise TypeError(f"got {type(value).__name__}")
            # a duration as the ruleset writes it ("180d"); ints are 64-bit wherever they come from
            out = parse_duration(value) if type_name == "duration" and type(value) is str else convert("int", value)
            if type_name == "timestamp":
                check_timestamp(out)
            elif not INT_MIN <= out <= INT_MAX:
                raise ValueError("out of range (ints and durations are 64-bit)")
            return out
        return convert(type_name, value)
    except (TypeError, ValueError, OverflowError) as err:
        cls = SettingTypeError if isinstance(err, TypeError) else SettingError
        prefix = f"{call}: " if call else ""
        raise cls(
            f"{prefix}parameter `{name}` ({type_name}) takes {EXPECTED.get(type_name, type_name)}, "
            f"not {_short(value)} ({_why(err, value)})",
            kind="parameter",
            name=name,
            expected=type_name,
            value=value,
        ) from None


def list_error(name: str, type_name: str, err: BaseException, *, call: str = "") -> SettingError:
    """A list conversion error (``lists.convert_entries``' message names the entry) as a ``SettingError``."""
    if isinstance(err, SettingError):
        return err
    cls = SettingTypeError if isinstance(err, TypeError) else SettingError
    prefix = f"{call}: " if call else ""
    return cls(
        f"{prefix}list `{name}` ({type_name}) takes entries of {EXPECTED.get(type_name, type_name)}: {err}",
        kind="list",
        name=name,
        expected=type_name,
        value=getattr(err, "entry", None),
        index=getattr(err, "entry_index", None),
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _why(err: BaseException, value: Any) -> str:
    text = str(err)
    if isinstance(err, TypeError):  # the kernels' TypeErrors name the type given: say it one way
        kind = type(value).__name__
        return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"
    return text
