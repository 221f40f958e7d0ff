from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import Q2cRevrecCommon


@tagged("post_install", "-at_install")
class TestQ2cWaterfall(Q2cRevrecCommon):
    def test_waterfall(self):
        Contract = self.env["q2c.revenue.contract"]
        # Billed quarterly in advance: 300 on Jan 1 and Apr 1, 100 recognized a month.
        advance = self._q2c_contract(
            1200.0,
            [
                self._q2c_obligation(
                    self.product_support, ssp=1200.0, start="2026-01-01", end="2026-12-31"
                )
            ],
        )
        advance.action_activate()
        self._q2c_invoice(advance, 300.0, "2026-01-01")
        self._q2c_invoice(advance, 300.0, "2026-04-01")
        # Billed in arrears: 31 recognized Jan 17 / Feb 14, invoiced on Feb 10.
        arrears = self._q2c_contract(
            31.0,
            [
                self._q2c_obligation(
                    self.product_saas, ssp=31.0, start="2026-01-15", end="2026-02-14"
                )
            ],
        )
        arrears.action_activate()
        self._q2c_invoice(arrears, 31.0, "2026-02-10")
        self._q2c_invoice(arrears, 31.0, "2026-02-11", post=False)  # draft: not billed

        rows = Contract.waterfall("2026-01-01", "2026-04-30")
        table = {(row["contract"], row["month"]): row for row in rows}

        def figures(contract, month):
            row = table[(contract.name, month)]
            return row["billed"], row["recognized"], row["deferred"], row["unbilled"]

        self.assertEqual(figures(advance, "2026-01"), (300.0, 100.0, 200.0, 0.0))
        self.assertEqual(figures(advance, "2026-02"), (0.0, 100.0, 100.0, 0.0))
        self.assertEqual(figures(advance, "2026-03"), (0.0, 100.0, 0.0, 0.0))
        self.assertEqual(figures(advance, "2026-04"), (300.0, 100.0, 200.0, 0.0))
        self.assertEqual(figures(arrears, "2026-01"), (0.0, 17.0, 0.0, 17.0))
        self.assertEqual(figures(arrears, "2026-02"), (31.0, 14.0, 0.0, 0.0))
        self.assertNotIn((arrears.name, "2026-03"), table, "nothing left on the contract")
        row = table[(advance.name, "2026-01")]
        self.assertEqual(
            (row["contract_id"], row["currency"], row["partner_id"]),
            (advance.id, "USD", self.partner_a.id),
        )

    def test_waterfall_rev_ratable_02(self):
        """REV-RATABLE-02: deferred revenue +14 in January, -14 in February."""
        contract = self._q2c_contract(
            31.0,
            [
                self._q2c_obligation(
                    self.product_saas, ssp=31.0, start="2026-01-15", end="2026-02-14"
                )
            ],
        )
        contract.action_activate()
        self._q2c_invoice(contract, 31.0, "2026-01-15")
        rows = self.env["q2c.revenue.contract"].waterfall("2026-01-01", "2026-02-28")
        self.assertEqual(
            [(r["month"], r["recognized"], r["deferred"], r["unbilled"]) for r in rows],
            [("2026-01", 17.0, 14.0, 0.0), ("2026-02", 14.0, 0.0, 0.0)],
        )

    def test_waterfall_bad_dates(self):
        Contract = self.env["q2c.revenue.contract"]
        with self.assertRaisesRegex(UserError, "date_from"):
            Contract.waterfall("2026-13-01", "2026-12-31")
        with self.assertRaisesRegex(UserError, "after date_to"):
            Contract.waterfall("2026-12-01", "2026-01-31")
