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

pub mod embed;

pub use sigma_gc as gc;
pub use sigma_interp as interp;
pub use sigma_runtime as runtime;

pub use sigma_interp::{
    Capabilities, Capability, GcStats, HeapConfig, InterruptHandle, JitConfig, JitMode, LinkError,
    MethodError, OutputBuffer, Root, Stop, Vm, VmConfig, DEFAULT_HEAP_LIMIT,
};
pub use sigma_runtime::{
    Constant, LoadError, Module, ModuleInfo, Opcode, Pattern, Tag, Trap, TrapKind, Type, Value,
};

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

/// Native stack size for threads that run guest code. Compiled functions call each other on the
/// native stack, so deep guest recursion needs a large one (the interpreter alone does not).
/// Reserved address space only: pages are committed as the stack grows. The Vm traps with
/// `StackOverflow` when its thread's stack runs low, whatever the size.
pub const GUEST_STACK: usize = 1 << 30;

/// Runs `f` on a new thread with a [`GUEST_STACK`]-sized native stack and returns its result.
pub fn with_guest_stack<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    let handle = std::thread::Builder::new()
        .stack_size(GUEST_STACK)
        .spawn(f)?;
    handle
        .join()
        .map_err(|_| std::io::Error::other("the guest thread panicked"))
}

/// A Vm with the given configuration and, when the `jit` feature is enabled and the
/// configuration asks for it, the Cranelift compiler installed.
pub fn new_vm(config: VmConfig) -> Vm {
    let mode = config.jit.mode;
    let mut vm = Vm::new(config);
    #[cfg(feature = "jit")]
    if mode != JitMode::Off {
        match sigma_jit::Jit::new() {
            Ok(jit) => vm.set_compiler(Box::new(jit)),
            Err(e) => {
                eprintln!("sigma: the JIT is not available on this machine ({e}); interpreting")
            }
        }
    }
    #[cfg(not(feature = "jit"))]
    let _ = mode;
    vm
}

/// Loads a module from bytes: `.sbc` binary if they start with the bytecode magic, assembly text
/// otherwise. `name` is used in diagnostics.
pub fn load_source(bytes: &[u8], name: &str) -> Result<(Module, ModuleInfo), Error> {
    Ok(sigma_runtime::load_source(bytes, name)?)
}

/// Loads a module from a `.sbc` or `.sbas` file.
pub fn load_file(path: &Path) -> Result<(Module, ModuleInfo), Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    load_source(&bytes, &path.display().to_string())
}

/// Finds the exported `main` of module `m` and checks that it can be called as an entry point:
/// it takes no parameters, or one (`any` or `array`) that receives the program arguments.
pub fn main_function(vm: &Vm, m: usize) -> Result<u32, Error> {
    let main = vm
        .export(m, "main")
        .ok_or_else(|| Error::Entry("the program has no exported function `main`".into()))?;
    match vm.signature(main) {
        Some(([], _)) | Some(([Type::Any | Type::Array], _)) => Ok(main),
        Some((params, _)) => Err(Error::Entry(format!(
            "`main` must take no parameters or one array of argument strings, not {} parameter(s) of types {:?}",
            params.len(),
            params.iter().map(|t| t.name()).collect::<Vec<_>>()
        ))),
        None => Err(Error::Entry("`main` is not a function".into())),
    }
}

/// Runs a program's `main` the way `sigma run` does: with no arguments, or with an array of
/// the argument strings if `main` takes one parameter (`sys args` returns them too); then, unless it trapped, runs the
/// destructors of all remaining objects.
pub fn run_main(vm: &mut Vm, main: u32, args: &[String]) -> Result<Value, Stop> {
    vm.set_args(args.to_vec());
    let takes_args = vm.signature(main).is_some_and(|(p, _)| p.len() == 1);
    let result = if takes_args {
        let arr = vm.alloc_str_array(args)?;
        vm.call(main, &[arr])
    } else {
        vm.call(main, &[])
    };
    match result {
        Ok(v) => {
            // Keep the result alive while destructors run.
            let root = vm.root(v);
            let finished = vm.finish();
            let v = vm.rooted(&root);
            vm.unroot(root);
            finished.map(|_| v)
        }
        Err(Stop::Exit(code)) => vm.finish().map(|_| Value::NIL).and(Err(Stop::Exit(code))),
        Err(trap) => Err(trap),
    }
}

/// Parses a size such as `4096`, `512KB`, `64MB`, `2GB` (units are powers of 1024; `K`, `M`,
/// `G` and a trailing `B` or `iB` are accepted, in any case).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num.parse().map_err(|_| {
        format!("invalid size `{text}`: expected a number with an optional unit (KB, MB, GB)")
    })?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let mult: usize = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("invalid size unit in `{text}`: use KB, MB or GB")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size `{text}` is too large"))
}

/// The process exit status for a finished program: `main`'s int result, or 0.
pub fn exit_status(result: &Result<Value, Stop>) -> i32 {
    match result {
        Ok(v) => v.as_int().map_or(0, |i| i as i32),
        Err(Stop::Exit(code)) => *code,
        Err(Stop::Trap(_)) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512KB"), Ok(512 << 10));
        assert_eq!(parse_size("64mb"), Ok(64 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("MB").is_err());
        assert!(parse_size("99999999999999999999GB").is_err());
    }
}

/// The README's Rust blocks (the embedding quick start) run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme_doctests {}
