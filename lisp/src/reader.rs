//! The S-expression reader: Scheme source text to [`Sx`] data with source positions.
//!
//! Invariants: the reader never panics on any input; every malformed input (unbalanced
//! parentheses, bad `#` syntax, unterminated strings) is a [`ReadError`] carrying the
//! 1-based line and column where the problem was found. Quote sugar (`'x`, `` `x ``, `,x`,
//! `,@x`) is expanded to the two-element lists `(quote x)` etc.

use thiserror::Error;

/// A position in the source: 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column (in characters), from 1.
    pub col: u32,
}

/// A datum as read.
#[derive(Clone, Debug, PartialEq)]
pub enum Datum {
    /// An exact integer.
    Int(i64),
    /// An inexact real.
    Float(f64),
    /// `#t` / `#f`.
    Bool(bool),
    /// A character.
    Char(char),
    /// A string literal.
    Str(String),
    /// A symbol.
    Sym(String),
    /// A proper list, or an improper one with the given tail.
    List(Vec<Sx>, Option<Box<Sx>>),
    /// `#( ... )`.
    Vector(Vec<Sx>),
    /// `#u8( ... )`.
    Bytes(Vec<u8>),
}

/// A datum with the position of its first character.
#[derive(Clone, Debug, PartialEq)]
pub struct Sx {
    /// The datum.
    pub d: Datum,
    /// Where it starts.
    pub pos: Pos,
}

impl Sx {
    /// The symbol's name, if this is a symbol.
    pub fn sym(&self) -> Option<&str> {
        match &self.d {
            Datum::Sym(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is a proper list.
    pub fn list(&self) -> Option<&[Sx]> {
        match &self.d {
            Datum::List(v, None) => Some(v),
            _ => None,
        }
    }
}

/// A syntax error in the source text.
#[derive(Clone, Debug, Error, PartialEq)]
#[error("{message}")]
pub struct ReadError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub pos: Pos,
    /// Whether the input simply ended too early (the REPL then asks for more lines).
    pub incomplete: bool,
}

/// Reads every datum of `src`.
pub fn read_all(src: &str) -> Result<Vec<Sx>, ReadError> {
    let mut r = Reader {
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        r.skip_atmosphere()?;
        if r.peek().is_none() {
            return Ok(out);
        }
        out.push(r.datum(0)?);
    }
}

/// Deepest nesting accepted (keeps the recursive reader and compiler off the host stack's end).
const MAX_DEPTH: usize = 2000;

struct Reader {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"' | ';' | '\'' | '`' | ',')
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek2(&self) -> Option<char> {
        self.chars.get(self.i + 1).copied()
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn err(&self, pos: Pos, message: impl Into<String>) -> ReadError {
        ReadError {
            message: message.into(),
            pos,
            incomplete: false,
        }
    }

    fn eof(&self, pos: Pos, message: impl Into<String>) -> ReadError {
        ReadError {
            message: message.into(),
            pos,
            incomplete: true,
        }
    }

    fn skip_atmosphere(&mut self) -> Result<(), ReadError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some(';') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('#') if self.peek2() == Some('|') => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    let mut depth = 1;
                    while depth > 0 {
                        match self.bump() {
                            None => return Err(self.eof(start, "unterminated block comment")),
                            Some('|') if self.peek() == Some('#') => {
                                self.bump();
                                depth -= 1;
                            }
                            Some('#') if self.peek() == Some('|') => {
                                self.bump();
                                depth += 1;
                            }
                            _ => {}
                        }
                    }
                }
                Some('#') if self.peek2() == Some(';') => {
                    self.bump();
                    self.bump();
                    self.skip_atmosphere()?;
                    if self.peek().is_none() {
                        return Err(self.eof(self.pos(), "`#;` at the end of the input"));
                    }
                    self.datum(0)?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn datum(&mut self, depth: usize) -> Result<Sx, ReadError> {
        let pos = self.pos();
        if depth > MAX_DEPTH {
            return Err(self.err(pos, "data nested too deeply"));
        }
        let Some(c) = self.peek() else {
            return Err(self.eof(pos, "unexpected end of input"));
        };
        let d = match c {
            '(' | '[' => {
                self.bump();
                return self.list_tail(pos, if c == '(' { ')' } else { ']' }, depth);
            }
            ')' | ']' => {
                self.bump();
                return Err(self.err(pos, format!("unexpected `{c}`")));
            }
            '\'' | '`' | ',' => {
                self.bump();
                let name = match c {
                    '\'' => "quote",
                    '`' => "quasiquote",
                    _ if self.peek() == Some('@') => {
                        self.bump();
                        "unquote-splicing"
                    }
                    _ => "unquote",
                };
                self.skip_atmosphere()?;
                if self.peek().is_none() {
                    return Err(self.eof(pos, format!("nothing after `{name}` abbreviation")));
                }
                let x = self.datum(depth + 1)?;
                Datum::List(
                    vec![
                        Sx {
                            d: Datum::Sym(name.to_owned()),
                            pos,
                        },
                        x,
                    ],
                    None,
                )
            }
            '"' => {
                self.bump();
                Datum::Str(self.string(pos)?)
            }
            '#' => return self.hash(pos, depth),
            _ => {
                let tok = self.token();
                parse_atom(&tok).ok_or_else(|| self.err(pos, format!("bad token `{tok}`")))?
            }
        };
        Ok(Sx { d, pos })
    }

    fn list_tail(&mut self, pos: Pos, close: char, depth: usize) -> Result<Sx, ReadError> {
        let mut items = Vec::new();
        loop {
            self.skip_atmosphere()?;
            match self.peek() {
                None => return Err(self.eof(pos, "unbalanced parentheses: missing `)`")),
                Some(c) if c == close => {
                    self.bump();
                    return Ok(Sx {
                        d: Datum::List(items, None),
                        pos,
                    });
                }
                Some(c @ (')' | ']')) => {
                    return Err(self.err(
                        self.pos(),
                        format!("`{c}` does not match the opening bracket"),
                    ))
                }
                Some('.') if self.peek2().is_none_or(is_delimiter) => {
                    let dot = self.pos();
                    self.bump();
                    if items.is_empty() {
                        return Err(self.err(dot, "`.` with nothing before it"));
                    }
                    self.skip_atmosphere()?;
                    if self.peek().is_none() {
                        return Err(self.eof(pos, "unbalanced parentheses: missing `)`"));
                    }
                    let tail = self.datum(depth + 1)?;
                    self.skip_atmosphere()?;
                    match self.peek() {
                        Some(c) if c == close => {
                            self.bump();
                        }
                        None => return Err(self.eof(pos, "unbalanced parentheses: missing `)`")),
                        _ => return Err(self.err(self.pos(), "expected `)` after the dotted tail")),
                    }
                    return Ok(Sx {
                        d: Datum::List(items, Some(Box::new(tail))),
                        pos,
                    });
                }
                _ => items.push(self.datum(depth + 1)?),
            }
        }
    }

    fn token(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            s.push(c);
            self.bump();
        }
        if s.is_empty() {
            // A lone delimiter we do not understand: consume it so the error names it.
            if let Some(c) = self.bump() {
                s.push(c);
            }
        }
        s
    }

    fn string(&mut self, pos: Pos) -> Result<String, ReadError> {
        let mut s = String::new();
        loop {
            let here = self.pos();
            match self.bump() {
                None => return Err(self.eof(pos, "unterminated string")),
                Some('"') => return Ok(s),
                Some('\\') => match self.bump() {
                    None => return Err(self.eof(pos, "unterminated string")),
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('a') => s.push('\u{7}'),
                    Some('b') => s.push('\u{8}'),
                    Some('0') => s.push('\0'),
                    Some('\\') => s.push('\\'),
                    Some('"') => s.push('"'),
                    Some('x') | Some('X') => {
                        let mut hex = String::new();
                        loop {
                            match self.bump() {
                                Some(';') => break,
                                Some(c) if c.is_ascii_hexdigit() => hex.push(c),
                                _ => return Err(self.err(here, "bad `\\x` escape in string")),
                            }
                        }
                        let c = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| self.err(here, "bad `\\x` escape in string"))?;
                        s.push(c);
                    }
                    Some(c) if c == '\n' || c == ' ' || c == '\t' => {
                        // Line continuation: skip the rest of the whitespace.
                        let mut saw_newline = c == '\n';
                        while let Some(c) = self.peek() {
                            if c == '\n' && !saw_newline {
                                saw_newline = true;
                            } else if !(c == ' ' || c == '\t') {
                                break;
                            }
                            self.bump();
                        }
                    }
                    Some(c) => return Err(self.err(here, format!("unknown string escape `\\{c}`"))),
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn hash(&mut self, pos: Pos, depth: usize) -> Result<Sx, ReadError> {
        self.bump(); // '#'
        let d = match self.peek() {
            Some('(') => {
                self.bump();
                let l = self.list_tail(pos, ')', depth)?;
                match l.d {
                    Datum::List(items, None) => Datum::Vector(items),
                    _ => return Err(self.err(pos, "a vector cannot have a dotted tail")),
                }
            }
            Some('\\') => {
                self.bump();
                let mut name = String::new();
                if let Some(c) = self.bump() {
                    name.push(c);
                } else {
                    return Err(self.eof(pos, "`#\\` at the end of the input"));
                }
                while let Some(c) = self.peek() {
                    if is_delimiter(c) {
                        break;
                    }
                    name.push(c);
                    self.bump();
                }
                Datum::Char(
                    char_named(&name)
                        .ok_or_else(|| self.err(pos, format!("unknown character `#\\{name}`")))?,
                )
            }
            _ => {
                let tok = self.token();
                match tok.as_str() {
                    "t" | "true" => Datum::Bool(true),
                    "f" | "false" => Datum::Bool(false),
                    "u8" if self.peek() == Some('(') => {
                        self.bump();
                        let l = self.list_tail(pos, ')', depth)?;
                        let mut bytes = Vec::new();
                        if let Datum::List(items, None) = l.d {
                            for it in items {
                                match it.d {
                                    Datum::Int(b) if (0..256).contains(&b) => bytes.push(b as u8),
                                    _ => {
                                        return Err(self.err(
                                            it.pos,
                                            "a bytevector element must be a byte (0..255)",
                                        ))
                                    }
                                }
                            }
                        }
                        Datum::Bytes(bytes)
                    }
                    _ => {
                        let full = format!("#{tok}");
                        parse_number(&full)
                            .ok_or_else(|| self.err(pos, format!("bad `#` syntax `{full}`")))?
                    }
                }
            }
        };
        Ok(Sx { d, pos })
    }
}

/// The character called `name` after `#\` (a single character, a standard name or `xHH`).
pub fn char_named(name: &str) -> Option<char> {
    let mut it = name.chars();
    let first = it.next()?;
    if it.next().is_none() {
        return Some(first);
    }
    Some(match name {
        "space" => ' ',
        "newline" | "linefeed" | "nl" => '\n',
        "tab" => '\t',
        "return" => '\r',
        "null" | "nul" => '\0',
        "alarm" => '\u{7}',
        "backspace" => '\u{8}',
        "delete" | "rubout" => '\u{7f}',
        "escape" | "altmode" => '\u{1b}',
        _ if (first == 'x' || first == 'U' || first == 'u') && name.len() > 1 => {
            return u32::from_str_radix(&name[1..], 16)
                .ok()
                .and_then(char::from_u32)
        }
        _ => return None,
    })
}

/// A number, boolean-free atom or symbol.
fn parse_atom(tok: &str) -> Option<Datum> {
    if let Some(n) = parse_number(tok) {
        return Some(n);
    }
    if tok.is_empty() || tok.contains('#') && tok.starts_with('#') {
        return None;
    }
    if tok.starts_with('|') && tok.ends_with('|') && tok.len() >= 2 {
        return Some(Datum::Sym(tok[1..tok.len() - 1].to_owned()));
    }
    if tok.chars().any(|c| matches!(c, '{' | '}' | '|')) {
        return None;
    }
    Some(Datum::Sym(tok.to_owned()))
}

/// Parses Scheme number syntax: decimal integers, decimals with exponent, `+inf.0`,
/// `-inf.0`, `+nan.0`, `#x`/`#b`/`#o`/`#d` prefixes, `#e`/`#i` exactness prefixes.
pub fn parse_number(tok: &str) -> Option<Datum> {
    let mut radix = 10;
    let mut exact: Option<bool> = None;
    let mut t = tok;
    while t.len() >= 2 && t.starts_with('#') {
        match t.as_bytes()[1].to_ascii_lowercase() {
            b'x' => radix = 16,
            b'b' => radix = 2,
            b'o' => radix = 8,
            b'd' => radix = 10,
            b'e' => exact = Some(true),
            b'i' => exact = Some(false),
            _ => return None,
        }
        t = &t[2..];
    }
    let d = match t {
        "+inf.0" => Datum::Float(f64::INFINITY),
        "-inf.0" => Datum::Float(f64::NEG_INFINITY),
        "+nan.0" | "-nan.0" => Datum::Float(f64::NAN),
        _ => {
            let digits = t.strip_prefix('+').unwrap_or(t);
            if digits.is_empty() {
                return None;
            }
            let body = digits.strip_prefix('-').unwrap_or(digits);
            if body.is_empty() || body.starts_with('+') || body.starts_with('-') {
                return None;
            }
            if let Ok(i) = i64::from_str_radix(digits, radix) {
                Datum::Int(i)
            } else if radix == 10
                && body
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit() || c == '.')
                && body
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
                && body.chars().any(|c| c.is_ascii_digit())
            {
                if let Some((n, d)) = digits.split_once('/') {
                    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
                    Datum::Float(n / d)
                } else {
                    Datum::Float(digits.parse().ok()?)
                }
            } else if let Some((n, d)) = digits.split_once('/') {
                // Rationals read as the nearest float (or the exact integer quotient).
                let (n, d): (i64, i64) = (
                    i64::from_str_radix(n, radix).ok()?,
                    i64::from_str_radix(d, radix).ok()?,
                );
                if d == 0 {
                    return None;
                }
                if n % d == 0 {
                    Datum::Int(n / d)
                } else {
                    Datum::Float(n as f64 / d as f64)
                }
            } else {
                return None;
            }
        }
    };
    Some(match (d, exact) {
        (Datum::Float(x), Some(true)) if x.fract() == 0.0 && x.abs() < 9.2e18 => {
            Datum::Int(x as i64)
        }
        (Datum::Int(i), Some(false)) => Datum::Float(i as f64),
        (d, _) => d,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lists_and_atoms() {
        let v = read_all("(a 1 2.5 #t \"s\\n\" #\\space) 'x").unwrap();
        assert_eq!(v.len(), 2);
        let l = v[0].list().unwrap();
        assert_eq!(l[1].d, Datum::Int(1));
        assert_eq!(l[2].d, Datum::Float(2.5));
        assert_eq!(l[4].d, Datum::Str("s\n".into()));
        assert_eq!(l[5].d, Datum::Char(' '));
        assert_eq!(v[1].list().unwrap()[0].sym(), Some("quote"));
    }

    #[test]
    fn unbalanced_is_an_incomplete_error() {
        let e = read_all("(define (f x)\n  (+ x 1)").unwrap_err();
        assert!(e.incomplete);
        assert_eq!(e.pos, Pos { line: 1, col: 1 });
        let e = read_all("(a))").unwrap_err();
        assert!(!e.incomplete);
        assert_eq!(e.pos.col, 4);
    }

    #[test]
    fn numbers_parse() {
        assert_eq!(parse_number("-17"), Some(Datum::Int(-17)));
        assert_eq!(parse_number("#xff"), Some(Datum::Int(255)));
        assert_eq!(parse_number("1e3"), Some(Datum::Float(1000.0)));
        assert_eq!(parse_number("-"), None);
        assert_eq!(parse_number("..."), None);
        assert_eq!(parse_number("1/2"), Some(Datum::Float(0.5)));
    }

    #[test]
    fn dotted_pairs_read() {
        let v = read_all("(a . b)").unwrap();
        assert!(
            matches!(&v[0].d, Datum::List(items, Some(t)) if items.len() == 1 && t.sym() == Some("b"))
        );
        assert!(read_all("( . b)").is_err());
    }
}
