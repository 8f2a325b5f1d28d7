//! A private Redis Sentinel deployment per test: data nodes (a primary and
//! its replicas) and sentinels, each a `redis-server` process (sentinels
//! run as `redis-server <conf> --sentinel`, so no package beyond
//! redis-server is needed) on a free port in the deployment's directory,
//! with passwords on the data nodes and on the sentinels, and failover
//! tuned to take a few seconds. Everything stops when it is dropped.
#![allow(dead_code)]

use qrlogin::store::SentinelSettings;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The name the sentinels monitor the primary under.
pub const MASTER_NAME: &str = "qrlogin-test";
/// `requirepass` (and `masterauth`) of the data nodes.
pub const REDIS_PASSWORD: &str = "data-node-secret";
/// `requirepass` of the sentinels (and what they use among themselves).
pub const SENTINEL_PASSWORD: &str = "sentinel-secret";
/// The database the store is told to use on the data nodes.
pub const DB: i64 = 2;

/// One process of the deployment.
pub struct Node {
    pub port: u16,
    password: &'static str,
    child: Option<Child>,
}

impl Node {
    pub fn url(&self) -> String {
        format!("redis://:{}@127.0.0.1:{}", self.password, self.port)
    }

    /// Runs one command on this node (database 0 for data nodes; `SELECT`
    /// is refused by sentinels).
    pub async fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> redis::RedisResult<T> {
        let client = redis::Client::open(self.url())?;
        let connect = client.get_multiplexed_async_connection();
        let mut conn = tokio::time::timeout(Duration::from_secs(2), connect)
            .await
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timed out")))??;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async(&mut conn).await
    }

    /// Kills the process outright (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts `redis-server` with `args` (after the config file `conf`, if
    /// any) on `self.port`; true once it answers as this very process.
    async fn spawn(&mut self, conf: Option<&Path>, args: &[String]) -> bool {
        let mut command = Command::new("redis-server");
        if let Some(conf) = conf {
            command.arg(conf);
        }
        let child = command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server not found: apt-get install redis-server");
        let pid = child.id();
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(info) = self.cmd::<String>(&["INFO", "server"]).await {
                // It must be our process, not another test's that got the port.
                let ours = info
                    .lines()
                    .find_map(|l| l.strip_prefix("process_id:"))
                    .is_some_and(|p| p.trim() == pid.to_string());
                if !ours {
                    self.kill();
                }
                return ours;
            }
            if let Some(child) = self.child.as_mut()
                && child.try_wait().unwrap().is_some()
            {
                self.child = None;
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A primary, `replicas` replicas and some sentinels watching them.
pub struct SentinelDeployment {
    dir: PathBuf,
    /// `data[0]` starts as the primary.
    pub data: Vec<Node>,
    pub sentinels: Vec<Node>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SentinelDeployment {
    /// A primary with one replica and three sentinels (quorum 2): the
    /// smallest deployment that fails over.
    pub async fn start() -> Self {
        Self::start_with(1, 3, 2).await
    }

    /// A primary alone with one sentinel: enough to find the primary
    /// through a sentinel, cheap enough for every conformance test.
    pub async fn start_small() -> Self {
        Self::start_with(0, 1, 1).await
    }

    async fn start_with(replicas: usize, sentinels: usize, quorum: usize) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "qrlogin-sentinel-{}",
            qrlogin::session::QrId::generate()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut deployment = Self {
            dir,
            data: Vec::new(),
            sentinels: Vec::new(),
        };
        let primary = deployment.start_data_node(None).await;
        deployment.data.push(primary);
        let primary_port = deployment.data[0].port;
        for _ in 0..replicas {
            let replica = deployment.start_data_node(Some(primary_port)).await;
            deployment.data.push(replica);
        }
        deployment.wait_for_replicas(replicas).await;
        for i in 0..sentinels {
            let sentinel = deployment.start_sentinel(i, primary_port, quorum).await;
            deployment.sentinels.push(sentinel);
        }
        deployment
            .wait_until_sentinels_see_everything(replicas)
            .await;
        deployment
    }

    async fn start_data_node(&self, replica_of: Option<u16>) -> Node {
        for _ in 0..5 {
            let mut node = Node {
                port: free_port(),
                password: REDIS_PASSWORD,
                child: None,
            };
            let node_dir = self.dir.join(format!("data-{}", node.port));
            std::fs::create_dir_all(&node_dir).unwrap();
            // `--dir` first: the log file is opened relative to it.
            let mut args: Vec<String> = vec!["--dir".into(), node_dir.display().to_string()];
            args.extend(
                [
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    &node.port.to_string(),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--requirepass",
                    REDIS_PASSWORD,
                    "--masterauth",
                    REDIS_PASSWORD,
                    "--logfile",
                    "redis.log",
                ]
                .iter()
                .map(ToString::to_string),
            );
            if let Some(port) = replica_of {
                args.extend(["--replicaof".into(), "127.0.0.1".into(), port.to_string()]);
            }
            if node.spawn(None, &args).await {
                return node;
            }
        }
        panic!("could not start redis-server (is it installed? apt-get install redis-server)");
    }

    async fn start_sentinel(&self, i: usize, primary_port: u16, quorum: usize) -> Node {
        for _ in 0..5 {
            let mut node = Node {
                port: free_port(),
                password: SENTINEL_PASSWORD,
                child: None,
            };
            let node_dir = self.dir.join(format!("sentinel-{i}"));
            std::fs::create_dir_all(&node_dir).unwrap();
            // A fresh file per attempt: a sentinel rewrites its config.
            let conf = node_dir.join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\n\
                     bind 127.0.0.1\n\
                     daemonize no\n\
                     dir {dir}\n\
                     logfile sentinel.log\n\
                     requirepass {SENTINEL_PASSWORD}\n\
                     sentinel sentinel-pass {SENTINEL_PASSWORD}\n\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} {quorum}\n\
                     sentinel auth-pass {MASTER_NAME} {REDIS_PASSWORD}\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                     sentinel failover-timeout {MASTER_NAME} 2000\n\
                     sentinel parallel-syncs {MASTER_NAME} 1\n",
                    port = node.port,
                    dir = node_dir.display(),
                ),
            )
            .unwrap();
            if node.spawn(Some(&conf), &["--sentinel".to_owned()]).await {
                return node;
            }
        }
        panic!("could not start redis-server --sentinel");
    }

    /// Waits until the primary has `n` replicas in sync.
    async fn wait_for_replicas(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info: String = self.data[0]
                .cmd(&["INFO", "replication"])
                .await
                .unwrap_or_default();
            let online = info
                .lines()
                .filter(|l| l.starts_with("slave") && l.contains("state=online"))
                .count();
            if online >= n {
                return;
            }
            assert!(Instant::now() < deadline, "replicas not in sync: {info}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every replica has acknowledged all the primary had
    /// written when this was called (replicas ack once a second).
    pub async fn wait_until_replicas_caught_up(&self) {
        let info = |text: &str, key: &str| -> Option<u64> {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
        };
        let now: String = self.data[0].cmd(&["INFO", "replication"]).await.unwrap();
        let written = info(&now, "master_repl_offset:").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text: String = self.data[0].cmd(&["INFO", "replication"]).await.unwrap();
            let acked: Vec<u64> = text
                .lines()
                .filter(|l| l.starts_with("slave") && l.contains("offset="))
                .filter_map(|l| {
                    l.split(',')
                        .find_map(|f| f.strip_prefix("offset="))
                        .and_then(|v| v.parse().ok())
                })
                .collect();
            let replicas = self.data.len() - 1;
            if acked.len() == replicas && acked.iter().all(|&o| o >= written) {
                return;
            }
            assert!(Instant::now() < deadline, "replicas lag: {text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every sentinel knows the replicas and the other
    /// sentinels: only then can they agree on a failover.
    async fn wait_until_sentinels_see_everything(&self, replicas: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let others = self.sentinels.len() - 1;
        for sentinel in &self.sentinels {
            loop {
                let seen_replicas: Vec<redis::Value> = sentinel
                    .cmd(&["SENTINEL", "REPLICAS", MASTER_NAME])
                    .await
                    .unwrap_or_default();
                let seen_sentinels: Vec<redis::Value> = sentinel
                    .cmd(&["SENTINEL", "SENTINELS", MASTER_NAME])
                    .await
                    .unwrap_or_default();
                if seen_replicas.len() >= replicas && seen_sentinels.len() >= others {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "sentinel on {} sees {} replicas and {} sentinels",
                    sentinel.port,
                    seen_replicas.len(),
                    seen_sentinels.len()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// `host:port` of every sentinel, as `store.redis_sentinels` lists them.
    pub fn sentinel_addrs(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect()
    }

    /// The store's settings for this deployment (passwords and database included).
    pub fn settings(&self) -> SentinelSettings {
        let sentinels = self
            .sentinels
            .iter()
            .map(|s| ("127.0.0.1".to_owned(), s.port))
            .collect();
        SentinelSettings {
            password: Some(REDIS_PASSWORD.into()),
            db: DB,
            sentinel_password: Some(SENTINEL_PASSWORD.into()),
            ..SentinelSettings::new(sentinels, MASTER_NAME)
        }
    }

    /// The primary's port as the first sentinel that answers reports it.
    pub async fn reported_primary_port(&self) -> Option<u16> {
        for sentinel in self.sentinels.iter().filter(|s| s.is_running()) {
            let addr: Result<(String, String), _> = sentinel
                .cmd(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME])
                .await;
            if let Ok((_, port)) = addr {
                return port.parse().ok();
            }
        }
        None
    }

    /// The data node on `port`.
    pub fn data_node(&mut self, port: u16) -> &mut Node {
        self.data
            .iter_mut()
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("no data node on port {port}"))
    }

    /// Waits (at most `within`) until the sentinels report a primary other
    /// than `old` that says it is the primary (`ROLE`), and returns its port.
    pub async fn wait_for_failover(&mut self, old: u16, within: Duration) -> u16 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(port) = self.reported_primary_port().await
                && port != old
            {
                let role: Result<Vec<redis::Value>, _> = self.data_node(port).cmd(&["ROLE"]).await;
                if let Ok(role) = role
                    && role.first() == Some(&redis::Value::BulkString(b"master".to_vec()))
                {
                    return port;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no failover within {within:?}: sentinels still report {:?}",
                self.reported_primary_port().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SentinelDeployment {
    fn drop(&mut self) {
        // Sentinels first, so none starts a failover while the nodes go.
        self.sentinels.clear();
        self.data.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
