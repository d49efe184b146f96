#!/usr/bin/env python3
"""Using a built profile of N trivial packages (synth.py's fan-in): how long `hit env`,
`hit graph` (from the link, read from the store; from the profile script, through the plan
cache; from the script with another parameter, so every recipe is evaluated),
`hit modules` (regenerating: nothing to write) and `hit lock` take, next to the start of
the hit process alone (`hit --version`) measured in the same run. Medians of --runs.

Usage: cargo build --release && python3 bench/use.py [--packages 1000] [--runs 11] [--tmp /dev/shm]
"""
import argparse, os, shutil, subprocess, tempfile

import synth

HERE = os.path.dirname(os.path.abspath(__file__))

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--hit", default=os.path.join(HERE, "../target/release/hit"))
    parser.add_argument("--tmp", help="where the store and recipes go (e.g. /dev/shm)")
    args = parser.parse_args()
    hit = os.path.abspath(args.hit)
    tmp = tempfile.mkdtemp(prefix="hit-use-", dir=args.tmp)
    try:
        profile = synth.write(tmp, "fan-in", args.packages)
        env = dict(os.environ, HIT_HOME=os.path.join(tmp, "home"))
        env.pop("HIT_LOG", None)
        subprocess.run([hit, "build", "-q", "-j2", profile], env=env, cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([hit, "modules", "./fan-in", "mods"], env=env, cwd=tmp, check=True,
                       capture_output=True)
        cases = [
            ("hit --version (process start, the baseline)", [hit, "--version"]),
            ("hit env ./fan-in", [hit, "env", "./fan-in"]),
            ("hit graph ./fan-in (from the store)", [hit, "graph", "./fan-in"]),
            ("hit graph fan-in.rhai (built and unchanged: plan cache, then the store)", [hit, "graph", "fan-in.rhai"]),
            ("hit graph fan-in.rhai x=1 (not built: all 1000 recipes evaluated)", [hit, "graph", "fan-in.rhai", "x=1"]),
            ("hit modules ./fan-in mods (nothing to write)", [hit, "modules", "./fan-in", "mods"]),
            ("hit lock fan-in.rhai", [hit, "lock", "fan-in.rhai"]),
        ]
        results = [(name, synth.median_ms(argv, env, tmp, args.runs)) for name, argv in cases]
        base = results[0][1]
        print(f"{args.packages} packages, medians of {args.runs} runs")
        print("| command | ms | minus process start |")
        print("|---------|----|---------------------|")
        for name, ms in results:
            print(f"| {name} | {ms:.1f} | {ms - base:.1f} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    main()
