//! The system-call table (Strontium's INTERRUPT, Sigma's `sys`): name, arity, documentation and
//! implementation of every built-in system call, in one place.
//!
//! A `sys rd, name, args…` instruction names its call; the linker resolves the name against the
//! Vm's registry (these built-ins, plus any the host adds) and checks the argument count, so an
//! unknown name or wrong arity is a link error, never a run-time surprise.
//!
//! Invariant: implementations never panic; failures are returned as [`SysError`]s.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

use crate::trap::{OpError, TrapKind};
use crate::value::Value;

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
    /// Runs a full collection (and any destructors it makes due).
    fn collect_garbage(&mut self) -> Result<(), SysError>;
    /// The collector's statistics as a map value.
    fn gc_stats(&mut self) -> Result<Value, OpError>;
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

/// One row of the system-call table.
pub struct SysDef {
    /// The name used in `sys rd, name, ...`.
    pub name: &'static str,
    /// Exact number of arguments.
    pub arity: usize,
    /// Argument list for the docs.
    pub params: &'static str,
    /// One-line description.
    pub doc: &'static str,
    /// The implementation.
    pub func: SysFn,
}

fn io_error(e: std::io::Error) -> SysError {
    SysError::Trap(OpError {
        kind: TrapKind::IoError,
        message: format!("writing output failed: {e}"),
    })
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
    let mut out = String::new();
    for (i, v) in items.items().iter().enumerate() {
        if i > 0 {
            out.push_str(&sep);
        }
        match v.as_str() {
            Some(s) => out.push_str(s),
            None => out.push_str(&cx.text(*v)),
        }
    }
    Ok(cx.alloc_str(&out)?)
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
        func: sys_print,
    },
    SysDef {
        name: "write",
        arity: 1,
        params: "value",
        doc: "Write the value's text form to stdout without a newline; returns nil.",
        func: sys_write,
    },
    SysDef {
        name: "eprint",
        arity: 1,
        params: "value",
        doc: "Write the value's text form and a newline to stderr; returns nil.",
        func: sys_eprint,
    },
    SysDef {
        name: "exit",
        arity: 1,
        params: "status: int",
        doc: "Stop the whole program with the given exit status.",
        func: sys_exit,
    },
    SysDef {
        name: "gc",
        arity: 0,
        params: "",
        doc: "Run a full garbage collection now (and any destructors it makes due); returns nil.",
        func: sys_gc,
    },
    SysDef {
        name: "gc_stats",
        arity: 0,
        params: "",
        doc: "A map of collector statistics: `collections`, `bytes_allocated`, `live_bytes`, `live_objects`, `peak_bytes`, `pause_ns` (total), `max_pause_ns`.",
        func: sys_gc_stats,
    },
    SysDef {
        name: "join",
        arity: 2,
        params: "items: array, sep: str",
        doc: "A new str of the elements' text forms separated by `sep` (strings are included raw).",
        func: sys_join,
    },
    SysDef {
        name: "parse_int",
        arity: 1,
        params: "text: str",
        doc: "The int written in decimal in `text` (surrounding spaces allowed), or nil if it is not one.",
        func: sys_parse_int,
    },
    SysDef {
        name: "parse_float",
        arity: 1,
        params: "text: str",
        doc: "The float written in `text` (decimal or exponent form, `inf`, `-inf`, `nan`), or nil if it is not one.",
        func: sys_parse_float,
    },
    SysDef {
        name: "sin",
        arity: 1,
        params: "x: number",
        doc: "The sine of `x` (angles in radians), as a float.",
        func: sys_sin,
    },
    SysDef {
        name: "cos",
        arity: 1,
        params: "x: number",
        doc: "The cosine of `x` (angles in radians), as a float.",
        func: sys_cos,
    },
    SysDef {
        name: "tan",
        arity: 1,
        params: "x: number",
        doc: "The tangent of `x` (angles in radians), as a float.",
        func: sys_tan,
    },
    SysDef {
        name: "asin",
        arity: 1,
        params: "x: number",
        doc: "The arc sine of `x` (angles in radians), as a float.",
        func: sys_asin,
    },
    SysDef {
        name: "acos",
        arity: 1,
        params: "x: number",
        doc: "The arc cosine of `x` (angles in radians), as a float.",
        func: sys_acos,
    },
    SysDef {
        name: "atan",
        arity: 1,
        params: "x: number",
        doc: "The arc tangent of `x` (angles in radians), as a float.",
        func: sys_atan,
    },
    SysDef {
        name: "exp",
        arity: 1,
        params: "x: number",
        doc: "The exponential of `x` (angles in radians), as a float.",
        func: sys_exp,
    },
    SysDef {
        name: "log",
        arity: 1,
        params: "x: number",
        doc: "The natural logarithm of `x` (angles in radians), as a float.",
        func: sys_log,
    },
    SysDef {
        name: "atan2",
        arity: 2,
        params: "y: number, x: number",
        doc: "The angle of the point (x, y) in radians, in (-pi, pi], as a float.",
        func: sys_atan2,
    },
    SysDef {
        name: "clock",
        arity: 0,
        params: "",
        doc: "Monotonic time in seconds (float) since an unspecified start.",
        func: sys_clock,
    },
];

/// The built-in system call called `name`.
pub fn builtin(name: &str) -> Option<&'static SysDef> {
    SYSCALLS.iter().find(|d| d.name == name)
}
