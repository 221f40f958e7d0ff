from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class SaleOrderTemplate(models.Model):
    _inherit = "sale.order.template"

    q2c_billing_period = fields.Selection(
        [("month", "Month"), ("quarter", "Quarter"), ("year", "Year")],
        string="Billing Period",
        help="Subscription plan of the quotes made from this template: their recurring lines "
        "are priced and billed per this period. Empty: the quote's default (monthly).",
    )
    q2c_billing_interval = fields.Integer(string="Billing Interval", default=1)
    q2c_term_months = fields.Integer(
        string="Term (months)", help="Subscription term; 0 = evergreen."
    )
    q2c_auto_renew = fields.Boolean(string="Auto-renew")

    @api.constrains("q2c_billing_interval", "q2c_term_months")
    def _check_q2c_terms(self):
        for template in self:
            if template.q2c_billing_interval < 1:
                raise ValidationError(
                    _(
                        "Template %(name)s: the billing interval must be at least 1.",
                        name=template.name,
                    )
                )
            if template.q2c_term_months < 0:
                raise ValidationError(
                    _(
                        "Template %(name)s: the term (months) cannot be negative.",
                        name=template.name,
                    )
                )
