//! Golden tests: every program of three suites is compiled and run under the interpreter,
//! under the JIT (eager: every function compiled at load), tiered (compiled when hot, low
//! threshold) and eagerly compiled with a collection at every allocation; each run must
//! produce what the suite expects.
//!
//! - `tests/scm/**/*.scm` — stdout must equal `FILE.out`; optional `FILE.in` (stdin) and
//!   directives: `;; exit: N` (expected exit status, a run-time error is 1; default 0),
//!   `;; stderr: text` (a fragment of the expected error report, repeatable),
//!   `;; compile-error: text` (compiling fails with a message containing `text`, reported as
//!   `FILE:line:col: error: ...`).
//! - `tests/golden/**/*.scm` — programs whose expected output was agreed by two other Schemes
//!   (see its README): stdout must equal `FILE.out`, the exit status `FILE.exit` (default 0),
//!   stdin is `FILE.in` when present; no directives.
//! - `tests/errors/*.scm` — programs that must fail. The `; expect:` header line says which kind
//!   of failure (compile or read error: exit 2 and a `FILE:line:col` report; run-time error:
//!   exit 1; `error:` alone: either; `either prints N ...`: that output or a clean stack
//!   overflow); `ERROR_REPORTS` below holds the stdout printed before the failure and
//!   fragments of Sigma's own report for each file.
//!
//! With `BLESS=1`, `FILE.out` of the `scm` suite is rewritten from the interpreter's output
//! (check it by hand); the other suites' expectations are never rewritten.

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use sigma_lisp::{compile_verified, format_trap, CompileOptions};
use sigma_vm::{
    new_vm, Capabilities, HeapConfig, JitConfig, JitMode, OutputBuffer, Stop, VmConfig,
};

#[derive(Clone, Copy, Debug)]
enum Mode {
    Interp,
    JitEager,
    /// Compiled when hot, with a low threshold: interpreted and compiled code call each other
    /// and loops enter compiled code on the stack (OSR).
    JitTiered,
    /// Compiled eagerly, collecting garbage at every allocation.
    JitEagerGcStress,
    /// Compiled eagerly, collecting whenever the heap grew by a few kilobytes: the stress
    /// mode for the programs of `GC_HEAVY`, whose large live heaps make a collection at every
    /// allocation quadratic.
    JitEagerGcFrequent,
}

/// Programs (suite directory and path) that keep tens of thousands of objects alive while
/// allocating: they run `JitEagerGcFrequent` instead of `JitEagerGcStress`.
const GC_HEAVY: &[&str] = &["golden/tail_calls.scm", "golden/lists.scm"];

struct Outcome {
    stdout: String,
    stderr: String,
    exit: i32,
}

fn run(src: String, name: String, input: Vec<u8>, mode: Mode) -> Result<Outcome, String> {
    let (module, info) = match compile_verified(&src, &name, &CompileOptions::default()) {
        Ok(m) => m,
        Err(e) => {
            return Ok(Outcome {
                stdout: String::new(),
                stderr: e.to_string(),
                exit: 2,
            })
        }
    };
    let config = VmConfig {
        jit: JitConfig {
            mode: match mode {
                Mode::Interp => JitMode::Off,
                Mode::JitEager => JitMode::Eager,
                Mode::JitTiered => JitMode::On,
                Mode::JitEagerGcStress | Mode::JitEagerGcFrequent => JitMode::Eager,
            },
            threshold: match mode {
                Mode::JitTiered => 3,
                _ => JitConfig::default().threshold,
            },
            ..JitConfig::default()
        },
        capabilities: Capabilities::ALL,
        heap: HeapConfig {
            stress: matches!(mode, Mode::JitEagerGcStress),
            ..if matches!(mode, Mode::JitEagerGcFrequent) {
                HeapConfig {
                    min_threshold: 16 << 10,
                    growth_factor: 1.02,
                    ..HeapConfig::default()
                }
            } else {
                HeapConfig::default()
            }
        },
        ..VmConfig::default()
    };
    let mut vm = new_vm(config);
    let out = OutputBuffer::new();
    vm.set_stdout(Box::new(out.clone()));
    vm.set_stdin(Box::new(std::io::Cursor::new(input)));
    let m = vm.load(&module, &info).map_err(|e| e.to_string())?;
    let main = sigma_vm::main_function(&vm, m).map_err(|e| e.to_string())?;
    let result = sigma_vm::run_main(&mut vm, main, &[]);
    let _ = vm.flush();
    let (stderr, exit) = match result {
        Ok(_) => (String::new(), 0),
        Err(Stop::Exit(c)) => (String::new(), c),
        Err(Stop::Trap(t)) => (format_trap(&t), 1),
    };
    Ok(Outcome {
        stdout: out.text(),
        stderr,
        exit,
    })
}

/// What each `tests/errors` program prints before failing, and fragments of the report.
/// Every file there must be listed (a new error test needs its expected report).
const ERROR_REPORTS: &[(&str, &str, &[&str])] = &[
    (
        "bad_let_syntax",
        "",
        &["bad_let_syntax.scm:3:7: error: bad `let` binding"],
    ),
    (
        "bad_let_syntax_body",
        "",
        &["bad_let_syntax_body.scm:3:1: error: bad `let`"],
    ),
    (
        "call_non_procedure",
        "before\n",
        &[
            "attempt to call a non-procedure: 5",
            "in main at call_non_procedure.scm:6",
        ],
    ),
    (
        "call_non_procedure_literal",
        "",
        &["attempt to call a non-procedure: \"abc\""],
    ),
    (
        "car_non_pair",
        "before\n",
        &[
            "car/cdr: expected a pair, got an integer",
            "in main at car_non_pair.scm:5",
        ],
    ),
    (
        "deep_non_tail_recursion",
        "",
        &[
            "stack overflow",
            "in count at deep_non_tail_recursion.scm:3",
        ],
    ),
    (
        "division_by_zero",
        "before\n",
        &["division by zero", "in main at division_by_zero.scm:5"],
    ),
    (
        "string_ref_out_of_range",
        "",
        &["string-ref: index 5 out of bounds for length 3"],
    ),
    (
        "type_error_plus",
        "",
        &["+: expected numbers, got an integer and a symbol"],
    ),
    (
        "unbalanced_close",
        "",
        &["unbalanced_close.scm:3:12: error: unexpected `)`"],
    ),
    (
        "unbalanced_open",
        "",
        &["unbalanced_open.scm:3:1: error: unbalanced parentheses"],
    ),
    (
        "unbound_variable",
        "",
        &["unbound variable: undefined-thing"],
    ),
    (
        "user_error",
        "before\n",
        &["error: boom 1 2", "in main at user_error.scm:5"],
    ),
    (
        "vector_ref_out_of_range",
        "3\n",
        &[
            "vector-ref: index 10 out of bounds for length 3",
            "in main at vector_ref_out_of_range.scm:6",
        ],
    ),
    (
        "wrong_arity",
        "3\n",
        &["wrong number of arguments: `add2` takes 2 argument(s), 3 given"],
    ),
    (
        "wrong_arity_too_few",
        "",
        &["wrong number of arguments: `at-least-two` takes at least 2 argument(s), 1 given"],
    ),
    (
        "for_each_improper_list",
        "12",
        &[
            "for-each: not a proper list: (1 2 . 3)",
            "in main at for_each_improper_list.scm:3",
        ],
    ),
    (
        "map_improper_list",
        "(2 4)\n",
        &[
            "map: not a proper list: (1 2 . 3)",
            "in main at map_improper_list.scm:5",
        ],
    ),
    (
        "inlined_frames",
        "5\n",
        &[
            "division by zero",
            "in safe-div at inlined_frames.scm:3\n  in average-of at inlined_frames.scm:4\n  in report at inlined_frames.scm:5\n  in show at inlined_frames.scm:7\n  in main at inlined_frames.scm:8",
        ],
    ),
    (
        "unrolled_frames",
        "10\n",
        &[
            // Exactly three frames of sum-tree: the error's, and the two calls above it.
            "got a symbol and an integer [TypeError]\n  in sum-tree at unrolled_frames.scm:4\n  in sum-tree at unrolled_frames.scm:4\n  in sum-tree at unrolled_frames.scm:4\n  in main at unrolled_frames.scm:6",
        ],
    ),
    (
        "unrolled_frames_deep",
        "15\n",
        &[
            // Six frames of sum-tree (the sixth activation fails): the copies run inline in the first call's
            // frame and in the call made from the last copy, and each still shows as a frame.
            "got a symbol and an integer [TypeError]\n  in sum-tree at unrolled_frames_deep.scm:4\n  in sum-tree at unrolled_frames_deep.scm:4\n  in sum-tree at unrolled_frames_deep.scm:4\n  in sum-tree at unrolled_frames_deep.scm:4\n  in sum-tree at unrolled_frames_deep.scm:4\n  in sum-tree at unrolled_frames_deep.scm:4\n  in main at unrolled_frames_deep.scm:6",
        ],
    ),
    (
        "loop_in_place_frame",
        "",
        &[
            // (The loop's Sigma name carries a suffix that keeps it unique.)
            "car/cdr: expected a pair, got an integer [TypeError]\n  in scan",
            " at loop_in_place_frame.scm:3\n  in f at loop_in_place_frame.scm:3\n  in main at loop_in_place_frame.scm:5",
        ],
    ),
    (
        "map_value_improper_list",
        "",
        &[
            "map: not a proper list: (1 2 . 3)",
            "in main at map_value_improper_list.scm:4",
        ],
    ),
];

/// One acceptable outcome of a run.
struct Accept {
    /// The exact stdout, when it matters.
    stdout: Option<String>,
    /// Acceptable exit statuses.
    exits: Vec<i32>,
    /// Fragments the error report must contain; with an exit status of 0 it must be empty.
    stderr: Vec<String>,
    /// The report must begin `FILE:line:col: error:` (a compile error).
    located: bool,
}

impl Accept {
    fn output(stdout: String, exit: i32, stderr: Vec<String>) -> Accept {
        Accept {
            stdout: Some(stdout),
            exits: vec![exit],
            stderr,
            located: false,
        }
    }

    fn compile_error(stderr: Vec<String>) -> Accept {
        Accept {
            stdout: Some(String::new()),
            exits: vec![2],
            stderr,
            located: true,
        }
    }

    /// Why `o` is not this outcome, if it is not.
    fn mismatch(&self, o: &Outcome, file: &str) -> Option<String> {
        if let Some(want) = &self.stdout {
            if o.stdout != *want {
                return Some(format!(
                    "stdout differs\n--- expected\n{want}\n--- actual\n{}\n--- stderr\n{}",
                    o.stdout, o.stderr
                ));
            }
        }
        if !self.exits.contains(&o.exit) {
            return Some(format!(
                "exit status {} (expected {:?}); stderr:\n{}",
                o.exit, self.exits, o.stderr
            ));
        }
        for frag in &self.stderr {
            if !o.stderr.contains(frag.as_str()) {
                return Some(format!("error report `{}` lacks `{frag}`", o.stderr));
            }
        }
        if self.exits == [0] && !o.stderr.is_empty() {
            return Some(format!("unexpected error output: {}", o.stderr));
        }
        if self.located && !is_located(&o.stderr, file) {
            return Some(format!(
                "compile error `{}` does not begin `{file}:line:col: error:`",
                o.stderr
            ));
        }
        None
    }
}

/// Whether `report` begins `file:LINE:COL: error:`.
fn is_located(report: &str, file: &str) -> bool {
    let Some(rest) = report.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
        return false;
    };
    let mut parts = rest.splitn(3, ':');
    let num =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    num(parts.next()) && num(parts.next()) && parts.next().is_some_and(|r| r.starts_with(" error:"))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Suite {
    Scm,
    Golden,
    Errors,
}

fn directives<'s>(src: &'s str, key: &str) -> Vec<&'s str> {
    src.lines()
        .filter_map(|l| l.trim().strip_prefix(";;").map(str::trim))
        .filter_map(|l| l.strip_prefix(key).map(str::trim))
        .collect()
}

fn read(path: &Path) -> Result<String, Failed> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// The acceptable outcomes of the program at `path`.
fn expectations(suite: Suite, path: &Path, src: &str) -> Result<Vec<Accept>, Failed> {
    let out_path = path.with_extension("out");
    match suite {
        Suite::Scm => {
            let compile_errors = directives(src, "compile-error:");
            if !compile_errors.is_empty() {
                let frags = compile_errors.iter().map(|s| s.to_string()).collect();
                return Ok(vec![Accept::compile_error(frags)]);
            }
            let exit = match directives(src, "exit:").first() {
                Some(s) => s
                    .parse()
                    .map_err(|_| format!("bad `;; exit:` directive `{s}`"))?,
                None => 0,
            };
            let frags = directives(src, "stderr:")
                .iter()
                .map(|s| s.to_string())
                .collect();
            Ok(vec![Accept::output(read(&out_path)?, exit, frags)])
        }
        Suite::Golden => {
            let exit_path = path.with_extension("exit");
            let exit = if exit_path.exists() {
                let t = read(&exit_path)?;
                t.trim()
                    .parse()
                    .map_err(|_| format!("{}: not an exit status", exit_path.display()))?
            } else {
                0
            };
            Ok(vec![Accept::output(read(&out_path)?, exit, Vec::new())])
        }
        Suite::Errors => {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let Some((_, before, frags)) = ERROR_REPORTS.iter().find(|(n, _, _)| *n == stem) else {
                return Err(format!("{stem}: no entry in ERROR_REPORTS").into());
            };
            let frags: Vec<String> = frags.iter().map(|s| s.to_string()).collect();
            let header = src
                .lines()
                .find_map(|l| l.trim().strip_prefix("; expect:").map(str::trim))
                .ok_or("no `; expect:` header line")?;
            let before = before.to_string();
            Ok(
                if header.starts_with("compile (syntax) error")
                    || header.starts_with("read (syntax) error")
                {
                    vec![Accept::compile_error(frags)]
                } else if header.starts_with("run-time error") {
                    vec![Accept::output(before, 1, frags)]
                } else if header.starts_with("error:") {
                    vec![
                        Accept::output(before, 1, frags.clone()),
                        Accept::compile_error(frags),
                    ]
                } else if let Some(rest) = header.strip_prefix("either prints ") {
                    let printed = rest.split_whitespace().next().unwrap_or("");
                    vec![
                        Accept::output(format!("{before}{printed}\n"), 0, Vec::new()),
                        Accept::output(before, 1, frags),
                    ]
                } else {
                    return Err(format!("unknown `; expect:` header `{header}`").into());
                },
            )
        }
    }
}

fn check(suite: Suite, path: &Path, mode: Mode) -> Result<(), Failed> {
    let src = read(path)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("test.scm")
        .to_owned();
    let accepts = expectations(suite, path, &src)?;
    let input = std::fs::read(path.with_extension("in")).unwrap_or_default();
    let s2 = src.clone();
    let n2 = name.clone();
    let outcome = sigma_vm::with_guest_stack(move || run(s2, n2, input, mode))
        .map_err(|e| format!("{e}"))??;
    if suite == Suite::Scm
        && std::env::var_os("BLESS").is_some()
        && matches!(mode, Mode::Interp)
        && accepts.iter().all(|a| !a.located)
    {
        let out_path = path.with_extension("out");
        std::fs::write(&out_path, &outcome.stdout).map_err(|e| format!("{e}"))?;
        return Ok(());
    }
    let mut why = Vec::new();
    for a in &accepts {
        match a.mismatch(&outcome, &name) {
            None => return Ok(()),
            Some(w) => why.push(w),
        }
    }
    Err(why.join("\n=== or\n").into())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|e| e == "scm") {
            out.push(p);
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut trials = Vec::new();
    for (suite, dir) in [
        (Suite::Scm, "scm"),
        (Suite::Golden, "golden"),
        (Suite::Errors, "errors"),
    ] {
        let root = tests.join(dir);
        let mut files = Vec::new();
        collect(&root, &mut files);
        assert!(!files.is_empty(), "no tests found in {}", root.display());
        for f in files {
            let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
            let stress = if GC_HEAVY.contains(&format!("{dir}/{rel}").as_str()) {
                Mode::JitEagerGcFrequent
            } else {
                Mode::JitEagerGcStress
            };
            for mode in [Mode::Interp, Mode::JitEager, Mode::JitTiered, stress] {
                let f = f.clone();
                let label = match mode {
                    Mode::Interp => "interp",
                    Mode::JitEager => "jit",
                    Mode::JitTiered => "tiered",
                    Mode::JitEagerGcStress => "jit-gc-stress",
                    Mode::JitEagerGcFrequent => "jit-gc-frequent",
                };
                let name = format!("{dir}/{rel}::{label}");
                trials.push(Trial::test(name, move || check(suite, &f, mode)));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
