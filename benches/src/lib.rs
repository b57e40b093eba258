//! `sigma-benches`: Sigma's benchmark programs and the data harnesses need about them.
//!
//! Each benchmark lives in `peers/<name>/` beside its C and Lua twins (same algorithm, same
//! sizes, same printed checksum): `<name>.sbas` uses typed registers, `<name>.untyped.sbas`
//! only `any` registers. Every program takes its size as its first argument and prints one
//! checksum line. `peers/run.sh` times them against C, Lua 5.4 and LuaJIT; the tests of this
//! crate check every program, in both tiers, against checksums computed by the C twins.

use std::path::PathBuf;

/// A benchmark program and the sizes the harnesses use.
#[derive(Clone, Copy, Debug)]
pub struct Bench {
    /// Folder and file stem under `peers/`.
    pub name: &'static str,
    /// Size for quick checks (tests), with the C twin's complete output at that size.
    pub small: (&'static str, &'static str),
    /// Size for timing runs (the peers' default).
    pub full: &'static str,
}

/// Every benchmark.
pub const BENCHES: &[Bench] = &[
    Bench {
        name: "fib",
        small: ("20", "6765\n"),
        full: "37",
    },
    Bench {
        name: "loop",
        small: ("100000", "12371471\n"),
        full: "40000000",
    },
    Bench {
        name: "sieve",
        small: ("20", "20560\n"),
        full: "5000",
    },
    Bench {
        name: "mandelbrot",
        small: ("60", "1424\n87580\n"),
        full: "1200",
    },
    Bench {
        name: "nbody",
        small: ("1000", "-169075164\n-169087605\n"),
        full: "1000000",
    },
    Bench {
        name: "spectral",
        small: ("40", "1274167288\n"),
        full: "800",
    },
    Bench {
        name: "fannkuch",
        small: ("1", "8629\n30\n"),
        full: "6",
    },
    Bench {
        name: "startup",
        small: ("0", "0\n"),
        full: "0",
    },
    Bench {
        name: "binarytrees",
        small: ("8", "25774\n"),
        full: "15",
    },
    Bench {
        name: "dispatch",
        small: ("2", "138804\n"),
        full: "15000",
    },
];

/// The `peers/` folder.
pub fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// Path of a benchmark's Sigma program (`untyped` selects the `any`-register twin).
pub fn program(name: &str, untyped: bool) -> PathBuf {
    let file = if untyped {
        format!("{name}.untyped.sbas")
    } else {
        format!("{name}.sbas")
    };
    peers_dir().join(name).join(file)
}
