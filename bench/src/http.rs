//! A minimal HTTP/1.1 client over one keep-alive `TcpStream`: the lightest
//! way to hold thousands of long polls or event streams from one process (a
//! few hundred bytes of buffer per connection, no connection pool).

use std::io;
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// One keep-alive connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// An event stream's body, de-chunked, not yet split into events.
    events: Vec<u8>,
}

/// A response's head: what it takes to read its body.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    length: Option<usize>,
    chunked: bool,
}

/// A response: status, and the body (de-chunked).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One block of a Server-Sent Events stream.
#[derive(Debug)]
pub enum Sse {
    /// An event: its `data` lines, joined by `\n`.
    Event(Vec<u8>),
    /// A block of comment lines only: a heartbeat.
    Heartbeat,
}

/// The `code` field of a JSON text, if any.
pub fn json_code(json: &[u8]) -> Option<i64> {
    serde_json::from_slice::<serde_json::Value>(json)
        .ok()?
        .get("code")?
        .as_i64()
}

impl Response {
    /// The `code` field of a JSON body, if any.
    pub fn json_code(&self) -> Option<i64> {
        json_code(&self.body)
    }

    /// A string field of a JSON body.
    pub fn json_str(&self, key: &str) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()?
            .get(key)?
            .as_str()
            .map(str::to_owned)
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Conn {
    /// Connects to `addr`, from `source` (another loopback address, to get
    /// more ephemeral ports) when given.
    pub async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<Self> {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(512),
            events: Vec::new(),
        })
    }

    pub async fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.stream.write_all(request).await
    }

    /// Reads one response (Content-Length or chunked body).
    pub async fn recv(&mut self) -> io::Result<Response> {
        let head = self.recv_head().await?;
        let body = self.recv_body(&head).await?;
        Ok(Response {
            status: head.status,
            body,
        })
    }

    /// The whole body of the response whose `head` was just read.
    pub async fn recv_body(&mut self, head: &Head) -> io::Result<Vec<u8>> {
        if head.chunked {
            let mut body = Vec::new();
            while let Some(chunk) = self.read_chunk().await? {
                body.extend_from_slice(&chunk);
            }
            return Ok(body);
        }
        let length = head.length.unwrap_or(0);
        while self.buf.len() < length {
            self.fill().await?;
        }
        Ok(self.buf.drain(..length).collect())
    }

    /// Reads a response's head only, leaving its body to be read.
    pub async fn recv_head(&mut self) -> io::Result<Head> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| invalid("response head is not UTF-8"))?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| invalid(format!("bad status line: {head:.60}")))?;
        let mut length = None;
        let mut chunked = false;
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| invalid("bad content-length"))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
        self.buf.drain(..head_end);
        Ok(Head {
            status,
            length,
            chunked,
        })
    }

    /// The next block of an event stream whose head [`Conn::recv_head`]
    /// read (a chunked `text/event-stream` body). An error once the stream
    /// has ended.
    pub async fn next_event(&mut self) -> io::Result<Sse> {
        loop {
            if let Some(end) = find(&self.events, b"\n\n") {
                let block: Vec<u8> = self.events.drain(..end + 2).collect();
                let mut data: Option<Vec<u8>> = None;
                for line in block.split(|&b| b == b'\n') {
                    if let Some(value) = line.strip_prefix(b"data:") {
                        let value = value.strip_prefix(b" ").unwrap_or(value);
                        match &mut data {
                            Some(d) => {
                                d.push(b'\n');
                                d.extend_from_slice(value);
                            }
                            None => data = Some(value.to_vec()),
                        }
                    }
                }
                return Ok(data.map_or(Sse::Heartbeat, Sse::Event));
            }
            match self.read_chunk().await? {
                Some(chunk) => self.events.extend_from_slice(&chunk),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the event stream ended",
                    ));
                }
            }
        }
    }

    /// `send` then `recv`.
    pub async fn call(&mut self, request: &[u8]) -> io::Result<Response> {
        self.send(request).await?;
        self.recv().await
    }

    /// One chunk of a chunked body; `None` for the last (empty) one.
    async fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let line_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                break i;
            }
            self.fill().await?;
        };
        let size_text =
            std::str::from_utf8(&self.buf[..line_end]).map_err(|_| invalid("bad chunk size"))?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| invalid("bad chunk size"))?;
        self.buf.drain(..line_end + 2);
        while self.buf.len() < size + 2 {
            self.fill().await?;
        }
        let chunk = self.buf[..size].to_vec();
        self.buf.drain(..size + 2);
        Ok((size > 0).then_some(chunk))
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A GET request with optional extra header lines (each ending in `\r\n`).
pub fn get(path: &str, extra_headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{extra_headers}\r\n").into_bytes()
}

/// A POST request with a body.
pub fn post(path: &str, extra_headers: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\n{extra_headers}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
