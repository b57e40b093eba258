//! Code generation: the analysed core language to one Sigma module, through the builder API.
//!
//! Calling convention: every Scheme procedure is a Sigma function returning `any`. A procedure
//! value is a `fn` (closure) when it has a fixed arity, or a `varproc` record `{fn, nreq}` when
//! it takes rest arguments (its function takes `nreq + 1` parameters, the last a list). Calls
//! of known procedures (top-level procedures never reassigned, and lifted local procedures,
//! which receive their free variables as leading parameters) are direct `call`/`tailcall`,
//! with rest arguments packed at the call site (small ones are inlined before, by
//! [`crate::inline`]); a self tail call is a jump to the start in a
//! procedure that calls itself only in tail position (a loop), a `tailcall` otherwise. A
//! loop the analysis marks `in_place` (a named `let`/`do` calling itself only in tail
//! position of its own body) has no function: its code is emitted where it is bound, its
//! calls assign the parameter registers and jump back, and its exits deliver the value to
//! the binding expression's target (see `Fx::in_place_loop`). Other
//! calls test `is fn` and use `callv`/`tailcallv`, falling back to the prelude's `%apply`
//! (varprocs and non-procedures). Every call in tail position is a tail call.
//!
//! Invariants: registers come from a per-function pool released at the end of each scope;
//! a variable's register is never written while a value read from it is still pending (a
//! `set!` target is written through a temporary).

use std::collections::HashMap;

use sigma_vm::runtime::builder::{
    Arg, FuncId, FunctionBuilder, GlobalId, Label, MmId, ModuleBuilder, Reg, TypeId,
};
use sigma_vm::{Constant, Module, Opcode, Pattern, Type};

use crate::ast::*;
use crate::reader::{Datum, Sx};

/// Internal record types: name and fields.
const INTERNAL_TYPES: &[(&str, &[&str])] = &[
    ("pair", &["car", "cdr"]),
    ("box", &["value"]),
    ("string", &["chars"]),
    ("varproc", &["fn", "nreq"]),
    ("values", &["items"]),
    ("values2", &["first", "second"]),
    ("void", &[]),
    ("eof", &[]),
];

/// A code generation failure (a bug in slisp or a builder limit).
#[derive(Debug, thiserror::Error)]
#[error("code generation failed: {0}")]
pub struct GenError(pub String);

struct Env<'p> {
    p: &'p Program,
    funcs: Vec<FuncId>,
    globals: HashMap<String, GlobalId>,
    quoted: Vec<GlobalId>,
    types: HashMap<&'static str, TypeId>,
    user_types: Vec<TypeId>,
    mms: HashMap<String, MmId>,
    g_void: GlobalId,
    g_eof: GlobalId,
    apply: Option<FuncId>,
    /// Procedures with no free variables that are used as values: each value is made once,
    /// at the start of `main`, and kept in this global.
    const_fns: HashMap<LamId, GlobalId>,
}

#[derive(Clone, Copy)]
enum Loc {
    Reg(Reg),
    Boxed(Reg),
}

#[derive(Clone, Copy, PartialEq)]
enum Tgt {
    Reg(Reg),
    Effect,
    Tail,
}

struct Fx<'a, 'b> {
    env: &'a Env<'a>,
    fb: FunctionBuilder<'b>,
    lam: LamId,
    pool: Vec<Reg>,
    top: usize,
    locs: HashMap<VarId, Loc>,
    entry: Label,
    params: Vec<Reg>,
    /// Self tail calls are `tailcall`s, not jumps to the start: the function also calls
    /// itself other than in tail position (see `function`).
    self_tailcall: bool,
    /// The in-place loops being generated, innermost last.
    loops: Vec<InPlaceLoop>,
}

/// A loop compiled in place (see `analyse::find_loops`): its calls assign `params` and jump
/// to `start`.
struct InPlaceLoop {
    var: VarId,
    start: Label,
    params: Vec<Reg>,
}

fn lit(l: &Lit) -> Arg {
    Arg::Lit(match l {
        Lit::Nil => Constant::Nil,
        Lit::Bool(b) => Constant::Bool(*b),
        Lit::Int(i) => Constant::Int(*i),
        Lit::Float(x) => Constant::Float(*x),
        Lit::Char(c) => Constant::Char(*c),
        Lit::Sym(s) | Lit::RawStr(s) => Constant::Str(s.clone()),
    })
}

/// The fused compare-and-jump for a comparison primitive.
fn cmp_jump(name: &str) -> Option<Opcode> {
    Some(match name {
        "<" | "char<?" => Opcode::Jlt,
        ">" | "char>?" => Opcode::Jgt,
        "<=" | "char<=?" => Opcode::Jle,
        ">=" | "char>=?" => Opcode::Jge,
        "=" | "char=?" => Opcode::Jeq,
        _ => return None,
    })
}

/// Collects the lambdas that `e` makes procedure values of (lambda expressions, and known
/// top-level procedures with fixed arity not in a call's head), not looking into their bodies.
fn lambda_values(p: &Program, e: &Expr, out: &mut Vec<LamId>) {
    match e {
        Expr::Lambda(l) => out.push(*l),
        Expr::Global(key) => {
            let g = p.globals.iter().find(|(k, _)| k == key).map(|(_, g)| g);
            if let Some(l) = g.and_then(|g| g.known) {
                if p.lambdas[l].rest.is_none() {
                    out.push(l);
                }
            }
        }
        Expr::Call(f, args, _) => {
            if !matches!(**f, Expr::Global(_)) {
                lambda_values(p, f, out);
            }
            for a in args {
                lambda_values(p, a, out);
            }
        }
        _ => {
            for c in crate::analyse::children(e) {
                lambda_values(p, c, out);
            }
        }
    }
}

fn be<T>(r: Result<T, sigma_vm::runtime::builder::BuildError>) -> Result<T, GenError> {
    r.map_err(|e| GenError(e.to_string()))
}

/// Generates the module for an analysed program.
pub fn generate(
    p: &Program,
    module_name: &str,
    source: Option<String>,
) -> Result<Module, GenError> {
    let mut mb = ModuleBuilder::new(module_name);
    mb.set_source(source);
    let mut types = HashMap::new();
    for (name, fields) in INTERNAL_TYPES {
        let f: Vec<(&str, Type)> = fields.iter().map(|f| (*f, Type::Any)).collect();
        types.insert(*name, be(mb.record_type(name, &f, false))?);
    }
    let mut user_types = Vec::new();
    for r in &p.records {
        let mut name = r.name.clone();
        while mb.type_id(&name).is_some() {
            name.push('\'');
        }
        let f: Vec<(&str, Type)> = r.fields.iter().map(|f| (f.as_str(), Type::Any)).collect();
        user_types.push(be(mb.record_type(&name, &f, false))?);
    }
    let mut funcs = Vec::new();
    for (i, lam) in p.lambdas.iter().enumerate() {
        if lam.body.is_none() || lam.in_place {
            // Pruned (unreachable prelude code), or a loop generated where it is bound.
            funcs.push(FuncId(u32::MAX));
            continue;
        }
        let n = if i == 0 {
            0
        } else {
            lam.params.len()
                + lam.rest.is_some() as usize
                + if lam.lifted_as.is_some() {
                    lam.free.len()
                } else {
                    0
                }
        };
        let params: Vec<(Option<&str>, Type)> = vec![(None, Type::Any); n];
        funcs.push(be(mb.declare_function(
            &lam.name,
            &params,
            Type::Any,
            i == 0,
        ))?);
    }
    let mut globals = HashMap::new();
    for (key, _) in &p.globals {
        let mut name = key.clone();
        while mb.global_id(&name).is_some() {
            name.push('\'');
        }
        globals.insert(
            key.clone(),
            be(mb.global(&name, Type::Any, Constant::Nil, false))?,
        );
    }
    let mut quoted = Vec::new();
    for i in 0..p.quoted.len() {
        quoted.push(be(mb.global(
            &format!("%quote{i}"),
            Type::Any,
            Constant::Nil,
            false,
        ))?);
    }
    let g_void = be(mb.global("%void", Type::Any, Constant::Nil, false))?;
    let g_eof = be(mb.global("%eof", Type::Any, Constant::Nil, false))?;
    let mut mms = HashMap::new();
    for g in &p.generics {
        mms.insert(
            g.name.clone(),
            be(mb.declare_multimethod(&g.name, g.arity, false))?,
        );
    }
    let apply = p
        .globals
        .iter()
        .find(|(k, _)| k == "%apply")
        .and_then(|(_, g)| g.known)
        .map(|l| funcs[l]);
    for m in &p.methods {
        let pats = m
            .patterns
            .iter()
            .map(|s| match s {
                PatternSpec::Any => Pattern::Any,
                PatternSpec::Builtin(t) => Pattern::Type(*t),
                PatternSpec::Internal(n) => Pattern::Type(types[n].ty()),
                PatternSpec::Record(i) => Pattern::Type(user_types[*i as usize].ty()),
                PatternSpec::Null => Pattern::Lit(Constant::Nil),
            })
            .collect();
        mb.add_method(mms[&m.generic], pats, funcs[m.lambda]);
    }
    let mut const_fns = HashMap::new();
    let mut used = Vec::new();
    for lam in &p.lambdas {
        if let Some(b) = &lam.body {
            lambda_values(p, b, &mut used);
        }
    }
    used.sort_unstable();
    used.dedup();
    for l in used {
        let lam = &p.lambdas[l];
        // (An in-place loop is a `letrec`'s lambda expression, but never a value.)
        if l != 0 && lam.free.is_empty() && lam.body.is_some() && !lam.in_place {
            let g = be(mb.global(&format!("%fn{l}"), Type::Any, Constant::Nil, false))?;
            const_fns.insert(l, g);
        }
    }
    let env = Env {
        p,
        const_fns,
        funcs,
        globals,
        quoted,
        types,
        user_types,
        mms,
        g_void,
        g_eof,
        apply,
    };
    for l in 0..p.lambdas.len() {
        if p.lambdas[l].body.is_none() || p.lambdas[l].in_place {
            continue;
        }
        let fb = mb.function(env.funcs[l]);
        let mut fx = Fx {
            env: &env,
            fb,
            lam: l,
            pool: Vec::new(),
            top: 0,
            locs: HashMap::new(),
            entry: Label(0),
            params: Vec::new(),
            self_tailcall: false,
            loops: Vec::new(),
        };
        fx.function()?;
        be(fx.fb.finish())?;
    }
    Ok(mb.finish())
}

impl<'a> Fx<'a, '_> {
    fn emit(&mut self, op: Opcode, args: &[Arg]) {
        self.fb.emit(op, args);
    }

    fn temp(&mut self) -> Reg {
        if self.top < self.pool.len() {
            let r = self.pool[self.top];
            self.top += 1;
            return r;
        }
        let r = self.fb.reg(None, Type::Any);
        self.pool.push(r);
        self.top += 1;
        r
    }

    fn label(&mut self) -> Label {
        self.fb.new_label()
    }

    fn bind(&mut self, l: Label) -> Result<(), GenError> {
        be(self.fb.bind(l))
    }

    fn ty(&self, name: &str) -> TypeId {
        self.env.types[name]
    }

    fn field(&self, ty: &str, i: u32) -> Arg {
        Arg::Field(self.ty(ty), i)
    }

    fn function(&mut self) -> Result<(), GenError> {
        let p = self.env.p;
        let lam = &p.lambdas[self.lam];
        let lifted = lam.lifted_as.is_some();
        let mut next = 0u32;
        if lifted {
            for &v in &lam.free {
                let r = Reg(next);
                next += 1;
                self.locs.insert(
                    v,
                    if p.vars[v].boxed {
                        Loc::Boxed(r)
                    } else {
                        Loc::Reg(r)
                    },
                );
            }
        }
        let first_param = next;
        let nparams = lam.params.len() + lam.rest.is_some() as usize;
        self.params = (0..nparams as u32).map(|i| Reg(first_param + i)).collect();
        self.fb.set_line(lam.line);
        if !lifted && !lam.free.is_empty() {
            for (i, &v) in lam.free.iter().enumerate() {
                let r = self.fb.reg(None, Type::Any);
                self.emit(Opcode::GetUp, &[r.into(), Arg::Imm(i as u32)]);
                self.locs.insert(
                    v,
                    if p.vars[v].boxed {
                        Loc::Boxed(r)
                    } else {
                        Loc::Reg(r)
                    },
                );
            }
        }
        if self.lam == 0 {
            self.prologue()?;
        }
        self.entry = self.label();
        let entry = self.entry;
        self.bind(entry)?;
        let all: Vec<VarId> = lam.params.iter().copied().chain(lam.rest).collect();
        for (i, v) in all.into_iter().enumerate() {
            let r = self.params[i];
            if p.vars[v].boxed {
                let b = self.fb.reg(None, Type::Any);
                let t = self.ty("box");
                self.emit(Opcode::New, &[b.into(), Arg::Type(t.ty()), r.into()]);
                self.locs.insert(v, Loc::Boxed(b));
            } else {
                self.locs.insert(v, Loc::Reg(r));
            }
        }
        let body = lam
            .body
            .as_ref()
            .ok_or_else(|| GenError("no body".into()))?;
        // A self tail call is a jump to the start (after the captures are read) in a loop,
        // which is much faster in the interpreter (sieve: 2x) and a little under the JIT; in
        // a function that also recurses (tak, ack) a `tailcall` is faster under the JIT
        // (tak 1.75 s -> 1.28 s, ack 2.39 s -> 1.93 s) and no slower interpreted.
        self.self_tailcall = self.recurses(body, true);
        self.gen(body, Tgt::Tail)?;
        Ok(())
    }

    /// `main`'s start: the literal symbols made canonical, the unique void and eof values,
    /// quoted constants.
    fn prologue(&mut self) -> Result<(), GenError> {
        let env = self.env;
        let r = self.temp();
        // Symbols are strs interned with `sys intern` (a weak table, so symbols made at run
        // time and dropped cost the collector nothing); each literal symbol's constant is
        // interned first, so `string->symbol` returns that very object.
        for s in &env.p.symbols {
            self.emit(
                Opcode::Sys,
                &[Arg::Discard, Arg::Sys("intern".into()), s.as_str().into()],
            );
        }
        let t = self.ty("void");
        self.emit(Opcode::New, &[r.into(), Arg::Type(t.ty())]);
        self.emit(Opcode::SetG, &[env.g_void.into(), r.into()]);
        let t = self.ty("eof");
        self.emit(Opcode::New, &[r.into(), Arg::Type(t.ty())]);
        self.emit(Opcode::SetG, &[env.g_eof.into(), r.into()]);
        let mut consts: Vec<(&LamId, &GlobalId)> = env.const_fns.iter().collect();
        consts.sort_unstable_by_key(|(l, _)| **l);
        for (&l, &g) in consts {
            self.make_closure(l, r)?;
            self.emit(Opcode::SetG, &[g.into(), r.into()]);
        }
        for (i, q) in env.p.quoted.iter().enumerate() {
            let mark = self.top;
            let a = self.datum(q);
            self.emit(Opcode::SetG, &[env.quoted[i].into(), a]);
            self.top = mark;
        }
        self.top = 0;
        Ok(())
    }

    fn datum(&mut self, sx: &Sx) -> Arg {
        match &sx.d {
            Datum::Int(i) => (*i).into(),
            Datum::Float(x) => (*x).into(),
            Datum::Bool(b) => (*b).into(),
            Datum::Char(c) => (*c).into(),
            Datum::Sym(s) => s.as_str().into(),
            Datum::Str(s) => {
                let r = self.temp();
                let t = self.ty("string");
                self.emit(
                    Opcode::New,
                    &[r.into(), Arg::Type(t.ty()), s.as_str().into()],
                );
                r.into()
            }
            Datum::List(items, tail) => {
                let r = self.temp();
                let mut acc = match tail {
                    Some(t) => self.datum(t),
                    None => Arg::Lit(Constant::Nil),
                };
                let t = self.ty("pair");
                for it in items.iter().rev() {
                    let mark = self.top;
                    let a = self.datum(it);
                    self.emit(Opcode::New, &[r.into(), Arg::Type(t.ty()), a, acc]);
                    self.top = mark;
                    acc = r.into();
                }
                acc
            }
            Datum::Vector(items) => {
                let r = self.temp();
                self.emit(Opcode::NewArr, &[r.into(), (items.len() as i64).into()]);
                for (i, it) in items.iter().enumerate() {
                    let mark = self.top;
                    let a = self.datum(it);
                    self.emit(Opcode::ASet, &[r.into(), (i as i64).into(), a]);
                    self.top = mark;
                }
                r.into()
            }
            Datum::Bytes(b) => {
                let r = self.temp();
                self.emit(Opcode::NewBytes, &[r.into(), (b.len() as i64).into()]);
                for (i, x) in b.iter().enumerate() {
                    self.emit(
                        Opcode::StI8,
                        &[r.into(), (i as i64).into(), (*x as i64).into()],
                    );
                }
                r.into()
            }
        }
    }

    /// Puts the value of `a` where `tgt` wants it.
    fn finish(&mut self, tgt: Tgt, a: Arg) {
        match tgt {
            Tgt::Reg(d) => {
                if !matches!(a, Arg::Reg(r) if r == d) {
                    self.emit(Opcode::Copy, &[d.into(), a]);
                }
            }
            Tgt::Effect => {}
            Tgt::Tail => self.emit(Opcode::Ret, &[a]),
        }
    }

    /// A register to compute a value into for `tgt`.
    fn dst(&mut self, tgt: Tgt) -> Reg {
        match tgt {
            Tgt::Reg(d) => d,
            _ => self.temp(),
        }
    }

    /// After computing into `dst(tgt)`.
    fn done(&mut self, tgt: Tgt, r: Reg) {
        if tgt == Tgt::Tail {
            self.emit(Opcode::Ret, &[r.into()]);
        }
    }

    fn void(&mut self, tgt: Tgt) {
        match tgt {
            Tgt::Effect => {}
            _ => {
                let r = self.dst(tgt);
                let g = self.env.g_void;
                self.emit(Opcode::GetG, &[r.into(), g.into()]);
                self.done(tgt, r);
            }
        }
    }

    /// The value of `e` as an operand (a literal, an unmutated local's register, or a temp).
    fn operand(&mut self, e: &Expr) -> Result<Arg, GenError> {
        match e {
            Expr::Lit(l) => return Ok(lit(l)),
            Expr::Local(v) => {
                if let Some(Loc::Reg(r)) = self.locs.get(v) {
                    if !self.env.p.vars[*v].mutated {
                        return Ok((*r).into());
                    }
                }
            }
            _ => {}
        }
        let t = self.temp();
        self.gen(e, Tgt::Reg(t))?;
        Ok(t.into())
    }

    /// Literals the verifier would reject statically in a typed position (a non-number, or
    /// any literal where a record, array or string is expected) are moved to a register, so
    /// that such programs fail at run time with a Scheme error instead of at load time.
    fn safe_operand(&mut self, a: Arg, container: bool) -> Arg {
        match &a {
            Arg::Lit(c) if container || !matches!(c, Constant::Int(_) | Constant::Float(_)) => {
                let t = self.temp();
                self.emit(Opcode::Load, &[t.into(), a]);
                t.into()
            }
            _ => a,
        }
    }

    fn operands(&mut self, es: &[Expr]) -> Result<Vec<Arg>, GenError> {
        es.iter().map(|e| self.operand(e)).collect()
    }

    fn gen(&mut self, e: &Expr, tgt: Tgt) -> Result<(), GenError> {
        let env = self.env;
        let p = env.p;
        match e {
            Expr::Lit(l) => self.finish(tgt, lit(l)),
            Expr::Void => self.void(tgt),
            Expr::Quoted(i) => {
                if tgt != Tgt::Effect {
                    let r = self.dst(tgt);
                    self.emit(Opcode::GetG, &[r.into(), env.quoted[*i].into()]);
                    self.done(tgt, r);
                }
            }
            Expr::Local(v) => match self.locs.get(v).copied() {
                Some(Loc::Reg(r)) => self.finish(tgt, r.into()),
                Some(Loc::Boxed(b)) => {
                    if tgt != Tgt::Effect {
                        let r = self.dst(tgt);
                        let f = self.field("box", 0);
                        self.emit(Opcode::GetF, &[r.into(), b.into(), f]);
                        self.done(tgt, r);
                    }
                }
                None => {
                    return Err(GenError(format!(
                        "variable `{}` has no location in `{}`",
                        p.vars[*v].name, p.lambdas[self.lam].name
                    )))
                }
            },
            Expr::Global(key) => {
                if tgt == Tgt::Effect {
                    return Ok(());
                }
                let r = self.dst(tgt);
                let g = p.globals.iter().find(|(k, _)| k == key).map(|(_, g)| g);
                match g.and_then(|g| g.known) {
                    Some(l) if p.lambdas[l].rest.is_none() => self.closure(l, r)?,
                    _ => self.emit(Opcode::GetG, &[r.into(), env.globals[key].into()]),
                }
                self.done(tgt, r);
            }
            Expr::SetLocal(v, x) => {
                let mark = self.top;
                match self.locs.get(v).copied() {
                    Some(Loc::Reg(r)) => {
                        let t = self.temp();
                        self.gen(x, Tgt::Reg(t))?;
                        self.emit(Opcode::Copy, &[r.into(), t.into()]);
                    }
                    Some(Loc::Boxed(b)) => {
                        let a = self.operand(x)?;
                        let f = self.field("box", 0);
                        self.emit(Opcode::SetF, &[b.into(), f, a]);
                    }
                    None => return Err(GenError("set! of an unknown variable".into())),
                }
                self.top = mark;
                self.void(tgt);
            }
            Expr::SetGlobal(key, x) => {
                let mark = self.top;
                let a = self.operand(x)?;
                self.emit(Opcode::SetG, &[env.globals[key].into(), a]);
                self.top = mark;
                self.void(tgt);
            }
            Expr::If(c, t, f) => {
                let lelse = self.label();
                let mark = self.top;
                self.branch(c, lelse)?;
                self.top = mark;
                self.gen(t, tgt)?;
                self.top = mark;
                if tgt == Tgt::Tail {
                    self.bind(lelse)?;
                    self.gen(f, tgt)?;
                } else {
                    let lend = self.label();
                    self.emit(Opcode::Jump, &[lend.into()]);
                    self.bind(lelse)?;
                    self.gen(f, tgt)?;
                    self.bind(lend)?;
                }
                self.top = mark;
            }
            Expr::Inlined(name, line, body) => {
                let outer = self.fb.line();
                self.fb.enter_inline(name, *line);
                self.gen(body, tgt)?;
                self.fb.leave_inline();
                self.fb.set_line(outer);
            }
            Expr::Seq(es) => {
                let n = es.len();
                for (i, x) in es.iter().enumerate() {
                    let mark = self.top;
                    self.gen(x, if i + 1 == n { tgt } else { Tgt::Effect })?;
                    self.top = mark;
                }
                if n == 0 {
                    self.void(tgt);
                }
            }
            Expr::Lambda(l) => {
                if tgt != Tgt::Effect {
                    let r = self.dst(tgt);
                    self.closure(*l, r)?;
                    self.done(tgt, r);
                }
            }
            Expr::Let(bs, body) => {
                let mark = self.top;
                let mut new_locs = Vec::new();
                for (v, init) in bs {
                    if p.vars[*v].lifted.is_some() {
                        continue;
                    }
                    let r = self.temp();
                    self.gen(init, Tgt::Reg(r))?;
                    new_locs.push((*v, r));
                }
                for (v, r) in new_locs {
                    self.bind_var(v, r);
                }
                self.gen(body, tgt)?;
                self.top = mark;
            }
            Expr::Letrec(bs, body) => {
                if let [(v, Expr::Lambda(l))] = bs.as_slice() {
                    if p.lambdas[*l].in_place {
                        return self.in_place_loop(*v, *l, body, tgt);
                    }
                }
                let mark = self.top;
                let mut regs = Vec::new();
                for (v, _) in bs {
                    let var = &p.vars[*v];
                    if var.lifted.is_some() || var.dummy {
                        regs.push(None);
                        continue;
                    }
                    let r = self.temp();
                    if var.boxed {
                        let b = self.temp();
                        let t = self.ty("box");
                        self.emit(Opcode::New, &[b.into(), Arg::Type(t.ty()), false.into()]);
                        self.locs.insert(*v, Loc::Boxed(b));
                    } else {
                        self.emit(Opcode::Load, &[r.into(), false.into()]);
                        self.locs.insert(*v, Loc::Reg(r));
                    }
                    regs.push(Some(r));
                }
                for ((v, init), r) in bs.iter().zip(regs) {
                    let inner = self.top;
                    match r {
                        None if p.vars[*v].dummy => self.gen(init, Tgt::Effect)?,
                        None => {}
                        Some(r) => {
                            self.gen(init, Tgt::Reg(r))?;
                            if let Some(Loc::Boxed(b)) = self.locs.get(v).copied() {
                                let f = self.field("box", 0);
                                self.emit(Opcode::SetF, &[b.into(), f, r.into()]);
                            }
                        }
                    }
                    self.top = inner;
                }
                self.gen(body, tgt)?;
                self.top = mark;
            }
            Expr::Call(f, args, line) => {
                self.fb.set_line(*line);
                let mark = self.top;
                self.call(f, args, tgt)?;
                self.top = mark;
            }
            Expr::Prim(name, args, line) => {
                self.fb.set_line(*line);
                let mark = self.top;
                self.prim(name, args, tgt)?;
                self.top = mark;
            }
            Expr::Sys(name, args, line) => {
                self.fb.set_line(*line);
                self.op_call(Opcode::Sys, Arg::Sys(name.clone()), args, tgt)?;
            }
            Expr::Dispatch(mm, args, line) => {
                self.fb.set_line(*line);
                self.op_call(Opcode::Dispatch, env.mms[mm].into(), args, tgt)?;
            }
            Expr::Record(op, args, line) => {
                self.fb.set_line(*line);
                let mark = self.top;
                let mut ops = self.operands(args)?;
                if !matches!(op, RecOp::New(..)) {
                    ops[0] = self.safe_operand(ops[0].clone(), true);
                }
                match op {
                    RecOp::New(t, slots) => {
                        let r = self.dst(tgt);
                        let ty = env.user_types[*t as usize];
                        let mut a = vec![r.into(), Arg::Type(ty.ty())];
                        for s in slots {
                            a.push(match s {
                                Some(i) => ops[*i].clone(),
                                None => false.into(),
                            });
                        }
                        self.emit(Opcode::New, &a);
                        self.done(tgt, r);
                    }
                    RecOp::Is(t) => {
                        let r = self.dst(tgt);
                        let ty = env.user_types[*t as usize];
                        self.emit(Opcode::Is, &[r.into(), ops[0].clone(), Arg::Type(ty.ty())]);
                        self.done(tgt, r);
                    }
                    RecOp::Get(t, i) => {
                        let r = self.dst(tgt);
                        let ty = env.user_types[*t as usize];
                        self.emit(
                            Opcode::GetF,
                            &[r.into(), ops[0].clone(), Arg::Field(ty, *i)],
                        );
                        self.done(tgt, r);
                    }
                    RecOp::Set(t, i) => {
                        let ty = env.user_types[*t as usize];
                        self.emit(
                            Opcode::SetF,
                            &[ops[0].clone(), Arg::Field(ty, *i), ops[1].clone()],
                        );
                        self.void(tgt);
                    }
                }
                self.top = mark;
            }
            Expr::Fail(msg, line) => {
                self.fb.set_line(*line);
                self.emit(
                    Opcode::Sys,
                    &[Arg::Discard, Arg::Sys("panic".into()), msg.as_str().into()],
                );
                self.void(tgt);
            }
        }
        Ok(())
    }

    /// Loop `l` (bound to `v`) in place, entered by `entry` (a call of `v`), its value going
    /// to `tgt`: the arguments are evaluated into the parameters' registers, the body follows
    /// (in an inline scope named after the loop, so backtraces show its frame as before), and
    /// each call of `v` in it assigns the parameters and jumps back (`call`).
    fn in_place_loop(
        &mut self,
        v: VarId,
        l: LamId,
        entry: &Expr,
        tgt: Tgt,
    ) -> Result<(), GenError> {
        let p = self.env.p;
        let lam = &p.lambdas[l];
        let Expr::Call(_, args, line) = entry else {
            return Err(GenError(format!(
                "in-place loop `{}` is not entered by a call",
                lam.name
            )));
        };
        let line = *line;
        let mark = self.top;
        let params: Vec<Reg> = lam.params.iter().map(|_| self.temp()).collect();
        for (a, &r) in args.iter().zip(&params) {
            let m = self.top;
            self.gen(a, Tgt::Reg(r))?;
            self.top = m;
        }
        let outer = self.fb.line();
        self.fb.enter_inline(&lam.name, line);
        let start = self.label();
        self.bind(start)?;
        for (&param, &r) in lam.params.iter().zip(&params) {
            self.bind_var(param, r);
        }
        let body = lam
            .body
            .as_ref()
            .ok_or_else(|| GenError(format!("in-place loop `{}` has no body", lam.name)))?;
        self.loops.push(InPlaceLoop {
            var: v,
            start,
            params,
        });
        self.fb.set_line(lam.line);
        let generated = self.gen(body, tgt);
        self.loops.pop();
        generated?;
        self.fb.leave_inline();
        self.fb.set_line(outer);
        self.top = mark;
        Ok(())
    }

    /// Assigns `vals` to the registers `params` at once (a value read from one of them is
    /// copied to a temporary first).
    fn assign_params(&mut self, params: &[Reg], vals: Vec<Arg>) {
        let mut moves = Vec::new();
        for (&pr, a) in params.iter().zip(vals) {
            match &a {
                Arg::Reg(r) if *r == pr => continue,
                Arg::Reg(r) if params.contains(r) => {
                    let t = self.temp();
                    self.emit(Opcode::Copy, &[t.into(), a.clone()]);
                    moves.push((pr, Arg::Reg(t)));
                }
                _ => moves.push((pr, a)),
            }
        }
        for (pr, a) in moves {
            self.emit(Opcode::Copy, &[pr.into(), a]);
        }
    }

    /// `op rd, head, args…` (a system call or a multimethod dispatch).
    fn op_call(&mut self, op: Opcode, head: Arg, args: &[Expr], tgt: Tgt) -> Result<(), GenError> {
        let mark = self.top;
        let ops = self.operands(args)?;
        let r = self.dst(tgt);
        let mut a = vec![r.into(), head];
        a.extend(ops);
        self.emit(op, &a);
        self.done(tgt, r);
        self.top = mark;
        Ok(())
    }

    fn bind_var(&mut self, v: VarId, r: Reg) {
        if self.env.p.vars[v].boxed {
            let b = self.temp();
            let t = self.ty("box");
            self.emit(Opcode::New, &[b.into(), Arg::Type(t.ty()), r.into()]);
            self.locs.insert(v, Loc::Boxed(b));
        } else {
            self.locs.insert(v, Loc::Reg(r));
        }
    }

    fn loc_arg(&self, v: VarId) -> Result<Arg, GenError> {
        match self.locs.get(&v) {
            Some(Loc::Reg(r)) | Some(Loc::Boxed(r)) => Ok((*r).into()),
            None => Err(GenError(format!(
                "free variable `{}` unavailable in `{}`",
                self.env.p.vars[v].name, self.env.p.lambdas[self.lam].name
            ))),
        }
    }

    fn closure(&mut self, l: LamId, r: Reg) -> Result<(), GenError> {
        if let Some(&g) = self.env.const_fns.get(&l) {
            self.emit(Opcode::GetG, &[r.into(), g.into()]);
            return Ok(());
        }
        self.make_closure(l, r)
    }

    /// A new procedure value of lambda `l` (a closure of its free variables' values or boxes).
    fn make_closure(&mut self, l: LamId, r: Reg) -> Result<(), GenError> {
        let lam = &self.env.p.lambdas[l];
        let f = self.env.funcs[l];
        let mut a = vec![r.into(), f.into()];
        for &v in &lam.free {
            a.push(self.loc_arg(v)?);
        }
        if lam.rest.is_some() {
            let t = self.temp();
            a[0] = t.into();
            self.emit(Opcode::Closure, &a);
            let vt = self.ty("varproc");
            self.emit(
                Opcode::New,
                &[
                    r.into(),
                    Arg::Type(vt.ty()),
                    t.into(),
                    (lam.params.len() as i64).into(),
                ],
            );
        } else {
            self.emit(Opcode::Closure, &a);
        }
        Ok(())
    }

    /// Builds a list of `items` into a temp.
    fn list_of(&mut self, items: &[Arg]) -> Arg {
        if items.is_empty() {
            return Arg::Lit(Constant::Nil);
        }
        let r = self.temp();
        let t = self.ty("pair");
        let mut acc = Arg::Lit(Constant::Nil);
        for a in items.iter().rev() {
            self.emit(Opcode::New, &[r.into(), Arg::Type(t.ty()), a.clone(), acc]);
            acc = r.into();
        }
        acc
    }

    /// The known procedure (see the module docs) that `f` names, if any.
    fn known(&self, f: &Expr) -> Option<LamId> {
        let p = self.env.p;
        match f {
            Expr::Local(v) => p.vars[*v].lifted,
            Expr::Global(k) => p
                .globals
                .iter()
                .find(|(key, _)| key == k)
                .and_then(|(_, g)| g.known),
            _ => None,
        }
    }

    /// Whether `e` (in tail position when `tail`) calls this function other than in tail
    /// position.
    fn recurses(&self, e: &Expr, tail: bool) -> bool {
        if let Expr::Call(f, _, _) = e {
            if !tail && self.known(f) == Some(self.lam) {
                return true;
            }
        }
        crate::analyse::children_in_tail(e, tail)
            .into_iter()
            .any(|(x, t)| self.recurses(x, t))
    }

    fn call(&mut self, f: &Expr, args: &[Expr], tgt: Tgt) -> Result<(), GenError> {
        let env = self.env;
        let p = env.p;
        if let Expr::Local(v) = f {
            // A call of a loop compiled in place: the analysis put every such call in tail
            // position of the loop's body, so it is the next iteration.
            if let Some(lp) = self.loops.iter().rev().find(|lp| lp.var == *v) {
                let (start, params) = (lp.start, lp.params.clone());
                let mark = self.top;
                let vals = self.operands(args)?;
                self.assign_params(&params, vals);
                self.emit(Opcode::Jump, &[start.into()]);
                self.top = mark;
                return Ok(());
            }
        }
        let known = self.known(f);
        if let Some(l) = known {
            let lam = &p.lambdas[l];
            let nreq = lam.params.len();
            if args.len() < nreq || (lam.rest.is_none() && args.len() > nreq) {
                let msg = format!(
                    "wrong number of arguments: `{}` takes {}{} argument(s), {} given",
                    lam.name,
                    if lam.rest.is_some() { "at least " } else { "" },
                    nreq,
                    args.len()
                );
                // Arguments are still evaluated (they may have effects).
                for a in args {
                    let m = self.top;
                    self.gen(a, Tgt::Effect)?;
                    self.top = m;
                }
                self.emit(
                    Opcode::Sys,
                    &[Arg::Discard, Arg::Sys("panic".into()), msg.as_str().into()],
                );
                self.void(tgt);
                return Ok(());
            }
            let mut ops = Vec::new();
            if lam.lifted_as.is_some() {
                for &v in &lam.free {
                    ops.push(self.loc_arg(v)?);
                }
            }
            let nfree = ops.len();
            let mut vals = self.operands(args)?;
            if lam.rest.is_some() {
                let extra: Vec<Arg> = vals.split_off(nreq);
                let lst = self.list_of(&extra);
                vals.push(lst);
            }
            if tgt == Tgt::Tail && l == self.lam && !self.self_tailcall {
                // Self tail call of a loop: assign the parameters and jump.
                let params = self.params.clone();
                self.assign_params(&params, vals);
                let entry = self.entry;
                self.emit(Opcode::Jump, &[entry.into()]);
                return Ok(());
            }
            let _ = nfree;
            ops.extend(vals);
            let func = env.funcs[l];
            if tgt == Tgt::Tail {
                let mut a = vec![func.into()];
                a.extend(ops);
                self.emit(Opcode::TailCall, &a);
            } else {
                let r = self.dst(tgt);
                let mut a = vec![r.into(), func.into()];
                a.extend(ops);
                self.emit(Opcode::Call, &a);
            }
            return Ok(());
        }
        // Unknown procedure.
        let fv = match self.operand(f)? {
            Arg::Reg(r) => r,
            other => {
                let t = self.temp();
                self.emit(Opcode::Copy, &[t.into(), other]);
                t
            }
        };
        let ops = self.operands(args)?;
        let is = self.temp();
        let slow = self.label();
        self.emit(Opcode::Is, &[is.into(), fv.into(), Arg::Type(Type::Fn)]);
        self.emit(Opcode::JumpIfNot, &[is.into(), slow.into()]);
        let apply = env
            .apply
            .ok_or_else(|| GenError("the prelude has no %apply".into()))?;
        if tgt == Tgt::Tail {
            let mut a = vec![fv.into()];
            a.extend(ops.iter().cloned());
            self.emit(Opcode::TailCallV, &a);
            self.bind(slow)?;
            let lst = self.list_of(&ops);
            self.emit(Opcode::TailCall, &[apply.into(), fv.into(), lst]);
        } else {
            let r = self.dst(tgt);
            let mut a = vec![r.into(), fv.into()];
            a.extend(ops.iter().cloned());
            self.emit(Opcode::CallV, &a);
            let done = self.label();
            self.emit(Opcode::Jump, &[done.into()]);
            self.bind(slow)?;
            let lst = self.list_of(&ops);
            self.emit(Opcode::Call, &[r.into(), apply.into(), fv.into(), lst]);
            self.bind(done)?;
        }
        Ok(())
    }

    /// Emits the fused compare-and-jump `op` on the two arguments to `target`.
    fn compare_jump(&mut self, op: Opcode, args: &[Expr], target: Label) -> Result<(), GenError> {
        let ops = self.operands(args)?;
        let a = self.safe_operand(ops[0].clone(), false);
        let b = self.safe_operand(ops[1].clone(), false);
        self.emit(op, &[a, b, target.into()]);
        Ok(())
    }

    /// Jumps to `lfalse` when `test` is `#f`.
    fn branch(&mut self, test: &Expr, lfalse: Label) -> Result<(), GenError> {
        match test {
            Expr::Lit(Lit::Bool(false)) => {
                self.emit(Opcode::Jump, &[lfalse.into()]);
                return Ok(());
            }
            Expr::Lit(_) | Expr::Quoted(_) | Expr::Lambda(_) => return Ok(()),
            Expr::If(c, t, e) => {
                let lelse = self.label();
                let lskip = self.label();
                self.branch(c, lelse)?;
                self.branch(t, lfalse)?;
                self.emit(Opcode::Jump, &[lskip.into()]);
                self.bind(lelse)?;
                self.branch(e, lfalse)?;
                self.bind(lskip)?;
                return Ok(());
            }
            Expr::Let(bs, body) if bs.len() == 1 => {
                // The `or` shape: (let ((t a)) (if t t b)).
                if let Expr::If(c, t, e) = &**body {
                    let v = bs[0].0;
                    if matches!((&**c, &**t), (Expr::Local(a), Expr::Local(b)) if *a == v && *b == v)
                        && !self.env.p.vars[v].boxed
                    {
                        let lb = self.label();
                        let lskip = self.label();
                        self.branch(&bs[0].1, lb)?;
                        self.emit(Opcode::Jump, &[lskip.into()]);
                        self.bind(lb)?;
                        self.branch(e, lfalse)?;
                        self.bind(lskip)?;
                        return Ok(());
                    }
                }
            }
            Expr::Prim(name, args, line) => {
                self.fb.set_line(*line);
                if let Some(op) = cmp_jump(name).filter(|_| *name != "=") {
                    let ltrue = self.label();
                    self.compare_jump(op, args, ltrue)?;
                    self.emit(Opcode::Jump, &[lfalse.into()]);
                    self.bind(ltrue)?;
                    return Ok(());
                }
                let ne = match *name {
                    "=" | "char=?" | "%num=" => Some(None),
                    "null?" => Some(Some(Arg::Lit(Constant::Nil))),
                    "zero?" => Some(Some(Arg::Lit(Constant::Int(0)))),
                    _ => None,
                };
                if let Some(rhs) = ne {
                    let ops = self.operands(args)?;
                    let b = rhs.unwrap_or_else(|| ops[1].clone());
                    self.emit(Opcode::Jne, &[ops[0].clone(), b, lfalse.into()]);
                    return Ok(());
                }
                if *name == "not" {
                    // (not (< a b)) is false exactly when a < b: jump on the comparison itself.
                    if let Expr::Prim(inner, iargs, _) = &args[0] {
                        if let Some(op) = cmp_jump(inner) {
                            self.compare_jump(op, iargs, lfalse)?;
                            return Ok(());
                        }
                        if *inner == "null?" {
                            let a = self.operand(&iargs[0])?;
                            self.emit(Opcode::Jeq, &[a, Arg::Lit(Constant::Nil), lfalse.into()]);
                            return Ok(());
                        }
                    }
                    let a = self.operand(&args[0])?;
                    self.emit(Opcode::Jne, &[a, false.into(), lfalse.into()]);
                    return Ok(());
                }
                if matches!(
                    *name,
                    "pair?"
                        | "eq?"
                        | "string?"
                        | "symbol?"
                        | "vector?"
                        | "char?"
                        | "boolean?"
                        | "%fn?"
                        | "%int?"
                        | "%float?"
                ) {
                    let t = self.temp();
                    self.prim(name, args, Tgt::Reg(t))?;
                    self.emit(Opcode::JumpIfNot, &[t.into(), lfalse.into()]);
                    return Ok(());
                }
            }
            Expr::Record(RecOp::Is(_), _, _) => {
                let t = self.temp();
                self.gen(test, Tgt::Reg(t))?;
                self.emit(Opcode::JumpIfNot, &[t.into(), lfalse.into()]);
                return Ok(());
            }
            _ => {}
        }
        let a = self.operand(test)?;
        self.emit(Opcode::Jeq, &[a, false.into(), lfalse.into()]);
        Ok(())
    }

    fn prim(&mut self, name: &str, args: &[Expr], tgt: Tgt) -> Result<(), GenError> {
        let env = self.env;
        if name == "%callv" {
            let fv = self.operand(&args[0])?;
            let ops = self.operands(&args[1..])?;
            if tgt == Tgt::Tail {
                let mut a = vec![fv];
                a.extend(ops);
                self.emit(Opcode::TailCallV, &a);
            } else {
                let r = self.dst(tgt);
                let mut a = vec![r.into(), fv];
                a.extend(ops);
                self.emit(Opcode::CallV, &a);
            }
            return Ok(());
        }
        let mut ops = self.operands(args)?;
        let numeric = matches!(
            name,
            "+" | "-"
                | "*"
                | "<"
                | ">"
                | "<="
                | ">="
                | "="
                | "quotient"
                | "remainder"
                | "modulo"
                | "zero?"
                | "positive?"
                | "negative?"
                | "odd?"
                | "even?"
                | "abs"
                | "%neg"
                | "eq?"
                | "null?"
                | "not"
                | "cons"
                | "%num="
                | "%div"
                | "%rem"
                | "%pow"
                | "%itof"
                | "%ftoi"
                | "%sqrt"
                | "%floor"
                | "%ceil"
                | "%trunc"
                | "%round"
                | "%band"
                | "%bor"
                | "%bxor"
                | "%bnot"
                | "%shl"
                | "%sar"
                | "list"
                | "vector"
                | "make-vector"
                | "%newarr"
                | "%newbytes"
                | "%values"
                | "%values2"
                | "%make-varproc"
                | "%mkstr"
                | "%fail"
                | "integer->char"
                | "char->integer"
        );
        for (i, a) in ops.iter_mut().enumerate() {
            *a = self.safe_operand(a.clone(), i == 0 && !numeric);
        }
        let o = |i: usize| ops[i].clone();
        // Effects returning the unspecified value.
        let effect: Option<(Opcode, Vec<Arg>)> = match name {
            "set-car!" => Some((Opcode::SetF, vec![o(0), self.field("pair", 0), o(1)])),
            "set-cdr!" => Some((Opcode::SetF, vec![o(0), self.field("pair", 1), o(1)])),
            "vector-set!" => Some((Opcode::ASet, vec![o(0), o(1), o(2)])),
            "bytevector-u8-set!" => Some((Opcode::StI8, vec![o(0), o(1), o(2)])),
            "%set-sval!" => Some((Opcode::SetF, vec![o(0), self.field("string", 0), o(1)])),
            "%apush" => Some((Opcode::APush, vec![o(0), o(1)])),
            "%mset" => Some((Opcode::MSet, vec![o(0), o(1), o(2)])),
            "%mdel" => Some((Opcode::MDel, vec![o(0), o(1)])),
            "%fail" => Some((
                Opcode::Sys,
                vec![Arg::Discard, Arg::Sys("panic".into()), o(0)],
            )),
            _ => None,
        };
        if let Some((op, a)) = effect {
            self.emit(op, &a);
            self.void(tgt);
            return Ok(());
        }
        if tgt == Tgt::Effect
            && !matches!(
                name,
                "car" | "cdr" | "vector-ref" | "string-ref" | "quotient" | "remainder" | "modulo"
            )
        {
            // Pure (or trapping only on bad arguments, which we still check for the above).
            if !matches!(name, "+" | "-" | "*" | "<" | ">" | "<=" | ">=") {
                return Ok(());
            }
        }
        let r = self.dst(tgt);
        let rd: Arg = r.into();
        let ty = |s: &Self, n: &str| Arg::Type(s.ty(n).ty());
        match name {
            "car" => self.emit(Opcode::GetF, &[rd, o(0), self.field("pair", 0)]),
            "cdr" => self.emit(Opcode::GetF, &[rd, o(0), self.field("pair", 1)]),
            "cons" => self.emit(Opcode::New, &[rd, ty(self, "pair"), o(0), o(1)]),
            "null?" => self.emit(Opcode::Eq, &[rd, o(0), Arg::Lit(Constant::Nil)]),
            "pair?" => self.emit(Opcode::Is, &[rd, o(0), ty(self, "pair")]),
            "not" => self.emit(Opcode::Eq, &[rd, o(0), false.into()]),
            "eq?" => self.emit(Opcode::Same, &[rd, o(0), o(1)]),
            "+" => self.emit(Opcode::Add, &[rd, o(0), o(1)]),
            "-" => self.emit(Opcode::Sub, &[rd, o(0), o(1)]),
            "*" => self.emit(Opcode::Mul, &[rd, o(0), o(1)]),
            "%neg" => self.emit(Opcode::Neg, &[rd, o(0)]),
            "quotient" | "%div" => self.emit(Opcode::Div, &[rd, o(0), o(1)]),
            "remainder" | "%rem" => self.emit(Opcode::Rem, &[rd, o(0), o(1)]),
            "modulo" => {
                // r = a rem b; if r != 0 and sign(r) != sign(b): r += b
                let t = self.temp();
                self.emit(Opcode::Rem, &[t.into(), o(0), o(1)]);
                let done = self.label();
                let fix = self.label();
                self.emit(Opcode::Jeq, &[t.into(), 0i64.into(), done.into()]);
                let s1 = self.temp();
                let s2 = self.temp();
                self.emit(Opcode::Lt, &[s1.into(), t.into(), 0i64.into()]);
                self.emit(Opcode::Lt, &[s2.into(), o(1), 0i64.into()]);
                self.emit(Opcode::Jne, &[s1.into(), s2.into(), fix.into()]);
                self.emit(Opcode::Jump, &[done.into()]);
                self.bind(fix)?;
                self.emit(Opcode::Add, &[t.into(), t.into(), o(1)]);
                self.bind(done)?;
                self.emit(Opcode::Copy, &[rd, t.into()]);
            }
            "<" | "char<?" => self.emit(Opcode::Lt, &[rd, o(0), o(1)]),
            ">" | "char>?" => self.emit(Opcode::Gt, &[rd, o(0), o(1)]),
            "<=" | "char<=?" => self.emit(Opcode::Le, &[rd, o(0), o(1)]),
            ">=" | "char>=?" => self.emit(Opcode::Ge, &[rd, o(0), o(1)]),
            "=" | "char=?" | "%num=" => self.emit(Opcode::Eq, &[rd, o(0), o(1)]),
            "zero?" => self.emit(Opcode::Eq, &[rd, o(0), 0i64.into()]),
            "positive?" => self.emit(Opcode::Gt, &[rd, o(0), 0i64.into()]),
            "negative?" => self.emit(Opcode::Lt, &[rd, o(0), 0i64.into()]),
            "odd?" | "even?" => {
                let t = self.temp();
                self.emit(Opcode::Rem, &[t.into(), o(0), 2i64.into()]);
                let op = if name == "odd?" {
                    Opcode::Ne
                } else {
                    Opcode::Eq
                };
                self.emit(op, &[rd, t.into(), 0i64.into()]);
            }
            "vector-ref" => self.emit(Opcode::AGet, &[rd, o(0), o(1)]),
            "vector-length" => self.emit(Opcode::ALen, &[rd, o(0)]),
            "vector?" | "%array?" => self.emit(Opcode::Is, &[rd, o(0), Arg::Type(Type::Array)]),
            "make-vector" => {
                let fill = if ops.len() > 1 { o(1) } else { 0i64.into() };
                self.emit(Opcode::NewArr, &[rd, o(0), fill]);
            }
            "%newarr" => self.emit(Opcode::NewArr, &[rd, o(0), o(1)]),
            "vector" => {
                self.emit(Opcode::NewArr, &[rd.clone(), (ops.len() as i64).into()]);
                for (i, a) in ops.iter().enumerate() {
                    self.emit(Opcode::ASet, &[rd.clone(), (i as i64).into(), a.clone()]);
                }
            }
            "string?" => self.emit(Opcode::Is, &[rd, o(0), ty(self, "string")]),
            "symbol?" => self.emit(Opcode::Is, &[rd, o(0), Arg::Type(Type::Str)]),
            "char?" => self.emit(Opcode::Is, &[rd, o(0), Arg::Type(Type::Char)]),
            "boolean?" => self.emit(Opcode::Is, &[rd, o(0), Arg::Type(Type::Bool)]),
            "%fn?" => self.emit(Opcode::Is, &[rd, o(0), Arg::Type(Type::Fn)]),
            "%int?" => self.emit(Opcode::Is, &[rd, o(0), Arg::Type(Type::Int)]),
            "%float?" => self.emit(Opcode::Is, &[rd, o(0), Arg::Type(Type::Float)]),
            "char->integer" => self.emit(Opcode::Sys, &[rd, Arg::Sys("char_code".into()), o(0)]),
            "integer->char" => {
                self.emit(Opcode::Sys, &[rd, Arg::Sys("char_from_code".into()), o(0)])
            }
            "string-length" => {
                self.emit(Opcode::GetF, &[rd.clone(), o(0), self.field("string", 0)]);
                self.emit(Opcode::SLen, &[rd.clone(), rd]);
            }
            "string-ref" => {
                let t = self.temp();
                self.emit(Opcode::GetF, &[t.into(), o(0), self.field("string", 0)]);
                self.emit(Opcode::SGet, &[rd, t.into(), o(1)]);
            }
            "abs" => self.emit(Opcode::Abs, &[rd, o(0)]),
            "bytevector-u8-ref" => self.emit(Opcode::LdU8, &[rd, o(0), o(1)]),
            "bytevector-length" => self.emit(Opcode::BLen, &[rd, o(0)]),
            "bytevector?" => self.emit(Opcode::Is, &[rd, o(0), Arg::Type(Type::Bytes)]),
            "eof-object" => self.emit(Opcode::GetG, &[rd, env.g_eof.into()]),
            "eof-object?" => self.emit(Opcode::Is, &[rd, o(0), ty(self, "eof")]),
            "%varproc?" => self.emit(Opcode::Is, &[rd, o(0), ty(self, "varproc")]),
            "%varproc-fn" => self.emit(Opcode::GetF, &[rd, o(0), self.field("varproc", 0)]),
            "%varproc-nreq" => self.emit(Opcode::GetF, &[rd, o(0), self.field("varproc", 1)]),
            "%make-varproc" => self.emit(Opcode::New, &[rd, ty(self, "varproc"), o(0), o(1)]),
            "%itof" => self.emit(Opcode::Itof, &[rd, o(0)]),
            "%ftoi" => self.emit(Opcode::Ftoi, &[rd, o(0)]),
            "%sqrt" => self.emit(Opcode::Sqrt, &[rd, o(0)]),
            "%floor" => self.emit(Opcode::Floor, &[rd, o(0)]),
            "%ceil" => self.emit(Opcode::Ceil, &[rd, o(0)]),
            "%trunc" => self.emit(Opcode::Trunc, &[rd, o(0)]),
            "%round" => self.emit(Opcode::Round, &[rd, o(0)]),
            "%pow" => self.emit(Opcode::Pow, &[rd, o(0), o(1)]),
            "%concat" => self.emit(Opcode::Concat, &[rd, o(0), o(1)]),
            "%slen" => self.emit(Opcode::SLen, &[rd, o(0)]),
            "%sget" => self.emit(Opcode::SGet, &[rd, o(0), o(1)]),
            "%substr" => self.emit(Opcode::Substr, &[rd, o(0), o(1), o(2)]),
            "%tostr" => self.emit(Opcode::ToStr, &[rd, o(0)]),
            "%sval" => self.emit(Opcode::GetF, &[rd, o(0), self.field("string", 0)]),
            "%mkstr" => self.emit(Opcode::New, &[rd, ty(self, "string"), o(0)]),
            "%newbytes" => self.emit(Opcode::NewBytes, &[rd, o(0)]),
            "%newmap" => self.emit(Opcode::NewMap, &[rd]),
            "%mget" => self.emit(Opcode::MGet, &[rd, o(0), o(1)]),
            "%mlen" => self.emit(Opcode::MLen, &[rd, o(0)]),
            "%mkeys" => self.emit(Opcode::MKeys, &[rd, o(0)]),
            "%void" => self.emit(Opcode::GetG, &[rd, env.g_void.into()]),
            "%void?" => self.emit(Opcode::Is, &[rd, o(0), ty(self, "void")]),
            "%values" => self.emit(Opcode::New, &[rd, ty(self, "values"), o(0)]),
            "%values?" => self.emit(Opcode::Is, &[rd, o(0), ty(self, "values")]),
            "%values-arr" => self.emit(Opcode::GetF, &[rd, o(0), self.field("values", 0)]),
            "%values2" => self.emit(Opcode::New, &[rd, ty(self, "values2"), o(0), o(1)]),
            "%values2?" => self.emit(Opcode::Is, &[rd, o(0), ty(self, "values2")]),
            "%values2-first" => self.emit(Opcode::GetF, &[rd, o(0), self.field("values2", 0)]),
            "%values2-second" => self.emit(Opcode::GetF, &[rd, o(0), self.field("values2", 1)]),
            "%typeof" => self.emit(Opcode::Typeof, &[rd, o(0)]),
            "%band" => self.emit(Opcode::And, &[rd, o(0), o(1)]),
            "%bor" => self.emit(Opcode::Or, &[rd, o(0), o(1)]),
            "%bxor" => self.emit(Opcode::Xor, &[rd, o(0), o(1)]),
            "%bnot" => self.emit(Opcode::Not, &[rd, o(0)]),
            "%shl" => self.emit(Opcode::Shl, &[rd, o(0), o(1)]),
            "%sar" => self.emit(Opcode::Sar, &[rd, o(0), o(1)]),
            _ => return Err(GenError(format!("unknown primitive `{name}`"))),
        }
        self.done(tgt, r);
        Ok(())
    }
}
