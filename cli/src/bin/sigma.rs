//! `sigma`: run Sigma programs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sigma_cli::{report_error, report_trap, run_program, RunArgs, EXIT_LOAD_ERROR};
use sigma_vm::{load_file, JitConfig};

#[derive(Parser)]
#[command(name = "sigma", version, about = "The Sigma virtual machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program (.sbc bytecode or .sbas assembly) by calling its exported `main`.
    ///
    /// The process exit status is `main`'s int result (0 for other results), the status given
    /// to `halt` or `sys exit`, 1 if the program traps, or 130 if it is interrupted (Ctrl-C or
    /// `--fuel`).
    Run(RunArgs),
    /// Time a program with the interpreter alone and with the JIT (fresh Vm per run, in this
    /// process) and print median, min, max and the speedup. Both tiers must print the same
    /// output.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct BenchArgs {
    /// The program: a .sbc or .sbas file.
    file: PathBuf,
    /// Timed runs per tier.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Untimed warm-up runs per tier.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// JIT threshold for the JIT tier.
    #[arg(long, default_value_t = JitConfig::default().threshold)]
    jit_threshold: u32,
    /// A directory to search for imported modules (repeatable; after the program's own
    /// directory, before `SIGMA_PATH`).
    #[arg(short = 'L', value_name = "DIR")]
    module_dirs: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Arguments for the program (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
}

fn bench(args: BenchArgs) -> i32 {
    let (module, info) = match load_file(&args.file) {
        Ok(m) => m,
        Err(e) => {
            report_error("sigma", &e);
            return EXIT_LOAD_ERROR;
        }
    };
    let opts = sigma_cli::bench::BenchOptions {
        runs: args.runs.max(1),
        warmup: args.warmup,
        args: args.args.clone(),
        threshold: args.jit_threshold.max(1),
        path: Some(args.file.clone()),
        module_paths: sigma_cli::module_paths(&args.module_dirs),
    };
    let name = args.file.display().to_string();
    match sigma_cli::bench::bench(&name, &module, &info, &opts) {
        Ok(report) => {
            if args.json {
                println!("{}", report.json());
            } else {
                print!("{}", report.table(opts.runs, opts.warmup));
            }
            0
        }
        Err(e) => {
            report_error("sigma bench", &e);
            1
        }
    }
}

fn run(args: RunArgs) -> i32 {
    let (module, info) = match load_file(&args.file) {
        Ok(m) => m,
        Err(e) => {
            report_error("sigma", &e);
            return EXIT_LOAD_ERROR;
        }
    };
    run_program(
        "sigma",
        &module,
        &info,
        Some(&args.file),
        &args.flags,
        &args.args,
        &|t| report_trap(t),
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Guest code runs on a thread with a large native stack: compiled code recurses on it.
    let status = match cli.command {
        Command::Run(args) => match sigma_vm::with_guest_stack(move || run(args)) {
            Ok(status) => status,
            Err(e) => {
                report_error("sigma", &e);
                EXIT_LOAD_ERROR
            }
        },
        Command::Bench(args) => match sigma_vm::with_guest_stack(move || bench(args)) {
            Ok(status) => status,
            Err(e) => {
                report_error("sigma", &e);
                EXIT_LOAD_ERROR
            }
        },
    };
    ExitCode::from(status as u8)
}
