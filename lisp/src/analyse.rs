//! Analysis between expansion and code generation: which variables escape, which local
//! procedures are lifted to top-level Sigma functions, which of those are loops compiled in
//! place, each lambda's free variables, and which variables live in heap boxes.
//!
//! Invariants established: a lifted lambda's variable is never `set!` and only ever called
//! (so it needs no value); an in-place loop is a lifted lambda bound alone by a `letrec` whose
//! body is one call of it, and every other reference to it is a call, with as many arguments
//! as it has parameters, in tail position of its own body (not inside a lambda);
//! `free` lists never contain lifted variables (a use of a lifted
//! procedure contributes that procedure's own free variables instead); a variable is boxed
//! exactly when it is `set!` and used by another lambda, or is a `letrec`/internal-define
//! variable captured by a closure (which may run before the variable is initialized).

use std::collections::BTreeSet;

use crate::ast::*;

/// The subexpressions of `e` (not the bodies of the lambdas it creates).
pub(crate) fn children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Lit(_)
        | Expr::Void
        | Expr::Quoted(_)
        | Expr::Local(_)
        | Expr::Global(_)
        | Expr::Lambda(_)
        | Expr::Fail(..) => vec![],
        Expr::SetLocal(_, x) | Expr::SetGlobal(_, x) | Expr::Inlined(_, _, x) => vec![x],
        Expr::If(a, b, c) => vec![a, b, c],
        Expr::Seq(v) => v.iter().collect(),
        Expr::Let(bs, b) | Expr::Letrec(bs, b) => bs
            .iter()
            .map(|(_, x)| x)
            .chain(std::iter::once(&**b))
            .collect(),
        Expr::Call(f, args, _) => std::iter::once(&**f).chain(args.iter()).collect(),
        Expr::Prim(_, args, _)
        | Expr::Sys(_, args, _)
        | Expr::Dispatch(_, args, _)
        | Expr::Record(_, args, _) => args.iter().collect(),
    }
}

/// The subexpressions of `e` (as [`children`], in that order), each with whether it is in
/// tail position when `e` is in tail position iff `tail`: the branches of an `if`, the last
/// form of a `begin`, the body of a `let`/`letrec` and of an inlined procedure.
pub(crate) fn children_in_tail(e: &Expr, tail: bool) -> Vec<(&Expr, bool)> {
    let kids = children(e);
    let n = kids.len();
    let inherits = |i: usize| match e {
        Expr::If(..) => i > 0,
        Expr::Seq(_) | Expr::Let(..) | Expr::Letrec(..) | Expr::Inlined(..) => i + 1 == n,
        _ => false,
    };
    kids.into_iter()
        .enumerate()
        .map(|(i, k)| (k, tail && inherits(i)))
        .collect()
}

fn mark_escapes(e: &Expr, vars: &mut [Var]) {
    match e {
        Expr::Local(v) => vars[*v].escapes = true,
        Expr::Call(f, args, _) => {
            if !matches!(**f, Expr::Local(_)) {
                mark_escapes(f, vars);
            }
            for a in args {
                mark_escapes(a, vars);
            }
        }
        _ => {
            for c in children(e) {
                mark_escapes(c, vars);
            }
        }
    }
}

fn find_lifts(e: &Expr, vars: &mut [Var], out: &mut Vec<(VarId, LamId)>) {
    if let Expr::Let(bs, _) | Expr::Letrec(bs, _) = e {
        for (v, init) in bs {
            if let Expr::Lambda(l) = init {
                let var = &vars[*v];
                if !var.mutated && !var.escapes && !var.dummy {
                    out.push((*v, *l));
                }
            }
        }
    }
    for c in children(e) {
        find_lifts(c, vars, out);
    }
}

/// Collects the lifted lambdas of `e`'s `letrec`s that are loops compiled in place: a named
/// `let` (a `letrec` binding only the procedure, whose body calls it) whose procedure calls
/// itself only in tail position and takes no rest argument. The code generator then evaluates
/// the first call's arguments into the parameters' registers, and each later call assigns
/// them and jumps back, so a loop that is not in tail position (a `do` in the middle of a
/// body, an inner loop) costs no call per entry.
fn find_loops(e: &Expr, p: &Program, out: &mut Vec<LamId>) {
    if let Expr::Letrec(bs, body) = e {
        if let [(v, Expr::Lambda(l))] = bs.as_slice() {
            if is_loop(p, *v, *l, body) {
                out.push(*l);
            }
        }
    }
    for c in children(e) {
        find_loops(c, p, out);
    }
}

/// Whether lifted lambda `l`, bound to `v` by a `letrec` whose body is `body`, is a loop
/// compiled in place (see [`find_loops`]).
fn is_loop(p: &Program, v: VarId, l: LamId, body: &Expr) -> bool {
    let lam = &p.lambdas[l];
    let arity = lam.params.len();
    // The `letrec`'s body is the entry: exactly one call of the loop, checked as the loop's
    // own calls are.
    let entry = matches!(body, Expr::Call(f, _, _) if matches!(**f, Expr::Local(w) if w == v))
        && only_tail_calls(p, body, v, arity, true);
    p.vars[v].lifted == Some(l)
        && lam.rest.is_none()
        && entry
        && lam
            .body
            .as_ref()
            .is_some_and(|b| only_tail_calls(p, b, v, arity, true))
}

/// Whether every reference to `v` in `e` (in tail position when `tail`) is the operator of a
/// call in tail position with `arity` arguments, none inside a lambda `e` creates.
fn only_tail_calls(p: &Program, e: &Expr, v: VarId, arity: usize, tail: bool) -> bool {
    match e {
        Expr::Call(f, args, _) if matches!(**f, Expr::Local(w) if w == v) => {
            tail && args.len() == arity && !args.iter().any(|a| refers(p, a, v))
        }
        Expr::Local(w) | Expr::SetLocal(w, _) if *w == v => false,
        Expr::Lambda(_) => !refers(p, e, v),
        _ => children_in_tail(e, tail)
            .into_iter()
            .all(|(c, t)| only_tail_calls(p, c, v, arity, t)),
    }
}

/// Whether `e` (or a lambda it creates) refers to variable `v`.
fn refers(p: &Program, e: &Expr, v: VarId) -> bool {
    match e {
        Expr::Local(w) | Expr::SetLocal(w, _) if *w == v => true,
        Expr::Lambda(l) => p.lambdas[*l].body.as_ref().is_some_and(|b| refers(p, b, v)),
        _ => children(e).into_iter().any(|c| refers(p, c, v)),
    }
}

#[derive(Default, Clone)]
struct Uses {
    refs: BTreeSet<VarId>,
    lifted: BTreeSet<VarId>,
    bound: BTreeSet<VarId>,
}

fn collect(e: &Expr, p: &Program, u: &mut Uses) {
    match e {
        Expr::Local(v) | Expr::SetLocal(v, _) => {
            if p.vars[*v].lifted.is_some() {
                u.lifted.insert(*v);
            } else {
                u.refs.insert(*v);
            }
        }
        Expr::Lambda(l) => {
            let lam = &p.lambdas[*l];
            u.bound.extend(lam.params.iter().copied());
            u.bound.extend(lam.rest);
            if let Some(b) = &lam.body {
                collect(b, p, u);
            }
        }
        Expr::Let(bs, _) | Expr::Letrec(bs, _) => {
            for (v, _) in bs {
                u.bound.insert(*v);
            }
        }
        _ => {}
    }
    for c in children(e) {
        collect(c, p, u);
    }
}

/// Runs the analysis, filling in [`Var`] and [`Lambda`] facts.
pub fn analyse(p: &mut Program) {
    // 1. Escapes.
    let mut vars = std::mem::take(&mut p.vars);
    for lam in &p.lambdas {
        if let Some(b) = &lam.body {
            mark_escapes(b, &mut vars);
        }
    }
    // 2. Lifting.
    let mut lifts = Vec::new();
    for lam in &p.lambdas {
        if let Some(b) = &lam.body {
            find_lifts(b, &mut vars, &mut lifts);
        }
    }
    for (v, l) in lifts {
        vars[v].lifted = Some(l);
        p.lambdas[l].lifted_as = Some(v);
    }
    p.vars = vars;
    // 2b. Loops compiled in place (lifted lambdas; their free variables are computed as for
    // any lifted lambda, and the function binding them has them all).
    let mut loops = Vec::new();
    for lam in &p.lambdas {
        if let Some(b) = &lam.body {
            find_loops(b, p, &mut loops);
        }
    }
    for l in loops {
        p.lambdas[l].in_place = true;
    }
    // 3. Free variables, to a fixpoint through lifted procedures.
    let uses: Vec<Uses> = p
        .lambdas
        .iter()
        .map(|lam| {
            let mut u = Uses::default();
            u.bound.extend(lam.params.iter().copied());
            u.bound.extend(lam.rest);
            if let Some(b) = &lam.body {
                collect(b, p, &mut u);
            }
            u
        })
        .collect();
    let mut free: Vec<BTreeSet<VarId>> = uses
        .iter()
        .map(|u| u.refs.difference(&u.bound).copied().collect())
        .collect();
    loop {
        let mut changed = false;
        for (i, u) in uses.iter().enumerate() {
            for g in &u.lifted {
                let Some(gl) = p.vars[*g].lifted else {
                    continue;
                };
                if gl == i {
                    continue;
                }
                let add: Vec<VarId> = free[gl]
                    .iter()
                    .filter(|v| !u.bound.contains(v))
                    .copied()
                    .collect();
                for v in add {
                    changed |= free[i].insert(v);
                }
            }
        }
        if !changed {
            break;
        }
    }
    // 4. Boxes.
    for (i, f) in free.iter().enumerate() {
        let closure = p.lambdas[i].lifted_as.is_none();
        for &v in f {
            let var = &mut p.vars[v];
            if var.mutated || (var.late && closure) {
                var.boxed = true;
            }
        }
    }
    for (lam, f) in p.lambdas.iter_mut().zip(free) {
        lam.free = f.into_iter().collect();
    }
}
