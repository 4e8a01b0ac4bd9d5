//! Versions and version constraints for the `version` and `semver` constraint operators:
//! `">= 1.2, < 2.0"`, `"~> 1.2.3"`. `version` follows go-version's rules (a pre-release
//! only matches a constraint that names a pre-release of the same version); `semver`
//! compares by Semantic Versioning precedence alone.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    /// Padded to at least three segments.
    segments: Vec<u64>,
    /// How many segments were written (`~>` depends on it).
    specified: usize,
    prerelease: String,
}

impl Version {
    /// `1`, `v1.2.3`, `1.2.3-beta.1+build`. Build metadata is ignored.
    pub(crate) fn parse(text: &str) -> Option<Version> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let text = text.split_once('+').map_or(text, |(v, _)| v);
        let (core, prerelease) = match text.find(|c: char| c != '.' && !c.is_ascii_digit()) {
            Some(i) => {
                let (core, rest) = text.split_at(i);
                (core, rest.strip_prefix('-').unwrap_or(rest))
            }
            None => (text, ""),
        };
        if core.is_empty() || prerelease.contains(char::is_whitespace) {
            return None;
        }
        if !prerelease.is_empty() && !prerelease.split('.').all(valid_identifier) {
            return None;
        }
        let mut segments = core
            .split('.')
            .map(|s| s.parse::<u64>().ok())
            .collect::<Option<Vec<_>>>()?;
        let specified = segments.len();
        while segments.len() < 3 {
            segments.push(0);
        }
        Some(Version {
            segments,
            specified,
            prerelease: prerelease.to_string(),
        })
    }

    fn compare(&self, other: &Version) -> Ordering {
        let n = self.segments.len().max(other.segments.len());
        for i in 0..n {
            let a = self.segments.get(i).copied().unwrap_or(0);
            let b = other.segments.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        compare_prerelease(&self.prerelease, &other.prerelease)
    }
}

fn valid_identifier(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '~')
}

/// Semantic Versioning precedence: a release sorts after its pre-releases; identifiers
/// compare numerically when both are numbers, numbers sort before words.
fn compare_prerelease(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut pa = a.split('.');
    let mut pb = b.split('.');
    loop {
        match (pa.next(), pb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Pessimistic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// go-version (`version` operator): pre-release rules, `~>` allowed.
    Version,
    /// Semantic Versioning (`semver` operator).
    Semver,
}

/// A comma-separated list of constraints, all of which must hold.
#[derive(Debug, Clone)]
pub(crate) struct VersionConstraint {
    parts: Vec<(Op, Version)>,
    flavor: Flavor,
}

impl VersionConstraint {
    pub(crate) fn parse(text: &str, flavor: Flavor) -> Option<VersionConstraint> {
        let mut parts = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let (op, rest) = [
                ("~>", Op::Pessimistic),
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("!=", Op::Ne),
                (">", Op::Gt),
                ("<", Op::Lt),
                ("=", Op::Eq),
            ]
            .iter()
            .find_map(|(s, op)| part.strip_prefix(s).map(|rest| (*op, rest)))
            .unwrap_or((Op::Eq, part));
            if op == Op::Pessimistic && flavor == Flavor::Semver {
                return None;
            }
            parts.push((op, Version::parse(rest)?));
        }
        Some(VersionConstraint { parts, flavor })
    }

    pub(crate) fn check(&self, v: &Version) -> bool {
        self.parts.iter().all(|(op, c)| self.check_one(*op, c, v))
    }

    fn check_one(&self, op: Op, c: &Version, v: &Version) -> bool {
        let ord = v.compare(c);
        let pre_ok = self.flavor == Flavor::Semver || prerelease_check(v, c);
        match op {
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
            Op::Gt => pre_ok && ord == Ordering::Greater,
            Op::Ge => pre_ok && ord != Ordering::Less,
            Op::Lt => pre_ok && ord == Ordering::Less,
            Op::Le => pre_ok && ord != Ordering::Greater,
            Op::Pessimistic => {
                if !pre_ok || (!c.prerelease.is_empty() && v.prerelease.is_empty()) {
                    return false;
                }
                if ord == Ordering::Less || c.specified == 0 {
                    return false;
                }
                // All but the last written segment must match; the last may grow.
                let fixed = c.specified - 1;
                (0..fixed).all(|i| v.segments.get(i) == c.segments.get(i))
                    && v.segments.get(fixed) >= c.segments.get(fixed)
            }
        }
    }
}

/// go-version: a constraint naming a pre-release only matches pre-releases of that same
/// version; one without only matches releases.
fn prerelease_check(v: &Version, c: &Version) -> bool {
    match (v.prerelease.is_empty(), c.prerelease.is_empty()) {
        (false, false) => v.segments == c.segments,
        (false, true) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints() {
        let cases = [
            ("1.2.3", ">= 1.2, < 2.0", Flavor::Version, true),
            ("2.0.0", ">= 1.2, < 2.0", Flavor::Version, false),
            ("v1.2", "= 1.2.0", Flavor::Version, true),
            ("1.2.3", "1.2.3", Flavor::Version, true),
            ("1.2.4", "!= 1.2.3", Flavor::Version, true),
            ("1.2.9", "~> 1.2.3", Flavor::Version, true),
            ("1.3.0", "~> 1.2.3", Flavor::Version, false),
            ("1.9", "~> 1.2", Flavor::Version, true),
            ("2.0", "~> 1.2", Flavor::Version, false),
            ("1.3.0-beta1", ">= 1.2", Flavor::Version, false),
            ("1.3.0-beta1", ">= 1.2", Flavor::Semver, true),
            ("1.3.0-beta.2", "> 1.3.0-beta.1", Flavor::Version, true),
            ("1.3.0-beta.11", "> 1.3.0-beta.2", Flavor::Semver, true),
            ("1.3.0", "> 1.3.0-rc.1", Flavor::Semver, true),
            ("1.3.0+build5", "= 1.3.0", Flavor::Semver, true),
            ("junk", ">= 1.0", Flavor::Version, false),
        ];
        for (v, c, flavor, want) in cases {
            let got = match (Version::parse(v), VersionConstraint::parse(c, flavor)) {
                (Some(v), Some(c)) => c.check(&v),
                _ => false,
            };
            assert_eq!(got, want, "{v} {c} {flavor:?}");
        }
        assert!(VersionConstraint::parse("~> 1.0", Flavor::Semver).is_none());
        assert!(VersionConstraint::parse(">= x", Flavor::Version).is_none());
    }
}
