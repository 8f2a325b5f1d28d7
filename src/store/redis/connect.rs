//! The first connection to Redis, made in the background and retried with
//! backoff until it succeeds, so an instance starts — and answers
//! `/healthz` — while Redis is still down, and a whole stack comes up in any
//! order. After it, the [`ConnectionManager`] reconnects by itself.

use super::RedisSettings;
use super::backoff::Backoff;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How the command connection is (re)made: each connect bounded by the
/// timeout, one quick retry inside the manager (a Redis restart then costs
/// no request), every command bounded by the timeout too.
fn manager_config(settings: &RedisSettings) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.timeout))
        .set_response_timeout(Some(settings.timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500))
}

/// Why an attempt failed, and whether waiting can fix it.
pub(super) struct Failure {
    pub(super) error: String,
    /// Redis answered and refused us (wrong password, bad user or
    /// database): only the operator can fix it, so it is logged as an error.
    pub(super) refused: bool,
}

/// Whether Redis answered and refused us (a wrong or missing password, a
/// user without the permission, a bad database): only the operator can fix it.
pub(super) fn is_refusal(e: &redis::RedisError) -> bool {
    matches!(
        e.kind(),
        redis::ErrorKind::AuthenticationFailed
            | redis::ErrorKind::InvalidClientConfig
            | redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm)
    ) || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
}

/// One attempt to open the command connection, within the timeout.
pub(super) async fn connect_once(
    client: &redis::Client,
    settings: &RedisSettings,
) -> Result<ConnectionManager, Failure> {
    let connect = client.get_connection_manager_with_config(manager_config(settings));
    try_connect(connect, settings.timeout).await
}

/// One attempt to connect, within `timeout`.
async fn try_connect<C>(
    connect: impl Future<Output = redis::RedisResult<C>>,
    timeout: Duration,
) -> Result<C, Failure> {
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(Failure {
            refused: is_refusal(&e),
            error: e.to_string(),
        }),
        Err(_) => Err(Failure {
            error: "timed out".into(),
            refused: false,
        }),
    }
}

/// Connects to Redis, retrying with the resubscribe backoff
/// (`store.redis_resubscribe_min_delay` doubling up to `…_max_delay`,
/// jittered) and logging each failure once at warn with its attempt number
/// and the pause before the next. `None` if `stop` is cancelled first.
pub(super) async fn first_connection(
    client: &redis::Client,
    settings: &RedisSettings,
    stop: &CancellationToken,
) -> Option<ConnectionManager> {
    let backoff = Backoff::new(
        settings.min_resubscribe_delay,
        settings.max_resubscribe_delay,
        settings.stable_after,
    );
    let connect = || client.get_connection_manager_with_config(manager_config(settings));
    retry_until_connected(connect, settings.timeout, backoff, "store.redis_url", stop).await
}

/// Calls `connect` (each attempt bounded by `timeout`) until it succeeds,
/// pausing as `backoff` says between attempts; a refusal names `config_key`
/// as the thing to check. `None` if `stop` is cancelled first.
pub(super) async fn retry_until_connected<C, Fut>(
    connect: impl Fn() -> Fut,
    timeout: Duration,
    mut backoff: Backoff,
    config_key: &str,
    stop: &CancellationToken,
) -> Option<C>
where
    Fut: Future<Output = redis::RedisResult<C>>,
{
    let mut attempt: u32 = 1;
    loop {
        let tried = tokio::select! {
            r = try_connect(connect(), timeout) => r,
            () = stop.cancelled() => return None,
        };
        match tried {
            Ok(conn) => {
                tracing::info!(attempt, "connected to redis");
                return Some(conn);
            }
            Err(Failure { error, refused }) => {
                let pause = backoff.next_pause();
                if refused {
                    // Still retried: the credentials may be on their way
                    // (an ACL applied after start-up), but say it is ours to fix.
                    tracing::error!(
                        %error,
                        attempt,
                        retry_in = ?pause,
                        "redis refused the connection: check {config_key}'s user, password \
                         and database; serving 503 store_unavailable meanwhile"
                    );
                } else {
                    tracing::warn!(
                        %error,
                        attempt,
                        retry_in = ?pause,
                        "cannot connect to redis; serving 503 store_unavailable until it answers"
                    );
                }
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = stop.cancelled() => return None,
                }
            }
        }
        attempt = attempt.saturating_add(1);
    }
}
