from collections import Counter

from odoo import api, models


class Q2cDemoGenerator(models.AbstractModel):
    """Demo history: the dunning run every Monday (and today) over the replayed invoices,
    so that late payers get their cases, reminders, suspensions and recoveries."""

    _inherit = "q2c.demo.generator"

    @api.model
    def _q2c_demo_on_day(self, ctx, day):
        super()._q2c_demo_on_day(ctx, day)
        if day.weekday() == 0 or day == ctx["today"]:
            with self._q2c_demo_timer(ctx, "dunning"):
                self.env["q2c.dunning.run"].run_dunning(day)

    @api.model
    def _q2c_demo_summary(self, ctx):
        summary = super()._q2c_demo_summary(ctx)
        cases = self.env["q2c.dunning.case"].search([("partner_id", "in", ctx["partners"].ids)])
        summary["dunning_cases"] = len(cases)
        summary["dunning_cases_by_state"] = dict(sorted(Counter(cases.mapped("state")).items()))
        return summary
