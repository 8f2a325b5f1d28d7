// Helpers shared by the login page (login.js) and the phone page (phone.js).

import * as I18n from './i18n.js';

export function $(id) {
  return document.getElementById(id);
}

export function sleep(ms) {
  return new Promise(function (resolve) { setTimeout(resolve, ms); });
}

/**
 * fetch() for the JSON API that never throws. Resolves to {ok, status, body}:
 * status 0 when no answer arrived (network failure, abort), body the parsed
 * JSON or null. `token` goes out as a Bearer token, `json` as a JSON body;
 * any other option is passed to fetch().
 */
export async function fetchJson(path, options) {
  const { method = 'GET', token, json, ...init } = options || {};
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      credentials: 'same-origin',
      cache: 'no-store',
      ...init,
      method: method,
      headers: headers,
      body: json === undefined ? undefined : JSON.stringify(json),
    });
  } catch (_) {
    return { ok: false, status: 0, body: null };
  }
  let body = null;
  try {
    body = await res.json();
  } catch (_) {
    /* empty or non-JSON body (a proxy's error page), or the read was cut */
  }
  return { ok: res.ok, status: res.status, body: body };
}

/**
 * What to tell the user about an API error body `{error, message}`, as an
 * i18n key and vars for I18n.set(): the text comes from the `error` code
 * (`api.<code>`), never from the English `message`; a code this page does
 * not know yet gets a generic text naming it (`fallback`, e.g. "HTTP 502",
 * when the body has no code at all).
 */
export function errorMessage(body, fallback) {
  const code = body && typeof body.error === 'string' ? body.error : '';
  if (code && I18n.has('api.' + code)) return { key: 'api.' + code };
  return { key: 'error.unknown', vars: { code: code || fallback || '?' } };
}

/**
 * errorMessage() for a whole fetchJson() answer: no answer at all is a
 * network failure; a 429 without a readable body is still a rate limit.
 */
export function errorText(r) {
  if (r.status === 0) return { key: 'error.network' };
  if (r.status === 429 && !(r.body && r.body.error)) return { key: 'api.rate_limited' };
  return errorMessage(r.body, 'HTTP ' + r.status);
}

/** Shows `url` in `img`, or the name's initial in `initialEl` when there is none. */
export function showAvatar(img, initialEl, url, name) {
  initialEl.textContent = (Array.from((name || '?').trim())[0] || '?').toUpperCase();
  img.hidden = !url;
  initialEl.hidden = !!url;
  if (url) img.src = url;
  else img.removeAttribute('src');
}

/** Avatar URLs come from the server and may not load; show the initial instead. */
export function avatarFallback(img, initialEl) {
  img.addEventListener('error', function () {
    if (!img.getAttribute('src')) return;
    img.hidden = true;
    initialEl.hidden = false;
  });
}

/** "04:59" for 298.3 seconds (rounded up, so 00:00 means it is over). */
export function formatMmSs(totalSeconds) {
  const s = Math.max(0, Math.ceil(totalSeconds));
  return String(Math.floor(s / 60)).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0');
}
