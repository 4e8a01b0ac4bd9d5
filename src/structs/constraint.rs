//! Placement rules: `constraint` (hard filter), `affinity` (score), `spread` (balance).

use serde::{Deserialize, Serialize};

use super::ValidationErrors;

/// `constraint` block. The HCL shorthands (`distinct_hosts = true`, `regexp = "…"`, …)
/// are turned into an operand and targets by the job file parser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Constraint {
    #[serde(rename = "LTarget")]
    pub l_target: String,
    #[serde(rename = "RTarget")]
    pub r_target: String,
    #[serde(rename = "Operand")]
    pub operand: String,
}

pub const OP_DISTINCT_HOSTS: &str = "distinct_hosts";
pub const OP_DISTINCT_PROPERTY: &str = "distinct_property";
pub const OP_REGEXP: &str = "regexp";
pub const OP_VERSION: &str = "version";
pub const OP_SEMVER: &str = "semver";
pub const OP_SET_CONTAINS: &str = "set_contains";
pub const OP_SET_CONTAINS_ALL: &str = "set_contains_all";
pub const OP_SET_CONTAINS_ANY: &str = "set_contains_any";
pub const OP_IS_SET: &str = "is_set";
pub const OP_IS_NOT_SET: &str = "is_not_set";
const COMPARISONS: [&str; 9] = ["=", "==", "is", "!=", "not", "<", "<=", ">", ">="];

/// Interpolations a constraint may name on its left side: exact ones, then prefixes.
const EXACT_TARGETS: [&str; 5] = [
    "${node.unique.id}",
    "${node.datacenter}",
    "${node.unique.name}",
    "${node.class}",
    "${node.pool}",
];
const PREFIX_TARGETS: [&str; 3] = ["${attr.", "${device.", "${meta."];

fn validate_attribute(target: &str) -> Result<(), String> {
    if !target.starts_with('$') {
        return Ok(());
    }
    if !target.starts_with("${") {
        return Err(format!("attribute {target:?} is missing an opening brace"));
    }
    if !target.ends_with('}') {
        return Err(format!("attribute {target:?} is missing a closing brace"));
    }
    if EXACT_TARGETS.contains(&target) || PREFIX_TARGETS.iter().any(|p| target.starts_with(p)) {
        return Ok(());
    }
    Err(format!("unsupported attribute {target:?}"))
}

impl Constraint {
    pub fn validate(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        if self.operand.is_empty() {
            errs.push("Missing constraint operand");
        }
        let mut needs_l_target = true;
        match self.operand.as_str() {
            OP_DISTINCT_HOSTS => needs_l_target = false,
            OP_SET_CONTAINS | OP_SET_CONTAINS_ALL | OP_SET_CONTAINS_ANY => {
                if self.r_target.is_empty() {
                    errs.push("Set contains constraint requires an RTarget");
                }
            }
            OP_REGEXP | OP_VERSION | OP_SEMVER => {}
            OP_DISTINCT_PROPERTY => {
                if !self.r_target.is_empty() {
                    match self.r_target.parse::<u64>() {
                        Err(e) => errs.push(format!(
                            "Failed to convert RTarget {:?} to uint64: {e}",
                            self.r_target
                        )),
                        Ok(0) => errs.push(
                            "Distinct Property must have an allowed count of 1 or greater: 0 < 1",
                        ),
                        Ok(_) => {}
                    }
                }
            }
            OP_IS_SET | OP_IS_NOT_SET => {
                if !self.r_target.is_empty() {
                    errs.push(format!(
                        "Operator {:?} does not support an RTarget",
                        self.operand
                    ));
                }
            }
            op if COMPARISONS.contains(&op) => {
                if self.r_target.is_empty() {
                    errs.push(format!("Operator {op:?} requires an RTarget"));
                }
            }
            "" => {}
            other => errs.push(format!("Unknown constraint type {other:?}")),
        }
        if needs_l_target {
            if self.l_target.is_empty() {
                errs.push("no attribute provided but is required by operator");
            } else if let Err(e) = validate_attribute(&self.l_target) {
                errs.push(e);
            }
        }
        errs
    }
}

/// `affinity` block: like a constraint, plus a weight in -100..=100 (default 50).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Affinity {
    #[serde(rename = "LTarget")]
    pub l_target: String,
    #[serde(rename = "RTarget")]
    pub r_target: String,
    #[serde(rename = "Operand")]
    pub operand: String,
    #[serde(rename = "Weight")]
    pub weight: Option<i64>,
}

pub const DEFAULT_WEIGHT: i64 = 50;

impl Affinity {
    pub fn canonicalize(&mut self) {
        self.weight.get_or_insert(DEFAULT_WEIGHT);
    }

    pub fn validate(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        if self.operand.is_empty() {
            errs.push("Missing affinity operand");
        }
        match self.operand.as_str() {
            OP_SET_CONTAINS | OP_SET_CONTAINS_ALL | OP_SET_CONTAINS_ANY => {
                if self.r_target.is_empty() {
                    errs.push("Set contains operators require an RTarget");
                }
            }
            OP_REGEXP | OP_VERSION | OP_SEMVER | "" => {}
            op if COMPARISONS.contains(&op) => {
                if self.r_target.is_empty() {
                    errs.push(format!("Operator {op:?} requires an RTarget"));
                }
            }
            other => errs.push(format!("Unknown affinity operator {other:?}")),
        }
        if self.l_target.is_empty() {
            errs.push("No LTarget provided but is required");
        }
        match self.weight.unwrap_or_default() {
            0 => errs.push("Affinity weight cannot be zero"),
            w if !(-100..=100).contains(&w) => {
                errs.push("Affinity weight must be within the range [-100,100]")
            }
            _ => {}
        }
        errs
    }
}

/// `spread` block: spread allocations over an attribute's values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Spread {
    pub attribute: String,
    pub weight: Option<i64>,
    pub spread_target: Vec<SpreadTarget>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SpreadTarget {
    pub value: String,
    pub percent: i64,
}

impl Spread {
    pub fn canonicalize(&mut self) {
        self.weight.get_or_insert(DEFAULT_WEIGHT);
    }

    pub fn validate(&self) -> ValidationErrors {
        let mut errs = ValidationErrors::default();
        if self.attribute.is_empty() {
            errs.push("Missing spread attribute");
        }
        let weight = self.weight.unwrap_or_default();
        if weight <= 0 || weight > 100 {
            errs.push("Spread block must have a positive weight from 0 to 100");
        }
        let mut seen = std::collections::HashSet::new();
        let mut sum = 0;
        for target in &self.spread_target {
            if !seen.insert(target.value.as_str()) {
                errs.push(format!(
                    "Spread target value {:?} already defined",
                    target.value
                ));
            }
            if !(0..=100).contains(&target.percent) {
                errs.push(format!(
                    "Spread target percentage for value {:?} must be between 0 and 100",
                    target.value
                ));
            }
            sum += target.percent;
        }
        if sum > 100 {
            errs.push(format!(
                "Sum of spread target percentages must not be greater than 100%; got {sum}%"
            ));
        }
        errs
    }
}

/// Constraints, affinities and spreads as Nomad checks them, at job and group level
/// alike: system jobs may have no affinity or spread.
pub(crate) fn validate_placement(
    errs: &mut super::ValidationErrors,
    job_type: &str,
    constraints: &[Constraint],
    affinities: &[Affinity],
    spreads: &[Spread],
) {
    for (i, c) in constraints.iter().enumerate() {
        errs.nest(
            &format!("Constraint {} validation failed", i + 1),
            c.validate(),
        );
    }
    if job_type == super::JOB_TYPE_SYSTEM {
        if !affinities.is_empty() {
            errs.push("System jobs may not have an affinity block");
        }
        if !spreads.is_empty() {
            errs.push("System jobs may not have a spread block");
        }
    } else {
        for (i, a) in affinities.iter().enumerate() {
            errs.nest(
                &format!("Affinity {} validation failed", i + 1),
                a.validate(),
            );
        }
        for (i, s) in spreads.iter().enumerate() {
            errs.nest(&format!("Spread {} validation failed", i + 1), s.validate());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraint(l: &str, op: &str, r: &str) -> Constraint {
        Constraint {
            l_target: l.into(),
            r_target: r.into(),
            operand: op.into(),
        }
    }

    #[test]
    fn constraint_rules() {
        let ok = [
            constraint("${attr.kernel.name}", "=", "linux"),
            constraint("", OP_DISTINCT_HOSTS, "true"),
            constraint("${meta.rack}", OP_DISTINCT_PROPERTY, "2"),
            constraint("${node.class}", OP_IS_SET, ""),
        ];
        for c in ok {
            assert!(c.validate().is_empty(), "{c:?}: {:?}", c.validate());
        }
        let bad = [
            (
                constraint("${attr.x}", "=", ""),
                "Operator \"=\" requires an RTarget",
            ),
            (
                constraint("${attr.x}", "~", "a"),
                "Unknown constraint type \"~\"",
            ),
            (
                constraint("${nod.x}", "=", "a"),
                "unsupported attribute \"${nod.x}\"",
            ),
            (
                constraint("$attr.x", "=", "a"),
                "attribute \"$attr.x\" is missing an opening brace",
            ),
            (
                constraint("", "=", "a"),
                "no attribute provided but is required by operator",
            ),
        ];
        for (c, want) in bad {
            assert_eq!(c.validate().0, vec![want.to_string()], "{c:?}");
        }
    }

    #[test]
    fn weights() {
        let mut a = Affinity {
            l_target: "${node.datacenter}".into(),
            r_target: "dc1".into(),
            operand: "=".into(),
            weight: None,
        };
        a.canonicalize();
        assert_eq!(a.weight, Some(50));
        assert!(a.validate().is_empty());
        a.weight = Some(0);
        assert_eq!(a.validate().0, vec!["Affinity weight cannot be zero"]);

        let mut s = Spread {
            attribute: "${node.datacenter}".into(),
            weight: None,
            spread_target: vec![
                SpreadTarget {
                    value: "dc1".into(),
                    percent: 70,
                },
                SpreadTarget {
                    value: "dc2".into(),
                    percent: 50,
                },
            ],
        };
        s.canonicalize();
        assert_eq!(
            s.validate().0,
            vec!["Sum of spread target percentages must not be greater than 100%; got 120%"]
        );
    }
}
