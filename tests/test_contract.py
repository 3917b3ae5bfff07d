"""The v1 contract never breaks a shipped app: ``buf breaking`` (as ``make lint`` runs it) finds protos/
compatible with the recorded contract and catches a breaking edit; the golden messages a shipped release
serialized decode to the same meaning with today's stubs; a message from a newer server, carrying a field
today's stubs do not know, is read and passed on intact."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import symbol_database
from google.protobuf.unknown_fields import UnknownFieldSet
from wellspring.v1 import resources_pb2

from contract.golden import GOLDEN, cases, meaning
from harness import ROOT

BUF = Path(sys.executable).parent / "buf"


def _breaking(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUF), "breaking", "--error-format=json", "--against", str(ROOT / "contract" / "v1.binpb")],
        cwd=root,
        capture_output=True,
        text=True,
    )


def test_protos_keep_the_recorded_contract() -> None:
    done = _breaking(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("edit", "rule"),
    [
        (lambda s: s.replace("  string bio = 4;\n", ""), "FIELD_NO_DELETE"),
        (lambda s: s.replace("string bio = 4;", "string biography = 4;"), "FIELD_SAME_JSON_NAME"),
        (lambda s: s.replace("string bio = 4;", "string bio = 14;"), "FIELD_NO_DELETE"),
    ],
    ids=["field-deleted", "field-renamed", "field-renumbered"],
)
def test_a_breaking_edit_is_caught(tmp_path: Path, edit: object, rule: str) -> None:
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    resources = tmp_path / "protos" / "wellspring" / "v1" / "resources.proto"
    before = resources.read_text()
    after = edit(before)  # type: ignore[operator]
    assert after != before
    resources.write_text(after)
    done = _breaking(tmp_path)
    assert done.returncode != 0 and rule in done.stdout, done.stdout + done.stderr


def test_every_case_is_recorded_and_nothing_recorded_was_lost() -> None:
    recorded = {path.stem for path in GOLDEN.glob("*.bin")}
    assert set(cases()) <= recorded, "run `python -m contract.golden --record` for the new cases"
    assert recorded == {path.stem for path in GOLDEN.glob("*.json")}


@pytest.mark.parametrize("name", sorted(path.stem for path in GOLDEN.glob("*.bin")))
def test_golden_bytes_mean_today_what_they_meant(name: str) -> None:
    record = json.loads((GOLDEN / f"{name}.json").read_text())
    cls = symbol_database.Default().GetSymbol(record["type"])
    message = cls.FromString((GOLDEN / f"{name}.bin").read_bytes())
    assert meaning(message) == record["meaning"]
    assert len(UnknownFieldSet(message)) == 0, "a field the shipped stubs wrote is unknown to today's"


def test_a_field_from_a_newer_server_is_kept_by_todays_stubs() -> None:
    """What an app with today's stubs does with a message from a later v1 (a field added at number 99)."""
    known = (GOLDEN / "user.bin").read_bytes()
    newer = known + b"\x9a\x06\x05later"  # field 99, length-delimited: "later"
    user = resources_pb2.User.FromString(newer)
    assert user.display_name == "Ada Lovelace" and user.id == "ada"
    assert user.SerializeToString() == newer  # passed on (cached, re-sent) without losing it


def test_the_swift_generation_config_is_whole_and_says_it_was_not_run() -> None:
    """Nothing Swift can run here; what can be checked is that the shipped config is the one the README
    describes, and that it and the example say plainly they were not run or compiled."""
    import yaml

    swift = ROOT / "clients" / "swift"
    config = yaml.safe_load((swift / "buf.gen.yaml").read_text())
    assert {p["local"] for p in config["plugins"]} == {"protoc-gen-swift", "protoc-gen-grpc-swift"}
    assert {i["directory"] for i in config["inputs"]} == {"../../protos", "../../web/proto"}
    for path in (ROOT / "protos").rglob("*.proto"):
        text = path.read_text()
        assert 'option swift_prefix = "WSP";' in text and 'option objc_class_prefix = "WSP";' in text, path
    assert (swift / "buf.gen.yaml").read_text().startswith("# NOT RUN HERE")
    assert (swift / "Example.swift").read_text().startswith("// NOT COMPILED HERE")
