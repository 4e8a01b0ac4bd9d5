//! The nftables side: one `ip` table of our own, changed only in atomic batches through
//! `nft -j -f -` (nft's JSON interface).
//!
//! ```text
//! table ip <table>
//!   chain prerouting  nat/prerouting  -100: jump alloc-<id>    (other hosts, allocations)
//!   chain output      nat/output      -100: jump alloc-<id>    (this node, 127.0.0.1)
//!   chain postrouting nat/postrouting  100: masquerade
//!       subnet -> elsewhere (not back onto the bridge)          outbound
//!       subnet -> subnet, DNAT'ed                                hairpin
//!       127.0.0.0/8 -> bridge                                    localhost port mapping
//!   chain input       filter/input       0: from the bridge to 127.0.0.0/8: only replies
//!   chain alloc-<id>: per port, tcp and udp:
//!       <fib daddr type local | ip daddr host_ip> dport <host port> dnat to <ip>:<to>
//! ```
//! An allocation's rules live in its own chain, so teardown removes two jump rules (by
//! handle) and the chain, never touching another allocation's rules.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::error::NetworkError;
use super::PortMapping;

const CHAIN_PREFIX: &str = "alloc-";
const DISPATCH: [&str; 2] = ["prerouting", "output"];

pub(crate) struct Nft {
    pub(crate) table: String,
}

/// The addresses the static rules need.
pub(crate) struct Subnet<'a> {
    pub(crate) bridge: &'a str,
    pub(crate) network: Ipv4Addr,
    pub(crate) prefix: u8,
}

fn nft_binary() -> &'static str {
    if std::path::Path::new("/usr/sbin/nft").exists() {
        "/usr/sbin/nft"
    } else {
        "nft"
    }
}

fn alloc_chain(alloc_id: &str) -> String {
    format!("{CHAIN_PREFIX}{alloc_id}")
}

fn matches(left: Value, right: Value) -> Value {
    json!({"match": {"op": "==", "left": left, "right": right}})
}

/// A flag test (`ct status dnat`): "==" would compare the whole status word.
fn has_flag(left: Value, flag: &str) -> Value {
    json!({"match": {"op": "in", "left": left, "right": flag}})
}

fn differs(left: Value, right: Value) -> Value {
    json!({"match": {"op": "!=", "left": left, "right": right}})
}

fn prefix(addr: Ipv4Addr, len: u8) -> Value {
    json!({"prefix": {"addr": addr.to_string(), "len": len}})
}

fn field(protocol: &str, field: &str) -> Value {
    json!({"payload": {"protocol": protocol, "field": field}})
}

impl Nft {
    fn run(
        &self,
        step: &'static str,
        args: &[&str],
        input: Option<&Value>,
    ) -> Result<String, NetworkError> {
        let err = |detail: String| NetworkError::Nft {
            table: self.table.clone(),
            step,
            detail,
        };
        let mut child = Command::new(nft_binary())
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                err(format!(
                    "running nft (is the nftables package installed?): {e}"
                ))
            })?;
        if let Some(input) = input {
            let mut stdin = child
                .stdin
                .take()
                .ok_or_else(|| err("nft has no stdin".into()))?;
            stdin
                .write_all(input.to_string().as_bytes())
                .map_err(|e| err(format!("writing to nft: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| err(format!("waiting for nft: {e}")))?;
        if !out.status.success() {
            return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn apply(&self, step: &'static str, commands: Vec<Value>) -> Result<(), NetworkError> {
        if commands.is_empty() {
            return Ok(());
        }
        // nft reads `-` as /dev/stdin, which minimal systems (an initramfs, a container)
        // may not have; the pipe through /proc is always there.
        self.run(
            step,
            &["-j", "-f", "/proc/self/fd/0"],
            Some(&json!({"nftables": commands})),
        )
        .map(drop)
    }

    fn obj(&self, extra: Value) -> Value {
        let mut v = json!({"family": "ip", "table": self.table});
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    }

    /// Table, base chains and the static masquerade rules (rewritten each time, so a
    /// changed subnet or bridge name takes effect).
    fn base(&self, net: &Subnet<'_>) -> Vec<Value> {
        let mut cmds = vec![json!({"add": {"table": {"family": "ip", "name": self.table}}})];
        for (name, kind, hook, prio) in [
            ("prerouting", "nat", "prerouting", -100),
            ("output", "nat", "output", -100),
            ("postrouting", "nat", "postrouting", 100),
            ("input", "filter", "input", 0),
        ] {
            cmds.push(json!({"add": {"chain": self.obj(json!({
                "name": name, "type": kind, "hook": hook, "prio": prio, "policy": "accept"
            }))}}));
        }
        let subnet = prefix(net.network, net.prefix);
        let loopback = prefix(Ipv4Addr::new(127, 0, 0, 0), 8);
        let oif = json!({"meta": {"key": "oifname"}});
        let postrouting = [
            vec![
                matches(field("ip", "saddr"), subnet.clone()),
                differs(oif.clone(), json!(net.bridge)),
                json!({"masquerade": null}),
            ],
            vec![
                matches(field("ip", "saddr"), subnet.clone()),
                matches(field("ip", "daddr"), subnet),
                has_flag(json!({"ct": {"key": "status"}}), "dnat"),
                json!({"masquerade": null}),
            ],
            vec![
                matches(field("ip", "saddr"), loopback.clone()),
                matches(oif, json!(net.bridge)),
                json!({"masquerade": null}),
            ],
        ];
        // route_localnet on the bridge would let an allocation reach the node's
        // 127.0.0.1 services (CVE-2020-8558): only replies of mapped connections pass.
        let iif = matches(json!({"meta": {"key": "iifname"}}), json!(net.bridge));
        let to_loopback = matches(field("ip", "daddr"), loopback);
        let input = [
            vec![
                iif.clone(),
                to_loopback.clone(),
                json!({"match": {"op": "in", "left": {"ct": {"key": "state"}},
                                 "right": ["established", "related"]}}),
                json!({"accept": null}),
            ],
            vec![iif, to_loopback, json!({"drop": null})],
        ];
        for (chain, rules) in [("postrouting", &postrouting[..]), ("input", &input[..])] {
            cmds.push(json!({"flush": {"chain": self.obj(json!({"name": chain}))}}));
            for expr in rules {
                cmds.push(
                    json!({"add": {"rule": self.obj(json!({"chain": chain, "expr": expr}))}}),
                );
            }
        }
        cmds
    }

    /// Ensures the table and adds the allocation's chain, DNAT rules and jumps, in one batch.
    pub(crate) fn add_alloc(
        &self,
        net: &Subnet<'_>,
        alloc_id: &str,
        ip: Ipv4Addr,
        ports: &[PortMapping],
    ) -> Result<(), NetworkError> {
        let chain = alloc_chain(alloc_id);
        let mut cmds = self.base(net);
        cmds.push(json!({"add": {"chain": self.obj(json!({"name": chain}))}}));
        for port in ports {
            let to = if port.to == 0 {
                port.host_port
            } else {
                port.to
            };
            let daddr = match port.host_ip {
                None => matches(
                    json!({"fib": {"result": "type", "flags": ["daddr"]}}),
                    json!("local"),
                ),
                Some(host_ip) => matches(field("ip", "daddr"), json!(host_ip.to_string())),
            };
            for proto in ["tcp", "udp"] {
                let expr = json!([
                    daddr,
                    matches(field(proto, "dport"), json!(port.host_port)),
                    {"dnat": {"addr": ip.to_string(), "port": to}},
                ]);
                cmds.push(json!({"add": {"rule": self.obj(json!({
                    "chain": chain, "expr": expr, "comment": port.label
                }))}}));
            }
        }
        for base in DISPATCH {
            cmds.push(json!({"add": {"rule": self.obj(json!({
                "chain": base, "expr": [{"jump": {"target": chain}}]
            }))}}));
        }
        self.apply("add allocation rules", cmds)
    }

    /// The table's objects as nft lists them, or None when the table does not exist.
    fn list(&self) -> Result<Option<Vec<Value>>, NetworkError> {
        match self.run("list", &["-j", "list", "table", "ip", &self.table], None) {
            Ok(out) => {
                let v: Value = serde_json::from_str(&out).map_err(|e| NetworkError::Nft {
                    table: self.table.clone(),
                    step: "list",
                    detail: format!("unreadable nft JSON: {e}"),
                })?;
                Ok(Some(v["nftables"].as_array().cloned().unwrap_or_default()))
            }
            // "No such file or directory": no such table, or no nft at all (then no
            // table of ours can exist either).
            Err(NetworkError::Nft { detail, .. }) if detail.contains("No such file") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes an allocation's jumps and chain; missing pieces are fine.
    pub(crate) fn remove_alloc(&self, alloc_id: &str) -> Result<(), NetworkError> {
        let Some(objects) = self.list()? else {
            return Ok(());
        };
        let chain = alloc_chain(alloc_id);
        let mut cmds = Vec::new();
        let mut has_chain = false;
        for o in &objects {
            if o["chain"]["name"] == chain.as_str() {
                has_chain = true;
            }
            let rule = &o["rule"];
            let jumps_here = rule["expr"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x["jump"]["target"] == chain.as_str()));
            if jumps_here {
                cmds.push(json!({"delete": {"rule": self.obj(json!({
                    "chain": rule["chain"], "handle": rule["handle"]
                }))}}));
            }
        }
        if has_chain {
            cmds.push(json!({"flush": {"chain": self.obj(json!({"name": chain}))}}));
            cmds.push(json!({"delete": {"chain": self.obj(json!({"name": chain}))}}));
        }
        self.apply("remove allocation rules", cmds)
    }

    /// Allocation IDs that have a chain in the table.
    pub(crate) fn alloc_ids(&self) -> Result<Vec<String>, NetworkError> {
        Ok(self
            .list()?
            .unwrap_or_default()
            .iter()
            .filter_map(|o| o["chain"]["name"].as_str())
            .filter_map(|n| n.strip_prefix(CHAIN_PREFIX))
            .map(str::to_string)
            .collect())
    }

    /// Deletes the whole table; a missing table is fine.
    pub(crate) fn delete_table(&self) -> Result<(), NetworkError> {
        if self.list()?.is_none() {
            return Ok(());
        }
        self.apply(
            "delete table",
            vec![json!({"delete": {"table": {"family": "ip", "name": self.table}}})],
        )
    }
}
