import createDebug from "debug";
import type { JwtPayload } from "jsonwebtoken";

import { OptionError, UpstreamError } from "../errors.js";
import { getJson } from "./http.js";
import { allowedAlgorithms, JwksKeySet, verifyIdToken, withoutPlumbing } from "./id-token.js";
import { AuthorizationCodeProvider } from "./authorization-code.js";
import type { ProviderEndpoints } from "./authorization-code.js";
import { endpointProblem, issuerOption } from "./options.js";
import type { ClientDefaults, ClientOptions } from "./options.js";
import type { UpstreamIdentity, UpstreamTokens } from "./types.js";

const debug = createDebug("mcp-oauth-proxy:provider");

/** Options for `OIDCProvider`; endpoints come from the provider's discovery document. */
export interface OIDCProviderOptions extends Omit<ClientOptions, "subjectClaim"> {
  /** Issuer identifier, exactly as the provider's discovery document spells it. */
  issuer: string;
  /** Discovery document URL; defaults to `<issuer>/.well-known/openid-configuration`. */
  discoveryUrl?: string;
}

/** The members of an OpenID Provider's discovery document the proxy uses (OIDC Discovery §3). */
export interface ProviderMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint?: string;
  revocation_endpoint?: string;
  jwks_uri?: string;
  id_token_signing_alg_values_supported?: string[];
  authorization_response_iss_parameter_supported?: boolean;
}

/** A checked discovery document with the URLs parsed from it. */
export interface DiscoveredProvider {
  metadata: ProviderMetadata;
  endpoints: ProviderEndpoints;
  jwksUri: URL | undefined;
}

/**
 * An upstream OpenID Connect provider configured from its issuer, whose
 * endpoints are discovered on first use (or by `ready()`) and whose ID tokens are verified.
 *
 * @example
 * const provider = new OIDCProvider({
 *   issuer: "https://accounts.example.com",
 *   clientId: "proxy",
 *   clientSecret: process.env.UPSTREAM_CLIENT_SECRET,
 * });
 * await provider.ready(); // optional: fail at startup when the issuer is wrong
 */
export class OIDCProvider extends AuthorizationCodeProvider {
  /** The issuer identifier that discovery documents and ID tokens must carry. */
  readonly issuer: string;
  /** URL of the discovery document. */
  readonly discoveryUrl: URL;
  private discovery: Promise<DiscoveredProvider> | undefined;
  private keySet: JwksKeySet | undefined;

  constructor(options: OIDCProviderOptions, defaults: ClientDefaults = {}) {
    super(options, { scopes: ["openid", "profile", "email"], ...defaults });
    this.issuer = issuerOption("issuer", options.issuer);

    // OIDC Discovery §4: the well-known suffix follows the issuer's path, without a doubled "/".
    const discoveryUrl = options.discoveryUrl ?? `${this.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
    const problem = endpointProblem(discoveryUrl);
    if (problem !== undefined) {
      throw new OptionError("discoveryUrl", options.discoveryUrl, problem);
    }
    this.discoveryUrl = new URL(discoveryUrl);

    // OIDC Core §3.1.2.1: without the openid scope the request is plain OAuth and no ID token comes back.
    if (!this.client.scopes.includes("openid")) {
      throw new OptionError("scopes", options.scopes, "Include \"openid\"; OpenID Connect sign-in requires it.");
    }
  }

  /** Fetches and checks the discovery document and the signing keys. */
  override async ready(): Promise<void> {
    await this.endpoints();
    await (await this.keys())?.load();
  }

  async responseIssuer(): Promise<string | undefined> {
    const { metadata } = await this.discover();
    return metadata.authorization_response_iss_parameter_supported === true ? this.issuer : undefined;
  }

  /**
   * Identifies the user from the verified ID token, merged with userinfo claims
   * when the provider has a userinfo endpoint, or from userinfo alone without an ID token.
   */
  override async identify(tokens: UpstreamTokens): Promise<UpstreamIdentity> {
    const endpoints = await this.endpoints();

    if (tokens.idToken === undefined) {
      const claims = await this.fetchUserinfo(tokens);
      return { subject: this.subjectFrom(claims, "sub"), claims: withoutPlumbing(claims) };
    }

    const idClaims = await this.verifyIdToken(tokens.idToken);
    const subject = this.subjectFrom(idClaims, "sub");
    if (endpoints.userinfoEndpoint === undefined) {
      return { subject, claims: withoutPlumbing(idClaims) };
    }

    // OIDC Core, Successful UserInfo Response: userinfo whose sub differs from the ID token's must not be used.
    const userinfo = await this.fetchUserinfo(tokens);
    if (userinfo.sub !== subject) {
      throw new UpstreamError("protocol", `The userinfo response from ${this.name} is for a different subject than the ID token`);
    }
    return { subject, claims: withoutPlumbing({ ...idClaims, ...userinfo }) };
  }

  protected async defaultEndpoints(): Promise<ProviderEndpoints> {
    const { endpoints, jwksUri } = await this.discover();
    return { ...endpoints, jwksUri };
  }

  /** Fetches and checks the discovery document once; a failed attempt is retried on the next call. */
  protected discover(): Promise<DiscoveredProvider> {
    this.discovery ??= this.fetchDiscovery().catch((error: unknown) => {
      this.discovery = undefined;
      throw error;
    });
    return this.discovery;
  }

  /**
   * Adjusts a fetched discovery document before it is checked, for providers whose
   * documents leave out endpoints they have. Returns the document unchanged by default.
   */
  protected amendDiscovery(document: Record<string, unknown>): Record<string, unknown> {
    return document;
  }

  /** Checks provider-specific ID token claims after the standard checks; does nothing by default. */
  protected checkIdTokenClaims(_claims: JwtPayload): void {}

  /**
   * Verifies an ID token's signature with the provider's JWKS and its iss, aud and
   * exp claims (OIDC Core §3.1.3.7), and returns its claims.
   */
  protected async verifyIdToken(idToken: string): Promise<JwtPayload> {
    const { metadata } = await this.discover();
    const keys = await this.keys();
    if (keys === undefined) {
      throw new UpstreamError("protocol", `The discovery document of ${this.issuer} has no jwks_uri, so ID tokens cannot be verified`);
    }

    const claims = await verifyIdToken(idToken, keys, {
      issuer: this.issuer,
      audience: this.client.clientId,
      algorithms: allowedAlgorithms(metadata.id_token_signing_alg_values_supported),
      providerName: this.name,
    });
    this.checkIdTokenClaims(claims);
    return claims;
  }

  private async keys(): Promise<JwksKeySet | undefined> {
    const { jwksUri } = await this.endpoints();
    if (jwksUri === undefined) {
      return undefined;
    }
    if (this.keySet?.uri.href !== jwksUri.href) {
      this.keySet = new JwksKeySet(jwksUri, this.client.timeoutMs);
    }
    return this.keySet;
  }

  private async fetchDiscovery(): Promise<DiscoveredProvider> {
    const document = this.amendDiscovery(await this.fetchDiscoveryDocument());

    // RFC 8414 §3.3 and OIDC Discovery §4.3: a document for another issuer must not be
    // used, or an attacker-controlled document could redirect the proxy's secrets.
    if (document.issuer !== this.issuer) {
      throw new UpstreamError(
        "protocol",
        `The discovery document at ${this.discoveryUrl.href} names issuer ${JSON.stringify(document.issuer)}, but the issuer option is ${JSON.stringify(this.issuer)}. ` +
          "Set the issuer option to exactly the value the provider publishes, including any trailing slash.",
      );
    }

    const endpoints: ProviderEndpoints = {
      authorizationEndpoint: this.discoveredEndpoint(document, "authorization_endpoint", true) as URL,
      tokenEndpoint: this.discoveredEndpoint(document, "token_endpoint", true) as URL,
      userinfoEndpoint: this.discoveredEndpoint(document, "userinfo_endpoint", false),
      revocationEndpoint: this.discoveredEndpoint(document, "revocation_endpoint", false),
    };
    const jwksUri = this.discoveredEndpoint(document, "jwks_uri", false);
    debug("discovered issuer=%s userinfo=%s revocation=%s", this.issuer, endpoints.userinfoEndpoint !== undefined, endpoints.revocationEndpoint !== undefined);
    return { metadata: document as unknown as ProviderMetadata, endpoints, jwksUri };
  }

  // The messages name the URL and what was expected there, because a wrong issuer option
  // usually shows up here first: at ready() or on the first sign-in. The upstream HTTP status
  // goes in the message and `cause`, not in `status`, because the error reports the proxy's
  // own configuration and must not be read as the status of the request that ran into it.
  private async fetchDiscoveryDocument(): Promise<Record<string, unknown>> {
    const expected = `the OpenID Provider configuration of issuer ${JSON.stringify(this.issuer)}`;
    try {
      return await getJson(this.discoveryUrl, { timeoutMs: this.client.timeoutMs });
    } catch (error) {
      if (!(error instanceof UpstreamError)) {
        throw error;
      }
      if (error.status === 404) {
        throw new UpstreamError("protocol", `No discovery document was found at ${this.discoveryUrl.href} (HTTP 404), where ${expected} was expected; check the issuer option or set discoveryUrl`, { cause: error });
      }
      if (error.failure === "protocol") {
        throw new UpstreamError("protocol", `${error.message}, where ${expected} was expected as a JSON document; check the issuer option or set discoveryUrl`, { cause: error });
      }
      throw new UpstreamError(error.failure, `Could not fetch ${expected} from ${this.discoveryUrl.href}: ${error.message}`, { cause: error });
    }
  }

  private discoveredEndpoint(document: Record<string, unknown>, member: string, required: boolean): URL | undefined {
    const value = document[member];
    if (value === undefined && !required) {
      return undefined;
    }

    const problem = value === undefined ? "It is missing." : endpointProblem(value);
    if (problem !== undefined) {
      throw new UpstreamError("protocol", `The discovery document at ${this.discoveryUrl.href} has an unusable ${member}: ${problem}`);
    }
    return new URL(value as string);
  }
}
