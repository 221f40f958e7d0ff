from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


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
