from odoo.tests import tagged

from .common import Q2cRevrecCommon


@tagged("post_install", "-at_install")
class TestQ2cRevrecCollectibility(Q2cRevrecCommon):
    def _contract(self):
        contract = self._q2c_contract(
            1200.0,
            [
                self._q2c_obligation(
                    self.product_support, ssp=1200.0, start="2026-01-01", end="2026-12-31"
                )
            ],
        )
        contract.action_activate()
        invoice = self._q2c_invoice(contract, 1200.0, "2026-01-01")
        return contract, invoice

    def _flag_doubtful(self, invoice):
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE account_move SET q2c_collectibility = 'doubtful' WHERE id = %s", [invoice.id]
        )
        invoice.invalidate_recordset()

    def test_hold_doubtful(self):
        Run = self.env["q2c.revrec.run"]
        contract, invoice = self._contract()
        other, _other_invoice = self._contract()
        self.company.q2c_revrec_hold_doubtful = True
        if "q2c_collectibility" not in self.env["account.move"]._fields:
            # Without q2c_dunning nothing is doubtful: the policy holds nothing.
            self.assertEqual(Run.run_recognition("2026-01-31")["recognized"], 200.0)
            return
        self._flag_doubtful(invoice)
        result = Run.run_recognition("2026-02-28")
        self.assertEqual(result["recognized"], 200.0, "only the other contract")
        self.assertEqual(contract.recognized_amount, 0.0)
        self.assertEqual(other.recognized_amount, 200.0)
        notes = contract.message_ids.filtered(lambda m: "held" in (m.body or ""))
        self.assertEqual(len(notes), 1)
        self.assertIn(invoice.name, notes.body)
        # Collectible again: the held periods are caught up by the next run.
        self.env.cr.execute(
            "UPDATE account_move SET q2c_collectibility = 'collectible' WHERE id = %s",
            [invoice.id],
        )
        invoice.invalidate_recordset()
        self.assertEqual(Run.run_recognition("2026-02-28")["recognized"], 200.0)
        contract.invalidate_recordset()
        self.assertEqual(contract.recognized_amount, 200.0)

    def test_policy_off_recognizes_doubtful(self):
        contract, invoice = self._contract()
        self.assertFalse(self.company.q2c_revrec_hold_doubtful)
        if "q2c_collectibility" in self.env["account.move"]._fields:
            self._flag_doubtful(invoice)
        self.assertEqual(
            self.env["q2c.revrec.run"].run_recognition("2026-01-31")["recognized"], 100.0
        )
        self.assertEqual(contract.recognized_amount, 100.0)
