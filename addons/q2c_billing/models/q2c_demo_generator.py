import json
import logging
import random
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta

from dateutil.relativedelta import relativedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

_logger = logging.getLogger(__name__)

ONE_DAY = timedelta(days=1)
DONE_PARAM = "q2c_billing.demo_generated"
PARTNER_REF_PREFIX = "Q2C-DEMO-"
# The demo catalog (demo/q2c_price_plan_demo.xml) by role.
DEMO_CATALOG = {
    "platform_usd": "q2c_billing.demo_plan_platform_usd",
    "platform_eur": "q2c_billing.demo_plan_platform_eur",
    "seat_usd": "q2c_billing.demo_plan_seat_usd",
    "seat_eur": "q2c_billing.demo_plan_seat_eur",
    "api_usd": "q2c_billing.demo_plan_api_usd",
    "storage_usd": "q2c_billing.demo_plan_storage_usd",
    "onboarding_usd": "q2c_billing.demo_plan_onboarding_usd",
    "support_usd": "q2c_billing.demo_plan_support_usd",
}
NAME_FIRST = (
    "Apex Blue Bright Cedar Cobalt Crest Delta Ember Falcon Fern Granite Harbor Helix Indigo "
    "Juniper Keystone Lumen Maple Meridian Nimbus Nova Oak Orbit Pioneer Quartz Raven Ridge "
    "Sage Silver Solar Summit Tidal Vertex Willow Zenith Atlas Beacon Coral"
).split()
NAME_SECOND = (
    "Analytics Logistics Labs Health Retail Media Robotics Foods Energy Finance Software "
    "Studios Systems Travel Works Data Design Mobility Networks Partners Security Supply "
    "Ventures"
).split()
# (country xmlid, currency, legal form): a customer in four pays in EUR.
COUNTRIES = (
    ("base.us", "USD", "Inc."),
    ("base.us", "USD", "LLC"),
    ("base.us", "USD", "Corp."),
    ("base.ca", "USD", "Ltd."),
    ("base.uk", "USD", "Ltd"),
    ("base.au", "USD", "Pty Ltd"),
    ("base.us", "USD", "Inc."),
    ("base.us", "USD", "LLC"),
    ("base.in", "USD", "Pvt Ltd"),
    ("base.de", "EUR", "GmbH"),
    ("base.fr", "EUR", "SAS"),
    ("base.nl", "EUR", "B.V."),
)
CHURN_REASONS = (
    "q2c_billing.close_reason_price",
    "q2c_billing.close_reason_features",
    "q2c_billing.close_reason_competitor",
    "q2c_billing.close_reason_other",
)


class Q2cDemoGenerator(models.AbstractModel):
    """Realistic, deterministic demo history: customers and their subscriptions over the past
    months, replayed day by day through the engine (activation, trials, amendments, pauses,
    closes, usage ingestion, billing runs, payments), so that every invoice, journal entry and
    MRR movement comes from the same code as in production.

    ``_q2c_generate`` runs once per database (``q2c_billing.demo_generated``). The other
    addons add their part through the hooks: ``_q2c_demo_on_day`` (dunning and revenue
    recognition runs), ``_q2c_demo_finish`` (quotes) and ``_q2c_demo_summary`` (counts)."""

    _name = "q2c.demo.generator"
    _description = "Demo Data Generator"

    @api.model
    def _q2c_generate(
        self, customers=300, seed=2026, months=18, today=None, catalog=None, commit=False
    ):
        """Generate the history of ``customers`` customers started over the ``months``
        months before ``today`` (default: today) with a random generator seeded by ``seed``.
        ``catalog``: the price plans by role (see ``DEMO_CATALOG``; default: the demo plans).
        With ``commit``, each month of history is committed. Returns the summary (counts);
        does nothing but return the stored summary when the database has its history."""
        params = self.env["ir.config_parameter"].sudo()
        done = params.get_param(DONE_PARAM)
        if done:
            _logger.info("q2c demo: the demo history exists already, nothing generated")
            return dict(json.loads(done), skipped=True)
        if (
            self.env["res.partner"]
            .with_context(active_test=False)
            .search_count([("ref", "=like", PARTNER_REF_PREFIX + "%")], limit=1)
        ):
            raise UserError(
                _(
                    "A demo history was started in this database and did not finish: drop the "
                    "database and create it again."
                )
            )
        if customers < 1 or months < 1:
            raise ValidationError(
                _(
                    "customers and months must be positive, got %(c)s and %(m)s.",
                    c=customers,
                    m=months,
                )
            )
        started, cpu_started = time.monotonic(), time.process_time()
        # sudo: demo data of every addon (billing, dunning and revenue runs, payments), an
        # internal method run from the shell or a test. No field tracking nor creation logs on
        # the volume (the lifecycle and amendments post their own messages).
        self = self.sudo().with_context(
            tracking_disable=True, mail_create_nolog=True, mail_notrack=True
        )
        ctx = self._q2c_demo_context(customers, seed, months, today, catalog, commit)
        company = self.env.company
        upgrade_billing = company.q2c_upgrade_billing
        # Upgrades are billed with the next invoice of their period while replaying the past
        # (billing them at once would date their invoice today).
        company.q2c_upgrade_billing = "next_invoice"
        try:
            self._q2c_demo_create_customers(ctx)
            day = ctx["start"]
            while day <= ctx["today"]:
                self._q2c_demo_on_day(ctx, day)
                if commit and (day + ONE_DAY).day == 1:
                    self.env.cr.commit()  # pylint: disable=invalid-commit
                    _logger.info(
                        "q2c demo: history up to %s (%.0fs)", day, time.monotonic() - started
                    )
                day += ONE_DAY
            with self._q2c_demo_timer(ctx, "finish"):
                self._q2c_demo_finish(ctx)
        finally:
            company.q2c_upgrade_billing = upgrade_billing
        summary = self._q2c_demo_summary(ctx)
        summary["seconds"] = round(time.monotonic() - started, 1)
        # CPU of this process (the database's own is not counted): steadier than the wall
        # clock on a shared machine.
        summary["cpu_seconds"] = round(time.process_time() - cpu_started, 1)
        params.set_param(DONE_PARAM, json.dumps(summary))
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit
        _logger.info(
            "q2c demo: history generated: %s; seconds by phase: %s",
            summary,
            {phase: round(seconds, 1) for phase, seconds in ctx["timers"].items()},
        )
        return summary

    # ------------------------------------------------------------------
    # Plan: customers and what happens to them (pure, from the seed)
    # ------------------------------------------------------------------

    @api.model
    def _q2c_demo_context(self, customers, seed, months, today, catalog, commit):
        today = fields.Date.to_date(today) or fields.Date.context_today(self)
        plans = {}
        for role, xmlid in DEMO_CATALOG.items():
            plan = (catalog or {}).get(role) or (
                catalog is None and self.env.ref(xmlid, raise_if_not_found=False)
            )
            if not plan:
                raise UserError(
                    _(
                        "The demo price plan %(role)s (%(xmlid)s) is missing: install the q2c "
                        "addons with their demo data.",
                        role=role,
                        xmlid=xmlid,
                    )
                )
            plans[role] = plan
        return {
            "customers": customers,
            "seed": seed,
            "today": today,
            "start": today.replace(day=1) - relativedelta(months=months),
            "commit": commit,
            "plans": plans,
            "rng": random.Random(seed),
            "profiles": [],
            "actions": defaultdict(list),
            "payments": defaultdict(list),
            "usage": {},
            "failed_actions": 0,
            "timers": defaultdict(float),
            "partners": self.env["res.partner"],
            "subscriptions": self.env["q2c.subscription"],
        }

    @api.model
    def _q2c_demo_profile(self, ctx, index):
        """What happens to customer ``index``: name, country, currency, start, billing
        period, lines, trial, term, payment behaviour and dated events. Pure."""
        rng = random.Random(ctx["seed"] * 100003 + index)
        today, start = ctx["today"], ctx["start"]
        span = (today - start).days
        country, currency, form = rng.choice(COUNTRIES)
        name = f"{rng.choice(NAME_FIRST)} {rng.choice(NAME_SECOND)} {form}"
        # More customers start recently (a growing business): skewed towards today.
        offset = int(span * (1.0 - rng.random() ** 1.6))
        begin = start + timedelta(days=min(offset, span - 3))
        period = rng.choices(("month", "quarter", "year"), (70, 15, 15))[0]
        suffix = "usd" if currency == "USD" else "eur"
        lines = [("platform_" + suffix, 1), ("seat_" + suffix, rng.randint(3, 40))]
        if currency == "USD":
            if rng.random() < 0.4:
                lines.append(("api_usd", 0))
            if rng.random() < 0.25:
                lines.append(("storage_usd", 0))
            if rng.random() < 0.3:
                lines.append(("onboarding_usd", 1))
            if rng.random() < 0.15:
                lines.append(("support_usd", 1))
        profile = {
            "index": index,
            "name": name,
            "country": country,
            "currency": currency,
            "start": begin,
            "period": period,
            "lines": lines,
            "trial_days": 0,
            "term": 0,
            "auto_renew": False,
            "payment_term": rng.choices(
                ("account.account_payment_term_15days", "account.account_payment_term_30days"),
                (70, 30),
            )[0],
            "payer": rng.choices(("good", "late", "bad"), (84, 12, 4))[0],
            "api_base": rng.uniform(5, 90),
            "storage_base": rng.uniform(40, 600),
            "events": [],
        }
        events = profile["events"]
        active_from = begin
        if rng.random() < 0.25:
            profile["trial_days"] = rng.choice((14, 30))
            active_from = begin + timedelta(days=profile["trial_days"])
            if rng.random() < 0.3:
                # A trial not converted: closed before its end.
                close = begin + timedelta(days=rng.randint(3, profile["trial_days"] - 1))
                if close < today:
                    events.append((close, "close", rng.choice(CHURN_REASONS)))
                return profile
        if period != "month" and rng.random() < 0.5:
            profile["term"] = 12
            profile["auto_renew"] = rng.random() < 0.8
        end = today
        # Churn: about 2.5 % of the customers a month.
        month = active_from + relativedelta(months=1)
        while month < today:
            if rng.random() < 0.025:
                end = month + timedelta(days=rng.randint(0, 27))
                if end < today:
                    events.append((end, "close", rng.choice(CHURN_REASONS)))
                else:
                    end = today
                break
            month += relativedelta(months=1)
        life = (end - active_from).days
        if life > 40:
            for __ in range(rng.choice((0, 0, 1, 1, 1, 2, 3))):
                day = active_from + timedelta(days=rng.randint(20, life - 1))
                step = rng.randint(1, 8) if rng.random() < 0.7 else -rng.randint(1, 5)
                events.append((day, "seats", step))
            if currency == "USD" and ("support_usd", 1) not in lines and rng.random() < 0.1:
                events.append(
                    (active_from + timedelta(days=rng.randint(20, life - 1)), "add", "support_usd")
                )
            if rng.random() < 0.05 and life > 100:
                pause = active_from + timedelta(days=rng.randint(30, life - 70))
                events.append((pause, "pause", None))
                events.append((pause + timedelta(days=rng.randint(25, 60)), "resume", None))
        return profile

    # ------------------------------------------------------------------
    # Replay
    # ------------------------------------------------------------------

    @api.model
    def _q2c_demo_create_customers(self, ctx):
        """The customers (companies) in one create; their subscriptions start on their day."""
        profiles = [self._q2c_demo_profile(ctx, index) for index in range(ctx["customers"])]
        ctx["profiles"] = profiles
        seen = set()
        vals_list = []
        for profile in profiles:
            name = profile["name"]
            if name in seen:
                name = f"{name} ({profile['index'] + 1})"
            seen.add(name)
            profile["name"] = name
            slug = name.split(" ")[0].lower() + str(profile["index"] + 1)
            vals_list.append(
                {
                    "name": name,
                    "is_company": True,
                    "ref": f"{PARTNER_REF_PREFIX}{profile['index'] + 1:04d}",
                    "email": f"billing@{slug}.example.com",
                    "country_id": self.env.ref(profile["country"]).id,
                    "property_payment_term_id": self.env.ref(profile["payment_term"]).id,
                }
            )
            ctx["actions"][profile["start"]].append((profile["index"], "start", None))
            for day, kind, value in profile["events"]:
                ctx["actions"][day].append((profile["index"], kind, value))
        partners = self.env["res.partner"].create(vals_list)
        ctx["partners"] = partners
        for profile, partner in zip(profiles, partners):
            profile["partner"] = partner
            profile["subscription"] = self.env["q2c.subscription"]

    @api.model
    def _q2c_demo_on_day(self, ctx, day):
        """One day of history: the customers' actions, their usage, the billing run, the
        payments made that day. Extended by dunning (its run) and revenue recognition."""
        with self._q2c_demo_timer(ctx, "actions"):
            for index, kind, value in ctx["actions"].pop(day, []):
                self._q2c_demo_action(ctx, ctx["profiles"][index], day, kind, value)
        with self._q2c_demo_timer(ctx, "usage"):
            self._q2c_demo_usage(ctx, day)
        with self._q2c_demo_timer(ctx, "billing"):
            # The monthly billing run (on the 1st: the subscriptions are aligned on calendar
            # months), and today's.
            if day.day == 1 or day == ctx["today"]:
                result = self.env["q2c.billing.run"].run_billing(day)
                self._q2c_demo_plan_payments(
                    ctx, self.env["account.move"].browse(result["invoice_ids"])
                )
        with self._q2c_demo_timer(ctx, "payments"):
            self._q2c_demo_pay(ctx, day)

    @api.model
    @contextmanager
    def _q2c_demo_timer(self, ctx, phase):
        """Time spent per phase (logged at the end: where a slow generation goes)."""
        started = time.monotonic()
        try:
            yield
        finally:
            ctx["timers"][phase] += time.monotonic() - started

    @api.model
    def _q2c_demo_action(self, ctx, profile, day, kind, value):
        """Apply one action of a customer through the public methods; an action the
        subscription's state no longer allows (closed by dunning, already paused) is skipped."""
        sub = profile["subscription"]
        if kind != "start" and not sub:
            return
        try:
            with self.env.cr.savepoint():
                if kind == "start":
                    profile["subscription"] = self._q2c_demo_start(ctx, profile, day)
                elif kind == "seats":
                    line = sub.line_ids.filtered(
                        lambda line: (
                            line.product_id == ctx["plans"]["seat_usd"].product_id
                            and not line.end_date
                        )
                    )[:1]
                    quantity = max(line.quantity + value, 1)
                    sub.apply_change([{"line_id": line.id, "quantity": quantity}], day)
                elif kind == "add":
                    plan = ctx["plans"][value]
                    sub.apply_change(
                        [
                            {
                                "line_id": False,
                                "product_id": plan.product_id.id,
                                "price_plan_id": plan.id,
                                "quantity": 1,
                            }
                        ],
                        day,
                    )
                elif kind == "pause":
                    sub.action_pause(day)
                elif kind == "resume":
                    sub.action_resume(day)
                elif kind == "close":
                    sub.action_close(day, self.env.ref(value).id)
        except (UserError, ValidationError) as error:
            ctx["failed_actions"] += 1
            _logger.info("q2c demo: %s of %s on %s skipped: %s", kind, sub.name, day, error)

    @api.model
    def _q2c_demo_start(self, ctx, profile, day):
        plans = ctx["plans"]
        currency = plans["platform_" + profile["currency"].lower()].currency_id
        admin = self.env.ref("base.user_admin", raise_if_not_found=False) or self.env.user
        vals = {
            "partner_id": profile["partner"].id,
            "currency_id": currency.id,
            "start_date": day,
            "billing_period": profile["period"],
            "alignment": "calendar",
            "user_id": admin.id,
            "line_ids": [
                fields.Command.create(
                    {
                        "product_id": plans[role].product_id.id,
                        "price_plan_id": plans[role].id,
                        "quantity": quantity or 1,
                    }
                )
                for role, quantity in profile["lines"]
            ],
        }
        if currency != self.env.company.currency_id:
            pricelist = self.env["product.pricelist"].search(
                [
                    ("currency_id", "=", currency.id),
                    ("company_id", "in", (False, self.env.company.id)),
                ],
                limit=1,
            )
            if pricelist:
                vals["pricelist_id"] = pricelist.id
        if profile["trial_days"]:
            vals["trial_end_date"] = day + timedelta(days=profile["trial_days"] - 1)
        if profile["term"]:
            vals.update(
                end_date=day + relativedelta(months=profile["term"]) - ONE_DAY,
                auto_renew=profile["auto_renew"],
                renewal_term_months=profile["term"],
            )
        sub = self.env["q2c.subscription"].create(vals)
        sub.action_activate()
        ctx["subscriptions"] |= sub
        usage = [role for role, __ in profile["lines"] if role in ("api_usd", "storage_usd")]
        if usage:
            ctx["usage"][sub.id] = (profile, usage)
        return sub

    @api.model
    def _q2c_demo_usage(self, ctx, day):
        """The day's usage of the active subscriptions with usage plans, in one ingest call:
        API calls (thousands, summed) and storage (GB, peak), growing slowly."""
        if not ctx["usage"]:
            return
        subs = self.env["q2c.subscription"].browse(list(ctx["usage"]))
        events = []
        for sub in subs.filtered(lambda sub: sub.state == "active"):
            profile, roles = ctx["usage"][sub.id]
            age = (day - profile["start"]).days
            growth = 1.0 + age / 365.0
            rng = random.Random(f"{ctx['seed']}-{sub.id}-{day}")
            for role in roles:
                plan = ctx["plans"][role]
                if role == "api_usd":
                    quantity = round(profile["api_base"] * growth * rng.uniform(0.6, 1.4), 1)
                else:
                    quantity = round(profile["storage_base"] * growth * rng.uniform(0.95, 1.05))
                events.append(
                    {
                        "transaction_id": f"demo-{sub.name}-{plan.metric_id.code}-{day}",
                        "subscription_id": sub.id,
                        "metric": plan.metric_id.code,
                        "quantity": quantity,
                        "timestamp": f"{day}T12:00:00Z",
                    }
                )
        if events:
            self.env["q2c.usage.event"].ingest(events)

    @api.model
    def _q2c_demo_plan_payments(self, ctx, moves):
        """When each new invoice gets paid, by its customer's habit: most within their terms,
        some late, the bad payers never (dunning follows them)."""
        by_partner = {profile["partner"].id: profile for profile in ctx["profiles"]}
        for move in moves.filtered(lambda move: move.state == "posted"):
            profile = by_partner.get(move.partner_id.commercial_partner_id.id)
            rng = random.Random(f"{ctx['seed']}-{move.name}")
            payer = profile["payer"] if profile else "good"
            if move.move_type == "out_refund":
                delay = rng.randint(1, 5)
            elif payer == "bad" and rng.random() < 0.8:
                continue
            elif payer == "late":
                delay = rng.randint(20, 60)
            else:
                # Within the terms, the weekly recording included.
                due = (move.invoice_date_due - move.invoice_date).days
                delay = rng.randint(0, max(due - 7, 0))
            # Payments are recorded once a week, on Fridays (a weekly bank statement).
            pay_day = move.invoice_date + timedelta(days=delay)
            pay_day += timedelta(days=(4 - pay_day.weekday()) % 7)
            ctx["payments"][pay_day].append(move.id)

    @api.model
    def _q2c_demo_pay(self, ctx, day):
        """Register the payments made on ``day`` (one payment per invoice, in the bank
        journal), invoices and credit notes apart."""
        moves = (
            self.env["account.move"]
            .browse(ctx["payments"].pop(day, []))
            .filtered(
                lambda move: (
                    move.state == "posted" and move.payment_state in ("not_paid", "partial")
                )
            )
        )
        groups = defaultdict(lambda: self.env["account.move"])
        for move in moves:
            groups[move.company_id, move.move_type] |= move
        for (company, __), todo in groups.items():
            journal = self.env["account.journal"].search(
                [("type", "=", "bank"), ("company_id", "=", company.id)], limit=1
            )
            wizard = (
                self.env["account.payment.register"]
                .with_company(company)
                .with_context(active_model="account.move", active_ids=todo.ids)
                .create({"payment_date": day, "group_payment": False, "journal_id": journal.id})
            )
            wizard._create_payments()

    @api.model
    def _q2c_demo_finish(self, ctx):
        """After the replay: MRR movements rebuilt for the customers, the mails the history
        queued (reminders to fake addresses) cancelled. Extended by the quotes of q2c_cpq."""
        self.env["q2c.mrr.movement"]._q2c_rebuild()
        subs = ctx["subscriptions"]
        Line = self.env["q2c.subscription.line"]
        for field_name in ("period_amount", "mrr"):
            self.env.add_to_compute(Line._fields[field_name], subs.line_ids)
        for field_name in ("recurring_total", "mrr", "mrr_company", "arr"):
            self.env.add_to_compute(subs._fields[field_name], subs)
        self.env.flush_all()
        self.env["mail.mail"].sudo().search(
            [("state", "=", "outgoing"), ("recipient_ids", "in", ctx["partners"].ids)]
        ).write({"state": "cancel"})

    @api.model
    def _q2c_demo_summary(self, ctx):
        """Counts of what was generated (extended by the other addons)."""
        partners = ctx["partners"]
        subs = ctx["subscriptions"]
        moves = self.env["account.move"].search(
            [
                ("partner_id", "in", partners.ids),
                ("move_type", "in", ("out_invoice", "out_refund")),
                ("state", "=", "posted"),
            ]
        )
        invoices = moves.filtered(lambda move: move.move_type == "out_invoice")
        payments = self.env["account.payment"].search_count(
            [("partner_id", "in", partners.ids), ("state", "!=", "draft")]
        )
        by_state = defaultdict(int)
        for sub in subs:
            by_state[sub.state] += 1
        company = self.env.company
        metrics = self.env["q2c.subscription"].saas_metrics(
            fields.Date.to_string(ctx["start"]),
            fields.Date.to_string(ctx["today"]),
            company.currency_id.name,
        )
        return {
            "customers": len(partners),
            "subscriptions": len(subs),
            "subscriptions_by_state": dict(sorted(by_state.items())),
            "amendments": self.env["q2c.subscription.change"].search_count(
                [("subscription_id", "in", subs.ids), ("change_type", "!=", "close")]
            ),
            "usage_events": self.env["q2c.usage.event"].search_count(
                [("subscription_id", "in", subs.ids)]
            ),
            "invoices": len(invoices),
            "credit_notes": len(moves) - len(invoices),
            "invoices_paid": len(
                invoices.filtered(lambda m: m.payment_state in ("paid", "in_payment"))
            ),
            "invoices_open": len(
                invoices.filtered(lambda m: m.payment_state in ("not_paid", "partial"))
            ),
            "payments": payments,
            "mrr_movements": self.env["q2c.mrr.movement"].search_count(
                [("partner_id", "in", partners.ids)]
            ),
            "mrr": metrics["mrr_end"],
            "currency": company.currency_id.name,
            "skipped_actions": ctx["failed_actions"],
            "from": fields.Date.to_string(ctx["start"]),
            "to": fields.Date.to_string(ctx["today"]),
        }
