"""The one fake GitHub for tests: OpenAPI-validated, stateful, strict, with fault injection."""

from tests.fakegithub.auth import AppKey, app_key
from tests.fakegithub.core import ApiError, Fault, Problem, Recorded
from tests.fakegithub.repo import Artifact, FakeRepo
from tests.fakegithub.routes.checks import add_check_run
from tests.fakegithub.seed import (
    SeededComment,
    SeededRun,
    load_payload,
    requested_action_payload,
    seed_issue_comment,
    seed_workflow_run,
    zip_reports,
)
from tests.fakegithub.server import FakeGitHub
from tests.fakegithub.state import App, Installation, World, add_delivery

__all__ = ["ApiError", "App", "AppKey", "Artifact", "FakeGitHub", "FakeRepo", "Fault",
           "Installation", "Problem", "Recorded", "SeededComment", "SeededRun", "World",
           "add_check_run", "add_delivery", "app_key", "load_payload",
           "requested_action_payload", "seed_issue_comment", "seed_workflow_run", "zip_reports"]
