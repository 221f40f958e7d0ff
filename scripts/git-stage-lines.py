"""Stage, for one file, its committed version plus only the given added lines (the working
tree may hold other developers' uncommitted lines). Usage:
    python scripts/git-stage-lines.py FILE 'line one' 'line two' ...
Lines already in HEAD are skipped; each new line is placed after the line that precedes it in
the working tree (or appended)."""

import subprocess
import sys


def main(path, lines):
    try:
        head = subprocess.run(
            ["git", "show", f"HEAD:{path}"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except subprocess.CalledProcessError:
        head = []
    work = open(path, encoding="utf-8").read().splitlines()
    result = list(head)
    for line in lines:
        if line in result:
            continue
        index = work.index(line)
        anchor = next((work[i] for i in range(index - 1, -1, -1) if work[i] in result), None)
        position = result.index(anchor) + 1 if anchor is not None else len(result)
        result.insert(position, line)
    content = "\n".join(result) + "\n"
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        input=content,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        ["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}"], check=True
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
