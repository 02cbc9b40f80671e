"""A tiny storefront service: product list, stock check and health endpoint (stdlib WSGI)."""
