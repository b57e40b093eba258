//! Multimethod dispatch: the one implementation of method selection both tiers use.
//!
//! A [`MethodTable`] holds the methods of one multimethod with their patterns in the Vm's
//! numbering (record types by Vm id). [`MethodTable::select`] finds, among the methods whose
//! patterns all match the arguments, the most specific one: per position a literal pattern is
//! more specific than a type pattern, which is more specific than `any`; method A is more
//! specific than B when it is at least as specific at every position and strictly more at one.
//!
//! Call sites cache selections keyed by [`MethodTable::key`]: two words per argument, the tag
//! (with the record type id for records) and, at a position where some method has a literal
//! pattern, the payload of an immediate. A str argument at a position with a str literal
//! pattern makes the call uncacheable (its content, not its identity, decides).
//!
//! Invariants: a table never holds two methods with the same patterns; every method has
//! exactly the table's arity of patterns; `lits` describes the current methods.

use crate::heap::record_type_of;
use crate::module::{Constant, Pattern};
use crate::types::Type;
use crate::value::{Tag, Value};

/// Whether literal `c` matches `v`: a value of the literal's own kind that is `eq` to it
/// (`0` matches the int 0 but not the float 0.0; strings by content).
pub fn lit_matches(c: &Constant, v: Value) -> bool {
    match c {
        Constant::Nil => v.tag == Tag::Nil as u64,
        Constant::Bool(b) => v.tag == Tag::Bool as u64 && v.bits == *b as u64,
        Constant::Int(i) => v.tag == Tag::Int as u64 && v.bits as i64 == *i,
        Constant::Float(x) => v.tag == Tag::Float as u64 && f64::from_bits(v.bits) == *x,
        Constant::Char(ch) => v.tag == Tag::Char as u64 && v.bits == *ch as u64,
        Constant::Str(s) => v.tag == Tag::Str as u64 && v.as_str() == Some(s.as_str()),
    }
}

/// Whether pattern `p` (Vm numbering) matches `v`.
pub fn matches(p: &Pattern, v: Value) -> bool {
    match p {
        Pattern::Any => true,
        Pattern::Type(t) => t.admits(v),
        Pattern::Lit(c) => lit_matches(c, v),
    }
}

/// Checks that a parameter of type `param` accepts every value pattern `p` matches (both in
/// one numbering); the error says why not, naming types with `name`.
pub fn pattern_fits(p: &Pattern, param: Type, name: impl Fn(Type) -> String) -> Result<(), String> {
    if param == Type::Any {
        return Ok(());
    }
    let have = match p {
        Pattern::Any => {
            return Err(format!(
                "pattern `any` matches every value but the parameter is {}",
                name(param)
            ))
        }
        Pattern::Type(t) => *t,
        Pattern::Lit(c) => c.ty(),
    };
    if have == param {
        Ok(())
    } else {
        let what = match p {
            Pattern::Lit(c) => format!("pattern `{c}` matches a {}", name(have)),
            _ => format!("pattern `{}` matches a {}", name(have), name(have)),
        };
        Err(format!("{what} but the parameter is {}", name(param)))
    }
}

/// Whether a pattern is allowed at all: `Type(Any)` is spelled `Any`.
pub fn pattern_valid(p: &Pattern) -> bool {
    !matches!(p, Pattern::Type(Type::Any))
}

/// One method of a multimethod.
#[derive(Clone, Debug)]
pub struct MethodEntry {
    /// One pattern per argument.
    pub patterns: Vec<Pattern>,
    /// The Vm function it calls.
    pub func: u32,
}

/// Literal patterns at one argument position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LitPosition {
    /// Some method has a literal pattern here: the value, not only its tag, decides.
    pub any: bool,
    /// Some method has a str literal here: str arguments cannot be cached.
    pub string: bool,
}

/// The outcome of [`MethodTable::select`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The most specific matching method's function.
    Found(u32),
    /// No method matches.
    NoMethod,
    /// Several matching methods are maximal (their indices in the table).
    Ambiguous(Vec<usize>),
}

/// The methods of one multimethod.
#[derive(Clone, Debug, Default)]
pub struct MethodTable {
    arity: usize,
    methods: Vec<MethodEntry>,
    lits: Vec<LitPosition>,
}

impl MethodTable {
    /// An empty table for a multimethod of `arity` arguments.
    pub fn new(arity: usize) -> Self {
        MethodTable {
            arity,
            methods: Vec::new(),
            lits: vec![LitPosition::default(); arity],
        }
    }

    /// The arity.
    pub fn arity(&self) -> usize {
        self.arity
    }

    /// The methods, in the order they were added.
    pub fn methods(&self) -> &[MethodEntry] {
        &self.methods
    }

    /// Literal patterns per position.
    pub fn lits(&self) -> &[LitPosition] {
        &self.lits
    }

    /// The index of the method with exactly these patterns, if any.
    pub fn find(&self, patterns: &[Pattern]) -> Option<usize> {
        self.methods.iter().position(|m| {
            m.patterns.len() == patterns.len()
                && m.patterns.iter().zip(patterns).all(|(a, b)| a.same(b))
        })
    }

    /// Adds a method. The caller has checked the arity and that no method has the same
    /// patterns ([`MethodTable::find`]).
    pub fn add(&mut self, patterns: Vec<Pattern>, func: u32) {
        debug_assert_eq!(patterns.len(), self.arity);
        for (i, p) in patterns.iter().enumerate() {
            if let (Pattern::Lit(c), Some(l)) = (p, self.lits.get_mut(i)) {
                l.any = true;
                l.string |= matches!(c, Constant::Str(_));
            }
        }
        self.methods.push(MethodEntry { patterns, func });
    }

    /// Selects the method for `args` (exactly `arity` values).
    pub fn select(&self, args: &[Value]) -> Selection {
        let candidates: Vec<usize> = self
            .methods
            .iter()
            .enumerate()
            .filter(|(_, m)| m.patterns.iter().zip(args).all(|(p, v)| matches(p, *v)))
            .map(|(i, _)| i)
            .collect();
        let more_specific = |a: usize, b: usize| {
            let (pa, pb) = (&self.methods[a].patterns, &self.methods[b].patterns);
            let mut strict = false;
            for (x, y) in pa.iter().zip(pb) {
                match x.rank().cmp(&y.rank()) {
                    std::cmp::Ordering::Less => return false,
                    std::cmp::Ordering::Greater => strict = true,
                    std::cmp::Ordering::Equal => {}
                }
            }
            strict
        };
        let maximal: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&a| !candidates.iter().any(|&b| b != a && more_specific(b, a)))
            .collect();
        match maximal.as_slice() {
            [] => Selection::NoMethod,
            [one] => Selection::Found(self.methods[*one].func),
            _ => Selection::Ambiguous(maximal),
        }
    }

    /// Writes the cache key of `args` into `out` (two words per argument) and returns whether
    /// the selection for these arguments may be cached under it.
    pub fn key(&self, args: &[Value], out: &mut [u64]) -> bool {
        for (i, v) in args.iter().enumerate() {
            let lit = self.lits.get(i).copied().unwrap_or_default();
            let w0 = match record_type_of(*v) {
                Some(rt) => v.tag | ((rt as u64) << 32),
                None => v.tag,
            };
            let w1 = if lit.any && v.tag < Tag::FIRST_REF {
                v.bits
            } else {
                if lit.string && v.tag == Tag::Str as u64 {
                    return false;
                }
                0
            };
            out[2 * i] = w0;
            out[2 * i + 1] = w1;
        }
        true
    }
}

/// Patterns as written in messages: `(Point, any, 0)`.
pub fn patterns_text(patterns: &[Pattern], name: impl Fn(Type) -> String) -> String {
    let parts: Vec<String> = patterns
        .iter()
        .map(|p| match p {
            Pattern::Any => "any".to_owned(),
            Pattern::Type(t) => name(*t),
            Pattern::Lit(c) => c.to_string(),
        })
        .collect();
    format!("({})", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &[Pattern], f: u32) -> (Vec<Pattern>, u32) {
        (p.to_vec(), f)
    }

    fn table(ms: &[(Vec<Pattern>, u32)]) -> MethodTable {
        let mut tb = MethodTable::new(ms[0].0.len());
        for (p, f) in ms {
            tb.add(p.clone(), *f);
        }
        tb
    }

    #[test]
    fn literal_beats_type_beats_any() {
        let tb = table(&[
            t(&[Pattern::Any], 1),
            t(&[Pattern::Type(Type::Int)], 2),
            t(&[Pattern::Lit(Constant::Int(0))], 3),
        ]);
        assert_eq!(tb.select(&[Value::int(0)]), Selection::Found(3));
        assert_eq!(tb.select(&[Value::int(5)]), Selection::Found(2));
        assert_eq!(tb.select(&[Value::float(0.0)]), Selection::Found(1));
        assert_eq!(tb.select(&[Value::NIL]), Selection::Found(1));
    }

    #[test]
    fn crossing_methods_are_ambiguous_and_missing_ones_are_reported() {
        let tb = table(&[
            t(&[Pattern::Type(Type::Int), Pattern::Any], 1),
            t(&[Pattern::Any, Pattern::Type(Type::Int)], 2),
        ]);
        assert_eq!(
            tb.select(&[Value::int(1), Value::int(2)]),
            Selection::Ambiguous(vec![0, 1])
        );
        assert_eq!(tb.select(&[Value::int(1), Value::NIL]), Selection::Found(1));
        assert_eq!(tb.select(&[Value::NIL, Value::NIL]), Selection::NoMethod);
    }

    #[test]
    fn keys_include_immediates_only_at_literal_positions() {
        let tb = table(&[t(
            &[Pattern::Lit(Constant::Int(0)), Pattern::Type(Type::Int)],
            1,
        )]);
        let mut k = [0u64; 4];
        assert!(tb.key(&[Value::int(7), Value::int(9)], &mut k));
        assert_eq!(k, [Tag::Int as u64, 7, Tag::Int as u64, 0]);
    }

    #[test]
    fn fitting_parameters() {
        let n = |t: Type| t.name().to_owned();
        assert!(pattern_fits(&Pattern::Any, Type::Any, n).is_ok());
        assert!(pattern_fits(&Pattern::Type(Type::Int), Type::Int, n).is_ok());
        assert!(pattern_fits(&Pattern::Lit(Constant::Int(0)), Type::Int, n).is_ok());
        let e = pattern_fits(&Pattern::Any, Type::Int, n).unwrap_err();
        assert!(e.contains("pattern `any` matches every value"), "{e}");
        let e = pattern_fits(&Pattern::Lit(Constant::Str("q".into())), Type::Int, n).unwrap_err();
        assert!(e.contains("matches a str but the parameter is int"), "{e}");
    }
}
