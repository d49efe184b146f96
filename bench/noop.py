#!/usr/bin/env python3
"""No-op latency of the hit CLI: how long `hit hash`, `hit resolve` and a `hit build` of an
artifact already in the store take, against starting `/bin/true` in the same run.

Usage: cargo build --release && python3 bench/noop.py [--runs N] [--hit target/release/hit]
Prints a markdown table of medians (ms) and ratios to the `/bin/true` baseline.
"""
import argparse, json, os, statistics, subprocess, tempfile, time

def median_ms(argv, env, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--hit", default="target/release/hit")
    args = parser.parse_args()
    hit = os.path.abspath(args.hit)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HIT_HOME=os.path.join(tmp, "home"))
        spec = os.path.join(tmp, "spec.json")
        with open(spec, "w") as f:
            json.dump({"name": "noop", "version": "1",
                       "build": {"commands": [{"cmd": ["sh", "-c", "echo x > \\$ARTIFACT/x"]}]}}, f)
        subprocess.run([hit, "build", spec], env=env, check=True, capture_output=True)
        rows = [
            ("/bin/true (process start baseline)", ["/bin/true"]),
            ("hit hash spec.json", [hit, "hash", spec]),
            ("hit resolve spec.json", [hit, "resolve", spec]),
            ("hit build spec.json (already built)", [hit, "build", spec]),
        ]
        results = [(name, median_ms(argv, env, args.runs)) for name, argv in rows]
    base = results[0][1]
    print(f"| command | median (ms), {args.runs} runs | x /bin/true |")
    print("|---|---|---|")
    for name, ms in results:
        print(f"| {name} | {ms:.2f} | {ms / base:.1f} |")

if __name__ == "__main__":
    main()
