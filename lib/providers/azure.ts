import createDebug from "debug";
import type { JwtPayload } from "jsonwebtoken";
import { OptionError, UpstreamError } from "../errors.js";
import { isObject } from "./http.js";
import { JwksKeySet, verifyIdToken, withoutPlumbing } from "./id-token.js";
import { AuthorizationCodeProvider, withDetails } from "./authorization-code.js";
import type { ProviderEndpoints, TokenGrant } from "./authorization-code.js";
import { endpointProblem } from "./options.js";
import type { ClientOptions } from "./options.js";
import type { UpstreamIdentity, UpstreamTokens } from "./types.js";

const debug = createDebug("mcp-oauth-proxy:provider");

/** Options for `AzureProvider`: an app registration in Microsoft Entra ID, used through the v2.0 endpoints. */
export interface AzureProviderOptions extends Omit<ClientOptions, "subjectClaim"> {
  /**
   * Accounts that may sign in: `"organizations"` (any work or school account), `"consumers"`
   * (personal Microsoft accounts), `"common"` (both), or the directory (tenant) id of one tenant.
   */
  tenant: string;
  /**
   * The app's own API scopes, such as `["files.read"]`; each is qualified with
   * `applicationIdUri`. `openid profile email offline_access` are always requested.
   */
  scopes?: string[];
  /** Prefix of the app's scopes; defaults to `api://<clientId>`, the Application ID URI Entra suggests. */
  applicationIdUri?: string;
  /** Tenant ids whose users may sign in; checks the ID token's `tid`. Useful with the multi-tenant values of `tenant`. */
  allowedTenants?: string[];
  /** Sign-in host of the cloud; defaults to https://login.microsoftonline.com (national clouds use their own). */
  authorityHost?: string;
  /** ID token claim used as the user id: `"oid"` (default, the same in every app of the tenant) or `"sub"` (unique to this app). */
  subjectClaim?: "oid" | "sub";
}

// Requested on every sign-in: an ID token, the user's name and address, and a refresh token.
const OIDC_SCOPES = ["openid", "profile", "email", "offline_access"];

// Tenant id of personal Microsoft accounts (Microsoft identity platform, ID token reference).
const CONSUMERS_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad";

const TENANT_KEYWORDS = new Set(["common", "organizations", "consumers"]);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Entra reports these on a refresh when the user must sign in again (multi-factor or
// conditional access, revoked consent), so the grant cannot continue without the user.
const SIGN_IN_AGAIN_ERRORS = new Set(["interaction_required", "consent_required", "login_required"]);

// Entra ID token claims that are plumbing for the token service, not facts about the user.
const ENTRA_PLUMBING = ["aio", "rh", "uti", "ver"];

/**
 * Sign-in with Microsoft Entra ID (work, school and personal Microsoft accounts)
 * through the v2.0 endpoints. Scopes are qualified with the app's Application ID
 * URI, and the MCP client's `resource` never goes to Entra: the v2.0 endpoints
 * reject it and take scopes instead. The user comes from the verified ID token.
 *
 * @example
 * const provider = new AzureProvider({ tenant: "organizations", clientId, clientSecret, scopes: ["files.read"] });
 */
export class AzureProvider extends AuthorizationCodeProvider {
  protected readonly issuer = undefined;
  /** The tenant segment of the endpoint URLs, lowercase. */
  readonly tenant: string;
  /** Prefix of the app's qualified scopes, without a trailing slash. */
  readonly applicationIdUri: string;
  private readonly authorityHost: string;
  private readonly allowedTenants: Set<string> | undefined;
  private readonly subjectClaim: "oid" | "sub";
  private readonly ownEndpoints: ProviderEndpoints;
  private keySet: JwksKeySet | undefined;

  constructor(options: AzureProviderOptions) {
    if (isObject(options) && isObject(options.authorizationParams) && "resource" in options.authorizationParams) {
      throw new OptionError("authorizationParams.resource", options.authorizationParams.resource, "The v2.0 endpoints take scopes, not resource; list the API's scopes in the scopes option.");
    }
    super({ ...options, scopes: [...OIDC_SCOPES, ...(Array.isArray(options?.scopes) ? options.scopes : [])] }, {
      name: "Microsoft",
      clientAuthentication: "client_secret_post",
    });
    if (options.scopes !== undefined && !Array.isArray(options.scopes)) {
      throw new OptionError("scopes", options.scopes, "Pass an array of the app's scope names, such as [\"files.read\"].");
    }

    this.tenant = tenantOption(options.tenant);
    this.authorityHost = authorityHostOption(options.authorityHost ?? "https://login.microsoftonline.com");
    this.applicationIdUri = applicationIdUriOption(options.applicationIdUri ?? `api://${this.client.clientId}`);
    this.allowedTenants = allowedTenantsOption(options.allowedTenants);
    this.subjectClaim = subjectClaimOption(options.subjectClaim);

    const authority = `${this.authorityHost}/${this.tenant}`;
    this.ownEndpoints = {
      authorizationEndpoint: new URL(`${authority}/oauth2/v2.0/authorize`),
      tokenEndpoint: new URL(`${authority}/oauth2/v2.0/token`),
      userinfoEndpoint: undefined,
      // Entra has no RFC 7009 endpoint; its refresh tokens end with the user's sessions.
      revocationEndpoint: undefined,
      jwksUri: new URL(`${authority}/discovery/v2.0/keys`),
    };
  }

  /** Entra does not send the RFC 9207 `iss` response parameter. */
  async responseIssuer(): Promise<string | undefined> {
    return undefined;
  }

  /** Fetches the tenant's signing keys, which checks the tenant and authority host. */
  override async ready(): Promise<void> {
    await (await this.keys()).load();
  }

  /** Identifies the user from the verified ID token (oid, tid, preferred_username, name, email). */
  override async identify(tokens: UpstreamTokens): Promise<UpstreamIdentity> {
    if (tokens.idToken === undefined) {
      throw new UpstreamError("protocol", `${this.name} returned no ID token for this sign-in`);
    }

    const fixedIssuer = GUID.test(this.tenant) ? this.issuerFor(this.tenant) : undefined;
    const claims = await verifyIdToken(tokens.idToken, await this.keys(), {
      issuer: fixedIssuer,
      audience: this.client.clientId,
      algorithms: ["RS256"],
      providerName: this.name,
    });
    this.checkTenant(claims);

    // NOTE: Entra's email claim is not verified by Entra for every account type; use
    // subject (oid) or preferred_username, never email, to tell users apart.
    return { subject: this.subjectFrom(claims, this.subjectClaim), claims: withoutPlumbing(claims, ENTRA_PLUMBING) };
  }

  protected async defaultEndpoints(): Promise<ProviderEndpoints> {
    return this.ownEndpoints;
  }

  protected override tokenError(error: UpstreamError, grant: TokenGrant): UpstreamError {
    if (grant === "refresh_token" && error.upstreamError !== undefined && SIGN_IN_AGAIN_ERRORS.has(error.upstreamError)) {
      return new UpstreamError("invalid_grant", `${error.message}: the user must sign in again`, withDetails(error));
    }
    return super.tokenError(error, grant);
  }

  /** Qualifies the app's scopes with the Application ID URI; OIDC scopes and full scope URIs pass unchanged. */
  protected override upstreamScope(scope: string): string {
    const mapped = this.client.scopeMap.get(scope);
    if (mapped !== undefined) {
      return mapped;
    }
    return OIDC_SCOPES.includes(scope) || scope.includes("/") ? scope : `${this.applicationIdUri}/${scope}`;
  }

  /** Removes the Application ID URI from the app's granted scopes; other scopes pass unchanged. */
  protected override localScope(scope: string): string {
    const mapped = this.client.scopeMapInverse.get(scope);
    if (mapped !== undefined) {
      return mapped;
    }
    const prefix = `${this.applicationIdUri}/`;
    return scope.startsWith(prefix) ? scope.slice(prefix.length) : scope;
  }

  /**
   * Checks the token's tenant: the issuer must be the tenant's own, and the tenant
   * must fit the `tenant` and `allowedTenants` options. With a multi-tenant value,
   * the issuer depends on the user's tenant, so jsonwebtoken cannot check it.
   */
  private checkTenant(claims: JwtPayload): void {
    const tid = typeof claims.tid === "string" ? claims.tid.toLowerCase() : undefined;
    if (tid === undefined || !GUID.test(tid)) {
      throw new UpstreamError("protocol", `The ID token from ${this.name} has no tenant id (tid claim)`);
    }
    if (claims.iss !== this.issuerFor(tid)) {
      throw new UpstreamError("protocol", `The ID token from ${this.name} was issued by ${JSON.stringify(claims.iss)}, not by its tenant's issuer ${this.issuerFor(tid)}`);
    }

    const personal = tid === CONSUMERS_TENANT;
    const allowed = this.tenant === "common"
      || (this.tenant === "consumers" && personal)
      || (this.tenant === "organizations" && !personal)
      || this.tenant === tid;
    if (!allowed || (this.allowedTenants !== undefined && !this.allowedTenants.has(tid))) {
      debug("rejected tenant tid=%s tenant=%s", tid, this.tenant);
      throw new UpstreamError("protocol", `The user signed in with tenant ${tid}, which the tenant and allowedTenants options do not admit`);
    }
  }

  private issuerFor(tenantId: string): string {
    return `${this.authorityHost}/${tenantId}/v2.0`;
  }

  private async keys(): Promise<JwksKeySet> {
    const { jwksUri } = await this.endpoints();
    const uri = jwksUri ?? (this.ownEndpoints.jwksUri as URL);
    if (this.keySet?.uri.href !== uri.href) {
      this.keySet = new JwksKeySet(uri, this.client.timeoutMs);
    }
    return this.keySet;
  }
}

function tenantOption(value: unknown): string {
  if (typeof value !== "string" || !(TENANT_KEYWORDS.has(value.toLowerCase()) || GUID.test(value))) {
    throw new OptionError("tenant", value, "Use \"organizations\", \"consumers\", \"common\" or the directory (tenant) id, a GUID shown on the tenant's Overview page.");
  }
  return value.toLowerCase();
}

function authorityHostOption(value: unknown): string {
  const problem = endpointProblem(value);
  if (problem !== undefined) {
    throw new OptionError("authorityHost", value, problem);
  }
  const url = new URL(value as string);
  if (url.pathname !== "/" || url.search !== "") {
    throw new OptionError("authorityHost", value, "Set the origin only, such as https://login.microsoftonline.com.");
  }
  return url.origin;
}

function applicationIdUriOption(value: unknown): string {
  if (typeof value !== "string" || !/^[a-z][a-z0-9+.-]*:\S+$/i.test(value)) {
    throw new OptionError("applicationIdUri", value, "Set it to the Application ID URI shown under \"Expose an API\", such as api://<client id>.");
  }
  return value.replace(/\/+$/, "");
}

function allowedTenantsOption(value: unknown): Set<string> | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (!Array.isArray(value) || value.length === 0 || !value.every((tenant) => typeof tenant === "string" && GUID.test(tenant))) {
    throw new OptionError("allowedTenants", value, "Pass a non-empty array of tenant ids (GUIDs), or leave it out.");
  }
  return new Set(value.map((tenant: string) => tenant.toLowerCase()));
}

function subjectClaimOption(value: unknown): "oid" | "sub" {
  if (value !== undefined && value !== "oid" && value !== "sub") {
    throw new OptionError("subjectClaim", value, "Use \"oid\" or \"sub\".");
  }
  return value ?? "oid";
}
