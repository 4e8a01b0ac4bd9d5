//! `drover image pull|list|rm|gc`: the local image store from the command line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use drover_driver::image::{ImageRef, ImageStore, Platform, Puller, RegistryConfig, StoreLimits};

use super::progress::LayerBars;

/// Where images live and how registries are reached (the agent config will carry the same).
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// The agent's data directory; images live under DATA_DIR/image
    #[arg(
        long,
        global = true,
        default_value = "/var/lib/drover",
        env = "DROVER_DATA_DIR"
    )]
    pub data_dir: PathBuf,
    /// Registry mirror as REGISTRY=HOST, e.g. docker.io=127.0.0.1:5000 (repeatable, tried in order)
    #[arg(long = "registry-mirror", global = true, value_name = "REGISTRY=HOST")]
    pub mirrors: Vec<String>,
    /// Registry reached over plain HTTP (loopback registries always are)
    #[arg(long = "insecure-registry", global = true, value_name = "HOST")]
    pub insecure: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Pull an image into the local store
    Pull {
        image: String,
        /// Platform to pick from multi-platform images (os/arch[/variant])
        #[arg(long)]
        platform: Option<String>,
        /// Print only the manifest digest
        #[arg(long, short)]
        quiet: bool,
    },
    /// List images in the local store
    #[command(alias = "ls")]
    List,
    /// Remove images' references; content no image or task uses is deleted
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Delete images, layers and blobs no reference or task uses
    Gc,
}

pub async fn run(args: ImageArgs) -> Result<()> {
    super::require_root("drover image")?;
    let store = ImageStore::open(args.registry.data_dir.join("image"), StoreLimits::default())
        .context("opening the image store")?;
    match args.command {
        ImageCommand::Pull {
            ref image,
            ref platform,
            quiet,
        } => {
            let reference = ImageRef::parse(image)?;
            pull(&args.registry, &reference, platform.as_deref(), quiet).await
        }
        ImageCommand::List => list(&store),
        ImageCommand::Rm { images } => remove(&store, &images),
        ImageCommand::Gc => {
            let r = store.gc()?;
            println!(
                "Removed {} images, {} layers, {} blobs, {} unfinished pulls",
                r.images.len(),
                r.layers.len(),
                r.blobs.len(),
                r.tmp
            );
            Ok(())
        }
    }
}

fn registry_config(args: &RegistryArgs, platform: Option<&str>) -> Result<RegistryConfig> {
    let mut config = RegistryConfig {
        insecure: args.insecure.clone(),
        ..Default::default()
    };
    for m in &args.mirrors {
        let (registry, host) = m
            .split_once('=')
            .with_context(|| format!("registry mirror {m:?} is not REGISTRY=HOST"))?;
        config
            .mirrors
            .entry(registry.to_string())
            .or_default()
            .push(host.to_string());
    }
    if let Some(p) = platform {
        config.platform = Platform::parse(p)
            .with_context(|| format!("platform {p:?} is not os/arch[/variant]"))?;
    }
    Ok(config)
}

/// Pulls `reference` into the store under `args.data_dir`, reporting as `docker pull`
/// does (or only the digest when `quiet`).
pub async fn pull(
    args: &RegistryArgs,
    reference: &ImageRef,
    platform: Option<&str>,
    quiet: bool,
) -> Result<()> {
    let store = Arc::new(
        ImageStore::open(args.data_dir.join("image"), StoreLimits::default())
            .context("opening the image store")?,
    );
    let puller = Puller::new(store, registry_config(args, platform)?);
    let started = Instant::now();
    if !quiet {
        println!("Pulling {} ({reference})", reference.familiar());
    }
    let progress: Arc<dyn drover_driver::image::PullProgress> = if quiet {
        Arc::new(drover_driver::image::NoProgress)
    } else {
        Arc::new(LayerBars::new())
    };
    let report = puller.pull(reference, None, progress).await?;
    let elapsed = started.elapsed();
    if quiet {
        println!("{}", report.record.manifest_digest);
        return Ok(());
    }
    println!("Digest: {}", report.record.manifest_digest);
    let status = if report.fetched.is_empty() {
        "Image is up to date for"
    } else {
        "Downloaded newer image for"
    };
    println!(
        "Status: {status} {} ({} fetched, {} already present, {} in {:.2}s)",
        reference.familiar(),
        plural(report.fetched.len(), "layer"),
        report.cached.len(),
        human_bytes(report.bytes_fetched),
        elapsed.as_secs_f64()
    );
    Ok(())
}

fn list(store: &ImageStore) -> Result<()> {
    let rows: Vec<[String; 5]> = store
        .list()?
        .into_iter()
        .map(|(name, record)| {
            let (repo, tag) = split_name(&name);
            let id = record.config_digest.trim_start_matches("sha256:");
            [
                repo,
                tag,
                id[..id.len().min(12)].to_string(),
                human_bytes(record.unpacked_size),
                record.platform.clone(),
            ]
        })
        .collect();
    print_table(
        &["Repository", "Tag", "Image ID", "Size", "Platform"],
        &rows,
    );
    Ok(())
}

fn split_name(name: &str) -> (String, String) {
    if let Some((repo, digest)) = name.split_once('@') {
        let repo = repo.rsplit_once(':').map_or(repo, |(r, _)| r);
        return (
            repo.to_string(),
            format!("@{}", &digest[..digest.len().min(19)]),
        );
    }
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (name.to_string(), "<none>".to_string()),
    }
}

fn remove(store: &ImageStore, images: &[String]) -> Result<()> {
    for image in images {
        let reference = ImageRef::parse(image)?;
        let digest = store.remove_ref(&reference)?;
        println!("Untagged: {} ({digest})", reference.familiar());
    }
    let r = store.gc()?;
    for d in &r.images {
        println!("Deleted: {d}");
    }
    if !r.layers.is_empty() {
        println!(
            "Deleted {} no other image uses",
            plural(r.layers.len(), "layer")
        );
    }
    Ok(())
}

/// Nomad's CLI prints aligned columns with a title row (`formatList`).
fn print_table(header: &[&str], rows: &[[String; 5]]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
