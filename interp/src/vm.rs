//! The virtual machine: loaded modules, globals, the register stack, the call-record stack, the
//! heap, the system-call registry and guest output.
//!
//! Invariants:
//! - The register stack is one fixed allocation of `VmConfig::stack_slots` values that never
//!   moves or grows while the Vm lives; frames are windows into it. Slots hold valid values at
//!   all times (zeroed memory is `nil`), and a new frame's registers are initialized before use.
//! - Functions are boxed and never removed while a frame may refer to them, so raw pointers to
//!   a `FuncCode` held by the dispatch loop stay valid.
//! - Guest code cannot make the host panic or recurse: calls push call records, and exceeding
//!   the register stack or `VmConfig::max_call_depth` is a `StackOverflow` trap.
//! - `stack_top` is at or above the end of the running frame whenever a collection can happen
//!   (the dispatch loop sets it before every instruction that may allocate or call out), so the
//!   register slots `[0, stack_top)` are exactly the live register roots.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::HashMap;
use std::io::Write;
use std::ptr::NonNull;

use sigma_gc::{Heap, HeapConfig};
use sigma_runtime::capability::Capabilities;
use sigma_runtime::module::{Constant, Module, Operand};
use sigma_runtime::opcodes::Opcode;
use sigma_runtime::syscalls::{FileTable, SysContext, SysDef, SysError, SYSCALLS};
use sigma_runtime::trap::{OpError, TraceFrame, Trap, TrapKind, BACKTRACE_INNER, BACKTRACE_OUTER};
use sigma_runtime::types::Type;
use sigma_runtime::value::{Tag, Value};
use sigma_runtime::verify::ModuleInfo;
use thiserror::Error;

use crate::code::FuncCode;
use crate::lower::{lower_function, LowerCtx};
use crate::tier::{JitConfig, JitMode, ModuleCode, NativeFn, TierCompiler, VmCtx};

/// Heap limit of a default Vm: 4 GiB.
pub const DEFAULT_HEAP_LIMIT: usize = 4 << 30;

/// Tunable limits of a Vm.
#[derive(Clone, Debug)]
pub struct VmConfig {
    /// Capacity of the register stack, in values (16 bytes each).
    pub stack_slots: usize,
    /// Most nested calls (call records) at once.
    pub max_call_depth: usize,
    /// Collector settings: heap limit, growth factor, stress mode.
    pub heap: HeapConfig,
    /// When and how functions are compiled (needs a compiler, see [`Vm::set_compiler`]).
    pub jit: JitConfig,
    /// What the guest may reach outside the Vm; denied uses trap with `PermissionDenied`.
    pub capabilities: Capabilities,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            stack_slots: 1 << 20,
            max_call_depth: 100_000,
            heap: HeapConfig {
                limit: Some(DEFAULT_HEAP_LIMIT),
                ..HeapConfig::default()
            },
            jit: JitConfig::default(),
            capabilities: Capabilities::NONE,
        }
    }
}

/// Why a run stopped without returning a value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The program asked to exit (`halt` or `sys exit`) with this status.
    #[error("program exited with status {0}")]
    Exit(i32),
    /// The program trapped.
    #[error("{0}")]
    Trap(Box<Trap>),
}

impl Stop {
    /// The trap, if this is one.
    pub fn trap(&self) -> Option<&Trap> {
        match self {
            Stop::Trap(t) => Some(t),
            Stop::Exit(_) => None,
        }
    }
}

/// A module could not be linked into the Vm.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// A `sys` instruction names a system call the Vm does not have.
    #[error("in function `{function}` at pc {pc}: unknown system call `{name}`")]
    UnknownSyscall {
        /// Function containing the call.
        function: String,
        /// Its pc.
        pc: u32,
        /// The name.
        name: String,
    },
    /// A `sys` instruction passes the wrong number of arguments.
    #[error("in function `{function}` at pc {pc}: system call `{name}` takes {expected} argument(s), {found} given")]
    SyscallArity {
        /// Function containing the call.
        function: String,
        /// Its pc.
        pc: u32,
        /// The name.
        name: String,
        /// Declared arity.
        expected: usize,
        /// Arguments passed.
        found: usize,
    },
    /// The module initializer stopped the program.
    #[error("module initializer of `{module}` failed: {stop}")]
    Init {
        /// The module.
        module: String,
        /// How it stopped.
        stop: Stop,
    },
    /// An imported module was found nowhere on the search path.
    #[error("{chain}: module `{import}` not found (searched {searched})")]
    ModuleNotFound {
        /// The import chain, `app -> util` (the importer last).
        chain: String,
        /// The missing module.
        import: String,
        /// The places looked at.
        searched: String,
    },
    /// Modules import each other in a cycle.
    #[error("import cycle: {chain}")]
    ImportCycle {
        /// The cycle, `a -> b -> a`.
        chain: String,
    },
    /// An imported module does not export a symbol the importer uses.
    #[error("{chain}: module `{module}` has no exported {kind} `{name}`")]
    MissingExport {
        /// The import chain (the importer last).
        chain: String,
        /// The imported module.
        module: String,
        /// `function` or `global`.
        kind: &'static str,
        /// The symbol.
        name: String,
    },
    /// A call of an imported function does not fit its signature, or a write to an imported
    /// global does not fit its type.
    #[error("{chain}: in function `{function}` at pc {pc}: {message}")]
    ImportMismatch {
        /// The import chain (the module with the instruction last).
        chain: String,
        /// Function containing the instruction.
        function: String,
        /// Its pc.
        pc: u32,
        /// What does not fit.
        message: String,
    },
    /// An imported module's file could not be read, parsed or verified.
    #[error("{chain}: {message}")]
    Load {
        /// The import chain (the importer last), or the file.
        chain: String,
        /// The problem, with its location.
        message: String,
    },
    /// A file's `.module` name is not the name it was imported by, or a module of that name is
    /// already loaded from elsewhere.
    #[error("{message}")]
    ModuleName {
        /// What is wrong.
        message: String,
    },
    /// A `.native` library could not be opened by the dynamic loader.
    #[error("module `{module}`: cannot open native library `{alias}` (\"{library}\"): {message}")]
    NativeLibrary {
        /// The module declaring it.
        module: String,
        /// Its alias in the module.
        alias: String,
        /// The name given to the loader.
        library: String,
        /// The loader's message.
        message: String,
    },
    /// An `.extern` symbol is not in its library.
    #[error("module `{module}`: native library `{alias}` (\"{library}\") has no symbol `{symbol}`: {message}")]
    NativeSymbol {
        /// The module declaring it.
        module: String,
        /// The library's alias in the module.
        alias: String,
        /// The name given to the loader.
        library: String,
        /// The missing symbol.
        symbol: String,
        /// The loader's message.
        message: String,
    },
    /// A method cannot be added to its multimethod.
    #[error("{chain}: {message}")]
    Method {
        /// The import chain (the module with the method last).
        chain: String,
        /// The method and what is wrong.
        message: String,
    },
    /// The module's constants do not fit in the heap.
    #[error("module `{module}`: {message}")]
    OutOfMemory {
        /// The module.
        module: String,
        /// Details.
        message: String,
    },
}

/// A loaded module.
pub struct LoadedModule {
    /// Module name.
    pub name: String,
    /// Source file (debug info).
    pub source: Option<String>,
    /// Vm function id of the module's first function.
    pub func_base: u32,
    /// Vm index of the module's first global.
    pub global_base: u32,
    /// Number of functions.
    pub func_count: u32,
    /// Exported functions by name.
    pub exports: HashMap<String, u32>,
    /// Exported globals by name (Vm global indices).
    pub global_exports: HashMap<String, u32>,
    /// Indices of the modules it imports.
    pub imports: Vec<usize>,
    /// Vm record type id of the module's first record type.
    pub type_base: u32,
    /// Number of record types.
    pub type_count: u32,
    /// Vm id of the module's first multimethod.
    pub mm_base: u32,
    /// Exported multimethods by name (Vm ids).
    pub mm_exports: HashMap<String, u32>,
    /// The module's constants as values (roots for the collector).
    pub consts: Vec<Value>,
    /// The module's value (`sys load_module` returns it); nil if it could not be allocated.
    pub value: Value,
    /// The module's opened `.native` libraries, in declaration order (roots for the collector;
    /// empty when the FFI capability is not granted).
    pub natives: Vec<Value>,
    /// Vm index of the module's first `.extern`.
    pub extern_base: u32,
    /// Number of globals.
    pub global_count: u32,
    /// Number of multimethods.
    pub mm_count: u32,
    /// Number of `.extern`s.
    pub extern_count: u32,
    /// Whether the module stays loaded for the Vm's life or until unreachable.
    pub lifetime: crate::unload::ModuleLifetime,
    /// Its compiled code's group (unique in the Vm, never reused).
    pub serial: u64,
    /// Memory outside the heap the module accounts for (code, tables), in bytes.
    pub external_bytes: usize,
}

impl LoadedModule {
    /// The placeholder in a free module slot.
    pub(crate) fn unloaded() -> LoadedModule {
        LoadedModule {
            name: String::new(),
            source: None,
            func_base: 0,
            global_base: 0,
            func_count: 0,
            exports: HashMap::new(),
            global_exports: HashMap::new(),
            imports: Vec::new(),
            type_base: 0,
            type_count: 0,
            mm_base: 0,
            mm_exports: HashMap::new(),
            consts: Vec::new(),
            value: Value::NIL,
            natives: Vec::new(),
            extern_base: 0,
            global_count: 0,
            mm_count: 0,
            extern_count: 0,
            lifetime: crate::unload::ModuleLifetime::Unloaded,
            serial: 0,
            external_bytes: 0,
        }
    }
}

/// A call record: the caller's state, saved while a callee runs.
#[derive(Clone, Copy)]
pub(crate) struct CallRecord {
    pub func: *const FuncCode,
    pub base: usize,
    /// The caller's next op.
    pub ret_ip: *const crate::code::Op,
    pub dst: u16,
}

/// The fixed register stack.
pub(crate) struct RegStack {
    ptr: NonNull<Value>,
    len: usize,
}

/// Slots allocated past the register stack's usable end: compiled callers write up to
/// `MAX_PARAMS` arguments into a callee's frame before the callee checks that its frame fits,
/// so those writes must stay inside the allocation.
const STACK_SLACK: usize = 512;

impl RegStack {
    fn new(len: usize) -> RegStack {
        let len = len.max(16);
        let layout =
            Layout::array::<Value>(len + STACK_SLACK).expect("register stack size fits in memory");
        // SAFETY: the layout has non-zero size; zeroed memory is a valid array of `nil`
        // values (tag 0, payload 0).
        let raw = unsafe { alloc_zeroed(layout) } as *mut Value;
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        RegStack { ptr, len }
    }

    pub(crate) fn base(&self) -> *mut Value {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for RegStack {
    fn drop(&mut self) {
        let layout =
            Layout::array::<Value>(self.len + STACK_SLACK).expect("layout was valid at allocation");
        // SAFETY: allocated in `new` with this same layout, freed once.
        unsafe { dealloc(self.ptr.as_ptr() as *mut u8, layout) };
    }
}

/// A record type as the Vm knows it.
pub(crate) struct RecordTypeInfo {
    pub name: String,
    /// The name as a str value (what `typeof` returns for instances).
    pub name_value: Value,
    pub fields: Vec<String>,
    /// Values of the fields of `new T` without field values.
    pub defaults: Vec<Value>,
    /// Vm function id of the destructor.
    pub destructor: Option<u32>,
    /// Vm index of the declaring module.
    pub module: usize,
    /// The vtable of the type's instances (see [`sigma_runtime::heap::RecordVTable`]).
    pub vtable: &'static sigma_runtime::heap::RecordVTable,
}

/// A value the host keeps alive across collections (see [`Vm::root`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Root(pub(crate) usize);

/// A system call the host defines: it receives the Vm's system-call context and the
/// arguments, and returns a value, a trap or an exit request like a built-in one.
pub type HostSysFn = std::rc::Rc<dyn Fn(&mut dyn SysContext, &[Value]) -> Result<Value, SysError>>;

/// A registered system call.
#[derive(Clone)]
pub(crate) enum SysEntry {
    /// One of the table in `sigma_runtime::syscalls`.
    Builtin(&'static SysDef),
    /// One the host registered.
    Host {
        name: String,
        arity: usize,
        func: HostSysFn,
    },
}

impl Vm {
    /// Runs system call `sys` (an index into this Vm's table) on `args`: the one place both
    /// the interpreter and compiled code's helpers invoke a system call.
    #[inline]
    pub(crate) fn invoke_sys(&mut self, sys: u32, args: &[Value]) -> Result<Value, SysError> {
        match &self.syscalls[sys as usize] {
            SysEntry::Builtin(def) => sigma_runtime::syscalls::invoke(def, self, args),
            SysEntry::Host { func, .. } => {
                let func = func.clone();
                func(self, args)
            }
        }
    }
}

impl SysEntry {
    pub(crate) fn name(&self) -> &str {
        match self {
            SysEntry::Builtin(def) => def.name,
            SysEntry::Host { name, .. } => name,
        }
    }

    pub(crate) fn arity(&self) -> usize {
        match self {
            SysEntry::Builtin(def) => def.arity,
            SysEntry::Host { arity, .. } => *arity,
        }
    }
}

/// Why a system call could not be registered.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// The name is taken by a built-in or an earlier registration.
    #[error("a system call named `{0}` already exists")]
    Duplicate(String),
    /// The name is not a plain identifier (letters, digits, `_`, not starting with a digit).
    #[error("`{0}` is not a valid system-call name")]
    BadName(String),
}

/// A Sigma virtual machine.
pub struct Vm {
    pub(crate) heap: Heap,
    pub(crate) stack: RegStack,
    pub(crate) frames: Vec<CallRecord>,
    // Boxed so each function keeps its address when the vector grows: the dispatch loop and
    // call records hold raw pointers to them.
    #[allow(clippy::vec_box)]
    pub(crate) funcs: Vec<Box<FuncCode>>,
    pub(crate) modules: Vec<LoadedModule>,
    pub(crate) globals: Vec<Value>,
    pub(crate) global_types: Vec<Type>,
    pub(crate) syscalls: Vec<SysEntry>,
    pub(crate) type_names: Vec<Value>,
    pub(crate) record_types: Vec<RecordTypeInfo>,
    /// The shared fn value of each function without captures (nil until first made).
    pub(crate) fn_cache: Vec<Value>,
    /// Values held by the host ([`Vm::root`], [`crate::Handle`]).
    pub(crate) host_roots: std::rc::Rc<std::cell::RefCell<crate::heapops::RootTable>>,
    /// Values kept alive only for the duration of one runtime operation.
    pub(crate) temp_roots: Vec<Value>,
    pub(crate) running_destructors: bool,
    /// Weak table of interned strings (str values), by content: every short string, and the
    /// strings `sys intern` made canonical.
    pub(crate) strings: hashbrown::HashTable<Value>,
    /// Compiled entry of each function (by Vm function id), if compiled.
    pub(crate) native: Vec<Option<NativeFn>>,
    /// Per function id, `tier::fn_info` of the function, set when it is compiled.
    pub(crate) fn_info: Vec<u64>,
    pub(crate) tier: Option<Box<dyn TierCompiler>>,
    /// Bytecode kept for compiling functions later, per module.
    pub(crate) module_code: Vec<ModuleCode>,
    /// The context compiled code receives (boxed: its address is stable).
    pub(crate) ctx: Box<VmCtx>,
    /// A trap or exit raised in compiled code, on its way out.
    pub(crate) pending: Option<Box<Stop>>,
    /// Nesting of calls into compiled code.
    pub(crate) native_entries: usize,
    /// Set when an interpreted entry frame tail-calls compiled code: the function to run next
    /// (with its self value) in the caller's loop.
    pub(crate) exec_tail: Option<(u32, Value)>,
    pub(crate) config: VmConfig,
    /// Top of the register stack in use by frames below the running one (for re-entry).
    pub(crate) stack_top: usize,
    pub(crate) out: Box<dyn Write>,
    pub(crate) err: Box<dyn Write>,
    pub(crate) input: Box<dyn std::io::BufRead>,
    /// Files the guest opened with `sys file_open`.
    pub(crate) files: FileTable,
    /// What `sys args` returns.
    pub(crate) program_args: Vec<String>,
    /// Interrupt requests and fuel.
    pub(crate) poll: crate::poll::PollState,
    /// Directories searched for imported modules (after the importer's own directory).
    pub(crate) module_paths: Vec<std::path::PathBuf>,
    /// Modules loaded from files, by canonical path.
    pub(crate) loaded_paths: HashMap<std::path::PathBuf, usize>,
    /// Names of the modules being linked, outermost first (for cycles and error chains).
    pub(crate) loading: Vec<String>,
    /// Every linked module's `.extern`s, resolved (see `ffi.rs`).
    pub(crate) externs: Vec<sigma_runtime::ffi::ExternFn>,
    /// Weak table of open library objects, for sharing them between modules.
    pub(crate) native_libs: Vec<Value>,
    /// Counts this Vm's open libraries.
    pub(crate) library_tracker: sigma_runtime::ffi::LibraryTracker,
    /// See [`Vm::runtime_native_calls`].
    pub(crate) runtime_ncalls: u64,
    /// Multimethods of every module, by Vm id.
    pub(crate) multimethods: Vec<crate::dispatch::MultimethodInfo>,
    /// Free slots of unloaded modules.
    pub(crate) slots: crate::unload::Slots,
    /// Loaded modules that are collectable.
    pub(crate) collectable_modules: usize,
    /// Collectable modules linked since the last full collection (only a full collection can
    /// unload a module, so the next collection is full while this is nonzero).
    pub(crate) modules_linked_since_full: usize,
    /// See [`Vm::modules_unloaded`].
    pub(crate) modules_unloaded: u64,
    /// The code group of the next module linked.
    pub(crate) next_serial: u64,
    /// Nesting of module links in progress (nothing is unloaded meanwhile).
    pub(crate) linking: usize,
    /// Nesting of `sys load_module` calls in progress (modules linked meanwhile are
    /// collectable).
    pub(crate) dynamic_loads: usize,
}

impl Default for Vm {
    fn default() -> Self {
        Vm::new(VmConfig::default())
    }
}

impl Vm {
    /// A Vm with the given limits, writing guest output to the process's stdout and stderr.
    pub fn new(config: VmConfig) -> Vm {
        let mut heap = Heap::new(config.heap.clone());
        // A handful of tiny strings: these cannot fail unless the system is out of memory, in
        // which case they are nil and `typeof` returns nil.
        let type_names = (0..=Tag::Native as u64)
            .map(|w| match Tag::from_word(w) {
                Some(t) => {
                    sigma_runtime::heap::StrObj::alloc(&mut heap, t.name()).unwrap_or(Value::NIL)
                }
                None => Value::NIL,
            })
            .collect();
        Vm {
            heap,
            stack: RegStack::new(config.stack_slots),
            frames: Vec::new(),
            funcs: Vec::new(),
            modules: Vec::new(),
            globals: Vec::new(),
            global_types: Vec::new(),
            syscalls: SYSCALLS.iter().map(SysEntry::Builtin).collect(),
            type_names,
            record_types: Vec::new(),
            fn_cache: Vec::new(),
            host_roots: Default::default(),
            temp_roots: Vec::new(),
            running_destructors: false,
            strings: hashbrown::HashTable::new(),
            native: Vec::new(),
            fn_info: Vec::new(),
            tier: None,
            module_code: Vec::new(),
            ctx: Box::new(VmCtx {
                vm: std::ptr::null_mut(),
                ret: Value::NIL,
                globals: std::ptr::null_mut(),
                native: std::ptr::null(),
                stack_end: std::ptr::null_mut(),
                native_limit: 0,
                deopt_func: 0,
                deopt_pc: 0,
                tail_func: 0,
                tail_self: Value::NIL,
                ticks: crate::poll::POLL_SLICE,
                epoch: 0,
                fn_info: std::ptr::null(),
                alloc: std::ptr::null_mut(),
            }),
            pending: None,
            native_entries: 0,
            exec_tail: None,
            config,
            stack_top: 0,
            out: Box::new(std::io::stdout()),
            err: Box::new(std::io::stderr()),
            input: Box::new(std::io::BufReader::new(std::io::stdin())),
            files: FileTable::default(),
            program_args: Vec::new(),
            poll: crate::poll::PollState {
                slice: crate::poll::POLL_SLICE,
                ..Default::default()
            },
            module_paths: Vec::new(),
            loaded_paths: HashMap::new(),
            loading: Vec::new(),
            externs: Vec::new(),
            native_libs: Vec::new(),
            library_tracker: Default::default(),
            runtime_ncalls: 0,
            multimethods: Vec::new(),
            slots: Default::default(),
            collectable_modules: 0,
            modules_linked_since_full: 0,
            modules_unloaded: 0,
            next_serial: 0,
            linking: 0,
            dynamic_loads: 0,
        }
    }

    /// Redirects guest stdout.
    pub fn set_stdout(&mut self, w: Box<dyn Write>) {
        self.out = w;
    }

    /// Redirects guest stderr.
    pub fn set_stderr(&mut self, w: Box<dyn Write>) {
        self.err = w;
    }

    /// Adds a system call `name` taking `arity` arguments, for modules linked from now on
    /// (names are resolved when a module is linked).
    pub fn register_syscall(
        &mut self,
        name: &str,
        arity: usize,
        func: impl Fn(&mut dyn SysContext, &[Value]) -> Result<Value, SysError> + 'static,
    ) -> Result<(), RegisterError> {
        if !sigma_runtime::verify::is_c_identifier(name) {
            return Err(RegisterError::BadName(name.to_owned()));
        }
        if self.syscalls.iter().any(|s| s.name() == name) {
            return Err(RegisterError::Duplicate(name.to_owned()));
        }
        self.syscalls.push(SysEntry::Host {
            name: name.to_owned(),
            arity,
            func: std::rc::Rc::new(func),
        });
        Ok(())
    }

    /// Redirects guest stdin (what `sys read_line` reads).
    pub fn set_stdin(&mut self, r: Box<dyn std::io::BufRead>) {
        self.input = r;
    }

    /// Sets the program arguments `sys args` returns.
    pub fn set_args(&mut self, args: Vec<String>) {
        self.program_args = args;
    }

    /// The configuration this Vm runs with.
    pub fn config(&self) -> &VmConfig {
        &self.config
    }

    /// Grants or denies capabilities from now on.
    pub fn set_capabilities(&mut self, caps: Capabilities) {
        self.config.capabilities = caps;
    }

    /// The number of files the guest has open.
    pub fn open_files(&self) -> usize {
        self.files.open_count()
    }

    /// Flushes guest output.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        self.err.flush()
    }

    /// Links a verified module into the Vm and runs its initializer. Returns the module index.
    ///
    /// Its imports are found among the loaded modules by name, then on the search path
    /// ([`Vm::add_module_path`]); use [`Vm::load_file`] for a file, whose directory is searched
    /// first.
    pub fn load(&mut self, module: &Module, info: &ModuleInfo) -> Result<usize, LinkError> {
        self.link(module, info, None)
    }

    /// Links `module` (from a file in `dir`, if any): its imports first, then itself.
    pub(crate) fn link(
        &mut self,
        module: &Module,
        info: &ModuleInfo,
        dir: Option<&std::path::Path>,
    ) -> Result<usize, LinkError> {
        // Nothing is unloaded while linking: the imports found are held only by the linker.
        self.linking += 1;
        let r = self.link_inner(module, info, dir);
        self.linking -= 1;
        r
    }

    fn link_inner(
        &mut self,
        module: &Module,
        info: &ModuleInfo,
        dir: Option<&std::path::Path>,
    ) -> Result<usize, LinkError> {
        if let Some(m) = self.module_index(&module.name) {
            return Err(LinkError::ModuleName {
                message: format!(
                    "a module named `{}` is already loaded{}",
                    module.name,
                    self.modules[m]
                        .source
                        .as_deref()
                        .map(|s| format!(" (from {s})"))
                        .unwrap_or_default()
                ),
            });
        }
        self.loading.push(module.name.clone());
        let imports = self.resolve_imports(module, info, dir);
        self.loading.pop();
        let imports = imports?;
        let slots = self.reserve_slots(module);
        let roots_mark = self.temp_roots.len();
        let linked = self.link_reserved(module, &imports, &slots);
        self.temp_roots.truncate(roots_mark);
        let module_index = match linked {
            Ok(m) => m,
            Err(e) => {
                self.release_slots(&slots);
                return Err(e);
            }
        };
        // Every function's shared fn value: a direct call's frame holds it in its self
        // register, which keeps the module loaded while the function runs (see `unload.rs`).
        let (func_base, func_count) = (slots.func, slots.funcs);
        for f in func_base..func_base + func_count {
            let v = self
                .new_closure(f, &[])
                .map_err(|e| LinkError::OutOfMemory {
                    module: module.name.clone(),
                    message: e.message,
                })?;
            let fc = &mut self.funcs[f as usize];
            let at = (fc.self_slot - fc.nparams) as usize;
            fc.init[at] = v;
        }
        let value =
            self.new_module_value(module_index as u32)
                .map_err(|e| LinkError::OutOfMemory {
                    module: module.name.clone(),
                    message: e.message,
                })?;
        self.modules[module_index].value = value;
        if self.config.jit.mode == JitMode::Eager {
            for f in func_base..func_base + func_count {
                self.compile(f);
            }
        }
        if let Some(init) = module.init {
            if let Err(stop) = self.call(func_base + init, &[]) {
                return Err(LinkError::Init {
                    module: module.name.clone(),
                    stop,
                });
            }
        }
        Ok(module_index)
    }

    /// Fills the slots reserved for `module` and registers it. On an error the caller releases
    /// the slots.
    fn link_reserved(
        &mut self,
        module: &Module,
        imports: &crate::linker::Imports,
        slots: &crate::unload::Reserved,
    ) -> Result<usize, LinkError> {
        let import_modules: Vec<usize> = module
            .imports
            .iter()
            .filter_map(|n| self.module_index(n))
            .collect();
        let info = &imports.info;
        let module_index = slots.module;
        let (mm_base, func_base, type_base, global_base) =
            (slots.mm, slots.func, slots.ty, slots.global);
        // Multimethods first: methods may refer to them.
        for (i, d) in module.multimethods.iter().enumerate() {
            self.multimethods[mm_base as usize + i] = crate::dispatch::MultimethodInfo {
                name: d.name.clone(),
                module: module_index,
                table: sigma_runtime::dispatch::MethodTable::new(d.arity as usize),
            };
        }
        let methods = self.link_methods(module, imports, mm_base, type_base, func_base)?;
        let mm_map: Vec<u32> = (0..module.multimethods.len() as u32)
            .map(|i| mm_base + i)
            .chain(imports.mms.iter().copied())
            .collect();
        // System calls: resolve every name used and check arities.
        let mut sys_index = HashMap::new();
        for f in &module.functions {
            for (pc, ins) in f.code.iter().enumerate() {
                if ins.op != Opcode::Sys {
                    continue;
                }
                let Some(Operand::Sys(k)) = ins.operands.get(1) else {
                    continue;
                };
                let name = module.const_str(*k).unwrap_or("");
                let Some(idx) = self.syscalls.iter().position(|s| s.name() == name) else {
                    return Err(LinkError::UnknownSyscall {
                        function: f.name.clone(),
                        pc: pc as u32,
                        name: name.to_owned(),
                    });
                };
                let found = ins.operands.len() - 2;
                let expected = self.syscalls[idx].arity();
                if found != expected {
                    return Err(LinkError::SyscallArity {
                        function: f.name.clone(),
                        pc: pc as u32,
                        name: name.to_owned(),
                        expected,
                        found,
                    });
                }
                sys_index.insert(*k, idx as u32);
            }
        }
        let oom = |e: OpError| LinkError::OutOfMemory {
            module: module.name.clone(),
            message: e.message,
        };
        // Native libraries and externs: opened and resolved now, so a missing library or symbol
        // is a link error. The library objects stay temporary roots until the module holds them.
        let natives = self.link_natives(module, slots.ext)?;
        let extern_base = slots.ext;
        // Record types; their names are strings, kept alive as temporary roots until the
        // module is registered.
        let type_map: Vec<u32> = (0..module.types.len() as u32)
            .map(|i| type_base + i)
            .chain(imports.foreign_types.iter().copied())
            .collect();
        for (i, t) in module.types.iter().enumerate() {
            let name_value = self.new_str(&t.name).map_err(oom)?;
            self.temp_roots.push(name_value);
            let defaults = t
                .fields
                .iter()
                .map(|f| {
                    if f.ty.is_immediate() {
                        f.ty.initial_value()
                    } else {
                        Value::NIL
                    }
                })
                .collect();
            self.record_types[type_base as usize + i] = RecordTypeInfo {
                name: t.name.clone(),
                name_value,
                fields: t.fields.iter().map(|f| f.name.clone()).collect(),
                defaults,
                destructor: t.destructor.map(|d| func_base + d),
                module: module_index,
                vtable: sigma_runtime::heap::record_vtable(
                    type_base + i as u32,
                    t.fields.len() as u32,
                ),
            };
        }
        let mut consts = Vec::with_capacity(module.consts.len());
        for c in &module.consts {
            let v = self.const_value(c).map_err(oom)?;
            self.temp_roots.push(v);
            consts.push(v);
        }
        let func_map: Vec<u32> = (0..module.functions.len() as u32)
            .map(|i| func_base + i)
            .chain(imports.funcs.iter().copied())
            .collect();
        let global_map: Vec<u32> = (0..module.globals.len() as u32)
            .map(|i| global_base + i)
            .chain(imports.globals.iter().copied())
            .collect();
        let mut global_values = Vec::with_capacity(module.globals.len());
        for g in &module.globals {
            let v = self.const_value(&g.init).map_err(oom)?;
            self.temp_roots.push(v);
            global_values.push(v);
        }
        for (i, (g, v)) in module.globals.iter().zip(global_values).enumerate() {
            let at = global_base as usize + i;
            self.globals[at] = v;
            self.global_types[at] = match g.ty {
                Type::Record(i) => Type::Record(type_base + i),
                t => t,
            };
        }
        let mut external_bytes = 4096 + module.consts.len() * 32;
        {
            let cx = LowerCtx {
                module,
                info,
                module_index,
                func_map: &func_map,
                global_map: &global_map,
                consts: &consts,
                sys_index: &sys_index,
                type_map: &type_map,
                extern_base,
                mm_map: &mm_map,
            };
            for fi in 0..module.functions.len() {
                let id = func_base + fi as u32;
                let code = lower_function(&cx, fi, id);
                // The bytecode kept for compiling, and the lowered code.
                external_bytes += code.footprint() + module.functions[fi].code.len() * 48;
                *self.funcs[id as usize] = code;
            }
        }
        let exports = module
            .functions
            .iter()
            .enumerate()
            .filter(|(_, f)| f.export)
            .map(|(i, f)| (f.name.clone(), func_base + i as u32))
            .collect();
        let global_exports = module
            .globals
            .iter()
            .enumerate()
            .filter(|(_, g)| g.export)
            .map(|(i, g)| (g.name.clone(), global_base + i as u32))
            .collect();
        self.module_code[module_index] = ModuleCode {
            module: std::rc::Rc::new(module.clone()),
            info: std::rc::Rc::new(info.clone()),
            type_map,
            func_map,
            global_map,
        };
        let lifetime = if self.dynamic_loads > 0 {
            self.collectable_modules += 1;
            self.modules_linked_since_full += 1;
            crate::unload::ModuleLifetime::Collectable
        } else {
            crate::unload::ModuleLifetime::Pinned
        };
        self.heap.add_external(external_bytes);
        self.next_serial += 1;
        self.modules[module_index] = LoadedModule {
            name: module.name.clone(),
            source: module.source.clone(),
            func_base,
            global_base,
            func_count: module.functions.len() as u32,
            exports,
            global_exports,
            imports: import_modules,
            type_base,
            type_count: module.types.len() as u32,
            mm_base,
            mm_exports: module
                .multimethods
                .iter()
                .enumerate()
                .filter(|(_, d)| d.export)
                .map(|(i, d)| (d.name.clone(), mm_base + i as u32))
                .collect(),
            consts,
            value: Value::NIL,
            natives,
            extern_base,
            global_count: module.globals.len() as u32,
            mm_count: module.multimethods.len() as u32,
            extern_count: module.externs.len() as u32,
            lifetime,
            serial: self.next_serial,
            external_bytes,
        };
        if !methods.is_empty() {
            for (mm, patterns, func) in methods {
                self.multimethods[mm as usize].table.add(patterns, func);
            }
            self.bump_dispatch_epoch();
        }
        Ok(module_index)
    }

    fn const_value(&mut self, c: &Constant) -> Result<Value, OpError> {
        Ok(match c {
            Constant::Nil => Value::NIL,
            Constant::Bool(b) => Value::bool(*b),
            Constant::Int(i) => Value::int(*i),
            Constant::Float(x) => Value::float(*x),
            Constant::Char(ch) => Value::char(*ch),
            Constant::Str(s) => self.new_str(s)?,
        })
    }

    /// The function id of export `name` of module `module`.
    pub fn export(&self, module: usize, name: &str) -> Option<u32> {
        self.modules.get(module)?.exports.get(name).copied()
    }

    /// Parameter types and return type of function `f`.
    pub fn signature(&self, f: u32) -> Option<(&[Type], Type)> {
        self.funcs
            .get(f as usize)
            .map(|c| (c.param_types.as_slice(), c.ret))
    }

    /// The interpreter's decoded form of function `f`, one op per line (for debugging and
    /// tests of the lowering).
    pub fn decoded(&self, f: u32) -> Option<String> {
        let fc = self.funcs.get(f as usize)?;
        Some(
            fc.code
                .iter()
                .enumerate()
                .map(|(i, op)| format!("{i:4}  {op:?}\n"))
                .collect(),
        )
    }

    /// Name of function `f`.
    pub fn function_name(&self, f: u32) -> Option<&str> {
        self.funcs.get(f as usize).map(|c| c.name.as_str())
    }

    /// Calls function `f` with `args` and runs it to completion.
    pub fn call(&mut self, f: u32, args: &[Value]) -> Result<Value, Stop> {
        let Some(code) = self.funcs.get(f as usize) else {
            return Err(self.host_trap(TrapKind::TypeError, format!("no function with id {f}")));
        };
        let code: *const FuncCode = &**code;
        // SAFETY: functions are boxed and never removed while the Vm lives.
        let fc = unsafe { &*code };
        if args.len() != fc.nparams as usize {
            let msg = format!(
                "`{}` takes {} argument(s), {} given",
                fc.name,
                fc.nparams,
                args.len()
            );
            return Err(self.host_trap(TrapKind::TypeError, msg));
        }
        for (i, (a, t)) in args.iter().zip(&fc.param_types).enumerate() {
            if !t.admits(*a) {
                let msg = format!(
                    "argument {} of `{}`: expected {t}, got {}",
                    i + 1,
                    fc.name,
                    a.kind().name()
                );
                return Err(self.host_trap(TrapKind::TypeError, msg));
            }
        }
        let base = self.stack_top;
        if base + (fc.frame_size as usize) > self.stack.len()
            || self.frames.len() >= self.config.max_call_depth
        {
            return Err(self.host_trap(TrapKind::StackOverflow, "register stack exhausted".into()));
        }
        // SAFETY: `base + frame_size` is within the stack (checked above).
        let regs = unsafe { self.stack.base().add(base) };
        for (i, a) in args.iter().enumerate() {
            // SAFETY: the arguments fit in the frame.
            unsafe { *regs.add(i) = *a };
        }
        let saved_top = self.stack_top;
        let depth = self.frames.len();
        let result = self.run_frame(f, regs, Value::NIL);
        self.frames.truncate(depth);
        self.stack_top = saved_top;
        let result = result.map_err(|e| *e);
        if let Err(Stop::Exit(_)) = &result {
            let _ = self.flush();
        }
        result
    }

    pub(crate) fn host_trap(&self, kind: TrapKind, message: String) -> Stop {
        Stop::Trap(Box::new(Trap {
            kind,
            message,
            backtrace: Vec::new(),
            omitted: 0,
        }))
    }

    /// The frames of the callers of the running frame, down to call depth `depth`.
    pub(crate) fn caller_frames(&self, depth: usize) -> Vec<TraceFrame> {
        let mut all = self.trace_frames(std::ptr::null(), 0, depth);
        all.remove(0);
        all
    }

    /// The backtrace of the running frame (`func` at decoded index `pc`; none if null) and its
    /// callers down to call depth `depth`, innermost first.
    fn trace_frames(&self, func: *const FuncCode, pc: usize, depth: usize) -> Vec<TraceFrame> {
        let mut frames: Vec<(*const FuncCode, usize)> = vec![(func, pc)];
        for rec in self.frames[depth.min(self.frames.len())..].iter().rev() {
            // SAFETY: `ret_ip` points one past the call op inside the caller's code.
            let call_pc = unsafe { rec.ret_ip.offset_from((*rec.func).code.as_ptr()) } as usize;
            frames.push((rec.func, call_pc.saturating_sub(1)));
        }
        frames
            .into_iter()
            .flat_map(|(f, pc)| {
                if f.is_null() {
                    return vec![TraceFrame {
                        module: String::new(),
                        function: String::new(),
                        pc: 0,
                        file: None,
                        line: None,
                    }];
                }
                // SAFETY: call records and the running frame only hold pointers to live,
                // boxed functions of this Vm.
                let fc = unsafe { &*f };
                let bpc = fc.pc_map.get(pc).copied().unwrap_or(0);
                fc.trace_frames_at(&self.modules[fc.module], bpc)
            })
            .collect()
    }

    /// Builds a trap raised at decoded index `pc` of `func`, with the backtrace of the current
    /// call records.
    #[cold]
    #[inline(never)]
    pub(crate) fn make_trap(
        &self,
        func: *const FuncCode,
        pc: usize,
        depth: usize,
        err: OpError,
    ) -> Box<Stop> {
        let frames = self.trace_frames(func, pc, depth);
        Box::new(Stop::Trap(Box::new(truncated(Trap {
            kind: err.kind,
            message: err.message,
            backtrace: frames,
            omitted: 0,
        }))))
    }

    /// A stop that came out of guest code run on behalf of the running instruction (a
    /// destructor, or a system call that ran guest code): a trap gets the running frame and
    /// its callers appended to its backtrace.
    #[cold]
    #[inline(never)]
    pub(crate) fn nested_stop(
        &self,
        stop: Stop,
        func: *const FuncCode,
        pc: usize,
        depth: usize,
    ) -> Box<Stop> {
        match stop {
            Stop::Trap(mut t) => {
                t.backtrace.extend(self.trace_frames(func, pc, depth));
                Box::new(Stop::Trap(Box::new(truncated(*t))))
            }
            exit => Box::new(exit),
        }
    }
}

/// Keeps the innermost and outermost frames of a very deep backtrace and counts the rest.
fn truncated(mut t: Trap) -> Trap {
    let total = t.backtrace.len();
    if total > BACKTRACE_INNER + BACKTRACE_OUTER {
        let removed = total - BACKTRACE_INNER - BACKTRACE_OUTER;
        t.backtrace
            .drain(BACKTRACE_INNER..BACKTRACE_INNER + removed);
        t.omitted += removed;
    }
    t
}
