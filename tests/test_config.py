"""Configuration precedence: flags over OTEL_EXPORTER_OTLP_TRACES_* over OTEL_EXPORTER_OTLP_* over BRAINTRUST_*."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.redact import Redactor
from pipeline.resolve import resolve_export


def test_no_endpoint_means_local_file() -> None:
    assert resolve_export({}) is None


def test_braintrust_defaults_from_its_sdk_variables() -> None:
    cfg = resolve_export(
        {"BRAINTRUST_API_KEY": "k123", "BRAINTRUST_PARENT": "project_name:voice-agent"},
        braintrust=True,
    )
    assert cfg is not None
    assert cfg.traces_url == "https://api.braintrust.dev/otel/v1/traces"
    assert cfg.protocol == "http/protobuf" and cfg.compression == "gzip"
    assert dict(cfg.headers) == {
        "authorization": "Bearer k123",
        "x-bt-parent": "project_name:voice-agent",
    }


def test_braintrust_api_url_and_project_flag() -> None:
    cfg = resolve_export(
        {"BRAINTRUST_API_KEY": "k123", "BRAINTRUST_API_URL": "https://bt.internal.example/"},
        braintrust_project="p1",
    )
    assert cfg is not None
    assert cfg.traces_url == "https://bt.internal.example/otel/v1/traces"
    assert dict(cfg.headers)["x-bt-parent"] == "project_name:p1"


def test_precedence_flag_over_traces_var_over_generic_var() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://generic:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=2",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=3",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "5000",
    }
    cfg = resolve_export(env)
    assert cfg is not None and cfg.endpoint == "http://traces:4318" and cfg.timeout == 5.0
    assert dict(cfg.headers) == {"a": "1", "b": "3"}
    cfg = resolve_export(
        env, endpoint="http://flag:4317", protocol="grpc", headers=("b=4",), timeout=2
    )
    assert cfg is not None and (
        cfg.endpoint,
        cfg.protocol,
        dict(cfg.headers)["b"],
        cfg.timeout,
    ) == ("http://flag:4317", "grpc", "4", 2.0)


def test_braintrust_key_is_not_sent_to_an_arbitrary_collector() -> None:
    cfg = resolve_export(
        {"BRAINTRUST_API_KEY": "k123", "BRAINTRUST_PARENT": "project_name:x"},
        endpoint="http://localhost:4318",
    )
    assert cfg is not None and "authorization" not in dict(cfg.headers)


def test_validation_errors_name_the_fix() -> None:
    cfg = resolve_export(
        {"BRAINTRUST_API_KEY": "k123secret", "BRAINTRUST_PARENT": "project_name:p"},
        endpoint="http://10.1.2.3:4318",
        braintrust=True,
    )
    assert cfg is not None
    with pytest.raises(ConfigError, match="--insecure") as exc:
        cfg.validate()
    assert "k123secret" not in str(exc.value)
    with pytest.raises(ConfigError, match="malformed header"):
        resolve_export({"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, endpoint="http://x")


def test_redactor_hides_key_and_bearer_form() -> None:
    r = Redactor(["Bearer abcd1234", "abcd1234"])
    assert r("auth: Bearer abcd1234 / abcd1234") == "auth: *** / ***"


def test_config_shows_every_setting_with_its_source_and_no_secret() -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    env = {
        "BRAINTRUST_API_KEY": "sk-very-secret-key",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "5000",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
    }
    r = CliRunner(env=env).invoke(
        main, ["config", "--braintrust-project", "voice", "--concurrency", "2"]
    )
    assert r.exit_code == 0, r.output
    rows = {
        line.split()[0] + (" " + line.split()[1] if line.startswith("header") else ""): line
        for line in r.stdout.splitlines()
    }
    assert "https://api.braintrust.dev/otel/v1/traces" in rows["destination"]
    assert rows["timeout"].endswith("5 s  (env OTEL_EXPORTER_OTLP_TIMEOUT)")
    assert rows["compression"].endswith("none  (env OTEL_EXPORTER_OTLP_COMPRESSION)")
    assert rows["concurrency"].endswith("2  (flag --concurrency)")
    assert rows["max-retry-time"].endswith("300 s  (default)")
    assert rows["header authorization"].endswith("***  (env BRAINTRUST_API_KEY)")
    assert rows["header x-bt-parent"].endswith("project_name:voice  (flag --braintrust-project)")
    assert "sk-very-secret-key" not in r.output


def test_config_uses_the_signal_specific_endpoint_as_is() -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector.example/custom/traces?x=1"}
    r = CliRunner(env=env).invoke(main, ["config"])
    assert r.exit_code == 0, r.output
    assert (
        "https://collector.example/custom/traces?x=1  (env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)"
        in r.stdout
    )
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example/base?x=1"}
    r = CliRunner(env=env).invoke(main, ["config"])
    assert "https://collector.example/base/v1/traces?x=1" in r.stdout


def test_print_config_shows_every_run_setting_with_its_source(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317", "BRAINTRUST_API_KEY": "sk-x"}
    argv = ["convert", "-i", "sample_logs", "--print-config", "--max-history", "7", "--tag", "n"]
    r = CliRunner(env=env).invoke(main, [*argv, "-o", str(tmp_path / "t.jsonl"), "--full"])
    assert r.exit_code == 0, r.output
    rows = {line.split("  ")[0].strip(): line for line in r.stdout.splitlines()}
    assert rows["max-history"].endswith("7  (flag --max-history)")
    assert rows["root-name"].endswith("realtime_session  (default)")
    assert rows["tag"].endswith("n  (flag --tag)")
    assert rows["max-batch-spans"].endswith("2048  (default)")
    assert rows["full"].endswith("true  (flag --full)")
    assert rows["destination"].endswith("(env OTEL_EXPORTER_OTLP_ENDPOINT)")
    assert rows["protocol"].endswith("grpc  (default (from the endpoint))")
    assert "sk-x" not in r.output  # a collector that is not Braintrust gets no Braintrust key
    assert not (tmp_path / "t.jsonl").exists()  # nothing ran


def test_batch_limits_apply_to_the_file_too(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    out = tmp_path / "t.jsonl"
    argv = ["convert", "-i", "sample_logs", "-o", str(out), "--no-state", "--max-batch-spans", "7"]
    r = CliRunner().invoke(main, [*argv, "-q"])
    assert r.exit_code == 0, r.output
    lines = out.read_text().splitlines()
    counts = [
        sum(len(ss["spans"]) for rs in json.loads(line)["resourceSpans"] for ss in rs["scopeSpans"])
        for line in lines
    ]
    assert max(counts) == 7 and sum(counts) == 98 and len(lines) == 15


def test_a_bare_host_port_endpoint_is_read_once_the_same_way() -> None:
    """`host:port` without a scheme: plain HTTP for the HTTP exporter (so credentials need
    --insecure off loopback), TLS for gRPC's; the URL a request goes to says which."""
    from pipeline.send.settings import ExportConfig

    http = ExportConfig(endpoint="collector.example:4318", protocol="http/protobuf")
    assert http.traces_url == "http://collector.example:4318/v1/traces"
    key = (("authorization", "Bearer sk-1"),)
    with pytest.raises(ConfigError, match="clear text"):
        ExportConfig(endpoint="collector.example:4318", headers=key).validate()
    ExportConfig(endpoint="collector.example:4317", protocol="grpc", headers=key).validate()
    ExportConfig(endpoint="localhost:4318", headers=key).validate()  # loopback: fine
