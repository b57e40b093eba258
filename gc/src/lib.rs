//! `sigma-gc`: Sigma's garbage-collected heap — a precise, non-moving, stop-the-world
//! mark-sweep collector with destructor support.
//!
//! Every object is one block: a `#[repr(C)]` [`GcHeader`] followed by the payload. The header
//! links all objects into one intrusive list and points at a static [`ObjVTable`], through which
//! an object traces its outgoing references and releases memory it owns outside its block. This
//! crate therefore knows nothing about bytecode or about the object kinds the runtime defines.
//!
//! Collection: [`Heap::collect`] marks from the roots the caller reports (the heap never scans
//! memory conservatively), then handles destructors, then sweeps. An object whose header has
//! [`GcHeader::HAS_DESTRUCTOR`] and that is found unreachable is not freed: it and everything it
//! references are kept, and it is moved to a queue of objects whose destructor must run
//! ([`Heap::pop_destructible`]). Queued objects are roots until their destructor has run; after
//! that their flag is cleared, so a later collection frees them normally if they are unreachable
//! again (destructors run at most once, and resurrection is safe).
//!
//! Invariants:
//! - A block returned by [`Heap::alloc`] stays valid until a collection finds it unreachable
//!   (and, for destructible objects, after its destructor ran); it never moves.
//! - The caller reports every live reference as a root or through some reachable object's
//!   trace function; an object is freed only if the last collection did not mark it.
//! - The header is the first field of every block, so an object pointer is its header pointer.
//! - `kind` is an opaque byte chosen by the allocating runtime; the heap never interprets it.

use std::alloc::{alloc, dealloc, Layout};
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

/// Per-type operations the heap needs, reached through the object's header.
pub struct ObjVTable {
    /// Reports the object's outgoing references to the tracer.
    ///
    /// # Safety
    /// Called with a live object of this vtable's type.
    pub trace: unsafe fn(NonNull<GcHeader>, &mut Tracer),
    /// Drops whatever the payload owns outside its block and returns how many external bytes
    /// that released (as previously reported through [`Heap::add_external`]). `None` when the
    /// payload owns nothing.
    ///
    /// # Safety
    /// Called once, with a live object of this vtable's type, just before its block is freed.
    pub release: Option<unsafe fn(NonNull<GcHeader>) -> usize>,
}

/// The header at the start of every heap object.
#[repr(C)]
pub struct GcHeader {
    next: *mut GcHeader,
    vtable: &'static ObjVTable,
    /// Size of the whole block (header + payload) in bytes.
    size: u32,
    /// Object kind chosen by the runtime (opaque to the heap).
    pub kind: u8,
    mark: u8,
    flags: u8,
    _reserved: u8,
}

const _: () = assert!(std::mem::size_of::<GcHeader>() == 24);

/// Alignment of every block and payload.
pub const ALIGN: usize = 8;
/// Largest block the heap allocates (the header records sizes in 32 bits).
pub const MAX_BLOCK: usize = u32::MAX as usize;

impl GcHeader {
    /// The object has a destructor that has not been scheduled yet.
    pub const HAS_DESTRUCTOR: u8 = 1;
    /// The object's destructor is queued to run.
    const QUEUED: u8 = 2;

    /// The payload that follows the header.
    ///
    /// # Safety
    /// `obj` must point at a live block.
    #[inline(always)]
    pub unsafe fn payload(obj: NonNull<GcHeader>) -> *mut u8 {
        // SAFETY: the payload starts right after the 24-byte (8-aligned) header inside the
        // same block.
        unsafe { (obj.as_ptr() as *mut u8).add(std::mem::size_of::<GcHeader>()) }
    }

    /// Size of the block in bytes.
    pub fn size(&self) -> usize {
        self.size as usize
    }

    /// The object's flag bits.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the object still has a destructor to run.
    pub fn has_destructor(&self) -> bool {
        self.flags & Self::HAS_DESTRUCTOR != 0
    }
}

/// Marks objects during a collection; handed to the root reporter and to trace functions.
pub struct Tracer {
    gray: Vec<NonNull<GcHeader>>,
}

impl Tracer {
    /// Marks `obj` reachable (and schedules its references to be traced).
    ///
    /// # Safety
    /// `obj` must point at a live block of this heap.
    #[inline]
    pub unsafe fn mark(&mut self, obj: NonNull<GcHeader>) {
        // SAFETY: the caller guarantees a live block; the mark byte is plain data.
        unsafe {
            let h = obj.as_ptr();
            if (*h).mark == 0 {
                (*h).mark = 1;
                self.gray.push(obj);
            }
        }
    }
}

/// Collector settings.
#[derive(Clone, Debug)]
pub struct HeapConfig {
    /// Hard limit on heap bytes (blocks plus external memory); `None` for no limit.
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
            min_threshold: 4 << 20,
            stress: false,
        }
    }
}

/// Collector statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Collections run.
    pub collections: u64,
    /// Total bytes ever allocated (blocks and external memory).
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

/// Byte written over freed blocks in stress mode.
pub const POISON: u8 = 0xDB;

/// The garbage-collected heap: owns every object allocated through it.
pub struct Heap {
    objects: *mut GcHeader,
    live_bytes: usize,
    live_objects: usize,
    threshold: usize,
    config: HeapConfig,
    destructible: VecDeque<NonNull<GcHeader>>,
    stats: GcStats,
    collecting: bool,
}

impl Default for Heap {
    fn default() -> Self {
        Self::new(HeapConfig::default())
    }
}

impl Heap {
    /// An empty heap.
    pub fn new(config: HeapConfig) -> Self {
        let threshold = match config.limit {
            Some(l) => config.min_threshold.min(l),
            None => config.min_threshold,
        };
        Heap {
            objects: std::ptr::null_mut(),
            live_bytes: 0,
            live_objects: 0,
            threshold,
            config,
            destructible: VecDeque::new(),
            stats: GcStats::default(),
            collecting: false,
        }
    }

    /// The collector settings.
    pub fn config(&self) -> &HeapConfig {
        &self.config
    }

    /// Whether allocating `bytes` more should be preceded by a collection.
    #[inline(always)]
    pub fn wants_collection(&self, bytes: usize) -> bool {
        self.config.stress || self.live_bytes.saturating_add(bytes) > self.threshold
    }

    /// Whether allocating `bytes` more would exceed the configured limit.
    #[inline]
    pub fn exceeds_limit(&self, bytes: usize) -> bool {
        self.config
            .limit
            .is_some_and(|l| self.live_bytes.saturating_add(bytes) > l)
    }

    /// Allocates a block with a payload of `payload` bytes (zeroed), for an object with the
    /// given vtable, kind byte and flags. Does not collect: callers check
    /// [`Heap::wants_collection`] first, collect with their roots, and check the limit.
    pub fn alloc(
        &mut self,
        payload: usize,
        vtable: &'static ObjVTable,
        kind: u8,
        flags: u8,
    ) -> Result<NonNull<GcHeader>, AllocError> {
        let size = std::mem::size_of::<GcHeader>()
            .checked_add(payload)
            .filter(|s| *s <= MAX_BLOCK)
            .ok_or(AllocError { requested: payload })?;
        let size = (size + ALIGN - 1) & !(ALIGN - 1);
        let layout =
            Layout::from_size_align(size, ALIGN).map_err(|_| AllocError { requested: payload })?;
        // SAFETY: the layout has non-zero size (at least the header).
        let raw = unsafe { alloc(layout) } as *mut GcHeader;
        let Some(obj) = NonNull::new(raw) else {
            return Err(AllocError { requested: payload });
        };
        // SAFETY: `raw` is a fresh block of `size` bytes: write the header, zero the payload.
        unsafe {
            raw.write(GcHeader {
                next: self.objects,
                vtable,
                size: size as u32,
                kind,
                mark: 0,
                flags: flags & GcHeader::HAS_DESTRUCTOR,
                _reserved: 0,
            });
            std::ptr::write_bytes(
                GcHeader::payload(obj),
                0,
                size - std::mem::size_of::<GcHeader>(),
            );
        }
        self.objects = raw;
        self.live_objects += 1;
        self.note_alloc(size);
        Ok(obj)
    }

    fn note_alloc(&mut self, bytes: usize) {
        self.live_bytes += bytes;
        self.stats.bytes_allocated += bytes as u64;
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.live_bytes);
    }

    /// Accounts `bytes` of memory that an object owns outside its block (a growing array's
    /// element buffer, for example), so it counts toward collection triggers and the limit.
    pub fn add_external(&mut self, bytes: usize) {
        self.note_alloc(bytes);
    }

    /// Removes external memory from the accounting (the object shrank or released it).
    pub fn sub_external(&mut self, bytes: usize) {
        self.live_bytes = self.live_bytes.saturating_sub(bytes);
    }

    /// Runs a full collection. `roots` must mark every root through the tracer.
    pub fn collect(&mut self, roots: impl FnOnce(&mut Tracer)) {
        if self.collecting {
            return;
        }
        self.collecting = true;
        let start = Instant::now();
        let mut tracer = Tracer { gray: Vec::new() };
        roots(&mut tracer);
        for &obj in &self.destructible {
            // SAFETY: queued objects are live until their destructor has run.
            unsafe { tracer.mark(obj) };
        }
        self.drain(&mut tracer);

        // Unreachable objects with destructors survive this collection and are queued.
        let mut newly = Vec::new();
        let mut cur = self.objects;
        while let Some(obj) = NonNull::new(cur) {
            // SAFETY: every node of the list is a live block.
            unsafe {
                let h = obj.as_ptr();
                if (*h).mark == 0 && (*h).flags & GcHeader::HAS_DESTRUCTOR != 0 {
                    (*h).flags = ((*h).flags & !GcHeader::HAS_DESTRUCTOR) | GcHeader::QUEUED;
                    newly.push(obj);
                }
                cur = (*h).next;
            }
        }
        for &obj in &newly {
            // SAFETY: `obj` is in the object list, hence live.
            unsafe { tracer.mark(obj) };
        }
        self.drain(&mut tracer);
        self.destructible.extend(newly);

        self.sweep();
        let pause = start.elapsed();
        self.stats.collections += 1;
        self.stats.total_pause += pause;
        self.stats.max_pause = self.stats.max_pause.max(pause);
        let grown = (self.live_bytes as f64 * self.config.growth_factor) as usize;
        self.threshold = grown.max(self.config.min_threshold);
        if let Some(limit) = self.config.limit {
            self.threshold = self.threshold.min(limit);
        }
        self.collecting = false;
    }

    fn drain(&mut self, tracer: &mut Tracer) {
        while let Some(obj) = tracer.gray.pop() {
            // SAFETY: only live blocks are ever marked; their vtable's trace matches them.
            unsafe { (obj.as_ref().vtable.trace)(obj, tracer) };
        }
    }

    fn sweep(&mut self) {
        let mut link: *mut *mut GcHeader = &mut self.objects;
        // SAFETY: `link` always points at the list head or at a live node's `next` field;
        // unmarked nodes are unlinked before they are freed, so no freed node is visited.
        unsafe {
            while let Some(obj) = NonNull::new(*link) {
                let h = obj.as_ptr();
                if (*h).mark != 0 {
                    (*h).mark = 0;
                    link = &mut (*h).next;
                } else {
                    *link = (*h).next;
                    self.free(obj);
                    self.stats.objects_freed += 1;
                }
            }
        }
    }

    /// # Safety
    /// `obj` must be a live block already unlinked from the object list.
    unsafe fn free(&mut self, obj: NonNull<GcHeader>) {
        // SAFETY: guaranteed by the caller; `release` matches the object's type, and the
        // layout is the one the block was allocated with.
        unsafe {
            let h = obj.as_ptr();
            let size = (*h).size as usize;
            if let Some(release) = (*h).vtable.release {
                let external = release(obj);
                self.live_bytes = self.live_bytes.saturating_sub(external);
            }
            if self.config.stress {
                std::ptr::write_bytes(h as *mut u8, POISON, size);
            }
            dealloc(h as *mut u8, Layout::from_size_align_unchecked(size, ALIGN));
            self.live_bytes = self.live_bytes.saturating_sub(size);
            self.live_objects -= 1;
        }
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
        let mut cur = self.objects;
        while let Some(obj) = NonNull::new(cur) {
            // SAFETY: list nodes are live.
            unsafe {
                let h = obj.as_ptr();
                if (*h).flags & GcHeader::HAS_DESTRUCTOR != 0 {
                    (*h).flags = ((*h).flags & !GcHeader::HAS_DESTRUCTOR) | GcHeader::QUEUED;
                    self.destructible.push_back(obj);
                }
                cur = (*h).next;
            }
        }
    }

    /// Current statistics.
    pub fn stats(&self) -> GcStats {
        GcStats {
            live_bytes: self.live_bytes,
            live_objects: self.live_objects,
            ..self.stats
        }
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        let mut cur = self.objects;
        self.objects = std::ptr::null_mut();
        while let Some(obj) = NonNull::new(cur) {
            // SAFETY: every node came from `alloc` and is freed exactly once, here; `next` is
            // read before the node is freed.
            unsafe {
                cur = (*obj.as_ptr()).next;
                self.free(obj);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! A toy object model: nodes with up to two child pointers and an optional boxed payload,
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
        trace: trace_node,
        release: Some(release_node),
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
        let with = heap.stats().live_bytes;
        assert!(with >= 8000);
        collect_with(&mut heap, &[]);
        assert_eq!(heap.stats().live_bytes, 0);
    }

    #[test]
    fn trigger_follows_growth_and_limit() {
        let mut heap = Heap::new(HeapConfig {
            limit: Some(10_000),
            growth_factor: 2.0,
            min_threshold: 1_000,
            stress: false,
        });
        assert!(!heap.wants_collection(10));
        assert!(heap.wants_collection(2_000));
        assert!(heap.exceeds_limit(20_000));
        let keep: Vec<_> = (0..30).map(|_| new_node(&mut heap, 0)).collect();
        collect_with(&mut heap, &keep);
        let live = heap.stats().live_bytes;
        // Next collection when the heap has doubled (but never above the limit).
        assert!(!heap.wants_collection(live - 1));
        assert!(heap.wants_collection(live + 1));
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
        drop(heap); // frees the remaining objects, releasing the boxed payload (checked by valgrind)
    }

    #[test]
    fn oversized_blocks_are_errors_not_aborts() {
        let mut heap = Heap::default();
        assert!(heap.alloc(usize::MAX - 8, &NODE, 0, 0).is_err());
        assert!(heap.alloc(MAX_BLOCK, &NODE, 0, 0).is_err());
    }
}
