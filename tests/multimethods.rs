//! Multimethods through the embedding API: methods added by the host and by modules linked
//! later change what already-warm call sites select, in every tier; the host's mistakes are
//! typed errors; builder-made modules with multimethods survive the binary and text round trips.

use sigma_vm::OutputBuffer;

use sigma_vm::runtime::builder::ModuleBuilder;
use sigma_vm::runtime::{decode, disassemble, encode, Opcode};
use sigma_vm::{
    load_source, new_vm, Constant, JitConfig, JitMode, LinkError, MethodError, Pattern, Type,
    Value, Vm, VmConfig,
};

fn text(src: &str, name: &str) -> (sigma_vm::Module, sigma_vm::ModuleInfo) {
    load_source(src.as_bytes(), name).unwrap()
}

const SHAPES: &str = "
.module shapes
.type Point { x: int, y: int }
.multimethod kind/1 export
.method kind (int) an_int
.method kind (any) other

.func an_int(n: int) -> str
    ret \"int\"
.end
.func other(v) -> str
    ret \"other\"
.end
.func point() export
    .reg p
    new p, Point, 1, 2
    ret p
.end
; The call site the tests warm up.
.func kind_of(v) export
    .reg r
    dispatch r, kind, v
    ret r
.end
";

const EXTENSION: &str = "
.module extension
.import shapes
.method shapes.kind (str) a_str
.func a_str(s: str) -> str
    ret \"str (from extension)\"
.end
";

const HOST_FUNCS: &str = "
.module host_funcs
.func for_str(s: str) -> str export
    ret \"str (from host)\"
.end
.func for_point(p) -> str export
    ret \"point (from host)\"
.end
.func for_zero(n: int) -> str export
    ret \"zero (from host)\"
.end
.func two(a, b) export
    ret a
.end
";

fn modes() -> Vec<VmConfig> {
    [(JitMode::Off, 1000), (JitMode::On, 3), (JitMode::Eager, 1)]
        .into_iter()
        .map(|(mode, threshold)| VmConfig {
            jit: JitConfig {
                mode,
                threshold,
                trace: false,
            },
            ..VmConfig::default()
        })
        .collect()
}

fn kind_of(vm: &mut Vm, f: u32, v: Value) -> String {
    let r = vm.call(f, &[v]).unwrap();
    r.as_str().unwrap().to_owned()
}

/// Calls `kind_of` often enough with `v` for the site to be warm (and compiled when a JIT runs).
fn warm(vm: &mut Vm, f: u32, v: Value) -> String {
    let mut last = String::new();
    for _ in 0..50 {
        last = kind_of(vm, f, v);
    }
    last
}

#[test]
fn a_method_added_by_the_host_changes_a_warm_call_site() {
    for config in modes() {
        let mut vm = new_vm(config);
        let (m, i) = text(SHAPES, "shapes.sbas");
        let shapes = vm.load(&m, &i).unwrap();
        let (h, hi) = text(HOST_FUNCS, "host_funcs.sbas");
        let host = vm.load(&h, &hi).unwrap();
        let f = vm.export(shapes, "kind_of").unwrap();
        let s = vm.alloc_str("text").unwrap();
        let root = vm.root(s);
        assert_eq!(warm(&mut vm, f, s), "other");
        assert_eq!(warm(&mut vm, f, Value::int(0)), "int");

        let for_str = vm.export(host, "for_str").unwrap();
        vm.add_method("shapes.kind", &[Pattern::Type(Type::Str)], for_str)
            .unwrap();
        let s = vm.rooted(&root);
        assert_eq!(kind_of(&mut vm, f, s), "str (from host)");
        assert_eq!(warm(&mut vm, f, s), "str (from host)");

        // A literal method beats the int method, for the literal only.
        let for_zero = vm.export(host, "for_zero").unwrap();
        vm.add_method("shapes.kind", &[Pattern::Lit(Constant::Int(0))], for_zero)
            .unwrap();
        assert_eq!(kind_of(&mut vm, f, Value::int(0)), "zero (from host)");
        assert_eq!(warm(&mut vm, f, Value::int(1)), "int");

        // A record type of a module, named for the host by `record_type`.
        let point_fn = vm.export(shapes, "point").unwrap();
        let p = vm.call(point_fn, &[]).unwrap();
        let proot = vm.root(p);
        assert_eq!(warm(&mut vm, f, p), "other");
        let point = vm.record_type(shapes, "Point").unwrap();
        let for_point = vm.export(host, "for_point").unwrap();
        vm.add_method("shapes.kind", &[Pattern::Type(point)], for_point)
            .unwrap();
        let p = vm.rooted(&proot);
        assert_eq!(kind_of(&mut vm, f, p), "point (from host)");
        vm.unroot(proot);
        vm.unroot(root);
    }
}

#[test]
fn a_method_added_by_a_module_linked_later_changes_a_warm_call_site() {
    for config in modes() {
        let mut vm = new_vm(config);
        let (m, i) = text(SHAPES, "shapes.sbas");
        let shapes = vm.load(&m, &i).unwrap();
        let f = vm.export(shapes, "kind_of").unwrap();
        let s = vm.alloc_str("text").unwrap();
        let root = vm.root(s);
        assert_eq!(warm(&mut vm, f, s), "other");
        let (e, ei) = text(EXTENSION, "extension.sbas");
        vm.load(&e, &ei).unwrap();
        let s = vm.rooted(&root);
        assert_eq!(kind_of(&mut vm, f, s), "str (from extension)");
        assert_eq!(warm(&mut vm, f, s), "str (from extension)");
        assert_eq!(kind_of(&mut vm, f, Value::int(3)), "int");
        vm.unroot(root);
    }
}

#[test]
fn the_hosts_mistakes_are_typed_errors() {
    let mut vm = Vm::default();
    let (m, i) = text(SHAPES, "shapes.sbas");
    vm.load(&m, &i).unwrap();
    let (h, hi) = text(HOST_FUNCS, "host_funcs.sbas");
    let host = vm.load(&h, &hi).unwrap();
    let for_str = vm.export(host, "for_str").unwrap();
    let two = vm.export(host, "two").unwrap();
    let str_pat = [Pattern::Type(Type::Str)];

    let e = vm.add_method("shapes.size", &str_pat, for_str).unwrap_err();
    assert!(matches!(e, MethodError::UnknownMultimethod { .. }), "{e}");
    let e = vm.add_method("kind", &str_pat, for_str).unwrap_err();
    assert!(matches!(e, MethodError::UnknownMultimethod { .. }), "{e}");
    let e = vm
        .add_method("shapes.kind", &[Pattern::Any, Pattern::Any], two)
        .unwrap_err();
    assert_eq!(
        e,
        MethodError::Arity {
            multimethod: "kind".into(),
            arity: 1,
            patterns: 2
        }
    );
    let e = vm
        .add_method("shapes.kind", &[Pattern::Any], two)
        .unwrap_err();
    assert!(
        matches!(e, MethodError::FunctionArity { params: 2, .. }),
        "{e}"
    );
    let e = vm
        .add_method("shapes.kind", &[Pattern::Any], for_str)
        .unwrap_err();
    assert!(matches!(e, MethodError::ParamType { index: 1, .. }), "{e}");
    assert!(
        e.to_string().contains("pattern `any` matches every value"),
        "{e}"
    );
    let e = vm
        .add_method("shapes.kind", &[Pattern::Type(Type::Int)], for_str)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("matches a int but the parameter is str"),
        "{e}"
    );
    let e = vm.add_method("shapes.kind", &str_pat, 9999).unwrap_err();
    assert_eq!(e, MethodError::UnknownFunction { func: 9999 });
    let e = vm
        .add_method("shapes.kind", &[Pattern::Type(Type::Record(77))], for_str)
        .unwrap_err();
    assert!(matches!(e, MethodError::BadPattern { index: 1, .. }), "{e}");
    let e = vm
        .add_method("shapes.kind", &[Pattern::Type(Type::Any)], for_str)
        .unwrap_err();
    assert!(matches!(e, MethodError::BadPattern { .. }), "{e}");

    vm.add_method("shapes.kind", &str_pat, for_str).unwrap();
    let e = vm.add_method("shapes.kind", &str_pat, for_str).unwrap_err();
    assert_eq!(
        e,
        MethodError::Duplicate {
            multimethod: "kind".into(),
            patterns: "(str)".into()
        }
    );
    // A module linked afterwards cannot add the same method either.
    let (e2, ei) = text(EXTENSION, "extension.sbas");
    let err = vm.load(&e2, &ei).unwrap_err();
    assert!(matches!(err, LinkError::Method { .. }), "{err}");
    assert!(
        err.to_string().contains("already has a method for (str)"),
        "{err}"
    );
}

#[test]
fn builder_modules_with_multimethods_round_trip_and_run() {
    let mut vm = Vm::default();
    let out = OutputBuffer::default();
    vm.set_stdout(Box::new(out.clone()));
    let (m, i) = text(SHAPES, "shapes.sbas");
    vm.load(&m, &i).unwrap();

    let mut mb = ModuleBuilder::new("app");
    let kind = mb.import_multimethod("shapes", "kind");
    let twice = mb.declare_multimethod("twice", 1, true).unwrap();
    assert!(mb.declare_multimethod("twice", 2, false).is_err());
    let dbl = mb
        .declare_function("dbl", &[(Some("n"), Type::Int)], Type::Int, false)
        .unwrap();
    let is_char = mb
        .declare_function("is_char", &[(None, Type::Char)], Type::Any, false)
        .unwrap();
    let main = mb.declare_function("main", &[], Type::Any, true).unwrap();
    mb.add_method(twice, vec![Pattern::Type(Type::Int)], dbl);
    mb.add_method(kind, vec![Pattern::Type(Type::Char)], is_char);
    let mut fb = mb.function(dbl);
    let n = fb.param(0);
    fb.emit(Opcode::Add, &[n.into(), n.into(), n.into()]);
    fb.emit(Opcode::Ret, &[n.into()]);
    fb.finish().unwrap();
    let mut fb = mb.function(is_char);
    fb.emit(Opcode::Ret, &["char (from app)".into()]);
    fb.finish().unwrap();
    let mut fb = mb.function(main);
    let r = fb.reg(Some("r"), Type::Any);
    fb.emit(Opcode::Dispatch, &[r.into(), twice.into(), 21i64.into()]);
    fb.emit(
        Opcode::Sys,
        &[
            sigma_vm::runtime::builder::Arg::Discard,
            sigma_vm::runtime::builder::Arg::Sys("print".into()),
            r.into(),
        ],
    );
    fb.emit(Opcode::Dispatch, &[r.into(), kind.into(), 'x'.into()]);
    fb.emit(Opcode::Ret, &[r.into()]);
    fb.finish().unwrap();
    let (app, info) = mb.finish_verified().unwrap();
    assert_eq!(
        app.methods[1].multimethod, 1,
        "imported ids follow the module's own"
    );

    let bytes = encode(&app);
    let decoded = decode(&bytes).unwrap();
    assert_eq!(encode(&decoded), bytes);
    let dumped = disassemble(&decoded);
    assert!(dumped.contains(".multimethod twice/1 export"), "{dumped}");
    assert!(
        dumped.contains(".method shapes.kind (char) is_char"),
        "{dumped}"
    );
    let (again, _) = sigma_vm::runtime::assemble(&dumped, "dump.sbas").unwrap();
    assert_eq!(encode(&again), bytes, "\n{dumped}");

    let a = vm.load(&app, &info).unwrap();
    let main = vm.export(a, "main").unwrap();
    let r = vm.call(main, &[]).unwrap();
    assert_eq!(r.as_str(), Some("char (from app)"));
    assert_eq!(out.text(), "42\n");
}
