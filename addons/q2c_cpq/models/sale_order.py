from dateutil.relativedelta import relativedelta
from markupsafe import Markup
from psycopg2.errors import ReadOnlySqlTransaction

from odoo import Command, _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from odoo.addons.q2c_billing.tools import period as periods

# Order fields whose change makes a granted approval void (lines: see sale_order_line.py).
Q2C_APPROVAL_ORDER_FIELDS = {
    "q2c_quote_type",
    "q2c_subscription_id",
    "q2c_billing_period",
    "q2c_billing_interval",
    "q2c_term_months",
    "q2c_renewal_uplift",
    "pricelist_id",
    "payment_term_id",
    "currency_id",
    "fiscal_position_id",
}


# The subscription terms of a quote: from its quotation template, editable on the quote.
Q2C_TERMS_FIELD = {
    "compute": "_compute_q2c_subscription_terms",
    "store": True,
    "readonly": False,
    "precompute": True,
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
        **Q2C_TERMS_FIELD,
        tracking=True,
        help="Recurring lines are priced and billed per billing period.",
    )
    q2c_billing_interval = fields.Integer(
        string="Billing Interval",
        **Q2C_TERMS_FIELD,
        help="Bill every N billing periods (2 with Month: every two months).",
    )
    q2c_term_months = fields.Integer(
        string="Term (months)",
        **Q2C_TERMS_FIELD,
        tracking=True,
        help="Length of the subscription term; 0 = evergreen (no end date).",
    )
    q2c_auto_renew = fields.Boolean(
        string="Auto-renew",
        **Q2C_TERMS_FIELD,
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
    q2c_subscription_id = fields.Many2one(
        "q2c.subscription",
        string="Subscription",
        copy=False,
        index="btree_not_null",
        tracking=True,
        check_company=True,
        domain="[('partner_id', 'child_of', q2c_commercial_partner_id), ('state', '!=', 'closed')]",
        help="The subscription this quote amends, renews or cancels; for a new quote, the "
        "subscription created on confirmation.",
    )
    q2c_commercial_partner_id = fields.Many2one(related="partner_id.commercial_partner_id")
    q2c_close_reason_id = fields.Many2one(
        "q2c.close.reason",
        string="Cancellation Reason",
        help="Cancellation quotes: the reason given to the subscription when it is closed.",
    )
    q2c_preview_html = fields.Html(
        string="Preview",
        compute="_compute_q2c_preview_html",
        sanitize=False,
        help="Invoice schedule, MRR and ARR change and total contract value of the quote.",
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
    q2c_ramp_step_ids = fields.One2many(
        "q2c.ramp.step",
        "order_id",
        string="Ramps",
        readonly=True,
        help="The ramp steps of the quote's lines (edit them from a line's Ramp button).",
    )

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
        "order_line.q2c_ramp_step_ids.quantity",
        "order_line.q2c_ramp_step_ids.months",
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
        "order_line.q2c_ramp_step_ids.discount",
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

    @api.onchange("q2c_subscription_id", "q2c_quote_type")
    def _onchange_q2c_subscription_id(self):
        if self.state not in ("draft", "sent") or self.q2c_quote_type == "new":
            return
        sub = self.q2c_subscription_id
        loaded = self.order_line.filtered("q2c_subscription_line_id")
        if loaded and loaded.q2c_subscription_line_id.subscription_id == sub._origin:
            return
        commands = [Command.delete(line.id) for line in loaded]
        if sub:
            self.partner_id = self.partner_id or sub.partner_id
            commands += [
                Command.create(vals) for vals in self._q2c_prepare_lines_from_subscription(sub)
            ]
        self.order_line = commands

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        Subscription = self.env["q2c.subscription"]
        for vals in vals_list:
            if (
                vals.get("q2c_subscription_id")
                and vals.get("q2c_quote_type", "new") != "new"
                and not vals.get("order_line")
            ):
                sub = Subscription.browse(vals["q2c_subscription_id"])
                sub.check_access("read")
                vals["order_line"] = [
                    Command.create(line_vals)
                    for line_vals in self.with_context(
                        q2c_quote_type=vals["q2c_quote_type"],
                        q2c_start_date=vals.get("q2c_start_date"),
                    )._q2c_prepare_lines_from_subscription(sub)
                ]
        return super().create(vals_list)

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
        return self._q2c_blocking_message("confirm") or self._q2c_subscription_error_message()

    def _action_confirm(self):
        res = super()._action_confirm()
        for order in self:
            order._q2c_apply_to_subscription()
        return res

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

    def q2c_preview(self):
        """What the quote does to the customer's subscription, before confirmation (pure).

        :return: {"invoice_schedule": [{"date", "amount"}], "mrr_delta", "arr_delta", "tcv",
            "currency"} and, when q2c_revrec provides it, "revenue_schedule": [{"period",
            "amount"}]. Amounts are untaxed, in the quote's currency; see readme/USAGE.md.
        """
        self.ensure_one()
        self.check_access("read")
        preview = self._q2c_compute_preview()
        revenue = self._q2c_preview_revenue_schedule(preview)
        if revenue is not None:
            preview["revenue_schedule"] = revenue
        return preview

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

    def _q2c_ramp_start(self):
        """First day of the ramps of the quote's lines: the first day of the renewal term on a
        renewal, else the start date."""
        self.ensure_one()
        if self.q2c_quote_type == "renewal" and self.q2c_subscription_id.sudo().end_date:
            return self._q2c_renewal_start()
        return self._q2c_effective_date()

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

    # ------------------------------------------------------------------
    # Quote types: lines from the subscription, checks, confirmation
    # ------------------------------------------------------------------

    def _q2c_effective_date(self):
        """The date a quote acts on its subscription: the start date of a new subscription, the
        effective date of an amendment, the first day of a renewal term or the last day of
        service of a cancellation (see `_q2c_renewal_start` for renewals)."""
        self.ensure_one()
        if self.q2c_start_date:
            return self.q2c_start_date
        if self.state == "sale" and self.date_order:
            return fields.Datetime.context_timestamp(self, self.date_order).date()
        return fields.Date.context_today(self)

    def _q2c_prepare_lines_from_subscription(self, subscription):
        """Order line values reproducing the subscription's current lines (amendments and
        renewals start from them; a cancellation shows them at quantity 0)."""
        quote_type = self.env.context.get("q2c_quote_type") or self[:1].q2c_quote_type
        # sudo: the lines of a subscription the user may read (checked by the caller).
        sub = subscription.sudo()
        day = fields.Date.context_today(self)
        if quote_type == "renewal" and sub.end_date:
            day = sub.end_date
        vals_list = []
        for sequence, line in enumerate(sub.line_ids.sorted(lambda ln: (ln.sequence, ln.id))):
            if line.end_date and line.end_date < day:
                continue
            if line.charge_type == "one_time" and (line.one_time_billed or quote_type != "new"):
                continue
            vals_list.append(
                {
                    "product_id": line.product_id.id,
                    "q2c_price_plan_id": line.price_plan_id.id,
                    "product_uom_qty": 0.0 if quote_type == "cancellation" else line.quantity,
                    "discount": line.discount,
                    "sequence": 10 + sequence,
                    "q2c_subscription_line_id": line.id,
                    "q2c_previous_quantity": line.quantity,
                }
            )
        return vals_list

    def _q2c_subscription_lines(self):
        """The lines that go to the subscription (they have a price plan)."""
        self.ensure_one()
        return self.order_line.filtered(lambda ln: ln._q2c_is_subscription_line())

    def _q2c_needs_subscription(self):
        """A new quote creates a subscription when it has recurring or usage lines."""
        self.ensure_one()
        return any(
            line.q2c_charge_type in ("recurring", "usage") and line.product_uom_qty > 0
            for line in self._q2c_subscription_lines()
        )

    def _q2c_subscription_error_message(self):
        """Why the quote cannot be applied to a subscription, or False."""
        self.ensure_one()
        if self.env.context.get("q2c_skip_checks"):
            return False
        lines = self._q2c_subscription_lines()
        for line in lines:
            ramp_error = line._q2c_ramp_error_message()
            if ramp_error:
                return ramp_error
            plan = line.q2c_price_plan_id
            if plan.currency_id and plan.currency_id != self.currency_id:
                return _(
                    "Quote %(order)s, line %(product)s: the price plan %(plan)s is in "
                    "%(plan_currency)s, the quote in %(currency)s.",
                    order=self.name,
                    product=line.product_id.display_name,
                    plan=plan.name,
                    plan_currency=plan.currency_id.name,
                    currency=self.currency_id.name,
                )
            if (
                plan.charge_type != "usage"
                and not line.q2c_bundle_parent_id
                and line.product_uom_qty > 0
                and not line.q2c_exact_price_unit
            ):
                return _(
                    "Quote %(order)s, line %(product)s: its unit price was changed by hand, "
                    "but the subscription bills the price plan %(plan)s. Reset the price "
                    "(Update Prices) and give a discount instead.",
                    order=self.name,
                    product=line.product_id.display_name,
                    plan=plan.name,
                )
        if self.q2c_quote_type == "new":
            return False
        sub = self.q2c_subscription_id.sudo()  # sudo: read the state of the linked subscription
        if not sub:
            return _(
                "Quote %(order)s is a %(type)s: set the field 'Subscription'.",
                order=self.name,
                type=self._q2c_quote_type_label(),
            )
        if sub.state == "closed":
            return _(
                "Quote %(order)s: the subscription %(sub)s is closed.",
                order=self.name,
                sub=sub.name,
            )
        if sub.partner_id.commercial_partner_id != self.partner_id.commercial_partner_id:
            return _(
                "Quote %(order)s: the subscription %(sub)s belongs to %(partner)s, not to the "
                "quote's customer.",
                order=self.name,
                sub=sub.name,
                partner=sub.partner_id.display_name,
            )
        if sub.currency_id != self.currency_id:
            return _(
                "Quote %(order)s: the subscription %(sub)s is in %(sub_currency)s, the quote in "
                "%(currency)s.",
                order=self.name,
                sub=sub.name,
                sub_currency=sub.currency_id.name,
                currency=self.currency_id.name,
            )
        if self.q2c_quote_type == "renewal":
            if not sub.end_date:
                return _(
                    "Quote %(order)s: the subscription %(sub)s has no end date (evergreen), it "
                    "cannot be renewed; use an amendment.",
                    order=self.name,
                    sub=sub.name,
                )
            if self.q2c_term_months <= 0:
                return _(
                    "Quote %(order)s: a renewal needs the field 'Term (months)'.",
                    order=self.name,
                )
        return False

    def _q2c_quote_type_label(self):
        self.ensure_one()
        return dict(self._fields["q2c_quote_type"]._description_selection(self.env))[
            self.q2c_quote_type
        ]

    def _q2c_prepare_subscription_vals(self):
        """Values of the subscription a new quote creates (lines included)."""
        self.ensure_one()
        start = self._q2c_effective_date()
        vals = {
            "partner_id": self.partner_id.id,
            "company_id": self.company_id.id,
            "currency_id": self.currency_id.id,
            "user_id": self.user_id.id,
            "sale_order_id": self.id,
            "start_date": start,
            "end_date": (
                periods.term_end(start, self.q2c_term_months) if self.q2c_term_months > 0 else False
            ),
            "billing_period": self.q2c_billing_period or "month",
            "billing_interval": self.q2c_billing_interval or 1,
            "auto_renew": self.q2c_auto_renew,
            "renewal_term_months": self.q2c_term_months or 12,
            "note": self.note,
            "line_ids": [
                Command.create(line_vals)
                for index, line in enumerate(self._q2c_subscription_lines())
                if line.product_uom_qty > 0
                for line_vals in line._q2c_prepare_subscription_lines_vals(sequence=10 + index)
            ],
        }
        for field_name in ("pricelist_id", "payment_term_id", "fiscal_position_id"):
            if self[field_name]:
                vals[field_name] = self[field_name].id
        return vals

    def _q2c_apply_to_subscription(self):
        """Confirmation: create the subscription (new) or amend, renew or close the linked one,
        through q2c_billing's public methods. Hook per quote type: `_q2c_apply_<type>`."""
        self.ensure_one()
        getattr(self, "_q2c_apply_%s" % self.q2c_quote_type)()

    def _q2c_apply_new(self):
        if not self._q2c_needs_subscription():
            return
        # sudo: confirming the quote (write access checked by action_confirm) creates its
        # subscription; salespeople need no billing rights for that.
        sub = self.env["q2c.subscription"].sudo().create(self._q2c_prepare_subscription_vals())
        sub.action_activate()
        lines = self._q2c_subscription_lines().filtered(lambda ln: ln.product_uom_qty > 0)
        # Each quote line made one subscription line, or one per ramp step (linked to the first).
        sub_lines = iter(sub.line_ids.sorted(lambda ln: (ln.sequence, ln.id)))
        for line in lines:
            made = [next(sub_lines) for _step in (line.q2c_ramp_step_ids or [line])]
            line.with_context(q2c_no_line_hooks=True).q2c_subscription_line_id = made[0]
        self.with_context(q2c_keep_approval=True).q2c_subscription_id = sub
        self._q2c_post_subscription_message(_("Subscription %(sub)s created.", sub=sub.name), sub)

    def _q2c_prepare_subscription_changes(self):
        """The `changes` of an amendment for `q2c.subscription.apply_change`."""
        self.ensure_one()
        sub = self.q2c_subscription_id.sudo()
        effective = self._q2c_effective_date()
        changes = []
        kept = self.env["q2c.subscription.line"]
        for line in self._q2c_subscription_lines():
            sub_line = line.q2c_subscription_line_id.sudo()
            quantity = self.env["q2c.config.rule"]._q2c_line_quantity(line)
            if sub_line and sub_line.subscription_id == sub:
                kept |= sub_line
                if (sub_line.product_id, sub_line.price_plan_id, sub_line.quantity) == (
                    line.product_id,
                    line.q2c_price_plan_id,
                    quantity,
                ):
                    continue
                changes.append(
                    {
                        "line_id": sub_line.id,
                        "product_id": line.product_id.id,
                        "price_plan_id": line.q2c_price_plan_id.id,
                        "quantity": quantity,
                    }
                )
            elif quantity > 0:
                changes.append(
                    {
                        "line_id": False,
                        "product_id": line.product_id.id,
                        "price_plan_id": line.q2c_price_plan_id.id,
                        "quantity": quantity,
                    }
                )
        for sub_line in sub.line_ids - kept:
            if sub_line.end_date and sub_line.end_date < effective:
                continue
            if sub_line.charge_type == "one_time":
                continue
            changes.append(
                {
                    "line_id": sub_line.id,
                    "product_id": sub_line.product_id.id,
                    "price_plan_id": sub_line.price_plan_id.id,
                    "quantity": 0.0,
                }
            )
        return changes

    def _q2c_apply_amendment(self):
        # sudo: the confirmed quote amends its subscription (rights checked by action_confirm).
        sub = self.q2c_subscription_id.sudo()
        changes = self._q2c_prepare_subscription_changes()
        before = sub.line_ids
        if changes:
            sub.apply_change(changes, self._q2c_effective_date().isoformat())
        added = sub.line_ids - before
        for line in self._q2c_subscription_lines():
            sub_line = line.q2c_subscription_line_id.sudo()
            if not sub_line:
                sub_line = added.filtered(lambda sl, line=line: sl.product_id == line.product_id)[
                    :1
                ]
                added -= sub_line
                if sub_line:
                    line.with_context(q2c_no_line_hooks=True).q2c_subscription_line_id = sub_line
            if sub_line and sub_line.discount != line.discount and line.product_uom_qty > 0:
                sub_line.discount = line.discount
        self._q2c_post_subscription_message(
            _(
                "Subscription %(sub)s amended from %(date)s.",
                sub=sub.name,
                date=self._q2c_effective_date(),
            ),
            sub,
        )

    def _q2c_renewal_start(self):
        """First day of the renewal term: the start date when set, else the day after the
        subscription's end date."""
        self.ensure_one()
        if self.q2c_start_date:
            return self.q2c_start_date
        return self.q2c_subscription_id.sudo().end_date + periods.ONE_DAY

    def _q2c_renew(self, sub):
        """Renew `sub` (sudo) for the quote's term: unchanged lines carry on, changed lines (the
        quantity, plan, discount or the uplift) end the day before the renewal and continue as
        dated lines from it; lines left out of the quote end with the current term."""
        self.ensure_one()
        start = self._q2c_renewal_start()
        end = periods.term_end(start, self.q2c_term_months)
        last_day = start - periods.ONE_DAY
        Line = self.env["q2c.subscription.line"].sudo()
        kept = Line
        vals_list = []
        line_links = []
        for index, line in enumerate(self._q2c_subscription_lines()):
            line_vals_list = line._q2c_prepare_subscription_lines_vals(sequence=10 + index)
            vals = line_vals_list[0]
            sub_line = line.q2c_subscription_line_id.sudo()
            if sub_line and sub_line.subscription_id == sub:
                kept |= sub_line
                unchanged = (
                    not line.q2c_ramp_step_ids
                    and sub_line.product_id.id == vals["product_id"]
                    and sub_line.price_plan_id.id == vals["price_plan_id"]
                    and sub_line.quantity == vals["quantity"]
                    and sub_line.discount == vals["discount"]
                    and sub_line.price_multiplier == vals["price_multiplier"]
                )
                if unchanged:
                    continue
                if not sub_line.end_date or sub_line.end_date > last_day:
                    sub_line.end_date = last_day
            if vals["quantity"] <= 0:
                continue
            for line_vals in line_vals_list:
                line_vals.update(
                    subscription_id=sub.id, start_date=line_vals.get("start_date") or start
                )
            line_links.append((line, len(vals_list)))
            vals_list += line_vals_list
        for sub_line in sub.line_ids - kept:
            if sub_line.charge_type != "one_time" and (
                not sub_line.end_date or sub_line.end_date > last_day
            ):
                sub_line.end_date = last_day
        new_lines = Line.create(vals_list)
        for line, index in line_links:
            line.with_context(q2c_no_line_hooks=True).q2c_subscription_line_id = new_lines[index]
        sub.write(
            {
                "end_date": end,
                "auto_renew": self.q2c_auto_renew,
                "renewal_term_months": self.q2c_term_months,
            }
        )
        return start, end

    def _q2c_apply_renewal(self):
        # sudo: the confirmed quote renews its subscription (rights checked by action_confirm).
        sub = self.q2c_subscription_id.sudo()
        start, end = self._q2c_renew(sub)
        message = _(
            "Renewed by quote %(order)s from %(start)s to %(end)s.",
            order=self.name,
            start=start,
            end=end,
        )
        if self.q2c_renewal_uplift:
            message = _(
                "Renewed by quote %(order)s from %(start)s to %(end)s, prices uplifted by "
                "%(uplift)s%%.",
                order=self.name,
                start=start,
                end=end,
                uplift=self.q2c_renewal_uplift,
            )
        sub.message_post(body=message, subtype_xmlid="mail.mt_note")
        self._q2c_post_subscription_message(
            _("Subscription %(sub)s renewed until %(end)s.", sub=sub.name, end=end), sub
        )

    def _q2c_apply_cancellation(self):
        # sudo: the confirmed quote closes its subscription (rights checked by action_confirm).
        sub = self.q2c_subscription_id.sudo()
        day = self._q2c_effective_date()
        sub.action_close(day.isoformat(), self.q2c_close_reason_id.id or None)
        self._q2c_post_subscription_message(
            _("Subscription %(sub)s closed on %(date)s.", sub=sub.name, date=day), sub
        )

    def _q2c_post_subscription_message(self, text, sub):
        self.ensure_one()
        self.message_post(
            body=Markup(
                "<p>%s <a href='#' data-oe-model='q2c.subscription' data-oe-id='%s'>%s</a></p>"
            )
            % (text, sub.id, sub.name),
            subtype_xmlid="mail.mt_note",
        )

    # ------------------------------------------------------------------
    # Preview
    # ------------------------------------------------------------------

    def _q2c_preview_horizon(self, start):
        """Last day previewed: the end of the term, or one year for an evergreen quote."""
        self.ensure_one()
        months = self.q2c_term_months if self.q2c_term_months > 0 else 12
        return periods.term_end(start, months)

    def _q2c_billing_dates(self, anchor, first, last, months):
        """Billing dates (period starts counted from `anchor`) from `first` to `last`."""
        dates = []
        index = 0
        day = anchor
        while day <= last:
            if day >= first:
                dates.append(day)
            index += 1
            day = periods.add_months(anchor, index * months)
        return dates

    def _q2c_simulate(self, callback):
        """Run `callback()` in a savepoint rolled back afterwards and return its result: the
        preview builds the subscription as confirming would, asks q2c_billing for its invoices
        (`preview_invoice`, pure) and leaves no trace. Nothing is invoiced in there."""

        class _Rollback(Exception):
            pass

        if self.env.cr.readonly:
            # A read-only request (the form's read) cannot simulate: ask the HTTP layer for a
            # read/write cursor before writing anything (it retries the request with one).
            raise ReadOnlySqlTransaction(
                "q2c_preview simulates the subscription in a savepoint rolled back"
            )
        result = {}
        try:
            with self.env.cr.savepoint():
                result["value"] = callback()
                raise _Rollback
        except _Rollback:
            pass
        return result["value"]

    def _q2c_compute_preview(self):
        """The preview of `q2c_preview`; one hook per quote type: `_q2c_preview_<type>`."""
        self.ensure_one()
        schedule, mrr_before, mrr_steps = getattr(self, "_q2c_preview_%s" % self.q2c_quote_type)()
        currency = self.currency_id
        rows = [
            {"date": day.isoformat(), "amount": currency.round(amount)}
            for day, amount in sorted(schedule.items())
            if not currency.is_zero(amount)
        ]
        mrr_rows = []
        previous = mrr_before
        for day, mrr in mrr_steps:
            delta = currency.round(mrr - previous)
            mrr_rows.append(
                {
                    "date": day.isoformat(),
                    "mrr": currency.round(mrr),
                    "arr": currency.round(12 * mrr),
                    "mrr_delta": delta,
                    "arr_delta": currency.round(12 * delta),
                }
            )
            previous = mrr
        mrr_delta = mrr_rows[0]["mrr_delta"] if mrr_rows else 0.0
        return {
            "invoice_schedule": rows,
            "mrr_delta": mrr_delta,
            "arr_delta": currency.round(12 * mrr_delta),
            "mrr_schedule": mrr_rows,
            "tcv": currency.round(sum(row["amount"] for row in rows)),
            "currency": currency.name,
        }

    def _q2c_mrr_steps(self, sub, first, last):
        """``[(day, MRR)]`` of the recurring lines of ``sub`` from ``first`` to ``last``: the
        MRR on ``first``, then on every day a line starts or ends in between (ramp steps)."""
        days = {first}
        for line in sub.line_ids.filtered(lambda ln: ln.charge_type == "recurring"):
            if line.start_date and first < line.start_date <= last:
                days.add(line.start_date)
            if line.end_date and first <= line.end_date < last:
                days.add(line.end_date + periods.ONE_DAY)
        steps = []
        for day in sorted(days):
            mrr = self._q2c_lines_mrr(sub, day)
            if not steps or self.currency_id.compare_amounts(mrr, steps[-1][1]):
                steps.append((day, mrr))
        return steps

    def _q2c_order_invoiced_amount(self):
        """Untaxed amount of the lines the sale order invoices itself (no price plan)."""
        self.ensure_one()
        subscription_lines = self._q2c_subscription_lines()
        return sum(
            line.price_subtotal
            for line in self.order_line
            if not line.display_type and line not in subscription_lines
        )

    def _q2c_preview_invoices(self, sub, dates):
        """{date: untaxed amount} of the invoices `sub` bills on `dates` (q2c_billing's own
        `preview_invoice`)."""
        schedule = {}
        for day in dates:
            invoice = sub.preview_invoice(day.isoformat())
            if invoice["lines"]:
                schedule[day] = schedule.get(day, 0.0) + invoice["untaxed"]
        return schedule

    def _q2c_has_arrears(self, plans):
        return any(
            plan.charge_type == "usage" or plan.billing_timing == "in_arrears" for plan in plans
        )

    def _q2c_preview_new(self):
        if any(line._q2c_ramp_error_message() for line in self._q2c_subscription_lines()):
            return self._q2c_preview_unavailable()
        start = self._q2c_effective_date()
        last = self._q2c_preview_horizon(start)
        schedule = {}
        if self._q2c_needs_subscription() or self._q2c_subscription_lines():

            def simulate():
                vals = self._q2c_prepare_subscription_vals()
                # A name of its own: "/" would draw (and waste) a subscription number.
                vals.update(name=_("Preview"), end_date=last, auto_renew=False, sale_order_id=False)
                # sudo: a throw-away subscription in a rolled back savepoint (read checked).
                sub = (
                    self.env["q2c.subscription"]
                    .sudo()
                    .with_context(tracking_disable=True, mail_create_nolog=True)
                    .create(vals)
                )
                dates = self._q2c_billing_dates(start, start, last, sub._q2c_period_months())
                if self._q2c_has_arrears(sub.line_ids.price_plan_id):
                    dates.append(last + periods.ONE_DAY)
                invoices = self._q2c_preview_invoices(sub, dates)
                return invoices, self._q2c_mrr_steps(sub, start, last)

            schedule, mrr_steps = self._q2c_simulate(simulate)
        else:
            mrr_steps = []
        own = self._q2c_order_invoiced_amount()
        if own:
            schedule[start] = schedule.get(start, 0.0) + own
        return schedule, 0.0, mrr_steps

    def _q2c_preview_renewal(self):
        if self._q2c_subscription_error_message():
            return self._q2c_preview_unavailable()
        start = self._q2c_renewal_start()
        last = periods.term_end(start, self.q2c_term_months)

        def simulate():
            # sudo: renewal simulated in a rolled back savepoint (read checked).
            sub = self.q2c_subscription_id.sudo().with_context(tracking_disable=True)
            before = self._q2c_lines_mrr(sub, start - periods.ONE_DAY)
            self._q2c_renew(sub)
            sub.auto_renew = False
            anchor = sub.anchor_date or sub.start_date
            dates = self._q2c_billing_dates(anchor, start, last, sub._q2c_period_months())
            if self._q2c_has_arrears(sub.line_ids.price_plan_id):
                dates.append(last + periods.ONE_DAY)
            invoices = self._q2c_preview_invoices(sub, dates)
            return invoices, before, self._q2c_mrr_steps(sub, start, last)

        schedule, before, mrr_steps = self._q2c_simulate(simulate)
        own = self._q2c_order_invoiced_amount()
        if own:
            schedule[start] = schedule.get(start, 0.0) + own
        return schedule, before, mrr_steps

    def _q2c_recurring_period_amount(self, lines):
        """One billing period of the recurring `lines` as the subscription bills it: each line
        rated for the period, times its price factor, less its discount, rounded once."""
        self.ensure_one()
        currency = self.currency_id
        months = self._q2c_period_months()
        total = 0.0
        for line in lines:
            plan = line.q2c_price_plan_id.sudo()
            quantity = self.env["q2c.config.rule"]._q2c_line_quantity(line)
            rated = plan._q2c_rate(quantity, period_months=months)["amount"]
            total += currency.round(
                rated * (line.q2c_price_multiplier or 1.0) * (1.0 - line.discount / 100.0)
            )
        return total

    def _q2c_recurring_mrr(self, lines):
        """MRR of the recurring `lines` (each line normalized to a month, rounded once)."""
        self.ensure_one()
        currency = self.currency_id
        total = 0.0
        for line in lines:
            plan = line.q2c_price_plan_id.sudo()
            quantity = self.env["q2c.config.rule"]._q2c_line_quantity(line)
            rated = plan._q2c_rate(quantity)["amount"]
            monthly = rated * (line.q2c_price_multiplier or 1.0) * (1.0 - line.discount / 100.0)
            total += currency.round(monthly / periods.PERIOD_MONTHS[plan.recurring_period])
        return total

    @api.model
    def _q2c_lines_mrr(self, sub, day):
        """MRR of the recurring lines of `sub` active on `day`."""
        return sum(
            line.mrr
            for line in sub.line_ids
            if line.charge_type == "recurring" and line._q2c_is_active_on(day)
        )

    def _q2c_preview_amendment(self):
        if self._q2c_subscription_error_message():
            return self._q2c_preview_unavailable()
        sub = self.q2c_subscription_id
        effective = self._q2c_effective_date()
        changes = self._q2c_prepare_subscription_changes()
        schedule = {}
        mrr_before = 0.0
        mrr_steps = []
        if changes:
            # The proration as q2c_billing bills it (lines added at the plan's price: their
            # discount applies from the next billing period).
            result = sub.preview_change(changes, effective.isoformat())
            if result["net"]:
                schedule[effective] = result["net"]
            sub_sudo = sub.sudo()  # sudo: billing dates of a subscription the user may read
            lines = self._q2c_subscription_lines().filtered(
                lambda ln: ln.q2c_charge_type == "recurring" and ln.product_uom_qty > 0
            )
            period_amount = self._q2c_recurring_period_amount(lines)
            mrr_before = self._q2c_lines_mrr(sub_sudo, effective - periods.ONE_DAY)
            mrr_steps = [(effective, self._q2c_recurring_mrr(lines))]
            months = sub_sudo._q2c_period_months()
            anchor = sub_sudo.anchor_date or sub_sudo.start_date
            last = sub_sudo.end_date or periods.term_end(effective, 12)
            period_start, period_end = periods.period_containing(effective, anchor, months)
            first = period_end + periods.ONE_DAY
            if period_start == effective and (
                not sub_sudo.current_period_end or effective > sub_sudo.current_period_end
            ):
                # The change starts a window not billed yet: that window bills the new lines.
                first = effective
            for day in self._q2c_billing_dates(anchor, first, last, months):
                schedule[day] = schedule.get(day, 0.0) + period_amount
        own = self._q2c_order_invoiced_amount()
        if own:
            schedule[effective] = schedule.get(effective, 0.0) + own
        return schedule, mrr_before, mrr_steps

    def _q2c_preview_cancellation(self):
        if self._q2c_subscription_error_message():
            return self._q2c_preview_unavailable()
        sub = self.q2c_subscription_id
        day = self._q2c_effective_date() + periods.ONE_DAY
        # sudo: the lines of a subscription the user may read.
        changes = [
            {
                "line_id": line.id,
                "product_id": line.product_id.id,
                "price_plan_id": line.price_plan_id.id,
                "quantity": 0.0,
            }
            for line in sub.sudo().line_ids
            if line.charge_type == "recurring" and line._q2c_is_active_on(day)
        ]
        schedule = {}
        mrr_before = 0.0
        mrr_steps = []
        if changes and sub.sudo().state in ("active", "paused"):
            result = sub.preview_change(changes, day.isoformat())
            if result["net"]:
                schedule[day] = result["net"]
            mrr_before = self._q2c_lines_mrr(sub.sudo(), day - periods.ONE_DAY)
            mrr_steps = [(day, mrr_before + result["mrr_delta"])]
        own = self._q2c_order_invoiced_amount()
        if own:
            schedule[day] = schedule.get(day, 0.0) + own
        return schedule, mrr_before, mrr_steps

    def _q2c_preview_unavailable(self):
        return {}, 0.0, []

    def _q2c_preview_revenue_schedule(self, preview):
        """The revenue schedule [{"period", "amount"}] of the quote, from q2c_revrec's
        ``_q2c_revenue_schedule_preview`` when it is installed, else None (q2c_cpq does not
        depend on q2c_revrec)."""
        schedule = getattr(self, "_q2c_revenue_schedule_preview", None)
        return schedule() if schedule else None

    def _compute_q2c_preview_html(self):
        values = {}
        for order in self:
            if not isinstance(order.id, int) or order.state not in ("draft", "sent"):
                values[order] = False
                continue
            try:
                preview = order.q2c_preview()
                error = order._q2c_subscription_error_message()
            except (UserError, ValidationError) as exc:
                preview, error = None, exc.args[0]
            values[order] = (preview, error)
        for order, value in values.items():
            if not value:
                order.q2c_preview_html = False
                continue
            preview, error = value
            order.q2c_preview_html = self.env["ir.qweb"]._render(
                "q2c_cpq.q2c_quote_preview",
                {
                    "order": order,
                    "preview": preview,
                    "error": error,
                    "format_amount": order._q2c_format_amount,
                },
            )

    def _q2c_format_amount(self, amount):
        self.ensure_one()
        return self.currency_id.format(amount)

    # ------------------------------------------------------------------
    # Quote document
    # ------------------------------------------------------------------

    def _q2c_get_report_values(self):
        """What the quote PDF shows besides the core document: subscription terms, recurring
        and one-time totals and the invoice schedule."""
        self.ensure_one()
        currency = self.currency_id
        lines = self.order_line.filtered(lambda ln: not ln.display_type)
        subscription_lines = self._q2c_subscription_lines()
        recurring = subscription_lines.filtered(lambda ln: ln.q2c_charge_type == "recurring")
        usage = subscription_lines.filtered(lambda ln: ln.q2c_charge_type == "usage")
        one_time = lines - recurring - usage
        recurring_total = sum(recurring.mapped("price_subtotal"))
        months = self._q2c_period_months()
        period_label = self._q2c_period_label()
        start = self._q2c_effective_date()
        if self.q2c_quote_type == "renewal" and self.q2c_subscription_id.sudo().end_date:
            start = self._q2c_renewal_start()
        term_label = (
            _(
                "%(months)s months, until %(end)s",
                months=self.q2c_term_months,
                end=periods.term_end(start, self.q2c_term_months),
            )
            if self.q2c_term_months > 0
            else _("Evergreen (until cancelled)")
        )
        if self.q2c_term_months > 0 and self.q2c_auto_renew:
            term_label = _("%(term)s, renews automatically", term=term_label)
        preview = error = None
        has_subscription = bool(subscription_lines) or self.q2c_quote_type != "new"
        if has_subscription and self.state in ("draft", "sent"):
            try:
                preview = self.q2c_preview()
            except (UserError, ValidationError) as exc:
                error = exc.args[0]
            error = error or self._q2c_subscription_error_message()
        return {
            "has_subscription": has_subscription,
            "billing_label": period_label,
            "period_label": period_label,
            "start_date": start,
            "term_label": term_label,
            "recurring_total": currency.format(recurring_total),
            "mrr": currency.format(currency.round(recurring_total / months)),
            "one_time_total": currency.format(sum(one_time.mapped("price_subtotal"))),
            "usage_products": ", ".join(usage.product_id.mapped("display_name")),
            "preview": preview,
            "preview_error": error,
            "ramp_rows": self._q2c_get_ramp_rows(),
        }

    def _q2c_period_label(self):
        """The billing period of the quote in words: "per month", "every 2 x Month"."""
        self.ensure_one()
        period_labels = dict(self._fields["q2c_billing_period"]._description_selection(self.env))
        period_label = period_labels.get(self.q2c_billing_period or "month")
        if self.q2c_billing_interval > 1:
            return _(
                "every %(count)s x %(period)s", count=self.q2c_billing_interval, period=period_label
            )
        return _("per %(period)s", period=period_label.lower())

    def _q2c_get_ramp_rows(self):
        """The ramp steps of the quote as the documents show them (dates, quantity, unit price
        and amount per billing period)."""
        self.ensure_one()
        currency = self.currency_id
        rows = []
        for line in self.order_line.filtered("q2c_ramp_step_ids"):
            for step in line._q2c_ramp_steps():
                start, end = step._q2c_dates()
                rows.append(
                    {
                        "product": line.product_id.display_name,
                        "start": start,
                        "end": end,
                        "quantity": step.quantity,
                        "price_unit": currency.format(currency.round(step.price_unit)),
                        "discount": step.discount,
                        "subtotal": currency.format(step.price_subtotal),
                    }
                )
        return rows
