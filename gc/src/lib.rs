//! `sigma-gc`: Sigma's garbage-collected heap — a precise, non-moving, stop-the-world
//! mark-sweep collector with destructor support.
//!
//! Every object is one cell: a `#[repr(C)]` 16-byte [`GcHeader`] followed by the payload. The
//! header points at a static [`ObjVTable`] through which the object traces its outgoing
//! references and releases memory it owns outside its cell, so this crate knows nothing about
//! bytecode or about the object kinds the runtime defines.
//!
//! Allocation: small objects (up to [`MAX_SMALL`] bytes) live in 64 KiB pages of equal-size
//! cells, one page list and one free list per size class; allocating is popping the class's
//! free list (the fast path), sweeping the class's next unswept page, or carving cells off a
//! fresh page by bumping a pointer. Larger objects are allocated individually. The free lists'
//! heads, the bump ranges and the counters live in one `#[repr(C)]` [`AllocState`] at a fixed
//! address, whose documentation is the contract under which compiled code allocates inline.
//! Pages a sweep empties are kept in a pool for the next pages any class carves, up to the bytes
//! the heap may allocate before its next collection; the rest go back to the system.
//!
//! Collection: [`Heap::collect`] marks from the roots the caller reports (the heap never scans
//! memory conservatively), then handles destructors, then sweeps. Sweeping is lazy: large
//! objects and pages holding objects that own outside memory are swept at once; other pages are
//! swept one at a time when their class needs cells, right before those cells are reused (so
//! each cell is touched once per cycle, while it is in cache), and whatever is left unswept is
//! swept before the next full collection marks (a minor one leaves it: its dead cells stay
//! unmarked). The statistics are exact at the end of a
//! collection: the marking counts what survives, in total and per page (see `PAGE_MARKED`),
//! so the sweep skips reading the cells of a page with no live object (it is carved afresh)
//! or with every cell live, and a minor collection leaves pages mostly live until the next
//! full one. An object whose header has
//! [`GcHeader::HAS_DESTRUCTOR`] and that is found unreachable is not freed: it and everything it
//! references are kept, and it is moved to a queue of objects whose destructor must run
//! ([`Heap::pop_destructible`]). Queued objects are roots until their destructor has run; after
//! that their flag is cleared, so a later collection frees them normally if they are unreachable
//! again (destructors run at most once, and resurrection is safe).
//!
//! Generations (sticky mark bits, nothing moves): a collection leaves its survivors marked, so
//! marked objects are *old* and new ones (mark 0) *young*. [`Heap::collect_minor`] marks from
//! the roots and the *remembered set* and stops at old objects; its sweep frees only young
//! ones, and pages that held only old objects are not swept. [`Heap::collect_full`] flips the
//! *epoch* (the mark value meaning "marked", 1 or 2), so every old mark reads as unmarked, and
//! marks everything. Every store of a reference into an existing object must be followed by
//! [`Heap::write_barrier`], which adds the object to the remembered set if it is old (once:
//! [`GcHeader::REMEMBERED`]). [`Heap::wants_full_collection`] is the policy; in stress mode,
//! each collection checks after marking that no marked object references an unmarked one.
//!
//! Invariants:
//! - A cell returned by [`Heap::alloc`] stays valid until a collection finds it unreachable
//!   (and, for destructible objects, after its destructor ran); it never moves.
//! - In a swept page, a cell is free exactly when its header's `size` is 0; free cells hold the
//!   free-list link in their first word. A page a minor collection left `mostly_live` (filed
//!   as full) also holds the young objects that died in it, which have neither a release
//!   function nor a destructor, until the next full collection sweeps it. An unswept page's
//!   cells are live objects (marked) or dead ones (unmarked) or free (size 0); it holds no
//!   free-list cell. A class's bump range (cells of its newest page not yet carved) holds no
//!   header the heap reads (a page carved again without a walk keeps its dead objects' stale
//!   headers there); it is closed (its cells become size-0 free cells) before anything walks
//!   the page.
//! - A page's marked count (see `PAGE_MARKED`) is the number of its cells marked with the
//!   epoch.
//! - The caller reports every live reference as a root or through some reachable object's
//!   trace function; an object is freed only if the last collection did not mark it.
//! - Between collections, a live object's mark is 0 (young) or the epoch (old); after marking,
//!   every reference of a marked object leads to a marked object (the write barrier keeps this
//!   true for old objects across minor collections). Dead cells never carry the epoch: a full
//!   collection sweeps every page before the epoch flips back.
//! - `kind` is an opaque byte chosen by the allocating runtime; the heap never interprets it.

use std::alloc::{alloc, dealloc, Layout};
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

/// Per-type operations the heap needs, reached through the object's header.
pub struct ObjVTable {
    /// Reports the object's outgoing references to the tracer; `None` for objects that hold
    /// no references (they are never queued for tracing).
    ///
    /// # Safety
    /// Called with a live object of this vtable's type.
    pub trace: Option<unsafe fn(NonNull<GcHeader>, &mut Tracer)>,
    /// Drops whatever the payload owns outside its cell and returns how many external bytes
    /// that released (as previously reported through [`Heap::add_external`]). `None` when the
    /// payload owns nothing.
    ///
    /// # Safety
    /// Called once, with a live object of this vtable's type, just before its cell is freed.
    pub release: Option<unsafe fn(NonNull<GcHeader>) -> usize>,
}

/// The header at the start of every heap object.
#[repr(C)]
pub struct GcHeader {
    /// The object's vtable; in a free cell, the next free cell.
    vtable: *const ObjVTable,
    /// Size of the cell (header + payload) in bytes; 0 in a free cell.
    size: u32,
    /// Object kind chosen by the runtime (opaque to the heap).
    pub kind: u8,
    mark: u8,
    flags: u8,
    _reserved: u8,
}

const HEADER: usize = std::mem::size_of::<GcHeader>();
const _: () = assert!(HEADER == 16);

/// Alignment of every cell and payload.
pub const ALIGN: usize = 16;
/// Largest object (header + payload) allocated in pages; larger ones are allocated alone.
pub const MAX_SMALL: usize = 8192;
/// Largest object the heap allocates (the header records sizes in 32 bits).
pub const MAX_BLOCK: usize = u32::MAX as usize & !(ALIGN - 1);
/// A minor collection whose survivors exceed 1/`GROW_SURVIVAL` of the nursery doubles it.
const GROW_SURVIVAL: usize = 8;
/// A minor collection whose survivors are below 1/`SHRINK_SURVIVAL` of the nursery halves it
/// (not below the size the last full collection set).
const SHRINK_SURVIVAL: usize = 32;
/// The nursery grows to at most this many times the size the last full collection set.
const MAX_NURSERY_GROWTH: usize = 8;
/// Size of a page of small cells.
pub const PAGE_SIZE: usize = 64 << 10;
/// Offset of the first cell in a page (keeps cells 16-aligned; the page header sits before).
const PAGE_CELLS: usize = 64;

/// Cell sizes of the size classes: 16-byte steps to 256, 64-byte steps to 1024, then 512-byte
/// steps to [`MAX_SMALL`].
fn class_sizes() -> Vec<usize> {
    let mut v: Vec<usize> = (1..=16).map(|i| i * 16).collect();
    v.extend((5..=16).map(|i| i * 64));
    v.extend((3..=16).map(|i| i * 512));
    v
}

/// The size class of a cell size (≤ `MAX_SMALL`).
#[inline(always)]
fn class_of(size: usize) -> usize {
    if size <= 256 {
        (size - 1) / 16
    } else if size <= 1024 {
        16 + (size - 257) / 64
    } else {
        28 + (size - 1025) / 512
    }
}

impl GcHeader {
    /// The object has a destructor that has not been scheduled yet.
    pub const HAS_DESTRUCTOR: u8 = 1;
    /// The object's destructor is queued to run.
    const QUEUED: u8 = 2;
    /// The object is old and in the remembered set (see [`Heap::write_barrier`]).
    pub const REMEMBERED: u8 = 4;

    /// The payload that follows the header.
    ///
    /// # Safety
    /// `obj` must point at a live cell.
    #[inline(always)]
    pub unsafe fn payload(obj: NonNull<GcHeader>) -> *mut u8 {
        // SAFETY: the payload starts right after the 16-byte header inside the same cell.
        unsafe { (obj.as_ptr() as *mut u8).add(HEADER) }
    }

    /// Size of the cell in bytes.
    pub fn size(&self) -> usize {
        self.size as usize
    }

    /// The vtable the object was allocated with (a runtime may embed [`ObjVTable`] at the
    /// start of a larger `#[repr(C)]` struct of per-type data and read it back through this).
    pub fn vtable(&self) -> *const ObjVTable {
        self.vtable
    }

    /// The object's flag bits.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the object still has a destructor to run.
    pub fn has_destructor(&self) -> bool {
        self.flags & Self::HAS_DESTRUCTOR != 0
    }

    /// Whether the object is old: it survived a collection (its mark is sticky). Only
    /// meaningful for live objects between collections.
    pub fn is_old(&self) -> bool {
        self.mark != 0
    }
}

/// Byte offsets of the header fields compiled code reads inline (write barrier, type tests).
pub mod header_offset {
    use super::GcHeader;
    use std::mem::offset_of;
    /// The mark byte: nonzero exactly when a live object is old.
    pub const MARK: usize = offset_of!(GcHeader, mark);
    /// The flags byte ([`GcHeader::REMEMBERED`] among them).
    pub const FLAGS: usize = offset_of!(GcHeader, flags);
    /// The vtable pointer (see [`GcHeader::vtable`]).
    pub const VTABLE: usize = offset_of!(GcHeader, vtable);
}

/// Marks objects during a collection; handed to the root reporter and to trace functions.
///
/// Besides marking, a tracer collects *notes*: small integers a trace function reports for
/// runtime-level things a marked object depends on (the code an object refers to, say), so the
/// runtime can keep those alive too and mark what they own (see [`Heap::collect_full`]). Notes
/// are off unless the root reporter turns them on, and each distinct note is reported once.
pub struct Tracer {
    gray: Vec<NonNull<GcHeader>>,
    /// The mark value of this cycle: an object is marked when its mark byte equals it.
    epoch: u8,
    /// Verification mode: `mark` checks instead of marking, counting unmarked targets.
    verify: bool,
    unmarked_targets: usize,
    /// Objects marked in this collection, and their cell bytes.
    marked_objects: usize,
    marked_bytes: usize,
    noting: bool,
    /// Bit set of the notes seen in this collection.
    seen: Vec<u64>,
    /// Notes seen since the runtime last took them.
    fresh: Vec<u32>,
}

impl Tracer {
    fn new(epoch: u8) -> Tracer {
        Tracer {
            gray: Vec::new(),
            epoch,
            verify: false,
            unmarked_targets: 0,
            marked_objects: 0,
            marked_bytes: 0,
            noting: false,
            seen: Vec::new(),
            fresh: Vec::new(),
        }
    }

    /// Turns notes on or off for the rest of this collection.
    pub fn set_noting(&mut self, on: bool) {
        self.noting = on;
    }

    /// Reports that a marked object depends on runtime-level thing `id` (when notes are on).
    #[inline]
    pub fn note(&mut self, id: u32) {
        if !self.noting {
            return;
        }
        let (word, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        if word >= self.seen.len() {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & bit == 0 {
            self.seen[word] |= bit;
            self.fresh.push(id);
        }
    }

    /// Whether `id` was noted in this collection.
    pub fn noted(&self, id: u32) -> bool {
        self.seen
            .get((id / 64) as usize)
            .is_some_and(|w| w & (1u64 << (id % 64)) != 0)
    }

    /// The notes reported since the last call, oldest first. A `more` callback of
    /// [`Heap::collect_full`] must take them: the collection ends only when none is pending.
    pub fn take_notes(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.fresh)
    }

    /// Marks `obj` reachable (and schedules its references to be traced).
    ///
    /// # Safety
    /// `obj` must point at a live cell of this heap.
    #[inline]
    pub unsafe fn mark(&mut self, obj: NonNull<GcHeader>) {
        // SAFETY: the caller guarantees a live cell; the mark byte is plain data, and a live
        // cell's vtable pointer is a valid `&'static ObjVTable`.
        unsafe {
            let h = obj.as_ptr();
            if (*h).mark != self.epoch {
                if self.verify {
                    self.unmarked_targets += 1;
                    return;
                }
                (*h).mark = self.epoch;
                let size = (*h).size as usize;
                self.marked_objects += 1;
                self.marked_bytes += size;
                if size <= MAX_SMALL {
                    // A small object's cell lies in a page, whose header counts its marks.
                    *marked_count(h) += 1;
                }
                if (*(*h).vtable).trace.is_some() {
                    self.gray.push(obj);
                }
            }
        }
    }
}

/// Collector settings.
#[derive(Clone, Debug)]
pub struct HeapConfig {
    /// Hard limit on heap bytes (cells plus external memory); `None` for no limit.
    pub limit: Option<usize>,
    /// Collect when the heap has grown by this factor since the last collection.
    pub growth_factor: f64,
    /// Never schedule a collection below this many bytes.
    pub min_threshold: usize,
    /// Collect at every allocation and poison freed memory (for testing).
    pub stress: bool,
}

impl Default for HeapConfig {
    fn default() -> Self {
        HeapConfig {
            limit: None,
            growth_factor: 2.0,
            min_threshold: 8 << 20,
            stress: false,
        }
    }
}

/// Collector statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Collections run (minor and full).
    pub collections: u64,
    /// Of those, minor collections (the rest were full).
    pub minor_collections: u64,
    /// Total bytes ever allocated (cells and external memory).
    pub bytes_allocated: u64,
    /// Bytes in use now.
    pub live_bytes: usize,
    /// Objects in use now.
    pub live_objects: usize,
    /// Largest `live_bytes` seen.
    pub peak_bytes: usize,
    /// Objects freed by collections.
    pub objects_freed: u64,
    /// Total time spent collecting.
    pub total_pause: Duration,
    /// Longest single collection.
    pub max_pause: Duration,
}

/// An allocation the heap could not satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocError {
    /// Bytes requested.
    pub requested: usize,
}

/// Byte written over freed cells in stress mode.
pub const POISON: u8 = 0xDB;

/// A page of equal-size cells.
struct Page {
    base: NonNull<u8>,
    cell: usize,
    /// Not swept by minor collections (until the next full collection sweeps it): its last
    /// sweep found no free cell, or a minor collection found it [`mostly_live`]. Every object
    /// in it is old except, in the second case, dead young ones (floating garbage, at most an
    /// eighth of the page, without release function or destructor).
    full: bool,
}

/// The first byte of a page's header: nonzero if some object allocated in the page has a
/// release function (owns outside memory). Such pages are swept at once, so the
/// external-memory accounting is exact after a collection. Pages are aligned to their size, so
/// a cell finds its page by masking its address.
fn releasable_flag(cell: *mut GcHeader) -> *mut u8 {
    (cell as usize & !(PAGE_SIZE - 1)) as *mut u8
}

/// Offset in a page's header of its *marked count*: a `u32`, the number of its cells whose
/// mark is the epoch. [`Tracer::mark`] increments it when it marks a small object; the marks
/// of a page's cells change otherwise only when a full collection flips the epoch, which
/// resets every count, or when a cell is reused (the sweep frees only unmarked cells, and a
/// new object is unmarked). So after marking, the count is the page's live objects without
/// reading them: a page counting 0 is swept without a walk, and one counting (nearly) all its
/// cells is not swept by minor collections.
const PAGE_MARKED: usize = 4;

/// The marked count of the page holding `cell` (see [`PAGE_MARKED`]).
fn marked_count(cell: *mut GcHeader) -> *mut u32 {
    ((cell as usize & !(PAGE_SIZE - 1)) + PAGE_MARKED) as *mut u32
}

/// Whether a minor collection may leave a page with `marked` of its `cells` marked unswept
/// (as full): its free cells would be few (at most an eighth), and finding them would read
/// every cell. They wait for the next full collection.
fn mostly_live(marked: usize, cells: usize) -> bool {
    marked * 8 >= cells * 7
}

impl Page {
    fn releasable(&self) -> bool {
        // SAFETY: the first byte of the page header is initialized when the page is started.
        unsafe { *self.base.as_ptr() != 0 }
    }

    /// The page's marked count (see [`PAGE_MARKED`]).
    fn marked(&self) -> usize {
        // SAFETY: the count is initialized when the page is started; it lies in the header.
        unsafe { *marked_count(self.base.as_ptr() as *mut GcHeader) as usize }
    }

    fn reset_marked(&self) {
        // SAFETY: as for `marked`.
        unsafe { *marked_count(self.base.as_ptr() as *mut GcHeader) = 0 };
    }

    fn cells(&self) -> usize {
        (PAGE_SIZE - PAGE_CELLS) / self.cell
    }

    fn cell_at(&self, i: usize) -> *mut GcHeader {
        // SAFETY (for callers): `i < cells()` keeps the cell inside the page.
        unsafe { self.base.as_ptr().add(PAGE_CELLS + i * self.cell) as *mut GcHeader }
    }
}

/// One size class: its pages (its free cells are reached through its [`AllocCursor`]).
struct Class {
    cell: usize,
    /// Swept pages (the last one may be the bump page).
    pages: Vec<Page>,
    /// Pages the last collection marked and that are not swept yet.
    unswept: Vec<Page>,
}

/// Number of size classes.
pub const CLASSES: usize = 42;

/// Where a size class's next cells are: the inline-allocation contract's per-class part (see
/// [`AllocState`]).
#[repr(C)]
pub struct AllocCursor {
    /// The first free cell of the class's free list (null when empty); each free cell's first
    /// word (the header's vtable field) links the next.
    pub free: *mut GcHeader,
    /// The not-yet-carved cells of the class's newest page: `bump..bump_end`, whole cells
    /// (both null when none).
    pub bump: *mut u8,
    /// See `bump`.
    pub bump_end: *mut u8,
}

/// The heap's allocation state, shared with compiled code: the *inline-allocation contract*.
///
/// The heap keeps this `#[repr(C)]` struct in a box of its own, so its address
/// ([`Heap::alloc_state`]) is fixed for the heap's life, and compiled code may allocate a small
/// object without calling into the heap, exactly as [`Heap::alloc_uninit`] would, provided the
/// object's vtable has no `release` function and it is allocated without flags (no
/// destructor). For a cell of size class `c` (see [`small_class`]) of `cell` bytes, where
/// the runtime's collection check would ask [`Heap::wants_collection`]`(reserve)`:
///
/// 1. **Trigger.** If `cell_bytes + external_bytes + reserve > trigger`, take the slow path
///    (the runtime's allocation function, which collects and checks the heap limit). `trigger`
///    is the collection threshold, which never exceeds the heap limit, so an allocation that
///    passes cannot exceed the limit either; it is 0 in stress mode, so there every allocation
///    takes the slow path (and collects).
/// 2. **Cell.** Pop `cursors[c].free` if non-null (the new head is the popped cell's first
///    word); else, if `cursors[c].bump < cursors[c].bump_end`, take `bump` and advance it by
///    `cell`; else take the slow path (the heap sweeps or carves a page in [`Heap::alloc`]).
/// 3. **Counts.** Add `cell` to `cell_bytes`, and 1 to `live_objects`. (The bytes allocated
///    and the peak are derived lazily: `cell_bytes` only grows between collections, and the
///    heap folds its growth into `bytes_allocated`, and the live bytes into the peak, before
///    they can decrease.)
/// 4. **Header.** Write the vtable address at offset 0 and [`header_word`]`(cell, kind)` at
///    offset 8; then initialize the payload as [`Heap::alloc_uninit`] requires, before the
///    next safepoint.
///
/// Nothing else may be cached across a safepoint: a collection rewrites every field.
#[repr(C)]
pub struct AllocState {
    /// Bytes of the cells of live objects (exact after a collection: unswept dead cells are
    /// not counted) ...
    pub cell_bytes: usize,
    /// ... and of the memory objects own outside their cells (dead objects' part is released
    /// when their page is swept; pages holding such objects are swept at once).
    pub external_bytes: usize,
    /// The live bytes above which an allocation must collect first: the threshold, or 0 in
    /// stress mode.
    pub trigger: usize,
    /// Live objects.
    pub live_objects: usize,
    /// Total bytes ever allocated (cells and external memory), but for the cells allocated
    /// since the last collection: [`Heap::stats`] adds `cell_bytes`' growth since then.
    pub bytes_allocated: u64,
    /// Per size class.
    pub cursors: [AllocCursor; CLASSES],
}

/// Byte offsets of the [`AllocState`] fields, for compiled code.
pub mod alloc_offset {
    use super::{AllocCursor, AllocState};
    use std::mem::{offset_of, size_of};
    /// `cell_bytes`.
    pub const CELL_BYTES: usize = offset_of!(AllocState, cell_bytes);
    /// `external_bytes`.
    pub const EXTERNAL_BYTES: usize = offset_of!(AllocState, external_bytes);
    /// `trigger`.
    pub const TRIGGER: usize = offset_of!(AllocState, trigger);
    /// `live_objects`.
    pub const LIVE_OBJECTS: usize = offset_of!(AllocState, live_objects);
    /// `cursors[class].free`.
    pub const fn free(class: usize) -> usize {
        offset_of!(AllocState, cursors)
            + class * size_of::<AllocCursor>()
            + offset_of!(AllocCursor, free)
    }
    /// `cursors[class].bump`.
    pub const fn bump(class: usize) -> usize {
        offset_of!(AllocState, cursors)
            + class * size_of::<AllocCursor>()
            + offset_of!(AllocCursor, bump)
    }
    /// `cursors[class].bump_end`.
    pub const fn bump_end(class: usize) -> usize {
        offset_of!(AllocState, cursors)
            + class * size_of::<AllocCursor>()
            + offset_of!(AllocCursor, bump_end)
    }
}

/// The size class and cell size of a small object with a payload of `payload` bytes, or
/// `None` if it is allocated alone (too large).
pub fn small_class(payload: usize) -> Option<(usize, usize)> {
    let size = HEADER.checked_add(payload)?.checked_add(ALIGN - 1)? & !(ALIGN - 1);
    if size > MAX_SMALL {
        return None;
    }
    let class = class_of(size);
    Some((class, class_sizes()[class]))
}

/// The second word of the header of a new object with a cell of `cell` bytes and kind `kind`,
/// without flags and unmarked (the word [`Heap::alloc_uninit`] writes at offset 8), as a
/// native-endian `u64`.
pub fn header_word(cell: usize, kind: u8) -> u64 {
    let h = GcHeader {
        vtable: std::ptr::null(),
        size: cell as u32,
        kind,
        mark: 0,
        flags: 0,
        _reserved: 0,
    };
    // SAFETY: the header is 16 initialized bytes (no padding: 8 + 4 + 4 × 1); its second word
    // is at offset 8.
    unsafe { ((&h as *const GcHeader as *const u8).add(8) as *const u64).read_unaligned() }
}

/// Hints that the cache line at `p` will be read soon (nothing on other targets).
#[inline(always)]
fn prefetch(p: *const GcHeader) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address; SSE is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// What sweeping one page found.
struct PageSweep {
    /// The page's free cells, linked in address order (null when none).
    head: *mut GcHeader,
    tail: *mut GcHeader,
    live: usize,
    /// External bytes the page's dead objects released.
    released: usize,
}

/// Sweeps one page: keeps the objects marked with `epoch` (their marks stay: they are old now),
/// releases the others, and links every free cell into a list.
///
/// # Safety
/// `p` must be a page of this heap whose cells all hold initialized headers (its bump range
/// closed), marked by the last collection.
unsafe fn sweep_page(p: &Page, epoch: u8, stress: bool) -> PageSweep {
    let mut out = PageSweep {
        head: std::ptr::null_mut(),
        tail: std::ptr::null_mut(),
        live: 0,
        released: 0,
    };
    let cells = p.cells();
    // The walk misses the cache at every cell it reads, and its branches on the marks are
    // unpredictable, so the processor does not run far enough ahead to overlap the misses:
    // ask for the header some cells (about 1 KiB) ahead.
    let ahead = (1024 / p.cell).max(2);
    for i in 0..cells {
        if i + ahead < cells {
            prefetch(p.cell_at(i + ahead));
        }
        let h = p.cell_at(i);
        // SAFETY: page cells hold initialized headers; live ones are objects of their vtable's
        // type.
        unsafe {
            if (*h).size != 0 {
                if (*h).mark == epoch {
                    out.live += 1;
                    continue;
                }
                let size = (*h).size as usize;
                out.released += release(h, stress) - size;
            }
            // Free cell: append to this page's list.
            (*h).size = 0;
            (*h).vtable = std::ptr::null();
            if out.tail.is_null() {
                out.head = h;
            } else {
                (*out.tail).vtable = h as *const ObjVTable;
            }
            out.tail = h;
        }
    }
    out
}

/// The garbage-collected heap: owns every object allocated through it.
pub struct Heap {
    classes: Vec<Class>,
    large: Vec<NonNull<GcHeader>>,
    /// The counters and cursors compiled code allocates through (boxed: its address is fixed).
    state: Box<AllocState>,
    threshold: usize,
    config: HeapConfig,
    destructible: VecDeque<NonNull<GcHeader>>,
    /// Live objects whose destructor is neither queued nor run yet.
    with_destructor: usize,
    stats: GcStats,
    collecting: bool,
    /// Empty pages kept for reuse (never holding objects; not counted in `live_bytes`).
    spare_pages: Vec<NonNull<u8>>,
    /// The mark value of live old objects (1 or 2; flipped by each full collection, so the
    /// old marks read as unmarked without touching every object).
    epoch: u8,
    /// Old objects a reference was stored into since the last collection (each has
    /// [`GcHeader::REMEMBERED`]): the extra roots of the next minor collection.
    remembered: Vec<NonNull<GcHeader>>,
    /// Objects allocated with a destructor since the last collection (young ones).
    young_destructors: Vec<NonNull<GcHeader>>,
    /// The next collection is full when the live bytes at the end of the last one exceed this.
    full_threshold: usize,
    /// Live bytes at the end of the last collection (the old generation, plus external bytes).
    old_bytes: usize,
    /// Bytes allocated between two collections: `base_nursery`, grown or shrunk by the
    /// minor collections' survival (see [`Heap::adapt_nursery`]).
    nursery: usize,
    /// The nursery the last full collection's live bytes call for.
    base_nursery: usize,
    /// Live objects and cell bytes at the end of the last collection.
    old_objects: usize,
    old_cell_bytes: usize,
    /// `cell_bytes` when its growth was last folded into `bytes_allocated` (at the last
    /// collection).
    cell_bytes_base: usize,
    /// Minor collections since the last full one.
    minors_since_full: u32,
    /// Whether the last collection was full.
    last_full: bool,
}

/// In stress mode, every this many collections one is full (the others are minor).
const STRESS_FULL_EVERY: u32 = 4;

impl Default for Heap {
    fn default() -> Self {
        Self::new(HeapConfig::default())
    }
}

fn page_layout() -> Layout {
    // A constant, valid layout (power-of-two size and alignment); aligned to its size so a
    // cell's page is its address masked (see `releasable_flag`).
    Layout::from_size_align(PAGE_SIZE, PAGE_SIZE).unwrap_or_else(|_| unreachable!())
}

impl Heap {
    /// An empty heap.
    pub fn new(config: HeapConfig) -> Self {
        let threshold = match config.limit {
            Some(l) => config.min_threshold.min(l),
            None => config.min_threshold,
        };
        Heap {
            classes: class_sizes()
                .into_iter()
                .map(|cell| Class {
                    cell,
                    pages: Vec::new(),
                    unswept: Vec::new(),
                })
                .collect(),
            large: Vec::new(),
            state: Box::new(AllocState {
                cell_bytes: 0,
                external_bytes: 0,
                trigger: if config.stress { 0 } else { threshold },
                live_objects: 0,
                bytes_allocated: 0,
                cursors: std::array::from_fn(|_| AllocCursor {
                    free: std::ptr::null_mut(),
                    bump: std::ptr::null_mut(),
                    bump_end: std::ptr::null_mut(),
                }),
            }),
            threshold,
            config,
            destructible: VecDeque::new(),
            with_destructor: 0,
            stats: GcStats::default(),
            collecting: false,
            spare_pages: Vec::new(),
            epoch: 1,
            remembered: Vec::new(),
            young_destructors: Vec::new(),
            full_threshold: threshold,
            old_bytes: 0,
            nursery: threshold,
            base_nursery: threshold,
            old_objects: 0,
            old_cell_bytes: 0,
            cell_bytes_base: 0,
            minors_since_full: 0,
            last_full: false,
        }
    }

    /// The collector settings.
    pub fn config(&self) -> &HeapConfig {
        &self.config
    }

    /// Bytes in use: live cells plus the outside memory objects own.
    #[inline(always)]
    fn live_bytes(&self) -> usize {
        self.state.cell_bytes + self.state.external_bytes
    }

    /// The allocation state compiled code allocates through (see [`AllocState`]); its address
    /// is fixed for the heap's life.
    pub fn alloc_state(&mut self) -> *mut AllocState {
        &mut *self.state
    }

    /// Folds the live bytes into the peak. Allocations through [`AllocState`] do not update the
    /// peak, but the live bytes only grow between the points that call this (every place they
    /// can decrease, and [`Heap::stats`]), so the peak stays exact.
    #[inline]
    fn fold_peak(&mut self) {
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.live_bytes());
    }

    /// Sets the collection threshold, and the inline trigger with it.
    fn set_threshold(&mut self, threshold: usize) {
        self.threshold = threshold;
        self.state.trigger = if self.config.stress { 0 } else { threshold };
    }

    /// Whether allocating `bytes` more should be preceded by a collection.
    #[inline(always)]
    pub fn wants_collection(&self, bytes: usize) -> bool {
        self.config.stress || self.live_bytes().saturating_add(bytes) > self.threshold
    }

    /// Whether allocating `bytes` more would exceed the configured limit.
    #[inline]
    pub fn exceeds_limit(&self, bytes: usize) -> bool {
        self.config
            .limit
            .is_some_and(|l| self.live_bytes().saturating_add(bytes) > l)
    }

    /// Allocates a cell with a payload of `payload` bytes (zeroed), for an object with the
    /// given vtable, kind byte and flags. Does not collect: callers check
    /// [`Heap::wants_collection`] first, collect with their roots, and check the limit.
    #[inline]
    pub fn alloc(
        &mut self,
        payload: usize,
        vtable: &'static ObjVTable,
        kind: u8,
        flags: u8,
    ) -> Result<NonNull<GcHeader>, AllocError> {
        // SAFETY: the payload is zeroed before anyone can read it.
        unsafe {
            let obj = self.alloc_uninit(payload, vtable, kind, flags)?;
            let size = (*obj.as_ptr()).size as usize;
            std::ptr::write_bytes(GcHeader::payload(obj), 0, size - HEADER);
            Ok(obj)
        }
    }

    /// As [`Heap::alloc`], but leaves the payload as it was (stale bytes of a freed cell), for
    /// callers that write every byte of it at once: the common record, closure and pair
    /// allocations write their whole payload, so zeroing it first would write it twice.
    ///
    /// # Safety
    /// Before the next collection, and before the object is handed to anything that reads it,
    /// the caller must initialize every byte of the requested `payload` that the object's trace
    /// and release functions read.
    #[inline]
    pub unsafe fn alloc_uninit(
        &mut self,
        payload: usize,
        vtable: &'static ObjVTable,
        kind: u8,
        flags: u8,
    ) -> Result<NonNull<GcHeader>, AllocError> {
        let size = HEADER
            .checked_add(payload)
            .map(|s| (s + ALIGN - 1) & !(ALIGN - 1))
            .filter(|s| *s <= MAX_BLOCK)
            .ok_or(AllocError { requested: payload })?;
        let (obj, size) = if size <= MAX_SMALL {
            let class = class_of(size);
            let cell = self.small_cell(class, vtable.release.is_some())?;
            (cell, self.classes[class].cell)
        } else {
            (self.large_cell(size)?, size)
        };
        // SAFETY: `obj` is a free cell of at least `size` bytes owned by this heap: write the
        // header (the caller initializes the payload).
        unsafe {
            obj.as_ptr().write(GcHeader {
                vtable,
                size: size as u32,
                kind,
                mark: 0,
                flags: flags & GcHeader::HAS_DESTRUCTOR,
                _reserved: 0,
            });
        }
        self.state.live_objects += 1;
        if flags & GcHeader::HAS_DESTRUCTOR != 0 {
            self.with_destructor += 1;
            self.young_destructors.push(obj);
        }
        self.state.cell_bytes += size;
        self.fold_peak();
        Ok(obj)
    }

    /// A free cell of `class` (for an object with a release function if `releasable`).
    #[inline]
    fn small_cell(
        &mut self,
        class: usize,
        releasable: bool,
    ) -> Result<NonNull<GcHeader>, AllocError> {
        let k = &mut self.state.cursors[class];
        let cell = if !k.free.is_null() {
            let cell = k.free;
            // SAFETY: a non-null free-list entry is a free cell whose first word links the
            // next.
            k.free = unsafe { (*cell).vtable as *mut GcHeader };
            cell
        } else if k.bump < k.bump_end {
            let cell = k.bump as *mut GcHeader;
            // SAFETY: the bump range lies inside the class's newest page, in whole cells.
            k.bump = unsafe { k.bump.add(self.classes[class].cell) };
            cell
        } else {
            self.refill(class)?
        };
        if releasable {
            // SAFETY: the cell lies in a page; the page header's first byte is its flag.
            unsafe { *releasable_flag(cell) = 1 };
        }
        // SAFETY: every branch yields a cell pointer inside a page.
        Ok(unsafe { NonNull::new_unchecked(cell) })
    }

    /// Finds free cells for `class` when its free list and bump range are empty: sweeps the
    /// class's unswept pages until one has a free cell (an emptied page becomes the bump page),
    /// else carves a new page. Returns one cell; the rest go to the free list or bump range.
    #[cold]
    fn refill(&mut self, class: usize) -> Result<*mut GcHeader, AllocError> {
        // Sweeping may release external memory.
        self.fold_peak();
        let stress = self.config.stress;
        while let Some(mut p) = self.classes[class].unswept.pop() {
            if p.marked() == 0 {
                // Nothing in the page is live, and nothing in it needs releasing (pages of
                // objects with release functions are never left unswept): carve it afresh,
                // without reading its cells. Their stale headers lie in the bump range, which
                // is rewritten as free cells before anything walks the page.
                debug_assert!(!p.releasable());
                self.start_bump_page(class, p.base);
                break;
            }
            // SAFETY: unswept pages hold initialized headers marked by the last collection.
            let found = unsafe { sweep_page(&p, self.epoch, stress) };
            debug_assert_eq!(found.live, p.marked(), "a page's marked count is off");
            self.state.external_bytes = self.state.external_bytes.saturating_sub(found.released);
            p.full = found.head.is_null();
            self.classes[class].pages.push(p);
            if !found.head.is_null() {
                self.state.cursors[class].free = found.head;
                break;
            }
        }
        let k = &self.state.cursors[class];
        if k.free.is_null() && k.bump >= k.bump_end {
            let base = match self.spare_pages.pop() {
                Some(base) => base,
                // SAFETY: non-zero size.
                None => NonNull::new(unsafe { alloc(page_layout()) }).ok_or(AllocError {
                    requested: PAGE_SIZE,
                })?,
            };
            self.start_bump_page(class, base);
        }
        let k = &mut self.state.cursors[class];
        if !k.free.is_null() {
            let cell = k.free;
            // SAFETY: a free-list entry links the next free cell.
            k.free = unsafe { (*cell).vtable as *mut GcHeader };
            return Ok(cell);
        }
        let cell = k.bump as *mut GcHeader;
        // SAFETY: the fresh bump range holds at least one cell.
        k.bump = unsafe { k.bump.add(self.classes[class].cell) };
        Ok(cell)
    }

    /// Makes the empty page at `base` the class's newest page, its cells carved by bumping.
    fn start_bump_page(&mut self, class: usize, base: NonNull<u8>) {
        self.close_bump(class);
        let c = &mut self.classes[class];
        let k = &mut self.state.cursors[class];
        // SAFETY: the page header's first byte, inside the page.
        unsafe { *base.as_ptr() = 0 };
        let page = Page {
            base,
            cell: c.cell,
            full: false,
        };
        page.reset_marked();
        k.bump = page.cell_at(0) as *mut u8;
        // SAFETY: one past the last whole cell of the page.
        k.bump_end = unsafe { k.bump.add(page.cells() * c.cell) };
        c.pages.push(page);
    }

    /// Turns the class's uncarved bump cells into free cells with headers (size 0), linked
    /// into the free list, so walks over its pages see initialized headers only.
    fn close_bump(&mut self, class: usize) {
        let step = self.classes[class].cell;
        let k = &mut self.state.cursors[class];
        while k.bump < k.bump_end {
            let cell = k.bump as *mut GcHeader;
            // SAFETY: an uncarved cell of the bump page; marks it free and links it.
            unsafe {
                (*cell).vtable = k.free as *const ObjVTable;
                (*cell).size = 0;
                k.bump = k.bump.add(step);
            }
            k.free = cell;
        }
        k.bump = std::ptr::null_mut();
        k.bump_end = std::ptr::null_mut();
    }

    /// Sweeps every unswept page and closes every bump range, so every page is swept and
    /// walkable (every object in it live; the old ones marked with the epoch).
    fn finish_sweep(&mut self) {
        // Sweeping may release external memory.
        self.fold_peak();
        let stress = self.config.stress;
        for class in 0..self.classes.len() {
            self.close_bump(class);
            let unswept = std::mem::take(&mut self.classes[class].unswept);
            for p in unswept {
                // SAFETY: unswept pages hold initialized headers marked by the last collection.
                unsafe { self.sweep_and_file(class, p, stress) };
            }
        }
    }

    /// Sweeps page `p` of `class` now: an emptied page becomes spare; otherwise the page joins
    /// the class's swept pages and its free cells the front of the free list.
    ///
    /// # Safety
    /// As for [`sweep_page`].
    unsafe fn sweep_and_file(&mut self, class: usize, mut p: Page, stress: bool) {
        if p.marked() == 0 && !p.releasable() && !stress {
            // Every cell is dead or free, and none needs releasing (or poisoning).
            self.spare_pages.push(p.base);
            return;
        }
        // SAFETY: guaranteed by the caller.
        let found = unsafe { sweep_page(&p, self.epoch, stress) };
        debug_assert_eq!(found.live, p.marked(), "a page's marked count is off");
        self.state.external_bytes = self.state.external_bytes.saturating_sub(found.released);
        if found.live == 0 {
            self.spare_pages.push(p.base);
            return;
        }
        let k = &mut self.state.cursors[class];
        if !found.head.is_null() {
            // SAFETY: the tail is a free cell of this page; link the old list after it.
            unsafe { (*found.tail).vtable = k.free as *const ObjVTable };
            k.free = found.head;
        }
        p.full = found.head.is_null();
        self.classes[class].pages.push(p);
    }

    #[cold]
    fn large_cell(&mut self, size: usize) -> Result<NonNull<GcHeader>, AllocError> {
        let layout =
            Layout::from_size_align(size, ALIGN).map_err(|_| AllocError { requested: size })?;
        // SAFETY: non-zero size.
        let obj = NonNull::new(unsafe { alloc(layout) } as *mut GcHeader)
            .ok_or(AllocError { requested: size })?;
        self.large.push(obj);
        Ok(obj)
    }

    /// Total bytes ever allocated: those counted, and the cells allocated since the last
    /// collection (`cell_bytes` only grows in between).
    fn bytes_allocated(&self) -> u64 {
        let since = self.state.cell_bytes.saturating_sub(self.cell_bytes_base);
        self.state.bytes_allocated + since as u64
    }

    fn count_alloc(&mut self, bytes: usize) {
        self.state.bytes_allocated += bytes as u64;
        self.fold_peak();
    }

    /// Accounts `bytes` of memory that an object owns outside its cell (a growing array's
    /// element buffer, for example), so it counts toward collection triggers and the limit.
    pub fn add_external(&mut self, bytes: usize) {
        self.state.external_bytes += bytes;
        self.count_alloc(bytes);
    }

    /// Removes external memory from the accounting (the object shrank or released it).
    pub fn sub_external(&mut self, bytes: usize) {
        self.fold_peak();
        self.state.external_bytes = self.state.external_bytes.saturating_sub(bytes);
    }

    /// Runs a full collection. `roots` must mark every root through the tracer.
    pub fn collect(&mut self, roots: impl FnOnce(&mut Tracer)) {
        self.collect_with_weak(roots, |_| {});
    }

    /// Runs a full collection with weak references: after marking and before sweeping, `weak`
    /// is given a predicate telling which objects survive, so the caller can drop weak
    /// references (such as a string intern table's entries) to objects about to be freed.
    pub fn collect_with_weak(
        &mut self,
        roots: impl FnOnce(&mut Tracer),
        weak: impl FnOnce(&dyn Fn(NonNull<GcHeader>) -> bool),
    ) {
        self.collect_full(roots, |_| {}, weak);
    }

    /// Whether the collection policy wants the next collection to be full: the old generation
    /// (the live bytes at the end of the last collection) outgrew the full threshold (the live
    /// bytes after the last full collection times the growth factor, at least the minimum
    /// threshold, at most the limit). In stress mode, every fourth collection is full.
    pub fn wants_full_collection(&self) -> bool {
        if self.config.stress {
            return self.minors_since_full + 1 >= STRESS_FULL_EVERY;
        }
        self.old_bytes > self.full_threshold
    }

    /// Whether the last collection was a full one (false before the first collection).
    pub fn last_collection_was_full(&self) -> bool {
        self.last_full
    }

    /// Runs a minor collection: marks from `roots`, the queued destructible objects and the
    /// references of the remembered old objects, stopping at old objects (they keep their
    /// marks), and frees only the young objects it did not reach. Young unreachable objects
    /// with destructors are queued as in a full collection. Notes are not collected (nothing
    /// can be unloaded at a minor collection: old objects are not traced). `weak` is as for
    /// [`Heap::collect_with_weak`] (old objects always survive).
    pub fn collect_minor(
        &mut self,
        roots: impl FnOnce(&mut Tracer),
        weak: impl FnOnce(&dyn Fn(NonNull<GcHeader>) -> bool),
    ) {
        self.collect_cycle(false, roots, |_| {}, weak);
    }

    /// Runs a full collection with notes and weak references. After the roots and after
    /// everything marked so far has been traced, `more` is called with the tracer; it may take
    /// the notes trace functions reported ([`Tracer::take_notes`]) and mark what the noted
    /// things own. Marking and `more` alternate until `more` marks nothing and no note is
    /// pending. Then, as in [`Heap::collect_with_weak`], `weak` sees which objects survive.
    pub fn collect_full(
        &mut self,
        roots: impl FnOnce(&mut Tracer),
        more: impl FnMut(&mut Tracer),
        weak: impl FnOnce(&dyn Fn(NonNull<GcHeader>) -> bool),
    ) {
        self.collect_cycle(true, roots, more, weak);
    }

    /// One collection, full or minor (see [`Heap::collect_full`] and [`Heap::collect_minor`]).
    fn collect_cycle(
        &mut self,
        full: bool,
        roots: impl FnOnce(&mut Tracer),
        mut more: impl FnMut(&mut Tracer),
        weak: impl FnOnce(&dyn Fn(NonNull<GcHeader>) -> bool),
    ) {
        if self.collecting {
            return;
        }
        self.collecting = true;
        // The collection lowers the live bytes (inline allocations since the last fold are not
        // in the peak yet).
        self.fold_peak();
        let start = Instant::now();
        if full {
            // The last cycle's dead objects must be gone (and every page walkable) before the
            // epoch flips: then every live object reads as unmarked.
            self.finish_sweep();
            self.epoch = 3 - self.epoch;
            // Every page is swept now; its marked cells read as unmarked from here on.
            for c in &self.classes {
                for p in &c.pages {
                    p.reset_marked();
                }
            }
            for obj in std::mem::take(&mut self.remembered) {
                // SAFETY: remembered objects are old, so live until this full collection.
                unsafe { (*obj.as_ptr()).flags &= !GcHeader::REMEMBERED };
            }
        }
        let objects_before = self.state.live_objects;
        let mut tracer = Tracer::new(self.epoch);
        roots(&mut tracer);
        for &obj in &self.destructible {
            // SAFETY: queued objects are live until their destructor has run.
            unsafe { tracer.mark(obj) };
        }
        if !full {
            // The references stored into old objects since the last collection are roots (the
            // objects themselves are marked already, so they are traced directly).
            for obj in std::mem::take(&mut self.remembered) {
                // SAFETY: remembered objects are old (live until a full collection); their
                // vtable is valid.
                unsafe {
                    (*obj.as_ptr()).flags &= !GcHeader::REMEMBERED;
                    if (*(*obj.as_ptr()).vtable).trace.is_some() {
                        tracer.gray.push(obj);
                    }
                }
            }
        }
        self.drain_all(&mut tracer, &mut more);

        // Unreachable objects with destructors survive this collection and are queued. All
        // of them are found before any is marked, so mutually referencing ones are all queued.
        // A minor collection only looks at the young ones (old objects are not freed by it).
        let mut newly = Vec::new();
        let epoch = self.epoch;
        let mut unreached = |h: *mut GcHeader| {
            // SAFETY: callers pass live objects only.
            unsafe {
                if (*h).mark != epoch && (*h).flags & GcHeader::HAS_DESTRUCTOR != 0 {
                    (*h).flags = ((*h).flags & !GcHeader::HAS_DESTRUCTOR) | GcHeader::QUEUED;
                    newly.push(NonNull::new_unchecked(h));
                }
            }
        };
        let young = std::mem::take(&mut self.young_destructors);
        if full {
            if self.with_destructor > 0 {
                self.for_each_object(&mut unreached);
            }
        } else {
            for obj in young {
                unreached(obj.as_ptr());
            }
        }
        self.with_destructor -= newly.len();
        for &obj in &newly {
            // SAFETY: live objects.
            unsafe { tracer.mark(obj) };
        }
        self.drain_all(&mut tracer, &mut more);
        self.destructible.extend(newly);

        // SAFETY: the predicate is only called on objects the caller holds, which are live
        // cells until the sweep below.
        weak(&|obj| unsafe { (*obj.as_ptr()).mark == epoch });
        if self.config.stress {
            self.verify_marks();
        }
        self.sweep(full);
        let (objects, cells) = if full {
            (tracer.marked_objects, tracer.marked_bytes)
        } else {
            (
                self.old_objects + tracer.marked_objects,
                self.old_cell_bytes + tracer.marked_bytes,
            )
        };
        self.state.live_objects = objects;
        self.state.bytes_allocated = self.bytes_allocated();
        self.state.cell_bytes = cells;
        self.cell_bytes_base = cells;
        self.old_objects = objects;
        self.old_cell_bytes = cells;
        self.stats.objects_freed += objects_before.saturating_sub(objects) as u64;
        let pause = start.elapsed();
        self.stats.collections += 1;
        self.stats.total_pause += pause;
        self.stats.max_pause = self.stats.max_pause.max(pause);
        if full {
            self.minors_since_full = 0;
        } else {
            self.stats.minor_collections += 1;
            self.minors_since_full += 1;
        }
        self.last_full = full;
        self.schedule(full);
        self.trim_spare_pages();
        self.collecting = false;
    }

    /// Sets the thresholds after a collection. After a full collection that leaves `live`
    /// bytes, the full threshold becomes `live × growth` and the nursery `live × (growth − 1)
    /// / 2`, both at least `min_threshold` (and the full threshold at most the limit); minor
    /// collections resize the nursery by what they promote (see [`Heap::adapt_nursery`]). The next
    /// collection comes when the nursery is allocated (or the limit reached); it is full once
    /// the old generation outgrew the full threshold (see [`Heap::wants_full_collection`]).
    /// With the base nursery the heap so peaks near `live × (growth + (growth − 1) / 2)`
    /// bytes, against `live × growth` without generations, for collections that only trace
    /// what survives; a grown nursery adds up to seven times the base.
    fn schedule(&mut self, full: bool) {
        let live = self.live_bytes();
        let g = self.config.growth_factor;
        let limit = self.config.limit;
        let cap = |t: usize| match limit {
            Some(limit) => t.min(limit),
            None => t,
        };
        if full {
            let grown = (live as f64 * g) as usize;
            self.full_threshold = cap(grown.max(self.config.min_threshold));
            let nursery = (live as f64 * (g - 1.0) / 2.0) as usize;
            self.base_nursery = nursery.max(self.config.min_threshold);
            let most = self.base_nursery.saturating_mul(MAX_NURSERY_GROWTH);
            self.nursery = self.nursery.clamp(self.base_nursery, most);
        } else {
            self.adapt_nursery(live.saturating_sub(self.old_bytes));
        }
        self.old_bytes = live;
        self.set_threshold(cap(live.saturating_add(self.nursery)));
    }

    /// Resizes the nursery after a minor collection that promoted `promoted` bytes. A minor
    /// collection costs about what it marks, the survivors, while a small nursery keeps the
    /// cells being reused in cache. So the nursery doubles (up to [`MAX_NURSERY_GROWTH`] times
    /// the size the last full collection set) while more than 1/[`GROW_SURVIVAL`] of it
    /// survives — programs that build large structures before dropping them, which a small
    /// nursery would trace again and again and promote to die old — and halves back towards
    /// that size while less than 1/[`SHRINK_SURVIVAL`] does.
    fn adapt_nursery(&mut self, promoted: usize) {
        if promoted.saturating_mul(GROW_SURVIVAL) > self.nursery {
            let most = self.base_nursery.saturating_mul(MAX_NURSERY_GROWTH);
            self.nursery = self.nursery.saturating_mul(2).min(most).max(self.nursery);
        } else if promoted.saturating_mul(SHRINK_SURVIVAL) < self.nursery {
            self.nursery = (self.nursery / 2).max(self.base_nursery);
        }
    }

    /// Stress-mode check of the generational invariant, after marking: every reference of a
    /// marked object leads to a marked object. A violation means a store into an old object
    /// skipped the write barrier (the next sweep would free an object still referenced), so it
    /// stops the process with a message rather than corrupting memory later.
    fn verify_marks(&mut self) {
        for class in 0..self.classes.len() {
            self.close_bump(class);
        }
        let mut check = Tracer::new(self.epoch);
        check.verify = true;
        let mut visit = |h: *mut GcHeader| {
            // SAFETY: walked cells hold initialized headers; marked ones are live objects of
            // their vtable's type (dead cells are never marked with the current epoch).
            unsafe {
                if (*h).mark == check.epoch {
                    if let Some(trace) = (*(*h).vtable).trace {
                        trace(NonNull::new_unchecked(h), &mut check);
                    }
                }
            }
        };
        for c in &self.classes {
            for p in c.pages.iter().chain(&c.unswept) {
                for i in 0..p.cells() {
                    let h = p.cell_at(i);
                    // SAFETY: cells of a page are initialized headers (free ones have size 0).
                    if unsafe { (*h).size } != 0 {
                        visit(h);
                    }
                }
            }
        }
        for obj in &self.large {
            visit(obj.as_ptr());
        }
        assert!(
            check.unmarked_targets == 0,
            "sigma-gc: {} reference(s) from marked objects to unmarked ones after marking \
             (a store into an old object missed the write barrier)",
            check.unmarked_targets
        );
    }

    /// The write barrier: must be called after a reference is stored into `obj` (not needed
    /// while initializing an object no collection has seen yet). If `obj` is old and not yet
    /// remembered, it is remembered: the next minor collection traces its references.
    ///
    /// # Safety
    /// `obj` must be a live object of this heap.
    #[inline(always)]
    pub unsafe fn write_barrier(&mut self, obj: NonNull<GcHeader>) {
        // SAFETY: guaranteed by the caller.
        let h = unsafe { &*obj.as_ptr() };
        if h.mark != 0 && h.flags & GcHeader::REMEMBERED == 0 {
            self.remember(obj);
        }
    }

    /// The write barrier's slow path: adds old object `obj` to the remembered set.
    #[cold]
    fn remember(&mut self, obj: NonNull<GcHeader>) {
        // SAFETY: the barrier's caller guarantees a live object.
        unsafe { (*obj.as_ptr()).flags |= GcHeader::REMEMBERED };
        self.remembered.push(obj);
    }

    /// Objects in the remembered set.
    pub fn remembered_len(&self) -> usize {
        self.remembered.len()
    }
    /// Traces until nothing is gray, handing notes to `more` in between, to a fixpoint.
    fn drain_all(&mut self, tracer: &mut Tracer, more: &mut impl FnMut(&mut Tracer)) {
        loop {
            self.drain(tracer);
            if !tracer.noting {
                return;
            }
            more(tracer);
            if tracer.gray.is_empty() && tracer.fresh.is_empty() {
                return;
            }
        }
    }

    fn drain(&mut self, tracer: &mut Tracer) {
        while let Some(obj) = tracer.gray.pop() {
            // SAFETY: only live cells are marked; objects without a trace function are never
            // pushed; the vtable matches the object.
            unsafe {
                if let Some(trace) = (*obj.as_ref().vtable).trace {
                    trace(obj, tracer);
                }
            }
        }
    }

    /// Calls `f` with every live object, and with the dead young objects of pages a minor
    /// collection left mostly live (they have neither a release function nor a destructor:
    /// a young object with a destructor is marked by the collection, reached or queued).
    /// Callers finish the sweep first.
    fn for_each_object(&self, f: impl FnMut(*mut GcHeader)) {
        self.for_each_object_in(|_| true, f);
    }

    /// Calls `f` on every object in the pages `page` accepts, and on every large object.
    fn for_each_object_in(&self, page: impl Fn(&Page) -> bool, mut f: impl FnMut(*mut GcHeader)) {
        for c in &self.classes {
            for p in c.pages.iter().filter(|p| page(p)) {
                for i in 0..p.cells() {
                    let h = p.cell_at(i);
                    // SAFETY: cells of a page are initialized headers (free ones have size 0).
                    if unsafe { (*h).size } != 0 {
                        f(h);
                    }
                }
            }
        }
        for obj in &self.large {
            f(obj.as_ptr());
        }
    }

    /// Sweeps what must be swept at once (large objects, pages of objects that own outside
    /// memory, every page in stress mode) and queues the other pages to be swept lazily; after
    /// a minor collection, pages that held only old objects are left alone. Does not touch
    /// `live_objects` and `cell_bytes`, which the marking counted.
    fn sweep(&mut self, full: bool) {
        let stress = self.config.stress;
        let epoch = self.epoch;
        let mut released = 0usize;
        for class in 0..self.classes.len() {
            self.close_bump(class);
            // Free-list cells are size-0 cells of these pages; the sweeps relink them (full
            // pages have none).
            self.state.cursors[class].free = std::ptr::null_mut();
            let pages = std::mem::take(&mut self.classes[class].pages);
            for mut p in pages {
                if p.full && !full {
                    self.classes[class].pages.push(p);
                    continue;
                }
                let marked = p.marked();
                // Every cell is live: nothing to free, release or poison, and no free cell.
                // Otherwise a minor collection leaves a page of mostly live objects (and no
                // release functions, whose external memory must be released now) as full.
                if marked == p.cells()
                    || (!full && !p.releasable() && mostly_live(marked, p.cells()))
                {
                    p.full = true;
                    self.classes[class].pages.push(p);
                    continue;
                }
                if !(stress || p.releasable()) {
                    self.classes[class].unswept.push(p);
                    continue;
                }
                // SAFETY: every page holds initialized headers (bump ranges closed), marked by
                // this collection.
                unsafe { self.sweep_and_file(class, p, stress) };
            }
        }
        let mut i = 0;
        while i < self.large.len() {
            let obj = self.large[i];
            // SAFETY: large objects are live cells allocated by `large_cell`.
            unsafe {
                let h = obj.as_ptr();
                if (*h).mark == epoch {
                    i += 1;
                    continue;
                }
                let size = (*h).size as usize;
                released += release(h, stress) - size;
                dealloc(h as *mut u8, Layout::from_size_align_unchecked(size, ALIGN));
            }
            self.large.swap_remove(i);
        }
        self.state.external_bytes = self.state.external_bytes.saturating_sub(released);
    }
    /// Keeps as many empty pages as the heap may fill before its next collection (none in
    /// stress mode, where every freed page goes back to the system at once) and returns the
    /// rest to the system. Called after the threshold is set.
    fn trim_spare_pages(&mut self) {
        let keep = if self.config.stress {
            0
        } else {
            self.threshold.saturating_sub(self.live_bytes()) / PAGE_SIZE
        };
        while self.spare_pages.len() > keep {
            if let Some(base) = self.spare_pages.pop() {
                // SAFETY: spare pages came from `alloc` with this layout and hold no object.
                unsafe { dealloc(base.as_ptr(), page_layout()) };
            }
        }
    }

    /// Empty pages kept for reuse.
    pub fn spare_pages(&self) -> usize {
        self.spare_pages.len()
    }

    /// The next object whose destructor must run, if any. The object stays alive (it is no
    /// longer queued, so the caller must keep it reachable, for example in a register, until
    /// the destructor has run); a later collection frees it if it is then unreachable.
    pub fn pop_destructible(&mut self) -> Option<NonNull<GcHeader>> {
        let obj = self.destructible.pop_front()?;
        // SAFETY: queued objects are live.
        unsafe { (*obj.as_ptr()).flags &= !GcHeader::QUEUED };
        Some(obj)
    }

    /// Whether destructors are waiting to run.
    #[inline(always)]
    pub fn has_destructible(&self) -> bool {
        !self.destructible.is_empty()
    }

    /// Queues every live object that still has a destructor (used at program end, when all
    /// remaining destructors must run).
    pub fn queue_all_destructors(&mut self) {
        self.finish_sweep();
        if self.with_destructor == 0 {
            // No live object has a destructor left to run: nothing to find.
            return;
        }
        let mut found = Vec::new();
        self.for_each_object(|h| {
            // SAFETY: live objects.
            unsafe {
                if (*h).flags & GcHeader::HAS_DESTRUCTOR != 0 {
                    (*h).flags = ((*h).flags & !GcHeader::HAS_DESTRUCTOR) | GcHeader::QUEUED;
                    found.push(NonNull::new_unchecked(h));
                }
            }
        });
        self.with_destructor -= found.len();
        self.destructible.extend(found);
    }

    /// Current statistics.
    pub fn stats(&self) -> GcStats {
        GcStats {
            live_bytes: self.live_bytes(),
            live_objects: self.state.live_objects,
            bytes_allocated: self.bytes_allocated(),
            peak_bytes: self.stats.peak_bytes.max(self.live_bytes()),
            ..self.stats
        }
    }
}

/// Releases an unreachable object's external resources and poisons it in stress mode;
/// returns the bytes it accounted for (cell plus external memory).
///
/// # Safety
/// `h` must be a live object that is being freed.
unsafe fn release(h: *mut GcHeader, stress: bool) -> usize {
    // SAFETY: guaranteed by the caller; `release` matches the object's type.
    unsafe {
        let size = (*h).size as usize;
        let mut bytes = size;
        if let Some(release) = (*(*h).vtable).release {
            bytes += release(NonNull::new_unchecked(h));
        }
        if stress {
            std::ptr::write_bytes(h as *mut u8, POISON, size);
        }
        bytes
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        // Releases the dead objects of unswept pages and makes every page walkable.
        self.finish_sweep();
        // Only objects with a release function own memory outside their cells, and only pages
        // flagged releasable hold small ones: the other pages go without a walk.
        self.for_each_object_in(Page::releasable, |h| {
            // SAFETY: every object is released exactly once, here, before its memory goes.
            unsafe { release(h, false) };
        });
        for c in &mut self.classes {
            for p in c.pages.drain(..) {
                // SAFETY: pages were allocated with this layout and are freed once.
                unsafe { dealloc(p.base.as_ptr(), page_layout()) };
            }
        }
        for base in self.spare_pages.drain(..) {
            // SAFETY: spare pages were allocated with this layout and are freed once.
            unsafe { dealloc(base.as_ptr(), page_layout()) };
        }
        for obj in self.large.drain(..) {
            // SAFETY: large cells were allocated with their recorded size and are freed once.
            unsafe {
                let size = (*obj.as_ptr()).size as usize;
                dealloc(
                    obj.as_ptr() as *mut u8,
                    Layout::from_size_align_unchecked(size, ALIGN),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! A toy object model: nodes with up to two child pointers and an optional owned payload,
    //! enough to exercise marking, sweeping, external memory and destructors.
    use super::*;

    #[repr(C)]
    struct Node {
        left: Option<NonNull<GcHeader>>,
        right: Option<NonNull<GcHeader>>,
        payload: Option<Vec<u64>>,
    }

    unsafe fn node<'a>(obj: NonNull<GcHeader>) -> &'a mut Node {
        // SAFETY: test objects are all `Node`s allocated with NODE.
        unsafe { &mut *(GcHeader::payload(obj) as *mut Node) }
    }

    unsafe fn trace_node(obj: NonNull<GcHeader>, t: &mut Tracer) {
        // SAFETY: see `node`.
        unsafe {
            let n = node(obj);
            if let Some(l) = n.left {
                t.mark(l);
            }
            if let Some(r) = n.right {
                t.mark(r);
            }
        }
    }

    unsafe fn release_node(obj: NonNull<GcHeader>) -> usize {
        // SAFETY: see `node`; runs once per object.
        let n = unsafe { node(obj) };
        n.payload.take().map_or(0, |p| p.len() * 8)
    }

    static NODE: ObjVTable = ObjVTable {
        trace: Some(trace_node),
        release: Some(release_node),
    };

    static LEAF: ObjVTable = ObjVTable {
        trace: None,
        release: None,
    };

    fn new_node(heap: &mut Heap, flags: u8) -> NonNull<GcHeader> {
        let obj = heap
            .alloc(std::mem::size_of::<Node>(), &NODE, 7, flags)
            .unwrap();
        // SAFETY: freshly allocated, zeroed payload; writing a valid Node over it.
        unsafe {
            (GcHeader::payload(obj) as *mut Node).write(Node {
                left: None,
                right: None,
                payload: None,
            })
        };
        obj
    }

    fn collect_with(heap: &mut Heap, roots: &[NonNull<GcHeader>]) {
        heap.collect(|t| {
            for r in roots {
                // SAFETY: roots are live nodes.
                unsafe { t.mark(*r) };
            }
        });
    }

    unsafe fn trace_noting(_obj: NonNull<GcHeader>, t: &mut Tracer) {
        t.note(5);
        t.note(5);
    }

    static NOTING: ObjVTable = ObjVTable {
        trace: Some(trace_noting),
        release: None,
    };

    #[test]
    fn notes_let_the_runtime_keep_what_marked_objects_depend_on() {
        for noting in [true, false] {
            let mut heap = Heap::default();
            let dependent = heap.alloc(16, &NOTING, 8, 0).unwrap();
            // Held by "id 5" outside the heap: alive only while something notes 5.
            let owned = new_node(&mut heap, 0);
            let child = new_node(&mut heap, 0);
            // SAFETY: live node.
            unsafe { node(owned).left = Some(child) };
            let mut seen = Vec::new();
            heap.collect_full(
                |t| {
                    t.set_noting(noting);
                    // SAFETY: a live object.
                    unsafe { t.mark(dependent) };
                },
                |t| {
                    for n in t.take_notes() {
                        seen.push(n);
                        if n == 5 {
                            // SAFETY: `owned` is live until this collection's sweep.
                            unsafe { t.mark(owned) };
                        }
                    }
                },
                |_| {},
            );
            if noting {
                assert_eq!(seen, vec![5], "each note is reported once");
                assert_eq!(heap.stats().live_objects, 3, "the owner's objects survive");
            } else {
                assert!(seen.is_empty(), "notes are off unless turned on");
                assert_eq!(heap.stats().live_objects, 1);
            }
        }
    }

    /// Allocates a 16-byte-payload leaf the way compiled code does (see [`AllocState`]):
    /// through the raw state and the published offsets only. `None` means "slow path".
    fn inline_leaf(heap: &mut Heap, tag: u64) -> Option<NonNull<GcHeader>> {
        let (class, cell) = small_class(16).unwrap();
        let reserve = 16 + 24;
        let st = heap.alloc_state() as *mut u8;
        // SAFETY: the offsets are those of the live `AllocState`; the cell taken is a free
        // cell of the class (contract steps 2-4), whose header and payload are written here.
        unsafe {
            let word = |off: usize| st.add(off) as *mut usize;
            let live = *word(alloc_offset::CELL_BYTES) + *word(alloc_offset::EXTERNAL_BYTES);
            if live + reserve > *word(alloc_offset::TRIGGER) {
                return None;
            }
            let free = *word(alloc_offset::free(class)) as *mut u8;
            let obj = if !free.is_null() {
                *word(alloc_offset::free(class)) = *(free as *const usize);
                free
            } else {
                let bump = *word(alloc_offset::bump(class)) as *mut u8;
                if bump >= *word(alloc_offset::bump_end(class)) as *mut u8 {
                    return None;
                }
                *word(alloc_offset::bump(class)) = bump.add(cell) as usize;
                bump
            };
            *word(alloc_offset::CELL_BYTES) += cell;
            *word(alloc_offset::LIVE_OBJECTS) += 1;
            *(obj as *mut usize) = &LEAF as *const ObjVTable as usize;
            *(obj.add(8) as *mut u64) = header_word(cell, 3);
            *(obj.add(16) as *mut u64) = tag;
            Some(NonNull::new_unchecked(obj as *mut GcHeader))
        }
    }

    /// An inline allocation, or the heap's own when the contract says "slow path" (the
    /// runtime's allocation function: collect when due, then allocate); `None` where the
    /// runtime raises OutOfMemory (the limit is still exceeded after a collection).
    fn leaf_either(
        heap: &mut Heap,
        tag: u64,
        roots: &[NonNull<GcHeader>],
    ) -> Option<(NonNull<GcHeader>, bool)> {
        if let Some(obj) = inline_leaf(heap, tag) {
            return Some((obj, true));
        }
        if heap.wants_collection(16 + 24) {
            collect_with(heap, roots);
            if heap.exceeds_limit(16 + 24) {
                return None;
            }
        }
        Some((new_leaf(heap, tag), false))
    }

    #[test]
    fn inline_allocation_keeps_statistics_exact_across_pages_and_collections() {
        assert_eq!(class_sizes().len(), CLASSES);
        assert_eq!(small_class(16), Some((1, 32)));
        assert_eq!(small_class(40), Some((3, 64)));
        assert_eq!(small_class(MAX_SMALL), None);
        let config = HeapConfig {
            min_threshold: 4 * PAGE_SIZE,
            ..HeapConfig::default()
        };
        let mut inline = Heap::new(config.clone());
        let mut reference = Heap::new(config);
        let mut keep: Vec<NonNull<GcHeader>> = Vec::new();
        let mut keep_ref: Vec<NonNull<GcHeader>> = Vec::new();
        let (mut fast, mut slow) = (0, 0);
        for i in 0..50_000u64 {
            let (obj, was_fast) = leaf_either(&mut inline, i, &keep).unwrap();
            if was_fast {
                fast += 1;
            } else {
                slow += 1;
            }
            if reference.wants_collection(16 + 24) {
                collect_with(&mut reference, &keep_ref);
            }
            let r = new_leaf(&mut reference, i);
            if i % 7 == 0 {
                keep.push(obj);
                keep_ref.push(r);
            }
            let (x, y) = (inline.stats(), reference.stats());
            let exact = |s: GcStats| {
                (
                    s.collections,
                    s.bytes_allocated,
                    s.live_bytes,
                    s.live_objects,
                    s.peak_bytes,
                    s.objects_freed,
                )
            };
            assert_eq!(exact(x), exact(y), "after allocation {i}");
            // Every cell counts once, between collections and across them.
            assert_eq!(x.bytes_allocated, (i + 1) * 32, "after allocation {i}");
        }
        assert!(fast > 40_000 && slow > 10, "{fast} inline, {slow} slow");
        assert!(inline.stats().collections >= 3);
        for (i, k) in keep.iter().enumerate() {
            assert_eq!(leaf_tag(*k), 7 * i as u64, "a kept object was reused");
        }
        collect_with(&mut inline, &keep);
        collect_with(&mut reference, &keep_ref);
        assert_eq!(inline.stats().live_objects, keep.len());
        let (a, b) = (inline.stats(), reference.stats());
        assert_eq!(
            (a.live_bytes, a.bytes_allocated, a.peak_bytes),
            (b.live_bytes, b.bytes_allocated, b.peak_bytes)
        );
        assert_eq!(a.bytes_allocated, 50_000 * 32);
    }

    #[test]
    fn the_peak_counts_inline_allocations_a_minor_collection_frees() {
        let mut heap = Heap::default();
        // Carves a page: the rest of it is the bump range inline allocation takes from.
        new_leaf(&mut heap, 0);
        let before = heap.stats().peak_bytes;
        let mut n = 0;
        while n < 1_000 && inline_leaf(&mut heap, n).is_some() {
            n += 1;
        }
        assert_eq!(n, 1_000);
        minor_with(&mut heap, &[]);
        assert_eq!(heap.stats().live_bytes, 0);
        assert_eq!(heap.stats().peak_bytes, before + 1_000 * 32);
    }

    #[test]
    fn inline_allocation_takes_the_slow_path_in_stress_mode_and_near_the_limit() {
        let mut stressed = Heap::new(HeapConfig {
            stress: true,
            ..HeapConfig::default()
        });
        assert!(inline_leaf(&mut stressed, 1).is_none());
        new_leaf(&mut stressed, 1);
        assert!(
            inline_leaf(&mut stressed, 2).is_none(),
            "stress mode always collects"
        );
        // A limit below the floor: the trigger is the limit, so inline allocations stop before
        // it and the runtime's check sees the limit.
        let mut limited = Heap::new(HeapConfig {
            limit: Some(2 * PAGE_SIZE),
            ..HeapConfig::default()
        });
        let mut fast = 0;
        let mut kept = Vec::new();
        let mut out_of_memory = false;
        for i in 0..20_000 {
            // The runtime's OutOfMemory: only ever after a slow path.
            let Some((obj, was_fast)) = leaf_either(&mut limited, i, &kept) else {
                out_of_memory = true;
                break;
            };
            if i % 2 == 0 {
                kept.push(obj);
            }
            if was_fast {
                fast += 1;
            }
            assert!(limited.stats().live_bytes <= 2 * PAGE_SIZE);
        }
        assert!(fast > 100, "{fast}");
        assert!(out_of_memory, "the limit was reached");
    }

    #[test]
    fn size_classes_cover_every_small_size() {
        let sizes = class_sizes();
        for size in (16..=MAX_SMALL).step_by(16) {
            let c = class_of(size);
            assert!(sizes[c] >= size, "size {size} class {c}");
            assert!(
                c == 0 || sizes[c - 1] < size,
                "size {size} class {c} not tight"
            );
        }
    }

    #[test]
    fn unreachable_objects_are_freed_and_reachable_ones_kept() {
        let mut heap = Heap::default();
        let root = new_node(&mut heap, 0);
        let child = new_node(&mut heap, 0);
        let grandchild = new_node(&mut heap, 0);
        // SAFETY: all live.
        unsafe {
            node(root).left = Some(child);
            node(child).right = Some(grandchild);
        }
        for _ in 0..10 {
            new_node(&mut heap, 0);
        }
        assert_eq!(heap.stats().live_objects, 13);
        collect_with(&mut heap, &[root]);
        assert_eq!(heap.stats().live_objects, 3);
        assert_eq!(heap.stats().objects_freed, 10);
        // Marks are cleared: a second collection keeps the same objects.
        collect_with(&mut heap, &[root]);
        assert_eq!(heap.stats().live_objects, 3);
        collect_with(&mut heap, &[]);
        assert_eq!(heap.stats().live_objects, 0);
        assert_eq!(heap.stats().live_bytes, 0);
    }

    #[test]
    fn freed_cells_are_reused_and_empty_pages_kept_for_reuse() {
        let mut heap = Heap::default();
        let first: Vec<_> = (0..5000).map(|_| new_node(&mut heap, 0)).collect();
        let keep = first[17];
        collect_with(&mut heap, &[keep]);
        assert_eq!(heap.stats().live_objects, 1);
        // Only the page holding `keep` remains.
        assert_eq!(heap.classes.iter().map(|c| c.pages.len()).sum::<usize>(), 1);
        // The emptied pages are kept for reuse (the default threshold leaves room for them).
        let spare = heap.spare_pages();
        assert!(spare >= 2, "{spare} spare pages");
        let again = new_node(&mut heap, 0);
        // Reuses a cell of the kept page rather than carving a new one.
        assert_eq!(heap.classes.iter().map(|c| c.pages.len()).sum::<usize>(), 1);
        assert_ne!(again, keep);
        // Filling the kept page takes spare pages before asking the system for new ones.
        let more: Vec<_> = (0..5000).map(|_| new_node(&mut heap, 0)).collect();
        let pages = heap.classes.iter().map(|c| c.pages.len()).sum::<usize>();
        assert!(pages > 2);
        assert_eq!(heap.spare_pages(), spare.saturating_sub(pages - 1));
        assert_eq!(more.len(), 5000);
    }

    /// A leaf object (no trace, no release: its pages are swept lazily) holding `tag`.
    fn new_leaf(heap: &mut Heap, tag: u64) -> NonNull<GcHeader> {
        let obj = heap.alloc(16, &LEAF, 3, 0).unwrap();
        // SAFETY: a fresh 16-byte payload.
        unsafe { (GcHeader::payload(obj) as *mut u64).write(tag) };
        obj
    }

    fn leaf_tag(obj: NonNull<GcHeader>) -> u64 {
        // SAFETY: a live leaf.
        unsafe { (GcHeader::payload(obj) as *const u64).read() }
    }

    fn page_count(heap: &Heap) -> usize {
        heap.classes
            .iter()
            .map(|c| c.pages.len() + c.unswept.len())
            .sum::<usize>()
    }

    #[test]
    fn lazily_swept_pages_reuse_dead_cells_and_keep_live_ones() {
        let mut heap = Heap::default();
        let all: Vec<_> = (0..10_000).map(|i| new_leaf(&mut heap, i)).collect();
        let keep: Vec<_> = all.iter().copied().step_by(3).collect();
        let cell = heap.classes[class_of(32)].cell;
        collect_with(&mut heap, &keep);
        // Statistics are exact before any page is swept.
        assert!(heap.classes.iter().any(|c| !c.unswept.is_empty()));
        assert_eq!(heap.stats().live_objects, keep.len());
        assert_eq!(heap.stats().live_bytes, keep.len() * cell);
        assert_eq!(heap.stats().objects_freed, (all.len() - keep.len()) as u64);
        let pages = page_count(&heap);
        // The dead cells are enough for this many new objects: no page is carved.
        let fresh: Vec<_> = (0..6_000)
            .map(|i| new_leaf(&mut heap, 1_000_000 + i))
            .collect();
        assert_eq!(page_count(&heap), pages);
        for (i, k) in keep.iter().enumerate() {
            assert_eq!(
                leaf_tag(*k),
                3 * i as u64,
                "a live object was handed out again"
            );
        }
        for (i, f) in fresh.iter().enumerate() {
            assert_eq!(leaf_tag(*f), 1_000_000 + i as u64);
            assert!(!keep.contains(f));
        }
        // A collection sweeps what is left unswept before it marks: the survivors are exact.
        let mut roots = keep.clone();
        roots.extend(&fresh[..100]);
        collect_with(&mut heap, &roots);
        assert_eq!(heap.stats().live_objects, keep.len() + 100);
        collect_with(&mut heap, &[]);
        assert_eq!(heap.stats().live_objects, 0);
        assert_eq!(heap.stats().live_bytes, 0);
        // Everything is unswept garbage now; the next allocations take the emptied pages.
        let again = new_leaf(&mut heap, 7);
        assert_eq!(leaf_tag(again), 7);
        assert!(page_count(&heap) <= pages);
    }

    /// Checks every page's marked count against the marks of its cells (closing the bump
    /// ranges first, so every page is walkable) and returns the counts' sum.
    fn checked_marked_counts(heap: &mut Heap) -> usize {
        for class in 0..CLASSES {
            heap.close_bump(class);
        }
        let mut sum = 0;
        for c in &heap.classes {
            for p in c.pages.iter().chain(&c.unswept) {
                let marked = (0..p.cells())
                    .filter(|&i| {
                        let h = p.cell_at(i);
                        // SAFETY: cells of a page are initialized headers (bump ranges closed).
                        unsafe { (*h).size != 0 && (*h).mark == heap.epoch }
                    })
                    .count();
                assert_eq!(p.marked(), marked, "a page's marked count is off");
                sum += marked;
            }
        }
        sum
    }

    #[test]
    fn marked_counts_survive_minor_collections_and_reset_at_full_ones() {
        let mut heap = Heap::default();
        let first: Vec<_> = (0..5_000).map(|i| new_leaf(&mut heap, i)).collect();
        let old: Vec<_> = first.iter().copied().step_by(2).collect();
        collect_with(&mut heap, &old);
        assert_eq!(checked_marked_counts(&mut heap), old.len());
        // A minor collection counts the young objects it marks; the old ones, not marked
        // again, keep their counts.
        let second: Vec<_> = (0..3_000)
            .map(|i| new_leaf(&mut heap, 10_000 + i))
            .collect();
        let young: Vec<_> = second.iter().copied().step_by(3).collect();
        minor_with(&mut heap, &young);
        assert_eq!(heap.stats().live_objects, old.len() + young.len());
        assert_eq!(checked_marked_counts(&mut heap), old.len() + young.len());
        minor_with(&mut heap, &[]);
        assert_eq!(checked_marked_counts(&mut heap), old.len() + young.len());
        // A full collection counts afresh: only what it marks.
        let mut roots = old[..100].to_vec();
        roots.extend(&young[..10]);
        collect_with(&mut heap, &roots);
        assert_eq!(checked_marked_counts(&mut heap), 110);
        collect_with(&mut heap, &[]);
        assert_eq!(checked_marked_counts(&mut heap), 0);
    }

    static TRIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    unsafe fn release_trip(_obj: NonNull<GcHeader>) -> usize {
        TRIPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        0
    }

    /// The vtable the next test writes over dead objects: releasing one means a sweep read it.
    static TRIP: ObjVTable = ObjVTable {
        trace: None,
        release: Some(release_trip),
    };

    #[test]
    fn an_all_dead_page_is_carved_again_without_reading_its_cells() {
        let mut heap = Heap::default();
        let cells = (PAGE_SIZE - PAGE_CELLS) / 32;
        // Exactly one page of leaves, then a survivor on the next page.
        let dead: Vec<_> = (0..cells).map(|i| new_leaf(&mut heap, i as u64)).collect();
        let survivor = new_leaf(&mut heap, 77);
        let page_of = |o: NonNull<GcHeader>| o.as_ptr() as usize & !(PAGE_SIZE - 1);
        assert!(dead.iter().all(|&d| page_of(d) == page_of(dead[0])));
        assert_ne!(page_of(survivor), page_of(dead[0]));
        collect_with(&mut heap, &[survivor]);
        // A walk over the dead page would release these (their page is not releasable, so a
        // sweep would be the only thing calling the release function).
        for d in &dead {
            // SAFETY: the cell holds a dead object's header; nothing reads it but a sweep.
            unsafe { (*d.as_ptr()).vtable = &TRIP };
        }
        let pages = page_count(&heap);
        let fresh: Vec<_> = (0..cells)
            .map(|i| new_leaf(&mut heap, 1_000 + i as u64))
            .collect();
        assert_eq!(TRIPPED.load(std::sync::atomic::Ordering::Relaxed), 0);
        // The dead page was reused (no page was carved from the system).
        assert_eq!(page_count(&heap), pages);
        assert!(fresh.iter().any(|&f| page_of(f) == page_of(dead[0])));
        assert_eq!(leaf_tag(survivor), 77);
        for (i, f) in fresh.iter().enumerate() {
            assert_eq!(leaf_tag(*f), 1_000 + i as u64);
        }
        // A walk sees exactly the live objects (the rest of the reused page's stale headers
        // are rewritten as free cells first).
        heap.finish_sweep();
        let mut seen = Vec::new();
        heap.for_each_object(|h| seen.push(h as usize));
        let mut live: Vec<_> = fresh.iter().map(|f| f.as_ptr() as usize).collect();
        live.push(survivor.as_ptr() as usize);
        seen.sort_unstable();
        live.sort_unstable();
        assert_eq!(seen, live);
        drop(heap);
        assert_eq!(TRIPPED.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    static COUNTED_RELEASES: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(0);

    unsafe fn release_counted(_obj: NonNull<GcHeader>) -> usize {
        COUNTED_RELEASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        0
    }

    static COUNTED: ObjVTable = ObjVTable {
        trace: None,
        release: Some(release_counted),
    };

    #[test]
    fn objects_with_release_functions_on_dead_pages_are_released_exactly_once() {
        let released = || COUNTED_RELEASES.load(std::sync::atomic::Ordering::Relaxed);
        let mut heap = Heap::default();
        let counted = |heap: &mut Heap| heap.alloc(16, &COUNTED, 5, 0).unwrap();
        // Several pages of them (all dead at the first collection), and leaves on other pages.
        let first: Vec<_> = (0..5_000).map(|_| counted(&mut heap)).collect();
        let leaves: Vec<_> = (0..5_000).map(|i| new_leaf(&mut heap, i)).collect();
        collect_with(&mut heap, &leaves[..1]);
        assert_eq!(released(), first.len());
        // Reused cells and pages: survivors of a minor collection, then garbage of a full one.
        let second: Vec<_> = (0..5_000).map(|_| counted(&mut heap)).collect();
        minor_with(&mut heap, &second[..100]);
        assert_eq!(released(), first.len() + second.len() - 100);
        let third: Vec<_> = (0..300).map(|_| counted(&mut heap)).collect();
        collect_with(&mut heap, &third[..1]);
        assert_eq!(released(), first.len() + second.len() + third.len() - 1);
        drop(heap);
        assert_eq!(released(), first.len() + second.len() + third.len());
    }

    #[test]
    fn minor_collections_leave_mostly_live_pages_to_the_next_full_one() {
        let mut heap = Heap::default();
        let class = class_of(32);
        let cells = (PAGE_SIZE - PAGE_CELLS) / 32;
        // One page of young leaves; a minor collection finds all but 10 live.
        let first: Vec<_> = (0..cells).map(|i| new_leaf(&mut heap, i as u64)).collect();
        let keep = first[10..].to_vec();
        minor_with(&mut heap, &keep);
        assert_eq!(heap.stats().live_objects, keep.len());
        assert!(heap.classes[class].unswept.is_empty());
        assert!(heap.classes[class].pages.iter().all(|p| p.full));
        // Its 10 dead cells wait: the next object takes a new page.
        let pages = page_count(&heap);
        let x = new_leaf(&mut heap, 5);
        assert_eq!(page_count(&heap), pages + 1);
        minor_with(&mut heap, &[x]);
        assert!(heap.classes[class].pages[0].full);
        // They are floating garbage: a walk still meets them (even once everything else is
        // swept).
        let mut roots = keep.clone();
        roots.push(x);
        heap.finish_sweep();
        assert!(heap.classes[class].pages[0].full);
        let mut seen = 0;
        heap.for_each_object(|_| seen += 1);
        assert_eq!(seen, roots.len() + 10);
        // A page found less than seven eighths live is swept as usual.
        let half: Vec<_> = (0..cells).map(|i| new_leaf(&mut heap, i as u64)).collect();
        minor_with(&mut heap, &half[..cells / 2]);
        assert!(heap.classes[class].unswept.iter().any(|p| !p.full));
        roots.extend(&half[..cells / 2]);
        // The next full collection sweeps the mostly live page too: the walk afterwards meets
        // the live objects only, and the dead cells are free again.
        collect_with(&mut heap, &roots);
        assert_eq!(heap.stats().live_objects, roots.len());
        assert!(heap.classes[class].pages.iter().all(|p| !p.full));
        heap.finish_sweep();
        let mut seen = 0;
        heap.for_each_object(|_| seen += 1);
        assert_eq!(seen, roots.len());
        for (i, k) in keep.iter().enumerate() {
            assert_eq!(leaf_tag(*k), 10 + i as u64);
        }
    }

    #[test]
    fn floating_garbage_stays_bounded_under_a_limit() {
        // A workload whose young objects mostly survive one minor collection and then die:
        // pages left mostly live by minor collections must be reclaimed by the full ones,
        // so the pages in use stay near what the limit allows.
        let limit = 4 << 20;
        let mut heap = Heap::new(HeapConfig {
            limit: Some(limit),
            min_threshold: 1 << 20,
            ..HeapConfig::default()
        });
        let mut live: Vec<NonNull<GcHeader>> = Vec::new();
        let mut max_pages = 0;
        for i in 0..400_000u64 {
            if heap.wants_collection(64) {
                // The runtime's order: minor unless the policy wants a full one; a full one
                // before giving up on the limit.
                if heap.wants_full_collection() {
                    collect_with(&mut heap, &live);
                } else {
                    minor_with(&mut heap, &live);
                }
                if heap.exceeds_limit(64) {
                    collect_with(&mut heap, &live);
                    assert!(!heap.exceeds_limit(64), "out of memory with little live");
                }
                // Most of the survivors die now.
                let n = live.len();
                live.drain(..n - n / 16);
            }
            live.push(new_leaf(&mut heap, i));
            max_pages = max_pages.max(page_count(&heap) + heap.spare_pages());
        }
        assert!(heap.stats().collections > 10);
        assert!(heap.stats().live_bytes <= limit);
        assert!(
            max_pages * PAGE_SIZE <= 2 * limit,
            "{max_pages} pages for a {limit}-byte limit"
        );
    }

    #[test]
    fn unswept_pages_and_bump_ranges_are_walkable_for_destructors_and_drop() {
        let mut heap = Heap::default();
        for i in 0..3_000 {
            new_leaf(&mut heap, i);
        }
        let d = new_node(&mut heap, GcHeader::HAS_DESTRUCTOR);
        collect_with(&mut heap, &[d]);
        // Leaves die unswept; a partly carved bump page follows.
        for i in 0..10 {
            new_leaf(&mut heap, i);
        }
        heap.queue_all_destructors();
        assert_eq!(heap.pop_destructible(), Some(d));
        assert_eq!(heap.pop_destructible(), None);
        assert!(heap.classes.iter().all(|c| c.unswept.is_empty()));
        assert_eq!(heap.stats().live_objects, 11);
        drop(heap); // valgrind checks that every page and payload is freed
    }

    #[test]
    fn spare_pages_stay_within_the_room_before_the_next_collection() {
        // A threshold of three pages: at most three empty pages are kept.
        let mut heap = Heap::new(HeapConfig {
            min_threshold: 3 * PAGE_SIZE,
            ..HeapConfig::default()
        });
        for _ in 0..20_000 {
            new_node(&mut heap, 0);
        }
        collect_with(&mut heap, &[]);
        assert_eq!(heap.stats().live_bytes, 0);
        assert_eq!(heap.spare_pages(), 3);
        // In stress mode every emptied page goes back to the system.
        let mut stressed = Heap::new(HeapConfig {
            stress: true,
            ..HeapConfig::default()
        });
        for _ in 0..5000 {
            new_node(&mut stressed, 0);
        }
        collect_with(&mut stressed, &[]);
        assert_eq!(stressed.spare_pages(), 0);
    }

    #[test]
    fn large_objects_are_allocated_and_freed_alone() {
        let mut heap = Heap::default();
        let big = heap.alloc(100_000, &LEAF, 1, 0).unwrap();
        let small = heap.alloc(10, &LEAF, 1, 0).unwrap();
        assert!(heap.stats().live_bytes >= 100_000);
        collect_with(&mut heap, &[small]);
        assert_eq!(heap.stats().live_objects, 1);
        assert!(heap.large.is_empty());
        collect_with(&mut heap, &[]);
        assert_eq!(heap.stats().live_bytes, 0);
        let _ = big;
    }

    #[test]
    fn cycles_are_collected() {
        let mut heap = Heap::default();
        let a = new_node(&mut heap, 0);
        let b = new_node(&mut heap, 0);
        // SAFETY: live.
        unsafe {
            node(a).left = Some(b);
            node(b).left = Some(a);
        }
        collect_with(&mut heap, &[a]);
        assert_eq!(heap.stats().live_objects, 2);
        collect_with(&mut heap, &[]);
        assert_eq!(heap.stats().live_objects, 0);
    }

    #[test]
    fn external_memory_is_accounted_and_released() {
        let mut heap = Heap::default();
        let n = new_node(&mut heap, 0);
        // SAFETY: live.
        unsafe { node(n).payload = Some(vec![0; 1000]) };
        heap.add_external(8000);
        assert!(heap.stats().live_bytes >= 8000);
        collect_with(&mut heap, &[]);
        assert_eq!(heap.stats().live_bytes, 0);
    }

    #[test]
    fn trigger_follows_growth_and_limit() {
        let mut heap = Heap::new(HeapConfig {
            limit: Some(100_000),
            growth_factor: 2.0,
            min_threshold: 1_000,
            stress: false,
        });
        assert!(!heap.wants_collection(10));
        assert!(heap.wants_collection(2_000));
        assert!(heap.exceeds_limit(200_000));
        let keep: Vec<_> = (0..30).map(|_| new_node(&mut heap, 0)).collect();
        collect_with(&mut heap, &keep);
        let live = heap.stats().live_bytes;
        // Next collection after a nursery of max(min_threshold, live × (growth − 1) / 2) bytes
        // (never above the limit).
        let nursery = (live / 2).max(1_000);
        assert!(!heap.wants_collection(nursery));
        assert!(heap.wants_collection(nursery + 1));
        // The full threshold is twice the live bytes: no full collection is due yet.
        assert!(!heap.wants_full_collection());
    }

    #[test]
    fn destructors_are_queued_once_and_objects_survive_until_run() {
        let mut heap = Heap::default();
        let d = new_node(&mut heap, GcHeader::HAS_DESTRUCTOR);
        let child = new_node(&mut heap, 0);
        // SAFETY: live.
        unsafe { node(d).left = Some(child) };
        collect_with(&mut heap, &[]);
        // Both survive: the destructible object and what it references.
        assert_eq!(heap.stats().live_objects, 2);
        assert!(heap.has_destructible());
        // Queued objects are roots for further collections.
        collect_with(&mut heap, &[]);
        assert_eq!(heap.stats().live_objects, 2);
        let popped = heap.pop_destructible().unwrap();
        assert_eq!(popped, d);
        assert!(!heap.has_destructible());
        // The destructor "resurrects" it: it is a root now, and is not queued again.
        collect_with(&mut heap, &[d]);
        assert!(!heap.has_destructible());
        assert_eq!(heap.stats().live_objects, 2);
        // Dropped again: freed without a second destructor run.
        collect_with(&mut heap, &[]);
        assert!(!heap.has_destructible());
        assert_eq!(heap.stats().live_objects, 0);
    }

    #[test]
    fn mutually_referencing_destructible_objects_are_both_queued() {
        let mut heap = Heap::default();
        let a = new_node(&mut heap, GcHeader::HAS_DESTRUCTOR);
        let b = new_node(&mut heap, GcHeader::HAS_DESTRUCTOR);
        // SAFETY: live.
        unsafe {
            node(a).left = Some(b);
            node(b).left = Some(a);
        }
        collect_with(&mut heap, &[]);
        let mut queued = vec![
            heap.pop_destructible().unwrap(),
            heap.pop_destructible().unwrap(),
        ];
        queued.sort();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(queued, want);
    }

    #[test]
    fn queue_all_destructors_at_exit() {
        let mut heap = Heap::default();
        let a = new_node(&mut heap, GcHeader::HAS_DESTRUCTOR);
        new_node(&mut heap, 0);
        heap.queue_all_destructors();
        assert_eq!(heap.pop_destructible(), Some(a));
        assert_eq!(heap.pop_destructible(), None);
    }

    #[test]
    fn stress_mode_collects_every_time_and_drop_frees_everything() {
        let mut heap = Heap::new(HeapConfig {
            stress: true,
            ..HeapConfig::default()
        });
        assert!(heap.wants_collection(0));
        let mut keep = Vec::new();
        for i in 0..200 {
            let n = new_node(&mut heap, 0);
            if i % 2 == 0 {
                keep.push(n);
            }
            collect_with(&mut heap, &keep);
        }
        assert_eq!(heap.stats().live_objects, 100);
        assert_eq!(heap.stats().collections, 200);
        let payload = new_node(&mut heap, 0);
        // SAFETY: live.
        unsafe { node(payload).payload = Some(vec![1, 2, 3]) };
        drop(heap); // frees the remaining objects, releasing the payload (checked by valgrind)
    }

    fn minor_with(heap: &mut Heap, roots: &[NonNull<GcHeader>]) {
        heap.collect_minor(
            |t| {
                for r in roots {
                    // SAFETY: roots are live nodes.
                    unsafe { t.mark(*r) };
                }
            },
            |_| {},
        );
    }

    #[test]
    fn the_nursery_grows_while_minor_collections_promote_much_and_shrinks_back_after() {
        let mut heap = Heap::new(HeapConfig {
            limit: None,
            growth_factor: 2.0,
            min_threshold: 10_000,
            stress: false,
        });
        collect_with(&mut heap, &[]);
        assert_eq!(heap.nursery, 10_000);
        let mut keep = Vec::new();
        // Each round keeps more than an eighth of the nursery alive: it doubles, up to eight
        // times the size the full collection set.
        for expected in [20_000, 40_000, 80_000, 80_000] {
            let before = heap.live_bytes();
            while heap.live_bytes() - before <= heap.nursery / 8 {
                keep.push(new_node(&mut heap, 0));
            }
            minor_with(&mut heap, &keep);
            assert_eq!(heap.nursery, expected);
            // The next collection comes after a nursery of that size.
            assert!(!heap.wants_collection(expected));
            assert!(heap.wants_collection(expected + 1));
        }
        // Collections that promote (almost) nothing halve it, down to its base size.
        for expected in [40_000, 20_000, 10_000, 10_000] {
            new_node(&mut heap, 0);
            minor_with(&mut heap, &keep);
            assert_eq!(heap.nursery, expected);
        }
        // A full collection keeps a grown nursery within [base, 8 × base] of its new base.
        for _ in 0..3 {
            let more: Vec<_> = (0..heap.nursery / 100)
                .map(|_| new_node(&mut heap, 0))
                .collect();
            keep.extend(more);
            minor_with(&mut heap, &keep);
        }
        assert_eq!(heap.nursery, 80_000);
        keep.truncate(1);
        collect_with(&mut heap, &keep);
        assert_eq!(heap.base_nursery, 10_000);
        assert_eq!(heap.nursery, 80_000);
    }

    /// An old node (survived a full collection) whose left child is set to a new node.
    fn old_parent_with_young_child(heap: &mut Heap, barrier: bool) -> NonNull<GcHeader> {
        let parent = new_node(heap, 0);
        collect_with(heap, &[parent]);
        // SAFETY: live.
        assert!(unsafe { parent.as_ref() }.is_old());
        let child = new_node(heap, 0);
        // SAFETY: live.
        assert!(!unsafe { child.as_ref() }.is_old());
        // SAFETY: both live.
        unsafe {
            node(parent).left = Some(child);
            if barrier {
                heap.write_barrier(parent);
            }
        }
        parent
    }

    #[test]
    fn a_young_object_stored_into_an_old_one_survives_a_minor_collection() {
        let mut heap = Heap::default();
        let parent = old_parent_with_young_child(&mut heap, true);
        assert_eq!(heap.remembered_len(), 1);
        // A second barrier on the same object does not remember it twice.
        // SAFETY: live.
        unsafe { heap.write_barrier(parent) };
        assert_eq!(heap.remembered_len(), 1);
        minor_with(&mut heap, &[parent]);
        assert_eq!(heap.remembered_len(), 0);
        assert_eq!(heap.stats().live_objects, 2);
        assert_eq!(heap.stats().minor_collections, 1);
        // SAFETY: the child survived, so it is still a live node.
        let child = unsafe { node(parent).left }.unwrap();
        assert!(unsafe { child.as_ref() }.is_old());
        // Both old now: a full collection keeps them, and frees them once unreachable.
        collect_with(&mut heap, &[parent]);
        assert_eq!(heap.stats().live_objects, 2);
        collect_with(&mut heap, &[]);
        assert_eq!(heap.stats().live_objects, 0);
    }

    #[test]
    fn without_the_barrier_a_minor_collection_frees_the_young_object() {
        let mut heap = Heap::default();
        let parent = old_parent_with_young_child(&mut heap, false);
        assert_eq!(heap.remembered_len(), 0);
        let freed = heap.stats().objects_freed;
        minor_with(&mut heap, &[parent]);
        // The old parent is not traced, so its child counts as garbage (which is why every
        // store into an old object needs the barrier).
        assert_eq!(heap.stats().live_objects, 1);
        assert_eq!(heap.stats().objects_freed, freed + 1);
        // SAFETY: live; the dangling child pointer is dropped unread.
        unsafe { node(parent).left = None };
    }

    #[test]
    #[should_panic(expected = "missed the write barrier")]
    fn stress_mode_verification_reports_a_missing_barrier() {
        let mut heap = Heap::new(HeapConfig {
            stress: true,
            ..HeapConfig::default()
        });
        let parent = old_parent_with_young_child(&mut heap, false);
        minor_with(&mut heap, &[parent]);
    }

    #[test]
    fn minor_collections_free_young_garbage_only() {
        let mut heap = Heap::default();
        let old_garbage = new_node(&mut heap, 0);
        let keep = new_node(&mut heap, 0);
        collect_with(&mut heap, &[old_garbage, keep]);
        for _ in 0..10 {
            new_node(&mut heap, 0);
        }
        let young_kept = new_node(&mut heap, 0);
        assert_eq!(heap.stats().live_objects, 13);
        minor_with(&mut heap, &[keep, young_kept]);
        // The young garbage is freed; the old garbage waits for a full collection.
        assert_eq!(heap.stats().live_objects, 3);
        assert!(!heap.last_collection_was_full());
        collect_with(&mut heap, &[keep, young_kept]);
        assert!(heap.last_collection_was_full());
        assert_eq!(heap.stats().live_objects, 2);
        assert_eq!(heap.stats().collections, 3);
        assert_eq!(heap.stats().minor_collections, 1);
    }

    #[test]
    fn minor_collections_queue_destructors_of_young_garbage_only() {
        let mut heap = Heap::default();
        let old = new_node(&mut heap, GcHeader::HAS_DESTRUCTOR);
        collect_with(&mut heap, &[old]);
        assert!(!heap.has_destructible());
        let young = new_node(&mut heap, GcHeader::HAS_DESTRUCTOR);
        let child = new_node(&mut heap, 0);
        // SAFETY: live.
        unsafe { node(young).left = Some(child) };
        minor_with(&mut heap, &[]);
        // The young one is queued (and kept, with what it references); the old one is not
        // looked at by a minor collection.
        assert_eq!(heap.pop_destructible(), Some(young));
        assert!(!heap.has_destructible());
        assert_eq!(heap.stats().live_objects, 3);
        collect_with(&mut heap, &[young]);
        assert_eq!(heap.pop_destructible(), Some(old));
        assert!(!heap.has_destructible());
    }

    #[test]
    fn the_policy_runs_a_full_collection_when_the_old_generation_outgrows_its_threshold() {
        let mut heap = Heap::new(HeapConfig {
            limit: None,
            growth_factor: 2.0,
            min_threshold: 1_000,
            stress: false,
        });
        let first = new_node(&mut heap, 0);
        collect_with(&mut heap, &[first]);
        assert!(!heap.wants_full_collection());
        // Promote more than the full threshold (1 000 bytes) through minor collections.
        let mut keep = vec![first];
        while !heap.wants_full_collection() {
            let n = new_node(&mut heap, 0);
            keep.push(n);
            minor_with(&mut heap, &keep);
            assert!(
                keep.len() < 100,
                "the old generation never triggered a full collection"
            );
        }
        let live = heap.stats().live_bytes;
        assert!(live > 1_000, "{live}");
        // Meanwhile each collection came after a nursery of the minimum threshold.
        assert!(!heap.wants_collection(1_000));
        assert!(heap.wants_collection(1_001));
        collect_with(&mut heap, &keep);
        // Right after a full collection, the threshold is twice the live bytes.
        assert!(!heap.wants_full_collection());
    }

    #[test]
    fn stress_mode_alternates_minor_and_full_collections() {
        let mut heap = Heap::new(HeapConfig {
            stress: true,
            ..HeapConfig::default()
        });
        let mut kinds = Vec::new();
        for _ in 0..8 {
            let full = heap.wants_full_collection();
            if full {
                collect_with(&mut heap, &[]);
            } else {
                minor_with(&mut heap, &[]);
            }
            kinds.push(full);
        }
        assert_eq!(
            kinds,
            [false, false, false, true, false, false, false, true]
        );
    }

    #[test]
    fn oversized_blocks_are_errors_not_aborts() {
        let mut heap = Heap::default();
        assert!(heap.alloc(usize::MAX - 8, &NODE, 0, 0).is_err());
        assert!(heap.alloc(MAX_BLOCK, &NODE, 0, 0).is_err());
    }
}
