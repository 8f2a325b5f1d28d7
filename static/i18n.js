// The zh/en strings of every qrlogin page and the machinery that applies
// them (an ES module). Importing it translates the page and fills the
// language switches.
//
// Markup conventions:
//   data-i18n="key"                 -> textContent
//   data-i18n-attr="alt:key;aria-label:key" -> attributes
//   data-lang-switch                -> container that receives the 中文/EN buttons
//   <body data-title-key="key">     -> document.title (data-title-vars: its JSON vars)
// Dynamic text goes through set(el, key, vars) so that switching the
// language later re-renders it too. Vars are inserted as plain text only.
//
// One entry per line, and both tables hold the same keys:
// tests/api/i18n.rs reads this file to check that.

export const STRINGS = {
  en: {
    'lang.switch': 'Language',
    'common.loading': 'Loading…',
    'common.noscript': 'This page needs JavaScript.',

    'login.doc_title': 'Log in · qrlogin',
    'login.doc_title_client': 'Log in to {name} · qrlogin',
    'login.title': 'Scan to log in',
    'login.subtitle': 'Use the qrlogin app on your phone to scan the code',
    'login.title_client': 'Log in to {name}',
    'login.subtitle_client': 'Scan with the qrlogin app on your phone to log in to {name}',
    'login.returning': 'Taking you back to {name}…',
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
    'login.match_number': 'On your phone, tap this number',
    'login.refused': 'Login refused: the wrong number was tapped on the phone',
    'login.refused_sub': 'If that wasn’t you, someone may have been sent your code. Get a new code to try again.',
    'login.expired': 'QR code expired',
    'login.expired_auto': 'Getting a new code…',
    'login.expired_sub': 'Click “New code” to get a fresh one',
    'login.error': 'Couldn’t get a QR code',
    'login.error_sub': 'Check your connection and try again',
    'login.reconnecting': 'Connection lost — reconnecting…',
    'login.code_replaced': 'The server lost the last code while the connection was down: here is a new one.',
    'login.scan_lost': 'Your scan was lost while the connection was down: please scan the new code.',
    'login.continued_elsewhere': 'Continued in another tab',
    'login.continued_elsewhere_sub': 'This login is finishing in another tab of this browser.',
    'login.expires_in': 'Code expires in {time}',
    'login.expires_soon': 'Code expires in {time} — scan soon',
    'login.continue_within': 'You can continue for {time}',
    'login.continue_failed': 'Couldn’t finish the login',
    'login.cant_scan': 'Can’t scan the code?',
    'login.cant_scan_help': 'Open this link on your phone, or paste it into the qrlogin app:',
    'login.open_app': 'Open in the qrlogin app',
    'login.on_phone': 'On this phone? Open the code in the app instead of scanning it.',
    'login.other_method': 'Log in another way',
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
    'phone.demo_label': 'Demo',
    'phone.no_app': 'Open this code with the qrlogin app',
    'phone.no_app_sub': 'This link is meant to be opened by the qrlogin app on your phone.',
    'phone.open_app': 'Open in the qrlogin app',
    'phone.get_app': 'Get the qrlogin app',
    'phone.pick_title': 'Choose a demo account',
    'phone.pick_sub': 'Who is holding this phone? The chosen account will scan the code.',
    'phone.pick_empty': 'No demo accounts are configured.',
    'phone.scanning': 'Scanning…',
    'phone.confirm_title': 'Log in on this computer?',
    'phone.confirm_title_client': 'Log in to {name}?',
    'phone.confirm_title_device': 'Sign in on {name}?',
    'phone.confirm_sub_device': 'A device asks to sign in with your qrlogin account. Only confirm if it is in front of you and shows the code {code}.',
    'phone.confirm_sub_device_offline': 'A device asks to sign in with your qrlogin account and to stay signed in until you sign it out here. Only confirm if it is in front of you and shows the code {code}.',
    'phone.confirm_sub_client': 'This site asks to log you in with your qrlogin account, in the browser described below.',
    'phone.confirm_sub_client_offline': 'This site asks to log you in with your qrlogin account and to stay logged in until you log it out here, in the browser described below.',
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
    'phone.done_confirmed': 'Confirmed — finish on the computer',
    'phone.done_confirmed_client': 'Confirmed — finish logging in to {name} on the computer',
    'phone.done_confirmed_sub': 'Click “Continue” on the computer to log in there. Then you can put your phone away.',
    'phone.done_confirmed_device': 'Signed in on {name}',
    'phone.done_device_sub': 'You can put your phone away now.',
    'phone.done_cancelled': 'Cancelled',
    'phone.done_cancelled_sub': 'Nobody was logged in. You can close this page.',
    'phone.relay_warning_network': 'This request comes from a different network than your phone',
    'phone.relay_warning_location': 'This request comes from another place: {place}',
    'phone.relay_warning_sub': 'If someone sent you this code, or you are not at that computer, tap Cancel: confirming would log them in as you.',
    'phone.location': 'Location',
    'phone.network': 'Network',
    'phone.network_same_network': 'Same network as this phone',
    'phone.network_nearby': 'Near this phone’s network',
    'phone.network_different': 'A different network',
    'phone.number_title': 'Tap the number shown on the computer',
    'phone.done_refused': 'Login refused',
    'phone.done_refused_sub': 'That was not the number on the computer, so nobody was logged in. If you didn’t start this login, someone may have sent you their code.',
    'phone.back': 'Choose another account',
    'phone.retry': 'Try again',
    'phone.no_code_title': 'No login code in this link',
    'phone.no_code': 'Open the login page on your computer and scan its QR code with the qrlogin app.',

    'phone.sessions_title': 'Where you’re logged in',
    'phone.sessions_sub': 'Sites and browsers where {name} is logged in. Log out of anything you don’t recognise.',
    'phone.sessions_refresh': 'Refresh',
    'phone.sessions_loading': 'Loading your logins…',
    'phone.sessions_empty': 'You’re not logged in anywhere right now.',
    'phone.session_browser': 'qrlogin',
    'phone.session_kind_browser': 'Browser login to this service',
    'phone.session_kind_client': 'Site using your qrlogin account',
    'phone.session_created': 'Logged in',
    'phone.session_last_used': 'Last used',
    'phone.session_logout': 'Log out',
    'phone.session_logout_of': 'Log out of {name}',
    'phone.session_logging_out': 'Logging out…',
    'phone.session_ended': 'Logged out of {name}',

    'device.summary': '{browser} on {os}',
    'device.unknown': 'Unknown device',
    'device.unknown_browser': 'Unknown browser',
    'device.unknown_os': 'unknown system',

    'error.network': 'Can’t reach the server',
    'error.network_sub': 'Check your connection and try again.',
    'error.rescan_sub': 'Refresh the code on the computer and scan it again.',
    'error.unknown': 'Something went wrong ({code})',

    // The API's error codes (the `error` of every error body), by name.
    'api.invalid_json': 'The server could not read the request',
    'api.invalid_authorization': 'This sign-in request from the site is not valid',
    'api.invalid_request': 'The request was malformed',
    'api.invalid_qr': 'This is not a login code of this server',
    'api.payload_too_large': 'The request was too large',
    'api.unsupported_media_type': 'The request had the wrong format',
    'api.unauthorized': 'Account not recognised',
    'api.not_found': 'Login code not found',
    'api.cross_site': 'Refused: the request came from another site',
    'api.method_not_allowed': 'The server does not allow this request',
    'api.invalid_ticket': 'That login link expired or was already used. Please scan again.',
    'api.expired': 'The QR code has expired',
    'api.wrong_confirm_token': 'Not allowed',
    'api.already_claimed': 'Already scanned by another account',
    'api.already_finished': 'This login request is already finished',
    'api.not_scanned': 'This code has not been scanned yet',
    'api.not_confirmed': 'This login has not been confirmed on the phone yet',
    'api.rate_limited': 'Too many attempts. Wait a moment and try again.',
    'api.store_unavailable': 'The server is briefly unavailable. Try again shortly.',
    'api.over_capacity': 'The server is busy. Try again shortly.',
    'api.contention': 'The server is busy with this code. Try again.',
    'api.busy': 'The server is busy. Try again shortly.',
    'api.foreign_origin': 'Refused: this page is not allowed to start a login here',
    'api.body_timeout': 'The request took too long to arrive. Try again.',
    'api.headers_too_large': 'The request was too large.',
    'api.uri_too_long': 'The address was too long.',
    'api.too_many_connections': 'Too many connections from your network. Try again shortly.',
    'api.too_many_pollers': 'This code is open in too many tabs. Close some and try again.',
    'api.number_required': 'Tap the number shown on the computer',
    'api.wrong_number': 'That was not the number on the computer; the login was cancelled',
    'api.internal': 'The server ran into an error',
  },
  zh: {
    'lang.switch': '语言',
    'common.loading': '加载中…',
    'common.noscript': '此页面需要启用 JavaScript。',

    'login.doc_title': '登录 · qrlogin',
    'login.doc_title_client': '登录 {name} · qrlogin',
    'login.title': '扫码登录',
    'login.subtitle': '请使用手机上的 qrlogin App 扫描二维码',
    'login.title_client': '登录 {name}',
    'login.subtitle_client': '请使用手机上的 qrlogin App 扫码登录 {name}',
    'login.returning': '正在返回 {name}…',
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
    'login.match_number': '请在手机上点选这个数字',
    'login.refused': '登录被拒绝：手机上点选的数字不对',
    'login.refused_sub': '如果不是你本人操作，可能有人把你的二维码发给了别人。请刷新二维码后重试。',
    'login.expired': '二维码已过期',
    'login.expired_auto': '正在获取新的二维码…',
    'login.expired_sub': '请点击“刷新二维码”',
    'login.error': '二维码获取失败',
    'login.error_sub': '请检查网络后重试',
    'login.reconnecting': '连接中断，正在重新连接…',
    'login.code_replaced': '连接中断期间服务器丢失了上一个二维码，已换成新的二维码。',
    'login.scan_lost': '连接中断期间扫码记录已丢失，请重新扫描新的二维码。',
    'login.continued_elsewhere': '已在其他标签页继续',
    'login.continued_elsewhere_sub': '此次登录正在本浏览器的另一个标签页中完成。',
    'login.expires_in': '二维码 {time} 后过期',
    'login.expires_soon': '二维码 {time} 后过期，请尽快扫描',
    'login.continue_within': '请在 {time} 内继续',
    'login.continue_failed': '登录未能完成',
    'login.cant_scan': '无法扫码？',
    'login.cant_scan_help': '在手机上打开此链接，或将其粘贴到 qrlogin App 中：',
    'login.open_app': '在 qrlogin App 中打开',
    'login.on_phone': '正在用这台手机浏览？无需扫码，直接在 App 中打开即可。',
    'login.other_method': '使用其他方式登录',
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
    'phone.demo_label': '演示',
    'phone.no_app': '请使用 App 扫描此二维码',
    'phone.no_app_sub': '此链接需要用手机上的 qrlogin App 打开。',
    'phone.open_app': '在 qrlogin App 中打开',
    'phone.get_app': '下载 qrlogin App',
    'phone.pick_title': '选择演示账号',
    'phone.pick_sub': '这台手机属于谁？所选账号将扫描二维码。',
    'phone.pick_empty': '没有配置演示账号。',
    'phone.scanning': '正在扫描…',
    'phone.confirm_title': '在这台电脑上登录？',
    'phone.confirm_title_client': '登录 {name}？',
    'phone.confirm_title_device': '在 {name} 上登录？',
    'phone.confirm_sub_device': '一台设备请求用你的 qrlogin 账号登录。仅当该设备就在你面前且显示代码 {code} 时才确认。',
    'phone.confirm_sub_device_offline': '一台设备请求用你的 qrlogin 账号登录，并保持登录直到你在此处退出。仅当该设备就在你面前且显示代码 {code} 时才确认。',
    'phone.confirm_sub_client': '该网站请求用你的 qrlogin 账号登录，发起请求的浏览器信息如下。',
    'phone.confirm_sub_client_offline': '该网站请求用你的 qrlogin 账号登录，并保持登录直到你在此处退出。发起请求的浏览器信息如下。',
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
    'phone.done_confirmed': '已确认，请在电脑上完成登录',
    'phone.done_confirmed_client': '已确认，请在电脑上完成登录 {name}',
    'phone.done_confirmed_sub': '请在电脑上点击“继续”完成登录，之后即可放下手机。',
    'phone.done_confirmed_device': '已在 {name} 上登录',
    'phone.done_device_sub': '现在可以放下手机了。',
    'phone.done_cancelled': '已取消',
    'phone.done_cancelled_sub': '未登录任何设备，可以关闭此页面。',
    'phone.relay_warning_network': '该请求来自与你手机不同的网络',
    'phone.relay_warning_location': '该请求来自其他地点：{place}',
    'phone.relay_warning_sub': '如果这个二维码是别人发给你的，或者你不在那台电脑前，请点“取消”：确认会让对方以你的身份登录。',
    'phone.location': '位置',
    'phone.network': '网络',
    'phone.network_same_network': '与本机同一网络',
    'phone.network_nearby': '与本机网络相近',
    'phone.network_different': '不同的网络',
    'phone.number_title': '请点选电脑上显示的数字',
    'phone.done_refused': '登录已拒绝',
    'phone.done_refused_sub': '这不是电脑上显示的数字，因此没有登录任何人。如果不是你发起的登录，可能有人把他的二维码发给了你。',
    'phone.back': '选择其他账号',
    'phone.retry': '重试',
    'phone.no_code_title': '此链接中没有登录码',
    'phone.no_code': '请在电脑上打开登录页，用 qrlogin App 扫描页面上的二维码。',

    'phone.sessions_title': '你在哪些地方已登录',
    'phone.sessions_sub': '{name} 已登录的网站和浏览器。如有不认识的，请退出登录。',
    'phone.sessions_refresh': '刷新',
    'phone.sessions_loading': '正在加载登录记录…',
    'phone.sessions_empty': '你目前没有在任何地方登录。',
    'phone.session_browser': 'qrlogin',
    'phone.session_kind_browser': '在浏览器中登录本服务',
    'phone.session_kind_client': '使用你的 qrlogin 账号的网站',
    'phone.session_created': '登录时间',
    'phone.session_last_used': '最近使用',
    'phone.session_logout': '退出登录',
    'phone.session_logout_of': '退出 {name}',
    'phone.session_logging_out': '正在退出…',
    'phone.session_ended': '已退出 {name}',

    'device.summary': '{os} 上的 {browser}',
    'device.unknown': '未知设备',
    'device.unknown_browser': '未知浏览器',
    'device.unknown_os': '未知系统',

    'error.network': '无法连接服务器',
    'error.network_sub': '请检查网络后重试。',
    'error.rescan_sub': '请在电脑上刷新二维码后重新扫描。',
    'error.unknown': '出了点问题（{code}）',

    'api.invalid_json': '服务器无法读取该请求',
    'api.invalid_authorization': '该网站的登录请求无效',
    'api.invalid_request': '请求格式不正确',
    'api.invalid_qr': '这不是本服务器的登录二维码',
    'api.payload_too_large': '请求内容过大',
    'api.unsupported_media_type': '请求格式不受支持',
    'api.unauthorized': '账号无法识别',
    'api.not_found': '找不到该登录码',
    'api.cross_site': '已拒绝：请求来自其他网站',
    'api.method_not_allowed': '服务器不允许此请求',
    'api.invalid_ticket': '登录链接已失效或已被使用，请重新扫码。',
    'api.expired': '二维码已过期',
    'api.wrong_confirm_token': '无权操作',
    'api.already_claimed': '该二维码已被其他账号扫描',
    'api.already_finished': '该登录请求已结束',
    'api.not_scanned': '该二维码尚未被扫描',
    'api.not_confirmed': '该登录尚未在手机上确认',
    'api.rate_limited': '操作过于频繁，请稍后再试。',
    'api.store_unavailable': '服务器暂时不可用，请稍后再试。',
    'api.over_capacity': '服务器繁忙，请稍后再试。',
    'api.contention': '服务器正在处理此二维码，请重试。',
    'api.busy': '服务器繁忙，请稍后再试。',
    'api.foreign_origin': '已拒绝：此页面无权在这里发起登录',
    'api.body_timeout': '请求传输超时，请重试。',
    'api.headers_too_large': '请求过大。',
    'api.uri_too_long': '地址过长。',
    'api.too_many_connections': '来自你所在网络的连接过多，请稍后再试。',
    'api.too_many_pollers': '此二维码在过多的标签页中打开，请关闭一些后再试。',
    'api.number_required': '请点选电脑上显示的数字',
    'api.wrong_number': '这不是电脑上显示的数字，登录已取消',
    'api.internal': '服务器出错了',
  },
};

const STORAGE_KEY = 'qrlogin.lang';
// The switch's choice, also sent to the server so it paints the pages in
// that language before this script runs (src/http/language.rs).
const COOKIE = 'qrl_lang';
const listeners = [];

function readSaved() {
  const m = document.cookie.match(/(?:^|;\s*)qrl_lang=(zh|en)(?:;|$)/);
  if (m) return m[1];
  // localStorage throws in some privacy modes; the switch still works for the session.
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch (_) {
    return null;
  }
}

function save(next) {
  document.cookie = COOKIE + '=' + next + '; path=/; max-age=31536000; SameSite=Lax';
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch (_) {
    /* see readSaved */
  }
}

function detect() {
  const saved = readSaved();
  if (saved === 'zh' || saved === 'en') {
    // A choice saved before the cookie existed: tell the server too.
    save(saved);
    return saved;
  }
  // No choice made: the server chose from Accept-Language and said so in
  // <html lang>; a page it did not paint falls back on the browser's language.
  const painted = document.documentElement.lang || navigator.language || '';
  return /^zh/i.test(painted) ? 'zh' : 'en';
}

/** The page's language, 'zh' or 'en'. */
export let lang = detect();

/** BCP 47 tag of the language, for Intl / toLocale* formatting. */
export function locale() {
  return lang === 'zh' ? 'zh-CN' : 'en';
}

/** Whether `key` has a string (keys built at run time, e.g. from an API error code). */
export function has(key) {
  return Object.hasOwn(STRINGS.en, key);
}

export function t(key, vars) {
  const table = STRINGS[lang];
  const s = Object.hasOwn(table, key) ? table[key] : STRINGS.en[key];
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

/** Translates every marked element below `root` (default: the document). */
export function apply(root) {
  root = root || document;
  root.querySelectorAll('[data-i18n], [data-i18n-attr]').forEach(translateElement);
  document.documentElement.lang = locale();
  const titleKey = document.body && document.body.dataset.titleKey;
  const titleVars = titleKey && document.body.dataset.titleVars;
  if (titleKey) document.title = t(titleKey, titleVars ? JSON.parse(titleVars) : undefined);
  document.querySelectorAll('[data-lang-choice]').forEach(function (b) {
    b.setAttribute('aria-pressed', String(b.dataset.langChoice === lang));
  });
}

/** Shows `key` in `el`, remembered on the element so a later language switch re-renders it. */
export function set(el, key, vars) {
  el.dataset.i18n = key;
  if (vars) el.dataset.i18nVars = JSON.stringify(vars);
  else delete el.dataset.i18nVars;
  translateElement(el);
}

/** Sets the document's title to `key`, kept across language switches like set(). */
export function setTitle(key, vars) {
  document.body.dataset.titleKey = key;
  if (vars) document.body.dataset.titleVars = JSON.stringify(vars);
  else delete document.body.dataset.titleVars;
  document.title = t(key, vars);
}

/** Plain, untranslated text (names, IPs): drops any i18n binding. */
export function setPlain(el, text) {
  delete el.dataset.i18n;
  delete el.dataset.i18nVars;
  el.textContent = text;
}

export function setLang(next) {
  if (next !== 'zh' && next !== 'en') return;
  lang = next;
  save(next);
  apply();
  listeners.forEach(function (fn) { fn(lang); });
}

/** Calls `fn` after every language switch (for text formatted per language, like dates). */
export function onChange(fn) {
  listeners.push(fn);
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

// Module scripts run after the document is parsed, so the markup is all there.
buildSwitches();
apply();
