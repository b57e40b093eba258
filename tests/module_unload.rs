//! Modules the guest loads with `sys load_module` are garbage: once nothing reaches them (no
//! module value, fn value, record of their types, running frame, importer or method table),
//! a collection unloads them, freeing their code, compiled code, tables and native libraries.
//! Modules the host loads stay loaded.

use std::path::PathBuf;

mod support;
use support::rss;

use sigma_vm::{
    load_source, new_vm, Capabilities, JitConfig, JitMode, OutputBuffer, Value, Vm, VmConfig,
};

const TIERS: [JitMode; 2] = [JitMode::Off, JitMode::Eager];
const INTERP_ONLY: [JitMode; 1] = [JitMode::Off];

/// Tests of this file run one at a time: two of them measure the process's resident memory,
/// which the others' allocations would disturb.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A fresh directory for this test's module files; holds the file's test lock.
fn module_dir(test: &str) -> (PathBuf, std::sync::MutexGuard<'static, ()>) {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("sigma-unload-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    (dir, guard)
}

/// A library module the plugin imports.
const HELPER: &str = r#".module helper
.func twice(x: int) -> int export
    .reg y: int
    add y, x, x
    ret y
.end
"#;

/// The plugin: an import, a global, a record type, a multimethod and an initializer.
const PLUGIN: &str = r#".module plugin
.import helper
.global base: int = 0
.type Box { v: int }
.multimethod size/1
.method size (Box) box_size
.method size (any) any_size

.func box_size(b: Box) -> int
    .reg v: int
    getf v, b, Box.v
    ret v
.end

.func any_size(x) -> int
    ret 0
.end

.func run(x: int) -> int export
    .reg b, s, t: int, u: int
    new b, Box, x
    dispatch s, size, b
    cast t, s, int
    call u, helper.twice, t
    getg t, base
    add u, u, t
    ret u
.end

.func make(x: int) export
    .reg b
    new b, Box, x
    ret b
.end

.func init()
    setg base, 1
    sys _, print, "plugin init"
    ret
.end
.init init
"#;

fn write_modules(dir: &std::path::Path) {
    std::fs::write(dir.join("helper.sbas"), HELPER).unwrap();
    std::fs::write(dir.join("plugin.sbas"), PLUGIN).unwrap();
}

/// A Vm in `mode` with `src` loaded by the host and `dir` on the module path.
fn vm_with(src: &str, mode: JitMode, dir: &std::path::Path) -> (Vm, OutputBuffer, usize) {
    let mut vm = new_vm(VmConfig {
        jit: JitConfig {
            mode,
            threshold: 1,
            trace: false,
        },
        capabilities: Capabilities::ALL,
        ..VmConfig::default()
    });
    let out = OutputBuffer::default();
    vm.set_stdout(Box::new(out.clone()));
    vm.add_module_path(dir);
    // Every main module gets `collect()`, a full collection.
    let src = format!("{src}\n.func collect() export\n    sys _, gc\n    ret\n.end\n");
    let (module, info) = load_source(src.as_bytes(), "main.sbas").unwrap();
    let m = vm.load(&module, &info).unwrap();
    (vm, out, m)
}

fn call(vm: &mut Vm, m: usize, name: &str, args: &[Value]) -> Value {
    let f = vm.export(m, name).unwrap();
    vm.call(f, args)
        .unwrap_or_else(|e| panic!("{name} stopped: {e}"))
}

/// Loads the plugin `n` times in one guest loop, calling it and dropping it each time.
const CYCLES: &str = r#".module main
.func cycles(n: int) -> int export
    .reg i: int, acc: int, m, f, x, y: int
loop:
    jge i, n, done
    sys m, load_module, "plugin"
    sys f, module_get, m, "run"
    callv x, f, i
    cast y, x, int
    add acc, acc, y
    load m, nil
    load f, nil
    sys _, gc
    add i, i, 1
    jump loop
done:
    ret acc
.end

.func churn(n: int) -> int export
    .reg i: int, acc: int, m, f, x, y: int, junk
loop:
    jge i, n, done
    sys m, load_module, "plugin"
    sys f, module_get, m, "run"
    callv x, f, i
    cast y, x, int
    add acc, acc, y
    load m, nil
    load f, nil
    newarr junk, 4000
    add i, i, 1
    jump loop
done:
    ret acc
.end

"#;

#[test]
fn ten_thousand_modules_loaded_and_dropped_in_bounded_memory() {
    let (dir, _serial) = module_dir("bounded");
    write_modules(&dir);
    for mode in INTERP_ONLY {
        let (mut vm, out, main) = vm_with(CYCLES, mode, &dir);
        // run(i) = 2 * i + 1 (the global set by init).
        let expect = |from: i64, n: i64| (from..from + n).map(|i| 2 * i + 1).sum::<i64>();
        let got = call(&mut vm, main, "cycles", &[Value::int(500)]);
        assert_eq!(got.as_int(), Some(expect(0, 500)), "{mode:?}");
        let before = rss();
        let got = call(&mut vm, main, "cycles", &[Value::int(10_000)]);
        assert_eq!(got.as_int(), Some(expect(0, 10_000)), "{mode:?}");
        let grown = rss().saturating_sub(before);
        // Every load ran the initializer: the module was really loaded anew each time.
        assert_eq!(
            out.text().matches("plugin init").count(),
            10_500,
            "{mode:?}"
        );
        assert!(
            vm.modules_unloaded() >= 9_000,
            "{mode:?}: only {} modules unloaded",
            vm.modules_unloaded()
        );
        // Slots are reused: the tables hold at most the modules loaded between collections.
        assert!(
            vm.function_slots() < 4_000,
            "{mode:?}: {} function slots",
            vm.function_slots()
        );
        // Keeping each module's code (and compiled code) would grow by well over 100 MiB.
        assert!(
            grown < 32 << 20,
            "{mode:?}: resident memory grew by {grown} bytes"
        );
        call(&mut vm, main, "collect", &[]);
        assert_eq!(vm.module_count(), 1, "{mode:?}: only main is left");
        assert_eq!(
            vm.modules_unloaded(),
            2 * 10_500,
            "{mode:?}: plugin and helper"
        );
        assert!(vm.module_index("plugin").is_none());
    }
}

#[test]
fn compiled_modules_are_freed_when_unloaded() {
    let (dir, _serial) = module_dir("compiled");
    write_modules(&dir);
    let (mut vm, out, main) = vm_with(CYCLES, JitMode::Eager, &dir);
    let got = call(&mut vm, main, "cycles", &[Value::int(100)]);
    assert_eq!(got.as_int(), Some((0..100).map(|i| 2 * i + 1).sum()));
    let before = rss();
    // Eager mode compiles all seven functions of the plugin and its helper at every load.
    let got = call(&mut vm, main, "cycles", &[Value::int(1_000)]);
    assert_eq!(got.as_int(), Some((0..1_000).map(|i| 2 * i + 1).sum()));
    let grown = rss().saturating_sub(before);
    assert_eq!(out.text().matches("plugin init").count(), 1_100);
    // Each cycle collects after dropping the plugin.
    assert_eq!(
        vm.modules_unloaded(),
        2 * 1_100,
        "plugin and helper, every time"
    );
    assert_eq!(vm.compiled_modules(), 1, "only main's code is left");
    // Keeping each load's compiled code (a page or more per function) would grow by 28 MiB.
    assert!(grown < 12 << 20, "resident memory grew by {grown} bytes");
}

#[test]
fn allocation_pressure_alone_unloads_dropped_modules() {
    let (dir, _serial) = module_dir("pressure");
    write_modules(&dir);
    for mode in TIERS {
        let (mut vm, out, main) = vm_with(CYCLES, mode, &dir);
        let got = call(&mut vm, main, "churn", &[Value::int(3_000)]);
        assert_eq!(got.as_int(), Some((0..3_000).map(|i| 2 * i + 1).sum()));
        // Collections ran on their own, each unloading the plugin loaded since the last one.
        let loads = out.text().matches("plugin init").count() as u64;
        assert!(loads > 10, "{mode:?}: only {loads} loads");
        assert!(
            vm.modules_unloaded() >= 2 * (loads - 1),
            "{mode:?}: {} unloaded of {loads} loads",
            vm.modules_unloaded()
        );
        assert!(vm.module_count() <= 3, "{mode:?}");
    }
}

#[test]
fn a_module_stays_loaded_while_anything_reaches_it() {
    let (dir, _serial) = module_dir("reach");
    write_modules(&dir);
    let src = r#".module main
.global keep = nil
.func load() export
    .reg m
    sys m, load_module, "plugin"
    setg keep, m
    ret
.end
.func keep_fn() export
    .reg m, f
    getg m, keep
    sys f, module_get, m, "run"
    setg keep, f
    ret
.end
.func call_kept(x: int) export
    .reg f, r
    getg f, keep
    callv r, f, x
    ret r
.end
.func keep_record() export
    .reg f, r
    getg f, keep
    sys f, module_get, f, "make"
    load r, nil
    setg keep, nil
    callv r, f, 5
    setg keep, r
    ret
.end
.func kept_type() export
    .reg r, t
    getg r, keep
    typeof t, r
    ret t
.end
.func drop() export
    setg keep, nil
    ret
.end
"#;
    for mode in TIERS {
        let (mut vm, _out, main) = vm_with(src, mode, &dir);
        call(&mut vm, main, "load", &[]);
        call(&mut vm, main, "collect", &[]);
        assert_eq!(vm.module_count(), 3, "{mode:?}: a module value keeps it");
        call(&mut vm, main, "keep_fn", &[]);
        call(&mut vm, main, "collect", &[]);
        assert_eq!(vm.module_count(), 3, "{mode:?}: a fn value keeps it");
        let r = call(&mut vm, main, "call_kept", &[Value::int(20)]);
        assert_eq!(r.as_int(), Some(41), "{mode:?}");
        // Rebuild the module value from the fn value's module is not possible; load again
        // (the same module: it is still loaded) and keep a record of its type only.
        call(&mut vm, main, "load", &[]);
        call(&mut vm, main, "keep_record", &[]);
        call(&mut vm, main, "collect", &[]);
        assert_eq!(
            vm.module_count(),
            3,
            "{mode:?}: a record of its type keeps it"
        );
        assert_eq!(vm.modules_unloaded(), 0, "{mode:?}");
        let t = call(&mut vm, main, "kept_type", &[]);
        assert_eq!(vm.display(t), "Box", "{mode:?}");
        call(&mut vm, main, "drop", &[]);
        call(&mut vm, main, "collect", &[]);
        assert_eq!(vm.module_count(), 1, "{mode:?}: unreachable: unloaded");
        assert_eq!(vm.modules_unloaded(), 2, "{mode:?}: plugin and helper");
    }
}

#[test]
fn running_code_keeps_its_module_loaded() {
    let (dir, _serial) = module_dir("running");
    std::fs::write(
        dir.join("worker.sbas"),
        r#".module worker
.global answer: int = 0
.func start(x: int) -> int export
    tailcall finish, x
.end
.func finish(x: int) -> int
    .reg a: int, junk
    ; Nothing outside this frame refers to the module any more: collect, allocate, and use
    ; the module's global and constants.
    sys _, gc
    newarr junk, 1000
    sys _, gc
    getg a, answer
    add a, a, x
    ret a
.end
.func init()
    setg answer, 40
    ret
.end
.init init
"#,
    )
    .unwrap();
    let src = r#".module main
.func go(x: int) export
    .reg m, f
    sys m, load_module, "worker"
    sys f, module_get, m, "start"
    load m, nil
    tailcallv f, x
.end
"#;
    for mode in [JitMode::Off, JitMode::On, JitMode::Eager] {
        let (mut vm, _out, main) = vm_with(src, mode, &dir);
        for round in 0..3 {
            let r = call(&mut vm, main, "go", &[Value::int(2)]);
            assert_eq!(r.as_int(), Some(42), "{mode:?} round {round}");
            call(&mut vm, main, "collect", &[]);
            assert_eq!(vm.module_count(), 1, "{mode:?}: unloaded after it returned");
        }
        assert_eq!(vm.modules_unloaded(), 3, "{mode:?}");
    }
}

#[test]
fn unloading_closes_native_libraries_only_the_module_held() {
    let (dir, _serial) = module_dir("native");
    std::fs::write(
        dir.join("mathlib.sbas"),
        r#".module mathlib
.native m "libm.so.6"
.extern m.cos(f64) -> f64
.func cosine(x: float) -> float export
    .reg y: float
    ncall y, m.cos, x
    ret y
.end
"#,
    )
    .unwrap();
    let src = r#".module main
.func use(x: float) -> float export
    .reg m, f, y
    sys m, load_module, "mathlib"
    sys f, module_get, m, "cosine"
    callv y, f, x
    ret y
.end
"#;
    for mode in TIERS {
        let (mut vm, _out, main) = vm_with(src, mode, &dir);
        assert_eq!(vm.open_native_libraries(), 0);
        let y = call(&mut vm, main, "use", &[Value::float(0.0)]);
        assert_eq!(y.as_float(), Some(1.0), "{mode:?}");
        assert_eq!(vm.open_native_libraries(), 1, "{mode:?}: open while loaded");
        call(&mut vm, main, "collect", &[]);
        assert_eq!(vm.module_count(), 1, "{mode:?}");
        assert_eq!(
            vm.open_native_libraries(),
            0,
            "{mode:?}: closed with its module"
        );
        // Loading it again opens the library again.
        let y = call(&mut vm, main, "use", &[Value::float(0.0)]);
        assert_eq!(y.as_float(), Some(1.0), "{mode:?}");
        assert_eq!(vm.open_native_libraries(), 1, "{mode:?}");
    }
}

#[test]
fn host_loaded_modules_and_method_providers_stay_loaded() {
    let (dir, _serial) = module_dir("pinned");
    write_modules(&dir);
    // `shapes` declares a multimethod; `circle`, loaded by the guest, adds a method to it and
    // is then referenced by nothing but that method.
    std::fs::write(
        dir.join("shapes.sbas"),
        ".module shapes\n.multimethod area/1 export\n.method area (any) unknown\n.func unknown(x) -> int\n    ret -1\n.end\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("circle.sbas"),
        ".module circle\n.import shapes\n.method shapes.area (float) circle_area\n.func circle_area(r: float) -> int\n    .reg a: float, i: int\n    mul a, r, r\n    mul a, a, 3.0\n    ftoi i, a\n    ret i\n.end\n",
    )
    .unwrap();
    let src = r#".module main
.import helper
.import shapes
.func area(x) -> int export
    .reg r
    dispatch r, shapes.area, x
    ret r
.end
.func add_circles() export
    sys _, load_module, "circle"
    ret
.end
"#;
    for mode in TIERS {
        let (mut vm, _out, main) = vm_with(src, mode, &dir);
        assert_eq!(vm.module_count(), 3);
        call(&mut vm, main, "add_circles", &[]);
        call(&mut vm, main, "collect", &[]);
        assert_eq!(
            vm.module_count(),
            4,
            "{mode:?}: its method keeps circle loaded"
        );
        assert_eq!(
            vm.modules_unloaded(),
            0,
            "{mode:?}: host-loaded modules stay"
        );
        let a = call(&mut vm, main, "area", &[Value::float(2.0)]);
        assert_eq!(a.as_int(), Some(12), "{mode:?}");
        let a = call(&mut vm, main, "area", &[Value::int(2)]);
        assert_eq!(a.as_int(), Some(-1), "{mode:?}");
    }
}

#[test]
fn a_module_loaded_again_after_unloading_is_a_new_module() {
    let (dir, _serial) = module_dir("reload");
    write_modules(&dir);
    let src = r#".module main
.func twice_same() -> bool export
    .reg a, b, s
    sys a, load_module, "plugin"
    sys b, load_module, "plugin"
    same s, a, b
    ret s
.end
"#;
    for mode in TIERS {
        let (mut vm, out, main) = vm_with(src, mode, &dir);
        let same = call(&mut vm, main, "twice_same", &[]);
        assert_eq!(
            same.as_bool(),
            Some(true),
            "{mode:?}: one module while loaded"
        );
        assert_eq!(out.text().matches("plugin init").count(), 1, "{mode:?}");
        call(&mut vm, main, "collect", &[]);
        call(&mut vm, main, "twice_same", &[]);
        assert_eq!(
            out.text().matches("plugin init").count(),
            2,
            "{mode:?}: initialized again after unloading"
        );
    }
}
