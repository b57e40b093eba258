//! End-to-end tests of the `sigma`, `sbas` and `sbdump` binaries.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin(name: &str) -> Command {
    let path = match name {
        "sigma" => env!("CARGO_BIN_EXE_sigma"),
        "sbas" => env!("CARGO_BIN_EXE_sbas"),
        "sbdump" => env!("CARGO_BIN_EXE_sbdump"),
        _ => unreachable!(),
    };
    Command::new(path)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sigma-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn runs_the_examples() {
    let cases = [
        ("hello.sbas", "Hello, world!\n"),
        ("fib.sbas", "832040\n"),
        ("fib_untyped.sbas", "832040\n"),
        ("sum.sbas", "500000500000\n"),
        ("primes.sbas", "primes below 100000: 9592\nlargest: 99991\n"),
    ];
    for (file, want) in cases {
        let out = run(bin("sigma")
            .arg("run")
            .arg(repo().join("examples").join(file)));
        assert_eq!(text(&out.stdout), want, "{file}: {}", text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{file}");
    }
}

#[test]
fn ffi_example_runs_and_sandbox_denies_it() {
    let path = repo().join("examples/ffi.sbas");
    for jit in ["--jit=off", "--jit=eager"] {
        let out = run(bin("sigma").args(["run", jit]).arg(&path));
        assert_eq!(
            text(&out.stdout),
            "1.0\n1.4142135623730951\n8\n7\n0\n",
            "{jit}: {}",
            text(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{jit}");
        let out = run(bin("sigma").args(["run", "--sandbox", jit]).arg(&path));
        assert_eq!(out.status.code(), Some(1), "{jit}");
        let err = text(&out.stderr);
        assert!(
            err.contains("PermissionDenied: ncall `libm.cos`: the FFI capability is not granted"),
            "{jit}: {err}"
        );
        assert!(err.contains("at ffi::main"), "{jit}: {err}");
    }
}

#[test]
fn exit_status_comes_from_main_halt_or_exit() {
    let dir = scratch("status");
    let cases = [
        (".func main() -> int export\n    ret 7\n.end\n", 7),
        (".func main() export\n    ret \"not an int\"\n.end\n", 0),
        (".func main() export\n    halt 4\n.end\n", 4),
        (
            ".func main() export\n    sys _, print, 1\n    sys _, exit, 5\n    ret\n.end\n",
            5,
        ),
    ];
    for (i, (src, code)) in cases.iter().enumerate() {
        let f = dir.join(format!("s{i}.sbas"));
        std::fs::write(&f, src).unwrap();
        let out = run(bin("sigma").arg("run").arg(&f));
        assert_eq!(out.status.code(), Some(*code), "{src}");
    }
    // Output written before `exit` is flushed.
    let out = run(bin("sigma").arg("run").arg(dir.join("s3.sbas")));
    assert_eq!(text(&out.stdout), "1\n");
}

#[test]
fn traps_print_kind_message_and_backtrace_and_exit_nonzero() {
    let dir = scratch("trap");
    let f = dir.join("boom.sbas");
    std::fs::write(
        &f,
        ".func half(n) -> int\n    .reg r\n    div r, n, 0\n    ret r\n.end\n.func main() -> int export\n    .reg x: int\n    sys _, print, \"before\"\n    call x, half, 10\n    ret x\n.end\n",
    )
    .unwrap();
    let out = run(bin("sigma").arg("run").arg(&f));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "before\n");
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: DivisionByZero: div: integer division by zero\n"),
        "{err}"
    );
    assert!(
        err.contains("at boom::half (") && err.contains("boom.sbas:3, pc 0)"),
        "{err}"
    );
    assert!(
        err.contains("at boom::main (") && err.contains("boom.sbas:9, pc 1)"),
        "{err}"
    );
}

#[test]
fn assembler_errors_show_location_source_line_and_caret() {
    let dir = scratch("asmerr");
    let f = dir.join("bad.sbas");
    std::fs::write(
        &f,
        ".func main() export\n    .reg a\n    add a, a, missing\n    ret\n.end\n",
    )
    .unwrap();
    for tool in ["sbas", "sigma"] {
        let mut cmd = bin(tool);
        if tool == "sigma" {
            cmd.arg("run");
        }
        let out = run(cmd.arg(&f));
        assert_ne!(out.status.code(), Some(0));
        let err = text(&out.stderr);
        assert!(
            err.contains("bad.sbas:3:15: error: unknown register `missing`"),
            "{tool}: {err}"
        );
        assert!(
            err.contains("\n        add a, a, missing\n"),
            "{tool}: {err}"
        );
        assert!(
            err.contains("\n                  ^^^^^^^"),
            "{tool}: {err:?}"
        );
    }
}

#[test]
fn sbas_sbdump_round_trip_gives_identical_bytes_and_runs() {
    let dir = scratch("roundtrip");
    let sbc = dir.join("fib.sbc");
    let out = run(bin("sbas")
        .arg(repo().join("examples/fib.sbas"))
        .arg("-o")
        .arg(&sbc));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let original = std::fs::read(&sbc).unwrap();
    assert!(original.starts_with(b"SGBC"));

    let dumped = dir.join("fib_dump.sbas");
    let out = run(bin("sbdump").arg(&sbc).arg("-o").arg(&dumped));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = dir.join("again.sbc");
    let out = run(bin("sbas").arg(&dumped).arg("-o").arg(&again));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&again).unwrap(), original);

    // sbdump to stdout prints the same text.
    let out = run(bin("sbdump").arg(&sbc));
    assert_eq!(text(&out.stdout), std::fs::read_to_string(&dumped).unwrap());

    // The binary runs like the source.
    let out = run(bin("sigma").arg("run").arg(&sbc));
    assert_eq!(text(&out.stdout), "832040\n");

    // Default output name: input with .sbc.
    let src = dir.join("copy.sbas");
    std::fs::copy(repo().join("examples/hello.sbas"), &src).unwrap();
    assert!(run(bin("sbas").arg(&src)).status.success());
    assert!(dir.join("copy.sbc").exists());
}

#[test]
fn corrupt_bytecode_is_a_clear_error() {
    let dir = scratch("corrupt");
    let sbc = dir.join("x.sbc");
    let mut bytes = b"SGBC\x01".to_vec();
    bytes.extend_from_slice(&[4, 200, 1, 7]);
    std::fs::write(&sbc, &bytes).unwrap();
    for tool in ["sigma", "sbdump"] {
        let mut cmd = bin(tool);
        if tool == "sigma" {
            cmd.arg("run");
        }
        let out = run(cmd.arg(&sbc));
        assert_ne!(out.status.code(), Some(0));
        let err = text(&out.stderr);
        assert!(
            err.contains("malformed bytecode at byte offset"),
            "{tool}: {err}"
        );
        assert!(!err.contains("panicked"), "{tool}: {err}");
    }
}

#[test]
fn load_and_entry_errors_exit_with_status_2() {
    let dir = scratch("entry");
    let missing = run(bin("sigma").arg("run").arg(dir.join("nope.sbas")));
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read"));

    let f = dir.join("nomain.sbas");
    std::fs::write(&f, ".func helper()\n    ret\n.end\n").unwrap();
    let out = run(bin("sigma").arg("run").arg(&f));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no exported function `main`"));

    let f = dir.join("link.sbas");
    std::fs::write(
        &f,
        ".func main() export\n    sys _, teleport\n    ret\n.end\n",
    )
    .unwrap();
    let out = run(bin("sigma").arg("run").arg(&f));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown system call `teleport`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn deep_recursion_is_a_trap_not_a_crash() {
    let dir = scratch("deep");
    let f = dir.join("deep.sbas");
    std::fs::write(
        &f,
        ".func main() export\n    .reg x\n    call x, main\n    ret x\n.end\n",
    )
    .unwrap();
    let out = run(bin("sigma").arg("run").arg(&f));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: StackOverflow"), "{err}");
    assert!(err.contains("frames omitted"), "{err}");
    // The call-depth limit is the interpreter's; compiled code is bounded by the register stack
    // and the native stack (checked in every prologue).
    let out = run(bin("sigma")
        .args(["run", "--jit=off", "--max-call-depth", "10"])
        .arg(&f));
    assert!(text(&out.stderr).contains("call depth limit of 10 frames"));
    for jit in ["--jit=on", "--jit=eager"] {
        let out = run(bin("sigma").args(["run", jit]).arg(&f));
        assert_eq!(out.status.code(), Some(1), "{jit}");
        assert!(
            text(&out.stderr).starts_with("error: StackOverflow"),
            "{jit}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn every_tool_has_help() {
    for (tool, needle) in [
        ("sigma", "run"),
        ("sbas", "--output"),
        ("sbdump", "--output"),
    ] {
        let out = run(bin(tool).arg("--help"));
        assert!(out.status.success(), "{tool}");
        assert!(
            text(&out.stdout).contains(needle),
            "{tool}: {}",
            text(&out.stdout)
        );
    }
    let out = run(bin("sigma").args(["run", "--help"]));
    assert!(text(&out.stdout).contains("exit status"));
}

#[test]
fn heap_limit_gives_an_out_of_memory_trap() {
    let dir = scratch("oom");
    let f = dir.join("hoard.sbas");
    std::fs::write(
        &f,
        ".func main() export\n    .reg a: array, b: bytes\n    newarr a, 0\nloop:\n    newbytes b, 4096\n    apush a, b\n    jump loop\n.end\n",
    )
    .unwrap();
    let out = run(bin("sigma").args(["run", "--heap-limit", "2MB"]).arg(&f));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: OutOfMemory: heap limit of 2097152 bytes reached"),
        "{err}"
    );
    assert!(err.contains("at hoard::main"), "{err}");
    let out = run(bin("sigma").args(["run", "--heap-limit", "lots"]).arg(&f));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid size"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn garbage_a_hundred_times_the_heap_limit_runs_in_bounded_memory() {
    let dir = scratch("bounded");
    let f = dir.join("churn.sbas");
    // 250 000 rounds of ~1.5 KB garbage: about 380 MB allocated under a 3 MB limit.
    std::fs::write(
        &f,
        ".func main() -> int export\n    .reg i: int, a: array, b: bytes\nloop:\n    jge i, 250000, done\n    newarr a, 40, i\n    newbytes b, 800\n    add i, i, 1\n    jump loop\ndone:\n    ret 0\n.end\n",
    )
    .unwrap();
    let out = run(bin("sigma")
        .args(["run", "--heap-limit", "3MB", "--stats"])
        .arg(&f));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let number_after = |label: &str| -> u64 {
        let at = err
            .find(label)
            .unwrap_or_else(|| panic!("{label} in {err}"))
            + label.len();
        err[at..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let allocated = number_after("collections,");
    assert!(allocated > 100 * 3 * 1024 * 1024, "{err}");
    assert!(number_after("heap peak") <= 3 * 1024 * 1024, "{err}");
    // The whole process stays small: far below what was allocated.
    assert!(number_after("peak resident memory") < 64 * 1024, "{err}");
}

#[test]
fn gc_stress_runs_programs_identically() {
    for example in ["primes.sbas", "sieve.sbas", "records.sbas"] {
        let path = repo().join("examples").join(example);
        let normal = run(bin("sigma").arg("run").arg(&path));
        let stressed = run(bin("sigma").args(["run", "--gc-stress"]).arg(&path));
        assert_eq!(
            normal.status.code(),
            Some(0),
            "{example}: {}",
            text(&normal.stderr)
        );
        assert_eq!(text(&normal.stdout), text(&stressed.stdout), "{example}");
        assert_eq!(normal.status.code(), stressed.status.code(), "{example}");
    }
}

#[test]
fn main_receives_the_program_arguments() {
    let dir = scratch("args");
    let f = dir.join("args.sbas");
    std::fs::write(
        &f,
        ".func main(args: array) -> int export\n    .reg n: int, s: str\n    alen n, args\n    sys s, join, args, \"|\"\n    sys _, print, s\n    ret n\n.end\n",
    )
    .unwrap();
    let out = run(bin("sigma")
        .arg("run")
        .arg(&f)
        .args(["--", "one", "two words", "--flag"]));
    assert_eq!(text(&out.stdout), "one|two words|--flag\n");
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn bench_prints_a_table_and_json_for_both_tiers() {
    let fib = repo().join("examples/fib.sbas");
    let out = run(bin("sigma")
        .args(["bench", "--runs", "3", "--warmup", "1"])
        .arg(&fib));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("3 timed runs per tier after 1 warm-up"),
        "{table}"
    );
    for tier in ["| interp |", "| jit    |"] {
        assert!(table.contains(tier), "{table}");
    }
    let speedup: f64 = table
        .lines()
        .find_map(|l| l.strip_prefix("speedup of the JIT (median): "))
        .and_then(|s| s.strip_suffix('x'))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no speedup line in {table}"));
    assert!(speedup.is_finite() && speedup > 0.0, "{speedup}");

    let out = run(bin("sigma")
        .args(["bench", "--runs", "4", "--warmup", "0", "--json"])
        .arg(&fib));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert!(report["program"].as_str().unwrap().ends_with("fib.sbas"));
    for tier in ["interp", "jit"] {
        let t = &report[tier];
        let samples = t["samples_s"].as_array().unwrap();
        assert_eq!(samples.len(), 4, "{tier}");
        let (min, med, max) = (
            t["min_s"].as_f64().unwrap(),
            t["median_s"].as_f64().unwrap(),
            t["max_s"].as_f64().unwrap(),
        );
        assert!(0.0 < min && min <= med && med <= max, "{tier}: {t}");
    }
    let ratio = report["interp"]["median_s"].as_f64().unwrap()
        / report["jit"]["median_s"].as_f64().unwrap();
    let speedup = report["speedup"].as_f64().unwrap();
    assert!(
        (ratio - speedup).abs() < 1e-6 * ratio,
        "{ratio} vs {speedup}"
    );
}

#[test]
fn bench_reports_a_trapping_program() {
    let dir = scratch("bench-trap");
    let f = dir.join("trap.sbas");
    std::fs::write(
        &f,
        ".func main() export\n    .reg x\n    div x, 1, 0\n    ret x\n.end\n",
    )
    .unwrap();
    let out = run(bin("sigma").args(["bench", "--runs", "1"]).arg(&f));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("trapped") && err.contains("DivisionByZero"),
        "{err}"
    );
}

/// stderr lines of `sigma run --trace-jit` with the compile times taken out.
fn jit_trace(args: &[&str], program: &Path) -> (String, Vec<String>) {
    let out = run(bin("sigma")
        .arg("run")
        .arg("--trace-jit")
        .args(args)
        .arg(program));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = text(&out.stderr)
        .lines()
        .map(|l| match l.find(" in ") {
            Some(i) if l.starts_with("jit: compiled") => {
                let time = &l[i + 4..];
                let us: u64 = time
                    .strip_suffix(" us")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or_else(|| panic!("compile time in µs expected: {l}"));
                assert!(us > 0, "{l}");
                l[..i].to_owned()
            }
            _ => l.to_owned(),
        })
        .collect();
    (text(&out.stdout), lines)
}

#[test]
fn trace_jit_reports_compiles_osr_and_deopts() {
    let dir = scratch("trace-jit");
    // `main` runs one long loop: it is compiled mid-loop and entered by OSR. `f` sees ints at
    // first (so its `add` speculates on ints) and then a float, which deoptimizes.
    let f = dir.join("tiers.sbas");
    std::fs::write(
        &f,
        "\
.func f(x)
    .reg y
    add     y, x, x
    ret     y
.end

.func main() export
    .reg i: int, acc, y
    load    acc, 0
loop:
    jge     i, 100000, done
    call    y, f, i
    add     acc, acc, y
    add     i, i, 1
    jump    loop
done:
    call    y, f, 0.25
    add     acc, acc, y
    sys     _, print, acc
    ret
.end
",
    )
    .unwrap();
    let (stdout, trace) = jit_trace(&["--jit=on", "--jit-threshold", "100"], &f);
    assert_eq!(stdout, "9999900000.5\n");
    let has = |needle: &str| trace.iter().any(|l| l == needle);
    assert!(has("jit: compiled f (2 instructions)"), "{trace:?}");
    assert!(has("jit: compiled main (10 instructions)"), "{trace:?}");
    assert!(
        trace
            .iter()
            .any(|l| l.starts_with("jit: OSR into main at pc ")),
        "{trace:?}"
    );
    assert!(has("jit: deopt in f at pc 0"), "{trace:?}");

    // Eager mode compiles every function on load, before anything runs.
    let (stdout, trace) = jit_trace(&["--jit=eager"], &f);
    assert_eq!(stdout, "9999900000.5\n");
    assert_eq!(trace[0], "jit: compiled f (2 instructions)", "{trace:?}");
    assert_eq!(
        trace[1], "jit: compiled main (10 instructions)",
        "{trace:?}"
    );

    // The interpreter alone prints nothing.
    let (stdout, trace) = jit_trace(&["--jit=off"], &f);
    assert_eq!(stdout, "9999900000.5\n");
    assert!(trace.is_empty(), "{trace:?}");
}

#[test]
fn code_that_keeps_deoptimizing_is_compiled_again_with_the_new_profile() {
    let dir = scratch("recompile");
    let f = dir.join("floats.sbas");
    // Compiled eagerly, before any profile exists, `f` speculates on ints and fails on every
    // call; after MAX_DEOPTS failures its code is dropped and compiled again without that
    // speculation, after which it never deoptimizes.
    std::fs::write(
        &f,
        "\
.func f(x)
    .reg y
    mul     y, x, x
    ret     y
.end

.func main() export
    .reg i: int, acc: float, y: float
loop:
    jge     i, 50, done
    call    y, f, 1.5
    add     acc, acc, y
    add     i, i, 1
    jump    loop
done:
    sys     _, print, acc
    ret
.end
",
    )
    .unwrap();
    let (stdout, trace) = jit_trace(&["--jit=eager"], &f);
    assert_eq!(stdout, "112.5\n");
    let count = |needle: &str| trace.iter().filter(|l| *l == needle).count();
    assert_eq!(count("jit: compiled f (2 instructions)"), 2, "{trace:?}");
    assert_eq!(count("jit: deopt in f at pc 0"), 8, "{trace:?}");
}

#[test]
fn imports_are_found_beside_the_program_with_minus_l_and_on_sigma_path() {
    let dir = scratch("imports");
    let app = dir.join("app.sbas");
    std::fs::write(
        &app,
        ".module app\n.import near\n.import far\n.func main() -> int export\n    .reg x: int, y\n    call x, near.seven\n    call y, far.twice, x\n    sys _, print, y\n    ret 0\n.end\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("near.sbas"),
        ".module near\n.func seven() -> int export\n    ret 7\n.end\n",
    )
    .unwrap();
    let libdir = dir.join("libs");
    std::fs::create_dir_all(&libdir).unwrap();
    let far_src = dir.join("far_src.sbas");
    std::fs::write(
        &far_src,
        ".module far\n.func twice(x: int) -> int export\n    .reg y: int\n    add y, x, x\n    ret y\n.end\n",
    )
    .unwrap();
    // The imported module is compiled bytecode: `.sbc` files are found like `.sbas` ones.
    let out = run(bin("sbas")
        .arg(&far_src)
        .arg("-o")
        .arg(libdir.join("far.sbc")));
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = run(bin("sigma").arg("run").arg(&app));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("module `far` not found"), "{err}");
    assert!(err.contains("far.sbas"), "{err}");

    for jit in ["--jit=off", "--jit=eager"] {
        let out = run(bin("sigma").args(["run", jit, "-L"]).arg(&libdir).arg(&app));
        assert_eq!(text(&out.stdout), "14\n", "{jit}: {}", text(&out.stderr));
        assert_eq!(out.status.code(), Some(0));
    }
    let out = run(bin("sigma")
        .args(["run"])
        .arg(&app)
        .env("SIGMA_PATH", format!("/nonexistent:{}", libdir.display())));
    assert_eq!(text(&out.stdout), "14\n", "{}", text(&out.stderr));
    // `sigma bench` links imports the same way.
    let out = run(bin("sigma")
        .args(["bench", "--runs", "1", "--warmup", "0", "-L"])
        .arg(&libdir)
        .arg(&app));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("| jit    |"),
        "{}",
        text(&out.stdout)
    );
    let out = run(bin("sigma").args(["bench", "--runs", "1"]).arg(&app));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("module `far` not found"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sandbox_denies_host_capabilities_that_run_grants() {
    let dir = scratch("sandbox");
    let prog = dir.join("caps.sbas");
    std::fs::write(
        &prog,
        ".func main() export\n    .reg v, h\n    sys v, env, \"SIGMA_CLI_SANDBOX_VAR\"\n    sys _, print, v\n    sys h, file_open, \"out.txt\", \"w\"\n    sys _, file_write, h, \"written\"\n    sys _, file_close, h\n    sys _, exit, 5\n    ret\n.end\n",
    )
    .unwrap();
    let out = run(bin("sigma")
        .current_dir(&dir)
        .env("SIGMA_CLI_SANDBOX_VAR", "visible")
        .arg("run")
        .arg(&prog));
    assert_eq!(text(&out.stdout), "visible\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).unwrap(),
        "written"
    );
    std::fs::remove_file(dir.join("out.txt")).unwrap();

    let out = run(bin("sigma")
        .current_dir(&dir)
        .env("SIGMA_CLI_SANDBOX_VAR", "visible")
        .args(["run", "--sandbox"])
        .arg(&prog));
    let err = text(&out.stderr);
    assert_eq!(text(&out.stdout), "");
    assert!(err.contains("PermissionDenied"), "{err}");
    assert!(err.contains("sys env needs the `env` capability"), "{err}");
    assert!(err.contains("main"), "backtrace: {err}");
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.join("out.txt").exists());
}

#[test]
fn programs_read_stdin_lines_and_see_their_arguments() {
    use std::io::Write as _;
    let dir = scratch("stdin");
    let prog = dir.join("echo.sbas");
    std::fs::write(
        &prog,
        ".func main() export\n    .reg a, s, line\n    sys a, args\n    sys s, join, a, \",\"\n    sys _, print, s\nagain:\n    sys line, read_line\n    jeq line, nil, done\n    concat line, \"> \", line\n    sys _, print, line\n    jump again\ndone:\n    ret\n.end\n",
    )
    .unwrap();
    for jit in ["--jit=off", "--jit=eager"] {
        let mut child = bin("sigma")
            .args(["run", jit])
            .arg(&prog)
            .args(["--", "a", "b c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"hello\nworld\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            text(&out.stdout),
            "a,b c\n> hello\n> world\n",
            "{jit}: {}",
            text(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn ctrl_c_stops_the_guest_with_an_interrupted_trap_in_both_tiers() {
    use std::io::{BufRead, BufReader};
    let dir = scratch("ctrlc");
    let prog = dir.join("spin.sbas");
    std::fs::write(
        &prog,
        "; spins forever, in a loop or in recursion, after saying so on stderr
.func spin() -> int
    .reg i: int
    load i, 0
again:
    add i, i, 1
    jump again
.end
.func deep(n: int) -> int
    .reg a: int, b: int
    jlt n, 2, base
    sub a, n, 1
    call a, deep, a
    sub b, n, 2
    call b, deep, b
    add a, a, b
    ret a
base:
    ret n
.end
.func main(args: array) export
    .reg which, r
    sys _, eprint, \"started\"
    aget which, args, 0
    jeq which, \"deep\", recursion
    call r, spin
    ret
recursion:
    call r, deep, 90
    ret
.end
",
    )
    .unwrap();
    for jit in ["--jit=off", "--jit=eager", "--jit=on"] {
        for which in ["loop", "deep"] {
            let mut child = bin("sigma")
                .args(["run", jit])
                .arg(&prog)
                .args(["--", which])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut err = BufReader::new(child.stderr.take().unwrap());
            let mut first = String::new();
            err.read_line(&mut first).unwrap();
            assert_eq!(first, "started\n");
            std::thread::sleep(std::time::Duration::from_millis(100));
            // SAFETY: sending a signal to our own child process.
            let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            assert_eq!(sent, 0);
            let mut rest = String::new();
            std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
            let status = child.wait().unwrap();
            assert!(
                rest.contains("error: Interrupted: the host interrupted the program"),
                "{jit} {which}: {rest}"
            );
            let inner = if which == "loop" { "spin" } else { "deep" };
            assert!(rest.contains(&format!("at spin::{inner}")), "{jit}: {rest}");
            assert!(rest.contains("at spin::main"), "{jit}: {rest}");
            assert_eq!(status.code(), Some(130), "{jit} {which}: {rest}");
        }
    }
}

#[test]
fn fuel_bounds_a_run() {
    let dir = scratch("fuel");
    let prog = dir.join("count.sbas");
    std::fs::write(
        &prog,
        ".func main(args: array) -> int export\n    .reg n: int, i: int, s\n    aget s, args, 0\n    sys n, parse_int, s\n    load i, 0\nagain:\n    jge i, n, done\n    add i, i, 1\n    jump again\ndone:\n    sys _, print, i\n    ret 0\n.end\n",
    )
    .unwrap();
    for jit in ["--jit=off", "--jit=eager"] {
        let out = run(bin("sigma")
            .args(["run", jit, "--fuel", "100000"])
            .arg(&prog)
            .args(["--", "1000"]));
        assert_eq!(text(&out.stdout), "1000\n", "{}", text(&out.stderr));
        assert_eq!(out.status.code(), Some(0));
        let out = run(bin("sigma")
            .args(["run", jit, "--fuel", "100000"])
            .arg(&prog)
            .args(["--", "1000000"]));
        assert_eq!(text(&out.stdout), "");
        assert!(
            text(&out.stderr).contains("Interrupted: out of fuel"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(130));
    }
}
