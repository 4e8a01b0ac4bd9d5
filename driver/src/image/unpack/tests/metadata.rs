//! Ownership, modes, times, xattrs and device nodes (runtime.md §3.5).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use tar::EntryType;

use super::harness::*;
use crate::image::unpack::UnpackError;

/// `security.capability` v2 granting cap_net_raw (bit 13), effective: what ping carries.
const CAP_NET_RAW: &[u8] = &[
    0x01, 0x00, 0x00, 0x02, // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
    0x00, 0x20, 0x00, 0x00, // permitted, low word
    0x00, 0x00, 0x00, 0x00, // inheritable, low word
    0x00, 0x00, 0x00, 0x00, // permitted, high word
    0x00, 0x00, 0x00, 0x00, // inheritable, high word
];

fn owner(p: &std::path::Path) -> (u32, u32) {
    let md = fs::symlink_metadata(p).unwrap();
    (md.uid(), md.gid())
}

fn mtime(p: &std::path::Path) -> (i64, i64) {
    let md = fs::symlink_metadata(p).unwrap();
    (md.mtime(), md.mtime_nsec())
}

fn invalid_header(e: &UnpackError) -> bool {
    matches!(e, UnpackError::InvalidHeader { .. })
}

const CASES: &[Case] = &[
    Case {
        name: "setuid/setgid/sticky bits and ownership are kept",
        tar: |_| {
            TarW::new()
                .file_with("bin/su", "su", 0o4755, |h| {
                    h.set_uid(1000);
                    h.set_gid(1001);
                })
                .file_with("bin/both", "both", 0o6711, |h| {
                    h.set_uid(5);
                    h.set_gid(6);
                })
                .with(EntryType::Directory, "shared", 0o2775, |h| h.set_gid(50))
                .with(EntryType::Directory, "tmp", 0o1777, |_| {})
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_eq!(mode(&s.at("bin/su")), 0o4755);
            assert_eq!(owner(&s.at("bin/su")), (1000, 1001));
            assert_eq!(mode(&s.at("bin/both")), 0o6711);
            assert_eq!(owner(&s.at("bin/both")), (5, 6));
            assert_eq!(mode(&s.at("shared")), 0o2775);
            assert_eq!(owner(&s.at("shared")), (0, 50));
            assert_eq!(mode(&s.at("tmp")), 0o1777);
            // implicit parents: 0755 root
            assert_eq!(mode(&s.at("bin")), 0o755);
        }),
    },
    Case {
        name: "symlink ownership is set on the link itself",
        tar: |_| {
            TarW::new()
                .file("target", "t", 0o644)
                .with(EntryType::Symlink, "link", 0o777, |h| {
                    h.set_link_name("target").unwrap();
                    h.set_uid(42);
                    h.set_gid(43);
                })
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_eq!(owner(&s.at("link")), (42, 43));
            assert_eq!(owner(&s.at("target")), (0, 0));
        }),
    },
    Case {
        name: "directory, file and symlink times are preserved",
        tar: |_| {
            TarW::new()
                .with(EntryType::Directory, "d", 0o755, |h| {
                    h.set_mtime(1_000_000_000)
                })
                .file_with("d/a", "a", 0o644, |h| h.set_mtime(1_000_000_100))
                .with(EntryType::Directory, "d/e", 0o755, |h| {
                    h.set_mtime(1_000_000_200)
                })
                .file("d/e/f", "f", 0o644)
                .with(EntryType::Symlink, "d/l", 0o777, |h| {
                    h.set_link_name("a").unwrap();
                    h.set_mtime(1_000_000_300);
                })
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_eq!(mtime(&s.at("d")), (1_000_000_000, 0));
            assert_eq!(mtime(&s.at("d/a")), (1_000_000_100, 0));
            assert_eq!(mtime(&s.at("d/e")), (1_000_000_200, 0));
            assert_eq!(mtime(&s.at("d/e/f")), (MTIME as i64, 0));
            assert_eq!(mtime(&s.at("d/l")), (1_000_000_300, 0));
        }),
    },
    Case {
        name: "pax mtime with a fraction",
        tar: |_| {
            TarW::new()
                .pax(&[("mtime", b"1234567890.5"), ("atime", b"1234567891.25")])
                .file("f", "x", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_eq!(mtime(&s.at("f")), (1_234_567_890, 500_000_000));
            let md = fs::symlink_metadata(s.at("f")).unwrap();
            assert_eq!((md.atime(), md.atime_nsec()), (1_234_567_891, 250_000_000));
        }),
    },
    Case {
        name: "root directory entry sets the layer root's metadata",
        tar: |_| {
            TarW::new()
                .with(EntryType::Directory, "./", 0o751, |h| {
                    h.set_uid(7);
                    h.set_gid(8);
                    h.set_mtime(1_234_567_890);
                })
                .file("f", "f", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_eq!(mode(&s.dest), 0o751);
            assert_eq!(owner(&s.dest), (7, 8));
            assert_eq!(mtime(&s.dest), (1_234_567_890, 0));
        }),
    },
    Case {
        name: "xattrs round-trip, security.capability and user.* included",
        tar: |_| {
            TarW::new()
                .pax(&[("SCHILY.xattr.user.dirattr", b"d")])
                .dir("bin", 0o755)
                .pax(&[
                    ("SCHILY.xattr.security.capability", CAP_NET_RAW),
                    ("SCHILY.xattr.user.foo", b"bar"),
                ])
                .file_with("bin/ping", "elf", 0o755, |h| h.set_uid(1))
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_eq!(
                xattr(&s.at("bin"), "user.dirattr").as_deref(),
                Some(&b"d"[..])
            );
            let ping = s.at("bin/ping");
            assert_eq!(xattr(&ping, "user.foo").as_deref(), Some(&b"bar"[..]));
            // set after chown, which would have cleared it
            assert_eq!(
                xattr(&ping, "security.capability").as_deref(),
                Some(CAP_NET_RAW)
            );
        }),
    },
    Case {
        name: "forged overlay xattrs and selinux labels are dropped",
        tar: |_| {
            TarW::new()
                .pax(&[
                    ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
                    ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
                    ("SCHILY.xattr.user.overlay.opaque", b"y"),
                    (
                        "SCHILY.xattr.security.selinux",
                        b"system_u:object_r:shadow_t:s0",
                    ),
                    ("SCHILY.xattr.user.keep", b"1"),
                ])
                .dir("d", 0o755)
                .finish()
        },
        expect: Expect::Ok(|s| {
            let got = xattrs(&s.at("d"));
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                ["user.keep"],
                "xattrs: {got:?}"
            );
        }),
    },
    Case {
        name: "device nodes and fifos",
        tar: |_| {
            TarW::new()
                .with(EntryType::Char, "dev/null", 0o666, |h| {
                    h.set_device_major(1).unwrap();
                    h.set_device_minor(3).unwrap();
                })
                .with(EntryType::Block, "dev/loop0", 0o660, |h| {
                    h.set_device_major(7).unwrap();
                    h.set_device_minor(0).unwrap();
                    h.set_gid(6);
                })
                .with(EntryType::Fifo, "run/fifo", 0o4620, |_| {})
                .finish()
        },
        expect: Expect::Ok(|s| {
            let null = fs::symlink_metadata(s.at("dev/null")).unwrap();
            assert!(null.file_type().is_char_device());
            assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
            assert_eq!(mode(&s.at("dev/null")), 0o666);
            let lo = fs::symlink_metadata(s.at("dev/loop0")).unwrap();
            assert!(lo.file_type().is_block_device());
            assert_eq!(lo.rdev(), rustix::fs::makedev(7, 0));
            assert_eq!((mode(&s.at("dev/loop0")), lo.gid()), (0o660, 6));
            assert!(fs::symlink_metadata(s.at("run/fifo"))
                .unwrap()
                .file_type()
                .is_fifo());
            assert_eq!(mode(&s.at("run/fifo")), 0o4620);
        }),
    },
    Case {
        name: "device with a 64-bit major (base-256) is refused, not truncated",
        tar: |_| {
            TarW::new()
                .with(EntryType::Char, "dev/evil", 0o666, |h| {
                    // 2^32 + 1: truncated to u32 it would be major 1 (mem devices)
                    h.as_gnu_mut().unwrap().dev_major = [0x80, 0, 0, 1, 0, 0, 0, 1];
                })
                .finish()
        },
        expect: Expect::Err(invalid_header, |s| assert_absent(&s.at("dev/evil"))),
    },
    Case {
        name: "device major above 12 bits is refused",
        tar: |_| {
            TarW::new()
                .with(EntryType::Block, "dev/big", 0o666, |h| {
                    h.set_device_major(4096).unwrap()
                })
                .finish()
        },
        expect: Expect::Err(invalid_header, |s| assert_absent(&s.at("dev/big"))),
    },
    Case {
        name: "uid -1 is refused (chown would ignore it)",
        tar: |_| {
            TarW::new()
                .file_with("f", "f", 0o644, |h| h.set_uid(u32::MAX.into()))
                .finish()
        },
        expect: Expect::Err(invalid_header, nothing),
    },
    Case {
        name: "hardlink member does not change its target's metadata",
        tar: |_| {
            TarW::new()
                .file_with("a", "a", 0o640, |h| h.set_uid(3))
                .with(EntryType::Link, "b", 0o777, |h| {
                    h.set_link_name("a").unwrap();
                    h.set_uid(0);
                    h.set_mtime(1);
                })
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_same_inode(&s.at("a"), &s.at("b"));
            assert_eq!(mode(&s.at("a")), 0o640);
            assert_eq!(owner(&s.at("a")), (3, 0));
            assert_eq!(mtime(&s.at("a")), (MTIME as i64, 0));
        }),
    },
];

#[test]
fn metadata() {
    run_table(CASES);
}
