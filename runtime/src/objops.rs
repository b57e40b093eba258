//! Value-level semantics of the heap instructions that do not allocate: type checks of their
//! operands, bounds checks, and the access itself. Both execution tiers call these, so an
//! `aget` means the same in interpreted and compiled code. Allocating instructions live with
//! the Vm, which owns the heap and the roots.
//!
//! Also the text form of any value (`tostr`, `sys print`), which needs names only the Vm knows,
//! supplied through [`NameLookup`].
//!
//! Invariant: every function checks the kinds of its operands before touching objects, so it
//! is safe to call with arbitrary (live) values.

use std::fmt::Write;

use crate::heap::{ArrayObj, BytesObj, FnObj, MapObj, Mem, ModuleObj, RecordObj, StrObj};
use crate::trap::OpError;
use crate::value::{Tag, Value};
use sigma_gc::Heap;

#[cold]
fn wrong_kind(op: &str, what: &str, want: &str, v: Value) -> OpError {
    OpError::type_error(format!(
        "{op}: {what} must be {want}, got {}",
        v.kind().name()
    ))
}

#[inline]
fn int_operand(op: &str, what: &str, v: Value) -> Result<i64, OpError> {
    match v.as_int() {
        Some(i) => Ok(i),
        None => Err(wrong_kind(op, what, "an int", v)),
    }
}

/// Checks that `v` is an array and returns it.
#[inline]
pub fn array<'a>(op: &str, v: Value) -> Result<&'a mut ArrayObj, OpError> {
    if v.tag == Tag::Array as u64 {
        // SAFETY: array-tagged values refer to live array objects.
        Ok(unsafe { ArrayObj::of(v) })
    } else {
        Err(wrong_kind(op, "the array", "an array", v))
    }
}

/// Checks that `v` is a map and returns it.
#[inline]
pub fn map<'a>(op: &str, v: Value) -> Result<&'a mut MapObj, OpError> {
    if v.tag == Tag::Map as u64 {
        // SAFETY: map-tagged values refer to live map objects.
        Ok(unsafe { MapObj::of(v) })
    } else {
        Err(wrong_kind(op, "the map", "a map", v))
    }
}

/// Checks that `v` is a str and returns it.
#[inline]
pub fn string<'a>(op: &str, v: Value) -> Result<&'a StrObj, OpError> {
    if v.tag == Tag::Str as u64 {
        // SAFETY: str-tagged values refer to live string objects.
        Ok(unsafe { StrObj::of(v) })
    } else {
        Err(wrong_kind(op, "the string", "a str", v))
    }
}

/// Checks that `v` is a bytes buffer and returns it.
#[inline]
pub fn bytes<'a>(op: &str, v: Value) -> Result<&'a mut BytesObj, OpError> {
    if v.tag == Tag::Bytes as u64 {
        // SAFETY: bytes-tagged values refer to live bytes objects.
        Ok(unsafe { BytesObj::of(v) })
    } else {
        Err(wrong_kind(op, "the buffer", "bytes", v))
    }
}

/// Checks that `v` is a fn value and returns it.
#[inline]
pub fn function<'a>(op: &str, v: Value) -> Result<&'a mut FnObj, OpError> {
    if v.tag == Tag::Fn as u64 {
        // SAFETY: fn-tagged values refer to live fn objects.
        Ok(unsafe { FnObj::of(v) })
    } else {
        Err(wrong_kind(op, "the callee", "a fn", v))
    }
}

/// `aget`.
#[inline]
pub fn array_get(a: Value, i: Value) -> Result<Value, OpError> {
    let arr = array("aget", a)?;
    arr.get(int_operand("aget", "the index", i)?)
}

/// `aset` (with the write barrier).
#[inline]
pub fn array_set(heap: &mut Heap, a: Value, i: Value, v: Value) -> Result<(), OpError> {
    let arr = array("aset", a)?;
    arr.set(int_operand("aset", "the index", i)?, v)?;
    crate::heap::write_barrier(heap, a, v);
    Ok(())
}

/// `alen`.
pub fn array_len(a: Value) -> Result<Value, OpError> {
    Ok(Value::int(array("alen", a)?.len() as i64))
}

/// `apop`.
pub fn array_pop(a: Value) -> Result<Value, OpError> {
    array("apop", a)?.pop()
}

/// `ld.*`.
pub fn bytes_load(mem: Mem, b: Value, off: Value) -> Result<Value, OpError> {
    let buf = bytes("ld", b)?;
    buf.load(mem, int_operand("ld", "the offset", off)?)
}

/// `st.*`.
pub fn bytes_store(mem: Mem, b: Value, off: Value, v: Value) -> Result<(), OpError> {
    let buf = bytes("st", b)?;
    buf.store(mem, int_operand("st", "the offset", off)?, v)
}

/// `blen`.
pub fn bytes_len(b: Value) -> Result<Value, OpError> {
    Ok(Value::int(bytes("blen", b)?.len() as i64))
}

/// `slen`.
pub fn str_len(s: Value) -> Result<Value, OpError> {
    Ok(Value::int(string("slen", s)?.char_len() as i64))
}

/// `sget`.
pub fn str_get(s: Value, i: Value) -> Result<Value, OpError> {
    let st = string("sget", s)?;
    st.char_at(int_operand("sget", "the index", i)?)
        .map(Value::char)
}

/// `mget`.
pub fn map_get(m: Value, k: Value) -> Result<Value, OpError> {
    map("mget", m)?.get(k)
}

/// `mhas`.
pub fn map_has(m: Value, k: Value) -> Result<Value, OpError> {
    map("mhas", m)?.contains(k).map(Value::bool)
}

/// `mdel`.
pub fn map_del(m: Value, k: Value) -> Result<(), OpError> {
    map("mdel", m)?.remove(k).map(|_| ())
}

/// `mlen`.
pub fn map_len(m: Value) -> Result<Value, OpError> {
    Ok(Value::int(map("mlen", m)?.len() as i64))
}

/// Names the text form needs from the Vm.
pub trait NameLookup {
    /// A record type's name and field names.
    fn record_type(&self, id: u32) -> Option<(&str, Vec<&str>)>;
    /// A function's name.
    fn function_name(&self, id: u32) -> Option<&str>;
    /// A loaded module's name.
    fn module_name(&self, _id: u32) -> Option<&str> {
        None
    }
}

/// Nesting depth beyond which containers print as `...`.
const MAX_DEPTH: usize = 16;
/// Text beyond this many bytes is cut off with `...` (a shared structure can expand
/// exponentially even without cycles).
const MAX_TEXT: usize = 1 << 22;

/// The text form of a value: what `tostr` returns and `sys print` writes. Strings and chars
/// are raw at the top level and quoted inside containers; arrays print as `[a, b]`, maps as
/// `{k: v}`, records as `Type{field: v}`, functions as `<fn name>`. A container inside itself
/// prints as `...`, as does anything nested deeper than 16 levels or past 4 MiB of text.
pub fn format_value(v: Value, names: &dyn NameLookup) -> String {
    let mut out = String::new();
    let mut path = Vec::new();
    write_value(&mut out, v, names, &mut path);
    out
}

fn write_value(out: &mut String, v: Value, names: &dyn NameLookup, path: &mut Vec<u64>) {
    let depth = path.len();
    let nested = depth > 0;
    let container = matches!(v.kind(), Tag::Array | Tag::Map | Tag::Record);
    if container && (depth >= MAX_DEPTH || out.len() >= MAX_TEXT || path.contains(&v.bits)) {
        out.push_str("...");
        return;
    }
    if container {
        path.push(v.bits);
    }
    match v.kind() {
        Tag::Str if nested => {
            let _ = write!(out, "{v:?}");
        }
        Tag::Char if nested => {
            let _ = write!(out, "{v:?}");
        }
        Tag::Array => {
            out.push('[');
            // SAFETY: array-tagged values refer to live arrays.
            for (i, x) in unsafe { ArrayObj::of(v) }.items().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, *x, names, path);
            }
            out.push(']');
        }
        Tag::Map => {
            out.push('{');
            // SAFETY: map-tagged values refer to live maps.
            let m = unsafe { MapObj::of(v) };
            for (i, k) in m.keys().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, k, names, path);
                out.push_str(": ");
                write_value(out, m.get(k).unwrap_or(Value::NIL), names, path);
            }
            out.push('}');
        }
        Tag::Record => {
            // SAFETY: record-tagged values refer to live records.
            let r = unsafe { RecordObj::of(v) };
            let (name, fields) = names
                .record_type(r.type_id())
                .unwrap_or(("record", Vec::new()));
            out.push_str(name);
            out.push('{');
            for (i, x) in r.fields().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if let Some(f) = fields.get(i) {
                    let _ = write!(out, "{f}: ");
                }
                write_value(out, *x, names, path);
            }
            out.push('}');
        }
        Tag::Fn => {
            // SAFETY: fn-tagged values refer to live functions.
            let f = unsafe { FnObj::of(v) };
            let _ = write!(out, "<fn {}>", names.function_name(f.func).unwrap_or("?"));
        }
        Tag::Module => {
            // SAFETY: module-tagged values refer to live module objects.
            let m = unsafe { ModuleObj::of(v) };
            let _ = write!(
                out,
                "<module {}>",
                names.module_name(m.module).unwrap_or("?")
            );
        }
        Tag::Bytes => {
            // SAFETY: bytes-tagged values refer to live buffers.
            let _ = write!(out, "<bytes {}>", unsafe { BytesObj::of(v) }.len());
        }
        _ => {
            let _ = write!(out, "{v}");
        }
    }
    if container {
        path.pop();
    }
}
