//! Inline scopes (debug info for procedure bodies a compiler inlined): backtraces show a frame
//! for each in every tier, the tables survive `.sbc` and `sbdump`/`sbas`, and malformed tables
//! are rejected by the assembler and the verifier with clear errors.

use sigma_vm::embed::{CallError, Config, Engine, Module};
use sigma_vm::runtime::module::{source_frames, InlineScope};
use sigma_vm::{JitMode, TrapKind};

/// `outer` has `middle` inlined at line 20, and `inner` inlined into that at line 11; the
/// division (line 5) is in `inner`'s scope, the addition after it in `outer`'s own code.
const SRC: &str = "
.module m
.source \"m.scm\"
.func outer(a, b) export
    .reg q
    .inline middle, 20, 0
    .inline inner, 11, 1
    .line 20
    copy q, a
    .scope 2
    .line 5
    div q, a, b
    .scope 0
    .line 21
    add q, q, 1
    ret q
.end
.func main(b) export
    .reg r
    .line 30
    call r, outer, 10, b
    ret r
.end
";

fn frames(trap: &sigma_vm::Trap) -> Vec<(String, Option<u32>)> {
    trap.backtrace
        .iter()
        .map(|f| (f.function.clone(), f.line))
        .collect()
}

#[test]
fn every_tier_reports_a_frame_per_inline_scope() {
    let module = Module::from_text(SRC, "m.sbas").unwrap();
    for mode in [JitMode::Off, JitMode::On, JitMode::Eager] {
        let mut vm = Engine::new(Config::new().jit(mode)).vm();
        vm.load(&module).unwrap();
        assert_eq!(vm.call::<_, i64>("main", (2i64,)).unwrap(), 6, "{mode:?}");
        let CallError::Stop(stop) = vm.call::<_, i64>("main", (0i64,)).unwrap_err() else {
            panic!("expected a trap")
        };
        let trap = stop.trap().unwrap();
        assert_eq!(trap.kind, TrapKind::DivisionByZero);
        let want: Vec<(String, Option<u32>)> =
            [("inner", 5), ("middle", 11), ("outer", 20), ("main", 30)]
                .iter()
                .map(|(f, l)| (f.to_string(), Some(*l)))
                .collect();
        assert_eq!(frames(trap), want, "{mode:?}");
        // Every virtual frame names the real instruction.
        assert!(trap.backtrace[..3].iter().all(|f| f.pc == 1), "{mode:?}");
    }
}

#[test]
fn source_frames_walk_the_scope_chain() {
    let inlined = vec![
        InlineScope {
            name: "middle".into(),
            call_line: 20,
            parent: 0,
        },
        InlineScope {
            name: "inner".into(),
            call_line: 0,
            parent: 1,
        },
    ];
    let lines = [20, 5, 21];
    let scopes = [0, 2, 0];
    assert_eq!(
        source_frames("f", &lines, &inlined, &scopes, 1),
        vec![("inner", Some(5)), ("middle", None), ("f", Some(20))]
    );
    assert_eq!(
        source_frames("f", &lines, &inlined, &scopes, 2),
        vec![("f", Some(21))]
    );
    // No tables: just the function.
    assert_eq!(source_frames("f", &[], &[], &[], 0), vec![("f", None)]);
    // A malformed chain (a scope its own parent, an index past the table) ends early.
    let looping = vec![InlineScope {
        name: "x".into(),
        call_line: 3,
        parent: 1,
    }];
    assert_eq!(
        source_frames("f", &[], &looping, &[1], 0),
        vec![("x", None), ("f", Some(3))]
    );
    assert_eq!(source_frames("f", &[], &[], &[4], 0), vec![("f", None)]);
}

#[test]
fn scopes_survive_bytecode_and_disassembly() {
    let (module, _) = sigma_vm::runtime::assemble(SRC, "m.sbas").unwrap();
    let outer = &module.functions[0];
    assert_eq!(outer.scopes, vec![0, 2, 0, 0]);
    assert_eq!(outer.inlined.len(), 2);
    let bytes = sigma_vm::runtime::encode(&module);
    let decoded = sigma_vm::runtime::decode(&bytes).unwrap();
    assert_eq!(decoded.functions[0].inlined, outer.inlined);
    assert_eq!(decoded.functions[0].scopes, outer.scopes);
    // A function without inlined code has no tables.
    assert!(decoded.functions[1].scopes.is_empty() && decoded.functions[1].inlined.is_empty());
    let text = sigma_vm::runtime::disassemble(&decoded);
    assert!(text.contains(".inline middle, 20, 0"), "{text}");
    assert!(text.contains(".inline inner, 11, 1"), "{text}");
    assert!(text.contains(".scope 2"), "{text}");
    let (again, _) = sigma_vm::runtime::assemble(&text, "dump.sbas").unwrap();
    assert_eq!(sigma_vm::runtime::encode(&again), bytes);
    // A scope table of the wrong length is a decode error.
    let mut bad = module.clone();
    bad.functions[0].scopes.pop();
    let err = sigma_vm::runtime::decode(&sigma_vm::runtime::encode(&bad)).unwrap_err();
    assert!(
        err.message
            .contains("scope table of outer has 3 entries for 4 instructions"),
        "{err}"
    );
}

#[test]
fn the_verifier_rejects_malformed_scope_tables() {
    let (module, _) = sigma_vm::runtime::assemble(SRC, "m.sbas").unwrap();
    let check = |edit: &dyn Fn(&mut sigma_vm::runtime::module::Function), want: &str| {
        let mut m = module.clone();
        edit(&mut m.functions[0]);
        let err = sigma_vm::runtime::verify(&m).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    };
    check(
        &|f| f.scopes.push(0),
        "inline scope table does not match the instruction count",
    );
    check(
        &|f| f.inlined[0].parent = 2,
        "inline scope 1 (`middle`) has parent 2, not an earlier scope",
    );
    check(
        &|f| f.scopes[2] = 3,
        "instruction 2 is in inline scope 3, but the function has 2",
    );
}

#[test]
fn the_assembler_rejects_undeclared_scopes() {
    let cases = [
        (".scope 1", "m.sbas:3:12: error: no inline scope 1"),
        (
            ".inline f, 1, 1",
            "m.sbas:3:5: error: parent scope 1 is not declared yet",
        ),
        (".inline f, 1", "m.sbas:3:13: error: `.inline` takes a name"),
        (
            ".scope",
            "m.sbas:3:5: error: `.scope` takes one scope number",
        ),
    ];
    for (line, want) in cases {
        let src = format!(".func f()\n    .reg r\n    {line}\n    ret nil\n.end\n");
        let err = sigma_vm::runtime::assemble(&src, "m.sbas")
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{line}: {err}");
    }
    let outside = sigma_vm::runtime::assemble(".scope 0\n", "m.sbas")
        .unwrap_err()
        .to_string();
    assert!(
        outside.contains("`.scope` is only allowed inside a function"),
        "{outside}"
    );
}
