//! Build script of the `sigma_vm` facade: compiles the small C library the FFI tests call
//! (`tests/native/sigmatest.c`) into a shared object in `OUT_DIR` and tells the tests where it
//! is through the `SIGMA_TESTLIB` environment variable (read with `env!` at compile time).
//!
//! Invariant: the library is built with the same C compiler `cc` would use for any crate, as a
//! position-independent shared object; nothing here is linked into `sigma_vm` itself.

use std::path::PathBuf;

fn main() {
    let src = "tests/native/sigmatest.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let lib = out.join("libsigmatest.so");
    let compiler = cc::Build::new().get_compiler();
    let status = compiler
        .to_command()
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&lib)
        .arg(src)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("compiling {src} failed with {s}"),
        Err(e) => panic!("cannot run the C compiler for {src}: {e}"),
    }
    println!("cargo:rustc-env=SIGMA_TESTLIB={}", lib.display());
}
