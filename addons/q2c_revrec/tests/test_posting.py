from freezegun import freeze_time

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import Q2cRevrecCommon


@tagged("post_install", "-at_install")
class TestQ2cPosting(Q2cRevrecCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Run = cls.env["q2c.revrec.run"]
        cls.analytic_plan = cls.env["account.analytic.plan"].create({"name": "Revrec plan"})
        cls.analytic_account = cls.env["account.analytic.account"].create(
            {"name": "SaaS line", "plan_id": cls.analytic_plan.id}
        )

    def _ratable_02(self, **obligation_vals):
        contract = self._q2c_contract(
            31.0,
            [
                self._q2c_obligation(
                    self.product_saas,
                    ssp=31.0,
                    start="2026-01-15",
                    end="2026-02-14",
                    **obligation_vals,
                )
            ],
            date="2026-01-15",
        )
        contract.action_activate()
        return contract

    def _move_lines(self, result):
        return self.env["account.move"].browse(result["move_ids"]).line_ids

    def _by_account(self, lines):
        result = {}
        for line in lines:
            result[line.account_id] = self.usd.round(
                result.get(line.account_id, 0.0) + line.balance
            )
        return result

    def test_rev_ratable_02_ledger(self):
        """REV-RATABLE-02: invoice 31 on Jan 15 to deferred revenue; recognition moves 17 in
        January and 14 in February from deferred revenue to revenue."""
        contract = self._ratable_02()
        invoice = self._q2c_invoice(contract, 31.0, "2026-01-15")
        product_line = invoice.invoice_line_ids
        self.assertEqual(
            product_line.account_id, self.deferred_account, "deferred product: contract liability"
        )
        self.assertEqual(self._q2c_balance(self.deferred_account, "2026-01-15"), -31.0)

        jan = self.Run.run_recognition("2026-01-31")
        self.assertEqual(jan["recognized"], 17.0)
        self.assertEqual(len(jan["move_ids"]), 1)
        move = self.env["account.move"].browse(jan["move_ids"])
        self.assertEqual(move.state, "posted")
        self.assertEqual(move.journal_id, self.revrec_journal)
        self.assertEqual(str(move.date), "2026-01-31")
        self.assertEqual(
            self._by_account(move.line_ids),
            {self.deferred_account: 17.0, self.revenue_account: -17.0},
        )
        self.assertEqual(
            self._q2c_balance(self.deferred_account, "2026-01-31"),
            -14.0,
            "deferred balance after January",
        )
        self.assertEqual(self._q2c_balance(self.revenue_account, "2026-01-31"), -17.0)

        feb = self.Run.run_recognition("2026-02-28")
        self.assertEqual(feb["recognized"], 14.0)
        self.assertEqual(self._q2c_balance(self.deferred_account, "2026-02-28"), 0.0)
        self.assertEqual(self._q2c_balance(self.revenue_account, "2026-02-28"), -31.0)
        self.assertEqual(contract.recognized_amount, 31.0)
        self.assertEqual(contract.billed_amount, 31.0)
        self.assertEqual(set(contract.schedule_line_ids.mapped("state")), {"posted"})
        self.assertEqual(contract.move_count, 2)

    def test_idempotent(self):
        self._ratable_02()
        first = self.Run.run_recognition("2026-03-31")
        self.assertEqual(first["recognized"], 31.0)
        self.assertEqual(len(first["move_ids"]), 2, "one entry per period")
        again = self.Run.run_recognition("2026-03-31")
        self.assertEqual(again, {"move_ids": [], "recognized": 0.0, "line_count": 0})
        self.assertFalse(self.Run.search([("line_count", "=", 0)]), "empty runs are not kept")

    def test_only_due_periods(self):
        contract = self._ratable_02()
        result = self.Run.run_recognition("2026-02-27")
        self.assertEqual(result["recognized"], 17.0, "February ends after the run date")
        self.assertEqual(contract.schedule_line_ids.mapped("state"), ["posted", "planned"])

    def test_one_entry_per_period_and_grouped_lines(self):
        analytic = {str(self.analytic_account.id): 100}
        first = self._ratable_02(analytic_distribution=analytic)
        second = self._ratable_02(analytic_distribution=analytic)
        third = self._ratable_02()
        result = self.Run.run_recognition("2026-01-31")
        self.assertEqual(len(result["move_ids"]), 1)
        self.assertEqual(result["recognized"], 51.0)
        lines = self._move_lines(result)
        revenue = lines.filtered(lambda line: line.account_id == self.revenue_account)
        self.assertEqual(len(revenue), 2, "revenue grouped by account and analytic distribution")
        with_analytic = revenue.filtered("analytic_distribution")
        self.assertEqual(with_analytic.balance, -34.0)
        self.assertEqual(with_analytic.analytic_distribution, analytic)
        self.assertEqual(with_analytic.analytic_line_ids.amount, 34.0)
        unbilled = lines.filtered(lambda line: line.account_id == self.unbilled_account)
        self.assertEqual(len(unbilled), 3, "contract asset lines are kept per contract")
        self.assertEqual(unbilled.q2c_revenue_contract_id, first + second + third)
        self.assertEqual(unbilled.mapped("balance"), [17.0, 17.0, 17.0])
        self.assertEqual(unbilled.mapped("debit"), [17.0, 17.0, 17.0])
        move = lines.move_id
        self.assertEqual(set(unbilled.mapped("parent_state")), {"posted"})
        self.assertEqual(set(unbilled.mapped("move_name")), {move.name})
        self.assertEqual(set(unbilled.mapped("date")), {move.date})
        self.assertEqual(move.amount_total, 51.0)
        self.assertEqual(self.usd.round(sum(lines.mapped("balance"))), 0.0)
        self.assertEqual(
            (first + second + third)
            .schedule_line_ids.filtered(lambda line: line.state == "posted")
            .move_id.ids,
            result["move_ids"],
        )

    def test_unbilled_then_billing_catches_up(self):
        contract = self._ratable_02()
        jan = self.Run.run_recognition("2026-01-31")
        self.assertEqual(
            self._by_account(self._move_lines(jan)),
            {self.unbilled_account: 17.0, self.revenue_account: -17.0},
            "nothing billed: the revenue is a contract asset",
        )
        self._q2c_invoice(contract, 31.0, "2026-02-05")
        feb = self.Run.run_recognition("2026-02-28")
        # February: 14 of revenue from the liability, and the 17 of asset netted against it.
        self.assertEqual(
            self._by_account(self._move_lines(feb)),
            {
                self.deferred_account: 31.0,
                self.unbilled_account: -17.0,
                self.revenue_account: -14.0,
            },
        )
        self.assertEqual(self._q2c_balance(self.unbilled_account), 0.0)
        self.assertEqual(self._q2c_balance(self.deferred_account), 0.0)
        self.assertEqual(self.Run.run_recognition("2026-02-28")["move_ids"], [])

    def test_partly_billed(self):
        contract = self._ratable_02()
        self._q2c_invoice(contract, 10.0, "2026-01-15")
        jan = self.Run.run_recognition("2026-01-31")
        self.assertEqual(
            self._by_account(self._move_lines(jan)),
            {self.deferred_account: 10.0, self.unbilled_account: 7.0, self.revenue_account: -17.0},
        )
        self.assertEqual(contract.schedule_line_ids.sorted("date")[0].unbilled_amount, 7.0)

    def test_billing_after_last_period_is_netted(self):
        contract = self._ratable_02()
        self.Run.run_recognition("2026-02-28")
        self.assertEqual(self._q2c_balance(self.unbilled_account), 31.0)
        self._q2c_invoice(contract, 31.0, "2026-03-03")
        result = self.Run.run_recognition("2026-03-31")
        self.assertEqual(result["recognized"], 0.0)
        self.assertEqual(len(result["move_ids"]), 1)
        self.assertEqual(self._q2c_balance(self.unbilled_account), 0.0)
        self.assertEqual(self._q2c_balance(self.deferred_account), 0.0)
        netting = contract.schedule_line_ids.filtered(lambda line: line.line_type == "reclass")
        self.assertEqual(
            (netting.amount, netting.unbilled_amount, str(netting.date)), (0.0, -31.0, "2026-03-31")
        )
        self.assertEqual(self.Run.run_recognition("2026-03-31")["move_ids"], [])

    def test_lock_date_moves_posting_forward(self):
        contract = self._ratable_02()
        self.company.fiscalyear_lock_date = "2026-01-31"
        result = self.Run.run_recognition("2026-01-31")
        move = self.env["account.move"].browse(result["move_ids"])
        self.assertEqual(str(move.date), "2026-02-01", "first open date")
        jan = contract.schedule_line_ids.sorted("date")[0]
        self.assertEqual(
            (jan.state, str(jan.posted_date), str(jan.date)), ("posted", "2026-02-01", "2026-01-31")
        )
        notes = contract.message_ids.mapped("body")
        self.assertTrue(
            any("locked" in str(body) and "02/01/2026" in str(body) for body in notes), notes
        )

    def test_sale_lock_date(self):
        self._ratable_02()
        self.company.sale_lock_date = "2026-02-28"
        result = self.Run.run_recognition("2026-02-28")
        moves = self.env["account.move"].browse(result["move_ids"])
        self.assertEqual(set(moves.mapped("date")), {fields.Date.to_date("2026-03-01")})
        self.assertEqual(result["recognized"], 31.0)

    def test_foreign_currency_contract(self):
        eur = self.env.ref("base.EUR")
        eur.active = True
        self.env["res.currency.rate"].create(
            {
                "name": "2026-01-01",
                "rate": 0.5,
                "currency_id": eur.id,
                "company_id": self.company.id,
            }
        )
        contract = self._q2c_contract(
            31.0,
            [
                self._q2c_obligation(
                    self.product_saas, ssp=31.0, start="2026-01-15", end="2026-02-14"
                )
            ],
            currency=eur,
        )
        contract.action_activate()
        result = self.Run.run_recognition("2026-01-31")
        move = self.env["account.move"].browse(result["move_ids"])
        self.assertEqual(move.currency_id, eur)
        revenue = move.line_ids.filtered(lambda line: line.account_id == self.revenue_account)
        self.assertEqual((revenue.amount_currency, revenue.balance), (-17.0, -34.0))
        self.assertEqual(result["recognized"], 34.0, "company currency")

    def test_missing_configuration(self):
        self._ratable_02()
        self.company.q2c_unbilled_revenue_account_id = False
        with self.assertRaisesRegex(UserError, "SaaS Platform.*unbilled revenue account"):
            self.Run.run_recognition("2026-01-31")

    def test_category_accounts(self):
        category = self.env["product.category"].create({"name": "Subscriptions"})
        child = self.env["product.category"].create({"name": "SaaS", "parent_id": category.id})
        other_deferred = self.deferred_account.copy({"code": "212098"})
        category.q2c_deferred_revenue_account_id = other_deferred
        self.product_saas.categ_id = child
        contract = self._ratable_02()
        invoice = self._q2c_invoice(contract, 31.0, "2026-01-15")
        self.assertEqual(invoice.invoice_line_ids.account_id, other_deferred)
        result = self.Run.run_recognition("2026-01-31")
        self.assertEqual(self._by_account(self._move_lines(result))[other_deferred], 17.0)

    def test_access(self):
        self._ratable_02()
        user = new_test_user(
            self.env,
            "q2c_rr_user",
            groups="q2c_revrec.group_q2c_revrec_user",
            company_id=self.company.id,
        )
        with self.assertRaises(AccessError):
            self.Run.with_user(user).run_recognition("2026-01-31")
        with self.assertRaisesRegex(UserError, "not a date"):
            self.Run.run_recognition("31/01/2026")

    def test_run_button_and_cron(self):
        self._ratable_02()
        run = self.Run.create({"date": "2026-01-31"})
        run.action_run()
        self.assertEqual(
            (run.state, run.line_count, run.recognized, run.move_count), ("done", 1, 17.0, 1)
        )
        with freeze_time("2026-03-01"):
            self.Run._cron_run_recognition()
        self.assertEqual(self.Run.search([], order="id desc", limit=1).recognized, 14.0)

    def test_set_based_queries(self):
        """The run's query count does not grow with the number of contracts."""

        def contracts(count, day):
            for _i in range(count):
                self._q2c_contract(
                    10.0, [self._q2c_obligation(self.product_setup, ssp=10.0, start=day)], date=day
                ).action_activate()

        def queries(day):
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.cr.sql_log_count
            result = self.Run.run_recognition(day)
            self.env.flush_all()
            return self.cr.sql_log_count - before, result

        contracts(1, "2026-02-10")
        queries("2026-02-28")  # warm-up: first entry of the journal
        contracts(2, "2026-03-10")
        small, result = queries("2026-03-31")
        self.assertEqual(result["recognized"], 20.0)
        contracts(8, "2026-04-10")
        large, result = queries("2026-04-30")
        self.assertEqual(result["recognized"], 80.0)
        self.assertEqual(small, large)

    def test_multi_company(self):
        other = self.setup_other_company(name="Q2C Other Co")["company"]
        self.assertTrue(other.q2c_revrec_journal_id, "defaults set when the chart is loaded")
        self.assertTrue(other.q2c_deferred_revenue_account_id)
        self.assertTrue(other.q2c_unbilled_revenue_account_id)
        mine = self._ratable_02()
        theirs = (
            self.env["q2c.revenue.contract"]
            .with_company(other)
            .create(
                {
                    "partner_id": self.partner_a.id,
                    "company_id": other.id,
                    "currency_id": other.currency_id.id,
                    "date": "2026-01-15",
                    "transaction_price": 31.0,
                    "obligation_ids": [
                        Command.create(
                            self._q2c_obligation(
                                self.product_saas, ssp=31.0, start="2026-01-15", end="2026-02-14"
                            )
                        )
                    ],
                }
            )
        )
        theirs.with_company(other).action_activate()
        result = self.Run.with_context(allowed_company_ids=self.company.ids).run_recognition(
            "2026-01-31"
        )
        self.assertEqual(result["recognized"], 17.0, "only the user's active company")
        self.assertEqual(mine.schedule_line_ids.mapped("state"), ["posted", "planned"])
        self.assertEqual(set(theirs.schedule_line_ids.mapped("state")), {"planned"})
        Contract = self.env["q2c.revenue.contract"].with_context(
            allowed_company_ids=self.company.ids
        )
        self.assertNotIn(theirs, Contract.search([]), "multi-company rule")
        result = self.Run.with_context(allowed_company_ids=other.ids).run_recognition("2026-01-31")
        move = self.env["account.move"].browse(result["move_ids"])
        self.assertEqual(move.company_id, other)
        self.assertEqual(move.journal_id, other.q2c_revrec_journal_id)
        self.assertIn(other.q2c_unbilled_revenue_account_id, move.line_ids.account_id)
