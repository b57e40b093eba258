//! Dead-code elimination of the prelude: only the prelude definitions a program can reach
//! (from its own forms, its methods and the procedures the code generator calls, such as
//! `%apply`) are kept, so small programs compile, load and JIT-compile quickly.
//!
//! Invariants: user forms and prelude forms that are not definitions are always kept; a
//! removed lambda's body is set to `None` and the code generator skips it; nothing a kept form
//! refers to (by global key or by lambda) is removed.

use std::collections::{HashMap, HashSet};

use crate::ast::*;

/// Globals the code generator refers to directly.
const ROOTS: &[&str] = &[
    "%apply",
    "%repl-print",
    "call-with-values",
    "%append2",
    "list->vector",
    "%make-promise",
];

fn scan(e: &Expr, p: &Program, keys: &mut Vec<String>, lams: &mut Vec<LamId>) {
    match e {
        Expr::Global(k) | Expr::SetGlobal(k, _) => keys.push(k.clone()),
        Expr::Lambda(l) => lams.push(*l),
        _ => {}
    }
    let mut kids: Vec<&Expr> = Vec::new();
    match e {
        Expr::SetLocal(_, x) | Expr::SetGlobal(_, x) | Expr::Inlined(_, _, x) => kids.push(x),
        Expr::If(a, b, c) => kids.extend([&**a, &**b, &**c]),
        Expr::Seq(v) => kids.extend(v.iter()),
        Expr::Let(bs, b) | Expr::Letrec(bs, b) => {
            kids.extend(bs.iter().map(|(_, x)| x));
            kids.push(b);
        }
        Expr::Call(f, a, _) => {
            kids.push(f);
            kids.extend(a.iter());
        }
        Expr::Prim(_, a, _)
        | Expr::Sys(_, a, _)
        | Expr::Dispatch(_, a, _)
        | Expr::Record(_, a, _) => kids.extend(a.iter()),
        _ => {}
    }
    let _ = p;
    for k in kids {
        scan(k, p, keys, lams);
    }
}

/// Removes unreachable prelude definitions from `main` and their lambdas.
pub fn prune(p: &mut Program) {
    let Some(Expr::Seq(forms)) = p.lambdas[0].body.take() else {
        return;
    };
    // Prelude definitions by key.
    let mut defs: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, f) in forms.iter().enumerate().take(p.prelude_forms) {
        if let Expr::SetGlobal(k, _) = f {
            defs.entry(k.clone()).or_default().push(i);
        }
    }
    let mut keep = vec![false; forms.len()];
    let mut keys: Vec<String> = ROOTS.iter().map(|s| (*s).to_owned()).collect();
    let mut lams: Vec<LamId> = Vec::new();
    for (i, f) in forms.iter().enumerate() {
        if i >= p.prelude_forms || !matches!(f, Expr::SetGlobal(..)) {
            keep[i] = true;
            scan(f, p, &mut keys, &mut lams);
        }
    }
    for m in &p.methods {
        lams.push(m.lambda);
    }
    let mut seen_keys = HashSet::new();
    let mut seen_lams = HashSet::new();
    seen_lams.insert(0);
    loop {
        if let Some(k) = keys.pop() {
            if seen_keys.insert(k.clone()) {
                for &i in defs.get(&k).map(Vec::as_slice).unwrap_or(&[]) {
                    if !keep[i] {
                        keep[i] = true;
                        scan(&forms[i], p, &mut keys, &mut lams);
                    }
                }
            }
            continue;
        }
        if let Some(l) = lams.pop() {
            if seen_lams.insert(l) {
                if let Some(b) = &p.lambdas[l].body {
                    scan(b, p, &mut keys, &mut lams);
                }
            }
            continue;
        }
        break;
    }
    let kept: Vec<Expr> = forms
        .into_iter()
        .zip(keep)
        .filter_map(|(f, k)| k.then_some(f))
        .collect();
    p.lambdas[0].body = Some(Expr::Seq(kept));
    for (i, lam) in p.lambdas.iter_mut().enumerate() {
        if !seen_lams.contains(&i) {
            lam.body = None;
        }
    }
}
