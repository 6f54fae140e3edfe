// The SCF control plane through the official SDK: namespaces, functions,
// their errors, and state across a kill -9 of the server (and no container
// of the killed server left after the restart).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
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

// runcContainers lists the server's runc containers, or null when not
// root (no containers run).
function runcContainers() {
  if (process.getuid() !== 0) return null;
  const out = execFileSync("runc", ["--root", path.join(server.dataDir, "runtime", "runc"), "list", "-q"], { encoding: "utf8" });
  return out.split("\n").filter(Boolean);
}

async function waitStatus(FunctionName, Namespace, statuses) {
  return waitFor(
    async () => {
      const f = await scf.GetFunction({ FunctionName, Namespace });
      return statuses.includes(f.Status) ? f : null;
    },
    { what: `${Namespace}/${FunctionName} to be ${statuses.join(" or ")}` },
  );
}

describe("namespaces", () => {
  test("default exists and cannot be deleted", async () => {
    const { Namespaces, TotalCount } = await scf.ListNamespaces({});
    assert.ok(Namespaces.some((n) => n.Name === "default"), JSON.stringify(Namespaces));
    assert.ok(TotalCount >= 1);
    await assert.rejects(scf.DeleteNamespace({ Namespace: "default" }));
  });

  test("create, list, update, delete", async () => {
    await scf.CreateNamespace({ Namespace: "team-a", Description: "first" });
    await expectCode(() => scf.CreateNamespace({ Namespace: "team-a" }), "ResourceInUse.Namespace");
    await scf.UpdateNamespace({ Namespace: "team-a", Description: "second" });
    const { Namespaces } = await scf.ListNamespaces({ Limit: 100 });
    const ns = Namespaces.find((n) => n.Name === "team-a");
    assert.equal(ns.Description, "second");
    assert.match(ns.AddTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await scf.DeleteNamespace({ Namespace: "team-a" });
    await expectCode(() => scf.DeleteNamespace({ Namespace: "team-a" }), "ResourceNotFound.Namespace");
  });

  test("invalid names are refused", async () => {
    await expectCode(() => scf.CreateNamespace({ Namespace: "bad name!" }), "InvalidParameterValue.Namespace");
  });
});

describe("functions", () => {
  test("create from an image, get, list, update, delete", async () => {
    await scf.CreateNamespace({ Namespace: "fns" });
    const created = await scf.CreateFunction({
      FunctionName: "hello",
      Namespace: "fns",
      Type: "Event",
      MemorySize: 256,
      Timeout: 10,
      Description: "says hello",
      Environment: { Variables: [{ Key: "GREETING", Value: "hi" }] },
      Code: { ImageConfig: { ImageType: "personal", ImageUri: image("echo"), Command: "/server", Args: "-v" } },
    });
    assert.ok(created.RequestId);
    await expectCode(
      () => scf.CreateFunction({ FunctionName: "hello", Namespace: "fns", Code: { ImageConfig: { ImageType: "personal", ImageUri: image("echo") } } }),
      "ResourceInUse.Function",
    );

    const f = await waitStatus("hello", "fns", ["Active", "CreateFailed"]);
    assert.equal(f.Status, "Active", JSON.stringify(f.StatusReasons));
    assert.equal(f.FunctionName, "hello");
    assert.equal(f.Namespace, "fns");
    assert.equal(f.FunctionVersion, "$LATEST");
    assert.equal(f.MemorySize, 256);
    assert.equal(f.Timeout, 10);
    assert.equal(f.Type, "Event");
    assert.equal(f.Description, "says hello");
    assert.match(f.FunctionId, /^lam-/);
    assert.deepEqual(f.Environment.Variables, [{ Key: "GREETING", Value: "hi" }]);
    assert.equal(f.ImageConfig.ImageUri, image("echo"));
    assert.equal(f.ImageConfig.Command, "/server");
    assert.equal(f.ImageConfig.Args, "-v");

    await scf.CreateFunction({ FunctionName: "second", Namespace: "fns", Code: { ImageConfig: { ImageType: "personal", ImageUri: image("echo") } } });
    const all = await scf.ListFunctions({ Namespace: "fns" });
    assert.equal(all.TotalCount, 2);
    assert.deepEqual(all.Functions.map((x) => x.FunctionName).sort(), ["hello", "second"]);
    const page = await scf.ListFunctions({ Namespace: "fns", Limit: 1, Offset: 1, Orderby: "FunctionName", Order: "ASC" });
    assert.equal(page.TotalCount, 2);
    assert.deepEqual(page.Functions.map((x) => x.FunctionName), ["second"]);
    const search = await scf.ListFunctions({ Namespace: "fns", SearchKey: "hel" });
    assert.deepEqual(search.Functions.map((x) => x.FunctionName), ["hello"]);

    await scf.UpdateFunctionConfiguration({
      FunctionName: "hello",
      Namespace: "fns",
      MemorySize: 512,
      Environment: { Variables: [{ Key: "GREETING", Value: "hello" }, { Key: "B", Value: "2" }] },
    });
    let g = await scf.GetFunction({ FunctionName: "hello", Namespace: "fns" });
    assert.equal(g.MemorySize, 512);
    assert.equal(g.Timeout, 10, "fields not named keep their value");
    assert.equal(g.Environment.Variables.length, 2);

    await scf.UpdateFunctionCode({
      FunctionName: "hello",
      Namespace: "fns",
      Code: { ImageConfig: { ImageType: "personal", ImageUri: image("echo2") } },
    });
    g = await waitStatus("hello", "fns", ["Active", "UpdateFailed"]);
    assert.equal(g.Status, "Active", JSON.stringify(g.StatusReasons));
    assert.equal(g.ImageConfig.ImageUri, image("echo2"));

    await expectCode(() => scf.DeleteNamespace({ Namespace: "fns" }), "ResourceInUse.Namespace");
    await scf.DeleteFunction({ FunctionName: "hello", Namespace: "fns" });
    await scf.DeleteFunction({ FunctionName: "second", Namespace: "fns" });
    await expectCode(() => scf.GetFunction({ FunctionName: "hello", Namespace: "fns" }), "ResourceNotFound.Function");
    await scf.DeleteNamespace({ Namespace: "fns" });
  });

  test("a missing image ends in CreateFailed with a reason", async () => {
    const missing = image("echo").replace(/:v1$/, "-missing:v1");
    await scf.CreateFunction({ FunctionName: "nope", Code: { ImageConfig: { ImageType: "personal", ImageUri: missing } } });
    const f = await waitStatus("nope", "default", ["CreateFailed"]);
    assert.ok(f.StatusReasons.length > 0);
    assert.match(f.StatusReasons[0].ErrorMessage, /not found|unknown|MANIFEST_UNKNOWN|NAME_UNKNOWN/i);
    await scf.DeleteFunction({ FunctionName: "nope" });
  });

  test("errors for missing, duplicate and invalid input", async () => {
    const img = { ImageConfig: { ImageType: "personal", ImageUri: image("echo") } };
    await expectCode(() => scf.GetFunction({ FunctionName: "ghost" }), "ResourceNotFound.Function");
    await expectCode(() => scf.DeleteFunction({ FunctionName: "ghost" }), "ResourceNotFound.Function");
    await expectCode(() => scf.CreateFunction({ FunctionName: "x", Code: img }), "InvalidParameterValue.FunctionName");
    await expectCode(() => scf.CreateFunction({ FunctionName: "9lives", Code: img }), "InvalidParameterValue.FunctionName");
    await expectCode(() => scf.CreateFunction({ FunctionName: "mem", MemorySize: 200, Code: img }), "InvalidParameterValue.MemorySize");
    await expectCode(() => scf.CreateFunction({ FunctionName: "tmo", Timeout: 901, Code: img }), "LimitExceeded.Timeout");
    await expectCode(() => scf.CreateFunction({ FunctionName: "ns", Namespace: "nowhere", Code: img }), "ResourceNotFound.Namespace");
    const zip = await scf.CreateFunction({ FunctionName: "zip", Code: { ZipFile: "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==" } }).catch((e) => e);
    assert.match(zip.code, /^UnsupportedOperation/);
    await expectCode(() => scf.CreateFunction({ FunctionName: "noimg" }), "MissingParameter.Code");
    const { Functions } = await scf.ListFunctions({ Namespace: "default", Limit: 100 });
    assert.ok(!Functions.some((f) => ["mem", "tmo", "zip", "noimg"].includes(f.FunctionName)), "a refused call changed nothing");
  });

  test("a wrong key is refused", async () => {
    const bad = server.client({ secretKey: "not-the-key" });
    await expectCode(() => bad.ListFunctions({}), "AuthFailure.SignatureFailure");
    const unknown = server.client({ secretId: "AKIDunknown", secretKey: "x" });
    await expectCode(() => unknown.ListFunctions({}), "AuthFailure.SecretIdNotFound");
  });

  test("GetAccount answers", async () => {
    const a = await scf.GetAccount({});
    assert.ok(a.AccountUsage && a.AccountLimit, JSON.stringify(a));
  });
});

describe("restart", () => {
  test("state survives kill -9 and is read back", async () => {
    await scf.CreateNamespace({ Namespace: "durable", Description: "kept" });
    await scf.CreateFunction({
      FunctionName: "keep",
      Namespace: "durable",
      MemorySize: 1024,
      Environment: { Variables: [{ Key: "K", Value: "V" }] },
      Code: { ImageConfig: { ImageType: "personal", ImageUri: image("echo") } },
    });
    await waitStatus("keep", "durable", ["Active"]);
    await server.stop("SIGKILL");
    // The container prepared at deploy outlives the killed server; the
    // restarted one removes it like any instance's.
    const prepared = runcContainers();
    if (prepared) assert.ok(prepared.length >= 1, "no prepared container was left by the killed server");
    await server.start();
    if (prepared) {
      const left = runcContainers().filter((id) => prepared.includes(id));
      assert.deepEqual(left, [], "containers of the killed server left after the restart");
    }
    scf = server.client();
    const f = await scf.GetFunction({ FunctionName: "keep", Namespace: "durable" });
    assert.equal(f.Status, "Active");
    assert.equal(f.MemorySize, 1024);
    assert.deepEqual(f.Environment.Variables, [{ Key: "K", Value: "V" }]);
    const { Namespaces } = await scf.ListNamespaces({ Limit: 100 });
    assert.equal(Namespaces.find((n) => n.Name === "durable").Description, "kept");
  });

  test("a function still pulling when the server dies finishes after the restart", async () => {
    await scf.CreateFunction({ FunctionName: "midpull", Code: { ImageConfig: { ImageType: "personal", ImageUri: image("echo") } } });
    await server.stop("SIGKILL");
    await server.start();
    scf = server.client();
    const f = await waitStatus("midpull", "default", ["Active", "CreateFailed"]);
    assert.equal(f.Status, "Active", JSON.stringify(f.StatusReasons));
  });

  test("SIGTERM stops the server cleanly", async () => {
    const { code, signal } = await server.stop("SIGTERM");
    assert.equal(code, 0, `exit ${code} ${signal}\n${server.output}`);
    await server.start();
    scf = server.client();
  });
});
