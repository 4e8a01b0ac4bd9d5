//! The synchronous half of a layer pull: bytes arrive from the network over a bounded
//! channel, are hashed as they come (the blob digest), decompressed by what their magic
//! bytes say (not by the media type alone), hashed again (the diff_id) and unpacked.

use std::io::{self, BufRead, BufReader, Read};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// A `Read` over chunks sent by the async downloader, hashing everything it yields.
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    hasher: Sha256,
    bytes: u64,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        ChannelReader {
            rx,
            current: Bytes::new(),
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Reads to the end (the digest covers every byte, even after the tar's end marker)
    /// and returns the digest and byte count.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.bytes,
        ))
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        let chunk = self.current.split_to(n);
        buf[..n].copy_from_slice(&chunk);
        self.hasher.update(&chunk);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Passes bytes through while hashing them (the uncompressed tar: the diff_id).
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    pub fn digest(self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

/// containerd's rule: trust magic bytes, not the media type. gzip `1f 8b 08`; zstd frame
/// `28 b5 2f fd` or a skippable frame `5? 2a 4d 18`.
pub fn sniff(head: &[u8]) -> Compression {
    match head {
        [0x1f, 0x8b, 0x08, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [b0, 0x2a, 0x4d, 0x18, ..] if b0 & 0xf0 == 0x50 => Compression::Zstd,
        _ => Compression::None,
    }
}

/// Wraps `input` in the decoder its first bytes call for. gzip may be multi-member.
pub fn decompress<'a, R: Read + 'a>(input: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut buffered = BufReader::with_capacity(256 * 1024, input);
    let kind = sniff(buffered.fill_buf()?);
    let reader: Box<dyn Read + 'a> = match kind {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
        Compression::None => Box::new(buffered),
    };
    Ok((kind, reader))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(compressed: Vec<u8>, expect: Compression, plain: &[u8]) {
        let (kind, mut r) = decompress(&compressed[..]).unwrap();
        assert_eq!(kind, expect);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn decodes_by_magic_including_multi_member_gzip_and_skippable_zstd() {
        let plain = b"hello layer".repeat(1000);
        // Two gzip members back to back decode as one stream.
        let mut gz = Vec::new();
        for half in plain.chunks(plain.len() / 2) {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(half).unwrap();
            gz.extend(e.finish().unwrap());
        }
        roundtrip(gz, Compression::Gzip, &plain);
        // A skippable frame (magic 0x184D2A50, 4-byte length) before the data frame.
        let mut zs = vec![0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3];
        zs.extend(zstd::encode_all(&plain[..], 3).unwrap());
        roundtrip(zs, Compression::Zstd, &plain);
        roundtrip(plain.clone(), Compression::None, &plain);
    }

    #[test]
    fn channel_reader_hashes_all_bytes_and_reports_errors() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"abc"))).unwrap();
        tx.try_send(Ok(Bytes::from_static(b"def"))).unwrap();
        drop(tx);
        let mut r = ChannelReader::new(rx);
        let mut two = [0u8; 2];
        r.read_exact(&mut two).unwrap();
        let (digest, n) = r.finish().unwrap();
        assert_eq!(n, 6);
        assert_eq!(
            digest,
            "sha256:bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721"
        );
        let (tx, rx) = mpsc::channel(1);
        tx.try_send(Err(io::Error::other("connection reset")))
            .unwrap();
        let err = ChannelReader::new(rx).read(&mut [0; 4]).unwrap_err();
        assert!(err.to_string().contains("reset"));
    }
}
