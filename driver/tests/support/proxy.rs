//! A small HTTP/1.1 forwarding proxy between drover and the real test registry. It
//! counts requests and can break blob responses the way networks do: a connection reset
//! part-way through, or a flipped byte. Each client request gets a fresh upstream
//! connection, so responses are delimited by Content-Length alone.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Send this many body bytes of a blob response larger than that, then reset.
    ResetBlobAfter {
        bytes: u64,
        times: u32,
    },
    /// Flip one byte in the middle of blob responses.
    CorruptBlob {
        times: u32,
    },
}

#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
}

struct Shared {
    upstream: String,
    fault: Mutex<Fault>,
    log: Mutex<Vec<Request>>,
    stop: AtomicBool,
}

pub struct Proxy {
    pub addr: String,
    shared: Arc<Shared>,
}

impl Proxy {
    pub fn start(upstream: &str, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            fault: Mutex::new(fault),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                thread::spawn(move || {
                    let _ = serve(conn, &s);
                });
            }
        });
        Proxy { addr, shared }
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.shared.log.lock().unwrap().clear();
    }

    /// GETs of blobs whose digest is in `digests`.
    pub fn blob_gets(&self, digests: &[String]) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                r.method == "GET"
                    && digests
                        .iter()
                        .any(|d| r.path.contains(&format!("/blobs/{d}")))
            })
            .count()
    }

    pub fn all_blob_gets(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
            .count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}

fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(if head.is_empty() { None } else { Some(head) });
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" || line == b"\n" {
            return Ok(Some(head));
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn serve(client: TcpStream, s: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client_w = client;
    while let Some(head) = read_head(&mut reader)? {
        let text = String::from_utf8_lossy(&head).to_string();
        let mut first = text.lines().next().unwrap_or("").split(' ');
        let req = Request {
            method: first.next().unwrap_or("").to_string(),
            path: first.next().unwrap_or("").to_string(),
            range: header(&text, "range").map(str::to_string),
        };
        s.log.lock().unwrap().push(req.clone());

        let mut up = TcpStream::connect(&s.upstream)?;
        up.write_all(&head)?;
        let mut up_r = BufReader::new(up.try_clone()?);
        let Some(resp_head) = read_head(&mut up_r)? else {
            return Ok(());
        };
        let resp = String::from_utf8_lossy(&resp_head).to_string();
        let status: u16 = resp
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let len: u64 = header(&resp, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let has_body = req.method != "HEAD" && status != 204 && status != 304;
        client_w.write_all(&resp_head)?;
        if !has_body {
            continue;
        }
        let is_blob = req.path.contains("/blobs/") && (status == 200 || status == 206);
        let fault = *s.fault.lock().unwrap();
        let mut body = vec![0u8; len as usize];
        up_r.read_exact(&mut body)?;
        let _ = up.shutdown(Shutdown::Both);
        match fault {
            Fault::ResetBlobAfter { bytes, times } if is_blob && times > 0 && len > bytes => {
                *s.fault.lock().unwrap() = Fault::ResetBlobAfter {
                    bytes,
                    times: times - 1,
                };
                client_w.write_all(&body[..bytes as usize])?;
                client_w.flush()?;
                // Linger 0 makes close send RST, as a dropped connection does.
                let _ = rustix::net::sockopt::set_socket_linger(
                    &client_w,
                    Some(std::time::Duration::ZERO),
                );
                return Ok(());
            }
            Fault::CorruptBlob { times } if is_blob && times > 0 && len > 0 => {
                *s.fault.lock().unwrap() = Fault::CorruptBlob { times: times - 1 };
                let mid = body.len() / 2;
                body[mid] ^= 0xff;
            }
            _ => {}
        }
        client_w.write_all(&body)?;
    }
    Ok(())
}
