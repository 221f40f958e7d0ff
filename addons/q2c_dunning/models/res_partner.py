from odoo import api, fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    q2c_dunning_policy_id = fields.Many2one(
        "q2c.dunning.policy",
        string="Dunning Policy",
        company_dependent=True,
        help="The dunning policy of this customer's invoices (first in precedence: before the "
        "price plan's and the company default).",
    )
    q2c_dunning_case_count = fields.Integer(
        string="Dunning Cases", compute="_compute_q2c_dunning_case_count"
    )

    @api.depends_context("company")
    def _compute_q2c_dunning_case_count(self):
        commercial = self.commercial_partner_id
        counts = dict(
            self.env["q2c.dunning.case"]._read_group(
                [("partner_id", "in", commercial.ids)], ["partner_id"], ["__count"]
            )
        )
        for partner in self:
            partner.q2c_dunning_case_count = counts.get(partner.commercial_partner_id, 0)

    def action_q2c_view_dunning_cases(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "q2c_dunning.q2c_dunning_case_action"
        )
        action["domain"] = [("partner_id", "=", self.commercial_partner_id.id)]
        action["context"] = {"create": False, "search_default_filter_active": 0}
        return action
