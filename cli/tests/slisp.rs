//! The `slisp` tool end to end: `run` (with `sigma run` flags, stdin, arguments, errors),
//! `compile` then `sigma run` and `sbdump` of the output, and the REPL fed through stdin.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Out {
    stdout: String,
    stderr: String,
    code: i32,
}

fn run(exe: &str, args: &[&str], stdin: &str) -> Out {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let o = child.wait_with_output().expect("wait");
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

/// Asserts that `text` (an error report) contains `fragment`.
fn has(text: &str, fragment: &str) {
    assert!(text.contains(fragment), "`{fragment}` not in:\n{text}");
}

fn slisp(args: &[&str], stdin: &str) -> Out {
    run(env!("CARGO_BIN_EXE_slisp"), args, stdin)
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("slisp-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

const PROGRAM: &str = "(define (fact n) (if (= n 0) 1 (* n (fact (- n 1)))))\n\
(display (fact 10)) (newline)\n\
(display (command-line)) (newline)\n\
(let ((x (read))) (write (reverse x)) (newline))\n";

#[test]
fn run_compiles_and_runs_with_stdin_and_args() {
    let d = temp_dir("run");
    let f = write(&d, "p.scm", PROGRAM);
    for jit in ["--jit=off", "--jit=eager", "--jit=on"] {
        let o = slisp(&["run", &f, jit, "--", "a1", "b2"], "(1 2 \"three\")\n");
        assert_eq!(o.code, 0, "{jit}: {}", o.stderr);
        assert_eq!(
            o.stdout, "3628800\n(slisp a1 b2)\n(\"three\" 2 1)\n",
            "{jit}"
        );
    }
}

#[test]
fn run_accepts_sigma_run_flags() {
    let d = temp_dir("flags");
    let f = write(&d, "p.scm", "(display (length (iota 1000))) (newline)\n");
    let o = slisp(&["run", &f, "--stats", "--heap-limit", "64MB"], "");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "1000\n");
    has(&o.stderr, "gc:");
    // Fuel stops an endless loop with an Interrupted trap.
    let f = write(&d, "loop.scm", "(let loop () (loop))\n");
    let o = slisp(&["run", &f, "--fuel", "100000"], "");
    assert_eq!(o.code, 130, "{}", o.stderr);
    // The sandbox denies `exit`.
    let f = write(&d, "exit.scm", "(exit 3)\n");
    assert_eq!(slisp(&["run", &f], "").code, 3);
    let o = slisp(&["run", &f, "--sandbox"], "");
    assert_eq!(o.code, 1);
    has(&o.stderr, "capability");
}

#[test]
fn runtime_errors_have_a_scheme_message_and_backtrace() {
    let d = temp_dir("rterr");
    let f = write(
        &d,
        "bad.scm",
        "(display \"start\")\n(newline)\n(define (second-of x) (car (cdr x)))\n(define (go v) (list (second-of v)))\n(go '(1))\n",
    );
    let o = slisp(&["run", &f], "");
    assert_eq!(o.code, 1);
    assert_eq!(o.stdout, "start\n");
    assert!(
        o.stderr
            .contains("car/cdr: expected a pair, got the empty list"),
        "{}",
        o.stderr
    );
    has(&o.stderr, "in second-of at");
    has(&o.stderr, "bad.scm:3");
    has(&o.stderr, "in go at");
}

#[test]
fn compile_errors_name_file_line_and_column() {
    let d = temp_dir("cterr");
    let f = write(&d, "syntax.scm", "(display 1)\n(define (f x)\n  (if x))\n");
    let o = slisp(&["run", &f], "");
    assert_eq!(o.code, 2);
    has(&o.stderr, "syntax.scm:3:3: error: bad `if`");
    has(&o.stderr, "  (if x))");
    let f = write(&d, "parens.scm", "(display (+ 1 2)\n");
    let o = slisp(&["compile", &f], "");
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("parens.scm:1:1: error: unbalanced parentheses"),
        "{}",
        o.stderr
    );
    let o = slisp(&["run", "/nonexistent/x.scm"], "");
    assert_eq!(o.code, 2);
    has(&o.stderr, "cannot read");
}

#[test]
fn compiled_output_runs_with_sigma_and_disassembles() {
    let d = temp_dir("compile");
    let f = write(&d, "p.scm", PROGRAM);
    let out = d.join("p.sbc");
    let o = slisp(&["compile", &f, "-o", &out.display().to_string()], "");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_slisp"))
        .parent()
        .expect("dir");
    let sigma = env!("CARGO_BIN_EXE_sigma");
    let o = run(
        sigma,
        &["run", &out.display().to_string(), "--", "z"],
        "(a b)\n",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "3628800\n(slisp z)\n(b a)\n");
    let o = run(
        env!("CARGO_BIN_EXE_sbdump"),
        &[&out.display().to_string()],
        "",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains(".func fact(r0)"),
        "sbdump shows the Scheme procedure"
    );
    assert!(o.stdout.contains("call"), "fact calls itself directly");
    // The disassembly reassembles to the same bytes.
    let txt = write(&d, "p.sbas", &o.stdout);
    let again = d.join("again.sbc");
    let o = run(
        env!("CARGO_BIN_EXE_sbas"),
        &[&txt, "-o", &again.display().to_string()],
        "",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(std::fs::read(&out).ok(), std::fs::read(&again).ok());
    let _ = bin_dir;
}

#[test]
fn repl_through_stdin_keeps_state_and_survives_errors() {
    let input = "(define x 20)\n(+ x 1)\n(define (twice f)\n  (lambda (y) (f (f y))))\n((twice (lambda (n) (* n 2))) x)\n(car '())\n(display \"shown once\")\n(newline)\n\"str\"\n(undefined-proc 1)\n(set! x 5)\nx\n(if)\n(list x 'sym #\\c 1.5)\n";
    let o = slisp(&[], input);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout, "21\n80\nshown once\n\"str\"\n5\n(5 sym #\\c 1.5)\n",
        "stderr: {}",
        o.stderr
    );
    has(&o.stderr, "car/cdr: expected a pair");
    has(&o.stderr, "unbound variable: undefined-proc");
    has(&o.stderr, "bad `if`");
}
