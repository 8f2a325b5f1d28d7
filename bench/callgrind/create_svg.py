"""Sends N pairs of `POST /api/qr` + `GET /api/qr/{id}/qr.svg` on one
keep-alive connection, as the benchmark's "QR create + SVG" unit. Used by
per-request.sh."""
import http.client
import json
import sys

port, n = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    conn.request("POST", "/api/qr", body=b"", headers={"Content-Type": "application/json"})
    created = conn.getresponse()
    body = json.loads(created.read())
    assert created.status == 201, (created.status, body)
    conn.request("GET", f"/api/qr/{body['id']}/qr.svg")
    svg = conn.getresponse()
    assert svg.status == 200 and b"<svg" in svg.read(), svg.status
