from odoo import models


class Q2cBillingRun(models.Model):
    """Billing runs and usage: after a run bills a subscription's window in arrears, the events
    of that subscription still pending up to the window's end were billed by no invoice line
    (no usage plan for their metric then, a trial, a pause...): they become unbillable with
    their reason, in one query per batch, so that nothing silently reads as zero."""

    _inherit = "q2c.billing.run"

    def _q2c_write_back(self, plans, moves_by_sub):
        result = super()._q2c_write_back(plans, moves_by_sub)
        ends = {}
        for plan in plans:
            for cycle in plan["cycles"]:
                arrears = cycle.get("arrears")
                if arrears:
                    sub_id = plan["sub"].id
                    ends[sub_id] = max(ends.get(sub_id, arrears[1]), arrears[1])
        if ends:
            self.env["q2c.subscription"].sudo()._q2c_usage_sweep(ends)
        return result
