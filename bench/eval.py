#!/usr/bin/env python3
"""Cold evaluation of a 1,000-package synthetic profile (bench/synth.py's recipes, one file
each): `hit hash` of the last package and `hit status` (which also looks up every id in
the store), each on a fresh home, so nothing is cached. Medians of --runs, with
/bin/true as the process-start baseline, and optionally another hit binary measured in the
same run (--baseline) for a ratio.

`--styles plain,import,param` also measures recipes that build their map with a function
of an imported base recipe, and recipes that declare a param.

Usage: cargo build --release && python3 bench/eval.py [--packages 1000] [--runs 15] [--baseline BINARY]
           [--styles plain,import,param]
"""
import argparse, os, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synth
from synth import median_ms

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--hit", default=os.path.join(HERE, "../target/release/hit"))
    parser.add_argument("--baseline", default=None, help="another hit binary, measured alongside")
    parser.add_argument("--styles", default="plain",
                        help="recipe styles, comma-separated: plain, import (each imports a base "
                             "recipe), param (each declares a param)")
    args = parser.parse_args()
    binaries = [("hit", os.path.abspath(args.hit))]
    if args.baseline:
        binaries.append(("baseline", os.path.abspath(args.baseline)))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, "home")
        env = dict(os.environ, HIT_HOME=home)
        rows.append(("/bin/true", None, median_ms(["/bin/true"], env, tmp, args.runs)))
        for shape in ("fanin", "chain"):
            for style in args.styles.split(","):
                dir = os.path.join(tmp, f"{shape}-{style}")
                profile = synth.write(dir, shape, args.packages, style)
                last = f"p{args.packages - 1:04d}"
                what = shape if style == "plain" else f"{shape} ({style})"
                for label, hit in binaries:
                    rows.append((f"{what}: hit hash {last}", label,
                                 median_ms([hit, "hash", last, "-p", profile], env, dir, args.runs, home)))
                    rows.append((f"{what}: hit status", label,
                                 median_ms([hit, "status", profile], env, dir, args.runs, home)))
    print(f"{args.packages} packages, medians of {args.runs} (ms)")
    print("| command | binary | median (ms) |")
    print("|---|---|---|")
    for name, label, ms in rows:
        print(f"| {name} | {label or '-'} | {ms:.1f} |")

if __name__ == "__main__":
    main()
