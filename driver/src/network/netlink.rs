//! A small synchronous rtnetlink client: just the link, address and route requests
//! allocation networking needs. A socket acts in the network namespace it was opened
//! in, so a socket opened on a thread that entered an allocation's namespace
//! configures that namespace from any thread afterwards.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use super::error::NetworkError;

// Message types and flags (linux/netlink.h, linux/rtnetlink.h).
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 0x8000;

// Attributes (linux/if_link.h, linux/if_addr.h, linux/rtnetlink.h, linux/veth.h).
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_PROTINFO: u16 = 12;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_BRPORT_MODE: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_GATEWAY: u16 = 5;

const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const AF_BRIDGE: u8 = 7;
const IFF_UP: u32 = 1;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

/// One NETLINK_ROUTE socket bound to the namespace it was opened in.
pub(crate) struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

/// A request being built: header, fixed part, then attributes (nests patch their length).
struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn new(kind: u16, flags: u16) -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched in finish
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // seq, set on send
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
        Msg { buf }
    }

    /// `struct ifinfomsg`.
    fn ifinfo(mut self, family: u8, index: u32, flags: u32, change: u32) -> Self {
        ifinfo_into(&mut self.buf, family, index, flags, change);
        self
    }

    fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn attr_str(&mut self, kind: u16, s: &str) {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data);
    }

    fn attr_u32(&mut self, kind: u16, v: u32) {
        self.attr(kind, &v.to_ne_bytes());
    }

    /// Opens a nested attribute; returns its offset for `end_nest`.
    fn begin_nest(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        at
    }

    fn end_nest(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn pad(&mut self) {
        while self.buf.len() & 3 != 0 {
            self.buf.push(0);
        }
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

fn ifinfo_into(buf: &mut Vec<u8>, family: u8, index: u32, flags: u32, change: u32) {
    buf.push(family);
    buf.push(0);
    buf.extend_from_slice(&0u16.to_ne_bytes()); // type
    buf.extend_from_slice(&index.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&change.to_ne_bytes());
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub(crate) fn open() -> io::Result<Self> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None, // NETLINK_ROUTE is protocol 0
        )?;
        Ok(Netlink { fd, seq: 0 })
    }

    /// Sends one request and waits for its acknowledgement; returns the replies before it.
    fn request(&mut self, msg: Msg) -> io::Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = msg.finish(seq);
        rustix::net::send(&self.fd, &bytes, SendFlags::empty())?;
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let (n, _) = rustix::net::recv(&self.fd, &mut buf[..], RecvFlags::empty())?;
            let mut off = 0;
            while off + 16 <= n {
                let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
                let mseq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
                if len < 16 || off + len > n {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "short netlink message",
                    ));
                }
                let body = &buf[off + 16..off + len];
                off += (len + 3) & !3;
                if mseq != seq {
                    continue; // a late answer to an earlier request
                }
                match kind {
                    NLMSG_ERROR => {
                        let code = i32::from_ne_bytes(body[0..4].try_into().unwrap());
                        return if code == 0 {
                            Ok(replies)
                        } else {
                            Err(io::Error::from_raw_os_error(-code))
                        };
                    }
                    NLMSG_DONE => return Ok(replies),
                    _ => replies.push(body.to_vec()),
                }
            }
        }
    }

    /// The index of a link by name in this socket's namespace, None when absent.
    pub(crate) fn link_index(&mut self, name: &str) -> Result<Option<u32>, NetworkError> {
        let mut msg = Msg::new(RTM_GETLINK, 0).ifinfo(AF_UNSPEC, 0, 0, 0);
        msg.attr_str(IFLA_IFNAME, name);
        match self.request(msg) {
            Ok(replies) => Ok(replies
                .first()
                .filter(|r| r.len() >= 8)
                .map(|r| u32::from_ne_bytes(r[4..8].try_into().unwrap()))),
            Err(e) if is_absent(&e) => Ok(None),
            Err(source) => Err(nl_err("get link", name, source)),
        }
    }

    /// Creates a bridge with a fixed MAC address (else it takes its lowest port's, which
    /// changes as allocations come and go and leaves their ARP caches stale); an existing
    /// link of that name is left alone. Returns its index.
    pub(crate) fn ensure_bridge(&mut self, name: &str, mac: [u8; 6]) -> Result<u32, NetworkError> {
        let mut msg = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).ifinfo(AF_UNSPEC, 0, 0, 0);
        msg.attr_str(IFLA_IFNAME, name);
        msg.attr(IFLA_ADDRESS, &mac);
        let info = msg.begin_nest(IFLA_LINKINFO);
        msg.attr_str(IFLA_INFO_KIND, "bridge");
        msg.end_nest(info);
        match self.request(msg) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(source) => return Err(nl_err("create bridge", name, source)),
        }
        self.link_index(name)?
            .ok_or_else(|| nl_err("create bridge", name, io::ErrorKind::NotFound.into()))
    }

    /// Creates a veth pair: `host` here, enslaved to `master`; its peer named `peer`
    /// directly in the namespace `netns` (so the name cannot clash with a host link).
    pub(crate) fn create_veth(
        &mut self,
        host: &str,
        master: u32,
        peer: &str,
        netns: BorrowedFd<'_>,
    ) -> Result<(), NetworkError> {
        let mut msg = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).ifinfo(AF_UNSPEC, 0, 0, 0);
        msg.attr_str(IFLA_IFNAME, host);
        msg.attr_u32(IFLA_MASTER, master);
        let info = msg.begin_nest(IFLA_LINKINFO);
        msg.attr_str(IFLA_INFO_KIND, "veth");
        let data = msg.begin_nest(IFLA_INFO_DATA);
        let peer_at = msg.begin_nest(VETH_INFO_PEER);
        ifinfo_into(&mut msg.buf, AF_UNSPEC, 0, 0, 0);
        msg.attr_str(IFLA_IFNAME, peer);
        msg.attr_u32(IFLA_NET_NS_FD, fd_u32(netns));
        msg.end_nest(peer_at);
        msg.end_nest(data);
        msg.end_nest(info);
        self.request(msg)
            .map(drop)
            .map_err(|source| nl_err("create veth", host, source))
    }

    pub(crate) fn set_up(&mut self, name: &str) -> Result<(), NetworkError> {
        let index = self.require(name, "set link up")?;
        let msg = Msg::new(RTM_NEWLINK, 0).ifinfo(AF_UNSPEC, index, IFF_UP, IFF_UP);
        self.request(msg)
            .map(drop)
            .map_err(|source| nl_err("set link up", name, source))
    }

    /// Turns on hairpin mode of a bridge port, so a frame may leave by the port it came in.
    pub(crate) fn set_hairpin(&mut self, name: &str) -> Result<(), NetworkError> {
        let index = self.require(name, "set hairpin")?;
        // AF_BRIDGE + RTM_SETLINK reaches the bridge's port settings (RTM_NEWLINK does not).
        let mut msg = Msg::new(RTM_SETLINK, 0).ifinfo(AF_BRIDGE, index, 0, 0);
        let info = msg.begin_nest(IFLA_PROTINFO);
        msg.attr(IFLA_BRPORT_MODE, &[1]);
        msg.end_nest(info);
        self.request(msg)
            .map(drop)
            .map_err(|source| nl_err("set hairpin", name, source))
    }

    /// Adds `addr/prefix` to a link; an address already there is fine.
    pub(crate) fn add_address(
        &mut self,
        name: &str,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetworkError> {
        let index = self.require(name, "add address")?;
        let mut msg = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
        msg.buf
            .extend_from_slice(&[AF_INET, prefix, 0, RT_SCOPE_UNIVERSE]);
        msg.buf.extend_from_slice(&index.to_ne_bytes());
        msg.attr(IFA_LOCAL, &addr.octets());
        msg.attr(IFA_ADDRESS, &addr.octets());
        self.request(msg)
            .map(drop)
            .map_err(|source| nl_err("add address", &format!("{name} {addr}/{prefix}"), source))
    }

    /// Adds the default route via `gateway` (in this socket's namespace).
    pub(crate) fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), NetworkError> {
        let mut msg = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
        msg.buf.extend_from_slice(&[
            AF_INET,
            0, // dst_len: default route
            0,
            0,
            RT_TABLE_MAIN,
            RTPROT_BOOT,
            RT_SCOPE_UNIVERSE,
            RTN_UNICAST,
        ]);
        msg.buf.extend_from_slice(&0u32.to_ne_bytes());
        msg.attr(RTA_GATEWAY, &gateway.octets());
        self.request(msg)
            .map(drop)
            .map_err(|source| nl_err("add default route", &format!("via {gateway}"), source))
    }

    /// Deletes a link by name; a missing link is fine.
    pub(crate) fn delete_link(&mut self, name: &str) -> Result<(), NetworkError> {
        let mut msg = Msg::new(RTM_DELLINK, 0).ifinfo(AF_UNSPEC, 0, 0, 0);
        msg.attr_str(IFLA_IFNAME, name);
        match self.request(msg) {
            Ok(_) => Ok(()),
            Err(e) if is_absent(&e) => Ok(()),
            Err(source) => Err(nl_err("delete link", name, source)),
        }
    }

    fn require(&mut self, name: &str, op: &'static str) -> Result<u32, NetworkError> {
        self.link_index(name)?
            .ok_or_else(|| nl_err(op, name, io::Error::from_raw_os_error(libc::ENODEV)))
    }
}

impl AsFd for Netlink {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd() as u32
}

fn is_absent(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENODEV) | Some(libc::ENOENT))
}

fn nl_err(op: &'static str, object: &str, source: io::Error) -> NetworkError {
    NetworkError::Netlink {
        op,
        object: object.to_string(),
        source,
    }
}
