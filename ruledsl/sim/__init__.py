"""A seeded generator of realistic bank traffic with labelled fraud scenarios.

``generate(n_customers, days, seed, fraud_rate)`` yields event dicts in
event-time order that conform to ``rulesets/common/echannel_events.rdsl``:
``login``, ``query``, ``payee_add``, ``transfer``, ``payment``,
``cash_withdrawal`` and ``agreement_sign`` on every channel (mobile, web,
corporate, third_party, atm, pos).  Amounts are JSON strings with two
decimals; ``ts`` is an ISO 8601 string with ``+08:00`` or, for card-based
events sent by ATM/POS front ends, epoch milliseconds (``ts_format``).

Normal traffic (``echannel``) comes from customers with habits: a home city, one or two
personal active hours, a usual amount scale, one or two trusted devices, a
phone (a few share a phone with a spouse), usual payees, merchants and ATMs.
Some customers travel for a day; a few corporate customers work office hours;
about 6% of retail accounts are dormant (their last transaction lies 200-380
days before the period) and some of those wake up with a few ordinary
transactions.

Fraud scenarios are injected with labels: every event of a scenario carries
``"label": "<scenario>"`` and ``"scenario_id": "<scenario>-NNNN"`` (the engine
ignores fields not in the schema).  The scenarios (``SCENARIOS``):

* ``account_takeover`` (盗用): log-in on a new, untrusted device from another
  city, a payee added, then a large transfer (or several mid-sized ones);
* ``induced_transfer_chain`` (诱导型): the customer's own trusted device and
  city, remote-assistance style: a payment agreement signed at odd hours and
  repeated transfers to a new payee, or a daytime "safe account" transfer;
* ``mule_account`` (涉诈账户): new accounts controlled by one herder phone,
  many payers in, fast out to many payees, bursts of tiny test transfers;
* ``card_cashout_atms`` (盗刷取现): one card, several ATMs, within an hour;
* ``gambling_flow`` (涉赌): night activity, round amounts, many
  counterparties in and out, payments to gambling merchants;
* ``dormant_reactivation`` (买卖账户): a long-dormant account suddenly used
  for many or large transactions.

Mobile log-ins carry the device security SDK's ``device_tamper`` and
``remote_assist`` signals (web log-ins omit them): rarely true in normal
traffic, often true in takeovers (tampered devices) and induced transfers
(screen sharing).

Not every scenario is made to be caught: some variants stay below the
thresholds of ``rulesets/echannel_monitoring.rdsl``, as fraudsters' do.

Event families (``profile``)
----------------------------
The default profile, ``echannel``, is the stream described above.  Other
event families add to it (``profile="all"`` or e.g. ``"opening,posting"``;
``FAMILIES``), with the schemas of ``rulesets/common/account_events.rdsl``
and ``retail_events.rdsl``, each with scenarios made for one ruleset
(``TARGET_RULESET``; other rulesets may catch them too); each family's module
describes its traffic and scenarios:

* ``opening`` (``account_opening``): ``account_open`` applications from new
  customers; scenario ``risky_account_open`` (``account_opening_scorecard``).
* ``posting`` (``ledger``, ``ledger_scenarios``): ``account_txn``, the
  core-banking ledger of every personal account, both directions, with the
  balance after each entry; scenarios ``gambling_account`` and
  ``fraud_account`` (``gambling_fraud_t1``).
* ``retail`` (``retail``): ``password_reset``, ``loan_application`` and
  ``dcep_topup`` in ordinary mobile sessions; scenarios ``induced_loan_chain``,
  ``reset_takeover`` and ``remote_dcep`` (``chain_defense``).
* ``counter`` (``counter``): ``counter_transfer`` at a branch or by telephone
  banking; scenario ``risk_list_counterparty`` (``counterparty_screening``).

``fraud_rate`` applies to each family.  The other families draw from random
streams of their own and never change a customer's habits, so the e-channel
events of any profile, leaving out those of the other families' scenarios,
are exactly those of the ``echannel`` profile, in the same order.  Run a mixed stream with
``ruledsl run --skip-unknown-types``: each ruleset skips the event types it
does not declare.

``warmup_days`` adds days of normal traffic before the period, each event
marked ``"warmup": true``, so windows (daily norms, habits, dormancy) are
primed before the measured period; ``ruledsl run`` evaluates warm-up events
but leaves them out of its statistics.  Dormant accounts' last transactions
(long before the period) are warm-up events too.

The stream is deterministic for a given set of arguments (and the sample list
files under ``rulesets/lists/``, from which a few scenario counterparties are
drawn).  Scenarios draw from their own random stream and each day's normal
traffic from its own, so ``fraud_rate`` changes normal traffic only where a
victim's own sessions make way for a scenario.
About 100,000 events take 1-2 seconds.

Command line (``python -m ruledsl.sim`` takes the same options; both write
to standard output unless ``--out`` names a file outside the package and the
source checkout, see ``ruledsl.sim.output``)::

    ruledsl generate --customers 2000 --days 7 --seed 1 > events.jsonl
    ruledsl generate --profile all --customers 1000 --days 7 --warmup-days 14 --out /tmp/all.jsonl

Modules: ``catalog`` (families, event and scenario types, profiles),
``common`` (formats, random helpers, customers, identifiers), ``stream``
(state, output queue, e-channel events), one module per family (``echannel``,
``account_opening``, ``ledger`` and ``ledger_scenarios``, ``retail``,
``counter``), ``generate`` (the families combined, ``generate``,
``write_jsonl``), ``command`` (``python -m ruledsl.sim``, and ``write_stream`` for
``ruledsl generate``) and ``output`` (where a stream may be written, the shipped rulesets).
"""

from ruledsl.sim.catalog import (
    ALL_EVENT_TYPES,
    ALL_SCENARIOS,
    EVENT_TYPES,
    FAMILIES,
    FAMILY_EVENT_TYPES,
    FAMILY_SCENARIOS,
    PROFILES,
    SCENARIOS,
    TARGET_RULESET,
    families_of,
)
from ruledsl.sim.command import main
from ruledsl.sim.common import iso_ts
from ruledsl.sim.generate import generate, write_jsonl

__all__ = [
    "ALL_EVENT_TYPES",
    "ALL_SCENARIOS",
    "EVENT_TYPES",
    "FAMILIES",
    "FAMILY_EVENT_TYPES",
    "FAMILY_SCENARIOS",
    "PROFILES",
    "SCENARIOS",
    "TARGET_RULESET",
    "families_of",
    "generate",
    "iso_ts",
    "main",
    "write_jsonl",
]
