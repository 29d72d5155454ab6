"""What the traffic generator can make: its event families, their event types
and labelled scenario types, the ruleset each scenario is made for, and the
named profiles (``families_of``)."""

from __future__ import annotations

from collections.abc import Iterable

SCENARIOS: tuple[str, ...] = (
    "account_takeover",
    "induced_transfer_chain",
    "mule_account",
    "card_cashout_atms",
    "gambling_flow",
    "dormant_reactivation",
)
"""The e-channel family's labelled fraud scenario types."""

EVENT_TYPES: tuple[str, ...] = (
    "login",
    "query",
    "payee_add",
    "transfer",
    "payment",
    "cash_withdrawal",
    "agreement_sign",
)
"""The e-channel event types (``rulesets/common/echannel_events.rdsl``): the ``echannel`` family."""

FAMILY_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "echannel": EVENT_TYPES,
    "opening": ("account_open",),
    "posting": ("account_txn",),
    "retail": ("password_reset", "loan_application", "dcep_topup"),
    "counter": ("counter_transfer",),
}
"""The event types each family adds to the stream."""

FAMILY_SCENARIOS: dict[str, tuple[str, ...]] = {
    "echannel": SCENARIOS,
    "opening": ("risky_account_open",),
    "posting": ("gambling_account", "fraud_account"),
    "retail": ("induced_loan_chain", "reset_takeover", "remote_dcep"),
    "counter": ("risk_list_counterparty",),
}
"""The labelled scenario types each family injects."""

FAMILIES: tuple[str, ...] = tuple(FAMILY_EVENT_TYPES)
PROFILES: dict[str, tuple[str, ...]] = {"echannel": ("echannel",), "all": FAMILIES}
"""Named profiles; ``--profile`` also takes a comma-separated list of families."""

ALL_EVENT_TYPES: tuple[str, ...] = tuple(t for f in FAMILIES for t in FAMILY_EVENT_TYPES[f])
ALL_SCENARIOS: tuple[str, ...] = tuple(s for f in FAMILIES for s in FAMILY_SCENARIOS[f])

TARGET_RULESET: dict[str, str] = {
    **dict.fromkeys(SCENARIOS, "echannel_monitoring"),
    "risky_account_open": "account_opening_scorecard",
    "gambling_account": "gambling_fraud_t1",
    "fraud_account": "gambling_fraud_t1",
    "induced_loan_chain": "chain_defense",
    "reset_takeover": "chain_defense",
    "remote_dcep": "chain_defense",
    "risk_list_counterparty": "counterparty_screening",
}
"""The ruleset (in ``rulesets/``) each scenario type is made for; other rulesets may catch it too."""


def families_of(profile: str | Iterable[str]) -> tuple[str, ...]:
    """The families of a profile: ``"echannel"``, ``"all"`` or families (comma-separated or a list).

    The e-channel traffic is the customer base every other family builds on, so it is always included.
    """
    names = [s.strip() for s in profile.split(",")] if isinstance(profile, str) else [str(s).strip() for s in profile]
    chosen = {"echannel"}
    for name in names:
        if not name:
            continue
        if name in PROFILES:
            chosen.update(PROFILES[name])
        elif name in FAMILY_EVENT_TYPES:
            chosen.add(name)
        else:
            raise ValueError(
                f"unknown profile or event family {name!r}; "
                f"known: {', '.join(PROFILES)} or families {', '.join(FAMILIES)}"
            )
    return tuple(f for f in FAMILIES if f in chosen)
