// Asynchronous invocations through the official SDK: Invoke with
// InvocationType Event against real containers of the test function,
// retries of function errors (one log entry per attempt, with RetryNum),
// the event invoke config, the async event actions, and an accepted event
// that survives a kill -9 of the server: at once when the server restarts
// under its SCFD_REPLICA_ID, once the dead server's lease has expired when
// another replica takes over.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Server, expectCode, image, waitFor } from "./harness.mjs";

const server = new Server({ env: { SCFD_REPLICA_ID: "e2e-a" } });
let scf;

before(async () => {
  await server.start();
  scf = server.client();
  await scf.CreateFunction({
    FunctionName: "atf",
    Timeout: 3,
    Code: { ImageConfig: { ImageType: "personal", ImageUri: image("testfunc") } },
  });
  await waitFor(async () => (await scf.GetFunction({ FunctionName: "atf" })).Status === "Active", { what: "atf to be Active" });
  // Retries one second apart (RetryInterval is scfd's addition), so the
  // test does not wait SCF's minute.
  await scf.UpdateFunctionEventInvokeConfig({
    FunctionName: "atf",
    AsyncTriggerConfig: { RetryConfig: [{ RetryNum: 2, RetryInterval: 1 }], MsgTTL: 3600 },
  });
});

after(async () => {
  await server.stop();
  server.cleanup();
});

async function invokeAsync(event) {
  const { Result } = await scf.Invoke({ FunctionName: "atf", InvocationType: "Event", ClientContext: JSON.stringify(event) });
  assert.ok(Result.FunctionRequestId, JSON.stringify(Result));
  return Result.FunctionRequestId;
}

async function waitEvent(id, status, timeout = 60000) {
  return waitFor(
    async () => {
      const { Result } = await scf.GetAsyncEventStatus({ InvokeRequestId: id });
      return Result.Status === status ? Result : null;
    },
    { what: `event ${id} to be ${status}`, timeout, interval: 100 },
  );
}

async function logsOf(id) {
  const { Data } = await scf.GetFunctionLogs({ FunctionName: "atf", FunctionRequestId: id, Limit: 100 });
  return Data.sort((a, b) => a.RetryNum - b.RetryNum);
}

describe("event invoke config", () => {
  test("reads back what was set", async () => {
    const { AsyncTriggerConfig } = await scf.GetFunctionEventInvokeConfig({ FunctionName: "atf" });
    assert.equal(AsyncTriggerConfig.MsgTTL, 3600);
    assert.equal(AsyncTriggerConfig.RetryConfig[0].RetryNum, 2);
  });

  test("refuses a bad MsgTTL and an unknown function", async () => {
    await expectCode(
      () => scf.UpdateFunctionEventInvokeConfig({ FunctionName: "atf", AsyncTriggerConfig: { RetryConfig: [{ RetryNum: 1 }], MsgTTL: 1 } }),
      "LimitExceeded.MsgTTL",
    );
    await expectCode(() => scf.GetFunctionEventInvokeConfig({ FunctionName: "nope" }), "ResourceNotFound.Function");
  });
});

describe("asynchronous Invoke", () => {
  test("a successful event runs once and is FINISHED", async () => {
    const id = await invokeAsync({ print: ["async hello"] });
    const st = await waitEvent(id, "FINISHED");
    assert.equal(st.StatusCode, 200);
    const entries = await waitFor(async () => {
      const l = await logsOf(id);
      return l.length === 1 ? l : null;
    }, { what: "the log entry" });
    assert.equal(entries[0].RetCode, 0);
    assert.equal(entries[0].RetryNum, 0);
    assert.match(entries[0].Log, /^async hello$/m);
    const { EventList, TotalCount } = await scf.ListAsyncEvents({ FunctionName: "atf", InvokeRequestId: id });
    assert.equal(TotalCount, 1);
    assert.equal(EventList[0].Status, "FINISHED");
    assert.equal(EventList[0].Qualifier, "$LATEST");
    assert.match(EventList[0].StartTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.match(EventList[0].EndTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  test("a failing event is retried twice, each attempt logged with its RetryNum, then FAILED", async () => {
    const id = await invokeAsync({ status: 500, body: "failed on purpose" });
    const st = await waitEvent(id, "FAILED");
    assert.equal(st.StatusCode, 430);
    const entries = await waitFor(async () => {
      const l = await logsOf(id);
      return l.length === 3 ? l : null;
    }, { what: "three log entries" });
    assert.deepEqual(entries.map((e) => e.RetryNum), [0, 1, 2]);
    assert.ok(entries.every((e) => e.RetCode === 430), JSON.stringify(entries.map((e) => e.RetCode)));
    const { EventList } = await scf.ListAsyncEvents({ FunctionName: "atf", Status: ["FAILED"] });
    assert.ok(EventList.some((e) => e.InvokeRequestId === id));
  });

  test("TerminateAsyncEvent aborts a running event", async () => {
    const id = await invokeAsync({ sleep_ms: 2500 });
    await waitFor(async () => {
      const { EventList } = await scf.ListAsyncEvents({ FunctionName: "atf", InvokeRequestId: id });
      return EventList[0]?.Status === "RUNNING";
    }, { what: "the event to run" });
    await scf.TerminateAsyncEvent({ FunctionName: "atf", InvokeRequestId: id });
    const st = await waitEvent(id, "ABORTED");
    assert.equal(st.StatusCode, 499);
    await expectCode(() => scf.TerminateAsyncEvent({ FunctionName: "atf", InvokeRequestId: id }), "FailedOperation.AsyncEventStatus");
    await expectCode(() => scf.GetAsyncEventStatus({ InvokeRequestId: "no-such-event" }), "ResourceNotFound.AsyncEvent");
  });

  test("an accepted event survives kill -9 of the server", async () => {
    const id = await invokeAsync({ print: ["survivor"], sleep_ms: 500 });
    await server.stop("SIGKILL");
    await server.start();
    scf = server.client();
    const st = await waitEvent(id, "FINISHED");
    assert.equal(st.StatusCode, 200);
    const entries = await waitFor(async () => {
      const l = (await logsOf(id)).filter((e) => e.RetCode === 0);
      return l.length >= 1 ? l : null;
    }, { what: "the log of the run after the restart" });
    assert.match(entries[0].Log, /^survivor$/m);
  });

  test("a running event of a killed replica runs on another once its lease expires", async () => {
    const id = await invokeAsync({ print: ["orphan"], sleep_ms: 2500 });
    // The attempt starts within milliseconds of the invoke (the function
    // is warm) and runs 2.5 s: a second in, it holds the lease. Its log
    // is written when it ends, so there is nothing to wait for instead.
    await new Promise((r) => setTimeout(r, 1000));
    const killed = Date.now();
    await server.stop("SIGKILL");
    server.extraEnv.SCFD_REPLICA_ID = "e2e-b"; // another replica, over the same database
    await server.start();
    scf = server.client();
    const st = await waitEvent(id, "FINISHED", 60000);
    assert.equal(st.StatusCode, 200);
    // The lease (30 s) outlives the killed replica: the event waited for it.
    assert.ok(Date.now() - killed >= 20000, `rerun ${Date.now() - killed} ms after the kill, before the lease expired`);
    const entries = await waitFor(async () => {
      const l = (await logsOf(id)).filter((e) => e.RetCode === 0);
      return l.length >= 1 ? l : null;
    }, { what: "the log of the rerun" });
    assert.equal(entries.length, 1);
    assert.equal(entries[0].RetryNum, 1);
    assert.match(entries[0].Log, /^orphan$/m);
  });
});
