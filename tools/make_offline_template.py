"""Build ``.dvc/plots/offline.html``: a ``dvc plots show`` HTML template with vega, vega-lite and
vega-embed inlined, so rendered plots open without network access.

Usage (npm only needed to fetch the packages once)::

    tmp=$(mktemp -d) && (cd "$tmp" && npm pack vega@5 vega-lite@5 vega-embed@6 && for f in *.tgz; \
        do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}" --strip-components 1; done)
    .venv/bin/python tools/make_offline_template.py "$tmp"   # then: dvc plots show

The template has DVC's ``{plot_divs}`` placeholder but no ``{scripts}`` placeholder, so DVC does
not add its CDN ``<script src=...>`` tags.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
from spdnas.core.io import atomic_write_text

PACKAGES = (("vega", "vega.min.js"), ("vega-lite", "vega-lite.min.js"), ("vega-embed", "vega-embed.min.js"))
MAX_BYTES = 3 * 1024 * 1024

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>spdnas - DVC plots</title>
<!-- Inlined for offline use: {credits} -->
{scripts}
<style>
body {{ font-family: sans-serif; }}
table {{ border-spacing: 15px; }}
</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def find_package(base: Path, name: str) -> Path:
    """Unpacked folder of npm package ``name`` under ``base`` (by package.json name)."""
    for pj in sorted(base.glob("*/package.json")):
        if json.loads(pj.read_text()).get("name") == name:
            return pj.parent
    raise FileNotFoundError(f"npm package {name!r} not found under {base} (run npm pack first)")


def build(base: Path, out: Path) -> Path:
    """Write the template from the unpacked packages under ``base``."""
    scripts, credits = [], []
    for name, js in PACKAGES:
        pkg = find_package(base, name)
        meta = json.loads((pkg / "package.json").read_text())
        code = (pkg / "build" / js).read_text(encoding="utf-8")
        for bad in ("</script", "{plot_divs}", "{scripts}", "{refresh_tag}"):
            if bad in code:
                raise ValueError(f"{name}/{js} contains {bad!r}; cannot inline it safely")
        credits.append(f"{name} {meta['version']} ({meta['license']})")
        scripts.append(f'<script type="text/javascript">\n{code}\n</script>')
    text = PAGE.format(credits=", ".join(credits), scripts="\n".join(scripts))
    if len(text.encode()) > MAX_BYTES:
        raise ValueError(f"template is {len(text.encode())} bytes, over the {MAX_BYTES} limit")
    return atomic_write_text(out, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("packages", type=Path, help="folder holding the unpacked npm packages")
    ap.add_argument("--out", type=Path, default=ROOT / ".dvc" / "plots" / "offline.html")
    a = ap.parse_args(argv)
    path = build(a.packages, a.out)
    print(f"{path}: {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
