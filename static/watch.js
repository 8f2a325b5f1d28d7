// Follows one QR session's state for the login page: Server-Sent Events
// where they work, the long poll where they do not.
//
// `watch(session, report)` calls `report` with
//   {kind: 'state', body}  each state the server announces (a PollBody);
//   {kind: 'lost'}         the connection broke; we keep trying;
//   {kind: 'restored'}     it works again;
//   {kind: 'limited'}      the server refused for a rate limit; we retry later;
//   {kind: 'gone'}         the server no longer knows the code (restart,
//                          purge): a new code is needed.
// and returns a function that stops watching.
//
// Why a fallback at all: some proxies buffer or cut event streams, some
// browsers lack EventSource. The page falls back to the long poll when
// EventSource is missing, when no first event arrives within
// FIRST_EVENT_MS (a buffering proxy holds it back), or after two streams
// failed in a row without an event. The long poll is the protocol every
// deployment supports; SSE only saves the re-request after each change.

import { fetchJson, sleep } from './common.js';

const FIRST_EVENT_MS = 4000;
const MAX_STREAM_FAILURES = 2;
const MAX_BACKOFF_MS = 10000;
const SETTLED = ['confirmed', 'cancelled', 'expired', 'redeemed'];

export function watch(session, report) {
  const w = { session: session, report: report, stopped: false, lost: false, stop: null };
  w.stop = function () { w.stopped = true; };
  if (typeof EventSource === 'function') stream(w, 0, 'pending');
  else longPoll(w, 'pending');
  return function () { w.stop(); };
}

function url(session, suffix) {
  return '/api/qr/' + encodeURIComponent(session.id) + suffix;
}

// Reports a state, and whether the connection came back.
function deliver(w, body) {
  if (w.stopped) return;
  if (w.lost) {
    w.lost = false;
    w.report({ kind: 'restored' });
  }
  w.report({ kind: 'state', body: body });
}

function lose(w) {
  if (w.stopped || w.lost) return;
  w.lost = true;
  w.report({ kind: 'lost' });
}

// One EventSource. The poll token travels as the `qrl_poll` cookie that
// `POST /api/qr` set for this code's events URL only: never in the URL.
function stream(w, failures, last) {
  const source = new EventSource(url(w.session, '/events'));
  let heard = false;
  const firstEvent = setTimeout(function () {
    if (heard || w.stopped) return;
    // Nothing in time: a proxy is buffering. The long poll gets through.
    source.close();
    longPoll(w, last);
  }, FIRST_EVENT_MS);
  w.stop = function () {
    w.stopped = true;
    clearTimeout(firstEvent);
    source.close();
  };

  source.onmessage = function (e) {
    let body = null;
    try {
      body = JSON.parse(e.data);
    } catch (_) {
      return;
    }
    if (!body || !body.state) return;
    heard = true;
    failures = 0;
    last = body.state;
    if (SETTLED.includes(body.state)) {
      // The server ends the stream here; do not let EventSource reconnect.
      source.close();
      clearTimeout(firstEvent);
    }
    deliver(w, body);
  };

  source.onerror = function () {
    if (w.stopped) return;
    if (source.readyState === EventSource.CONNECTING) {
      // EventSource reconnects by itself (with Last-Event-ID); say the
      // connection is down meanwhile.
      lose(w);
      return;
    }
    // CLOSED: the server answered with something other than a stream (the
    // status is hidden from us), or the stream could not start. Ask once
    // the plain way to learn why.
    clearTimeout(firstEvent);
    source.close();
    failures = heard ? 1 : failures + 1;
    afterClose(w, last, failures);
  };
}

// After a stream closed for good, a status request without waiting tells
// why: the code is gone, a rate limit, the state it reached meanwhile, or
// no answer at all. Then stream again, or, after MAX_STREAM_FAILURES, long-poll.
async function afterClose(w, last, failures) {
  const res = await fetchJson(url(w.session, '/status?since=' + encodeURIComponent(last) + '&wait=0'), {
    token: w.session.pollToken,
  });
  if (w.stopped) return;
  if (res.status === 401 || res.status === 404) {
    w.report({ kind: 'gone' });
    return;
  }
  let pause = 1000 * 2 ** (failures - 1);
  if (res.status === 429) {
    w.report({ kind: 'limited' });
    pause = MAX_BACKOFF_MS;
  } else if (res.ok && res.body && res.body.state) {
    if (res.body.state !== last || w.lost) deliver(w, res.body);
    if (SETTLED.includes(res.body.state)) return;
    last = res.body.state;
  } else {
    lose(w);
  }
  if (failures >= MAX_STREAM_FAILURES) {
    longPoll(w, last);
    return;
  }
  await sleep(pause);
  if (!w.stopped) stream(w, failures, last);
}

// The long poll: held `session.pollHold` seconds, answered at once on a change.
async function longPoll(w, since) {
  let failures = 0;
  while (!w.stopped) {
    const controller = new AbortController();
    const stopBefore = w.stop;
    w.stop = function () {
      stopBefore();
      controller.abort();
    };
    const timeout = setTimeout(function () { controller.abort(); }, (w.session.pollHold + 10) * 1000);
    const res = await fetchJson(
      url(w.session, '/status?since=' + encodeURIComponent(since) + '&wait=' + encodeURIComponent(w.session.pollHold)),
      { token: w.session.pollToken, signal: controller.signal },
    );
    clearTimeout(timeout);
    w.stop = stopBefore;
    if (w.stopped) return;

    if (res.status === 401 || res.status === 404) {
      w.report({ kind: 'gone' });
      return;
    }
    if (res.status === 429) {
      w.report({ kind: 'limited' });
      await sleep(MAX_BACKOFF_MS);
      continue;
    }
    // Status 0 is a network failure or our own timeout.
    if (!res.ok || !res.body || !res.body.state) {
      failures += 1;
      lose(w);
      await sleep(Math.min(1000 * 2 ** (failures - 1), MAX_BACKOFF_MS));
      continue;
    }
    failures = 0;
    // A hold that ended without news repeats the state asked about.
    const changed = res.body.state !== since;
    since = res.body.state;
    if (changed || w.lost) deliver(w, res.body);
    if (SETTLED.includes(since)) return;
  }
}
