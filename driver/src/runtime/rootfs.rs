//! Building a task's `/` inside its new mount namespace: the overlay of image layers (or
//! a prepared directory), the kernel filesystems a process expects, a minimal `/dev`,
//! runc's masked and read-only paths, the caller's bind mounts, then `pivot_root`.
//! Runs in the task's init, before exec; errors are text for the launcher to report.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, Mode, OFlags};
use rustix::mount::{self as m, MountFlags, MountPropagationFlags, UnmountFlags};

use super::inroot::{self, fd_path, Kind};
use super::spec::{BindMount, Rootfs, TaskSpec};

/// runc's and Moby's masked paths: files get /dev/null, directories an empty tmpfs.
const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Read-only kernel interfaces (writes there would change the host).
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The OCI default devices, made fresh in the task's own `/dev` tmpfs.
const DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const DEV_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

fn mount_at(
    source: &str,
    target: &OwnedFd,
    fstype: &str,
    flags: MountFlags,
    data: &str,
    what: &str,
) -> Result<(), String> {
    let data = std::ffi::CString::new(data).map_err(|e| err(what, e))?;
    m::mount(
        source,
        fd_path(target).as_str(),
        fstype,
        flags,
        data.as_c_str(),
    )
    .map_err(|e| err(format!("mounting {what}"), e))
}

/// Opens the host's /dev/null before anything of the image is visible, and checks it is
/// really the null device: masking binds this fd, never a path (CVE-2025-31133). Opened
/// in the task's own mount namespace: the kernel only binds mounts of the caller's.
fn open_dev_null() -> Result<File, String> {
    let f = File::open("/dev/null").map_err(|e| err("opening /dev/null", e))?;
    let st = rfs::fstat(&f).map_err(|e| err("stat /dev/null", e))?;
    let ft = rfs::FileType::from_raw_mode(st.st_mode);
    if ft != rfs::FileType::CharacterDevice
        || rfs::major(st.st_rdev) != 1
        || rfs::minor(st.st_rdev) != 3
    {
        return Err("/dev/null is not the null device (1:3)".into());
    }
    Ok(f)
}

/// Sets up the rootfs and pivots into it. `cgroup2` says whether to mount the task's
/// cgroup namespace at /sys/fs/cgroup.
pub fn enter(spec: &TaskSpec, cgroup2: bool) -> Result<(), String> {
    // No filesystem isolation means no mount namespace of its own: touching mounts here
    // would change the host's.
    if matches!(spec.rootfs, Rootfs::Host) {
        return Ok(());
    }
    // Nothing we mount may propagate back to the host's namespace.
    m::mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(|e| err("making / private", e))?;
    let dev_null = open_dev_null()?;
    let target = match &spec.rootfs {
        Rootfs::Host => unreachable!("handled above"),
        Rootfs::Overlay {
            layers,
            upper,
            work,
            target,
        } => {
            mount_overlay(layers, upper, work, target)?;
            target
        }
        Rootfs::Directory(dir) => {
            // pivot_root needs a mount point; bind the directory onto itself.
            m::mount_bind_recursive(dir, dir)
                .map_err(|e| err(format!("binding {}", dir.display()), e))?;
            dir
        }
    };
    let root = rfs::open(
        target,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err(format!("opening rootfs {}", target.display()), e))?;
    let root = root.as_fd();

    let proc = inroot::ensure(root, "/proc", Kind::Dir).map_err(|e| err("/proc", e))?;
    let nosuid = MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV;
    mount_at("proc", &proc, "proc", nosuid, "", "/proc")?;
    setup_dev(root)?;
    let sys = inroot::ensure(root, "/sys", Kind::Dir).map_err(|e| err("/sys", e))?;
    mount_at(
        "sysfs",
        &sys,
        "sysfs",
        nosuid | MountFlags::RDONLY,
        "",
        "/sys",
    )?;
    if cgroup2 {
        // In the task's cgroup namespace this shows only its own cgroup, read-only
        // (CVE-2022-0492, CVE-2023-25809).
        let cg =
            inroot::open_existing(root, "/sys/fs/cgroup").map_err(|e| err("/sys/fs/cgroup", e))?;
        if let Some(cg) = cg {
            mount_at(
                "cgroup2",
                &cg,
                "cgroup2",
                nosuid | MountFlags::RDONLY,
                "",
                "/sys/fs/cgroup",
            )?;
        }
    }
    for b in &spec.mounts {
        bind(root, b)?;
    }
    if spec.security.harden_proc {
        mask_and_protect(root, &dev_null)?;
    }
    pivot(root)
}

fn mount_overlay(
    layers: &[std::path::PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), String> {
    if layers.is_empty() {
        return Err("image has no layers".into());
    }
    // Mount options are limited to one page; with layers named by 64-hex digests that is
    // ~40 layers. Short relative names from their common directory leave room for many
    // more (the kernel resolves them against our cwd at mount time).
    let common = layers[0].parent().and_then(Path::parent);
    let relative = common.filter(|c| {
        layers
            .iter()
            .all(|l| l.parent().and_then(Path::parent) == Some(*c))
    });
    let lower: Vec<String> = match relative {
        Some(dir) => {
            rustix::process::chdir(dir).map_err(|e| err(format!("chdir {}", dir.display()), e))?;
            layers
                .iter()
                .rev()
                .map(|l| l.strip_prefix(dir).unwrap().display().to_string())
                .collect()
        }
        None => layers
            .iter()
            .rev()
            .map(|l| l.display().to_string())
            .collect(),
    };
    for p in lower
        .iter()
        .chain([upper.display().to_string(), work.display().to_string()].iter())
    {
        if p.contains([',', ':']) {
            return Err(format!("overlay path {p} contains ',' or ':'"));
        }
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    let data = std::ffi::CString::new(data).map_err(|e| err("overlay options", e))?;
    // nodev: a device node in the image, or one the task makes (Docker's capabilities
    // include CAP_MKNOD), never opens; only /dev's own devices do (see `setup_dev`).
    m::mount(
        "overlay",
        target,
        "overlay",
        MountFlags::NODEV,
        data.as_c_str(),
    )
    .map_err(|e| err(format!("mounting overlay at {}", target.display()), e))
}

fn setup_dev(root: BorrowedFd) -> Result<(), String> {
    let dev = inroot::ensure(root, "/dev", Kind::Dir).map_err(|e| err("/dev", e))?;
    mount_at(
        "tmpfs",
        &dev,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::STRICTATIME,
        "mode=755,size=65536k",
        "/dev",
    )?;
    // Our own fresh tmpfs now: nothing of the image is under it.
    let dev = inroot::open_existing(root, "/dev")
        .map_err(|e| err("/dev", e))?
        .ok_or("/dev vanished")?;
    let dev = rfs::openat(
        &dev,
        ".",
        OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("/dev", e))?;
    for (name, major, minor) in DEVICES {
        rfs::mknodat(
            &dev,
            *name,
            rfs::FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rfs::makedev(*major, *minor),
        )
        .map_err(|e| err(format!("mknod /dev/{name}"), e))?;
        // mknod is subject to the umask; devices must be usable by any task user.
        rfs::chmodat(
            &dev,
            *name,
            Mode::from_raw_mode(0o666),
            rfs::AtFlags::empty(),
        )
        .map_err(|e| err(format!("chmod /dev/{name}"), e))?;
    }
    for (name, target) in DEV_LINKS {
        rfs::symlinkat(*target, &dev, *name).map_err(|e| err(format!("/dev/{name}"), e))?;
    }
    let sub = |name: &str, fstype: &str, flags: MountFlags, data: &str| -> Result<(), String> {
        rfs::mkdirat(&dev, name, Mode::from_raw_mode(0o755))
            .map_err(|e| err(format!("/dev/{name}"), e))?;
        let fd = rfs::openat(
            &dev,
            name,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err(format!("/dev/{name}"), e))?;
        mount_at(fstype, &fd, fstype, flags, data, &format!("/dev/{name}"))
    };
    let nosuid = MountFlags::NOSUID | MountFlags::NOEXEC;
    sub(
        "pts",
        "devpts",
        nosuid,
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
    )?;
    sub(
        "shm",
        "tmpfs",
        nosuid | MountFlags::NODEV,
        "mode=1777,size=65536k",
    )?;
    sub("mqueue", "mqueue", nosuid | MountFlags::NODEV, "")?;
    // A task with CAP_MKNOD (in Docker's default set) could make and open any device in
    // a writable /dev: the host's disks, /dev/kmsg. runc stops that with the device
    // cgroup; here /dev itself becomes nodev (as the rootfs is) and each default device
    // is a bind mount of itself, which keeps the dev-allowing flags it was cloned with.
    for (name, _, _) in DEVICES {
        let fd = rfs::openat(
            &dev,
            *name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err(format!("/dev/{name}"), e))?;
        m::mount_bind(fd_path(&fd).as_str(), fd_path(&fd).as_str())
            .map_err(|e| err(format!("binding /dev/{name}"), e))?;
    }
    // The remount changes only this mount's flags (atime kept), not the binds below.
    m::mount_remount(
        fd_path(&dev).as_str(),
        MountFlags::BIND | MountFlags::NOSUID | MountFlags::NODEV,
        "",
    )
    .map_err(|e| err("making /dev nodev", e))
}

fn bind(root: BorrowedFd, b: &BindMount) -> Result<(), String> {
    let what = format!("bind mount {} -> {}", b.source.display(), b.target);
    let meta = std::fs::metadata(&b.source).map_err(|e| err(&what, e))?;
    let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
    let target = inroot::ensure(root, &b.target, kind).map_err(|e| err(&what, e))?;
    let source = b.source.display().to_string();
    m::mount_bind_recursive(source.as_str(), fd_path(&target).as_str())
        .map_err(|e| err(&what, e))?;
    if b.readonly || b.noexec {
        // The fd names the directory under the new mount; look the path up again to
        // reach the mount itself.
        let mounted = inroot::open_existing(root, &b.target)
            .map_err(|e| err(&what, e))?
            .ok_or_else(|| format!("{what}: target vanished"))?;
        let mut flags = MountFlags::NOSUID | MountFlags::NODEV;
        if b.readonly {
            flags |= MountFlags::RDONLY;
        }
        if b.noexec {
            flags |= MountFlags::NOEXEC;
        }
        m::mount_remount(fd_path(&mounted).as_str(), flags | MountFlags::BIND, "")
            .map_err(|e| err(format!("{what} (remount)"), e))?;
    }
    Ok(())
}

fn mask_and_protect(root: BorrowedFd, dev_null: &File) -> Result<(), String> {
    for path in MASKED {
        let Some(fd) = inroot::open_existing(root, path).map_err(|e| err(path, e))? else {
            continue;
        };
        let st = rfs::fstat(&fd).map_err(|e| err(path, e))?;
        if rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory {
            mount_at("tmpfs", &fd, "tmpfs", MountFlags::RDONLY, "size=0", path)?;
        } else {
            m::mount_bind(fd_path(dev_null).as_str(), fd_path(&fd).as_str())
                .map_err(|e| err(format!("masking {path}"), e))?;
        }
    }
    for path in READONLY {
        let Some(fd) = inroot::open_existing(root, path).map_err(|e| err(path, e))? else {
            continue;
        };
        m::mount_bind_recursive(fd_path(&fd).as_str(), fd_path(&fd).as_str())
            .map_err(|e| err(format!("protecting {path}"), e))?;
        let mounted = inroot::open_existing(root, path)
            .map_err(|e| err(path, e))?
            .ok_or_else(|| format!("{path} vanished"))?;
        let flags = MountFlags::BIND
            | MountFlags::RDONLY
            | MountFlags::NOSUID
            | MountFlags::NODEV
            | MountFlags::NOEXEC;
        m::mount_remount(fd_path(&mounted).as_str(), flags, "")
            .map_err(|e| err(format!("protecting {path}"), e))?;
    }
    Ok(())
}

/// `pivot_root(".", ".")` from inside the new root, then detach the old one: the host's
/// filesystem is no longer reachable from the task's mount namespace.
fn pivot(root: BorrowedFd) -> Result<(), String> {
    let dir = rfs::openat(
        root,
        ".",
        OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("rootfs", e))?;
    rustix::process::fchdir(&dir).map_err(|e| err("chdir rootfs", e))?;
    rustix::process::pivot_root(".", ".").map_err(|e| err("pivot_root", e))?;
    m::unmount(".", UnmountFlags::DETACH).map_err(|e| err("detaching the old root", e))?;
    rustix::process::chdir("/").map_err(|e| err("chdir /", e))
}
