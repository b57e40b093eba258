//! Which `any` registers compiled code must store into the frame, and where.
//!
//! `any` registers live in SSA variables; their frame slots are read by the collector (at
//! safepoints), by the interpreter's code run through the step helper (the registers the
//! instruction reads) and after a deopt (which writes every register back itself). The
//! collector must see exactly the references the interpreter would hold — not only the live
//! ones: a dead register still keeps its object alive in the interpreter, and destructors and
//! heap statistics make that observable. It ignores everything else (a slot whose tag is not a
//! reference is skipped whatever it holds), so at a safepoint an `any` slot must equal its
//! variable only if one of the two may be a reference. A forward dataflow over the bytecode
//! tracks, per register before each instruction:
//!
//! - I, *inexact*: the slot may differ from the variable (a may-set, union at merges);
//! - E: the slot may hold the variable's current value (may);
//! - R: the slot may hold some other reference — an old value of the register (may);
//! - N: the register certainly holds its initial value, which is not a reference (a must-set,
//!   intersection at merges).
//!
//! A register's value may be a reference unless kind inference (`infer.rs`, whose facts the
//! lowering guarantees) knows it is a number or N holds; its slot may hold one if R, or if E
//! and its value may. It is *stale* — must be stored before a safepoint — if it is inexact and
//! its slot or its value may hold a reference. So an int computed over a slot that held nil or
//! another int is not stored at calls. The rules:
//!
//! - at function entry the parameters are exact (they were loaded from the frame); the other
//!   registers hold their initial value, of which the slot has only the tag: inexact (a step
//!   that reads one stores it first), and R if that tag is a reference's (it has no payload);
//! - an exact register's slot holds its value and nothing else (E, not R);
//! - instructions that store on every path through their lowering — calls, `callv`,
//!   `dispatch` and the allocations `new`, `closure`, `newarr` — store the stale registers,
//!   which become exact;
//! - any other instruction may store its operands and the stale registers (E), unless its
//!   lowering writes no slot at all (`keeps_frame`: a direct call or tail call without
//!   run-time checks);
//! - an instruction that writes a register makes it inexact (and not N); the slot keeps the old
//!   value (R if E held and the old value may be a reference), and may get the new one (E)
//!   unless `keeps_frame`;
//! - a self tail call is an edge to pc 0 on which every register gets a new value in its
//!   variable (the non-parameters their initial values, N) and no slot is written;
//! - an entry by on-stack replacement at a loop header finds every slot equal to its register:
//!   loop headers add E for every register. (N holds there for the interpreter too: it runs
//!   the same code from the same initial values.)
//!
//! At a safepoint the translator stores the stale registers only, and a stepped instruction's
//! operands only when inexact: registers unchanged since entry or since the last store, and
//! numbers over slots that hold no reference, are not stored.
//!
//! Invariant: the facts over-approximate the compiled code's: an instruction gets credit for
//! stores only if its lowering makes them on every path before the frame is read, and for
//! leaving slots alone only if its lowering writes none.

use crate::infer::{self, Facts};
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

/// The registers instruction `pc` writes (a `move` also writes its source, which it clears).
pub(crate) fn writes(f: &Function, pc: usize) -> Vec<u32> {
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
pub(crate) fn successors(f: &Function, pc: usize) -> Vec<usize> {
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
    /// `any` registers certainly holding their initial (non-reference) value before each
    /// instruction (N).
    initial_in: Sets,
    /// Registers each instruction writes.
    defs: Vec<Vec<u32>>,
    /// Which registers are `any`.
    any: Vec<bool>,
}

impl FrameSync {
    /// Analyzes `f`, whose registers after the parameters start with the values `init`, given
    /// the kind facts the lowering relies on, the pcs of self tail calls (jumps back to pc 0),
    /// the instructions whose lowering writes no slot of the frame but the stale ones it stores
    /// (`keeps_frame`),
    /// and the loop headers (entries by on-stack replacement, `headers`, sorted).
    pub(crate) fn analyze(
        f: &Function,
        init: &[Value],
        facts: &Facts,
        self_tail: &dyn Fn(usize) -> bool,
        keeps_frame: &dyn Fn(usize) -> bool,
        headers: &[u32],
    ) -> FrameSync {
        let n = f.code.len();
        let nregs = f.regs.len();
        let any: Vec<bool> = f.regs.iter().map(|t| *t == Type::Any).collect();
        let defs: Vec<Vec<u32>> = (0..n).map(|pc| writes(f, pc)).collect();
        let succ: Vec<Vec<usize>> = (0..n).map(|pc| successors(f, pc)).collect();

        let w = nregs.div_ceil(64).max(1);
        let mut sync = FrameSync {
            stale_in: Sets::new(n, nregs),
            inexact_in: Sets::new(n, nregs),
            initial_in: Sets::new(n, nregs),
            defs,
            any,
        };
        if n == 0 {
            return sync;
        }
        // A state is four sets of w words (see the module comment): I (inexact), E (the slot may
        // hold the register's current value), R (the slot may hold some other reference) —
        // may-sets, union at merges — and N (the register holds its initial value, not a
        // reference), a must-set, intersection at merges.
        const I: usize = 0;
        const E: usize = 1;
        const R: usize = 2;
        const N: usize = 3;
        let bit = |r: u32| (r as usize / 64, 1u64 << (r % 64));
        let mut any_bits = vec![0u64; w];
        let mut entry = vec![0u64; 4 * w];
        // Self tail calls reset the non-parameter registers to their initial values.
        let mut reset_n = vec![0u64; w];
        for r in 0..nregs as u32 {
            if !sync.any[r as usize] {
                continue;
            }
            let (i, m) = bit(r);
            any_bits[i] |= m;
            if r < f.params {
                // Parameters were loaded from the frame: exact.
                entry[E * w + i] |= m;
                continue;
            }
            // Other registers hold their initial value, whose tag alone is in the slot:
            // inexact; a reference tag (with no payload) must be stored before the collector
            // sees it, so that slot counts as holding a reference.
            entry[I * w + i] |= m;
            match init.get((r - f.params) as usize) {
                Some(v) if v.tag < Tag::Str as u64 => {
                    entry[N * w + i] |= m;
                    reset_n[i] |= m;
                }
                _ => entry[R * w + i] |= m,
            }
        }
        let num = |pc: usize, r: u32| matches!(facts.of(pc, r), infer::INT | infer::FLOAT);
        // The state at `pc` as the instruction sees it (loop headers joined with an entry by
        // on-stack replacement, which finds every slot equal to its register; exact registers'
        // slots hold their values and nothing else), and the registers whose values may be
        // references: all but known numbers and initial non-reference values.
        let adjust = |pc: usize, st: &mut [u64]| -> Vec<u64> {
            let mut valref = vec![0u64; w];
            for r in 0..nregs as u32 {
                let (i, m) = bit(r);
                if sync.any[r as usize] && !num(pc, r) && st[N * w + i] & m == 0 {
                    valref[i] |= m;
                }
            }
            let header = headers.binary_search(&(pc as u32)).is_ok();
            for i in 0..w {
                if header {
                    st[E * w + i] |= any_bits[i];
                }
                let exact = !st[I * w + i] & any_bits[i];
                st[E * w + i] |= exact;
                st[R * w + i] &= !exact;
            }
            valref
        };
        let stale_of = |st: &[u64], valref: &[u64]| -> Vec<u64> {
            (0..w)
                .map(|i| st[I * w + i] & (st[R * w + i] | valref[i]))
                .collect()
        };
        let reads = |pc: usize| -> Vec<u32> {
            f.code[pc]
                .operands
                .iter()
                .filter_map(|o| match o {
                    Operand::Reg(r) if (*r as usize) < nregs => Some(*r),
                    _ => None,
                })
                .collect()
        };
        let mut state = vec![0u64; n * 4 * w];
        let mut reached = vec![false; n];
        reached[0] = true;
        state[..4 * w].copy_from_slice(&entry);
        let mut work: Vec<usize> = vec![0];
        while let Some(pc) = work.pop() {
            let mut out = state[pc * 4 * w..(pc + 1) * 4 * w].to_vec();
            let valref = adjust(pc, &mut out);
            let stale = stale_of(&out, &valref);
            // Whatever this instruction's lowering may store (the stale registers at a
            // safepoint, the operands of a step) may then hold the register's value.
            if !keeps_frame(pc) {
                for i in 0..w {
                    out[E * w + i] |= stale[i];
                }
                for r in reads(pc) {
                    let (i, m) = bit(r);
                    out[E * w + i] |= m & any_bits[i];
                }
            }
            if stores_always(f.code[pc].op) {
                // The stale registers are stored (see `stored_at`): exact now.
                for i in 0..w {
                    out[I * w + i] &= !stale[i];
                    out[E * w + i] |= stale[i];
                    out[R * w + i] &= !stale[i];
                }
            }
            // A register that gets a new value: the slot may still hold the old one.
            let redefine = |o: &mut [u64], i: usize, m: u64| {
                if o[E * w + i] & valref[i] & m != 0 {
                    o[R * w + i] |= m;
                }
                o[E * w + i] &= !m;
                o[I * w + i] |= m;
                o[N * w + i] &= !m;
            };
            let mut edges: Vec<(usize, Vec<u64>)> = Vec::new();
            if self_tail(pc) {
                // A loop back to pc 0: every register gets a new value in its variable (the
                // arguments, or the initial values) and no `any` slot is written.
                let mut o = out.clone();
                for r in 0..nregs as u32 {
                    let (i, m) = bit(r);
                    if any_bits[i] & m != 0 {
                        redefine(&mut o, i, m);
                    }
                }
                for i in 0..w {
                    o[N * w + i] = reset_n[i];
                }
                edges.push((0, o));
            }
            for &d in &sync.defs[pc] {
                let (i, m) = bit(d);
                if any_bits[i] & m != 0 {
                    redefine(&mut out, i, m);
                    // The lowering may write the new value into the slot too (a stepped
                    // instruction's interpreter code does).
                    if !keeps_frame(pc) {
                        out[E * w + i] |= m;
                    }
                }
            }
            for &s in &succ[pc] {
                edges.push((s, out.clone()));
            }
            for (s, o) in edges {
                let row = &mut state[s * 4 * w..(s + 1) * 4 * w];
                let mut grew = !reached[s];
                if !reached[s] {
                    row.copy_from_slice(&o);
                } else {
                    for i in 0..3 * w {
                        if row[i] | o[i] != row[i] {
                            row[i] |= o[i];
                            grew = true;
                        }
                    }
                    for i in 3 * w..4 * w {
                        if row[i] & o[i] != row[i] {
                            row[i] &= o[i];
                            grew = true;
                        }
                    }
                }
                if grew {
                    reached[s] = true;
                    work.push(s);
                }
            }
        }
        for pc in 0..n {
            let mut cur = state[pc * 4 * w..(pc + 1) * 4 * w].to_vec();
            let valref = adjust(pc, &mut cur);
            let stale = stale_of(&cur, &valref);
            sync.stale_in.bits[pc * w..(pc + 1) * w].copy_from_slice(&stale);
            sync.inexact_in.bits[pc * w..(pc + 1) * w].copy_from_slice(&cur[I * w..(I + 1) * w]);
            if reached[pc] {
                sync.initial_in.bits[pc * w..(pc + 1) * w]
                    .copy_from_slice(&cur[N * w..(N + 1) * w]);
            }
        }
        sync
    }

    /// Whether `any` register `r`'s frame slot may differ from its value before instruction
    /// `pc` (so a step that reads it must store it first).
    pub(crate) fn inexact(&self, pc: usize, r: u32) -> bool {
        self.inexact_in.has(pc, r)
    }

    /// Whether `any` register `r` certainly holds its initial value before instruction `pc`.
    pub(crate) fn initial(&self, pc: usize, r: u32) -> bool {
        self.initial_in.has(pc, r)
    }

    /// The `any` registers to store before safepoint `pc`: those whose slots may be stale.
    pub(crate) fn stored_at(&self, pc: usize) -> Vec<u32> {
        (0..self.any.len() as u32)
            .filter(|&r| self.any[r as usize] && self.stale_in.has(pc, r))
            .collect()
    }
}
