//! `--scale-out`: qrlogin instances sharing state behind nginx, as "Running
//! several instances" in the README deploys them — on one Redis, and on a
//! three-primary Redis Cluster — against one instance on its memory store
//! behind the same nginx. For each topology: logins per second end to end
//! (create → scan → held poll → confirm wakes it → ticket exchange), the
//! wake-up latency of a poll held on one instance when the confirm lands
//! on another while background polls are held, and what a session costs in
//! Redis and in the instances.

use crate::http::{self, Conn};
use crate::procs::{self, Server};
use crate::scenarios::{self, Due, Held, Kind, Percentiles, Qr};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Where the instances keep their state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Memory,
    Redis,
    Cluster,
}

/// One deployment to measure.
#[derive(Clone, Copy, Debug)]
struct Topology {
    backend: Backend,
    instances: usize,
}

impl Topology {
    fn name(self) -> String {
        let backend = match self.backend {
            Backend::Memory => "memory store",
            Backend::Redis => "one Redis",
            Backend::Cluster => "Redis Cluster (3 primaries)",
        };
        format!("{} × qrlogin, {backend}", self.instances)
    }
}

/// What one topology measured.
#[derive(Debug)]
struct Figures {
    logins_per_sec: f64,
    login_errors: u64,
    held: usize,
    held_ok: usize,
    wake: Percentiles,
    wake_failures: usize,
    /// Instances' RSS growth per held poll, summed over the instances.
    rss_per_poll_kib: f64,
    /// Redis `used_memory` growth per QR session (all primaries summed).
    redis_bytes_per_session: Option<f64>,
}

/// The counts of one run.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub held: usize,
    pub probes: usize,
    pub workers: usize,
    pub load: Duration,
}

impl Sizes {
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                held: 1_000,
                probes: 100,
                workers: 16,
                load: Duration::from_secs(4),
            }
        } else {
            Self {
                held: 4_000,
                probes: 300,
                workers: 32,
                load: Duration::from_secs(10),
            }
        }
    }
}

/// Runs every topology and returns the report (markdown).
pub async fn run(bin: &Path, work: &Path, sizes: Sizes) -> io::Result<String> {
    let topologies = [
        Topology {
            backend: Backend::Memory,
            instances: 1,
        },
        Topology {
            backend: Backend::Redis,
            instances: 1,
        },
        Topology {
            backend: Backend::Redis,
            instances: 2,
        },
        Topology {
            backend: Backend::Cluster,
            instances: 1,
        },
        Topology {
            backend: Backend::Cluster,
            instances: 2,
        },
    ];
    let mut all = Vec::new();
    for topology in topologies {
        crate::say(&format!("== {}", topology.name()));
        let dir = work.join(format!("{:?}-{}", topology.backend, topology.instances));
        std::fs::create_dir_all(&dir)?;
        // One topology failing (a binary without the cluster backend, a
        // missing redis-cli) still leaves the others' figures.
        let figures = measure(bin, &dir, topology, sizes).await.map_err(|e| {
            crate::say(&format!("  failed: {e} (logs in {})", dir.display()));
            e.to_string()
        });
        all.push((topology, figures));
    }
    Ok(render(&all, sizes))
}

/// A Redis process this harness started; killed when dropped.
struct RedisProc {
    port: u16,
    _child: Child,
}

impl RedisProc {
    async fn start(dir: &Path, cluster: bool) -> io::Result<Self> {
        let port = procs::free_port()?;
        let dir = dir.join(format!("redis-{port}"));
        std::fs::create_dir_all(&dir)?;
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(["--logfile", "redis.log"]);
        if cluster {
            cmd.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                io::Error::other(format!("redis-server: {e} (apt-get install redis-server)"))
            })?;
        let proc = Self {
            port,
            _child: child,
        };
        let started = Instant::now();
        while proc.cli(&["PING"]).await.ok().as_deref() != Some("PONG") {
            if started.elapsed() > Duration::from_secs(10) {
                return Err(io::Error::other(format!(
                    "redis-server on {port} did not start"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(proc)
    }

    /// One command through `redis-cli`, its output trimmed.
    async fn cli(&self, args: &[&str]) -> io::Result<String> {
        redis_cli(self.port, args).await
    }

    /// `used_memory` from `INFO memory`, in bytes.
    async fn used_memory(&self) -> io::Result<u64> {
        let info = self.cli(&["INFO", "memory"]).await?;
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| io::Error::other("INFO memory has no used_memory"))
    }
}

async fn redis_cli(port: u16, args: &[&str]) -> io::Result<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "redis-cli {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The Redis processes of a topology, and the `[store]` table pointing at them.
async fn start_redis(dir: &Path, backend: Backend) -> io::Result<(Vec<RedisProc>, String)> {
    match backend {
        Backend::Memory => Ok((Vec::new(), String::new())),
        Backend::Redis => {
            let redis = RedisProc::start(dir, false).await?;
            let store = format!(
                "[store]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:{}\"\n",
                redis.port
            );
            Ok((vec![redis], store))
        }
        Backend::Cluster => {
            let mut nodes = Vec::new();
            for _ in 0..3 {
                nodes.push(RedisProc::start(dir, true).await?);
            }
            let addrs: Vec<String> = nodes
                .iter()
                .map(|n| format!("127.0.0.1:{}", n.port))
                .collect();
            let mut args = vec!["--cluster", "create"];
            args.extend(addrs.iter().map(String::as_str));
            args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
            redis_cli(nodes[0].port, &args).await?;
            let started = Instant::now();
            for node in &nodes {
                while !node
                    .cli(&["CLUSTER", "INFO"])
                    .await?
                    .contains("cluster_state:ok")
                {
                    if started.elapsed() > Duration::from_secs(20) {
                        return Err(io::Error::other("the cluster did not reach state ok"));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            let seeds = addrs
                .iter()
                .map(|a| format!("\"redis://{a}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let store =
                format!("[store]\nbackend = \"redis-cluster\"\nredis_cluster_nodes = [{seeds}]\n");
            Ok((nodes, store))
        }
    }
}

/// nginx in front of `instances`, as deploy/nginx.conf does it (upstream
/// keep-alive, no buffering, a read timeout above any hold), round robin.
async fn start_front(dir: &Path, instances: &[Server]) -> io::Result<(SocketAddr, Child)> {
    let port = procs::free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs"))?;
    let p = prefix.display();
    let upstreams: String = instances
        .iter()
        .map(|s| format!("    server {};\n", s.addr))
        .collect();
    let conf = format!(
        r#"daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log {p}/logs/error.log warn;
pid {p}/nginx.pid;
events {{ worker_connections 32768; multi_accept on; }}
http {{
  access_log off;
  client_body_temp_path {p}/body;
  proxy_temp_path {p}/proxy;
  fastcgi_temp_path {p}/fastcgi;
  uwsgi_temp_path {p}/uwsgi;
  scgi_temp_path {p}/scgi;
  keepalive_requests 1000000;
  upstream qrlogin {{
{upstreams}    keepalive 256;
  }}
  server {{
    listen {addr} backlog=8192;
    location / {{
      proxy_pass http://qrlogin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_buffering off;
      proxy_read_timeout 150s;
    }}
  }}
}}
"#
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let mut child = Command::new("/usr/sbin/nginx")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| io::Error::other(format!("nginx: {e} (apt-get install nginx)")))?;
    procs::wait_ready(addr, "/healthz", &mut child, "nginx").await?;
    Ok((addr, child))
}

async fn measure(bin: &Path, dir: &Path, topology: Topology, sizes: Sizes) -> io::Result<Figures> {
    let (redis, store) = start_redis(dir, topology.backend).await?;
    let mut instances = Vec::new();
    for i in 0..topology.instances {
        instances.push(
            procs::start_qrlogin_as(
                bin,
                dir,
                35,
                &format!("qrlogin-{i}"),
                // nginx carries everyone's connections: not capped per IP.
                "trusted_proxies = [\"127.0.0.1/32\"]\n",
                &store,
            )
            .await?,
        );
    }
    let (front, _nginx) = start_front(dir, &instances).await?;

    // What a session costs: Redis memory and instance memory with polls held on them.
    let redis_before = used_memory(&redis).await?;
    let qrs = scenarios::create_qrs(front, sizes.held, 8).await?;
    let redis_after = used_memory(&redis).await?;
    let rss_before = total_rss(&instances)?;
    let mut held = Held::default();
    let requests = (0..sizes.held)
        .map(|i| scenarios::background_request(Kind::Qrlogin, i, &qrs, 30))
        .collect::<io::Result<Vec<_>>>()?;
    held.open(front, Kind::Qrlogin, requests).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = total_rss(&instances)?;
    #[allow(clippy::cast_precision_loss)]
    let rss_per_poll_kib = rss_after.saturating_sub(rss_before) as f64 / sizes.held as f64;

    // Wake-up across instances: the poll on the first, the confirm on the last.
    let (poll_at, wake_at) = (instances[0].addr, instances[instances.len() - 1].addr);
    let probe_qrs = scenarios::create_qrs(poll_at, sizes.probes, 2).await?;
    let confirms = scenarios::scan_all(poll_at, &probe_qrs).await?;
    let sessions: Vec<(Qr, Option<String>)> = probe_qrs
        .into_iter()
        .zip(confirms.into_iter().map(Some))
        .collect();
    let probes = scenarios::probes(Kind::Qrlogin, sizes.probes, 0, &sessions)?;
    let (samples, failures) = scenarios::wake_latencies_across(
        poll_at,
        wake_at,
        Kind::Qrlogin,
        &probes,
        Duration::from_millis(5),
    )
    .await?;
    let wake = scenarios::percentiles(samples);
    crate::say(&format!(
        "  {} held: +{rss_per_poll_kib:.2} KiB each over the instances; wake-up across instances p50 {:.2} ms p99 {:.2} ms ({} failed)",
        sizes.held,
        wake.p50.as_secs_f64() * 1e3,
        wake.p99.as_secs_f64() * 1e3,
        failures.len()
    ));

    // Logins end to end, with the background polls still held.
    let (logins_per_sec, login_errors) = logins(front, sizes.workers, sizes.load).await?;
    crate::say(&format!(
        "  logins end to end through nginx: {logins_per_sec:.0}/s ({login_errors} errors)"
    ));
    let report = held
        .finish(
            tokio::time::Instant::now() + Duration::from_secs(40),
            Due::AfterHold {
                hold: Duration::from_secs(30),
                // Through a proxy and under the login load.
                tolerance: Duration::from_secs(2),
            },
            |a| a.status == 200 && a.code == Some(408),
        )
        .await;
    for instance in instances {
        instance.stop().await;
    }
    #[allow(clippy::cast_precision_loss)]
    let redis_bytes_per_session = (!redis.is_empty())
        .then(|| redis_after.saturating_sub(redis_before) as f64 / sizes.held as f64);
    Ok(Figures {
        logins_per_sec,
        login_errors,
        held: report.connections,
        held_ok: report.ok,
        wake,
        wake_failures: failures.len(),
        rss_per_poll_kib,
        redis_bytes_per_session,
    })
}

async fn used_memory(redis: &[RedisProc]) -> io::Result<u64> {
    let mut total = 0;
    for r in redis {
        total += r.used_memory().await?;
    }
    Ok(total)
}

fn total_rss(instances: &[Server]) -> io::Result<u64> {
    instances.iter().map(Server::rss_kib).sum()
}

/// `workers` browsers and phones logging in over and over through `front`
/// for `duration`: logins completed per second, and failed attempts.
async fn logins(front: SocketAddr, workers: usize, duration: Duration) -> io::Result<(f64, u64)> {
    let started = Instant::now();
    let end = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        tasks.push(tokio::spawn(async move {
            let mut browser = Conn::connect(front, None).await?;
            let mut phone = Conn::connect(front, None).await?;
            let (mut done, mut errors) = (0u64, 0u64);
            while Instant::now() < end {
                match tokio::time::timeout(
                    Duration::from_secs(10),
                    login_once(&mut browser, &mut phone),
                )
                .await
                {
                    Ok(Ok(())) => done += 1,
                    _ => {
                        errors += 1;
                        browser = Conn::connect(front, None).await?;
                        phone = Conn::connect(front, None).await?;
                    }
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

/// One login as a browser and a phone do it: the browser creates a code,
/// the phone scans it, the browser's poll is held until the phone confirms,
/// and the browser trades the ticket for its cookie.
async fn login_once(browser: &mut Conn, phone: &mut Conn) -> io::Result<()> {
    let created = browser
        .call(&http::post("/api/qr", "", "application/json", ""))
        .await?;
    let qr = scenarios::parse_qr(&created)?;
    let scanned = phone.call(&scenarios::scan_request(&qr)).await?;
    let confirm = scanned
        .json_str("confirm_token")
        .ok_or_else(|| io::Error::other(format!("scan answered {}", scanned.status)))?;
    let bearer = format!("Authorization: Bearer {}\r\n", qr.token);
    browser
        .send(&http::get(
            &format!("/api/qr/{}/status?since=scanned&wait=30", qr.id),
            &bearer,
        ))
        .await?;
    let confirmed = phone
        .call(&http::post(
            "/api/mobile/confirm",
            "Authorization: Bearer demo-alice\r\n",
            "application/json",
            &format!(r#"{{"qr_id":"{}","confirm_token":"{confirm}"}}"#, qr.id),
        ))
        .await?;
    if confirmed.status >= 300 {
        return Err(io::Error::other(format!(
            "confirm answered {}",
            confirmed.status
        )));
    }
    let answer = browser.recv().await?;
    let ticket = answer
        .json_str("ticket")
        .filter(|_| answer.json_code() == Some(200))
        .ok_or_else(|| io::Error::other("the held poll did not answer with a ticket"))?;
    let exchanged = browser
        .call(&http::post(
            "/api/login/exchange",
            &bearer,
            "application/json",
            &format!(r#"{{"ticket":"{ticket}"}}"#),
        ))
        .await?;
    if exchanged.status != 200 {
        return Err(io::Error::other(format!(
            "exchange answered {}",
            exchanged.status
        )));
    }
    Ok(())
}

fn render(all: &[(Topology, Result<Figures, String>)], sizes: Sizes) -> String {
    let mut out = format!(
        "Several instances behind one nginx (one worker), all on this machine; {} polls held \
         through nginx during the measurements, {} wake-up probes (poll held on the first \
         instance, confirm sent to the last), {} browser+phone pairs logging in for {} s.\n\n\
         | topology | logins/s end to end | wake-up p50 / p99 (poll on the first instance, confirm on the last) | held polls answered | \
         instance RSS per held poll | Redis memory per session |\n|---|---|---|---|---|---|\n",
        sizes.held,
        sizes.probes,
        sizes.workers,
        sizes.load.as_secs()
    );
    for (topology, figures) in all {
        let f = match figures {
            Ok(f) => f,
            Err(e) => {
                out.push_str(&format!("| {} | failed: {e} | | | | |\n", topology.name()));
                continue;
            }
        };
        out.push_str(&format!(
            "| {} | {:.0}{} | {:.2} / {:.2} ms{} | {}/{} | {:.2} KiB | {} |\n",
            topology.name(),
            f.logins_per_sec,
            if f.login_errors > 0 {
                format!(" ({} errors)", f.login_errors)
            } else {
                String::new()
            },
            f.wake.p50.as_secs_f64() * 1e3,
            f.wake.p99.as_secs_f64() * 1e3,
            if f.wake_failures > 0 {
                format!(" ({} failed)", f.wake_failures)
            } else {
                String::new()
            },
            f.held_ok,
            f.held,
            f.rss_per_poll_kib,
            f.redis_bytes_per_session
                .map_or_else(|| "–".into(), |b| format!("{b:.0} B")),
        ));
    }
    out
}

/// Where the report goes by default.
pub fn default_out(bin_dir: &Path) -> PathBuf {
    bin_dir
        .parent()
        .unwrap_or(Path::new("."))
        .join("bench-scale-out.md")
}
