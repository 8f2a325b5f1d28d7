//! Baselines for the qrlogin benchmark, in one tiny axum binary:
//!
//! - `GET /` answers `hello`: the ceiling for any axum handler on this machine.
//! - `GET /poll/{id}?wait=SECS` is a naive axum long poll: one `watch`
//!   channel per id in a mutex-guarded map, held until `/wake/{id}` or `wait`
//!   passes, then `{"code":200}` or `{"code":408}`.
//! - `POST /wake/{id}` wakes the pollers of `id`.
//!
//! Usage: `bench-hello 127.0.0.1:PORT`. Prints `listening <addr>` once bound.
#![allow(clippy::print_stdout)]

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

type Waiters = Arc<Mutex<HashMap<String, watch::Sender<bool>>>>;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned())
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let waiters: Waiters = Arc::default();
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/poll/{id}", get(poll))
        .route("/wake/{id}", post(wake))
        .with_state(waiters);
    // The same accept queue as qrlogin's default, so connection bursts compare fairly.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(8192)?;
    println!("listening {}", listener.local_addr()?);
    axum::serve(listener, app).await
}

async fn poll(
    State(waiters): State<Waiters>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> axum::Json<serde_json::Value> {
    let wait = query
        .get("wait")
        .and_then(|w| w.parse::<u64>().ok())
        .unwrap_or(25);
    let mut rx = {
        let mut map = waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(id.clone())
            .or_insert_with(|| watch::Sender::new(false))
            .subscribe()
    };
    let woken = *rx.borrow_and_update()
        || tokio::time::timeout(Duration::from_secs(wait), rx.changed())
            .await
            .is_ok();
    {
        let mut map = waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Forget the id once its last poller is gone.
        drop(rx);
        if map.get(&id).is_some_and(|tx| tx.receiver_count() == 0) {
            map.remove(&id);
        }
    }
    let code = if woken { 200 } else { 408 };
    axum::Json(serde_json::json!({ "code": code }))
}

async fn wake(State(waiters): State<Waiters>, Path(id): Path<String>) -> &'static str {
    waiters
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(id)
        .or_insert_with(|| watch::Sender::new(false))
        .send_replace(true);
    "ok"
}
