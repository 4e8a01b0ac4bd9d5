//! Byte accounting on the layer stream: the decompression-bomb guard and a memory bound
//! on the extension headers the tar parser buffers.

use std::cell::Cell;
use std::io::{self, Read};

use super::UnpackError;

/// Most bytes the parser may read while looking for the next member: its header plus any
/// GNU long name / long link and PAX records, which the `tar` crate reads into memory.
/// Go's archive/tar (containerd, Docker) refuses such "special files" above 1 MiB; we
/// allow a little more for the three of them together.
pub(super) const HEADER_BUDGET: u64 = 2 << 20;

/// Shared counters; the reader lives inside `tar::Archive`, so the apply loop looks at
/// the meter through a shared reference.
pub(super) struct Meter {
    limit: u64,
    total: Cell<u64>,
    over_limit: Cell<bool>,
    /// `Some(remaining)` while the parser is reading headers.
    header_budget: Cell<Option<u64>>,
    header_overrun: Cell<bool>,
}

impl Meter {
    pub(super) fn new(limit: u64) -> Self {
        Meter {
            limit,
            total: Cell::new(0),
            over_limit: Cell::new(false),
            header_budget: Cell::new(None),
            header_overrun: Cell::new(false),
        }
    }

    /// Bytes read from the layer stream so far.
    pub(super) fn total(&self) -> u64 {
        self.total.get()
    }

    /// From now on reads are header reads, limited to [`HEADER_BUDGET`].
    pub(super) fn begin_headers(&self) {
        self.header_budget.set(Some(HEADER_BUDGET));
    }

    /// Reads are entry data again, limited only by the layer limit.
    pub(super) fn end_headers(&self) {
        self.header_budget.set(None);
    }

    /// Turns an I/O error that surfaced through the tar parser or an entry reader into
    /// the limit error that caused it, if one did; `other` otherwise.
    pub(super) fn classify(
        &self,
        err: io::Error,
        other: impl FnOnce(io::Error) -> UnpackError,
    ) -> UnpackError {
        if self.over_limit.get() {
            UnpackError::LayerTooLarge { limit: self.limit }
        } else if self.header_overrun.get() {
            UnpackError::HeaderTooLarge {
                limit: HEADER_BUDGET,
            }
        } else {
            other(err)
        }
    }
}

/// The caller's reader, counted. Once a limit is passed every read fails, so neither the
/// parser nor a copy loop can get further.
pub(super) struct Metered<'m, R> {
    inner: R,
    meter: &'m Meter,
}

impl<'m, R: Read> Metered<'m, R> {
    pub(super) fn new(inner: R, meter: &'m Meter) -> Self {
        Metered { inner, meter }
    }
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let m = self.meter;
        if m.over_limit.get() || m.header_overrun.get() {
            return Err(limit_error());
        }
        // Ask for at most one byte past the limit: a bomb is stopped after `limit + 1`
        // bytes, not after another large buffer's worth.
        let mut allowed = (m.limit - m.total.get()).saturating_add(1);
        if let Some(budget) = m.header_budget.get() {
            allowed = allowed.min(budget.saturating_add(1));
        }
        let want = buf
            .len()
            .min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        let total = m.total.get() + n as u64;
        m.total.set(total);
        if total > m.limit {
            m.over_limit.set(true);
            return Err(limit_error());
        }
        if let Some(budget) = m.header_budget.get() {
            match budget.checked_sub(n as u64) {
                Some(left) => m.header_budget.set(Some(left)),
                None => {
                    m.header_overrun.set(true);
                    return Err(limit_error());
                }
            }
        }
        Ok(n)
    }
}

fn limit_error() -> io::Error {
    io::Error::other("layer stream limit exceeded")
}
