//! The opcode table: the single source of truth for Sigma's instruction set.
//!
//! Each row gives the opcode's mnemonic, family (the Strontium group names are the section
//! titles of `docs/bytecode.md`), operand kinds, flags and a one-line semantics. The binary
//! encoder and decoder, the assembler and disassembler walk the operand kinds generically; the
//! verifier and both execution tiers match on [`Opcode`] exhaustively, so adding a row forces
//! every consumer to handle it; `docs/bytecode.md` is generated from this table
//! ([`crate::docs::bytecode_reference`]) and a test keeps the committed file in step.
//!
//! Invariant: opcode numbers are the row order and are the byte written in `.sbc` files; rows
//! are only appended within a format version.

use std::fmt;

/// What one operand position of an instruction holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperandKind {
    /// A destination register, or `_` to discard the result.
    Dst,
    /// A source: a register or a literal (int, float, str, char, bool, nil).
    Src,
    /// A source that must be a register (it is also modified).
    Reg,
    /// A literal constant.
    Lit,
    /// A jump target label.
    Label,
    /// A function of this module, by name.
    Func,
    /// A global of this module, by name.
    Global,
    /// A type name.
    Type,
    /// A system-call name, resolved when the module is linked.
    Sys,
    /// An optional trailing source (absent, or one `Src`).
    OptSrc,
    /// Zero or more trailing sources.
    Srcs,
    /// A record field, `Type.field`.
    Field,
    /// A small unsigned integer written inline (a capture index).
    Imm,
    /// A C function declared with `.extern`, `lib.symbol`.
    Extern,
    /// A multimethod of this module, or `module.name` of an imported one.
    Multimethod,
}

impl OperandKind {
    /// How the operand is written in the reference documentation.
    pub fn doc_name(self) -> &'static str {
        match self {
            OperandKind::Dst => "rd",
            OperandKind::Src => "src",
            OperandKind::Reg => "rs",
            OperandKind::Lit => "literal",
            OperandKind::Label => "L",
            OperandKind::Func => "func",
            OperandKind::Global => "g",
            OperandKind::Type => "Type",
            OperandKind::Sys => "name",
            OperandKind::OptSrc => "[src]",
            OperandKind::Srcs => "args…",
            OperandKind::Field => "T.field",
            OperandKind::Imm => "i",
            OperandKind::Extern => "lib.fn",
            OperandKind::Multimethod => "mm",
        }
    }
}

/// Instruction families (the sections of the bytecode reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// HALT.
    Halt,
    /// LOAD.
    Load,
    /// MOVE / COPY.
    Move,
    /// CALCULATE.
    Calculate,
    /// COMPARE.
    Compare,
    /// BITWISE.
    Bitwise,
    /// JUMP / JUMPC.
    Jump,
    /// CONVERT.
    Convert,
    /// CALL.
    Call,
    /// GLOBAL.
    Global,
    /// RECORD.
    Record,
    /// ARRAY.
    Array,
    /// BYTES.
    Bytes,
    /// STRING.
    String,
    /// MAP.
    Map,
    /// DISPATCH.
    Dispatch,
    /// INTERRUPT.
    Interrupt,
    /// NATIVE.
    Native,
}

impl Family {
    /// Every family in documentation order.
    pub const ALL: [Family; 18] = [
        Family::Halt,
        Family::Load,
        Family::Move,
        Family::Calculate,
        Family::Compare,
        Family::Bitwise,
        Family::Jump,
        Family::Convert,
        Family::Call,
        Family::Global,
        Family::Record,
        Family::Array,
        Family::Bytes,
        Family::String,
        Family::Map,
        Family::Dispatch,
        Family::Interrupt,
        Family::Native,
    ];

    /// The family's section title.
    pub fn title(self) -> &'static str {
        match self {
            Family::Halt => "HALT",
            Family::Load => "LOAD",
            Family::Move => "MOVE / COPY",
            Family::Calculate => "CALCULATE",
            Family::Compare => "COMPARE",
            Family::Bitwise => "BITWISE",
            Family::Jump => "JUMP / JUMPC",
            Family::Convert => "CONVERT",
            Family::Call => "CALL",
            Family::Global => "GLOBAL",
            Family::Record => "RECORD",
            Family::Array => "ARRAY",
            Family::Bytes => "BYTES",
            Family::String => "STRING",
            Family::Map => "MAP",
            Family::Dispatch => "DISPATCH",
            Family::Interrupt => "INTERRUPT",
            Family::Native => "NATIVE",
        }
    }
}

/// Opcode property flags.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct OpFlags(pub u16);

impl OpFlags {
    /// Control never falls through to the next instruction.
    pub const TERM: OpFlags = OpFlags(1);
    /// May transfer control to a label operand.
    pub const BRANCH: OpFlags = OpFlags(2);
    /// Calls a function (a safepoint; may run arbitrary guest code).
    pub const CALL: OpFlags = OpFlags(4);
    /// May trap.
    pub const TRAPS: OpFlags = OpFlags(8);
    /// May allocate or run a collection (a GC safepoint).
    pub const GC: OpFlags = OpFlags(16);
    /// A backward branch adds to the function's hotness counter.
    pub const HOT: OpFlags = OpFlags(32);

    /// Whether all of `other`'s flags are set.
    pub fn has(self, other: OpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Flag names, for the docs.
    pub fn names(self) -> Vec<&'static str> {
        let all = [
            (Self::TERM, "terminator"),
            (Self::BRANCH, "branch"),
            (Self::CALL, "call"),
            (Self::TRAPS, "may trap"),
            (Self::GC, "may GC"),
            (Self::HOT, "hot counter"),
        ];
        all.iter()
            .filter(|(f, _)| self.has(*f))
            .map(|(_, n)| *n)
            .collect()
    }
}

impl fmt::Debug for OpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.names())
    }
}

/// One row of the opcode table.
#[derive(Debug)]
pub struct OpInfo {
    /// The opcode.
    pub opcode: Opcode,
    /// Its text mnemonic.
    pub mnemonic: &'static str,
    /// Its family.
    pub family: Family,
    /// Operand kinds in order. `OptSrc` and `Srcs` only appear last.
    pub operands: &'static [OperandKind],
    /// Property flags.
    pub flags: OpFlags,
    /// One-line semantics.
    pub doc: &'static str,
}

macro_rules! opcode_table {
    ($( $variant:ident $mnemonic:literal $family:ident
        ( $($operand:ident),* ) [ $($flag:ident)* ] $doc:literal ; )*) => {
        /// An instruction's operation. The discriminant is the opcode byte in `.sbc` files.
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Opcode {
            $(
                #[doc = $doc]
                $variant,
            )*
        }

        /// The opcode table, indexed by opcode number.
        pub static OPCODES: &[OpInfo] = &[
            $(OpInfo {
                opcode: Opcode::$variant,
                mnemonic: $mnemonic,
                family: Family::$family,
                operands: &[$(OperandKind::$operand),*],
                flags: OpFlags(0 $(| OpFlags::$flag.0)*),
                doc: $doc,
            },)*
        ];
    };
}

opcode_table! {
    Halt "halt" Halt (OptSrc) [TERM TRAPS]
        "Stop the whole program; the exit status is `src` (an int, truncated to 32 bits; default 0).";
    Load "load" Load (Dst, Lit) []
        "`rd = literal` (int, float, str, char, bool or nil).";
    Move "move" Move (Dst, Reg) []
        "`rd = rs`, then `rs` releases its value: an `any` register becomes nil and a reference-typed one becomes unassigned; immediate-typed registers keep theirs.";
    Copy "copy" Move (Dst, Src) []
        "`rd = src`.";
    Add "add" Calculate (Dst, Src, Src) [TRAPS]
        "`rd = a + b`: int+int wraps, float+float is IEEE, int mixed with float converts the int; other kinds are a TypeError.";
    Sub "sub" Calculate (Dst, Src, Src) [TRAPS]
        "`rd = a - b` (number rules as `add`).";
    Mul "mul" Calculate (Dst, Src, Src) [TRAPS]
        "`rd = a * b` (number rules as `add`).";
    Div "div" Calculate (Dst, Src, Src) [TRAPS]
        "`rd = a / b`: int/int truncates toward zero and traps DivisionByZero on 0 (`MIN / -1` wraps); floats follow IEEE.";
    Rem "rem" Calculate (Dst, Src, Src) [TRAPS]
        "`rd = a % b`: int remainder has the sign of `a` and traps DivisionByZero on 0; float remainder is `fmod`.";
    Pow "pow" Calculate (Dst, Src, Src) [TRAPS]
        "`rd = a ** b`: int**int is wrapping repeated multiplication (a negative exponent gives the truncated quotient `1 / a**-b`); otherwise float `powf`.";
    Neg "neg" Calculate (Dst, Src) [TRAPS]
        "`rd = -a` (ints wrap).";
    Abs "abs" Calculate (Dst, Src) [TRAPS]
        "`rd = |a|` (ints wrap: `abs MIN` is `MIN`).";
    Divu "divu" Calculate (Dst, Src, Src) [TRAPS]
        "`rd = a / b` with both ints read as unsigned 64-bit; DivisionByZero on 0.";
    Remu "remu" Calculate (Dst, Src, Src) [TRAPS]
        "`rd = a % b` with both ints read as unsigned 64-bit; DivisionByZero on 0.";
    Eq "eq" Compare (Dst, Src, Src) []
        "`rd = a == b`: numbers by value (int vs float exactly), bools, chars, nil by value, strings by content, other references by identity. Never traps.";
    Ne "ne" Compare (Dst, Src, Src) []
        "`rd = not (a == b)`.";
    Lt "lt" Compare (Dst, Src, Src) [TRAPS]
        "`rd = a < b` on two numbers (exact across int/float; NaN compares false), two chars or two strings (bytewise); otherwise TypeError.";
    Le "le" Compare (Dst, Src, Src) [TRAPS]
        "`rd = a <= b` (ordering rules as `lt`).";
    Gt "gt" Compare (Dst, Src, Src) [TRAPS]
        "`rd = a > b` (ordering rules as `lt`).";
    Ge "ge" Compare (Dst, Src, Src) [TRAPS]
        "`rd = a >= b` (ordering rules as `lt`).";
    Ltu "ltu" Compare (Dst, Src, Src) [TRAPS]
        "`rd = a < b` with both ints read as unsigned 64-bit.";
    Leu "leu" Compare (Dst, Src, Src) [TRAPS]
        "`rd = a <= b`, unsigned ints.";
    Gtu "gtu" Compare (Dst, Src, Src) [TRAPS]
        "`rd = a > b`, unsigned ints.";
    Geu "geu" Compare (Dst, Src, Src) [TRAPS]
        "`rd = a >= b`, unsigned ints.";
    Same "same" Compare (Dst, Src, Src) []
        "`rd = identity(a) == identity(b)`: same tag and same payload bits (floats by bits, references by address; equal string literals of one module are one object).";
    And "and" Bitwise (Dst, Src, Src) [TRAPS]
        "`rd = a & b` on two ints, or logical and on two bools.";
    Or "or" Bitwise (Dst, Src, Src) [TRAPS]
        "`rd = a | b` on two ints, or logical or on two bools.";
    Xor "xor" Bitwise (Dst, Src, Src) [TRAPS]
        "`rd = a ^ b` on two ints, or logical xor on two bools.";
    Not "not" Bitwise (Dst, Src) [TRAPS]
        "`rd = !a`: bitwise complement of an int, or logical not of a bool.";
    Shl "shl" Bitwise (Dst, Src, Src) [TRAPS]
        "`rd = a << (b & 63)` on ints.";
    Shr "shr" Bitwise (Dst, Src, Src) [TRAPS]
        "`rd = a >> (b & 63)`, logical (zero-filling) shift on ints.";
    Sar "sar" Bitwise (Dst, Src, Src) [TRAPS]
        "`rd = a >> (b & 63)`, arithmetic (sign-filling) shift on ints.";
    Jump "jump" Jump (Label) [TERM BRANCH HOT]
        "Continue at `L`.";
    JumpIf "jumpif" Jump (Src, Label) [BRANCH HOT]
        "Continue at `L` if `src` is truthy (anything but `false` and `nil`).";
    JumpIfNot "jumpifnot" Jump (Src, Label) [BRANCH HOT]
        "Continue at `L` if `src` is `false` or `nil`.";
    Jlt "jlt" Jump (Src, Src, Label) [BRANCH HOT TRAPS]
        "Continue at `L` if `a < b` (ordering rules as `lt`).";
    Jle "jle" Jump (Src, Src, Label) [BRANCH HOT TRAPS]
        "Continue at `L` if `a <= b`.";
    Jgt "jgt" Jump (Src, Src, Label) [BRANCH HOT TRAPS]
        "Continue at `L` if `a > b`.";
    Jge "jge" Jump (Src, Src, Label) [BRANCH HOT TRAPS]
        "Continue at `L` if `a >= b`.";
    Jeq "jeq" Jump (Src, Src, Label) [BRANCH HOT]
        "Continue at `L` if `a == b` (equality rules as `eq`).";
    Jne "jne" Jump (Src, Src, Label) [BRANCH HOT]
        "Continue at `L` if not `a == b`.";
    Itof "itof" Convert (Dst, Src) [TRAPS]
        "`rd = float(a)` for an int `a` (nearest float).";
    Ftoi "ftoi" Convert (Dst, Src) [TRAPS]
        "`rd = int(a)` for a float `a`: truncates toward zero, saturates at the int range, NaN gives 0.";
    Sext8 "sext8" Convert (Dst, Src) [TRAPS]
        "`rd` = the low 8 bits of int `a`, sign-extended.";
    Sext16 "sext16" Convert (Dst, Src) [TRAPS]
        "`rd` = the low 16 bits of int `a`, sign-extended.";
    Sext32 "sext32" Convert (Dst, Src) [TRAPS]
        "`rd` = the low 32 bits of int `a`, sign-extended.";
    Zext8 "zext8" Convert (Dst, Src) [TRAPS]
        "`rd` = the low 8 bits of int `a`, zero-extended.";
    Zext16 "zext16" Convert (Dst, Src) [TRAPS]
        "`rd` = the low 16 bits of int `a`, zero-extended.";
    Zext32 "zext32" Convert (Dst, Src) [TRAPS]
        "`rd` = the low 32 bits of int `a`, zero-extended.";
    F32 "f32" Convert (Dst, Src) [TRAPS]
        "`rd` = float `a` rounded to single precision (and widened back).";
    Typeof "typeof" Convert (Dst, Src) []
        "`rd` = the name of `a`'s kind as a str (`\"int\"`, `\"str\"`, ...).";
    Is "is" Convert (Dst, Src, Type) []
        "`rd = true` if `a` is a value of `Type` (`any` matches everything).";
    Cast "cast" Convert (Dst, Src, Type) [TRAPS]
        "`rd = a` if `a` is a value of `Type`, else TypeError; the result is statically of `Type`.";
    Call "call" Call (Dst, Func, Srcs) [CALL TRAPS GC]
        "`rd = func(args…)`: a direct call; the argument count must equal the callee's parameter count.";
    TailCall "tailcall" Call (Func, Srcs) [TERM CALL TRAPS GC]
        "Return `func(args…)`, reusing this frame: a loop of tail calls runs in constant stack.";
    Ret "ret" Call (OptSrc) [TERM TRAPS]
        "Return `src` (default nil) to the caller.";
    GetG "getg" Global (Dst, Global) []
        "`rd` = the module global `g`.";
    SetG "setg" Global (Global, Src) [TRAPS]
        "Global `g` = `src` (checked against the global's declared type).";
    Sys "sys" Interrupt (Dst, Sys, Srcs) [CALL TRAPS GC]
        "`rd` = the system call `name(args…)`; the name and argument count are checked when the module is linked.";
    ToStr "tostr" Convert (Dst, Src) [GC TRAPS]
        "`rd` = the text form of `a` as a new str (what `sys print` writes).";
    CallV "callv" Call (Dst, Src, Srcs) [CALL TRAPS GC]
        "`rd = f(args…)` where `f` is a fn value; the argument count and typed parameters are checked at run time.";
    TailCallV "tailcallv" Call (Src, Srcs) [TERM CALL TRAPS GC]
        "Return `f(args…)` for a fn value `f`, reusing this frame (the function's return type must be `any`).";
    Closure "closure" Call (Dst, Func, Srcs) [GC TRAPS]
        "`rd` = a fn value for `func` capturing the values `args…` (no captures: one shared value per function).";
    GetUp "getup" Call (Dst, Imm) [TRAPS]
        "`rd` = capture `i` of the running closure (TypeError if the function was not called as a closure with that many captures).";
    SetUp "setup" Call (Imm, Src) [TRAPS]
        "Capture `i` of the running closure = `src`; every later call of that closure sees it.";
    New "new" Record (Dst, Type, Srcs) [GC TRAPS]
        "`rd` = a new record of type `T` with the given field values in declaration order, or with every field at its type's initial value (nil for references) when none are given.";
    GetF "getf" Record (Dst, Src, Field) [TRAPS]
        "`rd` = field `field` of record `a`, which must be a `T` (TypeError otherwise).";
    SetF "setf" Record (Src, Field, Src) [TRAPS]
        "Field `field` of record `a` (a `T`) = `src`, checked against the field's type (reference-typed fields also accept nil).";
    NewArr "newarr" Array (Dst, Src, OptSrc) [GC TRAPS]
        "`rd` = a new array of `len` elements, each `init` (default nil); a negative length is OutOfBounds.";
    AGet "aget" Array (Dst, Src, Src) [TRAPS]
        "`rd = a[i]`; an index outside `0..len` is OutOfBounds.";
    ASet "aset" Array (Src, Src, Src) [TRAPS]
        "`a[i] = src`; an index outside `0..len` is OutOfBounds.";
    ALen "alen" Array (Dst, Src) [TRAPS]
        "`rd` = the number of elements of array `a`.";
    APush "apush" Array (Src, Src) [GC TRAPS]
        "Append `src` to array `a`.";
    APop "apop" Array (Dst, Src) [TRAPS]
        "Remove and return the last element of array `a` (OutOfBounds if empty).";
    NewBytes "newbytes" Bytes (Dst, Src) [GC TRAPS]
        "`rd` = a new buffer of `len` zero bytes.";
    LdI8 "ld.i8" Bytes (Dst, Src, Src) [TRAPS]
        "`rd` = the byte at offset `off` of `b`, sign-extended (OutOfBounds outside the buffer).";
    LdU8 "ld.u8" Bytes (Dst, Src, Src) [TRAPS]
        "`rd` = the byte at `off`, zero-extended.";
    LdI16 "ld.i16" Bytes (Dst, Src, Src) [TRAPS]
        "`rd` = the little-endian 16-bit value at `off`, sign-extended.";
    LdU16 "ld.u16" Bytes (Dst, Src, Src) [TRAPS]
        "`rd` = the little-endian 16-bit value at `off`, zero-extended.";
    LdI32 "ld.i32" Bytes (Dst, Src, Src) [TRAPS]
        "`rd` = the little-endian 32-bit value at `off`, sign-extended.";
    LdU32 "ld.u32" Bytes (Dst, Src, Src) [TRAPS]
        "`rd` = the little-endian 32-bit value at `off`, zero-extended.";
    LdI64 "ld.i64" Bytes (Dst, Src, Src) [TRAPS]
        "`rd` = the little-endian 64-bit int at `off`.";
    LdF32 "ld.f32" Bytes (Dst, Src, Src) [TRAPS]
        "`rd` = the little-endian single-precision float at `off`, widened.";
    LdF64 "ld.f64" Bytes (Dst, Src, Src) [TRAPS]
        "`rd` = the little-endian double at `off`.";
    StI8 "st.i8" Bytes (Src, Src, Src) [TRAPS]
        "Store the low 8 bits of int `src` at offset `off` of `b`.";
    StI16 "st.i16" Bytes (Src, Src, Src) [TRAPS]
        "Store the low 16 bits of int `src` little-endian at `off`.";
    StI32 "st.i32" Bytes (Src, Src, Src) [TRAPS]
        "Store the low 32 bits of int `src` little-endian at `off`.";
    StI64 "st.i64" Bytes (Src, Src, Src) [TRAPS]
        "Store int `src` little-endian at `off`.";
    StF32 "st.f32" Bytes (Src, Src, Src) [TRAPS]
        "Store float `src` rounded to single precision, little-endian, at `off`.";
    StF64 "st.f64" Bytes (Src, Src, Src) [TRAPS]
        "Store float `src` little-endian at `off`.";
    BLen "blen" Bytes (Dst, Src) [TRAPS]
        "`rd` = the length of buffer `b` in bytes.";
    Concat "concat" String (Dst, Src, Src) [GC TRAPS]
        "`rd` = str `a` followed by str `b`.";
    SLen "slen" String (Dst, Src) [TRAPS]
        "`rd` = the number of characters of str `a`.";
    SGet "sget" String (Dst, Src, Src) [TRAPS]
        "`rd` = the char at character index `i` of str `a` (OutOfBounds outside `0..slen`).";
    Substr "substr" String (Dst, Src, Src, Src) [GC TRAPS]
        "`rd` = the characters `from..to` (end exclusive) of str `a`, as a new str.";
    NewMap "newmap" Map (Dst) [GC]
        "`rd` = a new empty map.";
    MGet "mget" Map (Dst, Src, Src) [TRAPS]
        "`rd` = the value at `key` in map `m`, or nil if absent. Keys compare like `eq` (so `1` and `1.0` are one key); nil and NaN keys are a TypeError.";
    MSet "mset" Map (Src, Src, Src) [GC TRAPS]
        "Set `key` to `src` in map `m` (an integral float key is stored as the equal int).";
    MHas "mhas" Map (Dst, Src, Src) [TRAPS]
        "`rd = true` if map `m` has `key`.";
    MDel "mdel" Map (Src, Src) [TRAPS]
        "Remove `key` from map `m` (nothing if absent); the last key takes the removed one's place in iteration order.";
    MLen "mlen" Map (Dst, Src) [TRAPS]
        "`rd` = the number of entries of map `m`.";
    MKeys "mkeys" Map (Dst, Src) [GC TRAPS]
        "`rd` = a new array of the keys of map `m`, in iteration order (insertion order, except as changed by `mdel`).";
    Sqrt "sqrt" Calculate (Dst, Src) [TRAPS]
        "`rd` = the square root of number `a`, as a float (IEEE; negative gives NaN).";
    Floor "floor" Calculate (Dst, Src) [TRAPS]
        "`rd` = number `a` rounded toward negative infinity, as a float.";
    Ceil "ceil" Calculate (Dst, Src) [TRAPS]
        "`rd` = number `a` rounded toward positive infinity, as a float.";
    Trunc "trunc" Calculate (Dst, Src) [TRAPS]
        "`rd` = number `a` rounded toward zero, as a float.";
    Round "round" Calculate (Dst, Src) [TRAPS]
        "`rd` = number `a` rounded to the nearest integral float, ties to even.";
    NCall "ncall" Native (Dst, Extern, Srcs) [CALL TRAPS GC]
        "`rd` = the C function `lib.fn(args…)` declared with `.extern`: arguments are converted to its C types (range-checked), the result back (see FFI); the argument count must equal the declared one. Traps PermissionDenied without the `ffi` capability.";
    Dispatch "dispatch" Dispatch (Dst, Multimethod, Srcs) [CALL TRAPS GC]
        "`rd = mm(args…)`: calls the most specific method of multimethod `mm` whose patterns match the arguments (NoMethod if none, AmbiguousMethod if several are maximal); the argument count must equal its arity.";
}

impl Opcode {
    /// The opcode's table row.
    pub fn info(self) -> &'static OpInfo {
        &OPCODES[self as usize]
    }

    /// The opcode's mnemonic.
    pub fn mnemonic(self) -> &'static str {
        self.info().mnemonic
    }

    /// The opcode with the given number, if any.
    pub fn from_byte(b: u8) -> Option<Opcode> {
        OPCODES.get(b as usize).map(|i| i.opcode)
    }

    /// The opcode with the given mnemonic, if any.
    pub fn from_mnemonic(m: &str) -> Option<Opcode> {
        OPCODES.iter().find(|i| i.mnemonic == m).map(|i| i.opcode)
    }

    /// Whether control can continue at the next instruction.
    pub fn falls_through(self) -> bool {
        !self.info().flags.has(OpFlags::TERM)
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mnemonic())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_match_discriminants() {
        for (i, info) in OPCODES.iter().enumerate() {
            assert_eq!(info.opcode as usize, i, "{}", info.mnemonic);
            assert_eq!(Opcode::from_byte(i as u8), Some(info.opcode));
            assert_eq!(Opcode::from_mnemonic(info.mnemonic), Some(info.opcode));
        }
        assert!(Opcode::from_byte(OPCODES.len() as u8).is_none());
    }

    #[test]
    fn variadic_operands_come_last() {
        for info in OPCODES {
            for (i, k) in info.operands.iter().enumerate() {
                if matches!(k, OperandKind::OptSrc | OperandKind::Srcs) {
                    assert_eq!(i + 1, info.operands.len(), "{}", info.mnemonic);
                }
            }
            let has_label = info.operands.contains(&OperandKind::Label);
            assert_eq!(
                has_label,
                info.flags.has(OpFlags::BRANCH),
                "{}",
                info.mnemonic
            );
        }
    }

    #[test]
    fn mnemonics_are_unique() {
        let mut names: Vec<_> = OPCODES.iter().map(|i| i.mnemonic).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), OPCODES.len());
    }
}
