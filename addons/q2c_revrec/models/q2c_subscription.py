from dateutil.relativedelta import relativedelta

from odoo import Command, _, api, fields, models

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
        contract = Contract.search(
            [("subscription_id", "=", self.id), ("state", "=", "active")],
            order="date desc, id desc",
            limit=1,
        )
        day = Contract._q2c_parse_date(effective_date, "effective_date")
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

    def _prepare_q2c_obligation_vals_list(self):
        """One obligation per recurring or one-time line: the term's consideration of the line
        (monthly recurring amount x months of the term, or the one-time amount); its SSP is the
        same amount, so the price is allocated in proportion to the lines' prices."""
        self.ensure_one()
        start, end = self._q2c_revenue_term()
        months = self._q2c_term_months(start, end)
        currency = self.currency_id
        vals_list = []
        for line in self.line_ids.sorted("sequence"):
            charge = line.price_plan_id.charge_type
            if charge not in ("recurring", "one_time"):
                continue
            template = line.product_id.product_tmpl_id
            if charge == "recurring":
                amount = currency.round(line.mrr * months)
                method = template._q2c_get_recognition_method() or "ratable_daily"
                line_start, line_end = (
                    max(line.start_date or start, start),
                    min(line.end_date or end, end),
                )
            else:
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

    def _prepare_q2c_revenue_contract_vals(self):
        self.ensure_one()
        obligations = self._prepare_q2c_obligation_vals_list()
        return {
            "partner_id": self.partner_id.id,
            "company_id": self.company_id.id,
            "currency_id": self.currency_id.id,
            "date": self.start_date,
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

    def _q2c_link_billed_lines(self, contract):
        """Invoice lines of the subscription billed before the contract existed now bill it."""
        self.ensure_one()
        lines = self.env["account.move.line"].search(
            [
                ("q2c_subscription_id", "=", self.id),
                ("q2c_revenue_contract_id", "=", False),
                ("display_type", "=", "product"),
            ]
        )
        if lines:
            lines.q2c_revenue_contract_id = contract

    @api.model
    def _q2c_contract_of_subscriptions(self, subscription_ids):
        """``{subscription id: contract}``: the latest revenue contract of each subscription."""
        result = {}
        contracts = (
            self.env["q2c.revenue.contract"]
            .sudo()
            .search([("subscription_id", "in", list(subscription_ids))], order="date desc, id desc")
        )
        for contract in contracts:
            result.setdefault(contract.subscription_id.id, contract)
        return result
