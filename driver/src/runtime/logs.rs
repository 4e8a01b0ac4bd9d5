//! A task's stdout and stderr as Nomad keeps them: `alloc/logs/<task>.stdout.N` and
//! `.stderr.N`, a new file when the current one reaches `max_file_size`, at most
//! `max_files` kept. A restarted task (a new shim) appends to the newest file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Nomad's `logs {}` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    /// The allocation's `alloc/logs` directory.
    pub dir: PathBuf,
    /// The task's name: files are `<name>.stdout.N`.
    pub name: String,
    pub max_files: u32,
    pub max_file_size: u64,
}

impl LogConfig {
    /// Nomad's defaults: 10 files of 10 MB.
    pub fn new(dir: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        LogConfig {
            dir: dir.into(),
            name: name.into(),
            max_files: 10,
            max_file_size: 10 << 20,
        }
    }
}

/// The shim writes as root into a directory the task can also reach (`/alloc/logs`):
/// never follow a symlink a hostile task planted there.
fn open_log(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// One stream's rotating files.
pub struct RotatingWriter {
    dir: PathBuf,
    prefix: String,
    max_files: u32,
    max_file_size: u64,
    index: u64,
    file: File,
    written: u64,
}

/// Indexes of existing `<prefix>.N` files, ascending.
pub fn indexes(dir: &Path, prefix: &str) -> io::Result<Vec<u64>> {
    let mut out: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix(prefix)?.strip_prefix('.')?.parse().ok()
        })
        .collect();
    out.sort_unstable();
    Ok(out)
}

impl RotatingWriter {
    /// Opens `<dir>/<name>.<stream>.N` for the newest N (0 if none).
    pub fn open(config: &LogConfig, stream: &str) -> io::Result<Self> {
        std::fs::create_dir_all(&config.dir)?;
        let prefix = format!("{}.{stream}", config.name);
        let index = indexes(&config.dir, &prefix)?.last().copied().unwrap_or(0);
        let path = config.dir.join(format!("{prefix}.{index}"));
        let file = open_log(&path)?;
        let written = file.metadata()?.len();
        Ok(RotatingWriter {
            dir: config.dir.clone(),
            prefix,
            max_files: config.max_files.max(1),
            max_file_size: config.max_file_size.max(1),
            index,
            file,
            written,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.index += 1;
        let path = self.dir.join(format!("{}.{}", self.prefix, self.index));
        self.file = open_log(&path)?;
        self.written = 0;
        let keep_from = (self.index + 1).saturating_sub(u64::from(self.max_files));
        for old in indexes(&self.dir, &self.prefix)? {
            if old < keep_from {
                let _ = std::fs::remove_file(self.dir.join(format!("{}.{old}", self.prefix)));
            }
        }
        Ok(())
    }

    /// Writes `data`, splitting it across files at the size limit.
    pub fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.written >= self.max_file_size {
                self.rotate()?;
            }
            let room = (self.max_file_size - self.written) as usize;
            let (now, rest) = data.split_at(room.min(data.len()));
            self.file.write_all(now)?;
            self.written += now.len() as u64;
            data = rest;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_keeps_max_files_and_appends_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            dir: dir.path().join("logs"),
            name: "redis".into(),
            max_files: 3,
            max_file_size: 10,
        };
        let mut w = RotatingWriter::open(&config, "stdout").unwrap();
        w.write_all(b"0123456789abcdefghij0123456789ABCDEFGHIJxyz")
            .unwrap();
        drop(w);
        assert_eq!(indexes(&config.dir, "redis.stdout").unwrap(), vec![2, 3, 4]);
        let read =
            |n: u64| std::fs::read_to_string(config.dir.join(format!("redis.stdout.{n}"))).unwrap();
        assert_eq!(read(3), "ABCDEFGHIJ");
        assert_eq!(read(4), "xyz");
        // A new shim for the same task continues the newest file.
        let mut w = RotatingWriter::open(&config, "stdout").unwrap();
        w.write_all(b"1234567").unwrap();
        assert_eq!(read(4), "xyz1234567");
        w.write_all(b"!").unwrap();
        assert_eq!(read(5), "!");
        assert_eq!(indexes(&config.dir, "redis.stdout").unwrap(), vec![3, 4, 5]);
    }
}
