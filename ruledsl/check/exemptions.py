"""``exempt by``: the event fields an exemption key is matched against (docs/semantics.md, "Exemptions").

A program may have several ``exempt by`` declarations (a shared schema file
included by several rulesets can carry one): they merge, in the order the
loader reads the modules, each field once.  Each name must be a field of at
least one event type (RD119), and wherever it is declared a string, int or
enum field (RD214): an exemption key (``Engine.exempt``) is a string or an
int, matched by equality.  A name repeated is a warning (RD120).  The merged
list is ``Symbols.exempt_by``; an empty list means the ruleset has no
exemptions (its generated code does not look for any).
"""

from __future__ import annotations

from ruledsl.check import messages as m
from ruledsl.check.symbols import Context
from ruledsl.syntax import nodes as n
from ruledsl.syntax.diagnostics import suggest

KEY_FIELD_TYPES = frozenset({"string", "int", "enum"})
"""Field types an exemption key can be matched against."""


def check_exempt_by(ctx: Context) -> None:
    """Check every ``exempt by`` declaration and set ``ctx.sym.exempt_by`` to the merged field list."""
    first: dict[str, tuple[str, int]] = {}
    all_fields = sorted({f for fields in ctx.sym.fields.values() for f in fields})
    for module in ctx.program.modules:
        for decl in module.decls:
            if not isinstance(decl, n.ExemptDecl):
                continue
            for ident in decl.fields:
                _check_field(ctx, module.path, ident, first, all_fields)
    ctx.sym.exempt_by = list(first)


def _check_field(
    ctx: Context, path: str, ident: n.Ident, first: dict[str, tuple[str, int]], all_fields: list[str]
) -> None:
    name = ident.name
    if name in first:
        ctx.report(path, ident.span, m.exempt_duplicate_field(name, *first[name]))
        return
    owners = ctx.field_owners.get(name, [])
    if not owners:
        ctx.report(path, ident.span, m.exempt_unknown_field(name, suggest(name, all_fields)))
        return
    for event in owners:
        t = ctx.sym.fields[event][name]
        if t.name not in KEY_FIELD_TYPES:
            ctx.report(path, ident.span, m.exempt_field_type(name, event, t))
            return
    first[name] = (path, ident.span.line)
