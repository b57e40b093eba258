//! Embedding Sigma in a Rust program: an engine with a configuration, a module from text, a
//! system call written in Rust, typed calls into the guest, a handle to a guest value, fuel and
//! an interrupt from another thread. Run it with `cargo run --example embed`.

use std::io::Write;

use sigma_vm::embed::{Config, Engine, Module};
use sigma_vm::{JitMode, TrapKind};

const PROGRAM: &str = r#"
.module greeter

.func greet(name: str) -> str export
    .reg s
    sys s, host_shout, name
    concat s, "hello, ", s
    ret s
.end

.func add(a: int, b: int) -> int export
    .reg c: int
    add c, a, b
    ret c
.end

.func names() export
    .reg a
    newarr a, 0
    apush a, "ada"
    apush a, "grace"
    ret a
.end

.func spin() export
    .reg i: int
    load i, 0
again:
    add i, i, 1
    jump again
.end

.func peek() export
    .reg v
    sys v, env, "HOME"
    ret v
.end
"#;

/// Runs the example, writing what it shows to `out`.
pub fn run(out: &mut dyn Write) -> anyhow::Result<()> {
    // An engine whose Vms compile hot code and may not touch the host (the default).
    let engine = Engine::new(Config::new().jit(JitMode::On));
    let module = Module::from_text(PROGRAM, "greeter.sbas")?;

    let mut vm = engine.vm();
    // System calls are resolved when a module is linked: register them first.
    vm.register_syscall("host_shout", |_cx, (name,): (String,)| {
        Ok::<_, String>(name.to_uppercase())
    })?;
    vm.load(&module)?;

    let sum: i64 = vm.call("add", (40i64, 2i64))?;
    writeln!(out, "add(40, 2) = {sum}")?;
    let greeting: String = vm.call("greet", ("world",))?;
    writeln!(out, "{greeting}")?;

    // A heap value the host keeps across collections.
    let names: sigma_vm::Value = vm.call("names", ())?;
    let kept = vm.handle(names);
    vm.collect_garbage()?;
    writeln!(out, "kept: {}", vm.display(kept.value()))?;

    // A type mismatch in the result is an error, not a panic.
    let wrong = vm.call::<_, i64>("greet", ("x",));
    writeln!(out, "wrong result type: {}", wrong.unwrap_err())?;

    // The default configuration grants no capabilities.
    let denied = vm.call::<_, Option<String>>("peek", ()).unwrap_err();
    writeln!(out, "peek: {denied}")?;

    // Fuel bounds a runaway guest ...
    vm.set_fuel(Some(100_000));
    let stop = vm.call::<_, ()>("spin", ()).unwrap_err();
    writeln!(out, "spin with fuel: {}", first_line(&stop.to_string()))?;
    vm.set_fuel(None);

    // ... and so does an interrupt from another thread.
    let handle = vm.interrupt_handle();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        handle.interrupt();
    });
    let stop = vm.call::<_, ()>("spin", ()).unwrap_err();
    watchdog.join().expect("the watchdog thread finished");
    let interrupted = matches!(
        &stop,
        sigma_vm::embed::CallError::Stop(s) if s.trap().is_some_and(|t| t.kind == TrapKind::Interrupted)
    );
    writeln!(out, "spin interrupted: {interrupted}")?;
    Ok(())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[allow(dead_code)]
fn main() -> anyhow::Result<()> {
    sigma_vm::with_guest_stack(|| run(&mut std::io::stdout()))?
}
