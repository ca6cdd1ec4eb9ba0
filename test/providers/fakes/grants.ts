import { randomId } from "./server.js";

/** A user account at a fake provider. */
export interface FakeUser {
  login: string;
  subject: string;
  name: string;
  email: string;
}

/** An authorization request waiting for the sign-in page to be submitted. */
export interface PendingAuthorization {
  clientId: string;
  redirectUri: string;
  state: string | undefined;
  scopes: string[];
  codeChallenge: string | undefined;
  /** Every authorization request parameter, for provider-specific checks. */
  params: URLSearchParams;
}

/** One user's authorization of the client, behind its codes and tokens. */
export interface FakeGrant {
  id: string;
  user: FakeUser;
  scopes: string[];
  request: PendingAuthorization;
  revoked: boolean;
}

interface CodeEntry {
  grant: FakeGrant;
  expiresAt: number;
}

const CODE_TTL_MS = 10 * 60 * 1000;

/**
 * The state every fake keeps: pending sign-ins, single-use codes, and access and
 * refresh tokens that point at their grant, so revoking a grant ends them all.
 */
export class GrantBook {
  private readonly pending = new Map<string, PendingAuthorization>();
  private readonly codes = new Map<string, CodeEntry>();
  private readonly accessTokens = new Map<string, FakeGrant>();
  private readonly refreshTokens = new Map<string, FakeGrant>();
  private readonly grants = new Set<FakeGrant>();

  startAuthorization(request: PendingAuthorization): string {
    const id = randomId("request-");
    this.pending.set(id, request);
    return id;
  }

  takeAuthorization(id: string | null): PendingAuthorization | undefined {
    const request = id === null ? undefined : this.pending.get(id);
    if (id !== null) {
      this.pending.delete(id);
    }
    return request;
  }

  issueCode(request: PendingAuthorization, user: FakeUser, scopes = request.scopes): string {
    const grant: FakeGrant = { id: randomId("grant-"), user, scopes, request, revoked: false };
    this.grants.add(grant);
    const code = randomId("code-");
    this.codes.set(code, { grant, expiresAt: Date.now() + CODE_TTL_MS });
    return code;
  }

  /** Redeems a code once; a second redemption, like an unknown code, finds nothing. */
  redeemCode(code: string | null): FakeGrant | undefined {
    const entry = code === null ? undefined : this.codes.get(code);
    if (code !== null) {
      this.codes.delete(code);
    }
    return entry !== undefined && entry.expiresAt > Date.now() && !entry.grant.revoked ? entry.grant : undefined;
  }

  issueAccessToken(grant: FakeGrant, prefix = "at-"): string {
    const token = randomId(prefix);
    this.accessTokens.set(token, grant);
    return token;
  }

  issueRefreshToken(grant: FakeGrant, prefix = "rt-"): string {
    const token = randomId(prefix);
    this.refreshTokens.set(token, grant);
    return token;
  }

  findAccessToken(token: string | undefined): FakeGrant | undefined {
    const grant = token === undefined ? undefined : this.accessTokens.get(token);
    return grant?.revoked === false ? grant : undefined;
  }

  findRefreshToken(token: string | null): FakeGrant | undefined {
    const grant = token === null ? undefined : this.refreshTokens.get(token);
    return grant?.revoked === false ? grant : undefined;
  }

  /** Invalidates one refresh token, for providers that rotate them. */
  retireRefreshToken(token: string): void {
    this.refreshTokens.delete(token);
  }

  /** Ends the grant behind an access or refresh token; returns whether one was found. */
  revokeByToken(token: string | null): boolean {
    const grant = token === null ? undefined : this.accessTokens.get(token) ?? this.refreshTokens.get(token);
    if (grant === undefined || grant.revoked) {
      return false;
    }
    grant.revoked = true;
    return true;
  }

  /** Ends every grant issued so far, as a user removing the app's access would. */
  revokeAll(): void {
    for (const grant of this.grants) {
      grant.revoked = true;
    }
  }
}
