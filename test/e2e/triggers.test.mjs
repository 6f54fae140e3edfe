// Triggers through the official SDK: a timer's fires, its event and
// header, disabling, deleting and a restart; the API gateway trigger's
// round trip; web functions behind an alias on the gateway; and function
// URLs (http triggers), open and signed.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SECRET_ID, SECRET_KEY, Server, expectCode, image, waitFor } from "./harness.mjs";
import signing from "tencentcloud-sdk-nodejs-common/tencentcloud/common/sign.js";

const Sign = signing.default ?? signing;

const server = new Server();
let scf;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  await server.start();
  scf = server.client();
});

after(async () => {
  await server.stop();
  server.cleanup();
});

async function create(FunctionName, uri, extra = {}) {
  await scf.CreateFunction({ FunctionName, Code: { ImageConfig: { ImageType: "personal", ImageUri: uri } }, ...extra });
  const f = await waitFor(
    async () => {
      const g = await scf.GetFunction({ FunctionName });
      return g.Status === "Creating" ? null : g;
    },
    { what: `${FunctionName} to be pulled` },
  );
  assert.equal(f.Status, "Active", JSON.stringify(f.StatusReasons));
}

async function fires(FunctionName) {
  const { Data } = await scf.GetFunctionLogs({ FunctionName, Limit: 100 });
  return Data.filter((d) => d.RetCode === 0);
}

describe("timer trigger", () => {
  test("every 2 s: 3 or 4 fires in 7.5 s with SCF's event and header", async () => {
    await create("ticker", image("testfunc"));
    const { TriggerInfo } = await scf.CreateTrigger({
      FunctionName: "ticker", TriggerName: "every2s", Type: "timer", TriggerDesc: "*/2 * * * * * *", CustomArgument: "tick",
    });
    assert.equal(TriggerInfo.Enable, 1);
    await sleep(7500);
    const got = await fires("ticker");
    assert.ok(got.length >= 3 && got.length <= 4, `${got.length} fires`);
    for (const d of got) {
      const echo = JSON.parse(d.RetMsg);
      assert.equal(echo.event.Type, "Timer");
      assert.equal(echo.event.TriggerName, "every2s");
      assert.equal(echo.event.Message, "tick");
      assert.match(echo.event.Time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d[02468]Z$/);
      assert.equal(echo.headers["X-Scf-Trigger-Src"], "timer");
    }
  });

  test("a disabled timer stops; enabled again it survives a restart; deleted it stops", async () => {
    await scf.UpdateTriggerStatus({ FunctionName: "ticker", TriggerName: "every2s", Type: "timer", Enable: "CLOSE" });
    await sleep(500); // a fire already queued may still finish
    const disabled = (await fires("ticker")).length;
    await sleep(4000);
    assert.equal((await fires("ticker")).length, disabled, "no fire while disabled");

    await scf.UpdateTriggerStatus({ FunctionName: "ticker", TriggerName: "every2s", Type: "timer", Enable: "OPEN" });
    await server.stop("SIGKILL");
    await server.start();
    scf = server.client();
    await sleep(5000);
    const afterRestart = (await fires("ticker")).length;
    assert.ok(afterRestart >= disabled + 2, `${afterRestart - disabled} fires in 5 s after the restart`);
    const { Triggers } = await scf.ListTriggers({ FunctionName: "ticker" });
    assert.deepEqual(Triggers.map((t) => [t.TriggerName, t.Enable]), [["every2s", 1]]);

    await scf.DeleteTrigger({ FunctionName: "ticker", TriggerName: "every2s", Type: "timer" });
    await sleep(500);
    const deleted = (await fires("ticker")).length;
    await sleep(4000);
    assert.equal((await fires("ticker")).length, deleted, "no fire after the delete");
  });

  test("bad expressions are refused", async () => {
    await expectCode(
      () => scf.CreateTrigger({ FunctionName: "ticker", TriggerName: "bad", Type: "timer", TriggerDesc: "every day" }),
      "InvalidParameterValue.TriggerDesc",
    );
  });
});

describe("API gateway trigger", () => {
  let url;
  test("the trigger's URL is in its TriggerDesc", async () => {
    await create("api", image("testfunc"));
    const { TriggerInfo } = await scf.CreateTrigger({ FunctionName: "api", TriggerName: "web", Type: "apigw" });
    url = TriggerInfo.TriggerDesc;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/default\/api\/apigw\/web\/$/);
  });

  // The test function answers an API gateway event with the request's
  // body: the test sends the integration response it wants back.
  const call = (body, path = "users/7?x=1") => fetch(url + path, { method: "POST", body });

  test("an integration response becomes the HTTP answer", async () => {
    const res = await call(JSON.stringify({ isBase64Encoded: false, statusCode: 201, headers: { "X-Answer": "yes", "Set-Cookie": ["a=1", "b=2"] }, body: "created" }));
    assert.equal(res.status, 201);
    assert.equal(await res.text(), "created");
    assert.equal(res.headers.get("x-answer"), "yes");
    assert.match(res.headers.get("x-scf-request-id"), /^[0-9a-f-]{36}$/);
  });

  test("a base64 body is decoded", async () => {
    const res = await call(JSON.stringify({ isBase64Encoded: true, statusCode: 200, headers: {}, body: Buffer.from("héllo").toString("base64") }));
    assert.equal(await res.text(), "héllo");
  });

  test("an answer that is not an integration response gives 403 and SCF's message", async () => {
    for (const body of ["plain text", JSON.stringify({ body: "no status" })]) {
      const res = await call(body);
      assert.equal(res.status, 403);
      assert.equal(await res.text(), '{"errno":403,"error":"Invalid scf response format. please check your scf response format."}');
    }
  });
});

describe("web functions behind aliases", () => {
  test("the gateway serves {function}@{alias} with the alias's routing", async () => {
    await create("site", image("echo"), { Type: "HTTP", Environment: { Variables: [{ Key: "GREETING", Value: "one" }] } });
    await scf.PublishVersion({ FunctionName: "site" });
    await scf.UpdateFunctionConfiguration({ FunctionName: "site", Environment: { Variables: [{ Key: "GREETING", Value: "two" }] } });
    await scf.PublishVersion({ FunctionName: "site" });
    await scf.CreateAlias({
      Name: "prod", FunctionName: "site", FunctionVersion: "1",
      RoutingConfig: { AddtionVersionMatchs: [{ Version: "2", Key: "invoke.headers.User", Method: "exact", Expression: "Bob" }] },
    });
    const gw = `http://127.0.0.1:${server.gatewayPort}/default/site@prod/page?q=1`;
    assert.equal(await (await fetch(gw)).text(), "one from GET /page?q=1\n");
    assert.equal(await (await fetch(gw, { headers: { User: "Bob" } })).text(), "two from GET /page?q=1\n");
    assert.equal((await fetch(`http://127.0.0.1:${server.gatewayPort}/default/site@ghost/`)).status, 404);
  });
});

describe("function URL (http trigger)", () => {
  const integration = (body) => JSON.stringify({ isBase64Encoded: false, statusCode: 200, headers: {}, body });

  test("an open URL runs an event function as an API gateway trigger does", async () => {
    const { TriggerInfo } = await scf.CreateTrigger({ FunctionName: "api", TriggerName: "open", Type: "http", TriggerDesc: JSON.stringify({ AuthType: "NONE" }) });
    const desc = JSON.parse(TriggerInfo.TriggerDesc);
    assert.equal(desc.AuthType, "NONE");
    assert.match(desc.Url, /^http:\/\/127\.0\.0\.1:\d+\/default\/api\/url\/open\/$/);
    const res = await fetch(desc.Url + "any/path", { method: "POST", body: integration("through the URL") });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "through the URL");
    const { Triggers } = await scf.ListTriggers({ FunctionName: "api" });
    assert.ok(Triggers.some((t) => t.TriggerName === "open" && t.Type === "http"), JSON.stringify(Triggers));
  });

  test("a URL of a web function serves it at the trigger's qualifier", async () => {
    const { TriggerInfo } = await scf.CreateTrigger({ FunctionName: "site", TriggerName: "www", Type: "http", Qualifier: "prod" });
    const { Url } = JSON.parse(TriggerInfo.TriggerDesc);
    assert.equal(await (await fetch(Url + "page?q=1")).text(), "one from GET /page?q=1\n");
    await scf.UpdateTrigger({ FunctionName: "site", TriggerName: "www", Type: "http", Enable: "CLOSE" });
    assert.equal((await fetch(Url)).status, 503);
    await scf.DeleteTrigger({ FunctionName: "site", TriggerName: "www", Type: "http" });
    // Without the trigger the path is the web function's own, at $LATEST.
    assert.equal(await (await fetch(Url + "page")).text(), "two from GET /url/www/page\n");
    await expectCode(
      () => scf.CreateTrigger({ FunctionName: "site", TriggerName: "guarded", Type: "http", TriggerDesc: JSON.stringify({ AuthType: "CAM" }) }),
      "InvalidParameterValue.TriggerDesc",
    );
  });

  test("a CAM URL takes only requests signed by a key allowed on the namespace", async () => {
    const { TriggerInfo } = await scf.CreateTrigger({ FunctionName: "api", TriggerName: "signed", Type: "http", TriggerDesc: JSON.stringify({ AuthType: "CAM" }) });
    const { Url } = JSON.parse(TriggerInfo.TriggerDesc);
    const body = integration("signed");
    assert.equal((await fetch(Url, { method: "POST", body })).status, 403);
    const sign = (secretKey) => {
      const timestamp = Math.floor(Date.now() / 1000);
      const headers = { "Content-Type": "application/json" };
      const auth = Sign.sign3({ method: "POST", url: Url, payload: Buffer.from(body), timestamp, service: "scf", secretId: SECRET_ID, secretKey, multipart: false, boundary: "", headers });
      return { ...headers, Authorization: auth, "X-TC-Timestamp": String(timestamp) };
    };
    assert.equal((await fetch(Url, { method: "POST", body, headers: sign("not the key") })).status, 403);
    const res = await fetch(Url, { method: "POST", body, headers: sign(SECRET_KEY) });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "signed");
  });

  test("a TriggerDesc scfd cannot honour is refused", async () => {
    await expectCode(() => scf.CreateTrigger({ FunctionName: "api", TriggerName: "bad", Type: "http", TriggerDesc: JSON.stringify({ AuthType: "KEY" }) }), "InvalidParameterValue.TriggerDesc");
    await expectCode(
      () => scf.CreateTrigger({ FunctionName: "api", TriggerName: "bad", Type: "http", TriggerDesc: JSON.stringify({ NetConfig: { EnableIntranet: true, EnableExtranet: false } }) }),
      "UnsupportedOperation.TriggerDesc",
    );
  });
});
