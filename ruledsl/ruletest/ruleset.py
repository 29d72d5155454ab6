"""The ruleset under test: loaded, checked and compiled once, engines built from it per case."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ruledsl.syntax.loader import display_path

if TYPE_CHECKING:
    from ruledsl.check.checker import CheckResult
    from ruledsl.compile import Compiled
    from ruledsl.oracle.reference import ReferenceEngine
    from ruledsl.runtime.engine import Engine


class RulesetUnderTest:
    """A checked and compiled ruleset; engines for cases are built from it cheaply."""

    def __init__(self, path: Path, result: CheckResult, compiled: Compiled):
        self.path = path
        self.shown = display_path(path)
        self.result = result
        self.compiled = compiled
        self.symbols = result.symbols
        header = self.symbols.header
        self.timezone = header.timezone if header is not None and header.timezone else "UTC"
        self.rule_ids = list(self.symbols.rules)
        self.codes = {d.code for d in self.symbols.rules.values() if d.code}

    def engine(
        self,
        *,
        params: Optional[dict[str, Any]] = None,
        lists: Optional[dict[str, Any]] = None,
        timezone: Optional[str] = None,
    ) -> Engine:
        """A fresh engine: empty state, the given parameters and lists."""
        from ruledsl.runtime.engine import Engine

        # a rule test's clock is its own virtual clock: the wall-clock guard does not apply
        return Engine(self.result, self.compiled, params=params, lists=lists, timezone=timezone, clock=None)

    def reference(
        self,
        *,
        params: Optional[dict[str, Any]] = None,
        lists: Optional[dict[str, Any]] = None,
        timezone: Optional[str] = None,
    ) -> ReferenceEngine:
        """The reference interpreter on the same ruleset and settings."""
        from ruledsl.oracle.reference import ReferenceEngine
        from ruledsl.runtime.lists import resolve_lists

        return ReferenceEngine(self.result, params=params, lists=resolve_lists(self.result, lists), timezone=timezone)

    def applies(self, rule: str, event_type: str) -> bool:
        """Whether the rule is declared ``on`` this event type (otherwise it can neither fire nor stay silent)."""
        return event_type in self.symbols.rule_events.get(rule, ())

    def condition_text(self, rule: str) -> Optional[str]:
        """The source text of a rule's ``when`` (for failure reports)."""
        decl = self.symbols.rules.get(rule)
        if decl is None or decl.when is None:
            return None
        program = self.result.program
        if program is None:
            return None
        source = program.sources.get(self.symbols.decl_paths.get(id(decl), ""))
        if source is None:
            return None
        sp = decl.when.span
        return " ".join(source[sp.start : sp.end].split())


_RULESET_CACHE: dict[tuple, RulesetUnderTest] = {}


def load_ruleset(path: Path) -> RulesetUnderTest:
    """Load, check and compile a ruleset once per (file, modification time).

    Raises ``RuleDSLError`` when it does not load cleanly.
    """
    from ruledsl.check.checker import check_files
    from ruledsl.compile import compile_ruleset

    real = path.resolve()
    key: tuple[str, Optional[int], Optional[int]]
    try:
        st = real.stat()
        key = (str(real), st.st_mtime_ns, st.st_size)
    except OSError:
        key = (str(real), None, None)
    cached = _RULESET_CACHE.get(key)
    if cached is not None:
        return cached
    result = check_files([path])
    loaded = RulesetUnderTest(path, result, compile_ruleset(result))
    _RULESET_CACHE[key] = loaded
    return loaded
