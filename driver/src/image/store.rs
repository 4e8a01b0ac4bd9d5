//! The content-addressed image store under the data dir.
//!
//! ```text
//! <root>/                 0700: setuid files in layers stay out of host users' reach
//!   blobs/sha256/<hex>    manifests, indexes and configs, exactly as fetched
//!   layers/sha256/<hex>/  one unpacked layer per diff_id: fs/ (an overlay lowerdir) + layer.json
//!   layers/by-blob/sha256/<hex>   compressed blob digest -> diff_id, so a pull knows a
//!                         layer is present without fetching it
//!   images/sha256/<hex>.json      image record by manifest digest
//!   refs.json             name:tag / name@digest -> manifest digest
//!   leases/<holder>       manifest digest a task holds (gc keeps it)
//!   tmp/                  work in progress; renamed into place only when complete
//!   locks/                flock files: one per layer, one for gc
//! ```
//!
//! Invariant: anything under `layers/sha256/` and `images/` is complete and verified,
//! because it only ever arrives by `rename` from `tmp/`, and leaves by `rename` to `tmp/`
//! before it is deleted. Compressed layer blobs are not kept: the unpacked layer is the
//! durable form, which saves writing every layer twice.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{flock, FlockOperation};
use serde::{Deserialize, Serialize};

use super::error::ImageError;
use super::manifest::ImageConfig;
use super::reference::ImageRef;

/// Size limits that stop decompression bombs and runaway images.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    pub max_layer_bytes: u64,
    pub max_image_bytes: u64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            max_layer_bytes: 16 << 30,
            max_image_bytes: 32 << 30,
        }
    }
}

/// One layer of an image: its compressed blob and its unpacked identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub blob: String,
    pub media_type: String,
    /// Compressed size, as the manifest declares it.
    pub size: u64,
    pub diff_id: String,
}

/// What the store knows of an image, by manifest digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub manifest_digest: String,
    pub manifest_media_type: String,
    /// The index the manifest was picked from, when the tag named a multi-platform image.
    pub index_digest: Option<String>,
    pub config_digest: String,
    pub platform: String,
    pub config: ImageConfig,
    pub layers: Vec<LayerRecord>,
    /// Bytes of unpacked layer content (tar stream sizes).
    pub unpacked_size: u64,
    /// Seconds since the epoch.
    pub pulled_at: u64,
}

/// What `layer.json` records of an unpacked layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    pub diff_id: String,
    pub blob: String,
    pub tar_bytes: u64,
    pub entries: u64,
}

/// What a garbage collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub images: Vec<String>,
    pub layers: Vec<String>,
    pub blobs: Vec<String>,
    pub tmp: usize,
}

pub struct ImageStore {
    root: PathBuf,
    pub limits: StoreLimits,
}

/// A held flock; released on drop.
pub struct Lock(#[allow(dead_code)] File);

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl ImageStore {
    /// Opens (creating if needed) the store at `root` and clears work left by processes
    /// that died mid-pull.
    pub fn open(root: impl Into<PathBuf>, limits: StoreLimits) -> Result<Self, ImageError> {
        let root = root.into();
        let store = ImageStore { root, limits };
        for dir in [
            "",
            "blobs/sha256",
            "layers/sha256",
            "layers/by-blob/sha256",
            "images/sha256",
            "leases",
            "tmp",
            "locks",
        ] {
            let path = store.root.join(dir);
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&path)
                .map_err(ImageError::store("creating", &path))?;
        }
        // The root must stay private even if it existed with looser permissions.
        fs::set_permissions(&store.root, fs::Permissions::from_mode(0o700))
            .map_err(ImageError::store("setting permissions on", &store.root))?;
        store.clean_tmp(false)?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn hex(digest: &str) -> &str {
        digest.split_once(':').map_or(digest, |(_, h)| h)
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(Self::hex(digest))
    }

    pub fn layer_dir(&self, diff_id: &str) -> PathBuf {
        self.root.join("layers/sha256").join(Self::hex(diff_id))
    }

    /// The unpacked tree of a layer: what an overlay mount takes as a lowerdir.
    pub fn layer_fs(&self, diff_id: &str) -> PathBuf {
        self.layer_dir(diff_id).join("fs")
    }

    fn by_blob_path(&self, blob: &str) -> PathBuf {
        self.root
            .join("layers/by-blob/sha256")
            .join(Self::hex(blob))
    }

    fn image_path(&self, manifest_digest: &str) -> PathBuf {
        self.root
            .join("images/sha256")
            .join(format!("{}.json", Self::hex(manifest_digest)))
    }

    fn refs_path(&self) -> PathBuf {
        self.root.join("refs.json")
    }

    pub fn has_layer(&self, diff_id: &str) -> bool {
        self.layer_dir(diff_id).join("layer.json").is_file()
    }

    /// The diff_id of the layer unpacked from `blob`, if that layer is present.
    pub fn layer_for_blob(&self, blob: &str) -> Option<String> {
        let diff_id = fs::read_to_string(self.by_blob_path(blob)).ok()?;
        let diff_id = diff_id.trim().to_string();
        self.has_layer(&diff_id).then_some(diff_id)
    }

    pub fn read_blob(&self, digest: &str) -> Option<Vec<u8>> {
        fs::read(self.blob_path(digest)).ok()
    }

    pub fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), ImageError> {
        self.write_atomic(&self.blob_path(digest), bytes)
    }

    /// Writes a file whole or not at all: temp file in `tmp/`, then rename.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
        self.write_whole(path, bytes, true)
    }

    /// Whole or not at all; `durable` also syncs the data first (records and refs). A
    /// lease needs no sync: after a crash its task is gone too.
    fn write_whole(&self, path: &Path, bytes: &[u8], durable: bool) -> Result<(), ImageError> {
        let tmp = self.tmp_path("file");
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            if durable {
                f.sync_data()?;
            }
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(ImageError::store("writing", path))
    }

    /// A fresh path under `tmp/` tagged with our pid, so `clean_tmp` can tell whose it is.
    pub fn tmp_path(&self, kind: &str) -> PathBuf {
        let n = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{}-{n}-{kind}", std::process::id()))
    }

    /// Removes work in progress of processes that are gone (all of it when `all`, which gc
    /// uses under its exclusive lock).
    fn clean_tmp(&self, all: bool) -> Result<usize, ImageError> {
        let dir = self.root.join("tmp");
        let mut removed = 0;
        for entry in fs::read_dir(&dir).map_err(ImageError::store("listing", &dir))? {
            let entry = entry.map_err(ImageError::store("listing", &dir))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
            let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if all || !alive {
                remove_any(&entry.path()).map_err(ImageError::store("removing", entry.path()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Takes an flock on `locks/<name>` (blocking). Different open files conflict even
    /// within one process, so this serialises threads and processes alike.
    pub fn lock(&self, name: &str, exclusive: bool) -> Result<Lock, ImageError> {
        let path = self.root.join("locks").join(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ImageError::store("opening lock", &path))?;
        let op = if exclusive {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::LockShared
        };
        flock(&file, op).map_err(|e| ImageError::Store {
            op: "locking",
            path: path.clone(),
            source: e.into(),
        })?;
        Ok(Lock(file))
    }

    /// Moves a completed, verified layer from `tmp` into place and indexes it by blob.
    pub fn commit_layer(&self, tmp: &Path, info: &LayerInfo) -> Result<(), ImageError> {
        let json = serde_json::to_vec_pretty(info).expect("layer info serialises");
        let meta = tmp.join("layer.json");
        fs::write(&meta, json).map_err(ImageError::store("writing", &meta))?;
        let dest = self.layer_dir(&info.diff_id);
        if dest.exists() {
            // Another pull of the same diff_id from a different blob got here first.
            remove_any(tmp).map_err(ImageError::store("removing", tmp))?;
        } else {
            fs::rename(tmp, &dest).map_err(ImageError::store("moving layer into", &dest))?;
        }
        self.index_blob(&info.blob, &info.diff_id)
    }

    /// Records that `blob` unpacks to `diff_id` (also for layers already present).
    pub fn index_blob(&self, blob: &str, diff_id: &str) -> Result<(), ImageError> {
        let path = self.by_blob_path(blob);
        if fs::read_to_string(&path).is_ok_and(|d| d.trim() == diff_id) {
            return Ok(());
        }
        self.write_atomic(&path, diff_id.as_bytes())
    }

    pub fn put_image(&self, record: &ImageRecord) -> Result<(), ImageError> {
        let json = serde_json::to_vec_pretty(record).expect("image record serialises");
        self.write_atomic(&self.image_path(&record.manifest_digest), &json)
    }

    pub fn image(&self, manifest_digest: &str) -> Option<ImageRecord> {
        let bytes = fs::read(self.image_path(manifest_digest)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn read_refs(&self) -> Result<BTreeMap<String, String>, ImageError> {
        let path = self.refs_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ImageError::Store {
                op: "parsing",
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(ImageError::store("reading", path)(e)),
        }
    }

    /// Read-modify-write of refs.json under its own lock.
    fn update_refs(&self, f: impl FnOnce(&mut BTreeMap<String, String>)) -> Result<(), ImageError> {
        let _lock = self.lock("refs", true)?;
        let mut refs = self.read_refs()?;
        f(&mut refs);
        let json = serde_json::to_vec_pretty(&refs).expect("refs serialise");
        self.write_atomic(&self.refs_path(), &json)
    }

    /// Points `image` (its tag or digest form) at a stored manifest.
    pub fn set_ref(&self, image: &ImageRef, manifest_digest: &str) -> Result<(), ImageError> {
        let key = image.to_string();
        let digest = manifest_digest.to_string();
        self.update_refs(|refs| {
            refs.insert(key, digest);
        })
    }

    /// Finds a stored image by reference (`redis:3.2`, full name, or a digest), without
    /// asking any registry.
    pub fn resolve(&self, image: &ImageRef) -> Result<Option<ImageRecord>, ImageError> {
        if let Some(d) = &image.digest {
            if let Some(r) = self.image(d) {
                return Ok(Some(r));
            }
        }
        let refs = self.read_refs()?;
        Ok(refs.get(&image.to_string()).and_then(|d| self.image(d)))
    }

    /// Every reference with its image record, sorted by name.
    pub fn list(&self) -> Result<Vec<(String, ImageRecord)>, ImageError> {
        let refs = self.read_refs()?;
        Ok(refs
            .into_iter()
            .filter_map(|(name, digest)| self.image(&digest).map(|r| (name, r)))
            .collect())
    }

    /// Removes a reference; returns the manifest digest it pointed at. The image's
    /// content goes at the next gc if nothing else references it.
    pub fn remove_ref(&self, image: &ImageRef) -> Result<String, ImageError> {
        let key = image.to_string();
        let mut removed = None;
        self.update_refs(|refs| removed = refs.remove(&key))?;
        removed.ok_or_else(|| ImageError::NotPresent(image.familiar()))
    }

    /// Records that `holder` (a task) uses an image, so gc keeps it.
    pub fn lease(&self, holder: &str, manifest_digest: &str) -> Result<(), ImageError> {
        let path = self.root.join("leases").join(sanitise(holder));
        self.write_whole(&path, manifest_digest.as_bytes(), false)
    }

    pub fn release(&self, holder: &str) -> Result<(), ImageError> {
        let path = self.root.join("leases").join(sanitise(holder));
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(ImageError::store("removing", path)(e))
            }
            _ => Ok(()),
        }
    }

    /// Holders of leases on `manifest_digest`.
    pub fn leases_of(&self, manifest_digest: &str) -> Result<Vec<String>, ImageError> {
        Ok(self
            .leases()?
            .into_iter()
            .filter(|(_, d)| d == manifest_digest)
            .map(|(h, _)| h)
            .collect())
    }

    fn leases(&self) -> Result<Vec<(String, String)>, ImageError> {
        let dir = self.root.join("leases");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(ImageError::store("listing", &dir))? {
            let entry = entry.map_err(ImageError::store("listing", &dir))?;
            if let Ok(d) = fs::read_to_string(entry.path()) {
                out.push((
                    entry.file_name().to_string_lossy().to_string(),
                    d.trim().to_string(),
                ));
            }
        }
        Ok(out)
    }

    /// Removes images no reference or lease names, layers and blobs no kept image uses,
    /// and abandoned work in `tmp/`. Holds the gc lock exclusively, so no pull (they hold
    /// it shared) is between fetching a layer and recording its image.
    pub fn gc(&self) -> Result<GcReport, ImageError> {
        let _lock = self.lock("gc", true)?;
        let mut report = GcReport {
            tmp: self.clean_tmp(true)?,
            ..Default::default()
        };
        let mut live: BTreeSet<String> = self.read_refs()?.into_values().collect();
        live.extend(self.leases()?.into_iter().map(|(_, d)| d));

        let mut live_layers = BTreeSet::new();
        let mut live_blobs = BTreeSet::new();
        let images_dir = self.root.join("images/sha256");
        for entry in fs::read_dir(&images_dir).map_err(ImageError::store("listing", &images_dir))? {
            let entry = entry.map_err(ImageError::store("listing", &images_dir))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let digest = format!("sha256:{}", name.trim_end_matches(".json"));
            match self.image(&digest) {
                Some(record) if live.contains(&digest) => {
                    live_blobs.insert(record.manifest_digest.clone());
                    live_blobs.insert(record.config_digest.clone());
                    live_blobs.extend(record.index_digest.clone());
                    live_layers.extend(record.layers.iter().map(|l| l.diff_id.clone()));
                }
                _ => {
                    fs::remove_file(entry.path())
                        .map_err(ImageError::store("removing", entry.path()))?;
                    report.images.push(digest);
                }
            }
        }

        // The blob index goes before the layer, so it never points at a half-deleted layer.
        let by_blob = self.root.join("layers/by-blob/sha256");
        for entry in fs::read_dir(&by_blob).map_err(ImageError::store("listing", &by_blob))? {
            let entry = entry.map_err(ImageError::store("listing", &by_blob))?;
            let diff_id = fs::read_to_string(entry.path()).unwrap_or_default();
            if !live_layers.contains(diff_id.trim()) {
                fs::remove_file(entry.path())
                    .map_err(ImageError::store("removing", entry.path()))?;
            }
        }
        let layers = self.root.join("layers/sha256");
        for entry in fs::read_dir(&layers).map_err(ImageError::store("listing", &layers))? {
            let entry = entry.map_err(ImageError::store("listing", &layers))?;
            let diff_id = format!("sha256:{}", entry.file_name().to_string_lossy());
            if !live_layers.contains(&diff_id) {
                // Out of sight first, then delete: a crash mid-delete leaves only tmp work.
                let doomed = self.tmp_path("gc");
                fs::rename(entry.path(), &doomed)
                    .map_err(ImageError::store("moving", entry.path()))?;
                remove_any(&doomed).map_err(ImageError::store("removing", &doomed))?;
                report.layers.push(diff_id);
            }
        }
        let blobs = self.root.join("blobs/sha256");
        for entry in fs::read_dir(&blobs).map_err(ImageError::store("listing", &blobs))? {
            let entry = entry.map_err(ImageError::store("listing", &blobs))?;
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            if !live_blobs.contains(&digest) {
                fs::remove_file(entry.path())
                    .map_err(ImageError::store("removing", entry.path()))?;
                report.blobs.push(digest);
            }
        }
        Ok(report)
    }
}

/// Lease holders are task ids; keep them to one safe file name.
fn sanitise(holder: &str) -> String {
    holder
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Removes a file or a whole tree without following symlinks.
fn remove_any(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(manifest: &str, config: &str, diff_ids: &[&str]) -> ImageRecord {
        ImageRecord {
            manifest_digest: manifest.into(),
            manifest_media_type: super::super::manifest::OCI_MANIFEST.into(),
            index_digest: None,
            config_digest: config.into(),
            platform: "linux/amd64".into(),
            config: ImageConfig::default(),
            layers: diff_ids
                .iter()
                .map(|d| LayerRecord {
                    blob: format!("{d}b"),
                    media_type: String::new(),
                    size: 1,
                    diff_id: d.to_string(),
                })
                .collect(),
            unpacked_size: 0,
            pulled_at: 0,
        }
    }

    fn add_layer(store: &ImageStore, diff_id: &str) {
        let tmp = store.tmp_path("layer");
        fs::create_dir_all(tmp.join("fs/etc")).unwrap();
        store
            .commit_layer(
                &tmp,
                &LayerInfo {
                    diff_id: diff_id.into(),
                    blob: format!("{diff_id}b"),
                    tar_bytes: 0,
                    entries: 1,
                },
            )
            .unwrap();
    }

    #[test]
    fn gc_keeps_referenced_and_leased_images_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path().join("s"), StoreLimits::default()).unwrap();
        assert_eq!(
            fs::metadata(store.root()).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // Two images sharing layer a; a third only leased.
        for l in ["sha256:a", "sha256:b", "sha256:c", "sha256:d"] {
            add_layer(&store, l);
        }
        assert_eq!(
            store.layer_for_blob("sha256:ab").as_deref(),
            Some("sha256:a")
        );
        let one = record("sha256:m1", "sha256:c1", &["sha256:a", "sha256:b"]);
        let two = record("sha256:m2", "sha256:c2", &["sha256:a"]);
        let three = record("sha256:m3", "sha256:c3", &["sha256:c"]);
        for r in [&one, &two, &three] {
            store.put_image(r).unwrap();
            store.write_blob(&r.manifest_digest, b"m").unwrap();
            store.write_blob(&r.config_digest, b"c").unwrap();
        }
        store
            .set_ref(&ImageRef::parse("one:1").unwrap(), "sha256:m1")
            .unwrap();
        store
            .set_ref(&ImageRef::parse("two:1").unwrap(), "sha256:m2")
            .unwrap();
        store.lease("task-7", "sha256:m3").unwrap();

        let report = store.gc().unwrap();
        assert_eq!(report.layers, vec!["sha256:d".to_string()]);
        assert!(report.images.is_empty());
        assert!(store.has_layer("sha256:a") && store.has_layer("sha256:c"));

        // Dropping `one` frees b (a is still used by two); releasing the lease frees c.
        store
            .remove_ref(&ImageRef::parse("one:1").unwrap())
            .unwrap();
        store.release("task-7").unwrap();
        let report = store.gc().unwrap();
        assert_eq!(
            report.images,
            vec!["sha256:m1".to_string(), "sha256:m3".to_string()]
        );
        assert_eq!(
            report.layers,
            vec!["sha256:b".to_string(), "sha256:c".to_string()]
        );
        assert!(store.has_layer("sha256:a"));
        assert!(store.layer_for_blob("sha256:bb").is_none());
        assert!(store.read_blob("sha256:c1").is_none() && store.read_blob("sha256:c2").is_some());
        let names: Vec<String> = store.list().unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["docker.io/library/two:1".to_string()]);
        assert!(matches!(
            store.remove_ref(&ImageRef::parse("one:1").unwrap()),
            Err(ImageError::NotPresent(_))
        ));
    }

    #[test]
    fn open_clears_work_of_dead_processes_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("s");
        let store = ImageStore::open(&root, StoreLimits::default()).unwrap();
        let mine = store.tmp_path("layer");
        fs::create_dir_all(mine.join("fs")).unwrap();
        // pid 0 never names a live process (pids of dead processes look the same to us).
        let dead = root.join("tmp/0-1-layer");
        fs::create_dir_all(dead.join("fs/x")).unwrap();
        drop(store);
        let _store = ImageStore::open(&root, StoreLimits::default()).unwrap();
        assert!(mine.exists());
        assert!(!dead.exists());
    }
}
