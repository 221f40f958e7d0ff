from dateutil.relativedelta import relativedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL


class Q2cSsp(models.Model):
    _name = "q2c.ssp"
    _description = "Standalone Selling Price"
    _order = "product_id, currency_id, date_from desc, id"

    product_id = fields.Many2one("product.product", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    currency_id = fields.Many2one(
        "res.currency", required=True, default=lambda self: self.env.company.currency_id
    )
    price = fields.Monetary(string="SSP", required=True, currency_field="currency_id")
    price_low = fields.Monetary(
        string="Range Low",
        currency_field="currency_id",
        help="Lower end of the observed SSP range.",
    )
    price_high = fields.Monetary(
        string="Range High",
        currency_field="currency_id",
        help="Upper end of the observed SSP range.",
    )
    date_from = fields.Date(string="Valid From")
    date_to = fields.Date(string="Valid To")

    @api.constrains("price", "price_low", "price_high", "date_from", "date_to")
    def _check_price_and_dates(self):
        for ssp in self:
            name = ssp.product_id.display_name
            if ssp.price < 0:
                raise ValidationError(
                    _("SSP of %(product)s: the price cannot be negative.", product=name)
                )
            if ssp.price_low and ssp.price_high and ssp.price_low > ssp.price_high:
                raise ValidationError(
                    _("SSP of %(product)s: the range low is above the range high.", product=name)
                )
            if ssp.date_from and ssp.date_to and ssp.date_from > ssp.date_to:
                raise ValidationError(
                    _("SSP of %(product)s: 'Valid From' is after 'Valid To'.", product=name)
                )

    # ------------------------------------------------------------------
    # Suggestion from the company's own standalone sales
    # ------------------------------------------------------------------

    def action_q2c_suggest_from_sales(self):
        """Fill price, range low and range high from the standalone sales of the product."""
        self.check_access("write")
        for ssp in self:
            suggestion = ssp._q2c_suggest_from_sales()
            if not suggestion["count"]:
                raise UserError(
                    _(
                        "SSP of %(product)s: no standalone sale in %(currency)s between "
                        "%(date_from)s and %(date_to)s to suggest a price from.",
                        product=ssp.product_id.display_name,
                        currency=ssp.currency_id.name,
                        date_from=suggestion["date_from"],
                        date_to=suggestion["date_to"],
                    )
                )
            ssp.write(
                {
                    "price": suggestion["price"],
                    "price_low": suggestion["price_low"],
                    "price_high": suggestion["price_high"],
                }
            )
        return True

    def _q2c_suggest_from_sales(self, date_from=None, date_to=None):
        """Median and band (first and third quartiles) of the net unit prices of the posted
        customer invoice lines of the product in the SSP's currency and company, over the SSP's
        validity (or the 12 months up to today). A sale is standalone when its invoice bills no
        other product. Returns ``{"price", "price_low", "price_high", "count", "date_from",
        "date_to"}``."""
        self.ensure_one()
        date_to = date_to or self.date_to or fields.Date.context_today(self)
        date_from = date_from or self.date_from or date_to - relativedelta(years=1, days=-1)
        company = self.company_id or self.env.company
        self.env["account.move.line"].flush_model(
            ["product_id", "currency_id", "price_unit", "discount", "date", "parent_state"]
        )
        row = self.env.execute_query(
            SQL(
                """
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY p.price),
                       percentile_cont(0.25) WITHIN GROUP (ORDER BY p.price),
                       percentile_cont(0.75) WITHIN GROUP (ORDER BY p.price),
                       COUNT(*)
                  FROM (
                    SELECT aml.price_unit * (1 - COALESCE(aml.discount, 0) / 100.0) AS price
                      FROM account_move_line aml
                      JOIN account_move move ON move.id = aml.move_id
                     WHERE aml.product_id = %(product)s
                       AND aml.currency_id = %(currency)s
                       AND aml.company_id = %(company)s
                       AND aml.display_type = 'product'
                       AND aml.parent_state = 'posted'
                       AND move.move_type = 'out_invoice'
                       AND aml.date BETWEEN %(date_from)s AND %(date_to)s
                       AND aml.quantity > 0
                       AND NOT EXISTS (
                           SELECT 1 FROM account_move_line other
                            WHERE other.move_id = aml.move_id
                              AND other.display_type = 'product'
                              AND other.product_id IS DISTINCT FROM aml.product_id
                       )
                  ) p
                """,
                product=self.product_id.id,
                currency=self.currency_id.id,
                company=company.id,
                date_from=date_from,
                date_to=date_to,
            )
        )[0]
        currency = self.currency_id
        median, low, high, count = row
        return {
            "price": currency.round(median or 0.0),
            "price_low": currency.round(low or 0.0),
            "price_high": currency.round(high or 0.0),
            "count": count,
            "date_from": date_from,
            "date_to": date_to,
        }
