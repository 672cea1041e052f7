"""Checks MQTT messages against docs/asyncapi.yaml (used by unit and broker tests).

A message passes when its topic matches exactly one channel address, its
payload validates against one of that channel's message payload schemas
(JSON Schema draft 7, which AsyncAPI schemas extend), and every field in it
is declared in that schema (so the document cannot fall behind the code).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
URI = "urn:coachd:asyncapi"


@dataclass(frozen=True)
class Channel:
    name: str
    pattern: re.Pattern[str]
    messages: dict[str, dict[str, Any]]
    own: bool
    """Under the node's own ``{prefix}`` (not the cluster's)."""


class Contract:
    def __init__(self, path: Path = DOC) -> None:
        self.doc: dict[str, Any] = yaml.safe_load(path.read_text())
        self.registry: Registry[Any] = Registry().with_resource(
            URI, DRAFT7.create_resource(self.doc)
        )
        self.default_content_type: str = self.doc.get("defaultContentType", "application/json")

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), ref
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def channels(self, prefix: str) -> list[Channel]:
        result = []
        for name, channel in self.doc["channels"].items():
            address: str = channel["address"]
            regex = ""
            for literal, param in re.findall(r"([^{]*)(?:\{([^}]+)\})?", address):
                regex += re.escape(literal)
                if param == "prefix":
                    regex += re.escape(prefix)
                elif param:
                    regex += r"[^/+#\x00]+"
            messages = {k: self.resolve(v) for k, v in channel["messages"].items()}
            own = "{prefix}" in address
            result.append(Channel(name, re.compile(regex), messages, own))
        return result

    def channel(self, prefix: str, topic: str) -> Channel:
        matches = [c for c in self.channels(prefix) if c.pattern.fullmatch(topic)]
        if len(matches) > 1 and topic.startswith(prefix + "/"):
            # <prefix>/available is also <clusterPrefix>/<node>/available for a
            # cluster prefix of one level: under the given prefix, it is the node's.
            matches = [c for c in matches if c.own]
        assert len(matches) == 1, f"{topic!r} matches channels {[c.name for c in matches]}"
        return matches[0]

    def validator(self, schema: dict[str, Any]) -> Draft7Validator:
        return Draft7Validator(
            schema, registry=self.registry, format_checker=Draft7Validator.FORMAT_CHECKER
        )

    def payload_schema(self, message: dict[str, Any]) -> dict[str, Any]:
        # Resolve the payload's $refs against the whole document.
        return {"$ref": URI + "#" + _pointer_of(self.doc, message["payload"])}

    def check(self, prefix: str, topic: str, payload: bytes) -> tuple[str, str]:
        """(channel, message) that ``payload`` on ``topic`` is; AssertionError if none."""
        channel = self.channel(prefix, topic)
        problems: list[str] = []
        for name, message in channel.messages.items():
            content_type = message.get("contentType", self.default_content_type)
            try:
                instance: Any = (
                    json.loads(payload) if content_type == "application/json" else payload.decode()
                )
            except ValueError as exc:
                problems.append(f"{name}: not {content_type}: {exc}")
                continue
            schema = message["payload"]
            errors = list(self.validator(self.payload_schema(message)).iter_errors(instance))
            if errors:
                problems.append(f"{name}: " + "; ".join(e.message for e in errors[:3]))
                continue
            extra = self.undeclared(schema, instance)
            assert not extra, f"{topic}: fields not in docs/asyncapi.yaml ({name}): {extra}"
            return channel.name, name
        raise AssertionError(f"{topic} {payload[:200]!r} matches no message: {problems}")

    def undeclared(self, schema: Any, instance: Any, path: str = "") -> list[str]:
        """Paths of object fields in ``instance`` that ``schema`` does not declare."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return []
        for key in ("oneOf", "anyOf"):
            if key in schema:
                for branch in schema[key]:
                    if self.validator({"$ref": URI + "#" + _pointer_of(self.doc, branch)}).is_valid(
                        instance
                    ):
                        return self.undeclared(branch, instance, path)
        properties: dict[str, Any] = {}
        items: list[Any] = []
        additional: list[Any] = []  # a map's values: {"additionalProperties": {schema}}
        for part in [schema, *(self.resolve(s) for s in schema.get("allOf", []))]:
            for name, sub in part.get("properties", {}).items():
                properties.setdefault(name, sub)
            if "items" in part:
                items.append(part["items"])
            if isinstance(part.get("additionalProperties"), dict):
                additional.append(part["additionalProperties"])
        found: list[str] = []
        if isinstance(instance, dict):
            for key, value in instance.items():
                if key not in properties and additional:
                    found += self.undeclared(additional[0], value, path + "/" + key)
                elif key not in properties:
                    found.append(path + "/" + key)
                else:
                    found += self.undeclared(properties[key], value, path + "/" + key)
        elif isinstance(instance, list) and items:
            for i, value in enumerate(instance):
                found += self.undeclared(items[0], value, f"{path}/{i}")
        return found


def _pointer_of(doc: Any, target: Any) -> str:
    """The JSON pointer of ``target`` (by identity) inside ``doc``; refs are followed as-is."""
    if isinstance(target, dict) and "$ref" in target and len(target) == 1:
        ref: str = target["$ref"]
        return ref[1:]
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        pointer, node = stack.pop()
        if node is target:
            return pointer
        if isinstance(node, dict):
            stack += [(pointer + "/" + _escape(str(k)), v) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(f"{pointer}/{i}", v) for i, v in enumerate(node)]
    raise KeyError("schema not found in the document")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
