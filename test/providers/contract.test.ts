import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TestBrowser } from "../../examples/demo/browser.js";
import { runProviderContract } from "../../lib/providers/contract.js";
import type { ProviderContractFixture } from "../../lib/providers/contract.js";
import { signInAtFake } from "./fakes/browser.js";
import { PROVIDER_CASES } from "./fakes/catalog.js";
import type { ProviderCase } from "./fakes/catalog.js";

// Nothing listens at the redirect URI: the browser stops before requesting it.
const REDIRECT_URI = "http://127.0.0.1:9/oauth/callback";

async function startFixture(providerCase: ProviderCase): Promise<ProviderContractFixture> {
  const running = await providerCase.start(REDIRECT_URI);
  return {
    createProvider: (overrides) => running.createProvider(overrides),
    redirectUri: REDIRECT_URI,
    authorize: (url, login) => signInAtFake(new TestBrowser(), url, login, (next) => next.href.startsWith(REDIRECT_URI)),
    failNextTokenRequest: (fault) => running.failNextTokenRequest(fault),
    requestCount: () => running.server.requests.length,
    users: running.users,
    refreshTokens: providerCase.refreshTokens,
    revocation: providerCase.revocation,
    close: () => running.close(),
  };
}

for (const providerCase of PROVIDER_CASES) {
  runProviderContract(providerCase.name, () => startFixture(providerCase), { describe, it, expect, beforeAll, afterAll });
}
