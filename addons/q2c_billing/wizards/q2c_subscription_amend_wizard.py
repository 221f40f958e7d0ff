from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError


class Q2cSubscriptionAmendWizard(models.TransientModel):
    """Amend a subscription from its form: the lines as they are, edited (quantity, plan,
    product; quantity 0 removes a line; new lines added), an effective date, the proration
    previewed before applying (``preview_change`` / ``apply_change``)."""

    _name = "q2c.subscription.amend.wizard"
    _description = "Amend a Subscription"

    subscription_id = fields.Many2one("q2c.subscription", required=True, ondelete="cascade")
    currency_id = fields.Many2one(related="subscription_id.currency_id")
    effective_date = fields.Date(required=True, default=fields.Date.context_today)
    line_ids = fields.One2many("q2c.subscription.amend.wizard.line", "wizard_id", string="Lines")
    preview_html = fields.Html(compute="_compute_preview_html", sanitize=False)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        sub = self.env["q2c.subscription"].browse(
            values.get("subscription_id") or self.env.context.get("default_subscription_id")
        )
        if "line_ids" in fields_list and sub:
            today = fields.Date.context_today(self)
            values["line_ids"] = [
                fields.Command.create(
                    {
                        "line_id": line.id,
                        "product_id": line.product_id.id,
                        "price_plan_id": line.price_plan_id.id,
                        "quantity": line.quantity,
                    }
                )
                for line in sub.line_ids
                if not line.end_date or line.end_date >= today
            ]
        return values

    def _q2c_changes(self):
        self.ensure_one()
        changes = []
        for row in self.line_ids:
            line = row.line_id
            if line and (row.product_id, row.price_plan_id, row.quantity) == (
                line.product_id,
                line.price_plan_id,
                line.quantity,
            ):
                continue
            changes.append(
                {
                    "line_id": line.id or False,
                    "product_id": row.product_id.id,
                    "price_plan_id": row.price_plan_id.id or False,
                    "quantity": row.quantity,
                }
            )
        kept = self.line_ids.line_id
        for line in self.subscription_id.line_ids:
            if line not in kept and (not line.end_date or line.end_date >= self.effective_date):
                changes.append({"line_id": line.id, "quantity": 0})
        return changes

    @api.depends(
        "line_ids.product_id", "line_ids.price_plan_id", "line_ids.quantity", "effective_date"
    )
    def _compute_preview_html(self):
        for wizard in self:
            changes = wizard._q2c_changes() if wizard.subscription_id else []
            if not changes:
                wizard.preview_html = Markup("<p class='text-muted'>%s</p>") % _("No change.")
                continue
            try:
                result = wizard.subscription_id.preview_change(changes, wizard.effective_date)
            except (UserError, ValueError) as error:
                wizard.preview_html = Markup("<p class='text-danger'>%s</p>") % error.args[0]
                continue
            rows = Markup().join(
                Markup("<tr><td>%s</td><td class='text-end'>%s</td></tr>")
                % (
                    line["description"],
                    wizard.currency_id.format(line["amount"]),
                )
                for line in result["lines"]
            )
            wizard.preview_html = Markup(
                "<table class='table table-sm'><tbody>%s</tbody><tfoot>"
                "<tr><th>%s</th><th class='text-end'>%s</th></tr>"
                "<tr><td>%s</td><td class='text-end'>%s</td></tr>"
                "<tr><td>%s</td><td class='text-end'>%s</td></tr></tfoot></table>"
            ) % (
                rows,
                _("Net proration"),
                wizard.currency_id.format(result["net"]),
                _("New recurring total per period"),
                wizard.currency_id.format(result["new_recurring_total"]),
                _("MRR change"),
                wizard.currency_id.format(result["mrr_delta"]),
            )

    def action_apply(self):
        self.ensure_one()
        changes = self._q2c_changes()
        if not changes:
            raise UserError(_("Nothing to change."))
        self.subscription_id.apply_change(changes, self.effective_date)
        return {"type": "ir.actions.act_window_close"}


class Q2cSubscriptionAmendWizardLine(models.TransientModel):
    _name = "q2c.subscription.amend.wizard.line"
    _description = "Amend a Subscription: Line"

    wizard_id = fields.Many2one("q2c.subscription.amend.wizard", required=True, ondelete="cascade")
    line_id = fields.Many2one("q2c.subscription.line", string="Current Line")
    product_id = fields.Many2one("product.product", required=True)
    price_plan_id = fields.Many2one(
        "q2c.price.plan",
        string="Price Plan",
        domain="[('product_id', '=', product_id)]",
        help="Empty: the product's plan for this customer and currency.",
    )
    quantity = fields.Float(default=1.0, digits="Product Unit of Measure")
