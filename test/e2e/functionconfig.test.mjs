// Function settings of SCF that scfd enforces rather than ignores:
// PublicNetConfig (the firewall keeps instances from the world),
// AsyncRunEnable (every invocation queued, long runs, no retries),
// ProtocolType WS with its idle timeout, and DnsCache.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Server, expectCode, image, waitFor } from "./harness.mjs";

const server = new Server();
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
      return g.Status === "Creating" || g.Status === "Updating" ? null : g;
    },
    { what: `${FunctionName} to be pulled` },
  );
  assert.equal(f.Status, "Active", JSON.stringify(f.StatusReasons));
  return f;
}

async function invoke(FunctionName, event) {
  const { Result } = await scf.Invoke({ FunctionName, ClientContext: JSON.stringify(event) });
  assert.equal(Result.InvokeResult, 0, JSON.stringify(Result));
  return JSON.parse(Result.RetMsg);
}

const world = process.env.SCFD_E2E_WORLD;

describe("PublicNetConfig", () => {
  test("DISABLE keeps the instances from the world; ENABLE lets them reach it; the switch takes effect", { skip: !world && "needs root for the world namespace" }, async () => {
    const closed = await active("closed", { PublicNetConfig: { PublicNetStatus: "DISABLE", EipConfig: { EipStatus: "DISABLE" } } });
    assert.equal(closed.PublicNetConfig.PublicNetStatus, "DISABLE");
    const blocked = await invoke("closed", { dial: world });
    assert.ok(blocked.dial_error, `a function without public network reached the world: ${JSON.stringify(blocked)}`);

    const open = await active("open");
    assert.equal(open.PublicNetConfig.PublicNetStatus, "ENABLE");
    assert.deepEqual(await invoke("open", { dial: world }), { dialed: "outside" });

    await scf.UpdateFunctionConfiguration({ FunctionName: "open", PublicNetConfig: { PublicNetStatus: "DISABLE" } });
    assert.equal((await scf.GetFunction({ FunctionName: "open" })).PublicNetConfig.PublicNetStatus, "DISABLE");
    assert.ok((await invoke("open", { dial: world })).dial_error, "the update did not close the function's network");
    await scf.UpdateFunctionConfiguration({ FunctionName: "closed", PublicNetConfig: { PublicNetStatus: "ENABLE" } });
    assert.deepEqual(await invoke("closed", { dial: world }), { dialed: "outside" });
  });

  test("values scfd cannot honour are refused", async () => {
    const code = { ImageConfig: { ImageType: "personal", ImageUri: image("testfunc") } };
    await expectCode(() => scf.CreateFunction({ FunctionName: "bad-net", Code: code, PublicNetConfig: { PublicNetStatus: "SOMETIMES" } }), "InvalidParameterValue.PublicNetConfig");
    await expectCode(
      () => scf.CreateFunction({ FunctionName: "bad-eip", Code: code, PublicNetConfig: { PublicNetStatus: "ENABLE", EipConfig: { EipStatus: "ENABLE" } } }),
      "UnsupportedOperation.EipConfig",
    );
  });
});

describe("AsyncRunEnable", () => {
  test("an async-run function answers every invocation with its request id and runs it in the queue", async () => {
    const f = await active("longrun", { AsyncRunEnable: "TRUE", Timeout: 3600 });
    assert.equal(f.AsyncRunEnable, "TRUE");
    assert.equal(f.Timeout, 3600);
    const t0 = Date.now();
    const { Result } = await scf.Invoke({ FunctionName: "longrun", ClientContext: JSON.stringify({ sleep_ms: 1500 }) });
    assert.ok(Date.now() - t0 < 1500, "the synchronous call waited for the function");
    assert.ok(Result.FunctionRequestId, JSON.stringify(Result));
    assert.equal(Result.RetMsg, "");
    const status = async () => (await scf.GetAsyncEventStatus({ InvokeRequestId: Result.FunctionRequestId })).Result.Status;
    await waitFor(async () => (await status()) === "RUNNING", { what: "the event to run" });
    await waitFor(async () => (await status()) === "FINISHED", { what: "the event to finish" });
  });

  test("a failure of an async-run function is not retried", async () => {
    const { Result } = await scf.Invoke({ FunctionName: "longrun", ClientContext: JSON.stringify({ status: 500 }) });
    const id = Result.FunctionRequestId;
    await waitFor(async () => (await scf.GetAsyncEventStatus({ InvokeRequestId: id })).Result.Status === "FAILED", { what: "the event to fail" });
    const logs = await scf.GetFunctionLogs({ FunctionName: "longrun", FunctionRequestId: id });
    assert.equal(logs.TotalCount, 1, `attempts logged: ${JSON.stringify(logs.Data.map((d) => d.RetryNum))}`);
  });

  test("Timeout up to 24 h only with AsyncRunEnable, and only for Event functions", async () => {
    const code = { ImageConfig: { ImageType: "personal", ImageUri: image("testfunc") } };
    await expectCode(() => scf.CreateFunction({ FunctionName: "too-long", Code: code, Timeout: 901 }), "InvalidParameterValue.Timeout");
    await expectCode(() => scf.CreateFunction({ FunctionName: "too-long", Code: code, AsyncRunEnable: "TRUE", Timeout: 86401 }), "InvalidParameterValue.Timeout");
    await expectCode(() => scf.CreateFunction({ FunctionName: "web-async", Code: code, Type: "HTTP", AsyncRunEnable: "TRUE" }), "InvalidParameterValue.AsyncRunEnable");
    await expectCode(() => scf.UpdateFunctionConfiguration({ FunctionName: "longrun", Timeout: 86401 }), "InvalidParameterValue.Timeout");
    await scf.UpdateFunctionConfiguration({ FunctionName: "longrun", Timeout: 86400 });
  });
});

describe("ProtocolType WS and DnsCache", () => {
  test("a WebSocket function keeps its idle timeout; updates change it", async () => {
    const f = await active("sockets", { Type: "HTTP", ProtocolType: "WS", ProtocolParams: { WSParams: { IdleTimeOut: 30 } } });
    assert.equal(f.ProtocolType, "WS");
    assert.equal(f.ProtocolParams.WSParams.IdleTimeOut, 30);
    await scf.UpdateFunctionConfiguration({ FunctionName: "sockets", ProtocolParams: { WSParams: { IdleTimeOut: 600 } } });
    assert.equal((await scf.GetFunction({ FunctionName: "sockets" })).ProtocolParams.WSParams.IdleTimeOut, 600);
    await expectCode(() => scf.UpdateFunctionConfiguration({ FunctionName: "sockets", ProtocolParams: { WSParams: { IdleTimeOut: 1801 } } }), "InvalidParameterValue.ProtocolParams");
    const code = { ImageConfig: { ImageType: "personal", ImageUri: image("testfunc") } };
    await expectCode(() => scf.CreateFunction({ FunctionName: "event-ws", Code: code, ProtocolType: "WS" }), "InvalidParameterValue.ProtocolType");
    await expectCode(() => scf.UpdateFunctionConfiguration({ FunctionName: "longrun", ProtocolParams: { WSParams: { IdleTimeOut: 10 } } }), "InvalidParameterValue.ProtocolParams");
  });

  test("DnsCache is kept for Event functions and refused for HTTP ones", async () => {
    const f = await active("cached", { DnsCache: "TRUE" });
    assert.equal(f.DnsCache, "TRUE");
    await scf.UpdateFunctionConfiguration({ FunctionName: "cached", DnsCache: "FALSE" });
    assert.equal((await scf.GetFunction({ FunctionName: "cached" })).DnsCache, "FALSE");
    await expectCode(() => scf.UpdateFunctionConfiguration({ FunctionName: "sockets", DnsCache: "TRUE" }), "InvalidParameterValue.DnsCache");
  });
});
