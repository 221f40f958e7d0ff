from odoo import fields, models


class Q2cBillingRunError(models.Model):
    """A subscription a billing run could not bill, and why (the others were billed)."""

    _name = "q2c.billing.run.error"
    _description = "Billing Run Error"
    _order = "id"

    run_id = fields.Many2one("q2c.billing.run", required=True, ondelete="cascade", index=True)
    subscription_id = fields.Many2one("q2c.subscription", ondelete="cascade", index=True)
    company_id = fields.Many2one(related="run_id.company_id", store=True)
    message = fields.Text(required=True)
