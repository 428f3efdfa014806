#!/usr/bin/env python3
"""Embeds the ledger explorer's files (ui/) in the binary at build time, for GET /ui/ to serve.

Writes OUT_C, a C file defining for each FILE an array with its bytes and its length, named
after the file: ui/app.js becomes http_ui_file_app_js[] and http_ui_file_app_js_len
(src/http/ui.c serves them). The bytes are an array initializer, not a string literal, for the reason
openapi_embed.py gives (ISO C's 4095-character promise, held by -Wpedantic -Werror).

The page is served with a Content-Security-Policy that allows only the service's own origin and
no inline script or style (src/http/ui.c), and it must work offline. So this refuses (exit 1,
nothing written) a file that is not UTF-8, and an HTML file with an inline <script> or <style>,
a style="..." or on...= attribute, a javascript: URL, or a src/href to another origin; and a CSS
file with an @import or a url() to another origin. The browser would refuse those too (the
browser test fails on the console error), but later and less plainly.

usage: ui_embed.py OUT_C FILE...
"""
import os
import re
import sys


def fail(msg):
    print(f"ui_embed: {msg}", file=sys.stderr)
    sys.exit(1)


# src= or href= whose value starts with a scheme or "//": another origin.
FOREIGN_REF = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)""")
HTML_RULES = [
    (re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.I), "an inline <script> (use a file)"),
    (re.compile(r"<style\b", re.I), "a <style> element (use style.css)"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute (use a class)"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an on...= handler attribute (use addEventListener)"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]
CSS_RULES = [
    (re.compile(r"@import\b", re.I), "an @import"),
    (re.compile(r"url\(\s*[\"']?\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)", re.I), "a url() to another origin"),
]


def check(path, text):
    if path.endswith(".html"):
        for rule, what in HTML_RULES:
            if rule.search(text):
                fail(f"{path}: {what}: the page's Content-Security-Policy forbids it")
        for m in FOREIGN_REF.finditer(text):
            # The one allowed: the empty data: icon, which keeps the browser from asking
            # for /favicon.ico (the CSP's img-src allows data:).
            if not text.startswith('href="data:,"', m.start()):
                fail(f"{path}: a reference to another origin ({text[m.start():m.start() + 60]!r}): "
                     "every file must come from the service")
    elif path.endswith(".css"):
        for rule, what in CSS_RULES:
            if rule.search(text):
                fail(f"{path}: {what}: every file must come from the service")


def symbol(path):
    name = re.sub(r"[^A-Za-z0-9]", "_", os.path.basename(path))
    return f"http_ui_file_{name}"


def main():
    if len(sys.argv) < 3:
        fail("usage: ui_embed.py OUT_C FILE...")
    out_c, files = sys.argv[1], sys.argv[2:]
    parts = ["/* Generated from ui/ by scripts/ui_embed.py at build time: do not edit. The ledger\n"
             " * explorer's files, served by GET /ui/ (src/http/ui.c). */\n"
             "#include <stddef.h>\n"]
    seen = set()
    for path in files:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            fail(f"{path}: {e}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            fail(f"{path}: not UTF-8 ({e})")
        if not data:
            fail(f"{path}: empty")  # and ISO C allows no empty initializer
        check(path, text)
        name = symbol(path)
        if name in seen:
            fail(f"{path}: a second file named {os.path.basename(path)}")
        seen.add(name)
        lines = []
        for i in range(0, len(data), 16):
            lines.append("    " + ", ".join(f"0x{b:02x}" for b in data[i:i + 16]) + ",")
        parts.append(f"\n/* {os.path.basename(path)} */\n"
                     f"const unsigned char {name}[] = {{\n" + "\n".join(lines) + "\n};\n"
                     f"const size_t {name}_len = sizeof({name});\n")
    tmp = out_c + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("".join(parts))
    os.replace(tmp, out_c)


if __name__ == "__main__":
    main()
