from contextlib import closing
from datetime import date
from unittest.mock import patch

from odoo import Command
from odoo.tests import tagged

from .usage_common import Q2cUsageCommon

# Columns that differ between two runs by construction (record ids, the run itself). The
# ORM path's journal items take as last writer the user of whichever environment flushes
# their post-time updates (the transaction's default one), the bulk path's the run's user.
MOVE_SKIPPED = {"id", "q2c_billing_run_id"}
LINE_SKIPPED = {"id", "move_id", "write_uid"}


@tagged("post_install", "-at_install")
class TestBillingBulk(Q2cUsageCommon):
    """The bulk path (invoices created without journal items, items inserted and invoices
    posted in a few statements) gives the invoices the ORM path gives, column by column: the
    same run is made through the ORM in a savepoint rolled back, then through the bulk path."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.term_installments = cls.env["account.payment.term"].create(
            {
                "name": "30% now, 70% in 30 days",
                "line_ids": [
                    Command.create({"value": "percent", "value_amount": 30.0, "nb_days": 0}),
                    Command.create({"value": "percent", "value_amount": 70.0, "nb_days": 30}),
                ],
            }
        )
        cls.fpos = cls.env["account.fiscal.position"].create(
            {
                "name": "Reduced",
                "tax_ids": [
                    Command.create({"tax_src_id": cls.tax_21_incl.id, "tax_dest_id": cls.tax_10.id})
                ],
            }
        )

    def _snapshot(self, result):
        """Every stored column of the run's invoices and journal items, their taxes, tax tags,
        followers, messages and linked usage events, and the customers' ranks; keyed by
        customer and origin (record ids differ between the runs)."""
        self.env.flush_all()
        cr = self.env.cr
        moves = {}
        cr.execute(
            "SELECT * FROM account_move WHERE id = ANY(%s) ORDER BY id", [result["invoice_ids"]]
        )
        columns = [column.name for column in cr.description]
        for row in cr.fetchall():
            values = dict(zip(columns, row, strict=True))
            key = (values["partner_id"], values["invoice_origin"], values["move_type"])
            self.assertNotIn(key, moves)
            moves[key] = values
        snapshot = {}
        for key, move in moves.items():
            cr.execute(
                "SELECT * FROM account_move_line WHERE move_id = %s ORDER BY id", [move["id"]]
            )
            columns = [column.name for column in cr.description]
            lines = []
            for row in cr.fetchall():
                line = dict(zip(columns, row, strict=True))
                line_id = line["id"]
                for relation, column, other in (
                    ("account_move_line_account_tax_rel", "account_move_line_id", "account_tax_id"),
                    (
                        "account_account_tag_account_move_line_rel",
                        "account_move_line_id",
                        "account_account_tag_id",
                    ),
                ):
                    cr.execute(
                        f"SELECT {other} FROM {relation} WHERE {column} = %s ORDER BY 1",
                        [line_id],
                    )
                    line[relation] = [value for (value,) in cr.fetchall()]
                cr.execute(
                    "SELECT transaction_id, state FROM q2c_usage_event WHERE invoice_line_id = %s "
                    "ORDER BY transaction_id",
                    [line_id],
                )
                line["usage_events"] = cr.fetchall()
                lines.append({k: v for k, v in line.items() if k not in LINE_SKIPPED})
            cr.execute(
                "SELECT partner_id, array_agg(s.mail_message_subtype_id ORDER BY 1) "
                "FROM mail_followers f LEFT JOIN mail_followers_mail_message_subtype_rel s "
                "ON s.mail_followers_id = f.id WHERE res_model = 'account.move' AND res_id = %s "
                "GROUP BY partner_id ORDER BY 1",
                [move["id"]],
            )
            followers = cr.fetchall()
            cr.execute(
                "SELECT count(*) FROM mail_message WHERE model = 'account.move' AND res_id = %s",
                [move["id"]],
            )
            messages = cr.fetchone()[0]
            snapshot[key] = {
                "move": {k: v for k, v in move.items() if k not in MOVE_SKIPPED},
                "lines": lines,
                "followers": followers,
                "messages": messages,
            }
        cr.execute(
            "SELECT id, customer_rank FROM res_partner WHERE id = ANY(%s) ORDER BY id",
            [[key[0] for key in moves]],
        )
        snapshot["ranks"] = cr.fetchall()
        return snapshot

    def _assert_bulk_as_orm(self, day, invoices=None):
        """Run the billing of ``day`` through the ORM (rolled back), then through the bulk
        path, and compare; returns the bulk run's invoices."""
        Run = self.env["q2c.billing.run"]
        with closing(self.env.cr.savepoint()):
            orm = self._snapshot(Run.with_context(q2c_no_bulk=True).run_billing(day))
        self.env.cr.precommit.data.pop("sequence.mixin", None)
        self.env.invalidate_all()
        bulk_create = type(Run)._q2c_bulk_create_invoices
        with patch.object(
            type(Run), "_q2c_bulk_create_invoices", autospec=True, side_effect=bulk_create
        ) as spy:
            result = Run.run_billing(day)
        bulked = sum(len(call.args[4]) for call in spy.call_args_list)
        self.assertEqual(bulked, len(result["invoice_ids"]), "every invoice took the bulk path")
        bulk = self._snapshot(result)
        self.assertEqual(sorted(orm, key=str), sorted(bulk, key=str))
        if invoices is not None:
            self.assertEqual(len(result["invoice_ids"]), invoices)
        for key, expected in orm.items():
            if key == "ranks":
                self.assertEqual(bulk[key], expected)
                continue
            got = bulk[key]
            for column, value in expected["move"].items():
                self.assertEqual(got["move"][column], value, f"{key}: account_move.{column}")
            self.assertEqual(len(got["lines"]), len(expected["lines"]), f"{key}: journal items")
            for index, (got_line, line) in enumerate(
                zip(got["lines"], expected["lines"], strict=True)
            ):
                for column, value in line.items():
                    self.assertEqual(
                        got_line[column], value, f"{key}: item {index} account_move_line.{column}"
                    )
            self.assertEqual(got["followers"], expected["followers"], f"{key}: followers")
            self.assertEqual(got["messages"], expected["messages"], f"{key}: messages")
        moves = self._invoices(result)
        self.assertMoveBalanced(moves)
        return moves

    def test_bulk_as_orm_taxes_currencies_terms(self):
        """Prorated first period (calendar aligned), tax included and excluded, discount,
        untaxed line, foreign currency, fiscal position mapping an included tax to an
        excluded one, payment term in installments, two subscriptions of one customer on one
        invoice, a one-time charge and a yearly line."""
        day = date(2026, 1, 17)
        partners = self.env["res.partner"].create(
            [{"name": f"Bulk {i}", "lang": "en_US"} for i in range(4)]
        )
        self._q2c_subscription(
            [
                (self.plan_incl, 3),
                (self.plan_seat, 7, {"discount": 12.5}),
                (self.plan_untaxed, 1),
                (self.plan_platform, 1),
            ],
            start=day,
            alignment="calendar",
        )
        self._q2c_subscription(
            [(self.plan_platform_eur, 1), (self.plan_seat_eur, 13)],
            partner=self.partner_eu,
            currency=self.eur,
            start=day,
        )
        self._q2c_subscription(
            [(self.plan_seat, 3), (self.plan_incl, 1)],
            partner=partners[0],
            start=day,
            payment_term_id=self.term_installments.id,
        )
        self._q2c_subscription(
            [(self.plan_incl, 2), (self.plan_seat, 5)],
            partner=partners[1],
            start=day,
            fiscal_position_id=self.fpos.id,
        )
        for plans in ([(self.plan_seat, 2)], [(self.plan_platform, 1), (self.plan_setup, 1)]):
            self._q2c_subscription(plans, partner=partners[2], start=day)
        self._q2c_subscription(
            [(self.plan_gold_yearly, 2), (self.plan_setup, 1)], partner=partners[3], start=day
        )
        invoices = self._assert_bulk_as_orm(day, invoices=6)
        self.assertEqual(set(invoices.mapped("state")), {"posted"})
        installments = invoices.filtered("invoice_payment_term_id")
        self.assertEqual(
            len(installments.line_ids.filtered(lambda line: line.display_type == "payment_term")),
            2,
        )

    def test_bulk_as_orm_usage_and_credit_note(self):
        """Usage billed in arrears with its events linked to the lines, and a credit note
        (quantity lowered to zero the day after the period started)."""
        usage = self._q2c_usage_subscription()
        refunded = self._q2c_subscription(
            [(self.plan_seat, 10)], partner=self.partner_2, fiscal_position_id=self.fpos.id
        )
        self._run("2026-01-01")
        self._ingest(
            [
                self._ev(
                    usage, f"call-{i}", self.metric_calls, 10, f"2026-01-{i + 1:02d}T09:00:00Z"
                )
                for i in range(5)
            ]
            + [self._ev(usage, "st-1", self.metric_storage, 120, "2026-01-05T00:00:00Z")]
            + [self._ev(usage, "se-1", self.metric_seats, 12, "2026-01-02T00:00:00Z")]
        )
        refunded.apply_change([{"line_id": refunded.line_ids.id, "quantity": 0}], date(2026, 1, 2))
        invoices = self._assert_bulk_as_orm(date(2026, 2, 1), invoices=2)
        self.assertEqual(sorted(invoices.mapped("move_type")), ["out_invoice", "out_refund"])
        usage_lines = invoices.invoice_line_ids.filtered("q2c_usage_metric_id")
        self.assertTrue(usage_lines)
        self.assertEqual(len(usage_lines.q2c_usage_event_ids), 7)

    def test_bulk_off_by_parameter(self):
        """The system parameter ``q2c_billing.bulk_post`` set to 0 makes the run use the ORM."""
        self.env["ir.config_parameter"].sudo().set_param("q2c_billing.bulk_post", "0")
        self._q2c_subscription([(self.plan_seat, 2)])
        Run = type(self.env["q2c.billing.run"])
        with patch.object(Run, "_q2c_bulk_create_invoices") as bulk:
            invoice = self._invoices(self._run("2026-01-01"))
        bulk.assert_not_called()
        self.assertEqual(invoice.state, "posted")
        self.assertEqual(invoice.amount_total, 22.0)
