#!/usr/bin/env python3
"""Converts docs/openapi.yaml to JSON at build time, for the binary to serve at GET /openapi.json.

Writes OUT_JSON (the document as compact JSON, ASCII only, as the service serves it: the
contract test runs its validating proxy on this very file) and OUT_C (a C file defining
http_openapi_json[] with the same bytes, and http_openapi_json_len). The bytes are written
as an array initializer, not a string literal: ISO C only promises string literals of 4095
characters, and -Wpedantic -Werror holds the build to that.

Fails (exit 1, no output written) when the YAML does not load with PyYAML's safe loader
(Debian's python3-yaml), when it holds a value JSON cannot carry (an unquoted date becomes a
datetime: quote it), or when info.version is not the project's version.

usage: openapi_embed.py DOC.yaml VERSION OUT_JSON OUT_C
"""
import json
import os
import sys


def fail(msg):
    print(f"openapi_embed: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 5:
        fail("usage: openapi_embed.py DOC.yaml VERSION OUT_JSON OUT_C")
    src, version, out_json, out_c = sys.argv[1:]
    try:
        import yaml
    except ImportError:
        fail(f"{sys.executable} has no yaml module: install Debian's python3-yaml "
             "(scripts/install-deps.sh does)")
    try:
        with open(src, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        fail(f"{src}: {e}")
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3.1."):
        fail(f"{src}: not an OpenAPI 3.1 document")
    if doc.get("info", {}).get("version") != version:
        fail(f"{src}: info.version is {doc.get('info', {}).get('version')!r}, "
             f"the project's version is {version!r}")
    try:
        # allow_nan=False: NaN and Infinity are not JSON.
        text = json.dumps(doc, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        fail(f"{src}: a value JSON cannot hold ({e}); quote dates and times")
    data = text.encode("ascii")
    lines = []
    for i in range(0, len(data), 16):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in data[i:i + 16]) + ",")
    c = ("/* Generated from docs/openapi.yaml by scripts/openapi_embed.py at build time: do not\n"
         " * edit. The document as JSON, served by GET /openapi.json (router.c). */\n"
         "#include <stddef.h>\n\n"
         "const unsigned char http_openapi_json[] = {\n" + "\n".join(lines) + "\n};\n"
         "const size_t http_openapi_json_len = sizeof(http_openapi_json);\n")
    for path, content in ((out_json, data), (out_c, c.encode("ascii"))):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(content)
        os.replace(tmp, path)


if __name__ == "__main__":
    main()
