//! The Vm's side of the heap: the root set, allocation with collection, destructors, host roots,
//! the text form of values, and the system-call context.
//!
//! Roots are exactly: the register slots `[0, stack_top)`, module globals, constants and
//! opened native libraries, the type-name and record-name strings, the shared fn values, values
//! the host rooted ([`Vm::root`]), and temporary roots of the operation in progress. Nothing is
//! scanned conservatively.
//!
//! Short strings (up to `StrObj::INTERN_MAX` bytes) are interned: one object per content,
//! found through a weak table that a collection prunes of dead strings before it sweeps.
//! `sys intern` adds strings of any length to the same table (slisp's symbols).
//!
//! Invariant: every allocating method takes the values it still needs after allocating as
//! `keep` arguments (or only reads values that are already roots), because allocating may
//! collect. Destructors never run inside an allocation: a collection only queues them, and the
//! interpreter runs them at the end of the instruction that allocated (see
//! [`Vm::run_destructors`]), when every value it produced is stored in a register.

use std::io::Write;

use sigma_gc::{GcStats, Tracer};
use sigma_runtime::capability::Capabilities;
use sigma_runtime::heap::{
    header_of, trace_value, write_barrier, ArrayObj, BytesObj, FnObj, MapObj, ModuleObj, RecordObj,
    StrObj,
};
use sigma_runtime::objops::{self, format_value, NameLookup};
use sigma_runtime::syscalls::{FileTable, SysContext, SysError};
use sigma_runtime::trap::{OpError, TrapKind};
use sigma_runtime::value::{Tag, Value};

use crate::vm::{LinkError, Root, Stop, Vm};

/// Marks every value of `values`.
///
/// # Safety
/// The values must be live (roots or reachable from roots).
unsafe fn mark_all(values: &[Value], t: &mut Tracer) {
    for v in values {
        // SAFETY: guaranteed by the caller.
        unsafe { trace_value(*v, t) };
    }
}

impl Vm {
    /// Runs the collection the heap's policy asks for (minor or full) now; it is full too
    /// while collectable modules were linked since the last full collection, so dropped modules
    /// are unloaded by allocation pressure alone, as promptly as without generations.
    pub(crate) fn collect_now(&mut self) {
        let full = self.heap.wants_full_collection()
            || (self.modules_linked_since_full > 0 && self.linking == 0);
        self.collect_kind(full);
    }

    /// Runs a full collection (`full`) or a minor one now. Destructors it makes due are
    /// queued, not run. At a full collection, collectable modules found unreachable are
    /// unloaded (see `unload.rs`); a minor collection treats every module as a root and unloads
    /// nothing (it does not trace old objects, so it cannot know what they keep loaded).
    pub(crate) fn collect_kind(&mut self, full: bool) {
        let top = self.stack_top.min(self.stack.len());
        let stack = self.stack.base();
        // Module reachability is traced only when some module could be unloaded.
        let tracing_modules = full && self.collectable_modules > 0 && self.linking == 0;
        let mut live = vec![
            false;
            if tracing_modules {
                self.modules.len()
            } else {
                0
            }
        ];
        let Vm {
            heap,
            globals,
            modules,
            type_names,
            record_types,
            fn_cache,
            host_roots,
            temp_roots,
            strings,
            native_libs,
            funcs,
            multimethods,
            ..
        } = self;
        let graph = crate::unload::ModuleGraph {
            modules,
            funcs,
            globals,
            fn_cache,
            record_types,
            multimethods,
        };
        let roots = |t: &mut Tracer| {
            // SAFETY: register slots below `stack_top` hold live values (frames are
            // initialized before use); every other root list holds live values by construction.
            unsafe {
                mark_all(std::slice::from_raw_parts(stack, top), t);
                mark_all(type_names, t);
                mark_all(&host_roots.borrow().values, t);
                mark_all(temp_roots, t);
                if !tracing_modules {
                    // Every module is live (a module being linked holds its values in
                    // `temp_roots` until it is registered).
                    for m in 0..graph.modules.len() {
                        graph.mark_module(m, t);
                    }
                    return;
                }
            }
            t.set_noting(true);
            for (i, m) in graph.modules.iter().enumerate() {
                if m.lifetime == crate::unload::ModuleLifetime::Pinned {
                    t.note(sigma_runtime::heap::note::encode(
                        sigma_runtime::heap::note::MODULE,
                        i as u32,
                    ));
                }
            }
        };
        let more = |t: &mut Tracer| graph.follow_notes(t, &mut live);
        // SAFETY: interned strings and open libraries in the weak tables are live until this
        // prune removes the dead ones.
        let prune = |live: &dyn Fn(_) -> bool| {
            strings.retain(|v| live(unsafe { header_of(*v) }));
            native_libs.retain(|v| live(unsafe { header_of(*v) }));
        };
        if full {
            heap.collect_full(roots, more, prune);
            if self.linking == 0 {
                self.modules_linked_since_full = 0;
            }
        } else {
            heap.collect_minor(roots, prune);
        }
        if tracing_modules {
            self.unload_unreachable(&live);
        }
    }

    /// Makes room for `bytes` more: collects if the heap is due, keeping `keep` alive, and
    /// fails with `OutOfMemory` if the heap limit would still be exceeded (after a minor
    /// collection that was not enough, a full one is tried first).
    #[inline]
    pub(crate) fn reserve(&mut self, bytes: usize, keep: &[Value]) -> Result<(), OpError> {
        if self.heap.wants_collection(bytes) {
            let mark = self.temp_roots.len();
            self.temp_roots.extend_from_slice(keep);
            self.collect_now();
            if self.heap.exceeds_limit(bytes) && !self.heap.last_collection_was_full() {
                self.collect_kind(true);
            }
            self.temp_roots.truncate(mark);
            if self.heap.exceeds_limit(bytes) {
                return Err(self.out_of_memory(bytes));
            }
        }
        Ok(())
    }

    #[cold]
    fn out_of_memory(&self, bytes: usize) -> OpError {
        let stats = self.heap.stats();
        OpError {
            kind: TrapKind::OutOfMemory,
            message: format!(
                "heap limit of {} bytes reached: {} bytes live after a full collection, {bytes} more requested",
                self.heap.config().limit.unwrap_or(usize::MAX),
                stats.live_bytes
            ),
        }
    }

    /// A string with this content: the interned one for short strings, else a new one.
    pub(crate) fn new_str(&mut self, s: &str) -> Result<Value, OpError> {
        if s.len() > StrObj::INTERN_MAX {
            self.reserve(StrObj::payload_size(s.len()) + 16, &[])?;
            return StrObj::alloc(&mut self.heap, s);
        }
        let hash = StrObj::content_hash(s);
        // SAFETY: entries of the table are live strings.
        let same = |v: &Value| unsafe { StrObj::of(*v) }.as_str() == s;
        if let Some(v) = self.strings.find(hash, same) {
            return Ok(*v);
        }
        self.reserve(StrObj::payload_size(s.len()) + 16, &[])?;
        let v = StrObj::alloc_hashed(&mut self.heap, s, hash)?;
        // SAFETY: entries are live strings, whose cached hash is set.
        self.strings
            .insert_unique(hash, v, |v| unsafe { StrObj::of(*v) }.hash());
        Ok(v)
    }

    /// The canonical string with the content of str `v` (`sys intern`): the one in the intern
    /// table, else `v`, which is added to it (whatever its length; the table is weak).
    pub(crate) fn intern(&mut self, v: Value) -> Value {
        // SAFETY: the caller passes a live str value.
        let obj = unsafe { StrObj::of(v) };
        let hash = obj.hash();
        let text = obj.as_str();
        // SAFETY: entries of the table are live strings.
        let same = |x: &Value| unsafe { StrObj::of(*x) }.as_str() == text;
        if let Some(x) = self.strings.find(hash, same) {
            return *x;
        }
        // SAFETY: entries are live strings, whose cached hash is set.
        self.strings
            .insert_unique(hash, v, |x| unsafe { StrObj::of(*x) }.hash());
        v
    }

    /// `concat`: a new string of `a` then `b`.
    pub(crate) fn new_concat(&mut self, a: Value, b: Value) -> Result<Value, OpError> {
        let (sa, sb) = (objops::string("concat", a)?, objops::string("concat", b)?);
        let len = sa.as_str().len().saturating_add(sb.as_str().len());
        if len <= StrObj::INTERN_MAX {
            let mut buf = [0u8; StrObj::INTERN_MAX];
            buf[..sa.as_str().len()].copy_from_slice(sa.as_str().as_bytes());
            buf[sa.as_str().len()..len].copy_from_slice(sb.as_str().as_bytes());
            // Two whole UTF-8 strings concatenated are UTF-8.
            let text = std::str::from_utf8(&buf[..len])
                .map_err(|_| OpError::type_error("concat: invalid text"))?;
            return self.new_str(text);
        }
        self.reserve(StrObj::payload_size(len) + 16, &[a, b])?;
        // The strings are immutable and were kept alive, so their text is still valid.
        let (sa, sb) = (objops::string("concat", a)?, objops::string("concat", b)?);
        StrObj::alloc_concat(&mut self.heap, sa, sb)
    }

    /// `substr`.
    pub(crate) fn new_substr(
        &mut self,
        s: Value,
        from: Value,
        to: Value,
    ) -> Result<Value, OpError> {
        let (Some(from), Some(to)) = (from.as_int(), to.as_int()) else {
            return Err(OpError::type_error(format!(
                "substr: the range must be ints, got {} and {}",
                from.kind().name(),
                to.kind().name()
            )));
        };
        // Copied out because allocating may collect (the source stays alive, but the
        // borrow checker cannot see that).
        let text = objops::string("substr", s)?.slice(from, to)?.to_owned();
        self.new_str(&text)
    }

    /// `tostr`.
    pub(crate) fn new_text(&mut self, v: Value) -> Result<Value, OpError> {
        if v.tag == Tag::Str as u64 {
            return Ok(v);
        }
        if let Some(i) = v.as_int() {
            // The common case, without building a temporary String.
            let mut buf = [0u8; 20];
            let mut at = buf.len();
            let mut n = i.unsigned_abs();
            loop {
                at -= 1;
                buf[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            let mut out = [0u8; 21];
            let mut len = 0;
            if i < 0 {
                out[0] = b'-';
                len = 1;
            }
            out[len..len + buf.len() - at].copy_from_slice(&buf[at..]);
            len += buf.len() - at;
            // ASCII digits and sign are valid UTF-8.
            let text = std::str::from_utf8(&out[..len]).unwrap_or("");
            return self.new_str(text);
        }
        let text = format_value(v, self);
        self.new_str(&text)
    }

    /// `newarr`.
    pub(crate) fn new_array(&mut self, len: Value, init: Value) -> Result<Value, OpError> {
        let Some(n) = len.as_int() else {
            return Err(OpError::type_error(format!(
                "newarr: the length must be an int, got {}",
                len.kind().name()
            )));
        };
        self.reserve(ArrayObj::size_for(n) + 24, &[init])?;
        ArrayObj::alloc(&mut self.heap, n, init)
    }

    /// `apush`.
    pub(crate) fn array_push(&mut self, arr: Value, v: Value) -> Result<(), OpError> {
        let growth = objops::array("apush", arr)?.push_growth();
        if growth > 0 {
            self.reserve(growth, &[arr, v])?;
        }
        objops::array("apush", arr)?.push(&mut self.heap, v)?;
        write_barrier(&mut self.heap, arr, v);
        Ok(())
    }

    /// `newbytes`.
    pub(crate) fn new_bytes(&mut self, len: Value) -> Result<Value, OpError> {
        let Some(n) = len.as_int() else {
            return Err(OpError::type_error(format!(
                "newbytes: the length must be an int, got {}",
                len.kind().name()
            )));
        };
        self.reserve((n.max(0) as usize).saturating_add(48), &[])?;
        BytesObj::alloc(&mut self.heap, n)
    }

    /// The value of loaded module `module`.
    pub(crate) fn new_module_value(&mut self, module: u32) -> Result<Value, OpError> {
        self.reserve(32, &[])?;
        ModuleObj::alloc(&mut self.heap, module)
    }

    /// `newmap`.
    pub(crate) fn new_map(&mut self) -> Result<Value, OpError> {
        self.reserve(64, &[])?;
        MapObj::alloc(&mut self.heap)
    }

    /// `mset`.
    pub(crate) fn map_set(&mut self, m: Value, k: Value, v: Value) -> Result<(), OpError> {
        let growth = objops::map("mset", m)?.insert_growth();
        if growth > 0 {
            self.reserve(growth, &[m, k, v])?;
        }
        objops::map("mset", m)?.insert(&mut self.heap, k, v)?;
        write_barrier(&mut self.heap, m, k);
        write_barrier(&mut self.heap, m, v);
        Ok(())
    }

    /// `mkeys`.
    pub(crate) fn map_keys(&mut self, m: Value) -> Result<Value, OpError> {
        let n = objops::map("mkeys", m)?.len();
        let arr = self.new_array(Value::int(n as i64), Value::NIL)?;
        // No allocation from here on: the map and the new array cannot be collected, and the
        // array is young (no write barrier needed).
        let keys: Vec<Value> = objops::map("mkeys", m)?.keys().collect();
        let a = objops::array("mkeys", arr)?;
        for (i, k) in keys.into_iter().enumerate() {
            a.set(i as i64, k)?;
        }
        Ok(arr)
    }

    /// `new`: a record of Vm type `ty` with `fields` (or the type's defaults if empty).
    pub(crate) fn new_record(&mut self, ty: u32, fields: &[Value]) -> Result<Value, OpError> {
        let info = &self.record_types[ty as usize];
        let n = info.defaults.len();
        self.reserve(
            crate::tier::alloc_reserve(RecordObj::payload_size(n)),
            fields,
        )?;
        let info = &self.record_types[ty as usize];
        let destructor = info.destructor.is_some();
        if fields.is_empty() {
            RecordObj::alloc(&mut self.heap, info.vtable, &info.defaults, destructor)
        } else {
            RecordObj::alloc(&mut self.heap, info.vtable, fields, destructor)
        }
    }

    /// `closure`: a fn value of `func` capturing `captures`; without captures, the function's
    /// one shared fn value.
    pub(crate) fn new_closure(&mut self, func: u32, captures: &[Value]) -> Result<Value, OpError> {
        if captures.is_empty() {
            let cached = self.fn_cache[func as usize];
            if !cached.is_nil() {
                return Ok(cached);
            }
        }
        self.reserve(
            crate::tier::alloc_reserve(FnObj::payload_size(captures.len())),
            captures,
        )?;
        let v = FnObj::alloc(&mut self.heap, func, captures)?;
        if captures.is_empty() {
            self.fn_cache[func as usize] = v;
        }
        Ok(v)
    }

    /// Runs the destructors of objects a collection found unreachable, each once, with the
    /// object as its argument. A destructor that traps or exits stops the program.
    pub(crate) fn run_destructors(&mut self) -> Result<(), Stop> {
        if self.running_destructors {
            return Ok(());
        }
        self.running_destructors = true;
        let result = self.drain_destructors();
        self.running_destructors = false;
        result
    }

    fn drain_destructors(&mut self) -> Result<(), Stop> {
        while let Some(obj) = self.heap.pop_destructible() {
            let v = Value {
                tag: Tag::Record as u64,
                bits: obj.as_ptr() as u64,
            };
            // SAFETY: only records are ever allocated with a destructor flag.
            let ty = unsafe { RecordObj::of(v) }.type_id();
            let Some(d) = self.record_types[ty as usize].destructor else {
                continue;
            };
            // Between popping and the call's frame holding it, nothing allocates.
            self.call(d, &[v])?;
        }
        Ok(())
    }

    /// Runs every remaining destructor: for the end of a program. Destructors that create new
    /// objects with destructors are followed, up to 100 rounds.
    pub fn finish(&mut self) -> Result<(), Stop> {
        for _ in 0..100 {
            self.heap.queue_all_destructors();
            if !self.heap.has_destructible() {
                break;
            }
            self.run_destructors()?;
        }
        Ok(())
    }

    /// Runs a full collection and the destructors it makes due.
    pub fn collect_garbage(&mut self) -> Result<(), Stop> {
        self.collect_kind(true);
        self.run_destructors()
    }

    /// Collector statistics.
    pub fn gc_stats(&self) -> GcStats {
        self.heap.stats()
    }

    /// Keeps `v` alive across collections until [`Vm::unroot`]; values the host holds between
    /// calls into the Vm must be rooted (or held in a [`Handle`], which unroots itself).
    pub fn root(&mut self, v: Value) -> Root {
        Root(self.host_roots.borrow_mut().add(v))
    }

    /// The value of a root.
    pub fn rooted(&self, r: &Root) -> Value {
        self.host_roots.borrow().get(r.0)
    }

    /// Releases a root.
    pub fn unroot(&mut self, r: Root) {
        self.host_roots.borrow_mut().remove(r.0);
    }

    /// A handle keeping `v` alive across collections for as long as the handle lives.
    pub fn handle(&self, v: Value) -> Handle {
        let slot = self.host_roots.borrow_mut().add(v);
        Handle {
            slot,
            table: self.host_roots.clone(),
        }
    }

    /// Allocates a string. The result is not a root: root it before allocating again.
    pub fn alloc_str(&mut self, s: &str) -> Result<Value, Stop> {
        self.new_str(s)
            .map_err(|e| self.host_trap(e.kind, e.message))
    }

    /// Allocates an array holding `items` (which are kept alive while allocating). The result
    /// is not a root.
    pub fn alloc_array(&mut self, items: &[Value]) -> Result<Value, Stop> {
        let mark = self.temp_roots.len();
        self.temp_roots.extend_from_slice(items);
        let arr = self.new_array(Value::int(items.len() as i64), Value::NIL);
        self.temp_roots.truncate(mark);
        let arr = arr.map_err(|e| self.host_trap(e.kind, e.message))?;
        let a = objops::array("array", arr).map_err(|e| self.host_trap(e.kind, e.message))?;
        // The array is young (nothing allocated since): no write barrier needed.
        for (i, v) in items.iter().enumerate() {
            let _ = a.set(i as i64, *v);
        }
        Ok(arr)
    }

    /// An array of strings, e.g. program arguments.
    pub fn alloc_str_array(&mut self, items: &[String]) -> Result<Value, Stop> {
        let arr = self.alloc_array(&[])?;
        let root = self.root(arr);
        for s in items {
            let v = self.alloc_str(s)?;
            if let Err(e) = self.array_push(arr, v) {
                self.unroot(root);
                return Err(self.host_trap(e.kind, e.message));
            }
        }
        self.unroot(root);
        Ok(arr)
    }

    /// The text form of a value (what `tostr` returns and `sys print` writes).
    pub fn display(&self, v: Value) -> String {
        format_value(v, self)
    }
}

/// The values the host holds ([`Vm::root`], [`Handle`]); free slots are nil and listed in
/// `free`.
#[derive(Default)]
pub(crate) struct RootTable {
    pub(crate) values: Vec<Value>,
    free: Vec<usize>,
}

impl RootTable {
    fn add(&mut self, v: Value) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.values[i] = v;
                i
            }
            None => {
                self.values.push(v);
                self.values.len() - 1
            }
        }
    }

    fn get(&self, i: usize) -> Value {
        self.values[i]
    }

    fn remove(&mut self, i: usize) {
        self.values[i] = Value::NIL;
        self.free.push(i);
    }
}

/// A heap value held by the host: the collector keeps it (and everything it references) alive
/// until the handle is dropped. Get the value with [`Handle::value`] to pass it to the Vm; the
/// value belongs to the Vm that made the handle and must only be used with it.
pub struct Handle {
    slot: usize,
    table: std::rc::Rc<std::cell::RefCell<RootTable>>,
}

impl Handle {
    /// The value held.
    pub fn value(&self) -> Value {
        self.table.borrow().get(self.slot)
    }

    /// Replaces the value held.
    pub fn set(&self, v: Value) {
        self.table.borrow_mut().values[self.slot] = v;
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.table.borrow_mut().remove(self.slot);
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({:?})", self.value())
    }
}

impl NameLookup for Vm {
    fn record_type(&self, id: u32) -> Option<(&str, Vec<&str>)> {
        self.record_types.get(id as usize).map(|r| {
            (
                r.name.as_str(),
                r.fields.iter().map(String::as_str).collect(),
            )
        })
    }

    fn function_name(&self, id: u32) -> Option<&str> {
        self.funcs.get(id as usize).map(|f| f.name.as_str())
    }

    fn module_name(&self, id: u32) -> Option<&str> {
        self.modules.get(id as usize).map(|m| m.name.as_str())
    }
}

impl SysContext for Vm {
    fn stdout(&mut self) -> &mut dyn Write {
        &mut self.out
    }

    fn stderr(&mut self) -> &mut dyn Write {
        &mut self.err
    }

    fn text(&self, v: Value) -> String {
        self.display(v)
    }

    fn alloc_str(&mut self, s: &str) -> Result<Value, OpError> {
        self.new_str(s)
    }

    fn intern_str(&mut self, s: Value) -> Value {
        self.intern(s)
    }

    fn collect_garbage(&mut self) -> Result<(), SysError> {
        self.collect_kind(true);
        match self.run_destructors() {
            Ok(()) => Ok(()),
            Err(Stop::Exit(code)) => Err(SysError::Exit(code)),
            Err(Stop::Trap(t)) => Err(SysError::Nested(t)),
        }
    }

    fn gc_stats(&mut self) -> Result<Value, OpError> {
        let s = self.heap.stats();
        let entries: [(&str, i64); 8] = [
            ("collections", s.collections as i64),
            ("minor_collections", s.minor_collections as i64),
            ("bytes_allocated", s.bytes_allocated as i64),
            ("live_bytes", s.live_bytes as i64),
            ("live_objects", s.live_objects as i64),
            ("peak_bytes", s.peak_bytes as i64),
            ("pause_ns", s.total_pause.as_nanos() as i64),
            ("max_pause_ns", s.max_pause.as_nanos() as i64),
        ];
        let m = self.new_map()?;
        let mark = self.temp_roots.len();
        self.temp_roots.push(m);
        let result = (|| {
            for (k, v) in entries {
                let key = self.new_str(k)?;
                self.map_set(m, key, Value::int(v))?;
            }
            Ok(m)
        })();
        self.temp_roots.truncate(mark);
        result
    }

    fn stdin(&mut self) -> &mut dyn std::io::BufRead {
        &mut self.input
    }

    fn capabilities(&self) -> Capabilities {
        self.config.capabilities
    }

    fn files(&mut self) -> &mut FileTable {
        &mut self.files
    }

    fn program_args(&self) -> &[String] {
        &self.program_args
    }

    fn alloc_bytes(&mut self, data: &[u8]) -> Result<Value, OpError> {
        let b = self.new_bytes(Value::int(data.len() as i64))?;
        objops::bytes("bytes", b)?.as_slice().copy_from_slice(data);
        Ok(b)
    }

    fn alloc_strs(&mut self, items: &[String]) -> Result<Value, OpError> {
        self.alloc_str_array(items).map_err(|stop| match stop {
            Stop::Trap(t) => OpError {
                kind: t.kind,
                message: t.message,
            },
            Stop::Exit(code) => OpError {
                kind: TrapKind::Panic,
                message: format!("unexpected exit {code} while allocating"),
            },
        })
    }

    fn load_module(&mut self, spec: &str) -> Result<Value, SysError> {
        // Modules the guest loads are unloaded again when unreachable.
        self.dynamic_loads += 1;
        let loaded = if spec.ends_with(".sbas") || spec.ends_with(".sbc") {
            self.load_file(std::path::Path::new(spec))
        } else {
            self.load_by_name(spec)
        };
        self.dynamic_loads -= 1;
        match loaded {
            Ok(m) => Ok(self.modules[m].value),
            Err(LinkError::Init { stop, .. }) => match stop {
                Stop::Exit(code) => Err(SysError::Exit(code)),
                Stop::Trap(t) => Err(SysError::Nested(t)),
            },
            Err(e) => Err(SysError::Trap(OpError {
                kind: TrapKind::LinkError,
                message: format!("sys load_module {spec:?}: {e}"),
            })),
        }
    }

    fn module_export(&mut self, module: Value, name: &str) -> Result<Value, SysError> {
        if module.kind() != Tag::Module {
            return Err(SysError::Trap(OpError::type_error(format!(
                "sys module_get: expected a module, got {}",
                module.kind().name()
            ))));
        }
        // SAFETY: module-tagged values refer to live module objects.
        let m = unsafe { ModuleObj::of(module) }.module as usize;
        match self.export(m, name) {
            Some(f) => Ok(self.new_closure(f, &[])?),
            None => Ok(Value::NIL),
        }
    }
}
