"""Screenshots of the subscription portal for the documentation (headless Chromium).

Run against a live server of a demo database (``make demo``, with ``payment_demo``), after its
billing run and automatic payments, e.g.::

    .venv/bin/python scripts/portal_screenshots.py --url http://127.0.0.1:8069 --db q2c_demo \
        --out addons/q2c_billing/static/description

Logs in as the demo portal user ``acme`` (Acme's subscription: the page, a quantity change and
its prorated preview, the payment method form) and opens Bergmann's subscription by its access
token (a failed automatic payment). Drives Chromium through the DevTools protocol
(websocket-client).
"""

import argparse
import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
import xmlrpc.client
from pathlib import Path

import requests
import websocket


class Browser:
    def __init__(self, chromium, width=1280):
        self.width = width
        self.profile = tempfile.mkdtemp(prefix="q2c_shots_")
        with __import__("socket").socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.proc = subprocess.Popen(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--remote-debugging-port={self.port}",
                f"--user-data-dir={self.profile}",
                f"--window-size={width},1000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while True:
            try:
                pages = requests.get(f"http://127.0.0.1:{self.port}/json", timeout=2).json()
                page = next(p for p in pages if p["type"] == "page")
                break
            except (requests.RequestException, StopIteration):
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120)
        self.counter = 0
        self.cmd("Page.enable")
        self.cmd("Network.enable")

    def cmd(self, method, **params):
        self.counter += 1
        self.ws.send(json.dumps({"id": self.counter, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.counter:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression):
        result = self.cmd(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        return result.get("result", {}).get("value")

    def wait_ready(self, settle=2.0, selector=None, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ready = self.js("document.readyState") == "complete"
            found = not selector or self.js(f"!!document.querySelector({json.dumps(selector)})")
            if ready and found:
                time.sleep(settle)
                return
            time.sleep(0.3)
        raise TimeoutError(f"page not ready ({selector}) on {self.js('location.href')}")

    def goto(self, url, selector=None):
        self.cmd("Page.navigate", url=url)
        time.sleep(0.5)
        self.wait_ready(selector=selector)

    def shot(self, path, selector=None, padding=16):
        """Screenshot of the page, or of the element ``selector`` (with some margin)."""
        height = self.js("document.documentElement.scrollHeight") or 1000
        self.cmd(
            "Emulation.setDeviceMetricsOverride",
            width=self.width,
            height=int(height),
            deviceScaleFactor=1,
            mobile=False,
        )
        time.sleep(0.5)
        params = {"format": "png", "captureBeyondViewport": True}
        if selector:
            box = self.js(
                f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                ".getBoundingClientRect(); return [r.x, r.y + window.scrollY, r.width, r.height];"
                " })()"
            )
            if not box:
                raise RuntimeError(f"no box for {selector}: {box!r}")
            x, y, w, h = box
            params["clip"] = {
                "x": max(x - padding, 0),
                "y": max(y - padding, 0),
                "width": w + 2 * padding,
                "height": h + 2 * padding,
                "scale": 1,
            }
        data = self.cmd("Page.captureScreenshot", **params)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        self.cmd("Emulation.clearDeviceMetricsOverride")
        print(f"wrote {path}")

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)


def login(url, db, user, password):
    session = requests.Session()
    page = session.get(f"{url}/web/login", params={"db": db}, timeout=60)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    session.post(
        f"{url}/web/login",
        data={"login": user, "password": password, "csrf_token": csrf, "db": db},
        timeout=60,
    )
    return session.cookies["session_id"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8069")
    parser.add_argument("--db", default="q2c_demo")
    parser.add_argument("--admin", default="admin")
    parser.add_argument("--admin-password", default="admin")
    parser.add_argument("--login", default="acme")
    parser.add_argument("--password", default="acme")
    parser.add_argument("--out", default="addons/q2c_billing/static/description")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    common = xmlrpc.client.ServerProxy(f"{args.url}/xmlrpc/2/common")
    uid = common.authenticate(args.db, args.admin, args.admin_password, {})
    models = xmlrpc.client.ServerProxy(f"{args.url}/xmlrpc/2/object")

    def call(model, method, *a, **kw):
        return models.execute_kw(args.db, uid, args.admin_password, model, method, list(a), kw)

    def sub_of(name):
        ids = call(
            "q2c.subscription",
            "search",
            [("partner_id.name", "=", name), ("state", "!=", "draft")],
            limit=1,
        )
        return ids[0]

    acme = sub_of("Acme Analytics Inc.")
    bergmann = sub_of("Bergmann Maschinenbau GmbH")
    bergmann_url = call("q2c.subscription", "get_portal_url", [bergmann])
    browser = Browser(args.chromium)
    try:
        browser.cmd(
            "Network.setCookie",
            name="session_id",
            value=login(args.url, args.db, args.login, args.password),
            url=args.url,
        )
        page = f"{args.url}/my/subscriptions/{acme}"
        browser.goto(page, selector="#q2c_subscription_lines")
        browser.shot(out / "portal_subscription.png")
        # Change the seats: the form, its live preview, then the review page.
        browser.js("document.querySelector('.o_q2c_change_btn').click()")
        time.sleep(1)
        browser.js(
            "(() => { const input = document.querySelector('.o_q2c_change_form "
            ".o_q2c_quantity_input'); input.value = parseInt(input.value) + 5;"
            " input.dispatchEvent(new Event('change', {bubbles: true})); })()"
        )
        time.sleep(2)
        browser.js("document.querySelector('.o_q2c_change_form').requestSubmit()")
        time.sleep(1)
        browser.wait_ready(selector="#q2c_change_preview")
        browser.shot(out / "portal_change_preview.png", selector="#q2c_change_preview")
        browser.goto(f"{page}/payment_method", selector="#o_payment_form")
        browser.shot(out / "portal_payment_method.png", selector="#q2c_payment_method")
        # Bergmann's failed payment, by its access token (as a customer following a mail link).
        browser.cmd("Network.clearBrowserCookies")
        browser.goto(f"{args.url}{bergmann_url}", selector="#q2c_subscription_content")
        browser.shot(out / "portal_failed_invoice.png", selector="#q2c_subscription_content")
    finally:
        browser.close()


if __name__ == "__main__":
    main()
