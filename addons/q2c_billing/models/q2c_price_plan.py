import math
from decimal import Decimal

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import float_repr, formatLang

# Length of a plan's ``recurring_period`` in months.
PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _dec(value):
    """Exact decimal of a float as the user typed it (shortest repr), for full-precision math."""
    return Decimal(repr(float(value or 0.0)))


def _fmt_qty(value):
    """Short human form of a quantity: 10.0 -> '10', 2.5 -> '2.5'."""
    text = float_repr(float(value), 6)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _rate_line(description, quantity, unit_price):
    """One explained rating line (Decimal quantity and price; the amount is their product)."""
    return {
        "description": description,
        "quantity": quantity,
        "unit_price": unit_price,
        "amount": quantity * unit_price,
    }


class Q2cPricePlan(models.Model):
    """How a product is charged: a charge type, a charge model and its prices.

    The rating engine (``_q2c_rate``) turns a quantity into an amount and explaining lines.
    Each ``charge_model`` has its own strategy hook ``_q2c_rate_<charge_model>`` (documented on
    the hook), chosen by ``_q2c_rate``; the conventions (inclusive tiers, included quantity
    first, min/max clamp, one half-up rounding per line) are in readme/USAGE.md.
    """

    _name = "q2c.price.plan"
    _description = "Price Plan"
    _inherit = ["mail.thread"]
    _order = "sequence, name, id"
    _check_company_auto = True

    name = fields.Char(required=True, translate=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    description = fields.Text(translate=True)
    company_id = fields.Many2one(
        "res.company", string="Company", default=lambda self: self.env.company, index=True
    )
    product_id = fields.Many2one(
        "product.product",
        string="Product",
        required=True,
        index=True,
        ondelete="restrict",
        check_company=True,
        tracking=True,
    )
    product_tmpl_id = fields.Many2one(
        related="product_id.product_tmpl_id", store=True, index=True, string="Product Template"
    )
    # Not required at the database level so that a missing currency raises the readable
    # message of _check_currency instead of a NOT NULL violation.
    currency_id = fields.Many2one(
        "res.currency",
        string="Currency",
        default=lambda self: self.env.company.currency_id,
        tracking=True,
    )
    charge_type = fields.Selection(
        selection=[
            ("recurring", "Recurring"),
            ("usage", "Usage"),
            ("one_time", "One-time"),
        ],
        required=True,
        default="recurring",
        tracking=True,
        help="Recurring: charged every billing period. Usage: rated on the metered quantity "
        "of the period. One-time: charged once.",
    )
    charge_model = fields.Selection(
        selection=[
            ("flat", "Flat fee"),
            ("per_unit", "Per unit"),
            ("graduated", "Graduated tiers"),
            ("volume", "Volume tiers"),
            ("package", "Package"),
        ],
        required=True,
        default="flat",
        tracking=True,
        help="Flat: the flat price whatever the quantity. Per unit: quantity x unit price. "
        "Graduated: each unit priced in the tier it falls in. Volume: all units priced at the "
        "tier the total falls in. Package: started packages x package price.",
    )
    recurring_period = fields.Selection(
        selection=[("month", "Month"), ("quarter", "Quarter"), ("year", "Year")],
        string="Price Period",
        required=True,
        default="month",
        tracking=True,
        help="The period a recurring price is for (quarter = 3 months, year = 12 months). "
        "Billing another period length scales the prices.",
    )
    billing_timing = fields.Selection(
        selection=[("in_advance", "In advance"), ("in_arrears", "In arrears")],
        compute="_compute_billing_timing",
        store=True,
        readonly=False,
        required=True,
        precompute=True,
        help="In advance: billed at the start of the period. In arrears: at its end "
        "(the default for usage).",
    )
    unit_price = fields.Float(
        tracking=True,
        help="Per unit: price of one unit. Package: price of one package.",
    )
    flat_price = fields.Float(
        tracking=True,
        help="Flat: the charge whatever the quantity. Per unit and package: a fixed base fee "
        "added to the units.",
    )
    package_size = fields.Float(
        digits="Product Unit of Measure", default=1.0, help="Units in one package."
    )
    included_quantity = fields.Float(
        digits="Product Unit of Measure",
        help="Free units, taken off the quantity before any charge model applies.",
    )
    minimum_packages = fields.Integer(help="Package: never fewer packages than this are charged.")
    minimum_amount = fields.Float(tracking=True, help="Minimum charge for the period (0 = none).")
    maximum_amount = fields.Float(tracking=True, help="Maximum charge for the period (0 = none).")
    metric_id = fields.Many2one(
        "q2c.usage.metric",
        string="Usage Metric",
        check_company=True,
        index="btree_not_null",
        help="What is counted for a usage plan.",
    )
    tier_ids = fields.One2many("q2c.price.tier", "plan_id", string="Tiers", copy=True)
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        check_company=True,
        index="btree_not_null",
        help="Customer-specific override: used instead of the generic plans for this customer.",
    )
    pricelist_id = fields.Many2one(
        "product.pricelist",
        string="Pricelist",
        check_company=True,
        index="btree_not_null",
        help="Price-book override: used for customers and orders on this pricelist.",
    )
    date_start = fields.Date(string="Valid From")
    date_end = fields.Date(string="Valid Until")
    rate_test_quantity = fields.Float(
        string="Test Quantity",
        compute="_compute_rate_test_quantity",
        inverse="_inverse_rate_test_quantity",
        digits="Product Unit of Measure",
        help="Quantity rated in the preview (not saved).",
    )
    rate_preview = fields.Html(
        string="Rating Preview", compute="_compute_rate_preview", sanitize=False
    )

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("charge_type")
    def _compute_billing_timing(self):
        for plan in self:
            plan.billing_timing = "in_arrears" if plan.charge_type == "usage" else "in_advance"

    @api.depends()
    def _compute_rate_test_quantity(self):
        # No dependency on purpose: the user's test quantity survives edits of the tiers.
        for plan in self:
            bounds = [tier.up_to for tier in plan.tier_ids if tier.up_to]
            if bounds:
                base = max(bounds) + 1
            elif plan.charge_model == "package":
                base = (plan.package_size or 1.0) + 1
            else:
                base = 1.0
            plan.rate_test_quantity = plan.included_quantity + base

    def _inverse_rate_test_quantity(self):
        # The test quantity only feeds the preview; nothing is stored.
        return

    @api.depends(
        "rate_test_quantity",
        "charge_model",
        "charge_type",
        "currency_id",
        "unit_price",
        "flat_price",
        "package_size",
        "included_quantity",
        "minimum_packages",
        "minimum_amount",
        "maximum_amount",
        "tier_ids.up_to",
        "tier_ids.unit_price",
        "tier_ids.flat_price",
        "tier_ids.sequence",
    )
    def _compute_rate_preview(self):
        for plan in self:
            plan.rate_preview = plan._q2c_rate_preview_html(plan.rate_test_quantity)

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("currency_id")
    def _check_currency(self):
        for plan in self:
            if not plan.currency_id:
                raise ValidationError(
                    _("Price plan %(plan)s: the field 'Currency' is required.", plan=plan.name)
                )

    @api.constrains(
        "unit_price",
        "flat_price",
        "package_size",
        "included_quantity",
        "minimum_packages",
        "minimum_amount",
        "maximum_amount",
    )
    def _check_non_negative(self):
        for plan in self:
            for fname in (
                "unit_price",
                "flat_price",
                "package_size",
                "included_quantity",
                "minimum_packages",
                "minimum_amount",
                "maximum_amount",
            ):
                if plan[fname] < 0:
                    raise ValidationError(
                        _(
                            "Price plan %(plan)s: the field '%(field)s' cannot be negative"
                            " (%(value)s).",
                            plan=plan.name,
                            field=plan._fields[fname].get_description(self.env)["string"],
                            value=plan[fname],
                        )
                    )

    @api.constrains("minimum_amount", "maximum_amount")
    def _check_min_max(self):
        for plan in self:
            if (
                plan.minimum_amount
                and plan.maximum_amount
                and (plan.minimum_amount > plan.maximum_amount)
            ):
                raise ValidationError(
                    _(
                        "Price plan %(plan)s: the field 'Minimum Amount' (%(minimum)s) cannot be"
                        " greater than the field 'Maximum Amount' (%(maximum)s).",
                        plan=plan.name,
                        minimum=plan.minimum_amount,
                        maximum=plan.maximum_amount,
                    )
                )

    @api.constrains("charge_model", "package_size")
    def _check_package_size(self):
        for plan in self:
            if plan.charge_model == "package" and plan.package_size <= 0:
                raise ValidationError(
                    _(
                        "Price plan %(plan)s: the field 'Package Size' must be greater than 0"
                        " for the package charge model.",
                        plan=plan.name,
                    )
                )

    @api.constrains("charge_type", "metric_id")
    def _check_metric(self):
        for plan in self:
            if plan.charge_type == "usage" and not plan.metric_id:
                raise ValidationError(
                    _(
                        "Price plan %(plan)s: the field 'Usage Metric' is required for a usage"
                        " plan.",
                        plan=plan.name,
                    )
                )

    @api.constrains("date_start", "date_end")
    def _check_dates(self):
        for plan in self:
            if plan.date_start and plan.date_end and plan.date_start > plan.date_end:
                raise ValidationError(
                    _(
                        "Price plan %(plan)s: the field 'Valid Until' cannot be before the field"
                        " 'Valid From'.",
                        plan=plan.name,
                    )
                )

    @api.constrains("charge_model", "tier_ids")
    def _check_tiers(self):
        model_labels = dict(self._fields["charge_model"]._description_selection(self.env))
        for plan in self:
            tiers = plan._q2c_sorted_tiers()
            if plan.charge_model not in ("graduated", "volume"):
                if tiers:
                    raise ValidationError(
                        _(
                            "Price plan %(plan)s: the field 'Tiers' is only used by the graduated"
                            " and volume charge models; remove the tiers or change the charge"
                            " model.",
                            plan=plan.name,
                        )
                    )
                continue
            if not tiers:
                raise ValidationError(
                    _(
                        "Price plan %(plan)s: the field 'Tiers' needs at least one tier for the"
                        " %(model)s charge model.",
                        plan=plan.name,
                        model=model_labels[plan.charge_model],
                    )
                )
            previous = 0.0
            for index, tier in enumerate(tiers, start=1):
                is_last = index == len(tiers)
                if not tier.up_to:
                    if not is_last:
                        raise ValidationError(
                            _(
                                "Price plan %(plan)s: tier %(index)s has no upper bound (field"
                                " 'Up To' empty); only the last tier can be open.",
                                plan=plan.name,
                                index=index,
                            )
                        )
                    continue
                if is_last:
                    raise ValidationError(
                        _(
                            "Price plan %(plan)s: the last tier must have no upper bound (field"
                            " 'Up To' empty or 0), so that every quantity has a price.",
                            plan=plan.name,
                        )
                    )
                if tier.up_to <= previous:
                    raise ValidationError(
                        _(
                            "Price plan %(plan)s: the field 'Up To' of the tiers must be in"
                            " ascending order (tier %(index)s: %(up_to)s after %(previous)s).",
                            plan=plan.name,
                            index=index,
                            up_to=_fmt_qty(tier.up_to),
                            previous=_fmt_qty(previous),
                        )
                    )
                previous = tier.up_to

    # ------------------------------------------------------------------
    # Public API (API.md)
    # ------------------------------------------------------------------

    def rate(self, quantity):
        """Rate ``quantity`` with this plan (pure: nothing is written).

        :param quantity: a non-negative number (the quantity of the period)
        :return: ``{"amount": float, "currency": "USD", "lines": [{"description", "quantity",
            "unit_price", "amount"}]}``; the line amounts are rounded to the currency and add
            up exactly to ``amount``.
        :raise ValidationError: when ``quantity`` is not a non-negative number.
        """
        self.ensure_one()
        self.check_access("read")
        result = self._q2c_rate(self._q2c_check_quantity(quantity))
        return {
            "amount": result["amount"],
            "currency": self.currency_id.name,
            "lines": result["lines"],
        }

    # ------------------------------------------------------------------
    # Rating engine
    # ------------------------------------------------------------------

    @api.model
    def _q2c_check_quantity(self, quantity):
        """Return ``quantity`` as a float, or raise a ValidationError naming ``quantity``."""
        if isinstance(quantity, bool) or not isinstance(quantity, (int, float)):
            raise ValidationError(
                _("The field 'quantity' must be a number, got %(value)r.", value=quantity)
            )
        if math.isnan(quantity) or math.isinf(quantity):
            raise ValidationError(
                _("The field 'quantity' must be a finite number, got %(value)s.", value=quantity)
            )
        if quantity < 0:
            raise ValidationError(
                _("The field 'quantity' cannot be negative, got %(value)s.", value=quantity)
            )
        return float(quantity)

    def _q2c_rate(self, quantity, period_months=None):
        """Rate ``quantity`` with this plan; pure (reads only, writes nothing).

        1. ``included_quantity`` is taken off first (an explaining line at 0 when some of
           the quantity is free);
        2. the strategy hook ``_q2c_rate_<charge_model>`` prices the billable quantity at
           full precision;
        3. each line is rounded once, half-up, to the currency (``currency.round``);
        4. ``minimum_amount`` / ``maximum_amount`` clamp the total through an explaining
           adjustment line.
        The line amounts add up exactly to ``amount``. Returns at least one line.

        :param float quantity: quantity of the period (>= 0)
        :param int period_months: for recurring plans, the length in months of the period
            billed when it differs from the plan's ``recurring_period``: every price (unit,
            flat, tiers, minimum, maximum) is scaled by ``_q2c_period_factor(period_months)``
            before rounding (a monthly 29.00 billed for a quarter: 87.00 a unit). Ignored for
            usage and one-time plans.
        :return: ``{"amount": float, "lines": [{"description", "quantity", "unit_price",
            "amount"}]}``
        """
        self.ensure_one()
        quantity = self._q2c_check_quantity(quantity)
        currency = self.currency_id
        if not currency:
            raise ValidationError(
                _("Price plan %(plan)s: the field 'Currency' is required.", plan=self.name)
            )
        factor = Decimal(1)
        if period_months and self.charge_type == "recurring":
            factor = Decimal(int(period_months)) / Decimal(PERIOD_MONTHS[self.recurring_period])
        qty = _dec(quantity)
        included = _dec(self.included_quantity)
        billable = max(qty - included, Decimal(0))

        raw_lines = []
        if included and qty:
            raw_lines.append(
                {
                    "description": _(
                        "Included units (%(included)s free)",
                        included=_fmt_qty(self.included_quantity),
                    ),
                    "quantity": min(qty, included),
                    "unit_price": Decimal(0),
                    "amount": Decimal(0),
                }
            )
        strategy = getattr(self, f"_q2c_rate_{self.charge_model}")
        raw_lines += strategy(qty, billable, factor)

        lines = [
            {
                "description": line["description"],
                "quantity": float(line["quantity"]),
                "unit_price": float(line["unit_price"]),
                "amount": currency.round(float(line["amount"])),
            }
            for line in raw_lines
        ]
        total = currency.round(sum(line["amount"] for line in lines))
        adjustment = self._q2c_rate_clamp(total, factor)
        if adjustment:
            lines.append(adjustment)
            total = currency.round(total + adjustment["amount"])
        if not lines:
            lines.append(
                {
                    "description": self.name,
                    "quantity": float(quantity),
                    "unit_price": 0.0,
                    "amount": 0.0,
                }
            )
        return {"amount": total, "lines": lines}

    def _q2c_rate_clamp(self, total, factor):
        """Return the line that brings ``total`` into [minimum_amount, maximum_amount], or
        None. Both bounds are optional (0 = none) and scaled like the prices."""
        currency = self.currency_id
        minimum = currency.round(float(_dec(self.minimum_amount) * factor))
        maximum = currency.round(float(_dec(self.maximum_amount) * factor))
        if minimum and currency.compare_amounts(total, minimum) < 0:
            bound = minimum
            description = _(
                "Minimum charge adjustment (minimum %(amount)s)",
                amount=formatLang(self.env, minimum, currency_obj=currency),
            )
        elif maximum and currency.compare_amounts(total, maximum) > 0:
            bound = maximum
            description = _(
                "Maximum charge cap (maximum %(amount)s)",
                amount=formatLang(self.env, maximum, currency_obj=currency),
            )
        else:
            return None
        amount = currency.round(bound - total)
        return {"description": description, "quantity": 1.0, "unit_price": amount, "amount": amount}

    def _q2c_rate_flat(self, quantity, billable, factor):
        """Flat: ``flat_price`` whatever the quantity (even 0): one line of quantity 1."""
        price = _dec(self.flat_price) * factor
        return [_rate_line(self.name, Decimal(1), price)]

    def _q2c_rate_per_unit(self, quantity, billable, factor):
        """Per unit: billable quantity x ``unit_price``; ``flat_price``, when set, is a base
        fee line."""
        price = _dec(self.unit_price) * factor
        return self._q2c_rate_base_fee(factor) + [_rate_line(self.name, billable, price)]

    def _q2c_rate_package(self, quantity, billable, factor):
        """Package: ``ceil(billable / package_size)`` packages (a started package is a full
        package), never fewer than ``minimum_packages``, each at ``unit_price`` (the price of
        one package); ``flat_price``, when set, is a base fee line."""
        size = _dec(self.package_size)
        if size <= 0:
            raise ValidationError(
                _(
                    "Price plan %(plan)s: the field 'Package Size' must be greater than 0 for"
                    " the package charge model.",
                    plan=self.name,
                )
            )
        packages = max(math.ceil(billable / size), self.minimum_packages or 0)
        price = _dec(self.unit_price) * factor
        description = _(
            "%(plan)s: %(count)s package(s) of %(size)s",
            plan=self.name,
            count=packages,
            size=_fmt_qty(self.package_size),
        )
        return self._q2c_rate_base_fee(factor) + [_rate_line(description, Decimal(packages), price)]

    def _q2c_rate_graduated(self, quantity, billable, factor):
        """Graduated: each unit is priced in the tier it falls in (a tier covers
        (previous up_to, up_to]); the flat price of every tier reached is added (a tier is
        reached when some of the billable quantity falls in it)."""
        lines = []
        previous = Decimal(0)
        for index, tier in enumerate(self._q2c_sorted_tiers(), start=1):
            if billable <= previous:
                break
            upper = _dec(tier.up_to) if tier.up_to else None
            top = billable if upper is None else min(billable, upper)
            units = top - previous
            label = self._q2c_tier_label(index, previous, upper)
            if tier.unit_price or not tier.flat_price:
                lines.append(_rate_line(label, units, _dec(tier.unit_price) * factor))
            lines += self._q2c_tier_flat_fee(tier, label, factor)
            if upper is None:
                break
            previous = upper
        return lines

    def _q2c_rate_volume(self, quantity, billable, factor):
        """Volume: every billable unit is priced at the tier the total falls in; only that
        tier's flat price is added. A total of 0 falls in no tier."""
        if not billable:
            return []
        previous = Decimal(0)
        for index, tier in enumerate(self._q2c_sorted_tiers(), start=1):
            upper = _dec(tier.up_to) if tier.up_to else None
            if upper is None or billable <= upper:
                label = self._q2c_tier_label(index, previous, upper)
                price = _dec(tier.unit_price) * factor
                return [_rate_line(label, billable, price)] + self._q2c_tier_flat_fee(
                    tier, label, factor
                )
            previous = upper
        return []

    def _q2c_rate_base_fee(self, factor):
        """Base fee line of the per unit and package models (``flat_price``), if any."""
        if not self.flat_price:
            return []
        fee = _dec(self.flat_price) * factor
        return [_rate_line(_("%(plan)s: base fee", plan=self.name), Decimal(1), fee)]

    def _q2c_tier_flat_fee(self, tier, label, factor):
        """The flat fee line of ``tier`` (labelled ``label``), if it has one."""
        if not tier.flat_price:
            return []
        fee = _dec(tier.flat_price) * factor
        return [_rate_line(_("%(tier)s: flat fee", tier=label), Decimal(1), fee)]

    def _q2c_sorted_tiers(self):
        """Tiers in their order (sequence, then creation: the sort is stable)."""
        return self.tier_ids.sorted(lambda tier: tier.sequence)

    def _q2c_tier_label(self, index, previous, upper):
        if upper is None:
            if not previous:
                return _("Tier %(index)s (all units)", index=index)
            return _("Tier %(index)s (above %(low)s)", index=index, low=_fmt_qty(previous))
        if not previous:
            return _("Tier %(index)s (up to %(high)s)", index=index, high=_fmt_qty(upper))
        return _(
            "Tier %(index)s (above %(low)s up to %(high)s)",
            index=index,
            low=_fmt_qty(previous),
            high=_fmt_qty(upper),
        )

    # ------------------------------------------------------------------
    # Periods and MRR helpers
    # ------------------------------------------------------------------

    def _q2c_period_months(self):
        """Length in months of the plan's ``recurring_period`` (1, 3 or 12)."""
        self.ensure_one()
        return PERIOD_MONTHS[self.recurring_period or "month"]

    def _q2c_period_factor(self, months):
        """Factor that converts this plan's price to a period of ``months`` months.

        A monthly price for a quarter: ``_q2c_period_factor(3)`` = 3; a yearly price for a
        month: ``_q2c_period_factor(1)`` = 1/12. Usage and one-time plans are not priced per
        period: the factor is 1. Full precision (float); round the scaled amount once, or
        pass ``period_months`` to ``_q2c_rate`` to scale the prices before the per-line
        rounding.
        """
        self.ensure_one()
        if self.charge_type != "recurring":
            return 1.0
        return float(months) / self._q2c_period_months()

    def _q2c_monthly_amount(self, quantity):
        """The amount of this plan for ``quantity`` normalized to one month, for MRR.

        Recurring plans only (CONVENTIONS.md, Metrics: MRR excludes usage and one-time
        charges, which return 0.0): the amount rated for the plan's own period divided by its
        length in months (quarter / 3, year / 12), rounded once to the plan's currency. The
        amount is before discounts and in the plan's currency; converting to the company
        currency is the caller's job.
        """
        self.ensure_one()
        if self.charge_type != "recurring":
            return 0.0
        amount = self._q2c_rate(quantity)["amount"]
        return self.currency_id.round(amount / self._q2c_period_months())

    # ------------------------------------------------------------------
    # Preview
    # ------------------------------------------------------------------

    def _q2c_rate_preview_html(self, quantity):
        """HTML table of the rating of ``quantity``, or the reason it cannot be rated."""
        self.ensure_one()
        try:
            result = self._q2c_rate(quantity or 0.0)
        except (UserError, ValidationError) as error:
            return Markup('<div class="text-warning">%s</div>') % error.args[0]
        currency = self.currency_id
        rows = Markup().join(
            Markup(
                "<tr><td>%s</td><td class='text-end'>%s</td><td class='text-end'>%s</td>"
                "<td class='text-end'>%s</td></tr>"
            )
            % (
                line["description"],
                _fmt_qty(line["quantity"]),
                formatLang(self.env, line["unit_price"], digits=4),
                formatLang(self.env, line["amount"], currency_obj=currency),
            )
            for line in result["lines"]
        )
        return Markup(
            "<table class='table table-sm o_q2c_rate_preview'><thead><tr><th>%s</th>"
            "<th class='text-end'>%s</th><th class='text-end'>%s</th>"
            "<th class='text-end'>%s</th></tr></thead><tbody>%s</tbody><tfoot><tr>"
            "<th colspan='3'>%s</th><th class='text-end'>%s</th></tr></tfoot></table>"
        ) % (
            _("Description"),
            _("Quantity"),
            _("Unit Price"),
            _("Amount"),
            rows,
            _("Total"),
            formatLang(self.env, result["amount"], currency_obj=currency),
        )
