#!/usr/bin/env python3
"""A local mirror directory found by content: N files (default 1,000 of 64 KiB, named so
that no URL matches them), and `hit fetch URL KEY` of one of them with a URL whose host
does not answer and whose name is in no mirror. Measured, each a fresh `hit` process:

- the first lookup: the mirror's files are hashed and the index written;
- a later lookup (another file): the index is read and the file it names `stat`ed;
- the baseline, in the same run: `hit fetch` of a key already in the source cache (the
  process, the config, the cache probe: everything but the mirror).

"minus baseline" is what the mirror lookup and the copy of one file cost; a fetch found by
the URL's file name (no index) gives the copy's share. Medians of --runs
(each run a fresh home for the first lookup).

Usage: cargo build --release && python3 bench/mirror.py [--files 1000] [--runs 5] [--tmp /dev/shm]
"""
import argparse, hashlib, os, shutil, statistics, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))

def timed(argv, env):
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hit", default=os.path.join(HERE, "../target/release/hit"))
    parser.add_argument("--tmp")
    args = parser.parse_args()
    hit = os.path.abspath(args.hit)
    tmp = tempfile.mkdtemp(prefix="hit-mirror-", dir=args.tmp)
    try:
        mirror = os.path.join(tmp, "mirror")
        os.makedirs(mirror)
        keys = []
        for i in range(args.files):
            data = os.urandom(args.size)
            with open(os.path.join(mirror, f"release-{i:05d}.tar.gz"), "wb") as f:
                f.write(data)
            keys.append("sha256:" + hashlib.sha256(data).hexdigest())
        dead = "http://127.0.0.1:9/nowhere.tar.gz"
        firsts, laters, bases, names = [], [], [], []
        for run in range(args.runs):
            home = os.path.join(tmp, f"home{run}")
            os.makedirs(home)
            with open(os.path.join(home, "config.yaml"), "w") as f:
                f.write(f"mirrors: [{mirror}]\nsync: none\n")
            env = dict(os.environ, HIT_HOME=home)
            env.pop("HIT_LOG", None)
            firsts.append(timed([hit, "fetch", dead, keys[run * 3]], env))
            laters.append(timed([hit, "fetch", dead, keys[run * 3 + 1]], env))
            bases.append(timed([hit, "fetch", dead, keys[run * 3]], env))
            # Found by the URL's file name: no index, the copy into the cache alone.
            by_name = f"http://127.0.0.1:9/release-{run * 3 + 2:05d}.tar.gz"
            names.append(timed([hit, "fetch", by_name, keys[run * 3 + 2]], env))
        first, later, base, name = (statistics.median(x) for x in (firsts, laters, bases, names))
        print(f"{args.files} files of {args.size // 1024} KiB, medians of {args.runs} runs")
        print("| hit fetch of a source from the mirror | ms | minus baseline |")
        print("|---|---|---|")
        print(f"| already in the source cache (baseline) | {base:.1f} | 0.0 |")
        print(f"| first lookup: the mirror hashed, the index written | {first:.1f} | {first - base:.1f} |")
        print(f"| later lookup: the index read, the file found stat'ed | {later:.1f} | {later - base:.1f} |")
        print(f"| found by the URL's file name (no index: the copy into the cache alone) | {name:.1f} | {name - base:.1f} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    main()
