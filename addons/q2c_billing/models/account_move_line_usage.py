from odoo import api, fields, models


class AccountMoveLine(models.Model):
    """Usage invoice lines: the metric they bill and the events that made their amount.

    A line created with ``q2c_usage_metric_id``, ``q2c_subscription_id`` and a dated period
    (``q2c_period_start`` / ``q2c_period_end``) takes the pending events of that subscription,
    metric and period: they become billed and link to it (one query per batch of lines).
    Deleting the line gives them back (pending, billed by the next invoice).
    """

    _inherit = "account.move.line"

    q2c_usage_metric_id = fields.Many2one(
        "q2c.usage.metric",
        string="Usage Metric",
        copy=False,
        index="btree_not_null",
        ondelete="restrict",
    )
    q2c_usage_late = fields.Boolean(
        string="Late Usage",
        copy=False,
        help="Adjustment for events received after their period was invoiced.",
    )
    q2c_usage_event_ids = fields.One2many(
        "q2c.usage.event", "invoice_line_id", string="Usage Events", readonly=True
    )

    @api.model_create_multi
    def create(self, vals_list):
        lines = super().create(vals_list)
        usage_lines = lines.filtered("q2c_usage_metric_id")
        if usage_lines:
            # Events are linked with SQL: the caller (the billing run, as superuser, or an
            # accountant creating the invoice) has the rights on the invoice lines.
            self.env["q2c.usage.event"].sudo()._q2c_link_invoice_lines(usage_lines)
        return lines

    @api.ondelete(at_uninstall=False)
    def _unlink_q2c_release_usage(self):
        usage_lines = self.filtered("q2c_usage_metric_id")
        if usage_lines:
            # Same as above: the events follow their invoice line.
            self.env["q2c.usage.event"].sudo()._q2c_release_invoice_lines(usage_lines)

    def action_q2c_view_usage_events(self):
        """The events that made this line's amount."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("q2c_billing.q2c_usage_event_action")
        action["domain"] = [("invoice_line_id", "=", self.id)]
        action["context"] = {"create": False}
        action["name"] = self.name
        return action
