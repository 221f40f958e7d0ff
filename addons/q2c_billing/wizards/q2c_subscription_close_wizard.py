from odoo import fields, models


class Q2cSubscriptionCloseWizard(models.TransientModel):
    """Close a subscription on a date for a reason (the form's "Close" button)."""

    _name = "q2c.subscription.close.wizard"
    _description = "Close a Subscription"

    subscription_id = fields.Many2one("q2c.subscription", required=True, ondelete="cascade")
    date = fields.Date(
        string="Last Day of Service", required=True, default=fields.Date.context_today
    )
    close_reason_id = fields.Many2one("q2c.close.reason", string="Reason", required=True)

    def action_close(self):
        self.ensure_one()
        self.subscription_id.action_close(self.date, self.close_reason_id.id)
        return {"type": "ir.actions.act_window_close"}
