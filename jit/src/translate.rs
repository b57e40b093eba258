//! Translation of one verified bytecode function into Cranelift IR.
//!
//! Registers of static type `int`, `float` and `bool` become SSA variables; all others stay in
//! the frame (`regs + 16 * r`: tag word then payload). Each bytecode instruction is lowered
//! inline when there is a fast path (arithmetic, comparisons, branches, moves, globals, record
//! fields, array and bytes access, calls, returns); otherwise — and on every slow or error path
//! of an inline lowering — the step helper runs the interpreter's code for that instruction on
//! the frame, after the SSA variables it reads are written back and before the ones it writes
//! are reloaded. Speculative fast paths for `any` operands (chosen from the interpreter's
//! profile) deoptimize on a failed guard.
//!
//! Invariants: the frame's slots are valid values whenever a helper runs (the prologue stores
//! the interpreter's initial values if the function has any safepoint); no reference lives only
//! in an SSA value across a helper call; every helper status other than "go on" is returned to
//! the caller, with this frame appended to a trap's backtrace when the helper did not add it.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    self, types, AbiParam, Block, BlockArg, InstBuilder, MemFlagsData, SigRef, Signature,
    Value as V,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Switch, Variable};
use sigma_interp::tier::{
    ctx_offset, status, step_mode, CompileRequest, ENTRY_CALL, ENTRY_OSR, ENTRY_WITH_SELF, NO_FUNC,
};
use sigma_runtime::heap::layout;
use sigma_runtime::module::{Constant, Function, Operand};
use sigma_runtime::opcodes::{OpFlags, Opcode, OperandKind};
use sigma_runtime::types::Type;
use sigma_runtime::value::Tag;
use sigma_runtime::verify::{CheckSite, FuncInfo};

use crate::infer::{self, infer, kind_type, Facts};
use crate::records::RecordFacts;
use crate::sync::FrameSync;

const I8: ir::Type = types::I8;
const I32: ir::Type = types::I32;
const I64: ir::Type = types::I64;
const F64: ir::Type = types::F64;

const NIL: i64 = Tag::Nil as i64;
const BOOL: i64 = Tag::Bool as i64;
const INT: i64 = Tag::Int as i64;
const FLOAT: i64 = Tag::Float as i64;

fn mem() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// How a register is held.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Bool,
    /// A reference-typed register: the frame slot always holds its value (the collector scans
    /// it); an SSA variable caches the payload, whose tag the type fixes. Objects do not move,
    /// and the verifier's definite assignment means a read always sees an assigned value.
    Ref(i64),
    /// An `any` register, in SSA variables: the payload (the register's main variable) and
    /// the tag (this one). Written back to the frame at every point where the frame is read:
    /// helper calls, calls (the collector scans the frame) and deopts.
    Any(AnyVars),
}

/// The extra variables of an `any` register. The float view of the payload lets float code
/// keep the value in a float register (no round trips through integer registers); variables
/// that are never read cost nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
struct AnyVars {
    tag: Variable,
    float: Variable,
}

impl Kind {
    /// The zero of the variable's SSA type.
    fn zero(self, b: &mut FunctionBuilder<'_>) -> V {
        match self {
            Kind::Int | Kind::Ref(_) | Kind::Any(_) => b.ins().iconst(I64, 0),
            Kind::Float => b.ins().f64const(0.0),
            Kind::Bool => b.ins().iconst(I8, 0),
        }
    }
}

/// A computed value.
#[derive(Clone, Copy)]
enum Val {
    Int(V),
    Float(V),
    /// An i8 that is 0 or 1.
    Bool(V),
    /// Tag word and payload.
    Gen(V, V),
}

struct Sigs {
    native: SigRef,
    step: SigRef,
    call: SigRef,
    callv: SigRef,
    complete: SigRef,
    unwind: SigRef,
    overflow: SigRef,
    deopt: SigRef,
    compare: SigRef,
    tailv: SigRef,
    poll: SigRef,
    dispatch: SigRef,
    alloc: SigRef,
}

/// An allocation compiled code makes inline (see `Tr::alloc_inline`).
struct InlineAlloc {
    /// The size class and its cell size.
    class: usize,
    cell: usize,
    /// What the helper's collection check would ask room for.
    reserve: usize,
    vtable: usize,
    /// The header's second word.
    header: u64,
    /// The value's tag.
    tag: Tag,
    /// The u32 words after the header (offset, value): a closure's function id and capture
    /// count; none for a record (its vtable identifies its type).
    words: Vec<(usize, u32)>,
    /// The number of field or capture values, which start at `values_off`.
    nargs: u32,
    values_off: usize,
}

/// The outcome of a call: its status (i32) and, when that is RETURN, the result's tag and
/// payload (i64s; from the callee's return registers or from `ctx.ret`).
#[derive(Clone, Copy)]
struct Called {
    st: V,
    tag: V,
    bits: V,
}

impl Called {
    fn args(self) -> [BlockArg; 3] {
        [
            BlockArg::Value(self.st),
            BlockArg::Value(self.tag),
            BlockArg::Value(self.bits),
        ]
    }
}

/// The function a call runs: known when compiling, or computed (an i32 Vm function id).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Callee {
    Static(u32),
    Dynamic(V),
}

/// The signature of compiled functions: `(ctx, regs, entry) -> (word, bits)`. The low half of
/// `word` is the status; on RETURN from compiled code its upper half is the result's tag and
/// `bits` its payload (the result is in `ctx.ret` too, where the interpreter and helpers find
/// it: an `extern "C"` caller expecting a `u32` reads just the status).
pub(crate) fn native_sig(cc: CallConv) -> Signature {
    let mut s = sig(cc, &[I64, I64, I32], Some(I64));
    s.returns.push(AbiParam::new(I64));
    s
}

fn sig(cc: CallConv, params: &[ir::Type], ret: Option<ir::Type>) -> Signature {
    let mut s = Signature::new(cc);
    s.params.extend(params.iter().map(|t| AbiParam::new(*t)));
    s.returns.extend(ret.map(AbiParam::new));
    s
}

/// Translates `req`'s function into `func`.
pub(crate) fn translate(
    func: &mut ir::Function,
    fctx: &mut FunctionBuilderContext,
    req: &CompileRequest<'_>,
    cc: CallConv,
    target: cranelift_codegen::isa::TargetFrontendConfig,
    own: ir::FuncRef,
) -> Result<(), String> {
    let f = &req.module.functions[req.func_index];
    let info = &req.info.functions[req.func_index];
    let mut b = FunctionBuilder::new(func, fctx);
    let sigs = Sigs {
        native: b.import_signature(native_sig(cc)),
        step: b.import_signature(sig(cc, &[I64, I64, I32, I32], Some(I32))),
        call: b.import_signature(sig(cc, &[I64, I64, I32], Some(I32))),
        callv: b.import_signature(sig(cc, &[I64, I64, I32, I64, I32], Some(I32))),
        complete: b.import_signature(sig(cc, &[I64, I64, I32], Some(I32))),
        unwind: b.import_signature(sig(cc, &[I64, I32, I32], None)),
        overflow: b.import_signature(sig(cc, &[I64, I32, I32], Some(I32))),
        deopt: b.import_signature(sig(cc, &[I64, I64, I32, I32], Some(I32))),
        compare: b.import_signature(sig(cc, &[I64, I32, I64, I64, I64, I64], Some(I32))),
        tailv: b.import_signature(sig(cc, &[I64, I64, I64, I64, I32], Some(I32))),
        poll: b.import_signature(sig(cc, &[I64, I32, I32], Some(I32))),
        dispatch: b.import_signature(sig(cc, &[I64, I64, I32, I32, I32], Some(I32))),
        alloc: b.import_signature(sig(cc, &[I64, I64, I32, I32], Some(I32))),
    };
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let (ctx, regs, entry_arg) = (params[0], params[1], params[2]);

    let mut vars = Vec::with_capacity(f.regs.len());
    for t in &f.regs {
        vars.push(match t {
            Type::Int => Some((b.declare_var(I64), Kind::Int)),
            Type::Float => Some((b.declare_var(F64), Kind::Float)),
            Type::Bool => Some((b.declare_var(I8), Kind::Bool)),
            Type::Any => {
                let bits = b.declare_var(I64);
                let tag = b.declare_var(I64);
                let float = b.declare_var(F64);
                Some((bits, Kind::Any(AnyVars { tag, float })))
            }
            t if !t.is_immediate() => t
                .tag()
                .map(|tag| (b.declare_var(I64), Kind::Ref(tag as i64))),
            _ => None,
        });
    }
    let leaders = leaders(f);
    let mut blocks = vec![None; f.code.len()];
    for &pc in &leaders {
        blocks[pc] = Some(b.create_block());
    }
    let fail = b.create_block();
    b.append_block_param(fail, I32);
    b.append_block_param(fail, I32);
    let exit = b.create_block();
    b.append_block_param(exit, I32);

    let headers = sigma_interp_loop_headers(f);
    let self_tail = |pc: usize| {
        let ins = &f.code[pc];
        ins.op == Opcode::TailCall
            && matches!(ins.operands.first(),
                Some(Operand::Func(fi)) if req.func_map[*fi as usize] == req.func_id)
    };
    let facts = infer(req.module, f, &req.profile, &self_tail);
    // Loop headers that assume kinds get a block of guards their forward edges enter by.
    let guarded_entries: Vec<Option<Block>> = (0..f.code.len())
        .map(|pc| {
            (blocks[pc].is_some() && !facts.assumed_at(pc).is_empty()).then(|| b.create_block())
        })
        .collect();
    let records = RecordFacts::analyze(req.module, f, &headers);
    // Whether the instruction needs none of the verifier's run-time checks (or the record
    // facts prove them).
    let unchecked = |pc: usize| records.needed_checks(f, info, pc).next().is_none();
    // A direct call or tail call without run-time checks writes no slot of this frame but the
    // ones `sync_anys` stores: its arguments and result stay in variables.
    let keeps_frame =
        |pc: usize| matches!(f.code[pc].op, Opcode::Call | Opcode::TailCall) && unchecked(pc);
    let sync = FrameSync::analyze(f, &req.init, &facts, &self_tail, &keeps_frame, &headers);
    let deferred = deferred_init(
        f,
        &unchecked,
        &vars,
        &headers,
        &|pc| infer::speculation(req.profile.get(pc).copied().unwrap_or(0)).is_some(),
        &self_tail,
    );
    let mut t = Tr {
        b,
        req,
        f,
        info,
        ctx,
        regs,
        vars,
        blocks,
        sigs,
        fail,
        exit,
        frame_size: req.frame_sizes[req.func_index],
        pc: 0,
        terminated: false,
        init_blocks: Vec::new(),
        direct_entry: None,
        deferred,
        needs_frame: false,
        own,
        checked: Vec::new(),
        result_check: None,
        check_exit: None,
        sync,
        facts,
        records,
        guarded_entries,
        unverified_kinds: false,
        cc,
        leaf: is_leaf(f, &headers),
        has_loops: !headers.is_empty(),
    };
    t.prologue(entry_arg);
    for pc in 0..f.code.len() {
        t.pc = pc;
        if let Some(blk) = t.blocks[pc] {
            if !t.terminated {
                // A fallthrough is a forward edge.
                let entry = t.guarded_entries[pc].unwrap_or(blk);
                t.b.ins().jump(entry, &[]);
            }
            if let Some(guards) = t.guarded_entries[pc] {
                t.header_guards(guards, blk);
            }
            t.b.switch_to_block(blk);
            t.terminated = false;
            if headers.binary_search(&(pc as u32)).is_ok() {
                t.tick();
            }
        } else if t.terminated {
            // Unreachable code after a terminator that no jump targets.
            continue;
        }
        if t.deferred_at(pc) == Deferred::Frontier {
            t.init_here();
        }
        t.instr()?;
    }
    if !t.terminated {
        // The verifier rules out falling off the end.
        let z = t.b.ins().iconst(I32, status::TRAP as i64);
        t.return_status(z);
    }
    t.epilogue_blocks();
    t.fill_init_blocks();
    t.b.seal_all_blocks();
    t.b.finalize(target);
    Ok(())
}

/// The float condition of a signed comparison opcode.
fn float_cc(op: Opcode) -> FloatCC {
    match op {
        Opcode::Eq => FloatCC::Equal,
        Opcode::Ne => FloatCC::NotEqual,
        Opcode::Lt => FloatCC::LessThan,
        Opcode::Le => FloatCC::LessThanOrEqual,
        Opcode::Gt => FloatCC::GreaterThan,
        _ => FloatCC::GreaterThanOrEqual,
    }
}

/// Bytecode pcs that start a basic block.
pub(crate) fn leaders(f: &Function) -> Vec<usize> {
    let mut l = vec![0];
    for (pc, ins) in f.code.iter().enumerate() {
        for op in &ins.operands {
            if let Operand::Label(t) = op {
                l.push(*t as usize);
            }
        }
        let branches = ins.op.info().operands.contains(&OperandKind::Label);
        if (branches || !ins.op.falls_through()) && pc + 1 < f.code.len() {
            l.push(pc + 1);
        }
    }
    l.sort_unstable();
    l.dedup();
    l
}

struct Tr<'a, 'b> {
    b: FunctionBuilder<'b>,
    req: &'a CompileRequest<'a>,
    f: &'a Function,
    info: &'a FuncInfo,
    ctx: V,
    regs: V,
    vars: Vec<Option<(Variable, Kind)>>,
    blocks: Vec<Option<Block>>,
    sigs: Sigs,
    /// Appends this frame (pc param) to the pending trap and returns the status param.
    fail: Block,
    /// Returns the status param.
    exit: Block,
    frame_size: u32,
    pc: usize,
    terminated: bool,
    /// Filled last: blocks that store the interpreter's initial frame values, each with the
    /// block it continues to (the prologue's, or those of a deferred initialization).
    init_blocks: Vec<(Block, Block)>,
    /// With a deferred initialization: whether this activation came from a direct call (an
    /// i8), whose self register the initialization sets (see `prologue`).
    direct_entry: Option<Variable>,
    /// With a deferred initialization (see `deferred_init`): the instructions that run before
    /// it (`Prefix`) and those that start with it (`Frontier`).
    deferred: Option<Vec<Deferred>>,
    /// Whether the code calls the step helper (which reads constant registers) or anything
    /// that may collect (which scans the frame).
    needs_frame: bool,
    /// This function, for direct recursive calls.
    own: ir::FuncRef,
    /// Operands of the current instruction whose type a passed run-time check established.
    checked: Vec<(usize, Type)>,
    /// The type the current instruction's result must have (a verifier result check).
    result_check: Option<Type>,
    /// Where the current instruction's failed checks rejoin (they step the interpreter, which
    /// raises the error).
    check_exit: Option<Block>,
    /// Kinds of `any` registers known before each instruction.
    facts: Facts,
    /// The record types `any` registers certainly hold (see `records.rs`).
    records: RecordFacts,
    /// Per loop header that assumes kinds (see `infer`), the block of guards its forward edges
    /// (from earlier pcs, or the prologue into pc 0) enter by.
    guarded_entries: Vec<Option<Block>>,
    /// Set while lowering those guards: the header's facts are not established yet, so a
    /// write-back must not take a tag from them.
    unverified_kinds: bool,
    /// Which `any` registers to store into the frame where (see `sync.rs`).
    sync: FrameSync,
    /// The platform's C calling convention (of helpers and of native `ncall` targets).
    cc: CallConv,
    /// A leaf (see [`is_leaf`]): its prologue neither ticks nor checks the native stack.
    leaf: bool,
    /// Whether the function has loop headers (entries by on-stack replacement).
    has_loops: bool,
}

impl Tr<'_, '_> {
    /// Returns the overflow helper's status for stack `which` (0 native, 1 register stack):
    /// the StackOverflow trap of this function's entry.
    fn overflow_exit(&mut self, which: i64) {
        let ctx = self.ctx;
        let which = self.iconst(I32, which);
        let fid = self.iconst(I32, self.func_id());
        let st = self
            .helper(
                self.req.helpers.overflow,
                self.sigs.overflow,
                &[ctx, which, fid],
            )
            .unwrap_or_else(|| unreachable!("overflow returns a status"));
        self.return_status(st);
    }

    fn func_id(&self) -> i64 {
        self.req.func_id as i64
    }

    fn ins(&self) -> &sigma_runtime::module::Instr {
        &self.f.code[self.pc]
    }

    fn iconst(&mut self, ty: ir::Type, v: i64) -> V {
        self.b.ins().iconst(ty, v)
    }

    // ---- frame access ---------------------------------------------------------------------

    fn load_tag(&mut self, r: u32) -> V {
        self.b.ins().load(I64, mem(), self.regs, (r * 16) as i32)
    }

    fn load_bits(&mut self, r: u32) -> V {
        self.b
            .ins()
            .load(I64, mem(), self.regs, (r * 16 + 8) as i32)
    }

    fn store_frame(&mut self, base: V, slot: u32, tag: V, bits: V) {
        self.b.ins().store(mem(), tag, base, (slot * 16) as i32);
        self.b
            .ins()
            .store(mem(), bits, base, (slot * 16 + 8) as i32);
    }

    /// Stores SSA register `r` into its frame slot.
    fn writeback(&mut self, r: u32) {
        if let Some((var, kind)) = self.vars[r as usize] {
            let v = self.b.use_var(var);
            let val = match kind {
                Kind::Int => Val::Int(v),
                Kind::Float => Val::Float(v),
                Kind::Bool => Val::Bool(v),
                // A tag that kind inference knows before this instruction is a constant (unless
                // the instruction has written the register already), which keeps the tag
                // variable from living on for cold write-backs alone.
                Kind::Any(a) => {
                    let known = self.facts.of(self.pc, r);
                    let written = self.reads_writes().1.contains(&r);
                    if !written && r >= self.f.params && self.sync.initial(self.pc, r) {
                        // Still its initial value: a constant (so a register reset by a self
                        // tail call is not carried around the loop for cold paths).
                        let v = self.req.init[(r - self.f.params) as usize];
                        let t = self.iconst(I64, v.tag as i64);
                        let b = self.iconst(I64, v.bits as i64);
                        let regs = self.regs;
                        self.store_frame(regs, r, t, b);
                        return;
                    }
                    if known != infer::UNKNOWN && !written && !self.unverified_kinds {
                        let t = self.iconst(I64, known as i64);
                        Val::Gen(t, v)
                    } else {
                        Val::Gen(self.b.use_var(a.tag), v)
                    }
                }
                // The frame is always current.
                Kind::Ref(_) => return,
            };
            let (tag, bits) = self.gen(val);
            let regs = self.regs;
            self.store_frame(regs, r, tag, bits);
        }
    }

    /// Whether register `r`'s frame slot holds its value (memory registers and references).
    fn in_frame(&self, r: u32) -> bool {
        matches!(self.vars[r as usize], None | Some((_, Kind::Ref(_))))
    }

    /// Loads SSA register `r` from its frame slot.
    fn reload(&mut self, r: u32) {
        if let Some((var, kind)) = self.vars[r as usize] {
            let bits = self.load_bits(r);
            if let Kind::Any(a) = kind {
                let tag = self.load_tag(r);
                self.b.def_var(a.tag, tag);
                // A load of its own, not a bitcast of `bits`: measured faster on call-heavy
                // code (tak), where the bitcast's register pressure made more spills.
                let f = self
                    .b
                    .ins()
                    .load(F64, mem(), self.regs, (r * 16 + 8) as i32);
                self.b.def_var(a.float, f);
            }
            let v = match kind {
                Kind::Int | Kind::Ref(_) | Kind::Any(_) => bits,
                Kind::Float => self.b.ins().bitcast(F64, MemFlagsData::new(), bits),
                Kind::Bool => self.b.ins().ireduce(I8, bits),
            };
            self.b.def_var(var, v);
        }
    }

    /// Before a safepoint: stores the `any` registers whose frame slots may be stale and that
    /// may hold references the function still needs (see `sync.rs`): the collector must find
    /// every one in the frame.
    fn sync_anys(&mut self) {
        for r in self.sync.stored_at(self.pc) {
            self.writeback(r);
        }
    }

    /// Before a safepoint that reads registers `reads` from the frame: stores them (unless
    /// their slots are current) and the stale ones (`sync_anys`), each once.
    fn sync_with_reads(&mut self, reads: &[u32]) {
        let stale = self.sync.stored_at(self.pc);
        for &r in reads {
            if !stale.contains(&r) {
                self.writeback_read(r);
            }
        }
        for r in stale {
            self.writeback(r);
        }
    }

    /// Stores register `r`, which this instruction reads from the frame (the step helper's code
    /// reads it there), unless its frame slot is current.
    fn writeback_read(&mut self, r: u32) {
        if matches!(self.vars[r as usize], Some((_, Kind::Any(_))))
            && !self.sync.inexact(self.pc, r)
        {
            return;
        }
        self.writeback(r);
    }

    /// Before a deopt: stores every register whose frame slot may differ from it. An `any`
    /// register that is exact before this instruction (sync.rs) and not written by it already
    /// has its value in the frame; skipping it keeps its variables from living on for the cold
    /// path alone.
    fn writeback_all(&mut self) {
        let writes = self.reads_writes().1;
        for r in 0..self.vars.len() as u32 {
            if matches!(self.vars[r as usize], Some((_, Kind::Any(_))))
                && !self.sync.inexact(self.pc, r)
                && !writes.contains(&r)
            {
                continue;
            }
            self.writeback(r);
        }
    }

    /// Registers an instruction reads and writes, from the opcode table's operand kinds.
    fn reads_writes(&self) -> (Vec<u32>, Vec<u32>) {
        let ins = self.ins();
        let kinds = ins.op.info().operands;
        let (mut reads, mut writes) = (Vec::new(), Vec::new());
        for (i, op) in ins.operands.iter().enumerate() {
            if let Operand::Reg(r) = op {
                match kinds.get(i).copied().unwrap_or(OperandKind::Srcs) {
                    OperandKind::Dst => writes.push(*r),
                    OperandKind::Reg => {
                        reads.push(*r);
                        writes.push(*r);
                    }
                    _ => reads.push(*r),
                }
            }
        }
        (reads, writes)
    }

    // ---- operands -------------------------------------------------------------------------

    fn operand(&self, n: usize) -> &Operand {
        &self.ins().operands[n]
    }

    fn static_type(&self, n: usize) -> Type {
        if let Some(&(_, t)) = self.checked.iter().find(|(m, _)| *m == n) {
            return t;
        }
        let declared =
            sigma_runtime::verify::operand_type(self.req.module, self.f, self.operand(n));
        match (declared, self.operand(n)) {
            (Type::Any, Operand::Reg(r)) => match kind_type(self.facts.of(self.pc, *r)) {
                Type::Any => self.records.of(self.pc, *r).map_or(Type::Any, Type::Record),
                known => known,
            },
            _ => declared,
        }
    }

    /// An i8 that is 1 if the value `(tag, bits)` is of type `ty` (or nil, if `nullable`).
    fn admits(&mut self, ty: Type, nullable: bool, tag: V, bits: V) -> V {
        let yes = match ty {
            Type::Any => self.iconst(I8, 1),
            Type::Record(ti) => {
                let vtable = self.req.record_vtables[ti as usize];
                let is_rec = self
                    .b
                    .ins()
                    .icmp_imm_s(IntCC::Equal, tag, Tag::Record as i64);
                let load = self.b.create_block();
                let done = self.b.create_block();
                self.b.append_block_param(done, I8);
                self.b
                    .ins()
                    .brif(is_rec, load, &[], done, &[BlockArg::Value(is_rec)]);
                self.b.switch_to_block(load);
                let same = self.has_vtable(bits, vtable);
                self.b.ins().jump(done, &[BlockArg::Value(same)]);
                self.b.switch_to_block(done);
                self.b.block_params(done)[0]
            }
            t => {
                let want = t.tag().map_or(NIL, |g| g as i64);
                self.b.ins().icmp_imm_s(IntCC::Equal, tag, want)
            }
        };
        if nullable {
            let is_nil = self.b.ins().icmp_imm_s(IntCC::Equal, tag, NIL);
            self.b.ins().bor(yes, is_nil)
        } else {
            yes
        }
    }

    /// Continues if `ok`; otherwise steps the interpreter through the whole instruction (whose
    /// checks then raise the error) and rejoins at the instruction's end.
    fn check_or_step(&mut self, ok: V) {
        let pass = self.b.create_block();
        let fail = self.b.create_block();
        self.b.ins().brif(ok, pass, &[], fail, &[]);
        self.b.switch_to_block(fail);
        self.b.set_cold_block(fail);
        self.step(step_mode::FULL);
        let after = *self.check_exit.get_or_insert_with(|| self.b.create_block());
        self.b.ins().jump(after, &[]);
        self.b.switch_to_block(pass);
    }

    /// Whether the heap object at `obj` has header vtable `vtable` (for a record: whether it
    /// is of the type that vtable names).
    fn has_vtable(&mut self, obj: V, vtable: usize) -> V {
        let vt = self
            .b
            .ins()
            .load(I64, mem(), obj, layout::HEADER_VTABLE as i32);
        self.b.ins().icmp_imm_s(IntCC::Equal, vt, vtable as i64)
    }

    fn constant(&self, k: u32) -> &Constant {
        &self.req.module.consts[k as usize]
    }

    /// The operand as a computed value.
    fn val(&mut self, n: usize) -> Val {
        match *self.operand(n) {
            Operand::Reg(r) => match self.vars[r as usize] {
                Some((var, kind)) => {
                    let v = self.b.use_var(var);
                    match kind {
                        Kind::Int => Val::Int(v),
                        Kind::Float => Val::Float(v),
                        Kind::Bool => Val::Bool(v),
                        Kind::Ref(tag) => Val::Gen(self.iconst(I64, tag), v),
                        Kind::Any(a) => match self.facts.of(self.pc, r) {
                            infer::INT => Val::Int(v),
                            infer::FLOAT => Val::Float(self.b.use_var(a.float)),
                            _ => Val::Gen(self.b.use_var(a.tag), v),
                        },
                    }
                }
                None => match self.facts.of(self.pc, r) {
                    infer::INT => Val::Int(self.load_bits(r)),
                    infer::FLOAT => {
                        let bits = self.load_bits(r);
                        Val::Float(self.b.ins().bitcast(F64, MemFlagsData::new(), bits))
                    }
                    _ => {
                        let tag = self.load_tag(r);
                        let bits = self.load_bits(r);
                        Val::Gen(tag, bits)
                    }
                },
            },
            Operand::Const(k) => match self.constant(k).clone() {
                Constant::Int(i) => Val::Int(self.iconst(I64, i)),
                Constant::Float(x) => Val::Float(self.b.ins().f64const(x)),
                Constant::Bool(v) => Val::Bool(self.iconst(I8, v as i64)),
                _ => {
                    let v = self.req.consts[k as usize];
                    let tag = self.iconst(I64, v.tag as i64);
                    let bits = self.iconst(I64, v.bits as i64);
                    Val::Gen(tag, bits)
                }
            },
            _ => {
                let z = self.iconst(I64, 0);
                Val::Gen(z, z)
            }
        }
    }

    /// A value as tag and payload.
    fn gen(&mut self, v: Val) -> (V, V) {
        match v {
            Val::Int(x) => (self.iconst(I64, INT), x),
            Val::Float(x) => {
                let bits = self.b.ins().bitcast(I64, MemFlagsData::new(), x);
                (self.iconst(I64, FLOAT), bits)
            }
            Val::Bool(x) => {
                let bits = self.b.ins().uextend(I64, x);
                (self.iconst(I64, BOOL), bits)
            }
            Val::Gen(t, b) => (t, b),
        }
    }

    /// An operand statically known to be an int.
    fn int(&mut self, n: usize) -> V {
        match self.val(n) {
            Val::Int(v) | Val::Gen(_, v) => v,
            Val::Float(v) => self.b.ins().bitcast(I64, MemFlagsData::new(), v),
            Val::Bool(v) => self.b.ins().uextend(I64, v),
        }
    }

    /// An operand statically known to be a number, as a float.
    fn float(&mut self, n: usize) -> V {
        match self.val(n) {
            Val::Float(v) => v,
            Val::Int(v) => self.b.ins().fcvt_from_sint(F64, v),
            Val::Gen(_, v) if self.static_type(n) == Type::Int => {
                self.b.ins().fcvt_from_sint(F64, v)
            }
            Val::Gen(_, v) => self.b.ins().bitcast(F64, MemFlagsData::new(), v),
            Val::Bool(v) => {
                let w = self.b.ins().uextend(I64, v);
                self.b.ins().bitcast(F64, MemFlagsData::new(), w)
            }
        }
    }

    /// Writes a result into destination operand `n`.
    fn set_dst(&mut self, n: usize, v: Val) {
        let Operand::Reg(r) = *self.operand(n) else {
            return;
        };
        if let (0, Some(ty)) = (n, self.result_check) {
            let (tag, bits) = self.gen(v);
            let ok = self.admits(ty, false, tag, bits);
            self.check_or_step(ok);
        }
        match self.vars[r as usize] {
            Some(_) => self.set_var(r, v),
            None => {
                let (tag, bits) = self.gen(v);
                let regs = self.regs;
                self.store_frame(regs, r, tag, bits);
            }
        }
    }

    // ---- helper calls -------------------------------------------------------------------------

    fn helper(&mut self, addr: usize, sig: SigRef, args: &[V]) -> Option<V> {
        let callee = self.iconst(I64, addr as i64);
        let call = self.b.ins().call_indirect(sig, callee, args);
        self.b.inst_results(call).first().copied()
    }

    /// Continues if `st` is RETURN; otherwise returns it, appending this frame to a trap's
    /// backtrace if `unwind`.
    /// Returns status `st` (an i32) with no value: the first return word is the status
    /// zero-extended; the second means nothing (a RETURN from `ret` puts the result's tag in
    /// the first word's upper half and its payload in the second, see `native_sig`). It is the
    /// first word again: a constant would be shared by every return and kept live (and spilled)
    /// across the whole function.
    fn return_status(&mut self, st: V) {
        let word = self.b.ins().uextend(I64, st);
        self.b.ins().return_(&[word, word]);
    }

    fn check_status(&mut self, st: V, unwind: bool) {
        let ok = self.b.create_block();
        let pc = self.iconst(I32, self.pc as i64);
        if unwind {
            self.b.ins().brif(
                st,
                self.fail,
                &[BlockArg::Value(st), BlockArg::Value(pc)],
                ok,
                &[],
            );
        } else {
            self.b
                .ins()
                .brif(st, self.exit, &[BlockArg::Value(st)], ok, &[]);
        }
        self.b.switch_to_block(ok);
    }

    /// Runs the interpreter's code for this instruction (or part of it, see `step_mode`).
    fn step(&mut self, mode: u32) {
        // After a call, the caller already stored the result in the frame for the checks.
        let pc = (self.pc as u32 | mode) as i64;
        let (addr, sig) = (self.req.helpers.step, self.sigs.step);
        self.on_frame(addr, sig, pc, mode != step_mode::POST, false);
    }

    /// `new`, `closure` and `newarr`: the allocation helper runs the interpreter's allocation
    /// for this instruction on the frame (operands written back first, every reference the
    /// function holds in the frame for the collector) and stores the result in the destination
    /// register, which is reloaded from there.
    fn alloc(&mut self) {
        match self.inline_alloc_shape() {
            Some(shape) => self.alloc_inline(shape),
            None => self.alloc_helper(),
        }
    }

    /// The allocation helper call of `alloc` (its slow path, when it has an inline one).
    fn alloc_helper(&mut self) {
        let (addr, sig) = (self.req.helpers.alloc, self.sigs.alloc);
        self.on_frame(addr, sig, self.pc as i64, true, true);
    }

    /// What this `new` or `closure` allocates, if compiled code may allocate it inline: a
    /// record of a type without destructor given all its field values, or a closure with
    /// captures (one without shares the function's cached fn value), whose cell is small.
    fn inline_alloc_shape(&self) -> Option<InlineAlloc> {
        let ins = self.ins();
        let nargs = ins.operands.len().checked_sub(2).filter(|n| *n > 0)?;
        let (words, tag, kind, vtable, payload, values_off) = match (ins.op, &ins.operands[1]) {
            (Opcode::New, Operand::Type(Type::Record(ti))) => {
                let fields = (*self.req.inline_records.get(*ti as usize)?)?;
                if fields as usize != nargs {
                    return None;
                }
                (
                    Vec::new(),
                    Tag::Record,
                    sigma_runtime::heap::ObjKind::Record,
                    self.req.record_vtables[*ti as usize],
                    sigma_runtime::heap::RecordObj::payload_size(nargs),
                    layout::RECORD_FIELDS,
                )
            }
            (Opcode::Closure, Operand::Func(fi)) => (
                vec![
                    (layout::FN_FUNC, self.req.func_map[*fi as usize]),
                    (layout::FN_CAPTURE_COUNT, nargs as u32),
                ],
                Tag::Fn,
                sigma_runtime::heap::ObjKind::Fn,
                layout::fn_vtable(),
                sigma_runtime::heap::FnObj::payload_size(nargs),
                layout::FN_CAPTURES,
            ),
            _ => return None,
        };
        let (class, cell) = sigma_gc::small_class(payload)?;
        Some(InlineAlloc {
            class,
            cell,
            reserve: sigma_interp::tier::alloc_reserve(payload),
            vtable,
            header: sigma_gc::header_word(cell, kind as u8),
            tag,
            words,
            nargs: nargs as u32,
            values_off,
        })
    }

    /// Allocates inline, as the contract of `sigma_gc::AllocState` lays down: checks the
    /// collection trigger, pops the size class's free list or bumps its fresh-page pointer,
    /// counts the cell, writes the header, the id and count words and the operands, and sets
    /// the destination. Everything unusual (a collection due — always in stress mode, which
    /// also keeps the heap limit's check with the helper —, no free or uncarved cell) calls the
    /// helper, which runs the interpreter's allocation.
    fn alloc_inline(&mut self, a: InlineAlloc) {
        use sigma_gc::alloc_offset as off;
        // Both paths store the stale `any` registers first: `sync.rs` credits `new` and
        // `closure` with those stores on every path.
        self.sync_anys();
        let ctx = self.ctx;
        let st = self.b.ins().load(I64, mem(), ctx, ctx_offset::ALLOC as i32);
        let cell_bytes = self.b.ins().load(I64, mem(), st, off::CELL_BYTES as i32);
        let external = self
            .b
            .ins()
            .load(I64, mem(), st, off::EXTERNAL_BYTES as i32);
        let trigger = self.b.ins().load(I64, mem(), st, off::TRIGGER as i32);
        let live = self.b.ins().iadd(cell_bytes, external);
        let need = self.b.ins().iadd_imm_u(live, a.reserve as i64);
        let due = self.b.ins().icmp(IntCC::UnsignedGreaterThan, need, trigger);
        let check_free = self.b.create_block();
        let pop = self.b.create_block();
        let try_bump = self.b.create_block();
        let carve = self.b.create_block();
        let got = self.b.create_block();
        let obj = self.b.append_block_param(got, I64);
        let slow = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(due, slow, &[], check_free, &[]);

        self.b.switch_to_block(check_free);
        let free = self.b.ins().load(I64, mem(), st, off::free(a.class) as i32);
        self.b.ins().brif(free, pop, &[], try_bump, &[]);

        self.b.switch_to_block(pop);
        // A free cell's first word links the next free cell.
        let next = self.b.ins().load(I64, mem(), free, 0);
        self.b
            .ins()
            .store(mem(), next, st, off::free(a.class) as i32);
        self.b.ins().jump(got, &[BlockArg::Value(free)]);

        self.b.switch_to_block(try_bump);
        let bump = self.b.ins().load(I64, mem(), st, off::bump(a.class) as i32);
        let end = self
            .b
            .ins()
            .load(I64, mem(), st, off::bump_end(a.class) as i32);
        let room = self.b.ins().icmp(IntCC::UnsignedLessThan, bump, end);
        self.b.ins().brif(room, carve, &[], slow, &[]);

        self.b.switch_to_block(carve);
        let after = self.b.ins().iadd_imm_u(bump, a.cell as i64);
        self.b
            .ins()
            .store(mem(), after, st, off::bump(a.class) as i32);
        self.b.ins().jump(got, &[BlockArg::Value(bump)]);

        self.b.switch_to_block(got);
        let cell_bytes = self.b.ins().iadd_imm_u(cell_bytes, a.cell as i64);
        self.b
            .ins()
            .store(mem(), cell_bytes, st, off::CELL_BYTES as i32);
        // (The heap derives the bytes allocated from `cell_bytes`' growth.)
        let objects = self.b.ins().load(I64, mem(), st, off::LIVE_OBJECTS as i32);
        let objects = self.b.ins().iadd_imm_u(objects, 1);
        self.b
            .ins()
            .store(mem(), objects, st, off::LIVE_OBJECTS as i32);
        let vtable = self.iconst(I64, a.vtable as i64);
        self.b.ins().store(mem(), vtable, obj, 0);
        let header = self.iconst(I64, a.header as i64);
        self.b.ins().store(mem(), header, obj, 8);
        for &(off, word) in &a.words {
            let w = self.iconst(I32, word as i64);
            self.b.ins().store(mem(), w, obj, off as i32);
        }
        for i in 0..a.nargs as usize {
            let (t, v) = self.val_gen(2 + i);
            let at = (a.values_off + 16 * i) as i32;
            self.b.ins().store(mem(), t, obj, at);
            self.b.ins().store(mem(), v, obj, at + 8);
        }
        let tag = self.iconst(I64, a.tag as i64);
        self.set_dst(0, Val::Gen(tag, obj));
        self.b.ins().jump(done, &[]);

        self.b.switch_to_block(slow);
        self.b.set_cold_block(slow);
        self.alloc_helper();
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    /// Calls a helper `(ctx, regs, func, pc) -> status` that runs interpreter code for this
    /// instruction on the frame: the registers it reads are written back first (unless
    /// `write_back` is false: already there), the status is checked (`unwind` as for
    /// `check_status`), and the registers it writes are reloaded. Before a deferred
    /// initialization the frame is initialized first (an inline allocation's earlier stores
    /// to it are made again here).
    fn on_frame(&mut self, addr: usize, sig: SigRef, pc: i64, write_back: bool, unwind: bool) {
        self.complete_frame();
        let (reads, writes) = self.reads_writes();
        if write_back {
            self.sync_with_reads(&reads);
        }
        self.needs_frame = true;
        let (ctx, regs) = (self.ctx, self.regs);
        let fid = self.iconst(I32, self.func_id());
        let pc = self.iconst(I32, pc);
        let st = self
            .helper(addr, sig, &[ctx, regs, fid, pc])
            .unwrap_or_else(|| unreachable!("the helper returns a status"));
        self.check_status(st, unwind);
        for r in &writes {
            self.reload(*r);
        }
    }

    /// `getup rd, i` and `setup i, rs`: capture `i` of the closure in the self register, inline;
    /// a self register that is not a fn value or has no capture `i` steps the instruction,
    /// whose interpreter code raises the error.
    fn upvalue(&mut self, op: Opcode) {
        let idx_n = if op == Opcode::GetUp { 1 } else { 0 };
        let Operand::Imm(idx) = *self.operand(idx_n) else {
            unreachable!("shape checked")
        };
        let self_slot = self.f.regs.len() as u32 + 1;
        let tag = self.load_tag(self_slot);
        let closure = self.load_bits(self_slot);
        let mut is_fn = self.b.ins().icmp_imm_s(IntCC::Equal, tag, Tag::Fn as i64);
        if let (Deferred::Prefix, Some(var)) = (self.deferred_at(self.pc), self.direct_entry) {
            // Before a deferred initialization, a direct call's self register is not stored
            // yet: it will be the function's own fn value, which captures nothing, so the
            // instruction steps (after the initialization) and raises the interpreter's error.
            let direct = self.b.use_var(var);
            let called_as_value = self.b.ins().icmp_imm_s(IntCC::Equal, direct, 0);
            is_fn = self.b.ins().band(is_fn, called_as_value);
        }
        let stored = (op == Opcode::SetUp).then(|| self.val_gen(1));
        let barrier = stored.filter(|_| self.may_be_ref(1)).map(|(vt, _)| vt);
        let (done, ()) = self.fast_or_step_checked(is_fn, |t| {
            let n =
                t.b.ins()
                    .load(I32, mem(), closure, layout::FN_CAPTURE_COUNT as i32);
            let mut inside =
                t.b.ins()
                    .icmp_imm_u(IntCC::UnsignedGreaterThan, n, idx as i64);
            if let Some(vt) = barrier {
                let free = t.barrier_free(vt, closure);
                inside = t.b.ins().band(inside, free);
            }
            (inside, ())
        });
        let off = (layout::FN_CAPTURES + idx as usize * 16) as i32;
        if let Some((t, b)) = stored {
            self.b.ins().store(mem(), t, closure, off);
            self.b.ins().store(mem(), b, closure, off + 8);
        } else {
            let t = self.b.ins().load(I64, mem(), closure, off);
            let b = self.b.ins().load(I64, mem(), closure, off + 8);
            self.set_dst(0, Val::Gen(t, b));
        }
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    /// Before the interpreter gets the frame (a deopt, a helper run on it): initializes it
    /// here if this instruction runs before the deferred initialization.
    fn complete_frame(&mut self) {
        if self.deferred_at(self.pc) == Deferred::Prefix {
            self.init_here();
        }
    }

    /// Writes everything back and hands the frame to the interpreter at this instruction.
    fn deopt(&mut self) {
        self.complete_frame();
        self.writeback_all();
        let (ctx, regs) = (self.ctx, self.regs);
        let fid = self.iconst(I32, self.func_id());
        let pc = self.iconst(I32, self.pc as i64);
        let st = self
            .helper(
                self.req.helpers.deopt,
                self.sigs.deopt,
                &[ctx, regs, fid, pc],
            )
            .unwrap_or_else(|| unreachable!("deopt returns a status"));
        self.return_status(st);
    }

    /// Branches to a new block that deopts when `cond` is false; continues when true.
    fn guard(&mut self, cond: V) {
        let ok = self.b.create_block();
        let bail = self.b.create_block();
        self.b.ins().brif(cond, ok, &[], bail, &[]);
        self.b.switch_to_block(bail);
        self.b.set_cold_block(bail);
        self.deopt();
        self.b.switch_to_block(ok);
    }

    /// Where instruction `pc` stands relative to a deferred initialization.
    fn deferred_at(&self, pc: usize) -> Deferred {
        self.deferred.as_ref().map_or(Deferred::After, |d| d[pc])
    }

    /// Initializes the frame here (a block filled last, like the prologue's).
    fn init_here(&mut self) {
        let blk = self.b.create_block();
        let next = self.b.create_block();
        let cold = self
            .b
            .current_block()
            .is_some_and(|c| self.b.func.layout.is_cold(c));
        if cold {
            self.b.set_cold_block(blk);
            self.b.set_cold_block(next);
        }
        self.b.ins().jump(blk, &[]);
        self.init_blocks.push((blk, next));
        self.b.switch_to_block(next);
    }

    // ---- prologue and epilogue ----------------------------------------------------------------

    /// Stores the frame's initial values. Registers kept in memory get their exact initial
    /// values (their values before the first write are semantics). If anything may collect
    /// while this frame is live (a step or a call), every other slot gets a valid tag too — the
    /// payload of a slot the compiled code keeps in SSA or never reads does not matter — and
    /// the constant registers get their values (the step helper reads them).
    fn fill_init_blocks(&mut self) {
        for (blk, next) in std::mem::take(&mut self.init_blocks) {
            self.fill_init_block(blk, next);
        }
    }

    /// A direct call's self register holds the function's own shared fn value (its initial
    /// value): every frame keeps its function's module loaded.
    fn store_own_self(&mut self) {
        let self_slot = self.f.regs.len() as u32 + 1;
        let own = self.req.init[(self_slot - self.f.params) as usize];
        let tag = self.iconst(I64, own.tag as i64);
        let bits = self.iconst(I64, own.bits as i64);
        let regs = self.regs;
        self.store_frame(regs, self_slot, tag, bits);
    }

    fn fill_init_block(&mut self, blk: Block, next: Block) {
        self.b.switch_to_block(blk);
        if let Some(var) = self.direct_entry {
            let direct = self.b.use_var(var);
            let own = self.b.create_block();
            let rest = self.b.create_block();
            self.b.ins().brif(direct, own, &[], rest, &[]);
            self.b.switch_to_block(own);
            self.store_own_self();
            self.b.ins().jump(rest, &[]);
            self.b.switch_to_block(rest);
        }
        let nparams = self.f.params;
        let nregs = self.f.regs.len() as u32;
        let self_slot = nregs + 1;
        let regs = self.regs;
        for (i, v) in self.req.init.iter().enumerate() {
            let slot = nparams + i as u32;
            if slot == self_slot {
                continue;
            }
            let in_memory = slot < nregs && self.in_frame(slot);
            let constant = slot > self_slot;
            if in_memory || (constant && self.needs_frame) {
                let tag = self.iconst(I64, v.tag as i64);
                let bits = self.iconst(I64, v.bits as i64);
                self.store_frame(regs, slot, tag, bits);
            } else if self.needs_frame {
                let tag = self.iconst(I64, v.tag as i64);
                self.b.ins().store(mem(), tag, regs, (slot * 16) as i32);
            }
        }
        self.b.ins().jump(next, &[]);
    }

    /// Counts one tick of the interrupt/fuel budget (as the interpreter does at calls and loop
    /// headers); when the count runs out, the poll helper may stop the program here.
    fn tick(&mut self) {
        let ctx = self.ctx;
        let t = self.b.ins().load(I64, mem(), ctx, ctx_offset::TICKS as i32);
        let t = self.b.ins().iadd_imm_s(t, -1);
        self.b.ins().store(mem(), t, ctx, ctx_offset::TICKS as i32);
        let spent = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, t, 0);
        let slow = self.b.create_block();
        let go_on = self.b.create_block();
        self.b.ins().brif(spent, slow, &[], go_on, &[]);
        self.b.switch_to_block(slow);
        self.b.set_cold_block(slow);
        let fid = self.iconst(I32, self.func_id());
        let pc = self.iconst(I32, self.pc as i64);
        let st = self
            .helper(self.req.helpers.poll, self.sigs.poll, &[ctx, fid, pc])
            .unwrap_or_else(|| unreachable!("poll returns a status"));
        self.check_status(st, false);
        self.b.ins().jump(go_on, &[]);
        self.b.switch_to_block(go_on);
    }

    /// Continues in a new block if `ok`; otherwise (a cold block) returns the StackOverflow
    /// status of stack `which` (see `overflow_exit`).
    fn overflow_unless(&mut self, ok: V, which: i64) {
        let overflow = self.b.create_block();
        let go_on = self.b.create_block();
        self.b.ins().brif(ok, go_on, &[], overflow, &[]);
        self.b.switch_to_block(overflow);
        self.b.set_cold_block(overflow);
        self.overflow_exit(which);
        self.b.switch_to_block(go_on);
    }

    fn prologue(&mut self, entry_arg: V) {
        let (ctx, regs) = (self.ctx, self.regs);
        // Native stack check. A leaf adds one small frame to its caller's checked stack (the
        // helpers it calls run in the reserve past the limit), so it checks nothing.
        if !self.leaf {
            let sp = self.b.ins().get_stack_pointer(I64);
            let limit = self
                .b
                .ins()
                .load(I64, mem(), ctx, ctx_offset::NATIVE_LIMIT as i32);
            let room = self
                .b
                .ins()
                .icmp(IntCC::UnsignedGreaterThanOrEqual, sp, limit);
            self.overflow_unless(room, 0);
        }

        let start = self.b.create_block();
        let osr = self.b.create_block();
        if self.has_loops {
            let is_osr = self.b.ins().icmp_imm_u(
                IntCC::UnsignedGreaterThanOrEqual,
                entry_arg,
                ENTRY_OSR as i64,
            );
            self.b.ins().brif(is_osr, osr, &[], start, &[]);
        } else {
            // On-stack replacement enters at loop headers only: without any, every entry is
            // a call.
            self.b.ins().jump(start, &[]);
        }

        // A call: check that the frame fits, set the self register of a direct call,
        // initialize the frame (filled in last, see `fill_init_block`), load the parameters.
        self.b.switch_to_block(start);
        let end = self
            .b
            .ins()
            .load(I64, mem(), ctx, ctx_offset::STACK_END as i32);
        let frame_end = self.b.ins().iadd_imm_s(regs, self.frame_size as i64 * 16);
        let fits = self
            .b
            .ins()
            .icmp(IntCC::UnsignedLessThanOrEqual, frame_end, end);
        self.overflow_unless(fits, 1);
        if !self.leaf {
            self.tick();
        }
        let init = self.b.create_block();
        let direct = self
            .b
            .ins()
            .icmp_imm_u(IntCC::Equal, entry_arg, ENTRY_CALL as i64);
        let params_blk = self.b.create_block();
        if self.deferred.is_some() {
            // The initialization comes later (`init_here`), and sets the self register of a
            // direct call then: nothing before it reads the frame.
            let var = self.b.declare_var(I8);
            self.b.def_var(var, direct);
            self.direct_entry = Some(var);
            self.b.ins().jump(init, &[]);
            self.b.switch_to_block(init);
            self.b.ins().jump(params_blk, &[]);
        } else {
            let clear_self = self.b.create_block();
            self.b.ins().brif(direct, clear_self, &[], init, &[]);
            self.b.switch_to_block(clear_self);
            self.store_own_self();
            self.b.ins().jump(init, &[]);
            self.init_blocks.push((init, params_blk));
        }
        self.b.switch_to_block(params_blk);
        let nparams = self.f.params;
        for r in 0..self.vars.len() as u32 {
            if r < nparams {
                self.reload(r);
            } else if let Some((_, Kind::Any(_))) = self.vars[r as usize] {
                // The variables start with the register's initial value.
                let v = self.req.init[(r - nparams) as usize];
                let t = self.iconst(I64, v.tag as i64);
                let b = self.iconst(I64, v.bits as i64);
                self.set_var(r, Val::Gen(t, b));
            } else if let Some((var, kind)) = self.vars[r as usize] {
                let z = kind.zero(&mut self.b);
                self.b.def_var(var, z);
            }
        }
        let first = self.blocks[0].unwrap_or_else(|| unreachable!("pc 0 is a leader"));
        let first = self.guarded_entries[0].unwrap_or(first);
        self.b.ins().jump(first, &[]);

        // On-stack replacement: the interpreter's frame is complete; enter at a loop header.
        self.b.switch_to_block(osr);
        if let Some(var) = self.direct_entry {
            // A self tail call may lead back into a later initialization: the self register
            // is the interpreter's already.
            let no = self.iconst(I8, 0);
            self.b.def_var(var, no);
        }
        for r in 0..self.vars.len() as u32 {
            self.reload(r);
        }
        let mut sw = Switch::new();
        let mut checks = Vec::new();
        for h in sigma_interp_loop_headers(self.f) {
            if let Some(blk) = self.blocks[h as usize] {
                let check = self.b.create_block();
                sw.set_entry((h + ENTRY_OSR) as u128, check);
                checks.push((h, check, blk));
            }
        }
        let bad = self.b.create_block();
        sw.emit(&mut self.b, entry_arg, bad);
        // The code at a loop header relies on the kinds inferred there: enter only if the
        // interpreter's frame has them, and otherwise hand the frame back unchanged.
        for (h, check, blk) in checks {
            self.b.switch_to_block(check);
            let mut ok = self.iconst(I8, 1);
            for r in 0..self.f.regs.len() as u32 {
                let k = self.facts.of(h as usize, r);
                if k != infer::UNKNOWN {
                    let tag = self.load_tag(r);
                    let same = self.b.ins().icmp_imm_s(IntCC::Equal, tag, k as i64);
                    ok = self.b.ins().band(ok, same);
                    // Past the check the tag is that constant (so the header's merges of it
                    // stay constant).
                    if let Some((_, Kind::Any(a))) = self.vars[r as usize] {
                        let t = self.iconst(I64, k as i64);
                        self.b.def_var(a.tag, t);
                    }
                }
            }
            let decline = self.b.create_block();
            self.b.ins().brif(ok, blk, &[], decline, &[]);
            self.b.switch_to_block(decline);
            self.b.set_cold_block(decline);
            let pc = self.iconst(I32, h as i64);
            self.b
                .ins()
                .store(mem(), pc, ctx, ctx_offset::DEOPT_PC as i32);
            let st = self.iconst(I32, status::DEOPT as i64);
            self.return_status(st);
        }
        self.b.switch_to_block(bad);
        let st = self.iconst(I32, status::TRAP as i64);
        self.return_status(st);
        self.terminated = true;
    }

    fn epilogue_blocks(&mut self) {
        self.b.switch_to_block(self.fail);
        self.b.set_cold_block(self.fail);
        let p = self.b.block_params(self.fail).to_vec();
        let ctx = self.ctx;
        let fid = self.iconst(I32, self.func_id());
        self.helper(self.req.helpers.unwind, self.sigs.unwind, &[ctx, fid, p[1]]);
        self.return_status(p[0]);
        self.b.switch_to_block(self.exit);
        let p = self.b.block_params(self.exit).to_vec();
        self.return_status(p[0]);
    }

    // ---- instructions -------------------------------------------------------------------------

    fn checks(&self) -> (bool, bool) {
        let cs = || self.records.needed_checks(self.f, self.info, self.pc);
        // The callee check of `callv` and `tailcallv` is their own (as in the interpreter's
        // lowering, which emits no check op for it): the compiled path tests for a compiled fn
        // and everything else reaches the helper, which raises the same error.
        let op = self.ins().op;
        let own = |n: u8| {
            matches!(op, Opcode::CallV | Opcode::TailCallV)
                && sigma_interp::checks_operand_itself(op, n as usize)
        };
        let pre = cs().any(|c| matches!(c.site, CheckSite::Operand(n) if !own(n)));
        let post = cs().any(|c| c.site == CheckSite::Result);
        (pre, post)
    }

    fn jump_to(&mut self, target: u32) {
        let blk = self.edge_target(target as usize);
        self.b.ins().jump(blk, &[]);
        self.terminated = true;
    }

    /// The block an edge from this pc to leader `target` enters: a forward edge into a loop
    /// header that assumes kinds goes through its guards.
    fn edge_target(&self, target: usize) -> Block {
        let blk = self.blocks[target].unwrap_or_else(|| unreachable!("targets are leaders"));
        match self.guarded_entries[target] {
            Some(guards) if target > self.pc => guards,
            _ => blk,
        }
    }

    /// Fills `guards`, the forward-edge entry of the loop header at this pc: checks the kinds
    /// the header assumes (deopting to the header, with the frame as the edge left it, when
    /// one is wrong), then enters `header`.
    fn header_guards(&mut self, guards: Block, header: Block) {
        self.b.switch_to_block(guards);
        let assumed = self.facts.assumed_at(self.pc).to_vec();
        let mut ok = self.iconst(I8, 1);
        for &(r, k) in &assumed {
            let tag = match self.vars[r as usize] {
                Some((_, Kind::Any(a))) => self.b.use_var(a.tag),
                _ => self.load_tag(r),
            };
            let same = self.b.ins().icmp_imm_s(IntCC::Equal, tag, k as i64);
            ok = self.b.ins().band(ok, same);
        }
        self.unverified_kinds = true;
        self.guard(ok);
        self.unverified_kinds = false;
        // Past the guards the tags are constants (so the header's merges of them stay so).
        for &(r, k) in &assumed {
            if let Some((_, Kind::Any(a))) = self.vars[r as usize] {
                let t = self.iconst(I64, k as i64);
                self.b.def_var(a.tag, t);
            }
        }
        self.b.ins().jump(header, &[]);
    }

    /// Ends a conditional branch on `cond` (i8/i64 truthy) to label operand `n`.
    fn branch(&mut self, cond: V, n: usize) {
        let Operand::Label(t) = *self.operand(n) else {
            unreachable!("shape checked")
        };
        let taken = self.edge_target(t as usize);
        let next = self.edge_target(self.pc + 1);
        self.b.ins().brif(cond, taken, &[], next, &[]);
        self.terminated = true;
    }

    fn instr(&mut self) -> Result<(), String> {
        use Opcode::*;
        let op = self.ins().op;
        let (pre, post) = self.checks();
        let control = matches!(op, Call | TailCall | CallV | TailCallV | Ret | Dispatch)
            || op.info().operands.contains(&OperandKind::Label);
        if (pre || post) && !control && (op == Move || !self.inline_checks()) {
            self.step(step_mode::FULL);
            return Ok(());
        }
        self.instr_body(op, pre, post)?;
        self.checked.clear();
        self.result_check = None;
        if let Some(after) = self.check_exit.take() {
            if !self.terminated {
                self.b.ins().jump(after, &[]);
            }
            self.b.switch_to_block(after);
            self.terminated = false;
        }
        Ok(())
    }

    /// Emits the current instruction's run-time type checks inline: operand checks here (a
    /// passed check also tells the lowering the operand's type), the result check in
    /// `set_dst`. Returns false if a check cannot be done inline.
    fn inline_checks(&mut self) -> bool {
        let cs: Vec<_> = self
            .records
            .needed_checks(self.f, self.info, self.pc)
            .collect();
        for c in &cs {
            match c.site {
                CheckSite::Operand(n) => {
                    let n = n as usize;
                    if !matches!(self.operand(n), Operand::Reg(_)) {
                        return false;
                    }
                    let (tag, bits) = self.val_gen(n);
                    let ok = self.admits(c.ty, c.nullable, tag, bits);
                    self.check_or_step(ok);
                    if !c.nullable {
                        self.checked.push((n, c.ty));
                    }
                }
                CheckSite::Result => self.result_check = Some(c.ty),
            }
        }
        true
    }

    fn instr_body(&mut self, op: Opcode, pre: bool, post: bool) -> Result<(), String> {
        use Opcode::*;
        match op {
            Load | Copy => {
                let v = self.val(1);
                self.set_dst(0, v);
            }
            Move => {
                // As in the interpreter: read, clear the source, then write the destination
                // (so `move a, a` keeps the value).
                let v = self.val(1);
                if let Operand::Reg(r) = *self.operand(1) {
                    let t = self.f.regs[r as usize];
                    if let Some((_, Kind::Any(_))) = self.vars[r as usize] {
                        let z = self.iconst(I64, NIL);
                        self.set_var(r, Val::Gen(z, z));
                    } else if self.in_frame(r) && (t == Type::Any || !t.is_immediate()) {
                        let z = self.iconst(I64, NIL);
                        let regs = self.regs;
                        self.store_frame(regs, r, z, z);
                    }
                }
                self.set_dst(0, v);
            }
            Add | Sub | Mul | Div | Rem => self.arith(op),
            Neg | Abs | Itof | Ftoi | Sext8 | Sext16 | Sext32 | Zext8 | Zext16 | Zext32 | F32
            | Not | Sqrt | Floor | Ceil | Trunc | Round => self.unary(op),
            And | Or | Xor | Shl | Shr | Sar => self.bitwise(op),
            Eq | Ne | Lt | Le | Gt | Ge | Ltu | Leu | Gtu | Geu => match self.compare(op, 1, 2) {
                Some(c) => self.set_dst(0, Val::Bool(c)),
                // Operands of unknown types: ints and floats inline, the rest through the
                // runtime's comparison (the branch forms' fallback too).
                None if matches!(op, Eq | Ne | Lt | Le | Gt | Ge) => {
                    let c = self.compare_helper(op, 1, 2);
                    self.set_dst(0, Val::Bool(c));
                }
                None => self.step(step_mode::FULL),
            },
            Same => {
                let (at, ab) = self.val_gen(1);
                let (bt, bb) = self.val_gen(2);
                let t = self.b.ins().icmp(IntCC::Equal, at, bt);
                let v = self.b.ins().icmp(IntCC::Equal, ab, bb);
                let c = self.b.ins().band(t, v);
                self.set_dst(0, Val::Bool(c));
            }
            Jump => {
                let Operand::Label(t) = *self.operand(0) else {
                    unreachable!("shape checked")
                };
                self.jump_to(t);
            }
            JumpIf | JumpIfNot => {
                let c = self.truthy(0);
                let c = if op == JumpIfNot {
                    self.b.ins().bxor_imm_s(c, 1)
                } else {
                    c
                };
                self.branch(c, 1);
            }
            Jlt | Jle | Jgt | Jge | Jeq | Jne => {
                let cmp = match op {
                    Jlt => Lt,
                    Jle => Le,
                    Jgt => Gt,
                    Jge => Ge,
                    Jeq => Eq,
                    _ => Ne,
                };
                let c = match self.compare(cmp, 0, 1) {
                    Some(c) => c,
                    None => self.compare_helper(cmp, 0, 1),
                };
                self.branch(c, 2);
            }
            GetG => {
                let Operand::Global(g) = *self.operand(1) else {
                    unreachable!("shape checked")
                };
                let ctx = self.ctx;
                let base = self
                    .b
                    .ins()
                    .load(I64, mem(), ctx, ctx_offset::GLOBALS as i32);
                let off = (self.req.global_map[g as usize] * 16) as i32;
                let tag = self.b.ins().load(I64, mem(), base, off);
                let bits = self.b.ins().load(I64, mem(), base, off + 8);
                self.set_dst(0, Val::Gen(tag, bits));
            }
            SetG => {
                let Operand::Global(g) = *self.operand(0) else {
                    unreachable!("shape checked")
                };
                let (tag, bits) = self.val_gen(1);
                let ctx = self.ctx;
                let base = self
                    .b
                    .ins()
                    .load(I64, mem(), ctx, ctx_offset::GLOBALS as i32);
                let off = (self.req.global_map[g as usize] * 16) as i32;
                self.b.ins().store(mem(), tag, base, off);
                self.b.ins().store(mem(), bits, base, off + 8);
            }
            GetF | SetF => self.field(op),
            AGet | ASet | ALen | APush => self.array(op),
            LdI8 | LdU8 | LdI16 | LdU16 | LdI32 | LdU32 | LdI64 | LdF32 | LdF64 | StI8 | StI16
            | StI32 | StI64 | StF32 | StF64 | BLen => self.bytes(op),
            Call => {
                let Operand::Func(fi) = *self.operand(1) else {
                    unreachable!("shape checked")
                };
                self.call(Some(0), fi, 2, pre, post);
            }
            CallV => self.callv(pre, post),
            Dispatch => self.dispatch(pre, post),
            TailCall => {
                let Operand::Func(fi) = *self.operand(0) else {
                    unreachable!("shape checked")
                };
                self.tailcall(fi, pre);
            }
            TailCallV => self.tailcallv(pre),
            NCall => self.ncall(),
            // Operand checks (`pre`) were emitted inline by `instr` before the body.
            New | Closure | NewArr if !post => self.alloc(),
            // The string builders allocate and may trap: a direct call of the allocation
            // helper, which runs the interpreter's runtime function for this op.
            Concat | Substr | ToStr if !post => self.alloc_helper(),
            GetUp | SetUp => self.upvalue(op),
            SLen | SGet => self.string(op),
            Sys => self.sys(!pre && !post),
            Is => {
                let Operand::Type(ty) = *self.operand(2) else {
                    unreachable!("shape checked")
                };
                let (tag, bits) = self.val_gen(1);
                let yes = self.admits(ty, false, tag, bits);
                self.set_dst(0, Val::Bool(yes));
            }
            Cast => {
                let Operand::Type(ty) = *self.operand(2) else {
                    unreachable!("shape checked")
                };
                let v = self.val(1);
                let (tag, bits) = self.gen(v);
                let ok = self.admits(ty, false, tag, bits);
                // A failed cast steps the instruction, whose interpreter code raises the error.
                self.check_or_step(ok);
                self.set_dst(0, v);
            }
            Ret => {
                if pre {
                    self.step(step_mode::PRE);
                }
                let (tag, bits) = if self.ins().operands.is_empty() {
                    let z = self.iconst(I64, 0);
                    (z, z)
                } else {
                    self.val_gen(0)
                };
                let ctx = self.ctx;
                self.b
                    .ins()
                    .store(mem(), tag, ctx, ctx_offset::RET_TAG as i32);
                self.b
                    .ins()
                    .store(mem(), bits, ctx, ctx_offset::RET_BITS as i32);
                // Also in the return registers (see `return_status`): RETURN is zero, so the
                // first word is the tag shifted into its upper half.
                const _: () = assert!(status::RETURN == 0);
                let word = self.b.ins().ishl_imm_s(tag, 32);
                self.b.ins().return_(&[word, bits]);
                self.terminated = true;
            }
            _ => {
                self.step(step_mode::FULL);
                if !op.falls_through() {
                    // `halt`: the step always stops the program.
                    let st = self.iconst(I32, status::TRAP as i64);
                    self.return_status(st);
                    self.terminated = true;
                }
            }
        }
        Ok(())
    }

    /// `ncall`: a direct call of the C function's address with the C signature, converting
    /// int, float, ptr and bytes arguments inline (narrow ints range-checked, `any` operands
    /// tag-checked) and the result back. A failed check steps the interpreter through the
    /// instruction, which raises the same error as in the interpreter. Externs with `str`
    /// parameters or result (they copy strings), externs the FFI may not call, and arguments
    /// whose static kind never fits are stepped.
    fn ncall(&mut self) {
        use sigma_runtime::ffi::CType;
        let Operand::Extern(e) = *self.operand(1) else {
            unreachable!("shape checked")
        };
        let x = &self.req.module.externs[e as usize];
        let (params, ret) = (x.params.clone(), x.ret);
        let addr = self.req.externs.get(e as usize).copied().flatten();
        let fits = |ct: CType, t: Type| match ct {
            _ if t == Type::Any => true,
            CType::F32 | CType::F64 => matches!(t, Type::Int | Type::Float),
            CType::Ptr => matches!(t, Type::Int | Type::Ptr),
            CType::Bytes => t == Type::Bytes,
            ct if ct.is_int() => t == Type::Int,
            _ => false,
        };
        let direct = addr.is_some()
            && ret != CType::Str
            && params
                .iter()
                .enumerate()
                .all(|(i, &ct)| ct != CType::Str && fits(ct, self.static_type(2 + i)));
        let Some(addr) = addr.filter(|_| direct) else {
            self.step(step_mode::FULL);
            return;
        };
        let mut ok: Option<V> = None;
        let mut and = |t: &mut Self, c: V| {
            ok = Some(match ok {
                Some(o) => t.b.ins().band(o, c),
                None => c,
            });
        };
        let mut sig = Signature::new(self.cc);
        let mut args = Vec::with_capacity(params.len());
        for (i, &ct) in params.iter().enumerate() {
            let v = self.val(2 + i);
            match ct {
                CType::F32 | CType::F64 => {
                    let f = match v {
                        Val::Float(f) => f,
                        Val::Int(x) => self.b.ins().fcvt_from_sint(F64, x),
                        Val::Gen(tag, bits) => {
                            let is_f = self.b.ins().icmp_imm_s(IntCC::Equal, tag, FLOAT);
                            let is_i = self.b.ins().icmp_imm_s(IntCC::Equal, tag, INT);
                            let either = self.b.ins().bor(is_f, is_i);
                            and(self, either);
                            let asf = self.b.ins().bitcast(F64, MemFlagsData::new(), bits);
                            let conv = self.b.ins().fcvt_from_sint(F64, bits);
                            self.b.ins().select(is_f, asf, conv)
                        }
                        Val::Bool(_) => unreachable!("excluded by `fits`"),
                    };
                    if ct == CType::F32 {
                        sig.params.push(AbiParam::new(types::F32));
                        args.push(self.b.ins().fdemote(types::F32, f));
                    } else {
                        sig.params.push(AbiParam::new(F64));
                        args.push(f);
                    }
                }
                CType::Bytes => {
                    let (tag, bits) = self.gen(v);
                    let is_b = self
                        .b
                        .ins()
                        .icmp_imm_s(IntCC::Equal, tag, Tag::Bytes as i64);
                    and(self, is_b);
                    sig.params.push(AbiParam::new(I64));
                    args.push(self.b.ins().iadd_imm_s(bits, layout::BYTES_DATA as i64));
                }
                ct => {
                    let xv = match v {
                        Val::Int(xv) => xv,
                        Val::Gen(tag, bits) => {
                            let is_i = self.b.ins().icmp_imm_s(IntCC::Equal, tag, INT);
                            let good = if ct == CType::Ptr {
                                let is_p =
                                    self.b.ins().icmp_imm_s(IntCC::Equal, tag, Tag::Ptr as i64);
                                self.b.ins().bor(is_i, is_p)
                            } else {
                                is_i
                            };
                            and(self, good);
                            bits
                        }
                        _ => unreachable!("excluded by `fits`"),
                    };
                    let (ty, signed) = match ct {
                        CType::I8 => (I8, true),
                        CType::U8 => (I8, false),
                        CType::I16 => (types::I16, true),
                        CType::U16 => (types::I16, false),
                        CType::I32 => (I32, true),
                        CType::U32 => (I32, false),
                        _ => (I64, false),
                    };
                    if let Some((lo, hi)) = ct.int_range() {
                        // lo <= x <= hi as one unsigned comparison of x - lo.
                        let off = self.b.ins().iadd_imm_s(xv, lo.wrapping_neg());
                        let inside = self.b.ins().icmp_imm_u(
                            IntCC::UnsignedLessThanOrEqual,
                            off,
                            hi.wrapping_sub(lo),
                        );
                        and(self, inside);
                    }
                    if ty == I64 {
                        sig.params.push(AbiParam::new(I64));
                        args.push(xv);
                    } else {
                        let p = AbiParam::new(ty);
                        sig.params.push(if signed { p.sext() } else { p.uext() });
                        args.push(self.b.ins().ireduce(ty, xv));
                    }
                }
            }
        }
        if let Some(ok) = ok {
            self.check_or_step(ok);
        }
        let ret_ty = match ret {
            CType::Void => None,
            CType::F32 => Some(types::F32),
            CType::F64 => Some(F64),
            CType::I8 | CType::U8 => Some(I8),
            CType::I16 | CType::U16 => Some(types::I16),
            CType::I32 | CType::U32 => Some(I32),
            _ => Some(I64),
        };
        sig.returns.extend(ret_ty.map(AbiParam::new));
        let sref = self.b.import_signature(sig);
        let callee = self.iconst(I64, addr as i64);
        let call = self.b.ins().call_indirect(sref, callee, &args);
        let r = self.b.inst_results(call).first().copied();
        let result = match (ret, r) {
            (CType::F32, Some(r)) => Val::Float(self.b.ins().fpromote(F64, r)),
            (CType::F64, Some(r)) => Val::Float(r),
            (CType::I8 | CType::I16 | CType::I32, Some(r)) => {
                Val::Int(self.b.ins().sextend(I64, r))
            }
            (CType::U8 | CType::U16 | CType::U32, Some(r)) => {
                Val::Int(self.b.ins().uextend(I64, r))
            }
            (_, Some(r)) => Val::Int(r),
            (_, None) => {
                let z = self.iconst(I64, NIL);
                Val::Gen(z, z)
            }
        };
        self.set_dst(0, result);
    }

    fn val_gen(&mut self, n: usize) -> (V, V) {
        let v = self.val(n);
        self.gen(v)
    }

    fn arith(&mut self, op: Opcode) {
        let (ta, tb) = (self.static_type(1), self.static_type(2));
        if ta == Type::Int && tb == Type::Int {
            let (a, b) = (self.int(1), self.int(2));
            match op {
                Opcode::Add => {
                    let r = self.b.ins().iadd(a, b);
                    self.set_dst(0, Val::Int(r));
                }
                Opcode::Sub => {
                    let r = self.b.ins().isub(a, b);
                    self.set_dst(0, Val::Int(r));
                }
                Opcode::Mul => {
                    let r = self.b.ins().imul(a, b);
                    self.set_dst(0, Val::Int(r));
                }
                _ => self.int_divrem(op, a, b),
            }
            return;
        }
        if ta.is_number() && tb.is_number() {
            if op == Opcode::Rem {
                return self.step(step_mode::FULL);
            }
            let (a, b) = (self.float(1), self.float(2));
            let r = match op {
                Opcode::Add => self.b.ins().fadd(a, b),
                Opcode::Sub => self.b.ins().fsub(a, b),
                Opcode::Mul => self.b.ins().fmul(a, b),
                _ => self.b.ins().fdiv(a, b),
            };
            self.set_dst(0, Val::Float(r));
            return;
        }
        // At least one `any` operand. Speculate (guard, deopt on failure) on the one kind the
        // site saw; otherwise dispatch inline on int/int and float/float, stepping the rest.
        let (at, ab) = self.val_gen(1);
        let (bt, bb) = self.val_gen(2);
        let spec = self.speculation();
        if op != Opcode::Rem && spec == Some(FLOAT) {
            let both = self.both_tagged(at, bt, FLOAT);
            self.guard(both);
            let r = self.float_arith(op, ab, bb);
            self.set_dst(0, Val::Float(r));
            return;
        }
        let both_int = self.both_tagged(at, bt, INT);
        if spec == Some(INT) && !matches!(op, Opcode::Div | Opcode::Rem) {
            self.guard(both_int);
            let r = self.int_arith(op, ab, bb);
            self.set_dst(0, Val::Int(r));
            return;
        }
        let int_path = self.b.create_block();
        let not_int = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(both_int, int_path, &[], not_int, &[]);
        self.b.switch_to_block(int_path);
        if matches!(op, Opcode::Div | Opcode::Rem) {
            self.int_divrem(op, ab, bb);
        } else {
            let r = self.int_arith(op, ab, bb);
            self.set_dst(0, Val::Int(r));
        }
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(not_int);
        if op != Opcode::Rem {
            let both_float = self.both_tagged(at, bt, FLOAT);
            let float_path = self.b.create_block();
            let slow = self.b.create_block();
            self.b.ins().brif(both_float, float_path, &[], slow, &[]);
            self.b.switch_to_block(float_path);
            let a = self.b.ins().bitcast(F64, MemFlagsData::new(), ab);
            let b = self.b.ins().bitcast(F64, MemFlagsData::new(), bb);
            let r = self.float_arith(op, a, b);
            self.set_dst(0, Val::Float(r));
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(slow);
        }
        self.b
            .set_cold_block(self.b.current_block().expect("in a block"));
        self.step(step_mode::FULL);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    /// The kind (INT or FLOAT tag) to speculate on at this pc's generic site: the only kind the
    /// interpreter saw there (ints go unprofiled, so "nothing" means ints), unless a
    /// speculation already failed here.
    fn speculation(&self) -> Option<i64> {
        infer::speculation(self.req.profile.get(self.pc).copied().unwrap_or(0)).map(i64::from)
    }

    /// An i8: both tags equal `tag`.
    fn both_tagged(&mut self, at: V, bt: V, tag: i64) -> V {
        let a = self.b.ins().icmp_imm_s(IntCC::Equal, at, tag);
        let b = self.b.ins().icmp_imm_s(IntCC::Equal, bt, tag);
        self.b.ins().band(a, b)
    }

    /// `add`/`sub`/`mul` of two ints (wrapping).
    fn int_arith(&mut self, op: Opcode, a: V, b: V) -> V {
        match op {
            Opcode::Add => self.b.ins().iadd(a, b),
            Opcode::Sub => self.b.ins().isub(a, b),
            _ => self.b.ins().imul(a, b),
        }
    }

    /// `add`/`sub`/`mul`/`div` of two floats; `a` and `b` are i64 bit patterns or f64s.
    fn float_arith(&mut self, op: Opcode, a: V, b: V) -> V {
        let as_f64 = |t: &mut Self, v: V| {
            if t.b.func.dfg.value_type(v) == F64 {
                v
            } else {
                t.b.ins().bitcast(F64, MemFlagsData::new(), v)
            }
        };
        let (a, b) = (as_f64(self, a), as_f64(self, b));
        match op {
            Opcode::Add => self.b.ins().fadd(a, b),
            Opcode::Sub => self.b.ins().fsub(a, b),
            Opcode::Mul => self.b.ins().fmul(a, b),
            _ => self.b.ins().fdiv(a, b),
        }
    }

    /// `div`/`rem` of two ints: zero traps through the slow path; `MIN / -1` wraps.
    fn int_divrem(&mut self, op: Opcode, a: V, b: V) {
        let zero = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
        let nonzero = self.b.create_block();
        let slow = self.b.create_block();
        self.b.ins().brif(zero, slow, &[], nonzero, &[]);
        self.b.switch_to_block(slow);
        self.b.set_cold_block(slow);
        self.step(step_mode::FULL);
        // The step trapped (division by zero) and returned.
        let st = self.iconst(I32, status::TRAP as i64);
        self.return_status(st);
        self.b.switch_to_block(nonzero);
        // Cranelift's sdiv/srem trap on MIN / -1; Sigma wraps. Divide by 1 instead, then fix.
        let minus1 = self.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
        let one = self.iconst(I64, 1);
        let safe_b = self.b.ins().select(minus1, one, b);
        let r = if op == Opcode::Div {
            let q = self.b.ins().sdiv(a, safe_b);
            let neg = self.b.ins().ineg(a);
            self.b.ins().select(minus1, neg, q)
        } else {
            let m = self.b.ins().srem(a, safe_b);
            let z = self.iconst(I64, 0);
            self.b.ins().select(minus1, z, m)
        };
        self.set_dst(0, Val::Int(r));
    }

    fn unary(&mut self, op: Opcode) {
        let t = self.static_type(1);
        if t == Type::Any {
            return self.unary_any(op);
        }
        let x = match (t, self.val(1)) {
            (Type::Int, _) => self.int(1),
            (Type::Float, _) => self.float(1),
            (Type::Bool, Val::Bool(b)) => b,
            _ => return self.step(step_mode::FULL),
        };
        match self.unary_typed(op, t, x) {
            Some(r) => self.set_dst(0, r),
            None => self.step(step_mode::FULL),
        }
    }

    /// A unary operation on an `any` operand: inline for the kinds it is defined on (ints,
    /// floats), the interpreter's code for the rest (which raises the errors).
    fn unary_any(&mut self, op: Opcode) {
        use Opcode::*;
        let kinds: &[Type] = match op {
            Neg | Abs | Sqrt | Floor | Ceil | Trunc | Round => &[Type::Int, Type::Float],
            Itof | Not | Sext8 | Sext16 | Sext32 | Zext8 | Zext16 | Zext32 => &[Type::Int],
            Ftoi | F32 => &[Type::Float],
            _ => return self.step(step_mode::FULL),
        };
        let (tag, bits) = self.val_gen(1);
        let done = self.b.create_block();
        for &k in kinds {
            let want = k.tag().map_or(NIL, |g| g as i64);
            let is = self.b.ins().icmp_imm_s(IntCC::Equal, tag, want);
            let here = self.b.create_block();
            let next = self.b.create_block();
            self.b.ins().brif(is, here, &[], next, &[]);
            self.b.switch_to_block(here);
            let x = if k == Type::Float {
                self.b.ins().bitcast(F64, MemFlagsData::new(), bits)
            } else {
                bits
            };
            let r = self
                .unary_typed(op, k, x)
                .unwrap_or_else(|| unreachable!("kinds lists defined cases"));
            self.set_dst(0, r);
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(next);
        }
        self.b
            .set_cold_block(self.b.current_block().expect("in a block"));
        self.step(step_mode::FULL);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    /// A unary operation on `x`, an SSA value of type `t` (i64 int, f64 float, i8 bool);
    /// `None` where the operation is not defined inline.
    fn unary_typed(&mut self, op: Opcode, t: Type, x: V) -> Option<Val> {
        use Opcode::*;
        Some(match (op, t) {
            (Neg, Type::Int) => Val::Int(self.b.ins().ineg(x)),
            (Neg, Type::Float) => Val::Float(self.b.ins().fneg(x)),
            (Abs, Type::Int) => {
                let n = self.b.ins().ineg(x);
                let neg = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, x, 0);
                Val::Int(self.b.ins().select(neg, n, x))
            }
            (Abs, Type::Float) => Val::Float(self.b.ins().fabs(x)),
            (Itof, Type::Int) => Val::Float(self.b.ins().fcvt_from_sint(F64, x)),
            (Ftoi, Type::Float) => Val::Int(self.b.ins().fcvt_to_sint_sat(I64, x)),
            (Sext8 | Sext16 | Sext32 | Zext8 | Zext16 | Zext32, Type::Int) => {
                let (ty, signed) = match op {
                    Sext8 => (I8, true),
                    Sext16 => (types::I16, true),
                    Sext32 => (I32, true),
                    Zext8 => (I8, false),
                    Zext16 => (types::I16, false),
                    _ => (I32, false),
                };
                let narrow = self.b.ins().ireduce(ty, x);
                Val::Int(if signed {
                    self.b.ins().sextend(I64, narrow)
                } else {
                    self.b.ins().uextend(I64, narrow)
                })
            }
            (F32, Type::Float) => {
                let s = self.b.ins().fdemote(types::F32, x);
                Val::Float(self.b.ins().fpromote(F64, s))
            }
            (Sqrt | Floor | Ceil | Trunc | Round, Type::Int | Type::Float) => {
                let a = if t == Type::Int {
                    self.b.ins().fcvt_from_sint(F64, x)
                } else {
                    x
                };
                Val::Float(match op {
                    Sqrt => self.b.ins().sqrt(a),
                    Floor => self.b.ins().floor(a),
                    Ceil => self.b.ins().ceil(a),
                    Trunc => self.b.ins().trunc(a),
                    _ => self.b.ins().nearest(a),
                })
            }
            (Not, Type::Int) => Val::Int(self.b.ins().bnot(x)),
            (Not, Type::Bool) => Val::Bool(self.b.ins().bxor_imm_s(x, 1)),
            _ => return None,
        })
    }

    fn bitwise(&mut self, op: Opcode) {
        use Opcode::*;
        let (ta, tb) = (self.static_type(1), self.static_type(2));
        if ta == Type::Int && tb == Type::Int {
            let (a, b) = (self.int(1), self.int(2));
            let r = match op {
                And => self.b.ins().band(a, b),
                Or => self.b.ins().bor(a, b),
                Xor => self.b.ins().bxor(a, b),
                Shl => self.b.ins().ishl(a, b),
                Shr => self.b.ins().ushr(a, b),
                _ => self.b.ins().sshr(a, b),
            };
            return self.set_dst(0, Val::Int(r));
        }
        if ta == Type::Bool && tb == Type::Bool && matches!(op, And | Or | Xor) {
            if let (Val::Bool(a), Val::Bool(b)) = (self.val(1), self.val(2)) {
                let r = match op {
                    And => self.b.ins().band(a, b),
                    Or => self.b.ins().bor(a, b),
                    _ => self.b.ins().bxor(a, b),
                };
                return self.set_dst(0, Val::Bool(r));
            }
        }
        self.step(step_mode::FULL);
    }

    /// An inline comparison of operands `a` and `b` (as an i8 0/1), when their static types
    /// allow one; `None` otherwise. `any` int comparisons are speculated from the profile.
    fn compare(&mut self, op: Opcode, a: usize, b: usize) -> Option<V> {
        use Opcode::*;
        let (ta, tb) = (self.static_type(a), self.static_type(b));
        let int_cc = |op| match op {
            Eq => IntCC::Equal,
            Ne => IntCC::NotEqual,
            Lt => IntCC::SignedLessThan,
            Le => IntCC::SignedLessThanOrEqual,
            Gt => IntCC::SignedGreaterThan,
            Ge => IntCC::SignedGreaterThanOrEqual,
            Ltu => IntCC::UnsignedLessThan,
            Leu => IntCC::UnsignedLessThanOrEqual,
            Gtu => IntCC::UnsignedGreaterThan,
            _ => IntCC::UnsignedGreaterThanOrEqual,
        };
        if ta == Type::Int && tb == Type::Int {
            let (x, y) = (self.int(a), self.int(b));
            return Some(self.b.ins().icmp(int_cc(op), x, y));
        }
        let unsigned = matches!(op, Ltu | Leu | Gtu | Geu);
        if ta == Type::Float && tb == Type::Float && !unsigned {
            let (x, y) = (self.float(a), self.float(b));
            return Some(self.b.ins().fcmp(float_cc(op), x, y));
        }
        // Comparing with nil is a tag test.
        if matches!(op, Eq | Ne) && (ta == Type::Nil || tb == Type::Nil) {
            let other = if ta == Type::Nil { b } else { a };
            let (tag, _) = self.val_gen(other);
            let cc = if op == Eq {
                IntCC::Equal
            } else {
                IntCC::NotEqual
            };
            return Some(self.b.ins().icmp_imm_s(cc, tag, NIL));
        }
        if ta == Type::Bool && tb == Type::Bool && matches!(op, Eq | Ne) {
            if let (Val::Bool(x), Val::Bool(y)) = (self.val(a), self.val(b)) {
                return Some(self.b.ins().icmp(int_cc(op), x, y));
            }
        }
        // Equality with a value whose type compares by identity (not a number, which compares
        // across int and float, nor a string, which compares by contents): as in
        // `values_equal`, the values are equal exactly when tag and payload are. This is the
        // common `jeq x, false` of a conditional on an untyped value.
        let by_identity = |t: Type| !matches!(t, Type::Any | Type::Int | Type::Float | Type::Str);
        if matches!(op, Eq | Ne) && (by_identity(ta) || by_identity(tb)) {
            let (xt, xb) = self.val_gen(a);
            let (yt, yb) = self.val_gen(b);
            let cc = int_cc(op);
            let t = self.b.ins().icmp(cc, xt, yt);
            let v = self.b.ins().icmp(cc, xb, yb);
            return Some(if op == Eq {
                self.b.ins().band(t, v)
            } else {
                self.b.ins().bor(t, v)
            });
        }
        let generic = (ta == Type::Any || tb == Type::Any) && !unsigned;
        // Equality is not profiled (any two values compare), so only orderings speculate.
        let ordering = matches!(op, Lt | Le | Gt | Ge);
        let spec = if generic && ordering {
            self.speculation()
        } else {
            None
        };
        let fits = |t: Type, want: Type| t == Type::Any || t == want;
        if spec == Some(INT) && fits(ta, Type::Int) && fits(tb, Type::Int) {
            let (xt, xb) = self.val_gen(a);
            let (yt, yb) = self.val_gen(b);
            let both = self.both_tagged(xt, yt, INT);
            self.guard(both);
            return Some(self.b.ins().icmp(int_cc(op), xb, yb));
        }
        if spec == Some(FLOAT) && fits(ta, Type::Float) && fits(tb, Type::Float) {
            let (xt, xb) = self.val_gen(a);
            let (yt, yb) = self.val_gen(b);
            let both = self.both_tagged(xt, yt, FLOAT);
            self.guard(both);
            let x = self.b.ins().bitcast(F64, MemFlagsData::new(), xb);
            let y = self.b.ins().bitcast(F64, MemFlagsData::new(), yb);
            return Some(self.b.ins().fcmp(float_cc(op), x, y));
        }
        None
    }

    /// A comparison for a branch through the runtime helper (with an int fast path).
    fn compare_helper(&mut self, op: Opcode, a: usize, b: usize) -> V {
        use Opcode::*;
        let code = match op {
            Lt => 0,
            Le => 1,
            Gt => 2,
            Ge => 3,
            _ => 4,
        };
        let (xt, xb) = self.val_gen(a);
        let (yt, yb) = self.val_gen(b);
        let result = self.b.create_block();
        self.b.append_block_param(result, I8);
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        let both = self.both_tagged(xt, yt, INT);
        let not_int = self.b.create_block();
        self.b.ins().brif(both, fast, &[], not_int, &[]);
        self.b.switch_to_block(not_int);
        let both_float = self.both_tagged(xt, yt, FLOAT);
        let float_path = self.b.create_block();
        self.b.ins().brif(both_float, float_path, &[], slow, &[]);
        self.b.switch_to_block(float_path);
        let x = self.b.ins().bitcast(F64, MemFlagsData::new(), xb);
        let y = self.b.ins().bitcast(F64, MemFlagsData::new(), yb);
        let c = self.b.ins().fcmp(float_cc(op), x, y);
        self.b.ins().jump(result, &[BlockArg::Value(c)]);
        self.b.switch_to_block(fast);
        let cc = match op {
            Lt => IntCC::SignedLessThan,
            Le => IntCC::SignedLessThanOrEqual,
            Gt => IntCC::SignedGreaterThan,
            Ge => IntCC::SignedGreaterThanOrEqual,
            Eq => IntCC::Equal,
            _ => IntCC::NotEqual,
        };
        let c = self.b.ins().icmp(cc, xb, yb);
        self.b.ins().jump(result, &[BlockArg::Value(c)]);
        self.b.switch_to_block(slow);
        let ctx = self.ctx;
        let opc = self.iconst(I32, code);
        let r = self
            .helper(
                self.req.helpers.compare,
                self.sigs.compare,
                &[ctx, opc, xt, xb, yt, yb],
            )
            .unwrap_or_else(|| unreachable!("compare returns"));
        // 2: the helper raised a TypeError.
        let failed = self.b.ins().icmp_imm_s(IntCC::Equal, r, 2);
        let ok = self.b.create_block();
        let pc = self.iconst(I32, self.pc as i64);
        let trap = self.iconst(I32, status::TRAP as i64);
        self.b.ins().brif(
            failed,
            self.fail,
            &[BlockArg::Value(trap), BlockArg::Value(pc)],
            ok,
            &[],
        );
        self.b.switch_to_block(ok);
        let r8 = self.b.ins().ireduce(I8, r);
        let r8 = if op == Ne {
            self.b.ins().bxor_imm_s(r8, 1)
        } else {
            r8
        };
        self.b.ins().jump(result, &[BlockArg::Value(r8)]);
        self.b.switch_to_block(result);
        self.b.block_params(result)[0]
    }

    /// Truthiness of operand `n` as an i8.
    fn truthy(&mut self, n: usize) -> V {
        match self.val(n) {
            Val::Bool(c) => c,
            Val::Int(_) | Val::Float(_) => self.iconst(I8, 1),
            Val::Gen(tag, bits) => {
                let is_nil = self.b.ins().icmp_imm_s(IntCC::Equal, tag, NIL);
                let is_bool = self.b.ins().icmp_imm_s(IntCC::Equal, tag, BOOL);
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, bits, 0);
                let is_false = self.b.ins().band(is_bool, zero);
                let falsy = self.b.ins().bor(is_nil, is_false);
                self.b.ins().bxor_imm_s(falsy, 1)
            }
        }
    }

    /// Branches to the slow path (a step of this instruction) unless `ok`; the fast path
    /// continues in the returned block, and both meet in `done`.
    fn fast_or_step(&mut self, ok: V) -> Block {
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(ok, fast, &[], slow, &[]);
        self.b.switch_to_block(slow);
        self.b.set_cold_block(slow);
        self.step(step_mode::FULL);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(fast);
        done
    }

    /// `sys`: the char conversions (pure, no capability) are inline for the values they
    /// accept — a char's code, and the char of an int that is a Unicode scalar value; the
    /// string and number-text calls (pure, no capability, never running guest code) call the
    /// allocation helper, which runs the system call directly (`single`: the instruction is one
    /// interpreter op); every other system call, and every other argument, steps the
    /// instruction.
    fn sys(&mut self, single: bool) {
        let Operand::Sys(k) = *self.operand(1) else {
            unreachable!("shape checked")
        };
        let name = match self.constant(k) {
            Constant::Str(name) => name.as_str(),
            _ => "",
        };
        match name {
            "char_code" => {
                let (tag, bits) = self.val_gen(2);
                let is_char = self.b.ins().icmp_imm_s(IntCC::Equal, tag, Tag::Char as i64);
                let done = self.fast_or_step(is_char);
                self.set_dst(0, Val::Int(bits));
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
            }
            "char_from_code" => {
                let (tag, bits) = self.val_gen(2);
                let is_int = self.b.ins().icmp_imm_s(IntCC::Equal, tag, INT);
                // A scalar value: at most U+10FFFF (unsigned, so not negative) and not a
                // surrogate (U+D800..=U+DFFF).
                let max = self
                    .b
                    .ins()
                    .icmp_imm_s(IntCC::UnsignedLessThanOrEqual, bits, 0x10_FFFF);
                let from_d800 = self.b.ins().iadd_imm_s(bits, -0xD800);
                let not_surrogate =
                    self.b
                        .ins()
                        .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, from_d800, 0x800);
                let scalar = self.b.ins().band(max, not_surrogate);
                let ok = self.b.ins().band(is_int, scalar);
                let done = self.fast_or_step(ok);
                let char_tag = self.iconst(I64, Tag::Char as i64);
                self.set_dst(0, Val::Gen(char_tag, bits));
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
            }
            "intern" | "join" | "to_str" | "format_int" | "format_float" | "parse_int"
            | "parse_int_radix" | "parse_float"
                if single =>
            {
                self.alloc_helper()
            }
            _ => self.step(step_mode::FULL),
        }
    }

    /// `slen` of a str (its char count) and `sget` of an ASCII str at an index in bounds (its
    /// byte); anything else steps the instruction, whose interpreter code handles non-ASCII
    /// text and raises the errors.
    fn string(&mut self, op: Opcode) {
        let (tag, ptr) = self.val_gen(1);
        let is_str = self.b.ins().icmp_imm_s(IntCC::Equal, tag, Tag::Str as i64);
        if op == Opcode::SLen {
            let done = self.fast_or_step(is_str);
            let chars = self.b.ins().load(I64, mem(), ptr, layout::STR_CHARS as i32);
            self.set_dst(0, Val::Int(chars));
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(done);
            return;
        }
        let (it, ib) = self.val_gen(2);
        let is_int = self.b.ins().icmp_imm_s(IntCC::Equal, it, INT);
        let ok = self.b.ins().band(is_str, is_int);
        let (done, ()) = self.fast_or_step_checked(ok, |t| {
            let len = t.b.ins().load(I64, mem(), ptr, layout::STR_LEN as i32);
            let chars = t.b.ins().load(I64, mem(), ptr, layout::STR_CHARS as i32);
            let ascii = t.b.ins().icmp(IntCC::Equal, len, chars);
            // 0 <= i < chars, as one unsigned comparison.
            let inb = t.b.ins().icmp(IntCC::UnsignedLessThan, ib, chars);
            (t.b.ins().band(ascii, inb), ())
        });
        let at = self.b.ins().iadd(ptr, ib);
        let byte = self
            .b
            .ins()
            .uload8(I64, mem(), at, layout::STR_BYTES as i32);
        let char_tag = self.iconst(I64, Tag::Char as i64);
        self.set_dst(0, Val::Gen(char_tag, byte));
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    /// Like [`Self::fast_or_step`] with a second condition: if `ok`, `second` computes (where
    /// `ok` holds) a condition and a value for the fast path; if both hold, the builder is left
    /// in the fast block, and otherwise the instruction is stepped. Returns the join block and
    /// `second`'s value.
    fn fast_or_step_checked<T>(
        &mut self,
        ok: V,
        second: impl FnOnce(&mut Self) -> (V, T),
    ) -> (Block, T) {
        let check = self.b.create_block();
        let slow = self.b.create_block();
        let fast = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(ok, check, &[], slow, &[]);
        self.b.switch_to_block(check);
        let (cond, value) = second(self);
        self.b.ins().brif(cond, fast, &[], slow, &[]);
        self.b.switch_to_block(slow);
        self.b.set_cold_block(slow);
        self.step(step_mode::FULL);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(fast);
        (done, value)
    }

    /// Whether operand `n` may hold a reference (so storing it into an object may need the
    /// write barrier).
    fn may_be_ref(&self, n: usize) -> bool {
        !matches!(
            self.static_type(n),
            Type::Nil | Type::Bool | Type::Int | Type::Float | Type::Char | Type::Ptr
        )
    }

    /// The inline test of the write barrier (see `sigma_runtime::heap::write_barrier`): true
    /// when storing a value tagged `vt` into the heap object at `obj` needs no barrier (the
    /// value is not a reference, or the object is young, or already remembered). Where it is
    /// false, the instruction is stepped: the interpreter's code stores and runs the barrier.
    /// `obj` must be known to be a heap object where this is evaluated.
    fn barrier_free(&mut self, vt: V, obj: V) -> V {
        let not_ref = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, vt, Tag::FIRST_REF as i64);
        let mark = self
            .b
            .ins()
            .uload8(I32, mem(), obj, layout::HEADER_MARK as i32);
        let young = self.b.ins().icmp_imm_s(IntCC::Equal, mark, 0);
        let flags = self
            .b
            .ins()
            .uload8(I32, mem(), obj, layout::HEADER_FLAGS as i32);
        let rem = self.b.ins().band_imm_s(flags, layout::REMEMBERED as i64);
        let remembered = self.b.ins().icmp_imm_s(IntCC::NotEqual, rem, 0);
        let skip = self.b.ins().bor(young, remembered);
        self.b.ins().bor(not_ref, skip)
    }

    fn field(&mut self, op: Opcode) {
        let (obj, fld) = if op == Opcode::GetF { (1, 2) } else { (0, 1) };
        let Operand::Field(ti, fi) = *self.operand(fld) else {
            unreachable!("shape checked")
        };
        let vtable = self.req.record_vtables[ti as usize];
        let (tag, ptr) = self.val_gen(obj);
        let typed = self.static_type(obj) == Type::Record(ti);
        // A store of a value that may be a reference checks the write barrier too.
        let stored = (op == Opcode::SetF).then(|| self.val_gen(2));
        let barrier = stored.filter(|_| self.may_be_ref(2)).map(|(vt, _)| vt);
        let done = if typed {
            barrier.map(|vt| {
                let ok = self.barrier_free(vt, ptr);
                self.fast_or_step(ok)
            })
        } else {
            let is_rec = self
                .b
                .ins()
                .icmp_imm_s(IntCC::Equal, tag, Tag::Record as i64);
            let (done, ()) = self.fast_or_step_checked(is_rec, |t| {
                let mut ok = t.has_vtable(ptr, vtable);
                if let Some(vt) = barrier {
                    let free = t.barrier_free(vt, ptr);
                    ok = t.b.ins().band(ok, free);
                }
                (ok, ())
            });
            Some(done)
        };
        let off = (layout::RECORD_FIELDS + fi as usize * 16) as i32;
        if let Some((t, b)) = stored {
            self.b.ins().store(mem(), t, ptr, off);
            self.b.ins().store(mem(), b, ptr, off + 8);
        } else {
            let t = self.b.ins().load(I64, mem(), ptr, off);
            let b = self.b.ins().load(I64, mem(), ptr, off + 8);
            self.set_dst(0, Val::Gen(t, b));
        }
        if let Some(done) = done {
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(done);
        }
    }

    fn array(&mut self, op: Opcode) {
        let arr = if matches!(op, Opcode::ASet | Opcode::APush) {
            0
        } else {
            1
        };
        let (tag, ptr) = self.val_gen(arr);
        // An operand whose type is known here (a typed register, or one the instruction's
        // run-time check just passed) needs no second tag test.
        let mut ok = if self.static_type(arr) == Type::Array {
            self.iconst(I8, 1)
        } else {
            self.b
                .ins()
                .icmp_imm_s(IntCC::Equal, tag, Tag::Array as i64)
        };
        if op == Opcode::APush {
            // With room in the buffer, the value goes at `len` and `len` grows by one; a full
            // buffer grows (which may collect) in the interpreter's code.
            let (vt, vb) = self.val_gen(1);
            let barrier = self.may_be_ref(1);
            let (done, len) = self.fast_or_step_checked(ok, |t| {
                let len = t.b.ins().load(I64, mem(), ptr, layout::ARRAY_LEN as i32);
                let cap = t.b.ins().load(I64, mem(), ptr, layout::ARRAY_CAP as i32);
                let mut room = t.b.ins().icmp(IntCC::UnsignedLessThan, len, cap);
                if barrier {
                    let free = t.barrier_free(vt, ptr);
                    room = t.b.ins().band(room, free);
                }
                (room, len)
            });
            let data = self.b.ins().load(I64, mem(), ptr, layout::ARRAY_PTR as i32);
            let off = self.b.ins().ishl_imm_s(len, 4);
            let addr = self.b.ins().iadd(data, off);
            self.b.ins().store(mem(), vt, addr, 0);
            self.b.ins().store(mem(), vb, addr, 8);
            let grown = self.b.ins().iadd_imm_s(len, 1);
            self.b
                .ins()
                .store(mem(), grown, ptr, layout::ARRAY_LEN as i32);
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(done);
            return;
        }
        if op == Opcode::ALen {
            let done = self.fast_or_step(ok);
            let len = self.b.ins().load(I64, mem(), ptr, layout::ARRAY_LEN as i32);
            self.set_dst(0, Val::Int(len));
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(done);
            return;
        }
        let idx_n = arr + 1;
        let (it, ib) = self.val_gen(idx_n);
        let is_int = self.b.ins().icmp_imm_s(IntCC::Equal, it, INT);
        ok = self.b.ins().band(ok, is_int);
        let stored = (op == Opcode::ASet).then(|| self.val_gen(2));
        let barrier = stored.filter(|_| self.may_be_ref(2)).map(|(vt, _)| vt);
        // Tag checks come first: only an array has a length (and a header) to load.
        let (done, ()) = self.fast_or_step_checked(ok, |t| {
            let len = t.b.ins().load(I64, mem(), ptr, layout::ARRAY_LEN as i32);
            let mut inb = t.b.ins().icmp(IntCC::UnsignedLessThan, ib, len);
            if let Some(vt) = barrier {
                let free = t.barrier_free(vt, ptr);
                inb = t.b.ins().band(inb, free);
            }
            (inb, ())
        });
        let data = self.b.ins().load(I64, mem(), ptr, layout::ARRAY_PTR as i32);
        let off = self.b.ins().ishl_imm_s(ib, 4);
        let addr = self.b.ins().iadd(data, off);
        if let Some((t, b)) = stored {
            self.b.ins().store(mem(), t, addr, 0);
            self.b.ins().store(mem(), b, addr, 8);
        } else {
            let t = self.b.ins().load(I64, mem(), addr, 0);
            let b = self.b.ins().load(I64, mem(), addr, 8);
            self.set_dst(0, Val::Gen(t, b));
        }
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    fn bytes(&mut self, op: Opcode) {
        use Opcode::*;
        let store = matches!(op, StI8 | StI16 | StI32 | StI64 | StF32 | StF64);
        let buf = if store { 0 } else { 1 };
        let (tag, ptr) = self.val_gen(buf);
        let is_bytes = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, tag, Tag::Bytes as i64);
        if op == BLen {
            let done = self.fast_or_step(is_bytes);
            let len = self.b.ins().load(I64, mem(), ptr, layout::BYTES_LEN as i32);
            self.set_dst(0, Val::Int(len));
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(done);
            return;
        }
        let width: i64 = match op {
            LdI8 | LdU8 | StI8 => 1,
            LdI16 | LdU16 | StI16 => 2,
            LdI32 | LdU32 | LdF32 | StI32 | StF32 => 4,
            _ => 8,
        };
        let (ot, ob) = self.val_gen(buf + 1);
        let off_int = self.b.ins().icmp_imm_s(IntCC::Equal, ot, INT);
        let mut ok = self.b.ins().band(is_bytes, off_int);
        let value = if store {
            let want = if matches!(op, StF32 | StF64) {
                FLOAT
            } else {
                INT
            };
            let (vt, vb) = self.val_gen(2);
            let right = self.b.ins().icmp_imm_s(IntCC::Equal, vt, want);
            ok = self.b.ins().band(ok, right);
            Some(vb)
        } else {
            None
        };
        let (done, ()) = self.fast_or_step_checked(ok, |t| {
            let len = t.b.ins().load(I64, mem(), ptr, layout::BYTES_LEN as i32);
            // off >= 0 and off + width <= len, as unsigned: off <= len - width with len >= width.
            let wide =
                t.b.ins()
                    .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, len, width);
            let room = t.b.ins().iadd_imm_s(len, -width);
            let fits = t.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, ob, room);
            (t.b.ins().band(wide, fits), ())
        });
        let base = self.b.ins().iadd(ptr, ob);
        let at = layout::BYTES_DATA as i32;
        let le = MemFlagsData::trusted().with_endianness(ir::Endianness::Little);
        if let Some(vb) = value {
            match op {
                StF32 => {
                    let x = self.b.ins().bitcast(F64, MemFlagsData::new(), vb);
                    let s = self.b.ins().fdemote(types::F32, x);
                    self.b.ins().store(le, s, base, at);
                }
                StF64 | StI64 => {
                    self.b.ins().store(le, vb, base, at);
                }
                _ => {
                    let ty = match width {
                        1 => I8,
                        2 => types::I16,
                        _ => I32,
                    };
                    let n = self.b.ins().ireduce(ty, vb);
                    self.b.ins().store(le, n, base, at);
                }
            }
        } else {
            let r = match op {
                LdF32 => {
                    let s = self.b.ins().load(types::F32, le, base, at);
                    Val::Float(self.b.ins().fpromote(F64, s))
                }
                LdF64 => Val::Float(self.b.ins().load(F64, le, base, at)),
                LdI64 => Val::Int(self.b.ins().load(I64, le, base, at)),
                _ => {
                    let (ty, signed) = match op {
                        LdI8 => (I8, true),
                        LdU8 => (I8, false),
                        LdI16 => (types::I16, true),
                        LdU16 => (types::I16, false),
                        LdI32 => (I32, true),
                        _ => (I32, false),
                    };
                    let n = self.b.ins().load(ty, le, base, at);
                    Val::Int(if signed {
                        self.b.ins().sextend(I64, n)
                    } else {
                        self.b.ins().uextend(I64, n)
                    })
                }
            };
            self.set_dst(0, r);
        }
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    // ---- calls ----------------------------------------------------------------------------

    /// Writes the argument operands `first..` into the frame at `base` (slots 0..).
    fn write_args(&mut self, base: V, first: usize) -> u32 {
        let n = self.ins().operands.len() - first;
        let vals: Vec<(V, V)> = (0..n).map(|i| self.val_gen(first + i)).collect();
        for (i, (t, b)) in vals.into_iter().enumerate() {
            self.store_frame(base, i as u32, t, b);
        }
        n as u32
    }

    /// The result of a call that returned into `dst` (`called`), with the interpreter's result
    /// check when the verifier asked for one.
    fn call_result(&mut self, dst: Option<usize>, post: bool, called: Called) {
        let Some(dst) = dst else { return };
        let b = called.bits;
        // A register whose type fixes the tag needs only the payload (the verifier or the
        // result check `post` vouches for the tag).
        if let (&Operand::Reg(r), false) = (self.operand(dst), post) {
            let v = match self.vars[r as usize] {
                Some((_, Kind::Int)) => Some(Val::Int(b)),
                Some((_, Kind::Float)) => Some(Val::Float(self.b.ins().bitcast(
                    F64,
                    MemFlagsData::new(),
                    b,
                ))),
                Some((_, Kind::Bool)) => Some(Val::Bool(self.b.ins().ireduce(I8, b))),
                _ => None,
            };
            if let Some(v) = v {
                self.set_dst(dst, v);
                return;
            }
        }
        let t = called.tag;
        if post {
            if let Operand::Reg(r) = *self.operand(dst) {
                // The verifier's check of the result, inline; a failure steps the check, which
                // raises the interpreter's error.
                let check = self
                    .info
                    .checks_at(self.pc as u32)
                    .iter()
                    .find(|c| c.site == CheckSite::Result)
                    .copied();
                let regs = self.regs;
                let Some(c) = check else {
                    self.store_frame(regs, r, t, b);
                    self.step(step_mode::POST);
                    return;
                };
                let ok = self.admits(c.ty, c.nullable, t, b);
                let pass = self.b.create_block();
                let failed = self.b.create_block();
                let done = self.b.create_block();
                self.b.ins().brif(ok, pass, &[], failed, &[]);
                self.b.switch_to_block(failed);
                self.b.set_cold_block(failed);
                self.store_frame(regs, r, t, b);
                self.step(step_mode::POST);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(pass);
                self.set_dst(dst, Val::Gen(t, b));
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
                return;
            }
        }
        self.set_dst(dst, Val::Gen(t, b));
    }

    /// A direct call of module function `fi` with arguments from operand `first` on.
    fn call(&mut self, dst: Option<usize>, fi: u32, first: usize, pre: bool, post: bool) {
        self.needs_frame = true;
        if pre {
            self.step(step_mode::PRE);
        }
        let regs = self.regs;
        let callee_id = self.req.func_map[fi as usize];
        let new_regs = self.b.ins().iadd_imm_s(regs, self.frame_size as i64 * 16);
        self.write_args(new_regs, first);
        self.sync_anys();
        let called = self.invoke(callee_id, new_regs);
        self.check_status(called.st, true);
        self.call_result(dst, post, called);
    }

    /// Calls Vm function `callee_id` whose arguments are in the frame at `new_regs` (the
    /// caller's frame already written back): directly if it is compiled (or this function),
    /// through the call helper otherwise, completing deopts and tail calls. Returns the status
    /// in a fresh block.
    fn invoke(&mut self, callee_id: u32, new_regs: V) -> Called {
        self.invoke_callee(Callee::Static(callee_id), new_regs)
    }

    /// Like [`Self::invoke`] for a callee given as a static id or an i32 SSA value.
    fn invoke_callee(&mut self, callee: Callee, new_regs: V) -> Called {
        let ctx = self.ctx;
        let via_helper = self.b.create_block();
        let after = self.after_call_block();
        let complete = self.b.create_block();
        self.b.append_block_param(complete, I32);
        let entry = self.iconst(I32, ENTRY_CALL as i64);
        if callee == Callee::Static(self.req.func_id) {
            // Recursion: a direct call of this very code.
            let call = self.b.ins().call(self.own, &[ctx, new_regs, entry]);
            let res = self.b.inst_results(call).to_vec();
            self.branch_on_returned(&res, complete, after);
        } else {
            // A compiled callee is called directly; otherwise through the helper.
            let native = self.b.create_block();
            let code = match callee {
                Callee::Static(id) => {
                    let table = self
                        .b
                        .ins()
                        .load(I64, mem(), ctx, ctx_offset::NATIVE as i32);
                    self.b
                        .ins()
                        .load(I64, mem(), table, (id as usize * 8) as i32)
                }
                Callee::Dynamic(id) => self.native_entry(id).0,
            };
            self.b.ins().brif(code, native, &[], via_helper, &[]);
            self.b.switch_to_block(native);
            self.call_native_code(code, new_regs, entry, complete, after);
        }
        self.complete_block(complete, after, new_regs);

        self.b.switch_to_block(via_helper);
        self.b.set_cold_block(via_helper);
        let fid = match callee {
            Callee::Static(id) => self.iconst(I32, id as i64),
            Callee::Dynamic(id) => id,
        };
        let st3 = self
            .helper(self.req.helpers.call, self.sigs.call, &[ctx, new_regs, fid])
            .unwrap_or_else(|| unreachable!("call returns"));
        self.jump_after_call(after, st3);

        self.b.switch_to_block(after);
        let p = self.b.block_params(after);
        Called {
            st: p[0],
            tag: p[1],
            bits: p[2],
        }
    }

    /// A block taking a call's outcome: the status (i32) and, if it is RETURN, the result's tag
    /// and payload (see [`Called`]).
    fn after_call_block(&mut self) -> Block {
        let after = self.b.create_block();
        self.b.append_block_param(after, I32);
        self.b.append_block_param(after, I64);
        self.b.append_block_param(after, I64);
        after
    }

    /// Continues at `after` with status `st` from a helper, which left a returned result in
    /// `ctx.ret`.
    fn jump_after_call(&mut self, after: Block, st: V) {
        let ctx = self.ctx;
        let t = self
            .b
            .ins()
            .load(I64, mem(), ctx, ctx_offset::RET_TAG as i32);
        let b = self
            .b
            .ins()
            .load(I64, mem(), ctx, ctx_offset::RET_BITS as i32);
        self.b.ins().jump(
            after,
            &[BlockArg::Value(st), BlockArg::Value(t), BlockArg::Value(b)],
        );
    }

    /// Ends the block after a call of compiled code returning `res` (see [`native_sig`]): a
    /// RETURN status continues at `after` with the result from the return registers, any
    /// other at `complete` (each with the status as first argument).
    fn branch_on_returned(&mut self, res: &[V], complete: Block, after: Block) {
        let st = self.b.ins().ireduce(I32, res[0]);
        let tag = self.b.ins().ushr_imm_s(res[0], 32);
        // On the RETURN edge `st` is RETURN (zero): passing it rather than a constant leaves
        // no constant for the register allocator to keep across calls.
        self.b.ins().brif(
            st,
            complete,
            &[BlockArg::Value(st)],
            after,
            &[
                BlockArg::Value(st),
                BlockArg::Value(tag),
                BlockArg::Value(res[1]),
            ],
        );
    }

    /// Calls compiled code `code` on the callee frame `new_regs` at `entry`: a RETURN status
    /// continues at `after` (with the result), any other at `complete` (see
    /// [`Self::branch_on_returned`]).
    fn call_native_code(&mut self, code: V, new_regs: V, entry: V, complete: Block, after: Block) {
        let ctx = self.ctx;
        let call = self
            .b
            .ins()
            .call_indirect(self.sigs.native, code, &[ctx, new_regs, entry]);
        let res = self.b.inst_results(call).to_vec();
        self.branch_on_returned(&res, complete, after);
    }

    /// Fills `complete` (param: a callee's non-RETURN status), which continues to `after` with
    /// the call's final outcome (see [`Called`]). A tail call of a compiled function (the callee returned
    /// TAILCALL) is performed here, in a loop — the self register of a call through a fn value
    /// set from `ctx.tail_self`, a direct one's set by the callee — so chains of tail calls
    /// between compiled functions run in constant native stack without leaving compiled code.
    /// Everything else (deopts, tail calls of interpreted functions, a self register beyond the
    /// register stack) goes to the complete helper, which finishes the call as the interpreter
    /// would.
    fn complete_block(&mut self, complete: Block, after: Block, new_regs: V) {
        let ctx = self.ctx;
        self.b.switch_to_block(complete);
        let st = self.b.block_params(complete)[0];
        let slow = self.b.create_block();
        let tail = self.b.create_block();
        let fast = self.b.create_block();
        let with_self = self.b.create_block();
        let store_self = self.b.create_block();
        let enter = self.b.create_block();
        self.b.append_block_param(enter, I32);
        let is_tail = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, st, status::TAILCALL as i64);
        self.b.ins().brif(is_tail, tail, &[], slow, &[]);

        self.b.switch_to_block(tail);
        let fid = self
            .b
            .ins()
            .load(I32, mem(), ctx, ctx_offset::TAIL_FUNC as i32);
        let (code, index) = self.native_entry(fid);
        self.b.ins().brif(code, fast, &[], slow, &[]);

        self.b.switch_to_block(fast);
        let stag = self
            .b
            .ins()
            .load(I64, mem(), ctx, ctx_offset::TAIL_SELF_TAG as i32);
        let is_nil = self.b.ins().icmp_imm_s(IntCC::Equal, stag, NIL);
        let direct = self.iconst(I32, ENTRY_CALL as i64);
        self.b
            .ins()
            .brif(is_nil, enter, &[BlockArg::Value(direct)], with_self, &[]);

        self.b.switch_to_block(with_self);
        let at = self.self_slot_of(index, new_regs, None, slow);
        self.b.ins().jump(store_self, &[]);
        self.b.switch_to_block(store_self);
        let sbits = self
            .b
            .ins()
            .load(I64, mem(), ctx, ctx_offset::TAIL_SELF_BITS as i32);
        self.b.ins().store(mem(), stag, at, 0);
        self.b.ins().store(mem(), sbits, at, 8);
        let with = self.iconst(I32, ENTRY_WITH_SELF as i64);
        self.b.ins().jump(enter, &[BlockArg::Value(with)]);

        self.b.switch_to_block(enter);
        let entry = self.b.block_params(enter)[0];
        self.call_native_code(code, new_regs, entry, complete, after);

        self.b.switch_to_block(slow);
        self.b.set_cold_block(slow);
        let st3 = self
            .helper(
                self.req.helpers.complete,
                self.sigs.complete,
                &[ctx, new_regs, st],
            )
            .unwrap_or_else(|| unreachable!("complete returns"));
        self.jump_after_call(after, st3);
    }

    /// The compiled entry of Vm function `fid` (an i32) from the native table (null if it is
    /// interpreted), and `fid` widened for indexing the per-function tables.
    fn native_entry(&mut self, fid: V) -> (V, V) {
        let ctx = self.ctx;
        let table = self
            .b
            .ins()
            .load(I64, mem(), ctx, ctx_offset::NATIVE as i32);
        let index = self.b.ins().uextend(I64, fid);
        let off = self.b.ins().ishl_imm_s(index, 3);
        let at = self.b.ins().iadd(table, off);
        (self.b.ins().load(I64, mem(), at, 0), index)
    }

    /// For a compiled function (`index`: its id as an i64): the address of its self register in
    /// a frame at `new_regs`, continuing in the current block only if that register is inside
    /// the register stack and, with `nargs`, if the function takes exactly `nargs` arguments
    /// with no further checks (`tier::fn_info`); otherwise branches to `slow`.
    fn self_slot_of(&mut self, index: V, new_regs: V, nargs: Option<u32>, slow: Block) -> V {
        let ctx = self.ctx;
        let infos = self
            .b
            .ins()
            .load(I64, mem(), ctx, ctx_offset::FN_INFO as i32);
        let off = self.b.ins().ishl_imm_s(index, 3);
        let at = self.b.ins().iadd(infos, off);
        let info = self.b.ins().load(I64, mem(), at, 0);
        let slot = self.b.ins().ushr_imm_s(info, 32);
        let slot_off = self.b.ins().ishl_imm_s(slot, 4);
        let addr = self.b.ins().iadd(new_regs, slot_off);
        let end = self
            .b
            .ins()
            .load(I64, mem(), ctx, ctx_offset::STACK_END as i32);
        let slot_end = self.b.ins().iadd_imm_s(addr, 16);
        let mut ok = self
            .b
            .ins()
            .icmp(IntCC::UnsignedLessThanOrEqual, slot_end, end);
        if let Some(n) = nargs {
            let arity = self.b.ins().ireduce(I32, info);
            let same = self.b.ins().icmp_imm_s(IntCC::Equal, arity, n as i64);
            ok = self.b.ins().band(ok, same);
        }
        let go = self.b.create_block();
        self.b.ins().brif(ok, go, &[], slow, &[]);
        self.b.switch_to_block(go);
        addr
    }

    /// The Vm function id (i32) of the fn value `(tag, bits)` and its compiled entry, in a new
    /// block reached only if the value is a fn whose function is compiled; otherwise branches
    /// to `slow`.
    fn compiled_fn(&mut self, tag: V, bits: V, slow: Block) -> (V, V, V) {
        let is_fn = self.b.ins().icmp_imm_s(IntCC::Equal, tag, Tag::Fn as i64);
        let load = self.b.create_block();
        self.b.ins().brif(is_fn, load, &[], slow, &[]);
        self.b.switch_to_block(load);
        let fid = self.b.ins().load(I32, mem(), bits, layout::FN_FUNC as i32);
        let (code, index) = self.native_entry(fid);
        let compiled = self.b.create_block();
        self.b.ins().brif(code, compiled, &[], slow, &[]);
        self.b.switch_to_block(compiled);
        (fid, code, index)
    }

    /// `dispatch`: the arguments go to the callee's frame, then a site the interpreter saw
    /// select a single method guards the dispatch epoch and the arguments' keys (tags, record
    /// types, and payloads at positions with literal patterns) and calls that method directly;
    /// a failed guard, and every other site, asks the dispatch helper (the interpreter's
    /// caches and selection) for the method and calls it through the native table.
    fn dispatch(&mut self, pre: bool, post: bool) {
        self.needs_frame = true;
        if pre {
            self.step(step_mode::PRE);
        }
        let mono = self
            .req
            .dispatch
            .iter()
            .find(|d| d.pc as usize == self.pc)
            .cloned();
        let nargs = self.ins().operands.len() - 2;
        let vals: Vec<(V, V)> = (0..nargs).map(|i| self.val_gen(2 + i)).collect();
        let (ctx, regs) = (self.ctx, self.regs);
        let new_regs = self.b.ins().iadd_imm_s(regs, self.frame_size as i64 * 16);
        for (i, &(t, b)) in vals.iter().enumerate() {
            self.store_frame(new_regs, i as u32, t, b);
        }
        self.sync_anys();
        let merge = self.after_call_block();
        let slow = self.b.create_block();
        if let Some(mono) = mono {
            let epoch = self.b.ins().load(I64, mem(), ctx, ctx_offset::EPOCH as i32);
            let mut ok = self
                .b
                .ins()
                .icmp_imm_s(IntCC::Equal, epoch, mono.epoch as i64);
            let mut records = Vec::new();
            for (g, &(tag, bits)) in mono.guards.iter().zip(&vals) {
                let t = self.b.ins().icmp_imm_s(IntCC::Equal, tag, g.tag as i64);
                ok = self.b.ins().band(ok, t);
                if let Some(want) = g.bits {
                    let same = self.b.ins().icmp_imm_s(IntCC::Equal, bits, want as i64);
                    ok = self.b.ins().band(ok, same);
                }
                if let Some(rt) = g.record {
                    records.push((bits, rt));
                }
            }
            // Record type ids are loaded only once the tags say the values are records.
            for (ptr, rt) in records {
                let next = self.b.create_block();
                self.b.ins().brif(ok, next, &[], slow, &[]);
                self.b.switch_to_block(next);
                let vt = self
                    .b
                    .ins()
                    .load(I64, mem(), ptr, layout::HEADER_VTABLE as i32);
                let id = self
                    .b
                    .ins()
                    .load(I32, mem(), vt, layout::RECORD_VTABLE_TYPE as i32);
                ok = self.b.ins().icmp_imm_s(IntCC::Equal, id, rt as i64);
            }
            let fast = self.b.create_block();
            self.b.ins().brif(ok, fast, &[], slow, &[]);
            self.b.switch_to_block(fast);
            let c = self.invoke(mono.func, new_regs);
            self.b.ins().jump(merge, &c.args());
            self.b.switch_to_block(slow);
            self.b.set_cold_block(slow);
        } else {
            self.b.ins().jump(slow, &[]);
            self.b.switch_to_block(slow);
        }
        let fid = self.iconst(I32, self.func_id());
        let pc = self.iconst(I32, self.pc as i64);
        let n = self.iconst(I32, nargs as i64);
        let target = self
            .helper(
                self.req.helpers.dispatch,
                self.sigs.dispatch,
                &[ctx, new_regs, fid, pc, n],
            )
            .unwrap_or_else(|| unreachable!("dispatch returns"));
        let failed = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, target, NO_FUNC as i32 as i64);
        let selected = self.b.create_block();
        let trap = self.iconst(I32, status::TRAP as i64);
        self.b.ins().brif(
            failed,
            self.fail,
            &[BlockArg::Value(trap), BlockArg::Value(pc)],
            selected,
            &[],
        );
        self.b.switch_to_block(selected);
        let c = self.invoke_callee(Callee::Dynamic(target), new_regs);
        self.b.ins().jump(merge, &c.args());
        self.b.switch_to_block(merge);
        self.finish_call(merge, post);
    }

    /// After a call whose outcome arrives as `block`'s parameters (status, result tag and
    /// bits): propagates a failure, then writes the result to operand 0.
    fn finish_call(&mut self, block: Block, post: bool) {
        let p = self.b.block_params(block);
        let called = Called {
            st: p[0],
            tag: p[1],
            bits: p[2],
        };
        self.check_status(called.st, true);
        self.call_result(Some(0), post, called);
    }

    fn callv(&mut self, pre: bool, post: bool) {
        self.needs_frame = true;
        if pre {
            self.step(step_mode::PRE);
        }
        let (ctx, regs) = (self.ctx, self.regs);
        let new_regs = self.b.ins().iadd_imm_s(regs, self.frame_size as i64 * 16);
        let nargs = self.write_args(new_regs, 2);
        let freg = match *self.operand(1) {
            Operand::Reg(r) => r,
            _ => unreachable!("fn values are in registers"),
        };
        self.sync_with_reads(&[freg]);
        // A compiled function taking exactly these arguments unchecked is called directly with
        // the fn value in its self register; anything else goes through the callv helper.
        let (ft, fb) = self.val_gen(1);
        let slow = self.b.create_block();
        let after = self.after_call_block();
        let complete = self.b.create_block();
        self.b.append_block_param(complete, I32);
        let (_, code, index) = self.compiled_fn(ft, fb, slow);
        let at = self.self_slot_of(index, new_regs, Some(nargs), slow);
        self.b.ins().store(mem(), ft, at, 0);
        self.b.ins().store(mem(), fb, at, 8);
        let entry = self.iconst(I32, ENTRY_WITH_SELF as i64);
        self.call_native_code(code, new_regs, entry, complete, after);
        self.complete_block(complete, after, new_regs);
        self.b.switch_to_block(slow);
        self.b.set_cold_block(slow);
        let fr = self.iconst(I32, freg as i64);
        let n = self.iconst(I32, nargs as i64);
        let st = self
            .helper(
                self.req.helpers.callv,
                self.sigs.callv,
                &[ctx, regs, fr, new_regs, n],
            )
            .unwrap_or_else(|| unreachable!("callv returns"));
        self.jump_after_call(after, st);
        self.b.switch_to_block(after);
        self.finish_call(after, post);
    }

    /// Reads the argument operands `first..` before any is written (they may be overwritten).
    fn read_args(&mut self, first: usize) -> Vec<Val> {
        let n = self.ins().operands.len() - first;
        (0..n).map(|i| self.val(first + i)).collect()
    }

    fn tailcall(&mut self, fi: u32, pre: bool) {
        if pre {
            self.step(step_mode::PRE);
        }
        let callee_id = self.req.func_map[fi as usize];
        let args = self.read_args(1);
        if callee_id == self.req.func_id {
            // A loop: parameters get the arguments, the other registers their initial values.
            for (i, v) in args.into_iter().enumerate() {
                match self.vars[i] {
                    Some(_) => self.set_var(i as u32, v),
                    None => {
                        let (t, b) = self.gen(v);
                        let regs = self.regs;
                        self.store_frame(regs, i as u32, t, b);
                    }
                }
            }
            let nparams = self.f.params as usize;
            for r in nparams..self.f.regs.len() {
                match self.vars[r] {
                    // An `any` register's tag lives in a variable of its own: it is reset too
                    // (only resetting the payload left the previous iteration's reference tag
                    // on a null payload, which a collection then followed).
                    Some((_, Kind::Any(_))) => {
                        let v = self.req.init[r - nparams];
                        let t = self.iconst(I64, v.tag as i64);
                        let b = self.iconst(I64, v.bits as i64);
                        self.set_var(r as u32, Val::Gen(t, b));
                    }
                    Some((var, kind)) if !self.in_frame(r as u32) => {
                        let z = kind.zero(&mut self.b);
                        self.b.def_var(var, z);
                    }
                    _ => {
                        let v = self.req.init[r - nparams];
                        let t = self.iconst(I64, v.tag as i64);
                        let b = self.iconst(I64, v.bits as i64);
                        let regs = self.regs;
                        self.store_frame(regs, r as u32, t, b);
                    }
                }
            }
            // A self tail call is a loop that skips the prologue: it ticks here.
            self.tick();
            self.jump_to(0);
            return;
        }
        let (ctx, regs) = (self.ctx, self.regs);
        for (i, v) in args.into_iter().enumerate() {
            let (t, b) = self.gen(v);
            self.store_frame(regs, i as u32, t, b);
        }
        let fid = self.iconst(I32, callee_id as i64);
        self.b
            .ins()
            .store(mem(), fid, ctx, ctx_offset::TAIL_FUNC as i32);
        let nil = self.iconst(I64, NIL);
        self.b
            .ins()
            .store(mem(), nil, ctx, ctx_offset::TAIL_SELF_TAG as i32);
        let st = self.iconst(I32, status::TAILCALL as i64);
        self.return_status(st);
        self.terminated = true;
    }

    /// Writes `v` into SSA-held register `r` (and, for a reference, its frame slot).
    fn set_var(&mut self, r: u32, v: Val) {
        let Some((var, kind)) = self.vars[r as usize] else {
            return;
        };
        let x = match (kind, v) {
            (Kind::Int, Val::Int(x))
            | (Kind::Float, Val::Float(x))
            | (Kind::Bool, Val::Bool(x)) => x,
            (Kind::Float, Val::Int(x)) => self.b.ins().fcvt_from_sint(F64, x),
            (_, other) => {
                let (_, bits) = self.gen(other);
                match kind {
                    Kind::Int => bits,
                    Kind::Float => self.b.ins().bitcast(F64, MemFlagsData::new(), bits),
                    Kind::Bool => self.b.ins().ireduce(I8, bits),
                    Kind::Ref(tag) => {
                        let t = self.iconst(I64, tag);
                        let regs = self.regs;
                        self.store_frame(regs, r, t, bits);
                        bits
                    }
                    Kind::Any(a) => {
                        let f = match other {
                            Val::Float(x) => x,
                            _ => self.b.ins().bitcast(F64, MemFlagsData::new(), bits),
                        };
                        self.b.def_var(a.float, f);
                        let (tag, _) = self.gen(other);
                        self.b.def_var(a.tag, tag);
                        bits
                    }
                }
            }
        };
        self.b.def_var(var, x);
    }

    fn tailcallv(&mut self, pre: bool) {
        if pre {
            self.step(step_mode::PRE);
        }
        let (ft, fb) = self.val_gen(0);
        let args = self.read_args(1);
        let (ctx, regs) = (self.ctx, self.regs);
        let n = args.len();
        for (i, v) in args.into_iter().enumerate() {
            let (t, b) = self.gen(v);
            self.store_frame(regs, i as u32, t, b);
        }
        // A compiled function taking exactly these arguments unchecked: the caller performs
        // the tail call (see `complete_block`); anything else is checked by the tailv helper.
        let slow = self.b.create_block();
        let (fid, _, index) = self.compiled_fn(ft, fb, slow);
        self.self_slot_of(index, regs, Some(n as u32), slow);
        self.b
            .ins()
            .store(mem(), fid, ctx, ctx_offset::TAIL_FUNC as i32);
        self.b
            .ins()
            .store(mem(), ft, ctx, ctx_offset::TAIL_SELF_TAG as i32);
        self.b
            .ins()
            .store(mem(), fb, ctx, ctx_offset::TAIL_SELF_BITS as i32);
        let st = self.iconst(I32, status::TAILCALL as i64);
        self.return_status(st);
        self.b.switch_to_block(slow);
        let nargs = self.iconst(I32, n as i64);
        let st = self
            .helper(
                self.req.helpers.tailv,
                self.sigs.tailv,
                &[ctx, regs, ft, fb, nargs],
            )
            .unwrap_or_else(|| unreachable!("tailv returns"));
        // TAILCALL on success; a trap gets this frame appended.
        let is_tail = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, st, status::TAILCALL as i64);
        let tail = self.b.create_block();
        let failed = self.b.create_block();
        self.b.ins().brif(is_tail, tail, &[], failed, &[]);
        self.b.switch_to_block(tail);
        self.return_status(st);
        self.b.switch_to_block(failed);
        let pc = self.iconst(I32, self.pc as i64);
        self.b
            .ins()
            .jump(self.fail, &[BlockArg::Value(st), BlockArg::Value(pc)]);
        self.terminated = true;
    }
}

/// Most instructions a leaf may have (bounding its native frame, which no check covers).
const LEAF_MAX_CODE: usize = 256;

/// Whether `f` is a *leaf*: it calls nothing that runs guest code (no `call`-flagged
/// instruction) and has no loop, so each activation does a bounded amount of work on one small
/// native frame. Its prologue skips the tick — every cycle of guest work passes a loop header
/// or the entry of a function that calls, which tick — and the native stack check.
fn is_leaf(f: &Function, headers: &[u32]) -> bool {
    f.code.len() <= LEAF_MAX_CODE
        && headers.is_empty()
        && f.code.iter().all(|i| !i.op.info().flags.has(OpFlags::CALL))
}

/// Loop headers, computed exactly as the interpreter does (so OSR entries agree).
fn sigma_interp_loop_headers(f: &Function) -> Vec<u32> {
    sigma_interp::loop_headers(f)
}

/// Where an instruction stands relative to a deferred frame initialization.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Deferred {
    /// Runs before the initialization: touches no frame slot but the parameters' (a deopt here
    /// initializes first).
    Prefix,
    /// Starts with the initialization: reached only from prefix instructions.
    Frontier,
    /// Runs after it.
    After,
}

/// Which instructions at the start of `f` can run before the frame's initialization, so that
/// a path that returns early (the base case of a recursion) skips it: a region of instructions
/// from pc 0 whose lowering reads no slot but parameters' and calls no helper that may look at
/// the frame — branches and compare-and-branches, returns, `is`, `load`, `copy`, `getup`, `new` and
/// `closure` right before a `ret` (their slow paths initialize first), `getf` (its
/// failed type check steps, and `step` initializes first) and speculated `add`/`sub`/`mul` (a
/// failed guard's deopt initializes first) on registers held in variables, without run-time
/// checks (`unchecked`: the verifier's, less those the record facts prove), and self tail
/// calls when every register but the parameters is held in variables (the loop back to pc 0
/// then writes no slot but parameters', and its tick's poll helper reads no frame) — that no
/// other instruction jumps into and no loop header is in or right after (entries by on-stack
/// replacement find a complete frame and must not initialize it again).
/// A self tail call after the initialization may re-enter the region and initialize again: it
/// has just reset every register but the parameters to its initial value, as the
/// initialization does. `None`: no such region (the prologue initializes).
fn deferred_init(
    f: &Function,
    unchecked: &dyn Fn(usize) -> bool,
    vars: &[Option<(Variable, Kind)>],
    headers: &[u32],
    speculated: &dyn Fn(usize) -> bool,
    self_tail: &dyn Fn(usize) -> bool,
) -> Option<Vec<Deferred>> {
    use Opcode::*;
    let n = f.code.len();
    let header = |pc: usize| headers.binary_search(&(pc as u32)).is_ok();
    let held = |r: u32| {
        matches!(
            vars.get(r as usize),
            Some(Some((
                _,
                Kind::Int | Kind::Float | Kind::Bool | Kind::Any(_)
            )))
        )
    };
    let eligible = |pc: usize| {
        let ins = &f.code[pc];
        let ok_op = match ins.op {
            Jump | Jlt | Jle | Jgt | Jge | Jeq | Jne | JumpIf | JumpIfNot | Ret => true,
            // Tests and moves of values held in variables; a field or capture load whose type
            // check fails steps the instruction, and `step` initializes the frame first.
            Is | Load | Copy | GetF | GetUp => true,
            Add | Sub | Mul => speculated(pc),
            // An allocation whose value is returned at once: its slow path (the allocation
            // helper, which may collect) initializes the frame first, and no path from it
            // reaches the initialization again.
            New | Closure => f.code.get(pc + 1).is_some_and(|next| next.op == Ret),
            // Its lowering stores a register kept in the frame (`tailcall`).
            TailCall => self_tail(pc) && (f.params..f.regs.len() as u32).all(&held),
            _ => false,
        };
        ok_op
            && !header(pc)
            && unchecked(pc)
            && ins.operands.iter().all(|o| match o {
                Operand::Reg(r) => held(*r),
                _ => true,
            })
    };
    if n == 0 || !eligible(0) {
        return None;
    }
    let mut d = vec![Deferred::After; n];
    let mut work = vec![0usize];
    d[0] = Deferred::Prefix;
    while let Some(pc) = work.pop() {
        for s in crate::sync::successors(f, pc) {
            if d[s] != Deferred::After {
                continue;
            }
            if eligible(s) {
                d[s] = Deferred::Prefix;
                work.push(s);
            } else {
                d[s] = Deferred::Frontier;
            }
        }
    }
    // Prefix instructions are reached, and frontier ones entered, only from the prefix (pc 0
    // from the function's entry); no frontier is a loop header.
    for pc in 0..n {
        for s in crate::sync::successors(f, pc) {
            if d[pc] != Deferred::Prefix && d[s] != Deferred::After {
                return None;
            }
        }
        if d[pc] == Deferred::Frontier && header(pc) {
            return None;
        }
    }
    // Nothing to gain if no path returns before the initialization.
    if !(0..n).any(|pc| d[pc] == Deferred::Prefix && f.code[pc].op == Ret) {
        return None;
    }
    Some(d)
}
