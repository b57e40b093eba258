//! The core language the expander produces and the code generator consumes.
//!
//! Invariants: every [`VarId`] indexes [`Program::vars`] and every [`LamId`] indexes
//! [`Program::lambdas`]; lambda 0 is the program's `main` (the top-level forms in order).
//! Derived forms (`let*`, `cond`, `case`, `do`, named `let`, `quasiquote`, ...) are gone:
//! only the variants of [`Expr`] remain.

use crate::reader::Sx;

/// A local variable.
pub type VarId = usize;
/// A lambda expression (one Sigma function).
pub type LamId = usize;

/// An immediate literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// The empty list (Sigma `nil`).
    Nil,
    /// A boolean.
    Bool(bool),
    /// A fixnum.
    Int(i64),
    /// A flonum.
    Float(f64),
    /// A character.
    Char(char),
    /// A symbol (an interned Sigma `str`).
    Sym(String),
    /// A raw Sigma string (only for `%`-primitives such as `%sys`).
    RawStr(String),
}

/// A record operation produced by `define-record-type`.
#[derive(Clone, Debug)]
pub enum RecOp {
    /// Make a record: for each field, the constructor argument that fills it (or none).
    New(u32, Vec<Option<usize>>),
    /// The type predicate.
    Is(u32),
    /// Read field `.1` of type `.0`.
    Get(u32, u32),
    /// Write field `.1` of type `.0`.
    Set(u32, u32),
}

impl RecOp {
    /// How many arguments the operation takes.
    pub fn arity(&self) -> usize {
        match self {
            RecOp::New(_, slots) => slots.iter().flatten().count(),
            RecOp::Is(_) | RecOp::Get(..) => 1,
            RecOp::Set(..) => 2,
        }
    }
}

/// A core expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// An immediate constant.
    Lit(Lit),
    /// The unspecified value.
    Void,
    /// A quoted constant built once when the program starts (index into
    /// [`Program::quoted`]).
    Quoted(usize),
    /// A local variable.
    Local(VarId),
    /// A top-level variable, by key (see [`Program::globals`]).
    Global(String),
    /// `set!` of a local.
    SetLocal(VarId, Box<Expr>),
    /// `define` or `set!` of a top-level variable.
    SetGlobal(String, Box<Expr>),
    /// `if`.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `begin` (non-empty).
    Seq(Vec<Expr>),
    /// A procedure.
    Lambda(LamId),
    /// Parallel bindings.
    Let(Vec<(VarId, Expr)>, Box<Expr>),
    /// Sequential recursive bindings (`letrec*`, internal definitions, named `let`).
    /// A binding whose variable is [`Var::dummy`] is an expression run for effect.
    Letrec(Vec<(VarId, Expr)>, Box<Expr>),
    /// A procedure call, with the source line.
    Call(Box<Expr>, Vec<Expr>, u32),
    /// An inline primitive (arity already checked), with the source line.
    Prim(&'static str, Vec<Expr>, u32),
    /// A system call `%sys` by name.
    Sys(String, Vec<Expr>, u32),
    /// A multimethod call.
    Dispatch(String, Vec<Expr>, u32),
    /// A record operation.
    Record(RecOp, Vec<Expr>, u32),
    /// A run-time error with a fixed message (unbound variable, wrong arity of a known call).
    Fail(String, u32),
    /// The body of procedure `.0`, inlined in place of a call at source line `.1`: its code
    /// is in an inline scope, so backtraces still show a frame for the procedure.
    Inlined(String, u32, Box<Expr>),
}

/// A local variable's facts.
#[derive(Clone, Debug, Default)]
pub struct Var {
    /// Source name.
    pub name: String,
    /// Assigned with `set!` somewhere.
    pub mutated: bool,
    /// Bound by `letrec`/internal define: may be captured before it is initialized.
    pub late: bool,
    /// Stands for an expression evaluated for effect in a [`Expr::Letrec`].
    pub dummy: bool,
    /// Used other than as the operator of a call.
    pub escapes: bool,
    /// Bound to a lambda that is lifted to a top-level function (every use is a call).
    pub lifted: Option<LamId>,
    /// Kept in a heap box (mutated and captured).
    pub boxed: bool,
}

/// A lambda's facts.
#[derive(Clone, Debug, Default)]
pub struct Lambda {
    /// Sigma function name.
    pub name: String,
    /// Required parameters.
    pub params: Vec<VarId>,
    /// The rest parameter, if any.
    pub rest: Option<VarId>,
    /// The body.
    pub body: Option<Expr>,
    /// Source line (0 in the prelude).
    pub line: u32,
    /// Free local variables, in order (computed by the analysis).
    pub free: Vec<VarId>,
    /// The variable it is bound to, if lifted.
    pub lifted_as: Option<VarId>,
    /// Top-level: a known global function (free is empty).
    pub toplevel: bool,
    /// A loop compiled in place, in the function that binds it, rather than as a function of
    /// its own (computed by the analysis; see `analyse::find_loops`).
    pub in_place: bool,
}

/// Facts about a top-level variable.
#[derive(Clone, Debug, Default)]
pub struct GlobalInfo {
    /// Number of top-level `define`s.
    pub defines: usize,
    /// Assigned by `set!`.
    pub assigned: bool,
    /// Defined once, at top level, by a lambda, never assigned: calls are direct.
    pub known: Option<LamId>,
    /// A record operation that calls inline.
    pub rec_op: Option<RecOp>,
    /// A multimethod that calls inline (its Sigma name).
    pub generic: Option<String>,
}

/// A user record type.
#[derive(Clone, Debug)]
pub struct RecordDef {
    /// Sigma type name.
    pub name: String,
    /// Field names.
    pub fields: Vec<String>,
}

/// A multimethod declared by `define-generic`.
#[derive(Clone, Debug)]
pub struct GenericDef {
    /// Sigma name.
    pub name: String,
    /// Arity.
    pub arity: u32,
}

/// A method from `define-method`.
#[derive(Clone, Debug)]
pub struct MethodDef {
    /// The multimethod's Sigma name.
    pub generic: String,
    /// One pattern per parameter.
    pub patterns: Vec<PatternSpec>,
    /// The body.
    pub lambda: LamId,
}

/// A method parameter's pattern before type ids are known.
#[derive(Clone, Debug)]
pub enum PatternSpec {
    /// Anything.
    Any,
    /// A built-in Sigma type.
    Builtin(sigma_vm::Type),
    /// An internal record type (`pair`, `string`).
    Internal(&'static str),
    /// A user record type (index into [`Program::records`]).
    Record(u32),
    /// The empty list.
    Null,
}

/// A whole program after expansion and analysis.
#[derive(Debug, Default)]
pub struct Program {
    /// Variables.
    pub vars: Vec<Var>,
    /// Lambdas; 0 is `main`.
    pub lambdas: Vec<Lambda>,
    /// Top-level variables by key, in first-seen order.
    pub globals: Vec<(String, GlobalInfo)>,
    /// Quoted constants.
    pub quoted: Vec<Sx>,
    /// Every symbol that appears literally (seeded into the symbol table).
    pub symbols: Vec<String>,
    /// User record types.
    pub records: Vec<RecordDef>,
    /// Multimethods.
    pub generics: Vec<GenericDef>,
    /// Methods.
    pub methods: Vec<MethodDef>,
    /// How many of `main`'s top-level forms come from the prelude (they come first).
    pub prelude_forms: usize,
}
