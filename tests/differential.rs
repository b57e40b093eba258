//! Tier-differential property test: random well-typed programs (int, float and `any`
//! arithmetic, conversions, comparisons, branches, bounded loops, calls) must behave the same in
//! the interpreter, under the eager JIT and under the tiered JIT with a low threshold (which
//! mixes tiers, enters loops by OSR and deoptimizes): same printed output, same result, and for
//! a trap the same kind, message and backtrace.
//!
//! Programs terminate by construction: loops have constant trip counts and their counters are
//! written only by the loop itself; a function calls only functions defined before it.

use sigma_vm::OutputBuffer;
use std::fmt::Write as _;

use proptest::prelude::*;
use sigma_vm::{load_source, new_vm, with_guest_stack, JitConfig, JitMode, Stop, VmConfig};

/// Registers of each kind every function has (`i0..`, `f0..`, `a0..`).
const REGS: u8 = 4;
/// Functions per program, `main` included.
const MAX_FUNCS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Int,
    Float,
    Any,
}

impl Kind {
    fn prefix(self) -> char {
        match self {
            Kind::Int => 'i',
            Kind::Float => 'f',
            Kind::Any => 'a',
        }
    }
}

#[derive(Clone, Debug)]
enum Operand {
    Reg(u8),
    Int(i64),
    Float(f64),
}

#[derive(Clone, Debug)]
enum Stmt {
    /// `op dst, a, b` on registers of one kind (the second operand may be a literal).
    Binary {
        op: &'static str,
        kind: Kind,
        dst: u8,
        a: u8,
        b: Operand,
    },
    /// `op dst, src` (neg, abs, itof, ftoi, sqrt, floor).
    Unary {
        op: &'static str,
        dst: (Kind, u8),
        src: (Kind, u8),
    },
    /// `copy dst, src` across kinds (into a typed register, a run-time check).
    Copy { dst: (Kind, u8), src: (Kind, u8) },
    /// `if a <cmp> b then .. else ..`.
    If {
        cmp: &'static str,
        kind: Kind,
        a: u8,
        b: u8,
        then: Vec<Stmt>,
        other: Vec<Stmt>,
    },
    /// A loop run `times` times.
    Loop { times: u8, body: Vec<Stmt> },
    /// `call a<dst>, f<callee>, i<x>, a<y>` of an earlier function (wrapped into range).
    Call { callee: u8, dst: u8, x: u8, y: u8 },
    /// `sys _, print, r`.
    Print { kind: Kind, reg: u8 },
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Int), Just(Kind::Float), Just(Kind::Any)]
}

fn reg() -> impl Strategy<Value = u8> {
    0..REGS
}

fn small_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -9i64..10,
        1 => any::<i64>(),
        1 => prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(63), Just(64), Just(-1)],
    ]
}

fn small_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => (-40i32..40).prop_map(|x| x as f64 / 4.0),
        1 => prop_oneof![Just(0.0), Just(-0.0), Just(1e300), Just(-1e-300), Just(0.1)],
    ]
}

fn binary() -> impl Strategy<Value = Stmt> {
    let int_ops = prop_oneof![
        Just("add"),
        Just("sub"),
        Just("mul"),
        Just("div"),
        Just("rem"),
        Just("and"),
        Just("or"),
        Just("xor"),
        Just("shl"),
        Just("shr"),
        Just("sar"),
    ];
    let num_ops = prop_oneof![Just("add"), Just("sub"), Just("mul"), Just("div")];
    let any_ops = prop_oneof![
        Just("add"),
        Just("sub"),
        Just("mul"),
        Just("div"),
        Just("rem")
    ];
    prop_oneof![
        (
            int_ops,
            reg(),
            reg(),
            prop_oneof![
                reg().prop_map(Operand::Reg),
                small_int().prop_map(Operand::Int)
            ]
        )
            .prop_map(|(op, dst, a, b)| Stmt::Binary {
                op,
                kind: Kind::Int,
                dst,
                a,
                b
            }),
        (
            num_ops,
            reg(),
            reg(),
            prop_oneof![
                reg().prop_map(Operand::Reg),
                small_float().prop_map(Operand::Float)
            ]
        )
            .prop_map(|(op, dst, a, b)| Stmt::Binary {
                op,
                kind: Kind::Float,
                dst,
                a,
                b
            }),
        (
            any_ops,
            reg(),
            reg(),
            prop_oneof![
                reg().prop_map(Operand::Reg),
                small_int().prop_map(Operand::Int),
                small_float().prop_map(Operand::Float)
            ]
        )
            .prop_map(|(op, dst, a, b)| Stmt::Binary {
                op,
                kind: Kind::Any,
                dst,
                a,
                b
            }),
    ]
}

fn unary() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        (prop_oneof![Just("neg"), Just("abs")], kind(), reg(), reg()).prop_map(|(op, k, d, s)| {
            Stmt::Unary {
                op,
                dst: (k, d),
                src: (k, s),
            }
        }),
        (
            reg(),
            prop_oneof![Just(Kind::Float), Just(Kind::Any)],
            reg()
        )
            .prop_map(|(s, dk, d)| {
                Stmt::Unary {
                    op: "itof",
                    dst: (dk, d),
                    src: (Kind::Int, s),
                }
            }),
        (reg(), prop_oneof![Just(Kind::Int), Just(Kind::Any)], reg()).prop_map(|(s, dk, d)| {
            Stmt::Unary {
                op: "ftoi",
                dst: (dk, d),
                src: (Kind::Float, s),
            }
        }),
        (
            prop_oneof![Just("sqrt"), Just("floor")],
            prop_oneof![Just(Kind::Float), Just(Kind::Any)],
            reg(),
            kind(),
            reg()
        )
            .prop_map(|(op, dk, d, sk, s)| Stmt::Unary {
                op,
                dst: (dk, d),
                src: (sk, s)
            }),
    ]
}

fn leaf() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        6 => binary(),
        2 => unary(),
        1 => (kind(), reg(), kind(), reg()).prop_map(|(dk, d, sk, s)| Stmt::Copy { dst: (dk, d), src: (sk, s) }),
        1 => (kind(), reg()).prop_map(|(kind, reg)| Stmt::Print { kind, reg }),
        2 => (any::<u8>(), reg(), reg(), reg()).prop_map(|(callee, dst, x, y)| Stmt::Call { callee, dst, x, y }),
    ]
}

fn stmts() -> impl Strategy<Value = Vec<Stmt>> {
    let stmt = leaf().prop_recursive(3, 40, 6, |inner| {
        prop_oneof![
            4 => (
                prop_oneof![Just("jlt"), Just("jle"), Just("jgt"), Just("jge"), Just("jeq"), Just("jne")],
                kind(),
                reg(),
                reg(),
                prop::collection::vec(inner.clone(), 0..4),
                prop::collection::vec(inner.clone(), 0..4),
            )
                .prop_map(|(cmp, kind, a, b, then, other)| Stmt::If { cmp, kind, a, b, then, other }),
            3 => (1u8..12, prop::collection::vec(inner, 1..5))
                .prop_map(|(times, body)| Stmt::Loop { times, body }),
        ]
    });
    prop::collection::vec(stmt, 1..10)
}

/// Initial values of `i0..`, `f0..`, `a0..` (the `any` ones ints or floats).
#[derive(Clone, Debug)]
struct Inits {
    ints: Vec<i64>,
    floats: Vec<f64>,
    anys: Vec<Operand>,
}

fn inits() -> impl Strategy<Value = Inits> {
    (
        prop::collection::vec(small_int(), REGS as usize),
        prop::collection::vec(small_float(), REGS as usize),
        prop::collection::vec(
            prop_oneof![
                small_int().prop_map(Operand::Int),
                small_float().prop_map(Operand::Float)
            ],
            REGS as usize,
        ),
    )
        .prop_map(|(ints, floats, anys)| Inits { ints, floats, anys })
}

#[derive(Clone, Debug)]
struct Program {
    funcs: Vec<(Inits, Vec<Stmt>)>,
}

fn program() -> impl Strategy<Value = Program> {
    prop::collection::vec((inits(), stmts()), 1..=MAX_FUNCS).prop_map(|funcs| Program { funcs })
}

fn literal(o: &Operand) -> String {
    match o {
        Operand::Reg(_) => unreachable!("literals only"),
        Operand::Int(i) => i.to_string(),
        Operand::Float(x) => format!("{x:?}"),
    }
}

struct Emitter {
    out: String,
    labels: u32,
    /// Index of the function being emitted (it may call `f0..f<index-1>`).
    index: usize,
    loop_depth: usize,
}

impl Emitter {
    fn label(&mut self) -> String {
        self.labels += 1;
        format!("L{}", self.labels)
    }

    fn line(&mut self, s: String) {
        self.out.push_str("    ");
        self.out.push_str(&s);
        self.out.push('\n');
    }

    fn stmt(&mut self, s: &Stmt) {
        let r = |k: Kind, n: u8| format!("{}{n}", k.prefix());
        match s {
            Stmt::Binary {
                op,
                kind,
                dst,
                a,
                b,
            } => {
                let b = match b {
                    Operand::Reg(n) => r(*kind, *n),
                    lit => literal(lit),
                };
                self.line(format!("{op} {}, {}, {b}", r(*kind, *dst), r(*kind, *a)));
            }
            Stmt::Unary { op, dst, src } => {
                self.line(format!("{op} {}, {}", r(dst.0, dst.1), r(src.0, src.1)));
            }
            Stmt::Copy { dst, src } => {
                // Typed registers of different kinds cannot be copied into each other; go
                // through `any` then (a checked write).
                if dst.0 != src.0 && dst.0 != Kind::Any && src.0 != Kind::Any {
                    self.line(format!("copy a0, {}", r(src.0, src.1)));
                    self.line(format!("copy {}, a0", r(dst.0, dst.1)));
                } else {
                    self.line(format!("copy {}, {}", r(dst.0, dst.1), r(src.0, src.1)));
                }
            }
            Stmt::Print { kind, reg } => self.line(format!("sys _, print, {}", r(*kind, *reg))),
            Stmt::Call { callee, dst, x, y } => {
                if self.index == 0 {
                    return;
                }
                let callee = *callee as usize % self.index;
                self.line(format!("call a{dst}, f{callee}, i{x}, a{y}"));
            }
            Stmt::If {
                cmp,
                kind,
                a,
                b,
                then,
                other,
            } => {
                let (else_l, end_l) = (self.label(), self.label());
                // Branch to `else` when the condition fails: use the negated jump.
                let negated = match *cmp {
                    "jlt" => "jge",
                    "jle" => "jgt",
                    "jgt" => "jle",
                    "jge" => "jlt",
                    "jeq" => "jne",
                    _ => "jeq",
                };
                self.line(format!(
                    "{negated} {}, {}, {else_l}",
                    r(*kind, *a),
                    r(*kind, *b)
                ));
                for s in then {
                    self.stmt(s);
                }
                self.line(format!("jump {end_l}"));
                self.out.push_str(&format!("{else_l}:\n"));
                for s in other {
                    self.stmt(s);
                }
                self.out.push_str(&format!("{end_l}:\n"));
            }
            Stmt::Loop { times, body } => {
                let c = format!("c{}", self.loop_depth);
                let (head, end) = (self.label(), self.label());
                self.line(format!("load {c}, 0"));
                self.out.push_str(&format!("{head}:\n"));
                self.line(format!("jge {c}, {times}, {end}"));
                self.loop_depth += 1;
                for s in body {
                    self.stmt(s);
                }
                self.loop_depth -= 1;
                self.line(format!("add {c}, {c}, 1"));
                self.line(format!("jump {head}"));
                self.out.push_str(&format!("{end}:\n"));
            }
        }
    }
}

fn max_loop_depth(stmts: &[Stmt]) -> usize {
    stmts
        .iter()
        .map(|s| match s {
            Stmt::Loop { body, .. } => 1 + max_loop_depth(body),
            Stmt::If { then, other, .. } => max_loop_depth(then).max(max_loop_depth(other)),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// The program as assembly: `f0..f<n-2>(i0: int, a0)` and `main` last.
fn emit(p: &Program) -> String {
    let mut e = Emitter {
        out: String::new(),
        labels: 0,
        index: 0,
        loop_depth: 0,
    };
    let n = p.funcs.len();
    for (index, (inits, body)) in p.funcs.iter().enumerate() {
        e.index = index;
        let is_main = index == n - 1;
        let mut regs: Vec<String> = Vec::new();
        let first = if is_main { 0 } else { 1 };
        for k in first..REGS {
            regs.push(format!("i{k}: int"));
        }
        for k in 0..REGS {
            regs.push(format!("f{k}: float"));
        }
        for k in first..REGS {
            regs.push(format!("a{k}"));
        }
        for d in 0..max_loop_depth(body) {
            regs.push(format!("c{d}: int"));
        }
        if is_main {
            e.out.push_str(".func main() export\n");
        } else {
            let _ = writeln!(e.out, ".func f{index}(i0: int, a0)");
        }
        e.line(format!(".reg {}", regs.join(", ")));
        for k in first as usize..REGS as usize {
            e.line(format!("load i{k}, {}", inits.ints[k]));
            e.line(format!("load a{k}, {}", literal(&inits.anys[k])));
        }
        for k in 0..REGS as usize {
            e.line(format!("load f{k}, {:?}", inits.floats[k]));
        }
        for s in body {
            e.stmt(s);
        }
        if is_main {
            for k in ['i', 'f', 'a'] {
                for r in 0..REGS {
                    e.line(format!("sys _, print, {k}{r}"));
                }
            }
        }
        e.line("ret a0".into());
        e.out.push_str(".end\n\n");
    }
    e.out
}

/// Output and outcome (`= value`, or the whole trap with its backtrace) of `main`.
fn run(source: &str, jit: JitConfig) -> String {
    let source = source.to_owned();
    with_guest_stack(move || {
        let (module, info) = match load_source(source.as_bytes(), "prop.sbas") {
            Ok(m) => m,
            Err(e) => panic!("generated program does not load: {e}\n{source}"),
        };
        let mut vm = new_vm(VmConfig {
            jit,
            ..VmConfig::default()
        });
        let buf = OutputBuffer::default();
        vm.set_stdout(Box::new(buf.clone()));
        let m = vm.load(&module, &info).expect("links");
        let main = vm.export(m, "main").expect("main is exported");
        let outcome = match vm.call(main, &[]) {
            Ok(v) => format!("= {}", vm.display(v)),
            Err(Stop::Trap(t)) => format!("trap {t}"),
            Err(Stop::Exit(c)) => format!("exit {c}"),
        };
        let out = buf.text();
        format!("{out}{outcome}")
    })
    .expect("guest thread")
}

fn modes() -> [(&'static str, JitConfig); 3] {
    let jit = |mode, threshold| JitConfig {
        mode,
        threshold,
        trace: false,
    };
    [
        ("interp", jit(JitMode::Off, 1000)),
        ("jit-eager", jit(JitMode::Eager, 1000)),
        ("jit-tiered", jit(JitMode::On, 3)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 160,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_tier_agrees(p in program()) {
        let source = emit(&p);
        let [(_, interp), rest @ ..] = modes();
        let want = run(&source, interp);
        for (name, jit) in rest {
            let got = run(&source, jit);
            prop_assert_eq!(&got, &want, "{} differs from the interpreter on\n{}", name, source);
        }
    }
}

/// The generator must produce programs that do real work: traps and successful runs, and
/// programs whose loops are hot enough for the tiered JIT to compile them.
#[test]
fn generated_programs_cover_results_traps_and_loops() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut ok, mut traps, mut loops) = (0, 0, 0);
    for _ in 0..60 {
        let p = program().new_tree(&mut runner).unwrap().current();
        let source = emit(&p);
        loops += source.contains("jge c0") as u32;
        let out = run(&source, modes()[0].1);
        if out.contains("\n= ") || out.starts_with("= ") {
            ok += 1;
        } else if out.contains("trap ") {
            traps += 1;
        }
    }
    assert!(ok >= 10, "{ok} successful runs");
    assert!(traps >= 3, "{traps} traps");
    assert!(loops >= 10, "{loops} programs with loops");
}
