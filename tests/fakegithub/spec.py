"""GitHub's OpenAPI description, loaded once per process: route index and request validation."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import _keywords
from jsonschema.exceptions import best_match
from jsonschema.validators import extend
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.conftest import CORPUS

SPEC_PATH = CORPUS / "github-api" / "api.github.com.json"
SPEC_URI = "urn:github-openapi"
METHODS = ("get", "post", "patch", "put", "delete")


def _nullable_enum(validator: Any, enums: Any, instance: Any, schema: Any) -> Any:
    """GitHub marks enums ``nullable`` without listing null (and sends/accepts null)."""
    if instance is None and schema.get("nullable"):
        return
    yield from _keywords.enum(validator, enums, instance, schema)


WriteValidator = extend(OAS30WriteValidator, {"enum": _nullable_enum})
ReadValidator = extend(OAS30ReadValidator, {"enum": _nullable_enum})


@dataclass
class Operation:
    """One operation of the description: what the fake needs to check a request against it."""

    operation_id: str
    method: str
    template: str
    segments: list[str]   # "{name}" for a parameter, else a literal (or an inline template)
    literals: int
    query: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> schema
    body_pointer: str | None = None  # JSON pointer to the application/json schema
    body_required: bool = False


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


_PARAM = re.compile(r"\{([^}]+)\}")


@functools.cache
def _inline(segment: str) -> re.Pattern[str]:
    """A regex for a segment with inline parameters, such as ``{base}...{head}``."""
    return re.compile("[^/]+".join(re.escape(x) for x in _PARAM.split(segment)[::2]) + "$")


def match_segments(segments: list[str], parts: list[str]) -> dict[str, str] | None:
    """Path parameters when ``parts`` fit ``segments`` (``{path}`` last takes the rest)."""
    greedy = segments[-1] == "{path}"
    if len(parts) != len(segments) and not (greedy and len(parts) > len(segments)):
        return None
    params: dict[str, str] = {}
    for i, seg in enumerate(segments):
        if seg == "{path}" and i == len(segments) - 1:
            params["path"] = "/".join(parts[i:])
        elif seg.startswith("{") and seg.endswith("}") and seg.count("{") == 1:
            params[seg[1:-1].replace("-", "_")] = parts[i]
        elif "{" in seg:
            if not _inline(seg).match(parts[i]):
                return None
        elif seg != parts[i]:
            return None
    return params


def _drop_array_discriminators(node: Any) -> None:
    """openapi-schema-validator cannot apply a discriminator to an array (contents listings)."""
    if isinstance(node, dict):
        disc = node.get("discriminator")
        if isinstance(disc, dict) and "array" in disc.get("mapping", {}):
            del node["discriminator"]
        for value in node.values():
            _drop_array_discriminators(value)
    elif isinstance(node, list):
        for value in node:
            _drop_array_discriminators(value)


class Spec:
    """Index of operations by method and first path segment, with cached body validators."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        for item in doc["paths"].values():
            for method in METHODS:
                for resp in item.get(method, {}).get("responses", {}).values():
                    _drop_array_discriminators(resp)
        self.registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, Resource.from_contents(dict(doc), default_specification=DRAFT4))
        self._by_bucket: dict[tuple[str, str], list[Operation]] = {}
        self.operations: dict[str, Operation] = {}
        for template, item in doc["paths"].items():
            shared = item.get("parameters", [])
            for method in METHODS:
                raw = item.get(method)
                if raw is None:
                    continue
                op = self._operation(template, method, raw, shared)
                self.operations[op.operation_id] = op
                first = template.strip("/").split("/")[0]
                self._by_bucket.setdefault((method.upper(), first), []).append(op)
        for ops in self._by_bucket.values():
            ops.sort(key=lambda o: -o.literals)

    def _deref(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = self.pointer(node["$ref"][1:])
        return node

    def pointer(self, ptr: str) -> Any:
        """Resolve a JSON pointer (``/components/...``) in the description."""
        node: Any = self.doc
        for token in ptr.strip("/").split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node

    def _operation(self, template: str, method: str, raw: Mapping[str, Any],
                   shared: list[Any]) -> Operation:
        segments = template.strip("/").split("/")
        literals = sum(1 for seg in segments if not seg.startswith("{"))
        op = Operation(raw.get("operationId", f"{method} {template}"), method.upper(), template,
                       segments, literals)
        for p in [*shared, *raw.get("parameters", [])]:
            p = self._deref(p)
            if p.get("in") == "query":
                op.query[p["name"]] = self._deref(p.get("schema", {}))
        body = raw.get("requestBody")
        if body is not None:
            pointer = f"/paths/{_escape(template)}/{method}/requestBody"
            while "$ref" in body:
                pointer = body["$ref"][1:]
                body = self.pointer(pointer)
            if "application/json" in body.get("content", {}):
                op.body_pointer = pointer + "/content/application~1json/schema"
                op.body_required = bool(body.get("required"))
        return op

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - the Spec lives for the whole process
    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation a request path belongs to, with its path parameters."""
        parts = path.strip("/").split("/")
        for op in self._by_bucket.get((method.upper(), parts[0]), ()):
            params = match_segments(op.segments, parts)
            if params is not None:
                return op, params
        return None

    @functools.lru_cache(maxsize=512)  # noqa: B019
    def body_validator(self, pointer: str, read: bool = False) -> Any:
        """A validator for the schema at ``pointer`` (refs resolved lazily)."""
        cls = ReadValidator if read else WriteValidator
        return cls({"$ref": f"{SPEC_URI}#{pointer}"}, registry=self.registry)

    def check_body(self, op: Operation, body: Any) -> str | None:
        """None when ``body`` is valid for ``op``, else GitHub-style message text."""
        if op.body_pointer is None:
            return None
        errors = list(self.body_validator(op.body_pointer).iter_errors(body))
        if not errors:
            return None
        err = best_match(errors)
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        return f"Invalid request.\n\nFor '{where}', {err.message}."

    def check_query(self, op: Operation, query: Mapping[str, str]) -> str | None:
        """None when every query parameter is known to ``op`` (and enum values fit)."""
        for name, value in query.items():
            schema = op.query.get(name)
            if schema is None:
                return f"Unknown query parameter {name!r} for {op.operation_id}."
            enum = schema.get("enum")
            if enum and schema.get("type") == "string" and value not in enum:
                return f"Invalid value {value!r} for query parameter {name!r}; expected {enum}."
        return None


@functools.cache
def load_spec(path: Path = SPEC_PATH) -> Spec:
    """Parse and index the 13 MB description once per test process."""
    with path.open("rb") as fh:
        return Spec(json.load(fh))


def response_pointer(spec: Spec, op: Operation, status: int) -> str | None:
    """JSON pointer to the documented JSON schema of ``op``'s ``status`` answer, if any."""
    raw = spec.pointer(f"/paths/{_escape(op.template)}/{op.method.lower()}")
    resp = raw.get("responses", {}).get(str(status))
    if resp is None:
        return None
    pointer = f"/paths/{_escape(op.template)}/{op.method.lower()}/responses/{status}"
    while "$ref" in resp:
        pointer = resp["$ref"][1:]
        resp = spec.pointer(pointer)
    if "application/json" not in resp.get("content", {}):
        return None
    return pointer + "/content/application~1json/schema"


def check_response(spec: Spec, op: Operation, status: int, data: Any) -> str | None:
    """None when ``data`` fits the documented response schema (used to test the fake itself)."""
    pointer = response_pointer(spec, op, status)
    if pointer is None:
        return None
    errors = list(spec.body_validator(pointer, read=True).iter_errors(data))
    if not errors:
        return None
    err = best_match(errors)
    where = "/".join(str(p) for p in err.absolute_path) or "(root)"
    return f"response {status} of {op.operation_id} at {where}: {err.message}"
