// Shared zh/en strings and language selection for every qrlogin page.
// Loaded (deferred) before the page script; exposes window.I18n.
//
// Markup conventions:
//   data-i18n="key"                 -> textContent
//   data-i18n-attr="alt:key;aria-label:key" -> attributes
//   data-lang-switch                -> container that receives the 中文/EN buttons
// Dynamic text goes through I18n.set(el, key, vars) so that switching the
// language later re-renders it too. Vars are inserted as plain text only.
(function () {
  'use strict';

  const STRINGS = {
    en: {
      'app.name': 'qrlogin',
      'lang.switch': 'Language',
      'common.loading': 'Loading…',
      'common.noscript': 'This page needs JavaScript.',

      'login.doc_title': 'Log in · qrlogin',
      'login.title': 'Scan to log in',
      'login.subtitle': 'Use the qrlogin app on your phone to scan the code',
      'login.qr_alt': 'Login QR code',
      'login.new_code': 'New code',
      'login.retry': 'Try again',
      'login.loading': 'Generating a QR code…',
      'login.pending': 'Waiting for scan',
      'login.pending_sub': 'Open the qrlogin app and scan the code above',
      'login.scanned': 'Scanned — confirm on your phone',
      'login.scanned_sub': 'Hi {name}, tap “Confirm” in the app to log in',
      'login.confirmed_ask': 'Confirmed on the phone',
      'login.confirmed_ask_sub': 'Log in on this computer as {name}?',
      'login.continue_as': 'Continue as {name}',
      'login.not_me': 'Not you? Get a new code',
      'login.confirmed': 'Login confirmed',
      'login.confirmed_sub': 'Signing you in…',
      'login.cancelled': 'Login cancelled on the phone',
      'login.cancelled_sub': 'Get a new code to try again',
      'login.ticket_failed': 'That login link expired or was already used. Please scan again.',
      'login.expired': 'QR code expired',
      'login.expired_auto': 'Getting a new code…',
      'login.expired_sub': 'Click “New code” to get a fresh one',
      'login.error': 'Couldn’t get a QR code',
      'login.error_sub': 'Check your connection and try again',
      'login.reconnecting': 'Connection lost — reconnecting…',
      'login.expires_in': 'Code expires in {time}',
      'login.expires_soon': 'Code expires in {time} — scan soon',
      'login.scanned_badge': 'Scanned',
      'login.footer': 'Scanning logs you in on this computer only. Your password is never typed here.',

      'me.welcome': 'You’re logged in',
      'me.avatar_alt': 'Avatar',
      'me.id': 'Account ID: {id}',
      'me.expires': 'Session valid until {time}',
      'me.logout': 'Log out',
      'me.logging_out': 'Logging out…',
      'me.logout_failed': 'Couldn’t log out. Please try again.',

      'phone.doc_title': 'Confirm login · qrlogin',
      'phone.demo_banner': 'Demo phone simulator — in production this screen is part of the qrlogin app.',
      'phone.no_app': 'Open this code with the qrlogin app',
      'phone.no_app_sub': 'This link is meant to be opened by the qrlogin app on your phone.',
      'phone.pick_title': 'Choose a demo account',
      'phone.pick_sub': 'Who is holding this phone? The chosen account will scan the code.',
      'phone.pick_empty': 'No demo accounts are configured.',
      'phone.scanning': 'Scanning…',
      'phone.confirm_title': 'Log in on this computer?',
      'phone.confirm_as': 'as {name}',
      'phone.confirm_hint': 'Only confirm if you started this login yourself. If you don’t recognise the device, tap Cancel.',
      'phone.device': 'Device',
      'phone.ip': 'IP address',
      'phone.time': 'Requested',
      'phone.time_value': '{ago} · {time}',
      'phone.raw_ua': 'Browser details',
      'phone.confirm': 'Confirm login',
      'phone.cancel': 'Cancel',
      'phone.confirming': 'Confirming…',
      'phone.cancelling': 'Cancelling…',
      'phone.request_expires': 'This request expires in {time}',
      'phone.done_confirmed': 'Logged in on the computer',
      'phone.done_confirmed_sub': 'You can put your phone away now.',
      'phone.done_cancelled': 'Cancelled',
      'phone.done_cancelled_sub': 'Nobody was logged in. You can close this page.',
      'phone.back': 'Choose another account',
      'phone.retry': 'Try again',
      'phone.invalid_code': 'This link doesn’t contain a login code.',

      'device.summary': '{browser} on {os}',
      'device.unknown': 'Unknown device',
      'device.unknown_browser': 'Unknown browser',
      'device.unknown_os': 'unknown system',

      'error.network': 'Can’t reach the server',
      'error.network_sub': 'Check your connection and try again.',
      'error.401': 'Account not recognised',
      'error.403': 'Not allowed',
      'error.404': 'Login code not found',
      'error.409_claimed': 'Already scanned by another account',
      'error.409': 'This login request is already finished',
      'error.410': 'The QR code has expired',
      'error.410_sub': 'Refresh the code on the computer and scan it again.',
      'error.generic': 'Something went wrong',
    },
    zh: {
      'app.name': 'qrlogin',
      'lang.switch': '语言',
      'common.loading': '加载中…',
      'common.noscript': '此页面需要启用 JavaScript。',

      'login.doc_title': '登录 · qrlogin',
      'login.title': '扫码登录',
      'login.subtitle': '请使用手机上的 qrlogin App 扫描二维码',
      'login.qr_alt': '登录二维码',
      'login.new_code': '刷新二维码',
      'login.retry': '重试',
      'login.loading': '正在生成二维码…',
      'login.pending': '等待扫码',
      'login.pending_sub': '打开 qrlogin App，扫描上方二维码',
      'login.scanned': '扫描成功，请在手机上确认',
      'login.scanned_sub': '{name}，请在 App 中点击“确认登录”',
      'login.confirmed_ask': '手机已确认',
      'login.confirmed_ask_sub': '要在这台电脑上以 {name} 的身份登录吗？',
      'login.continue_as': '以 {name} 的身份继续',
      'login.not_me': '不是你？换一个二维码',
      'login.confirmed': '已确认登录',
      'login.confirmed_sub': '正在登录…',
      'login.cancelled': '已在手机上取消登录',
      'login.cancelled_sub': '请刷新二维码后重新扫描',
      'login.ticket_failed': '登录链接已失效或已被使用，请重新扫码。',
      'login.expired': '二维码已过期',
      'login.expired_auto': '正在获取新的二维码…',
      'login.expired_sub': '请点击“刷新二维码”',
      'login.error': '二维码获取失败',
      'login.error_sub': '请检查网络后重试',
      'login.reconnecting': '连接中断，正在重新连接…',
      'login.expires_in': '二维码 {time} 后过期',
      'login.expires_soon': '二维码 {time} 后过期，请尽快扫描',
      'login.scanned_badge': '已扫描',
      'login.footer': '扫码仅登录当前这台电脑，无需在此输入密码。',

      'me.welcome': '你已登录',
      'me.avatar_alt': '头像',
      'me.id': '账号 ID：{id}',
      'me.expires': '登录有效期至 {time}',
      'me.logout': '退出登录',
      'me.logging_out': '正在退出…',
      'me.logout_failed': '退出失败，请重试。',

      'phone.doc_title': '确认登录 · qrlogin',
      'phone.demo_banner': '演示用手机模拟器 —— 正式环境中此页面位于 qrlogin App 内。',
      'phone.no_app': '请使用 App 扫描此二维码',
      'phone.no_app_sub': '此链接需要用手机上的 qrlogin App 打开。',
      'phone.pick_title': '选择演示账号',
      'phone.pick_sub': '这台手机属于谁？所选账号将扫描二维码。',
      'phone.pick_empty': '没有配置演示账号。',
      'phone.scanning': '正在扫描…',
      'phone.confirm_title': '在这台电脑上登录？',
      'phone.confirm_as': '登录账号：{name}',
      'phone.confirm_hint': '请确认是你本人发起的登录。如果不认识该设备，请点击“取消”。',
      'phone.device': '设备',
      'phone.ip': 'IP 地址',
      'phone.time': '请求时间',
      'phone.time_value': '{ago} · {time}',
      'phone.raw_ua': '浏览器详细信息',
      'phone.confirm': '确认登录',
      'phone.cancel': '取消',
      'phone.confirming': '正在确认…',
      'phone.cancelling': '正在取消…',
      'phone.request_expires': '此请求将在 {time} 后失效',
      'phone.done_confirmed': '电脑端已登录',
      'phone.done_confirmed_sub': '现在可以放下手机了。',
      'phone.done_cancelled': '已取消',
      'phone.done_cancelled_sub': '未登录任何设备，可以关闭此页面。',
      'phone.back': '选择其他账号',
      'phone.retry': '重试',
      'phone.invalid_code': '此链接中没有登录码。',

      'device.summary': '{os} 上的 {browser}',
      'device.unknown': '未知设备',
      'device.unknown_browser': '未知浏览器',
      'device.unknown_os': '未知系统',

      'error.network': '无法连接服务器',
      'error.network_sub': '请检查网络后重试。',
      'error.401': '账号无法识别',
      'error.403': '无权操作',
      'error.404': '找不到该登录码',
      'error.409_claimed': '该二维码已被其他账号扫描',
      'error.409': '该登录请求已结束',
      'error.410': '二维码已过期',
      'error.410_sub': '请在电脑上刷新二维码后重新扫描。',
      'error.generic': '出了点问题',
    },
  };

  const STORAGE_KEY = 'qrlogin.lang';
  const listeners = [];

  function readSaved() {
    // localStorage throws in some privacy modes; the switch still works for the session.
    try {
      return localStorage.getItem(STORAGE_KEY);
    } catch (_) {
      return null;
    }
  }

  function detect() {
    const saved = readSaved();
    if (saved === 'zh' || saved === 'en') return saved;
    return /^zh/i.test(navigator.language || '') ? 'zh' : 'en';
  }

  let lang = detect();

  function t(key, vars) {
    const table = STRINGS[lang];
    let s = key in table ? table[key] : STRINGS.en[key];
    if (s === undefined) return key;
    if (!vars) return s;
    return s.replace(/\{(\w+)\}/g, function (m, name) {
      const v = vars[name];
      if (v === undefined || v === null) return m;
      // {t: 'key'} lets a var itself be a translatable string (e.g. "unknown system").
      return typeof v === 'object' ? t(v.t) : String(v);
    });
  }

  function translateElement(el) {
    if (el.dataset.i18n) {
      const vars = el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : undefined;
      el.textContent = t(el.dataset.i18n, vars);
    }
    if (el.dataset.i18nAttr) {
      el.dataset.i18nAttr.split(';').forEach(function (pair) {
        const i = pair.indexOf(':');
        if (i > 0) el.setAttribute(pair.slice(0, i).trim(), t(pair.slice(i + 1).trim()));
      });
    }
  }

  function apply(root) {
    root = root || document;
    root.querySelectorAll('[data-i18n], [data-i18n-attr]').forEach(translateElement);
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    const titleKey = document.body && document.body.dataset.titleKey;
    if (titleKey) document.title = t(titleKey);
    document.querySelectorAll('[data-lang-choice]').forEach(function (b) {
      b.setAttribute('aria-pressed', String(b.dataset.langChoice === lang));
    });
  }

  // Remembers key + vars on the element so a later language switch re-renders it.
  function set(el, key, vars) {
    el.dataset.i18n = key;
    if (vars) el.dataset.i18nVars = JSON.stringify(vars);
    else delete el.dataset.i18nVars;
    translateElement(el);
  }

  // Plain, untranslated text (server messages, names): drop any i18n binding.
  function setPlain(el, text) {
    delete el.dataset.i18n;
    delete el.dataset.i18nVars;
    el.textContent = text;
  }

  function setLang(next) {
    if (next !== 'zh' && next !== 'en') return;
    lang = next;
    try {
      localStorage.setItem(STORAGE_KEY, next);
    } catch (_) {
      /* see readSaved */
    }
    apply();
    listeners.forEach(function (fn) { fn(lang); });
  }

  function buildSwitches() {
    document.querySelectorAll('[data-lang-switch]').forEach(function (box) {
      box.setAttribute('role', 'group');
      box.dataset.i18nAttr = 'aria-label:lang.switch';
      [['zh', '中文', 'zh-CN'], ['en', 'EN', 'en']].forEach(function (opt) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'lang-btn';
        b.dataset.langChoice = opt[0];
        b.lang = opt[2];
        b.textContent = opt[1];
        b.addEventListener('click', function () { setLang(opt[0]); });
        box.appendChild(b);
      });
    });
  }

  window.I18n = {
    t: t,
    set: set,
    setPlain: setPlain,
    apply: apply,
    setLang: setLang,
    get lang() { return lang; },
    // BCP 47 tag for Intl / toLocale* formatting.
    get locale() { return lang === 'zh' ? 'zh-CN' : 'en'; },
    onChange: function (fn) { listeners.push(fn); },
  };

  buildSwitches();
  apply();
})();
