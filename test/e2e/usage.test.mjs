// Metering through the official SDK: GetUsage (an action of scfd's own,
// sent with the SDK's generic request), its durability across a restart,
// provisioned instances metered while idle, and the Prometheus metrics,
// which only the operator reads: with the scrape token or the
// administrator's key, never with a tenant key.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SECRET_ID, SECRET_KEY, Server, image, waitFor } from "./harness.mjs";

const METRICS_TOKEN = "the e2e scrape token";
const server = new Server({ env: { SCFD_METRICS_TOKEN: METRICS_TOKEN } });
let scf;

before(async () => {
  await server.start();
  scf = server.client();
});

after(async () => {
  await server.stop();
  server.cleanup();
});

async function active(FunctionName, extra = {}) {
  await scf.CreateFunction({
    FunctionName,
    Code: { ImageConfig: { ImageType: "personal", ImageUri: image("testfunc") } },
    ...extra,
  });
  const f = await waitFor(
    async () => {
      const g = await scf.GetFunction({ FunctionName });
      return g.Status === "Creating" ? null : g;
    },
    { what: `${FunctionName} to be pulled` },
  );
  assert.equal(f.Status, "Active", JSON.stringify(f.StatusReasons));
}

const usage = (req = {}) => scf.request("GetUsage", req);

const basic = (id, key) => "Basic " + Buffer.from(`${id}:${key}`).toString("base64");

// get fetches path on the API listener with the Authorization header auth.
async function get(path, auth) {
  const res = await fetch(`http://${server.endpoint()}${path}`, { headers: auth ? { Authorization: auth } : {} });
  return { status: res.status, challenge: res.headers.get("www-authenticate"), type: res.headers.get("content-type"), body: await res.text() };
}

// metrics scrapes as the administrator.
async function metrics() {
  const res = await get("/metrics", basic(SECRET_ID, SECRET_KEY));
  assert.equal(res.status, 200, res.body);
  assert.match(res.type, /^text\/plain/);
  return res.body;
}

function metric(text, name, labels) {
  const line = text.split("\n").find((l) => l.startsWith(name + "{") && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line ? Number(line.split(" ").pop()) : undefined;
}

describe("metering", () => {
  const billed = [];

  test("a 256 MB function invoked 4 times for about 500 ms: 4 invocations, 0.25 × the billed seconds", async () => {
    await active("metered", { MemorySize: 256 });
    for (let i = 0; i < 4; i++) {
      const { Result } = await scf.Invoke({ FunctionName: "metered", ClientContext: JSON.stringify({ sleep_ms: 500 }) });
      assert.equal(Result.InvokeResult, 0, JSON.stringify(Result));
      assert.ok(Result.BillDuration >= 500 && Result.BillDuration === Math.ceil(Result.Duration), JSON.stringify(Result));
      billed.push(Result.BillDuration);
    }
    const u = await usage({ FunctionName: "metered" });
    assert.equal(u.Functions.length, 1);
    const f = u.Functions[0];
    assert.equal(f.Invocations, 4);
    assert.equal(f.Errors, 0);
    const want = (0.25 * billed.reduce((a, b) => a + b, 0)) / 1000;
    assert.ok(Math.abs(f.GBSeconds - want) < 1e-9, `GBSeconds ${f.GBSeconds}, want ${want}`);
    assert.ok(f.Cost > 0);
    assert.equal(u.Total.Cost, 0, "within the free tier");
  });

  test("errors are counted, refused calls are not billed", async () => {
    const { Result } = await scf.Invoke({ FunctionName: "metered", ClientContext: JSON.stringify({ status: 500 }) });
    assert.equal(Result.InvokeResult, 430);
    const f = (await usage({ FunctionName: "metered" })).Functions[0];
    assert.equal(f.Invocations, 5);
    assert.equal(f.Errors, 1);
  });

  test("usage survives a restart and is not counted twice", async () => {
    const beforeRestart = await usage({ FunctionName: "metered" });
    await server.stop("SIGKILL");
    await server.start();
    scf = server.client();
    const afterRestart = await usage({ FunctionName: "metered" });
    assert.deepEqual(afterRestart.Functions, beforeRestart.Functions);
  });

  test("/metrics is Prometheus text and its counters move", async () => {
    const before = metric(await metrics(), "scfd_invocations_total", { function: "metered", result: "success" }) ?? 0;
    await scf.Invoke({ FunctionName: "metered", ClientContext: "{}" });
    const text = await metrics();
    assert.equal(metric(text, "scfd_invocations_total", { function: "metered", result: "success" }), before + 1);
    assert.match(text, /^# TYPE scfd_invocation_duration_seconds histogram$/m);
    assert.match(text, /^# TYPE scfd_cold_start_seconds histogram$/m);
    assert.match(text, /^scfd_instances\{state="idle"\} \d+$/m);
    assert.match(text, /^go_goroutines \d+$/m);
    for (const line of text.split("\n")) {
      assert.match(line, /^(#.*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? -?[0-9.e+-]+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (NaN|\+Inf)|)$/, `not Prometheus text: ${line}`);
    }
  });

  test("/metrics answers the scrape token and the administrator's key; a tenant key or none gets 401 and no series", async () => {
    const { Key: tenant } = await scf.request("CreateKey", { Namespaces: ["default"], Role: "FullControl" });
    // The tenant key works on the API, for the very function the series name.
    const tenantScf = server.client({ secretId: tenant.SecretId, secretKey: tenant.SecretKey });
    const { Functions } = await tenantScf.ListFunctions({});
    assert.ok(Functions.some((f) => f.FunctionName === "metered"));

    for (const [who, auth] of [
      ["no credentials", undefined],
      ["a tenant key as Basic credentials", basic(tenant.SecretId, tenant.SecretKey)],
      ["a tenant's SecretKey as a token", `Bearer ${tenant.SecretKey}`],
      ["the administrator's SecretKey as a token", `Bearer ${SECRET_KEY}`],
      ["the administrator's SecretId with a tenant's SecretKey", basic(SECRET_ID, tenant.SecretKey)],
      ["another token", `Bearer ${METRICS_TOKEN}x`],
    ]) {
      const res = await get("/metrics", auth);
      assert.equal(res.status, 401, `${who}: ${res.status} ${res.body.slice(0, 200)}`);
      assert.match(res.challenge ?? "", /Basic realm=/, who);
      assert.doesNotMatch(res.body, /metered|scfd_/, `${who}: the 401 shows metrics`);
    }

    const byToken = await get("/metrics", `Bearer ${METRICS_TOKEN}`);
    assert.equal(byToken.status, 200);
    assert.ok(metric(byToken.body, "scfd_invocations_total", { function: "metered", result: "success" }) > 0);
    assert.ok(metric(await metrics(), "scfd_invocations_total", { function: "metered", result: "success" }) > 0);

    const ready = await get("/healthz/ready");
    assert.equal(ready.status, 200);
    assert.equal(ready.body, "ready\n");
  });

  const world = process.env.SCFD_E2E_WORLD;
  test("outbound traffic is sent", { skip: !world && "needs root for the world namespace" }, async () => {
    const [host] = world.split(":");
    const { Result } = await scf.Invoke({
      FunctionName: "metered",
      ClientContext: JSON.stringify({ udp: { addr: `${host}:9`, count: 100, size: 1000 } }),
    });
    assert.equal(Result.InvokeResult, 0, JSON.stringify(Result));
  });

  test("provisioned instances idle for 20 s are metered in 10 s steps", async () => {
    await active("warm", { MemorySize: 512 });
    const { FunctionVersion } = await scf.PublishVersion({ FunctionName: "warm" });
    await scf.PutProvisionedConcurrencyConfig({ FunctionName: "warm", Qualifier: FunctionVersion, VersionProvisionedConcurrencyNum: 2 });
    await waitFor(
      async () => {
        const c = await scf.GetProvisionedConcurrencyConfig({ FunctionName: "warm", Qualifier: FunctionVersion });
        return c.Allocated[0]?.AvailableProvisionedConcurrencyNum === 2;
      },
      { what: "2 provisioned instances" },
    );
    await new Promise((r) => setTimeout(r, 21000));
    await scf.DeleteProvisionedConcurrencyConfig({ FunctionName: "warm", Qualifier: FunctionVersion });
    const f = (await usage({ FunctionName: "warm" })).Functions[0];
    // Each 10 s step counts the fewest instances idle at its looks × 0.5 GB
    // × 10 s. Steps follow the sampler's clock, not the test's: the 21 s
    // hold one or two full steps of both instances (10 or 20 GB-s), and a
    // step in which the second instance was still starting counts one
    // (5 GB-s). So: at least 10, at most 30, in steps of 5.
    const gbs = f.ProvisionedIdleGBSeconds;
    assert.ok(gbs >= 10 && gbs <= 30 && gbs % 5 === 0, `idle provisioned GB-s ${gbs}`);
    assert.equal(f.Invocations, 0);
  });

  test("outbound traffic is metered from the instance's counters, not its answers to scfd", { skip: !world && "needs root" }, async () => {
    const f = await waitFor(
      async () => {
        const u = (await usage({ FunctionName: "metered" })).Functions[0];
        return u.OutboundBytes > 0 ? u : null;
      },
      { what: "outbound bytes", timeout: 25000, interval: 500 },
    );
    // 100 datagrams of 1000 bytes, plus 28 bytes of IP and UDP headers each.
    assert.equal(f.OutboundBytes, 100 * 1028);
  });
});
