//! The dispatch loop: one `match` over decoded [`Op`]s, with the frame state (function, code,
//! constants, register window, pc) held in locals and VM-to-VM calls handled by pushing call
//! records, never by host recursion.
//!
//! Invariants relied on (see `code.rs` and the verifier): indices inside ops are in range for the
//! running function's frame, constants, code and the Vm's tables, so register and code accesses
//! are unchecked; every frame's window was bounds-checked against the register stack when the
//! frame was created; specialized ops read registers whose tag is statically known.

use sigma_runtime::capability::Capability;
use sigma_runtime::heap::{record_type_of, write_barrier, FnObj, RecordObj};
use sigma_runtime::objops;
use sigma_runtime::ops::{self, ArithOp, CmpOp};
use sigma_runtime::syscalls::SysError;
use sigma_runtime::trap::OpError;
use sigma_runtime::value::{Tag, Value};

use crate::code::{FuncCode, Op, UnOp};
use crate::native::stack_overflow_error;
use crate::native::Osr;
use crate::tier::{profile, JitMode};
use crate::vm::{CallRecord, Stop, Vm};

const INT: u64 = Tag::Int as u64;
const FLOAT: u64 = Tag::Float as u64;

/// Copies a value as two 8-byte words. Registers are usually written as two 8-byte stores
/// (tag and payload); reading them back with one 16-byte load defeats store-to-load forwarding
/// and stalls, so whole-value copies read the halves separately (volatile keeps the compiler
/// from fusing them).
///
/// # Safety
/// Both pointers must be valid for a `Value`.
#[inline(always)]
unsafe fn copy_value(dst: *mut Value, src: *const Value) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let s = src as *const u64;
        let d = dst as *mut u64;
        let tag = std::ptr::read_volatile(s);
        let bits = std::ptr::read_volatile(s.add(1));
        *d = tag;
        *d.add(1) = bits;
    }
}

#[inline(always)]
fn cmp_ints(op: CmpOp, a: i64, b: i64) -> bool {
    match op {
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

#[inline(always)]
fn cmp_floats(op: CmpOp, a: f64, b: f64) -> bool {
    match op {
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

/// Profile bits of one operand's kind.
#[inline]
fn kind_bits(v: Value) -> u8 {
    match v.tag {
        INT => profile::INT,
        FLOAT => profile::FLOAT,
        _ => profile::OTHER,
    }
}

#[cold]
#[inline(never)]
fn unary_slow(op: UnOp, a: Value) -> Result<Value, OpError> {
    match op {
        UnOp::Neg => ops::neg(a),
        UnOp::Abs => ops::abs(a),
        UnOp::Not => ops::not(a),
        UnOp::Conv(c) => ops::convert(c, a),
        UnOp::Math(m) => ops::math(m, a),
    }
}

#[cold]
#[inline(never)]
fn arith_slow(op: ArithOp, a: Value, b: Value) -> Result<Value, OpError> {
    ops::arith(op, a, b)
}

impl Vm {
    /// A type's name for messages (record types by name).
    pub(crate) fn type_text(&self, t: sigma_runtime::types::Type) -> String {
        match t {
            sigma_runtime::types::Type::Record(id) => self
                .record_types
                .get(id as usize)
                .map_or_else(|| "record".to_owned(), |r| r.name.clone()),
            t => t.name().to_owned(),
        }
    }

    /// A value's kind for messages (records by their type name).
    pub(crate) fn kind_text(&self, v: Value) -> String {
        match record_type_of(v) {
            Some(id) => self
                .record_types
                .get(id as usize)
                .map_or_else(|| "record".to_owned(), |r| r.name.clone()),
            None => v.kind().name().to_owned(),
        }
    }

    #[cold]
    #[inline(never)]
    fn wrong_type(&self, what: &str, v: Value, ty: sigma_runtime::types::Type) -> OpError {
        OpError::type_error(format!(
            "{what}: expected {}, got {}",
            self.type_text(ty),
            self.kind_text(v)
        ))
    }

    #[cold]
    #[inline(never)]
    fn wrong_record(&self, op: &str, v: Value, ty: u32) -> OpError {
        self.wrong_type(op, v, sigma_runtime::types::Type::Record(ty))
    }

    /// Checks arguments passed through a fn value against the callee's typed parameters.
    #[inline]
    pub(crate) fn check_params(&self, callee: &FuncCode, args: &[Value]) -> Result<(), OpError> {
        for &(i, t) in &callee.typed_params {
            let v = args[i as usize];
            if !t.admits(v) {
                let what = format!("argument {} of `{}`", i + 1, callee.name);
                return Err(self.wrong_type(&what, v, t));
            }
        }
        Ok(())
    }

    /// Counts a call of interpreted `func` and reports whether that made it compiled.
    #[inline]
    fn hot_call(&mut self, func: u32) -> bool {
        self.count_call(func);
        self.native[func as usize].is_some()
    }

    /// A stop from compiled code that ran the current frame itself (OSR or a tail call): its
    /// backtrace already has that frame; the callers are appended.
    #[cold]
    #[inline(never)]
    fn caller_stop(&self, stop: Stop, depth: usize) -> Box<Stop> {
        match stop {
            Stop::Trap(mut t) => {
                t.backtrace.extend(self.caller_frames(depth));
                Box::new(Stop::Trap(t))
            }
            exit => Box::new(exit),
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn arity_error(&self, callee: &FuncCode, given: usize) -> OpError {
        OpError::type_error(format!(
            "callv: `{}` takes {} argument(s), {given} given",
            callee.name, callee.nparams
        ))
    }

    #[cold]
    #[inline(never)]
    fn capture_error(&self, op: &str, c: Value, idx: u32) -> OpError {
        // A direct call's self register holds the function's shared fn value, which captures
        // nothing.
        // SAFETY: fn-tagged values refer to live fn objects.
        let n = (c.tag == Tag::Fn as u64).then(|| unsafe { FnObj::of(c) }.captures().len());
        let Some(n @ 1..) = n else {
            return OpError::type_error(format!(
                "{op}: capture {idx} does not exist (the running function was not called \
                 through a closure with captures)"
            ));
        };
        OpError::type_error(format!(
            "{op}: capture {idx} does not exist (the closure has {n})"
        ))
    }
}

#[cold]
#[inline(never)]
fn check_failed(v: Value, ty: sigma_runtime::types::Type, what: &str) -> OpError {
    OpError::type_error(format!("{what}: expected {ty}, got {}", v.kind().name()))
}

impl Vm {
    /// Runs `entry` (whose frame at `entry_base` is already initialized) from decoded op
    /// `start` until it returns to call depth `depth`. With `SINGLE`, runs only the ops
    /// `start..end` (one bytecode instruction, for compiled code) and returns nil.
    pub(crate) fn execute<const SINGLE: bool>(
        &mut self,
        entry: *const FuncCode,
        entry_base: usize,
        depth: usize,
        start: usize,
        end: usize,
    ) -> Result<Value, Box<Stop>> {
        let stack = self.stack.base();
        let stack_len = self.stack.len();
        let max_depth = self.config.max_call_depth;
        let mut fp: *const FuncCode = entry;
        // SAFETY (for every `&*fp` below): `fp` always points at a boxed `FuncCode` owned by
        // `self.funcs`, which is never shrunk while code runs.
        let mut f: &FuncCode = unsafe { &*fp };
        let mut base = entry_base;
        // SAFETY: `entry_base + frame_size <= stack_len` was checked by the caller.
        let mut regs: *mut Value = unsafe { stack.add(base) };
        // The instruction pointer; jump targets are relative to the op after the jump.
        // SAFETY: `start` is a decoded index of `entry` (0, or a `start_of` entry).
        let mut ip: *const Op = unsafe { f.code.as_ptr().add(start) };
        // SAFETY: as above, for `end` in single-step mode; unused otherwise.
        let end_ip: *const Op = if SINGLE {
            unsafe { f.code.as_ptr().add(end) }
        } else {
            ip
        };
        let jit_on = self.config.jit.mode != JitMode::Off && self.tier.is_some();
        let threshold = self.config.jit.threshold;

        // Register access. SAFETY: the lowering invariants guarantee every index is inside the
        // current frame window (see module docs).
        macro_rules! reg {
            ($r:expr) => {
                unsafe { *regs.add($r as usize) }
            };
        }
        macro_rules! set {
            ($r:expr, $v:expr) => {{
                let v = $v;
                unsafe { *regs.add($r as usize) = v };
            }};
        }
        macro_rules! slot {
            ($s:expr) => {
                reg!($s)
            };
        }
        macro_rules! int {
            ($r:expr) => {
                unsafe { (*regs.add($r as usize)).bits as i64 }
            };
        }
        macro_rules! float {
            ($r:expr) => {
                f64::from_bits(unsafe { (*regs.add($r as usize)).bits })
            };
        }
        macro_rules! trap {
            ($e:expr) => {{
                // SAFETY: `ip` points one past the trapping op, inside `f.code`.
                let pc = unsafe { ip.offset_from(f.code.as_ptr()) } as usize - 1;
                return Err(self.make_trap(fp, pc, depth, $e));
            }};
        }
        // One tick of the interrupt/fuel budget (see `poll`): at calls and loop headers.
        macro_rules! tick {
            () => {{
                let t = self.ctx.ticks - 1;
                self.ctx.ticks = t;
                if t < 0 {
                    if let Err(e) = self.poll() {
                        trap!(e);
                    }
                }
            }};
        }
        macro_rules! attempt {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => trap!(e),
                }
            };
        }
        macro_rules! jump_if {
            ($cond:expr, $target:expr) => {
                if $cond {
                    // SAFETY: lowering made every relative target land inside `f.code`.
                    ip = unsafe { ip.offset($target as isize) };
                }
            };
        }
        // Enters `callee` with a frame at `new_base` whose first `nparams` registers are set.
        macro_rules! enter {
            ($callee:expr, $new_base:expr) => {{
                fp = $callee;
                f = unsafe { &*fp };
                base = $new_base;
                // SAFETY: `base + frame_size <= stack_len` was checked before entering.
                regs = unsafe { stack.add(base) };
                // SAFETY: the frame has `frame_size` slots; `init` fills those after the params.
                // Copied inline: frames are small, and a library call costs more than the copy.
                unsafe {
                    let dst = regs.add(f.nparams as usize);
                    let src = f.init.as_ptr();
                    for i in 0..f.init.len() {
                        copy_value(dst.add(i), src.add(i));
                    }
                };
                ip = f.code.as_ptr();
            }};
        }

        // Before an instruction that may allocate or call out: the running frame's registers
        // become part of the root set.
        // The scratch register (the target of `_`) is cleared too, so a discarded result does
        // not stay reachable until the next discard.
        macro_rules! safepoint {
            () => {{
                self.stack_top = base + f.frame_size as usize;
                set!(f.self_slot - 1, Value::NIL);
            }};
        }
        // Before handing the frame to a tail callee: its arguments are already in the frame's
        // first slots, which may include the scratch register, so nothing is cleared.
        macro_rules! tail_safepoint {
            () => {{
                self.stack_top = base + f.frame_size as usize;
            }};
        }
        // After such an instruction has stored its result: run destructors a collection queued.
        macro_rules! destructors {
            () => {
                if self.heap.has_destructible() {
                    if let Err(stop) = self.run_destructors() {
                        // SAFETY: `ip` points one past the running op, inside `f.code`.
                        let pc = unsafe { ip.offset_from(f.code.as_ptr()) } as usize - 1;
                        return Err(self.nested_stop(stop, fp, pc, depth));
                    }
                }
            };
        }
        // Gathers `n` argument slots into a buffer (small on the stack).
        // `gather!(buf = args, n)` binds `buf` to the values of the `n` argument slots.
        macro_rules! gather {
            ($buf:ident = $args:expr, $n:expr) => {
                let mut small = [Value::NIL; 8];
                let mut big = Vec::new();
                let n = $n as usize;
                let $buf: &mut [Value] = if n <= small.len() {
                    &mut small[..n]
                } else {
                    big.resize(n, Value::NIL);
                    &mut big
                };
                for (i, v) in $buf.iter_mut().enumerate() {
                    // SAFETY: argument slots index this function's `args` table.
                    let s = unsafe { *f.args.get_unchecked($args as usize + i) };
                    *v = slot!(s);
                }
            };
        }
        // An allocating instruction on its gathered arguments: `$make(buf)` gives the result.
        macro_rules! alloc_from_args {
            ($dst:expr, $args:expr, $n:expr, |$buf:ident| $make:expr) => {{
                gather!($buf = $args, $n);
                safepoint!();
                let v = attempt!($make);
                set!($dst, v);
                destructors!();
            }};
        }

        // A callee frame of `size` slots at `new_base` must fit the register stack, and one more
        // call record the call-depth limit.
        macro_rules! frame_fits {
            ($new_base:expr, $size:expr) => {{
                if $new_base + $size > stack_len {
                    trap!(stack_overflow_error(false, stack_len));
                }
                if self.frames.len() >= max_depth {
                    trap!(stack_overflow_error(true, max_depth));
                }
            }};
        }

        // Runs `func` (its arguments already in the frame at `new_regs`) and puts its result in
        // `dst`: compiled code is called directly; otherwise a call record is pushed and the
        // loop continues in the callee (`self_value`: the closure, or nil for a direct call).
        macro_rules! call_into {
            ($func:expr, $callee:expr, $new_base:expr, $new_regs:expr, $self_value:expr, $dst:expr) => {{
                set!(f.self_slot - 1, Value::NIL);
                if jit_on && (self.native[$func as usize].is_some() || self.hot_call($func)) {
                    safepoint!();
                    match self.call_compiled($func, $new_regs, $self_value) {
                        Ok(v) => set!($dst, v),
                        Err(stop) => {
                            // SAFETY: `ip` points one past the running op, inside `f.code`.
                            let pc = unsafe { ip.offset_from(f.code.as_ptr()) } as usize - 1;
                            return Err(self.nested_stop(*stop, fp, pc, depth));
                        }
                    }
                    continue;
                }
                self.frames.push(CallRecord {
                    func: fp,
                    base,
                    ret_ip: ip,
                    dst: $dst,
                });
                enter!($callee, $new_base);
            }};
        }

        // Records the operand kinds a slow path saw, for the compiler's speculation.
        macro_rules! note {
            ($($v:expr),+) => {
                if jit_on {
                    // SAFETY: `ip` points one past the running op, inside `f.code`.
                    let at = unsafe { ip.offset_from(f.code.as_ptr()) } as usize - 1;
                    let pc = f.pc_map[at] as usize;
                    let mut bits = 0u8;
                    $(bits |= kind_bits($v);)+
                    f.profile[pc].set(f.profile[pc].get() | bits);
                }
            };
        }
        // Returns `v` from the running frame.
        macro_rules! do_return {
            ($v:expr) => {{
                let v = $v;
                if self.frames.len() <= depth {
                    return Ok(v);
                }
                // SAFETY: the length is above `depth >= 0`, so there is a record to pop.
                let rec = unsafe { self.frames.pop().unwrap_unchecked() };
                fp = rec.func;
                f = unsafe { &*fp };
                base = rec.base;
                // SAFETY: the caller's frame was inside the stack when it was entered.
                regs = unsafe { stack.add(base) };
                ip = rec.ret_ip;
                set!(rec.dst, v);
            }};
        }
        // A tail call of compiled `func` from the running frame, whose registers already hold
        // the arguments: an entry frame hands it to the caller's loop (constant host stack);
        // a deeper frame calls it and returns its result.
        macro_rules! tail_compiled {
            ($func:expr, $selfv:expr) => {{
                if self.frames.len() <= depth {
                    self.exec_tail = Some(($func, $selfv));
                    return Ok(Value::NIL);
                }
                tail_safepoint!();
                match self.call_compiled($func, regs, $selfv) {
                    Ok(v) => do_return!(v),
                    Err(stop) => return Err(self.caller_stop(*stop, depth)),
                }
                continue;
            }};
        }

        // `+ - *` on any values: inline int+int and float+float, the helper otherwise. Only ints go
        // unprofiled: the compiler speculates on ints where a site saw nothing else.
        macro_rules! generic_arith {
            ($dst:expr, $a:expr, $b:expr, $op:ident, $int:ident, $float:tt) => {{
                let (x, y) = (slot!($a), slot!($b));
                if x.tag == INT && y.tag == INT {
                    set!($dst, Value::int((x.bits as i64).$int(y.bits as i64)));
                } else if x.tag == FLOAT && y.tag == FLOAT {
                    note!(x, y);
                    set!($dst, Value::float(x.as_float_unchecked() $float y.as_float_unchecked()));
                } else {
                    note!(x, y);
                    set!($dst, attempt!(arith_slow(ArithOp::$op, x, y)));
                }
            }};
        }

        loop {
            if SINGLE && ip == end_ip {
                return Ok(Value::NIL);
            }
            // SAFETY: `ip` is inside `f.code`: it starts at the first op, jumps land on ops, and
            // the verifier rules out falling off the end.
            let op = unsafe { &*ip };
            ip = unsafe { ip.add(1) };
            match *op {
                // SAFETY: both registers are in the frame.
                Op::Copy { dst, src } => unsafe {
                    copy_value(regs.add(dst as usize), regs.add(src as usize))
                },
                Op::Move { dst, src } => {
                    let v = reg!(src);
                    set!(src, Value::NIL);
                    set!(dst, v);
                }

                Op::AddII { dst, a, b } => set!(dst, Value::int(int!(a).wrapping_add(int!(b)))),
                Op::SubII { dst, a, b } => set!(dst, Value::int(int!(a).wrapping_sub(int!(b)))),
                Op::MulII { dst, a, b } => set!(dst, Value::int(int!(a).wrapping_mul(int!(b)))),
                Op::AddIK { dst, a, k } => set!(dst, Value::int(int!(a).wrapping_add(k as i64))),
                Op::MulIK { dst, a, k } => set!(dst, Value::int(int!(a).wrapping_mul(k as i64))),
                Op::DivII { dst, a, b } => {
                    let d = int!(b);
                    if d == 0 {
                        trap!(OpError::division_by_zero("div"));
                    }
                    set!(dst, Value::int(int!(a).wrapping_div(d)));
                }
                Op::RemII { dst, a, b } => {
                    let d = int!(b);
                    if d == 0 {
                        trap!(OpError::division_by_zero("rem"));
                    }
                    set!(dst, Value::int(int!(a).wrapping_rem(d)));
                }
                Op::DivIK { dst, a, k } => set!(dst, Value::int(int!(a).wrapping_div(k as i64))),
                Op::RemIK { dst, a, k } => set!(dst, Value::int(int!(a).wrapping_rem(k as i64))),
                Op::AddFF { dst, a, b } => set!(dst, Value::float(float!(a) + float!(b))),
                Op::SubFF { dst, a, b } => set!(dst, Value::float(float!(a) - float!(b))),
                Op::MulFF { dst, a, b } => set!(dst, Value::float(float!(a) * float!(b))),
                Op::DivFF { dst, a, b } => set!(dst, Value::float(float!(a) / float!(b))),

                Op::Add { dst, a, b } => generic_arith!(dst, a, b, Add, wrapping_add, +),
                Op::Sub { dst, a, b } => generic_arith!(dst, a, b, Sub, wrapping_sub, -),
                Op::Mul { dst, a, b } => generic_arith!(dst, a, b, Mul, wrapping_mul, *),
                Op::Div { dst, a, b } => {
                    let (x, y) = (slot!(a), slot!(b));
                    if x.tag == INT && y.tag == INT && y.bits != 0 {
                        set!(dst, Value::int((x.bits as i64).wrapping_div(y.bits as i64)));
                    } else {
                        note!(x, y);
                        set!(dst, attempt!(arith_slow(ArithOp::Div, x, y)));
                    }
                }
                Op::Rem { dst, a, b } => {
                    let (x, y) = (slot!(a), slot!(b));
                    if x.tag == INT && y.tag == INT && y.bits != 0 {
                        set!(dst, Value::int((x.bits as i64).wrapping_rem(y.bits as i64)));
                    } else {
                        note!(x, y);
                        set!(dst, attempt!(arith_slow(ArithOp::Rem, x, y)));
                    }
                }
                Op::AddAK { dst, a, k } => {
                    let x = reg!(a);
                    if x.tag == INT {
                        set!(dst, Value::int((x.bits as i64).wrapping_add(k as i64)));
                    } else {
                        note!(x);
                        set!(
                            dst,
                            attempt!(arith_slow(ArithOp::Add, x, Value::int(k as i64)))
                        );
                    }
                }
                Op::SubAK { dst, a, k } => {
                    let x = reg!(a);
                    if x.tag == INT {
                        set!(dst, Value::int((x.bits as i64).wrapping_sub(k as i64)));
                    } else {
                        note!(x);
                        set!(
                            dst,
                            attempt!(arith_slow(ArithOp::Sub, x, Value::int(k as i64)))
                        );
                    }
                }
                Op::Arith { op, dst, a, b } => {
                    set!(dst, attempt!(ops::arith(op, slot!(a), slot!(b))))
                }
                Op::Unary { op, dst, a } => {
                    let x = slot!(a);
                    let v = match (op, x.tag) {
                        (UnOp::Neg, INT) => Value::int((x.bits as i64).wrapping_neg()),
                        (UnOp::Neg, FLOAT) => Value::float(-x.as_float_unchecked()),
                        (UnOp::Conv(ops::ConvOp::Itof), INT) => Value::float(x.bits as i64 as f64),
                        (UnOp::Math(m), FLOAT) => Value::float(m.on_float(x.as_float_unchecked())),
                        (UnOp::Conv(ops::ConvOp::Ftoi), FLOAT) => {
                            Value::int(ops::float_to_int(x.as_float_unchecked()))
                        }
                        _ => attempt!(unary_slow(op, x)),
                    };
                    set!(dst, v);
                }
                Op::DivU { rem, dst, a, b } => {
                    set!(dst, attempt!(ops::unsigned_div(rem, slot!(a), slot!(b))))
                }

                Op::EqV { negate, dst, a, b } => {
                    let (x, y) = (slot!(a), slot!(b));
                    let eq = if x.tag == y.tag && x.tag != FLOAT && x.tag < Tag::FIRST_REF {
                        x.bits == y.bits
                    } else {
                        ops::values_equal(x, y)
                    };
                    set!(dst, Value::bool(eq != negate));
                }
                Op::Same { dst, a, b } => set!(dst, Value::bool(ops::same(slot!(a), slot!(b)))),
                Op::CmpII { op, dst, a, b } => {
                    set!(dst, Value::bool(cmp_ints(op, int!(a), int!(b))))
                }
                Op::Cmp { op, dst, a, b } => {
                    let (x, y) = (slot!(a), slot!(b));
                    let r = if x.tag == INT && y.tag == INT {
                        cmp_ints(op, x.bits as i64, y.bits as i64)
                    } else {
                        note!(x, y);
                        attempt!(ops::compare(op, x, y))
                    };
                    set!(dst, Value::bool(r));
                }
                Op::CmpU { op, dst, a, b } => {
                    set!(
                        dst,
                        Value::bool(attempt!(ops::compare_unsigned(op, slot!(a), slot!(b))))
                    )
                }

                Op::BitII { op, dst, a, b } => {
                    set!(dst, Value::int(ops::int_bitop(op, int!(a), int!(b))))
                }
                Op::BitIK { op, dst, a, k } => {
                    set!(dst, Value::int(ops::int_bitop(op, int!(a), k as i64)))
                }
                Op::Bit { op, dst, a, b } => {
                    set!(dst, attempt!(ops::bitop(op, slot!(a), slot!(b))))
                }

                Op::Jump { target } => jump_if!(true, target),
                Op::JumpIf { cond, target } => jump_if!(slot!(cond).truthy(), target),
                Op::JumpIfNot { cond, target } => jump_if!(!slot!(cond).truthy(), target),
                Op::JumpIfB { cond, target } => jump_if!(int!(cond) != 0, target),
                Op::JumpIfNotB { cond, target } => jump_if!(int!(cond) == 0, target),
                Op::JltII { a, b, target } => jump_if!(int!(a) < int!(b), target),
                Op::JleII { a, b, target } => jump_if!(int!(a) <= int!(b), target),
                Op::JgtII { a, b, target } => jump_if!(int!(a) > int!(b), target),
                Op::JgeII { a, b, target } => jump_if!(int!(a) >= int!(b), target),
                Op::JeqII { a, b, target } => jump_if!(int!(a) == int!(b), target),
                Op::JneII { a, b, target } => jump_if!(int!(a) != int!(b), target),
                Op::JltIK { a, k, target } => jump_if!(int!(a) < k as i64, target),
                Op::JleIK { a, k, target } => jump_if!(int!(a) <= k as i64, target),
                Op::JgtIK { a, k, target } => jump_if!(int!(a) > k as i64, target),
                Op::JgeIK { a, k, target } => jump_if!(int!(a) >= k as i64, target),
                Op::JeqIK { a, k, target } => jump_if!(int!(a) == k as i64, target),
                Op::JneIK { a, k, target } => jump_if!(int!(a) != k as i64, target),
                Op::JCmpFF { op, a, b, target } => {
                    jump_if!(cmp_floats(op, float!(a), float!(b)), target)
                }
                Op::JCmp { op, a, b, target } => {
                    let (x, y) = (slot!(a), slot!(b));
                    let taken = if x.tag == INT && y.tag == INT {
                        cmp_ints(op, x.bits as i64, y.bits as i64)
                    } else {
                        note!(x, y);
                        attempt!(ops::compare(op, x, y))
                    };
                    jump_if!(taken, target);
                }
                Op::JEq {
                    negate,
                    a,
                    b,
                    target,
                } => {
                    let (x, y) = (slot!(a), slot!(b));
                    let eq = if x.tag == y.tag && x.tag != FLOAT && x.tag < Tag::FIRST_REF {
                        x.bits == y.bits
                    } else {
                        ops::values_equal(x, y)
                    };
                    jump_if!(eq != negate, target);
                }

                Op::Typeof { dst, a } => {
                    let v = slot!(a);
                    let name = match record_type_of(v) {
                        Some(id) => self.record_types[id as usize].name_value,
                        None => self
                            .type_names
                            .get(v.tag as usize)
                            .copied()
                            .unwrap_or(Value::NIL),
                    };
                    set!(dst, name);
                }
                Op::Is { dst, a, ty } => set!(dst, Value::bool(ty.admits(slot!(a)))),
                Op::Cast { dst, a, ty } => {
                    let v = slot!(a);
                    if !ty.admits(v) {
                        trap!(self.wrong_type("cast", v, ty));
                    }
                    set!(dst, v);
                }
                Op::CheckNullable { r, ty, what } => {
                    let v = reg!(r);
                    if !v.is_nil() && !ty.admits(v) {
                        let what = f
                            .check_what
                            .get(what as usize)
                            .map_or("value", String::as_str);
                        trap!(self.wrong_type(what, v, ty));
                    }
                }
                Op::Check { r, ty, what } => {
                    let v = reg!(r);
                    if !ty.admits(v) {
                        let what = f
                            .check_what
                            .get(what as usize)
                            .map_or("value", String::as_str);
                        trap!(self.wrong_type(what, v, ty));
                    }
                }

                Op::Call {
                    dst,
                    nargs,
                    func,
                    args,
                } => {
                    tick!();
                    // SAFETY: function ids in ops were produced by lowering and index `funcs`.
                    let callee: *const FuncCode =
                        unsafe { &**self.funcs.get_unchecked(func as usize) };
                    let new_base = base + f.frame_size as usize;
                    // SAFETY: as above.
                    let size = unsafe { (*callee).frame_size } as usize;
                    frame_fits!(new_base, size);
                    // SAFETY: the new frame lies inside the stack (checked above); argument slots
                    // index this function's `args` table.
                    let new_regs = unsafe { stack.add(new_base) };
                    for i in 0..nargs as usize {
                        let s = unsafe { *f.args.get_unchecked(args as usize + i) };
                        // SAFETY: `s` is in the caller's frame, `i` in the callee's.
                        unsafe { copy_value(new_regs.add(i), regs.add(s as usize)) };
                    }
                    call_into!(func, callee, new_base, new_regs, Value::NIL, dst);
                }
                Op::Dispatch {
                    dst,
                    nargs,
                    site,
                    args,
                } => {
                    tick!();
                    gather!(buf = args, nargs);
                    // SAFETY: site indices in ops were produced by lowering and index the table.
                    let ds = unsafe { f.dispatch_sites.get_unchecked(site as usize) };
                    let func = attempt!(self.dispatch_target(ds, buf));
                    // SAFETY: method functions are functions of this Vm.
                    let callee: *const FuncCode =
                        unsafe { &**self.funcs.get_unchecked(func as usize) };
                    let new_base = base + f.frame_size as usize;
                    // SAFETY: as above.
                    let size = unsafe { (*callee).frame_size } as usize;
                    frame_fits!(new_base, size);
                    // SAFETY: the new frame lies inside the stack (checked above); the method
                    // takes exactly `nargs` parameters.
                    let new_regs = unsafe { stack.add(new_base) };
                    for (i, v) in buf.iter().enumerate() {
                        unsafe { *new_regs.add(i) = *v };
                    }
                    call_into!(func, callee, new_base, new_regs, Value::NIL, dst);
                }
                Op::TailCall { nargs, func, args } => {
                    tick!();
                    // SAFETY: as for `Call`.
                    let callee: *const FuncCode =
                        unsafe { &**self.funcs.get_unchecked(func as usize) };
                    let size = unsafe { (*callee).frame_size } as usize;
                    if base + size > stack_len {
                        trap!(stack_overflow_error(false, stack_len));
                    }
                    // Arguments are read before any is written: they may overlap the targets.
                    gather!(buf = args, nargs);
                    for (i, v) in buf.iter().enumerate() {
                        set!(i, *v);
                    }
                    if jit_on && (self.native[func as usize].is_some() || self.hot_call(func)) {
                        tail_compiled!(func, Value::NIL);
                    }
                    enter!(callee, base);
                }
                Op::Ret { src } => {
                    // Read as two halves for the same reason as `copy_value`.
                    let v = unsafe {
                        let p = regs.add(src as usize) as *const u64;
                        Value {
                            tag: std::ptr::read_volatile(p),
                            bits: std::ptr::read_volatile(p.add(1)),
                        }
                    };
                    do_return!(v);
                }
                Op::Hot { pc } => {
                    if SINGLE {
                        continue;
                    }
                    tick!();
                    if !jit_on {
                        continue;
                    }
                    let h = f.hot.get().saturating_add(1);
                    f.hot.set(h);
                    if h < threshold {
                        continue;
                    }
                    match self.osr(f.id, regs, pc) {
                        None => f.hot.set(0),
                        Some(Ok(Osr::Returned(v))) => do_return!(v),
                        Some(Ok(Osr::Resume(at))) => {
                            f.hot.set(0);
                            // Resuming at this very header (compiled code declined to enter,
                            // or deopted at once) goes on past this op, which only counts:
                            // entering it again would retry OSR forever at a threshold of 1.
                            if at != pc {
                                // SAFETY: `start_of` entries index `f.code`.
                                ip = unsafe {
                                    f.code.as_ptr().add(f.start_of[at as usize] as usize)
                                };
                            }
                        }
                        Some(Ok(Osr::Tail(func, callee_self))) => {
                            // The frame was replaced by a call of `func` (arguments in place),
                            // a closure's call keeping the closure as the callee's self.
                            if self.frames.len() <= depth {
                                self.exec_tail = Some((func, callee_self));
                                return Ok(Value::NIL);
                            }
                            tail_safepoint!();
                            match self.call_compiled(func, regs, callee_self) {
                                Ok(v) => do_return!(v),
                                Err(stop) => return Err(self.caller_stop(*stop, depth)),
                            }
                        }
                        Some(Err(stop)) => return Err(self.caller_stop(*stop, depth)),
                    }
                }

                Op::GetG { dst, g } => {
                    // SAFETY: global indices in ops were produced by lowering and index `globals`.
                    set!(dst, unsafe { *self.globals.get_unchecked(g as usize) });
                }
                Op::SetG { src, g } => {
                    let v = slot!(src);
                    // SAFETY: as for `GetG`.
                    unsafe { *self.globals.get_unchecked_mut(g as usize) = v };
                }

                Op::Sys {
                    dst,
                    nargs,
                    sys,
                    args,
                } => {
                    gather!(buf = args, nargs);
                    safepoint!();
                    let result = self.invoke_sys(sys, buf);
                    match result {
                        Ok(v) => set!(dst, v),
                        Err(SysError::Exit(code)) => return Err(Box::new(Stop::Exit(code))),
                        Err(SysError::Trap(e)) => trap!(e),
                        Err(SysError::Nested(t)) => {
                            // SAFETY: `ip` points one past the running op, inside `f.code`.
                            let pc = unsafe { ip.offset_from(f.code.as_ptr()) } as usize - 1;
                            return Err(self.nested_stop(Stop::Trap(t), fp, pc, depth));
                        }
                    }
                    destructors!();
                }
                Op::NCall {
                    dst,
                    nargs,
                    ext,
                    args,
                } => {
                    alloc_from_args!(dst, args, nargs, |buf| self.ncall(ext, buf));
                }
                Op::ToStr { dst, a } => {
                    safepoint!();
                    let v = attempt!(self.new_text(slot!(a)));
                    set!(dst, v);
                    destructors!();
                }
                Op::CallV {
                    dst,
                    nargs,
                    f: fr,
                    args,
                } => {
                    tick!();
                    let fv = reg!(fr);
                    let func = attempt!(objops::function("callv", fv)).func;
                    // SAFETY: fn objects hold ids of functions of this Vm.
                    let callee: *const FuncCode =
                        unsafe { &**self.funcs.get_unchecked(func as usize) };
                    // SAFETY: as above.
                    let cf = unsafe { &*callee };
                    if nargs != cf.nparams {
                        trap!(self.arity_error(cf, nargs as usize));
                    }
                    let new_base = base + f.frame_size as usize;
                    frame_fits!(new_base, cf.frame_size as usize);
                    let new_regs = unsafe { stack.add(new_base) };
                    for i in 0..nargs as usize {
                        let s = unsafe { *f.args.get_unchecked(args as usize + i) };
                        let v = slot!(s);
                        unsafe { *new_regs.add(i) = v };
                    }
                    // SAFETY: the first `nargs` slots of the new frame were just written.
                    let passed = unsafe { std::slice::from_raw_parts(new_regs, nargs as usize) };
                    attempt!(self.check_params(cf, passed));
                    call_into!(func, callee, new_base, new_regs, fv, dst);
                    set!(f.self_slot, fv);
                }
                Op::TailCallV { nargs, f: fr, args } => {
                    tick!();
                    let fv = reg!(fr);
                    let func = attempt!(objops::function("tailcallv", fv)).func;
                    // SAFETY: fn objects hold ids of functions of this Vm.
                    let callee: *const FuncCode =
                        unsafe { &**self.funcs.get_unchecked(func as usize) };
                    // SAFETY: as above.
                    let cf = unsafe { &*callee };
                    if nargs != cf.nparams {
                        trap!(self.arity_error(cf, nargs as usize));
                    }
                    if base + cf.frame_size as usize > stack_len {
                        trap!(stack_overflow_error(false, stack_len));
                    }
                    gather!(buf = args, nargs);
                    attempt!(self.check_params(cf, buf));
                    for (i, v) in buf.iter().enumerate() {
                        set!(i, *v);
                    }
                    if jit_on && (self.native[func as usize].is_some() || self.hot_call(func)) {
                        tail_compiled!(func, fv);
                    }
                    enter!(callee, base);
                    set!(f.self_slot, fv);
                }
                Op::Closure {
                    dst,
                    nargs,
                    func,
                    args,
                } => {
                    alloc_from_args!(dst, args, nargs, |buf| self.new_closure(func, buf));
                }
                Op::GetUp { dst, slf, idx } => {
                    let c = reg!(slf);
                    if c.tag != Tag::Fn as u64 {
                        trap!(self.capture_error("getup", c, idx));
                    }
                    // SAFETY: fn-tagged values refer to live fn objects.
                    match unsafe { FnObj::of(c) }.captures().get(idx as usize) {
                        Some(v) => set!(dst, *v),
                        None => trap!(self.capture_error("getup", c, idx)),
                    }
                }
                Op::SetUp { slf, src, idx } => {
                    let c = reg!(slf);
                    if c.tag != Tag::Fn as u64 {
                        trap!(self.capture_error("setup", c, idx));
                    }
                    let v = slot!(src);
                    // SAFETY: fn-tagged values refer to live fn objects.
                    match unsafe { FnObj::of(c) }.captures_mut().get_mut(idx as usize) {
                        Some(slot) => *slot = v,
                        None => trap!(self.capture_error("setup", c, idx)),
                    }
                    write_barrier(&mut self.heap, c, v);
                }
                Op::New {
                    dst,
                    nargs,
                    ty,
                    args,
                } => {
                    alloc_from_args!(dst, args, nargs, |buf| self.new_record(ty, buf));
                }
                Op::GetF {
                    dst,
                    obj,
                    field,
                    ty,
                } => {
                    let v = slot!(obj);
                    if record_type_of(v) != Some(ty) {
                        trap!(self.wrong_record("getf", v, ty));
                    }
                    // SAFETY: a record of type `ty` has the verified field index.
                    set!(dst, unsafe {
                        RecordObj::of(v).field_unchecked(field as usize)
                    });
                }
                Op::GetFT { dst, obj, field } => {
                    // SAFETY: the register statically holds a record of the field's type.
                    let r = reg!(obj);
                    set!(dst, unsafe {
                        RecordObj::of(r).field_unchecked(field as usize)
                    });
                }
                Op::SetF {
                    obj,
                    src,
                    field,
                    ty,
                } => {
                    let v = slot!(obj);
                    if record_type_of(v) != Some(ty) {
                        trap!(self.wrong_record("setf", v, ty));
                    }
                    let x = slot!(src);
                    // SAFETY: as for `GetF`.
                    unsafe { RecordObj::of(v).set_field_unchecked(field as usize, x) };
                    write_barrier(&mut self.heap, v, x);
                }
                Op::SetFT { obj, src, field } => {
                    let x = slot!(src);
                    // SAFETY: as for `GetFT`.
                    let r = reg!(obj);
                    unsafe { RecordObj::of(r).set_field_unchecked(field as usize, x) };
                    write_barrier(&mut self.heap, r, x);
                }
                Op::NewArr { dst, len, init } => {
                    safepoint!();
                    let v = attempt!(self.new_array(slot!(len), slot!(init)));
                    set!(dst, v);
                    destructors!();
                }
                Op::AGet { dst, arr, idx } => {
                    set!(dst, attempt!(objops::array_get(slot!(arr), slot!(idx))))
                }
                Op::ASet { arr, idx, src } => {
                    attempt!(objops::array_set(
                        &mut self.heap,
                        slot!(arr),
                        slot!(idx),
                        slot!(src)
                    ))
                }
                Op::ALen { dst, arr } => set!(dst, attempt!(objops::array_len(slot!(arr)))),
                Op::APush { arr, src } => {
                    safepoint!();
                    attempt!(self.array_push(slot!(arr), slot!(src)));
                    destructors!();
                }
                Op::APop { dst, arr } => set!(dst, attempt!(objops::array_pop(slot!(arr)))),
                Op::NewBytes { dst, len } => {
                    safepoint!();
                    let v = attempt!(self.new_bytes(slot!(len)));
                    set!(dst, v);
                    destructors!();
                }
                Op::Ld { mem, dst, b, off } => {
                    set!(dst, attempt!(objops::bytes_load(mem, slot!(b), slot!(off))))
                }
                Op::St { mem, b, off, src } => {
                    attempt!(objops::bytes_store(mem, slot!(b), slot!(off), slot!(src)))
                }
                Op::BLen { dst, b } => set!(dst, attempt!(objops::bytes_len(slot!(b)))),
                Op::Concat { dst, a, b } => {
                    safepoint!();
                    let v = attempt!(self.new_concat(slot!(a), slot!(b)));
                    set!(dst, v);
                    destructors!();
                }
                Op::SLen { dst, a } => set!(dst, attempt!(objops::str_len(slot!(a)))),
                Op::SGet { dst, a, i } => set!(dst, attempt!(objops::str_get(slot!(a), slot!(i)))),
                Op::Substr { dst, a, from, to } => {
                    safepoint!();
                    let v = attempt!(self.new_substr(slot!(a), slot!(from), slot!(to)));
                    set!(dst, v);
                    destructors!();
                }
                Op::NewMap { dst } => {
                    safepoint!();
                    let v = attempt!(self.new_map());
                    set!(dst, v);
                    destructors!();
                }
                Op::MGet { dst, m, k } => set!(dst, attempt!(objops::map_get(slot!(m), slot!(k)))),
                Op::MSet { m, k, v } => {
                    safepoint!();
                    attempt!(self.map_set(slot!(m), slot!(k), slot!(v)));
                    destructors!();
                }
                Op::MHas { dst, m, k } => set!(dst, attempt!(objops::map_has(slot!(m), slot!(k)))),
                Op::MDel { m, k } => attempt!(objops::map_del(slot!(m), slot!(k))),
                Op::MLen { dst, m } => set!(dst, attempt!(objops::map_len(slot!(m)))),
                Op::MKeys { dst, m } => {
                    safepoint!();
                    let v = attempt!(self.map_keys(slot!(m)));
                    set!(dst, v);
                    destructors!();
                }
                Op::Halt { src } => {
                    let v = slot!(src);
                    match v.as_int() {
                        Some(code) => {
                            if !self.config.capabilities.exit {
                                trap!(Capability::Exit.denied("halt"));
                            }
                            return Err(Box::new(Stop::Exit(code as i32)));
                        }
                        None => trap!(check_failed(
                            v,
                            sigma_runtime::types::Type::Int,
                            "halt status"
                        )),
                    }
                }
            }
        }
    }
}
