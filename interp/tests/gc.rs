//! Garbage collection and destructors, end to end through the interpreter: destructor
//! protocol edge cases, heap limits, bounded memory, host roots and the string intern table.

use sigma_interp::OutputBuffer;

use sigma_interp::{HeapConfig, Stop, Vm, VmConfig};
use sigma_runtime::{assemble, TrapKind, Value};

fn config(limit: usize, stress: bool) -> VmConfig {
    VmConfig {
        heap: HeapConfig {
            limit: Some(limit),
            min_threshold: limit / 4,
            stress,
            ..HeapConfig::default()
        },
        ..VmConfig::default()
    }
}

struct Run {
    vm: Vm,
    module: usize,
    out: OutputBuffer,
}

fn load(src: &str, config: VmConfig) -> Run {
    let (m, info) = assemble(src, "gc.sbas").unwrap_or_else(|e| panic!("{e}"));
    let mut vm = Vm::new(config);
    let out = OutputBuffer::default();
    vm.set_stdout(Box::new(out.clone()));
    let module = vm.load(&m, &info).unwrap_or_else(|e| panic!("{e}"));
    Run { vm, module, out }
}

impl Run {
    fn call(&mut self, f: &str, args: &[Value]) -> Result<Value, Stop> {
        let id = self.vm.export(self.module, f).unwrap();
        self.vm.call(id, args)
    }

    fn global_int(&mut self, getter: &str) -> i64 {
        self.call(getter, &[]).unwrap().as_int().unwrap()
    }

    fn stdout(&self) -> String {
        self.out.text()
    }
}

const COUNTED: &str = "
.global destroyed: int = 0
.type Res { id: int, payload } destructor drop_res

.func drop_res(r: Res)
    .reg n: int
    getg n, destroyed
    add n, n, 1
    setg destroyed, n
    ret
.end

.func destroyed() -> int export
    .reg n: int
    getg n, destroyed
    ret n
.end

; Makes `count` resources, each holding a 10-element array, and drops them at once.
.func churn(count: int) export
    .reg i: int, r: Res, a: array
loop:
    jge i, count, done
    newarr a, 10, i
    new r, Res, i, a
    add i, i, 1
    jump loop
done:
    ret
.end
";

#[test]
fn a_hundred_thousand_destructors_under_a_tiny_heap_each_run_once() {
    // 256 KB is far less than the objects made (each resource with its array is ~250 bytes):
    // collections must happen, queue destructors and free the objects after they ran.
    let mut r = load(COUNTED, config(256 << 10, false));
    r.call("churn", &[Value::int(100_000)]).unwrap();
    let stats = r.vm.gc_stats();
    assert!(stats.collections > 10, "{stats:?}");
    assert!(stats.peak_bytes <= 256 << 10, "{stats:?}");
    let before_end = r.global_int("destroyed");
    assert!(
        before_end > 90_000,
        "most destructors ran during the loop: {before_end}"
    );
    // Program end: the rest run now, and none twice.
    r.vm.finish().unwrap();
    assert_eq!(r.global_int("destroyed"), 100_000);
    r.vm.collect_garbage().unwrap();
    r.vm.finish().unwrap();
    assert_eq!(r.global_int("destroyed"), 100_000);
}

#[test]
fn destructors_under_gc_stress() {
    let mut r = load(COUNTED, config(64 << 20, true));
    r.call("churn", &[Value::int(500)]).unwrap();
    r.vm.finish().unwrap();
    assert_eq!(r.global_int("destroyed"), 500);
}

#[test]
fn resurrection_is_safe_and_destructors_still_run_once() {
    let src = "
.global saved = nil
.global runs: int = 0
.type Phoenix { name: str, data: array } destructor rise

.func rise(p: Phoenix)
    .reg n: int
    getg n, runs
    add n, n, 1
    setg runs, n
    setg saved, p
    ret
.end

.func make() export
    .reg p: Phoenix, a: array
    newarr a, 3, \"feather\"
    new p, Phoenix, \"fawkes\", a
    ret
.end

.func check() export
    .reg p, a, s, n: int
    getg p, saved
    jeq p, nil, none
    getf s, p, Phoenix.name
    getf a, p, Phoenix.data
    aget a, a, 2
    concat s, s, a
    ret s
none:
    ret nil
.end

.func forget() export
    setg saved, nil
    ret
.end

.func runs() -> int export
    .reg n: int
    getg n, runs
    ret n
.end
";
    for stress in [false, true] {
        let mut r = load(src, config(64 << 20, stress));
        r.call("make", &[]).unwrap();
        r.vm.collect_garbage().unwrap();
        assert_eq!(r.global_int("runs"), 1);
        // The resurrected object and what it references are intact.
        for _ in 0..3 {
            r.vm.collect_garbage().unwrap();
        }
        let s = r.call("check", &[]).unwrap();
        assert_eq!(s.as_str(), Some("fawkesfeather"));
        r.call("forget", &[]).unwrap();
        r.vm.collect_garbage().unwrap();
        r.vm.finish().unwrap();
        assert_eq!(r.global_int("runs"), 1, "stress={stress}");
        assert!(r.call("check", &[]).unwrap().is_nil());
    }
}

#[test]
fn destructors_may_allocate_collect_and_print() {
    let src = "
.type Noisy { id: int } destructor announce
.func announce(n: Noisy)
    .reg id: int, s: str, t: str, a: array, i: int
    getf id, n, Noisy.id
    newarr a, 0
loop:
    jge i, 50, built
    tostr t, i
    apush a, t
    add i, i, 1
    jump loop
built:
    sys _, gc
    tostr s, id
    concat s, \"bye \", s
    sys _, print, s
    ret
.end
.func make(k: int) export
    .reg n: Noisy, i: int
loop:
    jge i, k, done
    new n, Noisy, i
    add i, i, 1
    jump loop
done:
    ret
.end
";
    for stress in [false, true] {
        let mut r = load(src, config(64 << 20, stress));
        r.call("make", &[Value::int(20)]).unwrap();
        r.vm.collect_garbage().unwrap();
        r.vm.finish().unwrap();
        let out = r.stdout();
        let mut lines: Vec<&str> = out.lines().collect();
        lines.sort_by_key(|l| l[4..].parse::<i64>().unwrap());
        let want: Vec<String> = (0..20).map(|i| format!("bye {i}")).collect();
        assert_eq!(lines, want, "stress={stress}");
    }
}

#[test]
fn a_trapping_destructor_stops_the_program_with_its_trap() {
    let src = "
.type Bad { x: int } destructor explode
.func explode(b: Bad)
    .reg z: int
    div z, 1, 0
    ret
.end
.func mk()
    .reg b: Bad
    new b, Bad
    ret
.end
.func make() export
    call _, mk
    sys _, gc
    ret
.end
";
    let mut r = load(src, config(64 << 20, false));
    let err = r.call("make", &[]).unwrap_err();
    let trap = err.trap().unwrap();
    assert_eq!(trap.kind, TrapKind::DivisionByZero);
    let frames: Vec<&str> = trap.backtrace.iter().map(|f| f.function.as_str()).collect();
    assert_eq!(frames, vec!["explode", "make"]);
}

#[test]
fn exceeding_the_heap_limit_is_an_out_of_memory_trap() {
    let src = "
.func hoard() export
    .reg a: array, b: bytes
    newarr a, 0
loop:
    newbytes b, 1000
    apush a, b
    jump loop
.end
.func huge() export
    .reg a
    newarr a, 1000000000000000
    ret a
.end
";
    for stress in [false, true] {
        let mut r = load(src, config(1 << 20, stress));
        let err = r.call("hoard", &[]).unwrap_err();
        let trap = err.trap().unwrap();
        assert_eq!(trap.kind, TrapKind::OutOfMemory);
        assert!(
            trap.message.contains("heap limit of 1048576 bytes"),
            "{}",
            trap.message
        );
        assert!(r.vm.gc_stats().peak_bytes <= 1 << 20);
        // Requests far beyond memory are a trap too, not an abort.
        let err = r.call("huge", &[]).unwrap_err();
        assert_eq!(err.trap().unwrap().kind, TrapKind::OutOfMemory);
    }
    // Without any limit, an impossible request still traps instead of aborting.
    let mut r = load(
        src,
        VmConfig {
            heap: HeapConfig::default(),
            ..VmConfig::default()
        },
    );
    assert_eq!(
        r.call("huge", &[]).unwrap_err().trap().unwrap().kind,
        TrapKind::OutOfMemory
    );
}

#[test]
fn allocating_a_hundred_times_the_limit_in_garbage_stays_bounded() {
    let src = "
.func churn(rounds: int) -> int export
    .reg i: int, a: array, s: str, m: map, t: str, total: int, n: int
loop:
    jge i, rounds, done
    newarr a, 16, i
    tostr t, i
    concat s, \"a fairly long string that is not interned: \", t
    newmap m
    mset m, s, a
    mlen n, m
    add total, total, n
    add i, i, 1
    jump loop
done:
    ret total
.end
";
    let limit = 1 << 20;
    let mut r = load(src, config(limit, false));
    let rounds = 200_000;
    let total = r.call("churn", &[Value::int(rounds)]).unwrap();
    assert_eq!(total.as_int(), Some(rounds));
    let stats = r.vm.gc_stats();
    assert!(stats.bytes_allocated > 100 * limit as u64, "{stats:?}");
    assert!(stats.peak_bytes <= limit, "{stats:?}");
    assert!(stats.live_bytes <= limit, "{stats:?}");
}

#[test]
fn host_roots_keep_values_alive_until_unrooted() {
    let mut vm = Vm::new(config(64 << 20, true));
    let s = vm
        .alloc_str("a string longer than forty bytes, so it is not interned")
        .unwrap();
    let root = vm.root(s);
    let arr = vm.alloc_array(&[s, Value::int(3)]).unwrap();
    let arr_root = vm.root(arr);
    for _ in 0..5 {
        vm.collect_garbage().unwrap();
    }
    assert_eq!(
        vm.rooted(&root).as_str(),
        Some("a string longer than forty bytes, so it is not interned")
    );
    assert_eq!(
        vm.display(vm.rooted(&arr_root)),
        "[\"a string longer than forty bytes, so it is not interned\", 3]"
    );
    let live = vm.gc_stats().live_objects;
    vm.unroot(root);
    vm.unroot(arr_root);
    vm.collect_garbage().unwrap();
    assert_eq!(vm.gc_stats().live_objects, live - 2);
}

#[test]
fn interned_strings_are_shared_and_pruned_when_dead() {
    let src = "
.func make(n: int) export
    .reg i: int, s: str
loop:
    jge i, n, done
    tostr s, i
    add i, i, 1
    jump loop
done:
    ret
.end
.func pair() export
    .reg a: str, b: str, t: bool
    concat a, \"ab\", \"c\"
    tostr b, 99
    concat b, \"abc\", \"\"
    same t, a, b
    ret t
.end
";
    let mut r = load(src, config(64 << 20, false));
    assert_eq!(r.call("pair", &[]).unwrap().as_bool(), Some(true));
    let base = r.vm.gc_stats().live_objects;
    r.call("make", &[Value::int(50_000)]).unwrap();
    r.vm.collect_garbage().unwrap();
    // The 50 000 short strings died and left the intern table: recreating one works.
    assert!(
        r.vm.gc_stats().live_objects <= base + 10,
        "{:?}",
        r.vm.gc_stats()
    );
    r.call("make", &[Value::int(1000)]).unwrap();
    assert_eq!(r.call("pair", &[]).unwrap().as_bool(), Some(true));
}

#[test]
fn gc_stats_are_a_map_of_counters() {
    let src = "
.func stats() export
    .reg m, c, k
    sys _, gc
    sys m, gc_stats
    mget c, m, \"collections\"
    ret c
.end
";
    let mut r = load(src, config(64 << 20, false));
    assert!(r.call("stats", &[]).unwrap().as_int().unwrap() >= 1);
}
