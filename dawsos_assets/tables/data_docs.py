"""Great Expectations' Data Docs, readable offline and served over http next to the Dagster UI.

GX's page templates load Bootstrap, Font Awesome, jQuery and Vega from public CDNs, so on a machine without internet
the pages come up unstyled. The same files ship in `data_docs_vendor/` and every built page is pointed at the copies
in the site's `static/vendor/`. (The pages are rewritten after each build because GX looks its own templates up
before a project's custom views, so a template of ours cannot replace theirs.)
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dawsos_assets.database.server import home_dir

VENDOR_DIR = Path(__file__).with_name("data_docs_vendor")
DATA_DOCS_URL_ENV = "DAWSOS_DATA_DOCS_URL"
DEFAULT_UI_PORT = 3000
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
# CDN address in GX's templates -> the copy under static/vendor/ (an address is not wrapped, so lines run long)
CDN_COPIES = {
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "css/bootstrap-table.min.css",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "css/bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": "css/bootstrap-table-filter-control.min.css",  # noqa: E501
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": "css/bootstrap-table-filter-control.css",  # noqa: E501
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": "css/bootstrap-datepicker.min.css",  # noqa: E501
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": "css/bootstrap-prefers-dark.css",  # noqa: E501
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "js/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "js/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "js/vega-embed.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "js/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "js/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "js/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "js/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": "js/bootstrap-table-filter-control.min.js",  # noqa: E501
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": "js/bootstrap-datepicker.min.js",  # noqa: E501
}


def gx_root() -> Path:
    """The Great Expectations file context: kept between runs, so every validation result (and the Data Docs
    history built from them) survives.
    """
    return home_dir() / "gx"


def site_dir() -> Path:
    """Folder of the built Great Expectations data-docs site."""
    return gx_root() / "gx" / "uncommitted" / "data_docs" / "local_site"


def data_docs_url() -> str:
    """Where people open the Data Docs: the server `dawsos ui` starts next to the web UI (port + 1)."""
    return os.environ.get(DATA_DOCS_URL_ENV, f"http://127.0.0.1:{DEFAULT_UI_PORT + 1}/")


def _relative(page: Path, target: Path) -> str:
    return os.path.relpath(target, page.parent).replace(os.sep, "/")


def localize(site: Path) -> int:
    """Copy the vendored files into `site` and point every page at them; returns the pages changed."""
    vendor = site / "static" / "vendor"
    shutil.copytree(VENDOR_DIR, vendor, dirs_exist_ok=True, ignore=shutil.ignore_patterns("README.md", "licenses"))
    changed = 0
    for page in site.rglob("*.html"):
        text = original = page.read_text(encoding="utf-8")
        # the integrity hashes and crossorigin belong to the CDN copies' responses; the local files need neither
        text = text.replace(' crossorigin="anonymous"', "")
        for cdn, copy in CDN_COPIES.items():
            text = text.replace(f'"{cdn}"', f'"{_relative(page, vendor / copy)}"')
        text = text.replace(GX_IMAGES, _relative(page, site / "static" / "images") + "/")
        text = _drop_integrity(text)
        if text != original:
            page.write_text(text, encoding="utf-8")
            changed += 1
    return changed


def _drop_integrity(text: str) -> str:
    """Remove integrity="sha384-…" attributes: they pin the CDN's bytes, and a local URL needs no pin."""
    out, start = [], 0
    while (at := text.find(' integrity="', start)) != -1:
        end = text.index('"', at + len(' integrity="'))
        out.append(text[start:at])
        start = end + 1
    out.append(text[start:])
    return "".join(out)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name): no request log on the console
        pass


def start_server(port: int, directory: Path | None = None) -> ThreadingHTTPServer:
    """Serve the Data Docs on 127.0.0.1:`port` from a daemon thread; `shutdown()` stops it."""
    root = directory or site_dir()
    root.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, name="data-docs", daemon=True).start()
    return server
