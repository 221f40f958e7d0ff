"""The platform works end to end over HTTP and XML-RPC."""

import time
import xmlrpc.client

import pytest
import requests

ADDONS = ["q2c_billing", "q2c_cpq", "q2c_dunning", "q2c_revrec"]


def test_login_page(odoo_server):
    response = requests.get(odoo_server.url + "/web/login", timeout=30)
    assert response.status_code == 200
    assert "login" in response.text


def test_addons_installed(rpc):
    rows = rpc.call(
        "ir.module.module", "search_read", [("name", "in", ADDONS)], fields=["name", "state"]
    )
    assert {r["name"]: r["state"] for r in rows} == dict.fromkeys(ADDONS, "installed")


def test_bad_login_refused(odoo_server):
    common = xmlrpc.client.ServerProxy(f"{odoo_server.url}/xmlrpc/2/common")
    assert common.authenticate(odoo_server.db, "admin", "wrong-password", {}) is False


def test_rpc_reads_and_rights(rpc, rpc_factory):
    reasons = rpc.call("q2c.close.reason", "search_read", [], fields=["name", "is_churn"])
    assert any(r["name"] == "Too expensive" and r["is_churn"] for r in reasons)
    # A portal user reads close reasons (the portal offers them) but cannot create one.
    login = "q2c_portal_platform"
    partner = rpc.call(
        "res.partner", "create", {"name": "Portal Platform", "email": f"{login}@example.com"}
    )
    portal_group = rpc.call("ir.model.data", "check_object_reference", "base", "group_portal")[1]
    rpc.call(
        "res.users",
        "create",
        {
            "login": login,
            "password": "Portal-pass-123",
            "partner_id": partner,
            "groups_id": [(6, 0, [portal_group])],
        },
    )
    portal = rpc_factory(login, "Portal-pass-123")
    assert portal.call("q2c.close.reason", "search_count", [])
    with pytest.raises(xmlrpc.client.Fault, match="not allowed|AccessError|You are not allowed"):
        portal.call("q2c.close.reason", "create", {"name": "Portal reason"})


def test_validation_error_names_the_field(rpc):
    product = rpc.call("product.product", "create", {"name": "SSP check", "type": "service"})
    with pytest.raises(xmlrpc.client.Fault, match="SSP check.*cannot be negative"):
        rpc.call("q2c.ssp", "create", {"product_id": product, "price": -5})


def test_gevent_websocket_answers(odoo_server):
    """The live-notification (gevent) process of a multi-worker server runs: a websocket opens.

    With incompatible zope packages gevent dies at start and restarts in a loop, and the portal's
    and backend's live updates silently stop.
    """
    import websocket

    url = f"ws://127.0.0.1:{odoo_server.gevent_port}/websocket"
    deadline = time.time() + 60
    last_error = None
    while time.time() < deadline:
        try:
            ws = websocket.create_connection(url, timeout=10, origin=odoo_server.url)
        except (OSError, websocket.WebSocketException) as error:
            last_error = error
            time.sleep(1)
            continue
        ws.close()
        return
    pytest.fail(f"the gevent websocket endpoint {url} did not open: {last_error}")
