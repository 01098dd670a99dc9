"""textgen/explorer/docs.py: the /docs page written from an OpenAPI schema: every endpoint, its fields with
their types, defaults and limits, the server's limits, everything escaped, no script."""

from __future__ import annotations

from textgen.explorer.docs import api_page

SCHEMA = {
    "info": {"title": "textgen <explorer>", "description": "Stories & words."},
    "paths": {
        "/api/generate": {"post": {"description": "Write a story.\nStreamed.",
                                   "requestBody": {"content": {"application/json": {"schema": {
                                       "$ref": "#/components/schemas/GenerateRequest"}}}}}},
        "/api/models": {"get": {"description": "The models."}},
    },
    "components": {"schemas": {"GenerateRequest": {
        "required": ["model"],
        "properties": {
            "model": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Which model."},
            "max_tokens": {"type": "integer", "default": 200, "minimum": 1, "maximum": 2000.0},
            "temperature": {"type": "number", "default": 1.0, "exclusiveMinimum": 0, "exclusiveMaximum": 10},
            "seed": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}], "default": None},
            "prompt": {"type": "string", "default": "<b>", "description": "Text <i>before</i> the story."},
        },
    }}},
}


def rows(page: str) -> list[str]:
    return [row for row in page.split("<tr>")[1:] if not row.startswith("<th>")]


def test_every_endpoint_has_a_section_and_a_body_less_one_says_so():
    page = api_page(SCHEMA, [])
    assert page.count("<section><h2><code>") == 2
    assert "<code>POST /api/generate</code></h2><p>Write a story. Streamed.</p>" in page  # one line
    assert "<code>GET /api/models</code></h2><p>The models.</p><p class=\"muted\">no body</p>" in page


def test_fields_show_type_default_limits_and_meaning():
    fields = {row.split("</code>")[0].removeprefix("<td><code>"): row for row in rows(api_page(SCHEMA, []))}
    assert list(fields) == ["model", "max_tokens", "temperature", "seed", "prompt"]
    assert fields["model"] == ("<td><code>model</code></td><td>string</td><td>required</td>"
                               "<td>at least 1 characters, at most 200 characters</td><td>Which model.</td></tr>")
    assert "<td>200</td><td>≥ 1, ≤ 2,000</td>" in fields["max_tokens"]  # a whole float is shown as an integer
    assert "<td>number</td><td>1.0</td><td>&gt; 0, &lt; 10</td>" in fields["temperature"]
    assert "<td>integer or null</td><td>null</td><td>≥ 0</td>" in fields["seed"]  # the limits of each option


def test_everything_from_the_schema_and_the_limits_is_escaped_and_there_is_no_script():
    page = api_page(SCHEMA, ["prompts of at most 8,192 <characters>"])
    assert "<title>textgen &lt;explorer&gt;: API</title>" in page and "Stories &amp; words." in page
    assert "&#x27;&lt;b&gt;&#x27;" in page and "Text &lt;i&gt;before&lt;/i&gt; the story." in page
    assert "<section><h2>Limits</h2><ul><li>prompts of at most 8,192 &lt;characters&gt;</li></ul></section>" in page
    assert "<script" not in page and "<b>" not in page and "<i>" not in page
    assert page.startswith("<!doctype html>\n") and page.endswith("</html>\n")


def test_an_empty_schema_is_still_a_page():
    page = api_page({}, [])
    assert "<title>API: API</title>" in page and "<ul></ul>" in page and "<section><h2><code>" not in page
