import { OIDCProvider } from "../oidc.js";
import type { OIDCProviderOptions } from "../oidc.js";
import { originOption, segmentOption } from "./origin.js";

/** Options for `ZitadelProvider`. */
export interface ZitadelProviderOptions extends Omit<OIDCProviderOptions, "issuer"> {
  /** The instance domain, such as "example-abc123.zitadel.cloud", or a self-hosted one. */
  domain: string;
  /** Project id to put in the token audience (`urn:zitadel:iam:org:project:id:<id>:aud`). */
  projectId?: string;
  /** Organization id users must belong to (`urn:zitadel:iam:org:id:<id>`). */
  organizationId?: string;
}

/**
 * Sign-in with ZITADEL: OIDC discovery on the instance domain, ZITADEL's reserved
 * scopes for the project audience and the organization, and `offline_access`
 * for a refresh token.
 *
 * @example
 * const provider = new ZitadelProvider({ domain: "example-abc123.zitadel.cloud", clientId, clientSecret, projectId: "2741..." });
 */
export class ZitadelProvider extends OIDCProvider {
  constructor(options: ZitadelProviderOptions) {
    const reserved: string[] = [];
    if (options?.projectId !== undefined) {
      reserved.push(`urn:zitadel:iam:org:project:id:${segmentOption("projectId", options.projectId, "274187450373654531")}:aud`);
    }
    if (options?.organizationId !== undefined) {
      reserved.push(`urn:zitadel:iam:org:id:${segmentOption("organizationId", options.organizationId, "274187450373654531")}`);
    }

    const scopes = options?.scopes ?? ["openid", "profile", "email", "offline_access"];
    super({
      ...options,
      issuer: originOption("domain", options?.domain, "example-abc123.zitadel.cloud"),
      scopes: Array.isArray(scopes) ? [...scopes, ...reserved] : scopes,
    }, { name: "ZITADEL" });
  }
}
