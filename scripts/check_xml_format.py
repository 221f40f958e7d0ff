"""Check XML formatting: 4-space indentation (no tabs), no trailing spaces, a final newline."""

import sys


def check(path):
    problems = []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        problems.append(f"{path}: no newline at the end of the file")
    for number, line in enumerate(text.splitlines(), 1):
        if "\t" in line[: len(line) - len(line.lstrip())]:
            problems.append(f"{path}:{number}: tab in indentation")
        if line != line.rstrip():
            problems.append(f"{path}:{number}: trailing white space")
    return problems


def main(paths):
    problems = [p for path in paths for p in check(path)]
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
