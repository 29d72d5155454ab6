"""A parameter sweep's variant of the event functions: the rules reading one parameter, once per value.

``ruledsl backtest --sweep PARAM=FROM:TO:STEP`` (``ruledsl/lab/sweep.py``)
needs every event's decision under every value of one parameter, from one
pass over the events.  Windows, sequences and scorecards are computed once
per event (they must not read the parameter: ``lab/sweep.py`` checks that
first); the rules that do not read it are tested once; then the rules that
read it are tested once per value, the parameter's local variable bound to
that value::

    SWB = hits                      # the hits of the rules that do not read it
    SWH = []
    for p_limit in SWV:             # the values, bound in the namespace (runtime representation)
        hits = None if SWB is None else SWB[:]
        ...                         # the swept rules' tests, as the plain evaluator writes them
        SWH.append((hits, exm, ctl))
    ...                             # the commit: windows fed, clock moved, as always
    return _sweep('transfer', SWH, [scores], late, ts, commit, held)

``_sweep`` (bound by the lab) turns each value's hits into a decision with
the engine's own ``_decide``.  The text is the plain evaluator's text except
for these lines, so the decisions cannot drift from a replay's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ruledsl.check.checker import CheckResult
from ruledsl.syntax import nodes as n


def reads_param(result: CheckResult, expr: Any, param: str) -> bool:
    """Whether ``expr`` (an expression, or None) names parameter ``param``."""
    if expr is None:
        return False
    return any(isinstance(s, n.Name) and result.refs.get(id(s)) == ("param", param) for s in n.walk(expr))


def rule_reads_param(result: CheckResult, decl: n.RuleDecl, param: str) -> bool:
    """Whether a rule's condition or control clauses name ``param``."""
    exprs = [decl.when] + [e for c in decl.controls for e in (c.key, c.kind, c.duration)]
    return any(reads_param(result, e, param) for e in exprs)


def split_rules(result: CheckResult, rules: list, param: Any) -> tuple[list, list]:
    """(rules that do not read ``param``, rules that do); every rule in the first when not sweeping."""
    if param is None:
        return rules, []
    swept = [r for r in rules if rule_reads_param(result, r[2], param)]
    return [r for r in rules if r not in swept], swept


def write_loop(
    body: Any,
    var: str,
    has_ctl: bool,
    new_writer: Callable[[], Any],
    write_rules: Callable[[Any], None],
    write_exemptions: Callable[[Any], str],
) -> None:
    """The loop over the swept values (module docstring), after the other rules' tests in ``body``."""
    inner = new_writer()
    inner(1, "hits = None if SWB is None else SWB[:]")
    if has_ctl:
        inner(1, "ctl = SWC[:]")
    write_rules(inner)
    inner(1, "exm = None")
    write_exemptions(inner)
    inner(1, f"SWH.append((hits, exm, {'ctl' if has_ctl else 'None'}))")
    body(1, "SWB = hits")
    if has_ctl:
        body(1, "SWC = ctl")
    body(1, "SWH = []")
    body(1, f"for {var} in SWV:  # the swept parameter's values: its rules once per value")
    body.lines.extend("    " + line if line else line for line in inner.lines)
    body.locations.extend(inner.locations)
