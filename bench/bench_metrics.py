"""SaaS metrics benchmark: ``saas_metrics`` and the MRR reports over N subscriptions (default
10,000) with three years of history (activations from 2023 to 2025, amendments, pauses and
closures), warm (each measured several times, the median reported). Also times the full
rebuild of the MRR movements from the subscriptions' history.

Environment: Q2C_BENCH_N (subscriptions), Q2C_BENCH_REPEAT (timed repetitions, default 5).
Target: saas_metrics and the MRR timeline report under 300 ms warm.
Writes bench/results/metrics.json.
"""

import os
import random
import statistics
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_env, timed, write_result

N = int(os.environ.get("Q2C_BENCH_N", "10000"))
REPEAT = int(os.environ.get("Q2C_BENCH_REPEAT", "5"))
TARGET_MS = 300.0


def setup(env, count):
    """``count`` subscriptions (one customer each, about one in five customers with two),
    active from a day in 2023-2025, with seats amended once in two, one in six paused and
    resumed, one in four closed; states and history written as the lifecycle would."""
    Command = __import__("odoo").fields.Command
    rng = random.Random(42)
    usd = env.company.currency_id
    products = env["product.product"].create(
        [{"name": f"Metrics {name}", "type": "service"} for name in ("platform", "seat")]
    )
    plans = env["q2c.price.plan"].create(
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
        ]
    )
    partners = env["res.partner"].create(
        [{"name": f"Metrics customer {i}"} for i in range(int(count * 0.8))]
    )
    specs = []
    for i in range(count):
        start = date(2023, 1, 1) + timedelta(days=rng.randrange(0, 3 * 365))
        specs.append(
            {
                "partner": partners[i % len(partners)],
                "start": start,
                "seats": rng.randint(1, 40),
                "i": i,
            }
        )
    Subscription = env["q2c.subscription"].with_context(tracking_disable=True, mail_notrack=True)
    subs = Subscription.create(
        [
            {
                "partner_id": spec["partner"].id,
                "currency_id": usd.id,
                "start_date": spec["start"],
                "line_ids": [
                    Command.create(
                        {"product_id": products[0].id, "price_plan_id": plans[0].id, "quantity": 1}
                    ),
                    Command.create(
                        {
                            "product_id": products[1].id,
                            "price_plan_id": plans[1].id,
                            "quantity": spec["seats"],
                        }
                    ),
                ],
            }
            for spec in specs
        ]
    )
    logs, changes, sub_vals = [], [], []
    for sub, spec in zip(subs, specs, strict=True):
        start, i = spec["start"], spec["i"]
        logs.append({"subscription_id": sub.id, "state": "active", "date": start})
        vals = {"state": "active", "activated_date": start, "anchor_date": start}
        if i % 2 == 0:
            day = start + timedelta(days=rng.randrange(30, 400))
            seat_line = sub.line_ids[1]
            new_qty = max(1, spec["seats"] + rng.choice((-5, -2, 3, 8, 15)))
            changes.append(
                {
                    "subscription_id": sub.id,
                    "line_id": seat_line.id,
                    "change_type": "update",
                    "effective_date": day,
                    "requested_date": day,
                    "old_product_id": products[1].id,
                    "old_price_plan_id": plans[1].id,
                    "old_quantity": spec["seats"],
                    "new_product_id": products[1].id,
                    "new_price_plan_id": plans[1].id,
                    "new_quantity": new_qty,
                    "mrr_delta": 29.0 * (new_qty - spec["seats"]),
                }
            )
            seat_line.quantity = new_qty
        if i % 6 == 1:
            paused = start + timedelta(days=rng.randrange(60, 300))
            resumed = paused + timedelta(days=rng.randrange(20, 90))
            logs += [
                {"subscription_id": sub.id, "state": "paused", "date": paused},
                {"subscription_id": sub.id, "state": "active", "date": resumed},
            ]
            vals.update(paused_date=paused, resumed_date=resumed)
        if i % 4 == 3:
            closed = start + timedelta(days=rng.randrange(120, 700))
            logs.append(
                {"subscription_id": sub.id, "state": "closed", "date": closed + timedelta(days=1)}
            )
            vals.update(state="closed", closed_date=closed, end_date=closed)
        sub_vals.append((sub, vals))
    for sub, vals in sub_vals:
        sub.write(vals)
    env["q2c.subscription.state.log"].create(logs)
    env["q2c.subscription.change"].create(changes)
    env.flush_all()
    return subs


def median_ms(function):
    samples = []
    for _ in range(REPEAT):
        with timed() as t:
            function()
        samples.append(t.seconds * 1000.0)
    return round(statistics.median(samples), 1), [round(s, 1) for s in samples]


def main():
    with bench_env("metrics") as env:
        with timed() as t_setup:
            subs = setup(env, N)
            env.cr.commit()
        Movement = env["q2c.mrr.movement"]
        with timed() as t_rebuild:
            Movement._q2c_rebuild()
            env.flush_all()
            env.cr.commit()
        movements = Movement.search_count([])
        Subscription = env["q2c.subscription"]

        def metrics_last_year():
            env.invalidate_all()
            return Subscription.saas_metrics("2025-01-01", "2025-12-31")

        def metrics_month():
            env.invalidate_all()
            return Subscription.saas_metrics("2025-06-01", "2025-06-30")

        def timeline_report():
            env.invalidate_all()
            return env["q2c.mrr.report"]._read_group([], ["date:month"], ["mrr:sum"])

        def monthly_report():
            env.invalidate_all()
            return env["q2c.saas.monthly.report"].search_read([], ["date", "mrr_end"])

        metrics_month()
        timeline_report()  # warm-up
        load_before = [round(value, 2) for value in os.getloadavg()]
        year_ms, year_samples = median_ms(metrics_last_year)
        month_ms, _ = median_ms(metrics_month)
        timeline_ms, timeline_samples = median_ms(timeline_report)
        monthly_ms, _ = median_ms(monthly_report)
        result = metrics_last_year()
        write_result(
            "metrics",
            {
                "subscriptions": len(subs),
                "movements": movements,
                "load_average_before": load_before,
                "load_average_after": [round(value, 2) for value in os.getloadavg()],
                "setup_s": round(t_setup.seconds, 1),
                "rebuild_s": round(t_rebuild.seconds, 1),
                "rebuild_subscriptions_per_s": round(len(subs) / t_rebuild.seconds, 1),
                "saas_metrics_year_ms_median": year_ms,
                "saas_metrics_year_ms_samples": year_samples,
                "saas_metrics_month_ms_median": month_ms,
                "mrr_timeline_report_ms_median": timeline_ms,
                "mrr_timeline_report_ms_samples": timeline_samples,
                "monthly_bridge_report_ms_median": monthly_ms,
                "target_ms": TARGET_MS,
                "meets_target": max(year_ms, month_ms, timeline_ms) < TARGET_MS,
                "mrr_end_2025": result["mrr_end"],
                "customers_end_2025": result["customers_end"],
            },
        )


if __name__ == "__main__":
    main()
