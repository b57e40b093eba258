//! The builder API: how compilers emit Sigma modules without printing assembly text.
//!
//! A [`ModuleBuilder`] owns the module under construction and pools constants. Functions are
//! declared first (so calls may refer to functions defined later), then their bodies are filled
//! through a [`FunctionBuilder`], which hands out registers and labels and resolves label
//! references when the body is finished.
//!
//! Invariants: the builder does not verify; [`ModuleBuilder::finish_verified`] runs the verifier.
//! A label is bound at most once; every referenced label must be bound by
//! [`FunctionBuilder::finish`]. Imported functions, globals and multimethods carry the
//! [`IMPORTED`] bit in their ids while the module is built; [`ModuleBuilder::finish`] renumbers
//! them after the module's own (see [`crate::module`]), in instructions and in methods.

use std::collections::HashMap;

use thiserror::Error;

use crate::ffi::CType;
use crate::module::{
    Constant, ExternFunction, Field, Function, Global, ImportedSymbol, InlineScope, Instr, Method,
    Module, Multimethod, NativeLibrary, Operand, Pattern, RecordType,
};
use crate::opcodes::Opcode;
use crate::types::Type;
use crate::verify::{verify, ModuleInfo, VerifyError};

/// Set in the [`FuncId`] and [`GlobalId`] of imported symbols until the module is finished.
pub const IMPORTED: u32 = 1 << 31;

/// A function declared in a [`ModuleBuilder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FuncId(pub u32);

/// A global declared in a [`ModuleBuilder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalId(pub u32);

/// A multimethod declared in (or imported by) a [`ModuleBuilder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MmId(pub u32);

/// A record type declared in a [`ModuleBuilder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TypeId(pub u32);

impl TypeId {
    /// The record type as a [`Type`].
    pub fn ty(self) -> Type {
        Type::Record(self.0)
    }
}

/// A native library declared in a [`ModuleBuilder`] (`.native`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LibId(pub u32);

/// A C function declared in a [`ModuleBuilder`] (`.extern`), the operand of `ncall`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExternId(pub u32);

/// A register of the function being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg(pub u32);

/// A label of the function being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label(pub u32);

/// An operand handed to [`FunctionBuilder::emit`].
#[derive(Clone, Debug)]
pub enum Arg {
    /// A register.
    Reg(Reg),
    /// The discarded destination `_`.
    Discard,
    /// A literal (pooled by the builder).
    Lit(Constant),
    /// A label of this function.
    Label(Label),
    /// A function of this module.
    Func(FuncId),
    /// A global of this module.
    Global(GlobalId),
    /// A type.
    Type(Type),
    /// A system-call name.
    Sys(String),
    /// A record field: type and field index.
    Field(TypeId, u32),
    /// A small unsigned immediate.
    Imm(u32),
    /// A C function declared with [`ModuleBuilder::extern_function`].
    Extern(ExternId),
    /// A multimethod.
    Multimethod(MmId),
}

impl From<Reg> for Arg {
    fn from(r: Reg) -> Arg {
        Arg::Reg(r)
    }
}
impl From<i64> for Arg {
    fn from(i: i64) -> Arg {
        Arg::Lit(Constant::Int(i))
    }
}
impl From<f64> for Arg {
    fn from(x: f64) -> Arg {
        Arg::Lit(Constant::Float(x))
    }
}
impl From<bool> for Arg {
    fn from(b: bool) -> Arg {
        Arg::Lit(Constant::Bool(b))
    }
}
impl From<char> for Arg {
    fn from(c: char) -> Arg {
        Arg::Lit(Constant::Char(c))
    }
}
impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Lit(Constant::Str(s.to_owned()))
    }
}
impl From<Label> for Arg {
    fn from(l: Label) -> Arg {
        Arg::Label(l)
    }
}
impl From<FuncId> for Arg {
    fn from(f: FuncId) -> Arg {
        Arg::Func(f)
    }
}
impl From<GlobalId> for Arg {
    fn from(g: GlobalId) -> Arg {
        Arg::Global(g)
    }
}
impl From<ExternId> for Arg {
    fn from(x: ExternId) -> Arg {
        Arg::Extern(x)
    }
}

impl From<MmId> for Arg {
    fn from(m: MmId) -> Arg {
        Arg::Multimethod(m)
    }
}
impl From<Type> for Arg {
    fn from(t: Type) -> Arg {
        Arg::Type(t)
    }
}

/// A mistake in using the builder.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// A name was declared twice.
    #[error("{kind} `{name}` is declared twice")]
    Duplicate {
        /// "function", "global", "record type", "native library" or "extern".
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A label was referenced but never bound.
    #[error("label {label} in `{function}` is used but never bound")]
    UnboundLabel {
        /// The function.
        function: String,
        /// The label number.
        label: u32,
    },
    /// A label was bound twice.
    #[error("label {label} in `{function}` is bound twice")]
    Rebound {
        /// The function.
        function: String,
        /// The label number.
        label: u32,
    },
}

/// Builds a [`Module`].
#[derive(Default)]
pub struct ModuleBuilder {
    module: Module,
    pool: HashMap<(u8, u64, Option<String>), u32>,
}

impl ModuleBuilder {
    /// A builder for a module called `name`.
    pub fn new(name: &str) -> Self {
        ModuleBuilder {
            module: Module {
                name: name.to_owned(),
                ..Module::default()
            },
            pool: HashMap::new(),
        }
    }

    /// Renames the module.
    pub fn set_name(&mut self, name: &str) {
        self.module.name = name.to_owned();
    }

    /// Records the source file name in the debug info.
    pub fn set_source(&mut self, source: Option<String>) {
        self.module.source = source;
    }

    /// Pools a constant and returns its index.
    pub fn constant(&mut self, c: Constant) -> u32 {
        let (a, b, s) = c.pool_key();
        let key = (a, b, s.map(str::to_owned));
        if let Some(&k) = self.pool.get(&key) {
            return k;
        }
        let k = self.module.consts.len() as u32;
        self.module.consts.push(c);
        self.pool.insert(key, k);
        k
    }

    /// Declares a function; its body is filled later with [`ModuleBuilder::function`].
    /// Parameters become registers `0..params.len()`.
    pub fn declare_function(
        &mut self,
        name: &str,
        params: &[(Option<&str>, Type)],
        ret: Type,
        export: bool,
    ) -> Result<FuncId, BuildError> {
        if self.module.function_index(name).is_some() {
            return Err(BuildError::Duplicate {
                kind: "function",
                name: name.to_owned(),
            });
        }
        let id = FuncId(self.module.functions.len() as u32);
        self.module.functions.push(Function {
            name: name.to_owned(),
            export,
            params: params.len() as u32,
            ret,
            regs: params.iter().map(|p| p.1).collect(),
            code: Vec::new(),
            reg_names: params.iter().map(|p| p.0.map(str::to_owned)).collect(),
            lines: Vec::new(),
            inlined: Vec::new(),
            scopes: Vec::new(),
        });
        Ok(id)
    }

    /// The function called `name`, if declared.
    pub fn function_id(&self, name: &str) -> Option<FuncId> {
        self.module.function_index(name).map(FuncId)
    }

    /// The declared parameter types and return type of `f`; `None` for an imported function
    /// (its signature is known only once linked).
    pub fn signature(&self, f: FuncId) -> Option<(&[Type], Type)> {
        let func = self.module.functions.get(f.0 as usize)?;
        Some((func.param_types(), func.ret))
    }

    /// Declares that this module imports module `name` (found on the search path, or already
    /// loaded, when the module is linked) and returns its index in [`Module::imports`].
    pub fn import_module(&mut self, name: &str) -> u32 {
        match self.module.imports.iter().position(|m| m == name) {
            Some(i) => i as u32,
            None => {
                self.module.imports.push(name.to_owned());
                self.module.imports.len() as u32 - 1
            }
        }
    }

    /// The function `name` exported by module `module` (imported if not yet). Calls to it are
    /// checked against its signature when the module is linked.
    pub fn import_function(&mut self, module: &str, name: &str) -> FuncId {
        let sym = ImportedSymbol {
            module: self.import_module(module),
            name: name.to_owned(),
        };
        FuncId(IMPORTED | index_or_push(&mut self.module.imported_functions, sym))
    }

    /// The global `name` exported by module `module` (imported if not yet). It reads as `any`;
    /// writes are checked against its type when the module is linked.
    pub fn import_global(&mut self, module: &str, name: &str) -> GlobalId {
        let sym = ImportedSymbol {
            module: self.import_module(module),
            name: name.to_owned(),
        };
        GlobalId(IMPORTED | index_or_push(&mut self.module.imported_globals, sym))
    }

    /// Declares a multimethod taking `arity` arguments.
    pub fn declare_multimethod(
        &mut self,
        name: &str,
        arity: u32,
        export: bool,
    ) -> Result<MmId, BuildError> {
        if self.module.multimethod_index(name).is_some() {
            return Err(BuildError::Duplicate {
                kind: "multimethod",
                name: name.to_owned(),
            });
        }
        self.module.multimethods.push(Multimethod {
            name: name.to_owned(),
            arity,
            export,
        });
        Ok(MmId(self.module.multimethods.len() as u32 - 1))
    }

    /// The multimethod called `name`, if declared by this module.
    pub fn multimethod_id(&self, name: &str) -> Option<MmId> {
        self.module.multimethod_index(name).map(MmId)
    }

    /// The multimethod `name` exported by module `module` (imported if not yet). Its arity is
    /// checked against calls and methods when the module is linked.
    pub fn import_multimethod(&mut self, module: &str, name: &str) -> MmId {
        let sym = ImportedSymbol {
            module: self.import_module(module),
            name: name.to_owned(),
        };
        MmId(IMPORTED | index_or_push(&mut self.module.imported_multimethods, sym))
    }

    /// Adds a method to multimethod `mm`: calls with arguments matching `patterns` (record
    /// types as this module's) run `func`. The verifier checks arities and parameter types.
    pub fn add_method(&mut self, mm: MmId, patterns: Vec<Pattern>, func: FuncId) {
        self.module.methods.push(Method {
            multimethod: mm.0,
            patterns,
            func: func.0,
        });
    }

    /// Declares a record type with its fields; a destructor can be set later with
    /// [`ModuleBuilder::set_destructor`] (once the function is declared).
    pub fn record_type(
        &mut self,
        name: &str,
        fields: &[(&str, Type)],
        export: bool,
    ) -> Result<TypeId, BuildError> {
        if self.module.type_index(name).is_some() {
            return Err(BuildError::Duplicate {
                kind: "record type",
                name: name.to_owned(),
            });
        }
        self.module.types.push(RecordType {
            name: name.to_owned(),
            fields: fields
                .iter()
                .map(|(n, t)| Field {
                    name: (*n).to_owned(),
                    ty: *t,
                })
                .collect(),
            destructor: None,
            export,
        });
        Ok(TypeId(self.module.types.len() as u32 - 1))
    }

    /// Declares a record type's name before its fields are known (so fields may refer to it
    /// or to types declared later); fill them with [`ModuleBuilder::set_fields`].
    pub fn declare_record_type(&mut self, name: &str, export: bool) -> Result<TypeId, BuildError> {
        self.record_type(name, &[], export)
    }

    /// Sets the fields of a declared record type.
    pub fn set_fields(&mut self, t: TypeId, fields: &[(&str, Type)]) {
        self.module.types[t.0 as usize].fields = fields
            .iter()
            .map(|(n, ty)| Field {
                name: (*n).to_owned(),
                ty: *ty,
            })
            .collect();
    }

    /// Sets whether record type `t` is exported.
    pub fn set_export_type(&mut self, t: TypeId, export: bool) {
        self.module.types[t.0 as usize].export = export;
    }

    /// Makes `f` the destructor of record type `t`.
    pub fn set_destructor(&mut self, t: TypeId, f: FuncId) {
        self.module.types[t.0 as usize].destructor = Some(f.0);
    }

    /// Declares a shared library: `alias` is how externs name it, `path` what the dynamic
    /// loader is given when the module is linked (`.native alias "path"`).
    pub fn native_library(&mut self, alias: &str, path: &str) -> Result<LibId, BuildError> {
        if self.module.natives.iter().any(|n| n.alias == alias) {
            return Err(BuildError::Duplicate {
                kind: "native library",
                name: alias.to_owned(),
            });
        }
        self.module.natives.push(NativeLibrary {
            alias: alias.to_owned(),
            path: path.to_owned(),
        });
        Ok(LibId(self.module.natives.len() as u32 - 1))
    }

    /// The native library declared as `alias`, if any.
    pub fn native_library_id(&self, alias: &str) -> Option<LibId> {
        self.module
            .natives
            .iter()
            .position(|n| n.alias == alias)
            .map(|i| LibId(i as u32))
    }

    /// Declares C function `symbol` of library `lib` with its C signature
    /// (`.extern alias.symbol (params) -> ret`); `ncall` takes the returned id.
    pub fn extern_function(
        &mut self,
        lib: LibId,
        symbol: &str,
        params: &[CType],
        ret: CType,
    ) -> Result<ExternId, BuildError> {
        let dup = self
            .module
            .externs
            .iter()
            .any(|x| x.library == lib.0 && x.symbol == symbol);
        if dup {
            return Err(BuildError::Duplicate {
                kind: "extern",
                name: symbol.to_owned(),
            });
        }
        self.module.externs.push(ExternFunction {
            library: lib.0,
            symbol: symbol.to_owned(),
            params: params.to_vec(),
            ret,
        });
        Ok(ExternId(self.module.externs.len() as u32 - 1))
    }

    /// The extern `symbol` of library `lib`, if declared.
    pub fn extern_id(&self, lib: LibId, symbol: &str) -> Option<ExternId> {
        self.module
            .externs
            .iter()
            .position(|x| x.library == lib.0 && x.symbol == symbol)
            .map(|i| ExternId(i as u32))
    }

    /// The record type called `name`, if declared.
    pub fn type_id(&self, name: &str) -> Option<TypeId> {
        self.module.type_index(name).map(TypeId)
    }

    /// Declares a global with an initial value.
    pub fn global(
        &mut self,
        name: &str,
        ty: Type,
        init: Constant,
        export: bool,
    ) -> Result<GlobalId, BuildError> {
        if self.module.global_index(name).is_some() {
            return Err(BuildError::Duplicate {
                kind: "global",
                name: name.to_owned(),
            });
        }
        self.module.globals.push(Global {
            name: name.to_owned(),
            ty,
            init,
            export,
        });
        Ok(GlobalId(self.module.globals.len() as u32 - 1))
    }

    /// The global called `name`, if declared.
    pub fn global_id(&self, name: &str) -> Option<GlobalId> {
        self.module.global_index(name).map(GlobalId)
    }

    /// Makes `f` the module initializer.
    pub fn set_init(&mut self, f: FuncId) {
        self.module.init = Some(f.0);
    }

    /// Starts (or continues) the body of `f`.
    pub fn function(&mut self, f: FuncId) -> FunctionBuilder<'_> {
        FunctionBuilder {
            mb: self,
            func: f.0 as usize,
            labels: Vec::new(),
            fixups: Vec::new(),
            line: 0,
            scope: 0,
        }
    }

    /// The module built so far (unverified).
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Finishes the module without verifying it.
    pub fn finish(mut self) -> Module {
        // Imported functions and globals are numbered after the module's own ones, whose count
        // is only final now.
        let (nf, ng, nm) = (
            self.module.functions.len() as u32,
            self.module.globals.len() as u32,
            self.module.multimethods.len() as u32,
        );
        for f in &mut self.module.functions {
            for ins in &mut f.code {
                for op in &mut ins.operands {
                    match op {
                        Operand::Func(i) if *i & IMPORTED != 0 => *i = nf + (*i & !IMPORTED),
                        Operand::Global(i) if *i & IMPORTED != 0 => *i = ng + (*i & !IMPORTED),
                        Operand::Multimethod(i) if *i & IMPORTED != 0 => *i = nm + (*i & !IMPORTED),
                        _ => {}
                    }
                }
            }
        }
        for meth in &mut self.module.methods {
            if meth.multimethod & IMPORTED != 0 {
                meth.multimethod = nm + (meth.multimethod & !IMPORTED);
            }
            if meth.func & IMPORTED != 0 {
                meth.func = nf + (meth.func & !IMPORTED);
            }
        }
        self.module
    }

    /// Finishes and verifies the module.
    pub fn finish_verified(self) -> Result<(Module, ModuleInfo), VerifyError> {
        let module = self.finish();
        let info = verify(&module)?;
        Ok((module, info))
    }
}

/// The index of `sym` in `list`, appended if absent.
fn index_or_push(list: &mut Vec<ImportedSymbol>, sym: ImportedSymbol) -> u32 {
    match list.iter().position(|s| *s == sym) {
        Some(i) => i as u32,
        None => {
            list.push(sym);
            list.len() as u32 - 1
        }
    }
}

/// Builds the body of one function.
pub struct FunctionBuilder<'m> {
    mb: &'m mut ModuleBuilder,
    func: usize,
    labels: Vec<Option<u32>>,
    fixups: Vec<(usize, usize, u32)>,
    line: u32,
    /// The inline scope of the following instructions (0 = the function's own code).
    scope: u32,
}

impl FunctionBuilder<'_> {
    fn f(&mut self) -> &mut Function {
        &mut self.mb.module.functions[self.func]
    }

    /// The function `name` exported by module `module` (see
    /// [`ModuleBuilder::import_function`]).
    pub fn import_function(&mut self, module: &str, name: &str) -> FuncId {
        self.mb.import_function(module, name)
    }

    /// The multimethod `name` exported by module `module` (see
    /// [`ModuleBuilder::import_multimethod`]).
    pub fn import_multimethod(&mut self, module: &str, name: &str) -> MmId {
        self.mb.import_multimethod(module, name)
    }

    /// The global `name` exported by module `module` (see [`ModuleBuilder::import_global`]).
    pub fn import_global(&mut self, module: &str, name: &str) -> GlobalId {
        self.mb.import_global(module, name)
    }

    /// Parameter `i` as a register.
    pub fn param(&self, i: u32) -> Reg {
        Reg(i)
    }

    /// Adds a register of type `ty`, optionally named for debug info.
    pub fn reg(&mut self, name: Option<&str>, ty: Type) -> Reg {
        let f = self.f();
        f.regs.push(ty);
        f.reg_names.push(name.map(str::to_owned));
        Reg(f.regs.len() as u32 - 1)
    }

    /// Number of registers so far.
    pub fn reg_count(&self) -> u32 {
        self.mb.module.functions[self.func].regs.len() as u32
    }

    /// The module built so far.
    pub fn module(&self) -> &Module {
        &self.mb.module
    }

    /// The declared type of register `r`.
    pub fn reg_type(&self, r: Reg) -> Type {
        self.mb.module.functions[self.func].regs[r.0 as usize]
    }

    /// A fresh, unbound label.
    pub fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() as u32 - 1)
    }

    /// Binds `l` to the next instruction emitted.
    pub fn bind(&mut self, l: Label) -> Result<(), BuildError> {
        let pc = self.pc();
        match &mut self.labels[l.0 as usize] {
            Some(_) => Err(BuildError::Rebound {
                function: self.mb.module.functions[self.func].name.clone(),
                label: l.0,
            }),
            slot => {
                *slot = Some(pc);
                Ok(())
            }
        }
    }

    /// Index of the next instruction.
    pub fn pc(&self) -> u32 {
        self.mb.module.functions[self.func].code.len() as u32
    }

    /// Sets the source line recorded for the following instructions (0 = unknown).
    pub fn set_line(&mut self, line: u32) {
        self.line = line;
    }

    /// The source line recorded for the following instructions.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// Starts the body of procedure `name`, inlined in place of a call at source line
    /// `call_line`: the following instructions belong to its scope (backtraces show a frame
    /// for it) until the matching [`Self::leave_inline`]. Scopes nest.
    pub fn enter_inline(&mut self, name: &str, call_line: u32) {
        let parent = self.scope;
        self.scope = self.declare_inline(name, call_line, parent);
    }

    /// Declares an inline scope (see [`InlineScope`]) without entering it, and returns its
    /// number (the first is 1). The verifier checks that `parent` is an earlier scope.
    pub fn declare_inline(&mut self, name: &str, call_line: u32, parent: u32) -> u32 {
        let f = self.f();
        f.inlined.push(InlineScope {
            name: name.to_owned(),
            call_line,
            parent,
        });
        f.inlined.len() as u32
    }

    /// Sets the inline scope of the following instructions (0 = the function's own code).
    pub fn set_scope(&mut self, scope: u32) {
        self.scope = scope;
    }

    /// The number of inline scopes declared so far.
    pub fn inline_scopes(&self) -> u32 {
        self.mb.module.functions[self.func].inlined.len() as u32
    }

    /// Ends the innermost inline scope started by [`Self::enter_inline`]: the following
    /// instructions are in its parent (the function's own code outside any, or after a
    /// [`Self::set_scope`] to an undeclared scope, which the verifier rejects anyway).
    pub fn leave_inline(&mut self) {
        let scope = self.scope as usize;
        self.scope = match scope.checked_sub(1) {
            Some(k) => self.f().inlined.get(k).map_or(0, |s| s.parent),
            None => 0,
        };
    }

    /// Emits one instruction and returns its index. Operands are not checked here; the
    /// verifier checks them.
    pub fn emit(&mut self, op: Opcode, args: &[Arg]) -> u32 {
        let pc = self.pc() as usize;
        let mut operands = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            operands.push(match a {
                Arg::Reg(r) => Operand::Reg(r.0),
                Arg::Discard => Operand::Discard,
                Arg::Lit(c) => Operand::Const(self.mb.constant(c.clone())),
                Arg::Label(l) => {
                    self.fixups.push((pc, i, l.0));
                    Operand::Label(u32::MAX)
                }
                Arg::Func(f) => Operand::Func(f.0),
                Arg::Global(g) => Operand::Global(g.0),
                Arg::Type(t) => Operand::Type(*t),
                Arg::Sys(name) => Operand::Sys(self.mb.constant(Constant::Str(name.clone()))),
                Arg::Field(t, f) => Operand::Field(t.0, *f),
                Arg::Imm(i) => Operand::Imm(*i),
                Arg::Extern(x) => Operand::Extern(x.0),
                Arg::Multimethod(m) => Operand::Multimethod(m.0),
            });
        }
        let (line, scope) = (self.line, self.scope);
        let f = self.f();
        f.code.push(Instr { op, operands });
        f.lines.push(line);
        f.scopes.push(scope);
        pc as u32
    }

    /// Resolves labels. Must be called once the body is complete.
    pub fn finish(self) -> Result<(), BuildError> {
        let name = self.mb.module.functions[self.func].name.clone();
        for &(pc, i, l) in &self.fixups {
            let Some(Some(target)) = self.labels.get(l as usize) else {
                return Err(BuildError::UnboundLabel {
                    function: name,
                    label: l,
                });
            };
            self.mb.module.functions[self.func].code[pc].operands[i] = Operand::Label(*target);
        }
        let f = &mut self.mb.module.functions[self.func];
        if f.lines.iter().all(|l| *l == 0) {
            f.lines.clear();
        }
        if f.scopes.iter().all(|s| *s == 0) {
            f.scopes.clear();
            f.inlined.clear();
        }
        if f.reg_names.iter().all(Option::is_none) {
            f.reg_names.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opcodes::Opcode;

    #[test]
    fn builds_and_verifies_a_loop() {
        let mut mb = ModuleBuilder::new("t");
        let f = mb
            .declare_function("sum", &[(Some("n"), Type::Int)], Type::Int, true)
            .unwrap();
        let mut fb = mb.function(f);
        let n = fb.param(0);
        let acc = fb.reg(Some("acc"), Type::Int);
        let top = fb.new_label();
        let done = fb.new_label();
        fb.bind(top).unwrap();
        fb.emit(Opcode::Jle, &[n.into(), 0i64.into(), done.into()]);
        fb.emit(Opcode::Add, &[acc.into(), acc.into(), n.into()]);
        fb.emit(Opcode::Sub, &[n.into(), n.into(), 1i64.into()]);
        fb.emit(Opcode::Jump, &[top.into()]);
        fb.bind(done).unwrap();
        fb.emit(Opcode::Ret, &[acc.into()]);
        fb.finish().unwrap();
        let (m, _) = mb.finish_verified().unwrap();
        assert_eq!(m.functions[0].code[0].operands[2], Operand::Label(4));
        // 0 and 1 are pooled once each.
        assert_eq!(m.consts.len(), 2);
    }

    #[test]
    fn unbound_label_is_an_error() {
        let mut mb = ModuleBuilder::new("t");
        let f = mb.declare_function("f", &[], Type::Any, false).unwrap();
        let mut fb = mb.function(f);
        let l = fb.new_label();
        fb.emit(Opcode::Jump, &[l.into()]);
        assert!(matches!(fb.finish(), Err(BuildError::UnboundLabel { .. })));
    }

    #[test]
    fn inline_scopes_nest_and_leaving_an_undeclared_one_does_not_panic() {
        let mut mb = ModuleBuilder::new("t");
        let f = mb.declare_function("f", &[], Type::Any, false).unwrap();
        let mut fb = mb.function(f);
        fb.emit(Opcode::Ret, &[Arg::Lit(Constant::Nil)]);
        fb.enter_inline("outer", 3);
        fb.enter_inline("inner", 4);
        fb.emit(Opcode::Ret, &[Arg::Lit(Constant::Nil)]);
        fb.leave_inline();
        fb.emit(Opcode::Ret, &[Arg::Lit(Constant::Nil)]);
        fb.leave_inline();
        fb.set_scope(9);
        fb.leave_inline();
        fb.emit(Opcode::Ret, &[Arg::Lit(Constant::Nil)]);
        fb.finish().unwrap();
        let func = &mb.module().functions[0];
        assert_eq!(func.scopes, vec![0, 2, 1, 0]);
        assert_eq!(func.inlined[1].parent, 1);
    }

    #[test]
    fn native_declarations_are_built_once() {
        let mut mb = ModuleBuilder::new("t");
        let lib = mb.native_library("m", "libm.so.6").unwrap();
        assert!(mb.native_library("m", "other.so").is_err());
        assert_eq!(mb.native_library_id("m"), Some(lib));
        let cos = mb
            .extern_function(lib, "cos", &[CType::F64], CType::F64)
            .unwrap();
        assert!(mb.extern_function(lib, "cos", &[], CType::Void).is_err());
        assert_eq!(mb.extern_id(lib, "cos"), Some(cos));
        let f = mb.declare_function("f", &[], Type::Float, false).unwrap();
        let mut fb = mb.function(f);
        let x = fb.reg(None, Type::Float);
        fb.emit(Opcode::NCall, &[x.into(), cos.into(), 0.5.into()]);
        fb.emit(Opcode::Ret, &[x.into()]);
        fb.finish().unwrap();
        let (m, _) = mb.finish_verified().unwrap();
        assert_eq!(m.extern_name(0), "m.cos");
        assert_eq!(m.functions[0].code[0].operands[1], Operand::Extern(0));
    }

    #[test]
    fn duplicate_function_is_an_error() {
        let mut mb = ModuleBuilder::new("t");
        mb.declare_function("f", &[], Type::Any, false).unwrap();
        assert!(mb.declare_function("f", &[], Type::Any, false).is_err());
    }
}
