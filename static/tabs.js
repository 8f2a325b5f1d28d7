// Tabs of one login share one code and one connection.
//
// A browser opens at most six HTTP/1.1 connections per host; seven login
// tabs, each holding its own poll, would starve the seventh (and every
// other request to the site). So one tab, the leader, holds the code and
// its connection, and tells the others what happens over a
// BroadcastChannel; leadership is a Web Lock, which the browser hands to
// the next waiting tab when the leader closes or crashes.
//
// `tabGroup(name, onLead, onMessage)` calls `onLead()` once this tab
// leads (at once when alone, or later, when the leader goes), and
// `onMessage(msg)` for every message another tab of the group posts; it
// returns `{post(msg), alone}`. Without Web Locks or BroadcastChannel
// (old browsers) every tab leads alone, which is how the page worked
// before tabs shared anything.

export function tabGroup(name, onLead, onMessage) {
  const shared = typeof BroadcastChannel === 'function' && !!(navigator.locks && navigator.locks.request);
  if (!shared) {
    setTimeout(onLead, 0);
    return { post: function () {}, alone: true };
  }
  const channel = new BroadcastChannel(name);
  channel.onmessage = function (e) { onMessage(e.data); };
  // Held until the tab goes away: the promise never settles. Should the
  // browser refuse the lock (it may, e.g. in some private modes), the tab
  // leads alone rather than waiting for nothing.
  let led = false;
  navigator.locks.request(name, function () {
    led = true;
    onLead();
    return new Promise(function () {});
  }).catch(function () {
    if (!led) onLead();
  });
  return {
    post: function (msg) { channel.postMessage(msg); },
    alone: false,
  };
}
