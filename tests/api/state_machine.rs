//! Property tests of the QR login state machine (`src/session.rs`): random
//! sequences of scans, confirms, cancels, ticket renewals and redeems, by
//! random actors holding right or wrong secrets, at random (and skewed)
//! clocks, against browser and device sessions. After every step the
//! harness checks what the issue promises: no illegal state, no way
//! backwards, a finished session never reopens, only the first scanner ever
//! confirms, and at most one ticket (or device code) ever redeems.
//!
//! The authorization-code and device-code lifecycles of the OIDC layer are
//! store records, not pure transitions; a device's *login* is this same
//! machine (`redeem_device`), and is driven here too.

use proptest::prelude::*;
use qrlogin::clock::Timestamp;
use qrlogin::number_match::MatchNumber;
use qrlogin::oidc::{DeviceRequest, Scope, UserCode};
use qrlogin::secret::{
    BrowserHash, ConfirmTokenHash, PollTokenHash, Secret, TicketHash, login_ticket, login_ticket_at,
};
use qrlogin::session::{
    LoginSession, Phase, Proof, PublicState, QrId, RequestInfo, TransitionError, User,
};
use std::time::Duration;

const USERS: [&str; 3] = ["alice", "bob", "mallory"];

/// Which confirm token a phone presents.
#[derive(Clone, Copy, Debug)]
enum TokenPick {
    /// The last one a scan handed out (to whoever scanned).
    Latest,
    /// The n-th token any scan handed out (modulo how many there are).
    Issued(usize),
    /// One nobody was given.
    Forged,
}

/// How a redeemer shows it is the browser that asked.
#[derive(Clone, Copy, Debug)]
enum ProofPick {
    RightPollToken,
    WrongPollToken,
    RightCookie,
    WrongCookie,
    NoCookie,
}

/// The number a confirm carries, for sessions with number matching.
#[derive(Clone, Copy, Debug)]
enum NumberPick {
    None,
    Right,
    Wrong,
}

#[derive(Clone, Debug)]
enum Op {
    Scan {
        user: usize,
    },
    Confirm {
        user: usize,
        token: TokenPick,
        pick: NumberPick,
    },
    CancelByPhone {
        user: usize,
        token: TokenPick,
    },
    CancelByBrowser {
        right_poll: bool,
    },
    NewTicket {
        right_poll: bool,
    },
    /// Presents the latest ticket, the n-th ever minted (modulo), or a forged one.
    Redeem {
        ticket: TokenPick,
        proof: ProofPick,
    },
    RedeemDevice {
        right_code: bool,
    },
}

/// One step: the operation, how far the shared clock moves first, and how
/// far this node's clock is off the shared one (nodes of a cluster disagree).
#[derive(Clone, Debug)]
struct Step {
    op: Op,
    advance_secs: u32,
    skew_ms: i32,
}

fn token_pick() -> impl Strategy<Value = TokenPick> {
    prop_oneof![
        4 => Just(TokenPick::Latest),
        2 => any::<usize>().prop_map(TokenPick::Issued),
        1 => Just(TokenPick::Forged),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS.len();
    let proof = prop_oneof![
        3 => Just(ProofPick::RightPollToken),
        1 => Just(ProofPick::WrongPollToken),
        3 => Just(ProofPick::RightCookie),
        1 => Just(ProofPick::WrongCookie),
        1 => Just(ProofPick::NoCookie),
    ];
    prop_oneof![
        4 => user.clone().prop_map(|user| Op::Scan { user }),
        4 => (user.clone(), token_pick(), number_pick())
            .prop_map(|(user, token, pick)| Op::Confirm { user, token, pick }),
        1 => (user, token_pick()).prop_map(|(user, token)| Op::CancelByPhone { user, token }),
        1 => prop::bool::weighted(0.8).prop_map(|right_poll| Op::CancelByBrowser { right_poll }),
        2 => prop::bool::weighted(0.8).prop_map(|right_poll| Op::NewTicket { right_poll }),
        4 => (token_pick(), proof)
            .prop_map(|(ticket, proof)| Op::Redeem { ticket, proof }),
        2 => prop::bool::weighted(0.8).prop_map(|right_code| Op::RedeemDevice { right_code }),
    ]
}

fn number_pick() -> impl Strategy<Value = NumberPick> {
    prop_oneof![
        1 => Just(NumberPick::None),
        3 => Just(NumberPick::Right),
        1 => Just(NumberPick::Wrong),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    // Mostly moments apart, sometimes long enough for tickets and codes to run out.
    let advance = prop_oneof![4 => 0u32..5, 1 => 5u32..120];
    (op(), advance, -3_000i32..=3_000).prop_map(|(op, advance_secs, skew_ms)| Step {
        op,
        advance_secs,
        skew_ms,
    })
}

fn user(i: usize) -> User {
    User {
        id: USERS[i].into(),
        name: USERS[i].to_uppercase(),
        avatar: None,
    }
}

/// Pending < scanned < confirmed < finished: a session only moves right.
fn rank(phase: &Phase) -> u8 {
    match phase {
        Phase::Pending => 0,
        Phase::Scanned { .. } => 1,
        Phase::Confirmed { .. } => 2,
        Phase::Cancelled { .. } | Phase::Redeemed { .. } => 3,
    }
}

fn is_finished(phase: &Phase) -> bool {
    rank(phase) == 3
}

/// What the harness knows that the session does not keep in the clear.
struct World {
    poll: Secret,
    cookie: Secret,
    is_device: bool,
    ticket_ttl: Duration,
    /// Every confirm token a scan handed out, with its user, in order.
    confirm_tokens: Vec<(usize, Secret)>,
    /// Every ticket minted (generation 0 at creation, then each renewal).
    tickets: Vec<Secret>,
    /// The user of the first successful scan.
    owner: Option<usize>,
    redeems: usize,
    /// The page's number, when the session uses number matching.
    number: Option<MatchNumber>,
}

impl World {
    fn confirm_token(&self, pick: TokenPick) -> Secret {
        match pick {
            TokenPick::Latest if !self.confirm_tokens.is_empty() => {
                let (_, token) = &self.confirm_tokens[self.confirm_tokens.len() - 1];
                Secret::from_client(token.expose())
            }
            TokenPick::Issued(n) if !self.confirm_tokens.is_empty() => {
                let (_, token) = &self.confirm_tokens[n % self.confirm_tokens.len()];
                Secret::from_client(token.expose())
            }
            _ => Secret::generate(),
        }
    }

    /// The number a confirm sends: the page's, another, or none.
    fn number(&self, pick: NumberPick) -> Option<MatchNumber> {
        let right = self.number.unwrap_or(MatchNumber::new(42).unwrap());
        match pick {
            NumberPick::None => None,
            NumberPick::Right => Some(right),
            NumberPick::Wrong => MatchNumber::new(if right.get() == 99 {
                10
            } else {
                right.get() + 1
            }),
        }
    }

    /// The only confirm token that may still act: the owner's latest.
    fn is_live_confirm_token(&self, user: usize, token: &Secret) -> bool {
        self.owner == Some(user)
            && self
                .confirm_tokens
                .last()
                .is_some_and(|(u, t)| *u == user && t.expose() == token.expose())
    }
}

fn fresh(world: &World, ttl: Duration, now: Timestamp) -> LoginSession {
    let id = QrId::generate();
    let session = LoginSession::new(
        id.clone(),
        PollTokenHash::of(&world.poll),
        TicketHash::of(&login_ticket(&world.poll, &id)),
        BrowserHash::of(&world.cookie),
        RequestInfo {
            ip: "192.0.2.1".into(),
            user_agent: "proptest".into(),
        },
        now,
        ttl,
    );
    let session = session.with_number(world.number);
    if world.is_device {
        session.for_device(DeviceRequest {
            client_id: "tv".into(),
            scope: Scope::parse("openid"),
            user_code: UserCode::parse("WDJB-MJHT").unwrap(),
        })
    } else {
        session
    }
}

/// What must hold of every session the machine can reach.
fn check_invariants(s: &LoginSession, world: &World, now: Timestamp) -> Result<(), TestCaseError> {
    let owner = world.owner.map(|u| USERS[u]);
    match &s.phase {
        Phase::Pending => prop_assert_eq!(owner, None, "pending after a scan"),
        Phase::Scanned { user, .. } | Phase::Confirmed { user, .. } => {
            prop_assert_eq!(Some(user.id.as_str()), owner, "bound to someone else")
        }
        Phase::Redeemed { user_id } => prop_assert_eq!(Some(user_id.as_str()), owner),
        Phase::Cancelled { .. } => {}
    }
    if let Phase::Confirmed { .. } = &s.phase {
        prop_assert!(
            s.ticket_expires_at.is_some(),
            "confirmed without a ticket window"
        );
        prop_assert!(
            s.ticket_deadline() <= s.expires_at,
            "a ticket outlives its login"
        );
    }
    // Finished states read the same at any time: never "expired", never live.
    if is_finished(&s.phase) {
        let later = now.plus(Duration::from_secs(86_400));
        prop_assert!(matches!(
            s.state(later),
            PublicState::Cancelled | PublicState::Redeemed
        ));
    }
    // Of all tickets ever minted, at most one would redeem now, and only the latest.
    let would_redeem: Vec<usize> = (0..world.tickets.len())
        .filter(|&i| {
            s.redeem(now, &world.tickets[i], Proof::PollToken(&world.poll))
                .is_ok()
        })
        .collect();
    prop_assert!(
        would_redeem.len() <= 1,
        "tickets {would_redeem:?} all redeem"
    );
    if let Some(&i) = would_redeem.first() {
        prop_assert_eq!(i, world.tickets.len() - 1, "an old ticket still redeems");
    }
    prop_assert!(world.redeems <= 1, "redeemed {} times", world.redeems);
    Ok(())
}

/// What one run got to: the phases it entered, how many tickets it renewed
/// and how many logins it redeemed.
#[derive(Debug, Default)]
struct Reached {
    phases: [bool; 5],
    renewals: usize,
    redeems: usize,
}

fn run(
    steps: Vec<Step>,
    is_device: bool,
    number: Option<u8>,
    ttl_secs: u64,
    ticket_secs: u64,
) -> Result<Reached, TestCaseError> {
    let mut reached = Reached::default();
    let mut world = World {
        poll: Secret::generate(),
        cookie: Secret::generate(),
        is_device,
        ticket_ttl: Duration::from_secs(ticket_secs),
        confirm_tokens: Vec::new(),
        tickets: Vec::new(),
        owner: None,
        redeems: 0,
        number: number.and_then(MatchNumber::new),
    };
    let mut clock = Timestamp::from_millis(1_700_000_000_000);
    let mut s = fresh(&world, Duration::from_secs(ttl_secs), clock);
    world.tickets.push(login_ticket(&world.poll, &s.id));
    check_invariants(&s, &world, clock)?;

    for step in steps {
        clock = clock.plus(Duration::from_secs(step.advance_secs.into()));
        let now = Timestamp::from_millis(clock.as_millis() + i64::from(step.skew_ms));
        let prev = s.clone();
        let result: Result<LoginSession, TransitionError> = match step.op {
            Op::Scan { user: u } => {
                let token = Secret::generate();
                let r = s.scan(now, &user(u), ConfirmTokenHash::of(&token));
                if r.is_ok() {
                    prop_assert!(
                        world.owner.is_none_or(|o| o == u),
                        "{} took {:?}'s session",
                        USERS[u],
                        world.owner.map(|o| USERS[o])
                    );
                    world.owner = Some(u);
                    world.confirm_tokens.push((u, token));
                }
                r
            }
            Op::Confirm {
                user: u,
                token,
                pick,
            } => {
                let secret = world.confirm_token(token);
                let number = world.number(pick);
                let r = s.confirm(now, USERS[u], &secret, number, world.ticket_ttl, now);
                if let Ok(next) = &r {
                    prop_assert!(
                        world.is_live_confirm_token(u, &secret),
                        "{} confirmed without the owner's latest token",
                        USERS[u]
                    );
                    let confirmed = matches!(next.phase, Phase::Confirmed { .. });
                    let cancelled = matches!(next.phase, Phase::Cancelled { .. });
                    match (world.number, number) {
                        // Without number matching a pick is ignored.
                        (None, _) => prop_assert!(confirmed, "not confirmed: {:?}", next.phase),
                        (Some(_), None) => prop_assert!(false, "confirmed without the number"),
                        (Some(right), Some(picked)) if picked == right => {
                            prop_assert!(confirmed, "the right number did not confirm");
                        }
                        // A wrong pick ends the login for good.
                        (Some(_), Some(_)) => prop_assert!(
                            cancelled,
                            "a wrong number did not cancel: {:?}",
                            next.phase
                        ),
                    }
                    if confirmed {
                        prop_assert_eq!(next.ticket_expires_at, Some(now.plus(world.ticket_ttl)));
                    }
                }
                r
            }
            Op::CancelByPhone { user: u, token } => {
                let secret = world.confirm_token(token);
                let r = s.cancel_by_phone(now, USERS[u], &secret);
                if r.is_ok() {
                    prop_assert!(world.is_live_confirm_token(u, &secret));
                }
                r
            }
            Op::CancelByBrowser { right_poll } => {
                let token = if right_poll {
                    Secret::from_client(world.poll.expose())
                } else {
                    Secret::generate()
                };
                let r = s.cancel_by_browser(now, &token);
                if r.is_ok() {
                    prop_assert!(right_poll && !is_device);
                    prop_assert!(
                        matches!(prev.phase, Phase::Pending | Phase::Scanned { .. }),
                        "cancelled a decided login"
                    );
                }
                r
            }
            Op::NewTicket { right_poll } => {
                let token = if right_poll {
                    Secret::from_client(world.poll.expose())
                } else {
                    Secret::generate()
                };
                let generation = s.ticket_generation + 1;
                let ticket = login_ticket_at(&world.poll, &s.id, generation);
                let r = s.new_ticket(now, &token, TicketHash::of(&ticket), world.ticket_ttl);
                if let Ok(next) = &r {
                    prop_assert!(right_poll && !is_device);
                    prop_assert!(
                        matches!(prev.phase, Phase::Confirmed { .. }),
                        "a ticket for an unconfirmed login"
                    );
                    prop_assert_eq!(next.ticket_generation, generation);
                    world.tickets.push(ticket);
                }
                r
            }
            Op::Redeem { ticket, proof } => {
                let presented = match ticket {
                    TokenPick::Latest => {
                        Secret::from_client(world.tickets[world.tickets.len() - 1].expose())
                    }
                    TokenPick::Issued(n) => {
                        Secret::from_client(world.tickets[n % world.tickets.len()].expose())
                    }
                    TokenPick::Forged => Secret::generate(),
                };
                let (stranger, wrong_cookie) = (Secret::generate(), Secret::generate());
                let proof_arg = match proof {
                    ProofPick::RightPollToken => Proof::PollToken(&world.poll),
                    ProofPick::WrongPollToken => Proof::PollToken(&stranger),
                    ProofPick::RightCookie => Proof::BrowserCookie(Some(&world.cookie)),
                    ProofPick::WrongCookie => Proof::BrowserCookie(Some(&wrong_cookie)),
                    ProofPick::NoCookie => Proof::BrowserCookie(None),
                };
                let r = s.redeem(now, &presented, proof_arg);
                if let Ok((_, redeemed)) = &r {
                    prop_assert!(!is_device, "a browser redeemed a device's login");
                    prop_assert!(matches!(
                        proof,
                        ProofPick::RightPollToken | ProofPick::RightCookie
                    ));
                    let latest = world.tickets.last().map(Secret::expose);
                    prop_assert_eq!(Some(presented.expose()), latest, "not the live ticket");
                    prop_assert!(now < prev.ticket_deadline(), "redeemed after its window");
                    prop_assert_eq!(
                        Some(redeemed.user.id.as_str()),
                        world.owner.map(|u| USERS[u])
                    );
                    world.redeems += 1;
                }
                r.map(|(next, _)| next)
            }
            Op::RedeemDevice { right_code } => {
                let code = if right_code {
                    Secret::from_client(world.poll.expose())
                } else {
                    Secret::generate()
                };
                let r = s.redeem_device(now, &code);
                if let Ok((_, redeemed)) = &r {
                    prop_assert!(right_code && is_device);
                    prop_assert_eq!(
                        Some(redeemed.user.id.as_str()),
                        world.owner.map(|u| USERS[u])
                    );
                    world.redeems += 1;
                }
                r.map(|(next, _)| next)
            }
        };

        match result {
            Ok(next) => {
                // Only a live, unexpired session moves, one version at a time, never left.
                prop_assert!(
                    !is_finished(&prev.phase),
                    "finished session reopened: {:?}",
                    step.op
                );
                prop_assert!(
                    !prev.is_expired(now),
                    "expired session moved: {:?}",
                    step.op
                );
                prop_assert_eq!(next.version, prev.version + 1);
                prop_assert_eq!(next.changed_at, Some(now));
                prop_assert!(rank(&next.phase) >= rank(&prev.phase), "moved backwards");
                prop_assert!(next.expires_at >= prev.expires_at, "life shortened");
                prop_assert_eq!(
                    (
                        &next.id,
                        &next.poll_hash,
                        &next.browser_hash,
                        next.created_at
                    ),
                    (
                        &prev.id,
                        &prev.poll_hash,
                        &prev.browser_hash,
                        prev.created_at
                    )
                );
                prop_assert_eq!(&next.request, &prev.request);
                reached.phases[phase_index(&next.phase)] = true;
                s = next;
            }
            Err(_) => {
                // A refusal leaves nothing behind (the machine is pure) and a
                // finished or expired session refuses everything.
                prop_assert_eq!(&s, &prev);
            }
        }
        check_invariants(&s, &world, now)?;
    }
    reached.phases[0] = true;
    reached.renewals = world.tickets.len() - 1;
    reached.redeems = world.redeems;
    Ok(reached)
}

fn phase_index(phase: &Phase) -> usize {
    match phase {
        Phase::Pending => 0,
        Phase::Scanned { .. } => 1,
        Phase::Confirmed { .. } => 2,
        Phase::Cancelled { .. } => 3,
        Phase::Redeemed { .. } => 4,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_browser_sessions_keep_every_rule(
        steps in prop::collection::vec(step(), 1..40),
        ttl in 30u64..400,
        ticket in 5u64..120,
        number in prop::option::of(10u8..100),
    ) {
        run(steps, false, number, ttl, ticket)?;
    }

    #[test]
    fn random_device_sessions_keep_every_rule(
        steps in prop::collection::vec(step(), 1..40),
        ttl in 30u64..400,
        ticket in 5u64..120,
    ) {
        run(steps, true, None, ttl, ticket)?;
    }
}

/// The generator reaches every phase, renews tickets and redeems, so the
/// properties above are not vacuously true of sessions that got nowhere.
#[test]
fn the_generated_sequences_reach_every_phase() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = Reached::default();
    let strategy = (
        prop::collection::vec(step(), 1..40),
        any::<bool>(),
        prop::option::of(10u8..100),
    );
    for _ in 0..500 {
        let (steps, device, number) = strategy.new_tree(&mut runner).unwrap().current();
        let number = if device { None } else { number };
        let reached = run(steps, device, number, 300, 60).unwrap();
        for (all, one) in seen.phases.iter_mut().zip(reached.phases) {
            *all |= one;
        }
        seen.renewals += reached.renewals;
        seen.redeems += reached.redeems;
    }
    assert_eq!(
        seen.phases, [true; 5],
        "pending, scanned, confirmed, cancelled, redeemed"
    );
    assert!(seen.renewals > 20 && seen.redeems > 50, "{seen:?}");
}
