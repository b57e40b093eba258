//! `sigma-interp`: Sigma's baseline interpreter.
//!
//! A [`Vm`] links verified modules (lowering each function once into a type-specialized
//! instruction form), owns the fixed register stack and the call-record stack, and runs guest
//! code in a single `match` dispatch loop without host recursion. Failures become traps with
//! backtraces; `halt` and `sys exit` stop the program with a status. Multimethod calls select
//! their method through per-site caches (see `dispatch.rs`).

mod code;
mod dispatch;
mod exec;
mod ffi;
mod heapops;
mod linker;
mod lower;
mod native;
mod output;
mod poll;
pub mod tier;
mod unload;
mod vm;

pub use dispatch::{ArgGuard, DispatchSite, MethodError, MonoDispatch};
pub use heapops::Handle;
pub use lower::{checks_operand_itself, loop_headers};
pub use output::OutputBuffer;
pub use poll::{InterruptHandle, POLL_SLICE};
pub use sigma_gc::{GcStats, HeapConfig};
pub use sigma_runtime::capability::{Capabilities, Capability};
pub use sigma_runtime::ffi::LibraryTracker;
pub use tier::{JitConfig, JitMode, TierCompiler};
pub use unload::ModuleLifetime;
pub use vm::{
    HostSysFn, LinkError, LoadedModule, RegisterError, Root, Stop, Vm, VmConfig, DEFAULT_HEAP_LIMIT,
};
