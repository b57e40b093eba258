//! `sigma-jit`: Sigma's compiling tier. Lowers verified bytecode functions through Cranelift to
//! native code for the host (x86-64 or aarch64) and plugs into the interpreter as its
//! [`TierCompiler`].
//!
//! Compiled code is frame-compatible with the interpreter (see `sigma_interp::tier` for the
//! ABI): `int`, `float` and `bool` registers live in SSA variables without tag checks, every
//! other register stays in the frame, and anything beyond the inline fast paths runs the
//! interpreter's own code for that instruction through the step helper, so both tiers share
//! one semantics.
//!
//! Invariants: each Sigma module's functions are compiled into a code memory of their own (one
//! Cranelift `JITModule` per [`CompileRequest::group`]), which lives until the Vm unloads that
//! module ([`TierCompiler::release`]) or drops the `Jit`; compiled code reaches other modules'
//! code only through the Vm's table of entries, never by a direct relocation, so freeing one
//! group leaves the others intact. Compiled code never unwinds and never executes a hardware
//! trap — every failure is a status returned to the caller.

mod infer;
mod records;
mod sync;
mod translate;

use cranelift_codegen::ir::{Signature, UserFuncName};
use cranelift_codegen::isa::CallConv;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use sigma_interp::tier::{CompileRequest, NativeFn, TierCompiler};

/// The Cranelift compiler tier.
pub struct Jit {
    isa: cranelift_codegen::isa::OwnedTargetIsa,
    /// The code memory of each group (Sigma module) with compiled functions.
    groups: std::collections::HashMap<u64, JITModule>,
    ctx: Context,
    fctx: FunctionBuilderContext,
    call_conv: CallConv,
    compiled: u32,
}

impl Jit {
    /// A compiler for the host machine.
    pub fn new() -> Result<Jit, String> {
        let mut flags = settings::builder();
        let set = |f: &mut settings::Builder, k: &str, v: &str| {
            f.set(k, v).map_err(|e| format!("{k}: {e}"))
        };
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(&mut flags, "is_pic", "false")?;
        set(&mut flags, "opt_level", "speed")?;
        // Cranelift's IR verifier guards this crate's lowering: on in debug builds and tests,
        // off in release builds, where it would cost a large share of every compile.
        let verify = if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        };
        set(&mut flags, "enable_verifier", verify)?;
        let isa = cranelift_native::builder()
            .map_err(|e| format!("host machine is not supported: {e}"))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| e.to_string())?;
        let call_conv = isa.default_call_conv();
        Ok(Jit {
            isa,
            groups: std::collections::HashMap::new(),
            ctx: Context::new(),
            fctx: FunctionBuilderContext::new(),
            call_conv,
            compiled: 0,
        })
    }

    fn native_signature(&self) -> Signature {
        translate::native_sig(self.call_conv)
    }
}

impl TierCompiler for Jit {
    fn compile(&mut self, req: &CompileRequest<'_>) -> Result<NativeFn, String> {
        let sig = self.native_signature();
        let call_conv = self.call_conv;
        let isa = &self.isa;
        let module = self.groups.entry(req.group).or_insert_with(|| {
            JITModule::new(JITBuilder::with_isa(isa.clone(), default_libcall_names()))
        });
        let name = format!("sigma_fn_{}_{}", req.func_id, self.compiled);
        self.compiled += 1;
        let id = module
            .declare_function(&name, Linkage::Local, &sig)
            .map_err(|e| e.to_string())?;
        module.clear_context(&mut self.ctx);
        self.ctx.func.signature = sig;
        self.ctx.func.name = UserFuncName::user(0, id.as_u32());
        let target = module.target_config();
        let own = module.declare_func_in_func(id, &mut self.ctx.func);
        translate::translate(
            &mut self.ctx.func,
            &mut self.fctx,
            req,
            call_conv,
            target,
            own,
        )?;
        if std::env::var_os("SIGMA_JIT_DUMP").is_some() {
            eprintln!(
                "; sigma function {}\n{}",
                req.func_id,
                self.ctx.func.display()
            );
        }
        module
            .define_function(id, &mut self.ctx)
            .map_err(|e| format!("code generation failed: {e:?}"))?;
        module.finalize_definitions().map_err(|e| e.to_string())?;
        let code = module.get_finalized_function(id);
        if let Some(dir) = std::env::var_os("SIGMA_JIT_DUMP_CODE") {
            // Machine code for offline disassembly (`objdump -D -b binary -m i386:x86-64`).
            let size = self
                .ctx
                .compiled_code()
                .map_or(0, |c| c.code_info().total_size as usize);
            // SAFETY: the finalized function occupies `size` readable bytes at `code`.
            let bytes = unsafe { std::slice::from_raw_parts(code, size) };
            let path = std::path::Path::new(&dir).join(format!("{name}.bin"));
            let _ = std::fs::write(path, bytes);
        }
        // SAFETY: the function was compiled with the native signature
        // `(ctx: i64, regs: i64, entry: i32) -> (i64, i64)` in the host's default calling
        // convention, which is `extern "C"` for pointers and integers; its first return word is
        // in the register where an `extern "C"` function returns a `u32`, whose low 32 bits are
        // the status (`translate::native_sig`), and the second is in a caller-saved register
        // that a caller expecting one `u32` ignores.
        Ok(unsafe { std::mem::transmute::<*const u8, NativeFn>(code) })
    }

    fn release(&mut self, group: u64) {
        if let Some(m) = self.groups.remove(&group) {
            // SAFETY: the Vm releases a group only when it unloads that module: none of its
            // functions is running or reachable through the Vm's entry table any more.
            unsafe { m.free_memory() };
        }
    }

    fn groups(&self) -> usize {
        self.groups.len()
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        for (_, m) in self.groups.drain() {
            // SAFETY: the Vm owning this compiler is being dropped with it, so no code from
            // this module can run any more.
            unsafe { m.free_memory() };
        }
    }
}
