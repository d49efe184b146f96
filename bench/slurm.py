#!/usr/bin/env python3
"""The Slurm executor (docs/clusters.md) against the local one, on a running Slurm
(`.ci/slurm` starts a one-node one as root):

1. overhead per package: bench/synth.py's fan-in of --packages trivial packages, cold, with
   the local executor, as job steps inside `salloc`, and as batch jobs; each -j 1 with as
   many builds at once as the node has CPUs; ms per package over the local build;
2. a real profile (default packages/profiles/small.rhai, sources from the mirror) cold,
   locally with -j N and as steps inside an allocation of the same N CPUs (N CPUs per
   build, and 1 CPU per build): the makespan ratios;
3. `--simulate`: how hit's order (longest remaining path first) fills 100 nodes with 1,000
   packages: the real stack's dependency graph repeated to 1,000 packages (each copy
   depending on the one before through its toolchain, so the copies chain loosely), with
   the build times hit recorded (`durations.json` of a real build, or --durations),
   list-scheduled on --nodes workers; the makespan against its lower bound, max(longest
   path, total work / nodes).

Usage: cargo build --release && python3 bench/slurm.py [--runs 3] [--packages 40]
           [--profile packages/profiles/small.rhai] [--skip-real]
       python3 bench/slurm.py --simulate --durations ~/.hit/durations.json [--nodes 100]
"""
import argparse, heapq, json, os, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import stack, synth  # noqa: E402

def cpus():
    out = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])

def home(tmp, name, mirror=None):
    return stack.new_home(tmp, name, mirror, HIT, "\nsync: none\n")

def timed(argv, env, cwd):
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - start

def ways(profile, jobs, n):
    build = [HIT, "build", profile, "-q"]
    return {
        "local": build + ["-j", str(n)],
        "steps": ["salloc", "-N1", f"-n{n}", "-Q"] + build + ["--executor", "slurm", "-j", str(jobs)],
        "jobs": build + ["--executor", "slurm", "-j", str(jobs)],
    }

def overhead(args, tmp):
    n = cpus()
    profile = synth.write(os.path.join(tmp, "synth"), "fan-in", args.packages)
    times = {way: [] for way in ["local", "steps", "jobs"]}
    for _ in range(args.runs):
        for way, argv in ways(profile, 1, n).items():
            env = home(tmp, f"synth-{way}")
            times[way].append(timed(argv, env, os.path.dirname(profile)))
    local = statistics.median(times["local"])
    for way in ["local", "steps", "jobs"]:
        median = statistics.median(times[way])
        extra = (median - local) * 1000 / args.packages
        print(f"| {args.packages} trivial packages, {way}, {n} at once | {median:.2f} s | +{extra:.0f} ms/pkg over local | runs {', '.join(f'{t:.2f}' for t in times[way])} |", flush=True)

def real(args, tmp):
    """The profile locally with -j N, as steps of an allocation of N CPUs with N CPUs per
    build (one build at a time on N = 2), and as steps with 1 CPU per build (N at once)."""
    n = cpus()
    mirror = stack.hashed_mirror(os.path.abspath(args.mirror), os.path.join(tmp, "mirror"))
    profile = os.path.abspath(args.profile)
    argvs = {
        "local": ways(profile, n, n)["local"],
        f"steps -j {n}": ways(profile, n, n)["steps"],
        "steps -j 1": ways(profile, 1, n)["steps"],
    }
    times = {way: [] for way in argvs}
    for _ in range(args.runs):
        for way, argv in argvs.items():
            env = home(tmp, "real-" + way.replace(" ", ""), mirror)
            times[way].append(timed(argv, env, tmp))
    local = statistics.median(times["local"])
    for way, runs in times.items():
        median = statistics.median(runs)
        print(f"| {os.path.basename(profile)}, {n} CPUs, {way} | {median:.1f} s | {median / local:.3f}x local | runs {', '.join(f'{t:.1f}' for t in runs)} |", flush=True)

def simulate(args):
    with open(os.path.expanduser(args.durations)) as f:
        recorded = json.load(f)
    durations = {name: millis / 1000 for name, millis in recorded.items()}  # {name: ms}
    env = dict(os.environ)
    if args.home:
        env["HIT_HOME"] = args.home
    profile = os.path.abspath(args.profile)
    imports = stack.imports_of(HIT, profile, env)
    names = [name for name in stack.dependency_order(HIT, profile, env) if name in durations]
    median = statistics.median(durations[name] for name in names)
    copies = -(-args.packages // len(names))
    tasks, deps = [], {}
    for copy in range(copies):
        for name in names:
            task = (copy, name)
            tasks.append(task)
            deps[task] = [(copy, dep) for dep in imports[name] if dep in durations]
            if copy > 0 and name == "toolchain":
                deps[task].append((copy - 1, "toolchain"))
    tasks = tasks[: args.packages]
    keep = set(tasks)
    deps = {task: [d for d in deps[task] if d in keep] for task in tasks}
    cost = {task: durations.get(task[1], median) for task in tasks}
    dependants = {task: [] for task in tasks}
    for task in tasks:
        for dep in deps[task]:
            dependants[dep].append(task)
    remaining = {}
    for task in reversed(tasks):
        remaining[task] = cost[task] + max((remaining[d] for d in dependants[task]), default=0)
    waiting = {task: len(deps[task]) for task in tasks}
    ready = [(-remaining[t], i, t) for i, t in enumerate(tasks) if waiting[t] == 0]
    heapq.heapify(ready)
    running, now, free, order = [], 0.0, args.nodes, {t: i for i, t in enumerate(tasks)}
    while ready or running:
        while ready and free > 0:
            _, _, task = heapq.heappop(ready)
            heapq.heappush(running, (now + cost[task], order[task], task))
            free -= 1
        now, _, done = heapq.heappop(running)
        free += 1
        for next_task in dependants[done]:
            waiting[next_task] -= 1
            if waiting[next_task] == 0:
                heapq.heappush(ready, (-remaining[next_task], order[next_task], next_task))
    longest = max(remaining.values())
    total = sum(cost.values())
    bound = max(longest, total / args.nodes)
    print(f"| {len(tasks)} packages ({copies} copies of {len(names)}), {args.nodes} nodes | makespan {now:.0f} s | lower bound {bound:.0f} s (longest path {longest:.0f} s, work/nodes {total / args.nodes:.0f} s) | {now / bound:.3f}x |")

def main():
    global HIT
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--packages", type=int, default=40)
    parser.add_argument("--hit", default=os.path.join(REPO, "target/release/hit"))
    parser.add_argument("--mirror", default=os.path.join(REPO, "../shared/mirror"))
    parser.add_argument("--profile", default=os.path.join(REPO, "packages/profiles/small.rhai"))
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--simulate", action="store_true")
    parser.add_argument("--durations", default="~/.hit/durations.json")
    parser.add_argument("--home", help="HIT_HOME for --simulate's evaluation of the profile")
    parser.add_argument("--nodes", type=int, default=100)
    args = parser.parse_args()
    HIT = os.path.abspath(args.hit)
    if args.simulate:
        if args.packages == 40:
            args.packages = 1000
        return simulate(args)
    tmp = tempfile.mkdtemp(dir=os.path.dirname(HIT))  # on the file system the nodes share
    try:
        overhead(args, tmp)
        if not args.skip_real:
            real(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    main()
