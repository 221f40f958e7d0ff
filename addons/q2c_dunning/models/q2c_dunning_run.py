import logging
import time
from datetime import date as date_type
from datetime import datetime, timedelta

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

_logger = logging.getLogger(__name__)

RESULT_KEYS = ("retried", "reminded", "suspended", "cancelled", "recovered")
# Cases (and invoices to open) handled per cron call; the cron runs again while work remains.
CRON_BATCH_SIZE = 2000


class Q2cDunningRun(models.Model):
    """One execution of dunning for a date: what it opened, retried, reminded, suspended,
    cancelled and recovered, and how long it took. ``run_dunning(date)`` and the daily cron run
    the same code; a second run for the same date finds nothing left to do (every step is
    claimed once per case by a unique row of the case's timeline)."""

    _name = "q2c.dunning.run"
    _description = "Dunning Run"
    _order = "id desc"

    name = fields.Char(compute="_compute_name", store=True)
    date = fields.Date(required=True, readonly=True)
    trigger = fields.Selection(
        [("cron", "Scheduled"), ("manual", "Manual"), ("api", "API")],
        required=True,
        readonly=True,
        default="manual",
    )
    user_id = fields.Many2one("res.users", readonly=True, default=lambda self: self.env.user)
    company_ids = fields.Many2many("res.company", string="Companies", readonly=True)
    evaluated = fields.Integer(readonly=True, help="Invoices and cases examined.")
    opened = fields.Integer(readonly=True)
    retried = fields.Integer(readonly=True)
    reminded = fields.Integer(readonly=True)
    pre_due = fields.Integer(string="Pre-Due Reminders", readonly=True)
    suspended = fields.Integer(readonly=True)
    cancelled = fields.Integer(readonly=True)
    recovered = fields.Integer(readonly=True)
    fees = fields.Integer(readonly=True)
    errors = fields.Integer(readonly=True)
    remaining = fields.Integer(readonly=True, help="Work left for the next call (cron batches).")
    duration = fields.Float(string="Duration (s)", readonly=True, digits=(16, 3))

    @api.depends("date", "trigger")
    def _compute_name(self):
        for run in self:
            run.name = _("Dunning of %(date)s", date=run.date) if run.date else _("Dunning")

    # ------------------------------------------------------------------
    # Public API (API.md)
    # ------------------------------------------------------------------

    @api.model
    def run_dunning(self, date):
        """Run dunning for ``date`` (ISO string or date) over the user's companies:
        open cases for failed or past-due subscription invoices, close the paid ones, run the
        steps due. Returns ``{"retried", "reminded", "suspended", "cancelled", "recovered"}``.
        Idempotent for a date; safe with concurrent runs."""
        self.check_access("create")
        day = self._q2c_to_date(date)
        # sudo: dunning charges, mails and suspends on behalf of the company (access checked
        # above); every record touched belongs to the user's companies.
        result = self.sudo()._q2c_run(day, self.env.companies, trigger="api")
        return {key: result[key] for key in RESULT_KEYS}

    def action_run_now(self):
        self.check_access("create")
        run = self.sudo()._q2c_run(
            fields.Date.context_today(self), self.env.companies, trigger="manual"
        )["run"]
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": run.id,
            "views": [(False, "form")],
        }

    # ------------------------------------------------------------------
    # Cron
    # ------------------------------------------------------------------

    @api.model
    def _cron_run_dunning(self, limit=CRON_BATCH_SIZE):
        """Daily: a bounded batch per company and call; reports progress so that the cron
        runs again at once while work remains."""
        done = remaining = 0
        # sudo: the cron acts for every company (it runs as the superuser anyway).
        for company in self.env["res.company"].sudo().search([]):
            runner = self.sudo().with_company(company)
            day = fields.Date.context_today(runner)
            result = runner._q2c_run(day, company, trigger="cron", limit=limit)
            done += result["evaluated"]
            remaining += result["remaining"]
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return remaining

    # ------------------------------------------------------------------
    # Engine
    # ------------------------------------------------------------------

    def _q2c_run(self, day, companies, trigger="manual", limit=None):
        """Run dunning for ``day`` in ``companies``; create the run record. Returns the
        counters plus ``"run"``, ``"evaluated"``, ``"remaining"``."""
        started = time.perf_counter()
        Case = self.env["q2c.dunning.case"]
        stats = dict.fromkeys(
            (*RESULT_KEYS, "opened", "pre_due", "fees", "errors", "evaluated", "remaining"), 0
        )
        # 1. Close what got paid (or reversed) since the last run.
        recovered, cancelled = Case._q2c_sync_closed(day, companies)
        stats["recovered"] += len(recovered)
        # 2. Open cases for failed or past-due subscription invoices.
        opened, candidates, more = self.env["account.move"]._q2c_dunning_open_cases(
            day, companies, limit=limit
        )
        stats["opened"] = len(opened)
        stats["evaluated"] += candidates
        stats["remaining"] += more
        # 3. Run the steps due.
        domain = [
            ("state", "=", "open"),
            ("company_id", "in", companies.ids),
            ("next_action_date", "<=", day),
        ]
        cases = Case.search(domain, order="next_action_date, id", limit=limit)
        if limit and len(cases) == limit:
            stats["remaining"] += Case.search_count(domain) - limit
        # The cases just opened: their steps due today too (those inserted with the state the
        # steps leave them in are not found by their next action date).
        cases |= opened
        # Invoices examined: the candidates above, the cases due (those just opened counted
        # once) and the cases closed.
        stats["evaluated"] += len(cases - opened) + len(recovered) + len(cancelled)
        if cases:
            keys = cases._q2c_done_keys()
            items = cases._q2c_due_items(day, keys)
            step_stats = Case._q2c_execute(items, day, opened=opened)
            for key, value in step_stats.items():
                stats[key] += value
            # Cases whose work was all claimed by a concurrent run (still due here) move on;
            # the others were rescheduled after their steps ran.
            cases.filtered(
                lambda case: (
                    case.state == "open" and case.next_action_date and case.next_action_date <= day
                )
            )._q2c_reschedule()
        # 4. Courtesy reminders before the due date.
        stats["pre_due"] = self.env["account.move"]._q2c_dunning_pre_due(day, companies, limit)
        stats["run"] = self.create(
            {
                "date": day,
                "trigger": trigger,
                "company_ids": [fields.Command.set(companies.ids)],
                "duration": time.perf_counter() - started,
                **{
                    key: stats[key]
                    for key in (
                        *RESULT_KEYS,
                        "opened",
                        "pre_due",
                        "fees",
                        "errors",
                        "evaluated",
                        "remaining",
                    )
                },
            }
        )
        _logger.info(
            "q2c dunning %s: %s evaluated, %s opened, %s retried, %s reminded, %s suspended, "
            "%s cancelled, %s recovered in %.2fs",
            day,
            stats["evaluated"],
            stats["opened"],
            stats["retried"],
            stats["reminded"],
            stats["suspended"],
            stats["cancelled"],
            stats["recovered"],
            stats["run"].duration,
        )
        return stats

    @api.model
    def _q2c_to_date(self, value):
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date_type):
            return value
        if isinstance(value, str):
            try:
                return date_type.fromisoformat(value.strip()[:10])
            except ValueError:
                pass
        raise ValidationError(
            _("The field 'date' must be a date (YYYY-MM-DD), got %(value)r.", value=value)
        )

    @api.autovacuum
    def _gc_old_runs(self):
        """Keep a year of run records."""
        limit = fields.Date.context_today(self) - timedelta(days=366)
        self.search([("date", "<", limit)]).unlink()
