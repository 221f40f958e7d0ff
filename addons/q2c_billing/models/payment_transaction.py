import logging

from odoo import _, api, fields, models

_logger = logging.getLogger(__name__)

# Decline codes after which retrying the same payment method is pointless (the card or account
# is gone or refused for good): dunning stops retrying and asks for a new payment method. The
# names follow the card networks' and Stripe's decline codes; the system parameter
# ``q2c_billing.hard_decline_codes`` (comma-separated) replaces the list.
HARD_DECLINE_CODES = (
    "lost_card",
    "stolen_card",
    "pickup_card",
    "restricted_card",
    "expired_card",
    "account_closed",
    "closed_account",
    "card_closed",
    "invalid_account",
    "invalid_card",
    "invalid_number",
    "incorrect_number",
    "card_not_supported",
    "currency_not_supported",
    "do_not_try_again",
    "fraudulent",
    "security_violation",
    "stop_payment_order",
    "revocation_of_authorization",
    "revocation_of_all_authorizations",
    "transaction_not_allowed",
    "new_account_information_available",
)


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    q2c_autopay_move_id = fields.Many2one(
        "account.move",
        string="Automatic Payment of",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="set null",
        help="The invoice this off-session charge pays (automatic payment of a subscription).",
    )
    q2c_attempt = fields.Integer(
        string="Attempt",
        readonly=True,
        copy=False,
        help="Attempt number of the automatic payment of the invoice (1 = first charge).",
    )
    q2c_decline_code = fields.Char(
        string="Decline Code",
        readonly=True,
        copy=False,
        help="The provider's reason for refusing the payment (e.g. insufficient_funds, lost_card).",
    )
    q2c_is_hard_decline = fields.Boolean(
        string="Hard Decline",
        compute="_compute_q2c_is_hard_decline",
        store=True,
        help="The decline code says the payment method will never work again (lost, stolen, "
        "closed, invalid...): no retry, the customer must give a new payment method.",
    )
    q2c_was_unknown = fields.Boolean(
        string="Outcome Was Unknown",
        readonly=True,
        copy=False,
        help="The provider did not answer the request at first (timeout).",
    )
    q2c_handled_state = fields.Char(
        readonly=True,
        copy=False,
        help="Technical: the state whose outcome was last applied to the invoice and the "
        "subscription (a replayed notification finds it handled and changes nothing).",
    )
    q2c_subscription_id = fields.Many2one(
        "q2c.subscription",
        string="Payment Method for",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="set null",
        help="Subscription whose payment method the token created by this transaction "
        "replaces (customer portal).",
    )

    _sql_constraints = [
        (
            "q2c_autopay_attempt_uniq",
            "unique(q2c_autopay_move_id, q2c_attempt)",
            "An automatic payment attempt exists already for this invoice and attempt number.",
        ),
    ]

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("q2c_decline_code")
    def _compute_q2c_is_hard_decline(self):
        hard_codes = self._q2c_hard_decline_codes()
        for tx in self:
            code = (tx.q2c_decline_code or "").strip().lower()
            tx.q2c_is_hard_decline = bool(code) and code in hard_codes

    @api.model
    def _q2c_hard_decline_codes(self):
        """The decline codes that are hard declines (lower case)."""
        param = self.env["ir.config_parameter"].sudo().get_param("q2c_billing.hard_decline_codes")
        if param:
            return {code.strip().lower() for code in param.split(",") if code.strip()}
        return set(HARD_DECLINE_CODES)

    # ------------------------------------------------------------------
    # Notifications and state changes
    # ------------------------------------------------------------------

    def _process_notification_data(self, notification_data):
        """Record the provider's decline code before the state changes, so that the failure
        hooks see it."""
        code = self._q2c_get_decline_code(notification_data)
        if code and self.q2c_decline_code != code:
            self.q2c_decline_code = code
        return super()._process_notification_data(notification_data)

    def _q2c_get_decline_code(self, notification_data):
        """Hook: the decline code carried by the provider's notification, if any.

        Generic: the ``decline_code`` key, at the top level or under ``error`` /
        ``last_payment_error`` (Stripe's shape). Providers with another shape override this.
        """
        if not isinstance(notification_data, dict):
            return False
        for container in (
            notification_data,
            notification_data.get("error"),
            notification_data.get("last_payment_error"),
        ):
            if isinstance(container, dict):
                code = container.get("q2c_decline_code") or container.get("decline_code")
                if code and isinstance(code, str):
                    return code.strip()[:64]
        return False

    def _update_state(self, allowed_states, target_state, state_message):
        """Automatic payments: post-process at once (the customer is not there to trigger it
        through the status page). Replays change no state, hence trigger nothing."""
        updated = super()._update_state(allowed_states, target_state, state_message)
        if updated.filtered("q2c_autopay_move_id") or updated.filtered("q2c_subscription_id"):
            cron = self.env.ref("payment.cron_post_process_payment_tx", raise_if_not_found=False)
            if cron:
                cron._trigger()
        return updated

    def _post_process(self):
        """After account_payment's post-processing (payment created and reconciled for a
        confirmed transaction), apply the outcome to the invoice and the subscription once per
        state; assign tokens saved from the portal or from a quote to their subscription."""
        res = super()._post_process()
        self.filtered("q2c_autopay_move_id")._q2c_apply_autopay_outcome()
        self._q2c_assign_tokens_to_subscriptions()
        return res

    def _q2c_apply_autopay_outcome(self):
        for tx in self:
            if tx.state == "draft" or tx.q2c_handled_state == tx.state:
                continue
            tx.q2c_handled_state = tx.state
            tx.q2c_autopay_move_id._q2c_on_autopay_result(tx)

    def _q2c_assign_tokens_to_subscriptions(self):
        """A token created by a confirmed or authorized transaction becomes the payment method
        of the subscription it was saved for (portal), or of the subscriptions created from the
        paid quote that have none yet."""
        for tx in self.filtered(lambda tx: tx.token_id and tx.state in ("done", "authorized")):
            subscriptions = tx.q2c_subscription_id
            if not subscriptions and "sale_order_ids" in tx._fields and tx.sale_order_ids:
                subscriptions = (
                    self.env["q2c.subscription"]
                    .sudo()
                    .search(
                        [
                            ("sale_order_id", "in", tx.sale_order_ids.ids),
                            ("payment_token_id", "=", False),
                            ("state", "!=", "closed"),
                        ]
                    )
                )
            for subscription in subscriptions:
                if subscription.payment_token_id != tx.token_id:
                    subscription._q2c_assign_token(tx.token_id)

    # ------------------------------------------------------------------
    # Resolution of unknown outcomes
    # ------------------------------------------------------------------

    def _q2c_query_provider_state(self):
        """Hook: ask the provider for the state of this transaction.

        Returns the provider's answer as notification data (processed like a webhook), or an
        empty dict when the provider cannot be asked. Providers with a status API override this;
        by default only the stored state is re-read (a webhook may have updated it).
        """
        self.ensure_one()
        return {}

    def _q2c_resolve_state(self):
        """Re-read the state, ask the provider, process its answer. Returns the transaction."""
        self.ensure_one()
        self.invalidate_recordset(["state", "state_message", "q2c_decline_code"])
        if self.state not in ("draft", "pending", "authorized"):
            return self
        try:
            answer = self._q2c_query_provider_state()
        except Exception as error:
            _logger.warning("q2c: asking the provider for %s failed: %s", self.reference, error)
            answer = None
        if answer:
            self._process_notification_data(answer)
        if self.state != "draft" and not self.is_post_processed:
            self._post_process()
        return self

    def _q2c_state_label(self):
        self.ensure_one()
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    def _q2c_failure_reason(self):
        """The error shown on the invoice: the decline code and the provider's message."""
        self.ensure_one()
        parts = []
        if self.q2c_decline_code:
            parts.append(
                _("%(code)s (hard decline)", code=self.q2c_decline_code)
                if self.q2c_is_hard_decline
                else self.q2c_decline_code
            )
        if self.state_message:
            parts.append(self.state_message)
        if not parts:
            parts.append(self._q2c_state_label())
        return " - ".join(parts)
