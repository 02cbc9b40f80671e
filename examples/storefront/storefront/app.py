"""WSGI application for the example storefront used by ``gantry demo``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from wsgiref.simple_server import make_server

PRODUCTS = {
    "sku-1001": {"name": "Flash-sale sneakers", "price": 59000, "stock": 120},
    "sku-1002": {"name": "Limited hoodie", "price": 39000, "stock": 0},
    "sku-1003": {"name": "Event tote bag", "price": 12000, "stock": 500},
}

StartResponse = Callable[[str, list[tuple[str, str]]], object]


def _json(start_response: StartResponse, status: str, body: object) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def app(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
    """Route ``/healthz``, ``/products`` and ``/products/<sku>``."""
    path = environ.get("PATH_INFO", "/")
    if environ.get("REQUEST_METHOD", "GET") != "GET":
        return _json(start_response, "405 Method Not Allowed", {"error": "method not allowed"})
    if path == "/healthz":
        return _json(start_response, "200 OK", {"status": "ok"})
    if path == "/products":
        return _json(start_response, "200 OK",
                     [{"sku": sku, **p, "in_stock": p["stock"] > 0} for sku, p in PRODUCTS.items()])
    if path.startswith("/products/"):
        sku = path.removeprefix("/products/")
        product = PRODUCTS.get(sku)
        if product is None:
            return _json(start_response, "404 Not Found", {"error": f"unknown sku {sku}"})
        return _json(start_response, "200 OK", {"sku": sku, **product, "in_stock": product["stock"] > 0})
    return _json(start_response, "404 Not Found", {"error": "not found"})


def main() -> None:  # pragma: no cover - entry point of the container
    with make_server("0.0.0.0", 8080, app) as server:  # noqa: S104 - container port
        server.serve_forever()


if __name__ == "__main__":  # pragma: no cover
    main()
