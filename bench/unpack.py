#!/usr/bin/env python3
"""Unpacking speed: `hit unpack` (safety checks included) against GNU `tar x` on the same
archives from ../shared/mirror, medians of several runs in the same session.

Usage: cargo build --release && python3 bench/unpack.py [--runs N] [--mirror DIR]
"""
import argparse, os, shutil, statistics, subprocess, tempfile, time

ARCHIVES = ["sqlite-3.40.1.tar.xz", "libxml2-2.9.14+dfsg.tar.xz", "lua-5.4.4.tar.gz", "zlib-1.2.13.dfsg.tar.bz2"]

def timed(argv, env, runs, out):
    times = []
    for _ in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hit", default=os.path.join(here, "../target/release/hit"))
    parser.add_argument("--mirror", default=os.path.join(here, "../../shared/mirror"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HIT_HOME=os.path.join(tmp, "home"))
        out = os.path.join(tmp, "out")
        print(f"| archive | size (MB) | hit unpack (s) | tar x (s) | hit / tar |")
        print("|---|---|---|---|---|")
        for name in ARCHIVES:
            path = os.path.join(args.mirror, name)
            key = subprocess.run([args.hit, "fetch", path], env=env, check=True, capture_output=True, text=True).stdout.strip()
            hit = timed([args.hit, "unpack", key, out], env, args.runs, out)
            tar = timed(["tar", "xf", path, "-C", out], env, args.runs, out)
            print(f"| {name} | {os.path.getsize(path) / 1e6:.1f} | {hit:.3f} | {tar:.3f} | {hit / tar:.2f} |")

if __name__ == "__main__":
    main()
