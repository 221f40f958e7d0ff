from collections import defaultdict
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

ONE_DAY = timedelta(days=1)
MOVEMENT_TYPES = [
    ("new_business", "New Business"),
    ("expansion", "Expansion"),
    ("contraction", "Contraction"),
    ("churn", "Churn"),
    ("reactivation", "Reactivation"),
]


class Q2cMrrMovement(models.Model):
    """A change of a customer's MRR on the day it takes effect (CONVENTIONS.md, Metrics).

    Movements are derived from the subscriptions' history (lifecycle, amendments, line dates,
    discount end dates) and can be rebuilt from scratch at any time
    (``_q2c_rebuild``): one movement per customer and day, all its subscriptions together,
    in the company currency at the rate of that day. The MRR of a customer on a day is the sum
    of its movements up to that day, so the bridge (start + movements = end) always holds.
    """

    _name = "q2c.mrr.movement"
    _description = "MRR Movement"
    _order = "date desc, id desc"
    _rec_name = "partner_id"

    date = fields.Date(required=True, index=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    currency_id = fields.Many2one(related="company_id.currency_id", string="Currency")
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, index=True, readonly=True
    )
    subscription_id = fields.Many2one(
        "q2c.subscription",
        readonly=True,
        ondelete="cascade",
        index=True,
        help="The subscription whose change moved the MRR (the largest one on that day).",
    )
    product_id = fields.Many2one(
        "product.product", readonly=True, help="Main product of the change."
    )
    price_plan_id = fields.Many2one(
        "q2c.price.plan", string="Price Plan", readonly=True, help="Plan of the main product."
    )
    user_id = fields.Many2one("res.users", string="Salesperson", readonly=True)
    country_id = fields.Many2one("res.country", readonly=True)
    type = fields.Selection(MOVEMENT_TYPES, required=True, readonly=True, index=True)
    mrr_delta = fields.Monetary(string="MRR Change", readonly=True)
    mrr_before = fields.Monetary(string="Customer MRR Before", readonly=True)
    mrr_after = fields.Monetary(string="Customer MRR After", readonly=True)
    arr_delta = fields.Monetary(string="ARR Change", readonly=True)

    # ------------------------------------------------------------------
    # Rebuild
    # ------------------------------------------------------------------

    @api.model
    def _q2c_rebuild(self, partners=None):
        """Recompute the movements of ``partners`` (commercial partners; all customers with a
        subscription when ``None``) from their subscriptions' history."""
        Subscription = self.env["q2c.subscription"].sudo().with_context(active_test=False)
        domain = [("state", "!=", "draft")]
        if partners is not None:
            partners = partners.commercial_partner_id
            if not partners:
                return 0
            domain.append(("partner_id.commercial_partner_id", "in", partners.ids))
        subscriptions = Subscription.search(domain)
        self.env.flush_all()
        if partners is None:
            self.env.cr.execute(SQL("DELETE FROM %s", SQL.identifier(self._table)))
        else:
            self.env.cr.execute(
                SQL(
                    "DELETE FROM %s WHERE partner_id = ANY(%s)",
                    SQL.identifier(self._table),
                    partners.ids,
                )
            )
        vals_list = self._q2c_movements_vals(subscriptions)
        self._q2c_insert(vals_list)
        self.invalidate_model()
        self.env["q2c.mrr.report"]._q2c_refresh(None if partners is None else partners.ids)
        return len(vals_list)

    COLUMNS = (
        "date",
        "company_id",
        "partner_id",
        "subscription_id",
        "product_id",
        "price_plan_id",
        "user_id",
        "country_id",
        "type",
        "mrr_delta",
        "mrr_before",
        "mrr_after",
        "arr_delta",
    )

    @api.model
    def _q2c_insert(self, vals_list, batch_size=5000):
        """Insert derived movement rows in multi-row INSERTs (no ORM create: they are
        recomputable data, written in bulk by the rebuild)."""
        uid = self.env.uid
        columns = SQL(", ").join(SQL.identifier(c) for c in self.COLUMNS)
        for start in range(0, len(vals_list), batch_size):
            rows = SQL(", ").join(
                SQL(
                    "(%s, %s, %s, now() at time zone 'UTC', now() at time zone 'UTC')",
                    SQL(", ").join(SQL("%s", vals[c] or None) for c in self.COLUMNS),
                    uid,
                    uid,
                )
                for vals in vals_list[start : start + batch_size]
            )
            self.env.cr.execute(
                SQL(
                    "INSERT INTO %s (%s, create_uid, write_uid, create_date, write_date) VALUES %s",
                    SQL.identifier(self._table),
                    columns,
                    rows,
                )
            )

    @api.model
    def _q2c_movements_vals(self, subscriptions):
        """Movements of the customers of ``subscriptions``: per subscription its MRR steps
        (subscription currency, converted at the day's rate), then per customer and company the
        steps netted by day and classified."""
        steps = subscriptions._q2c_mrr_steps()
        by_customer = defaultdict(lambda: defaultdict(list))
        for sub, day, delta in steps:
            key = (sub.partner_id.commercial_partner_id, sub.company_id)
            by_customer[key][day].append((sub, delta))
        vals_list = []
        for (partner, company), days in by_customer.items():
            currency = company.currency_id
            mrr = 0.0
            ever_paid = False
            for day in sorted(days):
                items = days[day]
                delta = 0.0
                for sub, sub_delta in items:
                    delta += sub.currency_id._convert(
                        sub_delta, currency, company, day, round=False
                    )
                delta = currency.round(delta)
                if currency.is_zero(delta):
                    continue
                before, after = mrr, currency.round(mrr + delta)
                movement_type = self._q2c_classify(before, after, ever_paid, currency)
                ever_paid = ever_paid or currency.compare_amounts(after, 0.0) > 0
                mrr = after
                sub = max(items, key=lambda item: abs(item[1]))[0]
                main_line = sub._q2c_main_line()
                vals_list.append(
                    {
                        "date": day,
                        "company_id": company.id,
                        "partner_id": partner.id,
                        "subscription_id": sub.id,
                        "product_id": main_line.product_id.id,
                        "price_plan_id": main_line.price_plan_id.id,
                        "user_id": sub.user_id.id,
                        "country_id": partner.country_id.id,
                        "type": movement_type,
                        "mrr_delta": delta,
                        "mrr_before": before,
                        "mrr_after": after,
                        "arr_delta": currency.round(12 * delta),
                    }
                )
        return vals_list

    @api.model
    def _q2c_classify(self, before, after, ever_paid, currency):
        if currency.is_zero(before):
            return "reactivation" if ever_paid else "new_business"
        if currency.is_zero(after) or currency.compare_amounts(after, 0.0) < 0:
            return "churn"
        return "expansion" if currency.compare_amounts(after, before) > 0 else "contraction"

    @api.model
    def _cron_rebuild(self):
        """Nightly: rebuild every customer's movements (edits made outside amendments, such as a
        line edited directly, and discounts that expired are caught here)."""
        self._q2c_rebuild()

    # ------------------------------------------------------------------
    # Reading
    # ------------------------------------------------------------------

    @api.model
    def _q2c_check_window(self, date_from, date_to):
        Subscription = self.env["q2c.subscription"]
        day_from = Subscription._q2c_to_date(date_from, "date_from", required=True)
        day_to = Subscription._q2c_to_date(date_to, "date_to", required=True)
        if day_from > day_to:
            raise ValidationError(
                _(
                    "date_from (%(from)s) is after date_to (%(to)s).",
                    **{"from": day_from, "to": day_to},
                )
            )
        return day_from, day_to

    @api.model
    def _q2c_saas_metrics(self, day_from, day_to, currency=None):
        companies = self.env.companies
        company = self.env.company
        company_currency = company.currency_id
        if len(companies.currency_id) > 1:
            companies = company
        self.flush_model()
        self.env.cr.execute(
            SQL(
                """
            WITH per_customer AS (
                SELECT partner_id,
                       SUM(mrr_delta) FILTER (WHERE date < %(day_from)s) AS mrr_start,
                       SUM(mrr_delta) AS mrr_end
                  FROM q2c_mrr_movement
                 WHERE company_id = ANY(%(companies)s) AND date <= %(day_to)s
                 GROUP BY partner_id
            )
            SELECT COALESCE(SUM(mrr_start) FILTER (WHERE mrr_start > 0), 0),
                   COUNT(*) FILTER (WHERE mrr_start > 0),
                   COALESCE(SUM(mrr_end) FILTER (WHERE mrr_end > 0), 0),
                   COUNT(*) FILTER (WHERE mrr_end > 0)
              FROM per_customer
            """,
                day_from=day_from,
                day_to=day_to,
                companies=companies.ids,
            )
        )
        start_mrr, customers_start, end_mrr, customers_end = self.env.cr.fetchone()
        start_mrr, end_mrr = float(start_mrr), float(end_mrr)
        self.env.cr.execute(
            SQL(
                """
            SELECT type, SUM(mrr_delta), COUNT(*)
              FROM q2c_mrr_movement
             WHERE company_id = ANY(%(companies)s) AND date >= %(day_from)s
               AND date <= %(day_to)s
             GROUP BY type
            """,
                day_from=day_from,
                day_to=day_to,
                companies=companies.ids,
            )
        )
        totals, counts = {}, {}
        for movement_type, total, count in self.env.cr.fetchall():
            totals[movement_type], counts[movement_type] = float(total), count
        churned = counts.get("churn", 0)
        target = currency or company_currency

        def money(amount):
            if target != company_currency:
                amount = company_currency._convert(amount, target, company, day_to, round=False)
            return target.round(amount)

        mrr_start, mrr_end = money(start_mrr), money(end_mrr)
        new = money(totals.get("new_business", 0.0))
        expansion = money(totals.get("expansion", 0.0))
        reactivation = money(totals.get("reactivation", 0.0))
        contraction = money(-totals.get("contraction", 0.0))
        churn = money(-totals.get("churn", 0.0))

        def pct(numerator, denominator):
            return round(100.0 * numerator / denominator, 4) if denominator else 0.0

        user_churn = pct(churned, customers_start)
        arpa = target.round(mrr_end / customers_end) if customers_end else 0.0
        lost = churn + contraction
        return {
            "mrr_start": mrr_start,
            "mrr_end": mrr_end,
            "new": new,
            "expansion": expansion,
            "contraction": contraction,
            "churn": churn,
            "reactivation": reactivation,
            "customers_start": customers_start,
            "customers_end": customers_end,
            "customers_churned": churned,
            "user_churn_pct": user_churn,
            "revenue_churn_pct": pct(lost, mrr_start),
            "net_revenue_churn_pct": pct(lost - expansion, mrr_start),
            "quick_ratio": round((new + expansion + reactivation) / lost, 4) if lost else 0.0,
            "arpa": arpa,
            "ltv": target.round(arpa / (user_churn / 100.0)) if user_churn else 0.0,
            "currency": target.name,
        }

    @api.model
    def _q2c_currency_from_arg(self, currency):
        if not currency:
            return None
        Currency = self.env["res.currency"].with_context(active_test=False)
        if isinstance(currency, int) and not isinstance(currency, bool):
            record = Currency.browse(currency).exists()
        elif isinstance(currency, str):
            record = Currency.search([("name", "=", currency.upper())], limit=1)
        else:
            record = Currency
        if not record:
            raise UserError(_("Unknown currency %(currency)r (currency).", currency=currency))
        return record
