from datetime import timedelta

from odoo import api, models


class Q2cDemoGenerator(models.AbstractModel):
    """Demo history: the revenue recognition run at the end of every month (and today) over
    the contracts the replayed subscriptions opened."""

    _inherit = "q2c.demo.generator"

    @api.model
    def _q2c_demo_on_day(self, ctx, day):
        super()._q2c_demo_on_day(ctx, day)
        if day.month != (day + timedelta(days=1)).month or day == ctx["today"]:
            with self._q2c_demo_timer(ctx, "revrec"):
                result = self.env["q2c.revrec.run"].run_recognition(day)
            ctx["revenue_recognized"] = ctx.get("revenue_recognized", 0.0) + result["recognized"]

    @api.model
    def _q2c_demo_summary(self, ctx):
        summary = super()._q2c_demo_summary(ctx)
        contracts = self.env["q2c.revenue.contract"].search(
            [("partner_id", "in", ctx["partners"].ids)]
        )
        summary["revenue_contracts"] = len(contracts)
        summary["revenue_lines_posted"] = len(
            contracts.schedule_line_ids.filtered(lambda line: line.state == "posted")
        )
        # Company currency, as the runs report it.
        summary["revenue_recognized"] = self.env.company.currency_id.round(
            ctx.get("revenue_recognized", 0.0)
        )
        return summary
