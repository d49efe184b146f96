#!/usr/bin/env python3
"""Binary caches on the real stack (packages/profiles/stack.rhai, sources from
../shared/mirror), each figure against a baseline measured in the same run:

- install: `hit build stack.rhai` in an empty store whose config lists a local HTTP cache
  holding the stack, against building it (the first, cold build of this run);
- pull: `hit pull URL <profile id>` (download, check signature, archive and content
  hashes, unpack, relocate, commit) against `curl URL | zstd -d | tar x` of the same
  archives, one after another and, to match hit's parallel pull, all at once;
- push: `hit push DIR ./stack --force` against `tar c | zstd -3` of the same trees, one
  after another and all at once.

The pulling store is at the building store's path (the store is moved away first), so that
m4 and xz, which are not relocatable, install too (`--force` pushes them). The HTTP server
is Python's, on 127.0.0.1, in this process. Medians of --runs.

Usage: cargo build --release && python3 bench/cache.py [-j 2] [--runs 5] [--mirror ../shared/mirror]
Takes the cold build (4-6 minutes on 2 cores) and about a minute more.
"""
import argparse, functools, http.server, json, os, shutil, statistics, subprocess, sys
import tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import hashed_mirror, REPO

def write_config(home, lines):
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, "config.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")

def timed(argv, env, cwd, quiet=True):
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - start, result

def median(values):
    return statistics.median(values)

def serve(root):
    handler = functools.partial(QuietHandler, directory=root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

def archives(cache):
    """(entry, archive path) of every artifact in the cache."""
    out = []
    for name in sorted(os.listdir(cache)):
        folder = os.path.join(cache, name)
        if not os.path.isdir(folder):
            continue
        for file in sorted(os.listdir(folder)):
            if file.endswith(".json"):
                with open(os.path.join(folder, file)) as f:
                    entry = json.load(f)
                out.append((entry, f"{name}/{entry['archive']['file']}"))
    return out

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mirror", default=os.path.join(REPO, "../shared/mirror"))
    parser.add_argument("--hit", default=os.path.join(REPO, "target/release/hit"))
    parser.add_argument("--tmp", help="where the stores go (default: the system temp dir)")
    args = parser.parse_args()
    hit = os.path.abspath(args.hit)
    profile = os.path.join(REPO, "packages/profiles/stack.rhai")
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        mirror = hashed_mirror(os.path.abspath(args.mirror), os.path.join(tmp, "mirror"))
        home = os.path.join(tmp, "home")
        env = dict(os.environ, HIT_HOME=home)
        base = ["sync: none", f"mirrors: [{json.dumps(mirror)}]"]
        write_config(home, base + ["signing_key: keys/bench-1.secret"])
        build_s, _ = timed([hit, "build", profile, "-j", str(args.jobs), "-q"], env, tmp)
        print(f"cold build of the stack, -j {args.jobs}: {build_s:.1f} s", flush=True)
        public = timed([hit, "key", "generate", "bench-1"], env, tmp)[1].stdout.strip()
        profile_id = json.load(open(os.path.join(tmp, "stack/.hit/artifact.json")))["id"]
        store = os.path.join(home, "bld")

        cache = os.path.join(tmp, "cache")
        push = []
        for _ in range(args.runs):
            shutil.rmtree(cache, ignore_errors=True)
            push.append(timed([hit, "push", cache, "./stack", "--force"], env, tmp)[0])
        entries = archives(cache)
        trees = [os.path.relpath(os.path.realpath(os.path.join(store, e["id"].split("/")[0],
                                                                e["id"].split("/")[1][:12])), store)
                 for e, _ in entries]
        packed = os.path.join(tmp, "packed")
        def tar_zstd(parallel):
            shutil.rmtree(packed, ignore_errors=True)
            os.makedirs(packed)
            script = (f"tar -C {store} -cf - \"$0\" | zstd -3 -q -o {packed}/$(echo \"$0\" | tr / -).tar.zst")
            listing = "\n".join(trees)
            start = time.perf_counter()
            subprocess.run(["xargs", "-P", str(cores if parallel else 1), "-n", "1", "sh", "-c", script],
                           input=listing, text=True, check=True)
            return time.perf_counter() - start
        tar_serial = median([tar_zstd(False) for _ in range(args.runs)])
        tar_parallel = median([tar_zstd(True) for _ in range(args.runs)])
        unpacked = sum(e["unpacked_size"] for e, _ in entries)
        compressed = sum(e["archive"]["size"] for e, _ in entries)

        url = serve(cache)
        os.rename(home, os.path.join(tmp, "built-home"))
        consumer = [f"caches: [{json.dumps(url)}]", f"trusted_keys: [{json.dumps(public)}]", "sync: none"]
        install = []
        for _ in range(args.runs):
            shutil.rmtree(home, ignore_errors=True)
            write_config(home, consumer + [f"mirrors: [{json.dumps(mirror)}]"])
            seconds, result = timed([hit, "build", profile, "-j", str(args.jobs)], env, tmp)
            if "0 built, 18 fetched" not in result.stderr:
                raise SystemExit(f"not everything was fetched:\n{result.stderr[-2000:]}")
            install.append(seconds)
        pull = []
        for _ in range(args.runs):
            shutil.rmtree(home, ignore_errors=True)
            write_config(home, consumer)
            pull.append(timed([hit, "pull", url, profile_id], env, tmp)[0])
        out = os.path.join(tmp, "out")
        def curl_zstd_tar(parallel):
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            script = (f"mkdir -p {out}/$(dirname \"$0\") && "
                      f"curl -sf {url}/\"$0\" | zstd -dcq | tar -x -C {out}/$(dirname \"$0\")")
            start = time.perf_counter()
            subprocess.run(["xargs", "-P", str(cores if parallel else 1), "-n", "1", "sh", "-c", script],
                           input="\n".join(path for _, path in entries), text=True, check=True)
            return time.perf_counter() - start
        curl_serial = median([curl_zstd_tar(False) for _ in range(args.runs)])
        curl_parallel = median([curl_zstd_tar(True) for _ in range(args.runs)])

        print(f"{len(entries)} artifacts, {unpacked / 1e6:.1f} MB of files, {compressed / 1e6:.1f} MB "
              f"of archives; {cores} cores; medians of {args.runs} runs\n")
        print("| what | s | baseline | ratio |")
        print("|---|---|---|---|")
        print(f"| install the stack from the HTTP cache (`hit build`) | {median(install):.2f} | "
              f"building it: {build_s:.1f} s | {build_s / median(install):.0f}x faster |")
        print(f"| `hit pull URL PROFILE_ID` | {median(pull):.2f} | curl \\| zstd -d \\| tar x, one at a time: "
              f"{curl_serial:.2f} s | {median(pull) / curl_serial:.2f} |")
        print(f"| | | the same, {cores} at once: {curl_parallel:.2f} s | {median(pull) / curl_parallel:.2f} |")
        print(f"| `hit push DIR ./stack --force` | {median(push):.2f} | tar \\| zstd -3, one at a time: "
              f"{tar_serial:.2f} s | {median(push) / tar_serial:.2f} |")
        print(f"| | | the same, {cores} at once: {tar_parallel:.2f} s | {median(push) / tar_parallel:.2f} |")

if __name__ == "__main__":
    main()
