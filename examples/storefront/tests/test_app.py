import json
from wsgiref.util import setup_testing_defaults

from storefront.app import app


def call(path: str, method: str = "GET"):
    environ: dict = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    environ["REQUEST_METHOD"] = method
    seen = {}

    def start_response(status, headers):
        seen["status"] = status
        seen["headers"] = dict(headers)

    body = b"".join(app(environ, start_response))
    return seen["status"], json.loads(body)


def test_health():
    assert call("/healthz") == ("200 OK", {"status": "ok"})


def test_products_list_marks_stock():
    status, body = call("/products")
    assert status == "200 OK"
    assert {p["sku"]: p["in_stock"] for p in body} == {"sku-1001": True, "sku-1002": False, "sku-1003": True}


def test_unknown_product_is_404():
    status, body = call("/products/nope")
    assert status == "404 Not Found"
    assert "nope" in body["error"]


def test_post_is_rejected():
    assert call("/products", method="POST")[0] == "405 Method Not Allowed"
