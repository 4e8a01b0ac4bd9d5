//! Nomad's allocation directory on the node:
//!
//! ```text
//! <alloc_dir>/<alloc id>/alloc/{logs,data,tmp}    shared by the tasks: /alloc inside
//! <alloc_dir>/<alloc id>/<task>/{local,secrets,tmp}  /local, /secrets, /tmp inside
//! <alloc_dir>/<alloc id>/<task>/.drover/            the driver's state (shim, rootfs)
//! ```

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use drover_driver::runtime::drivers::TaskDirs;

#[derive(Debug, Clone)]
pub struct AllocDir {
    pub root: PathBuf,
}

impl AllocDir {
    pub fn new(base: &Path, alloc_id: &str) -> Self {
        AllocDir {
            root: base.join(alloc_id),
        }
    }

    /// The shared `alloc/` directory.
    pub fn shared(&self) -> PathBuf {
        self.root.join("alloc")
    }

    pub fn logs(&self) -> PathBuf {
        self.shared().join("logs")
    }

    pub fn task(&self, task: &str) -> PathBuf {
        self.root.join(task)
    }

    /// Driver state: spec, shim log, exit record, overlay upper/work dirs.
    pub fn task_state(&self, task: &str) -> PathBuf {
        self.task(task).join(".drover")
    }

    pub fn task_dirs(&self, task: &str) -> TaskDirs {
        TaskDirs {
            alloc: self.shared(),
            local: self.task(task).join("local"),
            secrets: self.task(task).join("secrets"),
        }
    }

    /// Creates the shared directories (Nomad's "Building Task Directory" creates the
    /// task's own). Idempotent.
    pub fn build(&self) -> io::Result<()> {
        for sub in ["logs", "data", "tmp"] {
            let dir = self.shared().join(sub);
            std::fs::create_dir_all(&dir)?;
            // Tasks run as any user; like /tmp, writable by all, sticky.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777))?;
        }
        std::fs::set_permissions(self.shared(), std::fs::Permissions::from_mode(0o755))?;
        Ok(())
    }

    pub fn build_task(&self, task: &str) -> io::Result<()> {
        let dir = self.task(task);
        for (sub, mode) in [("local", 0o1777), ("tmp", 0o1777), ("secrets", 0o1777)] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d)?;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode))?;
        }
        let state = self.task_state(task);
        std::fs::create_dir_all(&state)?;
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700))?;
        Ok(())
    }

    /// Removes the whole directory (GC). Mounts inside belong to tasks' own mount
    /// namespaces, so nothing here is mounted on the host.
    pub fn destroy(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_nomads() {
        let tmp = std::env::temp_dir().join(format!("drover-allocdir-{}", std::process::id()));
        let dir = AllocDir::new(&tmp, "a1");
        dir.build().unwrap();
        dir.build_task("redis").unwrap();
        for p in [
            "a1/alloc/logs",
            "a1/alloc/data",
            "a1/alloc/tmp",
            "a1/redis/local",
            "a1/redis/secrets",
            "a1/redis/tmp",
        ] {
            assert!(tmp.join(p).is_dir(), "{p}");
        }
        dir.destroy().unwrap();
        assert!(!tmp.join("a1").exists());
        dir.destroy().unwrap();
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
