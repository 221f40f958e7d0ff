import logging
from collections import defaultdict
from datetime import timedelta

import psycopg2
from markupsafe import Markup, escape

from odoo import _, api, fields, models
from odoo.tools import SQL, format_amount

from .q2c_dunning_case import ACTIVE_STATES

_logger = logging.getLogger(__name__)

# What opening the cases and queueing their first mails read of the invoices: fetched with
# the search instead of every column of account.move (a field not listed is read as usual).
OPEN_CASE_FIELDS = (
    "name",
    "ref",
    "move_type",
    "state",
    "company_id",
    "partner_id",
    "commercial_partner_id",
    "currency_id",
    "invoice_date_due",
    "amount_residual",
    "amount_residual_signed",
    "invoice_line_ids",
    "access_token",
    # q2c_billing's automatic payment (one computation: fetched together)
    "q2c_payment_state",
    "q2c_payment_transaction_id",
    "q2c_payment_error",
    "q2c_payment_attempt_count",
)

# The 'Pay now' and 'Update payment method' buttons of the dunning mails (str.format of the
# escaped links and labels).
LINKS_HTML = (
    '<div style="margin: 16px 0px;">'
    '<a href="{pay}" style="background-color: #875A7B; padding: 8px 16px; '
    'color: #ffffff; text-decoration: none; border-radius: 5px;">{pay_label}</a> '
    '<a href="{method}" style="margin-left: 8px; padding: 8px 16px; '
    "color: #875A7B; text-decoration: none; border: 1px solid #875A7B; "
    'border-radius: 5px;">{method_label}</a></div>'
    '<p style="font-size: 12px; color: #666666;">{pay_label}: '
    '<a href="{pay}">{pay}</a><br/>{method_label}: '
    '<a href="{method}">{method}</a></p>'
)


class AccountMove(models.Model):
    _inherit = "account.move"

    q2c_dunning_case_ids = fields.One2many(
        "q2c.dunning.case", "invoice_id", string="Dunning Cases", readonly=True
    )
    q2c_dunning_case_id = fields.Many2one(
        "q2c.dunning.case",
        string="Dunning Case",
        compute="_compute_q2c_dunning",
        store=True,
        index="btree_not_null",
        help="The open (or paused) dunning case of this invoice.",
    )
    q2c_collectibility = fields.Selection(
        [("collectible", "Collectible"), ("doubtful", "Doubtful")],
        string="Collectibility",
        compute="_compute_q2c_dunning",
        store=True,
        help="Doubtful while a dunning case of the invoice is open past its suspension step; "
        "collectible otherwise. Revenue recognition (q2c_revrec) reads it.",
    )
    q2c_dunning_excluded = fields.Boolean(
        string="No Dunning",
        copy=False,
        tracking=True,
        help="Never open a dunning case for this invoice (set when a case is cancelled).",
    )
    q2c_dunning_pre_due_date = fields.Date(
        string="Pre-Due Reminder Sent",
        readonly=True,
        copy=False,
        help="Technical: the date the courtesy reminder before the due date was queued.",
    )
    q2c_dunning_pay_url = fields.Char(
        string="Pay Now Link",
        compute="_compute_q2c_dunning_urls",
        help="The invoice's portal page (with its access token), where the customer pays.",
    )
    q2c_dunning_payment_method_url = fields.Char(
        string="Payment Method Link",
        compute="_compute_q2c_dunning_urls",
        help="The subscription's portal page, where the customer replaces the payment method.",
    )
    # What the dunning mails print. Precomputed so that the templates only read allowed
    # expressions (``mail_allowed_qweb_expressions``): mail then renders them without
    # compiling QWeb for every invoice, and users who are not template editors can edit them.
    q2c_dunning_links_html = fields.Html(
        string="Dunning Links",
        compute="_compute_q2c_dunning_texts",
        sanitize=False,
        help="The 'Pay now' and 'Update payment method' buttons, with the links in full.",
    )
    q2c_dunning_amount_text = fields.Char(
        string="Amount Due (text)", compute="_compute_q2c_dunning_texts"
    )
    q2c_dunning_suspension_notice = fields.Char(compute="_compute_q2c_dunning_texts")
    q2c_dunning_cancellation_notice = fields.Char(compute="_compute_q2c_dunning_texts")
    q2c_dunning_decline_notice = fields.Char(compute="_compute_q2c_dunning_texts")

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("q2c_dunning_case_ids.state", "q2c_dunning_case_ids.suspended")
    def _compute_q2c_dunning(self):
        for move in self:
            active = move.q2c_dunning_case_ids.filtered(lambda case: case.state in ACTIVE_STATES)
            active = active[:1]
            move.q2c_dunning_case_id = active
            move.q2c_collectibility = "doubtful" if active.suspended else "collectible"

    def _compute_q2c_dunning_urls(self):
        # Read the subscriptions' tokens for the batch at once (mails render many invoices),
        # and the invoices' (not every column of account.move).
        self.invoice_line_ids.q2c_subscription_id.mapped("access_token")
        self.filtered("id").fetch(["access_token", "move_type"])
        # The base URL is the same for every record unless a module makes it depend on the
        # record (website: the record's website); then it is asked per invoice.
        shared_base = None
        if type(self).get_base_url is models.BaseModel.get_base_url:
            shared_base = self.browse().get_base_url()
        # Ten invoices of a subscription link to the same page: its URL is made once.
        method_urls = {}
        for move in self:
            if not move.id:
                move.q2c_dunning_pay_url = move.q2c_dunning_payment_method_url = False
                continue
            base = shared_base if shared_base is not None else move.get_base_url()
            move.q2c_dunning_pay_url = base + move.get_portal_url()
            sub = move.invoice_line_ids.q2c_subscription_id[:1]
            if sub not in method_urls:
                method_urls[sub] = sub.get_portal_url() if sub else "/my/payment_method"
            move.q2c_dunning_payment_method_url = base + method_urls[sub]

    def _q2c_dunning_ensure_portal_tokens(self):
        """Give these invoices and their subscriptions a portal access token in two statements
        (the mails link to their portal pages): ``get_portal_url`` would write them one by one,
        and each write of a posted invoice checks its balance."""
        if not self:
            return
        subscriptions = self.invoice_line_ids.q2c_subscription_id
        for records in (self, subscriptions):
            if not records:
                continue
            records.flush_recordset(["access_token"])
            self.env.execute_query(
                SQL(
                    "UPDATE %s SET access_token = gen_random_uuid()::text "
                    "WHERE id = ANY(%s) AND access_token IS NULL",
                    SQL.identifier(records._table),
                    records.ids,
                )
            )
            records.invalidate_recordset(["access_token"])

    @api.depends_context("lang")
    def _compute_q2c_dunning_texts(self):
        labels = {
            "pay_label": escape(_("Pay now")),
            "method_label": escape(_("Update payment method")),
        }
        # Dunning renders these for many invoices at once: the amounts, dates and decline
        # codes repeat, their texts are made once per batch.
        amounts, suspensions, cancellations, declines = {}, {}, {}, {}
        # What the loop reads, in one query (not every column of account.move).
        self.filtered("id").fetch(
            ["q2c_dunning_case_id", "amount_residual", "currency_id", "partner_id"]
        )
        # The texts that repeat are assigned once per distinct text, to all its invoices.
        shared = defaultdict(lambda: defaultdict(list))
        for move in self:
            case = move.q2c_dunning_case_id
            key = (move.amount_residual, move.currency_id, move.partner_id.lang)
            if key not in amounts:
                amounts[key] = format_amount(self.env, *key)
            shared["q2c_dunning_amount_text"][amounts[key]].append(move.id)
            move.q2c_dunning_links_html = move.id and Markup(
                LINKS_HTML.format(
                    pay=escape(move.q2c_dunning_pay_url),
                    method=escape(move.q2c_dunning_payment_method_url),
                    **labels,
                )
            )
            suspend_date = case.suspend_date if not case.suspended else False
            if suspend_date not in suspensions:
                suspensions[suspend_date] = (
                    _(
                        "Without payment, your subscription will be suspended on %(date)s.",
                        date=suspend_date,
                    )
                    if suspend_date
                    else ""
                )
            shared["q2c_dunning_suspension_notice"][suspensions[suspend_date]].append(move.id)
            if case.cancel_date not in cancellations:
                cancellations[case.cancel_date] = (
                    _(
                        "Without payment, your subscription will be cancelled on %(date)s.",
                        date=case.cancel_date,
                    )
                    if case.cancel_date
                    else ""
                )
            shared["q2c_dunning_cancellation_notice"][cancellations[case.cancel_date]].append(
                move.id
            )
            if case.decline_code not in declines:
                declines[case.decline_code] = (
                    _("Reason given by your bank: %(code)s.", code=case.decline_code)
                    if case.decline_code
                    else ""
                )
            shared["q2c_dunning_decline_notice"][declines[case.decline_code]].append(move.id)
        for fname, by_text in shared.items():
            for text, ids in by_text.items():
                self.browse(ids)[fname] = text

    @api.model
    def mail_allowed_qweb_expressions(self):
        return super().mail_allowed_qweb_expressions() + (
            "object.partner_id.id",
            "object.partner_id.lang",
            "object.company_id.name",
            "object.company_id.email_formatted",
            "object.invoice_date_due",
            "object.q2c_dunning_pay_url",
            "object.q2c_dunning_payment_method_url",
            "object.q2c_dunning_links_html",
            "object.q2c_dunning_amount_text",
            "object.q2c_dunning_suspension_notice",
            "object.q2c_dunning_cancellation_notice",
            "object.q2c_dunning_decline_notice",
        )

    # ------------------------------------------------------------------
    # Hooks: payment, posting
    # ------------------------------------------------------------------

    def _invoice_paid_hook(self):
        """The invoice is paid (reconciled by a retry, an online payment or a payment
        registered by hand): its dunning case ends recovered at once."""
        res = super()._invoice_paid_hook()
        cases = self.filtered("q2c_dunning_case_id").q2c_dunning_case_id
        if cases:
            # sudo: the payment may be registered by a user without dunning rights; the case
            # follows its invoice.
            cases.sudo()._q2c_set_recovered()
        return res

    def _q2c_payment_failed(self, tx):
        """Automatic payment (q2c_billing) refused: open the dunning case (or record a hard
        decline on the open one). The outcome of a dunning retry is recorded by the run."""
        parent = getattr(super(), "_q2c_payment_failed", None)
        res = parent(tx) if parent else None
        if not self.env.context.get("q2c_dunning_retry"):
            self._q2c_dunning_on_failure(tx)
        return res

    def button_draft(self):
        cases = self.q2c_dunning_case_id
        res = super().button_draft()
        cases.sudo()._q2c_set_cancelled(  # sudo: the case follows its invoice
            fields.Date.context_today(self), _("The invoice was reset to draft.")
        )
        return res

    def button_cancel(self):
        cases = self.q2c_dunning_case_id
        res = super().button_cancel()
        cases.sudo()._q2c_set_cancelled(  # sudo: the case follows its invoice
            fields.Date.context_today(self), _("The invoice was cancelled.")
        )
        return res

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_q2c_view_dunning_cases(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "q2c_dunning.q2c_dunning_case_action"
        )
        action["domain"] = [("invoice_id", "=", self.id)]
        action["context"] = {"create": False}
        if len(self.q2c_dunning_case_ids) == 1:
            action["views"] = [(False, "form")]
            action["res_id"] = self.q2c_dunning_case_ids.id
        return action

    # ------------------------------------------------------------------
    # Dunning: opening cases
    # ------------------------------------------------------------------

    def _q2c_is_dunnable(self):
        self.ensure_one()
        return (
            self.move_type == "out_invoice"
            and self.state == "posted"
            and self.payment_state in ("not_paid", "partial")
            and not self.q2c_dunning_excluded
            and bool(self.invoice_line_ids.q2c_subscription_id)
        )

    def _q2c_dunning_on_failure(self, tx):
        """Open the case of a failed automatic payment (start: today), or update the open
        one; a hard decline makes the new payment method notice due at once."""
        Case = self.env["q2c.dunning.case"].sudo()  # sudo: dunning follows the payment outcome
        day = fields.Date.context_today(self)
        hard = "q2c_is_hard_decline" in tx._fields and tx.q2c_is_hard_decline
        to_open = self.browse()
        for invoice in self.sudo():
            if not invoice._q2c_is_dunnable():
                continue
            case = invoice.q2c_dunning_case_id
            if not case:
                to_open |= invoice
                continue
            vals = {}
            if hard and (not case.hard_decline or case.declined_token_id != tx.token_id):
                vals.update(Case._q2c_hard_decline_vals(tx, day))
            if vals:
                case.write(vals)
            self.env["q2c.dunning.case.log"].sudo().create(
                case._prepare_log_vals(
                    "payment_failed",
                    date=day,
                    result="failed",
                    transaction_id=tx.id,
                    note=_(
                        "Automatic payment %(ref)s refused: %(reason)s",
                        ref=tx.reference,
                        reason=tx.state_message or tx.state,
                    ),
                )
            )
            case._q2c_reschedule()
        if to_open:
            policies = self.env["q2c.dunning.policy"].sudo()._q2c_policies_for(to_open)
            vals_list = [
                Case._q2c_prepare_case_vals(
                    invoice, policies[invoice.id], "payment_failed", day, tx
                )
                for invoice in to_open
                if policies[invoice.id]
            ]
            Case._q2c_create_cases(vals_list)
        if hard:
            cron = self.env.ref("q2c_dunning.q2c_dunning_run_cron", raise_if_not_found=False)
            if cron:
                cron.sudo()._trigger()

    @api.model
    def _q2c_dunning_candidate_domain(self, day, companies):
        domain = [
            ("move_type", "=", "out_invoice"),
            ("state", "=", "posted"),
            ("payment_state", "in", ("not_paid", "partial")),
            ("company_id", "in", companies.ids),
            ("q2c_dunning_case_id", "=", False),
            ("q2c_dunning_excluded", "=", False),
            ("invoice_line_ids.q2c_subscription_id", "!=", False),
        ]
        if "q2c_payment_state" in self._fields:
            # Failed automatic payment, or past due and not being charged (a pending or
            # unknown charge is resolved first by the automatic payment).
            domain += [
                "|",
                ("q2c_payment_state", "=", "failed"),
                "&",
                ("invoice_date_due", "<", day),
                ("q2c_payment_state", "in", (False, "failed")),
            ]
        else:
            domain.append(("invoice_date_due", "<", day))
        return domain

    @api.model
    def _q2c_dunning_open_cases(self, day, companies, limit=None):
        """Open the cases of the failed or past-due subscription invoices of ``companies``.
        Returns ``(cases, invoices examined, invoices left for the next call)``."""
        Case = self.env["q2c.dunning.case"]
        domain = self._q2c_dunning_candidate_domain(day, companies)
        invoices = self.search_fetch(
            domain,
            [name for name in OPEN_CASE_FIELDS if name in self._fields],
            order="invoice_date_due, id",
            limit=limit,
        )
        # Their lines' subscriptions only (not every column of account.move.line).
        invoices.invoice_line_ids.fetch(["q2c_subscription_id"])
        more = 0
        if limit and len(invoices) == limit:
            more = self.search_count(domain) - limit
        if not invoices:
            return Case, 0, more
        policies = self.env["q2c.dunning.policy"]._q2c_policies_for(invoices)
        vals_list = []
        for invoice in invoices:
            policy = policies[invoice.id]
            if not policy:
                continue
            tx = None
            if "q2c_payment_state" in invoice._fields and invoice.q2c_payment_state == "failed":
                tx = invoice.q2c_payment_transaction_id
                start = tx.last_state_change.date() if tx and tx.last_state_change else day
                start = min(start, day)
                origin = "payment_failed"
            else:
                start, origin = invoice.invoice_date_due, "past_due"
            vals_list.append(Case._q2c_prepare_case_vals(invoice, policy, origin, start, tx))
        return Case._q2c_create_cases(vals_list, day=day), len(invoices), more

    # ------------------------------------------------------------------
    # Dunning: courtesy reminder before the due date
    # ------------------------------------------------------------------

    @api.model
    def _q2c_dunning_pre_due(self, day, companies, limit=None):
        """Queue the courtesy reminder of the invoices falling due within their policy's
        ``pre_due_days`` (once per invoice: claimed by setting ``q2c_dunning_pre_due_date``
        in one conditional UPDATE). Returns the number of mails queued."""
        Policy = self.env["q2c.dunning.policy"]
        horizon = max(Policy.search([("pre_due_days", ">", 0)]).mapped("pre_due_days"), default=0)
        if not horizon:
            return 0
        domain = [
            ("move_type", "=", "out_invoice"),
            ("state", "=", "posted"),
            ("payment_state", "in", ("not_paid", "partial")),
            ("company_id", "in", companies.ids),
            ("q2c_dunning_case_id", "=", False),
            ("q2c_dunning_excluded", "=", False),
            ("q2c_dunning_pre_due_date", "=", False),
            ("invoice_date_due", ">=", day),
            ("invoice_date_due", "<=", day + timedelta(days=horizon)),
            ("invoice_line_ids.q2c_subscription_id", "!=", False),
        ]
        if "q2c_payment_state" in self._fields:
            domain.append(("q2c_payment_state", "=", False))
        invoices = self.search(domain, order="invoice_date_due, id", limit=limit)
        if not invoices:
            return 0
        policies = Policy._q2c_policies_for(invoices)
        todo = invoices.filtered(
            lambda inv: (
                policies[inv.id].pre_due_days
                and policies[inv.id].pre_due_template_id
                and inv.invoice_date_due - timedelta(days=policies[inv.id].pre_due_days) <= day
            )
        )
        if not todo:
            return 0
        self.flush_model(["q2c_dunning_pre_due_date"])
        rows = self.env.execute_query(
            SQL(
                """
                UPDATE account_move SET q2c_dunning_pre_due_date = %(day)s
                 WHERE id = ANY(%(ids)s) AND q2c_dunning_pre_due_date IS NULL
             RETURNING id
                """,
                day=day,
                ids=todo.ids,
            )
        )
        self.invalidate_model(["q2c_dunning_pre_due_date"])
        claimed = self.browse([row[0] for row in rows])
        claimed._q2c_dunning_ensure_portal_tokens()
        by_template = defaultdict(list)
        for invoice in claimed:
            by_template[policies[invoice.id].pre_due_template_id].append(invoice.id)
        count = 0
        for template, ids in by_template.items():
            try:
                with self.env.cr.savepoint():
                    count += len(template.sudo()._q2c_queue_batch(ids))
            except psycopg2.Error:
                raise
            # Database errors (serialization) propagate; any other failure of one item is
            # recorded on its timeline and the batch goes on.
            except Exception:
                _logger.warning("q2c dunning: pre-due mail %s failed", template.name, exc_info=True)
        return count
