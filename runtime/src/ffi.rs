//! The foreign-function interface: C types of `.extern` declarations, opened shared libraries
//! as heap objects, and the one runtime path that converts Sigma values to C arguments, calls
//! a C function through libffi and converts its result back (both tiers use it; the JIT only
//! bypasses it with direct calls whose conversions it proves equivalent, see
//! `docs/architecture.md`).
//!
//! Value mapping (also in `docs/bytecode.md`): `i8`…`u32` take an int that must fit the C type
//! (otherwise a `NativeError` naming the function, argument and value); `i64`, `u64` and `ptr`
//! take all 64 bits of an int (a `u64` or `ptr` is the int's two's-complement bit pattern, as
//! `divu`/`ltu` read ints); `f32`/`f64` take a float or an int (converted to the nearest
//! float); `str` passes a NUL-terminated copy valid for the call (a str with a NUL byte is a
//! `NativeError`); `bytes` passes the buffer's data pointer, valid for the call and writable by
//! the callee. Results: integer types extend (sign or zero) to an int, floats widen, `ptr` is
//! the address as an int, `str` is copied into a new str (`NULL` is nil, invalid UTF-8 is
//! replaced), `void` is nil.
//!
//! Invariants: a [`NativeLibObj`] owns its `libloading::Library`; the library is closed exactly
//! when the object is released (collected, or its heap dropped), and the [`LibraryTracker`] it
//! was opened with counts it as open until then. Symbol addresses resolved from a library are
//! only used while the library object is reachable (the linked module that holds them keeps it
//! alive). The FFI is the one capability through which a guest can crash the host: a C
//! function given wrong pointers or declared with a wrong signature misbehaves like any C code.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use libffi::middle::{Arg, Cif, CodePtr, Type as FfiType};
use sigma_gc::{GcHeader, Heap, ObjVTable};

use crate::heap::{header_of, layout, ObjKind, StrObj};
use crate::trap::{OpError, TrapKind};
use crate::types::Type;
use crate::value::{Tag, Value};

/// A C type of an `.extern` signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CType {
    /// `int8_t`.
    I8,
    /// `int16_t`.
    I16,
    /// `int32_t`.
    I32,
    /// `int64_t`.
    I64,
    /// `uint8_t`.
    U8,
    /// `uint16_t`.
    U16,
    /// `uint32_t`.
    U32,
    /// `uint64_t`.
    U64,
    /// `float`.
    F32,
    /// `double`.
    F64,
    /// Any data pointer, as an int address.
    Ptr,
    /// `const char *`: a NUL-terminated copy of a str (results: copied back, NULL is nil).
    Str,
    /// A pointer to a bytes buffer's data.
    Bytes,
    /// No value (results only).
    Void,
}

/// Every C type, in encoding order (the binary code is the index).
pub const ALL_CTYPES: [CType; 14] = [
    CType::I8,
    CType::I16,
    CType::I32,
    CType::I64,
    CType::U8,
    CType::U16,
    CType::U32,
    CType::U64,
    CType::F32,
    CType::F64,
    CType::Ptr,
    CType::Str,
    CType::Bytes,
    CType::Void,
];

impl CType {
    /// The name in assembly text.
    pub fn name(self) -> &'static str {
        match self {
            CType::I8 => "i8",
            CType::I16 => "i16",
            CType::I32 => "i32",
            CType::I64 => "i64",
            CType::U8 => "u8",
            CType::U16 => "u16",
            CType::U32 => "u32",
            CType::U64 => "u64",
            CType::F32 => "f32",
            CType::F64 => "f64",
            CType::Ptr => "ptr",
            CType::Str => "str",
            CType::Bytes => "bytes",
            CType::Void => "void",
        }
    }

    /// Parses a C type name.
    pub fn from_name(name: &str) -> Option<CType> {
        ALL_CTYPES.iter().copied().find(|t| t.name() == name)
    }

    /// The binary encoding.
    pub fn code(self) -> u32 {
        ALL_CTYPES.iter().position(|t| *t == self).unwrap_or(0) as u32
    }

    /// Decodes a binary code.
    pub fn from_code(code: u32) -> Option<CType> {
        ALL_CTYPES.get(code as usize).copied()
    }

    /// Whether this is one of the integer types `i8`…`u64`.
    pub fn is_int(self) -> bool {
        matches!(
            self,
            CType::I8
                | CType::I16
                | CType::I32
                | CType::I64
                | CType::U8
                | CType::U16
                | CType::U32
                | CType::U64
        )
    }

    /// Whether this is `f32` or `f64`.
    pub fn is_float(self) -> bool {
        matches!(self, CType::F32 | CType::F64)
    }

    /// The range of ints an argument of this type accepts, for the narrow integer types
    /// (`i64`, `u64` and `ptr` take every int).
    pub fn int_range(self) -> Option<(i64, i64)> {
        Some(match self {
            CType::I8 => (i8::MIN as i64, i8::MAX as i64),
            CType::I16 => (i16::MIN as i64, i16::MAX as i64),
            CType::I32 => (i32::MIN as i64, i32::MAX as i64),
            CType::U8 => (0, u8::MAX as i64),
            CType::U16 => (0, u16::MAX as i64),
            CType::U32 => (0, u32::MAX as i64),
            _ => return None,
        })
    }

    /// The static type of an `ncall` result of this C type: ints and `ptr` give int, floats
    /// give float, `void` gives nil, and `str` gives `any` (a str, or nil for NULL).
    pub fn result_type(self) -> Type {
        match self {
            CType::F32 | CType::F64 => Type::Float,
            CType::Str => Type::Any,
            CType::Void => Type::Nil,
            // Not a valid result type (the verifier rejects it).
            CType::Bytes => Type::Any,
            _ => Type::Int,
        }
    }

    /// Whether an argument of static type `t` can be passed for a parameter of this type
    /// (`any` is checked when the call runs).
    pub fn accepts_static(self, t: Type) -> bool {
        match self {
            _ if t == Type::Any => true,
            CType::F32 | CType::F64 => matches!(t, Type::Int | Type::Float),
            CType::Ptr => matches!(t, Type::Int | Type::Ptr),
            CType::Str => t == Type::Str,
            CType::Bytes => t == Type::Bytes,
            CType::Void => false,
            _ => t == Type::Int,
        }
    }

    /// What an argument of this type must be, for messages.
    pub fn expects(self) -> &'static str {
        match self {
            CType::F32 | CType::F64 => "a float or an int",
            CType::Ptr => "an int (an address) or a ptr",
            CType::Str => "a str",
            CType::Bytes => "a bytes buffer",
            CType::Void => "nothing",
            _ => "an int",
        }
    }

    fn ffi_type(self) -> FfiType {
        match self {
            CType::I8 => FfiType::i8(),
            CType::I16 => FfiType::i16(),
            CType::I32 => FfiType::i32(),
            CType::I64 => FfiType::i64(),
            CType::U8 => FfiType::u8(),
            CType::U16 => FfiType::u16(),
            CType::U32 => FfiType::u32(),
            CType::U64 => FfiType::u64(),
            CType::F32 => FfiType::f32(),
            CType::F64 => FfiType::f64(),
            CType::Ptr | CType::Str | CType::Bytes => FfiType::pointer(),
            CType::Void => FfiType::void(),
        }
    }
}

impl std::fmt::Display for CType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------------------------
// Libraries

/// Counts the libraries opened through it that are still open (shared by a Vm and its
/// library objects, so it can be read after the Vm is gone).
#[derive(Clone, Debug, Default)]
pub struct LibraryTracker(Arc<AtomicUsize>);

impl LibraryTracker {
    /// Libraries opened through this tracker and not closed yet.
    pub fn open(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// An opened shared library: the payload of a `native` heap object.
pub struct NativeLibObj {
    lib: libloading::Library,
    name: String,
    tracker: LibraryTracker,
}

unsafe fn release_native(obj: NonNull<GcHeader>) -> usize {
    // SAFETY: called once on a live native object just before its cell is freed: the payload
    // is moved out and dropped, which closes the library.
    let lib = unsafe { std::ptr::read(GcHeader::payload(obj) as *const NativeLibObj) };
    lib.tracker.0.fetch_sub(1, Ordering::SeqCst);
    drop(lib);
    0
}

static NATIVE_VTABLE: ObjVTable = ObjVTable {
    trace: None,
    release: Some(release_native),
};

impl NativeLibObj {
    /// Opens the shared library `name` (a path, or a name the dynamic loader searches for)
    /// and wraps it in a new heap object (no collection). The error is the loader's message.
    pub fn open(heap: &mut Heap, name: &str, tracker: &LibraryTracker) -> Result<Value, String> {
        // SAFETY: loading a library runs its initializers; that is what declaring `.native`
        // asks for, and only programs granted the `ffi` capability get here.
        let lib = unsafe { libloading::Library::new(name) }.map_err(|e| e.to_string())?;
        let obj = heap
            .alloc(
                std::mem::size_of::<NativeLibObj>(),
                &NATIVE_VTABLE,
                ObjKind::Native as u8,
                0,
            )
            .map_err(|e| format!("cannot allocate {} bytes", e.requested))?;
        tracker.0.fetch_add(1, Ordering::SeqCst);
        // SAFETY: fresh cell sized for a `NativeLibObj`.
        unsafe {
            (GcHeader::payload(obj) as *mut NativeLibObj).write(NativeLibObj {
                lib,
                name: name.to_owned(),
                tracker: tracker.clone(),
            })
        };
        Ok(Value {
            tag: Tag::Native as u64,
            bits: obj.as_ptr() as u64,
        })
    }

    /// The library object a native value refers to.
    ///
    /// # Safety
    /// `v` must be a live `native` value; the borrow must not outlive the object.
    pub unsafe fn of<'a>(v: Value) -> &'a NativeLibObj {
        // SAFETY: guaranteed by the caller.
        unsafe { &*(GcHeader::payload(header_of(v)) as *const NativeLibObj) }
    }

    /// The name the library was opened by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address of symbol `symbol`; the error is the loader's message. The address is
    /// valid while this object is.
    pub fn symbol(&self, symbol: &str) -> Result<usize, String> {
        let mut name = symbol.as_bytes().to_vec();
        name.push(0);
        // SAFETY: the symbol is only looked up here; its address is used as a function of the
        // declared signature, which is the declaration's responsibility (see the module doc).
        let sym = unsafe { self.lib.get::<*mut c_void>(&name) }.map_err(|e| e.to_string())?;
        let addr = *sym as usize;
        if addr == 0 {
            return Err(format!("symbol `{symbol}` has a null address"));
        }
        Ok(addr)
    }
}

// ---------------------------------------------------------------------------------------------
// Calls

/// A resolved `.extern`: its signature and, when the FFI capability is granted, its address and
/// the libffi call interface built once at link time.
pub struct ExternFn {
    /// `alias.symbol`, for messages.
    pub name: String,
    /// Parameter types.
    pub params: Vec<CType>,
    /// Result type.
    pub ret: CType,
    target: Option<(usize, Cif)>,
}

/// The converted result of a native call (a `Str` still has to be allocated by the caller).
#[derive(Clone, Debug, PartialEq)]
pub enum NativeRet {
    /// `void`.
    Nil,
    /// An integer or pointer result.
    Int(i64),
    /// A float result.
    Float(f64),
    /// A `str` result: the copied text, or `None` for NULL.
    Str(Option<String>),
}

impl ExternFn {
    /// A callable extern at `addr`, or (`None`) one whose calls trap with `PermissionDenied`
    /// because the FFI capability is not granted.
    pub fn new(name: String, params: Vec<CType>, ret: CType, addr: Option<usize>) -> ExternFn {
        let target = addr.map(|a| {
            let cif = Cif::new(params.iter().map(|t| t.ffi_type()), ret.ffi_type());
            (a, cif)
        });
        ExternFn {
            name,
            params,
            ret,
            target,
        }
    }

    /// The function's address, if it may be called.
    pub fn addr(&self) -> Option<usize> {
        self.target.as_ref().map(|t| t.0)
    }

    /// The trap of a call when the FFI capability is not granted.
    pub fn denied(&self) -> OpError {
        OpError {
            kind: TrapKind::PermissionDenied,
            message: format!(
                "ncall `{}`: the FFI capability is not granted to this program",
                self.name
            ),
        }
    }

    /// Converts `args` (as many as the parameters) and calls the function.
    pub fn call(&self, args: &[Value]) -> Result<NativeRet, OpError> {
        let Some((addr, cif)) = &self.target else {
            return Err(self.denied());
        };
        let n = self.params.len();
        // One 8-byte cell per argument, written as its C type; strings live in `strings`.
        let mut cells = vec![0u64; n];
        let mut strings: Vec<CString> = Vec::new();
        for (i, (&ct, &v)) in self.params.iter().zip(args).enumerate() {
            let cell = cells[i..].as_mut_ptr();
            let c = convert_arg(&self.name, i, ct, v)?;
            // SAFETY: `cell` points at an 8-byte, 8-aligned slot; every write below is of a
            // type of at most 8 bytes, at the start of the slot (where libffi reads it).
            unsafe {
                match c {
                    Arg64::Int(x) => match ct {
                        CType::I8 | CType::U8 => (cell as *mut u8).write(x as u8),
                        CType::I16 | CType::U16 => (cell as *mut u16).write(x as u16),
                        CType::I32 | CType::U32 => (cell as *mut u32).write(x as u32),
                        _ => cell.write(x as u64),
                    },
                    Arg64::Float(x) => {
                        if ct == CType::F32 {
                            (cell as *mut f32).write(x as f32)
                        } else {
                            (cell as *mut f64).write(x)
                        }
                    }
                    Arg64::Str(s) => {
                        let c = CString::new(s).map_err(|e| {
                            native_error(format!(
                                "ncall `{}`: argument {} is a str with a NUL byte at index {}",
                                self.name,
                                i + 1,
                                e.nul_position()
                            ))
                        })?;
                        cell.write(c.as_ptr() as usize as u64);
                        // The CString's buffer does not move when the vector grows.
                        strings.push(c);
                    }
                }
            }
        }
        let argv: Vec<Arg> = cells.iter().map(Arg::new).collect();
        let f = CodePtr::from_ptr(*addr as *const c_void);
        // SAFETY: the call interface was built from the declared signature and every argument
        // cell holds a value of its declared C type; pointers passed (strings, bytes data) stay
        // valid for the call, as no collection can run during it. Whether the declaration
        // matches the C function is the declaring program's responsibility.
        let r = unsafe {
            match self.ret {
                CType::Void => {
                    cif.call::<()>(f, &argv);
                    NativeRet::Nil
                }
                CType::I8 => NativeRet::Int(cif.call::<i8>(f, &argv) as i64),
                CType::I16 => NativeRet::Int(cif.call::<i16>(f, &argv) as i64),
                CType::I32 => NativeRet::Int(cif.call::<i32>(f, &argv) as i64),
                CType::I64 => NativeRet::Int(cif.call::<i64>(f, &argv)),
                CType::U8 => NativeRet::Int(cif.call::<u8>(f, &argv) as i64),
                CType::U16 => NativeRet::Int(cif.call::<u16>(f, &argv) as i64),
                CType::U32 => NativeRet::Int(cif.call::<u32>(f, &argv) as i64),
                CType::U64 => NativeRet::Int(cif.call::<u64>(f, &argv) as i64),
                CType::F32 => NativeRet::Float(cif.call::<f32>(f, &argv) as f64),
                CType::F64 => NativeRet::Float(cif.call::<f64>(f, &argv)),
                CType::Ptr | CType::Bytes => {
                    NativeRet::Int(cif.call::<*const c_void>(f, &argv) as usize as i64)
                }
                CType::Str => {
                    let p = cif.call::<*const c_char>(f, &argv);
                    if p.is_null() {
                        NativeRet::Str(None)
                    } else {
                        NativeRet::Str(Some(CStr::from_ptr(p).to_string_lossy().into_owned()))
                    }
                }
            }
        };
        drop(strings);
        Ok(r)
    }
}

/// An argument converted from a value, before it is written as its C type.
enum Arg64<'a> {
    Int(i64),
    Float(f64),
    Str(&'a str),
}

fn native_error(message: String) -> OpError {
    OpError {
        kind: TrapKind::NativeError,
        message,
    }
}

/// The error of an int argument outside its C type's range (what both tiers report).
pub fn range_error(func: &str, index: usize, ct: CType, x: i64) -> OpError {
    native_error(format!(
        "ncall `{func}`: argument {} is {x}, which does not fit in {ct}",
        index + 1
    ))
}

/// Converts argument `index` of `func` for a parameter of type `ct` (see the module doc).
fn convert_arg<'a>(func: &str, index: usize, ct: CType, v: Value) -> Result<Arg64<'a>, OpError> {
    let wrong = || {
        OpError::type_error(format!(
            "ncall `{func}`: argument {} ({ct}) must be {}, got {}",
            index + 1,
            ct.expects(),
            v.kind().name()
        ))
    };
    let tag = v.tag;
    Ok(match ct {
        CType::F32 | CType::F64 => match v.kind() {
            Tag::Float => Arg64::Float(f64::from_bits(v.bits)),
            Tag::Int => Arg64::Float(v.bits as i64 as f64),
            _ => return Err(wrong()),
        },
        CType::Ptr if tag == Tag::Ptr as u64 || tag == Tag::Int as u64 => Arg64::Int(v.bits as i64),
        CType::Str if tag == Tag::Str as u64 => {
            // SAFETY: str-tagged values refer to live strings; the text outlives the call.
            Arg64::Str(unsafe { StrObj::text_of(v.bits) })
        }
        CType::Bytes if tag == Tag::Bytes as u64 => {
            // A bytes-tagged value is the address of a live buffer whose data starts at
            // `BYTES_DATA` (the address is computed, not dereferenced, here).
            Arg64::Int(v.bits.wrapping_add(layout::BYTES_DATA as u64) as i64)
        }
        ct if ct.is_int() && tag == Tag::Int as u64 => {
            let x = v.bits as i64;
            if let Some((lo, hi)) = ct.int_range() {
                if x < lo || x > hi {
                    return Err(range_error(func, index, ct, x));
                }
            }
            Arg64::Int(x)
        }
        _ => return Err(wrong()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for t in ALL_CTYPES {
            assert_eq!(CType::from_name(t.name()), Some(t));
            assert_eq!(CType::from_code(t.code()), Some(t));
        }
        assert_eq!(CType::from_code(14), None);
        assert_eq!(CType::from_name("int"), None);
    }

    #[test]
    fn narrow_ints_are_range_checked() {
        assert!(convert_arg("f", 0, CType::I8, Value::int(127)).is_ok());
        let e = convert_arg("f", 0, CType::I8, Value::int(128))
            .err()
            .unwrap();
        assert_eq!(e.kind, TrapKind::NativeError);
        assert!(e.message.contains("argument 1 is 128"), "{}", e.message);
        assert!(convert_arg("f", 1, CType::U8, Value::int(-1)).is_err());
        assert!(convert_arg("f", 1, CType::U64, Value::int(-1)).is_ok());
        let e = convert_arg("f", 2, CType::I32, Value::float(1.0))
            .err()
            .unwrap();
        assert_eq!(e.kind, TrapKind::TypeError);
    }

    extern "C" fn add3(a: i8, b: f64, c: u16) -> f64 {
        a as f64 + b + c as f64
    }

    #[test]
    fn calls_through_libffi() {
        let f = ExternFn::new(
            "t.add3".into(),
            vec![CType::I8, CType::F64, CType::U16],
            CType::F64,
            Some(add3 as *const () as usize),
        );
        let r = f
            .call(&[Value::int(-3), Value::float(0.5), Value::int(65535)])
            .unwrap();
        assert_eq!(r, NativeRet::Float(65532.5));
        let denied = ExternFn::new("t.add3".into(), f.params.clone(), CType::F64, None);
        assert_eq!(
            denied.call(&[]).unwrap_err().kind,
            TrapKind::PermissionDenied
        );
    }
}
