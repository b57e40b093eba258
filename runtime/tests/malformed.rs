//! Property tests: malformed input of any kind gives an error, never a panic. Random bytes,
//! mutated and truncated valid `.sbc` files go through the decoder and verifier; mutated
//! assembly text goes through the assembler. Whatever verifies must also survive the
//! encode/decode round trip unchanged.

use proptest::prelude::*;
use sigma_runtime::{assemble, decode, encode, verify};

const SAMPLES: &[&str] = &[
    "
.module sample
.global count: int = 3 export
.global label = \"hi\"
.init setup
.func setup()
    .reg c: int
    getg c, count
    add c, c, 1
    setg count, c
    ret
.end
.func fib(n: int) -> int export
    .reg a: int, b: int
    jlt n, 2, base
    sub a, n, 1
    call a, fib, a
    sub b, n, 2
    call b, fib, b
    add a, a, b
    ret a
base:
    ret n
.end
.func main() -> int export
    .reg x, s: str, f: float
    call x, fib, 10
    load s, \"text\\n\"
    itof f, 3
    jeq x, 55, ok
    halt 1
ok:
    sys _, print, x
    typeof s, x
    is x, s, str
    cast s, s, str
    tailcall fib, 3
.end
",
    "
.func loop(n) -> any export
    .reg i, acc, t: bool
    load i, 0
top:
    jge i, n, done
    rem t, i, 3
    eq t, i, 0
    jumpifnot t, skip
    add acc, acc, i
skip:
    add i, i, 1
    jump top
done:
    move i, acc
    ret i
.end
",
    "
.module importer
.import util
.import other
.func main() -> int export
    .reg x: int, y
    call x, util.square, 3
    getg y, other.count
    setg other.count, x
    closure y, util.square
    tailcall util.square, x
.end
",
    "
.module natives
.native libm \"libm.so.6\"
.native c \"libc.so.6\"
.extern libm.pow (f64, f64) -> f64
.extern c.memset (bytes, i32, u64) -> ptr
.extern c.strerror (i32) -> str
.extern c.srand (u32) -> void
.extern c.mix (i8, i16, i32, i64, u8, u16, u32, u64, f32, ptr, str) -> u8
.func main() -> float export
    .reg x: float, b: bytes, s, p: int
    ncall x, libm.pow, 2, 0.5
    newbytes b, 8
    ncall p, c.memset, b, 0, 8
    ncall s, c.strerror, 2
    ncall _, c.srand, 7
    ret x
.end
",
    "
.module methods
.import shapes
.type Point { x: int, y: int }
.multimethod area/2 export
.multimethod name/1
.method area (Point, any) point_area
.method area (int, 0) zero
.method area (str, \"quit\") quit
.method name (true) yes
.method name ('c') yes
.method name (nil) yes
.method name (-2.5) yes
.method shapes.size (float) shapes.float_size
.method shapes.size (Point) yes
.func point_area(p: Point, b) -> int
    .reg x: int
    getf x, p, Point.x
    ret x
.end
.func zero(a: int, b: int)
    ret a
.end
.func quit(a: str, b: str)
    ret b
.end
.func yes(v)
    .reg r
    dispatch r, area, v, 0
    dispatch r, shapes.size, r
    ret r
.end
",
];

fn sample_bytes() -> Vec<Vec<u8>> {
    SAMPLES
        .iter()
        .map(|s| encode(&assemble(s, "sample.sbas").expect("samples assemble").0))
        .collect()
}

/// Decoding and verifying must never panic; a module that verifies must re-encode to bytes
/// that decode to the same encoding (canonical form).
fn check_bytes(bytes: &[u8]) {
    if let Ok(m) = decode(bytes) {
        if verify(&m).is_ok() {
            let again = encode(&m);
            let m2 = decode(&again).expect("canonical bytes decode");
            assert_eq!(encode(&m2), again);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_bytes(&bytes);
        let mut with_magic = b"SGBC\x01".to_vec();
        with_magic.extend_from_slice(&bytes);
        check_bytes(&with_magic);
    }

    #[test]
    fn mutated_modules_never_panic(
        which in 0..SAMPLES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
    ) {
        let mut bytes = sample_bytes()[which].clone();
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes[i] ^= 1 << (byte % 8),
                2 => bytes.insert(i, byte),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        check_bytes(&bytes);
    }

    #[test]
    fn truncated_modules_are_errors(which in 0..SAMPLES.len(), cut in any::<prop::sample::Index>()) {
        let bytes = &sample_bytes()[which];
        let n = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..n]).is_err());
    }

    #[test]
    fn mutated_text_never_panics(
        which in 0..SAMPLES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<char>(), 0u8..3), 1..6),
    ) {
        let mut text: Vec<char> = SAMPLES[which].chars().collect();
        for (at, c, kind) in edits {
            if text.is_empty() {
                break;
            }
            let i = at.index(text.len());
            match kind {
                0 => text[i] = c,
                1 => text.insert(i, c),
                _ => {
                    text.remove(i);
                }
            }
        }
        let text: String = text.into_iter().collect();
        if let Err(e) = assemble(&text, "fuzz.sbas") {
            // Every error names a real line and column.
            prop_assert!(e.line >= 1 && e.col >= 1);
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn random_text_never_panics(text in "[ -~\\n\\t]{0,300}") {
        let _ = assemble(&text, "fuzz.sbas");
        let with_func = format!(".func f()\n{text}\n.end\n");
        let _ = assemble(&with_func, "fuzz.sbas");
    }
}
