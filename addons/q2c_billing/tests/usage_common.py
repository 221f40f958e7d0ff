from datetime import date

from .common import Q2cSubscriptionCommon


class Q2cUsageCommon(Q2cSubscriptionCommon):
    """Fixtures of the usage metering tests: one metric per aggregation, a usage product and
    plan per metric, a metric without any plan; helpers to ingest events. No demo data."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Metric = cls.env["q2c.usage.metric"]
        cls.metric_calls = Metric.create(
            {"name": "API calls", "code": "t_calls", "aggregation": "sum"}
        )
        cls.metric_storage = Metric.create(
            {"name": "Storage GB", "code": "t_storage", "aggregation": "max"}
        )
        cls.metric_requests = Metric.create(
            {"name": "Requests", "code": "t_requests", "aggregation": "count"}
        )
        cls.metric_users = Metric.create(
            {
                "name": "Active users",
                "code": "t_users",
                "aggregation": "unique_count",
                "unique_property": "user",
            }
        )
        cls.metric_seats = Metric.create(
            {"name": "Seats in use", "code": "t_seats", "aggregation": "last"}
        )
        cls.metric_orphan = Metric.create(
            {"name": "Orphan metric", "code": "t_orphan", "aggregation": "sum"}
        )
        cls.product_calls = cls._q2c_product("Usage: API calls", cls.tax_10)
        cls.product_storage = cls._q2c_product("Usage: storage", cls.tax_10)
        cls.product_requests = cls._q2c_product("Usage: requests", cls.tax_10)
        cls.product_users = cls._q2c_product("Usage: active users", cls.tax_10)
        cls.product_seats = cls._q2c_product("Usage: seats", cls.tax_10)
        # 0.10 a call; storage: packages of 100 GB at 10.00; 0.50 a request; active users
        # graduated (1-5 at 7.00, 6-10 at 6.50, 11+ at 6.00); seats in use at 3.00.
        cls.plan_calls = cls._q2c_usage_plan(
            cls.product_calls, cls.metric_calls, "per_unit", unit_price=0.1
        )
        cls.plan_storage = cls._q2c_usage_plan(
            cls.product_storage,
            cls.metric_storage,
            "package",
            unit_price=10.0,
            package_size=100.0,
        )
        cls.plan_requests = cls._q2c_usage_plan(
            cls.product_requests, cls.metric_requests, "per_unit", unit_price=0.5
        )
        cls.plan_users = cls._q2c_usage_plan(
            cls.product_users,
            cls.metric_users,
            "graduated",
            tier_ids=[
                (0, 0, {"sequence": 1, "up_to": 5, "unit_price": 7.0}),
                (0, 0, {"sequence": 2, "up_to": 10, "unit_price": 6.5}),
                (0, 0, {"sequence": 3, "up_to": 0, "unit_price": 6.0}),
            ],
        )
        cls.plan_seats = cls._q2c_usage_plan(
            cls.product_seats, cls.metric_seats, "per_unit", unit_price=3.0
        )

    @classmethod
    def _q2c_usage_plan(cls, product, metric, model, **vals):
        return cls._q2c_plan(product, model, charge_type="usage", metric_id=metric.id, **vals)

    @classmethod
    def _q2c_usage_subscription(cls, plans=None, start=date(2026, 1, 1), **vals):
        """An active monthly subscription from ``start`` with the platform fee and the usage
        lines of ``plans`` (default: all five usage plans)."""
        if plans is None:
            plans = [
                cls.plan_calls,
                cls.plan_storage,
                cls.plan_requests,
                cls.plan_users,
                cls.plan_seats,
            ]
        return cls._q2c_subscription(
            [(cls.plan_platform, 1)] + [(plan, 1) for plan in plans], start=start, **vals
        )

    def _ingest(self, events):
        return self.env["q2c.usage.event"].ingest(events)

    @staticmethod
    def _ev(sub, txn, metric, quantity=1, timestamp="2026-01-10T10:00:00Z", **extra):
        event = {
            "transaction_id": txn,
            "subscription": sub.name,
            "metric": metric.code,
            "quantity": quantity,
            "timestamp": timestamp,
        }
        event.update(extra)
        return event

    def _events(self, sub, metric=None):
        domain = [("subscription_id", "=", sub.id)]
        if metric:
            domain.append(("metric_id", "=", metric.id))
        return self.env["q2c.usage.event"].search(domain, order="timestamp, id")
