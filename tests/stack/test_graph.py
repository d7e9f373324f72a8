"""The synth graph: shape the checkov export relies on, references, outputs, speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from policies.synth import load_stack_config, synth
from tests.stack.conftest import StackGraph

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = {
    "api_url",
    "bucket_name",
    "cdn_domain",
    "events_bus_name",
    "table_name",
    "ingest_queue_url",
    "dlq_url",
    "kms_key_arn",
}
OPTION_KEYS = {"protect", "retain_on_delete", "delete_before_replace", "aliases"}
RESOURCE_KEYS = {
    "urn",
    "type",
    "name",
    "parent",
    "custom",
    "id",
    "inputs",
    "state",
    "property_dependencies",
    "depends_on",
    "options",
}


def test_graph_shape(stack: StackGraph) -> None:
    assert set(stack.raw) == {"project", "stack", "config", "resources", "outputs"}
    assert stack.raw["project"] == "mediakit"
    for r in stack:
        assert set(r) == RESOURCE_KEYS
        assert r["parent"] is None or r["parent"] in stack.by_urn
        for urns in r["property_dependencies"].values():
            assert urns
            assert all(u in stack.by_urn for u in urns)
        assert set(r["depends_on"]) >= {u for us in r["property_dependencies"].values() for u in us}
        assert set(r["options"]) == OPTION_KEYS
    json.dumps(stack.raw)  # plain JSON all the way down


def test_every_custom_resource_has_a_unique_id_and_arn(stack: StackGraph) -> None:
    custom = [r for r in stack if r["custom"]]
    ids = [r["id"] for r in custom]
    arns = [r["state"]["arn"] for r in custom]
    assert len(set(ids)) == len(ids)
    assert len(set(arns)) == len(arns)
    assert all(a.startswith("arn:aws:") for a in arns)


def test_components_own_their_children(stack: StackGraph) -> None:
    components = {r["type"] for r in stack if not r["custom"]}
    assert components >= {
        "mediakit:stack:MediaPipeline",
        "mediakit:stack:Storage",
        "mediakit:stack:Cdn",
        "mediakit:stack:Queues",
        "mediakit:stack:Compute",
        "mediakit:stack:Api",
        "mediakit:stack:Alarms",
        "mediakit:stack:Events",
    }
    storage = stack.get("media-storage")
    assert stack.get("media-storage-bucket")["parent"] == storage["urn"]
    assert storage["parent"] == stack.urn("media")
    # Components register their outputs: the graph carries them as state.
    assert storage["state"]["bucket_arn"] == stack.state("media-storage-bucket")["arn"]


def test_references_rebuilt_inside_policy_json(stack: StackGraph) -> None:
    deps = stack.get("media-storage-bucket-policy")["property_dependencies"]
    assert deps["bucket"] == [stack.urn("media-storage-bucket")]
    assert set(deps["policy"]) == {
        stack.urn("media-storage-bucket"),
        stack.urn("media-storage-key"),
        stack.urn("media-cdn-distribution"),
    }
    key_policy = stack.get("media-storage-key-policy")["property_dependencies"]
    assert stack.urn("media-compute-presign-role") in key_policy["policy"]
    assert stack.urn("media-cdn-distribution") in key_policy["policy"]
    lifecycle = stack.get("media-storage-bucket-lifecycle")
    assert lifecycle["property_dependencies"] == {"bucket": [stack.urn("media-storage-bucket")]}
    assert stack.urn("media-storage-bucket-versioning") in lifecycle["depends_on"]


def test_outputs_are_the_app_teams_contract(stack: StackGraph) -> None:
    assert set(stack.outputs) == OUTPUTS
    assert stack.outputs["bucket_name"] == stack.state("media-storage-bucket")["bucket"]
    assert stack.outputs["kms_key_arn"] == stack.state("media-storage-key")["arn"]
    assert stack.outputs["api_url"] == stack.state("media-api-http")["apiEndpoint"]
    assert stack.outputs["cdn_domain"] == stack.state("media-cdn-distribution")["domainName"]
    assert stack.outputs["ingest_queue_url"] == stack.state("media-queues-ingest")["url"]
    assert stack.outputs["dlq_url"] == stack.state("media-queues-dlq")["url"]
    assert stack.outputs["table_name"] == stack.state("media-storage-uploads")["name"]
    assert stack.outputs["events_bus_name"] == stack.state("media-events-bus")["name"]


def test_dev_and_prod_never_share_ids(dev: StackGraph, prod: StackGraph) -> None:
    assert not {r["id"] for r in dev if r["custom"]} & {r["id"] for r in prod if r["custom"]}


def test_synth_is_deterministic_across_runs(dev: StackGraph) -> None:
    again = synth("dev")
    assert json.dumps(again, sort_keys=True) == json.dumps(dev.raw, sort_keys=True)


def test_dev_without_origins_has_no_cors_anywhere() -> None:
    config = load_stack_config("dev") | {"corsOrigins": []}
    graph = StackGraph(synth("dev", config))
    assert not graph.of_type("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
    assert "corsConfiguration" not in graph.inputs("media-api-http")


def test_cli_synth_prod_writes_the_graph(tmp_path: Path) -> None:
    out = tmp_path / "prod.json"
    subprocess.run(
        [Path(sys.executable).with_name("mediakit"), "synth", "--stack", "prod", "--out", out],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    graph = json.loads(out.read_text())
    assert graph["stack"] == "prod"
    assert set(graph["outputs"]) == OUTPUTS


def test_cli_synth_unknown_stack_fails_with_a_message() -> None:
    from click.testing import CliRunner

    from mediakit.cli import cli

    result = CliRunner().invoke(cli, ["synth", "--stack", "nope"])
    assert result.exit_code == 2  # could not run (mediakit.errors), as check's missing stack
    assert "Pulumi.nope.yaml" in result.output


INVALID_STACK_NAMES = ["../etc/passwd", "/etc/passwd", "dev/../prod", ".hidden", "-dev", "dev prod"]


@pytest.mark.parametrize("name", INVALID_STACK_NAMES)
def test_cli_synth_invalid_stack_name_is_a_usage_error(name: str) -> None:
    from click.testing import CliRunner

    from mediakit.cli import cli

    # GIVEN a stack name that is not one path segment WHEN synthesized
    result = CliRunner().invoke(cli, ["synth", "--stack", name])
    # THEN it is refused as a usage error (exit 2) naming the option, before any file is read
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--stack'" in result.output
    assert "invalid stack name" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", INVALID_STACK_NAMES)
def test_load_stack_config_refuses_an_invalid_stack_name(name: str, tmp_path: Path) -> None:
    # GIVEN a name that is not one path segment WHEN its config is loaded
    # THEN the path is never built from it
    with pytest.raises(ValueError, match="invalid stack name"):
        load_stack_config(name, tmp_path)


@pytest.mark.parametrize("name", ["dev", "prod", "Prod2", "eu-west-1.prod", "team_a.dev", "9"])
def test_load_stack_config_accepts_valid_stack_names(name: str, tmp_path: Path) -> None:
    # GIVEN a Pulumi.<stack>.yaml for a valid name WHEN loaded THEN its config is read
    (tmp_path / f"Pulumi.{name}.yaml").write_text("config:\n  mediakit:originalsPrefix: x/\n")
    assert load_stack_config(name, tmp_path) == {"originalsPrefix": "x/"}
