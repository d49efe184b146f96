#!/usr/bin/env python3
"""Parallel scaling of a cold build of the real stack (packages/profiles/stack.rhai, sources
from ../shared/mirror): `hit build -j N` in a fresh store for each N, wall time and speedup
against the smallest N of the run, and the bound the DAG itself sets: the packages' own
build times (hit's durations.json of the run with the most jobs) summed over the longest
dependency path. No -j can finish before that path does.

Usage: cargo build --release && python3 bench/scaling.py [--jobs 2,4,8,16] [--mirror ../shared/mirror]
       [--budget SECONDS]   (skip the remaining N once the elapsed time passes it)
"""
import argparse, json, os, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import hashed_mirror, imports_of, new_home, build, REPO

def critical_path(hit, profile, env):
    """The longest dependency path of the profile, by the durations hit recorded."""
    with open(os.path.join(env["HIT_HOME"], "durations.json")) as f:
        durations = json.load(f)
    imports = imports_of(hit, profile, env)
    names = list(imports)
    def seconds(name):
        return durations.get(name, 0) / 1000  # durations.json: milliseconds per package
    memo = {}
    def longest(name):
        if name not in memo:
            memo[name] = seconds(name) + max((longest(d) for d in imports.get(name, []) if d in imports), default=0)
        return memo[name]
    total = sum(seconds(n) for n in names)
    return max(longest(n) for n in names), total

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", default="2,4,8,16")
    parser.add_argument("--mirror", default=os.path.join(REPO, "../shared/mirror"))
    parser.add_argument("--hit", default=os.path.join(REPO, "target/release/hit"))
    parser.add_argument("--profile", default=os.path.join(REPO, "packages/profiles/stack.rhai"))
    parser.add_argument("--budget", type=float, default=None)
    args = parser.parse_args()
    hit, profile = os.path.abspath(args.hit), os.path.abspath(args.profile)
    jobs = [int(j) for j in args.jobs.split(",")]
    started = time.perf_counter()
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        mirror = hashed_mirror(os.path.abspath(args.mirror), os.path.join(tmp, "mirror"))
        env = None
        for n in sorted(jobs, reverse=True):
            if args.budget and walls and time.perf_counter() - started > args.budget:
                print(f"-j {n}: skipped (past the budget of {args.budget:.0f} s)", flush=True)
                continue
            env = new_home(tmp, f"j{n}", mirror, hit)
            walls[n] = build(hit, profile, n, env, tmp)
            print(f"-j {n}: {walls[n]:.1f} s", flush=True)
            if len(walls) == 1:
                span, work = critical_path(hit, profile, env)
    base = min(walls)
    print(f"\n{os.cpu_count()} cores; one cold build per -j; packages' build times (at -j {max(walls)}): "
          f"{work:.0f} s in all, {span:.0f} s on the longest dependency path\n")
    print("| -j | wall (s) | speedup vs -j %d | bound: longest path (s) |" % base)
    print("|---|---|---|---|")
    for n in sorted(walls):
        print(f"| {n} | {walls[n]:.1f} | {walls[base] / walls[n]:.2f} | {span:.0f} |")

if __name__ == "__main__":
    main()
