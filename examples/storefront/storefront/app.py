"""The storefront service: product list, stock check, an HTML page, shipping quotes, and the
cart and checkout of a flash sale (stateless: a cart line or an order is priced and checked
against stock, nothing is stored).

Flask serves the API and renders the page (Jinja2); ``requests`` asks the shipping service
(``SHIPPING_URL``, e.g. ``http://shipping:8080``) for a quote, with a timeout.
"""

from __future__ import annotations

import os

import requests
from flask import Flask, abort, jsonify, render_template_string, request

PRODUCTS = {
    "sku-1001": {"name": "Flash-sale sneakers", "price": 59000, "stock": 120},
    "sku-1002": {"name": "Limited hoodie", "price": 39000, "stock": 0},
    "sku-1003": {"name": "Event tote bag", "price": 12000, "stock": 500},
}

PAGE = """<!doctype html>
<title>storefront</title>
<ul>{% for sku, p in products.items() %}
<li>{{ p.name }}: {{ p.price }} KRW{% if p.stock == 0 %} (sold out){% endif %}</li>{% endfor %}
</ul>
"""

app = Flask(__name__)


def _product(sku: str) -> dict:
    product = PRODUCTS.get(sku)
    if product is None:
        abort(404, description=f"unknown sku {sku}")
    return {"sku": sku, **product, "in_stock": product["stock"] > 0}


@app.get("/healthz")
def health():
    return jsonify(status="ok")


@app.get("/products")
def products():
    return jsonify([_product(sku) for sku in PRODUCTS])


@app.get("/products/<sku>")
def product(sku: str):
    return jsonify(_product(sku))


@app.get("/")
def page():
    return render_template_string(PAGE, products=PRODUCTS)


@app.get("/products/<sku>/shipping")
def shipping(sku: str):
    """Ask the shipping service for a quote: 503 when it is not configured or not reachable."""
    _product(sku)
    base = os.environ.get("SHIPPING_URL")
    if not base:
        return jsonify(error="shipping service not configured"), 503
    try:
        resp = requests.get(f"{base.rstrip('/')}/quote", params={"sku": sku}, timeout=2)
        resp.raise_for_status()
    except requests.RequestException as exc:
        return jsonify(error=f"shipping service unavailable: {type(exc).__name__}"), 503
    return jsonify(sku=sku, quote=resp.json())


def _line(item: object) -> dict:
    """A cart line ``{"sku", "qty"}`` priced: 400 when malformed, 404 unknown sku, 409 not enough stock."""
    if not isinstance(item, dict) or not isinstance(item.get("sku"), str):
        abort(400, description="a line needs a sku")
    qty = item.get("qty", 1)
    if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= 10:
        abort(400, description="qty must be an integer from 1 to 10")
    product = _product(item["sku"])
    if product["stock"] < qty:
        abort(409, description=f"{item['sku']} has {product['stock']} left")
    return {"sku": item["sku"], "qty": qty, "line_total": product["price"] * qty}


@app.post("/cart")
def cart():
    """Add a line to the cart: ``{"sku": "sku-1001", "qty": 1}`` → the priced line."""
    return jsonify(_line(request.get_json(silent=True)))


@app.post("/checkout")
def checkout():
    """Check out ``{"items": [{"sku", "qty"}, …]}`` → the order's lines and total (KRW)."""
    body = request.get_json(silent=True)
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= 20:
        abort(400, description="items must list 1 to 20 cart lines")
    lines = [_line(item) for item in items]
    return jsonify(lines=lines, total=sum(line["line_total"] for line in lines))


@app.errorhandler(400)
def bad_request(exc):
    return jsonify(error=getattr(exc, "description", "bad request")), 400


@app.errorhandler(409)
def conflict(exc):
    return jsonify(error=getattr(exc, "description", "conflict")), 409


@app.errorhandler(404)
def not_found(exc):
    return jsonify(error=getattr(exc, "description", "not found")), 404


@app.errorhandler(405)
def not_allowed(_exc):
    return jsonify(error="method not allowed"), 405


def main() -> None:  # pragma: no cover - entry point of the container
    app.run(host="0.0.0.0", port=8080)  # noqa: S104 - container port


if __name__ == "__main__":  # pragma: no cover
    main()
