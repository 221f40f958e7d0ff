from collections import defaultdict

from odoo import _, fields, models


class AccountMove(models.Model):
    """Invoices: the usage events they bill, one click away."""

    _inherit = "account.move"

    q2c_usage_event_count = fields.Integer(
        string="Usage Events", compute="_compute_q2c_usage_event_count"
    )

    def _compute_q2c_usage_event_count(self):
        counts = defaultdict(int)
        if self.ids:
            # sudo: a count for the smart button; the events list itself applies the rights.
            for line, count in (
                self.env["q2c.usage.event"]
                .sudo()
                ._read_group(
                    [("invoice_line_id.move_id", "in", self.ids)], ["invoice_line_id"], ["__count"]
                )
            ):
                counts[line.move_id.id] += count
        for move in self:
            move.q2c_usage_event_count = counts[move.id]

    def action_q2c_view_usage_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("q2c_billing.q2c_usage_event_action")
        action["domain"] = [("invoice_line_id.move_id", "=", self.id)]
        action["context"] = {"create": False, "search_default_group_by_invoice_line": 1}
        action["name"] = _("Usage events of %(move)s", move=self.display_name)
        return action
