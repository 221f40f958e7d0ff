import gc
import json
from datetime import date, datetime
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.q2c_billing.models.q2c_usage_event import _properties_json

from .usage_common import Q2cUsageCommon


@tagged("post_install", "-at_install")
class TestUsageIngest(Q2cUsageCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sub = cls._q2c_usage_subscription()
        cls.sub_2 = cls._q2c_usage_subscription(partner=cls.partner_2)

    def test_accepted_events_are_stored(self):
        report = self._ingest(
            [
                self._ev(
                    self.sub,
                    "t-1",
                    self.metric_calls,
                    3,
                    "2026-01-10T10:00:00Z",
                    properties={"endpoint": "/v1/orders"},
                ),
                {
                    "transaction_id": "t-2",
                    "subscription_id": self.sub.id,
                    "metric": "t_calls",
                    "quantity": 2.5,
                    "timestamp": "2026-01-10T12:30:00+02:00",
                },
                {"transaction_id": "t-3", "subscription": self.sub.name, "metric": "t_calls"},
                self._ev(self.sub_2, "t-1", self.metric_storage, 40, "2026-01-11"),
            ]
        )
        self.assertEqual(report, {"accepted": 4, "duplicates": 0, "rejected": []})
        first, second, third = (
            self._events(self.sub).filtered(lambda e, txn=txn: e.transaction_id == txn)
            for txn in ("t-1", "t-2", "t-3")
        )
        self.assertEqual(first.metric_id, self.metric_calls)
        self.assertEqual(first.quantity, 3.0)
        self.assertEqual(first.timestamp, datetime(2026, 1, 10, 10, 0, 0))
        self.assertEqual(first.properties, {"endpoint": "/v1/orders"})
        self.assertEqual(first.properties_text, '{"endpoint": "/v1/orders"}')
        self.assertEqual(first.state, "pending")
        self.assertEqual(first.company_id, self.sub.company_id)
        self.assertTrue(first.payload_hash)
        # An offset is converted to UTC.
        self.assertEqual(second.timestamp, datetime(2026, 1, 10, 10, 30, 0))
        self.assertEqual(second.quantity, 2.5)
        # Defaults: quantity 1, timestamp now.
        self.assertEqual(third.quantity, 1.0)
        self.assertAlmostEqual(
            (third.timestamp - datetime.now().replace(microsecond=0)).total_seconds(), 0, delta=60
        )
        # The same transaction id on another subscription is another event.
        other = self._events(self.sub_2)
        self.assertEqual(
            (other.transaction_id, other.quantity, other.timestamp),
            ("t-1", 40.0, datetime(2026, 1, 11)),
        )

    def test_special_characters_are_stored_as_sent(self):
        # Rows travel to PostgreSQL as CSV (COPY): quotes, separators, line breaks, backslashes
        # and non-ASCII text come back unchanged, and a retry is a duplicate.
        names = ['a,"b";c', "line\nbreak\r\tx", "back\\slash \\.", "\\N", "ünï €"]
        properties = {"user": 'O\'Brien, "Bob"\n', "path": "C:\\x\\", 'k,"': "\\N"}
        events = [
            self._ev(self.sub, name, self.metric_calls, 1, properties=properties) for name in names
        ]
        self.assertEqual(self._ingest(events)["accepted"], len(names))
        stored = self._events(self.sub)
        self.assertEqual(sorted(stored.mapped("transaction_id")), sorted(names))
        self.assertEqual(stored.mapped("properties"), [properties] * len(names))
        self.assertEqual(
            self._ingest(events), {"accepted": 0, "duplicates": len(names), "rejected": []}
        )

    def test_empty_batch(self):
        self.assertEqual(self._ingest([]), {"accepted": 0, "duplicates": 0, "rejected": []})

    def test_duplicates_in_the_same_call(self):
        event = self._ev(self.sub, "dup-1", self.metric_calls, 5)
        report = self._ingest([event, dict(event), dict(event, transaction_id="dup-2")])
        self.assertEqual(report, {"accepted": 2, "duplicates": 1, "rejected": []})
        self.assertEqual(len(self._events(self.sub)), 2)

    def test_duplicates_across_calls(self):
        events = [self._ev(self.sub, f"x-{i}", self.metric_calls, i) for i in range(5)]
        self.assertEqual(self._ingest(events)["accepted"], 5)
        # A retry of the whole batch, by id instead of reference, plus one new event.
        retry = [
            {
                **{k: v for k, v in event.items() if k != "subscription"},
                "subscription_id": self.sub.id,
            }
            for event in events
        ]
        retry.append(self._ev(self.sub, "x-5", self.metric_calls, 5))
        self.assertEqual(self._ingest(retry), {"accepted": 1, "duplicates": 5, "rejected": []})
        self.assertEqual(len(self._events(self.sub)), 6)

    def test_event_without_timestamp_retried_is_a_duplicate(self):
        event = {"transaction_id": "no-ts", "subscription": self.sub.name, "metric": "t_calls"}
        self.assertEqual(self._ingest([event])["accepted"], 1)
        self.assertEqual(
            self._ingest([dict(event)]), {"accepted": 0, "duplicates": 1, "rejected": []}
        )

    def test_equivalent_payloads_are_duplicates(self):
        self._ingest(
            [
                self._ev(
                    self.sub,
                    "eq",
                    self.metric_calls,
                    2,
                    "2026-01-10T10:00:00Z",
                    properties={"a": 1, "b": 2},
                )
            ]
        )
        same = self._ev(
            self.sub,
            "eq",
            self.metric_calls,
            2.0,
            "2026-01-10T11:00:00+01:00",
            properties={"b": 2, "a": 1},
        )
        self.assertEqual(self._ingest([same]), {"accepted": 0, "duplicates": 1, "rejected": []})

    def test_timestamp_forms_of_one_instant_are_one_payload(self):
        """The common shape (checked inline) and the other forms (checked in detail) store
        and digest the same instant alike: sent again in another form, a duplicate."""
        first = self._ev(self.sub, "ts", self.metric_calls, 1, "2026-01-10T10:00:00Z")
        self.assertEqual(self._ingest([first])["accepted"], 1)
        for timestamp in (
            "2026-01-10 10:00:00",  # another separator, inline
            "2026-01-10T10:00:00",  # no Z, inline
            "2026-01-10T11:00:00+01:00",  # an offset, detailed
            "2026-01-10T10:00:00.000Z",  # a fraction, detailed
        ):
            event = dict(first, timestamp=timestamp)
            self.assertEqual(
                self._ingest([event]),
                {"accepted": 0, "duplicates": 1, "rejected": []},
                timestamp,
            )
        self.assertEqual(self._events(self.sub).timestamp, datetime(2026, 1, 10, 10, 0, 0))
        moved = dict(first, timestamp="2026-01-10 10:00:01")
        self.assertEqual(self._ingest([moved])["rejected"][0]["error"], "conflict")

    def test_properties_are_stored_as_canonical_json(self):
        """The properties' JSON (stored and digested) is the standard library's canonical
        text (sorted keys, no spaces, characters as sent), also where it is written
        directly (one string key, one string value)."""
        for properties in (
            {"user": "alice"},
            {'k\u00e9y "q" \\': 'v\u00e9 \x01\n\u2028 \U0001f600 "q" \\'},
            {"": ""},
            {"n": 1},
            {"user": None},
            {"b": "y", "a": "x"},
            {"nested": {"z": 1, "a": [1, 2.5, "x"]}},
        ):
            self.assertEqual(
                _properties_json(properties),
                json.dumps(properties, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
            )
        event = self._ev(
            self.sub, "props", self.metric_calls, properties={"user": 'Zo\u00eb "Z" \\'}
        )
        self.assertEqual(self._ingest([event])["accepted"], 1)
        self.assertEqual(self._events(self.sub).properties, {"user": 'Zo\u00eb "Z" \\'})
        self.assertEqual(self._ingest([dict(event)])["duplicates"], 1)

    def test_ingest_pauses_the_cyclic_collector_and_restores_it(self):
        """The batch is validated and stored with the cyclic garbage collector paused, which
        is enabled again afterwards, also when storing fails, and left paused when it was."""
        Event = self.env.registry.models["q2c.usage.event"]
        seen = []
        validate = Event._q2c_validate_batch

        def spy(model, events, rejected):
            seen.append(gc.isenabled())
            return validate(model, events, rejected)

        self.assertTrue(gc.isenabled())
        with patch.object(Event, "_q2c_validate_batch", spy):
            self.assertEqual(
                self._ingest([self._ev(self.sub, "gc-1", self.metric_calls)])["accepted"], 1
            )
        self.assertEqual(seen, [False])
        self.assertTrue(gc.isenabled())
        with (
            patch.object(Event, "_q2c_insert_rows", side_effect=RuntimeError("disk full")),
            self.assertRaises(RuntimeError),
        ):
            self._ingest([self._ev(self.sub, "gc-2", self.metric_calls)])
        self.assertTrue(gc.isenabled())
        gc.disable()
        try:
            self._ingest([self._ev(self.sub, "gc-3", self.metric_calls)])
            self.assertFalse(gc.isenabled())
        finally:
            gc.enable()

    def test_conflicts(self):
        self._ingest([self._ev(self.sub, "c-1", self.metric_calls, 5)])
        changes = [
            {"quantity": 6},
            {"timestamp": "2026-01-10T10:00:01Z"},
            {"metric": "t_storage"},
            {"properties": {"region": "eu"}},
        ]
        batch = [
            {**self._ev(self.sub, "c-1", self.metric_calls, 5), **change} for change in changes
        ]
        # Within one call: the first occurrence wins, a different payload is a conflict.
        batch += [
            self._ev(self.sub, "c-2", self.metric_calls, 1),
            self._ev(self.sub, "c-2", self.metric_calls, 2),
        ]
        report = self._ingest(batch)
        self.assertEqual(report["accepted"], 1)
        self.assertEqual(report["duplicates"], 0)
        self.assertEqual(
            report["rejected"],
            [
                {"index": index, "transaction_id": txn, "error": "conflict"}
                for index, txn in ((0, "c-1"), (1, "c-1"), (2, "c-1"), (3, "c-1"), (5, "c-2"))
            ],
        )
        stored = self._events(self.sub).filtered(lambda e: e.transaction_id == "c-1")
        self.assertEqual((stored.quantity, stored.metric_id), (5.0, self.metric_calls))
        self.assertEqual(
            self._events(self.sub).filtered(lambda e: e.transaction_id == "c-2").quantity, 1.0
        )

    def test_conflict_of_a_repeated_item_rejects_every_copy(self):
        self._ingest([self._ev(self.sub, "r-1", self.metric_calls, 1)])
        changed = self._ev(self.sub, "r-1", self.metric_calls, 9)
        report = self._ingest([changed, dict(changed)])
        self.assertEqual(report["accepted"], 0)
        self.assertEqual([item["index"] for item in report["rejected"]], [0, 1])
        self.assertEqual({item["error"] for item in report["rejected"]}, {"conflict"})

    def test_each_bad_item_is_rejected_with_its_reason(self):
        closed = self._q2c_usage_subscription(partner=self.partner_2)
        closed.action_close(date(2026, 1, 31))
        good = self._ev(self.sub, "ok", self.metric_calls, 1)
        cases = [
            ("not a dict", "must be a dictionary"),
            ({**good, "transaction_id": ""}, "transaction_id: required"),
            ({k: v for k, v in good.items() if k != "transaction_id"}, "transaction_id: required"),
            ({**good, "transaction_id": 42}, "transaction_id: required"),
            ({**good, "transaction_id": "x" * 256}, "transaction_id: longer than 255"),
            ({**good, "qty": 5}, "unknown key(s) qty"),
            ({k: v for k, v in good.items() if k != "subscription"}, "subscription: required"),
            (
                {**good, "subscription": "SUB/1999/99999"},
                "subscription: unknown subscription 'SUB/1999/99999'",
            ),
            (
                {**good, "subscription": None, "subscription_id": 999999999},
                "subscription_id: unknown subscription id 999999999",
            ),
            ({**good, "subscription_id": "12"}, "subscription_id: must be an integer"),
            (
                {**good, "subscription_id": self.sub_2.id},
                f"subscription_id: {self.sub_2.id} is not the subscription {self.sub.name}",
            ),
            ({**good, "subscription": closed.name}, f"subscription: {closed.name} is closed"),
            ({k: v for k, v in good.items() if k != "metric"}, "metric: required"),
            ({**good, "metric": "nope"}, "metric: unknown usage metric code 'nope'"),
            ({**good, "metric": 7}, "metric: must be a metric code"),
            ({**good, "quantity": -1}, "quantity: cannot be negative, got -1"),
            ({**good, "quantity": "ten"}, "quantity: must be a number, got 'ten'"),
            ({**good, "quantity": "5"}, "quantity: must be a number, got '5'"),
            ({**good, "quantity": True}, "quantity: must be a number, got True"),
            ({**good, "quantity": float("nan")}, "quantity: must be a finite number"),
            ({**good, "quantity": float("inf")}, "quantity: must be a finite number"),
            ({**good, "timestamp": "yesterday"}, "timestamp: malformed"),
            ({**good, "timestamp": "2026-13-45T10:00:00Z"}, "timestamp: malformed"),
            ({**good, "timestamp": "2026-01"}, "timestamp: malformed"),
            ({**good, "timestamp": 1767225600}, "timestamp: malformed"),
            ({**good, "properties": ["a"]}, "properties: must be a dictionary"),
            ({**good, "properties": "user=alice"}, "properties: must be a dictionary"),
            # PostgreSQL cannot store a NUL character: the item, not the batch, is rejected.
            ({**good, "transaction_id": "a\x00b"}, "transaction_id: must not hold a NUL"),
            ({**good, "properties": {"user": "a\x00"}}, "properties: must not hold a NUL"),
            # Shapes the inline check leaves to the detailed one.
            ({**good, "subscription": ["x"]}, "subscription: must be a subscription reference"),
            (
                {**good, "subscription": None, "subscription_id": True},
                "subscription_id: must be an integer",
            ),
            ({**good, "timestamp": "2026-01-10T10:00:00+01:00Z"}, "timestamp: malformed"),
            ({**good, "timestamp": "0999-01-10T10:00:00"}, "timestamp: malformed"),
        ]
        events = [case for case, __ in cases] + [good]
        report = self._ingest(events)
        self.assertEqual(report["accepted"], 1)
        self.assertEqual(report["duplicates"], 0)
        self.assertEqual([item["index"] for item in report["rejected"]], list(range(len(cases))))
        for item, (event, expected) in zip(report["rejected"], cases, strict=True):
            self.assertIn(expected, item["error"], f"item {item['index']}: {item['error']}")
            self.assertEqual(set(item), {"index", "transaction_id", "error"})
            txn = event.get("transaction_id") if isinstance(event, dict) else None
            self.assertEqual(item["transaction_id"], txn if isinstance(txn, str) else "")
        self.assertEqual(self._events(self.sub).transaction_id, "ok")
        self.assertFalse(self._events(closed))

    def test_metric_of_another_company_is_unknown(self):
        other_company = self.env["res.company"].create({"name": "Usage Other Co"})
        self.env["q2c.usage.metric"].create(
            {
                "name": "Foreign",
                "code": "t_foreign",
                "aggregation": "sum",
                "company_id": other_company.id,
            }
        )
        report = self._ingest(
            [{**self._ev(self.sub, "f-1", self.metric_calls), "metric": "t_foreign"}]
        )
        self.assertEqual(report["accepted"], 0)
        self.assertIn("unknown usage metric code 't_foreign'", report["rejected"][0]["error"])

    def test_reference_used_in_two_companies_is_ambiguous(self):
        other_company = self.env["res.company"].create({"name": "Usage Co C"})
        self.env.user.company_ids |= other_company
        self.env["q2c.subscription"].create(
            {
                "name": self.sub.name,
                "partner_id": self.partner.id,
                "company_id": other_company.id,
                "currency_id": self.usd.id,
            }
        )
        Event = self.env["q2c.usage.event"].with_context(
            allowed_company_ids=[self.company.id, other_company.id]
        )
        report = Event.ingest(
            [
                self._ev(self.sub, "amb-1", self.metric_calls, 1),
                {
                    **self._ev(self.sub, "amb-2", self.metric_calls, 1),
                    "subscription": None,
                    "subscription_id": self.sub.id,
                },
            ]
        )
        self.assertEqual(report["accepted"], 1)
        self.assertIn("used in several companies", report["rejected"][0]["error"])
        self.assertEqual(self._events(self.sub).transaction_id, "amb-2")

    def test_metric_without_plan_is_stored_unbillable(self):
        report = self._ingest([self._ev(self.sub, "o-1", self.metric_orphan, 4)])
        self.assertEqual(report["accepted"], 1)
        event = self._events(self.sub, self.metric_orphan)
        self.assertEqual(event.state, "unbillable")
        self.assertEqual(
            event.unbillable_reason,
            f"No usage plan for the metric t_orphan on {self.sub.name}",
        )
        # The plan is added: Retry Billing makes it pending again.
        self.sub.line_ids = [
            (
                0,
                0,
                {
                    "product_id": self.product_calls.id,
                    "price_plan_id": self._q2c_usage_plan(
                        self.product_calls,
                        self.metric_orphan,
                        "per_unit",
                        unit_price=1.0,
                        name="Orphan plan",
                        sequence=99,
                    ).id,
                },
            )
        ]
        event.action_retry_billing()
        self.assertEqual((event.state, event.unbillable_reason), ("pending", False))

    def test_batch_limits(self):
        with self.assertRaisesRegex(UserError, "at most 10000"):
            self._ingest([self._ev(self.sub, f"l-{i}", self.metric_calls) for i in range(10001)])
        with self.assertRaisesRegex(UserError, "must be a list"):
            self._ingest({"transaction_id": "x"})
        self.assertFalse(self._events(self.sub))

    def test_query_count_does_not_grow_with_the_batch(self):
        def batch(prefix, count):
            return [
                self._ev(
                    self.sub if i % 2 else self.sub_2,
                    f"{prefix}-{i}",
                    (self.metric_calls, self.metric_users, self.metric_orphan)[i % 3],
                    i,
                    properties={"user": f"u{i % 7}"},
                )
                for i in range(count)
            ]

        self._ingest(batch("warm", 3))  # caches of the access rights
        small, large = batch("small", 10), batch("large", 2000)
        retry = batch("large", 2000)
        retry[0]["quantity"] = 99
        # Subscriptions, metrics, usage plans of the lines, the savepoint around the COPY
        # into the events table (SAVEPOINT, RELEASE; the COPY itself is not counted).
        self.env.invalidate_all()
        with self.assertQueryCount(5):
            report = self._ingest(small)
        self.assertEqual(report["accepted"], 10)
        self.env.invalidate_all()
        with self.assertQueryCount(5):
            report = self._ingest(large)
        self.assertEqual(report["accepted"], 2000)
        # Duplicates and conflicts: the COPY fails on the first stored key and is rolled back
        # (ROLLBACK TO SAVEPOINT), then the staging table (CREATE IF NOT EXISTS, its COPY
        # not counted, DELETE after use), the INSERT ... SELECT and the stored digests, whatever
        # their count.
        self.env.invalidate_all()
        with self.assertQueryCount(10):
            report = self._ingest(retry)
        self.assertEqual(
            (report["accepted"], report["duplicates"], len(report["rejected"])), (0, 1999, 1)
        )

    def test_billing_user_can_ingest_other_users_cannot(self):
        integration = new_test_user(
            self.env,
            "usage_integration",
            groups="base.group_user,q2c_billing.group_q2c_billing_user",
        )
        report = (
            self.env["q2c.usage.event"]
            .with_user(integration)
            .ingest([self._ev(self.sub, "u-1", self.metric_calls, 2)])
        )
        self.assertEqual(report["accepted"], 1)
        plain = new_test_user(self.env, "usage_plain", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.env["q2c.usage.event"].with_user(plain).ingest(
                [self._ev(self.sub, "u-2", self.metric_calls, 2)]
            )
        # A billing user cannot change or delete events; a manager can delete pending ones.
        event = self._events(self.sub).with_user(integration)
        with self.assertRaises(AccessError):
            event.unlink()
        event.with_user(self.env.user).unlink()

    def test_subscription_of_a_company_the_user_cannot_see_is_unknown(self):
        other_company = self.env["res.company"].create({"name": "Usage Co B"})
        integration = new_test_user(
            self.env,
            "usage_integration_b",
            groups="base.group_user,q2c_billing.group_q2c_billing_user",
            company_id=other_company.id,
            company_ids=[(6, 0, other_company.ids)],
        )
        report = (
            self.env["q2c.usage.event"]
            .with_user(integration)
            .ingest([self._ev(self.sub, "mc-1", self.metric_calls, 2)])
        )
        self.assertEqual(report["accepted"], 0)
        self.assertIn("unknown subscription", report["rejected"][0]["error"])
        self.assertFalse(self.env["q2c.usage.event"].with_user(integration).search([]))

    def test_events_cannot_be_edited_billed_ones_not_deleted(self):
        self._ingest([self._ev(self.sub, "e-1", self.metric_calls, 2)])
        event = self._events(self.sub)
        with self.assertRaisesRegex(UserError, "cannot be edited"):
            event.write({"quantity": 3})
        event.write({"state": "billed"})
        with self.assertRaisesRegex(UserError, "cannot be deleted"):
            event.unlink()

    def test_csv_import_goes_through_the_same_checks(self):
        Event = self.env["q2c.usage.event"]
        fields_ = [
            "transaction_id",
            "subscription_id",
            "metric_id",
            "quantity",
            "timestamp",
            "properties_text",
        ]
        result = Event.load(
            fields_,
            [
                ["csv-1", self.sub.name, "t_calls", "12", "2026-01-05 08:00:00", ""],
                [
                    "csv-2",
                    self.sub.name,
                    "API calls",
                    "3.5",
                    "2026-01-06 09:00:00",
                    '{"endpoint": "/v1"}',
                ],
            ],
        )
        self.assertFalse(result["messages"], result["messages"])
        events = Event.browse(result["ids"])
        self.assertEqual(events.mapped("quantity"), [12.0, 3.5])
        self.assertEqual(events[1].properties, {"endpoint": "/v1"})
        self.assertTrue(all(events.mapped("payload_hash")))
        self.assertEqual(set(events.mapped("state")), {"pending"})
        with mute_logger("odoo.sql_db"):
            for row, message in [
                (
                    ["csv-3", self.sub.name, "t_calls", "-2", "2026-01-05 08:00:00", ""],
                    "quantity: cannot be negative",
                ),
                (
                    ["csv-4", self.sub.name, "t_calls", "1", "2026-01-05 08:00:00", "[1]"],
                    "properties: must be a JSON object",
                ),
                (
                    ["csv-1", self.sub.name, "t_calls", "12", "2026-01-05 08:00:00", ""],
                    "already exist",
                ),
            ]:
                result = Event.load(fields_, [row])
                self.assertFalse(result["ids"])
                self.assertIn(message, " ".join(m["message"] for m in result["messages"]))

    def test_create_rejects_closed_subscription(self):
        closed = self._q2c_usage_subscription(partner=self.partner_2)
        closed.action_close(date(2026, 1, 31))
        with self.assertRaisesRegex(ValidationError, "is closed"):
            self.env["q2c.usage.event"].create(
                {
                    "transaction_id": "cl-1",
                    "subscription_id": closed.id,
                    "metric_id": self.metric_calls.id,
                    "quantity": 1,
                }
            )

    # ------------------------------------------------------------------
    # References without foreign keys (Many2oneWithoutForeignKey)
    # ------------------------------------------------------------------

    def test_event_columns_have_no_foreign_key(self):
        self.env.cr.execute(
            """
            SELECT a.attname
              FROM pg_constraint fk
              JOIN pg_class c ON c.oid = fk.conrelid
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = fk.conkey[1]
             WHERE fk.contype = 'f' AND c.relname = 'q2c_usage_event'
            """
        )
        self.assertEqual({name for (name,) in self.env.cr.fetchall()}, {"invoice_line_id"})

    def test_update_drops_an_existing_foreign_key(self):
        # A database created before the foreign keys were dropped: the module update drops
        # them (and their ir.model.constraint records).
        cr = self.env.cr
        cr.execute(
            "ALTER TABLE q2c_usage_event ADD CONSTRAINT q2c_usage_event_subscription_id_fkey"
            " FOREIGN KEY (subscription_id) REFERENCES q2c_subscription(id) ON DELETE RESTRICT"
        )
        field = self.env["q2c.usage.event"]._fields["subscription_id"]
        field.update_db_foreign_key(self.env["q2c.usage.event"], None)
        cr.execute(
            "SELECT 1 FROM pg_constraint WHERE conname = 'q2c_usage_event_subscription_id_fkey'"
        )
        self.assertFalse(cr.fetchall())
        self.assertFalse(
            self.env["ir.model.constraint"].search(
                [("name", "=", "q2c_usage_event_subscription_id_fkey")]
            )
        )

    def test_subscription_with_events_cannot_be_deleted(self):
        draft = self._q2c_usage_subscription(activate=False)
        self.assertEqual(draft.state, "draft")
        report = self._ingest([self._ev(draft, "d-1", self.metric_calls)])
        self.assertEqual(report["accepted"], 1)
        with self.assertRaisesRegex(UserError, f"{draft.name} cannot be deleted: usage events"):
            draft.unlink()
        self.assertTrue(draft.exists())
        self.assertEqual(len(self._events(draft)), 1)
        # Without events it can be deleted (a draft).
        empty = self._q2c_usage_subscription(activate=False)
        empty.unlink()
        self.assertFalse(empty.exists())

    def test_metric_with_events_cannot_be_deleted(self):
        self._ingest([self._ev(self.sub, "m-1", self.metric_orphan)])
        with self.assertRaisesRegex(UserError, "Orphan metric cannot be deleted: usage events"):
            self.metric_orphan.unlink()
        self.assertTrue(self.metric_orphan.exists())
        unused = self.env["q2c.usage.metric"].create({"name": "Unused", "code": "t_unused"})
        unused.unlink()
        self.assertFalse(unused.exists())

    def test_deleted_subscription_or_metric_is_unknown(self):
        draft = self._q2c_usage_subscription(activate=False)
        draft_id = draft.id
        draft.unlink()
        metric = self.env["q2c.usage.metric"].create({"name": "Gone", "code": "t_gone"})
        metric.unlink()
        report = self._ingest(
            [
                self._ev(self.sub, "u-1", self.metric_calls),
                {
                    "transaction_id": "u-2",
                    "subscription_id": draft_id,
                    "metric": "t_calls",
                },
                {"transaction_id": "u-3", "subscription": self.sub.name, "metric": "t_gone"},
            ]
        )
        self.assertEqual(report["accepted"], 1)
        self.assertEqual(
            [(item["index"], item["error"]) for item in report["rejected"]],
            [
                (1, f"subscription_id: unknown subscription id {draft_id}"),
                (
                    2,
                    "metric: unknown usage metric code 't_gone' in the company "
                    f"{self.env.company.name}",
                ),
            ],
        )
        self.assertFalse(
            self.env["q2c.usage.event"].search_count([("transaction_id", "in", ["u-2", "u-3"])])
        )

    def test_create_refuses_unknown_references(self):
        draft = self._q2c_usage_subscription(activate=False)
        draft_id = draft.id
        draft.unlink()
        with self.assertRaisesRegex(ValidationError, "unknown subscription id"):
            self.env["q2c.usage.event"].create(
                {
                    "transaction_id": "cr-1",
                    "subscription_id": draft_id,
                    "metric_id": self.metric_calls.id,
                }
            )
        with self.assertRaisesRegex(ValidationError, "metric_id: required"):
            self.env["q2c.usage.event"].create(
                {
                    "transaction_id": "cr-2",
                    "subscription_id": self.sub.id,
                    "metric_id": self.metric_calls.id + 1000000,
                }
            )
