//! Capabilities: the host resources a guest program may reach outside its Vm.
//!
//! A Vm's configuration grants each capability or not; every operation that needs one (a
//! system call, a native call, ending the process) checks it first and traps with
//! `PermissionDenied` when it is not granted. Invariant: a denied capability has no effect on
//! the host at all — the check happens before anything is opened, read or called.

use std::fmt;

use crate::trap::{OpError, TrapKind};

/// One host resource a guest may be granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Native calls through the FFI (`.native` libraries and `ncall`).
    Ffi,
    /// Opening, reading and writing files.
    Files,
    /// Reading environment variables.
    Env,
    /// Ending the whole process with a status (`sys exit`, `halt`).
    Exit,
}

impl Capability {
    /// Every capability, in documentation order.
    pub const ALL: [Capability; 4] = [
        Capability::Ffi,
        Capability::Files,
        Capability::Env,
        Capability::Exit,
    ];

    /// The capability's name in docs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Ffi => "ffi",
            Capability::Files => "files",
            Capability::Env => "env",
            Capability::Exit => "exit",
        }
    }

    /// The `PermissionDenied` error for using this capability in `what` without it.
    pub fn denied(self, what: &str) -> OpError {
        OpError {
            kind: TrapKind::PermissionDenied,
            message: format!(
                "{what} needs the `{}` capability, which this Vm does not grant",
                self.name()
            ),
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of capabilities a Vm grants. A default set grants none (an embedder opts in); the
/// `sigma` command-line tool grants all unless `--sandbox` is given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Native calls through the FFI (`.native` libraries and `ncall`).
    pub ffi: bool,
    /// Opening, reading and writing files.
    pub files: bool,
    /// Reading environment variables.
    pub env: bool,
    /// Ending the whole process (`sys exit`, `halt`): without it the run still stops, but as a
    /// `PermissionDenied` trap the host sees instead of an exit status.
    pub exit: bool,
}

impl Capabilities {
    /// Every capability granted.
    pub const ALL: Capabilities = Capabilities {
        ffi: true,
        files: true,
        env: true,
        exit: true,
    };
    /// No capability granted.
    pub const NONE: Capabilities = Capabilities {
        ffi: false,
        files: false,
        env: false,
        exit: false,
    };

    /// Whether `c` is granted.
    pub fn grants(self, c: Capability) -> bool {
        match c {
            Capability::Ffi => self.ffi,
            Capability::Files => self.files,
            Capability::Env => self.env,
            Capability::Exit => self.exit,
        }
    }

    /// Checks that `c` is granted, for the operation `what`.
    pub fn check(self, c: Capability, what: &str) -> Result<(), OpError> {
        if self.grants(c) {
            Ok(())
        } else {
            Err(c.denied(what))
        }
    }

    /// This set with `c` granted or not.
    pub fn with(mut self, c: Capability, granted: bool) -> Capabilities {
        match c {
            Capability::Ffi => self.ffi = granted,
            Capability::Files => self.files = granted,
            Capability::Env => self.env = granted,
            Capability::Exit => self.exit = granted,
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_follow_the_fields() {
        for c in Capability::ALL {
            assert!(Capabilities::ALL.grants(c));
            assert!(!Capabilities::NONE.grants(c));
            let one = Capabilities::NONE.with(c, true);
            for d in Capability::ALL {
                assert_eq!(one.grants(d), c == d, "{c} vs {d}");
            }
        }
        let e = Capabilities::NONE
            .check(Capability::Files, "sys file_open")
            .unwrap_err();
        assert_eq!(e.kind, TrapKind::PermissionDenied);
        assert!(e.message.contains("`files` capability"), "{}", e.message);
    }
}
