"""Summarize an Odoo test log: one closing line, and a non-zero exit on any failure.

Odoo prints ``N failed, N error(s) of N tests when loading database``; failures and errors are
logged at ERROR level. A skipped test (for example a browser tour without websocket-client, which
Odoo reports as skipped and not failed) also fails the run: nothing may be skipped silently.
"""

import re
import sys


def main(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    results = re.findall(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests", log)
    skipped = re.findall(r" odoo\.addons\.[\w.]+: skipped (.*)", log)
    if not skipped and "websocket-client module is not installed" in log:
        skipped = ["a browser test: websocket-client module is not installed"]
    problems = re.findall(r"^.* (?:ERROR|CRITICAL) .*$", log, re.MULTILINE)
    for line in problems[:40]:
        print(line)
    for line in skipped:
        print("SKIPPED:", line)
    if not results:
        print("odoo: no test summary in the log (the install failed?)")
        print("\n".join(log.splitlines()[-30:]))
        print("0 passed, 1 failed")
        return 1
    failed, errors, total = (int(x) for x in results[-1])
    passed = total - failed - errors - len(skipped)
    bad = failed + errors + len(skipped)
    if total == 0:
        print("odoo: no test ran")
        bad = 1
    if problems and not bad:
        # An ERROR outside a test (a failed data file, a crashing cron) fails the run too.
        print("odoo: errors were logged outside the tests")
        bad = len(problems)
    print(f"odoo: {passed} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
