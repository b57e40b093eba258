//! The bytecode verifier: runs on every module before it is linked or executed.
//!
//! It checks, per function: operand shapes and indices against the opcode table (registers,
//! constants, functions, globals, labels), register and argument limits, arities of direct calls,
//! that control never falls off the end, the typed-register rules of DESIGN §4 (every write into
//! a typed register, parameter, return or global is statically compatible, or gets a run-time
//! check recorded in [`FuncInfo::checks`]), and that reference-typed registers are assigned
//! before they are read (a forward dataflow over the instructions).
//!
//! Invariant: a module that verifies can be executed by the tiers without bounds checks on
//! register, constant, function, global and label indices, and every typed register holds a value
//! of its type at every instruction that reads it, provided the tiers perform the recorded checks.

use std::collections::{HashMap, HashSet};
use std::fmt;

use thiserror::Error;

use crate::ffi::CType;
use crate::module::{Constant, FuncRef, Function, Module, Operand, Pattern};
use crate::opcodes::{Opcode, OperandKind};
use crate::types::Type;

/// Most registers one function may declare.
pub const MAX_REGISTERS: usize = 16_000;
/// Most parameters (and call arguments).
pub const MAX_PARAMS: usize = 255;
/// Most instructions in one function.
pub const MAX_CODE_LEN: usize = 1 << 22;
/// Most distinct constants one function may refer to.
pub const MAX_FUNC_CONSTS: usize = 16_000;

/// A verification failure, with its location.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// The function, if the problem is inside one.
    pub function: Option<String>,
    /// The instruction index, if the problem is at one.
    pub pc: Option<u32>,
    /// The source line of that instruction, when debug info has it.
    pub line: Option<u32>,
    /// The method (index into `Module::methods`), if the problem is in one.
    pub method: Option<u32>,
    /// What is wrong.
    pub message: String,
}

impl VerifyError {
    /// A failure of the module as a whole (no function, instruction or method).
    fn module(message: String) -> VerifyError {
        VerifyError {
            function: None,
            pc: None,
            line: None,
            method: None,
            message,
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.function, self.pc) {
            (Some(func), Some(pc)) => {
                write!(f, "in function `{func}` at pc {pc}")?;
                if let Some(l) = self.line {
                    write!(f, " (line {l})")?;
                }
                write!(f, ": {}", self.message)
            }
            (Some(func), None) => write!(f, "in function `{func}`: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// Where a run-time type check applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckSite {
    /// The instruction's result, before it is written to the destination register.
    Result,
    /// The value of operand `n` (an index into `Instr::operands`) before the instruction runs.
    Operand(u8),
}

/// A run-time type check the tiers must perform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeCheck {
    /// The instruction.
    pub pc: u32,
    /// Which value is checked.
    pub site: CheckSite,
    /// The type the value must have.
    pub ty: Type,
    /// Whether nil is also accepted (reference-typed globals and record fields).
    pub nullable: bool,
}

/// What the verifier learned about one function.
#[derive(Clone, Debug, Default)]
pub struct FuncInfo {
    /// Run-time type checks, sorted by pc.
    pub checks: Vec<RuntimeCheck>,
}

impl FuncInfo {
    /// The checks at instruction `pc`.
    pub fn checks_at(&self, pc: u32) -> &[RuntimeCheck] {
        let start = self.checks.partition_point(|c| c.pc < pc);
        let end = self.checks.partition_point(|c| c.pc <= pc);
        &self.checks[start..end]
    }
}

/// What the verifier learned about a module.
#[derive(Clone, Debug, Default)]
pub struct ModuleInfo {
    /// Per function, in module order.
    pub functions: Vec<FuncInfo>,
}

/// The static type of an operand in function `f` of module `m`.
pub fn operand_type(m: &Module, f: &Function, op: &Operand) -> Type {
    match op {
        Operand::Reg(r) => f.regs.get(*r as usize).copied().unwrap_or(Type::Any),
        Operand::Const(k) => m.consts.get(*k as usize).map_or(Type::Any, Constant::ty),
        _ => Type::Any,
    }
}

/// Whether `name` can name a module: an identifier (letters, digits, `_`, `-`; not starting
/// with a digit), so it is also a file name on the search path.
pub fn is_module_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether `t` refers only to record types that exist in `m`.
fn type_exists(m: &Module, t: Type) -> bool {
    match t {
        Type::Record(i) => (i as usize) < m.types.len(),
        _ => true,
    }
}

/// Verifies a module.
pub fn verify(m: &Module) -> Result<ModuleInfo, VerifyError> {
    let module_err = VerifyError::module;
    let mut tnames = HashSet::new();
    for (ti, t) in m.types.iter().enumerate() {
        if !tnames.insert(t.name.as_str()) {
            return Err(module_err(format!(
                "record type `{}` is defined twice",
                t.name
            )));
        }
        if Type::from_name(&t.name).is_some() {
            return Err(module_err(format!(
                "record type `{}` has the name of a built-in type",
                t.name
            )));
        }
        let mut fnames = HashSet::new();
        for f in &t.fields {
            if !fnames.insert(f.name.as_str()) {
                return Err(module_err(format!(
                    "record type `{}` has two fields named `{}`",
                    t.name, f.name
                )));
            }
            if !f.ty.is_declarable() || !type_exists(m, f.ty) {
                return Err(module_err(format!(
                    "field `{}.{}` has an invalid type",
                    t.name, f.name
                )));
            }
        }
        if t.fields.len() > MAX_PARAMS {
            return Err(module_err(format!(
                "record type `{}` has {} fields, more than the limit of {MAX_PARAMS}",
                t.name,
                t.fields.len()
            )));
        }
        if let Some(d) = t.destructor {
            let Some(df) = m.functions.get(d as usize) else {
                return Err(module_err(format!(
                    "destructor {d} of `{}` is not a function",
                    t.name
                )));
            };
            let ok_param = df
                .regs
                .first()
                .is_some_and(|p| *p == Type::Any || *p == Type::Record(ti as u32));
            if df.params != 1 || !ok_param {
                return Err(module_err(format!(
                    "destructor `{}` of `{}` must take exactly one parameter of type any or {}",
                    df.name, t.name, t.name
                )));
            }
        }
    }
    let mut imported = HashSet::new();
    for name in &m.imports {
        if !is_module_name(name) {
            return Err(module_err(format!(
                "imported module name `{name}` is not an identifier"
            )));
        }
        if name == &m.name {
            return Err(module_err(format!("module `{name}` imports itself")));
        }
        if !imported.insert(name.as_str()) {
            return Err(module_err(format!("module `{name}` is imported twice")));
        }
    }
    for (what, symbols) in [
        ("function", &m.imported_functions),
        ("global", &m.imported_globals),
        ("multimethod", &m.imported_multimethods),
    ] {
        let mut seen = HashSet::new();
        for sym in symbols {
            let plain = sym.name.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == '$' || (i > 0 && c.is_ascii_digit())
            });
            if !plain || sym.name.is_empty() {
                return Err(module_err(format!(
                    "imported {what} `{}` must be named by a plain identifier",
                    sym.name
                )));
            }
            if sym.module as usize >= m.imports.len() {
                return Err(module_err(format!(
                    "imported {what} `{}` refers to no imported module",
                    sym.name
                )));
            }
            if !seen.insert((sym.module, sym.name.as_str())) {
                return Err(module_err(format!(
                    "imported {what} `{}` is listed twice",
                    m.qualified(sym)
                )));
            }
        }
    }
    check_natives(m)?;
    let mut names = HashSet::new();
    for f in &m.functions {
        if !names.insert(f.name.as_str()) {
            return Err(module_err(format!(
                "function `{}` is defined twice",
                f.name
            )));
        }
    }
    let mut gnames = HashSet::new();
    for g in &m.globals {
        if !gnames.insert(g.name.as_str()) {
            return Err(module_err(format!("global `{}` is defined twice", g.name)));
        }
        if !g.ty.is_declarable() {
            return Err(module_err(format!(
                "global `{}` cannot have type {}",
                g.name, g.ty
            )));
        }
        let it = g.init.ty();
        let ok = g.ty == Type::Any || it == g.ty || (it == Type::Nil && !g.ty.is_immediate());
        if !ok {
            return Err(module_err(format!(
                "global `{}` has type {} but its initial value is {}",
                g.name,
                m.type_name(g.ty),
                it
            )));
        }
    }
    if let Some(init) = m.init {
        match m.functions.get(init as usize) {
            None => {
                return Err(module_err(format!(
                    "module initializer {init} is not a function"
                )))
            }
            Some(f) if f.params != 0 => {
                return Err(module_err(format!(
                    "module initializer `{}` must take no parameters (it takes {})",
                    f.name, f.params
                )))
            }
            _ => {}
        }
    }
    verify_multimethods(m)?;
    let mut info = ModuleInfo::default();
    for f in &m.functions {
        info.functions.push(FuncVerifier::new(m, f).run()?);
    }
    Ok(info)
}

/// Whether `s` is a C identifier (letters, digits, `_`; not starting with a digit): what
/// native library aliases, extern symbols and host system-call names must be.
pub fn is_c_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `.native` and `.extern` declarations: aliases are identifiers declared once, library
/// names are non-empty without NUL bytes, externs name a declared library and a C identifier
/// once each, take at most [`MAX_PARAMS`] parameters and never a `void` one.
fn check_natives(m: &Module) -> Result<(), VerifyError> {
    let err = VerifyError::module;
    let mut aliases = HashSet::new();
    for lib in &m.natives {
        if !is_c_identifier(&lib.alias) {
            return Err(err(format!(
                "native library alias `{}` is not an identifier",
                lib.alias
            )));
        }
        if !aliases.insert(lib.alias.as_str()) {
            return Err(err(format!(
                "native library `{}` is declared twice",
                lib.alias
            )));
        }
        if lib.path.is_empty() || lib.path.contains('\0') {
            return Err(err(format!(
                "native library `{}` has an invalid name {:?}",
                lib.alias, lib.path
            )));
        }
    }
    let mut seen = HashSet::new();
    for (i, x) in m.externs.iter().enumerate() {
        let name = m.extern_name(i as u32);
        if x.library as usize >= m.natives.len() {
            return Err(err(format!(
                "extern `{}` refers to no declared native library",
                x.symbol
            )));
        }
        if !is_c_identifier(&x.symbol) {
            return Err(err(format!(
                "extern symbol `{}` is not a C identifier",
                x.symbol
            )));
        }
        if !seen.insert((x.library, x.symbol.as_str())) {
            return Err(err(format!("extern `{name}` is declared twice")));
        }
        if x.params.len() > MAX_PARAMS {
            return Err(err(format!(
                "extern `{name}` has {} parameters, more than the limit of {MAX_PARAMS}",
                x.params.len()
            )));
        }
        if let Some(p) = x.params.iter().position(|t| *t == CType::Void) {
            return Err(err(format!(
                "extern `{name}`: parameter {} cannot be void",
                p + 1
            )));
        }
        if x.ret == CType::Bytes {
            return Err(err(format!(
                "extern `{name}`: bytes cannot be a result type (use ptr)"
            )));
        }
    }
    Ok(())
}

/// Multimethod declarations and methods.
fn verify_multimethods(m: &Module) -> Result<(), VerifyError> {
    let module_err = VerifyError::module;
    let mut names = HashSet::new();
    for d in &m.multimethods {
        if !crate::asm::is_plain_ident(&d.name) || d.name.contains('.') {
            return Err(module_err(format!(
                "multimethod `{}` must be named by a plain identifier",
                d.name
            )));
        }
        if !names.insert(d.name.as_str()) {
            return Err(module_err(format!(
                "multimethod `{}` is declared twice",
                d.name
            )));
        }
        if d.arity as usize > MAX_PARAMS {
            return Err(module_err(format!(
                "multimethod `{}` takes {} arguments, more than the limit of {MAX_PARAMS}",
                d.name, d.arity
            )));
        }
    }
    for (i, meth) in m.methods.iter().enumerate() {
        let err = |message: String| VerifyError {
            function: None,
            pc: None,
            line: None,
            method: Some(i as u32),
            message,
        };
        if meth.multimethod as usize >= m.multimethod_space() {
            return Err(err(format!(
                "method {i} adds to multimethod {}, which does not exist",
                meth.multimethod
            )));
        }
        if meth.func as usize >= m.function_space() {
            return Err(err(format!(
                "method {i} calls function {}, which does not exist",
                meth.func
            )));
        }
        let mm_name = m.multimethod_name(meth.multimethod);
        let pats: Vec<String> = meth.patterns.iter().map(|p| m.pattern_text(p)).collect();
        let desc = format!(
            "method {mm_name} ({}) {}",
            pats.join(", "),
            m.func_name(meth.func)
        );
        if meth.patterns.len() > MAX_PARAMS {
            return Err(err(format!("{desc}: more than {MAX_PARAMS} patterns")));
        }
        for p in &meth.patterns {
            let ok = crate::dispatch::pattern_valid(p)
                && match p {
                    Pattern::Type(t) => type_exists(m, *t) && t.is_declarable(),
                    _ => true,
                };
            if !ok {
                return Err(err(format!("{desc}: invalid pattern")));
            }
        }
        if let Some(d) = m.multimethods.get(meth.multimethod as usize) {
            if meth.patterns.len() != d.arity as usize {
                return Err(err(format!(
                    "{desc}: {} pattern(s) but `{}` takes {} argument(s)",
                    meth.patterns.len(),
                    d.name,
                    d.arity
                )));
            }
        }
        if let Some(FuncRef::Local(f)) = m.func_ref(meth.func) {
            if f.params as usize != meth.patterns.len() {
                return Err(err(format!(
                    "{desc}: `{}` takes {} parameter(s) but the method has {} pattern(s)",
                    f.name,
                    f.params,
                    meth.patterns.len()
                )));
            }
            for (pi, (p, &t)) in meth.patterns.iter().zip(f.param_types()).enumerate() {
                if let Err(why) = crate::dispatch::pattern_fits(p, t, |t| m.type_name(t)) {
                    return Err(err(format!(
                        "{desc}: parameter {} of `{}`: {why}",
                        pi + 1,
                        f.name
                    )));
                }
            }
        }
        let duplicate = m.methods[..i].iter().any(|o| {
            o.multimethod == meth.multimethod
                && o.patterns.len() == meth.patterns.len()
                && o.patterns
                    .iter()
                    .zip(&meth.patterns)
                    .all(|(a, b)| a.same(b))
        });
        if duplicate {
            return Err(err(format!(
                "{desc}: `{mm_name}` already has a method for ({})",
                pats.join(", ")
            )));
        }
    }
    Ok(())
}

struct FuncVerifier<'a> {
    m: &'a Module,
    f: &'a Function,
    checks: Vec<RuntimeCheck>,
    pc: u32,
}

type VResult<T> = Result<T, VerifyError>;

/// Result of typing one instruction.
struct Typing {
    /// Static type of the value written to the destination, if the instruction has one.
    result: Option<Type>,
}

impl<'a> FuncVerifier<'a> {
    fn new(m: &'a Module, f: &'a Function) -> Self {
        FuncVerifier {
            m,
            f,
            checks: Vec::new(),
            pc: 0,
        }
    }

    fn err<T>(&self, message: impl Into<String>) -> VResult<T> {
        Err(VerifyError {
            function: Some(self.f.name.clone()),
            pc: Some(self.pc),
            line: self.f.line_of(self.pc as usize),
            method: None,
            message: message.into(),
        })
    }

    fn func_err<T>(&self, message: impl Into<String>) -> VResult<T> {
        Err(VerifyError {
            function: Some(self.f.name.clone()),
            pc: None,
            line: None,
            method: None,
            message: message.into(),
        })
    }

    fn run(mut self) -> VResult<FuncInfo> {
        let f = self.f;
        if f.regs.len() > MAX_REGISTERS {
            return self.func_err(format!(
                "{} registers exceed the limit of {MAX_REGISTERS}",
                f.regs.len()
            ));
        }
        if f.params as usize > f.regs.len() {
            return self.func_err(format!(
                "{} parameters but only {} registers",
                f.params,
                f.regs.len()
            ));
        }
        if f.params as usize > MAX_PARAMS {
            return self.func_err(format!(
                "{} parameters exceed the limit of {MAX_PARAMS}",
                f.params
            ));
        }
        if f.code.is_empty() {
            return self.func_err("function has no instructions");
        }
        if f.code.len() > MAX_CODE_LEN {
            return self.func_err(format!(
                "{} instructions exceed the limit of {MAX_CODE_LEN}",
                f.code.len()
            ));
        }
        if !f.reg_names.is_empty() && f.reg_names.len() != f.regs.len() {
            return self.func_err("register name table does not match the register count");
        }
        if !f.lines.is_empty() && f.lines.len() != f.code.len() {
            return self.func_err("line table does not match the instruction count");
        }
        if !f.scopes.is_empty() && f.scopes.len() != f.code.len() {
            return self.func_err("inline scope table does not match the instruction count");
        }
        for (k, scope) in f.inlined.iter().enumerate() {
            if scope.parent as usize > k {
                return self.func_err(format!(
                    "inline scope {} (`{}`) has parent {}, not an earlier scope",
                    k + 1,
                    scope.name,
                    scope.parent
                ));
            }
        }
        if let Some(pc) = f.scopes.iter().position(|&s| s as usize > f.inlined.len()) {
            return self.func_err(format!(
                "instruction {pc} is in inline scope {}, but the function has {}",
                f.scopes[pc],
                f.inlined.len()
            ));
        }
        if !f.ret.is_declarable() {
            return self.func_err(format!("return type cannot be {}", f.ret));
        }
        for (i, t) in f.regs.iter().enumerate() {
            if !t.is_declarable() {
                return self.func_err(format!(
                    "register {} cannot have type {t}",
                    f.reg_display(i as u32)
                ));
            }
        }
        let mut consts = HashSet::new();
        for pc in 0..f.code.len() {
            self.pc = pc as u32;
            self.check_shape(&mut consts)?;
            let typing = self.type_instr()?;
            self.check_dst(typing)?;
            let ins = &f.code[pc];
            if ins.op.falls_through() && pc + 1 == f.code.len() {
                return self.err(format!(
                    "control falls off the end of the function after `{}`",
                    ins.op
                ));
            }
        }
        if consts.len() > MAX_FUNC_CONSTS {
            return self.func_err(format!(
                "refers to {} distinct constants, more than the limit of {MAX_FUNC_CONSTS}",
                consts.len()
            ));
        }
        self.check_assignment()?;
        self.checks.sort_by_key(|c| c.pc);
        Ok(FuncInfo {
            checks: self.checks,
        })
    }

    /// Operand count, kinds and index ranges.
    fn check_shape(&self, consts: &mut HashSet<u32>) -> VResult<()> {
        let f = self.f;
        let ins = &f.code[self.pc as usize];
        let info = ins.op.info();
        let nregs = f.regs.len() as u32;
        let mut ops = ins.operands.iter().enumerate().peekable();
        let mn = info.mnemonic;
        let reg_ok = |r: u32| -> VResult<()> {
            if r < nregs {
                Ok(())
            } else {
                self.err(format!(
                    "{mn}: register r{r} out of range (function has {nregs} registers)"
                ))
            }
        };
        let const_ok = |k: u32, consts: &mut HashSet<u32>| -> VResult<()> {
            if (k as usize) < self.m.consts.len() {
                consts.insert(k);
                Ok(())
            } else {
                self.err(format!(
                    "{mn}: constant {k} out of range (pool has {})",
                    self.m.consts.len()
                ))
            }
        };
        let check_src = |op: &Operand, n: usize, consts: &mut HashSet<u32>| -> VResult<()> {
            match op {
                Operand::Reg(r) => reg_ok(*r),
                Operand::Const(k) => const_ok(*k, consts),
                _ => self.err(format!(
                    "{mn}: operand {} must be a register or literal",
                    n + 1
                )),
            }
        };
        for kind in info.operands {
            match kind {
                OperandKind::OptSrc => {
                    if let Some((n, op)) = ops.next() {
                        check_src(op, n, consts)?;
                    }
                }
                OperandKind::Srcs => {
                    let mut count = 0;
                    for (n, op) in ops.by_ref() {
                        check_src(op, n, consts)?;
                        count += 1;
                    }
                    if count > MAX_PARAMS {
                        return self.err(format!(
                            "{mn}: {count} arguments exceed the limit of {MAX_PARAMS}"
                        ));
                    }
                }
                kind => {
                    let Some((n, op)) = ops.next() else {
                        return self.err(format!("{mn}: missing operand {}", info.operands.len()));
                    };
                    let bad = || {
                        self.err(format!(
                            "{mn}: operand {} must be {}",
                            n + 1,
                            kind_desc(*kind)
                        ))
                    };
                    match (kind, op) {
                        (OperandKind::Dst, Operand::Discard) => {}
                        (OperandKind::Dst | OperandKind::Reg, Operand::Reg(r)) => reg_ok(*r)?,
                        (OperandKind::Src, op) => check_src(op, n, consts)?,
                        (OperandKind::Lit, Operand::Const(k)) => const_ok(*k, consts)?,
                        (OperandKind::Sys, Operand::Sys(k)) => {
                            if self.m.const_str(*k).is_none() {
                                return self
                                    .err(format!("{mn}: system-call name must be a str constant"));
                            }
                        }
                        (OperandKind::Label, Operand::Label(t)) => {
                            if *t as usize >= f.code.len() {
                                return self.err(format!(
                                    "{mn}: jump target {t} is outside the function (0..{})",
                                    f.code.len()
                                ));
                            }
                        }
                        (OperandKind::Func, Operand::Func(i)) => {
                            if *i as usize >= self.m.function_space() {
                                return self.err(format!("{mn}: function {i} does not exist"));
                            }
                        }
                        (OperandKind::Global, Operand::Global(i)) => {
                            if *i as usize >= self.m.global_space() {
                                return self.err(format!("{mn}: global {i} does not exist"));
                            }
                        }
                        (OperandKind::Type, Operand::Type(t)) => {
                            if !type_exists(self.m, *t) {
                                return self
                                    .err(format!("{mn}: record type {} does not exist", t.code()));
                            }
                        }
                        (OperandKind::Field, Operand::Field(t, fi)) => {
                            let Some(rt) = self.m.types.get(*t as usize) else {
                                return self.err(format!("{mn}: record type {t} does not exist"));
                            };
                            if *fi as usize >= rt.fields.len() {
                                return self.err(format!("{mn}: `{}` has no field {fi}", rt.name));
                            }
                        }
                        (OperandKind::Imm, Operand::Imm(_)) => {}
                        (OperandKind::Extern, Operand::Extern(i)) => {
                            if *i as usize >= self.m.externs.len() {
                                return self
                                    .err(format!("{mn}: extern function {i} does not exist"));
                            }
                        }
                        (OperandKind::Multimethod, Operand::Multimethod(i)) => {
                            if *i as usize >= self.m.multimethod_space() {
                                return self.err(format!("{mn}: multimethod {i} does not exist"));
                            }
                        }
                        _ => return bad(),
                    }
                }
            }
        }
        if let Some((n, _)) = ops.next() {
            return self.err(format!("{mn}: unexpected operand {}", n + 1));
        }
        Ok(())
    }

    fn ty(&self, n: usize) -> Type {
        let ins = &self.f.code[self.pc as usize];
        operand_type(self.m, self.f, &ins.operands[n])
    }

    fn reg_name_of(&self, n: usize) -> String {
        match &self.f.code[self.pc as usize].operands[n] {
            Operand::Reg(r) => format!("register {}", self.f.reg_display(*r)),
            Operand::Const(k) => format!("literal {}", self.m.consts[*k as usize]),
            _ => format!("operand {}", n + 1),
        }
    }

    /// Requires operand `n` to be statically `want` (or `any`, which gets a run-time check).
    fn require(&mut self, n: usize, want: Type, what: &str) -> VResult<()> {
        let have = self.ty(n);
        if want == Type::Any || have == want {
            Ok(())
        } else if have == Type::Any {
            self.checks.push(RuntimeCheck {
                pc: self.pc,
                site: CheckSite::Operand(n as u8),
                ty: want,
                nullable: false,
            });
            Ok(())
        } else {
            self.err(format!(
                "{}: {} is {}, expected {} ({what})",
                self.mnemonic(),
                self.reg_name_of(n),
                self.tn(have),
                self.tn(want)
            ))
        }
    }

    fn tn(&self, t: Type) -> String {
        self.m.type_name(t)
    }

    fn mnemonic(&self) -> &'static str {
        self.f.code[self.pc as usize].op.mnemonic()
    }

    fn expect_one_of(&self, n: usize, allowed: &[Type], what: &str) -> VResult<Type> {
        let t = self.ty(n);
        if t == Type::Any || allowed.contains(&t) {
            Ok(t)
        } else {
            self.err(format!(
                "{}: {} is {}; expected {what}",
                self.mnemonic(),
                self.reg_name_of(n),
                self.tn(t)
            ))
        }
    }

    /// Static typing of the instruction at `self.pc`.
    fn type_instr(&mut self) -> VResult<Typing> {
        use Opcode::*;
        let ins = &self.f.code[self.pc as usize];
        let num = [Type::Int, Type::Float];
        let result = match ins.op {
            Halt => {
                if !ins.operands.is_empty() {
                    self.require(0, Type::Int, "exit status")?;
                }
                None
            }
            Load => Some(self.ty(1)),
            Move | Copy => Some(self.ty(1)),
            Add | Sub | Mul | Div | Rem | Pow => {
                let a = self.expect_one_of(1, &num, "int or float")?;
                let b = self.expect_one_of(2, &num, "int or float")?;
                Some(match (a, b) {
                    (Type::Int, Type::Int) => Type::Int,
                    (Type::Any, _) | (_, Type::Any) => Type::Any,
                    _ => Type::Float,
                })
            }
            Neg | Abs => Some(self.expect_one_of(1, &num, "int or float")?),
            Sqrt | Floor | Ceil | Trunc | Round => {
                self.expect_one_of(1, &num, "int or float")?;
                Some(Type::Float)
            }
            Divu | Remu | Shl | Shr | Sar => {
                self.expect_one_of(1, &[Type::Int], "int")?;
                self.expect_one_of(2, &[Type::Int], "int")?;
                Some(Type::Int)
            }
            Eq | Ne | Same => Some(Type::Bool),
            Lt | Le | Gt | Ge => {
                self.ordered_pair(1, 2)?;
                Some(Type::Bool)
            }
            Ltu | Leu | Gtu | Geu => {
                self.expect_one_of(1, &[Type::Int], "int")?;
                self.expect_one_of(2, &[Type::Int], "int")?;
                Some(Type::Bool)
            }
            And | Or | Xor => {
                let a = self.expect_one_of(1, &[Type::Int, Type::Bool], "int or bool")?;
                let b = self.expect_one_of(2, &[Type::Int, Type::Bool], "int or bool")?;
                Some(match (a, b) {
                    (Type::Any, Type::Any) => Type::Any,
                    (Type::Any, t) | (t, Type::Any) => t,
                    (a, b) if a == b => a,
                    _ => {
                        return self.err(format!(
                            "{}: operands are {a} and {b}; expected two ints or two bools",
                            ins.op
                        ))
                    }
                })
            }
            Not => Some(self.expect_one_of(1, &[Type::Int, Type::Bool], "int or bool")?),
            Jump | JumpIf | JumpIfNot | Jeq | Jne => None,
            Jlt | Jle | Jgt | Jge => {
                self.ordered_pair(0, 1)?;
                None
            }
            Itof => {
                self.expect_one_of(1, &[Type::Int], "int")?;
                Some(Type::Float)
            }
            Ftoi => {
                self.expect_one_of(1, &[Type::Float], "float")?;
                Some(Type::Int)
            }
            Sext8 | Sext16 | Sext32 | Zext8 | Zext16 | Zext32 => {
                self.expect_one_of(1, &[Type::Int], "int")?;
                Some(Type::Int)
            }
            F32 => {
                self.expect_one_of(1, &[Type::Float], "float")?;
                Some(Type::Float)
            }
            Typeof => Some(Type::Str),
            Is => Some(Type::Bool),
            Cast => {
                let Operand::Type(t) = ins.operands[2] else {
                    unreachable!("shape checked")
                };
                let have = self.ty(1);
                if have != Type::Any && t != Type::Any && have != t {
                    return self.err(format!(
                        "cast: {} is {have} and can never be {t}",
                        self.reg_name_of(1)
                    ));
                }
                Some(t)
            }
            Call | TailCall => 'call: {
                let (fi, first_arg) = match (ins.op, &ins.operands[..]) {
                    (Call, [_, Operand::Func(fi), ..]) => (*fi, 2),
                    (_, [Operand::Func(fi), ..]) => (*fi, 1),
                    _ => unreachable!("shape checked"),
                };
                let callee = match self.m.func_ref(fi) {
                    Some(FuncRef::Local(f)) => f,
                    _ => {
                        // An imported function: its signature is known once linked, where the
                        // linker checks the arity, adds checks of the arguments and requires a
                        // tail-called function to return this function's type. The result is
                        // unknown until then.
                        break 'call if ins.op == TailCall {
                            None
                        } else {
                            Some(Type::Any)
                        };
                    }
                };
                let nargs = ins.operands.len() - first_arg;
                if nargs != callee.params as usize {
                    return self.err(format!(
                        "{}: `{}` takes {} argument{} but {nargs} {} given",
                        ins.op,
                        callee.name,
                        callee.params,
                        if callee.params == 1 { "" } else { "s" },
                        if nargs == 1 { "was" } else { "were" }
                    ));
                }
                for (i, &pt) in callee.param_types().iter().enumerate() {
                    let what = format!("parameter {} of `{}`", i + 1, callee.name);
                    self.require(first_arg + i, pt, &what)?;
                }
                if ins.op == TailCall {
                    let (mine, theirs) = (self.f.ret, callee.ret);
                    if mine != Type::Any && mine != theirs {
                        return self.err(format!(
                            "tailcall: `{}` returns {} but this function returns {}; use call and ret",
                            callee.name,
                            self.tn(theirs),
                            self.tn(mine)
                        ));
                    }
                    None
                } else {
                    Some(callee.ret)
                }
            }
            Ret => {
                let ret = self.f.ret;
                if ins.operands.is_empty() {
                    if ret != Type::Any {
                        return self
                            .err(format!("ret without a value in a function returning {ret}"));
                    }
                } else {
                    self.require(0, ret, "the function's return type")?;
                }
                None
            }
            GetG => {
                let Operand::Global(g) = ins.operands[1] else {
                    unreachable!("shape checked")
                };
                // Imported globals are read as `any` (their type is the exporter's business).
                let gt = self.m.globals.get(g as usize).map_or(Type::Any, |g| g.ty);
                // Reference-typed globals may still be nil (before `.init` sets them), so reads
                // of them are checked when they flow into a typed register.
                if gt.is_immediate() {
                    Some(gt)
                } else {
                    let dst = self.dst_type();
                    if dst.is_some_and(|d| d != Type::Any && d != gt) {
                        return self.err(format!(
                            "getg: global is {gt}, destination is {}",
                            dst.unwrap_or(Type::Any)
                        ));
                    }
                    Some(Type::Any)
                }
            }
            SetG => {
                let Operand::Global(g) = ins.operands[0] else {
                    unreachable!("shape checked")
                };
                // Writes to imported globals are checked against their type once linked.
                if let Some(global) = self.m.globals.get(g as usize) {
                    let what = format!("global `{}`", global.name);
                    self.require_nullable(1, global.ty, &what)?;
                }
                None
            }
            Sys => Some(Type::Any),
            Dispatch => {
                let Operand::Multimethod(mm) = ins.operands[1] else {
                    unreachable!("shape checked")
                };
                // An imported multimethod's arity is checked when the module is linked.
                if let Some(d) = self.m.multimethods.get(mm as usize) {
                    let nargs = ins.operands.len() - 2;
                    if nargs != d.arity as usize {
                        return self.err(format!(
                            "dispatch: multimethod `{}` takes {} argument(s) but {nargs} {} given",
                            d.name,
                            d.arity,
                            if nargs == 1 { "was" } else { "were" }
                        ));
                    }
                }
                Some(Type::Any)
            }
            ToStr => Some(Type::Str),
            CallV => {
                self.require(1, Type::Fn, "the callee")?;
                Some(Type::Any)
            }
            TailCallV => {
                self.require(0, Type::Fn, "the callee")?;
                if self.f.ret != Type::Any {
                    return self.err(format!(
                        "tailcallv: the callee's return type is unknown but this function returns {}; use callv and ret",
                        self.tn(self.f.ret)
                    ));
                }
                None
            }
            Closure => Some(Type::Fn),
            GetUp => Some(Type::Any),
            SetUp => None,
            New => {
                let Operand::Type(t) = ins.operands[1] else {
                    unreachable!("shape checked")
                };
                let Type::Record(ti) = t else {
                    return self.err(format!("new: {} is not a record type", self.tn(t)));
                };
                let rt = &self.m.types[ti as usize];
                let given = ins.operands.len() - 2;
                if given != 0 && given != rt.fields.len() {
                    return self.err(format!(
                        "new: `{}` has {} field(s) but {given} value(s) were given",
                        rt.name,
                        rt.fields.len()
                    ));
                }
                for i in 0..given {
                    let f = &rt.fields[i];
                    let what = format!("field `{}.{}`", rt.name, f.name);
                    self.require_nullable(2 + i, f.ty, &what)?;
                }
                Some(t)
            }
            GetF | SetF => {
                let (obj, field) = if ins.op == GetF { (1, 2) } else { (0, 1) };
                let Operand::Field(ti, fi) = ins.operands[field] else {
                    unreachable!("shape checked")
                };
                let rt = &self.m.types[ti as usize];
                let fty = rt.fields[fi as usize].ty;
                let what = format!("field `{}.{}`", rt.name, rt.fields[fi as usize].name);
                self.require(obj, Type::Record(ti), "the record")?;
                if ins.op == GetF {
                    self.nullable_read(fty)?
                } else {
                    self.require_nullable(2, fty, &what)?;
                    None
                }
            }
            NewArr => {
                self.require(1, Type::Int, "the length")?;
                Some(Type::Array)
            }
            AGet | ASet => {
                let (arr, idx) = if ins.op == AGet { (1, 2) } else { (0, 1) };
                self.require(arr, Type::Array, "the array")?;
                self.require(idx, Type::Int, "the index")?;
                (ins.op == AGet).then_some(Type::Any)
            }
            ALen => {
                self.require(1, Type::Array, "the array")?;
                Some(Type::Int)
            }
            APush => {
                self.require(0, Type::Array, "the array")?;
                None
            }
            APop => {
                self.require(1, Type::Array, "the array")?;
                Some(Type::Any)
            }
            NewBytes => {
                self.require(1, Type::Int, "the length")?;
                Some(Type::Bytes)
            }
            LdI8 | LdU8 | LdI16 | LdU16 | LdI32 | LdU32 | LdI64 | LdF32 | LdF64 => {
                self.require(1, Type::Bytes, "the buffer")?;
                self.require(2, Type::Int, "the offset")?;
                Some(if matches!(ins.op, LdF32 | LdF64) {
                    Type::Float
                } else {
                    Type::Int
                })
            }
            StI8 | StI16 | StI32 | StI64 | StF32 | StF64 => {
                self.require(0, Type::Bytes, "the buffer")?;
                self.require(1, Type::Int, "the offset")?;
                let want = if matches!(ins.op, StF32 | StF64) {
                    Type::Float
                } else {
                    Type::Int
                };
                self.require(2, want, "the stored value")?;
                None
            }
            BLen => {
                self.require(1, Type::Bytes, "the buffer")?;
                Some(Type::Int)
            }
            Concat => {
                self.require(1, Type::Str, "the first string")?;
                self.require(2, Type::Str, "the second string")?;
                Some(Type::Str)
            }
            SLen => {
                self.require(1, Type::Str, "the string")?;
                Some(Type::Int)
            }
            SGet => {
                self.require(1, Type::Str, "the string")?;
                self.require(2, Type::Int, "the index")?;
                Some(Type::Char)
            }
            Substr => {
                self.require(1, Type::Str, "the string")?;
                self.require(2, Type::Int, "the start")?;
                self.require(3, Type::Int, "the end")?;
                Some(Type::Str)
            }
            NewMap => Some(Type::Map),
            MGet | MHas | MLen | MKeys => {
                self.require(1, Type::Map, "the map")?;
                Some(match ins.op {
                    MGet => Type::Any,
                    MHas => Type::Bool,
                    MLen => Type::Int,
                    _ => Type::Array,
                })
            }
            MSet | MDel => {
                self.require(0, Type::Map, "the map")?;
                None
            }
            NCall => {
                let Operand::Extern(e) = ins.operands[1] else {
                    unreachable!("shape checked")
                };
                let x = &self.m.externs[e as usize];
                let name = self.m.extern_name(e);
                let nargs = ins.operands.len() - 2;
                if nargs != x.params.len() {
                    return self.err(format!(
                        "ncall: `{name}` takes {} argument{} but {nargs} {} given",
                        x.params.len(),
                        if x.params.len() == 1 { "" } else { "s" },
                        if nargs == 1 { "was" } else { "were" }
                    ));
                }
                for (i, &ct) in x.params.iter().enumerate() {
                    let have = self.ty(2 + i);
                    if !ct.accepts_static(have) {
                        return self.err(format!(
                            "ncall: argument {} of `{name}` ({ct}) must be {}, but {} is {}",
                            i + 1,
                            ct.expects(),
                            self.reg_name_of(2 + i),
                            self.tn(have)
                        ));
                    }
                }
                Some(x.ret.result_type())
            }
        };
        Ok(Typing { result })
    }

    /// Like [`Self::require`] for slots that may also hold nil: reference-typed globals and
    /// record fields.
    fn require_nullable(&mut self, n: usize, want: Type, what: &str) -> VResult<()> {
        if want.is_immediate() {
            return self.require(n, want, what);
        }
        if self.ty(n) == Type::Nil {
            return Ok(());
        }
        let before = self.checks.len();
        self.require(n, want, what)?;
        if let Some(c) = self.checks.get_mut(before) {
            c.nullable = true;
        }
        Ok(())
    }

    /// The static result of reading a slot of type `t` that may hold nil (reference-typed
    /// globals and fields): the type itself for immediate types, otherwise `any`, so a write
    /// into a typed register is checked at run time. A register of another concrete type can
    /// never receive it.
    fn nullable_read(&self, t: Type) -> VResult<Option<Type>> {
        if t.is_immediate() {
            return Ok(Some(t));
        }
        if let Some(d) = self.dst_type() {
            if d != Type::Any && d != t {
                return self.err(format!(
                    "{}: the value is {}, the destination is {}",
                    self.mnemonic(),
                    self.tn(t),
                    self.tn(d)
                ));
            }
        }
        Ok(Some(Type::Any))
    }

    fn ordered_pair(&self, a: usize, b: usize) -> VResult<()> {
        let ordered = [Type::Int, Type::Float, Type::Char, Type::Str];
        let ta = self.expect_one_of(a, &ordered, "int, float, char or str")?;
        let tb = self.expect_one_of(b, &ordered, "int, float, char or str")?;
        let compatible =
            ta == Type::Any || tb == Type::Any || ta == tb || (ta.is_number() && tb.is_number());
        if compatible {
            Ok(())
        } else {
            self.err(format!(
                "{}: cannot order {} and {}",
                self.mnemonic(),
                self.tn(ta),
                self.tn(tb)
            ))
        }
    }

    fn dst_type(&self) -> Option<Type> {
        let ins = &self.f.code[self.pc as usize];
        let first = ins.op.info().operands.first();
        match (first, ins.operands.first()) {
            (Some(OperandKind::Dst), Some(Operand::Reg(r))) => Some(self.f.regs[*r as usize]),
            _ => None,
        }
    }

    /// Checks the write of the instruction's result into its destination register.
    fn check_dst(&mut self, typing: Typing) -> VResult<()> {
        let (Some(dst), Some(have)) = (self.dst_type(), typing.result) else {
            return Ok(());
        };
        if dst == Type::Any || dst == have {
            return Ok(());
        }
        if have == Type::Any {
            self.checks.push(RuntimeCheck {
                pc: self.pc,
                site: CheckSite::Result,
                ty: dst,
                nullable: false,
            });
            return Ok(());
        }
        self.err(format!(
            "{}: destination {} is {} but the result is {}",
            self.mnemonic(),
            self.reg_name_of(0),
            self.tn(dst),
            self.tn(have)
        ))
    }

    /// Definite assignment of reference-typed registers.
    fn check_assignment(&mut self) -> VResult<()> {
        let f = self.f;
        let tracked: Vec<usize> = (0..f.regs.len())
            .filter(|&r| f.regs[r].needs_assignment())
            .collect();
        if tracked.is_empty() {
            return Ok(());
        }
        let slot: HashMap<usize, usize> =
            tracked.iter().enumerate().map(|(i, &r)| (r, i)).collect();
        let words = tracked.len().div_ceil(64);
        let n = f.code.len();
        // in_state[pc]: registers assigned on every path reaching pc (None = not reached yet).
        let mut in_state: Vec<Option<Vec<u64>>> = vec![None; n];
        let mut entry = vec![0u64; words];
        for r in 0..f.params as usize {
            if let Some(&s) = slot.get(&r) {
                entry[s / 64] |= 1 << (s % 64);
            }
        }
        in_state[0] = Some(entry);
        let mut work = vec![0usize];
        let mut queued = vec![false; n];
        queued[0] = true;
        while let Some(pc) = work.pop() {
            queued[pc] = false;
            let mut state = in_state[pc].clone().unwrap_or_default();
            let ins = &f.code[pc];
            let kinds = ins.op.info().operands;
            // Reads.
            for (i, op) in ins.operands.iter().enumerate() {
                let kind = kinds.get(i).copied().unwrap_or(OperandKind::Srcs);
                let is_read = !matches!(kind, OperandKind::Dst);
                if let (true, Operand::Reg(r)) = (is_read, op) {
                    if let Some(&s) = slot.get(&(*r as usize)) {
                        if state[s / 64] & (1 << (s % 64)) == 0 {
                            self.pc = pc as u32;
                            return self.err(format!(
                                "{}: register {} ({}) may be read before it is assigned",
                                ins.op,
                                f.reg_display(*r),
                                self.m.type_name(f.regs[*r as usize])
                            ));
                        }
                    }
                }
            }
            // Writes.
            if ins.op == Opcode::Move {
                if let Some(Operand::Reg(r)) = ins.operands.get(1) {
                    if let Some(&s) = slot.get(&(*r as usize)) {
                        state[s / 64] &= !(1 << (s % 64));
                    }
                }
            }
            if let (Some(OperandKind::Dst), Some(Operand::Reg(r))) =
                (kinds.first(), ins.operands.first())
            {
                if let Some(&s) = slot.get(&(*r as usize)) {
                    state[s / 64] |= 1 << (s % 64);
                }
            }
            let mut succ = Vec::with_capacity(2);
            if ins.op.falls_through() && pc + 1 < n {
                succ.push(pc + 1);
            }
            for op in &ins.operands {
                if let Operand::Label(t) = op {
                    succ.push(*t as usize);
                }
            }
            for s in succ {
                let changed = match &mut in_state[s] {
                    None => {
                        in_state[s] = Some(state.clone());
                        true
                    }
                    Some(old) => {
                        let mut changed = false;
                        for (o, new) in old.iter_mut().zip(&state) {
                            let merged = *o & new;
                            changed |= merged != *o;
                            *o = merged;
                        }
                        changed
                    }
                };
                if changed && !queued[s] {
                    queued[s] = true;
                    work.push(s);
                }
            }
        }
        Ok(())
    }
}

fn kind_desc(kind: OperandKind) -> &'static str {
    match kind {
        OperandKind::Dst => "a destination register or `_`",
        OperandKind::Src | OperandKind::OptSrc | OperandKind::Srcs => "a register or literal",
        OperandKind::Reg => "a register",
        OperandKind::Lit => "a literal",
        OperandKind::Label => "a label",
        OperandKind::Func => "a function",
        OperandKind::Global => "a global",
        OperandKind::Type => "a type",
        OperandKind::Sys => "a system-call name",
        OperandKind::Field => "a record field (Type.field)",
        OperandKind::Imm => "a non-negative integer",
        OperandKind::Multimethod => "a multimethod",
        OperandKind::Extern => "an extern function (lib.fn)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{Arg, ModuleBuilder};
    use crate::module::{ExternFunction, NativeLibrary};

    /// A module calling `c.f` declared with `params -> ret`, passing `args`.
    fn calling(params: &[CType], ret: CType, dst: Type, args: Vec<Arg>) -> Module {
        let mut mb = ModuleBuilder::new("t");
        let lib = mb.native_library("c", "libc.so.6").unwrap();
        let x = mb.extern_function(lib, "f", params, ret).unwrap();
        let f = mb.declare_function("main", &[], Type::Any, true).unwrap();
        let mut fb = mb.function(f);
        let d = fb.reg(Some("d"), dst);
        let mut ops = vec![Arg::Reg(d), Arg::Extern(x)];
        ops.extend(args);
        fb.emit(Opcode::NCall, &ops);
        fb.emit(Opcode::Ret, &[]);
        fb.finish().unwrap();
        mb.finish()
    }

    fn message(m: &Module) -> String {
        verify(m)
            .map(|_| String::new())
            .unwrap_or_else(|e| e.message)
    }

    #[test]
    fn ncall_arity_types_and_results_are_checked() {
        let ok = calling(
            &[CType::F64, CType::I32],
            CType::F64,
            Type::Float,
            vec![Arg::from(1i64), Arg::from(2i64)],
        );
        assert_eq!(message(&ok), "");
        let arity = calling(&[CType::F64], CType::F64, Type::Any, vec![]);
        assert!(message(&arity).contains("takes 1 argument but 0 were given"));
        let kind = calling(&[CType::I32], CType::I32, Type::Any, vec![Arg::from(1.5)]);
        assert!(
            message(&kind).contains("argument 1 of `c.f` (i32) must be an int"),
            "{}",
            message(&kind)
        );
        let result = calling(&[], CType::F32, Type::Int, vec![]);
        assert!(message(&result).contains("destination register d is int but the result is float"));
        let void_into_typed = calling(&[], CType::Void, Type::Int, vec![]);
        assert!(message(&void_into_typed).contains("the result is nil"));
        // A str result may be NULL: into a str register it is checked at run time.
        let s = calling(&[], CType::Str, Type::Str, vec![]);
        let info = verify(&s).unwrap();
        assert_eq!(info.functions[0].checks.len(), 1);
    }

    #[test]
    fn native_declarations_are_checked() {
        let base = || {
            let mut m = Module {
                name: "t".into(),
                ..Module::default()
            };
            m.natives.push(NativeLibrary {
                alias: "c".into(),
                path: "libc.so.6".into(),
            });
            m
        };
        let ext = |library, symbol: &str, params: Vec<CType>, ret| ExternFunction {
            library,
            symbol: symbol.into(),
            params,
            ret,
        };
        type Mutation = Box<dyn Fn(&mut Module)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|m| m.natives.push(m.natives[0].clone())),
                "native library `c` is declared twice",
            ),
            (
                Box::new(|m| m.natives[0].alias = "a.b".into()),
                "alias `a.b` is not an identifier",
            ),
            (
                Box::new(|m| m.natives[0].path = String::new()),
                "has an invalid name",
            ),
            (
                Box::new(move |m| m.externs.push(ext(1, "f", vec![], CType::Void))),
                "refers to no declared native library",
            ),
            (
                Box::new(move |m| m.externs.push(ext(0, "f-g", vec![], CType::Void))),
                "is not a C identifier",
            ),
            (
                Box::new(move |m| {
                    m.externs.push(ext(0, "f", vec![], CType::Void));
                    m.externs.push(ext(0, "f", vec![CType::I8], CType::Void));
                }),
                "extern `c.f` is declared twice",
            ),
            (
                Box::new(move |m| {
                    m.externs
                        .push(ext(0, "f", vec![CType::I8, CType::Void], CType::I8))
                }),
                "parameter 2 cannot be void",
            ),
            (
                Box::new(move |m| m.externs.push(ext(0, "f", vec![], CType::Bytes))),
                "bytes cannot be a result type",
            ),
        ];
        assert_eq!(message(&base()), "");
        for (mutate, want) in cases {
            let mut m = base();
            mutate(&mut m);
            let got = message(&m);
            assert!(got.contains(want), "{got:?} should contain {want:?}");
        }
    }
}
