from dateutil.relativedelta import relativedelta

from odoo import Command, fields
from odoo.tests import tagged

from .common import Q2cRevrecCommon


@tagged("post_install", "-at_install")
class TestQ2cRevrecReports(Q2cRevrecCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Run = cls.env["q2c.revrec.run"]
        cls.Reconciliation = cls.env["q2c.revrec.reconciliation"]
        cls.Rollforward = cls.env["q2c.revrec.deferred.rollforward"]
        cls.Rpo = cls.env["q2c.revrec.rpo"]

    def _pay(self, invoice, date):
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"payment_date": date})._create_payments()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))

    def _recon(self, contract):
        self.env.flush_all()
        self.Reconciliation.invalidate_model()
        rows = self.Reconciliation.search([("contract_id", "=", contract.id)])
        return {
            row.role: (row.subledger_balance, row.ledger_balance, row.difference) for row in rows
        }

    def _full_cycle(self):
        """A yearly SaaS contract billed up front and paid, and an onboarding recognized before
        it is billed; recognition runs from January to April."""
        saas = self._q2c_contract(
            1200.0,
            [
                self._q2c_obligation(
                    self.product_support, ssp=1200.0, start="2026-01-01", end="2026-12-31"
                )
            ],
        )
        saas.action_activate()
        onboarding = self._q2c_contract(
            500.0,
            [self._q2c_obligation(self.product_setup, ssp=500.0, start="2026-01-15")],
            date="2026-01-15",
        )
        onboarding.action_activate()
        invoice = self._q2c_invoice(saas, 1200.0, "2026-01-01")
        self.assertEqual(invoice.invoice_line_ids.account_id, self.deferred_account)
        self._pay(invoice, "2026-01-20")
        for day in ("2026-01-31", "2026-02-28"):
            self.Run.run_recognition(day)
        self.assertFalse(self.Reconciliation._q2c_reconciliation_differences())
        # Billing of the onboarding before the run that nets it: still reconciled.
        late = self._q2c_invoice(onboarding, 500.0, "2026-03-10", product=self.product_setup)
        self._pay(late, "2026-03-15")
        self.assertEqual(
            self._recon(onboarding),
            {"deferred": (500.0, 500.0, 0.0), "unbilled": (500.0, 500.0, 0.0)},
        )
        for day in ("2026-03-31", "2026-04-30"):
            self.Run.run_recognition(day)
        return saas, onboarding

    def test_reconciliation_full_cycle(self):
        saas, onboarding = self._full_cycle()
        self.assertFalse(self.Reconciliation._q2c_reconciliation_differences())
        self.assertEqual(
            self._recon(saas), {"deferred": (800.0, 800.0, 0.0), "unbilled": (0.0, 0.0, 0.0)}
        )
        self.assertEqual(
            self._recon(onboarding), {"deferred": (0.0, 0.0, 0.0), "unbilled": (0.0, 0.0, 0.0)}
        )
        self.assertEqual(self._q2c_balance(self.deferred_account), -800.0)
        self.assertEqual(self._q2c_balance(self.unbilled_account), 0.0)

    def test_reconciliation_manual_entry_is_a_difference(self):
        saas, onboarding = self._full_cycle()
        entry = self.env["account.move"].create(
            {
                "move_type": "entry",
                "date": "2026-04-30",
                "journal_id": self.company_data["default_journal_misc"].id,
                "line_ids": [
                    Command.create(
                        {
                            "account_id": self.deferred_account.id,
                            "debit": 50.0,
                            "q2c_revenue_contract_id": saas.id,
                        }
                    ),
                    Command.create({"account_id": self.revenue_account.id, "credit": 50.0}),
                ],
            }
        )
        entry.action_post()
        differences = self.Reconciliation._q2c_reconciliation_differences()
        self.assertEqual(differences.contract_id, saas)
        self.assertEqual(differences.role, "deferred")
        self.assertEqual(differences.account_id, self.deferred_account)
        self.assertEqual(
            (differences.subledger_balance, differences.ledger_balance, differences.difference),
            (800.0, 750.0, 50.0),
        )
        self.assertNotIn(onboarding, differences.contract_id)

    def test_deferred_rollforward(self):
        saas, onboarding = self._full_cycle()
        self.env.flush_all()
        rows = self.Rollforward.search([("contract_id", "=", saas.id)], order="date")
        self.assertEqual(
            [
                (fields.Date.to_string(r.date), r.opening, r.billed, r.recognized, r.closing)
                for r in rows
            ],
            [
                ("2026-01-01", 0.0, 1200.0, 100.0, 1100.0),
                ("2026-02-01", 1100.0, 0.0, 100.0, 1000.0),
                ("2026-03-01", 1000.0, 0.0, 100.0, 900.0),
                ("2026-04-01", 900.0, 0.0, 100.0, 800.0),
            ],
        )
        rows = self.Rollforward.search([("contract_id", "=", onboarding.id)], order="date")
        self.assertEqual(
            [(r.opening, r.billed, r.recognized, r.closing) for r in rows],
            [(0.0, 0.0, 500.0, -500.0), (-500.0, 0.0, 0.0, -500.0), (-500.0, 500.0, 0.0, 0.0)],
            "recognized before billed: a contract asset until March",
        )

    def test_remaining_performance_obligations(self):
        month = fields.Date.context_today(self.env.user).replace(day=1)
        contract = self._q2c_contract(
            2400.0,
            [
                self._q2c_obligation(
                    self.product_support,
                    ssp=2400.0,
                    start=month,
                    end=month + relativedelta(months=24, days=-1),
                )
            ],
            date=month,
        )
        contract.action_activate()
        self.env.flush_all()
        self.Rpo.invalidate_model()
        row = self.Rpo.search([("contract_id", "=", contract.id)])
        self.assertEqual(
            (row.remaining_amount, row.next_12_months, row.beyond_12_months),
            (2400.0, 1200.0, 1200.0),
        )
        self.assertEqual(row.partner_id, self.partner_a)
        self.Run.run_recognition(month + relativedelta(months=1, days=-1))
        self.env.flush_all()
        self.Rpo.invalidate_model()
        row = self.Rpo.search([("contract_id", "=", contract.id)])
        self.assertEqual(
            (row.recognized_amount, row.remaining_amount, row.next_12_months, row.beyond_12_months),
            (100.0, 2300.0, 1100.0, 1200.0),
        )
