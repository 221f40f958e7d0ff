"""Billing run benchmark: invoices created and posted per second by ``run_billing`` on N
subscriptions (default 2,000; 3 lines and a tax each, one customer each), against a naive
per-subscription ORM loop (one invoice, then one ``create`` per line, then ``action_post``)
measured in the same run on the same data shape.

The run (``_q2c_run``, one process, batches of ``q2c_billing.batch_size``) takes the bulk path
of q2c_billing_run_bulk: invoice headers created by the ORM, journal items inserted and the
invoices posted in a few statements per batch. No parallel run is measured: the figures are
those of a single process and its PostgreSQL backend.

The machine is shared (other agents load it): each figure comes with the load average before
and after, and with the CPU seconds the run took in this process (Odoo) and in its PostgreSQL
backend, whose sum bounds the throughput the same run would have on an idle machine.

Environment: Q2C_BENCH_N (subscriptions billed by the run), Q2C_BENCH_NAIVE_N (subscriptions
billed by the naive loop, default N / 10), Q2C_BENCH_BATCH (batch size of the run).
Writes bench/results/billing.json.
"""

import os
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_env, proc_cpu, timed, write_result

N = int(os.environ.get("Q2C_BENCH_N", "2000"))
NAIVE_N = int(os.environ.get("Q2C_BENCH_NAIVE_N", str(max(N // 10, 50))))
BATCH = os.environ.get("Q2C_BENCH_BATCH")
DAY = date(2026, 1, 1)
TARGET_RATE = 50.0
TARGET_SPEEDUP = 3.0


def setup(env, count, tag):
    """``count`` active subscriptions due on DAY, each for its own customer, with 3 lines
    (flat platform fee, seats per unit, storage in graduated tiers) taxed at 10 %."""
    Command = __import__("odoo").fields.Command
    company = env.company
    tax = env["account.tax"].create(
        {
            "name": f"Bench tax 10% {tag}",
            "amount": 10.0,
            "amount_type": "percent",
            "type_tax_use": "sale",
            "company_id": company.id,
        }
    )
    products = env["product.product"].create(
        [
            {"name": f"Bench {name} {tag}", "type": "service", "taxes_id": [Command.set(tax.ids)]}
            for name in ("platform", "seat", "storage")
        ]
    )
    usd = company.currency_id
    Plan = env["q2c.price.plan"]
    plans = Plan.create(
        [
            {
                "name": "Platform",
                "product_id": products[0].id,
                "currency_id": usd.id,
                "charge_model": "flat",
                "flat_price": 490.0,
            },
            {
                "name": "Seats",
                "product_id": products[1].id,
                "currency_id": usd.id,
                "charge_model": "per_unit",
                "unit_price": 29.0,
            },
            {
                "name": "Storage",
                "product_id": products[2].id,
                "currency_id": usd.id,
                "charge_model": "graduated",
                "tier_ids": [
                    Command.create({"sequence": 1, "up_to": 100, "unit_price": 0.1}),
                    Command.create({"sequence": 2, "up_to": 0, "unit_price": 0.05}),
                ],
            },
        ]
    )
    partners = env["res.partner"].create(
        [{"name": f"Bench customer {tag} {i}"} for i in range(count)]
    )
    subs = (
        env["q2c.subscription"]
        .with_context(tracking_disable=True)
        .create(
            [
                {
                    "partner_id": partner.id,
                    "currency_id": usd.id,
                    "start_date": DAY,
                    "line_ids": [
                        Command.create(
                            {
                                "product_id": products[0].id,
                                "price_plan_id": plans[0].id,
                                "quantity": 1,
                            }
                        ),
                        Command.create(
                            {
                                "product_id": products[1].id,
                                "price_plan_id": plans[1].id,
                                "quantity": 5 + i % 20,
                            }
                        ),
                        Command.create(
                            {
                                "product_id": products[2].id,
                                "price_plan_id": plans[2].id,
                                "quantity": 50 + i % 300,
                            }
                        ),
                    ],
                }
                for i, partner in enumerate(partners)
            ]
        )
    )
    # Activation without one chatter message per subscription (set-up, not measured).
    subs.with_context(tracking_disable=True).write(
        {
            "state": "active",
            "activated_date": DAY,
            "anchor_date": DAY,
            "next_invoice_date": DAY,
        }
    )
    env.cr.commit()
    return subs


def naive_loop(env, subs):
    """The per-subscription ORM loop the run replaces: rate each line, create the invoice,
    then each line, post, mark the period billed; one subscription at a time."""
    Move = env["account.move"]
    MoveLine = env["account.move.line"].with_context(check_move_validity=False)
    Period = env["q2c.subscription.period"]
    journal = env["account.journal"].search(
        [("type", "=", "sale"), ("company_id", "=", env.company.id)], limit=1
    )
    moves = Move
    for sub in subs:
        move = Move.create(
            {
                "move_type": "out_invoice",
                "partner_id": sub.partner_id.id,
                "currency_id": sub.currency_id.id,
                "journal_id": journal.id,
                "invoice_date": DAY,
            }
        )
        for line in sub.line_ids:
            amount = line.price_plan_id._q2c_rate(line.quantity)["amount"]
            MoveLine.create(
                {
                    "move_id": move.id,
                    "product_id": line.product_id.id,
                    "name": line.name,
                    "quantity": 1,
                    "price_unit": amount,
                    "tax_ids": [(6, 0, line.product_id.taxes_id.ids)],
                    "q2c_subscription_id": sub.id,
                    "q2c_period_start": DAY,
                    "q2c_period_end": date(2026, 1, 31),
                }
            )
        move.action_post()
        Period.create(
            {
                "subscription_id": sub.id,
                "company_id": sub.company_id.id,
                "period_start": DAY,
                "period_end": date(2026, 1, 31),
                "timing": "in_advance",
                "billing_date": DAY,
                "move_id": move.id,
            }
        )
        sub.write(
            {
                "next_invoice_date": date(2026, 2, 1),
                "current_period_start": DAY,
                "current_period_end": date(2026, 1, 31),
            }
        )
        env.cr.commit()
        moves |= move
    return moves


class _Cpu:
    """CPU seconds spent by this process (Odoo) and by the cursor's PostgreSQL backend."""

    def __init__(self, env):
        env.cr.execute("SELECT pg_backend_pid()")
        self.backend = env.cr.fetchone()[0]

    def __enter__(self):
        self.start = (time.process_time(), proc_cpu(self.backend, children=False))
        return self

    def __exit__(self, *exc):
        self.odoo = time.process_time() - self.start[0]
        self.postgresql = proc_cpu(self.backend, children=False) - self.start[1]

    def per_invoice_ms(self, count):
        return {
            "odoo": round(1000 * self.odoo / count, 1),
            "postgresql": round(1000 * self.postgresql / count, 1),
            "total": round(1000 * (self.odoo + self.postgresql) / count, 1),
        }


def main():
    load_before = os.getloadavg()
    with bench_env("billing") as env:
        if BATCH:
            env["ir.config_parameter"].set_param("q2c_billing.batch_size", BATCH)
        cpu = _Cpu(env)
        naive_subs = setup(env, NAIVE_N, "naive")
        with timed() as naive_time, cpu:
            naive_moves = naive_loop(env, naive_subs)
        naive_cpu = cpu.per_invoice_ms(len(naive_moves))
        assert all(move.state == "posted" for move in naive_moves)
        naive_rate = len(naive_moves) / naive_time.seconds

        subs = setup(env, N, "run")
        Run = env["q2c.billing.run"]
        with timed() as run_time, cpu:
            result = Run._q2c_run(DAY, subscriptions=subs, trigger="api", commit=True)
        run_cpu = cpu.per_invoice_ms(len(result["invoice_ids"]))
        moves = env["account.move"].browse(result["invoice_ids"])
        posted = moves.filtered(lambda move: move.state == "posted")
        assert len(posted) == N, f"{len(posted)} invoices posted, {N} expected"
        assert not result["errors"], result["errors"][:3]
        run_rate = len(posted) / run_time.seconds

        # Idempotent: a second run for the same date creates nothing.
        again = Run._q2c_run(DAY, subscriptions=subs, trigger="api", commit=True)
        assert not again["invoice_ids"]

        write_result(
            "billing",
            {
                "subscriptions": N,
                "lines_per_subscription": 3,
                "invoices_posted": len(posted),
                "run_seconds": round(run_time.seconds, 2),
                "run_invoices_per_s": round(run_rate, 1),
                "naive_subscriptions": NAIVE_N,
                "naive_seconds": round(naive_time.seconds, 2),
                "naive_invoices_per_s": round(naive_rate, 1),
                "speedup_vs_naive": round(run_rate / naive_rate, 2),
                "run_cpu_ms_per_invoice": run_cpu,
                "naive_cpu_ms_per_invoice": naive_cpu,
                # One process and its backend take turns: on an idle machine, a run would
                # bill about this many invoices a second (CPU bound, no I/O wait counted).
                "run_cpu_bound_invoices_per_s": round(1000 / run_cpu["total"], 1),
                "naive_cpu_bound_invoices_per_s": round(1000 / naive_cpu["total"], 1),
                "load_average_before": [round(value, 2) for value in load_before],
                "load_average_after": [round(value, 2) for value in os.getloadavg()],
                "target_invoices_per_s": TARGET_RATE,
                "target_speedup": TARGET_SPEEDUP,
                "meets_targets": run_rate >= TARGET_RATE
                and run_rate / naive_rate >= TARGET_SPEEDUP,
                "batch_size": Run._q2c_batch_size(),
            },
        )


if __name__ == "__main__":
    main()
