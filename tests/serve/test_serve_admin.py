"""Controls, exemptions and the audit log over HTTP, against a real ``ruledsl serve`` called with curl.

The account-opening ruleset puts controls on customers (``control customer_id
as ...``) and exempts them by ``customer_id``: the admin calls set and lift a
control, grant, list and revoke an exemption, and the next decisions follow.
With ``--audit-log`` every change is a line of the engine's hash-chained log,
recorded under the admin token's name with the reason from the body, and
``ruledsl audit verify`` accepts the file.
"""

from __future__ import annotations

import subprocess

from conftest import ROOT, RULEDSL, TOKENS
from ruledsl.runtime.audit import read_entries
from ruledsl.serve.config import digest

SCORECARD = ROOT / "rulesets" / "account_opening_scorecard.rdsl"
ADMIN_NAME = f"admin-{digest(TOKENS['admin'])[:4].hex()}"  # an unnamed token's name: scope and digest


def transfer(minute: int, customer: str = "C7001", amount: str = "800.00") -> dict:
    """A mobile transfer of ``customer`` at 10:``minute`` on 2026-11-20 (a non-counter transaction)."""
    return {
        "type": "transfer",
        "ts": f"2026-11-20T10:{minute:02d}:00+08:00",
        "customer_id": customer,
        "account_no": "6222000000007001",
        "channel": "mobile",
        "amount": amount,
        "payee_account": "6222000000009001",
        "same_name": False,
    }


UNTIL = "2027-02-18T00:00:00+08:00"


def test_controls_set_list_lift_over_http(start_server):
    srv = start_server(SCORECARD)
    assert srv.call("POST", "/v1/decide", transfer(0), "channel") == (
        200,
        {
            "action": "pass",
            "codes": [],
            "hold_timeout_ms": None,
            "hold_id": None,
            "hold_expires_at": None,
            "controls": [],
        },
    )
    body = {"key": "C7001", "kind": "restricted_noncounter", "until": UNTIL, "reason": "branch review 2026-118"}
    status, ctl = srv.call("POST", "/v1/admin/controls", body, "admin")
    assert status == 200, ctl
    assert ctl["key"] == "C7001" and ctl["kind"] == "restricted_noncounter"
    status, listed = srv.call("GET", "/v1/admin/controls", None, "admin")
    assert status == 200 and [c["key"] for c in listed] == ["C7001"]
    # the control is in force: the next non-counter transfer is blocked with the control's code
    status, decided = srv.call("POST", "/v1/decide", transfer(1), "channel")
    assert status == 200 and decided["action"] == "block" and decided["codes"] == ["AO-CTL-NONCOUNTER-0"]
    assert srv.call("POST", "/v1/decide", transfer(2, customer="C7002"), "channel")[1]["action"] == "pass"
    # lifted (an upheld appeal): the customer's transfers pass again; lifting twice is refused, nothing changed
    status, lifted = srv.call("POST", "/v1/admin/controls/lift", {"key": "C7001", "reason": "appeal upheld"}, "admin")
    assert status == 200 and lifted["key"] == "C7001"
    assert srv.call("GET", "/v1/admin/controls", None, "admin") == (200, [])
    assert srv.call("POST", "/v1/decide", transfer(3), "channel")[1]["action"] == "pass"
    status, err = srv.call("POST", "/v1/admin/controls/lift", {"key": "C7001"}, "admin")
    assert status == 422 and "C7001" in err["error"]["message"]
    # scopes: a channel token cannot set a control, no token is 401; a bad body names the field
    assert srv.call("POST", "/v1/admin/controls", body, "channel")[0] == 403
    assert srv.call("POST", "/v1/admin/controls", body)[0] == 401
    status, err = srv.call("POST", "/v1/admin/controls", {**body, "until": [1]}, "admin")
    assert status == 422 and err["error"]["field"] == "until"
    assert srv.call("GET", "/v1/admin/controls", None, "admin") == (200, [])


def test_exemptions_grant_list_revoke_over_http(start_server):
    srv = start_server(SCORECARD)
    control = {"key": "C7001", "kind": "restricted_noncounter", "until": UNTIL}
    assert srv.call("POST", "/v1/admin/controls", control, "admin")[0] == 200
    assert srv.call("POST", "/v1/decide", transfer(0), "channel")[1]["action"] == "block"
    grant = {"key": "C7001", "rule": "restricted_noncounter_transfer", "until": "2026-11-21T00:00:00+08:00"}
    status, ex = srv.call("POST", "/v1/admin/exemptions", {**grant, "reason": "salary transfer approved"}, "admin")
    assert status == 200 and ex["key"] == "C7001" and ex["rule"] == "restricted_noncounter_transfer"
    status, listed = srv.call("GET", "/v1/admin/exemptions", None, "admin")
    assert status == 200 and [(e["key"], e["rule"]) for e in listed] == [("C7001", "restricted_noncounter_transfer")]
    # exempted: the transfer passes; the analyst sees the exemption that let it through
    assert srv.call("POST", "/v1/decide", transfer(1), "channel")[1]["action"] == "pass"
    status, full = srv.call("POST", "/v1/decide", transfer(2), "analyst")
    assert status == 200 and full["action"] == "pass"
    assert [e["rule"] for e in full["exemptions"]] == ["restricted_noncounter_transfer"], full
    # an unknown rule is refused naming it; nothing granted
    status, err = srv.call("POST", "/v1/admin/exemptions", {**grant, "rule": "no_such_rule"}, "admin")
    assert status == 422 and "no_such_rule" in err["error"]["message"]
    # revoked: blocked again; revoking twice is refused
    revoke = {"key": "C7001", "rule": "restricted_noncounter_transfer", "reason": "appeal withdrawn"}
    status, ex = srv.call("POST", "/v1/admin/exemptions/revoke", revoke, "admin")
    assert status == 200 and ex["key"] == "C7001"
    assert srv.call("GET", "/v1/admin/exemptions", None, "admin") == (200, [])
    assert srv.call("POST", "/v1/decide", transfer(3), "channel")[1]["action"] == "block"
    assert srv.call("POST", "/v1/admin/exemptions/revoke", revoke, "admin")[0] == 422
    assert srv.call("GET", "/v1/admin/exemptions", None, "analyst")[0] == 403


def test_audit_log_records_admin_changes_by_token(start_server, tmp_path):
    log = tmp_path / "audit.jsonl"
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        "channel: [chan-from-file-0000001]\nadmin:\n  ops-alice: admin-alice-token-000001\n", encoding="utf-8"
    )
    srv = start_server(SCORECARD, "--audit-log", log, "--tokens", tokens, tokens=False)
    alice = "admin-alice-token-000001"
    calls = [
        ("PUT", "/v1/admin/params/young_age", {"value": 25, "reason": "policy 2026-7"}, alice, None),
        ("POST", "/v1/admin/lists/risk_phones", {"add": ["13900000099"], "reason": "police notice"}, alice, None),
        ("POST", "/v1/admin/controls", {"key": "C7001", "kind": "restricted_noncounter", "until": UNTIL}, alice, None),
        (
            "POST",
            "/v1/admin/controls/lift",
            {"key": "C7001", "by": "zhang.wei", "reason": "appeal upheld"},
            alice,
            None,
        ),
        ("PUT", "/v1/admin/params/young_age", {"value": "not a number"}, alice, None),  # refused: not logged
    ]
    answers = srv.calls(calls)
    assert [status for status, _ in answers] == [200, 200, 200, 200, 422], answers
    srv.stop()
    done = subprocess.run([str(RULEDSL), "audit", "verify", str(log)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    entries = read_entries(log)
    changes = [(e.action, e.target, e.by, e.reason) for e in entries]
    assert changes == [
        ("set_param", "young_age", "ops-alice", "policy 2026-7"),
        ("update_list", "risk_phones", "ops-alice", "police notice"),
        ("control.set", "C7001", "ops-alice", None),
        ("control.lift", "C7001", "ops-alice (zhang.wei)", "appeal upheld"),
    ], changes
    assert entries[0].old == 22 and entries[0].new == 25


def test_audit_log_unnamed_token_and_refusals(start_server, tmp_path):
    log = tmp_path / "audit.jsonl"
    srv = start_server(SCORECARD, "--audit-log", log)
    status, _ = srv.call("PUT", "/v1/admin/params/young_age", {"value": 23, "reason": "r"}, "admin")
    assert status == 200
    srv.stop()
    assert [(e.action, e.by) for e in read_entries(log)] == [("set_param", ADMIN_NAME)]
    # several workers would each chain their own lines into one file: refused before listening
    done = subprocess.run(
        [str(RULEDSL), "serve", str(SCORECARD), "--audit-log", str(log), "--workers", "2", "--redis", "redis://x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--audit-log is for one worker" in done.stderr
