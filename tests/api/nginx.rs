//! The shipped `deploy/nginx.conf` in front of two instances on one Redis.
//! The test runs that very file, with only ports and paths swapped.

use crate::helpers::*;
use crate::redis_server::RedisServer;
use reqwest::StatusCode;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Nginx {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Nginx {
    /// Starts nginx on a free port; retries on another port if the one
    /// picked was taken before nginx could bind it.
    async fn start(upstreams: [u16; 2]) -> Self {
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(upstreams).await {
                Ok(nginx) => return nginx,
                Err(e) => last_error = e,
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    async fn try_start(upstreams: [u16; 2]) -> Result<Self, String> {
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
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf"))
                .unwrap();
        let d = dir.display();
        let mut conf = String::new();
        for line in shipped.lines() {
            let t = line.trim_start();
            let swapped = if t.starts_with("listen 80;") {
                format!("listen 127.0.0.1:{port};")
            } else if t.starts_with("server 127.0.0.1:8081") {
                t.replace("8081", &upstreams[0].to_string())
            } else if t.starts_with("server 127.0.0.1:8082") {
                t.replace("8082", &upstreams[1].to_string())
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
                line.to_owned()
            };
            conf.push_str(&swapped);
            conf.push('\n');
        }
        assert!(
            conf.contains(&format!("listen 127.0.0.1:{port};")),
            "deploy/nginx.conf lost its `listen 80;`"
        );
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

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
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

/// Waits (bounded) until one poll of `id` is held on either instance.
async fn wait_for_one_poller(a: &TestApp, b: &TestApp, id: &str) {
    let id = qrlogin::session::QrId::parse(id).unwrap();
    for _ in 0..500 {
        if a.store().waiting_pollers(&id) + b.store().waiting_pollers(&id) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the poll was never held");
}

/// A browser on 127.0.0.2, so nginx (on 127.0.0.1, the trusted proxy) and
/// the client have different addresses.
fn remote_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_whole_flow_through_nginx_with_a_held_poll() {
    let redis = RedisServer::start().await;
    let a = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    let b = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    let nginx = Nginx::start([a.addr.port(), b.addr.port()]).await;
    let browser = remote_browser();

    // The client tries to spoof its address; nginx appends the real one.
    let resp = browser
        .post(nginx.url("/api/qr"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-real-ip", "6.6.6.6")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let qr = json(resp).await;
    let (id, token) = (
        qr["id"].as_str().unwrap().to_owned(),
        qr["poll_token"].as_str().unwrap().to_owned(),
    );
    let status_url = nginx.url(&format!("/api/qr/{id}/status"));

    let poll = {
        let (browser, url, token) = (browser.clone(), status_url.clone(), token.clone());
        tokio::spawn(async move { browser.get(url).bearer_auth(token).send().await.unwrap() })
    };
    wait_for_one_poller(&a, &b, &id).await;
    let phone = reqwest::Client::new();
    let resp = phone
        .post(nginx.url("/api/mobile/scan"))
        .bearer_auth(ALICE)
        .json(&serde_json::json!({ "qr": qr["qr_content"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let scan = json(resp).await;
    assert_eq!(
        scan["request"]["ip"], "127.0.0.2",
        "the phone must see the real client, not the spoofed header"
    );
    let started = Instant::now();
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 201);

    let poll = {
        let (browser, url, token) = (
            browser.clone(),
            format!("{status_url}?since=scanned"),
            token.clone(),
        );
        tokio::spawn(async move { browser.get(url).bearer_auth(token).send().await.unwrap() })
    };
    wait_for_one_poller(&a, &b, &id).await;
    let resp = phone
        .post(nginx.url("/api/mobile/confirm"))
        .bearer_auth(ALICE)
        .json(&serde_json::json!({ "qr_id": id, "confirm_token": scan["confirm_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "wake-ups through nginx must be prompt"
    );

    let redirect = body["redirect"].as_str().unwrap();
    let resp = browser
        .get(nginx.url(&format!("{redirect}&next=/")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    for _ in 0..4 {
        // Whichever instance answers knows the login.
        let me = browser.get(nginx.url("/api/me")).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::OK);
    }
}

/// Proves `proxy_read_timeout` in the shipped config: a poll held longer
/// than nginx's default 60 s read timeout is answered, not cut with a 504.
#[tokio::test]
async fn a_poll_held_past_nginxs_default_timeout_is_not_cut() {
    let redis = RedisServer::start().await;
    let hold = |c: &mut qrlogin::config::Config| c.login.poll_hold = Duration::from_secs(65);
    let a = spawn_redis_app(&redis.url(), "qrl:", hold, None).await;
    let b = spawn_redis_app(&redis.url(), "qrl:", hold, None).await;
    let nginx = Nginx::start([a.addr.port(), b.addr.port()]).await;
    let browser = remote_browser();
    let qr = json(browser.post(nginx.url("/api/qr")).send().await.unwrap()).await;
    let started = Instant::now();
    let resp = browser
        .get(nginx.url(&format!(
            "/api/qr/{}/status?wait=65",
            qr["id"].as_str().unwrap()
        )))
        .bearer_auth(qr["poll_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await["code"], 408);
    assert!(
        started.elapsed() >= Duration::from_secs(65),
        "answered early: {:?}",
        started.elapsed()
    );
}
