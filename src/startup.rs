//! Building and running the server. The caller owns the listener and the
//! shutdown future, so tests bind port 0 and production binds what config says.
//!
//! Connections are served by hyper's HTTP/1.1 server directly (browsers
//! speak HTTP/1.1 to a plain-HTTP origin, and nginx does upstream), with a
//! header-read timeout and a bounded header buffer per connection, a
//! timeout on request bodies ([`crate::http::body_timeout`]), and caps on
//! open connections overall and per address ([`crate::connections`]).

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::connections::ConnectionGate;
use crate::http::body_timeout::{BodyPace, TimedBody};
use crate::http::{self, AppState};
use crate::login::LoginService;
use crate::observe::{AuditLog, Metrics, Observer};
use crate::oidc::keys::SigningKeys;
use crate::oidc::{Clients, OidcService};
use crate::store::Store;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tower::ServiceExt as _;

/// Largest request head (request line + headers), enforced on the parsed
/// head by [`crate::http::head_limit`] with a JSON 431.
pub const MAX_HEADER_BUFFER: usize = 64 * 1024;
/// What hyper may buffer while reading a head: twice the limit, so a head
/// between the two (trickled or sent at once alike) is parsed and refused
/// in JSON by the head limit; beyond it hyper's own empty 431 answers.
const HYPER_READ_BUFFER: usize = 2 * MAX_HEADER_BUFFER;
/// Accept queue of the admin listener (a scraper and a health checker).
const ADMIN_BACKLOG: u32 = 128;
/// Pause after a failed accept (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// What shutdown may take past `server.shutdown_timeout` for the last
/// chores (the purge task, the audit log's last lines) when the
/// connections took all of it.
pub const SHUTDOWN_MARGIN: Duration = Duration::from_secs(1);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A config value is wrong; the message names the key.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, io::Error),
}

impl StartError {
    /// The process exit code: 2 for a bad config value (fix the file), 1
    /// for the environment (port taken: retrying may help). Redis being
    /// down is neither: the server starts and connects when it can.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Bind(..) => 1,
        }
    }
}

/// The id_token signing keys `oidc.signing_keys` names, or a fresh one.
fn signing_keys(config: &Config) -> Result<SigningKeys, ConfigError> {
    let paths = &config.oidc.signing_keys;
    if paths.is_empty() {
        if !config.clients.is_empty() {
            tracing::warn!(
                "oidc.signing_keys is empty: signing id_tokens with a key generated at start-up; \
                 tokens will not verify after a restart or on other instances"
            );
        }
        return SigningKeys::generate().map_err(|e| ConfigError::new("oidc.signing_keys", e));
    }
    SigningKeys::load(paths).map_err(|e| ConfigError::new("oidc.signing_keys", e))
}

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

/// The whole server, built from a typed config and bound, not yet serving.
#[derive(Debug)]
pub struct Application {
    state: AppState,
    listener: TcpListener,
    /// `server.admin_listen`'s listener, if set.
    admin: Option<TcpListener>,
}

/// The metrics (if `[metrics] enabled`) and the audit log (if `[audit]
/// enabled`) every service reports to.
fn observer(config: &Config) -> Result<Observer, ConfigError> {
    let metrics = config.metrics.enabled.then(Metrics::new);
    let audit = if config.audit.enabled {
        let audit = AuditLog::open(&config.audit, metrics.clone());
        let key = if config.audit.path.is_some() {
            "audit.path"
        } else {
            "audit"
        };
        Some(audit.map_err(|e| ConfigError::new(key, format!("cannot open the audit log: {e}")))?)
    } else {
        None
    };
    Ok(Observer::new(metrics, audit))
}

impl Application {
    /// Builds everything `config` describes — the store included — on the
    /// system clock, and binds `server.listen`.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let addr = config.server.listen;
        let listener = bind(addr, config.server.backlog).map_err(|e| StartError::Bind(addr, e))?;
        Self::build_on(config, listener, Clock::system()).await
    }

    /// Like [`Application::build`], on a listener the caller bound and with
    /// the caller's clock (tests: port 0 and [`Clock::manual`]).
    pub async fn build_on(
        config: Config,
        listener: TcpListener,
        clock: Clock,
    ) -> Result<Self, StartError> {
        // Configs built in code (tests) get the same checks as loaded ones.
        config.validate()?;
        config.check_static_dir()?;
        let keys = signing_keys(&config)?;
        let clients = Clients::from_config(&config.clients, |alg| keys.supports(alg))?;
        let url = &config.server.public_url;
        if !clients.is_empty() && !config.is_https() && !crate::config::is_loopback(url) {
            // OpenID Connect wants an https issuer; codes and tokens would
            // cross the network in the clear.
            tracing::warn!(public_url = %url, "relying sites are configured but server.public_url is not https");
        }
        let admin = match config.server.admin_listen {
            Some(addr) => Some(bind(addr, ADMIN_BACKLOG).map_err(|e| StartError::Bind(addr, e))?),
            None => None,
        };
        let observer = observer(&config)?;
        // Does not wait for Redis: requests answer 503 until it is reached.
        let store = Store::from_config(&config)?;
        if let Some(metrics) = observer.metrics() {
            store.instrument(metrics.store().clone());
        }
        let max_held = crate::login::held_connection_budget(config.limits.max_held_connections);
        tracing::info!(max_held, "long polls and event streams held at most");
        let login = LoginService::new(store.clone(), clock.clone(), config.login)
            .with_max_held(max_held)
            .with_observer(observer.clone());
        if let Some(metrics) = observer.metrics() {
            let held = login.held_reader();
            metrics.held_source(std::sync::Arc::new(held), login.max_held());
        }
        let oidc = OidcService::new(
            store,
            clock,
            clients,
            keys,
            config.oidc.clone(),
            config.public_base(),
        )
        .with_observer(observer);
        let state = AppState::new(config, login, oidc)?;
        Ok(Self {
            state,
            listener,
            admin,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's address (`server.admin_listen`), if there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The login service (for tests: its clock and store).
    pub fn login(&self) -> &LoginService {
        self.state.login()
    }

    /// The state the router is built on (for the HTTP layer's unit tests).
    #[cfg(test)]
    pub(crate) fn state(&self) -> &AppState {
        &self.state
    }

    /// The router [`Application::run_until_stopped`] serves, for driving
    /// requests in process (`bench/src/bin/observe-heap.rs` measures what a
    /// held poll costs through it).
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    /// Serves until `shutdown` completes; then stops accepting, answers
    /// held polls and ends event streams at once, gives in-flight requests
    /// `server.shutdown_timeout` to finish, and returns (whether or not
    /// they did) once the audit log's last lines are written, at most
    /// [`SHUTDOWN_MARGIN`] past that timeout.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let Self {
            state,
            listener,
            admin,
        } = self;
        let purge = tokio::spawn(purge_loop(state.clone()));
        let admin_stop = tokio_util::sync::CancellationToken::new();
        let admin = admin.map(|listener| {
            let router = http::metrics::admin_router(state.clone())
                .into_make_service_with_connect_info::<SocketAddr>();
            let stop = admin_stop.clone().cancelled_owned();
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::warn!(error = %e, "the admin listener failed");
                }
            })
        });
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            // A client that trickles its headers (slowloris) is cut off.
            .header_read_timeout(state.config().server.header_read_timeout)
            .max_buf_size(HYPER_READ_BUFFER)
            .keep_alive(true);
        let server = &state.config().server;
        let gate = ConnectionGate::new(
            crate::connections::connection_budget(server.max_connections),
            server.max_connections_per_ip,
            server.trusted_proxies.clone(),
        );
        tracing::info!(max_connections = gate.max(), "connections open at most");
        let pace = BodyPace {
            timeout: server.body_read_timeout,
            min_rate: server.body_min_rate,
        };
        let refusing = Arc::new(AtomicUsize::new(0));
        let login = state.login().clone();
        let observer = state.observer().clone();
        let shutdown_timeout = state.config().server.shutdown_timeout;
        let router = http::router(state);
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
            let admitted = match gate.admit(peer.ip()) {
                Ok(admitted) => admitted,
                Err(refusal) => {
                    refuse(stream, &refusal, &refusing);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let service = router.clone().map_request(move |req: Request<Incoming>| {
                let mut req = req.map(|body| Body::new(TimedBody::new(body, pace)));
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
                drop(admitted);
            });
        }
        drop(listener);
        tracing::info!("shutting down: answering held polls, ending event streams");
        // One deadline for everything still open, the admin listener included.
        let deadline = tokio::time::Instant::now() + shutdown_timeout;
        login.shut_down();
        admin_stop.cancel();
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(
                    "connections still open {} after shutdown; stopping without waiting for them",
                    humantime::format_duration(shutdown_timeout)
                );
            }
        }
        if let Some(admin) = admin {
            let _ = tokio::time::timeout_at(deadline, admin).await;
        }
        // The purge (a sweep waiting on Redis) and the audit log (a writer
        // stuck on a full disk or a pipe nobody reads) get the same
        // deadline, plus a margin should the connections have taken it all.
        let last_call = deadline + SHUTDOWN_MARGIN;
        let purge_abort = purge.abort_handle();
        if tokio::time::timeout_at(last_call, purge).await.is_err() {
            purge_abort.abort();
            tracing::warn!("the purge task did not stop in time; stopping without it");
        }
        // Whatever the audit log still queues reaches its file.
        if tokio::time::timeout_at(last_call, observer.flush())
            .await
            .is_err()
        {
            tracing::warn!(
                queued = observer.audit_queued(),
                "the audit log's writer is stuck; stopping with its queued lines unwritten"
            );
        }
        Ok(())
    }
}

/// Refusals being written at once; past it a refused connection is closed
/// without an answer (a flood must not turn refusals into a new leak).
const MAX_REFUSING: usize = 256;
/// How long a refused connection may take to receive its answer.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Answers a connection over a cap with `refusal` (JSON, `Connection:
/// close`) and closes it, without hyper: nothing of the request is parsed.
/// The request is read (and dropped) briefly after the answer, since
/// closing a socket with unread data resets it, and a reset can destroy the
/// answer before the client reads it.
fn refuse(
    mut stream: tokio::net::TcpStream,
    refusal: &http::ApiError,
    refusing: &Arc<AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    tracing::debug!(code = refusal.code(), "connection refused");
    if refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
        refusing.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    let answer = crate::connections::refusal_bytes(refusal);
    let refusing = refusing.clone();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            stream.write_all(&answer).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            io::Result::Ok(())
        })
        .await;
        refusing.fetch_sub(1, Ordering::AcqRel);
    });
}

/// Periodically forgets idle rate-limit buckets and, where the store needs
/// it, sweeps expired sessions and logins, so memory stays flat under
/// steady load.
async fn purge_loop(state: AppState) {
    let mut every = tokio::time::interval(state.config().store.purge_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = state.login().stopping() => return,
        }
        state.limits().forget_idle();
        if !state.login().store().needs_sweeping() {
            continue;
        }
        match state.login().sweep_expired().await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "swept expired entries"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired entries failed"),
        }
    }
}

/// A future that resolves on Ctrl-C or SIGTERM. The SIGTERM handler is
/// installed by this call, not when the future is first polled: a SIGTERM
/// that arrives while the server is still starting, or in the instant
/// before the accept loop first looks at the future, must stop the server
/// gracefully rather than kill it with the default action.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| tracing::error!(error = %e, "cannot listen for SIGTERM"))
        .ok();
    async move {
        let ctrl_c = async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let terminate = async move {
            match terminate {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {}
            () = terminate => {}
        }
    }
}
