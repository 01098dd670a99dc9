"""Load check of the explorer: `textgen serve MODEL` on a free loopback port, then N concurrent
clients posting to /api/next for a while (each a different story prefix, as people typing), and
the latency of each request. Prints JSON: requests, errors, requests per second, p50/p90/p99.

    .venv/bin/python benchmarks/explorer_load.py --model .bench/tinystories-30m
    .venv/bin/python benchmarks/explorer_load.py --model tinystories --clients 20 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ["Once upon a time, there was a", "Lily saw a", "Tom and his dog went to the", "One day, a little bird",
           "The sun was shining and", "Mom said, \"", "They played all day and then", "The cat was very"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a model directory or shipped name for textgen serve")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    if args.clients < 1 or args.seconds <= 0:
        print("error: --clients must be at least 1 and --seconds positive", file=sys.stderr)
        return 2
    server = subprocess.Popen([sys.executable, "-m", "textgen.cli", "serve", args.model, "--port", "0"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = server.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not match:
        print(f"error: the server did not start: {line.strip() or server.stderr.read().strip()}", file=sys.stderr)
        server.kill()
        return 1
    url = f"http://127.0.0.1:{match.group(1)}/api/next"
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + args.seconds

    def client(number: int) -> None:
        count = 0
        while time.perf_counter() < stop_at:
            prompt = PROMPTS[(number + count) % len(PROMPTS)] + " " * (count % 2)
            body = json.dumps({"text": prompt, "top": args.top}).encode()
            request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    json.loads(response.read())
                with lock:
                    latencies.append(time.perf_counter() - started)
            except (urllib.error.URLError, OSError, ValueError) as error:
                with lock:
                    errors.append(str(error))
            count += 1

    try:
        threads = [threading.Thread(target=client, args=(number,)) for number in range(args.clients)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait(30)
    report = {"benchmark": "explorer_load", "model": args.model, "clients": args.clients, "seconds": round(elapsed, 1),
              "requests": len(latencies), "errors": len(errors), "first_errors": errors[:3],
              "requests_per_s": round(len(latencies) / elapsed, 1),
              "latency_ms": {"p50": round(1000 * percentile(latencies, 0.5), 1), "p90": round(1000 * percentile(latencies, 0.9), 1),
                             "p99": round(1000 * percentile(latencies, 0.99), 1),
                             "mean": round(1000 * statistics.fmean(latencies), 1) if latencies else None},
              "machine": {"cpus": os.cpu_count()}}
    print(json.dumps(report, indent=2))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
