//! Building and running the server. The caller owns the listener and the
//! shutdown future, so tests bind port 0 and production binds what config says.
//!
//! Connections are served by hyper's HTTP/1.1 server directly (browsers
//! speak HTTP/1.1 to a plain-HTTP origin, and nginx does upstream), with a
//! header-read timeout and a bounded header buffer per connection.

use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::http;
use crate::store::SessionStore;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tower::ServiceExt as _;

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head hyper buffers (request line + headers).
pub const MAX_HEADER_BUFFER: usize = 64 * 1024;
/// Pause after a failed accept (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Binds `addr` with an accept queue of `backlog` connections (tokio's
/// default of 128 overflows when thousands of pollers reconnect at once).
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server<S> {
    app: App<S>,
    listener: TcpListener,
}

impl<S: SessionStore> Server<S> {
    /// Binds `config.server.listen` (or `listen` when given) and prepares the app.
    pub fn bind(
        config: Config,
        store: S,
        clock: Clock,
        listen: Option<SocketAddr>,
    ) -> Result<Self, crate::StartError> {
        let addr = listen.unwrap_or(config.server.listen);
        let listener =
            bind(addr, config.server.backlog).map_err(|e| crate::StartError::Bind(addr, e))?;
        Self::from_listener(config, store, clock, listener)
    }

    /// Prepares the app on a listener the caller bound already.
    pub fn from_listener(
        config: Config,
        store: S,
        clock: Clock,
        listener: TcpListener,
    ) -> Result<Self, crate::StartError> {
        let app = App::new(config, store, clock)?;
        Ok(Self { app, listener })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The application handle (for tests: its clock and store).
    pub fn app(&self) -> &App<S> {
        &self.app
    }

    /// Serves until `shutdown` completes, then answers held polls at once,
    /// gives in-flight requests [`SHUTDOWN_GRACE`] to finish and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let Self { app, listener } = self;
        let purge = tokio::spawn(purge_loop(app.clone()));
        let router = http::router(app.clone());
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            // A client that trickles its headers (slowloris) is cut off.
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_HEADER_BUFFER)
            .keep_alive(true);
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors or similar: back off
                        // instead of spinning; held polls keep being served.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let service = router
                .clone()
                .map_request(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                });
            let conn =
                http1.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tracing::info!("shutting down: answering held polls");
        app.shutdown.cancel();
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(SHUTDOWN_GRACE) => {
                tracing::warn!("connections still open {SHUTDOWN_GRACE:?} after shutdown; closing them");
            }
        }
        let _ = purge.await;
        Ok(())
    }
}

/// Periodically drops expired sessions, tickets and logins, and idle
/// rate-limit buckets, so memory stays flat under steady load.
async fn purge_loop<S: SessionStore>(app: App<S>) {
    let mut every = tokio::time::interval(app.config.store.purge_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = app.shutdown.cancelled() => return,
        }
        let removed = app.store.purge_expired(app.clock.now()).await;
        app.limits.forget_idle();
        if removed > 0 {
            tracing::debug!(removed, "purged expired entries");
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
