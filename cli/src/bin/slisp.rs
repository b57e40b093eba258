//! `slisp`: compile Scheme to Sigma bytecode and run it (`slisp run`), write it to a `.sbc`
//! file (`slisp compile`), or start a REPL (`slisp` alone).
//!
//! Run-time errors are reported in Scheme terms with a backtrace of procedure names and
//! source lines; compile errors name file:line:col with the source line.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sigma_cli::{report_error, run_program, RunArgs, EXIT_LOAD_ERROR};
use sigma_lisp::{compile_chunks, compile_verified, format_trap, verified, CompileOptions};
use sigma_vm::{Module, ModuleInfo};

#[derive(Parser)]
#[command(
    name = "slisp",
    version,
    about = "Scheme on the Sigma virtual machine (no command: a REPL)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Compile a Scheme program (.scm) in memory and run it.
    ///
    /// All `sigma run` flags apply; `(command-line)` returns the arguments after `--`. The
    /// exit status is 0, the status given to `exit`, 1 after a run-time error, 2 for a
    /// compile error.
    Run(RunArgs),
    /// Compile a Scheme program to a .sbc module (run it with `sigma run`).
    Compile(CompileArgs),
    /// Start the read-eval-print loop (the default).
    Repl(ReplArgs),
}

#[derive(clap::Args)]
struct CompileArgs {
    /// The program (.scm).
    file: PathBuf,
    /// The output file (default: the input with extension .sbc).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(clap::Args, Default)]
struct ReplArgs {
    /// Interpret only (no JIT) in the REPL.
    #[arg(long)]
    no_jit: bool,
}

/// Reads and compiles a Scheme file; on failure reports it and returns the exit status.
fn compile_file(path: &Path) -> Result<(Module, ModuleInfo), i32> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        report_error("slisp", &format!("cannot read {}: {e}", path.display()));
        EXIT_LOAD_ERROR
    })?;
    let name = path.display().to_string();
    compile_verified(&src, &name, &CompileOptions::default()).map_err(|e| {
        eprintln!("{e}");
        EXIT_LOAD_ERROR
    })
}

fn run(args: RunArgs) -> i32 {
    let (module, info) = match compile_file(&args.file) {
        Ok(m) => m,
        Err(code) => return code,
    };
    run_program(
        "slisp",
        &module,
        &info,
        Some(&args.file),
        &args.flags,
        &args.args,
        &|t| eprintln!("{}", format_trap(t)),
    )
}

fn compile(args: CompileArgs) -> i32 {
    let (module, _) = match compile_file(&args.file) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let out = args
        .output
        .unwrap_or_else(|| args.file.with_extension("sbc"));
    let bytes = sigma_vm::runtime::encode(&module);
    if let Err(e) = std::fs::write(&out, bytes) {
        report_error("slisp", &format!("cannot write {}: {e}", out.display()));
        return EXIT_LOAD_ERROR;
    }
    0
}

/// Guest output in the REPL: the first `skip` bytes (what earlier inputs already printed when
/// the session is replayed) are dropped, the rest goes to stdout.
struct Skipping {
    skip: usize,
    seen: std::rc::Rc<std::cell::Cell<usize>>,
}

impl Write for Skipping {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let seen = self.seen.get();
        let start = self.skip.saturating_sub(seen).min(b.len());
        self.seen.set(seen + b.len());
        if start < b.len() {
            std::io::stdout().write_all(&b[start..])?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

/// The REPL. The session is the list of accepted inputs; each new input is compiled with
/// them into one program that is run from the start on a fresh Vm, its output before the new
/// input's (already shown) skipped. An input that fails to compile or traps is dropped.
fn repl(args: ReplArgs) -> i32 {
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            report_error("slisp", &format!("cannot start the line editor: {e}"));
            return EXIT_LOAD_ERROR;
        }
    };
    // History is kept for people at a terminal, not for input piped in.
    let history = std::env::var_os("HOME")
        .filter(|_| std::io::stdin().is_terminal())
        .map(|h| PathBuf::from(h).join(".slisp_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let mut session: Vec<String> = Vec::new();
    let mut shown = 0usize;
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "slisp> "
        } else {
            "  ...> "
        };
        let line = match editor.readline(prompt) {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(_) => break,
        };
        pending.push_str(&line);
        pending.push('\n');
        if pending.trim().is_empty() {
            pending.clear();
            continue;
        }
        let mut chunks: Vec<&str> = session.iter().map(String::as_str).collect();
        chunks.push(&pending);
        let opts = CompileOptions { repl_print: true };
        let compiled = compile_chunks(&chunks, "<repl>", &opts).and_then(|m| verified(m, "<repl>"));
        let (module, info) = match compiled {
            Err(e) if e.incomplete => continue,
            Err(e) => {
                let _ = editor.add_history_entry(pending.trim_end());
                eprintln!("{e}");
                pending.clear();
                continue;
            }
            Ok(m) => m,
        };
        let _ = editor.add_history_entry(pending.trim_end());
        let mut config = sigma_vm::VmConfig::default();
        if args.no_jit {
            config.jit.mode = sigma_vm::JitMode::Off;
        }
        let mut vm = sigma_vm::new_vm(config);
        let seen = std::rc::Rc::new(std::cell::Cell::new(0));
        vm.set_stdout(Box::new(Skipping {
            skip: shown,
            seen: seen.clone(),
        }));
        vm.set_stdin(Box::new(std::io::empty()));
        let result = vm
            .load(&module, &info)
            .map_err(|e| e.to_string())
            .and_then(|m| sigma_vm::main_function(&vm, m).map_err(|e| e.to_string()))
            .map(|main| sigma_vm::run_main(&mut vm, main, &[]));
        let _ = vm.flush();
        match result {
            Err(e) => eprintln!("slisp: {e}"),
            Ok(Err(sigma_vm::Stop::Trap(t))) => eprintln!("{}", format_trap(&t)),
            Ok(Err(sigma_vm::Stop::Exit(code))) => return code,
            Ok(Ok(_)) => {
                shown = seen.get();
                session.push(std::mem::take(&mut pending));
            }
        }
        pending.clear();
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    0
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let status = sigma_vm::with_guest_stack(move || match cli.command {
        Some(Command::Run(a)) => run(a),
        Some(Command::Compile(a)) => compile(a),
        Some(Command::Repl(a)) => repl(a),
        None => repl(ReplArgs::default()),
    });
    match status {
        Ok(s) => ExitCode::from(s as u8),
        Err(e) => {
            report_error("slisp", &e);
            ExitCode::from(EXIT_LOAD_ERROR as u8)
        }
    }
}
