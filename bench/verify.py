#!/usr/bin/env python3
"""`hit verify` reading contents, against `sha256sum` of the same files (the baseline,
measured in the same run): every file of every artifact but their `.hit/` metadata, listed
once beforehand and hashed by one `xargs sha256sum`. `hit verify --fast` (metadata only)
is shown too. Medians of --runs.

The store is either N trivial artifacts (bench/synth.py's two-level tree, default 10,000,
built first) or, with --home, an existing home (e.g. one where packages/profiles/stack.rhai
was built: the real stack).

Usage: cargo build --release && python3 bench/verify.py [--artifacts 10000] [--runs 5] [--tmp DIR]
       python3 bench/verify.py --home ~/.hit
"""
import argparse, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth
from synth import median_ms

def files_of(store):
    """Every regular file of every artifact, `.hit/` left out, as NUL-separated bytes."""
    out = []
    for name in sorted(os.listdir(store)):
        if name.startswith("."):
            continue
        for short in sorted(os.listdir(os.path.join(store, name))):
            root = os.path.join(store, name, short)
            for dirpath, dirnames, filenames in os.walk(root):
                if dirpath == root and ".hit" in dirnames:
                    dirnames.remove(".hit")
                for file in filenames:
                    path = os.path.join(dirpath, file)
                    if os.path.isfile(path) and not os.path.islink(path):
                        out.append(path)
    return out

def measure(hit, home, cwd, runs):
    env = dict(os.environ, HIT_HOME=home)
    files = files_of(os.path.join(home, "bld"))
    listing = os.path.join(cwd, "files.lst")
    with open(listing, "wb") as f:
        f.write(b"\0".join(p.encode() for p in files))
    size = sum(os.path.getsize(p) for p in files)
    sha = median_ms(["sh", "-c", f"xargs -0 sha256sum < {listing} > /dev/null"], env, cwd, runs)
    full = median_ms([hit, "verify"], env, cwd, runs)
    fast = median_ms([hit, "verify", "--fast"], env, cwd, runs)
    print(f"{len(files)} files, {size / 1e6:.1f} MB; medians of {runs} runs")
    print("| command | ms | vs sha256sum |")
    print("|---|---|---|")
    print(f"| sha256sum of the same files (baseline) | {sha:.0f} | 1.00 |")
    print(f"| hit verify (contents) | {full:.0f} | {full / sha:.2f} |")
    print(f"| hit verify --fast (metadata only) | {fast:.0f} | {fast / sha:.2f} |")

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifacts", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hit", default=os.path.join(synth.HERE, "../target/release/hit"))
    parser.add_argument("--tmp", help="where the synthetic store goes (default: the system temp dir)")
    parser.add_argument("--home", help="measure this existing home instead of a synthetic store")
    args = parser.parse_args()
    hit = os.path.abspath(args.hit)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        if args.home:
            measure(hit, os.path.abspath(args.home), tmp, args.runs)
            return
        profile = synth.write(tmp, "tree", args.artifacts)
        home = os.path.join(tmp, "home")
        start = time.perf_counter()
        subprocess.run([hit, "build", profile, "-j", "2", "-q"], env=dict(os.environ, HIT_HOME=home),
                       cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        print(f"built {args.artifacts} artifacts (+1 profile) in {time.perf_counter() - start:.1f} s")
        measure(hit, home, tmp, args.runs)

if __name__ == "__main__":
    main()
