"""Creates one QR code and sends N short polls (`GET /api/qr/{id}/status?wait=0`
with its poll token) on one keep-alive connection. Used by metrics-cost.sh."""
import http.client
import json
import sys

port, n = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port)
conn.request("POST", "/api/qr", body=b"{}", headers={"Content-Type": "application/json"})
created = conn.getresponse()
body = json.loads(created.read())
assert created.status == 201 or created.status == 200, (created.status, body)
headers = {"Authorization": "Bearer " + body["poll_token"]}
for _ in range(n):
    conn.request("GET", f"/api/qr/{body['id']}/status?wait=0", headers=headers)
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 200, answer.status
