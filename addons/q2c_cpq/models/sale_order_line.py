from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare

# Order line fields whose change makes a granted approval void.
Q2C_APPROVAL_LINE_FIELDS = {
    "product_id",
    "product_uom_qty",
    "product_uom",
    "price_unit",
    "discount",
    "tax_id",
}


class SaleOrderLine(models.Model):
    _inherit = "sale.order.line"

    q2c_is_bundle = fields.Boolean(related="product_template_id.q2c_is_bundle")
    q2c_bundle_parent_id = fields.Many2one(
        "sale.order.line",
        string="Bundle Line",
        ondelete="cascade",
        index="btree_not_null",
        copy=False,
        readonly=True,
    )
    q2c_bundle_child_ids = fields.One2many(
        "sale.order.line", "q2c_bundle_parent_id", string="Bundle Components"
    )
    q2c_bundle_line_id = fields.Many2one(
        "q2c.bundle.line", string="Bundle Component", ondelete="set null", copy=False, readonly=True
    )
    q2c_price_plan_id = fields.Many2one(
        "q2c.price.plan",
        string="Price Plan",
        compute="_compute_q2c_price_plan_id",
        store=True,
        readonly=False,
        precompute=True,
        domain="[('product_id', '=', product_id)]",
        help="How the product is charged once subscribed; it prices the line (a recurring plan "
        "for one billing period of the quote).",
    )
    q2c_exact_price_unit = fields.Float(
        digits=False,
        compute="_compute_q2c_exact_price_unit",
        store=True,
        precompute=True,
        help="Unit price given by the price plan at full precision (tiers make averages such as "
        "41.50 / 6): the line total uses it while the displayed unit price is its rounding.",
    )
    q2c_subscription_line_id = fields.Many2one(
        "q2c.subscription.line",
        string="Subscription Line",
        copy=False,
        index="btree_not_null",
        help="The subscription line this quote line amends or renews (or created on confirmation).",
    )
    q2c_previous_quantity = fields.Float(
        string="Current Quantity",
        digits="Product Unit of Measure",
        copy=False,
        help="Quantity on the subscription when the quote was made (amendments, renewals, "
        "cancellations).",
    )
    q2c_quantity_delta = fields.Float(
        string="Change",
        digits="Product Unit of Measure",
        compute="_compute_q2c_quantity_delta",
    )
    q2c_price_multiplier = fields.Float(
        string="Price Factor",
        digits=(16, 6),
        compute="_compute_q2c_price_multiplier",
        store=True,
        precompute=True,
        help="Factor on the price plan: the subscription line's compounded uplifts, and the "
        "renewal uplift on a renewal quote.",
    )
    q2c_charge_type = fields.Selection(
        related="q2c_price_plan_id.charge_type", string="Charge Type", store=True
    )
    q2c_ramp_step_ids = fields.One2many(
        "q2c.ramp.step",
        "line_id",
        string="Ramp",
        copy=True,
        help="Quantities and prices per period of the term (year 1, year 2...): each step "
        "becomes a dated subscription line. The line shows the first step.",
    )
    q2c_has_ramp = fields.Boolean(string="Ramped", compute="_compute_q2c_has_ramp")

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends(
        "product_id", "order_id.partner_id", "order_id.pricelist_id", "order_id.currency_id"
    )
    def _compute_q2c_price_plan_id(self):
        for line in self:
            if not line.product_id or line.display_type:
                line.q2c_price_plan_id = False
                continue
            order = line.order_id
            # sudo: the plan of a product is catalog data every salesperson may quote.
            plan = (
                line.product_id.sudo()
                .with_company(order.company_id or self.env.company)
                ._q2c_get_price_plan(
                    partner=order.partner_id,
                    currency=order.currency_id,
                    pricelist=order.pricelist_id,
                    date=order.date_order and order.date_order.date(),
                )
            )
            line.q2c_price_plan_id = plan.with_env(self.env)

    @api.depends("q2c_ramp_step_ids")
    def _compute_q2c_has_ramp(self):
        for line in self:
            line.q2c_has_ramp = bool(line.q2c_ramp_step_ids)

    @api.depends("product_uom_qty", "q2c_previous_quantity", "q2c_subscription_line_id")
    def _compute_q2c_quantity_delta(self):
        for line in self:
            line.q2c_quantity_delta = (
                line.product_uom_qty - line.q2c_previous_quantity
                if line.q2c_subscription_line_id or line.q2c_previous_quantity
                else 0.0
            )

    @api.depends(
        "q2c_subscription_line_id.price_multiplier",
        "order_id.q2c_quote_type",
        "order_id.q2c_renewal_uplift",
    )
    def _compute_q2c_price_multiplier(self):
        for line in self:
            factor = 1.0
            order = line.order_id
            if line.q2c_subscription_line_id and order.q2c_quote_type != "new":
                # sudo: the factor of the amended line is part of its quoted price.
                factor = line.q2c_subscription_line_id.sudo().price_multiplier or 1.0
                if order.q2c_quote_type == "renewal":
                    factor *= 1.0 + (order.q2c_renewal_uplift or 0.0) / 100.0
            line.q2c_price_multiplier = factor

    @api.depends(
        "q2c_price_plan_id",
        "q2c_price_multiplier",
        "order_id.q2c_billing_period",
        "order_id.q2c_billing_interval",
    )
    def _compute_price_unit(self):
        return super()._compute_price_unit()

    @api.depends("q2c_bundle_parent_id")
    def _compute_discount(self):
        res = super()._compute_discount()
        # Components follow the discount of their bundle line (also kept in sync on write).
        for line in self.filtered("q2c_bundle_parent_id"):
            line.discount = line.q2c_bundle_parent_id.discount
        return res

    def _get_display_price(self):
        self.ensure_one()
        if self.q2c_bundle_parent_id and self.q2c_bundle_line_id:
            unit_prices, _residual = self.q2c_bundle_parent_id._q2c_bundle_unit_prices()
            return unit_prices.get(self.q2c_bundle_line_id, 0.0)
        if self.q2c_is_bundle and self.q2c_bundle_child_ids:
            return self._q2c_bundle_unit_prices()[1]
        if self.q2c_price_plan_id and not self.combo_item_id and self.product_type != "combo":
            return self._q2c_plan_unit_price()
        return super()._get_display_price()

    @api.depends("q2c_exact_price_unit")
    def _compute_amount(self):
        return super()._compute_amount()

    @api.depends(
        "price_unit",
        "q2c_price_multiplier",
        "q2c_price_plan_id",
        "product_uom_qty",
        "product_uom",
        "order_id.q2c_billing_period",
        "order_id.q2c_billing_interval",
        "q2c_bundle_parent_id",
    )
    def _compute_q2c_exact_price_unit(self):
        digits = self.env["decimal.precision"].precision_get("Product Price")
        for line in self:
            exact = 0.0
            if (
                line.q2c_price_plan_id
                and not line.display_type
                and not line.q2c_bundle_parent_id
                and not line.q2c_is_bundle
            ):
                candidate = line._q2c_plan_unit_price()
                # Only while the unit price is the plan's (not edited by hand).
                if float_compare(line.price_unit, candidate, precision_digits=digits) == 0:
                    exact = candidate
            line.q2c_exact_price_unit = exact

    def _prepare_base_line_for_taxes_computation(self, **kwargs):
        exact = self.q2c_exact_price_unit
        if (
            exact
            and "price_unit" not in kwargs
            and float_compare(
                self.price_unit,
                exact,
                precision_digits=self.env["decimal.precision"].precision_get("Product Price"),
            )
            == 0
        ):
            kwargs["price_unit"] = exact
        return super()._prepare_base_line_for_taxes_computation(**kwargs)

    def _q2c_plan_unit_price(self):
        """Unit price given by the line's price plan, in the order's currency: a recurring plan
        for one billing period of the quote; a usage plan prices nothing on the quote (it is
        rated on the metered usage); the average unit price for tiers and packages."""
        self.ensure_one()
        plan = self.q2c_price_plan_id.sudo()  # sudo: catalog data, see _compute_q2c_price_plan_id
        if plan.charge_type == "usage":
            return 0.0
        quantity = self.env["q2c.config.rule"]._q2c_line_quantity(self)
        if quantity <= 0:
            return 0.0
        order = self.order_id
        period_months = order._q2c_period_months() if plan.charge_type == "recurring" else None
        amount = plan._q2c_rate(quantity, period_months=period_months)["amount"]
        currency = order.currency_id or self.env.company.currency_id
        if plan.currency_id and plan.currency_id != currency:
            amount = plan.currency_id._convert(
                amount,
                currency,
                order.company_id or self.env.company,
                order.date_order or fields.Date.context_today(self),
            )
        unit_price = amount * (self.q2c_price_multiplier or 1.0) / quantity
        if self.product_uom and self.product_id and self.product_uom != self.product_id.uom_id:
            unit_price = self.product_id.uom_id._compute_price(unit_price, self.product_uom)
        return unit_price

    def _q2c_is_subscription_line(self):
        """Whether this line goes to the subscription: it has a price plan (recurring, usage or
        one-time) and is not the header line of an expanded bundle."""
        self.ensure_one()
        return (
            bool(self.q2c_price_plan_id)
            and not self.display_type
            and not (self.q2c_is_bundle and self.q2c_bundle_child_ids)
        )

    def _q2c_prepare_subscription_line_vals(self, sequence=10):
        self.ensure_one()
        return {
            "product_id": self.product_id.id,
            "price_plan_id": self.q2c_price_plan_id.id,
            "quantity": self.env["q2c.config.rule"]._q2c_line_quantity(self),
            "discount": self.discount,
            "sequence": sequence,
            "price_multiplier": self.q2c_price_multiplier or 1.0,
        }

    def _q2c_prepare_subscription_lines_vals(self, sequence=10):
        """Values of the subscription lines this quote line becomes: one line, or one per ramp
        step, dated over the step's months (the last step runs on until the subscription
        ends)."""
        self.ensure_one()
        vals = self._q2c_prepare_subscription_line_vals(sequence=sequence)
        steps = self._q2c_ramp_steps()
        if not steps:
            return [vals]
        vals_list = []
        for step in steps:
            start, end = step._q2c_dates()
            vals_list.append(
                dict(
                    vals,
                    quantity=step.quantity,
                    discount=step.discount,
                    start_date=start,
                    end_date=end if step != steps[-1] else False,
                )
            )
        return vals_list

    def _q2c_ramp_steps(self):
        self.ensure_one()
        return self.q2c_ramp_step_ids.sorted(lambda s: (s.sequence, s.id or 0))

    def _q2c_ramp_step_at(self, month):
        """The ramp step in effect `month` months after the quote's start (the last step runs
        on after the others)."""
        self.ensure_one()
        steps = self._q2c_ramp_steps()
        elapsed = 0
        for step in steps:
            elapsed += step.months
            if month < elapsed:
                return step
        return steps[-1:]

    def _q2c_ramp_error_message(self):
        """Why the ramp of this line cannot go to a subscription, or False."""
        self.ensure_one()
        order = self.order_id
        steps = self.q2c_ramp_step_ids
        if not steps:
            return False
        product = self.product_id.display_name
        if self.q2c_charge_type != "recurring":
            return _(
                "Quote %(order)s, line %(product)s: only recurring lines can be ramped.",
                order=order.name,
                product=product,
            )
        if order.q2c_quote_type not in ("new", "renewal"):
            return _(
                "Quote %(order)s, line %(product)s: ramps apply to new and renewal quotes, not "
                "to a %(type)s.",
                order=order.name,
                product=product,
                type=order._q2c_quote_type_label(),
            )
        months = sum(steps.mapped("months"))
        if order.q2c_term_months > 0 and months != order.q2c_term_months:
            return _(
                "Quote %(order)s, line %(product)s: the ramp steps last %(months)s months, the "
                "term %(term)s months; make them add up to the term.",
                order=order.name,
                product=product,
                months=months,
                term=order.q2c_term_months,
            )
        return False

    def _q2c_sync_ramp(self):
        """After its ramp changed: the line shows the first step (quantity, discount) and the
        approval granted on the quote is void."""
        for line in self:
            first = line._q2c_ramp_steps()[:1]
            if first and (line.product_uom_qty, line.discount) != (first.quantity, first.discount):
                line.write({"product_uom_qty": first.quantity, "discount": first.discount})
        self.order_id._q2c_after_lines_change(self, fields_changed={"q2c_ramp_step_ids"})

    def action_q2c_open_ramp(self):
        """The ramp of this line in a dialog (steps: months, quantity, price)."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Ramp of %(product)s", product=self.product_id.display_name),
            "res_model": "sale.order.line",
            "res_id": self.id,
            "view_mode": "form",
            "views": [(self.env.ref("q2c_cpq.sale_order_line_view_form_q2c_ramp").id, "form")],
            "target": "new",
        }

    @api.depends("q2c_subscription_line_id")
    def _compute_qty_to_invoice(self):
        res = super()._compute_qty_to_invoice()
        # Lines handed over to a subscription are invoiced by the subscription's billing.
        for line in self:
            if line.q2c_subscription_line_id and line.state == "sale":
                line.qty_to_invoice = 0.0
        return res

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        lines = super().create(vals_list)
        if not self.env.context.get("q2c_no_line_hooks"):
            lines._q2c_expand_bundles()
            lines.order_id._q2c_after_lines_change(lines)
        return lines

    def write(self, vals):
        if self.env.context.get("q2c_no_line_hooks"):
            return super().write(vals)
        relevant = Q2C_APPROVAL_LINE_FIELDS & set(vals)
        product_changed = self.filtered(
            lambda ln: "product_id" in vals and ln.product_id.id != vals["product_id"]
        )
        res = super().write(vals)
        bundles = self.filtered(lambda ln: ln.q2c_is_bundle and not ln.display_type)
        if product_changed:
            product_changed.q2c_bundle_child_ids.with_context(q2c_unlink_bundle=True).unlink()
            (product_changed & bundles)._q2c_expand_bundles()
        elif "product_uom_qty" in vals or "product_uom" in vals:
            bundles._q2c_sync_bundle_quantities()
        if "discount" in vals and bundles.q2c_bundle_child_ids:
            bundles.q2c_bundle_child_ids.with_context(q2c_no_line_hooks=True).discount = vals[
                "discount"
            ]
        if relevant or "product_id" in vals:
            self.order_id._q2c_after_lines_change(self, fields_changed=relevant)
        return res

    @api.ondelete(at_uninstall=False)
    def _unlink_except_q2c_bundle_component(self):
        if self.env.context.get("q2c_unlink_bundle"):
            return
        for line in self:
            if line.q2c_bundle_parent_id and line.q2c_bundle_parent_id not in self:
                raise UserError(
                    _(
                        "%(component)s is a component of the bundle %(bundle)s: remove the bundle "
                        "line instead.",
                        component=line.product_id.display_name,
                        bundle=line.q2c_bundle_parent_id.product_id.display_name,
                    )
                )

    def unlink(self):
        orders = self.order_id
        res = super().unlink()
        if not self.env.context.get("q2c_no_line_hooks"):
            orders.exists()._q2c_after_lines_change(self.browse(), fields_changed={"product_id"})
        return res

    # ------------------------------------------------------------------
    # Bundles
    # ------------------------------------------------------------------

    def _q2c_bundle_unit_prices(self):
        """Prices of one unit of each component of this bundle line, and the residual unit price
        left on the bundle line itself (zero unless no quantity-1 component can absorb the
        rounding of per-unit prices).

        :return: ({q2c.bundle.line: unit price}, residual)
        """
        self.ensure_one()
        order = self.order_id
        currency = order.currency_id or self.env.company.currency_id
        bundle_price = currency.round(self._get_display_price_ignore_combo())
        allocation = self.product_template_id._q2c_bundle_allocate(
            bundle_price,
            currency,
            date=order.date_order and order.date_order.date(),
            company=order.company_id or self.env.company,
        )
        unit_prices = {}
        for bundle_line, amount in allocation:
            unit_prices[bundle_line] = currency.round(amount / bundle_line.quantity)
        residual = currency.round(
            bundle_price
            - sum(currency.round(unit_prices[bl] * bl.quantity) for bl, _amount in allocation)
        )
        if not currency.is_zero(residual):
            absorbers = [bl for bl, _amount in allocation if bl.quantity == 1.0]
            if absorbers:
                unit_prices[absorbers[-1]] = currency.round(unit_prices[absorbers[-1]] + residual)
                residual = 0.0
        return unit_prices, residual

    def _q2c_prepare_bundle_component_vals(self, bundle_line):
        self.ensure_one()
        return {
            "order_id": self.order_id.id,
            "product_id": bundle_line.product_id.id,
            "product_uom_qty": bundle_line.quantity * self.product_uom_qty,
            "sequence": self.sequence,
            "discount": self.discount,
            "q2c_bundle_parent_id": self.id,
            "q2c_bundle_line_id": bundle_line.id,
        }

    def _q2c_expand_bundles(self):
        """Create the component lines of the bundle lines among `self`, then price them."""
        bundles = self.filtered(
            lambda ln: (
                ln.q2c_is_bundle
                and not ln.display_type
                and not ln.q2c_bundle_child_ids
                and ln.order_id.state in ("draft", "sent")
            )
        )
        if not bundles:
            return
        vals_list = [
            line._q2c_prepare_bundle_component_vals(bundle_line)
            for line in bundles
            for bundle_line in line.product_template_id.q2c_bundle_line_ids
        ]
        self.with_context(q2c_no_line_hooks=True).create(vals_list)
        bundles._q2c_reprice_bundles()

    def _q2c_sync_bundle_quantities(self):
        for line in self:
            for child in line.q2c_bundle_child_ids.filtered("q2c_bundle_line_id"):
                child.with_context(q2c_no_line_hooks=True).product_uom_qty = (
                    child.q2c_bundle_line_id.quantity * line.product_uom_qty
                )
        self._q2c_reprice_bundles()

    def _q2c_reprice_bundles(self):
        """Set the allocated prices on the bundle lines `self` and their components."""
        for line in self | self.q2c_bundle_child_ids:
            if line.qty_invoiced:
                continue
            line.with_context(q2c_no_line_hooks=True)._reset_price_unit()
