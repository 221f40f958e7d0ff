from odoo import _, api, fields, models


class Q2cSubscription(models.Model):
    _inherit = "q2c.subscription"

    q2c_dunning_suspended = fields.Boolean(
        string="Suspended for Non-Payment",
        readonly=True,
        copy=False,
        tracking=True,
        help="Paused by dunning because an invoice is unpaid; resumed as soon as it is paid.",
    )
    q2c_dunning_case_ids = fields.Many2many(
        "q2c.dunning.case",
        "q2c_dunning_case_subscription_rel",
        "subscription_id",
        "case_id",
        string="Dunning Cases",
        readonly=True,
    )
    q2c_dunning_case_count = fields.Integer(
        string="Dunning", compute="_compute_q2c_dunning_case_count"
    )

    @api.depends("q2c_dunning_case_ids")
    def _compute_q2c_dunning_case_count(self):
        for sub in self:
            sub.q2c_dunning_case_count = len(sub.q2c_dunning_case_ids)

    def write(self, vals):
        res = super().write(vals)
        if "payment_token_id" in vals:
            self._q2c_dunning_token_changed()
        return res

    def _q2c_set_states(self, state, vals_list, messages):
        """Suspended for non-payment: set by the pause dunning makes (``q2c_dunning_suspend``
        in the context), cleared when the subscription is resumed or closed; written with the
        transition (its change is logged on the transition's note)."""
        if state == "paused" and self.env.context.get("q2c_dunning_suspend"):
            vals_list = [dict(vals, q2c_dunning_suspended=True) for vals in vals_list]
        elif state in ("active", "closed"):
            vals_list = [
                dict(vals, q2c_dunning_suspended=False) if sub.q2c_dunning_suspended else vals
                for sub, vals in zip(self, vals_list, strict=True)
            ]
        return super()._q2c_set_states(state, vals_list, messages)

    def action_q2c_view_dunning_cases(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "q2c_dunning.q2c_dunning_case_action"
        )
        action["domain"] = [("id", "in", self.q2c_dunning_case_ids.ids)]
        action["context"] = {"create": False}
        return action

    def _q2c_dunning_token_changed(self):
        """A new payment method after a hard decline: the open cases retry with it at the
        next run (at once: the dunning cron is triggered)."""
        cases = (
            self.env["q2c.dunning.case"]
            .sudo()  # sudo: the customer replaces the method in the portal
            .search(
                [
                    ("subscription_ids", "in", self.ids),
                    ("state", "=", "open"),
                    ("hard_decline", "=", True),
                ]
            )
        )
        if not cases:
            return
        cases._q2c_reschedule()
        for sub in self:
            sub.message_post(
                body=_("New payment method: the unpaid invoices will be charged again."),
                subtype_xmlid="mail.mt_note",
            )
        cron = self.env.ref("q2c_dunning.q2c_dunning_run_cron", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger()
