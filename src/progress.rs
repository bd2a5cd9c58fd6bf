//! Progress reporting seam: long library operations report bytes done through
//! this trait; the command layer decides whether a bar is drawn.

/// Receives progress of a long operation.
pub trait Progress {
    /// The total amount of work, in bytes, once known.
    fn set_total(&self, _total: u64) {}
    /// `n` more bytes done.
    fn advance(&self, _n: u64) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Counts bytes read through it into a [`Progress`].
#[derive(Debug)]
pub struct ProgressReader<'p, R, P: ?Sized> {
    inner: R,
    progress: &'p P,
}

impl<'p, R, P: Progress + ?Sized> ProgressReader<'p, R, P> {
    /// Wraps `inner`.
    pub fn new(inner: R, progress: &'p P) -> Self {
        Self { inner, progress }
    }
}

impl<R: std::io::Read, P: Progress + ?Sized> std::io::Read for ProgressReader<'_, R, P> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}
