#!/usr/bin/env python3
"""Walks the login page through waiting -> scanned -> continue -> logged in in headless
Chromium, playing the phone through the API, then the phone page (accounts, confirm, done,
an error), a cancelled code and a rate-limited one, and saves a screenshot of each.
The last step uses up the QR allowance of 127.0.0.1 for a minute.

With --site CLIENT_ID --redirect-uri URI (a client of the server's config whose redirect
URI is on 127.0.0.1: the script plays that site on its port), it walks a site's login
instead: the login page in site mode, the phone's confirm for the site and its list of
logins, the site getting its code (and tokens, with --client-secret), a "Log out" on the
phone, and a login declined on the phone. --dark renders in dark mode; --prefix names the files.

Usage: scripts/screenshot_flow.py BASE_URL OUT_DIR [LANG] [--site ID --redirect-uri URI
       [--client-secret S]] [--dark] [--prefix P]
Needs: chromium (Debian package), `pip install websocket-client`, and for zh-CN the
fonts-wqy-microhei package (or any CJK font).
"""
import argparse, base64, hashlib, http.server, json, os, secrets, shutil, subprocess, tempfile
import threading, time, urllib.error, urllib.parse, urllib.request

import websocket  # websocket-client

ARGS = argparse.ArgumentParser()
ARGS.add_argument("base")
ARGS.add_argument("out")
ARGS.add_argument("lang", nargs="?", default="en-US")
ARGS.add_argument("--site", help="client_id of a configured client: walk a site's login")
ARGS.add_argument("--redirect-uri", help="that client's redirect URI (on 127.0.0.1)")
ARGS.add_argument("--client-secret", help="that client's secret: redeem the code, so a grant is listed")
ARGS.add_argument("--dark", action="store_true", help="prefers-color-scheme: dark")
ARGS.add_argument("--prefix", default="", help="prefix of the file names")
OPTS = ARGS.parse_args()
BASE, OUT, LANG = OPTS.base.rstrip("/"), OPTS.out, OPTS.lang
PORT = 9333
DESKTOP = dict(width=1100, height=800, deviceScaleFactor=1, mobile=False)
PHONE = dict(width=390, height=844, deviceScaleFactor=1, mobile=True)


def api(path, token, body):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


class Page:
    def __init__(self, ws_url):
        self.ws, self.n = websocket.create_connection(ws_url, timeout=30), 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg.get("result", {})

    def eval(self, expr):
        return self.call("Runtime.evaluate", expression=expr, returnByValue=True)["result"].get("value")

    def shot(self, name, full=False):
        # A tab in the background never paints: bring this one to the front.
        urllib.request.urlopen(f"http://127.0.0.1:{PORT}/json/activate/{self.target}").read()
        params = dict(format="png")
        if full:  # the whole page, below the fold too
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip=dict(x=0, y=0, width=size["width"], height=size["height"], scale=1))
        data = self.call("Page.captureScreenshot", **params)["data"]
        path = os.path.join(OUT, OPTS.prefix + name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print("saved", path)

    def wait_for(self, expr, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            v = self.eval(expr)
            if v:
                return v
            time.sleep(0.2)
        raise TimeoutError(expr)


def open_page(url="about:blank"):
    """A new tab, set up like the first one."""
    target = json.load(urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{PORT}/json/new?{urllib.parse.quote(url, safe='')}", method="PUT")))
    page = Page(target["webSocketDebuggerUrl"])
    page.target = target["id"]
    setup(page)
    return page


def setup(page, metrics=DESKTOP):
    page.call("Page.enable")
    page.call("Emulation.setDeviceMetricsOverride", **metrics)
    page.call("Emulation.setLocaleOverride", locale=LANG)
    if OPTS.dark:
        page.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])


class Site:
    """The relying site at --redirect-uri: takes the code (or the error) and shows a
    small page; with --client-secret it redeems the code as a real site would."""

    def __init__(self, redirect_uri):
        self.redirect_uri, self.hits = redirect_uri, []
        url = urllib.parse.urlsplit(redirect_uri)
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(path.query))
                if path.path == url.path:  # not the browser's /favicon.ico
                    site.hits.append(query)
                text = ("Logged in (code received)" if "code" in query
                        else "Login refused: " + query.get("error", "?"))
                body = f"<!doctype html><title>Site</title><h1 id=result>{text}</h1>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((url.hostname, url.port or 80), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def authorize_url(self):
        self.verifier = secrets.token_urlsafe(32)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": OPTS.site, "redirect_uri": self.redirect_uri,
            "scope": "openid profile", "state": secrets.token_urlsafe(8),
            "code_challenge": challenge, "code_challenge_method": "S256"})
        return f"{BASE}/oauth/authorize?{query}"

    def redeem(self, code):
        form = urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier, "client_id": OPTS.site,
            "client_secret": OPTS.client_secret}).encode()
        with urllib.request.urlopen(urllib.request.Request(BASE + "/oauth/token", data=form)) as r:
            return json.load(r)


def qr_id_of(page):
    src = page.wait_for("(document.querySelector('img[src*=\"/api/qr/\"]')||{}).src")
    return src.split("/api/qr/")[1].split("/")[0]


def site_flow(browser):
    """A site's login: the site's name on both screens, its code, the phone's list of
    logins with a "Log out", then a login the phone declines."""
    site = Site(OPTS.redirect_uri)
    try:
        browser.call("Page.navigate", url=site.authorize_url())
        qr_id = qr_id_of(browser)
        browser.wait_for("document.getElementById('qr-title').dataset.i18n === 'login.title_client'")
        time.sleep(0.5)
        browser.shot("s1-site-waiting.png")

        phone = open_page()
        phone.call("Emulation.setDeviceMetricsOverride", **PHONE)
        phone.call("Page.navigate", url=f"{BASE}/l/{qr_id}")
        phone.wait_for("!document.getElementById('screen-accounts').hidden")
        phone.eval("document.querySelector('#accounts button').click()")
        phone.wait_for("!document.getElementById('screen-confirm').hidden")
        phone.wait_for("document.getElementById('sessions-loading').hidden && !document.getElementById('sessions').hidden")
        time.sleep(0.5)
        phone.shot("s2-phone-site-confirm.png", full=True)
        phone.eval("document.getElementById('btn-confirm').click()")
        phone.wait_for("!document.getElementById('screen-done').hidden")

        browser.wait_for("!document.getElementById('continue-btn').hidden")
        time.sleep(0.3)
        browser.shot("s3-site-continue.png")
        browser.eval("document.getElementById('continue-btn').click()")
        for _ in range(100):
            if site.hits:
                break
            time.sleep(0.1)
        hit = site.hits[-1]
        assert "code" in hit, hit
        if OPTS.client_secret:
            site.redeem(hit["code"])

        phone.eval("document.getElementById('sessions-refresh').click()")
        phone.wait_for("!document.getElementById('sessions-refresh').disabled")
        time.sleep(0.5)
        phone.shot("s4-phone-done-sessions.png", full=True)
        before = phone.eval("document.querySelectorAll('#sessions-list .session').length")
        phone.eval("document.querySelector('#sessions-list .session-logout').click()")
        phone.wait_for(f"document.querySelectorAll('#sessions-list .session').length < {before}"
                       " || !document.getElementById('sessions-empty').hidden")
        time.sleep(0.5)
        phone.shot("s5-phone-session-ended.png", full=True)

        # Declined on the phone: the page says so, then sends the browser back to the site.
        browser.call("Page.navigate", url=site.authorize_url())
        qr_id = qr_id_of(browser)
        phone.call("Page.navigate", url=f"{BASE}/l/{qr_id}")
        phone.wait_for("!document.getElementById('screen-accounts').hidden")
        phone.eval("document.querySelector('#accounts button').click()")
        phone.wait_for("!document.getElementById('screen-confirm').hidden")
        phone.eval("document.getElementById('btn-cancel').click()")
        browser.wait_for("document.getElementById('qr-box').dataset.state === 'cancelled'")
        browser.shot("s6-site-declined.png")
        phone.wait_for("!document.getElementById('screen-done').hidden")
        time.sleep(0.3)
        phone.shot("s7-phone-declined.png")
        for _ in range(50):
            if site.hits[-1].get("error"):
                break
            time.sleep(0.1)
        assert site.hits[-1].get("error") == "access_denied", site.hits[-1]
        print("site got", site.hits[-1])
    finally:
        site.server.shutdown()


def main():
    os.makedirs(OUT, exist_ok=True)
    profile = tempfile.mkdtemp()
    chrome = subprocess.Popen([
        shutil.which("chromium") or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", f"--remote-debugging-port={PORT}",
        # --accept-lang sets navigator.language (what the pages follow); headless ignores --lang.
        f"--lang={LANG}", f"--accept-lang={LANG}", "--window-size=1100,800", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{PORT}/json"))
                break
            except OSError:
                time.sleep(0.1)
        first = next(t for t in targets if t["type"] == "page")
        page = Page(first["webSocketDebuggerUrl"])
        page.target = first["id"]
        setup(page)
        if OPTS.site:
            site_flow(page)
            return
        page.call("Page.navigate", url=BASE + "/")
        src = page.wait_for("(document.querySelector('img[src*=\"/api/qr/\"]')||{}).src")
        qr_id = src.split("/api/qr/")[1].split("/")[0]
        time.sleep(0.5)
        page.shot("1-waiting.png")
        scan = api("/api/mobile/scan", "demo-alice", {"qr": qr_id})
        time.sleep(1.0)
        page.shot("2-scanned.png")
        api("/api/mobile/confirm", "demo-alice", {"qr_id": qr_id, "confirm_token": scan["confirm_token"]})
        page.wait_for("!document.getElementById('continue-btn').hidden")
        time.sleep(0.3)
        page.shot("3-continue-as.png")
        page.eval("document.getElementById('continue-btn').click()")
        page.wait_for("location.search === '' && document.body.innerText.includes('alice')", 15)
        time.sleep(0.5)
        page.shot("4-logged-in.png")
        # The phone page, at phone size, for a fresh code.
        page.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
        # Created as a desktop Chrome would, so the confirm screen names a device.
        desktop = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
        fresh = json.load(urllib.request.urlopen(urllib.request.Request(BASE + "/api/qr", data=b"{}", method="POST", headers={"Content-Type": "application/json", "User-Agent": desktop})))
        page.call("Page.navigate", url=f"{BASE}/l/{fresh['id']}")
        page.wait_for("!document.getElementById('screen-accounts').hidden")
        time.sleep(0.5)
        page.shot("5-phone-accounts.png")
        page.eval("document.querySelector('#accounts button').click()")
        page.wait_for("!document.getElementById('screen-confirm').hidden")
        time.sleep(0.5)
        page.shot("6-phone-confirm.png")
        page.eval("document.getElementById('btn-confirm').click()")
        page.wait_for("!document.getElementById('screen-done').hidden")
        time.sleep(0.5)
        page.shot("7-phone-done.png")
        # The same code once more, as Bob: the server refuses (already_finished).
        page.call("Page.navigate", url=f"{BASE}/l/{fresh['id']}")
        page.wait_for("!document.getElementById('screen-accounts').hidden")
        page.eval("document.querySelectorAll('#accounts button')[1].click()")
        page.wait_for("!document.getElementById('error').hidden")
        time.sleep(0.5)
        page.shot("8-phone-error.png")
        # Back on the computer: log out, then the phone cancels the next code.
        page.call("Emulation.setDeviceMetricsOverride", width=1100, height=800, deviceScaleFactor=1, mobile=False)
        page.call("Page.navigate", url=BASE + "/")
        page.wait_for("!document.getElementById('view-me').hidden")
        page.eval("document.getElementById('logout').click()")
        src = page.wait_for("(document.querySelector('img[src*=\"/api/qr/\"]')||{}).src")
        qr_id = src.split("/api/qr/")[1].split("/")[0]
        scan = api("/api/mobile/scan", "demo-bob", {"qr": qr_id})
        api("/api/mobile/cancel", "demo-bob", {"qr_id": qr_id, "confirm_token": scan["confirm_token"]})
        page.wait_for("document.getElementById('qr-box').dataset.state === 'cancelled'")
        time.sleep(0.5)
        page.shot("9-cancelled.png")
        # Use up this address's QR allowance: the page says so (rate_limited) and retries.
        for _ in range(200):
            try:
                urllib.request.urlopen(urllib.request.Request(BASE + "/api/qr", data=b"{}", method="POST",
                                                              headers={"Content-Type": "application/json"}))
            except urllib.error.HTTPError as e:
                if e.code == 429:
                    break
                raise
        page.call("Page.reload")
        page.wait_for("document.getElementById('qr-box').dataset.state === 'error'")
        time.sleep(0.5)
        page.shot("10-rate-limited.png")
    finally:
        chrome.terminate()
        chrome.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
