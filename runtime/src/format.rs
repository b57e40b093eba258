//! The `.sbc` binary module format: encoder and decoder.
//!
//! Layout: the magic `SGBC`, the format version (ULEB128), then sections. Each section is a
//! ULEB128 id, a ULEB128 byte length and that many bytes, so readers skip ids they do not know.
//! Integers inside sections are LEB128 (signed where they can be negative); floats are 8 bytes
//! little-endian; strings are a ULEB128 length and UTF-8 bytes. See `docs/bytecode.md` for the
//! section-by-section layout.
//!
//! Invariants: decoding never panics and never allocates more than the input can describe (every
//! count is checked against the bytes left); every error names the byte offset. Encoding is
//! canonical: constants are renumbered by first use and unused ones dropped, so the same module
//! always encodes to the same bytes and `decode(encode(m))` re-encodes identically.

use std::collections::HashMap;

use thiserror::Error;

use crate::ffi::CType;
use crate::module::{
    Constant, ExternFunction, Field, Function, Global, ImportedSymbol, InlineScope, Instr, Method,
    Module, Multimethod, NativeLibrary, Operand, Pattern, RecordType,
};
use crate::opcodes::{Opcode, OperandKind};
use crate::types::Type;

/// The four magic bytes every `.sbc` file starts with.
pub const MAGIC: &[u8; 4] = b"SGBC";
/// The format version this build reads and writes.
pub const VERSION: u32 = 1;

/// Section ids.
mod section {
    /// Marks the end of the module; must be last, with length 0.
    pub const END: u32 = 0;
    pub const NAME: u32 = 1;
    pub const CONSTS: u32 = 2;
    pub const GLOBALS: u32 = 3;
    pub const FUNCS: u32 = 4;
    pub const INIT: u32 = 5;
    pub const DEBUG: u32 = 6;
    pub const TYPES: u32 = 7;
    pub const IMPORTS: u32 = 8;
    /// Declared and imported multimethods (only in modules that have some).
    pub const MULTIMETHODS: u32 = 9;
    /// Methods added to multimethods (only in modules that add some).
    pub const METHODS: u32 = 10;
    /// Native libraries and extern functions (`.native`, `.extern`).
    pub const NATIVES: u32 = 11;
    /// Debug: inline scopes (only in modules with inlined code; readers without it skip it).
    pub const INLINE: u32 = 12;
}

/// A malformed `.sbc` input.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("malformed bytecode at byte offset {offset}: {message}")]
pub struct DecodeError {
    /// Byte offset in the input where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub message: String,
}

// ---------------------------------------------------------------------------------------------
// Writing

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn new() -> Self {
        Writer { out: Vec::new() }
    }

    fn u(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.out.push(byte);
                return;
            }
            self.out.push(byte | 0x80);
        }
    }

    fn s(&mut self, mut v: i64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
            if done {
                self.out.push(byte);
                return;
            }
            self.out.push(byte | 0x80);
        }
    }

    fn str(&mut self, s: &str) {
        self.u(s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
    }

    fn section(&mut self, id: u32, body: Writer) {
        self.u(id as u64);
        self.u(body.out.len() as u64);
        self.out.extend_from_slice(&body.out);
    }
}

/// Renumbers constants by first use (globals carry their literals inline).
fn canonical_consts(m: &Module) -> (Vec<&Constant>, HashMap<u32, u32>) {
    let mut order = Vec::new();
    let mut map = HashMap::new();
    for f in &m.functions {
        for ins in &f.code {
            for op in &ins.operands {
                if let Operand::Const(k) | Operand::Sys(k) = op {
                    if !map.contains_key(k) {
                        if let Some(c) = m.consts.get(*k as usize) {
                            map.insert(*k, order.len() as u32);
                            order.push(c);
                        }
                    }
                }
            }
        }
    }
    (order, map)
}

fn write_constant(w: &mut Writer, c: &Constant) {
    match c {
        Constant::Nil => w.u(0),
        Constant::Bool(b) => {
            w.u(1);
            w.u(*b as u64);
        }
        Constant::Int(i) => {
            w.u(2);
            w.s(*i);
        }
        Constant::Float(x) => {
            w.u(3);
            w.out.extend_from_slice(&x.to_le_bytes());
        }
        Constant::Char(ch) => {
            w.u(4);
            w.u(*ch as u64);
        }
        Constant::Str(s) => {
            w.u(5);
            w.str(s);
        }
    }
}

/// Encodes a module as `.sbc` bytes. Operands that do not fit their kind (which the verifier
/// would reject) are encoded as index 0 rather than panicking.
pub fn encode(m: &Module) -> Vec<u8> {
    let (consts, remap) = canonical_consts(m);
    let k = |i: &u32| remap.get(i).copied().unwrap_or(0) as u64;

    let mut w = Writer::new();
    w.out.extend_from_slice(MAGIC);
    w.u(VERSION as u64);

    let mut name = Writer::new();
    name.str(&m.name);
    w.section(section::NAME, name);

    let mut cs = Writer::new();
    cs.u(consts.len() as u64);
    for c in &consts {
        write_constant(&mut cs, c);
    }
    w.section(section::CONSTS, cs);

    if !m.imports.is_empty() {
        // Only modules that import carry the section, so others encode as before.
        let mut is = Writer::new();
        is.u(m.imports.len() as u64);
        for name in &m.imports {
            is.str(name);
        }
        for symbols in [&m.imported_functions, &m.imported_globals] {
            is.u(symbols.len() as u64);
            for sym in symbols {
                is.u(sym.module as u64);
                is.str(&sym.name);
            }
        }
        w.section(section::IMPORTS, is);
    }

    if !m.natives.is_empty() || !m.externs.is_empty() {
        // Only modules with native declarations carry the section.
        let mut ns = Writer::new();
        ns.u(m.natives.len() as u64);
        for lib in &m.natives {
            ns.str(&lib.alias);
            ns.str(&lib.path);
        }
        ns.u(m.externs.len() as u64);
        for x in &m.externs {
            ns.u(x.library as u64);
            ns.str(&x.symbol);
            ns.u(x.params.len() as u64);
            for p in &x.params {
                ns.u(p.code() as u64);
            }
            ns.u(x.ret.code() as u64);
        }
        w.section(section::NATIVES, ns);
    }

    if !m.multimethods.is_empty() || !m.imported_multimethods.is_empty() {
        let mut ms = Writer::new();
        ms.u(m.multimethods.len() as u64);
        for d in &m.multimethods {
            ms.str(&d.name);
            ms.u(d.arity as u64);
            ms.u(d.export as u64);
        }
        ms.u(m.imported_multimethods.len() as u64);
        for sym in &m.imported_multimethods {
            ms.u(sym.module as u64);
            ms.str(&sym.name);
        }
        w.section(section::MULTIMETHODS, ms);
    }

    let mut ts = Writer::new();
    ts.u(m.types.len() as u64);
    for t in &m.types {
        ts.str(&t.name);
        ts.u(t.fields.len() as u64);
        for f in &t.fields {
            ts.str(&f.name);
            ts.u(f.ty.code() as u64);
        }
        ts.u(t.destructor.map_or(0, |d| d as u64 + 1));
        ts.u(t.export as u64);
    }
    w.section(section::TYPES, ts);

    let mut gs = Writer::new();
    gs.u(m.globals.len() as u64);
    for g in &m.globals {
        gs.str(&g.name);
        gs.u(g.ty.code() as u64);
        write_constant(&mut gs, &g.init);
        gs.u(g.export as u64);
    }
    w.section(section::GLOBALS, gs);

    let mut fs = Writer::new();
    fs.u(m.functions.len() as u64);
    for f in &m.functions {
        fs.str(&f.name);
        fs.u(f.export as u64);
        fs.u(f.params as u64);
        fs.u(f.ret.code() as u64);
        fs.u(f.regs.len() as u64);
        for t in &f.regs {
            fs.u(t.code() as u64);
        }
        fs.u(f.code.len() as u64);
        for ins in &f.code {
            fs.out.push(ins.op as u8);
            write_operands(&mut fs, ins, &k);
        }
    }
    w.section(section::FUNCS, fs);

    if !m.methods.is_empty() {
        let mut ms = Writer::new();
        ms.u(m.methods.len() as u64);
        for meth in &m.methods {
            ms.u(meth.multimethod as u64);
            ms.u(meth.func as u64);
            ms.u(meth.patterns.len() as u64);
            for p in &meth.patterns {
                match p {
                    Pattern::Any => ms.u(0),
                    Pattern::Type(t) => {
                        ms.u(1);
                        ms.u(t.code() as u64);
                    }
                    Pattern::Lit(c) => {
                        ms.u(2);
                        write_constant(&mut ms, c);
                    }
                }
            }
        }
        w.section(section::METHODS, ms);
    }

    if let Some(init) = m.init {
        let mut is = Writer::new();
        is.u(init as u64);
        w.section(section::INIT, is);
    }

    let mut ds = Writer::new();
    ds.str(m.source.as_deref().unwrap_or(""));
    for f in &m.functions {
        let named: Vec<_> = f
            .reg_names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
            .collect();
        ds.u(named.len() as u64);
        for (i, n) in named {
            ds.u(i as u64);
            ds.str(n);
        }
        ds.u(f.lines.len() as u64);
        let mut prev = 0i64;
        for &l in &f.lines {
            ds.s(l as i64 - prev);
            prev = l as i64;
        }
    }
    w.section(section::DEBUG, ds);
    if m.functions.iter().any(|f| !f.scopes.is_empty()) {
        let mut is = Writer::new();
        for f in &m.functions {
            is.u(f.inlined.len() as u64);
            for scope in &f.inlined {
                is.str(&scope.name);
                is.u(scope.call_line as u64);
                is.u(scope.parent as u64);
            }
            is.u(f.scopes.len() as u64);
            for &k in &f.scopes {
                is.u(k as u64);
            }
        }
        w.section(section::INLINE, is);
    }
    w.section(section::END, Writer::new());
    w.out
}

fn write_operands(w: &mut Writer, ins: &Instr, k: &impl Fn(&u32) -> u64) {
    let kinds = ins.op.info().operands;
    let src = |w: &mut Writer, op: Option<&Operand>| match op {
        Some(Operand::Reg(r)) => w.u((*r as u64) << 1),
        Some(Operand::Const(c)) => w.u((k(c) << 1) | 1),
        _ => w.u(0),
    };
    let mut ops = ins.operands.iter();
    for kind in kinds {
        match kind {
            OperandKind::Dst => match ops.next() {
                Some(Operand::Reg(r)) => w.u(*r as u64 + 1),
                _ => w.u(0),
            },
            OperandKind::Src => src(w, ops.next()),
            OperandKind::OptSrc => match ops.next() {
                None => w.u(0),
                Some(Operand::Reg(r)) => w.u(((*r as u64) << 1) + 1),
                Some(Operand::Const(c)) => w.u(((k(c) << 1) | 1) + 1),
                Some(_) => w.u(0),
            },
            OperandKind::Srcs => {
                let rest: Vec<_> = ops.by_ref().collect();
                w.u(rest.len() as u64);
                for op in rest {
                    src(w, Some(op));
                }
            }
            OperandKind::Lit | OperandKind::Sys => match ops.next() {
                Some(Operand::Const(c) | Operand::Sys(c)) => w.u(k(c)),
                _ => w.u(0),
            },
            OperandKind::Type => match ops.next() {
                Some(Operand::Type(t)) => w.u(t.code() as u64),
                _ => w.u(0),
            },
            OperandKind::Field => match ops.next() {
                Some(Operand::Field(t, f)) => {
                    w.u(*t as u64);
                    w.u(*f as u64);
                }
                _ => {
                    w.u(0);
                    w.u(0);
                }
            },
            OperandKind::Imm => match ops.next() {
                Some(Operand::Imm(i)) => w.u(*i as u64),
                _ => w.u(0),
            },
            OperandKind::Multimethod => match ops.next() {
                Some(Operand::Multimethod(i)) => w.u(*i as u64),
                _ => w.u(0),
            },
            OperandKind::Reg
            | OperandKind::Label
            | OperandKind::Func
            | OperandKind::Global
            | OperandKind::Extern => match ops.next() {
                Some(
                    Operand::Reg(i)
                    | Operand::Label(i)
                    | Operand::Func(i)
                    | Operand::Global(i)
                    | Operand::Extern(i),
                ) => w.u(*i as u64),
                _ => w.u(0),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of `data[0]` in the whole input, for error messages.
    base: usize,
}

type R<T> = Result<T, DecodeError>;

impl<'a> Reader<'a> {
    fn err<T>(&self, message: impl Into<String>) -> R<T> {
        Err(DecodeError {
            offset: self.base + self.pos,
            message: message.into(),
        })
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn byte(&mut self) -> R<u8> {
        match self.data.get(self.pos) {
            Some(b) => {
                self.pos += 1;
                Ok(*b)
            }
            None => self.err("unexpected end of input"),
        }
    }

    fn u64(&mut self) -> R<u64> {
        let start = self.pos;
        let mut result = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                self.pos = start;
                return self.err("integer too large");
            }
            result |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(result);
            }
            shift += 7;
        }
    }

    fn i64(&mut self) -> R<i64> {
        let start = self.pos;
        let mut result = 0i64;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            if shift >= 63 && !(b == 0 || b == 0x7f) {
                self.pos = start;
                return self.err("signed integer too large");
            }
            result |= ((b & 0x7f) as i64) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    result |= -1i64 << shift;
                }
                return Ok(result);
            }
        }
    }

    fn u32(&mut self) -> R<u32> {
        let start = self.pos;
        let v = self.u64()?;
        u32::try_from(v).or_else(|_| {
            self.pos = start;
            self.err(format!("value {v} does not fit in 32 bits"))
        })
    }

    /// A count of items that each take at least `min_item_bytes` bytes.
    fn count(&mut self, what: &str, min_item_bytes: usize) -> R<usize> {
        let start = self.pos;
        let n = self.u64()?;
        if n.saturating_mul(min_item_bytes as u64) > self.remaining() as u64 {
            self.pos = start;
            return self.err(format!("{what} count {n} exceeds the bytes left"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self, n: usize) -> R<&'a [u8]> {
        if n > self.remaining() {
            return self.err(format!("length {n} exceeds the bytes left"));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn str(&mut self) -> R<String> {
        let start = self.pos;
        let n = self.count("string length", 1)?;
        let b = self.bytes(n)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => {
                self.pos = start;
                self.err("string is not valid UTF-8")
            }
        }
    }

    fn flag(&mut self) -> R<bool> {
        match self.u64()? {
            0 => Ok(false),
            1 => Ok(true),
            v => {
                self.pos -= 1;
                self.err(format!("flag must be 0 or 1, found {v}"))
            }
        }
    }

    fn ty(&mut self) -> R<Type> {
        let start = self.pos;
        let code = self.u32()?;
        Type::from_code(code).map_or_else(
            || {
                self.pos = start;
                self.err(format!("unknown type code {code}"))
            },
            Ok,
        )
    }

    fn ctype(&mut self) -> R<CType> {
        let start = self.pos;
        let code = self.u32()?;
        CType::from_code(code).map_or_else(
            || {
                self.pos = start;
                self.err(format!("unknown C type code {code}"))
            },
            Ok,
        )
    }

    fn constant(&mut self) -> R<Constant> {
        let start = self.pos;
        Ok(match self.u64()? {
            0 => Constant::Nil,
            1 => Constant::Bool(self.flag()?),
            2 => Constant::Int(self.i64()?),
            3 => {
                let b = self.bytes(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Constant::Float(f64::from_le_bytes(a))
            }
            4 => {
                let p = self.pos;
                let v = self.u32()?;
                match char::from_u32(v) {
                    Some(c) => Constant::Char(c),
                    None => {
                        self.pos = p;
                        return self.err(format!("{v:#x} is not a Unicode scalar value"));
                    }
                }
            }
            5 => Constant::Str(self.str()?),
            k => {
                self.pos = start;
                return self.err(format!("unknown constant kind {k}"));
            }
        })
    }

    fn src(&mut self) -> R<Operand> {
        let v = self.u64()?;
        let idx = u32::try_from(v >> 1).or_else(|_| self.err("operand index too large"))?;
        Ok(if v & 1 == 0 {
            Operand::Reg(idx)
        } else {
            Operand::Const(idx)
        })
    }

    fn instr(&mut self) -> R<Instr> {
        let start = self.pos;
        let b = self.byte()?;
        let Some(op) = Opcode::from_byte(b) else {
            self.pos = start;
            return self.err(format!("unknown opcode {b}"));
        };
        let mut operands = Vec::new();
        for kind in op.info().operands {
            match kind {
                OperandKind::Dst => {
                    let v = self.u32()?;
                    operands.push(if v == 0 {
                        Operand::Discard
                    } else {
                        Operand::Reg(v - 1)
                    });
                }
                OperandKind::Src => operands.push(self.src()?),
                OperandKind::OptSrc => {
                    let v = self.u64()?;
                    if v != 0 {
                        let v = v - 1;
                        let idx = u32::try_from(v >> 1)
                            .or_else(|_| self.err("operand index too large"))?;
                        operands.push(if v & 1 == 0 {
                            Operand::Reg(idx)
                        } else {
                            Operand::Const(idx)
                        });
                    }
                }
                OperandKind::Srcs => {
                    let n = self.count("argument", 1)?;
                    for _ in 0..n {
                        operands.push(self.src()?);
                    }
                }
                OperandKind::Reg => operands.push(Operand::Reg(self.u32()?)),
                OperandKind::Lit => operands.push(Operand::Const(self.u32()?)),
                OperandKind::Sys => operands.push(Operand::Sys(self.u32()?)),
                OperandKind::Label => operands.push(Operand::Label(self.u32()?)),
                OperandKind::Func => operands.push(Operand::Func(self.u32()?)),
                OperandKind::Global => operands.push(Operand::Global(self.u32()?)),
                OperandKind::Type => operands.push(Operand::Type(self.ty()?)),
                OperandKind::Field => {
                    let t = self.u32()?;
                    let f = self.u32()?;
                    operands.push(Operand::Field(t, f));
                }
                OperandKind::Imm => operands.push(Operand::Imm(self.u32()?)),
                OperandKind::Extern => operands.push(Operand::Extern(self.u32()?)),
                OperandKind::Multimethod => operands.push(Operand::Multimethod(self.u32()?)),
            }
        }
        Ok(Instr { op, operands })
    }

    fn function(&mut self) -> R<Function> {
        let name = self.str()?;
        let export = self.flag()?;
        let params = self.u32()?;
        let ret = self.ty()?;
        let nregs = self.count("register", 1)?;
        let mut regs = Vec::with_capacity(nregs);
        for _ in 0..nregs {
            regs.push(self.ty()?);
        }
        let ncode = self.count("instruction", 1)?;
        let mut code = Vec::with_capacity(ncode);
        for _ in 0..ncode {
            code.push(self.instr()?);
        }
        Ok(Function {
            name,
            export,
            params,
            ret,
            regs,
            code,
            reg_names: Vec::new(),
            lines: Vec::new(),
            inlined: Vec::new(),
            scopes: Vec::new(),
        })
    }
}

/// Decodes `.sbc` bytes into a module (not yet verified).
pub fn decode(data: &[u8]) -> Result<Module, DecodeError> {
    let mut r = Reader {
        data,
        pos: 0,
        base: 0,
    };
    if r.bytes(4.min(data.len()))? != MAGIC {
        return Err(DecodeError {
            offset: 0,
            message: "not a Sigma bytecode file (bad magic)".into(),
        });
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(DecodeError {
            offset: 4,
            message: format!("unsupported format version {version} (this build reads {VERSION})"),
        });
    }
    let mut m = Module::default();
    let mut seen = Vec::new();
    let mut debug: Option<(usize, &[u8])> = None;
    let mut inline: Option<(usize, &[u8])> = None;
    loop {
        if r.at_end() {
            return r.err("truncated module: missing end-of-module marker");
        }
        let id_at = r.pos;
        let id = r.u32()?;
        if id == section::END {
            if r.u64()? != 0 {
                return Err(DecodeError {
                    offset: id_at,
                    message: "end-of-module marker must have length 0".into(),
                });
            }
            if !r.at_end() {
                return r.err(format!(
                    "{} bytes after the end-of-module marker",
                    r.remaining()
                ));
            }
            break;
        }
        let len = r.count("section length", 1)?;
        let body_at = r.pos;
        let body = r.bytes(len)?;
        if seen.contains(&id) {
            return Err(DecodeError {
                offset: id_at,
                message: format!("duplicate section {id}"),
            });
        }
        seen.push(id);
        let mut s = Reader {
            data: body,
            pos: 0,
            base: body_at,
        };
        match id {
            section::NAME => m.name = s.str()?,
            section::CONSTS => {
                let n = s.count("constant", 1)?;
                for _ in 0..n {
                    m.consts.push(s.constant()?);
                }
            }
            section::GLOBALS => {
                let n = s.count("global", 4)?;
                for _ in 0..n {
                    let name = s.str()?;
                    let ty = s.ty()?;
                    let init = s.constant()?;
                    let export = s.flag()?;
                    m.globals.push(Global {
                        name,
                        ty,
                        init,
                        export,
                    });
                }
            }
            section::FUNCS => {
                let n = s.count("function", 6)?;
                for _ in 0..n {
                    m.functions.push(s.function()?);
                }
            }
            section::INIT => m.init = Some(s.u32()?),
            section::TYPES => {
                let n = s.count("record type", 4)?;
                for _ in 0..n {
                    let name = s.str()?;
                    let nf = s.count("field", 2)?;
                    let mut fields = Vec::with_capacity(nf);
                    for _ in 0..nf {
                        let name = s.str()?;
                        let ty = s.ty()?;
                        fields.push(Field { name, ty });
                    }
                    let destructor = match s.u32()? {
                        0 => None,
                        d => Some(d - 1),
                    };
                    let export = s.flag()?;
                    m.types.push(RecordType {
                        name,
                        fields,
                        destructor,
                        export,
                    });
                }
            }
            section::IMPORTS => {
                let n = s.count("imported module", 1)?;
                for _ in 0..n {
                    m.imports.push(s.str()?);
                }
                for globals in [false, true] {
                    let n = s.count("imported symbol", 2)?;
                    for _ in 0..n {
                        let at = s.pos;
                        let module = s.u32()?;
                        if module as usize >= m.imports.len() {
                            return Err(DecodeError {
                                offset: s.base + at,
                                message: format!(
                                    "imported symbol refers to module {module} of {}",
                                    m.imports.len()
                                ),
                            });
                        }
                        let name = s.str()?;
                        let sym = ImportedSymbol { module, name };
                        if globals {
                            m.imported_globals.push(sym);
                        } else {
                            m.imported_functions.push(sym);
                        }
                    }
                }
            }
            section::NATIVES => {
                let n = s.count("native library", 2)?;
                for _ in 0..n {
                    let alias = s.str()?;
                    let path = s.str()?;
                    m.natives.push(NativeLibrary { alias, path });
                }
                let n = s.count("extern function", 4)?;
                for _ in 0..n {
                    let at = s.pos;
                    let library = s.u32()?;
                    if library as usize >= m.natives.len() {
                        return Err(DecodeError {
                            offset: s.base + at,
                            message: format!(
                                "extern function refers to native library {library} of {}",
                                m.natives.len()
                            ),
                        });
                    }
                    let symbol = s.str()?;
                    let np = s.count("extern parameter", 1)?;
                    let mut params = Vec::with_capacity(np);
                    for _ in 0..np {
                        params.push(s.ctype()?);
                    }
                    let ret = s.ctype()?;
                    m.externs.push(ExternFunction {
                        library,
                        symbol,
                        params,
                        ret,
                    });
                }
            }
            section::MULTIMETHODS => {
                let n = s.count("multimethod", 3)?;
                for _ in 0..n {
                    let name = s.str()?;
                    let arity = s.u32()?;
                    let export = s.flag()?;
                    m.multimethods.push(Multimethod {
                        name,
                        arity,
                        export,
                    });
                }
                let n = s.count("imported multimethod", 2)?;
                for _ in 0..n {
                    let module = s.u32()?;
                    let name = s.str()?;
                    m.imported_multimethods
                        .push(ImportedSymbol { module, name });
                }
            }
            section::METHODS => {
                let n = s.count("method", 3)?;
                for _ in 0..n {
                    let multimethod = s.u32()?;
                    let func = s.u32()?;
                    let np = s.count("pattern", 1)?;
                    let mut patterns = Vec::with_capacity(np);
                    for _ in 0..np {
                        let at = s.pos;
                        patterns.push(match s.u64()? {
                            0 => Pattern::Any,
                            1 => Pattern::Type(s.ty()?),
                            2 => Pattern::Lit(s.constant()?),
                            k => {
                                s.pos = at;
                                return s.err(format!("unknown pattern kind {k}"));
                            }
                        });
                    }
                    m.methods.push(Method {
                        multimethod,
                        patterns,
                        func,
                    });
                }
            }
            section::DEBUG => {
                debug = Some((body_at, body));
                continue;
            }
            section::INLINE => {
                inline = Some((body_at, body));
                continue;
            }
            _ => continue, // unknown sections are skipped
        }
        if !s.at_end() {
            return s.err(format!(
                "{} unexpected trailing bytes in section {id}",
                s.remaining()
            ));
        }
    }
    // The debug section refers to functions, so it is read once they are all known.
    if let Some((at, body)) = debug {
        let mut s = Reader {
            data: body,
            pos: 0,
            base: at,
        };
        read_debug(&mut s, &mut m)?;
        if !s.at_end() {
            return s.err("unexpected trailing bytes in debug section");
        }
    }
    if let Some((at, body)) = inline {
        let mut s = Reader {
            data: body,
            pos: 0,
            base: at,
        };
        read_inline(&mut s, &mut m)?;
        if !s.at_end() {
            return s.err("unexpected trailing bytes in inline section");
        }
    }
    Ok(m)
}

/// Reads the inline scopes of every function (the verifier checks what they refer to).
fn read_inline(s: &mut Reader<'_>, m: &mut Module) -> R<()> {
    for f in &mut m.functions {
        let nscopes = s.count("inline scope", 3)?;
        for _ in 0..nscopes {
            let name = s.str()?;
            let call_line = s.u32()?;
            let parent = s.u32()?;
            f.inlined.push(InlineScope {
                name,
                call_line,
                parent,
            });
        }
        let at = s.pos;
        let n = s.count("scope", 1)?;
        if n != 0 && n != f.code.len() {
            s.pos = at;
            return s.err(format!(
                "scope table of {} has {n} entries for {} instructions",
                f.name,
                f.code.len()
            ));
        }
        for _ in 0..n {
            f.scopes.push(s.u32()?);
        }
    }
    Ok(())
}

fn read_debug(s: &mut Reader<'_>, m: &mut Module) -> R<()> {
    let source = s.str()?;
    m.source = (!source.is_empty()).then_some(source);
    for f in &mut m.functions {
        let named = s.count("register name", 2)?;
        if named > 0 {
            f.reg_names = vec![None; f.regs.len()];
        }
        for _ in 0..named {
            let at = s.pos;
            let r = s.u32()? as usize;
            let name = s.str()?;
            match f.reg_names.get_mut(r) {
                Some(slot) => *slot = Some(name),
                None => {
                    s.pos = at;
                    return s.err(format!(
                        "debug name for register {r} of {} which has {} registers",
                        f.name,
                        f.regs.len()
                    ));
                }
            }
        }
        let at = s.pos;
        let nlines = s.count("line", 1)?;
        if nlines != 0 && nlines != f.code.len() {
            s.pos = at;
            return s.err(format!(
                "line table of {} has {nlines} entries for {} instructions",
                f.name,
                f.code.len()
            ));
        }
        let mut line = 0i64;
        for _ in 0..nlines {
            line += s.i64()?;
            match u32::try_from(line) {
                Ok(l) => f.lines.push(l),
                Err(_) => return s.err(format!("line number {line} out of range")),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb_round_trips() {
        for v in [0i64, 1, -1, 63, 64, -64, -65, i64::MAX, i64::MIN, 1 << 40] {
            let mut w = Writer::new();
            w.s(v);
            w.u(v as u64);
            let mut r = Reader {
                data: &w.out,
                pos: 0,
                base: 0,
            };
            assert_eq!(r.i64().unwrap(), v);
            assert_eq!(r.u64().unwrap(), v as u64);
            assert!(r.at_end());
        }
    }

    #[test]
    fn bad_magic_and_version_are_errors() {
        assert!(decode(b"").unwrap_err().message.contains("magic"));
        assert!(decode(b"ELF\x7f").unwrap_err().message.contains("magic"));
        let e = decode(b"SGBC\x09").unwrap_err();
        assert!(e.message.contains("version 9"), "{e}");
    }

    #[test]
    fn unknown_sections_are_skipped() {
        let mut bytes = encode(&Module {
            name: "m".into(),
            ..Default::default()
        });
        bytes.truncate(bytes.len() - 2);
        bytes.extend_from_slice(&[99, 3, 1, 2, 3, 0, 0]);
        assert_eq!(decode(&bytes).unwrap().name, "m");
    }

    #[test]
    fn truncation_reports_offset() {
        let bytes = encode(&Module {
            name: "module".into(),
            ..Default::default()
        });
        assert!(decode(&bytes).is_ok());
        for cut in 5..bytes.len() {
            let e = decode(&bytes[..cut]).unwrap_err();
            assert!(e.offset <= cut, "{e}");
        }
    }

    /// A module with just a native section with `body`.
    fn natives_section(body: &[u8]) -> Vec<u8> {
        let mut bytes = b"SGBC\x01".to_vec();
        bytes.push(section::NATIVES as u8);
        bytes.push(body.len() as u8);
        bytes.extend_from_slice(body);
        bytes.extend_from_slice(&[0, 0]);
        bytes
    }

    #[test]
    fn native_sections_round_trip_and_reject_bad_references() {
        let mut m = Module {
            name: "n".into(),
            ..Default::default()
        };
        m.natives.push(NativeLibrary {
            alias: "c".into(),
            path: "libc.so.6".into(),
        });
        m.externs.push(ExternFunction {
            library: 0,
            symbol: "abs".into(),
            params: vec![CType::I32],
            ret: CType::I32,
        });
        let d = decode(&encode(&m)).unwrap();
        assert_eq!(d.natives, m.natives);
        assert_eq!(d.externs, m.externs);
        // One library `a` = "b", one extern of library 5.
        let e = decode(&natives_section(&[
            1, 1, b'a', 1, b'b', 1, 5, 1, b'f', 0, 13,
        ]))
        .unwrap_err();
        assert!(e.message.contains("native library 5 of 1"), "{e}");
        // An extern whose result type code is 99.
        let e = decode(&natives_section(&[
            1, 1, b'a', 1, b'b', 1, 0, 1, b'f', 0, 99,
        ]))
        .unwrap_err();
        assert!(e.message.contains("unknown C type code 99"), "{e}");
        assert_eq!(e.offset, 17);
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        // CONSTS section claiming 2^60 constants in 10 bytes.
        let mut bytes = b"SGBC\x01".to_vec();
        bytes.extend_from_slice(&[2, 9, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
        let e = decode(&bytes).unwrap_err();
        assert!(e.message.contains("exceeds"), "{e}");
    }
}
