//! `slisp`: compile and run Scheme programs on the Sigma VM, or start a REPL.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let src = std::fs::read_to_string(&args[2]).unwrap();
    match sigma_lisp::compile_verified(&src, &args[2], &Default::default()) {
        Err(e) => { eprintln!("{e}"); std::process::exit(2) }
        Ok((m, info)) => {
            let mut vm = sigma_vm::new_vm(sigma_vm::VmConfig::default());
            let mi = vm.load(&m, &info).unwrap();
            let main = vm.export(mi, "main").unwrap();
            let r = vm.call(main, &[]);
            let _ = vm.flush();
            if let Err(sigma_vm::Stop::Trap(t)) = r { eprintln!("{}", sigma_lisp::format_trap(&t)); std::process::exit(1) }
        }
    }
}
