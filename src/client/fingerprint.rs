//! The node fingerprint: what this host offers (CPU, memory, disk, network, kernel, OS,
//! drivers) as Nomad's client reports it, attribute names included, so job constraints
//! written for Nomad (`${attr.kernel.name}`, `${attr.cpu.arch}` …) work unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use drover_driver::runtime::Fingerprint as DriverFingerprint;

use crate::structs::time::{now_ns, rfc3339};
use crate::structs::{
    DriverInfo, NetworkResource, Node, NodeCpuResources, NodeDiskResources, NodeMemoryResources,
    NodeReservedCpu, NodeReservedNetworks, NodeReservedResources, NodeResources,
    DEFAULT_MAX_DYNAMIC_PORT, DEFAULT_MIN_DYNAMIC_PORT, NODE_ELIGIBLE, NODE_STATUS_INIT,
};

/// Nomad's fallback when the host does not say how fast its CPUs are.
const DEFAULT_MHZ: u64 = 1000;
/// Nomad's default link speed for the fingerprinted interface.
const DEFAULT_MBITS: i64 = 1000;

/// The agent's client settings the fingerprint needs.
#[derive(Debug, Clone, Default)]
pub struct FingerprintSettings {
    pub node_id: String,
    /// Empty: the host name.
    pub node_name: String,
    pub datacenter: String,
    pub node_class: String,
    /// Empty: `default`.
    pub node_pool: String,
    pub meta: BTreeMap<String, String>,
    /// Client `options` (`driver.raw_exec.enable`, `driver.denylist`, `driver.allowlist`).
    pub options: BTreeMap<String, String>,
    /// Empty: the interface of the default route.
    pub network_interface: String,
    pub reserved_cpu: u64,
    pub reserved_memory_mb: u64,
    pub reserved_disk_mb: u64,
    /// `"22,80,8000-8100"`.
    pub reserved_ports: String,
    /// 0: Nomad's 20000–32000.
    pub min_dynamic_port: u16,
    pub max_dynamic_port: u16,
    pub http_addr: String,
    pub alloc_dir: PathBuf,
}

impl FingerprintSettings {
    fn option_enabled(&self, key: &str) -> bool {
        matches!(
            self.options.get(key).map(String::as_str),
            Some("true" | "1")
        )
    }

    fn option_list(&self, keys: &[&str]) -> Option<Vec<String>> {
        let value = keys.iter().find_map(|k| self.options.get(*k))?;
        Some(
            value
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }
}

/// The node as this host and the settings describe it, ready to register.
pub fn fingerprint(settings: &FingerprintSettings, driver: &DriverFingerprint) -> Node {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let uname = rustix::system::uname();
    let hostname = uname.nodename().to_string_lossy().into_owned();
    let mut attrs = BTreeMap::new();
    let mut attr = |k: &str, v: String| {
        attrs.insert(k.to_string(), v);
    };

    // CPU
    let cpuinfo = parse_cpuinfo(&read("/proc/cpuinfo"));
    let online = parse_cpu_list(&read("/sys/devices/system/cpu/online"));
    let cores: Vec<u16> = if online.is_empty() {
        let n = cpuinfo.processors.max(1);
        (0..n as u16).collect()
    } else {
        online
    };
    let mhz = cpuinfo
        .mhz
        .or_else(|| {
            let khz = read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
            khz.trim().parse::<u64>().ok().map(|k| k / 1000)
        })
        .filter(|m| *m > 0)
        .unwrap_or(DEFAULT_MHZ);
    let total_compute = mhz * cores.len() as u64;
    attr("cpu.arch", go_arch(std::env::consts::ARCH).to_string());
    attr("cpu.numcores", cores.len().to_string());
    attr("cpu.reservablecores", cores.len().to_string());
    attr("cpu.frequency", mhz.to_string());
    attr("cpu.totalcompute", total_compute.to_string());
    attr("cpu.usablecompute", total_compute.to_string());
    if let Some(model) = &cpuinfo.model {
        attr("cpu.modelname", model.clone());
    }

    // Memory
    let memory_bytes = parse_meminfo_total(&read("/proc/meminfo")).unwrap_or(0);
    attr("memory.totalbytes", memory_bytes.to_string());

    // Kernel, OS, host
    attr("kernel.name", "linux".into());
    attr(
        "kernel.version",
        uname.release().to_string_lossy().into_owned(),
    );
    attr(
        "kernel.arch",
        uname.machine().to_string_lossy().into_owned(),
    );
    let (os_name, os_version) = parse_os_release(&read("/etc/os-release"));
    attr("os.name", os_name);
    attr("os.version", os_version);
    let cgroups = match driver.cgroup_version.as_str() {
        "v1" | "1" => "1",
        "v2" | "2" => "2",
        other => other,
    };
    if !cgroups.is_empty() {
        attr("os.cgroups.version", cgroups.to_string());
    }
    attr("unique.hostname", hostname.clone());
    let machine_id = read("/etc/machine-id").trim().to_string();
    if !machine_id.is_empty() {
        attr("unique.host_id", machine_id);
    }
    attr("nomad.version", env!("CARGO_PKG_VERSION").to_string());
    attr(
        "nomad.revision",
        option_env!("DROVER_GIT_REVISION").unwrap_or("").to_string(),
    );

    // Network
    let iface = if settings.network_interface.is_empty() {
        default_route_interface(&read("/proc/net/route")).unwrap_or_else(|| "lo".into())
    } else {
        settings.network_interface.clone()
    };
    let ip = interface_ipv4(&iface).unwrap_or_else(|| "127.0.0.1".into());
    attr("unique.network.ip-address", ip.clone());
    if !settings.http_addr.is_empty() {
        attr("unique.advertise.address", settings.http_addr.clone());
    }

    // Storage: the volume that holds the alloc dir.
    let storage_dir = existing_ancestor(&settings.alloc_dir);
    let (disk_total, disk_free) = match rustix::fs::statvfs(&storage_dir) {
        Ok(s) => (s.f_blocks * s.f_frsize, s.f_bavail * s.f_frsize),
        Err(_) => (0, 0),
    };
    let volume = std::fs::canonicalize(&storage_dir)
        .ok()
        .and_then(|p| mount_source(&read("/proc/self/mountinfo"), &p))
        .unwrap_or_default();
    attr("unique.storage.volume", volume);
    attr("unique.storage.bytestotal", disk_total.to_string());
    attr("unique.storage.bytesfree", disk_free.to_string());

    // Drivers
    let drivers = drivers(settings, driver);
    for (name, info) in &drivers {
        if info.detected {
            attr(&format!("driver.{name}"), "1".into());
        }
    }

    let node_pool = if settings.node_pool.is_empty() {
        "default".to_string()
    } else {
        settings.node_pool.clone()
    };
    let port = |p: u16, default: i64| if p == 0 { default } else { i64::from(p) };
    Node {
        id: settings.node_id.clone(),
        datacenter: settings.datacenter.clone(),
        name: if settings.node_name.is_empty() {
            hostname
        } else {
            settings.node_name.clone()
        },
        http_addr: settings.http_addr.clone(),
        attributes: attrs,
        node_resources: NodeResources {
            cpu: NodeCpuResources {
                cpu_shares: total_compute as i64,
                total_cpu_cores: cores.len() as u64,
                reservable_cpu_cores: cores,
            },
            memory: NodeMemoryResources {
                memory_mb: (memory_bytes / (1 << 20)) as i64,
            },
            disk: NodeDiskResources {
                disk_mb: (disk_total / (1 << 20)) as i64,
            },
            networks: vec![NetworkResource {
                mode: "host".into(),
                device: iface,
                cidr: format!("{ip}/32"),
                ip,
                mbits: DEFAULT_MBITS,
                ..Default::default()
            }],
            min_dynamic_port: port(settings.min_dynamic_port, DEFAULT_MIN_DYNAMIC_PORT),
            max_dynamic_port: port(settings.max_dynamic_port, DEFAULT_MAX_DYNAMIC_PORT),
        },
        reserved_resources: NodeReservedResources {
            cpu: NodeReservedCpu {
                cpu_shares: settings.reserved_cpu as i64,
            },
            memory: NodeMemoryResources {
                memory_mb: settings.reserved_memory_mb as i64,
            },
            disk: NodeDiskResources {
                disk_mb: settings.reserved_disk_mb as i64,
            },
            networks: NodeReservedNetworks {
                reserved_host_ports: settings.reserved_ports.clone(),
            },
        },
        meta: settings.meta.clone(),
        node_class: settings.node_class.clone(),
        node_pool,
        scheduling_eligibility: NODE_ELIGIBLE.into(),
        status: NODE_STATUS_INIT.into(),
        drivers,
        ..Default::default()
    }
}

/// `container` and `docker` (one native driver), `exec` (root) and `raw_exec` (only
/// when enabled), less those the allow/deny lists exclude.
fn drivers(settings: &FingerprintSettings, fp: &DriverFingerprint) -> BTreeMap<String, DriverInfo> {
    let now = rfc3339(now_ns());
    let root = rustix::process::geteuid().is_root();
    let info = |name: &str, detected: bool, healthy: bool, description: &str| {
        let mut attributes = BTreeMap::new();
        if detected {
            attributes.insert(format!("driver.{name}"), "true".to_string());
        }
        DriverInfo {
            attributes,
            detected,
            healthy,
            health_description: description.to_string(),
            update_time: now.clone(),
        }
    };
    let exec_healthy = root && !fp.cgroup_version.is_empty();
    let exec_description = match (root, exec_healthy) {
        (false, _) => "exec driver must run as root",
        (true, false) => "cgroups are unavailable",
        (true, true) => "Healthy",
    };
    let raw_exec = settings.option_enabled("driver.raw_exec.enable");
    let mut out = BTreeMap::new();
    for name in ["container", "docker"] {
        out.insert(
            name.to_string(),
            info(name, true, fp.healthy, &fp.description),
        );
    }
    out.insert(
        "exec".into(),
        info("exec", root, exec_healthy, exec_description),
    );
    out.insert(
        "raw_exec".into(),
        if raw_exec {
            info("raw_exec", true, true, "Healthy")
        } else {
            info("raw_exec", false, false, "disabled")
        },
    );
    if let Some(allow) = settings.option_list(&["driver.allowlist", "driver.whitelist"]) {
        out.retain(|name, _| allow.contains(name));
    }
    if let Some(deny) = settings.option_list(&["driver.denylist", "driver.blacklist"]) {
        out.retain(|name, _| !deny.contains(name));
    }
    out
}

#[derive(Debug, Default, PartialEq)]
struct CpuInfo {
    processors: usize,
    /// The fastest core's MHz, when the kernel reports it.
    mhz: Option<u64>,
    model: Option<String>,
}

fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut info = CpuInfo::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => info.processors += 1,
            "cpu MHz" => {
                if let Ok(m) = value.parse::<f64>() {
                    let m = m as u64;
                    info.mhz = Some(info.mhz.map_or(m, |old| old.max(m)));
                }
            }
            "model name" if info.model.is_none() && !value.is_empty() => {
                info.model = Some(value.to_string())
            }
            _ => {}
        }
    }
    info
}

/// `0-3,6` → [0, 1, 2, 3, 6].
fn parse_cpu_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `ID` and `VERSION_ID` of `/etc/os-release` (what Nomad reports as `os.name` and
/// `os.version`).
fn parse_os_release(text: &str) -> (String, String) {
    let mut id = String::new();
    let mut version = String::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
            match k.trim() {
                "ID" => id = v,
                "VERSION_ID" => version = v,
                _ => {}
            }
        }
    }
    (id, version)
}

/// The interface of the IPv4 default route in `/proc/net/route`.
fn default_route_interface(text: &str) -> Option<String> {
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() > 2 && fields[1] == "00000000").then(|| fields[0].to_string())
    })
}

/// The source (device) of the mount holding `path`, from `/proc/self/mountinfo`.
fn mount_source(mountinfo: &str, path: &Path) -> Option<String> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let mount_point = unescape_mount(fields.get(4)?);
            let sep = fields.iter().position(|f| *f == "-")?;
            let source = fields.get(sep + 2)?;
            path.starts_with(&mount_point)
                .then(|| (mount_point.len(), source.to_string()))
        })
        // The last of equally long mount points is the one on top.
        .fold(
            None,
            |best: Option<(usize, String)>, (len, src)| match best {
                Some((l, _)) if l > len => best,
                _ => Some((len, src)),
            },
        )
        .map(|(_, src)| src)
}

/// mountinfo escapes spaces, tabs, newlines and backslashes as octal.
fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

fn existing_ancestor(path: &Path) -> PathBuf {
    let mut p = if path.as_os_str().is_empty() {
        PathBuf::from("/")
    } else {
        path.to_path_buf()
    };
    while !p.exists() {
        if !p.pop() {
            return PathBuf::from("/");
        }
    }
    p
}

/// Go's names for architectures, as Nomad's `cpu.arch` reports them.
fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// The first IPv4 address of interface `name`.
fn interface_ipv4(name: &str) -> Option<String> {
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: on success getifaddrs hands us a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut addrs) } != 0 {
        return None;
    }
    let mut found = None;
    let mut cur = addrs;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list, valid until freeifaddrs; its name is a
        // C string and an AF_INET address is a sockaddr_in.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        let ifname = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if ifname.to_bytes() != name.as_bytes() {
            continue;
        }
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        found = Some(std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)).to_string());
        break;
    }
    // SAFETY: the list came from getifaddrs and nothing refers to it any more.
    unsafe { libc::freeifaddrs(addrs) };
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver_fp() -> DriverFingerprint {
        DriverFingerprint {
            healthy: true,
            description: "Healthy".into(),
            cgroup_version: "v1".into(),
            kernel: "6.1.0".into(),
            overlayfs: true,
        }
    }

    fn settings() -> FingerprintSettings {
        FingerprintSettings {
            node_id: "node-1".into(),
            datacenter: "dc1".into(),
            alloc_dir: std::env::temp_dir().join("drover-fingerprint-test-absent/alloc"),
            http_addr: "127.0.0.1:4646".into(),
            reserved_cpu: 100,
            reserved_memory_mb: 256,
            reserved_ports: "22".into(),
            network_interface: "lo".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_real_host() {
        let node = fingerprint(&settings(), &driver_fp());
        let a = &node.attributes;
        let num = |k: &str| a[k].parse::<u64>().unwrap_or_else(|_| panic!("{k}"));
        assert!(num("cpu.numcores") > 0);
        assert!(num("cpu.frequency") > 0);
        assert_eq!(
            num("cpu.totalcompute"),
            num("cpu.numcores") * num("cpu.frequency")
        );
        assert!(num("memory.totalbytes") > 64 << 20);
        assert!(num("unique.storage.bytestotal") > 0);
        assert_eq!(a["kernel.name"], "linux");
        assert!(!a["kernel.version"].is_empty());
        assert!(!a["os.name"].is_empty());
        assert!(!a["unique.hostname"].is_empty());
        assert_eq!(a["os.cgroups.version"], "1");
        assert_eq!(a["unique.network.ip-address"], "127.0.0.1");
        assert_eq!(a["nomad.version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(a["driver.docker"], "1");
        assert!(!a.contains_key("driver.raw_exec"));

        let r = &node.node_resources;
        assert_eq!(r.cpu.cpu_shares as u64, num("cpu.totalcompute"));
        assert_eq!(r.cpu.total_cpu_cores, num("cpu.numcores"));
        assert!(r.memory.memory_mb > 64);
        assert!(r.disk.disk_mb > 0);
        assert_eq!((r.min_dynamic_port, r.max_dynamic_port), (20000, 32000));
        assert_eq!(r.networks[0].device, "lo");
        assert_eq!(r.networks[0].ip, "127.0.0.1");
        assert_eq!(node.reserved_resources.cpu.cpu_shares, 100);
        assert_eq!(node.reserved_resources.memory.memory_mb, 256);
        assert_eq!(node.reserved_resources.networks.reserved_host_ports, "22");

        assert_eq!(node.status, "initializing");
        assert_eq!(node.scheduling_eligibility, "eligible");
        assert_eq!(node.node_pool, "default");
        assert_eq!(node.http_addr, "127.0.0.1:4646");
        assert_eq!(node.name, a["unique.hostname"], "named after the host");

        let d = &node.drivers;
        assert!(d["docker"].detected && d["docker"].healthy);
        assert!(d["container"].detected);
        assert!(!d["raw_exec"].detected, "raw_exec is off by default");
        // These tests run as root (the repository's rule), so exec is usable.
        assert!(d["exec"].detected && d["exec"].healthy);
    }

    #[test]
    fn options_shape_the_drivers() {
        type Case = (
            &'static [(&'static str, &'static str)],
            &'static [&'static str],
        );
        let cases: Vec<Case> = vec![
            (&[], &["container", "docker", "exec", "raw_exec"]),
            (
                &[
                    ("driver.raw_exec.enable", "1"),
                    ("driver.denylist", "exec, docker"),
                ],
                &["container", "raw_exec"],
            ),
            (&[("driver.allowlist", "exec")], &["exec"]),
            (
                &[("driver.blacklist", "raw_exec")],
                &["container", "docker", "exec"],
            ),
        ];
        for (options, want) in cases {
            let mut s = settings();
            s.options = options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let node = fingerprint(&s, &driver_fp());
            let names: Vec<&str> = node.drivers.keys().map(String::as_str).collect();
            assert_eq!(names, want, "{options:?}");
            if names.contains(&"raw_exec") && s.option_enabled("driver.raw_exec.enable") {
                assert!(node.drivers["raw_exec"].detected && node.drivers["raw_exec"].healthy);
                assert_eq!(node.attributes["driver.raw_exec"], "1");
            }
            for gone in ["docker", "exec"].iter().filter(|d| !names.contains(d)) {
                assert!(!node.attributes.contains_key(&format!("driver.{gone}")));
            }
        }
        // An unhealthy native driver says why.
        let mut fp = driver_fp();
        fp.healthy = false;
        fp.description = "the kernel lacks overlayfs".into();
        let node = fingerprint(&settings(), &fp);
        assert!(node.drivers["docker"].detected && !node.drivers["docker"].healthy);
        assert_eq!(
            node.drivers["docker"].health_description,
            "the kernel lacks overlayfs"
        );
    }

    #[test]
    fn settings_override_defaults() {
        let mut s = settings();
        s.node_name = "worker-7".into();
        s.node_pool = "gpu".into();
        s.node_class = "big".into();
        s.min_dynamic_port = 25000;
        s.max_dynamic_port = 26000;
        s.meta = [("rack".to_string(), "r1".to_string())].into();
        let node = fingerprint(&s, &driver_fp());
        assert_eq!(
            (
                node.name.as_str(),
                node.node_pool.as_str(),
                node.node_class.as_str()
            ),
            ("worker-7", "gpu", "big")
        );
        assert_eq!(node.node_resources.min_dynamic_port, 25000);
        assert_eq!(node.node_resources.max_dynamic_port, 26000);
        assert_eq!(node.meta["rack"], "r1");
    }

    #[test]
    fn parsers() {
        let x86 = "processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2445.424\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2600.000\n";
        assert_eq!(
            parse_cpuinfo(x86),
            CpuInfo {
                processors: 2,
                mhz: Some(2600),
                model: Some("AMD EPYC".into())
            }
        );
        // aarch64 VMs report neither MHz nor a model name.
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\nprocessor\t: 1\n";
        assert_eq!(
            parse_cpuinfo(arm),
            CpuInfo {
                processors: 2,
                mhz: None,
                model: None
            }
        );
        assert_eq!(parse_cpu_list("0-3,6\n"), [0, 1, 2, 3, 6]);
        assert_eq!(parse_cpu_list(""), Vec::<u16>::new());
        assert_eq!(
            parse_meminfo_total("MemTotal:       16384 kB\nMemFree: 1 kB\n"),
            Some(16384 * 1024)
        );
        assert_eq!(parse_meminfo_total("nothing"), None);
        assert_eq!(
            parse_os_release("NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n"),
            ("debian".to_string(), "12".to_string())
        );
        let route = "Iface\tDestination\tGateway \tFlags\n\
                     eth1\t0002000A\t00000000\t0001\n\
                     eth0\t00000000\t010200C0\t0003\n";
        assert_eq!(default_route_interface(route).as_deref(), Some("eth0"));
        assert_eq!(default_route_interface("Iface\n"), None);
        let mountinfo = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                         30 22 0:25 / /var/lib rw shared:2 - tmpfs tmpfs rw\n\
                         31 22 8:2 / /var/lib/my\\040data rw - xfs /dev/sdb1 rw\n";
        let src = |p: &str| mount_source(mountinfo, Path::new(p));
        assert_eq!(src("/home/x").as_deref(), Some("/dev/sda1"));
        assert_eq!(src("/var/lib/drover").as_deref(), Some("tmpfs"));
        assert_eq!(src("/var/lib/my data/alloc").as_deref(), Some("/dev/sdb1"));
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(interface_ipv4("lo").as_deref(), Some("127.0.0.1"));
        assert_eq!(interface_ipv4("drover-no-such-if0"), None);
    }
}
