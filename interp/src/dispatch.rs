//! Multimethods in the Vm: the multimethods of every linked module with their method tables,
//! the methods modules and the host add, and the call-site caches of `dispatch`.
//!
//! Selection itself is `sigma_runtime::dispatch` (one semantics for both tiers: compiled code
//! either guards a cached selection or runs the interpreter's op). Each call site keeps a small
//! cache of (argument key → function) entries, valid for one value of the Vm's dispatch epoch
//! (`VmCtx::epoch`), which every change of any method table bumps.
//!
//! Invariants:
//! - A cached entry was selected by the full algorithm for arguments with the same key while
//!   the epoch had the site's value, so a hit selects what a full selection would.
//! - Every method's function takes the multimethod's arity of parameters, and each typed
//!   parameter admits every value its pattern matches (checked by the verifier, the linker or
//!   [`Vm::add_method`]), so a selected function needs no run-time parameter checks.

use std::cell::Cell;

use sigma_runtime::dispatch::{pattern_fits, pattern_valid, patterns_text, MethodTable, Selection};
use sigma_runtime::module::Pattern;
use sigma_runtime::trap::{OpError, TrapKind};
use sigma_runtime::types::Type;
use sigma_runtime::value::Value;
use thiserror::Error;

use crate::vm::Vm;

/// Entries per call-site cache.
pub(crate) const WAYS: usize = 4;
/// Calls with more arguments than this are not cached per site.
pub(crate) const MAX_KEY_ARGS: usize = 8;

/// A multimethod of a linked module.
pub(crate) struct MultimethodInfo {
    /// Its declared name.
    pub name: String,
    /// The declaring module (Vm index).
    pub module: usize,
    /// Its methods.
    pub table: MethodTable,
}

/// The cache of one `dispatch` instruction.
pub struct DispatchSite {
    /// Vm multimethod id.
    pub mm: u32,
    /// Bytecode pc of the instruction.
    pub pc: u32,
    /// Argument count.
    pub nargs: u16,
    /// The epoch the entries are valid for.
    pub epoch: Cell<u64>,
    /// Number of valid entries.
    pub len: Cell<u8>,
    /// The entry replaced next when the cache is full.
    pub next: Cell<u8>,
    /// Function of each entry.
    pub funcs: [Cell<u32>; WAYS],
    /// Keys of the entries, `2 * nargs` words each (empty when `nargs > MAX_KEY_ARGS`).
    pub keys: Box<[Cell<u64>]>,
}

impl DispatchSite {
    /// An empty cache.
    pub fn new(mm: u32, pc: u32, nargs: u16) -> Self {
        let words = if (nargs as usize) <= MAX_KEY_ARGS {
            WAYS * 2 * nargs as usize
        } else {
            0
        };
        DispatchSite {
            mm,
            pc,
            nargs,
            epoch: Cell::new(u64::MAX),
            len: Cell::new(0),
            next: Cell::new(0),
            funcs: Default::default(),
            keys: (0..words).map(|_| Cell::new(0)).collect(),
        }
    }
}

/// What the compiler may assume at a `dispatch` site that selected only one method so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonoDispatch {
    /// Bytecode pc of the instruction.
    pub pc: u32,
    /// The function selected.
    pub func: u32,
    /// The dispatch epoch of the selection.
    pub epoch: u64,
    /// What each argument was.
    pub guards: Vec<ArgGuard>,
}

/// The key of one argument of a cached selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgGuard {
    /// Its tag.
    pub tag: u64,
    /// Its record type id, for a record.
    pub record: Option<u32>,
    /// Its payload, at a position where some method has a literal pattern.
    pub bits: Option<u64>,
}

/// A method the host could not add.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MethodError {
    /// No loaded module has a multimethod of that name.
    #[error("no multimethod `{name}` is loaded (name it `module.multimethod`)")]
    UnknownMultimethod {
        /// The name given.
        name: String,
    },
    /// The number of patterns is not the multimethod's arity.
    #[error("multimethod `{multimethod}` takes {arity} argument(s) but {patterns} pattern(s) were given")]
    Arity {
        /// The multimethod.
        multimethod: String,
        /// Its arity.
        arity: usize,
        /// Patterns given.
        patterns: usize,
    },
    /// The function id does not name a function of the Vm.
    #[error("no function with id {func}")]
    UnknownFunction {
        /// The id.
        func: u32,
    },
    /// The function's parameter count is not the multimethod's arity.
    #[error("`{function}` takes {params} parameter(s) but multimethod `{multimethod}` takes {arity} argument(s)")]
    FunctionArity {
        /// The function.
        function: String,
        /// Its parameter count.
        params: usize,
        /// The multimethod.
        multimethod: String,
        /// Its arity.
        arity: usize,
    },
    /// A pattern is malformed (`Type(Any)`, or an unknown record type).
    #[error("invalid pattern {index}: {message}")]
    BadPattern {
        /// Its position (from 1).
        index: usize,
        /// Why.
        message: String,
    },
    /// A typed parameter does not admit every value its pattern matches.
    #[error("parameter {index} of `{function}`: {message}")]
    ParamType {
        /// The function.
        function: String,
        /// The parameter (from 1).
        index: usize,
        /// Why.
        message: String,
    },
    /// The multimethod already has a method with the same patterns.
    #[error("multimethod `{multimethod}` already has a method for {patterns}")]
    Duplicate {
        /// The multimethod.
        multimethod: String,
        /// The patterns.
        patterns: String,
    },
}

impl Vm {
    /// The Vm id of multimethod `name` (`module.multimethod`).
    pub fn multimethod(&self, name: &str) -> Option<u32> {
        let (module, mm) = name.rsplit_once('.')?;
        let m = self.module_index(module)?;
        self.multimethods
            .iter()
            .position(|d| d.module == m && d.name == mm)
            .map(|i| i as u32)
    }

    /// The record type `name` declared by module `module`, as a [`Type`] for patterns.
    pub fn record_type(&self, module: usize, name: &str) -> Option<Type> {
        let m = self.modules.get(module)?;
        (m.type_base..m.type_base + m.type_count)
            .find(|&id| self.record_types[id as usize].name == name)
            .map(Type::Record)
    }

    /// Adds a method to multimethod `multimethod` (`"module.name"`): calls whose arguments
    /// match `patterns` (record types by Vm id, see [`Vm::record_type`]) and no more specific
    /// method run function `func` (a Vm function id, e.g. from [`Vm::export`]). Call sites
    /// that already selected a method select again.
    pub fn add_method(
        &mut self,
        multimethod: &str,
        patterns: &[Pattern],
        func: u32,
    ) -> Result<(), MethodError> {
        let mm = self
            .multimethod(multimethod)
            .ok_or_else(|| MethodError::UnknownMultimethod {
                name: multimethod.to_owned(),
            })?;
        let fc = self
            .funcs
            .get(func as usize)
            .ok_or(MethodError::UnknownFunction { func })?;
        for (i, p) in patterns.iter().enumerate() {
            let bad_record = matches!(p, Pattern::Type(Type::Record(id)) if *id as usize >= self.record_types.len());
            if !pattern_valid(p) || bad_record {
                return Err(MethodError::BadPattern {
                    index: i + 1,
                    message: match p {
                        Pattern::Type(Type::Record(id)) => format!("no record type with id {id}"),
                        _ => "write `Pattern::Any` for any value".to_owned(),
                    },
                });
            }
        }
        let params = fc.param_types.clone();
        let fname = fc.name.clone();
        let name = |t: Type| self.type_text(t);
        self.check_method(mm, patterns, &fname, &params, &name)?;
        self.multimethods[mm as usize]
            .table
            .add(patterns.to_vec(), func);
        self.bump_dispatch_epoch();
        Ok(())
    }

    /// Checks a method for Vm multimethod `mm` against the multimethod and the function's
    /// parameters (all in Vm numbering).
    pub(crate) fn check_method(
        &self,
        mm: u32,
        patterns: &[Pattern],
        fname: &str,
        params: &[Type],
        name: &dyn Fn(Type) -> String,
    ) -> Result<(), MethodError> {
        let d = &self.multimethods[mm as usize];
        let arity = d.table.arity();
        if patterns.len() != arity {
            return Err(MethodError::Arity {
                multimethod: d.name.clone(),
                arity,
                patterns: patterns.len(),
            });
        }
        if params.len() != arity {
            return Err(MethodError::FunctionArity {
                function: fname.to_owned(),
                params: params.len(),
                multimethod: d.name.clone(),
                arity,
            });
        }
        for (i, (p, t)) in patterns.iter().zip(params).enumerate() {
            pattern_fits(p, *t, name).map_err(|message| MethodError::ParamType {
                function: fname.to_owned(),
                index: i + 1,
                message,
            })?;
        }
        if d.table.find(patterns).is_some() {
            return Err(MethodError::Duplicate {
                multimethod: d.name.clone(),
                patterns: patterns_text(patterns, name),
            });
        }
        Ok(())
    }

    /// Invalidates every call-site cache.
    pub(crate) fn bump_dispatch_epoch(&mut self) {
        self.ctx.epoch = self.ctx.epoch.wrapping_add(1);
    }

    /// The function a `dispatch` at `site` runs for `args`, from the site's cache or a full
    /// selection (which then fills the cache).
    #[inline]
    pub(crate) fn dispatch_target(
        &self,
        site: &DispatchSite,
        args: &[Value],
    ) -> Result<u32, OpError> {
        let n = args.len();
        let table = &self.multimethods[site.mm as usize].table;
        if n > MAX_KEY_ARGS {
            return self.select(site.mm, args);
        }
        let mut key = [0u64; 2 * MAX_KEY_ARGS];
        let key = &mut key[..2 * n];
        if !table.key(args, key) {
            return self.select(site.mm, args);
        }
        let epoch = self.ctx.epoch;
        if site.epoch.get() == epoch {
            for e in 0..site.len.get() as usize {
                let words = &site.keys[e * 2 * n..(e + 1) * 2 * n];
                if words.iter().zip(key.iter()).all(|(w, k)| w.get() == *k) {
                    return Ok(site.funcs[e].get());
                }
            }
        } else {
            site.epoch.set(epoch);
            site.len.set(0);
            site.next.set(0);
        }
        let func = self.select(site.mm, args)?;
        let e = site.next.get() as usize;
        for (w, k) in site.keys[e * 2 * n..(e + 1) * 2 * n].iter().zip(key.iter()) {
            w.set(*k);
        }
        site.funcs[e].set(func);
        site.next.set(((e + 1) % WAYS) as u8);
        site.len.set((site.len.get() + 1).min(WAYS as u8));
        Ok(func)
    }

    /// A full selection among the methods of multimethod `mm`.
    #[cold]
    #[inline(never)]
    pub(crate) fn select(&self, mm: u32, args: &[Value]) -> Result<u32, OpError> {
        let d = &self.multimethods[mm as usize];
        let kinds = || {
            let k: Vec<String> = args.iter().map(|v| self.kind_text(*v)).collect();
            format!("({})", k.join(", "))
        };
        match d.table.select(args) {
            Selection::Found(f) => Ok(f),
            Selection::NoMethod => Err(OpError {
                kind: TrapKind::NoMethod,
                message: format!("no method of {} matches {}", d.name, kinds()),
            }),
            Selection::Ambiguous(ix) => {
                let name = |t: Type| self.type_text(t);
                let cands: Vec<String> = ix
                    .iter()
                    .map(|&i| patterns_text(&d.table.methods()[i].patterns, name))
                    .collect();
                Err(OpError {
                    kind: TrapKind::AmbiguousMethod,
                    message: format!(
                        "ambiguous call of {} with {}: methods {} all match",
                        d.name,
                        kinds(),
                        cands.join(", ")
                    ),
                })
            }
        }
    }

    /// The single selection cached at each `dispatch` site of function `func` that has seen
    /// one (for the compiler).
    pub(crate) fn mono_dispatches(&self, func: u32) -> Vec<MonoDispatch> {
        let fc = &self.funcs[func as usize];
        let epoch = self.ctx.epoch;
        fc.dispatch_sites
            .iter()
            .filter(|s| s.epoch.get() == epoch && s.len.get() == 1 && !s.keys.is_empty())
            .map(|s| {
                let lits = self.multimethods[s.mm as usize].table.lits();
                let guards = (0..s.nargs as usize)
                    .map(|i| {
                        let w0 = s.keys[2 * i].get();
                        let w1 = s.keys[2 * i + 1].get();
                        let tag = w0 & 0xffff_ffff;
                        ArgGuard {
                            tag,
                            record: (tag == sigma_runtime::value::Tag::Record as u64)
                                .then_some((w0 >> 32) as u32),
                            bits: lits
                                .get(i)
                                .is_some_and(|l| {
                                    l.any && tag < sigma_runtime::value::Tag::FIRST_REF
                                })
                                .then_some(w1),
                        }
                    })
                    .collect();
                MonoDispatch {
                    pc: s.pc,
                    func: s.funcs[0].get(),
                    epoch,
                    guards,
                }
            })
            .collect()
    }
}
