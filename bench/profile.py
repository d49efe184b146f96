#!/usr/bin/env python3
"""Profile operations when everything is built: evaluating and checking a profile
(`hit status`), a no-op `hit build`, and switching between two profiles that differ by one
package (what "drop a package and rebuild" costs once both profiles exist, and the first
time, when the smaller profile must be linked). Uses the shell-only fixture recipes, so
no compiler time is measured.

Usage: cargo build --release && python3 bench/profile.py [--runs N]
"""
import argparse, json, os, statistics, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
RECIPES = os.path.join(HERE, "../tests/fixtures/recipes")

def timed(argv, env, cwd):
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
    return (time.perf_counter() - start) * 1000

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--hit", default=os.path.join(HERE, "../target/release/hit"))
    args = parser.parse_args()
    hit = os.path.abspath(args.hit)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HIT_HOME=os.path.join(tmp, "home"))
        def profile(name, packages):
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                f.write('profile(#{ package_dirs: [%s], packages: %s })' % (json.dumps(os.path.normpath(RECIPES)), packages))
            return path
        full = profile("p.rhai", '["greet", "hello"]')
        subprocess.run([hit, "build", full], env=env, cwd=tmp, check=True, capture_output=True)
        rows = []
        rows.append(("/bin/true (process start baseline)", statistics.median(timed(["/bin/true"], env, tmp) for _ in range(args.runs))))
        rows.append(("hit status p.rhai (3 packages)", statistics.median(timed([hit, "status", full], env, tmp) for _ in range(args.runs))))
        rows.append(("hit build p.rhai, nothing to do", statistics.median(timed([hit, "build", full], env, tmp) for _ in range(args.runs))))
        small = profile("p-small.rhai", '["hello"]')
        first_drop = timed([hit, "build", small], env, tmp)
        switches = []
        for _ in range(args.runs):
            switches.append(timed([hit, "build", full], env, tmp))
            switches.append(timed([hit, "build", small], env, tmp))
        rows.append(("drop a package, first time (links a new profile)", first_drop))
        rows.append(("switch between the two profiles (both exist)", statistics.median(switches)))
    print(f"| operation | median (ms), {args.runs} runs |")
    print("|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")

if __name__ == "__main__":
    main()
