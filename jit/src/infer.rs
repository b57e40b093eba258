//! Kind inference for `any` registers: which of them certainly hold an int, or certainly hold a
//! float, before each instruction of a function as the translator lowers it.
//!
//! A forward dataflow over the bytecode's basic blocks. Facts come from literals, typed
//! registers, results whose kind the lowering fixes (an int fast path taken after a guard, a
//! float operation) and the guards of speculated instructions (after which their operands are
//! known too). Merges keep only what every predecessor agrees on. Function entry knows nothing
//! (parameters are anything; the registers start nil), and entries by on-stack replacement are
//! not edges of the analysis: the translator checks the frame against the facts at a loop
//! header before it enters there, and declines the entry otherwise.
//!
//! Loop headers speculate too. Where every back edge into a header (a jump from the header or a
//! later pc, or a self tail call into pc 0) brings a register of one kind that the forward edges
//! (earlier pcs, the function's entry) do not, and the header reads it before writing it, the
//! header assumes that kind, and the translator guards the forward edges: their failure deopts
//! to the header (marking its profile `FAILED`, so the next compilation assumes nothing there).
//! The assumptions are checked after the analysis — each must still arrive on every back edge —
//! and dropped (the analysis rerun) when one does not, so loop bodies can drop the tag checks of
//! loop-carried and loop-invariant values.
//!
//! Invariant: the transfer function mirrors the translator's lowering decisions exactly — a fact
//! holds only where the compiled code guarantees it. `speculation` is shared with the
//! translator for that reason.

use sigma_interp::tier::profile;
use sigma_runtime::module::{Constant, Function, Module, Operand};
use sigma_runtime::opcodes::{Opcode, OperandKind};
use sigma_runtime::types::Type;
use sigma_runtime::value::Tag;

/// What is known of a register: nothing, or the tag it certainly holds (`INT` or `FLOAT`).
pub(crate) type Known = u8;
/// Nothing is known.
pub(crate) const UNKNOWN: Known = 0;
/// Certainly an int.
pub(crate) const INT: Known = Tag::Int as u8;
/// Certainly a float.
pub(crate) const FLOAT: Known = Tag::Float as u8;

/// The type a fact stands for (`any` for nothing known).
pub(crate) fn kind_type(k: Known) -> Type {
    match k {
        INT => Type::Int,
        FLOAT => Type::Float,
        _ => Type::Any,
    }
}

/// The tag a generic site speculates on, from its profile bits: the only kind the interpreter
/// saw there (ints go unprofiled, so nothing seen means ints), unless a speculation already
/// failed there.
pub(crate) fn speculation(seen: u8) -> Option<Known> {
    match seen {
        0 | profile::INT => Some(INT),
        profile::FLOAT => Some(FLOAT),
        _ => None,
    }
}

/// Facts before each instruction (`None`: unreachable). Indexed by pc, then register.
pub(crate) struct Facts {
    before: Vec<Option<Box<[Known]>>>,
    /// Per loop header pc, the kinds it assumes (register, kind): its forward edges must guard
    /// them (see the module docs).
    assumed: Vec<Vec<(u32, Known)>>,
}

impl Facts {
    /// The kinds header `pc` assumes, which every forward edge into it must check.
    pub(crate) fn assumed_at(&self, pc: usize) -> &[(u32, Known)] {
        self.assumed.get(pc).map_or(&[], |v| &v[..])
    }

    /// What is known of register `r` before instruction `pc`.
    pub(crate) fn of(&self, pc: usize, r: u32) -> Known {
        self.before
            .get(pc)
            .and_then(|s| s.as_ref())
            .and_then(|s| s.get(r as usize).copied())
            .unwrap_or(UNKNOWN)
    }
}

struct Analysis<'a> {
    m: &'a Module,
    f: &'a Function,
    profile: &'a [u8],
}

impl Analysis<'_> {
    /// What is known of operand `op` in `state`: literals and typed registers by their type.
    fn known(&self, state: &[Known], op: &Operand) -> Known {
        let ty = match op {
            Operand::Reg(r) => {
                let t = self.f.regs[*r as usize];
                if t == Type::Any {
                    return state[*r as usize];
                }
                t
            }
            Operand::Const(k) => match self.m.consts.get(*k as usize) {
                Some(Constant::Int(_)) => Type::Int,
                Some(Constant::Float(_)) => Type::Float,
                _ => Type::Any,
            },
            _ => Type::Any,
        };
        match ty {
            Type::Int => INT,
            Type::Float => FLOAT,
            _ => UNKNOWN,
        }
    }

    /// Records that operand `n` holds `k` (a guard proved it), if it is an `any` register.
    fn prove(&self, state: &mut [Known], ops: &[Operand], n: usize, k: Known) {
        if let Some(Operand::Reg(r)) = ops.get(n) {
            if self.f.regs[*r as usize] == Type::Any {
                state[*r as usize] = k;
            }
        }
    }

    /// Applies instruction `pc` to `state`.
    fn transfer(&self, pc: usize, state: &mut [Known]) {
        use Opcode::*;
        let ins = &self.f.code[pc];
        let ops = &ins.operands[..];
        let k = |n: usize| self.known(state, &ops[n]);
        let spec = speculation(self.profile.get(pc).copied().unwrap_or(0));
        let number = |x: Known| x == INT || x == FLOAT;
        let result: Known = match ins.op {
            Load | Copy | Move => k(1),
            Add | Sub | Mul | Div | Rem => {
                let (a, b) = (k(1), k(2));
                if a == INT && b == INT {
                    INT
                } else if number(a) && number(b) {
                    // Mixed or float operands: the float path (`rem` steps: unknown).
                    if ins.op == Rem {
                        UNKNOWN
                    } else {
                        FLOAT
                    }
                } else if spec == Some(FLOAT) && ins.op != Rem {
                    self.prove(state, ops, 1, FLOAT);
                    self.prove(state, ops, 2, FLOAT);
                    FLOAT
                } else if spec == Some(INT) && !matches!(ins.op, Div | Rem) {
                    self.prove(state, ops, 1, INT);
                    self.prove(state, ops, 2, INT);
                    INT
                } else {
                    UNKNOWN
                }
            }
            Neg | Abs => k(1),
            Itof if k(1) == INT => FLOAT,
            Ftoi if k(1) == FLOAT => INT,
            Sqrt | Floor | Ceil | Trunc | Round if number(k(1)) => FLOAT,
            // A native call's result kind is fixed by the extern's C result type.
            NCall => match ops.get(1) {
                Some(Operand::Extern(e)) => {
                    match self.m.externs.get(*e as usize).map(|x| x.ret.result_type()) {
                        Some(Type::Int) => INT,
                        Some(Type::Float) => FLOAT,
                        _ => UNKNOWN,
                    }
                }
                _ => UNKNOWN,
            },
            Lt | Le | Gt | Ge | Jlt | Jle | Jgt | Jge => {
                // Ordered comparisons with an operand of no known kind speculate on the
                // profiled kind where the other operand allows it (see `Tr::compare`).
                let (a, b) = if matches!(ins.op, Lt | Le | Gt | Ge) {
                    (1, 2)
                } else {
                    (0, 1)
                };
                let (ta, tb) = (
                    self.effective(state, &ops[a]),
                    self.effective(state, &ops[b]),
                );
                if let (true, Some(want)) = (ta == Type::Any || tb == Type::Any, spec) {
                    let want_type = if want == INT { Type::Int } else { Type::Float };
                    let fits = |t: Type| t == Type::Any || t == want_type;
                    if fits(ta) && fits(tb) {
                        self.prove(state, ops, a, want);
                        self.prove(state, ops, b, want);
                    }
                }
                UNKNOWN
            }
            _ => UNKNOWN,
        };
        let writes_dst = ins.op.info().operands.first() == Some(&OperandKind::Dst);
        if writes_dst {
            if let Some(Operand::Reg(r)) = ops.first() {
                if self.f.regs[*r as usize] == Type::Any {
                    state[*r as usize] = result;
                }
            }
        }
        // `move` clears its source.
        if ins.op == Move {
            if let Some(Operand::Reg(r)) = ops.get(1) {
                if ops.first() != ops.get(1) && self.f.regs[*r as usize] == Type::Any {
                    state[*r as usize] = UNKNOWN;
                }
            }
        }
        // Instructions that read and write a register operand (`Reg` kind) leave it unknown.
        for (i, kind) in ins.op.info().operands.iter().enumerate() {
            if *kind == OperandKind::Reg {
                if let Some(Operand::Reg(r)) = ops.get(i) {
                    state[*r as usize] = UNKNOWN;
                }
            }
        }
    }

    /// The operand's type as the translator sees it: its declared type, or for an `any`
    /// register of known kind, that kind.
    fn effective(&self, state: &[Known], op: &Operand) -> Type {
        let declared = sigma_runtime::verify::operand_type(self.m, self.f, op);
        match (declared, op) {
            (Type::Any, Operand::Reg(r)) => kind_type(state[*r as usize]),
            _ => declared,
        }
    }
}

/// Infers the facts of function `f` (of module `m`) given its slow-path profile;
/// `self_tail(pc)` says whether `pc` is a tail call of `f` itself (an edge back to pc 0).
pub(crate) fn infer(
    m: &Module,
    f: &Function,
    profile: &[u8],
    self_tail: &dyn Fn(usize) -> bool,
) -> Facts {
    let n = f.code.len();
    let a = Analysis { m, f, profile };
    let mut assumed: Vec<Vec<(u32, Known)>> = vec![Vec::new(); n];
    if n == 0 {
        return Facts {
            before: Vec::new(),
            assumed,
        };
    }
    let live = live_in(f);
    let mut banned: Vec<(usize, u32)> = Vec::new();
    let mut widenings = 0;
    loop {
        let before = a.run(&assumed);
        let edges = a.header_edges(&before, self_tail);
        // Drop the assumptions a back edge does not bring any more, and rerun.
        let mut dropped = false;
        for (h, list) in assumed.iter_mut().enumerate() {
            list.retain(|&(r, k)| {
                let ok = edges[h]
                    .as_ref()
                    .is_some_and(|e| e.back.as_ref().is_some_and(|b| b[r as usize] == k));
                if !ok {
                    banned.push((h, r));
                    dropped = true;
                }
                ok
            });
        }
        if dropped {
            continue;
        }
        // New assumptions: kinds every back edge brings, the forward edges do not, and the
        // header reads before writing. A few rounds (an assumption can enable another).
        let mut added = false;
        if widenings < 3 {
            for (h, e) in edges.iter().enumerate() {
                let Some(HeaderEdges {
                    back: Some(back),
                    forward,
                }) = e
                else {
                    continue;
                };
                if profile.get(h).copied().unwrap_or(0) & profile::FAILED != 0 {
                    continue;
                }
                for (r, &k) in back.iter().enumerate() {
                    let r32 = r as u32;
                    let fwd = forward.as_ref().map_or(UNKNOWN, |f| f[r]);
                    let eligible = k != UNKNOWN
                        && fwd == UNKNOWN
                        && f.regs[r] == Type::Any
                        && live[h][r]
                        // At the entry only parameters are unknown (the rest hold their
                        // initial values).
                        && (h != 0 || r32 < f.params)
                        && !banned.contains(&(h, r32))
                        && !assumed[h].iter().any(|&(x, _)| x == r32);
                    if eligible {
                        assumed[h].push((r32, k));
                        added = true;
                    }
                }
            }
            widenings += 1;
        }
        if !added {
            return Facts { before, assumed };
        }
    }
}

/// The states arriving at a loop header: the agreement of its back edges and of its forward
/// edges (`None`: no such edge is reachable).
struct HeaderEdges {
    back: Option<Vec<Known>>,
    forward: Option<Vec<Known>>,
}

/// Merges `state` into `acc` (kinds both agree on survive).
fn meet(acc: &mut Option<Vec<Known>>, state: &[Known]) {
    match acc {
        None => *acc = Some(state.to_vec()),
        Some(old) => {
            for (o, new) in old.iter_mut().zip(state) {
                if *o != *new {
                    *o = UNKNOWN;
                }
            }
        }
    }
}

/// Which registers each instruction may read before writing them (backward liveness over
/// the opcode table's operand kinds; `move` reads its source).
fn live_in(f: &Function) -> Vec<Vec<bool>> {
    let n = f.code.len();
    let nregs = f.regs.len();
    let mut live = vec![vec![false; nregs]; n];
    let mut changed = true;
    while changed {
        changed = false;
        for pc in (0..n).rev() {
            let mut state = vec![false; nregs];
            for s in crate::sync::successors(f, pc) {
                for (x, &l) in state.iter_mut().zip(&live[s]) {
                    *x |= l;
                }
            }
            let ins = &f.code[pc];
            let kinds = ins.op.info().operands;
            for (i, op) in ins.operands.iter().enumerate() {
                if let (Operand::Reg(r), Some(OperandKind::Dst)) = (op, kinds.get(i)) {
                    if let Some(x) = state.get_mut(*r as usize) {
                        *x = false;
                    }
                }
            }
            for (i, op) in ins.operands.iter().enumerate() {
                if let Operand::Reg(r) = op {
                    if kinds.get(i) != Some(&OperandKind::Dst) {
                        if let Some(x) = state.get_mut(*r as usize) {
                            *x = true;
                        }
                    }
                }
            }
            if state != live[pc] {
                live[pc] = state;
                changed = true;
            }
        }
    }
    live
}

impl Analysis<'_> {
    /// The forward dataflow, with the headers' assumptions forced at their merges.
    fn run(&self, assumed: &[Vec<(u32, Known)>]) -> Vec<Option<Box<[Known]>>> {
        let f = self.f;
        let n = f.code.len();
        let nregs = f.regs.len();
        let mut before: Vec<Option<Box<[Known]>>> = vec![None; n];
        let mut entry = vec![UNKNOWN; nregs];
        for &(r, k) in &assumed[0] {
            entry[r as usize] = k;
        }
        before[0] = Some(entry.into_boxed_slice());
        // Worklist of block-starting pcs; a block runs to the next leader or terminator.
        let leaders = crate::translate::leaders(f);
        let mut is_leader = vec![false; n];
        for &l in &leaders {
            is_leader[l] = true;
        }
        let mut work = vec![0usize];
        let mut queued = vec![false; n];
        queued[0] = true;
        while let Some(start) = work.pop() {
            queued[start] = false;
            let Some(entry) = before[start].clone() else {
                continue;
            };
            let mut state = entry.into_vec();
            let mut pc = start;
            loop {
                before[pc] = Some(state.clone().into_boxed_slice());
                self.transfer(pc, &mut state);
                // A fallthrough into a non-leader stays in the block (a branch's fallthrough
                // is always a leader, see `leaders`).
                if f.code[pc].op.falls_through() && pc + 1 < n && !is_leader[pc + 1] {
                    pc += 1;
                    continue;
                }
                for s in crate::sync::successors(f, pc) {
                    // Function entry facts are fixed: nothing is known there but what it
                    // assumes.
                    if s == 0 {
                        continue;
                    }
                    let changed = match &mut before[s] {
                        None => {
                            let mut new = state.clone();
                            for &(r, k) in &assumed[s] {
                                new[r as usize] = k;
                            }
                            before[s] = Some(new.into_boxed_slice());
                            true
                        }
                        Some(old) => {
                            let mut changed = false;
                            for (r, (o, new)) in old.iter_mut().zip(&state).enumerate() {
                                if *o != UNKNOWN
                                    && *o != *new
                                    && !assumed[s].iter().any(|&(x, _)| x as usize == r)
                                {
                                    *o = UNKNOWN;
                                    changed = true;
                                }
                            }
                            changed
                        }
                    };
                    if changed && !queued[s] {
                        queued[s] = true;
                        work.push(s);
                    }
                }
                break;
            }
        }
        before
    }

    /// The states the back edges and the forward edges bring to each loop header (`None` for
    /// pcs no back edge reaches).
    fn header_edges(
        &self,
        before: &[Option<Box<[Known]>>],
        self_tail: &dyn Fn(usize) -> bool,
    ) -> Vec<Option<HeaderEdges>> {
        let f = self.f;
        let n = f.code.len();
        let nregs = f.regs.len();
        let mut out: Vec<Option<HeaderEdges>> = (0..n).map(|_| None).collect();
        // Headers first: targets of edges from themselves or later pcs, and pc 0 of a function
        // that tail-calls itself.
        for (pc, state) in before.iter().enumerate() {
            if state.is_none() {
                continue;
            }
            for s in crate::sync::successors(f, pc) {
                if s <= pc {
                    out[s].get_or_insert(HeaderEdges {
                        back: None,
                        forward: None,
                    });
                }
            }
            if self_tail(pc) {
                out[0].get_or_insert(HeaderEdges {
                    back: None,
                    forward: None,
                });
            }
        }
        for (pc, state) in before.iter().enumerate() {
            let Some(state) = state else {
                continue;
            };
            let mut after = state.to_vec();
            self.transfer(pc, &mut after);
            for s in crate::sync::successors(f, pc) {
                if let Some(e) = &mut out[s] {
                    if s <= pc {
                        meet(&mut e.back, &after);
                    } else {
                        meet(&mut e.forward, &after);
                    }
                }
            }
            if self_tail(pc) {
                if let Some(e) = &mut out[0] {
                    // Parameters get the arguments; the other registers their initial values.
                    let mut args = vec![UNKNOWN; nregs];
                    for (i, op) in f.code[pc].operands.iter().skip(1).enumerate() {
                        if i < nregs {
                            args[i] = self.known(state, op);
                        }
                    }
                    meet(&mut e.back, &args);
                }
            }
        }
        out
    }
}
