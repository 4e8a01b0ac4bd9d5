//! Port of containerd's `TestBreakouts` (pkg/archive/tar_test.go) plus the Rust `tar`
//! advisories and CVE-2021-29136 / CVE-2021-32760, runtime.md §3.8. Cases that needed a
//! pre-populated lower layer in containerd put the conflicting member earlier in the
//! same layer. Absolute and relative link targets point into the probe (see
//! [`Sandbox`]), so a breakout would show up there.

use super::harness::*;
use crate::image::unpack::UnpackError;

fn escape(e: &UnpackError) -> bool {
    matches!(e, UnpackError::Escape { .. })
}

/// `dest/<probe>/etc/passwd` = "inside", the file links aim at in-root.
fn inside_passwd(s: &Sandbox, t: &mut TarW) {
    t.dir(&s.rel("etc"), 0o770)
        .file(&s.rel("etc/passwd"), "inside", 0o644);
}

const CASES: &[Case] = &[
    Case {
        name: "symlink absolute, then write through it",
        tar: |s| {
            let mut t = TarW::new();
            t.dir(&s.rel("etc"), 0o755)
                .symlink("localetc", &s.abs("etc"))
                .file("/localetc/unbroken", "unbroken", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_symlink(&s.at("localetc"), &s.abs("etc"));
            assert_file(&s.inside("etc/unbroken"), "unbroken");
        }),
    },
    Case {
        name: "symlink up and out, then write through it",
        tar: |s| {
            let mut t = TarW::new();
            t.dir(&s.rel("etc"), 0o755)
                .dir("dummy", 0o755)
                .symlink("localetc", &format!("dummy/{}", s.up("etc")))
                .file("/localetc/unbroken", "unbroken", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| assert_file(&s.inside("etc/unbroken"), "unbroken")),
    },
    Case {
        name: "chained symlinks, absolute",
        tar: |s| {
            let mut t = TarW::new();
            t.dir(&s.rel("etc"), 0o755)
                .dir("dummy", 0o755)
                .symlink("/dummy/etc", &s.abs("etc"))
                .symlink("localetc", "/dummy/etc")
                .file("/localetc/unbroken", "unbroken", 0o644)
                .file("/dummy/etc/unbroken2", "unbroken2", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_file(&s.inside("etc/unbroken"), "unbroken");
            assert_file(&s.inside("etc/unbroken2"), "unbroken2");
        }),
    },
    Case {
        name: "chained symlinks, relative",
        tar: |s| {
            let mut t = TarW::new();
            t.dir(&s.rel("etc"), 0o755)
                .dir("dummy", 0o755)
                .symlink("/dummy/etc", &s.up("etc"))
                .symlink("localetc", "./dummy/etc")
                .file("localetc/unbroken", "unbroken", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| assert_file(&s.inside("etc/unbroken"), "unbroken")),
    },
    Case {
        name: "empty file written through a symlink truncates only the inside copy",
        tar: |s| {
            let mut t = TarW::new();
            t.dir(&s.rel("etc"), 0o755)
                .file(&s.rel("etc/emptied"), "notempty", 0o644)
                .symlink("localetc", &s.abs("etc"))
                .file("/localetc/emptied", "", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| assert_file(&s.inside("etc/emptied"), "")),
    },
    Case {
        name: "hardlink through a relative symlink",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.dir("breakouts", 0o755)
                .symlink("breakouts/d1", &s.up("etc"))
                .link("breakouts/mypasswd", "/breakouts/d1/passwd");
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_same_inode(&s.at("breakouts/mypasswd"), &s.inside("etc/passwd"))
        }),
    },
    Case {
        name: "hardlink through a down-and-out symlink",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.dir("breakouts", 0o755)
                .dir("downandout", 0o755)
                .symlink("breakouts/d1", &format!("../downandout/{}", s.up("etc")))
                .link("breakouts/mypasswd", "/breakouts/d1/passwd");
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_same_inode(&s.at("breakouts/mypasswd"), &s.inside("etc/passwd"))
        }),
    },
    Case {
        name: "hardlink through an absolute symlink",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.symlink("localetc", &s.abs("etc"))
                .link("localpasswd", "/localetc/passwd");
            t.finish()
        },
        expect: Expect::Ok(|s| assert_same_inode(&s.at("localpasswd"), &s.inside("etc/passwd"))),
    },
    Case {
        name: "hardlink through a long relative symlink",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.symlink("localetc", &s.up("etc"))
                .link("localpasswd", "/localetc/passwd");
            t.finish()
        },
        expect: Expect::Ok(|s| assert_same_inode(&s.at("localpasswd"), &s.inside("etc/passwd"))),
    },
    Case {
        name: "hardlink through an up-and-out symlink",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.dir("upandout", 0o755)
                .symlink("localetc", &format!("upandout/{}", s.up("etc")))
                .link("localpasswd", "/localetc/passwd");
            t.finish()
        },
        expect: Expect::Ok(|s| assert_same_inode(&s.at("localpasswd"), &s.inside("etc/passwd"))),
    },
    Case {
        // containerd resolves `upandout/..` lexically and links; the kernel (and so the
        // container at run time) finds `upandout` missing, so the target does not exist.
        name: "hardlink through an up-and-out symlink over a missing directory is refused",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.symlink("localetc", &format!("upandout/{}", s.up("etc")))
                .link("localpasswd", "/localetc/passwd");
            t.finish()
        },
        expect: Expect::Err(
            |e| matches!(e, UnpackError::HardlinkTargetMissing { .. }),
            |s| assert_absent(&s.at("localpasswd")),
        ),
    },
    Case {
        name: "hardlink with a direct relative target above the root is refused",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.link("localpasswd", &s.up("etc/passwd"));
            t.finish()
        },
        expect: Expect::Err(escape, |s| assert_absent(&s.at("localpasswd"))),
    },
    Case {
        name: "hardlink with a direct absolute target stays inside",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.link("localpasswd", &s.abs("etc/passwd"));
            t.finish()
        },
        expect: Expect::Ok(|s| assert_same_inode(&s.at("localpasswd"), &s.inside("etc/passwd"))),
    },
    Case {
        name: "symlink named .. is refused",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.symlink("..", &s.abs("etc"))
                .link("localpasswd", &s.abs("etc/passwd"));
            t.finish()
        },
        expect: Expect::Err(escape, |s| assert_absent(&s.at("localpasswd"))),
    },
    Case {
        name: "symlink with an empty name is skipped (it would be the root)",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.symlink("", &s.abs("etc"))
                .link("localpasswd", &s.abs("etc/passwd"));
            t.finish()
        },
        expect: Expect::Ok(|s| assert_same_inode(&s.at("localpasswd"), &s.inside("etc/passwd"))),
    },
    Case {
        name: "symlink named localetc/sub/.. is localetc",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.symlink("localetc/sub/..", &s.abs("etc"))
                .link("/localetc/localpasswd", &s.abs("etc/passwd"));
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_symlink(&s.at("localetc"), &s.abs("etc"));
            assert_same_inode(&s.inside("etc/localpasswd"), &s.inside("etc/passwd"));
        }),
    },
    Case {
        name: "directory with a trailing slash, then hardlink into it",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.dir("localetc/", 0o770)
                .link("/localetc/localpasswd", &s.abs("etc/passwd"));
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_same_inode(&s.at("localetc/localpasswd"), &s.inside("etc/passwd"))
        }),
    },
    Case {
        name: "symlink overrides a directory (absolute), then hardlink through it",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.dir("localetc", 0o755)
                .file("localetc/old", "old", 0o644)
                .symlink("localetc", &s.abs("etc"))
                .link("/localetc/localpasswd", &s.abs("etc/passwd"));
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_symlink(&s.at("localetc"), &s.abs("etc"));
            assert_same_inode(&s.inside("etc/localpasswd"), &s.inside("etc/passwd"));
        }),
    },
    Case {
        name: "symlink overrides a directory (relative), then hardlink through it",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.dir("localetc", 0o755)
                .symlink("localetc", &s.up("etc"))
                .link("/localetc/localpasswd", &s.abs("etc/passwd"));
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_same_inode(&s.inside("etc/localpasswd"), &s.inside("etc/passwd"))
        }),
    },
    Case {
        name: "directory overrides a symlink, then hardlink into it",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.symlink("localetc", &s.abs("etc"))
                .dir("/localetc/", 0o755)
                .link("/localetc/localpasswd", &s.abs("etc/passwd"));
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_dir(&s.at("localetc"));
            assert_same_inode(&s.at("localetc/localpasswd"), &s.inside("etc/passwd"));
            assert_absent(&s.inside("etc/localpasswd"));
        }),
    },
    Case {
        name: "directory overrides a symlink and hardlink, file replaces the link",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.symlink("localetc", &s.abs("etc"))
                .link("localetc/localpasswd", &s.abs("etc/passwd"))
                .dir("/localetc/", 0o755)
                .file("/localetc/localpasswd", "different", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_file(&s.at("localetc/localpasswd"), "different");
            assert_file(&s.inside("etc/passwd"), "inside");
        }),
    },
    Case {
        name: "whiteout .wh... (root parent) is refused",
        tar: |_| TarW::new().file(".wh...", "", 0o644).finish(),
        expect: Expect::Err(escape, nothing),
    },
    Case {
        name: "whiteout etc/.wh... (parent) is refused",
        tar: |_| {
            TarW::new()
                .dir("etc", 0o755)
                .file("etc/.wh...", "", 0o644)
                .finish()
        },
        expect: Expect::Err(escape, nothing),
    },
    Case {
        name: "whiteout .wh.. (root) is refused",
        tar: |_| TarW::new().file(".wh..", "", 0o644).finish(),
        expect: Expect::Err(escape, nothing),
    },
    Case {
        name: "whiteout etc/.wh.. (current directory) is refused",
        tar: |_| {
            TarW::new()
                .dir("etc", 0o755)
                .file("etc/.wh..", "", 0o644)
                .finish()
        },
        expect: Expect::Err(escape, nothing),
    },
    Case {
        name: "whiteout of a symlink of this layer keeps the symlink",
        tar: |s| {
            let mut t = TarW::new();
            t.symlink("localetc", &s.abs("etc"))
                .file(".wh.localetc", "", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_symlink(&s.at("localetc"), &s.abs("etc"));
            assert_absent(&s.at(".wh.localetc"));
        }),
    },
    Case {
        name: "whiteout through a symlinked parent lands inside",
        tar: |s| {
            let mut t = TarW::new();
            t.symlink("localetc", &s.abs("etc"))
                .file("localetc/.wh.whitedout", "", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_whiteout(&s.inside("etc/whitedout"));
            assert_absent(&s.inside("etc/.wh.whitedout"));
        }),
    },
    Case {
        name: "whiteout prefix on a directory name is an ordinary directory",
        tar: |_| {
            TarW::new()
                .file(".wh.etc/somefile", "non-empty", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_file(&s.at(".wh.etc/somefile"), "non-empty");
            assert_absent(&s.at("etc"));
        }),
    },
    Case {
        name: "whiteout under a dead symlink parent lands inside",
        tar: |s| {
            let mut t = TarW::new();
            t.symlink("localetc", &s.abs("dne"))
                .file("localetc/.wh.etc", "", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_whiteout(&s.inside("dne/etc"));
            assert_symlink(&s.at("localetc"), &s.abs("dne"));
        }),
    },
    Case {
        name: "whiteout with a relative path resolves lexically",
        tar: |_| TarW::new().file("dne/../.wh.etc", "", 0o644).finish(),
        expect: Expect::Ok(|s| {
            assert_whiteout(&s.at("etc"));
            assert_absent(&s.at("dne"));
        }),
    },
    Case {
        name: "hardlink to a symlink made before its target exists",
        tar: |s| {
            let mut t = TarW::new();
            t.dir(&s.rel("etc"), 0o770)
                .symlink("localpasswd", &s.abs("etc/passwd"))
                .link("localpasswd-dup", "localpasswd")
                .file(&s.rel("etc/passwd"), "after", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_symlink(&s.at("localpasswd-dup"), &s.abs("etc/passwd"));
            assert_same_inode(&s.at("localpasswd-dup"), &s.at("localpasswd"));
            assert_file(&s.inside("etc/passwd"), "after");
        }),
    },
    Case {
        name: "hardlink to a relative symlink links the symlink",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.symlink("passwdlink", &s.up("etc/passwd"))
                .link("localpasswd", "/passwdlink");
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_symlink(&s.at("localpasswd"), &s.up("etc/passwd"));
            assert_same_inode(&s.at("localpasswd"), &s.at("passwdlink"));
        }),
    },
    Case {
        name: "hardlink to an absolute symlink links the symlink",
        tar: |s| {
            let mut t = TarW::new();
            inside_passwd(s, &mut t);
            t.symlink("passwdlink", &s.abs("etc/passwd"))
                .link("localpasswd", "/passwdlink");
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_symlink(&s.at("localpasswd"), &s.abs("etc/passwd"));
            assert_same_inode(&s.at("localpasswd"), &s.at("passwdlink"));
        }),
    },
    Case {
        name: "CVE-2021-32760: hardlink to a symlink, then chmod, leaves the target 0400",
        tar: |s| {
            let mut t = TarW::new();
            t.symlink(&s.abs("also-exists-outside-root"), &s.abs("perm400"))
                .with(tar::EntryType::Link, "sketchylink", 0o777, |h| {
                    h.set_link_name_literal(s.abs("also-exists-outside-root"))
                        .unwrap();
                });
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_eq!(mode(&s.probe.join("perm400")), 0o400);
            assert_symlink(&s.at("sketchylink"), &s.abs("perm400"));
        }),
    },
    Case {
        name: "RUSTSEC-2018-0002: symlink then file of the same name replaces the link",
        tar: |s| {
            let mut t = TarW::new();
            t.symlink("foo", &s.abs("victim"))
                .file("foo", "pwned", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_file(&s.at("foo"), "pwned");
            assert_file(&s.probe.join("victim"), "outside");
        }),
    },
    Case {
        name: "hardlink then file of the same name does not write into the target",
        tar: |_| {
            TarW::new()
                .file("a", "orig", 0o644)
                .link("b", "a")
                .file("b", "new", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_file(&s.at("a"), "orig");
            assert_file(&s.at("b"), "new");
        }),
    },
    Case {
        name:
            "RUSTSEC-2026-0067: symlink then directory of the same name does not chmod the target",
        tar: |s| {
            let mut t = TarW::new();
            t.symlink("foo", &s.abs("dir")).dir("foo", 0o777);
            t.finish()
        },
        expect: Expect::Ok(|s| {
            assert_dir(&s.at("foo"));
            assert_eq!(mode(&s.at("foo")), 0o777);
            assert_eq!(mode(&s.probe.join("dir")), 0o755);
        }),
    },
    Case {
        name: "CVE-2021-29136: root entry `.` as a symlink is skipped",
        tar: |s| {
            let mut t = TarW::new();
            t.symlink(".", &s.abs("")).file("etc/x", "x", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| assert_file(&s.at("etc/x"), "x")),
    },
    Case {
        name: "CVE-2021-29136: root entries `./` and `/` as symlinks are skipped",
        tar: |s| {
            let mut t = TarW::new();
            t.symlink("./", &s.abs(""))
                .symlink("/", &s.up(""))
                .file("etc/x", "x", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| assert_file(&s.at("etc/x"), "x")),
    },
    Case {
        name: "root entry as a file or hardlink is skipped",
        tar: |_| {
            TarW::new()
                .file("a", "a", 0o644)
                .file("./", "data", 0o644)
                .link(".", "a")
                .finish()
        },
        expect: Expect::Ok(|s| assert_file(&s.at("a"), "a")),
    },
];

#[test]
fn breakouts() {
    run_table(CASES);
}
