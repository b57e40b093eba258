//! The Vm's side of the FFI: opening a module's `.native` libraries and resolving its
//! `.extern` symbols when it is linked, and running `ncall` (for both tiers: compiled code
//! either calls the resolved address directly or steps through this code).
//!
//! Invariants:
//! - Library objects are heap objects (`native` kind). The linked module that declared them
//!   holds them in [`crate::LoadedModule`]'s `natives` (collector roots, and their only strong
//!   owners); the Vm's `native_libs` table is weak (pruned by each collection) and only lets a
//!   second module that names the same library share the open object. A library is closed
//!   when its object is released: when no module holds it any more, or when the Vm is dropped.
//! - An extern's address is used only while the module that resolved it is linked, so its
//!   library is open whenever it is called.
//! - Without the `ffi` capability nothing is opened or resolved: every extern is linked
//!   unresolved, and calling it traps with `PermissionDenied`.

use sigma_runtime::ffi::{ExternFn, LibraryTracker, NativeLibObj, NativeRet};
use sigma_runtime::module::Module;
use sigma_runtime::trap::OpError;
use sigma_runtime::value::Value;

use crate::vm::{LinkError, Vm};

impl Vm {
    /// Opens (or shares) the libraries of `module` and resolves its externs into the Vm's
    /// extern slots reserved from `extern_base`. Returns the library objects (the caller stores
    /// them in the module); they are kept in `temp_roots` until the caller truncates them.
    pub(crate) fn link_natives(
        &mut self,
        module: &Module,
        extern_base: u32,
    ) -> Result<Vec<Value>, LinkError> {
        let mut libs = Vec::with_capacity(module.natives.len());
        let granted = self.config.capabilities.ffi;
        if granted {
            for lib in &module.natives {
                let v =
                    self.open_library(&lib.path)
                        .map_err(|message| LinkError::NativeLibrary {
                            module: module.name.clone(),
                            alias: lib.alias.clone(),
                            library: lib.path.clone(),
                            message,
                        })?;
                self.temp_roots.push(v);
                libs.push(v);
            }
        }
        let mut resolved = Vec::with_capacity(module.externs.len());
        for (i, x) in module.externs.iter().enumerate() {
            let addr = match libs.get(x.library as usize) {
                Some(&lib) => {
                    // SAFETY: `lib` is a live native object (a temporary root).
                    let obj = unsafe { NativeLibObj::of(lib) };
                    let addr = obj.symbol(&x.symbol).map_err(|message| {
                        let l = &module.natives[x.library as usize];
                        LinkError::NativeSymbol {
                            module: module.name.clone(),
                            alias: l.alias.clone(),
                            library: l.path.clone(),
                            symbol: x.symbol.clone(),
                            message,
                        }
                    })?;
                    Some(addr)
                }
                None => None,
            };
            resolved.push(ExternFn::new(
                module.extern_name(i as u32),
                x.params.clone(),
                x.ret,
                addr,
            ));
        }
        for (i, x) in resolved.into_iter().enumerate() {
            self.externs[extern_base as usize + i] = x;
        }
        Ok(libs)
    }

    /// The open library object for `name`: shared with another module if one has it open,
    /// else newly opened. The error is the loader's message.
    fn open_library(&mut self, name: &str) -> Result<Value, String> {
        for &v in &self.native_libs {
            // SAFETY: the weak table holds only live native objects (collections prune it).
            if unsafe { NativeLibObj::of(v) }.name() == name {
                return Ok(v);
            }
        }
        self.reserve(std::mem::size_of::<NativeLibObj>() + 16, &[])
            .map_err(|e| e.message)?;
        let v = NativeLibObj::open(&mut self.heap, name, &self.library_tracker)?;
        self.native_libs.push(v);
        Ok(v)
    }

    /// Runs `ncall` of Vm extern `ext` with `args` (the same number as its parameters).
    pub(crate) fn ncall(&mut self, ext: u32, args: &[Value]) -> Result<Value, OpError> {
        self.runtime_ncalls += 1;
        let r = self.externs[ext as usize].call(args)?;
        Ok(match r {
            NativeRet::Nil | NativeRet::Str(None) => Value::NIL,
            NativeRet::Int(i) => Value::int(i),
            NativeRet::Float(x) => Value::float(x),
            NativeRet::Str(Some(s)) => self.new_str(&s)?,
        })
    }

    /// `ncall`s run through the runtime's libffi path: every one the interpreter runs, and
    /// those compiled code hands back to it (str conversions, failed argument checks); direct
    /// calls from compiled code are not counted.
    pub fn runtime_native_calls(&self) -> u64 {
        self.runtime_ncalls
    }

    /// Shared libraries this Vm has open (opened for linked modules and not closed yet).
    pub fn open_native_libraries(&self) -> usize {
        self.library_tracker.open()
    }

    /// A counter of this Vm's open shared libraries that outlives the Vm (dropping the Vm
    /// closes them all, so it then reads 0).
    pub fn native_library_tracker(&self) -> LibraryTracker {
        self.library_tracker.clone()
    }
}
