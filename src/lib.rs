//! `sigma_vm`: the Sigma virtual machine, for embedding and for tools.
//!
//! This facade re-exports the crates that make up Sigma — [`runtime`] (values, bytecode,
//! verifier, assembler), [`interp`] (the interpreter and its [`Vm`]) and [`gc`] (the heap) — and
//! adds the loading and entry-point conventions shared by the command-line tools and tests.
//!
//! ```
//! use sigma_vm::{load_source, Vm, VmConfig};
//!
//! let src = ".func main() -> int export\n    ret 42\n.end\n";
//! let (module, info) = load_source(src.as_bytes(), "demo.sbas").unwrap();
//! let mut vm = Vm::new(VmConfig::default());
//! let m = vm.load(&module, &info).unwrap();
//! let main = vm.export(m, "main").unwrap();
//! assert_eq!(vm.call(main, &[]).unwrap().as_int(), Some(42));
//! ```

use std::path::Path;

#[doc = include_str!("../docs/embedding.md")]
#[cfg(doctest)]
pub struct EmbeddingGuideDoctests;

use thiserror::Error;

pub use sigma_gc as gc;
pub use sigma_interp as interp;
pub use sigma_runtime as runtime;

pub use sigma_interp::{LinkError, Stop, Vm, VmConfig};
pub use sigma_runtime::{LoadError, Module, ModuleInfo, Opcode, Tag, Trap, TrapKind, Type, Value};

/// Any failure to get from a file to a running program.
#[derive(Debug, Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The module is malformed or fails verification.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The module could not be linked.
    #[error("link error: {0}")]
    Link(#[from] LinkError),
    /// The program has no usable entry point.
    #[error("{0}")]
    Entry(String),
}

/// Loads a module from bytes: `.sbc` binary if they start with the bytecode magic, assembly text
/// otherwise. `name` is used in diagnostics.
pub fn load_source(bytes: &[u8], name: &str) -> Result<(Module, ModuleInfo), Error> {
    if bytes.starts_with(sigma_runtime::format::MAGIC) {
        return Ok(sigma_runtime::load_bytes(bytes)?);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(sigma_runtime::load_text(text, name)?),
        Err(e) => Err(Error::Load(LoadError::Decode(sigma_runtime::DecodeError {
            offset: e.valid_up_to(),
            message: "neither Sigma bytecode (no magic) nor UTF-8 assembly text".into(),
        }))),
    }
}

/// Loads a module from a `.sbc` or `.sbas` file.
pub fn load_file(path: &Path) -> Result<(Module, ModuleInfo), Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    load_source(&bytes, &path.display().to_string())
}

/// Finds the exported `main` of module `m` and checks that it can be called as an entry point.
pub fn main_function(vm: &Vm, m: usize) -> Result<u32, Error> {
    let main = vm
        .export(m, "main")
        .ok_or_else(|| Error::Entry("the program has no exported function `main`".into()))?;
    match vm.signature(main) {
        Some(([], _)) => Ok(main),
        Some((params, _)) => Err(Error::Entry(format!(
            "`main` takes {} parameter(s); this version of Sigma calls `main` with none",
            params.len()
        ))),
        None => Err(Error::Entry("`main` is not a function".into())),
    }
}

/// The process exit status for a finished program: `main`'s int result, or 0.
pub fn exit_status(result: &Result<Value, Stop>) -> i32 {
    match result {
        Ok(v) => v.as_int().map_or(0, |i| i as i32),
        Err(Stop::Exit(code)) => *code,
        Err(Stop::Trap(_)) => 1,
    }
}
