//! The disassembler: a [`Module`] to assembly text that [`crate::asm::assemble`] turns back
//! into the same module (and so the same `.sbc` bytes).
//!
//! Invariants: everything the binary format stores is printed — module name, source name,
//! imports, native libraries and extern signatures, globals with their exact initial values, the
//! initializer, multimethods and methods (before the functions, so imported symbols keep their
//! first-use order), function signatures, register
//! types and debug names, and the line table (as `.line` directives). Labels are synthesized
//! (`L<pc>`). A register whose debug name is not unique or not a valid reference is referred to
//! by its number (`rN`) and declared with its name backquoted, so names survive the round trip.

use std::collections::HashMap;
use std::fmt::Write;

use crate::asm::is_plain_ident;
use crate::module::{Constant, Function, Module, Operand, Pattern};
use crate::types::Type;

fn ident(name: &str) -> String {
    if is_plain_ident(name) && !looks_like_reg(name) {
        name.to_owned()
    } else {
        format!("`{name}`")
    }
}

fn looks_like_reg(s: &str) -> bool {
    s.strip_prefix('r')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A record type or field name as written in a `Type.field` reference or a declaration.
fn part(name: &str) -> String {
    if is_plain_ident(name) && !name.contains('.') && Type::from_name(name).is_none() {
        name.to_owned()
    } else {
        format!("`{name}`")
    }
}

/// A type as written in assembly.
fn type_text(m: &Module, t: Type) -> String {
    match t {
        Type::Record(i) => m
            .types
            .get(i as usize)
            .map_or_else(|| format!("<bad type {i}>"), |r| part(&r.name)),
        t => t.name().to_owned(),
    }
}

fn typed(m: &Module, name: &str, ty: Type) -> String {
    if ty == Type::Any {
        name.to_owned()
    } else {
        format!("{name}: {}", type_text(m, ty))
    }
}

/// Renders `m` as assembly text.
pub fn disassemble(m: &Module) -> String {
    let mut out = String::new();
    let _ = writeln!(out, ".module {}", ident(&m.name));
    let mut src = String::new();
    let _ = crate::module::write_escaped(&mut src, m.source.as_deref().unwrap_or(""), '"');
    let _ = writeln!(out, ".source \"{src}\"");
    for name in &m.imports {
        let _ = writeln!(out, ".import {name}");
    }
    for lib in &m.natives {
        let mut path = String::new();
        let _ = crate::module::write_escaped(&mut path, &lib.path, '"');
        let _ = writeln!(out, ".native {} \"{path}\"", lib.alias);
    }
    for x in &m.externs {
        let params: Vec<&str> = x.params.iter().map(|t| t.name()).collect();
        let lib = m
            .natives
            .get(x.library as usize)
            .map_or("?", |n| n.alias.as_str());
        let _ = writeln!(
            out,
            ".extern {lib}.{} ({}) -> {}",
            x.symbol,
            params.join(", "),
            x.ret
        );
    }
    for t in &m.types {
        let fields: Vec<String> = t
            .fields
            .iter()
            .map(|f| typed(m, &part(&f.name), f.ty))
            .collect();
        let _ = write!(out, ".type {} {{ {} }}", part(&t.name), fields.join(", "));
        if let Some(d) = t.destructor.and_then(|d| m.functions.get(d as usize)) {
            let _ = write!(out, " destructor {}", ident(&d.name));
        }
        if t.export {
            out.push_str(" export");
        }
        out.push('\n');
    }
    for g in &m.globals {
        let _ = writeln!(
            out,
            ".global {} = {}{}",
            typed(m, &ident(&g.name), g.ty),
            g.init,
            if g.export { " export" } else { "" }
        );
    }
    if let Some(init) = m.init.and_then(|i| m.functions.get(i as usize)) {
        let _ = writeln!(out, ".init {}", ident(&init.name));
    }
    for d in &m.multimethods {
        let _ = writeln!(
            out,
            ".multimethod {}/{}{}",
            ident(&d.name),
            d.arity,
            if d.export { " export" } else { "" }
        );
    }
    for meth in &m.methods {
        let pats: Vec<String> = meth
            .patterns
            .iter()
            .map(|p| match p {
                Pattern::Any => "any".to_owned(),
                Pattern::Type(t) => type_text(m, *t),
                Pattern::Lit(c) => c.to_string(),
            })
            .collect();
        let _ = writeln!(
            out,
            ".method {} ({}) {}",
            mm_text(m, meth.multimethod),
            pats.join(", "),
            func_text(m, meth.func)
        );
    }
    for f in &m.functions {
        out.push('\n');
        function(&mut out, m, f);
    }
    out
}

/// Function operand `i` as written in assembly.
fn func_text(m: &Module, i: u32) -> String {
    match m.functions.get(i as usize) {
        Some(f) => ident(&f.name),
        None => m.func_name(i),
    }
}

/// Multimethod operand `i` as written in assembly.
fn mm_text(m: &Module, i: u32) -> String {
    match m.multimethods.get(i as usize) {
        Some(d) => ident(&d.name),
        None => m.multimethod_name(i),
    }
}

/// How each register is declared and referred to.
fn register_names(f: &Function) -> (Vec<String>, Vec<String>) {
    let n = f.regs.len();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for i in 0..n {
        if let Some(name) = f.reg_name(i as u32) {
            *count.entry(name).or_default() += 1;
        }
    }
    let mut decl = Vec::with_capacity(n);
    let mut refs = Vec::with_capacity(n);
    for i in 0..n {
        match f.reg_name(i as u32) {
            Some(name) => {
                decl.push(ident(name));
                // A backquoted unique name is still a valid reference; a duplicated one is not.
                refs.push(if count[name] == 1 {
                    ident(name)
                } else {
                    format!("r{i}")
                });
            }
            None => {
                decl.push(format!("r{i}"));
                refs.push(format!("r{i}"));
            }
        }
    }
    (decl, refs)
}

fn function(out: &mut String, m: &Module, f: &Function) {
    let (decl, refs) = register_names(f);
    let params: Vec<String> = (0..f.params as usize)
        .map(|i| typed(m, &decl[i], f.regs.get(i).copied().unwrap_or(Type::Any)))
        .collect();
    let _ = write!(out, ".func {}({})", ident(&f.name), params.join(", "));
    if f.ret != Type::Any {
        let _ = write!(out, " -> {}", type_text(m, f.ret));
    }
    if f.export {
        out.push_str(" export");
    }
    out.push('\n');
    let locals: Vec<String> = (f.params as usize..f.regs.len())
        .map(|i| typed(m, &decl[i], f.regs[i]))
        .collect();
    for chunk in locals.chunks(8) {
        let _ = writeln!(out, "    .reg {}", chunk.join(", "));
    }
    if !f.scopes.is_empty() {
        for s in &f.inlined {
            let _ = writeln!(
                out,
                "    .inline {}, {}, {}",
                ident(&s.name),
                s.call_line,
                s.parent
            );
        }
    }
    let mut targets = vec![false; f.code.len()];
    for ins in &f.code {
        for op in &ins.operands {
            if let Operand::Label(t) = op {
                if let Some(slot) = targets.get_mut(*t as usize) {
                    *slot = true;
                }
            }
        }
    }
    let mut line: Option<u32> = None;
    let mut scope = 0u32;
    for (pc, ins) in f.code.iter().enumerate() {
        if targets[pc] {
            let _ = writeln!(out, "L{pc}:");
        }
        let l = f.lines.get(pc).copied().unwrap_or(0);
        if line != Some(l) {
            let _ = writeln!(out, "    .line {l}");
            line = Some(l);
        }
        let k = f.scopes.get(pc).copied().unwrap_or(0);
        if k != scope {
            let _ = writeln!(out, "    .scope {k}");
            scope = k;
        }
        let mut parts = Vec::new();
        for op in &ins.operands {
            parts.push(match op {
                Operand::Reg(r) => refs
                    .get(*r as usize)
                    .cloned()
                    .unwrap_or_else(|| format!("r{r}")),
                Operand::Discard => "_".to_owned(),
                Operand::Const(k) => m
                    .consts
                    .get(*k as usize)
                    .map_or_else(|| format!("<bad constant {k}>"), Constant::to_string),
                Operand::Label(t) => format!("L{t}"),
                Operand::Func(i) => func_text(m, *i),
                Operand::Multimethod(i) => mm_text(m, *i),
                Operand::Global(i) => match m.globals.get(*i as usize) {
                    Some(g) => ident(&g.name),
                    None => m.global_name(*i),
                },
                Operand::Type(t) => type_text(m, *t),
                Operand::Field(t, fi) => match m.types.get(*t as usize) {
                    Some(rt) => match rt.fields.get(*fi as usize) {
                        Some(f) => format!("{}.{}", part(&rt.name), part(&f.name)),
                        None => format!("<bad field {fi}>"),
                    },
                    None => format!("<bad type {t}>"),
                },
                Operand::Imm(i) => i.to_string(),
                Operand::Extern(e) => m.extern_name(*e),
                Operand::Sys(k) => m
                    .const_str(*k)
                    .map_or_else(|| format!("<bad name {k}>"), ident),
            });
        }
        if parts.is_empty() {
            let _ = writeln!(out, "    {}", ins.op.mnemonic());
        } else {
            let _ = writeln!(out, "    {:<9} {}", ins.op.mnemonic(), parts.join(", "));
        }
    }
    out.push_str(".end\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;
    use crate::format::encode;

    fn round_trip(src: &str) {
        let (m1, _) = assemble(src, "t.sbas").unwrap();
        let b1 = encode(&m1);
        let text = disassemble(&m1);
        let (m2, _) = assemble(&text, "other.sbas").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(b1, encode(&m2), "\n{text}");
    }

    #[test]
    fn round_trips_typed_code_and_globals() {
        round_trip(
            ".module demo\n.global count: int = 3 export\n.global name = \"x\\n\"\n.init setup\n\
             .func setup()\n    setg count, 4\n    ret\n.end\n\
             .func f(a: int, b) -> int export\n    .reg t: float, u\n    itof t, a\n    \
             jlt a, 2, done\n    copy u, 'q'\n    sys _, print, u\ndone:\n    ret a\n.end\n",
        );
    }

    #[test]
    fn round_trips_native_declarations() {
        round_trip(
            ".native libm \"libm.so.6\"\n.native c \"/lib/odd \\\"name\\\".so\"\n\
             .extern libm.cos (f64) -> f64\n.extern c.memset (bytes, i32, u64) -> ptr\n\
             .extern c.nothing () -> void\n.extern c.mix (i8, i16, i32, i64, u8, u16, u32, u64, f32, ptr, str) -> str\n\
             .func main() export\n    .reg x, b: bytes\n    ncall x, libm.cos, 1.5\n    newbytes b, 4\n    \
             ncall _, c.memset, b, 0, 4\n    ncall _, c.nothing\n    ret x\n.end\n",
        );
    }

    #[test]
    fn round_trips_records_and_heap_instructions() {
        round_trip(RECORDS);
    }

    const RECORDS: &str = r#".type Node { left: Node, right: Node, `odd name`: int } export
.type Handle {
    fd: int,
    label
} destructor close_handle
.type `weird.type` { `x.y`: float }
.func close_handle(h: Handle)
    .reg fd: int
    getf fd, h, Handle.fd
    sys _, print, fd
    ret
.end
.func main() export
    .reg n: Node, m, h: Handle, w, arr: array, b: bytes, s: str, mp: map, f: fn, x
    new n, Node
    new m, Node, n, nil, 3
    getf x, m, Node.`odd name`
    setf m, Node.left, nil
    new h, Handle, 7, "seven"
    new w, `weird.type`, 1.5
    getf x, w, `weird.type`.`x.y`
    newarr arr, 3, 0
    aset arr, 1, "x"
    aget x, arr, 1
    apush arr, 5
    apop x, arr
    alen x, arr
    newbytes b, 16
    st.i32 b, 0, 42
    ld.u8 x, b, 0
    blen x, b
    concat s, "a", "b"
    slen x, s
    sget x, s, 0
    substr s, s, 0, 1
    newmap mp
    mset mp, "k", 1
    mget x, mp, "k"
    mhas x, mp, "k"
    mdel mp, "k"
    mlen x, mp
    mkeys arr, mp
    closure f, close_handle
    closure f, main, 1, 2
    tostr s, 3
    is x, n, Node
    cast n, m, Node
    ret
.end
.func clo() export
    .reg x
    getup x, 0
    setup 1, x
    callv x, x, 1, 2
    tailcallv x, 3
.end
"#;

    #[test]
    fn round_trips_multimethods_and_methods() {
        round_trip(
            ".module mm\n.import lib\n.type `odd.type` { x: int }\n.type P { }\n\
             .multimethod `r1`/2 export\n.multimethod none/0\n\
             .method lib.size (`odd.type`) lib.f\n.method `r1` (P, -0.0) g\n\
             .method `r1` (\"a\\n\", 'q') g\n.method none () h\n\
             .func g(a, b)\n    .reg r\n    dispatch r, lib.size, a\n    dispatch r, `r1`, r, b\n    \
             dispatch r, none\n    ret r\n.end\n.func h()\n    ret\n.end\n",
        );
    }

    #[test]
    fn round_trips_odd_names() {
        use crate::builder::ModuleBuilder;
        use crate::opcodes::Opcode;
        let mut mb = ModuleBuilder::new("list->vector");
        let f = mb
            .declare_function("vector-ref", &[(Some("r7"), Type::Any)], Type::Any, false)
            .unwrap();
        let mut fb = mb.function(f);
        let a = fb.reg(Some("x"), Type::Any);
        let b = fb.reg(Some("x"), Type::Int);
        let c = fb.reg(Some("nil"), Type::Any);
        fb.emit(Opcode::Copy, &[a.into(), 1i64.into()]);
        fb.emit(Opcode::Copy, &[b.into(), 2i64.into()]);
        fb.emit(Opcode::Copy, &[c.into(), a.into()]);
        fb.emit(Opcode::Ret, &[c.into()]);
        fb.finish().unwrap();
        let m1 = mb.finish();
        let text = disassemble(&m1);
        let (m2, _) = assemble(&text, "x").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(encode(&m1), encode(&m2), "\n{text}");
    }
}
