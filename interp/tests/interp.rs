//! Integration tests of the interpreter: limits, tail calls, traps and backtraces, run-time type
//! checks, type specialization, output and exit.

use sigma_interp::OutputBuffer;

use sigma_interp::{Capabilities, Capability, LinkError, Stop, Vm, VmConfig};
use sigma_runtime::{assemble, TrapKind, Value};

struct Loaded {
    vm: Vm,
    module: usize,
    out: OutputBuffer,
}

fn load_with(src: &str, config: VmConfig) -> Loaded {
    let (m, info) = assemble(src, "test.sbas").unwrap_or_else(|e| panic!("{e}"));
    let mut vm = Vm::new(config);
    let out = OutputBuffer::default();
    vm.set_stdout(Box::new(out.clone()));
    let module = vm.load(&m, &info).unwrap_or_else(|e| panic!("{e}"));
    Loaded { vm, module, out }
}

fn load(src: &str) -> Loaded {
    load_with(src, VmConfig::default())
}

impl Loaded {
    fn call(&mut self, name: &str, args: &[Value]) -> Result<Value, Stop> {
        let f = self
            .vm
            .export(self.module, name)
            .unwrap_or_else(|| panic!("no export {name}"));
        self.vm.call(f, args)
    }

    fn stdout(&self) -> String {
        self.out.text()
    }
}

#[test]
fn unbounded_recursion_traps_cleanly_with_a_truncated_backtrace() {
    let mut l = load(
        ".func down(n: int) -> int export\n    .reg r: int\n    add n, n, 1\n    call r, down, n\n    ret r\n.end\n",
    );
    let err = l.call("down", &[Value::int(0)]).unwrap_err();
    let trap = err.trap().expect("a trap, not an exit");
    assert_eq!(trap.kind, TrapKind::StackOverflow);
    assert!(
        trap.message.contains("call depth limit"),
        "{}",
        trap.message
    );
    // Deep stacks keep the innermost and outermost frames and count the rest.
    assert!(trap.omitted > 99_000, "omitted {}", trap.omitted);
    assert!(trap
        .backtrace
        .iter()
        .all(|f| f.function == "down" && f.line == Some(4)));
    // The Vm is still usable afterwards.
    assert_eq!(
        l.call("down", &[Value::int(0)])
            .unwrap_err()
            .trap()
            .map(|t| t.kind),
        Some(TrapKind::StackOverflow)
    );
}

#[test]
fn register_stack_exhaustion_is_a_stack_overflow_too() {
    // Few frames allowed by the stack, many by the depth limit: the register stack runs out first.
    let config = VmConfig {
        stack_slots: 1000,
        max_call_depth: 1_000_000,
        ..VmConfig::default()
    };
    let mut l = load_with(
        ".func down(n) export\n    .reg a, b, c, d, e, f, g, h\n    call a, down, n\n    ret a\n.end\n",
        config,
    );
    let err = l.call("down", &[Value::int(0)]).unwrap_err();
    let trap = err.trap().unwrap();
    assert_eq!(trap.kind, TrapKind::StackOverflow);
    assert!(trap.message.contains("register stack"), "{}", trap.message);
}

#[test]
fn ten_million_tail_calls_run_in_constant_stack() {
    // With only 4 call records allowed, any stack growth would trap.
    let config = VmConfig {
        stack_slots: 64,
        max_call_depth: 4,
        ..VmConfig::default()
    };
    let mut l = load_with(
        ".func count(n: int, acc: int) -> int export\n    jeq n, 0, done\n    sub n, n, 1\n    add acc, acc, 2\n    tailcall count, n, acc\ndone:\n    ret acc\n.end\n",
        config,
    );
    let r = l
        .call("count", &[Value::int(10_000_000), Value::int(0)])
        .unwrap();
    assert_eq!(r.as_int(), Some(20_000_000));
}

#[test]
fn mutual_tail_recursion_runs_in_constant_stack() {
    let config = VmConfig {
        stack_slots: 64,
        max_call_depth: 2,
        ..VmConfig::default()
    };
    let src = "
.func even(n: int) -> bool export
    jeq n, 0, yes
    sub n, n, 1
    tailcall odd, n
yes:
    ret true
.end
.func odd(n: int) -> bool
    jeq n, 0, no
    sub n, n, 1
    tailcall even, n
no:
    ret false
.end
";
    let mut l = load_with(src, config);
    assert_eq!(
        l.call("even", &[Value::int(1_000_001)]).unwrap().as_bool(),
        Some(false)
    );
    assert_eq!(
        l.call("even", &[Value::int(1_000_000)]).unwrap().as_bool(),
        Some(true)
    );
}

#[test]
fn tail_call_arguments_may_overlap_parameters() {
    // Arguments are permuted: all must be read before any is written.
    let src = "
.func rot(a, b, c, n: int) export
    jeq n, 0, done
    sub n, n, 1
    tailcall rot, b, c, a, n
done:
    sys _, write, a
    sys _, write, b
    sys _, print, c
    ret
.end
";
    let mut l = load(src);
    l.call(
        "rot",
        &[Value::int(1), Value::int(2), Value::int(3), Value::int(4)],
    )
    .unwrap();
    assert_eq!(l.stdout(), "231\n");
}

#[test]
fn traps_carry_function_pc_and_line_for_every_frame() {
    let src = "
.func inner(x) -> int
    .reg y
    add y, x, 1
    ret y
.end
.func outer(x) -> int export
    .reg r: int
    call r, inner, x
    ret r
.end
";
    let mut l = load(src);
    let oops = l.vm_str("oops");
    let err = l.call("outer", &[oops]).unwrap_err();
    let trap = err.trap().unwrap();
    assert_eq!(trap.kind, TrapKind::TypeError);
    assert_eq!(trap.message, "add: expected numbers, got str and int");
    let frames: Vec<_> = trap
        .backtrace
        .iter()
        .map(|f| (f.function.as_str(), f.pc, f.line))
        .collect();
    assert_eq!(frames, vec![("inner", 0, Some(4)), ("outer", 0, Some(9))]);
    let shown = trap.to_string();
    assert!(
        shown.contains("at test::inner (test.sbas:4, pc 0)"),
        "{shown}"
    );
}

impl Loaded {
    fn vm_str(&mut self, s: &str) -> Value {
        self.vm.alloc_str(s).unwrap()
    }
}

#[test]
fn any_values_flowing_into_typed_slots_are_checked_at_run_time() {
    let src = "
.func typed(n: int) -> int
    ret n
.end
.func pass(x) -> int export
    .reg r: int
    call r, typed, x
    ret r
.end
.func result(x) export
    .reg r: int
    copy r, x
    ret r
.end
.func back(x) -> float export
    ret x
.end
";
    let mut l = load(src);
    assert_eq!(l.call("pass", &[Value::int(5)]).unwrap().as_int(), Some(5));
    let e = l.call("pass", &[Value::float(5.0)]).unwrap_err();
    let t = e.trap().unwrap();
    assert_eq!(t.kind, TrapKind::TypeError);
    assert!(t.message.contains("argument 1 of `typed`"), "{}", t.message);
    assert!(
        t.message.contains("expected int, got float"),
        "{}",
        t.message
    );
    let e = l.call("result", &[Value::TRUE]).unwrap_err();
    assert!(e
        .trap()
        .unwrap()
        .message
        .contains("result of copy written to register r"));
    let e = l.call("back", &[Value::int(1)]).unwrap_err();
    assert!(e.trap().unwrap().message.contains("return value of `back`"));
    assert_eq!(
        l.call("back", &[Value::float(1.5)]).unwrap().as_float(),
        Some(1.5)
    );
}

#[test]
fn host_calls_are_checked_against_the_signature() {
    let mut l = load(".func f(n: int) -> int export\n    ret n\n.end\n");
    let e = l.call("f", &[]).unwrap_err();
    assert!(e
        .trap()
        .unwrap()
        .message
        .contains("takes 1 argument(s), 0 given"));
    let e = l.call("f", &[Value::NIL]).unwrap_err();
    assert!(e.trap().unwrap().message.contains("expected int, got nil"));
}

#[test]
fn typed_code_is_specialized_and_any_code_is_generic() {
    let src = "
.func t(a: int, b: int) -> int export
    .reg c: int
    add c, a, b
    add c, c, 1
    rem c, c, 4294967296
    jlt 3, c, out
out:
    ret c
.end
.func u(a, b) export
    .reg c
    add c, a, b
    ret c
.end
";
    let l = load(src);
    let t = l.vm.decoded(l.vm.export(l.module, "t").unwrap()).unwrap();
    assert!(t.contains("AddII"), "{t}");
    assert!(t.contains("AddIK"), "{t}");
    assert!(t.contains("RemII"), "{t}"); // the big constant lives in a constant register
    assert!(t.contains("JgtIK"), "{t}"); // `3 < c` flipped to `c > 3`
    let u = l.vm.decoded(l.vm.export(l.module, "u").unwrap()).unwrap();
    assert!(u.contains("Add {"), "{u}");
    assert!(!u.contains("AddII"), "{u}");
}

#[test]
fn exit_and_halt_stop_the_program_with_a_status() {
    let src = ".func a() export\n    sys _, exit, 3\n    ret\n.end\n.func b() export\n    halt 9\n.end\n.func c() export\n    halt\n.end\n";
    let mut l = load_with(
        src,
        VmConfig {
            capabilities: Capabilities::NONE.with(Capability::Exit, true),
            ..VmConfig::default()
        },
    );
    assert_eq!(l.call("a", &[]).unwrap_err(), Stop::Exit(3));
    assert_eq!(l.call("b", &[]).unwrap_err(), Stop::Exit(9));
    assert_eq!(l.call("c", &[]).unwrap_err(), Stop::Exit(0));
    // A default Vm does not let the guest end the process: the stop is a trap.
    let mut l = load(src);
    for f in ["a", "b", "c"] {
        let stop = l.call(f, &[]).unwrap_err();
        assert_eq!(
            stop.trap().map(|t| t.kind),
            Some(TrapKind::PermissionDenied),
            "{f}"
        );
    }
}

#[test]
fn globals_are_initialized_by_the_module_initializer() {
    let src = "
.global count: int = 5
.global name = nil
.init setup
.func setup()
    setg name, \"sigma\"
    .reg c: int
    getg c, count
    mul c, c, 2
    setg count, c
    ret
.end
.func get() -> int export
    .reg c: int
    getg c, count
    ret c
.end
.func who() export
    .reg n
    getg n, name
    ret n
.end
";
    let mut l = load(src);
    assert_eq!(l.call("get", &[]).unwrap().as_int(), Some(10));
    assert_eq!(l.call("who", &[]).unwrap().as_str(), Some("sigma"));
}

#[test]
fn a_trapping_initializer_is_a_link_error() {
    let (m, info) = assemble(
        ".init boom\n.func boom()\n    .reg x\n    div x, 1, 0\n    ret\n.end\n",
        "t",
    )
    .unwrap();
    let mut vm = Vm::default();
    match vm.load(&m, &info) {
        Err(LinkError::Init {
            stop: Stop::Trap(t),
            ..
        }) => assert_eq!(t.kind, TrapKind::DivisionByZero),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_syscalls_and_wrong_arity_are_link_errors() {
    let (m, info) = assemble(".func f()\n    sys _, launch, 1\n    ret\n.end\n", "t").unwrap();
    let e = Vm::default().load(&m, &info).unwrap_err();
    assert_eq!(
        e.to_string(),
        "in function `f` at pc 0: unknown system call `launch`"
    );
    let (m, info) = assemble(".func f()\n    sys _, print, 1, 2\n    ret\n.end\n", "t").unwrap();
    let e = Vm::default().load(&m, &info).unwrap_err();
    assert!(
        e.to_string().contains("takes 1 argument(s), 2 given"),
        "{e}"
    );
}

#[test]
fn calls_into_the_vm_can_repeat_and_interleave_with_traps() {
    let mut l = load(
        ".func f(n: int) -> int export\n    .reg r: int\n    div r, 100, n\n    ret r\n.end\n",
    );
    for i in 1..100 {
        assert_eq!(
            l.call("f", &[Value::int(i)]).unwrap().as_int(),
            Some(100 / i)
        );
        assert!(l.call("f", &[Value::int(0)]).is_err());
    }
}

#[test]
fn move_clears_any_registers_but_not_immediate_ones() {
    let src = "
.func f() export
    .reg a, b, i: int, j: int
    load a, \"x\"
    move b, a
    load i, 7
    move j, i
    sys _, print, a
    sys _, print, b
    sys _, print, i
    sys _, print, j
    ret
.end
";
    let mut l = load(src);
    l.call("f", &[]).unwrap();
    assert_eq!(l.stdout(), "nil\nx\n7\n7\n");
}

mod lowering_fuzz {
    //! Whatever the verifier accepts, the interpreter must link and lower without panicking.
    use proptest::prelude::*;
    use sigma_interp::Vm;
    use sigma_runtime::{assemble, decode, encode, verify};

    const SAMPLE: &str = "
.global g: int = 1
.func f(a: int, b) -> int export
    .reg c: int, d, s: str, x: float
    add c, a, 1
    sub c, c, a
    mul d, b, 3
    div d, d, 2
    rem c, c, 7
    load s, \"k\"
    itof x, c
    mul x, x, 2.5
    jlt c, 10, L
    jeq d, nil, L
    getg c, g
L:
    eq d, s, \"k\"
    jumpif d, M
    call c, f, c, d
M:
    tailcall f, 1, 2
.end
";

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]
        #[test]
        fn verified_mutants_link(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
            let mut bytes = encode(&assemble(SAMPLE, "s").unwrap().0);
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            if let Ok(mut m) = decode(&bytes) {
                if let Ok(info) = verify(&m) {
                    // Initializers could loop forever; this test is about linking and lowering.
                    m.init = None;
                    let _ = Vm::default().load(&m, &info);
                }
            }
        }
    }
}
