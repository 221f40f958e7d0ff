from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import float_round

from odoo.addons.q2c_billing.tools import period as periods


class Q2cRampStep(models.Model):
    """One period of a ramped quote line: its quantity and price for ``months`` months.

    The steps of a line follow each other from the quote's start (the renewal's first day on a
    renewal quote); on confirmation each step becomes a subscription line dated over its months
    (the last one runs on until the subscription ends). The price is the line's price plan for
    the step's quantity, less the step's discount: a unit price typed in is turned into that
    discount (rounded to the discount's precision), and the price shown is the one billed.
    """

    _name = "q2c.ramp.step"
    _description = "Quote Line Ramp Step"
    _order = "line_id, sequence, id"

    line_id = fields.Many2one(
        "sale.order.line", string="Quote Line", required=True, ondelete="cascade", index=True
    )
    order_id = fields.Many2one(related="line_id.order_id", store=True, index=True)
    company_id = fields.Many2one(related="line_id.company_id", store=True)
    currency_id = fields.Many2one(related="line_id.currency_id")
    product_id = fields.Many2one(related="line_id.product_id")
    sequence = fields.Integer(default=10)
    months = fields.Integer(
        string="Months",
        required=True,
        default=12,
        help="How long this step lasts; the steps of a fixed-term quote add up to its term. "
        "On an evergreen quote the last step runs on.",
    )
    quantity = fields.Float(digits="Product Unit of Measure", required=True, default=1.0)
    discount = fields.Float(string="Discount (%)", digits="Discount")
    price_unit = fields.Float(
        string="Unit Price",
        digits="Product Price",
        compute="_compute_amounts",
        inverse="_inverse_price_unit",
        help="Price of one unit for one billing period of the quote, after the discount.",
    )
    price_subtotal = fields.Monetary(
        string="Per Billing Period",
        compute="_compute_amounts",
        help="What one billing period of this step costs, after the discount.",
    )
    mrr = fields.Monetary(string="MRR", compute="_compute_amounts")
    date_start = fields.Date(string="From", compute="_compute_dates")
    date_end = fields.Date(string="Until", compute="_compute_dates")

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends(
        "quantity",
        "discount",
        "line_id.q2c_price_plan_id",
        "line_id.q2c_price_multiplier",
        "order_id.q2c_billing_period",
        "order_id.q2c_billing_interval",
    )
    def _compute_amounts(self):
        digits = self.env["decimal.precision"].precision_get("Product Price")
        for step in self:
            currency = step.line_id.order_id.currency_id or self.env.company.currency_id
            full = step._q2c_full_amount()
            factor = 1.0 - step.discount / 100.0
            step.price_subtotal = currency.round(full * factor)
            # As q2c_billing counts a line's MRR: the plan's own period, normalized to a month.
            plan = step.line_id.q2c_price_plan_id.sudo()  # sudo: catalog data (see below)
            plan_months = periods.PERIOD_MONTHS.get(plan.recurring_period) or 1
            monthly = step._q2c_full_amount(period_months=plan_months) / plan_months
            step.mrr = currency.round(monthly * factor)
            step.price_unit = (
                float_round(full * factor / step.quantity, precision_digits=digits)
                if step.quantity
                else 0.0
            )

    def _inverse_price_unit(self):
        for step in self:
            step._q2c_set_discount_from_price()

    @api.depends(
        "sequence",
        "months",
        "line_id.q2c_ramp_step_ids.sequence",
        "line_id.q2c_ramp_step_ids.months",
        "order_id.q2c_start_date",
        "order_id.date_order",
        "order_id.q2c_term_months",
        "order_id.q2c_quote_type",
        "order_id.q2c_subscription_id",
    )
    def _compute_dates(self):
        for step in self:
            start, end = step._q2c_dates()
            step.date_start, step.date_end = start, end

    @api.onchange("price_unit")
    def _onchange_price_unit(self):
        self._q2c_set_discount_from_price()

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("months", "quantity", "discount")
    def _check_values(self):
        for step in self:
            label = step.line_id.product_id.display_name
            if step.months < 1:
                raise ValidationError(
                    _("Ramp of %(product)s: the field 'Months' must be at least 1.", product=label)
                )
            if step.quantity <= 0:
                raise ValidationError(
                    _(
                        "Ramp of %(product)s: the field 'Quantity' must be above 0.",
                        product=label,
                    )
                )
            if not 0 <= step.discount <= 100:
                raise ValidationError(
                    _(
                        "Ramp of %(product)s: the field 'Discount (%%)' must be between 0 and 100 "
                        "(a unit price above the price plan's is not allowed).",
                        product=label,
                    )
                )

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        steps = super().create(vals_list)
        steps.line_id._q2c_sync_ramp()
        return steps

    def write(self, vals):
        res = super().write(vals)
        self.line_id._q2c_sync_ramp()
        return res

    def unlink(self):
        lines = self.line_id
        res = super().unlink()
        lines.exists()._q2c_sync_ramp()
        return res

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _q2c_full_amount(self, period_months=None):
        """The step's quantity rated by the line's price plan for one billing period of the
        quote (or ``period_months``), times the line's price factor, before discount."""
        self.ensure_one()
        line = self.line_id
        plan = line.q2c_price_plan_id.sudo()  # sudo: catalog data every salesperson may quote
        if not plan or plan.charge_type != "recurring" or self.quantity <= 0:
            return 0.0
        months = period_months or line.order_id._q2c_period_months()
        amount = plan._q2c_rate(self.quantity, period_months=months)["amount"]
        return amount * (line.q2c_price_multiplier or 1.0)

    def _q2c_set_discount_from_price(self):
        """The discount that gives the typed unit price, rounded to the discount's precision."""
        self.ensure_one()
        full = self._q2c_full_amount()
        if not full or not self.quantity:
            return
        digits = self.env["decimal.precision"].precision_get("Discount")
        discount = (1.0 - self.price_unit * self.quantity / full) * 100.0
        self.discount = float_round(discount, precision_digits=digits)

    def _q2c_dates(self):
        """(first day, last day) of the step: the steps of the line follow each other from the
        quote's ramp start; the last step of an evergreen quote has no last day."""
        self.ensure_one()
        order = self.line_id.order_id
        if not order:
            return False, False
        start = order._q2c_ramp_start()
        steps = self.line_id.q2c_ramp_step_ids.sorted(lambda s: (s.sequence, s.id or 0))
        for step in steps:
            end = periods.term_end(start, step.months)
            if step == self:
                if step == steps[-1] and order.q2c_term_months <= 0:
                    end = False
                return start, end
            start = end + periods.ONE_DAY
        return False, False
