from dateutil.relativedelta import relativedelta
from markupsafe import Markup

from odoo import Command, _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

# Order fields whose change makes a granted approval void (lines: see sale_order_line.py).
Q2C_APPROVAL_ORDER_FIELDS = {
    "pricelist_id",
    "payment_term_id",
    "currency_id",
    "fiscal_position_id",
}


class SaleOrder(models.Model):
    _inherit = "sale.order"

    # ------------------------------------------------------------------
    # Fields
    # ------------------------------------------------------------------

    q2c_quote_type = fields.Selection(
        [
            ("new", "New"),
            ("amendment", "Amendment"),
            ("renewal", "Renewal"),
            ("cancellation", "Cancellation"),
        ],
        string="Quote Type",
        required=True,
        default="new",
        tracking=True,
        copy=True,
    )
    q2c_billing_period = fields.Selection(
        [("month", "Month"), ("quarter", "Quarter"), ("year", "Year")],
        string="Billing Period",
        compute="_compute_q2c_subscription_terms",
        store=True,
        readonly=False,
        precompute=True,
        tracking=True,
        help="Recurring lines are priced and billed per billing period.",
    )
    q2c_billing_interval = fields.Integer(
        string="Billing Interval",
        compute="_compute_q2c_subscription_terms",
        store=True,
        readonly=False,
        precompute=True,
        help="Bill every N billing periods (2 with Month: every two months).",
    )
    q2c_term_months = fields.Integer(
        string="Term (months)",
        compute="_compute_q2c_subscription_terms",
        store=True,
        readonly=False,
        precompute=True,
        tracking=True,
        help="Length of the subscription term; 0 = evergreen (no end date).",
    )
    q2c_auto_renew = fields.Boolean(
        string="Auto-renew",
        compute="_compute_q2c_subscription_terms",
        store=True,
        readonly=False,
        precompute=True,
    )
    q2c_start_date = fields.Date(
        string="Start Date",
        copy=False,
        help="First day of the subscription (new, renewal) or effective date of the change "
        "(amendment, cancellation). Empty: the confirmation date.",
    )
    q2c_end_date = fields.Date(
        string="End Date",
        compute="_compute_q2c_end_date",
        help="Last day of the term (start date + term - 1 day); empty for an evergreen term.",
    )
    q2c_renewal_uplift = fields.Float(
        string="Renewal Uplift (%)",
        help="Renewal quotes: price increase applied to the renewed lines.",
    )
    q2c_config_issues = fields.Json(
        string="Configuration Check",
        compute="_compute_q2c_config_issues",
        help="Configuration rule violations and recommendations of the quote.",
    )
    q2c_config_has_errors = fields.Boolean(compute="_compute_q2c_config_issues")
    q2c_config_has_fixes = fields.Boolean(compute="_compute_q2c_config_issues")
    q2c_approval_state = fields.Selection(
        [
            ("not_required", "Not Required"),
            ("pending", "Pending"),
            ("approved", "Approved"),
            ("rejected", "Rejected"),
        ],
        string="Approval",
        compute="_compute_q2c_approval_state",
        store=True,
        tracking=True,
        copy=False,
    )
    q2c_approval_ids = fields.One2many(
        "q2c.quote.approval", "order_id", string="Approval Steps", copy=False
    )
    q2c_approval_requested = fields.Boolean(
        string="Approval Requested", compute="_compute_q2c_approval_current"
    )
    q2c_approval_level = fields.Integer(
        string="Current Approval Level", compute="_compute_q2c_approval_current"
    )
    q2c_can_approve = fields.Boolean(compute="_compute_q2c_approval_current")

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("order_line.q2c_exact_price_unit")
    def _compute_amounts(self):
        return super()._compute_amounts()

    @api.depends("order_line.q2c_exact_price_unit")
    def _compute_tax_totals(self):
        return super()._compute_tax_totals()

    @api.depends("sale_order_template_id")
    def _compute_q2c_subscription_terms(self):
        for order in self:
            template = order.sale_order_template_id
            if template and template.q2c_billing_period:
                order.q2c_billing_period = template.q2c_billing_period
                order.q2c_billing_interval = template.q2c_billing_interval or 1
                order.q2c_term_months = template.q2c_term_months
                order.q2c_auto_renew = template.q2c_auto_renew
            else:
                order.q2c_billing_period = order.q2c_billing_period or "month"
                order.q2c_billing_interval = order.q2c_billing_interval or 1
                order.q2c_term_months = order.q2c_term_months or 0
                order.q2c_auto_renew = order.q2c_auto_renew or False

    @api.depends("q2c_start_date", "q2c_term_months", "date_order")
    def _compute_q2c_end_date(self):
        for order in self:
            start = order._q2c_get_start_date()
            order.q2c_end_date = (
                start + relativedelta(months=order.q2c_term_months, days=-1)
                if order.q2c_term_months > 0
                else False
            )

    @api.constrains("q2c_billing_interval", "q2c_term_months", "q2c_renewal_uplift")
    def _check_q2c_subscription_terms(self):
        for order in self:
            if order.q2c_billing_interval < 1:
                raise ValidationError(
                    _("Quote %(order)s: the billing interval must be at least 1.", order=order.name)
                )
            if order.q2c_term_months < 0:
                raise ValidationError(
                    _("Quote %(order)s: the term (months) cannot be negative.", order=order.name)
                )
            if order.q2c_renewal_uplift <= -100:
                raise ValidationError(
                    _("Quote %(order)s: the renewal uplift must be above -100%%.", order=order.name)
                )

    @api.depends(
        "order_line",
        "order_line.product_id",
        "order_line.product_uom_qty",
        "order_line.product_uom",
        "order_line.product_no_variant_attribute_value_ids",
        "company_id",
    )
    def _compute_q2c_config_issues(self):
        for order in self:
            issues = order._q2c_get_config_issues()
            order.q2c_config_issues = [order._q2c_issue_to_json(issue) for issue in issues]
            order.q2c_config_has_errors = any(
                issue["severity"] == "error" and issue["kind"] == "violation" for issue in issues
            )
            order.q2c_config_has_fixes = any(issue["fix"] for issue in issues)

    @api.depends(
        "order_line.discount",
        "order_line.price_subtotal",
        "order_line.product_id",
        "amount_untaxed",
        "payment_term_id",
        "currency_id",
        "company_id",
        "q2c_approval_ids.state",
    )
    def _compute_q2c_approval_state(self):
        for order in self:
            rules = order._q2c_get_approval_rules()
            steps = order.q2c_approval_ids.filtered(lambda s: s.state != "cancel")
            if any(step.state == "rejected" for step in steps):
                order.q2c_approval_state = "rejected"
            elif (
                steps
                and all(step.state == "approved" for step in steps)
                and not (rules.keys() - set(steps.rule_id))
            ):
                order.q2c_approval_state = "approved"
            elif not rules:
                order.q2c_approval_state = "not_required"
            else:
                order.q2c_approval_state = "pending"

    @api.depends("q2c_approval_ids.state")
    @api.depends_context("uid")
    def _compute_q2c_approval_current(self):
        for order in self:
            current = order._q2c_current_approval_steps()
            order.q2c_approval_requested = bool(
                order.q2c_approval_ids.filtered(lambda s: s.state in ("waiting", "pending"))
            )
            order.q2c_approval_level = current[:1].sequence
            order.q2c_can_approve = any(step._q2c_can_decide(self.env.user) for step in current)

    # ------------------------------------------------------------------
    # Onchanges
    # ------------------------------------------------------------------

    @api.onchange("order_line")
    def _onchange_order_line_q2c_auto_add(self):
        if self.state not in ("draft", "sent"):
            return
        vals_list = self._q2c_get_auto_add_vals()
        if vals_list:
            self.order_line = [Command.create(vals) for vals in vals_list]

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    def write(self, vals):
        relevant = Q2C_APPROVAL_ORDER_FIELDS & set(vals)
        if relevant:
            changed = self.filtered(
                lambda o: any(o._fields[f].convert_to_write(o[f], o) != vals[f] for f in relevant)
            )
        res = super().write(vals)
        if relevant and changed:
            changed._q2c_reset_approvals(relevant)
        return res

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_quotation_send(self):
        self.filtered(lambda o: o.state in ("draft", "sent"))._q2c_check_blocking("send")
        return super().action_quotation_send()

    def action_quotation_sent(self):
        self.filtered(lambda o: o.state == "draft")._q2c_check_blocking("send")
        return super().action_quotation_sent()

    def _confirmation_error_message(self):
        error = super()._confirmation_error_message()
        if error:
            return error
        return self._q2c_blocking_message("confirm")

    @api.returns("mail.message", lambda value: value.id)
    def message_post(self, **kwargs):
        if self.env.context.get("mark_so_as_sent"):
            self.filtered(lambda o: o.state == "draft")._q2c_check_blocking("send")
        return super().message_post(**kwargs)

    def action_q2c_apply_fix(self, key):
        """Apply the fix of the configuration issue `key` (see `q2c_config_issues`)."""
        self.ensure_one()
        self.check_access("write")
        self._q2c_check_editable()
        issue = next(
            (i for i in self._q2c_get_config_issues() if i["key"] == key and i["fix"]), None
        )
        if not issue:
            raise UserError(
                _(
                    "The configuration issue %(key)s no longer applies to %(order)s: reload the quote.",
                    key=key,
                    order=self.name,
                )
            )
        self._q2c_apply_fixes([issue])
        return True

    def action_q2c_apply_fixes(self):
        """Apply every fixable configuration issue (violations and recommendations)."""
        self.check_access("write")
        for order in self:
            order._q2c_check_editable()
            order._q2c_apply_fixes([i for i in order._q2c_get_config_issues() if i["fix"]])
        return True

    def action_q2c_request_approval(self):
        """Ask the approvers of the lowest level for their approval (activities, chatter)."""
        self.check_access("write")
        for order in self:
            order._q2c_check_editable()
            errors = order._q2c_get_config_errors()
            if errors:
                raise UserError(
                    _(
                        "Fix the configuration errors of %(order)s before asking for approval:\n%(errors)s",
                        order=order.name,
                        errors="\n".join(issue["message"] for issue in errors),
                    )
                )
            rules = order._q2c_get_approval_rules()
            if not rules:
                raise UserError(_("Quote %(order)s does not need an approval.", order=order.name))
            if order.q2c_approval_ids.filtered(lambda s: s.state in ("waiting", "pending")):
                raise UserError(
                    _(
                        "The approval of quote %(order)s has already been requested.",
                        order=order.name,
                    )
                )
            if order.q2c_approval_state == "approved":
                raise UserError(_("Quote %(order)s is already approved.", order=order.name))
            order._q2c_request_approval(rules)
        return True

    def action_q2c_approve(self):
        """Approve the current level (as a member of its approver group or as its delegate).

        The right to decide is the approver group or the delegation of the current level's
        rules (checked in `_q2c_get_decidable_steps`), not the access to the quote: a delegate
        may approve a quote they could not read."""
        # sudo: reading the steps of the quote to check the user's right to decide.
        for order in self.sudo():
            steps = order._q2c_get_decidable_steps()
            # sudo: the approver may not have write access to the quote; checked above.
            steps.sudo().write(
                {
                    "state": "approved",
                    "user_id": self.env.user.id,
                    "date": fields.Datetime.now(),
                }
            )
            order.sudo()._q2c_after_approval(steps)
        return True

    def action_q2c_reject(self, reason):
        """Reject the quote at the current level; `reason` (text) is required."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError(_("Give a reason (reason) to reject the quote."))
        reason = reason.strip()
        # sudo: reading the steps of the quote to check the user's right to decide (as approve).
        for order in self.sudo():
            steps = order._q2c_get_decidable_steps()
            # sudo: the approver may not have write access to the quote; checked above.
            steps.sudo().write(
                {
                    "state": "rejected",
                    "user_id": self.env.user.id,
                    "date": fields.Datetime.now(),
                    "decision_note": reason,
                }
            )
            order.q2c_approval_ids.sudo().filtered(
                lambda s: s.state in ("waiting", "pending")
            ).write({"state": "cancel"})
            order.sudo()._q2c_clear_approval_activities(done_by=self.env.user, feedback=reason)
            order.sudo().message_post(
                body=Markup("<p>%s</p>")
                % _(
                    "Quote rejected at level %(level)s: %(reason)s",
                    level=steps[:1].sequence,
                    reason=reason,
                ),
                author_id=self.env.user.partner_id.id,
                subtype_xmlid="mail.mt_note",
            )
            if order.user_id:
                order.sudo().activity_schedule(
                    "mail.mail_activity_data_todo",
                    user_id=order.user_id.id,
                    summary=_("Quote rejected"),
                    note=reason,
                )
        return True

    def action_q2c_open_reject_wizard(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Reject Quote"),
            "res_model": "q2c.approval.reject.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_order_id": self.id},
        }

    # ------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------

    def q2c_check_configuration(self):
        """Configuration rule violations and recommendations of this quote.

        :return: list of {"rule_id", "severity" ("error", "warning"), "message", "line_ids"}.
        """
        self.ensure_one()
        self.check_access("read")
        return [
            {
                "rule_id": issue["rule"].id,
                "severity": issue["severity"],
                "message": issue["message"],
                "line_ids": issue["lines"]._origin.ids,
            }
            for issue in self._q2c_get_config_issues()
        ]

    # ------------------------------------------------------------------
    # Subscription terms
    # ------------------------------------------------------------------

    def _q2c_period_months(self):
        """Length of one billing period of the quote in months (period x interval)."""
        self.ensure_one()
        months = {"month": 1, "quarter": 3, "year": 12}[self.q2c_billing_period or "month"]
        return months * max(self.q2c_billing_interval, 1)

    def _q2c_get_start_date(self):
        """The start (or effective) date of the quote: `q2c_start_date`, else the order date."""
        self.ensure_one()
        if self.q2c_start_date:
            return self.q2c_start_date
        if self.date_order:
            return fields.Datetime.context_timestamp(self, self.date_order).date()
        return fields.Date.context_today(self)

    # ------------------------------------------------------------------
    # Configuration rules
    # ------------------------------------------------------------------

    def _q2c_get_config_issues(self):
        """Issues of the configuration rules on this quote (see `q2c.config.rule._q2c_evaluate`)."""
        self.ensure_one()
        company = self.company_id or self.env.company
        rules = self.env["q2c.config.rule"].sudo()._q2c_get_rules(company)
        issues = rules._q2c_evaluate(self)
        for issue in issues:
            issue["rule"] = issue["rule"].with_env(self.env)
        return issues

    def _q2c_get_config_errors(self):
        self.ensure_one()
        return [
            issue
            for issue in self._q2c_get_config_issues()
            if issue["severity"] == "error" and issue["kind"] == "violation"
        ]

    def _q2c_issue_to_json(self, issue):
        fix = issue["fix"]
        label = False
        if fix:
            if fix["type"] == "add":
                product = self.env["product.product"].browse(fix["product_id"])
                label = _("Add %(product)s", product=product.display_name)
            elif fix["type"] == "remove":
                label = _(
                    "Remove %(products)s",
                    products=", ".join(fix["lines"].product_id.mapped("display_name")),
                )
            elif fix["type"] == "set_quantity":
                label = _(
                    "Set %(product)s to %(quantity)s",
                    product=fix["line"].product_id.display_name,
                    quantity=self.env["q2c.config.rule"]._q2c_format_quantity(fix["quantity"]),
                )
        return {
            "key": issue["key"],
            "rule_id": issue["rule"].id,
            "severity": issue["severity"],
            "kind": issue["kind"],
            "message": issue["message"],
            "line_ids": issue["lines"]._origin.ids,
            "fix_label": label,
        }

    def _q2c_prepare_fix_line_vals(self, product, quantity):
        self.ensure_one()
        return {
            "order_id": self.id,
            "product_id": product.id,
            "product_uom_qty": quantity,
            "sequence": max(self.order_line.mapped("sequence") or [10]) + 1,
        }

    def _q2c_apply_fixes(self, issues):
        """Apply the fixes of `issues` (saved quote): add, remove or set quantities."""
        self.ensure_one()
        to_add = {}
        to_remove = self.env["sale.order.line"]
        to_set = {}
        for issue in issues:
            fix = issue["fix"]
            if fix["type"] == "add":
                to_add[fix["product_id"]] = max(to_add.get(fix["product_id"], 0.0), fix["quantity"])
            elif fix["type"] == "remove":
                to_remove |= fix["lines"]
            elif fix["type"] == "set_quantity":
                to_set[fix["line"]] = fix["quantity"]
        for line, quantity in to_set.items():
            if line not in to_remove:
                line.product_uom_qty = quantity
        if to_remove:
            to_remove.unlink()
        if to_add:
            products = self.env["product.product"].browse(list(to_add))
            self.env["sale.order.line"].create(
                [
                    self._q2c_prepare_fix_line_vals(product, to_add[product.id])
                    for product in products
                ]
            )

    def _q2c_get_auto_add_vals(self):
        """Order line values for the target products of auto_add rules missing on the quote."""
        self.ensure_one()
        company = self.company_id or self.env.company
        rules = (
            self.env["q2c.config.rule"]
            .sudo()
            ._q2c_get_rules(company)
            .filtered(lambda r: r.rule_type == "auto_add")
        )
        if not rules:
            return []
        quantities = {}
        for issue in rules._q2c_evaluate(self):
            fix = issue["fix"]
            quantities[fix["product_id"]] = max(
                quantities.get(fix["product_id"], 0.0), fix["quantity"]
            )
        products = self.env["product.product"].browse(list(quantities))
        vals_list = []
        for product in products:
            vals = self._q2c_prepare_fix_line_vals(product, quantities[product.id])
            vals.pop("order_id")
            vals_list.append(vals)
        return vals_list

    def _q2c_apply_auto_add(self):
        for order in self.filtered(lambda o: o.state in ("draft", "sent")):
            vals_list = order._q2c_get_auto_add_vals()
            if vals_list:
                self.env["sale.order.line"].create(
                    [dict(vals, order_id=order.id) for vals in vals_list]
                )

    def _q2c_after_lines_change(self, lines, fields_changed=None):
        """Hook after order lines of `self` were created, written or removed."""
        if fields_changed is None or fields_changed:
            names = fields_changed or {"order_line"}
            self._q2c_reset_approvals(names)
        self._q2c_apply_auto_add()

    def _q2c_check_editable(self):
        for order in self:
            if order.state not in ("draft", "sent"):
                raise UserError(
                    _(
                        "Quote %(order)s is not a quotation any more (state: %(state)s).",
                        order=order.name,
                        state=dict(order._fields["state"]._description_selection(self.env))[
                            order.state
                        ],
                    )
                )

    # ------------------------------------------------------------------
    # Blocking send, confirm and sign
    # ------------------------------------------------------------------

    def _q2c_blocking_message(self, action):
        """Why this quote cannot be sent, confirmed or signed (`action`: `send`, `confirm`,
        `sign`), or False. Error-level configuration violations and missing approvals block."""
        self.ensure_one()
        if self.env.context.get("q2c_skip_checks"):
            return False
        errors = self._q2c_get_config_errors()
        if errors:
            intro = {
                "send": _(
                    "Quote %(order)s cannot be sent: fix its configuration errors first.",
                    order=self.name,
                ),
                "confirm": _(
                    "Quote %(order)s cannot be confirmed: fix its configuration errors first.",
                    order=self.name,
                ),
                "sign": _(
                    "Quote %(order)s cannot be signed yet: its configuration is being completed.",
                    order=self.name,
                ),
            }[action]
            return "\n".join([intro] + [issue["message"] for issue in errors])
        self._q2c_refresh_approval_state()
        if self.q2c_approval_state in ("pending", "rejected"):
            reasons = "; ".join(
                self.env._(
                    "%(rule)s (%(reasons)s)", rule=rule.name, reasons=", ".join(rule_reasons)
                )
                for rule, rule_reasons in self._q2c_get_approval_rules().items()
            )
            if self.q2c_approval_state == "rejected":
                return {
                    "send": _(
                        "Quote %(order)s was rejected by the deal desk: change it and request approval again before sending it.",
                        order=self.name,
                    ),
                    "confirm": _(
                        "Quote %(order)s was rejected by the deal desk: change it and request approval again before confirming it.",
                        order=self.name,
                    ),
                    "sign": _("Quote %(order)s is not available for signature.", order=self.name),
                }[action]
            return {
                "send": _(
                    "Quote %(order)s needs an approval before it can be sent: %(reasons)s.",
                    order=self.name,
                    reasons=reasons,
                ),
                "confirm": _(
                    "Quote %(order)s needs an approval before it can be confirmed: %(reasons)s.",
                    order=self.name,
                    reasons=reasons,
                ),
                "sign": _(
                    "Quote %(order)s is awaiting internal approval and cannot be signed yet.",
                    order=self.name,
                ),
            }[action]
        return False

    def _q2c_check_blocking(self, action):
        messages = [msg for msg in (order._q2c_blocking_message(action) for order in self) if msg]
        if messages:
            raise UserError("\n\n".join(messages))

    def _q2c_portal_notice(self):
        """What the customer reads on the portal when the quote cannot be accepted yet."""
        self.ensure_one()
        if self.state not in ("draft", "sent") or not (
            self.require_signature or self.require_payment
        ):
            return False
        if not self._q2c_blocking_message("sign"):
            return False
        if self.q2c_approval_state in ("pending", "rejected") and not self._q2c_get_config_errors():
            return _(
                "This quote is awaiting approval by our team: you can accept it once approved."
            )
        return _(
            "This quote is being finalized by our team: you can accept it once it is complete."
        )

    def _has_to_be_signed(self):
        return super()._has_to_be_signed() and not self._q2c_blocking_message("sign")

    def _has_to_be_paid(self):
        return super()._has_to_be_paid() and not self._q2c_blocking_message("sign")

    # ------------------------------------------------------------------
    # Approvals
    # ------------------------------------------------------------------

    def _q2c_get_approval_rules(self):
        """The approval rules this quote crosses, as {rule: [reasons]} in level order."""
        self.ensure_one()
        company = self.company_id or self.env.company
        rules = self.env["q2c.approval.rule"].sudo()._q2c_get_rules(company)
        result = {}
        for rule in rules:
            reasons = rule._q2c_get_reasons(self)
            if reasons:
                result[rule.with_env(self.env)] = reasons
        return result

    def _q2c_margin_percent(self):
        """Margin of the quote in % of its untaxed total (None when the total is zero): product
        cost is the line's `purchase_price` when sale_margin is installed, else the product's
        standard cost."""
        self.ensure_one()
        if self.currency_id.is_zero(self.amount_untaxed):
            return None
        company = self.company_id or self.env.company
        date = self.date_order or fields.Date.context_today(self)
        cost = 0.0
        for line in self.order_line.filtered(lambda ln: not ln.display_type and ln.product_id):
            if "purchase_price" in line._fields:
                unit_cost = line.purchase_price
            else:
                unit_cost = company.currency_id._convert(
                    line.product_id.with_company(company).standard_price,
                    self.currency_id,
                    company,
                    date,
                    round=False,
                )
            quantity = self.env["q2c.config.rule"]._q2c_line_quantity(line)
            cost += unit_cost * quantity
        return (self.amount_untaxed - cost) / self.amount_untaxed * 100.0

    def _q2c_refresh_approval_state(self):
        self.env.add_to_compute(self._fields["q2c_approval_state"], self)
        self.flush_recordset(["q2c_approval_state"])

    def _q2c_current_approval_steps(self):
        """The steps waiting for a decision at the lowest pending level."""
        self.ensure_one()
        pending = self.q2c_approval_ids.filtered(lambda s: s.state == "pending")
        if not pending:
            return pending
        level = min(pending.mapped("sequence"))
        return pending.filtered(lambda s: s.sequence == level)

    def _q2c_get_decidable_steps(self):
        """The current steps the current user may decide; raises when there is none."""
        self.ensure_one()
        current = self._q2c_current_approval_steps()
        if not current:
            raise UserError(_("Quote %(order)s has no approval waiting.", order=self.name))
        steps = current.filtered(lambda s: s._q2c_can_decide(self.env.user))
        if not steps:
            raise AccessError(
                _(
                    "You cannot approve or reject quote %(order)s at level %(level)s: it is for "
                    "%(approvers)s.",
                    order=self.name,
                    level=current[:1].sequence,
                    approvers=", ".join(
                        {s.approver_group_id.full_name for s in current}
                        | {s.delegate_user_id.name for s in current if s.delegate_user_id}
                    ),
                )
            )
        return steps

    def _q2c_prepare_approval_step_vals(self, rule, reasons, first_level):
        self.ensure_one()
        return {
            "order_id": self.id,
            "rule_id": rule.id,
            "sequence": rule.sequence,
            "reason": ", ".join(reasons),
            "state": "pending" if rule.sequence == first_level else "waiting",
        }

    def _q2c_request_approval(self, rules):
        self.ensure_one()
        first_level = min(rule.sequence for rule in rules)
        # sudo: approval steps are written by the workflow only; rights checked by the caller.
        self.q2c_approval_ids.sudo().filtered(lambda s: s.state != "cancel").write(
            {"state": "cancel"}
        )
        steps = (
            self.env["q2c.quote.approval"]
            .sudo()
            .create(
                [
                    self._q2c_prepare_approval_step_vals(rule, reasons, first_level)
                    for rule, reasons in rules.items()
                ]
            )
        )
        self.message_post(
            body=Markup("<p>%s</p><ul>%s</ul>")
            % (
                _("Approval requested."),
                Markup().join(
                    Markup("<li>%s</li>")
                    % self.env._(
                        "Level %(level)s, %(rule)s: %(reason)s",
                        level=step.sequence,
                        rule=step.rule_id.name,
                        reason=step.reason,
                    )
                    for step in steps
                ),
            ),
            subtype_xmlid="mail.mt_note",
        )
        self.sudo()._q2c_schedule_approval_activities(
            steps.filtered(lambda s: s.state == "pending")
        )

    def _q2c_get_approvers(self, steps):
        users = self.env["res.users"]
        for step in steps:
            users |= step.approver_group_id.users.filtered(lambda u: not u.share and u.active)
            users |= step.delegate_user_id
        return users - self.env.ref("base.user_root")

    def _q2c_schedule_approval_activities(self, steps):
        for user in self._q2c_get_approvers(steps):
            self.activity_schedule(
                "q2c_cpq.mail_activity_type_q2c_approval",
                user_id=user.id,
                summary=_(
                    "Approve quote %(order)s (level %(level)s)",
                    order=self.name,
                    level=steps[:1].sequence,
                ),
                note=", ".join(steps.mapped("reason")),
            )

    def _q2c_clear_approval_activities(self, done_by=None, feedback=None):
        if done_by:
            self.activity_feedback(
                ["q2c_cpq.mail_activity_type_q2c_approval"], user_id=done_by.id, feedback=feedback
            )
        self.activity_unlink(["q2c_cpq.mail_activity_type_q2c_approval"])

    def _q2c_after_approval(self, steps):
        """After `steps` were approved: open the next level or finish."""
        self.ensure_one()
        self.message_post(
            body=Markup("<p>%s</p>")
            % _(
                "Approved at level %(level)s (%(rules)s).",
                level=steps[:1].sequence,
                rules=", ".join(steps.rule_id.mapped("name")),
            ),
            author_id=self.env.user.partner_id.id,
            subtype_xmlid="mail.mt_note",
        )
        if self._q2c_current_approval_steps():
            # Other rules of the same level still wait for their approvers.
            self.activity_feedback(
                ["q2c_cpq.mail_activity_type_q2c_approval"], user_id=self.env.user.id
            )
            return
        self._q2c_clear_approval_activities(done_by=self.env.user)
        waiting = self.q2c_approval_ids.filtered(lambda s: s.state == "waiting")
        if waiting:
            level = min(waiting.mapped("sequence"))
            next_steps = waiting.filtered(lambda s: s.sequence == level)
            next_steps.write({"state": "pending"})
            self._q2c_schedule_approval_activities(next_steps)
        else:
            self.message_post(
                body=Markup("<p>%s</p>")
                % _("The quote is approved: it can be sent and confirmed."),
                subtype_xmlid="mail.mt_note",
            )

    def _q2c_reset_approvals(self, field_names):
        """Void the approval requested or granted: the quote changed (`field_names`)."""
        if self.env.context.get("q2c_keep_approval"):
            return
        for order in self.filtered(lambda o: o.state in ("draft", "sent")):
            steps = order.q2c_approval_ids.filtered(lambda s: s.state != "cancel")
            if not steps:
                continue
            # sudo: reset by the workflow after a change the user was allowed to make.
            steps.sudo().write({"state": "cancel"})
            order.sudo()._q2c_clear_approval_activities()
            labels = sorted(
                {
                    (
                        order._fields.get(name) or self.env["sale.order.line"]._fields[name]
                    )._description_string(self.env)
                    for name in field_names
                    if name in order._fields or name in self.env["sale.order.line"]._fields
                }
            )
            order.message_post(
                body=Markup("<p>%s</p>")
                % _(
                    "The approval was reset: the quote changed (%(fields)s). Request it again.",
                    fields=", ".join(labels),
                ),
                subtype_xmlid="mail.mt_note",
            )
