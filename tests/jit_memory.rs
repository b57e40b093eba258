//! Compiled code belongs to its Vm: dropping the Vm frees it. A thousand create / compile /
//! run / drop cycles must leave the process's resident memory where it was.

use sigma_vm::{load_source, new_vm, JitConfig, JitMode, VmConfig};

mod support;
use support::rss;

/// A module with many functions, so every Vm compiles a fair amount of code.
fn source() -> String {
    let mut s = String::new();
    for k in 0..6 {
        s.push_str(&format!(
            ".func f{k}(n: int) -> int\n    .reg i: int, acc: int, x\n    load x, {k}\nloop:\n    jge i, n, done\n    add acc, acc, i\n    mul x, x, 3\n    rem x, x, 1000\n    add acc, acc, x\n    add i, i, 1\n    jump loop\ndone:\n    ret acc\n.end\n\n"
        ));
    }
    s.push_str(".func main() -> int export\n    .reg t: int, r: int\n");
    for k in 0..6 {
        s.push_str(&format!("    call r, f{k}, 10\n    add t, t, r\n"));
    }
    s.push_str("    ret t\n.end\n");
    s
}

#[test]
fn a_thousand_jit_vms_do_not_leak_code_memory() {
    let (module, info) = load_source(source().as_bytes(), "many.sbas").expect("assembles");
    let config = VmConfig {
        jit: JitConfig {
            mode: JitMode::Eager,
            ..JitConfig::default()
        },
        ..VmConfig::default()
    };
    let mut expected = None;
    let mut cycle = || {
        let mut vm = new_vm(config.clone());
        let m = vm.load(&module, &info).expect("links");
        let main = vm.export(m, "main").expect("main");
        assert!(vm.is_compiled(main), "eager mode compiled main");
        let v = vm.call(main, &[]).expect("runs");
        let got = v.as_int().expect("an int result");
        assert_eq!(got, *expected.get_or_insert(got));
    };
    for _ in 0..50 {
        cycle();
    }
    let before = rss();
    for _ in 0..1000 {
        cycle();
    }
    let grown = rss().saturating_sub(before);
    // Leaking each Vm's code (at least a page per function) would grow by ~100 MiB.
    assert!(grown < 16 << 20, "resident memory grew by {grown} bytes");
}
