//! Registry access through `oci-client`: which host to talk to (mirrors, Docker Hub's API
//! host), over which protocol (plain HTTP only for loopback or listed registries), with
//! which credentials, and how its errors read to a user.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::stream::BoxStream;
use oci_client::client::{BlobResponse, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::auth::{self, Credentials};
use super::error::ImageError;
use super::manifest::{self, Document, Platform};
use super::reference::ImageRef;

/// How drover reaches registries; the agent config fills it in.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Registry name (`docker.io`) → mirror hosts tried in order before the registry itself.
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// Registries reached over plain HTTP besides loopback ones (as Docker's
    /// `insecure-registries`).
    pub insecure: Vec<String>,
    /// Docker client config with `auths` (`~/.docker/config.json` by default).
    pub docker_config: Option<PathBuf>,
    /// The platform picked from multi-platform images.
    pub platform: Platform,
    /// How often a blob download is retried (resuming with Range) before giving up.
    pub retries: u32,
    /// Layers fetched and unpacked at the same time.
    pub max_concurrent_layers: usize,
    pub connect_timeout: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            mirrors: BTreeMap::new(),
            insecure: Vec::new(),
            docker_config: auth::docker_config_path(),
            platform: Platform::host(),
            retries: 5,
            max_concurrent_layers: 4,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl RegistryConfig {
    /// Hosts to try for `image`, in order: its mirrors, then the registry's own API host.
    pub fn endpoints(&self, image: &ImageRef) -> Vec<String> {
        let mut hosts = self
            .mirrors
            .get(&image.registry)
            .cloned()
            .unwrap_or_default();
        hosts.push(image.api_host().to_string());
        hosts
    }

    /// Plain HTTP only where Docker allows it: loopback addresses, or listed registries.
    pub fn is_insecure(&self, host: &str) -> bool {
        is_loopback_host(host) || self.insecure.iter().any(|h| h == host)
    }

    /// Credentials for `image`: the job's own, else Docker's config file, else none.
    pub fn credentials(
        &self,
        image: &ImageRef,
        job: Option<&Credentials>,
    ) -> Result<Option<Credentials>, ImageError> {
        if let Some(c) = job {
            return Ok(Some(c.clone()));
        }
        let Some(path) = &self.docker_config else {
            return Ok(None);
        };
        auth::from_docker_config(path, &image.registry).map_err(|detail| ImageError::AuthRefused {
            image: image.familiar(),
            registry: image.registry.clone(),
            detail,
        })
    }
}

/// `localhost`, `127.x.x.x` and `[::1]`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One conversation with one registry host about one image.
pub struct Session {
    pub image: ImageRef,
    /// The host actually talked to (a mirror, or the registry's API host).
    pub host: String,
    client: Client,
    reference: Reference,
    auth: RegistryAuth,
}

/// A manifest as fetched: the bytes (stored as they came) and their verified digest.
pub struct Fetched {
    pub bytes: bytes::Bytes,
    pub digest: String,
    pub document: Document,
}

pub type BlobStream = BoxStream<'static, Result<bytes::Bytes, std::io::Error>>;

impl Session {
    fn new(
        config: &RegistryConfig,
        image: &ImageRef,
        host: &str,
        creds: Option<&Credentials>,
    ) -> Self {
        // reqwest is built without a default TLS backend (aws-lc needs cmake); pick ring
        // once per process. Losing the race to another installer is fine.
        static TLS: std::sync::Once = std::sync::Once::new();
        TLS.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let protocol = if config.is_insecure(host) {
            ClientProtocol::HttpsExcept(vec![host.to_string()])
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(config.connect_timeout),
            user_agent: concat!("drover/", env!("CARGO_PKG_VERSION")),
            // drover selects platforms itself (variants, attestations).
            platform_resolver: None,
            ..Default::default()
        });
        let repo = image.repository.clone();
        let reference = match (&image.tag, &image.digest) {
            (Some(tag), Some(d)) => {
                Reference::with_tag_and_digest(host.to_string(), repo, tag.clone(), d.clone())
            }
            (None, Some(d)) => Reference::with_digest(host.to_string(), repo, d.clone()),
            (tag, None) => Reference::with_tag(
                host.to_string(),
                repo,
                tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        };
        let auth = match creds {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        };
        Session {
            image: image.clone(),
            host: host.to_string(),
            client,
            reference,
            auth,
        }
    }

    /// Opens a session with the first endpoint (mirror or registry) that serves the
    /// image's manifest, and returns that manifest. A mirror that fails is skipped, as
    /// Docker does; the registry's own error is the one reported.
    pub async fn open(
        config: &RegistryConfig,
        image: &ImageRef,
        creds: Option<&Credentials>,
    ) -> Result<(Session, Fetched), ImageError> {
        let endpoints = config.endpoints(image);
        let last = endpoints.len() - 1;
        for (i, host) in endpoints.iter().enumerate() {
            let session = Session::new(config, image, host, creds);
            let reference = session.reference.clone();
            let fetched = async {
                session.authenticate().await?;
                session.fetch_manifest(&reference).await
            };
            match fetched.await {
                Ok(fetched) => return Ok((session, fetched)),
                Err(e) if i < last => {
                    tracing::warn!(mirror = %host, image = %image, error = %e, "mirror failed, trying next");
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("endpoints always ends with the registry itself")
    }

    /// With credentials, authenticates first: oci-client's implicit token request drops a
    /// token server's refusal and retries anonymously, so a wrong password would read
    /// like a missing one. The token it gets is cached for the requests that follow.
    async fn authenticate(&self) -> Result<(), ImageError> {
        if matches!(self.auth, RegistryAuth::Anonymous) {
            return Ok(());
        }
        self.client
            .auth(
                &self.reference,
                &self.auth,
                oci_client::RegistryOperation::Pull,
            )
            .await
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Fetches the manifest of the session's image, or of `digest` in the same repository.
    pub async fn fetch_manifest_by_digest(&self, digest: &str) -> Result<Fetched, ImageError> {
        let reference = self.reference.clone_with_digest(digest.to_string());
        self.fetch_manifest(&reference).await
    }

    async fn fetch_manifest(&self, reference: &Reference) -> Result<Fetched, ImageError> {
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(reference, &self.auth, manifest::ACCEPTED)
            .await
            .map_err(|e| self.error(e))?;
        let document =
            manifest::parse_document(&bytes, None).map_err(|detail| ImageError::BadManifest {
                image: self.image.familiar(),
                registry: self.host.clone(),
                detail,
            })?;
        Ok(Fetched {
            bytes,
            digest,
            document,
        })
    }

    /// Opens a blob stream starting at `offset`. Returns the stream and the offset it
    /// really starts at (0 when the registry ignored the Range request).
    pub async fn open_blob(
        &self,
        digest: &str,
        offset: u64,
    ) -> Result<(BlobStream, u64), ImageError> {
        // Always a Range request: the client then leaves verification to us, which we do
        // over the whole blob even across resumed requests.
        match self
            .client
            .pull_blob_stream_partial(&self.reference, digest, offset, None)
            .await
            .map_err(|e| self.error(e))?
        {
            BlobResponse::Partial(s) => Ok((s.stream, offset)),
            BlobResponse::Full(s) => Ok((s.stream, 0)),
        }
    }

    /// Translates a client error into one that names the image and registry.
    pub fn error(&self, e: OciDistributionError) -> ImageError {
        let image = self.image.familiar();
        let registry = self.host.clone();
        let detail = e.to_string();
        match &e {
            OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() => {
                ImageError::RegistryUnreachable {
                    image,
                    registry,
                    detail: source_chain(r),
                }
            }
            OciDistributionError::RequestError(r) => ImageError::Registry {
                image,
                registry,
                detail: source_chain(r),
            },
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => ImageError::AuthRefused {
                image,
                registry,
                detail,
            },
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let detail = envelope
                    .errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ");
                if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                            | OciErrorCode::BlobUnknown
                    )
                }) {
                    ImageError::NotFound {
                        image,
                        registry,
                        detail,
                    }
                } else if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    ImageError::AuthRefused {
                        image,
                        registry,
                        detail,
                    }
                } else {
                    ImageError::Registry {
                        image,
                        registry,
                        detail,
                    }
                }
            }
            OciDistributionError::ServerError { code: 404, .. }
            | OciDistributionError::ImageManifestNotFoundError(_) => ImageError::NotFound {
                image,
                registry,
                detail,
            },
            OciDistributionError::ServerError {
                code: 401 | 403, ..
            } => ImageError::AuthRefused {
                image,
                registry,
                detail,
            },
            OciDistributionError::DigestError(_) => ImageError::BadManifest {
                image,
                registry,
                detail: format!("manifest digest does not verify: {detail}"),
            },
            _ => ImageError::Registry {
                image,
                registry,
                detail,
            },
        }
    }
}

/// reqwest's top-level message is terse ("error sending request"); the cause says why.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_or_listed() {
        let config = RegistryConfig {
            insecure: vec!["registry.lan:5000".into()],
            ..Default::default()
        };
        for (host, insecure) in [
            ("127.0.0.1:5577", true),
            ("127.1.2.3", true),
            ("localhost:5000", true),
            ("[::1]:5000", true),
            ("registry.lan:5000", true),
            ("registry.lan", false),
            ("10.0.0.1:5000", false),
            ("registry-1.docker.io", false),
            ("localhost.evil.com", false),
        ] {
            assert_eq!(config.is_insecure(host), insecure, "{host}");
        }
    }

    #[test]
    fn mirrors_come_before_the_registry_and_hub_uses_its_api_host() {
        let mut config = RegistryConfig::default();
        config.mirrors.insert(
            "docker.io".into(),
            vec!["127.0.0.1:1".into(), "127.0.0.1:5577".into()],
        );
        let hub = ImageRef::parse("redis:3.2").unwrap();
        assert_eq!(
            config.endpoints(&hub),
            vec!["127.0.0.1:1", "127.0.0.1:5577", "registry-1.docker.io"]
        );
        let other = ImageRef::parse("ghcr.io/x/y").unwrap();
        assert_eq!(config.endpoints(&other), vec!["ghcr.io"]);
    }
}
