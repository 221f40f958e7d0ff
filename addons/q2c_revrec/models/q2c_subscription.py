from dateutil.relativedelta import relativedelta

from odoo import Command, _, api, fields, models

from odoo.addons.q2c_billing.tools import period as periods

EVERGREEN_TERM_MONTHS = 12


class Q2cSubscription(models.Model):
    _inherit = "q2c.subscription"

    q2c_revenue_contract_ids = fields.One2many(
        "q2c.revenue.contract", "subscription_id", string="Revenue Contracts", readonly=True
    )

    def action_activate(self):
        res = super().action_activate()
        # sudo: the write access to the subscriptions is checked by super(); the revenue
        # contract follows the subscription whatever the user's revenue recognition rights.
        self.sudo()._q2c_sync_revenue_contract()
        return res

    def write(self, vals):
        """A later end date on a running subscription is a renewal (automatic renewal by the
        billing run, a renewal quote, an extension by hand): its revenue follows it (see
        ``_q2c_follow_renewal``)."""
        if "end_date" not in vals:
            return super().write(vals)
        before = {sub.id: sub.end_date for sub in self}
        result = super().write(vals)
        for sub in self:
            old_end = before[sub.id]
            if (
                old_end
                and sub.end_date
                and sub.end_date > old_end
                and sub.state in ("trial", "active", "paused")
            ):
                # sudo: the write access to the subscription is checked by super().
                for term_start, term_end in sub._q2c_renewal_terms(old_end, sub.end_date):
                    sub.sudo()._q2c_follow_renewal(term_start, term_end)
        return result

    def _q2c_renewal_terms(self, old_end, new_end):
        """The renewal terms of an end date moved from ``old_end`` to ``new_end``, as
        ``[(old end of the term before, end of the term)]``: one per renewal term when the
        extension is a whole number of them (a billing run catching up a late subscription
        renews several terms at once, each at its own uplifted prices), else the extension as
        one term (a renewal quote or an extension by hand)."""
        self.ensure_one()
        months = self.renewal_term_months
        if months <= 0:
            return [(old_end, new_end)]
        terms, end = [], old_end
        while end < new_end:
            next_end = periods.next_term_end(end, months)
            terms.append((end, next_end))
            end = next_end
        return terms if end == new_end else [(old_end, new_end)]

    def _q2c_uplift_data(self):
        """The renewal uplifts of the subscription's lines in the shape of the billing data
        that ``_q2c_line_state`` reads (one query): the price multiplier of a line on a day is
        the old multiplier of the first uplift effective after it. Uplifts only: they change
        the multiplier and nothing else, so that the multiplier of a day over the current one
        scales the line's current recurring amount back to that day's prices."""
        self.ensure_one()
        data = {"changes_by_line": {}, "pending": {}}
        uplifts = (
            self.env["q2c.subscription.change"]
            .sudo()
            .search(
                [
                    ("subscription_id", "=", self.id),
                    ("line_id", "!=", False),
                    ("change_type", "=", "uplift"),
                ],
                order="effective_date, id",
            )
        )
        for change in uplifts:
            data["changes_by_line"].setdefault(change.line_id.id, []).append(change)
        return data

    def _q2c_close(self, day, reason):
        """A close before the end of the term modifies the revenue contract (see
        ``_q2c_follow_close``), each subscription's with its own credits."""
        changes = super()._q2c_close(day, reason)
        # sudo: action_close checked the write access to the subscription.
        subs = self.sudo()
        # Only the subscriptions with a revenue contract have one to follow the close.
        with_contracts = subs._q2c_contracts_of_subscriptions(subs.ids)
        for sub in subs.filtered(lambda sub: sub.id in with_contracts):
            sub._q2c_follow_close(
                day, changes.filtered(lambda change, sub=sub: change.subscription_id == sub)
            )
        return changes

    def apply_change(self, changes, effective_date):
        """Amendments modify the term's revenue contract prospectively (see
        ``_q2c_follow_change``)."""
        result = super().apply_change(changes, effective_date)
        # sudo: super() checked the write access to the subscription.
        self.sudo()._q2c_follow_change(changes, effective_date, result)
        return result

    def _q2c_follow_change(self, changes, effective_date, result):
        """Prospective modification of the active revenue contract of the subscription: the
        recurring amount changes by ``mrr_delta`` a month from ``effective_date`` to the end of
        the term, and added products become new obligations (SSP: their monthly amount over the
        rest of the term). One contract per subscription, so its invoices keep billing it."""
        self.ensure_one()
        Contract = self.env["q2c.revenue.contract"]
        day = Contract._q2c_parse_date(effective_date, "effective_date")
        contract = self._q2c_active_contract(day)
        ends = contract.obligation_ids.filtered(
            lambda o: o.recognition_method in ("ratable_daily", "ratable_monthly")
        ).mapped("end_date")
        term_end = max(ends) if ends else False
        if not contract or not term_end or day > term_end:
            return
        months = self._q2c_term_months(day, term_end)
        currency = self.currency_id
        delta = currency.round((result or {}).get("mrr_delta", 0.0) * months)
        added = []
        for change in changes or []:
            if change.get("line_id") or not change.get("quantity"):
                continue
            product = self.env["product.product"].browse(change["product_id"])
            line = self.line_ids.filtered(lambda line, p=product: line.product_id == p)[-1:]
            ssp = currency.round(line.mrr * months) if line else 0.0
            template = product.product_tmpl_id
            added.append(
                {
                    "product_id": product.id,
                    "ssp": ssp or abs(delta),
                    "start_date": day,
                    "end_date": term_end,
                    "recognition_method": template._q2c_get_recognition_method() or "ratable_daily",
                }
            )
        if not delta and not added:
            return
        contract._q2c_modify({"consideration": delta, "add": added}, day, "prospective")

    def _q2c_follow_renewal(self, old_end, new_end):
        """Revenue of the renewal term from ``old_end`` + 1 day to ``new_end``, per the
        company's policy: a separate contract for the term (its invoice lines bill it), or a
        prospective modification of the contract of the ending term (the obligations that
        continue are extended, new products added, the term's consideration with its uplift
        added to the transaction price). The write of the end date calls it once per renewal
        term (see ``_q2c_renewal_terms``)."""
        self.ensure_one()
        contract = self._q2c_active_contract(old_end)
        start = old_end + relativedelta(days=1)
        if not contract:
            return
        obligations = self._prepare_q2c_obligation_vals_list(start, new_end)
        if not obligations:
            return
        price = self.currency_id.round(sum(o["price_unit"] for o in obligations))
        if self.company_id.q2c_revrec_renewal_policy == "prospective":
            self._q2c_extend_contract(contract, obligations, price, start, new_end)
            body = _(
                "Renewal from %(start)s to %(end)s: revenue contract %(contract)s extended "
                "prospectively by %(price)s.",
                start=start,
                end=new_end,
                contract=contract.name,
                price=price,
            )
        else:
            renewal = self.env["q2c.revenue.contract"].create(
                self._prepare_q2c_revenue_contract_vals(obligations, start)
            )
            renewal._allocate()
            renewal._action_activate()
            self._q2c_link_billed_lines(renewal, service_from=start)
            renewal._q2c_log_modification(
                _(
                    "Renewal of %(sub)s from %(start)s to %(end)s, separate from contract "
                    "%(contract)s.",
                    sub=self.name,
                    start=start,
                    end=new_end,
                    contract=contract.name,
                )
            )
            body = _(
                "Renewal from %(start)s to %(end)s: revenue contract %(renewal)s (%(price)s).",
                start=start,
                end=new_end,
                renewal=renewal.name,
                price=price,
            )
        self.message_post(body=body, message_type="comment", subtype_xmlid="mail.mt_note")

    def _q2c_extend_contract(self, contract, obligations, price, start, end):
        """Prospective modification of ``contract`` on ``start``: ratable obligations ending
        with the term and whose product continues run until ``end``; the other renewed lines
        are added; the consideration grows by ``price``."""
        updates, added = {}, []
        ongoing = contract.obligation_ids.filtered(
            lambda o: (
                o.recognition_method in ("ratable_daily", "ratable_monthly")
                and o.end_date
                and o.end_date == start - relativedelta(days=1)
            )
        )
        for vals in obligations:
            match = ongoing.filtered(
                lambda o, vals=vals: (
                    o.product_id.id == vals["product_id"]
                    and o.id not in updates
                    and o.recognition_method == vals["recognition_method"]
                )
            )[:1]
            if match and vals["start_date"] == start:
                updates[match.id] = {"end_date": vals["end_date"]}
                continue
            added.append(
                {
                    key: vals[key]
                    for key in (
                        "product_id",
                        "name",
                        "ssp",
                        "recognition_method",
                        "start_date",
                        "end_date",
                    )
                }
            )
        contract._q2c_modify(
            {"consideration": price, "update": updates, "add": added}, start, "prospective"
        )

    def _q2c_follow_close(self, day, changes):
        """Cancellation on ``day`` (the last day of service): each active revenue contract of
        the subscription is cut at ``day`` (``_q2c_cancel``); the credit of the unused days
        (``changes``, billed on the final invoice) lowers the consideration of the contract in
        effect on ``day``."""
        self.ensure_one()
        entries = self._q2c_contracts_of_subscriptions(self.ids).get(self.id, [])
        current = self._q2c_active_contract(day)
        credit = sum(changes.mapped("proration_amount")) if changes else 0.0
        done = self.env["q2c.revenue.contract"]
        for _start, contract in entries:
            if contract in done or contract.state != "active":
                continue
            done |= contract
            contract._q2c_cancel(day, credit if contract == current else 0.0)

    def _q2c_prepare_move_line_vals(self, charge, cache):
        """Invoice lines of billing runs: products that defer revenue go to the deferred revenue
        account (contract liability), like the invoices made by hand; the line bills the
        subscription's revenue contract."""
        vals = super()._q2c_prepare_move_line_vals(charge, cache)
        product = self.env["product.product"].browse(vals.get("product_id"))
        if product.q2c_defer_revenue:
            key = ("q2c_deferred", product.id, self.fiscal_position_id.id, self.company_id.id)
            if key not in cache:
                deferred = product.product_tmpl_id.with_company(
                    self.company_id
                )._q2c_get_revrec_accounts()["deferred"]
                fiscal_position = self.fiscal_position_id
                if deferred and fiscal_position:
                    deferred = fiscal_position.map_account(deferred)
                cache[key] = deferred
            if cache[key]:
                vals["account_id"] = cache[key].id
        return vals

    # ------------------------------------------------------------------
    # Revenue contract of the subscription term
    # ------------------------------------------------------------------

    def _q2c_revenue_term(self):
        """First and last day of the term the revenue contract covers: the subscription's term
        after its free trial, or 12 months from then for an evergreen subscription."""
        self.ensure_one()
        start = self.start_date
        if start and self.trial_end_date and self.trial_end_date >= start:
            start = self.trial_end_date + relativedelta(days=1)
        end = self.end_date or (
            start + relativedelta(months=EVERGREEN_TERM_MONTHS, days=-1) if start else False
        )
        return start, end

    def _q2c_term_months(self, start, end):
        """Months from ``start`` to ``end`` (inclusive); a partial last month counts its days
        over the days of that month."""
        delta = relativedelta(end + relativedelta(days=1), start)
        months = delta.years * 12 + delta.months
        if delta.days:
            month_from = start + relativedelta(months=months)
            month_days = (start + relativedelta(months=months + 1) - month_from).days
            months += delta.days / month_days
        return months

    def _prepare_q2c_obligation_vals_list(self, start=None, end=None):
        """One obligation per recurring or one-time line: the consideration of the line over
        the term (monthly recurring amount x months the line runs in the term, or the one-time
        amount); its SSP is the same amount, so the price is allocated in proportion to the
        lines' prices. ``start`` and ``end``: a renewal term (default: the first term); a
        renewal term takes the recurring lines running in it (at the uplifted prices of the
        term's first day) and the one-time lines starting in it."""
        self.ensure_one()
        renewal = bool(start)
        if not renewal:
            start, end = self._q2c_revenue_term()
        currency = self.currency_id
        uplifts = self._q2c_uplift_data() if renewal else None
        vals_list = []
        for line in self.line_ids.sorted("sequence"):
            charge = line.price_plan_id.charge_type
            if charge not in ("recurring", "one_time"):
                continue
            template = line.product_id.product_tmpl_id
            if charge == "recurring":
                line_start, line_end = (
                    max(line.start_date or start, start),
                    min(line.end_date or end, end),
                )
                if line_start > line_end:
                    continue
                ratio = 1.0
                if renewal and line.price_multiplier:
                    # The prices of the term's first day: below the current ones when
                    # renewal uplifts recorded after it raised them since.
                    state = self._q2c_line_state(line, line_start, uplifts)
                    if state:
                        ratio = state["multiplier"] / line.price_multiplier
                monthly = line.mrr * ratio
                amount = currency.round(monthly * self._q2c_term_months(line_start, line_end))
                method = template._q2c_get_recognition_method() or "ratable_daily"
            else:
                if renewal and not (line.start_date and start <= line.start_date <= end):
                    continue
                amount = currency.round(line.period_amount)
                method = "point_in_time"
                line_start = line_end = line.start_date or start
            vals_list.append(
                {
                    "product_id": line.product_id.id,
                    "name": line.name or line.product_id.display_name,
                    "quantity": 1.0,
                    "price_unit": amount,
                    "ssp": amount,
                    "recognition_method": method,
                    "start_date": line_start,
                    "end_date": line_end,
                }
            )
        return vals_list

    def _prepare_q2c_revenue_contract_vals(self, obligations=None, date=None):
        self.ensure_one()
        if obligations is None:
            obligations = self._prepare_q2c_obligation_vals_list()
        return {
            "partner_id": self.partner_id.id,
            "company_id": self.company_id.id,
            "currency_id": self.currency_id.id,
            "date": date or self.start_date,
            "subscription_id": self.id,
            "sale_order_id": self.sale_order_id.id,
            "transaction_price": self.currency_id.round(sum(o["price_unit"] for o in obligations)),
            "obligation_ids": [Command.create(vals) for vals in obligations],
        }

    def _q2c_sync_revenue_contract(self):
        """Create the revenue contract of each started subscription (trial or active) that has
        none, or rebuild a draft one, then allocate and activate it. An active contract is
        left as is: later changes go through contract modifications."""
        Contract = self.env["q2c.revenue.contract"]
        for sub in self:
            if sub.state not in ("trial", "active"):
                continue
            contract = Contract.search([("subscription_id", "=", sub.id)], limit=1)
            if contract and contract.state != "draft":
                continue
            vals = sub._prepare_q2c_revenue_contract_vals()
            if not vals["obligation_ids"]:
                continue
            if contract:
                contract.obligation_ids.unlink()
                contract.write(vals)
            else:
                contract = Contract.create(vals)
            contract._allocate()
            contract._action_activate()
            sub._q2c_link_billed_lines(contract)
            sub.message_post(
                body=_(
                    "Revenue contract %(contract)s created for the term.", contract=contract.name
                ),
                message_type="comment",
                subtype_xmlid="mail.mt_note",
            )

    def _q2c_link_billed_lines(self, contract, service_from=None):
        """Invoice lines of the subscription billed before the contract existed now bill it:
        those without contract, or (``service_from``) those for the service from that day."""
        self.ensure_one()
        domain = [("q2c_subscription_id", "=", self.id), ("display_type", "=", "product")]
        if service_from:
            domain += [
                ("q2c_period_start", ">=", service_from),
                ("q2c_revenue_contract_id", "!=", contract.id),
            ]
        else:
            domain.append(("q2c_revenue_contract_id", "=", False))
        lines = self.env["account.move.line"].search(domain)
        if lines:
            lines.q2c_revenue_contract_id = contract

    @api.model
    def _q2c_contracts_of_subscriptions(self, subscription_ids):
        """``{subscription id: [(term start, contract), ...]}`` sorted by term start: the revenue
        contracts of each subscription (a combined contract stands for the one holding it)."""
        result = {}
        contracts = (
            self.env["q2c.revenue.contract"]
            .sudo()
            .search([("subscription_id", "in", list(subscription_ids))], order="date, id")
        )
        for contract in contracts:
            result.setdefault(contract.subscription_id.id, []).append(
                (contract.date, contract._q2c_final_contract())
            )
        return result

    @api.model
    def _q2c_pick_contract(self, entries, day=None):
        """The contract of ``entries`` (see ``_q2c_contracts_of_subscriptions``) in effect on
        ``day``: the last one starting on or before it (else the first); the latest without
        ``day``."""
        if not entries:
            return None
        if not day:
            return entries[-1][1]
        chosen = entries[0][1]
        for start, contract in entries:
            if start <= day:
                chosen = contract
        return chosen

    @api.model
    def _q2c_contract_of_subscriptions(self, subscription_ids):
        """``{subscription id: contract}``: the latest revenue contract of each subscription."""
        return {
            sub_id: self._q2c_pick_contract(entries)
            for sub_id, entries in self._q2c_contracts_of_subscriptions(subscription_ids).items()
        }

    def _q2c_active_contract(self, day):
        """The active revenue contract of this subscription in effect on ``day`` (or an empty
        recordset)."""
        self.ensure_one()
        entries = [
            entry
            for entry in self._q2c_contracts_of_subscriptions(self.ids).get(self.id, [])
            if entry[1].state == "active"
        ]
        return self._q2c_pick_contract(entries, day) or self.env["q2c.revenue.contract"]
