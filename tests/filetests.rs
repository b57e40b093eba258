//! The filetest harness: runs every `tests/filetests/**/*.sbas` under every execution mode and
//! checks the directives written in its comments.
//!
//! Directives (comment lines anywhere in the file):
//! - `; run: f(args) == literal` calls exported or unexported `f` with literal arguments and
//!   checks the result; `; run: f(args)` only calls it. Runs happen in order on one Vm. Without
//!   any `run:` (and no `error:`), the harness runs `main()`.
//! - `; stdout: text` — one line of the expected standard output of all runs, in order.
//! - `; trap: Kind` or `; trap: Kind: message substring` — the last run traps.
//! - `; exit: N` — the last run stops with `halt`/`sys exit` status N.
//!   After the runs, unless one trapped, the destructors of all remaining objects run (as at
//!   the end of `sigma run`), so their output and traps are part of the expectations.
//! - `; error: text` — assembling, verifying or linking fails, and `text` is a substring of
//!   the first line of the error.
//! - `; heap-limit: N` — the Vm's heap may hold at most N bytes (`--heap-limit`), in every
//!   mode.
//!
//! With `BLESS=1` the expected `stdout:`, `trap:`, `exit:`, `error:` lines and `== value`
//! results are rewritten from what actually happened. Every file must behave identically in
//! every mode in [`MODES`]; later tiers are added there. Each file is also checked to survive
//! the disassembler round trip (`sbdump` then `sbas` gives identical bytes).
//!
//! Files in a directory named `lib` are modules for other filetests to import: they are
//! round-tripped but not run. A filetest's own directory and its `lib` subdirectory are on the
//! module search path.

use sigma_vm::OutputBuffer;
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use sigma_vm::runtime::asm::parse_literal;
use sigma_vm::runtime::module::Constant;
use sigma_vm::runtime::ops::values_equal;
use sigma_vm::{
    load_source, new_vm, Capabilities, HeapConfig, JitConfig, JitMode, Stop, Value, Vm, VmConfig,
};

/// An execution mode every filetest runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The interpreter alone.
    Interp,
    /// The interpreter, collecting at every allocation and poisoning freed memory.
    GcStress,
    /// Every function compiled when the module is loaded.
    JitEager,
    /// Functions compiled when hot, with a low threshold (so OSR and tier mixing happen).
    JitTiered,
    /// Compiled eagerly, collecting at every allocation.
    JitEagerGcStress,
}

const MODES: &[Mode] = &[
    Mode::Interp,
    Mode::GcStress,
    Mode::JitEager,
    Mode::JitTiered,
    Mode::JitEagerGcStress,
];

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Interp => "interp",
            Mode::GcStress => "gc-stress",
            Mode::JitEager => "jit-eager",
            Mode::JitTiered => "jit-tiered",
            Mode::JitEagerGcStress => "jit-eager-gc-stress",
        }
    }

    fn config(self) -> VmConfig {
        let base = VmConfig {
            capabilities: Capabilities::ALL,
            ..VmConfig::default()
        };
        let stress = HeapConfig {
            stress: true,
            ..base.heap.clone()
        };
        let jit = |mode, threshold| JitConfig {
            mode,
            threshold,
            trace: false,
        };
        match self {
            Mode::Interp => base,
            Mode::GcStress => VmConfig {
                heap: stress,
                ..base
            },
            Mode::JitEager => VmConfig {
                jit: jit(JitMode::Eager, 1),
                ..base
            },
            Mode::JitTiered => VmConfig {
                jit: jit(JitMode::On, 3),
                ..base
            },
            Mode::JitEagerGcStress => VmConfig {
                heap: stress,
                jit: jit(JitMode::Eager, 1),
                ..base
            },
        }
    }
}

#[derive(Debug, Clone)]
struct RunDirective {
    func: String,
    args: Vec<String>,
    expect: Option<String>,
    line: usize,
}

#[derive(Debug, Default, Clone)]
struct Expect {
    runs: Vec<RunDirective>,
    stdout: Option<Vec<String>>,
    trap: Option<String>,
    exit: Option<i32>,
    error: Option<String>,
    heap_limit: Option<usize>,
}

fn directive<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.trim_start().strip_prefix(';')?.trim_start();
    let rest = rest.strip_prefix(name)?.strip_prefix(':')?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// Splits `a, "b, c", 'd'` at top-level commas.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        match quote {
            Some(q) => {
                cur.push(c);
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c == ',' => out.push(std::mem::take(&mut cur).trim().to_owned()),
            None => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

fn parse_run(text: &str, line: usize) -> Result<RunDirective, String> {
    let (call, expect) = match text.split_once("==") {
        Some((c, e)) => (c.trim(), Some(e.trim().to_owned())),
        None => (text.trim(), None),
    };
    let open = call
        .find('(')
        .ok_or_else(|| format!("line {line}: `run:` needs `f(args)`"))?;
    if !call.ends_with(')') {
        return Err(format!("line {line}: `run:` call must end with `)`"));
    }
    Ok(RunDirective {
        func: call[..open].trim().to_owned(),
        args: split_args(&call[open + 1..call.len() - 1]),
        expect,
        line,
    })
}

fn parse_expect(text: &str) -> Result<Expect, String> {
    let mut e = Expect::default();
    for (i, line) in text.lines().enumerate() {
        if let Some(r) = directive(line, "run") {
            e.runs.push(parse_run(r, i + 1)?);
        } else if let Some(s) = directive(line, "stdout") {
            e.stdout.get_or_insert_with(Vec::new).push(s.to_owned());
        } else if let Some(t) = directive(line, "trap") {
            e.trap = Some(t.trim().to_owned());
        } else if let Some(x) = directive(line, "exit") {
            e.exit = Some(
                x.trim()
                    .parse()
                    .map_err(|_| format!("line {}: bad exit status", i + 1))?,
            );
        } else if let Some(x) = directive(line, "error") {
            e.error = Some(x.trim().to_owned());
        } else if let Some(x) = directive(line, "heap-limit") {
            e.heap_limit = Some(
                x.trim()
                    .parse()
                    .map_err(|_| format!("line {}: bad heap limit", i + 1))?,
            );
        }
    }
    if e.runs.is_empty() && e.error.is_none() {
        e.runs.push(RunDirective {
            func: "main".into(),
            args: vec![],
            expect: None,
            line: 0,
        });
    }
    Ok(e)
}

/// What actually happened when a file was run.
#[derive(Debug, Default)]
struct Outcome {
    error: Option<String>,
    results: Vec<(usize, String)>,
    stdout: String,
    trap: Option<String>,
    trap_message: Option<String>,
    /// The whole trap report: kind, message and backtrace.
    trap_report: Option<String>,
    exit: Option<i32>,
}

/// The value of a literal; strings are rooted (the caller unroots them).
fn literal_value(
    vm: &mut Vm,
    text: &str,
    roots: &mut Vec<sigma_vm::Root>,
) -> Result<Value, String> {
    Ok(match parse_literal(text)? {
        Constant::Nil => Value::NIL,
        Constant::Bool(b) => Value::bool(b),
        Constant::Int(i) => Value::int(i),
        Constant::Float(x) => Value::float(x),
        Constant::Char(c) => Value::char(c),
        Constant::Str(s) => {
            let v = vm.alloc_str(&s).map_err(|e| e.to_string())?;
            roots.push(vm.root(v));
            v
        }
    })
}

/// Renders a result the way an expected literal is written.
fn render(v: Value) -> String {
    match v.kind() {
        sigma_vm::Tag::Str => {
            let mut s = String::from("\"");
            let _ = sigma_vm::runtime::module::write_escaped(&mut s, v.as_str().unwrap_or(""), '"');
            s.push('"');
            s
        }
        sigma_vm::Tag::Char => format!("{}", Constant::Char(v.as_char().unwrap_or('\0'))),
        _ => v.to_string(),
    }
}

fn same_result(a: Value, b: Value) -> bool {
    if a.kind() != b.kind() {
        return false;
    }
    match (a.as_float(), b.as_float()) {
        (Some(x), Some(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        _ => values_equal(a, b),
    }
}

fn execute(path: &Path, text: &str, expect: &Expect, mode: Mode) -> Result<Outcome, String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("test.sbas");
    let mut out = Outcome::default();
    let (module, info) = match load_source(text.as_bytes(), name) {
        Ok(m) => m,
        Err(e) => {
            out.error = Some(e.to_string().lines().next().unwrap_or("").to_owned());
            return Ok(out);
        }
    };
    let mut config = mode.config();
    if let Some(limit) = expect.heap_limit {
        config.heap.limit = Some(limit);
    }
    let mut vm = new_vm(config);
    let buf = OutputBuffer::default();
    vm.set_stdout(Box::new(buf.clone()));
    vm.set_stderr(Box::new(std::io::sink()));
    if let Some(dir) = path.parent() {
        vm.add_module_path(dir.join("lib"));
    }
    let stop = match vm.load_from(&module, &info, path) {
        Ok(m) => {
            let mut stop = None;
            for run in &expect.runs {
                let fid = module
                    .function_index(&run.func)
                    .ok_or_else(|| format!("line {}: no function `{}`", run.line, run.func))?;
                let fid = vm.export(m, &run.func).unwrap_or(fid);
                let mut args = Vec::new();
                let mut roots = Vec::new();
                for a in &run.args {
                    args.push(
                        literal_value(&mut vm, a, &mut roots)
                            .map_err(|e| format!("line {}: {e}", run.line))?,
                    );
                }
                let result = vm.call(fid, &args);
                for r in roots.drain(..) {
                    vm.unroot(r);
                }
                match result {
                    Ok(v) => {
                        if let Some(want) = &run.expect {
                            let keep = vm.root(v);
                            let wv = literal_value(&mut vm, want, &mut roots)
                                .map_err(|e| format!("line {}: {e}", run.line))?;
                            let v = vm.rooted(&keep);
                            let got = if same_result(v, wv) {
                                want.clone()
                            } else {
                                render(v)
                            };
                            out.results.push((run.line, got));
                            vm.unroot(keep);
                            for r in roots.drain(..) {
                                vm.unroot(r);
                            }
                        }
                    }
                    Err(s) => {
                        stop = Some(s);
                        break;
                    }
                }
            }
            // As at the end of `sigma run`: remaining destructors run unless the program trapped.
            match stop {
                None | Some(Stop::Exit(_)) => vm.finish().err().or(stop),
                trapped => trapped,
            }
        }
        Err(sigma_vm::LinkError::Init { stop, .. }) => Some(stop),
        Err(e) => {
            out.error = Some(sigma_vm::Error::Link(e).to_string());
            None
        }
    };
    match stop {
        Some(Stop::Exit(c)) => out.exit = Some(c),
        Some(Stop::Trap(t)) => {
            out.trap = Some(t.kind.name().to_owned());
            out.trap_message = Some(t.message.clone());
            out.trap_report = Some(t.to_string());
        }
        None => {}
    }
    let _ = vm.flush();
    out.stdout = buf.text();
    Ok(out)
}

fn check(expect: &Expect, out: &Outcome) -> Result<(), String> {
    let mut problems = Vec::new();
    match (&expect.error, &out.error) {
        (Some(want), Some(got)) if got.contains(want.as_str()) => return Ok(()),
        (Some(want), Some(got)) => {
            return Err(format!("expected error containing {want:?}, got {got:?}"))
        }
        (Some(want), None) => {
            return Err(format!("expected error containing {want:?}, but it loaded"))
        }
        (None, Some(got)) => return Err(format!("unexpected error: {got}")),
        (None, None) => {}
    }
    for (line, got) in &out.results {
        let want = expect
            .runs
            .iter()
            .find(|r| r.line == *line)
            .and_then(|r| r.expect.clone());
        if want.as_deref() != Some(got.as_str()) {
            problems.push(format!(
                "line {line}: result {got}, expected {}",
                want.unwrap_or_default()
            ));
        }
    }
    let want_stdout: String = expect
        .stdout
        .iter()
        .flatten()
        .map(|l| format!("{l}\n"))
        .collect();
    if want_stdout != out.stdout {
        problems.push(format!(
            "stdout differs:\n--- expected\n{want_stdout}--- actual\n{}",
            out.stdout
        ));
    }
    match (&expect.trap, &out.trap) {
        (None, None) => {}
        (Some(want), Some(kind)) => {
            let (wkind, wmsg) = match want.split_once(':') {
                Some((k, m)) => (k.trim(), Some(m.trim())),
                None => (want.as_str(), None),
            };
            let msg = out.trap_message.clone().unwrap_or_default();
            if wkind != kind || wmsg.is_some_and(|m| !msg.contains(m)) {
                problems.push(format!("expected trap {want}, got {kind}: {msg}"));
            }
        }
        (Some(want), None) => problems.push(format!("expected trap {want}, but none happened")),
        (None, Some(kind)) => problems.push(format!(
            "unexpected trap {kind}: {}",
            out.trap_message.clone().unwrap_or_default()
        )),
    }
    if expect.exit != out.exit {
        problems.push(format!(
            "exit status {:?}, expected {:?}",
            out.exit, expect.exit
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Rewrites the file's expectations from `out` (BLESS=1).
fn bless(path: &Path, text: &str, out: &Outcome) -> std::io::Result<()> {
    let is_expect = |l: &str| {
        ["stdout", "trap", "exit", "error"]
            .iter()
            .any(|d| directive(l, d).is_some())
    };
    let mut lines: Vec<String> = Vec::new();
    let mut insert_at = None;
    for (i, l) in text.lines().enumerate() {
        if is_expect(l) {
            insert_at.get_or_insert(lines.len());
            continue;
        }
        if let Some(r) = directive(l, "run") {
            if let Ok(run) = parse_run(r, i + 1) {
                if let Some((_, got)) = out.results.iter().find(|(line, _)| *line == i + 1) {
                    let call = r.split_once("==").map_or(r, |(c, _)| c).trim();
                    lines.push(format!("; run: {call} == {got}"));
                    let _ = run;
                    continue;
                }
            }
        }
        lines.push(l.to_owned());
    }
    let mut new = Vec::new();
    if let Some(e) = &out.error {
        new.push(format!(
            "; error: {}",
            e.split_once("error: ").map_or(e.as_str(), |(_, m)| m)
        ));
    } else {
        for l in out.stdout.lines() {
            new.push(format!("; stdout: {l}"));
        }
        if let Some(k) = &out.trap {
            new.push(format!(
                "; trap: {k}: {}",
                out.trap_message.clone().unwrap_or_default()
            ));
        }
        if let Some(c) = out.exit {
            new.push(format!("; exit: {c}"));
        }
    }
    let at = insert_at.unwrap_or_else(|| {
        lines
            .iter()
            .take_while(|l| l.trim_start().starts_with(';'))
            .count()
    });
    lines.splice(at..at, new);
    let mut joined = lines.join("\n");
    joined.push('\n');
    std::fs::write(path, joined)
}

/// Runs a file on a thread with the native stack guest code needs (see `sigma_vm::GUEST_STACK`).
fn run_file(path: &Path, mode: Mode) -> Result<(), Failed> {
    let path = path.to_owned();
    std::thread::Builder::new()
        .stack_size(sigma_vm::GUEST_STACK)
        .spawn(move || run_file_here(&path, mode))
        .map_err(|e| e.to_string())?
        .join()
        .unwrap_or_else(|_| Err("the test panicked".into()))
}

fn run_file_here(path: &Path, mode: Mode) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let expect = parse_expect(&text)?;
    let out = execute(path, &text, &expect, mode)?;
    if std::env::var_os("BLESS").is_some() {
        if check(&expect, &out).is_err() {
            bless(path, &text, &out).map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    check(&expect, &out)?;
    // Every tier reports a trap with the interpreter's backtrace, frame for frame — except a
    // stack overflow, whose depth depends on the tier (the interpreter also limits call depth;
    // compiled code is bounded by the register and native stacks alone).
    let comparable = mode != Mode::Interp && out.trap.as_deref() != Some("StackOverflow");
    if let (Some(report), true) = (&out.trap_report, comparable) {
        let reference = execute(path, &text, &expect, Mode::Interp)?;
        if reference.trap_report.as_ref() != Some(report) {
            return Err(format!(
                "trap report differs from the interpreter's:\n--- interp\n{}\n--- {}\n{report}",
                reference.trap_report.unwrap_or_default(),
                mode.name()
            )
            .into());
        }
    }
    Ok(())
}

/// `sbdump` then `sbas` gives identical bytes.
fn round_trip(path: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let Ok((module, _)) = sigma_vm::runtime::assemble(&text, &path.display().to_string()) else {
        return Ok(()); // files that must fail to assemble have nothing to round-trip
    };
    let bytes = sigma_vm::runtime::encode(&module);
    let dumped = sigma_vm::runtime::disassemble(
        &sigma_vm::runtime::decode(&bytes).map_err(|e| e.to_string())?,
    );
    let (again, _) =
        sigma_vm::runtime::assemble(&dumped, "dump.sbas").map_err(|e| format!("{e}\n{dumped}"))?;
    if sigma_vm::runtime::encode(&again) != bytes {
        return Err(format!("re-assembled bytes differ; dump:\n{dumped}").into());
    }
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "sbas") {
            out.push(p);
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no filetests found under {}",
        root.display()
    );
    let mut trials = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let is_library = f
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "lib");
        for &mode in MODES.iter().filter(|_| !is_library) {
            let p = f.clone();
            trials.push(Trial::test(format!("{}::{rel}", mode.name()), move || {
                run_file(&p, mode)
            }));
        }
        let p = f.clone();
        trials.push(Trial::test(format!("roundtrip::{rel}"), move || {
            round_trip(&p)
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}
