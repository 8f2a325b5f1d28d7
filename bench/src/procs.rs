//! Starting the servers under test (qrlogin, the bare-axum baseline, nginx +
//! nchan) on free loopback ports, and reading their memory from /proc.

use crate::http::{self, Conn};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A server process this harness started; killed when dropped.
#[derive(Debug)]
pub struct Server {
    pub name: &'static str,
    pub addr: SocketAddr,
    child: Child,
    /// Processes whose RSS counts (nginx: its workers, found after start).
    rss_pids: Vec<u32>,
}

impl Server {
    /// Sum of VmRSS over the server's processes, in KiB.
    pub fn rss_kib(&self) -> io::Result<u64> {
        let mut total = 0;
        for pid in &self.rss_pids {
            total += vm_rss_kib(*pid)?;
        }
        Ok(total)
    }

    /// Stops the server (SIGKILL; nothing to flush) and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        if self.name == "nginx" {
            // The worker exits when its master dies; give it a moment.
            tokio::time::sleep(Duration::from_millis(200)).await;
            for pid in &self.rss_pids {
                let _ = std::process::Command::new("kill")
                    .arg("-9")
                    .arg(pid.to_string())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// VmRSS of one process, in KiB.
pub fn vm_rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("no VmRSS for pid {pid}")))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until `GET path` answers anything, or fails after 15 s.
pub async fn wait_ready(
    addr: SocketAddr,
    path: &str,
    child: &mut Child,
    name: &str,
) -> io::Result<()> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(io::Error::other(format!("{name} exited early: {status}")));
        }
        if let Ok(mut conn) = Conn::connect(addr, None).await
            && conn.call(&http::get(path, "")).await.is_ok()
        {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(15) {
            return Err(io::Error::other(format!("{name} did not answer on {addr}")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn log_file(dir: &Path, name: &str) -> io::Result<std::fs::File> {
    std::fs::File::create(dir.join(format!("{name}.log")))
}

/// Starts qrlogin with a benchmark config written into `dir`.
pub async fn start_qrlogin(bin: &Path, dir: &Path, poll_hold_secs: u64) -> io::Result<Server> {
    start_qrlogin_as(bin, dir, poll_hold_secs, "qrlogin", "", "").await
}

/// [`start_qrlogin`], its config and log named `name` (so several run side
/// by side), with `server_extra` added to its `[server]` table and `extra`
/// appended to the config (more tables).
pub async fn start_qrlogin_as(
    bin: &Path,
    dir: &Path,
    poll_hold_secs: u64,
    name: &str,
    server_extra: &str,
    extra: &str,
) -> io::Result<Server> {
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let config = format!(
        r#"[server]
listen = "{addr}"
public_url = "http://{addr}"
backlog = 8192
# The held connections come from 16 loopback addresses (1,188 each at
# 19,000): the defaults (256 per address, three quarters of the 20,000 open
# files overall) would refuse them past 4,096 and 15,000.
max_connections = 19950
max_connections_per_ip = 19950
{server_extra}
[login]
qr_ttl = "10m"
poll_hold = "{poll_hold_secs}s"

[limits]
qr_per_minute_per_ip = 100000000
mobile_per_minute_per_ip = 100000000
redeem_per_minute_per_ip = 100000000
max_live_sessions = 100000000
# The default, three quarters of the 20,000 open files, would refuse the
# full run's 19,000 held polls past 15,000 (and its probes at 15,000).
max_held_connections = 19900

[[users]]
token = "demo-alice"
id = "alice"
name = "Alice"
avatar = "/static/avatars/alice.svg"
{extra}"#
    );
    let config_path = dir.join(format!("{name}.toml"));
    std::fs::write(&config_path, config)?;
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file(dir, name)?)
        .kill_on_drop(true)
        .spawn()?;
    wait_ready(addr, "/healthz", &mut child, "qrlogin").await?;
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("qrlogin has no pid"))?;
    Ok(Server {
        name: "qrlogin",
        addr,
        child,
        rss_pids: vec![pid],
    })
}

/// Starts the bare-axum baseline (`bench-hello`).
pub async fn start_hello(bin: &Path, dir: &Path) -> io::Result<Server> {
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut child = Command::new(bin)
        .arg(addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file(dir, "hello")?)
        .kill_on_drop(true)
        .spawn()?;
    wait_ready(addr, "/", &mut child, "bench-hello").await?;
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("bench-hello has no pid"))?;
    Ok(Server {
        name: "bench-hello",
        addr,
        child,
        rss_pids: vec![pid],
    })
}

/// The nchan module, when installed (`apt-get install nginx libnginx-mod-nchan`).
pub fn nchan_module() -> Option<(PathBuf, PathBuf)> {
    let nginx = PathBuf::from("/usr/sbin/nginx");
    let module = PathBuf::from("/usr/lib/nginx/modules/ngx_nchan_module.so");
    (nginx.exists() && module.exists()).then_some((nginx, module))
}

/// Starts nginx + nchan (one worker, `daemon off`) with its prefix in `dir`:
/// `/sub?id=X` is a long-poll subscriber with a 25 s timeout, `/pub?id=X` publishes.
/// `worker_connections` is above the 20,000 open files on purpose: nginx
/// starts closing "reusable" connections (held subscribers among them) once
/// fewer than 1/16 of `worker_connections` are free.
pub async fn start_nchan(dir: &Path, timeout_secs: u64) -> io::Result<Server> {
    let (nginx, module) = nchan_module().ok_or_else(|| io::Error::other("nchan not installed"))?;
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs"))?;
    let p = prefix.display();
    let conf = format!(
        r#"load_module {module};
daemon off;
master_process on;
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
  keepalive_timeout 120s;
  server {{
    listen {addr} backlog=8192;
    location = / {{ return 200 "hello"; }}
    location = /sub {{
      nchan_subscriber longpoll;
      nchan_channel_id $arg_id;
      nchan_subscriber_timeout {timeout_secs}s;
    }}
    location = /pub {{
      nchan_publisher;
      nchan_channel_id $arg_id;
      nchan_message_timeout 60s;
    }}
  }}
}}
"#,
        module = module.display()
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let mut child = Command::new(nginx)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file(dir, "nginx")?)
        .kill_on_drop(true)
        .spawn()?;
    wait_ready(addr, "/", &mut child, "nginx").await?;
    let master = child
        .id()
        .ok_or_else(|| io::Error::other("nginx has no pid"))?;
    let workers = children_of(master)?;
    if workers.is_empty() {
        return Err(io::Error::other("nginx started no worker"));
    }
    Ok(Server {
        name: "nginx",
        addr,
        child,
        rss_pids: workers,
    })
}

/// Direct children of `pid`, from /proc/*/stat.
fn children_of(pid: u32) -> io::Result<Vec<u32>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // Fields after the ")" that closes the command name: state, ppid, ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    Ok(out)
}
