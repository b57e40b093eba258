//! Lowering verified bytecode into the interpreter's [`Op`] form.
//!
//! Specialization is driven by static types only (declared register types and literal types),
//! never by guesses, so every specialized op is correct for every execution: an `int` register
//! always holds an int because the verifier proved it or a [`Op::Check`] enforces it.
//!
//! Invariant: the input module has passed `sigma_runtime::verify`; lowering relies on its
//! operand shapes and ranges and would otherwise produce out-of-range indices.

use std::collections::HashMap;

use sigma_runtime::heap::Mem;
use sigma_runtime::module::{Constant, Function, Module, Operand};
use sigma_runtime::opcodes::Opcode;
use sigma_runtime::ops::{ArithOp, BitOp, CmpOp, ConvOp, MathOp};
use sigma_runtime::types::Type;
use sigma_runtime::value::Value;
use sigma_runtime::verify::{operand_type, CheckSite, ModuleInfo};

use crate::code::{FuncCode, Op, UnOp, R, S};

/// Everything lowering needs to know about the module being linked.
pub struct LowerCtx<'a> {
    /// The module.
    pub module: &'a Module,
    /// What the verifier found.
    pub info: &'a ModuleInfo,
    /// The module's index in the Vm.
    pub module_index: usize,
    /// Function operand (own functions, then imported ones) → Vm function id.
    pub func_map: &'a [u32],
    /// Global operand (own globals, then imported ones) → Vm global index.
    pub global_map: &'a [u32],
    /// The module's constant pool as values (strings already allocated).
    pub consts: &'a [Value],
    /// System-call name constant → index in the Vm's registry.
    pub sys_index: &'a HashMap<u32, u32>,
    /// The module's record type indices → the Vm's record type ids.
    pub type_map: &'a [u32],
    /// Vm extern index of the module's first `.extern`.
    pub extern_base: u32,
    /// Multimethod operand (own, then imported) → Vm multimethod id.
    pub mm_map: &'a [u32],
}

impl LowerCtx<'_> {
    /// A module type as the Vm sees it (record types by Vm id).
    pub fn map_type(&self, t: Type) -> Type {
        match t {
            Type::Record(i) => {
                Type::Record(self.type_map.get(i as usize).copied().unwrap_or(u32::MAX))
            }
            t => t,
        }
    }
}

/// Whether `op` checks the type of operand `n` itself (with an equivalent TypeError), so the
/// verifier's run-time check of that operand needs no separate `Check` op.
pub fn checks_operand_itself(op: Opcode, n: usize) -> bool {
    use Opcode::*;
    match op {
        CallV | TailCallV | AGet | ASet | ALen | APush | APop | NewArr | NewBytes | BLen
        | Concat | SLen | SGet | Substr | MGet | MSet | MHas | MDel | MLen | MKeys => true,
        LdI8 | LdU8 | LdI16 | LdU16 | LdI32 | LdU32 | LdI64 | LdF32 | LdF64 => true,
        StI8 | StI16 | StI32 | StI64 | StF32 | StF64 => true,
        GetF => n == 1,
        SetF => n == 0,
        _ => false,
    }
}

struct FnLower<'a> {
    cx: &'a LowerCtx<'a>,
    f: &'a Function,
    code: Vec<Op>,
    pc_map: Vec<u32>,
    /// Values of the hidden constant registers, which start at `const_base`.
    consts: Vec<Value>,
    /// Constant register by value (tag, bits), so equal constants share one register.
    const_slots: HashMap<(u64, u64), S>,
    const_base: usize,
    args: Vec<S>,
    check_what: Vec<String>,
    dispatch_sites: Vec<crate::dispatch::DispatchSite>,
    /// (decoded index, bytecode target) of jumps to patch.
    fixups: Vec<(usize, u32)>,
    scratch: R,
    bpc: u32,
}

/// Bytecode pcs that are targets of backward jumps (loop headers), sorted.
pub fn loop_headers(f: &Function) -> Vec<u32> {
    let mut heads: Vec<u32> = f
        .code
        .iter()
        .enumerate()
        .flat_map(|(pc, ins)| {
            ins.operands.iter().filter_map(move |op| match op {
                Operand::Label(t) if (*t as usize) <= pc => Some(*t),
                _ => None,
            })
        })
        .collect();
    heads.sort_unstable();
    heads.dedup();
    heads
}

/// Lowers function `fi` of the context's module.
pub fn lower_function(cx: &LowerCtx<'_>, fi: usize, id: u32) -> FuncCode {
    let f = &cx.module.functions[fi];
    let nregs = f.regs.len();
    let mut l = FnLower {
        cx,
        f,
        code: Vec::with_capacity(f.code.len()),
        pc_map: Vec::with_capacity(f.code.len()),
        consts: Vec::new(),
        const_slots: HashMap::new(),
        const_base: nregs + 2,
        args: Vec::new(),
        check_what: Vec::new(),
        dispatch_sites: Vec::new(),
        fixups: Vec::new(),
        scratch: nregs as R,
        bpc: 0,
    };
    let info = &cx.info.functions[fi];
    // Loop headers count ticks for interrupts and fuel, and hotness when the JIT is on.
    let headers = loop_headers(f);
    let mut start_of = Vec::with_capacity(f.code.len());
    let mut main_of = Vec::with_capacity(f.code.len());
    for bpc in 0..f.code.len() {
        l.bpc = bpc as u32;
        start_of.push(l.code.len() as u32);
        if headers.binary_search(&(bpc as u32)).is_ok() {
            l.push(Op::Hot { pc: bpc as u32 });
        }
        let checks = info.checks_at(bpc as u32);
        for c in checks {
            if let CheckSite::Operand(n) = c.site {
                if checks_operand_itself(f.code[bpc].op, n as usize) {
                    continue;
                }
                if let Operand::Reg(r) = f.code[bpc].operands[n as usize] {
                    let what = l.describe_operand(n as usize);
                    l.check(r as R, cx.map_type(c.ty), c.nullable, what);
                }
            }
        }
        main_of.push(l.code.len() as u32);
        l.lower_instr();
        for c in checks {
            if c.site == CheckSite::Result {
                if let Some(Operand::Reg(r)) = f.code[bpc].operands.first() {
                    let what = format!(
                        "result of {} written to register {}",
                        f.code[bpc].op,
                        f.reg_display(*r)
                    );
                    l.check(*r as R, cx.map_type(c.ty), c.nullable, what);
                }
            }
        }
    }
    for (at, target) in std::mem::take(&mut l.fixups) {
        // Relative to the op after the jump, which is where `exec`'s instruction pointer is.
        let t = start_of[target as usize] as i32 - (at as i32 + 1);
        match &mut l.code[at] {
            Op::Jump { target }
            | Op::JumpIf { target, .. }
            | Op::JumpIfNot { target, .. }
            | Op::JumpIfB { target, .. }
            | Op::JumpIfNotB { target, .. }
            | Op::JltII { target, .. }
            | Op::JleII { target, .. }
            | Op::JgtII { target, .. }
            | Op::JgeII { target, .. }
            | Op::JeqII { target, .. }
            | Op::JneII { target, .. }
            | Op::JltIK { target, .. }
            | Op::JleIK { target, .. }
            | Op::JgtIK { target, .. }
            | Op::JgeIK { target, .. }
            | Op::JeqIK { target, .. }
            | Op::JneIK { target, .. }
            | Op::JCmpFF { target, .. }
            | Op::JCmp { target, .. }
            | Op::JEq { target, .. } => *target = t,
            _ => {}
        }
    }
    let frame_size = (l.const_base + l.consts.len()) as u32;
    let mut init: Vec<Value> = (f.params as usize..l.const_base)
        .map(|r| f.regs.get(r).copied().unwrap_or(Type::Any).initial_value())
        .collect();
    init.extend_from_slice(&l.consts);
    let param_types: Vec<Type> = f.param_types().iter().map(|t| cx.map_type(*t)).collect();
    FuncCode {
        name: f.name.clone(),
        id,
        hot: std::cell::Cell::new(0),
        deopts: std::cell::Cell::new(0),
        compile_failed: std::cell::Cell::new(false),
        profile: (0..f.code.len()).map(|_| std::cell::Cell::new(0)).collect(),
        start_of: start_of.clone().into_boxed_slice(),
        main_of: main_of.into_boxed_slice(),
        module: cx.module_index,
        nparams: f.params as u16,
        frame_size,
        self_slot: (nregs + 1) as u16,
        typed_params: param_types
            .iter()
            .enumerate()
            .filter(|(_, t)| **t != Type::Any)
            .map(|(i, t)| (i as u16, *t))
            .collect(),
        param_types,
        ret: cx.map_type(f.ret),
        code: l.code.into_boxed_slice(),
        init: init.into_boxed_slice(),
        args: l.args.into_boxed_slice(),
        pc_map: l.pc_map.into_boxed_slice(),
        lines: f.lines.clone(),
        inlined: f.inlined.clone(),
        scopes: f.scopes.clone(),
        check_what: l.check_what,
        dispatch_sites: l.dispatch_sites.into_boxed_slice(),
    }
}

impl FnLower<'_> {
    fn push(&mut self, op: Op) {
        self.code.push(op);
        self.pc_map.push(self.bpc);
    }

    fn check(&mut self, r: R, ty: Type, nullable: bool, what: String) {
        let idx = self.check_what.len() as u32;
        self.check_what.push(what);
        self.push(if nullable {
            Op::CheckNullable { r, ty, what: idx }
        } else {
            Op::Check { r, ty, what: idx }
        });
    }

    fn describe_operand(&self, n: usize) -> String {
        let ins = &self.f.code[self.bpc as usize];
        let m = self.cx.module;
        let reg = match ins.operands[n] {
            Operand::Reg(r) => self.f.reg_display(r),
            _ => format!("operand {}", n + 1),
        };
        match ins.op {
            Opcode::Call | Opcode::TailCall => {
                let (fi, first) = match (ins.op, &ins.operands[..]) {
                    (Opcode::Call, [_, Operand::Func(fi), ..]) => (*fi, 2),
                    (_, [Operand::Func(fi), ..]) => (*fi, 1),
                    _ => return format!("argument {reg}"),
                };
                format!(
                    "argument {} of `{}` (register {reg})",
                    n + 1 - first,
                    m.func_name(fi)
                )
            }
            Opcode::Ret => format!("return value of `{}` (register {reg})", self.f.name),
            Opcode::SetG => match ins.operands[0] {
                Operand::Global(g) => {
                    format!("global `{}` (from register {reg})", m.global_name(g))
                }
                _ => reg,
            },
            Opcode::Halt => format!("exit status (register {reg})"),
            Opcode::New | Opcode::SetF => {
                let field = match (ins.op, &ins.operands[..]) {
                    (
                        Opcode::New,
                        [_, Operand::Type(sigma_runtime::types::Type::Record(t)), ..],
                    ) => m.types.get(*t as usize).and_then(|rt| {
                        rt.fields
                            .get(n.wrapping_sub(2))
                            .map(|f| format!("{}.{}", rt.name, f.name))
                    }),
                    (_, [_, Operand::Field(t, fi), ..]) => {
                        m.types.get(*t as usize).and_then(|rt| {
                            rt.fields
                                .get(*fi as usize)
                                .map(|f| format!("{}.{}", rt.name, f.name))
                        })
                    }
                    _ => None,
                };
                match field {
                    Some(f) => format!("field `{f}` (from register {reg})"),
                    None => format!("{} operand register {reg}", ins.op),
                }
            }
            op => format!("{op} operand register {reg}"),
        }
    }

    fn ty(&self, n: usize) -> Type {
        let ins = &self.f.code[self.bpc as usize];
        operand_type(self.cx.module, self.f, &ins.operands[n])
    }

    fn operand(&self, n: usize) -> &Operand {
        &self.f.code[self.bpc as usize].operands[n]
    }

    fn reg(&self, n: usize) -> Option<R> {
        match self.operand(n) {
            Operand::Reg(r) => Some(*r as R),
            _ => None,
        }
    }

    fn dst(&self, n: usize) -> R {
        match self.operand(n) {
            Operand::Reg(r) => *r as R,
            _ => self.scratch,
        }
    }

    fn const_slot(&mut self, k: u32) -> S {
        self.value_slot(self.cx.consts[k as usize])
    }

    /// The hidden register holding `v`, shared by every use of an identical value. The
    /// verifier's limits (registers and distinct constants per function) keep the frame,
    /// including the implicit `nil` of a bare `ret` and `0` of a bare `halt`, within `R`.
    fn value_slot(&mut self, v: Value) -> S {
        let key = (v.tag, v.bits);
        if let Some(s) = self.const_slots.get(&key) {
            return *s;
        }
        let s = (self.const_base + self.consts.len()) as S;
        self.consts.push(v);
        self.const_slots.insert(key, s);
        s
    }

    fn slot(&mut self, n: usize) -> S {
        match *self.operand(n) {
            Operand::Reg(r) => r as R,
            Operand::Const(k) => self.const_slot(k),
            _ => self.value_slot(Value::NIL),
        }
    }

    fn imm(&self, n: usize) -> Option<i32> {
        match self.operand(n) {
            Operand::Const(k) => match self.cx.module.consts[*k as usize] {
                Constant::Int(i) => i32::try_from(i).ok(),
                _ => None,
            },
            _ => None,
        }
    }

    /// The operand as a register of static int type, but only if it is a register (constants
    /// are better served by immediates when they fit).
    fn int_var(&self, n: usize) -> Option<R> {
        (self.ty(n) == Type::Int).then(|| self.reg(n)).flatten()
    }

    /// Records a jump to patch; the returned placeholder is replaced once targets are known.
    fn target(&mut self, n: usize) -> i32 {
        if let Operand::Label(t) = self.operand(n) {
            let t = *t;
            self.fixups.push((self.code.len(), t));
        }
        0
    }

    fn args_from(&mut self, first: usize) -> (u32, u16) {
        let start = self.args.len() as u32;
        let n = self.f.code[self.bpc as usize].operands.len() - first;
        for i in first..first + n {
            let s = self.slot(i);
            self.args.push(s);
        }
        (start, n as u16)
    }

    /// Both operands statically int.
    fn ints(&self, a: usize, b: usize) -> bool {
        self.ty(a) == Type::Int && self.ty(b) == Type::Int
    }

    /// Both operands statically float.
    fn floats(&self, a: usize, b: usize) -> bool {
        self.ty(a) == Type::Float && self.ty(b) == Type::Float
    }

    /// For two int operands: `(register, immediate, swapped)` when one is a register and the
    /// other an immediate that fits, preferring the immediate on the right.
    fn reg_imm(&self, a: usize, b: usize) -> Option<(R, i32, bool)> {
        if !self.ints(a, b) {
            return None;
        }
        match (self.int_var(a), self.imm(b), self.imm(a), self.int_var(b)) {
            (Some(r), Some(k), ..) => Some((r, k, false)),
            (_, _, Some(k), Some(r)) => Some((r, k, true)),
            _ => None,
        }
    }

    fn arith(&mut self, op: ArithOp) {
        let dst = self.dst(0);
        if let Some((a, k, swapped)) = self.reg_imm(1, 2) {
            let commutative = matches!(op, ArithOp::Add | ArithOp::Mul);
            let ins = match (op, swapped) {
                (ArithOp::Add, _) => Some(Op::AddIK { dst, a, k }),
                (ArithOp::Mul, _) => Some(Op::MulIK { dst, a, k }),
                (ArithOp::Sub, false) if k != i32::MIN => Some(Op::AddIK { dst, a, k: -k }),
                (ArithOp::Div, false) if k != 0 => Some(Op::DivIK { dst, a, k }),
                (ArithOp::Rem, false) if k != 0 => Some(Op::RemIK { dst, a, k }),
                _ => None,
            };
            debug_assert!(!swapped || commutative || ins.is_none());
            if let Some(ins) = ins {
                return self.push(ins);
            }
        }
        if self.ints(1, 2) && op != ArithOp::Pow {
            let (a, b) = (self.slot(1), self.slot(2));
            return self.push(match op {
                ArithOp::Add => Op::AddII { dst, a, b },
                ArithOp::Sub => Op::SubII { dst, a, b },
                ArithOp::Mul => Op::MulII { dst, a, b },
                ArithOp::Div => Op::DivII { dst, a, b },
                _ => Op::RemII { dst, a, b },
            });
        }
        if self.floats(1, 2)
            && matches!(
                op,
                ArithOp::Add | ArithOp::Sub | ArithOp::Mul | ArithOp::Div
            )
        {
            let (a, b) = (self.slot(1), self.slot(2));
            return self.push(match op {
                ArithOp::Add => Op::AddFF { dst, a, b },
                ArithOp::Sub => Op::SubFF { dst, a, b },
                ArithOp::Mul => Op::MulFF { dst, a, b },
                _ => Op::DivFF { dst, a, b },
            });
        }
        if let (Some(a), Some(k), Type::Int) = (self.reg(1), self.imm(2), self.ty(2)) {
            match op {
                ArithOp::Add => return self.push(Op::AddAK { dst, a, k }),
                ArithOp::Sub => return self.push(Op::SubAK { dst, a, k }),
                _ => {}
            }
        }
        let (a, b) = (self.slot(1), self.slot(2));
        self.push(match op {
            ArithOp::Add => Op::Add { dst, a, b },
            ArithOp::Sub => Op::Sub { dst, a, b },
            ArithOp::Mul => Op::Mul { dst, a, b },
            ArithOp::Div => Op::Div { dst, a, b },
            ArithOp::Rem => Op::Rem { dst, a, b },
            op => Op::Arith { op, dst, a, b },
        });
    }

    fn unary(&mut self, op: UnOp) {
        let dst = self.dst(0);
        let a = self.slot(1);
        self.push(Op::Unary { op, dst, a });
    }

    fn bit(&mut self, op: BitOp) {
        let dst = self.dst(0);
        if let Some((a, k, false)) = self.reg_imm(1, 2) {
            return self.push(Op::BitIK { op, dst, a, k });
        }
        if self.ints(1, 2) {
            let (a, b) = (self.slot(1), self.slot(2));
            return self.push(Op::BitII { op, dst, a, b });
        }
        let (a, b) = (self.slot(1), self.slot(2));
        self.push(Op::Bit { op, dst, a, b });
    }

    fn cmp(&mut self, op: CmpOp) {
        let dst = self.dst(0);
        let (a, b) = (self.slot(1), self.slot(2));
        if self.ints(1, 2) {
            return self.push(Op::CmpII { op, dst, a, b });
        }
        self.push(Op::Cmp { op, dst, a, b });
    }

    fn branch_cmp(&mut self, op: CmpOp) {
        let flip = |op: CmpOp| match op {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
        };
        if let Some((a, k, swapped)) = self.reg_imm(0, 1) {
            let op = if swapped { flip(op) } else { op };
            let target = self.target(2);
            return self.push(match op {
                CmpOp::Lt => Op::JltIK { a, k, target },
                CmpOp::Le => Op::JleIK { a, k, target },
                CmpOp::Gt => Op::JgtIK { a, k, target },
                CmpOp::Ge => Op::JgeIK { a, k, target },
            });
        }
        let (a, b) = (self.slot(0), self.slot(1));
        if self.ints(0, 1) {
            let target = self.target(2);
            return self.push(match op {
                CmpOp::Lt => Op::JltII { a, b, target },
                CmpOp::Le => Op::JleII { a, b, target },
                CmpOp::Gt => Op::JgtII { a, b, target },
                CmpOp::Ge => Op::JgeII { a, b, target },
            });
        }
        let target = self.target(2);
        if self.floats(0, 1) {
            return self.push(Op::JCmpFF { op, a, b, target });
        }
        self.push(Op::JCmp { op, a, b, target });
    }

    fn branch_eq(&mut self, negate: bool) {
        if let Some((a, k, _)) = self.reg_imm(0, 1) {
            let target = self.target(2);
            return self.push(if negate {
                Op::JneIK { a, k, target }
            } else {
                Op::JeqIK { a, k, target }
            });
        }
        let (a, b) = (self.slot(0), self.slot(1));
        let target = self.target(2);
        if self.ints(0, 1) {
            return self.push(if negate {
                Op::JneII { a, b, target }
            } else {
                Op::JeqII { a, b, target }
            });
        }
        self.push(Op::JEq {
            negate,
            a,
            b,
            target,
        });
    }

    fn conv(&mut self, op: ConvOp) {
        self.unary(UnOp::Conv(op));
    }

    fn lower_instr(&mut self) {
        use Opcode::*;
        let ins = &self.f.code[self.bpc as usize];
        match ins.op {
            Halt => {
                let src = if ins.operands.is_empty() {
                    self.value_slot(Value::int(0))
                } else {
                    self.slot(0)
                };
                self.push(Op::Halt { src });
            }
            Load | Copy => {
                let dst = self.dst(0);
                let src = self.slot(1);
                self.push(Op::Copy { dst, src });
            }
            Move => {
                let dst = self.dst(0);
                let src = self.reg(1).unwrap_or(self.scratch);
                let t = self.ty(1);
                if t.is_immediate() && t != Type::Any {
                    self.push(Op::Copy { dst, src });
                } else {
                    self.push(Op::Move { dst, src });
                }
            }
            Add => self.arith(ArithOp::Add),
            Sub => self.arith(ArithOp::Sub),
            Mul => self.arith(ArithOp::Mul),
            Div => self.arith(ArithOp::Div),
            Rem => self.arith(ArithOp::Rem),
            Pow => self.arith(ArithOp::Pow),
            Neg => self.unary(UnOp::Neg),
            Sqrt => self.unary(UnOp::Math(MathOp::Sqrt)),
            Floor => self.unary(UnOp::Math(MathOp::Floor)),
            Ceil => self.unary(UnOp::Math(MathOp::Ceil)),
            Trunc => self.unary(UnOp::Math(MathOp::Trunc)),
            Round => self.unary(UnOp::Math(MathOp::Round)),
            Abs => self.unary(UnOp::Abs),
            Divu | Remu => {
                let dst = self.dst(0);
                let (a, b) = (self.slot(1), self.slot(2));
                self.push(Op::DivU {
                    rem: ins.op == Remu,
                    dst,
                    a,
                    b,
                });
            }
            Eq | Ne => {
                let dst = self.dst(0);
                let (a, b) = (self.slot(1), self.slot(2));
                self.push(Op::EqV {
                    negate: ins.op == Ne,
                    dst,
                    a,
                    b,
                });
            }
            Same => {
                let dst = self.dst(0);
                let (a, b) = (self.slot(1), self.slot(2));
                self.push(Op::Same { dst, a, b });
            }
            Lt => self.cmp(CmpOp::Lt),
            Le => self.cmp(CmpOp::Le),
            Gt => self.cmp(CmpOp::Gt),
            Ge => self.cmp(CmpOp::Ge),
            Ltu | Leu | Gtu | Geu => {
                let op = match ins.op {
                    Ltu => CmpOp::Lt,
                    Leu => CmpOp::Le,
                    Gtu => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                let dst = self.dst(0);
                let (a, b) = (self.slot(1), self.slot(2));
                self.push(Op::CmpU { op, dst, a, b });
            }
            And => self.bit(BitOp::And),
            Or => self.bit(BitOp::Or),
            Xor => self.bit(BitOp::Xor),
            Shl => self.bit(BitOp::Shl),
            Shr => self.bit(BitOp::Shr),
            Sar => self.bit(BitOp::Sar),
            Not => self.unary(UnOp::Not),
            Jump => {
                let target = self.target(0);
                self.push(Op::Jump { target });
            }
            JumpIf | JumpIfNot => {
                let when = ins.op == JumpIf;
                if let (Type::Bool, Some(cond)) = (self.ty(0), self.reg(0)) {
                    let target = self.target(1);
                    self.push(if when {
                        Op::JumpIfB { cond, target }
                    } else {
                        Op::JumpIfNotB { cond, target }
                    });
                } else {
                    let cond = self.slot(0);
                    let target = self.target(1);
                    self.push(if when {
                        Op::JumpIf { cond, target }
                    } else {
                        Op::JumpIfNot { cond, target }
                    });
                }
            }
            Jlt => self.branch_cmp(CmpOp::Lt),
            Jle => self.branch_cmp(CmpOp::Le),
            Jgt => self.branch_cmp(CmpOp::Gt),
            Jge => self.branch_cmp(CmpOp::Ge),
            Jeq => self.branch_eq(false),
            Jne => self.branch_eq(true),
            Itof => self.conv(ConvOp::Itof),
            Ftoi => self.conv(ConvOp::Ftoi),
            Sext8 => self.conv(ConvOp::Sext8),
            Sext16 => self.conv(ConvOp::Sext16),
            Sext32 => self.conv(ConvOp::Sext32),
            Zext8 => self.conv(ConvOp::Zext8),
            Zext16 => self.conv(ConvOp::Zext16),
            Zext32 => self.conv(ConvOp::Zext32),
            F32 => self.conv(ConvOp::F32),
            Typeof => {
                let dst = self.dst(0);
                let a = self.slot(1);
                self.push(Op::Typeof { dst, a });
            }
            Is | Cast => {
                let dst = self.dst(0);
                let a = self.slot(1);
                let ty = match self.operand(2) {
                    Operand::Type(t) => self.cx.map_type(*t),
                    _ => Type::Any,
                };
                self.push(if ins.op == Is {
                    Op::Is { dst, a, ty }
                } else if ty == Type::Any {
                    Op::Copy { dst, src: a }
                } else {
                    Op::Cast { dst, a, ty }
                });
            }
            Call => {
                let dst = self.dst(0);
                let func = match self.operand(1) {
                    Operand::Func(fi) => self.cx.func_map[*fi as usize],
                    _ => 0,
                };
                let (args, nargs) = self.args_from(2);
                self.push(Op::Call {
                    dst,
                    nargs,
                    func,
                    args,
                });
            }
            TailCall => {
                let func = match self.operand(0) {
                    Operand::Func(fi) => self.cx.func_map[*fi as usize],
                    _ => 0,
                };
                let (args, nargs) = self.args_from(1);
                self.push(Op::TailCall { nargs, func, args });
            }
            Ret => {
                let src = if ins.operands.is_empty() {
                    self.value_slot(Value::NIL)
                } else {
                    self.slot(0)
                };
                self.push(Op::Ret { src });
            }
            GetG => {
                let dst = self.dst(0);
                let g = match self.operand(1) {
                    Operand::Global(g) => self.cx.global_map[*g as usize],
                    _ => 0,
                };
                self.push(Op::GetG { dst, g });
            }
            SetG => {
                let g = match self.operand(0) {
                    Operand::Global(g) => self.cx.global_map[*g as usize],
                    _ => 0,
                };
                let src = self.slot(1);
                self.push(Op::SetG { src, g });
            }
            Sys => {
                let dst = self.dst(0);
                let sys = match self.operand(1) {
                    Operand::Sys(k) => self.cx.sys_index.get(k).copied().unwrap_or(0),
                    _ => 0,
                };
                let (args, nargs) = self.args_from(2);
                self.push(Op::Sys {
                    dst,
                    nargs,
                    sys,
                    args,
                });
            }
            NCall => {
                let dst = self.dst(0);
                let ext = match self.operand(1) {
                    Operand::Extern(e) => self.cx.extern_base + *e,
                    _ => 0,
                };
                let (args, nargs) = self.args_from(2);
                self.push(Op::NCall {
                    dst,
                    nargs,
                    ext,
                    args,
                });
            }
            ToStr => {
                let dst = self.dst(0);
                let a = self.slot(1);
                self.push(Op::ToStr { dst, a });
            }
            Dispatch => {
                let dst = self.dst(0);
                let mm = match self.operand(1) {
                    Operand::Multimethod(i) => self.cx.mm_map[*i as usize],
                    _ => 0,
                };
                let (args, nargs) = self.args_from(2);
                let site = self.dispatch_sites.len() as u32;
                self.dispatch_sites
                    .push(crate::dispatch::DispatchSite::new(mm, self.bpc, nargs));
                self.push(Op::Dispatch {
                    dst,
                    nargs,
                    site,
                    args,
                });
            }
            CallV => {
                let dst = self.dst(0);
                let f = self.slot(1);
                let (args, nargs) = self.args_from(2);
                self.push(Op::CallV {
                    dst,
                    nargs,
                    f,
                    args,
                });
            }
            TailCallV => {
                let f = self.slot(0);
                let (args, nargs) = self.args_from(1);
                self.push(Op::TailCallV { nargs, f, args });
            }
            Closure => {
                let dst = self.dst(0);
                let func = match self.operand(1) {
                    Operand::Func(fi) => self.cx.func_map[*fi as usize],
                    _ => 0,
                };
                let (args, nargs) = self.args_from(2);
                self.push(Op::Closure {
                    dst,
                    nargs,
                    func,
                    args,
                });
            }
            GetUp => {
                let dst = self.dst(0);
                let idx = match self.operand(1) {
                    Operand::Imm(i) => *i,
                    _ => 0,
                };
                let slf = self.self_slot();
                self.push(Op::GetUp { dst, slf, idx });
            }
            SetUp => {
                let idx = match self.operand(0) {
                    Operand::Imm(i) => *i,
                    _ => 0,
                };
                let src = self.slot(1);
                let slf = self.self_slot();
                self.push(Op::SetUp { slf, src, idx });
            }
            New => {
                let dst = self.dst(0);
                let ty = match self.operand(1) {
                    Operand::Type(Type::Record(i)) => self.cx.type_map[*i as usize],
                    _ => 0,
                };
                let (args, nargs) = self.args_from(2);
                self.push(Op::New {
                    dst,
                    nargs,
                    ty,
                    args,
                });
            }
            GetF => {
                let dst = self.dst(0);
                let (ti, field) = self.field(2);
                let ty = self.cx.type_map[ti as usize];
                match (self.ty(1), self.reg(1)) {
                    (Type::Record(t), Some(obj)) if t == ti => {
                        self.push(Op::GetFT { dst, obj, field })
                    }
                    _ => {
                        let obj = self.slot(1);
                        self.push(Op::GetF {
                            dst,
                            obj,
                            field,
                            ty,
                        });
                    }
                }
            }
            SetF => {
                let (ti, field) = self.field(1);
                let ty = self.cx.type_map[ti as usize];
                let src = self.slot(2);
                match (self.ty(0), self.reg(0)) {
                    (Type::Record(t), Some(obj)) if t == ti => {
                        self.push(Op::SetFT { obj, src, field })
                    }
                    _ => {
                        let obj = self.slot(0);
                        self.push(Op::SetF {
                            obj,
                            src,
                            field,
                            ty,
                        });
                    }
                }
            }
            NewArr => {
                let dst = self.dst(0);
                let len = self.slot(1);
                let init = if ins.operands.len() > 2 {
                    self.slot(2)
                } else {
                    self.value_slot(Value::NIL)
                };
                self.push(Op::NewArr { dst, len, init });
            }
            AGet => {
                let (dst, arr, idx) = (self.dst(0), self.slot(1), self.slot(2));
                self.push(Op::AGet { dst, arr, idx });
            }
            ASet => {
                let (arr, idx, src) = (self.slot(0), self.slot(1), self.slot(2));
                self.push(Op::ASet { arr, idx, src });
            }
            ALen => {
                let (dst, arr) = (self.dst(0), self.slot(1));
                self.push(Op::ALen { dst, arr });
            }
            APush => {
                let (arr, src) = (self.slot(0), self.slot(1));
                self.push(Op::APush { arr, src });
            }
            APop => {
                let (dst, arr) = (self.dst(0), self.slot(1));
                self.push(Op::APop { dst, arr });
            }
            NewBytes => {
                let (dst, len) = (self.dst(0), self.slot(1));
                self.push(Op::NewBytes { dst, len });
            }
            LdI8 | LdU8 | LdI16 | LdU16 | LdI32 | LdU32 | LdI64 | LdF32 | LdF64 => {
                let mem = match ins.op {
                    LdI8 => Mem::I8,
                    LdU8 => Mem::U8,
                    LdI16 => Mem::I16,
                    LdU16 => Mem::U16,
                    LdI32 => Mem::I32,
                    LdU32 => Mem::U32,
                    LdI64 => Mem::I64,
                    LdF32 => Mem::F32,
                    _ => Mem::F64,
                };
                let (dst, b, off) = (self.dst(0), self.slot(1), self.slot(2));
                self.push(Op::Ld { mem, dst, b, off });
            }
            StI8 | StI16 | StI32 | StI64 | StF32 | StF64 => {
                let mem = match ins.op {
                    StI8 => Mem::I8,
                    StI16 => Mem::I16,
                    StI32 => Mem::I32,
                    StI64 => Mem::I64,
                    StF32 => Mem::F32,
                    _ => Mem::F64,
                };
                let (b, off, src) = (self.slot(0), self.slot(1), self.slot(2));
                self.push(Op::St { mem, b, off, src });
            }
            BLen => {
                let (dst, b) = (self.dst(0), self.slot(1));
                self.push(Op::BLen { dst, b });
            }
            Concat => {
                let (dst, a, b) = (self.dst(0), self.slot(1), self.slot(2));
                self.push(Op::Concat { dst, a, b });
            }
            SLen => {
                let (dst, a) = (self.dst(0), self.slot(1));
                self.push(Op::SLen { dst, a });
            }
            SGet => {
                let (dst, a, i) = (self.dst(0), self.slot(1), self.slot(2));
                self.push(Op::SGet { dst, a, i });
            }
            Substr => {
                let (dst, a, from, to) = (self.dst(0), self.slot(1), self.slot(2), self.slot(3));
                self.push(Op::Substr { dst, a, from, to });
            }
            NewMap => {
                let dst = self.dst(0);
                self.push(Op::NewMap { dst });
            }
            MGet | MHas => {
                let (dst, m, k) = (self.dst(0), self.slot(1), self.slot(2));
                self.push(if ins.op == MGet {
                    Op::MGet { dst, m, k }
                } else {
                    Op::MHas { dst, m, k }
                });
            }
            MSet => {
                let (m, k, v) = (self.slot(0), self.slot(1), self.slot(2));
                self.push(Op::MSet { m, k, v });
            }
            MDel => {
                let (m, k) = (self.slot(0), self.slot(1));
                self.push(Op::MDel { m, k });
            }
            MLen | MKeys => {
                let (dst, m) = (self.dst(0), self.slot(1));
                self.push(if ins.op == MLen {
                    Op::MLen { dst, m }
                } else {
                    Op::MKeys { dst, m }
                });
            }
        }
    }

    fn self_slot(&self) -> R {
        (self.f.regs.len() + 1) as R
    }

    /// A field operand: (module record type index, field index).
    fn field(&self, n: usize) -> (u32, u16) {
        match self.operand(n) {
            Operand::Field(t, f) => (*t, *f as u16),
            _ => (0, 0),
        }
    }
}
