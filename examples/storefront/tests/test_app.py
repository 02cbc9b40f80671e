import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from storefront.app import app


@pytest.fixture()
def client():
    return app.test_client()


def test_health(client):
    resp = client.get("/healthz")
    assert (resp.status_code, resp.get_json()) == (200, {"status": "ok"})


def test_products_list_marks_stock(client):
    resp = client.get("/products")
    assert resp.status_code == 200
    assert {p["sku"]: p["in_stock"] for p in resp.get_json()} == {"sku-1001": True, "sku-1002": False,
                                                                  "sku-1003": True}


def test_unknown_product_is_404(client):
    resp = client.get("/products/nope")
    assert resp.status_code == 404
    assert "nope" in resp.get_json()["error"]


def test_post_is_rejected(client):
    assert client.post("/products").status_code == 405


def test_cart_prices_a_line(client):
    resp = client.post("/cart", json={"sku": "sku-1001", "qty": 2})
    assert (resp.status_code, resp.get_json()) == (200, {"sku": "sku-1001", "qty": 2, "line_total": 118000})


def test_cart_refuses(client):
    cases = [({"sku": "sku-1002", "qty": 1}, 409), ({"sku": "nope"}, 404), ({"qty": 1}, 400),
             ({"sku": "sku-1001", "qty": 0}, 400), (None, 400)]
    assert [client.post("/cart", json=body).status_code for body, _ in cases] == [status for _, status in cases]


def test_checkout_totals_the_order(client):
    resp = client.post("/checkout", json={"items": [{"sku": "sku-1001", "qty": 1}, {"sku": "sku-1003", "qty": 3}]})
    assert resp.status_code == 200
    assert resp.get_json()["total"] == 59000 + 3 * 12000


def test_checkout_refuses_sold_out_and_empty(client):
    assert client.post("/checkout", json={"items": [{"sku": "sku-1002", "qty": 1}]}).status_code == 409
    assert client.post("/checkout", json={"items": []}).status_code == 400


def test_page_escapes_and_marks_sold_out(client):
    html = client.get("/").get_data(as_text=True)
    assert "Limited hoodie: 39000 KRW (sold out)" in html
    assert "Event tote bag: 12000 KRW</li>" in html


def test_shipping_unconfigured_is_503(client, monkeypatch):
    monkeypatch.delenv("SHIPPING_URL", raising=False)
    assert client.get("/products/sku-1001/shipping").status_code == 503


def test_shipping_quote_from_a_real_http_service(client, monkeypatch):
    class Quote(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"path": self.path, "price": 3000}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quote)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SHIPPING_URL", f"http://127.0.0.1:{server.server_port}")
        resp = client.get("/products/sku-1003/shipping")
    finally:
        server.shutdown()
        server.server_close()
    assert resp.status_code == 200
    assert resp.get_json() == {"sku": "sku-1003", "quote": {"path": "/quote?sku=sku-1003", "price": 3000}}


def test_shipping_unreachable_is_503(client, monkeypatch):
    monkeypatch.setenv("SHIPPING_URL", "http://127.0.0.1:9")
    assert client.get("/products/sku-1001/shipping").status_code == 503
