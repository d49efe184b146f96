//! The whole recipe repository (packages/profiles/stack.rhai) built in one `hit build -j2`
//! from ../shared/mirror over HTTP, then a package from autotools sources (no configure
//! script) with the autoconf, automake and libtool it built. Long (four to ten minutes on
//! two cores): not in the default run; .ci/run runs it as its own step:
//!
//!     cargo test --test real_stack -- --ignored
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, HttpServer, hashed_mirror, stderr_of, stdout_of};
use std::path::Path;

/// The libraries `ldd` says `library` loads, each resolved (a relative RUNPATH gives
/// `.../lib/../../../zlib/...`).
fn loaded(library: &Path) -> Vec<std::path::PathBuf> {
    run(Path::new("ldd"), &[library.to_str().unwrap()])
        .lines()
        .filter_map(|line| line.split(" => ").nth(1))
        .filter_map(|rest| rest.split(" (").next())
        .filter_map(|path| std::fs::canonicalize(path.trim()).ok())
        .collect()
}

/// Whether `library` loads something from the artifact at `dir`.
fn uses(library: &Path, dir: &str) -> bool {
    loaded(library).iter().any(|path| path.starts_with(dir))
}

fn run(program: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        program.display(),
        stderr_of(&output)
    );
    format!("{}{}", stdout_of(&output), stderr_of(&output))
}

#[test]
#[ignore = "builds the whole stack (4-10 min); .ci/run runs it"]
fn the_whole_stack_builds_in_one_go() {
    let env = Env::new();
    let mirror = HttpServer::serve(&hashed_mirror(&env.path("mirror")));
    env.with_mirrors(&[&mirror.url]);
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("packages/profiles/stack.rhai");
    // In the sandbox: every real recipe must build with only what it declares.
    build_sandboxed(
        &env,
        &profile,
        "profile stack: 20 packages linked, 21 in the plan (21 built, 0 already built)",
    );
    let stack = env.path("stack");

    assert!(run(&stack.join("bin/xz"), &["--version"]).contains("5.4.1"));
    assert!(run(&stack.join("bin/lz4"), &["--version"]).contains("v1.9.4"));
    assert!(run(&stack.join("bin/zstd"), &["--version"]).contains("v1.5.4"));
    assert!(run(&stack.join("bin/m4"), &["--version"]).contains("1.4.19"));
    assert!(run(&stack.join("bin/sqlite3"), &["-version"]).starts_with("3.40.1"));
    assert!(run(&stack.join("bin/xmllint"), &["--version"]).contains("20914"));
    let lua = run(&stack.join("bin/lua"), &["-e", "print(1 + 1)"]);
    assert_eq!(lua, "2\n");
    assert_eq!(
        run(&stack.join("bin/pkg-config"), &["--version"]),
        "1.8.1\n"
    );

    // Real dependency edges reach the libraries by rpath.
    let resolve = |name: &str| {
        stdout_of(
            &env.hit()
                .args(["resolve", name, "-p"])
                .arg(&profile)
                .output()
                .unwrap(),
        )
        .trim()
        .to_owned()
    };
    for (library, needs) in [
        ("lib/libmpc.so", vec!["gmp", "mpfr"]),
        ("lib/libmpfr.so", vec!["gmp"]),
        ("lib/libxml2.so", vec!["zlib", "xz"]),
        ("lib/libpng16.so", vec!["zlib"]),
        // `readline: true` in the stack's params reaches both recipes that declare it.
        ("bin/lua", vec!["readline"]),
        ("bin/sqlite3", vec!["readline"]),
    ] {
        for dep in needs {
            assert!(
                uses(&stack.join(library), &resolve(dep)),
                "{library} does not use {dep} from the store: {:?}",
                loaded(&stack.join(library))
            );
        }
    }
    // m4 is a build tool of gmp, linked here only because the profile names it.
    assert!(stack.join("bin/m4").exists());

    // zlib and lua rebuild to the same files.
    let two = env.path("two.rhai");
    std::fs::write(
        &two,
        format!(
            "profile(#{{ package_dirs: [{:?}], packages: [\"zlib\", \"lua\"] }})",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("packages")
                .display()
        ),
    )
    .unwrap();
    let check = env
        .hit()
        .arg("build")
        .arg(&two)
        .args(["--check", "-j2"])
        .output()
        .unwrap();
    assert!(
        check.status.success()
            && stderr_of(&check).contains("checked 3 packages: all reproducible"),
        "{}",
        stderr_of(&check)
    );

    let again = env.hit().arg("build").arg(&profile).output().unwrap();
    assert!(
        stderr_of(&again).contains("(0 built, 21 already built)"),
        "{}",
        stderr_of(&again)
    );

    hpc_with_the_host_mpi(&env);

    // Sources without a configure script: autoreconf with the autotools just built.
    let recipes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/autoreconf");
    let from_git = env.path("from-git.rhai");
    std::fs::write(
        &from_git,
        format!(
            "profile(#{{ package_dirs: [{:?}], packages: [\"png-autoreconf\"] }})",
            recipes.display().to_string()
        ),
    )
    .unwrap();
    let output = env
        .hit()
        .arg("build")
        .arg(&from_git)
        .args(["-j2", "-v"])
        .output()
        .unwrap();
    let log = stderr_of(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("+ autoreconf -fi") && log.contains("libtoolize"),
        "{log}"
    );
    assert!(env.path("from-git/lib/libpng16.so").exists());
    let png = env.path("from-git/lib/libpng16.so");
    assert!(uses(&png, &resolve("zlib")), "{:?}", loaded(&png));

    // The stack through Lmod: libpng's module loads zlib's (depends_on) and pkg-config
    // finds libpng through the module's PKG_CONFIG_PATH.
    let lmod = std::env::var_os("HIT_TEST_LMOD").map_or_else(
        || "/usr/share/lmod/lmod/libexec/lmod".into(),
        std::path::PathBuf::from,
    );
    if lmod.is_file() || !common::missing("Lmod (HIT_TEST_LMOD)") {
        env.hit()
            .args(["modules", "./stack", "mods"])
            .assert()
            .success();
        let script = format!(
            r#"module() {{ eval "$({} bash "$@")"; }}
module use {}; module load libpng
pkg-config --modversion libpng; pkg-config --variable=prefix libpng; echo "$LOADEDMODULES""#,
            lmod.display(),
            env.path("mods").display()
        );
        let said = run(Path::new("bash"), &["-c", &script]);
        // The host may have a libpng of its own: the prefix says which one was found.
        assert!(
            said.starts_with(&format!("1.6.39\n{}\n", resolve("libpng")))
                && said.contains("zlib/1.2.13-"),
            "{said}"
        );
    }

    // A developer's own program, `make install`ed into a prefix over the stack, links zlib
    // from the store; the store stays intact.
    env.hit()
        .args(["develop", "./stack", "dev"])
        .assert()
        .success();
    let src = env.path("zver");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("zver.c"),
        "#include <stdio.h>\n#include <zlib.h>\nint main(void) { printf(\"%s\\n\", zlibVersion()); return 0; }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("Makefile"),
        "zver: zver.c\n\tcc -I$(PREFIX)/include -o zver zver.c -L$(PREFIX)/lib -Wl,-rpath,$(PREFIX)/lib -lz\n\
         install: zver\n\tmkdir -p $(PREFIX)/bin && cp zver $(PREFIX)/bin/\n",
    )
    .unwrap();
    let dev = env.path("dev");
    let output = std::process::Command::new("make")
        .arg("install")
        .arg(format!("PREFIX={}", dev.display()))
        .current_dir(&src)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(run(&dev.join("bin/zver"), &[]), "1.2.13\n");
    // Found through the prefix's link, which is zlib's file in the store.
    let ldd = run(Path::new("ldd"), &[dev.join("bin/zver").to_str().unwrap()]);
    assert!(
        ldd.contains(&format!("{}/lib/libz.so.1", dev.display())),
        "{ldd}"
    );
    let libz = std::fs::canonicalize(dev.join("lib/libz.so.1")).unwrap();
    assert!(libz.starts_with(resolve("zlib")), "{}", libz.display());
    env.hit().arg("verify").assert().success();

    shared_through_a_binary_cache(&env);
}

/// `hit build PROFILE -j2 --sandbox`, which must succeed and sum up as `summary` says.
fn build_sandboxed(env: &Env, profile: &Path, summary: &str) {
    let output = env
        .hit()
        .arg("build")
        .arg(profile)
        .args(["-j2", "--sandbox"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains(summary),
        "{}",
        stderr_of(&output)
    );
}

/// The hpc profile: FFTW's MPI interface against the host's Open MPI (the package `mpi`),
/// all else shared with the stack. A two-rank program compiled with the profile's `mpicc`
/// calls FFTW's MPI interface under `mpirun -n 2`.
fn hpc_with_the_host_mpi(env: &Env) {
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("packages/profiles/hpc.rhai");
    build_sandboxed(
        env,
        &profile,
        "profile hpc: 21 packages linked, 22 in the plan (2 built, 20 already built)",
    );
    let hpc = env.path("hpc");
    assert!(hpc.join("lib/libfftw3_mpi.so").exists());
    assert!(
        std::fs::read_link(hpc.join("bin/mpicc")).is_ok(),
        "mpicc comes from the profile"
    );
    let src = env.path("fft-mpi");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("fft.c"), FFT_MPI_PROGRAM).unwrap();
    let script = format!(
        r#"set -e
eval "$({hit} env {hpc} --dev)"
test "$(command -v mpicc)" = "{hpc}/bin/mpicc"
mpicc fft.c -o fft -Wl,-rpath,{hpc}/lib -lfftw3_mpi -lfftw3 -lm
mpirun -n 2 --oversubscribe ./fft | sort"#,
        hit = env!("CARGO_BIN_EXE_hit"),
        hpc = hpc.display()
    );
    let output = std::process::Command::new("bash")
        .args(["-c", &script])
        .current_dir(&src)
        .env("HIT_HOME", env.home())
        // Open MPI refuses root (CI) unless told twice.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        stdout_of(&output),
        stderr_of(&output)
    );
    assert_eq!(
        stdout_of(&output),
        "rank 0 of 2: dc 64.0\nrank 1 of 2: rows 4..7\n",
        "{}",
        stderr_of(&output)
    );
}

/// An 8x8 complex FFT of ones distributed over the ranks: rank 0 holds the DC term (64).
const FFT_MPI_PROGRAM: &str = r#"#include <stdio.h>
#include <fftw3-mpi.h>
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    fftw_mpi_init();
    const ptrdiff_t n0 = 8, n1 = 8;
    ptrdiff_t local_n0, local_0_start;
    ptrdiff_t alloc = fftw_mpi_local_size_2d(n0, n1, MPI_COMM_WORLD, &local_n0, &local_0_start);
    fftw_complex *data = fftw_alloc_complex(alloc);
    fftw_plan plan = fftw_mpi_plan_dft_2d(n0, n1, data, data, MPI_COMM_WORLD, FFTW_FORWARD, FFTW_ESTIMATE);
    for (ptrdiff_t i = 0; i < local_n0 * n1; ++i) { data[i][0] = 1.0; data[i][1] = 0.0; }
    fftw_execute(plan);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (local_0_start == 0) printf("rank %d of %d: dc %.1f\n", rank, size, data[0][0]);
    else printf("rank %d of %d: rows %td..%td\n", rank, size, local_0_start, local_0_start + local_n0 - 1);
    fftw_destroy_plan(plan);
    fftw_mpi_cleanup();
    MPI_Finalize();
    return 0;
}
"#;

/// The small stack, pushed to a cache served over HTTP and pulled into a store at a path
/// of another length, by a hit that has no compiler on its PATH: it runs, links and is
/// found by pkg-config there, and nothing was built.
fn shared_through_a_binary_cache(env: &Env) {
    let small = Path::new(env!("CARGO_MANIFEST_DIR")).join("packages/profiles/small.rhai");
    let output = env.hit().arg("build").arg(&small).output().unwrap();
    assert!(
        stderr_of(&output).contains("(0 built, 5 already built)"),
        "{}",
        stderr_of(&output)
    );
    let public = stdout_of(
        &env.hit()
            .args(["key", "generate", "stack-1"])
            .output()
            .unwrap(),
    );
    let cache = env.path("cache");
    let key = env.home().join("keys/stack-1.secret");
    let output = env
        .hit()
        .arg("push")
        .arg(&cache)
        .arg("./small")
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    // The whole stack has packages that name their store in binary data (m4, xz): only
    // pushed when forced.
    let output = env
        .hit()
        .arg("push")
        .arg(&cache)
        .arg("./stack")
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        !output.status.success() && stderr_of(&output).contains("is not relocatable"),
        "{}",
        stderr_of(&output)
    );
    let profile = std::fs::canonicalize(env.path("small")).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(profile.join(".hit/artifact.json")).unwrap())
            .unwrap();
    let profile_id = meta["id"].as_str().unwrap();

    let server = HttpServer::serve(&cache);
    let other = Env::new();
    std::fs::create_dir_all(other.home()).unwrap();
    std::fs::write(
        other.home().join("config.yaml"),
        format!(
            "store_dir: a/store/at/a/path/of/another/length/bld\nsync: none\ntrusted_keys: [\"{}\"]\n",
            public.trim()
        ),
    )
    .unwrap();
    let output = other
        .hit()
        .args(["pull", &server.url, profile_id, "--link", "./small"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("pulled 6 artifacts"),
        "{}",
        stderr_of(&output)
    );
    let small = other.path("small");
    assert!(run(&small.join("bin/lua"), &["-v"]).contains("Lua 5.4"));
    // A program of the user's, linked against the pulled libpng (which finds the pulled
    // zlib by its relative RUNPATH).
    let src = other.path("pngver.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <png.h>\n#include <zlib.h>\nint main(void) { printf(\"%s %s\\n\", png_get_libpng_ver(NULL), zlibVersion()); return 0; }\n",
    )
    .unwrap();
    let lib = small.join("lib");
    let output = std::process::Command::new("cc")
        .arg(format!("-I{}", small.join("include").display()))
        .arg("-o")
        .arg(other.path("pngver"))
        .arg(&src)
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lpng16", "-lz"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(run(&other.path("pngver"), &[]), "1.6.39 1.2.13\n");
    let store = std::fs::canonicalize(other.home().join("a/store/at/a/path/of/another/length/bld"))
        .unwrap();
    assert!(
        loaded(&other.path("pngver"))
            .iter()
            .filter(|path| path.starts_with(&store))
            .count()
            >= 2,
        "{:?}",
        loaded(&other.path("pngver"))
    );
    // The host's pkg-config reads the moved .pc file.
    if common::have_tool("pkg-config") || !common::missing("pkg-config") {
        let output = std::process::Command::new("pkg-config")
            .args(["--cflags", "libpng"])
            .env("PKG_CONFIG_PATH", lib.join("pkgconfig"))
            .env("PKG_CONFIG_LIBDIR", "/nonexistent")
            .output()
            .unwrap();
        let cflags = stdout_of(&output);
        assert!(
            cflags.contains(&format!("-I{}", store.display())),
            "{cflags} {}",
            stderr_of(&output)
        );
    }
    other.hit().arg("verify").assert().success();
    // Nothing was built: every artifact's build log is the first store's.
    let libpng = std::fs::canonicalize(small.join("lib/libpng16.so")).unwrap();
    let log = std::fs::read_to_string(libpng.parent().unwrap().join("../.hit/build.log")).unwrap();
    assert!(log.contains(&env.home().display().to_string()));
}
