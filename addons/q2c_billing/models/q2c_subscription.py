import logging
from collections import defaultdict
from datetime import date, datetime, timedelta

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import float_round

from ..tools import period as periods

_logger = logging.getLogger(__name__)

ONE_DAY = timedelta(days=1)
# Safety bound on the periods a run catches up for one subscription (10 years of months).
MAX_CYCLES = 120


class Q2cSubscription(models.Model):
    """A customer's subscription: recurring lines billed per period.

    Lifecycle: draft -> (trial ->) active <-> paused -> closed; every transition is dated and
    logged in the chatter. Billing (``q2c.billing.run``) bills *cycles*: a cycle on a billing
    date D bills the window [D, end of the period containing D] for charges in advance and the
    previous window for charges in arrears; ``next_invoice_date`` is the next billing date.
    Each window is billed with the lines as they stood on the window's first day; amendments
    within a window bill their proration separately (``q2c.subscription.change``).
    """

    _name = "q2c.subscription"
    _description = "Subscription"
    _inherit = ["portal.mixin", "mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Reference", required=True, copy=False, readonly=True, index="trigram", default="/"
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        index=True,
        tracking=True,
        check_company=True,
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    company_currency_id = fields.Many2one(
        related="company_id.currency_id", string="Company Currency"
    )
    pricelist_id = fields.Many2one(
        "product.pricelist",
        string="Pricelist",
        compute="_compute_pricelist_id",
        store=True,
        readonly=False,
        precompute=True,
        check_company=True,
        tracking=True,
        help="Price book: price plans overridden for this pricelist are used first.",
    )
    currency_id = fields.Many2one(
        "res.currency",
        string="Currency",
        compute="_compute_currency_id",
        store=True,
        readonly=False,
        precompute=True,
        required=True,
        tracking=True,
        help="The invoices of this subscription are in this currency; its price plans must be.",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Salesperson",
        default=lambda self: self.env.user,
        index=True,
        tracking=True,
        domain="[('share', '=', False)]",
    )
    fiscal_position_id = fields.Many2one(
        "account.fiscal.position",
        string="Fiscal Position",
        compute="_compute_fiscal_position_id",
        store=True,
        readonly=False,
        precompute=True,
        check_company=True,
        tracking=True,
        help="Maps the taxes and accounts of the invoices.",
    )
    payment_term_id = fields.Many2one(
        "account.payment.term",
        string="Payment Terms",
        compute="_compute_payment_term_id",
        store=True,
        readonly=False,
        precompute=True,
        check_company=True,
        tracking=True,
    )
    payment_token_id = fields.Many2one(
        "payment.token",
        string="Payment Method",
        check_company=True,
        tracking=True,
        domain="[('partner_id', 'child_of', commercial_partner_id)]",
        help="Saved payment method charged automatically for the invoices.",
    )
    commercial_partner_id = fields.Many2one(related="partner_id.commercial_partner_id")
    sale_order_id = fields.Many2one(
        "sale.order",
        string="Sale Order",
        copy=False,
        index="btree_not_null",
        tracking=True,
        check_company=True,
    )
    state = fields.Selection(
        selection=[
            ("draft", "Draft"),
            ("trial", "Trial"),
            ("active", "Active"),
            ("paused", "Paused"),
            ("closed", "Closed"),
        ],
        default="draft",
        required=True,
        readonly=True,
        copy=False,
        index=True,
        tracking=True,
    )
    start_date = fields.Date(
        default=fields.Date.context_today,
        required=True,
        tracking=True,
        help="First day of service.",
    )
    end_date = fields.Date(
        tracking=True,
        copy=False,
        help="Last day of the current term (inclusive). Empty: evergreen, runs until closed.",
    )
    trial_end_date = fields.Date(
        string="Trial Until",
        tracking=True,
        help="Last day of the free trial (inclusive); billing starts the day after.",
    )
    billing_period = fields.Selection(
        selection=[("month", "Month"), ("quarter", "Quarter"), ("year", "Year")],
        default="month",
        required=True,
        tracking=True,
    )
    billing_interval = fields.Integer(
        default=1, required=True, tracking=True, help="Bill every N billing periods."
    )
    alignment = fields.Selection(
        selection=[("anniversary", "Anniversary"), ("calendar", "Calendar")],
        default="anniversary",
        required=True,
        tracking=True,
        help="Anniversary: periods start on the first billed day's day of month. Calendar: "
        "periods follow calendar months, quarters or years; the first one is prorated.",
    )
    anchor_date = fields.Date(
        string="Billing Anchor",
        readonly=True,
        copy=False,
        help="Periods are counted from this date (set on activation).",
    )
    next_invoice_date = fields.Date(
        copy=False, index=True, help="Next billing date: the next run on or after it bills it."
    )
    current_period_start = fields.Date(readonly=True, copy=False)
    current_period_end = fields.Date(readonly=True, copy=False)
    auto_renew = fields.Boolean(
        default=True,
        tracking=True,
        help="Fixed term: renew for the renewal term at the end of the term.",
    )
    renewal_term_months = fields.Integer(string="Renewal Term (months)", default=12, tracking=True)
    renewal_uplift_pct = fields.Float(
        string="Renewal Price Uplift (%)",
        digits=(16, 4),
        tracking=True,
        help="Prices increase by this percentage at each renewal.",
    )
    renewal_notice_days = fields.Integer(
        string="Notice Period (days)",
        default=30,
        tracking=True,
        help="The customer must give notice this many days before the end of the term to stop "
        "the renewal.",
    )
    renewal_notice_date = fields.Date(
        compute="_compute_renewal_notice_date",
        store=True,
        help="Last day to give notice of non-renewal.",
    )
    renewal_count = fields.Integer(readonly=True, copy=False)
    proration_policy = fields.Selection(
        selection=[
            ("daily", "Daily"),
            ("thirty_360", "30/360"),
            ("none", "None (next period)"),
        ],
        default="daily",
        required=True,
        tracking=True,
        help="Daily: days used / days in the period. 30/360: months of 30 days. None: changes "
        "take effect at the next period, without proration.",
    )
    line_ids = fields.One2many(
        "q2c.subscription.line", "subscription_id", string="Lines", copy=True
    )
    change_ids = fields.One2many(
        "q2c.subscription.change", "subscription_id", string="Amendments", readonly=True
    )
    billed_period_ids = fields.One2many(
        "q2c.subscription.period", "subscription_id", string="Billed Periods", readonly=True
    )
    recurring_total = fields.Monetary(
        compute="_compute_amounts",
        store=True,
        help="Recurring charges of one billing period, after discounts.",
    )
    mrr = fields.Monetary(
        string="MRR",
        compute="_compute_amounts",
        store=True,
        help="Monthly recurring revenue of an active subscription (recurring charges normalized "
        "to a month, after discounts), in the subscription's currency.",
    )
    mrr_company = fields.Monetary(
        string="MRR (company currency)",
        compute="_compute_amounts",
        store=True,
        currency_field="company_currency_id",
        help="MRR converted to the company's currency at the rate of the day.",
    )
    arr = fields.Monetary(string="ARR", compute="_compute_amounts", store=True)
    close_reason_id = fields.Many2one(
        "q2c.close.reason", string="Close Reason", tracking=True, copy=False
    )
    activated_date = fields.Date(readonly=True, copy=False, tracking=True)
    paused_date = fields.Date(readonly=True, copy=False, tracking=True)
    resumed_date = fields.Date(readonly=True, copy=False, tracking=True)
    closed_date = fields.Date(readonly=True, copy=False, tracking=True)
    invoice_count = fields.Integer(compute="_compute_invoice_count")
    change_count = fields.Integer(compute="_compute_change_count")
    note = fields.Html(string="Terms and Conditions")

    _sql_constraints = [
        (
            "billing_interval_positive",
            "CHECK(billing_interval > 0)",
            "The billing interval must be at least 1.",
        ),
    ]

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("partner_id", "company_id")
    def _compute_pricelist_id(self):
        for sub in self:
            if sub.state != "draft" and sub.pricelist_id:
                continue
            sub.pricelist_id = sub.partner_id.with_company(
                sub.company_id
            ).property_product_pricelist

    @api.depends("pricelist_id", "company_id")
    def _compute_currency_id(self):
        for sub in self:
            if sub.state != "draft" and sub.currency_id:
                continue
            sub.currency_id = sub.pricelist_id.currency_id or sub.company_id.currency_id

    @api.depends("partner_id", "company_id")
    def _compute_fiscal_position_id(self):
        for sub in self:
            if not sub.partner_id:
                sub.fiscal_position_id = False
                continue
            sub.fiscal_position_id = (
                self.env["account.fiscal.position"]
                .with_company(sub.company_id)
                ._get_fiscal_position(sub.partner_id)
            )

    @api.depends("partner_id", "company_id")
    def _compute_payment_term_id(self):
        for sub in self:
            sub.payment_term_id = sub.partner_id.with_company(
                sub.company_id
            ).property_payment_term_id

    @api.depends("end_date", "renewal_notice_days")
    def _compute_renewal_notice_date(self):
        for sub in self:
            sub.renewal_notice_date = sub.end_date and (
                sub.end_date - timedelta(days=max(sub.renewal_notice_days, 0))
            )

    @api.depends(
        "state",
        "currency_id",
        "company_id",
        "line_ids.period_amount",
        "line_ids.mrr",
        "line_ids.start_date",
        "line_ids.end_date",
        "line_ids.charge_type",
    )
    def _compute_amounts(self):
        """Recurring total, MRR and ARR of the lines in effect today (a line starting later,
        such as the uplifted line of a priced renewal or a ramp step, counts from its start
        date; an ended line no more). Stored for lists and reports: the nightly cron
        ``_cron_q2c_refresh_amounts`` recomputes the subscriptions whose lines started or ended
        since its last run."""
        today = fields.Date.context_today(self)
        for sub in self:
            lines = sub.line_ids.filtered(
                lambda line: line.charge_type == "recurring" and line._q2c_is_active_on(today)
            )
            sub.recurring_total = sub.currency_id.round(sum(lines.mapped("period_amount")))
            mrr = sub.currency_id.round(sum(lines.mapped("mrr"))) if sub.state == "active" else 0.0
            sub.mrr = mrr
            sub.arr = sub.currency_id.round(12 * mrr)
            if mrr and sub.currency_id and sub.currency_id != sub.company_currency_id:
                sub.mrr_company = sub.currency_id._convert(
                    mrr, sub.company_currency_id, sub.company_id, today
                )
            else:
                sub.mrr_company = mrr

    def _compute_invoice_count(self):
        moves = self._q2c_get_invoices()
        counts = {}
        for sub_id, _move_id in moves:
            counts[sub_id] = counts.get(sub_id, 0) + 1
        for sub in self:
            sub.invoice_count = counts.get(sub.id, 0)

    def _compute_change_count(self):
        counts = dict(
            self.env["q2c.subscription.change"]._read_group(
                [("subscription_id", "in", self.ids)], ["subscription_id"], ["__count"]
            )
        )
        for sub in self:
            sub.change_count = counts.get(sub, 0)

    def _compute_access_url(self):
        super()._compute_access_url()
        for sub in self:
            sub.access_url = f"/my/subscriptions/{sub.id}"

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("start_date", "end_date", "trial_end_date")
    def _check_dates(self):
        for sub in self:
            if sub.end_date and sub.start_date and sub.end_date < sub.start_date:
                raise ValidationError(
                    _(
                        "%(sub)s: the field 'End Date' (%(end)s) cannot be before the field "
                        "'Start Date' (%(start)s).",
                        sub=sub.name,
                        end=sub.end_date,
                        start=sub.start_date,
                    )
                )
            if sub.trial_end_date and sub.start_date and sub.trial_end_date < sub.start_date:
                raise ValidationError(
                    _(
                        "%(sub)s: the field 'Trial Until' (%(trial)s) cannot be before the field "
                        "'Start Date' (%(start)s).",
                        sub=sub.name,
                        trial=sub.trial_end_date,
                        start=sub.start_date,
                    )
                )

    @api.constrains(
        "billing_interval", "renewal_term_months", "renewal_notice_days", "renewal_uplift_pct"
    )
    def _check_terms(self):
        for sub in self:
            if sub.billing_interval < 1:
                raise ValidationError(
                    _("%(sub)s: the field 'Billing Interval' must be at least 1.", sub=sub.name)
                )
            if sub.renewal_term_months < 0 or sub.renewal_notice_days < 0:
                raise ValidationError(
                    _(
                        "%(sub)s: the fields 'Renewal Term' and 'Notice Period' cannot be negative.",
                        sub=sub.name,
                    )
                )
            if sub.renewal_uplift_pct < -100:
                raise ValidationError(
                    _(
                        "%(sub)s: the field 'Renewal Price Uplift' cannot be below -100%%.",
                        sub=sub.name,
                    )
                )

    @api.constrains("currency_id", "line_ids")
    def _check_line_currency(self):
        self.line_ids._check_plan_currency()

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("name", "/") == "/":
                company = self.env["res.company"].browse(vals.get("company_id")) or self.env.company
                vals["name"] = (
                    self.env["ir.sequence"].with_company(company).next_by_code("q2c.subscription")
                    or "/"
                )
        return super().create(vals_list)

    def write(self, vals):
        if {"currency_id", "billing_period", "billing_interval", "alignment"} & set(vals):
            billed = self.filtered(lambda sub: sub.current_period_start)
            if billed:
                raise UserError(
                    _(
                        "%(subs)s: the currency and the billing period cannot change once billed; "
                        "close the subscription and start a new one.",
                        subs=", ".join(billed.mapped("name")),
                    )
                )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_only_draft(self):
        for sub in self:
            if sub.state != "draft" or sub.billed_period_ids:
                raise UserError(
                    _(
                        "%(sub)s cannot be deleted: it is %(state)s; close it instead.",
                        sub=sub.name,
                        state=sub._q2c_state_label(),
                    )
                )

    # ------------------------------------------------------------------
    # Actions: lifecycle (API.md)
    # ------------------------------------------------------------------

    def action_activate(self):
        """Start the subscription: draft -> trial (when it has a trial) or active; trial ->
        active (ends the trial early, billing from today)."""
        self.check_access("write")
        today = fields.Date.context_today(self)
        for sub in self:
            if sub.state == "draft":
                sub._q2c_activate_draft()
            elif sub.state == "trial":
                sub._q2c_end_trial(max(today, sub.start_date))
            else:
                raise sub._q2c_transition_error(_("activated"))
        return True

    def action_pause(self, date=None):
        """Pause billing from ``date`` (default today): no new period starts while paused; the
        current period stays billed."""
        self.check_access("write")
        day = self._q2c_to_date(date, "date") or fields.Date.context_today(self)
        for sub in self:
            if sub.state != "active":
                raise sub._q2c_transition_error(_("paused"))
            if day < sub.start_date:
                raise UserError(
                    _(
                        "%(sub)s cannot be paused on %(date)s: it starts on %(start)s.",
                        sub=sub.name,
                        date=day,
                        start=sub.start_date,
                    )
                )
        # One transition for all: the same values and note on each subscription.
        self._q2c_set_states(
            "paused",
            [{"paused_date": day}] * len(self),
            [_("Paused from %(date)s.", date=day)] * len(self),
        )
        return True

    def action_resume(self, date=None):
        """Resume billing on ``date`` (default today): the period starting while paused is
        billed from ``date`` (prorated); the days paused are not billed."""
        self.check_access("write")
        day = self._q2c_to_date(date, "date") or fields.Date.context_today(self)
        for sub in self:
            if sub.state != "paused":
                raise sub._q2c_transition_error(_("resumed"))
            if sub.paused_date and day < sub.paused_date:
                raise UserError(
                    _(
                        "%(sub)s cannot be resumed on %(date)s: it is paused from %(paused)s.",
                        sub=sub.name,
                        date=day,
                        paused=sub.paused_date,
                    )
                )
            vals = {"resumed_date": day}
            if not sub.next_invoice_date or sub.next_invoice_date < day:
                vals["next_invoice_date"] = day
            if sub.end_date and day > sub.end_date and not sub.auto_renew:
                raise UserError(
                    _(
                        "%(sub)s cannot be resumed on %(date)s: its term ended on %(end)s.",
                        sub=sub.name,
                        date=day,
                        end=sub.end_date,
                    )
                )
            sub._q2c_set_state("active", vals, _("Resumed on %(date)s.", date=day))
        return True

    def action_close(self, date=None, reason=None):
        """Close on ``date`` (default today, the last day of service) for ``reason`` (a
        ``q2c.close.reason`` id or name). Charges in advance are credited for the days after
        ``date`` per the proration policy; charges in arrears are billed up to the end of the
        period on the final invoice."""
        self.check_access("write")
        day = self._q2c_to_date(date, "date") or fields.Date.context_today(self)
        close_reason = self._q2c_get_close_reason(reason)
        self._q2c_close(day, close_reason)
        return True

    def action_open_close_wizard(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Close %(sub)s", sub=self.name),
            "res_model": "q2c.subscription.close.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_subscription_id": self.id},
        }

    def action_open_amend_wizard(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Amend %(sub)s", sub=self.name),
            "res_model": "q2c.subscription.amend.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_subscription_id": self.id},
        }

    def action_view_invoices(self):
        self.ensure_one()
        move_ids = list({move_id for __, move_id in self._q2c_get_invoices()})
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account.action_move_out_invoice_type"
        )
        action["domain"] = [("id", "in", move_ids)]
        action["context"] = {"default_move_type": "out_invoice", "create": False}
        if len(move_ids) == 1:
            action["views"] = [(self.env.ref("account.view_move_form").id, "form")]
            action["res_id"] = move_ids[0]
        return action

    def action_view_sale_order(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "sale.order",
            "res_id": self.sale_order_id.id,
            "views": [(False, "form")],
        }

    def action_view_changes(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "q2c_billing.q2c_subscription_change_action"
        )
        action["domain"] = [("subscription_id", "=", self.id)]
        action["context"] = {"create": False}
        return action

    def action_bill_now(self):
        """Bill this subscription's due periods up to today."""
        self.check_access("write")
        result = self.env["q2c.billing.run"]._q2c_run(
            fields.Date.context_today(self), subscriptions=self, trigger="manual"
        )
        return result["run"]._q2c_action_notify()

    # ------------------------------------------------------------------
    # Public API: previews and amendments (API.md)
    # ------------------------------------------------------------------

    def preview_invoice(self, date):
        """The invoice the billing run would create for the period that starts on or before
        ``date`` (pure): ``{"period_start", "period_end", "lines", "untaxed", "tax", "total",
        "currency"}``. Same code path as the billing run."""
        self.ensure_one()
        self.check_access("read")
        day = self._q2c_to_date(date, "date", required=True)
        return self._q2c_preview_invoice(day)

    def preview_change(self, changes, effective_date):
        """Proration and new recurring amounts of ``changes`` effective on ``effective_date``
        (pure). ``changes``: ``[{"line_id": id or False, "product_id": id, "price_plan_id": id,
        "quantity": number}]`` (quantity 0 removes a line). Returns ``{"lines": [{"description",
        "period_start", "period_end", "amount"}], "net", "new_recurring_total", "mrr_delta",
        "currency"}``."""
        self.ensure_one()
        self.check_access("read")
        plan = self._q2c_plan_change(changes, effective_date)
        return self._q2c_change_result(plan)

    def apply_change(self, changes, effective_date):
        """As ``preview_change``, and applies the change: the lines are updated, the amendment
        is recorded with its proration, billed per the company's setting (upgrades at once or
        on the next invoice, downgrades credited on the next invoice)."""
        self.ensure_one()
        self.check_access("write")
        plan = self._q2c_plan_change(changes, effective_date)
        self._q2c_apply_change_plan(plan)
        return self._q2c_change_result(plan)

    # ------------------------------------------------------------------
    # Lifecycle helpers
    # ------------------------------------------------------------------

    def _q2c_state_label(self):
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    def _q2c_transition_error(self, verb):
        return UserError(
            _(
                "%(sub)s cannot be %(verb)s: it is %(state)s.",
                sub=self.name,
                verb=verb,
                state=self._q2c_state_label(),
            )
        )

    def _q2c_set_state(self, state, vals, message):
        self.ensure_one()
        self._q2c_set_states(state, [vals], [message])

    def _q2c_set_states(self, state, vals_list, messages):
        """Move the subscriptions of ``self`` to ``state``, writing ``vals_list[i]`` on the i-th
        one and logging ``messages[i]`` (a note) on its chatter: one write per distinct values
        and the notes in one batch, the same records as one transition at a time.

        The tracked fields the transition changes are logged on its note (one message per
        subscription with its tracking values, all created together) instead of a tracking
        message each at commit; a subscription with other changes already waiting to be
        tracked keeps the usual tracking (one message at commit with all its changes)."""
        if not self:
            return
        context = self.env.context
        on_note = self.browse()
        if not (context.get("tracking_disable") or context.get("mail_notrack")):
            pending = self.env.cr.precommit.data.get(f"mail.tracking.{self._name}", {})
            on_note = self.filtered(lambda sub: not pending.get(sub.id))
        fnames = on_note._track_get_fields() if on_note else set()
        initial = {sub.id: {fname: sub[fname] for fname in fnames} for sub in on_note}
        groups = defaultdict(list)
        for sub, vals in zip(self, vals_list, strict=True):
            groups[sub.id in initial, tuple(sorted(vals.items()))].append(sub.id)
        for (noted, items), ids in groups.items():
            subs = self.browse(ids).with_context(mail_notrack=True) if noted else self.browse(ids)
            subs.write({"state": state, **dict(items)})
        # The access to the subscriptions is checked by the public actions that get here.
        notes = self._message_log_batch(
            bodies={sub.id: message for sub, message in zip(self, messages, strict=True)},
            message_type="comment",
        )
        if initial:
            # sudo: as the tracking made at commit (the fields a user cannot read are logged
            # too).
            subs = self.sudo()
            tracked_fields = subs.fields_get(
                fnames, attributes=("string", "type", "selection", "currency_field")
            )
            tracking_vals = []
            for note in notes.filtered(lambda note: note.res_id in initial):
                __, commands = subs.browse(note.res_id)._mail_track(
                    tracked_fields, initial[note.res_id]
                )
                tracking_vals += [dict(command[2], mail_message_id=note.id) for command in commands]
            self.env["mail.tracking.value"].sudo().create(tracking_vals)

    def _q2c_activate_draft(self):
        self.ensure_one()
        if not self.line_ids:
            raise UserError(_("%(sub)s cannot be activated: it has no lines.", sub=self.name))
        missing = self.line_ids.filtered(lambda line: not line.price_plan_id)
        if missing:
            raise UserError(
                _(
                    "%(sub)s cannot be activated: no price plan for %(products)s.",
                    sub=self.name,
                    products=", ".join(missing.product_id.mapped("display_name")),
                )
            )
        start = self.start_date or fields.Date.context_today(self)
        if self.trial_end_date and self.trial_end_date >= start:
            first = self.trial_end_date + ONE_DAY
            self._q2c_set_state(
                "trial",
                {
                    "start_date": start,
                    "next_invoice_date": first,
                    "anchor_date": self._q2c_anchor_for(first),
                },
                _(
                    "Trial started on %(start)s, until %(end)s.",
                    start=start,
                    end=self.trial_end_date,
                ),
            )
        else:
            self._q2c_set_state(
                "active",
                {
                    "start_date": start,
                    "activated_date": start,
                    "next_invoice_date": start,
                    "anchor_date": self._q2c_anchor_for(start),
                },
                _("Activated from %(date)s.", date=start),
            )

    def _q2c_end_trial(self, day):
        """Trial -> active on ``day`` (billing from ``day``)."""
        self.ensure_one()
        vals = {
            "activated_date": day,
            "next_invoice_date": day,
            "anchor_date": self._q2c_anchor_for(day),
        }
        if self.trial_end_date and self.trial_end_date >= day:
            vals["trial_end_date"] = day - ONE_DAY if day > self.start_date else False
        self._q2c_set_state("active", vals, _("Trial ended; active from %(date)s.", date=day))

    def _q2c_close(self, day, reason):
        """Close the subscriptions of ``self`` on ``day`` for ``reason`` (one transition for
        all, see ``_q2c_set_states``). Returns the credit amendments of all of them (each
        subscription's are its own: ``subscription_id``)."""
        for sub in self:
            if sub.state == "closed":
                raise sub._q2c_transition_error(_("closed"))
            start = sub.current_period_start or sub.start_date
            if sub.state != "draft" and day < start - ONE_DAY:
                raise UserError(
                    _(
                        "%(sub)s cannot be closed on %(date)s: it is billed from %(start)s; "
                        "close it on or after that date.",
                        sub=sub.name,
                        date=day,
                        start=start,
                    )
                )
        vals_list, change_ids = [], []
        for sub in self:
            vals, sub_changes = sub._q2c_prepare_close_vals(day, reason)
            vals_list.append(vals)
            change_ids += sub_changes.ids
        message = _("Closed on %(date)s.", date=day)
        if reason:
            message = _("Closed on %(date)s (%(reason)s).", date=day, reason=reason.name)
        self._q2c_set_states("closed", vals_list, [message] * len(self))
        return self.env["q2c.subscription.change"].browse(change_ids)

    def _q2c_prepare_close_vals(self, day, reason):
        """The values a close on ``day`` writes on the subscription, and its credit
        amendments (recorded here)."""
        self.ensure_one()
        vals = {"closed_date": day, "close_reason_id": reason.id}
        if not self.end_date or self.end_date > day:
            vals["end_date"] = day
        changes = self.env["q2c.subscription.change"]
        if self.state in ("draft",) or (
            self.state == "trial" and (not self.trial_end_date or day <= self.trial_end_date)
        ):
            vals["next_invoice_date"] = False
        elif self.current_period_start:
            cpe = self.current_period_end
            if day < cpe and self.proration_policy != "none":
                changes = self._q2c_close_credits(day + ONE_DAY)
            if day < cpe:
                vals["next_invoice_date"] = day + ONE_DAY
        elif self.next_invoice_date and self.next_invoice_date > day:
            vals["next_invoice_date"] = False
        return vals, changes

    def _q2c_close_credits(self, effective):
        """Credit the unused part of the current window from ``effective`` (removal of every
        recurring line): recorded as amendments, billed on the final invoice."""
        self.ensure_one()
        changes = [
            {"line_id": line.id, "quantity": 0}
            for line in self.line_ids
            if line.charge_type == "recurring" and line._q2c_is_active_on(effective)
        ]
        if not changes:
            return self.env["q2c.subscription.change"]
        plan = self._q2c_plan_change(changes, effective, change_type="close", apply_lines=False)
        return self._q2c_record_changes(plan, bill_now=False)

    @api.model
    def _q2c_get_close_reason(self, reason):
        Reason = self.env["q2c.close.reason"]
        if not reason:
            return Reason
        if isinstance(reason, models.BaseModel):
            return reason
        if isinstance(reason, int) and not isinstance(reason, bool):
            found = Reason.browse(reason).exists()
            if not found:
                raise UserError(_("Unknown close reason id %(reason)s.", reason=reason))
            return found
        if isinstance(reason, str):
            found = Reason.with_context(active_test=False).search(
                [("name", "=ilike", reason.strip())], limit=1
            )
            if not found:
                raise UserError(_("Unknown close reason '%(reason)s'.", reason=reason))
            return found
        raise UserError(
            _("Invalid close reason %(reason)r: give its id or its name.", reason=reason)
        )

    @api.model
    def _q2c_to_date(self, value, field_name, required=False):
        """A ``date`` from a date, datetime or ISO string, or a ValidationError naming the
        field."""
        if not value:
            if required:
                raise ValidationError(_("The field '%(field)s' is required.", field=field_name))
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip()[:10])
            except ValueError:
                pass
        raise ValidationError(
            _(
                "The field '%(field)s' must be a date (YYYY-MM-DD), got %(value)r.",
                field=field_name,
                value=value,
            )
        )

    # ------------------------------------------------------------------
    # Periods
    # ------------------------------------------------------------------

    def _q2c_period_months(self):
        self.ensure_one()
        return periods.period_months(self.billing_period, self.billing_interval)

    def _q2c_first_billing_day(self):
        self.ensure_one()
        if self.trial_end_date and self.start_date and self.trial_end_date >= self.start_date:
            return self.trial_end_date + ONE_DAY
        return self.start_date or fields.Date.context_today(self)

    def _q2c_anchor_for(self, first_day):
        self.ensure_one()
        if self.alignment == "calendar":
            return periods.calendar_anchor(first_day, self.billing_period)
        return first_day

    def _q2c_anchor(self):
        self.ensure_one()
        return self.anchor_date or self._q2c_anchor_for(self._q2c_first_billing_day())

    def _q2c_period_of(self, day):
        """The billing period ``(start, end)`` containing ``day``."""
        self.ensure_one()
        return periods.period_containing(day, self._q2c_anchor(), self._q2c_period_months())

    def _q2c_current_window(self):
        """The windows an amendment may fall in: the current billed window (if any) and the
        next window to bill. Returns ``[(start, end)]``."""
        self.ensure_one()
        windows = []
        if self.current_period_start:
            windows.append((self.current_period_start, self.current_period_end))
        next_day = self.next_invoice_date
        if next_day is None or next_day is False:
            next_day = self._q2c_first_billing_day() if self.state in ("draft", "trial") else None
        if next_day:
            __, end = self._q2c_period_of(next_day)
            if self.end_date and self.end_date >= next_day:
                end = min(end, self.end_date)
            if not windows or windows[-1][1] < next_day:
                windows.append((next_day, end))
        return windows

    def _q2c_get_invoices(self):
        """``[(subscription_id, move_id)]`` of the invoices billing these subscriptions."""
        if not self.ids:
            return []
        rows = (
            self.env["account.move.line"]
            .sudo()
            ._read_group(
                [
                    ("q2c_subscription_id", "in", self.ids),
                    ("move_id.move_type", "in", ("out_invoice", "out_refund")),
                ],
                ["q2c_subscription_id", "move_id"],
            )
        )
        return [(sub.id, move.id) for sub, move in rows]

    # ------------------------------------------------------------------
    # Billing engine: charges of a cycle (pure, shared by previews and runs)
    # ------------------------------------------------------------------

    def _q2c_billing_data(self):
        """What the cycles of these subscriptions read besides the records: the amendments per
        line (to rebuild a line as it stood on a day) and the pending prorations per
        subscription. One query each."""
        data = {"changes_by_line": {}, "pending": {}}
        if not self.ids:
            return data
        Change = self.env["q2c.subscription.change"]
        days = [
            day for sub in self for day in (sub.current_period_start, sub.next_invoice_date) if day
        ]
        domain = [("subscription_id", "in", self.ids), ("line_id", "!=", False)]
        if days:
            domain.append(("effective_date", ">", min(days) - ONE_DAY))
        for change in Change.search(domain, order="effective_date, id"):
            data["changes_by_line"].setdefault(change.line_id.id, []).append(change)
        for change in Change.search(
            [("subscription_id", "in", self.ids), ("billing_state", "=", "pending")],
            order="effective_date, id",
        ):
            data["pending"].setdefault(change.subscription_id.id, Change)
            data["pending"][change.subscription_id.id] |= change
        return data

    def _q2c_sim_state(self):
        """The billing state a run simulates cycle by cycle (then writes back)."""
        self.ensure_one()
        return {
            "state": self.state,
            "end_date": self.end_date,
            "closed_date": self.closed_date,
            "paused_date": self.paused_date,
            "trial_end_date": self.trial_end_date,
            "activated_date": self.activated_date,
            "next_invoice_date": self.next_invoice_date or None,
            "cps": self.current_period_start or None,
            "cpe": self.current_period_end or None,
            "uplift": 1.0,
            "renewal_count": self.renewal_count,
            "one_time_done": set(),
            "events": [],
        }

    def _q2c_plan_billing(self, day, data):
        """The cycles due on or before ``day`` (catching up missed periods) and the simulated
        state after them. Pure."""
        self.ensure_one()
        sim = self._q2c_sim_state()
        cycles = []
        while sim["next_invoice_date"] and sim["next_invoice_date"] <= day:
            if len(cycles) >= MAX_CYCLES:
                raise UserError(
                    _(
                        "%(sub)s has more than %(count)s periods to catch up; check its next "
                        "invoice date (%(date)s).",
                        sub=self.name,
                        count=MAX_CYCLES,
                        date=self.next_invoice_date,
                    )
                )
            cycles.append(
                self._q2c_prepare_cycle(
                    sim["next_invoice_date"], sim, data, with_pending=not cycles
                )
            )
        return cycles, sim

    def _q2c_prepare_cycle(self, day, sim, data, with_pending=True, arrears=None):
        """Bill the billing date ``day``: the window in advance starting on ``day``, the
        previous window in arrears, one-time charges not billed yet and (``with_pending``) the
        pending prorations. Mutates ``sim``. Pure otherwise.

        :return: ``{"date", "window": (start, end, period_start, period_end) or None,
            "arrears": (start, end) or None, "charges": [...], "claims": [(start, end,
            timing)], "events": [...]}``
        """
        self.ensure_one()
        events = []
        cycle = {
            "date": day,
            "window": None,
            "arrears": None,
            "charges": [],
            "claims": [],
            "events": events,
        }
        # Trial: nothing is billed until the day after its end.
        if sim["state"] == "trial":
            trial_end = sim["trial_end_date"]
            if trial_end and day <= trial_end:
                sim["next_invoice_date"] = trial_end + ONE_DAY
                return cycle
            sim["state"] = "active"
            sim["activated_date"] = trial_end + ONE_DAY if trial_end else day
            events.append(("activate", sim["activated_date"]))
        # End of a fixed term: renew or expire.
        end = sim["end_date"]
        if end and day > end and sim["state"] in ("active", "paused"):
            if self.auto_renew and self.renewal_term_months > 0 and sim["state"] == "active":
                while end < day:
                    end = periods.next_term_end(end, self.renewal_term_months)
                    sim["uplift"] *= 1.0 + (self.renewal_uplift_pct or 0.0) / 100.0
                    sim["renewal_count"] += 1
                    events.append(("renew", end))
                sim["end_date"] = end
            else:
                sim["state"] = "closed"
                sim["closed_date"] = end
                events.append(("expire", end))
        state = sim["state"]
        billable = (
            state == "active"
            or (state == "paused" and sim["paused_date"] and day < sim["paused_date"])
            or (state == "closed" and sim["closed_date"] and day <= sim["closed_date"])
        )
        if billable and sim["end_date"] and day > sim["end_date"]:
            billable = False
        # The previous window in arrears: ended, or cut short by a close.
        if arrears is None and sim["cps"] and sim["cpe"] and (sim["cpe"] < day or not billable):
            arrears = (sim["cps"], sim["cpe"])
        cycle["arrears"] = arrears
        window = None
        if billable:
            period_start, period_end = self._q2c_period_of(day)
            window_end = period_end
            if sim["end_date"]:
                window_end = min(window_end, sim["end_date"])
            if state == "closed":
                window_end = min(window_end, sim["closed_date"])
            window = (day, window_end, period_start, period_end)
        cycle["window"] = window

        charges = cycle["charges"]
        arrears_charges = []
        for line in self.line_ids.sorted(lambda line: (line.sequence, line.id)):
            charge_type = line.price_plan_id.charge_type or line.charge_type
            if charge_type == "recurring":
                timing = line.price_plan_id.billing_timing or "in_advance"
                if timing == "in_advance" and window:
                    charge = self._q2c_recurring_charge(line, sim, data, *window)
                    if charge:
                        charges.append(charge)
                elif timing == "in_arrears" and arrears:
                    period_start, period_end = self._q2c_period_of(arrears[0])
                    charge = self._q2c_recurring_charge(
                        line, sim, data, arrears[0], arrears[1], period_start, period_end
                    )
                    if charge:
                        arrears_charges.append(charge)
            elif charge_type == "one_time" and window:
                if line.one_time_billed or line.id in sim["one_time_done"]:
                    continue
                charge = self._q2c_one_time_charge(line, data, day)
                if charge:
                    sim["one_time_done"].add(line.id)
                    charges.append(charge)
        arrears_charges += self._q2c_prepare_usage_charges(cycle, sim, data)
        charges += arrears_charges
        if with_pending:
            charges += self._q2c_pending_charges(data)
        if window:
            cycle["claims"].append((day, window[1], "in_advance"))
        if arrears and (arrears_charges or not window):
            cycle["claims"].append((arrears[0], arrears[1], "in_arrears"))
        if charges and not cycle["claims"]:
            cycle["claims"].append((day, day, "adjustment"))
        sim["cps"], sim["cpe"] = (window[0], window[1]) if window else (None, None)
        sim["next_invoice_date"] = window[1] + ONE_DAY if window else None
        sim["events"] += events
        return cycle

    def _q2c_apply_events(self, sim, vals):
        """Write the billing state of a run whose cycles changed the lifecycle (trial ended,
        term renewed or expired) and log each event."""
        self.ensure_one()
        vals = dict(
            vals,
            state=sim["state"],
            activated_date=sim["activated_date"] or False,
            closed_date=sim["closed_date"] or False,
            end_date=sim["end_date"] or False,
            renewal_count=sim["renewal_count"],
        )
        messages = []
        for kind, day in sim["events"]:
            if kind == "activate":
                messages.append(_("Trial ended; active from %(date)s.", date=day))
            elif kind == "renew":
                messages.append(_("Renewed until %(date)s.", date=day))
            elif kind == "expire":
                messages.append(_("Term ended on %(date)s: closed.", date=day))
        if sim["uplift"] != 1.0:
            messages.append(
                _(
                    "Prices uplifted by %(pct)s%% at renewal.",
                    pct=float_round((sim["uplift"] - 1.0) * 100.0, precision_digits=4),
                )
            )
            self._q2c_record_uplifts(sim["events"])
        self.write(vals)
        for message in messages:
            self.message_post(body=message, message_type="comment", subtype_xmlid="mail.mt_note")

    def _q2c_record_uplifts(self, events):
        """Apply the renewal uplift of each ``renew`` event to the lines, recording each step as
        an ``uplift`` amendment effective on the first day of the new term, so that the prices of
        every earlier day stay readable (MRR history, late billing)."""
        self.ensure_one()
        pct = self.renewal_uplift_pct or 0.0
        term_end = self.end_date
        vals_list = []
        for kind, day in events:
            if kind != "renew":
                continue
            start = term_end + ONE_DAY if term_end else day
            term_end = day
            for line in self.line_ids:
                if line.end_date and line.end_date < start:
                    continue
                old = line.price_multiplier or 1.0
                new = old * (1.0 + pct / 100.0)
                vals_list.append(line._q2c_prepare_uplift_change_vals(start, old, new))
                line.price_multiplier = new
        if vals_list:
            self.env["q2c.subscription.change"].sudo().create(vals_list)

    def _q2c_prepare_usage_charges(self, cycle, sim, data):
        """Hook: usage charges of the window in arrears ``cycle["arrears"]`` (the usage
        metering extends it). Same shape as ``_q2c_recurring_charge``."""
        return []

    @api.model
    def _q2c_line_state(self, line, day, data):
        """``line`` as it stood on ``day``: its current values, or the old values of the first
        amendment effective after ``day``. ``None`` when the line was not active that day."""
        state = line._q2c_state()
        for change in data["changes_by_line"].get(line.id, ()):
            if change.effective_date > day:
                if not change.old_quantity and change.change_type == "add":
                    return None
                state.update(
                    product=change.old_product_id,
                    plan=change.old_price_plan_id,
                    quantity=change.old_quantity,
                    multiplier=change.old_price_multiplier or state["multiplier"],
                )
                if change.old_product_id != line.product_id:
                    state["name"] = change.old_product_id.display_name
                # A line removed after ``day`` was still active on ``day``.
                return state
        if not line._q2c_is_active_on(day):
            return None
        return state

    def _q2c_discount_on(self, state, day):
        if state["discount"] and (
            not state["discount_end_date"] or state["discount_end_date"] >= day
        ):
            return state["discount"]
        return 0.0

    def _q2c_period_full_amount(self, state, uplift=1.0):
        """Amount of ``state`` for one full billing period, before discount, unrounded."""
        plan = state["plan"]
        months = self._q2c_period_months() if plan.charge_type == "recurring" else None
        rated = plan._q2c_rate(state["quantity"], period_months=months)["amount"]
        return rated * state["multiplier"] * uplift

    def _q2c_recurring_charge(self, line, sim, data, start, end, period_start, period_end):
        state = self._q2c_line_state(line, start, data)
        if not state or not state["plan"]:
            return None
        share = periods.fraction(start, end, period_start, period_end, self.proration_policy)
        full = self._q2c_period_full_amount(state, sim["uplift"]) * share
        if not full:
            return None
        discount = self._q2c_discount_on(state, start)
        return {
            "kind": "recurring",
            "subscription": self,
            "line": line,
            "product": state["product"],
            "description": _(
                "%(name)s from %(start)s to %(end)s",
                name=state["name"],
                start=start.isoformat(),
                end=end.isoformat(),
            ),
            "quantity": state["quantity"],
            "full": full,
            "discount": discount,
            "amount": self.currency_id.round(full * (1.0 - discount / 100.0)),
            "period_start": start,
            "period_end": end,
        }

    def _q2c_one_time_charge(self, line, data, day):
        state = self._q2c_line_state(line, day, data)
        if not state or not state["plan"]:
            return None
        full = self._q2c_period_full_amount(state)
        discount = self._q2c_discount_on(state, day)
        return {
            "kind": "one_time",
            "subscription": self,
            "line": line,
            "product": state["product"],
            "description": state["name"],
            "quantity": state["quantity"],
            "full": full,
            "discount": discount,
            "amount": self.currency_id.round(full * (1.0 - discount / 100.0)),
            "period_start": False,
            "period_end": False,
        }

    def _q2c_pending_charges(self, data):
        """Proration lines recorded by amendments and not billed yet."""
        charges = []
        for change in data["pending"].get(self.id, ()):
            charges += change._q2c_charges()
        return charges

    # ------------------------------------------------------------------
    # Billing engine: invoice lines and taxes (shared by previews and runs)
    # ------------------------------------------------------------------

    @api.model
    def _q2c_line_cache(self):
        return {
            "price_digits": self.env["decimal.precision"].precision_get("Product Price"),
            "taxes": {},
            "accounts": {},
        }

    def _q2c_prepare_move_line_vals(self, charge, cache):
        """Invoice line values (for ``Command.create``) of a charge; raises a UserError naming
        the product when the line cannot be invoiced (archived product, no income account)."""
        self.ensure_one()
        product = charge["product"]
        company = self.company_id
        fpos = self.fiscal_position_id
        if not product.active:
            raise UserError(
                _(
                    "%(sub)s: the product %(product)s is archived.",
                    sub=self.name,
                    product=product.display_name,
                )
            )
        key = (product.id, fpos.id, company.id)
        if key not in cache["taxes"]:
            product_taxes = product.taxes_id._filter_taxes_by_company(company)
            cache["taxes"][key] = (product_taxes, fpos.map_tax(product_taxes))
            account = product.product_tmpl_id.with_company(company).get_product_accounts(
                fiscal_pos=fpos
            )["income"]
            cache["accounts"][key] = account
        product_taxes, taxes = cache["taxes"][key]
        account = cache["accounts"][key]
        if not account:
            raise UserError(
                _(
                    "%(sub)s: no income account for the product %(product)s (set one on the product "
                    "or its category).",
                    sub=self.name,
                    product=product.display_name,
                )
            )
        full, discount, amount = charge["full"], charge["discount"], charge["amount"]
        if product_taxes != taxes and any(product_taxes.mapped("price_include")):
            # The fiscal position maps a price-included tax away: the price excludes it.
            amount = self.currency_id.round(
                self.env["account.tax"]._fix_tax_included_price_company(
                    amount, product_taxes, taxes, company
                )
            )
            full, discount = amount, 0.0
        quantity, price_unit, discount = self._q2c_line_representation(
            charge["quantity"], full, discount, amount, cache["price_digits"]
        )
        return {
            "display_type": "product",
            "product_id": product.id,
            "product_uom_id": product.uom_id.id,
            "name": charge["description"],
            "quantity": quantity,
            "price_unit": price_unit,
            "discount": discount,
            "tax_ids": [fields.Command.set(taxes.ids)],
            "account_id": account.id,
            "q2c_subscription_id": self.id,
            "q2c_subscription_line_id": charge["line"].id if charge.get("line") else False,
            "q2c_period_start": charge["period_start"],
            "q2c_period_end": charge["period_end"],
        }

    def _q2c_line_representation(self, quantity, full, discount, amount, price_digits):
        """``(quantity, price_unit, discount)`` whose total is exactly ``amount`` (rounded once):
        the real quantity and discount when the unit price is exact at the price precision,
        else quantity 1, else the net amount on one unit."""
        currency = self.currency_id
        candidates = []
        if quantity and quantity > 0 and quantity != 1:
            candidates.append((quantity, full / quantity, discount))
        candidates.append((1.0, full, discount))
        for qty, unit, disc in candidates:
            unit = float_round(unit, precision_digits=price_digits)
            total = currency.round(unit * (1 - (disc / 100.0)) * qty)
            if currency.compare_amounts(total, amount) == 0:
                return qty, unit, disc
        return 1.0, amount, 0.0

    def _q2c_base_lines(self, line_vals_list):
        """Odoo tax-computation base lines of invoice line values (the invoice's own path)."""
        self.ensure_one()
        AccountTax = self.env["account.tax"]
        base_lines = []
        for vals in line_vals_list:
            base_lines.append(
                AccountTax._prepare_base_line_for_taxes_computation(
                    None,
                    product_id=self.env["product.product"].browse(vals["product_id"]),
                    tax_ids=self.env["account.tax"].browse(vals["tax_ids"][0][2]),
                    price_unit=vals["price_unit"],
                    quantity=vals["quantity"],
                    discount=vals["discount"],
                    currency_id=self.currency_id,
                    partner_id=self.partner_id,
                    account_id=self.env["account.account"].browse(vals["account_id"]),
                )
            )
        AccountTax._add_tax_details_in_base_lines(base_lines, self.company_id)
        AccountTax._round_base_lines_tax_details(base_lines, self.company_id)
        return base_lines

    def _q2c_preview_invoice(self, day):
        self.ensure_one()
        data = self._q2c_billing_data()
        sim = self._q2c_sim_state()
        first = self._q2c_first_billing_day()
        if self.state == "draft":
            sim.update(
                state="trial" if first > self.start_date else "active", next_invoice_date=first
            )
        next_day = sim["next_invoice_date"]
        if next_day and day < next_day and day < first:
            day = first
        cycle = None
        if next_day and day >= next_day:
            # The next run, or a later one: simulate the runs in between (renewals, trials).
            count = 0
            while sim["next_invoice_date"] and sim["next_invoice_date"] <= day:
                cycle = self._q2c_prepare_cycle(
                    sim["next_invoice_date"], sim, data, with_pending=count == 0
                )
                count += 1
                if count > MAX_CYCLES:
                    break
        else:
            # A period already billed: recompute it as billed.
            if sim["cps"] and sim["cps"] <= day <= sim["cpe"]:
                billing_day = sim["cps"]
            else:
                billing_day = max(self._q2c_period_of(day)[0], first)
            previous = billing_day - ONE_DAY
            arrears = None
            if previous >= first:
                arrears = (max(self._q2c_period_of(previous)[0], first), previous)
            if sim["state"] != "closed":
                sim["state"] = "active"
            sim.update(cps=None, cpe=None)
            cycle = self._q2c_prepare_cycle(
                billing_day, sim, data, with_pending=False, arrears=arrears
            )
        cache = self._q2c_line_cache()
        charges = cycle["charges"] if cycle else []
        vals_list = [self._q2c_prepare_move_line_vals(charge, cache) for charge in charges]
        base_lines = self._q2c_base_lines(vals_list)
        totals = self.env["account.tax"]._get_tax_totals_summary(
            base_lines, self.currency_id, self.company_id
        )
        currency = self.currency_id
        lines = []
        for vals, base_line in zip(vals_list, base_lines):
            details = base_line["tax_details"]
            untaxed = currency.round(
                details["total_excluded_currency"] + details["delta_total_excluded_currency"]
            )
            tax = currency.round(sum(t["tax_amount_currency"] for t in details["taxes_data"]))
            lines.append(
                {
                    "description": vals["name"],
                    "product_id": vals["product_id"],
                    "subscription_line_id": vals["q2c_subscription_line_id"],
                    "quantity": vals["quantity"],
                    "price_unit": vals["price_unit"],
                    "discount": vals["discount"],
                    "period_start": vals["q2c_period_start"]
                    and vals["q2c_period_start"].isoformat(),
                    "period_end": vals["q2c_period_end"] and vals["q2c_period_end"].isoformat(),
                    "amount": untaxed,
                    "tax": tax,
                    "total": currency.round(untaxed + tax),
                }
            )
        window = cycle and (cycle["window"] or cycle["arrears"])
        if window:
            period_start, period_end = window[0], window[1]
        else:
            period_start, period_end = self._q2c_period_of(day)
        return {
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
            "lines": lines,
            "untaxed": currency.round(totals["base_amount_currency"]),
            "tax": currency.round(totals["tax_amount_currency"]),
            "total": currency.round(totals["total_amount_currency"]),
            "currency": currency.name,
        }

    # ------------------------------------------------------------------
    # Amendments: plan (pure), result, application
    # ------------------------------------------------------------------

    def _q2c_plan_change(self, changes, effective_date, change_type=None, apply_lines=True):
        """Validate ``changes`` and compute their proration (pure). Raises a ValidationError
        naming the item at fault."""
        self.ensure_one()
        closing = change_type == "close"
        if self.state in ("paused", "closed") and not closing:
            raise UserError(
                _(
                    "%(sub)s cannot be amended: it is %(state)s.",
                    sub=self.name,
                    state=self._q2c_state_label(),
                )
            )
        requested = self._q2c_to_date(effective_date, "effective_date", required=True)
        if not isinstance(changes, (list, tuple)) or not changes:
            raise ValidationError(
                _(
                    "The field 'changes' must be a non-empty list of changes, got %(value)r.",
                    value=changes,
                )
            )
        currency = self.currency_id
        months = self._q2c_period_months()
        prorate = self.state == "active" or (closing and self.state == "paused")
        window = period = None
        billed_window = False
        if prorate:
            for start, end in self._q2c_current_window():
                if start <= requested <= end:
                    window = (start, end)
                    billed_window = start == self.current_period_start
                    break
            if not window:
                bounds = "; ".join(
                    self.env._("%(start)s to %(end)s", start=start, end=end)
                    for start, end in self._q2c_current_window()
                ) or _("none")
                raise ValidationError(
                    _(
                        "The field 'effective_date' (%(date)s) is outside the current period of "
                        "%(sub)s (%(bounds)s).",
                        date=requested,
                        sub=self.name,
                        bounds=bounds,
                    )
                )
            period = self._q2c_period_of(window[0])
            effective = requested
            if self.proration_policy == "none":
                effective = window[1] + ONE_DAY
        else:
            effective = max(self._q2c_first_billing_day(), self.start_date)
        # No proration when the change starts a window not billed yet: that window bills it.
        prorate = (
            prorate and self.proration_policy != "none" and (billed_window or effective > window[0])
        )
        share = 0.0
        if prorate:
            share = periods.fraction(
                effective, window[1], period[0], period[1], self.proration_policy
            )

        Product = self.env["product.product"]
        Plan = self.env["q2c.price.plan"]
        items = []
        seen = set()
        for index, change in enumerate(changes):
            where = _("changes[%(index)s]", index=index)
            if not isinstance(change, dict):
                raise ValidationError(
                    _(
                        "%(where)s must be a dictionary with line_id, product_id, price_plan_id and "
                        "quantity, got %(value)r.",
                        where=where,
                        value=change,
                    )
                )
            unknown = set(change) - {"line_id", "product_id", "price_plan_id", "quantity"}
            if unknown:
                raise ValidationError(
                    _(
                        "%(where)s: unknown key(s) %(keys)s.",
                        where=where,
                        keys=", ".join(sorted(map(str, unknown))),
                    )
                )
            line = self.env["q2c.subscription.line"]
            line_id = change.get("line_id")
            if line_id:
                if not isinstance(line_id, int) or isinstance(line_id, bool):
                    raise ValidationError(
                        _(
                            "%(where)s: the field 'line_id' must be an id, got %(value)r.",
                            where=where,
                            value=line_id,
                        )
                    )
                line = self.line_ids.filtered(lambda rec: rec.id == line_id)  # noqa: B023
                if not line:
                    raise ValidationError(
                        _(
                            "%(where)s: the line_id %(line)s is not a line of %(sub)s.",
                            where=where,
                            line=line_id,
                            sub=self.name,
                        )
                    )
                if line.id in seen:
                    raise ValidationError(
                        _(
                            "%(where)s: the line_id %(line)s is changed twice.",
                            where=where,
                            line=line_id,
                        )
                    )
                seen.add(line.id)
                if line.end_date and line.end_date < effective:
                    raise ValidationError(
                        _(
                            "%(where)s: the line %(line)s ended on %(end)s.",
                            where=where,
                            line=line.name,
                            end=line.end_date,
                        )
                    )
            product = line.product_id
            if change.get("product_id"):
                product_id = change["product_id"]
                if not isinstance(product_id, int) or isinstance(product_id, bool):
                    raise ValidationError(
                        _(
                            "%(where)s: the field 'product_id' must be an id, got %(value)r.",
                            where=where,
                            value=product_id,
                        )
                    )
                product = Product.browse(product_id).exists()
                if not product:
                    raise ValidationError(
                        _(
                            "%(where)s: the product_id %(product)s does not exist.",
                            where=where,
                            product=product_id,
                        )
                    )
            if not product:
                raise ValidationError(
                    _("%(where)s: the field 'product_id' is required for a new line.", where=where)
                )
            label = _("%(where)s (%(product)s)", where=where, product=product.display_name)
            quantity = change.get("quantity", line.quantity if line else 1.0)
            if isinstance(quantity, bool) or not isinstance(quantity, (int, float)):
                raise ValidationError(
                    _(
                        "%(where)s: the field 'quantity' must be a number, got %(value)r.",
                        where=label,
                        value=quantity,
                    )
                )
            if quantity < 0:
                raise ValidationError(
                    _(
                        "%(where)s: the field 'quantity' cannot be negative (%(value)s).",
                        where=label,
                        value=quantity,
                    )
                )
            if not line and not quantity:
                raise ValidationError(
                    _("%(where)s: a new line needs a quantity above 0.", where=label)
                )
            plan = Plan
            if change.get("price_plan_id"):
                plan_id = change["price_plan_id"]
                if not isinstance(plan_id, int) or isinstance(plan_id, bool):
                    raise ValidationError(
                        _(
                            "%(where)s: the field 'price_plan_id' must be an id, got %(value)r.",
                            where=label,
                            value=plan_id,
                        )
                    )
                plan = Plan.browse(plan_id).exists()
                if not plan:
                    raise ValidationError(
                        _(
                            "%(where)s: the price_plan_id %(plan)s does not exist.",
                            where=label,
                            plan=plan_id,
                        )
                    )
                if plan.product_id != product:
                    raise ValidationError(
                        _(
                            "%(where)s: the price plan %(plan)s is not a plan of %(product)s.",
                            where=label,
                            plan=plan.name,
                            product=product.display_name,
                        )
                    )
            elif line and product == line.product_id:
                plan = line.price_plan_id
            elif quantity:
                plan = product._q2c_get_price_plan(
                    partner=self.partner_id,
                    currency=self.currency_id,
                    pricelist=self.pricelist_id,
                    date=effective,
                )
                if not plan or plan.currency_id != currency:
                    raise ValidationError(
                        _(
                            "%(where)s: the product %(product)s has no price plan in %(currency)s.",
                            where=label,
                            product=product.display_name,
                            currency=currency.name,
                        )
                    )
            if plan and plan.currency_id != currency:
                raise ValidationError(
                    _(
                        "%(where)s: the price plan %(plan)s is in %(plan_currency)s, the "
                        "subscription in %(currency)s.",
                        where=label,
                        plan=plan.name,
                        plan_currency=plan.currency_id.name,
                        currency=currency.name,
                    )
                )
            old = new = None
            if line:
                old = {
                    "line": line,
                    "product": line.product_id,
                    "plan": line.price_plan_id,
                    "quantity": line.quantity,
                    "name": line.name,
                    "multiplier": line.price_multiplier or 1.0,
                    "discount": line.discount,
                    "discount_end_date": line.discount_end_date,
                }
            if quantity:
                same_plan = line and plan == line.price_plan_id
                new = {
                    "line": line,
                    "product": product,
                    "plan": plan,
                    "quantity": float(quantity),
                    "name": line.name
                    if line and product == line.product_id
                    else product.display_name,
                    "multiplier": (line.price_multiplier or 1.0) if same_plan else 1.0,
                    "discount": line.discount if line else 0.0,
                    "discount_end_date": line.discount_end_date if line else False,
                }
            if not line:
                kind = "add"
            elif not quantity:
                kind = "remove"
            else:
                kind = "update"
            item = {
                "index": index,
                "kind": change_type or kind,
                "line": line,
                "old": old,
                "new": new,
                "lines": [],
                "mrr_delta": 0.0,
            }
            item["mrr_delta"] = self._q2c_state_mrr(new) - self._q2c_state_mrr(old)
            if prorate:
                item["lines"] = self._q2c_change_proration(
                    item, effective, window[1], share, months
                )
            items.append(item)

        lines = [line for item in items for line in item["lines"]]
        net = currency.round(sum(line["amount"] for line in lines))
        changed = {item["line"].id: item for item in items if item["line"]}
        total = 0.0
        for line in self.line_ids:
            if line.charge_type != "recurring" or (line.end_date and line.end_date < effective):
                continue
            if line.id in changed:
                continue
            total += line.period_amount
        for item in items:
            if item["new"] and item["new"]["plan"].charge_type == "recurring":
                total += currency.round(self._q2c_state_period_amount(item["new"], effective))
        return {
            "requested_date": requested,
            "effective_date": effective,
            "window": window,
            "period": period,
            "items": items,
            "lines": lines,
            "net": net,
            "new_recurring_total": currency.round(total),
            "mrr_delta": currency.round(sum(item["mrr_delta"] for item in items)),
            "apply_lines": apply_lines,
        }

    def _q2c_state_period_amount(self, state, day):
        """Recurring amount of a line state for one billing period after discount (unrounded)."""
        full = self._q2c_period_full_amount(state)
        return full * (1.0 - self._q2c_discount_on(state, day) / 100.0)

    def _q2c_state_mrr(self, state):
        """MRR of a line state (0 for usage and one-time plans), rounded."""
        if not state or not state["plan"] or state["plan"].charge_type != "recurring":
            return 0.0
        plan = state["plan"]
        rated = plan._q2c_rate(state["quantity"])["amount"] * state["multiplier"]
        today = fields.Date.context_today(self)
        monthly = rated * (1.0 - self._q2c_discount_on(state, today) / 100.0)
        return self.currency_id.round(monthly / plan._q2c_period_months())

    def _q2c_change_proration(self, item, effective, end, share, months):
        """The two proration lines of a changed line: the credit of the unused part at the old
        price and the charge of the remaining part at the new price (each rounded once)."""
        currency = self.currency_id
        old, new = item["old"], item["new"]
        result = []
        old_amount = new_amount = 0.0
        if (
            old
            and old["plan"]
            and old["plan"].charge_type == "recurring"
            and (old["line"]._q2c_is_active_on(effective))
        ):
            old_amount = currency.round(self._q2c_state_period_amount(old, effective) * share)
        if new and new["plan"] and new["plan"].charge_type == "recurring":
            new_amount = currency.round(self._q2c_state_period_amount(new, effective) * share)
        if (
            old
            and new
            and old["product"] == new["product"]
            and (
                (old["plan"], old["quantity"]) == (new["plan"], new["quantity"])
                or currency.compare_amounts(old_amount, new_amount) == 0
            )
        ):
            return result
        period = {"period_start": effective.isoformat(), "period_end": end.isoformat()}
        if old_amount:
            result.append(
                {
                    "description": _(
                        "Unused time on %(quantity)s x %(name)s (%(plan)s) from %(start)s to %(end)s",
                        quantity=_fmt_qty(old["quantity"]),
                        name=old["name"],
                        plan=old["plan"].name,
                        start=period["period_start"],
                        end=period["period_end"],
                    ),
                    **period,
                    "amount": -old_amount,
                    "product": old["product"],
                    "state": old,
                }
            )
        if new_amount:
            result.append(
                {
                    "description": _(
                        "Remaining time on %(quantity)s x %(name)s (%(plan)s) from %(start)s to "
                        "%(end)s",
                        quantity=_fmt_qty(new["quantity"]),
                        name=new["name"],
                        plan=new["plan"].name,
                        start=period["period_start"],
                        end=period["period_end"],
                    ),
                    **period,
                    "amount": new_amount,
                    "product": new["product"],
                    "state": new,
                }
            )
        return result

    def _q2c_change_result(self, plan):
        """The API.md answer of preview_change / apply_change."""
        return {
            "lines": [
                {
                    "description": line["description"],
                    "period_start": line["period_start"],
                    "period_end": line["period_end"],
                    "amount": line["amount"],
                }
                for line in plan["lines"]
            ],
            "net": plan["net"],
            "new_recurring_total": plan["new_recurring_total"],
            "mrr_delta": plan["mrr_delta"],
            "currency": self.currency_id.name,
        }

    def _q2c_apply_change_plan(self, plan):
        """Write the lines, record the amendments and bill their proration."""
        self.ensure_one()
        effective = plan["effective_date"]
        Line = self.env["q2c.subscription.line"]
        for item in plan["items"]:
            line, new = item["line"], item["new"]
            if item["kind"] == "add":
                item["line"] = Line.create(
                    {
                        "subscription_id": self.id,
                        "product_id": new["product"].id,
                        "price_plan_id": new["plan"].id,
                        "quantity": new["quantity"],
                        "start_date": effective if self.state != "draft" else False,
                    }
                )
            elif not new:
                if self.state == "draft":
                    item["line"] = Line
                    line.unlink()
                else:
                    line.end_date = effective - ONE_DAY
            else:
                vals = {"quantity": new["quantity"]}
                if new["product"] != line.product_id:
                    vals.update(product_id=new["product"].id, name=new["product"].display_name)
                if new["plan"] != line.price_plan_id:
                    vals.update(price_plan_id=new["plan"].id, price_multiplier=new["multiplier"])
                line.write(vals)
        upgrade = self.currency_id.compare_amounts(plan["net"], 0.0) > 0
        bill_now = upgrade and self.company_id.q2c_upgrade_billing == "immediate"
        changes = self._q2c_record_changes(plan, bill_now=bill_now)
        self._q2c_post_change_message(plan, changes)
        return changes

    def _q2c_record_changes(self, plan, bill_now=False):
        """Create the amendment records of ``plan``; with ``bill_now``, invoice their proration
        at once (else it waits for the next invoice)."""
        self.ensure_one()
        vals_list = []
        for item in plan["items"]:
            old, new = item["old"] or {}, item["new"] or {}
            credit = sum(line["amount"] for line in item["lines"] if line["amount"] < 0)
            charge = sum(line["amount"] for line in item["lines"] if line["amount"] > 0)
            vals_list.append(
                {
                    "subscription_id": self.id,
                    "line_id": item["line"].id if item["line"] else False,
                    "change_type": item["kind"],
                    "requested_date": plan["requested_date"],
                    "effective_date": plan["effective_date"],
                    "period_start": plan["effective_date"] if item["lines"] else False,
                    "period_end": plan["window"][1] if item["lines"] else False,
                    "old_product_id": old.get("product") and old["product"].id,
                    "old_price_plan_id": old.get("plan") and old["plan"].id,
                    "old_quantity": old.get("quantity", 0.0),
                    "new_product_id": new.get("product") and new["product"].id,
                    "new_price_plan_id": new.get("plan") and new["plan"].id,
                    "new_quantity": new.get("quantity", 0.0),
                    "old_price_multiplier": old.get("multiplier", 0.0),
                    "new_price_multiplier": new.get("multiplier", 0.0),
                    "credit_amount": credit,
                    "credit_description": next(
                        (line["description"] for line in item["lines"] if line["amount"] < 0), False
                    ),
                    "charge_amount": charge,
                    "charge_description": next(
                        (line["description"] for line in item["lines"] if line["amount"] > 0), False
                    ),
                    "mrr_delta": item["mrr_delta"],
                    "billing_state": "pending" if item["lines"] else "none",
                }
            )
        changes = self.env["q2c.subscription.change"].create(vals_list)
        if bill_now and changes.filtered(lambda change: change.billing_state == "pending"):
            self.env["q2c.billing.run"]._q2c_invoice_changes(self, changes)
        return changes

    def _q2c_post_change_message(self, plan, changes):
        rows = Markup().join(Markup("<li>%s</li>") % change._q2c_summary() for change in changes)
        body = Markup("%s<ul>%s</ul>") % (
            _(
                "Amendment effective on %(date)s (proration net %(net)s %(currency)s):",
                date=plan["effective_date"],
                net=plan["net"],
                currency=self.currency_id.name,
            ),
            rows,
        )
        self.message_post(body=body, message_type="comment", subtype_xmlid="mail.mt_note")


def _fmt_qty(value):
    """10.0 -> '10', 2.5 -> '2.5'."""
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return text or "0"
