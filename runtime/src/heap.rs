//! Heap object kinds: their layouts in `sigma-gc` blocks, how they trace their references, and
//! the operations on them that both execution tiers share (bounds-checked indexing, string
//! slicing, map keys, little-endian byte access).
//!
//! Layouts (payload after the 16-byte `GcHeader`):
//! - `str`: [`StrObj`] (byte length, char count) then the UTF-8 bytes, immutable.
//! - `bytes`: [`BytesObj`] (length) then the bytes.
//! - `array`: [`ArrayObj`] holding a `Vec<Value>`; its buffer is accounted as external memory.
//! - `record`: the field values; the type id and field count are in the type's
//!   [`RecordVTable`], which the header's vtable pointer points at.
//! - `map`: [`MapObj`] holding an insertion-ordered hash map; accounted as external memory.
//! - `fn`: [`FnObj`] (function id, capture count) then the captured values.
//! - `native`: [`crate::ffi::NativeLibObj`] (an opened shared library; closed on release).
//! - `module`: [`ModuleObj`] (the Vm's index of a loaded module); one per module.
//!
//! Invariants: a value with a reference tag has as payload the address of a live block whose
//! header `kind` is the matching [`ObjKind`]; every reference an object holds is reported by its
//! trace function. Functions here that take `&mut Heap` only allocate; the caller is responsible
//! for collecting first (with its roots) and for the heap limit. Every store of a value into an
//! existing object is followed by [`write_barrier`] (the collector is generational), except
//! while initializing an object no collection has seen yet.

use std::cell::Cell;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ptr::NonNull;
use std::sync::OnceLock;

use indexmap::IndexMap;
use sigma_gc::{AllocError, GcHeader, Heap, ObjVTable, Tracer};

use crate::trap::{OpError, TrapKind};
use crate::value::{Tag, Value};

/// The kind byte stored in each object's GC header.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjKind {
    /// [`StrObj`].
    Str = 1,
    /// [`BytesObj`].
    Bytes = 2,
    /// [`ArrayObj`].
    Array = 3,
    /// [`RecordObj`].
    Record = 4,
    /// [`MapObj`].
    Map = 5,
    /// [`FnObj`].
    Fn = 6,
    /// [`crate::ffi::NativeLibObj`]: an opened shared library.
    Native = 7,
    /// [`ModuleObj`].
    Module = 9,
}

/// The header of the object a reference value points at.
///
/// # Safety
/// `v` must be a reference value (tag ≥ `Tag::FIRST_REF`) of a live object.
#[inline(always)]
pub unsafe fn header_of(v: Value) -> NonNull<GcHeader> {
    // SAFETY: reference payloads are non-null block addresses (module invariant).
    unsafe { NonNull::new_unchecked(v.bits as *mut GcHeader) }
}

#[inline(always)]
unsafe fn payload<'a, T>(v: Value) -> &'a mut T {
    // SAFETY: the caller guarantees `v` refers to a live object whose payload is a `T`.
    unsafe { &mut *(GcHeader::payload(header_of(v)) as *mut T) }
}

fn value_of(tag: Tag, obj: NonNull<GcHeader>) -> Value {
    Value {
        tag: tag as u64,
        bits: obj.as_ptr() as u64,
    }
}

/// The write barrier of every store of a value into a heap object (record field, array
/// element, map entry, closure capture), in both tiers: call it after storing `stored` into
/// `obj`. If `stored` is a reference and `obj` is old, `obj` joins the heap's remembered set
/// (see [`Heap::write_barrier`]), so the next minor collection traces it. Compiled code inlines
/// the test (the stored tag is a reference, the header's mark is nonzero and its
/// [`GcHeader::REMEMBERED`] flag clear) and runs the interpreter's instruction, which calls
/// this, when it holds.
#[inline(always)]
pub fn write_barrier(heap: &mut Heap, obj: Value, stored: Value) {
    if stored.tag >= Tag::FIRST_REF && obj.tag >= Tag::FIRST_REF {
        // SAFETY: a value with a reference tag refers to a live object (module invariant).
        unsafe { heap.write_barrier(header_of(obj)) }
    }
}

/// Notes ([`Tracer::note`]) that objects report while traced, so the Vm keeps the code and
/// types they depend on loaded: a fn value notes its function, a record its type, a module
/// value its module. A note is `id * 4 + space`.
pub mod note {
    /// A Vm function id.
    pub const FUNC: u32 = 0;
    /// A Vm module index.
    pub const MODULE: u32 = 1;
    /// A Vm record type id.
    pub const TYPE: u32 = 2;

    /// The note for `id` in `space`.
    #[inline(always)]
    pub fn encode(space: u32, id: u32) -> u32 {
        id.wrapping_mul(4) | space
    }

    /// The space and id of a note.
    #[inline(always)]
    pub fn decode(n: u32) -> (u32, u32) {
        (n & 3, n >> 2)
    }
}

/// Reports a value's reference, if it holds one.
///
/// # Safety
/// If `v` is a reference value, it must refer to a live object.
#[inline]
pub unsafe fn trace_value(v: Value, t: &mut Tracer) {
    if v.tag >= Tag::FIRST_REF {
        // SAFETY: guaranteed by the caller.
        unsafe { t.mark(header_of(v)) };
    }
}

fn oom(e: AllocError) -> OpError {
    OpError {
        kind: TrapKind::OutOfMemory,
        message: format!("cannot allocate {} bytes", e.requested),
    }
}

fn out_of_bounds(what: &str, index: i64, len: usize) -> OpError {
    OpError {
        kind: TrapKind::OutOfBounds,
        message: format!("{what}: index {index} out of bounds for length {len}"),
    }
}

// ---------------------------------------------------------------------------------------------
// str

/// An immutable UTF-8 string; the bytes follow this struct in the block.
#[repr(C)]
pub struct StrObj {
    len: usize,
    chars: usize,
    /// Hash of the contents, computed on first use as a map key (0 = not yet).
    hash: Cell<u64>,
}

/// The process-wide string hasher (randomly seeded, so guests cannot predict collisions).
fn string_hasher() -> &'static foldhash::fast::RandomState {
    static STATE: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    STATE.get_or_init(foldhash::fast::RandomState::default)
}

static STR_VTABLE: ObjVTable = ObjVTable {
    trace: None,
    release: None,
};

impl StrObj {
    /// Block payload size for a string of `len` bytes.
    pub fn payload_size(len: usize) -> usize {
        std::mem::size_of::<StrObj>().saturating_add(len)
    }

    /// Strings up to this many bytes are interned by the Vm (one object per content).
    pub const INTERN_MAX: usize = 40;

    /// The hash [`StrObj::hash`] returns for a string with this content.
    pub fn content_hash(text: &str) -> u64 {
        string_hasher().hash_one(text.as_bytes()) | 1
    }

    /// Allocates a string whose content hash is already known (no collection).
    pub fn alloc_hashed(heap: &mut Heap, text: &str, hash: u64) -> Result<Value, OpError> {
        let v = Self::alloc(heap, text)?;
        // SAFETY: just allocated.
        unsafe { Self::of(v) }.hash.set(hash);
        Ok(v)
    }

    /// Allocates a string (no collection).
    pub fn alloc(heap: &mut Heap, text: &str) -> Result<Value, OpError> {
        let obj = heap
            .alloc(
                Self::payload_size(text.len()),
                &STR_VTABLE,
                ObjKind::Str as u8,
                0,
            )
            .map_err(oom)?;
        // SAFETY: fresh block with room for the header struct and `len` bytes.
        unsafe {
            let p = GcHeader::payload(obj) as *mut StrObj;
            p.write(StrObj {
                len: text.len(),
                chars: text.chars().count(),
                hash: Cell::new(0),
            });
            std::ptr::copy_nonoverlapping(text.as_ptr(), p.add(1) as *mut u8, text.len());
        }
        Ok(value_of(Tag::Str, obj))
    }

    /// Allocates the concatenation of `a` and `b` (no collection), copying each once.
    pub fn alloc_concat(heap: &mut Heap, sa: &StrObj, sb: &StrObj) -> Result<Value, OpError> {
        let (a, b) = (sa.as_str(), sb.as_str());
        let len = a.len().saturating_add(b.len());
        let obj = heap
            .alloc(Self::payload_size(len), &STR_VTABLE, ObjKind::Str as u8, 0)
            .map_err(oom)?;
        // SAFETY: fresh block with room for the header struct and `len` bytes; `a` and `b` are
        // other live objects (or host strings), so they do not overlap it.
        unsafe {
            let p = GcHeader::payload(obj) as *mut StrObj;
            p.write(StrObj {
                len,
                chars: sa.chars + sb.chars,
                hash: Cell::new(0),
            });
            let data = p.add(1) as *mut u8;
            std::ptr::copy_nonoverlapping(a.as_ptr(), data, a.len());
            std::ptr::copy_nonoverlapping(b.as_ptr(), data.add(a.len()), b.len());
        }
        Ok(value_of(Tag::Str, obj))
    }

    /// The string object a str value refers to.
    ///
    /// # Safety
    /// `v` must be a live `str` value; the borrow must not outlive the object.
    #[inline]
    pub unsafe fn of<'a>(v: Value) -> &'a StrObj {
        // SAFETY: guaranteed by the caller.
        unsafe { payload::<StrObj>(v) }
    }

    /// The text of the string object at address `bits`.
    ///
    /// # Safety
    /// `bits` must be the payload of a live `Tag::Str` value, and the object must outlive the
    /// returned borrow.
    pub unsafe fn text_of<'a>(bits: u64) -> &'a str {
        // SAFETY: guaranteed by the caller.
        unsafe {
            Self::of(Value {
                tag: Tag::Str as u64,
                bits,
            })
            .as_str()
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: the bytes following the struct were copied from a `&str` of `len` bytes.
        unsafe {
            let data = (self as *const StrObj).add(1) as *const u8;
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(data, self.len))
        }
    }

    /// Hash of the contents (cached after the first call).
    #[inline]
    pub fn hash(&self) -> u64 {
        let h = self.hash.get();
        if h != 0 {
            return h;
        }
        let h = Self::content_hash(self.as_str());
        self.hash.set(h);
        h
    }

    /// Length in characters.
    pub fn char_len(&self) -> usize {
        self.chars
    }

    fn is_ascii(&self) -> bool {
        self.chars == self.len
    }

    /// The character at char index `i`.
    pub fn char_at(&self, i: i64) -> Result<char, OpError> {
        if i < 0 || i as usize >= self.chars {
            return Err(out_of_bounds("sget", i, self.chars));
        }
        let i = i as usize;
        Ok(if self.is_ascii() {
            self.as_str().as_bytes()[i] as char
        } else {
            self.as_str().chars().nth(i).unwrap_or('\u{fffd}')
        })
    }

    /// The substring of chars `[from, to)`.
    pub fn slice(&self, from: i64, to: i64) -> Result<&str, OpError> {
        let n = self.chars as i64;
        if from < 0 || to < from || to > n {
            return Err(OpError {
                kind: TrapKind::OutOfBounds,
                message: format!("substr: range {from}..{to} out of bounds for length {n}"),
            });
        }
        let s = self.as_str();
        if self.is_ascii() {
            return Ok(&s[from as usize..to as usize]);
        }
        let byte = |ci: i64| {
            s.char_indices()
                .nth(ci as usize)
                .map_or(s.len(), |(b, _)| b)
        };
        Ok(&s[byte(from)..byte(to)])
    }
}

// ---------------------------------------------------------------------------------------------
// bytes

/// A fixed-length mutable byte buffer; the bytes follow this struct in the block.
#[repr(C)]
pub struct BytesObj {
    len: usize,
}

static BYTES_VTABLE: ObjVTable = ObjVTable {
    trace: None,
    release: None,
};

/// Widths and interpretations of `ld.*` / `st.*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mem {
    /// Signed 8-bit.
    I8,
    /// Unsigned 8-bit.
    U8,
    /// Signed 16-bit.
    I16,
    /// Unsigned 16-bit.
    U16,
    /// Signed 32-bit.
    I32,
    /// Unsigned 32-bit.
    U32,
    /// 64-bit.
    I64,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
}

impl Mem {
    /// Width in bytes.
    pub fn width(self) -> usize {
        match self {
            Mem::I8 | Mem::U8 => 1,
            Mem::I16 | Mem::U16 => 2,
            Mem::I32 | Mem::U32 | Mem::F32 => 4,
            Mem::I64 | Mem::F64 => 8,
        }
    }

    /// Whether values are floats.
    pub fn is_float(self) -> bool {
        matches!(self, Mem::F32 | Mem::F64)
    }
}

impl BytesObj {
    /// Allocates `len` zero bytes (no collection).
    pub fn alloc(heap: &mut Heap, len: i64) -> Result<Value, OpError> {
        if len < 0 {
            return Err(OpError {
                kind: TrapKind::OutOfBounds,
                message: format!("newbytes: negative length {len}"),
            });
        }
        let size = std::mem::size_of::<BytesObj>().saturating_add(len as usize);
        let obj = heap
            .alloc(size, &BYTES_VTABLE, ObjKind::Bytes as u8, 0)
            .map_err(oom)?;
        // SAFETY: fresh, zeroed block with room for the struct and `len` bytes.
        unsafe { (GcHeader::payload(obj) as *mut BytesObj).write(BytesObj { len: len as usize }) };
        Ok(value_of(Tag::Bytes, obj))
    }

    /// The bytes object a bytes value refers to.
    ///
    /// # Safety
    /// `v` must be a live `bytes` value.
    #[inline]
    pub unsafe fn of<'a>(v: Value) -> &'a mut BytesObj {
        // SAFETY: guaranteed by the caller.
        unsafe { payload::<BytesObj>(v) }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The contents.
    pub fn as_slice(&mut self) -> &mut [u8] {
        // SAFETY: `len` bytes follow the struct in the block.
        unsafe {
            std::slice::from_raw_parts_mut((self as *mut BytesObj).add(1) as *mut u8, self.len)
        }
    }

    fn range(&self, op: &str, off: i64, width: usize) -> Result<usize, OpError> {
        if off < 0 || (off as u64).saturating_add(width as u64) > self.len as u64 {
            return Err(OpError {
                kind: TrapKind::OutOfBounds,
                message: format!(
                    "{op}: {width}-byte access at offset {off} out of bounds for length {}",
                    self.len
                ),
            });
        }
        Ok(off as usize)
    }

    /// Loads a little-endian value at byte offset `off`.
    pub fn load(&mut self, mem: Mem, off: i64) -> Result<Value, OpError> {
        let at = self.range("ld", off, mem.width())?;
        let b = &self.as_slice()[at..at + mem.width()];
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        let raw = u64::from_le_bytes(w);
        Ok(match mem {
            Mem::I8 => Value::int(raw as u8 as i8 as i64),
            Mem::U8 => Value::int(raw as u8 as i64),
            Mem::I16 => Value::int(raw as u16 as i16 as i64),
            Mem::U16 => Value::int(raw as u16 as i64),
            Mem::I32 => Value::int(raw as u32 as i32 as i64),
            Mem::U32 => Value::int(raw as u32 as i64),
            Mem::I64 => Value::int(raw as i64),
            Mem::F32 => Value::float(f32::from_bits(raw as u32) as f64),
            Mem::F64 => Value::float(f64::from_bits(raw)),
        })
    }

    /// Stores `v` little-endian at byte offset `off` (ints are truncated to the width).
    pub fn store(&mut self, mem: Mem, off: i64, v: Value) -> Result<(), OpError> {
        let raw = match (mem.is_float(), v.kind()) {
            (false, Tag::Int) => v.bits,
            (true, Tag::Float) if mem == Mem::F32 => {
                (v.as_float_unchecked() as f32).to_bits() as u64
            }
            (true, Tag::Float) => v.bits,
            (want_float, k) => {
                return Err(OpError::type_error(format!(
                    "st: expected {}, got {}",
                    if want_float { "float" } else { "int" },
                    k.name()
                )))
            }
        };
        let at = self.range("st", off, mem.width())?;
        let w = mem.width();
        self.as_slice()[at..at + w].copy_from_slice(&raw.to_le_bytes()[..w]);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// array

/// A growable array of values. The element buffer is held as raw parts with a fixed
/// `#[repr(C)]` layout (see [`layout`]) so compiled code can index it inline; it is managed as a
/// `Vec<Value>` whenever it changes size.
#[repr(C)]
pub struct ArrayObj {
    ptr: *mut Value,
    len: usize,
    cap: usize,
}

unsafe fn trace_array(obj: NonNull<GcHeader>, t: &mut Tracer) {
    // SAFETY: called on live array objects, whose items are live values.
    unsafe {
        let a = &*(GcHeader::payload(obj) as *const ArrayObj);
        for v in a.items() {
            trace_value(*v, t);
        }
    }
}

unsafe fn release_array(obj: NonNull<GcHeader>) -> usize {
    // SAFETY: called once on a live array object just before its cell is freed; the parts came
    // from a `Vec<Value>`.
    unsafe {
        let a = &mut *(GcHeader::payload(obj) as *mut ArrayObj);
        let cap = a.cap;
        drop(a.take_vec());
        cap * VALUE_SIZE
    }
}

static ARRAY_VTABLE: ObjVTable = ObjVTable {
    trace: Some(trace_array),
    release: Some(release_array),
};

const VALUE_SIZE: usize = std::mem::size_of::<Value>();

impl ArrayObj {
    fn from_vec(v: Vec<Value>) -> ArrayObj {
        let mut v = std::mem::ManuallyDrop::new(v);
        ArrayObj {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            cap: v.capacity(),
        }
    }

    /// Takes the buffer out as a `Vec` (leaving the array empty).
    ///
    /// # Safety
    /// The parts must have come from a `Vec<Value>` (as every constructor guarantees).
    unsafe fn take_vec(&mut self) -> Vec<Value> {
        // SAFETY: guaranteed by the caller.
        let v = unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) };
        *self = ArrayObj::from_vec(Vec::new());
        v
    }

    /// Runs `f` on the buffer as a `Vec` and stores the parts back.
    fn with_vec<R>(&mut self, f: impl FnOnce(&mut Vec<Value>) -> R) -> R {
        // SAFETY: the parts always come from a `Vec<Value>`.
        let mut v = unsafe { self.take_vec() };
        let r = f(&mut v);
        *self = ArrayObj::from_vec(v);
        r
    }

    /// Allocates an array of `len` copies of `init` (no collection).
    pub fn alloc(heap: &mut Heap, len: i64, init: Value) -> Result<Value, OpError> {
        if len < 0 {
            return Err(OpError {
                kind: TrapKind::OutOfBounds,
                message: format!("newarr: negative length {len}"),
            });
        }
        let mut items = Vec::new();
        items.try_reserve_exact(len as usize).map_err(|_| {
            oom(AllocError {
                requested: (len as usize).saturating_mul(VALUE_SIZE),
            })
        })?;
        items.resize(len as usize, init);
        let external = items.capacity() * VALUE_SIZE;
        let obj = heap
            .alloc(
                std::mem::size_of::<ArrayObj>(),
                &ARRAY_VTABLE,
                ObjKind::Array as u8,
                0,
            )
            .map_err(oom)?;
        // SAFETY: fresh cell sized for an `ArrayObj`.
        unsafe { (GcHeader::payload(obj) as *mut ArrayObj).write(ArrayObj::from_vec(items)) };
        heap.add_external(external);
        Ok(value_of(Tag::Array, obj))
    }

    /// Bytes a new array of `len` elements needs, for collection triggers.
    pub fn size_for(len: i64) -> usize {
        std::mem::size_of::<ArrayObj>() + (len.max(0) as usize).saturating_mul(VALUE_SIZE)
    }

    /// The array object an array value refers to.
    ///
    /// # Safety
    /// `v` must be a live `array` value.
    #[inline]
    pub unsafe fn of<'a>(v: Value) -> &'a mut ArrayObj {
        // SAFETY: guaranteed by the caller.
        unsafe { payload::<ArrayObj>(v) }
    }

    /// The elements.
    pub fn items(&self) -> &[Value] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` holds `len` initialized values.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    fn items_mut(&mut self) -> &mut [Value] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: as for `items`, uniquely borrowed.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Element `i`.
    #[inline]
    pub fn get(&self, i: i64) -> Result<Value, OpError> {
        match usize::try_from(i).ok().and_then(|i| self.items().get(i)) {
            Some(v) => Ok(*v),
            None => Err(out_of_bounds("aget", i, self.len)),
        }
    }

    /// Sets element `i`.
    #[inline]
    pub fn set(&mut self, i: i64, v: Value) -> Result<(), OpError> {
        let len = self.len;
        match usize::try_from(i)
            .ok()
            .and_then(|i| self.items_mut().get_mut(i))
        {
            Some(slot) => {
                *slot = v;
                Ok(())
            }
            None => Err(out_of_bounds("aset", i, len)),
        }
    }

    /// Appends `v`, accounting buffer growth in `heap`.
    pub fn push(&mut self, heap: &mut Heap, v: Value) -> Result<(), OpError> {
        let before = self.cap;
        self.with_vec(|items| {
            items.try_reserve(1).map_err(|_| {
                oom(AllocError {
                    requested: before.saturating_mul(2 * VALUE_SIZE),
                })
            })?;
            items.push(v);
            Ok(())
        })?;
        if self.cap > before {
            heap.add_external((self.cap - before) * VALUE_SIZE);
        }
        Ok(())
    }

    /// Bytes a push may add to the heap.
    pub fn push_growth(&self) -> usize {
        if self.len < self.cap {
            0
        } else {
            self.cap.max(4) * VALUE_SIZE
        }
    }

    /// Removes and returns the last element.
    pub fn pop(&mut self) -> Result<Value, OpError> {
        self.with_vec(|items| items.pop()).ok_or_else(|| OpError {
            kind: TrapKind::OutOfBounds,
            message: "apop: array is empty".into(),
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

// ---------------------------------------------------------------------------------------------
// record

/// The vtable of one record type's objects: the heap's operations, then the type's id and
/// field count. A record's header points at its type's vtable, so a record's cell holds nothing
/// but the header and the field values (a pair of two fields is a 48-byte cell).
#[repr(C)]
pub struct RecordVTable {
    base: ObjVTable,
    /// The Vm's id of the record type.
    pub type_id: u32,
    /// The number of fields.
    pub nfields: u32,
}

unsafe fn trace_record(obj: NonNull<GcHeader>, t: &mut Tracer) {
    // SAFETY: called on live record objects, whose fields are live values.
    unsafe {
        let r = &*(GcHeader::payload(obj) as *const RecordObj);
        t.note(note::encode(note::TYPE, r.type_id()));
        for v in r.fields() {
            trace_value(*v, t);
        }
    }
}

/// The vtable of records of type `type_id` with `nfields` fields: one per pair, made on first
/// use and never freed, because a dead record in a page not swept yet (or the heap's drop)
/// still reads its vtable after its type was unloaded, and type ids are reused after unloading.
/// Only linking calls this (once per record type), so the lock is not on any hot path; the
/// table is bounded by the distinct (id, field count) pairs a process ever declares.
pub fn record_vtable(type_id: u32, nfields: u32) -> &'static RecordVTable {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type Table = Mutex<HashMap<(u32, u32), &'static RecordVTable>>;
    static TABLE: OnceLock<Table> = OnceLock::new();
    let mut table = TABLE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    table.entry((type_id, nfields)).or_insert_with(|| {
        Box::leak(Box::new(RecordVTable {
            base: ObjVTable {
                trace: Some(trace_record),
                release: None,
            },
            type_id,
            nfields,
        }))
    })
}

/// A record: an instance of a declared record type. This zero-sized struct stands at the
/// payload address; the field values start there, and the type's id and field count are in
/// the [`RecordVTable`] the header points at.
#[repr(C)]
pub struct RecordObj {
    fields: [Value; 0],
}

impl RecordObj {
    /// Block payload size for `n` fields.
    pub fn payload_size(n: usize) -> usize {
        n * VALUE_SIZE
    }

    /// Allocates a record of the type of `vtable` with the given field values (no collection).
    /// `destructor` marks objects whose type has a destructor.
    pub fn alloc(
        heap: &mut Heap,
        vtable: &'static RecordVTable,
        fields: &[Value],
        destructor: bool,
    ) -> Result<Value, OpError> {
        if fields.len() != vtable.nfields as usize {
            return Err(OpError::type_error(format!(
                "new: record type {} has {} fields, not {}",
                vtable.type_id,
                vtable.nfields,
                fields.len()
            )));
        }
        let flags = if destructor {
            GcHeader::HAS_DESTRUCTOR
        } else {
            0
        };
        // SAFETY: the block below writes the whole payload (every field).
        let obj = unsafe {
            heap.alloc_uninit(
                Self::payload_size(fields.len()),
                &vtable.base,
                ObjKind::Record as u8,
                flags,
            )
        }
        .map_err(oom)?;
        // SAFETY: fresh block sized for `fields.len()` values.
        unsafe {
            std::ptr::copy_nonoverlapping(
                fields.as_ptr(),
                GcHeader::payload(obj) as *mut Value,
                fields.len(),
            );
        }
        Ok(value_of(Tag::Record, obj))
    }

    /// The record object a record value refers to.
    ///
    /// # Safety
    /// `v` must be a live `record` value.
    #[inline]
    pub unsafe fn of<'a>(v: Value) -> &'a mut RecordObj {
        // SAFETY: guaranteed by the caller.
        unsafe { payload::<RecordObj>(v) }
    }

    /// The type's vtable.
    #[inline]
    fn vtable(&self) -> &'static RecordVTable {
        // SAFETY: a record stands right after its header, whose vtable is the `base` (first
        // field, `#[repr(C)]`) of its type's immortal `RecordVTable`.
        unsafe {
            let header = (self as *const RecordObj as *const GcHeader).sub(1);
            &*((*header).vtable() as *const RecordVTable)
        }
    }

    /// The Vm's id of the record's type.
    #[inline]
    pub fn type_id(&self) -> u32 {
        self.vtable().type_id
    }

    /// The field values.
    #[inline]
    pub fn fields(&self) -> &[Value] {
        // SAFETY: `nfields` values follow the header in the block.
        unsafe { std::slice::from_raw_parts(self.fields.as_ptr(), self.vtable().nfields as usize) }
    }

    /// Field `i`, without reading the type's field count.
    ///
    /// # Safety
    /// `i` must be below the record's field count.
    #[inline]
    pub unsafe fn field_unchecked(&self, i: usize) -> Value {
        // SAFETY: guaranteed by the caller.
        unsafe { *self.fields.as_ptr().add(i) }
    }

    /// Sets field `i` (the caller runs the write barrier), without reading the field count.
    ///
    /// # Safety
    /// `i` must be below the record's field count.
    #[inline]
    pub unsafe fn set_field_unchecked(&mut self, i: usize, v: Value) {
        // SAFETY: guaranteed by the caller.
        unsafe { *self.fields.as_mut_ptr().add(i) = v }
    }

    /// The field values, mutably.
    #[inline]
    pub fn fields_mut(&mut self) -> &mut [Value] {
        let n = self.vtable().nfields as usize;
        // SAFETY: as for `fields`.
        unsafe { std::slice::from_raw_parts_mut(self.fields.as_mut_ptr(), n) }
    }
}

/// The record type id of `v`, if it is a record.
#[inline]
pub fn record_type_of(v: Value) -> Option<u32> {
    // SAFETY: record-tagged values refer to live record objects.
    (v.tag == Tag::Record as u64).then(|| unsafe { RecordObj::of(v) }.type_id())
}

// ---------------------------------------------------------------------------------------------
// map

/// A map key: a value hashed and compared by Sigma equality (numbers by value with integral
/// floats equal to ints, strings by content, other references by identity).
#[derive(Clone, Copy)]
pub struct MapKey(Value);

impl MapKey {
    /// Validates and normalizes a key: `nil` and NaN are rejected; an integral float in the
    /// int range becomes that int, so `1` and `1.0` are the same key.
    pub fn new(v: Value) -> Result<MapKey, OpError> {
        match v.kind() {
            Tag::Nil => Err(OpError::type_error("map key cannot be nil")),
            Tag::Float => {
                let x = v.as_float_unchecked();
                if x.is_nan() {
                    Err(OpError::type_error("map key cannot be NaN"))
                } else if x.fract() == 0.0
                    && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&x)
                {
                    Ok(MapKey(Value::int(x as i64)))
                } else {
                    Ok(MapKey(v))
                }
            }
            _ => Ok(MapKey(v)),
        }
    }

    /// The key as a value.
    pub fn value(self) -> Value {
        self.0
    }
}

impl PartialEq for MapKey {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0, other.0);
        a.tag == b.tag
            && (a.bits == b.bits || (a.tag == Tag::Str as u64 && a.as_str() == b.as_str()))
    }
}

impl Eq for MapKey {}

impl Hash for MapKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if self.0.tag == Tag::Str as u64 {
            // SAFETY: str-tagged values refer to live strings.
            state.write_u64(unsafe { StrObj::of(self.0) }.hash());
        } else {
            state.write_u64(self.0.tag.rotate_left(56) ^ self.0.bits);
        }
    }
}

/// A hash map from values to values, iterating in insertion order.
#[repr(C)]
pub struct MapObj {
    map: IndexMap<MapKey, Value, foldhash::fast::RandomState>,
}

/// Approximate bytes per map slot (key, value, hash index), for accounting.
const MAP_SLOT: usize = 2 * VALUE_SIZE + 16;

unsafe fn trace_map(obj: NonNull<GcHeader>, t: &mut Tracer) {
    // SAFETY: called on live map objects, whose keys and values are live values.
    unsafe {
        let m = &*(GcHeader::payload(obj) as *const MapObj);
        for (k, v) in &m.map {
            trace_value(k.0, t);
            trace_value(*v, t);
        }
    }
}

unsafe fn release_map(obj: NonNull<GcHeader>) -> usize {
    // SAFETY: called once on a live map object just before its block is freed.
    unsafe {
        let m = std::ptr::read(GcHeader::payload(obj) as *const MapObj);
        m.map.capacity() * MAP_SLOT
    }
}

static MAP_VTABLE: ObjVTable = ObjVTable {
    trace: Some(trace_map),
    release: Some(release_map),
};

impl MapObj {
    /// Allocates an empty map (no collection).
    pub fn alloc(heap: &mut Heap) -> Result<Value, OpError> {
        let obj = heap
            .alloc(
                std::mem::size_of::<MapObj>(),
                &MAP_VTABLE,
                ObjKind::Map as u8,
                0,
            )
            .map_err(oom)?;
        // SAFETY: fresh block sized for a `MapObj`.
        unsafe {
            (GcHeader::payload(obj) as *mut MapObj).write(MapObj {
                map: IndexMap::with_hasher(foldhash::fast::RandomState::default()),
            })
        };
        Ok(value_of(Tag::Map, obj))
    }

    /// The map object a map value refers to.
    ///
    /// # Safety
    /// `v` must be a live `map` value.
    #[inline]
    pub unsafe fn of<'a>(v: Value) -> &'a mut MapObj {
        // SAFETY: guaranteed by the caller.
        unsafe { payload::<MapObj>(v) }
    }

    /// The value at `key`, or nil.
    pub fn get(&self, key: Value) -> Result<Value, OpError> {
        Ok(self
            .map
            .get(&MapKey::new(key)?)
            .copied()
            .unwrap_or(Value::NIL))
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: Value) -> Result<bool, OpError> {
        Ok(self.map.contains_key(&MapKey::new(key)?))
    }

    /// Sets `key` to `v`, accounting growth in `heap`.
    pub fn insert(&mut self, heap: &mut Heap, key: Value, v: Value) -> Result<(), OpError> {
        let key = MapKey::new(key)?;
        let before = self.map.capacity();
        if self.map.len() == before {
            self.map.try_reserve(1).map_err(|_| {
                oom(AllocError {
                    requested: before.saturating_mul(2 * MAP_SLOT),
                })
            })?;
        }
        self.map.insert(key, v);
        let after = self.map.capacity();
        if after > before {
            heap.add_external((after - before) * MAP_SLOT);
        }
        Ok(())
    }

    /// Bytes an insert may add to the heap.
    pub fn insert_growth(&self) -> usize {
        if self.map.len() < self.map.capacity() {
            0
        } else {
            self.map.capacity().max(4) * MAP_SLOT
        }
    }

    /// Removes `key`; deleting moves the last key into its place in the iteration order.
    pub fn remove(&mut self, key: Value) -> Result<Value, OpError> {
        Ok(self
            .map
            .swap_remove(&MapKey::new(key)?)
            .unwrap_or(Value::NIL))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The keys, in iteration order.
    pub fn keys(&self) -> impl Iterator<Item = Value> + '_ {
        self.map.keys().map(|k| k.0)
    }
}

// ---------------------------------------------------------------------------------------------
// fn

/// A function value: a function of the Vm and the values it captured.
#[repr(C)]
pub struct FnObj {
    /// The Vm's id of the function.
    pub func: u32,
    ncaptures: u32,
}

unsafe fn trace_fn(obj: NonNull<GcHeader>, t: &mut Tracer) {
    // SAFETY: called on live fn objects, whose captures are live values.
    unsafe {
        let f = &*(GcHeader::payload(obj) as *const FnObj);
        t.note(note::encode(note::FUNC, f.func));
        for v in f.captures() {
            trace_value(*v, t);
        }
    }
}

static FN_VTABLE: ObjVTable = ObjVTable {
    trace: Some(trace_fn),
    release: None,
};

impl FnObj {
    /// Block payload size for `n` captures.
    pub fn payload_size(n: usize) -> usize {
        std::mem::size_of::<FnObj>() + n * VALUE_SIZE
    }

    /// Allocates a function value (no collection).
    pub fn alloc(heap: &mut Heap, func: u32, captures: &[Value]) -> Result<Value, OpError> {
        // SAFETY: the block below writes the whole payload (the struct, then every capture).
        let obj = unsafe {
            heap.alloc_uninit(
                Self::payload_size(captures.len()),
                &FN_VTABLE,
                ObjKind::Fn as u8,
                0,
            )
        }
        .map_err(oom)?;
        // SAFETY: fresh block sized for the struct and the captures.
        unsafe {
            let p = GcHeader::payload(obj) as *mut FnObj;
            p.write(FnObj {
                func,
                ncaptures: captures.len() as u32,
            });
            std::ptr::copy_nonoverlapping(
                captures.as_ptr(),
                p.add(1) as *mut Value,
                captures.len(),
            );
        }
        Ok(value_of(Tag::Fn, obj))
    }

    /// The fn object a fn value refers to.
    ///
    /// # Safety
    /// `v` must be a live `fn` value.
    #[inline]
    pub unsafe fn of<'a>(v: Value) -> &'a mut FnObj {
        // SAFETY: guaranteed by the caller.
        unsafe { payload::<FnObj>(v) }
    }

    /// The captured values.
    #[inline]
    pub fn captures(&self) -> &[Value] {
        // SAFETY: `ncaptures` values follow the struct in the block.
        unsafe {
            std::slice::from_raw_parts(
                (self as *const FnObj).add(1) as *const Value,
                self.ncaptures as usize,
            )
        }
    }

    /// The captured values, mutably.
    #[inline]
    pub fn captures_mut(&mut self) -> &mut [Value] {
        // SAFETY: as for `captures`.
        unsafe {
            std::slice::from_raw_parts_mut(
                (self as *mut FnObj).add(1) as *mut Value,
                self.ncaptures as usize,
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// module

/// A module value: names one loaded module of the Vm. The Vm allocates one per module, so
/// `same` on two module values is module identity.
#[repr(C)]
pub struct ModuleObj {
    /// The Vm's index of the module.
    pub module: u32,
}

unsafe fn trace_module(obj: NonNull<GcHeader>, t: &mut Tracer) {
    // SAFETY: called on live module objects.
    let m = unsafe { &*(GcHeader::payload(obj) as *const ModuleObj) };
    t.note(note::encode(note::MODULE, m.module));
}

static MODULE_VTABLE: ObjVTable = ObjVTable {
    trace: Some(trace_module),
    release: None,
};

impl ModuleObj {
    /// Allocates a module value (no collection).
    pub fn alloc(heap: &mut Heap, module: u32) -> Result<Value, OpError> {
        let obj = heap
            .alloc(
                std::mem::size_of::<ModuleObj>(),
                &MODULE_VTABLE,
                ObjKind::Module as u8,
                0,
            )
            .map_err(oom)?;
        // SAFETY: fresh block sized for the struct.
        unsafe { (GcHeader::payload(obj) as *mut ModuleObj).write(ModuleObj { module }) };
        Ok(value_of(Tag::Module, obj))
    }

    /// The module object a module value refers to.
    ///
    /// # Safety
    /// `v` must be a live `module` value.
    #[inline]
    pub unsafe fn of<'a>(v: Value) -> &'a ModuleObj {
        // SAFETY: guaranteed by the caller.
        unsafe { payload::<ModuleObj>(v) }
    }
}

/// Byte offsets inside objects, for compiled code that accesses them inline. All are relative
/// to the object's header address (the payload of a reference value).
pub mod layout {
    use super::*;

    /// Start of the payload.
    pub const PAYLOAD: usize = std::mem::size_of::<GcHeader>();
    /// `ArrayObj::ptr`: the element buffer.
    pub const ARRAY_PTR: usize = PAYLOAD + std::mem::offset_of!(ArrayObj, ptr);
    /// `ArrayObj::len`: the number of elements.
    pub const ARRAY_LEN: usize = PAYLOAD + std::mem::offset_of!(ArrayObj, len);
    /// `ArrayObj::cap`: the element capacity of the buffer.
    pub const ARRAY_CAP: usize = PAYLOAD + std::mem::offset_of!(ArrayObj, cap);
    /// The header's vtable pointer: a record's identifies its type (a [`RecordVTable`]).
    pub const HEADER_VTABLE: usize = sigma_gc::header_offset::VTABLE;
    /// `RecordVTable::type_id` (u32), relative to the vtable's address.
    pub const RECORD_VTABLE_TYPE: usize = std::mem::offset_of!(RecordVTable, type_id);
    /// The first field value of a record.
    pub const RECORD_FIELDS: usize = PAYLOAD;
    /// `BytesObj::len`.
    pub const BYTES_LEN: usize = PAYLOAD + std::mem::offset_of!(BytesObj, len);
    /// The first byte of a bytes buffer.
    pub const BYTES_DATA: usize = PAYLOAD + std::mem::size_of::<BytesObj>();
    /// `StrObj::len`: the length in bytes.
    pub const STR_LEN: usize = PAYLOAD + std::mem::offset_of!(StrObj, len);
    /// `StrObj::chars`: the length in chars (equal to `STR_LEN` exactly when it is ASCII).
    pub const STR_CHARS: usize = PAYLOAD + std::mem::offset_of!(StrObj, chars);
    /// The first byte of a string's UTF-8 text.
    pub const STR_BYTES: usize = PAYLOAD + std::mem::size_of::<StrObj>();
    /// `FnObj::func` (u32): the Vm id of the function.
    pub const FN_FUNC: usize = PAYLOAD + std::mem::offset_of!(FnObj, func);
    /// `FnObj::ncaptures` (u32): the number of captured values.
    pub const FN_CAPTURE_COUNT: usize = PAYLOAD + std::mem::offset_of!(FnObj, ncaptures);
    /// The first captured value of a fn object.
    pub const FN_CAPTURES: usize = PAYLOAD + std::mem::size_of::<FnObj>();

    /// The header's mark byte (nonzero: the object is old), for the inline write barrier.
    pub const HEADER_MARK: usize = sigma_gc::header_offset::MARK;
    /// The header's flags byte, for the inline write barrier.
    pub const HEADER_FLAGS: usize = sigma_gc::header_offset::FLAGS;
    /// The flag of a remembered object (see [`super::write_barrier`]).
    pub const REMEMBERED: u8 = GcHeader::REMEMBERED;

    /// The header vtable of fn objects (for compiled code's inline allocation).
    pub fn fn_vtable() -> usize {
        &FN_VTABLE as *const ObjVTable as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigma_gc::HeapConfig;

    #[test]
    fn strings_store_text_and_char_counts() {
        let mut heap = Heap::new(HeapConfig::default());
        let v = StrObj::alloc(&mut heap, "héllo").unwrap();
        assert_eq!(v.kind(), Tag::Str);
        assert_eq!(v.as_str(), Some("héllo"));
        // SAFETY: live.
        let s = unsafe { StrObj::of(v) };
        assert_eq!(s.char_len(), 5);
        assert_eq!(s.char_at(1).unwrap(), 'é');
        assert_eq!(s.slice(1, 3).unwrap(), "él");
        assert_eq!(s.char_at(5).unwrap_err().kind, TrapKind::OutOfBounds);
        assert!(s.slice(3, 2).is_err());
        let a = StrObj::alloc(&mut heap, "abc").unwrap();
        // SAFETY: live.
        assert_eq!(unsafe { StrObj::of(a) }.slice(0, 2).unwrap(), "ab");
    }

    #[test]
    fn records_keep_type_and_field_count_in_their_vtable() {
        let mut heap = Heap::default();
        let pair = record_vtable(7, 2);
        assert!(
            std::ptr::eq(pair, record_vtable(7, 2)),
            "one vtable per type"
        );
        assert!(!std::ptr::eq(pair, record_vtable(7, 3)));
        assert!(!std::ptr::eq(pair, record_vtable(8, 2)));
        let v = RecordObj::alloc(&mut heap, pair, &[Value::int(1), Value::NIL], false).unwrap();
        assert_eq!(record_type_of(v), Some(7));
        // SAFETY: a live record of two fields.
        let r = unsafe { RecordObj::of(v) };
        assert_eq!(r.fields().len(), 2);
        assert_eq!(r.fields()[0].as_int(), Some(1));
        assert!(r.fields()[1].is_nil());
        // SAFETY: field 1 exists.
        unsafe { r.set_field_unchecked(1, Value::int(5)) };
        // SAFETY: as above.
        assert_eq!(unsafe { r.field_unchecked(1) }.as_int(), Some(5));
        // The cell holds the header and the two values only.
        // SAFETY: live.
        assert_eq!(unsafe { header_of(v).as_ref() }.size(), 16 + 2 * VALUE_SIZE);
        let err = RecordObj::alloc(&mut heap, pair, &[Value::NIL], false).unwrap_err();
        assert_eq!(err.kind, TrapKind::TypeError);
        assert!(
            err.message.contains("has 2 fields, not 1"),
            "{}",
            err.message
        );
        let empty = RecordObj::alloc(&mut heap, record_vtable(9, 0), &[], false).unwrap();
        assert_eq!(record_type_of(empty), Some(9));
        // SAFETY: live.
        assert!(unsafe { RecordObj::of(empty) }.fields().is_empty());
    }

    #[test]
    fn bytes_are_little_endian_and_bounds_checked() {
        let mut heap = Heap::default();
        let v = BytesObj::alloc(&mut heap, 8).unwrap();
        // SAFETY: live.
        let b = unsafe { BytesObj::of(v) };
        b.store(Mem::I32, 0, Value::int(0x0102_0304)).unwrap();
        assert_eq!(b.as_slice()[..4], [4, 3, 2, 1]);
        assert_eq!(b.load(Mem::U16, 0).unwrap().as_int(), Some(0x0304));
        b.store(Mem::I8, 7, Value::int(-1)).unwrap();
        assert_eq!(b.load(Mem::I8, 7).unwrap().as_int(), Some(-1));
        assert_eq!(b.load(Mem::U8, 7).unwrap().as_int(), Some(255));
        assert!(b.load(Mem::I64, 1).is_err());
        assert!(b.load(Mem::I8, -1).is_err());
        assert!(b.store(Mem::F64, 0, Value::int(1)).is_err());
        b.store(Mem::F32, 4, Value::float(1.5)).unwrap();
        assert_eq!(b.load(Mem::F32, 4).unwrap().as_float(), Some(1.5));
        assert!(BytesObj::alloc(&mut heap, -1).is_err());
    }

    #[test]
    fn map_keys_follow_sigma_equality() {
        let mut heap = Heap::default();
        let m = MapObj::alloc(&mut heap).unwrap();
        let k1 = StrObj::alloc(&mut heap, "k").unwrap();
        let k2 = StrObj::alloc(&mut heap, "k").unwrap();
        // SAFETY: live.
        let map = unsafe { MapObj::of(m) };
        map.insert(&mut heap, k1, Value::int(1)).unwrap();
        assert_eq!(map.get(k2).unwrap().as_int(), Some(1));
        map.insert(&mut heap, Value::int(2), Value::int(20))
            .unwrap();
        assert_eq!(map.get(Value::float(2.0)).unwrap().as_int(), Some(20));
        assert!(map.get(Value::float(2.5)).unwrap().is_nil());
        assert_eq!(map.get(Value::NIL).unwrap_err().kind, TrapKind::TypeError);
        assert!(map
            .insert(&mut heap, Value::float(f64::NAN), Value::NIL)
            .is_err());
        assert_eq!(map.len(), 2);
        assert_eq!(map.remove(k2).unwrap().as_int(), Some(1));
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn arrays_grow_and_check_bounds() {
        let mut heap = Heap::default();
        let a = ArrayObj::alloc(&mut heap, 2, Value::int(7)).unwrap();
        // SAFETY: live.
        let arr = unsafe { ArrayObj::of(a) };
        for i in 0..100 {
            arr.push(&mut heap, Value::int(i)).unwrap();
        }
        assert_eq!(arr.len(), 102);
        assert_eq!(arr.get(0).unwrap().as_int(), Some(7));
        assert_eq!(arr.get(101).unwrap().as_int(), Some(99));
        assert_eq!(arr.get(102).unwrap_err().kind, TrapKind::OutOfBounds);
        assert_eq!(arr.get(-1).unwrap_err().kind, TrapKind::OutOfBounds);
        assert!(heap.stats().live_bytes >= 102 * 16);
        assert_eq!(arr.pop().unwrap().as_int(), Some(99));
    }
}
