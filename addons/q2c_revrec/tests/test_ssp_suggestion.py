from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import Q2cRevrecCommon


@tagged("post_install", "-at_install")
class TestQ2cSspSuggestion(Q2cRevrecCommon):
    def _sell(self, lines, date="2026-03-10", move_type="out_invoice", currency=None):
        invoice = self.env["account.move"].create(
            {
                "move_type": move_type,
                "partner_id": self.partner_a.id,
                "invoice_date": date,
                "currency_id": (currency or self.usd).id,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "product_id": product.id,
                            "quantity": 1,
                            "price_unit": price,
                            "discount": discount,
                            "tax_ids": [Command.clear()],
                        }
                    )
                    for product, price, discount in lines
                ],
            }
        )
        invoice.action_post()
        return invoice

    def test_suggest_median_and_band(self):
        product = self.product_plain
        for price in (100.0, 110.0, 150.0):
            self._sell([(product, price, 0.0)])
        self._sell([(product, 200.0, 40.0)])  # 120 net of the discount
        self._sell([(product, 10.0, 0.0), (self.product_setup, 500.0, 0.0)])  # bundled
        self._sell([(product, 999.0, 0.0)], date="2025-01-10")  # outside the dates
        self._sell([(product, 999.0, 0.0)], move_type="out_refund")
        ssp = self.env["q2c.ssp"].create(
            {
                "product_id": product.id,
                "currency_id": self.usd.id,
                "price": 1.0,
                "date_from": "2026-01-01",
                "date_to": "2026-12-31",
            }
        )
        ssp.action_q2c_suggest_from_sales()
        # Standalone net prices 100, 110, 120, 150: median 115, quartiles 107.50 and 127.50.
        self.assertEqual((ssp.price, ssp.price_low, ssp.price_high), (115.0, 107.5, 127.5))

    def test_no_sales(self):
        ssp = self.env["q2c.ssp"].create(
            {"product_id": self.product_support.id, "currency_id": self.usd.id, "price": 1.0}
        )
        with self.assertRaisesRegex(UserError, "no standalone sale"):
            ssp.action_q2c_suggest_from_sales()
        self.assertEqual(ssp.price, 1.0)
