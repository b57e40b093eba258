//! The embedding facade: `examples/embed.rs` is compiled into this test and run, and the typed
//! conversions, host system calls and capability defaults are checked one by one.

#[path = "../examples/embed.rs"]
mod example;

use sigma_vm::embed::{CallError, Config, Engine, Module};
use sigma_vm::{Capability, JitMode, TrapKind};

#[test]
fn the_embedding_example_runs_and_prints_what_it_should() {
    let mut out = Vec::new();
    example::run(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let want = "add(40, 2) = 42
hello, WORLD
kept: [\"ada\", \"grace\"]
wrong result type: the result of `greet` expected int, got str
peek: PermissionDenied: sys env needs the `env` capability, which this Vm does not grant
  at greeter::peek (greeter.sbas:35, pc 0)
spin with fuel: Interrupted: out of fuel
spin interrupted: true
";
    assert_eq!(text, want);
}

const SRC: &str = "
.module m
.func twice(x) export
    .reg y
    sys y, host_twice, x
    ret y
.end
.func pair(a, b) export
    .reg s
    sys s, host_pair, a, b
    ret s
.end
.func home() export
    .reg v
    sys v, env, \"SIGMA_EMBED_TEST\"
    ret v
.end
";

fn vm_for(config: Config) -> sigma_vm::embed::Vm {
    let mut vm = Engine::new(config).vm();
    vm.register_syscall("host_twice", |_, (x,): (i64,)| {
        x.checked_mul(2).ok_or_else(|| format!("{x} * 2 overflows"))
    })
    .unwrap();
    vm.register_syscall("host_pair", |_, (a, b): (String, Option<f64>)| {
        Ok::<_, String>(format!("{a}:{b:?}"))
    })
    .unwrap();
    vm.load(&Module::from_text(SRC, "m.sbas").unwrap()).unwrap();
    vm
}

#[test]
fn host_syscalls_convert_arguments_and_report_errors_as_traps() {
    for mode in [JitMode::Off, JitMode::Eager] {
        let mut vm = vm_for(Config::new().jit(mode));
        assert_eq!(vm.call::<_, i64>("twice", (21i64,)).unwrap(), 42);
        assert_eq!(
            vm.call::<_, String>("pair", ("a", 1.5)).unwrap(),
            "a:Some(1.5)"
        );
        assert_eq!(vm.call::<_, String>("pair", ("b", ())).unwrap(), "b:None");
        // A failing closure is a Panic trap with the guest's backtrace.
        let CallError::Stop(stop) = vm.call::<_, i64>("twice", (i64::MAX,)).unwrap_err() else {
            panic!("expected a trap")
        };
        let trap = stop.trap().unwrap();
        assert_eq!(trap.kind, TrapKind::Panic);
        assert!(trap.message.contains("sys host_twice:") && trap.message.contains("overflows"));
        assert_eq!(trap.backtrace[0].function, "twice");
        // An argument of the wrong type is a TypeError naming the argument.
        let CallError::Stop(stop) = vm.call::<_, i64>("twice", ("x",)).unwrap_err() else {
            panic!("expected a trap")
        };
        let trap = stop.trap().unwrap();
        assert_eq!(trap.kind, TrapKind::TypeError);
        assert!(
            trap.message.contains("argument 1: expected int, got str"),
            "{}",
            trap.message
        );
    }
}

#[test]
fn registering_and_calling_by_name_fail_clearly() {
    let mut vm = Engine::default().vm();
    let err = vm
        .register_syscall("print", |_, (): ()| Ok::<_, String>(()))
        .unwrap_err();
    assert!(err.to_string().contains("already exists"));
    assert!(vm
        .register_syscall("not a name", |_, (): ()| Ok::<_, String>(()))
        .is_err());
    // A module using an unregistered system call does not link.
    let err = vm
        .load(&Module::from_text(SRC, "m.sbas").unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("host_twice"), "{err}");
    let mut vm = vm_for(Config::new());
    assert!(matches!(
        vm.call::<_, ()>("missing", ()),
        Err(CallError::NoFunction(_))
    ));
    assert_eq!(vm.call::<_, i64>("m.twice", (4i64,)).unwrap(), 8);
}

#[test]
fn the_default_config_denies_capabilities_and_allow_grants_them() {
    std::env::set_var("SIGMA_EMBED_TEST", "granted");
    let mut vm = vm_for(Config::default());
    let CallError::Stop(stop) = vm.call::<_, Option<String>>("home", ()).unwrap_err() else {
        panic!("expected a trap")
    };
    assert_eq!(stop.trap().unwrap().kind, TrapKind::PermissionDenied);
    let mut vm = vm_for(Config::new().allow(Capability::Env));
    assert_eq!(
        vm.call::<_, Option<String>>("home", ()).unwrap().as_deref(),
        Some("granted")
    );
}

#[test]
fn modules_from_bytes_and_files_load_like_text() {
    let m = Module::from_text(SRC, "m.sbas").unwrap();
    assert_eq!(m.name(), "m");
    assert_eq!(m.exports(), vec!["twice", "pair", "home"]);
    let bytes = sigma_vm::runtime::encode(m.raw().0);
    let from_bytes = Module::from_bytes(&bytes, "m.sbc").unwrap();
    assert_eq!(sigma_vm::runtime::encode(from_bytes.raw().0), bytes);
    let path = std::env::temp_dir().join(format!("sigma-embed-{}.sbas", std::process::id()));
    std::fs::write(&path, SRC).unwrap();
    let from_file = Module::from_file(&path).unwrap();
    assert_eq!(from_file.name(), "m");
    std::fs::remove_file(&path).unwrap();
    assert!(Module::from_text(".func f(\n", "bad.sbas").is_err());
    assert!(Module::from_file("/nonexistent/x.sbas").is_err());
}
