from datetime import date

from odoo import Command
from odoo.tests import Form, tagged

from .usage_common import Q2cUsageCommon

JAN = (date(2026, 1, 1), date(2026, 1, 31))


@tagged("post_install", "-at_install")
class TestUsageBilling(Q2cUsageCommon):
    """Usage billed in arrears by the billing run, traceable to its events; late events."""

    def _usage_lines(self, invoice, metric=None):
        lines = invoice.invoice_line_ids.filtered("q2c_usage_metric_id")
        if metric:
            lines = lines.filtered(lambda line: line.q2c_usage_metric_id == metric)
        return lines

    def test_usage_billed_in_arrears_and_traceable(self):
        sub = self._q2c_usage_subscription()
        first = self._invoices(self._run("2026-01-01"))
        self.assertFalse(self._usage_lines(first), "usage is billed in arrears")
        self._ingest(
            [
                self._ev(sub, f"call-{i}", self.metric_calls, 10, f"2026-01-{i + 1:02d}T09:00:00Z")
                for i in range(31)
            ]
            + [
                self._ev(sub, "st-1", self.metric_storage, 120, "2026-01-05T00:00:00Z"),
                self._ev(sub, "st-2", self.metric_storage, 250.5, "2026-01-20T00:00:00Z"),
            ]
            + [
                self._ev(sub, f"rq-{i}", self.metric_requests, 99, "2026-01-31T23:59:59Z")
                for i in range(4)
            ]
            + [
                self._ev(
                    sub,
                    f"us-{i}",
                    self.metric_users,
                    1,
                    "2026-01-12T00:00:00Z",
                    properties={"user": f"user{i % 7}"},
                )
                for i in range(20)
            ]
            + [
                self._ev(sub, "se-1", self.metric_seats, 12, "2026-01-02T00:00:00Z"),
                self._ev(sub, "se-2", self.metric_seats, 8, "2026-01-30T00:00:00Z"),
            ]
            # February usage: billed on the next invoice, not this one.
            + [self._ev(sub, "call-feb", self.metric_calls, 1000, "2026-02-01T00:00:00Z")]
        )
        invoice = self._invoices(self._run("2026-02-01"))
        self.assertEqual(len(invoice), 1)
        expected = {
            # metric: (quantity, amount, events)
            self.metric_calls: (310.0, 31.0, 31),  # 310 x 0.10
            self.metric_storage: (250.5, 30.0, 2),  # max 250.5 GB: 3 packages x 10.00
            self.metric_requests: (4.0, 2.0, 4),  # 4 requests x 0.50
            self.metric_users: (7.0, 48.0, 20),  # 7 users: 5 x 7.00 + 2 x 6.50
            self.metric_seats: (8.0, 24.0, 2),  # last 8 x 3.00
        }
        for metric, (__, amount, count) in expected.items():
            line = self._usage_lines(invoice, metric)
            self.assertEqual(len(line), 1, metric.name)
            self.assertEqual(line.price_subtotal, amount, metric.name)
            self.assertEqual((line.q2c_period_start, line.q2c_period_end), JAN)
            self.assertEqual(line.q2c_subscription_id, sub)
            self.assertFalse(line.q2c_usage_late)
            self.assertIn(f"from {JAN[0]} to {JAN[1]}", line.name)
            # Which events made this amount: one click.
            self.assertEqual(len(line.q2c_usage_event_ids), count, metric.name)
            self.assertEqual(set(line.q2c_usage_event_ids.mapped("state")), {"billed"})
            self.assertEqual(line.q2c_usage_event_ids.metric_id, metric)
            action = line.action_q2c_view_usage_events()
            self.assertEqual(
                self.env["q2c.usage.event"].search(action["domain"]), line.q2c_usage_event_ids
            )
        self.assertIn("310 API calls", self._usage_lines(invoice, self.metric_calls).name)
        self.assertEqual(invoice.q2c_usage_event_count, 59)
        action = invoice.action_q2c_view_usage_events()
        self.assertEqual(self.env["q2c.usage.event"].search_count(action["domain"]), 59)
        # Platform fee (February, in advance) + 135.00 of January usage, 10 % tax.
        self.assertEqual(invoice.amount_untaxed, 235.0)
        self.assertEqual(invoice.amount_total, 258.5)
        self.assertMoveBalanced(invoice)
        feb = self._events(sub).filtered(lambda e: e.transaction_id == "call-feb")
        self.assertEqual((feb.state, feb.invoice_line_id.id), ("pending", False))
        # Idempotent: the same run again bills nothing more.
        self.assertEqual(self._run("2026-02-01")["invoice_ids"], [])
        self.assertEqual(feb.state, "pending")
        march = self._invoices(self._run("2026-03-01"))
        line = self._usage_lines(march, self.metric_calls)
        self.assertEqual((line.price_subtotal, line.q2c_usage_event_ids), (100.0, feb))

    def test_rating_under_every_charge_model(self):
        cases = [
            # (charge model, plan values, quantity, expected amount)
            ("flat", {"flat_price": 49.0}, 1234, 49.0),
            ("per_unit", {"unit_price": 0.25, "included_quantity": 100}, 1234, 283.5),
            ("per_unit", {"unit_price": 0.25, "minimum_amount": 50.0}, 10, 50.0),
            ("per_unit", {"unit_price": 0.25, "maximum_amount": 100.0}, 1234, 100.0),
            (
                "graduated",
                {
                    "tier_ids": [
                        Command.create({"sequence": 1, "up_to": 5, "unit_price": 7.0}),
                        Command.create({"sequence": 2, "up_to": 10, "unit_price": 6.5}),
                        Command.create({"sequence": 3, "up_to": 0, "unit_price": 6.0}),
                    ]
                },
                20,
                127.5,
            ),
            (
                "volume",
                {
                    "tier_ids": [
                        Command.create({"sequence": 1, "up_to": 5, "unit_price": 7.0}),
                        Command.create({"sequence": 2, "up_to": 10, "unit_price": 6.5}),
                        Command.create(
                            {"sequence": 3, "up_to": 0, "unit_price": 6.0, "flat_price": 2}
                        ),
                    ]
                },
                20,
                122.0,
            ),
            (
                "package",
                {"unit_price": 10.0, "package_size": 100, "included_quantity": 50},
                1234,
                120.0,
            ),
        ]
        for index, (model, vals, quantity, amount) in enumerate(cases):
            with self.subTest(model=model, vals=vals):
                metric = self.env["q2c.usage.metric"].create(
                    {"name": f"Model {index}", "code": f"t_model_{index}", "aggregation": "sum"}
                )
                product = self._q2c_product(f"Usage model {index}", self.tax_10)
                plan = self._q2c_usage_plan(product, metric, model, **vals)
                sub = self._q2c_subscription([(plan, 1)])
                # The quantity arrives in several events, one of them fractional.
                self._ingest(
                    [
                        self._ev(sub, "a", metric, quantity - 1.5, "2026-01-03T00:00:00Z"),
                        self._ev(sub, "b", metric, 1.5, "2026-01-30T00:00:00Z"),
                    ]
                )
                charges = sub._q2c_usage_charges(*JAN)
                self.assertEqual(len(charges), 1)
                self.assertEqual(charges[0]["usage_quantity"], quantity)
                self.assertEqual(charges[0]["amount"], amount)
                self.assertEqual(sub.usage_unbilled_amount, amount)
                # The billing run invoices the same amount.
                self._run("2026-01-01")
                invoice = self._invoices(self._run("2026-02-01"))
                line = self._usage_lines(
                    invoice.filtered(
                        lambda m, sub=sub: sub in m.invoice_line_ids.q2c_subscription_id
                    )
                )
                self.assertEqual(line.price_subtotal, amount)
                self.assertEqual(len(line.q2c_usage_event_ids), 2)

    def test_late_events_are_billed_once_on_the_next_invoice(self):
        product = self._q2c_product("Calls with free tier", self.tax_10)
        plan = self._q2c_usage_plan(
            product, self.metric_calls, "per_unit", unit_price=0.1, included_quantity=100
        )
        sub = self._q2c_subscription([(self.plan_platform, 1), (plan, 1)])
        self._run("2026-01-01")
        self._ingest([self._ev(sub, "jan-1", self.metric_calls, 80, "2026-01-10T00:00:00Z")])
        feb = self._invoices(self._run("2026-02-01"))
        jan_line = self._usage_lines(feb)
        # 80 calls, all included: a line at 0.00 that still shows the events.
        self.assertEqual((jan_line.price_subtotal, len(jan_line.q2c_usage_event_ids)), (0.0, 1))
        # Late: dated in January, received after January was invoiced.
        self._ingest(
            [
                self._ev(sub, "jan-late-1", self.metric_calls, 30, "2026-01-20T00:00:00Z"),
                self._ev(sub, "jan-late-2", self.metric_calls, 20, "2026-01-31T23:00:00Z"),
                self._ev(sub, "feb-1", self.metric_calls, 40, "2026-02-15T00:00:00Z"),
            ]
        )
        self.assertEqual(sub.usage_unbilled_amount, 3.0)  # the late part only: Feb is free
        march = self._invoices(self._run("2026-03-01"))
        late = self._usage_lines(march).filtered("q2c_usage_late")
        self.assertEqual(len(late), 1)
        # January rated again with the late events (130 calls: 3.00) minus what was billed (0).
        self.assertEqual(late.price_subtotal, 3.0)
        self.assertEqual((late.q2c_period_start, late.q2c_period_end), JAN)
        self.assertTrue(late.name.startswith("Late usage for 2026-01-01 to 2026-01-31"))
        self.assertEqual(
            late.q2c_usage_event_ids.mapped("transaction_id"), ["jan-late-2", "jan-late-1"]
        )
        current = self._usage_lines(march) - late
        self.assertEqual(
            (current.q2c_period_start, current.price_subtotal), (date(2026, 2, 1), 0.0)
        )
        self.assertEqual(current.q2c_usage_event_ids.transaction_id, "feb-1")
        # Never billed twice: the run again, then a later run without new events.
        self.assertEqual(self._run("2026-03-01")["invoice_ids"], [])
        april = self._invoices(self._run("2026-04-01"))
        self.assertFalse(self._usage_lines(april).filtered("q2c_usage_late"))
        # Another late event for January: only the increment (140 vs 130 calls).
        self._ingest([self._ev(sub, "jan-late-3", self.metric_calls, 10, "2026-01-02T00:00:00Z")])
        may = self._invoices(self._run("2026-05-01"))
        late = self._usage_lines(may).filtered("q2c_usage_late")
        self.assertEqual(
            (late.price_subtotal, late.q2c_usage_event_ids.transaction_id), (1.0, "jan-late-3")
        )
        self.assertEqual(set(self._events(sub).mapped("state")), {"billed"})
        self.assertEqual(
            sum(
                self.env["account.move.line"]
                .search(
                    [
                        ("q2c_subscription_id", "=", sub.id),
                        ("q2c_usage_metric_id", "!=", False),
                        ("q2c_period_start", "=", JAN[0]),
                    ]
                )
                .mapped("price_subtotal")
            ),
            4.0,  # 140 calls, 100 free, at 0.10: billed exactly once in total
        )

    def test_late_event_below_the_billed_peak_adds_nothing_but_is_kept(self):
        sub = self._q2c_usage_subscription([self.plan_storage])
        self._run("2026-01-01")
        self._ingest([self._ev(sub, "peak", self.metric_storage, 250, "2026-01-10T00:00:00Z")])
        self._run("2026-02-01")
        self._ingest(
            [
                self._ev(sub, "low", self.metric_storage, 90, "2026-01-12T00:00:00Z"),
                self._ev(sub, "high", self.metric_storage, 320, "2026-01-13T00:00:00Z"),
            ]
        )
        late = self._usage_lines(self._invoices(self._run("2026-03-01"))).filtered("q2c_usage_late")
        # Peak 320 GB instead of 250: 4 packages instead of 3.
        self.assertEqual(late.price_subtotal, 10.0)
        self.assertEqual(len(late.q2c_usage_event_ids), 2)
        self._ingest([self._ev(sub, "low-2", self.metric_storage, 10, "2026-01-14T00:00:00Z")])
        late = self._usage_lines(self._invoices(self._run("2026-04-01"))).filtered("q2c_usage_late")
        self.assertEqual(
            (late.price_subtotal, late.q2c_usage_event_ids.transaction_id), (0.0, "low-2")
        )

    def test_events_that_cannot_be_billed_are_marked_with_their_reason(self):
        sub = self._q2c_subscription(
            [(self.plan_platform, 1), (self.plan_calls, 1)], trial_end_date=date(2026, 1, 14)
        )
        self._ingest(
            [
                self._ev(sub, "trial", self.metric_calls, 5, "2026-01-10T00:00:00Z"),
                self._ev(sub, "paid", self.metric_calls, 7, "2026-01-20T00:00:00Z"),
                self._ev(sub, "orphan", self.metric_orphan, 3, "2026-01-20T00:00:00Z"),
            ]
        )
        orphan = self._events(sub, self.metric_orphan)
        self.assertEqual(orphan.state, "unbillable")
        self._run("2026-01-15")
        invoice = self._invoices(self._run("2026-02-15"))
        self.assertEqual(self._usage_lines(invoice).q2c_usage_event_ids.transaction_id, "paid")
        trial = self._events(sub).filtered(lambda e: e.transaction_id == "trial")
        self.assertEqual(trial.state, "unbillable")
        self.assertEqual(
            trial.unbillable_reason, "Before the first billed day (trial or not started)"
        )
        self.assertEqual(sub.usage_unbillable_count, 2)
        action = sub.action_view_unbillable_usage()
        self.assertEqual(action["context"]["search_default_unbillable"], 1)

    def test_ended_usage_line_leaves_later_events_unbillable(self):
        sub = self._q2c_usage_subscription([self.plan_calls, self.plan_requests])
        sub.line_ids.filtered(
            lambda line: line.price_plan_id == self.plan_requests
        ).end_date = date(2026, 1, 15)
        self._run("2026-01-01")
        self._ingest(
            [
                self._ev(sub, "rq-1", self.metric_requests, 1, "2026-01-10T00:00:00Z"),
                self._ev(sub, "rq-2", self.metric_requests, 1, "2026-01-20T00:00:00Z"),
            ]
        )
        invoice = self._invoices(self._run("2026-02-01"))
        line = self._usage_lines(invoice, self.metric_requests)
        self.assertEqual(
            (line.q2c_period_start, line.q2c_period_end), (date(2026, 1, 1), date(2026, 1, 15))
        )
        self.assertEqual(line.q2c_usage_event_ids.transaction_id, "rq-1")
        rq_2 = self._events(sub).filtered(lambda e: e.transaction_id == "rq-2")
        self.assertEqual(rq_2.state, "unbillable")
        self.assertIn("no active usage line", rq_2.unbillable_reason)

    def test_deleting_a_draft_invoice_gives_the_events_back(self):
        self.company.q2c_invoice_post = False
        sub = self._q2c_usage_subscription([self.plan_calls])
        self._run("2026-01-01")
        self._ingest([self._ev(sub, "d-1", self.metric_calls, 50, "2026-01-10T00:00:00Z")])
        invoice = self._invoices(self._run("2026-02-01"))
        event = self._events(sub)
        self.assertEqual(event.state, "billed")
        invoice.unlink()
        self.assertEqual((event.state, event.invoice_line_id.id), ("pending", False))
        # January stays invoiced as a period: its events come back as late usage.
        late = self._usage_lines(self._invoices(self._run("2026-03-01"))).filtered("q2c_usage_late")
        self.assertEqual((late.price_subtotal, late.q2c_usage_event_ids), (5.0, event))

    def test_preview_invoice_includes_usage_and_is_pure(self):
        sub = self._q2c_usage_subscription([self.plan_calls])
        self._run("2026-01-01")
        self._ingest([self._ev(sub, "p-1", self.metric_calls, 123, "2026-01-10T00:00:00Z")])
        preview = sub.preview_invoice("2026-02-01")
        usage = [line for line in preview["lines"] if "API calls" in line["description"]]
        self.assertEqual(len(usage), 1)
        self.assertEqual(usage[0]["amount"], 12.3)
        self.assertEqual(
            (usage[0]["period_start"], usage[0]["period_end"]), ("2026-01-01", "2026-01-31")
        )
        self.assertEqual(self._events(sub).state, "pending")

    def test_current_usage_on_the_subscription(self):
        sub = self._q2c_usage_subscription([self.plan_calls, self.plan_users])
        self._run("2026-01-01")
        self._ingest(
            [
                self._ev(sub, "c-1", self.metric_calls, 100, "2026-01-10T00:00:00Z"),
                self._ev(sub, "c-2", self.metric_calls, 50, "2026-01-11T00:00:00Z"),
                self._ev(
                    sub,
                    "u-1",
                    self.metric_users,
                    1,
                    "2026-01-11T00:00:00Z",
                    properties={"user": "a"},
                ),
                self._ev(
                    sub,
                    "u-2",
                    self.metric_users,
                    1,
                    "2026-01-12T00:00:00Z",
                    properties={"user": "b"},
                ),
                self._ev(sub, "o-1", self.metric_orphan, 9, "2026-01-12T00:00:00Z"),
                # Before the current period: not shown in it.
                self._ev(sub, "old", self.metric_calls, 1000, "2025-12-31T00:00:00Z"),
            ]
        )
        self.assertEqual((sub.usage_period_start, sub.usage_period_end), JAN)
        rows = {row.metric_id: row for row in sub.usage_summary_ids}
        self.assertEqual(set(rows), {self.metric_calls, self.metric_users})
        calls = rows[self.metric_calls]
        self.assertEqual((calls.quantity, calls.event_count, calls.pending_count), (150.0, 2, 2))
        self.assertEqual((calls.price_plan_id, calls.estimated_amount), (self.plan_calls, 15.0))
        self.assertEqual(
            (rows[self.metric_users].quantity, rows[self.metric_users].estimated_amount),
            (2.0, 14.0),
        )
        self.assertEqual(sub.usage_unbilled_amount, 29.0)
        self.assertEqual((sub.usage_event_count, sub.usage_unbillable_count), (6, 1))

    def test_usage_lines_link_their_events_when_invoiced(self):
        sub = self._q2c_usage_subscription([self.plan_calls, self.plan_seats])
        self._run("2026-01-01")
        self._ingest(
            [
                self._ev(sub, "m-1", self.metric_calls, 30, "2026-01-10T00:00:00Z"),
                self._ev(sub, "m-2", self.metric_seats, 4, "2026-01-10T00:00:00Z"),
            ]
        )
        vals_list = sub._q2c_usage_lines(*JAN)
        self.assertEqual(
            sorted(
                (vals["q2c_usage_metric_id"], self.usd.round(vals["price_unit"] * vals["quantity"]))
                for vals in vals_list
            ),
            sorted([(self.metric_calls.id, 3.0), (self.metric_seats.id, 12.0)]),
        )
        self.assertEqual(set(self._events(sub).mapped("state")), {"pending"})
        move = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": sub.partner_id.id,
                "invoice_line_ids": [Command.create(vals) for vals in vals_list],
            }
        )
        self.assertEqual(move.q2c_usage_event_count, 2)
        self.assertEqual(self._events(sub).invoice_line_id.move_id, move)

    def test_views(self):
        Event = self.env["q2c.usage.event"]
        views = Event.get_views(
            [(False, kind) for kind in ("list", "form", "pivot", "graph", "search")]
        )
        self.assertEqual(set(views["views"]), {"list", "form", "pivot", "graph", "search"})
        sub = self._q2c_usage_subscription([self.plan_calls])
        self._run("2026-01-01")
        self._ingest([self._ev(sub, "v-1", self.metric_calls, 20, "2026-01-10T00:00:00Z")])
        form = Form(sub)
        self.assertTrue(form.usage_enabled)
        self.assertEqual(form.usage_unbilled_amount, 2.0)
        self.assertEqual(form.usage_event_count, 1)
        self.assertEqual(len(form.usage_summary_ids), 1)
        action = sub.action_view_usage_events()
        self.assertEqual(Event.search(action["domain"]).transaction_id, "v-1")
        metric_form = Form(self.metric_calls)
        self.assertEqual(metric_form.event_count, 1)
        self.assertEqual(
            Event.search(self.metric_calls.action_view_events()["domain"]), self._events(sub)
        )
