//! `syntax-rules` macros (`define-syntax` at top level): pattern matching with literals, `_`,
//! ellipses (`...`, also before a tail and in dotted patterns) and template instantiation.
//!
//! Hygiene is approximated: a template symbol that is not a pattern variable and names
//! nothing known where the macro is defined (no special form, primitive, global or local) is
//! renamed freshly at each expansion, so temporaries a template binds (`tmp`, `loop`) cannot
//! capture the user's variables. Templates that mean to refer to a use-site local by name do
//! not work (that is unhygienic anyway).
//!
//! Invariants: matching and instantiation never panic on any input; a form no rule matches
//! is a syntax error naming the macro.

use std::collections::HashMap;

use crate::reader::{Datum, Sx};

/// One `syntax-rules` macro.
#[derive(Clone, Debug)]
pub struct Macro {
    /// Literal symbols.
    pub literals: Vec<String>,
    /// (pattern, template) pairs; patterns without the macro keyword.
    pub rules: Vec<(Sx, Sx)>,
    /// The ellipsis symbol (`...` unless given).
    pub ellipsis: String,
}

#[derive(Clone, Debug)]
enum Binding {
    One(Sx),
    Many(Vec<Binding>),
}

/// Parses `(syntax-rules (literal ...) (pattern template) ...)`.
pub fn parse(spec: &Sx) -> Result<Macro, String> {
    let items = spec
        .list()
        .ok_or("expected (syntax-rules (literal ...) (pattern template) ...)")?;
    if items.first().and_then(Sx::sym) != Some("syntax-rules") {
        return Err("only `syntax-rules` transformers are supported".into());
    }
    let mut rest = &items[1..];
    let mut ellipsis = "...".to_owned();
    if let Some(e) = rest.first().and_then(Sx::sym) {
        ellipsis = e.to_owned();
        rest = &rest[1..];
    }
    let Some((lits, rules)) = rest.split_first() else {
        return Err("`syntax-rules` needs a literal list".into());
    };
    let literals = lits
        .list()
        .ok_or("the literals of `syntax-rules` must be a list")?
        .iter()
        .map(|l| {
            l.sym()
                .map(str::to_owned)
                .ok_or("a literal must be a symbol")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for r in rules {
        match r.list() {
            Some([p, t]) => {
                // Drop the keyword position of the pattern.
                let pat = match &p.d {
                    Datum::List(items, tail) if !items.is_empty() => Sx {
                        d: Datum::List(items[1..].to_vec(), tail.clone()),
                        pos: p.pos,
                    },
                    _ => return Err("a `syntax-rules` pattern must be a list".into()),
                };
                out.push((pat, t.clone()));
            }
            _ => return Err("a `syntax-rules` rule must be (pattern template)".into()),
        }
    }
    Ok(Macro {
        literals,
        rules: out,
        ellipsis,
    })
}

impl Macro {
    /// Expands `form` (the whole macro use); `known` says whether a template symbol names
    /// something at the definition site; `fresh` is a suffix unique to this expansion.
    pub fn expand(&self, form: &Sx, known: &dyn Fn(&str) -> bool, fresh: usize) -> Option<Sx> {
        let args = match &form.d {
            Datum::List(items, tail) if !items.is_empty() => Sx {
                d: Datum::List(items[1..].to_vec(), tail.clone()),
                pos: form.pos,
            },
            _ => return None,
        };
        for (pat, tmpl) in &self.rules {
            let mut b = HashMap::new();
            if self.matches(pat, &args, &mut b) {
                // Variables the template itself binds are always renamed, even when a global
                // of the same name exists (`tmp` in a swap! macro).
                let mut binders = Vec::new();
                template_binders(tmpl, &mut binders);
                let mut renames: HashMap<String, String> = binders
                    .into_iter()
                    .filter(|v| !b.contains_key(v) && *v != self.ellipsis)
                    .map(|v| {
                        let r = format!("{v}%{fresh}");
                        (v, r)
                    })
                    .collect();
                return self.instantiate(tmpl, &b, known, fresh, &mut renames, form);
            }
        }
        None
    }

    fn is_ellipsis(&self, x: &Sx) -> bool {
        x.sym() == Some(self.ellipsis.as_str())
    }

    fn matches(&self, pat: &Sx, form: &Sx, b: &mut HashMap<String, Binding>) -> bool {
        match &pat.d {
            Datum::Sym(s) if s == "_" => true,
            Datum::Sym(s) if self.literals.contains(s) => form.sym() == Some(s.as_str()),
            Datum::Sym(s) => {
                b.insert(s.clone(), Binding::One(form.clone()));
                true
            }
            Datum::List(pitems, ptail) => {
                let (fitems, ftail): (&[Sx], Option<&Sx>) = match &form.d {
                    Datum::List(i, t) => (i, t.as_deref()),
                    _ => (&[], Some(form)),
                };
                let ell = pitems.iter().position(|p| self.is_ellipsis(p));
                match ell {
                    Some(e) if e > 0 => {
                        let before = &pitems[..e - 1];
                        let rep = &pitems[e - 1];
                        let after = &pitems[e + 1..];
                        if fitems.len() < before.len() + after.len() {
                            return false;
                        }
                        for (p, f) in before.iter().zip(fitems) {
                            if !self.matches(p, f, b) {
                                return false;
                            }
                        }
                        let n_rep = fitems.len() - before.len() - after.len();
                        let mut reps = Vec::new();
                        for f in &fitems[before.len()..before.len() + n_rep] {
                            let mut inner = HashMap::new();
                            if !self.matches(rep, f, &mut inner) {
                                return false;
                            }
                            reps.push(inner);
                        }
                        for v in pattern_vars(rep, self) {
                            let seq = reps
                                .iter()
                                .map(|m| m.get(&v).cloned().unwrap_or(Binding::Many(vec![])))
                                .collect();
                            b.insert(v, Binding::Many(seq));
                        }
                        for (p, f) in after.iter().zip(&fitems[before.len() + n_rep..]) {
                            if !self.matches(p, f, b) {
                                return false;
                            }
                        }
                        match (ptail, ftail) {
                            (None, None) => true,
                            (Some(pt), _) => {
                                let rest = ftail.cloned().unwrap_or(Sx {
                                    d: Datum::List(vec![], None),
                                    pos: form.pos,
                                });
                                self.matches(pt, &rest, b)
                            }
                            _ => false,
                        }
                    }
                    Some(_) => false,
                    None => {
                        if ptail.is_none() && (fitems.len() != pitems.len() || ftail.is_some()) {
                            return false;
                        }
                        if fitems.len() < pitems.len() {
                            return false;
                        }
                        for (p, f) in pitems.iter().zip(fitems) {
                            if !self.matches(p, f, b) {
                                return false;
                            }
                        }
                        match ptail {
                            None => true,
                            Some(pt) => {
                                let rest_items = fitems[pitems.len()..].to_vec();
                                let rest = Sx {
                                    d: Datum::List(rest_items, ftail.map(|t| Box::new(t.clone()))),
                                    pos: form.pos,
                                };
                                let rest = match &rest.d {
                                    Datum::List(i, Some(t)) if i.is_empty() => (**t).clone(),
                                    _ => rest,
                                };
                                self.matches(pt, &rest, b)
                            }
                        }
                    }
                }
            }
            other => form.d == *other,
        }
    }

    fn instantiate(
        &self,
        t: &Sx,
        b: &HashMap<String, Binding>,
        known: &dyn Fn(&str) -> bool,
        fresh: usize,
        renames: &mut HashMap<String, String>,
        form: &Sx,
    ) -> Option<Sx> {
        let pos = form.pos;
        Some(match &t.d {
            Datum::Sym(s) => match b.get(s) {
                Some(Binding::One(x)) => x.clone(),
                Some(Binding::Many(_)) => return None,
                None => {
                    if let Some(r) = renames.get(s) {
                        Sx {
                            d: Datum::Sym(r.clone()),
                            pos,
                        }
                    } else if known(s) || s == &self.ellipsis {
                        Sx {
                            d: t.d.clone(),
                            pos,
                        }
                    } else {
                        let r = renames
                            .entry(s.clone())
                            .or_insert_with(|| format!("{s}%{fresh}"))
                            .clone();
                        Sx {
                            d: Datum::Sym(r),
                            pos,
                        }
                    }
                }
            },
            Datum::List(items, tail) => {
                // (... ...) escapes the ellipsis.
                if items.len() == 2 && self.is_ellipsis(&items[0]) && tail.is_none() {
                    return Some(items[1].clone());
                }
                let mut out = Vec::new();
                let mut i = 0;
                while i < items.len() {
                    let it = &items[i];
                    let followed = items.get(i + 1).is_some_and(|n| self.is_ellipsis(n));
                    if followed {
                        let vars: Vec<String> = pattern_vars(it, self)
                            .into_iter()
                            .filter(|v| matches!(b.get(v), Some(Binding::Many(_))))
                            .collect();
                        let n = vars
                            .iter()
                            .filter_map(|v| match b.get(v) {
                                Some(Binding::Many(seq)) => Some(seq.len()),
                                _ => None,
                            })
                            .max()?;
                        for k in 0..n {
                            let mut inner = b.clone();
                            for v in &vars {
                                if let Some(Binding::Many(seq)) = b.get(v) {
                                    match seq.get(k) {
                                        Some(x) => inner.insert(v.clone(), x.clone()),
                                        None => return None,
                                    };
                                }
                            }
                            out.push(self.instantiate(it, &inner, known, fresh, renames, form)?);
                        }
                        i += 2;
                    } else {
                        out.push(self.instantiate(it, b, known, fresh, renames, form)?);
                        i += 1;
                    }
                }
                let tail = match tail {
                    Some(t) => Some(Box::new(
                        self.instantiate(t, b, known, fresh, renames, form)?,
                    )),
                    None => None,
                };
                Sx {
                    d: Datum::List(out, tail),
                    pos,
                }
            }
            Datum::Vector(items) => {
                let l = Sx {
                    d: Datum::List(items.clone(), None),
                    pos,
                };
                match self.instantiate(&l, b, known, fresh, renames, form)?.d {
                    Datum::List(v, None) => Sx {
                        d: Datum::Vector(v),
                        pos,
                    },
                    _ => return None,
                }
            }
            other => Sx {
                d: other.clone(),
                pos,
            },
        })
    }
}

/// Symbols a template binds: `let`/`let*`/`letrec`/`letrec*`/`do` variables, named-`let`
/// names and `lambda`/`define` parameters.
fn template_binders(t: &Sx, out: &mut Vec<String>) {
    let Some(items) = (match &t.d {
        Datum::List(items, _) => Some(items),
        _ => None,
    }) else {
        return;
    };
    let head = items.first().and_then(Sx::sym);
    let params = |p: &Sx, out: &mut Vec<String>| match &p.d {
        Datum::Sym(s) => out.push(s.clone()),
        Datum::List(ps, tail) => {
            out.extend(ps.iter().filter_map(Sx::sym).map(str::to_owned));
            if let Some(s) = tail.as_deref().and_then(Sx::sym) {
                out.push(s.to_owned());
            }
        }
        _ => {}
    };
    match head {
        Some("let" | "let*" | "letrec" | "letrec*" | "do") => {
            let mut k = 1;
            if let Some(name) = items.get(1).and_then(Sx::sym) {
                out.push(name.to_owned());
                k = 2;
            }
            if let Some(bs) = items.get(k).and_then(Sx::list) {
                for b in bs {
                    if let Some(v) = b.list().and_then(|l| l.first()).and_then(Sx::sym) {
                        out.push(v.to_owned());
                    }
                }
            }
        }
        Some("lambda") => {
            if let Some(p) = items.get(1) {
                params(p, out);
            }
        }
        Some("define") => {
            if let Some(Datum::List(ps, tail)) = items.get(1).map(|x| &x.d) {
                out.extend(ps.iter().skip(1).filter_map(Sx::sym).map(str::to_owned));
                if let Some(s) = tail.as_deref().and_then(Sx::sym) {
                    out.push(s.to_owned());
                }
            }
        }
        _ => {}
    }
    for i in items {
        template_binders(i, out);
    }
}

/// The pattern variables of a pattern (symbols other than literals, `_` and the ellipsis).
fn pattern_vars(p: &Sx, m: &Macro) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(p: &Sx, m: &Macro, out: &mut Vec<String>) {
        match &p.d {
            Datum::Sym(s) if s != "_" && *s != m.ellipsis && !m.literals.contains(s) => {
                out.push(s.clone())
            }
            Datum::List(items, tail) => {
                for i in items {
                    walk(i, m, out);
                }
                if let Some(t) = tail {
                    walk(t, m, out);
                }
            }
            Datum::Vector(items) => {
                for i in items {
                    walk(i, m, out);
                }
            }
            _ => {}
        }
    }
    walk(p, m, &mut out);
    out
}
