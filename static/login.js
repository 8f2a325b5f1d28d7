// Login page: shows the logged-in user, or a QR code it follows (watch.js:
// Server-Sent Events, or the long poll) through pending → scanned →
// confirmed/cancelled/expired, shared by all tabs of the login (tabs.js).

import * as I18n from './i18n.js';
import {
  $, avatarFallback, errorText, fetchJson, formatMmSs, showAvatar, sleep,
} from './common.js';
import { tabGroup } from './tabs.js';
import { watch } from './watch.js';

const el = {
  viewQr: $('view-qr'),
  viewMe: $('view-me'),
  foot: document.querySelector('.card-foot'),
  box: $('qr-box'),
  img: $('qr-img'),
  ovAvatar: $('ov-avatar'),
  ovAvatarImg: $('ov-avatar-img'),
  ovInitial: $('ov-initial'),
  newCode: $('new-code'),
  statusTitle: $('status-title'),
  statusSub: $('status-sub'),
  countdown: $('countdown'),
  countdownLive: $('countdown-live'),
  reconnecting: $('reconnecting'),
  notice: $('login-notice'),
  extras: $('qr-extras'),
  refresh: $('refresh-code'),
  qrLink: $('qr-link'),
  openApp: $('open-app'),
  otherLogin: $('other-login'),
  otherLoginLink: $('other-login-link'),
  meAvatar: $('me-avatar'),
  meInitial: $('me-initial'),
  continueBox: $('continue'),
  continueBtn: $('continue-btn'),
  notMe: $('not-me'),
  meName: $('me-name'),
  meId: $('me-id'),
  meExpires: $('me-expires'),
  logout: $('logout'),
  meError: $('me-error'),
};

const MAX_BACKOFF_MS = 10000;

// On /oauth/authorize the page logs the user in to another site: the
// server checked the request before serving the page, and checks it again
// when the page asks for a code with it.
const AUTHORIZE = location.pathname === '/oauth/authorize' ? location.search.slice(1) : null;
// Where to go once logged in (`?rd=`, from nginx forward-auth): the server
// checked it before serving this page and checks it again as `next`.
// `?next=` is the same, for links written by hand (`/?next=/reports`).
const RETURN_TO = AUTHORIZE ? null : (function () {
  const params = new URLSearchParams(location.search);
  return params.get('rd') || params.get('next');
})();
// What the server's `[pages]` config adds, as meta tags: a link to another
// way of logging in, and the app's deep link (a template with {url}).
const OTHER_LOGIN_URL = metaContent('qrl-other-login-url');
const APP_LINK = metaContent('qrl-app-link');
// A page opened on a phone cannot be scanned by that phone: offer the app.
const ON_PHONE = /Mobi|Android|iPhone|iPad/i.test(navigator.userAgent) ||
  (matchMedia('(pointer: coarse)').matches && !matchMedia('(hover: hover)').matches);
// The site's name, once the server told us ("Log in to Example Shop").
let clientName = null;
// An unattended tab would otherwise mint codes forever; after this many
// automatic renewals in a row we wait for a click instead.
const MAX_AUTO_RENEWALS = 5;

// The code currently on screen (this tab's copy of it). Every async step
// checks `code === current`, so a superseded step stops on its own.
let current = null;
let countdownTimer = 0;
// What the countdown counts down to: the code's expiry ('code'), or the end
// of a confirmed login's wait for "Continue" ('continue').
let countdown = null;
// The last thing the polite live region said about the countdown.
let announced = '';
let createFailures = 0; // consecutive failed POST /api/qr, for backoff
let me = null;

function metaContent(name) {
  const meta = document.querySelector('meta[name="' + name + '"]');
  return meta ? meta.content : '';
}

// ---------- QR view rendering ----------

function setStatus(titleKey, subKey, subVars) {
  I18n.set(el.statusTitle, titleKey);
  if (subKey) I18n.set(el.statusSub, subKey, subVars);
  else I18n.setPlain(el.statusSub, '');
}

function setState(state) {
  el.box.dataset.state = state;
  el.img.hidden = state === 'loading' || state === 'error';
  el.ovAvatar.hidden = state !== 'scanned';
  // Only the overlay's own button should be tabbable when it is visible.
  const needsButton = state === 'cancelled' || state === 'expired' || state === 'error';
  el.newCode.hidden = !needsButton;
  I18n.set(el.newCode, state === 'error' ? 'login.retry' : 'login.new_code');
  el.countdown.hidden = state !== 'pending';
  el.extras.hidden = state !== 'pending';
  el.openApp.hidden = !(state === 'pending' && ON_PHONE && APP_LINK);
  // Scanned: the way out ("Not you?"); "Continue" only once confirmed.
  el.continueBox.hidden = state !== 'scanned';
  el.continueBtn.hidden = true;
  if (state !== 'pending' && state !== 'scanned') stopCountdown();
}

function renderCountdown() {
  if (!current || !countdown) return;
  const left = (countdown.until - Date.now()) / 1000;
  if (countdown.kind === 'continue') {
    I18n.set(el.countdown, 'login.continue_within', { time: formatMmSs(left) });
    el.countdown.classList.toggle('soon', left < 30);
    if (left <= 0) {
      // The confirmed login is gone on the server too: start over.
      el.continueBox.hidden = true;
      current.live = false;
      renderExpired();
    }
    return;
  }
  const soon = left < 30;
  const key = soon ? 'login.expires_soon' : 'login.expires_in';
  I18n.set(el.countdown, key, { time: formatMmSs(left) });
  el.countdown.classList.toggle('soon', soon);
  // The visible countdown changes every second; screen readers hear it
  // only at each whole minute and once when it gets short.
  const step = soon ? 'soon' : String(Math.ceil(left / 60));
  if (announced === '') {
    announced = step;
  } else if (step !== announced) {
    announced = step;
    I18n.set(el.countdownLive, key, { time: formatMmSs(left) });
  }
}

function startCountdown(kind, until) {
  stopCountdown();
  countdown = { kind: kind, until: until };
  announced = '';
  I18n.setPlain(el.countdownLive, '');
  renderCountdown();
  countdownTimer = setInterval(renderCountdown, 1000);
}

function stopCountdown() {
  clearInterval(countdownTimer);
  countdownTimer = 0;
  countdown = null;
}

// ---------- QR lifecycle ----------
//
// Tabs of one login (same `?next=` or site request) share one code: the
// leading tab creates it, follows it (watch.js) and tells the others
// (tabs.js); any tab may click "Continue". When the leader closes, the next
// tab takes over the same code.

const GROUP = 'qrlogin-login ' + (AUTHORIZE ? 'authorize?' + AUTHORIZE : 'next=' + (RETURN_TO || ''));
let group = null;
let leading = false;
// The QR view is showing (not the logged-in one).
let wantQr = false;
// What the leader last reported about `current` (its state, and whether
// the connection is down), for tabs that ask.
let lastReport = null;
let lastLoss = null;

function joinGroup() {
  group = tabGroup(GROUP, lead, heard);
}

// This tab leads now: at start, or because the leader went away.
function lead() {
  leading = true;
  if (!wantQr) return;
  if (current && current.id) {
    // Keep what is shown — a waiting code is followed on from here; a
    // confirmed login, a cancelled or expired code stay as they are (their
    // buttons work from any tab).
    if (current.live) follow(current);
    return;
  }
  // Nothing shown yet (the old leader went while making a code), or a
  // failed attempt: make one.
  newCode(false);
}

// A message from another tab of this login. Only pages of this origin can
// post on the channel; still, a code is checked before it is shown.
function heard(msg) {
  if (!msg || typeof msg.type !== 'string') return;
  switch (msg.type) {
    case 'hello':
      if (!leading) return;
      if (!wantQr) {
        // This tab shows someone logged in, the asking tab a login page:
        // one of us is out of date.
        recheckForNewTab();
        return;
      }
      if (current && current.id) {
        group.post({ type: 'code', code: shareable(current) });
        if (lastReport) group.post(lastReport);
        if (lastLoss) group.post(lastLoss);
      } else if (current && current.failed) {
        group.post({ type: 'create-failed', res: current.failed });
      }
      return;
    case 'renew':
      if (!leading || !wantQr || !current) return;
      // Several tabs may ask to replace the same code: the first asks, the
      // rest find it replaced, or being made (no id, no failure yet).
      if (!current.id && !current.failed) return;
      if ((current.id || null) !== (msg.id || null)) return;
      if (msg.auto && !autoRenew(current)) return;
      newCode(!!msg.auto);
      return;
    case 'code': {
      if (leading || !wantQr) return;
      const code = checkedCode(msg.code);
      if (code && (!current || current.id !== code.id)) showCode(code);
      return;
    }
    case 'create-failed':
      if (leading || !wantQr || !msg.res) return;
      current = null;
      showCreateFailed(msg.res);
      return;
    case 'report':
      if (leading || !wantQr || !current || current.id !== msg.id || !msg.report) return;
      onReport(current, msg.report, msg.at);
      return;
    case 'continuing':
      if (!current || current.id !== msg.id) return;
      current.live = false;
      current.continuing = true;
      stopCountdown();
      el.continueBox.hidden = true;
      setState('confirmed');
      setStatus('login.continued_elsewhere', 'login.continued_elsewhere_sub');
      // The other tab comes back logged in and says so; if it went on to
      // another page instead, look for ourselves in a moment.
      setTimeout(function () { checkSession(true); }, 3000);
      return;
    case 'logged-in':
      if (!me) checkSession(false);
      return;
    case 'logged-out':
      if (me) showQrView();
      return;
    default:
      // A message from a newer version of this page: ignore.
  }
}

// Tells the other tabs (the leader's reports carry the code's id).
function tell(msg) {
  if (group) group.post(msg);
}

// What another tab needs of a code: data only (a message cannot carry
// this tab's functions, such as the watch's stop).
function shareable(code) {
  return {
    id: code.id,
    pollToken: code.pollToken,
    pollHold: code.pollHold,
    expiresAt: code.expiresAt,
    link: code.link,
    client: code.client,
    renewal: code.renewal,
    matchNumber: code.matchNumber,
  };
}

// A code from another tab, if it is one: an id of URL-safe characters, an
// http(s) link, the image from this server's own URL for that id.
function checkedCode(c) {
  if (!c || typeof c.id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(c.id)) return null;
  if (typeof c.pollToken !== 'string' || typeof c.link !== 'string') return null;
  let link;
  try {
    link = new URL(c.link);
  } catch (_) {
    return null;
  }
  if (link.protocol !== 'https:' && link.protocol !== 'http:') return null;
  return {
    id: c.id,
    pollToken: c.pollToken,
    pollHold: Number(c.pollHold) > 0 ? Number(c.pollHold) : 25,
    expiresAt: Number(c.expiresAt) || Date.now(),
    qrSrc: qrImage(c.id),
    link: link.href,
    client: typeof c.client === 'string' ? c.client : null,
    renewal: Number(c.renewal) || 0,
    matchNumber: Number.isInteger(c.matchNumber) ? c.matchNumber : null,
  };
}

function qrImage(id) {
  return '/api/qr/' + encodeURIComponent(id) + '/qr.svg';
}

// Whether `code`, expired, may be replaced without a click: an unattended
// page would otherwise mint codes forever. A scan shows someone is there.
function autoRenew(code) {
  return code.scanned || (code.renewal || 0) < MAX_AUTO_RENEWALS;
}

function abandonCurrent() {
  if (current && current.stopWatch) current.stopWatch();
  // Tell the server this code is dead, so nobody can still scan it. Only
  // the leader does: the code is every tab's.
  if (leading && current && current.live && current.pollToken) {
    fetchJson('/api/qr/' + encodeURIComponent(current.id), {
      method: 'DELETE',
      token: current.pollToken,
      keepalive: true,
    });
  }
  el.continueBox.hidden = true;
  current = null;
  lastReport = null;
  lastLoss = null;
  stopCountdown();
  showOffline(false);
}

// A new code in place of the one shown: made by the leader; another tab
// asks the leader for it. `auto` when no one clicked (an expired code).
function renew(auto) {
  if (leading) {
    if (!auto || !current || autoRenew(current)) newCode(auto);
    return;
  }
  tell({ type: 'renew', id: current && current.id, auto: auto });
}

// Makes a code (the leader). An automatic renewal counts on from the code
// it replaces; a click, or a first code, starts the count again.
async function newCode(auto) {
  const replaced = current;
  const renewal = auto && replaced && !replaced.scanned ? (replaced.renewal || 0) + 1 : 0;
  abandonCurrent();
  const pending = {};
  current = pending;
  setState('loading');
  setStatus('login.loading');

  const res = await fetchJson('/api/qr', {
    method: 'POST',
    json: AUTHORIZE ? { authorize: AUTHORIZE } : {},
  });
  const body = res.body;
  if (pending !== current) return;

  if (res.status !== 201 || !body || !body.id || !body.poll_token) {
    const failed = { status: res.status, body: body };
    pending.failed = failed;
    tell({ type: 'create-failed', res: failed });
    showCreateFailed(failed);
    // Outages are usually brief (server restart), so keep trying in the
    // background. A 4xx won't fix itself and waits for the button; a rate
    // limit (429) too: it is no lost connection, and retrying spends it.
    if (res.status === 0 || res.status >= 500) {
      createFailures += 1;
      await sleep(Math.min(1000 * 2 ** (createFailures - 1), MAX_BACKOFF_MS));
      if (pending === current) newCode(false);
    }
    return;
  }
  createFailures = 0;
  // Everything another tab needs to show and follow this code.
  const code = {
    id: body.id,
    pollToken: body.poll_token,
    pollHold: Number(body.poll_hold) > 0 ? Number(body.poll_hold) : 25,
    expiresAt: Date.now() + (Number(body.expires_in) || 0) * 1000,
    qrSrc: body.qr_svg || qrImage(body.id),
    link: body.qr_content || '',
    client: body.client && body.client.name ? body.client.name : null,
    renewal: renewal,
    // Number matching: the number the phone must pick.
    matchNumber: Number.isInteger(body.match_number) ? body.match_number : null,
  };
  showCode(code);
  tell({ type: 'code', code: shareable(code) });
  follow(code);
}

function showCreateFailed(res) {
  setState('error');
  if (res.status === 0) {
    setStatus('login.error', 'login.error_sub');
  } else {
    const why = errorText(res);
    setStatus('login.error', why.key, why.vars);
  }
  // "Connection lost" only when no server answered (a proxy's page has
  // no error code); a server saying it is busy said so above.
  showOffline((res.status === 0 || res.status >= 500) && !(res.body && res.body.error));
}

function showCode(code) {
  if (current && current !== code && current.stopWatch) current.stopWatch();
  current = code;
  code.live = true;
  lastReport = null;
  lastLoss = null;
  showOffline(false);
  if (code.client) showClient(code.client);
  el.img.src = code.qrSrc;
  // The code as text: for people who cannot scan, screen readers, and
  // the README's curl walk; on a phone, the app opens it directly.
  el.qrLink.href = code.link;
  I18n.setPlain(el.qrLink, code.link);
  if (APP_LINK) el.openApp.href = APP_LINK.split('{url}').join(encodeURIComponent(code.link));
  renderPending();
  showMatchNumber(code.matchNumber);
  startCountdown('code', code.expiresAt);
}

// The leader follows the code and tells the other tabs what it hears.
function follow(code) {
  if (code.stopWatch) code.stopWatch();
  code.stopWatch = watch(code, function (report) {
    if (code !== current) return;
    const msg = { type: 'report', id: code.id, report: report, at: Date.now() };
    if (report.kind === 'state') lastReport = msg;
    if (report.kind === 'lost') lastLoss = msg;
    if (report.kind === 'state' || report.kind === 'restored') lastLoss = null;
    tell(msg);
    onReport(code, report, msg.at);
  });
}

// What a report means on screen, in every tab alike. `at` is when the
// leader heard it (tabs share a clock), so a late tab counts down right.
function onReport(code, report, at) {
  switch (report.kind) {
    case 'lost':
      showOffline(true);
      return;
    case 'restored':
      showOffline(false);
      return;
    case 'limited':
      // A rate limit is no lost connection: say what it is.
      I18n.set(el.notice, 'api.rate_limited');
      el.notice.hidden = false;
      return;
    case 'gone': {
      // The server no longer knows the code (it restarted without a shared
      // store, or purged it): whatever was on screen is void. Say so, so a
      // scan that vanished is not a mystery.
      const wasScanned = el.box.dataset.state === 'scanned';
      I18n.set(el.notice, wasScanned ? 'login.scan_lost' : 'login.code_replaced');
      el.notice.hidden = false;
      code.live = false;
      if (leading) newCode(false);
      return;
    }
    case 'state':
      showState(code, report.body, at);
      return;
    default:
  }
}

function showState(code, body, at) {
  showOffline(false);
  switch (body.state) {
    case 'pending':
      // Also covers a scan that was abandoned on the phone and timed out.
      if (el.box.dataset.state !== 'pending') renderPending();
      return;
    case 'scanned':
      renderScanned(body.user);
      return;
    case 'confirmed':
      code.live = false;
      askToContinue(code, body, at);
      return;
    case 'cancelled':
      code.live = false;
      renderCancelled(body);
      return;
    case 'expired':
    case 'redeemed':
      code.live = false;
      renderExpired();
      return;
    default:
      // A state from a newer server: keep what is shown.
  }
}

// Dims the code while the connection is down: it may be dead by now.
function showOffline(on) {
  el.viewQr.classList.toggle('offline', on);
  el.reconnecting.hidden = !on;
}

// Number matching: the phone offers three numbers and only this one logs
// in, so a code relayed to someone who cannot see this screen fails.
function showMatchNumber(number) {
  const box = document.getElementById('match-number');
  const valid = Number.isInteger(number);
  box.hidden = !valid;
  document.getElementById('match-number-value').textContent = valid ? String(number) : '';
}

// Names the site the user is logging in to, in the heading.
function showClient(name) {
  clientName = name;
  I18n.set($('qr-title'), 'login.title_client', { name: name });
  I18n.set(document.querySelector('#view-qr .subtitle'), 'login.subtitle_client', { name: name });
  I18n.setTitle('login.doc_title_client', { name: name });
}

function renderPending() {
  setState('pending');
  setStatus('login.pending', ON_PHONE && APP_LINK ? 'login.on_phone' : 'login.pending_sub');
}

function renderScanned(user) {
  user = user || {};
  if (current) current.scanned = true; // someone is using the page
  // A notice about an earlier attempt (a refused ticket) is stale now.
  el.notice.hidden = true;
  setState('scanned');
  showAvatar(el.ovAvatarImg, el.ovInitial, user.avatar, user.name);
  el.ovAvatarImg.alt = user.name || '';
  setStatus('login.scanned', 'login.scanned_sub', { name: user.name || '' });
}

// Whoever can see the QR could scan it with their own account; so the
// person at this computer says "yes, that's me" before the login happens.
// They may take their time: the login waits on the server (`expires_in`),
// and the click asks for a fresh ticket, since the poll's may have run out.
function askToContinue(code, body, at) {
  const name = (body.user && body.user.name) || '';
  showAvatar(el.ovAvatarImg, el.ovInitial, body.user && body.user.avatar, name);
  el.notice.hidden = true;
  setState('scanned');
  setStatus('login.confirmed_ask', 'login.confirmed_ask_sub', { name: name });
  I18n.set(el.continueBtn, 'login.continue_as', { name: name });
  el.continueBtn.hidden = false;
  el.continueBtn.disabled = false;
  const lasts = Number(body.expires_in) > 0 ? Number(body.expires_in) : 60;
  startCountdown('continue', (at || Date.now()) + lasts * 1000);
  el.countdown.hidden = false;
  el.continueBtn.onclick = function () { continueLogin(code); };
  el.continueBtn.focus();
}

async function continueLogin(code) {
  el.continueBtn.disabled = true;
  el.notice.hidden = true;
  const res = await fetchJson('/api/qr/' + encodeURIComponent(code.id) + '/ticket', {
    method: 'POST',
    token: code.pollToken,
  });
  if (code !== current) return;
  if (res.ok && res.body && res.body.redirect) {
    stopCountdown();
    el.continueBox.hidden = true;
    el.countdown.hidden = true;
    // The other tabs of this login stand down: this one finishes it.
    tell({ type: 'continuing', id: code.id });
    finishLogin(res.body);
    return;
  }
  const why = errorText(res);
  if (res.status === 0 || res.status >= 500 || res.status === 429) {
    // Worth another click: the login still waits.
    I18n.set(el.notice, why.key, why.vars);
    el.notice.hidden = false;
    el.continueBtn.disabled = false;
    return;
  }
  // The login is gone (its time ran out, or it was used): say why, offer a new code.
  code.live = false;
  setState('expired');
  setStatus('login.continue_failed', why.key, why.vars);
  el.newCode.focus();
}

function finishLogin(body) {
  setState('confirmed');
  setStatus('login.confirmed', 'login.confirmed_sub');
  if (!body.redirect) {
    // No redirect supplied: the ticket cannot be exchanged here, reload to pick up /api/me.
    location.reload();
    return;
  }
  const url = new URL(body.redirect, location.href);
  // For a site's login the server sends the browser on to the site itself.
  if (!AUTHORIZE) url.searchParams.set('next', RETURN_TO || '/');
  location.href = url.href;
}

function renderCancelled(body) {
  setState('cancelled');
  if (AUTHORIZE && body && body.redirect) {
    // The user declined on the phone: the site hears access_denied. No
    // "New code" here: the page is about to leave, and a fresh code would
    // be abandoned half-way.
    el.newCode.hidden = true;
    const site = clientName || new URL(body.redirect, location.href).host;
    setStatus('login.cancelled', 'login.returning', { name: site });
    setTimeout(function () { location.href = body.redirect; }, 1200);
    return;
  }
  if (body && body.reason === 'wrong_number') setStatus('login.refused', 'login.refused_sub');
  else setStatus('login.cancelled', 'login.cancelled_sub');
}

function renderExpired() {
  setState('expired');
  const expired = current;
  const auto = !!expired && autoRenew(expired);
  setStatus('login.expired', auto ? 'login.expired_auto' : 'login.expired_sub');
  if (!auto) return;
  // Renew right away if visible; a hidden tab waits until the user comes
  // back (whichever tab of the login that is asks the leader).
  whenVisible(function () {
    if (expired === current) renew(true);
  });
}

// Runs `fn` once the page is visible (after a pause, so the dimmed,
// expired code is noticed). Only the latest `fn` waits: a hidden tab
// whose codes expire one after another keeps one listener, not one each.
let onVisible = null;
function whenVisible(fn) {
  if (document.visibilityState === 'visible') {
    setTimeout(fn, 1500);
    return;
  }
  onVisible = fn;
}
document.addEventListener('visibilitychange', function () {
  if (document.visibilityState !== 'visible' || !onVisible) return;
  const fn = onVisible;
  onVisible = null;
  setTimeout(fn, 1500);
});

// ---------- logged-in view ----------

function showQrView() {
  me = null;
  el.viewMe.hidden = true;
  el.viewQr.hidden = false;
  el.foot.hidden = false;
  el.otherLogin.hidden = !OTHER_LOGIN_URL;
  wantQr = true;
  if (leading) {
    newCode(false);
    return;
  }
  // The leading tab has (or is making) this login's code: ask for it.
  setState('loading');
  setStatus('login.loading');
  tell({ type: 'hello' });
}

function renderMe() {
  if (!me) return;
  const user = me.user || {};
  showAvatar(el.meAvatar, el.meInitial, user.avatar, user.name);
  I18n.setPlain(el.meName, user.name || user.id || '');
  I18n.set(el.meId, 'me.id', { id: user.id || '' });
  if (me.expires_at) {
    const when = new Date(me.expires_at * 1000).toLocaleString(I18n.locale(), {
      dateStyle: 'medium',
      timeStyle: 'short',
    });
    I18n.set(el.meExpires, 'me.expires', { time: when });
    el.meExpires.hidden = false;
  } else {
    el.meExpires.hidden = true;
  }
}

function showMeView(data) {
  abandonCurrent();
  wantQr = false;
  me = data;
  renderMe();
  el.viewQr.hidden = true;
  el.foot.hidden = true;
  el.otherLogin.hidden = true;
  el.viewMe.hidden = false;
  el.meError.hidden = true;
  el.logout.disabled = false;
  I18n.set(el.logout, 'me.logout');
}

async function logout() {
  el.logout.disabled = true;
  el.meError.hidden = true;
  I18n.set(el.logout, 'me.logging_out');
  const res = await fetchJson('/api/logout', { method: 'POST' });
  // 401 means the session was already gone, which is what we wanted anyway.
  if (res.ok || res.status === 401) {
    tell({ type: 'logged-out' });
    showQrView();
    return;
  }
  el.logout.disabled = false;
  I18n.set(el.logout, 'me.logout');
  I18n.set(el.meError, 'me.logout_failed');
  el.meError.hidden = false;
}

// /api/login/complete sends a browser back here when its ticket was refused.
function showLoginError() {
  const params = new URLSearchParams(location.search);
  if (params.get('login_error') !== 'invalid_ticket') return;
  I18n.set(el.notice, 'api.invalid_ticket');
  el.notice.hidden = false;
  params.delete('login_error');
  const query = params.toString();
  history.replaceState(null, '', location.pathname + (query ? '?' + query : ''));
}

// Another tab logged in (or is finishing a login): show who, if so. When
// the other tab's login came to nothing, `orQr` brings back a code.
async function checkSession(orQr) {
  const res = await fetchJson('/api/session');
  if (res.ok && res.body && res.body.user) {
    if (!me) showMeView(res.body);
    return;
  }
  if (orQr && current && current.continuing) {
    current = null;
    showQrView();
  }
}

// A new tab asked for a code while this (leading) tab shows someone
// logged in. Still logged in: the new tab should look again. Not any more
// (the session ended elsewhere): show the code view, which makes a code
// for both.
async function recheckForNewTab() {
  const res = await fetchJson('/api/session');
  if (res.ok && res.body && res.body.user) {
    tell({ type: 'logged-in' });
    return;
  }
  if (me && res.ok) showQrView();
}

async function start() {
  if (!group) joinGroup();
  showLoginError();
  // Every site login is a fresh scan, even in a browser logged in here.
  if (AUTHORIZE) {
    showQrView();
    return;
  }
  // `/api/session` answers 200 for nobody too: no 401 in the console.
  const res = await fetchJson('/api/session');
  if (res.ok && res.body && res.body.user) {
    showMeView(res.body);
    tell({ type: 'logged-in' });
    return;
  }
  // Not logged in, or we can't tell (network): offering a QR code is the useful fallback.
  showQrView();
}

for (const button of [el.notMe, el.newCode, el.refresh]) {
  button.addEventListener('click', function () { renew(false); });
}
if (OTHER_LOGIN_URL) el.otherLoginLink.href = OTHER_LOGIN_URL;
el.logout.addEventListener('click', logout);
avatarFallback(el.ovAvatarImg, el.ovInitial);
avatarFallback(el.meAvatar, el.meInitial);
// Dates are formatted per language, so re-render them on a switch.
I18n.onChange(function () {
  renderMe();
  renderCountdown();
});

// A page restored from the back/forward cache has a dead poll loop; start over.
window.addEventListener('pageshow', function (e) {
  if (e.persisted) start();
});

start();
