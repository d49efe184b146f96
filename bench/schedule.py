#!/usr/bin/env python3
"""Scheduling quality: a DAG of packages that each occupy a token for a known time
(`sleep`), one of them running four jobs through make and the jobserver, built with -j 2.

  chain:  c1 -> c2 -> c3, 2 s each          (critical path 6 s)
  fillers: f1..f6, 1 s each, independent
  par:    make with four 1 s jobs            (can use both tokens)

Work is 6 + 6 + 4 = 16 token-seconds on 2 tokens, so no schedule beats 8 s, and 8 s is
reachable (the chain on one token, everything else around it). Listing order alone (fillers
first) would give about 9 s or more. A first build records the durations; the measured builds
change every id (a parameter) so everything is built again, with durations known.

Usage: cargo build --release && python3 bench/schedule.py [--runs 3]
"""
import argparse, os, statistics, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))

def recipe(name, deps, lines):
    return 'recipe(#{ name: "%s", toolchain: false, deps: %s, env: #{ SALT: `${params.salt}` }, stages: [stage("build", %s)] })\n' % (
        name, "[" + ", ".join('"%s"' % d for d in deps) + "]", "[" + ", ".join('"%s"' % l.replace('"', '\\"') for l in lines) + "]")

def write(dir):
    recipes = os.path.join(dir, "recipes")
    os.makedirs(recipes)
    files = {}
    files["c1"] = recipe("c1", [], ["sleep 2"])
    files["c2"] = recipe("c2", ["c1"], ["sleep 2"])
    files["c3"] = recipe("c3", ["c2"], ["sleep 2"])
    for i in range(1, 7):
        files[f"f{i}"] = recipe(f"f{i}", [], ["sleep 1"])
    files["par"] = recipe("par", [], [
        "for j in 1 2 3 4; do printf 'j%s:\\n\\tsleep 1\\n' $j; done > Makefile",
        "make j1 j2 j3 j4",
    ])
    for name, text in files.items():
        with open(os.path.join(recipes, name + ".rhai"), "w") as f:
            f.write(text)
    profile = os.path.join(dir, "dag.rhai")
    with open(profile, "w") as f:
        # Fillers listed first: a scheduler that follows the list starts them before the chain.
        f.write('profile(#{ package_dirs: ["recipes"], packages: ["f1", "f2", "f3", "f4", "f5", "f6", "par", "c3"] })\n')
    return profile

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hit", default=os.path.join(HERE, "../target/release/hit"))
    args = parser.parse_args()
    hit = os.path.abspath(args.hit)
    ideal = 8.0
    with tempfile.TemporaryDirectory() as tmp:
        profile = write(tmp)
        env = dict(os.environ, HIT_HOME=os.path.join(tmp, "home"))
        subprocess.run([hit, "build", profile, "-j", "2", "-q", "salt=0"], env=env, cwd=tmp, check=True, capture_output=True)
        times = []
        for run in range(1, args.runs + 1):
            start = time.perf_counter()
            subprocess.run([hit, "build", profile, "-j", "2", "-q", f"salt={run}"], env=env, cwd=tmp, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    measured = statistics.median(times)
    print("| DAG | ideal makespan (s) | measured, median of %d (s) | measured / ideal |" % args.runs)
    print("|---|---|---|---|")
    print(f"| 3x2 s chain + 6x1 s + make with 4x1 s jobs, -j 2 | {ideal:.1f} | {measured:.2f} | {measured / ideal:.3f} |")

if __name__ == "__main__":
    main()
