//! The measurements: thousands of held long polls (memory, hold accuracy),
//! wake-up latency with them held, and request rates.

use crate::http::{self, Conn, Response};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Which server a scenario talks to: the request shapes differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Qrlogin,
    /// `bench-hello`'s naive axum long poll.
    Naive,
    Nchan,
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

/// The request that holds background poll number `i` for `wait` seconds.
pub fn background_request(kind: Kind, i: usize, qrs: &[Qr], wait: u64) -> io::Result<Vec<u8>> {
    Ok(match kind {
        Kind::Qrlogin => {
            let qr = qrs
                .get(i)
                .ok_or_else(|| io::Error::other("not enough QR sessions created"))?;
            http::get(
                &format!("/api/qr/{}/status?wait={wait}", qr.id),
                &format!("Authorization: Bearer {}\r\n", qr.token),
            )
        }
        Kind::Naive => http::get(&format!("/poll/bg{i}?wait={wait}"), ""),
        Kind::Nchan => http::get(&format!("/sub?id=bg{i}"), ""),
    })
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

fn parse_qr(r: &Response) -> io::Result<Qr> {
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
        let r = conn
            .call(&http::post(
                "/api/mobile/scan",
                "Authorization: Bearer demo-alice\r\n",
                "application/json",
                &format!(r#"{{"qr":"{}"}}"#, qr.id),
            ))
            .await?;
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

/// One answer to a held poll.
#[derive(Clone, Copy, Debug)]
pub struct Answer {
    pub elapsed: Duration,
    pub status: u16,
    pub code: Option<i64>,
}

#[derive(Debug, Default)]
struct Outcome {
    answers: Vec<Answer>,
    error: Option<String>,
}

/// Background long polls, each on its own connection, re-polling when
/// answered until told to stop.
#[derive(Debug, Default)]
pub struct Held {
    tasks: Vec<JoinHandle<Outcome>>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
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
    /// Largest |answer time − hold time| seen.
    pub worst_deviation: Duration,
    pub first_error: Option<String>,
}

impl Held {
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Opens connections and sends `requests`, at most 256 connects at a
    /// time; returns once all were sent (or failed).
    pub async fn open(&mut self, addr: SocketAddr, requests: Vec<Vec<u8>>) -> io::Result<()> {
        let target = self.tasks.len() + requests.len();
        let gate = Arc::new(Semaphore::new(256));
        for request in requests {
            let index = self.tasks.len();
            let (gate, stop, sent, failed) = (
                Arc::clone(&gate),
                Arc::clone(&self.stop),
                Arc::clone(&self.sent),
                Arc::clone(&self.failed),
            );
            self.tasks.push(tokio::spawn(async move {
                let mut outcome = Outcome::default();
                let permit = gate.acquire_owned().await;
                let mut conn = match Conn::connect(addr, Some(source_ip(index))).await {
                    Ok(c) => c,
                    Err(e) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        outcome.error = Some(format!("connect: {e}"));
                        return outcome;
                    }
                };
                let mut started = Instant::now();
                if let Err(e) = conn.send(&request).await {
                    failed.fetch_add(1, Ordering::SeqCst);
                    outcome.error = Some(format!("send: {e}"));
                    return outcome;
                }
                sent.fetch_add(1, Ordering::SeqCst);
                drop(permit);
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
                            return outcome;
                        }
                    }
                    if stop.load(Ordering::SeqCst) {
                        return outcome;
                    }
                    started = Instant::now();
                    if let Err(e) = conn.send(&request).await {
                        outcome.error = Some(format!("send: {e}"));
                        return outcome;
                    }
                }
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

    /// Stops re-polling, waits until `deadline` for the polls still held to
    /// answer, and judges every answer against `hold` and `expect`.
    pub async fn finish(
        self,
        deadline: tokio::time::Instant,
        hold: Duration,
        tolerance: Duration,
        expect: impl Fn(&Answer) -> bool,
    ) -> HeldReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut report = HeldReport {
            connections: self.tasks.len(),
            ..HeldReport::default()
        };
        for mut task in self.tasks {
            let outcome = match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => Outcome {
                    answers: Vec::new(),
                    error: Some(format!("task: {e}")),
                },
                Err(_) => {
                    task.abort();
                    report.unanswered += 1;
                    continue;
                }
            };
            report.answers += outcome.answers.len();
            let mut good = outcome.error.is_none() && !outcome.answers.is_empty();
            for a in &outcome.answers {
                let deviation = a.elapsed.abs_diff(hold);
                report.worst_deviation = report.worst_deviation.max(deviation);
                if !expect(a) || deviation > tolerance {
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

/// One wake-up probe: the poll to hold, the request that wakes it, and
/// whether the poll's answer is the expected one.
#[derive(Debug)]
pub struct Probe {
    pub poll: Vec<u8>,
    pub wake: Vec<u8>,
}

pub fn probes(
    kind: Kind,
    count: usize,
    offset: usize,
    scanned: &[(Qr, String)],
) -> io::Result<Vec<Probe>> {
    (offset..offset + count)
        .map(|i| {
            Ok(match kind {
                Kind::Qrlogin => {
                    let (qr, confirm) = scanned
                        .get(i)
                        .ok_or_else(|| io::Error::other("not enough scanned sessions"))?;
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
        Kind::Nchan => r.status == 200,
    }
}

/// Wake-up latencies: for each probe, send the poll, wait `settle` so it is
/// held, then time from sending the wake request until the poll answers.
/// Returns the latencies and the failed probes (wrong answer or no answer
/// within 10 s; the connections are reopened after a failure).
pub async fn wake_latencies(
    addr: SocketAddr,
    kind: Kind,
    probes: &[Probe],
    settle: Duration,
) -> io::Result<(Vec<Duration>, Vec<String>)> {
    let mut browser = Conn::connect(addr, None).await?;
    let mut phone = Conn::connect(addr, None).await?;
    let mut out = Vec::with_capacity(probes.len());
    let mut failures = Vec::new();
    for probe in probes {
        let sample = async {
            browser.send(&probe.poll).await?;
            tokio::time::sleep(settle).await;
            let t0 = Instant::now();
            phone.send(&probe.wake).await?;
            let answer = browser.recv().await?;
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
        phone = Conn::connect(addr, None).await?;
    }
    Ok((out, failures))
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
