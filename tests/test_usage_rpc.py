"""Usage events are ingested over XML-RPC exactly as API.md says (q2c.usage.event.ingest):
a per-item report, idempotent under concurrent clients."""

import threading
import xmlrpc.client

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
