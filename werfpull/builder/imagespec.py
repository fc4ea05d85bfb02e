"""An `imageSpec` (spec section 7) as `buildah config` flags: meta `build.imageSpec` first,
then the image's own, each key as werf's reference describes it.

A key the reference builder cannot apply is a ConfigError naming it, never ignored.
"""

from __future__ import annotations

import json
import re

from werfpull.errors import ConfigError

TOP_KEYS = ("author", "clearHistory", "config")
CONFIG_KEYS = (
    "labels", "env", "user", "workingDir", "entrypoint", "cmd", "expose", "volumes",
    "healthcheck", "stopSignal", "removeLabels", "removeVolumes", "removeEnv", "clearCmd",
    "clearEntrypoint", "clearUser", "clearWorkingDir", "keepEssentialWerfLabels",
    "clearHistory",
)


def spec_flags(spec: dict, labels: dict[str, str], where: str) -> tuple[list[str], bool]:
    """(buildah config flags, whether to commit without history) for one imageSpec;
    `labels` are the container's current labels, which `/REGEXP/` removals match."""
    _check_keys(spec, TOP_KEYS, where)
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise ConfigError(f"{where}.config: expected a mapping")
    _check_keys(config, CONFIG_KEYS, f"{where}.config")
    flags: list[str] = []
    if "author" in spec:
        flags.append(f"--author={spec['author']}")
    flags += _removals(config, labels)
    for flag, key in (("--cmd", "clearCmd"), ("--entrypoint", "clearEntrypoint"),
                      ("--user", "clearUser"), ("--workingdir", "clearWorkingDir")):
        if config.get(key) is True:
            flags.append(f"{flag}=")
    flags += [f"--label={k}={v}" for k, v in config.get("labels", {}).items()]
    flags += [f"--env={k}={v}" for k, v in config.get("env", {}).items()]
    if "user" in config:
        flags.append(f"--user={config['user']}")
    if "workingDir" in config:
        flags.append(f"--workingdir={config['workingDir']}")
    for flag, key in (("--entrypoint", "entrypoint"), ("--cmd", "cmd")):
        if key in config:
            value = config[key]
            flags.append(f"{flag}={json.dumps(value) if isinstance(value, list) else value}")
    flags += [f"--port={p}" for p in config.get("expose", [])]
    flags += [f"--volume={v}" for v in config.get("volumes", [])]
    if "healthcheck" in config:
        flags += _healthcheck(config["healthcheck"], where)
    if "stopSignal" in config:
        flags.append(f"--stop-signal={config['stopSignal']}")
    clear_history = spec.get("clearHistory") is True or config.get("clearHistory") is True
    return flags, clear_history


def _check_keys(data: dict, allowed: tuple, where: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping")
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: not an imageSpec key the reference builder"
                              " applies", hint=f"expected one of: {', '.join(allowed)}")


def _removals(config: dict, labels: dict[str, str]) -> list[str]:
    flags = []
    for item in config.get("removeLabels", []):
        text = str(item)
        if len(text) > 1 and text.startswith("/") and text.endswith("/"):
            pattern = re.compile(text[1:-1])
            flags += [f"--label={k}-" for k in sorted(labels) if pattern.search(k)]
        else:
            flags.append(f"--label={text}-")
    flags += [f"--volume={v}-" for v in config.get("removeVolumes", [])]
    flags += [f"--env={e}-" for e in config.get("removeEnv", [])]
    return flags


def _healthcheck(check, where: str) -> list[str]:
    if not isinstance(check, dict) or not isinstance(check.get("test"), list) \
            or not check["test"]:
        raise ConfigError(f"{where}.config.healthcheck: needs 'test', a non-empty list")
    kind, *args = [str(a) for a in check["test"]]
    if kind == "NONE":
        return ["--healthcheck=NONE"]
    if kind not in ("CMD", "CMD-SHELL"):
        raise ConfigError(f"{where}.config.healthcheck.test: must start with CMD, CMD-SHELL"
                          f" or NONE, not {kind!r}")
    flags = [f"--healthcheck={kind} {' '.join(args)}"]
    for key, flag in (("interval", "interval"), ("timeout", "timeout"),
                      ("startPeriod", "start-period")):
        if key in check:
            value = check[key]
            flags.append(f"--healthcheck-{flag}={value}s" if isinstance(value, int)
                         else f"--healthcheck-{flag}={value}")
    if "retries" in check:
        flags.append(f"--healthcheck-retries={check['retries']}")
    return flags
