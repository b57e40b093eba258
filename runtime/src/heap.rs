//! Heap object kinds the runtime allocates in the `sigma-gc` heap, and constructors that return
//! them as [`Value`]s.
//!
//! Invariant: a value with a reference tag has a payload that is the address of a `GcBox` whose
//! payload type matches the tag (`Tag::Str` → `GcBox<StrObj>`), and whose header `kind` byte is
//! the matching [`ObjKind`].

use sigma_gc::{GcBox, Heap};

use crate::value::{Tag, Value};

/// The kind byte stored in each object's GC header.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjKind {
    /// [`StrObj`].
    Str = 1,
    /// Not yet allocated by this runtime (reserved for later object kinds).
    Other = 255,
}

impl ObjKind {
    /// The object kind a reference tag implies.
    pub fn of_tag(tag: Tag) -> ObjKind {
        match tag {
            Tag::Str => ObjKind::Str,
            _ => ObjKind::Other,
        }
    }
}

/// An immutable UTF-8 string.
pub struct StrObj {
    text: Box<str>,
}

impl StrObj {
    /// Allocates a string in `heap` and returns it as a value.
    pub fn alloc(heap: &mut Heap, text: &str) -> Value {
        let ptr = heap.alloc(ObjKind::Str as u8, StrObj { text: text.into() }, text.len());
        Value {
            tag: Tag::Str as u64,
            bits: ptr.as_ptr() as u64,
        }
    }

    /// The text of the string object at address `bits`.
    ///
    /// # Safety
    /// `bits` must be the payload of a live `Tag::Str` value, and the object must outlive the
    /// returned borrow.
    pub unsafe fn text_of<'a>(bits: u64) -> &'a str {
        // SAFETY: guaranteed by the caller: `bits` addresses a live `GcBox<StrObj>`.
        unsafe { &(*(bits as *const GcBox<StrObj>)).value.text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_through_values() {
        let mut heap = Heap::new();
        let v = StrObj::alloc(&mut heap, "héllo");
        assert_eq!(v.kind(), Tag::Str);
        assert_eq!(v.as_str(), Some("héllo"));
        assert_eq!(v.to_string(), "héllo");
        assert_eq!(heap.stats().objects, 1);
    }
}
