// Event functions through the official SDK: Invoke and InvokeFunction
// against real containers of the test function (test/e2e/testfunc), their
// failures as SCF status codes, GetFunctionLogs, and the temporary
// credentials a function receives.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Server, expectCode, image, waitFor } from "./harness.mjs";

const server = new Server();
let scf;

before(async () => {
  await server.start();
  scf = server.client();
  await scf.CreateNamespace({ Namespace: "other" });
  const fns = [
    { FunctionName: "tf", Timeout: 3 },
    { FunctionName: "tfshort", Timeout: 1 },
    { FunctionName: "tfmem", MemorySize: 64 },
  ];
  fns.push({ FunctionName: "tfexit", Args: "-mode=exit" }, { FunctionName: "tfnever", Args: "-mode=never-listen" });
  for (const { Args, ...f } of fns) {
    await scf.CreateFunction({ ...f, Code: { ImageConfig: { ImageType: "personal", ImageUri: image("testfunc"), Args } } });
  }
  for (const f of fns) {
    await waitFor(async () => (await scf.GetFunction({ FunctionName: f.FunctionName })).Status === "Active", {
      what: `${f.FunctionName} to be Active`,
    });
  }
});

after(async () => {
  await server.stop();
  server.cleanup();
});

async function invoke(FunctionName, event, extra = {}) {
  const { Result } = await scf.Invoke({ FunctionName, ClientContext: JSON.stringify(event), LogType: "Tail", ...extra });
  return Result;
}

const ids = {};

describe("Invoke", () => {
  test("the function receives the event and SCF's headers; the result carries its answer and log", async () => {
    const r = await invoke("tf", { hello: "world", print: ["printed by the function"] });
    assert.equal(r.InvokeResult, 0, JSON.stringify(r));
    assert.equal(r.ErrMsg, "");
    const echo = JSON.parse(r.RetMsg);
    assert.deepEqual(echo.event, { hello: "world", print: ["printed by the function"] });
    assert.equal(echo.method, "POST");
    assert.equal(echo.path, "/event-invoke");
    assert.equal(echo.contentType, "application/json");
    const h = echo.headers;
    assert.equal(h["X-Scf-Request-Id"], r.FunctionRequestId);
    assert.equal(h["X-Scf-Memory"], "128");
    assert.equal(h["X-Scf-Timeout"], "3000");
    assert.equal(h["X-Scf-Version"], "$LATEST");
    assert.equal(h["X-Scf-Name"], "tf");
    assert.equal(h["X-Scf-Namespace"], "default");
    assert.equal(h["X-Scf-Region"], "ap-guangzhou");
    assert.match(h["X-Scf-Appid"], /^\d+$/);
    assert.match(h["X-Scf-Uin"], /^\d+$/);
    assert.ok(h["X-Scf-Secret-Id"] && h["X-Scf-Secret-Key"] && h["X-Scf-Session-Token"], JSON.stringify(h));
    assert.equal(h["X-Scf-Trigger-Src"], undefined);
    assert.equal(echo.env.SCF_FUNCTIONNAME, "tf");
    assert.ok(r.Duration > 0);
    assert.equal(r.BillDuration, Math.ceil(r.Duration));
    assert.ok(r.MemUsage > 0);
    assert.match(r.Log, new RegExp(`^START RequestId:${r.FunctionRequestId}$`, "m"));
    assert.match(r.Log, /^printed by the function$/m);
    assert.match(r.Log, /^Init Report .* Path:prepared /m, "the first call after Active starts the container prepared at deploy");
    assert.match(r.Log, new RegExp(`^END RequestId:${r.FunctionRequestId}$`, "m"));
    assert.match(r.Log, new RegExp(`^Report RequestId:${r.FunctionRequestId} Duration:[\\d.]+ms Memory:128MB MemUsage:[\\d.]+MB$`, "m"));
    ids.ok = r.FunctionRequestId;
  });

  test("InvokeFunction runs $DEFAULT ($LATEST) with Event", async () => {
    const { Result } = await scf.InvokeFunction({ FunctionName: "tf", Event: JSON.stringify({ n: 1 }) });
    assert.equal(Result.InvokeResult, 0);
    assert.deepEqual(JSON.parse(Result.RetMsg).event, { n: 1 });
    assert.equal(Result.Log, "", "no log without LogType Tail");
  });

  test("a non-2xx answer is a user code exception (430)", async () => {
    const r = await invoke("tf", { status: 500, body: "boom" });
    assert.equal(r.InvokeResult, 430);
    assert.equal(r.RetMsg, "boom");
    assert.equal(r.ErrMsg, "boom");
    ids.user = r.FunctionRequestId;
  });

  test("a timeout is 433, the instance is destroyed, and the next call works", async () => {
    const r = await invoke("tfshort", { sleep_ms: 3000 });
    assert.equal(r.InvokeResult, 433, JSON.stringify(r));
    assert.match(r.ErrMsg, /Invoking task timed out after 1 seconds/);
    assert.equal(JSON.parse(r.ErrMsg).statusCode, 433);
    ids.timeout = r.FunctionRequestId;
    const next = await invoke("tfshort", {});
    assert.equal(next.InvokeResult, 0, JSON.stringify(next));
    assert.match(next.Log, /^Init Report /m, "the next call starts a new instance");
  });

  test("a process exit is 439 and the next call works", async () => {
    const r = await invoke("tf", { exit: 1 });
    assert.equal(r.InvokeResult, 439, JSON.stringify(r));
    assert.match(r.ErrMsg, /exited with code 1/);
    const next = await invoke("tf", {});
    assert.equal(next.InvokeResult, 0);
  });

  test("exceeding the memory size is 434", async () => {
    const r = await invoke("tfmem", { alloc_mb: 200 });
    assert.equal(r.InvokeResult, 434, JSON.stringify(r));
    assert.equal(JSON.parse(r.ErrMsg).statusCode, 434);
  });

  test("an answer over 6 MB is 407", async () => {
    const r = await invoke("tf", { big_mb: 7 });
    assert.equal(r.InvokeResult, 407);
    assert.match(r.ErrMsg, /exceeds the upper limit \(6MB\)/);
  });

  test("an event over 6 MB, or not JSON, is refused", async () => {
    const big = JSON.stringify("a".repeat(6 * 1024 * 1024 + 1));
    await expectCode(() => scf.Invoke({ FunctionName: "tf", ClientContext: big }), "InvalidParameter.RequestTooLarge");
    await expectCode(() => scf.Invoke({ FunctionName: "tf", ClientContext: "{not json" }), "InvalidParameterValue.ClientContext");
  });

  test("an asynchronous invocation answers at once with its request id", async () => {
    const t0 = Date.now();
    const { Result } = await scf.Invoke({ FunctionName: "tf", InvocationType: "Event", ClientContext: JSON.stringify({ sleep_ms: 1000 }) });
    assert.match(Result.FunctionRequestId, /^[0-9a-f-]{36}$/);
    assert.ok(Date.now() - t0 < 1000, "it did not wait for the function");
  });

  test("invoking a missing function fails", async () => {
    await expectCode(() => scf.Invoke({ FunctionName: "ghost" }), "ResourceNotFound.Function");
  });
});

describe("start-up failures", () => {
  test("a server that exits at once fails fast with its output", async () => {
    const t0 = Date.now();
    const r = await invoke("tfexit", {});
    assert.equal(r.InvokeResult, 445, JSON.stringify(r));
    assert.match(r.ErrMsg, /exiting at once on purpose/);
    assert.ok(Date.now() - t0 < 5000);
  });

  test("a server that never listens fails with 446 and SCF's message after 30 s", async () => {
    const r = await invoke("tfnever", {});
    assert.equal(r.InvokeResult, 446);
    assert.equal(
      JSON.parse(r.ErrMsg).errorMessage,
      "The request timed out in 30000ms.Please confirm your http server have enabled listening on port 9000.",
    );
  });
});

describe("GetFunctionLogs", () => {
  test("by request id", async () => {
    const { Data, TotalCount } = await scf.GetFunctionLogs({ FunctionName: "tf", FunctionRequestId: ids.ok });
    assert.equal(TotalCount, 1);
    assert.equal(Data[0].RequestId, ids.ok);
    assert.equal(Data[0].RetCode, 0);
    assert.equal(Data[0].InvokeFinished, 1);
    assert.match(Data[0].Log, /printed by the function/);
    assert.match(Data[0].StartTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  test("by status", async () => {
    const failed = await scf.GetFunctionLogs({ FunctionName: "tf", Filter: { RetCode: "not0" }, Limit: 100 });
    assert.ok(failed.Data.every((d) => d.RetCode !== 0));
    assert.ok(failed.Data.some((d) => d.RequestId === ids.user));
    const timeouts = await scf.GetFunctionLogs({ FunctionName: "tfshort", Filter: { RetCode: "TimeLimitExceeded" } });
    assert.deepEqual(timeouts.Data.map((d) => d.RequestId), [ids.timeout]);
    const user = await scf.GetFunctionLogs({ FunctionName: "tf", Filter: { RetCode: "UserCodeException" }, Limit: 100 });
    assert.ok(user.Data.some((d) => d.RequestId === ids.user));
    const ok = await scf.GetFunctionLogs({ FunctionName: "tf", Filter: { RetCode: "is0" }, Limit: 100 });
    assert.ok(ok.Data.every((d) => d.RetCode === 0));
    assert.ok(ok.TotalCount >= 3);
  });
});

describe("temporary credentials", () => {
  test("work for the function's namespace only", async () => {
    const { headers } = JSON.parse((await invoke("tf", {})).RetMsg);
    const fnClient = server.client({
      secretId: headers["X-Scf-Secret-Id"],
      secretKey: headers["X-Scf-Secret-Key"],
      token: headers["X-Scf-Session-Token"],
    });
    const r = await fnClient.Invoke({ FunctionName: "tf", ClientContext: "{}" });
    assert.equal(r.Result.InvokeResult, 0);
    await expectCode(() => fnClient.ListFunctions({ Namespace: "other" }), "UnauthorizedOperation.CAM");
    await expectCode(() => fnClient.CreateNamespace({ Namespace: "mine" }), "UnauthorizedOperation.CAM");
    const noToken = server.client({ secretId: headers["X-Scf-Secret-Id"], secretKey: headers["X-Scf-Secret-Key"] });
    await expectCode(() => noToken.ListFunctions({}), "AuthFailure.TokenFailure");
  });
});
