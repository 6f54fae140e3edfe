// Triggers through the official SDK: a timer's fires, its event and
// header, disabling, deleting and a restart; the API gateway trigger's
// round trip; and web functions behind an alias on the gateway.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Server, expectCode, image, waitFor } from "./harness.mjs";

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
