//! Traps: the errors a running guest program raises, with kind, message and backtrace.
//!
//! Every failure inside guest code becomes a [`Trap`] returned to the host; nothing unwinds
//! through guest frames and nothing aborts the process. Runtime helpers report an [`OpError`]
//! (kind + message); the executing tier adds the location and backtrace.

use std::fmt;

use thiserror::Error;

/// What kind of failure a trap is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrapKind {
    /// A value had the wrong type for an operation or a typed slot.
    TypeError,
    /// Integer division or remainder by zero.
    DivisionByZero,
    /// The register stack or the call stack is full.
    StackOverflow,
    /// The guest called `sys panic` or an equivalent unrecoverable error.
    Panic,
    /// Writing program output failed.
    IoError,
    /// An index, offset or range outside an array, string or byte buffer.
    OutOfBounds,
    /// The heap limit was reached even after a full collection, or the system refused memory.
    OutOfMemory,
    /// The program used a capability (FFI, files, environment, process exit) its Vm's
    /// configuration does not grant.
    PermissionDenied,
    /// The host stopped the program: an interrupt request (Ctrl-C, an interrupt handle) or the
    /// fuel running out.
    Interrupted,
    /// A multimethod call matched none of its methods.
    NoMethod,
    /// A multimethod call matched several methods, none more specific than the others.
    AmbiguousMethod,
    /// A native (FFI) library or symbol could not be used, or a native call's arguments did
    /// not fit its C signature.
    NativeError,
    /// A module loaded at run time (`sys load_module`) could not be found, read or linked.
    LinkError,
}

impl TrapKind {
    /// All kinds.
    pub const ALL: [TrapKind; 13] = [
        TrapKind::TypeError,
        TrapKind::DivisionByZero,
        TrapKind::StackOverflow,
        TrapKind::Panic,
        TrapKind::IoError,
        TrapKind::OutOfBounds,
        TrapKind::OutOfMemory,
        TrapKind::PermissionDenied,
        TrapKind::Interrupted,
        TrapKind::NoMethod,
        TrapKind::AmbiguousMethod,
        TrapKind::NativeError,
        TrapKind::LinkError,
    ];

    /// The kind's name as printed and as written in filetest `trap:` directives.
    pub fn name(self) -> &'static str {
        match self {
            TrapKind::TypeError => "TypeError",
            TrapKind::DivisionByZero => "DivisionByZero",
            TrapKind::StackOverflow => "StackOverflow",
            TrapKind::Panic => "Panic",
            TrapKind::IoError => "IoError",
            TrapKind::OutOfBounds => "OutOfBounds",
            TrapKind::OutOfMemory => "OutOfMemory",
            TrapKind::PermissionDenied => "PermissionDenied",
            TrapKind::Interrupted => "Interrupted",
            TrapKind::NoMethod => "NoMethod",
            TrapKind::AmbiguousMethod => "AmbiguousMethod",
            TrapKind::NativeError => "NativeError",
            TrapKind::LinkError => "LinkError",
        }
    }

    /// Parses a kind name.
    pub fn from_name(s: &str) -> Option<TrapKind> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure reported by a runtime helper, before a location is attached.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{kind}: {message}")]
pub struct OpError {
    /// The kind.
    pub kind: TrapKind,
    /// What went wrong, naming the operation and the values' types.
    pub message: String,
}

impl OpError {
    /// A `TypeError`.
    pub fn type_error(message: impl Into<String>) -> Self {
        OpError {
            kind: TrapKind::TypeError,
            message: message.into(),
        }
    }

    /// A `DivisionByZero`.
    pub fn division_by_zero(op: &str) -> Self {
        OpError {
            kind: TrapKind::DivisionByZero,
            message: format!("{op}: integer division by zero"),
        }
    }
}

/// One frame of a trap's backtrace, innermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceFrame {
    /// Module name.
    pub module: String,
    /// Function name.
    pub function: String,
    /// Bytecode instruction index.
    pub pc: u32,
    /// Source file, when debug info has it.
    pub file: Option<String>,
    /// Source line, when debug info has it.
    pub line: Option<u32>,
}

impl fmt::Display for TraceFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}::{} (", self.module, self.function)?;
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}, ")?,
            (Some(file), None) => write!(f, "{file}, ")?,
            _ => {}
        }
        write!(f, "pc {})", self.pc)
    }
}

/// A trap raised by guest code.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub struct Trap {
    /// The kind.
    pub kind: TrapKind,
    /// What went wrong.
    pub message: String,
    /// Innermost frames first. Very deep stacks keep the innermost and outermost frames.
    pub backtrace: Vec<TraceFrame>,
    /// Frames left out of `backtrace` (between its innermost and outermost parts).
    pub omitted: usize,
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        for (i, frame) in self.backtrace.iter().enumerate() {
            if self.omitted > 0 && i == BACKTRACE_INNER {
                write!(f, "\n  ... {} frames omitted ...", self.omitted)?;
            }
            write!(f, "\n  {frame}")?;
        }
        Ok(())
    }
}

/// Innermost frames kept in a truncated backtrace.
pub const BACKTRACE_INNER: usize = 40;
/// Outermost frames kept in a truncated backtrace.
pub const BACKTRACE_OUTER: usize = 10;
