//! The 16-byte `Value` every register, global and constant holds.
//!
//! Layout (`#[repr(C)]`, fixed, relied on by compiled code): a 64-bit tag word at
//! [`TAG_OFFSET`] and a 64-bit payload at [`PAYLOAD_OFFSET`]. The tag is one of the [`Tag`]
//! numbers; the payload is the immediate (int as two's-complement `i64`, float as IEEE bits,
//! bool as 0/1, char as its scalar value, ptr as the address) or, for reference kinds, the
//! address of the object's `GcHeader`.
//!
//! Invariants: the all-zero bit pattern is `nil` (so zeroed memory is a valid register file);
//! reference kinds have tags `>= Tag::FIRST_REF`, so a collector can tell them apart with one
//! comparison; a reference payload always points at a live object of that kind.

use std::fmt;

use crate::heap::StrObj;

/// Byte offset of the tag word inside a [`Value`].
pub const TAG_OFFSET: usize = 0;
/// Byte offset of the payload word inside a [`Value`].
pub const PAYLOAD_OFFSET: usize = 8;

/// The kind of a value, stored in its tag word.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tag {
    /// The absent value; all-zero bits.
    Nil = 0,
    /// `true` or `false` (payload 1 or 0).
    Bool = 1,
    /// A 64-bit signed integer with wrapping arithmetic.
    Int = 2,
    /// An IEEE-754 double.
    Float = 3,
    /// A Unicode scalar value.
    Char = 4,
    /// A raw foreign pointer (FFI); never traced.
    Ptr = 5,
    /// An immutable UTF-8 string object.
    Str = 16,
    /// A mutable byte buffer object.
    Bytes = 17,
    /// A growable array object.
    Array = 18,
    /// A record object.
    Record = 19,
    /// A hash map object.
    Map = 20,
    /// A function or closure object.
    Fn = 21,
    /// A multimethod object.
    Multimethod = 22,
    /// A module object.
    Module = 23,
    /// An opened native library.
    Native = 24,
}

impl Tag {
    /// The smallest tag of a reference (heap) kind.
    pub const FIRST_REF: u64 = 16;

    /// Decodes a tag word. Tag words are only ever written by the runtime, so an unknown word
    /// indicates memory corruption; it is reported as `None` rather than trusted.
    pub fn from_word(word: u64) -> Option<Tag> {
        Some(match word {
            0 => Tag::Nil,
            1 => Tag::Bool,
            2 => Tag::Int,
            3 => Tag::Float,
            4 => Tag::Char,
            5 => Tag::Ptr,
            16 => Tag::Str,
            17 => Tag::Bytes,
            18 => Tag::Array,
            19 => Tag::Record,
            20 => Tag::Map,
            21 => Tag::Fn,
            22 => Tag::Multimethod,
            23 => Tag::Module,
            24 => Tag::Native,
            _ => return None,
        })
    }

    /// The name `typeof` returns and error messages use.
    pub fn name(self) -> &'static str {
        match self {
            Tag::Nil => "nil",
            Tag::Bool => "bool",
            Tag::Int => "int",
            Tag::Float => "float",
            Tag::Char => "char",
            Tag::Ptr => "ptr",
            Tag::Str => "str",
            Tag::Bytes => "bytes",
            Tag::Array => "array",
            Tag::Record => "record",
            Tag::Map => "map",
            Tag::Fn => "fn",
            Tag::Multimethod => "multimethod",
            Tag::Module => "module",
            Tag::Native => "native",
        }
    }

    /// Whether values of this kind point into the heap.
    pub fn is_ref(self) -> bool {
        self as u64 >= Self::FIRST_REF
    }
}

/// A Sigma value: tag word plus payload word.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Value {
    /// The [`Tag`] number.
    pub tag: u64,
    /// Immediate bits or object address, depending on the tag.
    pub bits: u64,
}

const _: () = assert!(std::mem::size_of::<Value>() == 16);
const _: () = assert!(std::mem::align_of::<Value>() == 8);

impl Default for Value {
    fn default() -> Self {
        Value::NIL
    }
}

impl Value {
    /// `nil`.
    pub const NIL: Value = Value { tag: 0, bits: 0 };
    /// `true`.
    pub const TRUE: Value = Value {
        tag: Tag::Bool as u64,
        bits: 1,
    };
    /// `false`.
    pub const FALSE: Value = Value {
        tag: Tag::Bool as u64,
        bits: 0,
    };

    /// An int value.
    #[inline(always)]
    pub const fn int(i: i64) -> Value {
        Value {
            tag: Tag::Int as u64,
            bits: i as u64,
        }
    }

    /// A float value.
    #[inline(always)]
    pub fn float(f: f64) -> Value {
        Value {
            tag: Tag::Float as u64,
            bits: f.to_bits(),
        }
    }

    /// A bool value.
    #[inline(always)]
    pub const fn bool(b: bool) -> Value {
        Value {
            tag: Tag::Bool as u64,
            bits: b as u64,
        }
    }

    /// A char value.
    #[inline(always)]
    pub const fn char(c: char) -> Value {
        Value {
            tag: Tag::Char as u64,
            bits: c as u64,
        }
    }

    /// A raw foreign pointer value.
    pub const fn ptr(p: usize) -> Value {
        Value {
            tag: Tag::Ptr as u64,
            bits: p as u64,
        }
    }

    /// The kind of this value.
    #[inline]
    pub fn kind(self) -> Tag {
        // Tag words are written only through the constructors above and the runtime's object
        // constructors, so the fallback is unreachable unless memory was corrupted.
        Tag::from_word(self.tag).unwrap_or(Tag::Nil)
    }

    /// Whether this value is `nil`.
    #[inline(always)]
    pub fn is_nil(self) -> bool {
        self.tag == Tag::Nil as u64
    }

    /// The payload as an int (meaningful when the tag is `Int`).
    #[inline(always)]
    pub fn as_int_unchecked(self) -> i64 {
        self.bits as i64
    }

    /// The payload as a float (meaningful when the tag is `Float`).
    #[inline(always)]
    pub fn as_float_unchecked(self) -> f64 {
        f64::from_bits(self.bits)
    }

    /// The int, if this is an int.
    pub fn as_int(self) -> Option<i64> {
        (self.tag == Tag::Int as u64).then_some(self.bits as i64)
    }

    /// The float, if this is a float.
    pub fn as_float(self) -> Option<f64> {
        (self.tag == Tag::Float as u64).then(|| f64::from_bits(self.bits))
    }

    /// The bool, if this is a bool.
    pub fn as_bool(self) -> Option<bool> {
        (self.tag == Tag::Bool as u64).then_some(self.bits != 0)
    }

    /// The char, if this is a char.
    pub fn as_char(self) -> Option<char> {
        if self.tag == Tag::Char as u64 {
            char::from_u32(self.bits as u32)
        } else {
            None
        }
    }

    /// The string contents, if this is a str.
    pub fn as_str(&self) -> Option<&str> {
        if self.tag == Tag::Str as u64 {
            // SAFETY: a Str-tagged value's payload points at a live `StrObj` box (module
            // invariant); the returned borrow is tied to `self`, and live objects are not freed
            // while a value referring to them is reachable.
            Some(unsafe { StrObj::text_of(self.bits) })
        } else {
            None
        }
    }

    /// Truthiness: `false` and `nil` are false, everything else is true.
    #[inline(always)]
    pub fn truthy(self) -> bool {
        !(self.tag == Tag::Nil as u64 || (self.tag == Tag::Bool as u64 && self.bits == 0))
    }

    /// The address of the referenced object, for reference kinds.
    pub fn object_addr(self) -> Option<usize> {
        (self.tag >= Tag::FIRST_REF).then_some(self.bits as usize)
    }
}

impl fmt::Display for Value {
    /// The text form `print` writes: ints in decimal, floats in the shortest form that reads back
    /// (always with a `.` or exponent so they read back as floats), strings and chars raw.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Tag::Nil => f.write_str("nil"),
            Tag::Bool => f.write_str(if self.bits != 0 { "true" } else { "false" }),
            Tag::Int => write!(f, "{}", self.bits as i64),
            Tag::Float => fmt_float(self.as_float_unchecked(), f),
            Tag::Char => match char::from_u32(self.bits as u32) {
                Some(c) => write!(f, "{c}"),
                None => f.write_str("\u{fffd}"),
            },
            Tag::Ptr => write!(f, "ptr(0x{:x})", self.bits),
            Tag::Str => f.write_str(self.as_str().unwrap_or("")),
            other => write!(f, "<{} 0x{:x}>", other.name(), self.bits),
        }
    }
}

/// Writes a float in the shortest form that reads back as the same float.
pub fn fmt_float(x: f64, f: &mut impl fmt::Write) -> fmt::Result {
    if x.is_nan() {
        f.write_str("nan")
    } else if x.is_infinite() {
        f.write_str(if x > 0.0 { "inf" } else { "-inf" })
    } else {
        // Rust's Debug form is the shortest round-tripping text and always marks floats
        // (`1.0`, `1e16`, `1e-7`).
        write!(f, "{x:?}")
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Tag::Str => write!(f, "{:?}", self.as_str().unwrap_or("")),
            Tag::Char => write!(f, "{:?}", self.as_char().unwrap_or('\u{fffd}')),
            _ => write!(f, "{self}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn layout_is_fixed() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(offset_of!(Value, tag), TAG_OFFSET);
        assert_eq!(offset_of!(Value, bits), PAYLOAD_OFFSET);
    }

    #[test]
    fn zero_bits_are_nil() {
        // SAFETY: Value is plain-old-data; all-zero is a valid bit pattern.
        let v: Value = unsafe { std::mem::zeroed() };
        assert!(v.is_nil());
        assert_eq!(v.kind(), Tag::Nil);
    }

    #[test]
    fn truthiness() {
        assert!(!Value::NIL.truthy());
        assert!(!Value::FALSE.truthy());
        assert!(Value::TRUE.truthy());
        assert!(Value::int(0).truthy());
        assert!(Value::float(0.0).truthy());
    }

    #[test]
    fn float_text_reads_back() {
        for x in [
            1.0,
            0.1,
            1e16,
            1e-7,
            -2.5,
            123456.789,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let s = Value::float(x).to_string();
            assert!(s.contains('.') || s.contains('e'), "{s}");
            assert_eq!(s.parse::<f64>().unwrap(), x);
        }
        assert_eq!(Value::float(f64::NAN).to_string(), "nan");
        assert_eq!(Value::float(f64::NEG_INFINITY).to_string(), "-inf");
    }

    #[test]
    fn reference_tags_are_above_first_ref() {
        for w in 0..64 {
            if let Some(t) = Tag::from_word(w) {
                assert_eq!(t.is_ref(), w >= Tag::FIRST_REF);
                assert_eq!(t as u64, w);
            }
        }
    }
}
