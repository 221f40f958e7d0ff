"""Usage events are ingested over XML-RPC exactly as API.md says (q2c.usage.event.ingest):
a per-item report, idempotent under concurrent clients."""

import threading
import time
import xmlrpc.client

import psycopg2
import psycopg2.extensions
import pytest


@pytest.fixture(scope="module")
def usage_setup(rpc):
    usd = rpc.call(
        "res.currency", "search", [("name", "=", "USD")], context={"active_test": False}
    )[0]
    metric = rpc.call(
        "q2c.usage.metric",
        "create",
        {"name": "RPC calls", "code": "rpc_calls", "aggregation": "sum"},
    )
    product = rpc.call("product.product", "create", {"name": "RPC usage", "type": "service"})
    plan = rpc.call(
        "q2c.price.plan",
        "create",
        {
            "name": "RPC usage per call",
            "product_id": product,
            "currency_id": usd,
            "charge_type": "usage",
            "charge_model": "per_unit",
            "unit_price": 0.01,
            "metric_id": metric,
        },
    )
    partner = rpc.call("res.partner", "create", {"name": "RPC usage customer"})
    sub_id = rpc.call(
        "q2c.subscription",
        "create",
        {
            "partner_id": partner,
            "currency_id": usd,
            "start_date": "2026-01-01",
            "line_ids": [(0, 0, {"product_id": product, "price_plan_id": plan, "quantity": 1})],
        },
    )
    rpc.call("q2c.subscription", "action_activate", [sub_id])
    name = rpc.call("q2c.subscription", "read", [sub_id], ["name"])[0]["name"]
    return {"sub_id": sub_id, "sub": name, "metric": "rpc_calls"}


def _event(setup, txn, quantity=1, timestamp="2026-01-10T10:00:00Z", **extra):
    return {
        "transaction_id": txn,
        "subscription": setup["sub"],
        "metric": setup["metric"],
        "quantity": quantity,
        "timestamp": timestamp,
        **extra,
    }


def _stored(rpc, setup, prefix):
    return rpc.call(
        "q2c.usage.event",
        "search_count",
        [("subscription_id", "=", setup["sub_id"]), ("transaction_id", "=like", f"{prefix}%")],
    )


def test_ingest_per_item_report(rpc, usage_setup):
    events = [
        _event(usage_setup, "rep-1", 5),
        _event(usage_setup, "rep-2", 2.5, properties={"endpoint": "/v1/orders"}),
        _event(usage_setup, "rep-1", 5),  # duplicate within the call
        _event(usage_setup, "rep-3", -1),
        _event(usage_setup, "rep-4", "ten"),
        _event(usage_setup, "rep-5", 1, timestamp="not a date"),
        {**_event(usage_setup, "rep-6"), "subscription": "SUB/1999/00001"},
        {**_event(usage_setup, "rep-7"), "metric": "unknown_metric"},
        {k: v for k, v in _event(usage_setup, "x").items() if k != "transaction_id"},
        _event(usage_setup, "rep-1", 6),  # conflict within the call
    ]
    report = rpc.call("q2c.usage.event", "ingest", events)
    assert report["accepted"] == 2
    assert report["duplicates"] == 1
    rejected = {item["index"]: item for item in report["rejected"]}
    assert sorted(rejected) == [3, 4, 5, 6, 7, 8, 9]
    assert "quantity" in rejected[3]["error"] and "negative" in rejected[3]["error"]
    assert "quantity" in rejected[4]["error"]
    assert "timestamp" in rejected[5]["error"]
    assert "subscription" in rejected[6]["error"]
    assert "metric" in rejected[7]["error"]
    assert "transaction_id" in rejected[8]["error"] and rejected[8]["transaction_id"] == ""
    assert rejected[9] == {"index": 9, "transaction_id": "rep-1", "error": "conflict"}
    for item in report["rejected"]:
        assert set(item) == {"index", "transaction_id", "error"}
    # Across calls: the same payload is a duplicate, another one a conflict.
    again = rpc.call(
        "q2c.usage.event",
        "ingest",
        [_event(usage_setup, "rep-1", 5), _event(usage_setup, "rep-2", 3)],
    )
    assert again == {
        "accepted": 0,
        "duplicates": 1,
        "rejected": [{"index": 1, "transaction_id": "rep-2", "error": "conflict"}],
    }
    assert _stored(rpc, usage_setup, "rep-") == 2
    stored = rpc.call(
        "q2c.usage.event",
        "search_read",
        [("subscription_id", "=", usage_setup["sub_id"]), ("transaction_id", "=", "rep-2")],
        ["quantity", "timestamp", "state", "properties"],
    )[0]
    assert (stored["quantity"], stored["timestamp"], stored["state"]) == (
        2.5,
        "2026-01-10 10:00:00",
        "pending",
    )
    assert stored["properties"] == {"endpoint": "/v1/orders"}


def test_bad_arguments_are_faults_naming_them(rpc, usage_setup):
    with pytest.raises(xmlrpc.client.Fault) as info:
        rpc.call("q2c.usage.event", "ingest", {"transaction_id": "x"})
    assert "events" in info.value.faultString
    assert "Traceback" not in info.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as info:
        rpc.call(
            "q2c.usage.event", "ingest", [_event(usage_setup, f"big-{i}") for i in range(10001)]
        )
    assert "10000" in info.value.faultString
    assert "Traceback" not in info.value.faultString
    assert _stored(rpc, usage_setup, "big-") == 0


def test_two_clients_ingesting_the_same_events_store_each_once(rpc, usage_setup):
    batches = [
        [
            _event(usage_setup, f"con-{b}-{i}", i % 10, f"2026-01-{1 + i % 28:02d}T00:00:00Z")
            for i in range(1000)
        ]
        for b in range(6)
    ]
    reports = [[], []]
    errors = []

    def client(slot, order):
        proxy = rpc.clone()
        try:
            for batch in order:
                reports[slot].append(proxy.call("q2c.usage.event", "ingest", batch))
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    threads = [
        threading.Thread(target=client, args=(0, batches)),
        # The other client sends the same batches in the reverse order, each reversed.
        threading.Thread(target=client, args=(1, [list(reversed(b)) for b in reversed(batches)])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    assert all(len(client_reports) == 6 for client_reports in reports)
    for client_reports in reports:
        assert sum(r["accepted"] + r["duplicates"] for r in client_reports) == 6000
        assert all(r["rejected"] == [] for r in client_reports)
    accepted = sum(r["accepted"] for client_reports in reports for r in client_reports)
    assert accepted == 6000
    assert _stored(rpc, usage_setup, "con-") == 6000


def _draft_subscription(rpc, setup):
    """A draft subscription (deletable) with the usage line of ``setup``'s metric."""
    sub = rpc.call("q2c.subscription", "read", [setup["sub_id"]], ["partner_id", "currency_id"])[0]
    line = rpc.call(
        "q2c.subscription.line",
        "search_read",
        [("subscription_id", "=", setup["sub_id"])],
        ["product_id", "price_plan_id"],
    )[0]
    return rpc.call(
        "q2c.subscription",
        "create",
        {
            "partner_id": sub["partner_id"][0],
            "currency_id": sub["currency_id"][0],
            "start_date": "2026-01-01",
            "line_ids": [
                (
                    0,
                    0,
                    {
                        "product_id": line["product_id"][0],
                        "price_plan_id": line["price_plan_id"][0],
                        "quantity": 1,
                    },
                )
            ],
        },
    )


def _wait_until_blocked(odoo_server, thread):
    """True once a session of the server waits for a lock (the call of ``thread`` waits for
    the open transaction of the test); False when ``thread`` ended first."""
    with psycopg2.connect(dbname=odoo_server.db) as connection:
        connection.autocommit = True
        with connection.cursor() as cr:
            for __ in range(1200):
                cr.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE NOT l.granted AND a.datname = %s",
                    [odoo_server.db],
                )
                if cr.fetchone()[0]:
                    return True
                if not thread.is_alive():
                    return False
                time.sleep(0.05)
    return False


def _transaction(odoo_server):
    connection = psycopg2.connect(dbname=odoo_server.db)
    connection.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ)
    return connection


def test_deleting_a_subscription_while_its_events_are_stored_is_refused(
    rpc, usage_setup, odoo_server
):
    # The events table has no foreign key: a deletion that overlaps a transaction storing
    # events of the subscription (as ingest does: the subscription locked FOR KEY SHARE,
    # then the rows) waits for it, then sees its events and is refused.
    draft = _draft_subscription(rpc, usage_setup)
    metric = rpc.call("q2c.usage.metric", "search", [("code", "=", usage_setup["metric"])])[0]
    storing = _transaction(odoo_server)
    with storing.cursor() as cr:
        cr.execute("SELECT id FROM q2c_subscription WHERE id = %s FOR KEY SHARE", [draft])
        cr.execute(
            """INSERT INTO q2c_usage_event (subscription_id, metric_id, transaction_id,
                   quantity, timestamp, state, received_at)
               VALUES (%s, %s, 'race-del-1', 1, '2026-01-10', 'pending', now())""",
            [draft, metric],
        )
    faults = []

    def delete():
        try:
            rpc.clone().call("q2c.subscription", "unlink", [draft])
        except xmlrpc.client.Fault as fault:
            faults.append(fault.faultString)

    thread = threading.Thread(target=delete)
    thread.start()
    assert _wait_until_blocked(odoo_server, thread)
    storing.commit()
    storing.close()
    thread.join(120)
    assert not thread.is_alive()
    assert len(faults) == 1 and "cannot be deleted: usage events refer to it" in faults[0]
    assert rpc.call("q2c.subscription", "search_count", [("id", "=", draft)]) == 1
    assert rpc.call("q2c.usage.event", "search_count", [("subscription_id", "=", draft)]) == 1


def test_events_of_a_subscription_deleted_meanwhile_are_rejected(rpc, usage_setup, odoo_server):
    # Ingest waits for a deletion in progress (its lock), then rejects the events of the
    # subscription deleted: nothing stored that refers to nothing.
    draft = _draft_subscription(rpc, usage_setup)
    deleting = _transaction(odoo_server)
    with deleting.cursor() as cr:
        cr.execute("DELETE FROM q2c_subscription WHERE id = %s", [draft])
    reports = []
    thread = threading.Thread(
        target=lambda: reports.append(
            rpc.clone().call(
                "q2c.usage.event",
                "ingest",
                [
                    {
                        "transaction_id": "race-ing-1",
                        "subscription_id": draft,
                        "metric": usage_setup["metric"],
                    }
                ],
            )
        )
    )
    thread.start()
    assert _wait_until_blocked(odoo_server, thread)
    deleting.commit()
    deleting.close()
    thread.join(120)
    assert not thread.is_alive()
    assert reports[0]["accepted"] == 0
    assert reports[0]["rejected"] == [
        {
            "index": 0,
            "transaction_id": "race-ing-1",
            "error": f"subscription_id: unknown subscription id {draft}",
        }
    ]
    assert rpc.call("q2c.usage.event", "search_count", [("transaction_id", "=", "race-ing-1")]) == 0
