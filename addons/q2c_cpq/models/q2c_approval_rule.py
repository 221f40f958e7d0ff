from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import float_compare, float_repr


def _q2c_percent(value):
    """A percentage for messages: 2 decimals at most, no trailing zeros."""
    text = float_repr(value, 2)
    return text.rstrip("0").rstrip(".")


class Q2cApprovalRule(models.Model):
    """A deal-desk threshold: a quote exceeding one of the thresholds set on the rule needs the
    approval of a member of `approver_group_id` (or of the delegate). Thresholds left at zero are
    not checked; a rule applies when any checked threshold is crossed. Rules are approved level
    by level (`sequence`): all rules of the lowest pending level first."""

    _name = "q2c.approval.rule"
    _description = "Quote Approval Rule"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(
        string="Level", default=1, help="Approval level: lower levels approve first."
    )
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    max_discount = fields.Float(
        string="Maximum Discount (%)",
        help="A quote with a line discounted above this percentage needs this approval.",
    )
    min_amount = fields.Monetary(
        string="Minimum Amount",
        currency_field="currency_id",
        help="A quote whose untaxed total is above this amount needs this approval.",
    )
    min_margin = fields.Float(
        string="Minimum Margin (%)",
        help="A quote whose margin (untaxed total minus product costs, in % of the untaxed "
        "total) is below this percentage needs this approval. Zero: not checked.",
    )
    payment_term_ids = fields.Many2many(
        "account.payment.term",
        string="Payment Terms",
        help="A quote with one of these payment terms needs this approval.",
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    approver_group_id = fields.Many2one(
        "res.groups",
        required=True,
        default=lambda self: self.env.ref(
            "q2c_cpq.group_q2c_cpq_manager", raise_if_not_found=False
        ),
    )
    delegate_user_id = fields.Many2one(
        "res.users",
        string="Delegate",
        help="This user may approve or reject in place of the approver group (e.g. during "
        "an absence).",
    )

    @api.constrains("max_discount", "min_amount")
    def _check_thresholds(self):
        for rule in self:
            if not 0 <= rule.max_discount <= 100:
                raise ValidationError(
                    _(
                        "Rule %(name)s: the maximum discount must be between 0 and 100.",
                        name=rule.name,
                    )
                )
            if rule.min_amount < 0:
                raise ValidationError(
                    _("Rule %(name)s: the minimum amount cannot be negative.", name=rule.name)
                )

    @api.constrains("min_margin")
    def _check_min_margin(self):
        for rule in self:
            if rule.min_margin > 100:
                raise ValidationError(
                    _("Rule %(name)s: the minimum margin cannot be above 100%%.", name=rule.name)
                )

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------

    @api.model
    def _q2c_get_rules(self, company):
        return self.search([("company_id", "in", [False, company.id])])

    def _q2c_get_reasons(self, order):
        """The thresholds of this rule that `order` crosses, as readable sentences (empty: the
        rule does not apply)."""
        self.ensure_one()
        reasons = []
        lines = order.order_line.filtered(lambda ln: not ln.display_type and ln.product_id)
        if self.max_discount:
            # A ramp step's discount counts as the line's (year 3 at 30% off is a 30% discount).
            discounted = lines.filtered(
                lambda ln: (
                    float_compare(
                        max([ln.discount, *ln.q2c_ramp_step_ids.mapped("discount")]),
                        self.max_discount,
                        precision_digits=4,
                    )
                    > 0
                )
            )
            if discounted:
                reasons.append(
                    _(
                        "discount above %(max)s%% on %(products)s",
                        max=_q2c_percent(self.max_discount),
                        products=", ".join(discounted.product_id.mapped("display_name")),
                    )
                )
        if self.min_amount:
            amount = order.currency_id._convert(
                order.amount_untaxed,
                self.currency_id or order.company_id.currency_id,
                order.company_id,
                order.date_order or fields.Date.context_today(self),
            )
            if self.currency_id.compare_amounts(amount, self.min_amount) > 0:
                reasons.append(
                    _(
                        "untaxed total above %(amount)s",
                        amount=self.currency_id.format(self.min_amount),
                    )
                )
        if self.min_margin and lines:
            margin = order._q2c_margin_percent()
            if (
                margin is not None
                and float_compare(margin, self.min_margin, precision_digits=2) < 0
            ):
                reasons.append(
                    _(
                        "margin %(margin)s%% below %(min)s%%",
                        margin=_q2c_percent(margin),
                        min=_q2c_percent(self.min_margin),
                    )
                )
        if self.payment_term_ids and order.payment_term_id in self.payment_term_ids:
            reasons.append(_("payment terms %(term)s", term=order.payment_term_id.display_name))
        return reasons

    def _q2c_can_approve(self, user):
        """Whether `user` may approve or reject for this rule."""
        self.ensure_one()
        return user == self.delegate_user_id or self.approver_group_id in user.groups_id
