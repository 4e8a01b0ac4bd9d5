//! Constraint and affinity operators over a node's values (Nomad's `checkConstraint`):
//! targets like `${attr.kernel.name}` are resolved against the node, then compared.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;

use super::version::{Flavor, Version, VersionConstraint};
use crate::structs::Node;

/// The value a target names on `node`: `None` when the node lacks it. Text that is not
/// an interpolation is itself the value.
pub(crate) fn resolve_target<'n>(target: &'n str, node: &'n Node) -> Option<&'n str> {
    if !target.starts_with("${") {
        return Some(target);
    }
    match target {
        "${node.unique.id}" => Some(&node.id),
        "${node.datacenter}" => Some(&node.datacenter),
        "${node.unique.name}" => Some(&node.name),
        "${node.class}" => Some(&node.node_class),
        "${node.pool}" => Some(node_pool(node)),
        _ => {
            let inner = target.strip_prefix("${")?.strip_suffix('}')?;
            if let Some(attr) = inner.strip_prefix("attr.") {
                node.attributes.get(attr).map(String::as_str)
            } else if let Some(meta) = inner.strip_prefix("meta.") {
                node.meta.get(meta).map(String::as_str)
            } else {
                None
            }
        }
    }
}

/// The pool of nodes that name none.
pub(crate) const DEFAULT_NODE_POOL: &str = "default";
/// A job in this pool may run on any node.
pub(crate) const NODE_POOL_ALL: &str = "all";

pub(crate) const OP_DISTINCT_HOSTS: &str = "distinct_hosts";
pub(crate) const OP_DISTINCT_PROPERTY: &str = "distinct_property";
const OP_REGEXP: &str = "regexp";
const OP_VERSION: &str = "version";
const OP_SEMVER: &str = "semver";
const OP_SET_CONTAINS: &str = "set_contains";
const OP_SET_CONTAINS_ALL: &str = "set_contains_all";
const OP_SET_CONTAINS_ANY: &str = "set_contains_any";
const OP_IS_SET: &str = "is_set";
const OP_IS_NOT_SET: &str = "is_not_set";

/// A node without a pool is in `default`.
pub(crate) fn node_pool(node: &Node) -> &str {
    if node.node_pool.is_empty() {
        DEFAULT_NODE_POOL
    } else {
        &node.node_pool
    }
}

/// Compiled regular expressions and version constraints, by their text: one evaluation
/// checks the same constraint against many nodes.
#[derive(Default)]
pub(crate) struct OperatorCache {
    regexes: RefCell<HashMap<String, Option<Regex>>>,
    versions: RefCell<HashMap<(String, bool), Option<VersionConstraint>>>,
}

impl OperatorCache {
    /// Does `operand` hold between the resolved left and right values?
    pub(crate) fn check(&self, operand: &str, l: Option<&str>, r: Option<&str>) -> bool {
        match operand {
            // Checked against the placements, not one node (see `feasible`).
            OP_DISTINCT_HOSTS | OP_DISTINCT_PROPERTY => true,
            "=" | "==" | "is" => matches!((l, r), (Some(l), Some(r)) if l == r),
            // Go compares the zero value of a missing side, so a missing attribute is "".
            "!=" | "not" => l.unwrap_or("") != r.unwrap_or(""),
            "<" | "<=" | ">" | ">=" => match (l, r) {
                (Some(l), Some(r)) => check_order(operand, l, r),
                _ => false,
            },
            OP_IS_SET => l.is_some(),
            OP_IS_NOT_SET => l.is_none(),
            OP_VERSION | OP_SEMVER => match (l, r) {
                (Some(l), Some(r)) => self.version_match(operand == OP_SEMVER, l, r),
                _ => false,
            },
            OP_REGEXP => match (l, r) {
                (Some(l), Some(r)) => self.regex_match(l, r),
                _ => false,
            },
            OP_SET_CONTAINS | OP_SET_CONTAINS_ALL => match (l, r) {
                (Some(l), Some(r)) => {
                    let have: Vec<&str> = l.split(',').map(str::trim).collect();
                    r.split(',').map(str::trim).all(|x| have.contains(&x))
                }
                _ => false,
            },
            OP_SET_CONTAINS_ANY => match (l, r) {
                (Some(l), Some(r)) => {
                    let have: Vec<&str> = l.split(',').map(str::trim).collect();
                    r.split(',').map(str::trim).any(|x| have.contains(&x))
                }
                _ => false,
            },
            _ => false,
        }
    }

    fn regex_match(&self, value: &str, pattern: &str) -> bool {
        let mut cache = self.regexes.borrow_mut();
        let re = cache
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(pattern).ok());
        re.as_ref().is_some_and(|re| re.is_match(value))
    }

    fn version_match(&self, semver: bool, value: &str, constraint: &str) -> bool {
        let Some(version) = Version::parse(value) else {
            return false;
        };
        let flavor = if semver {
            Flavor::Semver
        } else {
            Flavor::Version
        };
        let mut cache = self.versions.borrow_mut();
        let c = cache
            .entry((constraint.to_string(), semver))
            .or_insert_with(|| VersionConstraint::parse(constraint, flavor));
        c.as_ref().is_some_and(|c| c.check(&version))
    }
}

/// Integers, then floats, then text.
fn check_order(op: &str, l: &str, r: &str) -> bool {
    fn cmp<T: PartialOrd>(op: &str, l: T, r: T) -> bool {
        match op {
            "<" => l < r,
            "<=" => l <= r,
            ">" => l > r,
            ">=" => l >= r,
            _ => false,
        }
    }
    if let (Ok(l), Ok(r)) = (l.parse::<i64>(), r.parse::<i64>()) {
        return cmp(op, l, r);
    }
    if let (Ok(l), Ok(r)) = (l.parse::<f64>(), r.parse::<f64>()) {
        return cmp(op, l, r);
    }
    cmp(op, l, r)
}
