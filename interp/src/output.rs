//! An in-memory, cloneable writer for capturing guest output: give one clone to
//! [`crate::Vm::set_stdout`] (or `set_stderr`) and read what the guest wrote from another.
//!
//! Invariant: all clones share one buffer; writes never fail.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// A shared byte buffer that implements [`Write`].
#[derive(Clone, Debug, Default)]
pub struct OutputBuffer(Rc<RefCell<Vec<u8>>>);

impl OutputBuffer {
    /// A new, empty buffer.
    pub fn new() -> OutputBuffer {
        OutputBuffer::default()
    }

    /// Everything written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.borrow().clone()
    }

    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.borrow()).into_owned()
    }
}

impl Write for OutputBuffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_what_is_written() {
        let out = OutputBuffer::new();
        let mut w = out.clone();
        write!(w, "héllo {}", 42).unwrap();
        assert_eq!(out.text(), "héllo 42");
        assert_eq!(out.bytes(), "héllo 42".as_bytes());
    }
}
