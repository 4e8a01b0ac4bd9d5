//! `drover image …` as a user runs it: the real binary against the real test registry.

mod common;

use common::registry;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Data(tempfile::TempDir);

impl Data {
    fn new() -> Self {
        Data(
            tempfile::Builder::new()
                .prefix("drover-test-cli-")
                .tempdir_in("/var/tmp")
                .unwrap(),
        )
    }
    fn path(&self) -> PathBuf {
        self.0.path().to_path_buf()
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_drover"));
        c.args(["image"]).args(args);
        c.arg(format!("-data-dir={}", self.path().display()));
        c.args(["-registry-mirror", &format!("docker.io={}", registry())]);
        c.env("HOME", self.path());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn pull_list_rm_and_gc_from_the_command_line() {
    let data = Data::new();
    let out = data.run(&["pull", "redis:3.2"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("Pulling redis:3.2 (docker.io/library/redis:3.2)"),
        "{t}"
    );
    assert!(
        t.contains("Digest: sha256:") && t.contains("Downloaded newer image for redis:3.2"),
        "{t}"
    );

    let again = data.run(&["pull", "redis:3.2"]);
    assert!(
        text(&again).contains("Image is up to date for redis:3.2"),
        "{}",
        text(&again)
    );
    let out = data.run(&["pull", "busybox"]);
    assert!(out.status.success(), "{}", text(&out));

    let list = text(&data.run(&["list"]));
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].starts_with("Repository") && lines[0].contains("Image ID"),
        "{list}"
    );
    assert!(
        list.contains("docker.io/library/redis") && list.contains("3.2"),
        "{list}"
    );
    assert!(
        list.contains("docker.io/library/busybox") && list.contains("latest"),
        "{list}"
    );

    let layers = |d: &Data| {
        std::fs::read_dir(d.path().join("image/layers/sha256"))
            .unwrap()
            .count()
    };
    let before = layers(&data);
    let rm = data.run(&["rm", "redis:3.2"]);
    assert!(rm.status.success(), "{}", text(&rm));
    assert!(text(&rm).contains("Untagged: redis:3.2"), "{}", text(&rm));
    assert!(layers(&data) < before, "redis's layers were not deleted");
    assert!(!text(&data.run(&["list"])).contains("redis"));

    let rm = data.run(&["rm", "redis:3.2"]);
    assert!(!rm.status.success());
    assert!(
        text(&rm).contains("redis:3.2 is not in the local store"),
        "{}",
        text(&rm)
    );
    let gc = data.run(&["gc"]);
    assert!(
        text(&gc).contains("Removed 0 images, 0 layers"),
        "{}",
        text(&gc)
    );
}

#[test]
fn errors_name_the_image_and_registry_and_exit_non_zero() {
    let data = Data::new();
    let reg = registry();
    let missing = format!("{reg}/drover-test/missing:1");
    let out = data.run(&["pull", &missing]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(
        t.contains("Error:") && t.contains("drover-test/missing:1") && t.contains(&reg),
        "{t}"
    );
    let out = data.run(&["pull", "Not/Valid"]);
    assert!(
        text(&out).contains("invalid image reference \"Not/Valid\""),
        "{}",
        text(&out)
    );
}

/// kill -9 in the middle of a pull: the store holds only complete layers, the next run
/// clears the abandoned work, and a pull finishes the image.
#[test]
fn a_pull_killed_midway_leaves_only_complete_layers() {
    let data = Data::new();
    let image = format!("{}/drover-test/big:latest", registry());
    let mut child = data
        .cmd(&["pull", "-q", &image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tmp = data.path().join("image/tmp");
    let started = Instant::now();
    // Kill once unpacking is under way (work appears in tmp/), or after 5 s at the latest.
    while started.elapsed() < Duration::from_secs(5) {
        if std::fs::read_dir(&tmp)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
        {
            std::thread::sleep(Duration::from_millis(150));
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        std::fs::read_dir(&tmp).unwrap().count() > 0,
        "the pull was not killed mid-way"
    );

    let layers = data.path().join("image/layers/sha256");
    for layer in std::fs::read_dir(&layers).unwrap() {
        assert!(
            layer.unwrap().path().join("layer.json").is_file(),
            "incomplete layer in store"
        );
    }
    let out = data.run(&["pull", &image]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "abandoned work was not cleared"
    );
    assert_eq!(std::fs::read_dir(&layers).unwrap().count(), 5);
}
