//! `sigma-runtime`: everything about Sigma bytecode that does not execute it.
//!
//! Values and heap object kinds, static types, the opcode table (the single source of truth for
//! the instruction set), the in-memory module, the `.sbc` binary format, the verifier, the
//! assembler and disassembler, the builder API for compilers, the system-call table, traps, and
//! the runtime helpers whose semantics both execution tiers share.
//!
//! Typical pipeline: text → [`asm::assemble`] (or [`builder::ModuleBuilder`]) → [`module::Module`]
//! → [`format::encode`] to `.sbc`; `.sbc` → [`format::decode`] → [`verify::verify`] → a tier.

pub mod asm;
pub mod builder;
pub mod capability;
pub mod disasm;
pub mod dispatch;
pub mod docs;
pub mod ffi;
pub mod format;
pub mod heap;
pub mod module;
pub mod objops;
pub mod opcodes;
pub mod ops;
pub mod syscalls;
pub mod trap;
pub mod types;
pub mod value;
pub mod verify;

pub use asm::{assemble, AsmError};
pub use disasm::disassemble;
pub use format::{decode, encode, DecodeError};
pub use module::{
    Constant, Function, Global, ImportedSymbol, Instr, Method, Module, Multimethod, Operand,
    Pattern,
};
pub use opcodes::{Opcode, OperandKind};
pub use trap::{Trap, TrapKind};
pub use types::Type;
pub use value::{Tag, Value};
pub use verify::{verify, ModuleInfo, VerifyError};

use thiserror::Error;

/// Any reason a module could not be loaded from text or bytes.
#[derive(Debug, Error)]
pub enum LoadError {
    /// Malformed assembly text.
    #[error("{0}")]
    Asm(#[from] AsmError),
    /// Malformed binary.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// The module failed verification.
    #[error("verification failed: {0}")]
    Verify(#[from] VerifyError),
}

/// Decodes and verifies `.sbc` bytes.
pub fn load_bytes(bytes: &[u8]) -> Result<(Module, ModuleInfo), LoadError> {
    let m = decode(bytes)?;
    let info = verify(&m)?;
    Ok((m, info))
}

/// Assembles and verifies assembly text (`file` names it in diagnostics).
pub fn load_text(text: &str, file: &str) -> Result<(Module, ModuleInfo), LoadError> {
    Ok(assemble(text, file)?)
}

/// Loads a module from bytes: `.sbc` binary if they start with the bytecode magic, assembly text
/// otherwise. `name` is used in diagnostics.
pub fn load_source(bytes: &[u8], name: &str) -> Result<(Module, ModuleInfo), LoadError> {
    if bytes.starts_with(format::MAGIC) {
        return load_bytes(bytes);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => load_text(text, name),
        Err(e) => Err(LoadError::Decode(DecodeError {
            offset: e.valid_up_to(),
            message: "neither Sigma bytecode (no magic) nor UTF-8 assembly text".into(),
        })),
    }
}
