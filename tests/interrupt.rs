//! Stopping runaway guests: fuel and the interrupt handle, in the interpreter and under the
//! JIT, for loops, recursion and tail-call loops that never return.

use std::time::Duration;

use sigma_vm::{load_source, new_vm, JitConfig, JitMode, Stop, TrapKind, Vm, VmConfig};

const TIERS: [JitMode; 3] = [JitMode::Off, JitMode::Eager, JitMode::On];

const RUNAWAY: &str = "
.func spin() export
    .reg i: int
    load i, 0
again:
    add i, i, 1
    jump again
.end

.func recurse(n: int) -> int export
    .reg a: int, b: int
    jlt n, 2, base
    sub a, n, 1
    call a, recurse, a
    sub b, n, 2
    call b, recurse, b
    add a, a, b
    ret a
base:
    ret n
.end

.func forever(n) export
    .reg m
    add m, n, 1
    tailcall forever, m
.end

.multimethod deeper/1
.method deeper (any) deeper_any

.func deeper_any(n) export
    .reg m
    add m, n, 1
    dispatch m, deeper, m
    ret m
.end

.func bump(x: int) -> int
    .reg y: int
    add y, x, 1
    ret y
.end

.func count_calls(n: int) -> int export
    .reg i: int
    load i, 0
again:
    jge i, n, done
    call i, bump, i
    jump again
done:
    ret i
.end

.func count(n: int) -> int export
    .reg i: int
    load i, 0
again:
    jge i, n, done
    add i, i, 1
    jump again
done:
    ret i
.end
";

fn vm(mode: JitMode) -> (Vm, usize) {
    let mut vm = new_vm(VmConfig {
        jit: JitConfig {
            mode,
            threshold: 50,
            trace: false,
        },
        ..VmConfig::default()
    });
    let (module, info) = load_source(RUNAWAY.as_bytes(), "runaway.sbas").unwrap();
    let m = vm.load(&module, &info).unwrap();
    (vm, m)
}

fn call(vm: &mut Vm, m: usize, f: &str, args: &[sigma_vm::Value]) -> Result<sigma_vm::Value, Stop> {
    let id = vm.export(m, f).unwrap();
    vm.call(id, args)
}

fn interrupted(r: Result<sigma_vm::Value, Stop>, function: &str, message: &str) {
    let stop = r.unwrap_err();
    let trap = stop.trap().unwrap_or_else(|| panic!("{stop:?}"));
    assert_eq!(trap.kind, TrapKind::Interrupted, "{trap}");
    assert!(trap.message.contains(message), "{}", trap.message);
    assert_eq!(trap.backtrace[0].function, function, "{trap}");
}

#[test]
fn fuel_stops_loops_recursion_and_tail_call_loops() {
    let int = sigma_vm::Value::int;
    for mode in TIERS {
        let (mut vm, m) = vm(mode);
        vm.set_fuel(Some(100_000));
        interrupted(call(&mut vm, m, "spin", &[]), "spin", "out of fuel");
        assert_eq!(vm.fuel(), Some(0));
        // Still out of fuel: the next run stops at once.
        interrupted(
            call(&mut vm, m, "count", &[int(10)]),
            "count",
            "out of fuel",
        );

        vm.set_fuel(Some(100_000));
        interrupted(
            call(&mut vm, m, "recurse", &[int(40)]),
            "recurse",
            "out of fuel",
        );
        vm.set_fuel(Some(100_000));
        interrupted(
            call(&mut vm, m, "forever", &[int(0)]),
            "forever",
            "out of fuel",
        );
        // Recursion through multimethod dispatch alone ticks too (before the stack runs out).
        vm.set_fuel(Some(1_000));
        interrupted(
            call(&mut vm, m, "deeper_any", &[int(0)]),
            "deeper_any",
            "out of fuel",
        );

        // Enough fuel: the program finishes and the fuel left shrinks by about its work.
        vm.set_fuel(Some(10_000));
        assert_eq!(
            call(&mut vm, m, "count", &[int(5_000)]).unwrap().as_int(),
            Some(5_000)
        );
        let left = vm.fuel().unwrap();
        assert!((4_000..5_000).contains(&left), "{mode:?}: {left} left");
        // Unlimited again.
        vm.set_fuel(None);
        assert_eq!(vm.fuel(), None);
        assert_eq!(
            call(&mut vm, m, "recurse", &[int(20)]).unwrap().as_int(),
            Some(6765)
        );
    }
}

#[test]
fn fuel_is_exact_in_the_interpreter() {
    // `count(n)` ticks once per loop-header visit: n + 1 of them.
    let (mut vm, m) = vm(JitMode::Off);
    let int = sigma_vm::Value::int;
    for n in [0i64, 10, 1023, 1024, 5000] {
        vm.set_fuel(Some(n as u64 + 1));
        assert_eq!(
            call(&mut vm, m, "count", &[int(n)]).unwrap().as_int(),
            Some(n)
        );
        assert_eq!(vm.fuel(), Some(0), "n = {n}");
        vm.set_fuel(Some(n as u64));
        interrupted(call(&mut vm, m, "count", &[int(n)]), "count", "out of fuel");
    }
}

#[test]
fn compiled_code_does_not_count_calls_of_leaves() {
    // `bump` neither calls nor loops: the interpreter ticks at each of its calls, compiled
    // code does not (its work is bounded; the caller's loop header ticks).
    let n = 5_000i64;
    let used = |mode: JitMode| {
        let (mut vm, m) = vm(mode);
        vm.set_fuel(Some(1_000_000));
        let r = call(&mut vm, m, "count_calls", &[sigma_vm::Value::int(n)]);
        assert_eq!(r.unwrap().as_int(), Some(n), "{mode:?}");
        1_000_000 - vm.fuel().unwrap()
    };
    let interpreted = used(JitMode::Off);
    assert_eq!(
        interpreted,
        2 * n as u64 + 1,
        "n + 1 loop headers and n calls"
    );
    let compiled = used(JitMode::Eager);
    assert!(
        (n as u64 + 1..=n as u64 + 2).contains(&compiled),
        "the loop headers (and the entry) only: {compiled}"
    );
}

#[test]
fn another_thread_interrupts_a_runaway_guest() {
    for mode in TIERS {
        for f in ["spin", "recurse", "forever"] {
            let (mut vm, m) = vm(mode);
            let handle = vm.interrupt_handle();
            let stopper = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                handle.interrupt();
            });
            let arg = [sigma_vm::Value::int(if f == "recurse" { 200 } else { 0 })];
            let args: &[sigma_vm::Value] = if f == "spin" { &[] } else { &arg };
            interrupted(call(&mut vm, m, f, args), f, "interrupted");
            stopper.join().unwrap();
            // The interrupt was delivered once: the Vm runs normally afterwards.
            assert!(!vm.interrupt_handle().is_pending());
            let r = call(&mut vm, m, "count", &[sigma_vm::Value::int(100_000)]);
            assert_eq!(r.unwrap().as_int(), Some(100_000), "{mode:?} {f}");
        }
    }
}

#[test]
fn an_interrupt_requested_before_a_run_stops_it_early() {
    for mode in TIERS {
        let (mut vm, m) = vm(mode);
        vm.interrupt_handle().interrupt();
        interrupted(call(&mut vm, m, "spin", &[]), "spin", "interrupted");
    }
}
