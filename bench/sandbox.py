#!/usr/bin/env python3
"""The cost of the build sandbox (docs/sandbox.md), three ways, each against the same thing
without it, measured in the same run, alternating, medians of --runs:

1. one command: `hit-sandbox __sandbox-v1 ... -- /bin/true` (the helpers and the namespaces),
   with `hit` itself as the helper, with `hit-sandbox` on its own, and with `hit-sandbox`
   joining a keeper's user and network namespaces as hit does, against `/bin/true`
   started directly, averaged over 300 starts;
2. bench/synth.py's 1,000 trivial packages (fan-in, one command each), cold, with
   `sandbox: on` and `sandbox: off`: the extra ms per package;
3. a real profile (default packages/profiles/small.rhai: zlib, bzip2, lua, libpng from the
   mirror), cold, sandboxed and not: the ratio of the wall times.

Usage: cargo build --release && python3 bench/sandbox.py [--runs 3] [-j 2] [--tmp /dev/shm]
           [--profile packages/profiles/small.rhai] [--skip-real]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import stack, synth  # noqa: E402

def per_command_ms(hit, tmp, starts=300):
    """/bin/true started directly; through `hit` as the helper (where `hit-sandbox` is
    missing); through `hit-sandbox` on its own; and through `hit-sandbox` joining a
    keeper's namespaces (as hit runs commands)."""
    helper = os.path.join(os.path.dirname(hit), "hit-sandbox")
    root = os.path.join(tmp, "sandbox-root")
    os.makedirs(root, exist_ok=True)
    paths = ["--root", root]
    for path in ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"]:
        paths += ["--ro", path]
    paths += ["--rw", tmp]
    wrapped = [helper, "__sandbox-v1"] + paths
    by_hit = [hit, "__sandbox-v1"] + paths
    keeper = subprocess.Popen([helper, "__sandbox-keeper-v1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert keeper.stdout.readline() == b"ready\n"
    joined = wrapped + ["--join", str(keeper.pid)]
    def each(argv):
        start = time.perf_counter()
        for _ in range(starts):
            subprocess.run(argv, check=True)
        return (time.perf_counter() - start) * 1000 / starts
    try:
        results = [each(["/bin/true"]), each(by_hit + ["--", "/bin/true"]),
                   each(wrapped + ["--", "/bin/true"]), each(joined + ["--", "/bin/true"])]
    finally:
        keeper.stdin.close()
        keeper.wait()
    return results

def home(tmp, name, mode, mirror=None):
    return stack.new_home(tmp, name, mirror, HIT, f"\nsandbox: {mode}\nsync: none\n")

def cold(profile, env, jobs, cwd):
    wall, _ = synth.run([HIT, "build", profile, "-j", str(jobs), "-q"], env, cwd)
    return wall

def main():
    global HIT
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--tmp", help="where the stores go (e.g. /dev/shm)")
    parser.add_argument("--hit", default=os.path.join(REPO, "target/release/hit"))
    parser.add_argument("--mirror", default=os.path.join(REPO, "../shared/mirror"))
    parser.add_argument("--profile", default=os.path.join(REPO, "packages/profiles/small.rhai"))
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    HIT = os.path.abspath(args.hit)
    tmp = tempfile.mkdtemp(dir=args.tmp)
    try:
        direct, by_hit, alone, joined = per_command_ms(HIT, tmp)
        print(f"one command: /bin/true {direct:.2f} ms; in the sandbox, hit as the helper {by_hit:.2f} ms (+{by_hit - direct:.2f}), hit-sandbox {alone:.2f} ms (+{alone - direct:.2f}), hit-sandbox joining the keeper's namespaces {joined:.2f} ms (+{joined - direct:.2f})", flush=True)

        profile = synth.write(os.path.join(tmp, "synth"), "fan-in", args.packages)
        times = {"on": [], "off": []}
        for _ in range(args.runs):
            for mode in ["off", "on"]:
                env = home(tmp, f"synth-{mode}", mode)
                times[mode].append(cold(profile, env, args.jobs, os.path.dirname(profile)))
        on, off = statistics.median(times["on"]), statistics.median(times["off"])
        per = lambda seconds: seconds * 1000 / args.packages
        print(f"| {args.packages} trivial packages, -j {args.jobs} | off {per(off):.2f} ms/pkg | on {per(on):.2f} ms/pkg | +{per(on) - per(off):.2f} ms/pkg | {on / off:.2f}x |", flush=True)

        if not args.skip_real:
            mirror = stack.hashed_mirror(os.path.abspath(args.mirror), os.path.join(tmp, "mirror"))
            times = {"on": [], "off": []}
            for _ in range(args.runs):
                for mode in ["off", "on"]:
                    env = home(tmp, f"real-{mode}", mode, mirror)
                    times[mode].append(cold(os.path.abspath(args.profile), env, args.jobs, tmp))
            on, off = statistics.median(times["on"]), statistics.median(times["off"])
            print(f"| {os.path.basename(args.profile)}, -j {args.jobs} | off {off:.1f} s | on {on:.1f} s | {on / off:.3f}x | runs on {', '.join(f'{t:.1f}' for t in times['on'])}; off {', '.join(f'{t:.1f}' for t in times['off'])} |", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    main()
