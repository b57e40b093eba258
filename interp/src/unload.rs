//! Module lifetime: which loaded modules are reachable, and unloading the others.
//!
//! Modules the host loads (and the modules they import) are *pinned*: they stay loaded as long
//! as the Vm. Modules a guest loads with `sys load_module` (and the modules loaded for their
//! imports) are *collectable*: every full collection decides which of them are still reachable
//! and unloads the rest, freeing their functions' code, their compiled code, their globals,
//! record types, multimethods and `.extern`s, and closing the native libraries only they held.
//!
//! Reachability is traced with the heap's notes ([`sigma_runtime::heap::note`]): a marked fn
//! value notes its function, a record its type, a module value its module; a function or a
//! type notes its module. A module that is noted is live, and it marks what it owns (constants,
//! globals, its functions' shared fn values, native libraries) and notes what it uses (the
//! modules it imports, and the functions and record types of the methods in its multimethods'
//! tables, which may come from other modules or from the host).
//!
//! Invariants:
//! - Every frame, in either tier, holds a fn value of its running function in its self
//!   register (a direct call gets the function's shared fn value, made when the module is
//!   linked), so the register stack, which is a root, keeps every running module loaded.
//! - Nothing is unloaded while a module is being linked (its imports are not yet held by
//!   anything but the linker), so `sys load_module` returns a module that is fully linked.
//! - A slot range (functions, globals, types, multimethods, externs, the module itself) is
//!   reused only after its module was unloaded: then no live value, frame, module or method
//!   table refers to any id in it. Unloading bumps the dispatch epoch, so no call-site cache
//!   keyed by a reused record type id survives.

use sigma_gc::Tracer;
use sigma_runtime::heap::{note, trace_value};
use sigma_runtime::module::{Module, Pattern};
use sigma_runtime::types::Type;
use sigma_runtime::value::Value;

use crate::code::FuncCode;
use crate::tier::ModuleCode;
use crate::vm::{LoadedModule, RecordTypeInfo, Vm};

/// How long a loaded module stays loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleLifetime {
    /// Loaded by the host, or for a module the host loaded: as long as the Vm.
    Pinned,
    /// Loaded by the guest (`sys load_module`), or for such a module: until unreachable.
    Collectable,
    /// Unloaded; the slot is free.
    Unloaded,
}

/// Free id ranges of one Vm table, sorted by start and coalesced.
#[derive(Default, Debug)]
pub(crate) struct FreeRanges {
    ranges: Vec<(u32, u32)>,
}

impl FreeRanges {
    /// The first id of a range of `n` ids for a table of length `end`: the first free range
    /// that fits, else the end of the table (a free range ending there is extended).
    pub(crate) fn take(&mut self, n: u32, end: u32) -> u32 {
        if n == 0 {
            return end;
        }
        if let Some(i) = self.ranges.iter().position(|r| r.1 >= n) {
            let (start, len) = self.ranges[i];
            if len == n {
                self.ranges.remove(i);
            } else {
                self.ranges[i] = (start + n, len - n);
            }
            return start;
        }
        match self.ranges.last() {
            Some(&(start, len)) if start + len == end => {
                self.ranges.pop();
                start
            }
            _ => end,
        }
    }

    /// Returns ids `start..start + n` to the free ranges.
    pub(crate) fn give(&mut self, start: u32, n: u32) {
        if n == 0 {
            return;
        }
        let i = self.ranges.partition_point(|r| r.0 < start);
        self.ranges.insert(i, (start, n));
        if i + 1 < self.ranges.len() && start + n == self.ranges[i + 1].0 {
            self.ranges[i].1 += self.ranges[i + 1].1;
            self.ranges.remove(i + 1);
        }
        if i > 0 && self.ranges[i - 1].0 + self.ranges[i - 1].1 == start {
            self.ranges[i - 1].1 += self.ranges[i].1;
            self.ranges.remove(i);
        }
    }

    /// The number of free ids.
    #[cfg(test)]
    pub(crate) fn free_count(&self) -> u32 {
        self.ranges.iter().map(|r| r.1).sum()
    }
}

/// Free slots of every table a module occupies a range of.
#[derive(Default, Debug)]
pub(crate) struct Slots {
    pub funcs: FreeRanges,
    pub globals: FreeRanges,
    pub types: FreeRanges,
    pub mms: FreeRanges,
    pub externs: FreeRanges,
    pub modules: FreeRanges,
}

/// The slot ranges one module occupies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reserved {
    pub module: usize,
    pub func: u32,
    pub funcs: u32,
    pub global: u32,
    pub globals: u32,
    pub ty: u32,
    pub types: u32,
    pub mm: u32,
    pub mms: u32,
    pub ext: u32,
    pub externs: u32,
}

impl Reserved {
    fn of(index: usize, m: &LoadedModule) -> Reserved {
        Reserved {
            module: index,
            func: m.func_base,
            funcs: m.func_count,
            global: m.global_base,
            globals: m.global_count,
            ty: m.type_base,
            types: m.type_count,
            mm: m.mm_base,
            mms: m.mm_count,
            ext: m.extern_base,
            externs: m.extern_count,
        }
    }
}

/// Grows `table` with `fill()` to at least `len` entries.
fn grow<T>(table: &mut Vec<T>, len: usize, fill: impl Fn() -> T) {
    while table.len() < len {
        table.push(fill());
    }
}

fn unloaded_type() -> RecordTypeInfo {
    RecordTypeInfo {
        name: String::new(),
        name_value: Value::NIL,
        fields: Vec::new(),
        defaults: Vec::new(),
        destructor: None,
        module: usize::MAX,
        vtable: sigma_runtime::heap::record_vtable(u32::MAX, 0),
    }
}

fn unloaded_multimethod() -> crate::dispatch::MultimethodInfo {
    crate::dispatch::MultimethodInfo {
        name: String::new(),
        module: usize::MAX,
        table: sigma_runtime::dispatch::MethodTable::new(0),
    }
}

fn unloaded_extern() -> sigma_runtime::ffi::ExternFn {
    sigma_runtime::ffi::ExternFn::new(
        String::new(),
        Vec::new(),
        sigma_runtime::ffi::CType::Void,
        None,
    )
}

fn unloaded_code() -> ModuleCode {
    ModuleCode {
        module: std::rc::Rc::new(Module::default()),
        info: std::rc::Rc::default(),
        type_map: Vec::new(),
        func_map: Vec::new(),
        global_map: Vec::new(),
    }
}

/// What a module owns and uses, as split borrows of the Vm (the heap is borrowed apart while
/// collecting).
pub(crate) struct ModuleGraph<'a> {
    pub modules: &'a [LoadedModule],
    pub funcs: &'a [Box<FuncCode>],
    pub globals: &'a [Value],
    pub fn_cache: &'a [Value],
    pub record_types: &'a [RecordTypeInfo],
    pub multimethods: &'a [crate::dispatch::MultimethodInfo],
}

impl ModuleGraph<'_> {
    /// Marks what module `m` owns and notes what it uses.
    ///
    /// # Safety
    /// The module's values must be live (it is loaded).
    pub(crate) unsafe fn mark_module(&self, m: usize, t: &mut Tracer) {
        let Some(lm) = self.modules.get(m) else {
            return;
        };
        let range = |base: u32, n: u32| base as usize..(base + n) as usize;
        // SAFETY: a loaded module's constants, value, libraries, globals, shared fn values
        // and type names are live values (roots while it is loaded).
        unsafe {
            for v in &lm.consts {
                trace_value(*v, t);
            }
            trace_value(lm.value, t);
            for v in &lm.natives {
                trace_value(*v, t);
            }
            for v in &self.globals[range(lm.global_base, lm.global_count)] {
                trace_value(*v, t);
            }
            for v in &self.fn_cache[range(lm.func_base, lm.func_count)] {
                trace_value(*v, t);
            }
            for r in &self.record_types[range(lm.type_base, lm.type_count)] {
                trace_value(r.name_value, t);
            }
        }
        for &i in &lm.imports {
            t.note(note::encode(note::MODULE, i as u32));
        }
        for mm in &self.multimethods[range(lm.mm_base, lm.mm_count)] {
            for meth in mm.table.methods() {
                t.note(note::encode(note::FUNC, meth.func));
                for p in &meth.patterns {
                    if let Pattern::Type(Type::Record(id)) = p {
                        t.note(note::encode(note::TYPE, *id));
                    }
                }
            }
        }
    }

    /// Handles the notes taken since the last call: functions and types note their modules,
    /// noted modules become live (`live`) and are marked.
    pub(crate) fn follow_notes(&self, t: &mut Tracer, live: &mut [bool]) {
        loop {
            let notes = t.take_notes();
            if notes.is_empty() {
                return;
            }
            for n in notes {
                let (space, id) = note::decode(n);
                let id = id as usize;
                let module = match space {
                    note::FUNC => self.funcs.get(id).map(|f| f.module),
                    note::TYPE => self.record_types.get(id).map(|r| r.module),
                    _ => Some(id),
                };
                let Some(m) = module.filter(|&m| m < live.len()) else {
                    continue;
                };
                if space != note::MODULE {
                    t.note(note::encode(note::MODULE, m as u32));
                    continue;
                }
                if !live[m] {
                    live[m] = true;
                    // SAFETY: `m` is a loaded module (unloaded slots own nothing).
                    unsafe { self.mark_module(m, t) };
                }
            }
        }
    }
}

impl Vm {
    /// Takes slot ranges for `module`'s functions, globals, types, multimethods and externs and
    /// a module index, growing the tables with placeholders as needed.
    pub(crate) fn reserve_slots(&mut self, module: &Module) -> Reserved {
        let n = |x: usize| x as u32;
        let r = Reserved {
            module: self
                .slots
                .modules
                .take(1, n(self.modules.len()))
                .try_into()
                .unwrap_or(usize::MAX),
            func: self
                .slots
                .funcs
                .take(n(module.functions.len()), n(self.funcs.len())),
            funcs: n(module.functions.len()),
            global: self
                .slots
                .globals
                .take(n(module.globals.len()), n(self.globals.len())),
            globals: n(module.globals.len()),
            ty: self
                .slots
                .types
                .take(n(module.types.len()), n(self.record_types.len())),
            types: n(module.types.len()),
            mm: self
                .slots
                .mms
                .take(n(module.multimethods.len()), n(self.multimethods.len())),
            mms: n(module.multimethods.len()),
            ext: self
                .slots
                .externs
                .take(n(module.externs.len()), n(self.externs.len())),
            externs: n(module.externs.len()),
        };
        let end = |base: u32, count: u32| (base + count) as usize;
        grow(&mut self.modules, r.module + 1, LoadedModule::unloaded);
        grow(&mut self.module_code, r.module + 1, unloaded_code);
        let funcs_end = end(r.func, r.funcs);
        grow(
            &mut self.funcs,
            funcs_end,
            || Box::new(FuncCode::unloaded()),
        );
        grow(&mut self.fn_cache, funcs_end, || Value::NIL);
        grow(&mut self.native, funcs_end, || None);
        grow(&mut self.fn_info, funcs_end, || 0);
        grow(&mut self.globals, end(r.global, r.globals), || Value::NIL);
        grow(&mut self.global_types, end(r.global, r.globals), || {
            Type::Any
        });
        grow(&mut self.record_types, end(r.ty, r.types), unloaded_type);
        grow(
            &mut self.multimethods,
            end(r.mm, r.mms),
            unloaded_multimethod,
        );
        grow(&mut self.externs, end(r.ext, r.externs), unloaded_extern);
        // The tables may have moved: compiled code reads them through the context.
        self.ctx.globals = self.globals.as_mut_ptr();
        self.ctx.native = self.native.as_ptr();
        self.ctx.fn_info = self.fn_info.as_ptr();
        r
    }

    /// Resets the slots of `r` to placeholders and makes them free for reuse.
    pub(crate) fn release_slots(&mut self, r: &Reserved) {
        let range = |base: u32, n: u32| base as usize..(base + n) as usize;
        for f in range(r.func, r.funcs) {
            *self.funcs[f] = FuncCode::unloaded();
            self.fn_cache[f] = Value::NIL;
            self.native[f] = None;
        }
        for g in range(r.global, r.globals) {
            self.globals[g] = Value::NIL;
            self.global_types[g] = Type::Any;
        }
        for t in range(r.ty, r.types) {
            self.record_types[t] = unloaded_type();
        }
        for m in range(r.mm, r.mms) {
            self.multimethods[m] = unloaded_multimethod();
        }
        for x in range(r.ext, r.externs) {
            self.externs[x] = unloaded_extern();
        }
        self.modules[r.module] = LoadedModule::unloaded();
        self.module_code[r.module] = unloaded_code();
        self.slots.funcs.give(r.func, r.funcs);
        self.slots.globals.give(r.global, r.globals);
        self.slots.types.give(r.ty, r.types);
        self.slots.mms.give(r.mm, r.mms);
        self.slots.externs.give(r.ext, r.externs);
        self.slots.modules.give(r.module as u32, 1);
    }

    /// Unloads every collectable module not in `live` (what the collection just found).
    pub(crate) fn unload_unreachable(&mut self, live: &[bool]) {
        let dead: Vec<usize> = (0..self.modules.len())
            .filter(|&m| {
                self.modules[m].lifetime == ModuleLifetime::Collectable
                    && !live.get(m).copied().unwrap_or(false)
            })
            .collect();
        if dead.is_empty() {
            return;
        }
        for m in dead {
            self.unload(m);
        }
        // Call-site caches may be keyed by record type ids that are now free.
        self.bump_dispatch_epoch();
    }

    /// Unloads module `m`: its values were not marked by the collection that just ran (they
    /// are freed), so only its tables remain to be reset.
    fn unload(&mut self, m: usize) {
        let lm = &self.modules[m];
        let r = Reserved::of(m, lm);
        let (serial, bytes) = (lm.serial, lm.external_bytes);
        if self.config.jit.trace {
            eprintln!("jit: unloading module {}", lm.name);
        }
        self.loaded_paths.retain(|_, v| *v != m);
        if let Some(tier) = self.tier.as_mut() {
            tier.release(serial);
        }
        self.heap.sub_external(bytes);
        self.release_slots(&r);
        self.collectable_modules -= 1;
        self.modules_unloaded += 1;
    }

    /// The number of modules loaded now.
    pub fn module_count(&self) -> usize {
        self.modules
            .iter()
            .filter(|m| m.lifetime != ModuleLifetime::Unloaded)
            .count()
    }

    /// How many modules the collector has unloaded so far.
    pub fn modules_unloaded(&self) -> u64 {
        self.modules_unloaded
    }

    /// The number of function slots the Vm has (in use or free for reuse): bounded by the
    /// most functions loaded at once, however many modules were loaded and unloaded.
    pub fn function_slots(&self) -> usize {
        self.funcs.len()
    }

    /// The number of modules whose compiled code the compiling tier holds.
    pub fn compiled_modules(&self) -> usize {
        self.tier.as_ref().map_or(0, |t| t.groups())
    }
}

#[cfg(test)]
mod tests {
    use super::FreeRanges;

    #[test]
    fn free_ranges_reuse_first_fit_and_coalesce() {
        let mut f = FreeRanges::default();
        assert_eq!(f.take(3, 10), 10, "nothing free: the table grows");
        f.give(2, 3);
        f.give(7, 2);
        assert_eq!(f.free_count(), 5);
        assert_eq!(f.take(2, 10), 2, "first fit");
        assert_eq!(f.take(2, 10), 7, "the remaining 1 at 4 is too small");
        assert_eq!(f.free_count(), 1);
        f.give(5, 2);
        f.give(2, 2);
        // 2..7 is one range again.
        assert_eq!(f.take(5, 10), 2);
        assert_eq!(f.free_count(), 0);
        f.give(8, 2);
        assert_eq!(f.take(4, 10), 8, "a free range at the end is extended");
        assert_eq!(f.take(0, 10), 10);
    }
}
