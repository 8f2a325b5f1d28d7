//! A private Redis Cluster per test: `redis-server --cluster-enabled yes`
//! per node on free ports, joined by `redis-cli --cluster create`, stopped
//! when dropped. A `cluster-node-timeout` of a few seconds keeps failover
//! quick yet does not fail a node that a busy machine merely starved.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a node may be unreachable before its replica takes over: at
/// 1 s, many clusters started in parallel on a loaded 2-core machine saw
/// false failures (`CLUSTERDOWN`, failovers nobody asked for).
const NODE_TIMEOUT_MS: u64 = 3000;

/// One node's process.
pub struct ClusterNode {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

pub struct RedisCluster {
    /// Primaries first, then replicas, as `--cluster create` was given them.
    pub nodes: Vec<ClusterNode>,
    dir: PathBuf,
}

/// A port that is free, and so is its cluster bus port (+10000).
fn free_cluster_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl ClusterNode {
    /// Starts a cluster-enabled node in `dir`; `None` if it did not come up
    /// (a port taken meanwhile).
    async fn spawn(dir: &std::path::Path) -> Option<Self> {
        let port = free_cluster_port();
        let dir = dir.join(port.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(["--logfile", "redis.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server not found: apt-get install redis-server");
        let mut node = Self {
            port,
            dir,
            child: Some(child),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(info) = node.cmd::<String>(&["INFO", "server"]).await {
                let pid = node.child.as_ref().unwrap().id().to_string();
                let ours = info
                    .lines()
                    .find_map(|l| l.strip_prefix("process_id:"))
                    .is_some_and(|p| p.trim() == pid);
                return ours.then_some(node);
            }
            if node.child.as_mut().unwrap().try_wait().unwrap().is_some() {
                node.child = None;
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs one command on this node only (no redirection).
    pub async fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> redis::RedisResult<T> {
        let client = redis::Client::open(self.url())?;
        let connect = client.get_multiplexed_async_connection();
        let mut conn = tokio::time::timeout(Duration::from_secs(2), connect)
            .await
            .map_err(|_| redis::RedisError::from(std::io::Error::other("connect timed out")))??;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async(&mut conn).await
    }

    /// This node's cluster id.
    pub async fn id(&self) -> String {
        self.cmd(&["CLUSTER", "MYID"]).await.unwrap()
    }

    /// Kills the node outright (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        self.kill();
    }
}

impl RedisCluster {
    /// `primaries` primaries with `replicas` replicas each, every slot
    /// assigned and every node agreeing that the cluster is ok.
    pub async fn start(primaries: usize, replicas: usize) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "qrlogin-redis-cluster-{}",
            qrlogin::session::QrId::generate()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut nodes = Vec::new();
        while nodes.len() < primaries * (1 + replicas) {
            if let Some(node) = ClusterNode::spawn(&dir).await {
                nodes.push(node);
            }
        }
        let addrs: Vec<String> = nodes.iter().map(ClusterNode::addr).collect();
        let create = move || {
            Command::new("redis-cli")
                .args(["--cluster", "create"])
                .args(&addrs)
                .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("redis-cli not found: apt-get install redis-tools")
        };
        // It sleeps while the nodes meet: not on the test's runtime.
        let created = tokio::task::spawn_blocking(create).await.unwrap();
        assert!(created.success(), "redis-cli --cluster create failed");
        let cluster = Self { nodes, dir };
        cluster.wait_until_ok(Duration::from_secs(20)).await;
        cluster
    }

    /// Seed URLs for the client: every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(ClusterNode::url).collect()
    }

    /// Waits until every running node says the cluster is ok and sees the
    /// same number of primaries holding slots.
    pub async fn wait_until_ok(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let mut ok = true;
            for node in self.nodes.iter().filter(|n| n.is_running()) {
                let info: String = node.cmd(&["CLUSTER", "INFO"]).await.unwrap_or_default();
                ok &= info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384");
            }
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The node holding `slot` as a primary, by index into `nodes`.
    pub async fn owner_of(&self, slot: u16) -> usize {
        let me = self.nodes.iter().position(ClusterNode::is_running).unwrap();
        let slots: redis::Value = self.nodes[me].cmd(&["CLUSTER", "SLOTS"]).await.unwrap();
        let redis::Value::Array(ranges) = slots else {
            panic!("CLUSTER SLOTS: {slots:?}")
        };
        for range in ranges {
            let redis::Value::Array(r) = range else {
                continue;
            };
            let (redis::Value::Int(lo), redis::Value::Int(hi)) = (&r[0], &r[1]) else {
                continue;
            };
            if (*lo..=*hi).contains(&i64::from(slot)) {
                let redis::Value::Array(primary) = &r[2] else {
                    panic!()
                };
                let redis::Value::Int(port) = primary[1] else {
                    panic!()
                };
                return self
                    .nodes
                    .iter()
                    .position(|n| i64::from(n.port) == port)
                    .unwrap();
            }
        }
        panic!("slot {slot} is not served")
    }

    /// The slot of `key`.
    pub async fn slot_of(&self, key: &str) -> u16 {
        let me = self.nodes.iter().find(|n| n.is_running()).unwrap();
        me.cmd(&["CLUSTER", "KEYSLOT", key]).await.unwrap()
    }

    /// Starts moving `slot` from node `from` to node `to` (both primaries):
    /// `IMPORTING` on the target, `MIGRATING` on the source, as
    /// `redis-cli --cluster reshard` does. Keys then move with [`Self::migrate_keys`].
    pub async fn begin_migration(&self, slot: u16, from: usize, to: usize) {
        let (source, target) = (&self.nodes[from], &self.nodes[to]);
        let slot = slot.to_string();
        let (source_id, target_id) = (source.id().await, target.id().await);
        let _: () = target
            .cmd(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &source_id])
            .await
            .unwrap();
        let _: () = source
            .cmd(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &target_id])
            .await
            .unwrap();
    }

    /// Moves these keys (all in one slot) from node `from` to node `to`.
    pub async fn migrate_keys(&self, keys: &[&str], from: usize, to: usize) {
        let target = &self.nodes[to];
        let port = target.port.to_string();
        let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
        args.extend_from_slice(keys);
        let _: redis::Value = self.nodes[from].cmd(&args).await.unwrap();
    }

    /// Ends moving `slot` to node `to`: `SETSLOT … NODE` on the target,
    /// then the source (which now drops the slot's shard channels: the
    /// unsolicited `SUNSUBSCRIBE`), then every other primary.
    pub async fn end_migration(&self, slot: u16, from: usize, to: usize) {
        let slot = slot.to_string();
        let target_id = self.nodes[to].id().await;
        let mut order = vec![to, from];
        order.extend((0..self.nodes.len()).filter(|i| *i != to && *i != from));
        for i in order {
            let node = &self.nodes[i];
            if node.is_running() {
                let _: redis::RedisResult<()> = node
                    .cmd(&["CLUSTER", "SETSLOT", &slot, "NODE", &target_id])
                    .await;
            }
        }
    }

    /// Moves `slot` with its `keys` from node `from` to node `to`.
    pub async fn migrate_slot(&self, slot: u16, keys: &[&str], from: usize, to: usize) {
        self.begin_migration(slot, from, to).await;
        self.migrate_keys(keys, from, to).await;
        self.end_migration(slot, from, to).await;
    }

    /// Waits until the replica at index `replica` has what its primary has
    /// (replication is asynchronous: a write acknowledged a moment before a
    /// crash can be lost, which is not what a failover test is about).
    pub async fn wait_for_replica_sync(&self, primary: usize, replica: usize) {
        let offset = |info: &str, field: &str| -> i64 {
            info.lines()
                .find_map(|l| l.strip_prefix(field))
                .map_or(-1, |v| v.trim().parse().unwrap_or(-1))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let p: String = self.nodes[primary]
                .cmd(&["INFO", "replication"])
                .await
                .unwrap();
            let r: String = self.nodes[replica]
                .cmd(&["INFO", "replication"])
                .await
                .unwrap();
            let (p, r) = (
                offset(&p, "master_repl_offset:"),
                offset(&r, "slave_repl_offset:"),
            );
            if p > 0 && p == r {
                return;
            }
            assert!(Instant::now() < deadline, "replica never caught up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The replica of the primary at index `primary`.
    pub async fn replica_of(&self, primary: usize) -> usize {
        let id = self.nodes[primary].id().await;
        for (i, node) in self.nodes.iter().enumerate() {
            let info: String = node.cmd(&["INFO", "replication"]).await.unwrap();
            if info.contains("role:slave") {
                let nodes: String = node.cmd(&["CLUSTER", "NODES"]).await.unwrap();
                let myself = nodes.lines().find(|l| l.contains("myself")).unwrap();
                if myself.split(' ').nth(3) == Some(id.as_str()) {
                    return i;
                }
            }
        }
        panic!("primary {primary} has no replica")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
