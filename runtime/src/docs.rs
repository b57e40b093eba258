//! Reference documentation generated from the tables: the opcode table becomes the instruction
//! reference in `docs/bytecode.md` and the system-call table the reference in `docs/syscalls.md`.
//!
//! Invariant: the committed docs contain exactly this output between the generated-section
//! markers; a test in this crate compares them (run it with `BLESS=1` to rewrite).

use std::fmt::Write;

use crate::opcodes::{Family, OPCODES};
use crate::syscalls::SYSCALLS;

/// Marker opening the generated part of `docs/bytecode.md`.
pub const BEGIN: &str = "<!-- BEGIN GENERATED: opcode table (edit runtime/src/opcodes.rs, then BLESS=1 cargo test -p sigma-runtime docs) -->";
/// Marker opening the generated part of `docs/syscalls.md`.
pub const SYSCALLS_BEGIN: &str = "<!-- BEGIN GENERATED: system-call table (edit runtime/src/syscalls.rs, then BLESS=1 cargo test -p sigma-runtime docs) -->";
/// Marker closing the generated part.
pub const END: &str = "<!-- END GENERATED -->";

fn escape_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The generated instruction reference (markdown).
pub fn bytecode_reference() -> String {
    let mut out = String::new();
    for family in Family::ALL {
        let _ = writeln!(out, "\n### {}\n", family.title());
        let _ = writeln!(out, "| op | operands | flags | semantics |");
        let _ = writeln!(out, "|---|---|---|---|");
        for info in OPCODES.iter().filter(|i| i.family == family) {
            let operands: Vec<&str> = info.operands.iter().map(|k| k.doc_name()).collect();
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {} | {} |",
                info.mnemonic,
                operands.join(", "),
                info.flags.names().join(", "),
                escape_cell(info.doc)
            );
        }
        if family == Family::Interrupt {
            let _ = writeln!(
                out,
                "\nThe built-in system calls are listed in [syscalls.md](syscalls.md)."
            );
        }
    }
    out
}

/// The generated system-call reference (markdown), for `docs/syscalls.md`.
pub fn syscall_reference() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| name | arguments | capability | description |");
    let _ = writeln!(out, "|---|---|---|---|");
    for s in SYSCALLS {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            s.name,
            s.params,
            s.capability.map_or("", |c| c.name()),
            escape_cell(s.doc)
        );
    }
    out
}

/// Replaces the generated section of a document, opened by marker `begin`; `None` if the
/// markers are missing.
pub fn splice(doc: &str, begin: &str, generated: &str) -> Option<String> {
    let start = doc.find(begin)? + begin.len();
    let end = doc.find(END)?;
    (start <= end).then(|| format!("{}\n{}\n{}", &doc[..start], generated.trim(), &doc[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_bytecode_md_matches_the_opcode_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/bytecode.md");
        let doc = std::fs::read_to_string(path).expect("docs/bytecode.md exists");
        let want = splice(&doc, BEGIN, &bytecode_reference())
            .expect("docs/bytecode.md has the generated-section markers");
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        } else {
            assert!(
                doc == want,
                "docs/bytecode.md is out of date with the opcode table; rerun with BLESS=1"
            );
        }
    }

    #[test]
    fn docs_syscalls_md_matches_the_syscall_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/syscalls.md");
        let doc = std::fs::read_to_string(path).expect("docs/syscalls.md exists");
        let want = splice(&doc, SYSCALLS_BEGIN, &syscall_reference())
            .expect("docs/syscalls.md has the generated-section markers");
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        } else {
            assert!(
                doc == want,
                "docs/syscalls.md is out of date with the system-call table; rerun with BLESS=1"
            );
        }
    }

    #[test]
    fn every_syscall_is_documented_once() {
        let text = syscall_reference();
        for def in SYSCALLS {
            assert_eq!(
                text.matches(&format!("| `{}` |", def.name)).count(),
                1,
                "{}",
                def.name
            );
            assert_eq!(
                def.params
                    .split(',')
                    .filter(|p| !p.trim().is_empty())
                    .count(),
                def.arity,
                "the documented parameters of {} match its arity",
                def.name
            );
        }
    }

    #[test]
    fn every_opcode_is_documented() {
        let text = bytecode_reference();
        for info in OPCODES {
            assert!(
                text.contains(&format!("| `{}` |", info.mnemonic)),
                "{}",
                info.mnemonic
            );
        }
    }
}
