//! Manifests, indexes and image configs as the registry sends them, checked strictly:
//! schema 2 only, media types must agree with the document's shape (CVE-2021-41190),
//! and a bounded size.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Every manifest type we understand, for the `Accept` header (as containerd sends).
pub const ACCEPTED: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// containerd's `MaxManifestSize`: anything larger is not a manifest we will parse.
pub const MAX_MANIFEST_SIZE: usize = 4 * 1048 * 1048;
/// Image configs are small JSON documents too; bound them the same way.
pub const MAX_CONFIG_SIZE: usize = MAX_MANIFEST_SIZE;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of the machine we run on, normalised as registries spell it.
    pub fn host() -> Self {
        let (architecture, variant) = normalise_arch(std::env::consts::ARCH, None);
        Platform {
            architecture,
            os: "linux".into(),
            variant,
        }
    }

    /// Parses `os/arch[/variant]` (e.g. `linux/arm64/v8`).
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('/');
        let os = parts.next()?.to_string();
        let arch = parts.next()?;
        let variant = parts.next();
        if parts.next().is_some() || os.is_empty() || arch.is_empty() {
            return None;
        }
        let (architecture, variant) = normalise_arch(arch, variant);
        Some(Platform {
            architecture,
            os,
            variant,
        })
    }

    fn matches(&self, other: &Platform) -> bool {
        let (arch, variant) = normalise_arch(&other.architecture, other.variant.as_deref());
        self.os == other.os
            && self.architecture == arch
            && (self.variant.is_none() || self.variant == variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// containerd's `normalizeArch`: one spelling per architecture, and arm64's `v8` is the
/// same as no variant.
fn normalise_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let variant = variant.filter(|v| !v.is_empty()).map(str::to_string);
    match arch {
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), None),
        "aarch64" | "arm64" => ("arm64".into(), variant.filter(|v| v != "v8" && v != "8")),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => ("arm".into(), Some(variant.unwrap_or_else(|| "v7".into()))),
        "i386" | "386" => ("386".into(), None),
        other => (other.to_string(), variant),
    }
}

/// A manifest document: either an image manifest or an index, never both.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: i64,
    #[serde(default)]
    media_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    Image(ImageManifest),
    Index(Vec<Descriptor>),
}

/// Parses a manifest or index; `content_type` is what the registry said it sent.
pub fn parse_document(body: &[u8], content_type: Option<&str>) -> Result<Document, String> {
    if body.len() > MAX_MANIFEST_SIZE {
        return Err(format!(
            "manifest of {} bytes exceeds the {MAX_MANIFEST_SIZE}-byte limit",
            body.len()
        ));
    }
    let raw: RawManifest =
        serde_json::from_slice(body).map_err(|e| format!("manifest is not valid JSON: {e}"))?;
    let declared = raw
        .media_type
        .clone()
        .or_else(|| content_type.map(str::to_string));
    if declared.as_deref() == Some(DOCKER_SCHEMA1) || raw.schema_version == 1 {
        return Err(
            "Docker schema 1 manifests are not supported (re-push the image with a current client)"
                .into(),
        );
    }
    if raw.schema_version != 2 {
        return Err(format!("unsupported schemaVersion {}", raw.schema_version));
    }
    if raw.manifests.is_some() && (raw.layers.is_some() || raw.config.is_some()) {
        return Err("ambiguous document: it has both manifests and layers".into());
    }
    match (raw.manifests, raw.config, raw.layers) {
        (Some(manifests), None, None) => {
            if let Some(mt) = &declared {
                if mt != OCI_INDEX && mt != DOCKER_LIST {
                    return Err(format!("index declares media type {mt}"));
                }
            }
            Ok(Document::Index(manifests))
        }
        (None, Some(config), layers) => {
            let media_type = declared.unwrap_or_else(|| OCI_MANIFEST.to_string());
            if media_type != OCI_MANIFEST && media_type != DOCKER_MANIFEST {
                return Err(format!("image manifest declares media type {media_type}"));
            }
            Ok(Document::Image(ImageManifest {
                media_type,
                config,
                layers: layers.unwrap_or_default(),
            }))
        }
        _ => Err("document is neither an image manifest nor an index".into()),
    }
}

/// Picks the index entry for `want`, skipping attestation manifests. Returns the entry or
/// the list of platforms that were offered (for the error).
pub fn select_platform<'a>(
    entries: &'a [Descriptor],
    want: &Platform,
) -> Result<&'a Descriptor, String> {
    let candidates = || {
        entries.iter().filter(|e| {
            e.annotations
                .get("vnd.docker.reference.type")
                .is_none_or(|t| t != "attestation-manifest")
        })
    };
    // Prefer an exact variant match, then any entry of the right os/arch.
    let exact = candidates().find(|e| {
        e.platform.as_ref().is_some_and(|p| {
            let (arch, variant) = normalise_arch(&p.architecture, p.variant.as_deref());
            p.os == want.os && arch == want.architecture && variant == want.variant
        })
    });
    if let Some(e) = exact {
        return Ok(e);
    }
    if let Some(e) = candidates().find(|e| e.platform.as_ref().is_some_and(|p| want.matches(p))) {
        return Ok(e);
    }
    let offered: Vec<String> = candidates()
        .filter_map(|e| e.platform.as_ref().map(|p| p.to_string()))
        .collect();
    Err(if offered.is_empty() {
        "none".into()
    } else {
        offered.join(", ")
    })
}

/// The parts of an image config the driver honours (Docker image config v1 / OCI config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawConfig {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: Option<ContainerConfig>,
    rootfs: RawRootfs,
}

#[derive(Debug, Clone, Deserialize)]
struct RawRootfs {
    #[serde(rename = "type")]
    kind: String,
    diff_ids: Vec<String>,
}

/// An image config reduced to what drover keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub architecture: String,
    pub os: String,
    pub created: Option<String>,
    pub config: ContainerConfig,
    pub diff_ids: Vec<String>,
}

pub fn parse_config(body: &[u8]) -> Result<ImageConfig, String> {
    if body.len() > MAX_CONFIG_SIZE {
        return Err(format!("image config of {} bytes is too large", body.len()));
    }
    let raw: RawConfig =
        serde_json::from_slice(body).map_err(|e| format!("image config is not valid: {e}"))?;
    if raw.rootfs.kind != "layers" {
        return Err(format!("unsupported rootfs type {:?}", raw.rootfs.kind));
    }
    for d in &raw.rootfs.diff_ids {
        super::reference::validate_digest(d)?;
    }
    Ok(ImageConfig {
        architecture: raw.architecture,
        os: raw.os,
        created: raw.created,
        config: raw.config.unwrap_or_default(),
        diff_ids: raw.rootfs.diff_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>, attestation: bool) -> Descriptor {
        let mut annotations = BTreeMap::new();
        if attestation {
            annotations.insert(
                "vnd.docker.reference.type".to_string(),
                "attestation-manifest".to_string(),
            );
        }
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{arch}"),
            size: 1,
            platform: Some(Platform {
                architecture: arch.into(),
                os: if attestation { "unknown" } else { "linux" }.into(),
                variant: variant.map(str::to_string),
            }),
            annotations,
        }
    }

    #[test]
    fn selects_platform_and_skips_attestations() {
        let entries = vec![
            entry("unknown", None, true),
            entry("amd64", None, false),
            entry("arm64", Some("v8"), false),
            entry("arm", Some("v6"), false),
            entry("arm", Some("v7"), false),
        ];
        let cases = [
            ("linux/amd64", "sha256:amd64"),
            ("linux/x86_64", "sha256:amd64"),
            ("linux/arm64", "sha256:arm64"),
            ("linux/aarch64/v8", "sha256:arm64"),
        ];
        for (want, digest) in cases {
            let p = Platform::parse(want).unwrap();
            assert_eq!(
                select_platform(&entries, &p).unwrap().digest,
                digest,
                "{want}"
            );
        }
        let v7 = select_platform(&entries, &Platform::parse("linux/arm/v7").unwrap()).unwrap();
        assert_eq!(v7.platform.as_ref().unwrap().variant.as_deref(), Some("v7"));
        let err = select_platform(&entries, &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        assert!(
            err.contains("linux/amd64") && !err.contains("unknown"),
            "{err}"
        );
    }

    #[test]
    fn host_platform_is_normalised() {
        let host = Platform::host();
        assert_eq!(host.os, "linux");
        assert!(!host.architecture.contains('_'), "{host}");
    }

    #[test]
    fn rejects_ambiguous_and_legacy_documents() {
        let cases: &[(&str, &str)] = &[
            (r#"{"schemaVersion":1,"name":"x"}"#, "schema 1"),
            (
                r#"{"schemaVersion":2,"manifests":[],"layers":[],"config":{"digest":"sha256:a"}}"#,
                "ambiguous",
            ),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":{"digest":"sha256:a"},"layers":[]}"#,
                "declares media type",
            ),
            (r#"{"schemaVersion":3}"#, "schemaVersion"),
            (r#"not json"#, "not valid JSON"),
        ];
        for (body, want) in cases {
            let err = parse_document(body.as_bytes(), None).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
        let big = vec![b' '; MAX_MANIFEST_SIZE + 1];
        assert!(parse_document(&big, None).unwrap_err().contains("limit"));
    }

    #[test]
    fn parses_manifest_index_and_config() {
        let m = parse_document(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
                "config":{"mediaType":"x","digest":"sha256:c","size":3},
                "layers":[{"mediaType":"l","digest":"sha256:l","size":9}]}"#,
            None,
        )
        .unwrap();
        match m {
            Document::Image(m) => {
                assert_eq!(m.media_type, DOCKER_MANIFEST);
                assert_eq!(m.layers[0].size, 9);
            }
            other => panic!("{other:?}"),
        }
        let i = parse_document(br#"{"schemaVersion":2,"manifests":[]}"#, Some(OCI_INDEX)).unwrap();
        assert_eq!(i, Document::Index(vec![]));
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let c = parse_config(
            format!(
                r#"{{"architecture":"amd64","os":"linux","config":{{"Entrypoint":["e"],"Cmd":["c"],
                "Env":["A=1"],"WorkingDir":"/data","User":"redis","ExposedPorts":{{"6379/tcp":{{}}}}}},
                "rootfs":{{"type":"layers","diff_ids":["{d}"]}}}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(c.config.entrypoint, Some(vec!["e".to_string()]));
        assert_eq!(c.config.user.as_deref(), Some("redis"));
        assert!(c.config.exposed_ports.unwrap().contains_key("6379/tcp"));
        assert_eq!(c.diff_ids, vec![d.to_string()]);
        assert!(parse_config(br#"{"rootfs":{"type":"layers","diff_ids":["sha256:x"]}}"#).is_err());
    }
}
