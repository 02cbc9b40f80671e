"""The storefront service: product list, stock check, an HTML page and shipping quotes.

Flask serves the API and renders the page (Jinja2); ``requests`` asks the shipping service
(``SHIPPING_URL``, e.g. ``http://shipping:8080``) for a quote, with a timeout.
"""

from __future__ import annotations

import os

import requests
from flask import Flask, abort, jsonify, render_template_string

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
