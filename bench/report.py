"""Writes bench/README.md (to stdout) from the output of `bench/run`'s measurements.

Usage: report.py BUNDLE_OUTPUT LIVE_OUTPUT
"""

import datetime
import os
import re
import sys

bundle_text = open(sys.argv[1]).read()
live_text = open(sys.argv[2]).read()


def find(pattern, text):
    match = re.search(pattern, text, re.M)
    return match.groups() if match else None


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory = next(
            int(line.split()[1]) // (1024 * 1024)
            for line in open("/proc/meminfo")
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        memory = 0
    return f"{os.cpu_count()} cores ({model}), {memory} GiB"


rows = []
bundle = find(r"initial route: (\d+) bytes, (\d+) with brotli", bundle_text)
rows.append(
    (
        "initial route's JS + main WASM, `brotli -q 11`",
        "≤ 250,000 bytes (CI fails above 410,000)",
        f"{int(bundle[1]):,} bytes ({int(bundle[0]):,} raw)" if bundle else "not measured",
        "`node scripts/bundle-size.mjs target/site` after `cargo leptos build --release --frontend-only --precompress --split`",
    )
)
BENCH = "`cargo bench -p server --bench live`"
for label in (
    r"GET /vms \(server-rendered page, 5000 VMs\)",
    r"vms/list \(page 1 of 5000 VMs\)",
    r"vms/list \(filtered, sorted by memory, page 4\)",
):
    name = re.sub(r"\\", "", label)
    fixed = find(
        label + r", 50 connections, ([\d.]+) per second: .*?p50 ([\d.]+) ms, p99 ([\d.]+) ms",
        live_text,
    )
    closed = find(
        label
        + r", 50 connections, back to back: .*?= (\d+)/s; p50 ([\d.]+) ms, p99 ([\d.]+) ms.*?\((\d+) requests per server CPU-second\)",
        live_text,
    )
    rows.append(
        (
            f"{name}, 50 connections at a fixed rate: p50 / p99",
            "p99 ≤ 10 ms",
            f"{fixed[1]} / {fixed[2]} ms at {int(float(fixed[0])):,} requests/s" if fixed else "not measured",
            BENCH,
        )
    )
    rows.append(
        (
            f"{name}, 50 connections back to back: throughput, p50 / p99",
            "",
            f"{closed[0]} requests/s ({closed[3]} per server CPU-second), {closed[1]} / {closed[2]} ms"
            if closed
            else "not measured",
            BENCH,
        )
    )
rss = find(r"server RSS with (\d+) sockets open: (\d+) MiB \(([\d.]+) KiB per socket over (\d+) MiB", live_text)
rows.append(
    (
        "server RSS with 10,000 open event sockets (5,000 VMs in the watch cache)",
        "≤ 300 MB",
        f"{rss[1]} MiB ({rss[2]} KiB per socket over {rss[3]} MiB before)" if rss else "not measured",
        BENCH,
    )
)
idle = find(r"server CPU with (\d+) idle sockets: ([\d.]+)% of one core over (\d+) s", live_text)
rows.append(
    (
        "server CPU with 10,000 idle sockets",
        "< 2 % of one core",
        f"{idle[1]} % over {idle[2]} s" if idle else "not measured",
        BENCH,
    )
)
rounds = re.findall(
    r"round \d+: one status change to (\d+) of (\d+) sockets: p50=([\d.]+) ms p99=([\d.]+) ms all=([\d.]+) ms",
    live_text,
)
if rounds:
    worst = max(rounds, key=lambda r: float(r[3]))
    p99s = ", ".join(r[3] for r in rounds)
    rows.append(
        (
            "one VM status change reaching 10,000 sockets: p99 per round",
            "≤ 100 ms",
            f"{p99s} ms (worst round: p50 {worst[2]} ms, all {worst[4]} ms; {worst[0]} of {worst[1]} received)",
            BENCH,
        )
    )

today = datetime.date.today().isoformat()
print("# Benchmarks\n")
print(
    f"Written by `bench/run` on {today}, on {machine()}. The server and the clients are "
    "separate processes on loopback; the simulated cluster runs in the benchmark's process. "
    "Latencies at a fixed rate count from when each request was due. Budgets from issue 10; "
    "run `bench/run` to measure again.\n"
)
print("| figure | budget | measured | command |")
print("| --- | --- | --- | --- |")
for row in rows:
    print("| " + " | ".join(row) + " |")
print("\n## Output\n")
print("```")
print(bundle_text.strip())
print(live_text.strip())
print("```")
