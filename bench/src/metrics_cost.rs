//! `--metrics-cost`: what the metrics (and the audit log) cost the long
//! poll. The same release binary runs three times side by side — metrics on
//! (the default), `[metrics] enabled = false`, and both metrics and the audit
//! log off (no per-request observer at all) — and each round measures every
//! variant in turn, in a rotating order, so a change in the machine's load
//! during the run hits all of them alike. Figures are medians over rounds.

use crate::procs::{self, Server};
use crate::scenarios::{self, Kind, Load, Qr};
use crate::{http, ms, say};
use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

/// One configuration under test.
struct Variant {
    name: &'static str,
    /// Appended to the benchmark config.
    extra: &'static str,
}

const VARIANTS: [Variant; 3] = [
    Variant {
        name: "metrics on (default)",
        extra: "",
    },
    Variant {
        name: "metrics off",
        extra: "\n[metrics]\nenabled = false\n",
    },
    Variant {
        name: "metrics and audit log off",
        extra: "\n[metrics]\nenabled = false\n\n[audit]\nenabled = false\n",
    },
];

/// Wake-up probes per variant per round.
const PROBES: usize = 100;

struct Measured {
    server: Server,
    status_path: String,
    auth: String,
    scanned: Vec<(Qr, Option<String>)>,
    rates: Vec<f64>,
    errors: u64,
    wakes: Vec<Duration>,
    failed_wakes: usize,
}

/// Runs `rounds` rounds of `secs`-second short-poll loads and wake-up
/// probes; returns the report (a Markdown table and its notes).
pub async fn run(bin: &Path, work: &Path, rounds: usize, secs: u64) -> io::Result<String> {
    let conns = 64;
    let use_wrk = scenarios::wrk_available();
    let mut measured = Vec::new();
    for (i, v) in VARIANTS.iter().enumerate() {
        let server =
            procs::start_qrlogin_as(bin, work, 30, &format!("qrlogin-{i}"), "", v.extra).await?;
        let qr = scenarios::create_qrs(server.addr, 1, 1)
            .await?
            .pop()
            .ok_or_else(|| io::Error::other("no QR created"))?;
        let probes = scenarios::create_qrs(server.addr, rounds * PROBES, 2).await?;
        let confirms = scenarios::scan_all(server.addr, &probes).await?;
        measured.push(Measured {
            status_path: format!("/api/qr/{}/status?wait=0", qr.id),
            auth: format!("Authorization: Bearer {}", qr.token),
            scanned: probes
                .into_iter()
                .zip(confirms.into_iter().map(Some))
                .collect(),
            server,
            rates: Vec::new(),
            errors: 0,
            wakes: Vec::new(),
            failed_wakes: 0,
        });
    }
    let secs_d = Duration::from_secs(secs);
    for round in 0..rounds {
        for k in 0..VARIANTS.len() {
            let i = (round + k) % VARIANTS.len();
            let m = &mut measured[i];
            let addr = m.server.addr;
            let (rate, errors) = if use_wrk {
                let url = format!("http://{addr}{}", m.status_path);
                scenarios::wrk_rate(&url, Some(&m.auth), conns, secs_d).await?
            } else {
                let request = http::get(&m.status_path, &format!("{}\r\n", m.auth));
                scenarios::load_rate(addr, Load::Fixed(request), conns, secs_d).await?
            };
            m.rates.push(rate);
            m.errors += errors;
            let probes = scenarios::probes(Kind::Qrlogin, PROBES, round * PROBES, &m.scanned)?;
            let (samples, failures) =
                scenarios::wake_latencies(addr, Kind::Qrlogin, &probes, Duration::from_millis(5))
                    .await?;
            m.wakes.extend(samples);
            m.failed_wakes += failures.len();
            say(&format!(
                "  round {}/{rounds}: {:<26} short poll {rate:>8.0}/s ({errors} errors)",
                round + 1,
                VARIANTS[i].name
            ));
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Metrics cost: short polls (`GET /api/qr/{{id}}/status?wait=0`, {}, {secs} s per run) and \
         wake-ups (confirm → held poll answered, {PROBES} per round), {rounds} rounds, each \
         round measuring the three variants in a rotating order; median req/s over the rounds.",
        if use_wrk {
            "wrk -t2 -c64"
        } else {
            "Rust loader, 64 connections"
        }
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| variant | short polls req/s (median) | each round | vs metrics on | wake p50 | wake p99 | errors |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let on = median(&measured[0].rates);
    for (v, m) in VARIANTS.iter().zip(&measured) {
        let med = median(&m.rates);
        let each: Vec<String> = m.rates.iter().map(|r| format!("{r:.0}")).collect();
        let lat = scenarios::percentiles(m.wakes.clone());
        let _ = writeln!(
            out,
            "| {} | {med:.0} | {} | {} | {} | {} | {} |",
            v.name,
            each.join(", "),
            if med > 0.0 {
                format!("{:+.1} %", (on / med - 1.0) * 100.0)
            } else {
                "–".into()
            },
            ms(lat.p50),
            ms(lat.p99),
            m.errors + m.failed_wakes as u64
        );
    }
    let _ = writeln!(out);
    let off = median(&measured[1].rates);
    let _ = writeln!(
        out,
        "Metrics cost the short poll {:.1} % of req/s (target ≤ 2 %): median with metrics on \
         {on:.0}/s against {off:.0}/s with them off.",
        if off > 0.0 {
            (1.0 - on / off) * 100.0
        } else {
            0.0
        }
    );
    for m in measured {
        m.server.stop().await;
    }
    Ok(out)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
