//! Shared plumbing of the `sigma`, `sbas` and `sbdump` binaries: reporting errors and traps in a
//! consistent format. The binaries themselves only parse flags and print; the work is done by
//! the `sigma_vm` libraries.

pub mod bench;

use std::io::Write;

use sigma_vm::{Stop, Trap};

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

/// Prints how a run stopped, if it was a trap, and returns the process exit status.
pub fn report_stop(stop: &Stop) -> i32 {
    match stop {
        Stop::Exit(code) => *code,
        Stop::Trap(t) => {
            report_trap(t);
            if t.kind == sigma_vm::TrapKind::Interrupted {
                EXIT_INTERRUPTED
            } else {
                EXIT_TRAP
            }
        }
    }
}

/// Collector statistics, as `sigma run --stats` prints them (plus the process's peak
/// resident memory where the OS reports it).
pub fn format_stats(s: &sigma_vm::GcStats) -> String {
    let mut text = format!(
        "gc: {} collections, {} bytes allocated, {} bytes live ({} objects), heap peak {} bytes, pause total {:.3} ms, max {:.3} ms",
        s.collections,
        s.bytes_allocated,
        s.live_bytes,
        s.live_objects,
        s.peak_bytes,
        s.total_pause.as_secs_f64() * 1e3,
        s.max_pause.as_secs_f64() * 1e3
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
