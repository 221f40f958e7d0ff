from collections import defaultdict
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.tools import SQL

from .q2c_price_plan import _fmt_qty
from .q2c_usage_event import day_start

ONE_DAY = timedelta(days=1)


class Q2cSubscription(models.Model):
    """Usage metering on subscriptions: the usage of the current period, the amount not billed
    yet, and the usage charges of a billing cycle (the hook ``_q2c_prepare_usage_charges`` of
    the billing engine).

    Usage is billed in arrears: the cycle that bills the window [start, end] in advance bills
    the usage of the previous window. Each usage line (a line whose plan is a usage plan)
    gives one invoice line per window: the events of its metric in the window (timestamps
    from ``start`` 00:00 UTC to ``end`` 24:00 UTC), aggregated in SQL, rated by the plan.
    Pending events of a window invoiced already (late events) give one dated adjustment line
    per window and metric: the window rated with them minus the window as billed.
    """

    _inherit = "q2c.subscription"

    usage_summary_ids = fields.One2many(
        "q2c.usage.summary",
        "subscription_id",
        string="Current Usage",
        readonly=True,
        help="Usage of the current period per metric (events pending or billed).",
    )
    usage_period_start = fields.Date(string="Usage From", compute="_compute_usage_amounts")
    usage_period_end = fields.Date(string="Usage Until", compute="_compute_usage_amounts")
    usage_unbilled_amount = fields.Monetary(
        string="Unbilled Usage",
        compute="_compute_usage_amounts",
        help="What the usage not billed yet would be invoiced now: the current period rated "
        "by the usage plans, plus the late usage of periods invoiced already, before tax.",
    )
    usage_enabled = fields.Boolean(
        compute="_compute_usage_event_counts", help="Has usage lines or usage events."
    )
    usage_event_count = fields.Integer(compute="_compute_usage_event_counts")
    usage_unbillable_count = fields.Integer(compute="_compute_usage_event_counts")

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    def _compute_usage_amounts(self):
        for sub in self:
            start, end = sub._q2c_usage_window()
            sub.usage_period_start = start
            sub.usage_period_end = end
            amount = 0.0
            if (
                sub.id
                and sub.state != "draft"
                and any(line.charge_type == "usage" for line in sub.line_ids)
            ):
                charges = sub._q2c_usage_charges(start, end or fields.Date.context_today(sub))
                amount = sub.currency_id.round(sum(charge["amount"] for charge in charges))
            sub.usage_unbilled_amount = amount

    def _compute_usage_event_counts(self):
        counts = defaultdict(int)
        unbillable = defaultdict(int)
        if self.ids:
            for sub, state, count in self.env["q2c.usage.event"]._read_group(
                [("subscription_id", "in", self.ids)], ["subscription_id", "state"], ["__count"]
            ):
                counts[sub.id] += count
                if state == "unbillable":
                    unbillable[sub.id] += count
        for sub in self:
            sub.usage_event_count = counts[sub.id]
            sub.usage_unbillable_count = unbillable[sub.id]
            sub.usage_enabled = bool(counts[sub.id]) or any(
                line.charge_type == "usage" for line in sub.line_ids
            )

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    @api.ondelete(at_uninstall=False)
    def _unlink_except_usage_events(self):
        # The events table has no foreign key to subscriptions: "restrict" is enforced here.
        self.env["q2c.usage.event"]._q2c_check_no_usage_events("subscription_id", self)

    def action_view_usage_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("q2c_billing.q2c_usage_event_action")
        action["domain"] = [("subscription_id", "=", self.id)]
        action["context"] = {"search_default_group_by_metric": 1, "create": False}
        if self.env.context.get("q2c_unbillable"):
            action["context"]["search_default_unbillable"] = 1
        return action

    def action_view_unbillable_usage(self):
        return self.with_context(q2c_unbillable=True).action_view_usage_events()

    # ------------------------------------------------------------------
    # Portal
    # ------------------------------------------------------------------

    def _q2c_portal_usage(self):
        """Usage of the current period per usage line, each metric under its aggregation,
        with the amount its plan rates it at so far (before tax): ``[{"metric", "uom",
        "quantity", "quantity_display", "amount", "currency"}]``. The portal controller calls
        it as superuser after its access check."""
        self.ensure_one()
        start, end = self._q2c_usage_window()
        charges = self._q2c_usage_charges(start, end or fields.Date.context_today(self), late=False)
        return [
            {
                "metric": charge["usage_metric"].name,
                "uom": charge["usage_metric"].uom_id.name or "",
                "quantity": charge["usage_quantity"],
                "quantity_display": _fmt_qty(charge["usage_quantity"]),
                "amount": charge["amount"],
                "currency": self.currency_id.name,
            }
            for charge in charges
        ]

    # ------------------------------------------------------------------
    # Billing engine hooks
    # ------------------------------------------------------------------

    def _q2c_prepare_usage_charges(self, cycle, sim, data):
        """The usage of the window in arrears, and the late usage of windows invoiced
        already."""
        charges = super()._q2c_prepare_usage_charges(cycle, sim, data)
        arrears = cycle.get("arrears")
        if arrears:
            charges += self._q2c_usage_charges(arrears[0], arrears[1], data=data)
        return charges

    def _q2c_prepare_move_line_vals(self, charge, cache):
        vals = super()._q2c_prepare_move_line_vals(charge, cache)
        if charge.get("kind") == "usage":
            vals["q2c_usage_metric_id"] = charge["usage_metric"].id
            vals["q2c_usage_late"] = charge["usage_late"]
        return vals

    # ------------------------------------------------------------------
    # Usage rating
    # ------------------------------------------------------------------

    def _q2c_usage_window(self):
        """The period whose usage is not billed yet: the current billing window (its usage is
        billed by the next cycle), else from the first billed day (after a trial).
        ``(start, end or None)``."""
        self.ensure_one()
        if self.current_period_start:
            return self.current_period_start, self.current_period_end
        return self._q2c_first_billing_day(), None

    def _q2c_usage_lines(self, period_start, period_end):
        """Invoice line values (for ``Command.create``) of the usage of [period_start,
        period_end] and of the late usage before it, one per usage line and window. Pure:
        the events are marked billed and linked to their invoice line when the line is
        created (``account.move.line.create``)."""
        self.ensure_one()
        cache = self._q2c_line_cache()
        return [
            self._q2c_prepare_move_line_vals(charge, cache)
            for charge in self._q2c_usage_charges(period_start, period_end)
        ]

    def _q2c_usage_line_windows(self, start, end, data):
        """``[(line, state, window_start, window_end)]``: the usage lines active during
        [start, end], each with its values on its first active day there and the days it
        covers. Two lines of one metric never cover the same day (the first line wins)."""
        self.ensure_one()
        result = []
        covered = defaultdict(list)
        for line in self.line_ids.sorted(lambda line: (line.sequence, line.id)):
            plan = line.price_plan_id
            if (plan.charge_type or line.charge_type) != "usage":
                continue
            window_start = max(start, line.start_date) if line.start_date else start
            window_end = min(end, line.end_date) if line.end_date else end
            if window_end < window_start:
                continue
            state = self._q2c_line_state(line, window_start, data)
            if not state or not state["plan"] or not state["plan"].metric_id:
                continue
            metric = state["plan"].metric_id
            if any(
                window_start <= other_end and other_start <= window_end
                for other_start, other_end in covered[metric.id]
            ):
                continue
            covered[metric.id].append((window_start, window_end))
            result.append((line, state, window_start, window_end))
        return result

    def _q2c_usage_charges(self, start, end, data=None, late=True):
        """Usage charges of [start, end] (dates, inclusive) and, with ``late``, of the late
        events of windows invoiced already. Pure; two or three queries whatever the number of
        events. Each charge has the keys of the billing engine's charges plus
        ``usage_metric``, ``usage_late``, ``usage_quantity`` and ``usage_event_count``."""
        self.ensure_one()
        if data is None:
            data = self._q2c_billing_data()
        Event = self.env["q2c.usage.event"]
        windows = []  # (key, line, state, start, end, late)
        for line, state, window_start, window_end in self._q2c_usage_line_windows(start, end, data):
            windows.append((len(windows), line, state, window_start, window_end, False))
        if late:
            for metric_id, late_start, late_end in self._q2c_late_usage_windows(start):
                for line, state, window_start, window_end in self._q2c_usage_line_windows(
                    late_start, late_end, data
                ):
                    if state["plan"].metric_id.id == metric_id:
                        windows.append((len(windows), line, state, window_start, window_end, True))
        if not windows:
            return []
        aggregates = Event._q2c_aggregate(
            [
                (key, self.id, state["plan"].metric_id.id, window_start, window_end)
                for key, __, state, window_start, window_end, __ in windows
            ]
        )
        currency = self.currency_id
        charges = []
        for key, line, state, window_start, window_end, is_late in windows:
            values = aggregates.get(key)
            plan = state["plan"]
            metric = plan.metric_id
            multiplier = state["multiplier"] or 1.0
            if is_late:
                if not values or not values["pending_count"]:
                    continue
                full = (
                    plan._q2c_rate(values["quantity"])["amount"]
                    - plan._q2c_rate(values["billed_quantity"])["amount"]
                ) * multiplier
                if metric.aggregation in ("sum", "count"):
                    quantity = values["quantity"] - values["billed_quantity"]
                else:
                    quantity = values["quantity"]
                description = _(
                    "Late usage for %(start)s to %(end)s: %(name)s (%(quantity)s %(metric)s)",
                    start=window_start.isoformat(),
                    end=window_end.isoformat(),
                    name=state["name"],
                    quantity=_fmt_qty(quantity),
                    metric=metric.name,
                )
            else:
                quantity = values["quantity"] if values else 0.0
                full = plan._q2c_rate(quantity)["amount"] * multiplier
                if not values and currency.is_zero(full):
                    continue
                description = _(
                    "%(name)s: %(quantity)s %(metric)s from %(start)s to %(end)s",
                    name=state["name"],
                    quantity=_fmt_qty(quantity),
                    metric=metric.name,
                    start=window_start.isoformat(),
                    end=window_end.isoformat(),
                )
            discount = self._q2c_discount_on(state, window_start)
            charges.append(
                {
                    "kind": "usage",
                    "subscription": self,
                    "line": line,
                    "product": state["product"],
                    "description": description,
                    "quantity": quantity if quantity > 0 else 1.0,
                    "full": full,
                    "discount": discount,
                    "amount": currency.round(full * (1.0 - discount / 100.0)),
                    "period_start": window_start,
                    "period_end": window_end,
                    "usage_metric": metric,
                    "usage_late": is_late,
                    "usage_quantity": quantity,
                    "usage_event_count": values["pending_count"] + values["billed_count"]
                    if values
                    else 0,
                }
            )
        return charges

    def _q2c_late_usage_windows(self, before):
        """``[(metric_id, start, end)]``: the invoiced windows (billed periods) holding pending
        events dated before ``before``. Pending events outside every invoiced window (trial,
        pause, before the start) are not billable: the billing run marks them so."""
        self.ensure_one()
        self.env["q2c.usage.event"].flush_model(["subscription_id", "state", "timestamp"])
        self.env.cr.execute(
            SQL(
                """
            SELECT DISTINCT metric_id, timestamp::date
              FROM q2c_usage_event
             WHERE subscription_id = %s AND state = 'pending' AND timestamp < %s
            """,
                self.id,
                day_start(before),
            )
        )
        late_days = self.env.cr.fetchall()
        if not late_days:
            return []
        billed = sorted(
            {
                (period.period_start, period.period_end)
                for period in self.billed_period_ids
                if period.timing in ("in_advance", "in_arrears") and period.period_start < before
            }
        )
        result = set()
        for metric_id, day in late_days:
            for period_start, period_end in billed:
                if period_start <= day <= min(period_end, before - ONE_DAY):
                    result.add((metric_id, period_start, min(period_end, before - ONE_DAY)))
                    break
        return sorted(result, key=lambda item: (item[1], item[0]))

    @api.model
    def _q2c_usage_sweep(self, ends):
        """After billing the subscriptions ``{subscription_id: last day billed}``: their events
        still pending up to then were billed by no invoice line; they become unbillable with
        their reason (nothing silently reads as zero). One query."""
        if not ends:
            return 0
        Event = self.env["q2c.usage.event"]
        Event.flush_model()
        subs = self.browse(list(ends))
        usage_metrics = Event._q2c_usage_metrics_by_subscription(subs.ids)
        rows = SQL(", ").join(
            SQL(
                "(%s::int4, %s::int4[], %s::timestamp, %s::timestamp)",
                sub.id,
                sorted(usage_metrics.get(sub.id, ())),
                day_start(sub._q2c_first_billing_day()),
                day_start(ends[sub.id] + ONE_DAY),
            )
            for sub in subs
        )
        self.env.cr.execute(
            SQL(
                """
            UPDATE q2c_usage_event e
               SET state = 'unbillable',
                   unbillable_reason = CASE
                       WHEN NOT (e.metric_id = ANY(s.metric_ids)) THEN %(no_plan)s
                       WHEN e.timestamp < s.first_day THEN %(before_start)s
                       ELSE %(not_billed)s END
              FROM (VALUES %(rows)s) AS s(subscription_id, metric_ids, first_day, ts_until)
             WHERE e.subscription_id = s.subscription_id
               AND e.state = 'pending'
               AND e.timestamp < s.ts_until
            """,
                rows=rows,
                no_plan=_("No usage plan for this metric on the subscription"),
                before_start=_("Before the first billed day (trial or not started)"),
                not_billed=_(
                    "Outside the billed periods or no active usage line for the metric then "
                    "(pause, line ended)"
                ),
            )
        )
        count = self.env.cr.rowcount
        Event._q2c_invalidate_usage_cache()
        return count

    @api.model
    def _q2c_rate_usage_batch(self, subscriptions, period_start, period_end):
        """Rate the usage of [period_start, period_end] of many subscriptions: one aggregate
        query for all of them (no Python loop over events), then each usage line priced by its
        plan. Pure. ``{subscription_id: [charge, ...]}`` (current window only)."""
        data = subscriptions._q2c_billing_data()
        windows = []
        for sub in subscriptions:
            for line, state, window_start, window_end in sub._q2c_usage_line_windows(
                period_start, period_end, data
            ):
                windows.append((sub, line, state, window_start, window_end))
        aggregates = self.env["q2c.usage.event"]._q2c_aggregate(
            [
                (key, sub.id, state["plan"].metric_id.id, window_start, window_end)
                for key, (sub, __, state, window_start, window_end) in enumerate(windows)
            ]
        )
        result = defaultdict(list)
        for key, (sub, line, state, window_start, window_end) in enumerate(windows):
            values = aggregates.get(key)
            quantity = values["quantity"] if values else 0.0
            full = state["plan"]._q2c_rate(quantity)["amount"] * (state["multiplier"] or 1.0)
            discount = sub._q2c_discount_on(state, window_start)
            result[sub.id].append(
                {
                    "line": line,
                    "usage_metric": state["plan"].metric_id,
                    "usage_quantity": quantity,
                    "usage_event_count": values["pending_count"] + values["billed_count"]
                    if values
                    else 0,
                    "amount": sub.currency_id.round(full * (1.0 - discount / 100.0)),
                    "period_start": window_start,
                    "period_end": window_end,
                }
            )
        return result
