//! Linking modules together: finding imported modules on the search path, loading them (once
//! per file), resolving imported functions and globals against their exports, and checking
//! every use of an import against the exporter's signature or type.
//!
//! Invariants:
//! - A module is linked only after every module it imports is linked and initialized, so
//!   `.init` functions run in dependency order, each once.
//! - A file is loaded at most once per Vm (keyed by its canonical path); a module name is
//!   loaded at most once, and `.import name` finds a loaded module of that name first.
//! - Modules being linked are on `Vm::loading`; importing one of them again is an import cycle.
//! - After [`Vm::resolve_imports`], every call of an imported function passes the right number
//!   of arguments, and every argument or global write whose type is not statically the
//!   exporter's carries a run-time check in the returned [`ModuleInfo`], so the callee's typed
//!   registers hold values of their types exactly as with local calls.

use std::path::{Path, PathBuf};

use sigma_runtime::module::{Module, Operand, Pattern};
use sigma_runtime::opcodes::Opcode;
use sigma_runtime::types::Type;
use sigma_runtime::verify::{operand_type, CheckSite, ModuleInfo, RuntimeCheck};

use crate::vm::{LinkError, Vm};

/// What linking a module's imports produced.
pub(crate) struct Imports {
    /// Vm function id of each imported function.
    pub funcs: Vec<u32>,
    /// Vm global index of each imported global.
    pub globals: Vec<u32>,
    /// Vm multimethod id of each imported multimethod.
    pub mms: Vec<u32>,
    /// Vm record type ids of foreign record types the added checks refer to (numbered after
    /// the module's own types).
    pub foreign_types: Vec<u32>,
    /// The verifier's findings plus the checks of imported uses.
    pub info: ModuleInfo,
}

impl Vm {
    /// The methods of `module` in Vm numbering — (multimethod, patterns, function) — checked
    /// against their multimethods and functions as [`Vm::add_method`] checks the host's. The
    /// module's own multimethods are already registered from `mm_base`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn link_methods(
        &self,
        module: &Module,
        imports: &Imports,
        mm_base: u32,
        type_base: u32,
        func_base: u32,
    ) -> Result<Vec<(u32, Vec<Pattern>, u32)>, LinkError> {
        let own_mms = module.multimethods.len();
        let own_funcs = module.functions.len();
        let vm_type = |t: Type| match t {
            Type::Record(i) => Type::Record(type_base + i),
            t => t,
        };
        let name = |t: Type| match t {
            Type::Record(id) if id >= type_base => module
                .types
                .get((id - type_base) as usize)
                .map_or_else(|| "record".to_owned(), |r| r.name.clone()),
            t => self.type_text(t),
        };
        let mut out = Vec::with_capacity(module.methods.len());
        for meth in &module.methods {
            let mi = meth.multimethod as usize;
            let mm = if mi < own_mms {
                mm_base + mi as u32
            } else {
                imports.mms[mi - own_mms]
            };
            let fi = meth.func as usize;
            let (func, params) = if fi < own_funcs {
                let f = &module.functions[fi];
                let params: Vec<Type> = f.param_types().iter().map(|t| vm_type(*t)).collect();
                (func_base + fi as u32, params)
            } else {
                let id = imports.funcs[fi - own_funcs];
                (id, self.funcs[id as usize].param_types.clone())
            };
            let patterns: Vec<Pattern> = meth
                .patterns
                .iter()
                .map(|p| match p {
                    Pattern::Type(t) => Pattern::Type(vm_type(*t)),
                    p => p.clone(),
                })
                .collect();
            let fname = module.func_name(meth.func);
            if let Err(e) = self.check_method(mm, &patterns, &fname, &params, &name) {
                let mut chain = self.loading.clone();
                chain.push(module.name.clone());
                return Err(LinkError::Method {
                    chain: chain.join(" -> "),
                    message: format!(
                        "method {} {} {fname}: {e}",
                        module.multimethod_name(meth.multimethod),
                        sigma_runtime::dispatch::patterns_text(&meth.patterns, |t| module
                            .type_name(t))
                    ),
                });
            }
            out.push((mm, patterns, func));
        }
        Ok(out)
    }

    /// Adds a directory to the module search path (after the importing file's own directory
    /// and the directories added before).
    pub fn add_module_path(&mut self, dir: impl Into<PathBuf>) {
        self.module_paths.push(dir.into());
    }

    /// The module search path, in search order (the importing file's directory comes first).
    pub fn module_paths(&self) -> &[PathBuf] {
        &self.module_paths
    }

    /// The index of the loaded module called `name`.
    pub fn module_index(&self, name: &str) -> Option<usize> {
        self.modules.iter().position(|m| m.name == name)
    }

    /// Loads, links and initializes a module file (`.sbc` or `.sbas`) and the modules it
    /// imports. Loading the same file again returns the same module.
    pub fn load_file(&mut self, path: &Path) -> Result<usize, LinkError> {
        let canonical = std::fs::canonicalize(path).map_err(|e| LinkError::Load {
            chain: self.chain(),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        if let Some(&m) = self.loaded_paths.get(&canonical) {
            return Ok(m);
        }
        let bytes = std::fs::read(&canonical).map_err(|e| LinkError::Load {
            chain: self.chain(),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        let (module, info) = sigma_runtime::load_source(&bytes, &path.display().to_string())
            .map_err(|e| LinkError::Load {
                chain: self.chain(),
                message: e.to_string(),
            })?;
        let dir = canonical.parent().map(Path::to_path_buf);
        let m = self.link(&module, &info, dir.as_deref())?;
        self.loaded_paths.insert(canonical, m);
        Ok(m)
    }

    /// Links and initializes a module that was read from the file at `path` (its directory is
    /// searched first for the modules it imports; the file counts as loaded).
    pub fn load_from(
        &mut self,
        module: &Module,
        info: &ModuleInfo,
        path: &Path,
    ) -> Result<usize, LinkError> {
        let canonical = std::fs::canonicalize(path).ok();
        if let Some(&m) = canonical.as_ref().and_then(|c| self.loaded_paths.get(c)) {
            return Ok(m);
        }
        let dir = canonical
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let m = self.link(module, info, dir.as_deref())?;
        if let Some(c) = canonical {
            self.loaded_paths.insert(c, m);
        }
        Ok(m)
    }

    /// The module called `name`: already loaded, or loaded now from the search path (what
    /// `sys load_module` does with a name).
    pub fn load_by_name(&mut self, name: &str) -> Result<usize, LinkError> {
        if !sigma_runtime::verify::is_module_name(name) {
            return Err(LinkError::Load {
                chain: self.chain(),
                message: format!(
                    "`{name}` is not a module name (a path must end in .sbas or .sbc)"
                ),
            });
        }
        self.import_module(name, None)
    }

    /// The chain of modules being linked, `app -> util`.
    pub(crate) fn chain(&self) -> String {
        if self.loading.is_empty() {
            "loading".to_owned()
        } else {
            self.loading.join(" -> ")
        }
    }

    /// The module `name` imported by the module being linked (whose file is in `dir`, if it
    /// came from a file): already loaded, or loaded now from the search path.
    fn import_module(&mut self, name: &str, dir: Option<&Path>) -> Result<usize, LinkError> {
        if let Some(pos) = self.loading.iter().position(|m| m == name) {
            let mut cycle = self.loading[pos..].to_vec();
            cycle.push(name.to_owned());
            return Err(LinkError::ImportCycle {
                chain: cycle.join(" -> "),
            });
        }
        if let Some(m) = self.module_index(name) {
            return Ok(m);
        }
        let dirs: Vec<PathBuf> = dir
            .map(Path::to_path_buf)
            .into_iter()
            .chain(self.module_paths.iter().cloned())
            .collect();
        let mut searched = Vec::new();
        for d in &dirs {
            for ext in ["sbc", "sbas"] {
                let candidate = d.join(format!("{name}.{ext}"));
                if candidate.is_file() {
                    let m = self.load_file(&candidate)?;
                    if self.modules[m].name != name {
                        return Err(LinkError::ModuleName {
                            message: format!(
                                "{}: {} was imported as `{name}` but declares `.module {}`",
                                self.chain(),
                                candidate.display(),
                                self.modules[m].name
                            ),
                        });
                    }
                    return Ok(m);
                }
                searched.push(candidate.display().to_string());
            }
        }
        Err(LinkError::ModuleNotFound {
            chain: self.chain(),
            import: name.to_owned(),
            searched: if searched.is_empty() {
                "nowhere: no search path is set".to_owned()
            } else {
                searched.join(", ")
            },
        })
    }

    /// Links the imports of `module` (loading imported modules as needed) and checks its uses
    /// of them. `self.loading` already ends with this module's name.
    pub(crate) fn resolve_imports(
        &mut self,
        module: &Module,
        info: &ModuleInfo,
        dir: Option<&Path>,
    ) -> Result<Imports, LinkError> {
        let mut modules = Vec::with_capacity(module.imports.len());
        for name in &module.imports {
            modules.push(self.import_module(name, dir)?);
        }
        let missing =
            |vm: &Vm, m: usize, kind: &'static str, name: &str| LinkError::MissingExport {
                chain: vm.chain(),
                module: vm.modules[m].name.clone(),
                kind,
                name: name.to_owned(),
            };
        let mut funcs = Vec::with_capacity(module.imported_functions.len());
        for sym in &module.imported_functions {
            let m = modules[sym.module as usize];
            match self.modules[m].exports.get(&sym.name) {
                Some(&f) => funcs.push(f),
                None => return Err(missing(self, m, "function", &sym.name)),
            }
        }
        let mut globals = Vec::with_capacity(module.imported_globals.len());
        for sym in &module.imported_globals {
            let m = modules[sym.module as usize];
            match self.modules[m].global_exports.get(&sym.name) {
                Some(&g) => globals.push(g),
                None => return Err(missing(self, m, "global", &sym.name)),
            }
        }
        let mut mms = Vec::with_capacity(module.imported_multimethods.len());
        for sym in &module.imported_multimethods {
            let m = modules[sym.module as usize];
            match self.modules[m].mm_exports.get(&sym.name) {
                Some(&id) => mms.push(id),
                None => return Err(missing(self, m, "multimethod", &sym.name)),
            }
        }
        let mut checker = ImportChecker {
            vm: self,
            module,
            funcs: &funcs,
            globals: &globals,
            mms: &mms,
            foreign_types: Vec::new(),
            type_base: self.record_types.len() as u32,
        };
        let mut info = info.clone();
        for (fi, f) in module.functions.iter().enumerate() {
            let mut added = Vec::new();
            for (pc, ins) in f.code.iter().enumerate() {
                checker.instruction(fi, pc as u32, ins, &mut added)?;
            }
            if !added.is_empty() {
                let checks = &mut info.functions[fi].checks;
                checks.extend(added);
                checks.sort_by_key(|c| c.pc);
            }
        }
        let foreign_types = checker.foreign_types;
        Ok(Imports {
            funcs,
            globals,
            mms,
            foreign_types,
            info,
        })
    }
}

/// Checks one module's uses of its imports against what they resolved to.
struct ImportChecker<'a> {
    vm: &'a Vm,
    module: &'a Module,
    funcs: &'a [u32],
    globals: &'a [u32],
    mms: &'a [u32],
    /// Vm record type ids that checks refer to, numbered after the module's own types.
    foreign_types: Vec<u32>,
    /// Vm id the module's own record type 0 will get.
    type_base: u32,
}

impl ImportChecker<'_> {
    /// A Vm type in the module's numbering (foreign record types get numbers after its own).
    fn local_type(&mut self, t: Type) -> Type {
        let Type::Record(id) = t else { return t };
        let own = self.module.types.len() as u32;
        let k = match self.foreign_types.iter().position(|&f| f == id) {
            Some(k) => k,
            None => {
                self.foreign_types.push(id);
                self.foreign_types.len() - 1
            }
        };
        Type::Record(own + k as u32)
    }

    /// A module type in the Vm's numbering.
    fn vm_type(&self, t: Type) -> Type {
        match t {
            Type::Record(i) => Type::Record(self.type_base + i),
            t => t,
        }
    }

    fn type_name(&self, t: Type) -> String {
        match t {
            Type::Record(id) => self
                .vm
                .record_types
                .get(id as usize)
                .map_or_else(|| "record".to_owned(), |r| r.name.clone()),
            t => t.name().to_owned(),
        }
    }

    /// Whether a value of static module type `have` may flow into a slot of Vm type `want`:
    /// `Ok(None)` statically, `Ok(Some(check))` with a run-time check, `Err` never.
    fn flow(&mut self, have: Type, want: Type, nullable: bool) -> Result<Option<Type>, String> {
        let have_vm = self.vm_type(have);
        if want == Type::Any || have_vm == want || (nullable && have == Type::Nil) {
            Ok(None)
        } else if have == Type::Any {
            Ok(Some(self.local_type(want)))
        } else {
            Err(format!(
                "is {} but {} is expected",
                self.type_name(have_vm),
                self.type_name(want)
            ))
        }
    }

    fn instruction(
        &mut self,
        fi: usize,
        pc: u32,
        ins: &sigma_runtime::module::Instr,
        added: &mut Vec<RuntimeCheck>,
    ) -> Result<(), LinkError> {
        let f = &self.module.functions[fi];
        let own_funcs = self.module.functions.len();
        let own_globals = self.module.globals.len();
        let mismatch = |message: String| LinkError::ImportMismatch {
            chain: self.vm.chain(),
            function: f.name.clone(),
            pc,
            message,
        };
        match (ins.op, &ins.operands[..]) {
            (Opcode::Call, [_, Operand::Func(x), ..])
            | (Opcode::TailCall, [Operand::Func(x), ..])
                if *x as usize >= own_funcs =>
            {
                let first = if ins.op == Opcode::Call { 2 } else { 1 };
                let callee = &self.vm.funcs[self.funcs[*x as usize - own_funcs] as usize];
                let name = self.module.func_name(*x);
                let nargs = ins.operands.len() - first;
                if nargs != callee.param_types.len() {
                    return Err(mismatch(format!(
                        "{}: `{name}` takes {} argument(s) but {nargs} given",
                        ins.op,
                        callee.param_types.len()
                    )));
                }
                let mine = f.ret;
                if ins.op == Opcode::TailCall && mine != Type::Any {
                    let mine_vm = self.vm_type(mine);
                    if callee.ret != mine_vm {
                        return Err(mismatch(format!(
                            "tailcall: `{name}` returns {} but this function returns {}; use call and ret",
                            self.type_name(callee.ret),
                            self.type_name(mine_vm)
                        )));
                    }
                }
                let params = callee.param_types.clone();
                for (i, &want) in params.iter().enumerate() {
                    let have = operand_type(self.module, f, &ins.operands[first + i]);
                    match self.flow(have, want, false) {
                        Ok(None) => {}
                        Ok(Some(ty)) => added.push(RuntimeCheck {
                            pc,
                            site: CheckSite::Operand((first + i) as u8),
                            ty,
                            nullable: false,
                        }),
                        Err(why) => {
                            return Err(mismatch(format!(
                                "{}: argument {} of `{name}` {why}",
                                ins.op,
                                i + 1
                            )))
                        }
                    }
                }
            }
            (Opcode::Dispatch, [_, Operand::Multimethod(x), ..])
                if *x as usize >= self.module.multimethods.len() =>
            {
                let id = self.mms[*x as usize - self.module.multimethods.len()];
                let arity = self.vm.multimethods[id as usize].table.arity();
                let nargs = ins.operands.len() - 2;
                if nargs != arity {
                    return Err(mismatch(format!(
                        "dispatch: multimethod `{}` takes {arity} argument(s) but {nargs} given",
                        self.module.multimethod_name(*x)
                    )));
                }
            }
            (Opcode::SetG, [Operand::Global(g), ..]) if *g as usize >= own_globals => {
                let gid = self.globals[*g as usize - own_globals];
                let want = self.vm.global_types[gid as usize];
                let have = operand_type(self.module, f, &ins.operands[1]);
                let nullable = !want.is_immediate();
                match self.flow(have, want, nullable) {
                    Ok(None) => {}
                    Ok(Some(ty)) => added.push(RuntimeCheck {
                        pc,
                        site: CheckSite::Operand(1),
                        ty,
                        nullable,
                    }),
                    Err(why) => {
                        return Err(mismatch(format!(
                            "setg: the value for global `{}` {why}",
                            self.module.global_name(*g)
                        )))
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
