//! A raw TCP client for the connection limits: connections that dawdle, trickle half a
//! request, or count against a cap, which an HTTP client library would never produce.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::TestApp;

/// One TCP connection to the app.
pub struct RawConn {
    stream: TcpStream,
}

/// A response read off a raw connection.
pub struct RawResponse {
    pub status: u16,
    /// Lower-cased header names.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl RawConn {
    pub async fn open(app: &TestApp) -> RawConn {
        RawConn {
            stream: TcpStream::connect(app.addr).await.unwrap(),
        }
    }

    pub async fn send(&mut self, bytes: &str) {
        self.stream.write_all(bytes.as_bytes()).await.unwrap();
    }

    /// A complete keep-alive `GET` for `path`.
    pub async fn send_get(&mut self, path: &str) {
        self.send(&format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n"))
            .await;
    }

    /// Reads one response (headers, then a `content-length` body) within 5 s.
    pub async fn read_response(&mut self) -> RawResponse {
        let mut buf = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let mut lines = head.split("\r\n");
                let status = lines.next().unwrap().split(' ').nth(1).unwrap();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .map_or(0, |(_, v)| v.parse().unwrap());
                while buf.len() < end + 4 + length {
                    self.read_more(&mut buf, deadline).await;
                }
                let body =
                    serde_json::from_slice(&buf[end + 4..end + 4 + length]).unwrap_or(Value::Null);
                return RawResponse {
                    status: status.parse().unwrap(),
                    headers,
                    body,
                };
            }
            self.read_more(&mut buf, deadline).await;
        }
    }

    async fn read_more(&mut self, buf: &mut Vec<u8>, deadline: Instant) {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline.into(), self.stream.read(&mut chunk))
            .await
            .expect("no response within 5 s")
            .expect("read failed");
        assert!(n > 0, "the connection closed before a whole response");
        buf.extend_from_slice(&chunk[..n]);
    }

    /// Waits up to `limit` for the server to close the connection; returns how long it took
    /// (None: still open). Bytes the server sends meanwhile are discarded.
    pub async fn closed_within(&mut self, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut chunk = [0u8; 4096];
        loop {
            let left = limit.checked_sub(started.elapsed())?;
            match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
                Err(_) => return None,
                Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
                Ok(Ok(_)) => {}
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
