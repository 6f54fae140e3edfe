// The PostgreSQL store (SCFD_DATABASE_URL) through the official SDK: two
// servers share one database; what one runs (its logs, usage and
// metrics) the other reads, a kill -9 loses neither the function nor
// the logs and usage already answered, and a request captured at one
// cannot be replayed as another action at the other. The Go side creates the database
// (SCFD_E2E_DATABASE_URL); without PostgreSQL these tests are skipped.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Server, capture, image, replay, waitFor } from "./harness.mjs";

const url = process.env.SCFD_E2E_DATABASE_URL;
const a = new Server({ env: { SCFD_DATABASE_URL: url } });
const b = new Server({ env: { SCFD_DATABASE_URL: url } });

describe("two servers on one PostgreSQL database", { skip: !url && "SCFD_E2E_DATABASE_URL is not set" }, () => {
  let sa, sb;
  const ids = [];

  before(async () => {
    await Promise.all([a.start(), b.start()]);
    sa = a.client();
    sb = b.client();
  });

  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
    a.cleanup();
    b.cleanup();
  });

  const logs = (scf) => scf.GetFunctionLogs({ FunctionName: "shared", Limit: 100 });
  const usage = (scf) => scf.request("GetUsage", { FunctionName: "shared" });

  test("a function created on one server is seen by the other", async () => {
    await sa.CreateFunction({ FunctionName: "shared", Code: { ImageConfig: { ImageType: "personal", ImageUri: image("testfunc") } } });
    const f = await waitFor(
      async () => {
        const g = await sb.GetFunction({ FunctionName: "shared" });
        return g.Status === "Creating" ? null : g;
      },
      { what: "shared to be pulled, as the other server sees it" },
    );
    assert.equal(f.Status, "Active", JSON.stringify(f.StatusReasons));
  });

  test("logs and usage of one server's invocations are read on the other", async () => {
    for (let i = 0; i < 3; i++) {
      const { Result } = await sa.Invoke({ FunctionName: "shared", ClientContext: JSON.stringify({ n: i }) });
      assert.equal(Result.InvokeResult, 0, JSON.stringify(Result));
      ids.push(Result.FunctionRequestId);
    }
    const { Data } = await waitFor(async () => {
      const r = await logs(sb);
      return r.TotalCount === 3 ? r : null;
    }, { what: "the other server to read 3 logs" });
    assert.deepEqual(Data.map((l) => l.RequestId).sort(), [...ids].sort());
    const u = await waitFor(async () => {
      const r = await usage(sb);
      return r.Functions.length === 1 && r.Functions[0].Invocations === 3 ? r : null;
    }, { what: "the other server to read the usage of 3 invocations" });
    assert.ok(u.Functions[0].GBSeconds > 0);
  });

  test("kill -9 and a restart keep the function, its logs and its usage", async () => {
    await a.stop("SIGKILL");
    await a.start();
    sa = a.client();
    const f = await sa.GetFunction({ FunctionName: "shared" });
    assert.equal(f.Status, "Active");
    const r = await logs(sa);
    assert.equal(r.TotalCount, 3);
    assert.equal((await usage(sa)).Functions[0].Invocations, 3);
  });

  test("the metrics one server flushed are read on the other", async () => {
    const { Result } = await sa.Invoke({ FunctionName: "shared" });
    assert.equal(Result.InvokeResult, 0, JSON.stringify(Result));
    // SIGTERM flushes the minute still in memory.
    const { code } = await a.stop("SIGTERM");
    assert.equal(code, 0, a.output);
    const m = await sb.request("GetFunctionMetrics", { FunctionName: "shared", Period: "hour" });
    const total = m.Invocations.reduce((x, y) => x + y, 0);
    assert.ok(total >= 1, `the other server reads ${total} invocations`);
    await a.start();
    sa = a.client();
  });

  test("a change on one server is served by the other at once", async () => {
    // b read the function before: its cached copy must not outlive the change.
    await sb.GetFunction({ FunctionName: "shared" });
    await sa.UpdateFunctionConfiguration({ FunctionName: "shared", Description: "changed on a" });
    const f = await waitFor(async () => {
      const g = await sb.GetFunction({ FunctionName: "shared" });
      return g.Description === "changed on a" ? g : null;
    }, { timeout: 2000, what: "the other server to see the change" });
    assert.equal(f.Description, "changed on a");
  });

  test("a request captured at one server is not good for another action at the other", async () => {
    await sa.CreateFunction({ FunctionName: "victim", Code: { ImageConfig: { ImageType: "personal", ImageUri: image("testfunc") } } });
    // A proxy in front of a keeps the GetFunction the SDK sent; b has
    // never seen its signature.
    const captured = await capture(a, (sdk) => sdk.GetFunction({ FunctionName: "victim" }));
    assert.equal(captured.answer.FunctionName, "victim");
    // Sent to b from another address (another client, so no grace
    // applies and nothing waits) as DeleteFunction: refused.
    const del = await replay(b, captured, "DeleteFunction");
    assert.equal(del.Error?.Code, "AuthFailure.SignatureFailure", JSON.stringify(del));
    assert.match(del.Error.Message, /already used for GetFunction/);
    // As the same action it is a retry, good at b too...
    const again = await replay(b, captured, "GetFunction");
    assert.equal(again.FunctionName, "victim", JSON.stringify(again));
    // ...which does not make it good for another action there.
    const del2 = await replay(b, captured, "DeleteFunction");
    assert.equal(del2.Error?.Code, "AuthFailure.SignatureFailure", JSON.stringify(del2));
    for (const scf of [sa, sb]) {
      assert.equal((await scf.GetFunction({ FunctionName: "victim" })).FunctionName, "victim");
    }
  });
});
