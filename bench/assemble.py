#!/usr/bin/env python3
"""Assembling a big profile when nothing needs building: 20 packages of 1,000 files each
(250 each in bin/, lib/, include/<pkg>/ and share/<pkg>/, so bin/ and lib/ merge 20
packages), one of which changed (a parameter only it reads; both variants are built
beforehand). Each run times `hit build` of a copy of the changed profile under a new name
(so a new profile artifact, and nothing deleted between runs: on an ext4 without a journal,
freshly freed inodes slow down creating new ones): evaluation, the scheduler finding every
package present, the tree of 20,000 symlinks, the commit and the link switch.

Baseline, in the same run: `cp -rs` of the same 20 trees into a fresh directory (what a
Nix derivation that builds such a profile runs), and `ln -s` of 20,000 files by a single
Python loop (the floor of creating that many symlinks here).

Usage: cargo build --release && python3 bench/assemble.py [--runs 5] [--tmp /dev/shm] [--hit BINARY]
"""
import argparse, json, os, shutil, statistics, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGES, FILES = 20, 1000

RECIPE = r'''
let v = params.v ?? 0;
let tag = if name == "pkg19" { `${v}` } else { "" };
recipe(#{ name: name, toolchain: false, version: "1", stages: [stage("install", [
    `mkdir -p $ARTIFACT/bin $ARTIFACT/lib $ARTIFACT/include/${name} $ARTIFACT/share/${name}`,
    `cd $ARTIFACT && for i in $(seq -w 0 249); do for d in bin lib; do echo ${tag} > $d/${name}-$i; done; echo > include/${name}/h$i; echo > share/${name}/s$i; done`,
])] })
'''

def timed(argv, env, cwd):
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tmp", default=None)
    parser.add_argument("--hit", default=os.path.join(HERE, "../target/release/hit"))
    args = parser.parse_args()
    hit = os.path.abspath(args.hit)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        recipes = os.path.join(tmp, "recipes")
        os.makedirs(recipes)
        names = [f"pkg{i:02d}" for i in range(PACKAGES)]
        for name in names:
            with open(os.path.join(recipes, f"{name}.rhai"), "w") as f:
                f.write(RECIPE)
        profile = os.path.join(tmp, "big.rhai")
        with open(profile, "w") as f:
            f.write('profile(#{ package_dirs: ["recipes"], packages: %s })' % json.dumps(names))
        env = dict(os.environ, HIT_HOME=os.path.join(tmp, "home"))
        for v in ("1", "2"):
            subprocess.run([hit, "build", profile, f"v={v}"], env=env, cwd=tmp, check=True, capture_output=True)
        trees = [subprocess.run([hit, "resolve", name, "-p", profile, "v=2"], env=env, cwd=tmp, check=True,
                                capture_output=True, text=True).stdout.strip() for name in names]
        hit_times, cp_times, ln_times = [], [], []
        for run in range(args.runs):
            copy = os.path.join(tmp, f"big{run}.rhai")
            shutil.copy(profile, copy)
            subprocess.run(["sync"], check=True)
            hit_times.append(timed([hit, "build", copy, "v=2"], env, tmp))
            out = os.path.join(tmp, f"cp-{run}")
            os.makedirs(out)
            subprocess.run(["sync"], check=True)
            start = time.perf_counter()
            for tree in trees:
                subprocess.run(["cp", "-rs", "--no-preserve=mode", tree + "/.", out], check=False, capture_output=True)
            cp_times.append(time.perf_counter() - start)
            out = os.path.join(tmp, f"ln-{run}")
            start = time.perf_counter()
            for tree in trees:
                for dir, _, files in os.walk(tree):
                    if "/.hit" in dir or dir.endswith("/.hit"):
                        continue
                    target = os.path.join(out, os.path.relpath(dir, tree))
                    os.makedirs(target, exist_ok=True)
                    for name in files:
                        os.symlink(os.path.join(dir, name), os.path.join(target, name))
            ln_times.append(time.perf_counter() - start)
        link = os.readlink(os.path.join(tmp, "big"))
        count = sum(len(files) for _, _, files in os.walk(link))
        hit_ms = statistics.median(hit_times) * 1000
        cp_ms = statistics.median(cp_times) * 1000
        ln_ms = statistics.median(ln_times) * 1000
    print(f"profile of {PACKAGES} packages x {FILES} files ({count} entries), medians of {args.runs}")
    print("| operation | median (ms) | vs cp -rs |")
    print("|---|---|---|")
    print(f"| cp -rs of the 20 trees (baseline) | {cp_ms:.0f} | 1.00 |")
    print(f"| os.symlink of the 20,000 files, one Python loop | {ln_ms:.0f} | {ln_ms / cp_ms:.2f} |")
    print(f"| hit build, one package changed, nothing to build | {hit_ms:.0f} | {hit_ms / cp_ms:.2f} |")

if __name__ == "__main__":
    main()
