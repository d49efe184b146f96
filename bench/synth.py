#!/usr/bin/env python3
"""Orchestration overhead on synthetic profiles of N trivial packages (each writes one
file): a wide fan-in (N-1 leaves, one package depending on all) and a deep chain (each
package depends on the previous one); `--write --shape tree` writes a two-level tree (the
last package over ~sqrt(N) middle ones, each over its share of leaves), which bench/gc.py
uses. Reports the cold build time per package, the no-op
rebuild (evaluation of all N recipes included) and the no-op's peak memory (RSS).

Usage: cargo build --release && python3 bench/synth.py [--packages 1000] [--runs 5] [-j 2] [--tmp /dev/shm]
       python3 bench/synth.py --write DIR --shape chain   (just write the recipes and profile)
"""
import argparse, json, os, shutil, statistics, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))

def write(dir, shape, n):
    recipes = os.path.join(dir, "recipes")
    os.makedirs(recipes, exist_ok=True)
    names = [f"p{i:04d}" for i in range(n)]
    for i, name in enumerate(names):
        if shape == "chain":
            deps = [names[i - 1]] if i > 0 else []
        elif shape == "tree":
            # The last package depends on ~sqrt(n) middle ones, each on its share of leaves.
            width = max(1, int((n - 1) ** 0.5))
            middles = list(range(n - 1 - width, n - 1))
            if i == n - 1:
                deps = [names[m] for m in middles]
            elif i in middles:
                deps = [names[j] for j in range(middles.index(i), n - 1 - width, width)]
            else:
                deps = []
        else:
            deps = names[:-1] if i == n - 1 else []
        with open(os.path.join(recipes, f"{name}.rhai"), "w") as f:
            f.write('recipe(#{ name: "%s", deps: %s, stages: [stage("install", "echo %s > $ARTIFACT/%s")] })\n'
                    % (name, json.dumps(deps), name, name))
    profile = os.path.join(dir, f"{shape}.rhai")
    with open(profile, "w") as f:
        f.write('profile(#{ package_dirs: ["recipes"], packages: ["%s"] })\n' % names[-1])
    return profile

def run(argv, env, cwd):
    """Wall seconds and peak RSS (MiB) of one command."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stderr = process.stderr.read().decode()
    process.stderr.close()
    if status != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--hit", default=os.path.join(HERE, "../target/release/hit"))
    parser.add_argument("--write")
    parser.add_argument("--shape", default="fan-in")
    parser.add_argument("--tmp", help="where the store and recipes go (e.g. /dev/shm for tmpfs)")
    args = parser.parse_args()
    if args.write:
        print(write(args.write, args.shape, args.packages))
        return
    hit = os.path.abspath(args.hit)
    print(f"| shape | packages | cold build (s) | per package (ms) | no-op median (ms) | no-op peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    for shape in ["fan-in", "chain"]:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            profile = write(tmp, shape, args.packages)
            env = dict(os.environ, HIT_HOME=os.path.join(tmp, "home"))
            subprocess.run([hit, "init-home"], env=env, check=True, capture_output=True)
            cold, _ = run([hit, "build", profile, "-j", str(args.jobs), "-q"], env, tmp)
            noops = [run([hit, "build", profile, "-q"], env, tmp) for _ in range(args.runs)]
            wall = statistics.median(w for w, _ in noops) * 1000
            rss = max(r for _, r in noops)
            print(f"| {shape} | {args.packages} | {cold:.2f} | {cold * 1000 / args.packages:.2f} | {wall:.1f} | {rss:.1f} |")

if __name__ == "__main__":
    main()
