from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class Q2cDunningStep(models.Model):
    """One step of a dunning policy: ``action`` runs ``delay_days`` after the start of a case
    (the failed payment attempt, or the due date of an invoice that fell due unpaid)."""

    _name = "q2c.dunning.step"
    _description = "Dunning Step"
    _order = "policy_id, delay_days, sequence, id"

    policy_id = fields.Many2one("q2c.dunning.policy", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="policy_id.company_id", store=True)
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
        "mail.template",
        string="Mail Template",
        domain=[("model", "=", "account.move")],
        help="Reminders: the mail sent (empty: friendly for the first reminder, final for the "
        "last one, firm in between). Suspension and cancellation: a notice, if set.",
    )

    @api.depends("policy_id", "delay_days", "action")
    def _compute_display_name(self):
        labels = dict(self._fields["action"]._description_selection(self.env))
        for step in self:
            step.display_name = _(
                "Day %(days)s: %(action)s", days=step.delay_days, action=labels.get(step.action)
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

    @api.model_create_multi
    def create(self, vals_list):
        steps = super().create(vals_list)
        steps.policy_id._q2c_reschedule_cases()
        return steps

    def write(self, vals):
        res = super().write(vals)
        if {"delay_days", "sequence", "action", "policy_id"} & set(vals):
            self.policy_id._q2c_reschedule_cases()
        return res

    def unlink(self):
        policies = self.policy_id
        res = super().unlink()
        policies.exists()._q2c_reschedule_cases()
        return res
