//! Golden tests: every `lisp/tests/scm/**/*.scm` program is compiled and run under the
//! interpreter, under the JIT (eager: every function compiled at load) and tiered (compiled
//! when hot, low threshold) and eagerly compiled with a collection at every allocation, and
//! its standard output must equal `FILE.out`.
//!
//! Optional companions and directives:
//! - `FILE.in` — standard input for the program.
//! - `;; exit: N` — the expected exit status (a run-time error is 1; default 0).
//! - `;; stderr: text` — a fragment of the expected error report (repeatable).
//! - `;; compile-error: text` — compiling fails with a message containing `text` (the
//!   `file:line:col` form is checked too).
//!
//! With `BLESS=1`, `FILE.out` is rewritten from the interpreter's output (check it by hand).

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
}

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
                Mode::JitEagerGcStress => JitMode::Eager,
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
            ..HeapConfig::default()
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

fn directives<'s>(src: &'s str, key: &str) -> Vec<&'s str> {
    src.lines()
        .filter_map(|l| l.trim().strip_prefix(";;").map(str::trim))
        .filter_map(|l| l.strip_prefix(key).map(str::trim))
        .collect()
}

fn check(path: &Path, mode: Mode) -> Result<(), Failed> {
    let src = std::fs::read_to_string(path).map_err(|e| format!("{e}"))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("test.scm")
        .to_owned();
    let input = std::fs::read(path.with_extension("in")).unwrap_or_default();
    let s2 = src.clone();
    let outcome = sigma_vm::with_guest_stack(move || run(s2, name, input, mode))
        .map_err(|e| format!("{e}"))??;
    let compile_errors = directives(&src, "compile-error:");
    if !compile_errors.is_empty() {
        if outcome.exit != 2 {
            return Err(format!(
                "expected a compile error, but it compiled (exit {})",
                outcome.exit
            )
            .into());
        }
        for frag in compile_errors {
            if !outcome.stderr.contains(frag) {
                return Err(format!("compile error `{}` lacks `{frag}`", outcome.stderr).into());
            }
        }
        return Ok(());
    }
    let want_exit: i32 = directives(&src, "exit:")
        .first()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let out_path = path.with_extension("out");
    if std::env::var_os("BLESS").is_some() && matches!(mode, Mode::Interp) {
        std::fs::write(&out_path, &outcome.stdout).map_err(|e| format!("{e}"))?;
    }
    let want =
        std::fs::read_to_string(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
    if outcome.stdout != want {
        return Err(format!(
            "stdout differs\n--- expected\n{want}\n--- actual\n{}\n--- stderr\n{}",
            outcome.stdout, outcome.stderr
        )
        .into());
    }
    if outcome.exit != want_exit {
        return Err(format!(
            "exit status {} (expected {want_exit}); stderr:\n{}",
            outcome.exit, outcome.stderr
        )
        .into());
    }
    for frag in directives(&src, "stderr:") {
        if !outcome.stderr.contains(frag) {
            return Err(format!("stderr `{}` lacks `{frag}`", outcome.stderr).into());
        }
    }
    if want_exit == 0 && !outcome.stderr.is_empty() {
        return Err(format!("unexpected error output: {}", outcome.stderr).into());
    }
    Ok(())
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("scm");
    let mut files = Vec::new();
    collect(&root, &mut files);
    assert!(
        !files.is_empty(),
        "no golden tests found in {}",
        root.display()
    );
    let mut trials = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
        for mode in [
            Mode::Interp,
            Mode::JitEager,
            Mode::JitTiered,
            Mode::JitEagerGcStress,
        ] {
            let f = f.clone();
            let label = match mode {
                Mode::Interp => "interp",
                Mode::JitEager => "jit",
                Mode::JitTiered => "tiered",
                Mode::JitEagerGcStress => "jit-gc-stress",
            };
            trials.push(Trial::test(format!("{rel}::{label}"), move || {
                check(&f, mode)
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
