import logging
from collections import defaultdict
from datetime import timedelta

import psycopg2

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, float_round, mute_logger, sql

_logger = logging.getLogger(__name__)

ACTIVE_STATES = ("open", "paused")
PAID_STATES = ("paid", "in_payment")
STAGES = [
    ("new", "New"),
    ("retrying", "Retrying"),
    ("reminded", "Reminded"),
    ("suspended", "Suspended"),
    ("cancelled", "Subscription Cancelled"),
    ("closed", "Closed"),
]
STAGE_RANK = {stage: rank for rank, (stage, __) in enumerate(STAGES)}
ACTION_STAGE = {
    "retry_payment": "retrying",
    "send_reminder": "reminded",
    "suspend": "suspended",
    "cancel": "cancelled",
}
# The values of a case opened set-based (_q2c_insert_cases), those required, and the defaults
# of the other fields it relies on.
INSERT_FIELDS = (
    "name",
    "invoice_id",
    "partner_id",
    "subscription_id",
    "subscription_ids",
    "policy_id",
    "company_id",
    "currency_id",
    "failed_amount",
    "failed_amount_company",
    "origin",
    "start_date",
    "schedule_date",
    "attempt_base",
)
INSERT_REQUIRED = (
    "name",
    "invoice_id",
    "partner_id",
    "policy_id",
    "company_id",
    "currency_id",
    "origin",
    "start_date",
    "schedule_date",
)
INSERT_DEFAULTS = {"state": "open", "stage": "new"}
# Payment transaction operations made by the customer (portal, payment link).
CUSTOMER_OPERATIONS = ("online_redirect", "online_direct", "online_token")


class Q2cDunningCase(models.Model):
    """The collection of one unpaid subscription invoice.

    A case opens when the automatic payment of a posted subscription invoice fails (start: the
    failure date) or when the invoice falls due unpaid (start: the due date). Its policy's steps
    run ``delay_days`` after ``schedule_date`` (the start, moved later by the days the case was
    paused). It ends *recovered* the moment the invoice is paid (by a retry, by the customer in
    the portal, by a payment registered by hand), or *cancelled* (invoice reversed or reset, or
    by a user). One case at most is open or paused per invoice (partial unique index).
    """

    _name = "q2c.dunning.case"
    _description = "Dunning Case"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "start_date desc, id desc"
    _check_company_auto = True

    # Not indexed (nor state, company_id): see _q2c_drop_unused_indexes.
    name = fields.Char(required=True, readonly=True)
    invoice_id = fields.Many2one(
        "account.move",
        string="Invoice",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
        check_company=True,
    )
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, readonly=True, index=True
    )
    subscription_id = fields.Many2one(
        "q2c.subscription",
        string="Subscription",
        readonly=True,
        index="btree_not_null",
        help="The first subscription the invoice bills.",
    )
    subscription_ids = fields.Many2many(
        "q2c.subscription",
        "q2c_dunning_case_subscription_rel",
        "case_id",
        "subscription_id",
        string="Subscriptions",
        readonly=True,
        help="Every subscription the invoice bills: suspension and cancellation apply to all.",
    )
    policy_id = fields.Many2one(
        "q2c.dunning.policy",
        string="Policy",
        required=True,
        ondelete="restrict",
        tracking=True,
        check_company=True,
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    company_currency_id = fields.Many2one(
        related="company_id.currency_id", string="Company Currency"
    )
    amount_due = fields.Monetary(related="invoice_id.amount_residual", string="Amount Due")
    failed_amount = fields.Monetary(
        readonly=True, help="The amount due when the case opened (invoice currency)."
    )
    failed_amount_company = fields.Monetary(
        string="Failed Amount (company currency)",
        currency_field="company_currency_id",
        readonly=True,
    )
    state = fields.Selection(
        [
            ("open", "Open"),
            ("paused", "Paused"),
            ("recovered", "Recovered"),
            ("cancelled", "Cancelled"),
        ],
        default="open",
        required=True,
        readonly=True,
        tracking=True,
    )
    stage = fields.Selection(
        STAGES,
        default="new",
        required=True,
        readonly=True,
        group_expand=True,
        help="How far the schedule went: retrying, reminded, suspended, cancelled; closed once "
        "recovered or cancelled.",
    )
    origin = fields.Selection(
        [("payment_failed", "Automatic Payment Failed"), ("past_due", "Past Due")],
        required=True,
        readonly=True,
    )
    start_date = fields.Date(
        required=True, readonly=True, help="The failed payment date, or the invoice due date."
    )
    schedule_date = fields.Date(
        required=True,
        readonly=True,
        help="The steps' delays count from this date: the start date, later by the days the "
        "case was paused.",
    )
    paused_date = fields.Date(readonly=True)
    current_step_id = fields.Many2one(
        "q2c.dunning.step", string="Last Step", readonly=True, ondelete="set null"
    )
    next_step_id = fields.Many2one(
        "q2c.dunning.step", string="Next Step", readonly=True, ondelete="set null"
    )
    next_action_date = fields.Date(readonly=True, index=True)
    last_action_date = fields.Date(readonly=True)
    hard_decline = fields.Boolean(
        readonly=True,
        tracking=True,
        help="The payment method was refused for good (lost, stolen, closed, invalid): no more "
        "retries with it; the customer is asked for a new one.",
    )
    decline_code = fields.Char(readonly=True)
    hard_decline_date = fields.Date(readonly=True)
    declined_token_id = fields.Many2one("payment.token", readonly=True, ondelete="set null")
    attempt_base = fields.Integer(
        readonly=True,
        help="Technical: automatic payment attempts of the invoice before the case opened.",
    )
    suspended = fields.Boolean(
        string="Past Suspension",
        readonly=True,
        help="The suspension step ran: the invoice counts as doubtful while the case is open.",
    )
    recovered_date = fields.Date(readonly=True)
    recovered_amount = fields.Monetary(readonly=True)
    recovered_amount_company = fields.Monetary(currency_field="company_currency_id", readonly=True)
    recovery_channel = fields.Selection(
        [("retry", "Payment Retry"), ("portal", "Customer Portal"), ("manual", "Manual")],
        readonly=True,
    )
    recovery_step_id = fields.Many2one(
        "q2c.dunning.step",
        string="Recovered After",
        readonly=True,
        ondelete="set null",
        help="The last step executed before the invoice was paid.",
    )
    log_ids = fields.One2many("q2c.dunning.case.log", "case_id", string="Timeline")
    days_open = fields.Integer(compute="_compute_days_open")
    suspend_date = fields.Date(
        compute="_compute_milestones", help="When the subscription is suspended if unpaid."
    )
    cancel_date = fields.Date(
        compute="_compute_milestones", help="When the subscription is cancelled if unpaid."
    )
    invoice_date_due = fields.Date(related="invoice_id.invoice_date_due")

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("start_date", "state", "recovered_date")
    def _compute_days_open(self):
        today = fields.Date.context_today(self)
        for case in self:
            end = case.recovered_date or today
            case.days_open = max((end - case.start_date).days, 0) if case.start_date else 0

    @api.depends("schedule_date", "policy_id.step_ids.delay_days", "policy_id.step_ids.action")
    def _compute_milestones(self):
        table = self.filtered("policy_id")._q2c_step_table()
        # Cases of the same policy scheduled the same day (a run's batch) share their dates:
        # computed and assigned once per group.
        groups = defaultdict(list)
        for case in self:
            groups[case.policy_id.id, case.schedule_date].append(case.id)
        for (policy_id, schedule_date), ids in groups.items():
            dates = {}
            steps = table[policy_id]["steps"] if policy_id else []
            for delay, __, __, action in steps:
                if action in ("suspend", "cancel") and action not in dates:
                    dates[action] = schedule_date + timedelta(days=delay)
            cases = self.browse(ids)
            cases.suspend_date = dates.get("suspend", False)
            cases.cancel_date = dates.get("cancel", False)

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    def init(self):
        res = super().init()
        self.env.cr.execute(
            SQL(
                """
                CREATE UNIQUE INDEX IF NOT EXISTS q2c_dunning_case_invoice_active_uniq
                    ON q2c_dunning_case (invoice_id)
                 WHERE state IN ('open', 'paused')
                """
            )
        )
        self._q2c_drop_unused_indexes()
        return res

    def _q2c_drop_unused_indexes(self):
        """Drop the indexes of earlier versions that no query needs; each costs every case
        opened and every step (a step's update writes a new row version into each index).

        - ``name`` (trigram): only the search view's text search uses it; a sequential scan
          answers it in tens of milliseconds on 100,000 cases;
        - ``state``: the run, the policies and the suspension look for open or paused cases,
          served by the partial unique index on open and paused cases
          (``q2c_dunning_case_invoice_active_uniq``) or by ``next_action_date``; the
          recovered and cancelled filters select most of the table (sequential scan anyway);
        - ``company_id``: one or a few companies (no selectivity); the multi-company rule
          filters rows found by another index;
        - timeline ``case_id``: the unique index on (``case_id``, ``claim_key``) starts with
          it; timeline ``company_id``: the timelines are read by case only.
        """
        for table, column in (
            ("q2c_dunning_case", "name"),
            ("q2c_dunning_case", "state"),
            ("q2c_dunning_case", "company_id"),
            ("q2c_dunning_case_log", "case_id"),
            ("q2c_dunning_case_log", "company_id"),
        ):
            sql.drop_index(self.env.cr, f"{table}__{column}_index", table)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get("schedule_date"):
                vals["schedule_date"] = vals.get("start_date")
            if not vals.get("name") and vals.get("invoice_id"):
                vals["name"] = self.env["account.move"].browse(vals["invoice_id"]).name
        cases = super().create(vals_list)
        self.env["q2c.dunning.case.log"].create(
            [case._prepare_log_vals("open", note=case._q2c_origin_note()) for case in cases]
        )
        cases._q2c_reschedule()
        return cases

    @api.ondelete(at_uninstall=False)
    def _unlink_except_active(self):
        if self.filtered(lambda case: case.state in ACTIVE_STATES):
            raise UserError(_("An open dunning case cannot be deleted; cancel it first."))

    # ------------------------------------------------------------------
    # Actions (buttons)
    # ------------------------------------------------------------------

    def action_skip_step(self):
        """Skip the next step of each open case (logged as skipped by the user)."""
        self._q2c_check_state(("open",), _("skip a step of"))
        day = fields.Date.context_today(self)
        items = []
        for case in self:
            step = case.next_step_id
            if not step:
                raise UserError(_("%(case)s has no step left to skip.", case=case.name))
            items.append(case._q2c_item(step, "step", day))
        claimed = self.env["q2c.dunning.case.log"]._q2c_claim(items, day)
        for item in items:
            item["log_id"] = claimed.get((item["case"].id, item["key"]))
            item.update(result="skipped", note=_("Skipped by %(user)s.", user=self.env.user.name))
        self.env["q2c.dunning.case.log"]._q2c_set_results(items)
        self._q2c_reschedule()
        return True

    def action_escalate(self):
        """Run the next step of each open case now."""
        self._q2c_check_state(("open",), _("escalate"))
        day = fields.Date.context_today(self)
        for case in self:
            if not case.next_step_id:
                raise UserError(_("%(case)s has no step left to run.", case=case.name))
        items = [case._q2c_item(case.next_step_id, "step", day) for case in self]
        self._q2c_execute(items, day)
        return True

    def action_pause(self):
        """Stop the schedule until the case is resumed; the steps move later by the pause."""
        self._q2c_check_state(("open",), _("pause"))
        day = fields.Date.context_today(self)
        self.write({"state": "paused", "paused_date": day, "next_action_date": False})
        self.env["q2c.dunning.case.log"].create(
            [case._prepare_log_vals("pause", date=day) for case in self]
        )
        return True

    def action_resume(self):
        """Restart the schedule; every step not run yet moves later by the days paused."""
        self._q2c_check_state(("paused",), _("resume"))
        day = fields.Date.context_today(self)
        for case in self:
            shift = max((day - (case.paused_date or day)).days, 0)
            case.write(
                {
                    "state": "open",
                    "paused_date": False,
                    "schedule_date": case.schedule_date + timedelta(days=shift),
                }
            )
        self.env["q2c.dunning.case.log"].create(
            [case._prepare_log_vals("resume", date=day) for case in self]
        )
        self._q2c_reschedule()
        return True

    def action_mark_recovered(self):
        """The amount due was collected outside Odoo's payments: close as recovered (manual)
        and resume the subscriptions dunning suspended."""
        self._q2c_check_state(ACTIVE_STATES, _("mark as recovered"))
        self._q2c_set_recovered("manual", fields.Date.context_today(self), by_user=True)
        return True

    def action_cancel(self):
        """Stop dunning this invoice for good (e.g. written off); it is not dunned again."""
        self._q2c_check_state(ACTIVE_STATES, _("cancel"))
        self.invoice_id.sudo().q2c_dunning_excluded = True  # sudo: flag on the invoice
        self._q2c_set_cancelled(
            fields.Date.context_today(self), _("Cancelled by %(user)s.", user=self.env.user.name)
        )
        return True

    def action_print_letter(self):
        return self.env.ref("q2c_dunning.q2c_dunning_letter_report").report_action(self)

    def action_view_invoice(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "account.move",
            "res_id": self.invoice_id.id,
            "views": [(False, "form")],
        }

    # ------------------------------------------------------------------
    # Opening
    # ------------------------------------------------------------------

    @api.model
    def _q2c_prepare_case_vals(self, invoice, policy, origin, start, tx=None):
        company_amount = abs(invoice.amount_residual_signed)
        sub_lines = invoice.invoice_line_ids.filtered("q2c_subscription_id")
        subscriptions = sub_lines.q2c_subscription_id
        vals = {
            "name": invoice.name,
            "invoice_id": invoice.id,
            "partner_id": invoice.commercial_partner_id.id,
            "subscription_id": subscriptions[:1].id,
            "subscription_ids": [fields.Command.set(subscriptions.ids)],
            "policy_id": policy.id,
            "company_id": invoice.company_id.id,
            "currency_id": invoice.currency_id.id,
            "failed_amount": invoice.amount_residual,
            "failed_amount_company": company_amount,
            "origin": origin,
            "start_date": start,
            "schedule_date": start,
            "attempt_base": self._q2c_attempt_count(invoice),
        }
        if tx and tx._fields.get("q2c_is_hard_decline") and tx.q2c_is_hard_decline:
            vals.update(self._q2c_hard_decline_vals(tx, start))
        return vals

    @api.model
    def _q2c_hard_decline_vals(self, tx, day):
        return {
            "hard_decline": True,
            "decline_code": tx.q2c_decline_code,
            "declined_token_id": tx.token_id.id,
            "hard_decline_date": day,
        }

    @api.model
    def _q2c_attempt_count(self, invoice):
        if "q2c_payment_attempt_count" in invoice._fields:
            return invoice.q2c_payment_attempt_count
        return 0

    @api.model
    def _q2c_create_cases(self, vals_list, day=None):
        """Create cases, skipping invoices another transaction opened a case for meanwhile
        (the partial unique index refuses a second open case). The values the set-based path
        knows (``_q2c_insertable``) are inserted in a few statements (``_q2c_insert_cases``),
        the others created by the ORM (``_q2c_create_cases_orm``): the same records. The
        invoices and their subscriptions get their portal access tokens."""
        fast, slow = [], []
        insertable = self._q2c_insertable(vals_list)
        for vals, ok in zip(vals_list, insertable, strict=True):
            (fast if ok else slow).append(vals)
        cases = self._q2c_insert_cases(fast, day=day) if fast else self.browse()
        if slow:
            cases |= self._q2c_create_cases_orm(slow)
        # The reminders link to the portal pages of the invoices and subscriptions: they get
        # their access tokens now (set-based: the invoices' with their dunning fields).
        cases.invoice_id._q2c_dunning_ensure_portal_tokens()
        return cases

    @api.model
    def _q2c_create_cases_orm(self, vals_list):
        """Create cases by the ORM (one by one after a conflict with a concurrent run)."""
        Case = self.with_context(tracking_disable=True, mail_create_nolog=True)
        try:
            # The conflict is expected under concurrency: not an error worth logging.
            with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                return Case.create(vals_list)
        except psycopg2.errors.UniqueViolation:
            _logger.info("q2c dunning: cases opened concurrently, creating one by one")
        cases = self.browse()
        for vals in vals_list:
            try:
                with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                    cases |= Case.create([vals])
            except psycopg2.errors.UniqueViolation:
                continue
        return cases

    @api.model
    def _q2c_insertable(self, vals_list):
        """For each of ``vals_list``, whether ``_q2c_insert_cases`` knows it: the values of
        ``_q2c_prepare_case_vals`` without a hard decline, required values given, the policy
        and the invoice of the case's company, no default of another module or user. The
        context key ``q2c_dunning_orm_open`` sends everything to the ORM."""
        if not vals_list or self.env.context.get("q2c_dunning_orm_open"):
            return [False] * len(vals_list)
        missing = [
            name
            for name, field in self._fields.items()
            if field.store
            and field.column_type
            and not field.automatic
            and name not in INSERT_FIELDS
        ]
        if self.default_get(missing) != INSERT_DEFAULTS:
            return [False] * len(vals_list)
        policies = self.env["q2c.dunning.policy"].browse(
            {vals.get("policy_id") for vals in vals_list} - {None, False}
        )
        policy_company = {policy.id: policy.company_id.id for policy in policies}
        invoices = self.env["account.move"].browse(
            {vals.get("invoice_id") for vals in vals_list} - {None, False}
        )
        invoice_company = {invoice.id: invoice.company_id.id for invoice in invoices}
        result = []
        for vals in vals_list:
            command = vals.get("subscription_ids")
            result.append(
                set(vals) <= set(INSERT_FIELDS)
                and all(vals.get(name) for name in INSERT_REQUIRED)
                and policy_company[vals["policy_id"]] in (False, vals["company_id"])
                and invoice_company[vals["invoice_id"]] == vals["company_id"]
                and (
                    command is None
                    or (
                        len(command) == 1
                        and command[0][0] == fields.Command.SET
                        and all(isinstance(sub_id, int) for sub_id in command[0][2])
                    )
                )
            )
        return result

    @api.model
    def _q2c_insert_cases(self, vals_list, day=None):
        """Open the cases of ``vals_list`` (known to ``_q2c_insertable``) set-based: the cases,
        their subscriptions and the *open* rows of their timelines inserted in one statement
        each, their next step computed from the policies' steps, and the invoices' case and
        collectibility written in one statement; the same records as the ORM's ``create``
        (compared field by field in a test). An invoice that already has an open case (a
        concurrent run) is skipped, as by ``_q2c_create_cases_orm``.

        ``day``: the day of the run opening them, which then runs their steps due (see
        ``_q2c_opening_day_state``): a case whose steps due that day are reminders only is
        inserted with the state they leave it in, so that the run does not update rows it
        just inserted (PostgreSQL then checks every foreign key of the row again)."""
        Move = self.env["account.move"]
        self.env.flush_all()
        table = self._q2c_policy_table(
            self.env["q2c.dunning.policy"].browse({vals["policy_id"] for vals in vals_list})
        )
        Currency = self.env["res.currency"]
        Company = self.env["res.company"]
        columns = defaultdict(list)
        roundings, company_roundings = {}, {}
        # The subscriptions with a saved payment method (a retry due would charge it).
        with_token = set()
        if day:
            subscriptions = self.env["q2c.subscription"].browse(
                {sub_id for vals in vals_list for sub_id in self._q2c_vals_subscription_ids(vals)}
            )
            subscriptions.fetch(["payment_token_id"])
            with_token = set(subscriptions.filtered("payment_token_id").ids)
        for vals in vals_list:
            start = fields.Date.to_date(vals["start_date"])
            schedule = fields.Date.to_date(vals["schedule_date"])
            policy = table[vals["policy_id"]]
            # As _q2c_next_action for a case with nothing done and no hard decline.
            next_step, dates = self._q2c_policy_next(policy, schedule, set(), False)
            state = None
            if day:
                chargeable = bool(set(self._q2c_vals_subscription_ids(vals)) & with_token)
                state = self._q2c_opening_day_state(policy, schedule, day, chargeable)
            if state is None:
                state = {
                    "current_step_id": None,
                    "last_action_date": None,
                    "stage": "new",
                    "next_step_id": next_step,
                    "next_action_date": min(dates) if dates else None,
                }
            for name, value in state.items():
                columns[name].append(value)
            if vals["currency_id"] not in roundings:
                roundings[vals["currency_id"]] = Currency.browse(vals["currency_id"]).rounding
            if vals["company_id"] not in company_roundings:
                company_roundings[vals["company_id"]] = Company.browse(
                    vals["company_id"]
                ).currency_id.rounding
            columns["name"].append(vals["name"])
            columns["invoice_id"].append(vals["invoice_id"])
            columns["partner_id"].append(vals["partner_id"])
            columns["subscription_id"].append(vals.get("subscription_id") or None)
            columns["policy_id"].append(vals["policy_id"])
            columns["company_id"].append(vals["company_id"])
            columns["currency_id"].append(vals["currency_id"])
            # Rounded as the ORM stores monetary values (res.currency.round).
            columns["failed_amount"].append(
                float_round(
                    vals.get("failed_amount") or 0.0,
                    precision_rounding=roundings[vals["currency_id"]],
                )
            )
            columns["failed_amount_company"].append(
                float_round(
                    vals.get("failed_amount_company") or 0.0,
                    precision_rounding=company_roundings[vals["company_id"]],
                )
            )
            columns["origin"].append(vals["origin"])
            columns["start_date"].append(start)
            columns["schedule_date"].append(schedule)
            columns["attempt_base"].append(vals.get("attempt_base") or 0)
        now, uid = self.env.cr.now(), self.env.uid
        rows = self.env.execute_query(
            SQL(
                """
                INSERT INTO q2c_dunning_case (
                    name, invoice_id, partner_id, subscription_id, policy_id, company_id,
                    currency_id, failed_amount, failed_amount_company, origin, start_date,
                    schedule_date, attempt_base, next_step_id, next_action_date,
                    current_step_id, last_action_date, state, stage,
                    create_uid, create_date, write_uid, write_date
                )
                SELECT c.name, c.invoice_id, c.partner_id, c.subscription_id, c.policy_id,
                       c.company_id, c.currency_id, c.failed_amount, c.failed_amount_company,
                       c.origin, c.start_date, c.schedule_date, c.attempt_base, c.next_step_id,
                       c.next_action_date, c.current_step_id, c.last_action_date, 'open',
                       c.stage, %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM unnest(%(name)s::varchar[], %(invoice_id)s::int[], %(partner_id)s::int[],
                              %(subscription_id)s::int[], %(policy_id)s::int[],
                              %(company_id)s::int[], %(currency_id)s::int[],
                              %(failed_amount)s::numeric[], %(failed_amount_company)s::numeric[],
                              %(origin)s::varchar[], %(start_date)s::date[],
                              %(schedule_date)s::date[], %(attempt_base)s::int[],
                              %(next_step_id)s::int[], %(next_action_date)s::date[],
                              %(current_step_id)s::int[], %(last_action_date)s::date[],
                              %(stage)s::varchar[])
                       WITH ORDINALITY AS c(name, invoice_id, partner_id, subscription_id,
                                            policy_id, company_id, currency_id, failed_amount,
                                            failed_amount_company, origin, start_date,
                                            schedule_date, attempt_base, next_step_id,
                                            next_action_date, current_step_id, last_action_date,
                                            stage, position)
              ORDER BY c.position
                    ON CONFLICT (invoice_id) WHERE state IN ('open', 'paused') DO NOTHING
             RETURNING id, invoice_id
                """,
                uid=uid,
                now=now,
                **columns,
            )
        )
        if len(rows) < len(vals_list):
            _logger.info("q2c dunning: %s cases opened concurrently", len(vals_list) - len(rows))
        case_of = {invoice_id: case_id for case_id, invoice_id in rows}
        if not case_of:
            return self.browse()
        pairs = [
            (case_of[vals["invoice_id"]], sub_id)
            for vals in vals_list
            if vals["invoice_id"] in case_of
            for sub_id in dict.fromkeys(self._q2c_vals_subscription_ids(vals))
        ]
        if pairs:
            self.env.execute_query(
                SQL(
                    """
                    INSERT INTO q2c_dunning_case_subscription_rel (case_id, subscription_id)
                    SELECT * FROM unnest(%s::int[], %s::int[])
                    """,
                    [case_id for case_id, __ in pairs],
                    [sub_id for __, sub_id in pairs],
                )
            )
        opened = [vals for vals in vals_list if vals["invoice_id"] in case_of]
        # The notes repeat: each is translated once.
        notes = {}
        for vals in opened:
            key = (vals["origin"], vals["start_date"])
            if key not in notes:
                notes[key] = self._q2c_origin_note_for(*key)
        self.env.execute_query(
            SQL(
                """
                INSERT INTO q2c_dunning_case_log (
                    case_id, company_id, action, date, result, note, user_id,
                    create_uid, create_date, write_uid, write_date
                )
                SELECT l.case_id, l.company_id, 'open', %(day)s, 'done', l.note, %(uid)s,
                       %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM unnest(%(case_ids)s::int[], %(company_ids)s::int[], %(notes)s::varchar[])
                       WITH ORDINALITY AS l(case_id, company_id, note, position)
              ORDER BY l.position
                """,
                day=fields.Date.context_today(self),
                uid=uid,
                now=now,
                case_ids=[case_of[vals["invoice_id"]] for vals in opened],
                company_ids=[vals["company_id"] for vals in opened],
                notes=[notes[vals["origin"], vals["start_date"]] for vals in opened],
            )
        )
        # The invoices' stored computes (_compute_q2c_dunning): their new open case, not past
        # suspension, hence collectible; and their portal token (see _q2c_create_cases), in
        # the same statement.
        self.env.execute_query(
            SQL(
                """
                UPDATE account_move AS move
                   SET q2c_dunning_case_id = u.case_id,
                       q2c_collectibility = 'collectible',
                       access_token = COALESCE(move.access_token, gen_random_uuid()::text),
                       write_uid = %(uid)s,
                       write_date = %(now)s
                  FROM unnest(%(invoice_ids)s::int[], %(case_ids)s::int[]) AS u(id, case_id)
                 WHERE move.id = u.id
                """,
                uid=uid,
                now=now,
                invoice_ids=list(case_of),
                case_ids=list(case_of.values()),
            )
        )
        cases = self.browse([case_of[vals["invoice_id"]] for vals in opened])
        invoices = Move.browse(list(case_of))
        # What the ORM's create would have done to the caches and the fields depending on the
        # new rows: everything depending on them marked, the invoices' fields written above
        # taken off the computations, the records read again from the database.
        self._q2c_invalidate_after_insert(invoices)
        cases.modified([name for name in INSERT_FIELDS if name in self._fields], create=True)
        dunning_fields = [Move._fields["q2c_dunning_case_id"], Move._fields["q2c_collectibility"]]
        for field in dunning_fields:
            self.env.remove_to_compute(field, invoices)
        invoices.modified([field.name for field in dunning_fields])
        return cases

    @api.model
    def _q2c_vals_subscription_ids(self, vals):
        """The subscription ids of case values (their ``subscription_ids`` command)."""
        command = vals.get("subscription_ids")
        return command[0][2] if command else []

    @api.model
    def _q2c_opening_day_state(self, policy, schedule, day, chargeable):
        """The step columns (``current_step_id``, ``last_action_date``, ``stage``,
        ``next_step_id``, ``next_action_date``) a case opened by the run of ``day`` has once
        that run ran its steps due, as ``_q2c_after_steps`` writes them, when those steps are
        reminders (queued) and retries of a case without a saved payment method
        (``chargeable`` false: skipped); None otherwise (a charge, a suspension, a
        cancellation or a fee due that day). ``policy``: its row of ``_q2c_policy_table``.

        Should a reminder not go (no template, an error), ``_q2c_after_steps`` writes what
        happened instead: the run's outcome is the same either way."""
        steps = policy["steps"]
        due = [step for step in steps if schedule + timedelta(days=step[0]) <= day]
        actions = {step[3] for step in due}
        if not due or not actions <= {"send_reminder", "retry_payment"}:
            return None
        if chargeable and "retry_payment" in actions:
            return None
        fee = policy["fee"]
        if fee is not None and schedule + timedelta(days=fee) <= day:
            return None
        next_step, dates = self._q2c_policy_next(policy, schedule, {step[2] for step in due}, False)
        return {
            # The last of the steps in run order (delay, sequence, id), as _q2c_after_steps.
            "current_step_id": max(due)[2],
            "last_action_date": day,
            "stage": ACTION_STAGE["send_reminder"] if "send_reminder" in actions else "new",
            "next_step_id": next_step,
            "next_action_date": min(dates) if dates else None,
        }

    @api.model
    def _q2c_invalidate_after_insert(self, invoices):
        """Drop the cached values the statements of ``_q2c_insert_cases`` changed: the cases,
        the timelines, the invoices' dunning fields and every one2many or many2many of another
        model over the cases or their timelines."""
        Log = self.env["q2c.dunning.case.log"]
        for Model in (self, Log):
            Model.invalidate_model()
            for field in Model._fields.values():
                for inverse in self.pool.field_inverses[field]:
                    self.env[inverse.model_name].invalidate_model([inverse.name])
        invoices.invalidate_recordset(
            ["q2c_dunning_case_id", "q2c_collectibility", "access_token", "write_uid", "write_date"]
        )

    def _q2c_origin_note(self):
        self.ensure_one()
        return self._q2c_origin_note_for(
            self.origin, self.start_date, self.hard_decline, self.decline_code
        )

    @api.model
    def _q2c_origin_note_for(self, origin, start, hard_decline=False, decline_code=False):
        """The note of the *open* row of the timeline of a case opened with these values."""
        start = fields.Date.to_date(start)
        if origin == "payment_failed":
            note = _("Automatic payment failed on %(date)s.", date=start)
            if hard_decline:
                note = _(
                    "%(note)s Hard decline (%(code)s): a new payment method is needed.",
                    note=note,
                    code=decline_code or "-",
                )
            return note
        return _("Invoice due on %(date)s and unpaid.", date=start)

    # ------------------------------------------------------------------
    # Schedule
    # ------------------------------------------------------------------

    def _q2c_done_keys(self):
        """``{case id: {claim keys}}`` in one query."""
        if not self.ids:
            return {}
        self.env["q2c.dunning.case.log"].flush_model(["case_id", "claim_key"])
        rows = self.env.execute_query(
            SQL(
                """
                SELECT case_id, claim_key FROM q2c_dunning_case_log
                 WHERE case_id = ANY(%s) AND claim_key IS NOT NULL
                """,
                self.ids,
            )
        )
        keys = defaultdict(set)
        for case_id, key in rows:
            keys[case_id].add(key)
        return keys

    def _q2c_payment_token(self):
        """The saved payment method the automatic payment would charge now."""
        self.ensure_one()
        invoice = self.invoice_id.sudo()
        if hasattr(invoice, "_q2c_get_autopay_token"):
            return invoice._q2c_get_autopay_token()
        return self.subscription_ids.filtered("payment_token_id")[:1].payment_token_id

    def _q2c_special_items(self, keys, day):
        """Items that are not policy steps: the notice asking for a new payment method after a
        hard decline, a retry with a new payment method, the dunning fee."""
        self.ensure_one()
        items = []
        if self.hard_decline:
            notice = self._q2c_item(None, "payment_method", day)
            if notice["key"] not in keys:
                items.append(notice)
            token = self._q2c_payment_token()
            if token and token != self.declined_token_id:
                retry = self._q2c_item(None, "new_token", day, token=token)
                if retry["key"] not in keys:
                    items.append(retry)
        policy = self.policy_id
        if policy.fee_product_id and "fee" not in keys:
            if self.schedule_date + timedelta(days=policy.fee_delay_days) <= day:
                items.append(self._q2c_item(None, "fee", day))
        return items

    def _q2c_step_table(self):
        """``{policy id: {"steps": [(delay, sequence, step id, action)], "fee": delay or
        None}}`` for the policies of these cases, steps in run order: read once per batch, so
        that deciding what is due is plain data, not ORM reads per case."""
        return self._q2c_policy_table(self.policy_id)

    @api.model
    def _q2c_policy_table(self, policies):
        """The step table (see ``_q2c_step_table``) of ``policies``."""
        table = {}
        for policy in policies:
            table[policy.id] = {
                "steps": sorted(
                    (step.delay_days, step.sequence, step.id, step.action)
                    for step in policy.step_ids
                ),
                "fee": policy.fee_delay_days if policy.fee_product_id else None,
            }
        return table

    @api.model
    def _q2c_policy_next(self, policy, schedule, done_step_ids, fee_done):
        """``(next step id or None, [dates])`` of a case under ``policy`` (its row of
        ``_q2c_policy_table``) scheduled from ``schedule``: its first step not done and the
        fee's date while the fee is not done (the hard decline's dates are the case's own)."""
        next_step, dates = None, []
        for delay, __, step_id, __ in policy["steps"]:
            if step_id not in done_step_ids:
                next_step = step_id
                dates.append(schedule + timedelta(days=delay))
                break
        if policy["fee"] is not None and not fee_done:
            dates.append(schedule + timedelta(days=policy["fee"]))
        return next_step, dates

    def _q2c_next_action(self, keys, today, table=None):
        """``(next step, next action date)`` of an open case given its done claim keys."""
        self.ensure_one()
        Step = self.env["q2c.dunning.step"]
        if self.state != "open":
            return Step, False
        policy = (table or self._q2c_step_table())[self.policy_id.id]
        done = {step_id for __, __, step_id, __ in policy["steps"] if f"step:{step_id}" in keys}
        step_id, dates = self._q2c_policy_next(policy, self.schedule_date, done, "fee" in keys)
        if self.hard_decline:
            if f"payment_method:{self.declined_token_id.id or 0}" not in keys:
                dates.append(self.hard_decline_date or today)
            token = self._q2c_payment_token()
            if token and token != self.declined_token_id and f"new_token:{token.id}" not in keys:
                dates.append(today)
        return Step.browse(step_id), min(dates) if dates else False

    def _q2c_reschedule(self, keys=None):
        """Set the next step and the next action date of these cases (batch)."""
        if not self:
            return
        if keys is None:
            keys = self._q2c_done_keys()
        today = fields.Date.context_today(self)
        table = self._q2c_step_table()
        updates = {}
        for case in self:
            step, day = case._q2c_next_action(keys.get(case.id, set()), today, table)
            if case.next_step_id != step or case.next_action_date != day:
                updates[case] = {"next_step_id": step.id, "next_action_date": day}
        self._q2c_write_grouped(updates)

    def _q2c_item(self, step, kind, day, token=None, action=None):
        """A unit of work for the run: a policy step or a special item, with its claim key
        (``action``: the step's, when the caller knows it)."""
        self.ensure_one()
        Step = self.env["q2c.dunning.step"]
        if kind in ("step", "superseded", "hard_decline"):
            key, action = f"step:{step.id}", action or step.action
        elif kind == "payment_method":
            key, action = f"payment_method:{self.declined_token_id.id or 0}", "send_reminder"
        elif kind == "new_token":
            key, action = f"new_token:{token.id}", "retry_payment"
        elif kind == "fee":
            key, action = "fee", "fee"
        else:
            raise ValueError(kind)
        return {
            "case": self,
            "step": step or Step,
            "kind": kind,
            "key": key,
            "action": action,
            "day": day,
        }

    def _q2c_due_items(self, day, keys):
        """The work due on ``day`` for these open cases. Of several due retries (or several
        due reminders) of a case, only the last runs: a run that missed days does not charge
        or mail several times at once; the others are logged as superseded."""
        items = []
        table = self._q2c_step_table()
        Step = self.env["q2c.dunning.step"]
        for case in self:
            done = keys.get(case.id, set())
            if case.hard_decline or table[case.policy_id.id]["fee"] is not None:
                items += case._q2c_special_items(done, day)
            start = case.schedule_date
            due = [
                (step_id, action)
                for delay, __, step_id, action in table[case.policy_id.id]["steps"]
                if start + timedelta(days=delay) <= day and f"step:{step_id}" not in done
            ]
            last = {action: step_id for step_id, action in due}
            for step_id, action in due:
                kind = "step"
                if action in ("retry_payment", "send_reminder") and last[action] != step_id:
                    kind = "superseded"
                elif action == "retry_payment" and case.hard_decline:
                    kind = "hard_decline"
                items.append(case._q2c_item(Step.browse(step_id), kind, day, action=action))
        return items

    # ------------------------------------------------------------------
    # Execution (shared by the run and the manual escalation)
    # ------------------------------------------------------------------

    def _q2c_execute(self, items, day, opened=None):
        """Claim ``items``, then perform those this transaction got. Returns the counters
        ``{"retried", "reminded", "suspended", "cancelled", "recovered", "fees"}``.

        ``opened``: the cases this transaction opened. No other run sees them before it
        commits, so their items are this run's without a claim: their timeline rows are
        inserted once with the outcome after they are performed (a row inserted and updated
        in one transaction has every foreign key checked again by PostgreSQL)."""
        stats = dict.fromkeys(
            ("retried", "reminded", "suspended", "cancelled", "recovered", "fees", "errors"), 0
        )
        Log = self.env["q2c.dunning.case.log"]
        # What is skipped without doing anything is decided first and written with the claim:
        # superseded steps, retries after a hard decline, and retries of cases none of whose
        # subscriptions has a saved payment method (read in batch; the automatic payment is
        # not asked).
        superseded = _("Superseded by a later step due the same day.")
        hard_declined = _("Not retried: hard decline, a new payment method is needed.")
        no_token = _("No usable saved payment method.")
        retries = [
            item
            for item in items
            if item["kind"] in ("step", "new_token") and item["action"] == "retry_payment"
        ]
        chargeable = self._q2c_cases_with_token({item["case"].id for item in retries})
        for item in items:
            if item["kind"] == "superseded":
                item.update(result="skipped", note=superseded)
            elif item["kind"] == "hard_decline":
                item.update(result="skipped", note=hard_declined)
        for item in retries:
            if item["case"].id not in chargeable:
                item.update(result="skipped", note=no_token)
        fresh_ids = set(opened.ids) if opened else set()
        fresh = [item for item in items if item["case"].id in fresh_ids]
        items = [item for item in items if item["case"].id not in fresh_ids]
        claimed = Log._q2c_claim(items, day)
        items = [item for item in items if (item["case"].id, item["key"]) in claimed]
        for item in items:
            item["log_id"] = claimed[(item["case"].id, item["key"])]
        items += fresh
        if not items:
            return stats
        cases = self.browse({item["case"].id for item in items})
        open_before = cases.filtered(lambda case: case.state == "open")

        todo = [item for item in items if "result" not in item]
        by_action = defaultdict(list)
        for item in todo:
            by_action[item["action"]].append(item)

        # 1. Retries first: a paid invoice gets no reminder.
        extra = []
        for item in by_action["retry_payment"]:
            self._q2c_perform_retry(item, day)
            if item["result"] in ("done", "failed", "pending"):
                stats["retried"] += 1
            if item.get("new_notice"):
                extra.append(item["new_notice"])
        if extra:
            # A notice of a case opened here is this run's, unless the run has one for the same
            # case and key already (a claim would not be granted twice).
            taken = {(item["case"].id, item["key"]) for item in fresh}
            fresh_extra = []
            for notice in extra:
                key = (notice["case"].id, notice["key"])
                if notice["case"].id in fresh_ids and key not in taken:
                    taken.add(key)
                    fresh_extra.append(notice)
            extra = [notice for notice in extra if notice["case"].id not in fresh_ids]
            claimed = Log._q2c_claim(extra, day)
            for notice in extra:
                notice["log_id"] = claimed.get((notice["case"].id, notice["key"]))
            extra = [notice for notice in extra if notice["log_id"]] + fresh_extra
            fresh += fresh_extra
            items += extra
            by_action["send_reminder"] += extra

        # 2. The rest, for the cases still open.
        closed = _("The case is closed.")
        for action in ("send_reminder", "suspend", "cancel", "fee"):
            live = []
            for item in by_action[action]:
                if item["case"].state != "open":
                    item.update(result="skipped", note=closed)
                else:
                    live.append(item)
            by_action[action] = live
        stats["reminded"] += self._q2c_perform_reminders(by_action["send_reminder"], day)
        stats["suspended"] += self._q2c_perform_suspensions(by_action["suspend"], day)
        stats["cancelled"] += self._q2c_perform_cancellations(by_action["cancel"], day)
        stats["fees"] += self._q2c_perform_fees(by_action["fee"], day)
        stats["errors"] += sum(1 for item in items if item.get("result") == "error")
        Log._q2c_set_results(items)
        if fresh:
            written = Log._q2c_claim(fresh, day, performed=True)
            if len(written) != len(fresh):
                # Performed but not recorded: nothing of the run may be kept.
                raise RuntimeError(
                    f"q2c dunning: {len(fresh) - len(written)} timeline rows of cases opened "
                    "by this run were already written"
                )
        stats["recovered"] += len(open_before.filtered(lambda case: case.state == "recovered"))
        self._q2c_after_steps(cases, items, day, opened=opened)
        return stats

    @api.model
    def _q2c_cases_with_token(self, case_ids):
        """The ids of the cases among ``case_ids`` one of whose subscriptions has a saved
        payment method (one query)."""
        if not case_ids:
            return set()
        self.flush_model(["subscription_ids"])
        self.env["q2c.subscription"].flush_model(["payment_token_id"])
        rows = self.env.execute_query(
            SQL(
                """
                SELECT DISTINCT rel.case_id
                  FROM q2c_dunning_case_subscription_rel rel
                  JOIN q2c_subscription sub ON sub.id = rel.subscription_id
                 WHERE rel.case_id = ANY(%s) AND sub.payment_token_id IS NOT NULL
                """,
                list(case_ids),
            )
        )
        return {row[0] for row in rows}

    def _q2c_after_steps(self, cases, items, day, opened=None):
        """Stage, last step and next action of the cases after their steps ran (one write per
        distinct set of values). ``opened``: the cases the run opened, whose stage before
        their steps was *new* (they may have been inserted with the stage their reminder
        leaves them in, see ``_q2c_opening_day_state``)."""
        fresh_ids = set(opened.ids) if opened else set()
        by_case = defaultdict(list)
        for item in items:
            by_case[item["case"].id].append(item)
        keys = cases._q2c_done_keys()
        table = cases._q2c_step_table()
        # The run order of the steps (delay, sequence, id), from the table or else read.
        order = {
            step_id: (delay, sequence, step_id)
            for policy in table.values()
            for delay, sequence, step_id, __ in policy["steps"]
        }
        missing = {item["step"].id for item in items if item["step"]} - set(order)
        for step in self.env["q2c.dunning.step"].browse(missing):
            order[step.id] = (step.delay_days, step.sequence, step.id)
        today = fields.Date.context_today(self)
        updates = {}
        for case in cases:
            if case.state != "open":
                continue
            stage = "new" if case.id in fresh_ids else case.stage
            next_step, next_day = case._q2c_next_action(keys.get(case.id, set()), today, table)
            vals = {
                "last_action_date": day,
                "next_step_id": next_step.id,
                "next_action_date": next_day,
            }
            ran = [
                item
                for item in by_case[case.id]
                if item.get("result") in ("done", "failed", "pending")
                and item["action"] in ACTION_STAGE
            ]
            for item in ran:
                new_stage = ACTION_STAGE[item["action"]]
                if STAGE_RANK[new_stage] > STAGE_RANK[stage]:
                    stage = new_stage
            steps = [item["step"].id for item in by_case[case.id] if item["step"]]
            if steps:
                vals["current_step_id"] = max(steps, key=lambda step_id: order[step_id])
            if stage != case.stage:
                vals["stage"] = stage
            updates[case] = vals
        self._q2c_write_grouped(updates)

    def _q2c_perform_retry(self, item, day):
        """Charge the saved payment method again (automatic payment of q2c_billing)."""
        case = item["case"]
        invoice = case.invoice_id.sudo()
        if not hasattr(invoice, "_q2c_autopay"):
            item.update(result="skipped", note=_("Automatic payment is not available."))
            return
        if not case._q2c_payment_token():
            item.update(result="skipped", note=_("No usable saved payment method."))
            return
        try:
            with self.env.cr.savepoint():
                tx = invoice.with_context(
                    q2c_dunning_retry=True, q2c_dunning_channel="retry"
                )._q2c_autopay()
        except psycopg2.Error:
            raise
        # Database errors (serialization) propagate; any other failure of one item is
        # recorded on its timeline and the batch goes on.
        except Exception as error:
            _logger.warning("q2c dunning: retry of %s failed", invoice.name, exc_info=True)
            item.update(result="error", note=str(error)[:500])
            return
        tx = tx[-1:] if tx else tx
        if not tx:
            item.update(result="skipped", note=_("Not charged: see the invoice's chatter."))
            return
        item["tx"] = tx
        if tx.state == "done":
            item.update(result="done", note=_("Charged %(ref)s.", ref=tx.reference))
        elif tx.state in ("error", "cancel"):
            code = tx.q2c_decline_code if "q2c_decline_code" in tx._fields else False
            item.update(
                result="failed",
                note=_("Refused: %(reason)s", reason=code or tx.state_message or tx.state),
            )
            if "q2c_is_hard_decline" in tx._fields and tx.q2c_is_hard_decline:
                case.write(self._q2c_hard_decline_vals(tx, day))
                item["new_notice"] = case._q2c_item(None, "payment_method", day)
            elif item["kind"] == "new_token" and case.hard_decline:
                # The new payment method is not refused for good: ordinary retries resume.
                case.hard_decline = False
        else:
            item.update(
                result="pending",
                note=_(
                    "Outcome not known yet (%(state)s): it is asked before any new charge.",
                    state=tx.state,
                ),
            )

    def _q2c_reminder_template(self, item, position):
        """The mail of a reminder: the step's template, else friendly / firm / final by its
        position among the policy's reminders; after a hard decline, the new payment method
        notice."""
        if item["kind"] == "payment_method":
            return self.env.ref(
                "q2c_dunning.mail_template_dunning_payment_method", raise_if_not_found=False
            )
        if item["step"].mail_template_id:
            return item["step"].mail_template_id
        index, total = position
        if index == 0:
            xmlid = "q2c_dunning.mail_template_dunning_friendly"
        elif index == total - 1:
            xmlid = "q2c_dunning.mail_template_dunning_final"
        else:
            xmlid = "q2c_dunning.mail_template_dunning_firm"
        return self.env.ref(xmlid, raise_if_not_found=False)

    def _q2c_perform_reminders(self, items, day):
        """Queue the reminder mails (one batch per template); at most one reminder per case and
        run (the new payment method notice wins)."""
        by_case = defaultdict(list)
        for item in items:
            by_case[item["case"].id].append(item)
        groups = defaultdict(list)
        table = self.browse(list(by_case))._q2c_step_table()
        merged, no_template = (
            _("Merged with the reminder sent the same day."),
            _("No mail template."),
        )
        for __, case_items in by_case.items():
            case_items.sort(key=lambda item: item["kind"] != "payment_method")
            first, rest = case_items[0], case_items[1:]
            for item in rest:
                item.update(result="skipped", note=merged)
            case = first["case"]
            reminders = [
                step_id
                for __, __, step_id, action in table[case.policy_id.id]["steps"]
                if action == "send_reminder"
            ]
            position = (0, 1)
            if first["step"] and first["step"].id in reminders:
                position = (reminders.index(first["step"].id), len(reminders))
            template = self._q2c_reminder_template(first, position)
            if not template:
                first.update(result="skipped", note=no_template)
                continue
            groups[template].append(first)
        count = 0
        for template, group in groups.items():
            count += self._q2c_send_template(template, group)
        return count

    @api.model
    def _q2c_send_template(self, template, items):
        """Queue ``template`` for the invoices of ``items`` (batch, not forced) and record the
        mails on the items. Returns the number of mails queued."""
        invoice_ids = [item["case"].invoice_id.id for item in items]
        self.env["account.move"].browse(invoice_ids).sudo()._q2c_dunning_ensure_portal_tokens()
        try:
            with self.env.cr.savepoint():
                mails = template.sudo()._q2c_queue_batch(invoice_ids)
        except psycopg2.Error:
            raise
        # Database errors (serialization) propagate; any other failure of one item is
        # recorded on its timeline and the batch goes on.
        except Exception as error:
            _logger.warning("q2c dunning: mail %s failed", template.name, exc_info=True)
            for item in items:
                item.update(result="error", note=str(error)[:500])
            return 0
        # Both ways of queueing return the mails in the order of the invoices.
        by_invoice = dict(zip(invoice_ids, mails, strict=True))
        for item in items:
            mail = by_invoice.get(item["case"].invoice_id.id)
            item["mail"] = mail
            if "result" not in item:
                item.update(result="done", note=template.name)
        return len(mails)

    @api.model
    def _q2c_transition_subscriptions(self, subscriptions, transition, date_of):
        """Apply ``transition(subscriptions, date)`` to ``subscriptions`` in batches of the
        same date (one call, one savepoint each); a batch that fails is redone one by one so
        that one subscription in error does not hold the others. Returns ``(done, {sub id:
        error})``."""
        done = subscriptions.browse()
        errors = {}
        batches = defaultdict(list)
        for sub in subscriptions:
            batches[date_of(sub)].append(sub.id)
        for date, ids in batches.items():
            batch = subscriptions.browse(ids)
            try:
                with self.env.cr.savepoint():
                    transition(batch, date)
                done |= batch
                continue
            except psycopg2.Error:
                raise
            # Database errors (serialization) propagate; after any other failure the batch is
            # redone one by one and the errors go to the timeline of the cases concerned.
            except Exception as error:
                if len(batch) == 1:
                    errors[batch.id] = f"{batch.name}: {error}"
                    continue
            for sub in batch:
                try:
                    with self.env.cr.savepoint():
                        transition(sub, date)
                    done |= sub
                except psycopg2.Error:
                    raise
                except Exception as error:
                    errors[sub.id] = f"{sub.name}: {error}"
        return done, errors

    def _q2c_perform_transitions(self, items, subs, transition, date_of, done_note, none_note):
        """Apply ``transition`` to ``subs`` (the subscriptions of the items' cases), give each
        subscription changed to the first item (in order) whose case holds it, set the items'
        results and queue the notices of the items that changed one. Returns their number."""
        done, errors = self._q2c_transition_subscriptions(subs, transition, date_of)
        assigned = set()
        changed = []
        for item in items:
            held = item["case"].sudo().subscription_ids
            mine = held.filtered(lambda sub: sub in done and sub.id not in assigned)
            assigned.update(mine.ids)
            failures = [errors[sub_id] for sub_id in held.ids if sub_id in errors]
            if mine:
                changed.append(item)
                item.update(result="done", note=done_note(mine))
            elif failures:
                item.update(result="error", note="; ".join(failures)[:500])
            else:
                item.update(result="done", note=none_note)
        self._q2c_send_notices(changed)
        return len(changed)

    def _q2c_perform_suspensions(self, items, day):
        """Pause the active subscriptions of the invoices (``action_pause``, in batches), flag
        them ``q2c_dunning_suspended`` and mark the cases past suspension (doubtful)."""
        if not items:
            return 0
        cases = self.browse([item["case"].id for item in items])
        cases.write({"suspended": True})

        def pause(batch, date):
            batch.with_context(q2c_dunning_suspend=True).action_pause(date)

        return self._q2c_perform_transitions(
            items,
            cases.sudo().subscription_ids.filtered(lambda sub: sub.state == "active"),
            pause,
            lambda sub: max(day, sub.start_date),
            lambda mine: self.env._("Suspended %(subs)s.", subs=", ".join(mine.mapped("name"))),
            _("No active subscription to suspend."),
        )

    def _q2c_perform_cancellations(self, items, day):
        """Close the subscriptions of the invoices for non-payment (``action_close`` with the
        reason *Unpaid*, in batches)."""
        if not items:
            return 0
        reason = self.env.ref("q2c_billing.close_reason_unpaid", raise_if_not_found=False)
        cases = self.browse([item["case"].id for item in items])
        return self._q2c_perform_transitions(
            items,
            cases.sudo().subscription_ids.filtered(lambda sub: sub.state != "closed"),
            lambda batch, date: batch.action_close(date, reason.id if reason else None),
            lambda sub: day,
            lambda mine: self.env._(
                "Closed %(subs)s (unpaid).", subs=", ".join(mine.mapped("name"))
            ),
            _("No subscription left to close."),
        )

    def _q2c_send_notices(self, items):
        """Queue the mail of the steps of ``items`` that have one (one batch per template)."""
        notices = defaultdict(list)
        for item in items:
            if item["step"].mail_template_id:
                notices[item["step"].mail_template_id].append(item)
        for template, group in notices.items():
            self._q2c_send_template(template, group)

    def _q2c_perform_fees(self, items, day):
        """Add the policy's dunning fee as a one-time line of the subscription: the billing run
        bills one-time lines on the subscription's next invoice."""
        count = 0
        for item in items:
            case = item["case"]
            product = case.policy_id.fee_product_id
            sub = case.subscription_id.sudo()
            if not sub or sub.state == "closed":
                item.update(
                    result="skipped",
                    note=_(
                        "No next invoice: the subscription is closed; fee %(fee)s not charged.",
                        fee=product.display_name,
                    ),
                )
                continue
            try:
                with self.env.cr.savepoint():
                    line = (
                        self.env["q2c.subscription.line"]
                        .sudo()
                        .create(case._q2c_prepare_fee_line_vals(product, day))
                    )
                    if not line.price_plan_id or line.price_plan_id.charge_type != "one_time":
                        raise UserError(
                            _(
                                "The product %(product)s has no one-time price plan in "
                                "%(currency)s.",
                                product=product.display_name,
                                currency=sub.currency_id.name,
                            )
                        )
            except psycopg2.Error:
                raise
            # Database errors (serialization) propagate; any other failure of one item is
            # recorded on its timeline and the batch goes on.
            except Exception as error:
                item.update(result="skipped", note=str(error)[:500])
                continue
            count += 1
            item.update(
                result="done",
                note=_(
                    "Fee %(amount)s %(currency)s added to the next invoice of %(sub)s.",
                    amount=line.period_amount,
                    currency=sub.currency_id.name,
                    sub=sub.name,
                ),
            )
        return count

    def _q2c_prepare_fee_line_vals(self, product, day):
        self.ensure_one()
        return {
            "subscription_id": self.subscription_id.id,
            "product_id": product.id,
            "quantity": 1.0,
            "name": _("Late payment fee (%(invoice)s)", invoice=self.invoice_id.name),
            "start_date": day,
        }

    # ------------------------------------------------------------------
    # Ending: recovery and cancellation
    # ------------------------------------------------------------------

    @api.model
    def _q2c_sync_closed(self, day, companies):
        """Close the cases whose invoice got paid (recovered) or reversed, cancelled or reset
        (cancelled) since they were last looked at. Returns ``(recovered, cancelled)``."""
        base = [("state", "in", ACTIVE_STATES), ("company_id", "in", companies.ids)]
        recovered = self.search(base + [("invoice_id.payment_state", "in", PAID_STATES)])
        recovered = recovered._q2c_set_recovered(day=day)
        gone = self.search(
            base
            + [
                "|",
                ("invoice_id.state", "!=", "posted"),
                ("invoice_id.payment_state", "=", "reversed"),
            ]
        )
        cancelled = gone._q2c_set_cancelled(day, _("The invoice was reversed or cancelled."))
        return recovered, cancelled

    def _q2c_recovery_channel(self):
        """How the invoice got paid: a dunning retry or an automatic charge (``retry``), the
        customer online (``portal``), else a payment registered by hand (``manual``)."""
        self.ensure_one()
        channel = self.env.context.get("q2c_dunning_channel")
        if channel:
            return channel
        invoice = self.invoice_id.sudo()
        txs = invoice.transaction_ids.filtered(lambda tx: tx.state == "done").sorted("id")
        if txs:
            return (
                "retry"
                if txs[-1].operation == "offline"
                else ("portal" if txs[-1].operation in CUSTOMER_OPERATIONS else "manual")
            )
        return "manual"

    def _q2c_set_recovered(self, channel=None, day=None, by_user=False):
        """Close these cases as recovered and resume the subscriptions dunning suspended."""
        cases = self.filtered(lambda case: case.state in ACTIVE_STATES)
        if not cases:
            return cases
        day = day or fields.Date.context_today(self)
        logs = []
        for case in cases:
            case_channel = channel or case._q2c_recovery_channel()
            rate = case.failed_amount_company / case.failed_amount if case.failed_amount else 1.0
            recovered = (
                case.failed_amount
                if case.invoice_id.payment_state in PAID_STATES
                else (case.failed_amount - max(case.invoice_id.amount_residual, 0.0))
            )
            if by_user:
                recovered = case.failed_amount
            case.write(
                {
                    "state": "recovered",
                    "stage": "closed",
                    "recovered_date": day,
                    "recovery_channel": case_channel,
                    "recovered_amount": case.currency_id.round(recovered),
                    "recovered_amount_company": case.company_currency_id.round(recovered * rate),
                    "recovery_step_id": case.current_step_id.id,
                    "next_step_id": False,
                    "next_action_date": False,
                    "paused_date": False,
                }
            )
            channel_label = dict(self._fields["recovery_channel"]._description_selection(self.env))
            logs.append(
                case._prepare_log_vals(
                    "recover",
                    date=day,
                    note=_("Paid (%(channel)s).", channel=channel_label[case_channel]),
                )
            )
        self.env["q2c.dunning.case.log"].create(logs)
        cases._q2c_release_subscriptions(day)
        return cases

    def _q2c_set_cancelled(self, day, note):
        cases = self.filtered(lambda case: case.state in ACTIVE_STATES)
        cases.write(
            {
                "state": "cancelled",
                "stage": "closed",
                "next_step_id": False,
                "next_action_date": False,
                "paused_date": False,
            }
        )
        self.env["q2c.dunning.case.log"].create(
            [case._prepare_log_vals("close", date=day, note=note) for case in cases]
        )
        cases._q2c_release_subscriptions(day)
        return cases

    def _q2c_release_subscriptions(self, day):
        """Resume the subscriptions these (closed) cases suspended, unless another open case
        past suspension still holds them."""
        subs = self.sudo().subscription_ids.filtered("q2c_dunning_suspended")
        if not subs:
            return
        holding = self.search(
            [
                ("subscription_ids", "in", subs.ids),
                ("state", "in", ACTIVE_STATES),
                ("suspended", "=", True),
                ("id", "not in", self.ids),
            ]
        )
        Log = self.env["q2c.dunning.case.log"]
        for sub in subs - holding.subscription_ids:
            note = False
            if sub.state == "paused":
                try:
                    with self.env.cr.savepoint():
                        sub.action_resume(max(day, sub.paused_date or day))
                    note = _("Subscription %(sub)s resumed.", sub=sub.name)
                except psycopg2.Error:
                    raise
                # Database errors (serialization) propagate; any other failure of one item is
                # recorded on its timeline and the batch goes on.
                except Exception as error:
                    note = _(
                        "Subscription %(sub)s not resumed: %(error)s",
                        sub=sub.name,
                        error=str(error),
                    )
            sub.q2c_dunning_suspended = False
            if note:
                Log.create(
                    [
                        case._prepare_log_vals("resume_subscription", date=day, note=note)
                        for case in self.filtered(
                            lambda case, sub=sub: sub in case.subscription_ids
                        )
                    ]
                )

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    @api.model
    def _q2c_write_grouped(self, updates):
        """Write ``{case: vals}`` with one ``write`` per distinct vals (batch path)."""
        groups = defaultdict(list)
        values = {}
        for case, vals in updates.items():
            key = tuple(sorted(vals.items()))
            groups[key].append(case.id)
            values[key] = vals
        for key, ids in groups.items():
            self.browse(ids).with_context(tracking_disable=True).write(values[key])

    def _prepare_log_vals(self, action, date=None, note=None, **kwargs):
        self.ensure_one()
        return {
            "case_id": self.id,
            "action": action,
            "date": date or fields.Date.context_today(self),
            "note": note,
            **kwargs,
        }

    def _q2c_check_state(self, states, verb):
        wrong = self.filtered(lambda case: case.state not in states)
        if wrong:
            labels = dict(self._fields["state"]._description_selection(self.env))
            raise UserError(
                _(
                    "Cannot %(verb)s %(cases)s: the case is %(state)s.",
                    verb=verb,
                    cases=", ".join(wrong.mapped("name")),
                    state=labels[wrong[0].state],
                )
            )
