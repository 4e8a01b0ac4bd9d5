//! The `NOMAD_*` address variables of an allocation's ports, with Nomad's meanings:
//!
//! | variable | value |
//! | --- | --- |
//! | `NOMAD_PORT_<l>`, `NOMAD_ALLOC_PORT_<l>` | the port inside: `to` when set, else the host port |
//! | `NOMAD_HOST_PORT_<l>` | the host port |
//! | `NOMAD_IP_<l>`, `NOMAD_HOST_IP_<l>` | the host address |
//! | `NOMAD_ADDR_<l>`, `NOMAD_HOST_ADDR_<l>` | host address : host port |
//! | `NOMAD_ALLOC_IP_<l>`, `NOMAD_ALLOC_ADDR_<l>`, `NOMAD_ALLOC_INTERFACE_<l>` | bridge mode only: the allocation's address, address : port inside, `eth0` |
//!
//! As in Nomad, only the names under `NOMAD_ADDR_`, `NOMAD_IP_`, `NOMAD_PORT_` and
//! `NOMAD_HOST_PORT_` are cleaned (characters other than letters, digits, `_` and `.`
//! become `_`); the others keep the label as written.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::PortMapping;

/// The interface name allocations see in bridge mode.
pub const ALLOC_INTERFACE: &str = "eth0";

const CLEANED: [&str; 4] = [
    "NOMAD_ADDR_",
    "NOMAD_IP_",
    "NOMAD_PORT_",
    "NOMAD_HOST_PORT_",
];

/// Nomad's environment variable name cleaning: invalid characters become `_`.
fn clean(name: &str) -> String {
    // Byte-wise like Nomad: a multi-byte character becomes one `_` per byte.
    name.bytes()
        .enumerate()
        .map(|(i, c)| {
            let ok =
                c == b'_' || c == b'.' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
            if ok {
                c as char
            } else {
                '_'
            }
        })
        .collect()
}

fn put(env: &mut BTreeMap<String, String>, prefix: &str, label: &str, value: String) {
    let name = format!("{prefix}{label}");
    let name = if CLEANED.contains(&prefix) {
        clean(&name)
    } else {
        name
    };
    env.insert(name, value);
}

/// The address variables for `ports`. `alloc_ip` is the allocation's own address
/// (bridge mode), `node_ip` the host address used for ports without a `host_ip`.
pub fn port_env(
    ports: &[PortMapping],
    alloc_ip: Option<Ipv4Addr>,
    node_ip: Ipv4Addr,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for p in ports {
        let host_ip = p.host_ip.unwrap_or(node_ip).to_string();
        let host_port = p.host_port.to_string();
        let inside = if p.to > 0 { p.to } else { p.host_port }.to_string();
        let host_addr = format!("{host_ip}:{host_port}");
        let l = p.label.as_str();
        put(&mut env, "NOMAD_HOST_IP_", l, host_ip.clone());
        put(&mut env, "NOMAD_HOST_PORT_", l, host_port);
        put(&mut env, "NOMAD_HOST_ADDR_", l, host_addr.clone());
        put(&mut env, "NOMAD_IP_", l, host_ip);
        put(&mut env, "NOMAD_ADDR_", l, host_addr);
        put(&mut env, "NOMAD_PORT_", l, inside.clone());
        put(&mut env, "NOMAD_ALLOC_PORT_", l, inside.clone());
        if let Some(ip) = alloc_ip {
            put(&mut env, "NOMAD_ALLOC_IP_", l, ip.to_string());
            put(&mut env, "NOMAD_ALLOC_ADDR_", l, format!("{ip}:{inside}"));
            put(
                &mut env,
                "NOMAD_ALLOC_INTERFACE_",
                l,
                ALLOC_INTERFACE.into(),
            );
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(label: &str, host_port: u16, to: u16, host_ip: Option<[u8; 4]>) -> PortMapping {
        PortMapping {
            label: label.into(),
            host_port,
            to,
            host_ip: host_ip.map(Ipv4Addr::from),
        }
    }

    #[test]
    fn port_env_cases() {
        let node = Ipv4Addr::new(192, 0, 2, 2);
        let alloc = Some(Ipv4Addr::new(172, 26, 64, 5));
        struct Case {
            name: &'static str,
            port: PortMapping,
            alloc_ip: Option<Ipv4Addr>,
            want: &'static [(&'static str, &'static str)],
        }
        let cases = [
            Case {
                name: "bridge with to",
                port: port("db", 24981, 6379, None),
                alloc_ip: alloc,
                want: &[
                    ("NOMAD_ADDR_db", "192.0.2.2:24981"),
                    ("NOMAD_ALLOC_ADDR_db", "172.26.64.5:6379"),
                    ("NOMAD_ALLOC_INTERFACE_db", "eth0"),
                    ("NOMAD_ALLOC_IP_db", "172.26.64.5"),
                    ("NOMAD_ALLOC_PORT_db", "6379"),
                    ("NOMAD_HOST_ADDR_db", "192.0.2.2:24981"),
                    ("NOMAD_HOST_IP_db", "192.0.2.2"),
                    ("NOMAD_HOST_PORT_db", "24981"),
                    ("NOMAD_IP_db", "192.0.2.2"),
                    ("NOMAD_PORT_db", "6379"),
                ],
            },
            Case {
                name: "host mode without to",
                port: port("http", 8080, 0, None),
                alloc_ip: None,
                want: &[
                    ("NOMAD_ADDR_http", "192.0.2.2:8080"),
                    ("NOMAD_ALLOC_PORT_http", "8080"),
                    ("NOMAD_HOST_ADDR_http", "192.0.2.2:8080"),
                    ("NOMAD_HOST_IP_http", "192.0.2.2"),
                    ("NOMAD_HOST_PORT_http", "8080"),
                    ("NOMAD_IP_http", "192.0.2.2"),
                    ("NOMAD_PORT_http", "8080"),
                ],
            },
            Case {
                name: "host_ip and a label with a hyphen",
                port: port("my-port", 20001, 80, Some([127, 0, 0, 1])),
                alloc_ip: alloc,
                want: &[
                    ("NOMAD_ADDR_my_port", "127.0.0.1:20001"),
                    ("NOMAD_ALLOC_ADDR_my-port", "172.26.64.5:80"),
                    ("NOMAD_ALLOC_INTERFACE_my-port", "eth0"),
                    ("NOMAD_ALLOC_IP_my-port", "172.26.64.5"),
                    ("NOMAD_ALLOC_PORT_my-port", "80"),
                    ("NOMAD_HOST_ADDR_my-port", "127.0.0.1:20001"),
                    ("NOMAD_HOST_IP_my-port", "127.0.0.1"),
                    ("NOMAD_HOST_PORT_my_port", "20001"),
                    ("NOMAD_IP_my_port", "127.0.0.1"),
                    ("NOMAD_PORT_my_port", "80"),
                ],
            },
        ];
        for c in cases {
            let got = port_env(std::slice::from_ref(&c.port), c.alloc_ip, node);
            let want: BTreeMap<String, String> = c
                .want
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(got, want, "case {}", c.name);
        }
    }

    #[test]
    fn clean_cases() {
        for (input, want) in [
            ("NOMAD_PORT_db", "NOMAD_PORT_db"),
            ("NOMAD_PORT_a-b.c", "NOMAD_PORT_a_b.c"),
            ("NOMAD_PORT_x y", "NOMAD_PORT_x_y"),
            ("9abc", "_abc"),
            ("NOMAD_PORT_é", "NOMAD_PORT___"),
        ] {
            assert_eq!(clean(input), want, "{input}");
        }
    }
}
