import logging
import time
from collections import defaultdict

from psycopg2 import errors as pg_errors

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100
# A cron call stops after this many seconds and re-triggers itself while work remains.
CRON_TIME_BUDGET = 240


class Q2cBillingRun(models.Model):
    """One billing run: every subscription due on ``date`` is billed, the run keeps its counts,
    errors and duration.

    Idempotent by database constraint: each billed window is a ``q2c.subscription.period`` row
    (unique per subscription, period start and timing) inserted in the same transaction as its
    invoice; a second run, a racing run or a restarted one skips what is billed already.
    """

    _name = "q2c.billing.run"
    _description = "Billing Run"
    _order = "id desc"

    name = fields.Char(compute="_compute_name", store=True)
    date = fields.Date(required=True, readonly=True, index=True)
    trigger = fields.Selection(
        selection=[("cron", "Scheduled"), ("manual", "Bill now"), ("api", "API")],
        required=True,
        readonly=True,
        default="manual",
    )
    state = fields.Selection(
        selection=[("running", "Running"), ("done", "Done"), ("failed", "Failed")],
        default="running",
        required=True,
        readonly=True,
    )
    user_id = fields.Many2one("res.users", default=lambda self: self.env.user, readonly=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, readonly=True
    )
    started_at = fields.Datetime(readonly=True, default=fields.Datetime.now)
    ended_at = fields.Datetime(readonly=True)
    duration = fields.Float(string="Duration (s)", digits=(16, 2), readonly=True)
    due_count = fields.Integer(string="Due", readonly=True)
    billed_count = fields.Integer(string="Billed", readonly=True)
    skipped_count = fields.Integer(string="Skipped", readonly=True)
    error_count = fields.Integer(string="Error Count", readonly=True)
    invoice_count = fields.Integer(string="Invoice Count", readonly=True)
    move_ids = fields.Many2many(
        "account.move",
        "q2c_billing_run_move_rel",
        "run_id",
        "move_id",
        string="Invoices",
        readonly=True,
    )
    error_ids = fields.One2many("q2c.billing.run.error", "run_id", string="Errors", readonly=True)

    @api.depends("date", "trigger")
    def _compute_name(self):
        labels = dict(self._fields["trigger"]._description_selection(self.env))
        for run in self:
            run.name = _(
                "%(trigger)s billing of %(date)s",
                trigger=labels.get(run.trigger, ""),
                date=run.date,
            )

    # ------------------------------------------------------------------
    # Public API (API.md)
    # ------------------------------------------------------------------

    @api.model
    def run_billing(self, date):
        """Bill every subscription due on or before ``date``. Idempotent: a second call for the
        same date creates nothing. Returns ``{"invoice_ids", "billed", "skipped", "errors":
        [{"subscription_id", "error"}]}``."""
        self.check_access("create")
        day = self.env["q2c.subscription"]._q2c_to_date(date, "date", required=True)
        result = self._q2c_run(day, trigger="api")
        return {
            "invoice_ids": result["invoice_ids"],
            "billed": result["billed"],
            "skipped": result["skipped"],
            "errors": result["errors"],
        }

    def action_bill_now(self):
        """ "Bill now": bill what is due today."""
        self.check_access("create")
        result = self._q2c_run(fields.Date.context_today(self), trigger="manual")
        return result["run"]._q2c_action_notify()

    def action_view_invoices(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account.action_move_out_invoice_type"
        )
        action["domain"] = [("id", "in", self.move_ids.ids)]
        action["context"] = {"create": False}
        return action

    def _q2c_action_notify(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "q2c.billing.run",
            "res_id": self.id,
            "views": [(False, "form")],
            "target": "current",
        }

    # ------------------------------------------------------------------
    # Cron
    # ------------------------------------------------------------------

    @api.model
    def _cron_run_billing(self):
        """Daily: bill what is due today in every company, committing per batch; re-triggers
        itself while work remains after its time budget."""
        today = fields.Date.context_today(self)
        companies = self.env["res.company"].sudo().search([])
        runner = self.with_context(allowed_company_ids=companies.ids)
        runner._q2c_run(today, trigger="cron", commit=True, time_budget=CRON_TIME_BUDGET)

    # ------------------------------------------------------------------
    # Engine
    # ------------------------------------------------------------------

    @api.model
    def _q2c_batch_size(self):
        value = self.env["ir.config_parameter"].sudo().get_param("q2c_billing.batch_size")
        try:
            return max(int(value), 1) if value else DEFAULT_BATCH_SIZE
        except ValueError:
            return DEFAULT_BATCH_SIZE

    @api.model
    def _q2c_run(self, day, subscriptions=None, trigger="manual", commit=False, time_budget=None):
        """Bill the subscriptions due on ``day`` (all, or ``subscriptions``) in batches. The
        caller checked the access rights; the invoices are created as superuser (billing
        users need not be accountants). With ``commit``, each batch is committed and the
        progress is reported to the cron."""
        started = time.monotonic()
        Sub = self.env["q2c.subscription"]
        domain = [
            ("next_invoice_date", "!=", False),
            ("next_invoice_date", "<=", day),
            ("state", "in", ("trial", "active", "paused", "closed")),
        ]
        if subscriptions is not None:
            domain.append(("id", "in", subscriptions.ids))
        # Record rules restrict the run to the caller's companies; then superuser for the
        # invoices (access checked by the public callers).
        if trigger == "cron":
            Sub = Sub.sudo()
        due = Sub.search(domain, order="company_id, partner_id, currency_id, id").sudo()
        run = self.sudo().create({"date": day, "trigger": trigger, "due_count": len(due)})
        report = {"billed": 0, "skipped": 0, "errors": [], "invoice_ids": []}
        batches = self._q2c_batches(due)
        done = 0
        for index, batch in enumerate(batches):
            run._q2c_bill_batch(batch, day, report)
            done += len(batch)
            if commit:
                # From the cron only: each batch is its own transaction, so a crash loses at
                # most one batch and a restarted run skips what is billed (unique periods).
                run._q2c_save(report, started, final=False)
                self.env.cr.commit()  # pylint: disable=invalid-commit
                self.env["ir.cron"]._notify_progress(done=done, remaining=len(due) - done)
                if (
                    time_budget
                    and time.monotonic() - started > time_budget
                    and (index + 1 < len(batches))
                ):
                    cron = self.env.ref(
                        "q2c_billing.q2c_billing_run_cron", raise_if_not_found=False
                    )
                    if cron:
                        cron._trigger()
                    break
        run._q2c_save(report, started, final=True)
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit
        _logger.info(
            "q2c billing run %s for %s: %s billed, %s skipped, %s errors, %s invoices in %.1fs",
            run.id,
            day,
            report["billed"],
            report["skipped"],
            len(report["errors"]),
            len(report["invoice_ids"]),
            run.duration,
        )
        return {**report, "run": run}

    def _q2c_save(self, report, started, final):
        self.ensure_one()
        vals = {
            "billed_count": report["billed"],
            "skipped_count": report["skipped"],
            "error_count": len(report["errors"]),
            "invoice_count": len(report["invoice_ids"]),
            "duration": time.monotonic() - started,
            "move_ids": [fields.Command.set(report["invoice_ids"])],
        }
        if final:
            vals.update(state="done", ended_at=fields.Datetime.now())
        self.write(vals)

    @api.model
    def _q2c_batches(self, subscriptions):
        """Batches of about ``batch_size`` subscriptions that never split a customer's
        subscriptions of one company and currency (they share an invoice)."""
        size = self._q2c_batch_size()
        batches, current, last_key = [], [], None
        for sub in subscriptions:
            key = (sub.company_id.id, sub.partner_id.id, sub.currency_id.id)
            if len(current) >= size and key != last_key:
                batches.append(subscriptions.browse(current))
                current = []
            current.append(sub.id)
            last_key = key
        if current:
            batches.append(subscriptions.browse(current))
        return batches

    def _q2c_bill_batch(self, subs, day, report):
        """Plan every subscription of the batch (pure), then claim their periods and create
        their invoices at once; on a conflict or a failure, one group, then one subscription
        at a time, each under a savepoint."""
        self.ensure_one()
        data = subs._q2c_billing_data()
        cache = subs._q2c_line_cache()
        plans = []
        for sub in subs:
            try:
                plans.append(self._q2c_plan_subscription(sub, day, data, cache))
            except (UserError, ValidationError) as error:
                self._q2c_report_error(report, sub, error)
        if not plans:
            return
        error = self._q2c_try_commit(plans, day, report)
        if error is None:
            return
        if not isinstance(error, pg_errors.UniqueViolation):
            _logger.info("q2c billing batch failed, retrying per customer: %s", error)
        for group in self._q2c_group_plans(plans):
            if self._q2c_try_commit(group, day, report) is None:
                continue
            for plan in group:
                error = self._q2c_try_commit([plan], day, report)
                if isinstance(error, pg_errors.UniqueViolation):
                    report["skipped"] += 1
                elif error is not None:
                    self._q2c_report_error(report, plan["sub"], error)

    def _q2c_try_commit(self, plans, day, report):
        """Bill ``plans`` under a savepoint: ``None`` when billed, else the error (a
        UniqueViolation when a period is billed already), everything of the attempt rolled
        back. Concurrency errors propagate (the caller's transaction is retried)."""
        billed, invoice_count = report["billed"], len(report["invoice_ids"])
        try:
            with self.env.cr.savepoint():
                self._q2c_commit_plans(plans, day, report)
            return None
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise
        except Exception as error:  # reported per subscription by the caller
            report["billed"] = billed
            del report["invoice_ids"][invoice_count:]
            # The invoice numbers given in the savepoint are rolled back, and with them the
            # lock Odoo's sequence cache relies on: forget it (no gap, no unlocked number).
            self.env.cr.precommit.data.pop("sequence.mixin", None)
            return error

    def _q2c_report_error(self, report, sub, error):
        message = error.args[0] if getattr(error, "args", None) else str(error)
        if not isinstance(error, (UserError, ValidationError)):
            _logger.warning("q2c billing of %s failed", sub.display_name, exc_info=True)
        report["errors"].append({"subscription_id": sub.id, "error": str(message)})
        report["skipped"] += 1
        self.env["q2c.billing.run.error"].sudo().create(
            {
                "run_id": self.id,
                "subscription_id": sub.id,
                "message": str(message),
            }
        )

    def _q2c_plan_subscription(self, sub, day, data, cache):
        """The cycles of ``sub`` due on ``day``, their invoice line values and the writes to
        make once billed (pure)."""
        cycles, sim = sub._q2c_plan_billing(day, data)
        charges = [charge for cycle in cycles for charge in cycle["charges"]]
        line_vals = [sub._q2c_prepare_move_line_vals(charge, cache) for charge in charges]
        return {
            "sub": sub,
            "cycles": cycles,
            "sim": sim,
            "charges": charges,
            "line_vals": line_vals,
            "claims": [claim + (cycle["date"],) for cycle in cycles for claim in cycle["claims"]],
        }

    @api.model
    def _q2c_group_key(self, plan):
        sub = plan["sub"]
        if sub.company_id.q2c_invoice_grouping == "subscription":
            return (sub.id,)
        return (
            sub.company_id.id,
            sub.partner_id.id,
            sub.currency_id.id,
            sub.fiscal_position_id.id,
            sub.payment_term_id.id,
        )

    @api.model
    def _q2c_group_plans(self, plans):
        groups = defaultdict(list)
        for plan in plans:
            groups[self._q2c_group_key(plan)].append(plan)
        return list(groups.values())

    def _q2c_commit_plans(self, plans, day, report):
        """Claim the periods of ``plans`` (raises UniqueViolation when one is billed already),
        create and post their invoices, and write the subscriptions' new billing state."""
        self.ensure_one()
        claimed = self._q2c_claim(plans)
        claims_by_sub = defaultdict(list)
        for row_id, sub_id in claimed:
            claims_by_sub[sub_id].append(row_id)

        moves_by_sub = self._q2c_create_invoices([plan for plan in plans if plan["line_vals"]], day)
        # Link the billed periods to their invoice (one statement).
        links = [
            (row_id, moves_by_sub[sub_id].id)
            for sub_id, row_ids in claims_by_sub.items()
            if sub_id in moves_by_sub
            for row_id in row_ids
        ]
        if links:
            self.env.cr.execute(
                SQL(
                    """UPDATE q2c_subscription_period AS p SET move_id = v.move_id
                     FROM (VALUES %s) AS v(id, move_id) WHERE p.id = v.id""",
                    SQL(", ").join(SQL("(%s, %s)", row_id, move_id) for row_id, move_id in links),
                )
            )
            self.env["q2c.subscription.period"].invalidate_model(["move_id"])
        self._q2c_write_back(plans, moves_by_sub)
        report["billed"] += len(plans)
        report["invoice_ids"] += sorted({move.id for move in moves_by_sub.values()})

    def _q2c_claim(self, plans):
        """Insert the billed-period rows of ``plans``: ``[(row_id, subscription_id)]``. Raises
        UniqueViolation when a period is billed already (or being billed by a concurrent run,
        once that one commits). Plain SQL so that the expected violation is not logged as a
        failed query."""
        self.ensure_one()
        rows = [
            SQL(
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, now() at time zone 'UTC', "
                "now() at time zone 'UTC')",
                plan["sub"].id,
                plan["sub"].company_id.id,
                start,
                end,
                timing,
                billing_date,
                self.id,
                self.env.uid,
                self.env.uid,
            )
            for plan in plans
            for start, end, timing, billing_date in plan["claims"]
        ]
        if not rows:
            return []
        self.env["q2c.subscription.period"].flush_model()
        self.env["q2c.subscription"].invalidate_model(["billed_period_ids"])
        self.env.cr.execute(
            SQL(
                """INSERT INTO q2c_subscription_period
                   (subscription_id, company_id, period_start, period_end, timing, billing_date,
                    run_id, create_uid, write_uid, create_date, write_date)
               VALUES %s RETURNING id, subscription_id""",
                SQL(", ").join(rows),
            ),
            log_exceptions=False,
        )
        return self.env.cr.fetchall()

    def _q2c_create_invoices(self, plans, day):
        """One invoice per group of plans (customer, currency, company, fiscal position,
        payment terms; or per subscription by company setting): ``{sub_id: move}``."""
        if not plans:
            return {}
        Move = self.env["account.move"].sudo()
        groups = self._q2c_group_plans(plans)
        by_company = defaultdict(list)
        for group in groups:
            by_company[group[0]["sub"].company_id].append(group)
        moves_by_sub = {}
        for company, company_groups in by_company.items():
            journal = self._q2c_journal(company)
            # No chatter tracking or follower subscription on the run's invoices (volume);
            # the customer gets the invoice by the queued mail (company setting).
            CompanyMove = Move.with_company(company).with_context(
                tracking_disable=True,
                mail_create_nolog=True,
                mail_notrack=True,
                default_move_type="out_invoice",
            )
            # Without analytic distribution models, no line needs one: skip the lookup that
            # each invoice line would make.
            no_analytic_models = (
                not self.env["account.analytic.distribution.model"]
                .sudo()
                .search_count([("company_id", "in", [False, company.id])], limit=1)
            )
            # Read the customers' commercial partners and receivable accounts at once (the
            # journal items of each invoice need them).
            partners = self.env["res.partner"].browse(
                {group[0]["sub"].partner_id.id for group in company_groups}
            )
            partners.commercial_partner_id.with_company(company).mapped(
                "property_account_receivable_id"
            )
            post = company.q2c_invoice_post
            bulk = no_analytic_models and self._q2c_bulk_ready(company, journal, day)
            complete, standard, bulked = [], [], []
            for group in company_groups:
                vals = self._q2c_prepare_move_vals(group, day, journal)
                vals["q2c_billing_run_id"] = self.id
                if post and journal.autocheck_on_post:
                    # What posting sets on each invoice of an auto-checked journal, given at
                    # creation instead of one write per invoice (see account.move._post).
                    vals["checked"] = True
                if no_analytic_models:
                    for command in vals["invoice_line_ids"]:
                        command[2]["analytic_distribution"] = False
                totals = []
                full = self._q2c_complete_journal_items(vals, company, product_totals=totals)
                if full and bulk and self._q2c_bulk_item_ready(full):
                    bulked.append((group, full, totals))
                else:
                    (complete if full else standard).append((group, full or vals))
            if bulked:
                # Created without journal items, items inserted and invoices posted in a few
                # statements (q2c_billing_run_bulk).
                bulk_moves = self._q2c_bulk_create_invoices(CompanyMove, company, journal, bulked)
                for (group, __, ___), move in zip(bulked, bulk_moves, strict=True):
                    for plan in group:
                        moves_by_sub[plan["sub"].id] = move
            else:
                bulk_moves = Move
            moves = Move
            # Invoices given with all their journal items (tax and receivable lines computed
            # by Odoo's tax helpers): the invoice's own synchronisation has nothing to redo.
            for batch, context in (
                (complete, {"skip_invoice_sync": True, "skip_invoice_line_sync": True}),
                (standard, {}),
            ):
                if not batch:
                    continue
                created = CompanyMove.with_context(**context).create([vals for __, vals in batch])
                for (group, __), move in zip(batch, created):
                    for plan in group:
                        moves_by_sub[plan["sub"].id] = move
                moves |= created
            if post:
                if moves:
                    CompanyMove.browse(moves.ids).with_context(q2c_batch_post=True).action_post()
                moves |= bulk_moves
                if company.q2c_invoice_send:
                    self._q2c_send_invoices(moves)
        return moves_by_sub

    @api.model
    def _q2c_complete_journal_items(self, vals, company, product_totals=None):
        """The invoice values ``vals`` with all its journal items (``line_ids``): the product
        lines with their balance and tax tags, the tax lines and the receivable lines per
        payment term, computed exactly as the invoice computes them (``account.tax`` helpers,
        ``_compute_terms``). ``None`` when the invoice needs the standard path (early payment
        discount, cash basis taxes, no receivable account). With a list ``product_totals``,
        appends each product line's untaxed and taxed totals (its *Subtotal* and *Total*,
        before rounding, as ``account.move.line._compute_totals`` gives them)."""
        AccountTax = self.env["account.tax"]
        partner = self.env["res.partner"].browse(vals["partner_id"]).commercial_partner_id
        currency = self.env["res.currency"].browse(vals["currency_id"])
        term = self.env["account.payment.term"].browse(vals["invoice_payment_term_id"])
        receivable = partner.with_company(company).property_account_receivable_id
        if (term and term.early_discount) or not receivable:
            return None
        day = vals["invoice_date"]
        is_refund = vals["move_type"] == "out_refund"
        sign = 1 if is_refund else -1
        rate = self.env["res.currency"]._get_conversion_rate(
            company.currency_id, currency, company, day
        )
        product_lines = [line_vals for __, __, line_vals in vals["invoice_line_ids"]]
        base_lines = []
        for line_vals in product_lines:
            taxes = self.env["account.tax"].browse(line_vals["tax_ids"][0][2])
            if any(tax.tax_exigibility == "on_payment" for tax in taxes):
                return None
            base_lines.append(
                AccountTax._prepare_base_line_for_taxes_computation(
                    line_vals,
                    product_id=self.env["product.product"].browse(line_vals["product_id"]),
                    product_uom_id=self.env["uom.uom"].browse(line_vals["product_uom_id"]),
                    tax_ids=taxes,
                    price_unit=line_vals["price_unit"],
                    quantity=line_vals["quantity"],
                    discount=line_vals["discount"],
                    currency_id=currency,
                    rate=rate,
                    sign=sign,
                    is_refund=is_refund,
                    partner_id=partner,
                    account_id=self.env["account.account"].browse(line_vals["account_id"]),
                )
            )
        AccountTax._add_tax_details_in_base_lines(base_lines, company)
        AccountTax._round_base_lines_tax_details(base_lines, company)
        AccountTax._add_accounting_data_in_base_lines_tax_details(base_lines, company)
        tax_results = AccountTax._prepare_tax_lines(base_lines, company)
        items = []
        untaxed = untaxed_currency = tax = tax_currency = 0.0
        for (base_line, to_update), line_vals in zip(
            tax_results["base_lines_to_update"], product_lines
        ):
            items.append(
                {**line_vals, **to_update, "currency_id": currency.id, "partner_id": partner.id}
            )
            if product_totals is not None:
                details = base_line["tax_details"]
                product_totals.append(
                    (details["raw_total_excluded_currency"], details["raw_total_included_currency"])
                )
            untaxed += sign * to_update["balance"]
            untaxed_currency += sign * to_update["amount_currency"]
        for tax_vals in tax_results["tax_lines_to_add"]:
            items.append({**tax_vals, "display_type": "tax", "partner_id": partner.id})
            tax += sign * tax_vals["balance"]
            tax_currency += sign * tax_vals["amount_currency"]
        if term:
            # As a posted invoice gives them (account.move._compute_needed_terms): the amounts
            # signed as the receivable (positive for an invoice, negative for a credit note) and
            # the sign of an inbound move.
            inbound = -sign
            terms = term._compute_terms(
                date_ref=day,
                currency=currency,
                company=company,
                tax_amount=inbound * tax,
                tax_amount_currency=inbound * tax_currency,
                sign=inbound,
                untaxed_amount=inbound * untaxed,
                untaxed_amount_currency=inbound * untaxed_currency,
            )["line_ids"]
            dues = [
                (fields.Date.to_date(line["date"]), line["company_amount"], line["foreign_amount"])
                for line in terms
            ]
        else:
            dues = [(day, -sign * (untaxed + tax), -sign * (untaxed_currency + tax_currency))]
        merged = {}
        for due, balance, amount_currency in dues:
            previous = merged.get(due, (0.0, 0.0))
            merged[due] = (previous[0] + balance, previous[1] + amount_currency)
        for due, (balance, amount_currency) in merged.items():
            items.append(
                {
                    "display_type": "payment_term",
                    "account_id": receivable.id,
                    "partner_id": partner.id,
                    "currency_id": currency.id,
                    "date_maturity": due,
                    "balance": balance,
                    "amount_currency": amount_currency,
                }
            )
        result = {key: value for key, value in vals.items() if key != "invoice_line_ids"}
        result["line_ids"] = [fields.Command.create(item) for item in items]
        return result

    @api.model
    def _q2c_journal(self, company):
        journal = company.q2c_journal_id or self.env["account.journal"].sudo().search(
            [("type", "=", "sale"), ("company_id", "=", company.id)], limit=1
        )
        if not journal:
            raise UserError(
                _("The company %(company)s has no sales journal.", company=company.name)
            )
        return journal

    @api.model
    def _q2c_prepare_move_vals(self, group, day, journal):
        """Invoice values of a group of subscription plans (a credit note when the total is
        negative)."""
        subs = self.env["q2c.subscription"].browse([plan["sub"].id for plan in group])
        first = group[0]["sub"]
        line_vals = [vals for plan in group for vals in plan["line_vals"]]
        total = sum(charge["amount"] for plan in group for charge in plan["charges"])
        move_type = "out_invoice"
        if first.currency_id.compare_amounts(total, 0.0) < 0:
            move_type = "out_refund"
            line_vals = [{**vals, "price_unit": -vals["price_unit"]} for vals in line_vals]
        vals = {
            "move_type": move_type,
            "partner_id": first.partner_id.id,
            "currency_id": first.currency_id.id,
            "journal_id": journal.id,
            "invoice_date": day,
            "fiscal_position_id": first.fiscal_position_id.id,
            "invoice_payment_term_id": first.payment_term_id.id,
            "invoice_user_id": first.user_id.id,
            "invoice_origin": ", ".join(subs.mapped("name")),
            "invoice_line_ids": [fields.Command.create(vals) for vals in line_vals],
        }
        if not first.payment_term_id:
            # Due on the invoice date (Odoo would take the day the invoice is created).
            vals["invoice_date_due"] = day
        return vals

    @api.model
    def _q2c_send_invoices(self, moves):
        """Queue the invoice mails (sent by the mail queue, never forced here)."""
        template = self.env.ref("account.email_template_edi_invoice", raise_if_not_found=False)
        if template:
            template.sudo().send_mail_batch(moves.ids, force_send=False)

    def _q2c_write_back(self, plans, moves_by_sub):
        """The subscriptions' new billing state, grouped into as few writes as possible."""
        Sub = self.env["q2c.subscription"].sudo()
        grouped = defaultdict(list)
        one_time_lines = self.env["q2c.subscription.line"].sudo()
        for plan in plans:
            sub, sim = plan["sub"], plan["sim"]
            vals = {
                "next_invoice_date": sim["next_invoice_date"] or False,
                "current_period_start": sim["cps"] or False,
                "current_period_end": sim["cpe"] or False,
            }
            one_time_lines |= one_time_lines.browse(sorted(sim["one_time_done"]))
            if sim["events"]:
                sub._q2c_apply_events(sim, vals)
            else:
                grouped[tuple(sorted(vals.items()))].append(sub.id)
            pending = [
                charge["change"] for charge in plan["charges"] if charge["kind"] == "proration"
            ]
            if pending:
                # Superuser: the history is read-only for users; the run records the invoice.
                changes = pending[0].sudo().browse({change.id for change in pending})
                changes.write({"billing_state": "invoiced", "move_id": moves_by_sub[sub.id].id})
        for items, sub_ids in grouped.items():
            Sub.browse(sub_ids).with_context(mail_notrack=True).write(dict(items))
        if one_time_lines:
            one_time_lines.write({"one_time_billed": True})

    def _q2c_invoice_changes(self, sub, changes):
        """Invoice the proration of ``changes`` now (an upgrade billed at once)."""
        changes = changes.filtered(lambda change: change.billing_state == "pending")
        charges = changes._q2c_charges()
        if not charges:
            return self.env["account.move"]
        cache = sub._q2c_line_cache()
        plan = {
            "sub": sub,
            "charges": charges,
            "line_vals": [sub._q2c_prepare_move_line_vals(charge, cache) for charge in charges],
        }
        day = fields.Date.context_today(self)
        move = self._q2c_create_invoices([plan], day)[sub.id]
        # Superuser: the history is read-only for users; the engine records the invoice.
        changes.sudo().write({"billing_state": "invoiced", "move_id": move.id})
        return move
