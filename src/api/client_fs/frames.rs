//! Nomad's `StreamFrame`s: `{"Offset", "Data" (base64), "File", "FileEvent"}` objects
//! concatenated without a delimiter, `{}` as the heartbeat.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Data per frame at most (Nomad's frame size).
pub const FRAME_SIZE: usize = 64 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StreamFrame {
    /// The file offset just after `Data`.
    #[serde(skip_serializing_if = "is_zero")]
    pub offset: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub data: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// `file deleted` or `file truncated`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file_event: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub const FILE_TRUNCATED: &str = "file truncated";
pub const FILE_DELETED: &str = "file deleted";

impl StreamFrame {
    pub fn data(file: &str, bytes: &[u8], offset_after: u64) -> StreamFrame {
        StreamFrame {
            offset: offset_after,
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
            file: file.to_string(),
            file_event: String::new(),
        }
    }

    pub fn event(file: &str, event: &str, offset: u64) -> StreamFrame {
        StreamFrame {
            offset,
            data: String::new(),
            file: file.to_string(),
            file_event: event.to_string(),
        }
    }

    pub fn is_heartbeat(&self) -> bool {
        *self == StreamFrame::default()
    }

    /// The decoded data (empty when the base64 is bad, which our own server never sends).
    pub fn bytes(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .unwrap_or_default()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// Frames out of a byte stream that may split them anywhere (the CLI's side).
#[derive(Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    /// Adds `bytes` and returns every frame now complete; a malformed stream is an error.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<StreamFrame>, serde_json::Error> {
        self.buf.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut consumed = 0;
        {
            let mut stream =
                serde_json::Deserializer::from_slice(&self.buf).into_iter::<StreamFrame>();
            loop {
                match stream.next() {
                    Some(Ok(frame)) => {
                        frames.push(frame);
                        consumed = stream.byte_offset();
                    }
                    Some(Err(e)) if e.is_eof() => break,
                    Some(Err(e)) => return Err(e),
                    None => break,
                }
            }
        }
        self.buf.drain(..consumed);
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_split_anywhere() {
        let frames = [
            StreamFrame::data("alloc/logs/web.stdout.0", b"hello\n", 6),
            StreamFrame::default(),
            StreamFrame::event("alloc/logs/web.stdout.0", FILE_TRUNCATED, 0),
            StreamFrame::data("alloc/logs/web.stdout.1", &[0, 255, 10], 3),
        ];
        let wire: Vec<u8> = frames.iter().flat_map(StreamFrame::encode).collect();
        assert!(String::from_utf8_lossy(&wire)
            .starts_with(r#"{"Offset":6,"Data":"aGVsbG8K","File":"alloc/logs/web.stdout.0"}{}"#));
        for step in [1, 3, 7, wire.len()] {
            let mut decoder = FrameDecoder::default();
            let got: Vec<StreamFrame> = wire
                .chunks(step)
                .flat_map(|c| decoder.push(c).unwrap())
                .collect();
            assert_eq!(got, frames, "chunks of {step}");
        }
        assert_eq!(frames[3].bytes(), [0, 255, 10]);
        assert!(frames[1].is_heartbeat());
        assert!(FrameDecoder::default().push(b"{]").is_err());
    }
}
