//! A private nginx per test, running a config file shipped in `deploy/`
//! with only ports and paths swapped: on a free port, in its own directory,
//! stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nginx {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Nginx {
    /// Runs `deploy/<file>` (with the `deploy/` files it `include`s), its
    /// `listen 80;` lines on a free port of
    /// 127.0.0.1, `pid`, `error_log` and `access_log` (with nginx's temp
    /// paths) in a directory of its own, and each line that starts with a
    /// `swaps` prefix (after indentation) with that prefix replaced: the
    /// upstream addresses. Every swap must match a line, so the file keeps
    /// the lines the test rewrites recognisable. Retries on another port if
    /// the one picked was taken before nginx could bind it.
    pub async fn start(file: &str, swaps: &[(&str, String)]) -> Self {
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(file, swaps).await {
                Ok(nginx) => return nginx,
                Err(e) => last_error = e,
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    async fn try_start(file: &str, swaps: &[(&str, String)]) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!(
            "qrlogin-nginx-{}",
            qrlogin::session::QrId::generate()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let path = format!("{}/deploy/{file}", env!("CARGO_MANIFEST_DIR"));
        let shipped = std::fs::read_to_string(&path).unwrap();
        let d = dir.display();
        let mut conf = String::new();
        let mut swapped_lines = vec![0; swaps.len()];
        let mut listens = 0;
        for line in shipped.lines() {
            let t = line.trim_start();
            let swap = swaps.iter().position(|(from, _)| t.starts_with(from));
            let swapped = if let Some(i) = swap {
                swapped_lines[i] += 1;
                t.replacen(swaps[i].0, &swaps[i].1, 1)
            } else if t.starts_with("listen 80;") {
                listens += 1;
                format!("listen 127.0.0.1:{port};")
            } else if t.starts_with("pid ") {
                format!("pid {d}/nginx.pid;")
            } else if t.starts_with("error_log ") {
                format!("error_log {d}/error.log warn;")
            } else if t.starts_with("access_log ") {
                format!(
                    "access_log {d}/access.log;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n \
                     fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;"
                )
            } else {
                if let Some(name) = t
                    .strip_prefix("include ")
                    .and_then(|rest| rest.strip_suffix(';'))
                {
                    // A file shipped beside it: nginx reads relative includes
                    // from the main file's directory, so put a copy there.
                    let shipped = format!("{}/deploy/{name}", env!("CARGO_MANIFEST_DIR"));
                    std::fs::copy(&shipped, dir.join(name))
                        .unwrap_or_else(|e| panic!("deploy/{file} includes {name}: {e}"));
                }
                line.to_owned()
            };
            conf.push_str(&swapped);
            conf.push('\n');
        }
        assert!(listens > 0, "deploy/{file} lost its `listen 80;`");
        for ((from, _), n) in swaps.iter().zip(swapped_lines) {
            assert!(n > 0, "deploy/{file} has no line starting with {from:?}");
        }
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let bin = if std::path::Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let child = Command::new(bin)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx not found: apt-get install nginx");
        let mut nginx = Self {
            port,
            dir,
            child: Some(child),
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Some(status) = nginx.child.as_mut().unwrap().try_wait().unwrap() {
                nginx.child = None;
                let log = std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default();
                return Err(format!("exited ({status}): {log}"));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("not listening after 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(nginx)
    }

    /// `path` on nginx, addressed by IP (for configs with a catch-all server).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// nginx's error log so far, for failure messages.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // TERM on the master stops its workers too (KILL would orphan them).
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
