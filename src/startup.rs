//! Building and running the server. The caller owns the listener and the
//! shutdown future, so tests bind port 0 and production binds what config says.

use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::http;
use crate::store::SessionStore;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket};

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

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
    /// finishes in-flight requests and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let Self { app, listener } = self;
        let purge = tokio::spawn(purge_loop(app.clone()));
        let stopping = app.shutdown.clone();
        let service = http::router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, service).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: answering held polls");
            stopping.cancel();
        });
        // Held polls answer at once on shutdown, but a stuck or slow client
        // must not keep the process alive: give in-flight requests a deadline.
        let deadline = async {
            app.shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
            tracing::warn!(
                "connections still open {SHUTDOWN_GRACE:?} after shutdown; closing them"
            );
        };
        let served = tokio::select! {
            served = serve.into_future() => served,
            () = deadline => Ok(()),
        };
        app.shutdown.cancel();
        let _ = purge.await;
        served
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
