//! `sigma-lisp`: slisp, a compiler from Scheme (an R7RS-small subset) to Sigma bytecode.
//!
//! The pipeline: [`reader`] (text to data with positions) → [`expand`] (data to the core
//! language, resolving names and derived forms) → [`analyse`] (escapes, lambda lifting, free
//! variables, boxes) → [`codegen`] (one Sigma [`Module`] through the builder API). The prelude
//! (`prelude.scm`, standard procedures written in Scheme) is compiled with every program into
//! the same module, so record types such as pairs are shared and calls into it are direct.
//!
//! Invariants: compiling never panics on any input (every problem is a [`CompileError`] with
//! file:line:col); the produced module passes the Sigma verifier (a failure there is reported
//! as an internal error, not a panic). See `lisp/README.md` for the value mapping.

pub mod analyse;
pub mod ast;
pub mod codegen;
pub mod expand;
pub mod inline;
pub mod macros;
pub mod prune;
pub mod reader;

use std::fmt;

use sigma_vm::{Module, ModuleInfo, Trap, TrapKind};

use crate::reader::{Datum, Pos, Sx};

/// The prelude's source.
pub const PRELUDE: &str = include_str!("prelude.scm");

/// Most arguments `apply` (and calls of non-`fn` procedure values) pass to a fixed-arity
/// procedure.
pub const APPLY_LIMIT: usize = 12;

/// A compile error: where, what, and the offending source line.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError {
    /// Source file name.
    pub file: String,
    /// Position (line 0 when unknown).
    pub pos: Pos,
    /// What went wrong.
    pub message: String,
    /// The source line, if known.
    pub line_text: Option<String>,
    /// The input ended inside a datum (the REPL reads more lines).
    pub incomplete: bool,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.pos.line, self.pos.col, self.message
        )?;
        if let Some(t) = &self.line_text {
            // Long lines are cut to a window around the column.
            let chars: Vec<char> = t.chars().collect();
            let col = (self.pos.col.saturating_sub(1) as usize).min(chars.len());
            let start = col.saturating_sub(60);
            let end = (col + 60).min(chars.len());
            let shown: String = chars[start..end].iter().collect();
            let caret: String = chars[start..col]
                .iter()
                .map(|&c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let (pre, post) = (
                if start > 0 { "..." } else { "" },
                if end < chars.len() { "..." } else { "" },
            );
            let pad = " ".repeat(pre.len());
            write!(f, "\n  {pre}{shown}{post}\n  {pad}{caret}^")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileError {}

/// Options for [`compile`].
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// Write the value of the last form if it is an expression (the REPL).
    pub repl_print: bool,
}

fn line_of(src: &str, line: u32) -> Option<String> {
    if line == 0 {
        return None;
    }
    src.lines().nth(line as usize - 1).map(str::to_owned)
}

fn module_name(file: &str) -> String {
    let stem = std::path::Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scheme");
    let mut s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, 's');
    }
    s
}

/// The Scheme text of the procedures generated from tables: value versions of the inline
/// primitives, `c[ad]r` compositions, and `%apply`.
fn generated_prelude(defined: &std::collections::HashSet<String>) -> String {
    let mut out = String::new();
    for (name, min, max) in expand::PRIMS {
        if name.starts_with('%') || min != max || defined.contains(*name) {
            continue;
        }
        let args: Vec<String> = (0..*min).map(|i| format!("a{i}")).collect();
        let a = args.join(" ");
        out.push_str(&format!("(define ({name} {a}) ({name} {a}))\n"));
    }
    let mut combos = vec![String::new()];
    for len in 1..=4 {
        let mut next = Vec::new();
        for c in &combos {
            for x in ["a", "d"] {
                next.push(format!("{c}{x}"));
            }
        }
        combos = next;
        if len >= 2 {
            for c in &combos {
                out.push_str(&format!("(define (c{c}r x) (c{c}r x))\n"));
            }
        }
    }
    // %apply: fixed arity up to APPLY_LIMIT arguments.
    out.push_str(
        "(define (%apply f args)\n  (cond ((%fn? f) (%apply-fixed f args))\n        ((%varproc? f) (%apply-var (%varproc-fn f) (%varproc-nreq f) args))\n        (else (%not-procedure f))))\n",
    );
    // %apply-fixed: dispatch on the length to one small function per argument count (each is
    // compiled only if used).
    out.push_str("(define (%apply-fixed f a)\n  (let ((n (length a)))\n    (cond\n");
    for n in 0..=APPLY_LIMIT {
        out.push_str(&format!("      ((= n {n}) (%apply-fixed{n} f a))\n"));
    }
    out.push_str(&format!(
        "      (else (error \"apply: too many arguments for a fixed-arity procedure (the limit is {APPLY_LIMIT})\")))))\n"
    ));
    for n in 0..=APPLY_LIMIT {
        let mut args = String::new();
        let mut cur = "a".to_owned();
        for _ in 0..n {
            args.push_str(&format!(" (car {cur})"));
            cur = format!("(cdr {cur})");
        }
        out.push_str(&format!(
            "(define (%apply-fixed{n} f a) (%callv f{args}))\n"
        ));
    }
    // %apply-var: `nreq` required arguments, then the rest list.
    out.push_str("(define (%arg a f n all) (if (pair? a) (car a) (%arity-fail f n all)))\n");
    out.push_str("(define (%apply-var f n a)\n  (cond\n");
    for n in 0..=APPLY_LIMIT {
        out.push_str(&format!("    ((= n {n}) (%apply-var{n} f a))\n"));
    }
    out.push_str("    (else (error \"apply: too many required parameters\"))))\n");
    for n in 0..=APPLY_LIMIT {
        let mut s = String::new();
        for j in 0..n {
            s.push_str(&format!("(x{j} (%arg a f {n} all)) (a (cdr a)) "));
        }
        let xs: Vec<String> = (0..n).map(|j| format!("x{j}")).collect();
        out.push_str(&format!(
            "(define (%apply-var{n} f all) (let* ((a all) {s}) (%callv f {} a)))\n",
            xs.join(" ")
        ));
    }
    out
}

fn prelude_forms() -> Result<Vec<Sx>, CompileError> {
    let perr = |pos: Pos, message: String| CompileError {
        file: "prelude.scm".into(),
        pos,
        message,
        line_text: None,
        incomplete: false,
    };
    let mut forms = reader::read_all(PRELUDE).map_err(|e| perr(e.pos, e.message))?;
    let mut defined = std::collections::HashSet::new();
    for f in &forms {
        if let Some(l) = f.list() {
            if l.first().and_then(Sx::sym) == Some("define") {
                let name = match l.get(1).map(|x| &x.d) {
                    Some(Datum::Sym(s)) => Some(s.as_str()),
                    Some(Datum::List(items, _)) => items.first().and_then(Sx::sym),
                    _ => None,
                };
                if let Some(n) = name {
                    defined.insert(n.to_owned());
                }
            }
        }
    }
    let gen = generated_prelude(&defined);
    let extra = reader::read_all(&gen)
        .map_err(|e| perr(e.pos, format!("generated prelude: {}", e.message)))?;
    forms.extend(extra);
    Ok(forms)
}

/// Compiles a Scheme program (`file` names it in errors and debug info) to a Sigma module
/// whose exported `main` runs it.
pub fn compile(src: &str, file: &str, opts: &CompileOptions) -> Result<Module, CompileError> {
    compile_chunks(&[src], file, opts)
}

/// Compiles a program given in chunks (REPL inputs): each is read separately (error
/// positions are relative to its chunk), and with [`CompileOptions::repl_print`] the value of
/// each chunk's last form, if an expression, is written.
pub fn compile_chunks(
    chunks: &[&str],
    file: &str,
    opts: &CompileOptions,
) -> Result<Module, CompileError> {
    // The passes recurse over the program's nesting (bounded by the reader's depth limit):
    // run them on a thread with a stack large enough for that bound, whatever the caller's.
    let owned: Vec<String> = chunks.iter().map(|s| (*s).to_owned()).collect();
    let (file_owned, opts_owned) = (file.to_owned(), opts.clone());
    let worker = std::thread::Builder::new()
        .name("slisp-compile".into())
        .stack_size(COMPILER_STACK)
        .spawn(move || {
            let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
            compile_on_this_thread(&refs, &file_owned, &opts_owned)
        });
    let fail = |message: String| CompileError {
        file: file.to_owned(),
        pos: Pos::default(),
        message,
        line_text: None,
        incomplete: false,
    };
    match worker {
        Ok(h) => h
            .join()
            .unwrap_or_else(|_| Err(fail("internal error: the compiler panicked".into()))),
        Err(e) => Err(fail(format!("cannot start the compiler thread: {e}"))),
    }
}

/// Native stack reserved for the compiler's thread (address space; pages are committed only
/// as they are used).
const COMPILER_STACK: usize = 256 << 20;

fn compile_on_this_thread(
    chunks: &[&str],
    file: &str,
    opts: &CompileOptions,
) -> Result<Module, CompileError> {
    let mut parsed = Vec::new();
    for src in chunks {
        let user = reader::read_all(src).map_err(|e| CompileError {
            file: file.to_owned(),
            pos: e.pos,
            line_text: line_of(src, e.pos.line),
            message: e.message,
            incomplete: e.incomplete,
        })?;
        parsed.push((*src, user));
    }
    let prelude = prelude_forms()?;
    let mut ex = expand::Expander::new(file);
    let internal = |message: String| CompileError {
        file: file.to_owned(),
        pos: Pos::default(),
        message,
        line_text: None,
        incomplete: false,
    };
    ex.prelude(&prelude).map_err(|e| {
        internal(format!(
            "internal error in the prelude at {}:{}: {}",
            e.pos.line, e.pos.col, e.message
        ))
    })?;
    for (_, user) in &parsed {
        ex.declare_user(user);
    }
    for (src, user) in &parsed {
        ex.user(user, opts.repl_print).map_err(|e| CompileError {
            file: file.to_owned(),
            pos: e.pos,
            line_text: line_of(src, e.pos.line),
            message: e.message,
            incomplete: false,
        })?;
    }
    let mut prog = ex.finish();
    prune::prune(&mut prog);
    inline::inline(&mut prog);
    analyse::analyse(&mut prog);
    let module = codegen::generate(&prog, &module_name(file), Some(file.to_owned()))
        .map_err(|e| internal(format!("internal error: {e}")))?;
    Ok(module)
}

/// Compiles and verifies.
pub fn compile_verified(
    src: &str,
    file: &str,
    opts: &CompileOptions,
) -> Result<(Module, ModuleInfo), CompileError> {
    verified(compile(src, file, opts)?, file)
}

/// Verifies a compiled module (a failure is an internal error of slisp).
pub fn verified(m: Module, file: &str) -> Result<(Module, ModuleInfo), CompileError> {
    let info = sigma_vm::runtime::verify(&m).map_err(|e| CompileError {
        file: file.to_owned(),
        pos: Pos::default(),
        message: format!("internal error: the generated code does not verify: {e}"),
        line_text: None,
        incomplete: false,
    })?;
    Ok((m, info))
}

/// A datum printed back as Scheme text (for messages such as `assert`'s).
pub fn print_datum(sx: &Sx) -> String {
    match &sx.d {
        Datum::Int(i) => i.to_string(),
        Datum::Float(x) => format!("{x:?}"),
        Datum::Bool(b) => if *b { "#t" } else { "#f" }.into(),
        Datum::Char(c) => format!("#\\{c}"),
        Datum::Str(s) => format!("{s:?}"),
        Datum::Sym(s) => s.clone(),
        Datum::List(items, tail) => {
            let mut s = String::from("(");
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(&print_datum(x));
            }
            if let Some(t) = tail {
                s.push_str(" . ");
                s.push_str(&print_datum(t));
            }
            s.push(')');
            s
        }
        Datum::Vector(items) => {
            let inner: Vec<String> = items.iter().map(print_datum).collect();
            format!("#({})", inner.join(" "))
        }
        Datum::Bytes(b) => {
            let inner: Vec<String> = b.iter().map(|x| x.to_string()).collect();
            format!("#u8({})", inner.join(" "))
        }
    }
}

fn scheme_type(t: &str) -> &str {
    match t {
        "int" => "an integer",
        "float" => "a real",
        "str" => "a symbol",
        "string" => "a string",
        "pair" => "a pair",
        "nil" => "the empty list",
        "bool" => "a boolean",
        "char" => "a character",
        "array" => "a vector",
        "bytes" => "a bytevector",
        "fn" => "a procedure",
        "varproc" => "a procedure",
        "void" => "the unspecified value",
        "eof" => "the eof object",
        "values" | "values2" => "multiple values",
        "numbers" => "numbers",
        "record" => "a pair, string or record",
        "map" => "a hash table",
        other => other,
    }
}

/// Rewrites a Sigma trap message in Scheme terms (`getf: expected pair, got int` becomes
/// `car/cdr: expected a pair, got an integer`).
pub fn scheme_message(trap: &Trap) -> String {
    let m = trap.message.as_str();
    match trap.kind {
        TrapKind::Panic => return m.to_owned(),
        TrapKind::DivisionByZero => return "division by zero".to_owned(),
        TrapKind::StackOverflow => return format!("stack overflow (recursion too deep): {m}"),
        _ => {}
    }
    if let Some(rest) = m.strip_prefix("callv: ") {
        // "`f` takes N argument(s), M given"
        return format!("wrong number of arguments: {rest}");
    }
    let (op, rest) = match m.split_once(": ") {
        Some(x) => x,
        None => return m.to_owned(),
    };
    let what = match op {
        "getf" | "setf" => match rest.split(", got ").next().unwrap_or("") {
            "expected pair" => "car/cdr",
            "expected string" => "string operation",
            "expected box" => "variable",
            _ => "record accessor",
        },
        "add" => "+",
        "sub" => "-",
        "mul" => "*",
        "div" => "quotient",
        "rem" => "remainder",
        "neg" => "-",
        "lt" => "<",
        "gt" => ">",
        "le" => "<=",
        "ge" => ">=",
        "jlt" => "<",
        "jgt" => ">",
        "jle" => "<=",
        "jge" => ">=",
        "aget" => "vector-ref",
        "aset" => "vector-set!",
        "alen" => "vector-length",
        "newarr" => "make-vector",
        "slen" => "string-length",
        "sget" => "string-ref",
        "substr" => "substring",
        "ld.u8" => "bytevector-u8-ref",
        "st.i8" => "bytevector-u8-set!",
        "abs" => "abs",
        "sqrt" => "sqrt",
        other => other,
    };
    let mut text = rest.to_owned();
    if let Some((exp, got)) = rest.split_once(", got ") {
        let exp = exp.strip_prefix("expected ").unwrap_or(exp);
        let got: Vec<&str> = got.split(" and ").map(scheme_type).collect();
        text = format!("expected {}, got {}", scheme_type(exp), got.join(" and "));
    }
    format!("{what}: {text}")
}

/// A trap as slisp reports it: a Scheme-level message, then the backtrace (procedure names
/// and source lines; prelude procedures have no line).
pub fn format_trap(trap: &Trap) -> String {
    let mut s = format!("error: {}", scheme_message(trap));
    if trap.kind != TrapKind::Panic {
        s.push_str(&format!(" [{}]", trap.kind));
    }
    for (i, fr) in trap.backtrace.iter().enumerate() {
        if trap.omitted > 0 && i == sigma_vm::runtime::trap::BACKTRACE_INNER {
            s.push_str(&format!("\n  ... {} frames omitted ...", trap.omitted));
        }
        let name = fr.function.as_str();
        match (&fr.file, fr.line) {
            (Some(f), Some(l)) => s.push_str(&format!("\n  in {name} at {f}:{l}")),
            _ => s.push_str(&format!("\n  in {name}")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigma_vm::Opcode;

    fn ops_of(m: &Module, name: &str) -> Vec<Opcode> {
        let f = m
            .functions
            .iter()
            .find(|f| f.name == name)
            .expect("function");
        f.code.iter().map(|i| i.op).collect()
    }

    #[test]
    fn bad_input_is_an_error_never_a_panic() {
        let bad = [
            "(",
            ")",
            "(define)",
            "(lambda)",
            "(let ((1 2)) 1)",
            "(define-record-type)",
            "(define-generic f 1)(define-method (f (x <nope>)) 1)",
            "(case)",
            "(do)",
            "`(,@)",
            "#(",
            "(quote)",
            "(set! 1 2)",
            "(let-values)",
            "(define-generic f -1)",
            "(%sys)",
            "(1 . 2)",
            "#\\",
            "\"abc",
            "(if 1 2 3 4)",
            "(define (f . 1) 1)",
            "(let loop)",
            "(cond (else))",
            "(cond (else 1) (#t 2))",
            "(lambda (x x) x)",
            "(define-values (a 1) 2)",
            "(define ((f a) b) a)",
            "(let* ((x)) x)",
            "(letrec ((f)) f)",
            "(f . x)",
            "(quasiquote)",
            "#u8(256)",
            "(define-method (g x) 1)",
            "(assert)",
            "(when)",
            "#|",
            "(a #;)",
            "[1 2)",
        ];
        for src in bad {
            let r = compile_verified(src, "bad.scm", &CompileOptions::default());
            let e = r.expect_err(src);
            assert!(e.to_string().starts_with("bad.scm:"), "{src}: {e}");
            assert!(!e.message.contains("internal error"), "{src}: {e}");
        }
    }

    #[test]
    fn mangled_programs_compile_or_fail_cleanly() {
        // Slices and splices of real programs (the prelude): each either compiles to a
        // verified module or gives an error; none panics.
        let text: Vec<char> = PRELUDE.chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..60 {
            let a = (next() % text.len() as u64) as usize;
            let len = (next() % 400) as usize;
            let b = (a + len).min(text.len());
            let mut s: String = text[a..b].iter().collect();
            if next() % 2 == 0 {
                let c = (next() % text.len() as u64) as usize;
                s.extend(text[c..(c + 50).min(text.len())].iter());
            }
            if let Err(e) = compile_verified(&s, "m.scm", &CompileOptions::default()) {
                assert!(!e.message.contains("internal error"), "{s:?}: {e}");
            }
        }
    }

    #[test]
    fn known_calls_are_direct_and_named_lets_are_loops_in_place() {
        let m = compile(
            "(define (f x) (display x))\n(define (g) (f 1) (f 2))\n\
             (define (h n) (+ 1 (let count-up ((i 0)) (if (< i n) (count-up (+ i 1)) i))))\n\
             (define (k n) (let walk ((i n)) (if (= i 0) 0 (+ 1 (walk (- i 1))))))\n\
             (define (u n) (let pass ((i n)) (if (= i 0) pass (pass (- i 1)))))\n\
             (display (list (h (g)) (k 3) (procedure? (u 2))))",
            "t.scm",
            &CompileOptions::default(),
        )
        .expect("compiles");
        let g = ops_of(&m, "g");
        assert!(
            g.contains(&Opcode::Call) && g.contains(&Opcode::TailCall),
            "{g:?}"
        );
        assert!(!g.contains(&Opcode::CallV), "{g:?}");
        // A named let that calls itself only in tail position is a loop in its binder's code,
        // even where its value is used by more code (no call, no function of its own), in an
        // inline scope named after it.
        assert!(m.functions.iter().all(|f| f.name != "count-up"));
        let h = ops_of(&m, "h");
        assert!(h.contains(&Opcode::Jump), "{h:?}");
        assert!(
            !h.iter()
                .any(|o| matches!(o, Opcode::Call | Opcode::TailCall | Opcode::Closure)),
            "{h:?}"
        );
        let hf = m.functions.iter().find(|f| f.name == "h").expect("h");
        assert!(hf.inlined.iter().any(|s| s.name == "count-up"));
        // One that calls itself other than in tail position, or is used as a value, keeps its
        // function.
        assert!(m.functions.iter().any(|f| f.name == "walk"));
        assert!(m.functions.iter().any(|f| f.name == "pass"));
    }

    #[test]
    fn small_procedures_are_inlined_in_scopes_that_keep_their_frames() {
        let m = compile(
            "(define (make-adder n) (lambda (x) (+ x n)))\n\
             (define (first x) (car x))\n\
             (define (count-down n) (if (= n 0) 'done (count-down (- n 1))))\n\
             (define (g l) (list ((make-adder 1) 2) (first l) (count-down 3)))\n\
             (display (g '(1)))",
            "t.scm",
            &CompileOptions::default(),
        )
        .expect("compiles");
        let g = ops_of(&m, "g");
        // The adder is made and called in place (an addition of constants), `first` is
        // inlined; the recursive `count-down` stays a call.
        assert!(
            !g.iter()
                .any(|o| matches!(o, Opcode::Closure | Opcode::CallV | Opcode::TailCallV)),
            "{g:?}"
        );
        let calls = g
            .iter()
            .filter(|o| matches!(o, Opcode::Call | Opcode::TailCall))
            .count();
        assert_eq!(calls, 1, "{g:?}");
        // `first`'s body is in an inline scope named after it, replacing a call on line 4,
        // and its `car` (a field read) is in that scope.
        let f = m.functions.iter().find(|f| f.name == "g").expect("g");
        let k = f
            .inlined
            .iter()
            .position(|s| s.name == "first" && s.call_line == 4 && s.parent == 0)
            .expect("a scope for `first`") as u32
            + 1;
        let in_first: Vec<Opcode> = f
            .code
            .iter()
            .zip(&f.scopes)
            .filter(|(_, s)| **s == k)
            .map(|(i, _)| i.op)
            .collect();
        assert!(in_first.contains(&Opcode::GetF), "{in_first:?}");
        // The procedures themselves remain, as values.
        assert!(m.functions.iter().any(|f| f.name == "make-adder"));
    }

    #[test]
    fn small_recursive_procedures_are_unrolled_two_levels_within_a_budget_and_loops_are_not() {
        let m = compile(
            "(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))\n\
             (define (tak x y z) (if (not (< y x)) z\n\
               (tak (tak (- x 1) y z) (tak (- y 1) z x) (tak (- z 1) x y))))\n\
             (define (count-down i) (if (= i 0) 'done (count-down (- i 1))))\n\
             (define (len l) (if (null? l) 0 (+ 1 (len (cdr l)))))\n\
             (display (list (fib 10) (tak 6 4 2) (count-down 5) (len '(1 2 3))))",
            "t.scm",
            &CompileOptions::default(),
        )
        .expect("compiles");
        let function = |name: &str| {
            m.functions
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("{name} is compiled"))
        };
        let calls = |name: &str| {
            function(name)
                .code
                .iter()
                .filter(|i| matches!(i.op, Opcode::Call | Opcode::TailCall))
                .count()
        };
        let scopes = |name: &str| {
            function(name)
                .inlined
                .iter()
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
        };
        // Each of fib's two calls became a copy of its body (in a scope named `fib`), and each
        // of the copies' two calls a copy again, whose own two calls stay calls.
        assert_eq!(scopes("fib"), vec!["fib"; 6]);
        assert_eq!(calls("fib"), 8);
        // tak's three calls not in tail position became copies; a second level (twelve more
        // copies) would exceed the budget, so the copies' four calls stay calls, beside the
        // tail call.
        assert_eq!(scopes("tak"), vec!["tak"; 3]);
        assert_eq!(calls("tak"), 13);
        // A linear recursion: its one call became a copy, and the copy's one call a copy
        // again, whose call stays a call.
        assert_eq!(scopes("len"), vec!["len"; 2]);
        assert_eq!(calls("len"), 1);
        // A procedure that calls itself only in tail position is still a loop.
        assert!(scopes("count-down").is_empty());
        let ops: Vec<Opcode> = function("count-down").code.iter().map(|i| i.op).collect();
        assert!(ops.contains(&Opcode::Jump), "{ops:?}");
        assert!(!ops.contains(&Opcode::Call), "{ops:?}");
    }

    #[test]
    fn unused_prelude_code_is_pruned() {
        let m = compile("(car '(1))", "t.scm", &CompileOptions::default()).expect("compiles");
        assert!(m.functions.iter().all(|f| f.name != "string-upcase"));
        assert!(m.functions.iter().any(|f| f.name == "%apply"));
    }

    #[test]
    fn trap_messages_are_translated() {
        let t = Trap {
            kind: TrapKind::TypeError,
            message: "getf: expected pair, got int".into(),
            backtrace: vec![],
            omitted: 0,
        };
        assert_eq!(
            scheme_message(&t),
            "car/cdr: expected a pair, got an integer"
        );
        let t = Trap {
            kind: TrapKind::TypeError,
            message: "callv: `f` takes 1 argument(s), 2 given".into(),
            backtrace: vec![],
            omitted: 0,
        };
        assert_eq!(
            scheme_message(&t),
            "wrong number of arguments: `f` takes 1 argument(s), 2 given"
        );
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    #[test]
    fn deep_nesting_compiles_on_a_small_stack() {
        // The reader's depth limit keeps the recursive passes within a 2 MiB thread stack.
        let h = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let n = 1990;
                let src = format!("(display {}0{})", "(+ 1 ".repeat(n), ")".repeat(n));
                let ok = compile_verified(&src, "deep.scm", &CompileOptions::default()).is_ok();
                let q = format!("(display '{}{})", "(".repeat(n), ")".repeat(n));
                let ok2 = compile_verified(&q, "deep.scm", &CompileOptions::default()).is_ok();
                let too_deep = format!("(display {}0{})", "(+ 1 ".repeat(3000), ")".repeat(3000));
                let err =
                    compile_verified(&too_deep, "deep.scm", &CompileOptions::default()).is_err();
                (ok, ok2, err)
            })
            .expect("thread");
        assert_eq!(h.join().expect("no stack overflow"), (true, true, true));
    }
}
