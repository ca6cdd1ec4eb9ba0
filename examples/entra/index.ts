// Sign-in with Microsoft Entra ID in front of an MCP server.
//
//   ENTRA_TENANT=organizations ENTRA_CLIENT_ID=... ENTRA_CLIENT_SECRET=... npx tsx examples/entra/index.ts
//
// Register an app as docs/providers/azure.md describes and add
// http://localhost:3000/oauth/callback as a Web redirect URI. Optional: ENTRA_SCOPES
// (space-separated scopes the app exposes, such as "files.read"), BASE_URL and PORT
// for another address, MCP_OAUTH_SECRET to keep tokens valid across restarts.
import express from "express";
import { AzureProvider, oauthProxy } from "mcp-oauth-proxy";
import { mountMcpRoute, requireEnvironment } from "../shared/mcp-route.js";

const REQUIRED = {
  ENTRA_TENANT: "organizations, consumers, common, or the Directory (tenant) ID from the app's Overview page",
  ENTRA_CLIENT_ID: "the Application (client) ID from the app's Overview page",
  ENTRA_CLIENT_SECRET: "the Value of a client secret (Certificates & secrets)",
};

requireEnvironment(REQUIRED, "This example signs users in at Microsoft Entra ID, so it needs a real app registration; docs/providers/azure.md shows how to create one.");

const port = Number(process.env.PORT ?? 3000);
const baseUrl = process.env.BASE_URL ?? `http://localhost:${port}`;

const provider = new AzureProvider({
  tenant: process.env.ENTRA_TENANT as string,
  clientId: process.env.ENTRA_CLIENT_ID as string,
  clientSecret: process.env.ENTRA_CLIENT_SECRET as string,
  scopes: (process.env.ENTRA_SCOPES ?? "").split(" ").filter(Boolean),
});
const proxy = oauthProxy({ baseUrl, provider, secret: process.env.MCP_OAUTH_SECRET, resourceName: "Microsoft Entra example MCP server" });

const app = express();
app.use(proxy);

// One stateless MCP endpoint with a `whoami` tool that returns the identity from the verified ID token.
mountMcpRoute(app, "/mcp", "entra-example", [proxy.bearer()], (mcp) => {
  mcp.registerTool("whoami", { description: "Returns your Microsoft account: object id, tenant, user name and display name." }, async (extra) => {
    const upstream = extra.authInfo?.extra?.upstream as { claims: Record<string, unknown>; scopes: string[] } | undefined;
    const { oid, tid, preferred_username: username, name } = upstream?.claims ?? {};
    return { content: [{ type: "text", text: JSON.stringify({ oid, tid, username, name, scopes: upstream?.scopes }) }] };
  });
});

// Loads the tenant's signing keys once, so a wrong tenant fails here rather than at the first sign-in.
await provider.ready();
app.listen(port, "127.0.0.1", () => {
  console.log(`MCP endpoint:       ${baseUrl}/mcp`);
  console.log(`Entra redirect URI: ${proxy.callbackUrl} (add it under Authentication, platform Web)`);
});
