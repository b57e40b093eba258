//! Record facts: which `any` registers certainly hold a record of a known type before each
//! instruction, so that field accesses on them skip their type checks (a list walk checks that
//! a value is a pair once, not at every `car` and `cdr` of it).
//!
//! A forward must-analysis over the bytecode. Facts come from instructions after which the
//! compiled code continues only if the type holds:
//!
//! - `getf` and `setf` of a field of record type T: their inline check fails to a step of the
//!   interpreter's instruction, which traps on any value that is not a T;
//! - `new` of record type T: its result;
//! - a branch on the result of an `is` test of a record type right before it (`jumpif`,
//!   `jumpifnot`, or `jeq`/`jne` against `false`), on the edge where the test held — only when
//!   no other edge enters the branch, so the tested register is the one `is` read.
//!
//! A write to a register (a `move` also clears its source) drops its fact; a merge keeps the
//! facts every predecessor agrees on. Function entry knows nothing, and neither do loop
//! headers: on-stack replacement enters there with an interpreter frame, which this analysis
//! has not seen. Only `any` registers get facts (typed registers have their declared type).
//!
//! Invariant: a fact holds on every path the compiled code takes to the instruction, so the
//! translator may lower an access that needs it without a check.

use sigma_runtime::module::{Constant, Function, Module, Operand};
use sigma_runtime::opcodes::Opcode;
use sigma_runtime::types::Type;
use sigma_runtime::verify::{CheckSite, FuncInfo, RuntimeCheck};

/// What is known of each register: `Some(t)` if it certainly holds a record of type index `t`.
type State = Vec<Option<u32>>;

/// Record facts before each instruction of one function.
pub(crate) struct RecordFacts {
    /// Per pc (`None`: unreachable), the record type each register certainly holds.
    before: Vec<Option<State>>,
}

impl RecordFacts {
    /// The record type register `r` certainly holds before instruction `pc`, if any.
    pub(crate) fn of(&self, pc: usize, r: u32) -> Option<u32> {
        self.before
            .get(pc)
            .and_then(|s| s.as_ref())
            .and_then(|s| s.get(r as usize).copied().flatten())
    }

    /// The verifier's run-time checks of instruction `pc` that these facts do not prove
    /// already: an operand check of a record type on a register certainly holding one needs
    /// no code.
    pub(crate) fn needed_checks<'a>(
        &'a self,
        f: &'a Function,
        info: &'a FuncInfo,
        pc: usize,
    ) -> impl Iterator<Item = RuntimeCheck> + 'a {
        info.checks_at(pc as u32)
            .iter()
            .filter(move |c| match (c.site, c.ty) {
                (CheckSite::Operand(n), Type::Record(ti)) => !matches!(
                    f.code[pc].operands.get(n as usize),
                    Some(Operand::Reg(r)) if self.of(pc, *r) == Some(ti)
                ),
                _ => true,
            })
            .copied()
    }

    /// Runs the analysis over `f` (of module `m`), whose loop headers are `headers` (sorted).
    pub(crate) fn analyze(m: &Module, f: &Function, headers: &[u32]) -> RecordFacts {
        let n = f.code.len();
        let nregs = f.regs.len();
        let mut before: Vec<Option<State>> = vec![None; n];
        if n == 0 {
            return RecordFacts { before };
        }
        let leaders = crate::translate::leaders(f);
        let header = |pc: usize| headers.binary_search(&(pc as u32)).is_ok();
        before[0] = Some(vec![None; nregs]);
        let mut work = vec![0usize];
        while let Some(pc) = work.pop() {
            let Some(state) = before[pc].clone() else {
                continue;
            };
            for (succ, out) in transfer(m, f, pc, state, &leaders) {
                let incoming = if header(succ) || succ == 0 {
                    vec![None; nregs]
                } else {
                    out
                };
                let changed = match &mut before[succ] {
                    slot @ None => {
                        *slot = Some(incoming);
                        true
                    }
                    Some(old) => {
                        let mut changed = false;
                        for (o, new) in old.iter_mut().zip(&incoming) {
                            if o.is_some() && *o != *new {
                                *o = None;
                                changed = true;
                            }
                        }
                        changed
                    }
                };
                if changed {
                    work.push(succ);
                }
            }
        }
        RecordFacts { before }
    }
}

/// The states instruction `pc` passes to each of its successors, from `state` before it.
fn transfer(
    m: &Module,
    f: &Function,
    pc: usize,
    mut state: State,
    leaders: &[usize],
) -> Vec<(usize, State)> {
    use Opcode::*;
    let ins = &f.code[pc];
    let ops = &ins.operands[..];
    let any = |r: u32| f.regs.get(r as usize) == Some(&Type::Any);
    // What the instruction proves of an operand it reads (before its own writes apply).
    let proved = match (ins.op, ops) {
        (GetF, [_, Operand::Reg(obj), Operand::Field(ti, _)]) => Some((*obj, *ti)),
        (SetF, [Operand::Reg(obj), Operand::Field(ti, _), ..]) => Some((*obj, *ti)),
        _ => None,
    };
    let written = crate::sync::writes(f, pc);
    for &r in &written {
        state[r as usize] = None;
    }
    if let Some((obj, ti)) = proved {
        if any(obj) && !written.contains(&obj) {
            state[obj as usize] = Some(ti);
        }
    }
    if let (New, [Operand::Reg(dst), Operand::Type(Type::Record(ti)), ..]) = (ins.op, ops) {
        if any(*dst) {
            state[*dst as usize] = Some(*ti);
        }
    }
    let succs = crate::sync::successors(f, pc);
    // A branch on an `is` test of a record type: the edge where the test held learns it.
    // Right after an `is`, which falls through, the branch starts a block only if some
    // instruction jumps to it.
    let tested = (pc > 0 && leaders.binary_search(&pc).is_err())
        .then(|| &f.code[pc - 1])
        .and_then(|prev| match (prev.op, &prev.operands[..]) {
            (Is, [Operand::Reg(res), Operand::Reg(val), Operand::Type(Type::Record(ti))])
                if res != val && any(*val) =>
            {
                Some((*res, *val, *ti))
            }
            _ => None,
        });
    let held_on_jump = tested.and_then(|(res, val, ti)| {
        let is_false = |op: &Operand| {
            matches!(op, Operand::Const(k)
                if matches!(m.consts.get(*k as usize), Some(Constant::Bool(false))))
        };
        let on_jump = match (ins.op, ops) {
            (JumpIf, [Operand::Reg(c), Operand::Label(_)]) if *c == res => true,
            (JumpIfNot, [Operand::Reg(c), Operand::Label(_)]) if *c == res => false,
            (Jne, [Operand::Reg(c), k, Operand::Label(_)]) if *c == res && is_false(k) => true,
            (Jeq, [Operand::Reg(c), k, Operand::Label(_)]) if *c == res && is_false(k) => false,
            _ => return None,
        };
        Some((on_jump, val, ti))
    });
    let target = ops.iter().find_map(|op| match op {
        Operand::Label(l) => Some(*l as usize),
        _ => None,
    });
    succs
        .into_iter()
        .map(|s| {
            let mut out = state.clone();
            if let Some((on_jump, val, ti)) = held_on_jump {
                // A branch to the next instruction takes both edges: learn nothing there.
                let jumped = Some(s) == target;
                if jumped == on_jump && target != Some(pc + 1) {
                    out[val as usize] = Some(ti);
                }
            }
            (s, out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The facts of function `name` in `src`, with the interpreter's loop headers.
    fn facts_of(src: &str, name: &str) -> (Function, RecordFacts) {
        let (m, _) = sigma_runtime::asm::assemble(src, "t.sbas").expect("assembles");
        let f = m
            .functions
            .iter()
            .find(|f| f.name == name)
            .expect("function")
            .clone();
        let headers = sigma_interp::loop_headers(&f);
        let facts = RecordFacts::analyze(&m, &f, &headers);
        (f, facts)
    }

    const TYPES: &str = ".type pair { car, cdr }\n.type box { value }\n";

    #[test]
    fn accesses_allocations_and_tests_prove_record_types() {
        let src = format!(
            "{TYPES}
.func f(l, v)
    .reg a, t, n
    getf    a, l, pair.car
    getf    a, l, pair.cdr
    new     n, box, a
    is      t, v, pair
    jumpifnot t, no
    getf    a, v, pair.car
    ret     a
no:
    ret     n
.end"
        );
        let (_, facts) = facts_of(&src, "f");
        let (l, v, n) = (0, 1, 4);
        assert_eq!(facts.of(0, l), None);
        assert_eq!(facts.of(1, l), Some(0));
        assert_eq!(facts.of(3, n), Some(1));
        // The test held on the fall-through edge only.
        assert_eq!(facts.of(4, v), None);
        assert_eq!(facts.of(5, v), Some(0));
        assert_eq!(facts.of(7, v), None);
        assert_eq!(facts.of(7, l), Some(0));
    }

    #[test]
    fn writes_merges_and_loop_headers_forget() {
        let src = format!(
            "{TYPES}
.func g(l, k)
    .reg a
    getf    a, l, pair.car
    jeq     k, 0, join
    copy    l, k
join:
    getf    a, l, pair.cdr
loop:
    getf    a, l, pair.car
    jump    loop
.end"
        );
        let (_, facts) = facts_of(&src, "g");
        let l = 0;
        assert_eq!(facts.of(2, l), Some(0));
        // Written on one incoming edge: unknown at the join.
        assert_eq!(facts.of(3, l), None);
        assert_eq!(facts.of(4, l), None, "a loop header knows nothing");
        assert_eq!(facts.of(5, l), Some(0));
    }
}
