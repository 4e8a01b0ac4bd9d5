//! Image references: `redis:3.2`, `host:port/repo:tag`, `repo@sha256:…`, normalised the way
//! Docker does, so `redis:3.2` means `docker.io/library/redis:3.2`.

use std::fmt;
use std::str::FromStr;

use super::error::ImageError;

/// The registry name Docker Hub images carry in their canonical form.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's v2 API (containerd's `DefaultHost`).
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host (with port), `docker.io` for Docker Hub.
    pub registry: String,
    /// Repository path, `library/redis` for official images.
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// Digest (`sha256:…`); when present it wins over the tag for fetching.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses and normalises a reference. Errors name the reference and what is wrong.
    pub fn parse(input: &str) -> Result<Self, ImageError> {
        let bad = |reason: &str| ImageError::InvalidReference {
            reference: input.to_string(),
            reason: reason.to_string(),
        };
        if input.is_empty() {
            return Err(bad("empty reference"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((name, digest)) => {
                validate_digest(digest).map_err(|r| bad(&r))?;
                (name, Some(digest.to_string()))
            }
            None => (input, None),
        };
        // A tag is what follows the last ':' after the last '/': a ':' before the last '/'
        // belongs to a registry port (`localhost:5000/x`).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(rest[i + 1..].to_string()))
            }
            None => (rest, None),
        };
        if let Some(tag) = &tag {
            validate_tag(tag).map_err(|r| bad(&r))?;
        }
        let (registry, repository) = split_domain(name);
        validate_repository(&repository).map_err(|r| bad(&r))?;
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest if there is one, else the tag.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The repository's canonical name without tag or digest: `docker.io/library/redis`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The host that serves this registry's API (Docker Hub's differs from its name).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The short form users type: `redis:3.2` for official Docker Hub images.
    pub fn familiar(&self) -> String {
        let mut out = if self.registry == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.name()
        };
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
        out
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

/// Docker's rule: the first component is a registry only if it has a `.` or `:` or is
/// `localhost`; otherwise the image lives on Docker Hub, under `library/` if it has one part.
fn split_domain(name: &str) -> (String, String) {
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    let registry = if registry == "index.docker.io" {
        DOCKER_HUB.to_string()
    } else {
        registry
    };
    let repository = if registry == DOCKER_HUB && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    (registry, repository)
}

fn validate_repository(repo: &str) -> Result<(), String> {
    if repo.is_empty() {
        return Err("missing repository name".into());
    }
    if repo.len() > 255 {
        return Err("repository name longer than 255 characters".into());
    }
    for component in repo.split('/') {
        let ok = !component.is_empty()
            && component
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && component.as_bytes()[0].is_ascii_alphanumeric()
            && component.as_bytes()[component.len() - 1].is_ascii_alphanumeric();
        if !ok {
            return Err(format!(
                "repository component {component:?} must be lowercase letters, digits and separators"
            ));
        }
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && (tag.as_bytes()[0].is_ascii_alphanumeric() || tag.starts_with('_'))
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid tag {tag:?}"))
    }
}

/// Accepts `sha256:<64 hex>`, `sha384:<96 hex>`, `sha512:<128 hex>`.
pub fn validate_digest(digest: &str) -> Result<(), String> {
    let (algo, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("invalid digest {digest:?}: missing algorithm"))?;
    let len = match algo {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(format!("unsupported digest algorithm {algo:?}")),
    };
    if hex.len() != len
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!("invalid digest {digest:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalises_like_docker() {
        let d = format!("repo@{D}");
        let td = format!("repo:tag@{D}");
        // input, registry, repository, tag, digest
        type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
        let cases: &[Case] = &[
            ("redis:3.2", "docker.io", "library/redis", Some("3.2"), None),
            ("redis", "docker.io", "library/redis", Some("latest"), None),
            (
                "hashicorp/nomad",
                "docker.io",
                "hashicorp/nomad",
                Some("latest"),
                None,
            ),
            (
                "index.docker.io/redis",
                "docker.io",
                "library/redis",
                Some("latest"),
                None,
            ),
            (
                "localhost:5000/x",
                "localhost:5000",
                "x",
                Some("latest"),
                None,
            ),
            ("localhost/x:1", "localhost", "x", Some("1"), None),
            (
                "127.0.0.1:5577/library/busybox:1.35",
                "127.0.0.1:5577",
                "library/busybox",
                Some("1.35"),
                None,
            ),
            // `test.com:tag` has no slash, so test.com is a repository on Docker Hub.
            (
                "test.com:tag",
                "docker.io",
                "library/test.com",
                Some("tag"),
                None,
            ),
            (
                "foo_bar.com:8080",
                "docker.io",
                "library/foo_bar.com",
                Some("8080"),
                None,
            ),
            ("ghcr.io/a/b/c:v1", "ghcr.io", "a/b/c", Some("v1"), None),
            (&d, "docker.io", "library/repo", None, Some(D)),
            (&td, "docker.io", "library/repo", Some("tag"), Some(D)),
        ];
        for (input, registry, repo, tag, digest) in cases {
            let r = ImageRef::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.registry, *registry, "{input}");
            assert_eq!(r.repository, *repo, "{input}");
            assert_eq!(r.tag.as_deref(), *tag, "{input}");
            assert_eq!(r.digest.as_deref(), *digest, "{input}");
        }
    }

    #[test]
    fn digest_wins_and_hub_uses_its_api_host() {
        let r = ImageRef::parse(&format!("redis:3.2@{D}")).unwrap();
        assert_eq!(r.reference(), D);
        assert_eq!(r.api_host(), DOCKER_HUB_API);
        assert_eq!(r.familiar(), format!("redis:3.2@{D}"));
        assert_eq!(r.to_string(), format!("docker.io/library/redis:3.2@{D}"));
        let l = ImageRef::parse("localhost:5000/x:1").unwrap();
        assert_eq!(l.api_host(), "localhost:5000");
        assert_eq!(l.familiar(), "localhost:5000/x:1");
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "Redis",
            "redis:",
            "redis:bad tag",
            "redis@sha256:abc",
            "redis@md5:0123",
            "a//b",
            "-a",
            "redis:-x",
        ] {
            let err = ImageRef::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("invalid image reference"), "{bad}: {err}");
        }
    }
}
