//! Streaming behaviour: size and entry limits, header bombs, draining to EOF, and a
//! large incompressible file (microsandbox#790 regression guard).

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::rc::Rc;
use std::time::Instant;

use tar::EntryType;

use super::harness::*;
use crate::image::unpack::meter::HEADER_BUDGET;
use crate::image::unpack::{apply_layer, Applied, Limits, UnpackError};

/// Counts what `apply_layer` pulls from the reader and whether it saw EOF.
struct Counting<R> {
    inner: R,
    read: Rc<Cell<u64>>,
    eof: Rc<Cell<bool>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof.set(true);
        }
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

fn counting<R: Read>(inner: R) -> (Counting<R>, Rc<Cell<u64>>, Rc<Cell<bool>>) {
    let (read, eof) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let c = Counting {
        inner,
        read: read.clone(),
        eof: eof.clone(),
    };
    (c, read, eof)
}

/// A single header block for `name` of `kind` claiming `size` bytes of data.
fn header_block(kind: EntryType, name: &[u8], size: u64) -> Vec<u8> {
    let mut h = TarW::header(kind, 0o644);
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_size(size);
    h.set_cksum();
    h.as_bytes().to_vec()
}

fn limits(max_layer_bytes: u64) -> Limits {
    Limits {
        max_layer_bytes,
        ..Limits::default()
    }
}

#[test]
fn file_bomb_stops_at_the_layer_limit() {
    let sb = Sandbox::new();
    let limit = 64 << 20;
    // A 1 TiB file of zeros, produced lazily: never held anywhere.
    let stream =
        io::Cursor::new(header_block(EntryType::Regular, b"bomb", 1 << 40)).chain(io::repeat(0));
    let (reader, read, _) = counting(stream);
    let started = Instant::now();
    let err = apply_layer(reader, &sb.dest, &limits(limit)).unwrap_err();
    assert!(
        matches!(err, UnpackError::LayerTooLarge { limit: l } if l == limit),
        "{err:?}"
    );
    assert!(
        read.get() <= limit + 1,
        "read {} bytes past a {limit} limit",
        read.get()
    );
    eprintln!("file bomb stopped after {:?}", started.elapsed());
}

#[test]
fn trailing_zero_bomb_stops_at_the_layer_limit() {
    let sb = Sandbox::new();
    let limit = 8 << 20;
    let tar = TarW::new().file("f", "f", 0o644).finish();
    let (reader, read, _) = counting(io::Cursor::new(tar).chain(io::repeat(0)));
    let err = apply_layer(reader, &sb.dest, &limits(limit)).unwrap_err();
    assert!(matches!(err, UnpackError::LayerTooLarge { .. }), "{err:?}");
    assert!(read.get() <= limit + 1);
}

#[test]
fn extension_header_bombs_are_bounded() {
    for kind in [
        EntryType::GNULongName,
        EntryType::GNULongLink,
        EntryType::XHeader,
    ] {
        let sb = Sandbox::new();
        let head = header_block(kind, b"././@LongLink", 1 << 30);
        let (reader, read, _) = counting(io::Cursor::new(head).chain(io::repeat(b'a')));
        let err = apply_layer(reader, &sb.dest, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, UnpackError::HeaderTooLarge { .. }),
            "{kind:?}: {err:?}"
        );
        assert!(
            read.get() <= HEADER_BUDGET + 1,
            "{kind:?}: read {}",
            read.get()
        );
    }
}

#[test]
fn entry_limit() {
    let tar = |n: usize| {
        let mut t = TarW::new();
        for i in 0..n {
            t.file(&format!("f{i}"), "x", 0o644);
        }
        t.finish()
    };
    let at_most = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let sb = Sandbox::new();
    let applied = apply_layer(&tar(10)[..], &sb.dest, &at_most).unwrap();
    assert_eq!(applied.entries, 10);
    let sb = Sandbox::new();
    let err = apply_layer(&tar(11)[..], &sb.dest, &at_most).unwrap_err();
    assert!(
        matches!(err, UnpackError::TooManyEntries { limit: 10 }),
        "{err:?}"
    );
}

#[test]
fn trailing_bytes_are_drained_to_eof() {
    let sb = Sandbox::new();
    let mut tar = TarW::new()
        .dir("d", 0o755)
        .file("d/f", "hello", 0o644)
        .file("d/.wh.x", "", 0o644)
        .finish();
    // Record padding as tar(1) writes it, then junk: all of it is part of the blob.
    tar.extend(std::iter::repeat_n(0u8, 10240 - tar.len() % 10240));
    tar.extend(std::iter::repeat_n(0x5au8, 7000));
    let total = tar.len() as u64;
    let (reader, read, eof) = counting(io::Cursor::new(tar));
    let applied = apply_layer(reader, &sb.dest, &Limits::default()).unwrap();
    assert!(eof.get(), "reader not drained to EOF");
    assert_eq!(read.get(), total);
    assert_eq!(
        applied,
        Applied {
            entries: 3,
            tar_bytes: total,
            regular_bytes: 5
        }
    );
}

/// Pseudo-random bytes (xorshift64*), deterministic from a seed, in 64 KiB blocks.
struct Noise {
    state: u64,
    block: Vec<u8>,
    pos: usize,
}

impl Noise {
    fn new() -> Noise {
        Noise {
            state: 0x9e37_79b9_7f4a_7c15,
            block: vec![0; 64 << 10],
            pos: 64 << 10,
        }
    }

    fn refill(&mut self) {
        for word in self.block.chunks_exact_mut(8) {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            word.copy_from_slice(&self.state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        self.pos = 0;
    }

    fn fill(&mut self, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.block.len() {
                self.refill();
            }
            let n = (out.len() - done).min(self.block.len() - self.pos);
            out[done..done + n].copy_from_slice(&self.block[self.pos..self.pos + n]);
            self.pos += n;
            done += n;
        }
    }
}

/// A tar holding one file of `size` noise bytes, generated while it is read.
struct NoiseTar {
    head: io::Cursor<Vec<u8>>,
    noise: Noise,
    left: u64,
    tail: io::Cursor<Vec<u8>>,
}

impl Read for NoiseTar {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.head.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        if self.left > 0 {
            let n = buf
                .len()
                .min(usize::try_from(self.left).unwrap_or(usize::MAX));
            self.noise.fill(&mut buf[..n]);
            self.left -= n as u64;
            return Ok(n);
        }
        self.tail.read(buf)
    }
}

#[test]
fn large_incompressible_file_streams() {
    let sb = Sandbox::new();
    let size: u64 = 100 << 20;
    let padding = (512 - size % 512) % 512;
    let tar = NoiseTar {
        head: io::Cursor::new(header_block(EntryType::Regular, b"big", size)),
        noise: Noise::new(),
        left: size,
        tail: io::Cursor::new(vec![0; padding as usize + 1024]),
    };
    let started = Instant::now();
    let applied = apply_layer(tar, &sb.dest, &Limits::default()).unwrap();
    eprintln!(
        "100 MiB incompressible file unpacked in {:?}",
        started.elapsed()
    );
    assert_eq!(applied.regular_bytes, size);
    assert_eq!(applied.tar_bytes, 512 + size + padding + 1024);

    let mut file = File::open(sb.at("big")).unwrap();
    let (mut expected, mut noise) = (vec![0u8; 1 << 20], Noise::new());
    let mut got = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = (1u64 << 20).min(left) as usize;
        file.read_exact(&mut got[..n]).unwrap();
        noise.fill(&mut expected[..n]);
        assert!(
            got[..n] == expected[..n],
            "content differs at offset {}",
            size - left
        );
        left -= n as u64;
    }
    assert_eq!(file.read(&mut got).unwrap(), 0, "file longer than {size}");
}
