//! Job diffs for `job plan` (filled in next).
