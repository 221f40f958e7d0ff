"""Two dunning runs racing on a live server execute each step of each case once.

Two threads, each with its own XML-RPC connection, call ``q2c.dunning.run.run_dunning`` for the
same date at the same moment; the server runs with worker processes, so both transactions
really overlap. Each (case, step) is claimed by inserting its timeline row under a unique
constraint before the action runs: the run that does not get the row does nothing (PostgreSQL
makes it wait for the other and Odoo retries it after the serialization failure). The cases
themselves are opened under a partial unique index (one open case per invoice).

The invoices are dated 2020 so that no other test's invoice is due on the days raced. In the
second test the subscriptions carry a saved card of the ``payment_demo`` provider that is always
refused: each retry due is charged once (one ``payment.transaction`` per invoice and retry day),
never twice, although both runs try.
"""

from collections import Counter

from conftest import run_concurrently

INVOICES = 20
INVOICE_DATE = "2020-01-10"
DAY_1 = "2020-01-11"  # retry (skipped: no saved payment method) and friendly reminder
DAY_7 = "2020-01-17"  # retries of days 3, 5 (superseded) and 7 (skipped), firm reminder


def _setup(rpc, tag="", start=INVOICE_DATE):
    company = rpc.call("res.users", "read", [rpc.uid], ["company_id"])[0]["company_id"][0]
    currency = rpc.call("res.company", "read", [company], ["currency_id"])[0]["currency_id"][0]
    product = rpc.call(
        "product.product", "create", {"name": f"Dunning race service{tag}", "type": "service"}
    )
    plan = rpc.call(
        "q2c.price.plan",
        "create",
        {
            "name": f"Dunning race{tag} (monthly)",
            "product_id": product,
            "currency_id": currency,
            "charge_type": "recurring",
            "charge_model": "flat",
            "flat_price": 40.0,
        },
    )
    partners = rpc.call(
        "res.partner",
        "create",
        [
            {
                "name": f"Dunning race{tag} customer {i}",
                "email": f"race{tag}{i}@dunning.example.com",
            }
            for i in range(INVOICES)
        ],
    )
    subs = rpc.call(
        "q2c.subscription",
        "create",
        [
            {
                "partner_id": partner,
                "currency_id": currency,
                "start_date": start,
                "line_ids": [(0, 0, {"product_id": product, "price_plan_id": plan})],
            }
            for partner in partners
        ],
    )
    rpc.call("q2c.subscription", "action_activate", subs)
    invoices = rpc.call(
        "account.move",
        "create",
        [
            {
                "move_type": "out_invoice",
                "partner_id": partner,
                "invoice_date": start,
                "invoice_date_due": start,
                "currency_id": currency,
                "invoice_line_ids": [
                    (
                        0,
                        0,
                        {
                            "product_id": product,
                            "quantity": 1,
                            "price_unit": 40.0,
                            "tax_ids": [(6, 0, [])],
                            "q2c_subscription_id": sub,
                        },
                    )
                ],
            }
            for partner, sub in zip(partners, subs, strict=True)
        ],
    )
    rpc.call("account.move", "action_post", invoices)
    return invoices, subs


def _race(rpc, day):
    return run_concurrently(rpc, "q2c.dunning.run", "run_dunning", day)


def _state(rpc, invoices):
    cases = rpc.call(
        "q2c.dunning.case",
        "search_read",
        [("invoice_id", "in", invoices)],
        fields=["invoice_id", "state", "stage"],
    )
    logs = rpc.call(
        "q2c.dunning.case.log",
        "search_read",
        [("case_id", "in", [case["id"] for case in cases]), ("claim_key", "!=", False)],
        fields=["case_id", "claim_key", "action", "result", "mail_id"],
    )
    mails = rpc.call(
        "mail.mail",
        "search_read",
        [("model", "=", "account.move"), ("res_id", "in", invoices)],
        fields=["res_id", "state", "subject"],
    )
    return cases, logs, mails


def test_two_dunning_runs_racing_execute_each_step_once(rpc):
    invoices, __ = _setup(rpc)

    results = _race(rpc, DAY_1)
    cases, logs, mails = _state(rpc, invoices)
    # One case per invoice, although both runs tried to open them.
    assert Counter(case["invoice_id"][0] for case in cases) == Counter(invoices)
    assert {case["stage"] for case in cases} == {"reminded"}
    # Each step of each case claimed once: one timeline row per (case, step).
    keys = Counter((log["case_id"][0], log["claim_key"]) for log in logs)
    assert set(keys.values()) == {1}
    assert Counter(log["action"] for log in logs) == {
        "retry_payment": INVOICES,
        "send_reminder": INVOICES,
    }
    assert {log["result"] for log in logs if log["action"] == "send_reminder"} == {"done"}
    # One mail per invoice, queued (not sent), and on the timeline.
    assert Counter(mail["res_id"] for mail in mails) == Counter(invoices)
    assert {mail["state"] for mail in mails} == {"outgoing"}
    assert {log["mail_id"][0] for log in logs if log["mail_id"]} == {m["id"] for m in mails}
    assert sum(result["reminded"] for result in results) >= INVOICES

    # The cases exist now: the next race conflicts on the claims only.
    _race(rpc, DAY_7)
    cases, logs, mails = _state(rpc, invoices)
    keys = Counter((log["case_id"][0], log["claim_key"]) for log in logs)
    assert set(keys.values()) == {1}
    assert Counter(log["action"] for log in logs) == {
        "retry_payment": 4 * INVOICES,
        "send_reminder": 2 * INVOICES,
    }
    assert Counter(mail["res_id"] for mail in mails) == Counter(invoices * 2)
    assert len({mail["subject"] for mail in mails}) == 2 * INVOICES  # friendly + firm each

    # A third run for the same date does nothing more for these invoices.
    rpc.call("q2c.dunning.run", "run_dunning", DAY_7)
    __, logs_again, mails_again = _state(rpc, invoices)
    assert len(logs_again) == len(logs)
    assert len(mails_again) == len(mails)


CHARGED_DATE = "2020-03-10"
CHARGED_DAY_1 = "2020-03-11"  # retry 1 (charged, refused) and friendly reminder
CHARGED_DAY_7 = "2020-03-17"  # retries 3, 5 superseded, retry 7 charged (refused), firm reminder


def _refusing_cards(rpc, subs):
    """Give each subscription a saved demo card that the provider always refuses; charge
    automatically. Returns the company's previous automatic payment setting."""
    company = rpc.call("res.users", "read", [rpc.uid], ["company_id"])[0]["company_id"][0]
    autopay = rpc.call("res.company", "read", [company], ["q2c_autopay"])[0]["q2c_autopay"]
    rpc.call("res.company", "write", [company], {"q2c_autopay": True})
    provider = rpc.call(
        "payment.provider", "search", [("code", "=", "demo"), ("company_id", "=", company)], limit=1
    )[0]
    bank = rpc.call(
        "account.journal", "search", [("type", "=", "bank"), ("company_id", "=", company)], limit=1
    )[0]
    rpc.call(
        "payment.provider",
        "write",
        [provider],
        {"state": "test", "journal_id": bank, "capture_manually": False},
    )
    method = rpc.call(
        "ir.model.data",
        "search_read",
        [("module", "=", "payment_demo"), ("name", "=", "payment_method_demo")],
        fields=["res_id"],
    )[0]["res_id"]
    for sub in rpc.call("q2c.subscription", "read", subs, ["partner_id"]):
        token = rpc.call(
            "payment.token",
            "create",
            {
                "provider_id": provider,
                "payment_method_id": method,
                "payment_details": f"4000{sub['id']}",
                "partner_id": sub["partner_id"][0],
                "provider_ref": f"race-refused-{sub['id']}",
                "demo_simulated_state": "error",
            },
        )
        rpc.call("q2c.subscription", "write", [sub["id"]], {"payment_token_id": token})
    return company, autopay


def _charges(rpc, invoices):
    return Counter(
        tx["q2c_autopay_move_id"][0]
        for tx in rpc.call(
            "payment.transaction",
            "search_read",
            [("q2c_autopay_move_id", "in", invoices)],
            fields=["q2c_autopay_move_id", "state"],
        )
    )


def test_two_dunning_runs_racing_charge_each_retry_once(rpc):
    # The invoices are posted before the cards are saved: no automatic charge at posting, the
    # first charge is the dunning retry of day 1.
    invoices, subs = _setup(rpc, tag=" charged", start=CHARGED_DATE)
    company, autopay = _refusing_cards(rpc, subs)
    try:
        assert _charges(rpc, invoices) == Counter()
        results = _race(rpc, CHARGED_DAY_1)
        assert _charges(rpc, invoices) == Counter(invoices)
        assert sum(result["retried"] for result in results) == INVOICES
        __, logs, mails = _state(rpc, invoices)
        retries = [log for log in logs if log["action"] == "retry_payment"]
        assert len(retries) == INVOICES
        assert {log["result"] for log in retries} == {"failed"}
        assert Counter(mail["res_id"] for mail in mails) == Counter(invoices)

        results = _race(rpc, CHARGED_DAY_7)
        assert _charges(rpc, invoices) == Counter(invoices * 2)
        assert sum(result["retried"] for result in results) == INVOICES
        __, logs, mails = _state(rpc, invoices)
        assert (
            Counter((log["case_id"][0], log["claim_key"]) for log in logs).most_common(1)[0][1] == 1
        )
        assert Counter(mail["res_id"] for mail in mails) == Counter(invoices * 2)
    finally:
        rpc.call("res.company", "write", [company], {"q2c_autopay": autopay})
