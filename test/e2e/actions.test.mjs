// The actions and fields a team moving from SCF relies on, through the
// official SDK against a real `scfd serve`: updates that publish,
// GetRequestStatus of sync, async and web requests, CopyFunction (with a
// key limited to a namespace), ListFunctions' Type and tag filters with
// the concurrency each function holds, GetAccount's allocations,
// ListTriggers' order and filters, Command and Args, and the 446 message
// of a function on another port.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Server, expectCode, image, waitFor } from "./harness.mjs";

const server = new Server();
let scf;
let wrongPort; // the invocation of a function whose ImagePort nobody listens on, started first: it takes 30 s

const code = (uri, extra = {}) => ({ ImageConfig: { ImageType: "personal", ImageUri: uri, ...extra } });

async function active(FunctionName, Namespace = "default") {
  const f = await waitFor(
    async () => {
      const g = await scf.GetFunction({ FunctionName, Namespace });
      return g.Status === "Creating" || g.Status === "Updating" ? null : g;
    },
    { what: `${Namespace}/${FunctionName} to settle` },
  );
  assert.equal(f.Status, "Active", JSON.stringify(f.StatusReasons));
  return f;
}

async function invoke(FunctionName, event = {}, extra = {}) {
  const { Result } = await scf.Invoke({ FunctionName, ClientContext: JSON.stringify(event), ...extra });
  return Result;
}

before(async () => {
  await server.start();
  scf = server.client();
  await scf.CreateNamespace({ Namespace: "copies" });
  await scf.CreateFunction({ FunctionName: "tf", Timeout: 5, Code: code(image("testfunc")) });
  await scf.CreateFunction({ FunctionName: "porty", Code: code(image("testfunc"), { ImagePort: 9001 }) });
  await active("tf");
  await active("porty");
  wrongPort = invoke("porty");
});

after(async () => {
  await server.stop();
  server.cleanup();
});

describe("updates with Publish", () => {
  test("UpdateFunctionCode with Publish TRUE publishes the new image once it is Active", async () => {
    await scf.CreateFunction({ FunctionName: "pub", Code: code(image("echo")) });
    await active("pub");
    await scf.UpdateFunctionCode({ FunctionName: "pub", Code: code(image("echo2")), Publish: "TRUE" });
    const versions = await waitFor(
      async () => {
        const { FunctionVersion } = await scf.ListVersionByFunction({ FunctionName: "pub" });
        return FunctionVersion.length === 2 ? FunctionVersion : null;
      },
      { what: "version 1 to be published" },
    );
    assert.deepEqual(versions, ["$LATEST", "1"]);
    const v1 = await scf.GetFunction({ FunctionName: "pub", Qualifier: "1" });
    assert.equal(v1.ImageConfig.ImageUri, image("echo2"));
    assert.equal(v1.Status, "Active");
    assert.equal((await scf.GetFunction({ FunctionName: "pub" })).Status, "Active");
    const r = await invoke("pub", {}, { Qualifier: "1" });
    assert.equal(r.InvokeResult, 0, JSON.stringify(r));
    assert.equal(JSON.parse(r.RetMsg).version, "1");
  });

  test("UpdateFunctionConfiguration with Publish TRUE publishes the new configuration at once", async () => {
    await scf.UpdateFunctionConfiguration({ FunctionName: "pub", MemorySize: 256, Publish: "TRUE" });
    const { FunctionVersion } = await scf.ListVersionByFunction({ FunctionName: "pub" });
    assert.deepEqual(FunctionVersion, ["$LATEST", "1", "2"]);
    assert.equal((await scf.GetFunction({ FunctionName: "pub", Qualifier: "2" })).MemorySize, 256);
    assert.equal((await scf.GetFunction({ FunctionName: "pub", Qualifier: "1" })).MemorySize, 128);
  });

  test("an update without Publish publishes nothing", async () => {
    await scf.UpdateFunctionCode({ FunctionName: "pub", Code: code(image("echo")) });
    await active("pub");
    const { FunctionVersion } = await scf.ListVersionByFunction({ FunctionName: "pub" });
    assert.deepEqual(FunctionVersion, ["$LATEST", "1", "2"]);
  });
});

describe("GetRequestStatus", () => {
  const status = async (FunctionRequestId, FunctionName = "tf") => scf.GetRequestStatus({ FunctionName, FunctionRequestId });

  test("of a synchronous invocation: its result, duration and memory", async () => {
    const ok = await invoke("tf", { body: "fine" });
    const failed = await invoke("tf", { status: 500, body: "broken" });
    let s = await status(ok.FunctionRequestId);
    assert.equal(s.TotalCount, 1);
    assert.equal(s.Data[0].RequestId, ok.FunctionRequestId);
    assert.equal(s.Data[0].FunctionName, "tf");
    assert.equal(s.Data[0].RetCode, 0);
    assert.equal(s.Data[0].RetMsg, "fine");
    assert.equal(s.Data[0].RetryNum, 0);
    assert.ok(s.Data[0].Duration > 0 && s.Data[0].MemUsage > 0, JSON.stringify(s.Data[0]));
    assert.match(s.Data[0].StartTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    s = await status(failed.FunctionRequestId);
    assert.equal(s.Data[0].RetCode, -1);
    assert.equal(s.Data[0].RetMsg, "broken");
  });

  test("of an asynchronous invocation: running, then its result", async () => {
    const { Result } = await scf.Invoke({ FunctionName: "tf", InvocationType: "Event", ClientContext: JSON.stringify({ sleep_ms: 1500, body: "late" }) });
    const id = Result.FunctionRequestId;
    const running = await status(id);
    assert.equal(running.TotalCount, 1);
    assert.equal(running.Data[0].RetCode, 1, JSON.stringify(running));
    const done = await waitFor(
      async () => {
        const s = await status(id);
        return s.Data[0].RetCode !== 1 ? s.Data[0] : null;
      },
      { what: "the async invocation to end" },
    );
    assert.equal(done.RetCode, 0);
    assert.equal(done.RetMsg, "late");
    assert.ok(done.Duration >= 1500, `Duration ${done.Duration}`);
  });

  test("of a web request, by the id in its X-Scf-Request-Id", async () => {
    await scf.CreateFunction({ FunctionName: "site", Type: "HTTP", Code: code(image("echo")) });
    await active("site");
    const res = await fetch(`http://127.0.0.1:${server.gatewayPort}/default/site/page`);
    assert.equal(await res.text(), "hello from GET /page\n");
    const id = res.headers.get("x-scf-request-id");
    const s = await status(id, "site");
    assert.equal(s.TotalCount, 1);
    assert.equal(s.Data[0].RetCode, 0);
    assert.equal(s.Data[0].RequestId, id);
  });

  test("an unknown request, or another function's, is not found; a time range needs both ends", async () => {
    const ok = await invoke("tf");
    assert.equal((await status("no-such-request")).TotalCount, 0);
    assert.deepEqual((await status(ok.FunctionRequestId, "pub")).Data, []);
    await expectCode(() => scf.GetRequestStatus({ FunctionName: "ghost", FunctionRequestId: ok.FunctionRequestId }), "ResourceNotFound.Function");
    await expectCode(
      () => scf.GetRequestStatus({ FunctionName: "tf", FunctionRequestId: ok.FunctionRequestId, StartTime: "2026-01-01 00:00:00" }),
      "InvalidParameterValue.StartTimeOrEndTime",
    );
  });
});

describe("CopyFunction", () => {
  test("to another namespace, with its configuration, and then runs there", async () => {
    await scf.CreateFunction({
      FunctionName: "orig",
      Description: "the original",
      MemorySize: 256,
      Timeout: 7,
      Environment: { Variables: [{ Key: "GREETING", Value: "hi" }] },
      Tags: [{ Key: "team", Value: "core" }],
      Code: code(image("echo")),
    });
    await active("orig");
    await scf.CopyFunction({ FunctionName: "orig", NewFunctionName: "twin", TargetNamespace: "copies" });
    const twin = await active("twin", "copies");
    assert.equal(twin.Description, "the original");
    assert.equal(twin.MemorySize, 256);
    assert.equal(twin.Timeout, 7);
    assert.deepEqual(twin.Environment.Variables, [{ Key: "GREETING", Value: "hi" }]);
    assert.deepEqual(twin.Tags, [{ Key: "team", Value: "core" }]);
    assert.equal(twin.ImageConfig.ImageUri, image("echo"));
    const { Result } = await scf.Invoke({ FunctionName: "twin", Namespace: "copies", ClientContext: "{}" });
    const echo = JSON.parse(Result.RetMsg);
    assert.equal(echo.message, "hi");
    assert.equal(echo.headers["X-Scf-Namespace"], "copies");
  });

  test("without its configuration, and over an existing function only with Override", async () => {
    await expectCode(() => scf.CopyFunction({ FunctionName: "orig", NewFunctionName: "twin", TargetNamespace: "copies" }), "ResourceInUse.FunctionName");
    await scf.CopyFunction({
      FunctionName: "orig", NewFunctionName: "twin", TargetNamespace: "copies", Override: true, CopyConfiguration: false, Description: "bare",
    });
    const twin = await active("twin", "copies");
    assert.equal(twin.MemorySize, 128);
    assert.equal(twin.Description, "bare");
    assert.deepEqual(twin.Environment.Variables, []);
    await expectCode(() => scf.CopyFunction({ FunctionName: "orig", NewFunctionName: "orig", Override: true }), "InvalidParameterValue.FunctionName");
    await expectCode(() => scf.CopyFunction({ FunctionName: "orig", NewFunctionName: "far", TargetRegion: "ap-shanghai" }), "UnsupportedOperation.Region");
  });

  test("with a key limited to one namespace: neither from nor to another", async () => {
    const { headers } = JSON.parse((await invoke("tf")).RetMsg);
    const fnKey = server.client({
      secretId: headers["X-Scf-Secret-Id"], secretKey: headers["X-Scf-Secret-Key"], token: headers["X-Scf-Session-Token"],
    });
    await expectCode(() => fnKey.CopyFunction({ FunctionName: "orig", NewFunctionName: "stolen", TargetNamespace: "copies" }), "UnauthorizedOperation.CAM");
    await expectCode(() => fnKey.CopyFunction({ FunctionName: "twin", Namespace: "copies", NewFunctionName: "stolen" }), "UnauthorizedOperation.CAM");
    await expectCode(
      () => fnKey.CopyFunction({ FunctionName: "orig", NewFunctionName: "twin", TargetNamespace: "copies", Override: true }),
      "UnauthorizedOperation.CAM",
    );
    assert.equal((await scf.GetFunction({ FunctionName: "twin", Namespace: "copies" })).Description, "bare");
    await fnKey.CopyFunction({ FunctionName: "orig", NewFunctionName: "mine" });
    await active("mine");
  });
});

describe("ListFunctions, GetAccount", () => {
  test("filter on Type and tags, and show Tags", async () => {
    await scf.CreateFunction({ FunctionName: "web-a", Type: "HTTP", Tags: [{ Key: "env", Value: "prod" }], Code: code(image("echo")) });
    await scf.CreateFunction({ FunctionName: "ev-a", Tags: [{ Key: "env", Value: "prod" }, { Key: "owner", Value: "ops" }], Code: code(image("echo")) });
    await scf.CreateFunction({ FunctionName: "ev-b", Tags: [{ Key: "env", Value: "dev" }], Code: code(image("echo")) });
    assert.deepEqual((await scf.GetFunction({ FunctionName: "ev-a" })).Tags, [{ Key: "env", Value: "prod" }, { Key: "owner", Value: "ops" }]);
    const names = async (Filters) => (await scf.ListFunctions({ Filters, Orderby: "FunctionName", Order: "ASC", Limit: 100 })).Functions.map((f) => f.FunctionName);
    assert.deepEqual(await names([{ Name: "Type", Values: ["HTTP"] }]), ["site", "web-a"]);
    assert.deepEqual(await names([{ Name: "tag-env", Values: ["prod"] }]), ["ev-a", "web-a"]);
    assert.deepEqual(await names([{ Name: "tag-env", Values: ["prod"] }, { Name: "Type", Values: ["Event"] }]), ["ev-a"]);
    assert.deepEqual(await names([{ Name: "tag-env", Values: ["prod", "dev"] }, { Name: "tag-owner", Values: ["ops"] }]), ["ev-a"]);
    assert.deepEqual(await names([{ Name: "tag-nobody", Values: ["x"] }]), []);
  });

  test("report what each function and namespace holds of the concurrency quota", async () => {
    await scf.PutReservedConcurrencyConfig({ FunctionName: "ev-a", ReservedConcurrencyMem: 1024 });
    await active("ev-b");
    await scf.PublishVersion({ FunctionName: "ev-b" });
    await scf.PutProvisionedConcurrencyConfig({ FunctionName: "ev-b", Qualifier: "1", VersionProvisionedConcurrencyNum: 2 });
    const { Functions } = await scf.ListFunctions({ SearchKey: "ev-", Orderby: "FunctionName", Order: "ASC" });
    assert.deepEqual(
      Functions.map((f) => [f.FunctionName, f.ReservedConcurrencyMem, f.TotalProvisionedConcurrencyMem]),
      [["ev-a", 1024, 0], ["ev-b", 0, 256]],
    );
    const { AccountUsage } = await scf.GetAccount({});
    const ns = Object.fromEntries(AccountUsage.Namespace.map((n) => [n.Namespace, n]));
    assert.equal(ns.default.TotalAllocatedConcurrencyMem, 1024);
    assert.equal(ns.default.TotalAllocatedProvisionedMem, 256);
    assert.equal(ns.copies.TotalAllocatedConcurrencyMem, 0);
    assert.equal(AccountUsage.TotalAllocatedConcurrencyMem, 1024);
    await scf.DeleteProvisionedConcurrencyConfig({ FunctionName: "ev-b", Qualifier: "1" });
  });
});

describe("ListTriggers", () => {
  test("newest change first by default, filtered by TriggerName and Description", async () => {
    const timer = (TriggerName, Description) =>
      scf.CreateTrigger({ FunctionName: "tf", TriggerName, Type: "timer", TriggerDesc: "0 0 3 * * * *", Description });
    await timer("first", "the nightly report");
    await timer("second", "the weekly digest");
    await scf.UpdateTrigger({ FunctionName: "tf", TriggerName: "first", Type: "timer", TriggerDesc: "0 0 4 * * * *" });
    const names = async (req = {}) => (await scf.ListTriggers({ FunctionName: "tf", ...req })).Triggers.map((t) => t.TriggerName);
    assert.deepEqual(await names(), ["first", "second"]);
    assert.deepEqual(await names({ OrderBy: "add_time" }), ["second", "first"]);
    assert.deepEqual(await names({ Filters: [{ Name: "TriggerName", Values: ["second"] }] }), ["second"]);
    assert.deepEqual(await names({ Filters: [{ Name: "Description", Values: ["nightly"] }] }), ["first"]);
  });
});

describe("Command and Args", () => {
  test("a Command without Args keeps the image's CMD", async () => {
    // The image's CMD is -mode=exit: the server exits at once when it is kept.
    await scf.CreateFunction({ FunctionName: "cmd", Code: code(image("testfunccmd"), { Command: "/server" }) });
    await active("cmd");
    const r = await invoke("cmd");
    assert.equal(r.InvokeResult, 445, JSON.stringify(r));
    assert.match(r.ErrMsg, /exiting at once on purpose/);
    await scf.UpdateFunctionCode({ FunctionName: "cmd", Code: code(image("testfunccmd"), { Command: "/server", Args: "-mode=" }) });
    await active("cmd");
    assert.equal((await invoke("cmd")).InvokeResult, 0);
  });

  test("that cannot be split are refused when set", async () => {
    await expectCode(
      () => scf.CreateFunction({ FunctionName: "badcmd", Code: code(image("testfunc"), { Command: 'sh -c "echo' }) }),
      "InvalidParameterValue.Command",
    );
    await expectCode(() => scf.UpdateFunctionCode({ FunctionName: "cmd", Code: code(image("testfunc"), { Args: "'a" }) }), "InvalidParameterValue.Args");
    assert.equal((await scf.GetFunction({ FunctionName: "cmd" })).ImageConfig.Args, "-mode=");
  });
});

describe("ImagePort", () => {
  test("the 446 message names the port nobody listened on", async () => {
    const r = await wrongPort;
    assert.equal(r.InvokeResult, 446, JSON.stringify(r));
    assert.equal(
      JSON.parse(r.ErrMsg).errorMessage,
      "The request timed out in 30000ms.Please confirm your http server have enabled listening on port 9001.",
    );
  });
});
