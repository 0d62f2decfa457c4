"""The OpenAPI reference pages, with every script, style and icon served by jobtrail.

Litestar's render plugins load their JavaScript from public CDNs by default, so the
pages are blank on a machine without the internet. Swagger UI's distribution ships in
the `swagger-ui-py` package and is served from /swagger-ui/; Swagger is the page at
/schema. No package ships Scalar's or Redoc's bundles, so /schema/scalar and
/schema/redoc redirect to Swagger rather than render an empty page.
"""

from importlib.util import find_spec
from pathlib import Path

from litestar import Router, get
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

ASSETS = "/swagger-ui"
SWAGGER = "/schema/swagger"


def swagger_ui_directory() -> Path:
    """swagger-ui-py's static files, found without importing the package (it loads every web framework's glue)."""
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: reinstall jobtrail")
    return Path(spec.submodule_search_locations[0]) / "static"


def swagger_page() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
    )


@get(["/schema/scalar", "/schema/redoc"], include_in_schema=False)
async def to_swagger() -> Redirect:
    return Redirect(SWAGGER)


def reference_pages() -> Router:
    assets = create_static_files_router(ASSETS, directories=[swagger_ui_directory()], include_in_schema=False)
    return Router("/", route_handlers=[assets, to_swagger])
