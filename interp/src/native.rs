//! The Vm's side of mixed-mode execution: running a frame in whichever tier its function is in,
//! entering compiled code, completing deopts and tail calls, on-stack replacement, compiling on
//! demand, and the bodies of the helpers compiled code calls (see `tier.rs`).
//!
//! Invariants:
//! - A frame handed to compiled code has its arguments in `regs[0..nparams]` and its self
//!   register set (nil unless called through a fn value); compiled prologues clear the rest.
//! - Whatever the tier, a frame that returns leaves its result in `VmCtx::ret` or in the
//!   `Result` returned here, and a trap carries the frames of every tier it crossed.
//! - Switching tiers in tail position never grows the host stack without bound: a compiled
//!   tail call returns `TAILCALL` to the loop in [`Vm::run_frame`], and an interpreted entry
//!   frame that tail-calls compiled code returns to that loop through `exec_tail`.

use std::time::Instant;

use sigma_runtime::syscalls::SysError;
use sigma_runtime::trap::{OpError, Trap, TrapKind, BACKTRACE_INNER, BACKTRACE_OUTER};
use sigma_runtime::value::Value;

use crate::code::{FuncCode, Op};
use crate::tier::{
    self, frames_of, status, step_mode, trap_at, CompileRequest, JitMode, NativeFn, VmCtx,
};
use crate::vm::{Stop, Vm};

/// Native stack kept free below the limit for helpers and nested interpreter runs.
const NATIVE_STACK_RESERVE: usize = 256 << 10;

thread_local! {
    /// This thread's [`query_stack_low`], asked once (the query is a slow system call).
    static STACK_LOW: std::cell::OnceCell<Option<usize>> = const { std::cell::OnceCell::new() };
}

/// The lowest usable address of the current thread's stack, if the platform says.
fn thread_stack_low() -> Option<usize> {
    STACK_LOW.with(|low| *low.get_or_init(query_stack_low))
}

fn query_stack_low() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `attr` is initialized by `pthread_getattr_np` before use and destroyed after;
        // the out-pointers are valid locals.
        unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
                return None;
            }
            let mut addr: *mut libc::c_void = std::ptr::null_mut();
            let mut size: libc::size_t = 0;
            let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
            libc::pthread_attr_destroy(&mut attr);
            ok.then_some(addr as usize)
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

impl Vm {
    pub(crate) fn set_pending(&mut self, stop: Stop) {
        self.pending = Some(Box::new(stop));
    }

    fn take_pending(&mut self) -> Box<Stop> {
        self.pending.take().unwrap_or_else(|| {
            Box::new(Stop::Trap(Box::new(Trap {
                kind: TrapKind::Panic,
                message: "internal error: compiled code reported a failure without one pending"
                    .into(),
                backtrace: Vec::new(),
                omitted: 0,
            })))
        })
    }

    /// Stores a result for compiled code and returns its status.
    fn result_status(&mut self, r: Result<Value, Box<Stop>>) -> u32 {
        match r {
            Ok(v) => {
                self.ctx.ret = v;
                status::RETURN
            }
            Err(stop) => {
                let st = match *stop {
                    Stop::Exit(_) => status::EXIT,
                    Stop::Trap(_) => status::TRAP,
                };
                self.pending = Some(stop);
                st
            }
        }
    }

    /// Points the context at the Vm's current tables.
    fn refresh_ctx(&mut self) {
        let vm: *mut Vm = self;
        self.ctx.vm = vm;
        self.ctx.globals = self.globals.as_mut_ptr();
        self.ctx.native = self.native.as_ptr();
        self.ctx.fn_info = self.fn_info.as_ptr();
        self.ctx.alloc = self.heap.alloc_state();
        // SAFETY: one past the end of the register stack allocation.
        self.ctx.stack_end = unsafe { self.stack.base().add(self.stack.len()) };
        if self.native_entries == 0 {
            let here = &vm as *const _ as usize;
            let low = thread_stack_low().unwrap_or(here.saturating_sub(1 << 20));
            self.ctx.native_limit = low.saturating_add(NATIVE_STACK_RESERVE).min(here);
        }
    }

    /// Calls compiled code.
    fn call_native(&mut self, native: NativeFn, regs: *mut Value, entry: u32) -> u32 {
        self.refresh_ctx();
        self.native_entries += 1;
        let ctx: *mut VmCtx = &mut *self.ctx;
        // SAFETY: `native` was produced by the compiler for a function of this Vm; `regs` is a
        // frame inside the register stack with room for its frame size (checked by callers);
        // `ctx` is this Vm's context, valid for the call.
        let st = unsafe { native(ctx, regs, entry) };
        self.native_entries -= 1;
        st
    }

    /// Frame base index of a register pointer.
    fn base_of(&self, regs: *mut Value) -> usize {
        // SAFETY: compiled code and the interpreter only pass frame pointers into the stack.
        unsafe { regs.offset_from(self.stack.base()) as usize }
    }

    /// Counts a call of `func` toward compilation and compiles it when it becomes hot.
    #[inline]
    pub(crate) fn count_call(&mut self, func: u32) {
        match self.config.jit.mode {
            JitMode::Off => return,
            // Eager code dropped after failed speculations is compiled again at once.
            JitMode::Eager => {
                self.compile(func);
                return;
            }
            JitMode::On => {}
        }
        let fc = &self.funcs[func as usize];
        let h = fc.hot.get().saturating_add(1);
        fc.hot.set(h);
        if h == self.config.jit.threshold {
            self.compile(func);
        }
    }

    /// Compiles `func` if a compiler is installed and it has not failed before. Returns
    /// whether compiled code is now available.
    pub(crate) fn compile(&mut self, func: u32) -> bool {
        if self.native[func as usize].is_some() {
            return true;
        }
        let fc = &self.funcs[func as usize];
        if fc.compile_failed.get() || self.tier.is_none() {
            return false;
        }
        let mc = &self.module_code[fc.module];
        let m = &self.modules[fc.module];
        let func_index = (func - m.func_base) as usize;
        let frame_sizes = mc
            .func_map
            .iter()
            .map(|&f| self.funcs[f as usize].frame_size)
            .collect();
        let req = CompileRequest {
            func_id: func,
            group: m.serial,
            module: &mc.module,
            info: &mc.info,
            func_index,
            func_map: &mc.func_map,
            global_map: &mc.global_map,
            type_map: &mc.type_map,
            consts: &m.consts,
            frame_sizes,
            init: fc.init.to_vec(),
            profile: fc.profile.iter().map(|c| c.get()).collect(),
            dispatch: self.mono_dispatches(func),
            helpers: tier::helpers(),
            inline_records: mc
                .type_map
                .iter()
                .map(|&t| {
                    let info = &self.record_types[t as usize];
                    info.destructor
                        .is_none()
                        .then_some(info.defaults.len() as u32)
                })
                .collect(),
            record_vtables: mc
                .type_map
                .iter()
                .map(|&t| self.record_types[t as usize].vtable as *const _ as usize)
                .collect(),
            externs: (0..mc.module.externs.len())
                .map(|i| self.externs[m.extern_base as usize + i].addr())
                .collect(),
        };
        let started = Instant::now();
        let bytecode_len = mc.module.functions[func_index].code.len();
        let name = fc.name.clone();
        let result = match self.tier.as_mut() {
            Some(t) => t.compile(&req),
            None => return false,
        };
        match result {
            Ok(code) => {
                let fc = &self.funcs[func as usize];
                self.fn_info[func as usize] =
                    tier::fn_info(fc.nparams, fc.self_slot, !fc.typed_params.is_empty());
                self.native[func as usize] = Some(code);
                if self.config.jit.trace {
                    eprintln!(
                        "jit: compiled {name} ({bytecode_len} instructions) in {} us",
                        started.elapsed().as_micros()
                    );
                }
                true
            }
            Err(e) => {
                self.funcs[func as usize].compile_failed.set(true);
                if self.config.jit.trace {
                    eprintln!("jit: cannot compile {name}: {e}");
                }
                false
            }
        }
    }

    /// Runs function `func` on the frame at `regs` (arguments in place) to completion, in
    /// whichever tier it is, following tail calls between tiers in a loop.
    pub(crate) fn run_frame(
        &mut self,
        mut func: u32,
        regs: *mut Value,
        mut self_value: Value,
    ) -> Result<Value, Box<Stop>> {
        loop {
            if self_value.is_nil() {
                // A direct call: the frame holds the function's own fn value (see `unload`).
                self_value = self.fn_cache[func as usize];
            }
            let fp: *const FuncCode = &*self.funcs[func as usize];
            // SAFETY: boxed functions live as long as the Vm.
            let fc = unsafe { &*fp };
            let base = self.base_of(regs);
            if base + fc.frame_size as usize > self.stack.len() {
                return Err(Box::new(trap_at(
                    self,
                    func,
                    0,
                    stack_overflow_error(false, self.stack.len()),
                )));
            }
            if self.frames.len() >= self.config.max_call_depth {
                return Err(Box::new(trap_at(
                    self,
                    func,
                    0,
                    stack_overflow_error(true, self.config.max_call_depth),
                )));
            }
            self.count_call(func);
            // SAFETY: the frame fits in the stack (checked above).
            unsafe { *regs.add(fc.self_slot as usize) = self_value };
            if let Some(native) = self.native[func as usize] {
                let st = self.call_native(native, regs, tier::ENTRY_WITH_SELF);
                match self.after_native(st, regs)? {
                    Next::Return(v) => return Ok(v),
                    Next::Tail(f, s) => {
                        func = f;
                        self_value = s;
                    }
                }
            } else {
                // SAFETY: the frame fits; `init` fills the registers after the parameters.
                unsafe {
                    let dst = regs.add(fc.nparams as usize);
                    for (i, v) in fc.init.iter().enumerate() {
                        *dst.add(i) = *v;
                    }
                    *regs.add(fc.self_slot as usize) = self_value;
                }
                let depth = self.frames.len();
                let r = self.execute::<false>(fp, base, depth, 0, 0);
                self.frames.truncate(depth);
                match self.exec_tail.take() {
                    Some((f, s)) if r.is_ok() => {
                        func = f;
                        self_value = s;
                    }
                    _ => return r,
                }
            }
        }
    }

    /// Interprets `func`'s frame at `regs` from bytecode `pc` to its return (after a deopt).
    fn resume(&mut self, func: u32, regs: *mut Value, pc: u32) -> Result<Value, Box<Stop>> {
        let fp: *const FuncCode = &*self.funcs[func as usize];
        // SAFETY: boxed functions live as long as the Vm.
        let fc = unsafe { &*fp };
        let start = fc.start_of.get(pc as usize).copied().unwrap_or(0) as usize;
        let base = self.base_of(regs);
        let depth = self.frames.len();
        let r = self.execute::<false>(fp, base, depth, start, 0);
        self.frames.truncate(depth);
        r
    }

    /// Turns the status of compiled code that ran the frame at `regs` into a result, resuming
    /// a deopted frame in the interpreter; a tail call is handed back to the caller's loop.
    fn after_native(&mut self, st: u32, regs: *mut Value) -> Result<Next, Box<Stop>> {
        match st {
            status::RETURN => Ok(Next::Return(self.ctx.ret)),
            status::TAILCALL => Ok(Next::Tail(self.ctx.tail_func, self.ctx.tail_self)),
            status::DEOPT => {
                let (func, pc) = (self.ctx.deopt_func, self.ctx.deopt_pc);
                let r = self.resume(func, regs, pc);
                match self.exec_tail.take() {
                    Some((f, s)) if r.is_ok() => Ok(Next::Tail(f, s)),
                    _ => r.map(Next::Return),
                }
            }
            _ => Err(self.take_pending()),
        }
    }

    /// On-stack replacement: called by the interpreter at the loop header at bytecode `pc` of
    /// the running frame when its function is hot. Returns `None` if the function could not be
    /// compiled (the interpreter goes on), else the frame's outcome: its result, or where the
    /// interpreter must resume it after a deopt.
    pub(crate) fn osr(
        &mut self,
        func: u32,
        regs: *mut Value,
        pc: u32,
    ) -> Option<Result<Osr, Box<Stop>>> {
        if !self.compile(func) {
            return None;
        }
        let native = self.native[func as usize]?;
        if self.config.jit.trace {
            eprintln!(
                "jit: OSR into {} at pc {pc}",
                self.funcs[func as usize].name
            );
        }
        let st = self.call_native(native, regs, pc + tier::ENTRY_OSR);
        Some(match st {
            status::RETURN => Ok(Osr::Returned(self.ctx.ret)),
            status::DEOPT => Ok(Osr::Resume(self.ctx.deopt_pc)),
            status::TAILCALL => Ok(Osr::Tail(self.ctx.tail_func, self.ctx.tail_self)),
            _ => Err(self.take_pending()),
        })
    }

    /// Calls compiled code for a frame the interpreter set up (a call from interpreted code).
    pub(crate) fn call_compiled(
        &mut self,
        func: u32,
        regs: *mut Value,
        self_value: Value,
    ) -> Result<Value, Box<Stop>> {
        self.run_frame(func, regs, self_value)
    }

    // ---- helper bodies ------------------------------------------------------------------

    pub(crate) fn jit_step(&mut self, regs: *mut Value, func: u32, pc_mode: u32) -> u32 {
        let fp: *const FuncCode = &*self.funcs[func as usize];
        // SAFETY: boxed functions live as long as the Vm.
        let fc = unsafe { &*fp };
        let pc = (pc_mode & step_mode::PC_MASK) as usize;
        let first = fc.start_of[pc] as usize;
        let main = fc.main_of[pc] as usize;
        let last = fc
            .start_of
            .get(pc + 1)
            .copied()
            .unwrap_or(fc.code.len() as u32) as usize;
        let (start, end) = match pc_mode & !step_mode::PC_MASK {
            step_mode::PRE => (first, main),
            step_mode::POST => (main + 1, last),
            _ => (first, last),
        };
        let base = self.base_of(regs);
        let depth = self.frames.len();
        let r = self.execute::<true>(fp, base, depth, start, end);
        self.frames.truncate(depth);
        match r {
            Ok(_) => status::RETURN,
            Err(stop) => self.result_status(Err(stop)),
        }
    }

    pub(crate) fn jit_call(
        &mut self,
        callee_regs: *mut Value,
        func: u32,
        self_value: Option<Value>,
    ) -> u32 {
        let r = self.run_frame(func, callee_regs, self_value.unwrap_or(Value::NIL));
        self.result_status(r)
    }

    pub(crate) fn jit_callv(
        &mut self,
        regs: *mut Value,
        f_reg: u32,
        callee_regs: *mut Value,
        nargs: u32,
    ) -> u32 {
        // SAFETY: `f_reg` is a register of the calling frame.
        let fv = unsafe { *regs.add(f_reg as usize) };
        // SAFETY: the caller wrote `nargs` arguments at `callee_regs`.
        let args = unsafe { std::slice::from_raw_parts(callee_regs, nargs as usize) };
        let func = match self.value_callee("callv", fv, args) {
            Ok(f) => f,
            Err(e) => return self.trap_status(e),
        };
        self.jit_call(callee_regs, func, Some(fv))
    }

    /// The function that calling value `fv` with `args` runs, checked as the interpreter checks
    /// `callv` (the arity, then the typed parameters).
    fn value_callee(&self, op: &str, fv: Value, args: &[Value]) -> Result<u32, OpError> {
        let func = sigma_runtime::objops::function(op, fv)?.func;
        let fc = &self.funcs[func as usize];
        if args.len() != fc.nparams as usize {
            return Err(self.arity_error(fc, args.len()));
        }
        self.check_params(fc, args)?;
        Ok(func)
    }

    /// Raises a trap without a frame (the compiled caller adds its own).
    pub(crate) fn raise(&mut self, e: OpError) {
        self.trap_status(e);
    }

    pub(crate) fn jit_tailv(&mut self, regs: *mut Value, fv: Value, nargs: u32) -> u32 {
        // SAFETY: the caller wrote `nargs` arguments at `regs`.
        let args = unsafe { std::slice::from_raw_parts(regs, nargs as usize) };
        let func = match self.value_callee("tailcallv", fv, args) {
            Ok(f) => f,
            Err(e) => return self.trap_status(e),
        };
        self.ctx.tail_func = func;
        self.ctx.tail_self = fv;
        status::TAILCALL
    }

    pub(crate) fn jit_dispatch(
        &mut self,
        callee_regs: *mut Value,
        func: u32,
        pc: u32,
        nargs: u32,
    ) -> u32 {
        let fc: *const FuncCode = &*self.funcs[func as usize];
        // SAFETY: boxed functions live as long as the Vm.
        let sites = unsafe { &(*fc).dispatch_sites };
        // Sites are in code order, so sorted by pc.
        let Ok(i) = sites.binary_search_by_key(&pc, |s| s.pc) else {
            return tier::NO_FUNC;
        };
        // SAFETY: the caller wrote `nargs` arguments at `callee_regs`.
        let args = unsafe { std::slice::from_raw_parts(callee_regs, nargs as usize) };
        match self.dispatch_target(&sites[i], args) {
            Ok(f) => f,
            Err(e) => {
                self.trap_status(e);
                tier::NO_FUNC
            }
        }
    }

    fn trap_status(&mut self, e: OpError) -> u32 {
        self.set_pending(Stop::Trap(Box::new(Trap {
            kind: e.kind,
            message: e.message,
            backtrace: Vec::new(),
            omitted: 0,
        })));
        status::TRAP
    }

    pub(crate) fn jit_complete(&mut self, callee_regs: *mut Value, st: u32) -> u32 {
        let r = match self.after_native(st, callee_regs) {
            Ok(Next::Return(v)) => Ok(v),
            Ok(Next::Tail(f, s)) => self.run_frame(f, callee_regs, s),
            Err(e) => Err(e),
        };
        self.result_status(r)
    }

    pub(crate) fn jit_unwind(&mut self, func: u32, pc: u32) {
        let frames = frames_of(self, func, pc);
        if let Some(Stop::Trap(t)) = self.pending.as_deref_mut() {
            for frame in frames {
                t.backtrace.push(frame);
                // As the interpreter's backtraces: the innermost and outermost frames, and a
                // count of those between (the outermost part is a window that moves out as
                // frames come).
                if t.backtrace.len() > BACKTRACE_INNER + BACKTRACE_OUTER {
                    t.backtrace.remove(BACKTRACE_INNER);
                    t.omitted += 1;
                }
            }
        }
    }

    pub(crate) fn jit_overflow(&mut self, which: u32, func: u32) -> u32 {
        let e = if which == 0 {
            OpError {
                kind: TrapKind::StackOverflow,
                message: "native stack exhausted".into(),
            }
        } else {
            stack_overflow_error(false, self.stack.len())
        };
        let stop = trap_at(self, func, 0, e);
        self.set_pending(stop);
        status::TRAP
    }

    pub(crate) fn jit_alloc(&mut self, regs: *mut Value, func: u32, pc: u32) -> u32 {
        let fp: *const FuncCode = &*self.funcs[func as usize];
        // SAFETY: boxed functions live as long as the Vm.
        let fc = unsafe { &*fp };
        let Some(&op) = fc
            .main_of
            .get(pc as usize)
            .and_then(|&i| fc.code.get(i as usize))
        else {
            return self.trap_status(internal_error());
        };
        // The interpreter's safepoint: the frame is the top of the root set, and its scratch
        // register (the target of `_`) is cleared.
        self.stack_top = self.base_of(regs) + fc.frame_size as usize;
        // SAFETY: `regs` is the running frame of `func`, whose slots (scratch and the operand
        // slots the lowering chose) are inside it.
        let slot = |s: u32| unsafe { *regs.add(s as usize) };
        // SAFETY: as above.
        unsafe { *regs.add(fc.self_slot as usize - 1) = Value::NIL };
        let (mut small, mut big) = ([Value::NIL; 8], Vec::new());
        let arg_slots = |args: u32, n: u16| &fc.args[args as usize..args as usize + n as usize];
        let (dst, made) = match op {
            Op::New {
                dst,
                nargs,
                ty,
                args,
            } => {
                let buf = gather_args(&mut small, &mut big, arg_slots(args, nargs), slot);
                (dst, self.new_record(ty, buf))
            }
            Op::Closure {
                dst,
                nargs,
                func,
                args,
            } => {
                let buf = gather_args(&mut small, &mut big, arg_slots(args, nargs), slot);
                (dst, self.new_closure(func, buf))
            }
            Op::NewArr { dst, len, init } => {
                (dst, self.new_array(slot(len as u32), slot(init as u32)))
            }
            // The string builders and the system calls the compiler routes here: the same
            // runtime functions the interpreter's ops call, so the results and errors are its.
            Op::Concat { dst, a, b } => (dst, self.new_concat(slot(a as u32), slot(b as u32))),
            Op::Substr { dst, a, from, to } => (
                dst,
                self.new_substr(slot(a as u32), slot(from as u32), slot(to as u32)),
            ),
            Op::ToStr { dst, a } => (dst, self.new_text(slot(a as u32))),
            Op::Sys {
                dst,
                nargs,
                sys,
                args,
            } => {
                let buf = gather_args(&mut small, &mut big, arg_slots(args, nargs), slot);
                let result = self.invoke_sys(sys, buf);
                match result {
                    Ok(v) => (dst, Ok(v)),
                    Err(SysError::Trap(e)) => (dst, Err(e)),
                    Err(SysError::Exit(code)) => {
                        return self.result_status(Err(Box::new(Stop::Exit(code))))
                    }
                    Err(SysError::Nested(t)) => {
                        return self.result_status(Err(Box::new(Stop::Trap(t))))
                    }
                }
            }
            _ => return self.trap_status(internal_error()),
        };
        match &made {
            Ok(v) => {
                // The allocator wrote the value as two words: reading it back as two words
                // lets both loads forward from those stores (one 16-byte load cannot, and then
                // waits until the stores to the fresh, often uncached object have completed).
                // SAFETY: `v` is a valid reference to an initialized value.
                let (tag, bits) = unsafe {
                    (
                        std::ptr::read_volatile(&v.tag),
                        std::ptr::read_volatile(&v.bits),
                    )
                };
                // SAFETY: the destination is a register of the frame.
                unsafe {
                    let d = regs.add(dst as usize);
                    (*d).tag = tag;
                    (*d).bits = bits;
                }
                self.ctx.ret.tag = tag;
                self.ctx.ret.bits = bits;
            }
            Err(e) => return self.trap_status(e.clone()),
        }
        // As after the interpreter's allocating instructions: the result is in its register.
        if self.heap.has_destructible() {
            if let Err(stop) = self.run_destructors() {
                return self.result_status(Err(Box::new(stop)));
            }
        }
        status::RETURN
    }

    pub(crate) fn jit_deopt(&mut self, regs: *mut Value, func: u32, pc: u32) -> u32 {
        let fc = &self.funcs[func as usize];
        // Constant registers are not kept by compiled code: restore them for the interpreter.
        let from = fc.self_slot as usize + 1;
        let first_init = from - fc.nparams as usize;
        for (i, v) in fc.init.iter().enumerate().skip(first_init) {
            // SAFETY: constant registers are inside the frame.
            unsafe { *regs.add(fc.nparams as usize + i) = *v };
        }
        if let Some(bits) = fc.profile.get(pc as usize) {
            bits.set(bits.get() | tier::profile::FAILED);
        }
        let n = fc.deopts.get() + 1;
        fc.deopts.set(n);
        if self.config.jit.trace {
            eprintln!("jit: deopt in {} at pc {pc}", fc.name);
        }
        if n >= tier::MAX_DEOPTS {
            // Too many: drop the code; it is compiled again (with the new profile) when hot.
            self.native[func as usize] = None;
            fc.hot.set(0);
            fc.deopts.set(0);
        }
        self.ctx.deopt_func = func;
        self.ctx.deopt_pc = pc;
        status::DEOPT
    }

    /// Installs the compiler used for `JitMode::On` and `JitMode::Eager`.
    pub fn set_compiler(&mut self, compiler: Box<dyn tier::TierCompiler>) {
        self.tier = Some(compiler);
    }

    /// Whether function `f` currently has compiled code.
    pub fn is_compiled(&self, f: u32) -> bool {
        self.native.get(f as usize).is_some_and(Option::is_some)
    }
}

/// A helper was asked for something compiled code never asks for.
#[cold]
fn internal_error() -> OpError {
    OpError {
        kind: TrapKind::Panic,
        message: "internal error: the allocation helper ran on another instruction".into(),
    }
}

/// The values of the registers `slots` (an op's argument list), in `small` when they fit,
/// else in `big`.
fn gather_args<'a>(
    small: &'a mut [Value; 8],
    big: &'a mut Vec<Value>,
    slots: &[crate::code::S],
    read: impl Fn(u32) -> Value,
) -> &'a [Value] {
    let buf: &mut [Value] = match small.get_mut(..slots.len()) {
        Some(buf) => buf,
        None => {
            big.resize(slots.len(), Value::NIL);
            &mut big[..]
        }
    };
    for (v, &s) in buf.iter_mut().zip(slots) {
        *v = read(s as u32);
    }
    buf
}

/// What the interpreter does after OSR code for its frame returned.
pub(crate) enum Osr {
    /// The frame returned this value.
    Returned(Value),
    /// The frame deoptimized: resume it at this bytecode pc.
    Resume(u32),
    /// The frame tail-called this function (arguments in its registers) with this self value
    /// (the closure for a `tailcallv`; nil for a direct tail call).
    Tail(u32, Value),
}

/// What to do after a frame's compiled code returned.
enum Next {
    Return(Value),
    Tail(u32, Value),
}

/// The StackOverflow error for the register stack (`depth_limit` false) or the call-depth limit.
#[cold]
#[inline(never)]
pub(crate) fn stack_overflow_error(depth_limit: bool, limit: usize) -> OpError {
    OpError {
        kind: TrapKind::StackOverflow,
        message: if depth_limit {
            format!("call depth limit of {limit} frames exceeded")
        } else {
            format!("register stack of {limit} slots exhausted")
        },
    }
}
