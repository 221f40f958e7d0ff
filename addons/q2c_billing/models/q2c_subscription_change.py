from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_round


class Q2cSubscriptionChange(models.Model):
    """An amendment of one subscription line (history): who changed what, when, effective on
    which day, and the proration billed for it (a credit of the unused part at the old price and
    a charge of the remaining part at the new price, for the days ``period_start`` to
    ``period_end``)."""

    _name = "q2c.subscription.change"
    _description = "Subscription Amendment"
    _order = "create_date desc, id desc"
    _check_company_auto = True
    _rec_name = "subscription_id"

    subscription_id = fields.Many2one(
        "q2c.subscription", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one(related="subscription_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="subscription_id.currency_id", store=True)
    partner_id = fields.Many2one(related="subscription_id.partner_id", store=True)
    line_id = fields.Many2one(
        "q2c.subscription.line",
        string="Line",
        ondelete="set null",
        index="btree_not_null",
        readonly=True,
    )
    user_id = fields.Many2one(
        "res.users", string="Changed By", default=lambda self: self.env.user, readonly=True
    )
    change_type = fields.Selection(
        selection=[
            ("add", "Line added"),
            ("update", "Line changed"),
            ("remove", "Line removed"),
            ("close", "Subscription closed"),
            ("uplift", "Renewal uplift"),
        ],
        required=True,
        readonly=True,
    )
    requested_date = fields.Date(readonly=True, help="Effective date asked for.")
    effective_date = fields.Date(
        required=True,
        readonly=True,
        index=True,
        help="First day of the new terms (policy 'none': the next period).",
    )
    period_start = fields.Date(string="Prorated From", readonly=True)
    period_end = fields.Date(string="Prorated Until", readonly=True)
    old_product_id = fields.Many2one("product.product", string="Old Product", readonly=True)
    old_price_plan_id = fields.Many2one("q2c.price.plan", string="Old Plan", readonly=True)
    old_quantity = fields.Float(digits="Product Unit of Measure", readonly=True)
    new_product_id = fields.Many2one("product.product", string="New Product", readonly=True)
    new_price_plan_id = fields.Many2one("q2c.price.plan", string="New Plan", readonly=True)
    new_quantity = fields.Float(digits="Product Unit of Measure", readonly=True)
    old_price_multiplier = fields.Float(
        string="Old Price Multiplier",
        digits=(16, 6),
        readonly=True,
        help="Compounded renewal uplifts on the line before this change (0: not recorded).",
    )
    new_price_multiplier = fields.Float(
        string="New Price Multiplier", digits=(16, 6), readonly=True
    )
    credit_amount = fields.Monetary(readonly=True, help="Unused part at the old price (negative).")
    credit_description = fields.Char(readonly=True)
    charge_amount = fields.Monetary(readonly=True, help="Remaining part at the new price.")
    charge_description = fields.Char(readonly=True)
    proration_amount = fields.Monetary(
        compute="_compute_proration_amount", store=True, help="Credit plus charge."
    )
    mrr_delta = fields.Monetary(string="MRR Change", readonly=True)
    billing_state = fields.Selection(
        selection=[
            ("none", "Nothing to bill"),
            ("pending", "On the next invoice"),
            ("invoiced", "Invoiced"),
        ],
        default="none",
        required=True,
        readonly=True,
        index=True,
    )
    move_id = fields.Many2one(
        "account.move",
        string="Invoice",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="set null",
    )

    @api.depends("credit_amount", "charge_amount")
    def _compute_proration_amount(self):
        for change in self:
            change.proration_amount = change.currency_id.round(
                change.credit_amount + change.charge_amount
            )

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        if not self.env.context.get("q2c_allow_change_unlink") and any(
            change.subscription_id for change in self
        ):
            raise UserError(_("Amendments are history: they cannot be deleted."))

    def _q2c_charges(self):
        """The proration charges of these amendments, for an invoice (billing engine shape)."""
        charges = []
        for change in self:
            sub = change.subscription_id
            for amount, description, product in (
                (
                    change.credit_amount,
                    change.credit_description,
                    change.old_product_id or change.new_product_id,
                ),
                (
                    change.charge_amount,
                    change.charge_description,
                    change.new_product_id or change.old_product_id,
                ),
            ):
                if not amount:
                    continue
                charges.append(
                    {
                        "kind": "proration",
                        "subscription": sub,
                        "line": change.line_id,
                        "change": change,
                        "product": product,
                        "description": description,
                        "quantity": 1.0,
                        "full": amount,
                        "discount": 0.0,
                        "amount": amount,
                        "period_start": change.period_start,
                        "period_end": change.period_end,
                    }
                )
        return charges

    def _q2c_summary(self):
        self.ensure_one()
        labels = dict(self._fields["change_type"]._description_selection(self.env))
        parts = [labels[self.change_type]]
        if self.old_product_id:
            parts.append(
                _(
                    "from %(quantity)s x %(product)s (%(plan)s)",
                    quantity=self.old_quantity,
                    product=self.old_product_id.display_name,
                    plan=self.old_price_plan_id.name,
                )
            )
        if self.new_product_id and self.change_type != "close":
            parts.append(
                _(
                    "to %(quantity)s x %(product)s (%(plan)s)",
                    quantity=self.new_quantity,
                    product=self.new_product_id.display_name,
                    plan=self.new_price_plan_id.name,
                )
            )
        if self.change_type == "uplift":
            parts.append(
                _(
                    "price multiplier %(old)s to %(new)s",
                    old=float_round(self.old_price_multiplier, precision_digits=6),
                    new=float_round(self.new_price_multiplier, precision_digits=6),
                )
            )
        if self.credit_amount or self.charge_amount:
            parts.append(
                _(
                    "proration %(credit)s / %(charge)s",
                    credit=self.credit_amount,
                    charge=self.charge_amount,
                )
            )
        return Markup(" ").join(parts)
