import { OIDCProvider } from "../oidc.js";
import type { OIDCProviderOptions } from "../oidc.js";
import { originOption } from "./origin.js";

/** Options for `WorkOSProvider`. */
export interface WorkOSProviderOptions extends Omit<OIDCProviderOptions, "issuer"> {
  /** The AuthKit domain, such as "example.authkit.app", or its custom domain. */
  authkitDomain: string;
}

/**
 * Sign-in with WorkOS AuthKit, using an OAuth application from WorkOS Connect:
 * OIDC discovery on `https://<AuthKit domain>`, with `client_secret_basic` at the
 * token endpoint, which is the method AuthKit accepts for confidential clients.
 *
 * @example
 * const provider = new WorkOSProvider({ authkitDomain: "example.authkit.app", clientId, clientSecret });
 */
export class WorkOSProvider extends OIDCProvider {
  constructor(options: WorkOSProviderOptions) {
    super({ ...options, issuer: originOption("authkitDomain", options?.authkitDomain, "example.authkit.app") }, {
      name: "WorkOS",
      scopes: ["openid", "profile", "email", "offline_access"],
      clientAuthentication: "client_secret_basic",
    });
  }
}
