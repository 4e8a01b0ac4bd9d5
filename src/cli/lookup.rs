//! Short-ID prefix lookups of UUID objects (evaluations, nodes, deployments), as Nomad's
//! CLI does them: the list endpoint with `?prefix=`, the prefix cut to an even number of
//! hex digits (the server's UUID index wants whole bytes), one match or an error text.

use serde_json::Value;

use crate::cli::format::{self, n, s, short};
use crate::cli::http::{encode, Client};

/// What is looked up: its list endpoint and Nomad's texts for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Evaluation,
    Node,
    Deployment,
}

impl Kind {
    fn list_path(self) -> &'static str {
        match self {
            Kind::Evaluation => "/v1/evaluations",
            Kind::Node => "/v1/nodes",
            Kind::Deployment => "/v1/deployments",
        }
    }

    fn none_found(self, prefix: &str) -> String {
        match self {
            Kind::Evaluation => format!("No evaluation(s) with prefix or id \"{prefix}\" found"),
            Kind::Node => format!("No node(s) with prefix or id \"{prefix}\" found"),
            Kind::Deployment => format!("Deployment ID \"{prefix}\" matched no deployments"),
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Evaluation => "evaluations",
            Kind::Node => "nodes",
            Kind::Deployment => "deployments",
        }
    }

    fn candidates(self, list: &[Value], verbose: bool) -> String {
        match self {
            Kind::Evaluation => eval_table(list, verbose),
            Kind::Node => node_table(list, verbose),
            Kind::Deployment => deployment_table(list, verbose),
        }
    }
}

/// Nomad's `sanitizeUUIDPrefix`: an odd count of hex digits loses its last character.
pub fn sanitize_prefix(prefix: &str) -> &str {
    let hex = prefix.chars().filter(|c| *c != '-').count();
    if hex % 2 == 1 {
        &prefix[..prefix.len() - 1]
    } else {
        prefix
    }
}

/// The one object `prefix` names, as its list stub; otherwise the text to print (exit 1).
pub fn resolve(client: &Client, kind: Kind, prefix: &str, verbose: bool) -> Result<Value, String> {
    if prefix.chars().count() < 2 {
        return Err("Identifier must contain at least two characters.".into());
    }
    let list = client
        .get(&format!(
            "{}?prefix={}",
            kind.list_path(),
            encode(sanitize_prefix(prefix))
        ))
        .map_err(|e| format!("Error querying {}: {e}", kind.plural()))?;
    let list = list.as_array().cloned().unwrap_or_default();
    // A full ID wins over the other objects its shortened form matched.
    if let Some(exact) = list.iter().find(|v| s(v, "ID") == prefix) {
        return Ok(exact.clone());
    }
    match list.len() {
        0 => Err(kind.none_found(prefix)),
        1 => Ok(list[0].clone()),
        _ => Err(format!(
            "Prefix matched multiple {}\n\n{}",
            kind.plural(),
            kind.candidates(&list, verbose).trim_end()
        )),
    }
}

/// `ID|Priority|Triggered By|Job ID|Namespace|Node ID|Status|Placement Failures`.
pub fn eval_table(evals: &[Value], verbose: bool) -> String {
    let mut rows =
        vec!["ID|Priority|Triggered By|Job ID|Namespace|Node ID|Status|Placement Failures".into()];
    for e in evals {
        rows.push(format!(
            "{}|{}|{}|{}|{}|{}|{}|{}",
            short(&s(e, "ID"), verbose),
            n(e, "Priority"),
            s(e, "TriggeredBy"),
            s(e, "JobID"),
            s(e, "Namespace"),
            short(&s(e, "NodeID"), verbose),
            s(e, "Status"),
            eval_failures(e)
        ));
    }
    format::table(&rows)
}

/// `true`/`false`, or `N/A - In Progress` for a blocked evaluation.
pub fn eval_failures(eval: &Value) -> String {
    if s(eval, "Status") == "blocked" {
        return "N/A - In Progress".into();
    }
    let failed = eval
        .get("FailedTGAllocs")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty());
    failed.to_string()
}

/// The node list: `ID|Node Pool|DC|Name|Class|Drain|Eligibility|Status`.
pub fn node_table(nodes: &[Value], verbose: bool) -> String {
    let mut rows = vec!["ID|Node Pool|DC|Name|Class|Drain|Eligibility|Status".to_string()];
    for nd in nodes {
        rows.push(format!(
            "{}|{}|{}|{}|{}|{}|{}|{}",
            short(&s(nd, "ID"), verbose),
            s(nd, "NodePool"),
            s(nd, "Datacenter"),
            s(nd, "Name"),
            s(nd, "NodeClass"),
            nd.get("Drain").and_then(Value::as_bool).unwrap_or(false),
            s(nd, "SchedulingEligibility"),
            s(nd, "Status")
        ));
    }
    format::table(&rows)
}

/// `ID|Job ID|Job Version|Status|Description`.
pub fn deployment_table(deps: &[Value], verbose: bool) -> String {
    let mut rows = vec!["ID|Job ID|Job Version|Status|Description".to_string()];
    for d in deps {
        rows.push(format!(
            "{}|{}|{}|{}|{}",
            short(&s(d, "ID"), verbose),
            s(d, "JobID"),
            n(d, "JobVersion"),
            s(d, "Status"),
            s(d, "StatusDescription")
        ));
    }
    format::table(&rows)
}

/// `ID|Node ID|Task Group|Version|Desired|Status|Created|Modified` (relative times), or
/// with `verbose` full IDs, `Eval ID`, `Node Name` and absolute times.
pub fn alloc_table(allocs: &[Value], verbose: bool) -> String {
    let mut rows = vec![if verbose {
        "ID|Eval ID|Node ID|Node Name|Task Group|Version|Desired|Status|Created|Modified".into()
    } else {
        "ID|Node ID|Task Group|Version|Desired|Status|Created|Modified".to_string()
    }];
    for a in allocs {
        let times = if verbose {
            format!(
                "{}|{}",
                format::time_ns(n(a, "CreateTime")),
                format::time_ns(n(a, "ModifyTime"))
            )
        } else {
            format!(
                "{}|{}",
                format::ago_ns(n(a, "CreateTime")),
                format::ago_ns(n(a, "ModifyTime"))
            )
        };
        let common = format!(
            "{}|{}|{}|{}|{times}",
            s(a, "TaskGroup"),
            n(a, "JobVersion"),
            s(a, "DesiredStatus"),
            s(a, "ClientStatus"),
        );
        rows.push(if verbose {
            format!(
                "{}|{}|{}|{}|{common}",
                s(a, "ID"),
                s(a, "EvalID"),
                s(a, "NodeID"),
                s(a, "NodeName")
            )
        } else {
            format!(
                "{}|{}|{common}",
                short(&s(a, "ID"), false),
                short(&s(a, "NodeID"), false)
            )
        });
    }
    format::table(&rows)
}

/// Pretty JSON with Nomad's 4-space indent.
pub fn json_pretty(v: &impl serde::Serialize) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    match v.serialize(&mut ser) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(e) => format!("\"JSON error: {e}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize_prefix;

    #[test]
    fn prefixes_are_cut_to_whole_bytes() {
        for (input, want) in [
            ("ab", "ab"),
            ("abc", "ab"),
            ("abcd1234-", "abcd1234-"),
            ("abcd1234-5", "abcd1234-"),
            ("abcd1234-56", "abcd1234-56"),
        ] {
            assert_eq!(sanitize_prefix(input), want, "{input}");
        }
    }
}
