import express4 from "express4";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Harness } from "../helpers/harness.js";
import { runSdkClientFlow } from "./sdk-flow.js";

// The proxy imports "express" for its router and body parsers; here that is Express 4, as in an app that has it as the peer.
vi.mock("express", async () => import("express4"));

describe.each([
  { hostSession: false, title: "without a host session" },
  { hostSession: true, title: "with the host app's own express-session" },
])("MCP SDK client on Express 4 $title", ({ hostSession }) => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await Harness.start({ hostSession, express: express4 as never });
  });
  afterAll(async () => {
    await harness.close();
  });

  it("runs on Express 4", async () => {
    const express = await import("express");
    expect((express.default as unknown as { Router: unknown }).Router).toBe(express4.Router);
  });

  it("signs in, calls a tool, refreshes and revokes", async () => {
    await runSdkClientFlow(harness, "alice");
  });
});
