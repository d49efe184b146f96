#!/usr/bin/env python3
"""The real stack (packages/profiles/stack.rhai, sources from ../shared/mirror): wall time
of `hit build -j N` against the same packages built one after another, each with
`make -jN` (one `hit build -j N` of a one-package profile per package, in dependency
order, each in the same store so that its dependencies are there; MAKEFLAGS is not
hashed, so both ways build the same ids).

Usage: cargo build --release && python3 bench/stack.py [-j 2] [--mirror ../shared/mirror]
Takes about 2 x 6 minutes on 2 cores. Prints a markdown table and the per-package times.
"""
import argparse, json, os, shutil, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

def hashed_mirror(mirror, root):
    """A mirror laid out by hash (sha256/<hex>), from the mirror's MANIFEST.tsv."""
    os.makedirs(os.path.join(root, "sha256"))
    with open(os.path.join(mirror, "MANIFEST.tsv")) as manifest:
        for line in manifest:
            if line.startswith("#") or not line.strip():
                continue
            file, sha = line.split("\t")[:2]
            os.symlink(os.path.join(mirror, file), os.path.join(root, "sha256", sha))
    return root

def new_home(tmp, name, mirror, hit, extra=""):
    """A fresh home `tmp/name` (an old one is deleted) using `mirror` (or none), with
    `extra` lines appended to its config.yaml."""
    path = os.path.join(tmp, name)
    shutil.rmtree(path, ignore_errors=True)
    env = dict(os.environ, HIT_HOME=path)
    subprocess.run([hit, "init-home"], env=env, check=True, capture_output=True)
    config = os.path.join(path, "config.yaml")
    with open(config) as f:
        text = f.read()
    if mirror:
        text = text.replace("mirrors: []", f"mirrors: [{json.dumps(mirror)}]")
    with open(config, "w") as f:
        f.write(text + extra)
    return env

def build(hit, profile, jobs, env, cwd):
    start = time.perf_counter()
    result = subprocess.run([hit, "build", profile, "-j", str(jobs), "-q"], env=env, cwd=cwd,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"hit build {profile} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - start

def imports_of(hit, profile, env):
    """Each package of the profile (in `hit status` order) with the names it imports."""
    status = subprocess.run([hit, "status", profile], env=env, check=True, capture_output=True, text=True)
    names = [line.split()[0] for line in status.stdout.splitlines()[1:] if line.strip()]
    imports = {}
    for name in names:
        spec = subprocess.run([hit, "show", "buildspec", name, "-p", profile], env=env,
                              check=True, capture_output=True, text=True)
        imports[name] = [i["id"].split("/")[0] for i in json.loads(spec.stdout)["build"].get("import", [])]
    return imports

def dependency_order(hit, profile, env):
    """Package names of the profile, each after its imports."""
    imports = imports_of(hit, profile, env)
    names = list(imports)
    order, done = [], set()
    def visit(name):
        if name not in done:
            done.add(name)
            for dep in imports[name]:
                visit(dep)
            order.append(name)
    for name in names:
        visit(name)
    return order

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--mirror", default=os.path.join(REPO, "../shared/mirror"))
    parser.add_argument("--hit", default=os.path.join(REPO, "target/release/hit"))
    parser.add_argument("--profile", default=os.path.join(REPO, "packages/profiles/stack.rhai"))
    args = parser.parse_args()
    hit, profile = os.path.abspath(args.hit), os.path.abspath(args.profile)
    with tempfile.TemporaryDirectory() as tmp:
        mirror = hashed_mirror(os.path.abspath(args.mirror), os.path.join(tmp, "mirror"))

        env = new_home(tmp, "one-by-one", mirror, hit)
        order = dependency_order(hit, profile, env)
        times = {}
        for name in order:
            single = os.path.join(tmp, f"{name}.rhai")
            # The stack itself with every other package skipped: its params (readline for
            # lua and sqlite) and settings apply, so the ids are the stack's.
            others = [other for other in order if other != name]
            with open(single, "w") as f:
                f.write('profile(#{ extends: %s, skip: %s })\n' % (json.dumps(profile), json.dumps(others)))
            times[name] = build(hit, single, args.jobs, env, tmp)
            print(f"  {name}: {times[name]:.1f} s", flush=True)
        sequential = sum(times.values())
        status = subprocess.run([hit, "status", profile], env=env, check=True, capture_output=True, text=True)
        if "missing" in status.stdout:
            raise SystemExit(f"the one-package profiles built other ids than the stack:\n{status.stdout}")

        env = new_home(tmp, "scheduled", mirror, hit)
        scheduled = build(hit, profile, args.jobs, env, tmp)

    print(f"| how | wall (s) |")
    print("|---|---|")
    print(f"| one package after another, each `hit build -j{args.jobs}` (make -j{args.jobs}) | {sequential:.1f} |")
    print(f"| `hit build stack.rhai -j{args.jobs}` (scheduler, one jobserver) | {scheduled:.1f} ({scheduled / sequential:.2f}x) |")

if __name__ == "__main__":
    main()
