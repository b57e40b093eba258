//! Stopping a running guest from the outside: the interrupt handle (another thread, or a
//! Ctrl-C handler, asks the guest to stop) and fuel (a budget of work after which it stops).
//!
//! Both tiers count *ticks* — one per call and one per loop iteration (at each loop header) —
//! by decrementing `VmCtx::ticks` (compiled code skips the calls of leaves, functions with
//! neither loops nor calls, whose work is bounded). When it goes below zero, [`Vm::poll`]
//! runs: it delivers a pending interrupt, charges the ticks of the finished slice to the fuel,
//! and starts a new slice of at most [`POLL_SLICE`] ticks. So the hot path is a decrement and a branch, an
//! interrupt is seen within one slice, and fuel is exact to the tick within a tier (the tiers
//! count calls between them slightly differently, so the same program may stop at a different
//! point in each).
//!
//! Invariants: `VmCtx::ticks <= slice`; `slice - ticks` ticks of the current slice are used;
//! with fuel, `slice <= fuel_left`, so a program never runs more than its fuel plus one tick.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sigma_runtime::trap::{OpError, TrapKind};

use crate::vm::Vm;

/// Most ticks between two looks at the interrupt flag.
pub const POLL_SLICE: i64 = 1024;

/// Asks a running guest to stop: its Vm traps with `Interrupted` at the next call or loop
/// iteration, in either tier. Cheap to clone and `Send + Sync`, so another thread or a signal
/// handler can hold one. An interrupt that arrives while no guest code runs stops the next run.
#[derive(Clone, Debug, Default)]
pub struct InterruptHandle(Arc<AtomicBool>);

impl InterruptHandle {
    /// Requests the interrupt.
    pub fn interrupt(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether an interrupt is requested and not yet delivered.
    pub fn is_pending(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

/// The Vm's side of polling.
#[derive(Debug, Default)]
pub(crate) struct PollState {
    pub interrupt: InterruptHandle,
    /// Fuel left at the start of the current slice; `None` is unlimited.
    pub fuel_left: Option<u64>,
    /// Ticks the current slice started with.
    pub slice: i64,
}

impl Vm {
    /// A handle that stops this Vm's guest code with an `Interrupted` trap.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        self.poll.interrupt.clone()
    }

    /// Limits the guest to `fuel` more ticks (calls plus loop iterations) in total, over all
    /// later runs; past it, guest code traps with `Interrupted` until fuel is set again.
    /// `None` removes the limit.
    pub fn set_fuel(&mut self, fuel: Option<u64>) {
        self.poll.fuel_left = fuel;
        self.start_slice();
    }

    /// The fuel left, if limited.
    pub fn fuel(&self) -> Option<u64> {
        let used = (self.poll.slice - self.ctx.ticks).max(0) as u64;
        self.poll.fuel_left.map(|f| f.saturating_sub(used))
    }

    fn start_slice(&mut self) {
        let slice = match self.poll.fuel_left {
            Some(f) => f.min(POLL_SLICE as u64) as i64,
            None => POLL_SLICE,
        };
        self.poll.slice = slice;
        self.ctx.ticks = slice;
    }

    /// Runs when the tick count of a slice is spent: delivers an interrupt or the end of the
    /// fuel as an error, else starts the next slice.
    #[cold]
    #[inline(never)]
    pub(crate) fn poll(&mut self) -> Result<(), OpError> {
        let used = (self.poll.slice - self.ctx.ticks).max(0) as u64;
        let mut out_of_fuel = false;
        if let Some(left) = self.poll.fuel_left {
            out_of_fuel = used > left;
            self.poll.fuel_left = Some(left.saturating_sub(used));
        }
        self.start_slice();
        if self.poll.interrupt.take() {
            return Err(OpError {
                kind: TrapKind::Interrupted,
                message: "the host interrupted the program".into(),
            });
        }
        if out_of_fuel {
            return Err(OpError {
                kind: TrapKind::Interrupted,
                message: "out of fuel".into(),
            });
        }
        Ok(())
    }

    /// `fn(ctx, func, pc) -> status` for compiled code whose tick count ran out.
    pub(crate) fn jit_poll(&mut self, func: u32, pc: u32) -> u32 {
        match self.poll() {
            Ok(()) => crate::tier::status::RETURN,
            Err(e) => {
                let stop = crate::tier::trap_at(self, func, pc, e);
                self.set_pending(stop);
                crate::tier::status::TRAP
            }
        }
    }
}
