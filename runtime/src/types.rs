//! Static types of typed registers, parameters, returns and globals (DESIGN §4).
//!
//! A register is `any` or has one static type. Immediate types (`int`, `float`, `bool`, `char`,
//! `ptr`) start at their zero value in every new frame; reference types (`str`, `bytes`, ...)
//! start unassigned, and the verifier proves they are assigned before being read.

use std::fmt;

use crate::value::{Tag, Value};

/// A static type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Type {
    /// Any value; checked at run time where it flows into a typed slot.
    #[default]
    Any,
    /// Only `nil` (used by `is`/`cast` and as the type of `nil` literals).
    Nil,
    /// `bool`.
    Bool,
    /// `int`.
    Int,
    /// `float`.
    Float,
    /// `char`.
    Char,
    /// `ptr`.
    Ptr,
    /// `str`.
    Str,
    /// `bytes`.
    Bytes,
    /// `array`.
    Array,
    /// `map`.
    Map,
    /// `fn`.
    Fn,
    /// `multimethod`.
    Multimethod,
    /// `module`.
    Module,
    /// `native`.
    Native,
    /// A record type: in a module, an index into its record types; in a running Vm, the Vm's
    /// record type id.
    Record(u32),
}

/// Binary type codes from here up denote record types (`RECORD_CODE + index`).
pub const RECORD_CODE: u32 = 64;

/// Every non-record type, in encoding order.
pub const ALL_TYPES: [Type; 15] = [
    Type::Any,
    Type::Nil,
    Type::Bool,
    Type::Int,
    Type::Float,
    Type::Char,
    Type::Ptr,
    Type::Str,
    Type::Bytes,
    Type::Array,
    Type::Map,
    Type::Fn,
    Type::Multimethod,
    Type::Module,
    Type::Native,
];

impl Type {
    /// The type's name in assembly text.
    pub fn name(self) -> &'static str {
        match self {
            Type::Any => "any",
            Type::Nil => "nil",
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Float => "float",
            Type::Char => "char",
            Type::Ptr => "ptr",
            Type::Str => "str",
            Type::Bytes => "bytes",
            Type::Array => "array",
            Type::Map => "map",
            Type::Fn => "fn",
            Type::Multimethod => "multimethod",
            Type::Module => "module",
            Type::Native => "native",
            Type::Record(_) => "record",
        }
    }

    /// Parses a type name.
    pub fn from_name(name: &str) -> Option<Type> {
        ALL_TYPES.iter().copied().find(|t| t.name() == name)
    }

    /// The binary encoding of this type.
    pub fn code(self) -> u32 {
        match self {
            Type::Record(i) => RECORD_CODE.saturating_add(i),
            t => ALL_TYPES.iter().position(|x| *x == t).unwrap_or(0) as u32,
        }
    }

    /// Decodes a binary type code.
    pub fn from_code(code: u32) -> Option<Type> {
        if code >= RECORD_CODE {
            return Some(Type::Record(code - RECORD_CODE));
        }
        ALL_TYPES.get(code as usize).copied()
    }

    /// The value tag every value of this type carries (`None` for `any`).
    pub fn tag(self) -> Option<Tag> {
        Some(match self {
            Type::Any => return None,
            Type::Nil => Tag::Nil,
            Type::Bool => Tag::Bool,
            Type::Int => Tag::Int,
            Type::Float => Tag::Float,
            Type::Char => Tag::Char,
            Type::Ptr => Tag::Ptr,
            Type::Str => Tag::Str,
            Type::Bytes => Tag::Bytes,
            Type::Array => Tag::Array,
            Type::Map => Tag::Map,
            Type::Fn => Tag::Fn,
            Type::Multimethod => Tag::Multimethod,
            Type::Module => Tag::Module,
            Type::Native => Tag::Native,
            Type::Record(_) => Tag::Record,
        })
    }

    /// Whether `v` is a value of this type (record types by the Vm's record type id).
    #[inline]
    pub fn admits(self, v: Value) -> bool {
        match self {
            Type::Any => true,
            Type::Record(id) => crate::heap::record_type_of(v) == Some(id),
            t => t.tag().is_some_and(|tag| v.tag == tag as u64),
        }
    }

    /// Whether registers of this type start at a zero value (immediate types) rather than
    /// unassigned (reference types).
    pub fn is_immediate(self) -> bool {
        matches!(
            self,
            Type::Any | Type::Nil | Type::Bool | Type::Int | Type::Float | Type::Char | Type::Ptr
        )
    }

    /// Whether this is a reference type whose registers must be assigned before they are read.
    pub fn needs_assignment(self) -> bool {
        !self.is_immediate()
    }

    /// The value a register of this type holds when its frame is created.
    pub fn initial_value(self) -> Value {
        match self {
            Type::Bool => Value::FALSE,
            Type::Int => Value::int(0),
            Type::Float => Value::float(0.0),
            Type::Char => Value::char('\0'),
            Type::Ptr => Value::ptr(0),
            _ => Value::NIL,
        }
    }

    /// Whether this type may be declared for a register, parameter, return or global.
    pub fn is_declarable(self) -> bool {
        self != Type::Nil
    }

    /// Whether the type is numeric (`int` or `float`).
    pub fn is_number(self) -> bool {
        matches!(self, Type::Int | Type::Float)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for t in ALL_TYPES {
            assert_eq!(Type::from_code(t.code()), Some(t));
            assert_eq!(Type::from_name(t.name()), Some(t));
        }
        assert_eq!(Type::from_code(15), None);
        assert_eq!(Type::from_code(RECORD_CODE + 3), Some(Type::Record(3)));
        assert_eq!(Type::Record(3).code(), RECORD_CODE + 3);
        assert_eq!(Type::from_name("integer"), None);
    }

    #[test]
    fn initial_values_have_their_type() {
        for t in ALL_TYPES {
            if t.is_immediate() && t != Type::Any {
                assert!(t.admits(t.initial_value()), "{t}");
            }
        }
    }
}
