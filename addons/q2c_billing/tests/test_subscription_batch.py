from datetime import date

from odoo.tests import tagged

from .common import Q2cSubscriptionCommon


@tagged("post_install", "-at_install")
class TestSubscriptionBatchTransitions(Q2cSubscriptionCommon):
    """Pausing or closing many subscriptions in one call (as dunning does) gives each one the
    same result as doing them one at a time: states, dates, state logs, credits, MRR movements
    of their customers, notes, final invoices."""

    def _q2c_set(self, tag):
        """Two customers and their subscriptions: two billed ones of the same customer (in
        USD), a billed one in EUR, a trial and a draft of the other customer."""
        Partner = self.env["res.partner"]
        first = Partner.create({"name": f"Batch {tag} one"})
        second = Partner.create({"name": f"Batch {tag} two"})
        subs = (
            self._q2c_subscription([(self.plan_seat, 3)], partner=first)
            | self._q2c_subscription([(self.plan_platform, 1), (self.plan_seat, 2)], partner=first)
            | self._q2c_subscription(
                [(self.plan_platform_eur, 1), (self.plan_seat_eur, 4)],
                partner=second,
                currency=self.eur,
            )
            | self._q2c_subscription(
                [(self.plan_seat, 2)], partner=second, trial_end_date=date(2026, 1, 31)
            )
            | self._q2c_subscription([(self.plan_seat, 1)], partner=second, activate=False)
        )
        return first | second, subs

    def _q2c_commit_point(self):
        """As after a commit: the changes made so far are tracked (the transition's own then go
        on its note); returns the last message id."""
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.env.cr.execute("SELECT max(id) FROM mail_message")
        return self.env.cr.fetchone()[0]

    def _q2c_tracked(self, subs):
        """``subs`` with the tracking of changes on (the test classes turn it off)."""
        return subs.with_context(tracking_disable=False, mail_notrack=False)

    def _q2c_facts(self, partners, subs, since):
        """Everything a transition leaves, per subscription (by position) and per customer;
        the notes logged after the message id ``since``."""
        Movement = self.env["q2c.mrr.movement"]
        index = {sub.id: i for i, sub in enumerate(subs)}
        per_sub = []
        for sub in subs:
            notes = sub.message_ids.filtered(
                lambda message: (
                    message.id > since
                    and message.message_type == "comment"
                    and message.subtype_id == self.env.ref("mail.mt_note")
                )
            )
            per_sub.append(
                {
                    "state": sub.state,
                    "paused_date": sub.paused_date,
                    "closed_date": sub.closed_date,
                    "end_date": sub.end_date,
                    "next_invoice_date": sub.next_invoice_date,
                    "close_reason": sub.close_reason_id,
                    "mrr": sub.mrr,
                    "logs": [(log.date, log.state) for log in sub.state_log_ids],
                    "changes": [
                        (
                            change.change_type,
                            change.effective_date,
                            change.period_start,
                            change.period_end,
                            change.credit_amount,
                            change.charge_amount,
                            change.mrr_delta,
                            change.billing_state,
                        )
                        for change in sub.change_ids.sorted("id")
                    ],
                    "notes": [
                        (note.body, sorted(note.tracking_value_ids.field_id.mapped("name")))
                        for note in notes.sorted("id")
                    ],
                }
            )
        movements = [
            [
                (
                    m.date,
                    m.type,
                    m.mrr_delta,
                    m.mrr_before,
                    m.mrr_after,
                    index[m.subscription_id.id],
                )
                for m in Movement.search([("partner_id", "=", partner.id)], order="date, id")
            ]
            for partner in partners
        ]
        return per_sub, movements

    def test_close_many_at_once_as_one_at_a_time(self):
        partners_a, subs_a = self._q2c_set("A")
        partners_b, subs_b = self._q2c_set("B")
        self._run(date(2026, 1, 1))
        subs_a[1].action_pause(date(2026, 1, 10))
        subs_b[1].action_pause(date(2026, 1, 10))

        since = self._q2c_commit_point()
        subs_a, subs_b = self._q2c_tracked(subs_a), self._q2c_tracked(subs_b)
        for sub in subs_a:
            sub.action_close("2026-01-15", self.reason_price.id)
        subs_b.action_close("2026-01-15", self.reason_price.id)

        facts_a = self._q2c_facts(partners_a, subs_a, since)
        facts_b = self._q2c_facts(partners_b, subs_b, since)
        self.assertEqual(facts_a, facts_b)
        per_sub, movements = facts_b
        self.assertEqual(set(subs_b.mapped("state")), {"closed"})
        self.assertEqual(subs_b.close_reason_id, self.reason_price)
        # The unused Jan 16-31 of 3 seats: 16/31 of 30.00 credited.
        self.assertEqual(sum(change[4] for change in per_sub[0]["changes"]), -15.48)
        self.assertTrue(per_sub[2]["changes"], "the EUR subscription is credited too")
        self.assertFalse(per_sub[3]["changes"] or per_sub[4]["changes"])
        self.assertEqual(
            [log for log in per_sub[0]["logs"] if log[1] == "closed"],
            [(date(2026, 1, 16), "closed")],
        )
        self.assertIn("Closed on 2026-01-15 (Too expensive).", per_sub[0]["notes"][-1][0])
        # The tracked changes of the close are on its note.
        self.assertLessEqual(
            {"state", "closed_date", "end_date", "close_reason_id"}, set(per_sub[0]["notes"][-1][1])
        )
        # Customer one: the paused subscription's MRR went on the 10th, the other's on the 16th.
        self.assertEqual(movements[0][-1][:5], (date(2026, 1, 16), "churn", -30.0, 30.0, 0.0))

        # The final invoices credit the same amounts, to the cent.
        invoices = self._invoices(self._run(date(2026, 1, 16)))
        totals = {
            partner: sorted(
                (move.move_type, move.currency_id.name, move.amount_untaxed, move.amount_total)
                for move in invoices.filtered(lambda move, p=partner: move.partner_id == p)
            )
            for partner in partners_a | partners_b
        }
        for partner_a, partner_b in zip(partners_a, partners_b, strict=True):
            self.assertEqual(totals[partner_a], totals[partner_b])
        credited = self.usd.round(
            -sum(change[4] for sub in per_sub[:2] for change in sub["changes"])
        )
        self.assertEqual(
            [(kind, untaxed) for kind, __, untaxed, __ in totals[partners_b[0]]],
            [("out_refund", credited)],
        )

    def test_pause_many_at_once_as_one_at_a_time(self):
        partners_a, subs_a = self._q2c_set("A")
        partners_b, subs_b = self._q2c_set("B")
        self._run(date(2026, 1, 1))
        active_a = subs_a.filtered(lambda sub: sub.state == "active")
        active_b = subs_b.filtered(lambda sub: sub.state == "active")
        self.assertEqual(len(active_b), 3)

        since = self._q2c_commit_point()
        active_a, active_b = self._q2c_tracked(active_a), self._q2c_tracked(active_b)
        for sub in active_a:
            sub.action_pause("2026-01-20")
        active_b.action_pause("2026-01-20")

        facts_a = self._q2c_facts(partners_a, subs_a, since)
        facts_b = self._q2c_facts(partners_b, subs_b, since)
        self.assertEqual(facts_a, facts_b)
        per_sub, movements = facts_b
        self.assertEqual(active_b.mapped("state"), ["paused"] * 3)
        self.assertEqual(per_sub[0]["logs"][-1], (date(2026, 1, 20), "paused"))
        self.assertEqual(
            per_sub[0]["notes"][-1], ("<p>Paused from 2026-01-20.</p>", ["paused_date", "state"])
        )
        # Customer one: 30.00 + 120.00 of MRR lost on the 20th.
        self.assertEqual(movements[0][-1][:5], (date(2026, 1, 20), "churn", -150.0, 150.0, 0.0))
