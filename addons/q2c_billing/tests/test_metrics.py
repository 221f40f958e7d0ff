from datetime import date

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import Q2cSubscriptionCommon


@tagged("post_install", "-at_install")
class TestSaasMetrics(Q2cSubscriptionCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plan_silver = cls._q2c_plan(
            cls.product_seat, "per_unit", unit_price=30.0, name="Silver monthly", sequence=40
        )
        cls.plan_gold_monthly = cls._q2c_plan(
            cls.product_gold, "per_unit", unit_price=50.0, name="Gold monthly", sequence=40
        )
        cls.plan_unit = cls._q2c_plan(
            cls.product_untaxed, "per_unit", unit_price=1.0, name="1 USD a unit", sequence=50
        )
        cls.Subscription = cls.env["q2c.subscription"]

    def _movements(self, partner, date_from="2020-01-01", date_to="2030-12-31"):
        return [
            (m["date"], m["type"], m["mrr_delta"])
            for m in self.Subscription.mrr_movements(date_from, date_to)
            if m["partner_id"] == partner.id
        ]

    def test_billing_run_ends_trial_and_term(self):
        """A trial ended and a term expired by the billing run move the MRR like the same
        transitions made by hand: new business on the first paid day, churn the day after the
        term."""
        trial_customer = self.env["res.partner"].create({"name": "Trial ended by the run"})
        self._q2c_subscription(
            [(self.plan_seat, 3)],
            partner=trial_customer,
            start=date(2026, 1, 1),
            trial_end_date=date(2026, 1, 14),
        )
        term_customer = self.env["res.partner"].create({"name": "Term expired by the run"})
        term = self._q2c_subscription(
            [(self.plan_seat, 2)],
            partner=term_customer,
            start=date(2026, 1, 1),
            end_date=date(2026, 3, 31),
            auto_renew=False,
        )
        for day in ("2026-01-01", "2026-01-15", "2026-02-15", "2026-03-15", "2026-04-15"):
            self.env["q2c.billing.run"].run_billing(day)
        self.assertEqual(term.state, "closed")
        self.assertEqual(self._movements(trial_customer), [("2026-01-15", "new_business", 30.0)])
        self.assertEqual(
            self._movements(term_customer),
            [("2026-01-01", "new_business", 20.0), ("2026-04-01", "churn", -20.0)],
        )

    def test_chartmogul_lifecycle(self):
        """MRR-CM-01: new business, expansion, contraction (one of several subscriptions),
        churn at the end of the paid period, reactivation."""
        customer = self.env["res.partner"].create({"name": "Syncalytics"})
        gold = self._q2c_subscription(
            [(self.plan_gold_yearly, 4)], partner=customer, start=date(2026, 1, 1)
        )
        silver = self._q2c_subscription(
            [(self.plan_silver, 2)], partner=customer, start=date(2026, 2, 1)
        )
        silver.action_close("2026-03-14", "Too expensive")
        gold.action_close("2026-12-31", self.reason_price.id)
        self._q2c_subscription(
            [(self.plan_gold_monthly, 3)], partner=customer, start=date(2027, 3, 1)
        )
        self.assertEqual(
            self._movements(customer),
            [
                ("2026-01-01", "new_business", 166.67),
                ("2026-02-01", "expansion", 60.0),
                ("2026-03-15", "contraction", -60.0),
                ("2027-01-01", "churn", -166.67),
                ("2027-03-01", "reactivation", 150.0),
            ],
        )
        rows = self.Subscription.mrr_movements("2026-02-01", "2026-02-28")
        mine = [row for row in rows if row["partner_id"] == customer.id]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["subscription_id"], silver.id)
        self.assertEqual(mine[0]["currency"], "USD")
        # Breakdowns: each movement names the product and plan of the subscription that moved.
        expansion = self.env["q2c.mrr.movement"].search(
            [("partner_id", "=", customer.id), ("type", "=", "expansion")]
        )
        self.assertEqual(expansion.product_id, self.product_seat)
        self.assertEqual(expansion.price_plan_id, self.plan_silver)
        by_plan = self.env["q2c.mrr.movement"]._read_group(
            [("partner_id", "=", customer.id)], ["price_plan_id"], ["mrr_delta:sum"]
        )
        self.assertEqual(
            {plan.name: total for plan, total in by_plan},
            {"Silver monthly": 0.0, self.plan_gold_yearly.name: 0.0, "Gold monthly": 150.0},
        )

    def test_baremetrics_churn(self):
        """MRR-BM-01: user churn 20 %, revenue churn 20 %, MRR 500 -> 510 (a window inside
        the first billing period, where amendments are allowed without billing first)."""
        subs = {}
        for name, mrr in (("A", 100), ("B", 50), ("C", 200), ("D", 100), ("E", 50)):
            partner = self.env["res.partner"].create({"name": f"BM {name}"})
            subs[name] = self._q2c_subscription(
                [(self.plan_unit, mrr)], partner=partner, start=date(2026, 2, 10)
            )
        subs["B"].action_close("2026-02-20", "Too expensive")
        line_c, line_d = subs["C"].line_ids, subs["D"].line_ids
        subs["C"].apply_change([{"line_id": line_c.id, "quantity": 150}], "2026-02-25")
        subs["D"].apply_change([{"line_id": line_d.id, "quantity": 130}], "2026-02-26")
        partner_f = self.env["res.partner"].create({"name": "BM F"})
        self._q2c_subscription([(self.plan_unit, 80)], partner=partner_f, start=date(2026, 3, 1))

        metrics = self.Subscription.saas_metrics("2026-02-11", "2026-03-09")
        self.assertEqual(metrics["mrr_start"], 500.0)
        self.assertEqual(metrics["mrr_end"], 510.0)
        self.assertEqual(metrics["new"], 80.0)
        self.assertEqual(metrics["expansion"], 30.0)
        self.assertEqual(metrics["contraction"], 50.0)
        self.assertEqual(metrics["churn"], 50.0)
        self.assertEqual(metrics["reactivation"], 0.0)
        self.assertEqual((metrics["customers_start"], metrics["customers_end"]), (5, 5))
        self.assertEqual(metrics["customers_churned"], 1)
        self.assertEqual(metrics["user_churn_pct"], 20.0)
        self.assertEqual(metrics["revenue_churn_pct"], 20.0)
        self.assertEqual(metrics["net_revenue_churn_pct"], 14.0)
        self.assertEqual(metrics["quick_ratio"], 1.1)
        self.assertEqual(metrics["arpa"], 102.0)
        self.assertEqual(metrics["ltv"], 510.0)
        # The bridge reconciles: start + movements = end.
        bridge = (
            metrics["mrr_start"]
            + metrics["new"]
            + metrics["expansion"]
            + metrics["reactivation"]
            - metrics["contraction"]
            - metrics["churn"]
        )
        self.assertAlmostEqual(bridge, metrics["mrr_end"], places=2)

    def test_expiring_discount_is_expansion(self):
        customer = self.env["res.partner"].create({"name": "Discounted"})
        self._q2c_subscription(
            [(self.plan_platform, 1, {"discount": 20.0, "discount_end_date": date(2026, 3, 31)})],
            partner=customer,
            start=date(2026, 1, 1),
        )
        self.assertEqual(
            self._movements(customer),
            [("2026-01-01", "new_business", 80.0), ("2026-04-01", "expansion", 20.0)],
        )

    def test_pause_and_resume(self):
        """A paused subscription pays nothing: the customer churns on the pause date and
        reactivates on the resume date."""
        customer = self.env["res.partner"].create({"name": "Seasonal"})
        sub = self._q2c_subscription(
            [(self.plan_platform, 1)], partner=customer, start=date(2026, 1, 1)
        )
        sub.action_pause("2026-02-10")
        sub.action_resume("2026-03-01")
        self.assertEqual(
            self._movements(customer),
            [
                ("2026-01-01", "new_business", 100.0),
                ("2026-02-10", "churn", -100.0),
                ("2026-03-01", "reactivation", 100.0),
            ],
        )
        self.assertEqual(sub.state_log_ids.mapped("state"), ["active", "paused", "active"])

    def test_other_currency_at_the_rate_of_the_day(self):
        """A EUR subscription in a USD company: 90 EUR at 1 USD = 0.8 EUR is 112.50 USD."""
        customer = self.env["res.partner"].create({"name": "Kunde"})
        self._q2c_subscription(
            [(self.plan_platform_eur, 1)],
            partner=customer,
            start=date(2026, 1, 1),
            currency=self.eur,
        )
        self.assertEqual(self._movements(customer), [("2026-01-01", "new_business", 112.5)])
        metrics = self.Subscription.saas_metrics("2026-01-01", "2026-01-31", "EUR")
        self.assertEqual(metrics["currency"], "EUR")
        usd = self.Subscription.saas_metrics("2026-01-01", "2026-01-31")
        self.assertAlmostEqual(metrics["mrr_end"], self.eur.round(usd["mrr_end"] * 0.8), places=2)

    def test_amendment_within_a_customer_with_several_subscriptions(self):
        customer = self.env["res.partner"].create({"name": "Multi"})
        first = self._q2c_subscription(
            [(self.plan_seat, 5)], partner=customer, start=date(2026, 1, 1)
        )
        self._q2c_subscription([(self.plan_platform, 1)], partner=customer, start=date(2026, 1, 15))
        first.apply_change([{"line_id": first.line_ids.id, "quantity": 2}], "2026-01-20")
        self.assertEqual(
            self._movements(customer),
            [
                ("2026-01-01", "new_business", 50.0),
                ("2026-01-15", "expansion", 100.0),
                ("2026-01-20", "contraction", -30.0),
            ],
        )

    def test_rebuild_from_scratch(self):
        """Movements are derived data: deleting them and rebuilding gives the same rows, also
        for subscriptions without a state history (backfill)."""
        customer = self.env["res.partner"].create({"name": "Rebuilt"})
        sub = self._q2c_subscription(
            [(self.plan_seat, 3)], partner=customer, start=date(2026, 1, 1)
        )
        sub.apply_change([{"line_id": sub.line_ids.id, "quantity": 5}], "2026-01-16")
        sub.action_close("2026-06-30", "Too expensive")
        before = self._movements(customer)
        Movement = self.env["q2c.mrr.movement"]
        Movement.search([]).unlink()
        sub.state_log_ids.sudo().unlink()
        Movement._q2c_rebuild()
        self.assertEqual(self._movements(customer), before)
        self.assertEqual([m[1] for m in before], ["new_business", "expansion", "churn"])

    def test_renewal_uplift_is_expansion_on_the_renewal_day(self):
        """A renewal price uplift changes the MRR from the first day of the new term only, also
        after a full rebuild (the uplift is recorded as a dated amendment of each line)."""
        customer = self.env["res.partner"].create({"name": "Uplifted"})
        sub = self._q2c_subscription(
            [(self.plan_seat, 3)],
            partner=customer,
            start=date(2026, 1, 1),
            end_date=date(2026, 3, 31),
            auto_renew=True,
            renewal_term_months=3,
            renewal_uplift_pct=10.0,
        )
        for day in (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)):
            self._run(day)
        self.assertEqual(sub.end_date, date(2026, 6, 30))
        uplift = sub.change_ids.filtered(lambda change: change.change_type == "uplift")
        self.assertEqual(uplift.effective_date, date(2026, 4, 1))
        self.assertAlmostEqual(uplift.old_price_multiplier, 1.0)
        self.assertAlmostEqual(uplift.new_price_multiplier, 1.1)
        self.assertEqual(uplift.billing_state, "none")
        expected = [
            ("2026-01-01", "new_business", 30.0),
            ("2026-04-01", "expansion", 3.0),
        ]
        self.env["q2c.mrr.movement"]._q2c_rebuild(customer)
        self.assertEqual(self._movements(customer), expected)
        Movement = self.env["q2c.mrr.movement"]
        Movement.search([]).unlink()
        Movement._q2c_rebuild()
        self.assertEqual(self._movements(customer), expected)
        # The April invoice was billed at the uplifted price; a preview of March is not.
        self.assertEqual(sub.preview_invoice("2026-03-01")["untaxed"], 30.0)
        self.assertEqual(sub.preview_invoice("2026-04-01")["untaxed"], 33.0)

    def test_monthly_report_ltv(self):
        """LTV of a month = ARPA / logo churn rate (CONVENTIONS.md): 0 without churn."""
        partners = self.env["res.partner"].create([{"name": f"LTV {i}"} for i in range(4)])
        subs = [
            self._q2c_subscription([(self.plan_seat, 10)], partner=p, start=date(2019, 1, 1))
            for p in partners
        ]
        subs[0].action_close("2019-02-09", "Too expensive")
        self.env.flush_all()
        Monthly = self.env["q2c.saas.monthly.report"]
        january = Monthly.search([("date", "=", "2019-01-01")])
        self.assertEqual(january.ltv, 0.0)
        february = Monthly.search([("date", "=", "2019-02-01")])
        self.assertGreaterEqual(february.customers_churned, 1)
        # ARPA / (customers churned / customers at the start of the month).
        expected = february.arpa * february.customers_start / february.customers_churned
        self.assertAlmostEqual(february.ltv, expected, places=2)
        self.assertGreater(february.ltv, 0.0)

    def test_monthly_report_months_without_paying_customers(self):
        """The bridge has a row for every month, those ending with no paying customer too: each
        month starts where the one before ended, and start + net movement = end."""
        first, second = self.env["res.partner"].create([{"name": "Alone"}, {"name": "Next"}])
        sub = self._q2c_subscription([(self.plan_seat, 10)], partner=first, start=date(2014, 1, 1))
        sub.action_close("2014-02-09", "Too expensive")
        self._q2c_subscription([(self.plan_seat, 5)], partner=second, start=date(2014, 4, 1))
        self.env.flush_all()
        rows = self.env["q2c.saas.monthly.report"].search(
            [("company_id", "=", self.env.company.id), ("date", "<=", "2014-04-01")],
            order="date",
        )
        self.assertEqual(
            [(r.date, r.mrr_start, r.new, r.churn, r.mrr_end, r.customers_churned) for r in rows],
            [
                (date(2014, 1, 1), 0.0, 100.0, 0.0, 100.0, 0),
                (date(2014, 2, 1), 100.0, 0.0, 100.0, 0.0, 1),
                (date(2014, 3, 1), 0.0, 0.0, 0.0, 0.0, 0),
                (date(2014, 4, 1), 0.0, 50.0, 0.0, 50.0, 0),
            ],
        )
        self.assertEqual(rows[1].logo_churn_pct, 100.0)
        for row in rows:
            self.assertAlmostEqual(row.mrr_start + row.net_movement, row.mrr_end, places=2)

    def test_reports_reconcile(self):
        customer = self.env["res.partner"].create({"name": "Reported"})
        sub = self._q2c_subscription(
            [(self.plan_seat, 3)], partner=customer, start=date(2026, 1, 20)
        )
        sub.apply_change([{"line_id": sub.line_ids.id, "quantity": 5}], "2026-02-16")
        self.env.flush_all()
        rows = self.env["q2c.mrr.report"].search([("partner_id", "=", customer.id)])
        by_month = {row.date: row.mrr for row in rows}
        self.assertEqual(by_month[date(2026, 1, 1)], 30.0)
        self.assertEqual(by_month[date(2026, 2, 1)], 50.0)
        monthly = self.env["q2c.saas.monthly.report"].search([("date", "=", "2026-02-01")])
        self.assertEqual(len(monthly), 1)
        self.assertAlmostEqual(monthly.mrr_start + monthly.net_movement, monthly.mrr_end, places=2)
        cohort = self.env["q2c.mrr.cohort.report"].search(
            [("partner_id", "=", customer.id), ("months_since", "=", 1)]
        )
        self.assertEqual(cohort.customers_retained, 1)
        self.assertEqual(cohort.mrr, 50.0)
        dashboard = self.env["q2c.saas.dashboard"].create(
            {"date_from": "2026-02-01", "date_to": "2026-02-28"}
        )
        self.assertEqual(dashboard.expansion, monthly.expansion)

    def test_bad_window(self):
        with self.assertRaisesRegex(ValidationError, "date_from .* is after date_to"):
            self.Subscription.saas_metrics("2026-03-01", "2026-02-01")
        with self.assertRaisesRegex(ValidationError, "date_from"):
            self.Subscription.saas_metrics("not-a-date", "2026-02-01")
        with self.assertRaisesRegex(UserError, "Unknown currency 'XXX'"):
            self.Subscription.saas_metrics("2026-01-01", "2026-02-01", "XXX")
