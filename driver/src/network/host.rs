//! The node side shared by all allocations: the bridge with the gateway address, and
//! the sysctls forwarding needs.

use std::net::Ipv4Addr;
use std::path::Path;

use super::error::NetworkError;
use super::netlink::Netlink;

fn sysctl(path: &str, value: &str) -> Result<(), NetworkError> {
    let p = Path::new(path);
    match std::fs::read_to_string(p) {
        Ok(cur) if cur.trim() == value => return Ok(()),
        _ => {}
    }
    std::fs::write(p, value).map_err(|e| NetworkError::file("sysctl", p, e))
}

/// A locally administered unicast MAC derived from the bridge name: stable across
/// agent restarts and distinct per bridge.
fn bridge_mac(bridge: &str) -> [u8; 6] {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("drover bridge {bridge}"));
    [(d[0] & 0xfe) | 0x02, d[1], d[2], d[3], d[4], d[5]]
}

/// Creates (or finds) the bridge, gives it the gateway address and brings it up;
/// enables forwarding, and `route_localnet` on the bridge so 127.0.0.1 may be DNAT'ed
/// to an allocation. Returns the bridge's index.
pub(crate) fn ensure_bridge(
    nl: &mut Netlink,
    bridge: &str,
    gateway: Ipv4Addr,
    prefix: u8,
) -> Result<u32, NetworkError> {
    sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    let index = nl.ensure_bridge(bridge, bridge_mac(bridge))?;
    nl.add_address(bridge, gateway, prefix)?;
    nl.set_up(bridge)?;
    sysctl(
        &format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"),
        "1",
    )?;
    Ok(index)
}
