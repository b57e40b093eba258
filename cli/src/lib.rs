//! Shared plumbing of the `sigma`, `sbas` and `sbdump` binaries (and of front-end tools such as
//! `slisp`): the `run` flags, running a loaded program the way `sigma run` does, and reporting
//! errors and traps in a consistent format. The binaries themselves only parse flags and print;
//! the work is done by the `sigma_vm` libraries.

pub mod bench;

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use sigma_vm::{
    exit_status, main_function, new_vm, parse_size, run_main, Capabilities, HeapConfig, JitConfig,
    JitMode, Module, ModuleInfo, Stop, Trap, VmConfig,
};

/// A program to run, its `run` flags and its arguments (`sigma run`, `slisp run`).
#[derive(clap::Args, Clone, Debug)]
pub struct RunArgs {
    /// The program file.
    pub file: PathBuf,
    #[command(flatten)]
    pub flags: RunFlags,
    /// Arguments for the program (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// The flags of `sigma run` (shared by every tool that runs programs, e.g. `slisp run`).
#[derive(clap::Args, Clone, Debug)]
pub struct RunFlags {
    /// Register-stack capacity in values (16 bytes each).
    #[arg(long, default_value_t = VmConfig::default().stack_slots)]
    pub stack_slots: usize,
    /// Most nested calls before a StackOverflow trap.
    #[arg(long, default_value_t = VmConfig::default().max_call_depth)]
    pub max_call_depth: usize,
    /// Heap limit (e.g. 64MB, 2GB): past it, after a full collection, allocation traps with
    /// OutOfMemory.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GB")]
    pub heap_limit: usize,
    /// Collect garbage at every allocation and poison freed memory (slow; for testing).
    #[arg(long)]
    pub gc_stress: bool,
    /// Print garbage-collector statistics to stderr when the program ends.
    #[arg(long)]
    pub stats: bool,
    /// Compile hot functions to native code (`on`), every function at load (`eager`), or
    /// only interpret (`off`).
    #[arg(long, value_enum, default_value_t = Jit::On)]
    pub jit: Jit,
    /// Hotness (calls plus loop iterations) at which a function is compiled.
    #[arg(long, default_value_t = JitConfig::default().threshold)]
    pub jit_threshold: u32,
    /// Print a line to stderr for every compilation, OSR entry and deoptimization.
    #[arg(long)]
    pub trace_jit: bool,
    /// A directory to search for imported modules (repeatable; after the program's own
    /// directory, before `SIGMA_PATH`).
    #[arg(short = 'L', value_name = "DIR")]
    pub module_dirs: Vec<PathBuf>,
    /// Stop the program with an Interrupted trap after this many ticks (calls plus loop
    /// iterations; compiled code does not count calls of functions with no loop or call).
    #[arg(long, value_name = "TICKS")]
    pub fuel: Option<u64>,
    /// Deny the program every host capability: FFI, files, environment variables and ending
    /// the process (each use traps with PermissionDenied).
    #[arg(long)]
    pub sandbox: bool,
}

/// `--jit` values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Jit {
    /// Interpret only.
    Off,
    /// Compile hot functions.
    On,
    /// Compile every function when loaded.
    Eager,
}

impl RunFlags {
    /// The Vm configuration these flags ask for.
    pub fn vm_config(&self) -> VmConfig {
        VmConfig {
            stack_slots: self.stack_slots,
            max_call_depth: self.max_call_depth,
            heap: HeapConfig {
                limit: Some(self.heap_limit),
                stress: self.gc_stress,
                ..HeapConfig::default()
            },
            jit: JitConfig {
                mode: match self.jit {
                    Jit::Off => JitMode::Off,
                    Jit::On => JitMode::On,
                    Jit::Eager => JitMode::Eager,
                },
                threshold: self.jit_threshold.max(1),
                trace: self.trace_jit,
            },
            capabilities: if self.sandbox {
                Capabilities::NONE
            } else {
                Capabilities::ALL
            },
        }
    }
}

/// The module search path after the program's directory: `-L` directories, then the entries
/// of `SIGMA_PATH` (colon-separated).
pub fn module_paths(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut paths = dirs.to_vec();
    if let Some(env) = std::env::var_os("SIGMA_PATH") {
        paths.extend(std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()));
    }
    paths
}

/// Runs a loaded program the way `sigma run` does: a Vm configured by `flags` (Ctrl-C
/// interrupts the guest, output block-buffered unless stdout is a terminal), its exported
/// `main` called with `args`; traps are printed with `report` (after guest output is
/// flushed). Returns the process exit status. `path` is the program's file, if any (its
/// directory is searched for imports).
pub fn run_program(
    tool: &str,
    module: &Module,
    info: &ModuleInfo,
    path: Option<&Path>,
    flags: &RunFlags,
    args: &[String],
    report: &dyn Fn(&Trap),
) -> i32 {
    let mut vm = new_vm(flags.vm_config());
    vm.set_fuel(flags.fuel);
    // Ctrl-C stops the guest with an Interrupted trap (and its backtrace); a second Ctrl-C
    // before the guest noticed the first (it may be blocked reading input) ends the process.
    let interrupt = vm.interrupt_handle();
    let _ = ctrlc::set_handler(move || {
        if interrupt.is_pending() {
            std::process::exit(EXIT_INTERRUPTED);
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
    for dir in module_paths(&flags.module_dirs) {
        vm.add_module_path(dir);
    }
    let stop_status = |stop: &Stop| match stop {
        Stop::Exit(code) => *code,
        Stop::Trap(t) => {
            report(t);
            if t.kind == sigma_vm::TrapKind::Interrupted {
                EXIT_INTERRUPTED
            } else {
                EXIT_TRAP
            }
        }
    };
    let loaded = match path {
        Some(p) => vm.load_from(module, info, p),
        None => vm.load(module, info),
    };
    let status = match loaded {
        Err(sigma_vm::LinkError::Init { stop, .. }) => {
            let _ = vm.flush();
            stop_status(&stop)
        }
        Err(e) => {
            report_error(tool, &sigma_vm::Error::Link(e));
            EXIT_LOAD_ERROR
        }
        Ok(m) => match main_function(&vm, m) {
            Err(e) => {
                report_error(tool, &e);
                EXIT_LOAD_ERROR
            }
            Ok(main) => {
                let result = run_main(&mut vm, main, args);
                let _ = vm.flush();
                match &result {
                    Err(stop) => stop_status(stop),
                    Ok(_) => exit_status(&result),
                }
            }
        },
    };
    if flags.stats {
        eprintln!("{}", format_stats(&vm.gc_stats()));
    }
    let _ = std::io::stdout().flush();
    status
}

/// Exit status for usage, load, verification and link errors.
pub const EXIT_LOAD_ERROR: i32 = 2;
/// Exit status when the guest program traps.
pub const EXIT_TRAP: i32 = 1;
/// Exit status when the program was interrupted (Ctrl-C, as a shell reports SIGINT) or ran out
/// of fuel.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Prints a trap (kind, message, backtrace) to stderr.
pub fn report_trap(trap: &Trap) {
    let _ = writeln!(std::io::stderr(), "error: {trap}");
}

/// Collector statistics, as `sigma run --stats` prints them (plus the process's peak
/// resident memory where the OS reports it).
pub fn format_stats(s: &sigma_vm::GcStats) -> String {
    let mut text = format!(
        "gc: {} collections, {} bytes allocated, {} bytes live ({} objects), heap peak {} bytes, pause total {:.3} ms, max {:.3} ms\ngc: {} minor collections, {} full",
        s.collections,
        s.bytes_allocated,
        s.live_bytes,
        s.live_objects,
        s.peak_bytes,
        s.total_pause.as_secs_f64() * 1e3,
        s.max_pause.as_secs_f64() * 1e3,
        s.minor_collections,
        s.collections - s.minor_collections
    );
    if let Some(kb) = peak_rss_kb() {
        text.push_str(&format!("\nprocess: peak resident memory {kb} KB"));
    }
    text
}

/// The process's peak resident set size in KiB (Linux: `VmHWM` of /proc/self/status).
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Prints an error to stderr with the tool's name.
pub fn report_error(tool: &str, e: &dyn std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{tool}: {e}");
}
