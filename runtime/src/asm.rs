//! The assembler: Sigma assembly text (`.sbas`) to a verified [`Module`].
//!
//! The grammar is line-oriented (see `docs/bytecode.md`): module directives (`.module`,
//! `.source`, `.import`, `.native`, `.extern`, `.type`, `.global`, `.init`, `.multimethod`, `.method`), function blocks (`.func` … `.end`) containing `.reg` and
//! `.line` directives, labels (`name:`) and instructions (`mnemonic operand, operand, ...`).
//! Operands are parsed generically from the opcode table's operand kinds.
//!
//! Invariants: assembly never panics on any input; every error carries file, line, column, the
//! source line and the length of the offending token. Verifier errors in assembled code are
//! mapped back to the instruction's source position.

use std::collections::HashMap;
use std::fmt;

use thiserror::Error;

use crate::builder::{
    Arg, ExternId, FuncId, FunctionBuilder, Label, MmId, ModuleBuilder, Reg, TypeId,
};
use crate::ffi::{CType, ALL_CTYPES};
use crate::module::{Constant, Module, Pattern};
use crate::opcodes::{Opcode, OperandKind};
use crate::types::Type;
use crate::verify::{verify, ModuleInfo, MAX_REGISTERS};

/// An assembly error with its source location.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub struct AsmError {
    /// File name as given to the assembler.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub col: u32,
    /// Length of the offending text in characters (at least 1).
    pub len: u32,
    /// What is wrong.
    pub message: String,
    /// The source line, for display.
    pub source_line: String,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.col, self.message
        )?;
        writeln!(f, "    {}", self.source_line)?;
        // Keep tabs so the caret lines up under tab-indented source.
        let pad: String = self
            .source_line
            .chars()
            .take(self.col.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "    {pad}{}", "^".repeat(self.len.max(1) as usize))
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// An identifier; `true` when it was written in backquotes.
    Ident(String, bool),
    Directive(String),
    Int(i64),
    Float(f64),
    Str(String),
    Char(char),
    Comma,
    Colon,
    LParen,
    RParen,
    Arrow,
    Eq,
    LBrace,
    RBrace,
    Slash,
    /// `Type.field` where either part was backquoted.
    FieldRef(String, String),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    col: u32,
    len: u32,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s, _) => format!("`{s}`"),
            Tok::Directive(s) => format!("`.{s}`"),
            Tok::Int(i) => format!("`{i}`"),
            Tok::Float(x) => format!("`{}`", Constant::Float(*x)),
            Tok::Str(_) => "a string".into(),
            Tok::Char(_) => "a char".into(),
            Tok::Comma => "`,`".into(),
            Tok::Colon => "`:`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Arrow => "`->`".into(),
            Tok::Eq => "`=`".into(),
            Tok::LBrace => "`{`".into(),
            Tok::RBrace => "`}`".into(),
            Tok::Slash => "`/`".into(),
            Tok::FieldRef(t, f) => format!("`{t}.{f}`"),
        }
    }
}

/// Words that cannot name registers, functions or globals unless backquoted.
const RESERVED: &[&str] = &["true", "false", "nil", "inf", "nan", "_"];

/// Whether `s` can be written as a bare identifier.
pub fn is_plain_ident(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'))
        && !RESERVED.contains(&s)
}

/// `Some(n)` if `s` has the register-number form `rN`.
fn reg_number(s: &str) -> Option<u32> {
    let digits = s.strip_prefix('r')?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    digits.parse().ok()
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

type LexResult<T> = Result<T, (u32, u32, String)>;

impl Lexer {
    fn lex(line: &str) -> LexResult<Vec<Token>> {
        let mut lx = Lexer {
            chars: line.chars().collect(),
            pos: 0,
        };
        let mut out = Vec::new();
        while let Some(tok) = lx.next()? {
            out.push(tok);
        }
        Ok(out)
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn err<T>(&self, start: usize, msg: impl Into<String>) -> LexResult<T> {
        Err((
            start as u32 + 1,
            (self.pos - start).max(1) as u32,
            msg.into(),
        ))
    }

    fn next(&mut self) -> LexResult<Option<Token>> {
        while self.peek(0).is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(c) = self.peek(0) else {
            return Ok(None);
        };
        let tok = match c {
            ';' => {
                self.pos = self.chars.len();
                return Ok(None);
            }
            ',' => self.single(Tok::Comma),
            ':' => self.single(Tok::Colon),
            '(' => self.single(Tok::LParen),
            ')' => self.single(Tok::RParen),
            '=' => self.single(Tok::Eq),
            '{' => self.single(Tok::LBrace),
            '}' => self.single(Tok::RBrace),
            '/' => self.single(Tok::Slash),
            '-' if self.peek(1) == Some('>') => {
                self.pos += 2;
                Tok::Arrow
            }
            '-' | '+' if self.peek(1).is_some_and(|c| c.is_ascii_digit() || c == 'i') => {
                self.number()?
            }
            c if c.is_ascii_digit() => self.number()?,
            '"' => Tok::Str(self.quoted('"')?),
            '\'' => {
                let s = self.quoted('\'')?;
                let mut it = s.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) => Tok::Char(c),
                    _ => return self.err(start, "a char literal must hold exactly one character"),
                }
            }
            '`' => {
                let name = self.backquoted(start)?;
                if name.is_empty() {
                    return self.err(start, "empty backquoted name");
                }
                if self.peek(0) == Some('.')
                    && self
                        .peek(1)
                        .is_some_and(|c| c == '`' || c.is_ascii_alphabetic() || c == '_')
                {
                    self.pos += 1;
                    let field = self.field_part(start)?;
                    Tok::FieldRef(name, field)
                } else {
                    Tok::Ident(name, true)
                }
            }
            '.' if self.peek(1).is_some_and(|c| c.is_ascii_alphabetic()) => {
                self.pos += 1;
                Tok::Directive(self.word())
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == '$' => {
                let w = self.word();
                match w.strip_suffix('.') {
                    Some(ty) if self.peek(0) == Some('`') => {
                        Tok::FieldRef(ty.to_owned(), self.field_part(start)?)
                    }
                    _ => Tok::Ident(w, false),
                }
            }
            c => {
                self.pos += 1;
                return self.err(start, format!("unexpected character `{c}`"));
            }
        };
        Ok(Some(Token {
            tok,
            col: start as u32 + 1,
            len: (self.pos - start) as u32,
        }))
    }

    /// The field name after `Type.`: a plain word or a backquoted name.
    fn field_part(&mut self, start: usize) -> LexResult<String> {
        if self.peek(0) != Some('`') {
            return Ok(self.word());
        }
        self.backquoted(start)
    }

    /// A backquoted name starting at the opening backquote (the token began at `start`).
    fn backquoted(&mut self, start: usize) -> LexResult<String> {
        self.pos += 1;
        let from = self.pos;
        while self.peek(0).is_some_and(|c| c != '`') {
            self.pos += 1;
        }
        if self.peek(0).is_none() {
            return self.err(start, "unterminated backquoted name");
        }
        let name: String = self.chars[from..self.pos].iter().collect();
        self.pos += 1;
        Ok(name)
    }

    fn single(&mut self, t: Tok) -> Tok {
        self.pos += 1;
        t
    }

    fn word(&mut self) -> String {
        let from = self.pos;
        while self
            .peek(0)
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'))
        {
            self.pos += 1;
        }
        self.chars[from..self.pos].iter().collect()
    }

    fn number(&mut self) -> LexResult<Tok> {
        let start = self.pos;
        let mut neg = false;
        if let Some(c @ ('-' | '+')) = self.peek(0) {
            neg = c == '-';
            self.pos += 1;
        }
        if self.peek(0) == Some('i') {
            let w = self.word();
            return if w == "inf" {
                Ok(Tok::Float(if neg {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }))
            } else {
                self.err(
                    start,
                    format!(
                        "invalid number `{}`",
                        &self.chars[start..self.pos].iter().collect::<String>()
                    ),
                )
            };
        }
        let text_start = self.pos;
        while self
            .peek(0)
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            || (matches!(self.peek(0), Some('-' | '+'))
                && matches!(self.chars.get(self.pos - 1), Some('e' | 'E'))
                && !self.chars[text_start..self.pos]
                    .iter()
                    .any(|c| *c == 'x' || *c == 'X'))
        {
            self.pos += 1;
        }
        let raw: String = self.chars[text_start..self.pos]
            .iter()
            .filter(|c| **c != '_')
            .collect();
        let whole: String = self.chars[start..self.pos].iter().collect();
        let radix = |p: &str| -> Option<u32> {
            match p {
                "0x" | "0X" => Some(16),
                "0b" | "0B" => Some(2),
                "0o" | "0O" => Some(8),
                _ => None,
            }
        };
        if raw.len() > 2 {
            if let Some(r) = radix(&raw[..2]) {
                let Ok(mag) = u64::from_str_radix(&raw[2..], r) else {
                    return self.err(start, format!("invalid or out-of-range integer `{whole}`"));
                };
                // Non-decimal literals denote 64-bit patterns: 0xffffffffffffffff is -1.
                let v = mag as i64;
                return Ok(Tok::Int(if neg { v.wrapping_neg() } else { v }));
            }
        }
        let is_float = raw.contains('.') || raw.contains('e') || raw.contains('E');
        if is_float {
            match raw.parse::<f64>() {
                Ok(x) if x.is_infinite() => self.err(
                    start,
                    format!("float `{whole}` is out of range (write `inf` for infinity)"),
                ),
                Ok(x) if raw.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
                    Ok(Tok::Float(if neg { -x } else { x }))
                }
                _ => self.err(start, format!("invalid float `{whole}`")),
            }
        } else {
            let signed = if neg { format!("-{raw}") } else { raw.clone() };
            match signed.parse::<i64>() {
                Ok(v) => Ok(Tok::Int(v)),
                Err(_) if raw.bytes().all(|b| b.is_ascii_digit()) => {
                    self.err(start, format!("integer `{whole}` does not fit in 64 bits"))
                }
                Err(_) => self.err(start, format!("invalid number `{whole}`")),
            }
        }
    }

    fn quoted(&mut self, q: char) -> LexResult<String> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                return self.err(start, "unterminated literal");
            };
            self.pos += 1;
            if c == q {
                return Ok(s);
            }
            if c != '\\' {
                s.push(c);
                continue;
            }
            let esc_start = self.pos - 1;
            let Some(e) = self.peek(0) else {
                return self.err(start, "unterminated literal");
            };
            self.pos += 1;
            s.push(match e {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '0' => '\0',
                '\\' => '\\',
                '"' => '"',
                '\'' => '\'',
                'u' => {
                    if self.peek(0) != Some('{') {
                        return self.err(esc_start, "expected `{` after `\\u`");
                    }
                    self.pos += 1;
                    let from = self.pos;
                    while self.peek(0).is_some_and(|c| c.is_ascii_hexdigit()) {
                        self.pos += 1;
                    }
                    let hex: String = self.chars[from..self.pos].iter().collect();
                    if self.peek(0) != Some('}') {
                        return self.err(esc_start, "expected `}` to close `\\u{...}`");
                    }
                    self.pos += 1;
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(c) => c,
                        None => {
                            return self.err(
                                esc_start,
                                format!("`\\u{{{hex}}}` is not a Unicode scalar value"),
                            )
                        }
                    }
                }
                other => return self.err(esc_start, format!("unknown escape `\\{other}`")),
            });
        }
    }
}

/// One lexed source line.
struct Line<'a> {
    no: u32,
    text: &'a str,
    toks: Vec<Token>,
}

struct FuncSrc {
    id: FuncId,
    header: usize,
    body: std::ops::Range<usize>,
}

/// A name used on some line (line index, its token, the name), resolved after pass 1.
type NamedRef = (usize, Token, String);

/// Source position of each assembled instruction, for mapping verifier errors.
#[derive(Clone, Copy)]
struct Pos {
    line: usize,
    col: u32,
    len: u32,
}

struct Assembler<'a> {
    file: &'a str,
    lines: Vec<Line<'a>>,
    mb: ModuleBuilder,
    positions: Vec<Vec<Pos>>,
    func_lines: Vec<usize>,
    /// Record type names, known before anything else is parsed so types may refer to each
    /// other and be used before their declaration.
    types: HashMap<String, u32>,
    /// Line of each `.method`, in module order (for mapping verifier errors).
    method_lines: Vec<usize>,
}

/// A `.method` line, resolved once every function and multimethod is declared.
struct PendingMethod {
    line: usize,
    mm: Token,
    patterns: Vec<Pattern>,
    func: Token,
}

/// Resolves a type name: a built-in type (unless backquoted) or a record type.
fn resolve_type(types: &HashMap<String, u32>, name: &str, quoted: bool) -> Option<Type> {
    if !quoted {
        if let Some(t) = Type::from_name(name) {
            return Some(t);
        }
    }
    types.get(name).map(|i| Type::Record(*i))
}

type AResult<T> = Result<T, AsmError>;

/// Assembles `source` (named `file` in diagnostics) into a verified module.
pub fn assemble(source: &str, file: &str) -> Result<(Module, ModuleInfo), AsmError> {
    let mut lines = Vec::new();
    for (i, text) in source.lines().enumerate() {
        let toks = Lexer::lex(text).map_err(|(col, len, message)| AsmError {
            file: file.to_owned(),
            line: i as u32 + 1,
            col,
            len,
            message,
            source_line: text.to_owned(),
        })?;
        lines.push(Line {
            no: i as u32 + 1,
            text,
            toks,
        });
    }
    let stem = std::path::Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("main");
    let mut asm = Assembler {
        file,
        lines,
        mb: ModuleBuilder::new(stem),
        positions: Vec::new(),
        func_lines: Vec::new(),
        types: HashMap::new(),
        method_lines: Vec::new(),
    };
    asm.mb.set_source(Some(file.to_owned()));
    asm.prescan_types()?;
    let funcs = asm.declarations()?;
    let names = ModNames::of(asm.mb.module());
    for f in &funcs {
        asm.body(f, &names)?;
    }
    let module = std::mem::take(&mut asm.mb).finish();
    match verify(&module) {
        Ok(info) => Ok((module, info)),
        Err(e) => {
            let fi = e.function.as_ref().and_then(|n| module.function_index(n));
            let pos = match (fi, e.pc) {
                _ if e.method.is_some() => e
                    .method
                    .and_then(|i| asm.method_lines.get(i as usize))
                    .map(|&line| Pos {
                        line,
                        col: 1,
                        len: 7,
                    }),
                (Some(fi), Some(pc)) => asm.positions[fi as usize].get(pc as usize).copied(),
                (Some(fi), None) => Some(Pos {
                    line: asm.func_lines[fi as usize],
                    col: 1,
                    len: 5,
                }),
                _ => None,
            };
            let message = match (&e.function, pos.is_some()) {
                (Some(func), true) => format!("in function `{func}`: {}", e.message),
                _ => e.to_string(),
            };
            let pos = pos.unwrap_or(Pos {
                line: 0,
                col: 1,
                len: 1,
            });
            Err(asm.error_at(pos.line, pos.col, pos.len, message))
        }
    }
}

impl<'a> Assembler<'a> {
    fn error_at(&self, line: usize, col: u32, len: u32, message: impl Into<String>) -> AsmError {
        let l = self.lines.get(line);
        AsmError {
            file: self.file.to_owned(),
            line: l.map_or(1, |l| l.no),
            col,
            len,
            message: message.into(),
            source_line: l.map_or("", |l| l.text).to_owned(),
        }
    }

    fn err<T>(&self, line: usize, tok: &Token, message: impl Into<String>) -> AResult<T> {
        Err(self.error_at(line, tok.col, tok.len, message))
    }

    fn err_eol<T>(&self, line: usize, message: impl Into<String>) -> AResult<T> {
        let col = self.lines[line].text.chars().count() as u32 + 1;
        Err(self.error_at(line, col, 1, message))
    }

    /// Pass 0: the names of record types, in order.
    fn prescan_types(&mut self) -> AResult<()> {
        for li in 0..self.lines.len() {
            let toks = &self.lines[li].toks;
            if let (
                Some(Token {
                    tok: Tok::Directive(d),
                    ..
                }),
                Some(name),
            ) = (toks.first(), toks.get(1))
            {
                if d == "type" {
                    if let Tok::Ident(n, q) = &name.tok {
                        if !*q && Type::from_name(n).is_some() {
                            let t = name.clone();
                            return self.err(li, &t, format!("`{n}` is a built-in type name"));
                        }
                        if self.types.contains_key(n) {
                            let t = name.clone();
                            return self.err(li, &t, format!("record type `{n}` is defined twice"));
                        }
                        let i = self.types.len() as u32;
                        self.types.insert(n.clone(), i);
                    }
                }
            }
        }
        Ok(())
    }

    /// A `.type Name { field[: type], ... } [destructor f] [export]` declaration starting at
    /// line `li`, possibly spanning lines; returns the last line it used and the destructor to
    /// resolve once functions are known.
    fn record_type(&mut self, li: usize) -> AResult<(usize, Option<NamedRef>)> {
        // Gather tokens up to the closing brace, remembering each token's line.
        let mut toks: Vec<(usize, Token)> = Vec::new();
        let mut end = li;
        let mut closed = false;
        for (l, line) in self.lines.iter().enumerate().skip(li) {
            end = l;
            let skip = usize::from(l == li);
            for t in line.toks.iter().skip(skip) {
                closed |= t.tok == Tok::RBrace;
                toks.push((l, t.clone()));
            }
            if closed || !toks.iter().any(|(_, t)| t.tok == Tok::LBrace) {
                break;
            }
        }
        let mut i = 0;
        let at = |i: usize| -> (usize, Option<&Token>) {
            match toks.get(i) {
                Some((l, t)) => (*l, Some(t)),
                None => (end, None),
            }
        };
        macro_rules! fail {
            ($i:expr, $msg:expr) => {{
                let (l, t) = at($i);
                return match t {
                    Some(t) => self.err(l, t, $msg),
                    None => self.err_eol(l, $msg),
                };
            }};
        }
        let name = match at(i).1.map(|t| &t.tok) {
            Some(Tok::Ident(n, _)) => n.clone(),
            _ => fail!(i, "expected a record type name"),
        };
        i += 1;
        if at(i).1.map(|t| &t.tok) != Some(&Tok::LBrace) {
            fail!(i, "expected `{` after the record type name");
        }
        i += 1;
        let mut fields: Vec<(String, Type)> = Vec::new();
        loop {
            match at(i).1.map(|t| &t.tok) {
                Some(Tok::RBrace) => {
                    i += 1;
                    break;
                }
                Some(Tok::Ident(fname, q)) if *q || !RESERVED.contains(&fname.as_str()) => {
                    let fname = fname.clone();
                    if fields.iter().any(|(n, _)| *n == fname) {
                        fail!(i, format!("field `{fname}` is declared twice"));
                    }
                    i += 1;
                    let mut ty = Type::Any;
                    if at(i).1.map(|t| &t.tok) == Some(&Tok::Colon) {
                        i += 1;
                        ty = match at(i).1.map(|t| &t.tok) {
                            Some(Tok::Ident(tn, q)) => match resolve_type(&self.types, tn, *q) {
                                Some(t) if t.is_declarable() => t,
                                _ => fail!(i, format!("unknown type `{tn}`")),
                            },
                            _ => fail!(i, "expected a type after `:`"),
                        };
                        i += 1;
                    }
                    fields.push((fname, ty));
                    match at(i).1.map(|t| &t.tok) {
                        Some(Tok::Comma) => i += 1,
                        Some(Tok::RBrace) => {}
                        _ => fail!(i, "expected `,` or `}` after a field"),
                    }
                }
                Some(_) => fail!(i, "expected a field name or `}`"),
                None => fail!(i, "the record type is never closed by `}`"),
            }
        }
        let mut destructor = None;
        let mut export = false;
        while let (l, Some(t)) = at(i) {
            match &t.tok {
                Tok::Ident(w, false) if w == "destructor" && destructor.is_none() => {
                    i += 1;
                    match at(i) {
                        (
                            l2,
                            Some(
                                t2 @ Token {
                                    tok: Tok::Ident(f, _),
                                    ..
                                },
                            ),
                        ) => {
                            destructor = Some((l2, t2.clone(), f.clone()));
                            i += 1;
                        }
                        _ => fail!(i, "expected the destructor's function name"),
                    }
                }
                Tok::Ident(w, false) if w == "export" && !export => {
                    export = true;
                    i += 1;
                }
                _ => {
                    let t = t.clone();
                    return self.err(l, &t, format!("unexpected {}", t.tok.describe()));
                }
            }
        }
        let field_refs: Vec<(&str, Type)> = fields.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let id = match self.mb.type_id(&name) {
            Some(id) => id,
            None => fail!(0, format!("record type `{name}` is defined twice")),
        };
        self.mb.set_fields(id, &field_refs);
        self.mb.set_export_type(id, export);
        Ok((end, destructor))
    }

    /// Pass 1: module directives and function headers.
    fn declarations(&mut self) -> AResult<Vec<FuncSrc>> {
        let mut funcs = Vec::new();
        let mut open: Option<(FuncId, usize)> = None;
        let mut init: Option<(usize, Token, String)> = None;
        let mut module_named = false;
        let mut destructors: Vec<(TypeId, usize, Token, String)> = Vec::new();
        let mut methods: Vec<PendingMethod> = Vec::new();
        let ordered: Vec<String> = {
            let mut v: Vec<(&String, &u32)> = self.types.iter().collect();
            v.sort_by_key(|(_, i)| **i);
            v.into_iter().map(|(n, _)| n.clone()).collect()
        };
        for n in &ordered {
            // Declared up front so that field types and signatures can refer to any of them.
            let _ = self.mb.declare_record_type(n, false);
        }
        let mut skip_until = 0;
        for li in 0..self.lines.len() {
            if li < skip_until {
                continue;
            }
            let toks = self.lines[li].toks.clone();
            let Some(first) = toks.first() else { continue };
            match (&first.tok, open) {
                (Tok::Directive(d), None) => match d.as_str() {
                    "module" => {
                        let mut p = Cursor::new(self, li, &toks[1..]);
                        let name = p.name("module name")?;
                        p.end()?;
                        if module_named {
                            return self.err(li, first, "`.module` given twice");
                        }
                        module_named = true;
                        if !self.mb.module().functions.is_empty()
                            || !self.mb.module().globals.is_empty()
                        {
                            return self.err(
                                li,
                                first,
                                "`.module` must come before functions and globals",
                            );
                        }
                        self.mb.set_name(&name);
                    }
                    "source" => {
                        let mut p = Cursor::new(self, li, &toks[1..]);
                        let s = p.string("source file name")?;
                        p.end()?;
                        self.mb.set_source((!s.is_empty()).then_some(s));
                    }
                    "global" => self.global(li, &toks)?,
                    "type" => {
                        let (end, destructor) = self.record_type(li)?;
                        skip_until = end + 1;
                        if let (
                            Some((l, t, f)),
                            Some(Token {
                                tok: Tok::Ident(n, _),
                                ..
                            }),
                        ) = (destructor, toks.get(1))
                        {
                            if let Some(id) = self.mb.type_id(n) {
                                destructors.push((id, l, t, f));
                            }
                        }
                    }
                    "init" => {
                        let mut p = Cursor::new(self, li, &toks[1..]);
                        let tok = p.peek_tok()?.clone();
                        let name = p.name("initializer function")?;
                        p.end()?;
                        if init.is_some() {
                            return self.err(li, first, "`.init` given twice");
                        }
                        init = Some((li, tok, name));
                    }
                    "func" => {
                        let id = self.func_header(li, &toks)?;
                        open = Some((id, li));
                    }
                    "end" => return self.err(li, first, "`.end` without a matching `.func`"),
                    "reg" | "line" | "inline" | "scope" => {
                        return self.err(
                            li,
                            first,
                            format!("`.{d}` is only allowed inside a function"),
                        )
                    }
                    "import" => {
                        let mut p = Cursor::new(self, li, &toks[1..]);
                        let tok = p.peek_tok()?.clone();
                        let name = p.name("module name")?;
                        p.end()?;
                        if !crate::verify::is_module_name(&name) {
                            return self.err(
                                li,
                                &tok,
                                format!(
                                    "`{name}` is not a module name (letters, digits, `_`, `-`)"
                                ),
                            );
                        }
                        if self.mb.module().imports.contains(&name) {
                            return self.err(
                                li,
                                &tok,
                                format!("module `{name}` is imported twice"),
                            );
                        }
                        self.mb.import_module(&name);
                    }
                    "native" => self.native(li, &toks)?,
                    "extern" => self.extern_decl(li, &toks)?,
                    "multimethod" => {
                        let mut p = Cursor::new(self, li, &toks[1..]);
                        let tok = p.peek_tok()?.clone();
                        let name = p.name("multimethod name")?;
                        p.expect(&Tok::Slash, "`/` and the arity (`name/arity`)")?;
                        let at = p.peek_tok()?.clone();
                        let arity = match at.tok {
                            Tok::Int(n) if (0..=crate::verify::MAX_PARAMS as i64).contains(&n) => {
                                p.next_tok("the arity")?;
                                n as u32
                            }
                            _ => {
                                return self.err(
                                    li,
                                    &at,
                                    format!(
                                        "expected the arity (0 to {}), found {}",
                                        crate::verify::MAX_PARAMS,
                                        at.tok.describe()
                                    ),
                                )
                            }
                        };
                        let export = p.eat_word("export");
                        p.end()?;
                        if name.contains('.') {
                            return self.err(
                                li,
                                &tok,
                                format!("multimethod name `{name}` must not contain `.`"),
                            );
                        }
                        if self.mb.declare_multimethod(&name, arity, export).is_err() {
                            return self.err(
                                li,
                                &tok,
                                format!("multimethod `{name}` is declared twice"),
                            );
                        }
                    }
                    "method" => methods.push(self.method_decl(li, &toks)?),
                    _ => return self.err(li, first, format!("unknown directive `.{d}`")),
                },
                (Tok::Directive(d), Some((id, header))) if d == "end" => {
                    Cursor::new(self, li, &toks[1..]).end()?;
                    funcs.push(FuncSrc {
                        id,
                        header,
                        body: header + 1..li,
                    });
                    open = None;
                }
                (Tok::Directive(d), Some(_)) if d == "func" => {
                    return self.err(li, first, "`.func` inside a function (missing `.end`?)")
                }
                (_, Some(_)) => {}
                (_, None) => {
                    return self.err(
                        li,
                        first,
                        "instructions must be inside a `.func` ... `.end` block",
                    )
                }
            }
        }
        if let Some((_, header)) = open {
            let name_tok = self.lines[header].toks[0].clone();
            return self.err(header, &name_tok, "`.func` is never closed by `.end`");
        }
        if let Some((li, tok, name)) = init {
            match self.mb.function_id(&name) {
                Some(f) => self.mb.set_init(f),
                None => return self.err(li, &tok, format!("unknown function `{name}`")),
            }
        }
        for (t, li, tok, name) in destructors {
            match self.mb.function_id(&name) {
                Some(f) => self.mb.set_destructor(t, f),
                None => return self.err(li, &tok, format!("unknown function `{name}`")),
            }
        }
        for pm in methods {
            self.resolve_method(pm)?;
        }
        Ok(funcs)
    }

    /// `.native alias "library name"`.
    fn native(&mut self, li: usize, toks: &[Token]) -> AResult<()> {
        let mut p = Cursor::new(self, li, &toks[1..]);
        let tok = p.peek_tok()?.clone();
        let alias = p.name("library alias")?;
        let path = p.string("library name")?;
        p.end()?;
        if !crate::verify::is_c_identifier(&alias) {
            return self.err(
                li,
                &tok,
                format!("library alias `{alias}` must be an identifier (letters, digits, `_`)"),
            );
        }
        if path.is_empty() || path.contains('\0') {
            return self.err(li, &tok, "the library name must be non-empty, without NUL");
        }
        if self.mb.native_library(&alias, &path).is_err() {
            return self.err(
                li,
                &tok,
                format!("native library `{alias}` is declared twice"),
            );
        }
        Ok(())
    }

    /// `.extern alias.symbol (ctype, ...) -> ctype`.
    fn extern_decl(&mut self, li: usize, toks: &[Token]) -> AResult<()> {
        let mut p = Cursor::new(self, li, &toks[1..]);
        let tok = p.peek_tok()?.clone();
        let name = p.name("`library.symbol`")?;
        let Some((alias, symbol)) = name.split_once('.') else {
            return self.err(
                li,
                &tok,
                format!("expected `library.symbol`, found `{name}`"),
            );
        };
        let Some(lib) = self.mb.native_library_id(alias) else {
            return self.err(
                li,
                &tok,
                format!("unknown native library `{alias}` (declare it first with `.native {alias} \"...\"`)"),
            );
        };
        if !crate::verify::is_c_identifier(symbol) {
            return self.err(
                li,
                &tok,
                format!("extern symbol `{symbol}` must be a C identifier"),
            );
        }
        p.expect(&Tok::LParen, "`(`")?;
        let mut params = Vec::new();
        if !p.eat(&Tok::RParen) {
            loop {
                let t = p.ctype()?;
                if t == CType::Void {
                    let at = &p.toks[p.pos - 1];
                    return self.err(li, at, "`void` cannot be a parameter type");
                }
                params.push(t);
                if p.eat(&Tok::RParen) {
                    break;
                }
                p.expect(&Tok::Comma, "`,` or `)`")?;
            }
        }
        p.expect(&Tok::Arrow, "`->` and the result type")?;
        let ret = p.ctype()?;
        if ret == CType::Bytes {
            let at = &p.toks[p.pos - 1];
            return self.err(li, at, "bytes cannot be a result type (use ptr)");
        }
        p.end()?;
        if self.mb.extern_function(lib, symbol, &params, ret).is_err() {
            return self.err(li, &tok, format!("extern `{name}` is declared twice"));
        }
        Ok(())
    }

    /// `.method mm (pattern, ...) func`: parsed now, resolved after all declarations.
    fn method_decl(&mut self, li: usize, toks: &[Token]) -> AResult<PendingMethod> {
        let mut p = Cursor::new(self, li, &toks[1..]);
        let mm = p.next_tok("a multimethod name")?.clone();
        p.expect(&Tok::LParen, "`(` and the patterns")?;
        let mut patterns = Vec::new();
        if !p.eat(&Tok::RParen) {
            loop {
                let t = p.next_tok("a pattern")?;
                patterns.push(pattern_of(&self.types, t).map_or_else(|m| self.err(li, t, m), Ok)?);
                if p.eat(&Tok::RParen) {
                    break;
                }
                p.expect(&Tok::Comma, "`,` or `)`")?;
            }
        }
        let func = p.next_tok("the method's function")?.clone();
        p.end()?;
        Ok(PendingMethod {
            line: li,
            mm,
            patterns,
            func,
        })
    }

    fn resolve_method(&mut self, pm: PendingMethod) -> AResult<()> {
        let names = ModNames::of(self.mb.module());
        let li = pm.line;
        let ident = |t: &Token| match &t.tok {
            Tok::Ident(n, q) => Some((n.clone(), *q)),
            _ => None,
        };
        let mm_ident = ident(&pm.mm);
        let mm: MmId = match imported(
            &pm.mm,
            mm_ident.as_ref().map(|(n, q)| (n.as_str(), *q)),
            &names,
            "multimethod",
        ) {
            Ok(Some((m, n))) => self.mb.import_multimethod(m, n),
            Ok(None) => match mm_ident.as_ref().and_then(|(n, _)| names.mms.get(n)) {
                Some(&id) => id,
                None => {
                    let msg = match &mm_ident {
                        Some((n, _)) => format!("unknown multimethod `{n}`"),
                        None => format!(
                            "expected a multimethod name, found {}",
                            pm.mm.tok.describe()
                        ),
                    };
                    return self.err(li, &pm.mm, msg);
                }
            },
            Err((c, l, m)) => return Err(self.error_at(li, c, l, m)),
        };
        let f_ident = ident(&pm.func);
        let func = match imported(
            &pm.func,
            f_ident.as_ref().map(|(n, q)| (n.as_str(), *q)),
            &names,
            "function",
        ) {
            Ok(Some((m, n))) => self.mb.import_function(m, n),
            Ok(None) => named(
                &pm.func,
                f_ident.as_ref().map(|(n, q)| (n.as_str(), *q)),
                &names.funcs,
                "function",
            )
            .map_err(|(c, l, m)| self.error_at(li, c, l, m))?,
            Err((c, l, m)) => return Err(self.error_at(li, c, l, m)),
        };
        self.method_lines.push(li);
        self.mb.add_method(mm, pm.patterns, func);
        Ok(())
    }

    fn global(&mut self, li: usize, toks: &[Token]) -> AResult<()> {
        let mut p = Cursor::new(self, li, &toks[1..]);
        let name_tok = p.peek_tok()?.clone();
        let name = p.name("global name")?;
        let ty = if p.eat(&Tok::Colon) {
            p.ty()?
        } else {
            Type::Any
        };
        let init = if p.eat(&Tok::Eq) {
            p.literal()?
        } else {
            match ty {
                Type::Bool => Constant::Bool(false),
                Type::Int => Constant::Int(0),
                Type::Float => Constant::Float(0.0),
                Type::Char => Constant::Char('\0'),
                _ => Constant::Nil,
            }
        };
        let export = p.eat_word("export");
        p.end()?;
        if self.mb.global(&name, ty, init, export).is_err() {
            return self.err(li, &name_tok, format!("global `{name}` is defined twice"));
        }
        Ok(())
    }

    fn func_header(&mut self, li: usize, toks: &[Token]) -> AResult<FuncId> {
        let mut p = Cursor::new(self, li, &toks[1..]);
        let name_tok = p.peek_tok()?.clone();
        let name = p.name("function name")?;
        p.expect(&Tok::LParen, "`(`")?;
        let mut params: Vec<(String, Type, Token)> = Vec::new();
        if !p.eat(&Tok::RParen) {
            loop {
                let tok = p.peek_tok()?.clone();
                let pname = p.name("parameter name")?;
                let ty = if p.eat(&Tok::Colon) {
                    p.ty()?
                } else {
                    Type::Any
                };
                params.push((pname, ty, tok));
                if p.eat(&Tok::RParen) {
                    break;
                }
                p.expect(&Tok::Comma, "`,` or `)`")?;
            }
        }
        let ret = if p.eat(&Tok::Arrow) {
            p.ty()?
        } else {
            Type::Any
        };
        let export = p.eat_word("export");
        p.end()?;
        for (i, (pname, _, tok)) in params.iter().enumerate() {
            if params[..i].iter().any(|(n, _, _)| n == pname) {
                return self.err(li, tok, format!("parameter `{pname}` is declared twice"));
            }
            if let Some(n) = reg_number(pname) {
                if n as usize != i && !matches!(tok.tok, Tok::Ident(_, true)) {
                    return self.err(li, tok, format!("`{pname}` would name register {i}; `rN` names must match their position"));
                }
            }
        }
        let plist: Vec<(Option<&str>, Type)> = params
            .iter()
            .map(|(n, t, tok)| {
                let unnamed = reg_number(n).is_some() && !matches!(tok.tok, Tok::Ident(_, true));
                ((!unnamed).then_some(n.as_str()), *t)
            })
            .collect();
        match self.mb.declare_function(&name, &plist, ret, export) {
            Ok(id) => {
                self.positions.push(Vec::new());
                self.func_lines.push(li);
                Ok(id)
            }
            Err(_) => self.err(li, &name_tok, format!("function `{name}` is defined twice")),
        }
    }

    /// Pass 2: one function body.
    fn body(&mut self, src: &FuncSrc, names: &ModNames) -> AResult<()> {
        let mut state = BodyState::default();
        {
            let f = &self.mb.module().functions[src.id.0 as usize];
            for i in 0..f.params {
                let name = f
                    .reg_name(i)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("r{i}"));
                state.names.insert(name, Reg(i));
            }
        }
        let mut positions = Vec::new();
        let mut lines_explicit = false;
        let mut cur_line = 0u32;
        let lines: Vec<(usize, Vec<Token>)> = src
            .body
            .clone()
            .map(|li| (li, self.lines[li].toks.clone()))
            .collect();
        let mut pending = Vec::new();
        {
            let file = self.file;
            let lines_ref = &self.lines;
            let mk_err = |li: usize, col: u32, len: u32, message: String| AsmError {
                file: file.to_owned(),
                line: lines_ref[li].no,
                col,
                len,
                message,
                source_line: lines_ref[li].text.to_owned(),
            };
            let mut fb = self.mb.function(src.id);
            for (li, toks) in &lines {
                let li = *li;
                let mut toks: &[Token] = toks;
                if toks.is_empty() {
                    continue;
                }
                // Labels: `name:` at the start of the line.
                if let (
                    Some(Token {
                        tok: Tok::Ident(name, _),
                        col,
                        len,
                    }),
                    Some(Token {
                        tok: Tok::Colon, ..
                    }),
                ) = (toks.first(), toks.get(1))
                {
                    let label = state.label(&mut fb, name);
                    if state.bound.contains_key(name) {
                        return Err(mk_err(
                            li,
                            *col,
                            *len,
                            format!("label `{name}` is defined twice"),
                        ));
                    }
                    state.bound.insert(name.clone(), ());
                    // Binding only fails on rebinding, which `bound` rules out.
                    let _ = fb.bind(label);
                    toks = &toks[2..];
                    if toks.is_empty() {
                        continue;
                    }
                }
                let first = &toks[0];
                match &first.tok {
                    Tok::Directive(d) if d == "reg" => {
                        parse_reg_decl(&mut fb, &mut state, names, &toks[1..])
                            .map_err(|(c, l, m)| mk_err(li, c, l, m))?;
                    }
                    Tok::Directive(d) if d == "line" => match toks.get(1..) {
                        Some(
                            [Token {
                                tok: Tok::Int(n),
                                col,
                                len,
                            }],
                        ) => {
                            let Ok(n) = u32::try_from(*n) else {
                                return Err(mk_err(
                                    li,
                                    *col,
                                    *len,
                                    "line number out of range".into(),
                                ));
                            };
                            lines_explicit = true;
                            cur_line = n;
                        }
                        _ => {
                            return Err(mk_err(
                                li,
                                first.col,
                                first.len,
                                "`.line` takes one line number".into(),
                            ))
                        }
                    },
                    Tok::Directive(d) if d == "inline" => {
                        let (name, call_line, parent) = parse_inline_decl(&toks[1..])
                            .map_err(|(c, l, m)| match c {
                                0 => mk_err(li, first.col, first.len, m),
                                _ => mk_err(li, c, l, m),
                            })?;
                        if parent > fb.inline_scopes() {
                            return Err(mk_err(
                                li,
                                first.col,
                                first.len,
                                format!(
                                    "parent scope {parent} is not declared yet (scopes so far: {})",
                                    fb.inline_scopes()
                                ),
                            ));
                        }
                        fb.declare_inline(&name, call_line, parent);
                    }
                    Tok::Directive(d) if d == "scope" => match toks.get(1..) {
                        Some(
                            [Token {
                                tok: Tok::Int(n),
                                col,
                                len,
                            }],
                        ) => match u32::try_from(*n) {
                            Ok(k) if k <= fb.inline_scopes() => fb.set_scope(k),
                            _ => {
                                return Err(mk_err(
                                    li,
                                    *col,
                                    *len,
                                    format!(
                                        "no inline scope {n} (declared: {}; 0 = the function's own code)",
                                        fb.inline_scopes()
                                    ),
                                ))
                            }
                        },
                        _ => {
                            return Err(mk_err(
                                li,
                                first.col,
                                first.len,
                                "`.scope` takes one scope number".into(),
                            ))
                        }
                    },
                    Tok::Directive(d) => {
                        return Err(mk_err(
                            li,
                            first.col,
                            first.len,
                            format!("`.{d}` is not allowed inside a function"),
                        ))
                    }
                    Tok::Ident(m, false) => {
                        let Some(op) = Opcode::from_mnemonic(m) else {
                            return Err(mk_err(
                                li,
                                first.col,
                                first.len,
                                format!("unknown instruction `{m}`"),
                            ));
                        };
                        let line_no = self_line_no(lines_ref, li);
                        fb.set_line(if lines_explicit { cur_line } else { line_no });
                        let args = parse_operands(
                            &mut fb,
                            &mut state,
                            names,
                            op,
                            first,
                            &toks[1..],
                            li,
                            &mut pending,
                        )
                        .map_err(|(c, l, m)| mk_err(li, c, l, m))?;
                        fb.emit(op, &args);
                        positions.push(Pos {
                            line: li,
                            col: first.col,
                            len: first.len,
                        });
                    }
                    _ => {
                        return Err(mk_err(
                            li,
                            first.col,
                            first.len,
                            format!("expected an instruction, found {}", first.tok.describe()),
                        ))
                    }
                }
            }
            // Labels used but never defined.
            for (name, li, col, len) in &pending {
                if !state.bound.contains_key(name) {
                    return Err(mk_err(*li, *col, *len, format!("undefined label `{name}`")));
                }
            }
            if let Err(e) = fb.finish() {
                return Err(mk_err(src.header, 1, 5, e.to_string()));
            }
        }
        self.positions[src.id.0 as usize] = positions;
        Ok(())
    }
}

fn self_line_no(lines: &[Line<'_>], li: usize) -> u32 {
    lines[li].no
}

/// Names the operand parser resolves at module level.
struct ModNames {
    funcs: HashMap<String, FuncId>,
    globals: HashMap<String, crate::builder::GlobalId>,
    types: HashMap<String, u32>,
    /// Field names of each record type.
    fields: Vec<Vec<String>>,
    /// Imported module names.
    imports: Vec<String>,
    /// Extern functions by `alias.symbol`.
    externs: HashMap<String, ExternId>,
    /// The module's own multimethods.
    mms: HashMap<String, MmId>,
}

impl ModNames {
    fn of(m: &Module) -> Self {
        ModNames {
            imports: m.imports.clone(),
            externs: (0..m.externs.len() as u32)
                .map(|i| (m.extern_name(i), ExternId(i)))
                .collect(),
            mms: m
                .multimethods
                .iter()
                .enumerate()
                .map(|(i, d)| (d.name.clone(), MmId(i as u32)))
                .collect(),
            funcs: m
                .functions
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.clone(), FuncId(i as u32)))
                .collect(),
            globals: m
                .globals
                .iter()
                .enumerate()
                .map(|(i, g)| (g.name.clone(), crate::builder::GlobalId(i as u32)))
                .collect(),
            types: m
                .types
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name.clone(), i as u32))
                .collect(),
            fields: m
                .types
                .iter()
                .map(|t| t.fields.iter().map(|f| f.name.clone()).collect())
                .collect(),
        }
    }
}

#[derive(Default)]
struct BodyState {
    names: HashMap<String, Reg>,
    labels: HashMap<String, Label>,
    bound: HashMap<String, ()>,
}

impl BodyState {
    fn label(&mut self, fb: &mut FunctionBuilder<'_>, name: &str) -> Label {
        if let Some(l) = self.labels.get(name) {
            return *l;
        }
        let l = fb.new_label();
        self.labels.insert(name.to_owned(), l);
        l
    }

    /// Resolves a register reference: a declared name, or `rN`.
    fn reg(
        &mut self,
        fb: &mut FunctionBuilder<'_>,
        name: &str,
        quoted: bool,
    ) -> Result<Reg, String> {
        if let Some(r) = self.names.get(name) {
            return Ok(*r);
        }
        if !quoted {
            if let Some(n) = reg_number(name) {
                if n as usize >= MAX_REGISTERS {
                    return Err(format!(
                        "register r{n} exceeds the limit of {MAX_REGISTERS} registers"
                    ));
                }
                while fb.reg_count() <= n {
                    fb.reg(None, Type::Any);
                }
                return Ok(Reg(n));
            }
        }
        Err(format!("unknown register `{name}`"))
    }
}

type PResult<T> = Result<T, (u32, u32, String)>;

/// Resolves a function or global operand by name.
fn named<T: Copy>(
    t: &Token,
    ident: Option<(&str, bool)>,
    map: &HashMap<String, T>,
    what: &str,
) -> PResult<T> {
    match ident {
        Some((n, _)) => map
            .get(n)
            .copied()
            .ok_or_else(|| (t.col, t.len, format!("unknown {what} `{n}`"))),
        None => tok_err(
            t,
            format!("expected a {what} name, found {}", t.tok.describe()),
        ),
    }
}

/// A `module.name` reference to an imported module's export, if `ident` is one.
fn imported<'t>(
    t: &Token,
    ident: Option<(&'t str, bool)>,
    names: &ModNames,
    what: &str,
) -> PResult<Option<(&'t str, &'t str)>> {
    let Some((n, false)) = ident else {
        return Ok(None);
    };
    let Some((module, symbol)) = n.split_once('.') else {
        return Ok(None);
    };
    if !names.imports.iter().any(|m| m == module) {
        return tok_err(
            t,
            format!(
                "unknown {what} `{n}` (no module `{module}` is imported; add `.import {module}`)"
            ),
        );
    }
    if symbol.is_empty() || symbol.contains('.') {
        return tok_err(t, format!("expected `module.{what}`, found `{n}`"));
    }
    Ok(Some((module, symbol)))
}

fn tok_err<T>(t: &Token, msg: impl Into<String>) -> PResult<T> {
    Err((t.col, t.len, msg.into()))
}

/// `.inline NAME, CALL_LINE, PARENT`: an inline scope's declaration (after the directive).
fn parse_inline_decl(toks: &[Token]) -> Result<(String, u32, u32), (u32, u32, String)> {
    let usage =
        "`.inline` takes a name, the call's line and the parent scope: `.inline name, 12, 0`";
    let number = |t: &Token| match t.tok {
        Tok::Int(n) => u32::try_from(n).map_err(|_| (t.col, t.len, "number out of range".into())),
        _ => Err((t.col, t.len, usage.to_owned())),
    };
    match toks {
        [name, Token {
            tok: Tok::Comma, ..
        }, line, Token {
            tok: Tok::Comma, ..
        }, parent] => {
            let name = match &name.tok {
                Tok::Ident(n, _) | Tok::Str(n) => n.clone(),
                _ => return Err((name.col, name.len, usage.to_owned())),
            };
            Ok((name, number(line)?, number(parent)?))
        }
        [first, ..] => Err((first.col, first.len, usage.to_owned())),
        [] => Err((0, 0, usage.to_owned())),
    }
}

fn parse_reg_decl(
    fb: &mut FunctionBuilder<'_>,
    state: &mut BodyState,
    names: &ModNames,
    toks: &[Token],
) -> PResult<()> {
    let mut i = 0;
    if toks.is_empty() {
        return Err((1, 4, "`.reg` needs at least one register name".into()));
    }
    loop {
        let Some(t) = toks.get(i) else {
            let last = &toks[toks.len() - 1];
            return tok_err(last, "expected a register name after `,`");
        };
        let (name, quoted) = match &t.tok {
            Tok::Ident(n, q) if *q || !RESERVED.contains(&n.as_str()) => (n.clone(), *q),
            _ => {
                return tok_err(
                    t,
                    format!("expected a register name, found {}", t.tok.describe()),
                )
            }
        };
        i += 1;
        let mut ty = Type::Any;
        if matches!(
            toks.get(i),
            Some(Token {
                tok: Tok::Colon,
                ..
            })
        ) {
            i += 1;
            match toks.get(i) {
                Some(Token {
                    tok: Tok::Ident(tn, q),
                    ..
                }) if resolve_type(&names.types, tn, *q).is_some() => {
                    ty = resolve_type(&names.types, tn, *q).unwrap_or(Type::Any);
                    if !ty.is_declarable() {
                        return tok_err(&toks[i], format!("a register cannot have type {ty}"));
                    }
                    i += 1;
                }
                Some(other) => {
                    return tok_err(
                        other,
                        format!("expected a type, found {}", other.tok.describe()),
                    )
                }
                None => return tok_err(&toks[i - 1], "expected a type after `:`"),
            }
        }
        let index = fb.reg_count();
        let numbered = if quoted { None } else { reg_number(&name) };
        if let Some(n) = numbered {
            if n != index {
                return tok_err(
                    t,
                    format!(
                        "`{name}` would be register {index}; `rN` names must match their position"
                    ),
                );
            }
        }
        if index as usize >= MAX_REGISTERS {
            return tok_err(t, format!("more than {MAX_REGISTERS} registers"));
        }
        let r = fb.reg(
            if numbered.is_some() {
                None
            } else {
                Some(&name)
            },
            ty,
        );
        // A repeated name shadows the earlier register for the rest of the function.
        state.names.insert(name, r);
        match toks.get(i) {
            None => return Ok(()),
            Some(Token {
                tok: Tok::Comma, ..
            }) => i += 1,
            Some(other) => {
                return tok_err(
                    other,
                    format!(
                        "expected `,` or end of line, found {}",
                        other.tok.describe()
                    ),
                )
            }
        }
    }
}

/// A method pattern: a literal, `any`, or a type name.
fn pattern_of(types: &HashMap<String, u32>, t: &Token) -> Result<Pattern, String> {
    if let Some(c) = literal_of(t) {
        return Ok(Pattern::Lit(c));
    }
    match &t.tok {
        Tok::Ident(n, false) if n == "any" => Ok(Pattern::Any),
        Tok::Ident(n, q) => match resolve_type(types, n, *q) {
            Some(ty) => Ok(Pattern::Type(ty)),
            None => Err(format!("unknown type `{n}` in a pattern")),
        },
        other => Err(format!(
            "expected a pattern (`any`, a type or a literal), found {}",
            other.describe()
        )),
    }
}

fn literal_of(t: &Token) -> Option<Constant> {
    Some(match &t.tok {
        Tok::Int(i) => Constant::Int(*i),
        Tok::Float(x) => Constant::Float(*x),
        Tok::Str(s) => Constant::Str(s.clone()),
        Tok::Char(c) => Constant::Char(*c),
        Tok::Ident(w, false) => match w.as_str() {
            "true" => Constant::Bool(true),
            "false" => Constant::Bool(false),
            "nil" => Constant::Nil,
            "inf" => Constant::Float(f64::INFINITY),
            "nan" => Constant::Float(f64::NAN),
            _ => return None,
        },
        _ => return None,
    })
}

/// Parses one literal in assembly syntax (`42`, `-0x10`, `2.5`, `"text"`, `'c'`, `true`, `nil`,
/// `inf`, ...).
pub fn parse_literal(text: &str) -> Result<Constant, String> {
    let toks = Lexer::lex(text).map_err(|(_, _, m)| m)?;
    match toks.as_slice() {
        [t] => literal_of(t).ok_or_else(|| format!("`{}` is not a literal", text.trim())),
        [] => Err("expected a literal".into()),
        _ => Err(format!("`{}` is not a single literal", text.trim())),
    }
}

#[allow(clippy::too_many_arguments)]
fn parse_operands(
    fb: &mut FunctionBuilder<'_>,
    state: &mut BodyState,
    names: &ModNames,
    op: Opcode,
    mnemonic: &Token,
    toks: &[Token],
    li: usize,
    pending: &mut Vec<(String, usize, u32, u32)>,
) -> PResult<Vec<Arg>> {
    // Split into comma-separated single-token operands.
    let mut items: Vec<&Token> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        if t.tok == Tok::Comma {
            return tok_err(t, "expected an operand before `,`");
        }
        items.push(t);
        i += 1;
        match toks.get(i) {
            None => {}
            Some(Token {
                tok: Tok::Comma, ..
            }) => {
                i += 1;
                if i == toks.len() {
                    return tok_err(&toks[i - 1], "expected an operand after `,`");
                }
            }
            Some(other) => {
                return tok_err(
                    other,
                    format!(
                        "expected `,` between operands, found {}",
                        other.tok.describe()
                    ),
                )
            }
        }
    }
    let kinds = op.info().operands;
    let signature: Vec<&str> = kinds.iter().map(|k| k.doc_name()).collect();
    let usage = format!("{} {}", op.mnemonic(), signature.join(", "));
    let mut args = Vec::new();
    let mut it = items.iter().peekable();
    let src = |fb: &mut FunctionBuilder<'_>, state: &mut BodyState, t: &Token| -> PResult<Arg> {
        if let Some(c) = literal_of(t) {
            return Ok(Arg::Lit(c));
        }
        match &t.tok {
            Tok::Ident(n, q) => state
                .reg(fb, n, *q)
                .map(Arg::Reg)
                .or_else(|m| tok_err(t, m)),
            other => tok_err(
                t,
                format!("expected a register or literal, found {}", other.describe()),
            ),
        }
    };
    for kind in kinds {
        match kind {
            OperandKind::OptSrc => {
                if let Some(t) = it.next() {
                    args.push(src(fb, state, t)?);
                }
            }
            OperandKind::Srcs => {
                for t in it.by_ref() {
                    args.push(src(fb, state, t)?);
                }
            }
            kind => {
                let Some(t) = it.next() else {
                    let at = items.last().copied().unwrap_or(mnemonic);
                    return tok_err(at, format!("missing operand: usage is `{usage}`"));
                };
                let ident = match &t.tok {
                    Tok::Ident(n, q) => Some((n.as_str(), *q)),
                    _ => None,
                };
                args.push(match kind {
                    OperandKind::Dst => match ident {
                        Some(("_", false)) => Arg::Discard,
                        Some((n, q)) if literal_of(t).is_none() => {
                            Arg::Reg(state.reg(fb, n, q).or_else(|m| tok_err(t, m))?)
                        }
                        _ => {
                            return tok_err(
                                t,
                                format!(
                                    "expected a destination register or `_`, found {}",
                                    t.tok.describe()
                                ),
                            )
                        }
                    },
                    OperandKind::Src => src(fb, state, t)?,
                    OperandKind::Reg => match ident {
                        Some((n, q)) if literal_of(t).is_none() => {
                            Arg::Reg(state.reg(fb, n, q).or_else(|m| tok_err(t, m))?)
                        }
                        _ => {
                            return tok_err(
                                t,
                                format!("expected a register, found {}", t.tok.describe()),
                            )
                        }
                    },
                    OperandKind::Lit => match literal_of(t) {
                        Some(c) => Arg::Lit(c),
                        None => {
                            return tok_err(
                                t,
                                format!("expected a literal, found {}", t.tok.describe()),
                            )
                        }
                    },
                    OperandKind::Label => match ident {
                        Some((n, _)) => {
                            pending.push((n.to_owned(), li, t.col, t.len));
                            Arg::Label(state.label(fb, n))
                        }
                        None => {
                            return tok_err(
                                t,
                                format!("expected a label, found {}", t.tok.describe()),
                            )
                        }
                    },
                    OperandKind::Func => match imported(t, ident, names, "function")? {
                        Some((m, n)) => Arg::Func(fb.import_function(m, n)),
                        None => Arg::Func(named(t, ident, &names.funcs, "function")?),
                    },
                    OperandKind::Global => match imported(t, ident, names, "global")? {
                        Some((m, n)) => Arg::Global(fb.import_global(m, n)),
                        None => Arg::Global(named(t, ident, &names.globals, "global")?),
                    },
                    OperandKind::Type => {
                        match ident.and_then(|(n, q)| resolve_type(&names.types, n, q)) {
                            Some(ty) => Arg::Type(ty),
                            None => {
                                return tok_err(
                                    t,
                                    format!("expected a type name, found {}", t.tok.describe()),
                                )
                            }
                        }
                    }
                    OperandKind::Sys => match ident {
                        Some((n, _)) => Arg::Sys(n.to_owned()),
                        None => {
                            return tok_err(
                                t,
                                format!("expected a system-call name, found {}", t.tok.describe()),
                            )
                        }
                    },
                    OperandKind::Field => {
                        let (tname, fname) = match &t.tok {
                            Tok::FieldRef(a, b) => (a.as_str(), b.as_str()),
                            Tok::Ident(w, false) => match w.split_once('.') {
                                Some(parts) => parts,
                                None => {
                                    return tok_err(
                                        t,
                                        format!("expected `Type.field`, found `{w}`"),
                                    )
                                }
                            },
                            other => {
                                return tok_err(
                                    t,
                                    format!("expected `Type.field`, found {}", other.describe()),
                                )
                            }
                        };
                        let Some(&ti) = names.types.get(tname) else {
                            return tok_err(t, format!("unknown record type `{tname}`"));
                        };
                        let Some(fi) = names.fields[ti as usize].iter().position(|f| f == fname)
                        else {
                            return tok_err(
                                t,
                                format!("record type `{tname}` has no field `{fname}`"),
                            );
                        };
                        Arg::Field(TypeId(ti), fi as u32)
                    }
                    OperandKind::Imm => match &t.tok {
                        Tok::Int(i) if *i >= 0 && *i <= u32::MAX as i64 => Arg::Imm(*i as u32),
                        other => {
                            return tok_err(
                                t,
                                format!(
                                    "expected a non-negative integer, found {}",
                                    other.describe()
                                ),
                            )
                        }
                    },
                    OperandKind::Extern => match ident {
                        Some((n, false)) => match names.externs.get(n) {
                            Some(x) => Arg::Extern(*x),
                            None => {
                                return tok_err(
                                    t,
                                    format!("unknown extern function `{n}` (declare it with `.extern {n} (...) -> ...`)"),
                                )
                            }
                        },
                        _ => {
                            return tok_err(
                                t,
                                format!(
                                    "expected an extern function `lib.fn`, found {}",
                                    t.tok.describe()
                                ),
                            )
                        }
                    },
                    OperandKind::Multimethod => match imported(t, ident, names, "multimethod")? {
                        Some((m, n)) => Arg::Multimethod(fb.import_multimethod(m, n)),
                        None => Arg::Multimethod(named(t, ident, &names.mms, "multimethod")?),
                    },
                    OperandKind::OptSrc | OperandKind::Srcs => unreachable!("handled above"),
                });
            }
        }
    }
    if let Some(extra) = it.next() {
        return tok_err(extra, format!("too many operands: usage is `{usage}`"));
    }
    Ok(args)
}

/// A cursor over one directive line's tokens.
struct Cursor<'x, 'a> {
    asm: &'x Assembler<'a>,
    line: usize,
    toks: &'x [Token],
    pos: usize,
}

impl<'x, 'a> Cursor<'x, 'a> {
    fn new(asm: &'x Assembler<'a>, line: usize, toks: &'x [Token]) -> Self {
        Cursor {
            asm,
            line,
            toks,
            pos: 0,
        }
    }

    fn peek_tok(&self) -> AResult<&'x Token> {
        match self.toks.get(self.pos) {
            Some(t) => Ok(t),
            None => self.asm.err_eol(self.line, "unexpected end of line"),
        }
    }

    fn next_tok(&mut self, what: &str) -> AResult<&'x Token> {
        match self.toks.get(self.pos) {
            Some(t) => {
                self.pos += 1;
                Ok(t)
            }
            None => self.asm.err_eol(self.line, format!("expected {what}")),
        }
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.toks.get(self.pos).is_some_and(|x| x.tok == *t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.toks.get(self.pos), Some(Token { tok: Tok::Ident(x, false), .. }) if x == w)
        {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok, what: &str) -> AResult<()> {
        let tok = self.next_tok(what)?;
        if tok.tok == *t {
            Ok(())
        } else {
            self.asm.err(
                self.line,
                tok,
                format!("expected {what}, found {}", tok.tok.describe()),
            )
        }
    }

    fn name(&mut self, what: &str) -> AResult<String> {
        let tok = self.next_tok(what)?;
        match &tok.tok {
            Tok::Ident(n, q) if *q || !RESERVED.contains(&n.as_str()) => Ok(n.clone()),
            other => self.asm.err(
                self.line,
                tok,
                format!("expected {what}, found {}", other.describe()),
            ),
        }
    }

    fn string(&mut self, what: &str) -> AResult<String> {
        let tok = self.next_tok(what)?;
        match &tok.tok {
            Tok::Str(s) => Ok(s.clone()),
            other => self.asm.err(
                self.line,
                tok,
                format!("expected {what} (a string), found {}", other.describe()),
            ),
        }
    }

    fn ctype(&mut self) -> AResult<CType> {
        let tok = self.next_tok("a C type")?;
        match &tok.tok {
            Tok::Ident(n, false) if CType::from_name(n).is_some() => {
                Ok(CType::from_name(n).unwrap_or(CType::Void))
            }
            other => {
                let names: Vec<&str> = ALL_CTYPES.iter().map(|t| t.name()).collect();
                self.asm.err(
                    self.line,
                    tok,
                    format!(
                        "expected a C type ({}), found {}",
                        names.join(", "),
                        other.describe()
                    ),
                )
            }
        }
    }

    fn ty(&mut self) -> AResult<Type> {
        let tok = self.next_tok("a type")?;
        match &tok.tok {
            Tok::Ident(n, q) => match resolve_type(&self.asm.types, n, *q) {
                Some(t) if t.is_declarable() => Ok(t),
                Some(t) => self
                    .asm
                    .err(self.line, tok, format!("`{t}` cannot be declared here")),
                None => self.asm.err(self.line, tok, format!("unknown type `{n}`")),
            },
            other => self.asm.err(
                self.line,
                tok,
                format!("expected a type, found {}", other.describe()),
            ),
        }
    }

    fn literal(&mut self) -> AResult<Constant> {
        let tok = self.next_tok("a literal")?;
        literal_of(tok).map_or_else(
            || {
                self.asm.err(
                    self.line,
                    tok,
                    format!("expected a literal, found {}", tok.tok.describe()),
                )
            },
            Ok,
        )
    }

    fn end(&self) -> AResult<()> {
        match self.toks.get(self.pos) {
            None => Ok(()),
            Some(t) => self
                .asm
                .err(self.line, t, format!("unexpected {}", t.tok.describe())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> AsmError {
        assemble(src, "t.sbas").unwrap_err()
    }

    #[test]
    fn assembles_fib() {
        let src = "
.func fib(n: int) -> int export
    .reg a: int, b: int
    jlt n, 2, base
    sub a, n, 1
    call a, fib, a
    sub b, n, 2
    call b, fib, b
    add a, a, b
    ret a
base:
    ret n
.end
";
        let (m, _) = assemble(src, "fib.sbas").unwrap();
        assert_eq!(m.name, "fib");
        let f = &m.functions[0];
        assert_eq!(f.regs, vec![Type::Int, Type::Int, Type::Int]);
        assert_eq!(f.code.len(), 8);
        assert_eq!(f.lines[0], 4);
        assert_eq!(f.reg_name(1), Some("a"));
    }

    #[test]
    fn errors_point_at_the_token() {
        let e = err(".func f()\n    add x, 1, 2\n    ret\n.end\n");
        assert_eq!((e.line, e.col), (2, 9));
        assert!(e.message.contains("unknown register `x`"), "{e}");
        let shown = e.to_string();
        assert!(shown.contains("t.sbas:2:9: error"), "{shown}");
        assert!(shown.ends_with("        ^"), "{shown:?}");
    }

    #[test]
    fn verifier_errors_map_to_source() {
        let e = err(".func f() -> int\n    .reg s: str\n    load s, \"x\"\n    ret s\n.end\n");
        assert_eq!(e.line, 4);
        assert!(e.message.contains("expected int"), "{e}");
    }

    #[test]
    fn literals() {
        let src = ".func f()\n    copy r0, -0x10\n    copy r0, 1_000\n    copy r0, -2.5e3\n    copy r0, '\\n'\n    copy r0, \"a\\u{48}\"\n    copy r0, -inf\n    ret\n.end\n";
        let (m, _) = assemble(src, "t").unwrap();
        let c: Vec<String> = m.consts.iter().map(|c| c.to_string()).collect();
        assert_eq!(c, vec!["-16", "1000", "-2500.0", "'\\n'", "\"aH\"", "-inf"]);
    }

    #[test]
    fn bad_literals() {
        assert!(err(".func f()\n copy r0, 99999999999999999999\n ret\n.end")
            .message
            .contains("64 bits"));
        assert!(err(".func f()\n copy r0, \"abc\n ret\n.end")
            .message
            .contains("unterminated"));
        assert!(err(".func f()\n copy r0, 'ab'\n ret\n.end")
            .message
            .contains("exactly one"));
        assert!(err(".func f()\n copy r0, \"\\q\"\n ret\n.end")
            .message
            .contains("unknown escape"));
    }

    #[test]
    fn structure_errors() {
        assert!(err("add r0, r0, 1").message.contains("inside a `.func`"));
        assert!(err(".func f()\n ret\n").message.contains("never closed"));
        assert!(err(".end").message.contains("without a matching"));
        assert!(err(".func f()\n bogus r0\n.end")
            .message
            .contains("unknown instruction"));
        assert!(err(".func f()\n jump nowhere\n.end")
            .message
            .contains("undefined label"));
        assert!(err(".func f()\n add r0, 1\n ret\n.end")
            .message
            .contains("missing operand"));
        assert!(err(".func f()\n ret 1, 2\n.end")
            .message
            .contains("too many operands"));
        assert!(err(".func f()\n call _, g\n ret\n.end")
            .message
            .contains("unknown function"));
    }
}
