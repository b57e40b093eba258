//! The in-memory form of a bytecode module: what the assembler and builder produce, the binary
//! format encodes and decodes, the verifier checks and the tiers load.
//!
//! Invariants (checked by the verifier, not by construction): operand indices refer to existing
//! registers, constants, functions and globals; labels are instruction indices inside the
//! function; `regs[..params]` are the parameters; `lines`, when non-empty, has one entry per
//! instruction; `reg_names`, when non-empty, has one entry per register.
//!
//! Imports share the index spaces of what they import: function operand `i` is the module's own
//! function `i` when `i < functions.len()` and imported function `i - functions.len()`
//! otherwise; globals and multimethods likewise. The linker resolves imported symbols against
//! the exports of the imported modules.
//!
//! Methods (`.method`) name a multimethod operand (own or imported) and a function operand; their
//! patterns' record types are the module's own record type indices.
//!
//! Native declarations: `natives` lists the shared libraries (`.native alias "name"`) and
//! `externs` the C functions (`.extern alias.symbol (types) -> type`); an extern operand is an
//! index into `externs`, each of which names its library by index into `natives`.

use std::fmt;

use crate::ffi::CType;
use crate::opcodes::Opcode;
use crate::types::Type;

/// A literal in the constant pool.
#[derive(Clone, Debug)]
pub enum Constant {
    /// `nil`.
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// An int.
    Int(i64),
    /// A float.
    Float(f64),
    /// A char.
    Char(char),
    /// A string.
    Str(String),
}

impl Constant {
    /// The static type of the literal.
    pub fn ty(&self) -> Type {
        match self {
            Constant::Nil => Type::Nil,
            Constant::Bool(_) => Type::Bool,
            Constant::Int(_) => Type::Int,
            Constant::Float(_) => Type::Float,
            Constant::Char(_) => Type::Char,
            Constant::Str(_) => Type::Str,
        }
    }

    /// Identity for pooling: equal kinds and equal bits (so `0.0` and `-0.0` stay distinct).
    pub fn same(&self, other: &Constant) -> bool {
        match (self, other) {
            (Constant::Nil, Constant::Nil) => true,
            (Constant::Bool(a), Constant::Bool(b)) => a == b,
            (Constant::Int(a), Constant::Int(b)) => a == b,
            (Constant::Float(a), Constant::Float(b)) => a.to_bits() == b.to_bits(),
            (Constant::Char(a), Constant::Char(b)) => a == b,
            (Constant::Str(a), Constant::Str(b)) => a == b,
            _ => false,
        }
    }

    /// A key usable in hash maps, consistent with [`Constant::same`].
    pub fn pool_key(&self) -> (u8, u64, Option<&str>) {
        match self {
            Constant::Nil => (0, 0, None),
            Constant::Bool(b) => (1, *b as u64, None),
            Constant::Int(i) => (2, *i as u64, None),
            Constant::Float(f) => (3, f.to_bits(), None),
            Constant::Char(c) => (4, *c as u64, None),
            Constant::Str(s) => (5, 0, Some(s.as_str())),
        }
    }
}

impl fmt::Display for Constant {
    /// Assembly-text form of the literal (reads back to the same constant).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constant::Nil => f.write_str("nil"),
            Constant::Bool(b) => write!(f, "{b}"),
            Constant::Int(i) => write!(f, "{i}"),
            Constant::Float(x) => crate::value::fmt_float(*x, f),
            Constant::Char(c) => {
                f.write_str("'")?;
                write_escaped(f, &c.to_string(), '\'')?;
                f.write_str("'")
            }
            Constant::Str(s) => {
                f.write_str("\"")?;
                write_escaped(f, s, '"')?;
                f.write_str("\"")
            }
        }
    }
}

/// Writes `s` with the assembler's escapes for the quote character `quote`.
pub fn write_escaped(f: &mut impl fmt::Write, s: &str, quote: char) -> fmt::Result {
    for c in s.chars() {
        match c {
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            '\0' => f.write_str("\\0")?,
            '\\' => f.write_str("\\\\")?,
            c if c == quote => write!(f, "\\{c}")?,
            c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

/// One operand of an instruction.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A register index.
    Reg(u32),
    /// The discarded destination `_`.
    Discard,
    /// A constant-pool index.
    Const(u32),
    /// A jump target: an instruction index in the same function.
    Label(u32),
    /// A function index in this module.
    Func(u32),
    /// A global index in this module.
    Global(u32),
    /// A type.
    Type(Type),
    /// A system-call name: the constant-pool index of a str constant.
    Sys(u32),
    /// A record field: (record type index, field index).
    Field(u32, u32),
    /// A small unsigned immediate (a capture index).
    Imm(u32),
    /// A C function declared with `.extern`: an index into [`Module::externs`].
    Extern(u32),
    /// A multimethod: own multimethods then imported ones (like functions).
    Multimethod(u32),
}

/// One instruction.
#[derive(Clone, Debug, PartialEq)]
pub struct Instr {
    /// The operation.
    pub op: Opcode,
    /// Operands, in the order of the opcode table's operand kinds; an absent `OptSrc` is
    /// omitted and `Srcs` contributes any number.
    pub operands: Vec<Operand>,
}

/// A function.
#[derive(Clone, Debug, Default)]
pub struct Function {
    /// Name (unique in the module).
    pub name: String,
    /// Whether other modules and the host may call it.
    pub export: bool,
    /// Number of parameters; they are registers `0..params`.
    pub params: u32,
    /// Declared return type.
    pub ret: Type,
    /// Declared type of every register.
    pub regs: Vec<Type>,
    /// The code.
    pub code: Vec<Instr>,
    /// Debug: register names (empty, or one per register; `None` for unnamed).
    pub reg_names: Vec<Option<String>>,
    /// Debug: source line per instruction (empty, or one per instruction; 0 = unknown).
    pub lines: Vec<u32>,
    /// Debug: procedure bodies a compiler inlined into this function (see [`InlineScope`]).
    pub inlined: Vec<InlineScope>,
    /// Debug: inline scope per instruction (empty, or one per instruction): 0 = the function's
    /// own code, `k` = the body of `inlined[k - 1]`.
    pub scopes: Vec<u32>,
}

/// Debug: a procedure body that a compiler inlined into a function. Backtraces show a frame
/// for it, as if the call it replaced had been made (see [`source_frames`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlineScope {
    /// The inlined procedure's name.
    pub name: String,
    /// The source line of the call it replaced (0 = unknown).
    pub call_line: u32,
    /// The scope that call is in: 0 = the function's own code, `k` = `inlined[k - 1]` (so a
    /// scope's parent is an earlier scope).
    pub parent: u32,
}

/// The source-level frames at instruction `pc` of function `name` with debug tables `lines`,
/// `inlined` and `scopes` (see [`Function`]), innermost first, each a name and a source line:
/// one per inline scope the instruction is in, at the line of the call each replaced, then the
/// function's own. Malformed tables (the verifier rejects them) end the chain early.
pub fn source_frames<'a>(
    name: &'a str,
    lines: &[u32],
    inlined: &'a [InlineScope],
    scopes: &[u32],
    pc: usize,
) -> Vec<(&'a str, Option<u32>)> {
    let known = |l: u32| Some(l).filter(|l| *l != 0);
    let mut line = lines.get(pc).copied().and_then(known);
    let mut scope = scopes.get(pc).copied().unwrap_or(0);
    let mut out = Vec::new();
    while scope != 0 {
        let Some(s) = inlined.get(scope as usize - 1) else {
            break;
        };
        out.push((s.name.as_str(), line));
        line = known(s.call_line);
        if s.parent >= scope {
            break;
        }
        scope = s.parent;
    }
    out.push((name, line));
    out
}

impl Function {
    /// The parameter types.
    pub fn param_types(&self) -> &[Type] {
        &self.regs[..(self.params as usize).min(self.regs.len())]
    }

    /// The source line of instruction `pc`, if known.
    pub fn line_of(&self, pc: usize) -> Option<u32> {
        self.lines.get(pc).copied().filter(|l| *l != 0)
    }

    /// The source-level frames at instruction `pc`, innermost first (see [`source_frames`]).
    pub fn source_frames(&self, pc: usize) -> Vec<(&str, Option<u32>)> {
        source_frames(&self.name, &self.lines, &self.inlined, &self.scopes, pc)
    }

    /// The name of register `r`, if it has one.
    pub fn reg_name(&self, r: u32) -> Option<&str> {
        self.reg_names.get(r as usize).and_then(|n| n.as_deref())
    }

    /// A printable name for register `r`: its debug name or `rN`.
    pub fn reg_display(&self, r: u32) -> String {
        self.reg_name(r)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("r{r}"))
    }
}

/// A field of a record type.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Field name (unique in its type).
    pub name: String,
    /// Declared type; reference-typed fields may also hold nil.
    pub ty: Type,
}

/// A record type declared by a module (`.type`).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordType {
    /// Type name (unique in the module, distinct from built-in type names).
    pub name: String,
    /// Fields in order.
    pub fields: Vec<Field>,
    /// Function run once with an unreachable instance as its argument, before it is freed.
    pub destructor: Option<u32>,
    /// Whether other modules may use the type.
    pub export: bool,
}

impl RecordType {
    /// The index of the field called `name`.
    pub fn field_index(&self, name: &str) -> Option<u32> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .map(|i| i as u32)
    }
}

/// A module global.
#[derive(Clone, Debug)]
pub struct Global {
    /// Name (unique in the module).
    pub name: String,
    /// Declared type.
    pub ty: Type,
    /// Initial value.
    pub init: Constant,
    /// Whether other modules and the host may read it.
    pub export: bool,
}

/// A multimethod declared by a module (`.multimethod name/arity`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Multimethod {
    /// Name (unique among the module's multimethods).
    pub name: String,
    /// Number of arguments every call and every method takes.
    pub arity: u32,
    /// Whether other modules may call it and add methods to it.
    pub export: bool,
}

/// What one parameter position of a method matches.
///
/// In a module, `Type(Type::Record(i))` is the module's record type `i`; in the Vm's host API
/// it is the Vm's record type id (as with [`Type`]).
#[derive(Clone, Debug)]
pub enum Pattern {
    /// Every value.
    Any,
    /// Every value of a type (never [`Type::Any`]).
    Type(Type),
    /// The values of the literal's own kind that are `eq` to it (strings by content).
    Lit(Constant),
}

impl Pattern {
    /// Specificity rank: literal 2 > type 1 > any 0.
    pub fn rank(&self) -> u8 {
        match self {
            Pattern::Any => 0,
            Pattern::Type(_) => 1,
            Pattern::Lit(_) => 2,
        }
    }

    /// Whether two patterns are the same (literals by [`Constant::same`]).
    pub fn same(&self, other: &Pattern) -> bool {
        match (self, other) {
            (Pattern::Any, Pattern::Any) => true,
            (Pattern::Type(a), Pattern::Type(b)) => a == b,
            (Pattern::Lit(a), Pattern::Lit(b)) => a.same(b),
            _ => false,
        }
    }
}

/// A method added to a multimethod by a module (`.method mm (patterns) func`).
#[derive(Clone, Debug)]
pub struct Method {
    /// Multimethod operand: own multimethods, then imported ones.
    pub multimethod: u32,
    /// One pattern per argument.
    pub patterns: Vec<Pattern>,
    /// Function operand: own functions, then imported ones.
    pub func: u32,
}

/// A bytecode module.
#[derive(Clone, Debug, Default)]
pub struct Module {
    /// Module name.
    pub name: String,
    /// Debug: source file the module was assembled or compiled from.
    pub source: Option<String>,
    /// Constant pool.
    pub consts: Vec<Constant>,
    /// Record types.
    pub types: Vec<RecordType>,
    /// Globals.
    pub globals: Vec<Global>,
    /// Functions.
    pub functions: Vec<Function>,
    /// Module initializer: a function with no parameters run once when the module is linked.
    pub init: Option<u32>,
    /// Names of the imported modules, in declaration order.
    pub imports: Vec<String>,
    /// Imported functions: function operands `functions.len()..`.
    pub imported_functions: Vec<ImportedSymbol>,
    /// Imported globals: global operands `globals.len()..`.
    pub imported_globals: Vec<ImportedSymbol>,
    /// Shared libraries declared with `.native`.
    pub natives: Vec<NativeLibrary>,
    /// C functions declared with `.extern`.
    pub externs: Vec<ExternFunction>,
    /// Multimethods declared by this module.
    pub multimethods: Vec<Multimethod>,
    /// Imported multimethods: multimethod operands `multimethods.len()..`.
    pub imported_multimethods: Vec<ImportedSymbol>,
    /// Methods this module adds to its own or imported multimethods.
    pub methods: Vec<Method>,
}

/// A shared library a module declares (`.native alias "name"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeLibrary {
    /// The name the module's `.extern` declarations and `ncall`s use.
    pub alias: String,
    /// What the dynamic loader is given: a path, or a name it searches for (`libm.so.6`).
    pub path: String,
}

/// A C function a module declares (`.extern alias.symbol (params) -> ret`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternFunction {
    /// Index into [`Module::natives`].
    pub library: u32,
    /// The symbol looked up in the library.
    pub symbol: String,
    /// Parameter types (never `void`).
    pub params: Vec<CType>,
    /// Result type (`void` for none).
    pub ret: CType,
}

/// A function or global another module exports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedSymbol {
    /// Index into [`Module::imports`].
    pub module: u32,
    /// The exported name.
    pub name: String,
}

/// What a function operand refers to.
#[derive(Clone, Copy, Debug)]
pub enum FuncRef<'a> {
    /// One of the module's own functions.
    Local(&'a Function),
    /// An imported function (its signature is known only once linked).
    Imported(&'a ImportedSymbol),
}

impl Module {
    /// What function operand `fi` refers to, if anything.
    pub fn func_ref(&self, fi: u32) -> Option<FuncRef<'_>> {
        let fi = fi as usize;
        match self.functions.get(fi) {
            Some(f) => Some(FuncRef::Local(f)),
            None => self
                .imported_functions
                .get(fi - self.functions.len())
                .map(FuncRef::Imported),
        }
    }

    /// Number of function operands (own functions then imported ones).
    pub fn function_space(&self) -> usize {
        self.functions.len() + self.imported_functions.len()
    }

    /// Number of global operands (own globals then imported ones).
    pub fn global_space(&self) -> usize {
        self.globals.len() + self.imported_globals.len()
    }

    /// Number of multimethod operands (own multimethods then imported ones).
    pub fn multimethod_space(&self) -> usize {
        self.multimethods.len() + self.imported_multimethods.len()
    }

    /// The name of multimethod operand `mm` as written in assembly.
    pub fn multimethod_name(&self, mm: u32) -> String {
        match self.multimethods.get(mm as usize) {
            Some(d) => d.name.clone(),
            None => (mm as usize)
                .checked_sub(self.multimethods.len())
                .and_then(|i| self.imported_multimethods.get(i))
                .map_or_else(|| format!("<multimethod {mm}>"), |s| self.qualified(s)),
        }
    }

    /// The index of the multimethod called `name`.
    pub fn multimethod_index(&self, name: &str) -> Option<u32> {
        self.multimethods
            .iter()
            .position(|m| m.name == name)
            .map(|i| i as u32)
    }

    /// A pattern as written in this module's assembly.
    pub fn pattern_text(&self, p: &Pattern) -> String {
        match p {
            Pattern::Any => "any".to_owned(),
            Pattern::Type(t) => self.type_name(*t),
            Pattern::Lit(c) => c.to_string(),
        }
    }

    /// The imported global that global operand `g` refers to, if it is an import.
    pub fn imported_global(&self, g: u32) -> Option<&ImportedSymbol> {
        (g as usize)
            .checked_sub(self.globals.len())
            .and_then(|i| self.imported_globals.get(i))
    }

    /// The name of an imported symbol as written in assembly: `module.name`.
    pub fn qualified(&self, s: &ImportedSymbol) -> String {
        let m = self
            .imports
            .get(s.module as usize)
            .map_or("?", String::as_str);
        format!("{m}.{}", s.name)
    }

    /// The name of function operand `fi` as written in assembly.
    pub fn func_name(&self, fi: u32) -> String {
        match self.func_ref(fi) {
            Some(FuncRef::Local(f)) => f.name.clone(),
            Some(FuncRef::Imported(s)) => self.qualified(s),
            None => format!("<function {fi}>"),
        }
    }

    /// The name of global operand `g` as written in assembly.
    pub fn global_name(&self, g: u32) -> String {
        match self.globals.get(g as usize) {
            Some(gl) => gl.name.clone(),
            None => self
                .imported_global(g)
                .map_or_else(|| format!("<global {g}>"), |s| self.qualified(s)),
        }
    }

    /// The index of the function called `name`.
    pub fn function_index(&self, name: &str) -> Option<u32> {
        self.functions
            .iter()
            .position(|f| f.name == name)
            .map(|i| i as u32)
    }

    /// The index of the global called `name`.
    pub fn global_index(&self, name: &str) -> Option<u32> {
        self.globals
            .iter()
            .position(|g| g.name == name)
            .map(|i| i as u32)
    }

    /// The index of the record type called `name`.
    pub fn type_index(&self, name: &str) -> Option<u32> {
        self.types
            .iter()
            .position(|t| t.name == name)
            .map(|i| i as u32)
    }

    /// A type's name as written in this module's assembly (record types by their name).
    pub fn type_name(&self, t: Type) -> String {
        match t {
            Type::Record(i) => self
                .types
                .get(i as usize)
                .map_or_else(|| format!("<record type {i}>"), |r| r.name.clone()),
            t => t.name().to_owned(),
        }
    }

    /// The name of extern operand `e` as written in assembly: `alias.symbol`.
    pub fn extern_name(&self, e: u32) -> String {
        match self.externs.get(e as usize) {
            Some(x) => {
                let lib = self
                    .natives
                    .get(x.library as usize)
                    .map_or("?", |n| n.alias.as_str());
                format!("{lib}.{}", x.symbol)
            }
            None => format!("<extern {e}>"),
        }
    }

    /// The string of constant `k`, if it is a str constant.
    pub fn const_str(&self, k: u32) -> Option<&str> {
        match self.consts.get(k as usize) {
            Some(Constant::Str(s)) => Some(s),
            _ => None,
        }
    }
}
