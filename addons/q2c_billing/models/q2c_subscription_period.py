from odoo import fields, models


class Q2cSubscriptionPeriod(models.Model):
    """A billed window of a subscription: the idempotency key of billing.

    A billing run inserts these rows in the same transaction as the invoices; the unique
    constraint on (subscription, period start, timing) makes a second run, a run racing this
    one or a run restarted after a crash skip what is billed already."""

    _name = "q2c.subscription.period"
    _description = "Billed Subscription Period"
    _order = "subscription_id, period_start desc, id desc"
    _rec_name = "period_start"

    subscription_id = fields.Many2one(
        "q2c.subscription", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    period_start = fields.Date(required=True, readonly=True)
    period_end = fields.Date(required=True, readonly=True)
    timing = fields.Selection(
        selection=[
            ("in_advance", "In advance"),
            ("in_arrears", "In arrears"),
            ("adjustment", "Adjustments only"),
        ],
        required=True,
        readonly=True,
    )
    billing_date = fields.Date(required=True, readonly=True)
    move_id = fields.Many2one(
        "account.move",
        string="Invoice",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
    )
    run_id = fields.Many2one(
        "q2c.billing.run",
        string="Billing Run",
        readonly=True,
        ondelete="set null",
        index="btree_not_null",
    )

    _sql_constraints = [
        (
            "subscription_period_uniq",
            "unique(subscription_id, period_start, timing)",
            "This subscription period is billed already.",
        ),
    ]
