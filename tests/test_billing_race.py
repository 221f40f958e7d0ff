"""Two billing runs racing on a live server bill each subscription period exactly once.

Two threads, each with its own XML-RPC connection, call ``q2c.billing.run.run_billing`` for
the same date at the same moment; the server runs with worker processes, so both transactions
really overlap. The billed-period table's unique constraint decides: one run bills, the other
skips (or finds nothing due once the first committed).
"""

from collections import Counter

from conftest import run_concurrently

SUBSCRIPTIONS = 24
DAY = "2026-03-01"


def _setup(rpc):
    tax = rpc.call(
        "account.tax",
        "create",
        {
            "name": "Race tax 10%",
            "amount": 10.0,
            "amount_type": "percent",
            "type_tax_use": "sale",
        },
    )
    product = rpc.call(
        "product.product",
        "create",
        {
            "name": "Race seat",
            "type": "service",
            "taxes_id": [(6, 0, [tax])],
        },
    )
    company = rpc.call("res.users", "read", [rpc.uid], ["company_id"])[0]["company_id"][0]
    currency = rpc.call("res.company", "read", [company], ["currency_id"])[0]["currency_id"][0]
    plan = rpc.call(
        "q2c.price.plan",
        "create",
        {
            "name": "Race seat (monthly)",
            "product_id": product,
            "currency_id": currency,
            "charge_type": "recurring",
            "charge_model": "per_unit",
            "unit_price": 12.5,
        },
    )
    partners = rpc.call(
        "res.partner", "create", [{"name": f"Race customer {i}"} for i in range(SUBSCRIPTIONS // 2)]
    )
    subs = rpc.call(
        "q2c.subscription",
        "create",
        [
            {
                "partner_id": partners[i % len(partners)],
                "currency_id": currency,
                "start_date": DAY,
                "line_ids": [
                    (0, 0, {"product_id": product, "price_plan_id": plan, "quantity": 1 + i})
                ],
            }
            for i in range(SUBSCRIPTIONS)
        ],
    )
    rpc.call("q2c.subscription", "action_activate", subs)
    return subs


def test_two_runs_racing_bill_each_period_once(rpc):
    subs = _setup(rpc)
    results = run_concurrently(rpc, "q2c.billing.run", "run_billing", DAY)
    assert all(result["errors"] == [] for result in results), results

    # Together the two runs billed every subscription once.
    assert sum(result["billed"] for result in results) == SUBSCRIPTIONS
    assert not set(results[0]["invoice_ids"]) & set(results[1]["invoice_ids"])

    # Exactly one invoice per subscription period: one billed-period row, one invoice line.
    periods = rpc.call(
        "q2c.subscription.period",
        "search_read",
        [("subscription_id", "in", subs)],
        fields=["subscription_id", "move_id"],
    )
    assert Counter(row["subscription_id"][0] for row in periods) == Counter(subs)
    lines = rpc.call(
        "account.move.line",
        "search_read",
        [("q2c_subscription_id", "in", subs), ("display_type", "=", "product")],
        fields=["q2c_subscription_id", "move_id", "q2c_period_start", "price_subtotal"],
    )
    assert Counter(line["q2c_subscription_id"][0] for line in lines) == Counter(subs)
    assert {line["q2c_period_start"] for line in lines} == {DAY}
    invoices = {line["move_id"][0] for line in lines}
    assert invoices == set(results[0]["invoice_ids"]) | set(results[1]["invoice_ids"])
    # Two subscriptions per customer share an invoice.
    assert len(invoices) == SUBSCRIPTIONS // 2
    assert sum(line["price_subtotal"] for line in lines) == sum(
        12.5 * (1 + i) for i in range(SUBSCRIPTIONS)
    )

    # A third run for the same date creates nothing.
    again = rpc.call("q2c.billing.run", "run_billing", DAY)
    assert again["invoice_ids"] == [] and again["billed"] == 0
