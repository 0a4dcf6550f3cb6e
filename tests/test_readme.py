"""The README's examples, walked against the demo city: every `curl` in it is sent to the app
(in order: later examples use what earlier ones created), and its answer must have the status
the README states (else a 2xx) and every field name the README quotes in the comment under it.
The token example runs the CLI as written. So the README cannot drift from the service."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.conftest import fresh_database

README = Path(__file__).resolve().parent.parent / "README.md"
# A quoted name followed by ":", "," "}" or "]", and not itself a value (after a colon).
KEY = re.compile(r'(?<!:)(?<!: )"([A-Za-z_]\w*)"\s*[:,}\]]')
STATUS = re.compile(r"^(\d{3})\b")
# Area codes and ids quoted as values: the README promises these exact answers.
EXACT = re.compile(r':\s*"(\d{6,15}|[0-9a-f]{8}-[0-9a-f-]{27})"')


@dataclass
class Example:
    text: str
    args: list[str]
    comments: list[str]

    @property
    def status(self) -> int | None:
        m = STATUS.match(self.comments[0]) if self.comments else None
        return int(m.group(1)) if m else None

    @property
    def exact(self) -> set[str]:
        return {v for line in self.comments for v in EXACT.findall(line)}

    @property
    def keys(self) -> set[str]:
        return {k for line in self.comments for k in KEY.findall(line)}


def readme_examples(text: str):
    """Each shell command of interest in the README's ```sh blocks, with the comments under it."""
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if not (lines[i].startswith("curl ") or lines[i].startswith("TOKEN=$(")):
                i += 1
                continue
            cmd = lines[i]
            i += 1
            while True:  # a command runs on while a quote is open or a line ends in a backslash
                try:
                    if cmd.rstrip().endswith("\\"):
                        raise ValueError
                    args = shlex.split(cmd.replace("\\\n", " "))
                    break
                except ValueError:
                    cmd += "\n" + lines[i]
                    i += 1
            comments = []
            while i < len(lines) and lines[i].startswith("#"):
                comments.append(lines[i][1:].strip())
                i += 1
            yield Example(cmd, args, comments)


def keys_of(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


@pytest.fixture(scope="module")
def demo_url():
    """A database of its own with the demo city's boundaries and staff (few reports: the examples
    are about the city's shape, and loading a million reports takes minutes)."""
    from fixtures.city import CitySpec
    from fixtures.load import load_demo

    with fresh_database() as url:
        engine = sa.create_engine(url)
        load_demo(engine, spec=CitySpec(), n_reports=2000)
        engine.dispose()
        yield url


def test_the_readme_examples_answer_as_written(demo_url, monkeypatch):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import ApiSettings
    from cli.main import app as cli

    examples = list(readme_examples(README.read_text(encoding="utf-8")))
    assert sum(e.args[0] == "curl" for e in examples) >= 20, "the README's examples were not found"
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", demo_url)
    engine = sa.create_engine(demo_url)
    values: dict[str, str] = {}
    app = create_app(engine=engine, api_settings=ApiSettings(escalation_interval_s=0, intake_batching=False,
                                                            token_cache_s=0))
    try:
        with TestClient(app, base_url="http://localhost:8000") as client:
            for ex in examples:
                if ex.args[0].startswith("TOKEN=$("):  # TOKEN=$(.venv/bin/gridmap tokens issue … -q)
                    inner = shlex.split(ex.text[len("TOKEN=$("):ex.text.rindex(")")])
                    assert inner[0].endswith("gridmap")
                    r = CliRunner().invoke(cli, inner[1:])
                    assert r.exit_code == 0, r.output
                    values["TOKEN"] = r.output.strip()
                    continue
                method, headers, data, url = "GET", {}, None, None
                args = iter(ex.args[1:])
                for a in args:
                    if a == "-X":
                        method = next(args)
                    elif a == "-H":
                        name, _, value = next(args).partition(":")
                        headers[name.strip()] = re.sub(r"\$(\w+)", lambda m: values[m.group(1)], value.strip())
                    elif a == "-d":
                        data = next(args)
                    elif not a.startswith("-"):
                        url = a
                parts = urlsplit(url if "://" in url else f"http://{url}")
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                r = client.request(method, target, headers=headers, content=data)
                where = f"README example `{ex.text.splitlines()[0][:100]}`"
                want = ex.status
                ok = r.status_code == want if want else 200 <= r.status_code < 300
                assert ok, f"{where}: {r.status_code} {r.text[:500]}"
                missing = ex.keys - keys_of(r.json())
                assert not missing, f"{where}: no field(s) {sorted(missing)} in {r.text[:500]}"
                absent = {v for v in ex.exact if v not in r.text}
                assert not absent, f"{where}: the README says {sorted(absent)}, the answer is {r.text[:500]}"
                if r.json().__class__ is dict and r.json().get("case_token") and "CASE_TOKEN" not in values:
                    values["CASE_TOKEN"] = r.json()["case_token"]
    finally:
        engine.dispose()


def test_the_walk_fails_when_the_readme_drifts():
    """The parser reads what the walk checks: a status and the quoted field names."""
    text = "```sh\ncurl -s -X POST localhost:8000/x -H 'a: b' -d '{\n  \"k\": 1}'\n" \
           "# 201 {\"id\", \"grid_code\", \"worker\": {\"public_name\"}, \"match\":\"inside\"}\n```\n"
    (ex,) = readme_examples(text)
    assert ex.status == 201 and ex.keys == {"id", "grid_code", "worker", "public_name", "match"}
    (code,) = readme_examples('```sh\ncurl -s x\n# 200 {"grid":{"id":"211103005007011"}}\n```\n')
    assert code.exact == {"211103005007011"}
    assert ex.args[-1] == '{\n  "k": 1}'
