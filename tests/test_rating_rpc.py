"""Price plans are rated over XML-RPC exactly as API.md says (q2c.price.plan.rate)."""

import xmlrpc.client

import pytest

STRIPE_TIERS = [(5, 7.0), (10, 6.5), (0, 6.0)]


@pytest.fixture(scope="module")
def graduated_plan(rpc):
    product = rpc.call(
        "product.product", "create", {"name": "RPC rating product", "type": "service"}
    )
    usd = rpc.call(
        "res.currency", "search", [("name", "=", "USD")], context={"active_test": False}
    )[0]
    return rpc.call(
        "q2c.price.plan",
        "create",
        {
            "name": "RPC graduated",
            "product_id": product,
            "currency_id": usd,
            "charge_type": "recurring",
            "charge_model": "graduated",
            "tier_ids": [
                (0, 0, {"sequence": i, "up_to": up_to, "unit_price": price})
                for i, (up_to, price) in enumerate(STRIPE_TIERS, start=1)
            ],
        },
    )


@pytest.mark.parametrize(
    "quantity, amount",
    [
        (1, 7.0),
        (5, 35.0),
        (6, 41.5),
        (10, 67.5),
        (11, 73.5),
        (20, 127.5),
        (25, 157.5),
        (5.5, 38.25),
    ],
)
def test_rate_graduated(rpc, graduated_plan, quantity, amount):
    result = rpc.call("q2c.price.plan", "rate", [graduated_plan], quantity)
    assert result["currency"] == "USD"
    assert round(result["amount"] * 100) == round(amount * 100)
    assert round(sum(line["amount"] for line in result["lines"]) * 100) == round(amount * 100)
    for line in result["lines"]:
        assert set(line) == {"description", "quantity", "unit_price", "amount"}


def test_rate_lines(rpc, graduated_plan):
    result = rpc.call("q2c.price.plan", "rate", [graduated_plan], 20)
    assert [(line["quantity"], line["unit_price"], line["amount"]) for line in result["lines"]] == [
        (5.0, 7.0, 35.0),
        (5.0, 6.5, 32.5),
        (10.0, 6.0, 60.0),
    ]


@pytest.mark.parametrize("bad", [-1, "ten", None])
def test_rate_bad_quantity_is_a_fault_naming_quantity(rpc, graduated_plan, bad):
    with pytest.raises(xmlrpc.client.Fault) as info:
        rpc.call("q2c.price.plan", "rate", [graduated_plan], bad)
    assert "quantity" in info.value.faultString
    assert "Traceback" not in info.value.faultString.split("\n")[0]
