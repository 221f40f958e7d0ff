import logging
import random
from collections import Counter

from odoo import Command, api, models
from odoo.exceptions import UserError, ValidationError

_logger = logging.getLogger(__name__)

# What the demo's pipeline holds: (state to reach, seat discount %), one quote each.
DEMO_QUOTES = (
    ("draft", 0),
    ("draft", 0),
    ("draft", 10),
    ("draft", 0),
    ("pending", 25),
    ("pending", 30),
    ("pending", 25),
    ("sent", 0),
    ("sent", 15),
    ("sent", 0),
    ("confirmed", 0),
    ("confirmed", 5),
)


class Q2cDemoGenerator(models.AbstractModel):
    """Demo history: a pipeline of quotes for the demo customers (drafts, quotes waiting for
    approval, sent quotes, confirmed ones that started their subscription)."""

    _inherit = "q2c.demo.generator"

    @api.model
    def _q2c_demo_finish(self, ctx):
        super()._q2c_demo_finish(ctx)
        with self._q2c_demo_timer(ctx, "quotes"):
            ctx["quotes"] = self._q2c_demo_quotes(ctx)

    @api.model
    def _q2c_demo_quotes(self, ctx):
        """The quotes of ``DEMO_QUOTES`` for customers in the company currency (seats and the
        yearly support), each brought to its state by the quote's own actions."""
        rng = random.Random(f"{ctx['seed']}-quotes")
        plans = ctx["plans"]
        profiles = [p for p in ctx["profiles"] if p["currency"] == "USD"]
        if not profiles:
            return self.env["sale.order"]
        if not self.env["q2c.approval.rule"].search_count([("max_discount", ">", 0)], limit=1):
            self.env["q2c.approval.rule"].create(
                {"name": "Discounts above 20%", "sequence": 1, "max_discount": 20.0}
            )
        orders = self.env["sale.order"]
        for state, discount in DEMO_QUOTES:
            profile = rng.choice(profiles)
            lines = [
                Command.create(
                    {
                        "product_id": plans["seat_usd"].product_id.id,
                        "product_uom_qty": rng.randint(5, 50),
                        "discount": discount,
                    }
                )
            ]
            if rng.random() < 0.5:
                lines.append(
                    Command.create(
                        {"product_id": plans["support_usd"].product_id.id, "product_uom_qty": 1}
                    )
                )
            try:
                with self.env.cr.savepoint():
                    order = self.env["sale.order"].create(
                        {
                            "partner_id": profile["partner"].id,
                            "q2c_quote_type": "new",
                            "order_line": lines,
                        }
                    )
                    if state == "pending":
                        order.action_q2c_request_approval()
                    elif state == "sent":
                        order.action_quotation_sent()
                    elif state == "confirmed":
                        order.action_confirm()
                    orders |= order
            except (UserError, ValidationError) as error:
                ctx["failed_actions"] += 1
                _logger.info("q2c demo: quote (%s) skipped: %s", state, error)
        return orders

    @api.model
    def _q2c_demo_summary(self, ctx):
        summary = super()._q2c_demo_summary(ctx)
        orders = ctx.get("quotes") or self.env["sale.order"]
        summary["quotes"] = len(orders)
        summary["quotes_by_state"] = dict(
            sorted(
                Counter(
                    "waiting approval" if order.q2c_approval_state == "pending" else order.state
                    for order in orders
                ).items()
            )
        )
        return summary
