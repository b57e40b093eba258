//! System calls that reach the host — files, stdin, program arguments, environment variables,
//! process exit — and the capabilities that guard them, in the interpreter and under the JIT.

use sigma_vm::OutputBuffer;

use sigma_vm::{
    load_source, new_vm, run_main, Capabilities, Capability, JitConfig, JitMode, Stop, TrapKind,
    Value, Vm, VmConfig,
};

const TIERS: [JitMode; 2] = [JitMode::Off, JitMode::Eager];

/// A Vm in `mode` granting `caps`, with `src` loaded; returns it, its captured stdout and the
/// id of `main`.
fn vm_with(src: &str, mode: JitMode, caps: Capabilities) -> (Vm, OutputBuffer, u32) {
    let mut vm = new_vm(VmConfig {
        jit: JitConfig {
            mode,
            threshold: 1,
            trace: false,
        },
        capabilities: caps,
        ..VmConfig::default()
    });
    let out = OutputBuffer::default();
    vm.set_stdout(Box::new(out.clone()));
    let (module, info) = load_source(src.as_bytes(), "test.sbas").unwrap();
    let m = vm.load(&module, &info).unwrap();
    let main = vm.export(m, "main").unwrap();
    (vm, out, main)
}

fn run(
    src: &str,
    mode: JitMode,
    caps: Capabilities,
    args: &[&str],
) -> (Result<Value, Stop>, String) {
    let (mut vm, out, main) = vm_with(src, mode, caps);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let result = run_main(&mut vm, main, &args);
    vm.flush().unwrap();
    (result, out.text())
}

fn file_program(path: &str) -> String {
    format!(
        r#"
.func main() export
    .reg h, s, b, n, line
    sys h, file_open, "{path}", "w"
    sys _, file_write, h, "first line\n"
    sys _, file_write, h, 42
    sys _, file_write, h, "\r\nthird"
    newbytes b, 2
    st.i8 b, 0, 10
    st.i8 b, 1, 65
    sys _, file_write, h, b
    sys _, file_close, h
    sys h, file_open, "{path}", "a"
    sys _, file_write, h, "Z\n"
    sys _, file_close, h
    sys h, file_open, "{path}", "r"
    sys s, file_read_line, h
    sys _, print, s
    sys s, file_read_line, h
    sys _, print, s
    sys b, file_read_bytes, h, 3
    blen n, b
    sys _, print, n
    ld.u8 n, b, 0
    sys _, print, n
    sys s, file_read, h
    sys _, print, s
    sys s, file_read_line, h
    sys _, print, s
    sys _, file_close, h
    sys h, file_open, "{path}", "r"
    sys s, file_read, h
    slen n, s
    sys _, print, n
    sys _, file_close, h
    ret
.end
"#
    )
}

#[test]
fn files_are_written_appended_and_read_back() {
    let dir = std::env::temp_dir().join(format!("sigma-sys-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for mode in TIERS {
        let path = dir.join(format!("data-{mode:?}.txt"));
        let src = file_program(&path.display().to_string());
        let (result, out) = run(&src, mode, Capabilities::ALL, &[]);
        assert!(result.is_ok(), "{mode:?}: {result:?}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "first line\n42\r\nthird\nAZ\n"
        );
        // Lines lose their endings (also \r\n); read_bytes takes at most `max`; read takes
        // the rest; read_line at the end is nil.
        assert_eq!(
            out, "first line\n42\n3\n116\nrd\nAZ\n\nnil\n24\n",
            "{mode:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_left_open_are_flushed_and_closed_with_the_vm() {
    let dir = std::env::temp_dir().join(format!("sigma-sys-unclosed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("unclosed.txt");
    let src = format!(
        r#"
.func main() export
    .reg h
    sys h, file_open, "{}", "w"
    sys _, file_write, h, "kept"
    sys h, file_open, "{}", "r"
    ret
.end
"#,
        path.display(),
        path.display()
    );
    let (mut vm, _, main) = vm_with(&src, JitMode::Off, Capabilities::ALL);
    vm.call(main, &[]).unwrap();
    assert_eq!(vm.open_files(), 2);
    drop(vm);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn writing_to_a_file_opened_for_reading_traps() {
    let path = std::env::temp_dir().join(format!("sigma-sys-ro-{}.txt", std::process::id()));
    std::fs::write(&path, "x").unwrap();
    let src = format!(
        ".func main() export\n .reg h\n sys h, file_open, \"{}\", \"r\"\n sys _, file_write, h, 1\n ret\n.end\n",
        path.display()
    );
    for mode in TIERS {
        let (result, _) = run(&src, mode, Capabilities::ALL, &[]);
        let trap = result.unwrap_err();
        let trap = trap.trap().unwrap();
        assert_eq!(trap.kind, TrapKind::IoError);
        assert!(
            trap.message.contains("opened for reading"),
            "{}",
            trap.message
        );
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn read_line_reads_the_hosts_stdin_until_nil() {
    let src = "
.func main() export
    .reg line, n
    load n, 0
again:
    sys line, read_line
    jeq line, nil, done
    add n, n, 1
    sys _, print, line
    jump again
done:
    sys _, print, n
    ret
.end
";
    for mode in TIERS {
        let (mut vm, out, main) = vm_with(src, mode, Capabilities::NONE);
        vm.set_stdin(Box::new(std::io::Cursor::new(
            b"one\r\ntwo\n\nlast".to_vec(),
        )));
        vm.call(main, &[]).unwrap();
        assert_eq!(out.text(), "one\ntwo\n\nlast\n4\n", "{mode:?}");
    }
}

#[test]
fn args_returns_the_program_arguments() {
    let src = "
.func main() export
    .reg a, s
    sys a, args
    sys s, join, a, \"+\"
    sys _, print, s
    ret
.end
";
    for mode in TIERS {
        let (result, out) = run(src, mode, Capabilities::NONE, &["x", "y z", ""]);
        assert!(result.is_ok());
        assert_eq!(out, "x+y z+\n");
    }
}

#[test]
fn env_reads_variables_when_granted() {
    // Set once for this test binary; no other test reads it.
    std::env::set_var("SIGMA_SYSCALL_TEST_VAR", "hello env");
    let src = "
.func main() export
    .reg v
    sys v, env, \"SIGMA_SYSCALL_TEST_VAR\"
    sys _, print, v
    ret
.end
";
    for mode in TIERS {
        let (result, out) = run(
            src,
            mode,
            Capabilities::NONE.with(Capability::Env, true),
            &[],
        );
        assert!(result.is_ok());
        assert_eq!(out, "hello env\n");
    }
}

const DENIED_FILE: &str = "/tmp/sigma-syscalls-test-denied.txt";

/// Each capability-guarded operation, with the capability it needs.
const GUARDED: [(Capability, &str, &str); 5] = [
    (
        Capability::Files,
        "sys _, file_open, \"/tmp/sigma-syscalls-test-denied.txt\", \"w\"",
        "sys file_open",
    ),
    (Capability::Env, "sys _, env, \"HOME\"", "sys env"),
    (Capability::Exit, "sys _, exit, 3", "sys exit"),
    (Capability::Exit, "halt 3", "halt"),
    (Capability::Exit, "halt", "halt"),
];

#[test]
fn denied_capabilities_trap_with_permission_denied() {
    for (cap, ins, what) in GUARDED {
        let src = format!(
            ".func main() export\n sys _, print, \"before\"\n {ins}\n sys _, print, \"after\"\n ret\n.end\n"
        );
        for mode in TIERS {
            // Everything but the one capability needed.
            let caps = Capabilities::ALL.with(cap, false);
            let (result, out) = run(&src, mode, caps, &[]);
            let stop = result.unwrap_err();
            let trap = stop.trap().unwrap_or_else(|| panic!("{ins}: {stop:?}"));
            assert_eq!(trap.kind, TrapKind::PermissionDenied, "{ins} {mode:?}");
            assert!(
                trap.message.contains(what) && trap.message.contains(cap.name()),
                "{}",
                trap.message
            );
            assert_eq!(trap.backtrace[0].function, "main");
            assert_eq!(out, "before\n");
            assert!(!std::path::Path::new(DENIED_FILE).exists());
            // Granted, the same program gets past the instruction (exits stop it there).
            let (result, out) = run(&src, mode, Capabilities::NONE.with(cap, true), &[]);
            match result {
                Ok(_) => assert_eq!(out, "before\nafter\n"),
                Err(Stop::Exit(code)) => assert!(code == 3 || code == 0, "{ins}"),
                Err(other) => panic!("{ins} granted: {other:?}"),
            }
            let _ = std::fs::remove_file(DENIED_FILE);
        }
    }
}
