from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import float_compare, float_is_zero, float_repr, float_round, format_date


class Q2cConfigRule(models.Model):
    """A product configuration rule evaluated on quotes.

    A rule is triggered by the order lines in its scope: lines whose product is one of
    `product_ids`, whose product category is (a child of) one of `categ_ids`, or whose variant
    or no-variant attribute values include one of `attribute_value_ids`. A rule without any
    scope applies to every quote with at least one product line.

    - requires: every target product must be on the quote when a trigger line is.
    - excludes: no target product may be on the quote with a trigger line.
    - recommends: the missing target products are suggested (never blocks, always a warning).
    - auto_add: the missing target products are added to the quote automatically.
    - quantity: `min_quantity` / `max_quantity` bound the quantity of each product in scope
      (the target products when set, else the trigger products), summed over its lines;
      `ratio` requires ceil(ratio x trigger quantity) target units (one support seat per 10
      users: ratio 0.1; a ratio needs both a trigger scope and target products).

    A rule without target products (other than a quantity rule without ratio) does nothing.
    """

    _name = "q2c.config.rule"
    _description = "Quote Configuration Rule"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    rule_type = fields.Selection(
        [
            ("requires", "Requires"),
            ("excludes", "Excludes"),
            ("recommends", "Recommends"),
            ("auto_add", "Adds Automatically"),
            ("quantity", "Quantity Constraint"),
        ],
        required=True,
        default="requires",
    )
    severity = fields.Selection(
        [("error", "Error (blocks)"), ("warning", "Warning")],
        required=True,
        default="error",
    )
    product_ids = fields.Many2many(
        "product.product",
        "q2c_config_rule_trigger_product_rel",
        "rule_id",
        "product_id",
        string="Trigger Products",
        check_company=True,
        help="Products whose presence on the quote triggers the rule.",
    )
    categ_ids = fields.Many2many(
        "product.category",
        "q2c_config_rule_trigger_categ_rel",
        "rule_id",
        "categ_id",
        string="Trigger Categories",
        help="Products of these categories (or their subcategories) trigger the rule.",
    )
    attribute_value_ids = fields.Many2many(
        "product.attribute.value",
        "q2c_config_rule_trigger_attribute_value_rel",
        "rule_id",
        "value_id",
        string="Trigger Attribute Values",
        help="Product variants (or lines) with one of these attribute values trigger the rule.",
    )
    target_product_ids = fields.Many2many(
        "product.product",
        "q2c_config_rule_target_product_rel",
        "rule_id",
        "product_id",
        string="Target Products",
        check_company=True,
        help="Products that the trigger products require, exclude, recommend or add.",
    )
    min_quantity = fields.Float(digits="Product Unit of Measure")
    max_quantity = fields.Float(digits="Product Unit of Measure")
    ratio = fields.Float(
        digits=(16, 6),
        help="Target units needed per trigger unit (e.g. 0.1 = one support seat per 10 users).",
    )
    message = fields.Char(
        translate=True, help="Shown to the salesperson when the rule is violated."
    )

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("min_quantity", "max_quantity", "ratio")
    def _check_quantities(self):
        for rule in self:
            if rule.min_quantity < 0 or rule.max_quantity < 0 or rule.ratio < 0:
                raise ValidationError(
                    _("Rule %(name)s: quantities and ratio cannot be negative.", name=rule.name)
                )
            if rule.max_quantity and rule.min_quantity > rule.max_quantity:
                raise ValidationError(
                    _(
                        "Rule %(name)s: the minimum quantity is above the maximum quantity.",
                        name=rule.name,
                    )
                )

    # ------------------------------------------------------------------
    # Evaluation
    # ------------------------------------------------------------------

    @api.model
    def _q2c_get_rules(self, company):
        """The active rules that apply to quotes of `company`."""
        return self.search([("company_id", "in", [False, company.id])])

    def _q2c_has_scope(self):
        self.ensure_one()
        return bool(self.product_ids or self.categ_ids or self.attribute_value_ids)

    def _q2c_matches_line(self, line):
        """Whether the order line `line` is in the trigger scope of this rule."""
        self.ensure_one()
        product = line.product_id
        if not product:
            return False
        if not self._q2c_has_scope():
            return True
        if product in self.product_ids:
            return True
        if self.categ_ids and product.categ_id:
            parent_ids = {int(x) for x in (product.categ_id.parent_path or "").split("/") if x}
            if parent_ids & set(self.categ_ids.ids) or product.categ_id in self.categ_ids:
                return True
        if self.attribute_value_ids:
            values = (
                product.product_template_attribute_value_ids
                | line.product_no_variant_attribute_value_ids
            ).product_attribute_value_id
            if values & self.attribute_value_ids:
                return True
        return False

    @api.model
    def _q2c_line_quantity(self, line, month=0):
        """Quantity of `line` in its product's unit of measure; on a ramped line, the quantity
        of the ramp step in effect `month` months after the quote's start."""
        quantity = line.product_uom_qty
        if line.q2c_ramp_step_ids:
            quantity = line._q2c_ramp_step_at(month).quantity
        if line.product_uom and line.product_id and line.product_uom != line.product_id.uom_id:
            return line.product_uom._compute_quantity(quantity, line.product_id.uom_id, round=False)
        return quantity

    @api.model
    def _q2c_line_uom_quantity(self, line, quantity):
        """`quantity` in the unit of measure of `line`'s product (the unit quantity rules count
        in) converted to the line's unit, rounded up to that unit's rounding: what a fix adds
        to or takes from the line's quantity."""
        if line.product_uom and line.product_id and line.product_uom != line.product_id.uom_id:
            return line.product_id.uom_id._compute_quantity(quantity, line.product_uom)
        return quantity

    @api.model
    def _q2c_ramp_starts(self, lines):
        """The months (counted from the quote's start) at which the quantities of `lines` can
        change, each with the first day of the ramp step starting then: ``{month: date}`` in
        order of months, 0 (no date: False) and the first month of every later ramp step (the
        date of the first line's step starting that month). Quantity rules hold at each."""
        starts = {0: False}
        for line in lines.filtered("q2c_ramp_step_ids"):
            elapsed = 0
            for step in line._q2c_ramp_steps():
                starts.setdefault(elapsed, step.date_start)
                elapsed += step.months
        return dict(sorted(starts.items()))

    def _q2c_auto_add_quantity(self, trigger_quantity):
        """Quantity of a target product added by an auto_add rule."""
        self.ensure_one()
        if self.ratio:
            return max(self._q2c_ratio_quantity(trigger_quantity), 1.0)
        return max(self.min_quantity, 1.0)

    def _q2c_ratio_quantity(self, trigger_quantity):
        """Target units needed for `trigger_quantity` trigger units: whole units, rounded up."""
        self.ensure_one()
        return float_round(self.ratio * trigger_quantity, precision_digits=0, rounding_method="UP")

    def _q2c_evaluate(self, order, lines=None):
        """Evaluate these rules on `order` (a record, saved or not).

        :return: a list of issues, dicts with `rule` (record), `severity`, `message`, `lines`
            (the order lines at fault), `key` (stable identifier of the issue on this order),
            `kind` (`violation`, `recommendation`) and `fix` (None or a dict: `type` `add` with
            `product_id` and `quantity`, `remove` with `lines`, or `set_quantity` with `line`
            and `quantity`).
        """
        if lines is None:
            lines = order.order_line.filtered(lambda ln: not ln.display_type and ln.product_id)
        issues = []
        for rule in self:
            issues += getattr(rule, "_q2c_evaluate_%s" % rule.rule_type)(order, lines)
        return issues

    def _q2c_issue(self, message, lines, key, fix=None, kind="violation", severity=None):
        self.ensure_one()
        return {
            "rule": self,
            "severity": severity or self.severity,
            "message": self.message or message,
            "lines": lines,
            "key": "%s:%s" % (self.id, key),
            "kind": kind,
            "fix": fix,
        }

    def _q2c_trigger_lines(self, lines):
        self.ensure_one()
        return lines.filtered(self._q2c_matches_line)

    @api.model
    def _q2c_names(self, records):
        return ", ".join(records.mapped("display_name"))

    def _q2c_missing_targets(self, lines):
        self.ensure_one()
        return self.target_product_ids - lines.product_id

    def _q2c_evaluate_requires(self, order, lines):
        triggers = self._q2c_trigger_lines(
            lines.filtered(lambda ln: ln.product_id not in self.target_product_ids)
        )
        if not triggers:
            return []
        return [
            self._q2c_issue(
                _(
                    "%(products)s requires %(target)s.",
                    products=self._q2c_names(triggers.product_id),
                    target=target.display_name,
                ),
                triggers,
                "add:%s" % target.id,
                fix={"type": "add", "product_id": target.id, "quantity": 1.0},
            )
            for target in self._q2c_missing_targets(lines)
        ]

    def _q2c_evaluate_recommends(self, order, lines):
        triggers = self._q2c_trigger_lines(
            lines.filtered(lambda ln: ln.product_id not in self.target_product_ids)
        )
        if not triggers:
            return []
        return [
            self._q2c_issue(
                _(
                    "%(target)s is recommended with %(products)s.",
                    products=self._q2c_names(triggers.product_id),
                    target=target.display_name,
                ),
                triggers,
                "add:%s" % target.id,
                fix={"type": "add", "product_id": target.id, "quantity": 1.0},
                kind="recommendation",
                severity="warning",
            )
            for target in self._q2c_missing_targets(lines)
        ]

    def _q2c_evaluate_auto_add(self, order, lines):
        triggers = self._q2c_trigger_lines(
            lines.filtered(lambda ln: ln.product_id not in self.target_product_ids)
        )
        if not triggers:
            return []
        quantity = self._q2c_auto_add_quantity(
            sum(self._q2c_line_quantity(line) for line in triggers)
        )
        return [
            self._q2c_issue(
                _(
                    "%(target)s must be added with %(products)s.",
                    products=self._q2c_names(triggers.product_id),
                    target=target.display_name,
                ),
                triggers,
                "add:%s" % target.id,
                fix={"type": "add", "product_id": target.id, "quantity": quantity},
            )
            for target in self._q2c_missing_targets(lines)
        ]

    def _q2c_evaluate_excludes(self, order, lines):
        excluded = lines.filtered(lambda ln: ln.product_id in self.target_product_ids)
        triggers = self._q2c_trigger_lines(lines - excluded)
        if not triggers or not excluded:
            return []
        return [
            self._q2c_issue(
                _(
                    "%(products)s cannot be sold with %(excluded)s.",
                    products=self._q2c_names(triggers.product_id),
                    excluded=self._q2c_names(excluded.product_id),
                ),
                triggers | excluded,
                "remove:%s" % ",".join(str(p) for p in sorted(excluded.product_id.ids)),
                fix={"type": "remove", "lines": excluded},
            )
        ]

    def _q2c_evaluate_quantity(self, order, lines):
        issues = []
        if self.target_product_ids:
            targets = lines.filtered(lambda ln: ln.product_id in self.target_product_ids)
            triggers = (
                self._q2c_trigger_lines(lines - targets) if self._q2c_has_scope() else targets
            )
            if not triggers:
                return []
            constrained = targets
        else:
            triggers = constrained = (
                self._q2c_trigger_lines(lines) if self._q2c_has_scope() else lines
            )
            if not triggers:
                return []
        if self.min_quantity or self.max_quantity:
            issues += self._q2c_evaluate_bounds(constrained, triggers)
        if self.ratio and self.target_product_ids and self._q2c_has_scope():
            issues += self._q2c_evaluate_ratio(targets, triggers)
        return issues

    def _q2c_evaluate_bounds(self, constrained, triggers):
        issues = []
        products = constrained.product_id
        if self.target_product_ids and self.min_quantity:
            # Required targets absent from the quote count as zero.
            products |= self.target_product_ids
        digits = self.env["decimal.precision"].precision_get("Product Unit of Measure")
        for product in products:
            product_lines = constrained.filtered(
                lambda ln, product=product: ln.product_id == product
            )
            # The bounds hold over the whole term: the quantity at the start of every ramp step
            # counts, the lowest for the minimum and the highest for the maximum.
            ramp_starts = self._q2c_ramp_starts(product_lines)
            quantities = [
                (month, sum(self._q2c_line_quantity(line, month) for line in product_lines))
                for month in ramp_starts
            ]
            low_month, low = min(quantities, key=lambda item: item[1])
            high_month, high = max(quantities, key=lambda item: item[1])
            last_line = product_lines[-1:]
            # A ramped line is mended in its ramp, not by setting the line's quantity.
            fixable = bool(last_line) and not last_line.q2c_ramp_step_ids
            if (
                self.min_quantity
                and float_compare(low, self.min_quantity, precision_digits=digits) < 0
            ):
                fix = None
                if not last_line:
                    fix = {"type": "add", "product_id": product.id, "quantity": self.min_quantity}
                elif fixable:
                    fix = {
                        "type": "set_quantity",
                        "line": last_line,
                        "quantity": last_line.product_uom_qty
                        + self._q2c_line_uom_quantity(last_line, self.min_quantity - low),
                    }
                issues.append(
                    self._q2c_issue(
                        self._q2c_bound_message("min", product, low, ramp_starts[low_month]),
                        product_lines or triggers,
                        "min:%s" % product.id,
                        fix=fix,
                    )
                )
            if (
                self.max_quantity
                and float_compare(high, self.max_quantity, precision_digits=digits) > 0
            ):
                fix = None
                new_quantity = last_line.product_uom_qty - self._q2c_line_uom_quantity(
                    last_line, high - self.max_quantity
                )
                if fixable and float_compare(new_quantity, 0, precision_digits=digits) > 0:
                    fix = {"type": "set_quantity", "line": last_line, "quantity": new_quantity}
                issues.append(
                    self._q2c_issue(
                        self._q2c_bound_message("max", product, high, ramp_starts[high_month]),
                        product_lines,
                        "max:%s" % product.id,
                        fix=fix,
                    )
                )
        return issues

    def _q2c_bound_message(self, bound, product, quantity, ramp_date):
        """Why `quantity` of `product` breaks the rule's minimum (`bound` "min") or maximum
        ("max"), naming the first day of the ramp step it starts on (if any)."""
        self.ensure_one()
        values = {
            "product": product.display_name,
            "quantity": self._q2c_format_quantity(quantity),
        }
        if bound == "min":
            values["minimum"] = self._q2c_format_quantity(self.min_quantity)
            if ramp_date:
                return _(
                    "%(product)s: the quantity %(quantity)s from %(date)s (ramp step) is below "
                    "the minimum %(minimum)s.",
                    date=format_date(self.env, ramp_date),
                    **values,
                )
            return _(
                "%(product)s: the quantity %(quantity)s is below the minimum %(minimum)s.", **values
            )
        values["maximum"] = self._q2c_format_quantity(self.max_quantity)
        if ramp_date:
            return _(
                "%(product)s: the quantity %(quantity)s from %(date)s (ramp step) is above the "
                "maximum %(maximum)s.",
                date=format_date(self.env, ramp_date),
                **values,
            )
        return _(
            "%(product)s: the quantity %(quantity)s is above the maximum %(maximum)s.", **values
        )

    def _q2c_evaluate_ratio(self, targets, triggers):
        digits = self.env["decimal.precision"].precision_get("Product Unit of Measure")
        # The ratio holds over the whole term: the largest shortfall of any ramp step counts.
        worst = None
        ramp_starts = self._q2c_ramp_starts(triggers | targets)
        for month in ramp_starts:
            trigger_quantity = sum(self._q2c_line_quantity(line, month) for line in triggers)
            required = self._q2c_ratio_quantity(trigger_quantity)
            have = sum(self._q2c_line_quantity(line, month) for line in targets)
            if (
                float_is_zero(required, precision_digits=digits)
                or float_compare(have, required, precision_digits=digits) >= 0
            ):
                continue
            if (
                worst is None
                or float_compare(required - have, worst[1] - worst[2], precision_digits=digits) > 0
            ):
                worst = (month, required, have, trigger_quantity)
        if worst is None:
            return []
        month, required, have, trigger_quantity = worst
        last_line = targets[-1:]
        if not last_line:
            fix = {
                "type": "add",
                "product_id": self.target_product_ids[:1].id,
                "quantity": required,
            }
        elif not last_line.q2c_ramp_step_ids:
            fix = {
                "type": "set_quantity",
                "line": last_line,
                "quantity": last_line.product_uom_qty
                + self._q2c_line_uom_quantity(last_line, required - have),
            }
        else:
            fix = None  # a ramped target is mended in its ramp
        ramp_date = ramp_starts[month]
        values = {
            "targets": self._q2c_names(self.target_product_ids),
            "required": self._q2c_format_quantity(required),
            "quantity": self._q2c_format_quantity(trigger_quantity),
            "products": self._q2c_names(triggers.product_id),
            "have": self._q2c_format_quantity(have),
        }
        return [
            self._q2c_issue(
                _(
                    "%(targets)s: %(required)s needed for %(quantity)s %(products)s from "
                    "%(date)s (ramp step), %(have)s on the quote.",
                    date=format_date(self.env, ramp_date),
                    **values,
                )
                if ramp_date
                else _(
                    "%(targets)s: %(required)s needed for %(quantity)s %(products)s, %(have)s on "
                    "the quote.",
                    **values,
                ),
                triggers | targets,
                "ratio",
                fix=fix,
            )
        ]

    @api.model
    def _q2c_format_quantity(self, quantity):
        digits = self.env["decimal.precision"].precision_get("Product Unit of Measure")
        text = float_repr(quantity, digits)
        return text.rstrip("0").rstrip(".") if "." in text else text
