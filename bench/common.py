"""Helpers for the benchmarks: a throw-away database cloned from the benchmark template, an
Odoo environment on it (Odoo used as a library, in this process), timing, and result files.

Usage in bench/bench_NAME.py::

    from common import bench_env, timed, write_result

    with bench_env("billing") as env:          # commits are allowed; the database is dropped after
        ...
        with timed() as t:
            ...
        write_result("billing", {"invoices_per_s": n / t.seconds})
"""

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ODOO_SRC = Path(os.environ.get("ODOO_SRC", "/opt/odoo"))
sys.path.insert(0, str(ODOO_SRC))

import odoo  # noqa: E402


def _configure(db):
    addons = f"{ODOO_SRC}/odoo/addons,{ODOO_SRC}/addons,{ROOT}/addons"
    args = [
        "-d",
        db,
        "--addons-path",
        addons,
        "--data-dir",
        str(ROOT / ".data"),
        "--log-level",
        "warn",
    ]
    for var, opt in (
        ("PGHOST", "--db_host"),
        ("PGPORT", "--db_port"),
        ("PGPASSWORD", "--db_password"),
    ):
        if os.environ.get(var):
            args += [opt, os.environ[var]]
    args += ["--db_user", os.environ.get("PGUSER") or os.environ.get("USER") or "root"]
    odoo.tools.config.parse_config(args)


@contextlib.contextmanager
def bench_env(name, keep=False):
    """Yield an environment (superuser) on a fresh clone of the benchmark template."""
    template = os.environ.get("Q2C_BENCH_TEMPLATE", "q2c_bench_template")
    db = f"q2c_bench_{name}_{uuid.uuid4().hex[:6]}"
    subprocess.run(["createdb", "-T", template, db], check=True)
    _configure(db)
    try:
        registry = odoo.modules.registry.Registry(db)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            yield env
    finally:
        odoo.sql_db.close_all()
        if not keep:
            subprocess.run(["dropdb", "--if-exists", "--force", db], check=False)


class _Timer:
    seconds = 0.0


@contextlib.contextmanager
def timed():
    timer = _Timer()
    start = time.perf_counter()
    try:
        yield timer
    finally:
        timer.seconds = time.perf_counter() - start


def write_result(name, figures):
    """Print the figures and write them to bench/results/NAME.json."""
    out = ROOT / "bench" / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    figures = {"benchmark": name, "machine_cpus": os.cpu_count(), **figures}
    out.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    for key, value in figures.items():
        print(f"  {key}: {value}")


def proc_cpu(pid, children=True):
    """CPU seconds of a process (and of its reaped children), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            parts = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17 of proc(5) (parts starts at field 3)
    ticks = parts[11:15] if children else parts[11:13]
    return sum(int(value) for value in ticks) / os.sysconf("SC_CLK_TCK")


def proc_run_delay(pid="self"):
    """Seconds a process has spent runnable but waiting for a CPU (``/proc/PID/schedstat``,
    its main thread), 0 when it is gone: with its CPU time, how much of the time it wanted a
    core."""
    try:
        with open(f"/proc/{pid}/schedstat") as schedstat:
            return int(schedstat.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0
