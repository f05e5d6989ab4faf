"""One request's view of the emulator: who is asking, what they may reach, and "now".

Railway answers "Not Authorized" both for a missing token and for any id outside the token's
reach (including ids that never existed); ids that existed in reach and were removed answer
"<Thing> not found". Resolvers go through these lookups and never index State directly by a
caller-supplied id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .state import (
    Deployment,
    Environment,
    Grant,
    Instance,
    Project,
    Service,
    Trigger,
    VolumeInstance,
    Workspace,
    instance_key,
)

if TYPE_CHECKING:
    from .core import Emulator

NOT_AUTHORIZED = "Not Authorized"


class ApiFailure(Exception):
    """A GraphQL error carrying Railway's message (HTTP 200, code INTERNAL_SERVER_ERROR)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RequestContext:
    def __init__(
        self, emulator: Emulator, now: float, grant: Grant | None, token: str | None
    ) -> None:
        self.emulator = emulator
        self.state = emulator.state
        self.now = now
        self.grant = grant
        self.token = token
        self.mutated = False  # some resolver changed state: save it
        self.timed_out = False  # a create_timeout fault fired: commit, then never answer

    # --- who is asking ---------------------------------------------------------------------

    def require_grant(self) -> Grant:
        if self.grant is None:
            raise ApiFailure(NOT_AUTHORIZED)
        return self.grant

    def reaches(self, workspace_id: str | None) -> bool:
        return self.grant is not None and workspace_id in self.grant.workspace_ids

    def workspaces(self) -> list[Workspace]:
        grant = self.require_grant()
        return [
            self.state.workspaces[wid]
            for wid in grant.workspace_ids
            if wid in self.state.workspaces
        ]

    def workspace(self, workspace_id: str) -> Workspace:
        if not self.reaches(workspace_id) or workspace_id not in self.state.workspaces:
            raise ApiFailure(NOT_AUTHORIZED)
        return self.state.workspaces[workspace_id]

    def target_workspace(self, workspace_id: str | None) -> str:
        """The workspace a create or a listing applies to; required when several are in reach."""
        if workspace_id is not None:
            return self.workspace(workspace_id).id
        grant = self.require_grant()
        if len(grant.workspace_ids) != 1:
            raise ApiFailure(
                "workspaceId is required: this token can reach more than one workspace"
            )
        return grant.workspace_ids[0]

    # --- lookups by id, with Railway's reach rules -------------------------------------------

    def project(self, project_id: str) -> Project:
        return self._lookup(self.state.projects, project_id, "Project")

    def environment(self, environment_id: str) -> Environment:
        return self._lookup(self.state.environments, environment_id, "Environment")

    def service(self, service_id: str) -> Service:
        return self._lookup(self.state.services, service_id, "Service")

    def deployment(self, deployment_id: str) -> Deployment:
        return self._lookup(self.state.deployments, deployment_id, "Deployment")

    def trigger(self, trigger_id: str) -> Trigger:
        return self._lookup(self.state.triggers, trigger_id, "DeploymentTrigger")

    def volume_instance(self, volume_instance_id: str) -> VolumeInstance:
        return self._lookup(self.state.volume_instances, volume_instance_id, "VolumeInstance")

    def instance(self, service_id: str, environment_id: str) -> Instance:
        service = self.service(service_id)
        environment = self.environment(environment_id)
        instance = self.state.instances.get(instance_key(service.id, environment.id))
        if instance is None:
            raise ApiFailure("ServiceInstance not found")
        return instance

    def in_project(self, record: Any, project: Project, thing: str) -> None:
        if record.project_id != project.id:
            raise ApiFailure(f"{thing} not found")

    def _lookup(self, table: dict[str, Any], record_id: str, thing: str) -> Any:
        record = table.get(record_id)
        if record is not None:
            project = self.state.projects.get(record.project_id)
            if project is not None and self.reaches(project.workspace_id):
                return record
            raise ApiFailure(NOT_AUTHORIZED)
        if self.reaches(self.state.gone.get(record_id)):
            raise ApiFailure(f"{thing} not found")
        raise ApiFailure(NOT_AUTHORIZED)

    # --- mutations ---------------------------------------------------------------------------

    def guard(self, *resource_ids: str) -> None:
        """Refuse a mutation on a resource changed less than cooldown_seconds ago (fault)."""
        self.require_grant()
        self.emulator.check_cooldown(resource_ids, self.now)
        self.mutated = True  # from here on state may change, even if the resolver fails later

    def touched(self, *resource_ids: str) -> None:
        self.mutated = True
        self.emulator.record_mutation(resource_ids, self.now)
