from datetime import date

from odoo.tests import tagged

from .usage_common import Q2cUsageCommon

JAN = (date(2026, 1, 1), date(2026, 1, 31))


@tagged("post_install", "-at_install")
class TestUsageAggregation(Q2cUsageCommon):
    """Each aggregation, computed in SQL per subscription, metric and period."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sub = cls._q2c_usage_subscription()
        cls.other = cls._q2c_usage_subscription(partner=cls.partner_2)

    def _quantity(self, metric, sub=None, period=JAN):
        result = self.env["q2c.usage.event"]._q2c_aggregate(
            [("k", (sub or self.sub).id, metric.id, *period)]
        )
        return result.get("k", {}).get("quantity", 0.0)

    def _noise(self, metric):
        """Events that must not count: another subscription, before and after the period."""
        self._ingest(
            [
                self._ev(
                    self.other,
                    "n-1",
                    metric,
                    1000,
                    "2026-01-15T00:00:00Z",
                    properties={"user": "zed"},
                ),
                self._ev(
                    self.sub,
                    "n-2",
                    metric,
                    1000,
                    "2025-12-31T23:59:59Z",
                    properties={"user": "early"},
                ),
                self._ev(
                    self.sub,
                    "n-3",
                    metric,
                    1000,
                    "2026-02-01T00:00:00Z",
                    properties={"user": "late"},
                ),
            ]
        )

    def test_sum(self):
        self._noise(self.metric_calls)
        self._ingest(
            [
                self._ev(self.sub, "s-1", self.metric_calls, 10, "2026-01-01T00:00:00Z"),
                self._ev(self.sub, "s-2", self.metric_calls, 2.5, "2026-01-15T12:00:00Z"),
                self._ev(self.sub, "s-3", self.metric_calls, 0.1, "2026-01-31T23:59:59Z"),
                self._ev(self.sub, "s-4", self.metric_calls, 0.2, "2026-01-20T00:00:00Z"),
            ]
        )
        # Exact decimal sum (numeric column): 12.8, not 12.799999...
        self.assertEqual(self._quantity(self.metric_calls), 12.8)

    def test_max(self):
        self._noise(self.metric_storage)
        self._ingest(
            [
                self._ev(
                    self.sub, f"m-{i}", self.metric_storage, qty, f"2026-01-{day:02d}T08:00:00Z"
                )
                for i, (qty, day) in enumerate([(120, 3), (340.5, 10), (80, 30)])
            ]
        )
        self.assertEqual(self._quantity(self.metric_storage), 340.5)

    def test_count(self):
        self._noise(self.metric_requests)
        self._ingest(
            [
                self._ev(self.sub, f"c-{i}", self.metric_requests, 7, "2026-01-05T08:00:00Z")
                for i in range(6)
            ]
        )
        # Count of events, whatever their quantity.
        self.assertEqual(self._quantity(self.metric_requests), 6)

    def test_unique_count(self):
        self._noise(self.metric_users)
        users = ["alice", "bob", "alice", "carol", "bob", "alice"]
        self._ingest(
            [
                self._ev(
                    self.sub,
                    f"u-{i}",
                    self.metric_users,
                    1,
                    "2026-01-05T08:00:00Z",
                    properties={"user": user, "ip": f"10.0.0.{i}"},
                )
                for i, user in enumerate(users)
            ]
            + [
                # Without the property: not counted.
                self._ev(
                    self.sub,
                    "u-none",
                    self.metric_users,
                    1,
                    "2026-01-06T08:00:00Z",
                    properties={"ip": "10.0.0.99"},
                ),
                self._ev(self.sub, "u-empty", self.metric_users, 1, "2026-01-06T08:00:00Z"),
            ]
        )
        self.assertEqual(self._quantity(self.metric_users), 3)

    def test_last(self):
        self._noise(self.metric_seats)
        self._ingest(
            [
                self._ev(self.sub, "l-1", self.metric_seats, 12, "2026-01-05T08:00:00Z"),
                self._ev(self.sub, "l-2", self.metric_seats, 15, "2026-01-25T08:00:00Z"),
                # Received later but dated earlier: not the last.
                self._ev(self.sub, "l-3", self.metric_seats, 30, "2026-01-10T08:00:00Z"),
            ]
        )
        self.assertEqual(self._quantity(self.metric_seats), 15)
        # Same timestamp: the event stored last wins.
        self._ingest([self._ev(self.sub, "l-4", self.metric_seats, 9, "2026-01-25T08:00:00Z")])
        self.assertEqual(self._quantity(self.metric_seats), 9)

    def test_unbillable_events_do_not_count_billed_ones_do(self):
        self._ingest(
            [
                self._ev(self.sub, "b-1", self.metric_calls, 10),
                self._ev(self.sub, "b-2", self.metric_calls, 5),
                self._ev(self.sub, "b-3", self.metric_calls, 1),
            ]
        )
        events = self._events(self.sub)
        events[0].write({"state": "billed"})
        events[2].write({"state": "unbillable"})
        result = self.env["q2c.usage.event"]._q2c_aggregate(
            [("k", self.sub.id, self.metric_calls.id, *JAN)]
        )["k"]
        self.assertEqual(
            result,
            {"quantity": 15.0, "billed_quantity": 10.0, "pending_count": 1, "billed_count": 1},
        )

    def test_many_windows_in_one_query(self):
        self._ingest(
            [
                self._ev(self.sub, "w-1", self.metric_calls, 3, "2026-01-10T00:00:00Z"),
                self._ev(self.sub, "w-2", self.metric_calls, 4, "2026-02-10T00:00:00Z"),
                self._ev(self.other, "w-3", self.metric_storage, 70, "2026-02-10T00:00:00Z"),
            ]
        )
        windows = [
            ("jan", self.sub.id, self.metric_calls.id, *JAN),
            ("feb", self.sub.id, self.metric_calls.id, date(2026, 2, 1), date(2026, 2, 28)),
            ("other", self.other.id, self.metric_storage.id, date(2026, 2, 1), date(2026, 2, 28)),
            ("empty", self.other.id, self.metric_calls.id, *JAN),
        ]
        with self.assertQueryCount(1):
            result = self.env["q2c.usage.event"]._q2c_aggregate(windows)
        self.assertEqual(
            {key: values["quantity"] for key, values in result.items()},
            {"jan": 3.0, "feb": 4.0, "other": 70.0},
        )

    def test_rate_usage_batch(self):
        self._ingest(
            [
                self._ev(sub, f"{sub.id}-{i}", self.metric_calls, 10, "2026-01-10T00:00:00Z")
                for sub in (self.sub, self.other)
                for i in range(3)
            ]
            + [self._ev(self.other, "st", self.metric_storage, 250, "2026-01-10T00:00:00Z")]
        )
        subs = self.sub | self.other
        result = self.env["q2c.subscription"]._q2c_rate_usage_batch(subs, *JAN)
        calls = {
            sub_id: next(c for c in charges if c["usage_metric"] == self.metric_calls)
            for sub_id, charges in result.items()
        }
        self.assertEqual(calls[self.sub.id]["usage_quantity"], 30.0)
        self.assertEqual(calls[self.sub.id]["amount"], 3.0)
        self.assertEqual(calls[self.sub.id]["usage_event_count"], 3)
        storage = next(c for c in result[self.other.id] if c["usage_metric"] == self.metric_storage)
        # 250 GB: 3 packages of 100 GB at 10.00.
        self.assertEqual((storage["usage_quantity"], storage["amount"]), (250.0, 30.0))
