//! Shared plumbing of the `sigma`, `sbas` and `sbdump` binaries: reporting errors and traps in a
//! consistent format. The binaries themselves only parse flags and print; the work is done by
//! the `sigma_vm` libraries.

use std::io::Write;

use sigma_vm::{Stop, Trap};

/// Exit status for usage, load, verification and link errors.
pub const EXIT_LOAD_ERROR: i32 = 2;
/// Exit status when the guest program traps.
pub const EXIT_TRAP: i32 = 1;

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
            EXIT_TRAP
        }
    }
}

/// One line of collector statistics, as `sigma run --stats` prints them.
pub fn format_stats(s: &sigma_vm::GcStats) -> String {
    format!(
        "gc: {} collections, {} bytes allocated, {} bytes live ({} objects), peak {} bytes, pause total {:.3} ms, max {:.3} ms",
        s.collections,
        s.bytes_allocated,
        s.live_bytes,
        s.live_objects,
        s.peak_bytes,
        s.total_pause.as_secs_f64() * 1e3,
        s.max_pause.as_secs_f64() * 1e3
    )
}

/// Prints an error to stderr with the tool's name.
pub fn report_error(tool: &str, e: &dyn std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{tool}: {e}");
}
