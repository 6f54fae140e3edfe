// SCF's error codes through the official SDK: one row per refusal, each
// the code SCF documents for it in the per-action error lists of its SDKs
// (see "Where scfd differs" in the README for the choices where SCF is
// silent).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Server, expectCode, image, waitFor } from "./harness.mjs";

const server = new Server();
let scf;

const code = (ImageUri = image("echo")) => ({ ImageConfig: { ImageType: "personal", ImageUri } });

async function active(FunctionName) {
  return waitFor(
    async () => {
      const f = await scf.GetFunction({ FunctionName });
      assert.notEqual(f.Status, "CreateFailed", JSON.stringify(f.StatusReasons));
      return f.Status === "Active" ? f : null;
    },
    { what: `${FunctionName} to be Active` },
  );
}

let asyncId; // an asynchronous event that has ended
let fnClient; // temporary credentials of a function in namespace default

before(async () => {
  await server.start();
  scf = server.client();
  await scf.CreateFunction({ FunctionName: "ev", Code: code() });
  await scf.CreateFunction({ FunctionName: "web", Type: "HTTP", Code: code() });
  await scf.CreateFunction({ FunctionName: "tf", Code: code(image("testfunc")) });
  await active("ev");
  await active("web");
  await active("tf");
  await scf.PublishVersion({ FunctionName: "ev" });
  await scf.CreateAlias({ Name: "prod", FunctionName: "ev", FunctionVersion: "1" });
  await scf.CreateNamespace({ Namespace: "other" });
  await scf.PutReservedConcurrencyConfig({ FunctionName: "ev", ReservedConcurrencyMem: 10000 });

  // testfunc shows its temporary credentials (the echo image hides them).
  const r = await scf.Invoke({ FunctionName: "tf", ClientContext: "{}" });
  const { headers } = JSON.parse(r.Result.RetMsg);
  fnClient = server.client({
    secretId: headers["X-Scf-Secret-Id"],
    secretKey: headers["X-Scf-Secret-Key"],
    token: headers["X-Scf-Session-Token"],
  });
  ({ Result: { FunctionRequestId: asyncId } } = await scf.Invoke({ FunctionName: "ev", InvocationType: "Event", ClientContext: "{}" }));
  await waitFor(async () => (await scf.GetAsyncEventStatus({ InvokeRequestId: asyncId })).Result.Status === "FINISHED", {
    what: "the async event to finish",
  });
});

after(async () => {
  await server.stop();
  server.cleanup();
});

const big = JSON.stringify("a".repeat(6 << 20));

// [what, call, SCF's code]
const table = [
  ["event over 6 MB", () => scf.Invoke({ FunctionName: "ev", ClientContext: big }), "InvalidParameter.RequestTooLarge"],
  ["async event over 128 KB", () => scf.Invoke({ FunctionName: "ev", InvocationType: "Event", ClientContext: JSON.stringify("a".repeat(129 << 10)) }), "InvalidParameter.RequestTooLarge"],
  ["Invoke of an HTTP function", () => scf.Invoke({ FunctionName: "web", ClientContext: "{}" }), "InvalidParameterValue.FunctionType"],
  ["InvokeFunction of an HTTP function", () => scf.InvokeFunction({ FunctionName: "web", Event: "{}" }), "InvalidParameterValue.FunctionType"],
  ["invoke of an unknown version", () => scf.Invoke({ FunctionName: "ev", Qualifier: "9", ClientContext: "{}" }), "ResourceNotFound.Qualifier"],
  ["invoke of an unknown alias", () => scf.Invoke({ FunctionName: "ev", Qualifier: "ghost", ClientContext: "{}" }), "ResourceNotFound.Qualifier"],
  ["async invoke of an unknown alias", () => scf.Invoke({ FunctionName: "ev", Qualifier: "ghost", InvocationType: "Event", ClientContext: "{}" }), "ResourceNotFound.Qualifier"],
  ["InvokeFunction of an unknown alias", () => scf.InvokeFunction({ FunctionName: "ev", Qualifier: "ghost", Event: "{}" }), "ResourceNotFound.Qualifier"],
  ["invoke of an unknown function", () => scf.Invoke({ FunctionName: "nope", Qualifier: "ghost", ClientContext: "{}" }), "ResourceNotFound.Function"],
  ["alias to a missing version", () => scf.CreateAlias({ Name: "bad", FunctionName: "ev", FunctionVersion: "9" }), "ResourceNotFound.FunctionVersion"],
  ["alias routing to a missing version", () => scf.UpdateAlias({ Name: "prod", FunctionName: "ev", FunctionVersion: "1",
    RoutingConfig: { AdditionalVersionWeights: [{ Version: "8", Weight: 0.5 }] } }), "ResourceNotFound.FunctionVersion"],
  ["delete a version an alias uses", () => scf.DeleteFunction({ FunctionName: "ev", Qualifier: "1" }), "UnsupportedOperation.AliasBind"],
  ["delete the default namespace", () => scf.DeleteNamespace({ Namespace: "default" }), "FailedOperation.DeleteNamespace"],
  ["Timeout over 900", () => scf.UpdateFunctionConfiguration({ FunctionName: "ev", Timeout: 901 }), "LimitExceeded.Timeout"],
  ["Timeout below 1 on create", () => scf.CreateFunction({ FunctionName: "t0", Timeout: -1, Code: code() }), "LimitExceeded.Timeout"],
  ["InitTimeout over 900", () => scf.UpdateFunctionConfiguration({ FunctionName: "ev", InitTimeout: 901 }), "LimitExceeded.InitTimeout"],
  ["environment over 4 KB", () => scf.UpdateFunctionConfiguration({ FunctionName: "ev", Environment: { Variables: [{ Key: "BIG", Value: "x".repeat(5000) }] } }),
    "InvalidParameterValue.EnvironmentExceededLimit"],
  ["no Code", () => scf.CreateFunction({ FunctionName: "nocode" }), "MissingParameter.Code"],
  ["no ImageUri", () => scf.CreateFunction({ FunctionName: "nouri", Code: { ImageConfig: { ImageType: "personal" } } }), "MissingParameter.Code"],
  ["unsupported ListFunctions filter", () => scf.ListFunctions({ Filters: [{ Name: "VpcId", Values: ["vpc-1"] }] }), "InvalidParameterValue.Filters"],
  ["bad ListFunctions order field", () => scf.ListFunctions({ Orderby: "Size" }), "InvalidParameterValue.OrderBy"],
  ["bad GetFunctionLogs order field", () => scf.GetFunctionLogs({ FunctionName: "ev", OrderBy: "size" }), "InvalidParameterValue.OrderBy"],
  ["bad log RetCode filter", () => scf.GetFunctionLogs({ FunctionName: "ev", Filter: { RetCode: "sometimes" } }), "InvalidParameterValue.RetCode"],
  ["bad log start time", () => scf.GetFunctionLogs({ FunctionName: "ev", StartTime: "yesterday" }), "InvalidParameterValue.DateTime"],
  ["bad log end time", () => scf.GetFunctionLogs({ FunctionName: "ev", EndTime: "2026-13-01 00:00:00" }), "InvalidParameterValue.DateTime"],
  ["log end before start", () => scf.GetFunctionLogs({ FunctionName: "ev", StartTime: "2026-01-02 00:00:00", EndTime: "2026-01-01 00:00:00" }),
    "InvalidParameterValue.StartTimeOrEndTime"],
  ["log range over a day", () => scf.GetFunctionLogs({ FunctionName: "ev", StartTime: "2026-01-01 00:00:00", EndTime: "2026-01-03 00:00:00" }),
    "InvalidParameterValue.StartTimeOrEndTime"],
  ["log Offset + Limit over 10000", () => scf.GetFunctionLogs({ FunctionName: "ev", Offset: 9995, Limit: 10 }), "LimitExceeded.Offset"],
  ["unknown async event", () => scf.GetAsyncEventStatus({ InvokeRequestId: "no-such-event" }), "ResourceNotFound.AsyncEvent"],
  ["terminate an ended async event", () => scf.TerminateAsyncEvent({ FunctionName: "ev", InvokeRequestId: asyncId }), "FailedOperation.AsyncEventStatus"],
  ["RetryNum out of range", () => scf.UpdateFunctionEventInvokeConfig({ FunctionName: "ev", AsyncTriggerConfig: { RetryConfig: [{ RetryNum: 1000 }] } }),
    "LimitExceeded.RetryNum"],
  ["MsgTTL out of range", () => scf.UpdateFunctionEventInvokeConfig({ FunctionName: "ev", AsyncTriggerConfig: { MsgTTL: 1 } }), "LimitExceeded.MsgTTL"],
  ["key without rights to a namespace", () => fnClient.ListFunctions({ Namespace: "other" }), "UnauthorizedOperation.CAM"],
  ["key without rights to manage namespaces", () => fnClient.CreateNamespace({ Namespace: "mine" }), "UnauthorizedOperation.CAM"],
  ["unsupported trigger type", () => scf.CreateTrigger({ FunctionName: "ev", TriggerName: "c", Type: "cos", TriggerDesc: "{}" }), "InvalidParameterValue.Type"],
  ["trigger on an unknown alias", () => scf.CreateTrigger({ FunctionName: "ev", TriggerName: "t", Type: "timer", TriggerDesc: "0 0 * * * * *", Qualifier: "ghost" }),
    "ResourceNotFound.Qualifier"],
  ["reserved quotas over the account's", () => scf.PutReservedConcurrencyConfig({ FunctionName: "web", ReservedConcurrencyMem: 120000 }),
    "LimitExceeded.FunctionReservedConcurrencyMemory"],
  ["account quota below the reserved ones", () => scf.PutTotalConcurrencyConfig({ TotalConcurrencyMem: 20000 }), "FailedOperation.ReservedExceedTotal"],
  ["GetFunction of an unknown version", () => scf.GetFunction({ FunctionName: "ev", Qualifier: "9" }), "ResourceNotFound.Version"],
  ["GetFunction of an unknown alias", () => scf.GetFunction({ FunctionName: "ev", Qualifier: "ghost" }), "ResourceNotFound.Version"],
  // Fields naming services scfd does not have: refused unless at their defaults.
  ["VpcConfig", () => scf.CreateFunction({ FunctionName: "fx", Code: code(), VpcConfig: { VpcId: "vpc-1", SubnetId: "subnet-1" } }), "UnsupportedOperation.VpcConfig"],
  ["Role", () => scf.UpdateFunctionConfiguration({ FunctionName: "ev", Role: "SCF_QcsRole" }), "UnsupportedOperation.Role"],
  ["ClsLogsetId", () => scf.CreateFunction({ FunctionName: "fx", Code: code(), ClsLogsetId: "ls", ClsTopicId: "tp" }), "UnsupportedOperation.ClsLogsetId"],
  ["ClsTopicId", () => scf.UpdateFunctionConfiguration({ FunctionName: "ev", ClsTopicId: "tp" }), "UnsupportedOperation.ClsTopicId"],
  ["Layers", () => scf.CreateFunction({ FunctionName: "fx", Code: code(), Layers: [{ LayerName: "l", LayerVersion: 1 }] }), "UnsupportedOperation.Layers"],
  ["DeadLetterConfig", () => scf.UpdateFunctionConfiguration({ FunctionName: "ev", DeadLetterConfig: { Type: "CMQ-QUEUE", Name: "dlq" } }),
    "UnsupportedOperation.DeadLetterConfig"],
  ["CfsConfig", () => scf.UpdateFunctionConfiguration({ FunctionName: "ev", CfsConfig: { CfsInsList: [{ CfsId: "cfs-1", MountInsId: "m", LocalMountDir: "/mnt", RemoteMountDir: "/" }] } }),
    "UnsupportedOperation.CfsConfig"],
  ["TraceEnable", () => scf.CreateFunction({ FunctionName: "fx", Code: code(), TraceEnable: "TRUE" }), "UnsupportedOperation.TraceEnable"],
  ["IntranetConfig", () => scf.UpdateFunctionConfiguration({ FunctionName: "ev", IntranetConfig: { IpFixed: "ENABLE" } }), "UnsupportedOperation.IntranetConfig"],
  ["InstanceConcurrencyConfig.Type", () => scf.UpdateFunctionConfiguration({ FunctionName: "web", InstanceConcurrencyConfig: { Type: "Session-Based", MaxConcurrency: 2 } }),
    "UnsupportedOperation.InstanceConcurrencyConfig.Type"],
  ["SessionConfig", () => scf.UpdateFunctionConfiguration({ FunctionName: "web",
    InstanceConcurrencyConfig: { MaxConcurrency: 2, SessionConfig: { SessionSource: "HEADER", SessionName: "session" } } }), "UnsupportedOperation.SessionConfig"],
  ["InstanceIsolationEnabled", () => scf.UpdateFunctionConfiguration({ FunctionName: "web", InstanceConcurrencyConfig: { MaxConcurrency: 2, InstanceIsolationEnabled: "TRUE" } }),
    "UnsupportedOperation.InstanceIsolationEnabled"],
];

describe("error codes", () => {
  for (const [what, call, want] of table) {
    test(`${what}: ${want}`, async () => {
      await expectCode(call, want);
    });
  }

  test("refused fields change nothing; their defaults are accepted and reported", async () => {
    const before = await scf.GetFunction({ FunctionName: "ev" });
    await scf.UpdateFunctionConfiguration({
      FunctionName: "ev", VpcConfig: { VpcId: "", SubnetId: "" }, Role: "", Layers: [], TraceEnable: "FALSE",
      IntranetConfig: { IpFixed: "DISABLE" }, DeadLetterConfig: { Type: "", Name: "" }, CfsConfig: { CfsInsList: [] },
    });
    const f = await scf.GetFunction({ FunctionName: "ev" });
    assert.equal(f.Timeout, before.Timeout);
    assert.deepEqual(f.Environment, before.Environment);
    assert.deepEqual([f.VpcConfig.VpcId, f.Role, f.ClsLogsetId, f.ClsTopicId, f.Layers.length, f.TraceEnable, f.IntranetConfig.IpFixed],
      ["", "", "", "", 0, "FALSE", before.IntranetConfig.IpFixed]);
    const { Functions } = await scf.ListFunctions({ Limit: 100 });
    assert.ok(!Functions.some((x) => ["fx", "t0", "nocode", "nouri"].includes(x.FunctionName)), JSON.stringify(Functions.map((x) => x.FunctionName)));
  });
});
