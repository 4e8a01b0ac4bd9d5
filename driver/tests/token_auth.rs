//! Pulls from a registry that uses token (bearer) auth, the way Docker Hub does: the
//! registry answers 401 with `WWW-Authenticate: Bearer realm=…,service=…`, the client
//! fetches a JWT from the realm (anonymously or with Basic credentials) and retries with
//! it. scripts/testenv/up runs Debian's docker-registry on 127.0.0.1:5579 in that mode,
//! backed by scripts/testenv/token-server.py: `token/…` is anonymously pullable,
//! `token-private/…` needs drover / drover-secret.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use drover_driver::image::{
    Credentials, ImageError, ImageRef, ImageStore, NoProgress, PullReport, Puller, RegistryConfig,
    StoreLimits,
};
use support::testenv;

/// The token-auth registry's address, from the env file that scripts/testenv/up writes
/// (support::TestEnv predates this registry).
fn token_registry(dir: &Path) -> String {
    let path = dir.join("env");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/testenv/up", path.display()));
    let vars: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("export ").split_once('='))
        .collect();
    vars.get("DROVER_TEST_TOKEN_REGISTRY")
        .map(|v| v.trim_matches(|c| c == '"' || c == '\'').to_string())
        .unwrap_or_else(|| {
            panic!(
                "DROVER_TEST_TOKEN_REGISTRY missing in {}: the test environment predates the \
                 token registry; rerun scripts/testenv/up",
                path.display()
            )
        })
}

/// The manifest digest scripts/testenv/up recorded for `registry` `repo:tag` (images.txt).
fn pushed_digest(dir: &Path, registry: &str, reference: &str) -> String {
    let path = dir.join("images.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/testenv/up", path.display()));
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[0] == registry && f[1] == reference)
        .map(|f| f[2].to_string())
        .unwrap_or_else(|| panic!("{registry} {reference} not in {}", path.display()))
}

const BAD_PASSWORD: &str = "not-the-password-7Qx";

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<ImageStore>,
    registry: String,
    env_dir: PathBuf,
    user: String,
    pass: String,
}

fn setup() -> Setup {
    let env = testenv();
    let dir = tempfile::Builder::new()
        .prefix("drover-test-token-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let store =
        Arc::new(ImageStore::open(dir.path().join("image"), StoreLimits::default()).unwrap());
    Setup {
        _dir: dir,
        store,
        registry: token_registry(&env.dir),
        env_dir: env.dir,
        user: env.auth_user,
        pass: env.auth_pass,
    }
}

impl Setup {
    async fn pull(
        &self,
        repo: &str,
        creds: Option<&Credentials>,
    ) -> Result<PullReport, ImageError> {
        // No Docker config: only the credentials given here count.
        let cfg = RegistryConfig {
            docker_config: None,
            retries: 3,
            ..Default::default()
        };
        let image = format!("{}/{repo}", self.registry);
        Puller::new(self.store.clone(), cfg)
            .pull(
                &ImageRef::parse(&image).unwrap(),
                creds,
                Arc::new(NoProgress),
            )
            .await
    }

    fn good(&self) -> Credentials {
        Credentials {
            username: self.user.clone(),
            password: self.pass.clone(),
        }
    }

    fn bad(&self) -> Credentials {
        Credentials {
            username: self.user.clone(),
            password: BAD_PASSWORD.into(),
        }
    }
}

#[tokio::test]
async fn anonymous_pull_goes_through_the_bearer_token_flow() {
    let s = setup();
    let report = s.pull("token/busybox:latest", None).await.unwrap();
    assert_eq!(
        report.record.manifest_digest,
        pushed_digest(&s.env_dir, &s.registry, "token/busybox:latest")
    );
    assert_eq!(report.fetched.len(), 1);
    assert_eq!(
        report.record.config.config.cmd,
        Some(vec!["sh".to_string()])
    );
    let fs = s.store.layer_fs(&report.record.layers[0].diff_id);
    assert!(fs.join("bin/busybox").is_file(), "{}", fs.display());
}

#[tokio::test]
async fn anonymous_pull_of_a_private_repository_is_refused() {
    let s = setup();
    let err = s
        .pull("token-private/busybox:latest", None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ImageError::AuthRefused { .. }), "{err:?}");
    assert!(text.contains("token-private/busybox"), "{text}");
    assert!(text.contains(&s.registry), "{text}");
}

#[tokio::test]
async fn credentials_buy_a_token_for_a_private_repository() {
    let s = setup();
    let report = s
        .pull("token-private/busybox:latest", Some(&s.good()))
        .await
        .unwrap();
    assert_eq!(
        report.record.manifest_digest,
        pushed_digest(&s.env_dir, &s.registry, "token-private/busybox:latest")
    );
    assert_eq!(report.fetched.len(), 1);
}

#[tokio::test]
async fn a_wrong_password_is_refused() {
    let s = setup();
    let err = s
        .pull("token-private/busybox:latest", Some(&s.bad()))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ImageError::AuthRefused { .. }), "{err:?}");
    assert!(text.contains("token-private/busybox"), "{text}");
    assert!(text.contains(&s.registry), "{text}");
    assert!(
        !text.contains(BAD_PASSWORD),
        "the password leaked into the error: {text}"
    );
}

/// The token server answers a wrong password with 401 and a reason; a user should see it
/// rather than the same "Not authorized" an anonymous pull gets. oci-client 0.18 drops it
/// on its implicit token request, so `Session` authenticates explicitly first.
#[tokio::test]
async fn a_wrong_password_names_the_token_servers_reason() {
    let s = setup();
    let err = s
        .pull("token-private/busybox:latest", Some(&s.bad()))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ImageError::AuthRefused { .. }), "{err:?}");
    assert!(text.contains("incorrect username or password"), "{text}");
}
