//! The interpreter's decoded instruction form.
//!
//! Verified bytecode is lowered once per function into [`Op`]s: operands become frame register
//! indices or inline immediates, and each bytecode instruction is
//! specialized by the verifier's static types (an `add` of two `int` registers becomes
//! [`Op::AddII`], which needs no tag checks). Run-time type checks the verifier asked for become
//! explicit [`Op::Check`]s. Labels become decoded indices.
//!
//! Constants that are not inline immediates live in hidden *constant registers* at the top of the
//! frame, filled from `FuncCode::init` on entry like every other non-parameter register, so every
//! operand is a register and no op branches on operand kind. Bytecode cannot name these
//! registers (the verifier bounds register operands by the declared count), so they are never
//! overwritten.
//!
//! Invariants (established by `lower`, relied on by `exec` without checks): every register index
//! is `< FuncCode::frame_size`; every jump target, an offset relative to the op after the jump,
//! lands inside `code`; every function id indexes the Vm's function table; `args`
//! windows lie inside `FuncCode::args`; control never runs past the end of `code`; registers
//! typed `int`/`float`/`bool` in the bytecode always hold values with that tag when a
//! specialized op reads them.

use std::cell::Cell;

use sigma_runtime::heap::Mem;
use sigma_runtime::ops::{ArithOp, BitOp, CmpOp, ConvOp, MathOp};
use sigma_runtime::trap::TraceFrame;
use sigma_runtime::types::Type;
use sigma_runtime::value::Value;

/// A frame register index.
pub type R = u16;
/// A source operand: a register (possibly a hidden constant register).
pub type S = u16;

/// One-operand operations executed through a runtime helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `neg`
    Neg,
    /// `abs`
    Abs,
    /// `not`
    Not,
    /// A CONVERT operation.
    Conv(ConvOp),
    /// A float function.
    Math(MathOp),
}

/// A decoded instruction. Suffixes name operand shapes: `I` a register statically holding an
/// int, `F` one holding a float, `K` an inline int immediate, no suffix a register holding any
/// value.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// Stop the program with the int in `src` as exit status.
    Halt { src: S },
    /// `dst = src`.
    Copy { dst: R, src: S },
    /// `dst = src; src = nil`.
    Move { dst: R, src: R },

    /// Generic add with an inline int+int fast path.
    Add { dst: R, a: S, b: S },
    /// Generic sub with an inline fast path.
    Sub { dst: R, a: S, b: S },
    /// Generic mul with an inline fast path.
    Mul { dst: R, a: S, b: S },
    /// Generic div with an inline int/int fast path.
    Div { dst: R, a: S, b: S },
    /// Generic rem with an inline int/int fast path.
    Rem { dst: R, a: S, b: S },
    /// Generic add of an immediate.
    AddAK { dst: R, a: R, k: i32 },
    /// Generic sub of an immediate.
    SubAK { dst: R, a: R, k: i32 },
    /// Any arithmetic through the helper.
    Arith { op: ArithOp, dst: R, a: S, b: S },
    /// int + int.
    AddII { dst: R, a: R, b: R },
    /// int - int.
    SubII { dst: R, a: R, b: R },
    /// int * int.
    MulII { dst: R, a: R, b: R },
    /// int + immediate (also int - immediate, negated).
    AddIK { dst: R, a: R, k: i32 },
    /// int * immediate.
    MulIK { dst: R, a: R, k: i32 },
    /// int / int (traps on zero).
    DivII { dst: R, a: R, b: R },
    /// int % int (traps on zero).
    RemII { dst: R, a: R, b: R },
    /// int / nonzero immediate.
    DivIK { dst: R, a: R, k: i32 },
    /// int % nonzero immediate.
    RemIK { dst: R, a: R, k: i32 },
    /// float + float.
    AddFF { dst: R, a: R, b: R },
    /// float - float.
    SubFF { dst: R, a: R, b: R },
    /// float * float.
    MulFF { dst: R, a: R, b: R },
    /// float / float.
    DivFF { dst: R, a: R, b: R },
    /// One-operand helper operation.
    Unary { op: UnOp, dst: R, a: S },
    /// `divu`/`remu`.
    DivU { rem: bool, dst: R, a: S, b: S },

    /// `eq` (or `ne` when `negate`).
    EqV { negate: bool, dst: R, a: S, b: S },
    /// `same`.
    Same { dst: R, a: S, b: S },
    /// Ordering comparison of two int registers.
    CmpII { op: CmpOp, dst: R, a: R, b: R },
    /// Generic ordering comparison.
    Cmp { op: CmpOp, dst: R, a: S, b: S },
    /// Unsigned comparison.
    CmpU { op: CmpOp, dst: R, a: S, b: S },

    /// Bitwise operation on two int registers.
    BitII { op: BitOp, dst: R, a: R, b: R },
    /// Bitwise operation of an int register and an immediate.
    BitIK { op: BitOp, dst: R, a: R, k: i32 },
    /// Generic bitwise operation.
    Bit { op: BitOp, dst: R, a: S, b: S },

    /// Unconditional jump.
    Jump { target: i32 },
    /// Jump if truthy.
    JumpIf { cond: S, target: i32 },
    /// Jump if falsy.
    JumpIfNot { cond: S, target: i32 },
    /// Jump if a bool register is true.
    JumpIfB { cond: R, target: i32 },
    /// Jump if a bool register is false.
    JumpIfNotB { cond: R, target: i32 },
    /// int < int.
    JltII { a: R, b: R, target: i32 },
    /// int <= int.
    JleII { a: R, b: R, target: i32 },
    /// int > int.
    JgtII { a: R, b: R, target: i32 },
    /// int >= int.
    JgeII { a: R, b: R, target: i32 },
    /// int == int.
    JeqII { a: R, b: R, target: i32 },
    /// int != int.
    JneII { a: R, b: R, target: i32 },
    /// int < immediate.
    JltIK { a: R, k: i32, target: i32 },
    /// int <= immediate.
    JleIK { a: R, k: i32, target: i32 },
    /// int > immediate.
    JgtIK { a: R, k: i32, target: i32 },
    /// int >= immediate.
    JgeIK { a: R, k: i32, target: i32 },
    /// int == immediate.
    JeqIK { a: R, k: i32, target: i32 },
    /// int != immediate.
    JneIK { a: R, k: i32, target: i32 },
    /// Ordering of two float registers.
    JCmpFF { op: CmpOp, a: R, b: R, target: i32 },
    /// Generic ordering branch with an inline int fast path.
    JCmp { op: CmpOp, a: S, b: S, target: i32 },
    /// Generic equality branch (`negate` for `jne`).
    JEq {
        negate: bool,
        a: S,
        b: S,
        target: i32,
    },

    /// `typeof`.
    Typeof { dst: R, a: S },
    /// `is`.
    Is { dst: R, a: S, ty: Type },
    /// `cast`.
    Cast { dst: R, a: S, ty: Type },
    /// Run-time type check of a register (verifier-inserted); `what` indexes
    /// `FuncCode::check_what`.
    Check { r: R, ty: Type, what: u32 },
    /// Like `Check`, but nil is also accepted (reference-typed globals and record fields).
    CheckNullable { r: R, ty: Type, what: u32 },

    /// Direct call: `dst = func(args[args..args+nargs])`.
    Call {
        dst: R,
        nargs: u16,
        func: u32,
        args: u32,
    },
    /// Tail call.
    TailCall { nargs: u16, func: u32, args: u32 },
    /// Return `src`.
    Ret { src: S },

    /// Read a global.
    GetG { dst: R, g: u32 },
    /// Write a global.
    SetG { src: S, g: u32 },

    /// System call `sys` of the Vm's registry.
    Sys {
        dst: R,
        nargs: u16,
        sys: u32,
        args: u32,
    },

    /// `ncall`: C function `ext` (an index into the Vm's externs) with `nargs` argument slots.
    NCall {
        dst: R,
        nargs: u16,
        ext: u32,
        args: u32,
    },
    /// `tostr`.
    ToStr { dst: R, a: S },
    /// Call through a fn value in register `f`.
    CallV { dst: R, nargs: u16, f: R, args: u32 },
    /// Tail call through a fn value.
    TailCallV { nargs: u16, f: R, args: u32 },
    /// Loop header at bytecode `pc` (only when a compiler is active): counts an iteration
    /// toward compilation and enters compiled code here (on-stack replacement) once hot.
    Hot { pc: u32 },
    /// Make a fn value of Vm function `func` capturing `nargs` values.
    Closure {
        dst: R,
        nargs: u16,
        func: u32,
        args: u32,
    },
    /// Read capture `idx` of the closure in the frame's self register `slf`.
    GetUp { dst: R, slf: R, idx: u32 },
    /// Write capture `idx` of the closure in the self register `slf`.
    SetUp { slf: R, src: S, idx: u32 },
    /// New record of Vm record type `ty` from `nargs` argument slots (0: defaults).
    New {
        dst: R,
        nargs: u16,
        ty: u32,
        args: u32,
    },
    /// Read a field, checking the record type.
    GetF { dst: R, obj: S, field: u16, ty: u32 },
    /// Read a field of a register statically holding a record of the right type.
    GetFT { dst: R, obj: R, field: u16 },
    /// Write a field, checking the record type.
    SetF { obj: S, src: S, field: u16, ty: u32 },
    /// Write a field of a register statically holding a record of the right type.
    SetFT { obj: R, src: S, field: u16 },
    /// `newarr`.
    NewArr { dst: R, len: S, init: S },
    /// `aget`.
    AGet { dst: R, arr: S, idx: S },
    /// `aset`.
    ASet { arr: S, idx: S, src: S },
    /// `alen`.
    ALen { dst: R, arr: S },
    /// `apush`.
    APush { arr: S, src: S },
    /// `apop`.
    APop { dst: R, arr: S },
    /// `newbytes`.
    NewBytes { dst: R, len: S },
    /// `ld.*`.
    Ld { mem: Mem, dst: R, b: S, off: S },
    /// `st.*`.
    St { mem: Mem, b: S, off: S, src: S },
    /// `blen`.
    BLen { dst: R, b: S },
    /// `concat`.
    Concat { dst: R, a: S, b: S },
    /// `slen`.
    SLen { dst: R, a: S },
    /// `sget`.
    SGet { dst: R, a: S, i: S },
    /// `substr`.
    Substr { dst: R, a: S, from: S, to: S },
    /// `newmap`.
    NewMap { dst: R },
    /// `mget`.
    MGet { dst: R, m: S, k: S },
    /// `mset`.
    MSet { m: S, k: S, v: S },
    /// `mhas`.
    MHas { dst: R, m: S, k: S },
    /// `mdel`.
    MDel { m: S, k: S },
    /// `mlen`.
    MLen { dst: R, m: S },
    /// `mkeys`.
    MKeys { dst: R, m: S },
    /// Multimethod call through the cache `FuncCode::dispatch_sites[site]`.
    Dispatch {
        dst: R,
        nargs: u16,
        site: u32,
        args: u32,
    },
}

const _: () = assert!(std::mem::size_of::<Op>() <= 16);

/// A function ready for the interpreter.
pub struct FuncCode {
    /// Function name.
    pub name: String,
    /// The function's Vm id.
    pub id: u32,
    /// Hotness: calls plus loop iterations, toward compilation.
    pub hot: Cell<u32>,
    /// Deopts since the function was last compiled.
    pub deopts: Cell<u32>,
    /// The compiler could not compile this function (reported once with `--trace-jit`).
    pub compile_failed: Cell<bool>,
    /// Operand kinds seen by slow paths, per bytecode pc (see `tier::profile`).
    pub profile: Box<[Cell<u8>]>,
    /// Bytecode pc → index of its first decoded op (resumption points after a deopt).
    pub start_of: Box<[u32]>,
    /// Bytecode pc → index of its main op (after the run-time checks of its operands).
    pub main_of: Box<[u32]>,
    /// Index of the owning module in the Vm.
    pub module: usize,
    /// Number of parameters.
    pub nparams: u16,
    /// Registers in a frame: declared registers, one scratch register for discarded results,
    /// the self register (the closure a function was called through, else nil), then the
    /// constant registers.
    pub frame_size: u32,
    /// Index of the self register.
    pub self_slot: u16,
    /// Parameters with a static type, checked when the function is called through a fn value.
    pub typed_params: Vec<(u16, Type)>,
    /// Declared parameter types.
    pub param_types: Vec<Type>,
    /// Declared return type.
    pub ret: Type,
    /// Decoded code.
    pub code: Box<[Op]>,
    /// Initial values of registers `nparams..frame_size`.
    pub init: Box<[Value]>,
    /// Argument slots of calls and system calls.
    pub args: Box<[S]>,
    /// Decoded index → bytecode pc.
    pub pc_map: Box<[u32]>,
    /// Bytecode pc → source line (empty when the module has no line info).
    pub lines: Vec<u32>,
    /// Debug: inlined procedure bodies and the scope of each bytecode pc (see
    /// [`sigma_runtime::module::Function::scopes`]).
    pub inlined: Vec<sigma_runtime::module::InlineScope>,
    /// Bytecode pc → inline scope (empty when nothing was inlined).
    pub scopes: Vec<u32>,
    /// Descriptions of what each `Check` checks, for error messages.
    pub check_what: Vec<String>,
    /// The caches of the `dispatch` instructions, in code order.
    pub dispatch_sites: Box<[crate::dispatch::DispatchSite]>,
}

impl FuncCode {
    /// The placeholder in a free function slot (of an unloaded module): it is never called,
    /// since nothing live refers to its id, and belongs to no module.
    pub(crate) fn unloaded() -> FuncCode {
        FuncCode {
            name: String::new(),
            id: u32::MAX,
            hot: Cell::new(0),
            deopts: Cell::new(0),
            compile_failed: Cell::new(true),
            profile: Box::new([]),
            start_of: Box::new([]),
            main_of: Box::new([]),
            module: usize::MAX,
            nparams: 0,
            frame_size: 0,
            self_slot: 0,
            typed_params: Vec::new(),
            param_types: Vec::new(),
            ret: Type::Any,
            code: Box::new([]),
            init: Box::new([]),
            args: Box::new([]),
            pc_map: Box::new([]),
            lines: Vec::new(),
            inlined: Vec::new(),
            scopes: Vec::new(),
            check_what: Vec::new(),
            dispatch_sites: Box::new([]),
        }
    }

    /// Bytes this function's tables take outside the heap (for the collector's accounting).
    pub(crate) fn footprint(&self) -> usize {
        std::mem::size_of::<FuncCode>()
            + self.code.len() * std::mem::size_of::<Op>()
            + (self.init.len() + self.profile.len()) * 16
            + self.args.len() * 2
            + (self.pc_map.len()
                + self.start_of.len()
                + self.main_of.len()
                + self.lines.len()
                + self.scopes.len())
                * 4
            + self
                .inlined
                .iter()
                .map(|s| std::mem::size_of_val(s) + s.name.len())
                .sum::<usize>()
    }

    /// The trace frames at bytecode `pc` of this function in module `m`, innermost first:
    /// one per inline scope `pc` is in, then the function's own.
    pub(crate) fn trace_frames_at(&self, m: &crate::vm::LoadedModule, pc: u32) -> Vec<TraceFrame> {
        sigma_runtime::module::source_frames(
            &self.name,
            &self.lines,
            &self.inlined,
            &self.scopes,
            pc as usize,
        )
        .into_iter()
        .map(|(function, line)| TraceFrame {
            module: m.name.clone(),
            function: function.to_owned(),
            pc,
            file: m.source.clone(),
            line,
        })
        .collect()
    }
}
