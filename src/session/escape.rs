//! The attach escape: `Ctrl-a q` detaches, `Ctrl-a Ctrl-a` sends one literal
//! `Ctrl-a` (screen's and LXC `lxc-console`'s prefix). Pure, so every split
//! of the input across reads is unit tested.

/// The escape prefix, Ctrl-a.
pub const PREFIX: u8 = 0x01;

/// The key that detaches after the prefix.
pub const DETACH: u8 = b'q';

/// State of the escape across reads of the terminal.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Escape {
    /// The last byte seen was a lone prefix.
    armed: bool,
}

impl Escape {
    /// A fresh state.
    pub fn new() -> Escape {
        Escape::default()
    }

    /// Filters one read of the terminal: what goes to the session is
    /// appended to `out`. Returns true when the user asked to detach (the
    /// bytes after `Ctrl-a q` are dropped). A prefix followed by any other
    /// key sends both, so nothing typed is lost.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in input {
            if self.armed {
                self.armed = false;
                match b {
                    DETACH => return true,
                    PREFIX => out.push(PREFIX),
                    other => out.extend_from_slice(&[PREFIX, other]),
                }
            } else if b == PREFIX {
                self.armed = true;
            } else {
                out.push(b);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut e = Escape::new();
        let mut out = Vec::new();
        for c in chunks {
            if e.feed(c, &mut out) {
                return (out, true);
            }
        }
        (out, false)
    }

    #[test]
    fn plain_input_passes() {
        assert_eq!(run(&[b"ls -l\r"]), (b"ls -l\r".to_vec(), false));
        assert_eq!(run(&[b"q", b"\x03"]), (b"q\x03".to_vec(), false));
    }

    #[test]
    fn ctrl_a_q_detaches_and_drops_the_rest() {
        assert_eq!(run(&[b"ab\x01qcd"]), (b"ab".to_vec(), true));
        // The prefix at the end of one read, the key in the next.
        assert_eq!(run(&[b"ab\x01", b"q", b"zz"]), (b"ab".to_vec(), true));
    }

    #[test]
    fn ctrl_a_ctrl_a_is_one_literal_ctrl_a() {
        assert_eq!(run(&[b"\x01\x01"]), (vec![PREFIX], false));
        assert_eq!(run(&[b"\x01", b"\x01", b"q"]), (b"\x01q".to_vec(), false));
        assert_eq!(run(&[b"\x01\x01\x01\x01"]), (vec![PREFIX, PREFIX], false));
        // A literal Ctrl-a, then a real detach.
        assert_eq!(run(&[b"\x01\x01\x01q"]), (vec![PREFIX], true));
    }

    #[test]
    fn other_keys_after_the_prefix_are_sent_with_it() {
        assert_eq!(run(&[b"\x01x"]), (b"\x01x".to_vec(), false));
        assert_eq!(run(&[b"\x01", b"Q"]), (b"\x01Q".to_vec(), false));
    }

    #[test]
    fn a_pending_prefix_is_held_back() {
        let mut e = Escape::new();
        let mut out = Vec::new();
        assert!(!e.feed(b"a\x01", &mut out));
        assert_eq!(out, b"a");
        assert!(!e.feed(b"b", &mut out));
        assert_eq!(out, b"a\x01b");
    }
}
