#!/usr/bin/env python3
"""Orchestration overhead on synthetic profiles of N trivial packages (each writes one
file): a wide fan-in (N-1 leaves, one package depending on all) and a deep chain (each
package depends on the previous one); `--write --shape tree` writes a two-level tree (the
last package over ~sqrt(N) middle ones, each over its share of leaves), which bench/gc.py
uses. Reports the cold build time per package, the no-op
rebuild (evaluation of all N recipes included) and the no-op's peak memory (RSS). Each
cold build gets a fresh store; the figures are medians of --runs.

Usage: cargo build --release && python3 bench/synth.py [--packages 1000] [--runs 5] [-j 2] [--tmp /dev/shm]
           [--config 'sync: artifact'] [--keep] [--shapes chain]
       python3 bench/synth.py --write DIR --shape chain   (just write the recipes and profile)
"""
import argparse, json, os, shutil, statistics, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))

def write(dir, shape, n, style="plain"):
    """`style`: "plain" recipes; "import": each builds its map with a function of a base
    recipe it imports (recipes/bases/trivial.rhai); "param": each declares a param."""
    recipes = os.path.join(dir, "recipes")
    os.makedirs(recipes, exist_ok=True)
    if style == "import":
        os.makedirs(os.path.join(recipes, "bases"), exist_ok=True)
        with open(os.path.join(recipes, "bases", "trivial.rhai"), "w") as f:
            f.write('fn trivial(name, deps) {\n'
                    '    #{ name: name, toolchain: false, deps: deps,\n'
                    '       stages: [stage("install", `echo ${name} > $ARTIFACT/${name}`)] }\n}\n')
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
            if style == "import":
                f.write('import "bases/trivial" as t;\nrecipe(t::trivial("%s", %s))\n' % (name, json.dumps(deps)))
                continue
            if style == "param":
                f.write('let salt = param("salt", 0, "changes every id");\n')
            f.write('recipe(#{ name: "%s", toolchain: false, deps: %s, stages: [stage("install", "echo %s > $ARTIFACT/%s")] })\n'
                    % (name, json.dumps(deps), name, name))
    profile = os.path.join(dir, f"{shape}.rhai")
    with open(profile, "w") as f:
        f.write('profile(#{ package_dirs: ["recipes"], packages: ["%s"] })\n' % names[-1])
    return profile

def median_ms(argv, env, cwd, runs, fresh_home=None):
    """Median wall time of `argv` over `runs` runs, in ms; `fresh_home` is deleted before
    each run (nothing cached). Shared by the benches that import this module."""
    times = []
    for _ in range(runs):
        if fresh_home:
            shutil.rmtree(fresh_home, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000

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
    parser.add_argument("--runs", type=int, default=5, help="cold builds and no-ops per shape (medians)")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--hit", default=os.path.join(HERE, "../target/release/hit"))
    parser.add_argument("--write")
    parser.add_argument("--shape", default="fan-in")
    parser.add_argument("--shapes", default="fan-in,chain", help="shapes to measure, comma-separated")
    parser.add_argument("--tmp", help="where the store and recipes go (e.g. /dev/shm for tmpfs)")
    parser.add_argument("--config", action="append", default=[], help="a line to add to each store's config.yaml (e.g. 'sync: artifact')")
    parser.add_argument("--keep", action="store_true", help="leave the stores (for comparing binaries without deletions in between)")
    args = parser.parse_args()
    if args.write:
        print(write(args.write, args.shape, args.packages))
        return
    hit = os.path.abspath(args.hit)
    print(f"| shape | packages | cold build, median (s) | per package (ms) | cold min-max (ms/pkg) | no-op median (ms) | no-op peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|")
    # Every store stays until the end: deleting one would slow down the next measurement on
    # ext4 without a journal, which skips inodes freed in the last minutes when allocating
    # (see docs/performance.md).
    scratch = None if args.keep else tempfile.TemporaryDirectory(dir=args.tmp)
    tmp = scratch.name if scratch else tempfile.mkdtemp(dir=args.tmp)
    try:
        measure(args, hit, tmp)
    finally:
        if scratch:
            scratch.cleanup()
        else:
            print(f"stores left in {tmp}")

def measure(args, hit, tmp):
    for shape in args.shapes.split(","):
        profile = write(os.path.join(tmp, shape[0]), shape, args.packages)
        colds = []
        for run_index in range(args.runs):
            env = dict(os.environ, HIT_HOME=os.path.join(tmp, shape[0], f"h{run_index}"))
            subprocess.run([hit, "init-home"], env=env, check=True, capture_output=True)
            with open(os.path.join(env["HIT_HOME"], "config.yaml"), "a") as config:
                config.writelines(line + "\n" for line in args.config)
            os.sync()  # the previous run's writes are not this one's to wait for
            cold, _ = run([hit, "build", profile, "-j", str(args.jobs), "-q"], env, os.path.dirname(profile))
            colds.append(cold)
        noops = [run([hit, "build", profile, "-q"], env, os.path.dirname(profile)) for _ in range(args.runs)]
        cold = statistics.median(colds)
        wall = statistics.median(w for w, _ in noops) * 1000
        rss = max(r for _, r in noops)
        per = lambda seconds: seconds * 1000 / args.packages
        print(f"| {shape} | {args.packages} | {cold:.2f} | {per(cold):.2f} | {per(min(colds)):.2f}-{per(max(colds)):.2f} | {wall:.1f} | {rss:.1f} |", flush=True)

if __name__ == "__main__":
    main()
