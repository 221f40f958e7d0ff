import json
from datetime import date
from fractions import Fraction

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from .. import tools
from .q2c_revrec_selection import RECOGNITION_METHODS


class Q2cPerformanceObligation(models.Model):
    _name = "q2c.performance.obligation"
    _description = "Performance Obligation"
    _inherit = ["analytic.mixin"]
    _order = "contract_id, sequence, id"
    _check_company_auto = True

    contract_id = fields.Many2one(
        "q2c.revenue.contract", string="Contract", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(related="contract_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="contract_id.currency_id", store=True)
    product_id = fields.Many2one(
        "product.product", string="Product", required=True, check_company=True
    )
    name = fields.Char(string="Description", compute="_compute_name", store=True, readonly=False)
    quantity = fields.Float(default=1.0, digits="Product Unit of Measure")
    price_unit = fields.Monetary(
        string="List Price",
        compute="_compute_price_unit",
        store=True,
        readonly=False,
        precompute=True,
        help="Unit price of the product on the contract before the contract discount.",
    )
    list_amount = fields.Monetary(compute="_compute_list_amount", store=True, string="List Amount")
    ssp = fields.Monetary(
        string="SSP",
        compute="_compute_ssp",
        store=True,
        readonly=False,
        precompute=True,
        help="Standalone selling price of the obligation (unit SSP x quantity): the product's "
        "standalone selling price for the contract currency and date, else its list price.",
    )
    allocated_amount = fields.Monetary(string="Allocated", copy=False)
    recognition_method = fields.Selection(
        RECOGNITION_METHODS,
        required=True,
        compute="_compute_recognition_method",
        store=True,
        readonly=False,
        precompute=True,
    )
    start_date = fields.Date(
        compute="_compute_start_date",
        store=True,
        readonly=False,
        precompute=True,
        help="First day of service, or the delivery / acceptance date for point in time.",
    )
    end_date = fields.Date(help="Last day of service (inclusive).")
    sale_line_id = fields.Many2one(
        "sale.order.line", string="Sale Order Line", index="btree_not_null", copy=False
    )
    schedule_line_ids = fields.One2many(
        "q2c.revenue.schedule.line", "obligation_id", string="Schedule"
    )
    recognized_amount = fields.Monetary(compute="_compute_recognized_amount", string="Recognized")

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("product_id")
    def _compute_name(self):
        for obligation in self:
            obligation.name = obligation.product_id.display_name or obligation.name

    @api.depends("product_id", "contract_id.currency_id")
    def _compute_price_unit(self):
        for obligation in self:
            obligation.price_unit = obligation._q2c_list_price()

    @api.depends("quantity", "price_unit")
    def _compute_list_amount(self):
        for obligation in self:
            currency = obligation.currency_id or self.env.company.currency_id
            obligation.list_amount = currency.round(obligation.quantity * obligation.price_unit)

    @api.depends("product_id", "quantity", "contract_id.currency_id", "contract_id.date")
    def _compute_ssp(self):
        for obligation in self:
            currency = obligation.contract_id.currency_id or self.env.company.currency_id
            unit = obligation._q2c_lookup_ssp()
            obligation.ssp = currency.round(unit * obligation.quantity)

    @api.depends("product_id")
    def _compute_recognition_method(self):
        for obligation in self:
            template = obligation.product_id.product_tmpl_id
            method = template._q2c_get_recognition_method() if template else False
            if not method:
                method = (
                    "point_in_time" if template and template.type == "consu" else "ratable_daily"
                )
            obligation.recognition_method = method

    @api.depends("contract_id.date")
    def _compute_start_date(self):
        for obligation in self:
            obligation.start_date = obligation.start_date or obligation.contract_id.date

    def _compute_recognized_amount(self):
        Line = self.env["q2c.revenue.schedule.line"]
        posted = dict(
            Line._read_group(
                [("obligation_id", "in", self.ids), ("state", "=", "posted")],
                ["obligation_id"],
                ["amount:sum"],
            )
        )
        for obligation in self:
            obligation.recognized_amount = posted.get(obligation, 0.0)

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("ssp", "quantity", "start_date", "end_date")
    def _check_values(self):
        for obligation in self:
            name = obligation.name or obligation.product_id.display_name
            if obligation.currency_id.compare_amounts(obligation.ssp, 0.0) < 0:
                raise ValidationError(
                    _("Obligation %(obligation)s: the SSP cannot be negative.", obligation=name)
                )
            if obligation.quantity < 0:
                raise ValidationError(
                    _(
                        "Obligation %(obligation)s: the quantity cannot be negative.",
                        obligation=name,
                    )
                )
            if (
                obligation.start_date
                and obligation.end_date
                and obligation.end_date < obligation.start_date
            ):
                raise ValidationError(
                    _(
                        "Obligation %(obligation)s: the end date is before the start date.",
                        obligation=name,
                    )
                )

    # ------------------------------------------------------------------
    # Helpers: prices
    # ------------------------------------------------------------------

    def _q2c_list_price(self):
        """List price of the product in the contract currency at the contract date."""
        self.ensure_one()
        product = self.product_id
        if not product:
            return 0.0
        contract = self.contract_id
        company = contract.company_id or self.env.company
        currency = contract.currency_id or company.currency_id
        return product.currency_id._convert(
            product.lst_price, currency, company, contract.date or fields.Date.context_today(self)
        )

    def _q2c_lookup_ssp(self):
        """Unit SSP: the ``q2c.ssp`` price of the product for the contract currency, valid at the
        contract date (the company's own entry first, the most recent start first), else the
        list price."""
        self.ensure_one()
        if not self.product_id:
            return 0.0
        contract = self.contract_id
        company = contract.company_id or self.env.company
        currency = contract.currency_id or company.currency_id
        day = contract.date or fields.Date.context_today(self)
        ssp = (
            self.env["q2c.ssp"]
            .search(
                [
                    ("product_id", "=", self.product_id.id),
                    ("currency_id", "=", currency.id),
                    ("company_id", "in", [company.id, False]),
                    "|",
                    ("date_from", "=", False),
                    ("date_from", "<=", day),
                    "|",
                    ("date_to", "=", False),
                    ("date_to", ">=", day),
                ],
            )
            .sorted(lambda s: (not s.company_id, -(s.date_from or date.min).toordinal(), s.id))[:1]
        )
        if ssp:
            return ssp.price
        return self._q2c_list_price()

    # ------------------------------------------------------------------
    # Schedules: one strategy per recognition method
    # ------------------------------------------------------------------

    def _check_schedule_inputs(self):
        self.ensure_one()
        name = self.name or self.product_id.display_name
        if self.recognition_method in ("ratable_daily", "ratable_monthly"):
            if not self.start_date or not self.end_date:
                raise UserError(
                    _(
                        "Obligation %(obligation)s of contract %(contract)s: a ratable "
                        "obligation needs a start date and an end date.",
                        obligation=name,
                        contract=self.contract_id.name,
                    )
                )
        elif self.recognition_method == "point_in_time" and not (
            self.start_date or self.contract_id.date
        ):
            raise UserError(
                _(
                    "Obligation %(obligation)s of contract %(contract)s: set the delivery "
                    "date (start date).",
                    obligation=name,
                    contract=self.contract_id.name,
                )
            )

    def _prepare_schedule_line_vals_list(self):
        """Schedule line values of this obligation, from its method's strategy."""
        self.ensure_one()
        method = getattr(self, f"_compute_schedule_{self.recognition_method}")
        vals_list = []
        for period in method():
            if not period["amount"]:
                continue
            vals_list.append({"obligation_id": self.id, "state": "planned", **period})
        return vals_list

    def _q2c_units(self):
        return tools.to_units(self.allocated_amount, self.currency_id.rounding)

    def _q2c_periods(self, segments, weights):
        rounding = self.currency_id.rounding
        parts = tools.cumulative_split(self._q2c_units(), weights)
        return [
            {
                "date": tools.month_end(first),
                "service_date_from": first,
                "service_date_to": last,
                "amount": tools.from_units(units, rounding),
            }
            for (first, last), units in zip(segments, parts, strict=True)
        ]

    def _compute_schedule_ratable_daily(self):
        """Ratable daily: the allocated amount spread evenly over the days of the service period
        (start and end included). Each calendar month gets its days' share; the cumulative amount
        is rounded and the month takes the difference, so the last month absorbs the rounding.
        One line per calendar month, dated the month's last day."""
        segments = tools.month_segments(self.start_date, self.end_date)
        weights = [tools.days_inclusive(first, last) for first, last in segments]
        return self._q2c_periods(segments, weights)

    def _compute_schedule_ratable_monthly(self):
        """Ratable monthly: equal amounts per calendar month of service; a partial first or last
        month counts (days served) / (days in that month). Cumulative rounding as for daily."""
        segments = tools.month_segments(self.start_date, self.end_date)
        weights = [
            Fraction(tools.days_inclusive(first, last), tools.month_end(first).day)
            for first, last in segments
        ]
        return self._q2c_periods(segments, weights)

    def _compute_schedule_point_in_time(self):
        """Point in time: everything at the delivery / acceptance date (the start date)."""
        day = self.start_date or self.contract_id.date
        return [
            {
                "date": day,
                "service_date_from": day,
                "service_date_to": day,
                "amount": self.allocated_amount,
            }
        ]

    def _compute_schedule_usage(self):
        """Usage: revenue follows consumption, so nothing is planned up front; the billed usage
        amounts are added as they come (``_q2c_add_usage_revenue``) and posted by the run."""
        return []

    def _q2c_add_usage_revenue(self, day, amount):
        """Plan ``amount`` of usage revenue of this obligation for the period ending on ``day``.

        Hook for the billing of usage: adds to the planned line of that date or creates it.
        """
        self.ensure_one()
        if self.recognition_method != "usage":
            raise UserError(
                _("Obligation %(obligation)s is not recognized on usage.", obligation=self.name)
            )
        Line = self.env["q2c.revenue.schedule.line"]
        line = Line.search(
            [("obligation_id", "=", self.id), ("date", "=", day), ("line_type", "=", "revenue")]
        )
        if line.state == "posted":
            raise UserError(
                _(
                    "Obligation %(obligation)s: the revenue of %(date)s is already posted.",
                    obligation=self.name,
                    date=day,
                )
            )
        amount = self.currency_id.round(amount)
        if line:
            line.amount = self.currency_id.round(line.amount + amount)
            return line
        return Line.create(
            {
                "obligation_id": self.id,
                "date": day,
                "service_date_from": day,
                "service_date_to": day,
                "amount": amount,
            }
        )

    def _q2c_analytic_key(self):
        """Analytic distribution as a hashable key (entries are grouped by it)."""
        self.ensure_one()
        return (
            json.dumps(self.analytic_distribution, sort_keys=True)
            if self.analytic_distribution
            else None
        )
