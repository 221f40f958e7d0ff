from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class Q2cSubscriptionLine(models.Model):
    """A charge of a subscription: a product rated by its price plan for a quantity.

    ``start_date`` / ``end_date`` bound the days the line is billed (empty: the subscription's);
    ``discount`` (%) applies until ``discount_end_date`` (inclusive, empty: for good);
    ``price_multiplier`` compounds the renewal uplifts.
    """

    _name = "q2c.subscription.line"
    _description = "Subscription Line"
    _order = "subscription_id, sequence, id"
    _check_company_auto = True

    subscription_id = fields.Many2one(
        "q2c.subscription", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(related="subscription_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="subscription_id.currency_id", store=True)
    partner_id = fields.Many2one(related="subscription_id.partner_id", store=True, index=True)
    state = fields.Selection(related="subscription_id.state", store=True)
    product_id = fields.Many2one(
        "product.product",
        string="Product",
        required=True,
        check_company=True,
        ondelete="restrict",
        index=True,
    )
    price_plan_id = fields.Many2one(
        "q2c.price.plan",
        string="Price Plan",
        compute="_compute_price_plan_id",
        store=True,
        readonly=False,
        precompute=True,
        check_company=True,
        ondelete="restrict",
        domain="[('product_id', '=', product_id), ('currency_id', '=', currency_id)]",
    )
    charge_type = fields.Selection(related="price_plan_id.charge_type", store=True)
    billing_timing = fields.Selection(related="price_plan_id.billing_timing")
    name = fields.Char(
        string="Description", compute="_compute_name", store=True, readonly=False, precompute=True
    )
    quantity = fields.Float(default=1.0, digits="Product Unit of Measure", required=True)
    start_date = fields.Date(help="First day billed (empty: the subscription's start).")
    end_date = fields.Date(help="Last day billed (empty: until the subscription ends).")
    discount = fields.Float(string="Discount (%)", digits="Discount")
    discount_end_date = fields.Date(
        string="Discount Until", help="Last day of the discount (inclusive); empty: no end."
    )
    price_multiplier = fields.Float(
        string="Price Factor",
        digits=(16, 6),
        default=1.0,
        readonly=True,
        copy=False,
        help="Renewal uplifts compounded on this line's prices.",
    )
    one_time_billed = fields.Boolean(readonly=True, copy=False)
    period_amount = fields.Monetary(
        compute="_compute_amounts",
        store=True,
        help="Recurring: the amount of one billing period. One-time: the amount. After discount.",
    )
    mrr = fields.Monetary(
        string="MRR",
        compute="_compute_amounts",
        store=True,
        help="Recurring charge normalized to a month, after discount.",
    )

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("product_id", "subscription_id.currency_id", "subscription_id.partner_id")
    def _compute_price_plan_id(self):
        for line in self:
            sub = line.subscription_id
            if not line.product_id:
                line.price_plan_id = False
                continue
            if (
                line.price_plan_id
                and line.price_plan_id.product_id == line.product_id
                and (line.price_plan_id.currency_id == sub.currency_id)
            ):
                continue
            plan = line.product_id.with_company(
                sub.company_id or self.env.company
            )._q2c_get_price_plan(
                partner=sub.partner_id,
                currency=sub.currency_id,
                pricelist=sub.pricelist_id,
                date=line.start_date or sub.start_date,
            )
            line.price_plan_id = plan if plan.currency_id == sub.currency_id else False

    @api.depends("product_id")
    def _compute_name(self):
        for line in self:
            if line.product_id and not line.name:
                line.name = line.product_id.display_name

    @api.depends(
        "quantity",
        "discount",
        "discount_end_date",
        "price_multiplier",
        "subscription_id.billing_period",
        "subscription_id.billing_interval",
        "price_plan_id.charge_type",
        "price_plan_id.charge_model",
        "price_plan_id.recurring_period",
        "price_plan_id.unit_price",
        "price_plan_id.flat_price",
        "price_plan_id.package_size",
        "price_plan_id.included_quantity",
        "price_plan_id.minimum_packages",
        "price_plan_id.minimum_amount",
        "price_plan_id.maximum_amount",
        "price_plan_id.tier_ids.up_to",
        "price_plan_id.tier_ids.unit_price",
        "price_plan_id.tier_ids.flat_price",
        "price_plan_id.tier_ids.sequence",
    )
    def _compute_amounts(self):
        today = fields.Date.context_today(self)
        for line in self:
            sub = line.subscription_id
            plan = line.price_plan_id
            if not plan or plan.charge_type == "usage" or not sub.currency_id:
                line.period_amount = line.mrr = 0.0
                continue
            state = line._q2c_state()
            line.period_amount = sub.currency_id.round(sub._q2c_state_period_amount(state, today))
            line.mrr = sub._q2c_state_mrr(state)

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("quantity", "discount", "start_date", "end_date")
    def _check_values(self):
        for line in self:
            label = line.name or line.product_id.display_name
            if line.quantity < 0:
                raise ValidationError(
                    _("Line %(line)s: the field 'Quantity' cannot be negative.", line=label)
                )
            if not 0 <= line.discount <= 100:
                raise ValidationError(
                    _(
                        "Line %(line)s: the field 'Discount (%%)' must be between 0 and 100.",
                        line=label,
                    )
                )
            if line.start_date and line.end_date and ((line.end_date - line.start_date).days < -1):
                raise ValidationError(
                    _(
                        "Line %(line)s: the field 'End Date' cannot be before the field 'Start Date'.",
                        line=label,
                    )
                )

    @api.constrains("product_id", "price_plan_id")
    def _check_price_plan(self):
        for line in self:
            plan = line.price_plan_id
            sub = line.subscription_id
            if not plan:
                raise ValidationError(
                    _(
                        "%(sub)s: the product %(product)s has no price plan in %(currency)s.",
                        sub=sub.name,
                        product=line.product_id.display_name,
                        currency=sub.currency_id.name,
                    )
                )
            if plan.product_id != line.product_id:
                raise ValidationError(
                    _(
                        "%(sub)s: the price plan %(plan)s is not a plan of %(product)s.",
                        sub=sub.name,
                        plan=plan.name,
                        product=line.product_id.display_name,
                    )
                )
        self._check_plan_currency()

    def _check_plan_currency(self):
        """The lines' price plans are in their subscription's currency (checked when either
        changes)."""
        for line in self:
            plan, sub = line.price_plan_id, line.subscription_id
            if plan and plan.currency_id != sub.currency_id:
                raise ValidationError(
                    _(
                        "%(sub)s, line %(line)s: the price plan %(plan)s is in %(plan_currency)s, "
                        "the subscription in %(currency)s.",
                        sub=sub.name,
                        line=line.name or line.product_id.display_name,
                        plan=plan.name,
                        plan_currency=plan.currency_id.name,
                        currency=sub.currency_id.name,
                    )
                )

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _q2c_state(self):
        """The line's current values, as the billing engine reads them."""
        self.ensure_one()
        return {
            "line": self,
            "product": self.product_id,
            "plan": self.price_plan_id,
            "quantity": self.quantity,
            "name": self.name or self.product_id.display_name,
            "multiplier": self.price_multiplier or 1.0,
            "discount": self.discount,
            "discount_end_date": self.discount_end_date,
        }

    def _q2c_prepare_uplift_change_vals(self, effective_date, old_multiplier, new_multiplier):
        """Values of the ``uplift`` amendment recording a renewal uplift of this line."""
        self.ensure_one()
        return {
            "subscription_id": self.subscription_id.id,
            "line_id": self.id,
            "change_type": "uplift",
            "requested_date": effective_date,
            "effective_date": effective_date,
            "old_product_id": self.product_id.id,
            "old_price_plan_id": self.price_plan_id.id,
            "old_quantity": self.quantity,
            "new_product_id": self.product_id.id,
            "new_price_plan_id": self.price_plan_id.id,
            "new_quantity": self.quantity,
            "old_price_multiplier": old_multiplier,
            "new_price_multiplier": new_multiplier,
            "user_id": self.env.user.id,
        }

    def _q2c_is_active_on(self, day):
        self.ensure_one()
        return (not self.start_date or self.start_date <= day) and (
            not self.end_date or self.end_date >= day
        )
