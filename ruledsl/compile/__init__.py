"""Checked AST -> a generated Python evaluator module, one function per event type.

- ``plan``: the decisions (what each event type's function reads, feeds, tests; names; state identity);
- ``exprs``: DSL expressions -> Python expression text;
- ``emit``: the module's text, with a comment per declaration and a line map;
- ``runtime``: every helper generated code may call (``EXPORTED``);
- ``linemap``: generated line -> DSL location; tracebacks rewritten to point at the ruleset.

The model is Jinja's compiler: user values enter the text only as ``repr()``
of Python literals or as named constants, never by splicing user text.
"""

from ruledsl.compile.emit import compile_module as compile_ruleset
from ruledsl.compile.plan import Compiled, RuleMeta, SequenceSpec, WindowSpec, const_value

__all__ = ["Compiled", "RuleMeta", "SequenceSpec", "WindowSpec", "compile_ruleset", "const_value"]
