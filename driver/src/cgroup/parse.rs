//! Strict parsers for the cgroup file formats (kernel `Documentation/admin-guide/cgroup-v2.rst`,
//! "Interface Files: Conventions"), shared by v1 and v2.
//!
//! - single value: `123\n`, or `max\n` for "no limit" in limit files;
//! - flat keyed: one `key value` pair per line (`memory.stat`, `cpu.stat`, `memory.events`,
//!   v1 `cpuacct.stat`, `memory.oom_control`);
//! - nested keyed: `key sub=value sub=value` (`io.stat`, `*.pressure`).
//!
//! "Strict" means a line of any other shape, a value that is not a number, or a duplicated key
//! is an error naming the file and the line, never a silently skipped entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{CgroupError, Result};

fn parse_error(path: &Path, line: &str) -> CgroupError {
    CgroupError::Parse {
        path: path.to_path_buf(),
        line: line.to_owned(),
    }
}

/// Parses a single unsigned number (surrounding whitespace allowed).
///
/// ```
/// use drover_driver::cgroup::parse::parse_u64;
/// assert_eq!(parse_u64("memory.current".as_ref(), "4096\n").unwrap(), 4096);
/// ```
pub fn parse_u64(path: &Path, content: &str) -> Result<u64> {
    let value = content.trim();
    value.parse().map_err(|_| parse_error(path, value))
}

/// Parses a limit file where `max` means "no limit" (v2 `memory.max`, `pids.max`, v1 `pids.max`).
///
/// ```
/// use drover_driver::cgroup::parse::parse_limit;
/// assert_eq!(parse_limit("pids.max".as_ref(), "max\n").unwrap(), None);
/// assert_eq!(parse_limit("pids.max".as_ref(), "20\n").unwrap(), Some(20));
/// ```
pub fn parse_limit(path: &Path, content: &str) -> Result<Option<u64>> {
    match content.trim() {
        "max" => Ok(None),
        _ => parse_u64(path, content).map(Some),
    }
}

/// A parsed flat-keyed file: `key value` per line, values unsigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatKeyed {
    path: PathBuf,
    entries: BTreeMap<String, u64>,
}

impl FlatKeyed {
    /// Parses `content`, read from `path` (the path is kept for error messages).
    ///
    /// ```
    /// use drover_driver::cgroup::parse::FlatKeyed;
    /// let stat = FlatKeyed::parse("cpu.stat".as_ref(), "usage_usec 10\nuser_usec 7\n").unwrap();
    /// assert_eq!(stat.get("user_usec"), Some(7));
    /// assert_eq!(stat.get("nr_throttled"), None);
    /// ```
    pub fn parse(path: &Path, content: &str) -> Result<Self> {
        let mut entries = BTreeMap::new();
        for line in content.lines() {
            if line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split_ascii_whitespace();
            let (Some(key), Some(value), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(parse_error(path, line));
            };
            let value: u64 = value.parse().map_err(|_| parse_error(path, line))?;
            if entries.insert(key.to_owned(), value).is_some() {
                return Err(parse_error(path, line));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// The value of `key`, `None` when the file has no such key.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.entries.get(key).copied()
    }

    /// The value of `key`, or [`CgroupError::MissingKey`] naming the file.
    pub fn require(&self, key: &str) -> Result<u64> {
        self.get(key).ok_or_else(|| CgroupError::MissingKey {
            path: self.path.clone(),
            key: key.to_owned(),
        })
    }

    /// The file this was parsed from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A parsed nested-keyed file: `key sub=value sub=value ...` per line. Values are kept as
/// strings because some are decimals (`avg10=0.00`) and some are `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedKeyed {
    path: PathBuf,
    entries: BTreeMap<String, BTreeMap<String, String>>,
}

impl NestedKeyed {
    /// Parses `content`, read from `path`.
    ///
    /// ```
    /// use drover_driver::cgroup::parse::NestedKeyed;
    /// let io = NestedKeyed::parse("io.stat".as_ref(), "8:0 rbytes=4096 wbytes=0\n").unwrap();
    /// assert_eq!(io.get("8:0", "rbytes"), Some("4096"));
    /// ```
    pub fn parse(path: &Path, content: &str) -> Result<Self> {
        let mut entries = BTreeMap::new();
        for line in content.lines() {
            if line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split_ascii_whitespace();
            let key = fields.next().ok_or_else(|| parse_error(path, line))?;
            if key.contains('=') {
                return Err(parse_error(path, line));
            }
            let mut values = BTreeMap::new();
            for field in fields {
                let (sub, value) = field
                    .split_once('=')
                    .ok_or_else(|| parse_error(path, line))?;
                if sub.is_empty() || value.is_empty() {
                    return Err(parse_error(path, line));
                }
                if values.insert(sub.to_owned(), value.to_owned()).is_some() {
                    return Err(parse_error(path, line));
                }
            }
            if entries.insert(key.to_owned(), values).is_some() {
                return Err(parse_error(path, line));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// The raw value of `sub` on the line starting with `key`.
    pub fn get(&self, key: &str, sub: &str) -> Option<&str> {
        self.entries.get(key)?.get(sub).map(String::as_str)
    }

    /// The keys (first column) in sorted order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The file this was parsed from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Parses a `cgroup.procs` file: one pid per line.
pub fn parse_pids(path: &Path, content: &str) -> Result<Vec<u32>> {
    content
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.trim().parse().map_err(|_| parse_error(path, line)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/cg/test.file")
    }

    #[test]
    fn single_values() {
        assert_eq!(parse_u64(p(), "0\n").unwrap(), 0);
        assert_eq!(parse_u64(p(), " 18446744073709551615 ").unwrap(), u64::MAX);
        assert!(matches!(
            parse_u64(p(), "max"),
            Err(CgroupError::Parse { .. })
        ));
        assert!(matches!(
            parse_u64(p(), "-1"),
            Err(CgroupError::Parse { .. })
        ));
        assert!(matches!(parse_u64(p(), ""), Err(CgroupError::Parse { .. })));
        assert_eq!(parse_limit(p(), "max\n").unwrap(), None);
        assert_eq!(parse_limit(p(), "33554432\n").unwrap(), Some(33_554_432));
        assert!(parse_limit(p(), "lots\n").is_err());
    }

    #[test]
    fn flat_keyed_strict() {
        let ok = FlatKeyed::parse(p(), "a 1\nb 2\n\n").unwrap();
        assert_eq!(ok.get("a"), Some(1));
        assert_eq!(ok.require("b").unwrap(), 2);
        let missing = ok.require("c").unwrap_err();
        assert!(matches!(&missing, CgroupError::MissingKey { key, .. } if key == "c"));
        assert_eq!(missing.to_string(), "/cg/test.file: missing key \"c\"");

        for bad in ["a\n", "a 1 2\n", "a x\n", "a -1\n", "a 1\na 2\n", "a 1.5\n"] {
            let err = FlatKeyed::parse(p(), bad).unwrap_err();
            assert!(
                matches!(err, CgroupError::Parse { .. }),
                "{bad:?} gave {err}"
            );
        }
        let err = FlatKeyed::parse(p(), "ok 1\nbroken\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "parse /cg/test.file: unexpected line \"broken\""
        );
    }

    #[test]
    fn nested_keyed_strict() {
        let pressure = "some avg10=0.00 avg60=1.50 avg300=0.00 total=1234\n\
                        full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        let parsed = NestedKeyed::parse(p(), pressure).unwrap();
        assert_eq!(parsed.get("some", "avg60"), Some("1.50"));
        assert_eq!(parsed.get("full", "total"), Some("0"));
        assert_eq!(parsed.get("none", "total"), None);
        assert_eq!(parsed.keys().collect::<Vec<_>>(), ["full", "some"]);

        let io = NestedKeyed::parse(p(), "8:0 rbytes=1 wbytes=2 rios=3 wios=4\n").unwrap();
        assert_eq!(io.get("8:0", "wios"), Some("4"));

        for bad in [
            "k a\n",
            "k a=\n",
            "k =1\n",
            "k a=1 a=2\n",
            "k a=1\nk b=2\n",
            "a=1\n",
        ] {
            assert!(
                matches!(NestedKeyed::parse(p(), bad), Err(CgroupError::Parse { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn pids_lists() {
        assert_eq!(parse_pids(p(), "").unwrap(), Vec::<u32>::new());
        assert_eq!(parse_pids(p(), "12\n345\n").unwrap(), vec![12, 345]);
        assert!(parse_pids(p(), "12\nx\n").is_err());
    }
}
