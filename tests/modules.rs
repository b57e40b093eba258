//! Linking modules through the embedding API: modules built in memory and imported by name,
//! files loaded once, the binary form of imports, and link errors.

use sigma_vm::OutputBuffer;

use sigma_vm::runtime::builder::ModuleBuilder;
use sigma_vm::runtime::{decode, encode, Opcode, Type};
use sigma_vm::{load_source, LinkError, Value, Vm};

fn text(src: &str) -> (sigma_vm::Module, sigma_vm::ModuleInfo) {
    load_source(src.as_bytes(), "test.sbas").unwrap()
}

const LIB: &str = "
.module lib
.global hits: int = 0 export
.func inc(x: int) -> int export
    .reg y: int
    add y, x, 1
    ret y
.end
.func setup()
    sys _, print, \"lib init\"
    ret
.end
.init setup
";

#[test]
fn a_builder_module_imports_a_module_loaded_from_memory() {
    let mut vm = Vm::default();
    let out = OutputBuffer::default();
    vm.set_stdout(Box::new(out.clone()));
    let (lib, lib_info) = text(LIB);
    vm.load(&lib, &lib_info).unwrap();

    let mut mb = ModuleBuilder::new("app");
    let inc = mb.import_function("lib", "inc");
    let hits = mb.import_global("lib", "hits");
    // Declared after the imports: imported ids are renumbered after the module's own.
    let f = mb
        .declare_function("twice", &[(Some("x"), Type::Int)], Type::Int, true)
        .unwrap();
    assert!(mb.signature(inc).is_none());
    let mut fb = mb.function(f);
    let x = fb.param(0);
    let y = fb.reg(Some("y"), Type::Int);
    fb.emit(Opcode::Call, &[y.into(), inc.into(), x.into()]);
    fb.emit(Opcode::Call, &[y.into(), inc.into(), y.into()]);
    fb.emit(Opcode::SetG, &[hits.into(), y.into()]);
    fb.emit(Opcode::Ret, &[y.into()]);
    fb.finish().unwrap();
    let (app, info) = mb.finish_verified().unwrap();
    assert_eq!(app.imports, vec!["lib".to_owned()]);

    // The binary form keeps the imports.
    let bytes = encode(&app);
    let decoded = decode(&bytes).unwrap();
    assert_eq!(decoded.imports, app.imports);
    assert_eq!(decoded.imported_functions, app.imported_functions);
    assert_eq!(decoded.imported_globals, app.imported_globals);
    assert_eq!(encode(&decoded), bytes);

    let m = vm.load(&app, &info).unwrap();
    let twice = vm.export(m, "twice").unwrap();
    assert_eq!(
        vm.call(twice, &[Value::int(40)]).unwrap().as_int(),
        Some(42)
    );
    let lib_index = vm.module_index("lib").unwrap();
    let lib_hits = vm.export(lib_index, "inc").unwrap();
    assert_eq!(
        vm.call(lib_hits, &[Value::int(1)]).unwrap().as_int(),
        Some(2)
    );
    assert_eq!(out.text(), "lib init\n");
}

#[test]
fn a_module_name_is_loaded_once_and_a_file_is_one_module() {
    let dir = std::env::temp_dir().join(format!("sigma-modules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lib.sbas");
    std::fs::write(&path, LIB).unwrap();
    let mut vm = Vm::default();
    let out = OutputBuffer::default();
    vm.set_stdout(Box::new(out.clone()));
    let a = vm.load_file(&path).unwrap();
    let b = vm.load_file(&dir.join(".").join("lib.sbas")).unwrap();
    assert_eq!(a, b);
    assert_eq!(out.text(), "lib init\n");
    // The same name from memory is a different module: refused.
    let (lib, info) = text(LIB);
    match vm.load(&lib, &info) {
        Err(LinkError::ModuleName { message }) => {
            assert!(message.contains("`lib` is already loaded"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // A module in memory finds imports on the search path.
    let mut vm = Vm::default();
    vm.set_stdout(Box::new(std::io::sink()));
    let (app, info) = text(".module app\n.import lib\n.func f() -> int export\n    .reg x: int\n    call x, lib.inc, 1\n    ret x\n.end\n");
    match vm.load(&app, &info) {
        Err(e @ LinkError::ModuleNotFound { .. }) => {
            assert!(e.to_string().contains("no search path is set"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    vm.add_module_path(&dir);
    let m = vm.load(&app, &info).unwrap();
    let f = vm.export(m, "f").unwrap();
    assert_eq!(vm.call(f, &[]).unwrap().as_int(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_broken_imported_file_is_a_link_error_naming_the_chain_and_the_location() {
    let dir = std::env::temp_dir().join(format!("sigma-modules-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mid.sbas"),
        ".module mid\n.import bad\n.func f() -> int export\n    ret 1\n.end\n",
    )
    .unwrap();
    std::fs::write(dir.join("bad.sbas"), ".module bad\n.func g(\n").unwrap();
    let mut vm = Vm::default();
    vm.add_module_path(&dir);
    let (app, info) = text(".module app\n.import mid\n");
    let err = vm.load(&app, &info).unwrap_err().to_string();
    assert!(err.starts_with("app -> mid: "), "{err}");
    assert!(err.contains("bad.sbas:2:"), "{err}");
    // Nothing of the failed chain is half-linked: mid can be loaded again once bad is fixed.
    std::fs::write(
        dir.join("bad.sbas"),
        ".module bad\n.func g() -> int export\n    ret 2\n.end\n",
    )
    .unwrap();
    vm.load(&app, &info).unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
