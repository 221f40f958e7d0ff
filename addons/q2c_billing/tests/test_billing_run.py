import logging
from datetime import date
from unittest.mock import patch

from odoo import Command
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import new_test_user, tagged

from .common import Q2cSubscriptionCommon

_logger = logging.getLogger(__name__)


@tagged("post_install", "-at_install")
class TestBillingRun(Q2cSubscriptionCommon):
    def test_run_bills_due_subscriptions_once(self):
        sub = self._q2c_subscription([(self.plan_platform, 1), (self.plan_seat, 5)])
        result = self._run("2026-01-01")
        self.assertEqual(result["billed"], 1)
        self.assertEqual(result["skipped"], 0)
        self.assertEqual(result["errors"], [])
        invoice = self._invoices(result)
        self.assertEqual(len(invoice), 1)
        self.assertEqual(invoice.state, "posted")
        self.assertEqual(invoice.partner_id, self.partner)
        self.assertEqual(invoice.invoice_date, date(2026, 1, 1))
        self.assertEqual(
            (invoice.amount_untaxed, invoice.amount_tax, invoice.amount_total), (150.0, 15.0, 165.0)
        )
        self.assertEqual(invoice.invoice_line_ids.q2c_subscription_id, sub)
        self.assertEqual(
            set(invoice.invoice_line_ids.mapped("q2c_period_end")), {date(2026, 1, 31)}
        )
        self.assertIn(sub.name, invoice.invoice_origin)
        self.assertMoveBalanced(invoice)
        self.assertEqual(sub.next_invoice_date, date(2026, 2, 1))
        self.assertEqual(
            (sub.current_period_start, sub.current_period_end),
            (date(2026, 1, 1), date(2026, 1, 31)),
        )
        self.assertEqual(sub.invoice_count, 1)
        # Same date again: nothing new.
        again = self._run("2026-01-01")
        self.assertEqual((again["invoice_ids"], again["billed"], again["errors"]), ([], 0, []))
        self.assertEqual(self.env["q2c.billing.run"].search([], limit=1).billed_count, 0)

    def test_period_table_is_the_idempotency_key(self):
        sub = self._q2c_subscription([(self.plan_seat, 1)])
        self._run("2026-01-01")
        self.assertEqual(len(sub.billed_period_ids), 1)
        # A crash after the invoice (next date not advanced): the period row stops the rebill.
        sub.write(
            {
                "next_invoice_date": date(2026, 1, 1),
                "current_period_start": False,
                "current_period_end": False,
            }
        )
        result = self._run("2026-01-01")
        self.assertEqual(result["invoice_ids"], [])
        self.assertEqual(result["skipped"], 1)
        self.assertEqual(len(sub._q2c_get_invoices()), 1)

    def test_catch_up_missed_periods(self):
        sub = self._q2c_subscription([(self.plan_seat, 2)], start=date(2026, 1, 31))
        invoice = self._invoices(self._run("2026-04-10"))
        periods = invoice.invoice_line_ids.mapped(lambda l: (l.q2c_period_start, l.q2c_period_end))
        self.assertEqual(
            periods,
            [
                (date(2026, 1, 31), date(2026, 2, 27)),
                (date(2026, 2, 28), date(2026, 3, 30)),
                (date(2026, 3, 31), date(2026, 4, 29)),
            ],
        )
        self.assertEqual(invoice.amount_untaxed, 60.0)
        self.assertEqual(sub.next_invoice_date, date(2026, 4, 30))
        self.assertEqual(len(sub.billed_period_ids), 3)

    def test_one_invoice_per_customer_and_currency(self):
        sub_1 = self._q2c_subscription([(self.plan_seat, 1)])
        sub_2 = self._q2c_subscription([(self.plan_platform, 1)])
        sub_3 = self._q2c_subscription([(self.plan_seat, 2)], partner=self.partner_2)
        sub_eur = self._q2c_subscription([(self.plan_seat_eur, 1)], currency=self.eur)
        result = self._run("2026-01-01")
        invoices = self._invoices(result)
        self.assertEqual(len(invoices), 3)
        self.assertEqual(result["billed"], 4)
        grouped = invoices.filtered(
            lambda m: m.partner_id == self.partner and m.currency_id == self.usd
        )
        self.assertEqual(grouped.invoice_line_ids.q2c_subscription_id, sub_1 | sub_2)
        self.assertEqual(grouped.amount_untaxed, 110.0)
        self.assertEqual(sub_3.invoice_count, 1)
        self.assertEqual(sub_eur.invoice_count, 1)
        self.assertMoveBalanced(invoices)

    def test_one_invoice_per_subscription_by_setting(self):
        self.company.q2c_invoice_grouping = "subscription"
        self._q2c_subscription([(self.plan_seat, 1)])
        self._q2c_subscription([(self.plan_platform, 1)])
        self.assertEqual(len(self._run("2026-01-01")["invoice_ids"]), 2)

    def test_draft_invoices_by_setting(self):
        self.company.q2c_invoice_post = False
        self._q2c_subscription([(self.plan_seat, 1)])
        invoice = self._invoices(self._run("2026-01-01"))
        self.assertEqual(invoice.state, "draft")
        self.assertEqual(invoice.amount_total, 11.0)

    def test_queue_invoice_mails(self):
        self.company.q2c_invoice_send = True
        self.partner.email = "billing@example.com"
        self._q2c_subscription([(self.plan_seat, 1)])
        before = self.env["mail.mail"].search_count([])
        invoice = self._invoices(self._run("2026-01-01"))
        mails = self.env["mail.mail"].search(
            [("model", "=", "account.move"), ("res_id", "=", invoice.id)]
        )
        self.assertTrue(mails)
        self.assertEqual(set(mails.mapped("state")), {"outgoing"}, "queued, not sent")
        self.assertGreater(self.env["mail.mail"].search_count([]), before)

    def test_eur_subscription_in_usd_company(self):
        sub = self._q2c_subscription(
            [(self.plan_platform_eur, 1), (self.plan_seat_eur, 10)],
            partner=self.partner_eu,
            currency=self.eur,
        )
        invoice = self._invoices(self._run("2026-01-01"))
        self.assertEqual(invoice.currency_id, self.eur)
        self.assertEqual(invoice.company_currency_id, self.usd)
        self.assertEqual(
            (invoice.amount_untaxed, invoice.amount_tax, invoice.amount_total), (180.0, 18.0, 198.0)
        )
        # Accounted in USD at 1 USD = 0.8 EUR: 198 EUR = 247.50 USD.
        self.assertEqual(invoice.amount_total_signed, 247.5)
        self.assertMoveBalanced(invoice)
        self.assertEqual(sub.mrr_company, 225.0)

    def test_tax_included_and_excluded(self):
        self._q2c_subscription([(self.plan_incl, 1), (self.plan_seat, 3), (self.plan_untaxed, 1)])
        invoice = self._invoices(self._run("2026-01-01"))
        by_product = {line.product_id: line for line in invoice.invoice_line_ids}
        incl = by_product[self.product_incl]
        self.assertEqual(
            (incl.price_unit, incl.price_subtotal, incl.price_total), (121.0, 100.0, 121.0)
        )
        seat = by_product[self.product_seat]
        self.assertEqual(
            (seat.quantity, seat.price_unit, seat.price_subtotal, seat.price_total),
            (3.0, 10.0, 30.0, 33.0),
        )
        self.assertEqual(by_product[self.product_untaxed].price_total, 31.0)
        self.assertEqual(
            (invoice.amount_untaxed, invoice.amount_tax, invoice.amount_total), (161.0, 24.0, 185.0)
        )
        self.assertMoveBalanced(invoice)

    def test_fiscal_position_maps_taxes(self):
        fpos = self.env["account.fiscal.position"].create(
            {
                "name": "Export",
                "tax_ids": [Command.create({"tax_src_id": self.tax_10.id, "tax_dest_id": False})],
            }
        )
        sub = self._q2c_subscription([(self.plan_seat, 3)], fiscal_position_id=fpos.id)
        self.assertEqual(sub.fiscal_position_id, fpos)
        invoice = self._invoices(self._run("2026-01-01"))
        self.assertEqual(invoice.fiscal_position_id, fpos)
        self.assertEqual((invoice.amount_tax, invoice.amount_total), (0.0, 30.0))

    def test_proration_amounts_to_the_cent(self):
        # Calendar alignment from Jan 17: 15/31 of each charge.
        self._q2c_subscription(
            [(self.plan_seat, 3, {"discount": 12.5}), (self.plan_gold_yearly, 1)],
            start=date(2026, 1, 17),
            alignment="calendar",
        )
        invoice = self._invoices(self._run("2026-01-17"))
        subtotals = invoice.invoice_line_ids.mapped("price_subtotal")
        # 30 x 0.875 x 15/31 = 12.70; 500/12 x 15/31 = 20.16
        self.assertEqual(subtotals, [12.7, 20.16])
        self.assertEqual(invoice.amount_untaxed, 32.86)
        self.assertEqual(invoice.amount_tax, 3.29)
        self.assertMoveBalanced(invoice)

    def test_quarterly_in_arrears_and_one_time(self):
        sub = self._q2c_subscription(
            [(self.plan_seat, 2), (self.plan_setup, 1), (self.plan_untaxed_arrears, 1)],
            billing_period="quarter",
        )
        first = self._invoices(self._run("2026-01-01"))
        # Seats for the quarter (3 x 20) and the one-time setup; nothing in arrears yet.
        self.assertEqual(first.amount_untaxed, 60.0 + 250.0)
        self.assertTrue(
            sub.line_ids.filtered(lambda l: l.product_id == self.product_setup).one_time_billed
        )
        second = self._invoices(self._run("2026-04-01"))
        lines = {line.product_id: line for line in second.invoice_line_ids}
        self.assertEqual(lines[self.product_untaxed].price_subtotal, 186.0)
        self.assertEqual(
            (
                lines[self.product_untaxed].q2c_period_start,
                lines[self.product_untaxed].q2c_period_end,
            ),
            (date(2026, 1, 1), date(2026, 3, 31)),
        )
        self.assertEqual(lines[self.product_seat].q2c_period_start, date(2026, 4, 1))
        self.assertNotIn(self.product_setup, lines)
        self.assertEqual(len(sub.billed_period_ids), 3)

    def test_failing_subscription_does_not_block_the_others(self):
        good = self._q2c_subscription([(self.plan_seat, 1)])
        archived_product = self._q2c_product("Legacy add-on", self.tax_10)
        legacy_plan = self._q2c_plan(archived_product, "flat", flat_price=5.0)
        bad = self._q2c_subscription(
            [(self.plan_seat, 1), (legacy_plan, 1)], partner=self.partner_2
        )
        no_account = self._q2c_product("No account", self.tax_10)
        no_account.property_account_income_id = False
        no_account.categ_id = self.env["product.category"].create({"name": "No accounts"})
        no_account.categ_id.property_account_income_categ_id = False
        no_account_plan = self._q2c_plan(no_account, "flat", flat_price=5.0)
        other_partner = self.env["res.partner"].create({"name": "Third"})
        bad_2 = self._q2c_subscription([(no_account_plan, 1)], partner=other_partner)
        archived_product.action_archive()

        result = self._run("2026-01-01")
        self.assertEqual(result["billed"], 1)
        self.assertEqual(result["skipped"], 2)
        errors = {error["subscription_id"]: error["error"] for error in result["errors"]}
        self.assertIn("Legacy add-on is archived", errors[bad.id])
        self.assertIn("no income account for the product No account", errors[bad_2.id])
        self.assertEqual(self._invoices(result).invoice_line_ids.q2c_subscription_id, good)
        self.assertEqual(bad.next_invoice_date, date(2026, 1, 1))
        run = self.env["q2c.billing.run"].search([], limit=1)
        self.assertEqual((run.billed_count, run.error_count, run.invoice_count), (1, 2, 1))
        self.assertEqual(run.error_ids.subscription_id, bad | bad_2)
        self.assertEqual(run.state, "done")
        # Fixed: billed by the next run.
        archived_product.action_unarchive()
        self.assertEqual(self._run("2026-01-01")["billed"], 1)

    def test_negative_total_gives_a_credit_note(self):
        sub = self._q2c_subscription([(self.plan_seat, 10)], start=date(2026, 4, 1))
        self._run("2026-04-01")
        sub.apply_change([{"line_id": sub.line_ids.id, "quantity": 0}], date(2026, 4, 2))
        refund = self.env["account.move"].browse(self._run("2026-05-01")["invoice_ids"])
        self.assertEqual(refund.move_type, "out_refund")
        self.assertEqual(refund.amount_untaxed, 96.67)
        self.assertMoveBalanced(refund)

    def test_credit_note_with_payment_term(self):
        """A credit note under a two-installment payment term: the receivable is credited in
        the term's shares, the move balances (the fast path and Odoo's own computation agree)."""
        term = self.env["account.payment.term"].create(
            {
                "name": "30% now, balance in 30 days",
                "line_ids": [
                    Command.create({"value": "percent", "value_amount": 30.0, "nb_days": 0}),
                    Command.create({"value": "percent", "value_amount": 70.0, "nb_days": 30}),
                ],
            }
        )
        sub = self._q2c_subscription(
            [(self.plan_seat, 10)], start=date(2026, 4, 1), payment_term_id=term.id
        )
        invoice = self._invoices(self._run("2026-04-01"))
        self.assertMoveBalanced(invoice)
        receivable = invoice.line_ids.filtered(lambda line: line.display_type == "payment_term")
        # 100.00 + 10 % tax = 110.00: 33.00 now, 77.00 in 30 days.
        self.assertEqual(sorted(receivable.mapped("balance")), [33.0, 77.0])
        sub.apply_change([{"line_id": sub.line_ids.id, "quantity": 0}], date(2026, 4, 2))
        refund = self._invoices(self._run("2026-05-01"))
        self.assertEqual(refund.move_type, "out_refund")
        # 96.67 + 9.67 tax = 106.34 credited: 31.90 now, 74.44 in 30 days.
        self.assertEqual(refund.amount_total, 106.34)
        self.assertMoveBalanced(refund)
        receivable = refund.line_ids.filtered(lambda line: line.display_type == "payment_term")
        self.assertEqual(sorted(receivable.mapped("balance")), [-74.44, -31.9])
        self.assertEqual(refund.amount_residual, 106.34)

    def test_run_bad_date(self):
        with self.assertRaisesRegex(ValidationError, "'date' must be a date"):
            self.env["q2c.billing.run"].run_billing("yesterday")

    def test_run_rights(self):
        user = new_test_user(
            self.env,
            "q2c_billing_runner",
            groups="q2c_billing.group_q2c_billing_user",
            company_id=self.company.id,
        )
        self._q2c_subscription([(self.plan_seat, 1)])
        result = self.env["q2c.billing.run"].with_user(user).run_billing("2026-01-01")
        self.assertEqual(len(result["invoice_ids"]), 1)
        portal = new_test_user(self.env, "q2c_billing_portal", groups="base.group_portal")
        with self.assertRaises(AccessError):
            self.env["q2c.billing.run"].with_user(portal).run_billing("2026-01-01")

    def test_cron_and_bill_now(self):
        cron = self.env.ref("q2c_billing.q2c_billing_run_cron")
        self.assertEqual(cron.interval_type, "days")
        self.assertEqual(cron.code.strip(), "model._cron_run_billing()")
        sub = self._q2c_subscription([(self.plan_seat, 1)], start=date.today().replace(day=1))
        action = sub.action_bill_now()
        self.assertEqual(action["res_model"], "q2c.billing.run")
        run = self.env["q2c.billing.run"].browse(action["res_id"])
        self.assertEqual((run.trigger, run.billed_count, run.invoice_count), ("manual", 1, 1))
        self.assertGreaterEqual(run.duration, 0.0)
        self.assertEqual(sub.invoice_count, 1)

    def _count_run_queries(self, count, day):
        partners = self.env["res.partner"].create(
            [{"name": f"Batch {day} {i}"} for i in range(count)]
        )
        subs = self.env["q2c.subscription"]
        for partner in partners:
            subs |= self._q2c_subscription(
                [(self.plan_seat, 2), (self.plan_platform, 1), (self.plan_incl, 1)],
                partner=partner,
                start=day,
            )
        self.env.flush_all()
        self.env.invalidate_all()
        queries_before = self.cr.sql_log_count
        result = self.env["q2c.billing.run"]._q2c_run(day, subscriptions=subs, trigger="api")
        self.assertEqual(len(result["invoice_ids"]), count)
        return self.cr.sql_log_count - queries_before

    def test_batch_post_numbers_followers_and_trace(self):
        """A batch posted at once: consecutive distinct numbers (the next invoice made by
        hand follows them), each customer follows its invoice, the invoices are checked as
        Odoo's posting checks them, and each keeps the run that created it."""
        partners = self.env["res.partner"].create([{"name": f"Posted {i}"} for i in range(4)])
        for partner in partners:
            self._q2c_subscription([(self.plan_seat, 1)], partner=partner)
        result = self._run("2026-01-01")
        invoices = self._invoices(result).sorted("sequence_number")
        self.assertEqual(len(invoices), 4)
        self.assertEqual(set(invoices.mapped("state")), {"posted"})
        self.assertEqual(len(set(invoices.mapped("sequence_prefix"))), 1)
        numbers = invoices.mapped("sequence_number")
        self.assertEqual(numbers, list(range(numbers[0], numbers[0] + 4)))
        self.assertEqual(len(set(invoices.mapped("name"))), 4)
        run = self.env["q2c.billing.run"].search([], limit=1)
        for invoice in invoices:
            self.assertIn(invoice.partner_id, invoice.message_partner_ids)
            self.assertEqual(invoice.q2c_billing_run_id, run)
            self.assertEqual(invoice.checked, invoice.journal_id.autocheck_on_post)
            self.assertMoveBalanced(invoice)
        manual = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.partner.id,
                "journal_id": invoices[0].journal_id.id,
                "invoice_date": date(2026, 1, 1),
                "invoice_line_ids": [
                    Command.create({"product_id": self.plan_seat.product_id.id, "price_unit": 5})
                ],
            }
        )
        manual.action_post()
        self.assertEqual(manual.sequence_prefix, invoices[0].sequence_prefix)
        self.assertEqual(manual.sequence_number, numbers[-1] + 1)

    def test_failure_at_commit_isolated_without_number_gap(self):
        """A subscription failing once its invoices are created (here: when its billing state
        is written) rolls back the batch; the others are billed one group at a time, with
        invoice numbers following the last one (none lost to the rolled back attempt)."""
        partners = self.env["res.partner"].create([{"name": f"Retry {i}"} for i in range(3)])
        subs = self.env["q2c.subscription"]
        for partner in partners:
            subs |= self._q2c_subscription([(self.plan_seat, 1)], partner=partner)
        bad = subs[1]
        journal = self.env["q2c.billing.run"]._q2c_journal(self.env.company)
        last = self.env["account.move"].search(
            [("journal_id", "=", journal.id), ("state", "=", "posted")],
            order="sequence_number desc",
            limit=1,
        )
        Run = type(self.env["q2c.billing.run"])
        write_back = Run._q2c_write_back

        def failing_write_back(run, plans, moves_by_sub):
            if any(plan["sub"] == bad for plan in plans):
                raise ValidationError(self.env._("cannot write the billing state"))
            return write_back(run, plans, moves_by_sub)

        with patch.object(Run, "_q2c_write_back", failing_write_back):
            result = self._run("2026-01-01")
        self.assertEqual((result["billed"], result["skipped"]), (2, 1))
        self.assertEqual([error["subscription_id"] for error in result["errors"]], [bad.id])
        invoices = self._invoices(result).sorted("sequence_number")
        self.assertEqual(invoices.invoice_line_ids.q2c_subscription_id, subs - bad)
        self.assertEqual(len(result["invoice_ids"]), 2)
        start = last.sequence_number if last.sequence_prefix == invoices[0].sequence_prefix else 0
        self.assertEqual(invoices.mapped("sequence_number"), [start + 1, start + 2])
        self.assertEqual(bad.next_invoice_date, date(2026, 1, 1))

    def test_batch_post_past_lock_date(self):
        """An invoice date before the company's sales lock date: posting moves the accounting
        date after it (Odoo's standard path, journal items synchronised)."""
        self._q2c_subscription([(self.plan_platform, 1), (self.plan_seat, 2)])
        self.env.company.sale_lock_date = date(2026, 1, 15)
        invoice = self._invoices(self._run("2026-01-01"))
        self.assertEqual(invoice.state, "posted")
        self.assertEqual(invoice.invoice_date, date(2026, 1, 1))
        self.assertGreater(invoice.date, date(2026, 1, 15))
        self.assertEqual(set(invoice.line_ids.mapped("date")), {invoice.date})
        self.assertEqual(invoice.amount_total, 132.0)
        self.assertMoveBalanced(invoice)

    def test_batch_query_count(self):
        """The batch path: invoices created in one call with all their journal items and
        posted together; the queries grow far slower than the invoices."""
        self.env["ir.config_parameter"].sudo().set_param("q2c_billing.batch_size", 100)
        self._count_run_queries(2, date(2026, 1, 1))  # warm the caches
        small = self._count_run_queries(5, date(2026, 2, 1))
        large = self._count_run_queries(25, date(2026, 3, 1))
        per_invoice = (large - small) / 20
        _logger.info("q2c billing: %s queries for 5 invoices, %s for 25", small, large)
        self.assertLess(per_invoice, 15, f"{small} queries for 5 invoices, {large} for 25")
        partners = self.env["res.partner"].create([{"name": f"Fixed {i}"} for i in range(10)])
        subs = self.env["q2c.subscription"]
        for partner in partners:
            subs |= self._q2c_subscription(
                [(self.plan_seat, 2), (self.plan_platform, 1)],
                partner=partner,
                start=date(2026, 4, 1),
            )
        self.env.flush_all()
        self.env.invalidate_all()
        with self.assertQueryCount(160):
            result = self.env["q2c.billing.run"]._q2c_run(
                date(2026, 4, 1), subscriptions=subs, trigger="api"
            )
        self.assertEqual(len(result["invoice_ids"]), 10)


@tagged("post_install", "-at_install")
class TestBillingJournalItems(Q2cSubscriptionCommon):
    """The run gives each invoice all its journal items (computed with Odoo's tax and payment
    term helpers); they must be exactly those Odoo computes from the invoice lines."""

    def _items(self, move):
        return sorted(
            (
                line.display_type,
                line.account_id.id,
                line.tax_repartition_line_id.id,
                tuple(sorted(line.tax_ids.ids)),
                tuple(sorted(line.tax_tag_ids.ids)),
                round(line.balance, 2),
                round(line.amount_currency, 2),
                line.date_maturity or False,
                line.currency_id.id,
            )
            for line in move.line_ids
        )

    def _assert_same_as_odoo(self, invoice):
        standard = self.env["account.move"].create(
            {
                "move_type": invoice.move_type,
                "partner_id": invoice.partner_id.id,
                "currency_id": invoice.currency_id.id,
                "journal_id": invoice.journal_id.id,
                "invoice_date": invoice.invoice_date,
                "fiscal_position_id": invoice.fiscal_position_id.id,
                "invoice_payment_term_id": invoice.invoice_payment_term_id.id,
                "invoice_date_due": invoice.invoice_date_due,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "product_id": line.product_id.id,
                            "name": line.name,
                            "quantity": line.quantity,
                            "price_unit": line.price_unit,
                            "discount": line.discount,
                            "tax_ids": [Command.set(line.tax_ids.ids)],
                            "account_id": line.account_id.id,
                        }
                    )
                    for line in invoice.invoice_line_ids
                ],
            }
        )
        self.assertEqual(self._items(invoice), self._items(standard))
        self.assertEqual(
            (
                invoice.amount_untaxed,
                invoice.amount_tax,
                invoice.amount_total,
                invoice.amount_total_signed,
                invoice.invoice_date_due,
            ),
            (
                standard.amount_untaxed,
                standard.amount_tax,
                standard.amount_total,
                standard.amount_total_signed,
                standard.invoice_date_due,
            ),
        )
        self.assertMoveBalanced(invoice)

    def test_taxes_included_excluded_and_none(self):
        self._q2c_subscription(
            [
                (self.plan_incl, 3),
                (self.plan_seat, 7, {"discount": 12.5}),
                (self.plan_untaxed, 1),
                (self.plan_platform, 1),
            ],
            start=date(2026, 1, 17),
            alignment="calendar",
        )
        self._assert_same_as_odoo(self._invoices(self._run("2026-01-17")))

    def test_foreign_currency(self):
        self._q2c_subscription(
            [(self.plan_platform_eur, 1), (self.plan_seat_eur, 13)],
            partner=self.partner_eu,
            currency=self.eur,
            start=date(2026, 1, 9),
            alignment="calendar",
        )
        invoice = self._invoices(self._run("2026-01-09"))
        self.assertEqual(invoice.currency_id, self.eur)
        self._assert_same_as_odoo(invoice)

    def test_payment_terms_in_installments(self):
        term = self.env["account.payment.term"].create(
            {
                "name": "30% now, 70% in 30 days",
                "line_ids": [
                    Command.create({"value": "percent", "value_amount": 30.0, "nb_days": 0}),
                    Command.create({"value": "percent", "value_amount": 70.0, "nb_days": 30}),
                ],
            }
        )
        self._q2c_subscription([(self.plan_seat, 3), (self.plan_incl, 1)], payment_term_id=term.id)
        invoice = self._invoices(self._run("2026-01-01"))
        self.assertEqual(
            len(invoice.line_ids.filtered(lambda line: line.display_type == "payment_term")), 2
        )
        self.assertEqual(invoice.invoice_date_due, date(2026, 1, 31))
        self._assert_same_as_odoo(invoice)

    def test_fiscal_position_and_refund(self):
        fpos = self.env["account.fiscal.position"].create(
            {
                "name": "Reduced",
                "tax_ids": [
                    Command.create(
                        {"tax_src_id": self.tax_21_incl.id, "tax_dest_id": self.tax_10.id}
                    )
                ],
            }
        )
        sub = self._q2c_subscription(
            [(self.plan_incl, 2), (self.plan_seat, 5)],
            fiscal_position_id=fpos.id,
            start=date(2026, 4, 1),
        )
        invoice = self._invoices(self._run("2026-04-01"))
        # 121 tax included mapped to 10% excluded: 100 + 10 %.
        self.assertEqual(
            invoice.invoice_line_ids.filtered(
                lambda line: line.product_id == self.product_incl
            ).price_subtotal,
            100.0,
        )
        self._assert_same_as_odoo(invoice)
        sub.apply_change(
            [{"line_id": line.id, "quantity": 0} for line in sub.line_ids], date(2026, 4, 2)
        )
        refund = self._invoices(self._run("2026-05-01"))
        self.assertEqual(refund.move_type, "out_refund")
        # 29/30 of (121 incl. mapped to 100 excl.) and of 50: 96.67 + 48.33 credited.
        self.assertEqual(refund.amount_untaxed, 145.0)
        self._assert_same_as_odoo(refund)


@tagged("post_install", "-at_install")
class TestBillingCron(Q2cSubscriptionCommon):
    def test_cron_commits_per_batch_and_retriggers(self):
        """The scheduled run bills in batches, commits each, reports its progress and, past its
        time budget, triggers itself for the rest."""
        self.env["ir.config_parameter"].sudo().set_param("q2c_billing.batch_size", 1)
        partners = self.env["res.partner"].create([{"name": f"Cron {i}"} for i in range(3)])
        subs = self.env["q2c.subscription"]
        today = date.today()
        for partner in partners:
            subs |= self._q2c_subscription([(self.plan_seat, 1)], partner=partner, start=today)
        cron = self.env.ref("q2c_billing.q2c_billing_run_cron")
        commits = []
        with (
            patch.object(self.env.cr, "commit", lambda: commits.append(1)),
            patch("odoo.addons.q2c_billing.models.q2c_billing_run.CRON_TIME_BUDGET", -1),
        ):
            self.env["q2c.billing.run"]._cron_run_billing()
        run = self.env["q2c.billing.run"].search([("trigger", "=", "cron")], limit=1)
        # Budget spent after the first batch: one subscription billed, the cron re-triggered.
        self.assertEqual(run.billed_count, 1)
        self.assertGreaterEqual(len(commits), 2)
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]))
        with patch.object(self.env.cr, "commit", lambda: commits.append(1)):
            self.env["q2c.billing.run"]._cron_run_billing()
        self.assertEqual(sum(sub.invoice_count for sub in subs), 3)
