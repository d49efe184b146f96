#!/usr/bin/env python3
"""gc on a big store: N small artifacts (default 10,000: the two-level tree profile of
bench/synth.py, one package over ~sqrt(N) middle ones over the leaves), built once. Then the median
of `hit gc --dry-run` over several runs, twice: with the profile linked (everything is
kept: every artifact's metadata and sources are read) and after `hit rm` of the link
(everything would go: every artifact's size is summed). `hit verify` (reads and re-hashes
every artifact's build.json, checks every file's mode) and `du -s` of the store (a walk of
every inode, the baseline) are measured in the same run. Then the deletion itself: `hit gc`
after `hit rm` of the link, on a fresh copy of the home each run, against `rm -rf` of a
copy of the same store (the kernel's floor for unlinking those inodes), both medians.
With --nix, the same trees are also added to a Nix store (`nix-store --add`, as root in
single-user mode: NIX_REMOTE unset) and deleted by `nix-store --gc`, each run, so that hit's
gc is measured side by side with Nix's on the same inodes.

Usage: cargo build --release && python3 bench/gc.py [--artifacts 10000] [--runs 5] [--tmp DIR]
           [--hit BINARY] [--nix]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth
from synth import median_ms

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifacts", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hit", default=os.path.join(synth.HERE, "../target/release/hit"))
    parser.add_argument("--tmp", help="where the store goes (default: the system temp dir)")
    parser.add_argument("--nix", action="store_true", help="also time nix-store --gc on the same trees")
    args = parser.parse_args()
    hit = os.path.abspath(args.hit)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        profile = synth.write(tmp, "tree", args.artifacts)
        home = os.path.join(tmp, "home")
        env = dict(os.environ, HIT_HOME=home)
        start = time.perf_counter()
        subprocess.run([hit, "build", profile, "-j", "2", "-q"], env=env, cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"built {args.artifacts} artifacts (+1 profile) in {time.perf_counter() - start:.1f} s")
        du = median_ms(["du", "-s", os.path.join(home, "bld")], env, tmp, args.runs)
        keep = median_ms([hit, "gc", "--dry-run"], env, tmp, args.runs)
        verify = median_ms([hit, "verify"], env, tmp, args.runs)
        subprocess.run([hit, "rm", "tree"], env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        drop = median_ms([hit, "gc", "--dry-run"], env, tmp, args.runs)
        # Deletion: each run on a fresh copy (`cp -a` keeps modes; the link record is gone
        # already, so everything is unreachable), against `rm -rf` of a copy of the store.
        original = os.path.join(tmp, "home.orig")
        shutil.move(home, original)
        gcs, rms = [], []
        for _ in range(args.runs):
            subprocess.run(["cp", "-a", original, home], check=True)
            subprocess.run(["sync"], check=True)
            start = time.perf_counter()
            subprocess.run([hit, "gc"], env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
            gcs.append(time.perf_counter() - start)
            shutil.rmtree(home)
            copy = os.path.join(tmp, "bld.copy")
            subprocess.run(["cp", "-a", os.path.join(original, "bld"), copy], check=True)
            subprocess.run(["sync"], check=True)
            start = time.perf_counter()
            subprocess.run(["rm", "-rf", copy], check=True)
            rms.append(time.perf_counter() - start)
        nixes = []
        if args.nix:
            store = os.path.join(original, "bld")
            trees = [os.path.join(store, name, short)
                     for name in sorted(os.listdir(store)) if not name.startswith(".")
                     for short in sorted(os.listdir(os.path.join(store, name)))]
            nix_env = {k: v for k, v in os.environ.items() if k != "NIX_REMOTE"}
            for _ in range(args.runs):
                # Nothing roots what is added: all of it is garbage.
                for i in range(0, len(trees), 1000):
                    subprocess.run(["nix-store", "--add"] + trees[i:i + 1000], env=nix_env,
                                   check=True, stdout=subprocess.DEVNULL)
                subprocess.run(["sync"], check=True)
                start = time.perf_counter()
                subprocess.run(["nix-store", "--gc"], env=nix_env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                nixes.append(time.perf_counter() - start)
        gc = statistics.median(gcs) * 1000
        rm = statistics.median(rms) * 1000
        print("| operation | median (ms) | vs du -s |")
        print("|---|---|---|")
        print(f"| du -s of the store (baseline) | {du:.0f} | 1.00 |")
        print(f"| hit gc --dry-run, all kept | {keep:.0f} | {keep / du:.2f} |")
        print(f"| hit gc --dry-run, all unreachable | {drop:.0f} | {drop / du:.2f} |")
        print(f"| hit verify | {verify:.0f} | {verify / du:.2f} |")
        print()
        print("| deletion | median (ms) | vs rm -rf |")
        print("|---|---|---|")
        print(f"| rm -rf of a copy of the store (baseline) | {rm:.0f} | 1.00 |")
        print(f"| hit gc, deleting all {args.artifacts + 1} | {gc:.0f} | {gc / rm:.2f} |")
        if nixes:
            nix = statistics.median(nixes) * 1000
            print(f"| nix-store --gc, deleting the same trees | {nix:.0f} | {nix / rm:.2f} |")
            print(f"\nhit gc / nix-store --gc: {gc / nix:.2f}")

if __name__ == "__main__":
    main()
