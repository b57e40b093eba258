//! The expander: Scheme data ([`Sx`]) to the core language ([`Expr`]), resolving names.
//!
//! Invariants: local names shadow special forms, primitives and globals; a primitive name is
//! inlined only where it is not shadowed (user top-level definitions shadow primitives in user
//! code, never in the prelude). A user definition of a name the prelude also defines gets its
//! own global key (`name@user`), so the prelude keeps using its own. Every syntax error is an
//! [`ExpandError`] with the position of the offending datum; nothing here panics on bad input.

use std::collections::{HashMap, HashSet};

use crate::ast::*;
use crate::reader::{Datum, Pos, Sx};

/// A syntax error found while expanding.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpandError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
    /// Whether it is in the prelude (a bug in slisp itself).
    pub in_prelude: bool,
}

type R<T> = Result<T, ExpandError>;

/// Inline primitives: name, minimum and maximum argument counts.
pub const PRIMS: &[(&str, usize, usize)] = &[
    ("car", 1, 1),
    ("cdr", 1, 1),
    ("cons", 2, 2),
    ("set-car!", 2, 2),
    ("set-cdr!", 2, 2),
    ("null?", 1, 1),
    ("pair?", 1, 1),
    ("not", 1, 1),
    ("eq?", 2, 2),
    ("eqv?", 2, 2),
    ("+", 0, usize::MAX),
    ("-", 1, usize::MAX),
    ("*", 0, usize::MAX),
    ("quotient", 2, 2),
    ("remainder", 2, 2),
    ("modulo", 2, 2),
    ("<", 2, 2),
    (">", 2, 2),
    ("<=", 2, 2),
    (">=", 2, 2),
    ("=", 2, 2),
    ("zero?", 1, 1),
    ("positive?", 1, 1),
    ("negative?", 1, 1),
    ("odd?", 1, 1),
    ("even?", 1, 1),
    ("vector-ref", 2, 2),
    ("vector-set!", 3, 3),
    ("vector-length", 1, 1),
    ("vector?", 1, 1),
    ("make-vector", 1, 2),
    ("vector", 0, usize::MAX),
    ("list", 0, usize::MAX),
    ("string?", 1, 1),
    ("symbol?", 1, 1),
    ("char?", 1, 1),
    ("boolean?", 1, 1),
    ("char->integer", 1, 1),
    ("integer->char", 1, 1),
    ("char=?", 2, 2),
    ("char<?", 2, 2),
    ("char>?", 2, 2),
    ("char<=?", 2, 2),
    ("char>=?", 2, 2),
    ("string-length", 1, 1),
    ("string-ref", 2, 2),
    ("abs", 1, 1),
    ("bytevector-u8-ref", 2, 2),
    ("bytevector-u8-set!", 3, 3),
    ("bytevector-length", 1, 1),
    ("bytevector?", 1, 1),
    ("eof-object", 0, 0),
    ("eof-object?", 1, 1),
    ("%neg", 1, 1),
    ("%callv", 1, usize::MAX),
    ("%fn?", 1, 1),
    ("%varproc?", 1, 1),
    ("%varproc-fn", 1, 1),
    ("%varproc-nreq", 1, 1),
    ("%make-varproc", 2, 2),
    ("%int?", 1, 1),
    ("%float?", 1, 1),
    ("%array?", 1, 1),
    ("%itof", 1, 1),
    ("%ftoi", 1, 1),
    ("%sqrt", 1, 1),
    ("%floor", 1, 1),
    ("%ceil", 1, 1),
    ("%trunc", 1, 1),
    ("%round", 1, 1),
    ("%div", 2, 2),
    ("%rem", 2, 2),
    ("%pow", 2, 2),
    ("%concat", 2, 2),
    ("%slen", 1, 1),
    ("%sget", 2, 2),
    ("%substr", 3, 3),
    ("%tostr", 1, 1),
    ("%sval", 1, 1),
    ("%mkstr", 1, 1),
    ("%set-sval!", 2, 2),
    ("%newarr", 2, 2),
    ("%apush", 2, 2),
    ("%newbytes", 1, 1),
    ("%newmap", 0, 0),
    ("%mget", 2, 2),
    ("%mset", 3, 3),
    ("%mdel", 2, 2),
    ("%mlen", 1, 1),
    ("%mkeys", 1, 1),
    ("%void", 0, 0),
    ("%void?", 1, 1),
    ("%values", 1, 1),
    ("%values?", 1, 1),
    ("%values-arr", 1, 1),
    ("%values2", 2, 2),
    ("%values2?", 1, 1),
    ("%values2-first", 1, 1),
    ("%values2-second", 1, 1),
    ("%typeof", 1, 1),
    ("%band", 2, 2),
    ("%bor", 2, 2),
    ("%bxor", 2, 2),
    ("%bnot", 1, 1),
    ("%shl", 2, 2),
    ("%sar", 2, 2),
    ("%num=", 2, 2),
    ("%fail", 1, 1),
];

fn prim(name: &str) -> Option<(&'static str, usize, usize)> {
    PRIMS.iter().find(|p| p.0 == name).copied()
}

const SPECIAL: &[&str] = &[
    "quote",
    "quasiquote",
    "lambda",
    "define",
    "set!",
    "if",
    "begin",
    "let",
    "let*",
    "letrec",
    "letrec*",
    "cond",
    "case",
    "and",
    "or",
    "when",
    "unless",
    "do",
    "let-values",
    "let*-values",
    "define-record-type",
    "define-generic",
    "define-method",
    "assert",
    "import",
    "%sys",
    "%raw",
    "delay",
    "define-values",
    "case-lambda",
    "define-syntax",
    "parameterize",
];

/// Turns programs into [`Program`]s.
pub struct Expander {
    /// The program being built.
    pub prog: Program,
    global_index: HashMap<String, usize>,
    scope: Vec<(String, VarId)>,
    in_prelude: bool,
    user_defs: HashSet<String>,
    prelude_defs: HashSet<String>,
    file: String,
    strings: HashMap<String, usize>,
    symbols: HashSet<String>,
    fn_names: HashMap<String, usize>,
    main_body: Vec<Expr>,
    rewrites: usize,
    macros: HashMap<String, crate::macros::Macro>,
    macro_uses: usize,
    macro_depth: usize,
}

fn err<T>(pos: Pos, message: impl Into<String>) -> R<T> {
    Err(ExpandError {
        pos,
        message: message.into(),
        in_prelude: false,
    })
}

/// The names a top-level form defines.
fn scan_defs(sx: &Sx, out: &mut HashSet<String>) {
    let Some(items) = sx.list() else { return };
    let Some(head) = items.first().and_then(Sx::sym) else {
        return;
    };
    match head {
        "define" | "define-generic" => match items.get(1).map(|x| &x.d) {
            Some(Datum::Sym(s)) => {
                out.insert(s.clone());
            }
            Some(Datum::List(l, _)) => {
                if let Some(s) = l.first().and_then(Sx::sym) {
                    out.insert(s.to_owned());
                }
            }
            _ => {}
        },
        "begin" => {
            for x in &items[1..] {
                scan_defs(x, out);
            }
        }
        "define-record-type" => {
            if let Some(c) = items.get(2) {
                if let Some(s) = c
                    .list()
                    .and_then(|l| l.first())
                    .and_then(Sx::sym)
                    .or(c.sym())
                {
                    out.insert(s.to_owned());
                }
            }
            if let Some(s) = items.get(3).and_then(Sx::sym) {
                out.insert(s.to_owned());
            }
            for f in items.iter().skip(4) {
                if let Some(l) = f.list() {
                    for a in l.iter().skip(1) {
                        if let Some(s) = a.sym() {
                            out.insert(s.to_owned());
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

impl Expander {
    /// A new expander; `file` names the user's source in generated lambda names.
    pub fn new(file: &str) -> Self {
        let mut e = Expander {
            prog: Program::default(),
            global_index: HashMap::new(),
            scope: Vec::new(),
            in_prelude: false,
            user_defs: HashSet::new(),
            prelude_defs: HashSet::new(),
            file: file.to_owned(),
            strings: HashMap::new(),
            symbols: HashSet::new(),
            fn_names: HashMap::new(),
            main_body: Vec::new(),
            rewrites: 0,
            macros: HashMap::new(),
            macro_uses: 0,
            macro_depth: 0,
        };
        e.prog.lambdas.push(Lambda {
            name: "main".into(),
            ..Lambda::default()
        });
        e.fn_names.insert("main".into(), 1);
        e
    }

    /// Expands the prelude's forms.
    pub fn prelude(&mut self, forms: &[Sx]) -> R<()> {
        self.in_prelude = true;
        for f in forms {
            scan_defs(f, &mut self.prelude_defs);
        }
        for f in forms {
            self.toplevel(f).map_err(|mut e| {
                e.in_prelude = true;
                e
            })?;
        }
        self.in_prelude = false;
        self.prog.prelude_forms = self.main_body.len();
        Ok(())
    }

    /// Expands the user program's forms. With `repl_print`, the value of a final expression
    /// is written (the REPL's echo).
    pub fn user(&mut self, forms: &[Sx], repl_print: bool) -> R<()> {
        self.declare_user(forms);
        for (i, f) in forms.iter().enumerate() {
            let last = i + 1 == forms.len();
            if repl_print && last && !is_definition(f) {
                let e = self.expr(f)?;
                let key = "%repl-print".to_owned();
                self.main_body
                    .push(Expr::Call(Box::new(Expr::Global(key)), vec![e], 0));
            } else {
                self.toplevel(f)?;
            }
        }
        Ok(())
    }

    /// Declares the names a user program defines at top level (before expanding any of its
    /// parts, when it is expanded in several chunks).
    pub fn declare_user(&mut self, forms: &[Sx]) {
        for f in forms {
            scan_defs(f, &mut self.user_defs);
        }
    }

    /// Finishes: `main` gets the top-level forms; returns the program (not yet analysed).
    pub fn finish(mut self) -> Program {
        let mut body = std::mem::take(&mut self.main_body);
        body.push(Expr::Lit(Lit::Int(0)));
        self.prog.lambdas[0].body = Some(Expr::Seq(body));
        for (_, g) in &mut self.prog.globals {
            if g.defines != 1 || g.assigned {
                g.known = None;
                g.rec_op = None;
                g.generic = None;
            }
        }
        let mut syms: Vec<String> = self.symbols.into_iter().collect();
        syms.sort();
        self.prog.symbols = syms;
        self.prog
    }

    fn line(&self, pos: Pos) -> u32 {
        if self.in_prelude {
            0
        } else {
            pos.line
        }
    }

    fn unique_fn_name(&mut self, base: &str) -> String {
        let n = self.fn_names.entry(base.to_owned()).or_insert(0);
        *n += 1;
        if *n == 1 {
            base.to_owned()
        } else {
            format!("{base}~{n}")
        }
    }

    fn lookup(&self, name: &str) -> Option<VarId> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    fn new_var(&mut self, name: &str) -> VarId {
        self.prog.vars.push(Var {
            name: name.to_owned(),
            ..Var::default()
        });
        self.prog.vars.len() - 1
    }

    fn gkey(&self, name: &str) -> String {
        if !self.in_prelude && self.user_defs.contains(name) && self.prelude_defs.contains(name) {
            format!("{name}@user")
        } else {
            name.to_owned()
        }
    }

    fn global(&mut self, key: &str) -> &mut GlobalInfo {
        let i = match self.global_index.get(key) {
            Some(&i) => i,
            None => {
                self.prog
                    .globals
                    .push((key.to_owned(), GlobalInfo::default()));
                self.global_index
                    .insert(key.to_owned(), self.prog.globals.len() - 1);
                self.prog.globals.len() - 1
            }
        };
        &mut self.prog.globals[i].1
    }

    fn global_info(&self, key: &str) -> Option<&GlobalInfo> {
        self.global_index.get(key).map(|&i| &self.prog.globals[i].1)
    }

    fn is_special(&self, name: &str) -> bool {
        SPECIAL.contains(&name) && self.lookup(name).is_none()
    }

    fn can_inline(&self, name: &str) -> bool {
        self.lookup(name).is_none() && (self.in_prelude || !self.user_defs.contains(name))
    }

    // ---- top level ----

    fn toplevel(&mut self, sx: &Sx) -> R<()> {
        if let Some(expanded) = self.macro_use(sx)? {
            self.macro_depth += 1;
            let r = self.toplevel(&expanded);
            self.macro_depth -= 1;
            return r;
        }
        if let Some(items) = sx.list() {
            if let Some(head) = items.first().and_then(Sx::sym) {
                if head == "define-syntax" && self.is_special(head) {
                    let (Some(name), Some(spec), 3) =
                        (items.get(1).and_then(Sx::sym), items.get(2), items.len())
                    else {
                        return err(
                            sx.pos,
                            "bad `define-syntax`: expected (define-syntax name (syntax-rules ...))",
                        );
                    };
                    let m = crate::macros::parse(spec).map_err(|m| ExpandError {
                        pos: spec.pos,
                        message: format!("bad `define-syntax` of `{name}`: {m}"),
                        in_prelude: false,
                    })?;
                    self.macros.insert(name.to_owned(), m);
                    return Ok(());
                }
                if self.is_special(head) {
                    match head {
                        "begin" => {
                            for x in &items[1..] {
                                self.toplevel(x)?;
                            }
                            return Ok(());
                        }
                        "define" => {
                            let (name, value) = self.define_parts(sx, items)?;
                            let key = self.gkey(&name);
                            let e = self.define_value(&name, &value)?;
                            let g = self.global(&key);
                            g.defines += 1;
                            if let Expr::Lambda(l) = &e {
                                g.known = Some(*l);
                                self.prog.lambdas[*l].toplevel = true;
                            }
                            self.main_body.push(Expr::SetGlobal(key, Box::new(e)));
                            return Ok(());
                        }
                        "import" => return Ok(()),
                        "define-record-type" => return self.record_type(sx, items),
                        "define-generic" => return self.define_generic(sx, items),
                        "define-method" => return self.define_method(sx, items),
                        "define-values" => return self.define_values(sx, items),
                        _ => {}
                    }
                }
            }
        }
        let e = self.expr(sx)?;
        self.main_body.push(e);
        Ok(())
    }

    /// `(define name expr)` / `(define (name . params) body...)`: the name and a
    /// description of the value.
    fn define_parts<'s>(&self, sx: &'s Sx, items: &'s [Sx]) -> R<(String, DefValue<'s>)> {
        match items.get(1).map(|x| (&x.d, x)) {
            Some((Datum::Sym(name), _)) => match items.len() {
                2 => Ok((name.clone(), DefValue::Void)),
                3 => Ok((name.clone(), DefValue::Expr(&items[2]))),
                _ => err(
                    sx.pos,
                    format!("bad `define` of `{name}`: expected (define name expr)"),
                ),
            },
            Some((Datum::List(l, tail), target)) => {
                let Some(name) = l.first().and_then(Sx::sym) else {
                    return err(
                        target.pos,
                        "bad `define`: the procedure name must be a symbol",
                    );
                };
                if items.len() < 3 {
                    return err(sx.pos, format!("`define` of `{name}` has no body"));
                }
                Ok((
                    name.to_owned(),
                    DefValue::Lambda {
                        params: &l[1..],
                        rest: tail.as_deref(),
                        body: &items[2..],
                        pos: sx.pos,
                    },
                ))
            }
            _ => err(sx.pos, "bad `define`: expected a name"),
        }
    }

    fn define_value(&mut self, name: &str, v: &DefValue<'_>) -> R<Expr> {
        match v {
            DefValue::Void => Ok(Expr::Void),
            DefValue::Expr(x) => self.expr_named(x, Some(name)),
            DefValue::Lambda {
                params,
                rest,
                body,
                pos,
            } => {
                let l = self.lambda(params, *rest, body, *pos, Some(name))?;
                Ok(Expr::Lambda(l))
            }
        }
    }

    fn record_type(&mut self, sx: &Sx, items: &[Sx]) -> R<()> {
        if items.len() < 4 {
            return err(sx.pos, "bad `define-record-type`: expected (define-record-type name (ctor field ...) pred field-spec ...)");
        }
        let tname = match &items[1].d {
            Datum::Sym(s) => s.clone(),
            Datum::List(l, None) if !l.is_empty() && l[0].sym().is_some() => {
                l[0].sym().unwrap_or_default().to_owned()
            }
            _ => return err(items[1].pos, "bad record type name"),
        };
        let bare = tname
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned();
        let mut fields: Vec<String> = Vec::new();
        let mut accessors: Vec<(String, u32, bool)> = Vec::new();
        for f in &items[4..] {
            let spec: Vec<&str> = match &f.d {
                Datum::Sym(s) => vec![s.as_str()],
                Datum::List(l, None) if !l.is_empty() => {
                    let mut v = Vec::new();
                    for x in l {
                        match x.sym() {
                            Some(s) => v.push(s),
                            None => return err(x.pos, "bad field spec: expected symbols"),
                        }
                    }
                    v
                }
                _ => {
                    return err(
                        f.pos,
                        "bad field spec: expected (field accessor [modifier])",
                    )
                }
            };
            if fields.iter().any(|x| x == spec[0]) {
                return err(f.pos, format!("field `{}` is declared twice", spec[0]));
            }
            let idx = fields.len() as u32;
            fields.push(spec[0].to_owned());
            if let Some(a) = spec.get(1) {
                accessors.push(((*a).to_owned(), idx, false));
            }
            if let Some(m) = spec.get(2) {
                accessors.push(((*m).to_owned(), idx, true));
            }
            if spec.len() > 3 {
                return err(f.pos, "bad field spec: too many names");
            }
        }
        let tid = self.prog.records.len() as u32;
        self.prog.records.push(RecordDef {
            name: bare.clone(),
            fields: fields.clone(),
        });
        // Constructor.
        let ctor = &items[2];
        let (cname, cargs): (Option<String>, Vec<String>) = match &ctor.d {
            Datum::Sym(s) => (Some(s.clone()), fields.clone()),
            Datum::List(l, None) if !l.is_empty() => {
                let mut args = Vec::new();
                for a in &l[1..] {
                    match a.sym() {
                        Some(s) if fields.iter().any(|f| f == s) => args.push(s.to_owned()),
                        _ => {
                            return err(a.pos, "constructor argument is not a field of the record")
                        }
                    }
                }
                (l[0].sym().map(str::to_owned), args)
            }
            Datum::Bool(false) => (None, vec![]),
            _ => return err(ctor.pos, "bad record constructor spec"),
        };
        let line = self.line(sx.pos);
        if let Some(cname) = cname {
            let slots: Vec<Option<usize>> = fields
                .iter()
                .map(|f| cargs.iter().position(|a| a == f))
                .collect();
            self.define_recop(&cname, RecOp::New(tid, slots), cargs.len(), line);
        }
        if let Some(p) = items[3].sym() {
            self.define_recop(p, RecOp::Is(tid), 1, line);
        }
        for (name, idx, set) in accessors {
            if set {
                self.define_recop(&name, RecOp::Set(tid, idx), 2, line);
            } else {
                self.define_recop(&name, RecOp::Get(tid, idx), 1, line);
            }
        }
        self.record_printer(tid, &bare, &fields, line);
        // The type name itself, for `define-method` patterns.
        let key = format!("%type:{tname}");
        self.global(&key).defines += 1;
        self.main_body.push(Expr::SetGlobal(
            key,
            Box::new(Expr::Lit(Lit::Int(tid as i64))),
        ));
        Ok(())
    }

    /// Registers how `display`/`write` show records of type `tid`: `#<name field: value ...>`.
    /// Pushes `(pred . printer)` onto the prelude's `%record-printers`.
    fn record_printer(&mut self, tid: u32, name: &str, fields: &[String], line: u32) {
        let key = |s: &Self, k: &str| s.gkey(k);
        let (emit, print, printers) = (
            key(self, "%emit"),
            key(self, "%print"),
            key(self, "%record-printers"),
        );
        for k in [&emit, &print, &printers] {
            self.global(k);
        }
        let r = self.new_var("r");
        let pred_name = self.unique_fn_name(&format!("%{name}?"));
        self.prog.lambdas.push(Lambda {
            name: pred_name,
            params: vec![r],
            body: Some(Expr::Record(RecOp::Is(tid), vec![Expr::Local(r)], line)),
            line,
            ..Lambda::default()
        });
        let pred = self.prog.lambdas.len() - 1;
        let (r2, w, sink) = (
            self.new_var("r"),
            self.new_var("write?"),
            self.new_var("sink"),
        );
        let emit_raw = |t: String| {
            Expr::Call(
                Box::new(Expr::Global(emit.clone())),
                vec![Expr::Lit(Lit::RawStr(t)), Expr::Local(sink)],
                line,
            )
        };
        let mut body = vec![emit_raw(format!("#<{name}"))];
        for (i, f) in fields.iter().enumerate() {
            body.push(emit_raw(format!(" {f}: ")));
            body.push(Expr::Call(
                Box::new(Expr::Global(print.clone())),
                vec![
                    Expr::Record(RecOp::Get(tid, i as u32), vec![Expr::Local(r2)], line),
                    Expr::Lit(Lit::Bool(true)),
                    Expr::Local(sink),
                ],
                line,
            ));
        }
        body.push(emit_raw(">".into()));
        let printer_name = self.unique_fn_name(&format!("%print-{name}"));
        self.prog.lambdas.push(Lambda {
            name: printer_name,
            params: vec![r2, w, sink],
            body: Some(Expr::Seq(body)),
            line,
            ..Lambda::default()
        });
        let printer = self.prog.lambdas.len() - 1;
        self.global(&printers).assigned = true;
        let entry = Expr::Prim(
            "cons",
            vec![Expr::Lambda(pred), Expr::Lambda(printer)],
            line,
        );
        let list = Expr::Prim("cons", vec![entry, Expr::Global(printers.clone())], line);
        self.main_body
            .push(Expr::SetGlobal(printers, Box::new(list)));
    }

    fn define_recop(&mut self, name: &str, op: RecOp, nargs: usize, line: u32) {
        let params: Vec<VarId> = (0..nargs).map(|i| self.new_var(&format!("a{i}"))).collect();
        let fname = self.unique_fn_name(name);
        let body = Expr::Record(
            op.clone(),
            params.iter().map(|v| Expr::Local(*v)).collect(),
            line,
        );
        self.prog.lambdas.push(Lambda {
            name: fname,
            params,
            rest: None,
            body: Some(body),
            line,
            toplevel: true,
            ..Lambda::default()
        });
        let l = self.prog.lambdas.len() - 1;
        let key = self.gkey(name);
        let g = self.global(&key);
        g.defines += 1;
        g.known = Some(l);
        g.rec_op = Some(op);
        self.main_body
            .push(Expr::SetGlobal(key, Box::new(Expr::Lambda(l))));
    }

    fn define_generic(&mut self, sx: &Sx, items: &[Sx]) -> R<()> {
        let (Some(name), Some(Datum::Int(arity))) =
            (items.get(1).and_then(Sx::sym), items.get(2).map(|x| &x.d))
        else {
            return err(
                sx.pos,
                "bad `define-generic`: expected (define-generic name arity)",
            );
        };
        if items.len() != 3 || !(0..=64).contains(arity) {
            return err(
                sx.pos,
                "bad `define-generic`: expected (define-generic name arity) with a small arity",
            );
        }
        let mut sname: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if !sname.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            sname.insert(0, '_');
        }
        while self.prog.generics.iter().any(|g| g.name == sname) {
            sname.push('_');
        }
        self.prog.generics.push(GenericDef {
            name: sname.clone(),
            arity: *arity as u32,
        });
        let line = self.line(sx.pos);
        let params: Vec<VarId> = (0..*arity)
            .map(|i| self.new_var(&format!("a{i}")))
            .collect();
        let fname = self.unique_fn_name(name);
        let body = Expr::Dispatch(
            sname.clone(),
            params.iter().map(|v| Expr::Local(*v)).collect(),
            line,
        );
        self.prog.lambdas.push(Lambda {
            name: fname,
            params,
            body: Some(body),
            line,
            toplevel: true,
            ..Lambda::default()
        });
        let l = self.prog.lambdas.len() - 1;
        let key = self.gkey(name);
        let g = self.global(&key);
        g.defines += 1;
        g.known = Some(l);
        g.generic = Some(sname);
        self.main_body
            .push(Expr::SetGlobal(key, Box::new(Expr::Lambda(l))));
        Ok(())
    }

    fn define_method(&mut self, sx: &Sx, items: &[Sx]) -> R<()> {
        let Some(Datum::List(sig, None)) = items.get(1).map(|x| &x.d) else {
            return err(
                sx.pos,
                "bad `define-method`: expected (define-method (name (param <type>) ...) body ...)",
            );
        };
        let Some(name) = sig.first().and_then(Sx::sym) else {
            return err(sx.pos, "bad `define-method`: missing the generic's name");
        };
        if items.len() < 3 {
            return err(sx.pos, "`define-method` has no body");
        }
        let key = self.gkey(name);
        let Some(gname) = self.global_info(&key).and_then(|g| g.generic.clone()) else {
            return err(
                sig[0].pos,
                format!("`{name}` is not a generic (declare it first with define-generic)"),
            );
        };
        let arity = self
            .prog
            .generics
            .iter()
            .find(|g| g.name == gname)
            .map_or(0, |g| g.arity);
        if sig.len() - 1 != arity as usize {
            return err(
                sx.pos,
                format!(
                    "method of `{name}` takes {} parameters; the generic has arity {arity}",
                    sig.len() - 1
                ),
            );
        }
        let mut params = Vec::new();
        let mut patterns = Vec::new();
        let mut tyname = Vec::new();
        for p in &sig[1..] {
            match &p.d {
                Datum::Sym(_) => {
                    params.push(p.clone());
                    patterns.push(PatternSpec::Any);
                    tyname.push("any".to_owned());
                }
                Datum::List(l, None)
                    if l.len() == 2 && l[0].sym().is_some() && l[1].sym().is_some() =>
                {
                    let t = l[1].sym().unwrap_or_default();
                    params.push(l[0].clone());
                    patterns.push(self.pattern(t, l[1].pos)?);
                    tyname.push(t.trim_start_matches('<').trim_end_matches('>').to_owned());
                }
                _ => {
                    return err(
                        p.pos,
                        "bad method parameter: expected name or (name <type>)",
                    )
                }
            }
        }
        let label = format!("{name}({})", tyname.join(","));
        let l = self.lambda(&params, None, &items[2..], sx.pos, Some(&label))?;
        self.prog.lambdas[l].toplevel = true;
        self.prog.methods.push(MethodDef {
            generic: gname,
            patterns,
            lambda: l,
        });
        Ok(())
    }

    fn pattern(&self, t: &str, pos: Pos) -> R<PatternSpec> {
        use sigma_vm::Type;
        Ok(match t {
            "<top>" | "<object>" | "<any>" => PatternSpec::Any,
            "<integer>" | "<fixnum>" | "<exact-integer>" => PatternSpec::Builtin(Type::Int),
            "<real>" | "<flonum>" | "<float>" => PatternSpec::Builtin(Type::Float),
            "<symbol>" => PatternSpec::Builtin(Type::Str),
            "<char>" => PatternSpec::Builtin(Type::Char),
            "<boolean>" => PatternSpec::Builtin(Type::Bool),
            "<vector>" => PatternSpec::Builtin(Type::Array),
            "<bytevector>" => PatternSpec::Builtin(Type::Bytes),
            "<procedure>" => PatternSpec::Builtin(Type::Fn),
            "<string>" => PatternSpec::Internal("string"),
            "<pair>" => PatternSpec::Internal("pair"),
            "<null>" => PatternSpec::Null,
            _ => match self
                .prog
                .records
                .iter()
                .position(|r| r.name == t.trim_start_matches('<').trim_end_matches('>'))
            {
                Some(i)
                    if self.global_info(&format!("%type:{t}")).is_some()
                        || self
                            .global_info(&format!(
                                "%type:{}",
                                t.trim_start_matches('<').trim_end_matches('>')
                            ))
                            .is_some() =>
                {
                    PatternSpec::Record(i as u32)
                }
                _ => return err(pos, format!("unknown type `{t}` in a method pattern")),
            },
        })
    }

    fn define_values(&mut self, sx: &Sx, items: &[Sx]) -> R<()> {
        let (Some(formals), Some(expr), 3) =
            (items.get(1).and_then(Sx::list), items.get(2), items.len())
        else {
            return err(
                sx.pos,
                "bad `define-values`: expected (define-values (name ...) expr)",
            );
        };
        let mut names = Vec::new();
        for f in formals {
            match f.sym() {
                Some(s) => names.push(s.to_owned()),
                None => return err(f.pos, "bad `define-values`: expected names"),
            }
        }
        // (call-with-values (lambda () expr) (lambda (t ...) (set! name t) ...))
        let e = self.expr(expr)?;
        let prod = self.thunk(e, sx.pos);
        let line = self.line(sx.pos);
        let temps: Vec<VarId> = names.iter().map(|n| self.new_var(n)).collect();
        let mut sets = Vec::new();
        for (n, t) in names.iter().zip(&temps) {
            let key = self.gkey(n);
            self.global(&key).defines += 1;
            sets.push(Expr::SetGlobal(key, Box::new(Expr::Local(*t))));
        }
        sets.push(Expr::Void);
        let name = self.unique_fn_name(&format!("define-values@{}:{}", self.file, sx.pos.line));
        self.prog.lambdas.push(Lambda {
            name,
            params: temps,
            body: Some(Expr::Seq(sets)),
            line,
            ..Lambda::default()
        });
        let cons = self.prog.lambdas.len() - 1;
        let cwv = self.gkey("call-with-values");
        self.main_body.push(Expr::Call(
            Box::new(Expr::Global(cwv)),
            vec![prod, Expr::Lambda(cons)],
            line,
        ));
        Ok(())
    }

    fn thunk(&mut self, body: Expr, pos: Pos) -> Expr {
        let name = self.unique_fn_name(&format!("lambda@{}:{}", self.file, pos.line));
        let line = self.line(pos);
        self.prog.lambdas.push(Lambda {
            name,
            body: Some(body),
            line,
            ..Lambda::default()
        });
        Expr::Lambda(self.prog.lambdas.len() - 1)
    }

    // ---- expressions ----

    fn expr(&mut self, sx: &Sx) -> R<Expr> {
        self.expr_named(sx, None)
    }

    /// Expands `sx`; a lambda gets `name` as its function name.
    fn expr_named(&mut self, sx: &Sx, name: Option<&str>) -> R<Expr> {
        match &sx.d {
            Datum::Int(i) => Ok(Expr::Lit(Lit::Int(*i))),
            Datum::Float(x) => Ok(Expr::Lit(Lit::Float(*x))),
            Datum::Bool(b) => Ok(Expr::Lit(Lit::Bool(*b))),
            Datum::Char(c) => Ok(Expr::Lit(Lit::Char(*c))),
            Datum::Str(_) | Datum::Vector(_) | Datum::Bytes(_) => Ok(self.quote(sx)),
            Datum::Sym(s) => self.var_ref(s, sx.pos),
            Datum::List(_, Some(_)) => err(sx.pos, "a dotted list is not an expression"),
            Datum::List(items, None) => {
                if items.is_empty() {
                    return err(sx.pos, "`()` is not an expression (quote it: '())");
                }
                if let Some(expanded) = self.macro_use(sx)? {
                    self.macro_depth += 1;
                    let r = self.expr_named(&expanded, name);
                    self.macro_depth -= 1;
                    return r;
                }
                if let Some(head) = items[0].sym() {
                    if self.is_special(head) {
                        return self.special(head, sx, items, name);
                    }
                }
                self.call(sx, items)
            }
        }
    }

    /// If `sx` uses a macro (not shadowed by a local), its expansion.
    fn macro_use(&mut self, sx: &Sx) -> R<Option<Sx>> {
        let Some(head) = sx.list().and_then(|l| l.first()).and_then(Sx::sym) else {
            return Ok(None);
        };
        if self.lookup(head).is_some() {
            return Ok(None);
        }
        let Some(m) = self.macros.get(head).cloned() else {
            return Ok(None);
        };
        if self.macro_depth > 400 {
            return err(
                sx.pos,
                format!("expansion of macro `{head}` nests too deeply"),
            );
        }
        self.macro_uses += 1;
        let fresh = self.macro_uses;
        let known = |s: &str| {
            SPECIAL.contains(&s)
                || matches!(s, "else" | "=>" | "_" | "unquote" | "unquote-splicing")
                || prim(s).is_some()
                || self.user_defs.contains(s)
                || self.prelude_defs.contains(s)
                || self.global_index.contains_key(s)
                || self.macros.contains_key(s)
                || (s.len() >= 3
                    && s.starts_with('c')
                    && s.ends_with('r')
                    && s[1..s.len() - 1].chars().all(|c| c == 'a' || c == 'd'))
        };
        match m.expand(sx, &known, fresh) {
            Some(x) => Ok(Some(x)),
            None => err(
                sx.pos,
                format!("no `syntax-rules` pattern of macro `{head}` matches this use"),
            ),
        }
    }

    fn var_ref(&mut self, s: &str, pos: Pos) -> R<Expr> {
        if let Some(v) = self.lookup(s) {
            return Ok(Expr::Local(v));
        }
        if self.is_special(s) {
            return err(pos, format!("`{s}` is syntax, not a value"));
        }
        let key = self.gkey(s);
        if self.global_index.contains_key(&key)
            || self.user_defs.contains(s)
            || self.prelude_defs.contains(s)
        {
            self.global(&key);
            return Ok(Expr::Global(key));
        }
        Ok(Expr::Fail(format!("unbound variable: {s}"), self.line(pos)))
    }

    fn call(&mut self, sx: &Sx, items: &[Sx]) -> R<Expr> {
        if let Some(rewritten) = self.rewrite_call(sx, items) {
            return self.expr(&rewritten);
        }
        let line = self.line(sx.pos);
        let mut args = Vec::with_capacity(items.len() - 1);
        for a in &items[1..] {
            args.push(self.expr(a)?);
        }
        if let Some(head) = items[0].sym() {
            if self.lookup(head).is_none() {
                if let Some(e) = self.inline(head, &mut args, line) {
                    return Ok(e);
                }
            }
        }
        let f = self.expr(&items[0])?;
        Ok(Expr::Call(Box::new(f), args, line))
    }

    /// Source-level rewrites of some calls, for speed:
    /// `((lambda (x ...) body ...) arg ...)` becomes a `let`; `(map f l)` and `(for-each f l)`
    /// become local loops, so that a procedure given as a lambda or a known procedure's name
    /// is called directly. Only where none of the names the rewrite uses is shadowed.
    fn rewrite_call(&mut self, sx: &Sx, items: &[Sx]) -> Option<Sx> {
        let pos = sx.pos;
        let sym = |s: &str| Sx {
            d: Datum::Sym(s.to_owned()),
            pos,
        };
        let list = |v: Vec<Sx>| Sx {
            d: Datum::List(v, None),
            pos,
        };
        // ((lambda (x ...) body ...) arg ...)
        if let Some([lam, formals, body @ ..]) = items[0].list() {
            if lam.sym() == Some("lambda")
                && self.is_special("lambda")
                && self.is_special("let")
                && !body.is_empty()
            {
                let params = formals.list()?;
                if params.len() != items.len() - 1 || params.iter().any(|p| p.sym().is_none()) {
                    return None;
                }
                let binds: Vec<Sx> = params
                    .iter()
                    .zip(&items[1..])
                    .map(|(p, a)| list(vec![p.clone(), a.clone()]))
                    .collect();
                let mut v = vec![sym("let"), list(binds)];
                v.extend(body.iter().cloned());
                return Some(list(v));
            }
        }
        let head = items[0].sym()?;
        if items.len() != 3 || !matches!(head, "map" | "for-each") {
            return None;
        }
        const USED: &[&str] = &[
            "map", "for-each", "letrec", "lambda", "if", "let", "begin", "pair?", "null?", "car",
            "cdr", "cons", "reverse", ">", "+", "quote",
        ];
        if USED
            .iter()
            .any(|n| !(self.is_special(n) || self.can_inline(n)) || self.lookup(n).is_some())
            || self.lookup("error").is_some()
        {
            return None;
        }
        let f_is_lambda =
            items[1].list().and_then(|l| l.first()).and_then(Sx::sym) == Some("lambda");
        if !f_is_lambda && items[1].sym().is_none() {
            return None;
        }
        self.rewrites += 1;
        let n = self.rewrites;
        let name = |base: &str| sym(&format!("%{base}~{n}"));
        let f = if f_is_lambda {
            name("f")
        } else {
            items[1].clone()
        };
        let (l, d, m, lp, acc) = (name("l"), name("d"), name("m"), name("loop"), name("acc"));
        // The whole list, for the error when it does not end in '() (as the prelude's).
        let all = name("all");
        let end = |proper: Sx| {
            let message = Sx {
                d: Datum::Str(format!("{head}: not a proper list:")),
                pos,
            };
            let fail = list(vec![sym("error"), message, all.clone()]);
            list(vec![
                sym("if"),
                list(vec![sym("null?"), l.clone()]),
                proper,
                fail,
            ])
        };
        let call_f = list(vec![f.clone(), list(vec![sym("car"), l.clone()])]);
        let cdr_l = list(vec![sym("cdr"), l.clone()]);
        let body = if head == "map" {
            // (letrec ((m (lambda (l d)
            //   (if (pair? l)
            //       (if (> d 1000)
            //           (let loop ((l l) (acc '())) (if (pair? l) (loop (cdr l) (cons (f (car l)) acc)) (reverse acc)))
            //           (let ((x (f (car l)))) (cons x (m (cdr l) (+ d 1)))))
            //       '()))))
            //   (m L 0))
            let nil = list(vec![sym("quote"), list(vec![])]);
            let x = name("x");
            let long = list(vec![
                sym("let"),
                lp.clone(),
                list(vec![
                    list(vec![l.clone(), l.clone()]),
                    list(vec![acc.clone(), nil.clone()]),
                ]),
                list(vec![
                    sym("if"),
                    list(vec![sym("pair?"), l.clone()]),
                    list(vec![
                        lp.clone(),
                        cdr_l.clone(),
                        list(vec![sym("cons"), call_f.clone(), acc.clone()]),
                    ]),
                    end(list(vec![sym("reverse"), acc.clone()])),
                ]),
            ]);
            let short = list(vec![
                sym("let"),
                list(vec![list(vec![x.clone(), call_f.clone()])]),
                list(vec![
                    sym("cons"),
                    x.clone(),
                    list(vec![
                        m.clone(),
                        cdr_l.clone(),
                        list(vec![
                            sym("+"),
                            d.clone(),
                            Sx {
                                d: Datum::Int(1),
                                pos,
                            },
                        ]),
                    ]),
                ]),
            ]);
            let mbody = list(vec![
                sym("if"),
                list(vec![sym("pair?"), l.clone()]),
                list(vec![
                    sym("if"),
                    list(vec![
                        sym(">"),
                        d.clone(),
                        Sx {
                            d: Datum::Int(1000),
                            pos,
                        },
                    ]),
                    long,
                    short,
                ]),
                end(nil),
            ]);
            let mlam = list(vec![sym("lambda"), list(vec![l.clone(), d.clone()]), mbody]);
            let mut binds = vec![list(vec![m.clone(), mlam])];
            if f_is_lambda {
                binds.insert(0, list(vec![f.clone(), items[1].clone()]));
            }
            list(vec![
                sym("letrec"),
                list(binds),
                list(vec![
                    m,
                    all.clone(),
                    Sx {
                        d: Datum::Int(0),
                        pos,
                    },
                ]),
            ])
        } else {
            // (letrec ((f F)) (let loop ((l all)) (if (pair? l) (begin (f (car l)) (loop (cdr l)))
            //   (if (null? l) (if #f #f) (error ...)))))
            let falsity = Sx {
                d: Datum::Bool(false),
                pos,
            };
            let lp_e = list(vec![
                sym("let"),
                lp.clone(),
                list(vec![list(vec![l.clone(), all.clone()])]),
                list(vec![
                    sym("if"),
                    list(vec![sym("pair?"), l.clone()]),
                    list(vec![sym("begin"), call_f, list(vec![lp, cdr_l])]),
                    // `(if #f #f)`: the unspecified value, as before.
                    end(list(vec![sym("if"), falsity.clone(), falsity])),
                ]),
            ]);
            if f_is_lambda {
                list(vec![
                    sym("letrec"),
                    list(vec![list(vec![f, items[1].clone()])]),
                    lp_e,
                ])
            } else {
                lp_e
            }
        };
        // (let ((all L)) ...): L is evaluated once (F, a lambda or a name, has no effects).
        let bind_all = list(vec![list(vec![all, items[2].clone()])]);
        Some(list(vec![sym("let"), bind_all, body]))
    }

    /// An inline form of a call of `head` if there is one (taking the arguments).
    fn inline(&mut self, head: &str, args: &mut Vec<Expr>, line: u32) -> Option<Expr> {
        let n = args.len();
        if self.can_inline(head) {
            // c[ad]{2,4}r
            if head.len() >= 4
                && head.len() <= 6
                && head.starts_with('c')
                && head.ends_with('r')
                && head[1..head.len() - 1]
                    .chars()
                    .all(|c| c == 'a' || c == 'd')
                && n == 1
            {
                let mut e = args.pop()?;
                for c in head[1..head.len() - 1].chars().rev() {
                    e = Expr::Prim(if c == 'a' { "car" } else { "cdr" }, vec![e], line);
                }
                return Some(e);
            }
            if head == "values" && n == 1 {
                return args.pop();
            }
            if head == "values" && n == 2 {
                // Two values (the common case) are a two-field record: no array, no list.
                let b = args.pop()?;
                let a = args.pop()?;
                return Some(Expr::Prim("%values2", vec![a, b], line));
            }
            if head == "values" && n >= 3 {
                // No argument list: the items go straight into the values record's array.
                let items = Expr::Prim("vector", std::mem::take(args), line);
                return Some(Expr::Prim("%values", vec![items], line));
            }
            if head == "call-with-values" && n == 2 {
                if let Some(e) = self.call_with_values(&args[0], &args[1], line) {
                    args.clear();
                    return Some(e);
                }
            }
            if head == "string-append" && (2..=4).contains(&n) {
                // (%mkstr (%concat (%concat (%sval a) (%sval b)) (%sval c))): no argument
                // list, no call.
                let mut it = std::mem::take(args)
                    .into_iter()
                    .map(|a| Expr::Prim("%sval", vec![a], line));
                let mut acc = it.next()?;
                for x in it {
                    acc = Expr::Prim("%concat", vec![acc, x], line);
                }
                return Some(Expr::Prim("%mkstr", vec![acc], line));
            }
            if head == "number->string" && n == 1 {
                let key = self.gkey("%number->string1");
                self.global(&key);
                return Some(Expr::Call(
                    Box::new(Expr::Global(key)),
                    std::mem::take(args),
                    line,
                ));
            }
            if head == "append" && n == 2 {
                // The common two-list case skips the variadic procedure.
                let key = self.gkey("%append2");
                self.global(&key);
                return Some(Expr::Call(
                    Box::new(Expr::Global(key)),
                    std::mem::take(args),
                    line,
                ));
            }
            if let Some((name, min, max)) = prim(head) {
                if n < min || n > max {
                    return None;
                }
                let args = std::mem::take(args);
                return Some(match name {
                    "+" | "*" => {
                        let unit = if name == "+" { 0 } else { 1 };
                        let mut it = args.into_iter();
                        match it.next() {
                            None => Expr::Lit(Lit::Int(unit)),
                            Some(first) => {
                                let mut acc = first;
                                let mut any = false;
                                for a in it {
                                    acc = Expr::Prim(name, vec![acc, a], line);
                                    any = true;
                                }
                                if !any {
                                    acc = Expr::Prim(
                                        name,
                                        vec![acc, Expr::Lit(Lit::Int(unit))],
                                        line,
                                    );
                                }
                                acc
                            }
                        }
                    }
                    "-" => {
                        let mut it = args.into_iter();
                        let first = it.next()?;
                        let mut acc = first;
                        let mut any = false;
                        for a in it {
                            acc = Expr::Prim("-", vec![acc, a], line);
                            any = true;
                        }
                        if !any {
                            acc = Expr::Prim("%neg", vec![acc], line);
                        }
                        acc
                    }
                    "list" => {
                        let mut acc = Expr::Lit(Lit::Nil);
                        for a in args.into_iter().rev() {
                            acc = Expr::Prim("cons", vec![a, acc], line);
                        }
                        acc
                    }
                    "eqv?" => Expr::Prim("eq?", args, line),
                    _ => Expr::Prim(name, args, line),
                });
            }
        }
        let key = self.gkey(head);
        let g = self.global_info(&key)?;
        if let Some(op) = &g.rec_op {
            if op.arity() == n {
                let op = op.clone();
                return Some(Expr::Record(op, std::mem::take(args), line));
            }
        }
        if let Some(gname) = &g.generic {
            let arity = self.prog.generics.iter().find(|x| &x.name == gname)?.arity;
            if arity as usize == n {
                let gname = gname.clone();
                return Some(Expr::Dispatch(gname, std::mem::take(args), line));
            }
        }
        None
    }

    fn body(&mut self, forms: &[Sx], pos: Pos) -> R<Expr> {
        if forms.is_empty() {
            return err(pos, "empty body");
        }
        let is_def = |f: &Sx, me: &Self| {
            f.list()
                .and_then(|l| l.first())
                .and_then(Sx::sym)
                .is_some_and(|h| {
                    (h == "define" || h == "define-values" || h == "define-record-type")
                        && me.is_special(h)
                })
        };
        // Splice `(begin (define ...) ...)` into the body.
        let mut flat: Vec<&Sx> = Vec::new();
        fn splice<'s>(f: &'s Sx, out: &mut Vec<&'s Sx>) {
            if let Some(l) = f.list() {
                if l.first().and_then(Sx::sym) == Some("begin") && l.len() > 1 {
                    for x in &l[1..] {
                        splice(x, out);
                    }
                    return;
                }
            }
            out.push(f);
        }
        // Macro uses at the body's top level are expanded first: they may produce definitions.
        let mut expanded: Vec<Sx> = Vec::new();
        let forms: &[Sx] = if self.macros.is_empty() {
            forms
        } else {
            for f in forms {
                let mut x = f.clone();
                let mut steps = 0;
                while let Some(e) = self.macro_use(&x)? {
                    x = e;
                    steps += 1;
                    if steps > 400 {
                        return err(f.pos, "macro expansion does not terminate");
                    }
                }
                expanded.push(x);
            }
            &expanded
        };
        for f in forms {
            splice(f, &mut flat);
        }
        if !flat.iter().any(|f| is_def(f, self)) {
            let mut es = Vec::with_capacity(flat.len());
            for f in &flat {
                es.push(self.expr(f)?);
            }
            return Ok(if es.len() == 1 {
                es.pop().unwrap_or(Expr::Void)
            } else {
                Expr::Seq(es)
            });
        }
        let mark = self.scope.len();
        // Bind every defined name first (letrec* semantics).
        for f in &flat {
            if !is_def(f, self) {
                continue;
            }
            let items = f.list().unwrap_or(&[]);
            match items[0].sym() {
                Some("define") => {
                    let (name, _) = self.define_parts(f, items)?;
                    let v = self.new_var(&name);
                    self.prog.vars[v].late = true;
                    self.scope.push((name, v));
                }
                Some("define-values") => {
                    for n in items.get(1).and_then(Sx::list).unwrap_or(&[]) {
                        if let Some(s) = n.sym() {
                            let v = self.new_var(s);
                            self.prog.vars[v].late = true;
                            self.scope.push((s.to_owned(), v));
                        }
                    }
                }
                _ => return err(f.pos, "`define-record-type` is only allowed at top level"),
            }
        }
        let mut bindings = Vec::new();
        let last = flat.len() - 1;
        let mut result = Expr::Void;
        for (i, f) in flat.iter().enumerate() {
            if is_def(f, self) {
                let items = f.list().unwrap_or(&[]);
                if items[0].sym() == Some("define-values") {
                    return err(f.pos, "`define-values` is only supported at top level");
                }
                let (name, value) = self.define_parts(f, items)?;
                let v = self.lookup(&name).unwrap_or(0);
                let e = self.define_value(&name, &value)?;
                bindings.push((v, e));
            } else if i == last {
                result = self.expr(f)?;
            } else {
                let e = self.expr(f)?;
                let d = self.new_var("_");
                self.prog.vars[d].dummy = true;
                bindings.push((d, e));
            }
        }
        self.scope.truncate(mark);
        Ok(Expr::Letrec(bindings, Box::new(result)))
    }

    /// Parses a lambda list and expands the body into a new lambda.
    fn lambda(
        &mut self,
        params: &[Sx],
        rest: Option<&Sx>,
        body: &[Sx],
        pos: Pos,
        name: Option<&str>,
    ) -> R<LamId> {
        let mut ps = Vec::new();
        let mark = self.scope.len();
        let mut seen = HashSet::new();
        for p in params {
            let Some(s) = p.sym() else {
                return err(p.pos, "a parameter must be a symbol");
            };
            if !seen.insert(s) {
                return err(p.pos, format!("parameter `{s}` appears twice"));
            }
            let v = self.new_var(s);
            self.scope.push((s.to_owned(), v));
            ps.push(v);
        }
        let rest_var = match rest {
            None => None,
            Some(r) => {
                let Some(s) = r.sym() else {
                    return err(r.pos, "a rest parameter must be a symbol");
                };
                let v = self.new_var(s);
                self.scope.push((s.to_owned(), v));
                Some(v)
            }
        };
        let fname = match name {
            Some(n) => self.unique_fn_name(n),
            None => {
                let base = if self.in_prelude {
                    "lambda@prelude".to_owned()
                } else {
                    format!("lambda@{}:{}", self.file, pos.line)
                };
                self.unique_fn_name(&base)
            }
        };
        let id = self.prog.lambdas.len();
        self.prog.lambdas.push(Lambda {
            name: fname,
            params: ps,
            rest: rest_var,
            line: self.line(pos),
            ..Lambda::default()
        });
        let b = self.body(body, pos);
        self.scope.truncate(mark);
        self.prog.lambdas[id].body = Some(b?);
        Ok(id)
    }

    fn lambda_list<'s>(&self, formals: &'s Sx) -> R<(&'s [Sx], Option<&'s Sx>)> {
        match &formals.d {
            Datum::Sym(_) => Ok((&[], Some(formals))),
            Datum::List(l, tail) => Ok((l, tail.as_deref())),
            _ => err(formals.pos, "bad parameter list"),
        }
    }

    fn quote(&mut self, sx: &Sx) -> Expr {
        match &sx.d {
            Datum::Int(i) => Expr::Lit(Lit::Int(*i)),
            Datum::Float(x) => Expr::Lit(Lit::Float(*x)),
            Datum::Bool(b) => Expr::Lit(Lit::Bool(*b)),
            Datum::Char(c) => Expr::Lit(Lit::Char(*c)),
            Datum::Sym(s) => {
                self.symbols.insert(s.clone());
                Expr::Lit(Lit::Sym(s.clone()))
            }
            Datum::List(l, None) if l.is_empty() => Expr::Lit(Lit::Nil),
            Datum::Str(s) => {
                if let Some(&i) = self.strings.get(s) {
                    return Expr::Quoted(i);
                }
                self.prog.quoted.push(sx.clone());
                let i = self.prog.quoted.len() - 1;
                self.strings.insert(s.clone(), i);
                Expr::Quoted(i)
            }
            _ => {
                self.collect_symbols(sx);
                self.prog.quoted.push(sx.clone());
                Expr::Quoted(self.prog.quoted.len() - 1)
            }
        }
    }

    fn collect_symbols(&mut self, sx: &Sx) {
        match &sx.d {
            Datum::Sym(s) => {
                self.symbols.insert(s.clone());
            }
            Datum::List(l, t) => {
                for x in l {
                    self.collect_symbols(x);
                }
                if let Some(t) = t {
                    self.collect_symbols(t);
                }
            }
            Datum::Vector(l) => {
                for x in l {
                    self.collect_symbols(x);
                }
            }
            _ => {}
        }
    }

    fn bindings<'s>(&self, sx: &'s Sx, what: &str) -> R<Vec<(&'s str, &'s Sx, Option<&'s Sx>)>> {
        let Some(l) = sx.list() else {
            return err(
                sx.pos,
                format!("bad `{what}` bindings: expected a list of (name value)"),
            );
        };
        let mut out = Vec::new();
        for b in l {
            match b.list() {
                Some([n, v]) if n.sym().is_some() => {
                    out.push((n.sym().unwrap_or_default(), v, None))
                }
                Some([n, v, step]) if n.sym().is_some() && what == "do" => {
                    out.push((n.sym().unwrap_or_default(), v, Some(step)))
                }
                Some([n]) if n.sym().is_some() && what == "do" => {
                    return err(b.pos, "bad `do` binding: expected (name init [step])")
                }
                _ => {
                    return err(
                        b.pos,
                        format!("bad `{what}` binding: expected (name value)"),
                    )
                }
            }
        }
        Ok(out)
    }

    /// `((a b) ...)` with arbitrary expressions on both sides.
    fn bindings_any(&self, sx: &Sx) -> R<Vec<(Sx, Sx)>> {
        let Some(l) = sx.list() else {
            return err(sx.pos, "expected a list of bindings");
        };
        l.iter()
            .map(|b| match b.list() {
                Some([a, v]) => Ok((a.clone(), v.clone())),
                _ => err(b.pos, "bad binding: expected (parameter value)"),
            })
            .collect()
    }

    fn special(&mut self, head: &str, sx: &Sx, items: &[Sx], name: Option<&str>) -> R<Expr> {
        let pos = sx.pos;
        let line = self.line(pos);
        let n = items.len();
        match head {
            "quote" => {
                if n != 2 {
                    return err(pos, "bad `quote`: expected one datum");
                }
                Ok(self.quote(&items[1]))
            }
            "quasiquote" => {
                if n != 2 {
                    return err(pos, "bad `quasiquote`: expected one datum");
                }
                self.quasi(&items[1], 1)
            }
            "lambda" => {
                if n < 3 {
                    return err(pos, "bad `lambda`: expected (lambda params body ...)");
                }
                let (ps, rest) = self.lambda_list(&items[1])?;
                Ok(Expr::Lambda(self.lambda(
                    ps,
                    rest,
                    &items[2..],
                    pos,
                    name,
                )?))
            }
            "define" => err(
                pos,
                "`define` is not allowed here (only at top level or at the start of a body)",
            ),
            "define-record-type" | "define-generic" | "define-method" | "define-values"
            | "define-syntax" => err(pos, format!("`{head}` is only allowed at top level")),
            "import" => Ok(Expr::Void),
            "set!" => {
                let (3, Some(s)) = (n, items.get(1).and_then(Sx::sym)) else {
                    return err(pos, "bad `set!`: expected (set! name expr)");
                };
                let e = self.expr(&items[2])?;
                match self.lookup(s) {
                    Some(v) => {
                        self.prog.vars[v].mutated = true;
                        Ok(Expr::SetLocal(v, Box::new(e)))
                    }
                    None => {
                        let key = self.gkey(s);
                        if !self.global_index.contains_key(&key)
                            && !self.user_defs.contains(s)
                            && !self.prelude_defs.contains(s)
                        {
                            return err(items[1].pos, format!("`set!` of unbound variable `{s}`"));
                        }
                        self.global(&key).assigned = true;
                        Ok(Expr::SetGlobal(key, Box::new(e)))
                    }
                }
            }
            "if" => {
                if !(3..=4).contains(&n) {
                    return err(pos, "bad `if`: expected (if test then [else])");
                }
                let c = self.expr(&items[1])?;
                let t = self.expr(&items[2])?;
                let e = if n == 4 {
                    self.expr(&items[3])?
                } else {
                    Expr::Void
                };
                Ok(Expr::If(Box::new(c), Box::new(t), Box::new(e)))
            }
            "begin" => {
                if n == 1 {
                    return Ok(Expr::Void);
                }
                let mut es = Vec::new();
                for x in &items[1..] {
                    es.push(self.expr(x)?);
                }
                Ok(Expr::Seq(es))
            }
            "let" => {
                if n < 3 {
                    return err(pos, "bad `let`: expected (let bindings body ...)");
                }
                if let Some(lname) = items[1].sym() {
                    // Named let.
                    if n < 4 {
                        return err(
                            pos,
                            "bad named `let`: expected (let name bindings body ...)",
                        );
                    }
                    let bs = self.bindings(&items[2], "let")?;
                    let mut inits = Vec::new();
                    for (_, v, _) in &bs {
                        inits.push(self.expr(v)?);
                    }
                    let params: Vec<Sx> = bs
                        .iter()
                        .map(|(nm, v, _)| Sx {
                            d: Datum::Sym((*nm).to_owned()),
                            pos: v.pos,
                        })
                        .collect();
                    let lv = self.new_var(lname);
                    self.prog.vars[lv].late = true;
                    self.scope.push((lname.to_owned(), lv));
                    let l = self.lambda(&params, None, &items[3..], pos, Some(lname));
                    self.scope.pop();
                    let l = l?;
                    return Ok(Expr::Letrec(
                        vec![(lv, Expr::Lambda(l))],
                        Box::new(Expr::Call(Box::new(Expr::Local(lv)), inits, line)),
                    ));
                }
                let bs = self.bindings(&items[1], "let")?;
                let mut out = Vec::new();
                for (nm, v, _) in &bs {
                    out.push(self.expr_named(v, Some(nm))?);
                }
                let mark = self.scope.len();
                let mut binds = Vec::new();
                for ((nm, _, _), e) in bs.iter().zip(out) {
                    let v = self.new_var(nm);
                    binds.push((v, e));
                    self.scope.push(((*nm).to_owned(), v));
                }
                let b = self.body(&items[2..], pos);
                self.scope.truncate(mark);
                Ok(Expr::Let(binds, Box::new(b?)))
            }
            "let*" => {
                if n < 3 {
                    return err(pos, "bad `let*`: expected (let* bindings body ...)");
                }
                let bs = self.bindings(&items[1], "let*")?;
                let mark = self.scope.len();
                let mut binds = Vec::new();
                for (nm, v, _) in &bs {
                    let e = self.expr_named(v, Some(nm));
                    let e = match e {
                        Ok(e) => e,
                        Err(x) => {
                            self.scope.truncate(mark);
                            return Err(x);
                        }
                    };
                    let var = self.new_var(nm);
                    binds.push((var, e));
                    self.scope.push(((*nm).to_owned(), var));
                }
                let b = self.body(&items[2..], pos);
                self.scope.truncate(mark);
                let mut e = b?;
                for b in binds.into_iter().rev() {
                    e = Expr::Let(vec![b], Box::new(e));
                }
                Ok(e)
            }
            "letrec" | "letrec*" => {
                if n < 3 {
                    return err(
                        pos,
                        format!("bad `{head}`: expected ({head} bindings body ...)"),
                    );
                }
                let bs = self.bindings(&items[1], head)?;
                let mark = self.scope.len();
                let mut vars = Vec::new();
                for (nm, _, _) in &bs {
                    let v = self.new_var(nm);
                    self.prog.vars[v].late = true;
                    self.scope.push(((*nm).to_owned(), v));
                    vars.push(v);
                }
                let mut binds = Vec::new();
                let mut res = Ok(());
                for ((nm, v, _), var) in bs.iter().zip(&vars) {
                    match self.expr_named(v, Some(nm)) {
                        Ok(e) => binds.push((*var, e)),
                        Err(e) => {
                            res = Err(e);
                            break;
                        }
                    }
                }
                let b = res.and_then(|_| self.body(&items[2..], pos));
                self.scope.truncate(mark);
                Ok(Expr::Letrec(binds, Box::new(b?)))
            }
            "and" => {
                if n == 1 {
                    return Ok(Expr::Lit(Lit::Bool(true)));
                }
                let mut es = Vec::new();
                for x in &items[1..] {
                    es.push(self.expr(x)?);
                }
                let mut acc = es.pop().unwrap_or(Expr::Void);
                while let Some(e) = es.pop() {
                    acc = Expr::If(
                        Box::new(e),
                        Box::new(acc),
                        Box::new(Expr::Lit(Lit::Bool(false))),
                    );
                }
                Ok(acc)
            }
            "or" => {
                if n == 1 {
                    return Ok(Expr::Lit(Lit::Bool(false)));
                }
                let mut es = Vec::new();
                for x in &items[1..] {
                    es.push(self.expr(x)?);
                }
                let mut acc = es.pop().unwrap_or(Expr::Void);
                while let Some(e) = es.pop() {
                    acc = self.or2(e, acc);
                }
                Ok(acc)
            }
            "when" | "unless" => {
                if n < 3 {
                    return err(
                        pos,
                        format!("bad `{head}`: expected ({head} test body ...)"),
                    );
                }
                let c = self.expr(&items[1])?;
                let mut es = Vec::new();
                for x in &items[2..] {
                    es.push(self.expr(x)?);
                }
                let b = Expr::Seq(es);
                Ok(if head == "when" {
                    Expr::If(Box::new(c), Box::new(b), Box::new(Expr::Void))
                } else {
                    Expr::If(Box::new(c), Box::new(Expr::Void), Box::new(b))
                })
            }
            "cond" => self.cond(&items[1..]),
            "case" => self.case(sx, items),
            "do" => self.do_loop(sx, items),
            "let-values" | "let*-values" => self.let_values(sx, items),
            "assert" => {
                if n != 2 {
                    return err(pos, "bad `assert`: expected (assert expr)");
                }
                let c = self.expr(&items[1])?;
                let text = format!("assertion failed: {}", crate::print_datum(&items[1]));
                Ok(Expr::If(
                    Box::new(c),
                    Box::new(Expr::Void),
                    Box::new(Expr::Fail(text, line)),
                ))
            }
            "%sys" => {
                let Some(Datum::Str(name)) = items.get(1).map(|x| &x.d) else {
                    return err(pos, "bad `%sys`: expected (%sys \"name\" args ...)");
                };
                let mut args = Vec::new();
                for a in &items[2..] {
                    args.push(self.expr(a)?);
                }
                Ok(Expr::Sys(name.clone(), args, line))
            }
            "%raw" => match items.get(1).map(|x| &x.d) {
                Some(Datum::Str(t)) if n == 2 => Ok(Expr::Lit(Lit::RawStr(t.clone()))),
                _ => err(pos, "bad `%raw`: expected (%raw \"text\")"),
            },
            "delay" => {
                if n != 2 {
                    return err(pos, "bad `delay`: expected (delay expr)");
                }
                let e = self.expr(&items[1])?;
                let t = self.thunk(e, pos);
                let mp = self.gkey("%make-promise");
                Ok(Expr::Call(Box::new(Expr::Global(mp)), vec![t], line))
            }
            "parameterize" => {
                // (let ((p P) (v V) ...) (let ((o (p)) ...) (p v) ... (let ((r (let () body ...))) (p o) ... r)))
                let sym = |s: &str| Sx {
                    d: Datum::Sym(s.to_owned()),
                    pos,
                };
                let list = |v: Vec<Sx>| Sx {
                    d: Datum::List(v, None),
                    pos,
                };
                if n < 3 {
                    return err(
                        pos,
                        "bad `parameterize`: expected (parameterize ((param value) ...) body ...)",
                    );
                }
                if ["let"].iter().any(|k| !self.is_special(k)) {
                    return err(pos, "`parameterize` needs `let` unshadowed");
                }
                let bs = self.bindings_any(&items[1])?;
                self.rewrites += 1;
                let k = self.rewrites;
                let mut outer = Vec::new();
                let mut saves = Vec::new();
                let mut sets = Vec::new();
                let mut restores = Vec::new();
                for (i, (p, v)) in bs.into_iter().enumerate() {
                    let (pn, vn, on) = (
                        sym(&format!("%p{i}~{k}")),
                        sym(&format!("%v{i}~{k}")),
                        sym(&format!("%o{i}~{k}")),
                    );
                    outer.push(list(vec![pn.clone(), p]));
                    outer.push(list(vec![vn.clone(), v]));
                    saves.push(list(vec![on.clone(), list(vec![pn.clone()])]));
                    sets.push(list(vec![pn.clone(), vn]));
                    restores.push(list(vec![pn, on]));
                }
                let r = sym(&format!("%r~{k}"));
                let mut inner_let = vec![sym("let"), list(vec![])];
                inner_let.extend(items[2..].iter().cloned());
                let mut tail = vec![
                    sym("let"),
                    list(vec![list(vec![r.clone(), list(inner_let)])]),
                ];
                tail.extend(restores);
                tail.push(r);
                let mut mid = vec![sym("let"), list(saves)];
                mid.extend(sets);
                mid.push(list(tail));
                let whole = list(vec![sym("let"), list(outer), list(mid)]);
                self.expr_named(&whole, name)
            }
            "case-lambda" => {
                // (lambda args (let ((n (length args))) (cond ((= n k) (apply (lambda formals body...) args)) ...)))
                let sym = |s: &str| Sx {
                    d: Datum::Sym(s.to_owned()),
                    pos,
                };
                let list = |v: Vec<Sx>| Sx {
                    d: Datum::List(v, None),
                    pos,
                };
                for n in [
                    "lambda", "let", "cond", "apply", "length", "=", ">=", "else", "error",
                ] {
                    if self.lookup(n).is_some() || (!self.in_prelude && self.user_defs.contains(n))
                    {
                        return err(pos, format!("`case-lambda` needs `{n}` unshadowed"));
                    }
                }
                self.rewrites += 1;
                let (args, count) = (
                    sym(&format!("%args~{}", self.rewrites)),
                    sym(&format!("%n~{}", self.rewrites)),
                );
                let mut clauses = Vec::new();
                for cl in &items[1..] {
                    let Some([formals, body @ ..]) = cl.list() else {
                        return err(
                            cl.pos,
                            "bad `case-lambda` clause: expected (formals body ...)",
                        );
                    };
                    if body.is_empty() {
                        return err(cl.pos, "`case-lambda` clause has no body");
                    }
                    let (req, rest) = match &formals.d {
                        Datum::Sym(_) => (0, true),
                        Datum::List(ps, tail) => (ps.len(), tail.is_some()),
                        _ => return err(formals.pos, "bad `case-lambda` formals"),
                    };
                    let test = list(vec![
                        sym(if rest { ">=" } else { "=" }),
                        count.clone(),
                        Sx {
                            d: Datum::Int(req as i64),
                            pos,
                        },
                    ]);
                    let mut lam = vec![sym("lambda"), formals.clone()];
                    lam.extend(body.iter().cloned());
                    clauses.push(list(vec![
                        test,
                        list(vec![sym("apply"), list(lam), args.clone()]),
                    ]));
                }
                clauses.push(list(vec![
                    sym("else"),
                    list(vec![
                        sym("error"),
                        Sx {
                            d: Datum::Str("case-lambda: no clause for this many arguments:".into()),
                            pos,
                        },
                        count.clone(),
                    ]),
                ]));
                let mut cond = vec![sym("cond")];
                cond.extend(clauses);
                let body = list(vec![
                    sym("let"),
                    list(vec![list(vec![
                        count,
                        list(vec![sym("length"), args.clone()]),
                    ])]),
                    list(cond),
                ]);
                let lam = Sx {
                    d: Datum::List(vec![sym("lambda"), body], None),
                    pos,
                };
                // (lambda args body): the formals are a bare symbol.
                let lam = match lam.d {
                    Datum::List(mut v, None) => {
                        v.insert(1, args);
                        Sx {
                            d: Datum::List(v, None),
                            pos,
                        }
                    }
                    other => Sx { d: other, pos },
                };
                self.expr_named(&lam, name)
            }
            _ => err(pos, format!("`{head}` is not supported here")),
        }
    }

    /// `(or a b)` as `(let ((t a)) (if t t b))`.
    fn or2(&mut self, a: Expr, b: Expr) -> Expr {
        let t = self.new_var("or");
        Expr::Let(
            vec![(t, a)],
            Box::new(Expr::If(
                Box::new(Expr::Local(t)),
                Box::new(Expr::Local(t)),
                Box::new(b),
            )),
        )
    }

    fn cond(&mut self, clauses: &[Sx]) -> R<Expr> {
        let Some((first, rest)) = clauses.split_first() else {
            return Ok(Expr::Void);
        };
        let Some(cl) = first.list().filter(|l| !l.is_empty()) else {
            return err(first.pos, "bad `cond` clause: expected (test body ...)");
        };
        if cl[0].sym() == Some("else") && self.lookup("else").is_none() {
            if !rest.is_empty() {
                return err(first.pos, "`else` must be the last `cond` clause");
            }
            if cl.len() < 2 {
                return err(first.pos, "empty `else` clause");
            }
            let mut es = Vec::new();
            for x in &cl[1..] {
                es.push(self.expr(x)?);
            }
            return Ok(Expr::Seq(es));
        }
        let test = self.expr(&cl[0])?;
        let rest_e = self.cond(rest)?;
        if cl.len() == 1 {
            return Ok(self.or2(test, rest_e));
        }
        if cl[1].sym() == Some("=>") && self.lookup("=>").is_none() {
            if cl.len() != 3 {
                return err(first.pos, "bad `=>` clause: expected (test => receiver)");
            }
            let f = self.expr(&cl[2])?;
            let t = self.new_var("cond");
            let line = self.line(first.pos);
            return Ok(Expr::Let(
                vec![(t, test)],
                Box::new(Expr::If(
                    Box::new(Expr::Local(t)),
                    Box::new(Expr::Call(Box::new(f), vec![Expr::Local(t)], line)),
                    Box::new(rest_e),
                )),
            ));
        }
        let mut es = Vec::new();
        for x in &cl[1..] {
            es.push(self.expr(x)?);
        }
        Ok(Expr::If(
            Box::new(test),
            Box::new(Expr::Seq(es)),
            Box::new(rest_e),
        ))
    }

    fn case(&mut self, sx: &Sx, items: &[Sx]) -> R<Expr> {
        if items.len() < 2 {
            return err(sx.pos, "bad `case`: expected (case key clause ...)");
        }
        let key = self.expr(&items[1])?;
        let t = self.new_var("key");
        let line = self.line(sx.pos);
        let mut acc = Expr::Void;
        for (i, cl) in items[2..].iter().enumerate().rev() {
            let Some(l) = cl.list().filter(|l| l.len() >= 2) else {
                return err(cl.pos, "bad `case` clause: expected ((datum ...) body ...)");
            };
            let arrow = l[1].sym() == Some("=>");
            let body = if arrow {
                if l.len() != 3 {
                    return err(cl.pos, "bad `=>` clause in `case`");
                }
                let f = self.expr(&l[2])?;
                Expr::Call(Box::new(f), vec![Expr::Local(t)], line)
            } else {
                let mut es = Vec::new();
                for x in &l[1..] {
                    es.push(self.expr(x)?);
                }
                Expr::Seq(es)
            };
            if l[0].sym() == Some("else") {
                if i + 2 != items.len() - 1 {
                    return err(cl.pos, "`else` must be the last `case` clause");
                }
                acc = body;
                continue;
            }
            let Some(data) = l[0].list() else {
                return err(l[0].pos, "bad `case` clause: expected a list of data");
            };
            let mut test = Expr::Lit(Lit::Bool(false));
            for d in data.iter().rev() {
                let q = self.quote(d);
                let eqv = Expr::Prim("eq?", vec![Expr::Local(t), q], line);
                test = match test {
                    Expr::Lit(Lit::Bool(false)) => eqv,
                    other => Expr::If(
                        Box::new(eqv),
                        Box::new(Expr::Lit(Lit::Bool(true))),
                        Box::new(other),
                    ),
                };
            }
            acc = Expr::If(Box::new(test), Box::new(body), Box::new(acc));
        }
        Ok(Expr::Let(vec![(t, key)], Box::new(acc)))
    }

    fn do_loop(&mut self, sx: &Sx, items: &[Sx]) -> R<Expr> {
        if items.len() < 3 {
            return err(
                sx.pos,
                "bad `do`: expected (do ((var init step) ...) (test expr ...) body ...)",
            );
        }
        let bs = self.bindings(&items[1], "do")?;
        let Some(end) = items[2].list().filter(|l| !l.is_empty()) else {
            return err(
                items[2].pos,
                "bad `do` test clause: expected (test expr ...)",
            );
        };
        let line = self.line(sx.pos);
        let mut inits = Vec::new();
        for (_, v, _) in &bs {
            inits.push(self.expr(v)?);
        }
        let lv = self.new_var("do-loop");
        let mark = self.scope.len();
        let mut params = Vec::new();
        for (nm, _, _) in &bs {
            let v = self.new_var(nm);
            self.scope.push(((*nm).to_owned(), v));
            params.push(v);
        }
        let result = (|| -> R<Expr> {
            let test = self.expr(&end[0])?;
            let mut res = Vec::new();
            for x in &end[1..] {
                res.push(self.expr(x)?);
            }
            let res = if res.is_empty() {
                Expr::Void
            } else {
                Expr::Seq(res)
            };
            let mut body = Vec::new();
            for x in &items[3..] {
                body.push(self.expr(x)?);
            }
            let mut steps = Vec::new();
            for ((nm, _, step), p) in bs.iter().zip(&params) {
                steps.push(match step {
                    Some(s) => self.expr(s)?,
                    None => {
                        let _ = nm;
                        Expr::Local(*p)
                    }
                });
            }
            body.push(Expr::Call(Box::new(Expr::Local(lv)), steps, line));
            Ok(Expr::If(
                Box::new(test),
                Box::new(res),
                Box::new(Expr::Seq(body)),
            ))
        })();
        self.scope.truncate(mark);
        let body = result?;
        let name = self.unique_fn_name(&format!("do@{}:{}", self.file, sx.pos.line));
        self.prog.lambdas.push(Lambda {
            name,
            params,
            body: Some(body),
            line,
            ..Lambda::default()
        });
        let l = self.prog.lambdas.len() - 1;
        self.prog.vars[lv].late = true;
        Ok(Expr::Letrec(
            vec![(lv, Expr::Lambda(l))],
            Box::new(Expr::Call(Box::new(Expr::Local(lv)), inits, line)),
        ))
    }

    fn let_values(&mut self, sx: &Sx, items: &[Sx]) -> R<Expr> {
        if items.len() < 3 {
            return err(
                sx.pos,
                "bad `let-values`: expected (let-values (((formals) expr) ...) body ...)",
            );
        }
        let Some(bs) = items[1].list() else {
            return err(items[1].pos, "bad `let-values` bindings");
        };
        // Nested call-with-values, innermost last.
        self.let_values_rec(bs, &items[2..], sx.pos)
    }

    fn let_values_rec(&mut self, bs: &[Sx], body: &[Sx], pos: Pos) -> R<Expr> {
        let Some((b, rest)) = bs.split_first() else {
            return self.body(body, pos);
        };
        let Some([formals, e]) = b.list() else {
            return err(b.pos, "bad `let-values` binding: expected ((formals) expr)");
        };
        let init = self.expr(e)?;
        let prod = self.thunk(init, b.pos);
        let (ps, restp) = self.lambda_list(formals)?;
        // The consumer's body is the rest of the bindings plus the body: build it as a lambda
        // by hand so that `rest` is expanded inside the formals' scope.
        let mut psv = Vec::new();
        let mark = self.scope.len();
        for p in ps {
            let Some(s) = p.sym() else {
                self.scope.truncate(mark);
                return err(p.pos, "a formal must be a symbol");
            };
            let v = self.new_var(s);
            self.scope.push((s.to_owned(), v));
            psv.push(v);
        }
        let rv = match restp {
            Some(r) => match r.sym() {
                Some(s) => {
                    let v = self.new_var(s);
                    self.scope.push((s.to_owned(), v));
                    Some(v)
                }
                None => {
                    self.scope.truncate(mark);
                    return err(r.pos, "a formal must be a symbol");
                }
            },
            None => None,
        };
        let inner = self.let_values_rec(rest, body, pos);
        self.scope.truncate(mark);
        let inner = inner?;
        let name = self.unique_fn_name(&format!("let-values@{}:{}", self.file, b.pos.line));
        let line = self.line(b.pos);
        self.prog.lambdas.push(Lambda {
            name,
            params: psv,
            rest: rv,
            body: Some(inner),
            line,
            ..Lambda::default()
        });
        let cons = Expr::Lambda(self.prog.lambdas.len() - 1);
        if self.can_inline("call-with-values") {
            if let Some(e) = self.call_with_values(&prod, &cons, line) {
                return Ok(e);
            }
        }
        let cwv = self.gkey("call-with-values");
        self.global(&cwv);
        Ok(Expr::Call(
            Box::new(Expr::Global(cwv)),
            vec![prod, cons],
            line,
        ))
    }

    /// `(call-with-values producer consumer)` without a procedure call or a list, when both
    /// are lambda expressions, the producer takes no arguments and the consumer a fixed
    /// number `n`: the producer's body runs in place. When each of its tail expressions is
    /// `(values e1 .. en)`, those become the consumer's arguments directly (no values record;
    /// the consumer is a local procedure called from each, so it is lambda-lifted); otherwise
    /// its result is taken apart (a values record of `n` items, or one value when `n` is 1).
    /// `None` leaves the general protocol of the prelude's `call-with-values`.
    fn call_with_values(&mut self, prod: &Expr, cons: &Expr, line: u32) -> Option<Expr> {
        let (Expr::Lambda(pl), Expr::Lambda(cl)) = (prod, cons) else {
            return None;
        };
        let (pl, cl) = (*pl, *cl);
        let (p, c) = (&self.prog.lambdas[pl], &self.prog.lambdas[cl]);
        if !p.params.is_empty() || p.rest.is_some() || c.rest.is_some() {
            return None;
        }
        let n = c.params.len();
        let values = self.can_inline("values").then(|| self.gkey("values"));
        let mut tails = 0;
        let all_values = count_values_tails(p.body.as_ref()?, values.as_deref(), n, &mut tails);
        let mut body = self.prog.lambdas[pl].body.take()?;
        if all_values && tails == 1 {
            // (let ((x1 e1) .. (xn en)) consumer-body) in the producer's tail.
            let params = self.prog.lambdas[cl].params.clone();
            let cbody = self.prog.lambdas[cl].body.take()?;
            let mut cbody = Some(cbody);
            replace_values_tails(&mut body, &mut |args| {
                let bs = params.iter().copied().zip(args).collect();
                Expr::Let(bs, Box::new(cbody.take().unwrap_or(Expr::Void)))
            });
            return Some(body);
        }
        if all_values {
            let k = self.new_var("values-consumer");
            replace_values_tails(&mut body, &mut |args| {
                Expr::Call(Box::new(Expr::Local(k)), args, line)
            });
            return Some(Expr::Letrec(vec![(k, Expr::Lambda(cl))], Box::new(body)));
        }
        let params = self.prog.lambdas[cl].params.clone();
        let cbody = self.prog.lambdas[cl].body.take()?;
        let fail = Expr::Fail(
            format!("call-with-values: the consumer takes {n} value(s), got another number"),
            line,
        );
        let v = self.new_var("values");
        let is_values = Expr::Prim("%values?", vec![Expr::Local(v)], line);
        let is_values2 = Expr::Prim("%values2?", vec![Expr::Local(v)], line);
        if n == 1 {
            // One value is itself; a values record never holds exactly one.
            let x = Expr::If(
                Box::new(is_values),
                Box::new(fail.clone()),
                Box::new(Expr::If(
                    Box::new(is_values2),
                    Box::new(fail),
                    Box::new(Expr::Local(v)),
                )),
            );
            let x = Expr::Let(vec![(v, body)], Box::new(x));
            return Some(Expr::Let(vec![(params[0], x)], Box::new(cbody)));
        }
        if n == 2 {
            // Two values are always a `values2` record (see `values` in the prelude).
            let first = Expr::Prim("%values2-first", vec![Expr::Local(v)], line);
            let second = Expr::Prim("%values2-second", vec![Expr::Local(v)], line);
            let take_apart = Expr::Let(
                vec![(params[0], first), (params[1], second)],
                Box::new(cbody),
            );
            let x = Expr::If(Box::new(is_values2), Box::new(take_apart), Box::new(fail));
            return Some(Expr::Let(vec![(v, body)], Box::new(x)));
        }
        let arr = self.new_var("values-items");
        let items_of = Expr::Prim("%values-arr", vec![Expr::Local(v)], line);
        let items = Expr::If(
            Box::new(is_values),
            Box::new(items_of),
            Box::new(fail.clone()),
        );
        let bs: Vec<(VarId, Expr)> = params
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let ix = Expr::Lit(Lit::Int(i as i64));
                (
                    x,
                    Expr::Prim("vector-ref", vec![Expr::Local(arr), ix], line),
                )
            })
            .collect();
        let len = Expr::Prim("vector-length", vec![Expr::Local(arr)], line);
        let count_ok = Expr::Prim("=", vec![len, Expr::Lit(Lit::Int(n as i64))], line);
        let take_apart = Expr::If(
            Box::new(count_ok),
            Box::new(Expr::Let(bs, Box::new(cbody))),
            Box::new(fail),
        );
        Some(Expr::Let(
            vec![(v, body)],
            Box::new(Expr::Let(vec![(arr, items)], Box::new(take_apart))),
        ))
    }

    fn quasi(&mut self, sx: &Sx, depth: usize) -> R<Expr> {
        if !has_unquote(sx) {
            return Ok(self.quote(sx));
        }
        let line = self.line(sx.pos);
        match &sx.d {
            Datum::List(l, tail) => {
                if tail.is_none() && l.len() == 2 {
                    match l[0].sym() {
                        Some("unquote") => {
                            if depth == 1 {
                                return self.expr(&l[1]);
                            }
                            let inner = self.quasi(&l[1], depth - 1)?;
                            let q = self.quote(&l[0]);
                            return Ok(list2(q, inner, line));
                        }
                        Some("quasiquote") => {
                            let inner = self.quasi(&l[1], depth + 1)?;
                            let q = self.quote(&l[0]);
                            return Ok(list2(q, inner, line));
                        }
                        _ => {}
                    }
                }
                let mut acc = match tail {
                    Some(t) => self.quasi(t, depth)?,
                    None => Expr::Lit(Lit::Nil),
                };
                for item in l.iter().rev() {
                    if let Some([h, e]) = item.list() {
                        if h.sym() == Some("unquote-splicing") && depth == 1 {
                            let spliced = self.expr(e)?;
                            let app = self.gkey("%append2");
                            self.global(&app);
                            acc = Expr::Call(Box::new(Expr::Global(app)), vec![spliced, acc], line);
                            continue;
                        }
                    }
                    let x = self.quasi(item, depth)?;
                    acc = Expr::Prim("cons", vec![x, acc], line);
                }
                Ok(acc)
            }
            Datum::Vector(items) => {
                let as_list = Sx {
                    d: Datum::List(items.clone(), None),
                    pos: sx.pos,
                };
                let l = self.quasi(&as_list, depth)?;
                let lv = self.gkey("list->vector");
                self.global(&lv);
                Ok(Expr::Call(Box::new(Expr::Global(lv)), vec![l], line))
            }
            _ => Ok(self.quote(sx)),
        }
    }
}

fn list2(a: Expr, b: Expr, line: u32) -> Expr {
    Expr::Prim(
        "cons",
        vec![a, Expr::Prim("cons", vec![b, Expr::Lit(Lit::Nil)], line)],
        line,
    )
}

fn has_unquote(sx: &Sx) -> bool {
    match &sx.d {
        Datum::List(l, t) => {
            if let Some(h) = l.first().and_then(Sx::sym) {
                if h == "unquote" || h == "unquote-splicing" {
                    return true;
                }
            }
            l.iter().any(has_unquote) || t.as_deref().is_some_and(has_unquote)
        }
        Datum::Vector(l) => l.iter().any(has_unquote),
        _ => false,
    }
}

/// Whether a top-level form is a definition (the REPL echoes only expressions).
pub fn is_definition(sx: &Sx) -> bool {
    sx.list()
        .and_then(|l| l.first())
        .and_then(Sx::sym)
        .is_some_and(|h| {
            matches!(
                h,
                "define"
                    | "define-record-type"
                    | "define-generic"
                    | "define-method"
                    | "import"
                    | "define-values"
            )
        })
}

enum DefValue<'s> {
    Void,
    Expr(&'s Sx),
    Lambda {
        params: &'s [Sx],
        rest: Option<&'s Sx>,
        body: &'s [Sx],
        pos: Pos,
    },
}

/// Whether every tail expression of `e` is a call of `values` (the global key `values`, when
/// it is not shadowed) with `n` arguments; counts them in `tails`.
fn count_values_tails(e: &Expr, values: Option<&str>, n: usize, tails: &mut usize) -> bool {
    match e {
        Expr::If(_, a, b) => {
            count_values_tails(a, values, n, tails) && count_values_tails(b, values, n, tails)
        }
        Expr::Seq(v) => v
            .last()
            .is_some_and(|x| count_values_tails(x, values, n, tails)),
        Expr::Let(_, b) | Expr::Letrec(_, b) => count_values_tails(b, values, n, tails),
        Expr::Prim("%values", args, _) => {
            *tails += 1;
            matches!(args.as_slice(), [Expr::Prim("vector", items, _)] if items.len() == n)
        }
        Expr::Prim("%values2", _, _) => {
            *tails += 1;
            n == 2
        }
        Expr::Call(f, args, _) => {
            *tails += 1;
            args.len() == n && values.is_some_and(|k| matches!(&**f, Expr::Global(g) if g == k))
        }
        _ => false,
    }
}

/// Replaces each tail `(values e1 .. en)` of `e` (see [`count_values_tails`]) with `f(args)`.
fn replace_values_tails(e: &mut Expr, f: &mut dyn FnMut(Vec<Expr>) -> Expr) {
    match e {
        Expr::If(_, a, b) => {
            replace_values_tails(a, f);
            replace_values_tails(b, f);
        }
        Expr::Seq(v) => {
            if let Some(x) = v.last_mut() {
                replace_values_tails(x, f);
            }
        }
        Expr::Let(_, b) | Expr::Letrec(_, b) => replace_values_tails(b, f),
        Expr::Prim("%values", args, _) => {
            if let Some(Expr::Prim("vector", items, _)) = args.pop() {
                *e = f(items);
            }
        }
        Expr::Prim("%values2", args, _) => {
            let args = std::mem::take(args);
            *e = f(args);
        }
        Expr::Call(_, args, _) => {
            let args = std::mem::take(args);
            *e = f(args);
        }
        _ => {}
    }
}
