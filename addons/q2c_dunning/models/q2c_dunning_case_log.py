from odoo import api, fields, models
from odoo.tools import SQL

LOG_ACTIONS = [
    ("open", "Opened"),
    ("retry_payment", "Payment Retry"),
    ("send_reminder", "Reminder"),
    ("suspend", "Suspension"),
    ("cancel", "Cancellation"),
    ("fee", "Dunning Fee"),
    ("payment_failed", "Payment Failed"),
    ("pause", "Case Paused"),
    ("resume", "Case Resumed"),
    ("skip", "Step Skipped"),
    ("recover", "Recovered"),
    ("close", "Closed"),
    ("resume_subscription", "Subscription Resumed"),
    ("letter", "Letter"),
]
LOG_RESULTS = [
    ("claimed", "In Progress"),
    ("done", "Done"),
    ("pending", "Pending"),
    ("failed", "Failed"),
    ("skipped", "Skipped"),
    ("error", "Error"),
]


class Q2cDunningCaseLog(models.Model):
    """The timeline of a dunning case: one row per thing that happened.

    A row with a ``claim_key`` is a *claim*: the run inserts it (``INSERT ... ON CONFLICT DO
    NOTHING``, unique per case and key) before it performs the action, so that a step is
    executed once even when two runs race: the run that did not get the row does nothing.
    """

    _name = "q2c.dunning.case.log"
    _description = "Dunning Case Timeline"
    _order = "date, id"

    # Not indexed: the unique index on (case_id, claim_key) serves case_id, company_id is read
    # with its case (indexes dropped by q2c.dunning.case._q2c_drop_unused_indexes).
    case_id = fields.Many2one("q2c.dunning.case", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="case_id.company_id", store=True)
    step_id = fields.Many2one("q2c.dunning.step", ondelete="set null")
    claim_key = fields.Char(
        readonly=True,
        help="Technical: what this row claims (a step, a fee, a notice); unique per case.",
    )
    date = fields.Date(required=True, default=fields.Date.context_today)
    action = fields.Selection(LOG_ACTIONS, required=True)
    result = fields.Selection(LOG_RESULTS, required=True, default="done")
    note = fields.Char()
    transaction_id = fields.Many2one("payment.transaction", ondelete="set null")
    mail_id = fields.Many2one("mail.mail", string="Mail", ondelete="set null")
    user_id = fields.Many2one("res.users", default=lambda self: self.env.user)

    _sql_constraints = [
        (
            "claim_uniq",
            "unique(case_id, claim_key)",
            "A dunning step is executed once per case.",
        ),
    ]

    @api.model
    def _q2c_claim(self, items, day, performed=False):
        """Insert a claim row per item ``{"case": case, "key": str, "step": step, "action":
        str}`` and return ``{(case id, key): log id}`` for the rows this transaction got. An
        item whose outcome is known before anything is done (``result`` and ``note`` set: a
        step skipped) is inserted with it.

        ``performed``: the items were performed already (items of cases this transaction
        opened, which no other run can see, let alone claim): their rows are inserted with
        their outcome (``result``, done by default, ``note``, ``tx``, ``mail``), written once
        instead of claimed, then updated.

        One statement for the batch. A row claimed by a run that committed meanwhile is not
        returned (it is that run's); PostgreSQL makes this transaction wait while that run is
        in progress and, under Odoo's repeatable-read isolation, fails it with a serialization
        error that Odoo retries from the start (the retry then sees the claim as done).
        """
        if not items:
            return {}
        self.env["q2c.dunning.case"].flush_model(["company_id"])
        self.flush_model()
        uid = self.env.uid
        query = SQL(
            """
            INSERT INTO q2c_dunning_case_log (
                case_id, claim_key, step_id, action, date, result, note, transaction_id,
                mail_id, company_id, user_id, create_uid, create_date, write_uid, write_date
            )
            SELECT c.case_id, c.claim_key, c.step_id, c.action, %(day)s, c.result, c.note,
                   c.tx, c.mail, dc.company_id, %(uid)s, %(uid)s, NOW() AT TIME ZONE 'UTC',
                   %(uid)s, NOW() AT TIME ZONE 'UTC'
              FROM unnest(%(case_ids)s::int[], %(keys)s::varchar[], %(step_ids)s::int[],
                          %(actions)s::varchar[], %(results)s::varchar[], %(notes)s::varchar[],
                          %(txs)s::int[], %(mails)s::int[])
                   WITH ORDINALITY AS c(case_id, claim_key, step_id, action, result, note, tx,
                                        mail, position)
              JOIN q2c_dunning_case dc ON dc.id = c.case_id
          ORDER BY c.position
                ON CONFLICT (case_id, claim_key) DO NOTHING
            RETURNING id, case_id, claim_key
            """,
            day=day,
            uid=uid,
            case_ids=[item["case"].id for item in items],
            keys=[item["key"] for item in items],
            step_ids=[item["step"].id or None for item in items],
            actions=[item["action"] for item in items],
            results=[item.get("result") or ("done" if performed else "claimed") for item in items],
            notes=[item.get("note") or None for item in items],
            txs=[item["tx"].id if item.get("tx") else None for item in items],
            mails=[item["mail"].id if item.get("mail") else None for item in items],
        )
        rows = self.env.execute_query(query)
        for item in items:
            # Written with the claim: nothing left to write for it.
            item["written"] = performed or bool(item.get("result"))
        self.env["q2c.dunning.case"].invalidate_model(["log_ids"])
        return {(case_id, key): log_id for log_id, case_id, key in rows}

    @api.model
    def _q2c_set_results(self, items):
        """Write the outcome of claimed items (``log_id``, ``result``, ``note``, ``tx``,
        ``mail``) in one statement."""
        items = [item for item in items if item.get("log_id") and not item.get("written")]
        if not items:
            return
        self.flush_model()
        query = SQL(
            """
            UPDATE q2c_dunning_case_log AS log
               SET result = u.result,
                   note = u.note,
                   transaction_id = u.tx,
                   mail_id = u.mail,
                   write_date = NOW() AT TIME ZONE 'UTC'
              FROM unnest(%(ids)s::int[], %(results)s::varchar[], %(notes)s::varchar[],
                          %(txs)s::int[], %(mails)s::int[]) AS u(id, result, note, tx, mail)
             WHERE log.id = u.id
            """,
            ids=[item["log_id"] for item in items],
            results=[item.get("result") or "done" for item in items],
            notes=[item.get("note") or None for item in items],
            txs=[item["tx"].id if item.get("tx") else None for item in items],
            mails=[item["mail"].id if item.get("mail") else None for item in items],
        )
        self.env.execute_query(query)
        self.invalidate_model(["result", "note", "transaction_id", "mail_id"])
