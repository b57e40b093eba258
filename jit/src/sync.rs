//! Which `any` registers compiled code must store into the frame, and where.
//!
//! `any` registers live in SSA variables; their frame slots are read by the collector (at
//! safepoints), by the interpreter's code run through the step helper (the registers the
//! instruction reads) and after a deopt (which writes every register back itself). The
//! collector must see exactly the values the interpreter would hold — not only the live ones:
//! a dead register still keeps its object alive in the interpreter, and destructors and heap
//! statistics make that observable — so at a safepoint every `any` slot must equal its
//! variable. A forward dataflow over the bytecode (a may-analysis, union at merges) finds the
//! registers whose slots may be *stale* (differ from their variables) before each instruction:
//!
//! - at function entry the parameters are current (they were loaded from the frame); the other
//!   registers hold their initial value (nil), of which the slot has only the tag — not stale
//!   for the collector, which ignores the payload of a non-reference, but *inexact*: a step
//!   that reads such a register stores it first. A function with a tail call is entered again
//!   with every register rewritten, so there all start stale;
//! - instructions that store on every path through their lowering — calls, `callv`,
//!   `dispatch` and the allocations `new`, `closure`, `newarr` — leave every register current;
//! - every instruction leaves the registers it writes stale;
//! - entries by on-stack replacement load every register from the frame, so they add nothing.
//!
//! At a safepoint the translator stores the stale registers only, and a stepped instruction's
//! operands only when inexact: registers unchanged since entry or since the last store are not
//! stored again.
//!
//! Invariant: the staleness facts over-approximate the compiled code's: an instruction gets
//! credit for stores only if its lowering makes them on every path before the frame is read.

use sigma_runtime::module::{Function, Operand};
use sigma_runtime::opcodes::{Opcode, OperandKind};
use sigma_runtime::types::Type;
use sigma_runtime::value::{Tag, Value};

/// A set of registers per instruction, as bit words.
struct Sets {
    words: usize,
    bits: Vec<u64>,
}

impl Sets {
    fn new(pcs: usize, regs: usize) -> Sets {
        let words = regs.div_ceil(64).max(1);
        Sets {
            words,
            bits: vec![0; pcs * words],
        }
    }

    fn row(&self, pc: usize) -> &[u64] {
        &self.bits[pc * self.words..(pc + 1) * self.words]
    }

    fn has(&self, pc: usize, r: u32) -> bool {
        self.row(pc)[r as usize / 64] & (1 << (r % 64)) != 0
    }
}

fn set(row: &mut [u64], r: u32) {
    row[r as usize / 64] |= 1 << (r % 64);
}

/// The registers instruction `pc` writes (a `move` also writes its source, which it clears).
fn writes(f: &Function, pc: usize) -> Vec<u32> {
    let ins = &f.code[pc];
    let kinds = ins.op.info().operands;
    let mut defs = Vec::new();
    for (i, op) in ins.operands.iter().enumerate() {
        if let Operand::Reg(r) = *op {
            let kind = kinds.get(i).copied().unwrap_or(OperandKind::Srcs);
            let moved = ins.op == Opcode::Move && i == 1;
            if (matches!(kind, OperandKind::Dst | OperandKind::Reg) || moved)
                && (r as usize) < f.regs.len()
            {
                defs.push(r);
            }
        }
    }
    defs
}

/// The successors of instruction `pc` (a tail call has none: it leaves the function, or
/// re-enters it with every register rewritten).
fn successors(f: &Function, pc: usize) -> Vec<usize> {
    let ins = &f.code[pc];
    let mut s: Vec<usize> = ins
        .operands
        .iter()
        .filter_map(|op| match op {
            Operand::Label(t) => Some(*t as usize),
            _ => None,
        })
        .collect();
    if ins.op.falls_through() && pc + 1 < f.code.len() {
        s.push(pc + 1);
    }
    s
}

/// Instructions whose lowering stores the registers `must_store` chooses on every path, before
/// anything else can read the frame.
fn stores_always(op: Opcode) -> bool {
    matches!(
        op,
        Opcode::Call
            | Opcode::CallV
            | Opcode::Dispatch
            | Opcode::New
            | Opcode::Closure
            | Opcode::NewArr
    )
}

/// The analyses' results for one function.
pub(crate) struct FrameSync {
    /// `any` registers whose frame slot may be stale for the collector before each
    /// instruction: it may hold a reference the register no longer holds, or lack one it holds.
    stale_in: Sets,
    /// `any` registers whose frame slot may differ from their variables at all before each
    /// instruction: the stale ones, and those whose slot has only the initial value's tag
    /// (the prologue stores no payload for them), which the collector ignores but a step
    /// reading them must not see.
    inexact_in: Sets,
    /// Registers each instruction writes.
    defs: Vec<Vec<u32>>,
    /// Which registers are `any`.
    any: Vec<bool>,
}

impl FrameSync {
    /// Analyzes `f`, whose registers after the parameters start with the values `init`.
    pub(crate) fn analyze(f: &Function, init: &[Value]) -> FrameSync {
        let n = f.code.len();
        let nregs = f.regs.len();
        let any: Vec<bool> = f.regs.iter().map(|t| *t == Type::Any).collect();
        let defs: Vec<Vec<u32>> = (0..n).map(|pc| writes(f, pc)).collect();
        let succ: Vec<Vec<usize>> = (0..n).map(|pc| successors(f, pc)).collect();

        let w = nregs.div_ceil(64).max(1);
        let mut sync = FrameSync {
            stale_in: Sets::new(n, nregs),
            inexact_in: Sets::new(n, nregs),
            defs,
            any,
        };
        if n == 0 {
            return sync;
        }
        // Forward, union at merges; a state is the stale set then the inexact set.
        let tail_calls = f
            .code
            .iter()
            .any(|i| matches!(i.op, Opcode::TailCall | Opcode::TailCallV));
        let mut entry = vec![0u64; 2 * w];
        for r in 0..nregs as u32 {
            if !sync.any[r as usize] {
                continue;
            }
            let initial = init
                .get((r as usize).wrapping_sub(f.params as usize))
                .copied()
                .filter(|_| r >= f.params);
            // Parameters were loaded from the frame. Other registers hold their initial
            // value, whose tag alone is in the slot: exact enough for the collector if it is
            // not a reference. A function that tail-calls may be re-entered with every
            // register rewritten and the slots holding the previous round's values.
            let stale = tail_calls || initial.is_some_and(|v| v.tag >= Tag::Str as u64);
            if stale {
                set(&mut entry[..w], r);
            }
            if stale || initial.is_some() {
                set(&mut entry[w..], r);
            }
        }
        let mut state = vec![0u64; n * 2 * w];
        let mut reached = vec![false; n];
        reached[0] = true;
        state[..2 * w].copy_from_slice(&entry);
        let mut work: Vec<usize> = vec![0];
        while let Some(pc) = work.pop() {
            let mut out = state[pc * 2 * w..(pc + 1) * 2 * w].to_vec();
            if stores_always(f.code[pc].op) {
                // The stale registers are stored (see `stored_at`).
                for i in 0..w {
                    let stored = out[i];
                    out[i] = 0;
                    out[w + i] &= !stored;
                }
            }
            for &d in &sync.defs[pc] {
                if sync.any[d as usize] {
                    set(&mut out[..w], d);
                    set(&mut out[w..], d);
                }
            }
            for &s in &succ[pc] {
                let row = &mut state[s * 2 * w..(s + 1) * 2 * w];
                let mut grew = !reached[s];
                for (x, o) in row.iter_mut().zip(&out) {
                    if *x | o != *x {
                        *x |= o;
                        grew = true;
                    }
                }
                if grew {
                    reached[s] = true;
                    work.push(s);
                }
            }
        }
        for pc in 0..n {
            let row = &state[pc * 2 * w..(pc + 1) * 2 * w];
            sync.stale_in.bits[pc * w..(pc + 1) * w].copy_from_slice(&row[..w]);
            sync.inexact_in.bits[pc * w..(pc + 1) * w].copy_from_slice(&row[w..]);
        }
        sync
    }

    /// Whether `any` register `r`'s frame slot may differ from its value before instruction
    /// `pc` (so a step that reads it must store it first).
    pub(crate) fn inexact(&self, pc: usize, r: u32) -> bool {
        self.inexact_in.has(pc, r)
    }

    /// The `any` registers to store before safepoint `pc`: those whose slots may be stale.
    pub(crate) fn stored_at(&self, pc: usize) -> Vec<u32> {
        (0..self.any.len() as u32)
            .filter(|&r| self.any[r as usize] && self.stale_in.has(pc, r))
            .collect()
    }
}
