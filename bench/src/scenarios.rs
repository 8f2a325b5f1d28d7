//! The measurements: thousands of held long polls or open event streams
//! (memory, hold accuracy), wake-up latency with them held, and request rates.

use crate::http::{self, Conn, Response, Sse};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

/// Which server a scenario talks to, and how: the request shapes differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// qrlogin's long poll, `GET /api/qr/{id}/status`.
    Qrlogin,
    /// qrlogin's event stream, `GET /api/qr/{id}/events`: held open, not
    /// answered, so a background connection holds one stream.
    QrloginSse,
    /// `bench-hello`'s naive axum long poll.
    Naive,
    Nchan,
}

impl Kind {
    /// Talks to qrlogin (needs QR sessions created first).
    pub fn is_qrlogin(self) -> bool {
        matches!(self, Self::Qrlogin | Self::QrloginSse)
    }
}

/// A QR session as its browser knows it.
#[derive(Clone, Debug)]
pub struct Qr {
    pub id: String,
    pub token: String,
}

/// Loopback source addresses for held connections: 16 × the ephemeral port
/// range, so back-to-back runs never run out of ports (TIME_WAIT).
fn source_ip(i: usize) -> IpAddr {
    let last = u8::try_from(2 + i % 16).unwrap_or(2);
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// The request that holds background poll number `i` for `wait` seconds
/// (an event stream: until the harness closes it).
pub fn background_request(kind: Kind, i: usize, qrs: &[Qr], wait: u64) -> io::Result<Vec<u8>> {
    let qr = || {
        qrs.get(i)
            .ok_or_else(|| io::Error::other("not enough QR sessions created"))
    };
    Ok(match kind {
        Kind::Qrlogin => {
            let qr = qr()?;
            http::get(
                &format!("/api/qr/{}/status?wait={wait}", qr.id),
                &format!("Authorization: Bearer {}\r\n", qr.token),
            )
        }
        Kind::QrloginSse => events_request(qr()?),
        Kind::Naive => http::get(&format!("/poll/bg{i}?wait={wait}"), ""),
        Kind::Nchan => http::get(&format!("/sub?id=bg{i}"), ""),
    })
}

/// The browser's `GET /api/qr/{id}/events`, with the poll token as the
/// bearer (the page's `EventSource` sends it as a cookie; same check).
fn events_request(qr: &Qr) -> Vec<u8> {
    http::get(
        &format!("/api/qr/{}/events", qr.id),
        &format!("Authorization: Bearer {}\r\n", qr.token),
    )
}

/// Creates `n` QR sessions over `conns` parallel keep-alive connections.
pub async fn create_qrs(addr: SocketAddr, n: usize, conns: usize) -> io::Result<Vec<Qr>> {
    let mut tasks = Vec::new();
    for c in 0..conns {
        let share = n / conns + usize::from(c < n % conns);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr, None).await?;
            let request = http::post("/api/qr", "", "application/json", "");
            let mut out = Vec::with_capacity(share);
            for _ in 0..share {
                let r = conn.call(&request).await?;
                out.push(parse_qr(&r)?);
            }
            Ok::<_, io::Error>(out)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.map_err(io::Error::other)??);
    }
    Ok(all)
}

pub fn parse_qr(r: &Response) -> io::Result<Qr> {
    if r.status != 201 {
        return Err(io::Error::other(format!(
            "POST /api/qr answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )));
    }
    match (r.json_str("id"), r.json_str("poll_token")) {
        (Some(id), Some(token)) => Ok(Qr { id, token }),
        _ => Err(io::Error::other("POST /api/qr: no id / poll_token")),
    }
}

/// Scans each QR as Alice; returns the confirm tokens.
pub async fn scan_all(addr: SocketAddr, qrs: &[Qr]) -> io::Result<Vec<String>> {
    let mut conn = Conn::connect(addr, None).await?;
    let mut out = Vec::with_capacity(qrs.len());
    for qr in qrs {
        let r = conn.call(&scan_request(qr)).await?;
        out.push(r.json_str("confirm_token").ok_or_else(|| {
            io::Error::other(format!(
                "scan answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ))
        })?);
    }
    Ok(out)
}

/// Alice's phone scanning `qr`.
pub fn scan_request(qr: &Qr) -> Vec<u8> {
    http::post(
        "/api/mobile/scan",
        "Authorization: Bearer demo-alice\r\n",
        "application/json",
        &format!(r#"{{"qr":"{}"}}"#, qr.id),
    )
}

/// One answer to a held poll (an event stream: one event).
#[derive(Clone, Copy, Debug)]
pub struct Answer {
    pub elapsed: Duration,
    pub status: u16,
    pub code: Option<i64>,
}

#[derive(Debug, Default)]
struct Outcome {
    answers: Vec<Answer>,
    heartbeats: usize,
    error: Option<String>,
}

/// Background connections, each on its own connection: long polls,
/// re-polling when answered until told to stop, or event streams, read
/// until told to stop.
#[derive(Debug)]
pub struct Held {
    tasks: Vec<JoinHandle<Outcome>>,
    stop: watch::Sender<bool>,
    sent: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

impl Default for Held {
    fn default() -> Self {
        Self {
            tasks: Vec::new(),
            stop: watch::Sender::new(false),
            sent: Arc::default(),
            failed: Arc::default(),
        }
    }
}

/// What each held connection's answers are judged against.
#[derive(Clone, Copy, Debug)]
pub enum Due {
    /// Long polls: every answer `hold` after its request, within `tolerance`.
    AfterHold { hold: Duration, tolerance: Duration },
    /// Event streams: one event (the current state) and then only
    /// heartbeats until the harness closes the stream.
    FirstEventOnly,
}

/// What became of the held polls.
#[derive(Debug, Default)]
pub struct HeldReport {
    pub connections: usize,
    /// Connections whose every answer had the expected code, on time.
    pub ok: usize,
    pub errors: usize,
    pub unanswered: usize,
    pub wrong_answers: usize,
    pub answers: usize,
    /// Event streams: heartbeats received over all of them.
    pub heartbeats: usize,
    /// Long polls: largest |answer time − hold time| seen. Event streams:
    /// the slowest first event, from sending the request.
    pub worst_deviation: Duration,
    pub first_error: Option<String>,
}

impl Held {
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Opens connections and sends `requests`, at most 256 connects at a
    /// time; returns once all were sent (event streams: once each has its
    /// first event, so it is open on the server) or failed.
    pub async fn open(
        &mut self,
        addr: SocketAddr,
        kind: Kind,
        requests: Vec<Vec<u8>>,
    ) -> io::Result<()> {
        let target = self.tasks.len() + requests.len();
        let gate = Arc::new(Semaphore::new(256));
        for request in requests {
            let index = self.tasks.len();
            let (gate, stop, sent, failed) = (
                Arc::clone(&gate),
                self.stop.subscribe(),
                Arc::clone(&self.sent),
                Arc::clone(&self.failed),
            );
            self.tasks.push(tokio::spawn(async move {
                let mut outcome = Outcome::default();
                let permit = gate.acquire_owned().await;
                let opened = async {
                    let mut conn = Conn::connect(addr, Some(source_ip(index)))
                        .await
                        .map_err(|e| format!("connect: {e}"))?;
                    let started = Instant::now();
                    conn.send(&request)
                        .await
                        .map_err(|e| format!("send: {e}"))?;
                    if kind == Kind::QrloginSse {
                        let first = first_event(&mut conn)
                            .await
                            .map_err(|e| format!("stream did not open: {e}"))?;
                        outcome.answers.push(Answer {
                            elapsed: started.elapsed(),
                            ..first
                        });
                    }
                    Ok::<_, String>((conn, started))
                };
                let (conn, started) = match opened.await {
                    Ok(opened) => opened,
                    Err(e) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        outcome.error = Some(e);
                        return outcome;
                    }
                };
                sent.fetch_add(1, Ordering::SeqCst);
                drop(permit);
                if kind == Kind::QrloginSse {
                    read_stream(conn, stop, &mut outcome).await;
                } else {
                    repoll(conn, &request, started, &stop, &mut outcome).await;
                }
                outcome
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.sent.load(Ordering::SeqCst) + self.failed.load(Ordering::SeqCst) < target {
            if Instant::now() > deadline {
                return Err(io::Error::other("opening held polls took over 120 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let failed = self.failed.load(Ordering::SeqCst);
        if failed > 0 {
            return Err(io::Error::other(format!(
                "{failed} held polls could not be opened"
            )));
        }
        Ok(())
    }

    /// Stops re-polling (closes event streams), waits until `deadline` for
    /// the polls still held to answer, and judges every answer against
    /// `due` and `expect`.
    pub async fn finish(
        self,
        deadline: tokio::time::Instant,
        due: Due,
        expect: impl Fn(&Answer) -> bool,
    ) -> HeldReport {
        self.stop.send_replace(true);
        let mut report = HeldReport {
            connections: self.tasks.len(),
            ..HeldReport::default()
        };
        for mut task in self.tasks {
            let outcome = match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => Outcome {
                    error: Some(format!("task: {e}")),
                    ..Outcome::default()
                },
                Err(_) => {
                    task.abort();
                    report.unanswered += 1;
                    continue;
                }
            };
            report.answers += outcome.answers.len();
            report.heartbeats += outcome.heartbeats;
            let mut good = outcome.error.is_none() && !outcome.answers.is_empty();
            for (i, a) in outcome.answers.iter().enumerate() {
                let on_time = match due {
                    Due::AfterHold { hold, tolerance } => {
                        let deviation = a.elapsed.abs_diff(hold);
                        report.worst_deviation = report.worst_deviation.max(deviation);
                        deviation <= tolerance
                    }
                    Due::FirstEventOnly => {
                        report.worst_deviation = report.worst_deviation.max(a.elapsed);
                        i == 0
                    }
                };
                if !expect(a) || !on_time {
                    good = false;
                    report.wrong_answers += 1;
                }
            }
            if let Some(e) = outcome.error {
                report.errors += 1;
                report.first_error.get_or_insert(e);
            }
            if good {
                report.ok += 1;
            }
        }
        report
    }
}

/// A long poll's life after its first request: answered, asked again,
/// until `stop` (checked after each answer).
async fn repoll(
    mut conn: Conn,
    request: &[u8],
    mut started: Instant,
    stop: &watch::Receiver<bool>,
    outcome: &mut Outcome,
) {
    loop {
        match conn.recv().await {
            Ok(r) => outcome.answers.push(Answer {
                elapsed: started.elapsed(),
                status: r.status,
                code: r.json_code(),
            }),
            Err(e) => {
                outcome.error = Some(format!(
                    "recv after {:.1} s (answer #{}): {e}",
                    started.elapsed().as_secs_f64(),
                    outcome.answers.len() + 1
                ));
                return;
            }
        }
        if *stop.borrow() {
            return;
        }
        started = Instant::now();
        if let Err(e) = conn.send(request).await {
            outcome.error = Some(format!("send: {e}"));
            return;
        }
    }
}

/// The head of an event stream and its first event (heartbeats before it
/// are skipped), as an answer (`elapsed` left for the caller).
async fn first_event(conn: &mut Conn) -> io::Result<Answer> {
    let head = conn.recv_head().await?;
    if head.status != 200 {
        let body = conn.recv_body(&head).await.unwrap_or_default();
        return Err(io::Error::other(format!(
            "answered {} {}",
            head.status,
            String::from_utf8_lossy(&body)
        )));
    }
    loop {
        if let Sse::Event(data) = conn.next_event().await? {
            return Ok(Answer {
                elapsed: Duration::ZERO,
                status: head.status,
                code: http::json_code(&data),
            });
        }
    }
}

/// An open event stream's life after its first event: read (heartbeats
/// counted, any event recorded as an answer) until `stop`, then closed.
async fn read_stream(mut conn: Conn, mut stop: watch::Receiver<bool>, outcome: &mut Outcome) {
    let opened = Instant::now();
    loop {
        tokio::select! {
            next = conn.next_event() => match next {
                Ok(Sse::Heartbeat) => outcome.heartbeats += 1,
                Ok(Sse::Event(data)) => outcome.answers.push(Answer {
                    elapsed: opened.elapsed(),
                    status: 200,
                    code: http::json_code(&data),
                }),
                Err(e) => {
                    outcome.error = Some(format!(
                        "stream broke after {:.1} s: {e}",
                        opened.elapsed().as_secs_f64()
                    ));
                    return;
                }
            },
            _ = stop.wait_for(|&stop| stop) => return,
        }
    }
}

/// One wake-up probe: the poll (or stream) to hold, and the request that
/// wakes it.
#[derive(Debug)]
pub struct Probe {
    pub poll: Vec<u8>,
    pub wake: Vec<u8>,
}

/// `count` probes from number `offset` on. qrlogin's take one session each
/// from `sessions`: for long polls scanned ones with their confirm tokens
/// (the confirm wakes the poll), for event streams pending ones (the scan
/// wakes the stream).
pub fn probes(
    kind: Kind,
    count: usize,
    offset: usize,
    sessions: &[(Qr, Option<String>)],
) -> io::Result<Vec<Probe>> {
    (offset..offset + count)
        .map(|i| {
            let session = || {
                sessions
                    .get(i)
                    .ok_or_else(|| io::Error::other("not enough sessions for probes"))
            };
            Ok(match kind {
                Kind::Qrlogin => {
                    let (qr, confirm) = session()?;
                    let confirm = confirm
                        .as_deref()
                        .ok_or_else(|| io::Error::other("probe session not scanned"))?;
                    Probe {
                        poll: http::get(
                            &format!("/api/qr/{}/status?since=scanned&wait=30", qr.id),
                            &format!("Authorization: Bearer {}\r\n", qr.token),
                        ),
                        wake: http::post(
                            "/api/mobile/confirm",
                            "Authorization: Bearer demo-alice\r\n",
                            "application/json",
                            &format!(r#"{{"qr_id":"{}","confirm_token":"{confirm}"}}"#, qr.id),
                        ),
                    }
                }
                Kind::QrloginSse => {
                    let (qr, _) = session()?;
                    Probe {
                        poll: events_request(qr),
                        wake: scan_request(qr),
                    }
                }
                Kind::Naive => Probe {
                    poll: http::get(&format!("/poll/s{i}?wait=30"), ""),
                    wake: http::post(&format!("/wake/s{i}"), "", "text/plain", ""),
                },
                Kind::Nchan => Probe {
                    poll: http::get(&format!("/sub?id=s{i}"), ""),
                    wake: http::post(&format!("/pub?id=s{i}"), "", "text/plain", "hi"),
                },
            })
        })
        .collect()
}

fn woke_properly(kind: Kind, r: &Response) -> bool {
    match kind {
        Kind::Qrlogin | Kind::Naive => r.status == 200 && r.json_code() == Some(200),
        // The `scanned` event.
        Kind::QrloginSse => r.status == 200 && r.json_code() == Some(201),
        Kind::Nchan => r.status == 200,
    }
}

/// Wake-up latencies: for each probe, send the poll, wait `settle` so it is
/// held, then time from sending the wake request until the poll answers.
/// An event stream is opened on a connection of its own, its first event
/// (the current state) read before the wait; the time is until the next
/// event, and the stream is closed after it.
/// Returns the latencies and the failed probes (wrong answer or no answer
/// within 10 s; the connections are reopened after a failure).
pub async fn wake_latencies(
    addr: SocketAddr,
    kind: Kind,
    probes: &[Probe],
    settle: Duration,
) -> io::Result<(Vec<Duration>, Vec<String>)> {
    wake_latencies_across(addr, addr, kind, probes, settle).await
}

/// [`wake_latencies`] with the polls sent to `poll_at` and the wake-ups to
/// `wake_at` (two instances sharing a store).
pub async fn wake_latencies_across(
    poll_at: SocketAddr,
    wake_at: SocketAddr,
    kind: Kind,
    probes: &[Probe],
    settle: Duration,
) -> io::Result<(Vec<Duration>, Vec<String>)> {
    let addr = poll_at;
    let mut browser = Conn::connect(addr, None).await?;
    let mut phone = Conn::connect(wake_at, None).await?;
    let mut out = Vec::with_capacity(probes.len());
    let mut failures = Vec::new();
    for probe in probes {
        if kind == Kind::QrloginSse {
            browser = Conn::connect(addr, None).await?;
        }
        let sample = async {
            browser.send(&probe.poll).await?;
            if kind == Kind::QrloginSse {
                let first = first_event(&mut browser).await?;
                if first.code != Some(408) {
                    return Err(io::Error::other(format!(
                        "first event had code {:?}, not pending's 408",
                        first.code
                    )));
                }
            }
            tokio::time::sleep(settle).await;
            let t0 = Instant::now();
            phone.send(&probe.wake).await?;
            let answer = if kind == Kind::QrloginSse {
                next_event(&mut browser).await?
            } else {
                browser.recv().await?
            };
            let latency = t0.elapsed();
            let woke = phone.recv().await?;
            if !woke_properly(kind, &answer) || woke.status >= 300 {
                return Err(io::Error::other(format!(
                    "poll answered {} {}, wake answered {} {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body),
                    woke.status,
                    String::from_utf8_lossy(&woke.body)
                )));
            }
            Ok::<_, io::Error>(latency)
        };
        match tokio::time::timeout(Duration::from_secs(10), sample).await {
            Ok(Ok(latency)) => {
                out.push(latency);
                continue;
            }
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(_) => failures.push("no answer within 10 s".into()),
        }
        // The connections may still carry a late answer: start afresh.
        browser = Conn::connect(addr, None).await?;
        phone = Conn::connect(wake_at, None).await?;
    }
    Ok((out, failures))
}

/// The next event of an open stream (heartbeats skipped), as a response
/// with the event's data as its body.
async fn next_event(conn: &mut Conn) -> io::Result<Response> {
    loop {
        if let Sse::Event(body) = conn.next_event().await? {
            return Ok(Response { status: 200, body });
        }
    }
}

/// Percentiles of a sample, by nearest rank.
#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub count: usize,
}

pub fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| {
        if samples.is_empty() {
            return Duration::ZERO;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        samples[rank - 1]
    };
    Percentiles {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: at(1.0),
        count: samples.len(),
    }
}

/// What a load loop may send.
#[derive(Clone, Debug)]
pub enum Load {
    /// The same request again and again; 2xx counts.
    Fixed(Vec<u8>),
    /// `POST /api/qr`, then `GET` its SVG: one unit per pair.
    CreateAndSvg,
}

/// Runs `conns` keep-alive connections for `duration`; units per second and errors.
pub async fn load_rate(
    addr: SocketAddr,
    load: Load,
    conns: usize,
    duration: Duration,
) -> io::Result<(f64, u64)> {
    let started = Instant::now();
    let end = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let load = load.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr, None).await?;
            let (mut done, mut errors) = (0u64, 0u64);
            while Instant::now() < end {
                let ok = match &load {
                    Load::Fixed(request) => (200..300).contains(&conn.call(request).await?.status),
                    Load::CreateAndSvg => {
                        let created = conn
                            .call(&http::post("/api/qr", "", "application/json", ""))
                            .await?;
                        match parse_qr(&created) {
                            Ok(qr) => {
                                let svg = conn
                                    .call(&http::get(&format!("/api/qr/{}/qr.svg", qr.id), ""))
                                    .await?;
                                svg.status == 200 && svg.body.windows(4).any(|w| w == b"<svg")
                            }
                            Err(_) => false,
                        }
                    }
                };
                if ok {
                    done += 1;
                } else {
                    errors += 1;
                }
            }
            Ok::<_, io::Error>((done, errors))
        }));
    }
    let (mut done, mut errors) = (0u64, 0u64);
    for t in tasks {
        let (d, e) = t.await.map_err(io::Error::other)??;
        done += d;
        errors += e;
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = done as f64 / started.elapsed().as_secs_f64();
    Ok((rate, errors))
}

/// `wrk` on the PATH, if installed.
pub fn wrk_available() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok()
}

/// Requests/s from `wrk -t2 -c<conns> -d<secs>`; errors are non-2xx/3xx
/// answers plus socket errors.
pub async fn wrk_rate(
    url: &str,
    header: Option<&str>,
    conns: usize,
    duration: Duration,
) -> io::Result<(f64, u64)> {
    let mut cmd = tokio::process::Command::new("wrk");
    cmd.arg("-t2")
        .arg(format!("-c{conns}"))
        .arg(format!("-d{}s", duration.as_secs()))
        .arg("--timeout")
        .arg("5s");
    if let Some(h) = header {
        cmd.arg("-H").arg(h);
    }
    let out = cmd.arg(url).output().await?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(io::Error::other(format!("wrk failed: {text}")));
    }
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| io::Error::other(format!("no Requests/sec in wrk output: {text}")))?;
    let mut errors = 0;
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>().unwrap_or(0);
        }
        if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            errors += v
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Ok((rate, errors))
}
