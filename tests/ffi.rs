//! FFI integration tests against `tests/native/sigmatest.c`, a C library the facade's build
//! script compiles (its path arrives as `SIGMA_TESTLIB`): every C type at the edges of its
//! range, strings, buffers, pointers, void and long mixed signatures, each run by the
//! interpreter and by eagerly compiled code (direct native calls) with the same results; calls
//! without the `ffi` capability; and the lifetime of opened libraries.

use sigma_vm::runtime::module::write_escaped;
use sigma_vm::{
    load_source, new_vm, Capabilities, JitConfig, JitMode, LinkError, Stop, TrapKind, Vm, VmConfig,
};

const TESTLIB: &str = env!("SIGMA_TESTLIB");

fn config(jit: bool, caps: Capabilities) -> VmConfig {
    VmConfig {
        capabilities: caps,
        jit: JitConfig {
            mode: if jit { JitMode::Eager } else { JitMode::Off },
            threshold: 1,
            trace: false,
        },
        ..VmConfig::default()
    }
}

/// The program text with the test library's path substituted for `LIB`.
fn program(text: &str) -> String {
    let mut path = String::new();
    write_escaped(&mut path, TESTLIB, '"').unwrap();
    text.replace("LIB", &path)
}

fn load(vm: &mut Vm, text: &str, name: &str) -> Result<usize, LinkError> {
    let (m, info) = load_source(program(text).as_bytes(), name)
        .unwrap_or_else(|e| panic!("{name} does not assemble: {e}"));
    vm.load(&m, &info)
}

/// A result as text (what `sys print` writes; strings inside arrays are quoted).
fn call(vm: &mut Vm, m: usize, f: &str) -> Result<String, Stop> {
    let id = vm.export(m, f).unwrap_or_else(|| panic!("no export {f}"));
    let v = vm.call(id, &[])?;
    Ok(vm.display(v))
}

const TYPES: &str = r#"
.module types
.native t "LIB"
.extern t.st_i8_neg (i8) -> i8
.extern t.st_u8_not (u8) -> u8
.extern t.st_i16_min () -> i16
.extern t.st_u16_max () -> u16
.extern t.st_i32_add (i32, i32) -> i32
.extern t.st_u32_max () -> u32
.extern t.st_i64_mul (i64, i64) -> i64
.extern t.st_u64_max () -> u64
.extern t.st_i8_echo (i8) -> i64
.extern t.st_u8_echo (u8) -> i64
.extern t.st_i16_echo (i16) -> i64
.extern t.st_u16_echo (u16) -> i64
.extern t.st_i32_echo (i32) -> i64
.extern t.st_u32_echo (u32) -> i64
.extern t.st_u64_echo (u64) -> u64
.extern t.st_f32_half (f32) -> f32
.extern t.st_f64_scale (f64, f64) -> f64
.extern t.st_f32_to_f64 (f32) -> f64
.extern t.st_cell_ptr () -> ptr
.extern t.st_ptr_load (ptr) -> i64
.extern t.st_ptr_is_null (ptr) -> i64
.extern t.st_strlen (str) -> u64
.extern t.st_name (i32) -> str
.extern t.st_echo_str (str) -> str
.extern t.st_fill (bytes, u64, u8) -> void
.extern t.st_sum_bytes (bytes, u64) -> i64
.extern t.st_bump (i64) -> void
.extern t.st_count () -> i64
.extern t.st_mix8 (i32, f64, i64, f32, u8, f64, i16, f64) -> f64
.extern t.st_ints10 (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> i64

.func i8_neg_min() export
    .reg r: int
    ncall   r, t.st_i8_neg, -128
    ret     r
.end
.func u8_not_zero() export
    .reg r
    ncall   r, t.st_u8_not, 0
    ret     r
.end
.func i16_min() export
    .reg r: int
    ncall   r, t.st_i16_min
    ret     r
.end
.func u16_max() export
    .reg r: int
    ncall   r, t.st_u16_max
    ret     r
.end
.func i32_wrap() export
    .reg r: int, a: int
    load    a, 2147483647
    ncall   r, t.st_i32_add, a, 1
    ret     r
.end
.func u32_max() export
    .reg r: int
    ncall   r, t.st_u32_max
    ret     r
.end
.func i64_wrap() export
    .reg r: int
    ncall   r, t.st_i64_mul, 9223372036854775807, 2
    ret     r
.end
.func u64_max() export
    .reg r
    ncall   r, t.st_u64_max
    ret     r
.end
.func echoes() export
    .reg a: array, r: int, x
    newarr  a, 0
    ncall   r, t.st_i8_echo, 127
    apush   a, r
    load    x, -128
    ncall   r, t.st_i8_echo, x
    apush   a, r
    ncall   r, t.st_u8_echo, 255
    apush   a, r
    ncall   r, t.st_i16_echo, -32768
    apush   a, r
    ncall   r, t.st_u16_echo, 65535
    apush   a, r
    ncall   r, t.st_i32_echo, -2147483648
    apush   a, r
    ncall   r, t.st_u32_echo, 4294967295
    apush   a, r
    ncall   r, t.st_u64_echo, -1
    apush   a, r
    ret     a
.end
.func floats() export
    .reg a: array, f: float, x
    newarr  a, 0
    ncall   f, t.st_f32_half, 3.0
    apush   a, f
    ncall   f, t.st_f64_scale, 1.5, 4
    apush   a, f
    load    x, 0.1
    ncall   f, t.st_f32_to_f64, x
    apush   a, f
    ncall   x, t.st_f32_half, 5
    apush   a, x
    ret     a
.end
.func pointers() export
    .reg p: int, r: int, a: array
    newarr  a, 0
    ncall   p, t.st_cell_ptr
    ncall   r, t.st_ptr_load, p
    apush   a, r
    ncall   r, t.st_ptr_is_null, 0
    apush   a, r
    ncall   r, t.st_ptr_is_null, p
    apush   a, r
    ret     a
.end
.func strings() export
    .reg a: array, n: int, s, x
    newarr  a, 0
    ncall   n, t.st_strlen, "héllo"
    apush   a, n
    ncall   s, t.st_name, 1
    apush   a, s
    ncall   s, t.st_name, 7
    apush   a, s
    load    x, "round trip"
    ncall   s, t.st_echo_str, x
    apush   a, s
    ret     a
.end
.func buffers() export
    .reg b: bytes, a: array, x: int
    newarr  a, 0
    newbytes b, 6
    ncall   _, t.st_fill, b, 4, 10
    ld.u8   x, b, 3
    apush   a, x
    ld.u8   x, b, 4
    apush   a, x
    ncall   x, t.st_sum_bytes, b, 6
    apush   a, x
    ret     a
.end
.func void_calls() export
    .reg before: int, after: int, r
    ncall   before, t.st_count
    ncall   r, t.st_bump, 5
    ncall   _, t.st_bump, 6
    ncall   after, t.st_count
    sub     after, after, before
    ret     after
.end
.func many() export
    .reg a: array, f: float, i: int
    newarr  a, 0
    ncall   f, t.st_mix8, 1, 2.5, 3, 4.5, 5, 6.0, -7, 8.25
    apush   a, f
    ncall   i, t.st_ints10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
    apush   a, i
    ncall   i, t.st_ints10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    apush   a, i
    ret     a
.end
.func i8_too_big() export
    .reg r
    ncall   r, t.st_i8_echo, 128
    ret     r
.end
.func u16_negative() export
    .reg r, x
    load    x, -1
    ncall   r, t.st_u16_echo, x
    ret     r
.end
.func f32_wrong_kind() export
    .reg r, x
    load    x, "1.0"
    ncall   r, t.st_f32_half, x
    ret     r
.end
"#;

const EXPECTED: &[(&str, &str)] = &[
    ("i8_neg_min", "-128"),
    ("u8_not_zero", "255"),
    ("i16_min", "-32768"),
    ("u16_max", "65535"),
    ("i32_wrap", "-2147483648"),
    ("u32_max", "4294967295"),
    ("i64_wrap", "-2"),
    ("u64_max", "-1"),
    (
        "echoes",
        "[127, -128, 255, -32768, 65535, -2147483648, 4294967295, -1]",
    ),
    ("floats", "[1.5, 6.0, 0.10000000149011612, 2.5]"),
    ("pointers", "[41, 1, 0]"),
    ("strings", "[6, \"one\", nil, \"round trip\"]"),
    ("buffers", "[13, 0, 46]"),
    ("void_calls", "11"),
    ("many", "[23.25, 55, 385]"),
];

#[test]
fn every_c_type_round_trips_in_both_tiers() {
    for jit in [false, true] {
        let mut vm = new_vm(config(jit, Capabilities::ALL));
        let m = load(&mut vm, TYPES, "types.sbas").unwrap();
        for (f, want) in EXPECTED {
            let got = call(&mut vm, m, f).unwrap_or_else(|e| panic!("{f} (jit {jit}): {e}"));
            assert_eq!(&got, want, "{f} (jit {jit})");
        }
    }
}

#[test]
fn argument_errors_are_the_same_in_both_tiers() {
    let cases = [
        (
            "i8_too_big",
            TrapKind::NativeError,
            "ncall `t.st_i8_echo`: argument 1 is 128, which does not fit in i8",
        ),
        (
            "u16_negative",
            TrapKind::NativeError,
            "ncall `t.st_u16_echo`: argument 1 is -1, which does not fit in u16",
        ),
        (
            "f32_wrong_kind",
            TrapKind::TypeError,
            "ncall `t.st_f32_half`: argument 1 (f32) must be a float or an int, got str",
        ),
    ];
    let mut reports = Vec::new();
    for jit in [false, true] {
        let mut vm = new_vm(config(jit, Capabilities::ALL));
        let m = load(&mut vm, TYPES, "types.sbas").unwrap();
        for (f, kind, msg) in cases {
            let stop = call(&mut vm, m, f).unwrap_err();
            let trap = stop.trap().unwrap_or_else(|| panic!("{f}: {stop}"));
            assert_eq!(trap.kind, kind, "{f} (jit {jit})");
            assert_eq!(trap.message, msg, "{f} (jit {jit})");
            assert_eq!(trap.backtrace[0].function, f, "{f} (jit {jit})");
            reports.push(trap.to_string());
        }
    }
    let (interp, jit) = reports.split_at(cases.len());
    assert_eq!(interp, jit, "trap reports differ between the tiers");
}

#[test]
fn without_the_ffi_capability_calls_trap_and_nothing_is_opened() {
    let denied = Capabilities {
        ffi: false,
        ..Capabilities::ALL
    };
    for jit in [false, true] {
        let mut vm = new_vm(config(jit, denied));
        let m = load(&mut vm, TYPES, "types.sbas").unwrap();
        assert_eq!(vm.open_native_libraries(), 0);
        let stop = call(&mut vm, m, "i16_min").unwrap_err();
        let trap = stop.trap().expect("a trap");
        assert_eq!(trap.kind, TrapKind::PermissionDenied, "jit {jit}");
        assert_eq!(
            trap.message,
            "ncall `t.st_i16_min`: the FFI capability is not granted to this program"
        );
        // A library that does not exist is not even looked for.
        let missing = ".module m2\n.native x \"libsigma-no-such-library.so.9\"\n\
                       .extern x.f () -> void\n.func g() export\n    ncall _, x.f\n    ret\n.end\n";
        let m2 = load(&mut vm, missing, "m2.sbas").expect("links without opening");
        let stop = call(&mut vm, m2, "g").unwrap_err();
        assert_eq!(
            stop.trap().map(|t| t.kind),
            Some(TrapKind::PermissionDenied)
        );
    }
}

#[test]
fn libraries_are_shared_and_closed_with_the_vm() {
    let mut vm = new_vm(config(false, Capabilities::ALL));
    let tracker = vm.native_library_tracker();
    assert_eq!(vm.open_native_libraries(), 0);
    let m = load(&mut vm, TYPES, "types.sbas").unwrap();
    assert_eq!(vm.open_native_libraries(), 1);
    // A second module naming the same library shares the open object.
    let other = ".module other\n.native same \"LIB\"\n.extern same.st_u16_max () -> u16\n\
                 .func f() export\n    .reg r\n    ncall r, same.st_u16_max\n    ret r\n.end\n";
    let o = load(&mut vm, other, "other.sbas").unwrap();
    assert_eq!(vm.open_native_libraries(), 1);
    assert_eq!(call(&mut vm, o, "f").unwrap(), "65535");
    vm.collect_garbage().unwrap();
    assert_eq!(vm.open_native_libraries(), 1, "linked modules keep it open");
    assert_eq!(call(&mut vm, m, "u16_max").unwrap(), "65535");
    drop(vm);
    assert_eq!(tracker.open(), 0, "dropping the Vm closes its libraries");
}

#[test]
fn a_library_of_a_module_that_failed_to_link_is_finalized() {
    let mut vm = new_vm(config(false, Capabilities::ALL));
    let bad = ".module bad\n.native t \"LIB\"\n.extern t.st_no_such_symbol () -> void\n\
               .func f() export\n    ret\n.end\n";
    let e = load(&mut vm, bad, "bad.sbas").unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(&e, LinkError::NativeSymbol { symbol, .. } if symbol == "st_no_such_symbol"),
        "{text}"
    );
    assert!(text.contains(TESTLIB), "{text}");
    // Opened for the failed link, then unreachable: the next collection closes it.
    assert_eq!(vm.open_native_libraries(), 1);
    vm.collect_garbage().unwrap();
    assert_eq!(vm.open_native_libraries(), 0);
    // Linking again opens it again.
    let m = load(&mut vm, TYPES, "types.sbas").unwrap();
    assert_eq!(call(&mut vm, m, "i16_min").unwrap(), "-32768");
    assert_eq!(vm.open_native_libraries(), 1);
}

const HOT: &str = r#"
.module hot
.native t "LIB"
.extern t.st_i32_echo (i32) -> i64
.extern t.st_f32_half (f32) -> f32
.extern t.st_sum_bytes (bytes, u64) -> i64
.extern t.st_u8_echo (u8) -> i64

.func typed(n: int) -> float export
    .reg i: int, r: int, f: float, acc: float, b: bytes
    newbytes b, 3
    st.i8   b, 0, 1
    st.i8   b, 2, 2
loop:
    jge     i, n, done
    ncall   r, t.st_i32_echo, i
    ncall   f, t.st_f32_half, r
    add     acc, acc, f
    ncall   r, t.st_sum_bytes, b, 3
    itof    f, r
    add     acc, acc, f
    add     i, i, 1
    jump    loop
done:
    ret     acc
.end

.func untyped(n) export
    .reg i, r, acc
    load    i, 0
    load    acc, 0
loop:
    jge     i, n, done
    rem     r, i, 256
    ncall   r, t.st_u8_echo, r
    add     acc, acc, r
    add     i, i, 1
    jump    loop
done:
    ret     acc
.end
"#;

#[test]
fn compiled_code_calls_natives_directly() {
    let mut counts = Vec::new();
    for jit in [false, true] {
        let mut vm = new_vm(config(jit, Capabilities::ALL));
        let m = load(&mut vm, HOT, "hot.sbas").unwrap();
        let typed = vm.export(m, "typed").unwrap();
        let r = vm.call(typed, &[sigma_vm::Value::int(1000)]).unwrap();
        // sum of i/2 for i < 1000, plus 3 per iteration.
        assert_eq!(r.as_float(), Some(249_750.0 + 3000.0), "jit {jit}");
        let untyped = vm.export(m, "untyped").unwrap();
        let r = vm.call(untyped, &[sigma_vm::Value::int(1000)]).unwrap();
        let want: i64 = (0..1000).map(|i| i % 256).sum();
        assert_eq!(r.as_int(), Some(want), "jit {jit}");
        counts.push(vm.runtime_native_calls());
    }
    assert_eq!(
        counts[0], 4000,
        "the interpreter runs every call through libffi"
    );
    assert_eq!(counts[1], 0, "compiled code calls every one directly");
}
