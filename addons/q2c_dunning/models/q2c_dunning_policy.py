from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class Q2cDunningPolicy(models.Model):
    _name = "q2c.dunning.policy"
    _description = "Dunning Policy"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    step_ids = fields.One2many("q2c.dunning.step", "policy_id", string="Steps", copy=True)
    step_count = fields.Integer(compute="_compute_step_count")

    @api.depends("step_ids")
    def _compute_step_count(self):
        for policy in self:
            policy.step_count = len(policy.step_ids)


class Q2cDunningStep(models.Model):
    _name = "q2c.dunning.step"
    _description = "Dunning Step"
    _order = "policy_id, delay_days, sequence, id"

    policy_id = fields.Many2one("q2c.dunning.policy", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer(default=10)
    delay_days = fields.Integer(
        string="Delay (days)",
        required=True,
        help="Days after the due date or the failed payment attempt when this step runs.",
    )
    action = fields.Selection(
        [
            ("retry_payment", "Retry Payment"),
            ("send_reminder", "Send Reminder"),
            ("suspend", "Suspend Subscription"),
            ("cancel", "Cancel Subscription"),
        ],
        required=True,
    )
    mail_template_id = fields.Many2one(
        "mail.template", string="Mail Template", domain=[("model", "=", "account.move")]
    )

    @api.constrains("delay_days")
    def _check_delay_days(self):
        for step in self:
            if step.delay_days < 0:
                raise ValidationError(
                    _(
                        "Dunning step of %(policy)s: the delay cannot be negative (%(days)s days).",
                        policy=step.policy_id.name,
                        days=step.delay_days,
                    )
                )
