#!/usr/bin/env python3
"""Fails when the router has a route that docs/openapi.yaml lacks, or the document a route that
the router does not have.

The routes are read from src/http/router.c: its route table (path, prefix flag, method) and
its route labels, which name each sub-route of a prefix route (/accounts/{id}/events) with
{id} for the account, as GET /metrics does. A route is a method and a path; a prefix route
stands for its labels. Parsing C by pattern is deliberate and checked: too few routes found
means the table's shape changed, which fails the test too.

usage: check_routes.py SOURCE_DIR
"""
import re
import sys

import yaml


def block(text, start):
    """The text of the initializer that follows start, up to its closing '};'."""
    at = text.index(start)
    return text[at:text.index("};", at)]


def main():
    src = sys.argv[1]
    router = open(f"{src}/src/http/router.c", encoding="utf-8").read()
    internal = open(f"{src}/src/http/internal.h", encoding="utf-8").read()
    api = re.search(r'#define API "([^"]+)"', internal).group(1)

    def path(prefix, s):
        return (api if prefix else "") + s

    table = re.findall(r'\{\s*(API\s+)?"([^"]*)"\s*,\s*(true|false)\s*,\s*"([A-Z]+)"',
                       block(router, "static const route routes[]"))
    labels = [path(a, p) for a, p in re.findall(r'\[LABEL_[A-Z_]+\]\s*=\s*(API\s+)?"([^"]*)"',
                                                   block(router, "http_route_labels[HTTP_ROUTE_LABELS]"))]
    routes = set()
    for a, p, prefix, method in table:
        full = path(a, p)
        if prefix == "true":
            subs = [l for l in labels if l.startswith(full)]
            if not subs:
                sys.exit(f"check_routes: the prefix route {full} has no label")
            routes.update((method, l) for l in subs)
        else:
            routes.add((method, full))
    if len(table) < 10 or len(routes) < 13:
        sys.exit(f"check_routes: only {len(table)} routes ({len(routes)} with sub-routes) found "
                 "in router.c: has the table's shape changed? Update this script.")

    doc = yaml.safe_load(open(f"{src}/docs/openapi.yaml", encoding="utf-8"))
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    documented = set()
    for p, item in doc["paths"].items():
        for m in item:
            if m in methods:
                documented.add((m.upper(), re.sub(r"\{[^}]+\}", "{id}", p)))

    missing = sorted(routes - documented)
    extra = sorted(documented - routes)
    for m, p in missing:
        print(f"check_routes: the router serves {m} {p}, which docs/openapi.yaml lacks")
    for m, p in extra:
        print(f"check_routes: docs/openapi.yaml documents {m} {p}, which the router does not serve")
    if missing or extra:
        sys.exit(1)
    print(f"check_routes: the {len(routes)} routes of router.c are the {len(documented)} "
          "operations of docs/openapi.yaml")


if __name__ == "__main__":
    main()
