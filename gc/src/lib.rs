//! `sigma-gc`: Sigma's garbage-collected heap.
//!
//! Every heap object is a [`GcBox<T>`]: a `#[repr(C)]` [`GcHeader`] followed by the object's
//! payload. The header links all objects into one intrusive list owned by the [`Heap`] and points
//! at a static [`ObjVTable`] through which the object tells the heap how to trace and drop itself,
//! so this crate knows nothing about bytecode or about the object kinds the runtime defines.
//!
//! Invariants:
//! - A pointer returned by [`Heap::alloc`] stays valid until the heap frees the object; the heap
//!   frees objects only when it is dropped (this foundation has no collection yet: every object
//!   lives as long as its heap).
//! - The header is the first field of every `GcBox`, so a `*mut GcHeader` and a `*mut GcBox<T>`
//!   for the same object are the same address.
//! - `kind` is an opaque byte chosen by the allocating runtime; the heap never interprets it.

use std::cell::Cell;
use std::ptr::NonNull;

/// Per-type operations the heap needs, reached through the object's header.
pub struct ObjVTable {
    /// Drops the object's payload in place and frees its memory.
    ///
    /// # Safety
    /// Called exactly once per object, with a pointer to a live object of this vtable's type.
    pub drop_and_free: unsafe fn(NonNull<GcHeader>),
}

/// The header at the start of every heap object.
#[repr(C)]
pub struct GcHeader {
    next: Cell<*mut GcHeader>,
    vtable: &'static ObjVTable,
    /// Bytes accounted to this object (its box plus any payload it reported).
    size: u32,
    /// Object kind chosen by the runtime (opaque to the heap).
    pub kind: u8,
    marked: Cell<bool>,
}

impl GcHeader {
    /// The vtable of this object's type.
    pub fn vtable(&self) -> &'static ObjVTable {
        self.vtable
    }

    /// Bytes accounted to this object.
    pub fn size(&self) -> usize {
        self.size as usize
    }

    /// Whether the current collection has marked this object.
    pub fn is_marked(&self) -> bool {
        self.marked.get()
    }
}

/// A heap object: header followed by payload.
#[repr(C)]
pub struct GcBox<T> {
    /// The object header; must stay the first field.
    pub header: GcHeader,
    /// The object's payload.
    pub value: T,
}

impl<T> GcBox<T> {
    const VTABLE: &'static ObjVTable = &ObjVTable {
        drop_and_free: drop_and_free::<T>,
    };
}

/// # Safety
/// `header` must point to the header of a live `GcBox<T>` allocated by [`Heap::alloc`].
unsafe fn drop_and_free<T>(header: NonNull<GcHeader>) {
    // SAFETY: the caller guarantees this header starts a `GcBox<T>` that `Heap::alloc` created
    // with `Box::new`, so rebuilding the box and dropping it frees it exactly once.
    unsafe { drop(Box::from_raw(header.as_ptr() as *mut GcBox<T>)) };
}

/// Heap statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Objects currently allocated.
    pub objects: usize,
    /// Bytes currently allocated (as accounted by the heap).
    pub bytes: usize,
    /// Total bytes ever allocated.
    pub total_allocated: u64,
}

/// The garbage-collected heap: owns every object allocated through it.
pub struct Heap {
    head: *mut GcHeader,
    stats: HeapStats,
}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

impl Heap {
    /// An empty heap.
    pub fn new() -> Self {
        Heap {
            head: std::ptr::null_mut(),
            stats: HeapStats::default(),
        }
    }

    /// Allocates `value` on the heap with the runtime-chosen `kind` byte. `extra_bytes` is payload
    /// memory the object owns outside its box (for example a string's bytes), counted in stats.
    pub fn alloc<T>(&mut self, kind: u8, value: T, extra_bytes: usize) -> NonNull<GcBox<T>> {
        let size = std::mem::size_of::<GcBox<T>>() + extra_bytes;
        let boxed = Box::new(GcBox {
            header: GcHeader {
                next: Cell::new(self.head),
                vtable: GcBox::<T>::VTABLE,
                size: u32::try_from(size).unwrap_or(u32::MAX),
                kind,
                marked: Cell::new(false),
            },
            value,
        });
        let ptr = NonNull::from(Box::leak(boxed));
        self.head = ptr.as_ptr() as *mut GcHeader;
        self.stats.objects += 1;
        self.stats.bytes += size;
        self.stats.total_allocated += size as u64;
        ptr
    }

    /// Current statistics.
    pub fn stats(&self) -> HeapStats {
        self.stats
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        let mut cur = self.head;
        while let Some(obj) = NonNull::new(cur) {
            // SAFETY: every pointer in the list came from `alloc` and is freed only here, once;
            // `next` is read before the object is freed.
            unsafe {
                cur = obj.as_ref().next.get();
                (obj.as_ref().vtable.drop_and_free)(obj);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn header_is_first_field() {
        let mut heap = Heap::new();
        let p = heap.alloc(7, 42u64, 0);
        // SAFETY: `p` is live while `heap` is.
        let header = unsafe { &p.as_ref().header };
        assert_eq!(p.as_ptr() as usize, header as *const GcHeader as usize);
        assert_eq!(header.kind, 7);
        assert_eq!(unsafe { p.as_ref().value }, 42);
    }

    #[test]
    fn dropping_heap_drops_every_object() {
        let token = Rc::new(());
        {
            let mut heap = Heap::new();
            for _ in 0..100 {
                heap.alloc(1, token.clone(), 0);
            }
            assert_eq!(Rc::strong_count(&token), 101);
            assert_eq!(heap.stats().objects, 100);
        }
        assert_eq!(Rc::strong_count(&token), 1);
    }
}
