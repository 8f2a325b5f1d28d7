// Demo phone simulator opened from the QR code at /l/{id}: pick a demo
// account, scan, review the login request (for a site's login, which
// site), then confirm or cancel; below, where that account is logged in,
// each with "Log out".

import * as I18n from './i18n.js';
import { $, avatarFallback, errorText, fetchJson, formatMmSs, showAvatar } from './common.js';

const SCREENS = ['loading', 'noapp', 'accounts', 'confirm', 'done', 'error'];
const CHEVRON =
  '<svg class="chevron" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">' +
  '<path d="M9 6l6 6-6 6" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>';

// Static markup, no user data.
const ICONS = {
  site: '<svg viewBox="0 0 24 24" width="20" height="20"><circle cx="12" cy="12" r="8.5" fill="none" stroke="currentColor" stroke-width="1.8"/>' +
    '<path d="M3.5 12h17M12 3.5c2.4 2.3 3.6 5.1 3.6 8.5s-1.2 6.2-3.6 8.5c-2.4-2.3-3.6-5.1-3.6-8.5s1.2-6.2 3.6-8.5z" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linejoin="round"/></svg>',
  browser: '<svg viewBox="0 0 24 24" width="20" height="20"><rect x="3" y="4" width="18" height="12" rx="2" fill="none" stroke="currentColor" stroke-width="1.8"/>' +
    '<path d="M8 20h8M12 16v4" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/></svg>',
};

const el = {
  banner: $('demo-banner'),
  loadingText: $('loading-text'),
  accounts: $('accounts'),
  accountsEmpty: $('accounts-empty'),
  asAvatar: $('as-avatar'),
  asInitial: $('as-initial'),
  asName: $('as-name'),
  confirmIcon: $('confirm-icon'),
  confirmTitle: $('confirm-title'),
  confirmSub: $('confirm-sub'),
  device: $('req-device'),
  locationRow: $('row-location'),
  location: $('req-location'),
  network: $('req-network'),
  relayWarning: $('relay-warning'),
  relayWarningTitle: $('relay-warning-title'),
  numberMatch: $('number-match'),
  numberChoices: $('number-choices'),
  decision: $('decision'),
  ip: $('req-ip'),
  time: $('req-time'),
  ua: $('req-ua'),
  expires: $('req-expires'),
  confirm: $('btn-confirm'),
  cancel: $('btn-cancel'),
  doneIcon: $('done-icon'),
  doneTitle: $('done-title'),
  doneSub: $('done-sub'),
  error: $('error'),
  errorTitle: $('error-title'),
  errorDetail: $('error-detail'),
  errorAction: $('error-action'),
  errorActions: $('error-actions'),
  fatalTitle: $('fatal-title'),
  fatalDetail: $('fatal-detail'),
  fatalAction: $('fatal-action'),
  fatalActions: $('fatal-actions'),
  openApp: $('open-app'),
  getApp: $('get-app'),
  announce: $('announce'),
  sessions: $('sessions'),
  sessionsTitle: $('sessions-title'),
  sessionsSub: $('sessions-sub'),
  sessionsRefresh: $('sessions-refresh'),
  sessionsLoading: $('sessions-loading'),
  sessionsList: $('sessions-list'),
  sessionsEmpty: $('sessions-empty'),
  sessionsError: $('sessions-error'),
  sessionsErrorTitle: $('sessions-error-title'),
  sessionsErrorDetail: $('sessions-error-detail'),
};

const qrId = codeFromPath();
let account = null; // chosen demo account {token, id, name, avatar}
let claim = null; // scan result {qrId, confirmToken, expiresAt, request, choices}
let sessions = null; // the chosen account's logins, as last listed
let sessionsLoad = 0; // counts list requests, so a stale answer is dropped
let tickTimer = 0;
let errorActionFn = null;

// The server serves this page for any /l/{id}; the id is the last path segment.
function codeFromPath() {
  const parts = location.pathname.split('/').filter(Boolean);
  if (parts.length < 2) return '';
  try {
    return decodeURIComponent(parts[parts.length - 1]);
  } catch (_) {
    return '';
  }
}

function api(method, path, token, payload) {
  // The "phone" authenticates with its bearer token, never with browser cookies.
  return fetchJson(path, { method: method, token: token, json: payload, credentials: 'omit' });
}

// ---------- screens, errors, announcements ----------

function showScreen(name) {
  const hadFocus = document.activeElement;
  SCREENS.forEach(function (s) {
    $('screen-' + s).hidden = s !== name;
  });
  hideError();
  const screen = name && $('screen-' + name);
  const heading = screen && screen.querySelector('h1');
  if (heading) announce(heading.textContent);
  // Keep keyboard users in place when the button they pressed just vanished.
  if (heading && hadFocus && hadFocus !== document.body && !isVisible(hadFocus)) {
    heading.focus({ preventScroll: true });
  }
}

function isVisible(node) {
  return !!(node.offsetWidth || node.offsetHeight || node.getClientRects().length);
}

function announce(text) {
  el.announce.textContent = '';
  // A fresh text node after a tick makes screen readers re-read identical messages.
  setTimeout(function () { el.announce.textContent = text; }, 50);
}

// The text comes from the API's error code; what the user can do next from
// the status: retry what may pass later, or pick another account when this
// one is not allowed.
function describeError(r) {
  const code = r.body && r.body.error;
  let detail = null;
  if (r.status === 0) detail = 'error.network_sub';
  else if (r.status === 404 || r.status === 410) detail = 'error.rescan_sub';
  return {
    title: errorText(r),
    detail: detail,
    retryable: r.status === 0 || r.status >= 500 || r.status === 429,
    back: r.status === 401 || r.status === 403 || code === 'already_claimed',
  };
}

// `onRetry` is used for transient failures; `keepScreen` leaves the current
// screen visible (the error in a box below it) so the user can simply try
// the same button again; otherwise the error is a screen of its own.
function showError(r, opts) {
  opts = opts || {};
  const e = describeError(r);
  const box = opts.keepScreen
    ? { title: el.errorTitle, detail: el.errorDetail, action: el.errorAction, actions: el.errorActions }
    : { title: el.fatalTitle, detail: el.fatalDetail, action: el.fatalAction, actions: el.fatalActions };
  I18n.set(box.title, e.title.key, e.title.vars);
  if (e.detail) I18n.set(box.detail, e.detail);
  else I18n.setPlain(box.detail, '');
  box.detail.hidden = !e.detail;

  errorActionFn = null;
  if (e.retryable && opts.onRetry) {
    I18n.set(box.action, 'phone.retry');
    errorActionFn = opts.onRetry;
  } else if (e.back && account !== null) {
    I18n.set(box.action, 'phone.back');
    errorActionFn = backToAccounts;
  }
  box.actions.hidden = !errorActionFn;
  if (opts.keepScreen) el.error.hidden = false;
  else showScreen('error');
}

function hideError() {
  el.error.hidden = true;
}

// ---------- accounts ----------

async function loadAccounts() {
  showScreen('loading');
  I18n.set(el.loadingText, 'common.loading');
  const r = await api('GET', '/api/demo/users');
  if (r.status === 404) {
    offerApp();
    showScreen('noapp');
    return;
  }
  if (!r.ok || !r.body || !Array.isArray(r.body.users)) {
    showError(r, { onRetry: loadAccounts });
    return;
  }
  el.banner.hidden = false;
  renderAccounts(r.body.users);
  showScreen('accounts');
}

// No demo accounts (production): this is a plain browser, not the app.
// Offer what [pages] configures: open this code in the app, get the app.
function offerApp() {
  const meta = function (name) {
    const m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.content : '';
  };
  const template = meta('qrl-app-link');
  // As PagesConfig::app_link_for: {url} is this page's link, percent-encoded.
  const phoneLink = location.origin + location.pathname;
  if (template) el.openApp.href = template.split('{url}').join(encodeURIComponent(phoneLink));
  el.openApp.hidden = !template;
  const store = meta('qrl-app-store-url');
  if (store) el.getApp.href = store;
  el.getApp.hidden = !store;
}

function renderAccounts(users) {
  el.accounts.replaceChildren();
  el.accountsEmpty.hidden = users.length > 0;
  users.forEach(function (u) {
    const li = document.createElement('li');
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'account';

    const av = document.createElement('span');
    av.className = 'avatar avatar-md';
    const img = document.createElement('img');
    img.alt = '';
    img.width = 48;
    img.height = 48;
    const initial = document.createElement('span');
    initial.className = 'avatar-initial';
    av.append(img, initial);
    avatarFallback(img, initial);
    showAvatar(img, initial, u.avatar, u.name);

    const text = document.createElement('span');
    text.className = 'account-text';
    const name = document.createElement('span');
    name.className = 'account-name';
    name.textContent = u.name || u.id || '?';
    const id = document.createElement('span');
    id.className = 'account-id';
    id.textContent = u.id ? '@' + u.id : '';
    text.append(name, id);

    btn.append(av, text);
    btn.insertAdjacentHTML('beforeend', CHEVRON); // static markup, no user data
    btn.addEventListener('click', function () { scan(u); });
    li.appendChild(btn);
    el.accounts.appendChild(li);
  });
}

function backToAccounts() {
  account = null;
  claim = null;
  stopTick();
  hideSessions();
  el.accounts.querySelectorAll('button').forEach(function (b) { b.disabled = false; });
  showScreen('accounts');
}

// ---------- scan & confirm ----------

async function scan(user) {
  account = user;
  el.accounts.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
  showScreen('loading');
  I18n.set(el.loadingText, 'phone.scanning');
  const r = await api('POST', '/api/mobile/scan', user.token, { qr: qrId });
  if (!r.ok || !r.body || !r.body.confirm_token) {
    showError(r, { onRetry: function () { scan(user); } });
    return;
  }
  claim = {
    qrId: r.body.qr_id || qrId,
    confirmToken: r.body.confirm_token,
    expiresAt: Date.now() + (Number(r.body.expires_in) || 0) * 1000,
    request: r.body.request || {},
    // Number matching: the computer's number among three.
    choices: Array.isArray(r.body.number_choices) ? r.body.number_choices : null,
  };
  renderConfirm();
  showScreen('confirm');
  startTick();
  loadSessions();
}

function renderConfirm() {
  const req = claim.request;
  // A site's login names the site first: that is what the user is agreeing to.
  const client = req.client && req.client.name ? req.client : null;
  el.confirmIcon.classList.toggle('site', !!client);
  if (client && req.user_code) {
    // A TV or CLI (RFC 8628): the code it shows is how the user tells this
    // request from one relayed by someone else's device.
    I18n.set(el.confirmTitle, 'phone.confirm_title_device', { name: client.name });
    const stays = (req.scope || '').split(' ').indexOf('offline_access') >= 0;
    I18n.set(el.confirmSub, stays ? 'phone.confirm_sub_device_offline' : 'phone.confirm_sub_device',
      { code: req.user_code });
  } else if (client) {
    I18n.set(el.confirmTitle, 'phone.confirm_title_client', { name: client.name });
    // offline_access: the site stays logged in (refresh tokens) until the
    // grant is ended from the list below, so say so before the user agrees.
    const offline = (req.scope || '').split(' ').indexOf('offline_access') >= 0;
    I18n.set(el.confirmSub, offline ? 'phone.confirm_sub_client_offline' : 'phone.confirm_sub_client');
  } else {
    I18n.set(el.confirmTitle, 'phone.confirm_title');
  }
  el.confirmSub.hidden = !client;
  showAvatar(el.asAvatar, el.asInitial, account.avatar, account.name);
  I18n.set(el.asName, 'phone.confirm_as', { name: account.name || account.id || '' });
  // The server's reading of the User-Agent, else this page's own guess.
  if (req.device) {
    I18n.setPlain(el.device, req.device);
  } else {
    const d = describeDevice(req.user_agent);
    I18n.set(el.device, d.key, d.vars);
  }
  I18n.setPlain(el.ip, req.ip || '—');
  I18n.setPlain(el.ua, req.user_agent || '—');
  renderRelayFacts(req);
  renderChoices(claim.choices);
  setDecisionBusy(null);
  renderTimes();
}

const NETWORK_TEXT = {
  same_network: 'phone.network_same_network',
  nearby: 'phone.network_nearby',
  different: 'phone.network_different',
};

// Where the browser is and how near its network is to this phone's. A
// different network or place is what a relayed code looks like, so it is
// said first and loudly, and Cancel moves above Confirm.
function renderRelayFacts(req) {
  const place = placeName(req.location);
  el.locationRow.hidden = !place;
  I18n.setPlain(el.location, place || '');
  const network = NETWORK_TEXT[req.proximity];
  if (network) I18n.set(el.network, network);
  else I18n.setPlain(el.network, '—');
  const elsewhere = req.location_mismatch === true;
  const otherNetwork = req.proximity === 'different';
  el.relayWarning.hidden = !(elsewhere || otherNetwork);
  if (elsewhere && place) I18n.set(el.relayWarningTitle, 'phone.relay_warning_location', { place: place });
  else if (otherNetwork) I18n.set(el.relayWarningTitle, 'phone.relay_warning_network');
  el.decision.classList.toggle('cancel-first', !el.relayWarning.hidden);
}

function placeName(location) {
  if (!location) return '';
  return [location.city, location.country].filter(Boolean).join(', ');
}

// With number matching the choices replace Confirm: only someone who sees
// the computer's screen knows which one to tap.
function renderChoices(choices) {
  el.numberMatch.hidden = !choices;
  el.confirm.hidden = !!choices;
  el.numberChoices.replaceChildren();
  (choices || []).forEach(function (n) {
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'btn btn-secondary btn-big number-choice';
    btn.textContent = String(n);
    btn.addEventListener('click', function () { decide('confirm', n); });
    el.numberChoices.append(btn);
  });
}

function renderTimes() {
  if (!claim) return;
  const req = claim.request;
  if (req.created_at) {
    const created = new Date(req.created_at * 1000);
    I18n.set(el.time, 'phone.time_value', {
      ago: relativeTime(created),
      time: created.toLocaleTimeString(I18n.locale()),
    });
  } else {
    I18n.setPlain(el.time, '—');
  }
  const left = Math.max(0, Math.ceil((claim.expiresAt - Date.now()) / 1000));
  I18n.set(el.expires, 'phone.request_expires', { time: formatMmSs(left) });
  el.expires.classList.toggle('soon', left < 30);
  if (left === 0) {
    stopTick();
    claim = null;
    // The server would answer 410 now; say so without a pointless round trip.
    showError({ status: 410, body: { error: 'expired' } });
  }
}

function startTick() {
  stopTick();
  tickTimer = setInterval(renderTimes, 1000);
}

function stopTick() {
  clearInterval(tickTimer);
  tickTimer = 0;
}

function setDecisionBusy(action) {
  el.confirm.disabled = el.cancel.disabled = action !== null;
  el.numberChoices.querySelectorAll('button').forEach(function (b) { b.disabled = action !== null; });
  I18n.set(el.confirm, action === 'confirm' ? 'phone.confirming' : 'phone.confirm');
  I18n.set(el.cancel, action === 'cancel' ? 'phone.cancelling' : 'phone.cancel');
}

async function decide(action, number) {
  if (!claim || el.cancel.disabled) return;
  setDecisionBusy(action);
  hideError();
  const payload = { qr_id: claim.qrId, confirm_token: claim.confirmToken };
  if (number !== undefined) payload.number = number;
  const r = await api('POST', '/api/mobile/' + action, account.token, payload);
  if (r.body && r.body.error === 'wrong_number') {
    // Not the computer's number: the server cancelled the login.
    stopTick();
    showDone(false, true);
    loadSessions();
    return;
  }
  if (r.ok) {
    stopTick();
    const state = (r.body && r.body.state) || (action === 'confirm' ? 'confirmed' : 'cancelled');
    showDone(state === 'confirmed');
    // A confirmed site login is a grant once the site fetches its tokens,
    // and a browser login once the computer continues: list what is there.
    loadSessions();
    return;
  }
  const e = describeError(r);
  if (e.retryable) {
    setDecisionBusy(null);
    showError(r, { keepScreen: true });
    return;
  }
  stopTick();
  claim = null;
  showError(r);
}

// Says what is true: a browser login (for qrlogin or a site) still waits
// for "Continue" on the computer; a device (TV, CLI) is signed in already.
function showDone(confirmed, wrongNumber) {
  const req = claim ? claim.request : {};
  const client = req.client && req.client.name;
  claim = null;
  el.doneIcon.className = 'big-icon ' + (confirmed ? 'ok' : 'cancel');
  if (wrongNumber) {
    I18n.set(el.doneTitle, 'phone.done_refused');
    I18n.set(el.doneSub, 'phone.done_refused_sub');
  } else if (!confirmed) {
    I18n.set(el.doneTitle, 'phone.done_cancelled');
    I18n.set(el.doneSub, 'phone.done_cancelled_sub');
  } else if (client && req.user_code) {
    I18n.set(el.doneTitle, 'phone.done_confirmed_device', { name: client });
    I18n.set(el.doneSub, 'phone.done_device_sub');
  } else {
    if (client) I18n.set(el.doneTitle, 'phone.done_confirmed_client', { name: client });
    else I18n.set(el.doneTitle, 'phone.done_confirmed');
    I18n.set(el.doneSub, 'phone.done_confirmed_sub');
  }
  showScreen('done');
}

// ---------- where the account is logged in ----------

function hideSessions() {
  sessionsLoad += 1; // drop any answer still on its way
  sessions = null;
  el.sessions.hidden = true;
  el.sessionsList.replaceChildren();
}

// Lists the chosen account's logins. `focusIndex`: after a "Log out", the
// position whose button gets the focus (the next entry moves up into it).
async function loadSessions(focusIndex) {
  if (!account) return;
  const load = ++sessionsLoad;
  const user = account;
  I18n.set(el.sessionsSub, 'phone.sessions_sub', { name: user.name || user.id || '' });
  el.sessions.hidden = false;
  el.sessionsRefresh.disabled = true;
  // Keep the old list on screen while refreshing: no jump under the finger.
  el.sessionsLoading.hidden = sessions !== null;
  const r = await api('GET', '/api/mobile/sessions', user.token);
  if (load !== sessionsLoad) return;
  el.sessionsRefresh.disabled = false;
  el.sessionsLoading.hidden = true;
  if (!r.ok || !r.body || !Array.isArray(r.body.sessions)) {
    showSessionsError(r);
    return;
  }
  hideSessionsError();
  sessions = r.body.sessions;
  renderSessions();
  if (focusIndex !== undefined) {
    const buttons = el.sessionsList.querySelectorAll('.session-logout');
    const next = buttons[Math.min(focusIndex, buttons.length - 1)];
    (next || el.sessionsTitle).focus();
  }
}

function showSessionsError(r) {
  const e = describeError(r);
  I18n.set(el.sessionsErrorTitle, e.title.key, e.title.vars);
  if (e.detail === 'error.network_sub') I18n.set(el.sessionsErrorDetail, e.detail);
  el.sessionsErrorDetail.hidden = e.detail !== 'error.network_sub';
  el.sessionsError.hidden = false;
}

function hideSessionsError() {
  el.sessionsError.hidden = true;
}

function sessionName(s) {
  return s.kind === 'client' && s.client ? s.client.name || s.client.id : null;
}

function renderSessions() {
  if (!sessions) return;
  // Re-rendering replaces the buttons: keep the focus on the same one.
  const focused = document.activeElement;
  const focusId = focused && focused.closest && focused.closest('.session') ? focused.closest('.session').dataset.id : null;
  el.sessionsList.replaceChildren();
  el.sessionsEmpty.hidden = sessions.length > 0;
  sessions.forEach(function (s, i) {
    const li = document.createElement('li');
    li.className = 'session';
    li.dataset.id = s.id;
    const titleId = 'session-' + i + '-title';
    li.setAttribute('aria-labelledby', titleId);

    const head = document.createElement('div');
    head.className = 'session-head';
    const icon = document.createElement('span');
    icon.className = 'session-icon';
    icon.setAttribute('aria-hidden', 'true');
    icon.innerHTML = s.kind === 'client' ? ICONS.site : ICONS.browser;
    const text = document.createElement('div');
    text.className = 'session-text';
    const title = document.createElement('h3');
    title.className = 'session-title';
    title.id = titleId;
    const name = sessionName(s);
    if (name) I18n.setPlain(title, name);
    else I18n.set(title, 'phone.session_browser');
    const kind = document.createElement('p');
    kind.className = 'session-kind';
    I18n.set(kind, s.kind === 'client' ? 'phone.session_kind_client' : 'phone.session_kind_browser');
    text.append(title, kind);
    head.append(icon, text);

    const facts = document.createElement('dl');
    facts.className = 'details session-facts';
    const d = describeDevice(s.user_agent);
    addFact(facts, 'phone.device', function (dd) {
      I18n.set(dd, d.key, d.vars);
      if (s.user_agent) dd.title = s.user_agent;
    });
    addFact(facts, 'phone.ip', function (dd) {
      dd.className = 'mono';
      I18n.setPlain(dd, s.ip || '—');
    });
    addFact(facts, 'phone.session_created', function (dd) { dd.append(timeElement(s.created_at)); });
    if (s.last_used_at) {
      addFact(facts, 'phone.session_last_used', function (dd) { dd.append(timeElement(s.last_used_at)); });
    }

    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'btn btn-secondary btn-wide session-logout';
    I18n.set(btn, 'phone.session_logout');
    // The visible "Log out" plus which one, for a list of identical buttons
    // (a language switch re-renders the list, so no i18n binding needed).
    btn.setAttribute('aria-label', I18n.t('phone.session_logout_of', { name: name || I18n.t('phone.session_browser') }));
    btn.addEventListener('click', function () { endSession(s, btn, i); });

    li.append(head, facts, btn);
    el.sessionsList.appendChild(li);
  });
  if (focusId) {
    const again = el.sessionsList.querySelector('.session[data-id="' + CSS.escape(focusId) + '"] .session-logout');
    if (again) again.focus({ preventScroll: true });
  }
}

function addFact(dl, labelKey, fill) {
  const row = document.createElement('div');
  const dt = document.createElement('dt');
  I18n.set(dt, labelKey);
  const dd = document.createElement('dd');
  fill(dd);
  row.append(dt, dd);
  dl.appendChild(row);
}

// "5 minutes ago", with the exact local time on hover and for machines.
function timeElement(unixSeconds) {
  const when = new Date(unixSeconds * 1000);
  const t = document.createElement('time');
  t.dateTime = when.toISOString();
  t.title = when.toLocaleString(I18n.locale(), { dateStyle: 'medium', timeStyle: 'short' });
  t.textContent = relativeTime(when);
  return t;
}

async function endSession(s, btn, index) {
  if (!account || btn.disabled) return;
  const name = sessionName(s) || I18n.t('phone.session_browser');
  btn.disabled = true;
  I18n.set(btn, 'phone.session_logging_out');
  hideSessionsError();
  const r = await api('DELETE', '/api/mobile/sessions/' + encodeURIComponent(s.id), account.token);
  // 404: it had already ended (expired, or logged out elsewhere): the same outcome.
  if (r.ok || r.status === 404) {
    announce(I18n.t('phone.session_ended', { name: name }));
    loadSessions(index);
    return;
  }
  btn.disabled = false;
  I18n.set(btn, 'phone.session_logout');
  showSessionsError(r);
}

// ---------- formatting ----------

function relativeTime(date) {
  const secs = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
  const rtf = new Intl.RelativeTimeFormat(I18n.locale(), { numeric: 'auto' });
  if (secs < 5) return rtf.format(0, 'second');
  if (secs < 60) return rtf.format(-secs, 'second');
  if (secs < 3600) return rtf.format(-Math.floor(secs / 60), 'minute');
  if (secs < 86400) return rtf.format(-Math.floor(secs / 3600), 'hour');
  return rtf.format(-Math.floor(secs / 86400), 'day');
}

// A rough "Chrome on Windows" so the user can recognise their own computer.
// Order matters: many UAs mention several engines (Edge says Chrome and Safari).
const BROWSERS = [
  [/Edg(e|A|iOS)?\//, 'Edge'],
  [/OPR\/|Opera/, 'Opera'],
  [/SamsungBrowser\//, 'Samsung Internet'],
  [/MicroMessenger\//, 'WeChat'],
  [/Firefox\/|FxiOS\//, 'Firefox'],
  [/HeadlessChrome\//, 'Headless Chrome'],
  [/Chrome\/|CriOS\//, 'Chrome'],
  [/Version\/[\d.]+.*Safari\//, 'Safari'],
  [/^curl\//, 'curl'],
];
const SYSTEMS = [
  [/Windows NT|Windows/, 'Windows'],
  [/iPhone/, 'iPhone'],
  [/iPad/, 'iPad'],
  [/Android/, 'Android'],
  [/CrOS/, 'ChromeOS'],
  [/Mac OS X|Macintosh/, 'macOS'],
  [/Linux/, 'Linux'],
];

function describeDevice(ua) {
  ua = ua || '';
  const pick = function (list) {
    const hit = list.find(function (entry) { return entry[0].test(ua); });
    return hit ? hit[1] : null;
  };
  const browser = pick(BROWSERS);
  const os = pick(SYSTEMS);
  if (!browser && !os) return { key: 'device.unknown' };
  return {
    key: 'device.summary',
    vars: {
      browser: browser || { t: 'device.unknown_browser' },
      os: os || { t: 'device.unknown_os' },
    },
  };
}

// ---------- wiring ----------

el.confirm.addEventListener('click', function () { decide('confirm'); });
el.cancel.addEventListener('click', function () { decide('cancel'); });
el.errorAction.addEventListener('click', function () {
  if (errorActionFn) errorActionFn();
});
el.fatalAction.addEventListener('click', function () {
  if (errorActionFn) errorActionFn();
});
el.sessionsRefresh.addEventListener('click', function () { loadSessions(); });
// Back from the computer: what changed there (a login, a logout) shows at once.
document.addEventListener('visibilitychange', function () {
  if (document.visibilityState === 'visible' && !el.sessions.hidden) loadSessions();
});
avatarFallback(el.asAvatar, el.asInitial);
// Relative times and local-time formats depend on the language.
I18n.onChange(renderTimes);
I18n.onChange(renderSessions);

// The server looked the code up before sending this page (without scanning
// it) and says here when it is unknown, expired or finished: explained
// first, before anyone picks an account (src/http/phone_page.rs).
const CHECKED = { not_found: 404, expired: 410, already_finished: 409 };
const checked = document.body.dataset.code;
if (!qrId) {
  showError({ status: 404, body: { error: 'not_found' } });
} else if (Object.hasOwn(CHECKED, checked)) {
  showError({ status: CHECKED[checked], body: { error: checked } });
} else {
  loadAccounts();
}
