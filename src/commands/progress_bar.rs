//! A progress bar on stderr for long transfers, drawn only on a terminal and
//! only for work over a few MB.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::Progress;

/// Below this many bytes no bar is drawn.
const MIN_BYTES: u64 = 4 << 20;

/// An indicatif bar behind the library's [`Progress`] seam.
#[derive(Debug)]
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar for `total` bytes of `what`, or nothing off a terminal.
    pub fn new(what: &str, total: u64) -> Self {
        if total < MIN_BYTES || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(what.to_string());
        Self(Some(bar))
    }
}

impl Progress for Bar {
    fn set_total(&self, total: u64) {
        if let Some(b) = &self.0 {
            b.set_length(total);
        }
    }
    fn advance(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
