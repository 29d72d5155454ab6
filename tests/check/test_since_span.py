"""RD301 for ``since()`` windows: no 400-day limit (one timestamp per key).

docs/language.md ("Windows") and docs/semantics.md ("Windows"): every window's
span is 1ms to 400d, except a ``since()`` window's, which may be as long as
36500000d, because it keeps only the newest timestamp per key.
"""

from __future__ import annotations

import textwrap

import pytest

from ruledsl.check.checker import MAX_SINCE_SPAN_MS, MAX_SPAN_MS, check
from ruledsl.syntax.loader import load_text

DAY = 86_400_000


def diagnostics(window: str) -> list[tuple[str, str, str]]:
    source = textwrap.dedent(
        f"""\
        event transfer {{
          customer: string
          amount: decimal
        }}
        {window}
        rule r {{ on transfer when present(w) action alert reason "x" }}
        """
    )
    result = check(load_text(source, "case.rdsl"))
    return [(d.code, d.message, d.help or "") for d in result.diagnostics]


@pytest.mark.parametrize("span", ["401d", "1000d", "3650d", "36500d", "36500000d", "5214285w"])
def test_since_window_may_be_longer_than_400_days(span):
    assert diagnostics(f"window w = since() of transfer by customer over {span}") == []


@pytest.mark.parametrize("agg", ["count()", "sum(amount)", "max(amount)", "last(amount)", "distinct(amount)"])
def test_other_windows_keep_the_400_day_limit(agg):
    (diag,) = diagnostics(f"window w = {agg} of transfer by customer over 401d")
    assert diag == ("RD301", "window span `401d` is longer than 400 days", "use a duration between 1ms and 400d")


def test_since_window_beyond_the_arithmetic_bound_is_refused():
    (diag,) = diagnostics("window w = since() of transfer by customer over 36500001d")
    assert diag == (
        "RD301",
        "window span `36500001d` is longer than 36,500,000 days",
        "use a duration between 1ms and 36500000d",
    )


def test_since_window_of_zero_is_still_refused():
    (diag,) = diagnostics("window w = since() of transfer by customer over 0d")
    assert diag[:2] == ("RD301", "window span `0d` is zero")


def test_sequences_keep_the_400_day_limit():
    source = textwrap.dedent(
        """\
        event transfer {
          customer: string
        }
        event login {
          customer: string
        }
        sequence s by customer within 401d { step login step transfer }
        rule r { on transfer when s action alert reason "x" }
        """
    )
    codes = [d.code for d in check(load_text(source, "case.rdsl")).diagnostics]
    assert codes == ["RD301"]


def test_the_bound_keeps_millisecond_arithmetic_exact():
    assert MAX_SPAN_MS == 400 * DAY
    assert MAX_SINCE_SPAN_MS == 36_500_000 * DAY
    assert MAX_SINCE_SPAN_MS < 2**53  # exact in a double (Redis Lua), far from int64 overflow
