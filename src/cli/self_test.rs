//! `qrlogin self-test <base-url>`: checks a running deployment, from the
//! outside as an attacker would, for the six flaws QRLChecker (Zhang et al.,
//! "QR code login security", USENIX Security 2023) found in the QR logins of
//! popular services, plus the relay attack (QRLjacking) that works against
//! all of them. Each flaw gets a verdict: ok, FLAW, or not checked (a check
//! needs a phone token: `--phone-token`, e.g. from `qrlogin mint-token`, or
//! a demo user's `demo-<id>`). The exit code is 1 when a flaw was found.
//!
//! Every request is one a browser or phone could send; the test creates a
//! handful of codes (within the default rate limits) and logs the phone's
//! user in once, through `POST /api/login/exchange`, which makes no cookie.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, ORIGIN};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;
use url::Url;

/// An origin no deployment lists: a phishing page proxying the API.
const FOREIGN_ORIGIN: &str = "https://qrlogin-self-test.invalid";
/// Fewest bits an unguessable id or token must carry.
const MIN_BITS: usize = 128;
/// Longest a code should stay scannable (WeChat's is about 4 minutes).
const MAX_CODE_LIFE: u64 = 600;

#[derive(Debug, clap::Args)]
pub struct SelfTest {
    /// The deployment's public address, e.g. https://login.example.com
    pub base_url: Url,
    /// A phone token of a test account, for the checks that scan and
    /// confirm (the account is logged in once, on no browser).
    #[arg(long, env = "QRLOGIN_SELF_TEST_PHONE_TOKEN")]
    pub phone_token: Option<String>,
    /// A phone token of a second test account: another account must not be
    /// able to take over a code the first one scanned.
    #[arg(long, env = "QRLOGIN_SELF_TEST_SECOND_PHONE_TOKEN")]
    pub second_phone_token: Option<String>,
}

/// What one check found.
#[derive(Debug)]
enum Outcome {
    Ok(String),
    Flaw(String),
    /// The check could not run (e.g. no phone token, a rate limit).
    Skipped(String),
}

/// The flaws, as QRLChecker names them, and relaying.
const FLAWS: [&str; 6] = [
    "Predictable or controllable QR id",
    "Session not bound to the browser that asked",
    "Reusable QR code or ticket",
    "Weak phone-token validation",
    "Data leakage",
    "Relaying (QRLjacking)",
];

#[allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line report"
)]
pub async fn self_test(args: &SelfTest) -> ExitCode {
    if !matches!(args.base_url.scheme(), "http" | "https") || args.base_url.host().is_none() {
        eprintln!("self-test: the base URL must be http(s)://host[:port]");
        return ExitCode::from(super::EXIT_CONFIG);
    }
    let probe = match Probe::new(args) {
        Ok(probe) => probe,
        Err(e) => {
            eprintln!("self-test: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = probe.send(Method::GET, "/healthz", None, None).await {
        eprintln!("self-test: {} does not answer: {e}", args.base_url);
        return ExitCode::FAILURE;
    }
    println!("qrlogin self-test of {}", args.base_url);
    let mut flaws = 0;
    for (i, name) in FLAWS.iter().enumerate() {
        let outcomes = match i {
            0 => probe.predictable_ids().await,
            1 => probe.unbound_session().await,
            2 => probe.reusable_code().await,
            3 => probe.weak_phone_tokens().await,
            4 => probe.data_leakage().await,
            _ => probe.relaying().await,
        };
        let verdict = if outcomes.iter().any(|o| matches!(o, Outcome::Flaw(_))) {
            flaws += 1;
            "FLAW"
        } else if outcomes.iter().all(|o| matches!(o, Outcome::Skipped(_))) {
            "not checked"
        } else {
            "ok"
        };
        println!("\n{}. {name}: {verdict}", i + 1);
        for outcome in outcomes {
            let (mark, text) = match outcome {
                Outcome::Ok(t) => ("  ok  ", t),
                Outcome::Flaw(t) => ("  FLAW", t),
                Outcome::Skipped(t) => ("  --  ", t),
            };
            println!("{mark} {text}");
        }
    }
    println!(
        "\n{}",
        match flaws {
            0 => "No flaw found.".to_owned(),
            n => format!("{n} of {} flaws found.", FLAWS.len()),
        }
    );
    if flaws == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// An answer: status, JSON body (Null when none), `Cache-Control`.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Value,
    cache_control: String,
}

/// A code the test created, as the page would hold it.
#[derive(Debug)]
struct Code {
    id: String,
    poll_token: String,
    content: String,
    expires_in: Option<u64>,
    cache_control: String,
}

struct Probe {
    base: Url,
    client: Client,
    phone: Option<String>,
    second_phone: Option<String>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The phone tokens are credentials: never in a debug print.
        f.debug_struct("Probe").field("base", &self.base).finish()
    }
}

type Checked = Result<Outcome, String>;

impl Probe {
    fn new(args: &SelfTest) -> Result<Self, reqwest::Error> {
        let client = Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("qrlogin-self-test/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            base: args.base_url.clone(),
            client,
            phone: args.phone_token.clone(),
            second_phone: args.second_phone_token.clone(),
        })
    }

    fn url(&self, path: &str) -> Result<Url, String> {
        self.base.join(path).map_err(|e| format!("{path}: {e}"))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<Answer, String> {
        self.send_with(method, path, bearer, body, None).await
    }

    async fn send_with(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
        origin: Option<&str>,
    ) -> Result<Answer, String> {
        let mut request = self.client.request(method.clone(), self.url(path)?);
        if let Some(token) = bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status();
        let cache_control = header(&response, CACHE_CONTROL.as_str());
        let body = response.json().await.unwrap_or(Value::Null);
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(format!(
                "{method} {path}: rate-limited (429); run the self-test again in a minute"
            ));
        }
        Ok(Answer {
            status,
            body,
            cache_control,
        })
    }

    /// A fresh code, as the login page asks for one (from its own origin).
    async fn create(&self) -> Result<Code, String> {
        let origin = self.base.origin().ascii_serialization();
        let answer = self
            .send_with(
                Method::POST,
                "/api/qr",
                None,
                Some(json!({})),
                Some(&origin),
            )
            .await?;
        if answer.status != StatusCode::CREATED {
            return Err(format!(
                "POST /api/qr answered {} {}",
                answer.status, answer.body
            ));
        }
        let text = |key: &str| answer.body[key].as_str().map(str::to_owned);
        match (text("id"), text("poll_token"), text("qr_content")) {
            (Some(id), Some(poll_token), Some(content)) => Ok(Code {
                id,
                poll_token,
                content,
                expires_in: answer.body["expires_in"].as_u64(),
                cache_control: answer.cache_control,
            }),
            _ => Err(format!(
                "POST /api/qr answered without id, poll_token or qr_content: {}",
                answer.body
            )),
        }
    }

    async fn status(&self, id: &str, token: Option<&str>) -> Result<Answer, String> {
        self.send(
            Method::GET,
            &format!("/api/qr/{id}/status?wait=0"),
            token,
            None,
        )
        .await
    }

    async fn scan(&self, phone: &str, code: &Code) -> Result<Answer, String> {
        self.send(
            Method::POST,
            "/api/mobile/scan",
            Some(phone),
            Some(json!({ "qr": code.content })),
        )
        .await
    }

    async fn confirm(
        &self,
        phone: &str,
        code: &Code,
        confirm_token: &str,
    ) -> Result<Answer, String> {
        self.send(
            Method::POST,
            "/api/mobile/confirm",
            Some(phone),
            Some(json!({ "qr_id": code.id, "confirm_token": confirm_token })),
        )
        .await
    }

    async fn exchange(&self, bearer: Option<&str>, ticket: &str) -> Result<Answer, String> {
        self.send(
            Method::POST,
            "/api/login/exchange",
            bearer,
            Some(json!({ "ticket": ticket })),
        )
        .await
    }

    /// Runs `checks`, each an error turned into "not checked".
    fn collect(results: Vec<Checked>) -> Vec<Outcome> {
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(Outcome::Skipped))
            .collect()
    }

    fn no_phone(what: &str) -> Outcome {
        Outcome::Skipped(format!("{what}: needs --phone-token"))
    }

    // ---------- 1 ----------

    async fn predictable_ids(&self) -> Vec<Outcome> {
        Self::collect(vec![
            self.ids_are_random().await,
            self.ids_are_not_chosen().await,
        ])
    }

    async fn ids_are_random(&self) -> Checked {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(self.create().await?);
        }
        for code in &ids {
            let bits = random_bits(&code.id);
            if bits < MIN_BITS {
                return Ok(Outcome::Flaw(format!(
                    "the id {:?} carries at most {bits} bits (needs {MIN_BITS})",
                    code.id
                )));
            }
            let token_bits = random_bits(&code.poll_token);
            if token_bits < MIN_BITS {
                return Ok(Outcome::Flaw(format!(
                    "a poll token carries at most {token_bits} bits (needs {MIN_BITS})"
                )));
            }
        }
        let distinct = ids
            .iter()
            .enumerate()
            .all(|(i, a)| ids[i + 1..].iter().all(|b| a.id != b.id));
        if !distinct {
            return Ok(Outcome::Flaw("two fresh codes share an id".into()));
        }
        if common_prefix(&ids[0].id, &ids[1].id) + common_prefix(&ids[1].id, &ids[2].id) > 8 {
            return Ok(Outcome::Flaw(format!(
                "fresh ids look sequential: {:?}, {:?}, {:?}",
                ids[0].id, ids[1].id, ids[2].id
            )));
        }
        Ok(Outcome::Ok(format!(
            "fresh ids and poll tokens are distinct and carry ≥ {MIN_BITS} bits \
             (e.g. {} characters of URL-safe base64)",
            ids[0].id.len()
        )))
    }

    async fn ids_are_not_chosen(&self) -> Checked {
        let chosen = random_id();
        let origin = self.base.origin().ascii_serialization();
        let answer = self
            .send_with(
                Method::POST,
                "/api/qr",
                None,
                Some(json!({ "id": chosen, "qr_id": chosen })),
                Some(&origin),
            )
            .await?;
        if answer.status.is_success() && answer.body["id"] == chosen.as_str() {
            return Ok(Outcome::Flaw(
                "POST /api/qr takes an id the client chose".into(),
            ));
        }
        let unknown = self.status(&random_id(), Some(&random_id())).await?;
        if unknown.status.is_success() {
            return Ok(Outcome::Flaw(format!(
                "the status of an id never issued answers {}",
                unknown.status
            )));
        }
        Ok(Outcome::Ok(format!(
            "a client cannot choose the id; an id never issued answers {}",
            unknown.status
        )))
    }

    // ---------- 2 ----------

    async fn unbound_session(&self) -> Vec<Outcome> {
        Self::collect(vec![
            self.status_needs_the_poll_token().await,
            self.ticket_needs_the_poll_token().await,
        ])
    }

    async fn status_needs_the_poll_token(&self) -> Checked {
        let a = self.create().await?;
        let b = self.create().await?;
        let bare = self.status(&a.id, None).await?;
        let crossed = self.status(&a.id, Some(&b.poll_token)).await?;
        if bare.status.is_success() || crossed.status.is_success() {
            return Ok(Outcome::Flaw(format!(
                "a code's state can be followed without its poll token \
                 (no token: {}, another code's: {})",
                bare.status, crossed.status
            )));
        }
        Ok(Outcome::Ok(format!(
            "only the browser that asked follows a code (no token: {}, another code's token: {})",
            bare.status, crossed.status
        )))
    }

    async fn ticket_needs_the_poll_token(&self) -> Checked {
        let Some(phone) = &self.phone else {
            return Ok(Self::no_phone("a ticket used by another client"));
        };
        let (code, ticket) = self.confirmed(phone).await?;
        let other = self.create().await?;
        let bare = self.exchange(None, &ticket).await?;
        let crossed = self.exchange(Some(&other.poll_token), &ticket).await?;
        if bare.status.is_success() || crossed.status.is_success() {
            return Ok(Outcome::Flaw(format!(
                "a ticket logs in a client that does not hold its code's poll token \
                 (no token: {}, another code's: {})",
                bare.status, crossed.status
            )));
        }
        // Left unredeemed: it expires by itself.
        let _ = code;
        Ok(Outcome::Ok(format!(
            "a ticket works only with its code's poll token (no token: {}, another's: {})",
            bare.status, crossed.status
        )))
    }

    /// A code scanned and confirmed by `phone`, and its ticket.
    async fn confirmed(&self, phone: &str) -> Result<(Code, String), String> {
        let code = self.create().await?;
        let scan = self.scan(phone, &code).await?;
        let confirm_token = scan.body["confirm_token"]
            .as_str()
            .ok_or_else(|| format!("the phone token was refused: {} {}", scan.status, scan.body))?
            .to_owned();
        let confirmed = self.confirm(phone, &code, &confirm_token).await?;
        if !confirmed.status.is_success() {
            return Err(format!(
                "confirm answered {} {}",
                confirmed.status, confirmed.body
            ));
        }
        let state = self.status(&code.id, Some(&code.poll_token)).await?;
        let ticket = state.body["ticket"]
            .as_str()
            .ok_or_else(|| format!("the confirmed code has no ticket: {}", state.body))?
            .to_owned();
        Ok((code, ticket))
    }

    // ---------- 3 ----------

    async fn reusable_code(&self) -> Vec<Outcome> {
        let Some(phone) = &self.phone else {
            return vec![Self::no_phone("a code and a ticket used twice")];
        };
        Self::collect(vec![
            self.used_once(phone).await,
            self.claimed_once(phone).await,
        ])
    }

    async fn used_once(&self, phone: &str) -> Checked {
        let (code, ticket) = self.confirmed(phone).await?;
        let first = self.exchange(Some(&code.poll_token), &ticket).await?;
        if !first.status.is_success() {
            return Err(format!(
                "the ticket did not log in: {} {}",
                first.status, first.body
            ));
        }
        let again = self.exchange(Some(&code.poll_token), &ticket).await?;
        let rescan = self.scan(phone, &code).await?;
        if again.status.is_success() || rescan.status.is_success() {
            return Ok(Outcome::Flaw(format!(
                "a used code lives on (ticket again: {}, scan again: {})",
                again.status, rescan.status
            )));
        }
        Ok(Outcome::Ok(format!(
            "a ticket logs in once ({} the second time); a finished code cannot be scanned \
             again ({})",
            again.status, rescan.status
        )))
    }

    async fn claimed_once(&self, phone: &str) -> Checked {
        let Some(second) = &self.second_phone else {
            return Ok(Outcome::Skipped(
                "another account taking over a scanned code: needs --second-phone-token".into(),
            ));
        };
        let code = self.create().await?;
        let scan = self.scan(phone, &code).await?;
        if !scan.status.is_success() {
            return Err(format!("scan answered {} {}", scan.status, scan.body));
        }
        let theirs = self.scan(second, &code).await?;
        let stolen = match scan.body["confirm_token"].as_str() {
            Some(token) => self.confirm(second, &code, token).await?,
            None => return Err("the scan answered no confirm_token".into()),
        };
        if theirs.status.is_success() || stolen.status.is_success() {
            return Ok(Outcome::Flaw(format!(
                "a second account took over a scanned code (scan: {}, confirm: {})",
                theirs.status, stolen.status
            )));
        }
        Ok(Outcome::Ok(format!(
            "a scanned code belongs to the first account (second scan: {}, its confirm: {})",
            theirs.status, stolen.status
        )))
    }

    // ---------- 4 ----------

    async fn weak_phone_tokens(&self) -> Vec<Outcome> {
        Self::collect(vec![self.forged_tokens_refused().await])
    }

    async fn forged_tokens_refused(&self) -> Checked {
        let code = self.create().await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims =
            json!({ "sub": "self-test", "name": "Self Test", "iat": now, "exp": now + 600 });
        let forged = [
            ("no token", None),
            ("a random string", Some(random_id())),
            ("an unsigned JWT (alg none)", Some(unsigned_jwt(&claims))),
            (
                "a JWT signed with the key \"secret\"",
                Some(hs256_jwt(&claims, b"secret")),
            ),
            (
                "a JWT signed with an empty key",
                Some(hs256_jwt(&claims, b"")),
            ),
        ];
        let mut accepted = Vec::new();
        for (what, token) in &forged {
            let answer = self
                .send(
                    Method::POST,
                    "/api/mobile/scan",
                    token.as_deref(),
                    Some(json!({ "qr": code.content })),
                )
                .await?;
            if answer.status.is_success() {
                accepted.push(*what);
            }
        }
        let state = self.status(&code.id, Some(&code.poll_token)).await?;
        if !accepted.is_empty() || state.body["state"] != "pending" {
            return Ok(Outcome::Flaw(format!(
                "the phone API accepted {} (the code is now {})",
                accepted.join(", "),
                state.body["state"]
            )));
        }
        Ok(Outcome::Ok(
            "no token, a random one, an unsigned JWT and JWTs signed with guessable keys are \
             all refused, and the code stays pending"
                .into(),
        ))
    }

    // ---------- 5 ----------

    async fn data_leakage(&self) -> Vec<Outcome> {
        Self::collect(vec![
            self.nothing_in_the_code().await,
            self.page_headers().await,
            self.scan_answer_is_clean().await,
        ])
    }

    async fn nothing_in_the_code(&self) -> Checked {
        let code = self.create().await?;
        let mut leaks = String::new();
        if code.content.contains(&code.poll_token) {
            leaks.push_str("the QR content holds the poll token; ");
        }
        let state = self.status(&code.id, Some(&code.poll_token)).await?;
        if state.body.get("user").is_some() || state.body.get("ticket").is_some() {
            let _ = write!(leaks, "a waiting code's state shows {}; ", state.body);
        }
        for (what, cache) in [
            ("POST /api/qr", &code.cache_control),
            ("status", &state.cache_control),
        ] {
            if !cache.contains("no-store") {
                let _ = write!(leaks, "{what} may be cached (Cache-Control: {cache:?}); ");
            }
        }
        if leaks.is_empty() {
            Ok(Outcome::Ok(
                "the QR holds only the public link; a waiting code shows no user; API answers \
                 are not stored by caches"
                    .into(),
            ))
        } else {
            Ok(Outcome::Flaw(leaks.trim_end_matches("; ").to_owned()))
        }
    }

    async fn page_headers(&self) -> Checked {
        let response = self
            .client
            .get(self.url("/")?)
            .send()
            .await
            .map_err(|e| format!("GET /: {e}"))?;
        let csp = header(&response, "content-security-policy");
        let mut missing = Vec::new();
        if !csp.contains("frame-ancestors 'none'")
            && !header(&response, "x-frame-options").eq_ignore_ascii_case("deny")
        {
            missing.push("framing refused (CSP frame-ancestors 'none')");
        }
        if header(&response, "x-content-type-options") != "nosniff" {
            missing.push("X-Content-Type-Options: nosniff");
        }
        if header(&response, "referrer-policy") != "no-referrer" {
            missing.push("Referrer-Policy: no-referrer");
        }
        if self.base.scheme() == "https"
            && header(&response, "strict-transport-security").is_empty()
        {
            missing.push("Strict-Transport-Security");
        }
        if missing.is_empty() {
            Ok(Outcome::Ok(
                "the login page cannot be framed, sniffed, or leak its address in a Referer".into(),
            ))
        } else {
            Ok(Outcome::Flaw(format!(
                "the login page lacks: {}",
                missing.join(", ")
            )))
        }
    }

    async fn scan_answer_is_clean(&self) -> Checked {
        let Some(phone) = &self.phone else {
            return Ok(Self::no_phone("what the phone is told"));
        };
        let code = self.create().await?;
        let scan = self.scan(phone, &code).await?;
        if !scan.status.is_success() {
            return Err(format!("scan answered {} {}", scan.status, scan.body));
        }
        let text = scan.body.to_string();
        if text.contains(&code.poll_token) || scan.body.get("ticket").is_some() {
            return Ok(Outcome::Flaw(
                "the scan answer gives the phone the browser's secrets".into(),
            ));
        }
        Ok(Outcome::Ok(
            "the phone learns the request's context, never the browser's poll token or a ticket"
                .into(),
        ))
    }

    // ---------- 6 ----------

    async fn relaying(&self) -> Vec<Outcome> {
        Self::collect(vec![
            self.foreign_origin_refused().await,
            self.short_lived().await,
            self.phone_sees_the_requester().await,
        ])
    }

    async fn foreign_origin_refused(&self) -> Checked {
        let answer = self
            .send_with(
                Method::POST,
                "/api/qr",
                None,
                Some(json!({})),
                Some(FOREIGN_ORIGIN),
            )
            .await?;
        if answer.status.is_success() {
            return Ok(Outcome::Flaw(format!(
                "a page on {FOREIGN_ORIGIN} can get real codes to show its victims"
            )));
        }
        Ok(Outcome::Ok(format!(
            "a page on another origin gets no code ({} {})",
            answer.status,
            answer.body["error"].as_str().unwrap_or_default()
        )))
    }

    async fn short_lived(&self) -> Checked {
        let code = self.create().await?;
        match code.expires_in {
            Some(life) if life <= MAX_CODE_LIFE => {
                Ok(Outcome::Ok(format!("a code can be scanned for {life} s")))
            }
            Some(life) => Ok(Outcome::Flaw(format!(
                "a code lives {life} s, long enough to be relayed at leisure \
                 (keep it ≤ {MAX_CODE_LIFE} s)"
            ))),
            None => Ok(Outcome::Flaw("a code's life is not stated".into())),
        }
    }

    async fn phone_sees_the_requester(&self) -> Checked {
        let Some(phone) = &self.phone else {
            return Ok(Self::no_phone("what the phone shows about the requester"));
        };
        let code = self.create().await?;
        let scan = self.scan(phone, &code).await?;
        let request = &scan.body["request"];
        let has = |key: &str| !request[key].is_null();
        if !scan.status.is_success() || !has("ip") || !(has("user_agent") || has("device")) {
            return Ok(Outcome::Flaw(format!(
                "the phone is not told who is asking (scan answer: {})",
                scan.body
            )));
        }
        let mut told = vec!["IP", "device"];
        if has("proximity") {
            told.push("network proximity");
        }
        if has("location") {
            told.push("location");
        }
        Ok(Outcome::Ok(format!(
            "the phone is shown who asks: {}",
            told.join(", ")
        )))
    }
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// An upper bound on the random bits an id can carry: 6 per character of
/// URL-safe base64, 4 per hex digit, ~3.3 per decimal digit.
fn random_bits(id: &str) -> usize {
    let per_char = if id.chars().all(|c| c.is_ascii_digit()) {
        3
    } else if id.chars().all(|c| c.is_ascii_hexdigit()) {
        4
    } else {
        6
    };
    id.chars().count() * per_char
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// A fresh random id-shaped string (for ids never issued, and tokens).
fn random_id() -> String {
    crate::secret::Secret::generate().expose().to_owned()
}

fn unsigned_jwt(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

fn hs256_jwt(claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bits_is_an_upper_bound_by_alphabet() {
        assert_eq!(random_bits("1234"), 12);
        assert_eq!(random_bits("deadbeef"), 32);
        assert_eq!(random_bits("1nL0f3xQ"), 48);
        assert!(random_bits(&random_id()) >= MIN_BITS);
    }

    #[test]
    fn forged_tokens_have_the_shape_of_jwts() {
        let claims = json!({ "sub": "x" });
        assert!(unsigned_jwt(&claims).ends_with('.'));
        assert_eq!(hs256_jwt(&claims, b"secret").split('.').count(), 3);
    }
}
