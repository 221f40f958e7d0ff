"""Live-server harness: an ``odoo-bin`` on a free port with its own database.

The database is a copy of ``Q2C_TEMPLATE_DB`` (the database ``make test`` builds, with the four
addons installed) when set, else a new database where the addons are installed. The server runs
with worker processes so that concurrency tests really run in parallel. Fixtures:

- ``odoo_server``: the running server (``url``, ``db``, ``port``), one per test session;
- ``rpc``: an XML-RPC client logged in as admin (``rpc.call(model, method, *args, **kw)``);
- ``rpc_factory``: ``rpc_factory(login, password)`` for other users.
"""

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
import xmlrpc.client
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
ODOO_SH = ROOT / "scripts" / "odoo.sh"
ADDONS = "q2c_billing,q2c_cpq,q2c_dunning,q2c_revrec"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _psql(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True)


class OdooServer:
    def __init__(self, db, port, workers=2):
        self.db = db
        self.port = port
        self.workers = workers
        self.url = f"http://127.0.0.1:{port}"
        self.gevent_port = _free_port()
        self.proc = None
        self.log_path = ROOT / ".logs" / f"live-{db}.log"

    def start(self):
        self.log_path.parent.mkdir(exist_ok=True)
        log = open(self.log_path, "w")
        args = [
            "bash",
            str(ODOO_SH),
            "-d",
            self.db,
            "--db-filter",
            f"^{self.db}$",
            "--http-port",
            str(self.port),
            "--http-interface",
            "127.0.0.1",
            "--gevent-port",
            str(self.gevent_port),
            "--workers",
            str(self.workers),
            "--max-cron-threads",
            "0",
            "--limit-time-real",
            "600",
            "--limit-time-cpu",
            "600",
            "--log-level",
            "warn",
        ]
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"odoo-bin exited early, see {self.log_path}")
            try:
                if requests.get(self.url + "/web/login", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"odoo-bin did not answer within 120 s, see {self.log_path}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)


class Rpc:
    def __init__(self, url, db, login, password):
        self.url, self.db, self.login, self.password = url, db, login, password
        common = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/common", allow_none=True)
        self.uid = common.authenticate(db, login, password, {})
        if not self.uid:
            raise PermissionError(f"XML-RPC login failed for {login}")
        self.models = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/object", allow_none=True)

    def call(self, model, method, *args, **kwargs):
        return self.models.execute_kw(
            self.db, self.uid, self.password, model, method, list(args), kwargs
        )

    def clone(self):
        """A new connection (a ServerProxy is not thread-safe)."""
        return Rpc(self.url, self.db, self.login, self.password)


def _create_database(db):
    template = os.environ.get("Q2C_TEMPLATE_DB")
    data = ROOT / ".data" / "filestore"
    if template:
        _psql("createdb", "-T", template, db)
        if (data / template).is_dir():
            shutil.copytree(data / template, data / db)
    else:
        subprocess.run(
            [
                "bash",
                str(ODOO_SH),
                "-d",
                db,
                "-i",
                ADDONS,
                "--stop-after-init",
                "--log-level",
                "warn",
            ],
            check=True,
        )


def _drop_database(db):
    subprocess.run(["dropdb", "--if-exists", "--force", db], check=False, capture_output=True)
    shutil.rmtree(ROOT / ".data" / "filestore" / db, ignore_errors=True)


@pytest.fixture(scope="session")
def odoo_server():
    db = f"q2c_live_{uuid.uuid4().hex[:8]}"
    _create_database(db)
    server = OdooServer(db, _free_port())
    try:
        yield server.start()
    finally:
        server.stop()
        if not os.environ.get("Q2C_KEEP_DB"):
            _drop_database(db)


@pytest.fixture(scope="session")
def rpc(odoo_server):
    return Rpc(odoo_server.url, odoo_server.db, "admin", "admin")


@pytest.fixture(scope="session")
def rpc_factory(odoo_server):
    def factory(login, password):
        return Rpc(odoo_server.url, odoo_server.db, login, password)

    return factory


def pytest_sessionfinish(session, exitstatus):
    """A skipped test fails the run: nothing may be skipped silently."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0:
        print(f"\n{len(skipped)} test(s) skipped: a skipped test fails the run")
        session.exitstatus = 1


def run_concurrently(rpc, model, method, *args, count=2):
    """Call ``model.method(*args)`` from ``count`` clients released at the same instant (a
    barrier), each in its own thread and connection; returns their results in order and fails
    the test when a call raised or did not return."""
    barrier = threading.Barrier(count)
    results, failures = [None] * count, []

    def run(index):
        client = rpc.clone()
        barrier.wait()
        try:
            results[index] = client.call(model, method, *args)
        except Exception as error:
            failures.append(repr(error))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not failures, failures
    assert all(result is not None for result in results), results
    return results
