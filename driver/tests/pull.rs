//! Pulls from the real test registry (Debian's docker-registry on 127.0.0.1, images built
//! from Debian packages by scripts/testenv), as root, into real stores on disk.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use drover_driver::image::{
    Credentials, ImageError, ImageRef, ImageStore, NoProgress, Platform, PullReport, Puller,
    RegistryConfig, StoreLimits,
};
use support::proxy::{Fault, Proxy};
use support::testenv;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("drover-test-pull-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let root = dir.path().join("image");
        Fixture { _dir: dir, root }
    }

    fn store(&self) -> Arc<ImageStore> {
        self.store_with(StoreLimits::default())
    }

    fn store_with(&self, limits: StoreLimits) -> Arc<ImageStore> {
        Arc::new(ImageStore::open(&self.root, limits).unwrap())
    }
}

/// Registry settings with Docker Hub mirrored to `mirror` (so `redis:3.2` resolves the way
/// a user's job file says it, served by the local registry).
fn config(mirror: &str) -> RegistryConfig {
    let mut c = RegistryConfig {
        docker_config: None,
        retries: 3,
        ..Default::default()
    };
    c.mirrors
        .insert("docker.io".into(), vec![mirror.to_string()]);
    c
}

async fn pull(
    store: &Arc<ImageStore>,
    cfg: RegistryConfig,
    image: &str,
) -> Result<PullReport, ImageError> {
    pull_as(store, cfg, image, None).await
}

async fn pull_as(
    store: &Arc<ImageStore>,
    cfg: RegistryConfig,
    image: &str,
    creds: Option<&Credentials>,
) -> Result<PullReport, ImageError> {
    Puller::new(store.clone(), cfg)
        .pull(
            &ImageRef::parse(image).unwrap(),
            creds,
            Arc::new(NoProgress),
        )
        .await
}

fn layer_dirs(store: &ImageStore) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(store.root().join("layers/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn tmp_entries(store: &ImageStore) -> usize {
    std::fs::read_dir(store.root().join("tmp")).unwrap().count()
}

/// Every layer in the store is complete (has its record) and nothing half-made is left.
fn assert_store_consistent(store: &ImageStore) {
    for dir in layer_dirs(store) {
        assert!(
            dir.join("layer.json").is_file(),
            "{} is incomplete",
            dir.display()
        );
    }
    assert_eq!(tmp_entries(store), 0, "work left in tmp/");
}

#[tokio::test]
async fn pulls_through_a_mirror_and_a_warm_pull_fetches_no_blob() {
    let env = testenv();
    let proxy = Proxy::start(&env.registry, Fault::None);
    let fx = Fixture::new();
    let store = fx.store();

    let report = pull(&store, config(&proxy.addr), "busybox:latest")
        .await
        .unwrap();
    assert_eq!(report.fetched.len(), 1);
    let record = &report.record;
    assert_eq!(record.config.config.cmd, Some(vec!["sh".to_string()]));
    let fs = store.layer_fs(&record.layers[0].diff_id);
    let busybox = std::fs::metadata(fs.join("bin/busybox")).unwrap();
    assert!(busybox.permissions().mode() & 0o111 != 0);
    let sh = std::fs::read_link(fs.join("bin/sh")).unwrap();
    assert!(sh.to_string_lossy().contains("busybox"), "{}", sh.display());
    // The store is private: setuid files in layers must be out of host users' reach.
    assert_eq!(
        std::fs::metadata(store.root())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let listed: Vec<String> = store.list().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(listed, vec!["docker.io/library/busybox:latest".to_string()]);

    proxy.clear();
    let warm = pull(&store, config(&proxy.addr), "busybox:latest")
        .await
        .unwrap();
    assert!(warm.fetched.is_empty());
    assert_eq!(warm.cached.len(), 1);
    assert_eq!(
        proxy.all_blob_gets(),
        0,
        "a warm pull requested blobs: {:?}",
        proxy.requests()
    );
    assert_eq!(warm.record.manifest_digest, record.manifest_digest);

    // The same image by digest, from the registry by its own name (no mirror).
    let by_digest = format!(
        "{}/library/busybox@{}",
        env.registry, record.manifest_digest
    );
    let r = pull(&store, config(&proxy.addr), &by_digest).await.unwrap();
    assert_eq!(r.record.manifest_digest, record.manifest_digest);
    assert!(r.fetched.is_empty());
    assert_store_consistent(&store);
}

#[tokio::test]
async fn redis_versions_share_layers_and_keep_their_config() {
    let env = testenv();
    let proxy = Proxy::start(&env.registry, Fault::None);
    let fx = Fixture::new();
    let store = fx.store();
    let old = pull(&store, config(&proxy.addr), "redis:3.2")
        .await
        .unwrap();
    assert!(old.record.layers.len() >= 3, "redis is multi-layer");
    let c = &old.record.config.config;
    assert_eq!(c.cmd.as_ref().unwrap()[0], "redis-server");
    assert!(c.entrypoint.as_ref().unwrap()[0].contains("docker-entrypoint.sh"));
    assert_eq!(c.working_dir.as_deref(), Some("/data"));
    assert!(c.exposed_ports.as_ref().unwrap().contains_key("6379/tcp"));

    proxy.clear();
    let new = pull(&store, config(&proxy.addr), "redis:4.0")
        .await
        .unwrap();
    assert_ne!(new.record.manifest_digest, old.record.manifest_digest);
    assert!(!new.cached.is_empty(), "4.0 shares base layers with 3.2");
    assert!(!new.fetched.is_empty());
    // Only the layers 3.2 lacked crossed the wire.
    assert_eq!(proxy.blob_gets(&new.cached), 0);
    assert_eq!(proxy.blob_gets(&new.fetched), new.fetched.len());
    // The shared layers are one directory on disk: 3.2's plus 4.0's new ones.
    assert_eq!(
        layer_dirs(&store).len(),
        old.record.layers.len() + new.fetched.len()
    );
    assert_store_consistent(&store);
}

/// Mounts the layers as a task's rootfs would be (overlay, top layer first) and checks
/// the merged tree against what scripts/testenv says a correct unpack shows.
#[tokio::test]
async fn layers_unpack_to_overlay_form_that_merges_correctly() {
    let env = testenv();
    let fx = Fixture::new();
    let store = fx.store();
    let report = pull(
        &store,
        config(&env.registry),
        &format!("{}/drover-test/layers:latest", env.registry),
    )
    .await
    .unwrap();
    let lower: Vec<String> = report
        .record
        .layers
        .iter()
        .rev()
        .map(|l| store.layer_fs(&l.diff_id).display().to_string())
        .collect();
    let mnt = tempfile::Builder::new()
        .prefix("drover-test-ovl-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let options = std::ffi::CString::new(format!("lowerdir={}", lower.join(":"))).unwrap();
    rustix::mount::mount(
        "overlay",
        mnt.path(),
        "overlay",
        rustix::mount::MountFlags::RDONLY,
        options.as_c_str(),
    )
    .expect("overlay mount of the pulled layers");
    let result = std::panic::catch_unwind(|| check_tree(mnt.path()));
    rustix::mount::unmount(mnt.path(), rustix::mount::UnmountFlags::DETACH).unwrap();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn check_tree(root: &Path) {
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/testenv/layers-expected.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut inodes: BTreeMap<String, u64> = BTreeMap::new();
    for (path, want) in expected["entries"].as_object().unwrap() {
        let p = root.join(path);
        let meta = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{path}: {e}"));
        let kind = want["type"].as_str().unwrap();
        let ft = meta.file_type();
        let ok = match kind {
            "dir" => ft.is_dir(),
            "file" => ft.is_file(),
            "symlink" => ft.is_symlink(),
            "char" => ft.is_char_device(),
            "block" => ft.is_block_device(),
            "fifo" => ft.is_fifo(),
            other => panic!("unknown type {other}"),
        };
        assert!(ok, "{path}: expected {kind}, found {ft:?}");
        if kind != "symlink" {
            if let Some(mode) = want["mode"].as_str() {
                let mode = u32::from_str_radix(mode, 8).unwrap();
                assert_eq!(meta.mode() & 0o7777, mode, "{path}: mode");
            }
        }
        for (key, actual) in [
            ("uid", meta.uid() as u64),
            ("gid", meta.gid() as u64),
            ("mtime", meta.mtime() as u64),
        ] {
            if let Some(v) = want[key].as_u64() {
                assert_eq!(actual, v, "{path}: {key}");
            }
        }
        if let Some(target) = want["target"].as_str() {
            assert_eq!(
                std::fs::read_link(&p).unwrap().to_string_lossy(),
                target,
                "{path}: link target"
            );
        }
        if let Some(content) = want["content"].as_str() {
            assert_eq!(
                std::fs::read_to_string(&p).unwrap(),
                content,
                "{path}: content"
            );
        }
        if let (Some(major), Some(minor)) = (want["major"].as_u64(), want["minor"].as_u64()) {
            let rdev = meta.rdev();
            assert_eq!(
                (libc::major(rdev) as u64, libc::minor(rdev) as u64),
                (major, minor),
                "{path}: device"
            );
        }
        if let Some(group) = want["link_group"].as_str() {
            let ino = *inodes.entry(group.to_string()).or_insert(meta.ino());
            assert_eq!(
                meta.ino(),
                ino,
                "{path}: not the same inode as its link group"
            );
        }
        if let Some(xattrs) = want["xattrs"].as_object() {
            for (name, value) in xattrs {
                let mut buf = vec![0u8; 256];
                let n = rustix::fs::lgetxattr(&p, name.as_str(), &mut buf)
                    .unwrap_or_else(|e| panic!("{path}: xattr {name}: {e}"));
                let value = value.as_str().unwrap();
                let want: Vec<u8> = match value.strip_prefix("hex:") {
                    Some(h) => hex_decode(h),
                    None => value.as_bytes().to_vec(),
                };
                assert_eq!(&buf[..n], &want[..], "{path}: xattr {name}");
            }
        }
    }
    for absent in expected["absent"].as_array().unwrap() {
        let path = absent.as_str().unwrap();
        assert!(
            std::fs::symlink_metadata(root.join(path)).is_err(),
            "{path} should not be visible"
        );
    }
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn zstd_uncompressed_and_docker_v2_images_unpack_alike() {
    let env = testenv();
    let fx = Fixture::new();
    let store = fx.store();
    let mut sizes = Vec::new();
    for name in [
        "drover-test/zstd:latest",
        "drover-test/plain:latest",
        "drover-test/docker-v2:latest",
    ] {
        let r = pull(
            &store,
            config(&env.registry),
            &format!("{}/{name}", env.registry),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let fs = store.layer_fs(&r.record.layers[0].diff_id);
        assert!(fs.join("bin/busybox").is_file(), "{name}");
        sizes.push((
            name,
            r.record.manifest_media_type.clone(),
            r.record.layers[0].media_type.clone(),
        ));
    }
    assert!(sizes[0].2.contains("zstd"), "{sizes:?}");
    assert!(sizes[1].2.ends_with(".tar"), "{sizes:?}");
    assert!(
        sizes[2].1.contains("docker.distribution.manifest.v2"),
        "{sizes:?}"
    );
    assert_store_consistent(&store);
}

#[tokio::test]
async fn multi_platform_index_picks_the_platform_and_skips_attestations() {
    let env = testenv();
    let fx = Fixture::new();
    let store = fx.store();
    let image = format!("{}/drover-test/multi:latest", env.registry);
    for (platform, want) in [("linux/amd64", "amd64"), ("linux/arm64/v8", "arm64")] {
        let mut cfg = config(&env.registry);
        cfg.platform = Platform::parse(platform).unwrap();
        let r = pull(&store, cfg, &image).await.unwrap();
        assert!(r.record.index_digest.is_some());
        let top = r.record.layers.last().unwrap();
        let text = std::fs::read_to_string(store.layer_fs(&top.diff_id).join("platform"))
            .or_else(|_| {
                r.record
                    .layers
                    .iter()
                    .find_map(|l| {
                        std::fs::read_to_string(store.layer_fs(&l.diff_id).join("platform")).ok()
                    })
                    .ok_or(())
            })
            .unwrap();
        assert_eq!(text.trim(), want, "{platform}");
    }
    let mut cfg = config(&env.registry);
    cfg.platform = Platform::parse("linux/s390x").unwrap();
    let err = pull(&store, cfg, &image).await.unwrap_err().to_string();
    assert!(
        err.contains("linux/s390x") && err.contains("linux/amd64"),
        "{err}"
    );
    assert!(
        !err.contains("unknown"),
        "attestation entries are not platforms: {err}"
    );
}

#[tokio::test]
async fn missing_images_tags_and_registries_are_named_in_errors() {
    let env = testenv();
    let fx = Fixture::new();
    let store = fx.store();
    let reg = &env.registry;
    let cases = [
        (
            format!("{reg}/drover-test/nope:latest"),
            vec!["not found", "drover-test/nope", reg.as_str()],
        ),
        (
            format!("{reg}/library/busybox:no-such-tag"),
            vec!["not found", "busybox:no-such-tag", reg.as_str()],
        ),
        (
            format!("{reg}/library/busybox@sha256:{}", "0".repeat(64)),
            vec!["not found", "library/busybox@sha256:000", reg.as_str()],
        ),
        (
            "127.0.0.1:1/library/busybox:latest".to_string(),
            vec!["unreachable", "127.0.0.1:1", "busybox"],
        ),
    ];
    for (image, wants) in cases {
        let err = pull(&store, config(reg), &image).await.unwrap_err();
        let text = err.to_string();
        for want in wants {
            assert!(text.contains(want), "{image}: {text:?} lacks {want:?}");
        }
    }
    // A mirror that is down is skipped; the registry behind it answers.
    let mut cfg = config("127.0.0.1:1");
    cfg.mirrors.get_mut("docker.io").unwrap().push(reg.clone());
    pull(&store, cfg, "busybox:latest").await.unwrap();
    assert_store_consistent(&store);
}

#[tokio::test]
async fn basic_auth_from_the_job_or_docker_config_and_refusals() {
    let env = testenv();
    let fx = Fixture::new();
    let store = fx.store();
    let image = format!("{}/private/busybox:latest", env.auth_registry);
    let good = Credentials {
        username: env.auth_user.clone(),
        password: env.auth_pass.clone(),
    };
    let bad = Credentials {
        username: env.auth_user.clone(),
        password: "wrong".into(),
    };

    let err = pull(&store, config(&env.registry), &image)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImageError::AuthRefused { .. }),
        "anonymous: {err}"
    );
    let err = pull_as(&store, config(&env.registry), &image, Some(&bad))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImageError::AuthRefused { .. }),
        "wrong password: {err}"
    );
    assert!(err.to_string().contains(&env.auth_registry), "{err}");
    pull_as(&store, config(&env.registry), &image, Some(&good))
        .await
        .unwrap();

    // The same credentials from a Docker config file, as `docker login` writes it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", good.username, good.password));
    std::fs::write(
        &path,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            env.auth_registry
        ),
    )
    .unwrap();
    let fresh = Fixture::new();
    let mut cfg = config(&env.registry);
    cfg.docker_config = Some(path);
    let r = pull(&fresh.store(), cfg, &image).await.unwrap();
    assert_eq!(r.fetched.len(), 1);
}

#[tokio::test]
async fn a_connection_reset_mid_blob_resumes_with_range() {
    let env = testenv();
    let proxy = Proxy::start(
        &env.registry,
        Fault::ResetBlobAfter {
            bytes: 1 << 20,
            times: 3,
        },
    );
    let fx = Fixture::new();
    let store = fx.store();
    let r = pull(&store, config(&proxy.addr), "redis:3.2")
        .await
        .unwrap();
    let resumed: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|q| q.range.as_deref().is_some_and(|r| r != "bytes=0-"))
        .collect();
    assert!(
        !resumed.is_empty(),
        "no resumed request: {:?}",
        proxy.requests()
    );
    // Each resume starts where the reset left the client (bytes in flight are lost with
    // the RST, so not exactly 1 MiB in), never from zero again.
    for q in &resumed {
        let offset: u64 = q.range.as_deref().unwrap()["bytes=".len()..]
            .trim_end_matches('-')
            .parse()
            .unwrap();
        assert!(offset > 0, "{q:?}");
    }
    assert!(r.record.layers.iter().all(|l| store.has_layer(&l.diff_id)));
    assert_store_consistent(&store);
}

#[tokio::test]
async fn downloads_that_keep_failing_or_corrupt_leave_nothing_behind() {
    let env = testenv();
    let fx = Fixture::new();
    let store = fx.store();

    let proxy = Proxy::start(
        &env.registry,
        Fault::ResetBlobAfter {
            bytes: 4096,
            times: 1000,
        },
    );
    let mut cfg = config(&proxy.addr);
    cfg.retries = 2;
    let err = pull(&store, cfg, "redis:3.2").await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, ImageError::LayerDownload { attempts: 3, .. }),
        "{text}"
    );
    assert!(
        text.contains("redis:3.2") && text.contains("sha256:") && text.contains(&proxy.addr),
        "{text}"
    );

    proxy.set_fault(Fault::CorruptBlob { times: 1000 });
    let err = pull(&store, config(&proxy.addr), "redis:3.2")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImageError::LayerDigestMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("digest mismatch"), "{err}");

    assert!(
        store.list().unwrap().is_empty(),
        "a failed pull recorded an image"
    );
    assert_store_consistent(&store);
    // Whatever did arrive intact is reused; the rest is fetched cleanly.
    proxy.set_fault(Fault::None);
    pull(&store, config(&proxy.addr), "redis:3.2")
        .await
        .unwrap();
    assert_store_consistent(&store);
}

#[tokio::test]
async fn concurrent_pulls_of_one_image_fetch_each_layer_once() {
    let env = testenv();
    let proxy = Proxy::start(&env.registry, Fault::None);
    let fx = Fixture::new();
    // Two stores on one root: the locking is on disk, as between two processes.
    let (a, b) = (fx.store(), fx.store());
    let image = format!("{}/drover-test/big:latest", proxy.addr);
    let (ra, rb) = tokio::join!(
        pull(&a, config(&proxy.addr), &image),
        pull(&b, config(&proxy.addr), &image)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let layers: Vec<String> = ra.record.layers.iter().map(|l| l.blob.clone()).collect();
    assert_eq!(layers.len(), 5);
    assert_eq!(
        ra.fetched.len() + rb.fetched.len(),
        5,
        "a: {:?} b: {:?}",
        ra.fetched,
        rb.fetched
    );
    assert_eq!(proxy.blob_gets(&layers), 5);
    assert_store_consistent(&a);
}

#[tokio::test]
async fn a_full_disk_is_a_clear_error_and_leaves_no_partial_layer() {
    let env = testenv();
    let dir = tempfile::Builder::new()
        .prefix("drover-test-full-")
        .tempdir_in("/var/tmp")
        .unwrap();
    rustix::mount::mount(
        "tmpfs",
        dir.path(),
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        Some(c"size=24m"),
    )
    .unwrap();
    // Unmounted however the test ends (a panic included), before the dir is removed.
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = rustix::mount::unmount(self.0, rustix::mount::UnmountFlags::DETACH);
        }
    }
    let mounted = Unmount(dir.path());
    let result = async {
        let store =
            Arc::new(ImageStore::open(dir.path().join("image"), StoreLimits::default()).unwrap());
        let image = format!("{}/drover-test/big:latest", env.registry);
        let err = pull(&store, config(&env.registry), &image)
            .await
            .unwrap_err();
        (store, err)
    }
    .await;
    let (store, err) = result;
    let text = format!("{err}");
    let consistent = std::panic::catch_unwind(|| assert_store_consistent(&store));
    drop(store);
    drop(mounted);
    assert!(text.contains("No space left on device"), "{text}");
    assert!(text.contains("drover-test/big"), "{text}");
    consistent.unwrap();
}

#[tokio::test]
async fn decompression_bombs_stop_at_the_layer_limit() {
    let env = testenv();
    let fx = Fixture::new();
    let store = fx.store_with(StoreLimits {
        max_layer_bytes: 256 << 20,
        max_image_bytes: 1 << 30,
    });
    let err = pull(
        &store,
        config(&env.registry),
        &format!("{}/drover-test/hostile-bomb:latest", env.registry),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ImageError::Unpack { .. }), "{text}");
    assert!(
        text.contains("hostile-bomb") && text.contains("268435456"),
        "{text}"
    );
    assert_store_consistent(&store);
}

/// Hostile layers from the registry: each is refused or lands inside its layer, and the
/// host paths they aim at stay untouched.
#[tokio::test]
async fn hostile_layers_never_write_outside_the_store() {
    let env = testenv();
    let fx = Fixture::new();
    let store = fx.store();
    let probes = [
        "/tmp/drover-escape-dotdot",
        "/tmp/drover-escape-abs",
        "/tmp/drover-escape-symlink",
        "/tmp/drover-escape-root",
        "/tmp/drover-escape-root/etc/x",
    ];
    for p in probes {
        let _ = std::fs::remove_file(p);
    }
    let passwd_before = std::fs::metadata("/etc/passwd").unwrap();
    for name in [
        "hostile-dotdot",
        "hostile-abs",
        "hostile-symlink-write",
        "hostile-hardlink-out",
        "hostile-root-symlink",
    ] {
        let image = format!("{}/drover-test/{name}:latest", env.registry);
        let outcome = pull(&store, config(&env.registry), &image).await;
        for p in probes {
            assert!(std::fs::symlink_metadata(p).is_err(), "{name} created {p}");
        }
        if let Err(e) = &outcome {
            assert!(matches!(e, ImageError::Unpack { .. }), "{name}: {e}");
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
    }
    let passwd_after = std::fs::metadata("/etc/passwd").unwrap();
    assert_eq!(
        passwd_before.nlink(),
        passwd_after.nlink(),
        "/etc/passwd gained a hard link"
    );
    assert_eq!(passwd_before.mode(), passwd_after.mode());
    assert_store_consistent(&store);
}
