//! Streaming a file, or a task's rotated log files, to a client: where to start
//! (`origin`/`offset` across the rotated files), then read, frame and follow.
//!
//! The producer is one tokio task writing into a bounded channel the response body
//! reads from: a slow reader holds it back, a gone reader ends it (the next send or the
//! idle wait fails), and so does the allocation's log directory disappearing.

use std::io::SeekFrom;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::frames::{StreamFrame, FILE_DELETED, FILE_TRUNCATED, FRAME_SIZE};
use super::root::{AllocRoot, FsError};

/// How often a follower looks for new data.
const POLL: Duration = Duration::from_millis(200);
/// An idle framed stream sends `{}` this often.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Buffered chunks between the producer and the response body.
pub const CHANNEL: usize = 8;

pub type Chunk = Result<Bytes, std::io::Error>;

/// What to stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `alloc/logs/<task>.<kind>.N`, N ascending.
    Logs { task: String, kind: String },
    /// One file of the alloc dir.
    File { path: String },
}

impl Source {
    fn path(&self, index: u64) -> String {
        match self {
            Source::Logs { task, kind } => format!("alloc/logs/{task}.{kind}.{index}"),
            Source::File { path } => path.trim_start_matches('/').to_string(),
        }
    }

    /// The indexes present now, ascending (one pseudo-index 0 for a file); `Err` when the
    /// directory itself is gone.
    pub fn indexes(&self, root: &AllocRoot) -> Result<Vec<u64>, FsError> {
        match self {
            Source::Logs { task, kind } => {
                let prefix = format!("{task}.{kind}.");
                let mut out: Vec<u64> = root
                    .list("alloc/logs")?
                    .into_iter()
                    .filter(|f| !f.is_dir)
                    .filter_map(|f| f.name.strip_prefix(&prefix)?.parse().ok())
                    .collect();
                out.sort_unstable();
                Ok(out)
            }
            Source::File { path } => root.open_file(path).map(|_| vec![0]),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    pub source: Source,
    /// `origin=end`: `offset` counts back from the end of the newest file.
    pub from_end: bool,
    pub offset: u64,
    pub follow: bool,
    /// Raw bytes instead of frames.
    pub plain: bool,
    /// Stop after this many bytes (`fs/readat`).
    pub limit: Option<u64>,
}

/// Where reading starts: (index, offset in that file), given the files' sizes ascending.
pub fn start_position(files: &[(u64, u64)], from_end: bool, offset: u64) -> (u64, u64) {
    let Some(&(first, _)) = files.first() else {
        return (0, 0);
    };
    if from_end {
        let mut back = offset;
        for &(index, size) in files.iter().rev() {
            if back <= size {
                return (index, size - back);
            }
            back -= size;
        }
        (first, 0)
    } else {
        let mut ahead = offset;
        for &(index, size) in files {
            if ahead < size {
                return (index, ahead);
            }
            ahead -= size;
        }
        let &(last, size) = files.last().expect("not empty");
        (last, size)
    }
}

fn file_size(root: &AllocRoot, path: &str) -> Option<u64> {
    root.open_file(path).ok()?.metadata().ok().map(|m| m.len())
}

/// Starts the producer; the receiver feeds the response body.
pub fn spawn(root: Arc<AllocRoot>, req: StreamRequest) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel(CHANNEL);
    tokio::spawn(async move {
        if let Err(e @ (Stop::Fs(_) | Stop::Io(_))) = produce(&root, &req, &tx).await {
            tracing::debug!(alloc_dir = %root.path.display(), error = %e, "file stream ended");
        }
    });
    rx
}

/// Why a stream stopped early.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("the reader went away")]
    Gone,
    #[error("the limit was reached")]
    Limit,
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Batches data per file into frames of at most [`FRAME_SIZE`] (or passes bytes through
/// with `plain`), and remembers when it last sent anything, for heartbeats.
struct Out<'a> {
    tx: &'a mpsc::Sender<Chunk>,
    plain: bool,
    last_sent: Instant,
    remaining: Option<u64>,
}

impl Out<'_> {
    async fn send(&mut self, bytes: Vec<u8>) -> Result<(), Stop> {
        self.last_sent = Instant::now();
        self.tx
            .send(Ok(Bytes::from(bytes)))
            .await
            .map_err(|_| Stop::Gone)
    }

    async fn data(&mut self, file: &str, data: &[u8], offset_after: u64) -> Result<(), Stop> {
        if data.is_empty() {
            return Ok(());
        }
        let data = match self.remaining {
            Some(0) => return Err(Stop::Limit),
            Some(r) => &data[..data.len().min(r as usize)],
            None => data,
        };
        if let Some(r) = &mut self.remaining {
            *r -= data.len() as u64;
        }
        if self.plain {
            self.send(data.to_vec()).await?;
        } else {
            self.send(StreamFrame::data(file, data, offset_after).encode())
                .await?;
        }
        if self.remaining == Some(0) {
            return Err(Stop::Limit);
        }
        Ok(())
    }

    async fn event(&mut self, file: &str, event: &str, offset: u64) -> Result<(), Stop> {
        if self.plain {
            return Ok(());
        }
        self.send(StreamFrame::event(file, event, offset).encode())
            .await
    }

    /// Waits one poll interval, sending a heartbeat when the stream has been idle; ends
    /// early when the reader is gone.
    async fn idle(&mut self) -> Result<(), Stop> {
        tokio::select! {
            _ = self.tx.closed() => return Err(Stop::Gone),
            _ = tokio::time::sleep(POLL) => {}
        }
        if !self.plain && self.last_sent.elapsed() >= HEARTBEAT {
            self.send(b"{}".to_vec()).await?;
        }
        Ok(())
    }
}

async fn produce(
    root: &AllocRoot,
    req: &StreamRequest,
    tx: &mpsc::Sender<Chunk>,
) -> Result<(), Stop> {
    let mut out = Out {
        tx,
        plain: req.plain,
        last_sent: Instant::now(),
        remaining: req.limit,
    };
    let indexes = req.source.indexes(root)?;
    let sizes: Vec<(u64, u64)> = indexes
        .iter()
        .map(|&i| (i, file_size(root, &req.source.path(i)).unwrap_or(0)))
        .collect();
    let last_at_start = indexes.last().copied().unwrap_or(0);
    let (mut index, mut offset) = start_position(&sizes, req.from_end, req.offset);
    let mut buf = vec![0u8; FRAME_SIZE];
    loop {
        let path = req.source.path(index);
        let mut file = match root.open_file(&path) {
            Ok(f) => tokio::fs::File::from_std(f),
            Err(FsError::NotFound { .. }) => {
                // Rotated away while we were behind: go on with the oldest newer file.
                out.event(&path, FILE_DELETED, offset).await?;
                match req.source.indexes(root)?.into_iter().find(|&i| i > index) {
                    Some(next) => {
                        (index, offset) = (next, 0);
                        continue;
                    }
                    None => return Ok(()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        if file.metadata().await?.len() < offset {
            out.event(&path, FILE_TRUNCATED, 0).await?;
            offset = 0;
        }
        file.seek(SeekFrom::Start(offset)).await?;
        // Read to the end of this file, then decide: next file, wait, or stop.
        loop {
            let n = file.read(&mut buf).await?;
            if n > 0 {
                offset += n as u64;
                out.data(&path, &buf[..n], offset).await?;
                continue;
            }
            let newer = req.source.indexes(root)?.into_iter().find(|&i| i > index);
            if let Some(next) = newer {
                // A writer rotates only after finishing a file: read its tail, move on.
                let n = file.read(&mut buf).await?;
                if n > 0 {
                    offset += n as u64;
                    out.data(&path, &buf[..n], offset).await?;
                    continue;
                }
                (index, offset) = (next, 0);
                break;
            }
            if !req.follow && index >= last_at_start {
                return Ok(());
            }
            out.idle().await?;
            match file_size(root, &path) {
                Some(size) if size < offset => {
                    out.event(&path, FILE_TRUNCATED, 0).await?;
                    offset = 0;
                    file.seek(SeekFrom::Start(0)).await?;
                }
                Some(_) => {}
                // Deleted under us: the next listing finds a newer file or we end.
                None => match req.source.indexes(root)?.into_iter().find(|&i| i > index) {
                    Some(next) => {
                        (index, offset) = (next, 0);
                        break;
                    }
                    None => return Ok(()),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::frames::FrameDecoder;
    use super::*;

    #[test]
    fn start_positions_walk_rotated_files() {
        let files = [(3, 10), (4, 10), (5, 4)];
        let cases = [
            (false, 0, (3, 0)),
            (false, 9, (3, 9)),
            (false, 10, (4, 0)),
            (false, 23, (5, 3)),
            (false, 99, (5, 4)),
            (true, 0, (5, 4)),
            (true, 4, (5, 0)),
            (true, 5, (4, 9)),
            (true, 24, (3, 0)),
            (true, 1000, (3, 0)),
        ];
        for (from_end, offset, want) in cases {
            assert_eq!(
                start_position(&files, from_end, offset),
                want,
                "from_end={from_end} offset={offset}"
            );
        }
        assert_eq!(start_position(&[], true, 5), (0, 0));
    }

    fn logs_dir(files: &[(&str, &str)]) -> (tempfile::TempDir, Arc<AllocRoot>) {
        let tmp = tempfile::tempdir().unwrap();
        let logs = tmp.path().join("alloc/logs");
        std::fs::create_dir_all(&logs).unwrap();
        for (name, text) in files {
            std::fs::write(logs.join(name), text).unwrap();
        }
        let root = Arc::new(AllocRoot::open(tmp.path()).unwrap());
        (tmp, root)
    }

    async fn collect(mut rx: mpsc::Receiver<Chunk>) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = rx.recv().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    fn logs(task: &str, from_end: bool, offset: u64, plain: bool) -> StreamRequest {
        StreamRequest {
            source: Source::Logs {
                task: task.into(),
                kind: "stdout".into(),
            },
            from_end,
            offset,
            follow: false,
            plain,
            limit: None,
        }
    }

    #[tokio::test]
    async fn reads_across_rotated_files_and_stops_at_the_end() {
        let (_tmp, root) = logs_dir(&[
            ("web.stdout.1", "one\n"),
            ("web.stdout.2", "two\n"),
            ("web.stdout.10", "ten\n"),
            ("web.stderr.1", "err\n"),
            ("webx.stdout.1", "other task\n"),
        ]);
        let cases = [
            (false, 0, "one\ntwo\nten\n"),
            (false, 5, "wo\nten\n"),
            (true, 5, "\nten\n"),
            (true, 0, ""),
        ];
        for (from_end, offset, want) in cases {
            let got = collect(spawn(root.clone(), logs("web", from_end, offset, true))).await;
            assert_eq!(String::from_utf8(got).unwrap(), want, "{from_end} {offset}");
        }
        let framed = collect(spawn(root.clone(), logs("web", false, 0, false))).await;
        let frames = FrameDecoder::default().push(&framed).unwrap();
        let summary: Vec<(String, u64, Vec<u8>)> = frames
            .iter()
            .map(|f| (f.file.clone(), f.offset, f.bytes()))
            .collect();
        assert_eq!(
            summary,
            [
                ("alloc/logs/web.stdout.1".into(), 4, b"one\n".to_vec()),
                ("alloc/logs/web.stdout.2".into(), 4, b"two\n".to_vec()),
                ("alloc/logs/web.stdout.10".into(), 4, b"ten\n".to_vec()),
            ]
        );
    }

    #[tokio::test]
    async fn follows_rotation_and_ends_when_the_reader_goes() {
        let (tmp, root) = logs_dir(&[("web.stdout.0", "a")]);
        let mut req = logs("web", false, 0, true);
        req.follow = true;
        let mut rx = spawn(root, req);
        assert_eq!(&rx.recv().await.unwrap().unwrap()[..], b"a");
        let dir = tmp.path().join("alloc/logs");
        let append = |name: &str, text: &str| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        append("web.stdout.0", "b");
        assert_eq!(&rx.recv().await.unwrap().unwrap()[..], b"b");
        append("web.stdout.1", "cc");
        assert_eq!(&rx.recv().await.unwrap().unwrap()[..], b"cc");
        // Truncation (to less than was read) starts the file over.
        std::fs::write(dir.join("web.stdout.1"), "d").unwrap();
        let mut rest = Vec::new();
        while rest != b"d" {
            rest.extend_from_slice(&rx.recv().await.unwrap().unwrap());
        }
        drop(rx);
        // The alloc dir going away also ends a follower.
        let (tmp, root) = logs_dir(&[("web.stdout.0", "x")]);
        let mut req = logs("web", false, 0, false);
        req.follow = true;
        let mut rx = spawn(root, req);
        assert!(rx.recv().await.is_some());
        std::fs::remove_dir_all(tmp.path().join("alloc")).unwrap();
        while let Some(chunk) = rx.recv().await {
            let frames = FrameDecoder::default().push(&chunk.unwrap()).unwrap();
            assert!(frames.iter().all(|f| f.data.is_empty()), "{frames:?}");
        }
    }
}
