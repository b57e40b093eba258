//! Runtime helpers: the one definition of every operation's semantics on values.
//!
//! Both tiers call these for everything beyond their inline fast paths (an int+int add inline in
//! the interpreter or the JIT must agree with [`arith`]). Helpers never panic: failures are
//! [`OpError`]s naming the operation and the operand types.

use std::cmp::Ordering;

use crate::trap::OpError;
use crate::types::Type;
use crate::value::{Tag, Value};

/// Binary arithmetic operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `add`
    Add,
    /// `sub`
    Sub,
    /// `mul`
    Mul,
    /// `div`
    Div,
    /// `rem`
    Rem,
    /// `pow`
    Pow,
}

impl ArithOp {
    /// The mnemonic.
    pub fn name(self) -> &'static str {
        match self {
            ArithOp::Add => "add",
            ArithOp::Sub => "sub",
            ArithOp::Mul => "mul",
            ArithOp::Div => "div",
            ArithOp::Rem => "rem",
            ArithOp::Pow => "pow",
        }
    }
}

/// Integer arithmetic with Sigma's semantics (wrapping; division truncates; `/0` is an error).
#[inline]
pub fn int_arith(op: ArithOp, a: i64, b: i64) -> Result<i64, OpError> {
    Ok(match op {
        ArithOp::Add => a.wrapping_add(b),
        ArithOp::Sub => a.wrapping_sub(b),
        ArithOp::Mul => a.wrapping_mul(b),
        ArithOp::Div => {
            if b == 0 {
                return Err(OpError::division_by_zero("div"));
            }
            a.wrapping_div(b)
        }
        ArithOp::Rem => {
            if b == 0 {
                return Err(OpError::division_by_zero("rem"));
            }
            a.wrapping_rem(b)
        }
        ArithOp::Pow => int_pow(a, b)?,
    })
}

/// `a ** b` on ints: wrapping; a negative exponent gives the truncated quotient `1 / a**-b`.
pub fn int_pow(a: i64, b: i64) -> Result<i64, OpError> {
    if b < 0 {
        return match a {
            0 => Err(OpError::division_by_zero("pow")),
            1 => Ok(1),
            -1 => Ok(if b & 1 == 0 { 1 } else { -1 }),
            _ => Ok(0),
        };
    }
    let (mut base, mut exp, mut acc) = (a, b as u64, 1i64);
    while exp > 0 {
        if exp & 1 == 1 {
            acc = acc.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        exp >>= 1;
    }
    Ok(acc)
}

/// Float arithmetic (IEEE; `rem` is `fmod`).
#[inline]
pub fn float_arith(op: ArithOp, a: f64, b: f64) -> f64 {
    match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => a / b,
        ArithOp::Rem => a % b,
        ArithOp::Pow => a.powf(b),
    }
}

fn num_type_error(op: &str, a: Value, b: Value) -> OpError {
    OpError::type_error(format!(
        "{op}: expected numbers, got {} and {}",
        a.kind().name(),
        b.kind().name()
    ))
}

/// `add sub mul div rem pow` on any two values.
pub fn arith(op: ArithOp, a: Value, b: Value) -> Result<Value, OpError> {
    const I: u64 = Tag::Int as u64;
    const F: u64 = Tag::Float as u64;
    let (x, y) = match (a.tag, b.tag) {
        (I, I) => return int_arith(op, a.bits as i64, b.bits as i64).map(Value::int),
        (F, F) => (a.as_float_unchecked(), b.as_float_unchecked()),
        (I, F) => (a.bits as i64 as f64, b.as_float_unchecked()),
        (F, I) => (a.as_float_unchecked(), b.bits as i64 as f64),
        _ => return Err(num_type_error(op.name(), a, b)),
    };
    Ok(Value::float(float_arith(op, x, y)))
}

/// `neg`.
pub fn neg(a: Value) -> Result<Value, OpError> {
    match a.kind() {
        Tag::Int => Ok(Value::int((a.bits as i64).wrapping_neg())),
        Tag::Float => Ok(Value::float(-a.as_float_unchecked())),
        k => Err(OpError::type_error(format!(
            "neg: expected a number, got {}",
            k.name()
        ))),
    }
}

/// `abs`.
pub fn abs(a: Value) -> Result<Value, OpError> {
    match a.kind() {
        Tag::Int => Ok(Value::int((a.bits as i64).wrapping_abs())),
        Tag::Float => Ok(Value::float(a.as_float_unchecked().abs())),
        k => Err(OpError::type_error(format!(
            "abs: expected a number, got {}",
            k.name()
        ))),
    }
}

fn two_ints(op: &str, a: Value, b: Value) -> Result<(i64, i64), OpError> {
    match (a.as_int(), b.as_int()) {
        (Some(x), Some(y)) => Ok((x, y)),
        _ => Err(OpError::type_error(format!(
            "{op}: expected ints, got {} and {}",
            a.kind().name(),
            b.kind().name()
        ))),
    }
}

/// `divu` / `remu`: unsigned division of two ints.
pub fn unsigned_div(rem: bool, a: Value, b: Value) -> Result<Value, OpError> {
    let op = if rem { "remu" } else { "divu" };
    let (x, y) = two_ints(op, a, b)?;
    if y == 0 {
        return Err(OpError::division_by_zero(op));
    }
    let (x, y) = (x as u64, y as u64);
    Ok(Value::int(if rem { x % y } else { x / y } as i64))
}

/// Exact comparison of an int with a float (`None` if the float is NaN).
pub fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // 2^63 as a float: every float at or above it exceeds every i64.
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO63 {
        return Some(Ordering::Less);
    }
    if f < -TWO63 {
        return Some(Ordering::Greater);
    }
    let t = f.trunc();
    // `t` is integral and inside the i64 range, so the cast is exact.
    match i.cmp(&(t as i64)) {
        Ordering::Equal => (0.0).partial_cmp(&(f - t)),
        o => Some(o),
    }
}

/// `eq`: numbers by value (exact across int/float), strings by content, references by identity.
pub fn values_equal(a: Value, b: Value) -> bool {
    const I: u64 = Tag::Int as u64;
    const F: u64 = Tag::Float as u64;
    match (a.tag, b.tag) {
        (I, I) => a.bits == b.bits,
        (F, F) => a.as_float_unchecked() == b.as_float_unchecked(),
        (I, F) => cmp_int_float(a.bits as i64, b.as_float_unchecked()) == Some(Ordering::Equal),
        (F, I) => cmp_int_float(b.bits as i64, a.as_float_unchecked()) == Some(Ordering::Equal),
        (x, y) if x != y => false,
        (x, _) if x == Tag::Str as u64 => a.bits == b.bits || a.as_str() == b.as_str(),
        _ => a.bits == b.bits,
    }
}

/// `same`: identity (same tag, same payload bits).
pub fn same(a: Value, b: Value) -> bool {
    a.tag == b.tag && a.bits == b.bits
}

/// Ordering comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The mnemonic of the value-producing form.
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        }
    }

    /// Whether an ordering satisfies the comparison (`None` = unordered, e.g. NaN).
    #[inline]
    pub fn holds(self, o: Option<Ordering>) -> bool {
        match (self, o) {
            (_, None) => false,
            (CmpOp::Lt, Some(o)) => o == Ordering::Less,
            (CmpOp::Le, Some(o)) => o != Ordering::Greater,
            (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
            (CmpOp::Ge, Some(o)) => o != Ordering::Less,
        }
    }
}

/// `lt le gt ge`: numbers (exact across int/float), chars, strings (bytewise).
pub fn compare(op: CmpOp, a: Value, b: Value) -> Result<bool, OpError> {
    let ord = match (a.kind(), b.kind()) {
        (Tag::Int, Tag::Int) => Some((a.bits as i64).cmp(&(b.bits as i64))),
        (Tag::Float, Tag::Float) => a.as_float_unchecked().partial_cmp(&b.as_float_unchecked()),
        (Tag::Int, Tag::Float) => cmp_int_float(a.bits as i64, b.as_float_unchecked()),
        (Tag::Float, Tag::Int) => {
            cmp_int_float(b.bits as i64, a.as_float_unchecked()).map(Ordering::reverse)
        }
        (Tag::Char, Tag::Char) => Some(a.bits.cmp(&b.bits)),
        (Tag::Str, Tag::Str) => Some(
            a.as_str()
                .unwrap_or("")
                .as_bytes()
                .cmp(b.as_str().unwrap_or("").as_bytes()),
        ),
        (x, y) => {
            return Err(OpError::type_error(format!(
                "{}: cannot order {} and {}",
                op.name(),
                x.name(),
                y.name()
            )))
        }
    };
    Ok(op.holds(ord))
}

/// `ltu leu gtu geu`: unsigned comparison of two ints.
pub fn compare_unsigned(op: CmpOp, a: Value, b: Value) -> Result<bool, OpError> {
    let name = match op {
        CmpOp::Lt => "ltu",
        CmpOp::Le => "leu",
        CmpOp::Gt => "gtu",
        CmpOp::Ge => "geu",
    };
    let (x, y) = two_ints(name, a, b)?;
    Ok(op.holds(Some((x as u64).cmp(&(y as u64)))))
}

/// Bitwise operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    /// `and`
    And,
    /// `or`
    Or,
    /// `xor`
    Xor,
    /// `shl`
    Shl,
    /// `shr` (logical)
    Shr,
    /// `sar` (arithmetic)
    Sar,
}

impl BitOp {
    /// The mnemonic.
    pub fn name(self) -> &'static str {
        match self {
            BitOp::And => "and",
            BitOp::Or => "or",
            BitOp::Xor => "xor",
            BitOp::Shl => "shl",
            BitOp::Shr => "shr",
            BitOp::Sar => "sar",
        }
    }
}

/// The int form of a bitwise operation (shift counts are taken mod 64).
#[inline]
pub fn int_bitop(op: BitOp, a: i64, b: i64) -> i64 {
    match op {
        BitOp::And => a & b,
        BitOp::Or => a | b,
        BitOp::Xor => a ^ b,
        BitOp::Shl => a.wrapping_shl(b as u32 & 63),
        BitOp::Shr => ((a as u64) >> (b as u32 & 63)) as i64,
        BitOp::Sar => a >> (b as u32 & 63),
    }
}

/// `and or xor` on ints or bools, `shl shr sar` on ints.
pub fn bitop(op: BitOp, a: Value, b: Value) -> Result<Value, OpError> {
    match (a.kind(), b.kind()) {
        (Tag::Int, Tag::Int) => Ok(Value::int(int_bitop(op, a.bits as i64, b.bits as i64))),
        (Tag::Bool, Tag::Bool) if matches!(op, BitOp::And | BitOp::Or | BitOp::Xor) => Ok(
            Value::bool(int_bitop(op, a.bits as i64, b.bits as i64) != 0),
        ),
        (x, y) => Err(OpError::type_error(format!(
            "{}: expected {}, got {} and {}",
            op.name(),
            if matches!(op, BitOp::And | BitOp::Or | BitOp::Xor) {
                "two ints or two bools"
            } else {
                "ints"
            },
            x.name(),
            y.name()
        ))),
    }
}

/// `not`: complement of an int, negation of a bool.
pub fn not(a: Value) -> Result<Value, OpError> {
    match a.kind() {
        Tag::Int => Ok(Value::int(!(a.bits as i64))),
        Tag::Bool => Ok(Value::bool(a.bits == 0)),
        k => Err(OpError::type_error(format!(
            "not: expected int or bool, got {}",
            k.name()
        ))),
    }
}

/// Conversions of the CONVERT family that take one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvOp {
    /// `itof`
    Itof,
    /// `ftoi`
    Ftoi,
    /// `sext8`
    Sext8,
    /// `sext16`
    Sext16,
    /// `sext32`
    Sext32,
    /// `zext8`
    Zext8,
    /// `zext16`
    Zext16,
    /// `zext32`
    Zext32,
    /// `f32`
    F32,
}

impl ConvOp {
    /// The mnemonic.
    pub fn name(self) -> &'static str {
        match self {
            ConvOp::Itof => "itof",
            ConvOp::Ftoi => "ftoi",
            ConvOp::Sext8 => "sext8",
            ConvOp::Sext16 => "sext16",
            ConvOp::Sext32 => "sext32",
            ConvOp::Zext8 => "zext8",
            ConvOp::Zext16 => "zext16",
            ConvOp::Zext32 => "zext32",
            ConvOp::F32 => "f32",
        }
    }

    /// The int-to-int forms on a known int.
    #[inline]
    pub fn on_int(self, i: i64) -> i64 {
        match self {
            ConvOp::Sext8 => i as i8 as i64,
            ConvOp::Sext16 => i as i16 as i64,
            ConvOp::Sext32 => i as i32 as i64,
            ConvOp::Zext8 => i as u8 as i64,
            ConvOp::Zext16 => i as u16 as i64,
            ConvOp::Zext32 => i as u32 as i64,
            _ => i,
        }
    }
}

/// `ftoi` on a float: truncation, saturating at the int range, NaN → 0.
#[inline]
pub fn float_to_int(x: f64) -> i64 {
    // Rust's `as` is exactly the documented semantics (saturating, NaN to 0).
    x as i64
}

/// Applies a conversion.
pub fn convert(op: ConvOp, a: Value) -> Result<Value, OpError> {
    let bad = |want: &str| {
        Err(OpError::type_error(format!(
            "{}: expected {want}, got {}",
            op.name(),
            a.kind().name()
        )))
    };
    match op {
        ConvOp::Itof => match a.as_int() {
            Some(i) => Ok(Value::float(i as f64)),
            None => bad("int"),
        },
        ConvOp::Ftoi => match a.as_float() {
            Some(x) => Ok(Value::int(float_to_int(x))),
            None => bad("float"),
        },
        ConvOp::F32 => match a.as_float() {
            Some(x) => Ok(Value::float(x as f32 as f64)),
            None => bad("float"),
        },
        _ => match a.as_int() {
            Some(i) => Ok(Value::int(op.on_int(i))),
            None => bad("int"),
        },
    }
}

/// Float functions of one number (`sqrt floor ceil trunc round`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathOp {
    /// `sqrt`
    Sqrt,
    /// `floor`
    Floor,
    /// `ceil`
    Ceil,
    /// `trunc`
    Trunc,
    /// `round` (ties to even)
    Round,
}

impl MathOp {
    /// The mnemonic.
    pub fn name(self) -> &'static str {
        match self {
            MathOp::Sqrt => "sqrt",
            MathOp::Floor => "floor",
            MathOp::Ceil => "ceil",
            MathOp::Trunc => "trunc",
            MathOp::Round => "round",
        }
    }

    /// On a float.
    #[inline]
    pub fn on_float(self, x: f64) -> f64 {
        match self {
            MathOp::Sqrt => x.sqrt(),
            MathOp::Floor => x.floor(),
            MathOp::Ceil => x.ceil(),
            MathOp::Trunc => x.trunc(),
            MathOp::Round => x.round_ties_even(),
        }
    }
}

/// Applies a float function to a number (an int is converted first).
pub fn math(op: MathOp, a: Value) -> Result<Value, OpError> {
    let x = match a.kind() {
        Tag::Float => a.as_float_unchecked(),
        Tag::Int => a.bits as i64 as f64,
        k => {
            return Err(OpError::type_error(format!(
                "{}: expected a number, got {}",
                op.name(),
                k.name()
            )))
        }
    };
    Ok(Value::float(op.on_float(x)))
}

/// Checks that `v` has type `ty`; `what` names the slot for the message.
#[inline]
pub fn check_type(v: Value, ty: Type, what: &dyn Fn() -> String) -> Result<(), OpError> {
    if ty.admits(v) {
        Ok(())
    } else {
        Err(type_mismatch(v, ty, what))
    }
}

#[cold]
fn type_mismatch(v: Value, ty: Type, what: &dyn Fn() -> String) -> OpError {
    OpError::type_error(format!(
        "{}: expected {ty}, got {}",
        what(),
        v.kind().name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_arith_wraps_and_truncates() {
        assert_eq!(int_arith(ArithOp::Add, i64::MAX, 1).unwrap(), i64::MIN);
        assert_eq!(int_arith(ArithOp::Div, -7, 2).unwrap(), -3);
        assert_eq!(int_arith(ArithOp::Rem, -7, 2).unwrap(), -1);
        assert_eq!(int_arith(ArithOp::Div, i64::MIN, -1).unwrap(), i64::MIN);
        assert_eq!(int_arith(ArithOp::Rem, i64::MIN, -1).unwrap(), 0);
        assert_eq!(
            int_arith(ArithOp::Div, 1, 0).unwrap_err().kind,
            crate::trap::TrapKind::DivisionByZero
        );
    }

    #[test]
    fn pow() {
        assert_eq!(int_pow(3, 4).unwrap(), 81);
        assert_eq!(int_pow(2, 64).unwrap(), 0);
        assert_eq!(int_pow(2, -1).unwrap(), 0);
        assert_eq!(int_pow(-1, -3).unwrap(), -1);
        assert!(int_pow(0, -1).is_err());
        assert_eq!(
            arith(ArithOp::Pow, Value::float(2.0), Value::int(10))
                .unwrap()
                .as_float(),
            Some(1024.0)
        );
    }

    #[test]
    fn mixed_arith_and_type_errors() {
        assert_eq!(
            arith(ArithOp::Add, Value::int(1), Value::float(0.5))
                .unwrap()
                .as_float(),
            Some(1.5)
        );
        let e = arith(ArithOp::Mul, Value::int(1), Value::TRUE).unwrap_err();
        assert_eq!(e.message, "mul: expected numbers, got int and bool");
    }

    #[test]
    fn exact_int_float_comparison() {
        let big = (1i64 << 53) + 1;
        assert!(!values_equal(Value::int(big), Value::float(big as f64)));
        assert!(values_equal(Value::int(3), Value::float(3.0)));
        assert_eq!(cmp_int_float(3, 3.5), Some(Ordering::Less));
        assert_eq!(cmp_int_float(-3, -3.5), Some(Ordering::Greater));
        assert_eq!(cmp_int_float(i64::MAX, 9.3e18), Some(Ordering::Less));
        assert_eq!(cmp_int_float(0, f64::NAN), None);
        assert!(!compare(CmpOp::Lt, Value::float(f64::NAN), Value::int(1)).unwrap());
        assert!(compare(CmpOp::Gt, Value::float(2.5), Value::int(2)).unwrap());
    }

    #[test]
    fn bitops() {
        assert_eq!(int_bitop(BitOp::Shl, 1, 65), 2);
        assert_eq!(int_bitop(BitOp::Shr, -1, 60), 15);
        assert_eq!(int_bitop(BitOp::Sar, -16, 2), -4);
        assert_eq!(
            bitop(BitOp::Xor, Value::TRUE, Value::TRUE)
                .unwrap()
                .as_bool(),
            Some(false)
        );
        assert!(bitop(BitOp::Shl, Value::TRUE, Value::int(1)).is_err());
    }

    #[test]
    fn math_functions() {
        assert_eq!(
            math(MathOp::Sqrt, Value::int(9)).unwrap().as_float(),
            Some(3.0)
        );
        assert_eq!(
            math(MathOp::Round, Value::float(2.5)).unwrap().as_float(),
            Some(2.0)
        );
        assert_eq!(
            math(MathOp::Round, Value::float(-3.5)).unwrap().as_float(),
            Some(-4.0)
        );
        assert_eq!(
            math(MathOp::Floor, Value::float(-0.5)).unwrap().as_float(),
            Some(-1.0)
        );
        assert!(math(MathOp::Sqrt, Value::float(-1.0))
            .unwrap()
            .as_float()
            .unwrap()
            .is_nan());
        assert!(math(MathOp::Ceil, Value::TRUE).is_err());
    }

    #[test]
    fn conversions() {
        assert_eq!(
            convert(ConvOp::Sext8, Value::int(0xff)).unwrap().as_int(),
            Some(-1)
        );
        assert_eq!(
            convert(ConvOp::Zext16, Value::int(-1)).unwrap().as_int(),
            Some(0xffff)
        );
        assert_eq!(float_to_int(f64::NAN), 0);
        assert_eq!(float_to_int(1e300), i64::MAX);
        assert_eq!(float_to_int(-2.9), -2);
        assert_eq!(
            convert(ConvOp::F32, Value::float(0.1)).unwrap().as_float(),
            Some(0.1f32 as f64)
        );
    }
}
