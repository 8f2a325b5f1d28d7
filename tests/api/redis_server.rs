//! A private `redis-server` per test: on a free port, in its own directory,
//! stopped when dropped. Never the machine's shared Redis.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// Starts a fresh server (no data, nothing saved unless asked).
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "qrlogin-redis-{}",
            qrlogin::session::QrId::generate()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for _ in 0..5 {
            let mut server = Self {
                port: free_port(),
                dir: dir.clone(),
                child: None,
            };
            if server.spawn().await {
                return server;
            }
        }
        panic!("could not start redis-server (is it installed? apt-get install redis-server)");
    }

    /// Starts the process on `self.port`; false if it did not come up.
    async fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--dbfilename", "dump.rdb", "--logfile", "redis.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server not found: apt-get install redis-server");
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            // Answering is not enough: it must be *our* process, not another
            // test's server that got the port first.
            if self.ping().await {
                return self.serves_our_process().await;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let _ = status;
                self.child = None;
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(Ok(mut conn)) = tokio::time::timeout(
            Duration::from_millis(500),
            client.get_multiplexed_async_connection(),
        )
        .await
        else {
            return false;
        };
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    }

    async fn serves_our_process(&mut self) -> bool {
        let Some(child) = &self.child else {
            return false;
        };
        let info: String = self.cmd(&["INFO", "server"]).await.unwrap_or_default();
        let ours = info
            .lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .is_some_and(|pid| pid.trim() == child.id().to_string());
        if !ours {
            self.kill();
        }
        ours
    }

    /// Runs one command, for poking at the server from a test.
    pub async fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> redis::RedisResult<T> {
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async(&mut conn).await
    }

    /// Kills the server outright (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the process (SIGSTOP), as a hung host or a network partition
    /// would: connections stay open, nothing is answered, nothing is closed.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen process run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("redis is running").id();
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// Restarts on the same port. With `keep_data`, the data set survives
    /// (saved on shutdown, loaded on start) but loaded scripts do not — as
    /// after a real Redis restart.
    pub async fn restart(&mut self, keep_data: bool) {
        if keep_data {
            let _ = self.cmd::<()>(&["SHUTDOWN", "SAVE"]).await;
            if let Some(mut child) = self.child.take() {
                let _ = child.wait();
            }
        } else {
            self.kill();
        }
        assert!(
            self.spawn().await,
            "redis did not come back on port {}",
            self.port
        );
    }

    /// Starts a server that was killed, on the same port.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none());
        assert!(
            self.spawn().await,
            "redis did not come back on port {}",
            self.port
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
