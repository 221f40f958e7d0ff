from odoo import fields, models


class Q2cSubscriptionStateLog(models.Model):
    """The lifecycle of a subscription as dated facts: from ``date`` on, the subscription is in
    ``state``. Written by every transition (activation, trial, pause, resume, close) and read by
    the SaaS metrics to rebuild MRR history (a subscription can be paused and resumed several
    times; its own fields only keep the last dates)."""

    _name = "q2c.subscription.state.log"
    _description = "Subscription State History"
    _order = "subscription_id, date, id"

    subscription_id = fields.Many2one(
        "q2c.subscription", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one(related="subscription_id.company_id", store=True, index=True)
    date = fields.Date(required=True, readonly=True, help="First day in this state.")
    state = fields.Selection(
        selection=[
            ("trial", "Trial"),
            ("active", "Active"),
            ("paused", "Paused"),
            ("closed", "Closed"),
        ],
        required=True,
        readonly=True,
    )
    user_id = fields.Many2one("res.users", default=lambda self: self.env.user, readonly=True)
