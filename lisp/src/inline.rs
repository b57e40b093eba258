//! Source-level inlining and simplification of the core language, between pruning and the
//! analysis: the optimizations that make higher-order Scheme cheap before any bytecode exists.
//!
//! First, a small recursive procedure is unrolled two levels deep: each of its calls of
//! itself not in tail position becomes a copy of its body, and so do the copies' own calls of
//! it, within a size budget (see `Cx::unroll_recursion`). Then, in
//! rounds, each a walk of every lambda body with use counts taken at its start:
//! - a call of a small known top-level procedure of the program (not the prelude; not
//!   referring to itself) becomes a `let` of its parameters around a fresh copy of its body
//!   (first round only, nested at most 3 deep, so mutual recursion stops);
//! - a call of a lambda expression becomes a `let` of its parameters around its body (beta
//!   reduction);
//! - a call whose operator is a `let` moves inside it, when that reorders no effect;
//! - a `let` whose initializer is itself a `let` is flattened into a chain, so the inner
//!   bindings scope over the outer body (the value a procedure returns from its `let` is now
//!   bound directly);
//! - a `let`-bound lambda used once, as a call's operator, moves to that call; one used only as
//!   the operator of a few calls is copied into each (both then reduce);
//! - a `let`-bound variable or literal is substituted for a variable bound to it;
//! - a binding nothing uses whose initializer has no effect is dropped, as is a branch of an
//!   `if` whose test is a constant.
//!
//! Invariants: every binder of the program is a distinct [`VarId`] (the expander's, and this
//! pass copies with fresh ones), so a parallel `let` equals the chain of its bindings and a
//! moved expression cannot be captured by another binding; a lambda that no expression refers
//! to any more has its body (and its nested lambdas' bodies) set to `None`, as pruning does, so
//! the analysis never sees it capture a variable; effects keep their order; a variable's
//! decisions use counts from the round's start, and a variable created during the round (a
//! copy's) is left alone until the next.
//!
//! An inlined body that can fail is wrapped in [`Expr::Inlined`], which the code generator
//! turns into an inline scope (Sigma debug info), so an error inside it still shows a
//! backtrace frame for the inlined procedure, at its own line, above the frame it was
//! inlined into. A body that only builds values cannot fail and gets no scope.

use std::collections::{HashMap, HashSet};

use crate::ast::*;

/// Largest body (in [`size`] nodes) of a top-level procedure whose calls are inlined.
const GLOBAL_BODY_LIMIT: usize = 40;
/// Largest `let`-bound lambda copied into each of its calls.
const LOCAL_COPY_LIMIT: usize = 24;
/// Most calls a `let`-bound lambda is copied into.
const MAX_LOCAL_COPIES: usize = 4;
/// How deep inlined top-level procedures nest in one another.
const DEPTH_LIMIT: usize = 3;
/// Largest body of a recursive top-level procedure that is unrolled (see
/// `Cx::unroll_recursion`).
const UNROLL_BODY_LIMIT: usize = 40;
/// Most levels of copies an unrolled procedure gets (1: its calls become copies whose own
/// calls stay calls; 2: those calls become copies too).
const UNROLL_LEVELS: usize = 2;
/// Largest estimated size (the body's size times the number of copies, itself included) of an
/// unrolled procedure: a deeper level that would exceed it is not made.
const UNROLL_TOTAL_LIMIT: usize = 400;
/// Fewest calls of itself, not in tail position, that make a procedure worth unrolling.
const UNROLL_MIN_CALLS: usize = 1;
/// Most rounds.
const ROUNDS: usize = 8;

/// Uses of each variable at a round's start: all references, and those in a call's head.
#[derive(Clone, Copy, Default)]
struct Uses {
    all: usize,
    ops: usize,
}

/// Inlines and simplifies every lambda body of `p` (see the module docs). A program whose
/// binders or lambda expressions are not all distinct (which the expander never produces) is
/// left as it is.
pub fn inline(p: &mut Program) {
    if !distinct_binders(p) {
        return;
    }
    let names: HashSet<String> = p.lambdas.iter().map(|l| l.name.clone()).collect();
    // Lambdas referred to other than by a lambda expression: never dropped or reduced.
    let protected: HashSet<LamId> = p
        .globals
        .iter()
        .filter_map(|(_, g)| g.known)
        .chain(p.methods.iter().map(|m| m.lambda))
        .chain(std::iter::once(0))
        .collect();
    let mut cx = Cx {
        protected,
        p,
        counts: Vec::new(),
        known: HashMap::new(),
        names,
        shown: HashMap::new(),
        depth: 0,
        changed: false,
        first_round: true,
    };
    cx.known = cx.inlinable_globals();
    cx.unroll_recursion();
    for round in 0..ROUNDS {
        cx.first_round = round == 0;
        cx.counts = count_uses(cx.p);
        cx.changed = false;
        for i in 0..cx.p.lambdas.len() {
            let Some(body) = cx.p.lambdas[i].body.take() else {
                continue;
            };
            let body = cx.simplify(body);
            cx.p.lambdas[i].body = Some(body);
        }
        if !cx.changed {
            break;
        }
    }
}

struct Cx<'p> {
    p: &'p mut Program,
    /// Lambdas that known calls, methods or the program's start refer to directly.
    protected: HashSet<LamId>,
    counts: Vec<Uses>,
    /// Global keys whose calls are inlined, with their lambdas.
    known: HashMap<String, LamId>,
    /// Every function name in use (copies need new ones).
    names: HashSet<String>,
    /// The name a copied lambda shows in backtraces: its original's.
    shown: HashMap<LamId, String>,
    depth: usize,
    changed: bool,
    first_round: bool,
}

/// What a substitution puts in place of a variable.
enum Replace {
    /// The operator of its one call: this lambda (moved there).
    Once(Option<Expr>),
    /// The operator of each call: a fresh copy of this lambda.
    Copies(LamId),
    /// Every reference: this expression (a variable or a literal).
    Value(Expr),
}

/// Whether every variable is bound once and every lambda expression occurs once in `p` (the
/// invariant the simplifications rely on).
fn distinct_binders(p: &Program) -> bool {
    fn walk(p: &Program, e: &Expr, vars: &mut HashSet<VarId>, lams: &mut HashSet<LamId>) -> bool {
        let fresh = match e {
            Expr::Let(bs, _) | Expr::Letrec(bs, _) => bs.iter().all(|(v, _)| vars.insert(*v)),
            Expr::Lambda(l) => {
                let lam = &p.lambdas[*l];
                lams.insert(*l)
                    && lam.params.iter().chain(&lam.rest).all(|v| vars.insert(*v))
                    && lam.body.as_ref().is_none_or(|b| walk(p, b, vars, lams))
            }
            _ => true,
        };
        fresh
            && crate::analyse::children(e)
                .into_iter()
                .all(|c| walk(p, c, vars, lams))
    }
    let (mut vars, mut lams) = (HashSet::new(), HashSet::new());
    let main = &p.lambdas[0];
    lams.insert(0);
    main.body
        .as_ref()
        .is_none_or(|b| walk(p, b, &mut vars, &mut lams))
        && p.methods.iter().all(|m| {
            let lam = &p.lambdas[m.lambda];
            lams.insert(m.lambda)
                && lam.params.iter().chain(&lam.rest).all(|v| vars.insert(*v))
                && lam
                    .body
                    .as_ref()
                    .is_none_or(|b| walk(p, b, &mut vars, &mut lams))
        })
}

/// The number of nodes of `e`, counting the bodies of the lambdas it creates.
fn size(p: &Program, e: &Expr) -> usize {
    let own = match e {
        Expr::Lambda(l) => p.lambdas[*l].body.as_ref().map_or(0, |b| size(p, b)),
        _ => 0,
    };
    1 + own
        + crate::analyse::children(e)
            .into_iter()
            .map(|c| size(p, c))
            .sum::<usize>()
}

/// Whether evaluating `e` has no effect and cannot fail.
fn pure(p: &Program, e: &Expr) -> bool {
    match e {
        Expr::Lit(_) | Expr::Void | Expr::Quoted(_) | Expr::Lambda(_) => true,
        Expr::Local(v) => !p.vars[*v].late,
        _ => false,
    }
}

/// The globals `e` (or a lambda it creates) refers to.
fn globals_in<'e>(p: &'e Program, e: &'e Expr, out: &mut HashSet<&'e str>) {
    match e {
        Expr::Global(k) | Expr::SetGlobal(k, _) => {
            out.insert(k);
        }
        Expr::Lambda(l) => {
            if let Some(b) = &p.lambdas[*l].body {
                globals_in(p, b, out);
            }
        }
        _ => {}
    }
    for c in crate::analyse::children(e) {
        globals_in(p, c, out);
    }
}

fn count_uses(p: &Program) -> Vec<Uses> {
    fn walk(e: &Expr, counts: &mut [Uses]) {
        match e {
            Expr::Local(v) | Expr::SetLocal(v, _) => counts[*v].all += 1,
            Expr::Call(f, _, _) => {
                if let Expr::Local(v) = **f {
                    counts[v].ops += 1;
                }
            }
            _ => {}
        }
        for c in crate::analyse::children(e) {
            walk(c, counts);
        }
    }
    let mut counts = vec![Uses::default(); p.vars.len()];
    for lam in &p.lambdas {
        if let Some(b) = &lam.body {
            walk(b, &mut counts);
        }
    }
    counts
}

/// Applies `f` to every direct subexpression of `e` (not into the lambdas it creates), in the
/// order of [`crate::analyse::children`].
fn map_children(e: Expr, f: &mut dyn FnMut(Expr) -> Expr) -> Expr {
    let bx = |x: Box<Expr>, f: &mut dyn FnMut(Expr) -> Expr| Box::new(f(*x));
    match e {
        Expr::Lit(_)
        | Expr::Void
        | Expr::Quoted(_)
        | Expr::Local(_)
        | Expr::Global(_)
        | Expr::Lambda(_)
        | Expr::Fail(..) => e,
        Expr::SetLocal(v, x) => Expr::SetLocal(v, bx(x, f)),
        Expr::SetGlobal(k, x) => Expr::SetGlobal(k, bx(x, f)),
        Expr::Inlined(n, line, x) => Expr::Inlined(n, line, bx(x, f)),
        Expr::If(a, b, c) => {
            let a = bx(a, f);
            let b = bx(b, f);
            Expr::If(a, b, bx(c, f))
        }
        Expr::Seq(v) => Expr::Seq(v.into_iter().map(&mut *f).collect()),
        Expr::Let(bs, b) => {
            let bs = bs.into_iter().map(|(v, x)| (v, f(x))).collect();
            Expr::Let(bs, bx(b, f))
        }
        Expr::Letrec(bs, b) => {
            let bs = bs.into_iter().map(|(v, x)| (v, f(x))).collect();
            Expr::Letrec(bs, bx(b, f))
        }
        Expr::Call(g, args, line) => {
            let g = bx(g, f);
            Expr::Call(g, args.into_iter().map(&mut *f).collect(), line)
        }
        Expr::Prim(n, args, line) => Expr::Prim(n, args.into_iter().map(f).collect(), line),
        Expr::Sys(n, args, line) => Expr::Sys(n, args.into_iter().map(f).collect(), line),
        Expr::Dispatch(n, args, line) => Expr::Dispatch(n, args.into_iter().map(f).collect(), line),
        Expr::Record(op, args, line) => Expr::Record(op, args.into_iter().map(f).collect(), line),
    }
}

impl Cx<'_> {
    /// The known top-level procedures of the program whose calls are inlined: small, taking
    /// no rest argument, and not recursive, directly or through other known procedures.
    fn inlinable_globals(&self) -> HashMap<String, LamId> {
        let p = &*self.p;
        let mut refs: HashMap<&str, HashSet<&str>> = HashMap::new();
        for (key, g) in &p.globals {
            if let Some(body) = g.known.and_then(|l| p.lambdas[l].body.as_ref()) {
                let mut out = HashSet::new();
                globals_in(p, body, &mut out);
                refs.insert(key, out);
            }
        }
        let recursive = |key: &str| {
            let mut seen = HashSet::new();
            let mut todo: Vec<&str> = refs.get(key).into_iter().flatten().copied().collect();
            while let Some(k) = todo.pop() {
                if k == key {
                    return true;
                }
                if seen.insert(k) {
                    todo.extend(refs.get(k).into_iter().flatten().copied());
                }
            }
            false
        };
        let mut out = HashMap::new();
        for (key, g) in &p.globals {
            let Some(l) = g.known else { continue };
            let lam = &p.lambdas[l];
            let Some(body) = &lam.body else { continue };
            // Prelude procedures (line 0) keep their own frames in error reports.
            if lam.line == 0 || lam.rest.is_some() || size(p, body) > GLOBAL_BODY_LIMIT {
                continue;
            }
            if !recursive(key) {
                out.insert(key.clone(), l);
            }
        }
        out
    }

    /// Unrolls each small recursive top-level procedure of the program (one that calls
    /// itself other than in tail position): every call of itself not in tail
    /// position becomes a copy of its body, in an inline scope, and in each copy (which is not
    /// in tail position, so none of its calls is a tail call) every call of itself becomes a
    /// copy again, [`UNROLL_LEVELS`] levels deep while the estimated size stays within
    /// [`UNROLL_TOTAL_LIMIT`]; the last level's calls stay calls. With two levels a binary
    /// recursion makes one call where it made seven, and the leaves and their parents (about
    /// three quarters of its activations) run inline. The procedure's own tail calls stay as
    /// they are. A linear recursion gains too: Ackermann's function (one call not in tail
    /// position, whose copies' three calls become copies at the second level) ran 31% faster
    /// under the JIT, counting 7.5% fewer instructions.
    fn unroll_recursion(&mut self) {
        let candidates: Vec<(String, LamId)> = self
            .p
            .globals
            .iter()
            .filter_map(|(key, g)| Some((key.clone(), g.known?)))
            .filter(|(key, l)| {
                let lam = &self.p.lambdas[*l];
                lam.line != 0
                    && lam.rest.is_none()
                    && lam.body.as_ref().is_some_and(|b| {
                        size(self.p, b) <= UNROLL_BODY_LIMIT
                            && non_tail_self_calls(b, key, true) >= UNROLL_MIN_CALLS
                    })
            })
            .collect();
        for (key, l) in candidates {
            let Some(body) = self.p.lambdas[l].body.take() else {
                continue;
            };
            let levels = unroll_levels(self.p, &body, &key);
            let original = body.clone();
            let body = self.unroll(body, &key, l, &original, true, levels);
            self.p.lambdas[l].body = Some(body);
        }
    }

    /// `e` (in tail position when `tail`) of procedure `l` (global `key`, body `original`)
    /// with its calls of itself not in tail position replaced by copies of `original`, whose
    /// own calls of itself are replaced the same way while `levels` is above 1.
    fn unroll(
        &mut self,
        e: Expr,
        key: &str,
        l: LamId,
        original: &Expr,
        tail: bool,
        levels: usize,
    ) -> Expr {
        let tails: Vec<bool> = crate::analyse::children_in_tail(&e, tail)
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let mut next = tails.into_iter();
        let e = map_children(e, &mut |c| {
            let t = next.next().unwrap_or(false);
            self.unroll(c, key, l, original, t, levels)
        });
        match e {
            Expr::Call(f, args, line)
                if !tail
                    && matches!(&*f, Expr::Global(k) if k == key)
                    && args.len() == self.p.lambdas[l].params.len() =>
            {
                match self.instance(l, original) {
                    Some((params, body)) => {
                        let body = if levels > 1 {
                            self.unroll(body, key, l, original, false, levels - 1)
                        } else {
                            body
                        };
                        let body = in_scope(self.shown_name(l), line, body);
                        Expr::Let(params.into_iter().zip(args).collect(), Box::new(body))
                    }
                    None => Expr::Call(f, args, line),
                }
            }
            e => e,
        }
    }

    /// A fresh instance of procedure `l` whose body is `body`: new parameters and a copy of
    /// the body over them (see [`Self::copy`]; `None` if that fails).
    fn instance(&mut self, l: LamId, body: &Expr) -> Option<(Vec<VarId>, Expr)> {
        let mut map = HashMap::new();
        let params: Vec<VarId> = self.p.lambdas[l].params.clone();
        let params = params
            .into_iter()
            .map(|v| self.fresh_var(v, &mut map))
            .collect();
        Some((params, self.copy(body, &mut map)?))
    }

    fn uses(&self, v: VarId) -> Option<Uses> {
        self.counts.get(v).copied()
    }

    /// Sets the bodies of the lambdas `e` creates (and theirs) to `None`: nothing refers to them.
    fn kill(&mut self, e: &Expr) {
        if let Expr::Lambda(l) = e {
            if self.protected.contains(l) {
                return;
            }
            if let Some(b) = self.p.lambdas[*l].body.take() {
                self.kill(&b);
            }
        }
        for c in crate::analyse::children(e) {
            self.kill(c);
        }
    }

    fn fresh_var(&mut self, v: VarId, map: &mut HashMap<VarId, VarId>) -> VarId {
        let old = &self.p.vars[v];
        let var = Var {
            name: old.name.clone(),
            mutated: old.mutated,
            late: old.late,
            dummy: old.dummy,
            ..Var::default()
        };
        self.p.vars.push(var);
        let id = self.p.vars.len() - 1;
        map.insert(v, id);
        id
    }

    /// The name lambda `l` shows in backtraces.
    fn shown_name(&self, l: LamId) -> String {
        match self.shown.get(&l) {
            Some(name) => name.clone(),
            None => self.p.lambdas[l].name.clone(),
        }
    }

    fn fresh_name(&mut self, base: &str) -> String {
        let mut n = 2;
        loop {
            let name = format!("{base}~{n}");
            if self.names.insert(name.clone()) {
                return name;
            }
            n += 1;
        }
    }

    /// A copy of lambda `l` with fresh variables and lambdas; `None` if a lambda in it has no
    /// body here (it is being simplified, so it is recursive).
    fn copy_lambda(&mut self, l: LamId, map: &mut HashMap<VarId, VarId>) -> Option<LamId> {
        let old = self.p.lambdas[l].clone();
        let body = old.body.as_ref()?;
        let params = old.params.iter().map(|&v| self.fresh_var(v, map)).collect();
        let rest = old.rest.map(|v| self.fresh_var(v, map));
        let body = self.copy(body, map)?;
        let name = self.fresh_name(&old.name);
        let shown = self.shown_name(l);
        self.shown.insert(self.p.lambdas.len(), shown);
        self.p.lambdas.push(Lambda {
            name,
            params,
            rest,
            body: Some(body),
            line: old.line,
            ..Lambda::default()
        });
        Some(self.p.lambdas.len() - 1)
    }

    /// A copy of `e` with fresh binders (renamed through `map`) and fresh lambdas.
    fn copy(&mut self, e: &Expr, map: &mut HashMap<VarId, VarId>) -> Option<Expr> {
        let rename = |v: &VarId, map: &HashMap<VarId, VarId>| *map.get(v).unwrap_or(v);
        Some(match e {
            Expr::Local(v) => Expr::Local(rename(v, map)),
            Expr::SetLocal(v, x) => {
                let x = self.copy(x, map)?;
                Expr::SetLocal(rename(v, map), Box::new(x))
            }
            Expr::Lambda(l) => Expr::Lambda(self.copy_lambda(*l, map)?),
            Expr::Let(bs, b) => {
                // Initializers are outside the new scope: copy them before the binders.
                let mut inits = Vec::new();
                for (_, x) in bs {
                    inits.push(self.copy(x, map)?);
                }
                let vars: Vec<VarId> = bs.iter().map(|(v, _)| self.fresh_var(*v, map)).collect();
                let b = self.copy(b, map)?;
                Expr::Let(vars.into_iter().zip(inits).collect(), Box::new(b))
            }
            Expr::Letrec(bs, b) => {
                let vars: Vec<VarId> = bs.iter().map(|(v, _)| self.fresh_var(*v, map)).collect();
                let mut out = Vec::new();
                for ((_, x), v) in bs.iter().zip(vars) {
                    out.push((v, self.copy(x, map)?));
                }
                Expr::Letrec(out, Box::new(self.copy(b, map)?))
            }
            other => {
                let mut failed = false;
                let out = map_children(other.clone(), &mut |c| {
                    if failed {
                        return c;
                    }
                    match self.copy(&c, map) {
                        Some(x) => x,
                        None => {
                            failed = true;
                            c
                        }
                    }
                });
                if failed {
                    return None;
                }
                out
            }
        })
    }

    fn simplify(&mut self, e: Expr) -> Expr {
        match e {
            Expr::Let(bs, body) => self.simplify_let(bs, *body, false),
            Expr::Call(f, args, line) => {
                let f = self.simplify(*f);
                let args = args.into_iter().map(|a| self.simplify(a)).collect();
                self.call(f, args, line)
            }
            Expr::If(c, a, b) => {
                let c = self.simplify(*c);
                let known = match &c {
                    Expr::Lit(Lit::Bool(false)) => Some(false),
                    Expr::Lit(_) | Expr::Quoted(_) | Expr::Lambda(_) | Expr::Void => Some(true),
                    _ => None,
                };
                match known {
                    Some(taken) => {
                        self.changed = true;
                        let (keep, drop) = if taken { (*a, *b) } else { (*b, *a) };
                        self.kill(&drop);
                        self.simplify(keep)
                    }
                    None => {
                        let a = self.simplify(*a);
                        let b = self.simplify(*b);
                        Expr::If(Box::new(c), Box::new(a), Box::new(b))
                    }
                }
            }
            other => map_children(other, &mut |c| self.simplify(c)),
        }
    }

    /// A call of `f` (already simplified) with `args` (simplified).
    fn call(&mut self, f: Expr, args: Vec<Expr>, line: u32) -> Expr {
        match f {
            Expr::Global(ref key) if self.first_round && self.depth < DEPTH_LIMIT => {
                let Some(&l) = self.known.get(key) else {
                    return Expr::Call(Box::new(f), args, line);
                };
                if self.p.lambdas[l].params.len() != args.len() {
                    return Expr::Call(Box::new(f), args, line);
                }
                // Its body is absent while it is being simplified (a recursion the checks
                // missed): then it stays a call.
                let instance = match self.p.lambdas[l].body.clone() {
                    Some(body) => self.instance(l, &body),
                    None => None,
                };
                let Some((params, body)) = instance else {
                    return Expr::Call(Box::new(f), args, line);
                };
                self.changed = true;
                let bindings = params.into_iter().zip(args).collect();
                let body = in_scope(self.shown_name(l), line, body);
                self.depth += 1;
                let out = self.simplify_let(bindings, body, true);
                self.depth -= 1;
                out
            }
            Expr::Lambda(l)
                if self.p.lambdas[l].rest.is_none()
                    && self.p.lambdas[l].params.len() == args.len()
                    && self.p.lambdas[l].body.is_some()
                    && !self.protected.contains(&l) =>
            {
                self.changed = true;
                let lam = &mut self.p.lambdas[l];
                let body = lam.body.take().unwrap_or_else(|| unreachable!("checked"));
                let bindings = lam.params.iter().copied().zip(args).collect();
                let body = in_scope(self.shown_name(l), line, body);
                self.simplify_let(bindings, body, true)
            }
            Expr::Let(bs, inner)
                if bs.iter().all(|(_, x)| pure(self.p, x))
                    || args.iter().all(|a| pure(self.p, a)) =>
            {
                self.changed = true;
                let call = self.call(*inner, args, line);
                Expr::Let(bs, Box::new(call))
            }
            f => Expr::Call(Box::new(f), args, line),
        }
    }

    /// A `let` of `bs` (simplified already if `inits_done`: a call's arguments) around `body`.
    fn simplify_let(&mut self, bs: Vec<(VarId, Expr)>, body: Expr, inits_done: bool) -> Expr {
        let mut chain = Vec::new();
        let mut floated = false;
        for (v, x) in bs {
            let x = if inits_done { x } else { self.simplify(x) };
            floated |= flatten(v, x, &mut chain);
        }
        if floated {
            self.changed = true;
        }
        // Decide each binding, substituting into the rest of the chain and the body.
        let mut rest: Vec<Option<(VarId, Expr)>> = chain.into_iter().map(Some).collect();
        let mut body = body;
        for i in 0..rest.len() {
            let Some((v, x)) = rest[i].take() else {
                continue;
            };
            match self.decide(v, &x, &rest[i + 1..], &body) {
                Decision::Keep => rest[i] = Some((v, x)),
                Decision::Drop => {
                    self.changed = true;
                    self.kill(&x);
                }
                Decision::Substitute(mut r) => {
                    self.changed = true;
                    for (_, init) in rest[i + 1..].iter_mut().flatten() {
                        let e = std::mem::replace(init, Expr::Void);
                        *init = self.subst(e, v, &mut r);
                    }
                    body = self.subst(body, v, &mut r);
                    match r {
                        // The lambda was copied into each call: the original is dead.
                        Replace::Copies(l) => self.kill(&Expr::Lambda(l)),
                        Replace::Once(Some(lam)) => self.kill(&lam),
                        Replace::Once(None) | Replace::Value(_) => {}
                    }
                }
            }
        }
        let body = self.simplify(body);
        let kept: Vec<(VarId, Expr)> = rest.into_iter().flatten().collect();
        if kept.is_empty() {
            return body;
        }
        if floated {
            // Inner bindings now precede the ones that used them: a chain of single `let`s.
            kept.into_iter()
                .rev()
                .fold(body, |acc, (v, x)| Expr::Let(vec![(v, x)], Box::new(acc)))
        } else {
            Expr::Let(kept, Box::new(body))
        }
    }

    fn decide(
        &mut self,
        v: VarId,
        x: &Expr,
        later: &[Option<(VarId, Expr)>],
        body: &Expr,
    ) -> Decision {
        let Some(uses) = self.uses(v) else {
            return Decision::Keep;
        };
        let p = &*self.p;
        let var = &p.vars[v];
        if uses.all == 0 && pure(p, x) {
            return Decision::Drop;
        }
        if var.mutated || var.late || var.dummy {
            return Decision::Keep;
        }
        match x {
            Expr::Lambda(l) if uses.all == uses.ops && p.lambdas[*l].rest.is_none() => {
                // Only where every call reduces: each passes as many arguments as it takes.
                let lam = &p.lambdas[*l];
                let n = lam.params.len();
                let mut arities = Vec::new();
                for (_, init) in later.iter().flatten() {
                    call_arities(p, init, v, &mut arities);
                }
                call_arities(p, body, v, &mut arities);
                if arities.len() != uses.ops || arities.iter().any(|&a| a != n) {
                    return Decision::Keep;
                }
                if uses.ops == 1 {
                    return Decision::Substitute(Replace::Once(Some(x.clone())));
                }
                let small = lam
                    .body
                    .as_ref()
                    .is_some_and(|b| size(p, b) <= LOCAL_COPY_LIMIT);
                if uses.ops <= MAX_LOCAL_COPIES && small {
                    return Decision::Substitute(Replace::Copies(*l));
                }
                Decision::Keep
            }
            Expr::Local(w) if !p.vars[*w].mutated && !p.vars[*w].late => {
                Decision::Substitute(Replace::Value(x.clone()))
            }
            Expr::Lit(_) => Decision::Substitute(Replace::Value(x.clone())),
            _ => Decision::Keep,
        }
    }

    /// `e` with `v` replaced as `r` says, looking into the lambdas `e` creates.
    fn subst(&mut self, e: Expr, v: VarId, r: &mut Replace) -> Expr {
        match e {
            Expr::Local(w) if w == v => match r {
                Replace::Value(x) => x.clone(),
                _ => unreachable!("a lambda substituted only for call heads"),
            },
            Expr::Call(f, args, line) if matches!(*f, Expr::Local(w) if w == v) => {
                let head = match r {
                    Replace::Value(x) => x.clone(),
                    Replace::Once(lam) => lam.take().unwrap_or_else(|| unreachable!("one use")),
                    Replace::Copies(l) => {
                        let l = *l;
                        let mut map = HashMap::new();
                        match self.copy_lambda(l, &mut map) {
                            Some(c) => Expr::Lambda(c),
                            None => unreachable!("a let-bound lambda is not recursive"),
                        }
                    }
                };
                let args = args.into_iter().map(|a| self.subst(a, v, r)).collect();
                Expr::Call(Box::new(head), args, line)
            }
            Expr::Lambda(l) => {
                if let Some(b) = self.p.lambdas[l].body.take() {
                    let b = self.subst(b, v, r);
                    self.p.lambdas[l].body = Some(b);
                }
                Expr::Lambda(l)
            }
            other => map_children(other, &mut |c| self.subst(c, v, r)),
        }
    }
}

enum Decision {
    Keep,
    Drop,
    Substitute(Replace),
}

/// `body` of procedure `name`, inlined for a call at `line`, in an inline scope (a frame in
/// backtraces) — unless it only builds values, so that nothing in it can fail.
fn in_scope(name: String, line: u32, body: Expr) -> Expr {
    if alloc_only(&body) {
        body
    } else {
        Expr::Inlined(name, line, Box::new(body))
    }
}

/// How many levels of copies procedure `key` with body `body` gets when unrolled: the most, up
/// to [`UNROLL_LEVELS`], whose estimated size stays within [`UNROLL_TOTAL_LIMIT`] (at least 1).
fn unroll_levels(p: &Program, body: &Expr, key: &str) -> usize {
    // A copy is not in tail position: all of its calls of `key` become copies at the next level.
    let first = non_tail_self_calls(body, key, true);
    let in_copy = non_tail_self_calls(body, key, false);
    let body_size = size(p, body);
    let (mut levels, mut copies, mut level_copies) = (1, 1 + first, first);
    while levels < UNROLL_LEVELS {
        level_copies = level_copies.saturating_mul(in_copy);
        let more = copies.saturating_add(level_copies);
        if body_size.saturating_mul(more) > UNROLL_TOTAL_LIMIT {
            break;
        }
        copies = more;
        levels += 1;
    }
    levels
}

/// How many calls of global `key` in `e` (in tail position when `tail`; not looking into the
/// lambdas it creates) are not tail calls.
fn non_tail_self_calls(e: &Expr, key: &str, tail: bool) -> usize {
    let own =
        matches!(e, Expr::Call(f, _, _) if !tail && matches!(&**f, Expr::Global(k) if k == key));
    usize::from(own)
        + crate::analyse::children_in_tail(e, tail)
            .into_iter()
            .map(|(x, t)| non_tail_self_calls(x, key, t))
            .sum::<usize>()
}

/// Appends binding `v = x` to `chain`, first the bindings of `x` if it is a `let` (returns
/// whether it was).
fn flatten(v: VarId, x: Expr, chain: &mut Vec<(VarId, Expr)>) -> bool {
    match x {
        Expr::Let(bs, inner) => {
            for (w, y) in bs {
                flatten(w, y, chain);
            }
            flatten(v, *inner, chain);
            true
        }
        x => {
            chain.push((v, x));
            false
        }
    }
}

/// The argument counts of the calls whose head is variable `v` in `e` (and its lambdas).
fn call_arities(p: &Program, e: &Expr, v: VarId, out: &mut Vec<usize>) {
    match e {
        Expr::Call(f, args, _) if matches!(**f, Expr::Local(w) if w == v) => out.push(args.len()),
        Expr::Lambda(l) => {
            if let Some(b) = &p.lambdas[*l].body {
                call_arities(p, b, v, out);
            }
        }
        _ => {}
    }
    for c in crate::analyse::children(e) {
        call_arities(p, c, v, out);
    }
}

/// Whether `e` only binds and builds values: literals, variables, lambdas and `let`s of them.
/// Evaluating it cannot fail (but for running out of memory), call anything, or loop.
fn alloc_only(e: &Expr) -> bool {
    match e {
        Expr::Lit(_) | Expr::Void | Expr::Quoted(_) | Expr::Local(_) | Expr::Lambda(_) => true,
        Expr::Let(bs, body) => bs.iter().all(|(_, x)| alloc_only(x)) && alloc_only(body),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(vars: usize, body: Expr) -> Program {
        let mut p = Program {
            vars: vec![Var::default(); vars],
            ..Program::default()
        };
        p.lambdas.push(Lambda {
            name: "main".into(),
            body: Some(body),
            ..Lambda::default()
        });
        p
    }

    #[test]
    fn a_program_with_a_variable_bound_twice_is_left_alone() {
        let bind = |x: i64| Expr::Let(vec![(0, Expr::Lit(Lit::Int(x)))], Box::new(Expr::Local(0)));
        let mut p = program(1, Expr::Seq(vec![bind(1), bind(2)]));
        inline(&mut p);
        // Unchanged: the literals were not substituted for the variable.
        let Some(Expr::Seq(forms)) = &p.lambdas[0].body else {
            panic!("main changed shape")
        };
        assert!(
            forms.iter().all(|f| matches!(f, Expr::Let(..))),
            "{forms:?}"
        );
        // The same program with distinct variables is simplified to its literals.
        let mut p = program(
            2,
            Expr::Seq(vec![
                Expr::Let(vec![(0, Expr::Lit(Lit::Int(1)))], Box::new(Expr::Local(0))),
                Expr::Let(vec![(1, Expr::Lit(Lit::Int(2)))], Box::new(Expr::Local(1))),
            ]),
        );
        inline(&mut p);
        let Some(Expr::Seq(forms)) = &p.lambdas[0].body else {
            panic!("main changed shape")
        };
        assert!(
            matches!(forms[..], [Expr::Lit(Lit::Int(1)), Expr::Lit(Lit::Int(2))]),
            "{forms:?}"
        );
    }

    #[test]
    fn a_dropped_branch_keeps_a_known_procedure() {
        // (if #f (set! f (lambda () 1)) 0) where `f`'s lambda is a known procedure's.
        let mut p = program(0, Expr::Void);
        p.lambdas.push(Lambda {
            name: "f".into(),
            body: Some(Expr::Lit(Lit::Int(1))),
            toplevel: true,
            ..Lambda::default()
        });
        p.globals.push((
            "f".into(),
            GlobalInfo {
                defines: 1,
                known: Some(1),
                ..GlobalInfo::default()
            },
        ));
        p.lambdas[0].body = Some(Expr::If(
            Box::new(Expr::Lit(Lit::Bool(false))),
            Box::new(Expr::SetGlobal("f".into(), Box::new(Expr::Lambda(1)))),
            Box::new(Expr::Lit(Lit::Int(0))),
        ));
        inline(&mut p);
        assert!(matches!(p.lambdas[0].body, Some(Expr::Lit(Lit::Int(0)))));
        assert!(
            p.lambdas[1].body.is_some(),
            "the known procedure lost its body"
        );
    }
}
