//! `sigma`: run Sigma programs.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sigma_cli::{report_error, report_stop, EXIT_LOAD_ERROR};
use sigma_vm::{
    exit_status, load_file, main_function, new_vm, parse_size, run_main, Capabilities, HeapConfig,
    JitConfig, JitMode, VmConfig,
};

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
        module_paths: module_paths(&args.module_dirs),
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

#[derive(clap::Args)]
struct RunArgs {
    /// The program: a .sbc or .sbas file.
    file: PathBuf,
    /// Register-stack capacity in values (16 bytes each).
    #[arg(long, default_value_t = VmConfig::default().stack_slots)]
    stack_slots: usize,
    /// Most nested calls before a StackOverflow trap.
    #[arg(long, default_value_t = VmConfig::default().max_call_depth)]
    max_call_depth: usize,
    /// Heap limit (e.g. 64MB, 2GB): past it, after a full collection, allocation traps with
    /// OutOfMemory.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GB")]
    heap_limit: usize,
    /// Collect garbage at every allocation and poison freed memory (slow; for testing).
    #[arg(long)]
    gc_stress: bool,
    /// Print garbage-collector statistics to stderr when the program ends.
    #[arg(long)]
    stats: bool,
    /// Compile hot functions to native code (`on`), every function at load (`eager`), or
    /// only interpret (`off`).
    #[arg(long, value_enum, default_value_t = Jit::On)]
    jit: Jit,
    /// Hotness (calls plus loop iterations) at which a function is compiled.
    #[arg(long, default_value_t = JitConfig::default().threshold)]
    jit_threshold: u32,
    /// Print a line to stderr for every compilation, OSR entry and deoptimization.
    #[arg(long)]
    trace_jit: bool,
    /// A directory to search for imported modules (repeatable; after the program's own
    /// directory, before `SIGMA_PATH`).
    #[arg(short = 'L', value_name = "DIR")]
    module_dirs: Vec<PathBuf>,
    /// Stop the program with an Interrupted trap after this many ticks (calls plus loop
    /// iterations).
    #[arg(long, value_name = "TICKS")]
    fuel: Option<u64>,
    /// Deny the program every host capability: FFI, files, environment variables and ending
    /// the process (each use traps with PermissionDenied).
    #[arg(long)]
    sandbox: bool,
    /// Arguments for the program (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Jit {
    Off,
    On,
    Eager,
}

fn run(args: RunArgs) -> i32 {
    let (module, info) = match load_file(&args.file) {
        Ok(m) => m,
        Err(e) => {
            report_error("sigma", &e);
            return EXIT_LOAD_ERROR;
        }
    };
    let mut vm = new_vm(VmConfig {
        stack_slots: args.stack_slots,
        max_call_depth: args.max_call_depth,
        heap: HeapConfig {
            limit: Some(args.heap_limit),
            stress: args.gc_stress,
            ..HeapConfig::default()
        },
        jit: JitConfig {
            mode: match args.jit {
                Jit::Off => JitMode::Off,
                Jit::On => JitMode::On,
                Jit::Eager => JitMode::Eager,
            },
            threshold: args.jit_threshold.max(1),
            trace: args.trace_jit,
        },
        capabilities: if args.sandbox {
            Capabilities::NONE
        } else {
            Capabilities::ALL
        },
    });
    vm.set_fuel(args.fuel);
    // Ctrl-C stops the guest with an Interrupted trap (and its backtrace); a second Ctrl-C
    // before the guest noticed the first (it may be blocked reading input) ends the process.
    let interrupt = vm.interrupt_handle();
    let _ = ctrlc::set_handler(move || {
        if interrupt.is_pending() {
            std::process::exit(sigma_cli::EXIT_INTERRUPTED);
        }
        interrupt.interrupt();
    });
    // Block-buffer guest output unless a person is watching it live.
    if !std::io::stdout().is_terminal() {
        vm.set_stdout(Box::new(BufWriter::with_capacity(
            1 << 16,
            std::io::stdout(),
        )));
    }
    for dir in module_paths(&args.module_dirs) {
        vm.add_module_path(dir);
    }
    let status = match vm.load_from(&module, &info, &args.file) {
        Err(sigma_vm::LinkError::Init { stop, .. }) => {
            let _ = vm.flush();
            report_stop(&stop)
        }
        Err(e) => {
            report_error("sigma", &sigma_vm::Error::Link(e));
            EXIT_LOAD_ERROR
        }
        Ok(m) => match main_function(&vm, m) {
            Err(e) => {
                report_error("sigma", &e);
                EXIT_LOAD_ERROR
            }
            Ok(main) => {
                let result = run_main(&mut vm, main, &args.args);
                let _ = vm.flush();
                match &result {
                    Err(stop) => report_stop(stop),
                    Ok(_) => exit_status(&result),
                }
            }
        },
    };
    if args.stats {
        eprintln!("{}", sigma_cli::format_stats(&vm.gc_stats()));
    }
    let _ = std::io::stdout().flush();
    status
}

/// The module search path after the program's directory: `-L` directories, then the entries
/// of `SIGMA_PATH` (colon-separated).
fn module_paths(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut paths = dirs.to_vec();
    if let Some(env) = std::env::var_os("SIGMA_PATH") {
        paths.extend(std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()));
    }
    paths
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
