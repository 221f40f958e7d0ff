from datetime import timedelta

from odoo import api, fields, models

ONE_DAY = timedelta(days=1)
AMOUNTS_REFRESHED_PARAM = "q2c_billing.amounts_refreshed_on"
AMOUNTS_REFRESH_CURSOR_PARAM = "q2c_billing.amounts_refresh_cursor"
AMOUNTS_REFRESH_BATCH = 500
# The first day a transition takes effect, read from the values the transition writes.
STATE_DATE_FIELDS = {
    "trial": ("start_date",),
    "active": ("resumed_date", "activated_date"),
    "paused": ("paused_date",),
    "closed": ("closed_date",),
}


class Q2cSubscription(models.Model):
    """SaaS metrics on subscriptions: MRR history (state log, MRR steps) and the public
    ``saas_metrics`` / ``mrr_movements`` of API.md."""

    _inherit = "q2c.subscription"

    state_log_ids = fields.One2many(
        "q2c.subscription.state.log", "subscription_id", string="State History", readonly=True
    )

    # ------------------------------------------------------------------
    # Public API (API.md)
    # ------------------------------------------------------------------

    @api.model
    def saas_metrics(self, date_from, date_to, currency=None):
        """MRR bridge and churn figures over [date_from, date_to] (CONVENTIONS.md, Metrics):
        ``mrr_start`` (end of the day before ``date_from``), ``mrr_end`` (end of ``date_to``),
        movements of the window (``new``, ``expansion``, ``reactivation`` positive;
        ``contraction`` and ``churn`` as positive amounts lost), customer counts, churn
        percentages, quick ratio, ARPA and LTV (0.0 where a ratio is undefined), in the company
        currency or ``currency`` (ISO code or id) at the rate of ``date_to``."""
        self.check_access("read")
        Movement = self.env["q2c.mrr.movement"]
        day_from, day_to = Movement._q2c_check_window(date_from, date_to)
        target = Movement._q2c_currency_from_arg(currency)
        return Movement._q2c_saas_metrics(day_from, day_to, target)

    @api.model
    def mrr_movements(self, date_from, date_to):
        """MRR movements dated in [date_from, date_to], oldest first: ``date``, ``partner_id``
        (the commercial partner), ``subscription_id``, ``type``, ``mrr_delta`` (company
        currency), ``currency``."""
        self.check_access("read")
        Movement = self.env["q2c.mrr.movement"]
        day_from, day_to = Movement._q2c_check_window(date_from, date_to)
        movements = Movement.search(
            [
                ("date", ">=", day_from),
                ("date", "<=", day_to),
                ("company_id", "in", self.env.companies.ids),
            ],
            order="date, id",
        )
        return [
            {
                "date": fields.Date.to_string(movement.date),
                "partner_id": movement.partner_id.id,
                "subscription_id": movement.subscription_id.id,
                "type": movement.type,
                "mrr_delta": movement.mrr_delta,
                "currency": movement.currency_id.name,
            }
            for movement in movements
        ]

    # ------------------------------------------------------------------
    # Hooks: every transition and amendment refreshes the customer's movements
    # ------------------------------------------------------------------

    def _q2c_set_states(self, state, vals_list, messages):
        res = super()._q2c_set_states(state, vals_list, messages)
        if state in STATE_DATE_FIELDS and self:
            log_vals = []
            for sub, vals in zip(self, vals_list, strict=True):
                day = next((vals[f] for f in STATE_DATE_FIELDS[state] if vals.get(f)), None)
                day = fields.Date.to_date(day) or fields.Date.context_today(sub)
                if state == "closed":
                    day += ONE_DAY  # closed_date is the last day of service
                log_vals.append({"subscription_id": sub.id, "state": state, "date": day})
            self.env["q2c.subscription.state.log"].sudo().create(log_vals)
            # One rebuild for the customers of all the subscriptions.
            self.env["q2c.mrr.movement"]._q2c_rebuild(self.partner_id)
        return res

    def _q2c_apply_change_plan(self, plan):
        res = super()._q2c_apply_change_plan(plan)
        if self.state != "draft":
            self.env["q2c.mrr.movement"]._q2c_rebuild(self.partner_id)
        return res

    def _q2c_apply_events(self, sim, vals):
        """A billing run that ends a trial or expires a term changes the state without
        ``_q2c_set_state``: log those transitions too (the MRR history reads the log)."""
        res = super()._q2c_apply_events(sim, vals)
        logs = [
            {"subscription_id": self.id, "state": "active", "date": day}
            if kind == "activate"
            else {"subscription_id": self.id, "state": "closed", "date": day + ONE_DAY}
            for kind, day in sim["events"]
            if kind in ("activate", "expire")
        ]
        if logs:
            self.env["q2c.subscription.state.log"].sudo().create(logs)
            self.env["q2c.mrr.movement"]._q2c_rebuild(self.partner_id)
        return res

    def _q2c_record_uplifts(self, events):
        res = super()._q2c_record_uplifts(events)
        if any(kind == "renew" for kind, _day in events) and self.renewal_uplift_pct:
            self.env["q2c.mrr.movement"]._q2c_rebuild(self.partner_id)
        return res

    # ------------------------------------------------------------------
    # Stored MRR kept current
    # ------------------------------------------------------------------

    @api.model
    def _cron_q2c_refresh_amounts(self, limit=AMOUNTS_REFRESH_BATCH):
        """Nightly: recompute the stored recurring total, MRR and ARR of the subscriptions
        whose lines started, ended or lost their discount since the last refresh (they are
        computed for the day they were computed on). A bounded batch per call, re-triggered
        while some remain; the day refreshed is kept in ``q2c_billing.amounts_refreshed_on``."""
        today = fields.Date.context_today(self)
        params = self.env["ir.config_parameter"].sudo()
        last = fields.Date.to_date(params.get_param(AMOUNTS_REFRESHED_PARAM) or False)
        if last and last >= today:
            return
        Line = self.env["q2c.subscription.line"]
        if last:
            domain = [
                "|",
                "|",
                "&",
                ("start_date", ">", last),
                ("start_date", "<=", today),
                "&",
                ("end_date", ">=", last),
                ("end_date", "<", today),
                "&",
                ("discount_end_date", ">=", last),
                ("discount_end_date", "<", today),
            ]
        else:
            domain = [
                "|",
                "|",
                ("start_date", "!=", False),
                ("end_date", "!=", False),
                ("discount_end_date", "!=", False),
            ]
        # A pass interrupted by the batch limit resumes after the last subscription it did.
        cursor = int(params.get_param(AMOUNTS_REFRESH_CURSOR_PARAM) or 0)
        lines = Line.search([("subscription_id.state", "=", "active")] + domain)
        subs = lines.subscription_id.filtered(lambda sub: sub.id > cursor).sorted("id")
        batch, rest = subs[:limit], subs[limit:]
        todo = lines.filtered(lambda line: line.subscription_id in batch)
        for field_name in ("period_amount", "mrr"):
            self.env.add_to_compute(Line._fields[field_name], todo)
        for field_name in ("recurring_total", "mrr", "mrr_company", "arr"):
            self.env.add_to_compute(self._fields[field_name], batch)
        todo.flush_recordset()
        batch.flush_recordset()
        self.env["ir.cron"]._notify_progress(done=len(batch), remaining=len(rest))
        if rest:
            params.set_param(AMOUNTS_REFRESH_CURSOR_PARAM, str(batch[-1].id))
            self.env.ref("q2c_billing.q2c_subscription_amounts_cron")._trigger()
        else:
            params.set_param(AMOUNTS_REFRESH_CURSOR_PARAM, "0")
            params.set_param(AMOUNTS_REFRESHED_PARAM, fields.Date.to_string(today))

    # ------------------------------------------------------------------
    # MRR history
    # ------------------------------------------------------------------

    def _q2c_state_timeline(self):
        """``[(date, state)]`` of the subscription, oldest first: its state log, or for a
        subscription without one (created before the log existed) the dates on its record."""
        self.ensure_one()
        if self.state_log_ids:
            return [
                (log.date, log.state) for log in self.state_log_ids.sorted(lambda r: (r.date, r.id))
            ]
        timeline = []
        if self.trial_end_date and self.start_date and self.start_date <= self.trial_end_date:
            timeline.append((self.start_date, "trial"))
        if self.activated_date:
            timeline.append((self.activated_date, "active"))
        if self.paused_date:
            timeline.append((self.paused_date, "paused"))
        if self.resumed_date and (not self.paused_date or self.resumed_date >= self.paused_date):
            timeline.append((self.resumed_date, "active"))
        if self.closed_date:
            timeline.append((self.closed_date + ONE_DAY, "closed"))
        return sorted(timeline, key=lambda item: item[0])

    def _q2c_mrr_on(self, day, data):
        """MRR (subscription currency) of the recurring lines as they stood on ``day``, after
        the discounts running that day, ignoring the subscription's state."""
        self.ensure_one()
        total = 0.0
        for line in self.line_ids:
            state = self._q2c_line_state(line, day, data)
            if not state or not state["plan"] or state["plan"].charge_type != "recurring":
                continue
            plan = state["plan"]
            rated = plan._q2c_rate(state["quantity"])["amount"] * state["multiplier"]
            monthly = rated * (1.0 - self._q2c_discount_on(state, day) / 100.0)
            total += self.currency_id.round(monthly / plan._q2c_period_months())
        return self.currency_id.round(total)

    def _q2c_mrr_steps(self):
        """``[(subscription, day, delta)]``: every day the MRR of these subscriptions changes,
        with the change in the subscription's currency."""
        if not self:
            return []
        changes = (
            self.env["q2c.subscription.change"]
            .sudo()
            .search(
                [("subscription_id", "in", self.ids), ("line_id", "!=", False)],
                order="effective_date, id",
            )
        )
        data = {"changes_by_line": {}, "pending": {}}
        for change in changes:
            data["changes_by_line"].setdefault(change.line_id.id, []).append(change)
        changes_by_sub = {}
        for change in changes:
            changes_by_sub.setdefault(change.subscription_id.id, []).append(change.effective_date)
        steps = []
        for sub in self:
            timeline = sub._q2c_state_timeline()
            if not timeline:
                continue
            days = {day for day, _state in timeline}
            days.update(changes_by_sub.get(sub.id, ()))
            for line in sub.line_ids:
                if line.start_date:
                    days.add(line.start_date)
                if line.end_date:
                    days.add(line.end_date + ONE_DAY)
                if line.discount_end_date:
                    days.add(line.discount_end_date + ONE_DAY)
            first = timeline[0][0]
            previous = 0.0
            index, state = 0, None
            for day in sorted(d for d in days if d >= first):
                while index < len(timeline) and timeline[index][0] <= day:
                    state = timeline[index][1]
                    index += 1
                mrr = sub._q2c_mrr_on(day, data) if state == "active" else 0.0
                delta = sub.currency_id.round(mrr - previous)
                if not sub.currency_id.is_zero(delta):
                    steps.append((sub, day, delta))
                previous = mrr
        return steps

    def _q2c_main_line(self):
        """The largest recurring line (for breakdowns by product and plan)."""
        self.ensure_one()
        lines = self.line_ids.filtered(lambda line: line.charge_type == "recurring")
        return max(lines, key=lambda line: line.mrr, default=self.line_ids[:1])

    def _q2c_main_product(self):
        """The product of the largest recurring line (for breakdowns)."""
        return self._q2c_main_line().product_id
