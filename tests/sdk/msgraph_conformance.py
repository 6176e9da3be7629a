"""Microsoft's own clients against graph-emulator.

The emulator and dirvault's Graph client are written by the same team, so they can agree on
the same mistake. This script is a second opinion from Microsoft: the Python Graph SDK
(msgraph-sdk, generated from Graph's metadata), MSAL and azure-identity, pinned in
requirements.txt, drive a real `graph-emulator --tls` over HTTPS. Every call's answer must
deserialise into the SDK's models; a failing step names the SDK call.

    python tests/sdk/msgraph_conformance.py target/debug/graph-emulator

Prints one line per step and closes with "N passed, N failed"; exits non-zero on a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import traceback
import uuid
from typing import Awaitable, Callable

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
STEPS: list[tuple[str, Callable[["Env"], Awaitable[None]]]] = []


def step(name: str):
    """Registers a step; steps run in the order they are written."""

    def register(fn):
        STEPS.append((name, fn))
        return fn

    return register


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


class Env:
    """The running emulator, its first tenant, and Microsoft's clients pointed at it."""

    def __init__(self, binary: str, workdir: str) -> None:
        ca_path = os.path.join(workdir, "emulator-ca.pem")
        self.process = subprocess.Popen(
            [
                binary,
                "--listen",
                "127.0.0.1:0",
                "--tls",
                "--ca-out",
                ca_path,
                "--json",
                "--tenant",
                "contoso:small:7",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line:
            raise RuntimeError("graph-emulator printed nothing (did it start?)")
        info = json.loads(line)
        self.url: str = info["url"]
        self.ca_path: str = info["caPath"]
        check(self.url.startswith("https://"), f"--tls serves https, got {self.url}")
        tenant = info["tenants"][0]
        self.tenant_id: str = tenant["tenantId"]
        self.client_id: str = tenant["clientId"]
        self.client_secret: str = tenant["clientSecret"]
        self.domain: str = tenant["defaultDomain"]
        # Python's ssl, requests (MSAL) and httpx (the SDK) all trust the emulator's CA.
        os.environ["SSL_CERT_FILE"] = self.ca_path
        os.environ["REQUESTS_CA_BUNDLE"] = self.ca_path
        self.client = None
        self.adapter = None

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def control(self, method: str, path: str, body=None):
        """The emulator's control API: changes made as an admin would, outside Graph."""
        import httpx

        with httpx.Client(verify=self.ca_path) as http:
            response = http.request(method, f"{self.url}/_emulator{path}", json=body)
        check(response.status_code < 300, f"control {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def mutate(self, ops: list) -> None:
        self.control("POST", f"/tenants/{self.tenant_id}/mutations", ops)

    def export(self) -> dict:
        return self.control("GET", f"/tenants/{self.tenant_id}/export")

    def ids(self, kind: str, state: dict | None = None) -> list[str]:
        """Ids of the tenant's objects of a kind, from the control API's export."""
        state = state or self.export()
        return [o["id"] for o in state["objects"].get(kind, [])]


def request_config(query=None, headers: dict | None = None):
    from kiota_abstractions.base_request_configuration import RequestConfiguration

    config = RequestConfiguration(query_parameters=query)
    for name, value in (headers or {}).items():
        config.headers.add(name, value)
    return config


# ---------------------------------------------------------------- authentication


@step("msal: ConfidentialClientApplication.acquire_token_for_client")
async def msal_token(env: Env) -> None:
    import msal

    app = msal.ConfidentialClientApplication(
        env.client_id,
        client_credential=env.client_secret,
        authority=f"{env.url}/{env.tenant_id}",
        # The authority is not one of Microsoft's clouds: no instance discovery.
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    check("access_token" in result, f"no token: {result.get('error_description', result)}")
    check(result["token_type"] == "Bearer", f"token_type {result['token_type']}")
    claims = jwt_claims(result["access_token"])
    check(claims["tid"] == env.tenant_id, f"tid {claims.get('tid')}")
    check(claims["appid"] == env.client_id, f"appid {claims.get('appid')}")
    check(claims["aud"] == "https://graph.microsoft.com", f"aud {claims.get('aud')}")
    check(claims["iss"] == f"https://sts.windows.net/{env.tenant_id}/", f"iss {claims.get('iss')}")
    check("User.Read.All" in claims["roles"] or "Directory.Read.All" in claims["roles"], "roles")
    check(claims["exp"] > claims["iat"], "exp after iat")
    # A wrong secret is refused with the identity platform's error shape.
    bad = msal.ConfidentialClientApplication(
        env.client_id,
        client_credential="not-the-secret",
        authority=f"{env.url}/{env.tenant_id}",
        instance_discovery=False,
    ).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    check(bad.get("error") == "invalid_client", f"bad secret: {bad}")
    check(7000215 in bad.get("error_codes", []), f"bad secret codes: {bad}")


@step("jwks: the token's signature verifies with the tenant's published key")
async def jwks_signature(env: Env) -> None:
    import httpx
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    with httpx.Client(verify=env.ca_path) as http:
        config = http.get(f"{env.url}/{env.tenant_id}/v2.0/.well-known/openid-configuration").json()
        keys = http.get(config["jwks_uri"]).json()["keys"]
    import msal

    token = msal.ConfidentialClientApplication(
        env.client_id,
        client_credential=env.client_secret,
        authority=f"{env.url}/{env.tenant_id}",
        instance_discovery=False,
    ).acquire_token_for_client(scopes=[GRAPH_SCOPE])["access_token"]
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64url(header_b64))
    key = next(k for k in keys if k["kid"] == header["kid"])
    check(header["alg"] == "RS256", f"alg {header['alg']}")
    public = rsa.RSAPublicNumbers(
        int.from_bytes(b64url(key["e"]), "big"), int.from_bytes(b64url(key["n"]), "big")
    ).public_key()
    public.verify(
        b64url(signature_b64),
        f"{header_b64}.{payload_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


@step("azure-identity: ClientSecretCredential.get_token, then GraphServiceClient")
async def azure_identity_client(env: Env) -> None:
    from azure.identity.aio import ClientSecretCredential
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient

    credential = ClientSecretCredential(
        env.tenant_id,
        env.client_id,
        env.client_secret,
        authority=env.url.removeprefix("https://"),
        disable_instance_discovery=True,
    )
    token = await credential.get_token(GRAPH_SCOPE)
    check(token.token.count(".") == 2, "a JWT")
    env.credential = credential
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1"]
    )
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = f"{env.url}/v1.0"
    env.adapter = adapter
    env.client = GraphServiceClient(request_adapter=adapter)
    me = await env.client.organization.get()
    check(me is not None and len(me.value) == 1, "organization")


# ---------------------------------------------------------------- reads


@step("users.get + PageIterator over every page")
async def users_page_iterator(env: Env) -> None:
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder
    from msgraph_core.tasks.page_iterator import PageIterator

    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        select=["id", "displayName", "userPrincipalName"], top=7
    )
    first = await env.client.users.get(request_configuration=request_config(query))
    check(first.odata_next_link is not None, "a first page of 7 has a next link")
    seen: list[str] = []

    def collect(user) -> bool:
        seen.append(user.id)
        return True

    iterator = PageIterator(first, env.adapter)
    await iterator.iterate(collect)
    expected = len(env.ids("users"))
    check(len(seen) == expected, f"PageIterator saw {len(seen)} of {expected} users")
    check(len(set(seen)) == len(seen), "no user twice")


@step("users.count with ConsistencyLevel: eventual")
async def users_count(env: Env) -> None:
    n = await env.client.users.count.get(
        request_configuration=request_config(headers={"ConsistencyLevel": "eventual"})
    )
    check(n == len(env.ids("users")), f"count {n}")


@step("users.delta -> control-API change -> deltaLink round")
async def users_delta(env: Env) -> None:
    from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder

    query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        select=["id", "displayName", "jobTitle"]
    )
    builder = env.client.users.delta
    page = await builder.get(request_configuration=request_config(query))
    initial = 0
    while True:
        initial += len(page.value)
        if page.odata_next_link:
            page = await builder.with_url(page.odata_next_link).get()
        else:
            break
    check(page.odata_delta_link is not None, "the last page has a deltaLink")
    check(initial == len(env.ids("users")), f"initial round {initial}")
    victim = page.value[0].id if page.value else None
    victim = victim or env.ids("users")[0]
    env.mutate([{"op": "update", "kind": "users", "id": victim, "set": {"jobTitle": "SDK Tester"}}])
    changes = await builder.with_url(page.odata_delta_link).get()
    changed = [u for u in changes.value if u.id == victim]
    check(len(changed) == 1, f"the changed user is in the round: {[u.id for u in changes.value]}")
    check(changed[0].job_title == "SDK Tester", f"jobTitle {changed[0].job_title}")
    # Without Prefer: return=minimal, Graph returns every selected property.
    check(changed[0].display_name is not None, "a full (non-minimal) answer")
    check(changes.odata_delta_link is not None, "a new deltaLink")


@step("groups.delta with members -> member added -> members@delta")
async def groups_delta(env: Env) -> None:
    from msgraph.generated.groups.delta.delta_request_builder import DeltaRequestBuilder

    query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        select=["id", "displayName", "members"]
    )
    builder = env.client.groups.delta
    page = await builder.get(request_configuration=request_config(query))
    while page.odata_next_link:
        page = await builder.with_url(page.odata_next_link).get()
    check(page.odata_delta_link is not None, "deltaLink")
    state = env.export()
    group = env.ids("groups", state)[0]
    members = set(state["links"].get("groupMember", {}).get(group, []))
    newcomer = next(u for u in env.ids("users", state) if u not in members)
    env.mutate(
        [{"op": "addLink", "relationship": "groupMember", "source": group, "target": newcomer}]
    )
    changes = await builder.with_url(page.odata_delta_link).get()
    changed = [g for g in changes.value if g.id == group]
    check(len(changed) == 1, f"the group is in the round: {[g.id for g in changes.value]}")
    raw = changed[0].additional_data.get("members@delta", [])
    check(any(str(m.get("id")) == newcomer for m in raw), f"members@delta names the newcomer: {raw}")


@step("groups members/owners, members.graph_user and members.graph_group casts")
async def group_members_casts(env: Env) -> None:
    state = env.export()
    links = state["links"].get("groupMember", {})
    users, groups = set(env.ids("users", state)), set(env.ids("groups", state))
    group = next(
        g for g, ms in links.items() if users & set(ms) and groups & set(ms)
    )
    item = env.client.groups.by_group_id(group)
    everyone = await item.members.get()
    users = await item.members.graph_user.get()
    groups = await item.members.graph_group.get()
    check(all(u.odata_type == "#microsoft.graph.user" for u in users.value), "users cast")
    check(all(g.odata_type == "#microsoft.graph.group" for g in groups.value), "groups cast")
    check(len(users.value) > 0 and len(groups.value) > 0, "both kinds present")
    check(
        {u.id for u in users.value} | {g.id for g in groups.value} <= {m.id for m in everyone.value},
        "casts are subsets of the members",
    )
    n = await item.members.count.get(
        request_configuration=request_config(headers={"ConsistencyLevel": "eventual"})
    )
    check(n == len(everyone.value), f"members/$count {n} vs {len(everyone.value)}")
    owners = await item.owners.get()
    check(owners is not None and owners.value is not None, "owners")
    from msgraph.generated.groups.item.group_item_request_builder import GroupItemRequestBuilder

    query = GroupItemRequestBuilder.GroupItemRequestBuilderGetQueryParameters(
        select=["id"], expand=["members($select=id,displayName)"]
    )
    expanded = await item.get(request_configuration=request_config(query))
    check(expanded.members and all(m.id for m in expanded.members), "nested $expand")


@step("directory.administrative_units and directory_roles_with_role_template_id")
async def units_and_roles(env: Env) -> None:
    units = await env.client.directory.administrative_units.get()
    check(units.value is not None, "administrative units")
    roles = await env.client.directory_roles.get()
    check(len(roles.value) > 0, "activated roles")
    role = roles.value[0]
    by_template = await env.client.directory_roles_with_role_template_id(
        role.role_template_id
    ).get()
    check(by_template.id == role.id, f"by template {by_template.id} vs {role.id}")
    members = await env.client.directory_roles.by_directory_role_id(role.id).members.get()
    check(members.value is not None, "role members")


@step("role_management.directory.role_assignments and role_definitions")
async def role_assignments(env: Env) -> None:
    assignments = await env.client.role_management.directory.role_assignments.get()
    check(len(assignments.value) > 0, "role assignments")
    check(all(a.principal_id and a.role_definition_id for a in assignments.value), "fields")
    definitions = await env.client.role_management.directory.role_definitions.get()
    check(len(definitions.value) > 0, "role definitions")


@step("identity.conditional_access.policies and named_locations")
async def conditional_access(env: Env) -> None:
    policies = await env.client.identity.conditional_access.policies.get()
    check(len(policies.value) > 0, "policies")
    check(all(p.state is not None and p.conditions is not None for p in policies.value), "shape")
    locations = await env.client.identity.conditional_access.named_locations.get()
    check(locations.value is not None, "named locations")


@step("users.by_user_id.authentication.methods")
async def auth_methods(env: Env) -> None:
    state = env.export()
    user = next(u for u, methods in state["authenticationMethods"].items() if methods)
    methods = await env.client.users.by_user_id(user).authentication.methods.get()
    check(len(methods.value) > 0, "methods")
    check(all(m.odata_type and m.odata_type.startswith("#microsoft.graph.") for m in methods.value), "typed")


@step("audit_logs.sign_ins and reports.authentication_methods.user_registration_details")
async def sign_ins_and_registration(env: Env) -> None:
    sign_ins = await env.client.audit_logs.sign_ins.get()
    check(sign_ins.value is not None and len(sign_ins.value) > 0, "sign-ins")
    check(all(s.created_date_time is not None for s in sign_ins.value), "createdDateTime parses")
    details = await env.client.reports.authentication_methods.user_registration_details.get()
    check(details.value is not None and len(details.value) > 0, "registration details")


# ---------------------------------------------------------------- tenant policies and branding


@step("policies: settings objects, collections, PIM with its scope filter, condition sets")
async def tenant_policies(env: Env) -> None:
    from kiota_abstractions.api_error import APIError
    from msgraph.generated.policies.role_management_policies.role_management_policies_request_builder import (
        RoleManagementPoliciesRequestBuilder,
    )

    p = env.client.policies
    authorization = await p.authorization_policy.get()
    check(authorization.default_user_role_permissions is not None, "defaultUserRolePermissions")
    defaults = await p.identity_security_defaults_enforcement_policy.get()
    check(defaults.is_enabled is not None, "security defaults isEnabled")
    methods = await p.authentication_methods_policy.get()
    configurations = methods.authentication_method_configurations or []
    check(len(configurations) > 0, "method configurations inline")
    kinds = {type(c).__name__ for c in configurations}
    check(
        "Fido2AuthenticationMethodConfiguration" in kinds,
        f"each configuration typed by its @odata.type: {kinds}",
    )
    cross_default = await p.cross_tenant_access_policy.default.get()
    check(cross_default.b2b_collaboration_inbound is not None, "cross-tenant defaults")
    partners = await p.cross_tenant_access_policy.partners.get()
    check(all(x.tenant_id for x in partners.value), "partners are keyed by tenantId")
    consent = await p.admin_consent_request_policy.get()
    check(consent.is_enabled is not None, "admin consent request policy")
    for name in [
        "token_lifetime_policies",
        "token_issuance_policies",
        "claims_mapping_policies",
        "home_realm_discovery_policies",
        "activity_based_timeout_policies",
        "authentication_strength_policies",
    ]:
        page = await getattr(p, name).get()
        check(page.value is not None, name)
    grants = await p.permission_grant_policies.get()
    low = next(g for g in grants.value if g.id == "microsoft-user-default-low")
    check(low.includes and low.includes[0].permission_type is not None, "condition sets inline")
    includes = await p.permission_grant_policies.by_permission_grant_policy_id(low.id).includes.get()
    check([c.id for c in includes.value] == [c.id for c in low.includes], "includes listed")
    query = RoleManagementPoliciesRequestBuilder.RoleManagementPoliciesRequestBuilderGetQueryParameters(
        filter="scopeId eq '/' and scopeType eq 'DirectoryRole'", expand=["rules"]
    )
    pim = await p.role_management_policies.get(request_configuration=request_config(query))
    check(len(pim.value) > 0 and pim.value[0].rules, "PIM policies with their rules expanded")
    try:
        await p.role_management_policies.get()
        raise AssertionError("PIM policies without the scope filter must be refused")
    except APIError as e:
        check(e.response_status_code == 400, f"status {e.response_status_code}")


@step("organization.branding: Accept-Language, localizations, images as bytes (put, get, delete)")
async def branding(env: Env) -> None:
    from msgraph.generated.models.organizational_branding_localization import (
        OrganizationalBrandingLocalization,
    )

    b = env.client.organization.by_organization_id(env.tenant_id).branding
    default = await b.get(request_configuration=request_config(headers={"Accept-Language": "0"}))
    check(default.id == "0" and default.sign_in_page_text, f"default branding {default.id}")
    listed = await b.localizations.get()
    check({"0", "fr-FR"} <= {x.id for x in listed.value}, "the default and each language")
    logo = await b.localizations.by_organizational_branding_localization_id("0").banner_logo.get()
    check(isinstance(logo, bytes) and logo.startswith(b"\x89PNG"), "the banner logo is PNG bytes")
    check(await b.banner_logo.get() == logo, "the default's streams at /branding/{stream} too")
    created = await b.localizations.post(
        OrganizationalBrandingLocalization(id="de-DE", sign_in_page_text="Willkommen")
    )
    check(created.id == "de-DE", "a language is created under its own id")
    german = b.localizations.by_organizational_branding_localization_id("de-DE")
    await german.banner_logo.put(b"\xff\xd8\xff\xe0", "image/jpeg")
    check(await german.banner_logo.get() == b"\xff\xd8\xff\xe0", "the image back as sent")
    await german.banner_logo.delete()
    await german.delete()
    listed = await b.localizations.get()
    check("de-DE" not in {x.id for x in listed.value}, "deleted once its image was removed")


# ---------------------------------------------------------------- writes and $batch


@step("users.post / patch / delete, deleted_items.graph_user, restore")
async def user_lifecycle(env: Env) -> None:
    from msgraph.generated.models.password_profile import PasswordProfile
    from msgraph.generated.models.user import User

    nickname = f"sdk{uuid.uuid4().hex[:8]}"
    created = await env.client.users.post(
        User(
            account_enabled=True,
            display_name="SDK Conformance",
            mail_nickname=nickname,
            user_principal_name=f"{nickname}@{env.domain}",
            password_profile=PasswordProfile(
                force_change_password_next_sign_in=True, password=f"P@ss-{uuid.uuid4()}"
            ),
        )
    )
    check(created.id is not None, "created id")
    await env.client.users.by_user_id(created.id).patch(User(job_title="Conformance"))
    got = await env.client.users.by_user_id(created.id).get()
    check(got.job_title == "Conformance", f"patched jobTitle {got.job_title}")
    await env.client.users.by_user_id(created.id).delete()
    deleted = await env.client.directory.deleted_items.graph_user.get()
    check(any(u.id == created.id for u in deleted.value), "in the recycle bin")
    restored = await env.client.directory.deleted_items.by_directory_object_id(
        created.id
    ).restore.post()
    check(restored.id == created.id, "restored with the same id")
    again = await env.client.users.by_user_id(created.id).get()
    check(again.display_name == "SDK Conformance", "readable after restore")
    await env.client.users.by_user_id(created.id).delete()


@step("batch.post with BatchRequestContent (two reads, one missing)")
async def batch(env: Env) -> None:
    from msgraph_core.requests.batch_request_content import BatchRequestContent
    from msgraph_core.requests.batch_request_item import BatchRequestItem

    state = env.export()
    user = env.ids("users", state)[0]
    group = env.ids("groups", state)[0]
    content = BatchRequestContent()
    user_item = BatchRequestItem(
        request_information=env.client.users.by_user_id(user).to_get_request_information()
    )
    group_item = BatchRequestItem(
        request_information=env.client.groups.by_group_id(group).to_get_request_information()
    )
    missing_item = BatchRequestItem(
        request_information=env.client.users.by_user_id(str(uuid.uuid4())).to_get_request_information()
    )
    for item in (user_item, group_item, missing_item):
        content.add_request(item.id, item)
    response = await env.client.batch.post(batch_request_content=content)
    statuses = response.get_response_status_codes()
    check(statuses[user_item.id] == 200 and statuses[group_item.id] == 200, f"{statuses}")
    check(statuses[missing_item.id] == 404, f"missing: {statuses}")
    # Graph answers each sub-response's JSON body as an object (json-batching.md), and so
    # does the emulator. The pinned kiota-serialization-json drops object bodies
    # (microsoft/kiota-python#737: BatchResponseItem reads `body` with get_bytes_value), so
    # `response_body()` cannot be used here against Graph either.
    for item in (user_item, group_item):
        got = response.get_response_by_id(item.id)
        check(got.content_type.startswith("application/json"), f"content type {got.content_type}")
    # So the sub-response bodies are deserialised here with the SDK's own JSON parse node and
    # models, from the same kind of batch sent as JSON.
    import httpx
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
    from msgraph.generated.models.group import Group
    from msgraph.generated.models.user import User

    token = (await env.credential.get_token(GRAPH_SCOPE)).token
    requests = [
        {"id": "user", "method": "GET", "url": f"/users/{user}"},
        {"id": "group", "method": "GET", "url": f"/groups/{group}"},
    ]
    async with httpx.AsyncClient(verify=env.ca_path) as http:
        raw = await http.post(
            f"{env.url}/v1.0/$batch",
            json={"requests": requests},
            headers={"Authorization": f"Bearer {token}"},
        )
    check(raw.status_code == 200, f"$batch: {raw.status_code}")
    expected = {"user": (User, user), "group": (Group, group)}
    factory = JsonParseNodeFactory()
    for sub in raw.json()["responses"]:
        model, want = expected[sub["id"]]
        node = factory.get_root_parse_node("application/json", json.dumps(sub["body"]).encode())
        parsed = node.get_object_value(model)
        check(parsed.id == want, f"{sub['id']}: {parsed.id} != {want}")


# ---------------------------------------------------------------- errors


@step("errors: ODataError for 404, 400 $filter on an unknown property, 403 without a role")
async def error_shapes(env: Env) -> None:
    from kiota_abstractions.api_error import APIError
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder

    try:
        await env.client.users.by_user_id(str(uuid.uuid4())).get()
        raise AssertionError("a missing user is an error")
    except ODataError as e:
        check(e.response_status_code == 404, f"status {e.response_status_code}")
        check(e.error.code == "Request_ResourceNotFound", f"code {e.error.code}")
        check(e.error.inner_error is not None, "innerError")
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        filter="displayNam eq 'x'"
    )
    try:
        await env.client.users.get(request_configuration=request_config(query))
        raise AssertionError("a filter on an unknown property is an error")
    except ODataError as e:
        check(e.response_status_code == 400, f"status {e.response_status_code}")
    app = env.control(
        "POST",
        f"/tenants/{env.tenant_id}/apps",
        {"displayName": "limited", "permissions": ["User.Read.All"]},
    )
    from azure.identity.aio import ClientSecretCredential
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient

    limited = ClientSecretCredential(
        env.tenant_id,
        app["clientId"],
        app["clientSecret"],
        authority=env.url.removeprefix("https://"),
        disable_instance_discovery=True,
    )
    adapter = GraphRequestAdapter(
        AzureIdentityAuthenticationProvider(limited, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1"])
    )
    adapter.base_url = f"{env.url}/v1.0"
    client = GraphServiceClient(request_adapter=adapter)
    try:
        await client.identity.conditional_access.policies.get()
        raise AssertionError("reading policies without Policy.Read.All is an error")
    except (ODataError, APIError) as e:
        check(e.response_status_code == 403, f"status {e.response_status_code}")
    finally:
        await limited.close()


# ---------------------------------------------------------------- helpers and main


def b64url(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_claims(token: str) -> dict:
    return json.loads(b64url(token.split(".")[1]))


async def run(binary: str) -> int:
    passed = failed = 0
    with tempfile.TemporaryDirectory() as workdir:
        env = Env(binary, workdir)
        try:
            for name, fn in STEPS:
                if env.client is None and not name.startswith(("msal", "jwks", "azure")):
                    print(f"FAIL {name}: no GraphServiceClient (azure-identity step failed)")
                    failed += 1
                    continue
                try:
                    await fn(env)
                    print(f"ok   {name}")
                    passed += 1
                except Exception as e:  # noqa: BLE001 - every failure is reported by step
                    failed += 1
                    print(f"FAIL {name}: {type(e).__name__}: {e}")
                    traceback.print_exc(limit=3, file=sys.stdout)
            if getattr(env, "credential", None) is not None:
                await env.credential.close()
        finally:
            env.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: msgraph_conformance.py PATH/TO/graph-emulator")
    sys.exit(asyncio.run(run(sys.argv[1])))
