from collections import defaultdict
from datetime import timedelta
from fractions import Fraction

from markupsafe import Markup

from odoo import Command, _, fields, models
from odoo.exceptions import UserError

from .. import tools

MODIFICATION_KINDS = [
    ("separate", "Separate contract (distinct goods at their SSP)"),
    ("prospective", "Prospective (remaining consideration over the remaining goods)"),
    ("catch_up", "Cumulative catch-up (single partly satisfied obligation)"),
]


class Q2cRevenueContract(models.Model):
    """Contract modifications (CONVENTIONS.md, Revenue recognition)."""

    _inherit = "q2c.revenue.contract"

    def _q2c_modify(self, changes, date, kind):
        """Modify the active contract on ``date`` (the first day the change takes effect).

        ``changes`` (a dict):

        - ``add``: obligations to add (``product_id``, ``ssp``, ``start_date``, ``end_date``,
          optional ``recognition_method``, ``quantity``, ``price`` for ``separate``);
        - ``consideration``: change of the transaction price (``prospective``, ``catch_up``);
          for ``separate`` the new contract's price is the sum of the added ``price`` (default
          their SSP);
        - ``update``: ``{obligation id: {"end_date": ...}}`` (``prospective``);
        - ``obligation_id`` and ``end_date`` (``catch_up``).

        ``separate`` creates and activates a new contract and returns it; ``prospective``
        allocates the remaining consideration (price + change - revenue of the satisfied part)
        over the remaining goods by relative SSP from ``date``; ``catch_up`` re-plans the single
        obligation on its new terms and books the cumulative difference with the revenue of the
        periods already posted on ``date``. Returns the contract holding the change.
        """
        self.ensure_one()
        day = self._q2c_parse_date(date, "date")
        if self.state != "active":
            raise UserError(
                _(
                    "Contract %(contract)s is not active: only active contracts are modified "
                    "(change a draft contract directly).",
                    contract=self.name,
                )
            )
        method = {
            "separate": self._q2c_modify_separate,
            "prospective": self._q2c_modify_prospective,
            "catch_up": self._q2c_modify_catch_up,
        }.get(kind)
        if not method:
            raise UserError(
                _(
                    "kind: %(kind)r is not a contract modification (separate, prospective, "
                    "catch_up).",
                    kind=kind,
                )
            )
        return method(changes or {}, day)

    # ------------------------------------------------------------------
    # The three kinds
    # ------------------------------------------------------------------

    def _q2c_modify_separate(self, changes, day):
        added = changes.get("add") or []
        if not added or set(changes) - {"add"}:
            raise UserError(
                _(
                    "Contract %(contract)s: a separate contract only adds distinct goods "
                    "(changes 'add'), priced at their standalone selling price.",
                    contract=self.name,
                )
            )
        obligations, price = [], 0.0
        for vals in added:
            vals = dict(vals)
            price += vals.pop("price", vals.get("ssp", 0.0))
            vals.setdefault("start_date", day)
            obligations.append(Command.create(vals))
        contract = self.create(
            {
                "partner_id": self.partner_id.id,
                "company_id": self.company_id.id,
                "currency_id": self.currency_id.id,
                "date": day,
                "transaction_price": self.currency_id.round(price),
                "obligation_ids": obligations,
            }
        )
        contract._allocate()
        contract._action_activate()
        self._q2c_log_modification(
            _(
                "Modification of %(date)s: distinct goods added at their standalone selling "
                "price, accounted for as the separate contract %(new)s.",
                date=day,
                new=contract.name,
            )
        )
        contract._q2c_log_modification(
            _("Separate contract from the modification of %(contract)s.", contract=self.name)
        )
        return contract

    def _q2c_modify_prospective(self, changes, day):
        currency = self.currency_id
        rounding = currency.rounding
        updates = changes.get("update") or {}
        delta = changes.get("consideration", 0.0)
        if set(updates) - set(self.obligation_ids.ids):
            raise UserError(
                _(
                    "Contract %(contract)s: 'update' names obligations of another contract.",
                    contract=self.name,
                )
            )
        new_obligations = self.env["q2c.performance.obligation"]
        if changes.get("add"):
            new_obligations = new_obligations.create(
                [{"contract_id": self.id, "start_date": day, **vals} for vals in changes["add"]]
            )
        existing = self.obligation_ids - new_obligations
        # Satisfied part (old terms, before ``day``) and remaining SSP of each obligation.
        plan = {}
        for obligation in existing.sorted("sequence"):
            new_end = updates.get(obligation.id, {}).get("end_date")
            new_end = fields.Date.to_date(new_end) if new_end else obligation.end_date
            satisfied, remaining_ssp = obligation._q2c_split_at(day, new_end)
            plan[obligation] = (satisfied, remaining_ssp, new_end)
        for obligation in new_obligations:
            plan[obligation] = (0, tools.to_fraction(obligation.ssp), obligation.end_date)
        satisfied_units = sum(units for units, _ssp, _end in plan.values())
        total_units = tools.to_units(self.transaction_price + delta, rounding)
        remaining_units = total_units - satisfied_units
        remaining = [(o, values) for o, values in plan.items() if values[1] > 0]
        if remaining_units and not remaining:
            raise UserError(
                _(
                    "Contract %(contract)s: no goods remain after %(date)s to take the remaining "
                    "consideration; use a cumulative catch-up.",
                    contract=self.name,
                    date=day,
                )
            )
        shares = (
            tools.largest_remainder(remaining_units, [values[1] for _o, values in remaining])
            if remaining
            else []
        )
        share_of = {o: units for (o, _values), units in zip(remaining, shares, strict=True)}
        for obligation, (satisfied, _ssp, new_end) in plan.items():
            share = share_of.get(obligation, 0)
            target = obligation._q2c_prospective_target(day, satisfied, share, new_end)
            obligation.write(
                {
                    "allocated_amount": tools.from_units(satisfied + share, rounding),
                    "end_date": new_end,
                }
            )
            obligation._q2c_replan(target, day)
        self.transaction_price = tools.from_units(total_units, rounding)
        self._q2c_log_modification(
            _(
                "Modification of %(date)s accounted for prospectively: remaining consideration "
                "%(remaining)s allocated over the remaining goods.",
                date=day,
                remaining=tools.from_units(remaining_units, rounding),
            )
        )
        return self

    def _q2c_modify_catch_up(self, changes, day):
        obligation = self.obligation_ids.browse(changes.get("obligation_id") or [])
        if not obligation and len(self.obligation_ids) == 1:
            obligation = self.obligation_ids
        if len(obligation) != 1 or obligation.contract_id != self or len(self.obligation_ids) > 1:
            raise UserError(
                _(
                    "Contract %(contract)s: a cumulative catch-up applies to a contract with a "
                    "single partly satisfied obligation (use a prospective modification).",
                    contract=self.name,
                )
            )
        delta = changes.get("consideration", 0.0)
        vals = {"allocated_amount": self.currency_id.round(obligation.allocated_amount + delta)}
        if changes.get("end_date"):
            vals["end_date"] = changes["end_date"]
        obligation.write(vals)
        obligation._check_schedule_inputs()
        obligation._q2c_replan(obligation._prepare_schedule_line_vals_list(), day)
        self.transaction_price = self.currency_id.round(self.transaction_price + delta)
        self._q2c_log_modification(
            _(
                "Modification of %(date)s accounted for by a cumulative catch-up on "
                "%(obligation)s.",
                date=day,
                obligation=obligation.name,
            )
        )
        return self

    def _q2c_cancel(self, day, credit=0.0):
        """Cancellation of the active contract after ``day`` (its last day of service): a
        prospective modification with no remaining goods.

        Each obligation keeps what is satisfied up to ``day`` under its current terms (posted
        or planned); its schedule after ``day`` is removed. The consideration becomes what the
        entity stays entitled to: the satisfied part, or the amount billed net of ``credit``
        (the refund or credit of the unused days, negative) when more was billed and is kept;
        that excess is recognized in the period of ``day``. Revenue already posted is reversed
        only for periods after ``day`` (a close dated in the past), as a catch-up. Usage
        obligations keep their schedule."""
        self.ensure_one()
        currency = self.currency_id
        rounding = currency.rounding
        effective = day + timedelta(days=1)
        obligations = self.obligation_ids.sorted("sequence")
        satisfied = {}
        for obligation in obligations:
            if obligation.recognition_method == "usage":
                satisfied[obligation] = obligation._q2c_units()
            else:
                satisfied[obligation] = obligation._q2c_split_at(effective, day)[0]
        satisfied_units = sum(satisfied.values())
        billed = self._q2c_billed_by_contract().get(self.id, 0.0)
        billed_units = tools.to_units(billed + credit, rounding)
        price_units = tools.to_units(self.transaction_price, rounding)
        entitled = max(satisfied_units, min(billed_units, price_units))
        excess = entitled - satisfied_units
        shares = {}
        ratable = [o for o in obligations if o.recognition_method != "usage"]
        if excess and ratable:
            weights = [max(o._q2c_units() - satisfied[o], 0) for o in ratable]
            if not sum(weights):
                weights = [max(o._q2c_units(), 0) for o in ratable]
            if not sum(weights):
                weights = [1] * len(ratable)
            shares = dict(zip(ratable, tools.largest_remainder(excess, weights), strict=True))
        last_period = tools.month_end(day)
        for obligation in ratable:
            share = shares.get(obligation, 0)
            # Goods not delivered by ``day`` have nothing satisfied: an empty target.
            target = obligation._q2c_prospective_target(effective, satisfied[obligation], 0, day)
            if share:
                target.append(
                    {
                        "date": last_period,
                        "service_date_from": day,
                        "service_date_to": day,
                        "amount": tools.from_units(share, rounding),
                    }
                )
            vals = {"allocated_amount": tools.from_units(satisfied[obligation] + share, rounding)}
            if (
                obligation.recognition_method in ("ratable_daily", "ratable_monthly")
                and obligation.start_date
                and obligation.end_date
                and obligation.start_date <= day < obligation.end_date
            ):
                vals["end_date"] = day
            obligation.write(vals)
            obligation._q2c_replan(target, effective)
        self.transaction_price = tools.from_units(entitled, rounding)
        self._q2c_log_modification(
            _(
                "Cancelled after %(date)s: the schedule after that day is removed; transaction "
                "price %(price)s (satisfied %(satisfied)s, kept from billing %(kept)s).",
                date=day,
                price=self.transaction_price,
                satisfied=tools.from_units(satisfied_units, rounding),
                kept=tools.from_units(excess, rounding),
            )
        )
        return self

    def _q2c_log_modification(self, body):
        self.ensure_one()
        self.message_post(
            body=Markup("<p>%s</p>") % body, message_type="comment", subtype_xmlid="mail.mt_note"
        )


class Q2cPerformanceObligation(models.Model):
    _inherit = "q2c.performance.obligation"

    def _q2c_weights(self, start, end):
        segments = tools.month_segments(start, end)
        if self.recognition_method == "ratable_monthly":
            weights = [
                Fraction(tools.days_inclusive(first, last), tools.month_end(first).day)
                for first, last in segments
            ]
        else:
            weights = [tools.days_inclusive(first, last) for first, last in segments]
        return segments, weights

    def _q2c_current_parts(self, segments, weights):
        """Units of the current revenue schedule (planned and posted) in each month of
        ``segments`` (the obligation's term), or ``None`` while it is the even spread of the
        allocated amount (no modification replanned it yet) or there is no schedule."""
        self.ensure_one()
        rounding = self.currency_id.rounding
        scheduled = defaultdict(int)
        for line in self.schedule_line_ids.filtered(lambda line: line.line_type == "revenue"):
            scheduled[tools.month_end(line.date)] += tools.to_units(line.amount, rounding)
        if not scheduled:
            return None
        parts = [scheduled.get(tools.month_end(first), 0) for first, _last in segments]
        if parts == tools.cumulative_split(self._q2c_units(), weights):
            return None
        return parts

    def _q2c_split_at(self, day, new_end):
        """(units of allocated revenue satisfied before ``day`` under the current terms,
        exact SSP of the goods remaining from ``day`` to ``new_end``). Once a modification
        replanned the obligation (a second amendment, a renewal after a renewal), the current
        terms are its schedule: the months before ``day`` as scheduled, the month of ``day``
        pro rata."""
        self.ensure_one()
        units = self._q2c_units()
        ssp = tools.to_fraction(self.ssp)
        method = self.recognition_method
        if method == "point_in_time":
            delivered = (self.start_date or self.contract_id.date) < day
            return (units, Fraction(0)) if delivered else (0, ssp)
        if method == "usage" or not (self.start_date and self.end_date):
            return units, Fraction(0)
        segments, weights = self._q2c_weights(self.start_date, self.end_date)
        total = sum(weights)
        before_weights = (
            self._q2c_weights(self.start_date, day - timedelta(days=1))[1]
            if day > self.start_date
            else []
        )
        before = min(sum(before_weights), total)
        parts = self._q2c_current_parts(segments, weights)
        if parts is None:
            satisfied = tools.round_half_up(Fraction(units) * before / total) if total else units
        else:
            satisfied = Fraction(0)
            for part, weight, done in zip(parts, weights, before_weights, strict=False):
                satisfied += part if done >= weight else Fraction(part) * Fraction(done) / weight
            # Periods booked outside the term (a catch-up after its end) count once it is over.
            if day > self.end_date:
                satisfied = units
            satisfied = tools.round_half_up(satisfied)
        remaining_weight = (
            sum(self._q2c_weights(max(day, self.start_date), new_end)[1])
            if new_end and new_end >= max(day, self.start_date)
            else 0
        )
        return satisfied, (ssp * remaining_weight / total if total else Fraction(0))

    def _q2c_prospective_target(self, day, satisfied_units, share_units, new_end):
        """Schedule of the modified obligation: the satisfied part on its current schedule up to
        ``day`` - 1, then ``share_units`` over ``day`` .. ``new_end`` by its method."""
        self.ensure_one()
        rounding = self.currency_id.rounding
        method = self.recognition_method
        if method in ("point_in_time", "usage") or not self.start_date:
            when = self.start_date or day
            return [
                {
                    "date": when,
                    "service_date_from": when,
                    "service_date_to": when,
                    "amount": tools.from_units(satisfied_units + share_units, rounding),
                }
            ]
        periods = []
        if day > self.start_date:
            segments, weights = self._q2c_weights(
                self.start_date, min(day - timedelta(days=1), self.end_date)
            )
            # The old schedule's amounts up to ``day``: months fully before it keep their
            # amounts, the month of ``day`` takes the rest of the satisfied part.
            all_segments, all_weights = self._q2c_weights(self.start_date, self.end_date)
            old = self._q2c_current_parts(all_segments, all_weights)
            if old is None:
                old = tools.cumulative_split(self._q2c_units(), all_weights)
            parts = old[: len(segments)]
            parts[-1] = satisfied_units - sum(parts[:-1])
            periods += self._q2c_period_vals(segments, parts)
        start = max(day, self.start_date)
        if share_units and new_end and new_end >= start:
            segments, weights = self._q2c_weights(start, new_end)
            periods += self._q2c_period_vals(segments, tools.cumulative_split(share_units, weights))
        return periods

    def _q2c_period_vals(self, segments, parts):
        rounding = self.currency_id.rounding
        return [
            {
                "date": tools.month_end(first),
                "service_date_from": first,
                "service_date_to": last,
                "amount": tools.from_units(units, rounding),
            }
            for (first, last), units in zip(segments, parts, strict=True)
        ]

    def _q2c_replan(self, target, day):
        """Replace the planned schedule by ``target`` (period values); what ``target`` gives to
        periods already posted is booked as a cumulative catch-up on ``day`` (or the next
        planned period when ``day`` itself is posted)."""
        self.ensure_one()
        Line = self.env["q2c.revenue.schedule.line"]
        rounding = self.currency_id.rounding
        lines = self.schedule_line_ids.filtered(lambda line: line.line_type == "revenue")
        posted = defaultdict(int)
        for line in lines.filtered(lambda line: line.state == "posted"):
            posted[line.date] += tools.to_units(line.amount, rounding)
        wanted, info = defaultdict(int), {}
        for period in target:
            wanted[period["date"]] += tools.to_units(period["amount"], rounding)
            first, last = period.get("service_date_from"), period.get("service_date_to")
            if period["date"] in info:
                first = min(first, info[period["date"]][0])
                last = max(last, info[period["date"]][1])
            info[period["date"]] = (first, last)
        carry = sum(wanted.get(d, 0) - units for d, units in posted.items())
        planned = {d: units for d, units in wanted.items() if d not in posted}
        if carry:
            when = day
            if when in posted:
                later = sorted(d for d in planned if d > day)
                when = later[0] if later else day + timedelta(days=1)
            planned[when] = planned.get(when, 0) + carry
            info.setdefault(when, (when, when))
        lines.filtered(lambda line: line.state == "planned").unlink()
        Line.create(
            [
                {
                    "obligation_id": self.id,
                    "date": when,
                    "service_date_from": info[when][0],
                    "service_date_to": info[when][1],
                    "amount": tools.from_units(units, rounding),
                }
                for when, units in sorted(planned.items())
                if units
            ]
        )
