// scfd serve with SCFD_BACKEND=kubernetes through the official SDK: every
// instance is a Pod of SCFD_K8S_NAMESPACE in the test cluster. Run through
// `go test -tags k8s ./test/k8s/e2e` (make test-k8s).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { Server, image, waitFor } from "../../e2e/harness.mjs";

const server = new Server({ env: { SCFD_INSTANCE_IDLE_TIMEOUT: "4s" } });
let scf;

function kubectl(...args) {
  return execFileSync(process.env.KUBECTL, ["-n", process.env.SCFD_K8S_NAMESPACE, ...args]).toString();
}

// pods returns the Pods of a function (and version), with their phase.
function pods(fn, version) {
  let sel = `scfd.io/function=${fn}`;
  if (version) sel += `,scfd.io/version=${version}`;
  const list = JSON.parse(kubectl("get", "pods", "-l", sel, "-o", "json"));
  return list.items.filter((p) => !p.metadata.deletionTimestamp);
}

before(async () => {
  await server.start();
  scf = server.client();
  const fns = [
    { FunctionName: "tf", Timeout: 3 },
    { FunctionName: "tfshort", Timeout: 1 },
    { FunctionName: "tfmem", MemorySize: 64 },
    { FunctionName: "tfidle" },
    { FunctionName: "tfwarm" },
  ];
  for (const f of fns) {
    await scf.CreateFunction({ ...f, Code: { ImageConfig: { ImageType: "personal", ImageUri: image("testfunc") } } });
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

describe("Kubernetes backend", () => {
  test("an instance is a Pod of the image by digest, with the function's labels and limits; its output is logged", async () => {
    // Lines travel through the kubelet and the API server (about 1 ms when
    // the machine is idle, more under load); the function prints 50 ms
    // before it answers so that they are in the invocation's own log.
    const r = await invoke("tf", { print: ["printed in a pod"], sleep_ms: 50 });
    assert.equal(r.InvokeResult, 0, JSON.stringify(r));
    assert.equal(JSON.parse(r.RetMsg).env.SCF_FUNCTIONNAME, "tf");
    assert.match(r.Log, /^Init Report /m);
    assert.match(r.Log, /^printed in a pod$/m, "the line is in the invocation's own log");
    assert.ok(r.MemUsage >= 0);
    const [pod, ...rest] = pods("tf");
    assert.equal(rest.length, 0, "one pod");
    const c = pod.spec.containers[0];
    assert.match(c.image, /@sha256:[0-9a-f]{64}$/);
    assert.equal(c.resources.limits.memory, "128Mi");
    assert.equal(c.resources.limits["ephemeral-storage"], "512Mi");
    assert.equal(pod.metadata.labels["scfd.io/namespace"], "default");
    assert.equal(pod.metadata.labels["scfd.io/version"], "LATEST");
    assert.deepEqual(pod.spec.imagePullSecrets, [{ name: "scfd-registry" }]);
    const logs = await waitFor(async () => {
      const { Data } = await scf.GetFunctionLogs({ FunctionName: "tf", FunctionRequestId: r.FunctionRequestId });
      return Data.length === 1 && /printed in a pod/.test(Data[0].Log) && Data;
    }, { what: "the printed line in GetFunctionLogs" });
    assert.equal(logs[0].RetCode, 0);
  });

  test("a warm instance's lines are in its invocation's log", async () => {
    for (let i = 0; i < 5; i++) {
      const r = await invoke("tf", { print: [`warm line ${i}`], stderr: [`warm err ${i}`], sleep_ms: 50 });
      assert.equal(r.InvokeResult, 0, JSON.stringify(r));
      assert.match(r.Log, new RegExp(`^warm line ${i}$`, "m"));
      assert.match(r.Log, new RegExp(`^warm err ${i}$`, "m"));
    }
  });

  test("a timeout is 433 and the next call works", async () => {
    const r = await invoke("tfshort", { sleep_ms: 3000 });
    assert.equal(r.InvokeResult, 433, JSON.stringify(r));
    const next = await invoke("tfshort", {});
    assert.equal(next.InvokeResult, 0, JSON.stringify(next));
  });

  test("exceeding the memory size is 434 (the Pod is OOM-killed)", async () => {
    const r = await invoke("tfmem", { alloc_mb: 200 });
    assert.equal(r.InvokeResult, 434, JSON.stringify(r));
  });

  test("a process exit is 439 and the next call works", async () => {
    const r = await invoke("tf", { exit: 1 });
    assert.equal(r.InvokeResult, 439, JSON.stringify(r));
    assert.match(r.ErrMsg, /exited with code 1/);
    const next = await invoke("tf", {});
    assert.equal(next.InvokeResult, 0, JSON.stringify(next));
  });

  test("a Pod killed under a warm instance is replaced by the next call", async () => {
    assert.equal((await invoke("tf", {})).InvokeResult, 0);
    const [pod] = pods("tf");
    kubectl("delete", "pod", pod.metadata.name, "--wait=true");
    const r = await invoke("tf", {});
    assert.equal(r.InvokeResult, 0, JSON.stringify(r));
    const [now] = pods("tf");
    assert.notEqual(now.metadata.name, pod.metadata.name);
  });

  test("an idle instance's Pod is deleted: scale to zero", async () => {
    assert.equal((await invoke("tfidle", {})).InvokeResult, 0);
    assert.equal(pods("tfidle").length, 1);
    await waitFor(async () => pods("tfidle").length === 0, { timeout: 30000, interval: 250, what: "the idle pod to go" });
  });

  test("provisioned concurrency starts Pods before any call; they serve warm", async () => {
    const { FunctionVersion } = await scf.PublishVersion({ FunctionName: "tfwarm" });
    await scf.PutProvisionedConcurrencyConfig({ FunctionName: "tfwarm", Qualifier: FunctionVersion, VersionProvisionedConcurrencyNum: 2 });
    await waitFor(async () => {
      const c = await scf.GetProvisionedConcurrencyConfig({ FunctionName: "tfwarm", Qualifier: FunctionVersion });
      return c.Allocated[0]?.AvailableProvisionedConcurrencyNum === 2;
    }, { what: "2 provisioned instances" });
    const names = () => pods("tfwarm", FunctionVersion).map((p) => p.metadata.name).sort();
    const before = names();
    assert.equal(before.length, 2);
    const r = await invoke("tfwarm", {}, { Qualifier: FunctionVersion });
    assert.equal(r.InvokeResult, 0, JSON.stringify(r));
    assert.deepEqual(names(), before, "served by a provisioned pod, no new one");
    await scf.DeleteProvisionedConcurrencyConfig({ FunctionName: "tfwarm", Qualifier: FunctionVersion });
    await waitFor(async () => pods("tfwarm", FunctionVersion).length === 0, { timeout: 30000, interval: 250, what: "provisioned pods to go" });
  });
});
