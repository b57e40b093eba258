//! Every benchmark program, typed and untyped, run at its small size in the interpreter and in
//! both JIT modes, must print exactly what its C twin prints at that size. A second test builds
//! the C twins and checks those expected outputs against them, so the expectations are not
//! hand-written numbers.

use sigma_vm::OutputBuffer;
use std::path::Path;
use std::process::Command;

use sigma_benches::{peers_dir, program, BENCHES};
use sigma_vm::{
    load_file, main_function, new_vm, run_main, with_guest_stack, JitConfig, JitMode, VmConfig,
};

/// Runs `path` with `args` in a fresh Vm with `jit`, returning its standard output.
fn run(path: &Path, args: &[&str], jit: JitConfig) -> Result<String, String> {
    let path = path.to_owned();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    with_guest_stack(move || {
        let (module, info) = load_file(&path).map_err(|e| e.to_string())?;
        let mut vm = new_vm(VmConfig {
            jit,
            ..VmConfig::default()
        });
        let buf = OutputBuffer::default();
        vm.set_stdout(Box::new(buf.clone()));
        let m = vm.load(&module, &info).map_err(|e| e.to_string())?;
        let main = main_function(&vm, m).map_err(|e| e.to_string())?;
        run_main(&mut vm, main, &args).map_err(|e| format!("{e:?}"))?;
        let out = buf.text();
        Ok(out)
    })
    .map_err(|e| e.to_string())?
}

fn modes() -> [(&'static str, JitConfig); 3] {
    let jit = |mode, threshold| JitConfig {
        mode,
        threshold,
        trace: false,
    };
    [
        ("interp", jit(JitMode::Off, 1000)),
        ("jit-eager", jit(JitMode::Eager, 1000)),
        ("jit-tiered", jit(JitMode::On, 50)),
    ]
}

#[test]
fn every_program_prints_the_c_checksum_in_every_tier() {
    let mut failures = Vec::new();
    for bench in BENCHES {
        let (size, want) = bench.small;
        for untyped in [false, true] {
            let path = program(bench.name, untyped);
            for (mode, jit) in modes() {
                match run(&path, &[size], jit) {
                    Ok(out) if out == want => {}
                    Ok(out) => failures.push(format!(
                        "{} ({mode}): printed {out:?}, expected {want:?}",
                        path.display()
                    )),
                    Err(e) => failures.push(format!("{} ({mode}): {e}", path.display())),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn expected_outputs_are_what_the_c_twins_print() {
    let dir = std::env::temp_dir().join(format!("sigma-bench-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for bench in BENCHES {
        let (size, want) = bench.small;
        let source = peers_dir()
            .join(bench.name)
            .join(format!("{}.c", bench.name));
        let exe = dir.join(bench.name);
        let status = Command::new("cc")
            .args(["-O1", "-o"])
            .arg(&exe)
            .arg(&source)
            .arg("-lm")
            .status()
            .expect("a C compiler (`cc`) is needed to build the C twins");
        assert!(status.success(), "cc failed on {}", source.display());
        let out = Command::new(&exe).arg(size).output().unwrap();
        assert!(out.status.success(), "{} {size} failed", exe.display());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            want,
            "{} at size {size}",
            bench.name
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_program_has_both_twins_and_a_c_peer() {
    for bench in BENCHES {
        for untyped in [false, true] {
            assert!(program(bench.name, untyped).is_file(), "{}", bench.name);
        }
        let c = peers_dir()
            .join(bench.name)
            .join(format!("{}.c", bench.name));
        assert!(c.is_file(), "{}", c.display());
    }
}
