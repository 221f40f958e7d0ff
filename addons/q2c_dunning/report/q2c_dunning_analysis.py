from odoo import api, fields, models
from odoo.tools import SQL


class Q2cDunningAnalysis(models.Model):
    """Recovery analytics: one row per dunning case, by the month it started and the step it
    reached (or was recovered after). The rate is the recovered amount over the failed amount
    of the rows grouped (company currency)."""

    _name = "q2c.dunning.analysis"
    _description = "Dunning Recovery Analysis"
    _auto = False
    _order = "date desc"
    _rec_name = "case_id"

    case_id = fields.Many2one("q2c.dunning.case", string="Case", readonly=True)
    date = fields.Date(string="Start Date", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", string="Company Currency", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    policy_id = fields.Many2one("q2c.dunning.policy", string="Policy", readonly=True)
    step_id = fields.Many2one(
        "q2c.dunning.step",
        string="Step",
        readonly=True,
        help="The step after which the case was recovered; for the others, the last step run.",
    )
    step_action = fields.Selection(
        [
            ("none", "Before Any Step"),
            ("retry_payment", "Retry Payment"),
            ("send_reminder", "Send Reminder"),
            ("suspend", "Suspend Subscription"),
            ("cancel", "Cancel Subscription"),
        ],
        string="Step Type",
        readonly=True,
    )
    step_delay = fields.Integer(string="Step Day", readonly=True, aggregator=False)
    state = fields.Selection(
        [
            ("open", "Open"),
            ("paused", "Paused"),
            ("recovered", "Recovered"),
            ("cancelled", "Cancelled"),
        ],
        readonly=True,
    )
    origin = fields.Selection(
        [("payment_failed", "Automatic Payment Failed"), ("past_due", "Past Due")],
        readonly=True,
    )
    recovery_channel = fields.Selection(
        [("retry", "Payment Retry"), ("portal", "Customer Portal"), ("manual", "Manual")],
        readonly=True,
    )
    hard_decline = fields.Boolean(readonly=True)
    case_count = fields.Integer(string="Cases", readonly=True)
    recovered_count = fields.Integer(string="Recovered Cases", readonly=True)
    failed_amount = fields.Monetary(readonly=True)
    recovered_amount = fields.Monetary(readonly=True)
    recovery_rate = fields.Float(
        string="Recovery Rate (%)",
        readonly=True,
        aggregator="avg",
        help="Recovered amount / failed amount of the rows grouped.",
    )
    days_to_recover = fields.Float(string="Days to Recover", readonly=True, aggregator="avg")

    @property
    def _table_query(self):
        # Fields read from the cases: flushed before the view is queried.
        case_fields = self.env["q2c.dunning.case"]._fields
        to_flush = SQL(" ").join(
            SQL("", to_flush=case_fields[name])
            for name in (
                "start_date",
                "company_id",
                "partner_id",
                "policy_id",
                "recovery_step_id",
                "current_step_id",
                "state",
                "origin",
                "recovery_channel",
                "hard_decline",
                "failed_amount_company",
                "recovered_amount_company",
                "recovered_date",
            )
        )
        return SQL(
            """
            SELECT %(flush)s c.id AS id,
                   c.id AS case_id,
                   c.start_date AS date,
                   c.company_id,
                   comp.currency_id AS currency_id,
                   c.partner_id,
                   c.policy_id,
                   COALESCE(c.recovery_step_id, c.current_step_id) AS step_id,
                   COALESCE(s.action, 'none') AS step_action,
                   s.delay_days AS step_delay,
                   c.state,
                   c.origin,
                   c.recovery_channel,
                   c.hard_decline,
                   1 AS case_count,
                   CASE WHEN c.state = 'recovered' THEN 1 ELSE 0 END AS recovered_count,
                   c.failed_amount_company AS failed_amount,
                   CASE WHEN c.state = 'recovered'
                        THEN c.recovered_amount_company ELSE 0 END AS recovered_amount,
                   CASE WHEN c.failed_amount_company > 0 AND c.state = 'recovered'
                        THEN 100.0 * c.recovered_amount_company / c.failed_amount_company
                        ELSE 0 END AS recovery_rate,
                   CASE WHEN c.state = 'recovered'
                        THEN c.recovered_date - c.start_date END AS days_to_recover
              FROM q2c_dunning_case c
              JOIN res_company comp ON comp.id = c.company_id
         LEFT JOIN q2c_dunning_step s ON s.id = COALESCE(c.recovery_step_id, c.current_step_id)
            """,
            flush=to_flush,
        )

    @api.model
    def _read_group_select(self, aggregate_spec, query):
        """The rate of a group is its recovered amount over its failed amount (not the mean
        of the rows' rates)."""
        if aggregate_spec != "recovery_rate:avg":
            return super()._read_group_select(aggregate_spec, query)
        return SQL(
            "COALESCE(100.0 * SUM(%(recovered)s) / NULLIF(SUM(%(failed)s), 0), 0)",
            recovered=self._field_to_sql(self._table, "recovered_amount", query),
            failed=self._field_to_sql(self._table, "failed_amount", query),
        )
