#!/usr/bin/env python3
"""Walks the login page through waiting -> scanned -> continue -> logged in in headless
Chromium, playing the phone through the API, and saves a screenshot of each.

Usage: scripts/screenshot_flow.py BASE_URL OUT_DIR [LANG]
Needs: chromium (Debian package) and `pip install websocket-client`.
"""
import base64, json, os, shutil, subprocess, sys, tempfile, time, urllib.request

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
        f"--lang={LANG}", "--window-size=1100,800", "about:blank"],
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
        fresh = json.load(urllib.request.urlopen(urllib.request.Request(BASE + "/api/qr", data=b"{}", method="POST", headers={"Content-Type": "application/json"})))
        page.call("Page.navigate", url=f"{BASE}/l/{fresh['id']}")
        time.sleep(1.5)
        page.shot("5-phone-accounts.png")
    finally:
        chrome.terminate()
        chrome.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
