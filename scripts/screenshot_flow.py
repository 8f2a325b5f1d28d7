#!/usr/bin/env python3
"""Walks the login page through waiting -> scanned -> continue -> logged in in headless
Chromium, playing the phone through the API, then the phone page (accounts, confirm, done,
an error), a cancelled code and a rate-limited one, and saves a screenshot of each.
The last step uses up the QR allowance of 127.0.0.1 for a minute.

Usage: scripts/screenshot_flow.py BASE_URL OUT_DIR [LANG]
Needs: chromium (Debian package) and `pip install websocket-client`.
"""
import base64, json, os, shutil, subprocess, sys, tempfile, time, urllib.error, urllib.request

import websocket  # websocket-client

BASE, OUT = sys.argv[1].rstrip("/"), sys.argv[2]
LANG = sys.argv[3] if len(sys.argv) > 3 else "en-US"
PORT = 9333


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

    def shot(self, name):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path = os.path.join(OUT, name)
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
        page = Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        page.call("Page.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=1100, height=800, deviceScaleFactor=1, mobile=False)
        page.call("Emulation.setLocaleOverride", locale=LANG)
        page.call("Page.navigate", url=BASE + "/")
        src = page.wait_for("(document.querySelector('img[src*=\"/api/qr/\"]')||{}).src")
        qr_id = src.split("/api/qr/")[1].split("/")[0]
        time.sleep(0.5)
        page.shot("1-waiting.png")
        scan = api("/api/mobile/scan", "demo-alice", {"qr": qr_id})
        time.sleep(1.0)
        page.shot("2-scanned.png")
        api("/api/mobile/confirm", "demo-alice", {"qr_id": qr_id, "confirm_token": scan["confirm_token"]})
        page.wait_for("!document.getElementById('continue').hidden")
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
                urllib.request.urlopen(urllib.request.Request(BASE + "/api/qr", data=b"{}", method="POST"))
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
