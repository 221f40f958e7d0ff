import logging
from collections import defaultdict

import psycopg2
from markupsafe import Markup

from odoo import _, api, fields, models, modules
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command

_logger = logging.getLogger(__name__)

# Invoices charged per call of the automatic payment cron (it re-runs while work remains).
AUTOPAY_BATCH_SIZE = 50
OPEN_TX_STATES = ("draft", "pending", "authorized")
FAILED_TX_STATES = ("error", "cancel")
# Transaction data key of the last sequence numbers read while a billing run posts a batch.
SEQUENCE_MEMO = "q2c_billing.sequence_memo"


class AccountMove(models.Model):
    _inherit = "account.move"

    q2c_subscription_ids = fields.Many2many(
        "q2c.subscription",
        string="Subscriptions",
        compute="_compute_q2c_subscription_ids",
        help="The subscriptions this invoice bills.",
    )
    q2c_billing_run_id = fields.Many2one(
        "q2c.billing.run",
        string="Billing Run",
        readonly=True,
        copy=False,
        index="btree_not_null",
        groups="q2c_billing.group_q2c_billing_user",
        help="The billing run that created this invoice.",
    )
    q2c_autopay_scheduled = fields.Boolean(
        string="Automatic Payment Scheduled",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="Posted with a saved payment method: the automatic payment cron charges it.",
    )
    q2c_autopay_transaction_ids = fields.One2many(
        "payment.transaction",
        "q2c_autopay_move_id",
        string="Automatic Payment Attempts",
        readonly=True,
        copy=False,
    )
    q2c_payment_transaction_id = fields.Many2one(
        "payment.transaction",
        string="Last Attempt",
        compute="_compute_q2c_payment_state",
        store=True,
        compute_sudo=True,
        help="The last automatic payment attempt of this invoice.",
    )
    q2c_payment_state = fields.Selection(
        selection=[
            ("scheduled", "To Charge"),
            ("pending", "Pending"),
            ("unknown", "Unknown"),
            ("failed", "Failed"),
            ("charged", "Charged"),
            ("settled", "Paid Otherwise"),
        ],
        string="Automatic Payment",
        compute="_compute_q2c_payment_state",
        store=True,
        compute_sudo=True,
        tracking=True,
        copy=False,
        index="btree_not_null",
        help="To Charge: waiting for the automatic payment cron. Pending: the provider has not "
        "confirmed yet. Unknown: the provider did not answer (timeout); its state is asked before "
        "any new charge. Failed: refused or cancelled (see the error). Charged: paid by the saved "
        "payment method. Paid Otherwise: paid by other means after a failed or pending attempt.",
    )
    q2c_payment_error = fields.Char(
        string="Last Payment Error",
        compute="_compute_q2c_payment_state",
        store=True,
        compute_sudo=True,
        copy=False,
    )
    q2c_payment_attempt_count = fields.Integer(
        string="Payment Attempts",
        compute="_compute_q2c_payment_state",
        store=True,
        compute_sudo=True,
        copy=False,
    )
    q2c_payment_hard_decline = fields.Boolean(
        string="Hard Decline",
        related="q2c_payment_transaction_id.q2c_is_hard_decline",
        help="The last attempt was refused for good (card lost, stolen, closed, invalid...): the "
        "customer must give a new payment method.",
    )

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("invoice_line_ids.q2c_subscription_id")
    def _compute_q2c_subscription_ids(self):
        for move in self:
            move.q2c_subscription_ids = move.invoice_line_ids.q2c_subscription_id

    @api.depends(
        "q2c_autopay_scheduled",
        "payment_state",
        "q2c_autopay_transaction_ids.state",
        "q2c_autopay_transaction_ids.state_message",
        "q2c_autopay_transaction_ids.q2c_decline_code",
    )
    def _compute_q2c_payment_state(self):
        """Derived from the attempts, so that the order in which notifications arrive does not
        matter: any confirmed attempt means charged; else the last attempt tells."""
        for move in self:
            txs = move.q2c_autopay_transaction_ids.sorted(lambda tx: (tx.q2c_attempt, tx.id))
            last = txs[-1:]
            state, error = False, False
            if txs.filtered(lambda tx: tx.state == "done"):
                state = "charged"
            elif not txs:
                state = "scheduled" if move.q2c_autopay_scheduled else False
            elif move.payment_state in ("paid", "in_payment", "reversed"):
                state = "settled"
            elif last.state == "draft":
                state = "unknown"
                error = last.state_message or _("No answer from the payment provider.")
            elif last.state in ("pending", "authorized"):
                state = "pending"
            else:
                state = "failed"
                error = last._q2c_failure_reason()
            move.q2c_payment_state = state
            move.q2c_payment_error = error
            move.q2c_payment_attempt_count = len(txs)
            move.q2c_payment_transaction_id = last
        # The subscriptions' payment status is computed from these states (not stored).
        self.env["q2c.subscription"].invalidate_model(
            ["q2c_payment_status", "q2c_payment_issue_move_id", "q2c_payment_issue_message"]
        )

    # ------------------------------------------------------------------
    # Posting
    # ------------------------------------------------------------------

    def _post(self, soft=True):
        if self.env.context.get("q2c_batch_post"):
            posted = self._q2c_batch_post(soft)
        else:
            posted = super()._post(soft=soft)
        posted._q2c_schedule_autopay()
        return posted

    def _q2c_batch_post(self, soft):
        """Post the invoices of a billing run: what core posting does per invoice with a
        write of its own is done for the whole batch first (the customer as follower; the
        *checked* flag, given at creation), so that posting makes no per-invoice write; and
        the journal items, complete and balanced at creation, are not synchronised again
        when the state changes (unless a lock date moves the accounting date)."""
        self._q2c_subscribe_customers()
        in_place = self.filtered(
            lambda move: (
                move.invoice_date
                and not move._get_violated_lock_dates(move.date, move._affect_tax_report())
            )
        )
        self.env.cr.precommit.data[SEQUENCE_MEMO] = {}
        try:
            # Posting sets ``checked`` on each invoice of an auto-checked journal, a write per
            # invoice; already set here, the assignment is a no-op on protected records.
            with self.env.protecting([self._fields["checked"]], self.filtered("checked")):
                posted = super(AccountMove, in_place.with_context(skip_invoice_sync=True))._post(
                    soft=soft
                )
                rest = self - in_place
                if rest:
                    posted |= super(AccountMove, rest)._post(soft=soft)
        finally:
            self.env.cr.precommit.data.pop(SEQUENCE_MEMO, None)
        return posted.with_env(self.env)

    def _get_last_sequence(self, relaxed=False, with_prefix=None):
        """While a billing run posts its batch, the last number of a journal, read for the
        first invoice of each (journal, type, date), is the one the next invoices derive their
        number's format from: Odoo numbers them from its transaction's sequence cache (locked
        by the first number given), so a query per invoice would give the same format."""
        memo = self.env.cr.precommit.data.get(SEQUENCE_MEMO)
        if memo is None or self._name != "account.move" or self.origin_payment_id:
            return super()._get_last_sequence(relaxed=relaxed, with_prefix=with_prefix)
        key = (
            self.journal_id.id,
            self.move_type,
            self.date,
            relaxed,
            with_prefix,
        )
        if key not in memo:
            memo[key] = super()._get_last_sequence(relaxed=relaxed, with_prefix=with_prefix)
        return memo[key]

    def _q2c_subscribe_customers(self):
        """Make each invoice's customer a follower with the default subtypes, in one create
        for all the invoices (posting subscribes them one invoice at a time)."""
        Followers = self.env["mail.followers"].sudo()
        moves = self.filtered(lambda move: move.partner_id.active)
        if not moves:
            return
        existing = {
            (follower.res_id, follower.partner_id.id)
            for follower in Followers.search(
                [("res_model", "=", self._name), ("res_id", "in", moves.ids)]
            )
        }
        default, __, external = self.env["mail.message.subtype"].default_subtypes(self._name)
        vals_list = [
            {
                "res_model": self._name,
                "res_id": move.id,
                "partner_id": move.partner_id.id,
                "subtype_ids": [
                    Command.set((external if move.partner_id.partner_share else default).ids)
                ],
            }
            for move in moves
            if (move.id, move.partner_id.id) not in existing
        ]
        if vals_list:
            Followers.create(vals_list)
            moves.invalidate_recordset(["message_follower_ids", "message_partner_ids"])

    def _q2c_increase_customer_rank(self):
        """What posting does for each customer invoice: its customer and the customer's company
        rise in *customer rank* by one per invoice; in one statement per distinct count."""
        counts = defaultdict(int)
        for move in self.filtered(lambda move: move.is_sale_document()):
            for partner in move.partner_id | move.partner_id.commercial_partner_id:
                counts[partner.id] += 1
        by_count = defaultdict(list)
        for partner_id, count in counts.items():
            by_count[count].append(partner_id)
        for count, partner_ids in by_count.items():
            self.env["res.partner"].browse(partner_ids)._increase_rank("customer_rank", count)

    def _q2c_schedule_autopay(self):
        """Flag the subscription invoices that have a saved payment method for the automatic
        payment cron. The charge is never made inside the posting transaction: a billing run
        rolled back after a charge would lose the record of money taken."""
        if self.env.context.get("q2c_no_autopay"):
            return
        invoices = self.filtered(
            lambda move: (
                move.move_type == "out_invoice"
                and move.state == "posted"
                and not move.q2c_autopay_scheduled
                and not move.q2c_autopay_transaction_ids
                and move.company_id.q2c_autopay
                and move.invoice_line_ids.q2c_subscription_id
                and move.currency_id.compare_amounts(move.amount_residual, 0.0) > 0
            )
        )
        invoices = invoices.filtered(lambda move: move.sudo()._q2c_get_autopay_token())
        if not invoices:
            return
        invoices.sudo().q2c_autopay_scheduled = True
        cron = self.env.ref("q2c_billing.q2c_autopay_cron", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger()

    @api.model
    def _cron_q2c_autopay(self, limit=AUTOPAY_BATCH_SIZE):
        """Charge the scheduled invoices, committing after each one (a charge taken is
        recorded at once); reports its progress so that the cron runs again while work
        remains."""
        invoices = self.search(
            [("q2c_autopay_scheduled", "=", True), ("state", "=", "posted")],
            order="id",
            limit=limit + 1,
        )
        todo, remaining = invoices[:limit], len(invoices) - min(len(invoices), limit)
        commit = not modules.module.current_test
        for done, invoice in enumerate(todo, start=1):
            try:
                with self.env.cr.savepoint():
                    invoice._q2c_autopay()
            except psycopg2.OperationalError:
                raise
            except Exception as error:
                _logger.warning("q2c: automatic payment of %s failed", invoice.name, exc_info=True)
                invoice.q2c_autopay_scheduled = False
                invoice.message_post(
                    body=_("The automatic payment could not be made: %(error)s", error=str(error))
                )
            if commit:
                # A charge taken is recorded at once, whatever happens to the next invoices.
                self.env.cr.commit()  # pylint: disable=invalid-commit
            self.env["ir.cron"]._notify_progress(done=done, remaining=len(todo) - done + remaining)
        return len(todo)

    # ------------------------------------------------------------------
    # Automatic payment: hooks called by dunning and the cron
    # ------------------------------------------------------------------

    def _q2c_autopay(self, attempt=None):
        """Charge the amount due of this posted invoice off-session with its subscription's
        saved payment method (``payment_token_id``), through the payment framework.

        One ``payment.transaction`` per attempt (``operation='offline'``), referenced
        ``<invoice>-AP<attempt>``; the pair (invoice, attempt) is unique in the database, so a
        replay with the same ``attempt`` returns the existing transaction and charges nothing.
        An earlier attempt still pending or unknown is resolved first (its state re-read, the
        provider asked): while its outcome is not known, nothing is charged. A provider that
        does not answer (timeout, connection error) leaves the attempt in the state *unknown*.

        :param int attempt: the attempt number (dunning passes its retry count); default: the
            next one.
        :return: the transaction of the attempt (or of the attempt that stopped this one),
            empty when nothing was charged.
        """
        self.ensure_one()
        # sudo: the cron and dunning charge on behalf of the company; transactions and tokens
        # are not readable by every billing user.
        invoice = self.sudo()
        Tx = self.env["payment.transaction"].sudo()
        if attempt is not None and (
            isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1
        ):
            raise ValidationError(
                _(
                    "%(invoice)s: the attempt number must be a positive integer, got %(value)r.",
                    invoice=invoice.display_name,
                    value=attempt,
                )
            )
        txs = invoice.q2c_autopay_transaction_ids
        if attempt is not None and txs.filtered(lambda tx: tx.q2c_attempt == attempt):
            return txs.filtered(lambda tx: tx.q2c_attempt == attempt)
        if txs.filtered(lambda tx: tx.state in OPEN_TX_STATES):
            still_open = invoice._q2c_resolve_pending_payment()
            if still_open:
                invoice.q2c_autopay_scheduled = False
                invoice.message_post(
                    body=_(
                        "Not charged again: the attempt %(ref)s is %(state)s; its outcome must be "
                        "known before a new charge.",
                        ref=still_open.reference,
                        state=invoice._q2c_payment_state_label(),
                    )
                )
                return still_open
        done = invoice.q2c_autopay_transaction_ids.filtered(lambda tx: tx.state == "done")
        if done:
            invoice.q2c_autopay_scheduled = False
            return done[-1:]
        error = invoice._q2c_check_autopay()
        token = invoice._q2c_get_autopay_token() if not error else None
        if error or not token:
            invoice.q2c_autopay_scheduled = False
            invoice.message_post(
                body=_(
                    "Not charged automatically: %(reason)s",
                    reason=error or _("no valid saved payment method on the subscription."),
                )
            )
            return Tx
        attempts = invoice.q2c_autopay_transaction_ids.mapped("q2c_attempt")
        number = attempt or max(attempts, default=0) + 1
        tx = Tx.create(invoice._q2c_prepare_autopay_transaction_vals(token, number))
        invoice.q2c_autopay_scheduled = False
        invoice._q2c_send_autopay_request(tx)
        return tx

    def _q2c_check_autopay(self):
        """Why this invoice cannot be charged now (a message), or False."""
        self.ensure_one()
        if self.move_type != "out_invoice" or self.state != "posted":
            return _("%(invoice)s is not a posted customer invoice.", invoice=self.display_name)
        if self.currency_id.compare_amounts(self.amount_residual, 0.0) <= 0:
            return _("%(invoice)s has nothing left to pay.", invoice=self.display_name)
        if self.payment_state in ("paid", "in_payment", "reversed"):
            return _("%(invoice)s is paid.", invoice=self.display_name)
        return False

    def _q2c_get_autopay_token(self):
        """The saved payment method to charge: the first of the invoice's subscriptions (by
        id) whose token is usable for this invoice's customer, company and currency."""
        self.ensure_one()
        for subscription in self.q2c_subscription_ids.sorted("id"):
            token = subscription.payment_token_id
            if token and not self._q2c_token_problem(token):
                return token
        return self.env["payment.token"]

    def _q2c_token_problem(self, token):
        """Why ``token`` cannot pay this invoice (a message), or False."""
        self.ensure_one()
        provider = token.provider_id
        if not token.active:
            return _("the payment method %(token)s is archived.", token=token.display_name)
        if token.partner_id.commercial_partner_id != self.commercial_partner_id:
            return _(
                "the payment method %(token)s belongs to another customer.",
                token=token.display_name,
            )
        if provider.state not in ("enabled", "test"):
            return _("the payment provider %(provider)s is disabled.", provider=provider.name)
        if provider.company_id and provider.company_id != self.company_id:
            return _(
                "the payment provider %(provider)s is of another company.", provider=provider.name
            )
        if provider.capture_manually:
            return _("the payment provider %(provider)s captures manually.", provider=provider.name)
        currencies = provider.available_currency_ids
        if currencies and self.currency_id not in currencies:
            return _(
                "the payment provider %(provider)s does not accept %(currency)s.",
                provider=provider.name,
                currency=self.currency_id.name,
            )
        if not provider.journal_id:
            return _(
                "the payment provider %(provider)s has no payment journal.", provider=provider.name
            )
        return False

    def _q2c_autopay_reference(self, attempt):
        """Stable reference of an attempt: the same invoice and attempt give the same
        reference (the provider sees a replay as the same payment)."""
        self.ensure_one()
        return f"{self.name}-AP{attempt}"

    def _q2c_prepare_autopay_transaction_vals(self, token, attempt):
        self.ensure_one()
        return {
            "provider_id": token.provider_id.id,
            "payment_method_id": token.payment_method_id.id,
            "reference": self._q2c_autopay_reference(attempt),
            "amount": self.amount_residual,
            "currency_id": self.currency_id.id,
            "partner_id": self.partner_id.id,
            "token_id": token.id,
            "operation": "offline",
            "invoice_ids": [Command.set(self.ids)],
            "q2c_autopay_move_id": self.id,
            "q2c_attempt": attempt,
        }

    def _q2c_send_autopay_request(self, tx):
        """Send the payment request of ``tx``; an exception (timeout, connection error,
        provider error) leaves the attempt in draft: its outcome is unknown."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                tx._send_payment_request()
        except psycopg2.OperationalError:
            raise
        except Exception as error:
            _logger.warning("q2c: payment request %s got no answer: %s", tx.reference, error)
            tx.state_message = _(
                "No answer from %(provider)s: %(error)s",
                provider=tx.provider_id.name,
                error=str(error) or error.__class__.__name__,
            )
        tx.invalidate_recordset()
        if tx.state == "draft":
            self._q2c_payment_unknown(tx)
            return tx
        if not tx.is_post_processed:
            try:
                with self.env.cr.savepoint():
                    tx._post_process()
            except psycopg2.OperationalError:
                raise
            except Exception as error:
                _logger.warning("q2c: post-processing %s failed", tx.reference, exc_info=True)
                self.message_post(
                    body=_(
                        "The payment %(ref)s is %(state)s but could not be processed yet: "
                        "%(error)s",
                        ref=tx.reference,
                        state=tx._q2c_state_label(),
                        error=str(error),
                    )
                )
        return tx

    def _q2c_resolve_pending_payment(self):
        """Resolve the attempts whose outcome is not final: re-read their state and ask the
        provider (``payment.transaction._q2c_query_provider_state``), then apply the answer.
        Never charges. Returns the attempts still pending or unknown."""
        self.ensure_one()
        open_txs = self.sudo().q2c_autopay_transaction_ids.filtered(
            lambda tx: tx.state in OPEN_TX_STATES
        )
        for tx in open_txs:
            tx._q2c_resolve_state()
        return open_txs.filtered(lambda tx: tx.state in OPEN_TX_STATES)

    def _q2c_on_autopay_result(self, tx):
        """Apply the outcome of the attempt ``tx`` (called once per state it reaches)."""
        self.ensure_one()
        if tx.state == "done":
            self._q2c_payment_succeeded(tx)
        elif tx.state in ("pending", "authorized"):
            self._q2c_payment_pending(tx)
        elif tx.state in FAILED_TX_STATES:
            last = self.q2c_autopay_transaction_ids.sorted(lambda t: (t.q2c_attempt, t.id))[-1:]
            if tx == last:
                self._q2c_payment_failed(tx)
            else:
                self.message_post(
                    body=_(
                        "The earlier attempt %(ref)s was reported %(state)s.",
                        ref=tx.reference,
                        state=tx._q2c_state_label(),
                    )
                )

    def _q2c_payment_failed(self, tx):
        """Hook: the automatic payment ``tx`` of this invoice was refused or cancelled.

        Records it in the chatter of the invoice and of its subscriptions (whose payment status
        shows *Payment Failed*). q2c_dunning extends it to start the dunning schedule;
        ``tx.q2c_decline_code`` and ``tx.q2c_is_hard_decline`` tell whether a retry can work.
        """
        self.ensure_one()
        reason = tx._q2c_failure_reason()
        body = _(
            "Automatic payment %(ref)s (attempt %(attempt)s) failed: %(reason)s",
            ref=tx.reference,
            attempt=tx.q2c_attempt,
            reason=reason,
        )
        if tx.q2c_is_hard_decline:
            body = Markup("%s<br/>%s") % (
                body,
                _(
                    "Hard decline: this payment method will not work again; the customer must give "
                    "a new one."
                ),
            )
        self.message_post(body=body, subtype_xmlid="mail.mt_note")
        for subscription in self.q2c_subscription_ids:
            subscription._q2c_notify_payment_issue(self, tx, body)

    def _q2c_payment_pending(self, tx):
        """Hook: the provider accepted the request of ``tx`` but has not confirmed it."""
        self.ensure_one()
        self.message_post(
            body=_(
                "Automatic payment %(ref)s (attempt %(attempt)s) is pending at %(provider)s.",
                ref=tx.reference,
                attempt=tx.q2c_attempt,
                provider=tx.provider_id.name,
            ),
            subtype_xmlid="mail.mt_note",
        )

    def _q2c_payment_unknown(self, tx):
        """Hook: the provider did not answer the request of ``tx``: whether the customer was
        charged is unknown. Nothing is charged again before its state is known."""
        self.ensure_one()
        body = _(
            "Automatic payment %(ref)s (attempt %(attempt)s): no answer from %(provider)s; "
            "the outcome is unknown. Its state is asked from the provider before any new "
            "charge.",
            ref=tx.reference,
            attempt=tx.q2c_attempt,
            provider=tx.provider_id.name,
        )
        tx.q2c_was_unknown = True
        self.message_post(body=body, subtype_xmlid="mail.mt_note")
        for subscription in self.q2c_subscription_ids:
            subscription._q2c_notify_payment_issue(self, tx, body)

    def _q2c_payment_succeeded(self, tx):
        """Hook: the automatic payment ``tx`` is confirmed (account_payment created the
        payment and reconciled the invoice). q2c_dunning extends it to close the dunning."""
        self.ensure_one()
        if tx.q2c_attempt > 1 or tx.q2c_was_unknown:
            for subscription in self.q2c_subscription_ids:
                subscription.message_post(
                    body=_(
                        "Payment of %(invoice)s received (%(ref)s).",
                        invoice=self._get_html_link(),
                        ref=tx.reference,
                    ),
                    subtype_xmlid="mail.mt_note",
                )

    # ------------------------------------------------------------------
    # Portal payment: never pay online what an unknown or pending attempt may have paid
    # ------------------------------------------------------------------

    def _has_to_be_paid(self):
        if self.q2c_payment_state in ("pending", "unknown"):
            return False
        return super()._has_to_be_paid()

    def _get_online_payment_error(self):
        error = super()._get_online_payment_error()
        if self.q2c_payment_state in ("pending", "unknown"):
            error = "\n".join(
                filter(None, [error, _("An automatic payment of this invoice is being processed.")])
            )
        return error

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_q2c_autopay(self):
        """Button: charge the saved payment method now (a new attempt)."""
        self.check_access("write")
        for invoice in self:
            if not invoice.q2c_subscription_ids:
                raise UserError(
                    _("%(invoice)s bills no subscription.", invoice=invoice.display_name)
                )
            invoice._q2c_autopay()
        return True

    def action_q2c_resolve_payment(self):
        """Button: ask the provider for the state of the pending or unknown attempt."""
        self.check_access("write")
        for invoice in self:
            invoice._q2c_resolve_pending_payment()
        return True

    def action_q2c_view_autopay_transactions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("payment.action_payment_transaction")
        action["domain"] = [("q2c_autopay_move_id", "=", self.id)]
        action["context"] = {"create": False}
        return action

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _q2c_payment_state_label(self):
        self.ensure_one()
        return dict(self._fields["q2c_payment_state"]._description_selection(self.env)).get(
            self.q2c_payment_state, ""
        )
