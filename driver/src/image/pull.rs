//! Pulling an image: manifest (and platform) → config → layers fetched and unpacked in
//! parallel, each streamed download → digest → decompress → diff_id → unpack, with no
//! temporary copy. Layers already present cost no blob request; a layer being pulled by
//! someone else is waited for, not fetched twice.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::auth::Credentials;
use super::error::ImageError;
use super::manifest::{self, Document, ImageManifest};
use super::reference::ImageRef;
use super::registry::{RegistryConfig, Session};
use super::store::{ImageRecord, ImageStore, LayerInfo, LayerRecord, Lock};
use super::stream::{decompress, ChannelReader, HashingReader};
use super::unpack::{self, UnpackError};

/// Reports a pull's progress (the CLI draws bars; the agent emits task events).
pub trait PullProgress: Send + Sync {
    fn resolved(&self, _image: &ImageRef, _manifest_digest: &str, _layers: &[LayerRecord]) {}
    fn layer_bytes(&self, _blob: &str, _received: u64) {}
    fn layer_done(&self, _blob: &str, _cached: bool) {}
}

/// Progress nobody watches.
pub struct NoProgress;
impl PullProgress for NoProgress {}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullReport {
    pub image: ImageRef,
    pub record: ImageRecord,
    /// Blob digests of layers downloaded by this pull.
    pub fetched: Vec<String>,
    /// Blob digests of layers that were already in the store.
    pub cached: Vec<String>,
    /// Compressed bytes received (including bytes received again after a resume).
    pub bytes_fetched: u64,
}

pub struct Puller {
    store: Arc<ImageStore>,
    config: RegistryConfig,
}

/// Bounded chunk queue between the downloader and the unpacker: enough to ride out
/// jitter, small enough that memory stays flat whatever the layer size.
const CHANNEL_CHUNKS: usize = 64;

impl Puller {
    pub fn new(store: Arc<ImageStore>, config: RegistryConfig) -> Self {
        Puller { store, config }
    }

    pub fn store(&self) -> &Arc<ImageStore> {
        &self.store
    }

    /// The image from the store if it is complete there, else pulled (Nomad's docker
    /// driver does the same unless `force_pull` is set).
    pub async fn ensure(
        &self,
        image: &ImageRef,
        creds: Option<&Credentials>,
        progress: Arc<dyn PullProgress>,
    ) -> Result<ImageRecord, ImageError> {
        if let Some(record) = self.store.resolve(image)? {
            if record
                .layers
                .iter()
                .all(|l| self.store.has_layer(&l.diff_id))
            {
                return Ok(record);
            }
        }
        Ok(self.pull(image, creds, progress).await?.record)
    }

    pub async fn pull(
        &self,
        image: &ImageRef,
        creds: Option<&Credentials>,
        progress: Arc<dyn PullProgress>,
    ) -> Result<PullReport, ImageError> {
        // Shared: pulls run together, gc (exclusive) waits until none is mid-way.
        let _gc = blocking_lock(&self.store, "gc", false).await?;
        let creds = self.config.credentials(image, creds)?;
        let (session, fetched) = Session::open(&self.config, image, creds.as_ref()).await?;
        let session = Arc::new(session);
        let registry = session.host.clone();
        let bad = |detail: String| ImageError::BadManifest {
            image: image.familiar(),
            registry: registry.clone(),
            detail,
        };

        let (manifest, manifest_digest, manifest_bytes, index) = match fetched.document {
            Document::Image(m) => (m, fetched.digest, fetched.bytes, None),
            Document::Index(entries) => {
                let entry = manifest::select_platform(&entries, &self.config.platform).map_err(
                    |available| ImageError::NoMatchingPlatform {
                        image: image.familiar(),
                        platform: self.config.platform.to_string(),
                        available,
                    },
                )?;
                let inner = session.fetch_manifest_by_digest(&entry.digest).await?;
                let Document::Image(m) = inner.document else {
                    return Err(bad(format!(
                        "index entry {} is itself an index",
                        entry.digest
                    )));
                };
                (
                    m,
                    inner.digest,
                    inner.bytes,
                    Some((fetched.digest, fetched.bytes)),
                )
            }
        };

        let config_digest = manifest.config.digest.clone();
        let config_bytes = match self.store.read_blob(&config_digest) {
            Some(b) => b,
            None => fetch_small_blob(&session, &config_digest, manifest::MAX_CONFIG_SIZE).await?,
        };
        let config = manifest::parse_config(&config_bytes).map_err(bad)?;
        if config.diff_ids.len() != manifest.layers.len() {
            return Err(bad(format!(
                "manifest has {} layers but the config lists {} diff_ids",
                manifest.layers.len(),
                config.diff_ids.len()
            )));
        }
        let layers = layer_records(&manifest, &config.diff_ids).map_err(bad)?;
        progress.resolved(image, &manifest_digest, &layers);

        let limit = self
            .store
            .limits
            .max_layer_bytes
            .min(self.store.limits.max_image_bytes);
        let results: Vec<Result<LayerOutcome, ImageError>> =
            futures_util::stream::iter(layers.iter().cloned())
                .map(|layer| {
                    let job = LayerJob {
                        store: self.store.clone(),
                        session: session.clone(),
                        progress: progress.clone(),
                        retries: self.config.retries,
                        limit,
                        layer,
                    };
                    job.run()
                })
                .buffered(self.config.max_concurrent_layers.max(1))
                .collect()
                .await;

        let mut report = PullReport {
            image: image.clone(),
            record: ImageRecord {
                manifest_digest: manifest_digest.clone(),
                manifest_media_type: manifest.media_type.clone(),
                index_digest: index.as_ref().map(|(d, _)| d.clone()),
                config_digest: config_digest.clone(),
                platform: format!("{}/{}", config.os, config.architecture),
                config,
                layers: layers.clone(),
                unpacked_size: 0,
                pulled_at: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            },
            fetched: Vec::new(),
            cached: Vec::new(),
            bytes_fetched: 0,
        };
        for (layer, result) in layers.iter().zip(results) {
            let outcome = result?;
            report.record.unpacked_size += outcome.tar_bytes;
            report.bytes_fetched += outcome.received;
            if outcome.fetched {
                report.fetched.push(layer.blob.clone());
            } else {
                report.cached.push(layer.blob.clone());
            }
        }
        if report.record.unpacked_size > self.store.limits.max_image_bytes {
            return Err(ImageError::ImageTooLarge {
                image: image.familiar(),
                limit: self.store.limits.max_image_bytes,
            });
        }

        // Blobs, then the record, then the ref: a reader that finds the ref finds it all.
        let store = self.store.clone();
        let image_ref = image.clone();
        let record = report.record.clone();
        tokio::task::spawn_blocking(move || -> Result<(), ImageError> {
            if let Some((digest, bytes)) = &index {
                store.write_blob(digest, bytes)?;
            }
            store.write_blob(&record.manifest_digest, &manifest_bytes)?;
            store.write_blob(&record.config_digest, &config_bytes)?;
            store.put_image(&record)?;
            store.set_ref(&image_ref, &record.manifest_digest)
        })
        .await
        .expect("store writer panicked")?;
        Ok(report)
    }
}

fn layer_records(
    manifest: &ImageManifest,
    diff_ids: &[String],
) -> Result<Vec<LayerRecord>, String> {
    manifest
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(d, diff_id)| {
            super::reference::validate_digest(&d.digest)?;
            if !d.digest.starts_with("sha256:") || !diff_id.starts_with("sha256:") {
                return Err(format!("layer {} is not addressed by sha256", d.digest));
            }
            if d.media_type.contains("foreign") {
                return Err(format!("layer {} is a foreign (Windows) layer", d.digest));
            }
            Ok(LayerRecord {
                blob: d.digest.clone(),
                media_type: d.media_type.clone(),
                size: u64::try_from(d.size).unwrap_or(0),
                diff_id: diff_id.clone(),
            })
        })
        .collect()
}

async fn blocking_lock(
    store: &Arc<ImageStore>,
    name: &str,
    exclusive: bool,
) -> Result<Lock, ImageError> {
    let store = store.clone();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || store.lock(&name, exclusive))
        .await
        .expect("lock task panicked")
}

/// Fetches a small blob (an image config) whole, verifying its digest and size bound.
async fn fetch_small_blob(
    session: &Session,
    digest: &str,
    max: usize,
) -> Result<Vec<u8>, ImageError> {
    let (mut stream, _) = session.open_blob(digest, 0).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ImageError::Registry {
            image: session.image.familiar(),
            registry: session.host.clone(),
            detail: format!("reading config {digest}: {e}"),
        })?;
        out.extend_from_slice(&chunk);
        if out.len() > max {
            return Err(ImageError::BadManifest {
                image: session.image.familiar(),
                registry: session.host.clone(),
                detail: format!("config {digest} is larger than {max} bytes"),
            });
        }
    }
    let actual = format!("sha256:{}", hex::encode(Sha256::digest(&out)));
    if actual != digest {
        return Err(ImageError::LayerDigestMismatch {
            image: session.image.familiar(),
            layer: format!("config {digest}"),
            registry: session.host.clone(),
            expected: digest.to_string(),
            actual,
        });
    }
    Ok(out)
}

struct LayerOutcome {
    fetched: bool,
    received: u64,
    tar_bytes: u64,
}

struct LayerJob {
    store: Arc<ImageStore>,
    session: Arc<Session>,
    progress: Arc<dyn PullProgress>,
    retries: u32,
    limit: u64,
    layer: LayerRecord,
}

/// What the unpacking thread hands back.
struct Unpacked {
    blob_digest: String,
    diff_id: String,
    applied: Result<unpack::Applied, UnpackError>,
}

impl LayerJob {
    async fn run(self) -> Result<LayerOutcome, ImageError> {
        let hex = self.layer.diff_id.trim_start_matches("sha256:").to_string();
        let _lock = blocking_lock(&self.store, &format!("layer-{hex}"), true).await?;
        if self.store.has_layer(&self.layer.diff_id) {
            self.store
                .index_blob(&self.layer.blob, &self.layer.diff_id)?;
            self.progress.layer_done(&self.layer.blob, true);
            let tar_bytes = layer_tar_bytes(&self.store.layer_dir(&self.layer.diff_id));
            return Ok(LayerOutcome {
                fetched: false,
                received: 0,
                tar_bytes,
            });
        }
        let tmp = self.store.tmp_path("layer");
        let result = self.fetch_into(&tmp).await;
        if result.is_err() {
            let tmp = tmp.clone();
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(tmp)).await;
        }
        let outcome = result?;
        self.progress.layer_done(&self.layer.blob, false);
        Ok(outcome)
    }

    async fn fetch_into(&self, tmp: &Path) -> Result<LayerOutcome, ImageError> {
        let fs_dir = tmp.join("fs");
        std::fs::create_dir_all(&fs_dir).map_err(ImageError::store("creating", &fs_dir))?;
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let limits = unpack::Limits {
            max_layer_bytes: self.limit,
            ..Default::default()
        };
        let dest = fs_dir.clone();
        let unpacker = tokio::task::spawn_blocking(move || unpack_stream(rx, &dest, &limits));
        let fed = self.feed(tx).await;
        let unpacked = unpacker.await.expect("unpacker panicked");
        let received = fed?;
        let unpacked = unpacked.map_err(|e| self.store_error(&fs_dir, e))?;

        let image = self.session.image.familiar();
        let registry = self.session.host.clone();
        // A corrupt blob usually also fails to decompress; the digest says what happened.
        if unpacked.blob_digest != self.layer.blob {
            return Err(ImageError::LayerDigestMismatch {
                image,
                layer: self.layer.blob.clone(),
                registry,
                expected: self.layer.blob.clone(),
                actual: unpacked.blob_digest,
            });
        }
        let applied = unpacked.applied.map_err(|source| ImageError::Unpack {
            image: image.clone(),
            layer: self.layer.blob.clone(),
            registry,
            source: Box::new(source),
        })?;
        if unpacked.diff_id != self.layer.diff_id {
            return Err(ImageError::DiffIdMismatch {
                image,
                layer: self.layer.blob.clone(),
                expected: self.layer.diff_id.clone(),
                actual: unpacked.diff_id,
            });
        }
        let info = LayerInfo {
            diff_id: self.layer.diff_id.clone(),
            blob: self.layer.blob.clone(),
            tar_bytes: applied.tar_bytes,
            entries: applied.entries,
        };
        let store = self.store.clone();
        let tmp = tmp.to_path_buf();
        tokio::task::spawn_blocking(move || store.commit_layer(&tmp, &info))
            .await
            .expect("commit panicked")?;
        Ok(LayerOutcome {
            fetched: true,
            received,
            tar_bytes: applied.tar_bytes,
        })
    }

    fn store_error(&self, path: &Path, e: io::Error) -> ImageError {
        ImageError::Store {
            op: "unpacking into",
            path: path.to_path_buf(),
            source: e,
        }
    }

    /// Streams the blob into `tx`, resuming with a Range request after a broken
    /// connection. Returns the bytes received; the unpacker verifies the digest.
    async fn feed(&self, tx: mpsc::Sender<io::Result<Bytes>>) -> Result<u64, ImageError> {
        let blob = &self.layer.blob;
        let declared = self.layer.size;
        let mut received: u64 = 0;
        let mut total_received: u64 = 0;
        let mut failures = 0u32;
        loop {
            let error = match self.session.open_blob(blob, received).await {
                Err(e @ (ImageError::RegistryUnreachable { .. } | ImageError::Registry { .. })) => {
                    e.to_string()
                }
                Err(fatal) => {
                    let _ = tx.send(Err(io::Error::other(fatal.to_string()))).await;
                    return Err(fatal);
                }
                Ok((mut stream, start)) => {
                    // A registry that ignored Range starts over: skip what we have.
                    let mut skip = received - start;
                    let mut error = None;
                    while let Some(chunk) = stream.next().await {
                        let mut chunk = match chunk {
                            Ok(c) => c,
                            Err(e) => {
                                error = Some(e.to_string());
                                break;
                            }
                        };
                        total_received += chunk.len() as u64;
                        if skip > 0 {
                            let k = skip.min(chunk.len() as u64);
                            chunk.advance(k as usize);
                            skip -= k;
                        }
                        if chunk.is_empty() {
                            continue;
                        }
                        received += chunk.len() as u64;
                        if declared > 0 && received > declared {
                            let e = self.download_error(
                                failures + 1,
                                format!(
                                "registry sent more than the {declared} bytes the manifest declares"
                            ),
                            );
                            let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                            return Err(e);
                        }
                        self.progress.layer_bytes(blob, received);
                        if tx.send(Ok(chunk)).await.is_err() {
                            // The unpacker stopped early; its error is the one to report.
                            return Ok(total_received);
                        }
                    }
                    match error {
                        None => return Ok(total_received),
                        // Everything arrived; the digest check decides.
                        Some(_) if declared > 0 && received == declared => {
                            return Ok(total_received)
                        }
                        Some(e) => e,
                    }
                }
            };
            failures += 1;
            if failures > self.retries {
                let e = self.download_error(failures, error);
                let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                return Err(e);
            }
            tracing::warn!(
                image = %self.session.image, layer = %blob, offset = received,
                attempt = failures, error = %error, "blob download interrupted, resuming"
            );
            let backoff = Duration::from_millis(200u64 << failures.min(4));
            tokio::time::sleep(backoff).await;
        }
    }

    fn download_error(&self, attempts: u32, detail: String) -> ImageError {
        ImageError::LayerDownload {
            image: self.session.image.familiar(),
            layer: self.layer.blob.clone(),
            registry: self.session.host.clone(),
            attempts,
            detail,
        }
    }
}

/// The blocking half: decompress, hash and unpack what the downloader sends.
fn unpack_stream(
    rx: mpsc::Receiver<io::Result<Bytes>>,
    dest: &Path,
    limits: &unpack::Limits,
) -> io::Result<Unpacked> {
    let mut blob = ChannelReader::new(rx);
    let (applied, diff_id) = match decompress(&mut blob) {
        Ok((_, decoder)) => {
            let mut tar = HashingReader::new(decoder);
            let applied = unpack::apply_layer(&mut tar, dest, limits);
            (applied, tar.digest())
        }
        Err(e) => (Err(UnpackError::Tar(e)), String::new()),
    };
    // Drain the rest so the blob digest covers every byte, even after an unpack error.
    let blob_digest = match blob.finish() {
        Ok((digest, _)) => digest,
        Err(e) if applied.is_err() => e.to_string(),
        Err(e) => return Err(e),
    };
    Ok(Unpacked {
        blob_digest,
        diff_id,
        applied,
    })
}

fn layer_tar_bytes(layer_dir: &Path) -> u64 {
    let path: PathBuf = layer_dir.join("layer.json");
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<LayerInfo>(&b).ok())
        .map_or(0, |i| i.tar_bytes)
}
