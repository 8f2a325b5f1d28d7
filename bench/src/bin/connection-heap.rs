//! What a held connection keeps on the heap — a long poll
//! (`GET /api/qr/{id}/status?wait=…`) or an event stream
//! (`GET /api/qr/{id}/events`) — served by the real server (hyper's
//! HTTP/1 connection, every layer, the handler) over loopback TCP, under a
//! counting allocator (`dhat`, testing mode). The clients are plain blocking
//! `std` sockets on the main thread, which allocate nothing, so the
//! allocator's totals are the server's.
//!
//! Each kind is opened in two equal rounds; the figure is the heap alive
//! after the second round minus after the first, per connection, so
//! one-time costs (tables growing, the runtime's first registrations) fall
//! in the first round. Heap only: the kernel's socket buffers and the pages
//! malloc keeps are not in it (`bench/run` measures RSS).
//!
//! Usage: `cargo run --release -p qrlogin-bench --bin connection-heap`. The
//! test below is what keeps the hyper patch (`vendor/hyper/QRLOGIN-PATCH.md`)
//! applied: without it hyper keeps two 8 KB buffers per held connection.
#![allow(clippy::print_stdout)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use qrlogin::Application;
use qrlogin::clock::Clock;
use qrlogin::config::Config;
use qrlogin::login::{Held, LoginService};
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tower::ServiceExt as _;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Connections opened per round (two rounds per kind).
const ROUND: usize = 100;
/// How long the server may take to hold a round's connections (generous:
/// a busy machine; the usual is milliseconds).
const HOLD_WITHIN: Duration = Duration::from_secs(60);

/// What a held connection waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Poll,
    Stream,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Poll => "long poll",
            Self::Stream => "event stream",
        }
    }

    /// The request that holds a connection on the code `id`.
    fn request(self, id: &str, token: &str) -> String {
        let path = match self {
            Self::Poll => format!("/api/qr/{id}/status?wait=120"),
            Self::Stream => format!("/api/qr/{id}/events"),
        };
        format!("GET {path} HTTP/1.1\r\nHost: qrlogin\r\nAuthorization: Bearer {token}\r\n\r\n")
    }

    fn count(self, held: Held) -> usize {
        match self {
            Self::Poll => held.polls,
            Self::Stream => held.streams,
        }
    }
}

/// Heap alive per held connection.
#[derive(Clone, Copy, Debug)]
struct Cost {
    bytes: f64,
    blocks: f64,
}

fn config() -> Config {
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/oidc/rsa_a.pem"
    );
    Config::parse(&format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:1"
max_connections_per_ip = 100000

[login]
poll_hold = "120s"

[mobile_auth]
jwt_hs256_secret = "connection-heap-secret-that-is-long-enough-0123"

[oidc]
signing_keys = ["{key}"]

[limits]
max_held_connections = 100000
qr_per_minute_per_ip = 100000
max_live_sessions = 100000

[audit]
path = "/dev/null"
"#
    ))
    .expect("the measurement's config parses")
}

/// A new code's id and poll token, made through the router in process.
async fn create_code(router: &axum::Router) -> (String, String) {
    let mut request = Request::post("/api/qr")
        .body(Body::empty())
        .expect("a valid request");
    let client: SocketAddr = ([127, 0, 0, 1], 40_000).into();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(client));
    let created = router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(created.status(), StatusCode::CREATED);
    let body = axum::body::to_bytes(created.into_body(), usize::MAX)
        .await
        .expect("a body");
    let qr: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    (
        qr["id"].as_str().expect("an id").to_owned(),
        qr["poll_token"].as_str().expect("a poll token").to_owned(),
    )
}

/// Opens one connection per code in `codes`, sends `kind`'s request on
/// each, and waits until the server holds `total` of that kind.
fn hold(
    runtime: &tokio::runtime::Runtime,
    kind: Kind,
    addr: SocketAddr,
    codes: &[(String, String)],
    login: &LoginService,
    total: usize,
    open: &mut Vec<TcpStream>,
) {
    for (id, token) in codes {
        let mut stream = TcpStream::connect(addr).expect("the server accepts");
        stream
            .write_all(kind.request(id, token).as_bytes())
            .expect("the request is sent");
        open.push(stream);
    }
    let since = Instant::now();
    while kind.count(login.held()) < total {
        assert!(
            since.elapsed() < HOLD_WITHIN,
            "the server held {} {}s of {total}",
            kind.count(login.held()),
            kind.name()
        );
        runtime.block_on(async { tokio::time::sleep(Duration::from_millis(10)).await });
    }
    // Let every connection task finish the poll it is in (the handler has
    // taken its slot; hyper may still be in the same poll).
    runtime.block_on(async { tokio::time::sleep(Duration::from_millis(200)).await });
}

/// Heap per held connection of each kind, long polls first.
fn measure() -> Vec<(Kind, Cost)> {
    // The server runs on the runtime's worker; the main thread is the client.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = runtime.block_on(async {
        qrlogin::startup::bind("127.0.0.1:0".parse().expect("an address"), 1024)
            .expect("a port to bind")
    });
    let addr = listener.local_addr().expect("a bound address");
    let app = runtime
        .block_on(Application::build_on(config(), listener, Clock::system()))
        .expect("the application builds");
    let login = app.login().clone();
    let router = app.router();
    let kinds = [Kind::Poll, Kind::Stream];
    // One code per connection: a code holds at most a small share of the
    // budget, as many browsers' codes do in production.
    let codes: Vec<(String, String)> = runtime.block_on(async {
        let mut codes = Vec::with_capacity(4 * ROUND);
        for _ in 0..4 * ROUND {
            codes.push(create_code(&router).await);
        }
        codes
    });
    drop(router);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let mut open = Vec::with_capacity(4 * ROUND);
    let mut costs = Vec::with_capacity(kinds.len());
    for (k, kind) in kinds.into_iter().enumerate() {
        let rounds = &codes[2 * k * ROUND..2 * (k + 1) * ROUND];
        hold(
            &runtime,
            kind,
            addr,
            &rounds[..ROUND],
            &login,
            ROUND,
            &mut open,
        );
        let before = dhat::HeapStats::get();
        hold(
            &runtime,
            kind,
            addr,
            &rounds[ROUND..],
            &login,
            2 * ROUND,
            &mut open,
        );
        let after = dhat::HeapStats::get();
        #[allow(clippy::cast_precision_loss)]
        costs.push((
            kind,
            Cost {
                bytes: (after.curr_bytes as f64 - before.curr_bytes as f64) / ROUND as f64,
                blocks: (after.curr_blocks as f64 - before.curr_blocks as f64) / ROUND as f64,
            },
        ));
    }
    drop(open);
    let _ = stop.send(());
    runtime
        .block_on(server)
        .expect("the server task ends")
        .expect("the server stops cleanly");
    costs
}

fn report(costs: &[(Kind, Cost)]) -> String {
    let mut out = String::from("| held connection | heap bytes (blocks) each |\n|---|---|\n");
    for (kind, c) in costs {
        out.push_str(&format!(
            "| {} | {:.0} ({:.1}) |\n",
            kind.name(),
            c.bytes,
            c.blocks
        ));
    }
    out
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let costs = measure();
    println!("{}", report(&costs));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most heap a held connection may keep. With the hyper patch a
    /// long poll keeps ~7.1 KB and an event stream ~6.5 KB (the handler's
    /// future, the connection's task, the boxed middleware futures); hyper
    /// without it adds 16 KB of buffers, and either buffer alone (8 KB) is
    /// past this.
    const MAX_BYTES_PER_HELD: f64 = 12.0 * 1024.0;

    /// A held long poll or event stream keeps no hyper buffer: hyper 1.12
    /// as published keeps an 8 KB write buffer from connection start and
    /// reserves an 8 KB read buffer while the answer is pending (16 KB of
    /// the ~21 KB a held poll kept). If this fails after a hyper upgrade or
    /// a `Cargo.toml` edit, the patch in `vendor/hyper` is no longer in the
    /// build: re-apply it (`vendor/hyper/QRLOGIN-PATCH.md`).
    #[test]
    fn a_held_connection_keeps_no_hyper_buffer() {
        let _profiler = dhat::Profiler::builder().testing().build();
        let costs = measure();
        let table = report(&costs);
        for (kind, c) in &costs {
            assert!(
                c.bytes < MAX_BYTES_PER_HELD,
                "{} keeps {:.0} bytes\n{table}",
                kind.name(),
                c.bytes
            );
        }
    }
}
