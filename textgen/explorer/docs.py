"""The API's documentation page at /docs, written from the app's OpenAPI schema on the server:
plain HTML with the page's own style sheet and no script, so it works offline (the usual
Swagger page loads its code from a CDN)."""

from __future__ import annotations

from html import escape

CONSTRAINTS = (("minLength", "at least {} characters"), ("maxLength", "at most {} characters"), ("minimum", "≥ {}"),
               ("exclusiveMinimum", "> {}"), ("maximum", "≤ {}"), ("exclusiveMaximum", "< {}"))


def _number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _type(schema: dict) -> str:
    if "anyOf" in schema:
        return " or ".join(_type(option) for option in schema["anyOf"])
    return schema.get("type", "any")


def _rules(schema: dict) -> str:
    rules = []
    for option in [schema, *schema.get("anyOf", ())]:
        rules += [text.format(_number(option[key])) for key, text in CONSTRAINTS if key in option]
    return ", ".join(rules)


def _fields(schema: dict) -> str:
    required = set(schema.get("required", ()))
    rows = []
    for name, field in schema.get("properties", {}).items():
        default = "required" if name in required else escape(repr(field.get("default")).replace("None", "null"))
        rows.append(f"<tr><td><code>{escape(name)}</code></td><td>{escape(_type(field))}</td><td>{default}</td>"
                    f"<td>{escape(_rules(field))}</td><td>{escape(field.get('description', ''))}</td></tr>")
    return ("<table><tr><th>field</th><th>type</th><th>default</th><th>limits</th><th>meaning</th></tr>"
            + "".join(rows) + "</table>")


def api_page(schema: dict, limits: list[str]) -> str:
    """The HTML of /docs: every endpoint, its request fields with their limits, and the server's limits."""
    components = schema.get("components", {}).get("schemas", {})
    sections = []
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            body = ((operation.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema", {}))
            reference = body.get("$ref", "").rsplit("/", 1)[-1]
            fields = _fields(components[reference]) if reference in components else "<p class=\"muted\">no body</p>"
            description = escape(operation.get("description", "")).replace("\n", " ")
            sections.append(f"<section><h2><code>{method.upper()} {escape(path)}</code></h2><p>{description}</p>"
                            f"{fields}</section>")
    items = "".join(f"<li>{escape(line)}</li>" for line in limits)
    info = schema.get("info", {})
    title = escape(info.get("title", "API"))
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}: API</title><link rel=\"stylesheet\" href=\"/static/style.css\">"
        "<link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\"></head>"
        f"<body><header><h1>{title}: the JSON API</h1><a href=\"/\" class=\"muted\">the page</a></header>"
        f"<main><p>{escape(info.get('description', ''))} Requests and answers are JSON; errors are "
        "<code>{\"detail\": \"...\"}</code> with a 4xx or 5xx status. The schema for programs is at "
        "<a href=\"/openapi.json\">/openapi.json</a>.</p>"
        f"<section><h2>Limits</h2><ul>{items}</ul></section>{''.join(sections)}</main></body></html>\n"
    )
