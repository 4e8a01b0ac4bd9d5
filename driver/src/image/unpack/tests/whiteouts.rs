//! Whiteouts and opaque markers in overlayfs form (runtime.md §3.5).

use super::harness::*;
use crate::image::unpack::UnpackError;

const CASES: &[Case] = &[
    Case {
        name: "whiteout becomes a root-owned 0:0 char device, never the marker",
        tar: |_| {
            TarW::new()
                .dir("etc", 0o755)
                .with(tar::EntryType::Regular, "etc/.wh.foo", 0o644, |h| {
                    h.set_uid(1000);
                    h.set_gid(1000);
                })
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_whiteout(&s.at("etc/foo"));
            assert_absent(&s.at("etc/.wh.foo"));
        }),
    },
    Case {
        name: "whiteout at the top level creates the device in the root",
        tar: |_| TarW::new().file(".wh.gone", "", 0o644).finish(),
        expect: Expect::Ok(|s| assert_whiteout(&s.at("gone"))),
    },
    Case {
        name: "whiteout creates its missing parent",
        tar: |_| TarW::new().file("a/b/.wh.c", "", 0o644).finish(),
        expect: Expect::Ok(|s| {
            assert_dir(&s.at("a/b"));
            assert_whiteout(&s.at("a/b/c"));
        }),
    },
    Case {
        name: "whiteout after a file of this layer keeps the file",
        tar: |_| {
            TarW::new()
                .file("etc/foo", "keep", 0o644)
                .file("etc/.wh.foo", "", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| assert_file(&s.at("etc/foo"), "keep")),
    },
    Case {
        name: "whiteout after a directory of this layer keeps it and makes it opaque",
        tar: |_| {
            TarW::new()
                .dir("d", 0o755)
                .file("d/x", "x", 0o644)
                .file(".wh.d", "", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_file(&s.at("d/x"), "x");
            assert!(opaque(&s.at("d")), "d is not opaque");
        }),
    },
    Case {
        name: "directory after a whiteout of the same name is opaque",
        tar: |_| {
            TarW::new()
                .file(".wh.d", "", 0o644)
                .dir("d", 0o750)
                .file("d/x", "x", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_dir(&s.at("d"));
            assert_eq!(mode(&s.at("d")), 0o750);
            assert!(opaque(&s.at("d")), "d is not opaque");
            assert_file(&s.at("d/x"), "x");
        }),
    },
    Case {
        name: "implicit parent after a whiteout of the same name is opaque",
        tar: |_| {
            TarW::new()
                .file(".wh.d", "", 0o644)
                .file("d/x", "x", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert!(opaque(&s.at("d")), "d is not opaque");
            assert_file(&s.at("d/x"), "x");
        }),
    },
    Case {
        name: "file after a whiteout of the same name replaces the device",
        tar: |_| {
            TarW::new()
                .file(".wh.f", "", 0o644)
                .file("f", "new", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| assert_file(&s.at("f"), "new")),
    },
    Case {
        name: "opaque marker after siblings keeps them",
        tar: |_| {
            TarW::new()
                .dir("d", 0o755)
                .file("d/a", "a", 0o644)
                .file("d/.wh..wh..opq", "", 0o644)
                .file("d/b", "b", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert!(opaque(&s.at("d")), "d is not opaque");
            assert_file(&s.at("d/a"), "a");
            assert_file(&s.at("d/b"), "b");
            assert_absent(&s.at("d/.wh..wh..opq"));
        }),
    },
    Case {
        name: "opaque marker creates its missing directory",
        tar: |_| TarW::new().file("x/y/.wh..wh..opq", "", 0o644).finish(),
        expect: Expect::Ok(|s| {
            assert!(opaque(&s.at("x/y")), "x/y is not opaque");
            assert!(!opaque(&s.at("x")), "x is opaque");
        }),
    },
    Case {
        name: "opaque marker before its directory member survives the member",
        tar: |_| {
            TarW::new()
                .file("d/.wh..wh..opq", "", 0o644)
                .dir("d", 0o700)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert!(opaque(&s.at("d")), "d is not opaque");
            assert_eq!(mode(&s.at("d")), 0o700);
        }),
    },
    Case {
        name: "opaque marker through a symlinked parent stays inside",
        tar: |s| {
            let mut t = TarW::new();
            t.symlink("l", &s.abs("dir"))
                .file("l/.wh..wh..opq", "", 0o644);
            t.finish()
        },
        expect: Expect::Ok(|s| assert!(opaque(&s.inside("dir")), "inside dir is not opaque")),
    },
    Case {
        name: "reserved .wh..wh. names are ignored",
        tar: |_| {
            TarW::new()
                .dir("d", 0o755)
                .file("d/.wh..wh.plnk", "x", 0o644)
                .finish()
        },
        expect: Expect::Ok(|s| {
            assert_absent(&s.at("d/.wh..wh.plnk"));
            assert_absent(&s.at("d/plnk"));
            assert!(!opaque(&s.at("d")), "d is opaque");
        }),
    },
    Case {
        name: "whiteout with an empty name is refused",
        tar: |_| TarW::new().file("etc/.wh.", "", 0o644).finish(),
        expect: Expect::Err(|e| matches!(e, UnpackError::Escape { .. }), nothing),
    },
];

#[test]
fn whiteouts() {
    run_table(CASES);
}
