import re
from unittest.mock import patch

from freezegun import freeze_time

from odoo import SUPERUSER_ID, Command
from odoo.tests import tagged

from .common import DAY0, Q2cDunningCommon

# Columns that differ between two runs whatever the path: row ids, timestamps of the
# transaction, the random Message-Id of a mail.
VOLATILE = {"id", "create_date", "write_date", "message_id"}
# The portal tokens are random: a link compares by what it points to.
TOKEN_RE = re.compile(r"access_token=[0-9a-f-]{36}")


@tagged("post_install", "-at_install")
class TestDunningOpenSetBased(Q2cDunningCommon):
    """The run opens its cases set-based (``_q2c_insert_cases``: cases, subscriptions, first
    timeline rows and the invoices' dunning fields in a few statements): the same rows as the
    ORM path (``q2c_dunning_orm_open`` in the context), compared column by column in the
    database (cases, their subscriptions, timelines, invoices, mails, messages and their
    recipients), to the cent."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.eur = cls.setup_other_currency("EUR")
        cls.customer_3 = cls.env["res.partner"].create(
            {"name": "Fee Customer", "email": "ap@fee-customer.example.com"}
        )
        cls.fee_policy = cls.env["q2c.dunning.policy"].create(
            {
                "name": "With fee",
                "sequence": 50,
                "fee_product_id": cls.fee_product.id,
                "fee_delay_days": 2,
                "step_ids": [
                    Command.create({"delay_days": 4, "action": "retry_payment"}),
                    Command.create({"delay_days": 5, "action": "send_reminder"}),
                ],
            }
        )
        cls.customer_3.q2c_dunning_policy_id = cls.fee_policy

    def _scenario(self):
        """Invoices of every shape the opening knows: past due (one subscription, two
        subscriptions, partly paid, in euros, under a policy with a fee) and failed automatic
        payments (soft and hard decline). Returns ``(invoices, failing)``."""
        sub_a = self._dun_subscription()
        sub_b1 = self._dun_subscription(partner=self.customer_2)
        sub_b2 = self._dun_subscription(partner=self.customer_2)
        sub_f = self._dun_subscription(partner=self.customer_3)
        inv_a = self._dun_invoice(sub_a, amount=100.0, due=DAY0)
        inv_b = self._dun_invoice(sub_b1, amount=80.0, due=DAY0, post=False)
        inv_b.invoice_line_ids = [
            Command.create(
                {
                    "product_id": self.product.id,
                    "name": f"{sub_b2.name} service",
                    "quantity": 1.0,
                    "price_unit": 20.5,
                    "tax_ids": [Command.clear()],
                    "q2c_subscription_id": sub_b2.id,
                }
            )
        ]
        inv_b.with_context(q2c_no_autopay=True).action_post()
        inv_e = self._dun_invoice(sub_a, amount=100.0, due=DAY0)
        with freeze_time(DAY0):
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=inv_e.ids
            ).create({"amount": 40.0, "payment_date": DAY0}).action_create_payments()
        inv_eur = self._dun_invoice(sub_b1, amount=100.33, due=DAY0, post=False)
        inv_eur.currency_id = self.eur
        inv_eur.with_context(q2c_no_autopay=True).action_post()
        inv_f = self._dun_invoice(sub_f, amount=55.55, due=DAY0)
        soft = self._dun_subscription(partner=self.customer, token=self._dun_token(self.customer))
        hard = self._dun_subscription(
            partner=self.customer_2, token=self._dun_token(self.customer_2, details="1111")
        )
        inv_soft = self._dun_invoice(soft, amount=42.0)
        inv_hard = self._dun_invoice(hard, amount=43.0)
        invoices = inv_a | inv_b | inv_e | inv_eur | inv_f | inv_soft | inv_hard
        self.assertEqual(inv_e.payment_state, "partial")
        return invoices, {inv_soft: None, inv_hard: "lost_card"}

    def _open_and_run(self, invoices, failing, orm, corrupt=None):
        """In a savepoint rolled back after: the failed charges (day 0) and the runs of days 1
        and 2, opening the cases by the ORM (``orm``) or set-based; ``corrupt`` (SQL) run
        after. Returns the snapshot of the rows."""
        # Both ways start from the same state: nothing cached. As the cron: the superuser (the
        # rows the ORM writes when it flushes its recomputations carry the user of whichever
        # environment flushes them).
        self.env.flush_all()
        self.env.invalidate_all()
        env = self.env(user=SUPERUSER_ID, context=dict(self.env.context, q2c_dunning_orm_open=orm))
        with self.env.cr.savepoint(flush=True) as savepoint:
            for invoice, code in failing.items():
                with freeze_time(DAY0), self._dun_provider_answer("error", code):
                    invoice.with_env(env)._q2c_autopay()
            for day in (self._day(1), self._day(2)):
                with freeze_time(day), self._dun_provider_answer("error"):
                    env["q2c.dunning.run"].run_dunning(day.isoformat())
            env.flush_all()
            if corrupt:
                self.env.cr.execute(corrupt)
            snapshot = self._snapshot(invoices)
            savepoint.rollback()
        self.env.invalidate_all(flush=False)
        return snapshot

    def _rows(self, query, params):
        self.env.cr.execute(query, params)
        return self.env.cr.dictfetchall()

    def _snapshot(self, invoices):
        """``{table: [rows]}``: every column of the rows the run wrote, row ids replaced by
        stable keys (case: its invoice; mail and message: model, record and rank; payment
        transaction: its reference)."""
        ids = tuple(invoices.ids)
        cases = self._rows("SELECT * FROM q2c_dunning_case WHERE invoice_id IN %s", [ids])
        case_key = {row["id"]: ("case", row["invoice_id"]) for row in cases}
        messages = self._rows(
            """
            SELECT * FROM mail_message
             WHERE (model = 'account.move' AND res_id IN %s)
                OR (model = 'q2c.dunning.case' AND res_id IN %s)
             ORDER BY model, res_id, id
            """,
            [ids, tuple(case_key) or (0,)],
        )
        message_key = {}
        for row in messages:
            rank = sum(
                1 for key in message_key.values() if key[1:3] == (row["model"], row["res_id"])
            )
            message_key[row["id"]] = ("message", row["model"], row["res_id"], rank)
        mails = self._rows(
            "SELECT * FROM mail_mail WHERE mail_message_id IN %s ORDER BY id",
            [tuple(message_key) or (0,)],
        )
        mail_key = {row["id"]: message_key[row["mail_message_id"]] for row in mails}
        txs = self._rows(
            "SELECT id, reference FROM payment_transaction WHERE partner_id IN %s",
            [tuple(invoices.partner_id.ids)],
        )
        tx_key = {row["id"]: ("tx", row["reference"]) for row in txs}
        maps = {
            "case_id": case_key,
            "q2c_dunning_case_id": case_key,
            "mail_id": mail_key,
            "mail_message_id": message_key,
            "parent_id": message_key,
            "transaction_id": tx_key,
            "q2c_payment_transaction_id": tx_key,
        }

        def clean(rows, sort=None):
            result = []
            for row in rows:
                out = {}
                for column, value in row.items():
                    if column in VOLATILE:
                        continue
                    if column == "access_token":
                        value = bool(value)
                    elif column in maps and value:
                        value = maps[column].get(value, value)
                    elif column == "res_id" and row.get("model") == "q2c.dunning.case":
                        value = case_key.get(value, value)
                    if isinstance(value, str):
                        value = TOKEN_RE.sub("access_token=*", value)
                    out[column] = value
                result.append(out)
            return sorted(result, key=sort) if sort else result

        return {
            "q2c_dunning_case": clean(cases, sort=lambda row: row["invoice_id"]),
            "q2c_dunning_case_subscription_rel": sorted(
                (case_key[case_id], sub_id)
                for case_id, sub_id in self._rows_tuples(
                    "SELECT case_id, subscription_id FROM q2c_dunning_case_subscription_rel "
                    "WHERE case_id IN %s",
                    [tuple(case_key) or (0,)],
                )
            ),
            "q2c_dunning_case_log": clean(
                self._rows(
                    """
                    SELECT log.* FROM q2c_dunning_case_log log
                      JOIN q2c_dunning_case dc ON dc.id = log.case_id
                     WHERE dc.invoice_id IN %s ORDER BY dc.invoice_id, log.id
                    """,
                    [ids],
                )
            ),
            "account_move": clean(
                self._rows("SELECT * FROM account_move WHERE id IN %s ORDER BY id", [ids])
            ),
            "mail_message": clean(messages),
            "mail_mail": clean(mails, sort=lambda row: row["mail_message_id"]),
            "mail_recipients": sorted(
                (mail_key[mail_id], partner_id)
                for mail_id, partner_id in self._rows_tuples(
                    "SELECT mail_mail_id, res_partner_id FROM mail_mail_res_partner_rel "
                    "WHERE mail_mail_id IN %s",
                    [tuple(mail_key) or (0,)],
                )
            ),
            "message_partners": sorted(
                (message_key[message_id], partner_id)
                for message_id, partner_id in self._rows_tuples(
                    "SELECT mail_message_id, res_partner_id FROM mail_message_res_partner_rel "
                    "WHERE mail_message_id IN %s",
                    [tuple(message_key) or (0,)],
                )
            ),
        }

    def _rows_tuples(self, query, params):
        self.env.cr.execute(query, params)
        return self.env.cr.fetchall()

    def _differences(self, orm, ours):
        """``[(table, row, column)]`` where the two snapshots differ."""
        diffs = []
        for table in orm:
            if len(orm[table]) != len(ours[table]):
                diffs.append((table, "rows", len(orm[table]), len(ours[table])))
                continue
            for index, (theirs, mine) in enumerate(zip(orm[table], ours[table], strict=True)):
                if not isinstance(theirs, dict):
                    if theirs != mine:
                        diffs.append((table, index, theirs, mine))
                    continue
                for column in theirs:
                    if theirs[column] != mine.get(column):
                        diffs.append((table, index, column, theirs[column], mine.get(column)))
        return diffs

    def test_set_based_opening_writes_the_rows_of_the_orm(self):
        invoices, failing = self._scenario()
        Case = type(self.env["q2c.dunning.case"])
        insert = Case._q2c_insert_cases
        with patch.object(Case, "_q2c_insert_cases", autospec=True, side_effect=insert) as spy:
            orm = self._open_and_run(invoices, failing, orm=True)
            self.assertFalse(spy.called)
            ours = self._open_and_run(invoices, failing, orm=False)
        # Set-based: every case but the hard decline's (not known to it: the ORM opens it).
        self.assertEqual(sum(len(call.args[1]) for call in spy.call_args_list), len(invoices) - 1)
        # The scenario does what it says: every invoice opened once, the ones due mailed.
        self.assertEqual(len(orm["q2c_dunning_case"]), len(invoices))
        self.assertEqual(
            {row["origin"] for row in ours["q2c_dunning_case"]}, {"past_due", "payment_failed"}
        )
        self.assertTrue(orm["mail_mail"])
        self.assertIn(
            ("q2c_dunning_case", 0, "failed_amount_company"),
            [diff[:3] for diff in self._differences(orm, self._corrupted(invoices, failing))],
        )
        self.assertEqual(self._differences(orm, ours), [])
        eur = next(row for row in ours["q2c_dunning_case"] if row["currency_id"] == self.eur.id)
        invoice = invoices.browse(eur["invoice_id"])
        self.assertEqual(float(eur["failed_amount"]), 100.33)
        self.assertEqual(float(eur["failed_amount_company"]), abs(invoice.amount_residual_signed))
        self.assertNotEqual(invoice.amount_residual, abs(invoice.amount_residual_signed))

    def test_steps_of_cases_opened_in_the_run_are_written_once(self):
        """The steps due on the day a run opens their case are not claimed first (no other run
        sees the case before it commits): their timeline rows are inserted with their outcome
        once the steps ran. The same rows as claiming first and writing the outcome after."""
        invoices, failing = self._scenario()
        Case = type(self.env["q2c.dunning.case"])
        execute = Case._q2c_execute

        def claim_first(case, items, day, opened=None):
            return execute(case, items, day)

        with patch.object(Case, "_q2c_execute", claim_first):
            claimed_first = self._open_and_run(invoices, failing, orm=False)
        Log = type(self.env["q2c.dunning.case.log"])
        claim = Log._q2c_claim
        with patch.object(Log, "_q2c_claim", autospec=True, side_effect=claim) as spy:
            ours = self._open_and_run(invoices, failing, orm=False)
        performed = [
            item
            for call in spy.call_args_list
            if call.kwargs.get("performed")
            for item in call.args[1]
        ]
        # Day 1 opens the cases and runs the steps due then: reminders mailed among them.
        self.assertTrue(any(item.get("mail") for item in performed))
        self.assertTrue(claimed_first["mail_mail"])
        self.assertEqual(self._differences(claimed_first, ours), [])

    def test_a_reminder_that_fails_on_the_opening_day_is_recorded_as_by_the_orm(self):
        """A case opened set-based is inserted with the state its reminders due that day leave
        it in; when the mail cannot be queued, the run records what happened instead (an
        error on the timeline, the case still at its first stage), the rows of the ORM
        path."""
        invoices, failing = self._scenario()
        Template = type(self.env["mail.template"])
        with patch.object(Template, "_q2c_queue_batch", side_effect=RuntimeError("SMTP down")):
            orm = self._open_and_run(invoices, failing, orm=True)
            ours = self._open_and_run(invoices, failing, orm=False)
        self.assertFalse(ours["mail_mail"])
        self.assertIn("error", {row["result"] for row in ours["q2c_dunning_case_log"]})
        self.assertNotIn("reminded", {row["stage"] for row in ours["q2c_dunning_case"]})
        self.assertEqual(self._differences(orm, ours), [])

    def _corrupted(self, invoices, failing):
        first = min(invoices.ids)
        return self._open_and_run(
            invoices,
            failing,
            orm=False,
            corrupt=(
                "UPDATE q2c_dunning_case SET failed_amount_company = failed_amount_company "
                f"+ 0.01 WHERE invoice_id = {first}"
            ),
        )

    def test_comparison_sees_a_broken_column(self):
        """The comparison fails on one wrong value in any of the tables written."""
        invoices, failing = self._scenario()
        orm = self._open_and_run(invoices, failing, orm=True)
        first = min(invoices.ids)
        for corrupt, expected in (
            (
                f"UPDATE q2c_dunning_case SET next_action_date = next_action_date + 1 "
                f"WHERE invoice_id = {first}",
                ("q2c_dunning_case", "next_action_date"),
            ),
            (
                "UPDATE q2c_dunning_case_log SET note = note || '.' WHERE id = "
                "(SELECT min(id) FROM q2c_dunning_case_log WHERE action = 'open' AND case_id = "
                f"(SELECT id FROM q2c_dunning_case WHERE invoice_id = {first}))",
                ("q2c_dunning_case_log", "note"),
            ),
            (
                f"UPDATE account_move SET q2c_collectibility = 'doubtful' WHERE id = {first}",
                ("account_move", "q2c_collectibility"),
            ),
            (
                "DELETE FROM q2c_dunning_case_subscription_rel WHERE case_id = "
                f"(SELECT id FROM q2c_dunning_case WHERE invoice_id = {first})",
                ("q2c_dunning_case_subscription_rel", "rows"),
            ),
            (
                "UPDATE mail_message SET subject = subject || '!' WHERE id = (SELECT max(id) "
                f"FROM mail_message WHERE model = 'account.move' AND res_id = {first})",
                ("mail_message", "subject"),
            ),
        ):
            broken = self._open_and_run(invoices, failing, orm=False, corrupt=corrupt)
            diffs = self._differences(orm, broken)
            self.assertTrue(diffs, corrupt)
            self.assertIn(
                expected,
                [(diff[0], diff[2] if diff[1] != "rows" else "rows") for diff in diffs],
                corrupt,
            )
