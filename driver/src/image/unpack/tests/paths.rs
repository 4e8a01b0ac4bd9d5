//! Member names, link names, entry types and replacement of existing entries.

use tar::EntryType;

use super::harness::*;
use crate::image::unpack::UnpackError;

fn escape(e: &UnpackError) -> bool {
    matches!(e, UnpackError::Escape { .. })
}

fn unsupported(e: &UnpackError) -> bool {
    matches!(e, UnpackError::UnsupportedEntry { .. })
}

/// Longer than the 100-byte name field: needs a GNU long name.
const LONG: &str = concat!(
    "long/dddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
    "dddddddddddddddddddddddddddddddddddddddddddddddddddddddd/file"
);

const CASES: &[Case] = &[
    Case {
        name: "../x is refused",
        tar: |_| TarW::new().file("../x", "x", 0o644).finish(),
        expect: Expect::Err(escape, nothing),
    },
    Case {
        name: "a/../../x is refused",
        tar: |_| TarW::new().file("a/../../x", "x", 0o644).finish(),
        expect: Expect::Err(escape, nothing),
    },
    Case {
        name: "/abs/x is rooted at the layer",
        tar: |_| TarW::new().file("/abs/x", "x", 0o644).finish(),
        expect: Expect::Ok(|s| assert_file(&s.at("abs/x"), "x")),
    },
    Case {
        name: "absolute probe path is rooted at the layer",
        tar: |s| {
            TarW::new()
                .file(&s.abs("etc/passwd"), "inside", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| assert_file(&s.inside("etc/passwd"), "inside")),
    },
    Case {
        name: "a/../b and ./etc/./passwd normalise lexically",
        tar: |_| {
            TarW::new()
                .file("a/../b", "b", 0o644)
                .file("./etc/./passwd", "p", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_file(&s.at("b"), "b");
            assert_absent(&s.at("a"));
            assert_file(&s.at("etc/passwd"), "p");
        }),
    },
    Case {
        name: "gnu long names are honoured",
        tar: |_| TarW::new().file(LONG, "long", 0o644).finish(),
        expect: Expect::Ok(|s| assert_file(&s.at(LONG), "long")),
    },
    Case {
        name: "pax path and linkpath override the header",
        tar: |_| {
            TarW::new()
                .pax(&[("path", b"pax/real/name")])
                .file("short", "x", 0o644)
                .pax(&[("linkpath", b"/pax/target")])
                .symlink("sl", "ignored")
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_file(&s.at("pax/real/name"), "x");
            assert_absent(&s.at("short"));
            assert_symlink(&s.at("sl"), "/pax/target");
        }),
    },
    Case {
        name: "pax path with NUL is refused",
        tar: |_| {
            TarW::new()
                .pax(&[("path", b"a\0b")])
                .file("short", "x", 0o644)
                .finish()
        },
        expect: Expect::Err(
            |e| matches!(e, UnpackError::InvalidPath { .. }),
            |s| assert_absent(&s.at("a")),
        ),
    },
    Case {
        name: "pax global header is ignored",
        tar: |_| {
            let h = TarW::header(EntryType::XGlobalHeader, 0o644);
            TarW::new()
                .raw(h, b"pax_global_header", None, b"17 comment=hello\n")
                .file("f", "f", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_file(&s.at("f"), "f");
            assert_absent(&s.at("pax_global_header"));
        }),
    },
    Case {
        name: "old-style directory (type NUL, trailing slash)",
        tar: |_| {
            TarW::new()
                .with(EntryType::Regular, "olddir/", 0o700, |h| {
                    h.as_old_mut().linkflag = [0]
                })
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_dir(&s.at("olddir"));
            assert_eq!(mode(&s.at("olddir")), 0o700);
        }),
    },
    Case {
        name: "sparse files are refused",
        tar: |_| {
            TarW::new()
                .with(EntryType::GNUSparse, "sparse", 0o644, |h| {
                    h.as_gnu_mut().unwrap().realsize = *b"00000000000\0";
                })
                .finish()
        },
        expect: Expect::Err(unsupported, |s| assert_absent(&s.at("sparse"))),
    },
    Case {
        name: "unknown type flags are refused",
        tar: |_| {
            TarW::new()
                .with(EntryType::new(b'Z'), "z", 0o644, |_| {})
                .finish()
        },
        expect: Expect::Err(unsupported, |s| assert_absent(&s.at("z"))),
    },
    Case {
        name: "hardlink to a missing target says cross-layer links are unsupported",
        tar: |_| TarW::new().link("b", "usr/lib/from-lower-layer").finish(),
        expect: Expect::Err(
            |e| {
                matches!(e, UnpackError::HardlinkTargetMissing { .. })
                    && e.to_string().contains("not supported")
            },
            |s| assert_absent(&s.at("b")),
        ),
    },
    Case {
        name: "hardlink to a directory is refused",
        tar: |_| TarW::new().dir("d", 0o755).link("l", "d").finish(),
        expect: Expect::Err(|e| matches!(e, UnpackError::InvalidHeader { .. }), nothing),
    },
    Case {
        name: "symlink with an empty target is refused",
        tar: |_| TarW::new().symlink("s", "").finish(),
        expect: Expect::Err(|e| matches!(e, UnpackError::InvalidHeader { .. }), nothing),
    },
    Case {
        name: "file under a file fails",
        tar: |_| {
            TarW::new()
                .file("a", "a", 0o644)
                .file("a/b", "b", 0o644)
                .finish()
        },
        expect: Expect::Err(
            |e| {
                matches!(
                    e,
                    UnpackError::Io {
                        op: "resolve parent directory",
                        ..
                    }
                )
            },
            |s| assert_file(&s.at("a"), "a"),
        ),
    },
    Case {
        name: "symlink loop as a parent fails",
        tar: |_| {
            TarW::new()
                .symlink("a", "b")
                .symlink("b", "/a")
                .file("a/x", "x", 0o644)
                .finish()
        },
        expect: Expect::Err(|e| matches!(e, UnpackError::Io { .. }), nothing),
    },
    Case {
        name: "dangling symlink parent is created in-root",
        tar: |_| {
            TarW::new()
                .symlink("l", "m/../n/o")
                .file("l/f", "f", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_file(&s.at("n/o/f"), "f");
            assert_dir(&s.at("m"));
            assert_symlink(&s.at("l"), "m/../n/o");
        }),
    },
    Case {
        name: "repeated directory keeps contents, last metadata wins",
        tar: |_| {
            TarW::new()
                .dir("d", 0o700)
                .file("d/x", "x", 0o644)
                .dir("d", 0o751)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_eq!(mode(&s.at("d")), 0o751);
            assert_file(&s.at("d/x"), "x");
        }),
    },
    Case {
        name: "file replaces a directory tree",
        tar: |_| {
            TarW::new()
                .file("d/e/f/g", "g", 0o644)
                .symlink("d/e/l", "/")
                .dir("d/e/empty", 0o000)
                .file("d", "file", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| assert_file(&s.at("d"), "file")),
    },
    Case {
        name: "truncated file data is an error",
        tar: |_| {
            let mut h = TarW::header(EntryType::Regular, 0o644);
            h.as_old_mut().name[..5].copy_from_slice(b"trunc");
            h.set_size(1000);
            h.set_cksum();
            let mut out = h.as_bytes().to_vec();
            out.extend_from_slice(b"only ten b");
            out
        },
        expect: Expect::Err(|e| matches!(e, UnpackError::ReadEntry { .. }), nothing),
    },
    Case {
        name: "truncated directory data is an error too",
        tar: |_| {
            let mut h = TarW::header(EntryType::Directory, 0o755);
            h.as_old_mut().name[..1].copy_from_slice(b"d");
            h.set_size(600);
            h.set_cksum();
            h.as_bytes().to_vec()
        },
        expect: Expect::Err(|e| matches!(e, UnpackError::ReadEntry { .. }), nothing),
    },
];

#[test]
fn paths_and_types() {
    run_table(CASES);
}
