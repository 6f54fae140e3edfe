// Tenant keys through the official SDK: keys limited to namespaces with a
// role each, created by the administrator with scfd's own actions; what
// each role may and may not call; images pushed to and pulled from scfd's
// registry with tenant keys; a function from another namespace's image
// refused, by name and by digest; disabled and deleted keys refused; keys
// kept across a kill -9.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { SECRET_ID, SECRET_KEY, Server, expectCode, freePort, waitFor } from "./harness.mjs";
import signing from "tencentcloud-sdk-nodejs-common/tencentcloud/common/sign.js";

const Sign = signing.default ?? signing;

let server, admin, registry;
const keys = {}; // by role: { key, scf }

before(async () => {
  registry = `127.0.0.1:${await freePort()}`;
  server = new Server({ env: { SCFD_REGISTRY_ADDR: registry } });
  await server.start();
  admin = server.client();
  await admin.CreateNamespace({ Namespace: "team-a" });
  await admin.CreateNamespace({ Namespace: "team-b" });
});

after(async () => {
  await server.stop();
  server.cleanup();
});

function clientOf(key) {
  return server.client({ secretId: key.SecretId, secretKey: key.SecretKey });
}

// push runs `scfd push` of an OCI layout the Go side wrote, with key.
function push(key, layout, dest) {
  const dir = process.env[`SCFD_E2E_OCI_${layout.toUpperCase()}`];
  if (!dir) throw new Error("run these tests through 'go test ./test/e2e'");
  execFileSync(server.bin, ["push", dir, dest], {
    env: { ...process.env, SCFD_REGISTRY_ADDR: registry, SCFD_SECRET_ID: key.SecretId, SCFD_SECRET_KEY: key.SecretKey },
    stdio: "pipe",
  });
}

function pushFails(key, layout, dest) {
  assert.throws(() => push(key, layout, dest), (e) => /UNAUTHORIZED|DENIED|401|403/.test(String(e.stderr) + e.message), `push of ${dest} succeeded`);
}

// manifest pulls a manifest from scfd's registry with key: its HTTP status.
async function manifest(key, repoRef) {
  const [repo, ref] = repoRef.split(":");
  const r = await fetch(`http://${registry}/v2/${repo}/manifests/${ref}`, {
    headers: {
      Authorization: "Basic " + Buffer.from(`${key.SecretId}:${key.SecretKey}`).toString("base64"),
      Accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  await r.arrayBuffer();
  return r.status;
}

async function waitStatus(scf, FunctionName, Namespace, statuses) {
  return waitFor(
    async () => {
      const f = await scf.GetFunction({ FunctionName, Namespace });
      return statuses.includes(f.Status) ? f : null;
    },
    { what: `${Namespace}/${FunctionName} to be ${statuses.join(" or ")}`, timeout: 60000 },
  );
}

const adminKey = () => ({ SecretId: SECRET_ID, SecretKey: SECRET_KEY });

describe("tenant keys", () => {
  test("the administrator creates keys; the secret is shown once; tenant keys cannot", async () => {
    for (const Role of ["FullControl", "InvokeAndRead", "ReadOnly"]) {
      const { Key } = await admin.request("CreateKey", { Namespaces: ["team-a"], Role, Description: `the ${Role} key` });
      assert.match(Key.SecretId, /^AKID/);
      assert.ok(Key.SecretKey.length >= 32);
      assert.equal(Key.Role, Role);
      assert.equal(Key.Status, "Enabled");
      keys[Role] = { key: Key, scf: clientOf(Key) };
    }
    const { Keys, TotalCount } = await admin.request("ListKeys", { Namespace: "team-a" });
    assert.equal(TotalCount, 3);
    for (const k of Keys) assert.equal(k.SecretKey, undefined, "ListKeys shows a secret");
    await expectCode(() => admin.request("CreateKey", { Namespaces: ["nope"], Role: "ReadOnly" }), "ResourceNotFound.Namespace");
    await expectCode(() => admin.request("CreateKey", { Namespaces: ["team-a"], Role: "Owner" }), "InvalidParameterValue.Role");
    await expectCode(() => keys.FullControl.scf.request("CreateKey", { Namespaces: ["team-a"], Role: "FullControl" }), "UnauthorizedOperation.CAM");
    await expectCode(() => keys.FullControl.scf.request("ListKeys", {}), "UnauthorizedOperation.CAM");
    // A namespace a key names cannot be deleted (and reopened to it later).
    await expectCode(() => admin.DeleteNamespace({ Namespace: "team-a" }), "ResourceInUse.Namespace");
  });

  test("the registry: full control pushes to its namespaces only; every role pulls them", async () => {
    const full = keys.FullControl.key;
    push(full, "echo", "team-a/echo:v1");
    pushFails(full, "echo", "team-b/echo:v1");
    pushFails(keys.InvokeAndRead.key, "echo", "team-a/other:v1");
    pushFails(keys.ReadOnly.key, "echo", "team-a/other:v1");
    push(adminKey(), "testfunc", "team-b/secret:v1");
    for (const role of ["FullControl", "InvokeAndRead", "ReadOnly"]) {
      assert.equal(await manifest(keys[role].key, "team-a/echo:v1"), 200, `${role} pulls its namespace`);
      assert.equal(await manifest(keys[role].key, "team-b/secret:v1"), 401, `${role} pulls another namespace`);
    }
  });

  test("full control: its namespace's functions, not another's, nor namespaces", async () => {
    const scf = keys.FullControl.scf;
    const { Namespaces } = await scf.ListNamespaces({});
    assert.deepEqual(Namespaces.map((n) => n.Name), ["team-a"]);
    await scf.CreateFunction({
      FunctionName: "echo", Namespace: "team-a", MemorySize: 128,
      Code: { ImageConfig: { ImageType: "personal", ImageUri: `${registry}/team-a/echo:v1` } },
    });
    await waitStatus(scf, "echo", "team-a", ["Active"]);
    const r = await scf.Invoke({ FunctionName: "echo", Namespace: "team-a", ClientContext: '{"who":"a"}' });
    assert.equal(r.Result.InvokeResult, 0, JSON.stringify(r.Result));
    await scf.UpdateFunctionConfiguration({ FunctionName: "echo", Namespace: "team-a", Description: "by the team" });
    await expectCode(() => scf.CreateFunction({
      FunctionName: "echo", Namespace: "team-b",
      Code: { ImageConfig: { ImageType: "personal", ImageUri: `${registry}/team-a/echo:v1` } },
    }), "UnauthorizedOperation.CAM");
    await expectCode(() => scf.CreateNamespace({ Namespace: "mine" }), "UnauthorizedOperation.CAM");
    await expectCode(() => scf.PutTotalConcurrencyConfig({ TotalConcurrencyMem: 1024 }), "UnauthorizedOperation.CAM");
  });

  test("another namespace's image in scfd's registry is refused, by name and by digest", async () => {
    const scf = keys.FullControl.scf;
    for (const host of [registry, registry.replace("127.0.0.1", "localhost")]) {
      const e = await expectCode(() => scf.CreateFunction({
        FunctionName: "sneaky", Namespace: "team-a",
        Code: { ImageConfig: { ImageType: "personal", ImageUri: `${host}/team-b/secret:v1` } },
      }), "UnauthorizedOperation.CAM");
      assert.match(e.message, /team-b\/secret/);
      await expectCode(() => scf.UpdateFunctionCode({
        FunctionName: "echo", Namespace: "team-a",
        Code: { ImageConfig: { ImageType: "personal", ImageUri: `${host}/team-b/secret:v1` } },
      }), "UnauthorizedOperation.CAM");
    }
    // The administrator runs team-b's image in team-b, so that it is in
    // scfd's image cache; its digest, named under team-a's repository,
    // still does not reach it.
    await admin.CreateFunction({
      FunctionName: "secret", Namespace: "team-b",
      Code: { ImageConfig: { ImageType: "personal", ImageUri: `${registry}/team-b/secret:v1` } },
    });
    const secret = await waitStatus(admin, "secret", "team-b", ["Active"]);
    assert.match(secret.ImageDigest, /^sha256:/);
    await scf.CreateFunction({
      FunctionName: "sneaky", Namespace: "team-a",
      Code: { ImageConfig: { ImageType: "personal", ImageUri: `${registry}/team-a/echo@${secret.ImageDigest}` } },
    });
    const sneaky = await waitStatus(scf, "sneaky", "team-a", ["Active", "CreateFailed"]);
    assert.equal(sneaky.Status, "CreateFailed", "a team-a function runs team-b's image");
    await scf.DeleteFunction({ FunctionName: "sneaky", Namespace: "team-a" });
  });

  test("invoke and read: invokes and reads, changes nothing", async () => {
    const scf = keys.InvokeAndRead.scf;
    const f = await scf.GetFunction({ FunctionName: "echo", Namespace: "team-a" });
    assert.equal(f.Description, "by the team");
    const r = await scf.Invoke({ FunctionName: "echo", Namespace: "team-a", ClientContext: "{}", LogType: "Tail" });
    assert.equal(r.Result.InvokeResult, 0);
    await scf.GetFunctionLogs({ FunctionName: "echo", Namespace: "team-a" });
    await expectCode(() => scf.UpdateFunctionConfiguration({ FunctionName: "echo", Namespace: "team-a", Description: "x" }), "UnauthorizedOperation.CAM");
    await expectCode(() => scf.DeleteFunction({ FunctionName: "echo", Namespace: "team-a" }), "UnauthorizedOperation.CAM");
    await expectCode(() => scf.PublishVersion({ FunctionName: "echo", Namespace: "team-a" }), "UnauthorizedOperation.CAM");
    await expectCode(() => scf.Invoke({ FunctionName: "secret", Namespace: "team-b", ClientContext: "{}" }), "UnauthorizedOperation.CAM");
  });

  test("read only: reads, neither invokes nor changes", async () => {
    const scf = keys.ReadOnly.scf;
    const { Functions } = await scf.ListFunctions({ Namespace: "team-a" });
    assert.deepEqual(Functions.map((f) => f.FunctionName), ["echo"]);
    await scf.GetFunction({ FunctionName: "echo", Namespace: "team-a" });
    await expectCode(() => scf.Invoke({ FunctionName: "echo", Namespace: "team-a", ClientContext: "{}" }), "UnauthorizedOperation.CAM");
    await expectCode(() => scf.UpdateFunctionConfiguration({ FunctionName: "echo", Namespace: "team-a", Description: "x" }), "UnauthorizedOperation.CAM");
    await expectCode(() => scf.GetFunction({ FunctionName: "secret", Namespace: "team-b" }), "UnauthorizedOperation.CAM");
  });

  test("a signed function URL takes the keys whose role may invoke", async () => {
    const { TriggerInfo } = await keys.FullControl.scf.CreateTrigger({
      FunctionName: "echo", Namespace: "team-a", TriggerName: "signed", Type: "http", TriggerDesc: JSON.stringify({ AuthType: "CAM" }),
    });
    const { Url } = JSON.parse(TriggerInfo.TriggerDesc);
    const body = "{}";
    const signed = ({ SecretId, SecretKey }) => {
      const timestamp = Math.floor(Date.now() / 1000);
      const headers = { "Content-Type": "application/json" };
      const auth = Sign.sign3({ method: "POST", url: Url, payload: Buffer.from(body), timestamp, service: "scf", secretId: SecretId, secretKey: SecretKey, multipart: false, boundary: "", headers });
      return { ...headers, Authorization: auth, "X-TC-Timestamp": String(timestamp) };
    };
    // The refusal of a signature names it; past it, the function answers
    // (here not in the API gateway's format, which the URL reports).
    const refusal = async (key) => {
      const r = await fetch(Url, { method: "POST", body, headers: signed(key) });
      const text = await r.text();
      return /needs a request signed/.test(text) ? text : "";
    };
    assert.match(await refusal(keys.ReadOnly.key), /role ReadOnly may not invoke/);
    assert.equal(await refusal(keys.InvokeAndRead.key), "");
  });

  test("disabling, enabling and deleting a key hold from the next request", async () => {
    const { key, scf } = keys.InvokeAndRead;
    const get = () => scf.GetFunction({ FunctionName: "echo", Namespace: "team-a" });
    const { Key } = await admin.request("UpdateKey", { SecretId: key.SecretId, Status: "Disabled" });
    assert.equal(Key.Status, "Disabled");
    await expectCode(get, "AuthFailure.SecretIdNotFound");
    assert.equal(await manifest(key, "team-a/echo:v1"), 401, "a disabled key pulls");
    await admin.request("UpdateKey", { SecretId: key.SecretId, Status: "Enabled" });
    await get();
    await admin.request("DeleteKey", { SecretId: key.SecretId });
    await expectCode(get, "AuthFailure.SecretIdNotFound");
    await expectCode(() => admin.request("DeleteKey", { SecretId: key.SecretId }), "ResourceNotFound.SecretId");
  });

  test("keys survive kill -9", async () => {
    await admin.request("UpdateKey", { SecretId: keys.ReadOnly.key.SecretId, Status: "Disabled" });
    await server.stop("SIGKILL");
    await server.start();
    await expectCode(() => keys.ReadOnly.scf.GetFunction({ FunctionName: "echo", Namespace: "team-a" }), "AuthFailure.SecretIdNotFound");
    const f = await keys.FullControl.scf.GetFunction({ FunctionName: "echo", Namespace: "team-a" });
    assert.equal(f.Status, "Active");
    const { Keys } = await admin.request("ListKeys", {});
    assert.deepEqual(Keys.map((k) => `${k.Role}:${k.Status}`).sort(), ["FullControl:Enabled", "ReadOnly:Disabled"]);
  });
});
