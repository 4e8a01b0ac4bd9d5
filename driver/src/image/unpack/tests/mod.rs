//! Layer extraction tests, run as root against the real filesystem in tempdirs.
//!
//! Tables (one sandbox per row, probe directory checked after every row): `breakouts`
//! (containerd `TestBreakouts` port and the tar/CVE regressions of runtime.md §3.8),
//! `whiteouts`, `metadata`, `paths`. Streaming limits are plain tests in `limits`.

mod breakouts;
mod harness;
mod limits;
mod metadata;
mod paths;
mod whiteouts;
