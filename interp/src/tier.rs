//! The interface between the interpreter and a compiling tier (the JIT), without depending on
//! any code generator.
//!
//! Compiled functions are frame-compatible with the interpreter: `extern "C" fn(ctx, regs,
//! entry) -> status` reads and writes the same register window (`regs` points at the frame
//! base). `entry` is [`ENTRY_CALL`] for a direct call from compiled code, [`ENTRY_WITH_SELF`]
//! for a call whose caller set the self register, or `pc + ENTRY_OSR` to enter at the loop
//! header at bytecode `pc` (on-stack replacement). The callee checks that its frame fits in the
//! register stack; callers may write its arguments first (the stack has slack for them). The status says what happened; values and errors travel through the
//! [`VmCtx`]:
//!
//! | status | meaning |
//! |---|---|
//! | [`status::RETURN`] | returned `ctx.ret` |
//! | [`status::TRAP`] | trapped; the trap is pending in the Vm, its backtrace grows as callers return |
//! | [`status::EXIT`] | the program exited; the status is pending in the Vm |
//! | [`status::DEOPT`] | gave up at `ctx.deopt_pc`: the frame holds every register, the interpreter resumes there |
//! | [`status::TAILCALL`] | tail-called `ctx.tail_func`, whose arguments are in `regs[0..]`; the caller performs the call |
//!
//! Compiled code calls back into the Vm only through the helpers listed in [`Helpers`], which
//! reuse the interpreter's own code paths (one semantics for both tiers) and never unwind:
//! panics are caught and become traps.
//!
//! Invariants: before calling a helper that may collect (`step`, `call`, `callv`, `alloc`), compiled
//! code has stored every reference it holds into the frame (references never live only in
//! native registers) and written back typed registers the step reads; the frame's slots hold
//! valid values (compiled prologues clear the slots the caller did not write).

use std::mem::offset_of;

use sigma_runtime::module::Module;
use sigma_runtime::trap::{OpError, TraceFrame, Trap, TrapKind};
use sigma_runtime::value::Value;
use sigma_runtime::verify::ModuleInfo;

use crate::vm::{Stop, Vm};

/// `entry` of a direct call from compiled code: the callee clears its own self register.
pub const ENTRY_CALL: u32 = 0;
/// `entry` of a call whose caller already set the self register (calls through fn values, and
/// every call from the interpreter).
pub const ENTRY_WITH_SELF: u32 = 1;
/// `entry` for on-stack replacement at the loop header at bytecode `pc` is `pc + ENTRY_OSR`.
pub const ENTRY_OSR: u32 = 2;

/// A compiled function.
pub type NativeFn = unsafe extern "C" fn(ctx: *mut VmCtx, regs: *mut Value, entry: u32) -> u32;

/// Status codes returned by compiled functions and helpers.
pub mod status {
    /// Returned normally; the result is in `VmCtx::ret`.
    pub const RETURN: u32 = 0;
    /// Trapped; the trap is pending in the Vm.
    pub const TRAP: u32 = 1;
    /// The program exited; the exit status is pending in the Vm.
    pub const EXIT: u32 = 2;
    /// Deoptimized at `VmCtx::deopt_pc`: the interpreter must resume the frame there.
    pub const DEOPT: u32 = 3;
    /// Tail call of `VmCtx::tail_func` with its arguments in the frame: the caller performs it.
    pub const TAILCALL: u32 = 4;
}

/// The context compiled code receives. `#[repr(C)]`: compiled code reads fields at the offsets
/// in [`ctx_offset`].
#[repr(C)]
pub struct VmCtx {
    /// The Vm (for helpers).
    pub vm: *mut Vm,
    /// The value of the last `RETURN`.
    pub ret: Value,
    /// Base of the globals table (refreshed whenever it may have moved).
    pub globals: *mut Value,
    /// Per function id: its compiled entry or null (refreshed whenever it may have moved).
    pub native: *const Option<NativeFn>,
    /// One past the last slot of the register stack.
    pub stack_end: *mut Value,
    /// Lowest native stack address compiled code may use before trapping with StackOverflow.
    pub native_limit: usize,
    /// Function and bytecode pc of the last `DEOPT`.
    pub deopt_func: u32,
    /// See `deopt_func`.
    pub deopt_pc: u32,
    /// Target of the last `TAILCALL`.
    pub tail_func: u32,
    /// Self value (the closure) of the last `TAILCALL`; nil for a direct tail call.
    pub tail_self: Value,
    /// Ticks (calls and loop iterations) left before the next poll for interrupts and fuel;
    /// both tiers decrement it and call the poll helper when it goes below zero.
    pub ticks: i64,
    /// The dispatch epoch: bumped whenever a multimethod's methods change, which invalidates
    /// every cached method selection (see `dispatch.rs`).
    pub epoch: u64,
    /// Per function id, for calls through fn values from compiled code (valid where `native`
    /// is not null): [`fn_info`] of the function.
    pub fn_info: *const u64,
    /// The heap's allocation state, through which compiled code allocates small objects
    /// inline (the contract is [`sigma_gc::AllocState`]'s); its address is fixed for the Vm's
    /// life.
    pub alloc: *mut sigma_gc::AllocState,
}

/// The bytes `new` and `closure` ask the heap to make room for ([`sigma_gc::Heap::wants_collection`])
/// before allocating an object with a payload of `payload` bytes: compiled code's inline
/// allocation checks the collection trigger with the same figure, so both tiers collect at the
/// same allocation.
pub fn alloc_reserve(payload: usize) -> usize {
    payload + 24
}

/// What compiled code needs to call a compiled function through a fn value without the callv
/// helper: the self register's index in the high half, and in the low half the number of
/// parameters, or `u32::MAX` if the call must check more than the argument count (typed
/// parameters), so that only the helper calls it.
pub fn fn_info(nparams: u16, self_slot: u16, typed_params: bool) -> u64 {
    let arity = if typed_params {
        u32::MAX
    } else {
        nparams as u32
    };
    ((self_slot as u64) << 32) | arity as u64
}

/// Byte offsets of [`VmCtx`] fields.
pub mod ctx_offset {
    use super::*;
    /// `ret.tag`.
    pub const RET_TAG: usize = offset_of!(VmCtx, ret);
    /// `ret.bits`.
    pub const RET_BITS: usize = offset_of!(VmCtx, ret) + 8;
    /// `globals`.
    pub const GLOBALS: usize = offset_of!(VmCtx, globals);
    /// `native`.
    pub const NATIVE: usize = offset_of!(VmCtx, native);
    /// `stack_end`.
    pub const STACK_END: usize = offset_of!(VmCtx, stack_end);
    /// `native_limit`.
    pub const NATIVE_LIMIT: usize = offset_of!(VmCtx, native_limit);
    /// `tail_func`.
    pub const TAIL_FUNC: usize = offset_of!(VmCtx, tail_func);
    /// `tail_self.tag`.
    pub const TAIL_SELF_TAG: usize = offset_of!(VmCtx, tail_self);
    /// `deopt_pc`.
    pub const DEOPT_PC: usize = offset_of!(VmCtx, deopt_pc);
    /// `ticks`.
    pub const TICKS: usize = offset_of!(VmCtx, ticks);
    /// `epoch`.
    pub const EPOCH: usize = offset_of!(VmCtx, epoch);
    /// `tail_self.bits`.
    pub const TAIL_SELF_BITS: usize = offset_of!(VmCtx, tail_self) + 8;
    /// `fn_info`.
    pub const FN_INFO: usize = offset_of!(VmCtx, fn_info);
    /// `alloc`.
    pub const ALLOC: usize = offset_of!(VmCtx, alloc);
}

/// Addresses of the helpers compiled code may call, with their signatures.
#[derive(Clone, Copy, Debug)]
pub struct Helpers {
    /// `fn(ctx, regs, func: u32, pc: u32) -> status`: runs the interpreter's code for bytecode
    /// instruction `pc` of function `func` on the frame at `regs` (RETURN means "done, go on").
    pub step: usize,
    /// `fn(ctx, callee_regs, func: u32) -> status`: calls function `func` whose arguments are in
    /// the frame at `callee_regs`, in whichever tier it runs, completing deopts and tail calls.
    pub call: usize,
    /// `fn(ctx, regs, f_reg: u32, callee_regs, nargs: u32) -> status`: calls the fn value in
    /// register `f_reg`, arguments already in the frame at `callee_regs`.
    pub callv: usize,
    /// `fn(ctx, callee_regs, status: u32) -> status`: completes a DEOPT or TAILCALL status
    /// returned by a compiled callee whose frame is at `callee_regs`.
    pub complete: usize,
    /// `fn(ctx, func: u32, pc: u32)`: appends frame (`func`, `pc`) to the pending trap.
    pub unwind: usize,
    /// `fn(ctx, which: u32, func: u32) -> status`: raises StackOverflow on entry to `func`
    /// (`which` 0: the native stack, 1: the register stack).
    pub overflow: usize,
    /// `fn(ctx, func: u32, pc: u32) -> status`: the tick count ran out at bytecode `pc` of
    /// `func` (a loop header, or 0 on entry): RETURN to go on, or TRAP with an `Interrupted`
    /// trap pending (its backtrace has this frame). Reads no registers and cannot collect.
    pub poll: usize,
    /// `fn(ctx, regs, func: u32, pc: u32) -> status`: prepares the frame for the interpreter to
    /// resume at `pc` (typed registers are already written back) and returns DEOPT.
    pub deopt: usize,
    /// `fn(ctx, op: u32, a_tag, a_bits, b_tag, b_bits) -> u32`: compares two values (`op`
    /// 0..=3 is lt, le, gt, ge; 4 is eq) giving 0 or 1, or 2 after raising a TypeError (pending,
    /// without a frame).
    pub compare: usize,
    /// `fn(ctx, regs, f_tag, f_bits, nargs: u32) -> status`: checks a tail call through the fn
    /// value (arguments already in `regs[0..nargs]`) and returns TAILCALL with `tail_func` and
    /// `tail_self` set, or TRAP (pending, without a frame).
    pub tailv: usize,
    /// `fn(ctx, callee_regs, func: u32, pc: u32, nargs: u32) -> u32`: selects the method for the
    /// `dispatch` at bytecode `pc` of function `func`, whose arguments are in the frame at
    /// `callee_regs`, through that site's cache; returns the method's function id, or
    /// [`NO_FUNC`] after raising NoMethod or AmbiguousMethod (pending, without a frame).
    pub dispatch: usize,
    /// `fn(ctx, regs, func: u32, pc: u32) -> status`: runs the allocation of the `new`,
    /// `closure` or `newarr` at bytecode `pc` of function `func` (no run-time checks around it),
    /// or the `concat`, `substr`, `tostr` or pure `sys` there (with their checks and errors)
    /// on the frame at `regs`, as the interpreter does — its operands are read from the frame,
    /// a collection may run (the frame is a root), the result is stored in the destination
    /// register and in `ctx.ret`, then pending destructors run. RETURN to go on, or TRAP/EXIT
    /// with the stop pending (a trap without this frame, which the caller appends).
    pub alloc: usize,
}

/// What the dispatch helper returns when it raised a trap instead of selecting a function.
pub const NO_FUNC: u32 = u32::MAX;

/// Step modes, or-ed into the `pc` argument of the step helper.
pub mod step_mode {
    /// Run the instruction with its run-time checks.
    pub const FULL: u32 = 0;
    /// Run only the checks before the instruction (of its operands).
    pub const PRE: u32 = 1 << 30;
    /// Run only the checks after the instruction (of its result, already in the frame).
    pub const POST: u32 = 2 << 30;
    /// Mask of the pc bits.
    pub const PC_MASK: u32 = (1 << 30) - 1;
}

/// Everything a compiler needs to compile one function.
pub struct CompileRequest<'a> {
    /// The function's Vm id.
    pub func_id: u32,
    /// The code group: one per loaded module, never reused within a Vm. The code of a group
    /// is freed together when the module is unloaded ([`TierCompiler::release`]).
    pub group: u64,
    /// Its module's bytecode.
    pub module: &'a Module,
    /// What the verifier found about that module.
    pub info: &'a ModuleInfo,
    /// The function's index in the module.
    pub func_index: usize,
    /// Function operand (own functions, then imported ones) → Vm function id.
    pub func_map: &'a [u32],
    /// Global operand (own globals, then imported ones) → Vm global index.
    pub global_map: &'a [u32],
    /// The module's record types → Vm record type ids.
    pub type_map: &'a [u32],
    /// The module's constants as values.
    pub consts: &'a [Value],
    /// Frame size (registers) of every function operand (own functions, then imported).
    pub frame_sizes: Vec<u32>,
    /// Initial values of the function's registers after the parameters (typed zeros, nil, and
    /// the constant registers the interpreter's code reads).
    pub init: Vec<Value>,
    /// Observed operand kinds per bytecode pc (bit 0 int, bit 1 float, bit 2 anything else),
    /// recorded by the interpreter's slow paths; 0 where only ints were seen (or nothing).
    pub profile: Vec<u8>,
    /// The `dispatch` sites that have selected a single method so far.
    pub dispatch: Vec<crate::dispatch::MonoDispatch>,
    /// Helper addresses.
    pub helpers: Helpers,
    /// Per record type of the module (as `type_map`): its field count if compiled code may
    /// allocate its instances inline (see [`sigma_gc::AllocState`]), `None` if `new` must
    /// call the `alloc` helper (the type has a destructor).
    pub inline_records: Vec<Option<u32>>,
    /// Per record type of the module (as `type_map`): the address of its instances' vtable
    /// (a [`sigma_runtime::heap::RecordVTable`], immortal), which identifies the type.
    pub record_vtables: Vec<usize>,
    /// Per `.extern` of the module: the C function's address, resolved when the module was
    /// linked, or `None` when it may not be called (the FFI capability is not granted). Valid
    /// while the module is linked (its library objects keep the libraries open).
    pub externs: Vec<Option<usize>>,
}

/// A compiling tier.
pub trait TierCompiler {
    /// Compiles a function, returning its entry point. The code stays valid until its group is
    /// released or the compiler is dropped.
    fn compile(&mut self, req: &CompileRequest<'_>) -> Result<NativeFn, String>;

    /// Frees the code of every function compiled with [`CompileRequest::group`] `group` (the
    /// Vm unloaded that module; none of that code can run again).
    fn release(&mut self, group: u64);

    /// The number of groups holding compiled code.
    fn groups(&self) -> usize;
}

/// Profile bits.
pub mod profile {
    /// An int operand was seen on a slow path.
    pub const INT: u8 = 1;
    /// A float operand was seen.
    pub const FLOAT: u8 = 2;
    /// Some other kind was seen.
    pub const OTHER: u8 = 4;
    /// A speculation of compiled code failed here (deopt): do not speculate again.
    pub const FAILED: u8 = 8;
}

/// When and how the Vm compiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitMode {
    /// Interpret only.
    Off,
    /// Compile functions that become hot.
    On,
    /// Compile every function when its module is loaded.
    Eager,
}

/// JIT settings of a Vm.
#[derive(Clone, Copy, Debug)]
pub struct JitConfig {
    /// When to compile.
    pub mode: JitMode,
    /// Hotness at which a function is compiled (each call adds 1, each loop iteration 1).
    pub threshold: u32,
    /// Print one line per compile, OSR entry and deopt to stderr.
    pub trace: bool,
}

impl Default for JitConfig {
    fn default() -> Self {
        JitConfig {
            mode: JitMode::Off,
            threshold: 1000,
            trace: false,
        }
    }
}

/// Deopts after which a function's code is discarded (it is compiled again when hot, with the
/// profile the deopts updated).
pub const MAX_DEOPTS: u32 = 8;

/// Runs a helper body, turning a panic into a trap (nothing unwinds into compiled code).
fn guarded(ctx: *mut VmCtx, f: impl FnOnce(&mut Vm) -> u32) -> u32 {
    guarded_or(ctx, status::TRAP, f)
}

/// Runs a helper's body, turning a panic into a pending Panic trap and the result `on_panic`.
fn guarded_or<T>(ctx: *mut VmCtx, on_panic: T, f: impl FnOnce(&mut Vm) -> T) -> T {
    // SAFETY: compiled code passes the ctx the Vm gave it, whose `vm` is the running Vm; the
    // interpreter does not use its own reference while compiled code runs.
    let vm = unsafe { &mut *(*ctx).vm };
    let vm_ptr: *mut Vm = vm;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(vm))) {
        Ok(s) => s,
        Err(_) => {
            // SAFETY: as above; the closure that panicked no longer uses the Vm.
            let vm = unsafe { &mut *vm_ptr };
            vm.set_pending(Stop::Trap(Box::new(Trap {
                kind: TrapKind::Panic,
                message: "internal error in a runtime helper".into(),
                backtrace: Vec::new(),
                omitted: 0,
            })));
            on_panic
        }
    }
}

pub(crate) extern "C" fn helper_step(ctx: *mut VmCtx, regs: *mut Value, func: u32, pc: u32) -> u32 {
    guarded(ctx, |vm| vm.jit_step(regs, func, pc))
}

pub(crate) extern "C" fn helper_call(ctx: *mut VmCtx, callee_regs: *mut Value, func: u32) -> u32 {
    guarded(ctx, |vm| vm.jit_call(callee_regs, func, None))
}

pub(crate) extern "C" fn helper_callv(
    ctx: *mut VmCtx,
    regs: *mut Value,
    f_reg: u32,
    callee_regs: *mut Value,
    nargs: u32,
) -> u32 {
    guarded(ctx, |vm| vm.jit_callv(regs, f_reg, callee_regs, nargs))
}

pub(crate) extern "C" fn helper_complete(ctx: *mut VmCtx, callee_regs: *mut Value, st: u32) -> u32 {
    guarded(ctx, |vm| vm.jit_complete(callee_regs, st))
}

pub(crate) extern "C" fn helper_unwind(ctx: *mut VmCtx, func: u32, pc: u32) {
    guarded(ctx, |vm| {
        vm.jit_unwind(func, pc);
        status::TRAP
    });
}

pub(crate) extern "C" fn helper_overflow(ctx: *mut VmCtx, which: u32, func: u32) -> u32 {
    guarded(ctx, |vm| vm.jit_overflow(which, func))
}

pub(crate) extern "C" fn helper_poll(ctx: *mut VmCtx, func: u32, pc: u32) -> u32 {
    guarded(ctx, |vm| vm.jit_poll(func, pc))
}

pub(crate) extern "C" fn helper_compare(
    ctx: *mut VmCtx,
    op: u32,
    at: u64,
    ab: u64,
    bt: u64,
    bb: u64,
) -> u32 {
    guarded(ctx, |vm| {
        let (a, b) = (Value { tag: at, bits: ab }, Value { tag: bt, bits: bb });
        let r = match op {
            0 => sigma_runtime::ops::compare(sigma_runtime::ops::CmpOp::Lt, a, b),
            1 => sigma_runtime::ops::compare(sigma_runtime::ops::CmpOp::Le, a, b),
            2 => sigma_runtime::ops::compare(sigma_runtime::ops::CmpOp::Gt, a, b),
            3 => sigma_runtime::ops::compare(sigma_runtime::ops::CmpOp::Ge, a, b),
            _ => Ok(sigma_runtime::ops::values_equal(a, b)),
        };
        match r {
            Ok(b) => b as u32,
            Err(e) => {
                vm.raise(e);
                2
            }
        }
    })
}

pub(crate) extern "C" fn helper_tailv(
    ctx: *mut VmCtx,
    regs: *mut Value,
    ft: u64,
    fb: u64,
    nargs: u32,
) -> u32 {
    guarded(ctx, |vm| {
        vm.jit_tailv(regs, Value { tag: ft, bits: fb }, nargs)
    })
}

pub(crate) extern "C" fn helper_dispatch(
    ctx: *mut VmCtx,
    callee_regs: *mut Value,
    func: u32,
    pc: u32,
    nargs: u32,
) -> u32 {
    // A panic must not read as a function id: it gives NO_FUNC.
    guarded_or(ctx, NO_FUNC, |vm| {
        vm.jit_dispatch(callee_regs, func, pc, nargs)
    })
}

pub(crate) extern "C" fn helper_alloc(
    ctx: *mut VmCtx,
    regs: *mut Value,
    func: u32,
    pc: u32,
) -> u32 {
    guarded(ctx, |vm| vm.jit_alloc(regs, func, pc))
}

pub(crate) extern "C" fn helper_deopt(
    ctx: *mut VmCtx,
    regs: *mut Value,
    func: u32,
    pc: u32,
) -> u32 {
    guarded(ctx, |vm| vm.jit_deopt(regs, func, pc))
}

/// The helper table handed to compilers.
pub fn helpers() -> Helpers {
    Helpers {
        step: helper_step as *const () as usize,
        call: helper_call as *const () as usize,
        callv: helper_callv as *const () as usize,
        complete: helper_complete as *const () as usize,
        unwind: helper_unwind as *const () as usize,
        overflow: helper_overflow as *const () as usize,
        deopt: helper_deopt as *const () as usize,
        compare: helper_compare as *const () as usize,
        tailv: helper_tailv as *const () as usize,
        poll: helper_poll as *const () as usize,
        dispatch: helper_dispatch as *const () as usize,
        alloc: helper_alloc as *const () as usize,
    }
}

/// The trace frames for bytecode `pc` of function `func`, innermost first (more than one
/// where `pc` is in inlined code).
pub(crate) fn frames_of(vm: &Vm, func: u32, pc: u32) -> Vec<TraceFrame> {
    match vm.funcs.get(func as usize) {
        Some(fc) => fc.trace_frames_at(&vm.modules[fc.module], pc),
        None => Vec::new(),
    }
}

/// A trap raised by a helper on behalf of compiled code at (`func`, `pc`).
pub(crate) fn trap_at(vm: &Vm, func: u32, pc: u32, err: OpError) -> Stop {
    Stop::Trap(Box::new(Trap {
        kind: err.kind,
        message: err.message,
        backtrace: frames_of(vm, func, pc),
        omitted: 0,
    }))
}

/// Module-level data kept for compiling its functions later.
pub(crate) struct ModuleCode {
    pub module: std::rc::Rc<Module>,
    pub info: std::rc::Rc<ModuleInfo>,
    pub type_map: Vec<u32>,
    pub func_map: Vec<u32>,
    pub global_map: Vec<u32>,
}
