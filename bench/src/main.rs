//! The qrlogin benchmark harness. Starts every server itself (qrlogin, a bare
//! axum baseline, nginx + nchan when installed), runs each scenario against
//! loopback only, and prints one table: figure | value | baseline | ratio |
//! target | met?, also written to `target/bench-report.md`. qrlogin is
//! measured twice: with held long polls, and with open event streams (SSE).
//!
//! ```sh
//! bench/run            # full run (~6 min): 1k…19k held polls, then as many streams
//! bench/run --quick    # smaller counts (~1.5 min)
//! bench/run --metrics-cost 5   # metrics on vs off, 5 alternating rounds
//! ```
#![allow(clippy::print_stdout)]

mod http;
mod metrics_cost;
mod procs;
mod scale_out;
mod scenarios;

use procs::Server;
use scenarios::{Answer, Due, HeldReport, Kind, Load, Percentiles, Qr};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Knobs of one run.
#[derive(Clone, Debug)]
struct Plan {
    quick: bool,
    /// Held-poll counts, ascending; the last one is the held-polls figure.
    points: Vec<usize>,
    /// The count the wake-up headline is taken at.
    latency_at: usize,
    samples: usize,
    /// How long background polls are held (qrlogin, naive axum).
    hold: u64,
    /// nchan's longpoll timeout.
    nchan_hold: u64,
    load_secs: u64,
    nchan: bool,
    /// Only qrlogin's own figures (no naive-axum or nchan scale runs).
    baselines: bool,
    /// The qrlogin binary under test (default: next to this one).
    qrlogin: Option<PathBuf>,
    /// Only the metrics-cost comparison, over this many rounds.
    metrics_cost: Option<usize>,
    /// Only the several-instances comparison (Redis, Redis Cluster).
    scale_out: bool,
    out: Option<PathBuf>,
}

impl Plan {
    fn from_args() -> Result<Self, String> {
        let mut plan = Self {
            quick: false,
            points: vec![1_000, 5_000, 10_000, 15_000, 19_000],
            latency_at: 15_000,
            samples: 300,
            hold: 60,
            nchan_hold: 25,
            load_secs: 10,
            nchan: true,
            baselines: true,
            qrlogin: None,
            metrics_cost: None,
            scale_out: false,
            out: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => {
                    plan.quick = true;
                    plan.points = vec![500, 1_000, 2_000];
                    plan.latency_at = 1_000;
                    plan.samples = 200;
                    plan.hold = 25;
                    plan.load_secs = 4;
                }
                "--no-nchan" => plan.nchan = false,
                "--scale-out" => plan.scale_out = true,
                "--no-baselines" => plan.baselines = false,
                "--qrlogin" => {
                    plan.qrlogin = Some(args.next().ok_or("--qrlogin needs a path")?.into());
                }
                "--out" => plan.out = Some(args.next().ok_or("--out needs a path")?.into()),
                "--metrics-cost" => {
                    plan.metrics_cost = Some(
                        args.next()
                            .and_then(|v| v.parse().ok())
                            .filter(|&n| n > 0)
                            .ok_or("--metrics-cost needs a number of rounds")?,
                    );
                }
                "--hold" => {
                    plan.hold = args
                        .next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--hold needs seconds")?;
                }
                "-h" | "--help" => {
                    return Err(
                        "usage: qrlogin-bench [--quick] [--no-nchan] [--no-baselines] \
                                [--hold SECS] [--qrlogin BIN] [--out FILE] [--metrics-cost ROUNDS] \
                                [--scale-out]"
                            .into(),
                    );
                }
                other => return Err(format!("unknown argument {other:?} (try --help)")),
            }
        }
        Ok(plan)
    }

    fn max_n(&self) -> usize {
        self.points.last().copied().unwrap_or(0)
    }
}

/// Memory and wake-up latency at one held-poll (or open-stream) count.
#[derive(Clone, Debug)]
struct Point {
    n: usize,
    rss_per_poll_kib: f64,
    latency: Percentiles,
    /// Wake-up probes that got no (or a wrong) answer.
    failed_probes: usize,
}

#[derive(Debug)]
struct ScaleRun {
    rss_before_kib: u64,
    points: Vec<Point>,
    held: HeldReport,
    hold: Duration,
    open_secs: f64,
}

#[derive(Debug, Default)]
struct Rates {
    hello: Option<(f64, u64)>,
    short_poll: Option<(f64, u64)>,
    create_svg: Option<(f64, u64)>,
    svg: Option<(f64, u64)>,
    png: Option<(f64, u64)>,
    tool: &'static str,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qrlogin-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let plan = Plan::from_args()?;
    let nofile = rlimit::increase_nofile_limit(u64::MAX)?;
    let needed = u64::try_from(plan.max_n())? + 100;
    if nofile < needed {
        return Err(format!("open-files limit is {nofile}, need {needed}").into());
    }
    let bin_dir = std::env::current_exe()?
        .parent()
        .ok_or("binary has no directory")?
        .to_path_buf();
    let qrlogin_bin = plan
        .qrlogin
        .clone()
        .unwrap_or_else(|| bin_dir.join("qrlogin"));
    let hello_bin = bin_dir.join("bench-hello");
    for b in [&qrlogin_bin, &hello_bin] {
        if !b.exists() {
            return Err(format!(
                "{} missing: run `cargo build --release -p qrlogin -p qrlogin-bench` (or bench/run)",
                b.display()
            )
            .into());
        }
    }
    let work = std::env::temp_dir().join(format!("qrlogin-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let started = Instant::now();
    let load_before = load_average();
    if load_is_high(&load_before) {
        say("warning: load average above 1.5 from other work: timings will be suspect");
    }
    say(&format!(
        "qrlogin-bench{}: load average {load_before}, open-files limit {nofile}, logs in {}",
        if plan.quick { " --quick" } else { "" },
        work.display()
    ));

    if let Some(rounds) = plan.metrics_cost {
        say("== metrics cost: metrics on / off / metrics and audit log off, alternating");
        let report = metrics_cost::run(&qrlogin_bin, &work, rounds, plan.load_secs).await?;
        let report = format!(
            "qrlogin metrics cost — {} — load average {load_before} at start, {} at end; took {:.0} s\n\n{report}",
            machine(),
            load_average(),
            started.elapsed().as_secs_f64()
        );
        println!("\n{report}");
        let out = plan.out.clone().unwrap_or_else(|| {
            bin_dir
                .parent()
                .unwrap_or(Path::new("."))
                .join("bench-metrics-cost.md")
        });
        std::fs::write(&out, &report)?;
        say(&format!("report written to {}", out.display()));
        let _ = std::fs::remove_dir_all(&work);
        return Ok(());
    }

    if plan.scale_out {
        let report = scale_out::run(&qrlogin_bin, &work, scale_out::Sizes::new(plan.quick)).await?;
        let report = format!(
            "qrlogin several instances — {} — load average {load_before} at start, {} at end; took {:.0} s\n\n{report}",
            machine(),
            load_average(),
            started.elapsed().as_secs_f64()
        );
        println!("\n{report}");
        let out = plan
            .out
            .clone()
            .unwrap_or_else(|| scale_out::default_out(&bin_dir));
        std::fs::write(&out, &report)?;
        say(&format!("report written to {}", out.display()));
        let _ = std::fs::remove_dir_all(&work);
        return Ok(());
    }

    say("== qrlogin: held polls, memory, wake-up latency");
    let server = procs::start_qrlogin(&qrlogin_bin, &work, plan.hold + 5).await?;
    let qrlogin = scale_run(Kind::Qrlogin, &server, &plan, plan.hold).await;
    server.stop().await;
    let qrlogin = qrlogin?;

    // A fresh process: its RSS growth is the streams' alone, and the client
    // and server ends of 19,000 streams stay under each process's 20,000
    // open files only if the held polls' connections are closed by now.
    say("== qrlogin: open event streams (SSE), memory, wake-up latency");
    let server = procs::start_qrlogin(&qrlogin_bin, &work, plan.hold + 5).await?;
    let sse = scale_run(Kind::QrloginSse, &server, &plan, plan.hold).await;
    server.stop().await;
    let sse = sse?;

    let naive = if plan.baselines {
        say("== baseline: naive axum long poll (bench-hello)");
        let server = procs::start_hello(&hello_bin, &work).await?;
        let run = scale_run(Kind::Naive, &server, &plan, plan.hold).await;
        server.stop().await;
        Some(run?)
    } else {
        None
    };

    let nchan = if !plan.baselines {
        None
    } else if plan.nchan && procs::nchan_module().is_some() {
        say("== baseline: nginx + nchan long poll");
        let server = procs::start_nchan(&work, plan.nchan_hold).await?;
        let run = scale_run(Kind::Nchan, &server, &plan, plan.nchan_hold).await;
        server.stop().await;
        Some(run?)
    } else {
        say("== nginx + nchan: not installed (apt-get install nginx libnginx-mod-nchan)");
        None
    };

    say("== request rates");
    let rates = rates(&plan, &qrlogin_bin, &hello_bin, &work).await?;

    let load_after = load_average();
    let report = render(
        &plan,
        &qrlogin,
        &sse,
        naive.as_ref(),
        nchan.as_ref(),
        &rates,
        &load_before,
        &load_after,
        started.elapsed(),
    );
    println!("\n{report}");
    let out = plan.out.clone().unwrap_or_else(|| {
        bin_dir
            .parent()
            .unwrap_or(Path::new("."))
            .join("bench-report.md")
    });
    std::fs::write(&out, &report)?;
    say(&format!("report written to {}", out.display()));
    let clean = qrlogin.held.errors + qrlogin.held.unanswered == 0
        && sse.held.errors + sse.held.unanswered == 0
        && nchan
            .as_ref()
            .is_none_or(|n| n.held.errors + n.held.unanswered == 0);
    if clean {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        say(&format!(
            "errors seen: server logs kept in {}",
            work.display()
        ));
    }
    Ok(())
}

fn say(line: &str) {
    eprintln!("{line}");
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn load_is_high(load: &str) -> bool {
    load.split_whitespace()
        .next()
        .and_then(|l| l.parse::<f64>().ok())
        .is_some_and(|l| l > 1.5)
}

#[allow(clippy::cast_precision_loss)]
fn per_poll(rss: u64, before: u64, n: usize) -> f64 {
    rss.saturating_sub(before) as f64 / n as f64
}

/// Holds 1k…19k background polls (or event streams) on `server`; at each
/// count reads RSS and takes wake-up samples; finally checks every held
/// poll's answer (every stream's one event).
async fn scale_run(kind: Kind, server: &Server, plan: &Plan, hold: u64) -> io::Result<ScaleRun> {
    let addr = server.addr;
    let max_n = plan.max_n();
    let probe_count = plan.samples * plan.points.len();
    let (qrs, sessions) = if kind.is_qrlogin() {
        let t = Instant::now();
        let qrs = scenarios::create_qrs(addr, max_n, 4).await?;
        let sample_qrs = scenarios::create_qrs(addr, probe_count, 2).await?;
        // A long-poll probe is woken by the confirm, a stream's by the scan.
        let confirms = if kind == Kind::Qrlogin {
            scenarios::scan_all(addr, &sample_qrs)
                .await?
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![None; sample_qrs.len()]
        };
        say(&format!(
            "  created {} QR sessions (+{probe_count}{} for probes) in {:.1} s",
            qrs.len(),
            if kind == Kind::Qrlogin {
                " scanned"
            } else {
                ""
            },
            t.elapsed().as_secs_f64()
        ));
        (
            qrs,
            sample_qrs.into_iter().zip(confirms).collect::<Vec<_>>(),
        )
    } else {
        (Vec::<Qr>::new(), Vec::new())
    };
    let held_what = if kind == Kind::QrloginSse {
        "streams open"
    } else {
        "held"
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = server.rss_kib()?;
    let mut held = scenarios::Held::default();
    let mut points = Vec::new();
    let opened_at = Instant::now();
    let first_sent = tokio::time::Instant::now();
    let mut open_secs = 0.0;
    for (p, &n) in plan.points.iter().enumerate() {
        let t = Instant::now();
        let requests = (held.len()..n)
            .map(|i| scenarios::background_request(kind, i, &qrs, hold))
            .collect::<io::Result<Vec<_>>>()?;
        held.open(addr, kind, requests).await?;
        open_secs += t.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = server.rss_kib()?;
        let probes = scenarios::probes(kind, plan.samples, p * plan.samples, &sessions)?;
        let (samples, failures) =
            scenarios::wake_latencies(addr, kind, &probes, Duration::from_millis(5)).await?;
        if let Some(first) = failures.first() {
            say(&format!(
                "  {} of {} wake-up probes failed; first: {first}",
                failures.len(),
                probes.len()
            ));
        }
        let latency = scenarios::percentiles(samples);
        let point = Point {
            n,
            rss_per_poll_kib: per_poll(rss, rss_before, n),
            latency,
            failed_probes: failures.len(),
        };
        say(&format!(
            "  {n:>6} {held_what}: RSS {rss} KiB (+{:.2} KiB each), wake p50 {} p90 {} p99 {} max {} ({} samples), t+{:.1} s",
            point.rss_per_poll_kib,
            ms(latency.p50),
            ms(latency.p90),
            ms(latency.p99),
            ms(latency.max),
            latency.count,
            opened_at.elapsed().as_secs_f64()
        ));
        points.push(point);
    }
    let hold_d = Duration::from_secs(hold);
    let held_polls = matches!(kind, Kind::Qrlogin | Kind::Naive);
    if held_polls && opened_at.elapsed() + Duration::from_secs(1) > hold_d {
        say(&format!(
            "  warning: the run outlasted the {hold} s hold; use a larger --hold for all polls to be held at once"
        ));
    }
    // Pending: the long poll's timeout answer, a stream's one event.
    let expect = move |a: &Answer| match kind {
        Kind::Qrlogin | Kind::QrloginSse | Kind::Naive => a.status == 200 && a.code == Some(408),
        Kind::Nchan => a.status == 408 || a.status == 304,
    };
    let (due, deadline) = if kind == Kind::QrloginSse {
        (
            Due::FirstEventOnly,
            tokio::time::Instant::now() + Duration::from_secs(10),
        )
    } else {
        (
            Due::AfterHold {
                hold: hold_d,
                tolerance: Duration::from_millis(500),
            },
            first_sent + opened_at.elapsed() + hold_d + Duration::from_secs(10),
        )
    };
    let report = held.finish(deadline, due, expect).await;
    let first_error = report
        .first_error
        .as_deref()
        .map(|e| format!(", first error: {e}"))
        .unwrap_or_default();
    if kind == Kind::QrloginSse {
        say(&format!(
            "  streams: {}/{} open with the pending event only (slowest first event {}), {} heartbeats, {} errors, {} unanswered{first_error}",
            report.ok,
            report.connections,
            ms(report.worst_deviation),
            report.heartbeats,
            report.errors,
            report.unanswered,
        ));
    } else {
        say(&format!(
            "  held polls: {}/{} answered as expected within ±0.5 s of {hold} s (worst {}), {} errors, {} unanswered{first_error}",
            report.ok,
            report.connections,
            ms(report.worst_deviation),
            report.errors,
            report.unanswered,
        ));
    }
    Ok(ScaleRun {
        rss_before_kib: rss_before,
        points,
        held: report,
        hold: hold_d,
        open_secs,
    })
}

async fn rates(
    plan: &Plan,
    qrlogin_bin: &Path,
    hello_bin: &Path,
    work: &Path,
) -> io::Result<Rates> {
    let secs = Duration::from_secs(plan.load_secs);
    let conns = 64;
    let use_wrk = scenarios::wrk_available();
    let mut rates = Rates {
        tool: if use_wrk {
            "wrk -t2 -c64"
        } else {
            "Rust loader, 64 connections (wrk not installed)"
        },
        ..Rates::default()
    };
    let hello = procs::start_hello(hello_bin, work).await?;
    let server = procs::start_qrlogin(qrlogin_bin, work, plan.hold + 5).await?;
    let qr = scenarios::create_qrs(server.addr, 1, 1)
        .await?
        .pop()
        .ok_or_else(|| io::Error::other("no QR created"))?;
    let status_path = format!("/api/qr/{}/status?wait=0", qr.id);
    let auth = format!("Authorization: Bearer {}", qr.token);
    if use_wrk {
        rates.hello =
            Some(scenarios::wrk_rate(&format!("http://{}/", hello.addr), None, conns, secs).await?);
        rates.short_poll = Some(
            scenarios::wrk_rate(
                &format!("http://{}{status_path}", server.addr),
                Some(&auth),
                conns,
                secs,
            )
            .await?,
        );
    } else {
        rates.hello = Some(
            scenarios::load_rate(hello.addr, Load::Fixed(http::get("/", "")), conns, secs).await?,
        );
        rates.short_poll = Some(
            scenarios::load_rate(
                server.addr,
                Load::Fixed(http::get(&status_path, &format!("{auth}\r\n"))),
                conns,
                secs,
            )
            .await?,
        );
    }
    say(&format!(
        "  hello {:?}, short poll {:?} (req/s, errors)",
        rates.hello, rates.short_poll
    ));
    hello.stop().await;
    rates.create_svg =
        Some(scenarios::load_rate(server.addr, Load::CreateAndSvg, conns, secs).await?);
    rates.svg = Some(
        scenarios::load_rate(
            server.addr,
            Load::Fixed(http::get(&format!("/api/qr/{}/qr.svg", qr.id), "")),
            conns,
            secs,
        )
        .await?,
    );
    rates.png = Some(
        scenarios::load_rate(
            server.addr,
            Load::Fixed(http::get(&format!("/api/qr/{}/qr.png", qr.id), "")),
            conns,
            secs,
        )
        .await?,
    );
    say(&format!(
        "  create+svg {:?}, svg {:?}, png {:?} (per s, errors)",
        rates.create_svg, rates.svg, rates.png
    ));
    server.stop().await;
    Ok(rates)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn yes(ok: bool) -> String {
    if ok { "yes" } else { "**no**" }.to_owned()
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "–".into()
    }
}

fn point_at(run: &ScaleRun, n: usize) -> Option<&Point> {
    run.points.iter().find(|p| p.n == n)
}

fn held_cell(run: &ScaleRun) -> String {
    let h = &run.held;
    format!(
        "{}/{} ok, {} errors, {} late/wrong, worst ±{}",
        h.ok,
        h.connections,
        h.errors + h.unanswered,
        h.wrong_answers,
        ms(h.worst_deviation)
    )
}

fn sse_cell(run: &ScaleRun) -> String {
    let h = &run.held;
    format!(
        "{}/{} ok, {} errors, {} wrong/extra events, {} heartbeats, slowest first event {}",
        h.ok,
        h.connections,
        h.errors + h.unanswered,
        h.wrong_answers,
        h.heartbeats,
        ms(h.worst_deviation)
    )
}

#[allow(clippy::too_many_arguments, clippy::too_many_lines)]
fn render(
    plan: &Plan,
    q: &ScaleRun,
    sse: &ScaleRun,
    naive: Option<&ScaleRun>,
    nchan: Option<&ScaleRun>,
    rates: &Rates,
    load_before: &str,
    load_after: &str,
    took: Duration,
) -> String {
    let mut rows: Vec<[String; 6]> = Vec::new();
    let max_n = plan.max_n();
    let na = || "not installed".to_owned();
    let dash = || "–".to_owned();

    // Held polls.
    let h = &q.held;
    rows.push([
        format!(
            "held long polls at once (408 within ±0.5 s of {} s hold)",
            q.hold.as_secs()
        ),
        held_cell(q),
        nchan.map_or_else(na, |n| {
            format!("nchan ({} s): {}", n.hold.as_secs(), held_cell(n))
        }),
        dash(),
        format!("{max_n}, 0 errors"),
        yes(h.ok == max_n && h.connections == max_n && h.errors == 0 && h.unanswered == 0),
    ]);

    // Memory.
    let q_top = point_at(q, max_n);
    let q_kib = q_top.map_or(0.0, |p| p.rss_per_poll_kib);
    let nchan_kib = nchan
        .and_then(|n| point_at(n, max_n))
        .map(|p| p.rss_per_poll_kib);
    rows.push([
        format!("RSS growth per held poll @{max_n}"),
        format!("{q_kib:.2} KB"),
        nchan_kib.map_or_else(na, |k| format!("nchan {k:.2} KB")),
        nchan_kib.map_or_else(dash, |k| ratio(q_kib, k)),
        "≤ 10 KB, ≤ nchan".into(),
        yes(q_kib <= 10.0 && nchan_kib.is_none_or(|k| q_kib <= k)),
    ]);
    let naive_kib = naive
        .and_then(|n| point_at(n, max_n))
        .map_or(0.0, |p| p.rss_per_poll_kib);
    rows.push([
        format!("RSS growth per held poll @{max_n} vs naive axum"),
        format!("{q_kib:.2} KB"),
        if naive.is_some() {
            format!("naive axum {naive_kib:.2} KB")
        } else {
            "not run".into()
        },
        ratio(q_kib, naive_kib),
        "≈ 0.5× naive".into(),
        yes(naive_kib > 0.0 && q_kib / naive_kib <= 0.6),
    ]);

    // Wake-up latency.
    let at = plan.latency_at;
    let q_lat = point_at(q, at).map(|p| p.latency).unwrap_or_default();
    let q_failed = point_at(q, at).map_or(0, |p| p.failed_probes);
    let n_lat = nchan.and_then(|n| point_at(n, at)).map(|p| p.latency);
    for (name, value, base, target) in [
        ("p50", q_lat.p50, n_lat.map(|l| l.p50), 2.0),
        ("p99", q_lat.p99, n_lat.map(|l| l.p99), 5.0),
    ] {
        rows.push([
            format!("wake-up {name}, confirm → poll answered, {at} others held"),
            if q_failed > 0 {
                format!("{} ({q_failed} probes failed)", ms(value))
            } else {
                ms(value)
            },
            base.map_or_else(na, |b| format!("nchan {}", ms(b))),
            base.map_or_else(dash, |b| ratio(value.as_secs_f64(), b.as_secs_f64())),
            format!("≤ {target} ms"),
            yes(value.as_secs_f64() * 1000.0 <= target && q_lat.count >= 200 && q_failed == 0),
        ]);
    }

    // Event streams, beside the long poll.
    let s = &sse.held;
    rows.push([
        "open SSE streams at once (pending event, then heartbeats only)".into(),
        sse_cell(sse),
        dash(),
        dash(),
        format!("{max_n}, 0 errors"),
        yes(s.ok == max_n && s.connections == max_n && s.errors == 0 && s.unanswered == 0),
    ]);
    let s_kib = point_at(sse, max_n).map_or(0.0, |p| p.rss_per_poll_kib);
    rows.push([
        format!("RSS growth per open SSE stream @{max_n}"),
        format!("{s_kib:.2} KB"),
        format!("held poll {q_kib:.2} KB"),
        ratio(s_kib, q_kib),
        "reported".into(),
        dash(),
    ]);
    let s_lat = point_at(sse, at).map(|p| p.latency).unwrap_or_default();
    let s_failed = point_at(sse, at).map_or(0, |p| p.failed_probes);
    for (name, value, base, target) in [
        ("p50", s_lat.p50, q_lat.p50, 2.0),
        ("p99", s_lat.p99, q_lat.p99, 5.0),
    ] {
        rows.push([
            format!("wake-up {name} @{at} SSE, scan → `scanned` event, {at} other streams open"),
            if s_failed > 0 {
                format!("{} ({s_failed} probes failed)", ms(value))
            } else {
                ms(value)
            },
            format!("long poll {} (confirm → answer)", ms(base)),
            ratio(value.as_secs_f64(), base.as_secs_f64()),
            format!("≤ {target} ms (the long poll's)"),
            yes(value.as_secs_f64() * 1000.0 <= target && s_lat.count >= 200 && s_failed == 0),
        ]);
    }

    // Rates.
    let rate = |r: Option<(f64, u64)>| r.map_or(0.0, |(v, _)| v);
    let errs = |r: Option<(f64, u64)>| r.map_or(0, |(_, e)| e);
    let (hello, short) = (rate(rates.hello), rate(rates.short_poll));
    rows.push([
        "short polls (wait=0) req/s".into(),
        format!("{short:.0}/s ({} errors)", errs(rates.short_poll)),
        format!("bare axum hello {hello:.0}/s"),
        ratio(short, hello),
        "≥ 0.80×".into(),
        yes(hello > 0.0 && short / hello >= 0.8 && errs(rates.short_poll) == 0),
    ]);
    let create = rate(rates.create_svg);
    rows.push([
        "QR create + SVG render (POST /api/qr, GET qr.svg) per s".into(),
        format!("{create:.0}/s ({} errors)", errs(rates.create_svg)),
        dash(),
        dash(),
        "≥ 10000/s".into(),
        yes(create >= 10_000.0 && errs(rates.create_svg) == 0),
    ]);
    let (svg, png) = (rate(rates.svg), rate(rates.png));
    rows.push([
        "SVG render (GET qr.svg, same id) per s".into(),
        format!("{svg:.0}/s"),
        dash(),
        dash(),
        "reported".into(),
        dash(),
    ]);
    rows.push([
        "PNG render (GET qr.png, same id) per s".into(),
        format!("{png:.0}/s ({} errors)", errs(rates.png)),
        format!("QR create + SVG {create:.0}/s"),
        ratio(png, create),
        "≥ 1× create+SVG (does not dominate)".into(),
        yes(png >= create && errs(rates.png) == 0),
    ]);

    // Scale.
    for p in &q.points {
        let base = nchan.and_then(|n| point_at(n, p.n));
        rows.push([
            format!("@{} held: RSS/poll, wake p50 / p99", p.n),
            format!(
                "{:.2} KB, {} / {}",
                p.rss_per_poll_kib,
                ms(p.latency.p50),
                ms(p.latency.p99)
            ),
            base.map_or_else(na, |b| {
                format!(
                    "nchan {:.2} KB, {} / {}",
                    b.rss_per_poll_kib,
                    ms(b.latency.p50),
                    ms(b.latency.p99)
                )
            }),
            base.map_or_else(dash, |b| ratio(p.rss_per_poll_kib, b.rss_per_poll_kib)),
            "linear memory, flat latency".into(),
            dash(),
        ]);
    }
    for p in &sse.points {
        let base = point_at(q, p.n);
        rows.push([
            format!("@{} open SSE streams: RSS/stream, wake p50 / p99", p.n),
            format!(
                "{:.2} KB, {} / {}",
                p.rss_per_poll_kib,
                ms(p.latency.p50),
                ms(p.latency.p99)
            ),
            base.map_or_else(dash, |b| {
                format!(
                    "held poll {:.2} KB, {} / {}",
                    b.rss_per_poll_kib,
                    ms(b.latency.p50),
                    ms(b.latency.p99)
                )
            }),
            base.map_or_else(dash, |b| ratio(p.rss_per_poll_kib, b.rss_per_poll_kib)),
            "linear memory, flat latency".into(),
            dash(),
        ]);
    }
    let per_poll: Vec<f64> = q
        .points
        .iter()
        .filter(|p| p.n >= 5_000.min(max_n))
        .map(|p| p.rss_per_poll_kib)
        .collect();
    let (lo, hi) = per_poll
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    rows.push([
        "memory linearity: max/min RSS per poll over the counts".into(),
        ratio(hi, lo),
        dash(),
        dash(),
        "≤ 1.5× (linear)".into(),
        yes(lo > 0.0 && hi / lo <= 1.5),
    ]);
    let first = q.points.first().map(|p| p.latency).unwrap_or_default();
    let last = q.points.last().map(|p| p.latency).unwrap_or_default();
    rows.push([
        format!(
            "latency flatness: p50 @{} / p50 @{}",
            max_n,
            q.points.first().map_or(0, |p| p.n)
        ),
        ratio(last.p50.as_secs_f64(), first.p50.as_secs_f64()),
        dash(),
        dash(),
        "≤ 2× (flat)".into(),
        yes(last.p50.as_secs_f64() <= 2.0 * first.p50.as_secs_f64().max(0.000_1)),
    ]);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "qrlogin benchmark{} — {} — load average {load_before} at start, {load_after} at end{}; took {:.0} s",
        if plan.quick { " (--quick)" } else { "" },
        machine(),
        if load_is_high(load_before) {
            " (**suspect: other work was running**)"
        } else {
            ""
        },
        took.as_secs_f64()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| figure | value | baseline | ratio | target | met? |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in &rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Scale detail (RSS growth per held poll or open stream over the RSS before any; wake-up percentiles of {} samples; SSE: scan → `scanned` event, the others: confirm/publish → answer):",
        plan.samples
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| server | held | RSS before | KB each | p50 | p90 | p99 | max | failed probes |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    let mut runs = vec![("qrlogin", q), ("qrlogin SSE", sse)];
    if let Some(n) = naive {
        runs.push(("naive axum", n));
    }
    if let Some(n) = nchan {
        runs.push(("nginx+nchan", n));
    }
    for (name, run) in runs {
        for p in &run.points {
            let _ = writeln!(
                out,
                "| {name} | {} | {} MB | {:.2} | {} | {} | {} | {} | {} |",
                p.n,
                run.rss_before_kib / 1024,
                p.rss_per_poll_kib,
                ms(p.latency.p50),
                ms(p.latency.p90),
                ms(p.latency.p99),
                ms(p.latency.max),
                p.failed_probes
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Opening the held polls took {:.1} s (qrlogin), the streams {:.1} s (qrlogin SSE){}{}. Rates: {}, {} s each; QR/SVG/PNG: Rust loader, 64 connections.",
        q.open_secs,
        sse.open_secs,
        naive.map_or_else(String::new, |n| format!(
            ", {:.1} s (naive axum)",
            n.open_secs
        )),
        nchan.map_or_else(String::new, |n| format!(", {:.1} s (nchan)", n.open_secs)),
        rates.tool,
        plan.load_secs
    );
    out
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!("{cores} cores, {cpu}, Linux {kernel}")
}
