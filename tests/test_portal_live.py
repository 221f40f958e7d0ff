"""The subscription portal through a real HTTP client against a live server (with workers):
customers see only their own records, forms need Odoo's CSRF token, a change confirmed in the
portal is invoiced and charged to the saved payment method (payment_demo)."""

import datetime
import re
import uuid

import pytest
import requests


def _xmlid(rpc, module, name):
    rows = rpc.call(
        "ir.model.data",
        "search_read",
        [("module", "=", module), ("name", "=", name)],
        fields=["res_id"],
    )
    return rows[0]["res_id"]


def _csrf(html):
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def _portal_session(server, login, password):
    session = requests.Session()
    page = session.get(f"{server.url}/web/login", timeout=60)
    response = session.post(
        f"{server.url}/web/login",
        data={"login": login, "password": password, "csrf_token": _csrf(page.text)},
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code in (302, 303), response.text[:500]
    return session


@pytest.fixture(scope="module")
def portal(rpc, odoo_server):
    """Two customers with a portal login each, a subscription each billed for the current
    month and charged to a demo token."""
    tag = uuid.uuid4().hex[:6]
    company = rpc.call("res.users", "read", [rpc.uid], ["company_id"])[0]["company_id"][0]
    rpc.call(
        "res.company",
        "write",
        [company],
        {
            "q2c_autopay": True,
            "q2c_portal_change_quantity": True,
            "q2c_portal_pause": True,
            "q2c_upgrade_billing": "immediate",
        },
    )
    currency = rpc.call("res.company", "read", [company], ["currency_id"])[0]["currency_id"][0]
    provider = rpc.call(
        "payment.provider",
        "search",
        [("code", "=", "demo"), ("company_id", "=", company)],
        limit=1,
    )[0]
    bank = rpc.call(
        "account.journal",
        "search",
        [("type", "=", "bank"), ("company_id", "=", company)],
        limit=1,
    )[0]
    rpc.call(
        "payment.provider",
        "write",
        [provider],
        {
            "state": "test",
            "is_published": True,
            "journal_id": bank,
            "capture_manually": False,
            "available_currency_ids": [(5, 0, 0)],
        },
    )
    method = _xmlid(rpc, "payment_demo", "payment_method_demo")
    portal_group = _xmlid(rpc, "base", "group_portal")
    product = rpc.call(
        "product.product",
        "create",
        {
            "name": f"Live seat {tag}",
            "type": "service",
            "taxes_id": [(6, 0, [])],
        },
    )
    plan = rpc.call(
        "q2c.price.plan",
        "create",
        {
            "name": f"Live seat plan {tag}",
            "product_id": product,
            "currency_id": currency,
            "charge_type": "recurring",
            "charge_model": "per_unit",
            "unit_price": 10.0,
        },
    )
    today = datetime.date.today()
    month_start = today.replace(day=1).isoformat()
    customers = {}
    for key in ("a", "b"):
        partner = rpc.call(
            "res.partner",
            "create",
            {
                "name": f"Live customer {key.upper()} {tag}",
                "is_company": True,
                "email": f"{key}-{tag}@live.example.com",
            },
        )
        login = f"live_{key}_{tag}"
        rpc.call(
            "res.users",
            "create",
            {
                "name": f"Live portal {key} {tag}",
                "login": login,
                "password": login,
                "partner_id": partner,
                "groups_id": [(6, 0, [portal_group])],
                "company_id": company,
                "company_ids": [(6, 0, [company])],
            },
        )
        token = rpc.call(
            "payment.token",
            "create",
            {
                "provider_id": provider,
                "payment_method_id": method,
                "payment_details": f"42{key}{tag}",
                "partner_id": partner,
                "provider_ref": f"live-{key}-{tag}",
                "demo_simulated_state": "done",
            },
        )
        sub = rpc.call(
            "q2c.subscription",
            "create",
            {
                "partner_id": partner,
                "currency_id": currency,
                "start_date": month_start,
                "payment_token_id": token,
                "line_ids": [(0, 0, {"product_id": product, "price_plan_id": plan, "quantity": 5})],
            },
        )
        rpc.call("q2c.subscription", "action_activate", [sub])
        customers[key] = {"partner": partner, "login": login, "token": token, "sub": sub}
    rpc.call("q2c.billing.run", "run_billing", month_start)
    for data in customers.values():
        data["name"] = rpc.call("q2c.subscription", "read", [data["sub"]], ["name"])[0]["name"]
        data["line"] = rpc.call("q2c.subscription", "read", [data["sub"]], ["line_ids"])[0][
            "line_ids"
        ][0]
        data["session"] = _portal_session(odoo_server, data["login"], data["login"])
    return customers


def test_customers_see_only_their_subscriptions(odoo_server, portal):
    a, b = portal["a"], portal["b"]
    listing = a["session"].get(f"{odoo_server.url}/my/subscriptions", timeout=60)
    assert listing.status_code == 200
    assert a["name"] in listing.text
    assert b["name"] not in listing.text
    own = a["session"].get(f"{odoo_server.url}/my/subscriptions/{a['sub']}", timeout=60)
    assert own.status_code == 200 and a["name"] in own.text
    for suffix in ("", "/payment_method"):
        other = a["session"].get(
            f"{odoo_server.url}/my/subscriptions/{b['sub']}{suffix}", timeout=60
        )
        assert other.status_code == 404
        assert b["name"] not in other.text
    anonymous = requests.get(
        f"{odoo_server.url}/my/subscriptions/{b['sub']}?access_token=not-the-token", timeout=60
    )
    assert anonymous.status_code == 404
    assert b["name"] not in anonymous.text


def test_forms_need_the_csrf_token(odoo_server, portal, rpc):
    a = portal["a"]
    url = f"{odoo_server.url}/my/subscriptions/{a['sub']}/pause"
    refused = a["session"].post(url, data={}, allow_redirects=False, timeout=60)
    assert refused.status_code == 400
    state = rpc.call("q2c.subscription", "read", [a["sub"]], ["state"])[0]["state"]
    assert state == "active"
    # Another customer's form token does not pass either.
    page_b = portal["b"]["session"].get(
        f"{odoo_server.url}/my/subscriptions/{portal['b']['sub']}", timeout=60
    )
    refused = a["session"].post(
        url, data={"csrf_token": _csrf(page_b.text)}, allow_redirects=False, timeout=60
    )
    assert refused.status_code == 400
    assert rpc.call("q2c.subscription", "read", [a["sub"]], ["state"])[0]["state"] == "active"


def test_change_in_portal_is_invoiced_and_charged(odoo_server, portal, rpc):
    b = portal["b"]
    session = b["session"]
    page = session.get(f"{odoo_server.url}/my/subscriptions/{b['sub']}", timeout=60)
    preview = session.post(
        f"{odoo_server.url}/my/subscriptions/{b['sub']}/change/preview",
        data={"line_id": b["line"], "quantity": "9", "csrf_token": _csrf(page.text)},
        timeout=60,
    )
    assert preview.status_code == 200
    assert "Review your change" in preview.text
    confirmed = session.post(
        f"{odoo_server.url}/my/subscriptions/{b['sub']}/change/confirm",
        data={
            "line_id": b["line"],
            "quantity": "9",
            "price_plan_id": "",
            "csrf_token": _csrf(preview.text),
        },
        allow_redirects=False,
        timeout=60,
    )
    assert confirmed.status_code == 303
    assert "message=changed" in confirmed.headers["Location"]
    line = rpc.call("q2c.subscription.line", "read", [b["line"]], ["quantity"])[0]
    assert line["quantity"] == 9
    # The upgrade is invoiced at once; it is charged to the saved card (the cron's job; here
    # the button, as the live server runs no cron).
    invoices = rpc.call(
        "account.move",
        "search_read",
        [
            ("invoice_line_ids.q2c_subscription_id", "=", b["sub"]),
            ("state", "=", "posted"),
            ("q2c_payment_state", "=", "scheduled"),
        ],
        fields=["id", "amount_residual"],
    )
    assert invoices, "the proration invoice is scheduled for automatic payment"
    for invoice in invoices:
        rpc.call("account.move", "action_q2c_autopay", [invoice["id"]])
    charged = rpc.call(
        "account.move",
        "read",
        [inv["id"] for inv in invoices],
        ["q2c_payment_state", "amount_residual", "payment_state"],
    )
    for invoice in charged:
        assert invoice["q2c_payment_state"] == "charged"
        assert invoice["amount_residual"] == 0.0
        assert invoice["payment_state"] in ("paid", "in_payment")
    # A second click charges nothing more.
    before = rpc.call(
        "payment.transaction",
        "search_count",
        [("q2c_autopay_move_id", "in", [inv["id"] for inv in invoices])],
    )
    for invoice in invoices:
        rpc.call("account.move", "action_q2c_autopay", [invoice["id"]])
    after = rpc.call(
        "payment.transaction",
        "search_count",
        [("q2c_autopay_move_id", "in", [inv["id"] for inv in invoices])],
    )
    assert after == before
