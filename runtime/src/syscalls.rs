//! The system-call table (Strontium's INTERRUPT, Sigma's `sys`): name, arity, documentation and
//! implementation of every built-in system call, in one place.
//!
//! A `sys rd, name, args…` instruction names its call; the linker resolves the name against the
//! Vm's registry (these built-ins, plus any the host adds) and checks the argument count, so an
//! unknown name or wrong arity is a link error, never a run-time surprise.
//!
//! Errors: misuse (a wrong argument type, an unknown file handle) traps; a failure the program
//! can expect and handle — a file that cannot be opened, the end of the input — is returned as
//! a value (`nil`, or the OS's message as a str), as each call's documentation says. A call
//! that needs a capability (files, environment, process exit) the Vm does not grant traps with
//! `PermissionDenied` before it touches the host; [`invoke`] makes that check from the table.
//! `docs/syscalls.md` is generated from [`SYSCALLS`] ([`crate::docs::syscall_reference`]).
//!
//! Invariant: implementations never panic; failures are returned as [`SysError`]s.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::capability::{Capabilities, Capability};
use crate::trap::{OpError, TrapKind};
use crate::value::{Tag, Value};

/// What a system call may need from the running Vm.
pub trait SysContext {
    /// The guest's standard output.
    fn stdout(&mut self) -> &mut dyn Write;
    /// The guest's standard error.
    fn stderr(&mut self) -> &mut dyn Write;
    /// The text form of a value (as `tostr`).
    fn text(&self, v: Value) -> String;
    /// Allocates a string (may collect; the arguments of the running call stay alive).
    fn alloc_str(&mut self, s: &str) -> Result<Value, OpError>;
    /// The canonical str with the content of str `s` (`sys intern`): the one already interned,
    /// else `s` itself, which becomes canonical. The table is weak: a str no longer reachable
    /// is dropped from it. Does not allocate.
    fn intern_str(&mut self, s: Value) -> Value;
    /// Runs a full collection (and any destructors it makes due).
    fn collect_garbage(&mut self) -> Result<(), SysError>;
    /// The collector's statistics as a map value.
    fn gc_stats(&mut self) -> Result<Value, OpError>;
    /// The guest's standard input.
    fn stdin(&mut self) -> &mut dyn BufRead;
    /// What the guest may reach outside the Vm.
    fn capabilities(&self) -> Capabilities;
    /// The guest's open files.
    fn files(&mut self) -> &mut FileTable;
    /// The program's arguments (what `sys args` returns).
    fn program_args(&self) -> &[String];
    /// Allocates a byte buffer holding `data` (may collect).
    fn alloc_bytes(&mut self, data: &[u8]) -> Result<Value, OpError>;
    /// Allocates an array of new strings (may collect).
    fn alloc_strs(&mut self, items: &[String]) -> Result<Value, OpError>;
    /// Loads (or finds, if already loaded) the module `spec` names — a module name looked up on
    /// the search path, or a path to a `.sbas`/`.sbc` file — and returns its module value.
    fn load_module(&mut self, spec: &str) -> Result<Value, SysError>;
    /// The exported function `name` of module value `module` as a fn value, or nil.
    fn module_export(&mut self, module: Value, name: &str) -> Result<Value, SysError>;
}

/// The files a guest has open, by handle (a small int). Handles are reused after `file_close`;
/// every file still open is closed (and flushed) when the table is dropped with its Vm.
#[derive(Default)]
pub struct FileTable {
    slots: Vec<Option<OpenFile>>,
}

/// One open file: read handles are buffered readers, write handles buffered writers.
enum OpenFile {
    Read(BufReader<File>),
    Write(BufWriter<File>),
}

impl FileTable {
    /// Stores an open file and returns its handle.
    fn insert(&mut self, f: OpenFile) -> i64 {
        match self.slots.iter().position(Option::is_none) {
            Some(i) => {
                self.slots[i] = Some(f);
                i as i64
            }
            None => {
                self.slots.push(Some(f));
                self.slots.len() as i64 - 1
            }
        }
    }

    fn get(&mut self, call: &str, h: Value) -> Result<&mut OpenFile, SysError> {
        let Some(i) = h.as_int() else {
            return Err(type_error(call, "a file handle (int)", h));
        };
        match usize::try_from(i).ok().and_then(|i| self.slots.get_mut(i)) {
            Some(Some(f)) => Ok(f),
            _ => Err(io_trap(format!("sys {call}: file handle {i} is not open"))),
        }
    }

    /// The number of open files.
    pub fn open_count(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}

/// How a system call can fail or stop the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysError {
    /// Raise a trap.
    Trap(OpError),
    /// Stop the whole program with an exit status.
    Exit(i32),
    /// Guest code the system call ran (a destructor, for example) trapped; the trap already
    /// carries that code's backtrace.
    Nested(Box<crate::trap::Trap>),
}

impl From<OpError> for SysError {
    fn from(e: OpError) -> Self {
        SysError::Trap(e)
    }
}

/// A system call's implementation.
pub type SysFn = fn(&mut dyn SysContext, &[Value]) -> Result<Value, SysError>;

/// Calls a built-in system call after checking its capability (the one entry point the
/// execution tiers use).
pub fn invoke(def: &SysDef, cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    if let Some(c) = def.capability {
        cx.capabilities().check(c, &format!("sys {}", def.name))?;
    }
    (def.func)(cx, args)
}

/// One row of the system-call table.
pub struct SysDef {
    /// The name used in `sys rd, name, ...`.
    pub name: &'static str,
    /// Exact number of arguments.
    pub arity: usize,
    /// Argument list for the docs.
    pub params: &'static str,
    /// What it returns and how it fails (markdown, one paragraph).
    pub doc: &'static str,
    /// The capability it needs, if any.
    pub capability: Option<Capability>,
    /// The implementation.
    pub func: SysFn,
}

fn io_error(e: std::io::Error) -> SysError {
    io_trap(format!("writing output failed: {e}"))
}

fn io_trap(message: String) -> SysError {
    SysError::Trap(OpError {
        kind: TrapKind::IoError,
        message,
    })
}

fn type_error(call: &str, expected: &str, got: Value) -> SysError {
    SysError::Trap(OpError::type_error(format!(
        "sys {call}: expected {expected}, got {}",
        got.kind().name()
    )))
}

fn str_arg<'a>(call: &str, v: Value) -> Result<&'a str, SysError> {
    Ok(crate::objops::string(call, v)?.as_str())
}

fn int_arg(call: &str, v: Value) -> Result<i64, SysError> {
    v.as_int().ok_or_else(|| type_error(call, "an int", v))
}

fn sys_ewrite(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let text = cx.text(args[0]);
    write!(cx.stderr(), "{text}").map_err(io_error)?;
    Ok(Value::NIL)
}

/// Reads one line (without its `\n` or `\r\n`) from `r`; `None` at the end of input.
fn read_line_from(call: &str, r: &mut dyn BufRead) -> Result<Option<String>, SysError> {
    let mut buf = Vec::new();
    let n = r
        .read_until(b'\n', &mut buf)
        .map_err(|e| io_trap(format!("sys {call}: reading failed: {e}")))?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| io_trap(format!("sys {call}: the line is not valid UTF-8 text")))
}

fn sys_read_line(cx: &mut dyn SysContext, _: &[Value]) -> Result<Value, SysError> {
    match read_line_from("read_line", cx.stdin())? {
        Some(line) => Ok(cx.alloc_str(&line)?),
        None => Ok(Value::NIL),
    }
}

fn sys_args(cx: &mut dyn SysContext, _: &[Value]) -> Result<Value, SysError> {
    let args = cx.program_args().to_vec();
    Ok(cx.alloc_strs(&args)?)
}

fn sys_env(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let name = str_arg("env", args[0])?;
    if name.is_empty() || name.contains(['=', '\0']) {
        return Ok(Value::NIL);
    }
    match std::env::var(name) {
        Ok(v) => Ok(cx.alloc_str(&v)?),
        Err(_) => Ok(Value::NIL),
    }
}

fn sys_time(_: &mut dyn SysContext, _: &[Value]) -> Result<Value, SysError> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Ok(Value::float(secs))
}

fn sys_panic(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let message = cx.text(args[0]);
    Err(SysError::Trap(OpError {
        kind: TrapKind::Panic,
        message,
    }))
}

fn sys_file_open(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let path = str_arg("file_open", args[0])?.to_owned();
    let mode = str_arg("file_open", args[1])?;
    let opened = match mode {
        "r" => File::open(&path).map(|f| OpenFile::Read(BufReader::new(f))),
        "w" => File::create(&path).map(|f| OpenFile::Write(BufWriter::new(f))),
        "a" => File::options()
            .append(true)
            .create(true)
            .open(&path)
            .map(|f| OpenFile::Write(BufWriter::new(f))),
        other => {
            return Err(SysError::Trap(OpError::type_error(format!(
                "sys file_open: mode must be \"r\", \"w\" or \"a\", not {other:?}"
            ))))
        }
    };
    match opened {
        Ok(f) => Ok(Value::int(cx.files().insert(f))),
        Err(e) => Ok(cx.alloc_str(&format!("{path}: {e}"))?),
    }
}

fn reader<'a>(call: &str, f: &'a mut OpenFile) -> Result<&'a mut BufReader<File>, SysError> {
    match f {
        OpenFile::Read(r) => Ok(r),
        OpenFile::Write(_) => Err(io_trap(format!(
            "sys {call}: the file was opened for writing"
        ))),
    }
}

fn sys_file_read(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let r = reader("file_read", cx.files().get("file_read", args[0])?)?;
    let mut text = Vec::new();
    r.read_to_end(&mut text)
        .map_err(|e| io_trap(format!("sys file_read: reading failed: {e}")))?;
    let text = String::from_utf8(text).map_err(|_| {
        io_trap("sys file_read: the file is not valid UTF-8 text (use file_read_bytes)".into())
    })?;
    Ok(cx.alloc_str(&text)?)
}

fn sys_file_read_line(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let r = reader("file_read_line", cx.files().get("file_read_line", args[0])?)?;
    match read_line_from("file_read_line", r)? {
        Some(line) => Ok(cx.alloc_str(&line)?),
        None => Ok(Value::NIL),
    }
}

fn sys_file_read_bytes(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let max = int_arg("file_read_bytes", args[1])?;
    if max < 0 {
        return Err(SysError::Trap(OpError {
            kind: TrapKind::OutOfBounds,
            message: format!("sys file_read_bytes: negative count {max}"),
        }));
    }
    let r = reader(
        "file_read_bytes",
        cx.files().get("file_read_bytes", args[0])?,
    )?;
    let mut data = Vec::new();
    r.take(max as u64)
        .read_to_end(&mut data)
        .map_err(|e| io_trap(format!("sys file_read_bytes: reading failed: {e}")))?;
    Ok(cx.alloc_bytes(&data)?)
}

fn sys_file_write(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let data: Vec<u8> = if args[1].tag == Tag::Bytes as u64 {
        crate::objops::bytes("file_write", args[1])?
            .as_slice()
            .to_vec()
    } else {
        cx.text(args[1]).into_bytes()
    };
    match cx.files().get("file_write", args[0])? {
        OpenFile::Write(w) => w
            .write_all(&data)
            .map_err(|e| io_trap(format!("sys file_write: writing failed: {e}")))?,
        OpenFile::Read(_) => {
            return Err(io_trap(
                "sys file_write: the file was opened for reading".into(),
            ))
        }
    }
    Ok(Value::NIL)
}

fn sys_file_close(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    cx.files().get("file_close", args[0])?;
    let i = args[0].as_int().unwrap_or_default() as usize;
    if let Some(OpenFile::Write(mut w)) = cx.files().slots[i].take() {
        w.flush()
            .map_err(|e| io_trap(format!("sys file_close: writing failed: {e}")))?;
    }
    Ok(Value::NIL)
}

fn sys_load_module(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let spec = str_arg("load_module", args[0])?.to_owned();
    cx.load_module(&spec)
}

fn sys_module_get(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let name = str_arg("module_get", args[1])?.to_owned();
    cx.module_export(args[0], &name)
}

fn sys_to_str(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let text = cx.text(args[0]);
    Ok(cx.alloc_str(&text)?)
}

fn radix_arg(call: &str, v: Value) -> Result<u32, SysError> {
    match v.as_int() {
        Some(r @ 2..=36) => Ok(r as u32),
        _ => Err(SysError::Trap(OpError::type_error(format!(
            "sys {call}: the radix must be an int from 2 to 36, got {}",
            v.as_int()
                .map_or_else(|| v.kind().name().to_owned(), |r| r.to_string())
        )))),
    }
}

fn sys_parse_int_radix(_: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let s = str_arg("parse_int_radix", args[0])?;
    let radix = radix_arg("parse_int_radix", args[1])?;
    Ok(i64::from_str_radix(s.trim(), radix).map_or(Value::NIL, Value::int))
}

fn sys_format_int(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let i = int_arg("format_int", args[0])?;
    let radix = radix_arg("format_int", args[1])?;
    let mut digits = Vec::new();
    let mut n = i.unsigned_abs();
    loop {
        digits.push(std::char::from_digit((n % radix as u64) as u32, radix).unwrap_or('?'));
        n /= radix as u64;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        digits.push('-');
    }
    let text: String = digits.into_iter().rev().collect();
    Ok(cx.alloc_str(&text)?)
}

fn sys_format_float(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let x = number("format_float", args[0])?;
    let digits = int_arg("format_float", args[1])?;
    if !(0..=64).contains(&digits) {
        return Err(SysError::Trap(OpError {
            kind: TrapKind::OutOfBounds,
            message: format!("sys format_float: {digits} decimals is outside 0..=64"),
        }));
    }
    Ok(cx.alloc_str(&format!("{x:.*}", digits as usize))?)
}

fn sys_char_code(_: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    match args[0].as_char() {
        Some(c) => Ok(Value::int(c as i64)),
        None => Err(type_error("char_code", "a char", args[0])),
    }
}

fn sys_char_from_code(_: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let code = int_arg("char_from_code", args[0])?;
    Ok(u32::try_from(code)
        .ok()
        .and_then(char::from_u32)
        .map_or(Value::NIL, Value::char))
}

fn sys_print(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let text = cx.text(args[0]);
    writeln!(cx.stdout(), "{text}").map_err(io_error)?;
    Ok(Value::NIL)
}

fn sys_write(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let text = cx.text(args[0]);
    write!(cx.stdout(), "{text}").map_err(io_error)?;
    Ok(Value::NIL)
}

fn sys_eprint(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let text = cx.text(args[0]);
    writeln!(cx.stderr(), "{text}").map_err(io_error)?;
    Ok(Value::NIL)
}

fn sys_gc(cx: &mut dyn SysContext, _: &[Value]) -> Result<Value, SysError> {
    cx.collect_garbage()?;
    Ok(Value::NIL)
}

fn sys_gc_stats(cx: &mut dyn SysContext, _: &[Value]) -> Result<Value, SysError> {
    Ok(cx.gc_stats()?)
}

fn sys_parse_int(_: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let s = crate::objops::string("parse_int", args[0])?.as_str();
    Ok(s.trim().parse::<i64>().map_or(Value::NIL, Value::int))
}

fn sys_parse_float(_: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let s = crate::objops::string("parse_float", args[0])?.as_str();
    let t = s.trim();
    let x = match t {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => t.parse::<f64>().ok().filter(|x| x.is_finite()),
    };
    Ok(x.map_or(Value::NIL, Value::float))
}

fn number(name: &str, v: Value) -> Result<f64, SysError> {
    match (v.as_float(), v.as_int()) {
        (Some(x), _) => Ok(x),
        (_, Some(i)) => Ok(i as f64),
        _ => Err(SysError::Trap(OpError::type_error(format!(
            "sys {name}: expected a number, got {}",
            v.kind().name()
        )))),
    }
}

macro_rules! float_fn {
    ($fname:ident, $name:literal, |$x:ident| $e:expr) => {
        fn $fname(_: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
            let $x = number($name, args[0])?;
            Ok(Value::float($e))
        }
    };
}

float_fn!(sys_sin, "sin", |x| x.sin());
float_fn!(sys_cos, "cos", |x| x.cos());
float_fn!(sys_tan, "tan", |x| x.tan());
float_fn!(sys_asin, "asin", |x| x.asin());
float_fn!(sys_acos, "acos", |x| x.acos());
float_fn!(sys_atan, "atan", |x| x.atan());
float_fn!(sys_exp, "exp", |x| x.exp());
float_fn!(sys_log, "log", |x| x.ln());

fn sys_atan2(_: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let y = number("atan2", args[0])?;
    let x = number("atan2", args[1])?;
    Ok(Value::float(y.atan2(x)))
}

fn sys_join(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    let items = crate::objops::array("join", args[0])?;
    let sep = crate::objops::string("join", args[1])?.as_str().to_owned();
    let items = items.items();
    // Room for one-byte elements and separators; longer text grows it.
    let mut out = String::with_capacity(items.len() * (1 + sep.len()));
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&sep);
        }
        // Strs, chars and ints (the common elements) without a temporary String.
        if let Some(s) = v.as_str() {
            out.push_str(s);
        } else if let Some(c) = v.as_char() {
            out.push(c);
        } else if let Some(n) = v.as_int() {
            push_int(&mut out, n);
        } else {
            out.push_str(&cx.text(*v));
        }
    }
    Ok(cx.alloc_str(&out)?)
}

/// Appends the decimal digits of `n` (with a `-` if negative), as its text form.
fn push_int(out: &mut String, n: i64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        out.push('-');
    }
    for &b in &buf[at..] {
        out.push(b as char);
    }
}

fn sys_intern(cx: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    if args[0].kind() != Tag::Str {
        return Err(type_error("intern", "a str", args[0]));
    }
    Ok(cx.intern_str(args[0]))
}

fn sys_exit(_: &mut dyn SysContext, args: &[Value]) -> Result<Value, SysError> {
    match args[0].as_int() {
        Some(code) => Err(SysError::Exit(code as i32)),
        None => Err(SysError::Trap(OpError::type_error(format!(
            "sys exit: expected an int status, got {}",
            args[0].kind().name()
        )))),
    }
}

fn sys_clock(_: &mut dyn SysContext, _: &[Value]) -> Result<Value, SysError> {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    Ok(Value::float(start.elapsed().as_secs_f64()))
}

/// The built-in system calls.
pub static SYSCALLS: &[SysDef] = &[
    SysDef {
        name: "print",
        arity: 1,
        params: "value",
        doc: "Write the value's text form and a newline to stdout; returns nil.",
        capability: None,
        func: sys_print,
    },
    SysDef {
        name: "write",
        arity: 1,
        params: "value",
        doc: "Write the value's text form to stdout without a newline; returns nil.",
        capability: None,
        func: sys_write,
    },
    SysDef {
        name: "eprint",
        arity: 1,
        params: "value",
        doc: "Write the value's text form and a newline to stderr; returns nil.",
        capability: None,
        func: sys_eprint,
    },
    SysDef {
        name: "ewrite",
        arity: 1,
        params: "value",
        doc: "Write the value's text form to stderr without a newline; returns nil.",
        capability: None,
        func: sys_ewrite,
    },
    SysDef {
        name: "read_line",
        arity: 0,
        params: "",
        doc: "The next line of stdin as a str, without its line ending (`\\n` or `\\r\\n`); nil at the end of the input. A line that is not UTF-8 traps with IoError.",
        capability: None,
        func: sys_read_line,
    },
    SysDef {
        name: "file_open",
        arity: 2,
        params: "path: str, mode: str",
        doc: "Open a file: mode `\"r\"` reads, `\"w\"` creates or truncates, `\"a\"` creates or appends. Returns an int handle, or, when the system refuses (missing file, no permission), the error message as a str — test the result with `is h, int`. Another mode is a TypeError.",
        capability: Some(Capability::Files),
        func: sys_file_open,
    },
    SysDef {
        name: "file_read",
        arity: 1,
        params: "handle: int",
        doc: "The rest of a file opened with `\"r\"`, as a str (\"\" at the end). Text that is not UTF-8 traps with IoError.",
        capability: Some(Capability::Files),
        func: sys_file_read,
    },
    SysDef {
        name: "file_read_line",
        arity: 1,
        params: "handle: int",
        doc: "The next line of a file opened with `\"r\"`, without its line ending; nil at the end of the file.",
        capability: Some(Capability::Files),
        func: sys_file_read_line,
    },
    SysDef {
        name: "file_read_bytes",
        arity: 2,
        params: "handle: int, max: int",
        doc: "Up to `max` bytes of a file opened with `\"r\"`, as a new bytes buffer (empty at the end of the file).",
        capability: Some(Capability::Files),
        func: sys_file_read_bytes,
    },
    SysDef {
        name: "file_write",
        arity: 2,
        params: "handle: int, data",
        doc: "Write to a file opened with `\"w\"` or `\"a\"`: a bytes buffer's contents, or any other value's text form (strs raw); returns nil. Writes are buffered until `file_close` (or the end of the Vm).",
        capability: Some(Capability::Files),
        func: sys_file_write,
    },
    SysDef {
        name: "file_close",
        arity: 1,
        params: "handle: int",
        doc: "Flush and close a file; the handle may be reused by a later `file_open`. Returns nil.",
        capability: Some(Capability::Files),
        func: sys_file_close,
    },
    SysDef {
        name: "args",
        arity: 0,
        params: "",
        doc: "The program's arguments as a new array of strs (those after `--` on the `sigma run` command line).",
        capability: None,
        func: sys_args,
    },
    SysDef {
        name: "env",
        arity: 1,
        params: "name: str",
        doc: "The value of environment variable `name` as a str, or nil if it is not set (or not UTF-8).",
        capability: Some(Capability::Env),
        func: sys_env,
    },
    SysDef {
        name: "clock",
        arity: 0,
        params: "",
        doc: "Monotonic time in seconds (float) since an unspecified start.",
        capability: None,
        func: sys_clock,
    },
    SysDef {
        name: "time",
        arity: 0,
        params: "",
        doc: "Wall-clock time in seconds (float) since 1970-01-01 00:00 UTC.",
        capability: None,
        func: sys_time,
    },
    SysDef {
        name: "exit",
        arity: 1,
        params: "status: int",
        doc: "Stop the whole program with the given exit status.",
        capability: Some(Capability::Exit),
        func: sys_exit,
    },
    SysDef {
        name: "panic",
        arity: 1,
        params: "message",
        doc: "Stop the program with a Panic trap whose message is the value's text form; the trap carries the backtrace of the calling code.",
        capability: None,
        func: sys_panic,
    },
    SysDef {
        name: "gc",
        arity: 0,
        params: "",
        doc: "Run a full garbage collection now (and any destructors it makes due); returns nil.",
        capability: None,
        func: sys_gc,
    },
    SysDef {
        name: "gc_stats",
        arity: 0,
        params: "",
        doc: "A map of collector statistics: `collections` (all), `minor_collections`, `bytes_allocated`, `live_bytes`, `live_objects`, `peak_bytes`, `pause_ns` (total), `max_pause_ns`.",
        capability: None,
        func: sys_gc_stats,
    },
    SysDef {
        name: "load_module",
        arity: 1,
        params: "name: str",
        doc: "Load a module at run time and return its module value: a module name is looked up like `.import` (already loaded, then the search path); a name ending in `.sbas` or `.sbc` is a file path. Its imports are linked and its `.init` runs first. A module that cannot be found, read or linked traps with LinkError naming the chain and the paths searched. A module loaded this way is unloaded by the collector once nothing reaches it (no module value, fn value, record of its types, running frame, importer or method); loading it again then loads it anew.",
        capability: None,
        func: sys_load_module,
    },
    SysDef {
        name: "module_get",
        arity: 2,
        params: "module, name: str",
        doc: "The function `name` exported by a module value, as a fn value (callable with `callv`), or nil if it exports no such function.",
        capability: None,
        func: sys_module_get,
    },
    SysDef {
        name: "to_str",
        arity: 1,
        params: "value",
        doc: "The value's text form as a str (as `tostr`).",
        capability: None,
        func: sys_to_str,
    },
    SysDef {
        name: "parse_int",
        arity: 1,
        params: "text: str",
        doc: "The int written in decimal in `text` (surrounding spaces allowed), or nil if it is not one.",
        capability: None,
        func: sys_parse_int,
    },
    SysDef {
        name: "parse_int_radix",
        arity: 2,
        params: "text: str, radix: int",
        doc: "The int written in base `radix` (2 to 36) in `text`, or nil if it is not one.",
        capability: None,
        func: sys_parse_int_radix,
    },
    SysDef {
        name: "parse_float",
        arity: 1,
        params: "text: str",
        doc: "The float written in `text` (decimal or exponent form, `inf`, `-inf`, `nan`), or nil if it is not one.",
        capability: None,
        func: sys_parse_float,
    },
    SysDef {
        name: "format_int",
        arity: 2,
        params: "i: int, radix: int",
        doc: "The int's digits in base `radix` (2 to 36, lower-case letters), as a str.",
        capability: None,
        func: sys_format_int,
    },
    SysDef {
        name: "format_float",
        arity: 2,
        params: "x: number, decimals: int",
        doc: "The number with exactly `decimals` (0 to 64) digits after the point, rounded, as a str.",
        capability: None,
        func: sys_format_float,
    },
    SysDef {
        name: "char_code",
        arity: 1,
        params: "c: char",
        doc: "The Unicode scalar value of char `c`, as an int.",
        capability: None,
        func: sys_char_code,
    },
    SysDef {
        name: "char_from_code",
        arity: 1,
        params: "code: int",
        doc: "The char whose Unicode scalar value is `code`, or nil if there is none.",
        capability: None,
        func: sys_char_from_code,
    },
    SysDef {
        name: "join",
        arity: 2,
        params: "items: array, sep: str",
        doc: "A new str of the elements' text forms separated by `sep` (strings are included raw).",
        capability: None,
        func: sys_join,
    },
    SysDef {
        name: "intern",
        arity: 1,
        params: "s: str",
        doc: "The canonical str with `s`'s content: every call with equal text returns the same object (`same`), for any length; a str no longer reachable is forgotten.",
        capability: None,
        func: sys_intern,
    },
    SysDef {
        name: "sin",
        arity: 1,
        params: "x: number",
        doc: "The sine of `x` (radians), as a float.",
        capability: None,
        func: sys_sin,
    },
    SysDef {
        name: "cos",
        arity: 1,
        params: "x: number",
        doc: "The cosine of `x` (radians), as a float.",
        capability: None,
        func: sys_cos,
    },
    SysDef {
        name: "tan",
        arity: 1,
        params: "x: number",
        doc: "The tangent of `x` (radians), as a float.",
        capability: None,
        func: sys_tan,
    },
    SysDef {
        name: "asin",
        arity: 1,
        params: "x: number",
        doc: "The arc sine of `x`, in radians, as a float.",
        capability: None,
        func: sys_asin,
    },
    SysDef {
        name: "acos",
        arity: 1,
        params: "x: number",
        doc: "The arc cosine of `x`, in radians, as a float.",
        capability: None,
        func: sys_acos,
    },
    SysDef {
        name: "atan",
        arity: 1,
        params: "x: number",
        doc: "The arc tangent of `x`, in radians, as a float.",
        capability: None,
        func: sys_atan,
    },
    SysDef {
        name: "atan2",
        arity: 2,
        params: "y: number, x: number",
        doc: "The angle of the point (x, y) in radians, in (-pi, pi], as a float.",
        capability: None,
        func: sys_atan2,
    },
    SysDef {
        name: "exp",
        arity: 1,
        params: "x: number",
        doc: "e raised to `x`, as a float.",
        capability: None,
        func: sys_exp,
    },
    SysDef {
        name: "log",
        arity: 1,
        params: "x: number",
        doc: "The natural logarithm of `x`, as a float (NaN for negative `x`, -inf for 0).",
        capability: None,
        func: sys_log,
    },
];

/// The built-in system call called `name`.
pub fn builtin(name: &str) -> Option<&'static SysDef> {
    SYSCALLS.iter().find(|d| d.name == name)
}
