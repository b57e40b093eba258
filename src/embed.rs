//! The embedding facade: an [`Engine`] made from a [`Config`] creates [`Vm`]s; a [`Module`] is
//! read from a file, from bytes or from text once and loaded into any number of Vms; the host
//! registers system calls as typed Rust closures and calls guest functions by name with typed
//! arguments and results ([`FromValue`], [`IntoValue`]).
//!
//! Invariants: a [`Config`]'s default grants the guest no capability (files, environment, FFI,
//! process exit) — the host opts in; a [`Module`] is verified when it is made, so loading it can
//! only fail at link time; arguments converted for a call are rooted until the call starts, so
//! a collection caused by converting a later argument cannot free an earlier one.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use sigma_interp::{Capabilities, Capability, Handle, JitMode, RegisterError, Stop, VmConfig};
use sigma_runtime::objops;
use sigma_runtime::syscalls::{SysContext, SysError};
use sigma_runtime::trap::{OpError, TrapKind};
use sigma_runtime::{ModuleInfo, Tag, Value};
use thiserror::Error;

/// How the Vms of an [`Engine`] run: limits, the JIT, and the capabilities granted to guests.
#[derive(Clone, Debug)]
pub struct Config {
    vm: VmConfig,
    module_paths: Vec<PathBuf>,
}

impl Default for Config {
    /// The default Vm limits, the JIT on, and no capabilities.
    fn default() -> Self {
        Config {
            vm: VmConfig {
                capabilities: Capabilities::NONE,
                ..VmConfig::default()
            },
            module_paths: Vec::new(),
        }
    }
}

impl Config {
    /// The default configuration (see [`Config::default`]).
    pub fn new() -> Config {
        Config::default()
    }

    /// Grants one capability.
    pub fn allow(mut self, c: Capability) -> Config {
        self.vm.capabilities = self.vm.capabilities.with(c, true);
        self
    }

    /// Sets every capability at once.
    pub fn capabilities(mut self, caps: Capabilities) -> Config {
        self.vm.capabilities = caps;
        self
    }

    /// The heap limit in bytes (past it, after a full collection, allocation traps with
    /// `OutOfMemory`).
    pub fn heap_limit(mut self, bytes: usize) -> Config {
        self.vm.heap.limit = Some(bytes);
        self
    }

    /// Interpret only ([`JitMode::Off`]), compile hot functions ([`JitMode::On`], the
    /// default) or compile everything when loaded ([`JitMode::Eager`]).
    pub fn jit(mut self, mode: JitMode) -> Config {
        self.vm.jit.mode = mode;
        self
    }

    /// Adds a directory searched for imported modules.
    pub fn module_path(mut self, dir: impl Into<PathBuf>) -> Config {
        self.module_paths.push(dir.into());
        self
    }

    /// The underlying Vm configuration.
    pub fn vm_config(&self) -> &VmConfig {
        &self.vm
    }
}

/// Makes Vms that share one configuration.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    config: Config,
}

impl Engine {
    /// An engine with this configuration.
    pub fn new(config: Config) -> Engine {
        Engine { config }
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A new Vm with nothing loaded: register system calls, then [`Vm::load`] modules.
    pub fn vm(&self) -> Vm {
        let mut vm = crate::new_vm(self.config.vm.clone());
        for dir in &self.config.module_paths {
            vm.add_module_path(dir);
        }
        Vm {
            vm,
            loaded: Vec::new(),
        }
    }

    /// A new Vm with `module` (and what it imports) loaded.
    pub fn instantiate(&self, module: &Module) -> Result<Vm, crate::Error> {
        let mut vm = self.vm();
        vm.load(module)?;
        Ok(vm)
    }
}

/// A verified module, ready to be loaded into Vms. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Module {
    inner: Rc<(sigma_runtime::Module, ModuleInfo)>,
    path: Option<PathBuf>,
}

impl Module {
    /// Reads a `.sbc` or `.sbas` file (imports are then searched beside it first).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Module, crate::Error> {
        let path = path.as_ref();
        let (m, info) = crate::load_file(path)?;
        Ok(Module {
            inner: Rc::new((m, info)),
            path: Some(path.to_path_buf()),
        })
    }

    /// Reads `.sbc` bytes or assembly text (recognized by the magic); `name` is used in
    /// diagnostics.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Module, crate::Error> {
        let (m, info) = crate::load_source(bytes, name)?;
        Ok(Module {
            inner: Rc::new((m, info)),
            path: None,
        })
    }

    /// Assembles text.
    pub fn from_text(text: &str, name: &str) -> Result<Module, crate::Error> {
        Module::from_bytes(text.as_bytes(), name)
    }

    /// The module's name (`.module`).
    pub fn name(&self) -> &str {
        &self.inner.0.name
    }

    /// The names of its exported functions.
    pub fn exports(&self) -> Vec<&str> {
        let m = &self.inner.0;
        m.functions
            .iter()
            .filter(|f| f.export)
            .map(|f| f.name.as_str())
            .collect()
    }

    /// The module itself and the verifier's findings.
    pub fn raw(&self) -> (&sigma_runtime::Module, &ModuleInfo) {
        (&self.inner.0, &self.inner.1)
    }
}

/// Why a typed call could not be made or did not return a value of the asked type.
#[derive(Debug, Error)]
pub enum CallError {
    /// No loaded module exports a function of that name.
    #[error("no loaded module exports a function `{0}`")]
    NoFunction(String),
    /// The guest trapped or exited.
    #[error("{0}")]
    Stop(#[from] Stop),
    /// The result did not convert to the asked Rust type.
    #[error("the result of `{function}` {message}")]
    Result {
        /// The function called.
        function: String,
        /// What was wrong.
        message: String,
    },
}

/// A Rust value made from a guest value.
pub trait FromValue: Sized {
    /// The value as `Self`, or what was expected.
    fn from_value(v: Value) -> Result<Self, String>;
}

/// A Rust value turned into a guest value (allocating strings in the Vm).
pub trait IntoValue {
    /// The guest value.
    fn into_value(self, cx: &mut dyn SysContext) -> Result<Value, OpError>;
}

fn expected(what: &str, v: Value) -> String {
    format!("expected {what}, got {}", v.kind().name())
}

impl FromValue for Value {
    fn from_value(v: Value) -> Result<Self, String> {
        Ok(v)
    }
}
impl FromValue for i64 {
    fn from_value(v: Value) -> Result<Self, String> {
        v.as_int().ok_or_else(|| expected("int", v))
    }
}
impl FromValue for f64 {
    fn from_value(v: Value) -> Result<Self, String> {
        match (v.as_float(), v.as_int()) {
            (Some(x), _) => Ok(x),
            (_, Some(i)) => Ok(i as f64),
            _ => Err(expected("a number", v)),
        }
    }
}
impl FromValue for bool {
    fn from_value(v: Value) -> Result<Self, String> {
        v.as_bool().ok_or_else(|| expected("bool", v))
    }
}
impl FromValue for char {
    fn from_value(v: Value) -> Result<Self, String> {
        v.as_char().ok_or_else(|| expected("char", v))
    }
}
impl FromValue for String {
    fn from_value(v: Value) -> Result<Self, String> {
        if v.kind() != Tag::Str {
            return Err(expected("str", v));
        }
        objops::string("host", v)
            .map(|s| s.as_str().to_owned())
            .map_err(|e| e.message)
    }
}
impl FromValue for () {
    fn from_value(v: Value) -> Result<Self, String> {
        if v.is_nil() {
            Ok(())
        } else {
            Err(expected("nil", v))
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Self, String> {
        if v.is_nil() {
            Ok(None)
        } else {
            T::from_value(v).map(Some)
        }
    }
}

macro_rules! into_immediate {
    ($($t:ty => $make:expr),*) => {$(
        impl IntoValue for $t {
            fn into_value(self, _: &mut dyn SysContext) -> Result<Value, OpError> {
                Ok($make(self))
            }
        }
    )*};
}

into_immediate!(Value => |v: Value| v, i64 => Value::int, f64 => Value::float, bool => Value::bool, char => Value::char);

impl IntoValue for () {
    fn into_value(self, _: &mut dyn SysContext) -> Result<Value, OpError> {
        Ok(Value::NIL)
    }
}
impl IntoValue for &str {
    fn into_value(self, cx: &mut dyn SysContext) -> Result<Value, OpError> {
        cx.alloc_str(self)
    }
}
impl IntoValue for String {
    fn into_value(self, cx: &mut dyn SysContext) -> Result<Value, OpError> {
        cx.alloc_str(&self)
    }
}
impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self, cx: &mut dyn SysContext) -> Result<Value, OpError> {
        match self {
            Some(v) => v.into_value(cx),
            None => Ok(Value::NIL),
        }
    }
}

/// A tuple of Rust values passed as guest arguments.
pub trait IntoArgs {
    /// The values, converted in order, each held by a handle (so converting a later one, which
    /// may collect, cannot free an earlier one).
    fn into_args(self, vm: &mut sigma_interp::Vm) -> Result<Vec<Handle>, OpError>;
}

/// A tuple of Rust values received from guest arguments.
pub trait FromArgs: Sized {
    /// How many arguments.
    const ARITY: usize;
    /// The arguments as `Self`, or which one did not convert and why.
    fn from_args(args: &[Value]) -> Result<Self, String>;
}

macro_rules! tuple_args {
    ($n:expr; $($t:ident $i:tt),*) => {
        impl<$($t: IntoValue),*> IntoArgs for ($($t,)*) {
            #[allow(unused_variables, unused_mut)]
            fn into_args(self, vm: &mut sigma_interp::Vm) -> Result<Vec<Handle>, OpError> {
                let mut held = Vec::new();
                $(
                    let v = self.$i.into_value(vm)?;
                    held.push(vm.handle(v));
                )*
                Ok(held)
            }
        }
        impl<$($t: FromValue),*> FromArgs for ($($t,)*) {
            const ARITY: usize = $n;
            #[allow(unused_variables)]
            fn from_args(args: &[Value]) -> Result<Self, String> {
                Ok(($($t::from_value(args[$i]).map_err(|e| format!("argument {}: {e}", $i + 1))?,)*))
            }
        }
    };
}

tuple_args!(0;);
tuple_args!(1; A 0);
tuple_args!(2; A 0, B 1);
tuple_args!(3; A 0, B 1, C 2);
tuple_args!(4; A 0, B 1, C 2, D 3);
tuple_args!(5; A 0, B 1, C 2, D 3, E 4);
tuple_args!(6; A 0, B 1, C 2, D 3, E 4, F 5);

/// A Sigma virtual machine made by an [`Engine`]. It dereferences to the underlying
/// [`sigma_interp::Vm`] for everything else (output streams, handles, fuel, interrupts, GC).
pub struct Vm {
    vm: sigma_interp::Vm,
    /// Indices of the modules loaded through [`Vm::load`], most recent last.
    loaded: Vec<usize>,
}

impl Deref for Vm {
    type Target = sigma_interp::Vm;
    fn deref(&self) -> &sigma_interp::Vm {
        &self.vm
    }
}

impl DerefMut for Vm {
    fn deref_mut(&mut self) -> &mut sigma_interp::Vm {
        &mut self.vm
    }
}

impl Vm {
    /// Links `module` (loading what it imports) and runs its `.init`; returns its index.
    pub fn load(&mut self, module: &Module) -> Result<usize, crate::Error> {
        let (m, info) = module.raw();
        let idx = match &module.path {
            Some(p) => self.vm.load_from(m, info, p)?,
            None => self.vm.load(m, info)?,
        };
        self.loaded.push(idx);
        Ok(idx)
    }

    /// Adds a system call `name` for modules loaded from now on: `f` receives the Vm's
    /// system-call context and the arguments converted to `A` (a tuple; its length is the
    /// call's arity, checked when a module is linked). An argument that does not convert is a
    /// `TypeError` trap in the guest; an `Err(message)` from `f` is a `Panic` trap with that
    /// message, both with the guest's backtrace.
    pub fn register_syscall<A, R, F>(&mut self, name: &str, f: F) -> Result<(), RegisterError>
    where
        A: FromArgs,
        R: IntoValue,
        F: Fn(&mut dyn SysContext, A) -> Result<R, String> + 'static,
    {
        let call = name.to_owned();
        self.vm.register_syscall(name, A::ARITY, move |cx, args| {
            let a = A::from_args(args)
                .map_err(|e| SysError::Trap(OpError::type_error(format!("sys {call}: {e}"))))?;
            match f(cx, a) {
                Ok(r) => Ok(r.into_value(cx)?),
                Err(message) => Err(SysError::Trap(OpError {
                    kind: TrapKind::Panic,
                    message: format!("sys {call}: {message}"),
                })),
            }
        })
    }

    /// The function `name` exported by a loaded module (the most recently loaded first), or
    /// `module.name`.
    pub fn function(&self, name: &str) -> Option<u32> {
        if let Some((module, f)) = name.split_once('.') {
            let m = self.vm.module_index(module)?;
            return self.vm.export(m, f);
        }
        self.loaded
            .iter()
            .rev()
            .find_map(|&m| self.vm.export(m, name))
    }

    /// Calls exported function `name` with `args` (a tuple of Rust values) and converts its
    /// result to `R`.
    pub fn call<A: IntoArgs, R: FromValue>(&mut self, name: &str, args: A) -> Result<R, CallError> {
        let f = self
            .function(name)
            .ok_or_else(|| CallError::NoFunction(name.to_owned()))?;
        let held = args
            .into_args(&mut self.vm)
            .map_err(|e| Stop::Trap(Box::new(host_trap(e))))?;
        let values: Vec<Value> = held.iter().map(Handle::value).collect();
        let r = self.vm.call(f, &values);
        drop(held);
        let v = r?;
        R::from_value(v).map_err(|message| CallError::Result {
            function: name.to_owned(),
            message,
        })
    }
}

fn host_trap(e: OpError) -> sigma_runtime::Trap {
    sigma_runtime::Trap {
        kind: e.kind,
        message: e.message,
        backtrace: Vec::new(),
        omitted: 0,
    }
}
