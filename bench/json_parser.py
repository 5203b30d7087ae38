"""
What the API's JSON parser (tracker/api/parsers.py) costs beyond Python's json.loads,
on the bodies an attacker would send within its size limit (256 KiB): as wide as
possible, as deep as allowed everywhere, one long string, far too deep. Each body is
parsed by both, interleaved, many times; the minimum of each is kept (the machine is
shared) and their ratio is what counts.

    .venv/bin/python bench/json_parser.py            # print the table
    .venv/bin/python bench/json_parser.py --write    # and put it in docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")

import django  # noqa: E402

django.setup()

from rest_framework.exceptions import APIException  # noqa: E402

from tracker.api.parsers import MAX_BODY_BYTES, MAX_DEPTH, JSONParser  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
MARKERS = ("<!-- bench/json_parser.py --write: start -->", "<!-- bench/json_parser.py --write: end -->")


def bodies() -> dict[str, str]:
    chain = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    report = {"site": 3, "kind": "ground_assault", "started_at": "2022-05-05T10:00:00+03:00", "source": 2}
    return {
        "a hostility report (93 bytes)": json.dumps(report),
        "87,000 empty lists in one list": "[" + ",".join(["[]"] * 87_000) + "]",
        f"4,100 lists {MAX_DEPTH} levels deep": "[" + ",".join([chain] * 4_100) + "]",
        "one string of 262,000 characters": json.dumps({"description": "x" * 262_000}),
        "3,000 levels (6 KB)": "[" * 3000 + "]" * 3000,
    }


def parse_once(parser: JSONParser, raw: bytes) -> str:
    try:
        parser.parse(io.BytesIO(raw), parser_context={})
    except APIException as exc:
        return str(exc.status_code)
    return "taken"


def loads_once(text: str) -> str:
    try:
        json.loads(text)
    except RecursionError:
        return "RecursionError (a 500 before)"
    return "taken"


def best(fn: Callable[[], str], rounds: int) -> tuple[float, str]:
    times, outcome = [], ""
    for _ in range(rounds):
        start = time.perf_counter()
        outcome = fn()
        times.append(time.perf_counter() - start)
    return min(times), outcome


def measure(rounds: int) -> list[str]:
    parser = JSONParser()
    lines = [
        "| body | bytes | parser says | parser | json.loads | parser/json.loads |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name, text in bodies().items():
        raw = text.encode()
        assert len(raw) <= MAX_BODY_BYTES, name
        ours, loads = [], []
        said = plain = ""
        for _ in range(rounds):  # interleaved: both see the same load
            seconds, said = best(lambda raw=raw: parse_once(parser, raw), 1)
            ours.append(seconds)
            seconds, plain = best(lambda text=text: loads_once(text), 1)
            loads.append(seconds)
        mine, theirs = min(ours) * 1000, min(loads) * 1000
        ratio = f"{mine / theirs:.1f}×" if plain == "taken" else "—"
        shown = plain if plain != "taken" else f"{theirs:.2f} ms"
        lines.append(f"| {name} | {len(raw):,} | {said} | {mine:.2f} ms | {shown} | {ratio} |")
    return lines


def write_docs(block: str) -> None:
    text = DOCS.read_text()
    start, end = MARKERS
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = f"{before}{start}\n{block}\n{end}{rest.split(end, 1)[1]}"
    else:
        intro = (
            "## The API's JSON parser\n\n"
            "What refusing deep bodies costs (tracker/api/parsers.py): the parser against Python's\n"
            "`json.loads` on the same bodies, interleaved, the fastest of each kept. Bodies larger than\n"
            f"{MAX_BODY_BYTES // 1024} KiB are refused (413) before parsing; deeper than {MAX_DEPTH} levels, 400.\n"
            "Made with `.venv/bin/python bench/json_parser.py --write`.\n"
        )
        text = text.rstrip("\n") + f"\n\n{intro}\n{start}\n{block}\n{end}\n"
    DOCS.write_text(text)


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments.add_argument("--rounds", type=int, default=15, help="parses of each body by each (default 15)")
    arguments.add_argument("--write", action="store_true", help="put the table into docs/benchmarks.md")
    options = arguments.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    load = os.getloadavg()[0]
    lines = measure(options.rounds)
    now = dt.datetime.now(dt.UTC)
    header = (
        f"Run on {now:%Y-%m-%d at %H:%M} UTC (commit `{commit.stdout.strip()}`), {options.rounds} rounds, "
        f"load average {load:.1f} before."
    )
    block = "\n".join([header, "", *lines])
    print(block)
    if options.write:
        write_docs(block)


if __name__ == "__main__":
    main()
