// HTTPS and the signature's hardening through the official SDK: a server
// with SCFD_TLS=self-signed answers the SDK and the gateway over HTTPS,
// trusting the authority it keeps in its data directory; a request the
// SDK signed cannot be replayed by someone else as another action.
import assert from "node:assert/strict";
import https from "node:https";
import { after, before, describe, test } from "node:test";
import { Server, capture, expectCode, image, replay, waitFor } from "./harness.mjs";

const server = new Server({ env: { SCFD_TLS: "self-signed" } });
let scf;

before(async () => {
  await server.start();
  scf = server.client();
});

after(async () => {
  await server.stop();
  server.cleanup();
});

// get fetches url over HTTPS with the agent (trusting the server's
// authority) or without (trusting only the system's).
function get(url, agent) {
  return new Promise((resolve, reject) => {
    https.get(url, { agent }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    }).on("error", reject);
  });
}

describe("HTTPS with a self-signed certificate", () => {
  test("the SDK and the gateway speak HTTPS", async () => {
    await scf.CreateFunction({ FunctionName: "site", Type: "HTTP", Code: { ImageConfig: { ImageType: "personal", ImageUri: image("echo") } } });
    const f = await waitFor(async () => {
      const g = await scf.GetFunction({ FunctionName: "site" });
      return g.Status === "Creating" ? null : g;
    }, { what: "site to be pulled" });
    assert.equal(f.Status, "Active", JSON.stringify(f.StatusReasons));
    const res = await get(`https://127.0.0.1:${server.gatewayPort}/default/site/page?q=1`, server.agent());
    assert.equal(res.status, 200);
    assert.match(res.body, /from GET \/page\?q=1/);
  });

  test("a client that does not trust the authority is refused", async () => {
    await assert.rejects(get(`https://127.0.0.1:${server.apiPort}/`, new https.Agent()), /self-signed|unable to verify|certificate/);
    const plain = await fetch(`http://127.0.0.1:${server.apiPort}/`, { method: "POST" });
    assert.equal(plain.status, 400); // Go's answer to plain HTTP on a TLS port
  });
});

describe("a signature is good for one action", () => {
  test("a captured GetFunction replayed from elsewhere as DeleteFunction is refused", async () => {
    await scf.CreateFunction({ FunctionName: "victim", Code: { ImageConfig: { ImageType: "personal", ImageUri: image("echo") } } });
    // A proxy between the SDK and scfd keeps what the SDK sent.
    const captured = await capture(server, (sdk) => sdk.GetFunction({ FunctionName: "victim" }));
    assert.equal(captured.answer.FunctionName, "victim");
    assert.equal(captured.headers["x-tc-action"], "GetFunction");
    assert.doesNotMatch(captured.headers.authorization, /x-tc-action/, "the SDK does not sign the action");

    // The same request again from another address than the SDK's
    // (another client, or a retry) is still good...
    const again = await replay(server, captured, "GetFunction");
    assert.equal(again.FunctionName, "victim", JSON.stringify(again));
    // ...as another action it is not.
    const del = await replay(server, captured, "DeleteFunction");
    assert.equal(del.Error?.Code, "AuthFailure.SignatureFailure", JSON.stringify(del));
    assert.match(del.Error.Message, /already used for GetFunction/);
    assert.equal((await scf.GetFunction({ FunctionName: "victim" })).FunctionName, "victim");
    await expectCode(() => scf.GetFunction({ FunctionName: "gone" }), "ResourceNotFound.Function");
    // An API gateway trigger's URL is an https one.
    const { TriggerInfo } = await scf.CreateTrigger({ FunctionName: "victim", TriggerName: "web", Type: "apigw" });
    assert.match(TriggerInfo.TriggerDesc, /^https:\/\/127\.0\.0\.1:\d+\/default\/victim\/apigw\/web\/$/);
  });
});
